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

struct coro__stack *
coro__stack_get(size_t size)
{
    struct coro__stack *st;

    for (int i = 0; i < POOL_SIZES; i++) {
        st = pool.list[i].head;
        if (st && pool.list[i].size == size) {
            pool.list[i].head = st->next;
            pool.n--;
            st->reused = 1;
            return st;
        }
    }
    return coro__stack_new(size);
}

/* Into the list of its size, or an empty one; 0, or -1 when it cannot be
 * pooled. */
static int
push(struct coro__stack *st)
{
    int i, empty = -1;

    if (pool.n >= pool_max())
        return -1;
    for (i = 0; i < POOL_SIZES; i++) {
        if (pool.list[i].head && pool.list[i].size == st->size)
            break;
        if (pool.list[i].head == NULL && empty < 0)
            empty = i;
    }
    if (i == POOL_SIZES) {
        if (empty < 0)
            return -1; /* other sizes fill every list: do not pool this one */
        i = empty;
        pool.list[i].size = st->size;
    }
    if (!pool.hooked) {
        if (!coro__stack_exit_noticed())
            return -1; /* nothing could release it at thread exit */
        coro__stack_on_thread_exit(release_all);
        pool.hooked = 1;
    }
    st->next = pool.list[i].head;
    pool.list[i].head = st;
    pool.n++;
    return 0;
}

void
coro__stack_put(struct coro__stack *st)
{
    if (push(st) == -1)
        coro__stack_release(st);
}

size_t
coro_stack_pool(size_t max)
{
    size_t old = pool_max();

    pool.max_delta = max - CORO_POOL_DEFAULT;
    trim(max);
    return old;
}
