/*
 * coro-demo compare: the same producer/consumer workload with coroutines
 * (one scheduler, as in 'pairs') and with the "traditional" model the
 * tutorial criticises: two OS threads per pair handing each message over
 * through a one-slot mailbox guarded by a mutex and a condition variable.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <coro.h>

#include "demo.h"

/* Thread stacks: 64 KiB, or the platform's minimum when that is more
 * (128 KiB on aarch64). */
static size_t
thread_stack(void)
{
    long min = sysconf(_SC_THREAD_STACK_MIN);

    return min > 64 * 1024 ? (size_t)min : (size_t)64 * 1024;
}
enum { TICK = 1024 };      /* messages between two progress updates */
enum { MAX_LIST = 100 };   /* entries in --pairs */

/* A pthread call that cannot fail on objects we made; if it does anyway the
 * hand-over protocol is broken, so stop the process with the reason. */
static void
must(int rc, const char *fn)
{
    if (rc != 0) {
        fprintf(stderr, "coro-demo compare: %s: %s\n", fn, strerror(rc));
        exit(DEMO_FAIL);
    }
}

enum gate { GATE_WAIT, GATE_GO, GATE_ABORT };

struct trun {
    pthread_mutex_t mu;
    pthread_cond_t cv;  /* the start gate, and "the last consumer finished" */
    enum gate gate;
    uint64_t messages;
    uint64_t left;      /* consumers still running */
    int64_t end_ns;     /* when the last one finished */
    uint64_t sent;      /* progress, updated every TICK messages (atomic) */
};

/* One slot; at most one of the two threads ever waits on cv (the producer
 * when it is full, the consumer when it is empty), so signal is enough. */
struct mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t value;
    int full;
};

struct tpair {
    struct trun *run;
    struct mailbox box;
    int inited;          /* box's mutex and cond exist */
    int threads;         /* created: 0, 1 (consumer) or 2 */
    pthread_t consumer, producer;
    uint64_t received, sum;
};

/* Wait at the gate: 1 to go, 0 when the run was called off. */
static int
gate_wait(struct trun *r)
{
    enum gate g;

    must(pthread_mutex_lock(&r->mu), "pthread_mutex_lock");
    while (r->gate == GATE_WAIT)
        must(pthread_cond_wait(&r->cv, &r->mu), "pthread_cond_wait");
    g = r->gate;
    must(pthread_mutex_unlock(&r->mu), "pthread_mutex_unlock");
    return g == GATE_GO;
}

static void
box_put(struct mailbox *b, uint64_t n)
{
    must(pthread_mutex_lock(&b->mu), "pthread_mutex_lock");
    while (b->full)
        must(pthread_cond_wait(&b->cv, &b->mu), "pthread_cond_wait");
    b->value = n;
    b->full = 1;
    must(pthread_cond_signal(&b->cv), "pthread_cond_signal");
    must(pthread_mutex_unlock(&b->mu), "pthread_mutex_unlock");
}

static uint64_t
box_take(struct mailbox *b)
{
    uint64_t n;

    must(pthread_mutex_lock(&b->mu), "pthread_mutex_lock");
    while (!b->full)
        must(pthread_cond_wait(&b->cv, &b->mu), "pthread_cond_wait");
    n = b->value;
    b->full = 0;
    must(pthread_cond_signal(&b->cv), "pthread_cond_signal");
    must(pthread_mutex_unlock(&b->mu), "pthread_mutex_unlock");
    return n;
}

static void *
producer_thread(void *arg)
{
    struct tpair *p = arg;
    struct trun *r = p->run;

    if (!gate_wait(r))
        return NULL;
    for (uint64_t n = 1; n <= r->messages; n++) {
        box_put(&p->box, n);
        if (n % TICK == 0)
            __atomic_fetch_add(&r->sent, TICK, __ATOMIC_RELAXED);
    }
    box_put(&p->box, 0); /* the end, as in the tutorial's "if not n: return" */
    return NULL;
}

static void *
consumer_thread(void *arg)
{
    struct tpair *p = arg;
    struct trun *r = p->run;
    uint64_t n;

    if (!gate_wait(r))
        return NULL;
    while ((n = box_take(&p->box)) != 0) {
        p->received++;
        p->sum += n;
    }
    must(pthread_mutex_lock(&r->mu), "pthread_mutex_lock");
    if (--r->left == 0) {
        r->end_ns = coro_now();
        must(pthread_cond_signal(&r->cv), "pthread_cond_signal");
    }
    must(pthread_mutex_unlock(&r->mu), "pthread_mutex_unlock");
    return NULL;
}

