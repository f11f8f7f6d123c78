/*
 * fuzz-api: a libFuzzer harness for the whole public API. Each input is read
 * as a small program of calls on a handful of objects: up to four plain
 * coroutines (generators), one scheduler with up to eight tasks, and up to
 * three channels (elements of 1, 4, 8, 16 or 24 bytes; capacity 0, 1 or 2),
 * misuse included. Every return value and errno is checked against a model
 * of the contract in the man pages in doc/; a mismatch prints the op, what
 * was expected and what came back, and aborts.
 *
 * The model is exact, not a list of acceptable outcomes. Coroutine bodies
 * and task bodies are one interpreter each, running a per-object "script"
 * of (op, param) byte pairs taken from the input when the object is made;
 * they check their own calls from the inside. Tasks run in lockstep with a
 * model of the scheduler: a task that gets control checks that it is the
 * one the model's FIFO ready queue says should run, and that the switch
 * counter matches, so round-robin order, channel hand-overs, wake-ups and
 * EDEADLK are all predicted. Timers are left out (see below), so the model
 * never depends on the clock.
 *
 * Each input starts and ends clean: at its end the scheduler, every
 * coroutine and every channel are destroyed, every deferred handler must
 * have run exactly once, and coro_self() and coro_sched_self() must be NULL
 * again, so that the next input runs alike and LeakSanitizer sees nothing.
 *
 * Task scripts also share one mutex, one wait group and one condition
 * variable (used with that mutex), and their waits are in the lockstep
 * model: lock (forever or timeout 0), unlock, add, done, wait (forever or
 * 0), signal, broadcast and destroy, with the mutex handed to the longest
 * waiter on unlock (it holds it before it runs: no barging), every wait
 * group waiter woken in order when the count reaches 0, a signalled task
 * taking the mutex back (or queueing for it) only when it runs, woken
 * tasks at the back of the ready queue, and EDEADLK when all of them wait.
 * Since a task that ends holding the mutex keeps it held, and its context
 * is then freed (a later task's stack may reuse it and hold the mutex by
 * accident), every task registers a handler first (release_handler) that
 * checks it still holds it as it ends and unlocks it. The mutex is busy
 * (EBUSY) while a task is inside coro_cond_wait() on it (cond_uses_mutex()).
 *
 * Task handles are covered by their misuse and by the calls that cannot
 * wait (sync_misuse(), on the thread's stack and in tasks), as are sync
 * objects of the thread's own; joins are not in the lockstep model
 * (test-task checks those).
 *
 * Not covered: coro_sleep() and timeouts > 0 (when a deadline is noticed
 * depends on the clock), coroutines made by tasks or other coroutines,
 * spawning from deferred handlers, more than one scheduler, threads (EPERM),
 * coro_stack_pool(), coro_catch_overflow() and out-of-memory paths (see
 * test-time, test-thread, test-pool, test-overflow and test-oom for those).
 * Set FUZZ_API_TRACE=1 to print every call while reproducing a crash.
 *
 * Build and run it with `make fuzz` (FUZZ_SECONDS=60 by default; see
 * Makefile.am), which compiles it with clang's libFuzzer, ASan and UBSan
 * together with the library's sources for the configured switch, and
 * runs it from the seeds in tests/fuzz-corpus/. A failing input is saved
 * as crash-*; reproduce it with FUZZ_API_TRACE=1 tests/fuzz-api crash-...
 *
 * Input format: a sequence of outer ops, one byte each (see one_op) plus
 * their parameter bytes, at most MAX_OPS of them; a missing byte reads as 0.
 * A script is a length byte (1 to 8 pairs) and then the pairs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coro.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_OPS     256
#define NSLOTS      4   /* generators */
#define NTASKS      8   /* tasks per input, spawned ones included */
#define NCHANS      3
#define SCRIPT_MAX  16  /* bytes: up to 8 (op, param) pairs */
#define MAX_DEFERS  4   /* per coroutine or task */
#define QMAX        (2 * NTASKS)
#define ELEM_MAX    24

/* Who is executing: the thread's own stack, generator slot k (0..3), or
 * task t (TASK_EX + t). The model keeps the chain of active ones. */
#define EX_THREAD   (-1)
#define TASK_EX     100
#define IS_TASK(e)  ((e) >= TASK_EX)

/* Model states of a generator slot while it is off the chain. */
enum { ST_FREE, ST_CREATED, ST_SUSPENDED, ST_ACTIVE, ST_DEAD };

/* Model states of a task. */
enum { T_UNUSED, T_READY, T_RUNNING, T_BLOCKED, T_GONE };

/* A deferred handler registered by a generator or a task. */
struct defer {
    int owner;  /* executor id */
    int index;  /* registration order */
    int mode;   /* 0 plain, 1 coro_exit, 2 a channel op */
    unsigned param;
};

struct slot {
    coro_t *co;
    int state;
    uint8_t script[SCRIPT_MAX];
    int len, pc;
    void *sent;         /* what the current resume passed in */
    int exp_rc;         /* what that resume must return: 0 or 1 */
    void *exp_out;      /* and store */
    int registered, ran;
    struct defer defers[MAX_DEFERS];
};

/* One waiting operation of a blocked task, in a channel's queue. */
struct waiter {
    int task, entry;
    uint32_t val; /* the element a sender offers */
};

struct task {
    int state;
    coro_t *self;
    uint8_t script[SCRIPT_MAX];
    int len, pc;
    int child;          /* spawned by a task: may not spawn */
    int ending;         /* its handlers run (or are about to) */
    int closed;         /* closed by coro_sched_destroy in the model */
    int registered, ran;
    struct defer defers[MAX_DEFERS];
    /* The result of its blocking operation, filled in by whoever wakes it. */
    int w_entry, w_err;
    int reacquire;      /* woken from a condition wait: takes the mutex as it runs */
    uint32_t w_val;
};

struct chan {
    coro_chan_t *ch;
    size_t esize, cap;
    int closed;
    uint32_t buf[2];
    size_t len;
    struct waiter sendq[QMAX], recvq[QMAX];
    int ns, nr;
};

static struct model {
    struct slot slots[NSLOTS];
    struct task tasks[NTASKS];
    struct chan chans[NCHANS];
    int ntasks_used;

    /* One mutex and one wait group, shared by the tasks of the input; their
     * waiters are tasks, in arrival order. */
    coro_mutex_t *mx;
    int mx_holder;              /* a task, or -1 */
    int mx_q[QMAX], mx_n;
    coro_wg_t *wg;
    long wg_count;
    int wg_q[QMAX], wg_n;
    coro_cond_t *cv;            /* used with mx */
    int cv_q[QMAX], cv_n;

    coro_sched_t *s;
    int busy, destroying;
    int ready[QMAX], nready;
    int order[NTASKS], norder;  /* live tasks, in spawn order */
    uint64_t switches;
    int current;                /* the task that must be running, or -1 */
    int base;                   /* chain length of whoever runs or destroys s */
    int run_result;             /* what the run returns once current is -1 */
    int pending_end;            /* a task that ended; the model catches up */

    int chain[16], chain_len;
    uint32_t uniq;

    const uint8_t *in;
    size_t in_len, in_pos;
    int op_index;
    const char *op_name;
} M;

/* ---------------------------------------------------------------------- */
/* Reporting                                                               */

static const char *
errname(int e)
{
    switch (e) {
    case 0: return "0";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EBUSY: return "EBUSY";
    case ESRCH: return "ESRCH";
    case EPIPE: return "EPIPE";
    case EAGAIN: return "EAGAIN";
    case ECANCELED: return "ECANCELED";
    case EDEADLK: return "EDEADLK";
    case ENOMEM: return "ENOMEM";
    case ETIMEDOUT: return "ETIMEDOUT";
    default: return "?";
    }
}

static int tracing = -1; /* FUZZ_API_TRACE set: print every call (to debug a crash) */

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
trace(const char *fmt, ...)
{
    va_list ap;

    if (!tracing)
        return;
    fprintf(stderr, "  [op %d] ", M.op_index);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz-api: op %d (%s): ", M.op_index, M.op_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* Check a call that returns a number, or -1 and errno. */
static void
expect(const char *call, long got, int got_errno, long want, int want_errno)
{
    trace("%s -> %ld (errno %s)", call, got, got == -1 ? errname(got_errno) : "-");
    if (got != want || (want == -1 && got_errno != want_errno))
        fail("%s: expected %ld (errno %s), got %ld (errno %s %d)", call, want,
             want == -1 ? errname(want_errno) : "-", got, errname(got_errno),
             got_errno);
}

/* Check a call that returns a pointer, NULL and errno on failure. */
static void
expect_null(const char *call, const void *got, int got_errno, int want_errno)
{
    if (got != NULL || got_errno != want_errno)
        fail("%s: expected NULL (errno %s), got %p (errno %s %d)", call,
             errname(want_errno), got, errname(got_errno), got_errno);
}

/* ---------------------------------------------------------------------- */
/* Input and values                                                        */

static unsigned
next_byte(void)
{
    return M.in_pos < M.in_len ? M.in[M.in_pos++] : 0;
}

static void
read_script(uint8_t *script, int *len)
{
    *len = 2 * (1 + (int)(next_byte() % (SCRIPT_MAX / 2)));
    for (int i = 0; i < *len; i++)
        script[i] = (uint8_t)next_byte();
}

/* A fresh non-NULL value, so that every value passed around is distinct. */
static uint32_t
uniq(void)
{
    return ++M.uniq;
}

static void *
vp(uint32_t v)
{
    return (void *)(uintptr_t)v;
}

#define OUT_SENTINEL ((void *)(uintptr_t)0x5e5e5e5e)
#define ERR_SENTINEL 12345
#define BYTE_SENTINEL 0xee

/* An element of a channel: v spread over n bytes. */
static void
encode(uint32_t v, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)((v >> (8 * (i % 4))) ^ (i * 17));
}

