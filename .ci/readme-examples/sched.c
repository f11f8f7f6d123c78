/* README.md's scheduler and channels example ("Many tasks on one thread"),
 * verbatim, with the #include lines that the README leaves out. Built and
 * run by .ci/deb-check against the installed libcoro-dev; it must print
 * "got 1" to "got 5". Keep it in step with README.md. */
#include <coro.h>
#include <stdio.h>

static void *producer(void *arg)
{
    coro_chan_t *ch = arg;
    for (long n = 1; n <= 5; n++)
        coro_chan_send(ch, &n);          /* waits until the consumer takes it */
    coro_chan_close(ch);
    return NULL;
}

static void *consumer(void *arg)
{
    long n;
    while (coro_chan_recv(arg, &n) == 0)  /* -1 with EPIPE once closed and drained */
        printf("got %ld\n", n);
    return NULL;
}

int main(void)
{
    coro_sched_t *s = coro_sched_create();
    coro_chan_t *ch = coro_chan_create(sizeof(long), 0);   /* 0: rendezvous */
    coro_spawn(s, producer, ch, 0);
    coro_spawn(s, consumer, ch, 0);
    coro_sched_run(s);                   /* returns when every task has ended */
    coro_chan_destroy(ch);
    coro_sched_destroy(s);
}
