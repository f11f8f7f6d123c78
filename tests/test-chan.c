/*
 * test-chan: channels. Rendezvous and buffered channels, FIFO order of the
 * elements and of the blocked senders and receivers, the hand-over rule
 * (whoever finds a partner waiting completes both operations without giving
 * way; the partner goes to the back of the ready queue at that moment),
 * copying of elements of any size, close and destroy, what works outside a
 * task, timeouts, and many producer/consumer pairs.
 *
 * Tasks record what they see (an event log and failed checks); the
 * assertions run on the test's own stack once coro_sched_run() is back.
 */
#include "testutil.h"
#include "tasklog.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *
errname(int e)
{
    switch (e) {
    case 0: return "0";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPERM: return "EPERM";
    default: return "other";
    }
}

/* The channel and scheduler of the running test. */
static coro_chan_t *ch;
static coro_sched_t *sched;

static void
setup(coro_chan_t *c)
{
    ch = c;
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(ch);
    ck_assert_ptr_nonnull(sched);
}

static void
spawn(coro_fn *fn, void *arg)
{
    ck_assert_int_eq(coro_spawn(sched, fn, arg, 0), 0);
}

static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ck_assert_int_eq(coro_chan_destroy(ch), 0);
    ASSERT_TASKS_OK();
}

/* ---------------------------------------------------------------------- */
/* Rendezvous                                                              */

/* The sender comes first: its send returns only once the receiver, which
 * yields a few times first, has taken the element. */
static void *
rv_sender(void *arg)
{
    int v = 5;

    ev("S0");
    EXPECT(coro_chan_send(ch, &v) == 0);
    ev("S1");
    return NULL;
}

static void *
rv_late_receiver(void *arg)
{
    int v = 0;

    for (int i = 0; i < 3; i++) {
        ev("Ry");
        coro_sched_yield();
    }
    EXPECT(coro_chan_recv(ch, &v) == 0);
    ev("R=%d", v);
    return NULL;
}

START_TEST(test_rendezvous_sender_first)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(rv_sender, NULL);
    spawn(rv_late_receiver, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S0 Ry Ry Ry R=5 S1");
    teardown();
}
END_TEST

/* The receiver comes first: the send completes at once, and the sender
 * goes on before the receiver runs again. */
static void *
rv_receiver(void *arg)
{
    int v = 0;

    ev("R0");
    EXPECT(coro_chan_recv(ch, &v) == 0);
    ev("R=%d", v);
    return NULL;
}

static void *
rv_sender_counts(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int v = 6;

    ev("S0");
    EXPECT(coro_chan_send(ch, &v) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("S1");
    return NULL;
}

START_TEST(test_rendezvous_receiver_first)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(rv_receiver, NULL);
    spawn(rv_sender_counts, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "R0 S0 S1 R=6");
    teardown();
}
END_TEST

/* Many elements, the receiver yielding now and then: every send returns
 * only once its element is in the receiver's memory (rv_slot), and the
 * receiver sees 1, 2, 3, ... */
#define RV_N 200

static int rv_slot, rv_received;

static void *
rv_many_sender(void *arg)
{
    for (int i = 1; i <= RV_N; i++) {
        EXPECT(coro_chan_send(ch, &i) == 0);
        if (rv_slot != i)
            bad("send %d returned, the receiver has %d", i, rv_slot);
        if (i % 5 == 0)
            coro_sched_yield();
    }
    return NULL;
}

static void *
rv_many_receiver(void *arg)
{
    for (int i = 1; i <= RV_N; i++) {
        EXPECT(coro_chan_recv(ch, &rv_slot) == 0);
        if (rv_slot != i)
            bad("received %d, expected %d", rv_slot, i);
        rv_received++;
        if (i % 3 == 0)
            coro_sched_yield();
    }
    return NULL;
}

