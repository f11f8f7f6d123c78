/*
 * test-close: how coroutines end. coro_close (Python's close()), coro_defer
 * (try/finally), coro_exit and coro_destroy: which code still runs, in what
 * order, on which stack, and what each refuses. failmalloc.c lets the
 * ENOMEM of coro_defer be tested.
 */
#include "testutil.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* An event log: handlers and coroutine bodies append one letter each.    */

struct events {
    char s[2048];
    size_t n;
};

static void
ev(struct events *e, char c)
{
    ck_assert_uint_lt(e->n, sizeof e->s - 1);
    e->s[e->n++] = c;
    e->s[e->n] = '\0';
}

struct mark {
    struct events *ev;
    char c;
};

static void
mark_handler(void *arg)
{
    struct mark *m = arg;

    ev(m->ev, m->c);
}

/* Registers handlers a, b, c; logs S, yields 1, logs R, yields 2, logs T and
 * returns 3. Closing it at a yield must log only the handlers, "cba". */
struct abc {
    struct events ev;
    struct mark a, b, c;
};

static void
abc_init(struct abc *t)
{
    memset(t, 0, sizeof *t);
    t->a = (struct mark){ &t->ev, 'a' };
    t->b = (struct mark){ &t->ev, 'b' };
    t->c = (struct mark){ &t->ev, 'c' };
}

static void *
abc_fn(void *arg)
{
    struct abc *t = arg;

    ev(&t->ev, 'S');
    ck_assert_int_eq(coro_defer(mark_handler, &t->a), 0);
    ck_assert_int_eq(coro_defer(mark_handler, &t->b), 0);
    ck_assert_int_eq(coro_defer(mark_handler, &t->c), 0);
    coro_yield(IV(1));
    ev(&t->ev, 'R');
    coro_yield(IV(2));
    ev(&t->ev, 'T');
    return IV(3);
}

/* ---------------------------------------------------------------------- */
/* coro_close                                                             */

START_TEST(test_close_created)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_str_eq(t.ev.s, ""); /* fn never ran */
    ASSERT_FAILS(coro_resume(co, NULL, NULL), ESRCH);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "");
}
END_TEST

START_TEST(test_close_suspended)
{
    struct abc t;
    coro_t *co;
    void *out = NULL;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_str_eq(t.ev.s, "S");
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(t.ev.s, "Scba"); /* handlers, last first; no R, no T */
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_ptr_null(coro_self());
    ASSERT_FAILS(coro_resume(co, NULL, &out), ESRCH);
    ck_assert_int_eq(coro_close(co), 0); /* dead: a no-op */
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "Scba");
}
END_TEST

START_TEST(test_close_after_second_yield)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(t.ev.s, "SRcba");
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "SRcba");
}
END_TEST

START_TEST(test_close_finished_is_noop)
{
    struct abc t;
    coro_t *co;
    void *out = NULL;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(3));
    ck_assert_str_eq(t.ev.s, "SRTcba");
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "SRTcba");
}
END_TEST

START_TEST(test_close_null)
{
    ASSERT_FAILS(coro_close(NULL), EINVAL);
}
END_TEST

static void *
plain_yielder(void *arg)
{
    int *after = arg;

    coro_yield(NULL);
    (*after)++;
    return NULL;
}