/* What one run of N pairs gives. */
struct outcome {
    int ran;        /* it ran (else why says why not) */
    int ok;         /* every message arrived */
    double rate;    /* messages per second */
    char why[160];
};

static uint64_t
expected_sum(uint64_t m)
{
    return m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
}

static void
open_gate(struct trun *r, enum gate g)
{
    must(pthread_mutex_lock(&r->mu), "pthread_mutex_lock");
    r->gate = g;
    must(pthread_cond_broadcast(&r->cv), "pthread_cond_broadcast");
    must(pthread_mutex_unlock(&r->mu), "pthread_mutex_unlock");
}

/* Wait for the last consumer, drawing the progress line meanwhile. */
static void
wait_done(struct trun *r, struct demo_progress *pg)
{
    for (;;) {
        struct timespec ts;
        uint64_t left;
        int rc = 0;

        if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
            fprintf(stderr, "coro-demo compare: clock_gettime: %s\n", strerror(errno));
            exit(DEMO_FAIL);
        }
        ts.tv_nsec += 250000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        must(pthread_mutex_lock(&r->mu), "pthread_mutex_lock");
        while (r->left > 0 && rc == 0)
            rc = pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        left = r->left;
        must(pthread_mutex_unlock(&r->mu), "pthread_mutex_unlock");
        if (rc != 0 && rc != ETIMEDOUT)
            must(rc, "pthread_cond_timedwait");
        if (left == 0)
            return;
        demo_progress_update(pg, __atomic_load_n(&r->sent, __ATOMIC_RELAXED));
    }
}

/* N pairs of threads; creating them all is part of the setup, not timed. */
static void
run_threads(uint64_t npairs, uint64_t messages, struct outcome *o)
{
    struct trun r = {.messages = messages, .left = npairs};
    struct tpair *pairs = NULL;
    pthread_attr_t attr;
    pthread_condattr_t ca;
    struct demo_progress pg;
    char label[80];
    uint64_t i, want = expected_sum(messages), bad = 0, received = 0;
    const char *fn = "";
    int64_t start = 0;
    int rc;

    if ((rc = pthread_attr_init(&attr)) != 0) {
        snprintf(o->why, sizeof o->why, "pthread_attr_init: %s", strerror(rc));
        return;
    }
    if ((rc = pthread_attr_setstacksize(&attr, thread_stack())) != 0) {
        snprintf(o->why, sizeof o->why, "pthread_attr_setstacksize: %s", strerror(rc));
        goto out_attr;
    }
    /* The main thread's timed wait (for the progress line) is on the monotonic clock. */
    if ((rc = pthread_condattr_init(&ca)) != 0) {
        snprintf(o->why, sizeof o->why, "pthread_condattr_init: %s", strerror(rc));
        goto out_attr;
    }
    fn = "pthread_condattr_setclock";
    if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0) {
        fn = "pthread_cond_init";
        rc = pthread_cond_init(&r.cv, &ca);
    }
    if (rc != 0) {
        snprintf(o->why, sizeof o->why, "%s: %s", fn, strerror(rc));
        must(pthread_condattr_destroy(&ca), "pthread_condattr_destroy");
        goto out_attr;
    }
    must(pthread_condattr_destroy(&ca), "pthread_condattr_destroy");
    if ((rc = pthread_mutex_init(&r.mu, NULL)) != 0) {
        snprintf(o->why, sizeof o->why, "pthread_mutex_init: %s", strerror(rc));
        goto out_cv;
    }
    if ((pairs = calloc(npairs, sizeof *pairs)) == NULL) {
        snprintf(o->why, sizeof o->why, "calloc: %s", strerror(errno));
        goto out_mu;
    }
    for (i = 0; i < npairs; i++) {
        struct tpair *p = &pairs[i];

        p->run = &r;
        fn = "pthread_mutex_init";
        if ((rc = pthread_mutex_init(&p->box.mu, NULL)) != 0)
            break;
        fn = "pthread_cond_init";
        if ((rc = pthread_cond_init(&p->box.cv, NULL)) != 0) {
            must(pthread_mutex_destroy(&p->box.mu), "pthread_mutex_destroy");
            break;
        }
        p->inited = 1;
        fn = "pthread_create";
        if ((rc = pthread_create(&p->consumer, &attr, consumer_thread, p)) != 0)
            break;
        p->threads = 1;
        if ((rc = pthread_create(&p->producer, &attr, producer_thread, p)) != 0)
            break;
        p->threads = 2;
    }
    if (i < npairs) {
        snprintf(o->why, sizeof o->why, "%s: %s (after %" PRIu64 " of %" PRIu64 " threads)",
                 fn, strerror(rc), 2 * i + (uint64_t)pairs[i].threads, 2 * npairs);
        open_gate(&r, GATE_ABORT);
    } else {
        snprintf(label, sizeof label, "compare %" PRIu64 " pairs, threads", npairs);
        demo_progress_init(&pg, label, "messages", npairs * messages);
        start = coro_now();
        open_gate(&r, GATE_GO);
        wait_done(&r, &pg);
        demo_progress_clear(&pg);
        o->ran = 1;
    }
    for (i = 0; i < npairs && pairs[i].inited; i++) {
        struct tpair *p = &pairs[i];

        if (p->threads >= 1)
            must(pthread_join(p->consumer, NULL), "pthread_join");
        if (p->threads == 2)
            must(pthread_join(p->producer, NULL), "pthread_join");
        must(pthread_cond_destroy(&p->box.cv), "pthread_cond_destroy");
        must(pthread_mutex_destroy(&p->box.mu), "pthread_mutex_destroy");
        received += p->received;
        if (o->ran && (p->received != messages || p->sum != want))
            bad++;
    }
    o->ok = o->ran && bad == 0;
    if (o->ran)
        o->rate = demo_rate(received, r.end_ns - start);
    if (bad)
        fprintf(stderr, "coro-demo compare: threads: %" PRIu64 " of %" PRIu64
                        " pairs lost messages\n", bad, npairs);
    free(pairs);
