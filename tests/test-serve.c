/*
 * coro-demo serve, over real sockets. Each server is the program itself,
 * "./demo/coro-demo serve http|resp --port 0 ..." run as a child (under
 * $CORO_TEST_WRAPPER, such as valgrind, when make check-valgrind sets it),
 * with its stderr on a pipe: the test reads the port from its "listening
 * on" line, talks to it as a client would, and at the end stops it with
 * SIGTERM and checks its exit status and its summary line. Most tests share
 * one server per protocol (an unchecked fixture); those that look at the
 * summary or need options of their own start theirs.
 */
#include "testutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The server runs under a wrapper (valgrind): everything is slower. */
static int
wrapped(void)
{
    const char *w = getenv("CORO_TEST_WRAPPER");

    return w != NULL && *w != '\0';
}

/* How long to wait for anything from a server before failing. */
static int
patience_ms(void)
{
    int ms = 10000;

    if (RUNNING_ON_VALGRIND || wrapped() || test_emulated())
        ms *= 6;
    if (TEST_SANITIZED)
        ms *= 3;
    return ms;
}

/* Timing checks hold only without any of those. */
static int
native(void)
{
    return !RUNNING_ON_VALGRIND && !wrapped() && !test_emulated() && !TEST_SANITIZED;
}

static double
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------------------- */
/* A server                                                                */

struct server {
    pid_t pid;
    int err; /* its stderr, -1 at EOF */
    int port;
    char log[16384]; /* what it wrote there */
    size_t loglen;
};

/* Read the server's stderr for up to ms; 0 at EOF, else 1. */
static int
server_read(struct server *s, int ms)
{
    struct pollfd pfd = {.fd = s->err, .events = POLLIN};
    ssize_t n;

    if (s->err == -1)
        return 0;
    if (poll(&pfd, 1, ms) <= 0)
        return 1;
    if (s->loglen == sizeof s->log - 1) { /* keep the first half, drop the rest */
        char junk[4096];

        n = read(s->err, junk, sizeof junk);
    } else {
        n = read(s->err, s->log + s->loglen, sizeof s->log - 1 - s->loglen);
        if (n > 0)
            s->loglen += (size_t)n;
        s->log[s->loglen] = '\0';
    }
    if (n <= 0) {
        close(s->err);
        s->err = -1;
        return 0;
    }
    return 1;
}

/* Start "coro-demo serve PROTO --port 0 ARGS..." (args ends with NULL),
 * with at most nofile descriptors when it is not 0, and wait for its port. */
static void
server_start(struct server *s, const char *proto, int nofile, const char *const *args)
{
    char want[64], limit[16];
    const char *line;
    double end;
    int p[2];

    memset(s, 0, sizeof *s);
    snprintf(want, sizeof want, "coro-demo serve %s: listening on 127.0.0.1:", proto);
    /* The limit is set by the shell: under valgrind, setrlimit() here
     * would only change valgrind's idea of this process's limit. */
    snprintf(limit, sizeof limit, "%d", nofile ? nofile : 0);
    ck_assert_int_eq(pipe(p), 0);
    s->pid = fork();
    ck_assert_int_ne(s->pid, -1);
    if (s->pid == 0) {
        const char *argv[32] = {"/bin/sh", "-c",
                                "if [ \"$1\" != 0 ]; then ulimit -n \"$1\" || exit 126; fi; shift; "
                                "exec ${CORO_TEST_WRAPPER:-} \"$@\"",
                                "sh", limit, "./demo/coro-demo", "serve", proto, "--port", "0"};
        int n = 10;

        while (args && *args && n < 31)
            argv[n++] = *args++;
        argv[n] = NULL;
        dup2(p[1], STDERR_FILENO);
        close(p[0]);
        close(p[1]);
        execv("/bin/sh", (char **)argv);
        _exit(127);
    }
    close(p[1]);
    s->err = p[0];
    /* The line may come after others (valgrind's warnings). */
    end = now_sec() + patience_ms() / 1000.0;
    while ((line = strstr(s->log, want)) == NULL || strchr(line, '\n') == NULL) {
        ck_assert_msg(now_sec() < end, "no 'listening on' line; stderr: %s", s->log);
        ck_assert_msg(server_read(s, 100), "the server ended; stderr: %s", s->log);
    }
    s->port = atoi(line + strlen(want));
    ck_assert_msg(s->port > 0 && s->port < 65536, "stderr: %s", s->log);
}

/* Send sig, read the rest of stderr, reap it: its wait status. */
static int
server_stop(struct server *s, int sig)
{
    double end = now_sec() + patience_ms() / 1000.0;
    int status;
    pid_t r;

    if (sig)
        ck_assert_int_eq(kill(s->pid, sig), 0);
    while (server_read(s, 100))
        ck_assert_msg(now_sec() < end, "the server did not stop; stderr: %s", s->log);
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0) {
        ck_assert_msg(now_sec() < end, "the server did not exit; stderr: %s", s->log);
        sleep_ms(10);
    }
    ck_assert_int_eq(r, s->pid);
    return status;
}

