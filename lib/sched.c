/*
 * The round-robin scheduler: tasks are coroutines that a scheduler manages
 * (object.h), each with its scheduler state (struct task) in the object's
 * ext area. A FIFO ready queue decides who runs next; a task that yields
 * or is woken goes to the back. Blocked tasks are in no queue of the
 * scheduler's, only in what their wait's clauses are queued in (wait.h)
 * and, with a deadline, in the timer heap, so nothing ever polls.
 *
 * A task that yields or blocks switches straight to the next ready task
 * (park), so each change of task is one context switch. coro_sched_run() is
 * the loop underneath, resuming the head of the queue: control comes back to
 * it only when a task ends (it frees it) or blocks with nobody ready. It
 * sleeps when only timers are left and reports EDEADLK when nothing at all
 * can wake the remaining tasks.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "list.h"
#include "object.h"
#include "task.h"
#include "timer.h"
#include "wait.h"

/* The ready queue is a ring of task pointers: a push or a pop touches the
 * ring and nothing of any other task. A task is in it at most once, so it
 * never holds more than the scheduler's tasks, for whom spawning reserves
 * room. */
struct coro_sched {
    struct task **ring;
    size_t cap, head, nready;    /* cap: a power of 2, or 0 */
    size_t ntasks;
    struct coro__link tasks;     /* every live task */
    struct coro__heap timers;    /* blocked tasks with a deadline */
    uint64_t owner;              /* the id of the thread it belongs to */
    uint64_t switches;           /* times a task was switched in */
    size_t round;                /* tasks to run before the timers are looked at again */
    struct task *current;        /* the task running, or the last one that ran */
    int busy;                    /* inside coro_sched_run() or coro_sched_destroy() */
    const struct coro__poller_ops *poller_ops;
    void *poller;                /* io.c's, once a task waited on an fd */
    size_t poller_waiting;       /* tasks waiting on it */
};

static void *task_yield(struct coro *self, void *out);

const struct coro__ops coro__task_ops = {
    .kind = "task",
    .yield = task_yield,
};

static inline void
queue_ready(struct coro_sched *s, struct task *t)
{
    s->ring[(s->head + s->nready++) & (s->cap - 1)] = t;
}

static inline void
make_ready(struct task *t)
{
    queue_ready(t->sched, t);
}

/* The next task to run, out of the ready queue, or NULL. */
static inline struct task *
pop_ready(struct coro_sched *s)
{
    struct task *t;

    if (s->nready == 0)
        return NULL;
    t = s->ring[s->head];
    s->head = (s->head + 1) & (s->cap - 1);
    s->nready--;
    return t;
}

