/*
 * What the benchmark programs share (bench-util.c). They print records, one
 * a line ("KEY value..."), which tests/bench.sh gathers into the table.
 * Benchmarks measure and never judge a time: they exit 1 only when a call
 * fails or a workload loses a message, and 2 for bad arguments.
 */
#ifndef CORO_BENCH_H
#define CORO_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* bench-util.c is C; tests/bench-boost.cc links it too. */
#ifdef __cplusplus
#define BENCH_NORETURN [[noreturn]]
extern "C" {
#else
#define BENCH_NORETURN _Noreturn
#endif

enum { BENCH_OK = 0, BENCH_FAIL = 1, BENCH_USAGE = 2 };

/* The monotonic clock in nanoseconds. */
int64_t bench_now(void);

/* "bench-NAME: what: strerror(errno)" on stderr, then exit(BENCH_FAIL). */
BENCH_NORETURN void bench_fail(const char *what);
/* The same with a message of one's own instead of errno's. */
BENCH_NORETURN void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The median of v[0..n-1] (sorts v); the mean of the two middle ones for even n. */
double bench_median(double *v, size_t n);

/* A whole decimal number >= min, or bench_die(). */
uint64_t bench_arg(const char *s, uint64_t min);
/* A comma-separated list of such numbers, into a malloc'd array of *n. */
uint64_t *bench_list(const char *s, uint64_t min, size_t *n);

/* A field of /proc/self/status in KiB ("VmRSS", "VmPTE"), or -1 if absent. */
long bench_status_kib(const char *field);

/*
 * Timing a loop: body(n, ctx) does n operations. bench_calibrate() returns
 * an n for which one call takes about target_ns; bench_ns_per_op() times one
 * call of body(n, ctx) and returns nanoseconds per operation.
 */
typedef void bench_body(uint64_t n, void *ctx);
uint64_t bench_calibrate(bench_body *body, void *ctx, int64_t target_ns);
double bench_ns_per_op(bench_body *body, void *ctx, uint64_t n);

/* The program's name in messages; set by main(). */
extern const char *bench_name;

#ifdef __cplusplus
}
#endif

#endif /* CORO_BENCH_H */
