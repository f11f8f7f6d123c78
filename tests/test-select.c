/*
 * test-select: coro_select. The first ready operation in array order wins
 * and the others are left alone; a task waits on all of them and the first
 * partner or close completes one; the losing operations leave nothing
 * behind in their channels; timeouts, n == 0, every EINVAL/EPERM, and more
 * than four operations (their waiters are allocated), including a task
 * closed by coro_sched_destroy while it waits.
 *
 * Tasks record what they see (an event log and failed checks); the
 * assertions run on the test's own stack once coro_sched_run() is back.
 */
#include "testutil.h"
#include "tasklog.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* An err value coro_select() never sets: entries it did not choose keep it. */
#define UNTOUCHED 12345

static coro_sched_t *sched;
static coro_chan_t *chs[10];
static int vals[10];
static coro_sel_t sels[10];

static void
reset(void)
{
    tasklog_reset();
    sched = NULL;
    memset(chs, 0, sizeof chs);
    memset(vals, 0, sizeof vals);
    memset(sels, 0, sizeof sels);
}

/* n channels of capacity cap in chs[], and a scheduler. */
static void
setup(int n, size_t cap)
{
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    for (int i = 0; i < n; i++) {
        chs[i] = coro_chan_create(sizeof(int), cap);
        ck_assert_ptr_nonnull(chs[i]);
    }
}

/* Destroying each channel also shows that no waiter was left in it. */
static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(coro_chan_destroy(chs[i]), 0);
    ASSERT_TASKS_OK();
}

static void
spawn(coro_fn *fn, void *arg)
{
    ck_assert_int_eq(coro_spawn(sched, fn, arg, 0), 0);
}

/* sels[i] = op on chs[i] with vals[i]; err UNTOUCHED. */
static void
sel_set(int i, int op, int v)
{
    vals[i] = v;
    sels[i] = (coro_sel_t){ chs[i], op, &vals[i], UNTOUCHED };
}

static void
put(int i, int v)
{
    ck_assert_int_eq(coro_chan_send(chs[i], &v), 0);
}

/* The next element of chs[i], which must be there, without waiting. */
static int
take(int i)
{
    int v = -1;

    ck_assert_int_eq(coro_chan_recv_timeout(chs[i], &v, 0), 0);
    return v;
}

static void
assert_empty(int i)
{
    int v = -7;

    ASSERT_FAILS(coro_chan_recv_timeout(chs[i], &v, 0), EAGAIN);
    ck_assert_int_eq(v, -7);
}

/* ---------------------------------------------------------------------- */
/* Operations ready at once                                                */

START_TEST(test_first_ready_wins)
{
    setup(3, 1);
    put(0, 10);
    put(1, 11);
    put(2, 12);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_RECV, -1);
    /* Outside a task, with no limit: nothing has to wait. */
    ck_assert_int_eq(coro_select_first(sels, 3, CORO_FOREVER), 0);
    ck_assert_int_eq(vals[0], 10);
    ck_assert_int_eq(sels[0].err, 0);
    ck_assert_int_eq(vals[1], -1);
    ck_assert_int_eq(vals[2], -1);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(sels[2].err, UNTOUCHED);
    /* chs[0] is empty now: the next ready one in order wins. */
    sels[0].err = UNTOUCHED;
    ck_assert_int_eq(coro_select_first(sels, 3, 0), 1);
    ck_assert_int_eq(vals[1], 11);
    ck_assert_int_eq(sels[1].err, 0);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[2].err, UNTOUCHED);
    ck_assert_int_eq(vals[2], -1);
    ck_assert_int_eq(take(2), 12); /* untouched in its channel */
    teardown();
}
END_TEST

START_TEST(test_first_ready_wins_mixed)
{
    setup(3, 1);
    put(0, 1); /* chs[0] full: a send cannot complete */
    put(2, 3); /* chs[2] holds an element: a receive can */
    sel_set(0, CORO_SEND, 100);
    sel_set(1, CORO_SEND, 101);
    sel_set(2, CORO_RECV, -1);
    ck_assert_int_eq(coro_select_first(sels, 3, 0), 1);
    ck_assert_int_eq(sels[1].err, 0);
    ck_assert_int_eq(take(1), 101);
    ck_assert_int_eq(take(0), 1);
    ck_assert_int_eq(take(2), 3);
    ck_assert_int_eq(vals[2], -1);
    /* Now the send on chs[0] comes first. */
    sels[1].err = UNTOUCHED;
    put(2, 4);
    ck_assert_int_eq(coro_select_first(sels, 3, 0), 0);
    ck_assert_int_eq(take(0), 100);
    assert_empty(1);
    ck_assert_int_eq(take(2), 4);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(sels[2].err, UNTOUCHED);
    teardown();
}
END_TEST

/* A closed channel's operations are ready, with EPIPE in err, and that is
 * a success: select returns the index. */
START_TEST(test_closed_channel_case)
{
    setup(3, 1);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_RECV, -2);
    sel_set(2, CORO_SEND, 7);
    ck_assert_int_eq(coro_chan_close(chs[1]), 0);
    ck_assert_int_eq(coro_select_first(sels, 3, 0), 1);
    ck_assert_int_eq(sels[1].err, EPIPE);
    ck_assert_int_eq(vals[1], -2);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[2].err, UNTOUCHED);
    assert_empty(2); /* the send after it was not done */
    /* Again: a caller that keeps a closed entry gets it every time. */
    ck_assert_int_eq(coro_select_first(sels, 3, CORO_FOREVER), 1);
    /* A send on a closed channel, ahead of a ready receive. */
    put(0, 5);
    ck_assert_int_eq(coro_chan_close(chs[2]), 0);
    {
        coro_sel_t two[2] = {
            { chs[2], CORO_SEND, &vals[2], UNTOUCHED },
            { chs[0], CORO_RECV, &vals[0], UNTOUCHED },
        };

        ck_assert_int_eq(coro_select_first(two, 2, 0), 0);
        ck_assert_int_eq(two[0].err, EPIPE);
        ck_assert_int_eq(two[1].err, UNTOUCHED);
        ck_assert_int_eq(vals[0], -1);
    }
    ck_assert_int_eq(take(0), 5);
    teardown();
}
END_TEST

