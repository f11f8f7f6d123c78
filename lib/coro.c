/*
 * The coroutine object: create, resume, yield, close, destroy, status,
 * defer, exit; errno per coroutine; the sanitizers' notice of each switch.
 *
 * Control moves only along resume/yield edges: coro_resume() switches from
 * the running context into a coroutine and records it as the coroutine's
 * resumer; coro_yield() and the coroutine's end switch back to that
 * resumer. Each thread has its own chain of active contexts, rooted at the
 * thread's own stack (its root context). Managers (the scheduler) may also
 * pass control between the coroutines they run (coro__switch_to()).
 *
 * The hot paths end in a tail call of the switch: the switch saves the
 * registers of whoever called into libcoro, and the other side goes on
 * straight in its own caller, so that no return follows a change of stack
 * (the processor's return predictor would miss every one). Whatever the
 * side that arrives needs is therefore done by the side that leaves: it
 * stores the value handed out through the resumer's out pointer, passes the
 * return value through the switch, and swaps errno.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "stack.h"

/* What coro__thr_ptr points at in a thread that has not used libcoro yet:
 * read-only, with an id that no object holds and a root as its running
 * context, so that the hot paths need no test before they read the state.
 * Whatever writes to the state gets it through coro__thr(), which sets the
 * thread up first. */
static const struct coro__thread none = {
    .current = (struct coro__base *)&none.root,
    .root = {.seq = CORO__ROOT_ID, .flags = CORO__ROOT, .status = CORO_RUNNING},
};

__thread struct coro__thread *coro__thr_ptr CORO__TLS_MODEL = (struct coro__thread *)&none;

static int describe(const struct coro__stack *st, struct coro__stack_user *user);

/* Out of line, so that the callers' fast paths stay small. */
__attribute__((noinline, cold)) struct coro__thread *
coro__thr_init(void)
{
    static __thread struct coro__thread state;
    static uint64_t last_id;

    state.id = __atomic_add_fetch(&last_id, 1, __ATOMIC_RELAXED);
    state.errnop = &errno;
    state.root.seq = CORO__ROOT_ID;
    state.root.flags = CORO__ROOT;
    state.root.status = CORO_RUNNING;
#if CORO__TSAN
    coro__san_root_init(&state.root.san, &state.root_fiber);
#else
    coro__san_root_init(&state.root.san, NULL);
#endif
    state.current = &state.root;
    coro__list_init(&state.live);
    coro__overflow_describer(describe);
    coro__thr_ptr = &state;
    return &state;
}

/* The object sits right below its stack's descriptor, 64-byte aligned. */
static struct coro *
object_of(const struct coro__stack *st)
{
    return (struct coro *)(((uintptr_t)st - sizeof(struct coro)) & ~(uintptr_t)63);
}

/* What a switch and a resume read share the object's first cache line
 * (without a sanitizer, whose fields come in between). */
_Static_assert(sizeof(struct coro__san_ctx) != 0 || offsetof(struct coro, defers) + sizeof(void *) <= 64,
               "the base, ops and defers must fit in one cache line");

/* Status is written only by the owning thread, but coro_status() may read it
 * from any thread: relaxed atomics make that a stale read, not a data race. */
static inline void
set_status(struct coro__base *b, int status)
{
    __atomic_store_n(&b->status, status, __ATOMIC_RELAXED);
}

/* Set errno and fail: out of line, so that the callers' fast paths stay small. */
static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

/*
 * Around every switch. from is the running context, to the one that runs
 * next; the caller has already made to the thread's current context and
 * set the statuses, and it tail-calls the switch between these two calls
 * (without a sanitizer, arrived() is empty). errno stays with the context
 * that set it: from's is saved and to's put back, except that a coroutine
 * that has not run yet starts with from's errno (and floating-point control
 * modes), whether its stack is fresh or pooled.
 */
static CORO__ALWAYS_INLINE void
leaving(struct coro__thread *t, struct coro__base *from, struct coro__base *to, int starting)
{
    from->err = *t->errnop;
    if (!starting)
        *t->errnop = to->err;
    coro__san_leave(&t->san, &from->san, &to->san, 0);
}

