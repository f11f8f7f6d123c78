/*
 * A task's scheduler state, shared by the scheduler (sched.c) and the task
 * handles on top of it (task.c): it lives in the ext area of the task's
 * coroutine (object.h), so a task needs no allocation besides its stack.
 */
#ifndef CORO_TASK_H
#define CORO_TASK_H

#include <stdint.h>

#include "coro.h"
#include "list.h"
#include "object.h"
#include "timer.h"
#include "wait.h"

/* A handle (task.c): made by coro_task_spawn(), or inside the task for
 * coro_task_self() of a task made by coro_spawn() (embedded, detached). */
struct coro_task {
    struct task *task;           /* NULL once the task ended */
    uint64_t owner;              /* the id of the scheduler's thread */
    void *result;                /* what it returned, once it ended */
    struct coro__clause *joiner; /* the clause of a join waiting for it, or NULL */
    unsigned char ended, detached, embedded;
};

/* In the first cache line what a switch or a wake touches, the room for
 * a clause in the next, the rest after. */
struct task {
    struct coro_sched *sched;
    int result;                  /* what its coro__wait() returns when it runs again */
    unsigned char cancelled;     /* coro_task_cancel(): its waits fail with ECANCELED */
    struct coro__wait own;       /* its one wait; own.fired tells whether it blocks */
    _Alignas(64) unsigned char room[CORO__ROOM];
    struct coro__clause timeout; /* its deadline's clause, while it waits with one */
    struct coro__timer timer;
    struct coro__link tasks;     /* in sched->tasks while alive */
    struct coro_task *handle;    /* its handle, or NULL */
    /* Called as it ends, before it is freed, with what it returned (NULL
     * if it was closed); set by task.c for tasks with a handle. */
    void (*ended)(struct task *t, void *result);
    struct coro_task self_handle; /* coro_task_self() of a task without a handle */
};
_Static_assert(sizeof(struct task) <= CORO__EXT_SIZE, "struct task must fit in a coroutine's ext");

static inline struct task *
coro__task_of(struct coro *co)
{
    return coro__ext(co);
}

static inline struct coro *
coro__co_of(struct task *t)
{
    return coro__of_ext(t);
}

/* The wait whose room is room (its w->room): arithmetic, not a load. */
static inline struct coro__wait *
coro__wait_of_room(void *room)
{
    return &coro__container_of(room, struct task, room)->own;
}

/* The scheduler's hooks (sched.c): what makes a coroutine a task. */
extern const struct coro__ops coro__task_ops __attribute__((visibility("hidden")));

/* The running task, or NULL when the running coroutine is not one. */
static inline struct task *
coro__self_task(void)
{
    struct coro *co = coro__self();

    return co && co->ops == &coro__task_ops ? coro__task_of(co) : NULL;
}

/* coro__wait_begin() (wait.h) in two halves, inline for the callers that
 * see this header: whether self (the running task, or NULL) may begin a
 * wait with flags, and if it may, its wait begun. When it may not,
 * coro__wait_refuse() is the refusal: NULL, errno EPERM (self NULL) or
 * ECANCELED. */
static inline int
coro__wait_allowed(struct task *self, int flags)
{
    /* cancelled (0 or 1) and not CORO__NOCANCEL, in one test: a branch
     * less on the way to the switch */
    _Static_assert(CORO__NOCANCEL == 1, "the test below takes CORO__NOCANCEL for bit 0");
    return self != NULL && !coro__ending(coro__co_of(self)) &&
           !(self->cancelled & ~flags & CORO__NOCANCEL);
}

struct coro__wait *coro__wait_refuse(const struct task *self);

/* For a blocking call with a timeout (relative, as the public functions
 * take it) that may not wait: -1 and errno EAGAIN (timeout 0), else as
 * coro__wait_refuse(). Out of line and cold. */
int coro__wait_refused(const struct task *self, int64_t timeout);
/* coro__wait(w) until timeout (> 0) from now: out of line, so that the
 * caller's way to a wait without one calls nothing but its tail call. */
int coro__wait_for(struct coro__wait *w, int64_t timeout);

static inline struct coro__wait *
coro__wait_start(struct task *self, int flags)
{
    struct coro__wait *w = &self->own;

    /* room was set at spawn, owned is NULL whenever no wait is pending
     * (end_wait() frees it, and only a wait with nothing owned ends in
     * fired() alone), and err is set as the wait ends. */
    w->clauses = NULL;
    w->fired = CORO__PENDING;
    w->nocancel = flags & CORO__NOCANCEL;
    return w;
}

/* coro_spawn(), returning the task. */
struct task *coro__spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size);
/* If t waits, and its wait may be interrupted, end the wait: coro__wait()
 * returns -1 with errno err. */
void coro__interrupt(struct task *t, int err);
/* The id of the thread s belongs to. */
uint64_t coro__sched_owner(const coro_sched_t *s);

/*
 * A poller: what waits on events from outside the thread (fds, io.c)
 * plugs into a scheduler with these hooks. poll() delivers what is ready
 * (firing the waits' clauses) and returns; with deadline 0 it does not
 * wait, with -1 it waits for an event however long, otherwise until at
 * most deadline on coro_now()'s clock. EINTR is its own business. free()
 * releases it with its scheduler.
 */
struct coro__poller_ops {
    void (*poll)(void *poller, int64_t deadline);
    void (*free)(void *poller);
};
/* s's poller, or NULL; and setting it, once. */
void *coro__sched_poller(const coro_sched_t *s);
void coro__sched_set_poller(coro_sched_t *s, const struct coro__poller_ops *ops, void *poller);
/* How many of s's tasks wait on the poller: while some do, the scheduler
 * polls it once per round of the ready queue, sleeps in it when nothing is
 * ready, and is not deadlocked. */
void coro__sched_poller_waiting(coro_sched_t *s, long delta);

#endif /* CORO_TASK_H */
