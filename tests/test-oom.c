/*
 * test-oom: out of memory. Every call by which libcoro gets memory is made
 * to fail in turn, the 1st, the 2nd, ... the Nth, along one realistic run of
 * the library (generators, defers, a scheduler with tasks, channels, a large
 * select, sleeps and timeouts, spawns that grow the timer heap), until N is
 * past the last of them. Each failure must surface as the documented error
 * (-1 or NULL, errno ENOMEM) from the call that needed the memory, or be
 * absorbed by the library (a guard page made another way, a stack not
 * pooled); the program then goes on or unwinds, and afterwards nothing is
 * leaked, every deferred handler has run once, every stack has its guard
 * page, and the thread's library state still works. A second test fails
 * every call from the Nth on (memory that does not come back), a third one
 * kind of call at a time.
 *
 * How: this program is linked with its own copy of the library's sources
 * (not lib/libcoro.la) and with the linker's --wrap (Makefile.am): each
 * reference to malloc, calloc, realloc, free, mmap, munmap, madvise,
 * mprotect, pthread_key_create and pthread_setspecific from those objects
 * (and from this file) goes to __wrap_NAME below, which counts the call,
 * fails it when told to, and otherwise calls the real function
 * (__real_NAME). The C library's and Check's own allocations are not
 * references from these objects and are left alone. Unlike defining malloc
 * (failmalloc.c), this works under ASan, which must see every block, and
 * under valgrind: the real functions are theirs.
 *
 * The wrappers also keep the books that valgrind and ASan cannot: blocks
 * allocated and not freed, bytes mapped and not unmapped (stacks and slabs
 * are mmap'd: invisible to leak checkers), and which address ranges are
 * guard pages (mprotect(PROT_NONE), MADV_GUARD_INSTALL), so that each
 * coroutine of the run checks that a guard lies right below its stack.
 *
 * Each run of the sequence happens in a new thread: the library's state is
 * per thread (the stack pool, the slabs, the pool's registration for thread
 * exit), so every run starts alike and counts the same calls, and the
 * thread's exit releases its pool like any program's would.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Clang links ThreadSanitizer's runtime into the program, and --wrap sends
 * the runtime's own early calls (pthread_key_create() while it starts) to
 * the wrappers below, before it can run instrumented code: they, and what
 * they call here, are left uninstrumented. */
#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define UNINSTRUMENTED __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef UNINSTRUMENTED
#define UNINSTRUMENTED
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

/* ---------------------------------------------------------------------- */
/* The wrapped functions                                                  */

/* The calls that can fail for lack of memory, which the test counts and
 * fails. madvise() counts only with MADV_GUARD_INSTALL (it allocates page
 * tables); the library's other advice (MADV_DONTNEED) gives memory back. */
enum { K_MALLOC, K_CALLOC, K_REALLOC, K_MMAP, K_MADVISE, K_MPROTECT, K_KEY_CREATE,
       K_SETSPECIFIC, K_COUNT };
static const char *const kind_name[K_COUNT] = {
    "malloc", "calloc", "realloc", "mmap", "madvise(MADV_GUARD_INSTALL)", "mprotect",
    "pthread_key_create", "pthread_setspecific",
};
#define KIND(k) (1u << (k))
#define ALL_KINDS (KIND(K_COUNT) - 1)

/* What to fail in the current run, and what happened. Only the thread
 * running the sequence, while "counting" is set, has its calls counted: the
 * test's own thread and the checks after the sequence are left alone. */
static struct {
    long fail_at;       /* fail the fail_at-th counted call (1 = the first); 0: none */
    int persistent;     /* and every counted call after it */
    unsigned kinds;     /* which calls count */
    long calls;         /* counted calls so far */
    long per_kind[K_COUNT];
    long injected;      /* failures injected so far */
    int first_kind;     /* the first injected failure: which call, from where */
    void *first_caller;
} inj;
static __thread int counting;

/* Kept for the threads that run the sequence, from their start to their
 * end (thread-exit destructors included): blocks allocated and not yet
 * freed, bytes mapped and not yet unmapped. Check, linked statically here,
 * goes through the wrappers too, from the test's own thread: not counted. */
static __thread int accounting;
static long live_blocks;
static long mapped_bytes;

UNINSTRUMENTED static void
account(long *counter, long delta)
{
    if (accounting)
        __atomic_add_fetch(counter, delta, __ATOMIC_RELAXED);
}

UNINSTRUMENTED static int
inject(int kind, void *caller)
{
    long n;

    if (!counting || !(inj.kinds & KIND(kind)))
        return 0;
    n = ++inj.calls;
    inj.per_kind[kind]++;
    if (inj.fail_at == 0 || n < inj.fail_at || (n > inj.fail_at && !inj.persistent))
        return 0;
    if (inj.injected++ == 0) {
        inj.first_kind = kind;
        inj.first_caller = caller;
    }
    return 1;
}