/* Parse "N WORD" or "N WORDs" at *p, then skip ", ". 0, or -1. */
static int
count_of(const char **p, const char *word, uint64_t *v)
{
    char *end;

    *v = strtoull(*p, &end, 10);
    if (end == *p || *end != ' ' || strncmp(end + 1, word, strlen(word)) != 0)
        return -1;
    end += 1 + strlen(word);
    end += *end == 's';
    *p = end + (strncmp(end, ", ", 2) == 0 ? 2 : 0);
    return 0;
}

/* The counts of the summary line "coro-demo serve PROTO: C connections, R
 * requests, E errors". */
static void
summary(const struct server *s, const char *proto, uint64_t *conns, uint64_t *reqs,
        uint64_t *errs)
{
    char prefix[64];

    snprintf(prefix, sizeof prefix, "coro-demo serve %s: ", proto);
    for (const char *line = s->log; (line = strstr(line, prefix)) != NULL; line++) {
        const char *p = line + strlen(prefix);

        if (count_of(&p, "connection", conns) == 0 && count_of(&p, "request", reqs) == 0 &&
            count_of(&p, "error", errs) == 0 && *p == '\n')
            return;
    }
    ck_abort_msg("no summary line; stderr: %s", s->log);
}

/* Stop s with SIGTERM: exit 0, and the summary's counts. */
static void
server_stop_ok(struct server *s, const char *proto, uint64_t *conns, uint64_t *reqs,
               uint64_t *errs)
{
    int status = server_stop(s, SIGTERM);

    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; stderr: %s",
                  (unsigned)status, s->log);
    summary(s, proto, conns, reqs, errs);
}

/* ---------------------------------------------------------------------- */
/* A client                                                                */

struct client {
    int fd;
    char *buf; /* what came and is not taken yet */
    size_t len, cap;
};

