/*
 * The cost of switching and of a coroutine's life, for the switch backend
 * this program is linked with ('make bench' links it twice: against
 * lib/libcoro-ucontext.la and lib/libcoro-fast.la). Beside the library it
 * times, in the same process and interleaved run by run, a raw glibc
 * swapcontext() ping-pong and (x86_64) switches that save nothing but what
 * the ABI asks to keep: the floor any switch pays on this machine.
 *
 * Usage: bench-switch-BACKEND RUNS
 * Prints "switch NAME", then "KEY NS" records, each the median of RUNS runs
 * of about 0.1 s, in nanoseconds per operation:
 *   raw_swapcontext   swapcontext() there and back (two calls)
 *   floor             the register-only switch there and back (x86_64 only)
 *   floor_fp          the same keeping MXCSR and the x87 control word too
 *   roundtrip         coro_resume() + the coroutine's coro_yield()
 *   create_pooled     coro_create(default stack) + first coro_resume() running
 *                     to the end + coro_destroy(), the stack from the pool
 *   create_unpooled   the same with coro_stack_pool(0): a new stack each time
 *   sched_yield       two tasks on one scheduler taking turns with
 *                     coro_sched_yield(): per yield, that is per switch from
 *                     one task to the other; making and freeing the
 *                     scheduler and its two tasks is timed too, a few
 *                     microseconds in a run of about 0.1 s
 *   mutex_uncontended, mutex_handoff, cond, wg_done, recv1, select4:
 *                     the sync primitives and select (bench-sync.h); recv1
 *                     and select4, whose ratio is a target, alternate in
 *                     blocks as raw_swapcontext and roundtrip do (below)
 *   raw_ratio         raw_swapcontext / roundtrip, run by run (the median of
 *                     the runs' ratios). In each run these two alternate in
 *                     blocks of about 5 ms, so that the load of other
 *                     processes, which varies on that scale, falls on both.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include <coro.h>

#include "bench-coro.h"
#include "bench-sync.h"
#include "bench.h"

enum { RAW_STACK = 64 * 1024 };
#define RUN_NS ((int64_t)100000000) /* each run of each measurement, about */

/* The raw swapcontext() ping-pong. */
static ucontext_t raw_main, raw_co;

static void
raw_entry(void)
{
    for (;;)
        if (swapcontext(&raw_co, &raw_main) == -1)
            bench_fail("swapcontext");
}

static void
raw_body(uint64_t n, void *ctx)
{
    (void)ctx;
    for (uint64_t i = 0; i < n; i++)
        if (swapcontext(&raw_main, &raw_co) == -1)
            bench_fail("swapcontext");
}

static void
raw_init(void)
{
    if (getcontext(&raw_co) == -1)
        bench_fail("getcontext");
    raw_co.uc_stack.ss_sp = malloc(RAW_STACK);
    raw_co.uc_stack.ss_size = RAW_STACK;
    raw_co.uc_link = NULL;
    if (raw_co.uc_stack.ss_sp == NULL)
        bench_fail("malloc");
    makecontext(&raw_co, raw_entry, 0);
}

#if defined(__x86_64__)
/*
 * The floor: push the six callee-saved registers, swap stack pointers, pop
 * them, and jump to the saved return address (not ret, as in the library's
 * switch); no bookkeeping. The "fp" variant also keeps the MXCSR and the x87
 * control word, as the System V ABI asks and the library's switch does.
 */
#define FLOOR_SWITCH(name, save_fp, load_fp)                                   \
    ".text\n.globl " name "\n.hidden " name "\n.type " name ", @function\n"      \
    ".p2align 4\n" name ":\n"                                                   \
    "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n"                           \
    "    pushq %r13\n    pushq %r14\n    pushq %r15\n" save_fp                   \
    "    movq %rsp, (%rdi)\n    movq %rsi, %rsp\n" load_fp                       \
    "    popq %r15\n    popq %r14\n    popq %r13\n"                              \
    "    popq %r12\n    popq %rbx\n    popq %rbp\n"                              \
    "    popq %rcx\n    jmpq *%rcx\n"                                            \
    ".size " name ", .-" name "\n"
