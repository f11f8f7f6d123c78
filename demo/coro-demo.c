/* coro-demo: libcoro's demonstration program. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <coro.h>

#include "demo.h"

static void
usage(FILE *f)
{
    fputs("Usage: coro-demo [--help] [--version]\n"
          "       coro-demo pairs [OPTIONS]    (coro-demo pairs --help)\n"
          "       coro-demo compare [OPTIONS]  (coro-demo compare --help)\n"
          "       coro-demo serve http|resp [OPTIONS]  (coro-demo serve --help)\n"
          "\n"
          "With no arguments, runs the tutorial's producer/consumer: a consumer\n"
          "coroutine that does 'n = coro_yield(r)' (Python's 'n = yield r') and a\n"
          "producer that starts it with coro_resume(c, NULL, ...), sends it 1..5\n"
          "(Python's c.send(n)), prints each reply, then closes it (c.close()).\n"
          "\n"
          "  pairs      the same at scale: N producer/consumer pairs on one scheduler,\n"
          "             or on P worker processes (\"multi-process + coroutine\")\n"
          "  compare    coroutines against two OS threads per pair, for one or more N\n"
          "  serve      an HTTP or a Redis (RESP) server, one task per connection, on\n"
          "             one scheduler or on N worker processes\n"
          "  --help     show this help and exit\n"
          "  --version  show the version and the context switch built in, and exit\n", f);
}

int
main(int argc, char **argv)
{
    if (argc == 1)
        return demo_tutorial();
    if (strcmp(argv[1], "pairs") == 0)
        return demo_pairs(argc - 1, argv + 1);
    if (strcmp(argv[1], "compare") == 0)
        return demo_compare(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return demo_serve(argc - 1, argv + 1);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return DEMO_OK;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("coro-demo (%s) %s\ncontext switch: %s\n", PACKAGE_NAME, PACKAGE_VERSION,
               coro_switch_name());
        return fflush(stdout) == 0 ? DEMO_OK : DEMO_FAIL;
    }
    /* "--help extra": the extra argument is the unknown one */
    fprintf(stderr, "coro-demo: unknown argument '%s'\n",
            argv[1][0] == '-' && argv[1][1] == '-' && argc > 2 &&
                    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "--version") == 0)
                ? argv[2]
                : argv[1]);
    return demo_bad_usage(NULL);
}
