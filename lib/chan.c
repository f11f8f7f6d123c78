/*
 * Channels: a ring buffer of fixed-size elements and two FIFO queues of
 * blocked operations, sends and receives. Whoever finds a partner waiting
 * does the whole hand-over itself (copies the element, fires the partner's
 * clause), so a blocked task never has to retry: when it runs again its
 * operation is done.
 *
 * Every operation, select included, first tries to complete at once; only
 * then does a task wait, with one clause per operation (wait.h), each
 * queued on its channel.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "object.h"
#include "wait.h"

struct coro_chan {
    size_t elem_size, cap;
    size_t head, count;          /* the buffered elements: buf[head ...] */
    struct coro__link sendq;     /* blocked senders (only when full) */
    struct coro__link recvq;     /* blocked receivers (only when empty) */
    uint64_t owner;              /* the id of the thread it belongs to */
    int closed;
    unsigned char buf[];
};

/* A blocked operation: a clause of its task's wait, queued on its channel. */
struct op {
    struct coro__clause clause;
    struct coro__link link;      /* in its channel's sendq or recvq */
    coro_sel_t *sel;
};

enum { SMALL_SELECT = 4 }; /* clauses kept on the stack; more are allocated */

static struct op *
first(struct coro__link *q)
{
    return coro__list_empty(q) ? NULL : coro__container_of(q->next, struct op, link);
}

/* Finish a blocked partner's operation and let it run again. */
static void
complete(struct op *w, int err)
{
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

static void
put(struct coro_chan *ch, const void *elem)
{
    size_t i = (ch->head + ch->count) % ch->cap;

    copy(ch->buf + i * ch->elem_size, elem, ch->elem_size);
    ch->count++;
}

static void
take(struct coro_chan *ch, void *elem)
{
    if (elem)
        copy(elem, ch->buf + ch->head * ch->elem_size, ch->elem_size);
    ch->head = (ch->head + 1) % ch->cap;
    ch->count--;
}

/* Complete *sel now if it can be: 1 (sel->err is 0 or EPIPE), else 0. */
static int
try_send(coro_sel_t *sel)
{
    struct coro_chan *ch = sel->chan;
    struct op *w;

    if (ch->closed) {
        sel->err = EPIPE;
        return 1;
    }
    if ((w = first(&ch->recvq)) != NULL) { /* then the buffer is empty */
        if (w->sel->elem)
            copy(w->sel->elem, sel->elem, ch->elem_size);
        complete(w, 0);
    } else if (ch->count < ch->cap) {
        put(ch, sel->elem);
    } else {
        return 0;
    }
    sel->err = 0;
    return 1;
}

static int
try_recv(coro_sel_t *sel)
{
    struct coro_chan *ch = sel->chan;
    struct op *w = first(&ch->sendq);

    if (ch->count > 0) {
        take(ch, sel->elem);
        if (w) { /* a sender was waiting for this room */
            put(ch, w->sel->elem);
            complete(w, 0);
        }
    } else if (w) { /* rendezvous */
        if (sel->elem)
            copy(sel->elem, w->sel->elem, ch->elem_size);
        complete(w, 0);
    } else if (ch->closed) {
        sel->err = EPIPE;
        return 1;
    } else {
        return 0;
    }
    sel->err = 0;
    return 1;
}

static int
check_sel(const coro_sel_t *sel)
{
    if (sel->chan == NULL || (sel->op != CORO_SEND && sel->op != CORO_RECV) ||
        (sel->op == CORO_SEND && sel->elem == NULL)) {
        errno = EINVAL;
        return -1;
    }
    if (!coro__mine(sel->chan->owner)) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static int
try_op(coro_sel_t *sel)
{
    return sel->op == CORO_SEND ? try_send(sel) : try_recv(sel);
}

/* None of the n operations could complete at once: the running task waits
 * for all of them, with the n clauses ops (owned: when allocated), until
 * one completes (its index) or the timeout (-1, errno ETIMEDOUT). The
 * caller has begun the wait. */
static int
wait_on(struct coro__wait *w, coro_sel_t *sel, size_t n, struct op *ops, int64_t timeout)
{
    int fired;

    for (size_t i = 0; i < n; i++) {
        struct coro_chan *ch = sel[i].chan;

        ops[i].sel = &sel[i];
        coro__list_push(sel[i].op == CORO_SEND ? &ch->sendq : &ch->recvq, &ops[i].link);
        coro__wait_add(w, &ops[i].clause, (int)i, cancel_op);
    }
    fired = coro__wait(w, timeout < 0 ? -1 : coro__deadline(timeout)); /* frees owned */
    if (fired == CORO__TIMEOUT) {
        errno = w->err;
        return -1;
    }
    sel[fired].err = w->err;
    return fired;
}

/* An operation that cannot complete at once: may the caller wait for it? */
static int
may_wait(struct coro__wait *w, int64_t timeout)
{
    if (timeout == 0) {
        errno = EAGAIN;
        return -1;
    }
    return coro__wait_begin(w);
}

int
coro_select(coro_sel_t *sel, size_t n, int64_t timeout)
{
    struct op small[SMALL_SELECT], *ops = small;
    struct coro__wait w;
    size_t i;

    if ((sel == NULL && n > 0) || (n == 0 && timeout < 0) || n > INT_MAX) {
        errno = EINVAL; /* n == 0: nothing could ever end the wait */
        return -1;
    }
    for (i = 0; i < n; i++)
        if (check_sel(&sel[i]) == -1)
            return -1;
    for (i = 0; i < n; i++)
        if (try_op(&sel[i]))
            return (int)i;
    if (may_wait(&w, timeout) == -1)
        return -1;
    if (n > SMALL_SELECT) {
        if ((ops = malloc(n * sizeof *ops)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
        w.owned = ops;
    }
    return wait_on(&w, sel, n, ops, timeout);
}

/* A single send or receive: a select of one, without the loops. */
static int
chan_op(coro_chan_t *ch, int op, void *elem, int64_t timeout)
{
    coro_sel_t sel = {.chan = ch, .op = op, .elem = elem};
    struct coro__wait w;
    struct op o;

    if (ch == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (check_sel(&sel) == -1)
        return -1;
    if (!try_op(&sel) && (may_wait(&w, timeout) == -1 || wait_on(&w, &sel, 1, &o, timeout) == -1))
        return -1;
    if (sel.err) {
        errno = sel.err;
        return -1;
    }
    return 0;
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

    if (elem_size == 0 || (capacity && elem_size > (SIZE_MAX - sizeof *ch) / capacity)) {
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
