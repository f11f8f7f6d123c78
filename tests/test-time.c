/*
 * test-time: coro_now, coro_sleep and the scheduler's timer heap. The
 * clock is CLOCK_MONOTONIC; sleeps last at least what was asked; sleepers
 * wake in deadline order, equal deadlines in the order they were armed,
 * including with thousands of them and with deadlines cancelled early by
 * channel operations; a deadline too far to represent is still a deadline;
 * and a scheduler whose tasks all sleep uses no CPU.
 *
 * Timing assertions are lower bounds (a sleep never ends early) and loose
 * upper bounds (seconds), so that a loaded machine or valgrind cannot make
 * them fail. Where an order is checked against times the tests read, they
 * allow for the time between a task's reading and the library's.
 */
#include "testutil.h"
#include "tasklog.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t
mono_ns(clockid_t clk)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(clk, &ts), 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A small deterministic generator (xorshift64*), the same everywhere. */
static uint64_t rng_state;

static void
rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* A uniform-enough value in [lo, hi]. */
static int64_t
rng_range(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static coro_sched_t *
new_sched(void)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    return s;
}

/* ---------------------------------------------------------------------- */
/* coro_now                                                                */

START_TEST(test_now_monotonic)
{
    int64_t prev = coro_now(), t;

    for (int i = 0; i < 100000; i++) {
        t = coro_now();
        if (t < prev)
            ck_abort_msg("coro_now went back: %lld after %lld", (long long)t, (long long)prev);
        prev = t;
    }
    errno = 12345;
    (void)coro_now();
    ck_assert_int_eq(errno, 12345); /* it does not touch errno */
}
END_TEST

/* It is CLOCK_MONOTONIC, in nanoseconds, and it advances. */
START_TEST(test_now_is_clock_monotonic)
{
    int64_t a, b, c, t0;
    struct timespec five_ms = { 0, 5000000 };

    for (int i = 0; i < 100; i++) {
        a = mono_ns(CLOCK_MONOTONIC);
        b = coro_now();
        c = mono_ns(CLOCK_MONOTONIC);
        ck_assert_int_le(a, b);
        ck_assert_int_le(b, c);
    }
    t0 = coro_now();
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &five_ms, NULL) == EINTR)
        ;
    ck_assert_int_ge(coro_now() - t0, CORO_MSEC(5));
}
END_TEST

static void *
now_in_thread(void *arg)
{
    *(int64_t *)arg = coro_now();
    return NULL;
}

static void *
now_in_task(void *arg)
{
    *(int64_t *)arg = coro_now();
    return NULL;
}

