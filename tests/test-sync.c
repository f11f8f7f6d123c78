/*
 * Mutexes, condition variables and wait groups: success and every
 * documented error, hand-off in arrival order, a condition wait that holds
 * its mutex again on every way out, wait groups, and the deadlock report.
 */
#include "testutil.h"
#include "tasklog.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>

static coro_sched_t *sched;
static coro_mutex_t *mu;
static coro_cond_t *cv;
static coro_wg_t *wg;
static coro_wg_t *hold; /* holds_long() keeps the mutex until this is 0 */

static void
setup(void)
{
    tasklog_reset();
    sched = coro_sched_create();
    mu = coro_mutex_create();
    cv = coro_cond_create();
    wg = coro_wg_create();
    hold = coro_wg_create();
    ck_assert_ptr_nonnull(hold);
    ck_assert_int_eq(coro_wg_add(hold, 1), 0);
    ck_assert_ptr_nonnull(sched);
    ck_assert_ptr_nonnull(mu);
    ck_assert_ptr_nonnull(cv);
    ck_assert_ptr_nonnull(wg);
}

static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ck_assert_int_eq(coro_mutex_destroy(mu), 0);
    ck_assert_int_eq(coro_cond_destroy(cv), 0);
    ck_assert_int_eq(coro_wg_destroy(wg), 0);
    ck_assert_int_eq(coro_wg_destroy(hold), 0);
    ASSERT_TASKS_OK();
}

static void
spawn(coro_fn *fn, void *arg)
{
    ck_assert_int_eq(coro_spawn(sched, fn, arg, 0), 0);
}

/* ---------------------------------------------------------------------- */
/* Mutexes                                                                 */

/* A plain coroutine that takes mu, yields while it holds it, and frees it. */
static void *
holds_in_coroutine(void *arg)
{
    (void)arg;
    if (coro_mutex_lock(mu, CORO_FOREVER) != 0)
        return (void *)1;
    coro_yield(NULL);
    return (void *)(intptr_t)coro_mutex_unlock(mu);
}

/* Outside a task: a free mutex locks and unlocks; a held one would wait,
 * which only a task can; so would a condition wait. */
START_TEST(test_mutex_outside)
{
    coro_t *co = coro_create(holds_in_coroutine, NULL, 0);
    void *r;

    ck_assert_int_eq(coro_mutex_lock(mu, CORO_FOREVER), 0);
    ASSERT_FAILS(coro_mutex_lock(mu, CORO_FOREVER), EDEADLK);
    ASSERT_FAILS(coro_mutex_destroy(mu), EBUSY);
    ASSERT_FAILS(coro_cond_wait(cv, mu, CORO_FOREVER), EPERM); /* not a task */
    ck_assert_int_eq(coro_mutex_unlock(mu), 0);
    ASSERT_FAILS(coro_mutex_unlock(mu), EPERM); /* not held */

    /* Held by a coroutine: the thread's stack is another context. */
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ASSERT_FAILS(coro_mutex_lock(mu, 0), EAGAIN);
    ASSERT_FAILS(coro_mutex_lock(mu, CORO_FOREVER), EPERM);
    ASSERT_FAILS(coro_mutex_unlock(mu), EPERM); /* the coroutine holds it */
    ck_assert_int_eq(coro_resume(co, NULL, &r), 1);
    ck_assert_ptr_null(r);
    coro_destroy(co);
    ck_assert_int_eq(coro_mutex_lock(mu, 0), 0); /* free again */
    ck_assert_int_eq(coro_mutex_unlock(mu), 0);
    teardown();
}
END_TEST

static void *
holds_while_yielding(void *arg)
{
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    ev("%s+", (const char *)arg);
    coro_sched_yield();
    coro_sched_yield();
    ev("%s-", (const char *)arg);
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

/* Only one at a time, in the order they came. */
START_TEST(test_mutex_exclusion_fifo)
{
    spawn(holds_while_yielding, "a");
    spawn(holds_while_yielding, "b");
    spawn(holds_while_yielding, "c");
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "a+ a- b+ b- c+ c-");
    teardown();
}
END_TEST

/* Hand-off: a holder that unlocks and locks again at once queues behind
 * those already waiting. */
static void *
greedy(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
        ev("g%d", i);
        coro_sched_yield(); /* the other queues up meanwhile */
        EXPECT(coro_mutex_unlock(mu) == 0);
    }
    return NULL;
}

