/*
 * The pool: stacks of ended coroutines, kept per thread for the next
 * coroutines of the same size, so that making one normally costs no system
 * call. A pooled stack keeps what its last user left on it (the coroutine
 * object parks a ready context there, see coro.c). A few lists, one per
 * stack size in use; at most "max" stacks in all. A list holds slabs, each
 * with a mask of its pooled stacks, and gives the lowest stack of its first
 * slab: tasks end in any order, and reusing their stacks in that order would
 * scatter the next tasks over memory (with 10,000 pairs of tasks, a
 * channel's message cost twice as much on stacks reused last-in first-out
 * as on fresh ones). Pooled stacks keep the pages their coroutines touched;
 * stacks beyond the pool go back to their slab (stack.c), which returns the
 * pages to the kernel.
 */
#include "config.h"

#include "coro.h"
#include "stack.h"

enum { POOL_SIZES = CORO__POOL_SIZES };

__thread struct coro__pool coro__pool CORO__POOL_TLS; /* stack.h */

static size_t
pool_max(void)
{
    return coro__pool.max_delta + CORO_POOL_DEFAULT;
}

/* room again, after n, max or hooked changed. */
static void
set_room(void)
{
    size_t max = pool_max();

    coro__pool.room = coro__pool.hooked && max > coro__pool.n ? max - coro__pool.n : 0;
}

/* Free pooled stacks until at most max are left. */
static void
trim(size_t max)
{
    for (int i = 0; i < POOL_SIZES && coro__pool.n > max; i++)
        while (coro__pool.n > max && coro__pool.list[i].head != NULL)
            coro__stack_release(coro__pool_take(&coro__pool.list[i]));
}

/* At thread exit (stack.c calls it): empty the pool for good, so that
 * stacks freed later in the thread's exit go straight back too. */
static void
release_all(void)
{
    coro__pool.max_delta = (size_t)0 - CORO_POOL_DEFAULT;
    trim(0);
    set_room();
}

/* The list that holds stacks of size bytes, or -1. A list keeps its size
 * while it is empty, until another size needs it. */
static inline int
list_of(size_t size)
{
    for (int i = 0; i < POOL_SIZES; i++)
        if (coro__pool.list[i].size == size)
            return i;
    return -1;
}

struct coro__stack *
coro__stack_get_other(size_t size)
{
    int i = list_of(size);
    struct coro__stack *st;

    if (i < 0 || coro__pool.list[i].head == NULL)
        return coro__stack_new(size);
    st = coro__pool_take(&coro__pool.list[i]);
    set_room();
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
        if (coro__pool.list[i].head == NULL) {
            coro__pool.list[i].size = size;
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
    coro__pool.hooked = 1;
    return 0;
}

void
coro__stack_put_other(struct coro__stack *st)
{
    int i;

    if (coro__pool.n >= pool_max() || (i = list_for(st->size)) < 0 ||
        (!coro__pool.hooked && hook() == -1)) {
        coro__stack_release(st);
        return;
    }
    coro__pool_add(&coro__pool.list[i], st);
    set_room();
}

size_t
coro_stack_pool(size_t max)
{
    size_t old = pool_max();

    coro__pool.max_delta = max - CORO_POOL_DEFAULT;
    trim(max);
    set_room();
    return old;
}
