/*
 * Internal structures and the coro__ functions shared between files.
 * Naming: coro_ is public and exported, coro__ is internal across files,
 * unprefixed names are file-local.
 */
#ifndef CORO_INT_H
#define CORO_INT_H

#include <stdint.h>

#include "coro.h"
#include "list.h"
#include "sanitize.h"
#include "switch.h"

/* A stack: usable [lo, lo + size) with a guard page below, in a slab
 * (stack.c); its coroutine object at the top. */
struct coro__slab;
struct coro__stack {
    struct coro__slab *slab;
    char *lo;
    size_t size;
    unsigned vg_id;              /* valgrind's id for the registered stack, or 0 */
    unsigned char ready;         /* ctx starts trampoline() when switched to */
    struct coro *next;           /* in the thread's pool of free stacks */
    struct coro__san_stack san;  /* for the sanitizers (sanitize.h) */
};

/* One coro_defer() registration; a LIFO list per coroutine. */
struct coro__defer {
    void (*fn)(void *);
    void *arg;
    struct coro__defer *next;
};

/* A deadline in a scheduler's timer heap; pos is its index + 1, 0 when not armed. */
struct coro__timer {
    int64_t deadline;
    uint64_t seq;
    size_t pos;
};

struct coro__heap {
    struct coro__timer **v;
    size_t n, cap;
    uint64_t seq;
};

struct coro__wait;

/* A thread's free stacks, a list per stack size in use (stack.c). */
enum { CORO__POOL_SIZES = 4 };
struct coro__pool {
    struct {
        size_t size;
        struct coro *head;
    } list[CORO__POOL_SIZES];
    size_t n, max;               /* stacks pooled, and the most it keeps */
};

/* What each thread needs: the running coroutine (NULL on the thread's own
 * stack), an id, its free stacks, and the saved context of the thread's own
 * stack while a coroutine runs. */
struct coro__thread {
    struct coro *current;
    int *errnop;                 /* &errno, which every switch saves and restores */
    uint64_t id;                 /* unlike the state's address, never reused by another thread */
    struct coro__pool pool;
    struct coro__link slabs;     /* its slabs with a free stack (stack.c) */
    int exit_hook;               /* coro__at_thread_exit() succeeded */
    void *altstack;              /* for the overflow handler (overflow.c), or NULL */
    struct coro__san_thread san;
    struct coro__ctx main;
};

/* The calling thread's state, through one pointer. With the fast switch it
 * is initial-exec TLS, so that each access is a single load instead of a
 * __tls_get_addr call; that puts the library's whole TLS (this pointer and
 * the state, about 150 bytes then) in the static TLS block, which glibc
 * keeps room for even when libcoro is dlopen'ed. The ucontext build keeps
 * the default model: its state holds a whole ucontext_t, and each of its
 * switches costs a system call anyway. */
#if CORO_SWITCH_FAST
#define CORO__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CORO__TLS_MODEL
#endif
extern __thread struct coro__thread *coro__thr_ptr CORO__TLS_MODEL
    __attribute__((visibility("hidden")));
struct coro__thread *coro__thr_init(void);
/* Have the calling thread's state cleaned up when it exits (its pool and
 * signal stack). 0, or -1 when that cannot be arranged. */
int coro__at_thread_exit(struct coro__thread *t);

static inline struct coro__thread *
coro__thr(void)
{
    struct coro__thread *t = coro__thr_ptr;

    return __builtin_expect(t != NULL, 1) ? t : coro__thr_init();
}

/* The coroutine object lives at the top of its own stack mapping, so that a
 * small coroutine touches a single page for both. Everything before "stack"
 * belongs to one coroutine and is reset for the next one made on the same
 * stack; "stack" and "ctx" stay with the stack, also in the pool. */
struct coro {
    coro_status_t status;
    unsigned char closing;       /* coro_close() resumed it only to unwind */
    unsigned char ending;        /* finishing: handlers run, no more yields */
    coro_fn *fn;
    void *arg;
    void *transfer;              /* the value passed by resume, yield or return */
    struct coro *resumer;        /* whom coro_yield() returns to; NULL: the thread */
    uint64_t owner;              /* the id of the thread it belongs to */
    struct coro__defer *defers;  /* last registered first */