static CORO__ALWAYS_INLINE void
arrived(struct coro__thread *t, struct coro__base *self)
{
    coro__san_arrive(&t->san, &self->san);
}

/* Switch from the running context to co, which was just linked in, and
 * return what comes back as an int: 0 when co yields or suspends, 1 when
 * it ends. */
static CORO__ALWAYS_INLINE int
enter_suspended(struct coro__thread *t, struct coro__base *self, struct coro *co, void *in)
{
    int r;

    set_status(&co->b, CORO_RUNNING);
    leaving(t, self, &co->b, 0);
    r = coro__ctx_switch_int(&self->ctx, &co->b.ctx, in);
    arrived(t, self);
    return r;
}

static CORO__ALWAYS_INLINE int
enter_created(struct coro__thread *t, struct coro__base *self, struct coro *co)
{
    int r;

    set_status(&co->b, CORO_RUNNING);
    leaving(t, self, &co->b, 1);
    r = coro__ctx_start_int(&self->ctx, &co->b.ctx, NULL);
    arrived(t, self);
    return r;
}

static CORO__ALWAYS_INLINE int
enter(struct coro__thread *t, struct coro__base *self, struct coro *co, void *in)
{
    if (co->b.status == CORO_CREATED)
        return enter_created(t, self, co);
    return enter_suspended(t, self, co, in);
}

/* Switch from self to the context back, already made current, handing
 * it val; returns the val that comes back. */
static CORO__ALWAYS_INLINE void *
go_back(struct coro__thread *t, struct coro__base *self, struct coro__base *back, void *val)
{
    void *r;

    leaving(t, self, back, 0);
    r = coro__ctx_switch(&self->ctx, &back->ctx, val);
    arrived(t, self);
    return r;
}

static CORO__ALWAYS_INLINE int
go_back_int(struct coro__thread *t, struct coro__base *self, struct coro__base *back, void *val)
{
    int r;

    leaving(t, self, back, 0);
    r = coro__ctx_switch_int(&self->ctx, &back->ctx, val);
    arrived(t, self);
    return r;
}

/* The bookkeeping of entering co from the running context, self: its
 * status is left to enter(), which needs to see CORO_CREATED. */
static inline void
link_in(struct coro__thread *t, struct coro__base *self, struct coro *co, void **out)
{
    co->b.resumer = self;
    co->b.out = out;
    set_status(self, CORO_NORMAL);
    t->current = &co->b;
}

/* End the running coroutine: run its deferred handlers, last first, then
 * leave for good. Each handler is unlinked and freed before it runs, so it
 * runs exactly once even if it calls coro_exit() itself.
 *
 * When the function returned to trampoline() (top is 1), the stack's
 * context is parked right there: a later coroutine made on the same stack
 * starts by returning from this switch. Inline there, so that what follows
 * that change of stack is the loop, not a return (which the return
 * predictor would miss on every coroutine: it guesses the resumer's
 * caller). From any depth, see finish(). */
static CORO__ALWAYS_INLINE void
end(struct coro__thread *t, struct coro *self, void *result, int top)
{
    struct coro__defer *d;
    struct coro__base *back;

    if (self->defers != NULL) /* what only its handlers may see */
        self->b.flags |= CORO__ENDING;
    while ((d = self->defers) != NULL) {
        void (*fn)(void *) = d->fn;
        void *arg = d->arg;

        self->defers = d->next;
        if (!d->on_stack)
            free(d);
        fn(arg);
    }
    back = self->b.resumer;
    if (self->b.out)
        *self->b.out = result;
    set_status(&self->b, CORO_DEAD);
    set_status(back, CORO_RUNNING);
    t->current = back;
    self->parked = (unsigned char)top;
    *t->errnop = back->err;
    coro__san_leave(&t->san, &self->b.san, &back->san, 1);
    /* Only coro__ctx_start() enters this context again, if anything does:
     * its control modes need not be kept. */
    (void)coro__ctx_park(&self->b.ctx, &back->ctx, (void *)1); /* coro_resume() returns 1 */
}

/* The end from any depth (coro_exit, close): never returns, since nothing
 * switches back to a coroutine that ended deep. */
