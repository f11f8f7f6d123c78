/*
 * coro_read() after a short read: whatever comes next must be read,
 * however it comes (before the next read, while it waits, with a timeout
 * of 0), whether or not the socket is in the scheduler's epoll set yet.
 * After a short read of a stream socket, a read that may wait waits for
 * the next edge before it reads (see "Fds" in doc/design.md): these are
 * the cases where no edge is to come. (The rest of the I/O layer:
 * test-io.c.)
 */
#include "testutil.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* The reader waits in the epoll set first; then the other task sends. */
static int rfd, wfd, fin;

static void *
edge_reader(void *arg)
{
    char buf[64];

    (void)arg;
    ck_assert_int_eq(coro_fd_wait(rfd, CORO_IN, CORO_MSEC(5000)), CORO_IN);
    ck_assert_int_eq(coro_read(rfd, buf, sizeof buf, CORO_MSEC(5000)), 3);
    ck_assert(memcmp(buf, "one", 3) == 0);
    if (fin) { /* the end of file, found at once: no edge comes after it */
        ck_assert_int_eq(coro_read(rfd, buf, sizeof buf, CORO_MSEC(5000)), 0);
    } else { /* the next message, read at once */
        ck_assert_int_eq(coro_read(rfd, buf, sizeof buf, CORO_MSEC(5000)), 3);
        ck_assert(memcmp(buf, "two", 3) == 0);
    }
    return NULL;
}

static void *
edge_sender(void *arg)
{
    (void)arg;
    ck_assert_int_eq(write(wfd, "one", 3), 3);
    if (fin)
        ck_assert_int_eq(shutdown(wfd, SHUT_WR), 0);
    else
        ck_assert_int_eq(write(wfd, "two", 3), 3);
    return NULL;
}

static void
edge_case(int r, int w, int with_fin)
{
    coro_sched_t *s = coro_sched_create();

    rfd = r;
    wfd = w;
    fin = with_fin;
    ck_assert_int_eq(coro_spawn(s, edge_reader, NULL, 0), 0);
    ck_assert_int_eq(coro_spawn(s, edge_sender, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
    close(w);
    coro_fd_close(r);
}

/* The peer's last bytes and its FIN come in one edge: the short read takes
 * the bytes, and the next read must not wait for another edge. */
START_TEST(tcp_short_read_then_fin)
{
    tcp_pair(tcp);
    edge_case(tcp[0], tcp[1], 1);
}
END_TEST

/* A socket that keeps message boundaries: a read shorter than asked for is
 * one message, not an empty socket. */
START_TEST(seqpacket_short_read)
{
    int seq[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seq), 0);
    edge_case(seq[0], seq[1], 0);
}
END_TEST

static Suite *
io_short_suite(void)
{
    Suite *s = suite_create("io-short");
    TCase *tc = test_case("short reads");
    tcase_add_test(tc, tcp_short_read);
    tcase_add_test(tc, tcp_short_read_registered);
    tcase_add_test(tc, tcp_short_read_then_fin);
    tcase_add_test(tc, seqpacket_short_read);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(io_short_suite)
