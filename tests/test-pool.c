/*
 * The stack pool and the switch backend: destroyed coroutines' stacks are
 * reused by the next coroutines of the same size on the same thread, a
 * stack whose coroutine returned is reused without makecontext(), one whose
 * coroutine ended deep (closed, coro_exit) is made anew, and every reused
 * stack starts a clean coroutine. coro_stack_pool() bounds the pool.
 */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define CORO_TEST_ARCH "x86_64"
#elif defined(__aarch64__)
#define CORO_TEST_ARCH "aarch64"
#endif

static uintptr_t
page_of(const volatile void *p)
{
    return (uintptr_t)p & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
}

/* Whether the page holds memory: a stack given back to its slab has its
 * pages returned (not resident), or its whole slab unmapped (ENOMEM). */
static int
resident(uintptr_t page)
{
    unsigned char vec = 0;

    return mincore((void *)page, 1, &vec) == 0 && (vec & 1);
}

/* Yields the page of a local, then returns arg. */
static void *
where(void *arg)
{
    volatile char local = 0;

    coro_yield(IV(page_of(&local)));
    return arg;
}

/* Runs a coroutine of where() to its end; returns its stack page. */
static uintptr_t
run_where(size_t size)
{
    coro_t *co = coro_create(where, IV(7), size);
    void *out;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(coro_destroy(co), 0);
    return (uintptr_t)out;
}

static size_t saved_pool;

static void
setup(void)
{
    saved_pool = coro_stack_pool(CORO_POOL_DEFAULT);
}

static void
teardown(void)
{
    coro_stack_pool(saved_pool);
}

START_TEST(test_pool_default_limit)
{
    ck_assert_uint_eq(coro_stack_pool(5), CORO_POOL_DEFAULT);
    ck_assert_uint_eq(coro_stack_pool(0), 5);
    ck_assert_uint_eq(coro_stack_pool(CORO_POOL_DEFAULT), 0);
}
END_TEST

/* A destroyed coroutine's stack serves the next coroutine of that size. */
START_TEST(test_reuse_after_return)
{
    uintptr_t first = run_where(0);

    ck_assert(resident(first));
    for (int i = 0; i < 100; i++)
        ck_assert_uint_eq(run_where(0), first);
}
END_TEST

/* Stacks of other sizes are not used for it; sizes are rounded to pages. */
START_TEST(test_reuse_by_size)
{
    uintptr_t big = run_where(1024 * 1024);
    uintptr_t small = run_where(CORO_STACK_MIN);

    ck_assert_uint_ne(big, small);
    ck_assert_uint_eq(run_where(1024 * 1024), big);
    ck_assert_uint_eq(run_where(1), small); /* raised to CORO_STACK_MIN */
}
END_TEST

/* With the pool off, a destroyed coroutine's stack is released at once. */
START_TEST(test_pool_off_unmaps)
{
    uintptr_t page;

    coro_stack_pool(0);
    page = run_where(0);
    ck_assert(!resident(page));
}
END_TEST