static __attribute__((noinline, noreturn)) void
finish(struct coro__thread *t, struct coro *self, void *result)
{
    end(t, self, result, 0);
    abort();
}

/* The first code on every new context, and the loop that each later
 * coroutine made on the same stack goes on in after its parking. */
static void
trampoline(void)
{
    struct coro__thread *t = coro__thr_ptr;

    coro__san_arrive(&t->san, &t->current->san);
    for (;;) {
        struct coro *self = (struct coro *)t->current;

        end(t, self, self->fn(self->arg), 1);
        /* A new coroutine starts here, on a parked stack. */
        coro__san_arrive(&t->san, &t->current->san);
    }
}

/* What coro_close() runs on a suspended coroutine's stack, on top of its
 * frames, instead of going on in its coro_yield(). */
static void
closing(void)
{
    struct coro__thread *t = coro__thr_ptr;
    struct coro *self = (struct coro *)t->current;

    coro__san_arrive(&t->san, &self->b.san);
    finish(t, self, NULL);
}

/* A context on st for a new coroutine co, when the stack has none parked:
 * 0, or -1 and errno (st is given back). */
static __attribute__((noinline)) int
make_context(struct coro__stack *st, struct coro *co)
{
    if (coro__ctx_make(&co->b.ctx, st->lo, (size_t)((char *)co - st->lo), trampoline) == 0)
        return 0;
    int err = errno;

    co->parked = 0;
    coro__stack_put(st);
    errno = err;
    return -1;
}

/* The fields of co, a new coroutine on st whose context is ready to
 * start: fresh, just made, or parked by the stack's last coroutine. */
static CORO__ALWAYS_INLINE struct coro *
init(struct coro__thread *t, struct coro__stack *st, struct coro *co, coro_fn *fn, void *arg,
     const struct coro__ops *ops, int fresh)
{
    co->b.key = ops ? t->id | CORO__KEY_MANAGED : t->id;
    co->b.resumer = NULL;
    co->b.out = NULL;
    co->b.status = CORO_CREATED;
    co->b.err = 0;
    co->b.flags = ops ? CORO__MANAGED : 0;
    coro__san_ctx_init(&co->b.san, &st->san, st->lo, st->size, fresh);
    co->fn = fn;
    co->arg = arg;
    co->ops = ops;
    co->defers = NULL;
    co->stack = st;
    co->parked = 0;
    co->b.seq = ++t->seq;
    co->name[0] = '\0';
#ifndef CORO__BENCH_NO_LIVE_LIST /* only 'make bench', to measure what the list costs */
    coro__list_push(&t->live, &co->live);
#endif
    if (ops)
        memset(co->ext, 0, sizeof co->ext);
    return co;
}

/* create() where its fast path does not apply: another size, a stack from
 * a slab or one whose last coroutine ended deep, the errors. */
static __attribute__((noinline)) struct coro *
create_other(coro_fn *fn, void *arg, size_t size, const struct coro__ops *ops)
{
    struct coro__thread *t = coro__thr();
    struct coro__stack *st;
    struct coro *co;
    int fresh;

    if (fn == NULL || size > CORO_STACK_MAX) {
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        size = CORO_STACK_DEFAULT; /* a whole number of pages */
    } else {
        size_t page = coro__page_size();

        if (size < CORO_STACK_MIN)
            size = CORO_STACK_MIN;
        size = (size + page - 1) & ~(page - 1);
    }
    if ((st = coro__stack_get(size)) == NULL)
        return NULL;
    co = object_of(st);
    fresh = !(st->reused && co->parked);
    if (fresh && make_context(st, co) == -1)
        return NULL;
    return init(t, st, co, fn, arg, ops, fresh);
}

/* Inline, so that the common case has no frame and no call: the default
 * size, and the pool's next stack parked by its last coroutine. (A pooled
 * stack means the thread's state is set up: it made that coroutine.) */
static CORO__ALWAYS_INLINE struct coro *
create(coro_fn *fn, void *arg, size_t size, const struct coro__ops *ops)
{
    struct coro__stack *st = coro__stack_peek(CORO_STACK_DEFAULT);

    if (__builtin_expect(size != 0 || fn == NULL || st == NULL || !object_of(st)->parked, 0))
        return create_other(fn, arg, size, ops);
    st = coro__stack_get(CORO_STACK_DEFAULT);
    return init(coro__thr_peek(), st, object_of(st), fn, arg, ops, 0);
}

