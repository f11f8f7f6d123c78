/*
 * test-stack: coroutine stacks. Requested sizes (0, tiny, odd, big, too big),
 * how much of its stack a coroutine can really use, the guard page below it
 * (forked tests that expect SIGSEGV), ENOMEM when the memory cannot be had,
 * and thousands of coroutines alive at once.
 */
#include "testutil.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

static size_t
page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);

    return p > 0 ? (size_t)p : 4096;
}

/* The stack a coroutine made with size gets: 0 is the default, smaller
 * than the minimum is raised, and whole pages. */
static size_t
effective_size(size_t size)
{
    size_t page = page_size();

    if (size == 0)
        size = CORO_STACK_DEFAULT;
    if (size < CORO_STACK_MIN)
        size = CORO_STACK_MIN;
    return (size + page - 1) & ~(page - 1);
}

/* Sizes for the loop tests: default, tiny (raised to the minimum), around
 * the minimum, not a multiple of the page size, around the default, big. */
static const size_t sizes[] = {
    0,
    1,
    CORO_STACK_MIN - 1,
    CORO_STACK_MIN,
    CORO_STACK_MIN + 1,
    100000,
    CORO_STACK_DEFAULT + 1,
    1024 * 1024,
};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))

/* The permissions ("rw-p"...) of the mapping that contains addr, from
 * /proc/self/maps: 1 if there is one, 0 if addr is not mapped, -1 if the
 * file cannot be read. */
static int
mapping_perms(uintptr_t addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;

        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && addr >= lo && addr < hi) {
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* The process's virtual size in bytes (VmSize in /proc/self/status), or 0. */
static size_t
vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kb = 0;

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %lu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * KiB;
}

static void *
return_arg(void *arg)
{
    return arg;
}

/* ---------------------------------------------------------------------- */
/* Sizes                                                                  */

START_TEST(test_sizes_accepted)
{
    size_t size = sizes[_i];
    coro_t *co = coro_create(return_arg, IV(_i + 1), size);
    void *out = NULL;

    ck_assert_msg(co != NULL, "size %zu: %s", size, strerror(errno));
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(_i + 1));
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_sizes_too_big)
{
    int runs = 0;

    ASSERT_NULL_ERRNO(coro_create(return_arg, &runs, CORO_STACK_MAX + 1), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(return_arg, &runs, CORO_STACK_MAX + page_size()), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(return_arg, &runs, SIZE_MAX / 2), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(return_arg, &runs, SIZE_MAX - page_size() + 2), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(return_arg, &runs, SIZE_MAX), EINVAL);
    ck_assert_int_eq(runs, 0);
}
END_TEST

/* Big stacks are mapped for real: touch a byte every 1/16th of the way
 * down to 2 pages above the bottom (only those pages get memory). */
struct sparse {
    size_t eff;
    uintptr_t local, lowest;
    unsigned sum;
};

static void *
touch_sparse(void *arg)
{
    struct sparse *s = arg;
    volatile char anchor = 0;
    uintptr_t base = (uintptr_t)&anchor;
    size_t reach = s->eff - 2 * page_size(), step = s->eff / 16, off;
    unsigned sum = 0;

    s->local = base;
    for (off = step; off < reach; off += step)
        *(volatile char *)(base - off) = (char)(off >> 12);
    *(volatile char *)(base - reach) = 7;
    for (off = step; off < reach; off += step)
        sum += (unsigned char)*(volatile char *)(base - off);
    sum += (unsigned char)*(volatile char *)(base - reach);
    s->lowest = base - reach;
    s->sum = sum;
    return NULL;
}

static const size_t big_sizes[] = { 8 * MiB, 64 * MiB, CORO_STACK_MAX };