/* A closed channel still delivers its buffer first (err 0), then EPIPE. */
START_TEST(test_closed_channel_drains_first)
{
    setup(1, 2);
    put(0, 8);
    ck_assert_int_eq(coro_chan_close(chs[0]), 0);
    sel_set(0, CORO_RECV, -1);
    ck_assert_int_eq(coro_select(sels, 1, 0), 0);
    ck_assert_int_eq(sels[0].err, 0);
    ck_assert_int_eq(vals[0], 8);
    sels[0].err = UNTOUCHED;
    vals[0] = -1;
    ck_assert_int_eq(coro_select(sels, 1, 0), 0);
    ck_assert_int_eq(sels[0].err, EPIPE);
    ck_assert_int_eq(vals[0], -1);
    teardown();
}
END_TEST

/* A partner waiting in a task makes an operation ready, even outside. */
static void *
task_recv(void *arg)
{
    int i = (int)VI(arg), v = -1;

    ev("R%d", i);
    EXPECT(coro_chan_recv(chs[i], &v) == 0);
    ev("R%d=%d", i, v);
    return NULL;
}

static void *
task_send(void *arg)
{
    int i = (int)VI(arg), v = 50 + i;

    ev("S%d", i);
    EXPECT(coro_chan_send(chs[i], &v) == 0);
    ev("S%d-done", i);
    return NULL;
}

START_TEST(test_ready_with_waiting_partner)
{
    setup(2, 0);
    spawn(task_recv, IV(0));
    spawn(task_send, IV(1));
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    sel_set(0, CORO_SEND, 40);
    sel_set(1, CORO_RECV, -1);
    ck_assert_int_eq(coro_select_first(sels, 2, 0), 0);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(coro_select_first(&sels[1], 1, 0), 0);
    ck_assert_int_eq(vals[1], 51);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "R0 S1 R0=40 S1-done");
    teardown();
}
END_TEST

/* The same channel twice: the first entry wins. */
START_TEST(test_same_channel_twice_ready)
{
    setup(1, 2);
    put(0, 21);
    vals[1] = -1;
    sels[0] = (coro_sel_t){ chs[0], CORO_RECV, &vals[0], UNTOUCHED };
    sels[1] = (coro_sel_t){ chs[0], CORO_RECV, &vals[1], UNTOUCHED };
    ck_assert_int_eq(coro_select_first(sels, 2, 0), 0);
    ck_assert_int_eq(vals[0], 21);
    ck_assert_int_eq(vals[1], -1);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Waiting                                                                 */

struct result {
    int rc, err;
};

static struct result res;

/* Selects on sels[0 .. n-1] and records the result. */
static void *
selector(void *arg)
{
    int n = (int)VI(arg);

    ev("T:wait");
    errno = 0;
    res.rc = coro_select(sels, (size_t)n, CORO_FOREVER);
    res.err = errno;
    ev("T:%d", res.rc);
    return NULL;
}

static void *
yield_then_send(void *arg)
{
    int i = (int)VI(arg), v = 70 + i;

    coro_sched_yield();
    coro_sched_yield();
    ev("S:send");
    EXPECT(coro_chan_send(chs[i], &v) == 0);
    ev("S:sent");
    return NULL;
}

START_TEST(test_blocks_until_recv)
{
    res = (struct result){ 99, 0 };
    setup(3, 0);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(selector, IV(3));
    spawn(yield_then_send, IV(1));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:wait S:send S:sent T:1");
    ck_assert_int_eq(res.rc, 1);
    ck_assert_int_eq(vals[1], 71);
    ck_assert_int_eq(sels[1].err, 0);
    ck_assert_int_eq(vals[0], -1);
    ck_assert_int_eq(vals[2], -1);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[2].err, UNTOUCHED);
    teardown();
}
END_TEST

static void *
yield_then_recv(void *arg)
{
    int i = (int)VI(arg), v = -1;

    coro_sched_yield();
    ev("R:recv");
    EXPECT(coro_chan_recv(chs[i], &v) == 0);
    ev("R:%d", v);
    return NULL;
}

START_TEST(test_blocks_until_send)
{
    res = (struct result){ 99, 0 };
    setup(3, 0);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_SEND, 60 + i);
    spawn(selector, IV(3));
    spawn(yield_then_recv, IV(2));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:wait R:recv R:62 T:2");
    ck_assert_int_eq(res.rc, 2);
    ck_assert_int_eq(sels[2].err, 0);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    assert_empty(0);
    assert_empty(1);
    teardown();
}
END_TEST

/* A send and a receive case on the same rendezvous channel: a receiver
 * completes the send, a sender the receive. */
START_TEST(test_send_and_recv_same_channel)
{
    setup(1, 0);
    vals[1] = -1;
    sels[0] = (coro_sel_t){ chs[0], CORO_SEND, &vals[0], UNTOUCHED };
    sels[1] = (coro_sel_t){ chs[0], CORO_RECV, &vals[1], UNTOUCHED };
    vals[0] = 5;
    res = (struct result){ 99, 0 };
    spawn(selector, IV(2));
    spawn(yield_then_recv, IV(0));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:wait R:recv R:5 T:0");
    ck_assert_int_eq(res.rc, 0);
    ck_assert_int_eq(sels[0].err, 0);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(vals[1], -1);

    evlog[0] = '\0';
    sels[0].err = UNTOUCHED;
    res = (struct result){ 99, 0 };
    spawn(selector, IV(2));
    spawn(yield_then_send, IV(0));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:wait S:send S:sent T:1");
    ck_assert_int_eq(res.rc, 1);
    ck_assert_int_eq(vals[1], 70);
    ck_assert_int_eq(sels[1].err, 0);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    teardown();
}
END_TEST

