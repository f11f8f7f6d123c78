/*
 * Channels: a ring buffer of fixed-size elements and two FIFO queues of
 * blocked operations, sends and receives. Whoever finds a partner waiting
 * does the whole hand-over itself (copies the element, fires the partner's
 * clause), so a blocked task never has to retry: when it runs again its
 * operation is done.
 *
 * Every operation, select included, first tries to complete at once; only
 * then does a task wait, with one clause per operation (wait.h), each
 * queued on its channel. A single send or receive takes a path of its own,
 * without the select's loops.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "object.h"
#include "task.h"
#include "wait.h"

struct coro_chan {
    size_t elem_size, cap;
    size_t head, count;          /* the buffered elements: buf[head ...] */
    struct coro__link sendq;     /* blocked sends (only when full) */
    struct coro__link recvq;     /* blocked receives (only when empty) */
    uint64_t owner;              /* the id of the thread it belongs to */
    int closed;
    unsigned char buf[];
};

/* A blocked operation: a clause of its task's wait, queued on its channel. */
struct op {
    struct coro__clause clause;
    struct coro__link link;      /* in its channel's sendq or recvq */
    void *elem;                  /* the element to send, or where to receive (NULL: discard) */
    struct coro_chan *ch;
    int op;                      /* CORO_SEND or CORO_RECV */
};

enum { SMALL_SELECT = 4 }; /* clauses kept on the stack; more are allocated */
enum { SMALL_READY = 32 };  /* coro_select()'s ready entries listed on the stack */

/* Set errno and fail: out of line, so that the callers' fast paths stay small. */
static __attribute__((noinline, cold)) int
fail(int err)
{
    errno = err;
    return -1;
}

static struct op *
first(struct coro__link *q)
{
    return coro__list_empty(q) ? NULL : coro__container_of(q->next, struct op, link);
}

/* Finish a blocked partner's operation and let it run again. */
static void
complete(struct op *w, int err)
{
    coro__list_unlink(&w->link);
    coro__fire(&w->clause, err);
}

/* Its wait ended another way. */
static void
cancel_op(struct coro__clause *c)
{
    coro__list_unlink(&coro__container_of(c, struct op, clause)->link);
}

/* memcpy of one element; the common small sizes without a library call. */
static inline void
copy(void *dst, const void *src, size_t size)
{
    switch (size) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, size);
    }
}

/* The element's copy comes last in put() and take(), so that where it is
 * a memcpy() call, it can be the caller's tail call. */
static inline __attribute__((always_inline)) void
put(struct coro_chan *ch, const void *elem)
{
    size_t i = ch->head + ch->count;

    i -= ch->cap & -(size_t)(i >= ch->cap); /* wrapped without a branch, as in take() */
    ch->count++;
    copy(ch->buf + i * ch->elem_size, elem, ch->elem_size);
}

/* The head element's slot, which leaves the buffer. */
static inline __attribute__((always_inline)) size_t
pop_head(struct coro_chan *ch)
{
    size_t head = ch->head, next = head + 1;

    /* next == cap ? 0 : next, without a branch: which slot a channel is at
     * is as hard for a branch predictor to guess as a select's choice. */
    ch->head = next - (ch->cap & -(size_t)(next == ch->cap));
    ch->count--;
    return head;
}

static inline __attribute__((always_inline)) void
take(struct coro_chan *ch, void *elem)
{
    size_t head = pop_head(ch);

    if (elem)
        copy(elem, ch->buf + head * ch->elem_size, ch->elem_size);
}

/* take() into a select's entry, from a channel whose elements are size (a
 * constant) bytes: no call. */
static inline __attribute__((always_inline)) void
take_sized(struct coro_chan *ch, coro_sel_t *e, size_t size)
{
    size_t head = pop_head(ch);

    e->err = 0;
    if (e->elem)
        memcpy(e->elem, ch->buf + head * size, size);
}

