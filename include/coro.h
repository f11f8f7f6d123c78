/*
 * libcoro: coroutines for C with the semantics of Python's generators.
 *
 *     n = yield r      ->  n = coro_yield(r);
 *     r = c.send(n)    ->  coro_resume(c, n, &r);
 *     c.close()        ->  coro_close(c);
 *     try/finally      ->  coro_defer(cleanup, arg);
 *
 * Errors: functions return -1 (or NULL) and set errno; each man page lists
 * the errno values. A coroutine belongs to the thread that created it: only
 * that thread may resume, close or destroy it (others get EPERM).
 */
#ifndef CORO_H
#define CORO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define CORO_API __attribute__((visibility("default")))
#else
#define CORO_API
#endif

/* Stack sizes in bytes. 0 asks for CORO_STACK_DEFAULT; smaller sizes are
 * raised to CORO_STACK_MIN; sizes are rounded up to whole pages; larger than
 * CORO_STACK_MAX is EINVAL. Only the pages a coroutine touches use memory. */
#define CORO_STACK_DEFAULT ((size_t)256 * 1024)
#define CORO_STACK_MIN     ((size_t)16 * 1024)
#define CORO_STACK_MAX     ((size_t)1024 * 1024 * 1024)

typedef struct coro coro_t;
typedef void *coro_fn(void *arg);
typedef enum {
    CORO_CREATED,   /* made, not yet resumed */
    CORO_SUSPENDED, /* waiting in coro_yield() */
    CORO_RUNNING,   /* it is the caller */
    CORO_NORMAL,    /* it resumed another coroutine that is still active */
    CORO_DEAD       /* returned, exited or closed */
} coro_status_t;

/* Make a coroutine that will run fn(arg) on its own guarded stack; nothing
 * runs until the first coro_resume(). NULL and errno on failure. */
CORO_API coro_t *coro_create(coro_fn *fn, void *arg, size_t stack_size);

/* Python's send(): run co until it yields (returns 0) or ends (returns 1),
 * storing the yielded or returned value in *out when out is not NULL.
 * The first resume must send NULL. -1 and errno on failure. */
CORO_API int coro_resume(coro_t *co, void *in, void **out);

/* Inside a coroutine: hand out to the resumer and suspend; returns the value
 * sent by the next coro_resume(). NULL with errno EPERM outside a coroutine. */
CORO_API void *coro_yield(void *out);

/* Python's close(): end co without running any more of its code except its
 * deferred handlers. A dead coroutine is left alone. 0, or -1 and errno. */
CORO_API int coro_close(coro_t *co);

/* Close co if needed and free it. NULL is a no-op. 0, or -1 and errno. */
CORO_API int coro_destroy(coro_t *co);

/* The state of co (see coro_status_t). */
CORO_API coro_status_t coro_status(const coro_t *co);

/* The running coroutine, or NULL on a thread's own stack. */
CORO_API coro_t *coro_self(void);

/* Name co, for people: a copy of at most CORO_NAME_MAX - 1 bytes of name
 * (longer names are cut); NULL gives the default back. 0, or -1 and errno. */
#define CORO_NAME_MAX 32
CORO_API int coro_set_name(coro_t *co, const char *name);

/* co's name: the one it was given, or a default such as "coro-17" or
 * "task-17" (a number per thread). NULL and errno EINVAL for NULL. */
CORO_API const char *coro_name(const coro_t *co);

/* The calling thread keeps up to max stacks of destroyed coroutines to make
 * new ones without a system call (CORO_POOL_DEFAULT at first; 0: none).
 * Extra pooled stacks are freed now. Returns the previous limit. */
#define CORO_POOL_DEFAULT 64
CORO_API size_t coro_stack_pool(size_t max);

/* Install the stack overflow diagnosis (off until called): a coroutine that
 * overflows into its guard page makes the process print which coroutine it
 * was and its stack size, on an alternate signal stack, then die of the
 * SIGSEGV. Other faults go to the previous handler. 0, or -1 and errno. */
CORO_API int coro_catch_overflow(void);

/* The context switch built in: "ucontext" (swapcontext) or "fast (ARCH)". */
CORO_API const char *coro_switch_name(void);

/* Inside a coroutine: run fn(arg) once when it ends, however it ends;
 * handlers run last registered first, on the coroutine's stack. */
CORO_API int coro_defer(void (*fn)(void *arg), void *arg);

/* Inside a coroutine: end it now, from any call depth, as if its function
 * returned result. Returns -1 (EPERM) only when called outside a coroutine. */
CORO_API int coro_exit(void *result);
/* The same, declared noreturn (so that the compiler knows the code after it
 * never runs: no -Winfinite-recursion in a recursive generator). Outside a
 * coroutine, where it cannot return an error, it reports the misuse on
 * stderr and aborts. */
CORO_API __attribute__((noreturn)) void coro_return(void *result);

/*
 * The scheduler: tasks are coroutines owned by a scheduler, run round-robin
 * on one thread and freed when they end. A scheduler belongs to the thread
 * that created it.
 */
typedef struct coro_sched coro_sched_t;

