/*
 * Coroutine I/O: tasks wait on file descriptors through one epoll instance
 * per scheduler, which plugs into the scheduler as its poller (task.h).
 *
 * An fd is registered once, edge-triggered, for input and output, the
 * first time a task of the scheduler waits on it, and stays registered
 * until coro_fd_close(): the steady state makes no epoll_ctl() per wait.
 * Every operation tries its system call first and waits only on EAGAIN.
 * An edge that arrives while nobody waits is kept (ready) for the next
 * wait, which then returns at once.
 *
 * Outside any task (on a thread's own stack, or in a coroutine that it
 * resumed) the same calls block the thread in ppoll(2) instead, with the
 * same timeouts and errors; from a coroutine that a task resumed they
 * fail with EPERM when they would wait, as the channel functions do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "list.h"
#include "task.h"

/* What the library knows of an fd, per scheduler. */
enum { KIND_UNKNOWN, KIND_SOCKET, KIND_OTHER };
struct fdstate {
    struct coro__clause *waiter[2]; /* the wait for input, for output (may be one) */
    unsigned char registered;    /* in the epoll set */
    unsigned char ready;         /* CORO_IN/CORO_OUT edges that came while nobody waited */
    unsigned char kind;          /* a socket (send/recv with flags), or not */
    unsigned char nonblock;      /* a non-socket made O_NONBLOCK */
    unsigned char stream;        /* STREAM_UNKNOWN, STREAM_YES (SOCK_STREAM), STREAM_NO */
    unsigned char drained;       /* its last read was short: the socket was empty */
    unsigned char eof;           /* an edge said end of file, hang-up or error */
};
enum { STREAM_UNKNOWN, STREAM_YES, STREAM_NO };

struct io {
    int epfd;
    int timerfd;                 /* when epoll_pwait2() is missing: -1 until needed */
    int no_pwait2;
    coro_sched_t *sched;
    struct fdstate *fds;
    size_t nfds;
    struct coro__link link;      /* in the thread's list */
};

/* A task's wait on an fd: one clause for both directions. It fires with
 * its id set to the ready events, which coro__wait() returns. */
struct fdwait {
    struct coro__clause clause;
    struct io *io;
    int fd;
    int events;
};
_Static_assert(sizeof(struct fdwait) <= CORO__ROOM, "struct fdwait must fit in a wait's room");

/* The thread's pollers, for coro_fd_close() and the fd sources. */
static __thread struct coro__link pollers;

static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

/* ---------------------------------------------------------------------- */
/* The fd table                                                            */

/* fd's state in io, the table grown as needed; NULL and ENOMEM. */
static struct fdstate *
state(struct io *io, int fd)
{
    if ((size_t)fd >= io->nfds) {
        size_t n = io->nfds ? io->nfds : 64;
        struct fdstate *fds;

        while (n <= (size_t)fd)
            n *= 2;
        if ((fds = realloc(io->fds, n * sizeof *fds)) == NULL) {
            errno = ENOMEM;
            return NULL;
        }
        memset(fds + io->nfds, 0, (n - io->nfds) * sizeof *fds);
        io->fds = fds;
        io->nfds = n;
    }
    return &io->fds[fd];
}

/* A wait on st ends: it leaves both slots. */
static void
unhook(struct io *io, struct fdstate *st, struct coro__clause *c)
{
    for (int d = 0; d < 2; d++)
        if (st->waiter[d] == c)
            st->waiter[d] = NULL;
    coro__sched_poller_waiting(io->sched, -1);
}

/* Events bits came for st: wake whoever waits for them (with err, when
 * not 0), or keep them for the next wait. One wait may cover both
 * directions: it is woken once, with every bit it asked for. */
static void
wake(struct io *io, struct fdstate *st, int bits, int err)
{
    for (int d = 0; d < 2; d++) {
        int bit = d ? CORO_OUT : CORO_IN;
        struct coro__clause *c = st->waiter[d];

        if (!(bits & bit))
            continue;
        if (c == NULL) {
            st->ready |= (unsigned char)bit;
            continue;
        }
        unhook(io, st, c);
        c->id = bits & coro__container_of(c, struct fdwait, clause)->events;
        bits &= ~c->id; /* delivered */
        coro__fire(c, err);
    }
}

