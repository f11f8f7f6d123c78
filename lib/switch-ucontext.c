/* The portable switch: getcontext/makecontext to build, swapcontext to switch. */
#include "config.h"

#include "switch.h"

int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    if (getcontext(&ctx->uc) == -1)
        return -1;
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL; /* entry() never returns */
    makecontext(&ctx->uc, entry, 0);
    return 0;
}

void
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to)
{
    /* swapcontext fails only on invalid contexts, which we never build. */
    (void)swapcontext(&from->uc, &to->uc);
}