out_mu:
    must(pthread_mutex_destroy(&r.mu), "pthread_mutex_destroy");
out_cv:
    must(pthread_cond_destroy(&r.cv), "pthread_cond_destroy");
out_attr:
    must(pthread_attr_destroy(&attr), "pthread_attr_destroy");
}

static void
run_coroutines(const struct demo_work *w, struct outcome *o)
{
    char label[80];
    struct demo_progress pg;
    struct demo_hooks h = {.who = "compare", .progress = &pg};
    struct demo_result res;
    int rc;

    snprintf(label, sizeof label, "compare %" PRIu64 " pairs, coroutines", w->pairs);
    demo_progress_init(&pg, label, "messages", w->pairs * w->messages);
    rc = demo_run_coroutines(w, &h, &res);
    demo_progress_clear(&pg);
    if (res.failed) {
        snprintf(o->why, sizeof o->why, "coroutines failed (see above)");
        return;
    }
    o->ran = 1;
    o->ok = rc == 0;
    o->rate = demo_rate(res.received, res.end_ns - res.start_ns);
}

static void
usage(FILE *f)
{
    fputs("Usage: coro-demo compare [--pairs N[,N...]] [--messages M]\n"
          "                         [--style generator|channel] [--capacity K]\n"
          "\n"
          "Runs the same producer/consumer workload twice for each N and prints one\n"
          "table row per N with both rates and their ratio:\n"
          "  coroutines  N pairs on one scheduler, exactly as 'coro-demo pairs' runs\n"
          "              them (generator style by default: each message is a\n"
          "              coro_resume()/coro_yield() round trip, \"200 OK\" back);\n"
          "  threads     2 OS threads per pair (2N threads, 64 KiB stacks) handing\n"
          "              each message over through a one-slot mailbox guarded by a\n"
          "              mutex and a condition variable: the \"traditional\" model.\n"
          "Both check every message (count and sum of 1..M per pair), and both time\n"
          "only the exchange, after every pair (or thread) exists. The ratio is the\n"
          "coroutine rate over the thread rate. When the system cannot create 2N\n"
          "threads the row says so (pthread_create's error) and the next N runs.\n"
          "\n"
          "  --pairs LIST    pair counts, comma-separated (default 1,10,100,1000;\n"
          "                  each at most 10000000, at most 100 of them)\n"
          "  --messages M    messages per pair (default 1000; at most 10^12)\n"
          "  --style S       the coroutines' style, as in 'coro-demo pairs --help'\n"
          "                  (default generator)\n"
          "  --capacity K    their channels' capacity, channel style only (default 0)\n"
          "  --help          show this help and exit\n"
          "\n"
          "A progress line is drawn on stderr after 2 s, only when it is a terminal.\n"
          "Exit status: 0 when every run that could be set up delivered every message,\n"
          "1 otherwise, 2 for bad arguments. A row whose threads (or coroutines) could\n"
          "not be created does not change the exit status.\n",
          f);
}