/* Forget fd in io: its waits wake with EBADF, it leaves the epoll set. */
static void
forget(struct io *io, int fd)
{
    struct fdstate *st;

    if ((size_t)fd >= io->nfds)
        return;
    st = &io->fds[fd];
    while (st->waiter[0] || st->waiter[1])
        wake(io, st, st->waiter[0] ? CORO_IN : CORO_OUT, EBADF);
    if (st->registered)
        (void)epoll_ctl(io->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(st, 0, sizeof *st);
}

/* ---------------------------------------------------------------------- */
/* The poller                                                              */

static int
to_bits(uint32_t ev)
{
    int bits = 0;

    if (ev & (EPOLLERR | EPOLLHUP)) /* ready for both: the next call reports it */
        return CORO_IN | CORO_OUT;
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
        bits |= CORO_IN;
    if (ev & EPOLLOUT)
        bits |= CORO_OUT;
    return bits;
}

/* epoll_wait() until deadline where epoll_pwait2() is missing: an absolute
 * CLOCK_MONOTONIC timer in the set keeps nanoseconds. */
static int
wait_with_timerfd(struct io *io, struct epoll_event *ev, int max, int64_t deadline)
{
    if (deadline > 0) {
        struct itimerspec its = {
            .it_value = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000},
        };

        if (io->timerfd < 0) {
            struct epoll_event te = {.events = EPOLLIN, .data.fd = -1};

            io->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (io->timerfd >= 0 && epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->timerfd, &te) == -1) {
                close(io->timerfd);
                io->timerfd = -1;
            }
        }
        if (io->timerfd >= 0 && timerfd_settime(io->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0) {
            deadline = -1;
        } else { /* no timer: milliseconds, rounded up, so never early */
            int64_t ms = (deadline - coro_now() + 999999) / 1000000;

            /* A deadline passed already is 0 ms, not a negative (endless) wait. */
            return epoll_wait(io->epfd, ev, max, ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms);
        }
    }
    return epoll_wait(io->epfd, ev, max, deadline == 0 ? 0 : -1);
}

