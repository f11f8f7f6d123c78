/* Time: the monotonic clock and the heap of deadlines (timer.h). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "coro.h"
#include "wait.h"
#include "timer.h"

int64_t
coro_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
coro__deadline(int64_t timeout)
{
    int64_t now = coro_now();

    return timeout > INT64_MAX - now ? INT64_MAX : now + timeout;
}

/* Earlier deadline first; equal deadlines in the order they were armed. */
static int
before(const struct coro__timer *a, const struct coro__timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void
place(struct coro__heap *h, size_t i, struct coro__timer *t)
{
    h->v[i] = t;
    t->pos = i + 1;
}

static void
sift_up(struct coro__heap *h, size_t i, struct coro__timer *t)
{
    while (i > 0 && before(t, h->v[(i - 1) / 2])) {
        place(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(h, i, t);
}

static void
sift_down(struct coro__heap *h, size_t i, struct coro__timer *t)
{
    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(h->v[c + 1], h->v[c]))
            c++;
        if (!before(h->v[c], t))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

int
coro__heap_reserve(struct coro__heap *h, size_t n)
{
    struct coro__timer **v;
    size_t cap;

    if (n <= h->cap)
        return 0;
    cap = h->cap ? h->cap : 64;
    while (cap < n)
        cap *= 2;
    v = realloc(h->v, cap * sizeof *v);
    if (v == NULL) {
        errno = ENOMEM;
        return -1;
    }
    h->v = v;
    h->cap = cap;
    return 0;
}

void
coro__heap_push(struct coro__heap *h, struct coro__timer *t, int64_t deadline)
{
    t->deadline = deadline;
    t->seq = h->seq++;
    sift_up(h, h->n++, t);
}

void
coro__heap_remove(struct coro__heap *h, struct coro__timer *t)
{
    size_t i = t->pos - 1;
    struct coro__timer *last = h->v[--h->n];

    t->pos = 0;
    if (last == t)
        return;
    if (i > 0 && before(last, h->v[(i - 1) / 2]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

struct coro__timer *
coro__heap_top(const struct coro__heap *h)
{
    return h->n ? h->v[0] : NULL;
}

void
coro__heap_free(struct coro__heap *h)
{
    free(h->v);
    *h = (struct coro__heap){0};
}