START_TEST(test_rendezvous_many)
{
    rv_slot = rv_received = 0;
    setup(coro_chan_create(sizeof(int), 0));
    spawn(rv_many_sender, NULL);
    spawn(rv_many_receiver, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(rv_received, RV_N);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Buffered                                                                */

/* Capacity 3: three sends complete without giving way, the fourth waits
 * until the receiver made room. */
static void *
buf_sender(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int v;

    for (v = 1; v <= 3; v++)
        EXPECT(coro_chan_send(ch, &v) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("S3");
    EXPECT(coro_chan_send(ch, &v) == 0); /* 4 */
    ev("S4");
    return NULL;
}

static void *
buf_receiver(void *arg)
{
    int v;

    ev("R");
    for (int i = 0; i < 4; i++) {
        EXPECT(coro_chan_recv(ch, &v) == 0);
        ev("r%d", v);
    }
    return NULL;
}

START_TEST(test_buffered_blocks_when_full)
{
    setup(coro_chan_create(sizeof(int), 3));
    spawn(buf_sender, NULL);
    spawn(buf_receiver, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S3 R r1 r2 r3 r4 S4");
    teardown();
}
END_TEST

START_TEST(test_buffered_outside_task)
{
    coro_chan_t *c = coro_chan_create(sizeof(int), 3);
    int v;

    ck_assert_ptr_nonnull(c);
    for (v = 1; v <= 3; v++)
        ck_assert_int_eq(coro_chan_send(c, &v), 0);
    v = 4;
    ASSERT_FAILS(coro_chan_send(c, &v), EPERM);
    ASSERT_FAILS(coro_chan_send_timeout(c, &v, 0), EAGAIN);
    ASSERT_FAILS(coro_chan_send_timeout(c, &v, CORO_MSEC(10)), EPERM);
    for (int i = 1; i <= 3; i++) {
        v = 0;
        ck_assert_int_eq(coro_chan_recv(c, &v), 0);
        ck_assert_int_eq(v, i);
    }
    v = 99;
    ASSERT_FAILS(coro_chan_recv(c, &v), EPERM);
    ASSERT_FAILS(coro_chan_recv_timeout(c, &v, 0), EAGAIN);
    ASSERT_FAILS(coro_chan_recv_timeout(c, &v, CORO_MSEC(10)), EPERM);
    ck_assert_int_eq(v, 99);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
}
END_TEST

/* FIFO through the ring buffer as it wraps round, against a model queue. */
START_TEST(test_buffered_fifo_wraps)
{
    coro_chan_t *c = coro_chan_create(sizeof(int), 7);
    int model[7], head = 0, count = 0, next = 1;

    ck_assert_ptr_nonnull(c);
    for (int step = 0; step < 500; step++) {
        int sends = (step * 5 + 3) % 4, recvs = (step * 3 + 1) % 4;

        for (int i = 0; i < sends; i++) {
            if (count == 7) {
                ASSERT_FAILS(coro_chan_send_timeout(c, &next, 0), EAGAIN);
                continue;
            }
            ck_assert_int_eq(coro_chan_send(c, &next), 0);
            model[(head + count++) % 7] = next++;
        }
        for (int i = 0; i < recvs; i++) {
            int v = -1;

            if (count == 0) {
                ASSERT_FAILS(coro_chan_recv_timeout(c, &v, 0), EAGAIN);
                continue;
            }
            ck_assert_int_eq(coro_chan_recv(c, &v), 0);
            ck_assert_int_eq(v, model[head]);
            head = (head + 1) % 7;
            count--;
        }
    }
    ck_assert_int_gt(next, 300);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
}
END_TEST

#define FIFO_N 1000

static void *
fifo_sender(void *arg)
{
    for (int i = 0; i < FIFO_N; i++)
        EXPECT(coro_chan_send(ch, &i) == 0);
    EXPECT(coro_chan_close(ch) == 0);
    return NULL;
}

static void *
fifo_receiver(void *arg)
{
    int v, expect = 0;

    while (coro_chan_recv(ch, &v) == 0) {
        EXPECT(v == expect);
        expect++;
        if (v % 7 == 0)
            coro_sched_yield(); /* let the buffer fill up now and then */
    }
    EXPECT(errno == EPIPE);
    EXPECT(expect == FIFO_N);
    ev("got %d", expect);
    return NULL;
}

START_TEST(test_buffered_fifo_tasks)
{
    setup(coro_chan_create(sizeof(int), 5));
    spawn(fifo_sender, NULL);
    spawn(fifo_receiver, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "got 1000");
    teardown();
}
END_TEST

/* The example of coro_chan_create(3), with its exact output: the receive
 * that makes room moves the blocked sender's element in and wakes it. */
struct point {
    double x, y;
};

static void *
pt_producer(void *arg)
{
    for (int i = 1; i <= 4; i++) {
        struct point p = { i, i * 0.5 };

        if (coro_chan_send(ch, &p) == -1)
            break;
        ev("sent%d", i);
    }
    EXPECT(coro_chan_close(ch) == 0);
    return NULL;
}

static void *
pt_consumer(void *arg)
{
    struct point p;

    while (coro_chan_recv(ch, &p) == 0)
        ev("(%g,%g)", p.x, p.y);
    return NULL;
}

START_TEST(test_buffered_man_example)
{
    setup(coro_chan_create(sizeof(struct point), 2));
    spawn(pt_producer, NULL);
    spawn(pt_consumer, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "sent1 sent2 (1,0.5) (2,1) (3,1.5) sent3 sent4 (4,2)");
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* First come, first served                                                */

static void *
fcfs_sender(void *arg)
{
    int v = (int)VI(arg);

    EXPECT(coro_chan_send(ch, &v) == 0);
    ev("S%d", v);
    return NULL;
}

static void *
fcfs_drain(void *arg)
{
    int n = (int)VI(arg), v;

    for (int i = 0; i < n; i++) {
        EXPECT(coro_chan_recv(ch, &v) == 0);
        ev("r%d", v);
    }
    return NULL;
}

START_TEST(test_senders_fifo_rendezvous)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(fcfs_sender, IV(1));
    spawn(fcfs_sender, IV(2));
    spawn(fcfs_sender, IV(3));
    spawn(fcfs_drain, IV(3));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "r1 r2 r3 S1 S2 S3");
    teardown();
}
END_TEST

START_TEST(test_senders_fifo_buffered)
{
    int zero = 0;

    setup(coro_chan_create(sizeof(int), 1));
    ck_assert_int_eq(coro_chan_send(ch, &zero), 0); /* full */
    spawn(fcfs_sender, IV(1));
    spawn(fcfs_sender, IV(2));
    spawn(fcfs_sender, IV(3));
    spawn(fcfs_drain, IV(4));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "r0 r1 r2 r3 S1 S2 S3");
    teardown();
}
END_TEST

static void *
fcfs_receiver(void *arg)
{
    int v = 0;

    ev("R%d", (int)VI(arg));
    EXPECT(coro_chan_recv(ch, &v) == 0);
    ev("R%d=%d", (int)VI(arg), v);
    return NULL;
}

static void *
fcfs_feed(void *arg)
{
    for (int v = 10; v <= 30; v += 10)
        EXPECT(coro_chan_send(ch, &v) == 0);
    ev("fed");
    return NULL;
}

START_TEST(test_receivers_fifo)
{
    setup(coro_chan_create(sizeof(int), (size_t)_i));
    spawn(fcfs_receiver, IV(1));
    spawn(fcfs_receiver, IV(2));
    spawn(fcfs_receiver, IV(3));
    spawn(fcfs_feed, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "R1 R2 R3 fed R1=10 R2=20 R3=30");
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The hand-over rule                                                      */

/* R waits; A sends to it: the send is done at once, A goes on, and R joins
 * the back of the queue at that moment, behind B and C, ahead of A when A
 * yields. */
static void *
ho_r(void *arg)
{
    int v = 0;

    ev("R:wait");
    EXPECT(coro_chan_recv(ch, &v) == 0);
    ev("R:got=%d", v);
    return NULL;
}

static void *
ho_a(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int v = 7;

    ev("A:send");
    EXPECT(coro_chan_send(ch, &v) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("A:sent");
    coro_sched_yield();
    ev("A:end");
    return NULL;
}

static void *
ho_other(void *arg)
{
    const char *name = arg;

    ev("%s:1", name);
    coro_sched_yield();
    ev("%s:2", name);
    return NULL;
}

START_TEST(test_handover_send_to_receiver)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(ho_r, NULL);
    spawn(ho_a, NULL);
    spawn(ho_other, "B");
    spawn(ho_other, "C");
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "R:wait A:send A:sent B:1 C:1 R:got=7 A:end B:2 C:2");
    teardown();
}
END_TEST

/* The mirror image on a rendezvous channel: S waits to send; A receives
 * from it at once, S joins the back of the queue at that moment. */
static void *
ho_s(void *arg)
{
    int v = 8;

    ev("S:wait");
    EXPECT(coro_chan_send(ch, &v) == 0);
    ev("S:done");
    return NULL;
}

static void *
ho_a_recv(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int v = 0;

    ev("A:recv");
    EXPECT(coro_chan_recv(ch, &v) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("A:got=%d", v);
    coro_sched_yield();
    ev("A:end");
    return NULL;
}

START_TEST(test_handover_recv_from_sender)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(ho_s, NULL);
    spawn(ho_a_recv, NULL);
    spawn(ho_other, "B");
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S:wait A:recv A:got=8 B:1 S:done A:end B:2");
    teardown();
}
END_TEST

/* Capacity 1: S's second send waits. R's receive takes the first element,
 * moves S's into the room made and wakes S; R's next receive finds that
 * element at once. Neither receive gives way. */
static void *
room_s(void *arg)
{
    int v;

    ev("S0");
    v = 1;
    EXPECT(coro_chan_send(ch, &v) == 0);
    v = 2;
    EXPECT(coro_chan_send(ch, &v) == 0);
    ev("S1");
    return NULL;
}

static void *
room_r(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int a = 0, b = 0;

    ev("R0");
    EXPECT(coro_chan_recv(ch, &a) == 0);
    EXPECT(coro_chan_recv(ch, &b) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("R=%d,%d", a, b);
    coro_sched_yield();
    ev("R-end");
    return NULL;
}

static void *
room_b(void *arg)
{
    ev("B");
    return NULL;
}

START_TEST(test_handover_recv_makes_room)
{
    setup(coro_chan_create(sizeof(int), 1));
    spawn(room_s, NULL);
    spawn(room_r, NULL);
    spawn(room_b, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S0 R0 R=1,2 B S1 R-end");
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Elements are copied, exactly elem_size bytes                            */

static void *
copy_sender(void *arg)
{
    int v = 1;

    EXPECT(coro_chan_send(ch, &v) == 0); /* straight to the waiting receiver */
    v = 2;
    EXPECT(coro_chan_send(ch, &v) == 0); /* waits; the receiver copies it */
    v = 3;                               /* after the send: must not be seen */
    coro_sched_yield();
    v = 4;
    return NULL;
}

static void *
copy_receiver(void *arg)
{
    int *got = arg;

    EXPECT(coro_chan_recv(ch, &got[0]) == 0);
    coro_sched_yield(); /* the sender blocks on its second send */
    EXPECT(coro_chan_recv(ch, &got[1]) == 0);
    coro_sched_yield(); /* the sender changes its variable */
    coro_sched_yield();
    got[2] = got[1];
    return NULL;
}

START_TEST(test_elements_copied)
{
    int got[3] = { 0, 0, 0 }, v;

    /* Buffered: the buffer keeps its own copy. */
    setup(coro_chan_create(sizeof(int), 2));
    v = 10;
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    v = 20;
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    v = 30;
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 10);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 20);
    teardown();

    /* Rendezvous, both ways round. */
    setup(coro_chan_create(sizeof(int), 0));
    spawn(copy_receiver, got);
    spawn(copy_sender, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 2);
    ck_assert_int_eq(got[2], 2);
    teardown();
}
END_TEST

/* Elements of `size` bytes with a recognisable pattern, received between
 * guard bytes that must stay untouched, on every copy path: into the
 * buffer and out, straight to a waiting receiver, straight from a waiting
 * sender, and from a waiting sender into the room a receive made. */
#define GUARD 16

struct sized {
    size_t size;
    int received;
};

static void
fill(unsigned char *p, size_t size, int seed)
{
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(seed * 31 + i * 7 + 1);
}

static int
check_received(const unsigned char *buf, size_t size, int seed)
{
    unsigned char want[256];

    fill(want, size, seed);
    for (size_t i = 0; i < GUARD; i++)
        if (buf[i] != 0xA5 || buf[GUARD + size + i] != 0xA5)
            return 0;
    return memcmp(buf + GUARD, want, size) == 0;
}

static void *
sized_sender(void *arg)
{
    struct sized *z = arg;
    unsigned char e[256];

    for (int seed = 1; seed <= 6; seed++) {
        fill(e, z->size, seed);
        EXPECT(coro_chan_send(ch, e) == 0);
        memset(e, 0, sizeof e);
    }
    return NULL;
}

static void *
sized_receiver(void *arg)
{
    struct sized *z = arg;
    unsigned char buf[256 + 2 * GUARD];

    for (int seed = 1; seed <= 6; seed++) {
        memset(buf, 0xA5, sizeof buf);
        EXPECT(coro_chan_recv(ch, buf + GUARD) == 0);
        EXPECT(check_received(buf, z->size, seed));
        z->received++;
        if (seed % 2)
            coro_sched_yield();
    }
    return NULL;
}

static void
run_sized(size_t size, size_t cap, int receiver_first)
{
    struct sized z = { size, 0 };

    setup(coro_chan_create(size, cap));
    spawn(receiver_first ? sized_receiver : sized_sender, &z);
    spawn(receiver_first ? sized_sender : sized_receiver, &z);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(z.received, 6);
    teardown();
}

START_TEST(test_one_byte_elements)
{
    unsigned char b;

    for (size_t cap = 0; cap <= 2; cap++) {
        run_sized(1, cap, 0);
        run_sized(1, cap, 1);
    }
    /* Every byte value, in order, through a small buffer. */
    setup(coro_chan_create(1, 5));
    for (int i = 0; i < 256; i++) {
        b = (unsigned char)i;
        ck_assert_int_eq(coro_chan_send(ch, &b), 0);
        if (i % 5 == 4)
            for (int k = i - 4; k <= i; k++) {
                ck_assert_int_eq(coro_chan_recv(ch, &b), 0);
                ck_assert_int_eq(b, (unsigned char)k);
            }
    }
    ck_assert_int_eq(coro_chan_recv(ch, &b), 0);
    ck_assert_int_eq(b, 255);
    teardown();
}
END_TEST

START_TEST(test_struct_100_elements)
{
    struct s100 {
        char bytes[100];
    };

    ck_assert_uint_eq(sizeof(struct s100), 100);
    for (size_t cap = 0; cap <= 2; cap++) {
        run_sized(sizeof(struct s100), cap, 0);
        run_sized(sizeof(struct s100), cap, 1);
    }
    run_sized(255, 3, 0);
}
END_TEST

/* A NULL elem receives and discards. */
static void *
recv_discard(void *arg)
{
    int *rc = arg;

    *rc = coro_chan_recv(ch, NULL);
    ev("discarded");
    return NULL;
}

START_TEST(test_recv_null_discards)
{
    int v, rc = 99;

    /* From the buffer. */
    setup(coro_chan_create(sizeof(int), 2));
    v = 1;
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    v = 2;
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(coro_chan_recv(ch, NULL), 0);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 2);
    ASSERT_FAILS(coro_chan_recv_timeout(ch, NULL, 0), EAGAIN);
    teardown();

    /* A waiting receiver with NULL: the send completes, the value is gone. */
    setup(coro_chan_create(sizeof(int), 0));
    spawn(recv_discard, &rc);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    v = 3;
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(evlog, "discarded");
    teardown();

    /* From a waiting sender. */
    tasklog_reset();
    setup(coro_chan_create(sizeof(int), 0));
    spawn(fcfs_sender, IV(4));
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_int_eq(coro_chan_recv(ch, NULL), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S4");
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Close                                                                   */

START_TEST(test_close_then_send)
{
    int v = 1;

    setup(coro_chan_create(sizeof(int), 2));
    ck_assert_int_eq(coro_chan_close(ch), 0);
    ASSERT_FAILS(coro_chan_send(ch, &v), EPIPE);
    ASSERT_FAILS(coro_chan_send_timeout(ch, &v, 0), EPIPE);
    ASSERT_FAILS(coro_chan_send_timeout(ch, &v, CORO_MSEC(10)), EPIPE);
    ASSERT_FAILS(coro_chan_recv(ch, &v), EPIPE); /* nothing was buffered */
    teardown();
}
END_TEST

/* Receivers drain what was buffered, in order, then get EPIPE; a failed
 * receive leaves elem alone. */
static void *
drain_task(void *arg)
{
    int v;

    while (coro_chan_recv(ch, &v) == 0)
        ev("%d", v);
    ev("%s", errname(errno));
    v = 77;
    EXPECT_FAILS(coro_chan_recv(ch, &v), EPIPE);
    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, CORO_MSEC(10)), EPIPE);
    EXPECT(v == 77);
    return NULL;
}

START_TEST(test_close_drains_buffer)
{
    int v;

    setup(coro_chan_create(sizeof(int), 4));
    for (v = 1; v <= 3; v++)
        ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(coro_chan_close(ch), 0);
    ASSERT_FAILS(coro_chan_send(ch, &v), EPIPE);
    spawn(drain_task, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "1 2 3 EPIPE");
    v = 55;
    ASSERT_FAILS(coro_chan_recv(ch, &v), EPIPE);        /* outside: not EPERM */
    ASSERT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EPIPE); /* not EAGAIN */
    ck_assert_int_eq(v, 55);
    teardown();
}
END_TEST

/* Blocked receivers wake with EPIPE, in the order they waited; the closer
 * goes on without giving way. */
static void *
closed_receiver(void *arg)
{
    int v = 5;

    ev("R%d", (int)VI(arg));
    errno = 0;
    EXPECT(coro_chan_recv(ch, &v) == -1);
    ev("R%d:%s", (int)VI(arg), errname(errno));
    EXPECT(v == 5);
    return NULL;
}

static void *
closer(void *arg)
{
    uint64_t before = coro_sched_switches(sched);

    EXPECT(coro_chan_close(ch) == 0);
    EXPECT(coro_sched_switches(sched) == before);
    ev("closed");
    EXPECT_FAILS(coro_chan_close(ch), EPIPE);
    ev("C-end");
    return NULL;
}

START_TEST(test_close_wakes_receivers)
{
    setup(coro_chan_create(sizeof(int), (size_t)_i));
    spawn(closed_receiver, IV(1));
    spawn(closed_receiver, IV(2));
    spawn(closed_receiver, IV(3));
    spawn(closer, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "R1 R2 R3 closed C-end R1:EPIPE R2:EPIPE R3:EPIPE");
    teardown();
}
END_TEST

/* Blocked senders wake with EPIPE; their elements were not sent. */
static void *
closed_sender(void *arg)
{
    int v = (int)VI(arg);

    errno = 0;
    EXPECT(coro_chan_send(ch, &v) == -1);
    ev("S%d:%s", v, errname(errno));
    return NULL;
}

START_TEST(test_close_wakes_senders)
{
    int v = 5;

    setup(coro_chan_create(sizeof(int), 1));
    ck_assert_int_eq(coro_chan_send(ch, &v), 0); /* full */
    spawn(closed_sender, IV(10));
    spawn(closed_sender, IV(20));
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_int_eq(coro_chan_close(ch), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S10:EPIPE S20:EPIPE");
    v = 0;
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 5);
    ASSERT_FAILS(coro_chan_recv(ch, &v), EPIPE);
    ck_assert_int_eq(v, 5);
    teardown();
}
END_TEST

START_TEST(test_close_twice)
{
    int v;

    setup(coro_chan_create(sizeof(int), 3));
    for (v = 1; v <= 2; v++)
        ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(coro_chan_close(ch), 0);
    ASSERT_FAILS(coro_chan_close(ch), EPIPE);
    ASSERT_FAILS(coro_chan_close(ch), EPIPE);
    /* Nothing else changed: the buffer is intact and still closed. */
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 2);
    ASSERT_FAILS(coro_chan_recv(ch, &v), EPIPE);
    ASSERT_FAILS(coro_chan_send(ch, &v), EPIPE);
    teardown();
}
END_TEST

