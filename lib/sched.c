/*
 * The round-robin scheduler: tasks are coroutines owned by a scheduler. A
 * FIFO ready queue decides who runs next; a task that yields or is woken
 * goes to the back. Blocked tasks sit in wait queues (channels) and in the
 * timer heap, never in the ready queue, so nothing ever polls.
 *
 * A task that yields or blocks switches straight to the next ready task
 * (park), so each change of task is one context switch. coro_sched_run() is
 * the loop underneath, resuming the head of the queue: control comes back to
 * it only when a task ends (it frees it) or blocks with nobody ready. It
 * sleeps when only timers are left and reports EDEADLK when nothing at all
 * can wake the remaining tasks.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "coro-int.h"

struct coro_sched {
    struct coro__link ready;     /* runnable tasks, in order */
    struct coro__link tasks;     /* every live task */
    size_t nready, ntasks;
    struct coro__heap timers;    /* blocked tasks with a deadline */
    uint64_t owner;              /* the id of the thread it belongs to */
    uint64_t switches;           /* times a task was switched in */
    size_t round;                /* tasks to run before the timers are looked at again */
    struct coro *current;        /* the task running, or the last one that ran */
    int busy;                    /* inside coro_sched_run() or coro_sched_destroy() */
};

/* The next task to run, out of the ready queue, or NULL. */
static struct coro *
pop_ready(struct coro_sched *s)
{
    struct coro__link *l = coro__list_pop(&s->ready);

    if (l == NULL)
        return NULL;
    s->nready--;
    return coro__container_of(l, struct coro, runq);
}

static void
make_ready(struct coro *t)
{
    coro__list_push(&t->sched->ready, &t->runq);
    t->sched->nready++;
}

static void
reap(struct coro_sched *s, struct coro *t)
{
    coro__list_unlink(&t->tasks);
    s->ntasks--;
    coro__stack_put(t);
}

/* Wake, in deadline order, every task whose deadline is not after now. */
static void
fire_timers(struct coro_sched *s, int64_t now)
{
    struct coro__timer *tm;

    while ((tm = coro__heap_top(&s->timers)) != NULL && tm->deadline <= now) {
        struct coro *t = coro__container_of(tm, struct coro, timer);
        coro__wake(t->waiting, -1, ETIMEDOUT);
    }
}

/* While timers are armed, look at the clock once per round of the ready
 * queue: a deadline is noticed at most one round late, and a busy queue
 * costs no clock reads per switch. */
static void
poll_timers(struct coro_sched *s)
{
    if (s->timers.n == 0)
        return;
    if (s->round > 0) {
        s->round--;
        return;
    }
    fire_timers(s, coro_now());
    s->round = s->nready;
}

/* Start or continue t: the bookkeeping of every switch into a task. */
static void
prepare(struct coro_sched *s, struct coro *t)
{
    s->switches++;
    s->current = t;
    t->transfer = NULL; /* what a task's plain coro_yield() returns */
}

/* The running task self gives way: to the back of the queue first when it
 * yields (requeue), not when it blocks. Then the next ready task runs in its
 * place, or, when none is, the loop in coro_sched_run() takes over. Returns
 * when self runs again. */
static int
park(struct coro_sched *s, struct coro *self, int requeue)
{
    struct coro *next;

    if (requeue)
        make_ready(self);
    poll_timers(s);
    next = pop_ready(s);
    if (next == self)
        return 0; /* it is alone: no switch at all */
    if (next == NULL)
        return coro__suspend(self);
    prepare(s, next);
    return coro__switch_to(self, next);
}

/* Nothing is runnable: sleep until the earliest deadline, without spinning. */
static void
idle(struct coro_sched *s)
{
    int64_t deadline = coro__heap_top(&s->timers)->deadline;
    struct timespec ts = {
        .tv_sec = deadline / 1000000000,
        .tv_nsec = deadline % 1000000000,
    };

    /* EINTR: a signal handler ran; just look at the clock again. */
    (void)clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    fire_timers(s, coro_now());
}

