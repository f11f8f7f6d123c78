/* The task event log and failure record (see tasklog.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "tasklog.h"
#include "testutil.h"

char evlog[8192];
int nbad;
char firstbad[512];

void
ev(const char *fmt, ...)
{
    size_t len = strlen(evlog);
    va_list ap;

    if (len > 0 && len + 1 < sizeof evlog) {
        evlog[len++] = ' ';
        evlog[len] = '\0';
    }
    va_start(ap, fmt);
    vsnprintf(evlog + len, sizeof evlog - len, fmt, ap);
    va_end(ap);
}

void
bad(const char *fmt, ...)
{
    va_list ap;

    if (nbad++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(firstbad, sizeof firstbad, fmt, ap);
    va_end(ap);
}

void
tasklog_reset(void)
{
    evlog[0] = '\0';
    nbad = 0;
    firstbad[0] = '\0';
}

TCase *
tasklog_tcase(Suite *s, const char *name, void (*setup)(void))
{
    TCase *tc = test_case(name);

    tcase_add_checked_fixture(tc, setup, NULL);
    suite_add_tcase(s, tc);
    return tc;
}
