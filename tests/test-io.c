/*
 * The I/O layer (lib/io.c).
 *
 * Its table of fds, per scheduler, grown on the first wait on an fd beyond
 * it: a task that waits in coro_read() or coro_write() while another
 * task's first use of a higher fd grows (and so may move) the table must
 * not use the old one when it wakes. Under valgrind or AddressSanitizer a
 * stale pointer is reported as a use after free; coro-demo serve crashed
 * of it under load.
 *
 * A TCP socket that a short read emptied: the next coro_read() waits for
 * an edge first rather than try a recv(); whatever came meanwhile must
 * still be read, and a timeout of 0 must still try.
 */
#include "testutil.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define BIG ((size_t)1 << 20)

struct pairs {
    int a[2];  /* the waiting task's socket pair */
    int hi[2]; /* another, its first end moved to a high fd */
    char *buf;
    ssize_t got;
};

static void
open_pairs(struct pairs *p)
{
    int fd;

    memset(p, 0, sizeof *p);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->a), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->hi), 0);
    /* Beyond the 64 fds of a new table, and the 128 of its first growth. */
    fd = fcntl(p->hi[0], F_DUPFD_CLOEXEC, 300);
    ck_assert_int_ge(fd, 300);
    close(p->hi[0]);
    p->hi[0] = fd;
    p->buf = calloc(1, BIG);
    ck_assert_ptr_nonnull(p->buf);
}

static void
close_pairs(struct pairs *p)
{
    close(p->a[0]);
    close(p->a[1]);
    coro_fd_close(p->hi[0]);
    close(p->hi[1]);
    free(p->buf);
}

/* Waits for a byte that the other task sends after growing the table. */
static void *
reader(void *arg)
{
    struct pairs *p = arg;
    char c;

    p->got = coro_read(p->a[0], &c, 1, CORO_FOREVER);
    return NULL;
}

/* Waits for room to write BIG bytes, which the other task makes. */
static void *
writer(void *arg)
{
    struct pairs *p = arg;

    p->got = coro_write(p->a[0], p->buf, BIG, CORO_FOREVER);
    return NULL;
}

/* The other task: the first wait on hi[0] grows the table; then it wakes
 * the first task. */
static void *
grow_then_send(void *arg)
{
    struct pairs *p = arg;
    char c;

    ASSERT_FAILS(coro_read(p->hi[0], &c, 1, 0), EAGAIN);
    ck_assert_int_eq(write(p->a[1], "x", 1), 1);
    return NULL;
}

static void *
grow_then_drain(void *arg)
{
    struct pairs *p = arg;
    char c;
    size_t n = 0;

    ASSERT_FAILS(coro_read(p->hi[0], &c, 1, 0), EAGAIN);
    while (n < BIG) {
        ssize_t k = coro_read(p->a[1], p->buf, BIG - n, CORO_FOREVER);

        ck_assert_int_gt(k, 0);
        n += (size_t)k;
    }
    return NULL;
}

