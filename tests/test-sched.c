/*
 * test-sched: the round-robin scheduler. Run order (spawn order; a task
 * that yields or is woken goes to the back), coro_spawn before and during a
 * run, tasks freed as soon as they end, EDEADLK and what a later run does,
 * coro_sched_destroy closing what is left, every error, generators and runs
 * nested in tasks, the switch counter, and schedulers on two threads.
 *
 * Tasks record what they see (an event log and failed checks); the
 * assertions run on the test's own stack once coro_sched_run() is back.
 */
#include "testutil.h"
#include "tasklog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void
log_handler(void *word)
{
    ev("%s", (const char *)word);
}

static void
count_handler(void *counter)
{
    (*(int *)counter)++;
}

/* ---------------------------------------------------------------------- */
/* Run order                                                               */

#define RR_TASKS 4
#define RR_ROUNDS 3

static void *
rr_sched_yield(void *arg)
{
    int id = (int)VI(arg);

    for (int i = 0; i < RR_ROUNDS; i++) {
        ev("%d", id);
        EXPECT(coro_sched_yield() == 0);
    }
    return NULL;
}

/* In a task a plain coro_yield() is a coro_sched_yield(): the scheduler
 * ignores the value and sends back NULL. */
static void *
rr_coro_yield(void *arg)
{
    int id = (int)VI(arg);

    for (int i = 0; i < RR_ROUNDS; i++) {
        ev("%d", id);
        EXPECT(coro_yield(IV(1000 + i)) == NULL);
    }
    return NULL;
}

static const char *
rr_expected(void)
{
    static char s[256];

    s[0] = '\0';
    for (int r = 0; r < RR_ROUNDS; r++)
        for (int id = 1; id <= RR_TASKS; id++)
            snprintf(s + strlen(s), sizeof s - strlen(s), "%s%d", s[0] ? " " : "", id);
    return s;
}

START_TEST(test_round_robin_sched_yield)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    for (int id = 1; id <= RR_TASKS; id++)
        ck_assert_int_eq(coro_spawn(s, rr_sched_yield, IV(id), 0), 0);
    ck_assert_str_eq(evlog, ""); /* nothing runs before coro_sched_run */
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, rr_expected());
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

