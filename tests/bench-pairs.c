/*
 * Producer/consumer pairs at scale, with the configured library: P pairs of
 * tasks joined by channels on one scheduler, or P pairs of OS threads joined
 * by one-slot mailboxes (a mutex and a condition variable each, as in
 * demo/compare.c). Each producer sends 1, 2, ..., M with M = max(10, TOTAL/P);
 * each consumer counts and sums what it gets, and a pair that is short by a
 * single message stops the program with exit status 1.
 *
 * Usage: bench-pairs chan RUNS TOTAL P[,P...] CAPACITY[,CAPACITY...]
 *        bench-pairs threads RUNS TOTAL P[,P...]
 * Prints "switch NAME" (chan), then one record per row, each rate the
 * median of RUNS runs in messages per second:
 *   chan P CAPACITY M RATE
 *   threads P M RATE
 * Only the exchange is timed: every task (thread) exists before it starts,
 * and freeing them comes after. Tasks have the default stack. For each P
 * one untimed warm-up run per capacity comes first: it maps the stacks, and
 * a stack pool raised to hold them all lets the timed runs reuse them.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coro.h>

#include "bench.h"

#define THREAD_STACK ((size_t)64 * 1024)

struct pair {
    uint64_t m;                /* messages to send */
    uint64_t received, sum;
    int err;                   /* the first errno a call of this pair failed with */
    const char *err_fn;
    /* Coroutines. */
    coro_chan_t *chan;
    /* Threads: a one-slot mailbox. */
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* at most one side waits at a time: signal is enough */
    uint64_t slot;
    int full;
    pthread_t producer, consumer;
};

static uint64_t
expected_sum(uint64_t m)
{
    return m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
}

static void
pair_error(struct pair *p, const char *fn, int err)
{
    if (p->err_fn == NULL) {
        p->err_fn = fn;
        p->err = err;
    }
}

/* Every pair got 1..m exactly once, or the program stops here. */
static void
check_pairs(const char *what, const struct pair *pairs, uint64_t np)
{
    uint64_t bad = 0, want = expected_sum(pairs[0].m);

    for (uint64_t i = 0; i < np; i++) {
        const struct pair *p = &pairs[i];

        if (p->err_fn || p->received != p->m || p->sum != want) {
            if (bad++ < 3)
                fprintf(stderr, "%s: %s, pair %llu: %llu of %llu messages, sum %llu (want %llu)%s%s%s\n",
                        bench_name, what, (unsigned long long)i, (unsigned long long)p->received,
                        (unsigned long long)p->m, (unsigned long long)p->sum,
                        (unsigned long long)want, p->err_fn ? "; " : "",
                        p->err_fn ? p->err_fn : "", p->err_fn ? strerror(p->err) : "");
        }
    }
    if (bad)
        bench_die("%s: %llu of %llu pairs lost messages", what, (unsigned long long)bad,
                  (unsigned long long)np);
}

/* Coroutines: tasks and channels. */
static void *
chan_producer(void *arg)
{
    struct pair *p = arg;

    for (uint64_t n = 1; n <= p->m; n++)
        if (coro_chan_send(p->chan, &n) == -1) {
            pair_error(p, "coro_chan_send", errno);
            break;
        }
    if (coro_chan_close(p->chan) == -1) /* the consumer drains it, then gets EPIPE */
        pair_error(p, "coro_chan_close", errno);
    return NULL;
}

static void *
chan_consumer(void *arg)
{
    struct pair *p = arg;
    uint64_t n;

    while (coro_chan_recv(p->chan, &n) == 0) {
        p->received++;
        p->sum += n;
    }
    if (errno != EPIPE)
        pair_error(p, "coro_chan_recv", errno);
    return NULL;
}