__asm__(FLOOR_SWITCH("bench_floor_switch", "", "")
        FLOOR_SWITCH("bench_floor_fp_switch",
                     "    subq $8, %rsp\n    stmxcsr (%rsp)\n    fnstcw 4(%rsp)\n",
                     "    ldmxcsr (%rsp)\n    fldcw 4(%rsp)\n    addq $8, %rsp\n"));
void bench_floor_switch(void **save_sp, void *load_sp) __attribute__((visibility("hidden")));
void bench_floor_fp_switch(void **save_sp, void *load_sp) __attribute__((visibility("hidden")));

struct floor {
    void (*sw)(void **save_sp, void *load_sp);
    void *main_sp, *co_sp;
    _Alignas(16) char stack[RAW_STACK];
};
static struct floor floor_regs = {.sw = bench_floor_switch};
static struct floor floor_fp = {.sw = bench_floor_fp_switch};
static struct floor *floor_starting; /* whom floor_entry() runs for */

static _Noreturn void
floor_entry(void)
{
    struct floor *f = floor_starting;

    for (;;)
        f->sw(&f->co_sp, f->main_sp);
}

static void
floor_body(uint64_t n, void *ctx)
{
    struct floor *f = ctx;

    floor_starting = f;
    for (uint64_t i = 0; i < n; i++)
        f->sw(&f->main_sp, f->co_sp);
}

/* A first frame that the pops of the switch turn into a jump to
 * floor_entry(), with the stack aligned as after a call. */
static void
floor_init(struct floor *f)
{
    int fp = f->sw == bench_floor_fp_switch;
    void **sp = (void **)(f->stack + sizeof f->stack - 64) - fp, **regs = sp + fp;

    if (fp) { /* MXCSR and x87 control word to load: the current ones */
        uint32_t words[2] = {0, 0};

        __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(words[0]), "=m"(words[1]));
        memcpy(sp, words, sizeof words);
    }
    for (int i = 0; i < 6; i++)
        regs[i] = NULL;            /* r15 ... rbp */
    regs[6] = (void *)floor_entry; /* where the first switch jumps */
    regs[7] = NULL;                /* floor_entry's return address: it never returns */
    f->co_sp = sp;
}
#define HAVE_FLOOR 1
#else
#define HAVE_FLOOR 0
#endif

static void
unpooled_body(uint64_t n, void *ctx)
{
    size_t old = coro_stack_pool(0);

    bench_life_body(n, ctx);
    coro_stack_pool(old);
}

/* Two tasks taking turns: n yields in all. Every yield must switch to the
 * other task, so the scheduler counts at least n switches into a task. */
static void *
yield_task(void *arg)
{
    const uint64_t *count = arg;

    for (uint64_t i = 0; i < *count; i++)
        if (coro_sched_yield() == -1)
            bench_fail("coro_sched_yield");
    return NULL;
}

static void
yield_body(uint64_t n, void *ctx)
{
    uint64_t counts[2] = {(n + 1) / 2, n / 2};
    coro_sched_t *s = coro_sched_create();

    (void)ctx;
    if (s == NULL)
        bench_fail("coro_sched_create");
    if (coro_spawn(s, yield_task, &counts[0], 0) == -1 ||
        coro_spawn(s, yield_task, &counts[1], 0) == -1)
        bench_fail("coro_spawn");
    if (coro_sched_run(s) == -1)
        bench_fail("coro_sched_run");
    if (coro_sched_switches(s) < n)
        bench_die("coro_sched_yield: %llu switches for %llu yields",
                  (unsigned long long)coro_sched_switches(s), (unsigned long long)n);
    if (coro_sched_destroy(s) == -1)
        bench_fail("coro_sched_destroy");
}

struct measure {
    const char *key;
    bench_body *body;
    void *ctx;
    uint64_t n;
    double *ns;    /* one per run */
    int with_next; /* timed in blocks alternating with the next one: their ratio counts */
};

enum { BLOCKS = 20 };

