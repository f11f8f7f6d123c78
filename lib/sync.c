/*
 * Mutexes, condition variables and wait groups for the tasks of a thread,
 * on the generic wait (wait.h). None of them crosses threads, so none
 * needs an atomic or a system call: a lock that is free is one store.
 *
 * A mutex is handed off: unlocking gives it to the longest waiter, which
 * holds it when it runs again, so that nobody barges ahead of the queue
 * and nobody starves. The holder is the running context (a task, a
 * coroutine, or the thread's own stack).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "list.h"
#include "object.h"
#include "task.h"
#include "wait.h"

/* What the three have in common: a task waits in one the same way. */
struct sync_head {
    uint64_t owner;              /* the thread it belongs to */
    struct coro__link waiters;   /* struct sync_wait, in arrival order */
    const char *what;            /* what its waiters wait for (coro_sched_dump()) */
};

struct coro_mutex {
    struct sync_head h;
    uint64_t holder;             /* the coro__self_id() of the context that holds it, or 0 */
    long cond_waiters;           /* tasks in coro_cond_wait() that will take it back */
};

struct coro_cond {
    struct sync_head h;
};

struct coro_wg {
    struct sync_head h;
    long count;
};

/* A task waiting on one of them: its clause, in the room of its wait. */
struct sync_wait {
    struct coro__clause clause;
    struct coro__link link;      /* in the object's waiters */
    uint64_t who;                /* its task's coro__self_id(): the holder once handed the mutex */
    const struct sync_head *object;
};
_Static_assert(sizeof(struct sync_wait) <= CORO__ROOM, "struct sync_wait must fit in a wait's room");

static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

static struct sync_wait *
first(struct coro__link *q)
{
    return coro__list_empty(q) ? NULL : coro__container_of(q->next, struct sync_wait, link);
}

static void
cancel_sync(struct coro__clause *c)
{
    coro__list_unlink(&coro__container_of(c, struct sync_wait, clause)->link);
}

static void
describe_sync(const struct coro__clause *c, char *buf, size_t len)
{
    const struct sync_wait *sw = coro__container_of(c, struct sync_wait, clause);

    snprintf(buf, len, "%s %p", sw->object->what, (const void *)sw->object);
}

/* Out of its queue, and on: its wait returns 0. */
static void
wake(struct sync_wait *sw)
{
    coro__list_unlink(&sw->link);
    coro__fire(&sw->clause, 0);
}

static void
sync_init(struct sync_head *o, const char *what)
{
    o->owner = coro__thread_id();
    o->what = what;
    coro__list_init(&o->waiters);
}

/* Put the wait w that the running task self began at the back of o's
 * waiters. */
static void
enqueue(struct coro__wait *w, struct task *self, struct sync_head *o)
{
    struct sync_wait *sw = w->room;

    sw->who = coro__co_of(self)->b.seq;
    sw->object = o;
    coro__list_push(&o->waiters, &sw->link);
    coro__wait_add(w, &sw->clause, 0, cancel_sync);
    sw->clause.describe = describe_sync;
}

static int64_t
deadline_of(int64_t timeout)
{
    return timeout < 0 ? -1 : coro__deadline(timeout);
}

/* The running task waits in o until woken, deadline, or cancel; flags as
 * for coro__wait_begin(). Without a timeout it calls nothing but its tail
 * call, so that the way to a blocked task's switch saves no registers. */
static int
wait_in(struct sync_head *o, int64_t timeout, int flags)
{
    struct task *self = coro__self_task();
    struct coro__wait *w;

    if (__builtin_expect(timeout == 0 || !coro__wait_allowed(self, flags), 0))
        return coro__wait_refused(self, timeout);
    w = coro__wait_start(self, flags);
    enqueue(w, self, o);
    if (timeout > 0)
        return coro__wait_for(w, timeout);
    return coro__wait(w, -1);
}

/* ---------------------------------------------------------------------- */
/* Mutexes                                                                 */

