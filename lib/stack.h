/*
 * The stack layer, below the coroutine object: guarded stacks carved from
 * slabs (stack.c), a per-thread pool of free stacks in front of them
 * (pool.c), and the overflow diagnosis, which recognises a fault in a guard
 * page (overflow.c). It knows nothing of what runs on a stack: the
 * coroutine object plugs in a describer for the overflow report.
 */
#ifndef CORO_STACK_H
#define CORO_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "list.h"
#include "sanitize.h"

struct coro__slab;

/* A stack: [lo, lo + size), with a guard page below it. This descriptor
 * sits at the top of the stack itself; what its user may use is the rest,
 * [lo, (char *)st). */
struct coro__stack {
    char *lo;
    size_t size;
    struct coro__slab *slab;
    unsigned vg_id;              /* valgrind's id for the registered stack, or 0 */
    unsigned char index;         /* its place in its slab */
    unsigned char reused;        /* from the pool: the memory below holds what its last user left */
    struct coro__san_stack san;
};

/* stack.c. A slab: stacks of one size carved from one mapping, the first
 * page its header (this). Here for the pool, which keeps its stacks in
 * their slabs, so that it hands them out in the order of their addresses
 * whatever the order they came back in: tasks made one after the other
 * get neighbouring stacks again, as they did from a fresh slab. */
enum { CORO__SLAB_SLOTS = 64 };  /* stacks per slab, at most (one uint64_t of bits) */
struct coro__slab {
    char *map;
    size_t map_size;
    size_t size;                 /* of each stack */
    size_t slot;                 /* a guard page and a stack */
    unsigned nslots;
    uint64_t free;               /* bit i: stack i is not in use */
    uint64_t guarded;            /* bit i: stack i's guard is installed */
    uint64_t pooled;             /* bit i: stack i is in the pool (in use, for the slab) */
    struct coro__slab *pool_next; /* in its pool list, while pooled != 0 */
    struct coro__link avail;     /* in the thread's slabs with a free stack */
    struct coro__link all;       /* in the thread's slabs */
    struct coro__stack *stacks[CORO__SLAB_SLOTS]; /* stack i's descriptor, once carved */
};

/* pool.c. The calling thread's free stacks: up to POOL_SIZES lists, each
 * of the slabs that hold pooled stacks of one size (a list keeps its size
 * while it is empty, until another size needs it), at most max stacks in
 * all. A list's first slab gives its lowest pooled stack first. Its zeroed
 * state is a new thread's initial state: max is kept as
 * max - CORO_POOL_DEFAULT, and room is 0 until the first stack is pooled.
 * Here for the inline fast paths below; only the stack layer touches it. */
enum { CORO__POOL_SIZES = 4 };
struct coro__pool_list {
    size_t size;
    struct coro__slab *head;
};
struct coro__pool {
    struct coro__pool_list list[CORO__POOL_SIZES];
    size_t n;                    /* stacks pooled */
    size_t max_delta;            /* the most it keeps, minus CORO_POOL_DEFAULT */
    size_t room;                 /* max - n once the thread's exit will empty it, else 0 */
    int hooked;                  /* the thread's exit will empty it */
};
#if CORO_SWITCH_FAST
#define CORO__POOL_TLS __attribute__((tls_model("initial-exec"))) /* see object.h */
#else
#define CORO__POOL_TLS
#endif
extern __thread struct coro__pool coro__pool CORO__POOL_TLS __attribute__((visibility("hidden")));

/* The slow paths of the two below: the other lists, the slabs. */
struct coro__stack *coro__stack_get_other(size_t size);
void coro__stack_put_other(struct coro__stack *st);

/* The stack that l gives next (l is not empty): its first slab's lowest. */
static inline struct coro__stack *
coro__pool_first(const struct coro__pool_list *l)
{
    return l->head->stacks[__builtin_ctzll(l->head->pooled)];
}

/* Take coro__pool_first(l) off l. */
static inline struct coro__stack *
coro__pool_take(struct coro__pool_list *l)
{
    struct coro__slab *slab = l->head;
    struct coro__stack *st = coro__pool_first(l);

    slab->pooled &= slab->pooled - 1;
    if (slab->pooled == 0)
        l->head = slab->pool_next;
    coro__pool.n--;
    st->reused = 1;
    return st;
}

/* Put st on l, the list of its size. */
static inline void
coro__pool_add(struct coro__pool_list *l, struct coro__stack *st)
{
    struct coro__slab *slab = st->slab;

    if (slab->pooled == 0) {
        slab->pool_next = l->head;
        l->head = slab;
    }
    slab->pooled |= (uint64_t)1 << st->index;
    coro__pool.n++;
}

/* The stack of size bytes that coro__stack_get() takes without a call,
 * from the pool's first list, or NULL. */
static inline struct coro__stack *
coro__stack_peek(size_t size)
{
    const struct coro__pool_list *l = &coro__pool.list[0];

    return l->head != NULL && l->size == size ? coro__pool_first(l) : NULL;
}

/* A stack of size bytes (a multiple of the page size), from the calling
 * thread's pool or else a slab. NULL and ENOMEM on failure. Inline for a
 * stack of the first list's size, the one a program making coroutines of
 * one size uses: a coroutine's life is a few dozen instructions. */
static inline struct coro__stack *
coro__stack_get(size_t size)
{
    struct coro__pool_list *l = &coro__pool.list[0];

    if (__builtin_expect(l->head == NULL || l->size != size, 0))
        return coro__stack_get_other(size);
    coro__pool.room++;
    return coro__pool_take(l);
}

/* Give it back: to the pool, or to its slab when the pool is full. */
static inline void
coro__stack_put(struct coro__stack *st)
{
    if (__builtin_expect(coro__pool.room == 0 || coro__pool.list[0].size != st->size, 0)) {
        coro__stack_put_other(st);
        return;
    }
    coro__pool.room--;
    coro__pool_add(&coro__pool.list[0], st);
}

/* stack.c. */
size_t coro__page_size(void);
/* A stack from one of the thread's slabs (reused 0). NULL and ENOMEM. */
struct coro__stack *coro__stack_new(size_t size);
/* Back to its slab, which gets its pages back. */
void coro__stack_release(struct coro__stack *st);
/* Have fn() called when a thread that has stacks exits, before its last
 * resources go (the pool empties itself). Process-wide, set once. */
void coro__stack_on_thread_exit(void (*fn)(void));
/* Will the calling thread's exit be noticed (fn above called)? 1 or 0.
 * Only then may stacks be kept for later: else nothing would free them. */
int coro__stack_exit_noticed(void);
/* The stack in use whose guard page holds addr, among the calling thread's,
 * or NULL. Async-signal-safe: for the overflow handler. */
struct coro__stack *coro__stack_of_guard(const void *addr);

/* overflow.c. What the overflow report says of the user of a stack: the
 * coroutine object fills it in, async-signal-safely; 0, or -1 when nothing
 * it knows of runs there. */
struct coro__stack_user {
    const void *handle;          /* the coroutine */
    const char *kind;            /* "coroutine", "task" */
    void (*fn)(void);            /* the function it runs */
    const char *name;            /* its name, or NULL for the default: */
    const char *prefix;          /* ... prefix-seq, as "task-17" */
    uint64_t seq;
};
typedef int coro__describe_fn(const struct coro__stack *st, struct coro__stack_user *user);
void coro__overflow_describer(coro__describe_fn *fn);

#endif /* CORO_STACK_H */