START_TEST(test_close_null)
{
    ASSERT_FAILS(coro_chan_close(NULL), EINVAL);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Destroy                                                                 */

START_TEST(test_destroy_null)
{
    errno = 0;
    ck_assert_int_eq(coro_chan_destroy(NULL), 0);
    ck_assert_int_eq(errno, 0);
}
END_TEST

static void *
wait_recv(void *arg)
{
    int *v = arg;

    ev("wait");
    EXPECT(coro_chan_recv(ch, v) == 0);
    ev("got %d", *v);
    return NULL;
}

/* While a task waits the channel cannot go, and nothing is freed: it still
 * works, and can be destroyed once the task has left. */
START_TEST(test_destroy_busy_receiver)
{
    int got = 0, v = 31;

    setup(coro_chan_create(sizeof(int), 0));
    spawn(wait_recv, &got);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ASSERT_FAILS(coro_chan_destroy(ch), EBUSY);
    ASSERT_FAILS(coro_chan_destroy(ch), EBUSY);
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(got, 31);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "wait got 31");
    teardown();
}
END_TEST

START_TEST(test_destroy_busy_sender)
{
    int v = 0;

    setup(coro_chan_create(sizeof(int), 1));
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    spawn(fcfs_sender, IV(9));
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ASSERT_FAILS(coro_chan_destroy(ch), EBUSY);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0); /* moved in by the receive */
    ck_assert_int_eq(v, 9);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "S9");
    teardown();
}
END_TEST