/* A receive on one channel and a send on another. */
START_TEST(test_recv_and_send_cases)
{
    setup(2, 0);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 33);
    res = (struct result){ 99, 0 };
    spawn(selector, IV(2));
    spawn(yield_then_recv, IV(1));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(res.rc, 1);
    ck_assert_str_eq(evlog, "T:wait R:recv R:33 T:1");
    ck_assert_int_eq(vals[0], -1);
    teardown();
}
END_TEST

/* A close of one of the channels ends the wait: that index, EPIPE. */
static void *
yield_then_close(void *arg)
{
    coro_sched_yield();
    ev("C:close");
    EXPECT(coro_chan_close(chs[(int)VI(arg)]) == 0);
    return NULL;
}

START_TEST(test_close_ends_wait)
{
    setup(3, 1);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_RECV, -1);
    sel_set(2, CORO_RECV, -1);
    res = (struct result){ 99, 0 };
    spawn(selector, IV(3));
    spawn(yield_then_close, IV(2));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:wait C:close T:2");
    ck_assert_int_eq(res.rc, 2);
    ck_assert_int_eq(sels[2].err, EPIPE);
    ck_assert_int_eq(vals[2], -1);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The losing operations leave nothing behind                              */

/* Right after the select returns, the task destroys the other channels:
 * no EBUSY, so it waits in none of them any more. */
static void *
select_then_destroy_losers(void *arg)
{
    int n = (int)VI(arg), i;

    i = coro_select(sels, (size_t)n, CORO_FOREVER);
    ev("T:%d", i);
    for (int k = 0; k < n; k++) {
        if (k == i)
            continue;
        EXPECT(coro_chan_destroy(chs[k]) == 0);
        chs[k] = NULL;
    }
    return NULL;
}

START_TEST(test_losers_destroyed_at_once)
{
    setup(4, 0);
    for (int i = 0; i < 4; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(select_then_destroy_losers, IV(4));
    spawn(yield_then_send, IV(2));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S:send S:sent T:2");
    ck_assert_ptr_null(chs[0]);
    ck_assert_ptr_null(chs[1]);
    ck_assert_ptr_null(chs[3]);
    ck_assert_int_eq(vals[2], 72);
    teardown();
}
END_TEST

/* After the select, a send on a losing channel is not taken by it: on a
 * rendezvous channel nobody receives, on a buffered one the element stays
 * in the buffer; the select's elem memory is not written. */
START_TEST(test_losers_consume_nothing)
{
    int v = 1;

    setup(3, (size_t)_i);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_RECV, -1);
    res = (struct result){ 99, 0 };
    spawn(selector, IV(3));
    spawn(yield_then_send, IV(1));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(res.rc, 1);
    for (int i = 0; i < 3; i += 2) {
        v = 90 + i;
        if (_i == 0) {
            ASSERT_FAILS(coro_chan_send_timeout(chs[i], &v, 0), EAGAIN);
        } else {
            ck_assert_int_eq(coro_chan_send_timeout(chs[i], &v, 0), 0);
            ck_assert_int_eq(take(i), 90 + i);
        }
        ck_assert_int_eq(vals[i], -1);
    }
    teardown();
}
END_TEST

/* The same for send cases: the losing sends were not done, not even later. */
START_TEST(test_losing_sends_not_done)
{
    setup(3, 0);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_SEND, 80 + i);
    res = (struct result){ 99, 0 };
    spawn(selector, IV(3));
    spawn(yield_then_recv, IV(0));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(res.rc, 0);
    ck_assert_str_eq(evlog, "T:wait R:recv R:80 T:0");
    assert_empty(1);
    assert_empty(2);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Timeouts and n == 0                                                     */

START_TEST(test_timeout_zero_outside)
{
    setup(2, 0);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 3);
    ASSERT_FAILS(coro_select(sels, 2, 0), EAGAIN);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(vals[0], -1);
    teardown();
}
END_TEST

static void *
zero_timeout_task(void *arg)
{
    uint64_t before = coro_sched_switches(sched);

    EXPECT_FAILS(coro_select(sels, 2, 0), EAGAIN);
    EXPECT(coro_sched_switches(sched) == before);
    EXPECT_FAILS(coro_select(NULL, 0, 0), EAGAIN);
    ev("done");
    return NULL;
}

START_TEST(test_timeout_zero_in_task)
{
    setup(2, 0);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 3);
    spawn(zero_timeout_task, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    teardown();
}
END_TEST

struct timed {
    int n;
    int64_t timeout;
    int rc, err;
    int64_t elapsed;
};

static void *
timed_select(void *arg)
{
    struct timed *t = arg;
    int64_t t0 = coro_now();

    ev("T:start");
    errno = 0;
    t->rc = coro_select(t->n ? sels : NULL, (size_t)t->n, t->timeout);
    t->err = errno;
    t->elapsed = coro_now() - t0;
    ev("T:end");
    return NULL;
}

static void *
log_other(void *arg)
{
    ev("other");
    return NULL;
}

START_TEST(test_timeout_expires)
{
    struct timed t = { .n = 2, .timeout = CORO_MSEC(20), .rc = 99 };

    setup(2, 0);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 3);
    spawn(timed_select, &t);
    spawn(log_other, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:start other T:end");
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_ge(t.elapsed, CORO_MSEC(20));
    ck_assert_int_lt(t.elapsed, CORO_MSEC(5000));
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    ck_assert_int_eq(vals[0], -1);
    assert_empty(1);
    teardown();
}
END_TEST

/* n == 0 with a timeout: the task sleeps, others run, then ETIMEDOUT. */
START_TEST(test_n0_sleeps)
{
    struct timed t = { .n = 0, .timeout = CORO_MSEC(30), .rc = 99 };

    setup(0, 0);
    spawn(timed_select, &t);
    spawn(log_other, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "T:start other T:end");
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_ge(t.elapsed, CORO_MSEC(30));
    ck_assert_int_lt(t.elapsed, CORO_MSEC(5000));
    teardown();
}
END_TEST

