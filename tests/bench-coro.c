/* libcoro workloads shared by the bench programs (see bench-coro.h). */
#include "config.h"

#include <stdint.h>

#include <coro.h>

#include "bench-coro.h"
#include "bench.h"

void *
bench_echo(void *arg)
{
    void *v = NULL;

    while ((v = coro_yield(v)) != NULL)
        ;
    return NULL;
}

void
bench_roundtrip_body(uint64_t n, void *ctx)
{
    coro_t *co = ctx;
    void *out;

    for (uint64_t i = 1; i <= n; i++)
        if (coro_resume(co, (void *)(uintptr_t)i, &out) != 0 || out != (void *)(uintptr_t)i)
            bench_die("coro_resume: the round trip went wrong");
}

/* A coroutine's whole life: made, run to its end, freed. */
static void *
ret_arg(void *arg)
{
    return arg;
}

void
bench_life_body(uint64_t n, void *ctx)
{
    static int token;
    void *out;

    (void)ctx;
    for (uint64_t i = 0; i < n; i++) {
        coro_t *co = coro_create(ret_arg, &token, 0);

        if (co == NULL)
            bench_fail("coro_create");
        if (coro_resume(co, NULL, &out) != 1 || out != &token)
            bench_die("coro_resume: the coroutine did not end with its value");
        if (coro_destroy(co) == -1)
            bench_fail("coro_destroy");
    }
}