/* A scheduler with no tasks. NULL and errno (ENOMEM) on failure. */
CORO_API coro_sched_t *coro_sched_create(void);

/* Close every remaining task (their deferred handlers run) and free s.
 * NULL is a no-op. -1 EBUSY from inside coro_sched_run(s). */
CORO_API int coro_sched_destroy(coro_sched_t *s);

/* Add a task running fn(arg) at the back of s's ready queue; works before
 * and during coro_sched_run(s). 0, or -1 and errno. */
CORO_API int coro_spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size);

/* Run tasks until none is left (0). -1 EDEADLK when tasks remain but all are
 * blocked and nothing can wake them; they stay, for a later run. */
CORO_API int coro_sched_run(coro_sched_t *s);

/* In a task: go to the back of the ready queue. -1 EPERM outside a task. */
CORO_API int coro_sched_yield(void);

/* The scheduler of the running task, or NULL when not in a task. */
CORO_API coro_sched_t *coro_sched_self(void);

/* How many times s has switched into a task so far. */
CORO_API uint64_t coro_sched_switches(const coro_sched_t *s);

/* Write one line per task of s to out, for people: its number, name,
 * state, what it waits on, and its function. 0, or -1 and errno. */
CORO_API int coro_sched_dump(coro_sched_t *s, FILE *out);

/*
 * Time, in nanoseconds of the monotonic clock. A timeout < 0 waits forever,
 * 0 does not wait at all (EAGAIN when the operation cannot complete at once),
 * > 0 waits at most that long (then ETIMEDOUT).
 */
#define CORO_FOREVER ((int64_t)-1)
#define CORO_MSEC(ms) ((int64_t)(ms) * 1000000)

/* The monotonic clock, in nanoseconds. */
CORO_API int64_t coro_now(void);

/* In a task: sleep nsec nanoseconds while other tasks run. 0, or -1 and errno. */
CORO_API int coro_sleep(int64_t nsec);

/* In a task: sleep until coro_now() reaches deadline. 0, or -1 and errno. */
CORO_API int coro_sleep_until(int64_t deadline);

/*
 * Task handles: a task that can be waited for, cancelled, and that gives
 * its result back. A handle belongs to its scheduler's thread.
 */
typedef struct coro_task coro_task_t;

/* coro_spawn() that returns a handle, valid until joined or detached, even
 * after the task ends. NULL and errno on failure. */
CORO_API coro_task_t *coro_task_spawn(coro_sched_t *s, coro_fn *fn, void *arg, size_t stack_size);

/* Wait for t to end, store what it returned in *result (result may be
 * NULL) and free t. -1 ETIMEDOUT keeps t; EDEADLK: t is the caller. */
CORO_API int coro_task_join(coro_task_t *t, void **result, int64_t timeout);

/* Free t when its task ends (now if it has). 0, or -1 and errno. */
CORO_API int coro_task_detach(coro_task_t *t);

/* Ask t to stop: its current wait and every later one fail with
 * ECANCELED; a task not started yet ends without running. 0, or -1. */
CORO_API int coro_task_cancel(coro_task_t *t);

/* The running task's handle (detached for a task made by coro_spawn()),
 * or NULL when not in a task. */
CORO_API coro_task_t *coro_task_self(void);

/* In a task: 1 once it was cancelled, else 0. */
CORO_API int coro_task_cancelled(void);

/*
 * Channels carry elements of a fixed size, copied in and out, in FIFO order.
 * Capacity 0 is a rendezvous: a send completes when a receiver takes it.
 * An operation that would block is only allowed in a task (else EPERM).
 */
typedef struct coro_chan coro_chan_t;

/* A channel of elements of elem_size bytes holding up to capacity of them. */
CORO_API coro_chan_t *coro_chan_create(size_t elem_size, size_t capacity);

/* Copy *elem into ch, waiting for room or a receiver. -1 EPIPE once closed. */
CORO_API int coro_chan_send(coro_chan_t *ch, const void *elem);

/* Copy the next element into *elem, waiting for one. -1 EPIPE once ch is
 * closed and drained. */
CORO_API int coro_chan_recv(coro_chan_t *ch, void *elem);

/* coro_chan_send/recv with a timeout (see "Time" above). */
CORO_API int coro_chan_send_timeout(coro_chan_t *ch, const void *elem, int64_t timeout);
CORO_API int coro_chan_recv_timeout(coro_chan_t *ch, void *elem, int64_t timeout);

/* No more sends: wake every waiter with EPIPE; receivers still drain the
 * buffer. -1 EPIPE when already closed. */
CORO_API int coro_chan_close(coro_chan_t *ch);

/* Free ch. NULL is a no-op. -1 EBUSY while tasks wait on it. */
CORO_API int coro_chan_destroy(coro_chan_t *ch);

/* The elements buffered in ch now, and its capacity (0 and errno on error). */
CORO_API size_t coro_chan_len(const coro_chan_t *ch);
CORO_API size_t coro_chan_cap(const coro_chan_t *ch);

