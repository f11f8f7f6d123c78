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
 *
 * Each thread that gets stacks also gets, unless it has one, a signal stack
 * (sigaltstack), so that the overflow handler (overflow.c) can run on it
 * whenever coro_catch_overflow() is called; both are freed at thread exit.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "list.h"
#include "stack.h"

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
    SLAB_SLOTS = CORO__SLAB_SLOTS,
    SLAB_BYTES = 16 * 1024 * 1024,    /* a slab's size, roughly, for small stacks */
    ALTSTACK_SIZE = 64 * 1024         /* the signal stack: the overflow report runs on it */
};
_Static_assert(sizeof(struct coro__slab) <= 4096, "a slab's header must fit in its first page");

/* The calling thread's slabs, and what its exit must free. */
enum { EXIT_UNKNOWN, EXIT_NOTICED, EXIT_UNNOTICED };
static __thread struct {
    struct coro__link avail, all;
    int exit;                    /* EXIT_*: is the thread exit hook in place? */
    void *altstack;              /* ours, or NULL */
} thr;

enum { GUARD_UNKNOWN, GUARD_MADVISE, GUARD_MPROTECT };
static int guard_mode = GUARD_UNKNOWN;

static void (*exit_fn)(void);
static pthread_key_t exit_key;
static int exit_key_made;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

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

/* A pthread key destructor: what an exiting thread leaves behind. */
static void
thread_exit(void *unused)
{
    void (*fn)(void) = __atomic_load_n(&exit_fn, __ATOMIC_ACQUIRE);
    stack_t cur;

    (void)unused;
    if (fn)
        fn();
    if (thr.altstack) {
        if (sigaltstack(NULL, &cur) == 0 && cur.ss_sp == thr.altstack) {
            stack_t off = {.ss_flags = SS_DISABLE};

            sigaltstack(&off, NULL);
        }
        munmap(thr.altstack, ALTSTACK_SIZE);
        thr.altstack = NULL;
    }
}

static void
make_exit_key(void)
{
    exit_key_made = pthread_key_create(&exit_key, thread_exit) == 0;
}

void
coro__stack_on_thread_exit(void (*fn)(void))
{
    __atomic_store_n(&exit_fn, fn, __ATOMIC_RELEASE);
}

int
coro__stack_exit_noticed(void)
{
    return thr.exit == EXIT_NOTICED;
}

/* Give the thread a signal stack, unless it has one. Without it an
 * overflow still kills, only silently. */
static void
give_altstack(void)
{
    stack_t ss, old;

    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return;
    ss.ss_sp = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ss.ss_sp == MAP_FAILED)
        return;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) == -1) {
        munmap(ss.ss_sp, ALTSTACK_SIZE);
        return;
    }
    thr.altstack = ss.ss_sp;
}

/* The first time the thread needs a slab (and again until it works):
 * arrange to be called at its exit, then give it a signal stack. */
static void
thread_init(void)
{
    int err = errno;

    if (thr.all.next == NULL) {
        coro__list_init(&thr.avail);
        coro__list_init(&thr.all);
    }
    if (thr.exit != EXIT_NOTICED) {
        pthread_once(&exit_once, make_exit_key);
        thr.exit = exit_key_made && pthread_setspecific(exit_key, &thr) == 0 ? EXIT_NOTICED
                                                                               : EXIT_UNNOTICED;
        if (thr.exit == EXIT_NOTICED)
            give_altstack();
    }
    errno = err;
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

/* Slot i's stack, and its descriptor at its top. */
static char *
slot_lo(const struct coro__slab *slab, unsigned i)
{
    return slab->map + 2 * coro__page_size() + i * slab->slot;
}

/* Stacks are a whole number of pages apart, so the tops of all of them,
 * where their coroutines keep what every switch touches, would share a
 * few cache sets: with thousands of coroutines they would evict each
 * other. So each slot's descriptor sits a different number of cache lines
 * below its top (its "colour"), within the first page. */
enum { COLOURS = 16 };

static struct coro__stack *
slot_stack(const struct coro__slab *slab, unsigned i)
{
    uintptr_t top = (uintptr_t)slot_lo(slab, i) + slab->size - (i % COLOURS) * 64;

    return (struct coro__stack *)((top - sizeof(struct coro__stack)) & ~(uintptr_t)63);
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
    coro__list_push(&thr.avail, &slab->avail);
    coro__list_push(&thr.all, &slab->all);
    return slab;
}

static void
slab_unmap(struct coro__slab *slab)
{
    coro__list_unlink(&slab->avail);
    coro__list_unlink(&slab->all);
    munmap(slab->map, slab->map_size);
}

static int
slab_empty(const struct coro__slab *slab)
{
    return slab->free == all_slots(slab->nslots);
}

struct coro__stack *
coro__stack_new(size_t size)
{
    struct coro__slab *slab = NULL;
    struct coro__stack *st;
    struct coro__link *l;
    unsigned i;
    char *lo;

    if (thr.exit != EXIT_NOTICED)
        thread_init();
    for (l = thr.avail.next; l != &thr.avail; l = l->next) {
        struct coro__slab *s = coro__container_of(l, struct coro__slab, avail);

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
    lo = slot_lo(slab, i);
    if (!(slab->guarded >> i & 1)) {
        if (install_guard(lo - coro__page_size(), coro__page_size()) == -1) {
            /* Out of mappings: no stack without a guard. */
            if (slab_empty(slab))
                slab_unmap(slab);
            errno = ENOMEM;
            return NULL;
        }
        slab->guarded |= (uint64_t)1 << i;
    }
    slab->free &= ~((uint64_t)1 << i);
    if (slab->free == 0)
        coro__list_unlink(&slab->avail); /* full */

    st = slab->stacks[i] = slot_stack(slab, i);
    *st = (struct coro__stack){.lo = lo, .size = size, .slab = slab, .index = (unsigned char)i};
#ifdef HAVE_VALGRIND_VALGRIND_H
    st->vg_id = VALGRIND_STACK_REGISTER(lo, lo + size);
#endif
    return st;
}

void
coro__stack_release(struct coro__stack *st)
{
    struct coro__stack copy = *st; /* the descriptor is on the stack */
    struct coro__slab *slab = copy.slab;
    unsigned i = copy.index;

    coro__san_stack_fini(&copy.san, copy.lo, copy.size);
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_STACK_DEREGISTER(copy.vg_id);
#endif
    if (slab->free == 0)
        coro__list_push(&thr.avail, &slab->avail); /* no longer full */
    slab->free |= (uint64_t)1 << i;
    if (slab_empty(slab))
        slab_unmap(slab);
    else
        madvise(copy.lo, copy.size, MADV_DONTNEED); /* give its pages back */
}

struct coro__stack *
coro__stack_of_guard(const void *addr)
{
    const char *a = addr;
    size_t page = coro__page_size();
    struct coro__link *l;

    if (thr.all.next == NULL)
        return NULL; /* this thread has no stacks */
    for (l = thr.all.next; l != &thr.all; l = l->next) {
        const struct coro__slab *slab = coro__container_of(l, struct coro__slab, all);
        const char *first = slot_lo(slab, 0) - page; /* slot 0's guard */
        size_t off, i;

        if (a < first || a >= slab->map + slab->map_size)
            continue;
        off = (size_t)(a - first);
        i = off / slab->slot;
        if (off % slab->slot >= page || slab->free >> i & 1)
            return NULL; /* in a stack, or the guard of one not in use */
        return slot_stack(slab, (unsigned)i);
    }
    return NULL;
}
