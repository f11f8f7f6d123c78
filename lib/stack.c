/*
 * Coroutine stacks: anonymous mappings with a guard region below the usable
 * part, so that an overflow faults (SIGSEGV) instead of corrupting memory.
 * Untouched pages cost no memory (MAP_NORESERVE: nor commit charge).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "coro-int.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif
#ifndef MAP_STACK
#define MAP_STACK 0
#endif
/* Linux 6.13: guard pages inside a mapping, without splitting it in two. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT };
static int guard_mode = GUARD_UNKNOWN;

size_t
coro__page_size(void)
{
    static size_t page;
    size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

    if (p == 0) {
        long v = sysconf(_SC_PAGESIZE);
        p = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&page, p, __ATOMIC_RELAXED);
    }
    return p;
}

/* Does the page at addr fault? Asked once, after the first MADV_GUARD_INSTALL
 * succeeds: some environments (qemu-user) accept advice they do not know and
 * ignore it. The kernel's own copy from a guard page fails with EFAULT. */
static int
guard_faults(void *addr)
{
    int fd[2], faults;

    if (pipe(fd) == -1)
        return 0; /* cannot tell: use mprotect, which surely works */
    faults = write(fd[1], addr, 1) == -1 && errno == EFAULT;
    close(fd[0]);
    close(fd[1]);
    return faults;
}

/* Make [addr, addr + len) fault on any access. MADV_GUARD_INSTALL keeps the
 * stack a single mapping (vm.max_map_count allows ~65530 of them), and the
 * kernel merges neighbouring stacks; kernels before 6.13 answer EINVAL, and
 * then, as for locked mappings, mprotect() does it by splitting the mapping. */
static int
install_guard(void *addr, size_t len)
{
    int mode = __atomic_load_n(&guard_mode, __ATOMIC_RELAXED);

    if (mode != GUARD_MPROTECT && madvise(addr, len, MADV_GUARD_INSTALL) == 0) {
        if (mode == GUARD_MADVISE)
            return 0;
        if (guard_faults(addr)) {
            __atomic_store_n(&guard_mode, GUARD_MADVISE, __ATOMIC_RELAXED);
            return 0;
        }
        __atomic_store_n(&guard_mode, GUARD_MPROTECT, __ATOMIC_RELAXED); /* accepted, not done */
    } else if (mode == GUARD_UNKNOWN && errno == EINVAL) {
        __atomic_store_n(&guard_mode, GUARD_MPROTECT, __ATOMIC_RELAXED); /* before Linux 6.13 */
    }
    return mprotect(addr, len, PROT_NONE);
}

/* Map a new stack and place the coroutine object at its top. */
static struct coro *
map_stack(size_t size)
{
    size_t guard = coro__page_size();
    size_t len = guard + size;
    struct coro *co;
    char *map, *lo;

    map = mmap(NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM; /* also for EAGAIN: over the locked-memory limit */
        return NULL;
    }
    if (install_guard(map, guard) == -1) { /* ENOMEM: out of mappings */
        munmap(map, len);
        errno = ENOMEM;
        return NULL;
    }
    lo = map + guard;
    co = (struct coro *)(((uintptr_t)(lo + size) - sizeof *co) & ~(uintptr_t)63);
    co->stack = (struct coro__stack){
        .map = map,
        .map_size = len,
        .lo = lo,
        .size = size,
    };
#ifdef HAVE_VALGRIND_VALGRIND_H
    co->stack.vg_id = VALGRIND_STACK_REGISTER(lo, lo + size);
#endif
    return co;
}

static void
unmap_stack(struct coro *co)
{
    struct coro__stack st = co->stack; /* the object is inside the mapping */

    coro__san_stack_fini(&st.san, st.lo, st.size);
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(st.vg_id);
#endif
    munmap(st.map, st.map_size);
}

/*
 * The pool: stacks of ended coroutines, kept per thread for the next
 * coroutines of the same size, so that making one normally costs no system
 * call. A stack whose coroutine returned normally keeps a context parked at
 * the top of trampoline() (coro.c) and needs no makecontext() either. A few
 * lists, one per stack size in use; at most "max" stacks in all. Pooled
 * stacks keep the pages their coroutines touched.
 */
static pthread_key_t pool_key;
static int pool_key_made;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

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
            unmap_stack(co);
        }
    }
}

/* At thread exit (a pthread key destructor), release the thread's pool;
 * stacks freed later in the thread's exit are unmapped at once. */
static void
pool_release(void *pool)
{
    ((struct coro__pool *)pool)->max = 0;
    pool_trim(pool, 0);
}

static void
pool_make_key(void)
{
    pool_key_made = pthread_key_create(&pool_key, pool_release) == 0;
}

static int
pool_push(struct coro__pool *pool, struct coro *co)
{
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
    if (!pool->registered) {
        pthread_once(&pool_once, pool_make_key);
        if (!pool_key_made || pthread_setspecific(pool_key, pool) != 0)
            return -1; /* it could not be released at thread exit */
        pool->registered = 1;
    }
    co->stack.next = pool->list[i].head;
    pool->list[i].head = co;
    pool->n++;
    return 0;
}

struct coro *
coro__stack_get(size_t size)
{
    struct coro *co = pool_pop(&coro__thr()->pool, size);

    if (co == NULL && (co = map_stack(size)) == NULL)
        return NULL;
    coro__san_stack_init(&co->stack.san, co->stack.lo, (size_t)((char *)co - co->stack.lo),
                         !co->stack.ready);
    return co;
}

void
coro__stack_put(struct coro *co)
{
    if (pool_push(&coro__thr()->pool, co) == -1)
        unmap_stack(co);
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
