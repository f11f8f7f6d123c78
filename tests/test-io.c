/*
 * test-io: the fd layer (coro_fd_wait, coro_read, coro_write, coro_accept,
 * coro_connect, coro_fd_close) and the TCP helpers (coro_tcp_listen,
 * coro_tcp_dial), on real pipes, socketpairs and loopback TCP sockets.
 * Each call's results and documented errors, in tasks, outside any task
 * (the thread blocks in poll(2)), and in a plain coroutine that a task
 * resumed (EPERM when it would wait); a scheduler whose tasks all wait on
 * fds sleeps and is not deadlocked; many connections at once.
 *
 * Timing: an expected timeout is 30 ms or more, and only lower bounds of
 * elapsed times are asserted, so that a slow or busy machine cannot fail
 * a test.
 */
#include "testutil.h"
#include "tasklog.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* An expected timeout. */
#define SHORT CORO_MSEC(30)

static coro_sched_t *sched;

static void
setup(void)
{
    struct rlimit rl;

    tasklog_reset();
    sched = coro_sched_create();
    ck_assert_ptr_nonnull(sched);
    /* Room for the 200 connections and an fd numbered 900. */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2048 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

static void
teardown(void)
{
    ck_assert_int_eq(coro_sched_destroy(sched), 0);
    ASSERT_TASKS_OK();
}

static void
spawn(coro_fn *fn, void *arg)
{
    ck_assert_int_eq(coro_spawn(sched, fn, arg, 0), 0);
}

static void
run(void)
{
    ck_assert_int_eq(coro_sched_run(sched), 0);
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static void
make_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* A socketpair with buffers as small as the kernel allows, from sv[0] to
 * sv[1]. */
static void
make_small_pair(int sv[2])
{
    int one = 1;

    make_pair(sv);
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof one), 0);
    ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &one, sizeof one), 0);
}

static void
make_pipe(int p[2])
{
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
}

/* Write to fd without waiting until it takes no more; the bytes it took. */
static size_t
fill(int fd)
{
    static char junk[65536];
    size_t total = 0;
    ssize_t n;

    while ((n = send(fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    ck_assert_msg(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK), "fill: %s",
                  strerror(errno));
    return total;
}

/* Read fd without waiting until it has nothing more; the bytes read. */
static size_t
drain(int fd)
{
    static char junk[65536];
    size_t total = 0;
    ssize_t n;

    while ((n = recv(fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

/* A number that is no open fd (a high one: the lowest free number may be
 * taken by the scheduler's epoll instance, made on its first fd wait). */
static int
closed_fd(void)
{
    int fd = fcntl(0, F_DUPFD_CLOEXEC, 512);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(close(fd), 0);
    return fd;
}

static int
port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int
family_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    return ss.ss_family;
}

/* A listening socket on 127.0.0.1, and its port. */
static int
listener(int *port)
{
    int fd = coro_tcp_listen("127.0.0.1", 0, 0, 0);

    ck_assert_int_ge(fd, 0);
    *port = port_of(fd);
    ck_assert_int_gt(*port, 0);
    return fd;
}

static struct sockaddr_in
loopback(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

static int
tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    return fd;
}

/* A loopback port where nothing listens: one that binds, below the
 * kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
 * default), so that no socket of another test (this suite runs beside
 * others, in parallel) gets it as its own port in the meantime, and a
 * connect to it cannot meet a stranger's full accept queue. */
static int
closed_port(void)
{
    static unsigned next;

    for (int tries = 0; tries < 1000; tries++) {
        int port = 20000 + (int)((next++ * 7919u + (unsigned)getpid()) % 12000u);
        struct sockaddr_in sin = loopback(port);
        int fd = tcp_socket(), rc = bind(fd, (struct sockaddr *)&sin, sizeof sin);

        close(fd);
        if (rc == 0)
            return port;
    }
    ck_abort_msg("no free port below 32000 on the loopback");
    return -1;
}

/* Whether this machine can listen on ::1. */
static int
have_ipv6(void)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    if (fd == -1)
        return 0;
    ok = bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    close(fd);
    return ok;
}

/* A listener whose accept queue is full and never drained: a connect to
 * its port stays in progress (the kernel drops the SYNs). The clients
 * that filled it are kept in stall.clients, for stall_free(). */
struct stall {
    int lfd, port, n;
    int clients[64];
};

static void
stall_make(struct stall *st)
{
    struct sockaddr_in sin = loopback(0);
    socklen_t len = sizeof sin;

    st->lfd = tcp_socket();
    st->n = 0;
    ck_assert_int_eq(bind(st->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(st->lfd, 0), 0);
    ck_assert_int_eq(getsockname(st->lfd, (struct sockaddr *)&sin, &len), 0);
    st->port = ntohs(sin.sin_port);
    /* Connect until one does not complete within 200 ms (a connect on
     * the loopback completes at once, or not at all). */
    while (st->n < 64) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int rc;

        ck_assert_int_ge(fd, 0);
        st->clients[st->n++] = fd;
        rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
        ck_assert(rc == 0 || errno == EINPROGRESS);
        if (rc == -1 && coro_fd_wait(fd, CORO_OUT, CORO_MSEC(200)) == -1) {
            ck_assert_int_eq(errno, ETIMEDOUT);
            return;
        }
    }
    ck_abort_msg("a full accept queue did not make connects stall");
}

static void
stall_free(struct stall *st)
{
    for (int i = 0; i < st->n; i++)
        ck_assert_int_eq(coro_fd_close(st->clients[i]), 0);
    ck_assert_int_eq(coro_fd_close(st->lfd), 0);
}

/* The byte at offset off of stream id. */
static unsigned char
pattern(long id, size_t off)
{
    return (unsigned char)(id * 131 + (long)off * 7 + (long)(off >> 9));
}

/* CPU time of the process, in nanoseconds. */
static int64_t
cpu_now(void)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A thread that sleeps, then writes one byte to an fd. */
struct later {
    pthread_t th;
    int fd;
    int64_t delay;
};

static void *
later_main(void *arg)
{
    struct later *l = arg;
    struct timespec ts = {.tv_sec = l->delay / 1000000000, .tv_nsec = l->delay % 1000000000};

    nanosleep(&ts, NULL);
    if (write(l->fd, "!", 1) != 1)
        return IV(-1);
    return NULL;
}

static void
later_start(struct later *l, int fd, int64_t delay)
{
    l->fd = fd;
    l->delay = delay;
    ck_assert_int_eq(pthread_create(&l->th, NULL, later_main, l), 0);
}

static void
later_join(struct later *l)
{
    void *r;

    ck_assert_int_eq(pthread_join(l->th, &r), 0);
    ck_assert_ptr_null(r);
}

/* ---------------------------------------------------------------------- */
/* coro_fd_wait: results                                                   */

/* The ready subset, the same in a task and outside any task. */
static void
ready_subset_checks(int *sv)
{
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, 0) == CORO_OUT);
    EXPECT(coro_fd_wait(sv[0], CORO_OUT, 0) == CORO_OUT);
    EXPECT(coro_fd_wait(sv[0], CORO_OUT, CORO_FOREVER) == CORO_OUT);
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, SHORT) == CORO_OUT);
    EXPECT_FAILS(coro_fd_wait(sv[0], CORO_IN, 0), EAGAIN);
    EXPECT(write(sv[1], "x", 1) == 1);
    EXPECT(coro_fd_wait(sv[0], CORO_IN, 0) == CORO_IN);
    EXPECT(coro_fd_wait(sv[0], CORO_IN, CORO_FOREVER) == CORO_IN);
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, 0) == (CORO_IN | CORO_OUT));
    EXPECT(drain(sv[0]) == 1);
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, 0) == CORO_OUT);
    /* The other end cannot write while its peer's buffer is full. */
    fill(sv[1]);
    EXPECT_FAILS(coro_fd_wait(sv[1], CORO_IN | CORO_OUT, 0), EAGAIN);
    EXPECT_FAILS(coro_fd_wait(sv[1], CORO_OUT, SHORT), ETIMEDOUT);
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, 0) == (CORO_IN | CORO_OUT));
    drain(sv[0]);
    EXPECT(coro_fd_wait(sv[1], CORO_OUT, CORO_FOREVER) == CORO_OUT);
    drain(sv[1]);
}

static void *
task_ready_subset(void *arg)
{
    ready_subset_checks(arg);
    ev("done");
    return NULL;
}

START_TEST(test_wait_ready_subset)
{
    int sv[2];

    make_pair(sv);
    ready_subset_checks(sv);
    ASSERT_TASKS_OK();
    spawn(task_ready_subset, sv);
    run();
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(coro_fd_close(sv[0]), 0);
    ck_assert_int_eq(coro_fd_close(sv[1]), 0);
    teardown();
}
END_TEST

/* A task waits while others run, and gets what became ready. */
static int wsv[2];

static void *
waits_in(void *arg)
{
    int64_t t0 = coro_now();

    (void)arg;
    ev("wait");
    EXPECT(coro_fd_wait(wsv[0], CORO_IN, CORO_FOREVER) == CORO_IN);
    EXPECT(coro_now() - t0 >= SHORT);
    ev("in");
    return NULL;
}

static void *
waits_in_negative(void *arg)
{
    (void)arg;
    ev("wait-neg");
    /* Any negative timeout waits as long as it takes. */
    EXPECT(coro_fd_wait(wsv[1], CORO_IN, -12345) == CORO_IN);
    ev("in-neg");
    return NULL;
}

static void *
writes_later(void *arg)
{
    (void)arg;
    ev("sleep");
    EXPECT(coro_sleep(SHORT) == 0);
    ev("write");
    EXPECT(write(wsv[1], "a", 1) == 1);
    EXPECT(write(wsv[0], "b", 1) == 1);
    return NULL;
}

START_TEST(test_wait_waits)
{
    make_pair(wsv);
    spawn(waits_in, NULL);
    spawn(waits_in_negative, NULL);
    spawn(writes_later, NULL);
    run();
    ck_assert_str_eq(evlog, "wait wait-neg sleep write in in-neg");
    ck_assert_int_eq(coro_fd_close(wsv[0]), 0);
    ck_assert_int_eq(coro_fd_close(wsv[1]), 0);
    teardown();
}
END_TEST

/* A timeout: ETIMEDOUT after at least that long; 0 does not wait (the
 * task does not even give way). */
