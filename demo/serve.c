/*
 * coro-demo serve: a network server with one task per connection, for the
 * protocols of serve-http.c and serve-resp.c. This file is the machinery:
 * the command line, the listener and its accepting task, each
 * connection's loop (read, answer, write), the stop on SIGINT or SIGTERM
 * (a task reading a signalfd), the summary, and with --procs N the worker
 * processes (procs.c), each with its own scheduler and its own
 * SO_REUSEPORT listening socket, whose summaries the parent adds up.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <coro.h>

#include "demo.h"
#include "serve.h"

enum { MAX_PROCS = 1024 };

/* The shared read buffer: one read takes at most this much. */
#define IN_SIZE ((size_t)64 * 1024)
/* The shared output buffer, grown for an answer larger than that. */
#define OUT_SIZE ((size_t)64 * 1024)
/* A connection's own buffer for a partial request starts this small. */
#define PARTIAL_MIN ((size_t)4 * 1024)
/* A connection's task does little more than read and write, and calls
 * nothing that wants a big stack (no stdio); only the pages it touches use
 * memory, one or two, so the size is a margin (sanitizers widen frames). */
#define CONN_STACK ((size_t)32 * 1024)
/* The accepting and the signal task may report errors with stdio. */
#define MAIN_STACK ((size_t)64 * 1024)
/* Once stopping, the requests in flight get this long before their
 * connections are shut down too. */
#define GRACE CORO_MSEC(500)
/* After an error answer, the rest of what the client sends is read and
 * dropped this long (so that closing does not reset the connection before
 * the client has read the answer). */
#define LINGER CORO_MSEC(500)
/* accept() failing for want of descriptors or memory waits this long. */
#define ACCEPT_BACKOFF CORO_MSEC(10)

struct serve serve;
struct serve_out serve_out;

/* The rest of the process's server. */
static struct {
    char *in;                /* IN_SIZE bytes */
    int lfd, sigfd;          /* -1 once closed */
    struct serve_conn conns; /* the list's head */
    coro_wg_t *wg;           /* one per live connection */
    int failed;              /* something broke the server (reported) */
} srv;

/* ---------------------------------------------------------------------- */
/* What the protocols share                                                */

void
serve_put_u64(uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    serve_put(tmp + sizeof tmp - n, n);
}

void
serve_put_i64(int64_t v)
{
    if (v < 0) {
        SERVE_PUTS("-");
        serve_put_u64(-(uint64_t)v);
    } else {
        serve_put_u64((uint64_t)v);
    }
}

int
serve_is(const char *p, size_t n, const char *lower)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];

        if (lower[i] == '\0' || (c >= 'A' && c <= 'Z' ? c + 32 : c) != (unsigned char)lower[i])
            return 0;
    }
    return lower[n] == '\0';
}

/* ---------------------------------------------------------------------- */
/* A connection                                                            */

/* What the task is answering: its connection's own partial request, or
 * what it just read into the shared buffer. */
struct input {
    char *data;
    size_t off, len; /* data[off..len) is not answered yet */
    int shared;
};

void
serve_fail(struct serve_conn *c)
{
    if (!c->error) {
        c->error = 1;
        serve.stats.errors++;
    }
}

/* Keep the unanswered rest of in in the connection's own buffer, before
 * the task may wait (others then use the shared one); free that buffer
 * when nothing is left. 0, or -1 (no memory: the connection ends). */
static int
keep_rest(struct serve_conn *c, struct input *in)
{
    size_t rest = in->len - in->off;

    if (!in->shared) {
        memmove(c->in, c->in + in->off, rest);
        c->in_len = rest;
        if (rest == 0) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    } else if (rest > 0) {
        size_t cap = rest > PARTIAL_MIN ? rest : PARTIAL_MIN;

        if ((c->in = malloc(cap)) == NULL) {
            serve_fail(c);
            return -1;
        }
        memcpy(c->in, in->data + in->off, rest);
        c->in_len = rest;
        c->in_cap = cap;
    }
    *in = (struct input){.data = c->in, .len = c->in_len};
    return 0;
}

