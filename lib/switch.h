/*
 * The context switch: the only interface between libcoro and the machine.
 * A backend provides struct coro__ctx and the two functions below; nothing
 * else in the library knows how registers are saved.
 */
#ifndef CORO_SWITCH_H
#define CORO_SWITCH_H

#include <stddef.h>

#include "switch-ucontext.h"

/* Prepare ctx so that the first coro__ctx_switch() to it calls entry() on the
 * stack [stack, stack + size). entry() must never return. 0, or -1 and errno. */
int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));

/* Save the running context in from and continue in to. Returns when some
 * later switch targets from. */
void coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to);

#endif /* CORO_SWITCH_H */
