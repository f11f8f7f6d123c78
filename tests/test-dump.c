/*
 * coro_sched_dump(): one line per task, with its number, name, state, what
 * it waits on and its function; its errors; and CORO_DEBUG=deadlock, which
 * makes coro_sched_run() write the dump before EDEADLK. This program is
 * linked with -rdynamic, so that dladdr() names its functions; in a static
 * build (the aarch64 one under qemu) nothing can, and the dump must give
 * their addresses instead.
 */
#include "testutil.h"
#include "tasklog.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static coro_sched_t *sched;
static coro_chan_t *ch_a, *ch_b;
static int pipe_fd[2];
static coro_task_t *joined;
static char *dump_text;

static void
setup(void)
{
    tasklog_reset();
    sched = coro_sched_create();
    ch_a = coro_chan_create(sizeof(int), 0);
    ch_b = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(sched);
    ck_assert_ptr_nonnull(ch_a);
    ck_assert_ptr_nonnull(ch_b);
    ck_assert_int_eq(pipe(pipe_fd), 0);
    dump_text = NULL;
}

static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ck_assert_int_eq(coro_chan_destroy(ch_a), 0);
    ck_assert_int_eq(coro_chan_destroy(ch_b), 0);
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    free(dump_text);
}

/* The tasks, each in a wait of its own kind. */
void *dump_receiver(void *arg);
void *dump_sender(void *arg);
void *dump_selector(void *arg);
void *dump_sleeper(void *arg);
void *dump_reader(void *arg);
void *dump_joiner(void *arg);
void *dump_joinee(void *arg);
void *dump_never_started(void *arg);
void *dump_taker(void *arg);
void *dump_blocked(void *arg);

void *
dump_receiver(void *arg)
{
    int v;

    (void)arg;
    EXPECT(coro_set_name(coro_self(), "the receiver") == 0);
    EXPECT(coro_chan_recv(ch_a, &v) == -1 && errno == EPIPE);
    return NULL;
}

void *
dump_sender(void *arg)
{
    int v = 1;

    (void)arg;
    EXPECT(coro_chan_send(ch_b, &v) == -1 && errno == EPIPE);
    return NULL;
}

void *
dump_selector(void *arg)
{
    int v = 2, w;
    coro_sel_t sel[2] = {{ch_b, CORO_SEND, &v, 0}, {ch_a, CORO_RECV, &w, 0}};

    (void)arg;
    /* ch_a is closed first: the select ends with the receive's EPIPE. */
    EXPECT(coro_select(sel, 2, CORO_MSEC(60000)) >= 0);
    return NULL;
}

void *
dump_sleeper(void *arg)
{
    (void)arg;
    EXPECT(coro_sleep(CORO_MSEC(60000)) == -1 && errno == ECANCELED);
    return NULL;
}

void *
dump_reader(void *arg)
{
    char c;

    (void)arg;
    EXPECT(coro_read(pipe_fd[0], &c, 1, CORO_FOREVER) == 1);
    return NULL;
}

void *
dump_joinee(void *arg)
{
    int v;

    (void)arg;
    EXPECT(coro_chan_recv(ch_a, &v) == -1); /* until ch_a is closed */
    return NULL;
}

void *
dump_joiner(void *arg)
{
    (void)arg;
    EXPECT(coro_task_join(joined, NULL, CORO_FOREVER) == 0);
    return NULL;
}

void *
dump_never_started(void *arg)
{
    return arg;
}

/* Dumps the others, then lets every one of them go. */
void *
dump_taker(void *arg)
{
    coro_task_t *sleeper = arg;
    char *text = NULL;
    size_t size = 0;
    FILE *f;

    coro_sched_yield(); /* everyone else runs into its wait */
    EXPECT(coro_spawn(sched, dump_never_started, NULL, 0) == 0); /* ready, not started */
    f = open_memstream(&text, &size);
    EXPECT(f != NULL);
    if (f) {
        EXPECT(coro_sched_dump(sched, f) == 0);
        fclose(f);
        dump_text = text;
    }
    EXPECT(coro_chan_close(ch_a) == 0);
    EXPECT(coro_chan_close(ch_b) == 0);
    EXPECT(write(pipe_fd[1], "x", 1) == 1);
    EXPECT(coro_task_cancel(sleeper) == 0);
    EXPECT(coro_task_detach(sleeper) == 0);
    return NULL;
}

