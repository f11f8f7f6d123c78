/*
 * coro_set_name() and coro_name(): the default ("coro-N", "task-N", from a
 * number per thread), a name given and given back, names cut at
 * CORO_NAME_MAX - 1 bytes, and the errors.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>

static void *
nothing(void *arg)
{
    return arg;
}

/* The number in a default name such as "coro-17", or -1. */
static long
number_of(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    char *end;
    long v;

    if (strncmp(name, prefix, n) != 0 || name[n] != '-')
        return -1;
    v = strtol(name + n + 1, &end, 10);
    return *end == '\0' && v > 0 ? v : -1;
}

START_TEST(test_default_name)
{
    coro_t *a = coro_create(nothing, NULL, 0), *b = coro_create(nothing, NULL, 0);
    const char *na, *nb;
    long ia, ib;

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    na = coro_name(a);
    nb = coro_name(b);
    ck_assert_ptr_nonnull(na);
    ck_assert_ptr_nonnull(nb);
    ia = number_of(na, "coro");
    ib = number_of(nb, "coro");
    ck_assert_msg(ia > 0, "default name \"%s\" is not coro-N", na);
    ck_assert_msg(ib == ia + 1, "\"%s\" after \"%s\": not the next number", nb, na);
    /* Made once: the same string each time, as long as co lives. */
    ck_assert_ptr_eq(coro_name(a), na);
    ck_assert_str_eq(coro_name(a), na);
    /* Running, then dead: still the same name. */
    ck_assert_int_eq(coro_resume(a, NULL, NULL), 1);
    ck_assert_int_eq(coro_status(a), CORO_DEAD);
    ck_assert_int_eq(number_of(coro_name(a), "coro"), ia);
    ck_assert_int_eq(coro_destroy(a), 0);
    ck_assert_int_eq(coro_destroy(b), 0);
}
END_TEST

/* A coroutine made on a pooled stack gets a new number and no old name. */
START_TEST(test_name_not_inherited)
{
    coro_t *a = coro_create(nothing, NULL, 0), *b;
    long ia;

    ck_assert_ptr_nonnull(a);
    ia = number_of(coro_name(a), "coro");
    ck_assert_int_gt(ia, 0);
    ck_assert_int_eq(coro_set_name(a, "first"), 0);
    ck_assert_int_eq(coro_destroy(a), 0);
    b = coro_create(nothing, NULL, 0); /* on a's stack, from the pool */
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(number_of(coro_name(b), "coro"), ia + 1);
    ck_assert_int_eq(coro_destroy(b), 0);
}
END_TEST

