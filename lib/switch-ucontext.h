/* The portable backend: POSIX ucontext, switched with swapcontext(). */
#ifndef CORO_SWITCH_UCONTEXT_H
#define CORO_SWITCH_UCONTEXT_H

#include <ucontext.h>

struct coro__ctx {
    ucontext_t uc;
};

#endif /* CORO_SWITCH_UCONTEXT_H */