/* Send elem now if it can be: 0 (done), EPIPE (closed), or EAGAIN. */
static inline __attribute__((always_inline)) int
try_send(struct coro_chan *ch, const void *elem)
{
    struct op *w;

    if (ch->closed)
        return EPIPE;
    if ((w = first(&ch->recvq)) != NULL) { /* then the buffer is empty */
        if (w->elem)
            copy(w->elem, elem, ch->elem_size);
        complete(w, 0);
        return 0;
    }
    if (ch->count < ch->cap) {
        put(ch, elem);
        return 0;
    }
    return EAGAIN;
}

static inline __attribute__((always_inline)) int
try_recv(struct coro_chan *ch, void *elem)
{
    struct op *w = first(&ch->sendq);

    if (ch->count > 0) {
        take(ch, elem);
        if (w) { /* a sender was waiting for this room */
            put(ch, w->elem);
            complete(w, 0);
        }
        return 0;
    }
    if (w) { /* rendezvous */
        if (elem)
            copy(elem, w->elem, ch->elem_size);
        complete(w, 0);
        return 0;
    }
    return ch->closed ? EPIPE : EAGAIN;
}

static int
try_op(coro_sel_t *sel)
{
    return sel->op == CORO_SEND ? try_send(sel->chan, sel->elem) : try_recv(sel->chan, sel->elem);
}

/* For coro_sched_dump(). */
static void
describe_op(const struct coro__clause *c, char *buf, size_t len)
{
    const struct op *o = coro__container_of(c, struct op, clause);

    snprintf(buf, len, "%s channel %p", o->op == CORO_SEND ? "send on" : "receive from",
             (void *)o->ch);
}

static void
queue(struct coro__wait *w, struct op *o, int id, struct coro_chan *ch, int op, void *elem)
{
    o->elem = elem;
    o->ch = ch;
    o->op = op;
    coro__list_push(op == CORO_SEND ? &ch->sendq : &ch->recvq, &o->link);
    coro__wait_add(w, &o->clause, id, cancel_op);
    o->clause.describe = describe_op;
}

/* An operation that cannot complete at once: may the caller wait for it?
 * Its task's wait, begun, or NULL and errno. */
static struct coro__wait *
may_wait(int64_t timeout)
{
    if (timeout == 0) {
        errno = EAGAIN;
        return NULL;
    }
    return coro__wait_begin(0);
}

static int64_t
deadline(int64_t timeout)
{
    return timeout < 0 ? -1 : coro__deadline(timeout);
}

