/* The fast backend's C part: making a context (see switch-fast.h). */
#include "config.h"

#include "switch.h"

int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    if (getcontext(&ctx->first) == -1)
        return -1;
    ctx->first.uc_stack.ss_sp = stack;
    ctx->first.uc_stack.ss_size = size;
    ctx->first.uc_link = NULL; /* entry() never returns */
    makecontext(&ctx->first, entry, 0);
    ctx->sp = NULL;
    return 0;
}

const char *
coro_switch_name(void)
{
#if defined(__x86_64__)
    return "fast (x86_64)";
#elif defined(__aarch64__)
    return "fast (aarch64)";
#endif
}
