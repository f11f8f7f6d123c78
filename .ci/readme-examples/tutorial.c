/* README.md's tutorial (the C column of "The tutorial, in Python and in C"),
 * verbatim, with the #include lines that the README leaves out. Built and
 * run by .ci/deb-check against the installed libcoro-dev; its output must be
 * tests/tutorial.expected. Keep it in step with README.md. */
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
