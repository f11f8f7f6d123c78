/*
 * The fd layer (io.c), above the scheduler: what the network helpers
 * (net.c) use besides the public calls.
 */
#ifndef CORO_IO_H
#define CORO_IO_H

#include <stdint.h>

#include "coro.h"

/* coro_fd_wait() without its checks, until an absolute deadline on
 * coro_now()'s clock (< 0: none; 0: do not wait). */
int coro__fd_wait(int fd, int events, int64_t deadline);
/* fd was just made by the kernel: forget what the thread's schedulers
 * remember of an fd of that number closed some other way. */
void coro__fd_fresh(int fd);

#endif /* CORO_IO_H */