/* Lowering the limit frees pooled stacks now. */
START_TEST(test_pool_trim)
{
    coro_t *co[3];
    void *page[3];

    for (int i = 0; i < 3; i++) {
        co[i] = coro_create(where, NULL, 0);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(coro_resume(co[i], NULL, &page[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(coro_resume(co[i], NULL, NULL), 1);
        ck_assert_int_eq(coro_destroy(co[i]), 0);
        ck_assert(resident((uintptr_t)page[i]));
    }
    ck_assert_uint_eq(coro_stack_pool(0), CORO_POOL_DEFAULT);
    for (int i = 0; i < 3; i++)
        ck_assert(!resident((uintptr_t)page[i]));
}
END_TEST

/* No more than the limit is kept. */
START_TEST(test_pool_bounded)
{
    enum { N = 5 };
    coro_t *co[N];
    void *page[N];
    int kept = 0;

    coro_stack_pool(2);
    for (int i = 0; i < N; i++) {
        co[i] = coro_create(where, NULL, 0);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(coro_resume(co[i], NULL, &page[i]), 0);
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(coro_destroy(co[i]), 0);
    for (int i = 0; i < N; i++)
        kept += resident((uintptr_t)page[i]);
    ck_assert_int_eq(kept, 2);
}
END_TEST

/* Ended deep: closed in coro_yield, or coro_exit from a nested call. */
static void *
exit_deep(void *arg)
{
    volatile char local = 0;

    coro_yield(IV(page_of(&local)));
    coro_exit(arg);
    return NULL;
}

static void
note(void *arg)
{
    (*(int *)arg)++;
}

/* A clean coroutine on each reused stack: no handlers, values, status or
 * flags left over from the one before, whichever way that one ended. */
static void *
fresh(void *arg)
{
    int *count = arg;

    if (coro_defer(note, count) != 0)
        return NULL;
    return IV(*count + 100);
}

/* The pool gives its stacks back lowest address first, whatever the order
 * they came back in: coroutines made together get neighbouring stacks, as
 * from a fresh slab. */
START_TEST(test_reuse_in_address_order)
{
    enum { N = 16 };
    static const int order[N] = {5, 12, 0, 9, 15, 3, 7, 1, 14, 10, 2, 8, 13, 6, 11, 4};
    const size_t size = 96 * 1024; /* no other test's: a slab of its own */
    uintptr_t first[N];
    coro_t *co[N];
    void *out;

    coro_stack_pool(0); /* empty, in case a test before left stacks */
    coro_stack_pool(N);
    for (int i = 0; i < N; i++) {
        co[i] = coro_create(where, NULL, size);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(coro_resume(co[i], NULL, &out), 0);
        first[i] = (uintptr_t)out;
        if (i > 0)
            ck_assert_uint_gt(first[i], first[i - 1]); /* a fresh slab, carved upwards */
    }
    for (int i = 0; i < N; i++) /* half of them ended, half closed */
        ck_assert_int_eq(order[i] % 2 ? coro_resume(co[order[i]], NULL, NULL) - 1 + coro_destroy(co[order[i]])
                                      : coro_destroy(co[order[i]]),
                         0);
    for (int i = 0; i < N; i++) {
        co[i] = coro_create(where, NULL, size);
        ck_assert_ptr_nonnull(co[i]);
        ck_assert_int_eq(coro_resume(co[i], NULL, &out), 0);
        ck_assert_uint_eq((uintptr_t)out, first[i]);
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(coro_destroy(co[i]), 0);
}
END_TEST
START_TEST(test_reuse_after_deep_end)
{
    int count = 0;

    for (int way = 0; way < 3; way++) {
        coro_t *co = coro_create(exit_deep, IV(5), 0);
        void *page, *out;

        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_resume(co, NULL, &page), 0);
        if (way == 0) {
            ck_assert_int_eq(coro_close(co), 0);           /* ends inside coro_yield */
        } else if (way == 1) {
            ck_assert_int_eq(coro_resume(co, NULL, &out), 1); /* coro_exit */
            ck_assert_ptr_eq(out, IV(5));
        }                                                   /* way 2: destroy closes it */
        ck_assert_int_eq(coro_destroy(co), 0);

        /* The next coroutine gets that stack, made anew, and runs cleanly. */
        co = coro_create(fresh, &count, 0);
        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_status(co), CORO_CREATED);
        ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
        ck_assert_ptr_eq(out, IV(100 + way));
        ck_assert_int_eq(count, way + 1); /* its one handler, nothing older */
        ck_assert_int_eq(coro_destroy(co), 0);
        ck_assert_uint_eq(run_where(0), (uintptr_t)page);
    }
}
END_TEST

/* A coroutine destroyed before it ran leaves a stack that is still ready. */
START_TEST(test_reuse_never_run)
{
    uintptr_t page = run_where(0);

    for (int i = 0; i < 10; i++) {
        coro_t *co = coro_create(where, NULL, 0);

        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_destroy(co), 0);
    }
    ck_assert_uint_eq(run_where(0), page);
}
END_TEST

/* Many coroutines alive at once, in rounds: values stay right whether the
 * stacks come from the pool or not, with nested resumes in between. */
static void *
summer(void *arg)
{
    intptr_t sum = VI(arg), n;

    while ((n = VI(coro_yield(IV(sum)))) != 0)
        sum += n;
    return IV(sum);
}

START_TEST(test_rounds)
{
    enum { N = 300, ROUNDS = 5 };
    coro_t *co[N];

    for (int r = 0; r < ROUNDS; r++) {
        void *out;

        for (int i = 0; i < N; i++) {
            co[i] = coro_create(summer, IV(i), i % 2 ? CORO_STACK_MIN : 0);
            ck_assert_ptr_nonnull(co[i]);
            ck_assert_int_eq(coro_resume(co[i], NULL, &out), 0);
            ck_assert_int_eq(VI(out), i);
        }
        for (int k = 1; k <= 3; k++)
            for (int i = 0; i < N; i++)
                ck_assert_int_eq(coro_resume(co[i], IV(k), NULL), 0);
        for (int i = 0; i < N; i++) {
            if (i % 3 == 0) {
                ck_assert_int_eq(coro_resume(co[i], NULL, &out), 1);
                ck_assert_int_eq(VI(out), i + 6);
            }
            ck_assert_int_eq(coro_destroy(co[i]), 0); /* the rest: closed */
        }
    }
}
END_TEST

/* A thread's pooled stacks are released when it exits. */
static void *
pool_thread(void *arg)
{
    *(uintptr_t *)arg = run_where(0);
    return NULL;
}

START_TEST(test_released_at_thread_exit)
{
    pthread_t th;
    uintptr_t page = 0;

    ck_assert_int_eq(pthread_create(&th, NULL, pool_thread, &page), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_uint_ne(page, 0);
    ck_assert(!resident(page));
}
END_TEST

/* Pools are per thread: another thread's pooled stack is not handed out here. */
START_TEST(test_pool_per_thread)
{
    uintptr_t here = run_where(0), there = 0;
    pthread_t th;

    ck_assert_int_eq(pthread_create(&th, NULL, pool_thread, &there), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_uint_ne(here, there);
    ck_assert_uint_eq(run_where(0), here);
}
END_TEST

START_TEST(test_switch_name)
{
    const char *name = coro_switch_name();

    ck_assert_ptr_nonnull(name);
    ck_assert_msg(strcmp(name, "ucontext") == 0 || strncmp(name, "fast (", 6) == 0,
                  "unexpected switch name '%s'", name);
#if CORO_SWITCH_FAST
    ck_assert_str_eq(name, "fast (" CORO_TEST_ARCH ")");
#else
    ck_assert_str_eq(name, "ucontext");
#endif
}
END_TEST

/* The signal mask belongs to the thread: a coroutine's first resume does
 * not bring back the mask its thread had at coro_create() time. */
static void *
mask_probe(void *arg)
{
    sigset_t now;

    pthread_sigmask(SIG_BLOCK, NULL, &now);
    return IV(sigismember(&now, SIGUSR1));
}

START_TEST(test_first_resume_keeps_mask)
{
    sigset_t usr1, before, after;
    coro_t *co = coro_create(mask_probe, NULL, 0);
    void *inside;

    ck_assert_ptr_nonnull(co);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr1, &before), 0);
    ck_assert_int_eq(coro_resume(co, NULL, &inside), 1);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &before, &after), 0);
    ck_assert_int_eq(sigismember(&after, SIGUSR1), 1); /* still blocked after */
#if CORO_SWITCH_FAST
    ck_assert_int_eq(VI(inside), 1); /* and inside: the mask is never switched */
#endif
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static Suite *
pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = test_case("pool");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pool_default_limit);
    tcase_add_test(tc, test_reuse_after_return);
    tcase_add_test(tc, test_reuse_by_size);
    tcase_add_test(tc, test_pool_off_unmaps);
    tcase_add_test(tc, test_pool_trim);
    tcase_add_test(tc, test_pool_bounded);
    tcase_add_test(tc, test_reuse_in_address_order);
    tcase_add_test(tc, test_reuse_after_deep_end);
    tcase_add_test(tc, test_reuse_never_run);
    tcase_add_test(tc, test_rounds);
    tcase_add_test(tc, test_released_at_thread_exit);
    tcase_add_test(tc, test_pool_per_thread);
    suite_add_tcase(s, tc);

    tc = test_case("switch");
    tcase_add_test(tc, test_switch_name);
    tcase_add_test(tc, test_first_resume_keeps_mask);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(pool_suite)