/* "function NAME" as the dump must show fn: by name where dladdr() can name
 * it in this program, by address where it cannot. */
#define FUNCTION(fn) function_text((void *)(uintptr_t)(fn), #fn)
static const char *
function_text(void *fn, const char *name)
{
    static char text[8][128];
    static unsigned next;
    char *t = text[next++ % 8];
    Dl_info dl;

    if (dladdr(fn, &dl) && dl.dli_sname && dl.dli_saddr == fn)
        snprintf(t, sizeof text[0], "function %s\n", name);
    else
        snprintf(t, sizeof text[0], "function %p\n", fn);
    return t;
}

/* The line of dump_text that has needle, or fail. */
static const char *
line_with(const char *needle)
{
    const char *p = strstr(dump_text, needle);

    ck_assert_msg(p != NULL, "'%s' not in the dump:\n%s", needle, dump_text);
    while (p > dump_text && p[-1] != '\n')
        p--;
    return p;
}

/* The line has every one of the words. */
static void
line_has(const char *needle, const char *w1, const char *w2, const char *w3)
{
    const char *l = line_with(needle), *end = strchr(l, '\n');
    char line[1024];
    size_t n = end ? (size_t)(end - l) : strlen(l);

    ck_assert_uint_lt(n, sizeof line);
    memcpy(line, l, n);
    line[n] = '\0';
    ck_assert_msg(strncmp(line, "task ", 5) == 0, "line '%s'", line);
    ck_assert_msg(!w1 || strstr(line, w1), "'%s' not in '%s'", w1, line);
    ck_assert_msg(!w2 || strstr(line, w2), "'%s' not in '%s'", w2, line);
    ck_assert_msg(!w3 || strstr(line, w3), "'%s' not in '%s'", w3, line);
}

