/*
 * Worker processes, for 'pairs' and 'serve' (the tutorial's "multi-process
 * + coroutine"): the parent forks workers, each with a pipe of its own on
 * which it reports in records of one fixed size, and the parent polls the
 * pipes, hands each whole record to its caller, and reaps the workers.
 * What the records say is the caller's protocol (see pairs.c, serve.c).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "demo.h"

int
demo_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t k = write(fd, p, len);

        if (k == -1 && errno == EINTR)
            continue;
        if (k == -1)
            return -1;
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

const char *
demo_describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, size, "wait status 0x%x", (unsigned)status);
    return buf;
}

int
demo_procs_init(struct demo_procs *p, const char *who, unsigned n, size_t rec_size)
{
    *p = (struct demo_procs){.who = who, .n = n, .rec_size = rec_size};
    p->w = calloc(n, sizeof *p->w);
    p->pfd = calloc(n, sizeof *p->pfd);
    p->recs = calloc(n, rec_size);
    if (p->w == NULL || p->pfd == NULL || p->recs == NULL) {
        demo_error(who, "calloc: %s", strerror(errno));
        demo_procs_free(p);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        p->w[i].fd = -1;
        p->w[i].status = -1;
    }
    return 0;
}

void
demo_procs_free(struct demo_procs *p)
{
    for (unsigned i = 0; p->w && i < p->started; i++)
        if (p->w[i].fd != -1)
            close(p->w[i].fd);
    free(p->w);
    free(p->pfd);
    free(p->recs);
    p->w = NULL;
    p->pfd = NULL;
    p->recs = NULL;
}

int
demo_procs_spawn(struct demo_procs *p, demo_proc_fn *fn, void *ctx)
{
    unsigned i = p->started;
    int fd[2];

    if (i >= p->n) {
        errno = EINVAL;
        return -1;
    }
    if (pipe(fd) == -1) {
        demo_error(p->who, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout); /* or the child would inherit, and maybe repeat, the buffers */
    fflush(stderr);
    p->w[i].pid = fork();
    if (p->w[i].pid == -1) {
        demo_error(p->who, "fork: %s", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (p->w[i].pid == 0) {
        int rc;

        close(fd[0]);
        for (unsigned j = 0; j < i; j++)
            if (p->w[j].fd != -1)
                close(p->w[j].fd);
        rc = fn(i, fd[1], ctx);
        _exit(rc); /* not exit(): the parent's stdio buffers are not ours */
    }
    close(fd[1]);
    p->w[i].fd = fd[0];
    p->started++;
    return 0;
}

unsigned
demo_procs_open(const struct demo_procs *p)
{
    unsigned n = 0;

    for (unsigned i = 0; i < p->started; i++)
        n += p->w[i].fd != -1;
    return n;
}

/* Read what worker i has sent: each whole record, then EOF, go to fn. */
static void
collect(struct demo_procs *p, unsigned i, demo_record_fn *fn, void *ctx)
{
    struct demo_proc *w = &p->w[i];
    unsigned char *rec = p->recs + i * p->rec_size;
    ssize_t k = read(w->fd, rec + w->have, p->rec_size - w->have);

    if (k == -1) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        demo_error(p->who, "read: %s", strerror(errno));
        p->read_errors++;
    }
    if (k <= 0) { /* EOF: it exited (or is about to) */
        close(w->fd);
        w->fd = -1;
        fn(i, NULL, ctx);
        return;
    }
    w->have += (size_t)k;
    if (w->have == p->rec_size) {
        w->have = 0;
        fn(i, rec, ctx);
    }
}

int
demo_procs_poll(struct demo_procs *p, int timeout_ms, const sigset_t *mask, demo_record_fn *fn,
                void *ctx)
{
    unsigned n = 0, i;
    int rc;

    for (i = 0; i < p->started; i++) {
        if (p->w[i].fd != -1) {
            p->pfd[n].fd = p->w[i].fd;
            p->pfd[n].events = POLLIN;
            n++;
        }
    }
    if (mask) {
        struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000};

        rc = ppoll(p->pfd, n, timeout_ms < 0 ? NULL : &ts, mask);
    } else {
        rc = poll(p->pfd, n, timeout_ms);
    }
    if (rc == -1) {
        if (errno != EINTR)
            demo_error(p->who, "poll: %s", strerror(errno));
        return -1;
    }
    for (i = 0, n = 0; i < p->started; i++) {
        if (p->w[i].fd == -1)
            continue;
        if (p->pfd[n++].revents)
            collect(p, i, fn, ctx);
    }
    return 0;
}

int
demo_procs_wait(struct demo_procs *p, unsigned i)
{
    struct demo_proc *w = &p->w[i];
    int status;
    pid_t r;

    if (w->fd != -1) { /* only after a poll() error */
        close(w->fd);
        w->fd = -1;
    }
    while ((r = waitpid(w->pid, &status, 0)) == -1 && errno == EINTR)
        ;
    w->reaped = 1;
    if (r == -1) {
        demo_error(p->who, "waitpid: %s", strerror(errno));
        w->status = -1;
        return -1;
    }
    w->status = status;
    return 0;
}

void
demo_procs_kill(const struct demo_procs *p, int sig)
{
    for (unsigned i = 0; i < p->started; i++)
        if (!p->w[i].reaped && p->w[i].pid > 0)
            (void)kill(p->w[i].pid, sig);
}
