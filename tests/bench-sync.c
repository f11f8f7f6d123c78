/*
 * The sync primitives and select, timed by bench-switch (bench-sync.h):
 * each body makes a scheduler, runs its tasks through n operations and
 * frees it (a few microseconds of a run of about 0.1 s). Every body checks
 * that the work was done, so that a broken primitive cannot look fast.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>

#include <coro.h>

#include "bench-sync.h"
#include "bench.h"

/* Run fn(arg) in k tasks (arg[i] for task i) on a new scheduler; the
 * number of switches into a task it made. */
static uint64_t
run_tasks(coro_fn *fn, void **args, int k)
{
    coro_sched_t *s = coro_sched_create();
    uint64_t switches;

    if (s == NULL)
        bench_fail("coro_sched_create");
    for (int i = 0; i < k; i++)
        if (coro_spawn(s, fn, args[i], 0) == -1)
            bench_fail("coro_spawn");
    if (coro_sched_run(s) == -1)
        bench_fail("coro_sched_run");
    switches = coro_sched_switches(s);
    if (coro_sched_destroy(s) == -1)
        bench_fail("coro_sched_destroy");
    return switches;
}

struct job {
    uint64_t n;
    coro_mutex_t *m;
    coro_cond_t *c;
    coro_wg_t *wg;
    coro_chan_t *ch[4];
    uint64_t *shared; /* the state the mutex guards */
    int *full;
};

/* ---------------------------------------------------------------------- */

static void *
uncontended_task(void *arg)
{
    struct job *j = arg;

    for (uint64_t i = 0; i < j->n; i++) {
        if (coro_mutex_lock(j->m, CORO_FOREVER) == -1)
            bench_fail("coro_mutex_lock");
        ++*j->shared;
        if (coro_mutex_unlock(j->m) == -1)
            bench_fail("coro_mutex_unlock");
    }
    return NULL;
}

void
bench_mutex_uncontended_body(uint64_t n, void *ctx)
{
    uint64_t shared = 0;
    struct job j = {.n = n, .m = coro_mutex_create(), .shared = &shared};
    void *args[1] = {&j};

    (void)ctx;
    if (j.m == NULL)
        bench_fail("coro_mutex_create");
    run_tasks(uncontended_task, args, 1);
    if (shared != n)
        bench_die("mutex: %llu of %llu increments", (unsigned long long)shared,
                  (unsigned long long)n);
    coro_mutex_destroy(j.m);
}

/* Two tasks pass the mutex back and forth: each unlock hands it to the
 * other task, which is waiting; each lock then waits for it to come back.
 * Per hand-off: an unlock to a waiter, a lock that waits, one switch. */
static void *
handoff_task(void *arg)
{
    struct job *j = arg;

    if (coro_mutex_lock(j->m, CORO_FOREVER) == -1)
        bench_fail("coro_mutex_lock");
    coro_sched_yield(); /* the first holder lets the other start and wait */
    for (uint64_t i = 0; i < j->n; i++) {
        ++*j->shared;
        if (coro_mutex_unlock(j->m) == -1)
            bench_fail("coro_mutex_unlock");
        if (coro_mutex_lock(j->m, CORO_FOREVER) == -1)
            bench_fail("coro_mutex_lock");
    }
    if (coro_mutex_unlock(j->m) == -1)
        bench_fail("coro_mutex_unlock");
    return NULL;
}

void
bench_mutex_handoff_body(uint64_t n, void *ctx)
{
    uint64_t shared = 0;
    coro_mutex_t *m = coro_mutex_create();
    struct job a = {.n = (n + 1) / 2, .m = m, .shared = &shared};
    struct job b = {.n = n / 2, .m = m, .shared = &shared};
    void *args[2] = {&a, &b};

    (void)ctx;
    if (m == NULL)
        bench_fail("coro_mutex_create");
    /* Every hand-off switched to the other task. */
    if (run_tasks(handoff_task, args, 2) < n)
        bench_die("mutex hand-off: fewer switches than hand-offs");
    if (shared != n)
        bench_die("mutex hand-off: %llu of %llu", (unsigned long long)shared,
                  (unsigned long long)n);
    coro_mutex_destroy(m);
}

/* A producer and a consumer of a one-slot mailbox guarded by a mutex, with
 * one condition variable for "changed" (as table 5's threads do). */
static void *
cond_producer(void *arg)
{
    struct job *j = arg;

    for (uint64_t i = 1; i <= j->n; i++) {
        coro_mutex_lock(j->m, CORO_FOREVER);
        while (*j->full)
            if (coro_cond_wait(j->c, j->m, CORO_FOREVER) == -1)
                bench_fail("coro_cond_wait");
        *j->shared += i;
        *j->full = 1;
        coro_cond_signal(j->c);
        coro_mutex_unlock(j->m);
    }
    return NULL;
}

