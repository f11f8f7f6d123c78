/*
 * Task handles: coro_task_spawn, coro_task_join, coro_task_detach,
 * coro_task_cancel, coro_task_self, coro_task_cancelled. Results, every
 * documented error, cancellation of each kind of wait, handles that
 * outlive their tasks, and the deadlock report with joins.
 */
#include "testutil.h"
#include "tasklog.h"

#include <pthread.h>
#include <stdio.h>

static coro_sched_t *sched;
static coro_chan_t *chan, *chan2, *chan3;

static void
setup(void)
{
    tasklog_reset();
    sched = coro_sched_create();
    chan = coro_chan_create(sizeof(int), 0);
    chan2 = coro_chan_create(sizeof(int), 0);
    chan3 = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(sched);
    ck_assert_ptr_nonnull(chan);
    ck_assert_ptr_nonnull(chan2);
    ck_assert_ptr_nonnull(chan3);
}

static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ck_assert_int_eq(coro_chan_destroy(chan), 0);
    ck_assert_int_eq(coro_chan_destroy(chan2), 0);
    ck_assert_int_eq(coro_chan_destroy(chan3), 0);
    ASSERT_TASKS_OK();
}

static void *
twice(void *arg)
{
    return IV(VI(arg) * 2);
}

static void *
exits_deep(void *arg)
{
    coro_exit(IV(VI(arg) + 1));
    return NULL; /* not reached */
}

static void *
yields_then_returns(void *arg)
{
    coro_sched_yield();
    coro_sched_yield();
    return arg;
}

/* ---------------------------------------------------------------------- */
/* Results and joins                                                       */

static void *
joins_children(void *arg)
{
    coro_task_t *a = coro_task_spawn(sched, twice, IV(21), 0);
    coro_task_t *b = coro_task_spawn(sched, exits_deep, IV(6), 0);
    coro_task_t *c = coro_task_spawn(sched, yields_then_returns, IV(5), 0);
    void *r = IV(-1);

    (void)arg;
    EXPECT(a && b && c);
    EXPECT(coro_task_join(a, &r, CORO_FOREVER) == 0 && VI(r) == 42); /* waits for it */
    coro_sched_yield();
    coro_sched_yield();
    coro_sched_yield();
    EXPECT(coro_task_join(b, &r, 0) == 0 && VI(r) == 7); /* ended already: no wait */
    EXPECT(coro_task_join(c, NULL, CORO_FOREVER) == 0);  /* result not wanted */
    ev("joined");
    return NULL;
}