static void *
patient(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
        ev("p%d", i);
        coro_sched_yield();
        EXPECT(coro_mutex_unlock(mu) == 0);
    }
    return NULL;
}

START_TEST(test_mutex_no_barging)
{
    spawn(greedy, NULL);
    spawn(patient, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "g0 p0 g1 p1 g2 p2");
    teardown();
}
END_TEST

/* The errors, from a task. */
static void *
mutex_errors(void *arg)
{
    int64_t t0;

    (void)arg;
    EXPECT_FAILS(coro_mutex_lock(NULL, 0), EINVAL);
    EXPECT_FAILS(coro_mutex_unlock(NULL), EINVAL);
    EXPECT(coro_mutex_destroy(NULL) == 0);
    EXPECT_FAILS(coro_mutex_unlock(mu), EPERM); /* held by the other task */
    EXPECT_FAILS(coro_mutex_lock(mu, 0), EAGAIN);
    t0 = coro_now();
    EXPECT_FAILS(coro_mutex_lock(mu, CORO_MSEC(20)), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= CORO_MSEC(20));
    EXPECT_FAILS(coro_mutex_destroy(mu), EBUSY);
    ev("errors");
    EXPECT(coro_wg_done(hold) == 0); /* let the holder go */
    return NULL;
}

static void *
holds_long(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT(coro_wg_wait(hold, CORO_FOREVER) == 0);
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

START_TEST(test_mutex_errors)
{
    spawn(holds_long, NULL);
    spawn(mutex_errors, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "errors");
    teardown();
}
END_TEST

/* A timed-out waiter leaves the queue: the next unlock does not give it
 * the mutex. */
static void *
gives_up(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_mutex_lock(mu, CORO_MSEC(5)), ETIMEDOUT);
    ev("gave-up");
    EXPECT(coro_wg_done(hold) == 0);
    return NULL;
}

static void *
waits_its_turn(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    ev("got-it");
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

START_TEST(test_mutex_timeout_leaves_queue)
{
    spawn(holds_long, NULL);
    spawn(gives_up, NULL);
    spawn(waits_its_turn, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "gave-up got-it");
    teardown();
}
END_TEST

/* A waiter with a deadline that is handed the mutex holds it, and its
 * deadline is gone with its wait: a sleep past it is a whole sleep. */
static void *
hands_over_soon(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    coro_sched_yield(); /* the other waits, with a deadline */
    EXPECT(coro_mutex_unlock(mu) == 0);
    ev("unlocked");
    return NULL;
}

static void *
waits_with_deadline(void *arg)
{
    int64_t t0;

    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_MSEC(20)) == 0);
    EXPECT_FAILS(coro_mutex_lock(mu, 0), EDEADLK); /* holds it */
    t0 = coro_now();
    EXPECT(coro_sleep(CORO_MSEC(40)) == 0);
    EXPECT(coro_now() - t0 >= CORO_MSEC(40));
    EXPECT(coro_mutex_unlock(mu) == 0);
    ev("kept");
    return NULL;
}

START_TEST(test_mutex_handoff_with_deadline)
{
    spawn(hands_over_soon, NULL);
    spawn(waits_with_deadline, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "unlocked kept");
    teardown();
}
END_TEST

/* Cancelled while waiting for the lock. */
static void *
cancelled_locker(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_mutex_lock(mu, CORO_FOREVER), ECANCELED);
    EXPECT_FAILS(coro_mutex_lock(mu, CORO_FOREVER), ECANCELED);
    ev("cancelled");
    return NULL;
}

static void *
cancels(void *arg)
{
    coro_sched_yield();
    EXPECT(coro_task_cancel(arg) == 0);
    coro_sched_yield();
    EXPECT(coro_wg_done(hold) == 0);
    return NULL;
}

START_TEST(test_mutex_cancel)
{
    coro_task_t *t;

    spawn(holds_long, NULL);
    ck_assert_ptr_nonnull(t = coro_task_spawn(sched, cancelled_locker, NULL, 0));
    spawn(cancels, t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "cancelled");
    ck_assert_int_eq(coro_task_join(t, NULL, 0), 0);
    teardown();
}
END_TEST