START_TEST(test_every_state_and_wait)
{
    coro_task_t *sleeper;
    char a_addr[32], b_addr[32];

    ck_assert_int_eq(coro_spawn(sched, dump_receiver, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(sched, dump_sender, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(sched, dump_selector, NULL, 0), 0);
    ck_assert_ptr_nonnull(sleeper = coro_task_spawn(sched, dump_sleeper, NULL, 0));
    ck_assert_int_eq(coro_spawn(sched, dump_reader, NULL, 0), 0);
    ck_assert_ptr_nonnull(joined = coro_task_spawn(sched, dump_joinee, NULL, 0));
    ck_assert_int_eq(coro_spawn(sched, dump_joiner, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(sched, dump_taker, sleeper, 0), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    ASSERT_TASKS_OK();
    ck_assert_ptr_nonnull(dump_text);
    snprintf(a_addr, sizeof a_addr, "%p", (void *)ch_a);
    snprintf(b_addr, sizeof b_addr, "%p", (void *)ch_b);

    /* One line per task, in the order they were made. */
    {
        int lines = 0;

        for (const char *p = dump_text; *p; p++)
            lines += *p == '\n';
        ck_assert_int_eq(lines, 9);
    }
    line_has("\"the receiver\"", "waiting", "receive from channel", a_addr);
    line_has(FUNCTION(dump_receiver), "the receiver", NULL, NULL);
    line_has(FUNCTION(dump_sender), "waiting: send on channel", b_addr, NULL);
    line_has(FUNCTION(dump_selector), "select of 2: send on channel", "receive from channel",
             "timeout in");
    line_has(FUNCTION(dump_sleeper), "waiting: sleep,", "ms left", NULL);
    line_has(FUNCTION(dump_reader), "waiting: fd", "for input", NULL);
    line_has(FUNCTION(dump_joiner), "waiting: join of task-", NULL, NULL);
    line_has(FUNCTION(dump_taker), ": running;", NULL, NULL);
    line_has(FUNCTION(dump_never_started), ": ready;", "\"task-", NULL);
}
END_TEST

/* The errors: NULL arguments, another thread, a stream that fails. */
static void *
dump_from_other_thread(void *arg)
{
    errno = 0;
    return IV(coro_sched_dump(arg, stdout) == -1 ? errno : 0);
}

START_TEST(test_errors)
{
    pthread_t th;
    void *err;
    FILE *full;

    ASSERT_FAILS(coro_sched_dump(NULL, stdout), EINVAL);
    ASSERT_FAILS(coro_sched_dump(sched, NULL), EINVAL);
    ck_assert_int_eq(pthread_create(&th, NULL, dump_from_other_thread, sched), 0);
    ck_assert_int_eq(pthread_join(th, &err), 0);
    ck_assert_int_eq(VI(err), EPERM);
    /* An empty scheduler writes nothing, and succeeds. */
    ck_assert_int_eq(coro_sched_dump(sched, stdout), 0);
    full = fopen("/dev/full", "w");
    if (full) {
        setvbuf(full, NULL, _IONBF, 0);
        ck_assert_int_eq(coro_spawn(sched, dump_never_started, NULL, 0), 0);
        ASSERT_FAILS(coro_sched_dump(sched, full), EIO);
        fclose(full);
        ck_assert_int_eq(coro_sched_run(sched), 0);
    }
}
END_TEST

/* CORO_DEBUG=deadlock: the line and the dump on stderr, then EDEADLK. */
void *
dump_blocked(void *arg)
{
    int v;

    (void)arg;
    EXPECT(coro_chan_recv(ch_a, &v) == 0);
    return NULL;
}

static int
deadlock_with(const char *debug, char *err, size_t size)
{
    int fd[2], saved = dup(STDERR_FILENO), rc;
    ssize_t n, len = 0;

    ck_assert_int_eq(pipe(fd), 0);
    fcntl(fd[0], F_SETFL, O_NONBLOCK);
    if (debug)
        setenv("CORO_DEBUG", debug, 1);
    else
        unsetenv("CORO_DEBUG");
    ck_assert_int_eq(coro_spawn(sched, dump_blocked, NULL, 0), 0);
    fflush(stderr);
    dup2(fd[1], STDERR_FILENO);
    errno = 0;
    rc = coro_sched_run(sched);
    rc = rc == -1 ? errno : 0;
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd[1]);
    while ((n = read(fd[0], err + len, size - 1 - (size_t)len)) > 0)
        len += n;
    err[len] = '\0';
    close(fd[0]);
    unsetenv("CORO_DEBUG");
    /* Let the task go, so that teardown finds nothing blocked. */
    ck_assert_int_eq(coro_chan_close(ch_a), 0);
    ck_assert_int_eq(coro_sched_run(sched), 0);
    return rc;
}

START_TEST(test_coro_debug_deadlock)
{
    char err[4096];

    ck_assert_int_eq(deadlock_with("deadlock", err, sizeof err), EDEADLK);
    ck_assert_msg(strncmp(err, "libcoro: all tasks are blocked (deadlock)\ntask ", 47) == 0,
                  "stderr: %s", err);
    ck_assert_msg(strstr(err, "receive from channel") && strstr(err, FUNCTION(dump_blocked)),
                  "stderr: %s", err);
}
END_TEST

START_TEST(test_coro_debug_other_words)
{
    char err[4096];

    ck_assert_int_eq(deadlock_with("trace,deadlock,x", err, sizeof err), EDEADLK);
    ck_assert_msg(strstr(err, "all tasks are blocked") != NULL, "stderr: %s", err);
}
END_TEST

START_TEST(test_coro_debug_unset)
{
    char err[4096];

    ck_assert_int_eq(deadlock_with(NULL, err, sizeof err), EDEADLK);
    ck_assert_str_eq(err, "");
}
END_TEST

static Suite *
dump_suite(void)
{
    Suite *s = suite_create("dump");
    TCase *tc = tasklog_tcase(s, "dump", setup);

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_every_state_and_wait);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_coro_debug_deadlock);
    tcase_add_test(tc, test_coro_debug_other_words);
    tcase_add_test(tc, test_coro_debug_unset);
    return s;
}

TEST_MAIN(dump_suite)
