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
#include "switch.h"

/* A stack: one mapping, guard page(s) at the low end, usable [lo, lo + size). */
struct coro__stack {
    void *map;
    size_t map_size;
    char *lo;
    size_t size;
    unsigned vg_id; /* valgrind's id for the registered stack, or 0 */
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

/* What each thread needs: the running coroutine (NULL on the thread's own
 * stack) and the saved context of the thread's own stack while it is not. */
struct coro__thread {
    struct coro *current;
    uint64_t id;                 /* see coro__thread_id() */
    struct coro__ctx main;
};

extern __thread struct coro__thread coro__thr __attribute__((visibility("hidden")));

/* The coroutine object lives at the top of its own stack mapping, so that a
 * small coroutine touches a single page for both. */
struct coro {
    struct coro__ctx ctx;        /* its registers while it is not running */
    coro_status_t status;
    unsigned char closing;       /* coro_close() resumed it only to unwind */
    unsigned char ending;        /* finishing: handlers run, no more yields */
    coro_fn *fn;
    void *arg;
    void *transfer;              /* the value passed by resume, yield or return */
    struct coro *resumer;        /* whom coro_yield() returns to; NULL: the thread */
    uint64_t owner;              /* coro__thread_id() of the thread it belongs to */
    struct coro__defer *defers;  /* last registered first */
    struct coro__stack stack;

    /* Only for tasks, which belong to a scheduler. */
    struct coro_sched *sched;    /* NULL for a plain coroutine */
    struct coro__link runq;      /* in sched->ready while runnable */
    struct coro__link tasks;     /* in sched->tasks while alive */
    struct coro__wait *waiting;  /* what it is blocked on, or NULL */
    struct coro__timer timer;    /* its deadline while blocked with one */
};

/* Coroutines (coro.c), without the public entry points' checks. */
void coro__enter(struct coro *co);   /* run co until it yields or ends */
int coro__suspend(struct coro *self); /* yield NULL to the resumer; -1 ECANCELED when ending */
int coro__close(struct coro *co);    /* coro_close() for any coroutine of this thread */
void coro__free(struct coro *co);    /* co is CREATED or DEAD */

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

/* A number that identifies the calling thread and is never reused by a
 * later thread, unlike the address of a thread-local (coro.c). */
uint64_t coro__thread_id(void);

/* Stacks (stack.c). size is a multiple of the page size. */
size_t coro__page_size(void);
int coro__stack_alloc(struct coro__stack *st, size_t size);
void coro__stack_free(struct coro__stack *st);

#endif /* CORO_INT_H */
