/*
 * coro_catch_overflow(): an overflow into a coroutine's guard page is
 * reported (which coroutine, its stack size) and the process still dies of
 * SIGSEGV; other faults are not reported as overflows and kill as before.
 * Each case runs in a child whose standard error the test reads.
 *
 * An overflow is reported wherever it happens, also inside a switch, and on
 * every thread, also one that used libcoro before coro_catch_overflow().
 *
 * And errno per coroutine: every switch keeps errno with its context, and
 * so the floating-point control modes; a new coroutine starts with its
 * first resumer's, on a fresh stack as on a pooled one.
 */
#include "testutil.h"

#include <fcntl.h>
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* configure defines it (to 1) for the fast switch only. */
#ifndef CORO_SWITCH_FAST
#define CORO_SWITCH_FAST 0
#endif

/* Deep enough to overflow any stack it is given (the limit is never met). */
__attribute__((noinline)) static int
recurse(int n)
{
    volatile char frame[256];

    frame[0] = (char)n;
    if (n == 1 << 30)
        return 0;
    return recurse(n + 1) + frame[0];
}

static void *
overflow(void *arg)
{
    (void)arg;
    return IV(recurse(0));
}

/* A fault that is no overflow: a write to an inaccessible page (not NULL,
 * which UBSan would report before the fault). */
static void *
bad_write(void *arg)
{
    *(volatile int *)arg = 1;
    return NULL;
}

/* Run body() in a child with stderr into a buffer; return its wait status. */
static int
in_child(void (*body)(void), char *err, size_t size)
{
    int fd[2], status;
    ssize_t n, len = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        close(fd[0]);
        body();
        _exit(0);
    }
    close(fd[1]);
    while ((n = read(fd[0], err + len, size - 1 - (size_t)len)) > 0)
        len += n;
    err[len] = '\0';
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

static void
overflow_with_handler(void)
{
    coro_t *co;

    if (coro_catch_overflow() != 0)
        _exit(3);
    co = coro_create(overflow, NULL, 64 * 1024);
    if (co == NULL)
        _exit(4);
    coro_resume(co, NULL, NULL);
    _exit(5); /* not reached */
}

static void
overflow_in_task(void)
{
    coro_sched_t *s = coro_sched_create();

    if (s == NULL || coro_catch_overflow() != 0 || coro_spawn(s, overflow, NULL, 32 * 1024) != 0)
        _exit(3);
    coro_sched_run(s);
    _exit(5);
}

static void
overflow_without_handler(void)
{
    coro_t *co = coro_create(overflow, NULL, 64 * 1024);

    if (co == NULL)
        _exit(4);
    coro_resume(co, NULL, NULL);
    _exit(5);
}

static void
other_fault_with_handler(void)
{
    void *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    coro_t *co;

    if (page == MAP_FAILED || coro_catch_overflow() != 0)
        _exit(3);
    co = coro_create(bad_write, page, 0);
    if (co == NULL)
        _exit(4);
    coro_resume(co, NULL, NULL);
    _exit(5);
}

/* Another thread that uses libcoro after the call gets a signal stack too. */
static void *
thread_overflow(void *arg)
{
    coro_t *co = coro_create(overflow, NULL, 64 * 1024);

    (void)arg;
    if (co != NULL)
        coro_resume(co, NULL, NULL);
    return NULL;
}

static void
overflow_in_new_thread(void)
{
    pthread_t th;

    if (coro_catch_overflow() != 0 || pthread_create(&th, NULL, thread_overflow, NULL) != 0)
        _exit(3);
    pthread_join(th, NULL);
    _exit(5);
}

/* The report must name the coroutine and its stack size. */
static void
assert_reported(const char *err, const char *kind, size_t size)
{
    char want[64];

    ck_assert_msg(strstr(err, "libcoro: stack overflow in coroutine 0x") != NULL,
                  "no overflow report in: %s", err);
    ck_assert_msg(strstr(err, kind) != NULL, "'%s' not in: %s", kind, err);
    snprintf(want, sizeof want, "all of its %zu-byte stack", size);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' not in: %s", want, err);
}

