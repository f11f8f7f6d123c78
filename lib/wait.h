/*
 * The scheduler's interface for what tasks wait on (channels in chan.c;
 * later fds, mutexes): one generic wait. A task blocks on a set of clauses,
 * each a kind of event with its own cancel callback, plus at most one
 * deadline. Whoever completes one fires it (coro__fire()): that ends the
 * whole wait in one place, which cancels every clause (each takes itself
 * out of whatever queue it is in), frees what the wait owns, and makes the
 * task ready. The scheduler knows nothing of what the clauses are.
 *
 * A wait and its clauses live on the waiting task's stack (or in memory the
 * wait owns), so blocking allocates nothing.
 */
#ifndef CORO_WAIT_H
#define CORO_WAIT_H

#include <stdint.h>

#include "coro.h"

struct coro__wait;
struct coro__clause;
typedef void coro__cancel_fn(struct coro__clause *c);

struct coro__clause {
    struct coro__wait *wait;
    coro__cancel_fn *cancel;     /* take it out of its queue: its wait ended */
    struct coro__clause *next;   /* in its wait */
    int id;                      /* what coro__wait() returns when it fires */
};

struct coro__wait {
    void *task;                  /* the scheduler's */
    struct coro__clause *clauses;
    void *owned;                 /* freed when the wait ends, or NULL */
    int fired;                   /* the id of the clause that fired, or CORO__TIMEOUT */
    int err;                     /* what it fired with */
};

enum { CORO__TIMEOUT = -1 };

/* Begin a wait of the running task. 0, or -1 and errno: EPERM when the
 * running coroutine is not a task (the thread's own stack, or a generator,
 * even one a task resumed), ECANCELED when it is ending (a deferred handler). */
int coro__wait_begin(struct coro__wait *w);

static inline void
coro__wait_add(struct coro__wait *w, struct coro__clause *c, int id, coro__cancel_fn *cancel)
{
    c->wait = w;
    c->cancel = cancel;
    c->id = id;
    c->next = w->clauses;
    w->clauses = c;
}

/* Block until one of w's clauses fires, or until deadline (on coro_now()'s
 * clock; < 0: none). Returns the id of the clause that fired, or
 * CORO__TIMEOUT; w->err is what it fired with (ETIMEDOUT at the deadline). */
int coro__wait(struct coro__wait *w, int64_t deadline);

/* Fire c with err (0 or an errno): its wait ends, its task runs again. */
void coro__fire(struct coro__clause *c, int err);

/* coro_now() + timeout (>= 0), saturated (timer.c). */
int64_t coro__deadline(int64_t timeout);

#endif /* CORO_WAIT_H */