START_TEST(test_round_robin_coro_yield)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    for (int id = 1; id <= RR_TASKS; id++)
        ck_assert_int_eq(coro_spawn(s, rr_coro_yield, IV(id), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, rr_expected());
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Both kinds of yield in one run: the same queue. */
START_TEST(test_round_robin_mixed)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    for (int id = 1; id <= RR_TASKS; id++)
        ck_assert_int_eq(coro_spawn(s, id % 2 ? rr_coro_yield : rr_sched_yield, IV(id), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, rr_expected());
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

static void *
log_id(void *arg)
{
    ev("%d", (int)VI(arg));
    return NULL;
}

START_TEST(test_spawn_order)
{
    coro_sched_t *s = coro_sched_create();
    static const int ids[] = { 5, 3, 9, 1, 7 };

    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        ck_assert_int_eq(coro_spawn(s, log_id, IV(ids[i]), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "5 3 9 1 7");
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A lone task that yields comes straight back. */
static void *
yield_alone(void *arg)
{
    int *n = arg;

    for (int i = 0; i < 5; i++) {
        EXPECT(coro_sched_yield() == 0);
        (*n)++;
    }
    return NULL;
}

START_TEST(test_yield_alone)
{
    coro_sched_t *s = coro_sched_create();
    int n = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, yield_alone, &n, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_uint_eq(coro_sched_switches(s), 1); /* alone, its yields switch nothing */
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A woken task goes to the back of the ready queue at the moment it is
 * woken: W waits; A sends to it while B is queued; W must run after B and
 * before A, which yielded after the send. */
static coro_chan_t *wake_ch;

static void *
wake_w(void *arg)
{
    int v = 0;

    ev("W0");
    EXPECT(coro_chan_recv(wake_ch, &v) == 0);
    ev("W1=%d", v);
    return NULL;
}

static void *
wake_a(void *arg)
{
    int v = 42;

    for (int i = 0; i < 3; i++) {
        ev("A%d", i);
        if (i == 1)
            EXPECT(coro_chan_send(wake_ch, &v) == 0);
        coro_sched_yield();
    }
    return NULL;
}

static void *
wake_b(void *arg)
{
    for (int i = 0; i < 3; i++) {
        ev("B%d", i);
        coro_sched_yield();
    }
    return NULL;
}

START_TEST(test_woken_goes_to_back)
{
    coro_sched_t *s = coro_sched_create();

    wake_ch = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(wake_ch);
    ck_assert_int_eq(coro_spawn(s, wake_w, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, wake_a, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, wake_b, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "W0 A0 B0 A1 B1 W1=42 A2 B2");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(wake_ch), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_spawn                                                              */

static void *
set_flag(void *arg)
{
    (*(int *)arg)++;
    return NULL;
}

START_TEST(test_spawn_runs_nothing_yet)
{
    coro_sched_t *s = coro_sched_create();
    int flag = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, set_flag, &flag, 0), 0);
    ck_assert_int_eq(flag, 0);
    ck_assert_uint_eq(coro_sched_switches(s), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(flag, 1);
    ck_assert_int_eq(coro_sched_run(s), 0); /* the task is gone */
    ck_assert_int_eq(flag, 1);
    ck_assert_uint_eq(coro_sched_switches(s), 1);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* P spawns C into its own scheduler during the run; C joins the back of
 * the queue, behind X, and runs in the same run. */
static void *
sp_child(void *arg)
{
    ev("C0");
    return NULL;
}

static void *
sp_parent(void *arg)
{
    coro_sched_t *s = arg;

    ev("P0");
    EXPECT(coro_sched_self() == s);
    EXPECT(coro_spawn(coro_sched_self(), sp_child, NULL, 0) == 0);
    coro_sched_yield();
    ev("P1");
    return NULL;
}

static void *
sp_other(void *arg)
{
    ev("X0");
    coro_sched_yield();
    ev("X1");
    return NULL;
}

START_TEST(test_spawn_during_run)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, sp_parent, s, 0), 0);
    ck_assert_int_eq(coro_spawn(s, sp_other, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "P0 X0 C0 P1 X1");
    ck_assert_uint_eq(coro_sched_switches(s), 5);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

START_TEST(test_spawn_between_runs)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, log_id, IV(1), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(coro_spawn(s, log_id, IV(2), 0), 0);
    ck_assert_int_eq(coro_spawn(s, log_id, IV(3), 0), 0);
    ck_assert_str_eq(evlog, "1");
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "1 2 3");
    ck_assert_uint_eq(coro_sched_switches(s), 3);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Task i spawns tasks 2i and 2i+1: since spawned tasks join the back of
 * the queue, they run breadth first, in the order 1, 2, 3, ... */
#define TREE_TASKS 511

static int tree_order[TREE_TASKS + 1];
static int tree_n;

static void *
tree_task(void *arg)
{
    intptr_t i = VI(arg);

    tree_order[tree_n++] = (int)i;
    for (intptr_t c = 2 * i; c <= 2 * i + 1 && c <= TREE_TASKS; c++)
        EXPECT(coro_spawn(coro_sched_self(), tree_task, IV(c), CORO_STACK_MIN) == 0);
    return NULL;
}

START_TEST(test_spawn_tree)
{
    coro_sched_t *s = coro_sched_create();

    tree_n = 0;
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, tree_task, IV(1), CORO_STACK_MIN), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(tree_n, TREE_TASKS);
    for (int i = 0; i < TREE_TASKS; i++)
        ck_assert_int_eq(tree_order[i], i + 1);
    ck_assert_uint_eq(coro_sched_switches(s), TREE_TASKS);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Each task fills most of its stack. */
static void *
use_stack(void *arg)
{
    size_t n = (size_t)VI(arg);
    volatile unsigned char *buf = __builtin_alloca(n);

    for (size_t i = 0; i < n; i += 512)
        buf[i] = (unsigned char)i;
    coro_sched_yield();
    for (size_t i = 0; i < n; i += 512)
        EXPECT(buf[i] == (unsigned char)i);
    ev("%zu", n);
    return NULL;
}

START_TEST(test_spawn_stack_sizes)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    /* 1 is raised to CORO_STACK_MIN; the others are used as given. */
    ck_assert_int_eq(coro_spawn(s, use_stack, IV(8 * 1024), 1), 0);
    ck_assert_int_eq(coro_spawn(s, use_stack, IV(8 * 1024), CORO_STACK_MIN), 0);
    ck_assert_int_eq(coro_spawn(s, use_stack, IV(200 * 1024), 0), 0);
    ck_assert_int_eq(coro_spawn(s, use_stack, IV(900 * 1024), 1024 * 1024), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "8192 8192 204800 921600");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Tasks end and are freed                                                 */

static void *
end_return(void *arg)
{
    EXPECT(coro_defer(log_handler, "rA") == 0);
    EXPECT(coro_defer(log_handler, "rB") == 0);
    ev("r");
    return IV(1);
}

static void
exit_deep(int depth)
{
    if (depth == 0) {
        coro_exit(IV(2));
        bad("coro_exit returned");
    } else {
        exit_deep(depth - 1);
    }
}

static void *
end_exit(void *arg)
{
    EXPECT(coro_defer(log_handler, "eA") == 0);
    EXPECT(coro_defer(log_handler, "eB") == 0);
    ev("e");
    exit_deep(5);
    ev("after-exit");
    return NULL;
}

static void *
end_after_yields(void *arg)
{
    EXPECT(coro_defer(log_handler, "yA") == 0);
    EXPECT(coro_defer(log_handler, "yB") == 0);
    ev("y");
    coro_sched_yield();
    coro_sched_yield();
    return NULL;
}

/* However a task ends, its handlers run once, last registered first, as
 * it ends; nothing runs them again later. */
START_TEST(test_handlers_run_once)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, end_return, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, end_exit, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, end_after_yields, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "r rB rA e eB eA y yB yA");
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_str_eq(evlog, "r rB rA e eB eA y yB yA");
    ASSERT_TASKS_OK();
}
END_TEST

/* A task's stack is released as soon as it ends, during the run. With the
 * stack pool off, the task spawned after it finds the page released (not
 * resident, or unmapped with its slab); with the pool on, that task runs on
 * the very same stack. */
static uintptr_t noted_page;

static uintptr_t
page_of(const volatile void *p)
{
    return (uintptr_t)p & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
}

static void *
note_stack(void *arg)
{
    volatile char local = 1;
    unsigned char vec;

    noted_page = page_of(&local);
    EXPECT(mincore((void *)noted_page, 1, &vec) == 0); /* mapped while it runs */
    EXPECT(coro_defer(log_handler, "noted") == 0);
    return NULL;
}

static void *
probe_stack(void *arg)
{
    unsigned char vec;

    ev("probe");
    vec = 0;
    if (!TEST_SANITIZED) /* the sanitizer's own mappings may take the hole */
        EXPECT(mincore((void *)noted_page, 1, &vec) == -1 ? errno == ENOMEM : !(vec & 1));
    return NULL;
}

static void *
probe_reused(void *arg)
{
    volatile char local = 1;

    ev("reused");
    EXPECT(page_of(&local) == noted_page);
    return NULL;
}

/* Runs after note_stack has ended: the task it spawns gets a pooled stack. */
static void *
spawn_probe(void *arg)
{
    EXPECT(coro_spawn(coro_sched_self(), probe_reused, NULL, 0) == 0);
    return NULL;
}

START_TEST(test_stack_freed_when_task_ends)
{
    coro_sched_t *s = coro_sched_create();
    size_t pool = coro_stack_pool(0);

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, note_stack, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, probe_stack, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "noted probe");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_stack_pool(pool), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

START_TEST(test_stack_reused_when_task_ends)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_gt(coro_stack_pool(CORO_POOL_DEFAULT), 0);
    ck_assert_int_eq(coro_spawn(s, note_stack, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, spawn_probe, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "noted reused");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Many short-lived tasks, run after run: each ends and is freed (valgrind
 * and the mapping count would notice otherwise). */
START_TEST(test_many_short_tasks)
{
    coro_sched_t *s = coro_sched_create();
    int count = 0;

    ck_assert_ptr_nonnull(s);
    for (int run = 0; run < 10; run++) {
        for (int i = 0; i < 200; i++)
            ck_assert_int_eq(coro_spawn(s, set_flag, &count, CORO_STACK_MIN), 0);
        ck_assert_int_eq(coro_sched_run(s), 0);
        ck_assert_int_eq(count, (run + 1) * 200);
    }
    ck_assert_uint_eq(coro_sched_switches(s), 2000);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

static coro_t *seen_self[3];

static void *
record_self(void *arg)
{
    int i = (int)VI(arg);

    seen_self[i] = coro_self();
    EXPECT(seen_self[i] != NULL);
    EXPECT(coro_status(seen_self[i]) == CORO_RUNNING);
    coro_sched_yield();
    EXPECT(coro_self() == seen_self[i]);
    return NULL;
}

START_TEST(test_self_in_task)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(coro_spawn(s, record_self, IV(i), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_ptr_null(coro_self());
    ck_assert_ptr_nonnull(seen_self[0]);
    ck_assert_ptr_ne(seen_self[0], seen_self[1]);
    ck_assert_ptr_ne(seen_self[1], seen_self[2]);
    ck_assert_ptr_ne(seen_self[0], seen_self[2]);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* EDEADLK and later runs                                                  */

START_TEST(test_run_empty)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_uint_eq(coro_sched_switches(s), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

struct waiter {
    coro_chan_t *ch;
    int handler_runs;
    int rc, err, v;
};

/* Receives once; records the result and the errno. */
static void *
recv_once(void *arg)
{
    struct waiter *w = arg;

    EXPECT(coro_defer(count_handler, &w->handler_runs) == 0);
    ev("wait");
    errno = 0;
    w->rc = coro_chan_recv(w->ch, &w->v);
    w->err = errno;
    ev("woke");
    return NULL;
}

START_TEST(test_deadlock_then_close)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99, .v = 7 };

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, recv_once, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_str_eq(evlog, "wait");
    ck_assert_int_eq(w.handler_runs, 0); /* the task is kept, blocked */
    ck_assert_uint_eq(coro_sched_switches(s), 1);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK); /* still blocked: no switch */
    ck_assert_uint_eq(coro_sched_switches(s), 1);
    ASSERT_FAILS(coro_chan_destroy(w.ch), EBUSY);
    ck_assert_int_eq(coro_chan_close(w.ch), 0); /* outside any task */
    ck_assert_str_eq(evlog, "wait"); /* woken, not run yet */
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "wait woke");
    ck_assert_int_eq(w.rc, -1);
    ck_assert_int_eq(w.err, EPIPE);
    ck_assert_int_eq(w.v, 7);
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_uint_eq(coro_sched_switches(s), 2);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

START_TEST(test_deadlock_then_send)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99 };
    int v = 42;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, recv_once, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    /* A receiver waits: this send completes at once, outside a task. */
    ck_assert_int_eq(coro_chan_send(w.ch, &v), 0);
    ck_assert_str_eq(evlog, "wait");
    ck_assert_int_eq(w.v, 42); /* copied straight into the task's memory */
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "wait woke");
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

START_TEST(test_deadlock_then_send_nonblocking)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99 };
    int v = 43;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, recv_once, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_chan_send_timeout(w.ch, &v, 0), 0);
    ASSERT_FAILS(coro_chan_send_timeout(w.ch, &v, 0), EAGAIN); /* nobody waits now */
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(w.v, 43);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

static void *
send_once(void *arg)
{
    struct waiter *w = arg;

    ev("send");
    errno = 0;
    w->rc = coro_chan_send(w->ch, &w->v);
    w->err = errno;
    ev("sent");
    return NULL;
}

START_TEST(test_deadlock_then_recv)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99, .v = 7 };
    int v = 0;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, send_once, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_chan_recv(w.ch, &v), 0);
    ck_assert_int_eq(v, 7);
    ck_assert_str_eq(evlog, "send");
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "send sent");
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