/* Write out serve_out. When the socket cannot take it all at once, the
 * rest goes to a buffer of the connection's own and the task waits to
 * write it. 0, or -1 when the connection ends. */
static int
flush(struct serve_conn *c, struct input *in)
{
    ssize_t n;
    size_t sent, rest;
    char *own;

    if (serve_out.len == 0)
        return 0;
    n = coro_write(c->fd, serve_out.buf, serve_out.len, 0);
    if (n == (ssize_t)serve_out.len) {
        serve_out.len = 0;
        return 0;
    }
    if (n == -1 && errno != EAGAIN) {
        serve_out.len = 0;
        serve_fail(c);
        return -1;
    }
    sent = n > 0 ? (size_t)n : 0;
    rest = serve_out.len - sent;
    own = malloc(rest);
    if (own == NULL || keep_rest(c, in) == -1) {
        free(own);
        serve_out.len = 0;
        serve_fail(c);
        return -1;
    }
    memcpy(own, serve_out.buf + sent, rest);
    serve_out.len = 0;
    n = coro_write(c->fd, own, rest, serve.idle_timeout);
    free(own);
    if (n != (ssize_t)rest) {
        serve_fail(c); /* a timeout, a reset */
        return -1;
    }
    return 0;
}

/* Make room for n bytes in serve_out, which is empty. */
static int
grow_out(size_t n)
{
    char *p = realloc(serve_out.buf, n);

    if (p == NULL)
        return -1;
    serve_out.buf = p;
    serve_out.cap = n;
    return 0;
}

/* Answer everything whole in in, writing as needed. 0, or -1 when the
 * connection ends now. */
static int
answer(struct serve_conn *c, struct input *in)
{
    for (;;) {
        size_t want;

        in->off += serve.proto->handle(c, in->data + in->off, in->len - in->off);
        if (c->close || serve_out.want == 0)
            break;
        want = serve_out.want; /* no room for the next answer */
        serve_out.want = 0;
        if (serve_out.len == 0 && grow_out(want) == -1) {
            serve_fail(c);
            return -1;
        }
        if (flush(c, in) == -1)
            return -1;
    }
    return flush(c, in);
}

/* Read more of the connection's requests. The bytes read, 0 when it is
 * time to close (end of file, idle, an error). */
static ssize_t
read_more(struct serve_conn *c, struct input *in)
{
    ssize_t n;

    *in = (struct input){.data = c->in, .off = c->in_len, .len = c->in_len};
    if (c->in_len == 0) {
        /* Once stopping, only what has already arrived is answered. */
        c->idle = 1;
        n = coro_read(c->fd, srv.in, IN_SIZE, serve.stopping ? 0 : serve.idle_timeout);
        c->idle = 0;
        *in = (struct input){.data = srv.in, .len = n > 0 ? (size_t)n : 0, .shared = 1};
    } else {
        if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap * 2 < serve.proto->max_partial ? c->in_cap * 2
                                                                  : serve.proto->max_partial;
            char *p;

            if (c->in_len >= cap) { /* the protocol did not say: say it */
                serve.proto->too_large(c);
                return 0;
            }
            if ((p = realloc(c->in, cap)) == NULL) {
                serve_fail(c);
                return 0;
            }
            c->in = p;
            c->in_cap = cap;
        }
        n = coro_read(c->fd, c->in + c->in_len, c->in_cap - c->in_len, serve.idle_timeout);
        if (n > 0)
            c->in_len += (size_t)n;
        *in = (struct input){.data = c->in, .len = c->in_len};
    }
    if (n == -1 && errno != ETIMEDOUT && errno != EAGAIN)
        serve_fail(c); /* a reset; ETIMEDOUT: idle; EAGAIN: idle when stopping */
    return n > 0 ? n : 0;
}

/* Closing with input unread (after an error answer, or before a body or
 * requests after a "Connection: close"): no more from us, and what the
 * client still sends is dropped for a while, so that the close does not
 * reset the connection (which could lose the answer) while the client is
 * still writing. */
