/*
 * The context switch: the only interface between libcoro and the machine.
 * A backend header (switch-ucontext.h, switch-fast.h) defines struct
 * coro__ctx and provides these two functions, declared or inline:
 *
 * int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));
 *     Prepare ctx so that the first coro__ctx_switch() to it calls entry()
 *     on the stack [stack, stack + size). entry() never returns.
 *     0, or -1 and errno.
 *
 * void coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to);
 *     Save the running context in from and continue in to. Returns when
 *     some later switch targets from.
 *
 * Nothing else in the library knows how registers are saved.
 */
#ifndef CORO_SWITCH_H
#define CORO_SWITCH_H

#if CORO_SWITCH_FAST
#include "switch-fast.h"
#else
#include "switch-ucontext.h"
#endif

/* getcontext() saves the caller's frame pointer, and makecontext() keeps
 * it: a new coroutine's chain of frames would lead back into a stack frame
 * of its creator, long gone, where debuggers and sanitizers' unwinders walk
 * into garbage. A null frame pointer ends the chain at the coroutine. */
static inline void
coro__clear_frame_pointer(ucontext_t *uc)
{
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RBP] = 0;
#elif defined(__aarch64__)
    uc->uc_mcontext.regs[29] = 0;
#endif
    (void)uc;
}

#endif /* CORO_SWITCH_H */
