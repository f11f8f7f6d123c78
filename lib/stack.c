/*
 * Where coroutine stacks come from: slabs, anonymous mappings carved into
 * stacks of one size, each with a guard page below it, so that an overflow
 * faults (SIGSEGV) instead of corrupting memory. Untouched pages cost no
 * memory (and MAP_NORESERVE, no commit charge).
 *
 *     [slab header, one page][guard][stack 0][guard][stack 1]...[guard][stack n-1]
 *
 * A slab costs one mapping for up to 64 stacks, so that a million guarded
 * coroutines fit in the kernel's default mapping limit, whatever the order
 * in which they come and go. Slabs are per thread, like the coroutines on
 * them. A stack given back has its pages returned to the kernel; an empty
 * slab is unmapped. (pool.c keeps recently freed stacks in front of this.)
 */
#include "config.h"

#include <errno.h>
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
/* Linux 6.13: guard pages inside a mapping, without splitting it. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum {
    SLAB_SLOTS = 64,                  /* stacks per slab, at most (one uint64_t of bits) */
    SLAB_BYTES = 16 * 1024 * 1024     /* a slab's size, roughly, for small stacks */
};

/* The header, in the slab's first page. */
struct coro__slab {
    char *map;
    size_t map_size;
    size_t size;                 /* of each stack */
    size_t slot;                 /* a guard page and a stack */
    unsigned nslots;
    uint64_t free;               /* bit i: stack i is not in use */
    uint64_t guarded;            /* bit i: stack i's guard is installed */
    struct coro__link link;      /* in the thread's slabs with a free stack */
};

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

/* Make [addr, addr + len) fault on any access. MADV_GUARD_INSTALL keeps a
 * slab one mapping however many guards it holds (vm.max_map_count allows
 * ~65530 mappings); kernels before 6.13 answer EINVAL, and then, as for
 * locked mappings, mprotect() does it, at the cost of two mappings per
 * stack: it fails with ENOMEM near 32,700 stacks, and so does coro_create(). */
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

/* The bits of n slots (n <= 64). */
static uint64_t
all_slots(unsigned n)
{
    return n == SLAB_SLOTS ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

/* A new slab of stacks of size bytes, every stack free, no guard yet. */
static struct coro__slab *
slab_map(size_t size)
{
    size_t page = coro__page_size();
    size_t slot = page + size;
    size_t n = SLAB_BYTES / slot;
    struct coro__slab *slab;
    char *map;

    n = n < 1 ? 1 : n > SLAB_SLOTS ? SLAB_SLOTS : n;
    map = mmap(NULL, page + n * slot, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    slab = (struct coro__slab *)map;
    *slab = (struct coro__slab){
        .map = map,
        .map_size = page + n * slot,
        .size = size,
        .slot = slot,
        .nslots = (unsigned)n,
        .free = all_slots((unsigned)n),
    };
    coro__list_push(&coro__thr()->slabs, &slab->link);
    return slab;
}

static void
slab_unmap(struct coro__slab *slab)
{
    coro__list_unlink(&slab->link);
    munmap(slab->map, slab->map_size);
}

static int
slab_empty(const struct coro__slab *slab)
{
    return slab->free == all_slots(slab->nslots);
}

struct coro *
coro__stack_new(size_t size)
{
    struct coro__link *head = &coro__thr()->slabs, *l;
    struct coro__slab *slab = NULL;
    struct coro *co;
    size_t page = coro__page_size();
    unsigned i;
    char *guard, *lo;

    for (l = head->next; l != head; l = l->next) {
        struct coro__slab *s = coro__container_of(l, struct coro__slab, link);

        if (s->size == size) {
            slab = s;
            break;
        }
    }
    if (slab == NULL && (slab = slab_map(size)) == NULL) {
        errno = ENOMEM; /* also for EAGAIN: over the locked-memory limit */
        return NULL;
    }
    i = (unsigned)__builtin_ctzll(slab->free);
    guard = slab->map + page + i * slab->slot;
    if (!(slab->guarded >> i & 1)) {
        if (install_guard(guard, page) == -1) { /* out of mappings: no stack without a guard */
            if (slab_empty(slab))
                slab_unmap(slab);
            errno = ENOMEM;
            return NULL;
        }
        slab->guarded |= (uint64_t)1 << i;
    }
    slab->free &= ~((uint64_t)1 << i);
    if (slab->free == 0)
        coro__list_unlink(&slab->link); /* full */

    lo = guard + page;
    co = (struct coro *)(((uintptr_t)(lo + size) - sizeof *co) & ~(uintptr_t)63);
    co->stack = (struct coro__stack){
        .slab = slab,
        .lo = lo,
        .size = size,
    };
#ifdef HAVE_VALGRIND_VALGRIND_H
    co->stack.vg_id = VALGRIND_STACK_REGISTER(lo, lo + size);
#endif
    return co;
}

void
coro__stack_release(struct coro *co)
{
    struct coro__stack st = co->stack; /* the object is on the stack */
    struct coro__slab *slab = st.slab;
    unsigned i = (unsigned)((size_t)(st.lo - slab->map - 2 * coro__page_size()) / slab->slot);

    coro__san_stack_fini(&st.san, st.lo, st.size);
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(st.vg_id);
#endif
    if (slab->free == 0)
        coro__list_push(&coro__thr()->slabs, &slab->link); /* no longer full */
    slab->free |= (uint64_t)1 << i;
    if (slab_empty(slab))
        slab_unmap(slab);
    else
        madvise(st.lo, st.size, MADV_DONTNEED); /* give its pages back */
}