coro_mutex_t *
coro_mutex_create(void)
{
    struct coro_mutex *m = malloc(sizeof *m);

    if (m == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    sync_init(&m->h, "lock of mutex");
    m->holder = 0;
    m->cond_waiters = 0;
    return m;
}

static int
check(const void *obj, uint64_t owner)
{
    if (obj == NULL)
        return fail(EINVAL);
    if (!coro__mine(owner))
        return fail(EPERM);
    return 0;
}

int
coro_mutex_lock(coro_mutex_t *m, int64_t timeout)
{
    uint64_t self;

    if (m == NULL || !coro__mine(m->h.owner))
        return check(m, m ? m->h.owner : 0);
    self = coro__self_id();
    if (__builtin_expect(m->holder == 0, 1)) {
        m->holder = self;
        return 0;
    }
    if (m->holder == self)
        return fail(EDEADLK);
    /* The unlocker makes the waiter the holder before it wakes it. */
    return wait_in(&m->h, timeout, 0);
}

int
coro_mutex_unlock(coro_mutex_t *m)
{
    struct coro__link *q, *l;
    struct sync_wait *next;

    if (m == NULL || !coro__mine(m->h.owner))
        return check(m, m ? m->h.owner : 0);
    if (m->holder != coro__self_id())
        return fail(EPERM);
    q = &m->h.waiters;
    /* No __builtin_expect either way: gcc's own layout (the hand-off falls
     * through, the free path is a short jump) measured best for both. */
    if ((l = q->next) == q) {
        m->holder = 0;
        return 0;
    }
    next = coro__container_of(l, struct sync_wait, link);
    m->holder = next->who; /* handed off: no one barges in before it runs */
    /* Out of the queue (the first: its prev is q), its link left as it is:
     * its clause fires now, so nothing will unlink it again. */
    q->next = l->next;
    l->next->prev = q;
    return coro__fire_in(coro__wait_of_room(next), &next->clause, 0); /* it is in its room */
}

int
coro_mutex_destroy(coro_mutex_t *m)
{
    if (m == NULL)
        return 0;
    if (check(m, m->h.owner) == -1)
        return -1;
    if (m->holder || !coro__list_empty(&m->h.waiters) || m->cond_waiters)
        return fail(EBUSY);
    free(m);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Condition variables                                                     */

coro_cond_t *
coro_cond_create(void)
{
    struct coro_cond *c = malloc(sizeof *c);

    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    sync_init(&c->h, "signal of condition");
    return c;
}

static void
cond_waiter_gone(void *m)
{
    ((struct coro_mutex *)m)->cond_waiters--;
}

int
coro_cond_wait(coro_cond_t *c, coro_mutex_t *m, int64_t timeout)
{
    struct coro__defer gone;
    struct coro *self = coro__self();
    struct coro__wait *w;
    int rc, err;

    if (c == NULL || m == NULL)
        return fail(EINVAL);
    if (!coro__mine(c->h.owner) || !coro__mine(m->h.owner) || m->holder != coro__self_id())
        return fail(EPERM);
    if (timeout == 0)
        return fail(EAGAIN);
    if ((w = coro__wait_begin(0)) == NULL)
        return -1; /* m is still held */
    enqueue(w, coro__self_task(), &c->h);
    (void)coro_mutex_unlock(m);
    /* m stays busy for coro_mutex_destroy() until the task holds it again,
     * or ends in the wait (its scheduler destroyed) */
    m->cond_waiters++;
    gone = (struct coro__defer){.fn = cond_waiter_gone, .arg = m, .on_stack = 1};
    coro__defer_push(self, &gone);
    rc = coro__wait(w, deadline_of(timeout));
    err = errno;
    /* Hold m again, however the wait ended: a cancelled task too. */
    if (m->holder == 0)
        m->holder = coro__self_id();
    else
        (void)wait_in(&m->h, CORO_FOREVER, CORO__NOCANCEL);
    coro__defer_pop(self, &gone);
    cond_waiter_gone(m);
    errno = err;
    return rc < 0 ? -1 : 0;
}

int
coro_cond_signal(coro_cond_t *c)
{
    struct sync_wait *sw;

    if (check(c, c ? c->h.owner : 0) == -1)
        return -1;
    if ((sw = first(&c->h.waiters)) != NULL)
        wake(sw);
    return 0;
}

int
coro_cond_broadcast(coro_cond_t *c)
{
    struct sync_wait *sw;

    if (check(c, c ? c->h.owner : 0) == -1)
        return -1;
    while ((sw = first(&c->h.waiters)) != NULL)
        wake(sw);
    return 0;
}

int
coro_cond_destroy(coro_cond_t *c)
{
    if (c == NULL)
        return 0;
    if (check(c, c->h.owner) == -1)
        return -1;
    if (!coro__list_empty(&c->h.waiters))
        return fail(EBUSY);
    free(c);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Wait groups                                                             */

coro_wg_t *
coro_wg_create(void)
{
    struct coro_wg *wg = malloc(sizeof *wg);

    if (wg == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    sync_init(&wg->h, "wait group");
    wg->count = 0;
    return wg;
}

int
coro_wg_add(coro_wg_t *wg, long n)
{
    struct sync_wait *sw;

    if (wg == NULL || !coro__mine(wg->h.owner))
        return check(wg, wg ? wg->h.owner : 0);
    if (n < 0 ? wg->count + n < 0 : wg->count > LONG_MAX - n)
        return fail(EINVAL);
    if ((wg->count += n) == 0)
        while ((sw = first(&wg->h.waiters)) != NULL)
            wake(sw);
    return 0;
}

int
coro_wg_done(coro_wg_t *wg)
{
    return coro_wg_add(wg, -1);
}

int
coro_wg_wait(coro_wg_t *wg, int64_t timeout)
{
    if (check(wg, wg ? wg->h.owner : 0) == -1)
        return -1;
    if (wg->count == 0)
        return 0;
    return wait_in(&wg->h, timeout, 0);
}

int
coro_wg_destroy(coro_wg_t *wg)
{
    if (wg == NULL)
        return 0;
    if (check(wg, wg->h.owner) == -1)
        return -1;
    if (!coro__list_empty(&wg->h.waiters))
        return fail(EBUSY);
    free(wg);
    return 0;
}
