/*
 * Task handles: a task that can be waited for (joined), asked to stop
 * (cancelled) and that gives its result back. A handle is a small object
 * of its own, since it outlives the task; the scheduler tells it when the
 * task ends through the task's ended hook.
 *
 * Cancellation is cooperative: the task's current wait, if any, and every
 * later one fail with ECANCELED (wait.h), which the task is expected to
 * take as a reason to return. A task cancelled before it started never
 * runs its function.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "task.h"

/* A join waiting: its clause, in the joining task's room. */
struct join {
    struct coro__clause clause;
    struct coro_task *handle;
};
_Static_assert(sizeof(struct join) <= CORO__ROOM, "struct join must fit in a wait's room");

static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

/* The task of a handle ends (the scheduler calls it), returning result. */
static void
ended(struct task *t, void *result)
{
    struct coro_task *h = t->handle;

    h->task = NULL;
    h->ended = 1;
    h->result = result;
    if (h->joiner) {
        struct coro__clause *c = h->joiner;

        h->joiner = NULL;
        coro__fire(c, 0);
    }
    if (h->detached)
        free(h);
}

coro_task_t *
coro_task_spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size)
{
    struct coro_task *h = malloc(sizeof *h);
    struct task *t;

    if (h == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if ((t = coro__spawn(s, fn, arg, stack_size)) == NULL) {
        int err = errno;

        free(h);
        errno = err;
        return NULL;
    }
    *h = (struct coro_task){.task = t, .owner = coro__sched_owner(s)};
    t->handle = h;
    t->ended = ended;
    return h;
}

/* The checks shared by join, detach and cancel. */
static int
check_handle(const struct coro_task *h)
{
    if (h == NULL)
        return fail(EINVAL);
    if (!coro__mine(h->owner))
        return fail(EPERM);
    return 0;
}

/* For coro_sched_dump(). */
static void
describe_join(const struct coro__clause *c, char *buf, size_t len)
{
    const struct coro_task *h = coro__container_of(c, struct join, clause)->handle;

    snprintf(buf, len, "join of %s", h->task ? coro_name(coro__co_of(h->task)) : "a task");
}

/* The joining task's wait ended another way (deadline, cancel). */
static void
cancel_join(struct coro__clause *c)
{
    coro__container_of(c, struct join, clause)->handle->joiner = NULL;
}

int
coro_task_join(coro_task_t *h, void **result, int64_t timeout)
{
    if (check_handle(h) == -1)
        return -1;
    if (!h->ended && h->task == coro__self_task())
        return fail(EDEADLK);
    if (h->detached || h->joiner)
        return fail(EINVAL); /* nothing to join, or joined already */
    if (!h->ended) {
        struct coro__wait *w;
        struct join *j;

        if (timeout == 0)
            return fail(EAGAIN);
        if ((w = coro__wait_begin(0)) == NULL)
            return -1;
        j = w->room;
        j->handle = h;
        coro__wait_add(w, &j->clause, 0, cancel_join);
        j->clause.describe = describe_join;
        h->joiner = &j->clause;
        if (coro__wait(w, timeout < 0 ? -1 : coro__deadline(timeout)) == -1)
            return -1; /* ETIMEDOUT, ECANCELED: the handle stays */
    }
    if (result)
        *result = h->result;
    free(h);
    return 0;
}

int
coro_task_detach(coro_task_t *h)
{
    if (check_handle(h) == -1)
        return -1;
    if (h->detached || h->joiner)
        return fail(EINVAL);
    if (h->ended)
        free(h);
    else
        h->detached = 1; /* freed when the task ends */
    return 0;
}

/* What a task cancelled before it started runs instead of its function. */
static void *
never_started(void *arg)
{
    (void)arg;
    return NULL;
}

int
coro_task_cancel(coro_task_t *h)
{
    struct task *t;

    if (check_handle(h) == -1)
        return -1;
    if (h->ended || (t = h->task)->cancelled)
        return 0;
    t->cancelled = 1;
    if (coro_status(coro__co_of(t)) == CORO_CREATED)
        coro__set_entry(coro__co_of(t), never_started, NULL);
    else
        coro__interrupt(t, ECANCELED);
    return 0;
}

coro_task_t *
coro_task_self(void)
{
    struct task *t = coro__self_task();

    if (t == NULL)
        return NULL;
    if (t->handle == NULL) { /* made by coro_spawn(): a detached handle, in the task */
        t->self_handle = (struct coro_task){
            .task = t,
            .owner = coro__sched_owner(t->sched),
            .detached = 1,
            .embedded = 1,
        };
        t->handle = &t->self_handle;
    }
    return t->handle;
}

int
coro_task_cancelled(void)
{
    struct task *t = coro__self_task();

    return t != NULL && t->cancelled;
}
