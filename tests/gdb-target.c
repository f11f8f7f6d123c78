/*
 * The program that tests/gdb.sh debugs: named generators and tasks in each
 * state a debugger shows, with a breakpoint, stop_here(), in a running
 * task. Run without gdb it just ends, with status 0.
 *
 * The coroutines' numbers are fixed by the order they are made in:
 * 1 counter, 2 the unnamed coroutine (coro-2), then the tasks 3 producer,
 * 4 consumer, 5 sleeper, 6 joiner, 7 yielder, 8 inspector, 9 latecomer.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <coro.h>

static coro_chan_t *nobody_receives, *nobody_sends;
static coro_task_t *sleeper_task;
static volatile int done;

static void
check(int ok, const char *what)
{
    if (!ok) {
        perror(what);
        exit(1);
    }
}

/* A generator, suspended in coro_yield() while the tasks run. */
static void *
counter(void *arg)
{
    intptr_t n = (intptr_t)arg;

    for (;;)
        coro_yield((void *)n++);
    return NULL; /* not reached */
}

/* Made, never started. */
static void *
idle(void *arg)
{
    return arg;
}

/* Blocked on a send that no one receives, until the channel is closed. */
static void *
producer(void *arg)
{
    int v = 42;

    check(coro_set_name(coro_self(), "producer") == 0, "coro_set_name");
    (void)coro_chan_send(nobody_receives, &v);
    return arg;
}

static void *
consumer(void *arg)
{
    int v;

    check(coro_set_name(coro_self(), "consumer") == 0, "coro_set_name");
    (void)coro_chan_recv(nobody_sends, &v);
    return arg;
}

/* Asleep, until cancelled. */
static void *
sleeper(void *arg)
{
    check(coro_set_name(coro_self(), "sleeper") == 0, "coro_set_name");
    (void)coro_sleep(CORO_MSEC(600000));
    return arg;
}

static void *
joiner(void *arg)
{
    check(coro_set_name(coro_self(), "joiner") == 0, "coro_set_name");
    (void)coro_task_join(sleeper_task, NULL, CORO_FOREVER);
    return arg;
}

/* Ready: it yields until the inspector is done. */
static void *
yielder(void *arg)
{
    check(coro_set_name(coro_self(), "yielder") == 0, "coro_set_name");
    while (!done)
        (void)coro_sched_yield();
    return arg;
}

static void *
latecomer(void *arg)
{
    return arg;
}

/* Where gdb stops. */
__attribute__((noinline)) void stop_here(void);
__attribute__((noinline)) void
stop_here(void)
{
    __asm__ volatile("" ::: "memory");
}

static void *
inspector(void *arg)
{
    check(coro_set_name(coro_self(), "inspector") == 0, "coro_set_name");
    check(coro_spawn(coro_sched_self(), latecomer, NULL, 0) == 0, "coro_spawn");
    stop_here();
    /* Wake every one, so that the run ends. */
    done = 1;
    check(coro_chan_close(nobody_receives) == 0, "coro_chan_close");
    check(coro_chan_close(nobody_sends) == 0, "coro_chan_close");
    check(coro_task_cancel(sleeper_task) == 0, "coro_task_cancel");
    return arg;
}

int
main(void)
{
    coro_sched_t *s = coro_sched_create();
    coro_t *gen = coro_create(counter, (void *)(intptr_t)1, 0);
    coro_t *unnamed = coro_create(idle, NULL, 0);
    void *v;

    check(s && gen && unnamed, "coro_create");
    check(coro_set_name(gen, "counter") == 0, "coro_set_name");
    check(coro_resume(gen, NULL, &v) == 0 && (intptr_t)v == 1, "coro_resume");
    nobody_receives = coro_chan_create(sizeof(int), 0);
    nobody_sends = coro_chan_create(sizeof(int), 0);
    check(nobody_receives && nobody_sends, "coro_chan_create");
    check(coro_spawn(s, producer, NULL, 0) == 0, "coro_spawn");
    check(coro_spawn(s, consumer, NULL, 0) == 0, "coro_spawn");
    check((sleeper_task = coro_task_spawn(s, sleeper, NULL, 0)) != NULL, "coro_task_spawn");
    check(coro_spawn(s, joiner, NULL, 0) == 0, "coro_spawn");
    check(coro_spawn(s, yielder, NULL, 0) == 0, "coro_spawn");
    check(coro_spawn(s, inspector, NULL, 0) == 0, "coro_spawn");
    check(coro_sched_run(s) == 0, "coro_sched_run");
    /* The generator goes on where it was. */
    check(coro_resume(gen, NULL, &v) == 0 && (intptr_t)v == 2, "coro_resume");
    check(coro_destroy(gen) == 0 && coro_destroy(unnamed) == 0, "coro_destroy");
    check(coro_sched_destroy(s) == 0, "coro_sched_destroy");
    check(coro_chan_destroy(nobody_receives) == 0 && coro_chan_destroy(nobody_sends) == 0,
          "coro_chan_destroy");
    return 0;
}
