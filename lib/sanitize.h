/*
 * What the sanitizers need to hear about a stack switch (coro.c calls these
 * around every switch). AddressSanitizer tracks which stack is in use
 * (__sanitizer_start_switch_fiber / __sanitizer_finish_switch_fiber),
 * ThreadSanitizer keeps one "fiber" per stack. Detected at compile time, so
 * that a user's own -fsanitize build of libcoro just works; without a
 * sanitizer everything here is empty. (valgrind: see stack.c.)
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
 * coro__ctx_switch() are always inlined into the caller's frame. */
#define CORO__ALWAYS_INLINE inline __attribute__((always_inline))

/* Per thread: the bounds of the thread's own stack (learnt from ASan the
 * first time the thread leaves it) and its TSan fiber. */
struct coro__san_thread {
#if CORO__ASAN
    const void *main_bottom;
    size_t main_size;
    int from_main; /* the switch being finished left the thread's own stack */
#endif
#if CORO__TSAN
    void *main_fiber;
#endif
    char unused; /* keeps the struct non-empty */
};

/* Per stack (kept in the pool with it): its TSan fiber. */
struct coro__san_stack {
#if CORO__TSAN
    void *fiber;
#endif
    char unused;
};

/* A new or reused stack [lo, lo + size) for a coroutine: clear what a
 * previous one left (ASan poison of abandoned frames) and give it a TSan
 * fiber. fresh: the stack gets a new context (makecontext); the fiber of
 * its old one, whose frames were abandoned, is replaced too. */
static inline void
coro__san_stack_init(struct coro__san_stack *s, void *lo, size_t size, int fresh)
{
#if CORO__ASAN
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#if CORO__TSAN
    if (s->fiber && fresh) {
        __tsan_destroy_fiber(s->fiber);
        s->fiber = NULL;
    }
    if (s->fiber == NULL)
        s->fiber = __tsan_create_fiber(0);
#endif
    (void)s, (void)lo, (void)size, (void)fresh;
}

/* The stack is being unmapped. */
static inline void
coro__san_stack_fini(struct coro__san_stack *s, void *lo, size_t size)
{
#if CORO__ASAN
    ASAN_UNPOISON_MEMORY_REGION(lo, size);
#endif
#if CORO__TSAN
    if (s->fiber)
        __tsan_destroy_fiber(s->fiber);
    s->fiber = NULL;
#endif
    (void)s, (void)lo, (void)size;
}

/* Right before a switch to the stack to (NULL: the thread's own stack, of
 * which ASan then knows the bounds). dying: the stack being left will not
 * be switched back to as it is (its coroutine ended). Returns what
 * coro__san_arrived() needs on this side. */
static CORO__ALWAYS_INLINE void *
coro__san_leaving(struct coro__san_thread *t, int from_main, struct coro__san_stack *to,
                  const void *to_lo, size_t to_size, int dying)
{
    void *fake = NULL;

#if CORO__ASAN
    if (to == NULL) {
        to_lo = t->main_bottom;
        to_size = t->main_size;
    }
    t->from_main = from_main;
    __sanitizer_start_switch_fiber(dying ? NULL : &fake, to_lo, to_size);
#endif
#if CORO__TSAN
    if (t->main_fiber == NULL)
        t->main_fiber = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(to ? to->fiber : t->main_fiber, 0);
#endif
    (void)t, (void)from_main, (void)to, (void)to_lo, (void)to_size, (void)dying;
    return fake;
}

/* Right after a switch, on the side that runs now (also the first code on
 * a new stack, with fake NULL). */
static CORO__ALWAYS_INLINE void
coro__san_arrived(struct coro__san_thread *t, void *fake)
{
#if CORO__ASAN
    const void *old_bottom;
    size_t old_size;

    __sanitizer_finish_switch_fiber(fake, &old_bottom, &old_size);
    if (t->from_main && t->main_bottom == NULL) {
        t->main_bottom = old_bottom;
        t->main_size = old_size;
    }
#endif
    (void)t, (void)fake;
}

#endif /* CORO_SANITIZE_H */