/* One run: messages per second. */
static double
run_chan(uint64_t np, size_t cap, uint64_t m)
{
    struct pair *pairs = calloc(np, sizeof *pairs);
    coro_sched_t *s = coro_sched_create();
    char what[64];
    int64_t t0, ns;

    if (pairs == NULL || s == NULL)
        bench_fail(pairs ? "coro_sched_create" : "calloc");
    for (uint64_t i = 0; i < np; i++) {
        pairs[i].m = m;
        if ((pairs[i].chan = coro_chan_create(sizeof(uint64_t), cap)) == NULL)
            bench_fail("coro_chan_create");
        if (coro_spawn(s, chan_producer, &pairs[i], 0) == -1 ||
            coro_spawn(s, chan_consumer, &pairs[i], 0) == -1)
            bench_fail("coro_spawn");
    }
    t0 = bench_now();
    if (coro_sched_run(s) == -1)
        bench_fail("coro_sched_run");
    ns = bench_now() - t0;
    snprintf(what, sizeof what, "chan P=%llu capacity %zu", (unsigned long long)np, cap);
    check_pairs(what, pairs, np);
    if (coro_sched_destroy(s) == -1)
        bench_fail("coro_sched_destroy");
    for (uint64_t i = 0; i < np; i++)
        if (coro_chan_destroy(pairs[i].chan) == -1)
            bench_fail("coro_chan_destroy");
    free(pairs);
    return (double)np * (double)m * 1e9 / (double)ns;
}

/* Threads: two per pair, a one-slot mailbox between them. */
static pthread_barrier_t gate; /* every thread, and main, before the start */
static int64_t start_ns;       /* the last arrival at the gate: when it opened */
static uint64_t consumers_left;
static int64_t end_ns;         /* when the last consumer finished */

/* A pthread call that cannot fail on objects we made. */
static void
must(int rc, const char *fn)
{
    if (rc != 0) {
        errno = rc;
        bench_fail(fn);
    }
}

static void
box_put(struct pair *p, uint64_t n)
{
    must(pthread_mutex_lock(&p->mu), "pthread_mutex_lock");
    while (p->full)
        must(pthread_cond_wait(&p->cv, &p->mu), "pthread_cond_wait");
    p->slot = n;
    p->full = 1;
    must(pthread_cond_signal(&p->cv), "pthread_cond_signal");
    must(pthread_mutex_unlock(&p->mu), "pthread_mutex_unlock");
}

static uint64_t
box_take(struct pair *p)
{
    uint64_t n;

    must(pthread_mutex_lock(&p->mu), "pthread_mutex_lock");
    while (!p->full)
        must(pthread_cond_wait(&p->cv, &p->mu), "pthread_cond_wait");
    n = p->slot;
    p->full = 0;
    must(pthread_cond_signal(&p->cv), "pthread_cond_signal");
    must(pthread_mutex_unlock(&p->mu), "pthread_mutex_unlock");
    return n;
}

/* The exchange starts when the gate opens, at the last arrival. Not when
 * main leaves the gate: pinned to one CPU, the other threads may run first,
 * for most of the exchange. */
static void
gate_wait(void)
{
    int64_t now = bench_now(), seen = __atomic_load_n(&start_ns, __ATOMIC_RELAXED);
    int rc;

    while (seen < now && !__atomic_compare_exchange_n(&start_ns, &seen, now, 0, __ATOMIC_RELAXED,
                                                      __ATOMIC_RELAXED))
        ;
    rc = pthread_barrier_wait(&gate);

    if (rc != 0 && rc != PTHREAD_BARRIER_SERIAL_THREAD)
        must(rc, "pthread_barrier_wait");
}

static void *
thread_producer(void *arg)
{
    struct pair *p = arg;

    gate_wait();
    for (uint64_t n = 1; n <= p->m; n++)
        box_put(p, n);
    box_put(p, 0); /* the end */
    return NULL;
}

static void *
thread_consumer(void *arg)
{
    struct pair *p = arg;
    uint64_t n;

    gate_wait();
    while ((n = box_take(p)) != 0) {
        p->received++;
        p->sum += n;
    }
    if (__atomic_sub_fetch(&consumers_left, 1, __ATOMIC_ACQ_REL) == 0)
        end_ns = bench_now(); /* read by main after joining every thread */
    return NULL;
}

