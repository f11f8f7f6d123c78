/*
 * libcoro workloads shared by the bench programs linked with the library
 * (bench-coro.c): bench-switch times them and bench-count counts their
 * instructions and system calls, so that both measure the same loops.
 */
#ifndef CORO_BENCH_CORO_H
#define CORO_BENCH_CORO_H

#include <stdint.h>

/* A coroutine that hands back what it is sent, and ends when sent NULL. */
void *bench_echo(void *arg);

/* bench_body: n coro_resume() + coro_yield() round trips into co, a
 * coroutine running bench_echo() and waiting in coro_yield(); a value each
 * way, both checked. */
void bench_roundtrip_body(uint64_t n, void *co);

/* bench_body: n times coro_create(fn, arg, 0) + the first coro_resume(), in
 * which fn returns arg at once (checked) + coro_destroy(). ctx is unused. */
void bench_life_body(uint64_t n, void *ctx);

#endif /* CORO_BENCH_CORO_H */
