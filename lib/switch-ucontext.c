/* The portable backend's out-of-line part: making a context. */
#include "config.h"

#include <stdint.h>

#include "coro.h"
#include "switch.h"

/* The first code of every context made here: the context's address comes
 * in two 32-bit halves, as makecontext() passes only ints. */
static void
start(unsigned hi, unsigned lo)
{
    struct coro__ctx *ctx = (struct coro__ctx *)(((uintptr_t)hi << 16 << 16) | lo);

    (void)coro__uc_arrived(ctx);
    ctx->entry();
}

int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    uintptr_t p = (uintptr_t)ctx;

    if (getcontext(&ctx->uc) == -1)
        return -1;
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL; /* entry() never returns */
    /* getcontext() saved the caller's frame pointer, which makecontext()
     * keeps: the new context's chain of frames would lead into a frame of
     * its creator, long gone, where debuggers and unwinders walk into
     * garbage. A null frame pointer ends the chain at the coroutine. */
#if defined(__x86_64__)
    ctx->uc.uc_mcontext.gregs[REG_RBP] = 0;
#elif defined(__aarch64__)
    ctx->uc.uc_mcontext.regs[29] = 0;
#endif
    ctx->entry = entry;
    ctx->val = NULL;
    ctx->ontop = NULL;
    ctx->inherit = 0;
    makecontext(&ctx->uc, (void (*)(void))start, 2, (unsigned)(p >> 16 >> 16), (unsigned)p);
    return 0;
}

#if CORO__ASAN
/* ASan intercepts swapcontext() and warns on its first use, even when, as
 * here, every switch is annotated (sanitize.h). The same switch in two
 * steps is not intercepted. (Out of line: getcontext() returns twice.) */
void
coro__uc_swap(struct coro__ctx *from, struct coro__ctx *to)
{
    volatile int switched = 0;

    (void)getcontext(&from->uc);
    if (!switched) {
        switched = 1;
        (void)setcontext(&to->uc);
    }
}
#endif

const char *
coro_switch_name(void)
{
    return "ucontext";
}