static void *
times_out(void *arg)
{
    int *sv = arg;
    int64_t t0 = coro_now();

    EXPECT_FAILS(coro_fd_wait(sv[0], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    fill(sv[0]);
    t0 = coro_now();
    EXPECT_FAILS(coro_fd_wait(sv[0], CORO_OUT, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    drain(sv[1]);
    ev("timed-out");
    EXPECT_FAILS(coro_fd_wait(sv[0], CORO_IN, 0), EAGAIN);
    ev("no-wait");
    return NULL;
}

static void *
logs(void *arg)
{
    ev("%s", (const char *)arg);
    return NULL;
}

START_TEST(test_wait_timeout)
{
    int sv[2];
    struct later l;
    int64_t t0;

    make_pair(sv);
    spawn(times_out, sv);
    run();
    spawn(logs, "other");
    ck_assert_str_eq(evlog, "timed-out no-wait");
    run();
    /* Outside any task: the same, in poll(2). */
    t0 = coro_now();
    ASSERT_FAILS(coro_fd_wait(sv[0], CORO_IN, SHORT), ETIMEDOUT);
    ck_assert_int_ge(coro_now() - t0, SHORT);
    fill(sv[0]);
    t0 = coro_now();
    ASSERT_FAILS(coro_fd_wait(sv[0], CORO_OUT, SHORT), ETIMEDOUT);
    ck_assert_int_ge(coro_now() - t0, SHORT);
    drain(sv[1]);
    /* 0 does not wait for a byte that comes later. */
    later_start(&l, sv[1], CORO_MSEC(100));
    ASSERT_FAILS(coro_fd_wait(sv[0], CORO_IN, 0), EAGAIN);
    ck_assert_int_eq(coro_fd_wait(sv[0], CORO_IN, CORO_FOREVER), CORO_IN);
    later_join(&l);
    ck_assert_int_eq(drain(sv[0]), 1);
    ck_assert_int_eq(coro_fd_close(sv[0]), 0);
    ck_assert_int_eq(coro_fd_close(sv[1]), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_fd_wait: errors                                                    */

static void
wait_einval_checks(int fd, int notfd)
{
    EXPECT_FAILS(coro_fd_wait(fd, 0, 0), EINVAL);
    EXPECT_FAILS(coro_fd_wait(fd, 0, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_fd_wait(fd, 4, 0), EINVAL);
    EXPECT_FAILS(coro_fd_wait(fd, CORO_IN | 8, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_fd_wait(fd, -1, 0), EINVAL);
    EXPECT_FAILS(coro_fd_wait(-1, CORO_IN, 0), EINVAL);
    EXPECT_FAILS(coro_fd_wait(-1, CORO_OUT, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_fd_wait(-7, CORO_IN, SHORT), EINVAL);
    EXPECT_FAILS(coro_fd_wait(notfd, CORO_IN, 0), EBADF);
    EXPECT_FAILS(coro_fd_wait(notfd, CORO_IN | CORO_OUT, CORO_FOREVER), EBADF);
    EXPECT_FAILS(coro_fd_wait(notfd, CORO_OUT, SHORT), EBADF);
    EXPECT_FAILS(coro_fd_wait(notfd, 0, 0), EINVAL); /* the events first */
}

static int err_fd, err_notfd;

static void *
task_wait_errors(void *arg)
{
    (void)arg;
    wait_einval_checks(err_fd, err_notfd);
    ev("done");
    return NULL;
}

START_TEST(test_wait_errors)
{
    int sv[2];

    make_pair(sv);
    err_fd = sv[0];
    err_notfd = closed_fd();
    wait_einval_checks(err_fd, err_notfd);
    ASSERT_TASKS_OK();
    spawn(task_wait_errors, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(coro_fd_close(sv[0]), 0);
    ck_assert_int_eq(coro_fd_close(sv[1]), 0);
    teardown();
}
END_TEST

/* coro_fd_close() wakes the tasks that wait on the fd with EBADF, in each
 * direction; the number can then be used again. */
static int csv[2], cpipe[2];

static void *
waits_then_ebadf(void *arg)
{
    int events = (int)VI(arg);
    int fd = events == (CORO_IN | CORO_OUT) ? cpipe[0] : csv[0];

    ev("wait%d", events);
    EXPECT_FAILS(coro_fd_wait(fd, events, CORO_FOREVER), EBADF);
    ev("ebadf%d", events);
    return NULL;
}

static void *
closes_both(void *arg)
{
    (void)arg;
    ev("close");
    EXPECT(coro_fd_close(csv[0]) == 0);
    EXPECT(coro_fd_close(cpipe[0]) == 0);
    EXPECT_FAILS(coro_fd_wait(csv[0], CORO_IN, 0), EBADF);
    EXPECT_FAILS(coro_fd_close(csv[0]), EBADF);
    return NULL;
}

static int reuse_seen, rsv[2];

/* A new fd with a closed one's number: a wait on it blocks and wakes (it
 * is in the epoll set again, not taken for the old one). */
static void *
reuses_number(void *arg)
{
    int old = (int)VI(arg);

    EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, rsv) == 0);
    reuse_seen = rsv[0] == old;
    ev("reuse-wait");
    EXPECT(coro_fd_wait(rsv[0], CORO_IN, CORO_MSEC(20000)) == CORO_IN);
    ev("reuse-in");
    EXPECT_FAILS(coro_fd_wait(rsv[1], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(coro_fd_close(rsv[0]) == 0);
    EXPECT(coro_fd_close(rsv[1]) == 0);
    return NULL;
}

static void *
writes_reused(void *arg)
{
    (void)arg;
    ev("reuse-write");
    EXPECT(write(rsv[1], "z", 1) == 1);
    return NULL;
}

START_TEST(test_wait_close_wakes)
{
    make_small_pair(csv);
    make_pipe(cpipe);
    fill(csv[0]);
    /* sv[0] is neither readable nor writable, the pipe's read end never
     * writable. */
    spawn(waits_then_ebadf, IV(CORO_IN));
    spawn(waits_then_ebadf, IV(CORO_OUT));
    spawn(waits_then_ebadf, IV(CORO_IN | CORO_OUT));
    spawn(closes_both, NULL);
    run();
    ck_assert_str_eq(evlog, "wait1 wait2 wait3 close ebadf1 ebadf2 ebadf3");
    tasklog_reset();
    reuse_seen = 0;
    spawn(reuses_number, IV(csv[0]));
    spawn(writes_reused, NULL);
    run();
    ck_assert_str_eq(evlog, "reuse-wait reuse-write reuse-in");
    ck_assert_int_eq(reuse_seen, 1);
    ck_assert_int_eq(coro_fd_close(csv[1]), 0);
    ck_assert_int_eq(coro_fd_close(cpipe[1]), 0);
    ASSERT_FAILS(coro_fd_close(-1), EBADF);
    ASSERT_FAILS(coro_fd_close(closed_fd()), EBADF);
    teardown();
}
END_TEST

/* One task per direction: a second one in the same direction is EBUSY,
 * in both directions at once too; one for input and one for output is
 * fine, and each gets its own. */
static int bsv[2], bpipe[2];

static void *
waits_dir(void *arg)
{
    int events = (int)VI(arg);

    ev("w%d", events);
    EXPECT(coro_fd_wait(bsv[0], events, CORO_FOREVER) == events);
    ev("got%d", events);
    return NULL;
}

static void *
busy_checks(void *arg)
{
    char c;

    (void)arg;
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_IN, CORO_FOREVER), EBUSY);
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_OUT, SHORT), EBUSY);
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_IN | CORO_OUT, SHORT), EBUSY);
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_IN, 0), EBUSY);
    EXPECT_FAILS(coro_read(bsv[0], &c, 1, SHORT), EBUSY);
    EXPECT_FAILS(coro_write(bsv[0], "c", 1, SHORT), EBUSY);
    ev("busy");
    /* Make bsv[0] readable, then writable. */
    EXPECT(write(bsv[1], "r", 1) == 1);
    EXPECT(coro_sched_yield() == 0);
    drain(bsv[1]);
    return NULL;
}

static void *
pipe_reader_waits(void *arg)
{
    (void)arg;
    ev("pr");
    EXPECT(coro_fd_wait(bpipe[0], CORO_IN, CORO_FOREVER) == CORO_IN);
    ev("pr-in");
    return NULL;
}

static void *
pipe_busy_checks(void *arg)
{
    int64_t t0 = coro_now();

    (void)arg;
    EXPECT_FAILS(coro_fd_wait(bpipe[0], CORO_IN | CORO_OUT, CORO_FOREVER), EBUSY);
    /* Output, while another task waits for input: it waits (a pipe's read
     * end is never writable). */
    EXPECT_FAILS(coro_fd_wait(bpipe[0], CORO_OUT, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    ev("pipe-busy");
    EXPECT(write(bpipe[1], "p", 1) == 1);
    return NULL;
}

START_TEST(test_wait_busy)
{
    make_small_pair(bsv);
    fill(bsv[0]);
    spawn(waits_dir, IV(CORO_IN));
    spawn(waits_dir, IV(CORO_OUT));
    spawn(busy_checks, NULL);
    run();
    ck_assert_str_eq(evlog, "w1 w2 busy got1 got2");
    tasklog_reset();
    make_pipe(bpipe);
    spawn(pipe_reader_waits, NULL);
    spawn(pipe_busy_checks, NULL);
    run();
    ck_assert_str_eq(evlog, "pr pipe-busy pr-in");
    ck_assert_int_eq(coro_fd_close(bsv[0]), 0);
    ck_assert_int_eq(coro_fd_close(bsv[1]), 0);
    ck_assert_int_eq(coro_fd_close(bpipe[0]), 0);
    ck_assert_int_eq(coro_fd_close(bpipe[1]), 0);
    teardown();
}
END_TEST

static void *
waits_both_dirs(void *arg)
{
    (void)arg;
    ev("both");
    EXPECT(coro_fd_wait(bsv[0], CORO_IN | CORO_OUT, CORO_FOREVER) == CORO_IN);
    ev("both-in");
    return NULL;
}

static void *
busy_after_both(void *arg)
{
    char c;

    (void)arg;
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_IN, SHORT), EBUSY);
    EXPECT_FAILS(coro_fd_wait(bsv[0], CORO_OUT, SHORT), EBUSY);
    EXPECT_FAILS(coro_read(bsv[0], &c, 1, CORO_FOREVER), EBUSY);
    ev("busy");
    EXPECT(write(bsv[1], "r", 1) == 1);
    return NULL;
}

START_TEST(test_wait_busy_both)
{
    make_small_pair(bsv);
    fill(bsv[0]);
    spawn(waits_both_dirs, NULL);
    spawn(busy_after_both, NULL);
    run();
    ck_assert_str_eq(evlog, "both busy both-in");
    ck_assert_int_eq(coro_fd_close(bsv[0]), 0);
    ck_assert_int_eq(coro_fd_close(bsv[1]), 0);
    teardown();
}
END_TEST

/* A regular file is always ready, for both, in a task or not; reads and
 * writes of one never wait. */
static int file_fd;

static void
file_checks(int fd)
{
    char buf[16];

    EXPECT(coro_fd_wait(fd, CORO_IN | CORO_OUT, 0) == (CORO_IN | CORO_OUT));
    EXPECT(coro_fd_wait(fd, CORO_IN, CORO_FOREVER) == CORO_IN);
    EXPECT(coro_fd_wait(fd, CORO_OUT, SHORT) == CORO_OUT);
    EXPECT(ftruncate(fd, 0) == 0);
    EXPECT(lseek(fd, 0, SEEK_SET) == 0);
    EXPECT(coro_write(fd, "hello, file", 11, 0) == 11);
    EXPECT(lseek(fd, 0, SEEK_SET) == 0);
    EXPECT(coro_read(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0);
    EXPECT(coro_read(fd, buf, sizeof buf, CORO_FOREVER) == 6 && memcmp(buf, ", file", 6) == 0);
    EXPECT(coro_read(fd, buf, sizeof buf, CORO_FOREVER) == 0); /* end of file */
    EXPECT(coro_read(fd, buf, sizeof buf, SHORT) == 0);
    EXPECT(coro_fd_wait(fd, CORO_IN, SHORT) == CORO_IN); /* at its end too */
}

static void *
task_file(void *arg)
{
    (void)arg;
    file_checks(file_fd);
    ev("done");
    return NULL;
}

START_TEST(test_wait_regular_file)
{
    char path[] = "/tmp/test-io-XXXXXX";

    file_fd = mkstemp(path);
    ck_assert_int_ge(file_fd, 0);
    ck_assert_int_eq(unlink(path), 0);
    file_checks(file_fd);
    ASSERT_TASKS_OK();
    spawn(task_file, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(coro_fd_close(file_fd), 0);
    teardown();
}
END_TEST

/* A hang-up or an error counts as ready, for everything asked. */
static void
hangup_checks(void)
{
    int p[2], sv[2];

    make_pipe(p); /* the read end, once the writer is gone */
    EXPECT_FAILS(coro_fd_wait(p[0], CORO_IN | CORO_OUT, 0), EAGAIN);
    close(p[1]);
    EXPECT(coro_fd_wait(p[0], CORO_IN | CORO_OUT, CORO_FOREVER) == (CORO_IN | CORO_OUT));
    EXPECT(coro_fd_wait(p[0], CORO_OUT, CORO_FOREVER) == CORO_OUT);
    EXPECT(coro_fd_wait(p[0], CORO_IN, 0) == CORO_IN);
    EXPECT(coro_fd_close(p[0]) == 0);
    make_pipe(p); /* the write end, once the reader is gone */
    close(p[0]);
    EXPECT(coro_fd_wait(p[1], CORO_IN | CORO_OUT, CORO_FOREVER) == (CORO_IN | CORO_OUT));
    EXPECT(coro_fd_wait(p[1], CORO_IN, SHORT) == CORO_IN);
    EXPECT(coro_fd_close(p[1]) == 0);
    make_pair(sv); /* a socket whose peer is gone */
    close(sv[1]);
    EXPECT(coro_fd_wait(sv[0], CORO_IN | CORO_OUT, CORO_FOREVER) == (CORO_IN | CORO_OUT));
    EXPECT(coro_fd_wait(sv[0], CORO_IN, SHORT) == CORO_IN);
    EXPECT(coro_fd_close(sv[0]) == 0);
}

static int hpipe[2], hsv[2];

static void *
task_hangup_checks(void *arg)
{
    (void)arg;
    hangup_checks();
    ev("checked");
    return NULL;
}

/* Woken by the hang-up while it waits. */
static void *
waits_for_hangup(void *arg)
{
    (void)arg;
    ev("wait");
    EXPECT(coro_fd_wait(hpipe[0], CORO_IN | CORO_OUT, CORO_FOREVER) == (CORO_IN | CORO_OUT));
    ev("pipe-hup");
    EXPECT(coro_fd_wait(hsv[0], CORO_IN, CORO_FOREVER) == CORO_IN);
    ev("socket-hup");
    return NULL;
}

static void *
hangs_up(void *arg)
{
    (void)arg;
    ev("close");
    EXPECT(coro_fd_close(hpipe[1]) == 0);
    EXPECT(coro_sleep(CORO_MSEC(5)) == 0);
    EXPECT(coro_fd_close(hsv[1]) == 0);
    return NULL;
}

START_TEST(test_wait_hangup)
{
    hangup_checks();
    ASSERT_TASKS_OK();
    spawn(task_hangup_checks, NULL);
    run();
    ck_assert_str_eq(evlog, "checked");
    tasklog_reset();
    make_pipe(hpipe);
    make_pair(hsv);
    spawn(waits_for_hangup, NULL);
    spawn(hangs_up, NULL);
    run();
    ck_assert_str_eq(evlog, "wait close pipe-hup socket-hup");
    ck_assert_int_eq(coro_fd_close(hpipe[0]), 0);
    ck_assert_int_eq(coro_fd_close(hsv[0]), 0);
    teardown();
}
END_TEST

/* An edge that came while nobody waited, and is stale by the next wait,
 * does not make coro_fd_wait() or coro_read() return early. */
static int esv[2], eother[2];

static void *
stale_waiter(void *arg)
{
    char buf[8];
    int64_t t0;

    (void)arg;
    EXPECT_FAILS(coro_fd_wait(esv[0], CORO_IN, 0), EAGAIN); /* now in the epoll set */
    EXPECT(write(esv[1], "1", 1) == 1);
    /* While the task waits on another fd, the scheduler takes the edge
     * of esv[0] from epoll, and keeps it. */
    EXPECT_FAILS(coro_fd_wait(eother[0], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(drain(esv[0]) == 1); /* read behind the library's back */
    t0 = coro_now();
    EXPECT_FAILS(coro_fd_wait(esv[0], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    /* The same for a read. */
    EXPECT(write(esv[1], "2", 1) == 1);
    EXPECT_FAILS(coro_fd_wait(eother[0], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(drain(esv[0]) == 1);
    t0 = coro_now();
    EXPECT_FAILS(coro_read(esv[0], buf, sizeof buf, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    ev("stale-ok");
    return NULL;
}

START_TEST(test_wait_stale_edge)
{
    make_pair(esv);
    make_pair(eother);
    spawn(stale_waiter, NULL);
    run();
    ck_assert_str_eq(evlog, "stale-ok");
    ck_assert_int_eq(coro_fd_close(esv[0]), 0);
    ck_assert_int_eq(coro_fd_close(esv[1]), 0);
    ck_assert_int_eq(coro_fd_close(eother[0]), 0);
    ck_assert_int_eq(coro_fd_close(eother[1]), 0);
    teardown();
}
END_TEST

/* A cancelled wait ends with ECANCELED, a timed-out one with ETIMEDOUT;
 * neither keeps the direction busy. */
static int ksv[2];
static coro_task_t *victim;

static void *
cancelled_reader(void *arg)
{
    char c;

    (void)arg;
    ev("read");
    EXPECT_FAILS(coro_read(ksv[0], &c, 1, CORO_FOREVER), ECANCELED);
    EXPECT_FAILS(coro_fd_wait(ksv[0], CORO_IN, SHORT), ECANCELED);
    EXPECT(coro_fd_wait(ksv[0], CORO_OUT, SHORT) == CORO_OUT); /* ready: no wait */
    ev("cancelled");
    return NULL;
}

static void *
cancels_then_waits(void *arg)
{
    char c;

    (void)arg;
    EXPECT(coro_task_cancel(victim) == 0);
    EXPECT(coro_sched_yield() == 0);
    EXPECT_FAILS(coro_fd_wait(ksv[0], CORO_IN, SHORT), ETIMEDOUT); /* not EBUSY */
    EXPECT_FAILS(coro_read(ksv[0], &c, 1, SHORT), ETIMEDOUT);
    EXPECT(write(ksv[1], "k", 1) == 1);
    EXPECT(coro_read(ksv[0], &c, 1, SHORT) == 1 && c == 'k');
    ev("after");
    return NULL;
}

START_TEST(test_wait_cancel)
{
    make_pair(ksv);
    victim = coro_task_spawn(sched, cancelled_reader, NULL, 0);
    ck_assert_ptr_nonnull(victim);
    spawn(cancels_then_waits, NULL);
    run();
    ck_assert_str_eq(evlog, "read cancelled after");
    ck_assert_int_eq(coro_task_join(victim, NULL, 0), 0);
    ck_assert_int_eq(coro_fd_close(ksv[0]), 0);
    ck_assert_int_eq(coro_fd_close(ksv[1]), 0);
    teardown();
}
END_TEST

/* In a deferred handler of a task that ends, an fd call that would wait
 * fails with ECANCELED; one that need not wait works. */
static int dsv[2];

static void
handler_io(void *arg)
{
    char c;

    (void)arg;
    EXPECT_FAILS(coro_fd_wait(dsv[0], CORO_IN, CORO_FOREVER), ECANCELED);
    EXPECT_FAILS(coro_read(dsv[0], &c, 1, SHORT), ECANCELED);
    EXPECT_FAILS(coro_read(dsv[0], &c, 1, 0), EAGAIN);
    EXPECT(coro_write(dsv[1], "h", 1, CORO_FOREVER) == 1);
    EXPECT(coro_read(dsv[0], &c, 1, CORO_FOREVER) == 1 && c == 'h');
    ev("handler");
}

static void *
defers_io(void *arg)
{
    (void)arg;
    EXPECT(coro_defer(handler_io, NULL) == 0);
    return NULL;
}

START_TEST(test_wait_in_handler)
{
    make_pair(dsv);
    spawn(defers_io, NULL);
    run();
    ck_assert_str_eq(evlog, "handler");
    ck_assert_int_eq(coro_fd_close(dsv[0]), 0);
    ck_assert_int_eq(coro_fd_close(dsv[1]), 0);
    teardown();
}
END_TEST

/* coro_sched_dump() says what a task waits on. */
static int dump_sv[2], dump_pipe[2], dump_pipe2[2];
static char *dump_text;

static void *
dump_waiter(void *arg)
{
    int events = (int)VI(arg);
    int fd = events == CORO_OUT ? dump_sv[0] : events == CORO_IN ? dump_pipe[0] : dump_pipe2[0];
    int64_t timeout = events == CORO_IN ? CORO_MSEC(60000) : CORO_FOREVER;

    EXPECT(coro_fd_wait(fd, events, timeout) == -1 && errno == EBADF);
    return NULL;
}

static void *
dumps(void *arg)
{
    size_t size;
    FILE *f = open_memstream(&dump_text, &size);

    (void)arg;
    EXPECT(f != NULL);
    if (f == NULL)
        return NULL;
    EXPECT(coro_sched_dump(sched, f) == 0);
    fclose(f);
    EXPECT(coro_fd_close(dump_sv[0]) == 0);
    EXPECT(coro_fd_close(dump_pipe[0]) == 0);
    EXPECT(coro_fd_close(dump_pipe2[0]) == 0);
    return NULL;
}

START_TEST(test_wait_dump)
{
    char want[3][128];

    make_small_pair(dump_sv);
    make_pipe(dump_pipe);
    make_pipe(dump_pipe2);
    fill(dump_sv[0]);
    spawn(dump_waiter, IV(CORO_OUT));
    spawn(dump_waiter, IV(CORO_IN));
    spawn(dump_waiter, IV(CORO_IN | CORO_OUT));
    spawn(dumps, NULL);
    run();
    ck_assert_ptr_nonnull(dump_text);
    snprintf(want[0], sizeof want[0], "waiting: fd %d for output;", dump_sv[0]);
    snprintf(want[1], sizeof want[1], "waiting: fd %d for input, timeout in ", dump_pipe[0]);
    snprintf(want[2], sizeof want[2], "waiting: fd %d for input and output;", dump_pipe2[0]);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(strstr(dump_text, want[i]) != NULL, "no \"%s\" in:\n%s", want[i], dump_text);
    free(dump_text);
    dump_text = NULL;
    ck_assert_int_eq(coro_fd_close(dump_sv[1]), 0);
    ck_assert_int_eq(coro_fd_close(dump_pipe[1]), 0);
    ck_assert_int_eq(coro_fd_close(dump_pipe2[1]), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_read                                                               */

/* What is there comes back at once, however much was asked for, even with
 * timeout 0; then 0 at the end of the stream. */
static void
read_available_checks(int rd, int wr)
{
    char buf[100];

    EXPECT(write(wr, "0123456789", 10) == 10);
    EXPECT(coro_read(rd, buf, sizeof buf, 0) == 10 && memcmp(buf, "0123456789", 10) == 0);
    EXPECT(write(wr, "abcdef", 6) == 6);
    EXPECT(coro_read(rd, buf, 4, CORO_FOREVER) == 4 && memcmp(buf, "abcd", 4) == 0);
    EXPECT(coro_read(rd, buf, sizeof buf, SHORT) == 2 && memcmp(buf, "ef", 2) == 0);
    EXPECT_FAILS(coro_read(rd, buf, sizeof buf, 0), EAGAIN);
    EXPECT(write(wr, "end", 3) == 3);
    EXPECT(close(wr) == 0);
    EXPECT(coro_read(rd, buf, sizeof buf, CORO_FOREVER) == 3 && memcmp(buf, "end", 3) == 0);
    EXPECT(coro_read(rd, buf, sizeof buf, CORO_FOREVER) == 0);
    EXPECT(coro_read(rd, buf, sizeof buf, 0) == 0);
    EXPECT(coro_read(rd, buf, sizeof buf, SHORT) == 0);
}

static void
read_available_all(void)
{
    int sv[2], p[2];

    make_pair(sv);
    read_available_checks(sv[0], sv[1]);
    EXPECT(coro_fd_close(sv[0]) == 0);
    make_pipe(p);
    read_available_checks(p[0], p[1]);
    /* A pipe is made non-blocking (sockets are not). */
    EXPECT(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    EXPECT(coro_fd_close(p[0]) == 0);
}

static void *
task_read_available(void *arg)
{
    (void)arg;
    read_available_all();
    ev("done");
    return NULL;
}

START_TEST(test_read_available)
{
    read_available_all();
    ASSERT_TASKS_OK();
    spawn(task_read_available, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    teardown();
}
END_TEST

/* A read waits only while nothing is there, and returns what came. */
static int rfd[2];

static void *
reader_waits(void *arg)
{
    char buf[100];
    int64_t t0 = coro_now();

    (void)arg;
    ev("read");
    EXPECT(coro_read(rfd[0], buf, sizeof buf, CORO_FOREVER) == 5 && memcmp(buf, "hello", 5) == 0);
    EXPECT(coro_now() - t0 >= SHORT);
    ev("got");
    EXPECT(coro_read(rfd[0], buf, sizeof buf, CORO_MSEC(10000)) == 0);
    ev("eof");
    return NULL;
}

static void *
writer_later(void *arg)
{
    (void)arg;
    EXPECT(coro_sleep(SHORT) == 0);
    ev("write");
    EXPECT(coro_write(rfd[1], "hello", 5, 0) == 5);
    EXPECT(coro_sleep(SHORT) == 0);
    ev("close");
    EXPECT(coro_fd_close(rfd[1]) == 0);
    return NULL;
}

START_TEST(test_read_waits)
{
    make_pair(rfd);
    spawn(reader_waits, NULL);
    spawn(writer_later, NULL);
    run();
    ck_assert_str_eq(evlog, "read write got close eof");
    ck_assert_int_eq(coro_fd_close(rfd[0]), 0);
    tasklog_reset();
    make_pipe(rfd);
    spawn(reader_waits, NULL);
    spawn(writer_later, NULL);
    run();
    ck_assert_str_eq(evlog, "read write got close eof");
    ck_assert_int_eq(coro_fd_close(rfd[0]), 0);
    teardown();
}
END_TEST

static void
read_timeout_checks(int fd)
{
    char buf[8];
    int64_t t0 = coro_now();

    EXPECT_FAILS(coro_read(fd, buf, sizeof buf, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT_FAILS(coro_read(fd, buf, sizeof buf, 0), EAGAIN);
}

static int tsv[2], tpipe[2];

static void *
task_read_timeout(void *arg)
{
    (void)arg;
    read_timeout_checks(tsv[0]);
    read_timeout_checks(tpipe[0]);
    ev("done");
    return NULL;
}

START_TEST(test_read_timeout)
{
    make_pair(tsv);
    make_pipe(tpipe);
    read_timeout_checks(tsv[0]);
    read_timeout_checks(tpipe[0]);
    ASSERT_TASKS_OK();
    spawn(task_read_timeout, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(coro_fd_close(tsv[0]), 0);
    ck_assert_int_eq(coro_fd_close(tsv[1]), 0);
    ck_assert_int_eq(coro_fd_close(tpipe[0]), 0);
    ck_assert_int_eq(coro_fd_close(tpipe[1]), 0);
    teardown();
}
END_TEST

static void
read_error_checks(void)
{
    char buf[8];
    int p[2], notfd = closed_fd();

    EXPECT_FAILS(coro_read(-1, buf, sizeof buf, 0), EBADF);
    EXPECT_FAILS(coro_read(-1, buf, sizeof buf, CORO_FOREVER), EBADF);
    EXPECT_FAILS(coro_read(notfd, buf, sizeof buf, CORO_FOREVER), EBADF);
    EXPECT_FAILS(coro_read(notfd, buf, sizeof buf, SHORT), EBADF);
    make_pipe(p);
    EXPECT_FAILS(coro_read(p[0], NULL, 1, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_read(p[1], buf, sizeof buf, CORO_FOREVER), EBADF); /* the write end */
    EXPECT(coro_fd_close(p[0]) == 0);
    EXPECT(coro_fd_close(p[1]) == 0);
}

static void *
task_read_errors(void *arg)
{
    (void)arg;
    read_error_checks();
    ev("done");
    return NULL;
}

START_TEST(test_read_errors)
{
    read_error_checks();
    ASSERT_TASKS_OK();
    spawn(task_read_errors, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    teardown();
}
END_TEST

/* While a read and a write wait, another task uses an fd of a much higher
 * number, which grows the scheduler's table of fds: the waiting calls
 * carry on (valgrind and ASan see it if they use the old table). */
static int grow_rd[2], grow_wr[2];

static void *
grow_reader(void *arg)
{
    char buf[8];

    (void)arg;
    ev("read");
    EXPECT(coro_read(grow_rd[0], buf, sizeof buf, CORO_FOREVER) == 2 && memcmp(buf, "hi", 2) == 0);
    ev("got");
    return NULL;
}

static void *
grow_writer(void *arg)
{
    static char chunk[256 * 1024];

    (void)arg;
    ev("write");
    EXPECT(coro_write(grow_wr[0], chunk, sizeof chunk, CORO_FOREVER) == sizeof chunk);
    ev("wrote");
    return NULL;
}

static void *
grower(void *arg)
{
    int hi = fcntl(grow_rd[1], F_DUPFD_CLOEXEC, 900);
    size_t total = 0, n;

    (void)arg;
    EXPECT(hi >= 900);
    EXPECT(coro_fd_wait(hi, CORO_OUT, CORO_FOREVER) == CORO_OUT);
    EXPECT(coro_fd_close(hi) == 0);
    EXPECT(write(grow_rd[1], "hi", 2) == 2);
    while (total < sizeof(char[256 * 1024])) {
        EXPECT(coro_sleep(CORO_MSEC(1)) == 0);
        n = drain(grow_wr[1]);
        total += n;
    }
    EXPECT(total == 256 * 1024);
    return NULL;
}

START_TEST(test_read_write_table_grows)
{
    make_pair(grow_rd);
    make_small_pair(grow_wr);
    spawn(grow_reader, NULL);
    spawn(grow_writer, NULL);
    spawn(grower, NULL);
    run();
    ck_assert(strcmp(evlog, "read write got wrote") == 0 || strcmp(evlog, "read write wrote got") == 0);
    ck_assert_int_eq(coro_fd_close(grow_rd[0]), 0);
    ck_assert_int_eq(coro_fd_close(grow_rd[1]), 0);
    ck_assert_int_eq(coro_fd_close(grow_wr[0]), 0);
    ck_assert_int_eq(coro_fd_close(grow_wr[1]), 0);
    teardown();
}
END_TEST

/* Outside any task, a read blocks the thread until the data comes. */
START_TEST(test_read_blocks_thread)
{
    int sv[2], p[2];
    struct later l;
    char c;
    int64_t t0;

    make_pair(sv);
    t0 = coro_now();
    later_start(&l, sv[1], SHORT);
    ck_assert_int_eq(coro_read(sv[0], &c, 1, CORO_FOREVER), 1);
    ck_assert_int_ge(coro_now() - t0, SHORT);
    ck_assert_int_eq(c, '!');
    later_join(&l);
    make_pipe(p);
    t0 = coro_now();
    later_start(&l, p[1], SHORT);
    ck_assert_int_eq(coro_read(p[0], &c, 1, CORO_MSEC(20000)), 1);
    ck_assert_int_ge(coro_now() - t0, SHORT);
    later_join(&l);
    ck_assert_int_eq(coro_fd_close(sv[0]), 0);
    ck_assert_int_eq(coro_fd_close(sv[1]), 0);
    ck_assert_int_eq(coro_fd_close(p[0]), 0);
    ck_assert_int_eq(coro_fd_close(p[1]), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_write                                                              */

enum { BIG = 512 * 1024 };
static unsigned char *bigbuf;

static void
big_setup(void)
{
    setup();
    bigbuf = malloc(BIG);
    ck_assert_ptr_nonnull(bigbuf);
    for (size_t i = 0; i < BIG; i++)
        bigbuf[i] = pattern(1, i);
}

static void
big_teardown(void)
{
    free(bigbuf);
    bigbuf = NULL;
    teardown();
}

/* All the bytes, across many waits, for a reader slower than the writer. */
static int wr_fd[2];
static size_t wr_capacity, reads_before_done, reads_total, bytes_read;
static int write_returned;

static void *
big_writer(void *arg)
{
    (void)arg;
    EXPECT(coro_write(wr_fd[1], bigbuf, BIG, CORO_FOREVER) == BIG);
    reads_before_done = reads_total;
    write_returned = 1;
    EXPECT(coro_fd_close(wr_fd[1]) == 0);
    return NULL;
}

static void *
slow_reader(void *arg)
{
    unsigned char buf[1024];
    ssize_t n;
    size_t off = 0;
    long bad_at = -1;

    (void)arg;
    while ((n = coro_read(wr_fd[0], buf, sizeof buf, CORO_FOREVER)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (bad_at < 0 && buf[i] != pattern(1, off + (size_t)i))
                bad_at = (long)(off + (size_t)i);
        off += (size_t)n;
        if (++reads_total % 16 == 0)
            EXPECT(coro_sleep(CORO_MSEC(1)) == 0);
        else
            EXPECT(coro_sched_yield() == 0);
    }
    EXPECT(n == 0);
    EXPECT(bad_at == -1);
    bytes_read = off;
    return NULL;
}

static void
check_big_transfer(void)
{
    ASSERT_TASKS_OK();
    ck_assert_int_eq(write_returned, 1);
    ck_assert_uint_eq(bytes_read, BIG);
    /* The writer could not have written it all without waiting for the
     * reader many times. */
    ck_assert_uint_gt(wr_capacity, 0);
    ck_assert_uint_lt(wr_capacity, BIG / 16);
    ck_assert_uint_ge(reads_before_done, (BIG - 4 * wr_capacity) / 1024);
}

START_TEST(test_write_all_slow_reader)
{
    int probe[2];

    reads_total = reads_before_done = bytes_read = 0;
    write_returned = 0;
    make_small_pair(probe);
    wr_capacity = fill(probe[0]);
    ck_assert_int_eq(coro_fd_close(probe[0]), 0);
    ck_assert_int_eq(coro_fd_close(probe[1]), 0);
    /* wr_fd[1] writes, wr_fd[0] reads. */
    make_small_pair(probe);
    wr_fd[0] = probe[1];
    wr_fd[1] = probe[0];
    spawn(slow_reader, NULL);
    spawn(big_writer, NULL);
    run();
    check_big_transfer();
    ck_assert_int_eq(coro_fd_close(wr_fd[0]), 0);
    big_teardown();
}
END_TEST

START_TEST(test_write_all_pipe)
{
    int p[2];

    reads_total = reads_before_done = bytes_read = 0;
    write_returned = 0;
    make_pipe(p);
    ck_assert_int_gt(fcntl(p[1], F_SETPIPE_SZ, 4096), 0);
    wr_capacity = (size_t)fcntl(p[1], F_GETPIPE_SZ);
    wr_fd[0] = p[0];
    wr_fd[1] = p[1];
    spawn(slow_reader, NULL);
    spawn(big_writer, NULL);
    run();
    check_big_transfer();
    ck_assert_int_eq(coro_fd_close(wr_fd[0]), 0);
    big_teardown();
}
END_TEST

/* A short count when the deadline comes after some bytes; -1 when it comes
 * before any; 0 does not wait. */
static void
write_timeout_checks(void)
{
    int sv[2];
    int64_t t0;
    ssize_t n;

    make_small_pair(sv);
    t0 = coro_now();
    n = coro_write(sv[0], bigbuf, BIG, SHORT);
    EXPECT(n > 0 && n < BIG);
    EXPECT(coro_now() - t0 >= SHORT);
    t0 = coro_now();
    EXPECT_FAILS(coro_write(sv[0], bigbuf, BIG, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT_FAILS(coro_write(sv[0], bigbuf, BIG, 0), EAGAIN);
    EXPECT(drain(sv[1]) == (size_t)n);
    n = coro_write(sv[0], bigbuf, BIG, 0);
    EXPECT(n > 0 && n < BIG);
    EXPECT(drain(sv[1]) == (size_t)n);
    EXPECT(coro_fd_close(sv[0]) == 0);
    EXPECT(coro_fd_close(sv[1]) == 0);
}

static void *
task_write_timeout(void *arg)
{
    (void)arg;
    write_timeout_checks();
    ev("done");
    return NULL;
}

START_TEST(test_write_timeout)
{
    write_timeout_checks();
    ASSERT_TASKS_OK();
    spawn(task_write_timeout, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    big_teardown();
}
END_TEST

/* A reader gone: EPIPE, never SIGPIPE, for a socket and for a pipe; the
 * signal mask is left as it was. */
static volatile sig_atomic_t sigpipes;

static void
on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static void
epipe_checks(void)
{
    int sv[2], p[2];
    sigset_t mask, pending;

    make_pair(sv);
    EXPECT(close(sv[1]) == 0);
    EXPECT_FAILS(coro_write(sv[0], "x", 1, CORO_FOREVER), EPIPE);
    EXPECT_FAILS(coro_write(sv[0], bigbuf, BIG, 0), EPIPE);
    EXPECT(coro_fd_close(sv[0]) == 0);
    make_pipe(p);
    EXPECT(close(p[0]) == 0);
    EXPECT_FAILS(coro_write(p[1], "x", 1, CORO_FOREVER), EPIPE);
    EXPECT_FAILS(coro_write(p[1], bigbuf, BIG, SHORT), EPIPE);
    EXPECT(coro_fd_close(p[1]) == 0);
    EXPECT(sigpipes == 0);
    EXPECT(sigpending(&pending) == 0 && !sigismember(&pending, SIGPIPE));
    EXPECT(pthread_sigmask(SIG_SETMASK, NULL, &mask) == 0 && !sigismember(&mask, SIGPIPE));
}

static void *
task_epipe(void *arg)
{
    (void)arg;
    epipe_checks();
    ev("done");
    return NULL;
}

/* A short count when the reader goes after some bytes, then EPIPE. */
static int psv[2];
static ssize_t partial;

static void *
writer_to_quitter(void *arg)
{
    (void)arg;
    partial = coro_write(psv[0], bigbuf, BIG, CORO_FOREVER);
    EXPECT_FAILS(coro_write(psv[0], bigbuf, BIG, CORO_FOREVER), EPIPE);
    EXPECT(coro_fd_close(psv[0]) == 0);
    return NULL;
}

static void *
reader_quits(void *arg)
{
    char buf[1000];
    ssize_t n;

    (void)arg;
    EXPECT((n = coro_read(psv[1], buf, sizeof buf, CORO_FOREVER)) > 0);
    EXPECT(n > 0 && memcmp(buf, bigbuf, (size_t)n) == 0);
    EXPECT(coro_fd_close(psv[1]) == 0);
    return NULL;
}

START_TEST(test_write_epipe)
{
    struct sigaction sa = {.sa_handler = on_sigpipe}, old;

    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGPIPE, &sa, &old), 0);
    sigpipes = 0;
    partial = 0;
    epipe_checks();
    ASSERT_TASKS_OK();
    spawn(task_epipe, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    make_small_pair(psv);
    spawn(writer_to_quitter, NULL);
    spawn(reader_quits, NULL);
    run();
    ck_assert_int_gt(partial, 0);
    ck_assert_int_lt(partial, BIG);
    ck_assert_int_eq(sigpipes, 0);
    /* SIGPIPE already pending and blocked by the caller stays pending. */
    {
        sigset_t set, pending;
        int p[2];

        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
        ck_assert_int_eq(raise(SIGPIPE), 0);
        make_pipe(p);
        ck_assert_int_eq(close(p[0]), 0);
        ASSERT_FAILS(coro_write(p[1], "x", 1, CORO_FOREVER), EPIPE);
        ck_assert_int_eq(sigpending(&pending), 0);
        ck_assert(sigismember(&pending, SIGPIPE));
        ck_assert_int_eq(sigpipes, 0);
        ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &set, NULL), 0);
        ck_assert_int_eq(sigpipes, 1); /* the caller's own, delivered now */
        ck_assert_int_eq(coro_fd_close(p[1]), 0);
    }
    ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
    big_teardown();
}
END_TEST

static void
write_error_checks(void)
{
    int p[2], notfd = closed_fd();

    EXPECT_FAILS(coro_write(-1, "x", 1, 0), EBADF);
    EXPECT_FAILS(coro_write(notfd, "x", 1, CORO_FOREVER), EBADF);
    make_pipe(p);
    EXPECT_FAILS(coro_write(p[1], NULL, 1, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_write(p[1], "x", (size_t)SSIZE_MAX + 1, CORO_FOREVER), EINVAL);
    EXPECT_FAILS(coro_write(p[0], "x", 1, CORO_FOREVER), EBADF); /* the read end */
    EXPECT(coro_write(p[1], "x", 0, 0) == 0);
    EXPECT(coro_write(p[1], NULL, 0, 0) == 0);
    EXPECT(coro_fd_close(p[0]) == 0);
    EXPECT(coro_fd_close(p[1]) == 0);
}

static void *
task_write_errors(void *arg)
{
    (void)arg;
    write_error_checks();
    ev("done");
    return NULL;
}

START_TEST(test_write_errors)
{
    write_error_checks();
    ASSERT_TASKS_OK();
    spawn(task_write_errors, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    teardown();
}
END_TEST

/* Outside any task, a write blocks the thread until a reader makes room. */
static void *
reads_all_later(void *arg)
{
    int fd = (int)VI(arg);
    struct timespec ts = {0, 30 * 1000000};
    size_t total = 0;
    unsigned char buf[4096];
    ssize_t n;

    nanosleep(&ts, NULL);
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(1, total + (size_t)i))
                return IV(-1);
        total += (size_t)n;
    }
    return IV(total);
}

START_TEST(test_write_blocks_thread)
{
    int sv[2];
    pthread_t th;
    void *r;
    int64_t t0 = coro_now();

    make_small_pair(sv);
    ck_assert_int_eq(pthread_create(&th, NULL, reads_all_later, IV(sv[1])), 0);
    ck_assert_int_eq(coro_write(sv[0], bigbuf, BIG, CORO_FOREVER), BIG);
    ck_assert_int_ge(coro_now() - t0, SHORT);
    ck_assert_int_eq(coro_fd_close(sv[0]), 0);
    ck_assert_int_eq(pthread_join(th, &r), 0);
    ck_assert_int_eq(VI(r), BIG);
    ck_assert_int_eq(coro_fd_close(sv[1]), 0);
    big_teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_accept, coro_connect                                               */

static int alfd, aport, aclient, aserver;
static struct sockaddr_storage apeer;
static socklen_t apeerlen;

static void *
acceptor(void *arg)
{
    int64_t t0 = coro_now();

    (void)arg;
    ev("accept");
    apeerlen = sizeof apeer; /* the kernel says how much it used */
    aserver = coro_accept(alfd, (struct sockaddr *)&apeer, &apeerlen, CORO_FOREVER);
    EXPECT(aserver >= 0);
    EXPECT(coro_now() - t0 >= SHORT);
    ev("accepted");
    return NULL;
}

static void *
connector(void *arg)
{
    struct sockaddr_in sin = loopback(aport);

    (void)arg;
    EXPECT(coro_sleep(SHORT) == 0);
    aclient = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* blocking */
    EXPECT(aclient >= 0);
    ev("connect");
    EXPECT(coro_connect(aclient, (struct sockaddr *)&sin, sizeof sin, CORO_FOREVER) == 0);
    ev("connected");
    return NULL;
}

static void
check_accepted(void)
{
    char buf[8];

    ck_assert_int_ge(aserver, 0);
    ck_assert_int_ge(aclient, 0);
    /* Non-blocking and close-on-exec. */
    ck_assert(fcntl(aserver, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(aserver, F_GETFD) & FD_CLOEXEC);
    /* The peer's address. */
    ck_assert_uint_eq(apeerlen, sizeof(struct sockaddr_in));
    ck_assert_int_eq(apeer.ss_family, AF_INET);
    ck_assert_uint_eq(ntohl(((struct sockaddr_in *)&apeer)->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&apeer)->sin_port), port_of(aclient));
    /* Connected to each other. */
    ck_assert_int_eq(coro_write(aclient, "ping", 4, CORO_FOREVER), 4);
    ck_assert_int_eq(coro_read(aserver, buf, sizeof buf, CORO_FOREVER), 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    ck_assert_int_eq(coro_fd_close(aclient), 0);
    ck_assert_int_eq(coro_fd_close(aserver), 0);
}

START_TEST(test_accept_connect)
{
    alfd = listener(&aport);
    spawn(acceptor, NULL);
    spawn(connector, NULL);
    run();
    /* Both ends complete together: in either order. */
    ck_assert_msg(strcmp(evlog, "accept connect connected accepted") == 0 ||
                      strcmp(evlog, "accept connect accepted connected") == 0,
                  "%s", evlog);
    /* coro_connect() made the socket non-blocking. */
    ck_assert(fcntl(aclient, F_GETFL) & O_NONBLOCK);
    check_accepted();
    /* Outside any task: a connect completes (the kernel queues the
     * connection), then the accept. */
    {
        struct sockaddr_in sin = loopback(aport);

        aclient = tcp_socket();
        ck_assert_int_eq(coro_connect(aclient, (struct sockaddr *)&sin, sizeof sin, CORO_FOREVER), 0);
        apeerlen = sizeof apeer;
        aserver = coro_accept(alfd, (struct sockaddr *)&apeer, &apeerlen, SHORT);
        check_accepted();
    }
    /* NULL address: nothing said of the peer. */
    aclient = coro_tcp_dial("127.0.0.1", aport, CORO_FOREVER);
    ck_assert_int_ge(aclient, 0);
    aserver = coro_accept(alfd, NULL, NULL, CORO_FOREVER);
    ck_assert_int_ge(aserver, 0);
    ck_assert(fcntl(aserver, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(aserver, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(coro_fd_close(aclient), 0);
    ck_assert_int_eq(coro_fd_close(aserver), 0);
    ck_assert_int_eq(coro_fd_close(alfd), 0);
    teardown();
}
END_TEST

static void
accept_error_checks(int lfd)
{
    int p[2], fd = tcp_socket();
    int64_t t0 = coro_now();

    EXPECT_FAILS(coro_accept(lfd, NULL, NULL, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT_FAILS(coro_accept(lfd, NULL, NULL, 0), EAGAIN);
    EXPECT_FAILS(coro_accept(-1, NULL, NULL, 0), EBADF);
    EXPECT_FAILS(coro_accept(closed_fd(), NULL, NULL, CORO_FOREVER), EBADF);
    EXPECT_FAILS(coro_accept(fd, NULL, NULL, CORO_FOREVER), EINVAL); /* not listening */
    make_pipe(p);
    EXPECT_FAILS(coro_accept(p[0], NULL, NULL, CORO_FOREVER), ENOTSOCK);
    EXPECT(coro_fd_close(p[0]) == 0);
    EXPECT(coro_fd_close(p[1]) == 0);
    EXPECT(coro_fd_close(fd) == 0);
}

static int errlfd;

static void *
task_accept_errors(void *arg)
{
    (void)arg;
    accept_error_checks(errlfd);
    ev("done");
    return NULL;
}

START_TEST(test_accept_errors)
{
    int port;

    errlfd = listener(&port);
    accept_error_checks(errlfd);
    ASSERT_TASKS_OK();
    spawn(task_accept_errors, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    ck_assert_int_eq(coro_fd_close(errlfd), 0);
    teardown();
}
END_TEST

static void
connect_error_checks(int refused_port, int stalled_port)
{
    struct sockaddr_in sin = loopback(refused_port);
    int fd = tcp_socket();
    int64_t t0;

    EXPECT_FAILS(coro_connect(fd, (struct sockaddr *)&sin, sizeof sin, CORO_FOREVER), ECONNREFUSED);
    EXPECT(coro_fd_close(fd) == 0);
    fd = tcp_socket();
    EXPECT_FAILS(coro_connect(fd, (struct sockaddr *)&sin, sizeof sin, CORO_MSEC(10000)), ECONNREFUSED);
    EXPECT(coro_fd_close(fd) == 0);
    sin = loopback(stalled_port);
    fd = tcp_socket();
    t0 = coro_now();
    EXPECT_FAILS(coro_connect(fd, (struct sockaddr *)&sin, sizeof sin, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT(coro_fd_close(fd) == 0);
    fd = tcp_socket();
    EXPECT_FAILS(coro_connect(fd, (struct sockaddr *)&sin, sizeof sin, 0), EAGAIN);
    EXPECT(coro_fd_close(fd) == 0);
    EXPECT_FAILS(coro_connect(-1, (struct sockaddr *)&sin, sizeof sin, 0), EBADF);
    EXPECT_FAILS(coro_connect(closed_fd(), (struct sockaddr *)&sin, sizeof sin, 0), EBADF);
}

static struct stall stall;
static int refused;

static void *
task_connect_errors(void *arg)
{
    (void)arg;
    connect_error_checks(refused, stall.port);
    ev("done");
    return NULL;
}

START_TEST(test_connect_errors)
{
    refused = closed_port();
    stall_make(&stall);
    connect_error_checks(refused, stall.port);
    ASSERT_TASKS_OK();
    spawn(task_connect_errors, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    stall_free(&stall);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_tcp_listen, coro_tcp_dial                                          */

/* Dial host:port and check that lfd accepts that connection. */
static void
dial_and_accept(int lfd, const char *host, int port)
{
    int c = coro_tcp_dial(host, port, CORO_FOREVER), s;
    char buf[4];

    ck_assert_msg(c >= 0, "dial %s port %d: %s", host, port, strerror(errno));
    s = coro_accept(lfd, NULL, NULL, CORO_MSEC(10000));
    ck_assert_msg(s >= 0, "accept from %s: %s", host, strerror(errno));
    ck_assert_int_eq(coro_write(c, "hey", 3, CORO_FOREVER), 3);
    ck_assert_int_eq(coro_read(s, buf, sizeof buf, CORO_FOREVER), 3);
    ck_assert_int_eq(memcmp(buf, "hey", 3), 0);
    ck_assert_int_eq(coro_fd_close(c), 0);
    ck_assert_int_eq(coro_fd_close(s), 0);
}

static void
check_listening(int fd)
{
    int on = 0;
    socklen_t len = sizeof on;

    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
    ck_assert_int_eq(on, 1);
    ck_assert_int_gt(port_of(fd), 0);
}

START_TEST(test_listen_hosts)
{
    int fd, port, v6 = have_ipv6();

    /* Numeric IPv4, port 0: an ephemeral port. */
    fd = coro_tcp_listen("127.0.0.1", 0, 0, 0);
    check_listening(fd);
    ck_assert_int_eq(family_of(fd), AF_INET);
    port = port_of(fd);
    dial_and_accept(fd, "127.0.0.1", port);
    ck_assert_int_eq(coro_fd_close(fd), 0);
    /* That port again, by number (SO_REUSEADDR: even right after). */
    fd = coro_tcp_listen("127.0.0.1", port, 16, 0);
    check_listening(fd);
    ck_assert_int_eq(port_of(fd), port);
    dial_and_accept(fd, "127.0.0.1", port);
    ck_assert_int_eq(coro_fd_close(fd), 0);
    /* Every address: IPv4 clients too, and IPv6 ones where there is IPv6. */
    fd = coro_tcp_listen(NULL, 0, -1, 0);
    check_listening(fd);
    port = port_of(fd);
    dial_and_accept(fd, "127.0.0.1", port);
    dial_and_accept(fd, "localhost", port);
    if (v6) {
        ck_assert_int_eq(family_of(fd), AF_INET6);
        dial_and_accept(fd, "::1", port);
    }
    ck_assert_int_eq(coro_fd_close(fd), 0);
    /* A name. */
    fd = coro_tcp_listen("localhost", 0, 0, 0);
    check_listening(fd);
    port = port_of(fd);
    dial_and_accept(fd, family_of(fd) == AF_INET6 ? "::1" : "127.0.0.1", port);
    ck_assert_int_eq(coro_fd_close(fd), 0);
    /* Numeric IPv6. */
    if (v6) {
        fd = coro_tcp_listen("::1", 0, 0, 0);
        check_listening(fd);
        ck_assert_int_eq(family_of(fd), AF_INET6);
        dial_and_accept(fd, "::1", port_of(fd));
        ck_assert_int_eq(coro_fd_close(fd), 0);
    } else {
        fprintf(stderr, "test-io: no IPv6 loopback, \"::1\" not tested\n");
    }
    teardown();
}
END_TEST

START_TEST(test_listen_reuseport)
{
    int a, b, port;

    a = coro_tcp_listen("127.0.0.1", 0, 0, CORO_REUSEPORT);
    check_listening(a);
    port = port_of(a);
    b = coro_tcp_listen("127.0.0.1", port, 0, CORO_REUSEPORT);
    check_listening(b);
    ck_assert_int_eq(port_of(b), port);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", port, 0, 0), EADDRINUSE);
    ck_assert_int_eq(coro_fd_close(a), 0);
    ck_assert_int_eq(coro_fd_close(b), 0);
    /* Without the flag, a second one on the port is refused, even with it. */
    a = coro_tcp_listen("127.0.0.1", 0, 0, 0);
    check_listening(a);
    port = port_of(a);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", port, 0, 0), EADDRINUSE);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", port, 0, CORO_REUSEPORT), EADDRINUSE);
    ck_assert_int_eq(coro_fd_close(a), 0);
    teardown();
}
END_TEST

static int
nonlocal_bind(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_nonlocal_bind", "r");
    int on = 0;

    if (f) {
        if (fscanf(f, "%d", &on) != 1)
            on = 0;
        fclose(f);
    }
    return on;
}

START_TEST(test_listen_errors)
{
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", -1, 0, 0), EINVAL);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", 65536, 0, 0), EINVAL);
    ASSERT_FAILS(coro_tcp_listen(NULL, 1 << 20, 0, 0), EINVAL);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", 0, 0, 2), EINVAL);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", 0, 0, -1), EINVAL);
    ASSERT_FAILS(coro_tcp_listen("127.0.0.1", 0, 0, CORO_REUSEPORT | 4), EINVAL);
    /* No such name (getaddrinfo's EAI_NONAME), without asking DNS. */
    ASSERT_FAILS(coro_tcp_listen("", 0, 0, 0), EADDRNOTAVAIL);
    /* An address that is not this machine's (TEST-NET-3), unless the
     * system lets programs bind to any address. */
    if (!nonlocal_bind())
        ASSERT_FAILS(coro_tcp_listen("203.0.113.1", 0, 0, 0), EADDRNOTAVAIL);
    teardown();
}
END_TEST

static void
dial_checks(int lfd, int port, int refused_port, int stalled_port)
{
    int fd, s;
    int64_t t0;
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;

    fd = coro_tcp_dial("127.0.0.1", port, CORO_MSEC(10000));
    EXPECT(fd >= 0);
    EXPECT(fcntl(fd, F_GETFL) & O_NONBLOCK);
    EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    EXPECT(getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && ntohs(peer.sin_port) == port);
    EXPECT((s = coro_accept(lfd, NULL, NULL, CORO_MSEC(10000))) >= 0);
    EXPECT(coro_fd_close(s) == 0);
    EXPECT(coro_fd_close(fd) == 0);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", refused_port, CORO_FOREVER), ECONNREFUSED);
    EXPECT_FAILS(coro_tcp_dial("localhost", refused_port, CORO_MSEC(10000)), ECONNREFUSED);
    t0 = coro_now();
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", stalled_port, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", stalled_port, 0), EAGAIN);
    EXPECT_FAILS(coro_tcp_dial(NULL, port, 0), EINVAL);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", 0, 0), EINVAL);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", -1, 0), EINVAL);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", 65536, 0), EINVAL);
    EXPECT_FAILS(coro_tcp_dial("", port, CORO_FOREVER), EADDRNOTAVAIL);
}

static int dial_lfd, dial_port;

static void *
task_dial(void *arg)
{
    (void)arg;
    dial_checks(dial_lfd, dial_port, refused, stall.port);
    ev("done");
    return NULL;
}

START_TEST(test_dial)
{
    dial_lfd = listener(&dial_port);
    refused = closed_port();
    stall_make(&stall);
    dial_checks(dial_lfd, dial_port, refused, stall.port);
    ASSERT_TASKS_OK();
    spawn(task_dial, NULL);
    run();
    ck_assert_str_eq(evlog, "done");
    stall_free(&stall);
    ck_assert_int_eq(coro_fd_close(dial_lfd), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* In a plain coroutine                                                    */

/* What a coroutine that a task resumed does: EPERM when it would wait,
 * the result when it need not. */
struct gen_fds {
    int sv[2], lfd, stalled_port;
};

static void *
gen_io(void *arg)
{
    struct gen_fds *g = arg;
    struct sockaddr_in sin = loopback(g->stalled_port);
    char buf[8];
    int fd;

    EXPECT(coro_sched_self() == NULL);
    /* Nothing to read. */
    EXPECT_FAILS(coro_fd_wait(g->sv[0], CORO_IN, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_fd_wait(g->sv[0], CORO_IN, SHORT), EPERM);
    EXPECT_FAILS(coro_fd_wait(g->sv[0], CORO_IN, 0), EAGAIN);
    EXPECT_FAILS(coro_read(g->sv[0], buf, sizeof buf, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_read(g->sv[0], buf, sizeof buf, SHORT), EPERM);
    EXPECT_FAILS(coro_read(g->sv[0], buf, sizeof buf, 0), EAGAIN);
    EXPECT_FAILS(coro_accept(g->lfd, NULL, NULL, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_accept(g->lfd, NULL, NULL, 0), EAGAIN);
    fd = tcp_socket();
    EXPECT_FAILS(coro_connect(fd, (struct sockaddr *)&sin, sizeof sin, CORO_FOREVER), EPERM);
    EXPECT(coro_fd_close(fd) == 0);
    EXPECT_FAILS(coro_tcp_dial("127.0.0.1", g->stalled_port, SHORT), EPERM);
    /* Ready now: no wait, it works. */
    EXPECT(coro_fd_wait(g->sv[0], CORO_OUT, CORO_FOREVER) == CORO_OUT);
    EXPECT(coro_fd_wait(g->sv[0], CORO_IN | CORO_OUT, SHORT) == CORO_OUT);
    EXPECT(coro_write(g->sv[1], "gen", 3, CORO_FOREVER) == 3);
    EXPECT(coro_fd_wait(g->sv[0], CORO_IN, CORO_FOREVER) == CORO_IN);
    EXPECT(coro_read(g->sv[0], buf, sizeof buf, CORO_FOREVER) == 3);
    /* No room to write. */
    fill(g->sv[0]);
    EXPECT_FAILS(coro_write(g->sv[0], "x", 1, CORO_FOREVER), EPERM);
    EXPECT_FAILS(coro_write(g->sv[0], "x", 1, 0), EAGAIN);
    EXPECT_FAILS(coro_fd_wait(g->sv[0], CORO_OUT, SHORT), EPERM);
    drain(g->sv[1]);
    ev("gen");
    return NULL;
}

/* Two levels down: still under the task. */
static void *
gen_outer(void *arg)
{
    coro_t *inner = coro_create(gen_io, arg, 0);

    EXPECT(inner != NULL && coro_resume(inner, NULL, NULL) == 1);
    EXPECT(coro_destroy(inner) == 0);
    return NULL;
}

static void *
task_runs_gens(void *arg)
{
    coro_t *g = coro_create(gen_io, arg, 0);

    EXPECT(g != NULL && coro_resume(g, NULL, NULL) == 1);
    EXPECT(coro_destroy(g) == 0);
    g = coro_create(gen_outer, arg, 0);
    EXPECT(g != NULL && coro_resume(g, NULL, NULL) == 1);
    EXPECT(coro_destroy(g) == 0);
    return NULL;
}

/* A coroutine that the thread's own stack resumed is under no task: it
 * blocks the thread, with timeouts. */
static void *
gen_blocks(void *arg)
{
    struct gen_fds *g = arg;
    char buf[8];
    int64_t t0 = coro_now();

    EXPECT_FAILS(coro_fd_wait(g->sv[0], CORO_IN, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    t0 = coro_now();
    EXPECT_FAILS(coro_read(g->sv[0], buf, sizeof buf, SHORT), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= SHORT);
    EXPECT_FAILS(coro_accept(g->lfd, NULL, NULL, SHORT), ETIMEDOUT);
    ev("blocked");
    return NULL;
}

START_TEST(test_coroutine)
{
    struct gen_fds g;
    coro_t *co;
    int port;

    make_small_pair(g.sv);
    g.lfd = listener(&port);
    stall_make(&stall);
    g.stalled_port = stall.port;
    spawn(task_runs_gens, &g);
    run();
    ck_assert_str_eq(evlog, "gen gen");
    co = coro_create(gen_blocks, &g, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(evlog, "gen gen blocked");
    stall_free(&stall);
    ck_assert_int_eq(coro_fd_close(g.lfd), 0);
    ck_assert_int_eq(coro_fd_close(g.sv[0]), 0);
    ck_assert_int_eq(coro_fd_close(g.sv[1]), 0);
    teardown();
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The scheduler                                                           */

/* Tasks that all wait on fds with timeouts: the scheduler sleeps until
 * the deadlines, without using the CPU, and the waits time out. */
static int idle_fds[3][2];

static void *
idle_reader(void *arg)
{
    long i = VI(arg);
    char c;
    int64_t t0 = coro_now(), timeout = CORO_MSEC(100) * (i + 1);

    if (i == 2)
        EXPECT_FAILS(coro_fd_wait(idle_fds[i][0], CORO_IN, timeout), ETIMEDOUT);
    else
        EXPECT_FAILS(coro_read(idle_fds[i][0], &c, 1, timeout), ETIMEDOUT);
    EXPECT(coro_now() - t0 >= timeout);
    ev("r%ld", i);
    return NULL;
}

/* The same waits, briefly, so that what is measured next runs code that
 * ran before (valgrind translates code the first time it runs). */
static void *
warm_up(void *arg)
{
    int *fds = arg;
    char c;

    EXPECT_FAILS(coro_read(fds[0], &c, 1, CORO_MSEC(2)), ETIMEDOUT);
    EXPECT_FAILS(coro_fd_wait(fds[0], CORO_IN, CORO_MSEC(2)), ETIMEDOUT);
    return NULL;
}

START_TEST(test_idle_sleeps)
{
    int64_t t0, cpu0;

    make_pair(idle_fds[0]);
    make_pipe(idle_fds[1]);
    make_pair(idle_fds[2]);
    spawn(warm_up, idle_fds[1]);
    spawn(warm_up, idle_fds[2]);
    run();
    for (long i = 2; i >= 0; i--)
        spawn(idle_reader, IV(i));
    t0 = coro_now();
    cpu0 = cpu_now();
    run();
    ck_assert_int_ge(coro_now() - t0, CORO_MSEC(300));
    /* Asleep, not spinning: a fraction of the 300 ms on the CPU. */
    ck_assert_int_lt(cpu_now() - cpu0, CORO_MSEC(150));
    ck_assert_str_eq(evlog, "r0 r1 r2");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(coro_fd_close(idle_fds[i][0]), 0);
        ck_assert_int_eq(coro_fd_close(idle_fds[i][1]), 0);
    }
    teardown();
}
END_TEST

/* Tasks that all wait on fds for ever are not deadlocked: the scheduler
 * sleeps until an fd is ready, here because another thread wrote. */
static int fever[2];

static void *
forever_reader(void *arg)
{
    char c;

    (void)arg;
    EXPECT(coro_read(fever[0], &c, 1, CORO_FOREVER) == 1 && c == '!');
    ev("read");
    return NULL;
}

START_TEST(test_forever_not_deadlock)
{
    struct later l;
    int64_t t0, cpu0;

    make_pair(fever);
    spawn(warm_up, fever);
    run();
    spawn(forever_reader, NULL);
    t0 = coro_now();
    cpu0 = cpu_now();
    later_start(&l, fever[1], CORO_MSEC(200));
    run();
    ck_assert_int_ge(coro_now() - t0, CORO_MSEC(200));
    ck_assert_int_lt(cpu_now() - cpu0, CORO_MSEC(100));
    later_join(&l);
    ck_assert_str_eq(evlog, "read");
    ck_assert_int_eq(coro_fd_close(fever[0]), 0);
    ck_assert_int_eq(coro_fd_close(fever[1]), 0);
    teardown();
}
END_TEST

/* Once the fd waits are over, tasks blocked on something else are
 * deadlocked again: EDEADLK, and coro_sched_destroy() closes them. */
static coro_chan_t *dead_chan;
static int dead_fd[2];

static void *
blocks_on_chan(void *arg)
{
    int v;

    (void)arg;
    EXPECT(coro_chan_recv(dead_chan, &v) == -1);
    return NULL;
}

static void *
fd_waits_then_ends(void *arg)
{
    char c;

    (void)arg;
    EXPECT_FAILS(coro_read(dead_fd[0], &c, 1, SHORT), ETIMEDOUT);
    EXPECT(coro_write(dead_fd[1], "d", 1, CORO_FOREVER) == 1);
    EXPECT(coro_read(dead_fd[0], &c, 1, CORO_FOREVER) == 1);
    ev("fd-done");
    return NULL;
}

START_TEST(test_deadlock_after_fd_waits)
{
    dead_chan = coro_chan_create(sizeof(int), 0);
    ck_assert_ptr_nonnull(dead_chan);
    make_pair(dead_fd);
    spawn(blocks_on_chan, NULL);
    spawn(fd_waits_then_ends, NULL);
    ASSERT_FAILS(coro_sched_run(sched), EDEADLK);
    ck_assert_str_eq(evlog, "fd-done");
    ck_assert_int_eq(coro_fd_close(dead_fd[0]), 0);
    ck_assert_int_eq(coro_fd_close(dead_fd[1]), 0);
    teardown();
    ck_assert_int_eq(coro_chan_destroy(dead_chan), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Many connections                                                        */

enum { PAIRS = 200, STREAM = 32 * 1024 };

struct conn {
    long id;
    int fd;
    size_t echoed; /* bytes the client read back, all checked */
    int ok;
};

static struct conn conns[PAIRS];
static int many_lfd, many_port, accepted;

/* The server side of one connection: echo until the end of the stream. */
static void *
echo_server(void *arg)
{
    int fd = (int)VI(arg);
    char buf[1500];
    ssize_t n;

    while ((n = coro_read(fd, buf, sizeof buf, CORO_FOREVER)) > 0)
        if (coro_write(fd, buf, (size_t)n, CORO_FOREVER) != n) {
            bad("echo write: %s", strerror(errno));
            break;
        }
    EXPECT(n == 0);
    EXPECT(coro_fd_close(fd) == 0);
    return NULL;
}

static void *
accept_loop(void *arg)
{
    (void)arg;
    while (accepted < PAIRS) {
        int fd = coro_accept(many_lfd, NULL, NULL, CORO_FOREVER);

        if (fd < 0) {
            bad("accept: %s", strerror(errno));
            return NULL;
        }
        accepted++;
        EXPECT(coro_spawn(sched, echo_server, IV(fd), 0) == 0);
    }
    return NULL;
}

/* A client's writer: the stream in chunks of varying size, then the end. */
static void *
client_writer(void *arg)
{
    struct conn *c = arg;
    unsigned char buf[4096];
    unsigned int seed = (unsigned int)c->id * 2654435761u + 1;
    size_t off = 0;

    while (off < STREAM) {
        size_t n;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % sizeof buf;
        if (n > STREAM - off)
            n = STREAM - off;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(c->id, off + i);
        if (coro_write(c->fd, buf, n, CORO_FOREVER) != (ssize_t)n) {
            bad("client %ld write: %s", c->id, strerror(errno));
            return NULL;
        }
        off += n;
        if (seed & 0x100)
            EXPECT(coro_sched_yield() == 0);
    }
    EXPECT(shutdown(c->fd, SHUT_WR) == 0);
    return NULL;
}

/* A client's reader, on the same fd: every byte back, then the end. */
static void *
client_reader(void *arg)
{
    struct conn *c = arg;
    unsigned char buf[3000];
    ssize_t n;

    c->ok = 1;
    while ((n = coro_read(c->fd, buf, sizeof buf, CORO_FOREVER)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(c->id, c->echoed + (size_t)i))
                c->ok = 0;
        c->echoed += (size_t)n;
    }
    EXPECT(n == 0);
    EXPECT(coro_fd_close(c->fd) == 0);
    return NULL;
}

static void *
client(void *arg)
{
    struct conn *c = arg;

    c->fd = coro_tcp_dial("127.0.0.1", many_port, CORO_FOREVER);
    if (c->fd < 0) {
        bad("client %ld dial: %s", c->id, strerror(errno));
        return NULL;
    }
    EXPECT(coro_spawn(sched, client_reader, c, 0) == 0);
    client_writer(c);
    return NULL;
}

START_TEST(test_many_connections)
{
    accepted = 0;
    many_lfd = listener(&many_port);
    spawn(accept_loop, NULL);
    for (long i = 0; i < PAIRS; i++) {
        conns[i] = (struct conn){.id = i, .fd = -1};
        spawn(client, &conns[i]);
    }
    run();
    ASSERT_TASKS_OK();
    ck_assert_int_eq(accepted, PAIRS);
    for (int i = 0; i < PAIRS; i++) {
        ck_assert_msg(conns[i].echoed == STREAM, "connection %d: %zu bytes back", i, conns[i].echoed);
        ck_assert_msg(conns[i].ok, "connection %d: wrong bytes back", i);
    }
    ck_assert_int_eq(coro_fd_close(many_lfd), 0);
    teardown();
}
END_TEST

/* Threads, each with its scheduler and its fds, at the same time. */
struct thread_run {
    pthread_t th;
    coro_sched_t *s;
    int sv[2];
    size_t got;
    int ok;
};

static void *
thread_writer(void *arg)
{
    struct thread_run *r = arg;
    unsigned char buf[3000];
    size_t off = 0;

    while (off < BIG) {
        size_t n = BIG - off < sizeof buf ? BIG - off : sizeof buf;

        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(2, off + i);
        if (coro_write(r->sv[0], buf, n, CORO_FOREVER) != (ssize_t)n)
            return NULL;
        off += n;
    }
    coro_fd_close(r->sv[0]);
    return NULL;
}

static void *
thread_reader(void *arg)
{
    struct thread_run *r = arg;
    unsigned char buf[1000];
    ssize_t n;

    r->ok = 1;
    while ((n = coro_read(r->sv[1], buf, sizeof buf, CORO_FOREVER)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pattern(2, r->got + (size_t)i))
                r->ok = 0;
        r->got += (size_t)n;
    }
    if (n != 0)
        r->ok = 0;
    coro_fd_close(r->sv[1]);
    return NULL;
}

static void *
thread_main(void *arg)
{
    struct thread_run *r = arg;

    if ((r->s = coro_sched_create()) == NULL ||
        coro_spawn(r->s, thread_reader, r, 0) == -1 ||
        coro_spawn(r->s, thread_writer, r, 0) == -1 || coro_sched_run(r->s) == -1)
        r->ok = 0;
    coro_sched_destroy(r->s);
    return NULL;
}

START_TEST(test_threads)
{
    struct thread_run r[3];

    for (int i = 0; i < 3; i++) {
        r[i] = (struct thread_run){.got = 0};
        make_small_pair(r[i].sv);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(pthread_create(&r[i].th, NULL, thread_main, &r[i]), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(pthread_join(r[i].th, NULL), 0);
        ck_assert_msg(r[i].ok, "thread %d: wrong bytes", i);
        ck_assert_uint_eq(r[i].got, BIG);
    }
    teardown();
}
END_TEST

static Suite *
io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc;

    tc = tasklog_tcase(s, "wait", setup);
    tcase_add_test(tc, test_wait_ready_subset);
    tcase_add_test(tc, test_wait_waits);
    tcase_add_test(tc, test_wait_timeout);
    tcase_add_test(tc, test_wait_errors);
    tcase_add_test(tc, test_wait_close_wakes);
    tcase_add_test(tc, test_wait_busy);
    tcase_add_test(tc, test_wait_busy_both);
    tcase_add_test(tc, test_wait_regular_file);
    tcase_add_test(tc, test_wait_hangup);
    tcase_add_test(tc, test_wait_stale_edge);
    tcase_add_test(tc, test_wait_cancel);
    tcase_add_test(tc, test_wait_in_handler);
    tcase_add_test(tc, test_wait_dump);

    tc = tasklog_tcase(s, "read", setup);
    tcase_add_test(tc, test_read_available);
    tcase_add_test(tc, test_read_waits);
    tcase_add_test(tc, test_read_timeout);
    tcase_add_test(tc, test_read_errors);
    tcase_add_test(tc, test_read_write_table_grows);
    tcase_add_test(tc, test_read_blocks_thread);

    tc = tasklog_tcase(s, "write", big_setup);
    tcase_add_test(tc, test_write_all_slow_reader);
    tcase_add_test(tc, test_write_all_pipe);
    tcase_add_test(tc, test_write_timeout);
    tcase_add_test(tc, test_write_epipe);
    tcase_add_test(tc, test_write_blocks_thread);
    tc = tasklog_tcase(s, "write-errors", setup);
    tcase_add_test(tc, test_write_errors);

    tc = tasklog_tcase(s, "net", setup);
    tcase_add_test(tc, test_accept_connect);
    tcase_add_test(tc, test_accept_errors);
    tcase_add_test(tc, test_connect_errors);
    tcase_add_test(tc, test_listen_hosts);
    tcase_add_test(tc, test_listen_reuseport);
    tcase_add_test(tc, test_listen_errors);
    tcase_add_test(tc, test_dial);

    tc = tasklog_tcase(s, "coroutine", setup);
    tcase_add_test(tc, test_coroutine);

    tc = tasklog_tcase(s, "sched", setup);
    tcase_add_test(tc, test_idle_sleeps);
    tcase_add_test(tc, test_deadlock_after_fd_waits);
    tcase_add_test(tc, test_forever_not_deadlock);
    tcase_add_test(tc, test_many_connections);
    tcase_add_test(tc, test_threads);
    return s;
}

TEST_MAIN(io_suite)