START_TEST(test_results)
{
    ck_assert_int_eq(coro_spawn(sched, joins_children, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "joined");
    teardown();
}
END_TEST

/* Outside any task: a join works when the task ended, and gives EPERM
 * (EAGAIN with timeout 0) when it would have to wait. */
START_TEST(test_join_outside)
{
    coro_task_t *t = coro_task_spawn(sched, twice, IV(4), 0);
    void *r;

    ck_assert_ptr_nonnull(t);
    ASSERT_FAILS(coro_task_join(t, &r, CORO_FOREVER), EPERM);
    ASSERT_FAILS(coro_task_join(t, &r, CORO_MSEC(10)), EPERM);
    ASSERT_FAILS(coro_task_join(t, &r, 0), EAGAIN);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(coro_task_join(t, &r, CORO_FOREVER), 0);
    ck_assert_int_eq(VI(r), 8);
    teardown();
}
END_TEST

/* A join that times out keeps the handle; a later join gets the result. */
static void *
waits_for_chan(void *arg)
{
    int v = 0;

    (void)arg;
    EXPECT(coro_chan_recv(chan, &v) == 0);
    return IV(v);
}

static void *
joins_with_timeout(void *arg)
{
    coro_task_t *t = coro_task_spawn(sched, waits_for_chan, NULL, 0);
    int64_t t0 = coro_now();
    int v = 13;
    void *r;

    (void)arg;
    EXPECT(t != NULL);
    EXPECT_FAILS(coro_task_join(t, &r, CORO_MSEC(20)), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= CORO_MSEC(20));
    EXPECT_FAILS(coro_task_join(t, &r, 0), EAGAIN);
    EXPECT(coro_chan_send(chan, &v) == 0);
    EXPECT(coro_task_join(t, &r, CORO_FOREVER) == 0 && VI(r) == 13);
    ev("ok");
    return NULL;
}

START_TEST(test_join_timeout_keeps_handle)
{
    ck_assert_int_eq(coro_spawn(sched, joins_with_timeout, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "ok");
    teardown();
}
END_TEST

/* The errors of join: NULL, itself, a second join while one waits, a
 * detached handle, another thread. */
static coro_task_t *shared;

static void *
second_joiner(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_task_join(shared, NULL, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_task_detach(shared), EINVAL); /* a join waits on it */
    ev("second");
    return NULL;
}

static void *
first_joiner(void *arg)
{
    (void)arg;
    EXPECT(coro_spawn(sched, second_joiner, NULL, 0) == 0);
    EXPECT(coro_task_join(shared, NULL, CORO_FOREVER) == 0);
    ev("first");
    return NULL;
}

static void *
joins_itself(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_task_join(coro_task_self(), NULL, CORO_FOREVER), EDEADLK);
    EXPECT_FAILS(coro_task_join(coro_task_self(), NULL, 0), EDEADLK);
    coro_sched_yield();
    ev("self");
    return NULL;
}

START_TEST(test_join_errors)
{
    coro_task_t *self_joiner;

    ASSERT_FAILS(coro_task_join(NULL, NULL, 0), EINVAL);
    ASSERT_FAILS(coro_task_detach(NULL), EINVAL);
    ASSERT_FAILS(coro_task_cancel(NULL), EINVAL);
    shared = coro_task_spawn(sched, yields_then_returns, NULL, 0);
    self_joiner = coro_task_spawn(sched, joins_itself, NULL, 0);
    ck_assert_ptr_nonnull(shared);
    ck_assert_ptr_nonnull(self_joiner);
    ck_assert_int_eq(coro_spawn(sched, first_joiner, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "self second first");
    ck_assert_int_eq(coro_task_join(self_joiner, NULL, 0), 0);
    teardown();
}
END_TEST

/* A handle belongs to its scheduler's thread. */
static void *
foreign_calls(void *arg)
{
    static int errs[3];

    errno = 0;
    errs[0] = coro_task_join(arg, NULL, 0) == -1 ? errno : 0;
    errno = 0;
    errs[1] = coro_task_detach(arg) == -1 ? errno : 0;
    errno = 0;
    errs[2] = coro_task_cancel(arg) == -1 ? errno : 0;
    return errs;
}

START_TEST(test_other_thread)
{
    coro_task_t *t = coro_task_spawn(sched, twice, IV(1), 0);
    pthread_t th;
    void *res;
    int *errs;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_calls, t), 0);
    ck_assert_int_eq(pthread_join(th, &res), 0);
    errs = res;
    ck_assert_int_eq(errs[0], EPERM);
    ck_assert_int_eq(errs[1], EPERM);
    ck_assert_int_eq(errs[2], EPERM);
    ck_assert_int_eq(coro_sched_run(sched), 0); /* it was not cancelled */
    ck_assert_int_eq(coro_task_join(t, &res, 0), 0);
    ck_assert_int_eq(VI(res), 2);
    teardown();
}
END_TEST