static double
run_threads(uint64_t np, uint64_t m)
{
    struct pair *pairs = calloc(np, sizeof *pairs);
    pthread_attr_t attr;
    char what[64];

    if (pairs == NULL)
        bench_fail("calloc");
    if (np > (UINT32_MAX - 1) / 2)
        bench_die("too many pairs for one barrier");
    must(pthread_attr_init(&attr), "pthread_attr_init");
    must(pthread_attr_setstacksize(&attr, THREAD_STACK), "pthread_attr_setstacksize");
    must(pthread_barrier_init(&gate, NULL, (unsigned)(2 * np + 1)), "pthread_barrier_init");
    consumers_left = np;
    start_ns = 0;
    for (uint64_t i = 0; i < np; i++) {
        struct pair *p = &pairs[i];

        p->m = m;
        must(pthread_mutex_init(&p->mu, NULL), "pthread_mutex_init");
        must(pthread_cond_init(&p->cv, NULL), "pthread_cond_init");
        /* A failure here leaves threads at the gate: exiting ends them. */
        must(pthread_create(&p->consumer, &attr, thread_consumer, p), "pthread_create");
        must(pthread_create(&p->producer, &attr, thread_producer, p), "pthread_create");
    }
    gate_wait();
    for (uint64_t i = 0; i < np; i++) {
        must(pthread_join(pairs[i].producer, NULL), "pthread_join");
        must(pthread_join(pairs[i].consumer, NULL), "pthread_join");
        must(pthread_cond_destroy(&pairs[i].cv), "pthread_cond_destroy");
        must(pthread_mutex_destroy(&pairs[i].mu), "pthread_mutex_destroy");
    }
    snprintf(what, sizeof what, "threads P=%llu", (unsigned long long)np);
    check_pairs(what, pairs, np);
    must(pthread_barrier_destroy(&gate), "pthread_barrier_destroy");
    must(pthread_attr_destroy(&attr), "pthread_attr_destroy");
    free(pairs);
    return (double)np * (double)m * 1e9 / (double)(end_ns - start_ns);
}

static int
usage(void)
{
    fprintf(stderr, "usage: bench-pairs chan RUNS TOTAL P[,P...] CAPACITY[,CAPACITY...]\n"
                    "       bench-pairs threads RUNS TOTAL P[,P...]\n");
    return BENCH_USAGE;
}

int
main(int argc, char **argv)
{
    size_t runs, total, nps, ncaps = 1;
    uint64_t *ps, *caps = NULL, maxp = 0;
    int chan;
    double *rate;

    bench_name = "bench-pairs";
    if (argc < 5)
        return usage();
    chan = strcmp(argv[1], "chan") == 0;
    if ((chan && argc != 6) || (!chan && (strcmp(argv[1], "threads") != 0 || argc != 5)))
        return usage();
    runs = bench_arg(argv[2], 1);
    total = bench_arg(argv[3], 1);
    ps = bench_list(argv[4], 1, &nps);
    if (chan)
        caps = bench_list(argv[5], 0, &ncaps);
    if ((rate = calloc(runs * ncaps, sizeof *rate)) == NULL)
        bench_fail("calloc");
    for (size_t i = 0; i < nps; i++)
        maxp = ps[i] > maxp ? ps[i] : maxp;
    if (chan) {
        coro_stack_pool(2 * maxp + CORO_POOL_DEFAULT); /* every task's stack, for reuse */
        printf("switch %s\n", coro_switch_name());
        fflush(stdout);
    }
    for (size_t i = 0; i < nps; i++) {
        uint64_t np = ps[i], m = total / np > 10 ? total / np : 10;

        if (!chan) {
            for (size_t r = 0; r < runs; r++)
                rate[r] = run_threads(np, m);
            printf("threads %llu %llu %.0f\n", (unsigned long long)np, (unsigned long long)m,
                   bench_median(rate, runs));
            fflush(stdout);
            continue;
        }
        for (size_t c = 0; c < ncaps; c++)
            (void)run_chan(np, caps[c], m); /* warm-up */
        for (size_t r = 0; r < runs; r++) /* interleaved capacities */
            for (size_t c = 0; c < ncaps; c++)
                rate[c * runs + r] = run_chan(np, caps[c], m);
        for (size_t c = 0; c < ncaps; c++)
            printf("chan %llu %llu %llu %.0f\n", (unsigned long long)np,
                   (unsigned long long)caps[c], (unsigned long long)m,
                   bench_median(rate + c * runs, runs));
        fflush(stdout);
    }
    free(rate);
    free(ps);
    free(caps);
    if (ferror(stdout) || fflush(stdout) == EOF)
        bench_fail("writing the output");
    return BENCH_OK;
}
