/*
 * Coroutine stacks: anonymous mappings with a guard region below the usable
 * part, so that an overflow faults (SIGSEGV) instead of corrupting memory.
 * Untouched pages cost no memory (MAP_NORESERVE: nor commit charge).
 */
#include "config.h"

#include <errno.h>
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

/* Make [addr, addr + len) fault on any access. MADV_GUARD_INSTALL keeps the
 * stack a single mapping (vm.max_map_count allows ~65530 of them), and the
 * kernel merges neighbouring stacks; kernels before 6.13 answer EINVAL, and
 * then, as for locked mappings, mprotect() does it by splitting the mapping. */
static int
install_guard(void *addr, size_t len)
{
    int mode = __atomic_load_n(&guard_mode, __ATOMIC_RELAXED);

    if (mode != GUARD_MPROTECT) {
        if (madvise(addr, len, MADV_GUARD_INSTALL) == 0) {
            if (mode == GUARD_UNKNOWN)
                __atomic_store_n(&guard_mode, GUARD_MADVISE, __ATOMIC_RELAXED);
            return 0;
        }
        if (mode == GUARD_UNKNOWN && errno == EINVAL)
            __atomic_store_n(&guard_mode, GUARD_MPROTECT, __ATOMIC_RELAXED);
    }
    return mprotect(addr, len, PROT_NONE);
}

int
coro__stack_alloc(struct coro__stack *st, size_t size)
{
    size_t guard = coro__page_size();
    size_t len = guard + size;
    void *map;

    map = mmap(NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        errno = ENOMEM; /* also for EAGAIN: over the locked-memory limit */
        return -1;
    }
    if (install_guard(map, guard) == -1) { /* ENOMEM: out of mappings */
        munmap(map, len);
        errno = ENOMEM;
        return -1;
    }
    st->map = map;
    st->map_size = len;
    st->lo = (char *)map + guard;
    st->size = size;
#ifdef HAVE_VALGRIND_VALGRIND_H
    st->vg_id = VALGRIND_STACK_REGISTER(st->lo, st->lo + size);
#else
    st->vg_id = 0;
#endif
    return 0;
}

void
coro__stack_free(struct coro__stack *st)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(st->vg_id);
#endif
    munmap(st->map, st->map_size);
}