START_TEST(test_destroy_with_elements)
{
    coro_chan_t *c = coro_chan_create(sizeof(int), 4);
    int v = 1;

    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(coro_chan_send(c, &v), 0);
    ck_assert_int_eq(coro_chan_send(c, &v), 0);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
    c = coro_chan_create(sizeof(int), 4);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(coro_chan_send(c, &v), 0);
    ck_assert_int_eq(coro_chan_close(c), 0);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Create                                                                  */

START_TEST(test_create_errors)
{
    ASSERT_NULL_ERRNO(coro_chan_create(0, 0), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(0, 1), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(0, 100), EINVAL);
    /* elem_size * capacity does not fit in a size_t. */
    ASSERT_NULL_ERRNO(coro_chan_create(SIZE_MAX, 2), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(2, SIZE_MAX), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(SIZE_MAX / 2 + 1, 2), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(SIZE_MAX / 16 + 1, 16), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create((size_t)1 << (sizeof(size_t) * 4),
                                       (size_t)1 << (sizeof(size_t) * 4)), EINVAL);
    /* It fits, but the channel's header on top does not. */
    ASSERT_NULL_ERRNO(coro_chan_create(SIZE_MAX - 1, 1), EINVAL);
    /* It fits with the header, but no object may be larger than
     * PTRDIFF_MAX (malloc() would be asked for an impossible size). */
    ASSERT_NULL_ERRNO(coro_chan_create(SIZE_MAX / 4, 2), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(PTRDIFF_MAX, 1), EINVAL);
    ASSERT_NULL_ERRNO(coro_chan_create(1, PTRDIFF_MAX), EINVAL);
}
END_TEST

/* coro_chan_len() and coro_chan_cap(): what is buffered, and the room. */
START_TEST(test_len_cap)
{
    coro_chan_t *c = coro_chan_create(sizeof(int), 3);
    coro_chan_t *r = coro_chan_create(sizeof(int), 0);
    int v = 1;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(coro_chan_cap(c), 3);
    ck_assert_uint_eq(coro_chan_len(c), 0);
    ck_assert_int_eq(coro_chan_send(c, &v), 0);
    ck_assert_int_eq(coro_chan_send(c, &v), 0);
    ck_assert_uint_eq(coro_chan_len(c), 2);
    ck_assert_int_eq(coro_chan_recv(c, &v), 0);
    ck_assert_uint_eq(coro_chan_len(c), 1);
    ck_assert_int_eq(coro_chan_close(c), 0);
    ck_assert_uint_eq(coro_chan_len(c), 1); /* closed, not drained */
    ck_assert_uint_eq(coro_chan_cap(r), 0);
    ck_assert_uint_eq(coro_chan_len(r), 0);
    errno = 0;
    ck_assert_uint_eq(coro_chan_len(NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_uint_eq(coro_chan_cap(NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
    ck_assert_int_eq(coro_chan_destroy(r), 0);
}
END_TEST

START_TEST(test_create_sizes)
{
    static const size_t sizes[][2] = { { 1, 0 }, { 1, 1 }, { 3, 7 }, { 100, 0 }, { 100, 1000 },
                                       { 4096, 16 } };

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        coro_chan_t *c = coro_chan_create(sizes[i][0], sizes[i][1]);

        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(coro_chan_destroy(c), 0);
    }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Outside a task                                                          */

/* What needs no wait works on the thread's own stack. */
START_TEST(test_outside_completes_when_it_can)
{
    int got = 0, v = 12;

    /* A send to a waiting receiver, and a receive from a waiting sender. */
    setup(coro_chan_create(sizeof(int), 0));
    spawn(wait_recv, &got);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_int_eq(coro_chan_send(ch, &v), 0);
    ck_assert_int_eq(got, 12);
    spawn(fcfs_sender, IV(13));
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
    ck_assert_int_eq(v, 13);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "wait got 12 S13");
    /* Any operation on a closed channel. */
    ck_assert_int_eq(coro_chan_close(ch), 0);
    ASSERT_FAILS(coro_chan_send(ch, &v), EPIPE);
    ASSERT_FAILS(coro_chan_recv(ch, &v), EPIPE);
    teardown();
}
END_TEST

START_TEST(test_outside_would_block)
{
    coro_chan_t *c = coro_chan_create(sizeof(int), 0);
    coro_chan_t *full = coro_chan_create(sizeof(int), 1);
    int v = 1;

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(full);
    ck_assert_int_eq(coro_chan_send(full, &v), 0);
    ASSERT_FAILS(coro_chan_send(c, &v), EPERM);
    ASSERT_FAILS(coro_chan_send_timeout(c, &v, CORO_MSEC(5)), EPERM);
    ASSERT_FAILS(coro_chan_send_timeout(c, &v, CORO_FOREVER), EPERM);
    ASSERT_FAILS(coro_chan_send_timeout(c, &v, 0), EAGAIN);
    ASSERT_FAILS(coro_chan_recv(c, &v), EPERM);
    ASSERT_FAILS(coro_chan_recv_timeout(c, &v, CORO_MSEC(5)), EPERM);
    ASSERT_FAILS(coro_chan_recv_timeout(c, &v, 0), EAGAIN);
    ASSERT_FAILS(coro_chan_send(full, &v), EPERM);
    ASSERT_FAILS(coro_chan_send_timeout(full, &v, 0), EAGAIN);
    /* Nothing was left waiting. */
    ck_assert_int_eq(coro_chan_destroy(c), 0);
    ck_assert_int_eq(coro_chan_recv(full, &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(coro_chan_destroy(full), 0);
}
END_TEST

START_TEST(test_null_channel)
{
    int v = 0;

    ASSERT_FAILS(coro_chan_send(NULL, &v), EINVAL);
    ASSERT_FAILS(coro_chan_recv(NULL, &v), EINVAL);
    ASSERT_FAILS(coro_chan_send_timeout(NULL, &v, 0), EINVAL);
    ASSERT_FAILS(coro_chan_recv_timeout(NULL, &v, 0), EINVAL);
    setup(coro_chan_create(sizeof(int), 1));
    ASSERT_FAILS(coro_chan_send(ch, NULL), EINVAL);
    ASSERT_FAILS(coro_chan_send_timeout(ch, NULL, 0), EINVAL);
    ASSERT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN); /* nothing was sent */
    teardown();
}
END_TEST

/* A generator resumed by a task is not a task: what would wait fails with
 * EPERM, what completes at once works (and may wake a task). */
static void *
gen_ops(void *arg)
{
    coro_chan_t *buf = arg;
    int v = 3;

    EXPECT(coro_sched_self() == NULL);
    EXPECT_FAILS(coro_chan_recv(ch, &v), EPERM);
    EXPECT_FAILS(coro_chan_send(ch, &v), EPERM);
    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, CORO_MSEC(10)), EPERM);
    EXPECT_FAILS(coro_chan_send_timeout(ch, &v, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN);
    EXPECT(coro_chan_send(buf, &v) == 0);
    EXPECT(coro_chan_recv(buf, &v) == 0);
    coro_yield(NULL); /* the task lets the receiver block on ch */
    v = 44;
    EXPECT(coro_chan_send(ch, &v) == 0); /* to the waiting receiver */
    return NULL;
}

static void *
gen_driver(void *arg)
{
    coro_t *g = coro_create(gen_ops, arg, 0);

    EXPECT(g != NULL);
    if (g == NULL)
        return NULL;
    EXPECT(coro_resume(g, NULL, NULL) == 0);
    ev("yielded");
    coro_sched_yield();
    EXPECT(coro_resume(g, NULL, NULL) == 1);
    ev("gen-done");
    EXPECT(coro_destroy(g) == 0);
    return NULL;
}

START_TEST(test_generator_in_task)
{
    coro_chan_t *buf = coro_chan_create(sizeof(int), 1);
    int got = 0;

    ck_assert_ptr_nonnull(buf);
    setup(coro_chan_create(sizeof(int), 0));
    spawn(gen_driver, buf);
    spawn(wait_recv, &got);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "yielded wait gen-done got 44");
    teardown();
    ck_assert_int_eq(coro_chan_destroy(buf), 0);
}
END_TEST

/* In a deferred handler of a task that ends: waiting is ECANCELED, what
 * completes at once works. */
static void
handler_ops(void *arg)
{
    coro_chan_t *buf = arg;
    int v = 8;

    EXPECT_FAILS(coro_chan_recv(ch, &v), ECANCELED);
    EXPECT_FAILS(coro_chan_send(ch, &v), ECANCELED);
    EXPECT_FAILS(coro_chan_send_timeout(ch, &v, CORO_MSEC(10)), ECANCELED);
    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN);
    EXPECT(coro_chan_send(buf, &v) == 0);
    ev("handler");
}

static void *
task_with_handler_ops(void *arg)
{
    EXPECT(coro_defer(handler_ops, arg) == 0);
    return NULL;
}

START_TEST(test_handler_ops)
{
    coro_chan_t *buf = coro_chan_create(sizeof(int), 1);
    int v = 0;

    ck_assert_ptr_nonnull(buf);
    setup(coro_chan_create(sizeof(int), 0));
    spawn(task_with_handler_ops, buf);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "handler");
    ck_assert_int_eq(coro_chan_recv(buf, &v), 0);
    ck_assert_int_eq(v, 8);
    teardown();
    ck_assert_int_eq(coro_chan_destroy(buf), 0);
}
END_TEST

/* A channel belongs to its thread: every function fails with EPERM from
 * another one and changes nothing. */
struct foreign {
    coro_chan_t *c;
    int rc[10], err[10];
};

static void *
foreign_thread(void *arg)
{
    struct foreign *f = arg;
    int v = 66, k = 0;
    coro_sel_t sel = { f->c, CORO_RECV, &v, 0 };

#define TRY(call)                                                            \
    do {                                                                     \
        errno = 0;                                                           \
        f->rc[k] = (call);                                                   \
        f->err[k++] = errno;                                                 \
    } while (0)
    TRY(coro_chan_send(f->c, &v));
    TRY(coro_chan_recv(f->c, &v));
    TRY(coro_chan_send_timeout(f->c, &v, 0));
    TRY(coro_chan_recv_timeout(f->c, &v, 0));
    TRY(coro_chan_close(f->c));
    TRY(coro_chan_destroy(f->c));
    TRY(coro_select(&sel, 1, 0));
    TRY(coro_select_first(&sel, 1, 0));
    TRY(coro_chan_len(f->c) == 0 ? -1 : 1);
    TRY(coro_chan_cap(f->c) == 0 ? -1 : 1);
#undef TRY
    return NULL;
}

START_TEST(test_other_thread)
{
    struct foreign f = { .c = coro_chan_create(sizeof(int), 2) };
    pthread_t th;
    int v = 5;

    ck_assert_ptr_nonnull(f.c);
    ck_assert_int_eq(coro_chan_send(f.c, &v), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    for (int k = 0; k < 10; k++) {
        ck_assert_msg(f.rc[k] == -1 && f.err[k] == EPERM, "call %d: rc %d errno %d", k,
                      f.rc[k], f.err[k]);
    }
    /* Intact: not closed, the one element still there. */
    v = 6;
    ck_assert_int_eq(coro_chan_send(f.c, &v), 0);
    ck_assert_int_eq(coro_chan_recv(f.c, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(coro_chan_recv(f.c, &v), 0);
    ck_assert_int_eq(v, 6);
    ck_assert_int_eq(coro_chan_destroy(f.c), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Timeouts                                                                */

struct timed {
    int rc, err, v;
    int64_t elapsed, timeout;
};

static void *
timed_recv(void *arg)
{
    struct timed *t = arg;
    int64_t t0 = coro_now();

    errno = 0;
    t->rc = coro_chan_recv_timeout(ch, &t->v, CORO_MSEC(20));
    t->err = errno;
    t->elapsed = coro_now() - t0;
    return NULL;
}

START_TEST(test_recv_timeout_expires)
{
    struct timed t = { .rc = 99, .v = 123 };
    int v = 1;

    setup(coro_chan_create(sizeof(int), (size_t)_i));
    spawn(timed_recv, &t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_eq(t.v, 123);
    ck_assert_int_ge(t.elapsed, CORO_MSEC(20));
    ck_assert_int_lt(t.elapsed, CORO_MSEC(5000));
    /* The receiver has left the channel. */
    if (_i == 0)
        ASSERT_FAILS(coro_chan_send_timeout(ch, &v, 0), EAGAIN);
    teardown();
}
END_TEST

static void *
timed_send(void *arg)
{
    struct timed *t = arg;
    int64_t t0 = coro_now();

    errno = 0;
    t->rc = coro_chan_send_timeout(ch, &t->v, CORO_MSEC(20));
    t->err = errno;
    t->elapsed = coro_now() - t0;
    return NULL;
}

START_TEST(test_send_timeout_expires)
{
    struct timed t = { .rc = 99, .v = 321 };
    int v = 1;

    setup(coro_chan_create(sizeof(int), (size_t)_i));
    if (_i > 0)
        ck_assert_int_eq(coro_chan_send(ch, &v), 0); /* full */
    spawn(timed_send, &t);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(t.rc, -1);
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_ge(t.elapsed, CORO_MSEC(20));
    ck_assert_int_lt(t.elapsed, CORO_MSEC(5000));
    /* Not sent: only what was there before. */
    if (_i > 0) {
        ck_assert_int_eq(coro_chan_recv(ch, &v), 0);
        ck_assert_int_eq(v, 1);
    }
    ASSERT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN);
    teardown();
}
END_TEST

/* An operation that completes long before its deadline (10 s) removes its
 * timer: the run ends as soon as the tasks do. */
static void *
long_recv(void *arg)
{
    struct timed *t = arg;

    errno = 0;
    t->rc = coro_chan_recv_timeout(ch, &t->v, CORO_MSEC(10000));
    t->err = errno;
    return NULL;
}

static void *
long_send(void *arg)
{
    struct timed *t = arg;

    errno = 0;
    t->rc = coro_chan_send_timeout(ch, &t->v, CORO_MSEC(10000));
    t->err = errno;
    return NULL;
}

static void *
late_send(void *arg)
{
    int v = (int)VI(arg);

    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    EXPECT(coro_chan_send(ch, &v) == 0);
    return NULL;
}

static void *
late_recv(void *arg)
{
    int *v = arg;

    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    EXPECT(coro_chan_recv(ch, v) == 0);
    return NULL;
}

static void *
late_close(void *arg)
{
    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    EXPECT(coro_chan_close(ch) == 0);
    return NULL;
}

START_TEST(test_timeout_completes_early)
{
    struct timed r = { .rc = 99 }, s = { .rc = 99, .v = 17 };
    int got = 0;
    int64_t t0, elapsed;

    setup(coro_chan_create(sizeof(int), 0));
    spawn(long_recv, &r);
    spawn(late_send, IV(9));
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(sched), 0);
    elapsed = coro_now() - t0;
    ck_assert_int_eq(r.rc, 0);
    ck_assert_int_eq(r.v, 9);
    ck_assert_int_ge(elapsed, CORO_MSEC(20));
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));

    spawn(long_send, &s);
    spawn(late_recv, &got);
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(sched), 0);
    elapsed = coro_now() - t0;
    ck_assert_int_eq(s.rc, 0);
    ck_assert_int_eq(got, 17);
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));

    /* Woken by a close: EPIPE, and no timer left either. */
    r = (struct timed){ .rc = 99 };
    spawn(long_recv, &r);
    spawn(late_close, NULL);
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(sched), 0);
    elapsed = coro_now() - t0;
    ck_assert_int_eq(r.rc, -1);
    ck_assert_int_eq(r.err, EPIPE);
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));
    teardown();
}
END_TEST