    /* Only for tasks, which belong to a scheduler. */
    struct coro_sched *sched;    /* NULL for a plain coroutine */
    struct coro__link runq;      /* in sched->ready while runnable */
    struct coro__link tasks;     /* in sched->tasks while alive */
    struct coro__wait *waiting;  /* what it is blocked on, or NULL */
    struct coro__timer timer;    /* its deadline while blocked with one */

    struct coro__stack stack;
    struct coro__ctx ctx;        /* its registers while it is not running */
};

/* Coroutines (coro.c), without the public entry points' checks. */
void coro__enter(struct coro *co);   /* run co until it yields or ends */
int coro__suspend(struct coro *self); /* yield NULL to the resumer; -1 ECANCELED when ending */
/* Suspend self and run next, a sibling, in its place with the same resumer;
 * returns when self runs again. -1 ECANCELED when self is ending. */
int coro__switch_to(struct coro *self, struct coro *next);
int coro__close(struct coro *co);    /* coro_close() for any coroutine of this thread */

/* Blocking a task (sched.c). A task blocks on one coro__wait, on its stack,
 * with a waiter per channel operation it waits for (a select waits for
 * several); whoever completes one of them calls coro__wake(). */
struct coro__waiter {
    struct coro__link link;      /* in a channel's queue of senders or receivers */
    struct coro__wait *wait;
    coro_sel_t *sel;             /* the operation */
};

struct coro__wait {
    struct coro *task;
    struct coro__waiter *waiters;
    size_t n;
    struct coro__waiter *owned;  /* waiters, when allocated; freed when the wait ends */
    int fired;                   /* index of the completed operation, -1 on timeout */
    int err;                     /* 0, or the errno of the completed operation */
};

/* A task's coro_sched_yield() and plain coro_yield(). 0, or -1 ECANCELED. */
int coro__task_yield(struct coro *self);
/* 0 when the running coroutine may block; -1 and errno otherwise (EPERM: not
 * a task, e.g. a generator resumed by a task; ECANCELED: it is ending). */
int coro__can_block(void);
/* Block the running task until coro__wake() or the deadline (<0: none); the
 * waiters must already be linked. On return w->fired and w->err say why. */
void coro__block(struct coro__wait *w, int64_t deadline);
/* Unlink all of w's waiters, disarm its deadline, queue its task to run. */
void coro__wake(struct coro__wait *w, int fired, int err);

/* Timers (timer.c). */
int64_t coro__deadline(int64_t timeout); /* now + timeout (>= 0), saturated */
int coro__heap_reserve(struct coro__heap *h, size_t n);
void coro__heap_push(struct coro__heap *h, struct coro__timer *t, int64_t deadline);
void coro__heap_remove(struct coro__heap *h, struct coro__timer *t);
struct coro__timer *coro__heap_top(const struct coro__heap *h);
void coro__heap_free(struct coro__heap *h);

/* Stacks. A coroutine object on a stack of size bytes (a multiple of the
 * page size), from the calling thread's pool or a slab; only its "stack"
 * and "ctx" are set. NULL and ENOMEM on failure (pool.c). */
struct coro *coro__stack_get(size_t size);
/* Back to the pool, or to its slab when the pool is full (pool.c). */
void coro__stack_put(struct coro *co);
/* Empty the pool, for good: the thread is exiting (pool.c). */
void coro__pool_release(struct coro__pool *pool);
/* The overflow handler's signal stack for a thread, when the handler is on;
 * and its release at thread exit (overflow.c). */
void coro__overflow_thread_init(struct coro__thread *t);
void coro__overflow_thread_exit(struct coro__thread *t);
/* The slabs underneath (stack.c): a stack for a new coroutine, and back. */
size_t coro__page_size(void);
struct coro *coro__stack_new(size_t size);
void coro__stack_release(struct coro *co);

#endif /* CORO_INT_H */
