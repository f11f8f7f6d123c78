/*
 * The tutorial's producer/consumer, written the way the Python is:
 *
 *     def consumer():                    def produce(c):
 *         r = ''                             c.send(None)
 *         while True:                        n = 0
 *             n = yield r                    while n < 5:
 *             if not n:                          n = n + 1
 *                 return                         print('[PRODUCER] Producing %s...' % n)
 *             print('[CONSUMER] ...')            r = c.send(n)
 *             r = '200 OK'                       print('[PRODUCER] Consumer return: %s' % r)
 *                                            c.close()
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <coro.h>

#include "demo.h"

static void *
consumer(void *arg)
{
    const char *r = "";

    (void)arg;
    for (;;) {
        intptr_t n = (intptr_t)coro_yield((void *)r);
        if (!n)
            return NULL;
        printf("[CONSUMER] Consuming %" PRIdPTR "...\n", n);
        r = "200 OK";
    }
}

static int
produce(coro_t *c)
{
    void *r;
    intptr_t n = 0;

    if (coro_resume(c, NULL, NULL) == -1)
        return -1;
    while (n < 5) {
        n = n + 1;
        printf("[PRODUCER] Producing %" PRIdPTR "...\n", n);
        if (coro_resume(c, (void *)n, &r) == -1)
            return -1;
        printf("[PRODUCER] Consumer return: %s\n", (const char *)r);
    }
    return coro_close(c);
}

int
demo_tutorial(void)
{
    coro_t *c = coro_create(consumer, NULL, 0);

    if (c == NULL || produce(c) == -1) {
        perror("coro-demo");
        coro_destroy(c);
        return 1;
    }
    coro_destroy(c);
    return fflush(stdout) == 0 ? 0 : 1;
}
