/*
 * The pool: stacks of ended coroutines, kept per thread for the next
 * coroutines of the same size, so that making one normally costs no system
 * call. A pooled stack keeps what its last user left on it (the coroutine
 * object parks a ready context there, see coro.c). A few lists, one per
 * stack size in use; at most "max" stacks in all. Pooled stacks keep the
 * pages their coroutines touched; stacks beyond the pool go back to their
 * slab (stack.c), which returns the pages to the kernel.
 */
#include "config.h"

#include "coro.h"
#include "stack.h"

enum { POOL_SIZES = 4 };

#if CORO_SWITCH_FAST
#define TLS_MODEL __attribute__((tls_model("initial-exec"))) /* see coro.c */
#else
#define TLS_MODEL
#endif

/* The calling thread's free stacks. max starts at CORO_POOL_DEFAULT: it is
 * kept as max - CORO_POOL_DEFAULT, so that the zeroed state of a new
 * thread is its initial state. */
static __thread struct {
    struct {
        size_t size;
        struct coro__stack *head;
    } list[POOL_SIZES];
    size_t n;                    /* stacks pooled */
    size_t max_delta;            /* the most it keeps, minus CORO_POOL_DEFAULT */
    int hooked;                  /* release_all() is set to run at thread exit */
} pool TLS_MODEL;

static size_t
pool_max(void)
{
    return pool.max_delta + CORO_POOL_DEFAULT;
}

/* Free pooled stacks until at most max are left. */
static void
trim(size_t max)
{
    for (int i = 0; i < POOL_SIZES && pool.n > max; i++) {
        struct coro__stack *st;

        while (pool.n > max && (st = pool.list[i].head) != NULL) {
            pool.list[i].head = st->next;
            pool.n--;
            coro__stack_release(st);
        }
    }
}

/* At thread exit (stack.c calls it): empty the pool for good, so that
 * stacks freed later in the thread's exit go straight back too. */
static void
release_all(void)
{
    pool.max_delta = (size_t)0 - CORO_POOL_DEFAULT;
    trim(0);
}

/* The list that holds stacks of size bytes, or -1. A list keeps its size
 * while it is empty, until another size needs it. */
static inline int
list_of(size_t size)
{
    for (int i = 0; i < POOL_SIZES; i++)
        if (pool.list[i].size == size)
            return i;
    return -1;
}

struct coro__stack *
coro__stack_get(size_t size)
{
    int i = list_of(size);
    struct coro__stack *st;

    if (i < 0 || (st = pool.list[i].head) == NULL)
        return coro__stack_new(size);
    pool.list[i].head = st->next;
    pool.n--;
    st->reused = 1;
    return st;
}

/* A list for stacks of size bytes: its own, or an empty one. -1 when
 * other sizes fill every list. */
static int
list_for(size_t size)
{
    int i = list_of(size);

    if (i >= 0)
        return i;
    for (i = 0; i < POOL_SIZES; i++)
        if (pool.list[i].head == NULL) {
            pool.list[i].size = size;
            return i;
        }
    return -1;
}

/* The first stack pooled: only if the thread's exit will release it. */
static int
hook(void)
{
    if (!coro__stack_exit_noticed())
        return -1;
    coro__stack_on_thread_exit(release_all);
    pool.hooked = 1;
    return 0;
}

void
coro__stack_put(struct coro__stack *st)
{
    int i;

    if (pool.n >= pool_max() || (i = list_for(st->size)) < 0 || (!pool.hooked && hook() == -1)) {
        coro__stack_release(st);
        return;
    }
    st->next = pool.list[i].head;
    pool.list[i].head = st;
    pool.n++;
}

size_t
coro_stack_pool(size_t max)
{
    size_t old = pool_max();

    pool.max_delta = max - CORO_POOL_DEFAULT;
    trim(max);
    return old;
}