static void
io_poll(void *p, int64_t deadline)
{
    struct io *io = p;
    struct epoll_event ev[128];
    struct timespec ts = {0, 0}, *tsp = &ts;
    int n;

    if (deadline < 0) {
        tsp = NULL;
    } else if (deadline > 0) {
        int64_t left = deadline - coro_now();

        if (left > 0) {
            ts.tv_sec = left / 1000000000;
            ts.tv_nsec = left % 1000000000;
        }
    }
#if HAVE_EPOLL_PWAIT2
    n = io->no_pwait2 ? -1 : epoll_pwait2(io->epfd, ev, 128, tsp, NULL);
    if (n == -1 && errno == ENOSYS)
        io->no_pwait2 = 1; /* a kernel before Linux 5.11 */
#else
    (void)tsp;
    io->no_pwait2 = 1;
#endif
    if (io->no_pwait2)
        n = wait_with_timerfd(io, ev, 128, deadline);
    for (int i = 0; i < n; i++) { /* n == -1: EINTR; the scheduler looks again */
        int fd = ev[i].data.fd;

        if (fd < 0) { /* the timer: drain it */
            uint64_t x;

            (void)!read(io->timerfd, &x, sizeof x);
        } else if ((size_t)fd < io->nfds) {
            if (ev[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                io->fds[fd].eof = 1; /* no edge may come after this one */
            wake(io, &io->fds[fd], to_bits(ev[i].events), 0);
        }
    }
}

static void
io_free(void *p)
{
    struct io *io = p;

    coro__list_unlink(&io->link);
    close(io->epfd);
    if (io->timerfd >= 0)
        close(io->timerfd);
    free(io->fds);
    free(io);
}

static const struct coro__poller_ops io_ops = {
    .poll = io_poll,
    .free = io_free,
};

/* The running task's scheduler's poller, made on the first fd wait. */
static struct io *
io_of(coro_sched_t *s)
{
    struct io *io = coro__sched_poller(s);

    if (io)
        return io;
    if ((io = calloc(1, sizeof *io)) == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if ((io->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
        int err = errno;

        free(io);
        errno = err == EMFILE || err == ENFILE ? err : ENOMEM;
        return NULL;
    }
    io->timerfd = -1;
    io->sched = s;
    if (pollers.next == NULL)
        coro__list_init(&pollers);
    coro__list_push(&pollers, &io->link);
    coro__sched_set_poller(s, &io_ops, io);
    return io;
}

/* ---------------------------------------------------------------------- */
/* Waiting                                                                 */

static int
check_events(int fd, int events)
{
    if (fd < 0 || events == 0 || (events & ~(CORO_IN | CORO_OUT)))
        return fail(EINVAL);
    return 0;
}

/* The running coroutine is a task, or runs for one (a coroutine that a task
 * resumed, directly or not): then it may not block the thread. */
static int
under_task(void)
{
    for (struct coro__base *b = coro__thr_peek()->current; !(b->flags & CORO__ROOT); b = b->resumer)
        if (((struct coro *)b)->ops == &coro__task_ops)
            return 1;
    return 0;
}

/* Outside any task: ppoll(2) until deadline (< 0: none; 0: do not wait),
 * with the same results. */
static int
wait_thread(int fd, int events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = (short)((events & CORO_IN ? POLLIN : 0) |
                                                      (events & CORO_OUT ? POLLOUT : 0))};

    for (;;) {
        struct timespec ts = {0, 0};
        int n;

        if (deadline > 0) {
            int64_t left = deadline - coro_now();

            if (left > 0) {
                ts.tv_sec = left / 1000000000;
                ts.tv_nsec = left % 1000000000;
            }
        }
        n = ppoll(&pfd, 1, deadline < 0 ? NULL : &ts, NULL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        if (n == 0)
            return fail(deadline == 0 ? EAGAIN : ETIMEDOUT);
        if (pfd.revents & POLLNVAL)
            return fail(EBADF);
        if (pfd.revents & (POLLERR | POLLHUP))
            return events;
        return (pfd.revents & POLLIN ? CORO_IN : 0) | (pfd.revents & POLLOUT ? CORO_OUT : 0);
    }
}

/* For coro_sched_dump(). */
static void
describe_fdwait(const struct coro__clause *c, char *buf, size_t len)
{
    const struct fdwait *fw = coro__container_of(c, struct fdwait, clause);

    snprintf(buf, len, "fd %d for %s", fw->fd,
             fw->events == (CORO_IN | CORO_OUT) ? "input and output"
             : fw->events == CORO_IN           ? "input"
                                               : "output");
}

/* Drop a wait that ended another way (deadline, cancel, its task closed). */
static void
cancel_fdwait(struct coro__clause *c)
{
    struct fdwait *fw = coro__container_of(c, struct fdwait, clause);

    unhook(fw->io, &fw->io->fds[fw->fd], c);
}

/* A task waits on fd for events until deadline (< 0: none; 0: do not
 * wait). A kept edge makes it return at once: the caller tries its system
 * call again, and waits again if that says EAGAIN. */
static int
wait_task(struct task *t, int fd, int events, int64_t deadline)
{
    struct io *io = io_of(t->sched);
    struct fdstate *st;
    struct coro__wait *w;
    struct fdwait *fw;
    int bits;

    if (io == NULL || (st = state(io, fd)) == NULL)
        return -1;
    if (!st->registered) {
        struct epoll_event ev = {
            .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
            .data.fd = fd,
        };

        if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
            if (errno == EPERM)
                return events; /* a regular file, or a directory: always ready */
            if (errno != EEXIST)
                return fail(errno == EBADF ? EBADF : errno == ENOSPC ? ENOMEM : errno);
        }
        st->registered = 1;
    }
    if ((bits = st->ready & events) != 0) {
        st->ready &= (unsigned char)~bits;
        return bits;
    }
    if ((events & CORO_IN && st->waiter[0]) || (events & CORO_OUT && st->waiter[1]))
        return fail(EBUSY);
    if (deadline == 0)
        return fail(EAGAIN);
    if ((w = coro__wait_begin(0)) == NULL)
        return -1;
    fw = w->room;
    fw->io = io;
    fw->fd = fd;
    fw->events = events;
    coro__wait_add(w, &fw->clause, 0, cancel_fdwait);
    fw->clause.describe = describe_fdwait;
    if (events & CORO_IN)
        st->waiter[0] = &fw->clause;
    if (events & CORO_OUT)
        st->waiter[1] = &fw->clause;
    coro__sched_poller_waiting(io->sched, 1);
    return coro__wait(w, deadline);
}

int
coro__fd_wait(int fd, int events, int64_t deadline)
{
    struct task *t = coro__self_task();

    if (t != NULL)
        return wait_task(t, fd, events, deadline);
    if (deadline != 0 && under_task()) {
        /* It may not block the thread: what is ready now, else EPERM. */
        int bits = wait_thread(fd, events, 0);

        return bits == -1 && errno == EAGAIN ? fail(EPERM) : bits;
    }
    return wait_thread(fd, events, deadline);
}

static int64_t
deadline_of(int64_t timeout)
{
    return timeout < 0 ? -1 : timeout == 0 ? 0 : coro__deadline(timeout);
}

int
coro_fd_wait(int fd, int events, int64_t timeout)
{
    struct pollfd pfd;
    struct task *t;

    if (check_events(fd, events) == -1)
        return -1;
    if (fcntl(fd, F_GETFD) == -1)
        return fail(EBADF);
    if ((t = coro__self_task()) != NULL) {
        /* Readiness now, from the kernel: an edge the poller kept may be
         * older than what the caller did since it came. */
        struct io *io = io_of(t->sched);
        struct fdstate *st = io ? state(io, fd) : NULL;

        pfd = (struct pollfd){.fd = fd, .events = (short)((events & CORO_IN ? POLLIN : 0) |
                                                         (events & CORO_OUT ? POLLOUT : 0))};
        if (poll(&pfd, 1, 0) == 1) {
            if (pfd.revents & POLLNVAL)
                return fail(EBADF);
            if (pfd.revents & (POLLERR | POLLHUP))
                return events;
            return (pfd.revents & POLLIN ? CORO_IN : 0) | (pfd.revents & POLLOUT ? CORO_OUT : 0);
        }
        if (st)
            st->ready &= (unsigned char)~events; /* the kernel says: not ready */
    }
    return coro__fd_wait(fd, events, deadline_of(timeout));
}

/* ---------------------------------------------------------------------- */
/* What kind of fd                                                         */

/* For a task's fd, the scheduler's memory of it; NULL outside tasks. */
static struct fdstate *
known(int fd)
{
    struct task *t = coro__self_task();
    struct io *io;

    if (t == NULL || (io = io_of(t->sched)) == NULL)
        return NULL;
    return state(io, fd);
}

/* Make a non-socket fd non-blocking (sockets get MSG_DONTWAIT instead). */
static void
make_nonblocking(int fd, struct fdstate *st)
{
    int fl;

    if (st && st->nonblock)
        return;
    if ((fl = fcntl(fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (st)
        st->nonblock = 1;
}

/* One try at reading: a socket is tried with recv(MSG_DONTWAIT) first;
 * ENOTSOCK says it is not one. */
static ssize_t
try_read(int fd, void *buf, size_t len, struct fdstate *st)
{
    if (!st || st->kind != KIND_OTHER) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);

        if (n >= 0 || errno != ENOTSOCK) {
            if (st)
                st->kind = KIND_SOCKET;
            return n;
        }
        if (st)
            st->kind = KIND_OTHER;
    }
    make_nonblocking(fd, st);
    return read(fd, buf, len);
}

/* write(2) to a non-socket with SIGPIPE held back: a reader gone gives
 * EPIPE, and the signal it raised is taken off the thread. */
static ssize_t
write_nosigpipe(int fd, const void *buf, size_t len)
{
    sigset_t pipe_set, old, pending;
    ssize_t n;
    int err, was_pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    n = write(fd, buf, len);
    err = errno;
    if (n == -1 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};

        while (sigtimedwait(&pipe_set, NULL, &zero) == -1 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

static ssize_t
try_write(int fd, const void *buf, size_t len, struct fdstate *st)
{
    if (!st || st->kind != KIND_OTHER) {
        ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n >= 0 || errno != ENOTSOCK) {
            if (st)
                st->kind = KIND_SOCKET;
            return n;
        }
        if (st)
            st->kind = KIND_OTHER;
    }
    make_nonblocking(fd, st);
    return write_nosigpipe(fd, buf, len);
}

/* ---------------------------------------------------------------------- */
/* Reading, writing, accepting, connecting, closing                        */

/* Is fd, whose state st is, a stream socket? Asked of the kernel once. */
static int
is_stream(int fd, struct fdstate *st)
{
    if (st->stream == STREAM_UNKNOWN) {
        int type;
        socklen_t len = sizeof type;

        st->stream = st->kind == KIND_SOCKET && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
                             type == SOCK_STREAM
                         ? STREAM_YES
                         : STREAM_NO;
    }
    return st->stream == STREAM_YES;
}

/* A read of fd returned n of the len bytes asked for. A short read of a
 * stream socket took all there was: what comes after it raises an edge. */
static void
note_read(int fd, struct fdstate *st, ssize_t n, size_t len)
{
    if (st)
        st->drained = n > 0 && (size_t)n < len && is_stream(fd, st);
}

/* May a read that can wait skip its first recv(), which would say EAGAIN?
 * Only when the last read of the stream was short and nothing has come
 * since: the socket is in the epoll set, no edge is kept, none said end of
 * file (a short read can take the last bytes and the FIN after the edge
 * that announced both, and no edge comes after it), and nobody else waits
 * to read it (that wait's EBUSY must not hide what is there). */
static int
skip_read(const struct fdstate *st, int64_t deadline)
{
    return st && st->drained && deadline != 0 && st->registered && !st->eof && !(st->ready & CORO_IN) &&
           st->waiter[0] == NULL;
}

ssize_t
coro_read(int fd, void *buf, size_t len, int64_t timeout)
{
    int64_t deadline = deadline_of(timeout);
    struct fdstate *st;
    int wait;

    if (fd < 0 || (buf == NULL && len > 0))
        return fail(fd < 0 ? EBADF : EINVAL);
    st = known(fd);
    /* As nginx does, one recv() per request on a keep-alive connection
     * instead of two. */
    wait = skip_read(st, deadline);
    for (;;) {
        if (!wait) {
            ssize_t n = try_read(fd, buf, len, st);

            if (n >= 0) {
                note_read(fd, st, n, len);
                return n;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
        }
        if (coro__fd_wait(fd, CORO_IN, deadline) == -1)
            return -1;
        st = known(fd); /* while it waited, other tasks may have grown the table */
        wait = 0;
    }
}

ssize_t
coro_write(int fd, const void *buf, size_t len, int64_t timeout)
{
    int64_t deadline = deadline_of(timeout);
    struct fdstate *st;
    size_t done = 0;

    if (fd < 0 || (buf == NULL && len > 0))
        return fail(fd < 0 ? EBADF : EINVAL);
    if (len > SSIZE_MAX)
        return fail(EINVAL);
    st = known(fd);
    while (done < len) {
        ssize_t n = try_write(fd, (const char *)buf + done, len - done, st);

        if (n >= 0) {
            done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || coro__fd_wait(fd, CORO_OUT, deadline) == -1)
            return done > 0 ? (ssize_t)done : -1; /* the next call reports the error */
        st = known(fd); /* while it waited, other tasks may have grown the table */
    }
    return (ssize_t)len;
}

/* A new fd from the kernel: whatever a scheduler of the thread remembers
 * of an fd that had its number (closed some other way) is stale. */
void
coro__fd_fresh(int fd)
{
    if (pollers.next == NULL)
        return;
    for (struct coro__link *l = pollers.next; l != &pollers; l = l->next) {
        struct io *io = coro__container_of(l, struct io, link);

        if ((size_t)fd < io->nfds && !io->fds[fd].waiter[0] && !io->fds[fd].waiter[1])
            memset(&io->fds[fd], 0, sizeof io->fds[fd]);
    }
}


/* A connection accepted on lfd is the same kind of socket: a server asks
 * the kernel once, not once per connection. */
static void
inherit_kind(int lfd, int fd)
{
    struct fdstate *st = known(lfd);
    unsigned char stream;

    if (st == NULL)
        return;
    st->kind = KIND_SOCKET;
    stream = is_stream(lfd, st) ? STREAM_YES : STREAM_NO;
    if ((st = known(fd)) != NULL) { /* the table may have moved */
        st->kind = KIND_SOCKET;
        st->stream = stream;
    }
}

int
coro_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen, int64_t timeout)
{
    int64_t deadline = deadline_of(timeout);

    if (lfd < 0)
        return fail(EBADF);
    make_nonblocking(lfd, known(lfd));
    for (;;) {
        int fd = accept4(lfd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd >= 0) {
            coro__fd_fresh(fd);
            inherit_kind(lfd, fd);
            return fd;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (coro__fd_wait(lfd, CORO_IN, deadline) == -1)
            return -1;
    }
}

int
coro_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t timeout)
{
    int err;
    socklen_t len = sizeof err;

    if (fd < 0)
        return fail(EBADF);
    make_nonblocking(fd, known(fd));
    if (connect(fd, addr, addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -1;
    if (coro__fd_wait(fd, CORO_OUT, deadline_of(timeout)) == -1)
        return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        return -1;
    return err ? fail(err) : 0;
}

int
coro_fd_close(int fd)
{
    if (fd < 0)
        return fail(EBADF);
    if (pollers.next != NULL)
        for (struct coro__link *l = pollers.next; l != &pollers; l = l->next)
            forget(coro__container_of(l, struct io, link), fd);
    return close(fd);
}
