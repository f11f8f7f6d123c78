/*
 * The coroutine object: create, resume, yield, close, destroy.
 *
 * Control moves only along resume/yield edges: coro_resume() switches from
 * the caller into a coroutine and records the caller as its resumer;
 * coro_yield() and the coroutine's end switch back to that resumer. Each
 * thread has its own chain of active coroutines, rooted at the thread's own
 * stack (a NULL resumer).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "coro-int.h"

__thread struct coro__thread coro__thr;

static struct coro__ctx *
ctx_of(struct coro *co)
{
    return co ? &co->ctx : &coro__thr.main;
}

uint64_t
coro__thread_id(void)
{
    static uint64_t last;

    if (coro__thr.id == 0)
        coro__thr.id = __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
    return coro__thr.id;
}

/* Status is written only by the owning thread, but coro_status() may read it
 * from any thread: relaxed atomics make that a stale read, not a data race. */
static void
set_status(struct coro *co, coro_status_t status)
{
    __atomic_store_n(&co->status, status, __ATOMIC_RELAXED);
}

/* Switch from the running context into co; returns when co yields or ends.
 * The side that switches back restores coro__thr.current and the statuses. */
void
coro__enter(struct coro *co)
{
    struct coro *self = coro__thr.current;

    co->resumer = self;
    set_status(co, CORO_RUNNING);
    if (self)
        set_status(self, CORO_NORMAL);
    coro__thr.current = co;
    coro__ctx_switch(ctx_of(self), &co->ctx);
}

/* Switch from the running coroutine back to its resumer. The caller has set
 * its own status (SUSPENDED or DEAD) and the value to hand over. */
static void
leave(struct coro *self)
{
    struct coro *back = self->resumer;

    coro__thr.current = back;
    if (back)
        set_status(back, CORO_RUNNING);
    coro__ctx_switch(&self->ctx, ctx_of(back));
}

/* End the running coroutine: run its deferred handlers, last first, then
 * leave for good. Each handler is unlinked and freed before it runs, so it
 * runs exactly once even if it calls coro_exit() itself. */
static _Noreturn void
finish(struct coro *self, void *result)
{
    struct coro__defer *d;

    self->ending = 1;
    while ((d = self->defers) != NULL) {
        void (*fn)(void *) = d->fn;
        void *arg = d->arg;

        self->defers = d->next;
        free(d);
        fn(arg);
    }
    set_status(self, CORO_DEAD);
    self->transfer = result;
    leave(self);
    abort(); /* nothing ever switches back to a dead coroutine */
}

/* The first code on every coroutine stack. */
static void
trampoline(void)
{
    struct coro *self = coro__thr.current;

    finish(self, self->fn(self->arg));
}

/* Checks shared by resume, close and destroy: only the owning thread may
 * touch a coroutine, and only its scheduler may touch a task. */
static int
check_owner(const struct coro *co)
{
    if (co == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (co->owner != coro__thread_id() || co->sched != NULL) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

coro_t *
coro_create(coro_fn *fn, void *arg, size_t stack_size)
{
    struct coro__stack st;
    struct coro *co;
    size_t page = coro__page_size();
    uintptr_t top;

    if (fn == NULL || stack_size > CORO_STACK_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (stack_size == 0)
        stack_size = CORO_STACK_DEFAULT;
    if (stack_size < CORO_STACK_MIN)
        stack_size = CORO_STACK_MIN;
    stack_size = (stack_size + page - 1) & ~(page - 1);

    if (coro__stack_alloc(&st, stack_size) == -1)
        return NULL;
    top = (uintptr_t)(st.lo + st.size);
    co = (struct coro *)((top - sizeof *co) & ~(uintptr_t)63);
    *co = (struct coro){
        .status = CORO_CREATED,
        .fn = fn,
        .arg = arg,
        .owner = coro__thread_id(),
        .stack = st,
    };
    if (coro__ctx_make(&co->ctx, st.lo, (size_t)((char *)co - st.lo), trampoline) == -1) {
        int err = errno;

        coro__stack_free(&st);
        errno = err;
        return NULL;
    }
    return co;
}

int
coro_resume(coro_t *co, void *in, void **out)
{
    if (check_owner(co) == -1)
        return -1;
    switch (co->status) {
    case CORO_CREATED:
        if (in != NULL) { /* "can't send non-None value to a just-started generator" */
            errno = EINVAL;
            return -1;
        }
        break;
    case CORO_SUSPENDED:
        break;
    case CORO_RUNNING:
    case CORO_NORMAL:
        errno = EBUSY;
        return -1;
    case CORO_DEAD:
    default:
        errno = ESRCH;
        return -1;
    }
    co->transfer = in;
    coro__enter(co);
    if (out)
        *out = co->transfer;
    return co->status == CORO_DEAD;
}

/* Hand out to the resumer and wait to be resumed again; a coroutine woken
 * only to be closed never comes back from here. */
static int
suspend(struct coro *self, void *out)
{
    if (self->ending) { /* a deferred handler cannot suspend a dying coroutine */
        errno = ECANCELED;
        return -1;
    }
    self->transfer = out;
    set_status(self, CORO_SUSPENDED);
    leave(self);
    if (self->closing)
        finish(self, NULL);
    return 0;
}

int
coro__suspend(struct coro *self)
{
    return suspend(self, NULL);
}

void *
coro_yield(void *out)
{
    struct coro *self = coro__thr.current;

    if (self == NULL) {
        errno = EPERM;
        return NULL;
    }
    if (suspend(self, out) == -1)
        return NULL;
    return self->transfer;
}

int
coro__close(struct coro *co)
{
    switch (co->status) {
    case CORO_CREATED:
        set_status(co, CORO_DEAD);
        return 0;
    case CORO_SUSPENDED:
        /* Wake it inside coro_yield() only to run its handlers and die. */
        co->closing = 1;
        co->transfer = NULL;
        coro__enter(co);
        return 0;
    case CORO_RUNNING:
    case CORO_NORMAL:
        errno = EBUSY;
        return -1;
    case CORO_DEAD:
    default:
        return 0;
    }
}

int
coro_close(coro_t *co)
{
    if (check_owner(co) == -1)
        return -1;
    return coro__close(co);
}

void
coro__free(struct coro *co)
{
    struct coro__stack st = co->stack; /* the object lives inside the stack mapping */

    coro__stack_free(&st);
}

int
coro_destroy(coro_t *co)
{
    if (co == NULL)
        return 0;
    if (check_owner(co) == -1 || coro__close(co) == -1)
        return -1;
    coro__free(co);
    return 0;
}

coro_status_t
coro_status(const coro_t *co)
{
    if (co == NULL) {
        errno = EINVAL;
        return CORO_DEAD;
    }
    return __atomic_load_n(&co->status, __ATOMIC_RELAXED);
}

coro_t *
coro_self(void)
{
    return coro__thr.current;
}

int
coro_defer(void (*fn)(void *), void *arg)
{
    struct coro *self = coro__thr.current;
    struct coro__defer *d;

    if (self == NULL) {
        errno = EPERM;
        return -1;
    }
    if (fn == NULL) {
        errno = EINVAL;
        return -1;
    }
    d = malloc(sizeof *d);
    if (d == NULL) {
        errno = ENOMEM;
        return -1;
    }
    d->fn = fn;
    d->arg = arg;
    d->next = self->defers;
    self->defers = d;
    return 0;
}

int
coro_exit(void *result)
{
    struct coro *self = coro__thr.current;

    if (self == NULL) {
        errno = EPERM;
        return -1;
    }
    finish(self, result);
    return -1; /* not reached */
}
