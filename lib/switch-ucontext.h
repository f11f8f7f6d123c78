/*
 * The portable backend: POSIX ucontext, switched with swapcontext(), which
 * also saves and restores the signal mask (a system call) and the whole
 * floating-point environment. Built with getcontext() and makecontext().
 *
 * What swapcontext() cannot do by itself is done by the side that arrives,
 * right after its swapcontext() returns (arrived()): hand over a value,
 * give a new coroutine its starter's floating-point environment, and call
 * an ontop function.
 */
#ifndef CORO_SWITCH_UCONTEXT_H
#define CORO_SWITCH_UCONTEXT_H

#include <fenv.h>
#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "sanitize.h"

struct coro__ctx {
    ucontext_t uc;
    void *val;                   /* what the switch into it hands over */
    void (*ontop)(void);         /* to call on arrival, instead of going on */
    void (*entry)(void);         /* a made context's entry function */
    fenv_t env;                  /* a started context's: its starter's environment */
    int inherit;                 /* env is to be installed on arrival */
};

int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));

#if CORO__ASAN
void coro__uc_swap(struct coro__ctx *from, struct coro__ctx *to); /* switch-ucontext.c */
#else
/* swapcontext() fails only on invalid contexts, which are never built. */
static CORO__ALWAYS_INLINE void
coro__uc_swap(struct coro__ctx *from, struct coro__ctx *to)
{
    (void)swapcontext(&from->uc, &to->uc);
}
#endif

static CORO__ALWAYS_INLINE void *
coro__uc_arrived(struct coro__ctx *self)
{
    if (self->inherit) {
        self->inherit = 0;
        (void)fesetenv(&self->env);
    }
    if (self->ontop) {
        void (*fn)(void) = self->ontop;

        self->ontop = NULL;
        fn();
    }
    return self->val;
}

/* Inline, so that no C frame lies between the sanitizers' notice of the
 * switch and the switch itself (see sanitize.h). */
static CORO__ALWAYS_INLINE void *
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    to->val = val;
    coro__uc_swap(from, to);
    return coro__uc_arrived(from);
}

static CORO__ALWAYS_INLINE void *
coro__ctx_start(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    (void)fegetenv(&to->env);
    to->inherit = 1;
    return coro__ctx_switch(from, to, val);
}

/* swapcontext() keeps the whole environment anyway. */
static CORO__ALWAYS_INLINE void *
coro__ctx_park(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__ctx_switch(from, to, val);
}

static CORO__ALWAYS_INLINE int
coro__ctx_switch_int(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return (int)(intptr_t)coro__ctx_switch(from, to, val);
}

static CORO__ALWAYS_INLINE int
coro__ctx_start_int(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return (int)(intptr_t)coro__ctx_start(from, to, val);
}

static CORO__ALWAYS_INLINE void *
coro__ctx_ontop(struct coro__ctx *from, struct coro__ctx *to, void (*fn)(void))
{
    to->ontop = fn;
    return coro__ctx_switch(from, to, NULL);
}

#endif /* CORO_SWITCH_UCONTEXT_H */
