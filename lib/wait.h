/*
 * The scheduler's interface for what tasks wait on (channels in chan.c;
 * later fds, mutexes): one generic wait. A task blocks on a set of clauses,
 * each a kind of event with its own cancel callback, plus at most one
 * deadline. Whoever completes one takes it out of its queue and fires it
 * (coro__fire()): that ends the whole wait in one place, which cancels
 * every other clause (each takes itself out of whatever queue it is in),
 * frees what the wait owns, and makes the task ready. The scheduler knows
 * nothing of what the clauses are.
 *
 * Each task has one wait, in its scheduler state, with room for one clause
 * of the caller's: a wait on one event allocates nothing and keeps nothing
 * on the task's stack, so that the blocking call can end in a tail call
 * (see coro__wait()). More clauses live in the caller's memory.
 */
#ifndef CORO_WAIT_H
#define CORO_WAIT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "coro.h"

struct coro__wait;
struct coro__clause;
typedef void coro__cancel_fn(struct coro__clause *c);

struct coro__clause {
    struct coro__wait *wait;
    coro__cancel_fn *cancel;     /* take it out of its queue: its wait ended */
    /* What it waits for, in a few words (coro_sched_dump()), or NULL;
     * coro__wait_add() sets NULL, its caller may set it then. */
    void (*describe)(const struct coro__clause *c, char *buf, size_t len);
    struct coro__clause *next;   /* in its wait */
    int id;                      /* what coro__wait() returns when it fires */
};

enum { CORO__ROOM = 80 };

/* A task's own wait (the scheduler finds the task from its address). */
struct coro__wait {
    struct coro__clause *clauses;
    void *owned;                 /* freed when the wait ends, or NULL */
    void *room;                  /* CORO__ROOM bytes, 16-aligned, for one clause of the caller's */
    int fired;                   /* the id of the clause that fired, CORO__TIMEOUT,
                                  * CORO__INTERRUPTED, or CORO__PENDING while it waits */
    int err;                     /* what it fired with */
    int nocancel;                /* cancelling its task does not end it (CORO__NOCANCEL) */
};

enum { CORO__TIMEOUT = -1, CORO__INTERRUPTED = -2, CORO__PENDING = INT_MIN };

/* Begin a wait of the running task: its wait, with no clauses yet. NULL
 * and errno: EPERM when the running coroutine is not a task (the thread's
 * own stack, or a generator, even one a task resumed), ECANCELED when it is
 * ending (a deferred handler) or was cancelled (coro_task_cancel()), unless
 * flags has CORO__NOCANCEL: then the wait goes on even when its task is
 * cancelled (to take a mutex back after a condition wait, say). */
enum { CORO__NOCANCEL = 1 };
struct coro__wait *coro__wait_begin(int flags);

static inline void
coro__wait_add(struct coro__wait *w, struct coro__clause *c, int id, coro__cancel_fn *cancel)
{
    c->wait = w;
    c->cancel = cancel;
    c->describe = NULL;
    c->id = id;
    c->next = w->clauses;
    w->clauses = c;
}

/* Block until one of w's clauses fires, or until deadline (on coro_now()'s
 * clock; < 0: none). Returns the id of the clause that fired when it fired
 * with 0; when it fired with an errno, at the deadline, or when the task
 * was cancelled, -1 with that errno (ETIMEDOUT, ECANCELED). w->fired and
 * w->err say which and why. A caller that
 * returns this at once makes its own call a tail call, so that the task,
 * when it runs again, goes on straight in its caller (see coro.c). */
int coro__wait(struct coro__wait *w, int64_t deadline);

/* Fire c, already out of its queue, with err (0 or an errno): its wait
 * ends, its task runs again. Returns 0, so that a caller that returns 0
 * after it can tail-call it. */
int coro__fire(struct coro__clause *c, int err);
/* The same, for a caller that knows c's wait w without loading c->wait
 * (c is in w's room: see task.h): the task is reached one dependent load
 * sooner. */
int coro__fire_in(struct coro__wait *w, struct coro__clause *c, int err);

/* coro_now() + timeout (>= 0), saturated (timer.c). */
int64_t coro__deadline(int64_t timeout);

#endif /* CORO_WAIT_H */
