/*
 * The context switch: the lowest layer, and the only code that knows how
 * registers are saved. A backend header (switch-fast.h, switch-ucontext.h)
 * defines struct coro__ctx and provides these, declared or inline:
 *
 * int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));
 *     Build ctx with makecontext() so that starting it calls entry() on the
 *     stack [stack, stack + size); entry() never returns. 0, or -1 and errno.
 *
 * void *coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to, void *val);
 *     Save the running context in from and go on in to, which some earlier
 *     switch saved: that switch returns val. Returns, in from, the val of
 *     the switch that comes back to it.
 *
 * void *coro__ctx_start(struct coro__ctx *from, struct coro__ctx *to, void *val);
 *     The same, for a to that begins a new coroutine: made by
 *     coro__ctx_make() (val is then ignored) or saved by a coroutine's last
 *     switch. The new coroutine starts with the caller's floating-point
 *     control modes, not with those saved in to.
 *
 * void *coro__ctx_park(struct coro__ctx *from, struct coro__ctx *to, void *val);
 *     The same as coro__ctx_switch(), for a from that nothing but
 *     coro__ctx_start() will enter (or nothing at all): its floating-point
 *     control modes need not be saved.
 *
 * void *coro__ctx_ontop(struct coro__ctx *from, struct coro__ctx *to, void (*fn)(void));
 *     The same as coro__ctx_switch(), except that to does not go on where
 *     it was saved: fn() is called on to's stack, above its saved frames,
 *     with to's registers and modes. fn() never returns.
 *
 * int coro__ctx_switch_int(struct coro__ctx *from, struct coro__ctx *to, void *val);
 * int coro__ctx_start_int(struct coro__ctx *from, struct coro__ctx *to, void *val);
 *     coro__ctx_switch() and coro__ctx_start(), for a caller that returns
 *     the value handed back as an int: the value comes back as one, so
 *     that the call can be a tail call.
 *
 * The signal mask is the thread's, never switched (the ucontext backend
 * keeps it unchanged too: every context it makes or saves holds it).
 */
#ifndef CORO_SWITCH_H
#define CORO_SWITCH_H

#if CORO_SWITCH_FAST
#include "switch-fast.h"
#else
#include "switch-ucontext.h"
#endif

#endif /* CORO_SWITCH_H */
