/* The tutorial of README.md ("The tutorial, in Python and in C"): the
 * Python producer/consumer, in C. Its output is the Python program's, line
 * for line (tests/tutorial.expected). Installed with the library's
 * documentation (examples/); 'make check' builds and runs it and checks that
 * README.md shows exactly this code (tests/examples.sh). Build it with:
 *     cc tutorial.c $(pkg-config --cflags --libs coro) -o tutorial */
#include <coro.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

static void *consumer(void *arg)
{
    const char *r = "";
    for (;;) {
        intptr_t n = (intptr_t)coro_yield((void *)r);
        if (!n)
            return NULL;
        printf("[CONSUMER] Consuming %" PRIdPTR "...\n", n);
        r = "200 OK";
    }
}

static void produce(coro_t *c)
{
    void *r;
    coro_resume(c, NULL, NULL);
    intptr_t n = 0;
    while (n < 5) {
        n = n + 1;
        printf("[PRODUCER] Producing %" PRIdPTR "...\n", n);
        coro_resume(c, (void *)n, &r);
        printf("[PRODUCER] Consumer return: %s\n", (char *)r);
    }
    coro_close(c);
}

int main(void)
{
    coro_t *c = coro_create(consumer, NULL, 0);
    produce(c);
    coro_destroy(c);
}