/* One operation of a coro_select(). */
enum { CORO_SEND = 1, CORO_RECV = 2 };
typedef struct coro_sel {
    coro_chan_t *chan;
    int op;     /* CORO_SEND or CORO_RECV */
    void *elem; /* the element to send, or where to receive (NULL: discard) */
    int err;    /* set by coro_select() on the chosen one: 0, or EPIPE */
} coro_sel_t;

/* Wait until one of n operations completes and return its index; when
 * several can, one chosen uniformly at random (Go's rule). An entry whose
 * chan is NULL is never ready. -1 and errno (EAGAIN, ETIMEDOUT for the
 * timeout; see "Time" above). */
CORO_API int coro_select(coro_sel_t *sel, size_t n, int64_t timeout);

/* coro_select() where the first ready entry in array order wins. */
CORO_API int coro_select_first(coro_sel_t *sel, size_t n, int64_t timeout);

/*
 * Mutexes, condition variables and wait groups, for the tasks of one
 * thread (no atomics, no system calls). Timeouts as for the channel
 * functions; a call that would wait works only in a task (else EPERM).
 */
typedef struct coro_mutex coro_mutex_t;
typedef struct coro_cond coro_cond_t;
typedef struct coro_wg coro_wg_t;

/* A mutex, unlocked. NULL and errno (ENOMEM) on failure. */
CORO_API coro_mutex_t *coro_mutex_create(void);
/* Lock m, waiting in arrival order while another holds it. EDEADLK: the
 * caller holds it already. */
CORO_API int coro_mutex_lock(coro_mutex_t *m, int64_t timeout);
/* Unlock m, handing it to the longest waiter. EPERM unless the caller holds it. */
CORO_API int coro_mutex_unlock(coro_mutex_t *m);
/* Free m. NULL is a no-op. EBUSY while held or waited for. */
CORO_API int coro_mutex_destroy(coro_mutex_t *m);

/* A condition variable. NULL and errno (ENOMEM) on failure. */
CORO_API coro_cond_t *coro_cond_create(void);
/* Unlock m (held by the caller) and wait for a signal; m is held again when
 * it returns, whatever it returns. */
CORO_API int coro_cond_wait(coro_cond_t *c, coro_mutex_t *m, int64_t timeout);
/* Wake the longest waiter of c, or every one. */
CORO_API int coro_cond_signal(coro_cond_t *c);
CORO_API int coro_cond_broadcast(coro_cond_t *c);
/* Free c. NULL is a no-op. EBUSY while waited on. */
CORO_API int coro_cond_destroy(coro_cond_t *c);

/* A wait group (Go's sync.WaitGroup), its count 0. NULL and errno on failure. */
CORO_API coro_wg_t *coro_wg_create(void);
/* Add n (may be negative) to the count; at 0 every waiter wakes. EINVAL
 * if the count would go below 0. */
CORO_API int coro_wg_add(coro_wg_t *wg, long n);
/* coro_wg_add(wg, -1). */
CORO_API int coro_wg_done(coro_wg_t *wg);
/* Wait until the count is 0. */
CORO_API int coro_wg_wait(coro_wg_t *wg, int64_t timeout);
/* Free wg. NULL is a no-op. EBUSY while waited on. */
CORO_API int coro_wg_destroy(coro_wg_t *wg);

/*
 * I/O: a task waits for an fd through its scheduler (one epoll instance
 * per scheduler) while the others run. Outside any task the same calls
 * block the thread in poll(2). Timeouts as for the channel functions.
 */
enum { CORO_IN = 1, CORO_OUT = 2 };
#define CORO_REUSEPORT 1

/* Wait until fd is ready for events (CORO_IN, CORO_OUT or both); returns
 * the ready subset (an error or hang-up counts as both). -1 and errno. */
CORO_API int coro_fd_wait(int fd, int events, int64_t timeout);

/* read(2) that waits while nothing is there: at most len bytes, 0 at end of file. */
CORO_API ssize_t coro_read(int fd, void *buf, size_t len, int64_t timeout);

/* Write all len bytes, waiting as needed; a short count if the deadline or an
 * error comes after some bytes. EPIPE, never SIGPIPE, when the reader is gone. */
CORO_API ssize_t coro_write(int fd, const void *buf, size_t len, int64_t timeout);

/* accept(2): a new connection's fd, non-blocking and close-on-exec. */
CORO_API int coro_accept(int lfd, struct sockaddr *addr, socklen_t *addrlen, int64_t timeout);

/* connect(2): 0 once connected, else -1 with the socket's own error. */
CORO_API int coro_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t timeout);

/* Wake the tasks waiting on fd (EBADF), forget it, close it. */
CORO_API int coro_fd_close(int fd);

/* A non-blocking listening TCP socket; host NULL for every address, port 0
 * for an ephemeral one; flags 0 or CORO_REUSEPORT. */
CORO_API int coro_tcp_listen(const char *host, int port, int backlog, int flags);

/* A connected, non-blocking TCP socket. A name is resolved with
 * getaddrinfo(3), which blocks the thread. */
CORO_API int coro_tcp_dial(const char *host, int port, int64_t timeout);

#ifdef __cplusplus
}
#endif

#endif /* CORO_H */