/* Run r of a and b, alternating BLOCKS times. */
static void
paired(struct measure *a, struct measure *b, size_t r)
{
    uint64_t na = a->n / BLOCKS + 1, nb = b->n / BLOCKS + 1;
    int64_t ta = 0, tb = 0;

    for (int i = 0; i < BLOCKS; i++) {
        int64_t t0 = bench_now(), t1;

        a->body(na, a->ctx);
        t1 = bench_now();
        b->body(nb, b->ctx);
        ta += t1 - t0;
        tb += bench_now() - t1;
    }
    a->ns[r] = (double)ta / (double)(na * BLOCKS);
    b->ns[r] = (double)tb / (double)(nb * BLOCKS);
}

int
main(int argc, char **argv)
{
    struct measure m[] = {
        {"raw_swapcontext", raw_body, NULL, 0, NULL, 1}, /* RAW and ROUNDTRIP */
        {"roundtrip", bench_roundtrip_body, NULL, 0, NULL, 0},
#if HAVE_FLOOR
        {"floor", floor_body, &floor_regs, 0, NULL, 0},
        {"floor_fp", floor_body, &floor_fp, 0, NULL, 0},
#endif
        {"create_pooled", bench_life_body, NULL, 0, NULL, 0},
        {"create_unpooled", unpooled_body, NULL, 0, NULL, 0},
        {"sched_yield", yield_body, NULL, 0, NULL, 0},
        {"mutex_uncontended", bench_mutex_uncontended_body, NULL, 0, NULL, 0},
        {"mutex_handoff", bench_mutex_handoff_body, NULL, 0, NULL, 0},
        {"cond", bench_cond_body, NULL, 0, NULL, 0},
        {"wg_done", bench_wg_done_body, NULL, 0, NULL, 0},
        {"recv1", bench_recv1_body, NULL, 0, NULL, 1},
        {"select4", bench_select4_body, NULL, 0, NULL, 0},
    };
    enum { RAW, ROUNDTRIP };
    size_t nm = sizeof m / sizeof *m, runs;
    double *ratio;
    coro_t *co;

    bench_name = "bench-switch";
    if (argc != 2) {
        fprintf(stderr, "usage: %s RUNS\n", argv[0]);
        return BENCH_USAGE;
    }
    runs = bench_arg(argv[1], 1);
    raw_init();
#if HAVE_FLOOR
    floor_init(&floor_regs);
    floor_init(&floor_fp);
#endif
    if ((co = coro_create(bench_echo, NULL, 0)) == NULL)
        bench_fail("coro_create");
    if (coro_resume(co, NULL, NULL) != 0) /* now waiting in coro_yield() */
        bench_fail("coro_resume");
    if ((ratio = calloc(runs, sizeof *ratio)) == NULL)
        bench_fail("calloc");
    m[ROUNDTRIP].ctx = co;
    for (size_t k = 0; k < nm; k++) {
        if ((m[k].ns = calloc(runs, sizeof *m[k].ns)) == NULL)
            bench_fail("calloc");
        m[k].n = bench_calibrate(m[k].body, m[k].ctx, RUN_NS); /* also warms up */
    }
    /* Interleaved, so that a slow spell of the machine hits every figure. */
    for (size_t r = 0; r < runs; r++) {
        for (size_t k = 0; k < nm; k++)
            if (m[k].with_next)
                paired(&m[k], &m[k + 1], r), k++;
            else
                m[k].ns[r] = bench_ns_per_op(m[k].body, m[k].ctx, m[k].n);
        ratio[r] = m[RAW].ns[r] / m[ROUNDTRIP].ns[r];
    }
    if (coro_destroy(co) == -1)
        bench_fail("coro_destroy");

    printf("switch %s\n", coro_switch_name());
    for (size_t k = 0; k < nm; k++) {
        printf("%s %.2f\n", m[k].key, bench_median(m[k].ns, runs));
        free(m[k].ns);
    }
    printf("raw_ratio %.4f\n", bench_median(ratio, runs));
    free(ratio);
    free(raw_co.uc_stack.ss_sp);
    if (fflush(stdout) == EOF)
        bench_fail("writing the output");
    return BENCH_OK;
}