/* The tasks that can finish do; EDEADLK comes when only blocked ones are
 * left, and coro_sched_destroy() then closes those. */
START_TEST(test_deadlock_partial)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99 };

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, end_return, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, recv_once, &w, 0), 0);
    ck_assert_int_eq(coro_spawn(s, end_after_yields, NULL, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_str_eq(evlog, "r rB rA wait y yB yA");
    ck_assert_int_eq(w.handler_runs, 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_str_eq(evlog, "r rB rA wait y yB yA"); /* nothing after the recv ran */
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
    ASSERT_TASKS_OK();
}
END_TEST

/* Two tasks each wait for the other. */
static coro_chan_t *mutual[2];
static int mutual_err[2];

static void *
mutual_task(void *arg)
{
    int i = (int)VI(arg), v = i;

    if (coro_chan_recv(mutual[i], &v) == -1)
        mutual_err[i] = errno;
    else
        EXPECT(coro_chan_send(mutual[1 - i], &v) == 0);
    return NULL;
}

START_TEST(test_deadlock_mutual)
{
    coro_sched_t *s = coro_sched_create();

    mutual[0] = coro_chan_create(sizeof(int), 0);
    mutual[1] = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(mutual[0]);
    ck_assert_ptr_nonnull(mutual[1]);
    ck_assert_int_eq(coro_spawn(s, mutual_task, IV(0), 0), 0);
    ck_assert_int_eq(coro_spawn(s, mutual_task, IV(1), 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_chan_close(mutual[1]), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK); /* task 0 still waits */
    ck_assert_int_eq(mutual_err[1], EPIPE);
    ck_assert_int_eq(mutual_err[0], 0);
    ck_assert_int_eq(coro_chan_close(mutual[0]), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(mutual_err[0], EPIPE);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(mutual[0]), 0);
    ck_assert_int_eq(coro_chan_destroy(mutual[1]), 0);
}
END_TEST

/* Two schedulers of one thread share a channel. A run of s1 reports
 * EDEADLK although a task of s2 would wake its task; running s2 does, and
 * the woken task goes to s1's queue, not s2's. */
static void *
send_one_value(void *arg)
{
    struct waiter *w = arg;
    int v = 1234;

    ev("s2");
    EXPECT(coro_chan_send(w->ch, &v) == 0);
    ev("s2-sent");
    return NULL;
}

START_TEST(test_deadlock_two_schedulers)
{
    coro_sched_t *s1 = coro_sched_create(), *s2 = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99 };

    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s1, recv_once, &w, 0), 0);
    ck_assert_int_eq(coro_spawn(s2, send_one_value, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s1), EDEADLK);
    ck_assert_int_eq(coro_sched_run(s2), 0);
    ck_assert_str_eq(evlog, "wait s2 s2-sent");
    ck_assert_uint_eq(coro_sched_switches(s2), 1);
    ck_assert_int_eq(coro_sched_run(s1), 0);
    ck_assert_str_eq(evlog, "wait s2 s2-sent woke");
    ck_assert_int_eq(w.rc, 0);
    ck_assert_int_eq(w.v, 1234);
    ck_assert_uint_eq(coro_sched_switches(s1), 2);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s1), 0);
    ck_assert_int_eq(coro_sched_destroy(s2), 0);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_sched_destroy                                                      */

START_TEST(test_destroy_null)
{
    errno = 0;
    ck_assert_int_eq(coro_sched_destroy(NULL), 0);
    ck_assert_int_eq(errno, 0);
}
END_TEST