static size_t
page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t
page_round(size_t len)
{
    return (len + page_size() - 1) & ~(page_size() - 1);
}

/* Guard pages: the ranges the kernel accepted as PROT_NONE or as guard
 * regions and that were not unmapped or made accessible since. */
enum { GUARDS_MAX = 4096 };
static struct range {
    uintptr_t lo, hi;
} guards[GUARDS_MAX];
static size_t nguards;
static int guards_overflow;
static pthread_mutex_t guards_lock = PTHREAD_MUTEX_INITIALIZER;

static void
guard_del(uintptr_t lo, uintptr_t hi)
{
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < nguards;) {
        struct range g = guards[i];

        if (g.hi <= lo || g.lo >= hi) {
            i++;
            continue;
        }
        /* Overlaps: keep what is left on either side. */
        guards[i] = guards[--nguards];
        if (g.lo < lo) {
            if (nguards < GUARDS_MAX)
                guards[nguards++] = (struct range){ g.lo, lo };
            else
                guards_overflow = 1;
        }
        if (g.hi > hi) {
            if (nguards < GUARDS_MAX)
                guards[nguards++] = (struct range){ hi, g.hi };
            else
                guards_overflow = 1;
        }
    }
    pthread_mutex_unlock(&guards_lock);
}

static void
guard_add(uintptr_t lo, uintptr_t hi)
{
    guard_del(lo, hi);
    pthread_mutex_lock(&guards_lock);
    if (nguards < GUARDS_MAX)
        guards[nguards++] = (struct range){ lo, hi };
    else
        guards_overflow = 1;
    pthread_mutex_unlock(&guards_lock);
}

/* Is there a guard ending in [sp - size, sp], i.e. right below a stack of
 * size bytes that holds sp? (A missing guard would leave the next lower one
 * at least a whole stack further down.) */
static int
guard_below(uintptr_t sp, size_t size)
{
    int found = 0;

    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < nguards && !found; i++)
        found = guards[i].hi <= sp && guards[i].hi >= sp - size;
    pthread_mutex_unlock(&guards_lock);
    return found;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);
int __real_madvise(void *addr, size_t len, int advice);
int __real_mprotect(void *addr, size_t len, int prot);
int __real_pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
int __real_pthread_setspecific(pthread_key_t key, const void *value);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
void __wrap_free(void *p);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);
int __wrap_madvise(void *addr, size_t len, int advice);
int __wrap_mprotect(void *addr, size_t len, int prot);
int __wrap_pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
int __wrap_pthread_setspecific(pthread_key_t key, const void *value);

/* The caller of a wrapper, reported as an offset in the program for
 * addr2line (GNU ld defines __executable_start where the program starts). */
#define CALLER __builtin_return_address(0)
extern char __executable_start[];

UNINSTRUMENTED void *
__wrap_malloc(size_t size)
{
    void *p;

    if (inject(K_MALLOC, CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_malloc(size);
    if (p)
        account(&live_blocks, 1);
    return p;
}

UNINSTRUMENTED void *
__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (inject(K_CALLOC, CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_calloc(n, size);
    if (p)
        account(&live_blocks, 1);
    return p;
}

UNINSTRUMENTED void *
__wrap_realloc(void *p, size_t size)
{
    void *q;

    if (inject(K_REALLOC, CALLER)) {
        errno = ENOMEM;
        return NULL;
    }
    q = __real_realloc(p, size);
    if (p == NULL && q != NULL)
        account(&live_blocks, 1);
    else if (p != NULL && q == NULL && size == 0)
        account(&live_blocks, -1);
    return q;
}

UNINSTRUMENTED void
__wrap_free(void *p)
{
    if (p)
        account(&live_blocks, -1);
    __real_free(p);
}

UNINSTRUMENTED void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p;

    if (inject(K_MMAP, CALLER)) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED) {
        account(&mapped_bytes, (long)page_round(len));
        guard_del((uintptr_t)p, (uintptr_t)p + page_round(len)); /* MAP_FIXED over one */
    }
    return p;
}

UNINSTRUMENTED int
__wrap_munmap(void *addr, size_t len)
{
    int rc = __real_munmap(addr, len);

    if (rc == 0) {
        account(&mapped_bytes, -(long)page_round(len));
        guard_del((uintptr_t)addr, (uintptr_t)addr + page_round(len));
    }
    return rc;
}

UNINSTRUMENTED int
__wrap_madvise(void *addr, size_t len, int advice)
{
    int rc;

    if (advice == MADV_GUARD_INSTALL && inject(K_MADVISE, CALLER)) {
        errno = ENOMEM;
        return -1;
    }
    rc = __real_madvise(addr, len, advice);
    if (rc == 0 && advice == MADV_GUARD_INSTALL)
        guard_add((uintptr_t)addr, (uintptr_t)addr + page_round(len));
    else if (rc == 0 && advice == MADV_GUARD_REMOVE)
        guard_del((uintptr_t)addr, (uintptr_t)addr + page_round(len));
    return rc;
}

UNINSTRUMENTED int
__wrap_mprotect(void *addr, size_t len, int prot)
{
    int rc;

    if (inject(K_MPROTECT, CALLER)) {
        errno = ENOMEM;
        return -1;
    }
    rc = __real_mprotect(addr, len, prot);
    if (rc == 0 && prot == PROT_NONE)
        guard_add((uintptr_t)addr, (uintptr_t)addr + page_round(len));
    else if (rc == 0)
        guard_del((uintptr_t)addr, (uintptr_t)addr + page_round(len));
    return rc;
}

/* These two return the error number. */
UNINSTRUMENTED int
__wrap_pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    if (inject(K_KEY_CREATE, CALLER))
        return ENOMEM;
    return __real_pthread_key_create(key, destructor);
}