static void
linger(struct serve_conn *c)
{
    int64_t end = coro_now() + LINGER, left;

    if (shutdown(c->fd, SHUT_WR) == -1)
        return;
    while ((left = end - coro_now()) > 0 && coro_read(c->fd, srv.in, IN_SIZE, left) > 0)
        ;
}

static void
serve_conn(struct serve_conn *c)
{
    struct input in;

    for (;;) {
        if (read_more(c, &in) == 0) {
            if (c->close) /* too large */
                (void)flush(c, &in);
            break;
        }
        if (answer(c, &in) == -1)
            return;
        /* Stopping, a request that has begun to come may still end
         * (within GRACE); one that has not is not waited for. */
        if (c->close || (serve.stopping && in.off == in.len)) {
            if (c->error || c->discard > 0 || in.off < in.len)
                linger(c); /* unread input: a plain close would reset */
            break;
        }
        if (keep_rest(c, &in) == -1)
            break;
    }
}

static void *
conn_task(void *arg)
{
    struct serve_conn *c = arg;

    serve_conn(c);
    coro_fd_close(c->fd);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    free(c->in);
    free(c);
    coro_wg_done(srv.wg);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Accepting, stopping                                                     */

/* Start serving a new connection. 0, or -1 (the caller closes fd). */
static int
start_conn(coro_sched_t *s, int fd)
{
    struct serve_conn *c = calloc(1, sizeof *c);
    int one = 1;

    if (c == NULL)
        return -1;
    /* Answers go out at once, not after the client's delayed ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    if (coro_spawn(s, conn_task, c, CONN_STACK) == -1) {
        free(c);
        return -1;
    }
    c->next = &srv.conns;
    c->prev = srv.conns.prev;
    c->prev->next = c;
    srv.conns.prev = c;
    coro_wg_add(srv.wg, 1);
    return 0;
}

static void stop(void);

static void *
accept_task(void *arg)
{
    coro_sched_t *s = arg;
    int64_t warned = 0;

    while (!serve.stopping) {
        int fd = coro_accept(srv.lfd, NULL, NULL, CORO_FOREVER);

        if (fd >= 0) {
            serve.stats.connections++;
            if (start_conn(s, fd) == -1) {
                serve.stats.errors++;
                coro_fd_close(fd);
            }
            continue;
        }
        if (serve.stopping) /* EBADF: stop() closed the listener */
            break;
        switch (errno) {
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
            /* Out of descriptors or memory: the connection waits in the
             * backlog until one closes; try again soon, not in a loop. */
            serve.stats.errors++;
            if (coro_now() - warned > CORO_MSEC(1000)) {
                demo_error(serve.who, "accept: %s (trying again every 10 ms)", strerror(errno));
                warned = coro_now();
            }
            coro_sleep(ACCEPT_BACKOFF);
            break;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
        case EPERM: /* a firewall said no */
            break;
        default:
            demo_error(serve.who, "accept: %s", strerror(errno));
            srv.failed = 1;
            stop();
            return NULL;
        }
    }
    return NULL;
}

/* Stop accepting (the accepting task wakes with EBADF), wake the signal
 * task if it is not the caller, and end the idle connections: each one's
 * task wakes from its read with end of file (shutdown(SHUT_RD) leaves the
 * descriptor to its task; data already there is still answered). */
static void
stop(void)
{
    if (serve.stopping)
        return;
    serve.stopping = 1;
    if (srv.lfd >= 0) {
        coro_fd_close(srv.lfd);
        srv.lfd = -1;
    }
    if (srv.sigfd >= 0) {
        coro_fd_close(srv.sigfd);
        srv.sigfd = -1;
    }
    for (struct serve_conn *c = srv.conns.next; c != &srv.conns; c = c->next)
        if (c->idle)
            (void)shutdown(c->fd, SHUT_RD);
}

/* Waits for SIGINT or SIGTERM (or for stop() from elsewhere), stops, gives
 * the requests in flight GRACE, then shuts down what is left. */
