/* Helpers shared by the benchmark programs (see bench.h). */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

const char *bench_name = "bench";

int64_t
bench_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
        bench_fail("clock_gettime");
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
bench_fail(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", bench_name, what, strerror(errno));
    exit(BENCH_FAIL);
}

void
bench_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", bench_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(BENCH_FAIL);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

double
bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

uint64_t
bench_arg(const char *s, uint64_t min)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < min) {
        fprintf(stderr, "%s: '%s': expected a number >= %llu\n", bench_name, s,
                (unsigned long long)min);
        exit(BENCH_USAGE);
    }
    return v;
}

uint64_t *
bench_list(const char *s, uint64_t min, size_t *n)
{
    char *copy = strdup(s), *save = NULL, *tok;
    uint64_t *v = calloc(strlen(s) / 2 + 1, sizeof *v); /* room for every item */

    if (copy == NULL || v == NULL)
        bench_fail("malloc");
    *n = 0;
    for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        v[(*n)++] = bench_arg(tok, min);
    free(copy);
    if (*n == 0)
        bench_die("'%s': an empty list", s);
    return v;
}

long
bench_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    size_t len = strlen(field);
    char line[256];
    long kib = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

double
bench_ns_per_op(bench_body *body, void *ctx, uint64_t n)
{
    int64_t t0 = bench_now();

    body(n, ctx);
    return (double)(bench_now() - t0) / (double)n;
}

uint64_t
bench_calibrate(bench_body *body, void *ctx, int64_t target_ns)
{
    uint64_t n = 1;

    for (;;) {
        int64_t t0 = bench_now(), ns;

        body(n, ctx);
        ns = bench_now() - t0;
        if (ns >= target_ns / 8 || n >= UINT64_MAX / 16) {
            double scaled = (double)n * (double)target_ns / (double)(ns > 0 ? ns : 1);

            return scaled < 1 ? 1 : (uint64_t)scaled;
        }
        n *= 4;
    }
}
