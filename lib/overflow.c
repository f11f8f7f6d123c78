/*
 * The stack overflow diagnosis (coro_catch_overflow): a SIGSEGV handler,
 * on the thread's signal stack (stack.c gives every thread with stacks
 * one), that recognises a fault in the guard page of one of the thread's
 * stacks, says so on standard error, then lets the process die of the same
 * signal. Any other fault goes to the handler that was there before (the
 * default one: the process dies as it would have).
 *
 * Any guard page of the thread counts, not only the running coroutine's: a
 * switch runs on the old stack for a while after the library already calls
 * the new coroutine the running one. The coroutine object says who used
 * the stack (coro__overflow_describer).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "coro.h"
#include "stack.h"

static int catching;                /* coro_catch_overflow() was called */
static struct sigaction previous;   /* the SIGSEGV action before ours */
static coro__describe_fn *describe;

void
coro__overflow_describer(coro__describe_fn *fn)
{
    __atomic_store_n(&describe, fn, __ATOMIC_RELEASE);
}

/* Async-signal-safe formatting into buf, for write(2). */
static size_t
put_str(char *buf, size_t len, const char *s)
{
    while (*s)
        buf[len++] = *s++;
    return len;
}

/* At most max bytes of s. */
static size_t
put_limited(char *buf, size_t len, const char *s, size_t max)
{
    while (*s && max-- > 0)
        buf[len++] = *s++;
    return len;
}

static size_t
put_num(char *buf, size_t len, uintmax_t v, unsigned base)
{
    char digits[32];
    int n = 0;

    if (base == 16)
        len = put_str(buf, len, "0x");
    do
        digits[n++] = "0123456789abcdef"[v % base];
    while ((v /= base) != 0);
    while (n > 0)
        buf[len++] = digits[--n];
    return len;
}

static void
report(const struct coro__stack *st, const void *addr)
{
    coro__describe_fn *fn = __atomic_load_n(&describe, __ATOMIC_ACQUIRE);
    struct coro__stack_user user;
    char buf[768];
    size_t len = 0;

    len = put_str(buf, len, "libcoro: stack overflow in ");
    if (fn && fn(st, &user) == 0) {
        Dl_info dl;

        len = put_str(buf, len, "coroutine ");
        len = put_num(buf, len, (uintptr_t)user.handle, 16);
        len = put_str(buf, len, " \"");
        if (user.name) {
            len = put_limited(buf, len, user.name, 64);
        } else {
            len = put_str(buf, len, user.prefix);
            len = put_str(buf, len, "-");
            len = put_num(buf, len, user.seq, 10);
        }
        len = put_str(buf, len, "\" (a ");
        len = put_str(buf, len, user.kind);
        len = put_str(buf, len, " running function ");
        len = put_num(buf, len, (uintptr_t)user.fn, 16);
        /* Not async-signal-safe, strictly, but the process dies next: worth
         * the name (a program's own functions need -rdynamic). */
        if (dladdr((void *)user.fn, &dl) && dl.dli_sname && dl.dli_saddr == (void *)user.fn) {
            len = put_str(buf, len, " ");
            len = put_limited(buf, len, dl.dli_sname, 128);
        }
        len = put_str(buf, len, ")");
    } else {
        len = put_str(buf, len, "a coroutine stack");
    }
    len = put_str(buf, len, ": it used all of its ");
    len = put_num(buf, len, st->size, 10);
    len = put_str(buf, len, "-byte stack and touched the guard page below it, at ");
    len = put_num(buf, len, (uintptr_t)addr, 16);
    len = put_str(buf, len, ". Give it a larger stack_size (at most CORO_STACK_MAX).\n");
    (void)!write(STDERR_FILENO, buf, len);
}

/* Hand the signal back to the previous action; SIG_DFL and SIG_IGN both
 * become the default, so that the fault, repeated on return, kills. */
static void
pass_on(int sig, siginfo_t *si, void *uc)
{
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, si, uc);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        struct sigaction dfl = {.sa_handler = SIG_DFL};

        sigaction(sig, &dfl, NULL);
    }
}

static void
on_fault(int sig, siginfo_t *si, void *uc)
{
    int err = errno;
    const struct coro__stack *st = coro__stack_of_guard(si->si_addr);

    if (st) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};

        report(st, si->si_addr);
        sigaction(sig, &dfl, NULL); /* the fault happens again on return, and kills */
    } else {
        pass_on(sig, si, uc);
    }
    errno = err;
}

int
coro_catch_overflow(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    int rc = 0;

    pthread_mutex_lock(&lock);
    if (!catching) {
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous) == 0)
            catching = 1;
        else
            rc = -1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