static void *
signal_task(void *arg)
{
    struct signalfd_siginfo si;

    (void)arg;
    (void)coro_read(srv.sigfd, &si, sizeof si, CORO_FOREVER);
    stop();
    if (coro_wg_wait(srv.wg, GRACE) == -1) {
        for (struct serve_conn *c = srv.conns.next; c != &srv.conns; c = c->next)
            (void)shutdown(c->fd, SHUT_RDWR);
        (void)coro_wg_wait(srv.wg, CORO_FOREVER);
    }
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* One server, in this process                                             */

struct options {
    const struct serve_proto *proto;
    const char *host; /* NULL: every address */
    const char *host_arg;
    int port;
    unsigned procs;
    int64_t idle_timeout;
};

/* "127.0.0.1:8080", "[::1]:8080", "*:8080". */
static void
print_address(const struct options *o, int port, unsigned procs)
{
    const char *h = o->host_arg;
    int v6 = strchr(h, ':') != NULL;

    fprintf(stderr, "coro-demo serve %s: listening on %s%s%s:%d", o->proto->name, v6 ? "[" : "",
            h, v6 ? "]" : "", port);
    if (procs > 1)
        fprintf(stderr, ", %u worker processes", procs);
    fputc('\n', stderr);
}

static void
print_summary(const char *proto, const struct serve_stats *st)
{
    fprintf(stderr,
            "coro-demo serve %s: %" PRIu64 " connection%s, %" PRIu64 " request%s, %" PRIu64
            " error%s\n",
            proto, st->connections, st->connections == 1 ? "" : "s", st->requests,
            st->requests == 1 ? "" : "s", st->errors, st->errors == 1 ? "" : "s");
}

/* How a worker talks to the parent; NULL in a single process. */
struct record {
    char tag; /* 'R' listening on port, 'D' done, with stats */
    int port;
    struct serve_stats stats;
};

/* The signals that stop the server, blocked: they are read from a signalfd. */
static int
block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    return sigprocmask(SIG_BLOCK, set, NULL);
}