static void *
n0_errors(void *arg)
{
    coro_sel_t one = { 0 };

    EXPECT_FAILS(coro_select(NULL, 0, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_select(&one, 0, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_select(NULL, 0, -5), EINVAL);
    EXPECT_FAILS(coro_select(NULL, 0, 0), EAGAIN);
    ev("done");
    return NULL;
}

START_TEST(test_n0_errors)
{
    coro_sel_t one = { 0 };

    ASSERT_FAILS(coro_select(NULL, 0, CORO_FOREVER), EINVAL);
    ASSERT_FAILS(coro_select(&one, 0, CORO_FOREVER), EINVAL);
    ASSERT_FAILS(coro_select(NULL, 0, INT64_MIN), EINVAL);
    ASSERT_FAILS(coro_select(NULL, 0, 0), EAGAIN);
    ASSERT_FAILS(coro_select(&one, 0, 0), EAGAIN);
    /* Sleeping is for tasks. */
    ASSERT_FAILS(coro_select(NULL, 0, CORO_MSEC(10)), EPERM);
    setup(0, 0);
    spawn(n0_errors, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "done");
    teardown();
}
END_TEST

/* A select that completes long before its 10 s timeout leaves no timer:
 * the run ends when the tasks do. */
static void *
sleep_then_send(void *arg)
{
    int i = (int)VI(arg), v = 40 + i;

    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    EXPECT(coro_chan_send(chs[i], &v) == 0);
    return NULL;
}

START_TEST(test_completes_before_timeout)
{
    struct timed t = { .n = 3, .timeout = CORO_MSEC(10000), .rc = 99 };
    int64_t t0, elapsed;

    setup(3, 0);
    for (int i = 0; i < 3; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(timed_select, &t);
    spawn(sleep_then_send, IV(1));
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(sched), 0);
    elapsed = coro_now() - t0;
    ck_assert_int_eq(t.rc, 1);
    ck_assert_int_eq(vals[1], 41);
    ck_assert_int_ge(elapsed, CORO_MSEC(20));
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

START_TEST(test_einval)
{
    int v = 1;

    setup(1, 1);
    ASSERT_FAILS(coro_select(NULL, 1, 0), EINVAL);
    ASSERT_FAILS(coro_select(NULL, 3, CORO_FOREVER), EINVAL);
    /* A NULL channel is never ready: alone, nothing could end the wait. */
    sels[0] = (coro_sel_t){ NULL, CORO_RECV, &v, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, CORO_FOREVER), EINVAL);
    ASSERT_FAILS(coro_select(sels, 1, 0), EAGAIN);
    sels[0] = (coro_sel_t){ NULL, 77, NULL, UNTOUCHED }; /* its other fields do not matter */
    ASSERT_FAILS(coro_select(sels, 1, 0), EAGAIN);
    sels[0] = (coro_sel_t){ chs[0], 0, &v, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, 0), EINVAL);
    sels[0] = (coro_sel_t){ chs[0], 3, &v, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, 0), EINVAL);
    sels[0] = (coro_sel_t){ chs[0], -1, &v, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, 0), EINVAL);
    sels[0] = (coro_sel_t){ chs[0], 4, &v, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, 0), EINVAL);
    sels[0] = (coro_sel_t){ chs[0], CORO_SEND, NULL, UNTOUCHED };
    ASSERT_FAILS(coro_select(sels, 1, 0), EINVAL);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    assert_empty(0); /* none of them sent anything */
    /* A receive into NULL is valid: it discards. */
    put(0, 9);
    sels[0] = (coro_sel_t){ chs[0], CORO_RECV, NULL, UNTOUCHED };
    ck_assert_int_eq(coro_select(sels, 1, 0), 0);
    ck_assert_int_eq(sels[0].err, 0);
    assert_empty(0);
    teardown();
}
END_TEST

/* Every entry is checked before anything is done: a ready operation ahead
 * of an invalid entry is not done. */
START_TEST(test_invalid_entry_does_nothing)
{
    setup(2, 1);
    put(0, 4);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 5);
    sels[1].elem = NULL;
    ASSERT_FAILS(coro_select(sels, 2, 0), EINVAL);
    ASSERT_FAILS(coro_select(sels, 2, CORO_FOREVER), EINVAL);
    ck_assert_int_eq(vals[0], -1);
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(take(0), 4);
    /* A NULL channel is skipped, not invalid. */
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_RECV, -1);
    sels[1].chan = NULL;
    put(0, 6);
    ck_assert_int_eq(coro_select(sels, 2, 0), 0);
    ck_assert_int_eq(vals[0], 6);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    teardown();
}
END_TEST

START_TEST(test_n_too_large)
{
#if SIZE_MAX > INT_MAX
    setup(1, 1);
    sel_set(0, CORO_RECV, -1);
    ASSERT_FAILS(coro_select(sels, (size_t)INT_MAX + 1, 0), EINVAL);
    ASSERT_FAILS(coro_select(sels, SIZE_MAX, CORO_FOREVER), EINVAL);
    teardown();
#endif
}
END_TEST

/* An entry whose channel belongs to another thread: EPERM, and nothing is
 * done, not even the ready operation ahead of it. */
struct foreign {
    pthread_barrier_t bar;
    coro_chan_t *c;
    int destroy_rc;
};

static void *
foreign_thread(void *arg)
{
    struct foreign *f = arg;
    int v = 1;

    f->c = coro_chan_create(sizeof(int), 1);
    if (f->c != NULL)
        coro_chan_send(f->c, &v); /* ready for a receive */
    pthread_barrier_wait(&f->bar);
    pthread_barrier_wait(&f->bar); /* the main thread tried */
    f->destroy_rc = coro_chan_destroy(f->c);
    return NULL;
}

