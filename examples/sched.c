/* The scheduler and channels example of README.md ("Many tasks on one
 * thread"): a producer task sends 1 to 5 over a channel to a consumer task,
 * which prints "got 1" to "got 5". Installed with the library's
 * documentation (examples/); 'make check' builds and runs it and checks that
 * README.md shows exactly this code (tests/examples.sh). Build it with:
 *     cc sched.c $(pkg-config --cflags --libs coro) -o sched */
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
