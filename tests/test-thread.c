/*
 * test-thread: coroutines and threads. Each thread runs its own coroutines,
 * at the same time as the others, with its own coro_self(); a coroutine
 * belongs to the thread that made it, and any other thread that tries to
 * resume, close or destroy it gets EPERM and changes nothing.
 *
 * Threads record what they see; the assertions run on the test's own
 * thread after pthread_join.
 */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

/* A failed check inside a thread: keep the first message. */
struct report {
    int errors;
    char first[256];
};

#define EXPECT(rep, cond, ...)                                              \
    do {                                                                    \
        if (!(cond) && (rep)->errors++ == 0)                                \
            snprintf((rep)->first, sizeof (rep)->first, __VA_ARGS__);       \
    } while (0)

#define ASSERT_REPORT_CLEAN(rep, who)                                       \
    ck_assert_msg((rep)->errors == 0, "%s: %d errors, first: %s", (who),    \
                  (rep)->errors, (rep)->first)

/* ---------------------------------------------------------------------- */
/* Independent threads, at the same time                                  */

#define NTHREADS 4
#define NCORO 8
#define ROUNDS 2000

struct gen {
    coro_t *self;
    intptr_t base;
    struct report *rep;
};

/* Yields base + i for ever; checks that it is itself, and that the resumer
 * sends back what it was given. */
static void *
echo_gen(void *arg)
{
    struct gen *g = arg;
    intptr_t i;

    for (i = 0;; i++) {
        void *in;

        EXPECT(g->rep, coro_self() == g->self, "coro_self() is not the generator");
        EXPECT(g->rep, coro_status(g->self) == CORO_RUNNING, "generator not RUNNING");
        in = coro_yield(IV(g->base + i));
        EXPECT(g->rep, VI(in) == g->base + i, "generator got %ld, sent %ld", (long)VI(in),
               (long)(g->base + i));
    }
    return NULL;
}

/* inner() checks the statuses it sees, outer() delegates to it. */
struct pair {
    coro_t *outer, *inner;
    struct report *rep;
    int handler_runs;
};

static void
pair_handler(void *arg)
{
    struct pair *p = arg;

    p->handler_runs++;
}

static void *
pair_inner(void *arg)
{
    struct pair *p = arg;
    int i;

    for (i = 0; i < 10; i++) {
        EXPECT(p->rep, coro_self() == p->inner, "inner: coro_self() wrong");
        EXPECT(p->rep, coro_status(p->outer) == CORO_NORMAL, "inner: outer not NORMAL");
        EXPECT(p->rep, coro_status(p->inner) == CORO_RUNNING, "inner: not RUNNING");
        coro_yield(IV(i));
    }
    return IV(-1);
}

static void *
pair_outer(void *arg)
{
    struct pair *p = arg;
    void *v = NULL;

    EXPECT(p->rep, coro_defer(pair_handler, p) == 0, "coro_defer failed");
    p->inner = coro_create(pair_inner, p, CORO_STACK_MIN);
    EXPECT(p->rep, p->inner != NULL, "coro_create inner failed");
    if (p->inner == NULL)
        return NULL;
    while (coro_resume(p->inner, NULL, &v) == 0) {
        EXPECT(p->rep, coro_self() == p->outer, "outer: coro_self() wrong");
        coro_yield(v);
    }
    EXPECT(p->rep, coro_destroy(p->inner) == 0, "destroy inner failed");
    return v;
}

