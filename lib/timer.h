/*
 * Time (timer.c): the monotonic clock and a binary min-heap of deadlines,
 * for the scheduler. The heap stays O(log n) per operation with 100,000
 * sleepers; each node remembers its position so that a deadline can be
 * cancelled when its wait ends another way.
 */
#ifndef CORO_TIMER_H
#define CORO_TIMER_H

#include <stddef.h>
#include <stdint.h>

/* A deadline in a heap; pos is its index + 1, 0 when not armed. */
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

/* Room for n timers, so that pushing never allocates. 0, or -1 ENOMEM. */
int coro__heap_reserve(struct coro__heap *h, size_t n);
void coro__heap_push(struct coro__heap *h, struct coro__timer *t, int64_t deadline);
void coro__heap_remove(struct coro__heap *h, struct coro__timer *t);
/* The earliest deadline's timer (equal ones: first armed first), or NULL. */
struct coro__timer *coro__heap_top(const struct coro__heap *h);
void coro__heap_free(struct coro__heap *h);

#endif /* CORO_TIMER_H */