/* From another thread: EPERM for everything. */
static void *
foreign(void *arg)
{
    static int errs[8];
    int k = 0;

    (void)arg;
#define TRY(call) (errno = 0, errs[k++] = (call) == -1 ? errno : 0)
    TRY(coro_mutex_lock(mu, 0));
    TRY(coro_mutex_unlock(mu));
    TRY(coro_mutex_destroy(mu));
    TRY(coro_cond_signal(cv));
    TRY(coro_cond_broadcast(cv));
    TRY(coro_cond_destroy(cv));
    TRY(coro_wg_add(wg, 1));
    TRY(coro_wg_wait(wg, 0));
#undef TRY
    return errs;
}

START_TEST(test_other_thread)
{
    pthread_t th;
    void *res;

    ck_assert_int_eq(pthread_create(&th, NULL, foreign, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &res), 0);
    for (int k = 0; k < 8; k++)
        ck_assert_msg(((int *)res)[k] == EPERM, "call %d: errno %d", k, ((int *)res)[k]);
    teardown();
}
END_TEST

START_TEST(test_create_destroy)
{
    coro_mutex_t *m = coro_mutex_create();
    coro_cond_t *c = coro_cond_create();
    coro_wg_t *w = coro_wg_create();

    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(coro_mutex_destroy(m), 0);
    ck_assert_int_eq(coro_cond_destroy(c), 0);
    ck_assert_int_eq(coro_wg_destroy(w), 0);
    ck_assert_int_eq(coro_cond_destroy(NULL), 0);
    ck_assert_int_eq(coro_wg_destroy(NULL), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Conditions                                                              */

static int items;

static void *
consumer(void *arg)
{
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    while (items == 0)
        EXPECT(coro_cond_wait(cv, mu, CORO_FOREVER) == 0);
    items--;
    ev("c%d", (int)VI(arg));
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

static void *
producer(void *arg)
{
    (void)arg;
    coro_sched_yield(); /* the consumers wait first */
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    items = 1;
    EXPECT(coro_cond_signal(cv) == 0); /* wakes the longest waiter */
    EXPECT(coro_mutex_unlock(mu) == 0);
    coro_sched_yield();
    coro_sched_yield();
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    items = 2;
    EXPECT(coro_cond_broadcast(cv) == 0);
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

START_TEST(test_cond_signal_broadcast)
{
    items = 0;
    spawn(consumer, IV(1));
    spawn(consumer, IV(2));
    spawn(consumer, IV(3));
    spawn(producer, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "c1 c2 c3");
    teardown();
}
END_TEST

/* The mutex is held again on every way out: timeout, cancel, errors. */
static void *
waits_out(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT_FAILS(coro_cond_wait(cv, mu, CORO_MSEC(10)), ETIMEDOUT);
    EXPECT_FAILS(coro_mutex_lock(mu, 0), EDEADLK); /* held again */
    EXPECT_FAILS(coro_cond_wait(cv, mu, 0), EAGAIN);
    EXPECT_FAILS(coro_mutex_lock(mu, 0), EDEADLK);
    EXPECT(coro_mutex_unlock(mu) == 0);
    EXPECT_FAILS(coro_cond_wait(cv, mu, CORO_FOREVER), EPERM); /* not held */
    EXPECT_FAILS(coro_cond_wait(NULL, mu, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_cond_wait(cv, NULL, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_cond_signal(NULL), EINVAL);
    EXPECT_FAILS(coro_cond_broadcast(NULL), EINVAL);
    ev("out");
    return NULL;
}

START_TEST(test_cond_timeout_holds_mutex)
{
    spawn(waits_out, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "out");
    teardown();
}
END_TEST

/* Cancelled in a condition wait while another task holds the mutex: it
 * comes back holding it, after the other let go. */
static void *
cancelled_waiter(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT_FAILS(coro_cond_wait(cv, mu, CORO_FOREVER), ECANCELED);
    ev("back");
    EXPECT_FAILS(coro_mutex_lock(mu, 0), EDEADLK); /* holds it */
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

static void *
holds_and_cancels(void *arg)
{
    coro_sched_yield(); /* the waiter waits */
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT(coro_task_cancel(arg) == 0);
    coro_sched_yield();
    coro_sched_yield();
    ev("release");
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

START_TEST(test_cond_cancel_holds_mutex)
{
    coro_task_t *t = coro_task_spawn(sched, cancelled_waiter, NULL, 0);

    ck_assert_ptr_nonnull(t);
    spawn(holds_and_cancels, t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "release back");
    ck_assert_int_eq(coro_task_join(t, NULL, 0), 0);
    teardown();
}
END_TEST

static void *
waits_on_cond(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT(coro_cond_wait(cv, mu, CORO_FOREVER) == 0);
    EXPECT(coro_mutex_unlock(mu) == 0);
    return NULL;
}

static void *
tries_destroying_cond(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_cond_destroy(cv), EBUSY);
    EXPECT(coro_cond_signal(cv) == 0);
    return NULL;
}

START_TEST(test_cond_destroy_busy)
{
    spawn(waits_on_cond, NULL);
    spawn(tries_destroying_cond, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown();
}
END_TEST

/* A mutex that a task inside coro_cond_wait() will take back is busy,
 * though nobody holds it or waits for it now. */
static void *
tries_destroying_mutex(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_mutex_destroy(mu), EBUSY);
    EXPECT(coro_cond_signal(cv) == 0);
    EXPECT_FAILS(coro_mutex_destroy(mu), EBUSY); /* signalled, not yet holding it */
    return NULL;
}

START_TEST(test_mutex_destroy_busy_under_cond_wait)
{
    spawn(waits_on_cond, NULL);
    spawn(tries_destroying_mutex, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown(); /* the waiter is done: coro_mutex_destroy() succeeds */
}
END_TEST

/* A task that never comes back from coro_cond_wait() (its scheduler is
 * destroyed while it waits) no longer keeps the mutex busy. */
START_TEST(test_mutex_free_after_cond_waiter_closed)
{
    spawn(waits_on_cond, NULL);
    ck_assert_int_eq(coro_sched_run(sched), -1);
    ck_assert_int_eq(errno, EDEADLK);
    ASSERT_FAILS(coro_mutex_destroy(mu), EBUSY);
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    tasklog_reset(); /* the closed waiter's EXPECTs after its wait never ran */
    teardown();
}
END_TEST

/* A task that ends holding a mutex leaves it held for good: the next task,
 * whose object is the dead one's (its pooled stack's; not with every
 * build's pool), can neither unlock it nor take it, and neither can the
 * thread's own stack. */
static coro_mutex_t *kept; /* held for good: reachable, never freed */

static void *
locks_and_ends(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(kept, 0) == 0);
    return NULL;
}

static void *
comes_after_holder(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_mutex_unlock(kept), EPERM);
    EXPECT_FAILS(coro_mutex_lock(kept, 0), EAGAIN);
    EXPECT_FAILS(coro_mutex_lock(kept, CORO_MSEC(1)), ETIMEDOUT);
    return NULL;
}

START_TEST(test_mutex_held_by_ended_task)
{
    kept = coro_mutex_create();
    ck_assert_ptr_nonnull(kept);
    spawn(locks_and_ends, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    spawn(comes_after_holder, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ASSERT_FAILS(coro_mutex_unlock(kept), EPERM);
    ASSERT_FAILS(coro_mutex_lock(kept, 0), EAGAIN);
    ASSERT_FAILS(coro_mutex_destroy(kept), EBUSY);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Wait groups                                                             */

static int finished;

static void *
worker(void *arg)
{
    for (long i = 0; i < VI(arg) % 5; i++)
        coro_sched_yield();
    finished++;
    EXPECT(coro_wg_done(wg) == 0);
    return NULL;
}

static void *
waits_for_workers(void *arg)
{
    (void)arg;
    EXPECT(coro_wg_add(wg, 100) == 0);
    for (long i = 0; i < 100; i++)
        EXPECT(coro_spawn(sched, worker, IV(i), 0) == 0);
    EXPECT(coro_wg_wait(wg, CORO_FOREVER) == 0);
    EXPECT(finished == 100);
    ev("all");
    return NULL;
}

START_TEST(test_wg_hundred)
{
    finished = 0;
    spawn(waits_for_workers, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "all");
    teardown();
}
END_TEST

static void *
wg_errors(void *arg)
{
    (void)arg;
    EXPECT(coro_wg_wait(wg, CORO_FOREVER) == 0); /* 0: at once */
    EXPECT_FAILS(coro_wg_done(wg), EINVAL);      /* below 0 */
    EXPECT_FAILS(coro_wg_add(wg, -1), EINVAL);
    EXPECT(coro_wg_add(wg, 2) == 0);
    EXPECT_FAILS(coro_wg_add(wg, -3), EINVAL);
    EXPECT_FAILS(coro_wg_add(wg, LONG_MAX), EINVAL); /* overflow */
    EXPECT_FAILS(coro_wg_add(wg, LONG_MIN), EINVAL); /* no overflow of -n either */
    EXPECT_FAILS(coro_wg_wait(wg, 0), EAGAIN);
    EXPECT_FAILS(coro_wg_wait(wg, CORO_MSEC(5)), ETIMEDOUT);
    EXPECT(coro_wg_add(wg, -2) == 0);
    EXPECT_FAILS(coro_wg_add(NULL, 1), EINVAL);
    EXPECT_FAILS(coro_wg_done(NULL), EINVAL);
    EXPECT_FAILS(coro_wg_wait(NULL, 0), EINVAL);
    ev("ok");
    return NULL;
}

START_TEST(test_wg_errors)
{
    spawn(wg_errors, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "ok");
    ck_assert_int_eq(coro_wg_add(wg, 1), 0);
    ASSERT_FAILS(coro_wg_wait(wg, CORO_FOREVER), EPERM); /* would wait, no task */
    ASSERT_FAILS(coro_wg_wait(wg, 0), EAGAIN);
    ck_assert_int_eq(coro_wg_done(wg), 0);
    ck_assert_int_eq(coro_wg_wait(wg, CORO_FOREVER), 0);
    teardown();
}
END_TEST

static void *
waits_on_wg(void *arg)
{
    (void)arg;
    EXPECT(coro_wg_wait(wg, CORO_FOREVER) == 0);
    return NULL;
}

static void *
tries_destroying_wg(void *arg)
{
    (void)arg;
    EXPECT_FAILS(coro_wg_destroy(wg), EBUSY);
    EXPECT(coro_wg_done(wg) == 0);
    return NULL;
}

START_TEST(test_wg_destroy_busy)
{
    ck_assert_int_eq(coro_wg_add(wg, 1), 0);
    spawn(waits_on_wg, NULL);
    spawn(tries_destroying_wg, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Blocked for good: EDEADLK                                               */

static void *
blocks_on_wg(void *arg)
{
    (void)arg;
    EXPECT(coro_wg_wait(wg, CORO_FOREVER) == -1); /* closed: never returns */
    return NULL;
}

static void *
blocks_on_cond(void *arg)
{
    (void)arg;
    EXPECT(coro_mutex_lock(mu, CORO_FOREVER) == 0);
    EXPECT(coro_cond_wait(cv, mu, CORO_FOREVER) == -1); /* never returns */
    return NULL;
}

/* Every task blocks for good on a wait group, a condition or a mutex:
 * EDEADLK, and coro_sched_destroy() takes them out of every queue. */
START_TEST(test_deadlock)
{
    ck_assert_int_eq(coro_wg_add(wg, 1), 0);
    spawn(blocks_on_wg, NULL);
    spawn(blocks_on_cond, NULL);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    ck_assert_int_eq(coro_wg_done(wg), 0);
    teardown(); /* the mutex is free, and no queue holds a closed task */
}
END_TEST

static Suite *
sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc;

    tc = tasklog_tcase(s, "mutex", setup);
    tcase_add_test(tc, test_mutex_outside);
    tcase_add_test(tc, test_mutex_exclusion_fifo);
    tcase_add_test(tc, test_mutex_no_barging);
    tcase_add_test(tc, test_mutex_errors);
    tcase_add_test(tc, test_mutex_timeout_leaves_queue);
    tcase_add_test(tc, test_mutex_handoff_with_deadline);
    tcase_add_test(tc, test_mutex_cancel);
    tcase_add_test(tc, test_other_thread);
    tcase_add_test(tc, test_create_destroy);

    tc = tasklog_tcase(s, "cond", setup);
    tcase_add_test(tc, test_cond_signal_broadcast);
    tcase_add_test(tc, test_cond_timeout_holds_mutex);
    tcase_add_test(tc, test_cond_cancel_holds_mutex);
    tcase_add_test(tc, test_cond_destroy_busy);
    tcase_add_test(tc, test_mutex_destroy_busy_under_cond_wait);
    tcase_add_test(tc, test_mutex_free_after_cond_waiter_closed);
    tcase_add_test(tc, test_mutex_held_by_ended_task);

    tc = tasklog_tcase(s, "wg", setup);
    tcase_add_test(tc, test_wg_hundred);
    tcase_add_test(tc, test_wg_errors);
    tcase_add_test(tc, test_wg_destroy_busy);
    tcase_add_test(tc, test_deadlock);
    return s;
}

TEST_MAIN(sync_suite)