static void
expect_elem(const char *call, const uint8_t *got, size_t n, uint32_t want)
{
    uint8_t buf[ELEM_MAX];

    encode(want, n, buf);
    if (memcmp(got, buf, n) != 0)
        fail("%s: received element is not value %u (first byte %#x, want %#x)",
             call, want, got[0], buf[0]);
}

static void
expect_untouched(const char *call, const uint8_t *buf)
{
    for (size_t i = 0; i < ELEM_MAX; i++)
        if (buf[i] != BYTE_SENTINEL)
            fail("%s: element memory written (byte %zu)", call, i);
}

/* ---------------------------------------------------------------------- */
/* The chain of active executors, and statuses                             */

static int
top(void)
{
    return M.chain[M.chain_len - 1];
}

static void
chain_push(int e)
{
    if (M.chain_len == (int)(sizeof M.chain / sizeof M.chain[0]))
        fail("model: chain overflow");
    M.chain[M.chain_len++] = e;
}

static void
chain_pop(int e)
{
    if (top() != e)
        fail("model: chain top is %d, expected %d", top(), e);
    M.chain_len--;
}

static int
chain_pos(int e)
{
    for (int i = 0; i < M.chain_len; i++)
        if (M.chain[i] == e)
            return i;
    return -1;
}

static coro_status_t
model_status(int k)
{
    int pos = chain_pos(k);

    if (pos >= 0)
        return pos == M.chain_len - 1 ? CORO_RUNNING : CORO_NORMAL;
    switch (M.slots[k].state) {
    case ST_CREATED: return CORO_CREATED;
    case ST_SUSPENDED: return CORO_SUSPENDED;
    default: return CORO_DEAD;
    }
}

static void
check_status(int k)
{
    coro_status_t got = coro_status(M.slots[k].co), want = model_status(k);

    if (got != want)
        fail("coro_status(slot %d): expected %d, got %d", k, want, got);
}

static void
check_all_status(void)
{
    for (int k = 0; k < NSLOTS; k++)
        if (M.slots[k].state != ST_FREE)
            check_status(k);
}

/* The handle of the running executor, as coro_self() must return it. */
static coro_t *
ex_handle(int e)
{
    if (e == EX_THREAD)
        return NULL;
    if (IS_TASK(e))
        return M.tasks[e - TASK_EX].self;
    return M.slots[e].co;
}

static void
check_self(const char *where)
{
    coro_t *got = coro_self();
    coro_sched_t *gs = coro_sched_self();
    coro_sched_t *ws = IS_TASK(top()) ? M.s : NULL;

    if (got != ex_handle(top()))
        fail("%s: coro_self() is %p, expected %p", where, (void *)got,
             (void *)ex_handle(top()));
    if (gs != ws)
        fail("%s: coro_sched_self() is %p, expected %p", where, (void *)gs,
             (void *)ws);
}

/* ---------------------------------------------------------------------- */
/* The scheduler model                                                     */

static void
ready_push(int t)
{
    if (M.nready == QMAX)
        fail("model: ready queue overflow");
    M.ready[M.nready++] = t;
    M.tasks[t].state = T_READY;
}

static int
ready_pop(void)
{
    int t;

    if (M.nready == 0)
        return -1;
    t = M.ready[0];
    memmove(M.ready, M.ready + 1, (size_t)--M.nready * sizeof M.ready[0]);
    return t;
}

static void
ready_remove(int t)
{
    for (int i = 0; i < M.nready; i++)
        if (M.ready[i] == t) {
            memmove(M.ready + i, M.ready + i + 1,
                    (size_t)(M.nready - i - 1) * sizeof M.ready[0]);
            M.nready--;
            return;
        }
}

static void dispatch(int next);

/* Task t, signalled in coro_cond_wait(), runs again and takes the mutex
 * back inside that call: at once if it is free, else it waits for it as a
 * lock would, and the scheduler moves on without returning to the harness. */
static void
reacquire(int t)
{
    M.tasks[t].reacquire = 0;
    if (M.mx_holder < 0) {
        M.mx_holder = t;
        return;
    }
    M.mx_q[M.mx_n++] = t;
    M.tasks[t].state = T_BLOCKED;
    dispatch(ready_pop());
}

/* Switch the model to task next (already popped), or back to the loop in
 * coro_sched_run() when next is -1: the run then ends, since nothing ever
 * waits for a deadline here. */
static void
dispatch(int next)
{
    if (next >= 0) {
        M.switches++;
        M.current = next;
        M.tasks[next].state = T_RUNNING;
        M.chain_len = M.base + 1;
        M.chain[M.base] = TASK_EX + next;
        if (M.tasks[next].reacquire)
            reacquire(next);
    } else {
        M.current = -1;
        M.chain_len = M.base;
        M.run_result = M.norder == 0 ? 0 : EDEADLK;
    }
}

/* Take task t out of a queue of waiting tasks. */
static void
queue_remove(int *q, int *n, int t)
{
    int j = 0;

    for (int i = 0; i < *n; i++)
        if (q[i] != t)
            q[j++] = q[i];
    *n = j;
}

/* Take every waiting operation of task t off every channel, the mutex and
 * the wait group. */
static void
disarm(int t)
{
    queue_remove(M.mx_q, &M.mx_n, t);
    queue_remove(M.wg_q, &M.wg_n, t);
    queue_remove(M.cv_q, &M.cv_n, t);
    for (int c = 0; c < NCHANS; c++) {
        struct chan *ch = &M.chans[c];
        int j = 0;

        for (int i = 0; i < ch->ns; i++)
            if (ch->sendq[i].task != t)
                ch->sendq[j++] = ch->sendq[i];
        ch->ns = j;
        j = 0;
        for (int i = 0; i < ch->nr; i++)
            if (ch->recvq[i].task != t)
                ch->recvq[j++] = ch->recvq[i];
        ch->nr = j;
    }
}

static void
wake(int t, int entry, int err, uint32_t val)
{
    struct task *tk = &M.tasks[t];

    if (tk->state != T_BLOCKED)
        fail("model: waking task %d which is not blocked", t);
    disarm(t);
    tk->w_entry = entry;
    tk->w_err = err;
    tk->w_val = val;
    ready_push(t);
}

static void
order_remove(int t)
{
    for (int i = 0; i < M.norder; i++)
        if (M.order[i] == t) {
            memmove(M.order + i, M.order + i + 1,
                    (size_t)(M.norder - i - 1) * sizeof M.order[0]);
            M.norder--;
            return;
        }
    fail("model: task %d is not live", t);
}

static void
check_handlers_ran(const char *what, int id, int registered, int ran)
{
    if (registered != ran)
        fail("%s %d ended with %d deferred handlers registered but %d run",
             what, id, registered, ran);
}

/* A task that ended in a run: once its handlers are done, the scheduler
 * frees it and switches to the next ready task. */
static void
catch_up_end(void)
{
    int t = M.pending_end;

    if (t < 0)
        return;
    M.pending_end = -1;
    check_handlers_ran("task", t, M.tasks[t].registered, M.tasks[t].ran);
    M.tasks[t].state = T_GONE;
    order_remove(t);
    dispatch(ready_pop());
}

/* Task t gets control: check it is the one the model runs now. */
static void
task_turn(int t, const char *where)
{
    catch_up_end();
    if (M.current != t)
        fail("%s: task %d runs but the model expected task %d", where, t,
             M.current);
    if (coro_sched_switches(M.s) != M.switches)
        fail("%s: coro_sched_switches() is %llu, expected %llu", where,
             (unsigned long long)coro_sched_switches(M.s),
             (unsigned long long)M.switches);
}

/* Task t gives way: yields (requeue) or blocks. */
static void
give_way(int t, int requeue)
{
    int next;

    if (requeue)
        ready_push(t);
    else
        M.tasks[t].state = T_BLOCKED;
    next = ready_pop();
    if (next == t) {
        M.tasks[t].state = T_RUNNING; /* alone: no switch at all */
        return;
    }
    dispatch(next);
}

/* coro_sched_destroy() closes the live tasks in spawn order; when the
 * handlers of task t run, every task before t has been closed and t has
 * been taken off every queue. */
static void
close_task_model(int t)
{
    struct task *tk = &M.tasks[t];

    if (tk->closed)
        return;
    tk->closed = 1;
    tk->ending = 1;
    disarm(t);
    ready_remove(t);
}

static void
catch_up_destroy(int upto)
{
    while (M.norder > 0 && M.order[0] != upto) {
        int t = M.order[0];

        close_task_model(t);
        check_handlers_ran("task (closed by coro_sched_destroy)", t,
                           M.tasks[t].registered, M.tasks[t].ran);
        M.tasks[t].state = T_GONE;
        order_remove(t);
    }
    if (upto >= 0) {
        if (M.norder == 0)
            fail("model: handler of task %d runs but it is not live", upto);
        close_task_model(upto);
        M.chain_len = M.base + 1;
        M.chain[M.base] = TASK_EX + upto;
    }
}

/* ---------------------------------------------------------------------- */
/* Channels                                                                */

/* Can the caller wait? Only a task that is not ending. 0, or the errno a
 * blocking operation gets. */
static int
block_errno(void)
{
    int e = top();

    if (!IS_TASK(e))
        return EPERM;
    if (M.tasks[e - TASK_EX].ending)
        return ECANCELED;
    return 0;
}

static int
send_ready(const struct chan *c)
{
    return c->closed || c->nr > 0 || c->len < c->cap;
}

static int
recv_ready(const struct chan *c)
{
    return c->len > 0 || (c->cap == 0 && c->ns > 0) || c->closed;
}

/* Do a send that send_ready() allows: 0 or EPIPE. */
static int
model_send(struct chan *c, uint32_t v)
{
    if (c->closed)
        return EPIPE;
    if (c->nr > 0) {
        struct waiter w = c->recvq[0];

        wake(w.task, w.entry, 0, v);
        return 0;
    }
    c->buf[c->len++] = v;
    return 0;
}

