/*
 * Internal structures and the coro__ functions shared between files.
 * Naming: coro_ is public and exported, coro__ is internal across files,
 * unprefixed names are file-local.
 */
#ifndef CORO_INT_H
#define CORO_INT_H

#include <stdint.h>

#include "coro.h"
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
};

/* A number that identifies the calling thread and is never reused by a
 * later thread, unlike the address of a thread-local (coro.c). */
uint64_t coro__thread_id(void);

/* Stacks (stack.c). size is a multiple of the page size. */
size_t coro__page_size(void);
int coro__stack_alloc(struct coro__stack *st, size_t size);
void coro__stack_free(struct coro__stack *st);

#endif /* CORO_INT_H */
