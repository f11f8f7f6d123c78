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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coro-int.h"

__thread struct coro__thread *coro__thr_ptr;

static pthread_key_t exit_key;
static int exit_key_made;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* A pthread key destructor: what an exiting thread leaves behind. */
static void
thread_exit(void *state)
{
    struct coro__thread *t = state;

    coro__pool_release(&t->pool);
    coro__overflow_thread_exit(t);
}

static void
make_exit_key(void)
{
    exit_key_made = pthread_key_create(&exit_key, thread_exit) == 0;
}

int
coro__at_thread_exit(struct coro__thread *t)
{
    if (t->exit_hook)
        return 0;
    pthread_once(&exit_once, make_exit_key);
    if (!exit_key_made || pthread_setspecific(exit_key, t) != 0)
        return -1;
    t->exit_hook = 1;
    return 0;
}

struct coro__thread *
coro__thr_init(void)
{
    static __thread struct coro__thread state;
    static uint64_t last_id;

    state.id = __atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED);
    state.errnop = &errno;
    coro__list_init(&state.slabs);
    state.pool.max = CORO_POOL_DEFAULT;
    coro__thr_ptr = &state;
    coro__overflow_thread_init(&state);
    return &state;
}

static struct coro__ctx *
ctx_of(struct coro__thread *t, struct coro *co)
{
    return co ? &co->ctx : &t->main;
}

/* Status is written only by the owning thread, but coro_status() may read it
 * from any thread: relaxed atomics make that a stale read, not a data race. */
static void
set_status(struct coro *co, coro_status_t status)
{
    __atomic_store_n(&co->status, status, __ATOMIC_RELAXED);
}

/* Every switch between two contexts of the thread (from, to: coroutines,
 * or NULL for the thread's own stack) goes through here. errno stays with
 * the context that set it: a coroutine that yields between a failing call
 * and reading errno still reads its own value. The sanitizers hear of the
 * change of stack. dying: from has ended and leaves for good (but for a
 * parked stack's next coroutine, which starts by returning from here). */
static inline void
switch_ctx(struct coro__thread *t, struct coro *from, struct coro *to, int dying)
{
    int saved_errno = *t->errnop;
    void *fake = coro__san_leaving(&t->san, from == NULL, to ? &to->stack.san : NULL,
                                   to ? to->stack.lo : NULL, to ? to->stack.size : 0, dying);

    coro__ctx_switch(ctx_of(t, from), ctx_of(t, to));
    coro__san_arrived(&t->san, fake);
    *t->errnop = saved_errno;
}

/* Switch from the running context into co; returns when co yields or ends.
 * The side that switches back restores t->current and the statuses. */
static inline void
enter(struct coro__thread *t, struct coro *co)
{
    struct coro *self = t->current;

    co->resumer = self;
    set_status(co, CORO_RUNNING);
    if (self)
        set_status(self, CORO_NORMAL);
    t->current = co;
    switch_ctx(t, self, co, 0);
}

void
coro__enter(struct coro *co)
{
    enter(coro__thr(), co);
}

/* Switch from the running coroutine back to its resumer. The caller has set
 * its own status (SUSPENDED or DEAD) and the value to hand over. */
static inline void
leave(struct coro__thread *t, struct coro *self, int dying)
{
    struct coro *back = self->resumer;

    t->current = back;
    if (back)
        set_status(back, CORO_RUNNING);
    switch_ctx(t, self, back, dying);
}

/* End the running coroutine: run its deferred handlers, last first, then
 * leave for good. Each handler is unlinked and freed before it runs, so it
 * runs exactly once even if it calls coro_exit() itself.
 *
 * Called by trampoline() when the function returned (top is 1), the final
 * switch parks the stack's context right here: a later coroutine made on
 * the same stack starts by returning from this call, with no makecontext().
 * From any depth (coro_exit, close), it never returns. */
static void
finish(struct coro *self, void *result, int top)
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
    self->stack.ready = top;
    leave(coro__thr(), self, 1);
    if (!top)
        abort(); /* nothing switches back to a coroutine that ended deep */
}

/* The first code on every coroutine stack, and the code that runs each
 * later coroutine made on the same stack after its parking (see finish). */
static void
trampoline(void)
{
    coro__san_arrived(&coro__thr()->san, NULL);
    for (;;) {
        struct coro *self = coro__thr()->current;

        finish(self, self->fn(self->arg), 1);
    }
}