coro_t *
coro_create(coro_fn *fn, void *arg, size_t stack_size)
{
    return create(fn, arg, stack_size, NULL);
}

struct coro *
coro__create(coro_fn *fn, void *arg, size_t stack_size, const struct coro__ops *ops)
{
    return create(fn, arg, stack_size, ops);
}

/* Only the owning thread may touch a coroutine, and only its manager a
 * managed one: the key holds both. */
static inline int
check_owner(const struct coro__thread *t, const struct coro *co)
{
    if (co == NULL)
        return fail(EINVAL);
    if (co->b.key != t->id)
        return fail(EPERM);
    return 0;
}

/* coro_resume() of a coroutine that is not suspended, or not the caller's.
 * (The arguments in coro_resume()'s order, so that the tail call from its
 * fast path moves none.) */
static __attribute__((noinline)) int
resume_other(struct coro *co, void *in, void **out, struct coro__thread *t)
{
    struct coro__base *self = t->current;

    if (co->b.key != t->id)
        return fail(EPERM);
    if (co->b.status != CORO_CREATED)
        return fail(co->b.status == CORO_DEAD ? ESRCH : EBUSY);
    if (in != NULL) /* "can't send non-None value to a just-started generator" */
        return fail(EINVAL);
    link_in(t, self, co, out);
    return enter_created(t, self, co);
}

int
coro_resume(coro_t *co, void *in, void **out)
{
    struct coro__thread *t = coro__thr_ptr;
    struct coro__base *self;

    if (__builtin_expect(co == NULL, 0))
        return fail(EINVAL);
    if (__builtin_expect(co->b.key != t->id || co->b.status != CORO_SUSPENDED, 0))
        return resume_other(co, in, out, t);
    self = t->current;
    link_in(t, self, co, out);
    return enter_suspended(t, self, co, in);
}

/* coro_yield() from the thread's own stack, a dying coroutine or a managed one. */
static __attribute__((noinline)) void *
yield_other(void *out, struct coro__base *self)
{
    if (self->flags & CORO__ROOT) {
        errno = EPERM;
        return NULL;
    }
    if (self->flags & CORO__ENDING) { /* a deferred handler cannot suspend a dying coroutine */
        errno = ECANCELED;
        return NULL;
    }
    return ((struct coro *)self)->ops->yield((struct coro *)self, out);
}

void *
coro_yield(void *out)
{
    struct coro__thread *t = coro__thr_ptr;
    struct coro__base *self = t->current, *back;

    if (__builtin_expect(self->flags != 0, 0))
        return yield_other(out, self);
    back = self->resumer;
    if (self->out)
        *self->out = out;
    set_status(self, CORO_SUSPENDED);
    set_status(back, CORO_RUNNING);
    t->current = back;
    return go_back(t, self, back, (void *)0); /* coro_resume() returns 0 */
}

int
coro__resume(struct coro *co, int val, void **out)
{
    struct coro__thread *t = coro__thr_peek();
    struct coro__base *self = t->current;

    link_in(t, self, co, out);
    return enter(t, self, co, (void *)(intptr_t)val);
}

int
coro__suspend(struct coro *self)
{
    struct coro__thread *t = coro__thr_peek();
    struct coro__base *back = self->b.resumer;

    set_status(&self->b, CORO_SUSPENDED);
    set_status(back, CORO_RUNNING);
    t->current = back;
    return go_back_int(t, &self->b, back, (void *)0); /* coro__resume() returns 0 */
}

int
coro__switch_to(struct coro *self, struct coro *next, int val)
{
    struct coro__thread *t = coro__thr_peek();

    next->b.resumer = self->b.resumer;
    next->b.out = self->b.out;
    set_status(&self->b, CORO_SUSPENDED);
    t->current = &next->b;
    return enter(t, &self->b, next, (void *)(intptr_t)val);
}