/* Do a receive that recv_ready() allows: 0 and *v, or EPIPE. */
static int
model_recv(struct chan *c, uint32_t *v)
{
    if (c->len > 0) {
        *v = c->buf[0];
        c->buf[0] = c->buf[1];
        c->len--;
        if (c->ns > 0) {
            struct waiter w = c->sendq[0];

            c->buf[c->len++] = w.val;
            wake(w.task, w.entry, 0, 0);
        }
        return 0;
    }
    if (c->cap == 0 && c->ns > 0) {
        struct waiter w = c->sendq[0];

        *v = w.val;
        wake(w.task, w.entry, 0, 0);
        return 0;
    }
    return EPIPE;
}

static void
model_wait(struct chan *c, int op, int t, int entry, uint32_t v)
{
    struct waiter w = { t, entry, v };

    if (op == CORO_SEND)
        c->sendq[c->ns++] = w;
    else
        c->recvq[c->nr++] = w;
}

/*
 * One channel operation, by whoever is executing. p picks it:
 *   p % 8: 0 send, 1 recv, 2 recv into NULL, 3 send timeout 0,
 *          4 recv timeout 0, 5 and 7 select of two, 6 close;
 *   (p / 8) % 3: the channel; for a select, the second channel is
 *   (c + 1 + (p / 24) % 2) % 3, the ops come from bits of p / 48, and
 *   p >= 192 waits forever instead of timeout 0; 5 is coro_select_first
 *   (the first ready entry wins), 7 coro_select (any ready one may).
 * An empty channel slot means a NULL channel: EINVAL, except in a select,
 * where such an entry is never ready (and with no other, EINVAL when it
 * would wait forever).
 */