static int
setup(const struct options *o, int port, int flags)
{
    sigset_t set;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    srv.lfd = srv.sigfd = -1;
    srv.conns.next = srv.conns.prev = &srv.conns;
    serve.proto = o->proto;
    serve.idle_timeout = o->idle_timeout;
    if ((srv.in = malloc(IN_SIZE)) == NULL || (serve_out.buf = malloc(OUT_SIZE)) == NULL ||
        (srv.wg = coro_wg_create()) == NULL) {
        demo_error(serve.who, "malloc: %s", strerror(errno));
        return -1;
    }
    serve_out.cap = OUT_SIZE;
    if (block_signals(&set) == -1 ||
        (srv.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
        demo_error(serve.who, "signalfd: %s", strerror(errno));
        return -1;
    }
    if ((srv.lfd = coro_tcp_listen(o->host, port, 0, flags)) == -1) {
        demo_error(serve.who, "listening on %s port %d: %s", o->host_arg, port, strerror(errno));
        return -1;
    }
    if (getsockname(srv.lfd, (struct sockaddr *)&ss, &len) == -1) {
        demo_error(serve.who, "getsockname: %s", strerror(errno));
        return -1;
    }
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

static void
teardown(void)
{
    if (srv.lfd >= 0)
        coro_fd_close(srv.lfd);
    if (srv.sigfd >= 0)
        coro_fd_close(srv.sigfd);
    coro_wg_destroy(srv.wg);
    free(srv.in);
    free(serve_out.buf);
    if (serve.proto && serve.proto->fini)
        serve.proto->fini();
}

/* Serve until stopped. out: the pipe to the parent, or -1 when this is the
 * only process (which then prints its own lines). The exit status. */
static int
run_server(const struct options *o, int port, int out)
{
    coro_sched_t *s = NULL;
    struct record rec = {.tag = 'R'};
    int rc = DEMO_FAIL;

    if ((port = setup(o, port, out >= 0 ? CORO_REUSEPORT : 0)) == -1)
        goto done;
    if (o->proto->init && o->proto->init() == -1)
        goto done;
    if ((s = coro_sched_create()) == NULL || coro_spawn(s, accept_task, s, MAIN_STACK) == -1 ||
        coro_spawn(s, signal_task, NULL, MAIN_STACK) == -1) {
        demo_error(serve.who, "starting the tasks: %s", strerror(errno));
        goto done;
    }
    rec.port = port;
    if (out < 0)
        print_address(o, port, 1);
    else if (demo_write_all(out, &rec, sizeof rec) == -1)
        goto done; /* the parent is gone */
    if (coro_sched_run(s) == -1) {
        demo_error(serve.who, "coro_sched_run: %s", strerror(errno));
        goto done;
    }
    rc = srv.failed ? DEMO_FAIL : DEMO_OK;
    rec = (struct record){.tag = 'D', .port = port, .stats = serve.stats};
    if (out < 0)
        print_summary(o->proto->name, &serve.stats);
    else if (demo_write_all(out, &rec, sizeof rec) == -1)
        rc = DEMO_FAIL;
done:
    coro_sched_destroy(s);
    teardown();
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Worker processes                                                        */

/*
 * --procs N: worker 1 listens first (on an ephemeral port for --port 0)
 * and sends an 'R' record with its port; then the others listen on that
 * same port, each with its own SO_REUSEPORT socket (the kernel spreads the
 * connections between them), and send theirs. The parent says it listens
 * once they all do, then waits: it forwards SIGINT and SIGTERM to the
 * workers, each of which stops and sends its counts in a 'D' record, and
 * it prints their sum. A worker dies with its parent (PR_SET_PDEATHSIG).
 */
struct worker_ctx {
    const struct options *o;
    int port;
    pid_t parent;
};

struct wstate {
    int ready, done, gone;
    struct record rec;
};

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
    got_signal = sig;
}

static int
worker_main(unsigned i, int out, void *arg)
{
    struct worker_ctx *w = arg;
    char who[64];

    snprintf(who, sizeof who, "serve %s worker %u/%u", w->o->proto->name, i + 1, w->o->procs);
    serve.who = who;
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != w->parent)
        return DEMO_FAIL;
    return run_server(w->o, w->port, out);
}

static void
on_record(unsigned i, const void *rec, void *arg)
{
    struct wstate *ws = &((struct wstate *)arg)[i];

    if (rec == NULL) {
        ws->gone = 1;
        return;
    }
    memcpy(&ws->rec, rec, sizeof ws->rec);
    if (ws->rec.tag == 'R')
        ws->ready = 1;
    else
        ws->done = 1;
}

/* Poll the workers until n of them are ready, one is gone, or a signal
 * comes. 0 when they are ready. */
static int
wait_ready(struct demo_procs *pr, struct wstate *ws, unsigned n, const sigset_t *mask)
{
    for (;;) {
        unsigned ready = 0;

        for (unsigned i = 0; i < pr->started; i++) {
            if (ws[i].gone)
                return -1;
            ready += ws[i].ready;
        }
        if (ready >= n)
            return 0;
        if (got_signal)
            return -1;
        if (demo_procs_poll(pr, -1, mask, on_record, ws) == -1 && errno != EINTR)
            return -1;
    }
}

static int
run_workers(const struct options *o)
{
    struct worker_ctx w = {.o = o, .port = o->port, .parent = getpid()};
    struct wstate *ws = calloc(o->procs, sizeof *ws);
    struct serve_stats sum = {0};
    struct sigaction sa = {.sa_handler = on_signal};
    struct demo_procs pr;
    sigset_t set, wait_mask;
    int ok = 1, forwarded = 0;
    char buf[96];

    if (ws == NULL || demo_procs_init(&pr, serve.who, o->procs, sizeof(struct record)) == -1) {
        if (ws == NULL)
            demo_error(serve.who, "calloc: %s", strerror(errno));
        free(ws);
        return DEMO_FAIL;
    }
    /* The signals are blocked but while the parent waits in ppoll(); the
     * workers inherit them blocked, for their signalfd. */
    sigemptyset(&sa.sa_mask);
    if (block_signals(&set) == -1 || sigprocmask(SIG_BLOCK, NULL, &wait_mask) == -1 ||
        sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1) {
        demo_error(serve.who, "signals: %s", strerror(errno));
        ok = 0;
    }
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    if (ok && demo_procs_spawn(&pr, worker_main, &w) == 0 &&
        wait_ready(&pr, ws, 1, &wait_mask) == 0) {
        w.port = ws[0].rec.port;
        while (pr.started < o->procs && demo_procs_spawn(&pr, worker_main, &w) == 0)
            ;
        if (pr.started == o->procs && wait_ready(&pr, ws, o->procs, &wait_mask) == 0)
            print_address(o, w.port, o->procs);
        else if (!got_signal) /* a signal while starting is a stop, not a failure */
            ok = 0;
    } else if (!got_signal) {
        ok = 0;
    }
    if (!ok)
        demo_procs_kill(&pr, SIGTERM);
    while (demo_procs_open(&pr) > 0) {
        if (got_signal && !forwarded) {
            demo_procs_kill(&pr, got_signal);
            forwarded = 1;
        }
        if (demo_procs_poll(&pr, -1, &wait_mask, on_record, ws) == -1 && errno != EINTR)
            break;
        for (unsigned i = 0; i < pr.started; i++) {
            if (ws[i].gone && !ws[i].done && !pr.w[i].reaped) {
                /* It died while serving: say so now, the others go on. */
                demo_procs_wait(&pr, i);
                demo_error(serve.who, "worker %u/%u (pid %ld) %s", i + 1, o->procs,
                           (long)pr.w[i].pid,
                           pr.w[i].status == -1 ? "was lost"
                                                : demo_describe_exit(pr.w[i].status, buf, sizeof buf));
                ok = 0;
            }
        }
    }
    for (unsigned i = 0; i < pr.started; i++) {
        if (!pr.w[i].reaped && demo_procs_wait(&pr, i) == -1)
            ok = 0;
        if (pr.w[i].status != 0)
            ok = 0;
        if (ws[i].done) {
            sum.connections += ws[i].rec.stats.connections;
            sum.requests += ws[i].rec.stats.requests;
            sum.errors += ws[i].rec.stats.errors;
        }
    }
    if (pr.started > 0 && (ok || got_signal))
        print_summary(o->proto->name, &sum);
    demo_procs_free(&pr);
    free(ws);
    return ok ? DEMO_OK : DEMO_FAIL;
}

/* ---------------------------------------------------------------------- */
/* The command                                                             */

static void
usage(FILE *f)
{
    fputs("Usage: coro-demo serve http [--host H] [--port P] [--procs N] [--idle-timeout S]\n"
          "       coro-demo serve resp [--host H] [--port P] [--procs N]\n"
          "\n"
          "A network server with one task per connection, on one scheduler per process.\n"
          "\n"
          "  http  HTTP/1.1 with keep-alive and pipelining: / answers 200 \"hello\", any\n"
          "        other path 404; a malformed request 400, a header section over 8 KiB\n"
          "        431, and the connection closes. Default port 8080.\n"
          "  resp  a Redis (RESP2) server holding its keys in memory, per process: PING,\n"
          "        ECHO, SET, GET, DEL, EXISTS, INCR, COMMAND, CONFIG GET, QUIT; for\n"
          "        redis-cli and redis-benchmark. Default port 6379.\n"
          "\n"
          "  --host H          the address to listen on (default 127.0.0.1; '*': every one)\n"
          "  --port P          the port (0: an ephemeral one, shown in the first line)\n"
          "  --procs N         fork N worker processes, each with its own scheduler and its\n"
          "                    own SO_REUSEPORT socket (0: one per online CPU; default 1:\n"
          "                    serve in this process; at most 1024). With --procs 0 or N\n"
          "                    >= 2, each resp worker has its own keys.\n"
          "  --idle-timeout S  http: close a connection that sends nothing for S seconds\n"
          "                    (default 60; 0: never)\n"
          "  --help            show this help and exit\n"
          "\n"
          "Stderr says \"coro-demo serve PROTO: listening on HOST:PORT\" once it listens.\n"
          "SIGINT or SIGTERM stops it: no more connections, the requests in flight are\n"
          "answered, idle connections are closed, and after one summary line\n"
          "(\"coro-demo serve PROTO: C connections, R requests, E errors\", the sum over\n"
          "the workers) it exits 0. Exit status 1 when it could not serve, 2 for bad\n"
          "arguments.\n",
          f);
}

static int
bad_usage(void)
{
    return demo_bad_usage("serve");
}

static int
parse_args(int argc, char **argv, struct options *o)
{
    uint64_t v;
    int have_idle = 0;

    for (int i = 2; i < argc; i++) {
        const char *val;
        int k;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if ((k = demo_opt("serve", argc, argv, &i, "--host", &val)) != 0) {
            if (k == -1)
                return -1;
            if (*val == '\0') {
                demo_error("serve", "--host: an empty address ('*' is every address)");
                return -1;
            }
            o->host_arg = val;
            o->host = strcmp(val, "*") == 0 ? NULL : val;
        } else if ((k = demo_opt("serve", argc, argv, &i, "--port", &val)) != 0) {
            if (k == -1 || demo_parse_u64("serve", "--port", val, 0, 65535, &v) == -1)
                return -1;
            o->port = (int)v;
        } else if ((k = demo_opt("serve", argc, argv, &i, "--procs", &val)) != 0) {
            if (k == -1 || demo_parse_u64("serve", "--procs", val, 0, MAX_PROCS, &v) == -1)
                return -1;
            o->procs = (unsigned)v;
        } else if ((k = demo_opt("serve", argc, argv, &i, "--idle-timeout", &val)) != 0) {
            if (k == -1 || demo_parse_u64("serve", "--idle-timeout", val, 0, 1000000, &v) == -1)
                return -1;
            o->idle_timeout = v == 0 ? CORO_FOREVER : (int64_t)v * 1000000000;
            have_idle = 1;
        } else {
            demo_error("serve", "unknown argument '%s'", argv[i]);
            return -1;
        }
    }
    if (have_idle && o->proto != &serve_http) {
        demo_error("serve", "--idle-timeout is for http only");
        return -1;
    }
    return 0;
}

int
demo_serve(int argc, char **argv)
{
    struct options o = {.host = "127.0.0.1", .host_arg = "127.0.0.1", .procs = 1,
                        .idle_timeout = (int64_t)60 * 1000000000};
    char who[32];
    int rc;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return DEMO_OK;
    }
    if (argc < 2) {
        demo_error("serve", "which protocol? http or resp");
        return bad_usage();
    }
    if (strcmp(argv[1], "http") == 0) {
        o.proto = &serve_http;
    } else if (strcmp(argv[1], "resp") == 0) {
        o.proto = &serve_resp;
        o.idle_timeout = CORO_FOREVER; /* as redis-server's "timeout 0" */
    } else {
        demo_error("serve", "unknown protocol '%s' (http or resp)", argv[1]);
        return bad_usage();
    }
    o.port = o.proto->port;
    if ((rc = parse_args(argc, argv, &o)) != 0)
        return rc == 1 ? DEMO_OK : bad_usage();
    if (o.procs == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        o.procs = cpus < 1 ? 1 : cpus > MAX_PROCS ? MAX_PROCS : (unsigned)cpus;
    }
    snprintf(who, sizeof who, "serve %s", o.proto->name);
    serve.who = who;
    /* A peer gone while we write is EPIPE (coro_write() never raises it on
     * sockets; this is for the workers' pipes). */
    signal(SIGPIPE, SIG_IGN);
    return o.procs == 1 ? run_server(&o, o.port, -1) : run_workers(&o);
}
