/* The fast backend's C part: making a context and entering it the first
 * time (see switch-fast.h). */
#include "config.h"

#include <stdint.h>

#include "coro.h"
#include "switch.h"

/* The ucontext_t goes at the top of the stack, below the caller's data:
 * it is needed only until the first entry, and the context stays two
 * pointers (the thread's own context is one of these too). */
int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)stack + size - sizeof(ucontext_t)) & ~(uintptr_t)63;
    ucontext_t *uc = (ucontext_t *)top;

    if (getcontext(uc) == -1)
        return -1;
    uc->uc_stack.ss_sp = stack;
    uc->uc_stack.ss_size = top - (uintptr_t)stack;
    uc->uc_link = NULL; /* entry() never returns */
    coro__clear_frame_pointer(uc);
    makecontext(uc, entry, 0);
    ctx->first = uc;
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