static int
check_sched(const struct coro_sched *s)
{
    if (s == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (s->owner != coro__thr()->id) {
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
    coro__list_init(&s->ready);
    coro__list_init(&s->tasks);
    s->owner = coro__thr()->id;
    return s;
}

/* Take a blocked task out of every queue it waits in and out of the heap.
 * Every wait ends here, woken or cancelled, so this is also where waiters
 * allocated by a large select are freed: a task closed before it runs again
 * never gets back to coro_select(). */
static void
disarm(struct coro__wait *w)
{
    struct coro *t = w->task;

    for (size_t i = 0; i < w->n; i++)
        coro__list_unlink(&w->waiters[i].link);
    if (w->owned) {
        free(w->owned);
        w->owned = NULL;
    }
    if (t->timer.pos)
        coro__heap_remove(&t->sched->timers, &t->timer);
    t->waiting = NULL;
}

int
coro_sched_destroy(coro_sched_t *s)
{
    if (s == NULL)
        return 0;
    if (check_sched(s) == -1)
        return -1;
    /* Close every task; their handlers may spawn more, which are closed too. */
    s->busy = 1;
    while (!coro__list_empty(&s->tasks)) {
        struct coro *t = coro__container_of(s->tasks.next, struct coro, tasks);

        if (t->waiting) /* leave every wait queue and the timer heap */
            disarm(t->waiting);
        coro__list_unlink(&t->runq);
        coro__close(t);
        reap(s, t);
    }
    coro__heap_free(&s->timers);
    free(s);
    return 0;
}

int
coro_spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size)
{
    struct coro *t;

    if (s == NULL || fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (s->owner != coro__thr()->id) {
        errno = EPERM;
        return -1;
    }
    /* Room for every task's deadline now, so that blocking never allocates. */
    if (coro__heap_reserve(&s->timers, s->ntasks + 1) == -1)
        return -1;
    t = coro_create(fn, arg, stack_size);
    if (t == NULL)
        return -1;
    t->sched = s;
    coro__list_push(&s->tasks, &t->tasks);
    s->ntasks++;
    make_ready(t);
    return 0;
}

int
coro_sched_run(coro_sched_t *s)
{
    struct coro *t;
    int rc = 0;

    if (check_sched(s) == -1)
        return -1;
    s->busy = 1;
    s->round = 0;
    for (;;) {
        poll_timers(s);
        if ((t = pop_ready(s)) != NULL) {
            prepare(s, t);
            coro__enter(t);
            t = s->current; /* the task that came back: it ended or blocked */
            if (t->status == CORO_DEAD)
                reap(s, t);
            continue;
        }
        if (s->ntasks == 0)
            break;
        if (s->timers.n == 0) {
            errno = EDEADLK; /* all blocked, and nothing here can wake them */
            rc = -1;
            break;
        }
        idle(s);
        s->round = s->nready;
    }
    s->busy = 0;
    return rc;
}

int
coro__task_yield(struct coro *self)
{
    if (self->ending) {
        errno = ECANCELED;
        return -1;
    }
    return park(self->sched, self, 1);
}

int
coro_sched_yield(void)
{
    struct coro *self = coro__thr()->current;

    if (self == NULL || self->sched == NULL) {
        errno = EPERM;
        return -1;
    }
    return coro__task_yield(self);
}

coro_sched_t *
coro_sched_self(void)
{
    struct coro *self = coro__thr()->current;

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

int
coro_sleep(int64_t nsec)
{
    struct coro__wait w = {0};

    if (nsec < 0) {
        errno = EINVAL;
        return -1;
    }
    if (coro__can_block() == -1)
        return -1;
    coro__block(&w, coro__deadline(nsec));
    return 0;
}

int
coro__can_block(void)
{
    struct coro *self = coro__thr()->current;

    if (self == NULL || self->sched == NULL) {
        errno = EPERM;
        return -1;
    }
    if (self->ending) {
        errno = ECANCELED;
        return -1;
    }
    return 0;
}

void
coro__block(struct coro__wait *w, int64_t deadline)
{
    struct coro *self = coro__thr()->current;

    w->task = self;
    w->fired = -1;
    w->err = 0;
    self->waiting = w;
    if (deadline >= 0)
        coro__heap_push(&self->sched->timers, &self->timer, deadline);
    park(self->sched, self, 0); /* cannot fail: coro__can_block() said it is not ending */
}

void
coro__wake(struct coro__wait *w, int fired, int err)
{
    disarm(w);
    w->fired = fired;
    w->err = err;
    make_ready(w->task);
}
