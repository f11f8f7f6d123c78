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

/* Inside a coroutine: run fn(arg) once when it ends, however it ends;
 * handlers run last registered first, on the coroutine's stack. */
CORO_API int coro_defer(void (*fn)(void *arg), void *arg);

/* Inside a coroutine: end it now, from any call depth, as if its function
 * returned result. Returns -1 (EPERM) only when called outside a coroutine. */
CORO_API int coro_exit(void *result);

#ifdef __cplusplus
}
#endif

#endif /* CORO_H */
