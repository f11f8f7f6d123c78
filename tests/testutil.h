/*
 * Helpers shared by the Check suites: value/pointer conversions, errno
 * assertions, a TCase constructor that always sets a timeout, and main().
 */
#ifndef CORO_TESTUTIL_H
#define CORO_TESTUTIL_H

#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include <coro.h>

/* Integers travel through void * as intptr_t, as the man pages suggest. */
#define IV(n) ((void *)(intptr_t)(n))
#define VI(p) ((intptr_t)(p))

/* Seconds a test may take before Check kills it: a deadlock or a coroutine
 * that never comes back fails the test instead of hanging the run. */
#define TEST_TIMEOUT 10.0

/* call must return -1 and set errno to err. errno is cleared first so that a
 * stale value cannot pass, and saved before any ck_assert runs (Check's
 * bookkeeping between assertions may touch errno). */
#define ASSERT_FAILS(call, err)                                              \
    do {                                                                     \
        long rc_;                                                            \
        int errno_;                                                          \
        errno = 0;                                                           \
        rc_ = (long)(call);                                                  \
        errno_ = errno;                                                      \
        ck_assert_msg(rc_ == -1, "%s returned %ld, expected -1", #call, rc_); \
        ck_assert_msg(errno_ == (err), "%s: errno %d (%s), expected %d (%s)", \
                      #call, errno_, strerror(errno_), (int)(err),          \
                      strerror(err));                                        \
    } while (0)

/* The same for calls that return a pointer: NULL and errno err. */
#define ASSERT_NULL_ERRNO(call, err)                                         \
    do {                                                                     \
        const void *p_;                                                      \
        int errno_;                                                          \
        errno = 0;                                                           \
        p_ = (call);                                                         \
        errno_ = errno;                                                      \
        ck_assert_msg(p_ == NULL, "%s returned %p, expected NULL", #call, p_); \
        ck_assert_msg(errno_ == (err), "%s: errno %d (%s), expected %d (%s)", \
                      #call, errno_, strerror(errno_), (int)(err),          \
                      strerror(err));                                        \
    } while (0)

/* Built with AddressSanitizer or ThreadSanitizer: slower, with a malloc
 * of their own, and mappings of their own that can land where a test
 * expects a hole. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif
/* ThreadSanitizer in particular. */
#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif
#ifndef TEST_TSAN
#define TEST_TSAN 0
#endif

/* Run under an emulator such as qemu-user ('make check CORO_TEST_WRAPPER=',
 * which the suite's environment passes on), where every fork and system
 * call is slow. */
static inline int
test_emulated(void)
{
    const char *w = getenv("CORO_TEST_WRAPPER");

    return !RUNNING_ON_VALGRIND && w != NULL && strstr(w, "qemu") != NULL;
}

/* A test case with the suite's timeout (longer under valgrind, which runs
 * the code some 20-50 times slower, under a sanitizer and an emulator). */
static inline TCase *
test_case(const char *name)
{
    TCase *tc = tcase_create(name);
    double t = TEST_TIMEOUT;

    if (RUNNING_ON_VALGRIND || test_emulated())
        t *= 6;
    if (TEST_SANITIZED)
        t *= 6;
    tcase_set_timeout(tc, t);
    return tc;
}

/* True when Check runs each test in its own child (the default, CK_FORK
 * unset or not "no"). Tests that expect a signal or change process-wide
 * limits are only added then. */
static inline int
test_forking(void)
{
    const char *f = getenv("CK_FORK");

    return f == NULL || strcmp(f, "no") != 0;
}

/* main(): run the suite, verbose unless CK_VERBOSITY says otherwise; fail
 * the program when any test failed. */
#define TEST_MAIN(make_suite)                                               \
    int                                                                      \
    main(void)                                                               \
    {                                                                        \
        SRunner *sr = srunner_create(make_suite());                          \
        int failed;                                                          \
                                                                             \
        srunner_run_all(sr, getenv("CK_VERBOSITY") ? CK_ENV : CK_VERBOSE);   \
        failed = srunner_ntests_failed(sr);                                  \
        srunner_free(sr);                                                    \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                    \
    }

/* failmalloc.c (linked into test-close only): make the nth call to malloc()
 * from now on fail with ENOMEM, once (1 = the very next call); 0 disarms. */
void failmalloc_arm(long nth);
/* Whether failmalloc interposes malloc in this build (glibc, no sanitizer). */
int failmalloc_supported(void);
/* How many allocations failmalloc has failed so far. */
long failmalloc_failures(void);

#endif /* CORO_TESTUTIL_H */