int
coro__close(struct coro *co)
{
    struct coro__thread *t = coro__thr_peek();
    struct coro__base *self;

    switch (co->b.status) {
    case CORO_CREATED:
        set_status(&co->b, CORO_DEAD);
        co->parked = 1; /* its context never ran: still as good as new */
        return 0;
    case CORO_SUSPENDED:
        /* Run its handlers on its own stack, and let it die there. */
        self = t->current;
        link_in(t, self, co, NULL);
        set_status(&co->b, CORO_RUNNING);
        leaving(t, self, &co->b, 0);
        (void)coro__ctx_ontop(&self->ctx, &co->b.ctx, closing);
        arrived(t, self);
        return 0;
    case CORO_RUNNING:
    case CORO_NORMAL:
        errno = EBUSY;
        return -1;
    default:
        return 0;
    }
}

/* The end of a dead coroutine: off the live list, its stack given back. */
static CORO__ALWAYS_INLINE int
bury(struct coro *co)
{
#ifndef CORO__BENCH_NO_LIVE_LIST
    coro__list_unlink(&co->live);
#endif
    coro__stack_put(co->stack);
    return 0;
}

int
coro__destroy(struct coro *co)
{
    if (co->b.status != CORO_DEAD && coro__close(co) == -1) /* dead: nothing to close */
        return -1;
    return bury(co);
}

int
coro_close(coro_t *co)
{
    if (check_owner(coro__thr_peek(), co) == -1)
        return -1;
    return coro__close(co);
}

int
coro_destroy(coro_t *co)
{
    if (co == NULL)
        return 0;
    if (check_owner(coro__thr_peek(), co) == -1)
        return -1;
    if (co->b.status == CORO_DEAD) /* the common case, without a frame */
        return bury(co);
    return coro__destroy(co);
}

coro_status_t
coro_status(const coro_t *co)
{
    if (co == NULL) {
        errno = EINVAL;
        return CORO_DEAD;
    }
    return (coro_status_t)__atomic_load_n(&co->b.status, __ATOMIC_RELAXED);
}

coro_t *
coro_self(void)
{
    return coro__self();
}

int
coro_defer(void (*fn)(void *), void *arg)
{
    struct coro *self = coro__self();
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
    d->on_stack = 0;
    coro__defer_push(self, d);
    return 0;
}

int
coro_exit(void *result)
{
    struct coro *self = coro__self();

    if (self == NULL) {
        errno = EPERM;
        return -1;
    }
    finish(coro__thr_peek(), self, result);
}

void
coro_return(void *result)
{
    struct coro *self = coro__self();

    if (self == NULL) {
        fputs("libcoro: coro_return() called outside a coroutine\n", stderr);
        abort();
    }
    finish(coro__thr_peek(), self, result);
}

static const char *
kind_of(const struct coro *co)
{
    return co->ops ? co->ops->kind : "coroutine";
}

int
coro_set_name(coro_t *co, const char *name)
{
    size_t n;

    if (co == NULL)
        return fail(EINVAL);
    if ((co->b.key & ~CORO__KEY_MANAGED) != coro__thr_peek()->id)
        return fail(EPERM);
    if (name == NULL) {
        co->name[0] = '\0';
        return 0;
    }
    n = strnlen(name, CORO_NAME_MAX - 1);
    memcpy(co->name, name, n);
    co->name[n] = '\0';
    return 0;
}

const char *
coro_name(const coro_t *co)
{
    if (co == NULL) {
        errno = EINVAL;
        return NULL;
    }
    if (co->name[0] == '\0') /* the default, made when first asked for */
        snprintf((char *)co->name, sizeof co->name, "%s-%llu",
                 co->ops ? co->ops->kind : "coro", (unsigned long long)co->b.seq);
    return co->name;
}

/* For the overflow report (stack.h): async-signal-safe. */
static int
describe(const struct coro__stack *st, struct coro__stack_user *user)
{
    const struct coro *co = object_of(st);

    if (co->stack != st)
        return -1;
    user->handle = co;
    user->kind = kind_of(co);
    user->fn = (void (*)(void))co->fn;
    user->name = co->name[0] ? co->name : NULL;
    user->seq = co->b.seq;
    user->prefix = co->ops ? co->ops->kind : "coro";
    return 0;
}