START_TEST(test_sizes_big)
{
    size_t size = big_sizes[_i], off, reach;
    struct sparse s = { 0, 0, 0, 0 };
    unsigned expect = 0;
    coro_t *co = coro_create(touch_sparse, &s, size);

    ck_assert_msg(co != NULL, "size %zu: %s", size, strerror(errno));
    s.eff = effective_size(size);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    reach = s.eff - 2 * page_size();
    for (off = s.eff / 16; off < reach; off += s.eff / 16)
        expect += (unsigned char)(char)(off >> 12);
    expect += 7;
    ck_assert_uint_eq(s.sum, expect);
    ck_assert_uint_eq(s.local - s.lowest, reach);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Using the stack                                                        */

struct use {
    size_t n;
    uintptr_t local, lowest;
    unsigned long sum;
};

/* A variable-length array of n bytes just below a local, written from the
 * top down and read back. */
static void *
use_vla(void *arg)
{
    struct use *u = arg;
    volatile char anchor = 0;
    size_t n = u->n, i;

    u->local = (uintptr_t)&anchor;
    {
        char vla[n];
        volatile char *buf = vla;
        unsigned long sum = 0;

        for (i = n; i-- > 0;)
            buf[i] = (char)(i * 7);
        for (i = 0; i < n; i++)
            sum += (unsigned char)buf[i];
        u->lowest = (uintptr_t)buf;
        u->sum = sum;
    }
    coro_yield(NULL); /* still fine on the way back up */
    return IV(1);
}

START_TEST(test_use_nearly_all_vla)
{
    size_t size = sizes[_i], eff = effective_size(size), i;
    struct use u = { 0, 0, 0, 0 };
    unsigned long expect = 0;
    coro_t *co = coro_create(use_vla, &u, size);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    u.n = eff - 2 * page_size();
    for (i = 0; i < u.n; i++)
        expect += (unsigned char)(char)(i * 7);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_uint_eq(u.sum, expect);
    ck_assert_uint_ge(u.local - u.lowest, u.n);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

struct rec {
    size_t reach;
    int depth;
    uintptr_t local, lowest;
};

/* Calls 256-byte frames deep until a frame lies below limit. */
__attribute__((noinline)) static int
recurse_below(uintptr_t limit, int depth, struct rec *r)
{
    volatile char frame[256];

    frame[0] = (char)depth;
    frame[255] = 1;
    if ((uintptr_t)&frame[0] <= limit) {
        r->depth = depth;
        r->lowest = (uintptr_t)&frame[0];
        return frame[0];
    }
    return recurse_below(limit, depth + 1, r) + frame[255];
}

static void *
use_recursion(void *arg)
{
    struct rec *r = arg;
    volatile char anchor = 0;

    r->local = (uintptr_t)&anchor;
    recurse_below(r->local - r->reach, 0, r);
    return IV(r->depth);
}

START_TEST(test_use_nearly_all_recursion)
{
    size_t size = sizes[_i], eff = effective_size(size);
    struct rec r = { 0, 0, 0, 0 };
    coro_t *co = coro_create(use_recursion, &r, size);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    r.reach = eff - 3 * page_size(); /* frames overshoot a little */
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_int_gt(r.depth, 0);
    ck_assert_int_eq(VI(out), r.depth);
    ck_assert_uint_ge(r.local - r.lowest, r.reach); /* that deep, for real */
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The guard page                                                         */

/*
 * Without a guard page, a walk off the bottom of a stack could still fault
 * on whatever lies below (nothing, or read-only memory), and the tests
 * would pass for the wrong reason. So the tests below use a stack that has
 * writable memory right under its guard page: already there, or a "landing
 * pad" mapped for the purpose. Then only the guard can stop the walk.
 */

/* Whether the stack whose top page holds local has writable memory right
 * below its guard page now (mapping a pad there if nothing is mapped).
 * The stack's top is the end of local's page: the coroutine object and the
 * first frames take well under a page. */
static int
writable_below_guard(uintptr_t local, size_t eff)
{
    size_t page = page_size(), len = 16 * page;
    uintptr_t top = (local | (page - 1)) + 1, guard_lo;
    char perms[5];
    void *want, *got;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;

    if (top < eff + page + len)
        return 0;
    guard_lo = top - eff - page;
    switch (mapping_perms(guard_lo - 1, perms)) {
    case 1:
        return perms[0] == 'r' && perms[1] == 'w';
    case 0:
        break;
    default:
        return 0;
    }
    want = (void *)(guard_lo - len);
#ifdef MAP_FIXED_NOREPLACE
    flags |= MAP_FIXED_NOREPLACE;
#endif
    got = mmap(want, len, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (got == MAP_FAILED)
        return 0;
    if (got != want) {
        munmap(got, len);
        return 0;
    }
    ((volatile char *)got)[len - 1] = 1;
    return 1;
}

#define ATTEMPTS 32

/* Create coroutines running fn(arg) with size, each resumed once to yield
 * the address of a local in its top frame, until one has writable memory
 * under its guard. The others stay alive, suspended, so that the next one
 * lands elsewhere. Returns the chosen one (never NULL). */
static coro_t *
create_over_pad(coro_fn *fn, void *arg, size_t size, coro_t *spares[ATTEMPTS])
{
    size_t eff = effective_size(size);
    int i;

    for (i = 0; i < ATTEMPTS; i++) {
        coro_t *co = coro_create(fn, arg, size);
        void *local = NULL;

        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_resume(co, NULL, &local), 0);
        if (writable_below_guard((uintptr_t)local, eff))
            return co;
        spares[i] = co;
    }
    ck_abort_msg("size %zu: found no stack with room for a landing pad", size);
    return NULL;
}

struct walk {
    size_t eff, step;
    size_t walked;
};

/* Write one byte every step bytes, from a page below a local down to eff +
 * 2 pages below it: past the bottom of the stack, so through the guard.
 * (Starting a page down keeps valgrind quiet: the bytes just under the
 * frame were used by coro_yield's calls and are "below the stack pointer"
 * now; nothing ran deeper than that.) */
static void *
walk_down(void *arg)
{
    struct walk *w = arg;
    volatile char anchor = 0;
    uintptr_t base = (uintptr_t)&anchor;
    size_t page = page_size(), len = w->eff + 2 * page, step = w->step, off;

    coro_yield((void *)base);
    for (off = page; off <= len; off += step) {
        *(volatile char *)(base - off) = 1;
        w->walked = off;
    }
    return NULL;
}

static void
walk_test(size_t size, size_t step)
{
    struct walk w = { effective_size(size), step, 0 };
    coro_t *spares[ATTEMPTS];
    coro_t *co = create_over_pad(walk_down, &w, size, spares);

    coro_resume(co, NULL, NULL); /* must not come back */
    ck_abort_msg("size %zu: wrote %zu bytes below a local without a fault", size, w.walked);
}

START_TEST(test_guard_page_walk)
{
    walk_test(sizes[_i], page_size());
}
END_TEST

START_TEST(test_guard_byte_walk)
{
    walk_test(sizes[_i], 1);
}
END_TEST

static volatile int never;

/* Recursion whose frames (the stack pointer itself) run into the guard.
 * The bound in struct rec is only a backstop: reaching it means there was
 * no fault. */
static void *
overflow_recursion(void *arg)
{
    struct rec *r = arg;
    volatile char anchor = 0;
    uintptr_t local = (uintptr_t)&anchor;

    coro_yield((void *)local);
    recurse_below(never ? 0 : local - r->reach, 0, r);
    return IV(r->depth);
}

START_TEST(test_guard_recursion)
{
    size_t size = sizes[_i];
    struct rec r = { effective_size(size) + 4 * page_size(), 0, 0, 0 };
    coro_t *spares[ATTEMPTS];
    coro_t *co = create_over_pad(overflow_recursion, &r, size, spares);

    coro_resume(co, NULL, NULL);
    ck_abort_msg("size %zu: recursed %d frames past the stack without a fault", size, r.depth);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Out of memory                                                          */

/* With the address space limited to what the process uses plus 64 MiB, a
 * 512 MiB stack cannot be mapped: NULL and ENOMEM, and nothing breaks. */
START_TEST(test_enomem_rlimit)
{
    size_t vm = vm_size();
    struct rlimit rl;
    coro_t *co;
    void *out = NULL;

    ck_assert_uint_gt(vm, 0);
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &rl), 0);
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)(vm + 64 * MiB))
        rl.rlim_max = (rlim_t)(vm + 64 * MiB); /* lowering is always allowed */
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    {
        /* Some environments (qemu-user) accept the limit and do not enforce it. */
        void *probe = mmap(NULL, 512 * MiB, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        if (probe != MAP_FAILED) {
            munmap(probe, 512 * MiB);
            fputs("test-stack: RLIMIT_AS is not enforced here: ENOMEM case skipped\n", stderr);
            return;
        }
    }

    ASSERT_NULL_ERRNO(coro_create(return_arg, NULL, 512 * MiB), ENOMEM);
    ASSERT_NULL_ERRNO(coro_create(return_arg, NULL, CORO_STACK_MAX), ENOMEM);

    /* A small one still fits, and works. */
    co = coro_create(return_arg, IV(3), CORO_STACK_MIN);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(3));
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Many coroutines                                                        */

#define MANY 2000

static long handlers_run;

static void
count_handler(void *arg)
{
    (void)arg;
    handlers_run++;
}

/* Yields its number, then returns number + what it was sent if the number
 * is even; odd ones wait for ever (and are destroyed while suspended). */
static void *
numbered(void *arg)
{
    intptr_t n = VI(arg);
    void *in;

    ck_assert_int_eq(coro_defer(count_handler, NULL), 0);
    in = coro_yield(IV(n));
    if (n % 2 == 0)
        return IV(n + VI(in));
    for (;;)
        coro_yield(IV(-n));
}

START_TEST(test_many_alive)
{
    static coro_t *co[MANY];
    intptr_t i;
    void *out = NULL;

    handlers_run = 0;
    for (i = 0; i < MANY; i++) {
        co[i] = coro_create(numbered, IV(i), 0);
        if (co[i] == NULL)
            ck_abort_msg("coro_create #%ld: %s", (long)i, strerror(errno));
    }
    for (i = 0; i < MANY; i++)
        if (coro_resume(co[i], NULL, &out) != 0 || VI(out) != i)
            ck_abort_msg("first resume of #%ld", (long)i);
    for (i = 0; i < MANY; i++)
        if (coro_status(co[i]) != CORO_SUSPENDED)
            ck_abort_msg("#%ld not suspended", (long)i);
    for (i = MANY - 1; i >= 0; i--) {
        int rc = coro_resume(co[i], IV(2 * i), &out);

        if (i % 2 == 0 ? rc != 1 || VI(out) != 3 * i : rc != 0 || VI(out) != -i)
            ck_abort_msg("second resume of #%ld: rc %d, out %ld", (long)i, rc, (long)VI(out));
    }
    ck_assert_int_eq(handlers_run, MANY / 2);
    for (i = 0; i < MANY; i++)
        ck_assert_int_eq(coro_status(co[i]), i % 2 == 0 ? CORO_DEAD : CORO_SUSPENDED);
    for (i = 0; i < MANY; i++)
        if (coro_destroy(co[i]) != 0)
            ck_abort_msg("destroy #%ld", (long)i);
    ck_assert_int_eq(handlers_run, MANY);
}
END_TEST

/* Creating and destroying many coroutines one after the other gives all the
 * memory back. */
START_TEST(test_churn_releases_memory)
{
    size_t before, after;
    int i;

    /* warm up whatever the first ones allocate once */
    for (i = 0; i < 10; i++) {
        coro_t *co = coro_create(numbered, IV(1), 0);

        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
        ck_assert_int_eq(coro_destroy(co), 0);
    }
    before = vm_size();
    ck_assert_uint_gt(before, 0);
    for (i = 0; i < 5000; i++) {
        coro_t *co = coro_create(numbered, IV(i), 0);

        if (co == NULL || coro_resume(co, NULL, NULL) != 0 || coro_destroy(co) != 0)
            ck_abort_msg("round %d failed", i);
    }
    after = vm_size();
    /* 5000 leaked stacks would be over 1 GiB; a sanitizer keeps some
     * bookkeeping of its own (TSan: a fiber per stack context). */
    ck_assert_uint_lt(after, before + (TEST_SANITIZED ? 256 : 16) * MiB);
}
END_TEST

static Suite *
stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc;

    tc = test_case("sizes");
    tcase_add_loop_test(tc, test_sizes_accepted, 0, NSIZES);
    tcase_add_test(tc, test_sizes_too_big);
    tcase_add_loop_test(tc, test_sizes_big, 0, (int)(sizeof big_sizes / sizeof big_sizes[0]));
    suite_add_tcase(s, tc);

    tc = test_case("usage");
    tcase_add_loop_test(tc, test_use_nearly_all_vla, 0, NSIZES);
    tcase_add_loop_test(tc, test_use_nearly_all_recursion, 0, NSIZES);
    suite_add_tcase(s, tc);

    /* These crash on purpose or change process limits: forked mode only. */
    if (test_forking()) {
        tc = test_case("guard");
        tcase_add_loop_test_raise_signal(tc, test_guard_page_walk, SIGSEGV, 0, NSIZES);
        tcase_add_loop_test_raise_signal(tc, test_guard_byte_walk, SIGSEGV, 1, 3);
        tcase_add_loop_test_raise_signal(tc, test_guard_recursion, SIGSEGV, 0, NSIZES);
        suite_add_tcase(s, tc);

        tc = test_case("enomem");
        tcase_add_test(tc, test_enomem_rlimit);
        suite_add_tcase(s, tc);
    } else {
        fputs("test-stack: CK_FORK=no: guard and enomem cases skipped\n", stderr);
    }

    tc = test_case("many");
    tcase_add_test(tc, test_many_alive);
    tcase_add_test(tc, test_churn_releases_memory);
    suite_add_tcase(s, tc);

    return s;
}

TEST_MAIN(stack_suite)
