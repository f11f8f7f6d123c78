/* What coro-demo's modes share: option parsing, units, the progress line. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <coro.h>

#include "demo.h"

void
demo_error(const char *mode, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "coro-demo %s: ", mode);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
demo_bad_usage(const char *mode)
{
    fprintf(stderr, "Try 'coro-demo %s%s--help' for more information.\n", mode ? mode : "",
            mode ? " " : "");
    return DEMO_USAGE;
}

int
demo_opt(const char *mode, int argc, char **argv, int *i, const char *name, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);

    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        demo_error(mode, "option %s needs a value", name);
        return -1;
    }
    *i += 1;
    *val = argv[*i];
    return 1;
}

int
demo_parse_u64(const char *mode, const char *opt, const char *s, uint64_t min, uint64_t max,
               uint64_t *out)
{
    unsigned long long v;
    char *end;

    /* strtoull() would skip blanks and accept a sign ("-1" wraps around). */
    if (s[0] == '-' && s[1] >= '0' && s[1] <= '9') {
        demo_error(mode, "%s '%s': must not be negative", opt, s);
        return -1;
    }
    if (s[0] < '0' || s[0] > '9') {
        demo_error(mode, "%s '%s': not a whole number", opt, s);
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0') {
        demo_error(mode, "%s '%s': not a whole number", opt, s);
        return -1;
    }
    if (errno == ERANGE || v > max) {
        demo_error(mode, "%s '%s': too large (at most %" PRIu64 ")", opt, s, max);
        return -1;
    }
    if (v < min) {
        demo_error(mode, "%s '%s': must be at least %" PRIu64, opt, s, min);
        return -1;
    }
    *out = v;
    return 0;
}

int
demo_parse_list(const char *mode, const char *opt, const char *s, uint64_t min, uint64_t max,
                uint64_t **out, size_t *n)
{
    size_t count = 1, k = 0;
    uint64_t *v;
    char *copy, *item, *next;

    for (const char *c = s; *c; c++)
        count += *c == ',';
    copy = strdup(s);
    v = calloc(count, sizeof *v);
    if (copy == NULL || v == NULL) {
        demo_error(mode, "%s: %s", copy == NULL ? "strdup" : "calloc", strerror(errno));
        free(copy);
        free(v);
        return -1;
    }
    for (item = copy; item != NULL; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (*item == '\0') {
            demo_error(mode, "%s '%s': an empty entry in the list", opt, s);
            free(copy);
            free(v);
            return -1;
        }
        if (demo_parse_u64(mode, opt, item, min, max, &v[k++]) == -1) {
            free(copy);
            free(v);
            return -1;
        }
    }
    free(copy);
    *out = v;
    *n = k;
    return 0;
}

double
demo_sec(int64_t ns)
{
    return (double)ns / 1e9;
}

double
demo_rate(uint64_t count, int64_t ns)
{
    return ns > 0 ? (double)count * 1e9 / (double)ns : 0.0;
}

double
demo_mib(long kib)
{
    return (double)kib / 1024.0;
}

long
demo_maxrss_kib(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) == -1) {
        fprintf(stderr, "coro-demo: getrusage: %s\n", strerror(errno));
        return -1;
    }
    return ru.ru_maxrss; /* KiB on Linux and the BSDs */
}

/*
 * The progress line. It may be drawn from a coroutine's stack, so it is
 * formatted with snprintf() into a small buffer and written with write(2)
 * rather than through stdio's unbuffered stderr (whose fprintf() wants a
 * BUFSIZ buffer on the stack).
 */
static void
draw(struct demo_progress *p, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t k = write(STDERR_FILENO, text, len);

        if (k == -1 && errno == EINTR)
            continue;
        if (k <= 0) {
            p->enabled = 0; /* best effort: a broken terminal stops the line */
            return;
        }
        text += k;
        len -= (size_t)k;
    }
}

void
demo_progress_init(struct demo_progress *p, const char *label, const char *unit,
                   uint64_t total)
{
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->start = coro_now();
    p->last = p->start;
    p->enabled = isatty(STDERR_FILENO);
    p->width = 0;
}

void
demo_progress_phase(struct demo_progress *p, const char *unit, uint64_t total)
{
    p->unit = unit;
    p->total = total;
}

void
demo_progress_update(struct demo_progress *p, uint64_t done)
{
    char line[200];
    int64_t now;
    int n;

    if (!p->enabled)
        return;
    now = coro_now();
    if (now - p->start < DEMO_PROGRESS_AFTER || now - p->last < 200000000)
        return;
    p->last = now;
    n = snprintf(line, sizeof line, "\r%s: %" PRIu64 "/%" PRIu64 " %s (%u%%), %.1f s",
                 p->label, done, p->total, p->unit,
                 p->total ? (unsigned)(done * 100.0 / (double)p->total) : 100u,
                 demo_sec(now - p->start));
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    /* Pad with blanks over the end of a longer previous line. */
    while ((size_t)n < p->width + 1 && (size_t)n < sizeof line - 1)
        line[n++] = ' ';
    p->width = (size_t)n - 1;
    draw(p, line, (size_t)n);
}

void
demo_progress_clear(struct demo_progress *p)
{
    char blank[200];
    size_t n;

    if (p->width == 0)
        return;
    n = p->width + 2 < sizeof blank ? p->width + 2 : sizeof blank;
    memset(blank, ' ', n);
    blank[0] = '\r';
    blank[n - 1] = '\r';
    p->width = 0;
    draw(p, blank, n);
}
