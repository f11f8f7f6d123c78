/*
 * Memory per suspended coroutine: make N coroutines with the default stack,
 * resume each once so that it waits in coro_yield(), and divide the growth
 * of the process's resident memory (VmRSS) and of its page tables (VmPTE,
 * which VmRSS does not count) by N. One measurement per process: tests/
 * bench.sh runs it several times for a median.
 *
 * Usage: bench-memory N
 * Prints one record:
 *   memory N created K rss_bytes R pte_bytes P create_ns C errno E maps M max_maps X
 * where R and P are per coroutine (over the K made), C is the time to make
 * and first resume one (a fresh stack each), M the process's memory
 * mappings with all K alive (every stack has its guard page: the kernel's
 * limit, X = vm.max_map_count, is what guard pages made by mprotect()
 * would exhaust), and E is "-", or the
 * errno name when coro_create() failed after K coroutines; that is reported,
 * not fatal (a kernel without MADV_GUARD_INSTALL runs out of mappings near
 * 32,700 guarded stacks). Exit 1 only when the coroutines fail to suspend or
 * /proc/self/status cannot be read.
 *
 * The coroutines are not destroyed: the process exits with them suspended
 * and the kernel frees their stacks at once, which on a VM is much faster
 * than one munmap() per stack.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coro.h>

#include "bench.h"

/* Lines of a /proc file: the mappings of the process. */
static long
count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int c;

    if (f == NULL)
        return -1;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* A number from a /proc file of one line, or -1. */
static long
read_long(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static void *
wait_once(void *arg)
{
    return coro_yield(arg);
}

/* A one-word name for the errno values coro_create() documents. */
static const char *
errno_name(int err)
{
    static char other[32];

    switch (err) {
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    default:
        snprintf(other, sizeof other, "errno-%d", err);
        return other;
    }
}

int
main(int argc, char **argv)
{
    uint64_t n, k;
    coro_t **v, *warm;
    long rss0, pte0, rss1, pte1;
    int64_t t0, ns;
    int err = 0;

    bench_name = "bench-memory";
    if (argc != 2) {
        fprintf(stderr, "usage: %s N\n", argv[0]);
        return BENCH_USAGE;
    }
    n = bench_arg(argv[1], 1);
    /* The array is touched now so that its pages are in the baseline. */
    if ((v = malloc(n * sizeof *v)) == NULL)
        bench_fail("malloc");
    memset(v, 0, n * sizeof *v);
    /* Let the library and libc make their one-time state before the baseline. */
    if ((warm = coro_create(wait_once, NULL, 0)) == NULL || coro_resume(warm, NULL, NULL) != 0)
        bench_fail("warming up");
    if (coro_destroy(warm) == -1)
        bench_fail("coro_destroy");

    rss0 = bench_status_kib("VmRSS");
    pte0 = bench_status_kib("VmPTE");
    if (rss0 < 0 || pte0 < 0)
        bench_die("no VmRSS or VmPTE in /proc/self/status");
    t0 = bench_now();
    for (k = 0; k < n; k++)
        if ((v[k] = coro_create(wait_once, NULL, 0)) == NULL) {
            err = errno;
            break;
        }
    for (uint64_t i = 0; i < k; i++)
        if (coro_resume(v[i], NULL, NULL) != 0)
            bench_fail("coro_resume");
    ns = bench_now() - t0;
    rss1 = bench_status_kib("VmRSS");
    pte1 = bench_status_kib("VmPTE");

    printf("memory %llu created %llu rss_bytes %.1f pte_bytes %.1f create_ns %.0f errno %s "
           "maps %ld max_maps %ld\n",
           (unsigned long long)n, (unsigned long long)k,
           k ? (double)(rss1 - rss0) * 1024 / (double)k : 0.0,
           k ? (double)(pte1 - pte0) * 1024 / (double)k : 0.0,
           k ? (double)ns / (double)k : 0.0, err ? errno_name(err) : "-",
           count_lines("/proc/self/maps"), read_long("/proc/sys/vm/max_map_count"));
    if (fflush(stdout) == EOF)
        bench_fail("writing the output");
    return BENCH_OK; /* see above: the coroutines are left to the kernel */
}