UNINSTRUMENTED int
__wrap_pthread_setspecific(pthread_key_t key, const void *value)
{
    if (inject(K_SETSPECIFIC, CALLER))
        return ENOMEM;
    return __real_pthread_setspecific(key, value);
}

/* ---------------------------------------------------------------------- */
/* Checks made during a run: recorded, asserted once the run is over      */

static struct {
    int n;
    char first[1024];
} checks;

static void bad(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
bad(int line, const char *fmt, ...)
{
    va_list ap;
    int len;

    if (checks.n++ > 0)
        return;
    len = snprintf(checks.first, sizeof checks.first, "line %d: ", line);
    va_start(ap, fmt);
    vsnprintf(checks.first + len, sizeof checks.first - (size_t)len, fmt, ap);
    va_end(ap);
}

#define EXPECT(cond)                                                         \
    do {                                                                     \
        if (!(cond))                                                         \
            bad(__LINE__, "%s", #cond);                                      \
    } while (0)

/* A call that needs memory: it succeeds, or fails exactly as documented,
 * -1 or NULL with errno ENOMEM, and then only because a failure was
 * injected during the call. Anything else is recorded as a failed check.
 * Returns 1 when it succeeded, 0 when it failed. */
static int enomem; /* calls that failed with ENOMEM in this run */

static int
tried(int success, int failure, long mark, const char *what, int line)
{
    int e = errno;

    if (success)
        return 1;
    if (failure && e == ENOMEM && inj.injected > mark) {
        enomem++;
        return 0;
    }
    if (failure && e == ENOMEM)
        bad(line, "%s: ENOMEM, but no allocation failed", what);
    else
        bad(line, "%s: %s with errno %d (%s), not ENOMEM", what,
            failure ? "failed" : "returned a wrong value", e, strerror(e));
    return 0;
}

/* ok = tried(): var = call, which succeeded when success holds and failed
 * when failure does (both are expressions of var). */
#define TRY(ok, var, call, success, failure)                                 \
    do {                                                                     \
        long mark_ = inj.injected;                                           \
        errno = 0;                                                           \
        (var) = (call);                                                      \
        (ok) = tried((success), (failure), mark_, #call, __LINE__);          \
    } while (0)

/* The stack sizes used, and the size coro_create() makes of each. */
#define STK_DEFAULT 0
#define STK_S CORO_STACK_MIN
#define STK_M ((size_t)32 * 1024)
#define STK_L ((size_t)64 * 1024)

static size_t
real_stack_size(size_t size)
{
    if (size == 0)
        size = CORO_STACK_DEFAULT;
    if (size < CORO_STACK_MIN)
        size = CORO_STACK_MIN;
    return page_round(size);
}

/* Called first thing by every coroutine of the run: its stack, of the
 * given size, has a guard page right below it. */
#define CHECK_GUARD(size)                                                    \
    do {                                                                     \
        uintptr_t sp_ = (uintptr_t)__builtin_frame_address(0);               \
        if (!guard_below(sp_, real_stack_size(size)))                        \
            bad(__LINE__, "no guard page below the stack of %zu bytes at %p", \
                real_stack_size(size), (void *)sp_);                         \
    } while (0)

/* ---------------------------------------------------------------------- */
/* The sequence                                                           */

/* What one run made and saw. */
static struct {
    int defers_made, defers_run; /* handlers registered, and run */
    int cancelled;               /* a task ran out of memory and closed every channel */
    int no_catch;                /* coro_catch_overflow() failed with ENOMEM */

    coro_sched_t *s;
    coro_chan_t *jobs;           /* producer -> workers, buffered */
    coro_chan_t *results;        /* workers -> collector, rendezvous */
    coro_chan_t *m[6];           /* for the selects; only m[5] carries anything */
    int live_workers;
    long sum;                    /* the collector's */
    int sel_index, sel_value;    /* the selector's first select */
    int sel_timedout;            /* its second one */
    int slept;                   /* the sleeper got to the end */
    int lurking;                 /* the lurker is inside its select */
    int crowd_spawned, crowd_ran;
} R;

/* What a coroutine returns when it could not set itself up. */
#define FAILED ((void *)&R)

static void
count_run(void *arg)
{
    (void)arg;
    R.defers_run++;
}

/* coro_defer(count_run): 1, or 0 when out of memory. */
static int
defer_counted(void)
{
    int ok, rc;

    TRY(ok, rc, coro_defer(count_run, NULL), rc == 0, rc == -1);
    R.defers_made += ok;
    return ok;
}

/* Part 1: generators. */

struct gen {
    size_t size; /* of its stack */
    int n;       /* values to yield */
};

/* Yields 1..n, expecting 10 * i back for each i; returns their sum. */
static void *
gen_fn(void *arg)
{
    const struct gen *g = arg;
    long sum = 0;

    CHECK_GUARD(g->size);
    if (!defer_counted() || !defer_counted())
        return FAILED;
    for (int i = 1; i <= g->n; i++) {
        void *in = coro_yield(IV(i));

        EXPECT(in == IV(10 * i));
        sum += i;
    }
    return IV(sum);
}

/* Resumes a gen_fn coroutine, of n values, up to steps times, checking
 * every value: 1 when it returned, 0 when it is still suspended, -1 when it
 * could not set itself up. */
static int
drive(coro_t *co, int n, int steps)
{
    for (int i = 0; i < steps; i++) {
        void *out = NULL;
        int rc = coro_resume(co, i == 0 ? NULL : IV(10 * i), &out);

        if (rc == 1 && out == FAILED)
            return -1;
        if (i < n) {
            EXPECT(rc == 0 && out == IV(i + 1));
        } else {
            EXPECT(rc == 1 && out == IV(n * (n + 1) / 2));
            return 1;
        }
    }
    return 0;
}

static void
destroy_run(void *co)
{
    R.defers_run++;
    EXPECT(coro_destroy(co) == 0);
}

/* A generator that makes its own inner generator, which a deferred handler
 * destroys, and yields 100 times each of the inner one's values. */
static void *
relay_fn(void *arg)
{
    struct gen inner_gen = { STK_M, 3 };
    coro_t *inner;
    void *out = NULL;
    int ok, rc;

    CHECK_GUARD(STK_L);
    TRY(ok, inner, coro_create(gen_fn, &inner_gen, STK_M), inner != NULL, inner == NULL);
    if (!ok)
        return FAILED;
    TRY(ok, rc, coro_defer(destroy_run, inner), rc == 0, rc == -1);
    if (!ok) {
        EXPECT(coro_destroy(inner) == 0);
        return FAILED;
    }
    R.defers_made++;
    for (int i = 0;; i++) {
        rc = coro_resume(inner, i == 0 ? NULL : IV(10 * i), &out);
        if (rc == 1 && out == FAILED)
            return FAILED;
        EXPECT(rc == 0 || (rc == 1 && out == IV(6)));
        if (rc != 0)
            break;
        coro_yield(IV(100 * VI(out)));
    }
    return IV(100 * VI(out));
}

static void
generators(void)
{
    struct gen ga = { STK_DEFAULT, 3 }, gb = { STK_S, 3 }, gd = { STK_DEFAULT, 2 };
    coro_t *a, *b, *c, *d;
    void *out;
    int ok, rc;

    /* Three at once, of three sizes. */
    TRY(ok, a, coro_create(gen_fn, &ga, STK_DEFAULT), a != NULL, a == NULL);
    TRY(ok, b, coro_create(gen_fn, &gb, STK_S), b != NULL, b == NULL);
    TRY(ok, c, coro_create(relay_fn, NULL, STK_L), c != NULL, c == NULL);
    (void)ok;

    /* a runs to its end; b is closed after one value; c is destroyed
     * after two, its handler destroying the inner generator. */
    if (a) {
        drive(a, ga.n, ga.n + 1);
        EXPECT(coro_status(a) == CORO_DEAD);
        EXPECT(coro_destroy(a) == 0);
    }
    if (b) {
        if (drive(b, gb.n, 1) == 0)
            EXPECT(coro_status(b) == CORO_SUSPENDED);
        EXPECT(coro_close(b) == 0);
        EXPECT(coro_status(b) == CORO_DEAD);
        EXPECT(coro_destroy(b) == 0);
    }
    if (c) {
        rc = coro_resume(c, NULL, &out);
        if (!(rc == 1 && out == FAILED)) {
            EXPECT(rc == 0 && out == IV(100));
            rc = coro_resume(c, NULL, &out);
            EXPECT(rc == 0 && out == IV(200));
        }
        EXPECT(coro_destroy(c) == 0);
    }

    /* Again the default size: a's stack, from the pool. */
    TRY(ok, d, coro_create(gen_fn, &gd, STK_DEFAULT), d != NULL, d == NULL);
    if (d) {
        drive(d, gd.n, gd.n + 1);
        EXPECT(coro_destroy(d) == 0);
    }
    EXPECT(coro_self() == NULL);
}

/* Part 2: a scheduler. A producer feeds 1..8 through a buffered channel to
 * two workers, which send the squares through a rendezvous channel to a
 * collector, which sums them with a generator of its own. A selector waits
 * on six channels (allocated waiters) until a kicker sends on the last,
 * then on five with a timeout that passes; a sleeper sleeps and times out;
 * a lurker waits on five channels forever, so that the run ends with
 * EDEADLK and coro_sched_destroy() must close it inside coro_select(); a
 * spawner adds a crowd of 64 tasks while the scheduler runs, which grows
 * the timer heap past its first allocation; they each sleep once.
 *
 * A task that runs out of memory cancels the run: it closes every channel,
 * so that every task waiting or about to wait gets EPIPE and ends. EPIPE is
 * accepted only then, or where the design closes a channel. */

static void
close_chan(coro_chan_t *ch)
{
    int rc;

    errno = 0;
    rc = coro_chan_close(ch);
    if (!(rc == 0 || (rc == -1 && errno == EPIPE && R.cancelled)))
        bad(__LINE__, "coro_chan_close: %d, errno %d", rc, errno);
}

static void *
cancel(void)
{
    if (!R.cancelled) {
        R.cancelled = 1;
        close_chan(R.jobs);
        close_chan(R.results);
        for (int i = 0; i < 6; i++)
            close_chan(R.m[i]);
    }
    return NULL;
}

/* A channel operation failed: fine only with EPIPE after a cancel. */
#define EXPECT_CANCELLED(what)                                               \
    do {                                                                     \
        int e_ = errno;                                                      \
        if (!(e_ == EPIPE && R.cancelled))                                   \
            bad(__LINE__, "%s: errno %d (%s), cancelled %d", what, e_,       \
                strerror(e_), R.cancelled);                                  \
    } while (0)

static void *
producer(void *arg)
{
    CHECK_GUARD(STK_DEFAULT);
    if (!defer_counted())
        return cancel();
    for (int i = 1; i <= 8; i++) {
        if (coro_chan_send(R.jobs, &i) == -1) {
            EXPECT_CANCELLED("send job");
            break;
        }
    }
    close_chan(R.jobs);
    return NULL;
}

static void *
worker(void *arg)
{
    int v, sq;

    CHECK_GUARD(STK_S);
    if (defer_counted()) {
        while (coro_chan_recv(R.jobs, &v) == 0) {
            sq = v * v;
            if (coro_chan_send(R.results, &sq) == -1) {
                EXPECT_CANCELLED("send result");
                break;
            }
        }
        EXPECT(errno == EPIPE); /* jobs closed and drained, or cancelled */
    } else {
        cancel();
    }
    if (--R.live_workers == 0)
        close_chan(R.results);
    return NULL;
}

/* The collector's generator: yields the running sum of what it is sent. */
static void *
acc_fn(void *arg)
{
    long sum = 0;

    CHECK_GUARD(STK_M);
    if (!defer_counted())
        return FAILED;
    for (;;)
        sum += VI(coro_yield(IV(sum)));
}

static void *
collector(void *arg)
{
    coro_t *acc;
    void *out = NULL;
    int ok, rc, v;

    CHECK_GUARD(STK_L);
    TRY(ok, acc, coro_create(acc_fn, NULL, STK_M), acc != NULL, acc == NULL);
    if (!ok)
        return cancel();
    TRY(ok, rc, coro_defer(destroy_run, acc), rc == 0, rc == -1);
    if (!ok) {
        EXPECT(coro_destroy(acc) == 0);
        return cancel();
    }
    R.defers_made++;
    rc = coro_resume(acc, NULL, &out);
    if (rc == 1 && out == FAILED)
        return cancel();
    EXPECT(rc == 0 && out == IV(0));
    while (coro_chan_recv(R.results, &v) == 0) {
        EXPECT(coro_resume(acc, IV(v), &out) == 0);
        R.sum = VI(out);
    }
    EXPECT(errno == EPIPE);
    return NULL;
}

static void *
selector(void *arg)
{
    coro_sel_t sel[6];
    int got[6] = { 0 }, ok, r;

    CHECK_GUARD(STK_L);
    for (int i = 0; i < 6; i++)
        sel[i] = (coro_sel_t){ R.m[i], CORO_RECV, &got[i], -1 };
    TRY(ok, r, coro_select(sel, 6, CORO_MSEC(10000)), r >= 0, r == -1);
    if (!ok)
        return cancel();
    if (sel[r].err != 0) {
        errno = sel[r].err;
        EXPECT_CANCELLED("first select");
        return NULL;
    }
    R.sel_index = r;
    R.sel_value = got[r];

    /* Nothing comes on m[0..4]: the timeout passes. */
    TRY(ok, r, coro_select(sel, 5, CORO_MSEC(1)), r >= 0 || errno == ETIMEDOUT, r == -1);
    if (!ok)
        return cancel();
    if (r == -1) {
        R.sel_timedout = 1;
    } else {
        errno = sel[r].err;
        EXPECT_CANCELLED("second select");
    }
    return NULL;
}

static void *
kicker(void *arg)
{
    int v = 42;

    CHECK_GUARD(STK_S);
    if (coro_chan_send(R.m[5], &v) == -1)
        EXPECT_CANCELLED("kick");
    return NULL;
}

static void *
sleeper(void *arg)
{
    int v;

    CHECK_GUARD(STK_S);
    EXPECT(coro_sleep(CORO_MSEC(1)) == 0);
    EXPECT(coro_sleep(0) == 0);
    errno = 0;
    if (coro_chan_recv_timeout(R.m[5], &v, CORO_MSEC(1)) == 0)
        bad(__LINE__, "received %d from m[5]", v);
    else if (errno != ETIMEDOUT)
        EXPECT_CANCELLED("recv with timeout");
    R.slept = 1;
    return NULL;
}

static void *
lurker(void *arg)
{
    coro_sel_t sel[5];
    int ok, r;

    CHECK_GUARD(STK_M);
    if (!defer_counted())
        return cancel();
    for (int i = 0; i < 5; i++)
        sel[i] = (coro_sel_t){ R.m[i], CORO_RECV, NULL, -1 };
    R.lurking = 1;
    TRY(ok, r, coro_select(sel, 5, CORO_FOREVER), r >= 0, r == -1);
    R.lurking = 0;
    if (!ok)
        return cancel();
    errno = sel[r].err;
    EXPECT_CANCELLED("lurker's select"); /* nobody sends on m[0..4] */
    return NULL;
}

static void *
crowd(void *arg)
{
    CHECK_GUARD(STK_S);
    if (!defer_counted())
        return cancel();
    EXPECT(coro_sleep(0) == 0);
    R.crowd_ran++;
    return NULL;
}

static void *
spawner(void *arg)
{
    int ok, rc;

    CHECK_GUARD(STK_M);
    for (int i = 0; i < 64; i++) {
        TRY(ok, rc, coro_spawn(coro_sched_self(), crowd, NULL, STK_S), rc == 0, rc == -1);
        if (!ok)
            return cancel();
        R.crowd_spawned++;
    }
    return NULL;
}

static void
scheduler(void)
{
    static const size_t caps[6] = { 0, 0, 1, 0, 2, 0 };
    static const struct {
        coro_fn *fn;
        size_t size;
    } tasks[] = {
        { producer, STK_DEFAULT }, { worker, STK_S }, { worker, STK_S },
        { collector, STK_L },      { selector, STK_L }, { kicker, STK_S },
        { sleeper, STK_S },        { lurker, STK_M },  { spawner, STK_M },
    };
    int ok, rc, e;

    TRY(ok, R.s, coro_sched_create(), R.s != NULL, R.s == NULL);
    if (!ok)
        return;
    TRY(ok, R.jobs, coro_chan_create(sizeof(int), 4), R.jobs != NULL, R.jobs == NULL);
    if (!ok)
        goto out;
    TRY(ok, R.results, coro_chan_create(sizeof(int), 0), R.results != NULL, R.results == NULL);
    if (!ok)
        goto out;
    for (int i = 0; i < 6; i++) {
        TRY(ok, R.m[i], coro_chan_create(sizeof(int), caps[i]), R.m[i] != NULL, R.m[i] == NULL);
        if (!ok)
            goto out;
    }
    R.live_workers = 2;
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++) {
        TRY(ok, rc, coro_spawn(R.s, tasks[i].fn, NULL, tasks[i].size), rc == 0, rc == -1);
        if (!ok)
            goto out; /* unwind: the tasks made so far never run */
    }

    errno = 0;
    rc = coro_sched_run(R.s);
    e = errno;
    if (R.lurking)
        EXPECT(rc == -1 && e == EDEADLK);
    else
        EXPECT(rc == 0);
    EXPECT(coro_sched_self() == NULL && coro_self() == NULL);
    EXPECT(R.live_workers == 0);
    if (!R.cancelled) { /* every task did all it had to */
        EXPECT(R.sum == 204);
        EXPECT(R.sel_index == 5 && R.sel_value == 42);
        EXPECT(R.sel_timedout);
        EXPECT(R.slept);
        EXPECT(R.lurking);
        EXPECT(R.crowd_spawned == 64 && R.crowd_ran == 64);
    }
out:
    EXPECT(coro_sched_destroy(R.s) == 0); /* closes the lurker, or unruns tasks */
    EXPECT(coro_chan_destroy(R.jobs) == 0);
    EXPECT(coro_chan_destroy(R.results) == 0);
    for (int i = 0; i < 6; i++)
        EXPECT(coro_chan_destroy(R.m[i]) == 0);
}

/* After the run, with nothing failing: a coroutine, and two tasks that meet
 * through a five-way select, still work on this thread. */
static void *
ping(void *arg)
{
    int v = 7;

    EXPECT(coro_chan_send(((coro_chan_t **)arg)[3], &v) == 0);
    return NULL;
}

static void *
pong(void *arg)
{
    coro_chan_t **ch = arg;
    coro_sel_t sel[5];
    int got = 0;

    for (int i = 0; i < 5; i++)
        sel[i] = (coro_sel_t){ ch[i], CORO_RECV, &got, -1 };
    EXPECT(coro_select(sel, 5, CORO_FOREVER) == 3 && sel[3].err == 0 && got == 7);
    return NULL;
}

static void
still_works(void)
{
    struct gen g = { STK_DEFAULT, 2 };
    coro_chan_t *ch[5];
    coro_sched_t *s;
    coro_t *co;

    co = coro_create(gen_fn, &g, STK_DEFAULT);
    EXPECT(co != NULL);
    if (co) {
        EXPECT(drive(co, g.n, g.n + 1) == 1);
        EXPECT(coro_destroy(co) == 0);
    }
    s = coro_sched_create();
    EXPECT(s != NULL);
    for (int i = 0; i < 5; i++)
        EXPECT((ch[i] = coro_chan_create(sizeof(int), 0)) != NULL);
    EXPECT(coro_spawn(s, pong, ch, STK_S) == 0);
    EXPECT(coro_spawn(s, ping, ch, STK_S) == 0);
    EXPECT(coro_sched_run(s) == 0);
    EXPECT(coro_sched_destroy(s) == 0);
    for (int i = 0; i < 5; i++)
        EXPECT(coro_chan_destroy(ch[i]) == 0);
}

/* One run, in its own thread: the sequence with the failures armed, then
 * unarmed checks. */
static void *
run_thread(void *arg)
{
    int ok, rc;

    accounting = 1;
    counting = 1;
    /* As a program would, first: a signal stack for this thread (made by
     * the thread's first call into the library once this has been called
     * in the process; its failure there is silent). */
    TRY(ok, rc, coro_catch_overflow(), rc == 0, rc == -1);
    R.no_catch = !ok;
    generators();
    scheduler();
    counting = 0;
    EXPECT(R.defers_run == R.defers_made);
    EXPECT(coro_self() == NULL);
    still_works();
    EXPECT(R.defers_run == R.defers_made);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Runs                                                                   */

/* Run the sequence once with fail_at, persistent and kinds as given, and
 * assert that it went as it must. */
static void
run(long fail_at, int persistent, unsigned kinds)
{
    long blocks = __atomic_load_n(&live_blocks, __ATOMIC_RELAXED);
    long bytes = __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED);
    pthread_t t;
    char what[200];

    memset(&inj, 0, sizeof inj);
    inj.fail_at = fail_at;
    inj.persistent = persistent;
    inj.kinds = kinds;
    memset(&R, 0, sizeof R);
    memset(&checks, 0, sizeof checks);
    enomem = 0;

    ck_assert_int_eq(pthread_create(&t, NULL, run_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    if (inj.injected)
        snprintf(what, sizeof what, "failing call %ld%s (%s, called from test-oom+%#lx)",
                 fail_at, persistent ? " and all after it" : "", kind_name[inj.first_kind],
                 (unsigned long)((char *)inj.first_caller - __executable_start));
    else
        snprintf(what, sizeof what, "no failure injected (%ld calls counted)", inj.calls);
    ck_assert_msg(checks.n == 0, "%s: %d failed checks, the first at %s", what, checks.n,
                  checks.first);
    ck_assert_msg(__atomic_load_n(&live_blocks, __ATOMIC_RELAXED) == blocks,
                  "%s: %ld blocks leaked", what,
                  __atomic_load_n(&live_blocks, __ATOMIC_RELAXED) - blocks);
    ck_assert_msg(__atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED) == bytes,
                  "%s: %ld bytes of mappings leaked", what,
                  __atomic_load_n(&mapped_bytes, __ATOMIC_RELAXED) - bytes);
    ck_assert_msg(!guards_overflow, "the test's table of guard pages is full");
}

/* How many calls the sequence counts with nothing failing; also checks
 * that it really exercises each kind of call and counts them the same way
 * twice. A first run settles the process-wide state: the pool's key
 * (pthread_once), how guard pages are made (the first MADV_GUARD_INSTALL is
 * checked). */
static long
count_calls(void)
{
    long first;

    run(0, 0, ALL_KINDS); /* settles the process-wide state */
    run(0, 0, ALL_KINDS);
    first = inj.calls;
    run(0, 0, ALL_KINDS);
    ck_assert_msg(inj.calls == first, "the sequence counted %ld calls, then %ld", first,
                  inj.calls);
    ck_assert_msg(inj.per_kind[K_MALLOC] > 0 && inj.per_kind[K_CALLOC] > 0 &&
                      inj.per_kind[K_REALLOC] > 0 && inj.per_kind[K_MMAP] > 0 &&
                      inj.per_kind[K_MADVISE] + inj.per_kind[K_MPROTECT] > 0 &&
                      inj.per_kind[K_SETSPECIFIC] > 0,
                  "a wrapped call was never counted: malloc %ld calloc %ld realloc %ld "
                  "mmap %ld madvise %ld mprotect %ld pthread_setspecific %ld",
                  inj.per_kind[K_MALLOC], inj.per_kind[K_CALLOC], inj.per_kind[K_REALLOC],
                  inj.per_kind[K_MMAP], inj.per_kind[K_MADVISE], inj.per_kind[K_MPROTECT],
                  inj.per_kind[K_SETSPECIFIC]);
    ck_assert_int_ge(inj.calls, 40);
    return inj.calls;
}

/* Fail each call of the sequence in turn, once. */
START_TEST(test_each_call_fails_once)
{
    long total = count_calls(), n;

    for (n = 1;; n++) {
        run(n, 0, ALL_KINDS);
        if (inj.injected == 0)
            break;
        ck_assert_int_eq(inj.injected, 1);
    }
    /* Every call up to the last one counted was failed. */
    ck_assert_int_eq(n, total + 1);
    printf("test-oom: failed each of %ld calls in turn: ", total);
    for (int k = 0; k < K_COUNT; k++)
        printf("%s%s %ld", k ? ", " : "", kind_name[k], inj.per_kind[k]);
    printf("\n");
}
END_TEST

/* Fail every call from the nth on: memory that does not come back. */
START_TEST(test_all_calls_fail_from_nth)
{
    long total = count_calls(), n, runs = 0;
    long step = total / 24 > 1 ? total / 24 : 1;

    for (n = 1; n <= total; n += n < 8 ? 1 : step) {
        run(n, 1, ALL_KINDS);
        ck_assert_int_ge(inj.injected, 1);
        runs++;
    }
    run(total, 1, ALL_KINDS);
    ck_assert_int_eq(inj.injected, 1);
    printf("test-oom: failed every call from the nth on, for %ld values of n\n", runs + 1);
}
END_TEST

/* Every call of one kind fails: a guard page is still made when
 * MADV_GUARD_INSTALL fails, and the run is complete; a stack that cannot
 * get its guard page is not made; without a thread-exit key the pool does
 * without (the run is complete) but coro_catch_overflow() fails, as the
 * signal stack could not be freed; a sequence without malloc, or without
 * mmap, fails cleanly. */
START_TEST(test_one_kind_fails)
{
    static const struct {
        unsigned kinds;
        int made_up; /* the library does without: the run is complete */
    } cases[] = {
        { KIND(K_MADVISE), 1 }, /* mprotect() makes the guard pages */
        { KIND(K_KEY_CREATE) | KIND(K_SETSPECIFIC), 1 }, /* no pool */
        { KIND(K_MADVISE) | KIND(K_MPROTECT), 0 },
        { KIND(K_MPROTECT), 0 },
        { KIND(K_MALLOC), 0 },
        { KIND(K_CALLOC), 0 },
        { KIND(K_REALLOC), 0 },
        { KIND(K_MMAP), 0 },
    };

    count_calls();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(1, 1, cases[i].kinds);
        if (cases[i].made_up)
            ck_assert_msg(enomem == R.no_catch && (!R.no_catch || i == 1) && !R.cancelled && R.sum == 204 && R.crowd_ran == 64,
                          "case %zu: %ld failures injected, %d calls failed with ENOMEM; "
                          "cancelled %d, sum %ld, crowd %d", i, inj.injected, enomem,
                          R.cancelled, R.sum, R.crowd_ran);
    }
}
END_TEST

static Suite *
oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc;

    tc = test_case("each call fails once");
    tcase_add_test(tc, test_each_call_fails_once);
    suite_add_tcase(s, tc);

    tc = test_case("all calls fail from the nth on");
    tcase_add_test(tc, test_all_calls_fail_from_nth);
    suite_add_tcase(s, tc);

    tc = test_case("one kind of call fails");
    tcase_add_test(tc, test_one_kind_fails);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(oom_suite)
