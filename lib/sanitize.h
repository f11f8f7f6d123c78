/*
 * What the sanitizers need to hear about a switch of stacks (coro.c calls
 * these around every switch). AddressSanitizer tracks which stack is in
 * use (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber);
 * ThreadSanitizer keeps a "fiber" per stack, with its shadow call stack.
 * Detected at compile time, so that a user's own -fsanitize build of
 * libcoro just works; without a sanitizer everything here is empty and
 * costs nothing. (valgrind: see stack.c.)
 */
#ifndef CORO_SANITIZE_H
#define CORO_SANITIZE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define CORO__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define CORO__TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define CORO__TSAN 1
#endif
#endif

#if CORO__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if CORO__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* TSan keeps a shadow call stack per fiber: a C function entered after
 * __tsan_switch_to_fiber() but left after the switch back would pop the
 * wrong one (no_sanitize does not remove those hooks). So nothing between
 * the two may be a C frame of its own: these helpers and the backends'
 * switch functions are always inlined into the caller's frame. */
#define CORO__ALWAYS_INLINE inline __attribute__((always_inline))

/* Per context (each coroutine, and each thread's own stack). */
struct coro__san_ctx {
#if CORO__ASAN
    void *fake;                  /* its fake stack while it is switched out */
    const void *bottom;          /* its stack; the thread's is learnt on leaving it */
    size_t size;
#endif
#if CORO__TSAN
    void **fiber;                /* its TSan fiber: in its stack's coro__san_stack */
#endif
    char unused;                 /* keeps the struct non-empty */
};

/* Per stack (stack.c keeps it with the stack, in the pool too): the TSan
 * fiber whose shadow stack describes the frames on it. It lives as long as
 * the frames: a parked stack keeps them (the next coroutine on it starts by
 * returning from one), a context made anew on it has none. */
struct coro__san_stack {
#if CORO__TSAN
    void *fiber;
#endif
    char unused;
};

/* Per thread: the context that is switching, seen by the side that arrives. */
struct coro__san_thread {
#if CORO__ASAN
    struct coro__san_ctx *from;
#endif
    char unused;
};

/* The context of the thread's own stack; fiber: where to keep its TSan fiber. */
static inline void
coro__san_root_init(struct coro__san_ctx *root, void **fiber)
{
#if CORO__TSAN
    *fiber = __tsan_get_current_fiber();
    root->fiber = fiber;
#endif
    (void)root, (void)fiber;
}

/* A coroutine's context on the stack [lo, lo + size) with stack state st.
 * fresh: the context was just made, so no frames of an earlier coroutine
 * on the stack are kept. */
static inline void
coro__san_ctx_init(struct coro__san_ctx *c, struct coro__san_stack *st, void *lo, size_t size,
                   int fresh)
{
#if CORO__ASAN
    c->fake = NULL;
    c->bottom = lo;
    c->size = size;
    ASAN_UNPOISON_MEMORY_REGION(lo, size); /* frames an earlier coroutine abandoned */
#endif
#if CORO__TSAN
    if (fresh && st->fiber) {
        __tsan_destroy_fiber(st->fiber);
        st->fiber = NULL;
    }
    c->fiber = &st->fiber;
#endif
    (void)c, (void)st, (void)lo, (void)size, (void)fresh;
}

/* The stack goes away (stack.c). */
static inline void
coro__san_stack_fini(struct coro__san_stack *st, void *lo, size_t size)
{
#if CORO__ASAN
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#if CORO__TSAN
    if (st->fiber)
        __tsan_destroy_fiber(st->fiber);
    st->fiber = NULL;
#endif
    (void)st, (void)lo, (void)size;
}

/* Right before a switch from one context to another. dying: from will
 * never be switched back to as it is (its coroutine ended). */
static CORO__ALWAYS_INLINE void
coro__san_leave(struct coro__san_thread *t, struct coro__san_ctx *from, struct coro__san_ctx *to,
                int dying)
{
#if CORO__ASAN
    t->from = from;
    __sanitizer_start_switch_fiber(dying ? NULL : &from->fake, to->bottom, to->size);
#endif
#if CORO__TSAN
    if (*to->fiber == NULL) /* made only when first needed */
        *to->fiber = __tsan_create_fiber(0);
    __tsan_switch_to_fiber(*to->fiber, 0);
#endif
    (void)t, (void)from, (void)to, (void)dying;
}

/* Right after a switch, on the side that runs now (also the first code of
 * a new coroutine, and of an ontop function). */
static CORO__ALWAYS_INLINE void
coro__san_arrive(struct coro__san_thread *t, struct coro__san_ctx *self)
{
#if CORO__ASAN
    const void *old_bottom;
    size_t old_size;

    __sanitizer_finish_switch_fiber(self->fake, &old_bottom, &old_size);
    self->fake = NULL;
    if (t->from->bottom == NULL) { /* it left the thread's own stack */
        t->from->bottom = old_bottom;
        t->from->size = old_size;
    }
#endif
    (void)t, (void)self;
}

#endif /* CORO_SANITIZE_H */
