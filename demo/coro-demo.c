/* coro-demo: libcoro's demonstration program. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "demo.h"

static void
usage(FILE *f)
{
    fputs("Usage: coro-demo [--help] [--version]\n"
          "\n"
          "With no arguments, runs the tutorial's producer/consumer: a consumer\n"
          "coroutine that does 'n = coro_yield(r)' (Python's 'n = yield r') and a\n"
          "producer that starts it with coro_resume(c, NULL, ...), sends it 1..5\n"
          "(Python's c.send(n)), prints each reply, then closes it (c.close()).\n"
          "\n"
          "  --help     show this help and exit\n"
          "  --version  show the version and exit\n", f);
}

int
main(int argc, char **argv)
{
    if (argc == 1)
        return demo_tutorial();
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("coro-demo (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        return 0;
    }
    fprintf(stderr, "coro-demo: unknown argument '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
