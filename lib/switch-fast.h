/*
 * The fast backend: contexts are still made with getcontext/makecontext and
 * entered the first time through setcontext(); from then on a switch is a
 * few instructions of assembly (switch-x86_64.S, switch-aarch64.S) that
 * save only what the ABI asks a callee to keep, with no system call. The
 * signal mask is the thread's: not switched, and not changed by the first
 * entry either (see coro__ctx_switch).
 */
#ifndef CORO_SWITCH_FAST_H
#define CORO_SWITCH_FAST_H

#include <signal.h>
#include <stddef.h>
#include <ucontext.h>

#include "sanitize.h"

struct coro__ctx {
    void *sp;          /* where its registers are saved; NULL until first entered */
    ucontext_t *first; /* made by makecontext(), at the top of its own stack */
};

void coro__fast_switch(void **save_sp, void *load_sp);
void coro__fast_enter(void **save_sp, const ucontext_t *first);

int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));

/* Inline, so that no C frame lies between the sanitizers' notice of the
 * switch and the switch itself (see sanitize.h). The first entry goes
 * through setcontext(), which installs the mask saved by getcontext() at
 * creation: it is given the thread's current mask, so that it changes
 * nothing. */
static CORO__ALWAYS_INLINE void
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to)
{
    if (to->sp) {
        coro__fast_switch(&from->sp, to->sp);
    } else {
        pthread_sigmask(SIG_BLOCK, NULL, &to->first->uc_sigmask);
        coro__fast_enter(&from->sp, to->first);
    }
}

#endif /* CORO_SWITCH_FAST_H */