START_TEST(read_while_table_grows)
{
    coro_sched_t *s = coro_sched_create();
    struct pairs p;

    open_pairs(&p);
    ck_assert_int_eq(coro_spawn(s, reader, &p, 0), 0);
    ck_assert_int_eq(coro_spawn(s, grow_then_send, &p, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(p.got, 1);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    close_pairs(&p);
}
END_TEST

START_TEST(write_while_table_grows)
{
    coro_sched_t *s = coro_sched_create();
    struct pairs p;

    open_pairs(&p);
    ck_assert_int_eq(coro_spawn(s, writer, &p, 0), 0);
    ck_assert_int_eq(coro_spawn(s, grow_then_drain, &p, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(p.got, (ssize_t)BIG);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    close_pairs(&p);
}
END_TEST

/* A connected pair of TCP sockets on the loopback: tcp[0] accepted. */
static void
tcp_pair(int tcp[2])
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int lfd = coro_tcp_listen("127.0.0.1", 0, 1, 0);

    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    tcp[1] = coro_tcp_dial("127.0.0.1", ntohs(a.sin_port), CORO_MSEC(5000));
    ck_assert_int_ge(tcp[1], 0);
    tcp[0] = coro_accept(lfd, NULL, NULL, CORO_MSEC(5000));
    ck_assert_int_ge(tcp[0], 0);
    coro_fd_close(lfd);
}

/* Send s to the peer, and wait until it is there to read (so that the
 * reader's next recv() would find it). */
static void
send_now(int tcp[2], const char *s)
{
    ck_assert_int_eq(write(tcp[1], s, strlen(s)), (ssize_t)strlen(s));
    for (int i = 0; i < 1000; i++) {
        char c;

        if (recv(tcp[0], &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
            return;
        usleep(1000);
    }
    ck_abort_msg("the data did not arrive");
}

static int tcp[2];
static int waited_first, reader_waits;

/* Reads "ab" (a short read: it empties the socket), then what comes next
 * in each of the ways it can come. */
static void *
short_reader(void *arg)
{
    char buf[64] = "";

    (void)arg;
    if (waited_first) /* the socket is then in the epoll set already */
        ck_assert_int_eq(coro_fd_wait(tcp[0], CORO_IN, CORO_MSEC(5000)), CORO_IN);
    ck_assert_int_eq(coro_read(tcp[0], buf, sizeof buf, CORO_MSEC(5000)), 2);
    ck_assert_str_eq(buf, "ab");
    /* It came before this read: no edge is to come. */
    send_now(tcp, "cd");
    ck_assert_int_eq(coro_read(tcp[0], buf, sizeof buf, CORO_MSEC(5000)), 2);
    ck_assert(memcmp(buf, "cd", 2) == 0);
    /* A timeout of 0 tries, and finds it. */
    send_now(tcp, "ef");
    ck_assert_int_eq(coro_read(tcp[0], buf, sizeof buf, 0), 2);
    ck_assert(memcmp(buf, "ef", 2) == 0);
    /* Nothing there and a timeout of 0: EAGAIN at once. */
    ASSERT_FAILS(coro_read(tcp[0], buf, sizeof buf, 0), EAGAIN);
    /* It comes while the reader waits (the other task sends it). */
    reader_waits = 1;
    ck_assert_int_eq(coro_read(tcp[0], buf, sizeof buf, CORO_MSEC(5000)), 2);
    ck_assert(memcmp(buf, "gh", 2) == 0);
    /* The peer closes: end of file. */
    ck_assert_int_eq(coro_read(tcp[0], buf, sizeof buf, CORO_MSEC(5000)), 0);
    return NULL;
}

static void *
late_sender(void *arg)
{
    (void)arg;
    if (waited_first) {
        coro_sleep(CORO_MSEC(10));
        ck_assert_int_eq(write(tcp[1], "ab", 2), 2);
    }
    while (!reader_waits)
        coro_sleep(CORO_MSEC(1));
    coro_sleep(CORO_MSEC(20));
    ck_assert_int_eq(write(tcp[1], "gh", 2), 2);
    coro_sleep(CORO_MSEC(20));
    close(tcp[1]);
    return NULL;
}

static void
short_read_case(int wait_first)
{
    coro_sched_t *s = coro_sched_create();

    tcp_pair(tcp);
    waited_first = wait_first;
    reader_waits = 0;
    if (!wait_first)
        send_now(tcp, "ab");
    ck_assert_int_eq(coro_spawn(s, short_reader, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, late_sender, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    coro_fd_close(tcp[0]);
}

START_TEST(tcp_short_read)
{
    short_read_case(0);
}
END_TEST

START_TEST(tcp_short_read_registered)
{
    short_read_case(1);
}
END_TEST

static Suite *
io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = test_case("fd table");

    tcase_add_test(tc, read_while_table_grows);
    tcase_add_test(tc, write_while_table_grows);
    suite_add_tcase(s, tc);
    tc = test_case("short reads");
    tcase_add_test(tc, tcp_short_read);
    tcase_add_test(tc, tcp_short_read_registered);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(io_suite)