struct worker {
    int id;
    pthread_barrier_t *start;
    struct report rep;
    long values;
};

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct gen g[NCORO];
    void *last[NCORO];
    struct pair p;
    void *v = NULL;
    int k, r, n;

    pthread_barrier_wait(w->start);
    EXPECT(&w->rep, coro_self() == NULL, "coro_self() not NULL on a new thread");

    for (k = 0; k < NCORO; k++) {
        g[k].base = (intptr_t)w->id * 1000000 + (intptr_t)k * 10000;
        g[k].rep = &w->rep;
        g[k].self = coro_create(echo_gen, &g[k], k % 2 ? CORO_STACK_MIN : 0);
        EXPECT(&w->rep, g[k].self != NULL, "coro_create failed");
        if (g[k].self == NULL)
            return NULL;
        last[k] = NULL;
    }
    for (r = 0; r < ROUNDS; r++) {
        for (k = 0; k < NCORO; k++) {
            int rc = coro_resume(g[k].self, last[k], &last[k]);

            EXPECT(&w->rep, rc == 0, "resume returned %d", rc);
            EXPECT(&w->rep, VI(last[k]) == g[k].base + r, "thread %d gen %d round %d: got %ld",
                   w->id, k, r, (long)VI(last[k]));
            EXPECT(&w->rep, coro_self() == NULL, "coro_self() not NULL between resumes");
            w->values++;
        }
        if (r % 256 == 0)
            sched_yield();
    }
    for (k = 0; k < NCORO; k++)
        EXPECT(&w->rep, coro_destroy(g[k].self) == 0, "coro_destroy failed");

    /* nesting inside this thread */
    memset(&p, 0, sizeof p);
    p.rep = &w->rep;
    p.outer = coro_create(pair_outer, &p, 0);
    EXPECT(&w->rep, p.outer != NULL, "coro_create outer failed");
    if (p.outer == NULL)
        return NULL;
    n = 0;
    while (coro_resume(p.outer, NULL, &v) == 0) {
        EXPECT(&w->rep, VI(v) == n, "delegated value %ld, expected %d", (long)VI(v), n);
        n++;
    }
    EXPECT(&w->rep, n == 10, "%d delegated values", n);
    EXPECT(&w->rep, VI(v) == -1, "outer returned %ld", (long)VI(v));
    EXPECT(&w->rep, p.handler_runs == 1, "handler ran %d times", p.handler_runs);
    EXPECT(&w->rep, coro_destroy(p.outer) == 0, "coro_destroy outer failed");
    EXPECT(&w->rep, coro_self() == NULL, "coro_self() not NULL at the end");
    return NULL;
}

START_TEST(test_threads_independent)
{
    pthread_t t[NTHREADS];
    struct worker w[NTHREADS];
    pthread_barrier_t start;
    int i;

    ck_assert_int_eq(pthread_barrier_init(&start, NULL, NTHREADS), 0);
    for (i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i + 1;
        w[i].start = &start;
        ck_assert_int_eq(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&start);
    for (i = 0; i < NTHREADS; i++) {
        ASSERT_REPORT_CLEAN(&w[i].rep, "worker");
        ck_assert_int_eq(w[i].values, (long)NCORO * ROUNDS);
    }
    ck_assert_ptr_null(coro_self());
}
END_TEST

/* While one thread is inside a coroutine, another is not: coro_self() is
 * NULL there, and the calls that need a coroutine fail with EPERM. */
struct inside {
    pthread_barrier_t in, out;
    coro_t *co;
    coro_t *self_seen_in_co;
};

static void *
wait_inside(void *arg)
{
    struct inside *s = arg;

    s->self_seen_in_co = coro_self();
    pthread_barrier_wait(&s->in);  /* we are RUNNING now */
    pthread_barrier_wait(&s->out); /* the other thread has looked */
    if (coro_self() != s->co)
        return IV(-1);
    return IV(7);
}

static void *
runner_thread(void *arg)
{
    struct inside *s = arg;
    void *out = NULL;
    int rc;

    s->co = coro_create(wait_inside, s, 0);
    if (s->co == NULL) {
        pthread_barrier_wait(&s->in);
        pthread_barrier_wait(&s->out);
        return IV(-100);
    }
    rc = coro_resume(s->co, NULL, &out);
    if (rc != 1 || VI(out) != 7 || coro_self() != NULL)
        return IV(-2);
    if (coro_destroy(s->co) != 0)
        return IV(-3);
    return IV(1);
}

static void
dummy_handler(void *arg)
{
    (void)arg;
}

START_TEST(test_self_is_per_thread)
{
    struct inside s;
    pthread_t t;
    void *res = NULL;

    memset(&s, 0, sizeof s);
    ck_assert_int_eq(pthread_barrier_init(&s.in, NULL, 2), 0);
    ck_assert_int_eq(pthread_barrier_init(&s.out, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&t, NULL, runner_thread, &s), 0);
    pthread_barrier_wait(&s.in);

    /* The other thread is inside s.co; this one is not. */
    ck_assert_ptr_nonnull(s.co);
    ck_assert_ptr_eq(s.self_seen_in_co, s.co);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_status(s.co), CORO_RUNNING);
    ASSERT_NULL_ERRNO(coro_yield(IV(1)), EPERM);
    ASSERT_FAILS(coro_defer(dummy_handler, NULL), EPERM);
    ASSERT_FAILS(coro_exit(NULL), EPERM);
    /* Not ours: EPERM even though it is running (not EBUSY). */
    ASSERT_FAILS(coro_resume(s.co, NULL, NULL), EPERM);
    ASSERT_FAILS(coro_close(s.co), EPERM);
    ASSERT_FAILS(coro_destroy(s.co), EPERM);
    ck_assert_int_eq(coro_status(s.co), CORO_RUNNING);

    pthread_barrier_wait(&s.out);
    ck_assert_int_eq(pthread_join(t, &res), 0);
    ck_assert_int_eq(VI(res), 1);
    pthread_barrier_destroy(&s.in);
    pthread_barrier_destroy(&s.out);
}
END_TEST