START_TEST(test_other_thread)
{
    struct foreign f = { .destroy_rc = 99 };
    pthread_t th;
    int rc1, err1, rc2, err2;

    setup(1, 1);
    put(0, 3);
    ck_assert_int_eq(pthread_barrier_init(&f.bar, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    pthread_barrier_wait(&f.bar);
    sel_set(0, CORO_RECV, -1);
    vals[1] = -1;
    sels[1] = (coro_sel_t){ f.c, CORO_RECV, &vals[1], UNTOUCHED };
    errno = 0;
    rc1 = coro_select(sels, 2, 0);
    err1 = errno;
    errno = 0;
    rc2 = coro_select(&sels[1], 1, CORO_FOREVER);
    err2 = errno;
    pthread_barrier_wait(&f.bar);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&f.bar);
    ck_assert_ptr_nonnull(f.c);
    ck_assert_int_eq(rc1, -1);
    ck_assert_int_eq(err1, EPERM);
    ck_assert_int_eq(rc2, -1);
    ck_assert_int_eq(err2, EPERM);
    ck_assert_int_eq(vals[0], -1);
    ck_assert_int_eq(vals[1], -1);
    ck_assert_int_eq(take(0), 3);
    ck_assert_int_eq(f.destroy_rc, 0);
    teardown();
}
END_TEST

/* Waiting is only for tasks: EPERM outside one and in a generator a task
 * resumed, ECANCELED in a deferred handler. */
static void *
gen_selects(void *arg)
{
    EXPECT(coro_sched_self() == NULL);
    EXPECT_FAILS(coro_select(sels, 2, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_select(sels, 2, CORO_MSEC(10)), EPERM);
    EXPECT_FAILS(coro_select(NULL, 0, CORO_MSEC(10)), EPERM);
    EXPECT_FAILS(coro_select(sels, 2, 0), EAGAIN);
    return NULL;
}

static void
handler_selects(void *arg)
{
    EXPECT_FAILS(coro_select(sels, 2, CORO_FOREVER), ECANCELED);
    EXPECT_FAILS(coro_select(sels, 2, CORO_MSEC(10)), ECANCELED);
    EXPECT_FAILS(coro_select(NULL, 0, CORO_MSEC(10)), ECANCELED);
    EXPECT_FAILS(coro_select(sels, 2, 0), EAGAIN);
    ev("handler");
}

static void *
task_with_generator(void *arg)
{
    coro_t *g = coro_create(gen_selects, NULL, 0);

    EXPECT(coro_defer(handler_selects, NULL) == 0);
    EXPECT(g != NULL);
    if (g != NULL) {
        EXPECT(coro_resume(g, NULL, NULL) == 1);
        EXPECT(coro_destroy(g) == 0);
    }
    ev("task");
    return NULL;
}

START_TEST(test_wait_not_allowed)
{
    setup(2, 0);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_SEND, 1);
    ASSERT_FAILS(coro_select(sels, 2, CORO_FOREVER), EPERM);
    ASSERT_FAILS(coro_select(sels, 2, CORO_MSEC(10)), EPERM);
    spawn(task_with_generator, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "task handler");
    ck_assert_int_eq(sels[0].err, UNTOUCHED);
    ck_assert_int_eq(sels[1].err, UNTOUCHED);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* More than four operations                                               */

START_TEST(test_many_ready)
{
    setup(10, 1);
    for (int i = 0; i < 10; i++)
        sel_set(i, CORO_RECV, -1);
    put(6, 66);
    put(9, 99);
    ck_assert_int_eq(coro_select_first(sels, 10, 0), 6);
    ck_assert_int_eq(vals[6], 66);
    ck_assert_int_eq(sels[6].err, 0);
    for (int i = 0; i < 10; i++) {
        if (i != 6) {
            ck_assert_int_eq(vals[i], -1);
            ck_assert_int_eq(sels[i].err, UNTOUCHED);
        }
    }
    ck_assert_int_eq(take(9), 99);
    teardown();
}
END_TEST

/* Ten channels, the seventh fires; the nine others can be destroyed at
 * once by the task. */
START_TEST(test_many_blocking)
{
    setup(10, (size_t)_i);
    for (int i = 0; i < 10; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(select_then_destroy_losers, IV(10));
    spawn(yield_then_send, IV(6));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S:send S:sent T:6");
    ck_assert_int_eq(vals[6], 76);
    ck_assert_int_eq(sels[6].err, 0);
    for (int i = 0; i < 10; i++) {
        if (i != 6) {
            ck_assert_ptr_null(chs[i]);
            ck_assert_int_eq(vals[i], -1);
            ck_assert_int_eq(sels[i].err, UNTOUCHED);
        }
    }
    teardown();
}
END_TEST

/* Mixed sends and receives over ten channels, woken by a close. */
START_TEST(test_many_mixed_closed)
{
    res = (struct result){ 99, 0 };
    setup(10, 0);
    for (int i = 0; i < 10; i++)
        sel_set(i, i % 2 ? CORO_SEND : CORO_RECV, i % 2 ? i : -1);
    spawn(selector, IV(10));
    spawn(yield_then_close, IV(7));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(res.rc, 7);
    ck_assert_int_eq(sels[7].err, EPIPE);
    for (int i = 0; i < 10; i++)
        if (i != 7)
            ck_assert_int_eq(sels[i].err, UNTOUCHED);
    teardown();
}
END_TEST

START_TEST(test_many_timeout)
{
    struct timed t = { .n = 10, .timeout = CORO_MSEC(20), .rc = 99 };

    setup(10, 0);
    for (int i = 0; i < 10; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(timed_select, &t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_ge(t.elapsed, CORO_MSEC(20));
    teardown();
}
END_TEST

/* A malloc that keeps track of the blocks allocated while tracking is on
 * and not freed since, so that a leak shows natively too, not only under
 * valgrind; it can also be told to fail once (ENOMEM). It interposes the C
 * library's malloc and free for the whole program (libcoro included) and
 * forwards to glibc's. valgrind replaces both, sanitizers must see every
 * block, other C libraries lack __libc_malloc: then it stays out of the
 * way, and malloc_interposed() says so. */
#if defined(__GLIBC__) && !TEST_SANITIZED
#define TRACK_MALLOC 1
#else
#define TRACK_MALLOC 0
#endif

#define TRACKED_MAX 256

static int tracking, fail_next;
static int ntracked, tracked_total;

#if TRACK_MALLOC
static void *tracked[TRACKED_MAX];

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);

/* Weak: in a static link, the C library's own malloc wins (and the tests
 * see that failures cannot be injected). */
__attribute__((weak)) void *
malloc(size_t size)
{
    void *p;

    if (__atomic_exchange_n(&fail_next, 0, __ATOMIC_SEQ_CST)) {
        errno = ENOMEM;
        return NULL;
    }
    p = __libc_malloc(size);

    if (p != NULL && __atomic_load_n(&tracking, __ATOMIC_SEQ_CST)) {
        tracked_total++;
        if (ntracked < TRACKED_MAX)
            tracked[ntracked++] = p;
    }
    return p;
}

__attribute__((weak)) void
free(void *p)
{
    if (p != NULL && __atomic_load_n(&tracking, __ATOMIC_SEQ_CST)) {
        for (int i = 0; i < ntracked; i++) {
            if (tracked[i] == p) {
                tracked[i] = tracked[--ntracked];
                break;
            }
        }
    }
    __libc_free(p);
}
#endif

static void
track(int on)
{
    if (on) {
        ntracked = tracked_total = 0;
    }
    __atomic_store_n(&tracking, on, __ATOMIC_SEQ_CST);
}

/* Whether the tracking malloc is the one in use here. */
static int
malloc_interposed(void)
{
    void *(*volatile m)(size_t) = malloc;
    void *p;
    int seen;

    track(1);
    p = m(16);
    seen = ntracked;
    free(p);
    track(0);
    return seen == 1 && ntracked == 0;
}

/* A task blocked in a select of ten when coro_sched_destroy() closes it:
 * its handler runs, it leaves every queue, its waiters are freed. */
static void
count_handler(void *arg)
{
    (*(int *)arg)++;
}

static void *
select_with_handler(void *arg)
{
    EXPECT(coro_defer(count_handler, arg) == 0);
    coro_select(sels, 10, CORO_FOREVER);
    ev("after-select");
    return NULL;
}

START_TEST(test_many_closed_by_destroy)
{
    int handler_runs = 0, run_rc, run_err, destroy_rc, tracks = malloc_interposed();

    setup(10, 0);
    for (int i = 0; i < 10; i++)
        sel_set(i, i % 3 ? CORO_RECV : CORO_SEND, i);
    spawn(select_with_handler, &handler_runs);
    track(1);
    run_rc = coro_sched_run(sched);
    run_err = errno;
    destroy_rc = coro_sched_destroy(sched);
    track(0);
    sched = NULL;
    ck_assert_int_eq(run_rc, -1);
    ck_assert_int_eq(run_err, EDEADLK);
    ck_assert_int_eq(destroy_rc, 0);
    ck_assert_int_eq(handler_runs, 1);
    ck_assert_str_eq(evlog, "");
    if (tracks) {
        ck_assert_int_ge(tracked_total, 1); /* the waiters, at least */
        ck_assert_msg(ntracked == 0, "%d blocks allocated during the run were not freed",
                      ntracked);
    }
    teardown(); /* each channel can be destroyed: no waiter left */
}
END_TEST

/* The same, but the task was woken (a send outside the run completed its
 * select) and is closed before it could run again and free its waiters
 * itself. coro_select(3): the array is "freed when it returns"; it never
 * returns here, so coro_sched_destroy() has to. */
START_TEST(test_many_woken_then_destroyed)
{
    int handler_runs = 0, run_rc, run_err, send_rc, destroy_rc, tracks = malloc_interposed();
    int v = 77;

    setup(10, 0);
    for (int i = 0; i < 10; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(select_with_handler, &handler_runs);
    track(1);
    run_rc = coro_sched_run(sched);
    run_err = errno;
    send_rc = coro_chan_send(chs[6], &v);
    destroy_rc = coro_sched_destroy(sched);
    track(0);
    sched = NULL;
    ck_assert_int_eq(run_rc, -1);
    ck_assert_int_eq(run_err, EDEADLK);
    ck_assert_int_eq(send_rc, 0);
    ck_assert_int_eq(vals[6], 77);
    ck_assert_int_eq(destroy_rc, 0);
    ck_assert_int_eq(handler_runs, 1);
    ck_assert_str_eq(evlog, "");
    if (tracks) {
        ck_assert_int_ge(tracked_total, 1);
        ck_assert_msg(ntracked == 0, "%d blocks allocated during the run were not freed "
                      "(the select's waiters)", ntracked);
    }
    teardown();
}
END_TEST

/* Five operations have to wait and their waiters cannot be allocated:
 * ENOMEM, and nothing was left in any queue. */
static void *
select_enomem(void *arg)
{
    EXPECT(coro_sched_switches(sched) == 1);
    __atomic_store_n(&fail_next, 1, __ATOMIC_SEQ_CST);
    EXPECT_FAILS(coro_select(sels, 5, CORO_FOREVER), ENOMEM);
    __atomic_store_n(&fail_next, 0, __ATOMIC_SEQ_CST);
    EXPECT(coro_sched_switches(sched) == 1); /* it did not wait */
    for (int i = 0; i < 5; i++) {
        EXPECT(coro_chan_destroy(chs[i]) == 0);
        chs[i] = NULL;
    }
    ev("done");
    return NULL;
}

START_TEST(test_many_enomem)
{
    if (!malloc_interposed()) {
        fputs("test-select: malloc is not interposed here (valgrind or a sanitizer): "
              "ENOMEM case skipped\n", stderr);
        return;
    }
    setup(5, 0);
    for (int i = 0; i < 5; i++)
        sel_set(i, CORO_RECV, -1);
    spawn(select_enomem, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "done");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(sels[i].err, UNTOUCHED);
    teardown();
}
END_TEST

/* Many tasks selecting at once over shared channels: every element sent
 * is received exactly once. */
#define MS_CHANS 6
#define MS_PRODUCERS 30
#define MS_CONSUMERS 5
#define MS_PER_PRODUCER 20

static long ms_sum;
static int ms_count, ms_closed_seen;

static void *
ms_producer(void *arg)
{
    int id = (int)VI(arg);

    for (int k = 0; k < MS_PER_PRODUCER; k++) {
        int v = id * 100 + k;

        EXPECT(coro_chan_send(chs[(id + k) % MS_CHANS], &v) == 0);
        if (k % 4 == 0)
            coro_sched_yield();
    }
    return NULL;
}

static void *
ms_consumer(void *arg)
{
    int v[MS_CHANS];
    coro_sel_t sel[MS_CHANS];
    int n = MS_CHANS;

    for (int i = 0; i < MS_CHANS; i++)
        sel[i] = (coro_sel_t){ chs[i], CORO_RECV, &v[i], UNTOUCHED };
    while (n > 0) {
        int i = coro_select(sel, (size_t)n, CORO_FOREVER);

        EXPECT(i >= 0 && i < n);
        if (i < 0)
            break;
        if (sel[i].err == EPIPE) {
            ms_closed_seen++;
            sel[i] = sel[--n];
            continue;
        }
        EXPECT(sel[i].err == 0);
        ms_sum += *(int *)sel[i].elem;
        ms_count++;
    }
    return NULL;
}

static void *
ms_closer(void *arg)
{
    /* Runs after every producer has finished: they were spawned first and
     * this task yields until they are gone. */
    while (ms_count < MS_PRODUCERS * MS_PER_PRODUCER)
        coro_sched_yield();
    for (int i = 0; i < MS_CHANS; i++)
        EXPECT(coro_chan_close(chs[i]) == 0);
    return NULL;
}

START_TEST(test_many_tasks_selecting)
{
    long want = 0;

    ms_sum = 0;
    ms_count = ms_closed_seen = 0;
    setup(MS_CHANS, 0);
    for (int i = 0; i < MS_CHANS; i += 2) {
        ck_assert_int_eq(coro_chan_destroy(chs[i]), 0);
        chs[i] = coro_chan_create(sizeof(int), 2); /* half of them buffered */
        ck_assert_ptr_nonnull(chs[i]);
    }
    for (int c = 0; c < MS_CONSUMERS; c++)
        spawn(ms_consumer, NULL);
    for (int p = 0; p < MS_PRODUCERS; p++)
        spawn(ms_producer, IV(p));
    spawn(ms_closer, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    for (int p = 0; p < MS_PRODUCERS; p++)
        for (int k = 0; k < MS_PER_PRODUCER; k++)
            want += p * 100 + k;
    ck_assert_int_eq(ms_count, MS_PRODUCERS * MS_PER_PRODUCER);
    ck_assert_int_eq(ms_sum, want);
    ck_assert_int_eq(ms_closed_seen, MS_CONSUMERS * MS_CHANS);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */

/* ---------------------------------------------------------------------- */
/* Fairness: among the ready entries, a uniform choice                     */

/* k channels always ready to receive from (each holds one element, put
 * back after every win): over many selects each one wins about n / k. */
static void
check_uniform(int k, int n)
{
    int wins[10] = {0};

    setup(k, 1);
    for (int i = 0; i < k; i++) {
        put(i, i);
        sel_set(i, CORO_RECV, -1);
    }
    for (int round = 0; round < n; round++) {
        int c = coro_select(sels, (size_t)k, 0);

        ck_assert_int_ge(c, 0);
        ck_assert_int_lt(c, k);
        ck_assert_int_eq(vals[c], c);
        wins[c]++;
        put(c, c);
    }
    /* Each count is binomial (n, 1/k): +-20% of n / k is over 10 standard
     * deviations at these sizes, so this fails only for a biased choice
     * (the first-ready rule gives one entry all of them). */
    for (int i = 0; i < k; i++) {
        ck_assert_int_gt(wins[i], n / k * 8 / 10);
        ck_assert_int_lt(wins[i], n / k * 12 / 10);
    }
    for (int i = 0; i < k; i++)
        (void)take(i);
    teardown();
}

START_TEST(test_uniform_two)
{
    check_uniform(2, 10000);
}
END_TEST

START_TEST(test_uniform_four)
{
    check_uniform(4, 20000);
}
END_TEST

/* Only the ready ones take part: one not ready among ready ones never wins. */
START_TEST(test_uniform_ready_only)
{
    int wins[3] = {0};

    setup(3, 1);
    put(0, 0);
    put(2, 2);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_RECV, -1); /* chs[1] stays empty */
    sel_set(2, CORO_RECV, -1);
    for (int round = 0; round < 4000; round++) {
        int c = coro_select(sels, 3, 0);

        ck_assert(c == 0 || c == 2);
        wins[c]++;
        put(c, c);
    }
    ck_assert_int_eq(wins[1], 0);
    ck_assert_int_gt(wins[0], 1600);
    ck_assert_int_gt(wins[2], 1600);
    (void)take(0);
    (void)take(2);
    teardown();
}
END_TEST

/* More ready entries than coro_select() lists on its stack (32): still
 * uniform among them, NULL entries still skipped, and coro_select_first()
 * still takes the first. All receive from one channel holding one element,
 * so that every live entry is ready. */
START_TEST(test_uniform_many_ready)
{
    enum { N = 48, HOLES = 4, ROUNDS = 44000 };
    coro_sel_t many[N];
    int got[N], wins[N] = {0};
    coro_chan_t *ch;
    int v = 7;

    ch = coro_chan_create(sizeof(int), 1);
    ck_assert_ptr_nonnull(ch);
    for (int i = 0; i < N; i++)
        many[i] = (coro_sel_t){ i < HOLES ? NULL : ch, CORO_RECV, &got[i], UNTOUCHED };
    for (int round = 0; round < ROUNDS; round++) {
        int c;

        ck_assert_int_eq(coro_chan_send(ch, &v), 0);
        c = coro_select(many, N, 0);
        ck_assert_int_ge(c, HOLES);
        ck_assert_int_lt(c, N);
        ck_assert_int_eq(got[c], 7);
        wins[c]++;
    }
    /* 1,000 expected each: +-20% is over 6 standard deviations. */
    for (int i = HOLES; i < N; i++) {
        ck_assert_int_gt(wins[i], ROUNDS / (N - HOLES) * 8 / 10);
        ck_assert_int_lt(wins[i], ROUNDS / (N - HOLES) * 12 / 10);
    }
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(coro_select_first(many, N, 0), HOLES);
    ck_assert_int_eq(coro_chan_destroy(ch), 0);
}
END_TEST

/* coro_select_first(): the first ready entry, always. */
START_TEST(test_first_always_first)
{
    setup(2, 1);
    put(0, 0);
    put(1, 1);
    sel_set(0, CORO_RECV, -1);
    sel_set(1, CORO_RECV, -1);
    for (int round = 0; round < 1000; round++) {
        ck_assert_int_eq(coro_select_first(sels, 2, 0), 0);
        put(0, 0);
    }
    (void)take(0);
    (void)take(1);
    teardown();
}
END_TEST

/* A NULL channel switches an entry off, in a waiting select too: only the
 * live entry can end the wait, and entries of NULL alone with a timeout
 * sleep until it. */
static void *
select_with_holes(void *arg)
{
    int rc;

    (void)arg;
    sels[0] = (coro_sel_t){ NULL, CORO_RECV, NULL, UNTOUCHED };
    sels[2] = (coro_sel_t){ NULL, CORO_SEND, NULL, UNTOUCHED };
    rc = coro_select(sels, 3, CORO_FOREVER);
    EXPECT(rc == 1);
    EXPECT(vals[1] == 33);
    EXPECT(sels[0].err == UNTOUCHED && sels[2].err == UNTOUCHED);
    EXPECT_FAILS(coro_select(sels, 1, CORO_MSEC(5)), ETIMEDOUT);
    EXPECT_FAILS(coro_select_first(sels, 1, CORO_FOREVER), EINVAL);
    return NULL;
}

static void *
send_33(void *arg)
{
    int v = 33;

    (void)arg;
    EXPECT(coro_chan_send(chs[1], &v) == 0);
    return NULL;
}

START_TEST(test_null_entries_skipped)
{
    setup(2, 0);
    sel_set(1, CORO_RECV, -1);
    spawn(select_with_holes, NULL);
    spawn(send_33, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    teardown();
}
END_TEST

/* coro_select_first() checks its entries as coro_select() does. */
START_TEST(test_first_errors)
{
    setup(1, 1);
    ASSERT_FAILS(coro_select_first(NULL, 1, 0), EINVAL);
    ASSERT_FAILS(coro_select_first(NULL, 0, CORO_FOREVER), EINVAL);
    ASSERT_FAILS(coro_select_first(NULL, 0, 0), EAGAIN);
    sels[0] = (coro_sel_t){ chs[0], 3, &vals[0], UNTOUCHED };
    ASSERT_FAILS(coro_select_first(sels, 1, 0), EINVAL);
    sel_set(0, CORO_RECV, -1);
    ASSERT_FAILS(coro_select_first(sels, 1, 0), EAGAIN);
    ASSERT_FAILS(coro_select_first(sels, 1, CORO_MSEC(10)), EPERM);
    ASSERT_FAILS(coro_select_first(sels, (size_t)INT_MAX + 1, 0), EINVAL);
    teardown();
}
END_TEST

static Suite *
select_suite(void)
{
    Suite *s = suite_create("select");
    TCase *tc;

    tc = tasklog_tcase(s, "ready", reset);
    tcase_add_test(tc, test_first_ready_wins);
    tcase_add_test(tc, test_first_ready_wins_mixed);
    tcase_add_test(tc, test_closed_channel_case);
    tcase_add_test(tc, test_closed_channel_drains_first);
    tcase_add_test(tc, test_ready_with_waiting_partner);
    tcase_add_test(tc, test_same_channel_twice_ready);

    tc = tasklog_tcase(s, "waiting", reset);
    tcase_add_test(tc, test_blocks_until_recv);
    tcase_add_test(tc, test_blocks_until_send);
    tcase_add_test(tc, test_send_and_recv_same_channel);
    tcase_add_test(tc, test_recv_and_send_cases);
    tcase_add_test(tc, test_close_ends_wait);

    tc = tasklog_tcase(s, "losers", reset);
    tcase_add_test(tc, test_losers_destroyed_at_once);
    tcase_add_loop_test(tc, test_losers_consume_nothing, 0, 2); /* capacities 0, 1 */
    tcase_add_test(tc, test_losing_sends_not_done);

    tc = tasklog_tcase(s, "timeout", reset);
    tcase_add_test(tc, test_timeout_zero_outside);
    tcase_add_test(tc, test_timeout_zero_in_task);
    tcase_add_test(tc, test_timeout_expires);
    tcase_add_test(tc, test_n0_sleeps);
    tcase_add_test(tc, test_n0_errors);
    tcase_add_test(tc, test_completes_before_timeout);

    tc = tasklog_tcase(s, "errors", reset);
    tcase_add_test(tc, test_einval);
    tcase_add_test(tc, test_invalid_entry_does_nothing);
    tcase_add_test(tc, test_n_too_large);
    tcase_add_test(tc, test_other_thread);
    tcase_add_test(tc, test_wait_not_allowed);

    tc = tasklog_tcase(s, "many", reset);
    tcase_add_test(tc, test_many_ready);
    tcase_add_loop_test(tc, test_many_blocking, 0, 2); /* capacities 0, 1 */
    tcase_add_test(tc, test_many_mixed_closed);
    tcase_add_test(tc, test_many_timeout);
    tcase_add_test(tc, test_many_closed_by_destroy);
    tcase_add_test(tc, test_many_woken_then_destroyed);
    tcase_add_test(tc, test_many_enomem);
    tcase_add_test(tc, test_many_tasks_selecting);

    tc = tasklog_tcase(s, "fair", reset);
    tcase_add_test(tc, test_uniform_two);
    tcase_add_test(tc, test_uniform_four);
    tcase_add_test(tc, test_uniform_ready_only);
    tcase_add_test(tc, test_uniform_many_ready);
    tcase_add_test(tc, test_first_always_first);
    tcase_add_test(tc, test_null_entries_skipped);
    tcase_add_test(tc, test_first_errors);

    return s;
}

TEST_MAIN(select_suite)