static void
client_open(struct client *c, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;

    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ne(c->fd, -1);
    ck_assert_msg(connect(c->fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
                  strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void
client_close(struct client *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

/* Close with a reset (SO_LINGER 0), not a FIN. */
static void
client_reset(struct client *c)
{
    struct linger l = {1, 0};

    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    client_close(c);
}

/* Read what is there (waiting up to ms for it): the bytes read, 0 at EOF,
 * -1 when nothing came in time. A reset counts as EOF. */
static ssize_t
client_fill(struct client *c, int ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    ssize_t n;

    if (poll(&pfd, 1, ms) <= 0)
        return -1;
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
        ck_assert_ptr_nonnull(c->buf);
    }
    n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
    if (n == -1 && errno == ECONNRESET)
        return 0;
    ck_assert_msg(n >= 0, "read: %s", strerror(errno));
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return n;
}

static void
client_more(struct client *c)
{
    ssize_t n = client_fill(c, patience_ms());

    ck_assert_msg(n != -1, "nothing came in time; so far: %.*s", (int)c->len, c->buf ? c->buf : "");
    ck_assert_msg(n != 0, "the server closed; so far: %.*s", (int)c->len, c->buf ? c->buf : "");
}

/* Send it all, reading what comes meanwhile (so that a long pipeline
 * cannot fill both directions and stall). */
static void
client_send(struct client *c, const char *p, size_t n)
{
    while (n > 0) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN | POLLOUT};
        ssize_t k;

        ck_assert_msg(poll(&pfd, 1, patience_ms()) == 1, "the server takes nothing");
        if (pfd.revents & POLLIN) {
            ck_assert_msg(client_fill(c, 0) > 0, "the server closed while we wrote");
            continue;
        }
        k = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k == -1 && (errno == EAGAIN || errno == EINTR))
            continue;
        ck_assert_msg(k > 0, "send: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

static void
client_sends(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* The server closes: nothing more comes, then EOF. */
static void
client_expect_eof(struct client *c)
{
    ck_assert_msg(c->len == 0, "unexpected bytes: %.*s", (int)c->len, c->buf);
    ck_assert_msg(client_fill(c, patience_ms()) == 0, "no EOF; got: %.*s", (int)c->len,
                  c->buf ? c->buf : "");
}

/* The connection stays open: nothing at all comes within ms. */
static void
client_expect_quiet(struct client *c, int ms)
{
    ck_assert_msg(c->len == 0, "unexpected bytes: %.*s", (int)c->len, c->buf);
    ck_assert_msg(client_fill(c, ms) == -1, "the server sent or closed: %.*s", (int)c->len,
                  c->buf ? c->buf : "");
}

static void
take(struct client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->buf[c->len] = '\0';
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                    */

struct response {
    int status;
    char head[4096]; /* the status line and the fields, with their CRLFs */
    char body[256];
    size_t body_len;
};

/* Does the header section have this field line (exactly, case included)? */
static int
has_field(const struct response *r, const char *line)
{
    char want[256];

    snprintf(want, sizeof want, "\r\n%s\r\n", line);
    return strstr(r->head, want) != NULL;
}

/* Read one whole response; without a body when head (HEAD). */
static void
http_response(struct client *c, struct response *r, int head)
{
    for (;;) {
        char *end = c->buf ? strstr(c->buf, "\r\n\r\n") : NULL;

        if (end != NULL) {
            size_t hlen = (size_t)(end + 4 - c->buf), blen = 0;
            const char *cl;

            ck_assert_msg(hlen < sizeof r->head, "a huge header: %s", c->buf);
            memcpy(r->head, c->buf, hlen);
            r->head[hlen] = '\0';
            ck_assert_msg(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1, "%s", r->head);
            cl = strstr(r->head, "\r\nContent-Length: ");
            ck_assert_msg(cl != NULL || r->status / 100 == 1, "no Content-Length: %s", r->head);
            if (!head && r->status / 100 != 1)
                blen = (size_t)atol(cl + 18);
            ck_assert_uint_lt(blen, sizeof r->body);
            if (c->len >= hlen + blen) {
                memcpy(r->body, c->buf + hlen, blen);
                r->body[blen] = '\0';
                r->body_len = blen;
                take(c, hlen + blen);
                return;
            }
        }
        client_more(c);
    }
}

/* One response: its status and body. */
static void
expect_http(struct client *c, int status, const char *body)
{
    struct response r;

    http_response(c, &r, 0);
    ck_assert_msg(r.status == status, "status %d, expected %d: %s", r.status, status, r.head);
    ck_assert_str_eq(r.body, body);
}

static struct server http_srv;

static void
http_setup(void)
{
    server_start(&http_srv, "http", 0, NULL);
}

static void
http_teardown(void)
{
    uint64_t conns, reqs, errs;

    server_stop_ok(&http_srv, "http", &conns, &reqs, &errs);
}

#define GET_ROOT "GET / HTTP/1.1\r\nHost: t\r\n\r\n"

START_TEST(http_keep_alive)
{
    struct client c;
    struct response r;

    client_open(&c, http_srv.port);
    for (int i = 0; i < 3; i++) {
        client_sends(&c, GET_ROOT);
        http_response(&c, &r, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, "hello\n");
        ck_assert(has_field(&r, "Content-Length: 6"));
        ck_assert(!has_field(&r, "Connection: close"));
    }
    client_expect_quiet(&c, 100); /* still open */
    client_sends(&c, GET_ROOT);
    expect_http(&c, 200, "hello\n");
    client_close(&c);
}
END_TEST

START_TEST(http_10_closes)
{
    struct client c;
    struct response r;

    client_open(&c, http_srv.port);
    client_sends(&c, "GET / HTTP/1.0\r\n\r\n");
    http_response(&c, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello\n");
    ck_assert(has_field(&r, "Connection: close"));
    client_expect_eof(&c);
    client_close(&c);
}
END_TEST

START_TEST(http_10_keep_alive)
{
    struct client c;
    struct response r;

    client_open(&c, http_srv.port);
    for (int i = 0; i < 2; i++) {
        client_sends(&c, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        http_response(&c, &r, 0);
        ck_assert_int_eq(r.status, 200);
        ck_assert(has_field(&r, "Connection: keep-alive"));
    }
    client_expect_quiet(&c, 100);
    client_close(&c);
}
END_TEST

START_TEST(http_connection_close)
{
    struct client c;
    struct response r;

    client_open(&c, http_srv.port);
    client_sends(&c, GET_ROOT);
    expect_http(&c, 200, "hello\n");
    client_sends(&c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: foo, close\r\n\r\n");
    http_response(&c, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_field(&r, "Connection: close"));
    client_expect_eof(&c);
    client_close(&c);
}
END_TEST

START_TEST(http_pipelining)
{
    struct client c;

    client_open(&c, http_srv.port);
    /* Three in one write: answered in order. */
    client_sends(&c, GET_ROOT "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
                     "POST /?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    expect_http(&c, 200, "hello\n");
    expect_http(&c, 404, "not found\n");
    expect_http(&c, 200, "hello\n");
    client_expect_quiet(&c, 100);
    client_close(&c);
}
END_TEST

/* More answers than the server's 64 KiB output buffer holds, from more
 * requests than one read of its takes. */
START_TEST(http_long_pipeline)
{
    enum { N = 2000 };
    static const char req[] = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n" GET_ROOT;
    size_t n = sizeof req - 1;
    char *all = malloc(N * n);
    struct client c;

    ck_assert_ptr_nonnull(all);
    for (int i = 0; i < N; i++)
        memcpy(all + i * n, req, n);
    client_open(&c, http_srv.port);
    client_send(&c, all, N * n);
    for (int i = 0; i < N; i++) {
        expect_http(&c, 404, "not found\n");
        expect_http(&c, 200, "hello\n");
    }
    client_expect_quiet(&c, 100);
    client_close(&c);
    free(all);
}
END_TEST

START_TEST(http_not_found)
{
    struct client c;
    struct response r;

    client_open(&c, http_srv.port);
    client_sends(&c, "GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_http(&c, 404, "not found\n");
    client_sends(&c, "DELETE http://example.com/ HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_http(&c, 200, "hello\n"); /* any method, the absolute form */
    client_sends(&c, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    http_response(&c, &r, 1);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_field(&r, "Content-Length: 6"));
    client_sends(&c, "\r\nGET // HTTP/1.1\r\nHost: t\r\n\r\n"); /* a blank line first */
    expect_http(&c, 404, "not found\n");
    client_expect_quiet(&c, 100); /* HEAD's answer had no body */
    client_close(&c);
}
END_TEST

/* Each malformed request: 400 (or 501, 505), then the server closes. */
START_TEST(http_bad_closes)
{
    static const struct {
        const char *req;
        int status;
    } bad[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"GET /\r\nHost: t\r\n\r\n", 400},                                   /* no version */
        {"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", 400},                         /* two spaces */
        {"GET / HTTP/1.1\r\n\r\n", 400},                                     /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},               /* two */
        {"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400},                         /* space before : */
        {"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400},               /* obs-fold */
        {"GET / HTTP/1.1\r\nHost: t\rX: y\r\n\r\n", 400},                    /* bare CR */
        {"GET / HTTP/1.1\r\nHost: t\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"GET / HTTX/1.1\r\nHost: t\r\n\r\n", 400},
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct client c;
        struct response r;

        client_open(&c, http_srv.port);
        client_sends(&c, GET_ROOT); /* a good one first: answered */
        expect_http(&c, 200, "hello\n");
        client_sends(&c, bad[i].req);
        http_response(&c, &r, 0);
        ck_assert_msg(r.status == bad[i].status, "'%s': %d", bad[i].req, r.status);
        ck_assert(has_field(&r, "Connection: close"));
        client_expect_eof(&c);
        client_close(&c);
    }
}
END_TEST

/* A header section over 8 KiB: 431, then the server closes; whether it
 * came whole or has no end yet. Up to 8 KiB is fine. */
START_TEST(http_header_too_large)
{
    char big[9000 + 64];
    struct client c;
    struct response r;

    /* Exactly 8192 bytes, the empty line included: served. */
    memset(big, 0, sizeof big);
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
    memset(big + strlen(big), 'a', 8192 - strlen(big) - 4);
    memcpy(big + 8192 - 4, "\r\n\r\n", 4);
    client_open(&c, http_srv.port);
    client_send(&c, big, 8192);
    expect_http(&c, 200, "hello\n");
    client_close(&c);

    for (int whole = 0; whole < 2; whole++) {
        memset(big, 0, sizeof big);
        snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
        memset(big + strlen(big), 'a', 9000 - strlen(big));
        if (whole)
            strcat(big, "\r\n\r\n");
        client_open(&c, http_srv.port);
        client_send(&c, big, strlen(big));
        http_response(&c, &r, 0);
        ck_assert_int_eq(r.status, 431);
        ck_assert(has_field(&r, "Connection: close"));
        client_expect_eof(&c);
        client_close(&c);
    }
}
END_TEST

/* A body with a Content-Length is read and dropped, even in pieces. */
START_TEST(http_body_discarded)
{
    struct client c;
    char body[20000];

    memset(body, 'G', sizeof body); /* would be requests, if it were read as such */
    client_open(&c, http_srv.port);
    client_sends(&c, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n");
    expect_http(&c, 200, "hello\n");
    client_send(&c, body, 5000);
    sleep_ms(20);
    client_send(&c, body, 15000);
    client_sends(&c, "GET /after HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_http(&c, 404, "not found\n");
    client_sends(&c, "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                     "Expect: 100-continue\r\n\r\n");
    {
        struct response r;

        http_response(&c, &r, 0); /* 100 Continue first: no fields, no body */
        ck_assert_int_eq(r.status, 100);
    }
    client_sends(&c, "12345");
    expect_http(&c, 200, "hello\n");
    client_expect_quiet(&c, 100);
    client_close(&c);
}
END_TEST

/* A request a byte at a time. */
START_TEST(http_trickle)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\n\r\n";
    struct client c;

    client_open(&c, http_srv.port);
    for (size_t i = 0; i < sizeof req - 1; i++) {
        client_send(&c, req + i, 1);
        if (i % 8 == 0)
            sleep_ms(2);
    }
    expect_http(&c, 200, "hello\n");
    client_close(&c);
}
END_TEST

/* A connection that sends nothing for --idle-timeout is closed; one that
 * is reset costs only itself; both are in the summary. */
START_TEST(http_idle_timeout)
{
    static const char *const args[] = {"--idle-timeout", "1", NULL};
    struct server s;
    struct client c, r;
    uint64_t conns, reqs, errs;
    double t0, dt;

    server_start(&s, "http", 0, args);
    client_open(&c, s.port);
    client_sends(&c, GET_ROOT);
    expect_http(&c, 200, "hello\n");
    t0 = now_sec();
    client_expect_eof(&c);
    dt = now_sec() - t0;
    ck_assert_msg(dt > 0.5, "closed after %.3f s", dt);
    if (native())
        ck_assert_msg(dt < 3, "closed after %.3f s", dt);
    client_close(&c);

    /* A reset in the middle of a request. */
    client_open(&r, s.port);
    client_sends(&r, GET_ROOT);
    expect_http(&r, 200, "hello\n");
    client_sends(&r, "GET / HTTP/1.1\r\n");
    sleep_ms(50);
    client_reset(&r);
    client_open(&c, s.port);
    client_sends(&c, GET_ROOT);
    expect_http(&c, 200, "hello\n");
    client_close(&c);

    server_stop_ok(&s, "http", &conns, &reqs, &errs);
    ck_assert_uint_eq(conns, 3);
    ck_assert_uint_eq(reqs, 3);
    ck_assert_uint_eq(errs, 1); /* the reset; the idle close is none */
}
END_TEST

/* SIGTERM: idle connections closed, a request in flight answered, exit 0
 * (within a second), the summary. */
START_TEST(http_sigterm)
{
    struct server s;
    struct client idle, busy;
    struct response r;
    uint64_t conns, reqs, errs;
    double t0, dt;

    server_start(&s, "http", 0, NULL);
    client_open(&idle, s.port);
    client_sends(&idle, GET_ROOT);
    expect_http(&idle, 200, "hello\n");
    client_open(&busy, s.port);
    client_sends(&busy, "GET / HTTP/1.1\r\nHo");
    sleep_ms(50);
    t0 = now_sec();
    ck_assert_int_eq(kill(s.pid, SIGTERM), 0);
    sleep_ms(50);
    client_sends(&busy, "st: t\r\n"); /* still not all of it... */
    sleep_ms(50);
    client_sends(&busy, "\r\n");
    http_response(&busy, &r, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello\n");
    client_expect_eof(&busy);
    client_expect_eof(&idle);
    server_stop_ok(&s, "http", &conns, &reqs, &errs);
    dt = now_sec() - t0;
    if (native())
        ck_assert_msg(dt < 1.0, "stopped after %.3f s", dt);
    ck_assert_uint_eq(conns, 2);
    ck_assert_uint_eq(reqs, 2);
    ck_assert_uint_eq(errs, 0);
    client_close(&idle);
    client_close(&busy);
}
END_TEST

/* --procs 2: two workers serve the port; the summary is their sum. */
START_TEST(http_procs)
{
    static const char *const args[] = {"--procs", "2", NULL};
    enum { N = 8 };
    struct server s;
    struct client c[N];
    uint64_t conns, reqs, errs;

    server_start(&s, "http", 0, args);
    ck_assert_msg(strstr(s.log, ", 2 worker processes\n") != NULL, "%s", s.log);
    for (int i = 0; i < N; i++) {
        client_open(&c[i], s.port);
        client_sends(&c[i], GET_ROOT);
    }
    for (int i = 0; i < N; i++) {
        expect_http(&c[i], 200, "hello\n");
        client_sends(&c[i], "GET /2 HTTP/1.1\r\nHost: t\r\n\r\n");
        expect_http(&c[i], 404, "not found\n");
    }
    server_stop_ok(&s, "http", &conns, &reqs, &errs);
    for (int i = 0; i < N; i++) {
        client_expect_eof(&c[i]);
        client_close(&c[i]);
    }
    ck_assert_uint_eq(conns, N);
    ck_assert_uint_eq(reqs, 2 * N);
    ck_assert_uint_eq(errs, 0);
}
END_TEST

/* Out of descriptors: accept backs off (without spinning), the waiting
 * connections are served once others close. */
static double
cpu_seconds(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    p = strrchr(buf, ')'); /* after the command's name */
    ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

START_TEST(http_emfile)
{
    enum { N = 40 };
    struct server s;
    struct client c[N];
    uint64_t conns, reqs, errs;
    double cpu;

    /* valgrind keeps descriptors of its own below the limit, and closes
     * what accept() returns above its share: connections would be lost
     * there, which the server cannot help. */
    if (wrapped())
        return;
    server_start(&s, "http", 24, NULL);
    for (int i = 0; i < N; i++) {
        client_open(&c[i], s.port);
        client_sends(&c[i], GET_ROOT);
    }
    /* Some wait in the backlog now; the server must not spin meanwhile. */
    sleep_ms(200);
    cpu = cpu_seconds(s.pid);
    sleep_ms(1000);
    cpu = cpu_seconds(s.pid) - cpu;
    ck_assert_msg(cpu < 0.5, "the server used %.2f s of CPU in 1 s", cpu);
    for (int i = 0; i < N; i++) {
        expect_http(&c[i], 200, "hello\n");
        client_close(&c[i]);
    }
    server_stop_ok(&s, "http", &conns, &reqs, &errs);
    ck_assert_uint_eq(conns, N);
    ck_assert_uint_eq(reqs, N);
    ck_assert_uint_gt(errs, 0); /* the accepts that failed */
    ck_assert_msg(strstr(s.log, "accept: Too many open files") != NULL, "%s", s.log);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* RESP                                                                    */

/* The length of the whole reply at p[0..n), 0 when it has not all come. */
static size_t
reply_len(const char *p, size_t n)
{
    const char *crlf = n ? memmem(p, n, "\r\n", 2) : NULL;
    size_t line, off;
    long k;

    if (crlf == NULL)
        return 0;
    line = (size_t)(crlf + 2 - p);
    switch (p[0]) {
    case '+':
    case '-':
    case ':':
        return line;
    case '$':
        k = atol(p + 1);
        return k < 0 ? line : n >= line + (size_t)k + 2 ? line + (size_t)k + 2 : 0;
    case '*':
        k = atol(p + 1);
        for (off = line; k-- > 0; off += line)
            if ((line = reply_len(p + off, n - off)) == 0)
                return 0;
        return off;
    default:
        ck_abort_msg("not a reply: %.*s", (int)n, p);
        return 0;
    }
}

/* The next reply is exactly want. */
static void
expect_reply(struct client *c, const char *want)
{
    size_t n;

    while ((n = c->len ? reply_len(c->buf, c->len) : 0) == 0)
        client_more(c);
    ck_assert_msg(n == strlen(want) && memcmp(c->buf, want, n) == 0, "reply '%.*s', expected '%s'",
                  (int)n, c->buf, want);
    take(c, n);
}

/* The next reply starts with prefix. */
static void
expect_reply_prefix(struct client *c, const char *prefix)
{
    size_t n;

    while ((n = c->len ? reply_len(c->buf, c->len) : 0) == 0)
        client_more(c);
    ck_assert_msg(n >= strlen(prefix) && memcmp(c->buf, prefix, strlen(prefix)) == 0,
                  "reply '%.*s', expected '%s...'", (int)n, c->buf, prefix);
    take(c, n);
}

static struct server resp_srv;

static void
resp_setup(void)
{
    server_start(&resp_srv, "resp", 0, NULL);
}

static void
resp_teardown(void)
{
    uint64_t conns, reqs, errs;

    server_stop_ok(&resp_srv, "resp", &conns, &reqs, &errs);
}

START_TEST(resp_ping_echo)
{
    struct client c;

    client_open(&c, resp_srv.port);
    client_sends(&c, "*1\r\n$4\r\nPING\r\n");
    expect_reply(&c, "+PONG\r\n");
    client_sends(&c, "PING\r\n"); /* inline */
    expect_reply(&c, "+PONG\r\n");
    client_sends(&c, "ping\n");
    expect_reply(&c, "+PONG\r\n");
    client_sends(&c, "*2\r\n$4\r\nping\r\n$2\r\nhi\r\n");
    expect_reply(&c, "$2\r\nhi\r\n");
    client_sends(&c, "*2\r\n$4\r\nECHO\r\n$12\r\nhello\r\nthere\r\n"); /* binary-safe */
    expect_reply(&c, "$12\r\nhello\r\nthere\r\n");
    client_sends(&c, "echo  two   blanks\r\n");
    expect_reply_prefix(&c, "-ERR wrong number of arguments for 'echo' command");
    client_sends(&c, "ECHO x\r\n");
    expect_reply(&c, "$1\r\nx\r\n");
    client_close(&c);
}
END_TEST

START_TEST(resp_keys)
{
    struct client c;

    client_open(&c, resp_srv.port);
    client_sends(&c, "*3\r\n$3\r\nSET\r\n$5\r\nkeys1\r\n$3\r\nabc\r\n");
    expect_reply(&c, "+OK\r\n");
    client_sends(&c, "*2\r\n$3\r\nGET\r\n$5\r\nkeys1\r\n");
    expect_reply(&c, "$3\r\nabc\r\n");
    client_sends(&c, "GET keys-none\r\n");
    expect_reply(&c, "$-1\r\n");
    client_sends(&c, "SET keys1 longer-than-before\r\n"); /* grows */
    expect_reply(&c, "+OK\r\n");
    client_sends(&c, "GET keys1\r\n");
    expect_reply(&c, "$18\r\nlonger-than-before\r\n");
    client_sends(&c, "SET keys2 x\r\n");
    expect_reply(&c, "+OK\r\n");
    client_sends(&c, "EXISTS keys1 keys2 keys-none keys1\r\n");
    expect_reply(&c, ":3\r\n");
    client_sends(&c, "DEL keys1 keys-none\r\n");
    expect_reply(&c, ":1\r\n");
    client_sends(&c, "EXISTS keys1\r\n");
    expect_reply(&c, ":0\r\n");
    client_sends(&c, "GET keys1\r\n");
    expect_reply(&c, "$-1\r\n");
    client_sends(&c, "SET keys3 v EX 10\r\n");
    expect_reply_prefix(&c, "-ERR syntax error");
    client_close(&c);
}
END_TEST

START_TEST(resp_incr)
{
    struct client c;

    client_open(&c, resp_srv.port);
    client_sends(&c, "INCR incr1\r\n"); /* a missing key counts from 0 */
    expect_reply(&c, ":1\r\n");
    client_sends(&c, "INCR incr1\r\nINCR incr1\r\nGET incr1\r\n");
    expect_reply(&c, ":2\r\n");
    expect_reply(&c, ":3\r\n");
    expect_reply(&c, "$1\r\n3\r\n");
    client_sends(&c, "SET incr2 -10\r\nINCR incr2\r\n");
    expect_reply(&c, "+OK\r\n");
    expect_reply(&c, ":-9\r\n");
    static const char *const not_int[] = {"abc", "1.5", "", " 1", "01", "+1", "-0",
                                          "99999999999999999999"};
    for (size_t i = 0; i < sizeof not_int / sizeof not_int[0]; i++) {
        char cmd[128];

        snprintf(cmd, sizeof cmd, "*3\r\n$3\r\nSET\r\n$5\r\nincr3\r\n$%zu\r\n%s\r\n",
                 strlen(not_int[i]), not_int[i]);
        client_sends(&c, cmd);
        expect_reply(&c, "+OK\r\n");
        client_sends(&c, "INCR incr3\r\n");
        expect_reply(&c, "-ERR value is not an integer or out of range\r\n");
    }
    client_sends(&c, "SET incr4 9223372036854775807\r\nINCR incr4\r\nGET incr4\r\n");
    expect_reply(&c, "+OK\r\n");
    expect_reply(&c, "-ERR increment or decrement would overflow\r\n");
    expect_reply(&c, "$19\r\n9223372036854775807\r\n");
    client_sends(&c, "SET incr5 -9223372036854775808\r\nINCR incr5\r\n");
    expect_reply(&c, "+OK\r\n");
    expect_reply(&c, ":-9223372036854775807\r\n");
    client_close(&c);
}
END_TEST

/* -ERR for an unknown command or a wrong arity; the connection goes on. */
START_TEST(resp_errors_stay_open)
{
    struct client c;

    client_open(&c, resp_srv.port);
    client_sends(&c, "*2\r\n$6\r\nNOSUCH\r\n$1\r\na\r\n");
    expect_reply_prefix(&c, "-ERR unknown command 'NOSUCH'");
    client_sends(&c, "*1\r\n$3\r\nGET\r\n");
    expect_reply(&c, "-ERR wrong number of arguments for 'get' command\r\n");
    client_sends(&c, "SET onlykey\r\n");
    expect_reply(&c, "-ERR wrong number of arguments for 'set' command\r\n");
    client_sends(&c, "PING a b\r\n");
    expect_reply(&c, "-ERR wrong number of arguments for 'ping' command\r\n");
    client_sends(&c, "CONFIG GET save\r\n");
    expect_reply(&c, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    client_sends(&c, "CONFIG GET nothing\r\nCOMMAND DOCS\r\n");
    expect_reply(&c, "*0\r\n");
    expect_reply(&c, "*0\r\n");
    client_sends(&c, "\r\n*0\r\nPING\r\n"); /* empty commands are nothing */
    expect_reply(&c, "+PONG\r\n");
    client_expect_quiet(&c, 100);
    client_sends(&c, "QUIT\r\n");
    expect_reply(&c, "+OK\r\n");
    client_expect_eof(&c);
    client_close(&c);
}
END_TEST

START_TEST(resp_pipelining)
{
    enum { N = 3000 };
    struct client c;
    char *all = malloc(N * 64), *p = all;

    ck_assert_ptr_nonnull(all);
    client_open(&c, resp_srv.port);
    client_sends(&c, "SET pipe1 a\r\n*2\r\n$3\r\nGET\r\n$5\r\npipe1\r\nPING\r\n"
                     "*2\r\n$4\r\nINCR\r\n$5\r\npipe2\r\nNOPE\r\n*1\r\n$4\r\nPING\r\n");
    expect_reply(&c, "+OK\r\n");
    expect_reply(&c, "$1\r\na\r\n");
    expect_reply(&c, "+PONG\r\n");
    expect_reply(&c, ":1\r\n");
    expect_reply_prefix(&c, "-ERR unknown command");
    expect_reply(&c, "+PONG\r\n");
    /* Many: more than one read, more answers than one write. */
    for (int i = 0; i < N; i++)
        p += sprintf(p, "*2\r\n$4\r\nINCR\r\n$5\r\npipe3\r\n");
    client_send(&c, all, (size_t)(p - all));
    for (int i = 1; i <= N; i++) {
        char want[32];

        snprintf(want, sizeof want, ":%d\r\n", i);
        expect_reply(&c, want);
    }
    client_expect_quiet(&c, 100);
    client_close(&c);
    free(all);
}
END_TEST

/* A value larger than the buffers: SET in pieces, GET in one answer. */
START_TEST(resp_big_value)
{
    enum { N = 300000 };
    char *cmd = malloc(N + 64), *want = malloc(N + 64);
    struct client c;
    int n;

    ck_assert_ptr_nonnull(cmd);
    ck_assert_ptr_nonnull(want);
    n = sprintf(cmd, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n", N);
    for (int i = 0; i < N; i++)
        cmd[n + i] = (char)('a' + i % 26);
    memcpy(cmd + n + N, "\r\n", 2);
    client_open(&c, resp_srv.port);
    client_send(&c, cmd, 1000);
    sleep_ms(20);
    client_send(&c, cmd + 1000, (size_t)n + N + 2 - 1000);
    expect_reply(&c, "+OK\r\n");
    client_sends(&c, "GET big\r\n");
    n = sprintf(want, "$%d\r\n", N);
    for (int i = 0; i < N; i++)
        want[n + i] = (char)('a' + i % 26);
    memcpy(want + n + N, "\r\n", 3);
    expect_reply(&c, want);
    client_sends(&c, "DEL big\r\n");
    expect_reply(&c, ":1\r\n");
    client_close(&c);
    free(cmd);
    free(want);
}
END_TEST

/* A protocol error: -ERR, then the server closes. */
START_TEST(resp_protocol_error_closes)
{
    static const char *const bad[] = {
        "*x\r\n",
        "*2\r\n+GET\r\n",                    /* not a bulk string */
        "*2\r\n$3\r\nGET\r\n$-5\r\n",        /* a negative length */
        "*1\r\n$4\r\nPINGxx\r\n",            /* no CRLF after it */
        "*1\r\n$99999999999\r\n",            /* too long */
        "*1025\r\n",                         /* too many arguments */
        "*1\r\n$4\r",                        /* CR without LF... */
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct client c;

        client_open(&c, resp_srv.port);
        client_sends(&c, "PING\r\n");
        expect_reply(&c, "+PONG\r\n");
        client_sends(&c, bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 1)
            client_sends(&c, "x"); /* ... but something else */
        expect_reply_prefix(&c, "-ERR Protocol error: ");
        client_expect_eof(&c);
        client_close(&c);
    }
}
END_TEST

START_TEST(resp_sigterm)
{
    struct server s;
    struct client c;
    uint64_t conns, reqs, errs;

    server_start(&s, "resp", 0, NULL);
    client_open(&c, s.port);
    client_sends(&c, "SET a 1\r\nINCR a\r\nGET a\r\n");
    expect_reply(&c, "+OK\r\n");
    expect_reply(&c, ":2\r\n");
    expect_reply(&c, "$1\r\n2\r\n");
    server_stop_ok(&s, "resp", &conns, &reqs, &errs);
    client_expect_eof(&c);
    client_close(&c);
    ck_assert_uint_eq(conns, 1);
    ck_assert_uint_eq(reqs, 3);
    ck_assert_uint_eq(errs, 0);
}
END_TEST

START_TEST(resp_procs)
{
    static const char *const args[] = {"--procs", "2", NULL};
    struct server s;
    struct client c;
    uint64_t conns, reqs, errs;

    server_start(&s, "resp", 0, args);
    for (int i = 0; i < 6; i++) {
        client_open(&c, s.port);
        client_sends(&c, "PING\r\n");
        expect_reply(&c, "+PONG\r\n");
        client_close(&c);
    }
    server_stop_ok(&s, "resp", &conns, &reqs, &errs);
    ck_assert_uint_eq(conns, 6);
    ck_assert_uint_eq(reqs, 6);
    ck_assert_uint_eq(errs, 0);
}
END_TEST

static Suite *
serve_suite(void)
{
    Suite *s = suite_create("serve");
    TCase *tc = test_case("http");

    /* A peer gone must be EPIPE here, not the death of the test. */
    signal(SIGPIPE, SIG_IGN);
    tcase_add_unchecked_fixture(tc, http_setup, http_teardown);
    tcase_add_test(tc, http_keep_alive);
    tcase_add_test(tc, http_10_closes);
    tcase_add_test(tc, http_10_keep_alive);
    tcase_add_test(tc, http_connection_close);
    tcase_add_test(tc, http_pipelining);
    tcase_add_test(tc, http_long_pipeline);
    tcase_add_test(tc, http_not_found);
    tcase_add_test(tc, http_bad_closes);
    tcase_add_test(tc, http_header_too_large);
    tcase_add_test(tc, http_body_discarded);
    tcase_add_test(tc, http_trickle);
    suite_add_tcase(s, tc);

    tc = test_case("http-own");
    tcase_add_test(tc, http_idle_timeout);
    tcase_add_test(tc, http_sigterm);
    tcase_add_test(tc, http_procs);
    tcase_add_test(tc, http_emfile);
    suite_add_tcase(s, tc);

    tc = test_case("resp");
    tcase_add_unchecked_fixture(tc, resp_setup, resp_teardown);
    tcase_add_test(tc, resp_ping_echo);
    tcase_add_test(tc, resp_keys);
    tcase_add_test(tc, resp_incr);
    tcase_add_test(tc, resp_errors_stay_open);
    tcase_add_test(tc, resp_pipelining);
    tcase_add_test(tc, resp_big_value);
    tcase_add_test(tc, resp_protocol_error_closes);
    suite_add_tcase(s, tc);

    tc = test_case("resp-own");
    tcase_add_test(tc, resp_sigterm);
    tcase_add_test(tc, resp_procs);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(serve_suite)