START_TEST(test_overflow_reported)
{
    char err[1024];
    int status = in_child(overflow_with_handler, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    assert_reported(err, "(a coroutine running function 0x", 64 * 1024);
}
END_TEST

START_TEST(test_overflow_in_task_reported)
{
    char err[1024];
    int status = in_child(overflow_in_task, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    assert_reported(err, "(a task running function 0x", 32 * 1024);
}
END_TEST

START_TEST(test_overflow_in_new_thread_reported)
{
    char err[1024];
    int status = in_child(overflow_in_new_thread, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    assert_reported(err, "(a coroutine", 64 * 1024);
}
END_TEST

/*
 * Overflows at every depth around a switch. A coroutine with a small stack
 * takes all of it but "room" bytes with a variable-length array, then
 * switches: it yields (its pushes of the switch land on its own stack while
 * the library already calls its resumer the running one), or resumes
 * another coroutine (the same, on the resumer's side), or it just calls a
 * function. Over a range of rooms, some children overflow in the call,
 * some inside the switch, some not at all: every one that dies of SIGSEGV
 * must have said so.
 */
enum { SWEEP_STACK = 16 * 1024 };
static size_t sweep_room;
static int sweep_how; /* 0: coro_yield, 1: coro_resume of another, 2: a plain call */
static coro_t *sweep_other, *sweep_self;

static void *
sweep_other_fn(void *arg)
{
    (void)arg;
    return NULL;
}

/* A call that takes stack on every target (on aarch64 a leaf call would
 * take none: bl pushes nothing). */
__attribute__((noinline)) static void
sweep_call(char *p)
{
    volatile char frame[256];

    frame[0] = *p;
    frame[sizeof frame - 1] = *p;
    __asm__ volatile("" : : "r"(frame) : "memory");
}

static void *
sweep_fn(void *arg)
{
    char here;
    /* The stack's lowest byte, give or take a few hundred: the handle is
     * the object at the top of the stack (an implementation detail, which
     * the sweep does not depend on being exact). */
    char *lo = (char *)sweep_self - SWEEP_STACK;
    size_t n = (size_t)(&here - lo) - sweep_room;
    char pad[n];

    __asm__ volatile("" : : "r"(pad) : "memory");
    if (sweep_how == 0)
        coro_yield(pad);
    else if (sweep_how == 1)
        coro_resume(sweep_other, NULL, NULL);
    else
        sweep_call(pad);
    return NULL;
}

static void
sweep_child(void)
{
    coro_t *co;

    if (coro_catch_overflow() != 0)
        _exit(3);
    /* Bind coro_yield() now (it fails here with EPERM): the dynamic
     * linker's lazy binding would take a few KiB of the small stack. */
    (void)coro_yield(NULL);
    sweep_other = coro_create(sweep_other_fn, NULL, 0);
    co = sweep_self = coro_create(sweep_fn, NULL, SWEEP_STACK);
    if (co == NULL || sweep_other == NULL)
        _exit(4);
    coro_resume(co, NULL, NULL);
    _exit(0);
}

START_TEST(test_overflow_around_switch_reported)
{
    static const char *const how[] = {"coro_yield", "coro_resume", "a call"};
    /* Under a sanitizer a switch calls into its runtime, and the ucontext
     * switch into swapcontext(), which take kilobytes of stack: the
     * boundary is further up. */
    size_t span = TEST_SANITIZED || !CORO_SWITCH_FAST ? 12 * 1024 : 1536;
    /* Every 16 bytes natively (64 with the wider span); 24 rooms each
     * under valgrind, a sanitizer or an emulator, where every child is slow. */
    int slow = RUNNING_ON_VALGRIND || TEST_SANITIZED || test_emulated();
    size_t step = slow ? span / 24 : !CORO_SWITCH_FAST ? 64 : 16;

    for (sweep_how = 0; sweep_how < 3; sweep_how++) {
        int died = 0, survived = 0;

        for (sweep_room = 0; sweep_room < span; sweep_room += step) {
            char err[1024];
            int status = in_child(sweep_child, err, sizeof err);

            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                survived++;
                continue;
            }
            ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                          "%s, room %zu: child status %#x, stderr: %s", how[sweep_how], sweep_room,
                          status, err);
            ck_assert_msg(strstr(err, "libcoro: stack overflow in coroutine 0x") != NULL,
                          "%s, room %zu: an overflow not reported; stderr: %s", how[sweep_how],
                          sweep_room, err);
            died++;
        }
        /* The sweep spans the boundary: both outcomes happened. */
        ck_assert_msg(died > 0 && survived > 0, "%s: %d overflowed, %d did not", how[sweep_how],
                      died, survived);
    }
}
END_TEST

/* A thread that used libcoro before coro_catch_overflow() was called is
 * covered too. */
static coro_t *early_co;
static pthread_mutex_t early_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t early_cond = PTHREAD_COND_INITIALIZER;
static int early_stage;

static void *
early_fn(void *arg)
{
    coro_yield(NULL);
    return overflow(arg);
}

static void
early_wait(int stage)
{
    pthread_mutex_lock(&early_lock);
    while (early_stage < stage)
        pthread_cond_wait(&early_cond, &early_lock);
    pthread_mutex_unlock(&early_lock);
}

static void
early_set(int stage)
{
    pthread_mutex_lock(&early_lock);
    early_stage = stage;
    pthread_cond_broadcast(&early_cond);
    pthread_mutex_unlock(&early_lock);
}

static void *
early_thread(void *arg)
{
    (void)arg;
    early_co = coro_create(early_fn, NULL, 64 * 1024);
    if (early_co == NULL || coro_resume(early_co, NULL, NULL) != 0)
        _exit(4);
    early_set(1);
    early_wait(2);
    coro_resume(early_co, NULL, NULL); /* overflows */
    return NULL;
}

static void
overflow_after_late_catch(void)
{
    pthread_t th;

    if (pthread_create(&th, NULL, early_thread, NULL) != 0)
        _exit(3);
    early_wait(1);
    if (coro_catch_overflow() != 0)
        _exit(3);
    early_set(2);
    pthread_join(th, NULL);
    _exit(5);
}

START_TEST(test_overflow_in_thread_before_catch_reported)
{
    char err[1024];
    int status = in_child(overflow_after_late_catch, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    assert_reported(err, "(a coroutine", 64 * 1024);
}
END_TEST

/* Off by default: the guard still stops the process, silently. */
START_TEST(test_off_by_default)
{
    char err[1024];
    int status = in_child(overflow_without_handler, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    ck_assert_msg(strstr(err, "stack overflow") == NULL, "unexpected report: %s", err);
}
END_TEST

/* A fault that is not an overflow is not reported as one, and still kills. */
START_TEST(test_other_fault_passed_on)
{
    char err[1024];
    int status = in_child(other_fault_with_handler, err, sizeof err);

    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                  "child status %#x, stderr: %s", status, err);
    ck_assert_msg(strstr(err, "stack overflow") == NULL, "unexpected report: %s", err);
}
END_TEST

/* A handler that was there before gets the faults that are not overflows. */
static void
previous_handler(int sig)
{
    static const char msg[] = "previous handler ran\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
        _exit(43);
    _exit(42);
}

static void
chained(void)
{
    struct sigaction sa = {.sa_handler = previous_handler};

    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0)
        _exit(3);
    other_fault_with_handler();
}

START_TEST(test_previous_handler_chained)
{
    char err[1024];
    int status = in_child(chained, err, sizeof err);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    /* Valgrind reports the bad write, and exits with its own status. */
    ck_assert_msg(strstr(err, "previous handler ran") && (code == 42 || (RUNNING_ON_VALGRIND && code > 0)),
                  "child status %#x, stderr: %s", status, err);
}
END_TEST

START_TEST(test_catch_twice)
{
    ck_assert_int_eq(coro_catch_overflow(), 0);
    ck_assert_int_eq(coro_catch_overflow(), 0);
}
END_TEST

/* errno per coroutine: a coroutine that yields between a failing call and
 * reading errno still reads its own value, whatever ran meanwhile. */
static void *
failing_call(void *arg)
{
    int fd = open("/nonexistent/libcoro", O_RDONLY); /* ENOENT */

    (void)arg;
    coro_yield(IV(fd));
    return IV(errno);
}

static void *
other_errno(void *arg)
{
    errno = (int)VI(arg);
    coro_yield(NULL);
    return IV(errno);
}

START_TEST(test_errno_per_coroutine)
{
    coro_t *a = coro_create(failing_call, NULL, 0);
    coro_t *b = coro_create(other_errno, IV(EBADF), 0);
    void *out;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    errno = 0;
    ck_assert_int_eq(coro_resume(a, NULL, &out), 0);
    ck_assert_int_eq(VI(out), -1);
    ck_assert_int_eq(errno, 0); /* the resumer's errno is its own too */
    ck_assert_int_eq(coro_resume(b, NULL, NULL), 0);
    errno = EINTR;
    ck_assert_int_eq(coro_resume(a, NULL, &out), 1);
    ck_assert_int_eq(VI(out), ENOENT);
    ck_assert_int_eq(errno, EINTR);
    ck_assert_int_eq(coro_resume(b, NULL, &out), 1);
    ck_assert_int_eq(VI(out), EBADF);
    ck_assert_int_eq(coro_destroy(a), 0);
    ck_assert_int_eq(coro_destroy(b), 0);
}
END_TEST

/* The same for tasks, which switch among themselves. */
static int task_errno[2];

static void *
task_keeps_errno(void *arg)
{
    int i = (int)VI(arg);

    errno = i == 0 ? EACCES : ENOSPC;
    for (int k = 0; k < 5; k++)
        coro_sched_yield();
    task_errno[i] = errno;
    return NULL;
}

START_TEST(test_errno_per_task)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, task_keeps_errno, IV(0), 0), 0);
    ck_assert_int_eq(coro_spawn(s, task_keeps_errno, IV(1), 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(task_errno[0], EACCES);
    ck_assert_int_eq(task_errno[1], ENOSPC);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/*
 * A new coroutine starts with its first resumer's errno and floating-point
 * rounding mode, whether its stack is fresh or was left, in the pool, by a
 * coroutine that ended with others.
 */
static int seen_errno, seen_round;

static void *
leaves_state(void *arg)
{
    (void)arg;
    errno = 1234;
    fesetround(FE_DOWNWARD);
    return NULL;
}

static void *
records_state(void *arg)
{
    (void)arg;
    seen_errno = errno;
    seen_round = fegetround();
    return NULL;
}

static void
check_start_state(int pooled)
{
    coro_t *co;
    size_t old = coro_stack_pool(pooled ? CORO_POOL_DEFAULT : 0);

    co = coro_create(leaves_state, NULL, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(fegetround(), FE_TONEAREST); /* the resumer's mode is its own */
    ck_assert_int_eq(coro_destroy(co), 0);
    co = coro_create(records_state, NULL, 0);
    ck_assert_ptr_nonnull(co);
    errno = 7;
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(seen_errno, 7);
    ck_assert_int_eq(seen_round, FE_TONEAREST);
    ck_assert_int_eq(coro_destroy(co), 0);
    coro_stack_pool(old);
}

START_TEST(test_start_state_fresh_stack)
{
    check_start_state(0);
}
END_TEST

START_TEST(test_start_state_pooled_stack)
{
    check_start_state(1);
}
END_TEST

/* Tasks too: the second task reuses the first one's stack, and starts
 * with the errno and mode of the thread that runs the scheduler. */
START_TEST(test_start_state_pooled_task)
{
    coro_sched_t *s = coro_sched_create();

    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(coro_spawn(s, leaves_state, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    ck_assert_int_eq(coro_spawn(s, records_state, NULL, 0), 0);
    errno = 9;
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(seen_errno, 9);
    ck_assert_int_eq(seen_round, FE_TONEAREST);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Each context keeps its own rounding mode across switches. */
static void *
rounds_up(void *arg)
{
    (void)arg;
    fesetround(FE_UPWARD);
    coro_yield(NULL);
    return IV(fegetround());
}

START_TEST(test_rounding_mode_per_coroutine)
{
    coro_t *co = coro_create(rounds_up, NULL, 0);
    void *out;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    fesetround(FE_TOWARDZERO);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_int_eq(VI(out), FE_UPWARD);
    ck_assert_int_eq(fegetround(), FE_TOWARDZERO);
    fesetround(FE_TONEAREST);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static Suite *
overflow_suite(void)
{
    Suite *s = suite_create("overflow");
    TCase *tc = test_case("handler");

    /* The children must get the SIGSEGV themselves (see Makefile.am for
     * the sanitizers); under valgrind the faults are slow but real. */
    tcase_add_test(tc, test_overflow_reported);
    tcase_add_test(tc, test_overflow_in_task_reported);
    tcase_add_test(tc, test_overflow_in_new_thread_reported);
    tcase_add_test(tc, test_off_by_default);
    tcase_add_test(tc, test_other_fault_passed_on);
    tcase_add_test(tc, test_previous_handler_chained);
    tcase_add_test(tc, test_catch_twice);
    /* Under ThreadSanitizer the switch calls its runtime, which then
     * overflows, and a fault inside the runtime hangs it. */
    if (!TEST_TSAN)
        tcase_add_test(tc, test_overflow_around_switch_reported);
    tcase_add_test(tc, test_overflow_in_thread_before_catch_reported);
    suite_add_tcase(s, tc);

    tc = test_case("errno");
    tcase_add_test(tc, test_errno_per_coroutine);
    tcase_add_test(tc, test_errno_per_task);
    tcase_add_test(tc, test_start_state_fresh_stack);
    tcase_add_test(tc, test_start_state_pooled_stack);
    tcase_add_test(tc, test_start_state_pooled_task);
    tcase_add_test(tc, test_rounding_mode_per_coroutine);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(overflow_suite)