START_TEST(test_close_without_handlers)
{
    int after = 0;
    coro_t *co = coro_create(plain_yielder, &after, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(after, 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(after, 0);
}
END_TEST

/* Suspended ten calls deep, each level with its own handler: closing runs
 * them all, innermost first, and none of the code after the calls. */
struct deep {
    struct events ev;
    struct mark m[10];
    int returned;
};

static void
deep_level(struct deep *d, int level)
{
    d->m[level] = (struct mark){ &d->ev, (char)('0' + level) };
    ck_assert_int_eq(coro_defer(mark_handler, &d->m[level]), 0);
    if (level < 9)
        deep_level(d, level + 1);
    else
        coro_yield(NULL);
    d->returned++;
}

static void *
deep_fn(void *arg)
{
    deep_level(arg, 0);
    return NULL;
}

START_TEST(test_close_deep)
{
    struct deep d;
    coro_t *co;

    memset(&d, 0, sizeof d);
    co = coro_create(deep_fn, &d, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_str_eq(d.ev.s, "");
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(d.ev.s, "9876543210");
    ck_assert_int_eq(d.returned, 0);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* Handlers run on the closed coroutine's own stack, as that coroutine. */
struct where {
    coro_t *closer; /* NULL: the thread */
    uintptr_t fn_local, h_local;
    coro_t *h_self;
    coro_status_t h_status, h_closer_status;
    int handler_runs;
};

static void
where_handler(void *arg)
{
    struct where *w = arg;
    volatile char local = 0;

    w->h_local = (uintptr_t)&local;
    w->h_self = coro_self();
    w->h_status = coro_status(coro_self());
    if (w->closer)
        w->h_closer_status = coro_status(w->closer);
    w->handler_runs++;
}

static void *
where_fn(void *arg)
{
    struct where *w = arg;
    volatile char local = 0;

    w->fn_local = (uintptr_t)&local;
    ck_assert_int_eq(coro_defer(where_handler, w), 0);
    coro_yield(NULL);
    ck_abort_msg("resumed after close");
    return NULL;
}

static uintptr_t
distance(uintptr_t a, uintptr_t b)
{
    return a > b ? a - b : b - a;
}

START_TEST(test_close_handler_on_own_stack)
{
    struct where w;
    volatile char main_local = 0;
    coro_t *co;

    memset(&w, 0, sizeof w);
    co = coro_create(where_fn, &w, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(w.handler_runs, 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_ptr_eq(w.h_self, co);
    ck_assert_int_eq(w.h_status, CORO_RUNNING);
    /* Same stack as the coroutine's body, not the closer's. */
    ck_assert_uint_lt(distance(w.h_local, w.fn_local), CORO_STACK_DEFAULT);
    ck_assert_uint_gt(distance(w.h_local, (uintptr_t)&main_local), CORO_STACK_DEFAULT);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(w.handler_runs, 1);
}
END_TEST

/* A coroutine closing another: the handlers run while the closer is
 * NORMAL, and the closer carries on afterwards. */
static void *
closer_fn(void *arg)
{
    struct where *w = arg;
    coro_t *victim = coro_create(where_fn, w, 0);

    ck_assert_ptr_nonnull(victim);
    ck_assert_int_eq(coro_resume(victim, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(victim), 0);
    ck_assert_ptr_eq(coro_self(), w->closer);
    ck_assert_int_eq(coro_status(w->closer), CORO_RUNNING);
    ck_assert_int_eq(coro_status(victim), CORO_DEAD);
    coro_yield(victim);
    ck_assert_int_eq(coro_destroy(victim), 0);
    return IV(7);
}

START_TEST(test_close_from_coroutine)
{
    struct where w;
    void *out = NULL;
    coro_t *victim;

    memset(&w, 0, sizeof w);
    w.closer = coro_create(closer_fn, &w, 0);
    ck_assert_ptr_nonnull(w.closer);
    ck_assert_int_eq(coro_resume(w.closer, NULL, &out), 0);
    victim = out;
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_ptr_eq(w.h_self, victim);
    ck_assert_int_eq(w.h_status, CORO_RUNNING);
    ck_assert_int_eq(w.h_closer_status, CORO_NORMAL);
    ck_assert_uint_lt(distance(w.h_local, w.fn_local), CORO_STACK_DEFAULT);
    ck_assert_int_eq(coro_resume(w.closer, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(7));
    ck_assert_int_eq(w.handler_runs, 1);
    ck_assert_int_eq(coro_destroy(w.closer), 0);
}
END_TEST

struct busy {
    coro_t *parent;
    int self_rc, self_err;
    int parent_rc, parent_err;
    coro_status_t parent_status;
    struct events ev;
    struct mark m;
};

static void *
close_self_fn(void *arg)
{
    struct busy *b = arg;

    b->m = (struct mark){ &b->ev, 'h' };
    ck_assert_int_eq(coro_defer(mark_handler, &b->m), 0);
    errno = 0;
    b->self_rc = coro_close(coro_self());
    b->self_err = errno;
    ev(&b->ev, 'x'); /* still running */
    coro_yield(IV(1));
    return IV(2);
}

START_TEST(test_close_self_busy)
{
    struct busy b;
    coro_t *co;
    void *out = NULL;

    memset(&b, 0, sizeof b);
    co = coro_create(close_self_fn, &b, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(b.self_rc, -1);
    ck_assert_int_eq(b.self_err, EBUSY);
    ck_assert_str_eq(b.ev.s, "x");
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_str_eq(b.ev.s, "xh");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static void *
child_closes_parent(void *arg)
{
    struct busy *b = arg;

    b->parent_status = coro_status(b->parent);
    errno = 0;
    b->parent_rc = coro_close(b->parent);
    b->parent_err = errno;
    return NULL;
}

static void *
parent_fn(void *arg)
{
    struct busy *b = arg;
    coro_t *child = coro_create(child_closes_parent, b, 0);

    ck_assert_ptr_nonnull(child);
    b->m = (struct mark){ &b->ev, 'p' };
    ck_assert_int_eq(coro_defer(mark_handler, &b->m), 0);
    ck_assert_int_eq(coro_resume(child, NULL, NULL), 1);
    ck_assert_int_eq(coro_destroy(child), 0);
    ev(&b->ev, 'y');
    coro_yield(NULL);
    ev(&b->ev, 'z');
    return NULL;
}

START_TEST(test_close_parent_busy)
{
    struct busy b;

    memset(&b, 0, sizeof b);
    b.parent = coro_create(parent_fn, &b, 0);
    ck_assert_ptr_nonnull(b.parent);
    ck_assert_int_eq(coro_resume(b.parent, NULL, NULL), 0);
    ck_assert_int_eq(b.parent_status, CORO_NORMAL);
    ck_assert_int_eq(b.parent_rc, -1);
    ck_assert_int_eq(b.parent_err, EBUSY);
    ck_assert_str_eq(b.ev.s, "y"); /* its handler did not run */
    ck_assert_int_eq(coro_status(b.parent), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(b.parent, NULL, NULL), 1);
    ck_assert_str_eq(b.ev.s, "yzp");
    ck_assert_int_eq(coro_destroy(b.parent), 0);
}
END_TEST

/* Like Python's try/finally closing a sub-generator: the outer coroutine
 * defers destroying the inner one, so closing outer closes inner too. */
struct cascade {
    struct events ev;
    struct mark outer_m, inner_m;
    coro_t *inner;
};

static void
destroy_handler(void *arg)
{
    struct cascade *c = arg;

    ck_assert_int_eq(coro_status(c->inner), CORO_SUSPENDED);
    ck_assert_int_eq(coro_destroy(c->inner), 0);
    ev(&c->ev, 'D');
}

static void *
cascade_inner(void *arg)
{
    struct cascade *c = arg;

    ck_assert_int_eq(coro_defer(mark_handler, &c->inner_m), 0);
    coro_yield(IV(1));
    ev(&c->ev, 'X');
    return NULL;
}

static void *
cascade_outer(void *arg)
{
    struct cascade *c = arg;
    void *v = NULL;

    ck_assert_int_eq(coro_defer(mark_handler, &c->outer_m), 0);
    c->inner = coro_create(cascade_inner, c, 0);
    ck_assert_ptr_nonnull(c->inner);
    ck_assert_int_eq(coro_defer(destroy_handler, c), 0);
    ck_assert_int_eq(coro_resume(c->inner, NULL, &v), 0);
    coro_yield(v);
    ev(&c->ev, 'Y');
    return NULL;
}

START_TEST(test_close_cascades)
{
    struct cascade c;
    coro_t *outer;
    void *out = NULL;

    memset(&c, 0, sizeof c);
    c.outer_m = (struct mark){ &c.ev, 'o' };
    c.inner_m = (struct mark){ &c.ev, 'i' };
    outer = coro_create(cascade_outer, &c, 0);
    ck_assert_ptr_nonnull(outer);
    ck_assert_int_eq(coro_resume(outer, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(coro_close(outer), 0);
    ck_assert_str_eq(c.ev.s, "iDo");
    ck_assert_int_eq(coro_status(outer), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(outer), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_defer                                                             */

START_TEST(test_defer_outside)
{
    struct events e;
    struct mark m = { &e, 'm' };

    memset(&e, 0, sizeof e);
    ASSERT_FAILS(coro_defer(mark_handler, &m), EPERM);
    ck_assert_str_eq(e.s, "");
}
END_TEST

struct nullfn {
    int rc, err;
    struct events ev;
    struct mark m;
};

static void *
defer_null_fn(void *arg)
{
    struct nullfn *n = arg;

    errno = 0;
    n->rc = coro_defer(NULL, n);
    n->err = errno;
    n->m = (struct mark){ &n->ev, 'k' };
    ck_assert_int_eq(coro_defer(mark_handler, &n->m), 0);
    return NULL;
}

START_TEST(test_defer_null_fn)
{
    struct nullfn n;
    coro_t *co;

    memset(&n, 0, sizeof n);
    co = coro_create(defer_null_fn, &n, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(n.rc, -1);
    ck_assert_int_eq(n.err, EINVAL);
    ck_assert_str_eq(n.ev.s, "k");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* While a coroutine is suspended the thread is outside it: EPERM. */
START_TEST(test_defer_outside_while_suspended)
{
    struct abc t;
    coro_t *co;
    struct mark m;

    abc_init(&t);
    m = (struct mark){ &t.ev, 'm' };
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ASSERT_FAILS(coro_defer(mark_handler, &m), EPERM);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(t.ev.s, "Scba");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* Handlers run before the resumer sees the return value. */
struct order {
    struct events ev;
    struct mark a, b;
    coro_t *co;
    coro_status_t status_in_handler;
};

static void
status_handler(void *arg)
{
    struct order *o = arg;

    o->status_in_handler = coro_status(o->co);
    ev(&o->ev, 'h');
}

static void *
order_fn(void *arg)
{
    struct order *o = arg;

    ck_assert_int_eq(coro_defer(mark_handler, &o->a), 0);
    ck_assert_int_eq(coro_defer(status_handler, o), 0);
    ck_assert_int_eq(coro_defer(mark_handler, &o->b), 0);
    ev(&o->ev, 'r');
    return IV(11);
}

START_TEST(test_defer_on_return)
{
    struct order o;
    void *out = NULL;

    memset(&o, 0, sizeof o);
    o.a = (struct mark){ &o.ev, 'a' };
    o.b = (struct mark){ &o.ev, 'b' };
    o.co = coro_create(order_fn, &o, 0);
    ck_assert_ptr_nonnull(o.co);
    ck_assert_int_eq(coro_resume(o.co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(11));
    ck_assert_str_eq(o.ev.s, "rbha");
    ck_assert_int_eq(o.status_in_handler, CORO_RUNNING);
    ck_assert_int_eq(coro_status(o.co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(o.co), 0);
    ck_assert_str_eq(o.ev.s, "rbha");
}
END_TEST

START_TEST(test_defer_on_destroy)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "Scba");
}
END_TEST

/* Many handlers, each with its own argument, in exact reverse order. */
#define MANY 1000

struct many {
    int order[MANY];
    int n;
    int args[MANY];
};

static struct many *many_log;

static void
index_handler(void *arg)
{
    int *i = arg;

    ck_assert_int_lt(many_log->n, MANY);
    many_log->order[many_log->n++] = *i;
}

static void *
many_fn(void *arg)
{
    struct many *m = arg;
    int i;

    for (i = 0; i < MANY; i++) {
        m->args[i] = i;
        if (coro_defer(index_handler, &m->args[i]) != 0)
            ck_abort_msg("coro_defer %d failed", i);
    }
    coro_yield(NULL);
    return NULL;
}

START_TEST(test_defer_many)
{
    static struct many m;
    coro_t *co;
    int i;

    memset(&m, 0, sizeof m);
    many_log = &m;
    co = coro_create(many_fn, &m, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(m.n, 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(m.n, MANY);
    for (i = 0; i < MANY; i++)
        if (m.order[i] != MANY - 1 - i)
            ck_abort_msg("handler %d ran at position %d", m.order[i], i);
}
END_TEST

/* A handler that registers another handler: the new one runs too, once,
 * and (being the last registered) before the older ones. */
struct nested {
    struct events ev;
    struct mark a, b, n;
    int depth; /* chain: each handler registers the next, depth times */
};

static void
registering_handler(void *arg)
{
    struct nested *x = arg;

    ev(&x->ev, 'R');
    ck_assert_int_eq(coro_defer(mark_handler, &x->n), 0);
}

static void
chain_handler(void *arg)
{
    struct nested *x = arg;

    ev(&x->ev, '+');
    if (--x->depth > 0)
        ck_assert_int_eq(coro_defer(chain_handler, x), 0);
}

static void *
nested_fn(void *arg)
{
    struct nested *x = arg;

    ck_assert_int_eq(coro_defer(mark_handler, &x->a), 0);
    ck_assert_int_eq(coro_defer(registering_handler, x), 0);
    ck_assert_int_eq(coro_defer(mark_handler, &x->b), 0);
    if (x->depth > 0)
        ck_assert_int_eq(coro_defer(chain_handler, x), 0);
    coro_yield(NULL);
    return NULL;
}

static void
nested_init(struct nested *x, int depth)
{
    memset(x, 0, sizeof *x);
    x->a = (struct mark){ &x->ev, 'a' };
    x->b = (struct mark){ &x->ev, 'b' };
    x->n = (struct mark){ &x->ev, 'n' };
    x->depth = depth;
}

START_TEST(test_defer_in_handler)
{
    struct nested x;
    coro_t *co;

    /* on return */
    nested_init(&x, 0);
    co = coro_create(nested_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_str_eq(x.ev.s, "bRna");
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(x.ev.s, "bRna");

    /* on close */
    nested_init(&x, 0);
    co = coro_create(nested_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(x.ev.s, "bRna");
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(x.ev.s, "bRna");
}
END_TEST

START_TEST(test_defer_chain_in_handlers)
{
    struct nested x;
    coro_t *co;
    char expect[128];

    nested_init(&x, 100);
    co = coro_create(nested_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    memset(expect, '+', 100);
    strcpy(expect + 100, "bRna");
    ck_assert_str_eq(x.ev.s, expect);
    ck_assert_int_eq(x.depth, 0);
}
END_TEST

/* coro_exit from a handler: the handler stops there, the remaining handlers
 * still run exactly once, and the latest exit value wins. */
struct exiter {
    struct events ev;
    struct mark a, c;
    intptr_t b_exit;  /* 0: b does not exit */
    intptr_t a_exit;
    int b_after;
    const struct chain *chain; /* for test_return_noreturn */
};

static void
exit_b_handler(void *arg)
{
    struct exiter *x = arg;

    ev(&x->ev, 'b');
    if (x->b_exit) {
        coro_exit(IV(x->b_exit));
        x->b_after++;
    }
}

static void
exit_a_handler(void *arg)
{
    struct exiter *x = arg;

    ev(&x->ev, 'a');
    if (x->a_exit)
        coro_exit(IV(x->a_exit));
}

static void *
exiter_fn(void *arg)
{
    struct exiter *x = arg;

    ck_assert_int_eq(coro_defer(exit_a_handler, x), 0);
    ck_assert_int_eq(coro_defer(exit_b_handler, x), 0);
    ck_assert_int_eq(coro_defer(mark_handler, &x->c), 0);
    if (coro_yield(IV(1)) != NULL)
        coro_exit(IV(99));
    return IV(10);
}

static void
exiter_init(struct exiter *x, intptr_t b_exit, intptr_t a_exit)
{
    memset(x, 0, sizeof *x);
    x->c = (struct mark){ &x->ev, 'c' };
    x->b_exit = b_exit;
    x->a_exit = a_exit;
}

/* coro_return(): coro_exit() declared noreturn. The recursive walker below
 * is the pattern gcc 12's -Winfinite-recursion (in -Wall, an error in CI)
 * flags when its one way out is a call the compiler thinks returns; declared
 * noreturn itself, it compiles cleanly, and gen_fn() needs no return. */
struct chain {
    int v;
    const struct chain *next;
};

__attribute__((noreturn)) static void
walk_chain(const struct chain *c)
{
    coro_yield(IV(c->v));
    if (c->next == NULL)
        coro_return(IV(c->v * 100));
    walk_chain(c->next);
}

static void *
chain_fn(void *arg)
{
    ck_assert_int_eq(coro_defer(mark_handler, &((struct exiter *)arg)->c), 0);
    walk_chain(((struct exiter *)arg)->chain);
}

START_TEST(test_return_noreturn)
{
    static const struct chain c3 = { 3, NULL }, c2 = { 2, &c3 }, c1 = { 1, &c2 };
    struct exiter x;
    coro_t *co;
    void *out = NULL;
    intptr_t want = 1;
    int rc;

    memset(&x, 0, sizeof x);
    x.c = (struct mark){ &x.ev, 'c' };
    x.chain = &c1;
    co = coro_create(chain_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    while ((rc = coro_resume(co, NULL, &out)) == 0)
        ck_assert_ptr_eq(out, IV(want++));
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(want, 4);
    ck_assert_ptr_eq(out, IV(300));
    ck_assert_str_eq(x.ev.s, "c"); /* its deferred handler ran */
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* Outside a coroutine it cannot return an error: it says so and aborts. */
START_TEST(test_return_outside_aborts)
{
    int fd[2], status;
    char err[256];
    ssize_t n, len = 0;
    pid_t pid;

    ck_assert_int_eq(pipe(fd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fd[1], STDERR_FILENO);
        coro_return(NULL);
    }
    close(fd[1]);
    while (len < (ssize_t)sizeof err - 1 &&
           (n = read(fd[0], err + len, sizeof err - 1 - (size_t)len)) > 0)
        len += n;
    err[len] = '\0';
    close(fd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x", status);
    /* Its first line (an emulator may add its own after the abort). */
    ck_assert_msg(strncmp(err, "libcoro: coro_return() called outside a coroutine\n", 50) == 0,
                  "stderr: %s", err);
}
END_TEST

START_TEST(test_exit_in_handler)
{
    struct exiter x;
    coro_t *co;
    void *out = NULL;

    /* on return: b's exit replaces the return value */
    exiter_init(&x, 20, 0);
    co = coro_create(exiter_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(20));
    ck_assert_str_eq(x.ev.s, "cba");
    ck_assert_int_eq(x.b_after, 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(x.ev.s, "cba");

    /* two handlers exit: the later one (a) wins */
    exiter_init(&x, 20, 30);
    co = coro_create(exiter_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(30));
    ck_assert_str_eq(x.ev.s, "cba");
    ck_assert_int_eq(coro_destroy(co), 0);

    /* on coro_exit from the body */
    exiter_init(&x, 20, 0);
    co = coro_create(exiter_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, IV(1), &out), 1);
    ck_assert_ptr_eq(out, IV(20));
    ck_assert_str_eq(x.ev.s, "cba");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_exit_in_handler_on_close)
{
    struct exiter x;
    coro_t *co;

    exiter_init(&x, 20, 30);
    co = coro_create(exiter_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(x.ev.s, "cba");
    ck_assert_int_eq(x.b_after, 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ASSERT_FAILS(coro_resume(co, NULL, NULL), ESRCH);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(x.ev.s, "cba");

    exiter_init(&x, 20, 0);
    co = coro_create(exiter_fn, &x, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(x.ev.s, "cba");
}
END_TEST

/* coro_yield in a handler of an ending coroutine: NULL, ECANCELED, and no
 * suspension: the handler goes on and the coroutine still ends. */
struct yielder {
    struct events ev;
    void *got;
    int err;
};

static void
yield_handler(void *arg)
{
    struct yielder *y = arg;

    ev(&y->ev, '<');
    errno = 0;
    y->got = coro_yield(IV(77));
    y->err = errno;
    ev(&y->ev, '>');
}

static void *
yielder_fn(void *arg)
{
    struct yielder *y = arg;

    ck_assert_int_eq(coro_defer(yield_handler, y), 0);
    coro_yield(IV(1));
    return IV(5);
}

START_TEST(test_yield_in_handler)
{
    struct yielder y;
    coro_t *co;
    void *out = NULL;

    memset(&y, 0, sizeof y);
    y.got = IV(1);
    co = coro_create(yielder_fn, &y, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(coro_resume(co, IV(3), &out), 1);
    ck_assert_ptr_eq(out, IV(5)); /* not the 77 the handler tried to yield */
    ck_assert_ptr_null(y.got);
    ck_assert_int_eq(y.err, ECANCELED);
    ck_assert_str_eq(y.ev.s, "<>");
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);

    /* the same during close */
    memset(&y, 0, sizeof y);
    y.got = IV(1);
    co = coro_create(yielder_fn, &y, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_ptr_null(y.got);
    ck_assert_int_eq(y.err, ECANCELED);
    ck_assert_str_eq(y.ev.s, "<>");
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* A handler may drive other coroutines (here: drain a generator). */
static void *
gen3(void *arg)
{
    (void)arg;
    coro_yield(IV(1));
    coro_yield(IV(2));
    coro_yield(IV(3));
    return NULL;
}

struct drain {
    coro_t *self, *gen;
    intptr_t sum;
    coro_status_t self_status_seen_by_gen;
};

static void *
gen_status(void *arg)
{
    struct drain *d = arg;

    d->self_status_seen_by_gen = coro_status(d->self);
    return gen3(NULL);
}

static void
drain_handler(void *arg)
{
    struct drain *d = arg;
    void *v = NULL;

    while (coro_resume(d->gen, NULL, &v) == 0)
        d->sum += VI(v);
    ck_assert_int_eq(coro_destroy(d->gen), 0);
}

static void *
drain_fn(void *arg)
{
    struct drain *d = arg;

    d->gen = coro_create(gen_status, d, 0);
    ck_assert_ptr_nonnull(d->gen);
    ck_assert_int_eq(coro_defer(drain_handler, d), 0);
    coro_yield(NULL);
    return NULL;
}

START_TEST(test_handler_resumes_others)
{
    struct drain d;

    memset(&d, 0, sizeof d);
    d.self = coro_create(drain_fn, &d, 0);
    ck_assert_ptr_nonnull(d.self);
    ck_assert_int_eq(coro_resume(d.self, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(d.self), 0);
    ck_assert_int_eq(d.sum, 6);
    ck_assert_int_eq(d.self_status_seen_by_gen, CORO_NORMAL);
    ck_assert_int_eq(coro_destroy(d.self), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_exit                                                              */

START_TEST(test_exit_outside)
{
    ASSERT_FAILS(coro_exit(NULL), EPERM);
    ASSERT_FAILS(coro_exit(IV(1)), EPERM);
    ck_assert_ptr_null(coro_self());
}
END_TEST

static void *
exit_direct(void *arg)
{
    int *after = arg;

    coro_yield(IV(1));
    coro_exit(IV(5));
    (*after)++;
    return IV(6);
}

START_TEST(test_exit_direct)
{
    int after = 0;
    coro_t *co = coro_create(exit_direct, &after, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(5));
    ck_assert_int_eq(after, 0);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ASSERT_FAILS(coro_resume(co, NULL, NULL), ESRCH);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(after, 0);
}
END_TEST

static void *
exit_null_fn(void *arg)
{
    (void)arg;
    coro_exit(NULL);
    return IV(1);
}

START_TEST(test_exit_null)
{
    coro_t *co = coro_create(exit_null_fn, NULL, 0);
    void *out = IV(2);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* coro_exit 200 calls deep, with a handler registered at every tenth level:
 * none of the calls return, every handler runs once, innermost first. */
struct deep_exit {
    int returns;
    int handlers[20];
    int order[20];
    int nrun;
};

static struct deep_exit *dx;

static void
level_handler(void *arg)
{
    int level = (int)VI(arg);

    dx->handlers[level / 10]++;
    ck_assert_int_lt(dx->nrun, 20);
    dx->order[dx->nrun++] = level / 10;
}

static int
descend(int level)
{
    volatile int pad = level;

    if (level % 10 == 0)
        ck_assert_int_eq(coro_defer(level_handler, IV(level)), 0);
    if (level == 199) {
        coro_exit(IV(level));
        dx->returns += 1000; /* never: coro_exit does not return */
        return -1;
    }
    pad += descend(level + 1);
    dx->returns++;
    return pad;
}

static void *
deep_exit_fn(void *arg)
{
    (void)arg;
    coro_yield(NULL);
    return IV(descend(0));
}

START_TEST(test_exit_deep)
{
    static struct deep_exit d;
    coro_t *co;
    void *out = NULL;
    int i;

    memset(&d, 0, sizeof d);
    dx = &d;
    co = coro_create(deep_exit_fn, NULL, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(199));
    ck_assert_int_eq(d.returns, 0);
    ck_assert_int_eq(d.nrun, 20);
    for (i = 0; i < 20; i++) {
        ck_assert_int_eq(d.handlers[i], 1);
        ck_assert_int_eq(d.order[i], 19 - i);
    }
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(d.nrun, 20);
}
END_TEST

/* A nested coroutine's exit ends only that coroutine and returns to its
 * resumer, which carries on. */
static void *
exit_child(void *arg)
{
    (void)arg;
    coro_yield(IV(1));
    coro_exit(IV(41));
    return NULL;
}

static void *
exit_parent(void *arg)
{
    coro_t *const *self = arg; /* filled in by the creator before resuming */
    coro_t *child = coro_create(exit_child, NULL, 0);
    void *v = NULL;

    ck_assert_ptr_nonnull(child);
    ck_assert_int_eq(coro_resume(child, NULL, &v), 0);
    ck_assert_ptr_eq(v, IV(1));
    ck_assert_int_eq(coro_resume(child, NULL, &v), 1);
    ck_assert_ptr_eq(v, IV(41));
    ck_assert_ptr_eq(coro_self(), *self);
    ck_assert_int_eq(coro_status(*self), CORO_RUNNING);
    ck_assert_int_eq(coro_status(child), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(child), 0);
    coro_yield(IV(VI(v) + 1));
    return IV(100);
}

START_TEST(test_exit_nested)
{
    coro_t *parent;
    void *out = NULL;

    parent = coro_create(exit_parent, &parent, 0);
    ck_assert_ptr_nonnull(parent);
    ck_assert_int_eq(coro_resume(parent, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(42));
    ck_assert_int_eq(coro_status(parent), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(parent, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(100));
    ck_assert_int_eq(coro_destroy(parent), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* coro_destroy                                                           */

START_TEST(test_destroy_null)
{
    errno = 0;
    ck_assert_int_eq(coro_destroy(NULL), 0);
    ck_assert_int_eq(errno, 0);
}
END_TEST

START_TEST(test_destroy_created)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "");
}
END_TEST

START_TEST(test_destroy_finished)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    while (coro_resume(co, NULL, NULL) == 0)
        ;
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_str_eq(t.ev.s, "SRTcba");
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "SRTcba");
}
END_TEST

START_TEST(test_destroy_after_close)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(abc_fn, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(t.ev.s, "Scba");
}
END_TEST

static void *
destroy_self_fn(void *arg)
{
    struct busy *b = arg;

    b->m = (struct mark){ &b->ev, 'h' };
    ck_assert_int_eq(coro_defer(mark_handler, &b->m), 0);
    errno = 0;
    b->self_rc = coro_destroy(coro_self());
    b->self_err = errno;
    ev(&b->ev, 'x');
    coro_yield(IV(1));
    ev(&b->ev, 'y');
    return IV(2);
}

START_TEST(test_destroy_self_busy)
{
    struct busy b;
    coro_t *co;
    void *out = NULL;

    memset(&b, 0, sizeof b);
    co = coro_create(destroy_self_fn, &b, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(b.self_rc, -1);
    ck_assert_int_eq(b.self_err, EBUSY);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_str_eq(b.ev.s, "x");
    /* nothing was freed: it still works */
    ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_str_eq(b.ev.s, "xyh");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static void *
child_destroys_parent(void *arg)
{
    struct busy *b = arg;

    b->parent_status = coro_status(b->parent);
    errno = 0;
    b->parent_rc = coro_destroy(b->parent);
    b->parent_err = errno;
    return NULL;
}

static void *
parent2_fn(void *arg)
{
    struct busy *b = arg;
    coro_t *child = coro_create(child_destroys_parent, b, 0);

    ck_assert_ptr_nonnull(child);
    b->m = (struct mark){ &b->ev, 'p' };
    ck_assert_int_eq(coro_defer(mark_handler, &b->m), 0);
    ck_assert_int_eq(coro_resume(child, NULL, NULL), 1);
    ck_assert_int_eq(coro_destroy(child), 0);
    ck_assert_int_eq(coro_status(coro_self()), CORO_RUNNING);
    ev(&b->ev, 'y');
    coro_yield(IV(8));
    ev(&b->ev, 'z');
    return IV(9);
}

START_TEST(test_destroy_parent_busy)
{
    struct busy b;
    void *out = NULL;

    memset(&b, 0, sizeof b);
    b.parent = coro_create(parent2_fn, &b, 0);
    ck_assert_ptr_nonnull(b.parent);
    ck_assert_int_eq(coro_resume(b.parent, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(8));
    ck_assert_int_eq(b.parent_status, CORO_NORMAL);
    ck_assert_int_eq(b.parent_rc, -1);
    ck_assert_int_eq(b.parent_err, EBUSY);
    ck_assert_str_eq(b.ev.s, "y");
    ck_assert_int_eq(coro_resume(b.parent, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(9));
    ck_assert_str_eq(b.ev.s, "yzp");
    ck_assert_int_eq(coro_destroy(b.parent), 0);
}
END_TEST

/* Destroying a suspended child from inside its parent. */
static void *
parent_destroys_child(void *arg)
{
    struct abc *t = arg;
    coro_t *child = coro_create(abc_fn, t, 0);

    ck_assert_ptr_nonnull(child);
    ck_assert_int_eq(coro_resume(child, NULL, NULL), 0);
    ck_assert_int_eq(coro_destroy(child), 0);
    ev(&t->ev, 'P');
    return NULL;
}

START_TEST(test_destroy_child_from_parent)
{
    struct abc t;
    coro_t *co;

    abc_init(&t);
    co = coro_create(parent_destroys_child, &t, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_str_eq(t.ev.s, "ScbaP");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Allocation failure                                                     */

START_TEST(test_failmalloc_works)
{
    /* Through a volatile pointer, so the compiler cannot fold the calls. */
    void *(*volatile m)(size_t) = malloc;
    long before = failmalloc_failures();
    void *p, *q;

    failmalloc_arm(2);
    p = m(32);
    q = m(32);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(failmalloc_failures(), before + 1);
    q = m(32);
    ck_assert_ptr_nonnull(q);
    free(p);
    free(q);
}
END_TEST

struct oom {
    struct events ev;
    struct mark m[5];
    long nth;      /* in: which allocation to fail, counted from the first defer */
    int rc[5];     /* out: what each coro_defer returned */
    int err[5];
    long failures; /* out: failmalloc_failures() afterwards */
};

/* Registers five handlers with the nth allocation from the first defer on
 * made to fail; records each result. Nothing may allocate in between. */
static void *
oom_fn(void *arg)
{
    struct oom *o = arg;
    int i;

    failmalloc_arm(o->nth);
    for (i = 0; i < 5; i++) {
        errno = 0;
        o->rc[i] = coro_defer(mark_handler, &o->m[i]);
        o->err[i] = errno;
    }
    failmalloc_arm(0);
    o->failures = failmalloc_failures();
    coro_yield(NULL);
    ev(&o->ev, '!');
    return IV(4);
}

static void
oom_init(struct oom *o, long nth)
{
    int i;

    memset(o, 0, sizeof *o);
    for (i = 0; i < 5; i++)
        o->m[i] = (struct mark){ &o->ev, (char)('1' + i) };
    o->nth = nth;
}

START_TEST(test_defer_enomem)
{
    struct oom o;
    coro_t *co;
    void *out = NULL;
    long before = failmalloc_failures();
    int i;

    oom_init(&o, 3);
    co = coro_create(oom_fn, &o, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(o.failures, before + 1);
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(o.rc[i], i == 2 ? -1 : 0);
        if (i == 2)
            ck_assert_int_eq(o.err[i], ENOMEM);
    }
    /* The coroutine is unharmed: it runs on and ends normally; the failed
     * registration never runs, the others run once each. */
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(4));
    ck_assert_str_eq(o.ev.s, "!5421");
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_str_eq(o.ev.s, "!5421");
}
END_TEST

START_TEST(test_defer_enomem_first_then_close)
{
    struct oom o;
    coro_t *co;
    long before = failmalloc_failures();
    int i;

    oom_init(&o, 1);
    co = coro_create(oom_fn, &o, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(o.failures, before + 1);
    ck_assert_int_eq(o.rc[0], -1);
    ck_assert_int_eq(o.err[0], ENOMEM);
    for (i = 1; i < 5; i++)
        ck_assert_int_eq(o.rc[i], 0);
    ck_assert_int_eq(coro_close(co), 0);
    ck_assert_str_eq(o.ev.s, "5432");
    ck_assert_int_eq(coro_destroy(co), 0);

    /* Everything still works afterwards (armed with 0: nothing fails). */
    oom_init(&o, 0);
    co = coro_create(oom_fn, &o, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(o.rc[i], 0);
    ck_assert_int_eq(o.failures, before + 1);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_str_eq(o.ev.s, "!54321");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* Whether malloc() really is failmalloc's here. valgrind replaces malloc in
 * the main program too unless told --soname-synonyms=somalloc=nouserintercepts;
 * then (and where failmalloc is compiled out) the ENOMEM cases cannot run.
 * Natively they always run, so a broken interposer fails loudly. */
static int
enomem_testable(void)
{
    void *(*volatile m)(size_t) = malloc;
    void *p;

    if (!failmalloc_supported()) {
        fputs("test-close: failmalloc is not available in this build (not glibc, "
              "a static link, or a sanitizer owns malloc): ENOMEM cases skipped\n", stderr);
        return 0;
    }
#ifdef RUNNING_ON_VALGRIND
    failmalloc_arm(1);
    p = m(16);
    failmalloc_arm(0);
    if (p != NULL && RUNNING_ON_VALGRIND) {
        free(p);
        fputs("test-close: valgrind replaced failmalloc's malloc (add "
              "--soname-synonyms=somalloc=nouserintercepts): ENOMEM cases skipped\n", stderr);
        return 0;
    }
    free(p);
#else
    (void)m;
    (void)p;
#endif
    return 1;
}

static Suite *
close_suite(void)
{
    Suite *s = suite_create("close");
    TCase *tc;

    tc = test_case("close");
    tcase_add_test(tc, test_close_created);
    tcase_add_test(tc, test_close_suspended);
    tcase_add_test(tc, test_close_after_second_yield);
    tcase_add_test(tc, test_close_finished_is_noop);
    tcase_add_test(tc, test_close_null);
    tcase_add_test(tc, test_close_without_handlers);
    tcase_add_test(tc, test_close_deep);
    tcase_add_test(tc, test_close_handler_on_own_stack);
    tcase_add_test(tc, test_close_from_coroutine);
    tcase_add_test(tc, test_close_self_busy);
    tcase_add_test(tc, test_close_parent_busy);
    tcase_add_test(tc, test_close_cascades);
    suite_add_tcase(s, tc);

    tc = test_case("defer");
    tcase_add_test(tc, test_defer_outside);
    tcase_add_test(tc, test_defer_null_fn);
    tcase_add_test(tc, test_defer_outside_while_suspended);
    tcase_add_test(tc, test_defer_on_return);
    tcase_add_test(tc, test_defer_on_destroy);
    tcase_add_test(tc, test_defer_many);
    tcase_add_test(tc, test_defer_in_handler);
    tcase_add_test(tc, test_defer_chain_in_handlers);
    tcase_add_test(tc, test_exit_in_handler);
    tcase_add_test(tc, test_return_noreturn);
    tcase_add_test(tc, test_return_outside_aborts);
    tcase_add_test(tc, test_exit_in_handler_on_close);
    tcase_add_test(tc, test_yield_in_handler);
    tcase_add_test(tc, test_handler_resumes_others);
    suite_add_tcase(s, tc);

    tc = test_case("exit");
    tcase_add_test(tc, test_exit_outside);
    tcase_add_test(tc, test_exit_direct);
    tcase_add_test(tc, test_exit_null);
    tcase_add_test(tc, test_exit_deep);
    tcase_add_test(tc, test_exit_nested);
    suite_add_tcase(s, tc);

    tc = test_case("destroy");
    tcase_add_test(tc, test_destroy_null);
    tcase_add_test(tc, test_destroy_created);
    tcase_add_test(tc, test_destroy_finished);
    tcase_add_test(tc, test_destroy_after_close);
    tcase_add_test(tc, test_destroy_self_busy);
    tcase_add_test(tc, test_destroy_parent_busy);
    tcase_add_test(tc, test_destroy_child_from_parent);
    suite_add_tcase(s, tc);

    if (enomem_testable()) {
        tc = test_case("enomem");
        tcase_add_test(tc, test_failmalloc_works);
        tcase_add_test(tc, test_defer_enomem);
        tcase_add_test(tc, test_defer_enomem_first_then_close);
        suite_add_tcase(s, tc);
    }

    return s;
}

TEST_MAIN(close_suite)