static int
check_chan(const struct coro_chan *ch)
{
    if (ch == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!coro__mine(ch->owner)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* Could a send or a receive on ch complete at once? (Without doing it.) */
static inline __attribute__((always_inline)) int
send_ready(const struct coro_chan *ch)
{
    return ch->closed || !coro__list_empty(&ch->recvq) || ch->count < ch->cap;
}

static inline __attribute__((always_inline)) int
recv_ready(const struct coro_chan *ch)
{
    return ch->count > 0 || !coro__list_empty(&ch->sendq) || ch->closed;
}

/* Could *sel complete at once? */
static inline __attribute__((always_inline)) int
ready(const coro_sel_t *sel)
{
    if (sel->chan == NULL)
        return 0;
    return sel->op == CORO_SEND ? send_ready(sel->chan) : recv_ready(sel->chan);
}

/* Is *sel's operation one it cannot be? (Its channel is not NULL.) */
static inline int
bad_op(const coro_sel_t *sel)
{
    return (sel->op != CORO_SEND && sel->op != CORO_RECV) || (sel->op == CORO_SEND && sel->elem == NULL);
}

/* A per-thread generator for coro_select()'s choice: no system call, no
 * lock. A 64-bit linear congruential one (Knuth's MMIX constants): one
 * multiply and one add, a shorter chain from one call's number to the next
 * than xorshift's six steps; only its high half is used, the half whose
 * bits are good. Seeded from the thread's id, which the caller has at hand
 * (so that seeding calls nothing). */
static __thread uint64_t rng CORO__TLS_MODEL;

static inline __attribute__((always_inline)) uint64_t
random64(uint64_t id)
{
    uint64_t x = rng;

    if (__builtin_expect(x == 0, 0)) { /* splitmix64 of the thread's id */
        x = id * 0x9e3779b97f4a7c15u;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
        x ^= x >> 31;
    }
    /* The number returned is the one stored by the last call: the choice
     * need not wait for this call's multiply. */
    rng = x * 6364136223846793005u + 1442695040888963407u;
    return x;
}

/* A number in [0, k): the high half of a random number, scaled by a
 * multiply (a division costs tens of cycles; the bias, below 2^-32, is far
 * below any use of it). */
static inline __attribute__((always_inline)) uint64_t
below(uint64_t k, uint64_t id)
{
    return ((random64(id) >> 32) * k) >> 32;
}

/* One of the nready (> 1) ready entries of sel, uniformly at random, when
 * ready_at may have overflowed: it lists them when there are fewer than
 * SMALL_READY. */
static long
pick(const coro_sel_t *sel, size_t n, const uint32_t *ready_at, size_t nready, uint64_t id)
{
    size_t k = below(nready, id), seen = 0;
    long c = 0;

    if (nready < SMALL_READY)
        return ready_at[k];
    for (size_t i = 0; i < n; i++) {
        size_t r = (size_t)ready(&sel[i]);
        long take = -(long)(r & (seen == k)); /* the k-th ready entry */

        c = (c & ~take) | ((long)i & take); /* take ? i : c, as a cmov would */
        seen += r;
    }
    return c;
}

/*
 * One pass over sel checks every entry (an error is reported before
 * anything is done) and lists in ready_at those that can complete now; the
 * count of them goes to *nready. An entry with a NULL channel is never
 * ready, as Go's nil channel: it is skipped, and its other fields are not
 * looked at. Each entry's index is stored whether it is ready or not, and
 * kept only if it is, so that the pass has no branch on readiness. With
 * many (more than SMALL_READY entries), the last slot takes any ready
 * entries beyond the list's room. Returns 0 or an errno.
 */
static inline __attribute__((always_inline)) int
scan(const coro_sel_t *sel, size_t n, uint64_t me, uint32_t *ready_at, size_t *nready, int many)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const coro_sel_t *e = &sel[i];
        const struct coro_chan *ch = e->chan;
        size_t r;

        if (ch == NULL)
            continue;
        /* The owner first: another thread's channel is not looked into. */
        if (__builtin_expect(ch->owner != me, 0))
            return bad_op(e) ? EINVAL : EPERM;
        if (e->op == CORO_RECV)
            r = (size_t)recv_ready(ch);
        else if (e->op == CORO_SEND && e->elem != NULL)
            r = (size_t)send_ready(ch);
        else
            return EINVAL;
        ready_at[many && k >= SMALL_READY ? SMALL_READY - 1 : k] = (uint32_t)i;
        k += r;
    }
    *nready = k;
    return 0;
}

/* Nothing in sel (checked) can complete now: wait for one entry, as long
 * as timeout says. Out of line, so that a select that need not wait has a
 * small frame. */
