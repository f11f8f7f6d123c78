/*
 * test-coro: the coroutine object. Lifecycle and status, passing values
 * both ways, every error of coro_create/coro_resume/coro_yield/coro_status/
 * coro_self, nesting and delegation ("yield from"), and a few of the
 * generator patterns Python programs use.
 */
#include "testutil.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Lifecycle and status                                                   */

static void *
count_runs(void *arg)
{
    int *runs = arg;

    (*runs)++;
    return IV(42);
}

START_TEST(test_create_runs_nothing)
{
    int runs = 0;
    coro_t *co = coro_create(count_runs, &runs, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
    ck_assert_int_eq(runs, 0);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_int_eq(runs, 0);
}
END_TEST

START_TEST(test_create_distinct_objects)
{
    int runs = 0;
    coro_t *a = coro_create(count_runs, &runs, 0);
    coro_t *b = coro_create(count_runs, &runs, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_int_eq(coro_resume(b, NULL, &out), 1);
    ck_assert_int_eq(runs, 1);
    ck_assert_ptr_eq(out, IV(42));
    ck_assert_int_eq(coro_status(a), CORO_CREATED);
    ck_assert_int_eq(coro_status(b), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(a), 0);
    ck_assert_int_eq(coro_destroy(b), 0);
    ck_assert_int_eq(runs, 1);
}
END_TEST

struct life {
    void *arg_seen;
    coro_t *self_seen;
    coro_status_t status_seen;
    int step;
    void *in1, *in2;
};

static void *
life_fn(void *arg)
{
    struct life *l = arg;

    l->arg_seen = arg;
    l->self_seen = coro_self();
    l->status_seen = coro_status(coro_self());
    l->step = 1;
    l->in1 = coro_yield(IV(10));
    l->step = 2;
    l->in2 = coro_yield(IV(20));
    l->step = 3;
    return IV(30);
}

START_TEST(test_lifecycle)
{
    struct life l = { 0 };
    coro_t *co = coro_create(life_fn, &l, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
    ck_assert_int_eq(l.step, 0);

    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(10));
    ck_assert_int_eq(l.step, 1);
    ck_assert_ptr_eq(l.arg_seen, &l);
    ck_assert_ptr_eq(l.self_seen, co);
    ck_assert_int_eq(l.status_seen, CORO_RUNNING);
    ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);
    ck_assert_ptr_null(coro_self());

    ck_assert_int_eq(coro_resume(co, IV(5), &out), 0);
    ck_assert_ptr_eq(out, IV(20));
    ck_assert_ptr_eq(l.in1, IV(5));
    ck_assert_int_eq(l.step, 2);
    ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);

    ck_assert_int_eq(coro_resume(co, IV(6), &out), 1);
    ck_assert_ptr_eq(out, IV(30));
    ck_assert_ptr_eq(l.in2, IV(6));
    ck_assert_int_eq(l.step, 3);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_ptr_null(coro_self());

    ASSERT_FAILS(coro_resume(co, NULL, &out), ESRCH);
    ck_assert_int_eq(l.step, 3);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static void *
yield_null_then_return_null(void *arg)
{
    (void)arg;
    ck_assert_ptr_null(coro_yield(NULL));
    return NULL;
}

/* A NULL yield (0) and a NULL return (1) are told apart by the result. */
START_TEST(test_null_values_yield_vs_return)
{
    coro_t *co = coro_create(yield_null_then_return_null, NULL, 0);
    void *out = IV(1);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_null(out);
    out = IV(1);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

static void *
yield_three(void *arg)
{
    int *step = arg;

    *step = 1;
    coro_yield(IV(1));
    *step = 2;
    coro_yield(IV(2));
    *step = 3;
    return IV(3);
}

/* out may be NULL: the value is dropped, the coroutine still advances. */
START_TEST(test_resume_out_null)
{
    int step = 0;
    coro_t *co = coro_create(yield_three, &step, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(step, 1);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_int_eq(step, 2);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_int_eq(step, 3);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_return_without_yield)
{
    int runs = 0;
    coro_t *co = coro_create(count_runs, &runs, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(42));
    ck_assert_int_eq(runs, 1);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ASSERT_FAILS(coro_resume(co, NULL, &out), ESRCH);
    ck_assert_int_eq(runs, 1);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Values                                                                 */

static void *
echo(void *arg)
{
    void *v = arg;

    for (;;)
        v = coro_yield(v);
    return NULL;
}

START_TEST(test_extreme_integers)
{
    static const intptr_t vals[] = { 0, 1, -1, 2, INTPTR_MAX, INTPTR_MIN, INTPTR_MIN + 1, 12345 };
    coro_t *co = coro_create(echo, IV(-7), 0);
    void *out = NULL;
    size_t i;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(VI(out), -7);
    for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ck_assert_int_eq(coro_resume(co, IV(vals[i]), &out), 0);
        ck_assert_int_eq(VI(out), vals[i]);
    }
    ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

struct point {
    int x, y;
};

/* Receives pointers to the caller's structs and hands out a pointer to a
 * struct on its own stack, which stays valid while it is suspended. */
static void *
struct_worker(void *arg)
{
    struct point mine = { 100, 200 };
    struct point *in = arg;

    while (in != NULL) {
        mine.x += in->x;
        mine.y += in->y;
        in->x = -in->x;
        in = coro_yield(&mine);
    }
    return IV(mine.x + mine.y);
}

START_TEST(test_struct_pointers)
{
    struct point a = { 1, 2 }, b = { 10, 20 };
    struct point *p;
    void *out = NULL;
    coro_t *co = coro_create(struct_worker, &a, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    p = out;
    ck_assert_int_eq(p->x, 101);
    ck_assert_int_eq(p->y, 202);
    ck_assert_int_eq(a.x, -1);

    p->x = 0; /* the resumer may write into the suspended coroutine's frame */
    ck_assert_int_eq(coro_resume(co, &b, &out), 0);
    ck_assert_ptr_eq(out, p);
    ck_assert_int_eq(p->x, 10);
    ck_assert_int_eq(p->y, 222);
    ck_assert_int_eq(b.x, -10);

    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_int_eq(VI(out), 232);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

#define SEQ_N 10000

static void *
count_to(void *arg)
{
    intptr_t n = VI(arg), i;

    for (i = 1; i <= n; i++)
        coro_yield(IV(i));
    return IV(-n);
}

START_TEST(test_generator_long)
{
    coro_t *co = coro_create(count_to, IV(SEQ_N), 0);
    intptr_t expect = 1, sum = 0;
    void *out = NULL;
    int rc;

    ck_assert_ptr_nonnull(co);
    while ((rc = coro_resume(co, NULL, &out)) == 0) {
        if (VI(out) != expect)
            ck_abort_msg("value %" PRIdPTR " where %" PRIdPTR " was due", VI(out), expect);
        sum += VI(out);
        expect++;
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(VI(out), -SEQ_N);
    ck_assert_int_eq(expect, SEQ_N + 1);
    ck_assert_int_eq(sum, (intptr_t)SEQ_N * (SEQ_N + 1) / 2);
    ck_assert_int_eq(coro_status(co), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* total = 0; while True: n = yield total; if n is None: return total; total += n */
static void *
accumulator(void *arg)
{
    intptr_t total = 0;

    (void)arg;
    for (;;) {
        void *n = coro_yield(IV(total));
        if (n == NULL)
            return IV(total);
        total += VI(n);
    }
}

START_TEST(test_accumulator_long)
{
    coro_t *co = coro_create(accumulator, NULL, 0);
    intptr_t i, expect = 0;
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(VI(out), 0);
    for (i = 1; i <= SEQ_N; i++) {
        int rc = coro_resume(co, IV(i), &out);

        expect += i;
        if (rc != 0 || VI(out) != expect)
            ck_abort_msg("send %" PRIdPTR ": rc %d, total %" PRIdPTR ", expected %" PRIdPTR,
                         i, rc, VI(out), expect);
    }
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_int_eq(VI(out), (intptr_t)SEQ_N * (SEQ_N + 1) / 2);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* Two coroutines driven alternately keep their own state. */
START_TEST(test_interleaved_generators)
{
    coro_t *a = coro_create(count_to, IV(1000), 0);
    coro_t *b = coro_create(accumulator, NULL, 0);
    void *oa = NULL, *ob = NULL;
    intptr_t i, total = 0;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(coro_resume(b, NULL, &ob), 0);
    for (i = 1; i <= 1000; i++) {
        ck_assert_int_eq(coro_resume(a, NULL, &oa), 0);
        ck_assert_int_eq(VI(oa), i);
        ck_assert_int_eq(coro_resume(b, oa, &ob), 0);
        total += i;
        ck_assert_int_eq(VI(ob), total);
        ck_assert_int_eq(coro_status(a), CORO_SUSPENDED);
        ck_assert_int_eq(coro_status(b), CORO_SUSPENDED);
    }
    ck_assert_int_eq(coro_resume(a, NULL, &oa), 1);
    ck_assert_int_eq(VI(oa), -1000);
    ck_assert_int_eq(coro_resume(b, NULL, &ob), 1);
    ck_assert_int_eq(VI(ob), 500500);
    ck_assert_int_eq(coro_destroy(a), 0);
    ck_assert_int_eq(coro_destroy(b), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Errors                                                                 */

START_TEST(test_create_errors)
{
    int runs = 0;

    ASSERT_NULL_ERRNO(coro_create(NULL, NULL, 0), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(NULL, &runs, CORO_STACK_MIN), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(count_runs, &runs, CORO_STACK_MAX + 1), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(count_runs, &runs, SIZE_MAX), EINVAL);
    ASSERT_NULL_ERRNO(coro_create(NULL, NULL, SIZE_MAX), EINVAL);
    ck_assert_int_eq(runs, 0);
}
END_TEST

START_TEST(test_resume_null)
{
    void *out = IV(3);

    ASSERT_FAILS(coro_resume(NULL, NULL, NULL), EINVAL);
    ASSERT_FAILS(coro_resume(NULL, IV(1), &out), EINVAL);
    ck_assert_ptr_eq(out, IV(3));
}
END_TEST

/* Python: "can't send non-None value to a just-started generator". */
START_TEST(test_first_resume_must_send_null)
{
    struct life l = { 0 };
    coro_t *co = coro_create(life_fn, &l, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ASSERT_FAILS(coro_resume(co, IV(1), &out), EINVAL);
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
    ck_assert_int_eq(l.step, 0);
    ck_assert_ptr_null(l.self_seen);
    ASSERT_FAILS(coro_resume(co, &l, NULL), EINVAL);
    ck_assert_int_eq(coro_status(co), CORO_CREATED);
    ck_assert_int_eq(l.step, 0);

    /* Nothing changed: it starts normally afterwards. */
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(10));
    ck_assert_int_eq(l.step, 1);
    ck_assert_ptr_eq(l.self_seen, co);
    ck_assert_int_eq(coro_resume(co, IV(1), &out), 0);
    ck_assert_ptr_eq(l.in1, IV(1));
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_resume_dead)
{
    int runs = 0;
    coro_t *co = coro_create(count_runs, &runs, 0);

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ASSERT_FAILS(coro_resume(co, NULL, NULL), ESRCH);
    ASSERT_FAILS(coro_resume(co, IV(1), NULL), ESRCH);
    ck_assert_int_eq(runs, 1);

    /* Closed before it ever ran: dead as well. */
    {
        coro_t *c2 = coro_create(count_runs, &runs, 0);

        ck_assert_ptr_nonnull(c2);
        ck_assert_int_eq(coro_close(c2), 0);
        ASSERT_FAILS(coro_resume(c2, NULL, NULL), ESRCH);
        ck_assert_int_eq(runs, 1);
        ck_assert_int_eq(coro_destroy(c2), 0);
    }
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

struct selfres {
    int rc, err;
    coro_status_t status_after;
};

static void *
resume_self(void *arg)
{
    struct selfres *r = arg;

    errno = 0;
    r->rc = coro_resume(coro_self(), NULL, NULL);
    r->err = errno;
    r->status_after = coro_status(coro_self());
    coro_yield(IV(1));
    return IV(2);
}

START_TEST(test_resume_self_busy)
{
    struct selfres r = { 0, 0, CORO_DEAD };
    coro_t *co = coro_create(resume_self, &r, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_int_eq(r.rc, -1);
    ck_assert_int_eq(r.err, EBUSY);
    ck_assert_int_eq(r.status_after, CORO_RUNNING);
    ck_assert_ptr_eq(out, IV(1));
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_yield_outside)
{
    ck_assert_ptr_null(coro_self());
    ASSERT_NULL_ERRNO(coro_yield(NULL), EPERM);
    ASSERT_NULL_ERRNO(coro_yield(IV(5)), EPERM);
    ck_assert_ptr_null(coro_self());

    /* The failed calls left nothing behind. */
    {
        int step = 0;
        coro_t *co = coro_create(yield_three, &step, 0);
        void *out = NULL;

        ck_assert_ptr_nonnull(co);
        ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
        ck_assert_ptr_eq(out, IV(1));
        ck_assert_ptr_null(coro_self());
        ASSERT_NULL_ERRNO(coro_yield(IV(9)), EPERM);
        ck_assert_int_eq(coro_status(co), CORO_SUSPENDED);
        ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
        ck_assert_ptr_eq(out, IV(2));
        ck_assert_int_eq(coro_destroy(co), 0);
    }
}
END_TEST

START_TEST(test_status_null)
{
    errno = 0;
    ck_assert_int_eq(coro_status(NULL), CORO_DEAD);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void *
report_self(void *arg)
{
    coro_t **seen = arg;

    seen[0] = coro_self();
    coro_yield(NULL);
    seen[1] = coro_self();
    return NULL;
}

START_TEST(test_self)
{
    coro_t *seen[2] = { NULL, NULL };
    coro_t *co;

    ck_assert_ptr_null(coro_self());
    co = coro_create(report_self, seen, 0);
    ck_assert_ptr_nonnull(co);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 0);
    ck_assert_ptr_eq(seen[0], co);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_resume(co, NULL, NULL), 1);
    ck_assert_ptr_eq(seen[1], co);
    ck_assert_ptr_null(coro_self());
    ck_assert_int_eq(coro_destroy(co), 0);
    ck_assert_ptr_null(coro_self());
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Nesting and delegation                                                 */

/* Python's "r = yield from sub": pass sub's values out and what we are sent
 * in, until sub returns; its return value is the result. */
static void *
yield_from(coro_t *sub)
{
    void *in = NULL, *v = NULL;

    for (;;) {
        int rc = coro_resume(sub, in, &v);

        ck_assert_int_ne(rc, -1);
        if (rc == 1)
            return v;
        in = coro_yield(v);
    }
}

struct family {
    coro_t *outer, *inner;
    /* seen from inside inner, at its first and second yield */
    coro_t *inner_self;
    coro_status_t outer_st, inner_st;
    int resume_outer_rc, resume_outer_err;
    int resume_inner_rc, resume_inner_err;
    int close_outer_rc, close_outer_err;
    int destroy_outer_rc, destroy_outer_err;
    void *x, *y;
    void *outer_got;
};

static void
probe_family(struct family *f)
{
    f->inner_self = coro_self();
    f->outer_st = coro_status(f->outer);
    f->inner_st = coro_status(f->inner);
    errno = 0;
    f->resume_outer_rc = coro_resume(f->outer, NULL, NULL);
    f->resume_outer_err = errno;
    errno = 0;
    f->resume_inner_rc = coro_resume(f->inner, NULL, NULL);
    f->resume_inner_err = errno;
    errno = 0;
    f->close_outer_rc = coro_close(f->outer);
    f->close_outer_err = errno;
    errno = 0;
    f->destroy_outer_rc = coro_destroy(f->outer);
    f->destroy_outer_err = errno;
}

/* def inner(): x = yield 1; y = yield x + 1; return y * 10 */
static void *
inner_gen(void *arg)
{
    struct family *f = arg;

    probe_family(f);
    f->x = coro_yield(IV(1));
    f->y = coro_yield(IV(VI(f->x) + 1));
    return IV(VI(f->y) * 10);
}

/* def outer(): r = yield from inner(); s = yield r; return "done" */
static void *
outer_gen(void *arg)
{
    struct family *f = arg;
    void *r;

    f->inner = coro_create(inner_gen, f, 0);
    ck_assert_ptr_nonnull(f->inner);
    r = yield_from(f->inner);
    ck_assert_int_eq(coro_status(f->inner), CORO_DEAD);
    ck_assert_int_eq(coro_status(coro_self()), CORO_RUNNING);
    ck_assert_int_eq(coro_destroy(f->inner), 0);
    f->inner = NULL;
    f->outer_got = coro_yield(r);
    return (void *)"done";
}

START_TEST(test_yield_from)
{
    struct family f;
    void *out = NULL;

    memset(&f, 0, sizeof f);
    f.outer = coro_create(outer_gen, &f, 0);
    ck_assert_ptr_nonnull(f.outer);

    ck_assert_int_eq(coro_resume(f.outer, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(1));
    /* inner yielded to outer, which passed the value on to us: both are
     * suspended, and inner's view from inside was recorded. */
    ck_assert_int_eq(coro_status(f.outer), CORO_SUSPENDED);
    ck_assert_int_eq(coro_status(f.inner), CORO_SUSPENDED);
    ck_assert_ptr_eq(f.inner_self, f.inner);
    ck_assert_int_eq(f.outer_st, CORO_NORMAL);
    ck_assert_int_eq(f.inner_st, CORO_RUNNING);
    ck_assert_int_eq(f.resume_outer_rc, -1);
    ck_assert_int_eq(f.resume_outer_err, EBUSY);
    ck_assert_int_eq(f.resume_inner_rc, -1);
    ck_assert_int_eq(f.resume_inner_err, EBUSY);
    ck_assert_int_eq(f.close_outer_rc, -1);
    ck_assert_int_eq(f.close_outer_err, EBUSY);
    ck_assert_int_eq(f.destroy_outer_rc, -1);
    ck_assert_int_eq(f.destroy_outer_err, EBUSY);

    /* Values sent to outer reach inner. */
    ck_assert_int_eq(coro_resume(f.outer, IV(5), &out), 0);
    ck_assert_ptr_eq(f.x, IV(5));
    ck_assert_ptr_eq(out, IV(6));
    ck_assert_int_eq(coro_resume(f.outer, IV(7), &out), 0);
    ck_assert_ptr_eq(f.y, IV(7));
    ck_assert_ptr_eq(out, IV(70)); /* inner's return value, yielded by outer */
    ck_assert_ptr_null(f.inner);   /* outer destroyed it */
    ck_assert_int_eq(coro_resume(f.outer, IV(8), &out), 1);
    ck_assert_ptr_eq(f.outer_got, IV(8));
    ck_assert_str_eq((const char *)out, "done");
    ck_assert_int_eq(coro_destroy(f.outer), 0);
}
END_TEST

/* The outer coroutine survives its child's failed attempts on it and can be
 * resumed once the child is out of the way. */
START_TEST(test_busy_parent_still_usable)
{
    struct family f;
    void *out = NULL;

    memset(&f, 0, sizeof f);
    f.outer = coro_create(outer_gen, &f, 0);
    ck_assert_ptr_nonnull(f.outer);
    ck_assert_int_eq(coro_resume(f.outer, NULL, &out), 0);
    ck_assert_int_eq(f.destroy_outer_rc, -1);
    ck_assert_int_eq(coro_status(f.outer), CORO_SUSPENDED);
    /* Closing outer now does not touch inner, which stays suspended. */
    ck_assert_int_eq(coro_close(f.outer), 0);
    ck_assert_int_eq(coro_status(f.outer), CORO_DEAD);
    ck_assert_int_eq(coro_status(f.inner), CORO_SUSPENDED);
    ck_assert_int_eq(coro_destroy(f.inner), 0);
    ck_assert_int_eq(coro_destroy(f.outer), 0);
}
END_TEST

/* A coroutine yields to whoever resumed it last, not to its creator. */
static void *
creator_gen(void *arg)
{
    coro_t **child = arg;
    void *v = NULL;

    *child = coro_create(count_to, IV(3), 0);
    ck_assert_ptr_nonnull(*child);
    ck_assert_int_eq(coro_resume(*child, NULL, &v), 0);
    ck_assert_ptr_eq(v, IV(1));
    coro_yield(IV(100));
    /* Our caller advanced the child meanwhile. */
    ck_assert_int_eq(coro_resume(*child, NULL, &v), 0);
    ck_assert_ptr_eq(v, IV(3));
    coro_yield(IV(200));
    return IV(300);
}

START_TEST(test_yield_goes_to_last_resumer)
{
    coro_t *child = NULL;
    coro_t *parent = coro_create(creator_gen, &child, 0);
    void *out = NULL;

    ck_assert_ptr_nonnull(parent);
    ck_assert_int_eq(coro_resume(parent, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(100));
    ck_assert_int_eq(coro_status(child), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(child, NULL, &out), 0); /* comes back to us */
    ck_assert_ptr_eq(out, IV(2));
    ck_assert_int_eq(coro_status(parent), CORO_SUSPENDED);
    ck_assert_int_eq(coro_resume(parent, NULL, &out), 0);
    ck_assert_ptr_eq(out, IV(200));
    ck_assert_int_eq(coro_resume(child, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(-3));
    ck_assert_int_eq(coro_resume(parent, NULL, &out), 1);
    ck_assert_ptr_eq(out, IV(300));
    ck_assert_int_eq(coro_destroy(child), 0);
    ck_assert_int_eq(coro_destroy(parent), 0);
}
END_TEST

/* A chain of DEPTH coroutines, each resuming the next. The deepest sees
 * every ancestor NORMAL and cannot resume any of them. */
#define DEPTH 64

struct chain {
    coro_t *co[DEPTH];
    int busy_ok;              /* ancestors refusing with EBUSY */
    int normal_ok;            /* ancestors seen NORMAL */
    int deepest_running;
};

struct link {
    struct chain *c;
    int level;
};

static void *
chain_fn(void *arg)
{
    struct link *me = arg;
    struct chain *c = me->c;
    void *v = NULL;

    ck_assert_ptr_eq(coro_self(), c->co[me->level]);
    if (me->level + 1 < DEPTH) {
        struct link next = { c, me->level + 1 };

        c->co[next.level] = coro_create(chain_fn, &next, 0);
        ck_assert_ptr_nonnull(c->co[next.level]);
        ck_assert_int_eq(coro_resume(c->co[next.level], NULL, &v), 0);
        ck_assert_int_eq(coro_status(coro_self()), CORO_RUNNING);
        v = coro_yield(IV(VI(v) + 1));
        /* Finish the child, then ourselves. */
        ck_assert_int_eq(coro_resume(c->co[next.level], v, &v), 1);
        ck_assert_int_eq(coro_destroy(c->co[next.level]), 0);
        return IV(VI(v) + 1);
    }
    {
        int i;

        for (i = 0; i < DEPTH - 1; i++) {
            if (coro_status(c->co[i]) == CORO_NORMAL)
                c->normal_ok++;
            errno = 0;
            if (coro_resume(c->co[i], NULL, NULL) == -1 && errno == EBUSY)
                c->busy_ok++;
        }
        c->deepest_running = coro_status(coro_self()) == CORO_RUNNING;
    }
    v = coro_yield(IV(1));
    return IV(VI(v) + 1);
}

START_TEST(test_deep_chain)
{
    struct chain c;
    struct link first = { &c, 0 };
    void *out = NULL;
    int i;

    memset(&c, 0, sizeof c);
    c.co[0] = coro_create(chain_fn, &first, 0);
    ck_assert_ptr_nonnull(c.co[0]);
    ck_assert_int_eq(coro_resume(c.co[0], NULL, &out), 0);
    ck_assert_int_eq(VI(out), DEPTH);
    ck_assert_int_eq(c.normal_ok, DEPTH - 1);
    ck_assert_int_eq(c.busy_ok, DEPTH - 1);
    ck_assert_int_eq(c.deepest_running, 1);
    for (i = 0; i < DEPTH; i++)
        ck_assert_int_eq(coro_status(c.co[i]), CORO_SUSPENDED);
    ck_assert_ptr_null(coro_self());

    ck_assert_int_eq(coro_resume(c.co[0], IV(1000), &out), 1);
    ck_assert_int_eq(VI(out), 1000 + DEPTH);
    ck_assert_int_eq(coro_destroy(c.co[0]), 0);
}
END_TEST

/* Recursive generators: an in-order walk of a binary tree, one coroutine
 * per subtree, each delegating to its children with yield_from. */
struct node {
    int value;
    struct node *left, *right;
};

static void *
walk_tree(void *arg)
{
    struct node *n = arg;
    coro_t *sub;

    if (n->left) {
        sub = coro_create(walk_tree, n->left, 0);
        ck_assert_ptr_nonnull(sub);
        yield_from(sub);
        ck_assert_int_eq(coro_destroy(sub), 0);
    }
    coro_yield(IV(n->value));
    if (n->right) {
        sub = coro_create(walk_tree, n->right, 0);
        ck_assert_ptr_nonnull(sub);
        yield_from(sub);
        ck_assert_int_eq(coro_destroy(sub), 0);
    }
    return NULL;
}

static struct node *
build_tree(struct node *pool, int lo, int hi, int *used)
{
    struct node *n;
    int mid;

    if (lo > hi)
        return NULL;
    mid = lo + (hi - lo) / 2;
    n = &pool[(*used)++];
    n->value = mid;
    n->left = build_tree(pool, lo, mid - 1, used);
    n->right = build_tree(pool, mid + 1, hi, used);
    return n;
}

START_TEST(test_recursive_generators)
{
    struct node pool[63];
    int used = 0, expect = 1, rc;
    struct node *root = build_tree(pool, 1, 63, &used);
    coro_t *co = coro_create(walk_tree, root, 0);
    void *out = NULL;

    ck_assert_int_eq(used, 63);
    ck_assert_ptr_nonnull(co);
    while ((rc = coro_resume(co, NULL, &out)) == 0) {
        ck_assert_int_eq(VI(out), expect);
        expect++;
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(expect, 64);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Python generator patterns                                              */

/* The tutorial's consumer and producer, printing into a buffer. */
struct log {
    char buf[1024];
    size_t len;
};

/* Append text, then n unless it is negative. */
static void
log_add(struct log *l, const char *text, long n)
{
    int k = n < 0 ? snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s", text)
                  : snprintf(l->buf + l->len, sizeof l->buf - l->len, "%s%ld", text, n);

    ck_assert_int_ge(k, 0);
    ck_assert_uint_lt(l->len + (size_t)k, sizeof l->buf);
    l->len += (size_t)k;
}

static void *
consumer(void *arg)
{
    struct log *l = arg;
    const char *r = "";

    for (;;) {
        intptr_t n = VI(coro_yield((void *)r));
        if (!n)
            return NULL;
        log_add(l, "[CONSUMER] Consuming ", (long)n);
        log_add(l, "...\n", -1);
        r = "200 OK";
    }
}

START_TEST(test_producer_consumer)
{
    struct log l;
    coro_t *c;
    void *r = NULL;
    intptr_t n = 0;

    memset(&l, 0, sizeof l);
    c = coro_create(consumer, &l, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(coro_resume(c, NULL, &r), 0);
    ck_assert_str_eq((const char *)r, "");
    while (n < 3) {
        n = n + 1;
        log_add(&l, "[PRODUCER] Producing ", (long)n);
        log_add(&l, "...\n", -1);
        ck_assert_int_eq(coro_resume(c, IV(n), &r), 0);
        log_add(&l, "[PRODUCER] Consumer return: ", -1);
        log_add(&l, (const char *)r, -1);
        log_add(&l, "\n", -1);
    }
    ck_assert_int_eq(coro_close(c), 0);
    ck_assert_int_eq(coro_status(c), CORO_DEAD);
    ck_assert_str_eq(l.buf,
                     "[PRODUCER] Producing 1...\n"
                     "[CONSUMER] Consuming 1...\n"
                     "[PRODUCER] Consumer return: 200 OK\n"
                     "[PRODUCER] Producing 2...\n"
                     "[CONSUMER] Consuming 2...\n"
                     "[PRODUCER] Consumer return: 200 OK\n"
                     "[PRODUCER] Producing 3...\n"
                     "[CONSUMER] Consuming 3...\n"
                     "[PRODUCER] Consumer return: 200 OK\n");
    ck_assert_int_eq(coro_destroy(c), 0);
}
END_TEST

/* Sending None ends the consumer the normal way (it returns). */
START_TEST(test_consumer_ends_on_null)
{
    struct log l;
    coro_t *c;
    void *r = IV(1);

    memset(&l, 0, sizeof l);
    c = coro_create(consumer, &l, 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(coro_resume(c, NULL, &r), 0);
    ck_assert_int_eq(coro_resume(c, IV(9), &r), 0);
    ck_assert_str_eq((const char *)r, "200 OK");
    ck_assert_int_eq(coro_resume(c, NULL, &r), 1);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(l.buf, "[CONSUMER] Consuming 9...\n");
    ck_assert_int_eq(coro_destroy(c), 0);
}
END_TEST

/* Fibonacci numbers, handed out as pointers into the generator's frame. */
static void *
fib_gen(void *arg)
{
    uint64_t a = 0, b = 1;

    (void)arg;
    for (;;) {
        uint64_t t = a + b;

        coro_yield(&a);
        a = b;
        b = t;
    }
    return NULL;
}

START_TEST(test_fibonacci)
{
    coro_t *co = coro_create(fib_gen, NULL, 0);
    uint64_t a = 0, b = 1;
    int i;

    ck_assert_ptr_nonnull(co);
    for (i = 0; i < 90; i++) {
        void *out = NULL;
        uint64_t t = a + b;

        ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
        ck_assert_uint_eq(*(uint64_t *)out, a);
        a = b;
        b = t;
    }
    ck_assert_uint_eq(a, UINT64_C(2880067194370816120)); /* F(90) */
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* A pipeline of generators: range(1, 101) | evens | squares, each stage
 * pulling from the one before it. */
static void *
stage_range(void *arg)
{
    intptr_t i;

    for (i = 1; i <= VI(arg); i++)
        coro_yield(IV(i));
    return NULL;
}

static void *
stage_evens(void *arg)
{
    coro_t *src = arg;
    void *v = NULL;

    while (coro_resume(src, NULL, &v) == 0)
        if (VI(v) % 2 == 0)
            coro_yield(v);
    return NULL;
}

static void *
stage_squares(void *arg)
{
    coro_t *src = arg;
    void *v = NULL;

    while (coro_resume(src, NULL, &v) == 0)
        coro_yield(IV(VI(v) * VI(v)));
    return NULL;
}

START_TEST(test_pipeline)
{
    coro_t *range = coro_create(stage_range, IV(100), 0);
    coro_t *evens = coro_create(stage_evens, range, 0);
    coro_t *squares = coro_create(stage_squares, evens, 0);
    void *v = NULL;
    intptr_t sum = 0, count = 0, last = 0;

    ck_assert_ptr_nonnull(range);
    ck_assert_ptr_nonnull(evens);
    ck_assert_ptr_nonnull(squares);
    while (coro_resume(squares, NULL, &v) == 0) {
        ck_assert_int_gt(VI(v), last);
        last = VI(v);
        sum += VI(v);
        count++;
    }
    ck_assert_int_eq(count, 50);
    ck_assert_int_eq(last, 10000);
    ck_assert_int_eq(sum, 171700); /* 4 * (1^2 + ... + 50^2) */
    ck_assert_int_eq(coro_status(range), CORO_DEAD);
    ck_assert_int_eq(coro_status(evens), CORO_DEAD);
    ck_assert_int_eq(coro_status(squares), CORO_DEAD);
    ck_assert_int_eq(coro_destroy(squares), 0);
    ck_assert_int_eq(coro_destroy(evens), 0);
    ck_assert_int_eq(coro_destroy(range), 0);
}
END_TEST

/* Python's running averager: average = yield average, with doubles sent and
 * received by pointer. */
static void *
averager(void *arg)
{
    double total = 0, average = 0;
    long count = 0;

    (void)arg;
    for (;;) {
        double *term = coro_yield(&average);

        if (term == NULL)
            break;
        total += *term;
        count++;
        average = total / (double)count;
    }
    return IV(count);
}

START_TEST(test_averager)
{
    static double terms[] = { 10, 30, 5, 15 };
    static const double expect[] = { 10, 20, 15, 15 };
    coro_t *co = coro_create(averager, NULL, 0);
    void *out = NULL;
    size_t i;

    ck_assert_ptr_nonnull(co);
    ck_assert_int_eq(coro_resume(co, NULL, &out), 0);
    ck_assert_double_eq(*(double *)out, 0);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(coro_resume(co, &terms[i], &out), 0);
        ck_assert_double_eq(*(double *)out, expect[i]);
    }
    ck_assert_int_eq(coro_resume(co, NULL, &out), 1);
    ck_assert_int_eq(VI(out), 4);
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

/* A round-robin scheduler over three tasks that yield different numbers of
 * times: the trace shows strict alternation until each task ends. */
static void *
task_fn(void *arg)
{
    intptr_t id = VI(arg) & 0xff, times = VI(arg) >> 8, i;

    for (i = 0; i < times; i++)
        coro_yield(IV(id));
    return IV(id + 'a' - 'A');
}

START_TEST(test_round_robin)
{
    coro_t *task[3];
    char trace[32];
    size_t n = 0;
    int alive = 3, i;

    task[0] = coro_create(task_fn, IV('A' | (3 << 8)), 0);
    task[1] = coro_create(task_fn, IV('B' | (1 << 8)), 0);
    task[2] = coro_create(task_fn, IV('C' | (2 << 8)), 0);
    for (i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(task[i]);
    while (alive > 0) {
        for (i = 0; i < 3; i++) {
            void *out = NULL;
            int rc;

            if (coro_status(task[i]) == CORO_DEAD)
                continue;
            rc = coro_resume(task[i], NULL, &out);
            ck_assert_int_ne(rc, -1);
            ck_assert_uint_lt(n, sizeof trace - 1);
            trace[n++] = (char)VI(out);
            if (rc == 1)
                alive--;
        }
    }
    trace[n] = '\0';
    ck_assert_str_eq(trace, "ABCAbCAca");
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(coro_destroy(task[i]), 0);
}
END_TEST

static Suite *
coro_suite(void)
{
    Suite *s = suite_create("coro");
    TCase *tc;

    tc = test_case("lifecycle");
    tcase_add_test(tc, test_create_runs_nothing);
    tcase_add_test(tc, test_create_distinct_objects);
    tcase_add_test(tc, test_lifecycle);
    tcase_add_test(tc, test_null_values_yield_vs_return);
    tcase_add_test(tc, test_resume_out_null);
    tcase_add_test(tc, test_return_without_yield);
    tcase_add_test(tc, test_self);
    suite_add_tcase(s, tc);

    tc = test_case("values");
    tcase_add_test(tc, test_extreme_integers);
    tcase_add_test(tc, test_struct_pointers);
    tcase_add_test(tc, test_generator_long);
    tcase_add_test(tc, test_accumulator_long);
    tcase_add_test(tc, test_interleaved_generators);
    suite_add_tcase(s, tc);

    tc = test_case("errors");
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_resume_null);
    tcase_add_test(tc, test_first_resume_must_send_null);
    tcase_add_test(tc, test_resume_dead);
    tcase_add_test(tc, test_resume_self_busy);
    tcase_add_test(tc, test_yield_outside);
    tcase_add_test(tc, test_status_null);
    suite_add_tcase(s, tc);

    tc = test_case("nesting");
    tcase_add_test(tc, test_yield_from);
    tcase_add_test(tc, test_busy_parent_still_usable);
    tcase_add_test(tc, test_yield_goes_to_last_resumer);
    tcase_add_test(tc, test_deep_chain);
    tcase_add_test(tc, test_recursive_generators);
    suite_add_tcase(s, tc);

    tc = test_case("patterns");
    tcase_add_test(tc, test_producer_consumer);
    tcase_add_test(tc, test_consumer_ends_on_null);
    tcase_add_test(tc, test_fibonacci);
    tcase_add_test(tc, test_pipeline);
    tcase_add_test(tc, test_averager);
    tcase_add_test(tc, test_round_robin);
    suite_add_tcase(s, tc);

    return s;
}

TEST_MAIN(coro_suite)
