/*
 * The round-robin scheduler: tasks are coroutines owned by a scheduler. A
 * FIFO ready queue decides who runs next; a task that yields or is woken
 * goes to the back. Blocked tasks sit in wait queues (channels) and in the
 * timer heap, never in the ready queue, so nothing ever polls.
 *
 * coro_sched_run() is the loop: it resumes the task at the head of the queue
 * and, when the task comes back, requeues it (it yielded), leaves it (it
 * blocked) or frees it (it ended). It sleeps when only timers are left and
 * reports EDEADLK when nothing at all can wake the remaining tasks.
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
    uint64_t owner;              /* coro__thread_id() of its thread */
    uint64_t switches;           /* times a task was switched in */
    int busy;                    /* inside coro_sched_run() or coro_sched_destroy() */
};

static struct coro *
task_of_runq(struct coro__link *l)
{
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
    coro__free(t);
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
    if (s->owner != coro__thread_id()) {
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
    s->owner = coro__thread_id();
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
    free(w->owned);
    w->owned = NULL;
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
    if (s->owner != coro__thread_id()) {
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
    size_t round = 0; /* tasks left to run before the timers are looked at again */
    struct coro__link *l;
    int rc = 0;

    if (check_sched(s) == -1)
        return -1;
    s->busy = 1;
    for (;;) {
        if (s->timers.n > 0 && round == 0) {
            fire_timers(s, coro_now());
            round = s->nready;
        }
        if ((l = coro__list_pop(&s->ready)) != NULL) {
            struct coro *t = task_of_runq(l);

            s->nready--;
            if (round > 0)
                round--;
            s->switches++;
            t->transfer = NULL; /* what a task's plain coro_yield() returns */
            coro__enter(t);
            if (t->status == CORO_DEAD)
                reap(s, t);
            else if (t->waiting == NULL)
                make_ready(t); /* it yielded */
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
        round = s->nready;
    }
    s->busy = 0;
    return rc;
}

int
coro_sched_yield(void)
{
    struct coro *self = coro__thr.current;

    if (self == NULL || self->sched == NULL) {
        errno = EPERM;
        return -1;
    }
    return coro__suspend(self);
}

coro_sched_t *
coro_sched_self(void)
{
    struct coro *self = coro__thr.current;

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
    struct coro *self = coro__thr.current;

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
    struct coro *self = coro__thr.current;

    w->task = self;
    w->fired = -1;
    w->err = 0;
    self->waiting = w;
    if (deadline >= 0)
        coro__heap_push(&self->sched->timers, &self->timer, deadline);
    coro__suspend(self); /* cannot fail: coro__can_block() said it is not ending */
}

void
coro__wake(struct coro__wait *w, int fired, int err)
{
    disarm(w);
    w->fired = fired;
    w->err = err;
    make_ready(w->task);
}