/* Checks shared by resume, close and destroy: only the owning thread may
 * touch a coroutine, and only its scheduler may touch a task. */
static inline int
check_owner(const struct coro__thread *t, const struct coro *co)
{
    if (co == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (co->owner != t->id || co->sched != NULL) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

coro_t *
coro_create(coro_fn *fn, void *arg, size_t stack_size)
{
    struct coro *co;
    size_t page = coro__page_size();
    int ready;

    if (fn == NULL || stack_size > CORO_STACK_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (stack_size == 0)
        stack_size = CORO_STACK_DEFAULT;
    if (stack_size < CORO_STACK_MIN)
        stack_size = CORO_STACK_MIN;
    stack_size = (stack_size + page - 1) & ~(page - 1);

    co = coro__stack_get(stack_size);
    if (co == NULL)
        return NULL;
    ready = co->stack.ready;
    memset(co, 0, offsetof(struct coro, stack));
    co->status = CORO_CREATED;
    co->fn = fn;
    co->arg = arg;
    co->owner = coro__thr()->id;
    co->stack.ready = 0; /* until it ends at the top of trampoline() */
    if (!ready && coro__ctx_make(&co->ctx, co->stack.lo, (size_t)((char *)co - co->stack.lo),
                                 trampoline) == -1) {
        int err = errno;

        coro__stack_put(co);
        errno = err;
        return NULL;
    }
    return co;
}

int
coro_resume(coro_t *co, void *in, void **out)
{
    struct coro__thread *t = coro__thr();

    if (check_owner(t, co) == -1)
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
    enter(t, co);
    if (out)
        *out = co->transfer;
    return co->status == CORO_DEAD;
}

/* Hand out to the resumer and wait to be resumed again; a coroutine woken
 * only to be closed never comes back from here. */
static inline int
suspend(struct coro__thread *t, struct coro *self, void *out)
{
    if (self->ending) { /* a deferred handler cannot suspend a dying coroutine */
        errno = ECANCELED;
        return -1;
    }
    self->transfer = out;
    set_status(self, CORO_SUSPENDED);
    leave(t, self, 0);
    if (self->closing)
        finish(self, NULL, 0);
    return 0;
}

int
coro__suspend(struct coro *self)
{
    return suspend(coro__thr(), self, NULL);
}

int
coro__switch_to(struct coro *self, struct coro *next)
{
    struct coro__thread *t = coro__thr();

    if (self->ending) {
        errno = ECANCELED;
        return -1;
    }
    set_status(self, CORO_SUSPENDED);
    set_status(next, CORO_RUNNING);
    next->resumer = self->resumer;
    t->current = next;
    switch_ctx(t, self, next, 0);
    if (self->closing)
        finish(self, NULL, 0);
    return 0;
}

void *
coro_yield(void *out)
{
    struct coro__thread *t = coro__thr();
    struct coro *self = t->current;

    if (self == NULL) {
        errno = EPERM;
        return NULL;
    }
    if (self->sched) { /* a task: its scheduler ignores out and sends NULL */
        coro__task_yield(self);
        return NULL;
    }
    if (suspend(t, self, out) == -1)
        return NULL;
    return self->transfer;
}

int
coro__close(struct coro *co)
{
    switch (co->status) {
    case CORO_CREATED:
        set_status(co, CORO_DEAD);
        co->stack.ready = 1; /* its context never ran: still ready */
        return 0;
    case CORO_SUSPENDED:
        /* Wake it inside coro_yield() only to run its handlers and die. */
        co->closing = 1;
        co->transfer = NULL;
        enter(coro__thr(), co);
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
    if (check_owner(coro__thr(), co) == -1)
        return -1;
    return coro__close(co);
}

int
coro_destroy(coro_t *co)
{
    if (co == NULL)
        return 0;
    if (check_owner(coro__thr(), co) == -1 || coro__close(co) == -1)
        return -1;
    coro__stack_put(co);
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
    return coro__thr()->current;
}

int
coro_defer(void (*fn)(void *), void *arg)
{
    struct coro *self = coro__thr()->current;
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
    struct coro *self = coro__thr()->current;

    if (self == NULL) {
        errno = EPERM;
        return -1;
    }
    finish(self, result, 0);
    return -1; /* not reached */
}