static void
chan_op(unsigned p, const char *who)
{
    int kind = (int)(p % 8), ci = (int)((p / 8) % 3);
    struct chan *c = &M.chans[ci];
    int ex = top(), t = IS_TASK(ex) ? ex - TASK_EX : -1;
    int berr = block_errno();
    uint8_t ebuf[ELEM_MAX], rbuf[ELEM_MAX];
    char call[96];
    uint64_t sw0;
    int rc, e;

    memset(rbuf, BYTE_SENTINEL, sizeof rbuf);
    if (kind == 6) {
        snprintf(call, sizeof call, "%s: coro_chan_close(chan %d)", who, ci);
        if (c->ch == NULL) {
            rc = coro_chan_close(NULL);
            expect(call, rc, errno, -1, EINVAL);
            return;
        }
        if (c->closed) {
            rc = coro_chan_close(c->ch);
            expect(call, rc, errno, -1, EPIPE);
            return;
        }
        c->closed = 1;
        /* Receivers first, then senders, each in the order they came. */
        while (c->nr > 0)
            wake(c->recvq[0].task, c->recvq[0].entry, EPIPE, 0);
        while (c->ns > 0)
            wake(c->sendq[0].task, c->sendq[0].entry, EPIPE, 0);
        rc = coro_chan_close(c->ch);
        expect(call, rc, errno, 0, 0);
        return;
    }

    if (kind == 5 || kind == 7) {
        int cj = (int)((ci + 1 + (p / 24) % 2) % 3);
        int ops[2] = { (p / 48) & 1 ? CORO_SEND : CORO_RECV,
                       (p / 96) & 1 ? CORO_SEND : CORO_RECV };
        int idx[2] = { ci, cj };
        int64_t timeout = p >= 192 ? CORO_FOREVER : 0;
        uint32_t vals[2] = { uniq(), uniq() };
        uint8_t ebufs[2][ELEM_MAX], rbufs[2][ELEM_MAX];
        size_t esizes[2]; /* the channel may be gone when a wait ends */
        coro_sel_t sel[2];
        int want = -1, want_err = 0, werr = 0;
        uint32_t got = 0;

        snprintf(call, sizeof call, "%s: coro_select%s(chan %d %s, chan %d %s, %s)",
                 who, kind == 5 ? "_first" : "", ci, ops[0] == CORO_SEND ? "send" : "recv", cj,
                 ops[1] == CORO_SEND ? "send" : "recv",
                 timeout == 0 ? "0" : "forever");
        memset(rbufs, BYTE_SENTINEL, sizeof rbufs);
        for (int i = 0; i < 2; i++) {
            struct chan *x = &M.chans[idx[i]];

            esizes[i] = x->esize;
            encode(vals[i], x->esize, ebufs[i]);
            sel[i].chan = x->ch;
            sel[i].op = ops[i];
            sel[i].elem = ops[i] == CORO_SEND ? (void *)ebufs[i] : (void *)rbufs[i];
            sel[i].err = ERR_SENTINEL;
        }
        int (*sel_fn)(coro_sel_t *, size_t, int64_t) = kind == 5 ? coro_select_first : coro_select;
        int live[2], is_ready[2], nready = 0;

        for (int i = 0; i < 2; i++) {
            struct chan *x = &M.chans[idx[i]];

            live[i] = x->ch != NULL;
            is_ready[i] = live[i] && (ops[i] == CORO_SEND ? send_ready(x) : recv_ready(x));
            nready += is_ready[i];
        }
        if (!live[0] && !live[1] && timeout != 0) {
            rc = sel_fn(sel, 2, timeout);
            expect(call, rc, errno, -1, EINVAL);
            return;
        }
        if (nready > 0) {
            sw0 = M.s ? coro_sched_switches(M.s) : 0;
            rc = sel_fn(sel, 2, timeout);
            e = errno;
            if (M.s && coro_sched_switches(M.s) != sw0)
                fail("%s: completed at once but gave way", call);
            want = kind == 5 ? (is_ready[0] ? 0 : 1) : rc;
            if (rc < 0 || rc > 1 || !is_ready[rc])
                fail("%s: returned %d (errno %s), ready entries: %d %d", call, rc,
                     errname(e), is_ready[0], is_ready[1]);
            if (ops[want] == CORO_SEND)
                want_err = model_send(&M.chans[idx[want]], vals[want]);
            else
                want_err = model_recv(&M.chans[idx[want]], &got);
        } else {
            werr = timeout == 0 ? EAGAIN : berr;
            if (werr == 0) {
                /* A task waits in the live entries' queues; whoever comes
                 * first wins. */
                for (int i = 0; i < 2; i++)
                    if (live[i])
                        model_wait(&M.chans[idx[i]], ops[i], t, i, vals[i]);
                give_way(t, 0);
                rc = sel_fn(sel, 2, timeout);
                e = errno;
                task_turn(t, call);
                want = M.tasks[t].w_entry;
                want_err = M.tasks[t].w_err;
                got = M.tasks[t].w_val;
            } else {
                rc = sel_fn(sel, 2, timeout);
                e = errno;
            }
        }
        if (want < 0) {
            expect(call, rc, e, -1, werr);
            for (int i = 0; i < 2; i++) {
                if (sel[i].err != ERR_SENTINEL)
                    fail("%s: err of entry %d changed on failure", call, i);
                expect_untouched(call, rbufs[i]);
            }
            return;
        }
        expect(call, rc, e, want, 0);
        if (sel[want].err != want_err)
            fail("%s: entry %d err is %s, expected %s", call, want,
                 errname(sel[want].err), errname(want_err));
        if (sel[1 - want].err != ERR_SENTINEL)
            fail("%s: err of the other entry changed", call);
        expect_untouched(call, rbufs[1 - want]);
        if (ops[want] == CORO_RECV) {
            if (want_err == 0)
                expect_elem(call, rbufs[want], esizes[want], got);
            else
                expect_untouched(call, rbufs[want]);
        }
        return;
    }

    /* A single send or receive. */
    {
        int is_send = kind == 0 || kind == 3;
        int into_null = kind == 2;
        int64_t timeout = kind >= 3 ? 0 : CORO_FOREVER;
        uint32_t v = uniq(), got = 0;
        size_t esize = c->esize; /* c may be destroyed and made anew while we wait */
        int ready, werr;

        snprintf(call, sizeof call, "%s: coro_chan_%s%s(chan %d%s)", who,
                 is_send ? "send" : "recv", timeout == 0 ? "_timeout" : "",
                 ci, into_null ? ", NULL" : timeout == 0 ? ", 0" : "");
        if (c->ch == NULL) {
            if (is_send)
                rc = timeout == 0 ? coro_chan_send_timeout(NULL, ebuf, 0)
                                  : coro_chan_send(NULL, ebuf);
            else
                rc = timeout == 0 ? coro_chan_recv_timeout(NULL, rbuf, 0)
                                  : coro_chan_recv(NULL, rbuf);
            expect(call, rc, errno, -1, EINVAL);
            return;
        }
        encode(v, c->esize, ebuf);
        ready = is_send ? send_ready(c) : recv_ready(c);
        werr = 0;
        if (ready)
            werr = is_send ? model_send(c, v) : model_recv(c, &got);
        else if (timeout == 0)
            werr = EAGAIN;
        else
            werr = berr;
        if (!ready && werr == 0) {
            model_wait(c, is_send ? CORO_SEND : CORO_RECV, t, 0, v);
            give_way(t, 0);
        } else {
            sw0 = M.s ? coro_sched_switches(M.s) : 0;
        }
        if (is_send)
            rc = timeout == 0 ? coro_chan_send_timeout(c->ch, ebuf, 0)
                              : coro_chan_send(c->ch, ebuf);
        else
            rc = timeout == 0 ? coro_chan_recv_timeout(c->ch, into_null ? NULL : rbuf, 0)
                              : coro_chan_recv(c->ch, into_null ? NULL : rbuf);
        e = errno;
        if (!ready && werr == 0) {
            task_turn(t, call);
            werr = M.tasks[t].w_err;
            got = M.tasks[t].w_val;
        } else if (M.s && coro_sched_switches(M.s) != sw0) {
            fail("%s: completed at once but gave way", call);
        }
        expect(call, rc, e, werr ? -1 : 0, werr);
        if (!is_send && !into_null) {
            if (werr == 0)
                expect_elem(call, rbuf, esize, got);
            else
                expect_untouched(call, rbuf);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* The mutex and the wait group                                            */

/* Only tasks use them (scripts and the release handler): the holder is
 * always a task, and a lock that waits can always wait. */
static int
running_task(const char *call)
{
    if (!IS_TASK(top()))
        fail("model: %s outside a task", call);
    return top() - TASK_EX;
}

/* Check that a call that must not wait did not give way. */
static void
expect_no_switch(const char *call, uint64_t sw0)
{
    if (coro_sched_switches(M.s) != sw0)
        fail("%s: must not switch, but the switch counter moved", call);
}

/* The holder unlocks: handed to the longest waiter, which holds it from
 * now on and is ready (at the back of the queue); unlocking never switches. */
static void
model_unlock(void)
{
    if (M.mx_n == 0) {
        M.mx_holder = -1;
        return;
    }
    M.mx_holder = M.mx_q[0];
    wake(M.mx_q[0], 0, 0, 0);
}

static void
do_unlock(int t, const char *call)
{
    uint64_t sw0 = coro_sched_switches(M.s);
    int rc, want_err = M.mx_holder == t ? 0 : EPERM;

    if (want_err == 0)
        model_unlock();
    rc = coro_mutex_unlock(M.mx);
    expect(call, rc, errno, want_err ? -1 : 0, want_err);
    expect_no_switch(call, sw0);
}

/* A task waits in queue q (the mutex's or the wait group's) until another
 * wakes it; the call is the blocking one, made once the model gave way.
 * Returns what the wake-up said: 0 or an errno. */
static int
block_in(int *q, int *n, int t, const char *call, int (*fn)(void *, int64_t),
         void *obj)
{
    int rc, e;

    trace("%s waits", call);
    q[(*n)++] = t;
    give_way(t, 0);
    rc = fn(obj, CORO_FOREVER);
    e = errno;
    task_turn(t, call);
    expect(call, rc, e, M.tasks[t].w_err ? -1 : 0, M.tasks[t].w_err);
    return M.tasks[t].w_err;
}

static int
lock_fn(void *m, int64_t timeout)
{
    return coro_mutex_lock(m, timeout);
}

static int
wg_wait_fn(void *wg, int64_t timeout)
{
    return coro_wg_wait(wg, timeout);
}

enum { SYNC_MUTEX, SYNC_WG, SYNC_COND };

/* Is a task inside coro_cond_wait() on the mutex: waiting for a signal,
 * or signalled and yet to take the mutex back? Then the mutex is busy for
 * coro_mutex_destroy(), though nobody holds it or waits for it (this
 * harness found it freed under such a waiter). */
static int
cond_uses_mutex(void)
{
    if (M.cv_n > 0)
        return 1;
    for (int t = 0; t < M.ntasks_used; t++)
        if (M.tasks[t].reacquire && M.tasks[t].state != T_GONE && !M.tasks[t].closed)
            return 1;
    return 0;
}

/* Destroy an object nobody waits for; a held mutex or a waited-for object
 * is busy. Made anew at once, so that the other ops always have one. */
static void
sync_destroy(int which, const char *call)
{
    int busy = which == SYNC_MUTEX ? M.mx_holder >= 0 || M.mx_n > 0 || cond_uses_mutex()
             : which == SYNC_WG ? M.wg_n > 0 : M.cv_n > 0;
    int rc;

    rc = which == SYNC_MUTEX ? coro_mutex_destroy(M.mx)
       : which == SYNC_WG ? coro_wg_destroy(M.wg) : coro_cond_destroy(M.cv);
    if (busy) {
        expect(call, rc, errno, -1, EBUSY);
        return;
    }
    expect(call, rc, errno, 0, 0);
    if (which == SYNC_MUTEX) {
        M.mx = coro_mutex_create();
        M.mx_holder = -1;
    } else if (which == SYNC_WG) {
        M.wg = coro_wg_create();
        M.wg_count = 0;
    } else {
        M.cv = coro_cond_create();
    }
    if (M.mx == NULL || M.wg == NULL || M.cv == NULL)
        fail("coro_mutex_create/coro_wg_create/coro_cond_create: %s", errname(errno));
}

/*
 * A mutex op by a task's script. p % 8: 0 to 2 lock forever, 3 lock with
 * timeout 0, 4 to 6 unlock, 7 destroy (and make anew).
 */
static void
mutex_op(unsigned p)
{
    int kind = (int)(p % 8), t = running_task("mutex op");
    uint64_t sw0 = coro_sched_switches(M.s);
    int64_t timeout = kind == 3 ? 0 : CORO_FOREVER;
    char call[64];
    int rc;

    if (kind >= 4) {
        snprintf(call, sizeof call, "task %d: coro_mutex_%s", t,
                 kind == 7 ? "destroy" : "unlock");
        if (kind == 7)
            sync_destroy(SYNC_MUTEX, call);
        else
            do_unlock(t, call);
        return;
    }
    snprintf(call, sizeof call, "task %d: coro_mutex_lock(%s)", t,
             timeout == 0 ? "0" : "forever");
    if (M.mx_holder < 0) {
        M.mx_holder = t;
        rc = coro_mutex_lock(M.mx, timeout);
        expect(call, rc, errno, 0, 0);
    } else if (M.mx_holder == t) {
        rc = coro_mutex_lock(M.mx, timeout);
        expect(call, rc, errno, -1, EDEADLK);
    } else if (timeout == 0) {
        rc = coro_mutex_lock(M.mx, timeout);
        expect(call, rc, errno, -1, EAGAIN);
    } else {
        /* Handed off by the unlock that woke us: we hold it already. */
        if (block_in(M.mx_q, &M.mx_n, t, call, lock_fn, M.mx) == 0 &&
            M.mx_holder != t)
            fail("model: %s returned but task %d is not the holder", call, t);
        return;
    }
    expect_no_switch(call, sw0);
}

/*
 * A wait group op by a task's script. p % 8: 0 add (p / 8) % 4 - 1,
 * 1 add 1, 2 and 3 done, 4 and 5 wait forever, 6 wait with timeout 0,
 * 7 destroy (and make anew). The count reaching 0 wakes every waiter, in
 * the order they came.
 */
static void
wg_op(unsigned p)
{
    int kind = (int)(p % 8), t = running_task("wait group op");
    uint64_t sw0 = coro_sched_switches(M.s);
    char call[64];
    int rc;

    if (kind <= 3) {
        long n = kind == 0 ? (long)((p / 8) % 4) - 1 : kind == 1 ? 1 : -1;

        snprintf(call, sizeof call, "task %d: coro_wg_%s(%ld) at count %ld", t,
                 kind <= 1 ? "add" : "done", n, M.wg_count);
        if (M.wg_count + n < 0) {
            rc = kind <= 1 ? coro_wg_add(M.wg, n) : coro_wg_done(M.wg);
            expect(call, rc, errno, -1, EINVAL);
        } else {
            if ((M.wg_count += n) == 0)
                while (M.wg_n > 0)
                    wake(M.wg_q[0], 0, 0, 0);
            rc = kind <= 1 ? coro_wg_add(M.wg, n) : coro_wg_done(M.wg);
            expect(call, rc, errno, 0, 0);
        }
    } else if (kind == 7) {
        snprintf(call, sizeof call, "task %d: coro_wg_destroy", t);
        sync_destroy(SYNC_WG, call);
    } else {
        int64_t timeout = kind == 6 ? 0 : CORO_FOREVER;

        snprintf(call, sizeof call, "task %d: coro_wg_wait(%s) at count %ld", t,
                 timeout == 0 ? "0" : "forever", M.wg_count);
        if (M.wg_count > 0 && timeout != 0) {
            block_in(M.wg_q, &M.wg_n, t, call, wg_wait_fn, M.wg);
            return;
        }
        rc = coro_wg_wait(M.wg, timeout);
        if (M.wg_count == 0)
            expect(call, rc, errno, 0, 0);
        else
            expect(call, rc, errno, -1, EAGAIN);
    }
    expect_no_switch(call, sw0);
}

/*
 * A condition variable op by a task's script, with the mutex. p % 8: 0 to 2
 * wait forever, 3 wait with timeout 0, 4 and 5 signal, 6 broadcast,
 * 7 destroy (and make anew). A wait unlocks the mutex as an unlock does
 * (handing it on) and takes it back when woken (see reacquire()).
 */
static void
cond_op(unsigned p)
{
    int kind = (int)(p % 8), t = running_task("condition variable op");
    uint64_t sw0 = coro_sched_switches(M.s);
    char call[64];
    int rc, e;

    if (kind <= 3) {
        int64_t timeout = kind == 3 ? 0 : CORO_FOREVER;

        snprintf(call, sizeof call, "task %d: coro_cond_wait(%s)", t,
                 timeout == 0 ? "0" : "forever");
        if (M.mx_holder != t || timeout == 0) {
            rc = coro_cond_wait(M.cv, M.mx, timeout);
            expect(call, rc, errno, -1, M.mx_holder != t ? EPERM : EAGAIN);
            expect_no_switch(call, sw0);
            return;
        }
        trace("%s waits", call);
        M.cv_q[M.cv_n++] = t;
        model_unlock();
        give_way(t, 0);
        rc = coro_cond_wait(M.cv, M.mx, timeout);
        e = errno;
        task_turn(t, call);
        expect(call, rc, e, 0, 0);
        if (M.mx_holder != t)
            fail("model: %s returned but task %d is not the holder", call, t);
        return;
    }
    if (kind == 7) {
        snprintf(call, sizeof call, "task %d: coro_cond_destroy", t);
        sync_destroy(SYNC_COND, call);
        expect_no_switch(call, sw0);
        return;
    }
    snprintf(call, sizeof call, "task %d: coro_cond_%s with %d waiting", t,
             kind == 6 ? "broadcast" : "signal", M.cv_n);
    while (M.cv_n > 0) {
        M.tasks[M.cv_q[0]].reacquire = 1;
        wake(M.cv_q[0], 0, 0, 0);
        if (kind != 6)
            break;
    }
    rc = kind == 6 ? coro_cond_broadcast(M.cv) : coro_cond_signal(M.cv);
    expect(call, rc, errno, 0, 0);
    expect_no_switch(call, sw0);
}

/*
 * Every task registers this handler first, so that it runs last, after its
 * script's: a task that ends (or is closed by coro_sched_destroy) holding
 * the mutex keeps it held, and nothing could ever unlock it again, the
 * holder being a context that is about to be freed (and whose stack a
 * later task may reuse, to become the holder by accident). So the task
 * checks that it still holds it, and unlocks it, handing it to the next
 * waiter like any unlock. Not counted among the script's handlers.
 */
static void
release_handler(void *arg)
{
    int t = (int)(intptr_t)arg;
    int rc;

    if (M.destroying)
        catch_up_destroy(t);
    else if (M.pending_end != t)
        fail("release handler of task %d runs but it has not ended", t);
    if (top() != TASK_EX + t)
        fail("release handler of task %d runs but the model runs %d", t, top());
    check_self("in the release handler");
    if (M.mx_holder != t) {
        rc = coro_mutex_unlock(M.mx);
        expect("release handler: coro_mutex_unlock(not held)", rc, errno, -1, EPERM);
        return;
    }
    rc = coro_mutex_lock(M.mx, 0);
    expect("release handler: coro_mutex_lock(held by the ending task)", rc, errno,
           -1, EDEADLK);
    do_unlock(t, "release handler: coro_mutex_unlock");
}

/* ---------------------------------------------------------------------- */
/* Deferred handlers                                                       */

static int *
registered_of(int e)
{
    return IS_TASK(e) ? &M.tasks[e - TASK_EX].registered : &M.slots[e].registered;
}

static int *
ran_of(int e)
{
    return IS_TASK(e) ? &M.tasks[e - TASK_EX].ran : &M.slots[e].ran;
}

static void
handler(void *arg)
{
    struct defer *d = arg;
    int e = d->owner;
    coro_t *self = ex_handle(e);
    int rc;

    if (IS_TASK(e) && M.destroying)
        catch_up_destroy(e - TASK_EX);
    else if (IS_TASK(e) && M.pending_end != e - TASK_EX)
        fail("handler of task %d runs but it has not ended", e - TASK_EX);
    if (top() != e)
        fail("handler of %d runs but the model runs %d", e, top());
    check_self("in a deferred handler");
    if (coro_status(self) != CORO_RUNNING)
        fail("handler: its coroutine's status is %d, not RUNNING",
             coro_status(self));
    check_all_status();
    /* Most recently registered first, each once. */
    if (d->index != *registered_of(e) - 1 - *ran_of(e))
        fail("handler %d of %d runs, expected handler %d", d->index, e,
             *registered_of(e) - 1 - *ran_of(e));
    (*ran_of(e))++;

    errno = 0;
    if (coro_yield(vp(uniq())) != NULL || errno != ECANCELED)
        fail("coro_yield in a handler: expected NULL (errno ECANCELED), errno %s",
             errname(errno));
    if (IS_TASK(e)) {
        rc = coro_sched_yield();
        expect("coro_sched_yield in a task's handler", rc, errno, -1, ECANCELED);
        rc = coro_sleep(0);
        expect("coro_sleep(0) in a task's handler", rc, errno, -1, ECANCELED);
        rc = coro_sched_run(M.s);
        expect("coro_sched_run in a task's handler", rc, errno, -1, EBUSY);
        rc = coro_sched_destroy(M.s);
        expect("coro_sched_destroy in a task's handler", rc, errno, -1, EBUSY);
        rc = coro_close(self);
        expect("coro_close(task) in its handler", rc, errno, -1, EPERM);
    } else {
        rc = coro_sched_yield();
        expect("coro_sched_yield in a generator's handler", rc, errno, -1, EPERM);
        rc = coro_close(self);
        expect("coro_close(self) in a handler", rc, errno, -1, EBUSY);
        rc = coro_destroy(self);
        expect("coro_destroy(self) in a handler", rc, errno, -1, EBUSY);
    }
    if (d->mode == 1) {
        uint32_t v = uniq();

        if (!IS_TASK(e))
            M.slots[e].exp_out = vp(v); /* the last coro_exit() wins */
        coro_exit(vp(v));
        fail("coro_exit returned in a handler");
    }
    if (d->mode == 2)
        chan_op(d->param, "handler");
}

/* coro_defer() by the running executor; mode 3 tries a NULL fn. */
static void
do_defer(unsigned p, unsigned param)
{
    int e = top();
    struct defer *d;
    int rc;

    if (p % 4 == 3) {
        rc = coro_defer(NULL, NULL);
        expect("coro_defer(NULL)", rc, errno, -1, EINVAL);
        return;
    }
    if (*registered_of(e) == MAX_DEFERS)
        return;
    d = IS_TASK(e) ? &M.tasks[e - TASK_EX].defers[*registered_of(e)]
                   : &M.slots[e].defers[*registered_of(e)];
    d->owner = e;
    d->index = *registered_of(e);
    d->mode = (int)(p % 4);
    d->param = param;
    rc = coro_defer(handler, d);
    expect("coro_defer", rc, errno, 0, 0);
    (*registered_of(e))++;
}

/* ---------------------------------------------------------------------- */
/* Generators: resume, close, destroy                                      */

static void op_run(void);
static void op_sched_destroy(void);

static void
do_resume(int k, int with_value)
{
    struct slot *sl = &M.slots[k];
    void *in = with_value ? vp(uniq()) : NULL;
    void *out = OUT_SENTINEL;
    char call[64];
    int want_err = 0, rc, e;

    snprintf(call, sizeof call, "coro_resume(slot %d, %s)", k, in ? "value" : "NULL");
    if (sl->state == ST_FREE) {
        rc = coro_resume(NULL, in, &out);
        expect("coro_resume(NULL)", rc, errno, -1, EINVAL);
        if (out != OUT_SENTINEL)
            fail("coro_resume(NULL) changed *out");
        return;
    }
    if (chain_pos(k) >= 0)
        want_err = EBUSY;
    else if (sl->state == ST_DEAD)
        want_err = ESRCH;
    else if (sl->state == ST_CREATED && in != NULL)
        want_err = EINVAL;
    if (want_err) {
        rc = coro_resume(sl->co, in, &out);
        expect(call, rc, errno, -1, want_err);
        if (out != OUT_SENTINEL)
            fail("%s: failed but changed *out", call);
        check_status(k);
        return;
    }
    sl->sent = in;
    sl->state = ST_ACTIVE;
    sl->exp_rc = -2;
    chain_push(k);
    rc = coro_resume(sl->co, in, &out);
    e = errno;
    chain_pop(k);
    if (sl->exp_rc == -2)
        fail("%s: the coroutine body did not run", call);
    expect(call, rc, e, sl->exp_rc, 0);
    if (out != sl->exp_out)
        fail("%s: *out is %p, expected %p", call, out, sl->exp_out);
    if (rc == 1) {
        sl->state = ST_DEAD;
        check_handlers_ran("coroutine in slot", k, sl->registered, sl->ran);
    } else {
        sl->state = ST_SUSPENDED;
    }
    check_all_status();
}

static void
do_close(int k, int destroy)
{
    struct slot *sl = &M.slots[k];
    const char *call = destroy ? "coro_destroy" : "coro_close";
    int rc, e;

    if (sl->state == ST_FREE) {
        if (destroy) {
            rc = coro_destroy(NULL);
            expect("coro_destroy(NULL)", rc, errno, 0, 0);
        } else {
            rc = coro_close(NULL);
            expect("coro_close(NULL)", rc, errno, -1, EINVAL);
        }
        return;
    }
    if (chain_pos(k) >= 0) {
        rc = destroy ? coro_destroy(sl->co) : coro_close(sl->co);
        expect(call, rc, errno, -1, EBUSY);
        check_status(k);
        return;
    }
    if (sl->state == ST_SUSPENDED) {
        /* It runs once more, only its handlers, with status RUNNING. */
        sl->state = ST_ACTIVE;
        chain_push(k);
        rc = destroy ? coro_destroy(sl->co) : coro_close(sl->co);
        e = errno;
        chain_pop(k);
    } else {
        rc = destroy ? coro_destroy(sl->co) : coro_close(sl->co);
        e = errno;
    }
    expect(call, rc, e, 0, 0);
    sl->state = ST_DEAD;
    check_handlers_ran("coroutine in slot", k, sl->registered, sl->ran);
    if (destroy)
        memset(sl, 0, sizeof *sl); /* ST_FREE */
    else
        check_status(k);
}

/* Misuse from inside generator k: itself and its resumer are busy. */
static void
gen_misuse(int k, int resumer)
{
    coro_t *co = M.slots[k].co;
    void *out = OUT_SENTINEL;
    int rc;

    if (!resumer) {
        rc = coro_close(co);
        expect("coro_close(self)", rc, errno, -1, EBUSY);
        rc = coro_destroy(co);
        expect("coro_destroy(self)", rc, errno, -1, EBUSY);
        rc = coro_resume(co, NULL, &out);
        expect("coro_resume(self, NULL)", rc, errno, -1, EBUSY);
        rc = coro_resume(co, vp(uniq()), &out);
        expect("coro_resume(self, value)", rc, errno, -1, EBUSY);
        rc = coro_sched_yield();
        expect("coro_sched_yield in a generator", rc, errno, -1, EPERM);
        rc = coro_sleep(0);
        expect("coro_sleep(0) in a generator", rc, errno, -1, EPERM);
        if (M.s != NULL && M.busy) {
            /* Resumed, at some depth, by a task. */
            rc = coro_sched_run(M.s);
            expect("coro_sched_run from a task's generator", rc, errno, -1, EBUSY);
            rc = coro_sched_destroy(M.s);
            expect("coro_sched_destroy from a task's generator", rc, errno, -1, EBUSY);
        }
    } else {
        int r = M.chain[chain_pos(k) - 1];

        if (r == EX_THREAD || IS_TASK(r))
            return; /* a task is both NORMAL and a task: no single errno */
        rc = coro_close(M.slots[r].co);
        expect("coro_close(resumer)", rc, errno, -1, EBUSY);
        rc = coro_destroy(M.slots[r].co);
        expect("coro_destroy(resumer)", rc, errno, -1, EBUSY);
        rc = coro_resume(M.slots[r].co, NULL, &out);
        expect("coro_resume(resumer)", rc, errno, -1, EBUSY);
    }
    if (out != OUT_SENTINEL)
        fail("a failed coro_resume changed *out");
    check_self("generator misuse");
    check_all_status();
}

/*
 * The body of every generator: slot k's script, (op, param) pairs.
 *   op % 10: 0 yield, 1 defer, 2 coro_exit, 3 return, 4 misuse of itself,
 *   5 misuse of its resumer, 6 resume slot p % 4 (sending a value when
 *   p & 4), 7 close slot p % 4, 8 a channel op, 9 destroy slot p % 4,
 *   10 run the scheduler, 11 destroy it (as the thread would, but with
 *   this generator CORO_NORMAL underneath the tasks).
 */
static void *
gen_body(void *arg)
{
    int k = (int)(intptr_t)arg;
    struct slot *sl = &M.slots[k];
    uint32_t v;

    if (top() != k)
        fail("slot %d starts but the model runs %d", k, top());
    check_self("generator start");
    if (sl->sent != NULL)
        fail("slot %d started by a resume sending a value", k);
    check_status(k);
    while (sl->pc + 1 < sl->len) {
        unsigned op = sl->script[sl->pc] % 12, p = sl->script[sl->pc + 1];
        void *in;

        sl->pc += 2;
        trace("slot %d script op %u param %u", k, op, p);
        switch (op) {
        case 0:
            v = uniq();
            sl->exp_rc = 0;
            sl->exp_out = vp(v);
            sl->state = ST_SUSPENDED;
            in = coro_yield(vp(v));
            /* Resumed: do_resume() pushed us again and set sent. */
            if (top() != k)
                fail("slot %d continues but the model runs %d", k, top());
            if (in != sl->sent)
                fail("coro_yield in slot %d returned %p, expected %p", k, in,
                     sl->sent);
            check_self("after coro_yield");
            check_status(k);
            break;
        case 1:
            do_defer(p, (unsigned)sl->script[sl->pc - 2] * 7 + p);
            break;
        case 2:
            v = uniq();
            sl->exp_rc = 1;
            sl->exp_out = vp(v);
            coro_exit(vp(v));
            fail("coro_exit returned in slot %d", k);
        case 3:
            goto done;
        case 4:
            gen_misuse(k, 0);
            break;
        case 5:
            gen_misuse(k, 1);
            break;
        case 6:
            do_resume((int)(p % 4), (p & 4) != 0);
            break;
        case 7:
            do_close((int)(p % 4), 0);
            break;
        case 8:
            chan_op(p, "generator");
            break;
        case 9:
            do_close((int)(p % 4), 1);
            break;
        case 10:
            op_run();
            break;
        case 11:
            op_sched_destroy();
            break;
        }
    }
done:
    v = uniq();
    sl->exp_rc = 1;
    sl->exp_out = vp(v);
    return vp(v);
}

/* ---------------------------------------------------------------------- */
/* Tasks                                                                   */

static void *task_body(void *arg);

/* Three stack sizes, and CORO_STACK_MIN for tiny_generator(): the pool
 * keeps stacks of four sizes, and a fifth would make every create map a
 * new slab. Not smaller than the default: a failed check aborts on the
 * coroutine's stack, and libFuzzer's crash handler, which runs there too,
 * needs room to write the reproducer. */
static size_t
stack_size_of(unsigned p)
{
    static const size_t sizes[4] = {
        0, CORO_STACK_DEFAULT + 1, 1024 * 1024, 0,
    };

    return sizes[p % 4];
}

/* Spawn a task with the given script, from outside or from a task. */
static void
do_spawn(const uint8_t *script, int len, int child, unsigned p)
{
    struct task *tk;
    int t, rc;

    if (M.ntasks_used == NTASKS)
        return;
    t = M.ntasks_used++;
    tk = &M.tasks[t];
    memcpy(tk->script, script, (size_t)len);
    tk->len = len;
    tk->child = child;
    rc = coro_spawn(M.s, task_body, (void *)(intptr_t)t, stack_size_of(p));
    expect("coro_spawn", rc, errno, 0, 0);
    ready_push(t);
    M.order[M.norder++] = t;
}

/* The task is about to end by returning or coro_exit(): its handlers run,
 * then the scheduler frees it and moves on (catch_up_end). */
static void
task_end(int t)
{
    M.tasks[t].ending = 1;
    M.pending_end = t;
}

static void sync_misuse(int inside);

/*
 * The body of every task: task t's script, (op, param) pairs.
 *   op % 12: 0 coro_sched_yield, 1 coro_yield, 2 and 3 a channel op,
 *   4 defer, 5 coro_exit, 6 misuse, 7 resume generator slot p % 4,
 *   8 spawn a task running the rest of this script, 9 return,
 *   10 a mutex op (see mutex_op), 11 a wait group op (see wg_op),
 *   12 a condition variable op (see cond_op).
 */
static void *
task_body(void *arg)
{
    int t = (int)(intptr_t)arg;
    struct task *tk = &M.tasks[t];
    coro_t *self;
    int rc;

    task_turn(t, "task start");
    tk->self = coro_self();
    check_self("task start");
    if (coro_status(tk->self) != CORO_RUNNING)
        fail("task %d: status %d, not RUNNING", t, coro_status(tk->self));
    rc = coro_defer(release_handler, (void *)(intptr_t)t);
    expect("coro_defer(release handler)", rc, errno, 0, 0);
    while (tk->pc + 1 < tk->len) {
        unsigned op = tk->script[tk->pc] % 13, p = tk->script[tk->pc + 1];
        void *r;

        tk->pc += 2;
        trace("task %d script op %u param %u", t, op, p);
        switch (op) {
        case 0:
            give_way(t, 1);
            rc = coro_sched_yield();
            expect("coro_sched_yield", rc, errno, 0, 0);
            task_turn(t, "after coro_sched_yield");
            break;
        case 1:
            give_way(t, 1);
            r = coro_yield(vp(uniq()));
            if (r != NULL)
                fail("coro_yield in a task returned %p, not NULL", r);
            task_turn(t, "after coro_yield in a task");
            break;
        case 2:
        case 3:
            chan_op(p, "task");
            break;
        case 4:
            do_defer(p, (unsigned)tk->script[tk->pc - 2] * 7 + p);
            break;
        case 5:
            task_end(t);
            coro_exit(vp(uniq()));
            fail("coro_exit returned in task %d", t);
        case 6: {
            void *out = OUT_SENTINEL;

            self = tk->self;
            rc = coro_resume(self, NULL, &out);
            expect("coro_resume(task)", rc, errno, -1, EPERM);
            rc = coro_close(self);
            expect("coro_close(task)", rc, errno, -1, EPERM);
            rc = coro_destroy(self);
            expect("coro_destroy(task)", rc, errno, -1, EPERM);
            rc = coro_sched_run(M.s);
            expect("coro_sched_run in a task", rc, errno, -1, EBUSY);
            rc = coro_sched_destroy(M.s);
            expect("coro_sched_destroy in a task", rc, errno, -1, EBUSY);
            rc = coro_sleep(-1);
            expect("coro_sleep(-1)", rc, errno, -1, EINVAL);
            if (!tk->ending)
                sync_misuse(1);
            if (out != OUT_SENTINEL)
                fail("a failed coro_resume changed *out");
            check_self("task misuse");
            check_all_status();
            break;
        }
        case 7:
            do_resume((int)(p % 4), (p & 4) != 0);
            break;
        case 8:
            if (!tk->child)
                do_spawn(tk->script + tk->pc, tk->len - tk->pc, 1, p);
            break;
        case 9:
            goto done;
        case 10:
            mutex_op(p);
            break;
        case 11:
            wg_op(p);
            break;
        case 12:
            cond_op(p);
            break;
        }
    }
done:
    task_end(t);
    return vp(uniq());
}

/* ---------------------------------------------------------------------- */
/* Outer ops                                                               */

/* A body that can fail no check, so that it may run on the smallest stacks
 * (see stack_size_of): it yields its argument, then returns what it gets. */
static void *
echo_body(void *arg)
{
    return coro_yield(arg);
}

/* A whole generator's life in one op, on a stack of CORO_STACK_MIN, asked
 * for as such or as 1 byte (raised to it). */
static void
tiny_generator(unsigned p)
{
    void *a = vp(uniq()), *b = vp(uniq()), *out = NULL;
    coro_t *co = coro_create(echo_body, a, p % 2 ? 1 : CORO_STACK_MIN);
    int rc;

    if (co == NULL)
        fail("coro_create(small stack): %s", errname(errno));
    rc = coro_resume(co, NULL, &out);
    expect("coro_resume(echo)", rc, errno, 0, 0);
    if (out != a || coro_status(co) != CORO_SUSPENDED)
        fail("echo: yielded %p (expected %p), status %d", out, a, coro_status(co));
    rc = coro_resume(co, b, &out);
    expect("coro_resume(echo, value)", rc, errno, 1, 0);
    if (out != b || coro_status(co) != CORO_DEAD)
        fail("echo: returned %p (expected %p), status %d", out, b, coro_status(co));
    rc = coro_resume(co, NULL, &out);
    expect("coro_resume(dead echo)", rc, errno, -1, ESRCH);
    rc = coro_destroy(co);
    expect("coro_destroy(echo)", rc, errno, 0, 0);
}

static void
op_create(void)
{
    unsigned v = next_byte();
    struct slot *sl;
    coro_t *co;
    int k;

    if (v % 8 == 0) {
        co = coro_create(NULL, NULL, 0);
        expect_null("coro_create(NULL fn)", co, errno, EINVAL);
        return;
    }
    if (v % 8 == 1) {
        co = coro_create(gen_body, NULL, CORO_STACK_MAX + 1);
        expect_null("coro_create(stack > CORO_STACK_MAX)", co, errno, EINVAL);
        return;
    }
    if (v % 8 == 2) {
        tiny_generator(v / 8);
        return;
    }
    for (k = 0; k < NSLOTS && M.slots[k].state != ST_FREE; k++)
        ;
    if (k == NSLOTS)
        return;
    sl = &M.slots[k];
    read_script(sl->script, &sl->len);
    co = coro_create(gen_body, (void *)(intptr_t)k, stack_size_of(v / 8));
    if (co == NULL)
        fail("coro_create: %s", errname(errno));
    sl->co = co;
    sl->state = ST_CREATED;
    check_status(k);
}

/* The sync primitives and task handles, misused or used where nothing can
 * wait: on the thread's own stack (outside) or in a task (inside, which
 * must not change what the model predicts: nothing here waits or
 * switches). */
static void
sync_misuse(int inside)
{
    coro_mutex_t *m = coro_mutex_create();
    coro_cond_t *c = coro_cond_create();
    coro_wg_t *wg = coro_wg_create();
    coro_task_t *self = coro_task_self();
    int rc;

    if (m == NULL || c == NULL || wg == NULL)
        fail("coro_mutex_create/coro_cond_create/coro_wg_create: %s", errname(errno));
    if ((self != NULL) != inside)
        fail("coro_task_self(): %p %s a task", (void *)self, inside ? "in" : "outside");
    if (coro_task_cancelled() != 0)
        fail("coro_task_cancelled(): not 0");
    rc = coro_mutex_lock(m, CORO_FOREVER);
    expect("coro_mutex_lock(free)", rc, errno, 0, 0);
    rc = coro_mutex_lock(m, CORO_FOREVER);
    expect("coro_mutex_lock(held by the caller)", rc, errno, -1, EDEADLK);
    rc = coro_mutex_destroy(m);
    expect("coro_mutex_destroy(held)", rc, errno, -1, EBUSY);
    rc = coro_cond_wait(c, m, 0);
    expect("coro_cond_wait(timeout 0)", rc, errno, -1, EAGAIN);
    if (!inside) {
        rc = coro_cond_wait(c, m, CORO_FOREVER);
        expect("coro_cond_wait outside a task", rc, errno, -1, EPERM);
    }
    rc = coro_mutex_unlock(m);
    expect("coro_mutex_unlock", rc, errno, 0, 0);
    rc = coro_mutex_unlock(m);
    expect("coro_mutex_unlock(not held)", rc, errno, -1, EPERM);
    rc = coro_cond_wait(c, m, 0);
    expect("coro_cond_wait(m not held)", rc, errno, -1, EPERM);
    rc = coro_cond_signal(c);
    expect("coro_cond_signal(nobody waiting)", rc, errno, 0, 0);
    rc = coro_cond_broadcast(c);
    expect("coro_cond_broadcast(nobody waiting)", rc, errno, 0, 0);
    rc = coro_wg_wait(wg, CORO_FOREVER);
    expect("coro_wg_wait(count 0)", rc, errno, 0, 0);
    rc = coro_wg_done(wg);
    expect("coro_wg_done(count 0)", rc, errno, -1, EINVAL);
    rc = coro_wg_add(wg, 2);
    expect("coro_wg_add(2)", rc, errno, 0, 0);
    rc = coro_wg_wait(wg, 0);
    expect("coro_wg_wait(count 2, timeout 0)", rc, errno, -1, EAGAIN);
    if (!inside) {
        rc = coro_wg_wait(wg, CORO_FOREVER);
        expect("coro_wg_wait outside a task", rc, errno, -1, EPERM);
    }
    rc = coro_wg_add(wg, -3);
    expect("coro_wg_add(below 0)", rc, errno, -1, EINVAL);
    rc = coro_wg_add(wg, -2);
    expect("coro_wg_add(-2)", rc, errno, 0, 0);
    rc = coro_mutex_lock(NULL, 0);
    expect("coro_mutex_lock(NULL)", rc, errno, -1, EINVAL);
    rc = coro_mutex_unlock(NULL);
    expect("coro_mutex_unlock(NULL)", rc, errno, -1, EINVAL);
    rc = coro_cond_wait(NULL, m, 0);
    expect("coro_cond_wait(NULL)", rc, errno, -1, EINVAL);
    rc = coro_cond_signal(NULL);
    expect("coro_cond_signal(NULL)", rc, errno, -1, EINVAL);
    rc = coro_wg_add(NULL, 1);
    expect("coro_wg_add(NULL)", rc, errno, -1, EINVAL);
    rc = coro_wg_wait(NULL, 0);
    expect("coro_wg_wait(NULL)", rc, errno, -1, EINVAL);
    rc = coro_task_join(NULL, NULL, 0);
    expect("coro_task_join(NULL)", rc, errno, -1, EINVAL);
    rc = coro_task_detach(NULL);
    expect("coro_task_detach(NULL)", rc, errno, -1, EINVAL);
    rc = coro_task_cancel(NULL);
    expect("coro_task_cancel(NULL)", rc, errno, -1, EINVAL);
    if (inside) {
        rc = coro_task_join(self, NULL, CORO_FOREVER);
        expect("coro_task_join(itself)", rc, errno, -1, EDEADLK);
    }
    rc = coro_mutex_destroy(m);
    expect("coro_mutex_destroy", rc, errno, 0, 0);
    rc = coro_cond_destroy(c);
    expect("coro_cond_destroy", rc, errno, 0, 0);
    rc = coro_wg_destroy(wg);
    expect("coro_wg_destroy", rc, errno, 0, 0);
    rc = coro_mutex_destroy(NULL) | coro_cond_destroy(NULL) | coro_wg_destroy(NULL);
    expect("coro_*_destroy(NULL)", rc, errno, 0, 0);
}

/* Everything that must fail on the thread's own stack, and NULL args. */
static void
op_misuse(void)
{
    coro_sel_t sel[1] = { { NULL, CORO_RECV, NULL, 0 } };
    coro_status_t st;
    uint64_t n;
    const char *name = coro_switch_name();
    int64_t t0 = coro_now(), t1 = coro_now();
    void *r;
    int rc;

    if (name == NULL || name != coro_switch_name() ||
        (strcmp(name, "ucontext") != 0 && strncmp(name, "fast (", 6) != 0))
        fail("coro_switch_name(): \"%s\"", name ? name : "(null)");
    if (t1 < t0)
        fail("coro_now() went back: %lld then %lld", (long long)t0, (long long)t1);
    check_self("thread");
    check_all_status();
    errno = 0;
    r = coro_yield(vp(1));
    expect_null("coro_yield outside", r, errno, EPERM);
    rc = coro_defer(handler, NULL);
    expect("coro_defer outside", rc, errno, -1, EPERM);
    rc = coro_exit(vp(1));
    expect("coro_exit outside", rc, errno, -1, EPERM);
    rc = coro_sched_yield();
    expect("coro_sched_yield outside", rc, errno, -1, EPERM);
    rc = coro_sleep(0);
    expect("coro_sleep(0) outside", rc, errno, -1, EPERM);
    sync_misuse(0);
    errno = 0;
    st = coro_status(NULL);
    if (st != CORO_DEAD || errno != EINVAL)
        fail("coro_status(NULL): %d errno %s", st, errname(errno));
    errno = 0;
    n = coro_sched_switches(NULL);
    if (n != 0 || errno != EINVAL)
        fail("coro_sched_switches(NULL): %llu errno %s",
             (unsigned long long)n, errname(errno));
    rc = coro_sched_run(NULL);
    expect("coro_sched_run(NULL)", rc, errno, -1, EINVAL);
    rc = coro_sched_destroy(NULL);
    expect("coro_sched_destroy(NULL)", rc, errno, 0, 0);
    rc = coro_spawn(NULL, task_body, NULL, 0);
    expect("coro_spawn(NULL)", rc, errno, -1, EINVAL);
    if (M.s != NULL) {
        rc = coro_spawn(M.s, NULL, NULL, 0);
        expect("coro_spawn(NULL fn)", rc, errno, -1, EINVAL);
        rc = coro_spawn(M.s, task_body, NULL, CORO_STACK_MAX + 1);
        expect("coro_spawn(stack > CORO_STACK_MAX)", rc, errno, -1, EINVAL);
        if (coro_sched_switches(M.s) != M.switches)
            fail("coro_sched_switches: %llu, expected %llu",
                 (unsigned long long)coro_sched_switches(M.s),
                 (unsigned long long)M.switches);
    }
    expect_null("coro_chan_create(0, 1)", coro_chan_create(0, 1), errno, EINVAL);
    expect_null("coro_chan_create(8, SIZE_MAX)", coro_chan_create(8, SIZE_MAX),
                errno, EINVAL);
    rc = coro_chan_destroy(NULL);
    expect("coro_chan_destroy(NULL)", rc, errno, 0, 0);
    rc = coro_select(NULL, 1, 0);
    expect("coro_select(NULL, 1)", rc, errno, -1, EINVAL);
    rc = coro_select(NULL, 0, CORO_FOREVER);
    expect("coro_select(n 0, forever)", rc, errno, -1, EINVAL);
    rc = coro_select(NULL, 0, 0);
    expect("coro_select(n 0, 0)", rc, errno, -1, EAGAIN);
    /* An entry without a channel is never ready (Go's nil channel). */
    rc = coro_select(sel, 1, 0);
    expect("coro_select(NULL chan, 0)", rc, errno, -1, EAGAIN);
    rc = coro_select_first(sel, 1, 0);
    expect("coro_select_first(NULL chan, 0)", rc, errno, -1, EAGAIN);
    for (int c = 0; c < NCHANS; c++) {
        if (M.chans[c].ch == NULL)
            continue;
        /* Checked before anything is done, whatever the channel's state. */
        sel[0].chan = M.chans[c].ch;
        sel[0].op = 3;
        rc = coro_select(sel, 1, 0);
        expect("coro_select(bad op)", rc, errno, -1, EINVAL);
        sel[0].op = CORO_SEND;
        sel[0].elem = NULL;
        rc = coro_select(sel, 1, 0);
        expect("coro_select(send NULL elem)", rc, errno, -1, EINVAL);
        rc = coro_chan_send(M.chans[c].ch, NULL);
        expect("coro_chan_send(NULL elem)", rc, errno, -1, EINVAL);
        rc = coro_chan_send_timeout(M.chans[c].ch, NULL, 0);
        expect("coro_chan_send_timeout(NULL elem)", rc, errno, -1, EINVAL);
        sel[0].chan = NULL;
        sel[0].op = CORO_RECV;
    }
}

static void
op_chan_toggle(void)
{
    /* 4, 8 and 16 have copy paths of their own. */
    static const size_t esizes[5] = { 1, 4, 8, 16, ELEM_MAX };
    unsigned v = next_byte();
    int ci = (int)(v % 3);
    struct chan *c = &M.chans[ci];
    int rc;

    if (c->ch != NULL) {
        rc = coro_chan_destroy(c->ch);
        if (c->ns > 0 || c->nr > 0) {
            expect("coro_chan_destroy(waited on)", rc, errno, -1, EBUSY);
            return;
        }
        expect("coro_chan_destroy", rc, errno, 0, 0);
        memset(c, 0, sizeof *c);
        return;
    }
    c->esize = esizes[(v / 3) % 5];
    c->cap = (v / 15) % 3;
    trace("coro_chan_create(%zu, %zu) as chan %d", c->esize, c->cap, ci);
    c->ch = coro_chan_create(c->esize, c->cap);
    if (c->ch == NULL)
        fail("coro_chan_create(%zu, %zu): %s", c->esize, c->cap, errname(errno));
}

static void
op_sched(void)
{
    unsigned v = next_byte();
    uint8_t script[SCRIPT_MAX];
    int len;

    if (M.s == NULL) {
        M.s = coro_sched_create();
        if (M.s == NULL)
            fail("coro_sched_create: %s", errname(errno));
        if (coro_sched_switches(M.s) != 0)
            fail("a new scheduler has switched");
        return;
    }
    read_script(script, &len);
    do_spawn(script, len, 0, v);
}

static void
op_run(void)
{
    int rc, e;

    if (M.s == NULL) {
        rc = coro_sched_run(NULL);
        expect("coro_sched_run(NULL)", rc, errno, -1, EINVAL);
        return;
    }
    if (M.busy) {
        rc = coro_sched_run(M.s);
        expect("coro_sched_run while it runs", rc, errno, -1, EBUSY);
        return;
    }
    /* From the thread or from a generator, which is NORMAL meanwhile. */
    M.base = M.chain_len;
    M.busy = 1;
    M.run_result = -2;
    dispatch(ready_pop());
    rc = coro_sched_run(M.s);
    e = errno;
    catch_up_end();
    M.busy = 0;
    if (M.current != -1 || M.chain_len != M.base)
        fail("coro_sched_run returned while the model runs task %d", M.current);
    expect("coro_sched_run", rc, e, M.run_result ? -1 : 0, M.run_result);
    if (coro_sched_switches(M.s) != M.switches)
        fail("coro_sched_switches after the run: %llu, expected %llu",
             (unsigned long long)coro_sched_switches(M.s),
             (unsigned long long)M.switches);
    check_self("after coro_sched_run");
}

static void
op_sched_destroy(void)
{
    int rc, e;

    if (M.s == NULL) {
        rc = coro_sched_destroy(NULL);
        expect("coro_sched_destroy(NULL)", rc, errno, 0, 0);
        return;
    }
    if (M.busy) {
        rc = coro_sched_destroy(M.s);
        expect("coro_sched_destroy while it runs", rc, errno, -1, EBUSY);
        return;
    }
    M.base = M.chain_len;
    M.destroying = 1;
    M.busy = 1;
    rc = coro_sched_destroy(M.s);
    e = errno;
    catch_up_destroy(-1);
    M.chain_len = M.base;
    expect("coro_sched_destroy", rc, e, 0, 0);
    for (int c = 0; c < NCHANS; c++)
        if (M.chans[c].ns > 0 || M.chans[c].nr > 0)
            fail("model: chan %d still has waiters after coro_sched_destroy", c);
    M.s = NULL;
    M.destroying = 0;
    M.busy = 0;
    M.nready = 0;
    M.switches = 0;
    M.current = -1;
    check_self("after coro_sched_destroy");
}

/*
 * One outer op, on the thread's own stack. op is a byte % 13:
 *   0 create a generator: next byte v; v % 8 == 0 a NULL fn, 1 a stack
 *     larger than CORO_STACK_MAX, 2 a whole tiny generator's life, else a
 *     generator in the first free slot (stack picked by v / 8) with a
 *     script read next;
 *   1, 2 resume slot b % 4 sending NULL or a value; 3 close it; 4 destroy it;
 *   5 misuse and NULL arguments; 6 create or destroy channel b % 3;
 *   7, 8 a channel op (see chan_op); 9 create the scheduler, or spawn a task
 *   (stack byte, then a script); 10 run it; 11 destroy it; 12 coro_defer.
 */
static void
one_op(unsigned op)
{
    static const char *names[] = {
        "create", "resume", "resume value", "close", "destroy", "misuse",
        "chan create/destroy", "chan op", "chan op", "sched create/spawn",
        "sched run", "sched destroy", "defer outside",
    };
    unsigned p;

    M.op_name = names[op];
    trace("outer op %s", names[op]);
    switch (op) {
    case 0: op_create(); break;
    case 1: do_resume((int)(next_byte() % 4), 0); break;
    case 2: do_resume((int)(next_byte() % 4), 1); break;
    case 3: do_close((int)(next_byte() % 4), 0); break;
    case 4: do_close((int)(next_byte() % 4), 1); break;
    case 5: op_misuse(); break;
    case 6: op_chan_toggle(); break;
    case 7:
    case 8: p = next_byte(); chan_op(p, "thread"); break;
    case 9: op_sched(); break;
    case 10: op_run(); break;
    case 11: op_sched_destroy(); break;
    case 12: {
        int rc = coro_defer(handler, NULL);
        expect("coro_defer outside", rc, errno, -1, EPERM);
        break;
    }
    }
    if (M.chain_len != 1 || top() != EX_THREAD)
        fail("model: chain not back to the thread");
    check_all_status();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int n = 0;

    if (tracing == -1)
        tracing = getenv("FUZZ_API_TRACE") != NULL;
    memset(&M, 0, sizeof M);
    M.chain[0] = EX_THREAD;
    M.chain_len = 1;
    M.current = -1;
    M.pending_end = -1;
    M.in = data;
    M.in_len = size;
    M.op_name = "start";
    check_self("start");
    M.mx = coro_mutex_create();
    M.wg = coro_wg_create();
    M.cv = coro_cond_create();
    M.mx_holder = -1;
    if (M.mx == NULL || M.wg == NULL || M.cv == NULL)
        fail("coro_mutex_create/coro_wg_create/coro_cond_create: %s", errname(errno));

    while (M.in_pos < M.in_len && n < MAX_OPS) {
        M.op_index = n++;
        one_op(next_byte() % 13);
    }

    /* Leave nothing behind: scheduler (running task handlers), generators
     * (running theirs), then channels, on which nothing waits any more. */
    M.op_index = n;
    M.op_name = "cleanup";
    op_sched_destroy();
    for (int k = 0; k < NSLOTS; k++)
        if (M.slots[k].state != ST_FREE)
            do_close(k, 1);
    for (int c = 0; c < NCHANS; c++) {
        int rc = coro_chan_destroy(M.chans[c].ch);

        expect("coro_chan_destroy at cleanup", rc, errno, 0, 0);
    }
    /* Every task is gone, and each released the mutex as it ended. */
    if (M.mx_holder >= 0 || M.mx_n > 0 || M.wg_n > 0 || M.cv_n > 0)
        fail("model: the mutex, wait group or condition variable is busy at cleanup");
    {
        int rc = coro_mutex_destroy(M.mx);

        expect("coro_mutex_destroy at cleanup", rc, errno, 0, 0);
        rc = coro_wg_destroy(M.wg);
        expect("coro_wg_destroy at cleanup", rc, errno, 0, 0);
        rc = coro_cond_destroy(M.cv);
        expect("coro_cond_destroy at cleanup", rc, errno, 0, 0);
    }
    for (int t = 0; t < M.ntasks_used; t++)
        if (M.tasks[t].state != T_GONE)
            fail("task %d never ended", t);
    check_self("end");
    if (coro_self() != NULL || coro_sched_self() != NULL)
        fail("coro_self() or coro_sched_self() not NULL at the end");
    memset(&M, 0, sizeof M);
    return 0;
}