static void *
cond_consumer(void *arg)
{
    struct job *j = arg;

    for (uint64_t i = 1; i <= j->n; i++) {
        coro_mutex_lock(j->m, CORO_FOREVER);
        while (!*j->full)
            if (coro_cond_wait(j->c, j->m, CORO_FOREVER) == -1)
                bench_fail("coro_cond_wait");
        *j->full = 0;
        coro_cond_signal(j->c);
        coro_mutex_unlock(j->m);
    }
    return NULL;
}

static void *
cond_task(void *arg)
{
    struct job *j = arg;

    return j->wg ? cond_consumer(arg) : cond_producer(arg);
}

void
bench_cond_body(uint64_t n, void *ctx)
{
    uint64_t shared = 0;
    int full = 0;
    struct job p = {.n = n, .m = coro_mutex_create(), .c = coro_cond_create(),
                    .shared = &shared, .full = &full};
    struct job c = p;
    void *args[2] = {&p, &c};

    (void)ctx;
    if (p.m == NULL || p.c == NULL)
        bench_fail("coro_mutex_create/coro_cond_create");
    c.wg = (coro_wg_t *)&c; /* a mark: the consumer */
    run_tasks(cond_task, args, 2);
    if (shared != n * (n + 1) / 2 || full)
        bench_die("condition variable: messages lost");
    coro_cond_destroy(p.c);
    coro_mutex_destroy(p.m);
}

/* coro_wg_done() n times after one coro_wg_add(n), on the thread's stack
 * (neither waits). */
void
bench_wg_done_body(uint64_t n, void *ctx)
{
    coro_wg_t *wg = coro_wg_create();

    (void)ctx;
    if (wg == NULL || coro_wg_add(wg, (long)n) == -1)
        bench_fail("coro_wg_create/coro_wg_add");
    for (uint64_t i = 0; i < n; i++)
        if (coro_wg_done(wg) == -1)
            bench_fail("coro_wg_done");
    if (coro_wg_wait(wg, 0) == -1) /* 0 now, or EAGAIN */
        bench_fail("coro_wg_wait: the count is not 0");
    coro_wg_destroy(wg);
}

/* ---------------------------------------------------------------------- */
/* A receive that can complete at once: from one buffered channel, or by
 * coro_select() among 4 of them, each holding an element. Each operation is
 * a send that puts an element back (into the channel that was read) and
 * the receive: the two figures differ only in recv against select. */

static void *
recv1_task(void *arg)
{
    struct job *j = arg;
    uint64_t v = 0, sum = 0;

    for (uint64_t i = 0; i < j->n; i++) {
        if (coro_chan_send(j->ch[0], &i) == -1 || coro_chan_recv(j->ch[0], &v) == -1)
            bench_fail("coro_chan_send/recv");
        sum += v;
    }
    *j->shared = sum;
    return NULL;
}

static void *
select4_task(void *arg)
{
    struct job *j = arg;
    uint64_t v[4], sum = 0, zero = 0;
    coro_sel_t sel[4];
    int k = 0;

    for (int c = 0; c < 4; c++) {
        if (coro_chan_send(j->ch[c], &zero) == -1) /* each holds one */
            bench_fail("coro_chan_send");
        sel[c] = (coro_sel_t){j->ch[c], CORO_RECV, &v[c], 0};
    }
    for (uint64_t i = 0; i < j->n; i++) {
        if (coro_chan_send(j->ch[k], &i) == -1)
            bench_fail("coro_chan_send");
        if ((k = coro_select(sel, 4, 0)) < 0 || sel[k].err != 0)
            bench_fail("coro_select");
        sum += v[k];
    }
    *j->shared = sum;
    return NULL;
}

static void
chan_bench(uint64_t n, coro_fn *fn, int nch)
{
    uint64_t sum = 0;
    struct job j = {.n = n, .shared = &sum};
    void *args[1] = {&j};

    for (int c = 0; c < nch; c++)
        if ((j.ch[c] = coro_chan_create(sizeof(uint64_t), 2)) == NULL)
            bench_fail("coro_chan_create");
    run_tasks(fn, args, 1);
    /* Every value but the last few sent came back out. */
    if (sum > n * (n - 1) / 2 || sum + 8 * n < n * (n - 1) / 2)
        bench_die("channels: elements lost (sum %llu)", (unsigned long long)sum);
    for (int c = 0; c < nch; c++)
        coro_chan_destroy(j.ch[c]);
}

void
bench_recv1_body(uint64_t n, void *ctx)
{
    (void)ctx;
    chan_bench(n, recv1_task, 1);
}

void
bench_select4_body(uint64_t n, void *ctx)
{
    (void)ctx;
    chan_bench(n, select4_task, 4);
}