static __attribute__((noinline)) int
select_wait(coro_sel_t *sel, size_t n, int64_t timeout)
{
    struct op small[SMALL_SELECT], *ops = small;
    struct coro__wait *w;
    size_t i, live = 0;
    int err;

    for (i = 0; i < n; i++)
        live += sel[i].chan != NULL;
    if (live == 0 && timeout < 0)
        return fail(EINVAL); /* nothing could ever end the wait */
    if ((w = may_wait(timeout)) == NULL)
        return -1;
    if (live > SMALL_SELECT) {
        if ((ops = malloc(live * sizeof *ops)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
        w->owned = ops; /* freed when the wait ends */
    }
    for (i = 0; i < n; i++)
        if (sel[i].chan)
            queue(w, ops++, (int)i, sel[i].chan, sel[i].op, sel[i].elem);
    err = errno;
    if (coro__wait(w, deadline(timeout)) == -1 && w->fired < 0)
        return -1; /* ETIMEDOUT, ECANCELED */
    errno = err; /* an entry's EPIPE is its err, not the call's */
    sel[w->fired].err = w->err;
    return w->fired;
}

/* Do sel[c], which can complete now; returns c. */
static __attribute__((noinline)) int
select_do(coro_sel_t *sel, int c)
{
    sel[c].err = try_op(&sel[c]);
    return c;
}

/* What follows the pass: the error it found, a wait when nothing is
 * ready, or the choice, done. The choice is the first ready entry, or one
 * of them uniformly at random: one random number per call says which,
 * picked from the list of the ready ones without a branch on it (a branch
 * predictor cannot guess it); when the list overflowed (many), a second
 * pass finds the chosen one. Every call is a tail call. */
static inline __attribute__((always_inline)) int
choose(coro_sel_t *sel, size_t n, int64_t timeout, int first, uint64_t me, int err,
       const uint32_t *ready_at, size_t nready, int many)
{
    struct coro_chan *ch;
    coro_sel_t *e;
    size_t c;

    if (__builtin_expect(err != 0, 0))
        return fail(err);
    if (__builtin_expect(nready == 0, 0))
        return select_wait(sel, n, timeout);
    if (first || nready == 1)
        c = ready_at[0];
    else if (nready == n) /* all ready: the list is 0 ... n - 1 */
        c = below(n, me);
    else if (!many)
        c = ready_at[below(nready, me)];
    else
        c = pick(sel, n, ready_at, nready, me);
    /* The common case inline, calling nothing: an element of a common size
     * from a buffer that no sender waits to refill. */
    e = &sel[c];
    ch = e->chan;
    if (__builtin_expect(e->op == CORO_RECV && ch->count > 0 && coro__list_empty(&ch->sendq), 1)) {
        switch (ch->elem_size) {
        case 8:
            return take_sized(ch, e, 8), (int)c;
        case 4:
            return take_sized(ch, e, 4), (int)c;
        case 16:
            return take_sized(ch, e, 16), (int)c;
        }
    }
    return select_do(sel, (int)c);
}

/* A select of no entries, or more than SMALL_READY. */
static __attribute__((noinline)) int
select_many(coro_sel_t *sel, size_t n, int64_t timeout, int first)
{
    uint32_t ready_at[SMALL_READY];
    uint64_t me = coro__thr_peek()->id;
    size_t nready = 0;
    int err;

    if ((sel == NULL && n > 0) || n > INT_MAX)
        return fail(EINVAL);
    err = scan(sel, n, me, ready_at, &nready, 1);
    return choose(sel, n, timeout, first, me, err, ready_at, nready, 1);
}

/* The common select, of 1 to SMALL_READY entries, lists every ready
 * entry and calls nothing before its last step (which is a call only off
 * the common way). */
static inline __attribute__((always_inline)) int
select_any(coro_sel_t *sel, size_t n, int64_t timeout, int first)
{
    uint32_t ready_at[SMALL_READY]; /* the ready entries' indices */
    uint64_t me;
    size_t nready = 0;
    int err;

    if (__builtin_expect(n - 1 >= SMALL_READY || sel == NULL, 0))
        return select_many(sel, n, timeout, first);
    me = coro__thr_peek()->id;
    err = scan(sel, n, me, ready_at, &nready, 0);
    return choose(sel, n, timeout, first, me, err, ready_at, nready, 0);
}

int
coro_select(coro_sel_t *sel, size_t n, int64_t timeout)
{
    return select_any(sel, n, timeout, 0);
}

int
coro_select_first(coro_sel_t *sel, size_t n, int64_t timeout)
{
    return select_any(sel, n, timeout, 1);
}

size_t
coro_chan_len(const coro_chan_t *ch)
{
    return check_chan(ch) == -1 ? 0 : ch->count;
}

size_t
coro_chan_cap(const coro_chan_t *ch)
{
    return check_chan(ch) == -1 ? 0 : ch->cap;
}

/* A single send or receive that must wait: its clause in the room of the
 * task's wait, so that nothing of it is on this frame, and the wait is a
 * tail call; without a timeout it calls nothing before it, so it saves no
 * registers. */
_Static_assert(sizeof(struct op) <= CORO__ROOM, "struct op must fit in a wait's room");

static __attribute__((noinline)) int
chan_wait(struct coro_chan *ch, int op, void *elem, int64_t timeout)
{
    struct task *self = coro__self_task();
    struct coro__wait *w;

    if (__builtin_expect(timeout == 0 || !coro__wait_allowed(self, 0), 0))
        return coro__wait_refused(self, timeout);
    w = coro__wait_start(self, 0);
    queue(w, (struct op *)(void *)w->room, 0, ch, op, elem);
    if (timeout > 0)
        return coro__wait_for(w, timeout);
    return coro__wait(w, -1);
}

/* A single send or receive: inline in each of the four, so that the path
 * that need not wait has no frame of its own. */
static inline int
chan_op(struct coro_chan *ch, int op, void *elem, int64_t timeout)
{
    int err;

    if (ch == NULL || (op == CORO_SEND && elem == NULL))
        return fail(EINVAL);
    if (!coro__mine(ch->owner))
        return fail(EPERM);
    err = op == CORO_SEND ? try_send(ch, elem) : try_recv(ch, elem);
    if (__builtin_expect(err == 0, 1))
        return 0;
    if (err == EAGAIN)
        return chan_wait(ch, op, elem, timeout);
    return fail(err);
}

int
coro_chan_send(coro_chan_t *ch, const void *elem)
{
    return chan_op(ch, CORO_SEND, (void *)elem, CORO_FOREVER);
}

int
coro_chan_recv(coro_chan_t *ch, void *elem)
{
    return chan_op(ch, CORO_RECV, elem, CORO_FOREVER);
}

int
coro_chan_send_timeout(coro_chan_t *ch, const void *elem, int64_t timeout)
{
    return chan_op(ch, CORO_SEND, (void *)elem, timeout);
}

int
coro_chan_recv_timeout(coro_chan_t *ch, void *elem, int64_t timeout)
{
    return chan_op(ch, CORO_RECV, elem, timeout);
}

coro_chan_t *
coro_chan_create(size_t elem_size, size_t capacity)
{
    struct coro_chan *ch;

    /* The whole object must be a size malloc() may be asked for. */
    if (elem_size == 0 || (capacity && elem_size > (PTRDIFF_MAX - sizeof *ch) / capacity)) {
        errno = EINVAL;
        return NULL;
    }
    ch = malloc(sizeof *ch + elem_size * capacity);
    if (ch == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    *ch = (struct coro_chan){.elem_size = elem_size, .cap = capacity, .owner = coro__thread_id()};
    coro__list_init(&ch->sendq);
    coro__list_init(&ch->recvq);
    return ch;
}

int
coro_chan_close(coro_chan_t *ch)
{
    struct op *w;

    if (check_chan(ch) == -1)
        return -1;
    if (ch->closed) {
        errno = EPIPE;
        return -1;
    }
    ch->closed = 1;
    while ((w = first(&ch->recvq)) != NULL)
        complete(w, EPIPE);
    while ((w = first(&ch->sendq)) != NULL)
        complete(w, EPIPE);
    return 0;
}

int
coro_chan_destroy(coro_chan_t *ch)
{
    if (ch == NULL)
        return 0;
    if (check_chan(ch) == -1)
        return -1;
    if (!coro__list_empty(&ch->sendq) || !coro__list_empty(&ch->recvq)) {
        errno = EBUSY;
        return -1;
    }
    free(ch);
    return 0;
}
