/* The portable switch: getcontext/makecontext to build, swapcontext to switch. */
#include "config.h"

#include "coro.h"
#include "switch.h"

int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    if (getcontext(&ctx->uc) == -1)
        return -1;
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL; /* entry() never returns */
    coro__clear_frame_pointer(&ctx->uc);
    makecontext(&ctx->uc, entry, 0);
    return 0;
}

#if CORO__ASAN
/* ASan intercepts swapcontext() and warns on its first use, even when, as
 * here, every switch is annotated (sanitize.h). The same switch in two
 * steps is not intercepted. (Out of line: getcontext() returns twice.) */
void
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to)
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
