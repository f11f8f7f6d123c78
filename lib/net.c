/*
 * TCP helpers on top of the fd layer: a listening socket, and a connected
 * one. Names are resolved with getaddrinfo(3), which blocks the thread (a
 * numeric address does not).
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"

static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

/* getaddrinfo()'s errors as errno values. */
static int
gai_errno(int rc)
{
    switch (rc) {
    case EAI_SYSTEM:
        return errno;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_AGAIN:
        return EAGAIN;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return EADDRNOTAVAIL; /* no such name, or no address for it */
    default:
        return EINVAL;
    }
}

static int
resolve(const char *host, int port, int passive, struct addrinfo **res)
{
    struct addrinfo hints = {
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : AI_ADDRCONFIG),
    };
    char service[8];
    int rc;

    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, res);
    return rc == 0 ? 0 : fail(gai_errno(rc));
}

/* A listening socket on ai; -1 and errno. */
static int
listen_on(const struct addrinfo *ai, int backlog, int flags, int dual)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, zero = 0;

    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
        ((flags & CORO_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) ||
        (dual && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) == -1) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
        listen(fd, backlog > 0 ? backlog : SOMAXCONN) == -1) {
        int err = errno;

        close(fd);
        return fail(err);
    }
    coro__fd_fresh(fd);
    return fd;
}

int
coro_tcp_listen(const char *host, int port, int backlog, int flags)
{
    struct addrinfo *res, *ai;
    int fd = -1, err = EADDRNOTAVAIL;

    if (port < 0 || port > 65535 || (flags & ~CORO_REUSEPORT))
        return fail(EINVAL);
    if (resolve(host, port, 1, &res) == -1)
        return -1;
    /* Every address (host NULL): one IPv6 socket that takes IPv4 too,
     * where the system has IPv6; else the first address that works. */
    if (host == NULL)
        for (ai = res; ai && fd < 0; ai = ai->ai_next)
            if (ai->ai_family == AF_INET6 && (fd = listen_on(ai, backlog, flags, 1)) < 0)
                err = errno;
    for (ai = res; ai && fd < 0; ai = ai->ai_next)
        if ((fd = listen_on(ai, backlog, flags, 0)) < 0)
            err = errno;
    freeaddrinfo(res);
    return fd >= 0 ? fd : fail(err);
}

int
coro_tcp_dial(const char *host, int port, int64_t timeout)
{
    int64_t deadline = timeout > 0 ? coro_now() + timeout : 0;
    struct addrinfo *res, *ai;
    int fd = -1, err = EADDRNOTAVAIL;

    if (host == NULL || port < 1 || port > 65535)
        return fail(EINVAL);
    if (resolve(host, port, 0, &res) == -1)
        return -1;
    /* Each address in turn, within the one timeout. */
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        int64_t left = timeout;

        if (timeout > 0 && (left = deadline - coro_now()) <= 0) {
            err = ETIMEDOUT;
            break;
        }
        if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
            err = errno;
            continue;
        }
        coro__fd_fresh(fd);
        if (coro_connect(fd, ai->ai_addr, ai->ai_addrlen, left) == 0)
            break;
        err = errno;
        coro_fd_close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd >= 0 ? fd : fail(err);
}