START_TEST(test_set_name)
{
    coro_t *co = coro_create(nothing, NULL, 0);
    char def[CORO_NAME_MAX];

    ck_assert_ptr_nonnull(co);
    snprintf(def, sizeof def, "%s", coro_name(co));
    ck_assert_int_eq(coro_set_name(co, "worker"), 0);
    ck_assert_str_eq(coro_name(co), "worker");
    ck_assert_int_eq(coro_set_name(co, "reader 2"), 0);
    ck_assert_str_eq(coro_name(co), "reader 2");
    /* NULL gives the default back, with the same number. */
    ck_assert_int_eq(coro_set_name(co, NULL), 0);
    ck_assert_str_eq(coro_name(co), def);
    /* So does the empty name. */
    ck_assert_int_eq(coro_set_name(co, "x"), 0);
    ck_assert_int_eq(coro_set_name(co, ""), 0);
    ck_assert_str_eq(coro_name(co), def);
    /* The name is a copy. */
    {
        char buf[] = "mutable";

        ck_assert_int_eq(coro_set_name(co, buf), 0);
        buf[0] = 'X';
        ck_assert_str_eq(coro_name(co), "mutable");
    }
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_long_name_cut)
{
    static const char long_name[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"; /* 42 bytes */
    coro_t *co = coro_create(nothing, NULL, 0);
    char want[CORO_NAME_MAX];

    ck_assert_int_eq(CORO_NAME_MAX, 32);
    ck_assert_ptr_nonnull(co);
    memcpy(want, long_name, CORO_NAME_MAX - 1);
    want[CORO_NAME_MAX - 1] = '\0';
    ck_assert_int_eq(coro_set_name(co, long_name), 0);
    ck_assert_str_eq(coro_name(co), want);
    ck_assert_uint_eq(strlen(coro_name(co)), CORO_NAME_MAX - 1);
    /* 31 bytes fit whole, 32 lose the last. */
    ck_assert_int_eq(coro_set_name(co, want), 0);
    ck_assert_str_eq(coro_name(co), want);
    {
        char name32[CORO_NAME_MAX + 1];

        memcpy(name32, long_name, CORO_NAME_MAX);
        name32[CORO_NAME_MAX] = '\0';
        ck_assert_int_eq(coro_set_name(co, name32), 0);
        ck_assert_str_eq(coro_name(co), want);
    }
    /* A shorter name after a long one leaves nothing of it behind. */
    ck_assert_int_eq(coro_set_name(co, "ab"), 0);
    ck_assert_str_eq(coro_name(co), "ab");
    ck_assert_int_eq(coro_destroy(co), 0);
}
END_TEST

START_TEST(test_errors)
{
    ASSERT_FAILS(coro_set_name(NULL, "x"), EINVAL);
    ASSERT_FAILS(coro_set_name(NULL, NULL), EINVAL);
    ASSERT_NULL_ERRNO(coro_name(NULL), EINVAL);
}
END_TEST

/* Tasks: "task-N" from the same numbers, named from inside by coro_self(). */
static char task_seen[4][CORO_NAME_MAX];
static int task_rc[2];

static void *
naming_task(void *arg)
{
    snprintf(task_seen[0], sizeof task_seen[0], "%s", coro_name(coro_self()));
    task_rc[0] = coro_set_name(coro_self(), "fetcher");
    snprintf(task_seen[1], sizeof task_seen[1], "%s", coro_name(coro_self()));
    coro_sched_yield();
    snprintf(task_seen[2], sizeof task_seen[2], "%s", coro_name(coro_self()));
    task_rc[1] = coro_set_name(coro_self(), NULL);
    snprintf(task_seen[3], sizeof task_seen[3], "%s", coro_name(coro_self()));
    return arg;
}

START_TEST(test_task_names)
{
    coro_sched_t *s = coro_sched_create();
    coro_t *before = coro_create(nothing, NULL, 0);
    long n;

    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(before);
    n = number_of(coro_name(before), "coro");
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(coro_spawn(s, naming_task, NULL, 0), 0);
    ck_assert_int_eq(coro_sched_run(s), 0);
    ck_assert_int_eq(number_of(task_seen[0], "task"), n + 1);
    ck_assert_int_eq(task_rc[0], 0);
    ck_assert_str_eq(task_seen[1], "fetcher");
    ck_assert_str_eq(task_seen[2], "fetcher");
    ck_assert_int_eq(task_rc[1], 0);
    ck_assert_str_eq(task_seen[3], task_seen[0]);
    ck_assert_int_eq(coro_destroy(before), 0);
    ck_assert_int_eq(coro_sched_destroy(s), 0);
}
END_TEST

/* Another thread: its own numbers, from 1; and it may not name ours. */
struct other {
    coro_t *ours;
    int rc, err;
    char first[CORO_NAME_MAX], second[CORO_NAME_MAX], task[CORO_NAME_MAX];
};

static void *
task_name_into(void *arg)
{
    snprintf(arg, CORO_NAME_MAX, "%s", coro_name(coro_self()));
    return NULL;
}

static void *
other_thread(void *arg)
{
    struct other *o = arg;
    coro_t *a = coro_create(nothing, NULL, 0), *b = coro_create(nothing, NULL, 0);
    coro_sched_t *s = coro_sched_create();

    errno = 0;
    o->rc = coro_set_name(o->ours, "stolen");
    o->err = errno;
    if (a && b && s) {
        snprintf(o->first, sizeof o->first, "%s", coro_name(a));
        snprintf(o->second, sizeof o->second, "%s", coro_name(b));
        if (coro_spawn(s, task_name_into, o->task, 0) == 0)
            (void)coro_sched_run(s);
    }
    coro_destroy(a);
    coro_destroy(b);
    coro_sched_destroy(s);
    return NULL;
}

START_TEST(test_other_thread)
{
    struct other o = {0};
    pthread_t th;

    o.ours = coro_create(nothing, NULL, 0);
    ck_assert_ptr_nonnull(o.ours);
    ck_assert_int_eq(coro_set_name(o.ours, "mine"), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, &o), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(o.rc, -1);
    ck_assert_int_eq(o.err, EPERM);
    ck_assert_str_eq(coro_name(o.ours), "mine");
    ck_assert_str_eq(o.first, "coro-1");
    ck_assert_str_eq(o.second, "coro-2");
    ck_assert_str_eq(o.task, "task-3");
    ck_assert_int_eq(coro_destroy(o.ours), 0);
}
END_TEST

static Suite *
name_suite(void)
{
    Suite *s = suite_create("name");
    TCase *tc;

    tc = test_case("default");
    tcase_add_test(tc, test_default_name);
    tcase_add_test(tc, test_name_not_inherited);
    suite_add_tcase(s, tc);

    tc = test_case("set");
    tcase_add_test(tc, test_set_name);
    tcase_add_test(tc, test_long_name_cut);
    suite_add_tcase(s, tc);

    tc = test_case("errors");
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);

    tc = test_case("tasks");
    tcase_add_test(tc, test_task_names);
    suite_add_tcase(s, tc);

    tc = test_case("threads");
    tcase_add_test(tc, test_other_thread);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(name_suite)
