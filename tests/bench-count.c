/*
 * Work to count, not to time: tests/bench.sh runs this program under
 * valgrind --tool=callgrind (instructions) and strace -f -c (system calls),
 * each time with two values of N, so that the difference cancels what the
 * process does once (loading, the first stack, the output). It is linked
 * with lib/libcoro.la, so that what is counted is the shared library as
 * configured (lib/.libs/libcoro.so), reached through its PLT as users reach it.
 *
 * Usage: bench-count roundtrip N   N coro_resume() + coro_yield() round trips
 *                                  into one coroutine, a value each way, checked
 *        bench-count life N        N times coro_create(fn, arg, 0) + the first
 *                                  coro_resume(), in which fn returns at once,
 *                                  + coro_destroy(): the default stack, from
 *                                  the default pool
 * The loops are bench-switch's "roundtrip" and "create_pooled" (bench-coro.c).
 * Prints "count MODE N" when done. Exit 1 when a call fails.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <coro.h>

#include "bench-coro.h"
#include "bench.h"

static void
roundtrips(uint64_t n)
{
    coro_t *co = coro_create(bench_echo, NULL, 0);

    if (co == NULL)
        bench_fail("coro_create");
    if (coro_resume(co, NULL, NULL) != 0) /* now waiting in coro_yield() */
        bench_fail("coro_resume");
    bench_roundtrip_body(n, co);
    if (coro_resume(co, NULL, NULL) != 1)
        bench_die("coro_resume: the coroutine did not end");
    if (coro_destroy(co) == -1)
        bench_fail("coro_destroy");
}

int
main(int argc, char **argv)
{
    uint64_t n;

    bench_name = "bench-count";
    if (argc != 3 || (strcmp(argv[1], "roundtrip") != 0 && strcmp(argv[1], "life") != 0)) {
        fprintf(stderr, "usage: bench-count roundtrip|life N\n");
        return BENCH_USAGE;
    }
    n = bench_arg(argv[2], 0);
    if (strcmp(argv[1], "roundtrip") == 0)
        roundtrips(n);
    else
        bench_life_body(n, NULL);
    printf("count %s %llu\n", argv[1], (unsigned long long)n);
    if (fflush(stdout) == EOF)
        bench_fail("writing the output");
    return BENCH_OK;
}
