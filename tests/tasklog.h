/*
 * What tasks saw, for the scheduler and channel suites: an event log of
 * space-separated words, and the checks that failed inside tasks (a Check
 * assertion there would abandon the task's stack, so tasks record failures
 * and the test asserts ASSERT_TASKS_OK() once the run has returned).
 */
#ifndef CORO_TASKLOG_H
#define CORO_TASKLOG_H

#include <check.h>
#include <errno.h>
#include <string.h>

extern char evlog[8192];
extern int nbad;
extern char firstbad[512];

/* Append a word to evlog. */
void ev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Record a failed check (the first one's message is kept). */
void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Clear the log and the failures, before each test. */
void tasklog_reset(void);
/* A test case of suite s with the suite's timeout (test_case()) and setup
 * run before each of its tests (tasklog_reset, or a suite's own that calls
 * it). */
TCase *tasklog_tcase(Suite *s, const char *name, void (*setup)(void));

#define EXPECT(cond)                                                         \
    do {                                                                     \
        if (!(cond))                                                         \
            bad("line %d: %s", __LINE__, #cond);                             \
    } while (0)

/* Like ASSERT_FAILS, for use inside tasks. */
#define EXPECT_FAILS(call, err)                                              \
    do {                                                                     \
        long rc_;                                                            \
        int e_;                                                              \
        errno = 0;                                                           \
        rc_ = (long)(call);                                                  \
        e_ = errno;                                                          \
        if (rc_ != -1 || e_ != (err))                                        \
            bad("line %d: %s returned %ld, errno %d (%s); expected -1, %s",  \
                __LINE__, #call, rc_, e_, strerror(e_), strerror(err));      \
    } while (0)

#define ASSERT_TASKS_OK()                                                    \
    ck_assert_msg(nbad == 0, "%d failed checks in tasks, first: %s", nbad, firstbad)

#endif /* CORO_TASKLOG_H */