/* A thread started from inside a coroutine is outside any coroutine, and
 * its own coroutines come back to it, not to ours. */
static void *
count_up(void *arg)
{
    intptr_t i;

    (void)arg;
    for (i = 1; i <= 100; i++)
        coro_yield(IV(i));
    return IV(0);
}

struct spawned {
    coro_t *self_at_start;
    int values;
    int ok;
};

static void *
spawned_thread(void *arg)
{
    struct spawned *s = arg;
    coro_t *co;
    void *v = NULL;
    intptr_t expect = 1;
    int rc;

    s->self_at_start = coro_self();
    co = coro_create(count_up, NULL, 0);
    if (co == NULL)
        return NULL;
    while ((rc = coro_resume(co, NULL, &v)) == 0) {
        if (VI(v) != expect || coro_self() != NULL)
            return NULL;
        expect++;
    }
    s->values = (int)(expect - 1);
    s->ok = rc == 1 && VI(v) == 0 && coro_destroy(co) == 0;
    return NULL;
}

static void *
spawning_coro(void *arg)
{
    struct spawned *s = arg;
    coro_t *me = coro_self();
    pthread_t t;

    if (pthread_create(&t, NULL, spawned_thread, s) != 0)
        return IV(-1);
    coro_yield(IV(1)); /* the thread runs on meanwhile */
    if (pthread_join(t, NULL) != 0)
        return IV(-2);
    return coro_self() == me ? IV(2) : IV(-3);
}