static int
bad_usage(void)
{
    return demo_bad_usage("compare");
}

static void
print_rate(const struct outcome *o)
{
    if (o->ran)
        printf(" %16.0f", o->rate);
    else
        printf(" %16s", "-");
}

int
demo_compare(int argc, char **argv)
{
    struct demo_work w = {.messages = 1000, .style = DEMO_GENERATOR};
    static const uint64_t default_list[] = {1, 10, 100, 1000};
    uint64_t *list = NULL, cap = 0;
    size_t nlist = 0;
    int have_cap = 0, all_ok = 1;
    char style[64];

    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(list);
            return DEMO_OK;
        }
        if ((k = demo_opt("compare", argc, argv, &i, "--pairs", &v)) != 0) {
            free(list);
            list = NULL;
            if (k == -1 ||
                demo_parse_list("compare", "--pairs", v, 1, DEMO_MAX_PAIRS, &list, &nlist))
                return bad_usage();
            if (nlist > MAX_LIST) {
                demo_error("compare", "--pairs: at most %d pair counts", MAX_LIST);
                free(list);
                return bad_usage();
            }
            continue;
        }
        if ((k = demo_opt("compare", argc, argv, &i, "--messages", &v)) != 0) {
            if (k == -1 ||
                demo_parse_u64("compare", "--messages", v, 1, DEMO_MAX_MESSAGES, &w.messages))
                goto bad;
        } else if ((k = demo_opt("compare", argc, argv, &i, "--style", &v)) != 0) {
            if (k == -1 || demo_parse_style("compare", v, &w.style) == -1)
                goto bad;
        } else if ((k = demo_opt("compare", argc, argv, &i, "--capacity", &v)) != 0) {
            if (k == -1 ||
                demo_parse_u64("compare", "--capacity", v, 0, DEMO_MAX_CAPACITY, &cap))
                goto bad;
            have_cap = 1;
        } else {
            demo_error("compare", "unknown argument '%s'", argv[i]);
            goto bad;
        }
    }
    if (have_cap && w.style != DEMO_CHANNEL) {
        demo_error("compare", "--capacity needs --style channel");
        goto bad;
    }
    w.capacity = (size_t)cap;

    printf("compare: %" PRIu64 " messages per pair; coroutines: %s on one scheduler; "
           "threads: 2 per pair, one-slot mailbox (mutex + condition variable), "
           "%zu KiB stacks\n",
           w.messages, demo_style_name(&w, style, sizeof style), thread_stack() / 1024);
    printf("%8s %16s %16s %8s  %s\n", "pairs", "coroutines msg/s", "threads msg/s", "ratio",
           "every message arrived");
    fflush(stdout);
    for (size_t i = 0; i < (list ? nlist : sizeof default_list / sizeof *default_list); i++) {
        struct outcome co = {0}, th = {0};

        w.pairs = list ? list[i] : default_list[i];
        run_coroutines(&w, &co);
        run_threads(w.pairs, w.messages, &th);
        printf("%8" PRIu64, w.pairs);
        print_rate(&co);
        print_rate(&th);
        if (co.ran && th.ran && th.rate > 0)
            printf(" %7.1fx", co.rate / th.rate);
        else
            printf(" %8s", "-");
        if ((co.ran && !co.ok) || (th.ran && !th.ok))
            all_ok = 0;
        printf("  %s", !co.ran && !th.ran                             ? "-"
                       : (!co.ran || co.ok) && (!th.ran || th.ok) ? "yes"
                                                                  : "no");
        if (!co.ran)
            printf("; coroutines: %s", co.why);
        if (!th.ran)
            printf("; threads: %s", th.why);
        printf("\n");
        if (fflush(stdout) == EOF)
            break;
    }
    free(list);
    if (ferror(stdout) || fflush(stdout) == EOF) {
        demo_error("compare", "writing the output: %s", strerror(errno));
        return DEMO_FAIL;
    }
    return all_ok ? DEMO_OK : DEMO_FAIL;
bad:
    free(list);
    return bad_usage();
}
