/* The portable backend: POSIX ucontext, switched with swapcontext(). */
#ifndef CORO_SWITCH_UCONTEXT_H
#define CORO_SWITCH_UCONTEXT_H

#include <stddef.h>
#include <ucontext.h>

#include "sanitize.h"

struct coro__ctx {
    ucontext_t uc;
};

int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));
#if CORO__ASAN
void coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to); /* switch-ucontext.c */
#else
/* Inline, so that no C frame lies between the sanitizers' notice of the
 * switch and the switch itself (see sanitize.h). swapcontext fails only on
 * invalid contexts, which we never build. */
static CORO__ALWAYS_INLINE void
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to)
{
    (void)swapcontext(&from->uc, &to->uc);
}
#endif

#endif /* CORO_SWITCH_UCONTEXT_H */
