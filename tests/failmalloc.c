/*
 * A malloc() that can be told to fail: the test program's own definition
 * interposes the C library's for the whole process (libcoro included), and
 * forwards to glibc's __libc_malloc. free() needs no wrapper: every block
 * still comes from the C library's allocator.
 *
 * failmalloc_arm(n) makes the nth allocation from now fail once with ENOMEM.
 * Arm it immediately before the call under test: anything that allocates in
 * between (Check's own bookkeeping in ck_assert, stdio) counts too.
 *
 * Where interposing cannot work it is left out and failmalloc_supported()
 * says so: outside glibc, and under sanitizers, whose malloc/free must see
 * every block (forwarding to __libc_malloc would bypass them). valgrind
 * replaces even this malloc unless run with
 * --soname-synonyms=somalloc=nouserintercepts; test-close probes for that.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <sys/auxv.h>

#include "testutil.h"

#if defined(__GLIBC__) && !TEST_SANITIZED
#define FAILMALLOC 1
#else
#define FAILMALLOC 0
#endif

static long countdown; /* 0: disarmed */
static long failures;

/* In a statically linked program (no dynamic loader: AT_BASE is 0) the C
 * library's own malloc is linked in and wins over the weak one below. */
int
failmalloc_supported(void)
{
    return FAILMALLOC && getauxval(AT_BASE) != 0;
}

void
failmalloc_arm(long nth)
{
    __atomic_store_n(&countdown, nth > 0 ? nth : 0, __ATOMIC_SEQ_CST);
}

long
failmalloc_failures(void)
{
    return __atomic_load_n(&failures, __ATOMIC_SEQ_CST);
}

#if FAILMALLOC
extern void *__libc_malloc(size_t size);

/* Weak: in a static link, the C library's own malloc wins (and the tests
 * see that failures cannot be injected). */
__attribute__((weak)) void *
malloc(size_t size)
{
    long n = __atomic_load_n(&countdown, __ATOMIC_SEQ_CST);

    /* Count down without losing a race to another thread's allocation. */
    while (n > 0) {
        if (__atomic_compare_exchange_n(&countdown, &n, n - 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
            if (n == 1) {
                __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);
                errno = ENOMEM;
                return NULL;
            }
            break;
        }
    }
    return __libc_malloc(size);
}
#endif
