/*
 * The fast backend: a context is one stack pointer; switching is a few
 * instructions of assembly (switch-x86_64.S, switch-aarch64.S) that save
 * what the ABI asks a callee to keep. Contexts are built with makecontext()
 * and entered by the stack pointer and instruction pointer it set, without
 * setcontext(), so that no switch, the first one included, makes a system
 * call.
 *
 * The wrappers are inline, so that callers reach the assembly by a tail
 * call, and so that no C frame lies between the sanitizers' notice of a
 * switch and the switch itself (see sanitize.h).
 */
#ifndef CORO_SWITCH_FAST_H
#define CORO_SWITCH_FAST_H

#include <stddef.h>

#include "sanitize.h"

struct coro__ctx {
    void *sp; /* its saved frame (see the .S files) */
};

void *coro__fast_switch(void **load, void *val, void **save);
void *coro__fast_start(void **load, void *val, void **save);
void *coro__fast_park(void **load, void *val, void **save);
void *coro__fast_ontop(void **load, void (*fn)(void), void **save);
/* The same assembly, for callers that return what comes back as an int. */
int coro__fast_switch_int(void **load, void *val, void **save) __asm__("coro__fast_switch");
int coro__fast_start_int(void **load, void *val, void **save) __asm__("coro__fast_start");

int coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void));

static CORO__ALWAYS_INLINE void *
coro__ctx_switch(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__fast_switch(&to->sp, val, &from->sp);
}

static CORO__ALWAYS_INLINE void *
coro__ctx_start(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__fast_start(&to->sp, val, &from->sp);
}

static CORO__ALWAYS_INLINE void *
coro__ctx_park(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__fast_park(&to->sp, val, &from->sp);
}

static CORO__ALWAYS_INLINE int
coro__ctx_switch_int(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__fast_switch_int(&to->sp, val, &from->sp);
}

static CORO__ALWAYS_INLINE int
coro__ctx_start_int(struct coro__ctx *from, struct coro__ctx *to, void *val)
{
    return coro__fast_start_int(&to->sp, val, &from->sp);
}

static CORO__ALWAYS_INLINE void *
coro__ctx_ontop(struct coro__ctx *from, struct coro__ctx *to, void (*fn)(void))
{
    return coro__fast_ontop(&to->sp, fn, &from->sp);
}

#endif /* CORO_SWITCH_FAST_H */