/* Any thread, in a task or not, reads the same clock. */
START_TEST(test_now_anywhere)
{
    int64_t t1, t2 = 0, t3, t4 = 0, t5;
    coro_sched_t *s = new_sched();
    pthread_t th;

    t1 = coro_now();
    ck_assert_int_eq(pthread_create(&th, NULL, now_in_thread, &t2), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    t3 = coro_now();
    ck_assert_int_eq(coro_spawn(s, now_in_task, &t4, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    t5 = coro_now();
    ck_assert_int_le(t1, t2);
    ck_assert_int_le(t2, t3);
    ck_assert_int_le(t3, t4);
    ck_assert_int_le(t4, t5);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_sleep                                                              */

static int64_t slept[3];

static void *
sleep_several(void *arg)
{
    static const int ms[] = { 1, 10, 30 };

    for (int i = 0; i < 3; i++) {
        int64_t t0 = coro_now();

        EXPECT(coro_sleep(CORO_MSEC(ms[i])) == 0);
        slept[i] = coro_now() - t0;
    }
    return NULL;
}

START_TEST(test_sleep_lasts_at_least)
{
    coro_sched_t *s = new_sched();
    int64_t t0, elapsed;

    ck_assert_int_eq(coro_spawn(s, sleep_several, NULL, 0), 0);
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(s), 0);
    elapsed = coro_now() - t0;
    ck_assert_int_ge(slept[0], CORO_MSEC(1));
    ck_assert_int_ge(slept[1], CORO_MSEC(10));
    ck_assert_int_ge(slept[2], CORO_MSEC(30));
    ck_assert_int_ge(elapsed, CORO_MSEC(41));
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));
    /* The start and one wake-up per sleep, no more (a wait does not spin);
     * fewer when the machine is so slow (valgrind) that a deadline has
     * passed before the task gives way: the task then goes on without a
     * switch. */
    ck_assert_uint_ge(coro_sched_switches(s), 1);
    ck_assert_uint_le(coro_sched_switches(s), 4);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

static void *
gen_sleeps(void *arg)
{
    EXPECT_FAILS(coro_sleep(0), EPERM);
    EXPECT_FAILS(coro_sleep(CORO_MSEC(1)), EPERM);
    return NULL;
}

static void
handler_sleeps(void *arg)
{
    EXPECT_FAILS(coro_sleep(0), ECANCELED);
    EXPECT_FAILS(coro_sleep(CORO_MSEC(1)), ECANCELED);
    ev("handler");
}

static void *
sleep_errors_task(void *arg)
{
    coro_sched_t *s = arg;
    uint64_t before = coro_sched_switches(s);
    coro_t *g = coro_create(gen_sleeps, NULL, 0);

    EXPECT(coro_defer(handler_sleeps, NULL) == 0);
    EXPECT_FAILS(coro_sleep(-1), EINVAL);
    EXPECT_FAILS(coro_sleep(INT64_MIN), EINVAL);
    EXPECT(coro_sched_switches(s) == before); /* it did not sleep */
    EXPECT(g != NULL);
    if (g != NULL) {
        EXPECT(coro_resume(g, NULL, NULL) == 1);
        EXPECT(coro_destroy(g) == 0);
    }
    ev("task");
    return NULL;
}

START_TEST(test_sleep_errors)
{
    coro_sched_t *s = new_sched();

    ASSERT_FAILS(coro_sleep(0), EPERM);
    ASSERT_FAILS(coro_sleep(CORO_MSEC(1)), EPERM);
    ck_assert_int_eq(coro_spawn(s, sleep_errors_task, s, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "task handler");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* coro_sleep_until(): the deadline is on coro_now()'s clock; a past one
 * returns at once (after a turn of the others, as coro_sleep(0)). */
static void *
sleep_until_task(void *arg)
{
    int64_t t0 = coro_now(), t1;

    (void)arg;
    EXPECT(coro_sleep_until(t0 + CORO_MSEC(20)) == 0);
    t1 = coro_now();
    EXPECT(t1 >= t0 + CORO_MSEC(20));
    EXPECT(t1 < t0 + CORO_MSEC(5000));
    EXPECT(coro_sleep_until(0) == 0); /* long past */
    EXPECT(coro_sleep_until(t1) == 0);
    EXPECT_FAILS(coro_sleep_until(-1), EINVAL);
    EXPECT_FAILS(coro_sleep_until(INT64_MIN), EINVAL);
    ev("slept");
    return NULL;
}

START_TEST(test_sleep_until)
{
    coro_sched_t *s = new_sched();

    ASSERT_FAILS(coro_sleep_until(coro_now()), EPERM);
    ck_assert_int_eq(coro_spawn(s, sleep_until_task, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "slept");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* coro_sleep(0) lets every other ready task have a turn, and the sleeper
 * is back within about a round: before any of them has a third turn. */
static void *
sleep_zero(void *arg)
{
    ev("A0");
    EXPECT(coro_sleep(0) == 0);
    ev("A1");
    return NULL;
}

static void *
yield_three_times(void *arg)
{
    const char *name = arg;

    for (int i = 0; i < 3; i++) {
        ev("%s%d", name, i);
        coro_sched_yield();
    }
    return NULL;
}

/* Where word is in the event log (-1 if it is not). */
static int
pos(const char *word)
{
    static char padded[sizeof evlog + 2];
    char key[32];
    const char *p;

    snprintf(key, sizeof key, " %s ", word);
    snprintf(padded, sizeof padded, " %s ", evlog);
    p = strstr(padded, key);
    return p ? (int)(p - padded) : -1;
}

START_TEST(test_sleep_zero_lets_others_run)
{
    coro_sched_t *s = new_sched();

    ck_assert_int_eq(coro_spawn(s, sleep_zero, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, yield_three_times, "B", 0), 0);
    ck_assert_int_eq(coro_spawn(s, yield_three_times, "C", 0), 0);
    ck_assert_int_eq(coro_spawn(s, yield_three_times, "D", 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_ge(pos("A1"), 0);
    ck_assert_msg(pos("B0") < pos("A1") && pos("C0") < pos("A1") && pos("D0") < pos("A1"),
                  "the sleeper came back before the others ran: %s", evlog);
    ck_assert_msg(pos("A1") < pos("B2"), "sleep(0) lasted more than a round: %s", evlog);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A sleeper does not stop the others, and tasks that never stop yielding
 * do not stop the sleeper from waking (the timers are checked every round,
 * not only when nothing is ready). */
static int sleeper_woke, busy_gave_up;
static long busy_turns;

static void *
sleeper_50(void *arg)
{
    EXPECT(coro_sleep(CORO_MSEC(50)) == 0);
    sleeper_woke = 1;
    return NULL;
}

static void *
busy_yielder(void *arg)
{
    int64_t t0 = coro_now();

    while (!sleeper_woke) {
        if (coro_now() - t0 > CORO_MSEC(5000)) {
            busy_gave_up = 1;
            break;
        }
        busy_turns++;
        coro_sched_yield();
    }
    return NULL;
}

START_TEST(test_sleeper_wakes_among_busy_tasks)
{
    coro_sched_t *s = new_sched();

    sleeper_woke = busy_gave_up = 0;
    busy_turns = 0;
    ck_assert_int_eq(coro_spawn(s, sleeper_50, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, busy_yielder, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, busy_yielder, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(sleeper_woke, 1);
    ck_assert_int_eq(busy_gave_up, 0); /* it woke while they kept running */
    ck_assert_int_gt(busy_turns, 2);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* While N tasks keep yielding, an expired deadline is noticed within a
 * round and the sleeper then waits behind those already queued: at most
 * 2N turns of the others pass between the moment its deadline has surely
 * passed and its return. To know that moment without racing the
 * library's own reading of the clock, one task spins in a single turn
 * until 50 ms after the deadline. */
#define ROUND_TASKS 3

static int64_t round_t0;
static int round_spun, round_woke;
static long round_turns_after;

static void *
round_sleeper(void *arg)
{
    round_t0 = coro_now();
    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    round_woke = 1;
    return NULL;
}

static void *
round_yielder(void *arg)
{
    int id = (int)VI(arg);
    long turns = 0;

    while (!round_woke && turns++ < 1000000) {
        if (round_spun) {
            round_turns_after++;
        } else if (id == 0) {
            while (coro_now() < round_t0 + CORO_MSEC(70))
                ;
            round_spun = 1;
        }
        coro_sched_yield();
    }
    return NULL;
}

START_TEST(test_deadline_noticed_within_a_round)
{
    coro_sched_t *s = new_sched();

    round_spun = round_woke = 0;
    round_turns_after = 0;
    ck_assert_int_eq(coro_spawn(s, round_sleeper, NULL, 0), 0);
    for (int i = 0; i < ROUND_TASKS; i++)
        ck_assert_int_eq(coro_spawn(s, round_yielder, IV(i), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(round_woke, 1);
    ck_assert_int_eq(round_spun, 1);
    ck_assert_int_le(round_turns_after, 2 * ROUND_TASKS);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A round never outlasts the tasks that are ready. A timer fires while
 * about 1,000 tasks are ready, and the round is counted then; with no timer
 * armed, they run without counting and block. A task then sleeps beside one
 * busy task: its expired deadline is noticed within a turn or two of the
 * busy task, not after the 1,000 turns the stale round counted. */
#define SHRINK_BLOCKERS 1000

static coro_chan_t *shrink_chan;
static int shrink_phase, shrink_blocked, shrink_armed, shrink_epipe;

static void *
shrink_first_sleeper(void *arg)
{
    (void)arg;
    EXPECT(coro_sleep(CORO_MSEC(1)) == 0); /* fires while the others are ready */
    shrink_phase = 1;
    return NULL;
}

static void *
shrink_blocker(void *arg)
{
    int v;

    (void)arg;
    while (!shrink_phase)
        coro_sched_yield();
    shrink_blocked++;
    if (coro_chan_recv(shrink_chan, &v) == -1 && errno == EPIPE)
        shrink_epipe++;
    return NULL;
}

static void *
shrink_sleeper(void *arg)
{
    (void)arg;
    while (shrink_blocked < SHRINK_BLOCKERS)
        coro_sched_yield();
    round_t0 = coro_now();
    shrink_armed = 1;
    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    round_woke = 1;
    EXPECT(coro_chan_close(shrink_chan) == 0);
    return NULL;
}

static void *
shrink_busy(void *arg)
{
    long turns = 0;

    (void)arg;
    while (!round_woke && turns++ < 10000000) {
        if (round_spun) {
            round_turns_after++;
        } else if (shrink_armed) {
            while (coro_now() < round_t0 + CORO_MSEC(70))
                ;
            round_spun = 1;
        }
        coro_sched_yield();
    }
    return NULL;
}

START_TEST(test_round_ends_when_queue_shrinks)
{
    coro_sched_t *s = new_sched();

    round_spun = round_woke = 0;
    round_turns_after = 0;
    shrink_phase = shrink_blocked = shrink_armed = shrink_epipe = 0;
    ck_assert_ptr_nonnull(shrink_chan = coro_chan_create(sizeof(int), 0));
    ck_assert_int_eq(coro_spawn(s, shrink_first_sleeper, NULL, 0), 0);
    for (int i = 0; i < SHRINK_BLOCKERS; i++)
        ck_assert_int_eq(coro_spawn(s, shrink_blocker, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, shrink_sleeper, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, shrink_busy, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(round_woke, 1);
    ck_assert_int_eq(round_spun, 1);
    ck_assert_int_eq(shrink_epipe, SHRINK_BLOCKERS);
    ck_assert_int_le(round_turns_after, 2);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(shrink_chan), 0);
}
END_TEST

/* Signals interrupt the scheduler's own sleep, not the task's. */
static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static int64_t sig_slept;

static void *
sleep_100(void *arg)
{
    int64_t t0 = coro_now();

    EXPECT(coro_sleep(CORO_MSEC(100)) == 0);
    sig_slept = coro_now() - t0;
    return NULL;
}

START_TEST(test_signals_do_not_cut_sleep)
{
    coro_sched_t *s = new_sched();
    struct sigaction sa, old;
    struct itimerval every_10ms = { { 0, 10000 }, { 0, 10000 } }, off = { { 0, 0 }, { 0, 0 } };
    int rc;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: the sleep sees EINTR */
    sigemptyset(&sa.sa_mask);
    alarms = 0;
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_100, NULL, 0), 0);
    ck_assert_int_eq(setitimer(ITIMER_REAL, &every_10ms, NULL), 0);
    rc = coro_sched_run(s);
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &old, NULL);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_gt(alarms, 0);
    ck_assert_int_ge(sig_slept, CORO_MSEC(100));
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Wake-up order                                                           */

static void *
sleep_ms(void *arg)
{
    int ms = (int)VI(arg);

    EXPECT(coro_sleep(CORO_MSEC(ms)) == 0);
    ev("%d", ms);
    return NULL;
}

START_TEST(test_wake_in_deadline_order)
{
    coro_sched_t *s = new_sched();

    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(30), 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(10), 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(20), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "10 20 30");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* The same duration, armed one after another: they wake in the order they
 * were armed, however the heap is shaped by the others. */
#define SAME_N 40

static void *
sleep_tagged(void *arg)
{
    int tag = (int)VI(arg);

    EXPECT(coro_sleep(CORO_MSEC(tag < 100 ? 15 : 60)) == 0);
    ev("%d", tag);
    return NULL;
}

START_TEST(test_equal_durations_in_arm_order)
{
    coro_sched_t *s = new_sched();
    char want[1024] = "";

    /* Tags < 100 sleep 15 ms, the others 60 ms; spawned interleaved. */
    for (int i = 0; i < SAME_N; i++)
        ck_assert_int_eq(coro_spawn(s, sleep_tagged, IV(i % 3 ? i : 100 + i), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    for (int i = 0; i < SAME_N; i++) {
        size_t len = strlen(want);

        if (i % 3)
            snprintf(want + len, sizeof want - len, "%s%d", len ? " " : "", i);
    }
    for (int i = 0; i < SAME_N; i++) {
        size_t len = strlen(want);

        if (i % 3 == 0)
            snprintf(want + len, sizeof want - len, " %d", 100 + i);
    }
    ck_assert_str_eq(evlog, want);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The heap under load                                                     */

/* A timeline of what tasks did, in the order they did it, with the time
 * each read. A task arming a deadline of now + d reads t, then the library
 * reads now (>= t) before switching away, and whatever runs next reads its
 * own time later still: the deadline lies in [t + d, t_next + d]. A wake
 * order is wrong only if a task woke before another whose whole interval
 * lies before its own. */
enum { ARM = 1, WAKE = 2, STEP = 3 }; /* STEP: any other step, only a time */

struct event {
    int kind, task;
    int64_t t;
};

struct timeline {
    struct event *e;
    int n, cap;
    int64_t *d;        /* per task: the duration armed, or -1 */
    int64_t *lo, *hi;  /* per task: its deadline lies in [lo, hi] */
    int *woke;         /* tasks in the order they woke from a deadline */
    int nwoke;
};

static struct timeline tl;

static void
tl_init(int tasks)
{
    tl.cap = 4 * tasks + 16;
    tl.n = tl.nwoke = 0;
    tl.e = calloc((size_t)tl.cap, sizeof *tl.e);
    tl.d = calloc((size_t)tasks, sizeof *tl.d);
    tl.lo = calloc((size_t)tasks, sizeof *tl.lo);
    tl.hi = calloc((size_t)tasks, sizeof *tl.hi);
    tl.woke = calloc((size_t)tasks, sizeof *tl.woke);
    ck_assert_ptr_nonnull(tl.e);
    ck_assert_ptr_nonnull(tl.d);
    ck_assert_ptr_nonnull(tl.lo);
    ck_assert_ptr_nonnull(tl.hi);
    ck_assert_ptr_nonnull(tl.woke);
    for (int i = 0; i < tasks; i++)
        tl.d[i] = -1;
}

static void
tl_free(void)
{
    free(tl.e);
    free(tl.d);
    free(tl.lo);
    free(tl.hi);
    free(tl.woke);
    memset(&tl, 0, sizeof tl);
}

/* Any task's step: its time goes on the timeline. */
static void
tl_note(int kind, int task)
{
    if (tl.n >= tl.cap) {
        bad("timeline full");
        return;
    }
    tl.e[tl.n++] = (struct event){ kind, task, coro_now() };
}

/* Call right before arming a deadline of now + d. */
static void
tl_arm(int task, int64_t d)
{
    tl.d[task] = d;
    tl_note(ARM, task);
}

/* Call right after waking because the deadline passed. */
static void
tl_woke(int task)
{
    tl_note(WAKE, task);
    tl.woke[tl.nwoke++] = task;
}

/* Every woken task woke no earlier than its deadline could be, and none
 * woke before one whose deadline was surely earlier. */
static void
tl_check(int expected_wakes)
{
    int64_t max_lo = INT64_MIN;
    int worst = -1;

    for (int k = 0; k < tl.n; k++) {
        if (tl.e[k].kind != ARM)
            continue;
        ck_assert_int_lt(k + 1, tl.n); /* something always runs after an arm */
        tl.lo[tl.e[k].task] = tl.e[k].t + tl.d[tl.e[k].task];
        tl.hi[tl.e[k].task] = tl.e[k + 1].t + tl.d[tl.e[k].task];
    }
    ck_assert_int_eq(tl.nwoke, expected_wakes);
    for (int k = 0; k < tl.n; k++)
        if (tl.e[k].kind == WAKE)
            ck_assert_msg(tl.e[k].t >= tl.lo[tl.e[k].task], "task %d woke %lld ns early",
                          tl.e[k].task, (long long)(tl.lo[tl.e[k].task] - tl.e[k].t));
    for (int w = 0; w < tl.nwoke; w++) {
        int b = tl.woke[w];

        if (max_lo > tl.hi[b])
            ck_abort_msg("wake %d: task %d (deadline <= %lld) woke after task %d "
                         "(deadline >= %lld)", w, b, (long long)tl.hi[b], worst,
                         (long long)max_lo);
        if (tl.lo[b] > max_lo) {
            max_lo = tl.lo[b];
            worst = b;
        }
    }
}

static void *
heap_sleeper(void *arg)
{
    int i = (int)VI(arg);
    int64_t d = tl.d[i]; /* chosen by the test before the run */

    tl_arm(i, d);
    EXPECT(coro_sleep(d) == 0);
    tl_woke(i);
    return NULL;
}

/* 10,000 sleepers with random durations of 0 to 20 ms wake in deadline
 * order (a few seconds under valgrind). */
#define HEAP_SLEEPERS 10000

START_TEST(test_heap_many_sleepers)
{
    int n = HEAP_SLEEPERS;
    coro_sched_t *s = new_sched();

    tl_init(n);
    rng_seed(20261126);
    for (int i = 0; i < n; i++) {
        tl.d[i] = rng_range(0, CORO_MSEC(20));
        ck_assert_int_eq(coro_spawn(s, heap_sleeper, IV(i), CORO_STACK_MIN), 0);
    }
    ck_assert_int_eq(coro_sched_run(s), 0);
    ASSERT_TASKS_OK();
    tl_check(n);
    tl_free();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Deadlines cancelled early leave the heap consistent. Four kinds of task
 * run at once: receivers with long timeouts (5 to 8 s) that their partners
 * satisfy after a random sleep, so their deadlines leave the heap from
 * wherever they are; receivers with short timeouts (1 to 30 ms) nobody
 * sends to; and plain sleepers. Every deadline that fires must fire in
 * order, the early ones must not fire at all (the run ends long before
 * 5 s), and a second batch of sleepers afterwards still wakes in order. */
#define RM_PAIRS 200
#define RM_EXPIRING 200
#define RM_SLEEPERS 200
#define RM_TASKS (3 * RM_PAIRS + RM_EXPIRING + RM_SLEEPERS)

static coro_chan_t *rm_ch[RM_PAIRS + RM_EXPIRING];
static int64_t rm_timeout[RM_TASKS];
static int rm_rc[RM_TASKS], rm_err[RM_TASKS], rm_val[RM_TASKS];

/* Task ids: [0, P) early receivers, [P, 2P) their partners, [2P, 2P+E)
 * expiring receivers, then sleepers. */
static void *
rm_early_receiver(void *arg)
{
    int i = (int)VI(arg);

    tl_note(STEP, i);
    errno = 0;
    rm_rc[i] = coro_chan_recv_timeout(rm_ch[i], &rm_val[i], rm_timeout[i]);
    rm_err[i] = errno;
    tl_note(STEP, i);
    return NULL;
}

static void *
rm_partner(void *arg)
{
    int id = (int)VI(arg), i = id - RM_PAIRS, v = 1000 + i;

    tl_arm(id, tl.d[id]);
    EXPECT(coro_sleep(tl.d[id]) == 0);
    tl_woke(id);
    EXPECT(coro_chan_send(rm_ch[i], &v) == 0);
    return NULL;
}

static void *
rm_expiring(void *arg)
{
    int id = (int)VI(arg), c = id - RM_PAIRS;
    int64_t d = tl.d[id];

    tl_arm(id, d);
    errno = 0;
    rm_rc[id] = coro_chan_recv_timeout(rm_ch[c], &rm_val[id], d);
    rm_err[id] = errno;
    tl_woke(id);
    return NULL;
}

START_TEST(test_heap_removals)
{
    coro_sched_t *s = new_sched();
    int64_t t0, elapsed;
    int fired = RM_PAIRS + RM_EXPIRING + RM_SLEEPERS;

    tl_init(RM_TASKS + RM_SLEEPERS);
    rng_seed(42);
    for (int i = 0; i < RM_PAIRS + RM_EXPIRING; i++) {
        rm_ch[i] = coro_chan_create(sizeof(int), i % 2);
        ck_assert_ptr_nonnull(rm_ch[i]);
    }
    /* Spawned shuffled by kind, so that arms and removals interleave. */
    for (int k = 0; k < RM_PAIRS; k++) {
        int early = k, partner = RM_PAIRS + k, expiring = 2 * RM_PAIRS + k;
        int sleeper = 2 * RM_PAIRS + RM_EXPIRING + k;

        rm_timeout[early] = rng_range(CORO_MSEC(5000), CORO_MSEC(8000));
        tl.d[partner] = rng_range(0, CORO_MSEC(10));
        tl.d[expiring] = rng_range(CORO_MSEC(1), CORO_MSEC(30));
        tl.d[sleeper] = rng_range(0, CORO_MSEC(30));
        rm_rc[early] = rm_rc[expiring] = 99;
        if (k % 2) {
            ck_assert_int_eq(coro_spawn(s, rm_early_receiver, IV(early), CORO_STACK_MIN), 0);
            ck_assert_int_eq(coro_spawn(s, rm_partner, IV(partner), CORO_STACK_MIN), 0);
        } else {
            ck_assert_int_eq(coro_spawn(s, rm_partner, IV(partner), CORO_STACK_MIN), 0);
            ck_assert_int_eq(coro_spawn(s, rm_expiring, IV(expiring), CORO_STACK_MIN), 0);
            ck_assert_int_eq(coro_spawn(s, rm_early_receiver, IV(early), CORO_STACK_MIN), 0);
        }
        ck_assert_int_eq(coro_spawn(s, heap_sleeper, IV(sleeper), CORO_STACK_MIN), 0);
        if (k % 2)
            ck_assert_int_eq(coro_spawn(s, rm_expiring, IV(expiring), CORO_STACK_MIN), 0);
    }
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(s), 0);
    elapsed = coro_now() - t0;
    ASSERT_TASKS_OK();
    ck_assert_int_lt(elapsed, CORO_MSEC(4500)); /* no early deadline was left */
    for (int k = 0; k < RM_PAIRS; k++) {
        ck_assert_int_eq(rm_rc[k], 0);
        ck_assert_int_eq(rm_val[k], 1000 + k);
        ck_assert_int_eq(rm_rc[2 * RM_PAIRS + k], -1);
        ck_assert_int_eq(rm_err[2 * RM_PAIRS + k], ETIMEDOUT);
    }
    /* Only partners, expiring receivers and sleepers woke from a deadline. */
    tl_check(fired);
    for (int w = 0; w < tl.nwoke; w++)
        ck_assert_int_ge(tl.woke[w], RM_PAIRS);

    /* A second batch on the same heap. */
    tl.n = tl.nwoke = 0;
    for (int i = RM_TASKS; i < RM_TASKS + RM_SLEEPERS; i++) {
        tl.d[i] = rng_range(0, CORO_MSEC(20));
        ck_assert_int_eq(coro_spawn(s, heap_sleeper, IV(i), CORO_STACK_MIN), 0);
    }
    ck_assert_int_eq(coro_sched_run(s), 0);
    ASSERT_TASKS_OK();
    tl_check(RM_SLEEPERS);
    tl_free();
    for (int i = 0; i < RM_PAIRS + RM_EXPIRING; i++)
        ck_assert_int_eq(coro_chan_destroy(rm_ch[i]), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Deadlines beyond the clock's range                                      */

/* One task waits with a deadline of (nearly) INT64_MAX ns from now, and
 * nothing else can wake it. Saturated, that is still a deadline: the run
 * must sleep, rather than report EDEADLK as it does for no deadline at all
 * (the sum wrapped to a negative value), or return at once (it wrapped
 * into the past). It runs in a child process, killed after a while. */
static coro_chan_t *huge_ch;

static void *
huge_task(void *arg)
{
    int v = 0;
    coro_sel_t sel = { huge_ch, CORO_RECV, &v, 0 };

    switch ((int)VI(arg)) {
    case 0:
        coro_sleep(INT64_MAX);
        break;
    case 1:
        coro_sleep(INT64_MAX - 1);
        break;
    case 2:
        coro_chan_recv_timeout(huge_ch, &v, INT64_MAX);
        break;
    case 3:
        coro_chan_send_timeout(huge_ch, &v, INT64_MAX);
        break;
    default:
        coro_select(&sel, 1, INT64_MAX);
        break;
    }
    return NULL;
}

static _Noreturn void
huge_child(int kind, int ready_fd)
{
    coro_sched_t *s = coro_sched_create();
    char byte = 'r';
    int rc;

    huge_ch = coro_chan_create(sizeof(int), 0);
    if (s == NULL || huge_ch == NULL || coro_spawn(s, huge_task, IV(kind), 0) != 0)
        _exit(10);
    if (write(ready_fd, &byte, 1) != 1)
        _exit(11);
    rc = coro_sched_run(s);
    _exit(rc == 0 ? 20 : errno == EDEADLK ? 21 : 22);
}

START_TEST(test_huge_deadline_is_kept)
{
    int fds[2], status = 0;
    char byte;
    pid_t pid, w = 0;
    int64_t t0;
    struct timespec five_ms = { 0, 5000000 };

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        huge_child(_i, fds[1]);
    }
    close(fds[1]);
    ck_assert_int_eq(read(fds[0], &byte, 1), 1); /* about to run */
    close(fds[0]);
    t0 = coro_now();
    while (w == 0 && coro_now() - t0 < CORO_MSEC(RUNNING_ON_VALGRIND ? 600 : 300)) {
        nanosleep(&five_ms, NULL);
        w = waitpid(pid, &status, WNOHANG);
    }
    if (w == 0) {
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        ck_assert_int_eq(WTERMSIG(status), SIGKILL);
    } else {
        ck_abort_msg("the run returned (exit status %d; 20: the task ended, 21: EDEADLK)",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}
END_TEST

/* Such a deadline does not fire early, and an operation that completes
 * removes it: the run ends with the tasks. */
static void *
huge_select(void *arg)
{
    int v = 0;
    coro_sel_t sel = { huge_ch, CORO_RECV, &v, 0 };

    EXPECT(coro_select(&sel, 1, INT64_MAX) == 0);
    ev("A=%d", v);
    return NULL;
}

static void *
huge_recv(void *arg)
{
    coro_chan_t *c = arg;
    int v = 0;

    EXPECT(coro_chan_recv_timeout(c, &v, INT64_MAX - 1) == 0);
    ev("B=%d", v);
    return NULL;
}

static void *
sleep_then_send_both(void *arg)
{
    coro_chan_t *c = arg;
    int v = 1;

    EXPECT(coro_sleep(CORO_MSEC(20)) == 0);
    EXPECT(coro_chan_send(huge_ch, &v) == 0);
    v = 2;
    EXPECT(coro_chan_send(c, &v) == 0);
    ev("C");
    return NULL;
}

START_TEST(test_huge_deadline_completes)
{
    coro_sched_t *s = new_sched();
    coro_chan_t *c = coro_chan_create(sizeof(int), 0);
    int64_t t0, elapsed;

    huge_ch = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_nonnull(huge_ch);
    ck_assert_int_eq(coro_spawn(s, huge_select, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, huge_recv, c, 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_then_send_both, c, 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(10), 0), 0);
    t0 = coro_now();
    ck_assert_int_eq(coro_sched_run(s), 0);
    elapsed = coro_now() - t0;
    ck_assert_str_eq(evlog, "10 C A=1 B=2");
    ck_assert_int_ge(elapsed, CORO_MSEC(20));
    ck_assert_int_lt(elapsed, CORO_MSEC(5000));
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(c), 0);
    ck_assert_int_eq(coro_chan_destroy(huge_ch), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* An idle scheduler sleeps                                                */

START_TEST(test_idle_uses_no_cpu)
{
    coro_sched_t *s = new_sched();
    int64_t cpu, wall;

    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(200), 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(300), 0), 0);
    ck_assert_int_eq(coro_spawn(s, sleep_ms, IV(250), 0), 0);
    cpu = mono_ns(CLOCK_PROCESS_CPUTIME_ID);
    wall = coro_now();
    ck_assert_int_eq(coro_sched_run(s), 0);
    cpu = mono_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    wall = coro_now() - wall;
    ck_assert_str_eq(evlog, "200 250 300");
    ck_assert_int_ge(wall, CORO_MSEC(300));
    ck_assert_msg(cpu < wall / 2, "%lld ns of CPU time in %lld ns: the scheduler spins",
                  (long long)cpu, (long long)wall);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *
time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc;

    tc = tasklog_tcase(s, "now", tasklog_reset);
    tcase_add_test(tc, test_now_monotonic);
    tcase_add_test(tc, test_now_is_clock_monotonic);
    tcase_add_test(tc, test_now_anywhere);

    tc = tasklog_tcase(s, "sleep", tasklog_reset);
    tcase_add_test(tc, test_sleep_lasts_at_least);
    tcase_add_test(tc, test_sleep_errors);
    tcase_add_test(tc, test_sleep_until);
    tcase_add_test(tc, test_sleep_zero_lets_others_run);
    tcase_add_test(tc, test_sleeper_wakes_among_busy_tasks);
    tcase_add_test(tc, test_deadline_noticed_within_a_round);
    tcase_add_test(tc, test_round_ends_when_queue_shrinks);
    tcase_add_test(tc, test_signals_do_not_cut_sleep);

    tc = tasklog_tcase(s, "order", tasklog_reset);
    tcase_add_test(tc, test_wake_in_deadline_order);
    tcase_add_test(tc, test_equal_durations_in_arm_order);

    tc = tasklog_tcase(s, "heap", tasklog_reset);
    tcase_add_test(tc, test_heap_many_sleepers);
    tcase_add_test(tc, test_heap_removals);

    tc = tasklog_tcase(s, "huge", tasklog_reset);
    tcase_add_loop_test(tc, test_huge_deadline_is_kept, 0, 5);
    tcase_add_test(tc, test_huge_deadline_completes);

    tc = tasklog_tcase(s, "idle", tasklog_reset);
    tcase_add_test(tc, test_idle_uses_no_cpu);

    return s;
}

TEST_MAIN(time_suite)
