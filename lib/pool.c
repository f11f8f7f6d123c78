/*
 * The pool: stacks of ended coroutines, kept per thread for the next
 * coroutines of the same size, so that making one normally costs no system
 * call. A stack whose coroutine returned normally keeps a context parked at
 * the top of trampoline() (coro.c) and needs no makecontext() either. A few
 * lists, one per stack size in use; at most "max" stacks in all. Pooled
 * stacks keep the pages their coroutines touched; stacks beyond the pool go
 * back to their slab (stack.c), which returns the pages to the kernel.
 */
#include "config.h"

#include "coro-int.h"

static struct coro *
pool_pop(struct coro__pool *pool, size_t size)
{
    for (int i = 0; i < CORO__POOL_SIZES; i++) {
        struct coro *co = pool->list[i].head;

        if (co && pool->list[i].size == size) {
            pool->list[i].head = co->stack.next;
            pool->n--;
            return co;
        }
    }
    return NULL;
}

/* Free pooled stacks until at most max are left. */
static void
pool_trim(struct coro__pool *pool, size_t max)
{
    for (int i = 0; i < CORO__POOL_SIZES && pool->n > max; i++) {
        struct coro *co;

        while (pool->n > max && (co = pool->list[i].head) != NULL) {
            pool->list[i].head = co->stack.next;
            pool->n--;
            coro__stack_release(co);
        }
    }
}

void
coro__pool_release(struct coro__pool *pool)
{
    pool->max = 0; /* stacks freed later in the thread's exit go straight back */
    pool_trim(pool, 0);
}

static int
pool_push(struct coro__thread *t, struct coro *co)
{
    struct coro__pool *pool = &t->pool;
    int i, free_list = -1;

    if (pool->n >= pool->max)
        return -1;
    for (i = 0; i < CORO__POOL_SIZES; i++) {
        if (pool->list[i].head && pool->list[i].size == co->stack.size)
            break;
        if (pool->list[i].head == NULL && free_list < 0)
            free_list = i;
    }
    if (i == CORO__POOL_SIZES) {
        if (free_list < 0)
            return -1; /* other sizes fill every list: do not pool this one */
        i = free_list;
        pool->list[i].size = co->stack.size;
    }
    if (coro__at_thread_exit(t) == -1)
        return -1; /* it could not be released at thread exit */
    co->stack.next = pool->list[i].head;
    pool->list[i].head = co;
    pool->n++;
    return 0;
}

struct coro *
coro__stack_get(size_t size)
{
    struct coro *co = pool_pop(&coro__thr()->pool, size);

    if (co == NULL && (co = coro__stack_new(size)) == NULL)
        return NULL;
    coro__san_stack_init(&co->stack.san, co->stack.lo, (size_t)((char *)co - co->stack.lo),
                         !co->stack.ready);
    return co;
}

void
coro__stack_put(struct coro *co)
{
    if (pool_push(coro__thr(), co) == -1)
        coro__stack_release(co);
}

size_t
coro_stack_pool(size_t max)
{
    struct coro__pool *pool = &coro__thr()->pool;
    size_t old = pool->max;

    pool->max = max;
    pool_trim(pool, max);
    return old;
}