/* Room in the ring for n tasks. 0, or -1 ENOMEM. */
static int
reserve(struct coro_sched *s, size_t n)
{
    size_t cap = s->cap ? s->cap : 64;
    struct task **ring;

    if (n <= s->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    if ((ring = malloc(cap * sizeof *ring)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    for (size_t i = 0; i < s->nready; i++) /* unwrapped, from the head */
        ring[i] = s->ring[(s->head + i) & (s->cap - 1)];
    free(s->ring);
    s->ring = ring;
    s->cap = cap;
    s->head = 0;
    return 0;
}

/* t ended, returning result (NULL when it was closed): free it. */
static void
reap(struct coro_sched *s, struct task *t, void *result)
{
    if (t->ended)
        t->ended(t, result);
    coro__list_unlink(&t->tasks);
    s->ntasks--;
    (void)coro__destroy(coro__co_of(t)); /* it is dead: this only frees it */
}

/* The one place a wait ends, fired or cancelled: every clause but the
 * one that fired (its firer took it out) leaves its queue, and what the
 * wait owns is freed (a task closed while it waits never gets back to
 * free it). Out of line: the common wait, a single clause, needs none of
 * it (coro__fire). */
static __attribute__((noinline)) void
end_wait(struct coro__wait *w, const struct coro__clause *fired)
{
    for (struct coro__clause *c = w->clauses; c; c = c->next)
        if (c != fired)
            c->cancel(c);
    w->clauses = NULL;
    if (w->owned) {
        free(w->owned);
        w->owned = NULL;
    }
}

/* The task whose wait w is: every wait is a task's own (coro__wait_begin()),
 * so this is arithmetic, not a load. */
static inline struct task *
task_of_wait(struct coro__wait *w)
{
    return coro__container_of(w, struct task, own);
}

/* The end of a wait that fired, once its other clauses are gone. */
static inline void
fired(struct coro__wait *w, int id, int err)
{
    struct task *t = task_of_wait(w);

    w->fired = id;
    w->err = err;
    if (__builtin_expect(err == 0, 1)) {
        t->result = id;
    } else {
        t->result = -1;
        coro__set_errno(coro__co_of(t), err);
    }
    queue_ready(t->sched, t);
}

static __attribute__((noinline)) int
fire_slow(struct coro__wait *w, struct coro__clause *c, int err)
{
    int id = c->id; /* c may be in what end_wait() frees */

    end_wait(w, c);
    fired(w, id, err);
    return 0;
}

/* The common case, one clause and nothing owned, calls nothing (so it
 * saves no registers). Inline in both entries, so that coro__fire() is
 * not a jump more. */
static inline int
fire_in(struct coro__wait *w, struct coro__clause *c, int err)
{
    if (__builtin_expect(w->clauses != c || c->next != NULL || w->owned != NULL, 0))
        return fire_slow(w, c, err);
    fired(w, c->id, err);
    return 0;
}

int
coro__fire_in(struct coro__wait *w, struct coro__clause *c, int err)
{
    return fire_in(w, c, err);
}

int
coro__fire(struct coro__clause *c, int err)
{
    return fire_in(c->wait, c, err);
}

/* A task's wait that has not fired yet, or NULL. */
static struct coro__wait *
pending_wait(struct task *t)
{
    return t->own.fired == CORO__PENDING ? &t->own : NULL;
}

void
coro__interrupt(struct task *t, int err)
{
    struct coro__wait *w = pending_wait(t);

    if (w == NULL || w->nocancel)
        return;
    end_wait(w, NULL);
    w->fired = CORO__INTERRUPTED;
    w->err = err;
    t->result = -1;
    coro__set_errno(coro__co_of(t), err);
    queue_ready(t->sched, t);
}

/* Wake, in deadline order, every task whose deadline is not after now.
 * (Out of line: it stays off the path of a switch.) */
static __attribute__((noinline)) void
fire_timers(struct coro_sched *s, int64_t now)
{
    struct coro__timer *tm;

    while ((tm = coro__heap_top(&s->timers)) != NULL && tm->deadline <= now) {
        struct task *t = coro__container_of(tm, struct task, timer);

        coro__heap_remove(&s->timers, tm);
        coro__fire(&t->timeout, ETIMEDOUT);
    }
}

/* Deliver what the poller has ready, without waiting. */
static __attribute__((noinline)) void
poll_now(struct coro_sched *s)
{
    s->poller_ops->poll(s->poller, 0);
}

/* While timers are armed or tasks wait on the poller, look at the clock
 * and the poller once per round of the ready queue: a deadline or an event
 * is noticed at most one round late, and a busy queue costs no clock reads
 * or system calls per switch. A round is the tasks that were ready when
 * they were last looked at, each taking its turn; it never outlasts the
 * tasks ready now, so it ends early when the queue shrinks. When the queue
 * is empty, nothing is polled here: idle() is next, and it waits in the
 * poller anyway (one system call for a whole batch of events, not one per
 * task that blocks). */
static inline int
has_events(const struct coro_sched *s)
{
    return s->timers.n != 0 || s->poller_waiting != 0;
}

static void
poll_round(struct coro_sched *s)
{
    if (s->round > s->nready)
        s->round = s->nready;
    if (s->round > 0) {
        s->round--;
        return;
    }
    if (s->nready == 0)
        return;
    if (s->poller_waiting)
        poll_now(s);
    if (s->timers.n)
        fire_timers(s, coro_now());
    s->round = s->nready;
}

static inline void
poll_events(struct coro_sched *s)
{
    if (has_events(s))
        poll_round(s);
}

/* What a task gets back as it runs again: its wait is over. */
static inline int
wake_value(const struct task *t)
{
    return t->result;
}

/* The switch of park(), once the events are polled. */
static inline int
park_next(struct coro_sched *s, struct task *self)
{
    struct task *next = pop_ready(s);

    if (next == self)
        return wake_value(self); /* it is alone: no switch at all */
    if (next == NULL)
        return coro__suspend(coro__co_of(self));
    s->switches++;
    s->current = next;
    return coro__switch_to(coro__co_of(self), coro__co_of(next), wake_value(next));
}

static __attribute__((noinline)) int
park_polled(struct coro_sched *s, struct task *self)
{
    poll_round(s);
    return park_next(s, self);
}

/* The running task self gives way: to the back of the queue first when it
 * yields (requeue), not when it blocks. Then the next ready task runs in its
 * place, or, when none is, the loop in coro_sched_run() takes over. Returns
 * self's wake_value() when it runs again: every switch here is a tail call,
 * so that a task that runs again goes on straight in the caller of the
 * library function it blocked in (see coro.c). Without events to poll it
 * calls nothing before its switch, so it saves no registers. */
static inline int
park(struct coro_sched *s, struct task *self, int requeue)
{
    if (requeue) {
        self->result = 0;
        queue_ready(s, self);
    }
    if (__builtin_expect(has_events(s), 0))
        return park_polled(s, self);
    return park_next(s, self);
}

/* Nothing is runnable: sleep until the earliest deadline or, with tasks
 * waiting on the poller, until an event, without spinning. */
static void
idle(struct coro_sched *s)
{
    struct coro__timer *top = coro__heap_top(&s->timers);

    if (s->poller_waiting) {
        s->poller_ops->poll(s->poller, top ? top->deadline : -1);
    } else {
        struct timespec ts = {
            .tv_sec = top->deadline / 1000000000,
            .tv_nsec = top->deadline % 1000000000,
        };

        /* EINTR: a signal handler ran; just look at the clock again. */
        (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    if (s->timers.n)
        fire_timers(s, coro_now());
    s->round = s->nready;
}

static int
check_sched(const struct coro_sched *s)
{
    if (s == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!coro__mine(s->owner)) {
        errno = EPERM;
        return -1;
    }
    if (s->busy) {
        errno = EBUSY;
        return -1;
    }
    return 0;
}

coro_sched_t *
coro_sched_create(void)
{
    struct coro_sched *s = calloc(1, sizeof *s);

    if (s == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    coro__list_init(&s->tasks);
    s->owner = coro__thread_id();
    return s;
}

int
coro_sched_destroy(coro_sched_t *s)
{
    if (s == NULL)
        return 0;
    if (check_sched(s) == -1)
        return -1;
    /* Close every task; their handlers may spawn more, or wake others,
     * which are closed too. Nothing runs any more: the queue is dropped. */
    s->busy = 1;
    while (!coro__list_empty(&s->tasks)) {
        struct task *t = coro__container_of(s->tasks.next, struct task, tasks);

        if (pending_wait(t))
            end_wait(&t->own, NULL);
        (void)coro__close(coro__co_of(t));
        s->nready = 0;
        reap(s, t, NULL);
    }
    coro__heap_free(&s->timers);
    if (s->poller)
        s->poller_ops->free(s->poller);
    free(s->ring);
    free(s);
    return 0;
}

struct task *
coro__spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size)
{
    struct coro *co;
    struct task *t;

    if (s == NULL || fn == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (!coro__mine(s->owner)) {
        errno = EPERM;
        return NULL;
    }
    /* Room for every task in the ready queue and for every task's deadline
     * now, so that running and blocking never allocate. */
    if (reserve(s, s->ntasks + 1) == -1 || coro__heap_reserve(&s->timers, s->ntasks + 1) == -1)
        return NULL;
    if ((co = coro__create(fn, arg, stack_size, &coro__task_ops)) == NULL)
        return NULL;
    t = coro__task_of(co);
    t->sched = s;
    t->own.room = t->room;
    coro__list_push(&s->tasks, &t->tasks);
    s->ntasks++;
    make_ready(t);
    return t;
}

int
coro_spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size)
{
    return coro__spawn(s, fn, arg, stack_size) ? 0 : -1;
}

uint64_t
coro__sched_owner(const coro_sched_t *s)
{
    return s->owner;
}

void *
coro__sched_poller(const coro_sched_t *s)
{
    return s->poller;
}

void
coro__sched_set_poller(coro_sched_t *s, const struct coro__poller_ops *ops, void *poller)
{
    s->poller_ops = ops;
    s->poller = poller;
}

/* For coro_sched_dump(). */
static void
describe_timeout(const struct coro__clause *c, char *buf, size_t len)
{
    const struct task *t = coro__container_of(c, struct task, timeout);
    int64_t left = t->timer.deadline - coro_now();

    snprintf(buf, len, "%.3f ms", (double)(left > 0 ? left : 0) / 1e6);
}

/* What t waits on, in a few words: its operations in the order they were
 * added (a select's array order; the list has the newest first), then the
 * deadline. */
static void
describe_wait(struct task *t, char *buf, size_t len)
{
    struct coro__wait *w = pending_wait(t);
    struct coro__clause *ops[8];
    char one[128];
    size_t n = 0, shown, used = 0;
    int deadline = 0;

    buf[0] = '\0';
    /* Newest first in the list: each one goes in front, and the 8 oldest
     * are left. */
    for (struct coro__clause *c = w->clauses; c; c = c->next) {
        if (c == &t->timeout) {
            deadline = 1;
            continue;
        }
        memmove(ops + 1, ops, (n < 7 ? n : 7) * sizeof ops[0]);
        ops[0] = c;
        n++;
    }
    describe_timeout(&t->timeout, one, sizeof one);
    if (n == 0) {
        snprintf(buf, len, deadline ? "sleep, %s left" : "an event", one);
        return;
    }
    if (n > 1)
        used = (size_t)snprintf(buf, len, "select of %zu: ", n);
    shown = n < 8 ? n : 8;
    for (size_t i = 0; i < shown && used < len; i++) {
        if (ops[i]->describe)
            ops[i]->describe(ops[i], one, sizeof one);
        else
            snprintf(one, sizeof one, "an event");
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", one);
    }
    if (n > shown && used < len)
        used += (size_t)snprintf(buf + used, len - used, ", ...");
    if (deadline && used < len) {
        describe_timeout(&t->timeout, one, sizeof one);
        snprintf(buf + used, len - used, ", timeout in %s", one);
    }
}

int
coro_sched_dump(coro_sched_t *s, FILE *out)
{
    if (s == NULL || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!coro__mine(s->owner)) {
        errno = EPERM;
        return -1;
    }
    for (struct coro__link *l = s->tasks.next; l != &s->tasks; l = l->next) {
        struct task *t = coro__container_of(l, struct task, tasks);
        struct coro *co = coro__co_of(t);
        coro_status_t st = coro_status(co);
        int waits = pending_wait(t) != NULL;
        char what[512];
        Dl_info dl;

        if (waits)
            describe_wait(t, what, sizeof what);
        fprintf(out, "task %llu \"%s\": %s%s%s; function ", (unsigned long long)co->b.seq,
                coro_name(co),
                st == CORO_RUNNING || st == CORO_NORMAL ? "running" : waits ? "waiting" : "ready",
                waits ? ": " : "", waits ? what : "");
        if (dladdr((void *)co->fn, &dl) && dl.dli_sname && dl.dli_saddr == (void *)co->fn)
            fprintf(out, "%s\n", dl.dli_sname);
        else
            fprintf(out, "%p\n", (void *)(uintptr_t)co->fn);
    }
    if (fflush(out) == EOF || ferror(out)) {
        errno = EIO;
        return -1;
    }
    return 0;
}

void
coro__sched_poller_waiting(coro_sched_t *s, long delta)
{
    s->poller_waiting += (size_t)delta;
}

/* CORO_DEBUG=deadlock: say so on stderr, with the dump, as Go does. */
static void
deadlocked(coro_sched_t *s)
{
    const char *debug = getenv("CORO_DEBUG");

    if (debug && strstr(debug, "deadlock")) {
        fputs("libcoro: all tasks are blocked (deadlock)\n", stderr);
        (void)coro_sched_dump(s, stderr);
    }
}

int
coro_sched_run(coro_sched_t *s)
{
    struct task *t;
    int rc = 0;

    if (check_sched(s) == -1)
        return -1;
    s->busy = 1;
    s->round = 0;
    for (;;) {
        poll_events(s);
        if ((t = pop_ready(s)) != NULL) {
            void *result = NULL;

            s->switches++;
            s->current = t;
            if (coro__resume(coro__co_of(t), wake_value(t), &result) == 1)
                reap(s, s->current, result); /* the task that came back ended */
            continue;
        }
        if (s->ntasks == 0)
            break;
        if (s->timers.n == 0 && s->poller_waiting == 0) {
            deadlocked(s);
            errno = EDEADLK; /* all blocked, and nothing here can wake them */
            rc = -1;
            break;
        }
        idle(s);
    }
    s->busy = 0;
    return rc;
}

/* A task's plain coro_yield(): as coro_sched_yield(); its value is lost,
 * and it gets NULL back. */
static void *
task_yield(struct coro *self, void *out)
{
    struct task *t = coro__task_of(self);

    (void)out;
    (void)park(t->sched, t, 1);
    return NULL;
}

int
coro_sched_yield(void)
{
    struct task *self = coro__self_task();

    if (self == NULL) {
        errno = EPERM;
        return -1;
    }
    if (coro__ending(coro__co_of(self))) {
        errno = ECANCELED;
        return -1;
    }
    return park(self->sched, self, 1);
}

coro_sched_t *
coro_sched_self(void)
{
    struct task *self = coro__self_task();

    return self ? self->sched : NULL;
}

uint64_t
coro_sched_switches(const coro_sched_t *s)
{
    if (s == NULL) {
        errno = EINVAL;
        return 0;
    }
    return s->switches;
}

__attribute__((noinline, cold)) struct coro__wait *
coro__wait_refuse(const struct task *self)
{
    errno = self == NULL ? EPERM : ECANCELED;
    return NULL;
}

__attribute__((noinline, cold)) int
coro__wait_refused(const struct task *self, int64_t timeout)
{
    if (timeout == 0) {
        errno = EAGAIN;
        return -1;
    }
    (void)coro__wait_refuse(self);
    return -1;
}

__attribute__((noinline)) int
coro__wait_for(struct coro__wait *w, int64_t timeout)
{
    return coro__wait(w, coro__deadline(timeout));
}

struct coro__wait *
coro__wait_begin(int flags)
{
    struct task *self = coro__self_task();

    if (!coro__wait_allowed(self, flags))
        return coro__wait_refuse(self);
    return coro__wait_start(self, flags);
}

static void
cancel_timeout(struct coro__clause *c)
{
    struct task *t = coro__container_of(c, struct task, timeout);

    if (t->timer.pos)
        coro__heap_remove(&t->sched->timers, &t->timer);
}

static __attribute__((noinline)) int
wait_deadline(struct coro__wait *w, int64_t deadline)
{
    struct task *self = task_of_wait(w);

    coro__wait_add(w, &self->timeout, CORO__TIMEOUT, cancel_timeout);
    self->timeout.describe = describe_timeout;
    coro__heap_push(&self->sched->timers, &self->timer, deadline);
    return park(self->sched, self, 0);
}

int
coro__wait(struct coro__wait *w, int64_t deadline)
{
    struct task *self = task_of_wait(w);

    if (deadline >= 0)
        return wait_deadline(w, deadline);
    return park(self->sched, self, 0);
}

/* Sleep until deadline (>= 0). ETIMEDOUT is how it ends well. */
static int
sleep_until(int64_t deadline)
{
    struct coro__wait *w;

    if ((w = coro__wait_begin(0)) == NULL)
        return -1;
    if (coro__wait(w, deadline) == -1 && errno != ETIMEDOUT)
        return -1; /* ECANCELED */
    return 0;
}

int
coro_sleep(int64_t nsec)
{
    if (nsec < 0) {
        errno = EINVAL;
        return -1;
    }
    return sleep_until(coro__deadline(nsec));
}

int
coro_sleep_until(int64_t deadline)
{
    if (deadline < 0) {
        errno = EINVAL;
        return -1;
    }
    return sleep_until(deadline);
}
