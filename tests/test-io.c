/*
 * The I/O layer's table of fds (lib/io.c), per scheduler, grown on the
 * first wait on an fd beyond it: a task that waits in coro_read() or
 * coro_write() while another task's first use of a higher fd grows (and so
 * may move) the table must not use the old one when it wakes. Under
 * valgrind or AddressSanitizer a stale pointer is reported as a use after
 * free; coro-demo serve crashed of it under load.
 */
#include "testutil.h"

#include <fcntl.h>
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

static Suite *
io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = test_case("fd table");

    tcase_add_test(tc, read_while_table_grows);
    tcase_add_test(tc, write_while_table_grows);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(io_suite)