START_TEST(test_thread_from_coroutine)
{
    struct spawned s;
    coro_t *co, *other;
    void *out = NULL;
    intptr_t i;

    memset(&s, 0, sizeof s);
    co = coro_create(spawning_coro, &s, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    /* Run a generator of our own while the other thread runs its own. */
    other = coro_create(count_up, NULL, 0);
    ck_assert_ptr_nonnull(other);
    for (i = 1; i <= 100; i++) {
        ck_assert_int_eq(coro_resume(other, NULL, &out), 0);
        ck_assert_int_eq(VI(out), i);
    }
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_ptr_null(s.self_at_start);
    ck_assert_int_eq(s.values, 100);
    ck_assert_int_eq(s.ok, 1);
    ck_assert_int_eq(coro_destroy(other), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Ownership                                                              */

struct victim {
    int runs;
    int handler_runs;
    void *got;
};

static void
victim_handler(void *arg)
{
    struct victim *v = arg;

    v->handler_runs++;
}

static void *
victim_fn(void *arg)
{
    struct victim *v = arg;

    v->runs++;
    if (coro_defer(victim_handler, v) != 0)
        return IV(-1);
    v->got = coro_yield(IV(1));
    return IV(2);
}

/* What another thread gets when it tries each call on co. */
struct misuse {
    coro_t *co;
    int rc[4], err[4];
    coro_status_t status_seen;
    int destroy_null_rc;
};

static void *
misuse_thread(void *arg)
{
    struct misuse *m = arg;

    errno = 0;
    m->rc[0] = coro_resume(m->co, NULL, NULL);
    m->err[0] = errno;
    errno = 0;
    m->rc[1] = coro_resume(m->co, IV(5), NULL);
    m->err[1] = errno;
    errno = 0;
    m->rc[2] = coro_close(m->co);
    m->err[2] = errno;
    errno = 0;
    m->rc[3] = coro_destroy(m->co);
    m->err[3] = errno;
    m->status_seen = coro_status(m->co);
    m->destroy_null_rc = coro_destroy(NULL);
    return NULL;
}

static void
misuse_from_other_thread(coro_t *co, coro_status_t expect_status)
{
    static const char *const what[4] = { "resume(NULL)", "resume(5)", "close", "destroy" };
    struct misuse m;
    pthread_t t;
    int i;

    memset(&m, 0, sizeof m);
    m.co = co;
    ck_assert_int_eq(pthread_create(&t, NULL, misuse_thread, &m), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    for (i = 0; i < 4; i++) {
        ck_assert_msg(m.rc[i] == -1, "%s from another thread returned %d", what[i], m.rc[i]);
        ck_assert_msg(m.err[i] == EPERM, "%s from another thread: errno %d, expected EPERM",
                      what[i], m.err[i]);
    }
    ck_assert_int_eq(m.status_seen, expect_status);
    ck_assert_int_eq(m.destroy_null_rc, 0);
    ck_assert_int_eq(coro_status(co), expect_status);
}

START_TEST(test_foreign_created)
{
    struct victim v = { 0, 0, NULL };
    coro_t *co = coro_create(victim_fn, &v, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    misuse_from_other_thread(co, CORO_CREATED);
    ck_assert_int_eq(v.runs, 0);
    /* untouched: the owner starts it normally */
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(v.runs, 1);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(v.handler_runs, 1);
}
END_TEST

START_TEST(test_foreign_suspended)
{
    struct victim v = { 0, 0, NULL };
    coro_t *co = coro_create(victim_fn, &v, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    misuse_from_other_thread(co, CORO_SUSPENDED);
    ck_assert_int_eq(v.handler_runs, 0); /* the foreign close/destroy did nothing */
    ck_assert_ptr_null(v.got);           /* nor did the foreign resume(5) */
    ck_assert_int_eq(coro_resume(co, IV(6), &out), 1);
    ck_assert_ptr_eq(v.got, IV(6));
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_int_eq(v.handler_runs, 1);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(v.handler_runs, 1);
    ck_assert_int_eq(v.runs, 1);
}
END_TEST

START_TEST(test_foreign_dead)
{
    struct victim v = { 0, 0, NULL };
    coro_t *co = coro_create(victim_fn, &v, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    misuse_from_other_thread(co, CORO_DEAD);
    ck_assert_int_eq(v.handler_runs, 1);
    ck_assert_int_eq(coro_destroy(co), 0); /* still there for its owner to free */
}
END_TEST

/* A coroutine made inside a coroutine belongs to the same thread. */
static void *
make_child(void *arg)
{
    struct victim *v = arg;
    coro_t *child = coro_create(victim_fn, v, 0);
    void *out = NULL;

    if (child == NULL || coro_resume(child, NULL, NULL) != 0)
        return IV(-1);
    coro_yield(child);
    if (coro_resume(child, IV(9), &out) != 1 || out != IV(2))
        return IV(-2);
    if (coro_destroy(child) != 0)
        return IV(-3);
    return IV(3);
}

START_TEST(test_foreign_nested)
{
    struct victim v = { 0, 0, NULL };
    coro_t *co = coro_create(make_child, &v, 0);
    void *out = NULL;
    coro_t *child;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    child = out;
    ck_assert_ptr_nonnull(child);
    misuse_from_other_thread(child, CORO_SUSPENDED);
    misuse_from_other_thread(co, CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(3));
    ck_assert_ptr_eq(v.got, IV(9));
    ck_assert_int_eq(v.handler_runs, 1);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* The owner has ended: threads started afterwards (which typically reuse
 * its stack and thread-local block) are still other threads. Nobody may
 * free such a coroutine any more, so its mapping is left behind here. */
static void *
create_and_exit(void *arg)
{
    static struct victim unused;
    coro_t **out = arg;

    *out = coro_create(victim_fn, &unused, CORO_STACK_MIN);
    return NULL;
}

START_TEST(test_foreign_after_owner_exit)
{
    coro_t *co = NULL;
    pthread_t t;
    int i;

    ck_assert_int_eq(pthread_create(&t, NULL, create_and_exit, &co), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_ptr_nonnull(co);
    for (i = 0; i < 3; i++)
        misuse_from_other_thread(co, CORO_CREATED);
    ASSERT_FAILS(coro_resume(co, NULL, NULL), EPERM);
    ASSERT_FAILS(coro_destroy(co), EPERM);
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
}
END_TEST

static Suite *
thread_suite(void)
{
    Suite *s = suite_create("thread");
    TCase *tc;

    tc = test_case("independent");
    tcase_add_test(tc, test_threads_independent);
    tcase_add_test(tc, test_self_is_per_thread);
    tcase_add_test(tc, test_thread_from_coroutine);
    suite_add_tcase(s, tc);

    tc = test_case("ownership");
    tcase_add_test(tc, test_foreign_created);
    tcase_add_test(tc, test_foreign_suspended);
    tcase_add_test(tc, test_foreign_dead);
    tcase_add_test(tc, test_foreign_nested);
    tcase_add_test(tc, test_foreign_after_owner_exit);
    suite_add_tcase(s, tc);

    return s;
}

TEST_MAIN(thread_suite)