/* Spawning fails as coro_spawn() does. */
START_TEST(test_spawn_errors)
{
    ASSERT_NULL_ERRNO(coro_task_spawn(NULL, twice, NULL, 0), EINVAL);
    ASSERT_NULL_ERRNO(coro_task_spawn(sched, NULL, NULL, 0), EINVAL);
    ASSERT_NULL_ERRNO(coro_task_spawn(sched, twice, NULL, CORO_STACK_MAX + 1), EINVAL);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Detaching                                                               */

START_TEST(test_detach)
{
    coro_task_t *before = coro_task_spawn(sched, twice, IV(1), 0);
    coro_task_t *after = coro_task_spawn(sched, twice, IV(2), 0);

    ck_assert_ptr_nonnull(before);
    ck_assert_ptr_nonnull(after);
    ck_assert_int_eq(coro_task_detach(before), 0); /* freed when it ends */
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(coro_task_detach(after), 0); /* ended: freed now */
    teardown();                                  /* valgrind: no leak */
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_task_self()                                                        */

static coro_task_t *self_seen;

static void *
reports_self(void *arg)
{
    (void)arg;
    self_seen = coro_task_self();
    EXPECT(self_seen != NULL);
    EXPECT(coro_task_self() == self_seen); /* the same each time */
    return NULL;
}

static void *
spawned_plainly(void *arg)
{
    coro_task_t *me = coro_task_self();

    (void)arg;
    EXPECT(me != NULL);
    /* Made by coro_spawn(): its handle is detached. */
    EXPECT_FAILS(coro_task_join(me, NULL, 0), EDEADLK);
    EXPECT_FAILS(coro_task_detach(me), EINVAL);
    EXPECT(coro_task_cancel(me) == 0);
    EXPECT(coro_task_cancelled() == 1);
    return NULL;
}

static void *
generator_asks(void *arg)
{
    (void)arg;
    coro_yield(coro_task_self());
    return NULL;
}

static void *
task_runs_generator(void *arg)
{
    coro_t *g = coro_create(generator_asks, NULL, 0);
    void *out = IV(1);

    (void)arg;
    EXPECT(g != NULL);
    EXPECT(coro_resume(g, NULL, &out) == 0);
    EXPECT(out == NULL); /* a generator is no task, even one a task resumed */
    EXPECT(coro_destroy(g) == 0);
    return NULL;
}

START_TEST(test_self)
{
    coro_task_t *t = coro_task_spawn(sched, reports_self, NULL, 0);

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(coro_task_self());
    ck_assert_int_eq(coro_task_cancelled(), 0);
    ck_assert_int_eq(coro_spawn(sched, spawned_plainly, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(sched, task_runs_generator, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_ptr_eq(self_seen, t);
    ck_assert_int_eq(coro_task_join(t, NULL, 0), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Cancelling                                                              */

static void
note_handler(void *arg)
{
    ev("%s-handler", (const char *)arg);
}

/* Each kind of wait fails with ECANCELED, the handlers run as the task
 * returns, and every later wait fails at once. */
static void *
recv_then_more(void *arg)
{
    int v;

    EXPECT(coro_defer(note_handler, arg) == 0);
    EXPECT_FAILS(coro_chan_recv(chan, &v), ECANCELED);
    EXPECT(coro_task_cancelled() == 1);
    EXPECT_FAILS(coro_sleep(CORO_MSEC(100)), ECANCELED);
    EXPECT_FAILS(coro_chan_recv_timeout(chan, &v, CORO_MSEC(100)), ECANCELED);
    EXPECT(coro_chan_recv_timeout(chan, &v, 0) == -1 && errno == EAGAIN); /* no wait: no cancel */
    ev("%s", (const char *)arg);
    return IV(99);
}

static void *
send_waits(void *arg)
{
    int v = 1;

    EXPECT_FAILS(coro_chan_send(chan2, &v), ECANCELED);
    ev("%s", (const char *)arg);
    return NULL;
}

static void *
select_waits(void *arg)
{
    int v = 1, w;
    coro_sel_t sel[2] = {{chan2, CORO_SEND, &v, 0}, {chan3, CORO_RECV, &w, 0}};

    EXPECT_FAILS(coro_select(sel, 2, CORO_FOREVER), ECANCELED);
    ev("%s", (const char *)arg);
    return NULL;
}

static void *
sleep_waits(void *arg)
{
    int64_t t0 = coro_now();

    EXPECT_FAILS(coro_sleep(CORO_MSEC(60000)), ECANCELED);
    EXPECT(coro_now() - t0 < CORO_MSEC(30000));
    ev("%s", (const char *)arg);
    return NULL;
}

static coro_task_t *join_target;

static void *
join_waits(void *arg)
{
    EXPECT_FAILS(coro_task_join(join_target, NULL, CORO_FOREVER), ECANCELED);
    ev("%s", (const char *)arg);
    return NULL;
}

static coro_task_t *victims[5];

static void *
canceller(void *arg)
{
    (void)arg;
    coro_sched_yield(); /* let them all block */
    for (int i = 0; i < 5; i++)
        EXPECT(coro_task_cancel(victims[i]) == 0);
    for (int i = 0; i < 5; i++)
        EXPECT(coro_task_cancel(victims[i]) == 0); /* twice: nothing more */
    return NULL;
}

START_TEST(test_cancel_each_wait)
{
    void *r;

    join_target = coro_task_spawn(sched, yields_then_returns, NULL, 0);
    ck_assert_ptr_nonnull(join_target);
    victims[0] = coro_task_spawn(sched, recv_then_more, "recv", 0);
    victims[1] = coro_task_spawn(sched, send_waits, "send", 0);
    victims[2] = coro_task_spawn(sched, select_waits, "select", 0);
    victims[3] = coro_task_spawn(sched, sleep_waits, "sleep", 0);
    victims[4] = coro_task_spawn(sched, join_waits, "join", 0);
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(victims[i]);
    ck_assert_int_eq(coro_spawn(sched, canceller, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "recv recv-handler send select sleep join");
    ck_assert_int_eq(coro_task_join(victims[0], &r, 0), 0);
    ck_assert_int_eq(VI(r), 99);
    for (int i = 1; i < 5; i++)
        ck_assert_int_eq(coro_task_join(victims[i], NULL, 0), 0);
    /* The task the cancelled join waited for is intact. */
    ck_assert_int_eq(coro_task_join(join_target, NULL, 0), 0);
    /* Cancelling an ended task: 0, and the handle still joins. */
    teardown();
}
END_TEST

/* A task cancelled before it started never runs its function. */
static void *
must_not_run(void *arg)
{
    (void)arg;
    ev("ran");
    return IV(1);
}

START_TEST(test_cancel_unstarted)
{
    coro_task_t *t = coro_task_spawn(sched, must_not_run, NULL, 0);
    void *r = IV(7);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(coro_task_cancel(t), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "");
    ck_assert_int_eq(coro_task_join(t, &r, 0), 0);
    ck_assert_ptr_null(r);
    teardown();
}
END_TEST

/* A task that never waits is not interrupted; it can ask. */
static void *
busy_without_waits(void *arg)
{
    int seen = 0;

    (void)arg;
    for (int i = 0; i < 10; i++) {
        coro_sched_yield(); /* a yield is no wait */
        seen |= coro_task_cancelled();
    }
    ev(seen ? "asked" : "not-asked");
    return NULL;
}

static void *
cancels_busy(void *arg)
{
    EXPECT(coro_task_cancel(arg) == 0);
    return NULL;
}

START_TEST(test_cancel_never_waits)
{
    coro_task_t *t = coro_task_spawn(sched, busy_without_waits, NULL, 0);

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(coro_spawn(sched, cancels_busy, t, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "asked");
    ck_assert_int_eq(coro_task_cancel(t), 0); /* ended: nothing */
    ck_assert_int_eq(coro_task_join(t, NULL, 0), 0);
    teardown();
}
END_TEST

/* Cancelling itself: its next wait fails. */
static void *
cancels_itself(void *arg)
{
    (void)arg;
    EXPECT(coro_task_cancel(coro_task_self()) == 0);
    EXPECT_FAILS(coro_sleep(0), ECANCELED);
    return NULL;
}

START_TEST(test_cancel_self)
{
    ck_assert_int_eq(coro_spawn(sched, cancels_itself, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Many, chains, deadlock, destroy                                         */

enum { MANY = 1000 };

static void *
spawns_and_joins_many(void *arg)
{
    static coro_task_t *ts[MANY];
    long sum = 0;

    (void)arg;
    for (int i = 0; i < MANY; i++)
        EXPECT((ts[i] = coro_task_spawn(sched, twice, IV(i), 0)) != NULL);
    for (int i = 0; i < MANY; i++) {
        void *r = NULL;

        EXPECT(ts[i] && coro_task_join(ts[i], &r, CORO_FOREVER) == 0);
        sum += VI(r);
    }
    EXPECT(sum == (long)MANY * (MANY - 1));
    return NULL;
}

START_TEST(test_many)
{
    ck_assert_int_eq(coro_spawn(sched, spawns_and_joins_many, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown();
}
END_TEST

/* Each task joins the one it spawned: a chain of 20. */
static void *
chain(void *arg)
{
    long depth = VI(arg);
    coro_task_t *next;
    void *r = NULL;

    if (depth == 0)
        return IV(0);
    next = coro_task_spawn(sched, chain, IV(depth - 1), 0);
    EXPECT(next && coro_task_join(next, &r, CORO_FOREVER) == 0);
    return IV(VI(r) + 1);
}

START_TEST(test_chain)
{
    coro_task_t *t = coro_task_spawn(sched, chain, IV(20), 0);
    void *r;

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(coro_task_join(t, &r, 0), 0);
    ck_assert_int_eq(VI(r), 20);
    teardown();
}
END_TEST

/* Two tasks joining each other: blocked for good, EDEADLK. */
static coro_task_t *pair[2];

static void *
joins_partner(void *arg)
{
    coro_sched_yield();
    EXPECT(coro_task_join(pair[1 - VI(arg)], NULL, CORO_FOREVER) == -1);
    return NULL;
}

START_TEST(test_deadlock_with_joins)
{
    pair[0] = coro_task_spawn(sched, joins_partner, IV(0), 0);
    pair[1] = coro_task_spawn(sched, joins_partner, IV(1), 0);
    ck_assert_ptr_nonnull(pair[0]);
    ck_assert_ptr_nonnull(pair[1]);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    /* Destroying the scheduler closes both; their handles say they ended,
     * with NULL, and join without waiting. */
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    for (int i = 0; i < 2; i++) {
        void *r = IV(1);

        ck_assert_int_eq(coro_task_join(pair[i], &r, 0), 0);
        ck_assert_ptr_null(r);
    }
    teardown();
}
END_TEST

/* Handles of tasks that never ran, across coro_sched_destroy(). */
START_TEST(test_destroy_with_handles)
{
    coro_task_t *a = coro_task_spawn(sched, twice, IV(1), 0);
    coro_task_t *b = coro_task_spawn(sched, twice, IV(2), 0);
    void *r = IV(1);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(coro_task_detach(b), 0);
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ck_assert_int_eq(coro_task_join(a, &r, CORO_FOREVER), 0);
    ck_assert_ptr_null(r);
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    teardown();
}
END_TEST

static Suite *
task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc;

    tc = tasklog_tcase(s, "join", setup);
    tcase_add_test(tc, test_results);
    tcase_add_test(tc, test_join_outside);
    tcase_add_test(tc, test_join_timeout_keeps_handle);
    tcase_add_test(tc, test_join_errors);
    tcase_add_test(tc, test_other_thread);
    tcase_add_test(tc, test_spawn_errors);
    tcase_add_test(tc, test_detach);
    tcase_add_test(tc, test_self);

    tc = tasklog_tcase(s, "cancel", setup);
    tcase_add_test(tc, test_cancel_each_wait);
    tcase_add_test(tc, test_cancel_unstarted);
    tcase_add_test(tc, test_cancel_never_waits);
    tcase_add_test(tc, test_cancel_self);

    tc = tasklog_tcase(s, "many", setup);
    tcase_add_test(tc, test_many);
    tcase_add_test(tc, test_chain);
    tcase_add_test(tc, test_deadlock_with_joins);
    tcase_add_test(tc, test_destroy_with_handles);
    return s;
}

TEST_MAIN(task_suite)
