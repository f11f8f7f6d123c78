/*
 * The stack overflow diagnosis (coro_catch_overflow): a SIGSEGV handler, on
 * an alternate signal stack, that recognises a fault in the guard page of
 * the running coroutine, says so on standard error, then lets the process
 * die of the same signal. Any other fault goes to the handler that was there
 * before (the default one: the process dies as it would have).
 *
 * The signal stack is per thread: the calling thread gets one at once, and
 * every thread that starts using libcoro afterwards gets one then; it is
 * freed when the thread exits. A thread with a signal stack of its own
 * keeps it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro-int.h"

enum { ALTSTACK_SIZE = 64 * 1024 };

static int catching;                /* coro_catch_overflow() was called */
static struct sigaction previous;   /* the SIGSEGV action before ours */

/* Async-signal-safe formatting into buf, for write(2). */
static size_t
put_str(char *buf, size_t len, const char *s)
{
    while (*s)
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
report(const struct coro *co, const void *addr)
{
    char buf[512];
    size_t len = 0;

    len = put_str(buf, len, "libcoro: stack overflow in coroutine ");
    len = put_num(buf, len, (uintptr_t)co, 16);
    len = put_str(buf, len, co->sched ? " (a task" : " (a coroutine");
    len = put_str(buf, len, " running function ");
    len = put_num(buf, len, (uintptr_t)co->fn, 16);
    len = put_str(buf, len, "): it used all of its ");
    len = put_num(buf, len, co->stack.size, 10);
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
    struct coro__thread *t = coro__thr_ptr;
    struct coro *co = t ? t->current : NULL;
    const char *addr = si->si_addr;

    if (co && addr < co->stack.lo && addr >= co->stack.lo - coro__page_size()) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};

        report(co, addr);
        sigaction(sig, &dfl, NULL); /* the fault happens again on return, and kills */
        return;
    }
    pass_on(sig, si, uc);
}

/* Give t a signal stack unless it has one. 0, or -1 and errno. */
static int
altstack(struct coro__thread *t)
{
    stack_t ss, old;

    if (t->altstack || (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE)))
        return 0;
    ss.ss_sp = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ss.ss_sp == MAP_FAILED) {
        errno = ENOMEM;
        return -1;
    }
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (coro__at_thread_exit(t) == -1 || sigaltstack(&ss, NULL) == -1) {
        munmap(ss.ss_sp, ALTSTACK_SIZE);
        errno = ENOMEM;
        return -1;
    }
    t->altstack = ss.ss_sp;
    return 0;
}

void
coro__overflow_thread_init(struct coro__thread *t)
{
    if (__atomic_load_n(&catching, __ATOMIC_ACQUIRE))
        (void)altstack(t); /* without one, an overflow still kills, silently */
}

void
coro__overflow_thread_exit(struct coro__thread *t)
{
    stack_t off = {.ss_flags = SS_DISABLE};

    if (t->altstack == NULL)
        return;
    sigaltstack(&off, NULL);
    munmap(t->altstack, ALTSTACK_SIZE);
    t->altstack = NULL;
}

int
coro_catch_overflow(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    int rc = 0;

    if (altstack(coro__thr()) == -1)
        return -1;
    pthread_mutex_lock(&lock);
    if (!__atomic_load_n(&catching, __ATOMIC_RELAXED)) {
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous) == 0)
            __atomic_store_n(&catching, 1, __ATOMIC_RELEASE);
        else
            rc = -1;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}