/* Any negative timeout waits for as long as it takes. */
static void *
forever_recv(void *arg)
{
    struct timed *t = arg;

    t->rc = coro_chan_recv_timeout(ch, &t->v, t->timeout);
    return NULL;
}

START_TEST(test_timeout_negative)
{
    struct timed a = { .rc = 99, .timeout = -1 }, b = { .rc = 99, .timeout = INT64_MIN };

    setup(coro_chan_create(sizeof(int), 0));
    spawn(forever_recv, &a);
    spawn(forever_recv, &b);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK); /* no deadline at all */
    spawn(late_send, IV(1));
    spawn(late_send, IV(2));
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(a.v, 1);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_int_eq(b.v, 2);
    teardown();
}
END_TEST

/* Timeout 0 in a task: EAGAIN at once, without giving way. */
static void *
zero_timeouts(void *arg)
{
    uint64_t before = coro_sched_switches(sched);
    int v = 1;

    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN);
    EXPECT_FAILS(coro_chan_send_timeout(ch, &v, 0), EAGAIN);
    EXPECT(coro_sched_switches(sched) == before);
    ev("done");
    return NULL;
}

START_TEST(test_timeout_zero_in_task)
{
    setup(coro_chan_create(sizeof(int), 0));
    spawn(zero_timeouts, NULL);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ck_assert_str_eq(evlog, "done");
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Many pairs                                                              */

#define PAIRS 500
#define PER_PAIR 20

struct pair {
    coro_chan_t *c;
    int id;
    int count;
    long sum;
    int in_order;
    int end_err;
};

static void *
pair_producer(void *arg)
{
    struct pair *p = arg;

    for (int k = 0; k < PER_PAIR; k++) {
        int v = p->id * 1000 + k;

        EXPECT(coro_chan_send(p->c, &v) == 0);
    }
    EXPECT(coro_chan_close(p->c) == 0);
    return NULL;
}

static void *
pair_consumer(void *arg)
{
    struct pair *p = arg;
    int v;

    while (coro_chan_recv(p->c, &v) == 0) {
        if (v != p->id * 1000 + p->count)
            p->in_order = 0;
        p->count++;
        p->sum += v;
    }
    p->end_err = errno;
    return NULL;
}

START_TEST(test_many_pairs)
{
    coro_sched_t *s = coro_sched_create();
    struct pair *p = calloc(PAIRS, sizeof *p);
    long total = 0, want = 0;
    int count = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < PAIRS; i++) {
        p[i] = (struct pair){ .c = coro_chan_create(sizeof(int), i % 2 ? 3 : 0), .id = i,
                              .in_order = 1 };
        ck_assert_ptr_nonnull(p[i].c);
        /* Half the pairs start with the consumer, half with the producer. */
        ck_assert_int_eq(coro_spawn(s, i % 4 < 2 ? pair_producer : pair_consumer, &p[i],
                                    CORO_STACK_MIN), 0);
    }
    for (int i = 0; i < PAIRS; i++)
        ck_assert_int_eq(coro_spawn(s, i % 4 < 2 ? pair_consumer : pair_producer, &p[i],
                                    CORO_STACK_MIN), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    for (int i = 0; i < PAIRS; i++) {
        ck_assert_int_eq(p[i].count, PER_PAIR);
        ck_assert_int_eq(p[i].in_order, 1);
        ck_assert_int_eq(p[i].end_err, EPIPE);
        count += p[i].count;
        total += p[i].sum;
        for (int k = 0; k < PER_PAIR; k++)
            want += i * 1000 + k;
        ck_assert_int_eq(coro_chan_destroy(p[i].c), 0);
    }
    ck_assert_int_eq(count, PAIRS * PER_PAIR);
    ck_assert_int_eq(total, want);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    free(p);
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *
chan_suite(void)
{
    Suite *s = suite_create("chan");
    TCase *tc;

    tc = tasklog_tcase(s, "rendezvous", tasklog_reset);
    tcase_add_test(tc, test_rendezvous_sender_first);
    tcase_add_test(tc, test_rendezvous_receiver_first);
    tcase_add_test(tc, test_rendezvous_many);

    tc = tasklog_tcase(s, "buffered", tasklog_reset);
    tcase_add_test(tc, test_buffered_blocks_when_full);
    tcase_add_test(tc, test_buffered_outside_task);
    tcase_add_test(tc, test_buffered_fifo_wraps);
    tcase_add_test(tc, test_buffered_fifo_tasks);
    tcase_add_test(tc, test_buffered_man_example);

    tc = tasklog_tcase(s, "waiters", tasklog_reset);
    tcase_add_test(tc, test_senders_fifo_rendezvous);
    tcase_add_test(tc, test_senders_fifo_buffered);
    tcase_add_loop_test(tc, test_receivers_fifo, 0, 3); /* capacities 0, 1, 2 */

    tc = tasklog_tcase(s, "handover", tasklog_reset);
    tcase_add_test(tc, test_handover_send_to_receiver);
    tcase_add_test(tc, test_handover_recv_from_sender);
    tcase_add_test(tc, test_handover_recv_makes_room);

    tc = tasklog_tcase(s, "copy", tasklog_reset);
    tcase_add_test(tc, test_elements_copied);
    tcase_add_test(tc, test_one_byte_elements);
    tcase_add_test(tc, test_struct_100_elements);
    tcase_add_test(tc, test_recv_null_discards);

    tc = tasklog_tcase(s, "close", tasklog_reset);
    tcase_add_test(tc, test_close_then_send);
    tcase_add_test(tc, test_close_drains_buffer);
    tcase_add_loop_test(tc, test_close_wakes_receivers, 0, 2); /* capacities 0, 1 */
    tcase_add_test(tc, test_close_wakes_senders);
    tcase_add_test(tc, test_close_twice);
    tcase_add_test(tc, test_close_null);

    tc = tasklog_tcase(s, "destroy", tasklog_reset);
    tcase_add_test(tc, test_destroy_null);
    tcase_add_test(tc, test_destroy_busy_receiver);
    tcase_add_test(tc, test_destroy_busy_sender);
    tcase_add_test(tc, test_destroy_with_elements);

    tc = tasklog_tcase(s, "create", tasklog_reset);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_len_cap);
    tcase_add_test(tc, test_create_sizes);

    tc = tasklog_tcase(s, "outside", tasklog_reset);
    tcase_add_test(tc, test_outside_completes_when_it_can);
    tcase_add_test(tc, test_outside_would_block);
    tcase_add_test(tc, test_null_channel);
    tcase_add_test(tc, test_generator_in_task);
    tcase_add_test(tc, test_handler_ops);
    tcase_add_test(tc, test_other_thread);

    tc = tasklog_tcase(s, "timeout", tasklog_reset);
    tcase_add_loop_test(tc, test_recv_timeout_expires, 0, 2); /* capacities 0, 1 */
    tcase_add_loop_test(tc, test_send_timeout_expires, 0, 2);
    tcase_add_test(tc, test_timeout_completes_early);
    tcase_add_test(tc, test_timeout_negative);
    tcase_add_test(tc, test_timeout_zero_in_task);

    tc = tasklog_tcase(s, "stress", tasklog_reset);
    tcase_add_test(tc, test_many_pairs);

    return s;
}

TEST_MAIN(chan_suite)