START_TEST(test_destroy_empty)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

START_TEST(test_destroy_unstarted)
{
    coro_sched_t *s = coro_sched_create();
    int flag = 0;

    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(coro_spawn(s, set_flag, &flag, 0), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(flag, 0);
}
END_TEST

/* Blocked tasks are closed in spawn order; in their handlers blocking is
 * refused (ECANCELED), run and destroy are EBUSY, what completes at once
 * works; afterwards the channels they waited on are free. */
struct closing {
    coro_sched_t *s;
    coro_chan_t *a, *b, *side;
};

static struct closing cl;

static void
closing_handler(void *word)
{
    int v = 1;

    ev("%s", (const char *)word);
    EXPECT(coro_sched_self() == cl.s);
    EXPECT_FAILS(coro_sched_yield(), ECANCELED);
    EXPECT_FAILS(coro_sleep(0), ECANCELED);
    EXPECT_FAILS(coro_chan_recv(cl.a, &v), ECANCELED);
    EXPECT_FAILS(coro_chan_recv_timeout(cl.a, &v, CORO_MSEC(10)), ECANCELED);
    EXPECT_FAILS(coro_chan_recv_timeout(cl.a, &v, 0), EAGAIN);
    EXPECT_FAILS(coro_sched_run(cl.s), EBUSY);
    EXPECT_FAILS(coro_sched_destroy(cl.s), EBUSY);
    EXPECT(coro_chan_send(cl.side, &v) == 0); /* room in the buffer */
}

static void *
closing_recv(void *arg)
{
    int v;

    EXPECT(coro_defer(closing_handler, arg) == 0);
    coro_chan_recv(cl.a, &v);
    ev("after-recv");
    return NULL;
}

static void *
closing_send(void *arg)
{
    int v = 5;

    EXPECT(coro_defer(closing_handler, arg) == 0);
    coro_chan_send(cl.b, &v);
    ev("after-send");
    return NULL;
}

static void *
closing_select(void *arg)
{
    int v = 6, r;
    coro_sel_t sel[2] = {
        { cl.a, CORO_RECV, &r, 0 },
        { cl.b, CORO_SEND, &v, 0 },
    };

    EXPECT(coro_defer(closing_handler, arg) == 0);
    coro_select(sel, 2, CORO_FOREVER);
    ev("after-select");
    return NULL;
}

START_TEST(test_destroy_closes_blocked)
{
    int v;

    cl.s = coro_sched_create();
    cl.a = coro_chan_create(sizeof(int), 0);
    cl.b = coro_chan_create(sizeof(int), 0);
    cl.side = coro_chan_create(sizeof(int), 8);
    ck_assert_ptr_nonnull(cl.s);
    ck_assert_ptr_nonnull(cl.a);
    ck_assert_ptr_nonnull(cl.b);
    ck_assert_ptr_nonnull(cl.side);
    ck_assert_int_eq(coro_spawn(cl.s, closing_recv, "h1", 0), 0);
    ck_assert_int_eq(coro_spawn(cl.s, closing_send, "h2", 0), 0);
    ck_assert_int_eq(coro_spawn(cl.s, closing_select, "h3", 0), 0);
    ck_assert_int_eq(coro_spawn(cl.s, closing_recv, "h4", 0), 0);
    ASSERT_FAILS(coro_sched_run(cl.s), EDEADLK);
    ck_assert_str_eq(evlog, "");
    ASSERT_FAILS(coro_chan_destroy(cl.a), EBUSY);
    ASSERT_FAILS(coro_chan_destroy(cl.b), EBUSY);
    ck_assert_int_eq(coro_sched_destroy(cl.s), 0);
    ck_assert_str_eq(evlog, "h1 h2 h3 h4");
    ASSERT_TASKS_OK();
    /* Nothing waits any more: a send to a would find no receiver. */
    v = 1;
    ASSERT_FAILS(coro_chan_send_timeout(cl.a, &v, 0), EAGAIN);
    ASSERT_FAILS(coro_chan_recv_timeout(cl.b, &v, 0), EAGAIN);
    ck_assert_int_eq(coro_chan_destroy(cl.a), 0);
    ck_assert_int_eq(coro_chan_destroy(cl.b), 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(coro_chan_recv_timeout(cl.side, &v, 0), 0);
    ASSERT_FAILS(coro_chan_recv_timeout(cl.side, &v, 0), EAGAIN);
    ck_assert_int_eq(coro_chan_destroy(cl.side), 0);
}
END_TEST

/* A task spawned by a handler during the destroy is closed unstarted. */
static int late_runs;

static void
spawn_late(void *arg)
{
    coro_sched_t *s = arg;

    EXPECT(coro_spawn(s, set_flag, &late_runs, 0) == 0);
    EXPECT(coro_spawn(s, set_flag, &late_runs, 0) == 0);
    ev("spawned");
}

static void *
block_with_spawning_handler(void *arg)
{
    EXPECT(coro_defer(spawn_late, arg) == 0);
    coro_chan_recv(cl.a, NULL);
    return NULL;
}

START_TEST(test_destroy_spawn_in_handler)
{
    coro_sched_t *s = coro_sched_create();

    late_runs = 0;
    cl.a = coro_chan_create(1, 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(cl.a);
    ck_assert_int_eq(coro_spawn(s, block_with_spawning_handler, s, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_str_eq(evlog, "spawned");
    ck_assert_int_eq(late_runs, 0);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_chan_destroy(cl.a), 0);
}
END_TEST

/* Woken after EDEADLK but not run again: destroy closes it without
 * returning from its recv. */
START_TEST(test_destroy_woken_task)
{
    coro_sched_t *s = coro_sched_create();
    struct waiter w = { .ch = coro_chan_create(sizeof(int), 0), .rc = 99 };
    int v = 1;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w.ch);
    ck_assert_int_eq(coro_spawn(s, recv_once, &w, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_chan_send(w.ch, &v), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_str_eq(evlog, "wait");
    ck_assert_int_eq(w.rc, 99);
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_int_eq(coro_chan_destroy(w.ch), 0);
}
END_TEST

/* The first task's handler hands a value to the second task, which waits:
 * the send completes at once, and the second task is closed in its turn
 * without running again. */
static int handover_rc = 99;

static void
handover_handler(void *arg)
{
    int v = 77;

    ev("h1");
    handover_rc = coro_chan_send(cl.b, &v);
}

static void *
handover_first(void *arg)
{
    EXPECT(coro_defer(handover_handler, NULL) == 0);
    coro_chan_recv(cl.a, NULL);
    ev("first-after");
    return NULL;
}

static void *
handover_second(void *arg)
{
    int v = 0;

    EXPECT(coro_defer(log_handler, "h2") == 0);
    coro_chan_recv(cl.b, &v);
    ev("second-after=%d", v);
    return NULL;
}

START_TEST(test_destroy_handler_wakes_task)
{
    coro_sched_t *s = coro_sched_create();

    cl.a = coro_chan_create(1, 0);
    cl.b = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(cl.a);
    ck_assert_ptr_nonnull(cl.b);
    ck_assert_int_eq(coro_spawn(s, handover_first, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, handover_second, NULL, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_str_eq(evlog, "h1 h2");
    ck_assert_int_eq(handover_rc, 0);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_chan_destroy(cl.a), 0);
    ck_assert_int_eq(coro_chan_destroy(cl.b), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

START_TEST(test_null_arguments)
{
    coro_sched_t *s = coro_sched_create();
    int flag = 0;

    ck_assert_ptr_nonnull(s);
    ASSERT_FAILS(coro_sched_run(NULL), EINVAL);
    ASSERT_FAILS(coro_spawn(NULL, set_flag, &flag, 0), EINVAL);
    ASSERT_FAILS(coro_spawn(s, NULL, &flag, 0), EINVAL);
    ASSERT_FAILS(coro_spawn(s, set_flag, &flag, CORO_STACK_MAX + 1), EINVAL);
    errno = 0;
    ck_assert_uint_eq(coro_sched_switches(NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    /* None of the failed spawns added a task. */
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(flag, 0);
    ck_assert_uint_eq(coro_sched_switches(s), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A scheduler belongs to the thread that made it. */
struct owner {
    pthread_barrier_t bar;
    coro_sched_t *s;
    int spawn_rc, runs, run_rc, destroy_rc;
    uint64_t switches;
};

static void *
owner_thread(void *arg)
{
    struct owner *o = arg;

    o->s = coro_sched_create();
    if (o->s != NULL)
        o->spawn_rc = coro_spawn(o->s, set_flag, &o->runs, 0);
    pthread_barrier_wait(&o->bar); /* the main thread tries its calls */
    pthread_barrier_wait(&o->bar);
    if (o->s != NULL) {
        o->run_rc = coro_sched_run(o->s);
        o->switches = coro_sched_switches(o->s);
        o->destroy_rc = coro_sched_destroy(o->s);
    }
    return NULL;
}

START_TEST(test_other_thread)
{
    struct owner o = { .spawn_rc = 99, .run_rc = 99, .destroy_rc = 99 };
    pthread_t th;
    int flag = 0;
    int spawn_rc, spawn_err, run_rc, run_err, destroy_rc, destroy_err;

    ck_assert_int_eq(pthread_barrier_init(&o.bar, NULL, 2), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, owner_thread, &o), 0);
    pthread_barrier_wait(&o.bar);
    errno = 0;
    spawn_rc = coro_spawn(o.s, set_flag, &flag, 0);
    spawn_err = errno;
    errno = 0;
    run_rc = coro_sched_run(o.s);
    run_err = errno;
    errno = 0;
    destroy_rc = coro_sched_destroy(o.s);
    destroy_err = errno;
    pthread_barrier_wait(&o.bar);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    pthread_barrier_destroy(&o.bar);

    ck_assert_ptr_nonnull(o.s);
    ck_assert_int_eq(o.spawn_rc, 0);
    ck_assert_int_eq(spawn_rc, -1);
    ck_assert_int_eq(spawn_err, EPERM);
    ck_assert_int_eq(run_rc, -1);
    ck_assert_int_eq(run_err, EPERM);
    ck_assert_int_eq(destroy_rc, -1);
    ck_assert_int_eq(destroy_err, EPERM);
    /* The owner's run found its one task intact and nothing added. */
    ck_assert_int_eq(o.run_rc, 0);
    ck_assert_int_eq(o.runs, 1);
    ck_assert_uint_eq(o.switches, 1);
    ck_assert_int_eq(o.destroy_rc, 0);
    ck_assert_int_eq(flag, 0);
}
END_TEST

/* A task's coro_t may be looked at, not resumed, closed or destroyed:
 * not by itself, another task, or the thread outside the run. */
static coro_t *handle_a;

static void *
handle_owner(void *arg)
{
    coro_chan_t *ch = arg;

    handle_a = coro_self();
    EXPECT_FAILS(coro_resume(handle_a, NULL, NULL), EPERM);
    EXPECT_FAILS(coro_close(handle_a), EPERM);
    EXPECT_FAILS(coro_destroy(handle_a), EPERM);
    ev("a1");
    coro_sched_yield();
    ev("a2");
    EXPECT(coro_chan_recv(ch, NULL) == 0);
    ev("a3");
    return NULL;
}

static void *
handle_other(void *arg)
{
    ev("b1");
    EXPECT(coro_status(handle_a) == CORO_SUSPENDED);
    EXPECT_FAILS(coro_resume(handle_a, NULL, NULL), EPERM);
    EXPECT_FAILS(coro_close(handle_a), EPERM);
    EXPECT_FAILS(coro_destroy(handle_a), EPERM);
    return NULL;
}

START_TEST(test_task_handle_eperm)
{
    coro_sched_t *s = coro_sched_create();
    coro_chan_t *ch = coro_chan_create(1, 0);
    char c = 'x';

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(coro_spawn(s, handle_owner, ch, 0), 0);
    ck_assert_int_eq(coro_spawn(s, handle_other, NULL, 0), 0);
    ASSERT_FAILS(coro_sched_run(s), EDEADLK);
    ck_assert_str_eq(evlog, "a1 b1 a2");
    ck_assert_int_eq(coro_status(handle_a), CORO_SUSPENDED);
    ASSERT_FAILS(coro_resume(handle_a, NULL, NULL), EPERM);
    ASSERT_FAILS(coro_close(handle_a), EPERM);
    ASSERT_FAILS(coro_destroy(handle_a), EPERM);
    ck_assert_int_eq(coro_chan_send(ch, &c), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "a1 b1 a2 a3");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(ch), 0);
}
END_TEST

/* coro_sched_run and coro_sched_destroy on the running scheduler: EBUSY,
 * from a task and from a generator the task resumed. */
static void *
busy_gen(void *arg)
{
    coro_sched_t *s = arg;

    EXPECT_FAILS(coro_sched_run(s), EBUSY);
    EXPECT_FAILS(coro_sched_destroy(s), EBUSY);
    return NULL;
}

static void *
busy_task(void *arg)
{
    coro_sched_t *s = arg;
    coro_t *g;

    EXPECT_FAILS(coro_sched_run(s), EBUSY);
    EXPECT_FAILS(coro_sched_destroy(s), EBUSY);
    g = coro_create(busy_gen, s, 0);
    EXPECT(g != NULL);
    if (g != NULL) {
        EXPECT(coro_resume(g, NULL, NULL) == 1);
        EXPECT(coro_destroy(g) == 0);
    }
    ev("done");
    return NULL;
}

START_TEST(test_busy_inside_run)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, busy_task, s, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "done");
    ASSERT_TASKS_OK();
    /* Still usable once the run is over. */
    ck_assert_int_eq(coro_spawn(s, log_id, IV(1), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "done 1");
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

static void *
gen_tries_yield(void *arg)
{
    uint64_t *sw = arg;
    coro_sched_t *s = coro_sched_self();

    EXPECT(s == NULL);
    sw[0] = 1;
    EXPECT_FAILS(coro_sched_yield(), EPERM);
    return IV(5);
}

START_TEST(test_sched_yield_outside_task)
{
    uint64_t sw[1] = { 0 };
    coro_t *co = coro_create(gen_tries_yield, sw, 0);
    void *out = NULL;

    ASSERT_FAILS(coro_sched_yield(), EPERM);
    /* In a plain coroutine, resumed by the thread: not a task either. */
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(5));
    ck_assert_int_eq(coro_destroy(co), 0);
    ASSERT_TASKS_OK();
}
END_TEST

/* In a generator resumed by a task: EPERM, and the generator goes on
 * without any switch of the scheduler. */
static void *
task_runs_gen(void *arg)
{
    coro_sched_t *s = arg;
    uint64_t before = coro_sched_switches(s);
    uint64_t flag[1] = { 0 };
    coro_t *g = coro_create(gen_tries_yield, flag, 0);
    void *out = NULL;

    EXPECT(g != NULL);
    if (g == NULL)
        return NULL;
    EXPECT(coro_resume(g, NULL, &out) == 1);
    EXPECT(out == IV(5));
    EXPECT(flag[0] == 1);
    EXPECT(coro_sched_switches(s) == before);
    EXPECT(coro_destroy(g) == 0);
    ev("t");
    return NULL;
}

static void *
other_logs(void *arg)
{
    ev("o");
    return NULL;
}

START_TEST(test_sched_yield_in_generator)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, task_runs_gen, s, 0), 0);
    ck_assert_int_eq(coro_spawn(s, other_logs, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "t o");
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* In a deferred handler of a task that ends: ECANCELED. */
static void
yield_in_handler(void *arg)
{
    ev("handler");
    EXPECT(coro_sched_self() == arg);
    EXPECT_FAILS(coro_sched_yield(), ECANCELED);
    errno = 0;
    EXPECT(coro_yield(IV(3)) == NULL);
    EXPECT(errno == ECANCELED);
}

static void *
ends_with_yield_handler(void *arg)
{
    EXPECT(coro_defer(yield_in_handler, arg) == 0);
    ev("body");
    return NULL;
}

START_TEST(test_sched_yield_in_handler)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, ends_with_yield_handler, s, 0), 0);
    ck_assert_int_eq(coro_spawn(s, other_logs, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "body handler o");
    ck_assert_uint_eq(coro_sched_switches(s), 2);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Coroutines and runs inside tasks                                        */

/* The tutorial's consumer, as a generator that a task drives. */
static void *
consumer_gen(void *arg)
{
    const char *r = "";

    EXPECT(coro_sched_self() == NULL);
    EXPECT(coro_status((coro_t *)arg) == CORO_NORMAL); /* the task */
    for (;;) {
        intptr_t n = VI(coro_yield((void *)r));

        if (!n)
            return IV(-1);
        ev("C%" PRIdPTR, n);
        r = "200 OK";
    }
}

static void *
producer_task(void *arg)
{
    coro_sched_t *s = arg;
    coro_t *c = coro_create(consumer_gen, coro_self(), 0);
    uint64_t before = coro_sched_switches(s);
    void *r = NULL;

    EXPECT(c != NULL);
    if (c == NULL)
        return NULL;
    EXPECT(coro_sched_self() == s);
    EXPECT(coro_resume(c, NULL, &r) == 0);
    EXPECT(r != NULL && strcmp(r, "") == 0);
    for (intptr_t n = 1; n <= 3; n++) {
        ev("P%" PRIdPTR, n);
        EXPECT(coro_resume(c, IV(n), &r) == 0);
        EXPECT(r != NULL && strcmp(r, "200 OK") == 0);
    }
    EXPECT(coro_sched_switches(s) == before); /* the generator never gave way */
    EXPECT(coro_resume(c, NULL, &r) == 1);
    EXPECT(r == IV(-1));
    EXPECT(coro_destroy(c) == 0);
    ev("P-end");
    return NULL;
}

START_TEST(test_task_resumes_generator)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, producer_task, s, 0), 0);
    ck_assert_int_eq(coro_spawn(s, other_logs, NULL, 0), 0);
    ck_assert_ptr_null(coro_sched_self());
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "P1 C1 P2 C2 P3 C3 P-end o");
    ck_assert_ptr_null(coro_sched_self());
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* A task may run another scheduler: that scheduler's tasks yield back to
 * it, and the outer task is CORO_NORMAL meanwhile. */
static coro_sched_t *outer_s, *inner_s;
static coro_t *outer_task;

static void *
inner_task(void *arg)
{
    int id = (int)VI(arg);

    EXPECT(coro_sched_self() == inner_s);
    EXPECT(coro_status(outer_task) == CORO_NORMAL);
    EXPECT_FAILS(coro_sched_run(inner_s), EBUSY);
    EXPECT_FAILS(coro_sched_run(outer_s), EBUSY);
    ev("i%d.1", id);
    coro_sched_yield();
    ev("i%d.2", id);
    return NULL;
}

static void *
outer_fn(void *arg)
{
    outer_task = coro_self();
    ev("o1");
    EXPECT(coro_spawn(inner_s, inner_task, IV(1), 0) == 0);
    EXPECT(coro_spawn(inner_s, inner_task, IV(2), 0) == 0);
    EXPECT(coro_sched_run(inner_s) == 0);
    EXPECT(coro_sched_self() == outer_s);
    EXPECT(coro_status(outer_task) == CORO_RUNNING);
    ev("o2");
    return NULL;
}

START_TEST(test_nested_run)
{
    outer_s = coro_sched_create();
    inner_s = coro_sched_create();
    ck_assert_ptr_nonnull(outer_s);
    ck_assert_ptr_nonnull(inner_s);
    ck_assert_int_eq(coro_spawn(outer_s, outer_fn, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(outer_s, other_logs, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(outer_s), 0);
    ck_assert_str_eq(evlog, "o1 i1.1 i2.1 i1.2 i2.2 o2 o");
    ck_assert_uint_eq(coro_sched_switches(outer_s), 2);
    ck_assert_uint_eq(coro_sched_switches(inner_s), 4);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(inner_s), 0);
    ck_assert_int_eq(coro_sched_destroy(outer_s), 0);
}
END_TEST

/* coro_sched_self(): the task's scheduler in a task (of either of two
 * schedulers), NULL outside and in a generator. */
static void *
gen_reports_sched(void *arg)
{
    coro_yield(coro_sched_self());
    return NULL;
}

static void *
check_sched_self(void *arg)
{
    coro_t *g = coro_create(gen_reports_sched, NULL, 0);
    void *out = IV(1);

    EXPECT(coro_sched_self() == arg);
    EXPECT(g != NULL);
    if (g != NULL) {
        EXPECT(coro_resume(g, NULL, &out) == 0);
        EXPECT(out == NULL);
        EXPECT(coro_sched_self() == arg);
        EXPECT(coro_destroy(g) == 0);
    }
    ev("ok");
    return NULL;
}

START_TEST(test_sched_self)
{
    coro_sched_t *s1 = coro_sched_create(), *s2 = coro_sched_create();

    ck_assert_ptr_nonnull(s1);
    ck_assert_ptr_nonnull(s2);
    ck_assert_ptr_null(coro_sched_self());
    ck_assert_int_eq(coro_spawn(s1, check_sched_self, s1, 0), 0);
    ck_assert_int_eq(coro_spawn(s2, check_sched_self, s2, 0), 0);
    ck_assert_int_eq(coro_sched_run(s1), 0);
    ck_assert_int_eq(coro_sched_run(s2), 0);
    ck_assert_str_eq(evlog, "ok ok");
    ck_assert_ptr_null(coro_sched_self());
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s1), 0);
    ck_assert_int_eq(coro_sched_destroy(s2), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_sched_switches                                                     */

/* Each task is switched in once to start and once after each of its K
 * yields: N*K + N in all. */
#define SW_TASKS 5
#define SW_YIELDS 7

static void *
yield_k(void *arg)
{
    for (int i = 0; i < (int)VI(arg); i++)
        coro_sched_yield();
    return NULL;
}

START_TEST(test_switches_count_yields)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(coro_sched_switches(s), 0);
    for (int i = 0; i < SW_TASKS; i++)
        ck_assert_int_eq(coro_spawn(s, yield_k, IV(SW_YIELDS), 0), 0);
    ck_assert_uint_eq(coro_sched_switches(s), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_uint_eq(coro_sched_switches(s), SW_TASKS * SW_YIELDS + SW_TASKS);
    /* The count goes on over later runs. */
    ck_assert_int_eq(coro_spawn(s, yield_k, IV(0), 0), 0);
    ck_assert_int_eq(coro_spawn(s, yield_k, IV(2), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    /* Its start for each; the one that yields twice is alone by then. */
    ck_assert_uint_eq(coro_sched_switches(s), SW_TASKS * SW_YIELDS + SW_TASKS + 1 + 1);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Calls that complete at once do not switch, nor does a yield with no one
 * else ready. */
static void *
no_switch_calls(void *arg)
{
    coro_sched_t *s = coro_sched_self();
    coro_chan_t *ch = arg;
    uint64_t before = coro_sched_switches(s);
    int v = 1;

    EXPECT(coro_chan_send(ch, &v) == 0);           /* room in the buffer */
    EXPECT(coro_chan_recv(ch, &v) == 0);           /* an element is there */
    EXPECT_FAILS(coro_chan_recv_timeout(ch, &v, 0), EAGAIN);
    EXPECT(coro_sched_self() == s);
    EXPECT(coro_sched_switches(s) == before);
    EXPECT(coro_sched_yield() == 0);
    EXPECT(coro_sched_switches(s) == before);
    ev("done");
    return NULL;
}

START_TEST(test_switches_not_counted_without_switch)
{
    coro_sched_t *s = coro_sched_create();
    coro_chan_t *ch = coro_chan_create(sizeof(int), 1);

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(coro_spawn(s, no_switch_calls, ch, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_str_eq(evlog, "done");
    ck_assert_uint_eq(coro_sched_switches(s), 1);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(ch), 0);
}
END_TEST

/* The ping-pong of coro_sched_switches(3): 1000 round trips over two
 * rendezvous channels. Each task is switched in once to start; then each
 * round trip resumes each task exactly once (the player when the echo has
 * taken its ball and waits to send it back, the echo when the player has
 * taken that; the last resume of the echo finds ping closed): 2 + 2 * 1000. */
static coro_chan_t *ping, *pong;

static void *
player(void *arg)
{
    int ball = 0;

    for (int i = 0; i < 1000; i++) {
        EXPECT(coro_chan_send(ping, &ball) == 0);
        EXPECT(coro_chan_recv(pong, &ball) == 0);
    }
    EXPECT(ball == 1000);
    EXPECT(coro_chan_close(ping) == 0);
    return NULL;
}

static void *
echo(void *arg)
{
    int ball;

    while (coro_chan_recv(ping, &ball) == 0) {
        ball++;
        EXPECT(coro_chan_send(pong, &ball) == 0);
    }
    EXPECT(errno == EPIPE);
    return NULL;
}

START_TEST(test_switches_ping_pong)
{
    coro_sched_t *s = coro_sched_create();

    ping = coro_chan_create(sizeof(int), 0);
    pong = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(ping);
    ck_assert_ptr_nonnull(pong);
    ck_assert_int_eq(coro_spawn(s, player, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, echo, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_uint_eq(coro_sched_switches(s), 2002);
    ASSERT_TASKS_OK();
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    ck_assert_int_eq(coro_chan_destroy(ping), 0);
    ck_assert_int_eq(coro_chan_destroy(pong), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Two threads, two schedulers, at the same time                           */

#define TT_TASKS 3
#define TT_ROUNDS 1000
#define TT_VALUES 1000

struct tt {
    pthread_barrier_t *start;
    coro_sched_t *s;
    coro_chan_t *ch;
    int order[TT_TASKS * TT_ROUNDS];
    int n;
    int errors;
    int run_rc[2];
    uint64_t switches;
    long sum;
};

struct tt_arg {
    struct tt *t;
    int id;
};

static void *
tt_yielder(void *arg)
{
    struct tt_arg *a = arg;

    for (int r = 0; r < TT_ROUNDS; r++) {
        a->t->order[a->t->n++] = a->id;
        if (coro_sched_self() != a->t->s)
            a->t->errors++;
        if (coro_sched_yield() != 0)
            a->t->errors++;
    }
    return NULL;
}

static void *
tt_producer(void *arg)
{
    struct tt *t = arg;

    for (int v = 1; v <= TT_VALUES; v++)
        if (coro_chan_send(t->ch, &v) != 0)
            t->errors++;
    if (coro_chan_close(t->ch) != 0)
        t->errors++;
    return NULL;
}

static void *
tt_consumer(void *arg)
{
    struct tt *t = arg;
    int v;

    while (coro_chan_recv(t->ch, &v) == 0)
        t->sum += v;
    if (errno != EPIPE)
        t->errors++;
    return NULL;
}

static void *
tt_thread(void *arg)
{
    struct tt *t = arg;
    struct tt_arg a[TT_TASKS];

    pthread_barrier_wait(t->start);
    t->s = coro_sched_create();
    t->ch = coro_chan_create(sizeof(int), 0);
    pthread_barrier_wait(t->start); /* both schedulers exist now */
    if (t->s == NULL || t->ch == NULL || coro_sched_self() != NULL) {
        t->errors++;
        return NULL;
    }
    for (int i = 0; i < TT_TASKS; i++) {
        a[i] = (struct tt_arg){ t, i };
        if (coro_spawn(t->s, tt_yielder, &a[i], 0) != 0)
            t->errors++;
    }
    t->run_rc[0] = coro_sched_run(t->s);
    t->switches = coro_sched_switches(t->s);
    if (coro_spawn(t->s, tt_producer, t, 0) != 0 || coro_spawn(t->s, tt_consumer, t, 0) != 0)
        t->errors++;
    t->run_rc[1] = coro_sched_run(t->s);
    if (coro_sched_destroy(t->s) != 0 || coro_chan_destroy(t->ch) != 0)
        t->errors++;
    return NULL;
}

START_TEST(test_two_threads)
{
    pthread_barrier_t start;
    struct tt *t = calloc(2, sizeof *t);
    pthread_t th[2];

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(pthread_barrier_init(&start, NULL, 2), 0);
    for (int i = 0; i < 2; i++) {
        t[i].start = &start;
        t[i].run_rc[0] = t[i].run_rc[1] = 99;
        ck_assert_int_eq(pthread_create(&th[i], NULL, tt_thread, &t[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&start);
    ck_assert_ptr_ne(t[0].s, t[1].s);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(t[i].errors, 0);
        ck_assert_int_eq(t[i].run_rc[0], 0);
        ck_assert_int_eq(t[i].run_rc[1], 0);
        ck_assert_int_eq(t[i].n, TT_TASKS * TT_ROUNDS);
        for (int k = 0; k < TT_TASKS * TT_ROUNDS; k++)
            ck_assert_int_eq(t[i].order[k], k % TT_TASKS);
        ck_assert_uint_eq(t[i].switches, TT_TASKS * TT_ROUNDS + TT_TASKS);
        ck_assert_int_eq(t[i].sum, (long)TT_VALUES * (TT_VALUES + 1) / 2);
    }
    free(t);
}
END_TEST

/* ---------------------------------------------------------------------- */

static Suite *
sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc;

    tc = tasklog_tcase(s, "order", tasklog_reset);
    tcase_add_test(tc, test_round_robin_sched_yield);
    tcase_add_test(tc, test_round_robin_coro_yield);
    tcase_add_test(tc, test_round_robin_mixed);
    tcase_add_test(tc, test_spawn_order);
    tcase_add_test(tc, test_yield_alone);
    tcase_add_test(tc, test_woken_goes_to_back);

    tc = tasklog_tcase(s, "spawn", tasklog_reset);
    tcase_add_test(tc, test_spawn_runs_nothing_yet);
    tcase_add_test(tc, test_spawn_during_run);
    tcase_add_test(tc, test_spawn_between_runs);
    tcase_add_test(tc, test_spawn_tree);
    tcase_add_test(tc, test_spawn_stack_sizes);

    tc = tasklog_tcase(s, "lifetime", tasklog_reset);
    tcase_add_test(tc, test_handlers_run_once);
    tcase_add_test(tc, test_stack_freed_when_task_ends);
    tcase_add_test(tc, test_stack_reused_when_task_ends);
    tcase_add_test(tc, test_many_short_tasks);
    tcase_add_test(tc, test_self_in_task);

    tc = tasklog_tcase(s, "deadlock", tasklog_reset);
    tcase_add_test(tc, test_run_empty);
    tcase_add_test(tc, test_deadlock_then_close);
    tcase_add_test(tc, test_deadlock_then_send);
    tcase_add_test(tc, test_deadlock_then_send_nonblocking);
    tcase_add_test(tc, test_deadlock_then_recv);
    tcase_add_test(tc, test_deadlock_partial);
    tcase_add_test(tc, test_deadlock_mutual);
    tcase_add_test(tc, test_deadlock_two_schedulers);

    tc = tasklog_tcase(s, "destroy", tasklog_reset);
    tcase_add_test(tc, test_destroy_null);
    tcase_add_test(tc, test_destroy_empty);
    tcase_add_test(tc, test_destroy_unstarted);
    tcase_add_test(tc, test_destroy_closes_blocked);
    tcase_add_test(tc, test_destroy_spawn_in_handler);
    tcase_add_test(tc, test_destroy_woken_task);
    tcase_add_test(tc, test_destroy_handler_wakes_task);

    tc = tasklog_tcase(s, "errors", tasklog_reset);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_other_thread);
    tcase_add_test(tc, test_task_handle_eperm);
    tcase_add_test(tc, test_busy_inside_run);
    tcase_add_test(tc, test_sched_yield_outside_task);
    tcase_add_test(tc, test_sched_yield_in_generator);
    tcase_add_test(tc, test_sched_yield_in_handler);

    tc = tasklog_tcase(s, "nesting", tasklog_reset);
    tcase_add_test(tc, test_task_resumes_generator);
    tcase_add_test(tc, test_nested_run);
    tcase_add_test(tc, test_sched_self);

    tc = tasklog_tcase(s, "switches", tasklog_reset);
    tcase_add_test(tc, test_switches_count_yields);
    tcase_add_test(tc, test_switches_not_counted_without_switch);
    tcase_add_test(tc, test_switches_ping_pong);

    tc = tasklog_tcase(s, "threads", tasklog_reset);
    tcase_add_test(tc, test_two_threads);

    return s;
}

TEST_MAIN(sched_suite)
