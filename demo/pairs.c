/*
 * coro-demo pairs: the tutorial's producer/consumer at scale. N pairs run
 * interleaved on one round-robin scheduler; with --procs P, P forked worker
 * processes each run a share of the pairs on their own scheduler (the
 * tutorial's "multi-process + coroutine" answer to multi-core) and report to
 * the parent through a pipe (procs.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <coro.h>

#include "demo.h"

static const char ok_reply[] = "200 OK";

enum { TICK = 1024 };      /* messages between two looks at the clock */
enum { MAX_PROCS = 1024 }; /* also keeps the "go" bytes within PIPE_BUF */

/* Producers may draw the progress line (snprintf); consumers call nothing big. */
#define PRODUCER_STACK ((size_t)64 * 1024)
#define CONSUMER_STACK CORO_STACK_MIN

struct run;

struct pair {
    struct run *run;
    coro_t *consumer;   /* generator style: a plain coroutine the producer resumes */
    coro_chan_t *chan;  /* channel style */
    uint64_t received, sum, bad_replies;
    const char *err_fn; /* the first call that failed, or NULL */
    int err;
};

struct run {
    const struct demo_work *w;
    const struct demo_hooks *h;
    struct pair *pairs;
    uint64_t sent;    /* messages sent so far, every pair */
    uint64_t resumes; /* round trips into consumer coroutines (generator style) */
};

static void
fail(struct pair *p, const char *fn)
{
    if (p->err_fn == NULL) {
        p->err_fn = fn;
        p->err = errno;
    }
}

enum phase { SET_UP, SENT, FREED };

/* Publish a count, for a parent through shared memory, or draw it here. */
static void
publish(const struct demo_hooks *h, enum phase ph, uint64_t count)
{
    if (h->shared) {
        struct demo_shared *sh = h->shared;
        uint64_t *f = ph == SET_UP ? &sh->set_up : ph == SENT ? &sh->sent : &sh->freed;

        __atomic_store_n(f, count, __ATOMIC_RELAXED);
    }
    if (h->progress)
        demo_progress_update(h->progress, count);
}

/* After each message: publish progress every TICK messages. */
static void
tick(struct run *r)
{
    if (++r->sent % TICK == 0)
        publish(r->h, SENT, r->sent);
}

/*
 * Generator style: the tutorial's consumer (n = yield r) and producer
 * (r = c.send(n)), except that the producer is a task and lets the other
 * pairs run after each message.
 */
static void *
consumer_gen(void *arg)
{
    struct pair *p = arg;
    const char *r = "";

    for (;;) {
        uintptr_t n = (uintptr_t)coro_yield((void *)r);

        if (!n)
            return NULL;
        p->received++;
        p->sum += n;
        r = ok_reply;
    }
}

static void *
producer_gen(void *arg)
{
    struct pair *p = arg;
    struct run *r = p->run;
    void *reply;

    if (coro_resume(p->consumer, NULL, NULL) != 0) { /* c.send(None) */
        fail(p, "coro_resume");
        return NULL;
    }
    r->resumes++;
    for (uint64_t n = 1; n <= r->w->messages; n++) {
        int rc = coro_resume(p->consumer, (void *)(uintptr_t)n, &reply);

        if (rc != 0) {
            if (rc == 1) /* the consumer returned: cannot happen for n != 0 */
                errno = ESRCH;
            fail(p, "coro_resume");
            break;
        }
        r->resumes++;
        if (reply != (void *)ok_reply)
            p->bad_replies++;
        tick(r);
        if (coro_sched_yield() == -1) {
            fail(p, "coro_sched_yield");
            break;
        }
    }
    if (coro_status(p->consumer) == CORO_SUSPENDED)
        r->resumes++; /* closing it switches in once more to unwind it */
    if (coro_close(p->consumer) == -1) /* c.close() */
        fail(p, "coro_close");
    return NULL;
}

/* Channel style: a producer task and a consumer task per pair. */
static void *
producer_chan(void *arg)
{
    struct pair *p = arg;
    struct run *r = p->run;

    for (uint64_t n = 1; n <= r->w->messages; n++) {
        if (coro_chan_send(p->chan, &n) == -1) {
            fail(p, "coro_chan_send");
            break;
        }
        tick(r);
    }
    if (coro_chan_close(p->chan) == -1) /* the consumer drains it, then gets EPIPE */
        fail(p, "coro_chan_close");
    return NULL;
}

static void *
consumer_chan(void *arg)
{
    struct pair *p = arg;
    uint64_t n;

    for (;;) {
        if (coro_chan_recv(p->chan, &n) == -1) {
            if (errno != EPIPE) /* EPIPE: closed and drained, the normal end */
                fail(p, "coro_chan_recv");
            return NULL;
        }
        p->received++;
        p->sum += n;
    }
}

/* 1 + 2 + ... + m, modulo 2^64 like the consumers' sums. */
static uint64_t
expected_sum(uint64_t m)
{
    return m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2);
}

static int
setup_pair(coro_sched_t *s, struct pair *p, const struct demo_work *w, const char **fn)
{
    if (w->style == DEMO_GENERATOR) {
        *fn = "coro_create";
        if ((p->consumer = coro_create(consumer_gen, p, CONSUMER_STACK)) == NULL)
            return -1;
        *fn = "coro_spawn";
        return coro_spawn(s, producer_gen, p, PRODUCER_STACK);
    }
    *fn = "coro_chan_create";
    if ((p->chan = coro_chan_create(sizeof(uint64_t), w->capacity)) == NULL)
        return -1;
    *fn = "coro_spawn";
    if (coro_spawn(s, producer_chan, p, PRODUCER_STACK) == -1)
        return -1;
    return coro_spawn(s, consumer_chan, p, CONSUMER_STACK);
}

/* Free what the pairs own; the scheduler (already destroyed) freed the tasks. */
static int
free_pairs(const struct demo_hooks *h, struct pair *pairs, uint64_t n)
{
    const char *who = h->who;
    int rc = 0;

    if (h->progress)
        demo_progress_phase(h->progress, "pairs freed", n);
    for (uint64_t i = 0; i < n; i++) {
        if ((i + 1) % TICK == 0)
            publish(h, FREED, i + 1);
        if (coro_destroy(pairs[i].consumer) == -1) {
            demo_error(who, "coro_destroy: %s", strerror(errno));
            rc = -1;
        }
        if (coro_chan_destroy(pairs[i].chan) == -1) {
            demo_error(who, "coro_chan_destroy: %s", strerror(errno));
            rc = -1;
        }
    }
    free(pairs);
    return rc;
}

/* Check every pair's count, sum and replies; report the first few errors. */
static void
check_pairs(const char *who, const struct run *r, struct demo_result *res)
{
    uint64_t want = expected_sum(r->w->messages), reported = 0;

    for (uint64_t i = 0; i < r->w->pairs; i++) {
        const struct pair *p = &r->pairs[i];

        res->received += p->received;
        if (p->err_fn && reported++ < 5)
            demo_error(who, "pair %" PRIu64 ": %s: %s", i + 1, p->err_fn, strerror(p->err));
        if (p->err_fn || p->received != r->w->messages || p->sum != want || p->bad_replies)
            res->bad_pairs++;
    }
    if (reported > 5)
        demo_error(who, "... and %" PRIu64 " more pairs failed", reported - 5);
}

int
demo_run_coroutines(const struct demo_work *w, const struct demo_hooks *h,
                    struct demo_result *res)
{
    struct run r = {.w = w, .h = h};
    coro_sched_t *s;
    uint64_t i;
    int64_t t0;
    const char *fn = "calloc";

    *res = (struct demo_result){.pairs = w->pairs, .expected = w->pairs * w->messages,
                                .maxrss_kib = -1};
    t0 = coro_now();
    s = coro_sched_create();
    if (s == NULL) {
        demo_error(h->who, "coro_sched_create: %s", strerror(errno));
        res->failed = 1;
        return -1;
    }
    /* Every pair exists before anything runs. */
    if (h->progress)
        demo_progress_phase(h->progress, "pairs set up", w->pairs);
    r.pairs = calloc(w->pairs, sizeof *r.pairs);
    for (i = 0; r.pairs != NULL && i < w->pairs; i++) {
        r.pairs[i].run = &r;
        if (setup_pair(s, &r.pairs[i], w, &fn) == -1)
            break;
        if ((i + 1) % TICK == 0)
            publish(h, SET_UP, i + 1);
    }
    if (r.pairs == NULL || i < w->pairs) {
        demo_error(h->who, "setting up pair %" PRIu64 " of %" PRIu64 ": %s: %s", i + 1,
                   w->pairs, fn, strerror(errno));
        res->failed = 1;
    }
    res->setup_ns = coro_now() - t0;
    if (!res->failed && h->ready && h->ready(h->ctx) == -1)
        res->failed = 1; /* stopped by the caller, who says why */
    if (!res->failed) {
        if (h->progress)
            demo_progress_phase(h->progress, "messages", w->pairs * w->messages);
        res->start_ns = coro_now();
        /* No wait group: coro_sched_run() returns once every task has
         * ended, which is the whole wait here. A coro_wg_t is for a task
         * that waits for others while the rest of the program goes on
         * (coro_wg_create(3)); it would add a task and a coro_wg_done()
         * per pair to what the demo measures. */
        if (coro_sched_run(s) == -1) {
            demo_error(h->who, "coro_sched_run: %s", strerror(errno));
            res->failed = 1;
        }
        res->end_ns = coro_now();
        publish(h, SENT, r.sent);
        res->switches = 2 * (coro_sched_switches(s) + r.resumes);
        res->maxrss_kib = demo_maxrss_kib();
        check_pairs(h->who, &r, res);
    }
    if (coro_sched_destroy(s) == -1) {
        demo_error(h->who, "coro_sched_destroy: %s", strerror(errno));
        res->failed = 1;
    }
    if (r.pairs && free_pairs(h, r.pairs, w->pairs) == -1)
        res->failed = 1;
    return res->failed || res->bad_pairs || res->received != res->expected ? -1 : 0;
}

const char *
demo_style_name(const struct demo_work *w, char *buf, size_t size)
{
    if (w->style == DEMO_GENERATOR)
        snprintf(buf, size, "generator style");
    else if (w->capacity == 0)
        snprintf(buf, size, "channel style (capacity 0: rendezvous)");
    else
        snprintf(buf, size, "channel style (capacity %zu)", w->capacity);
    return buf;
}

int
demo_parse_style(const char *mode, const char *s, enum demo_style *out)
{
    if (strcmp(s, "generator") == 0)
        *out = DEMO_GENERATOR;
    else if (strcmp(s, "channel") == 0)
        *out = DEMO_CHANNEL;
    else {
        demo_error(mode, "--style '%s': must be generator or channel", s);
        return -1;
    }
    return 0;
}

/*
 * The command: options, then one run in this process (--procs 1) or P
 * workers, then the per-worker lines and the summary.
 */
static void
usage(FILE *f)
{
    fputs("Usage: coro-demo pairs [--pairs N] [--messages M] [--style generator|channel]\n"
          "                       [--capacity K] [--procs P]\n"
          "\n"
          "Runs N producer/consumer pairs interleaved on one round-robin scheduler and\n"
          "checks that every message arrives. All pairs are created before the run.\n"
          "\n"
          "  --pairs N       producer/consumer pairs (default 1000; at most 10000000)\n"
          "  --messages M    messages per pair: each producer sends 1, 2, ..., M\n"
          "                  (default 100; at most 10^12)\n"
          "  --style S       generator (default): the tutorial's model at scale. Each\n"
          "                  producer task drives its own consumer coroutine: it sends n\n"
          "                  with coro_resume() (Python's c.send(n)), the consumer's\n"
          "                  'n = coro_yield(r)' hands back \"200 OK\", and the producer\n"
          "                  then coro_sched_yield()s so that all pairs interleave.\n"
          "                  channel: a producer task and a consumer task per pair,\n"
          "                  joined by a channel of capacity K.\n"
          "  --capacity K    the channels' capacity, channel style only (default 0:\n"
          "                  rendezvous; at most 1000000)\n"
          "  --procs P       fork P worker processes, each with its own scheduler, and\n"
          "                  split the pairs between them as evenly as possible (the\n"
          "                  tutorial's \"multi-process + coroutine\"); the parent collects\n"
          "                  their results through pipes. 0: one per online CPU. More\n"
          "                  workers than pairs are cut to one per pair. Default 1: run\n"
          "                  in this process, without forking. At most 1024.\n"
          "  --help          show this help and exit\n"
          "\n"
          "Checking: each consumer counts its messages and sums them (1 + ... + M); in\n"
          "generator style the producer also checks every reply.\n"
          "Stacks: 64 KiB for producer tasks (room for the progress line), 16 KiB\n"
          "(CORO_STACK_MIN) for consumers; only the pages a stack touches use memory.\n"
          "\n"
          "Output: one line per worker, then the summary:\n"
          "  elapsed             the run only (coro_sched_run()), not the setup; with\n"
          "                      several workers, from the first worker's start to the\n"
          "                      last one's end (they start together once all are set up)\n"
          "  messages/s          messages that arrived / elapsed\n"
          "  context switches/s  switches between stacks / elapsed, counted, not assumed:\n"
          "                      each switch of the scheduler into a task\n"
          "                      (coro_sched_switches()) counts 2, into the task and back\n"
          "                      out of it; in generator style each coro_resume() or\n"
          "                      coro_close() of a consumer coroutine counts 2 as well\n"
          "                      (in, and back out at its coro_yield() or end)\n"
          "  peak RSS            getrusage(RUSAGE_SELF).ru_maxrss of each process; the\n"
          "                      total is the sum over the workers\n"
          "Each worker line also gives its setup time (creating its pairs).\n"
          "\n"
          "A progress line is drawn on stderr after 2 s, only when it is a terminal.\n"
          "Exit status: 0 when every message arrived, 1 when any was lost or anything\n"
          "failed, 2 for bad arguments.\n",
          f);
}

static int
bad_usage(void)
{
    return demo_bad_usage("pairs");
}

struct totals {
    unsigned reported; /* workers that gave their figures */
    uint64_t pairs, expected, received, bad_pairs, switches;
    int64_t start, end, setup;
    long rss_kib;
    int rss_known, ok;
};

static void
add_result(struct totals *t, const struct demo_result *res)
{
    t->reported++;
    t->received += res->received;
    t->switches += res->switches;
    if (t->start == 0 || res->start_ns < t->start)
        t->start = res->start_ns;
    if (res->end_ns > t->end)
        t->end = res->end_ns;
    if (res->setup_ns > t->setup)
        t->setup = res->setup_ns;
    if (res->maxrss_kib >= 0)
        t->rss_kib += res->maxrss_kib;
    else
        t->rss_known = 0;
}

/* One worker's line: its figures, or status when it has none to give. */
static void
print_worker(unsigned i, unsigned procs, long pid, uint64_t pairs,
             const struct demo_result *res, const char *status)
{
    int64_t ns = res->end_ns - res->start_ns;

    printf("worker %u/%u (pid %ld): %" PRIu64 " pair%s", i + 1, procs, pid, pairs,
           pairs == 1 ? "" : "s");
    if (status != NULL) {
        printf(": %s\n", status);
        return;
    }
    printf(", %" PRIu64 "/%" PRIu64 " messages, setup %.3f s, run %.3f s, %.0f msg/s, "
           "%.0f switches/s, peak RSS %.1f MiB: ",
           res->received, res->expected, demo_sec(res->setup_ns), demo_sec(ns),
           demo_rate(res->received, ns), demo_rate(res->switches, ns),
           demo_mib(res->maxrss_kib));
    if (res->bad_pairs)
        printf("%" PRIu64 " messages lost, %" PRIu64 " pairs wrong\n",
               res->expected - res->received, res->bad_pairs);
    else
        printf("ok\n");
}

static void
print_summary(const struct demo_work *w, unsigned procs, const struct totals *t)
{
    int64_t ns = t->end - t->start;
    char style[64];

    printf("summary: %" PRIu64 " pairs x %" PRIu64 " messages, %s, %u worker%s\n", t->pairs,
           w->messages, demo_style_name(w, style, sizeof style), procs, procs == 1 ? "" : "s");
    printf("  messages:              %" PRIu64 " of %" PRIu64 " arrived\n", t->received,
           t->expected);
    if (t->reported == 0) { /* no worker ran: no figures to give */
        printf("  elapsed:               -\n"
               "  messages/s:            -\n"
               "  context switches/s:    -\n"
               "  peak RSS:              -\n");
    } else {
        printf("  elapsed:               %.3f s (the run; setup took %.3f s before it)\n",
               demo_sec(ns), demo_sec(t->setup));
        printf("  messages/s:            %.0f\n", demo_rate(t->received, ns));
        printf("  context switches/s:    %.0f (%" PRIu64 " switches)\n",
               demo_rate(t->switches, ns), t->switches);
        if (t->rss_known)
            printf("  peak RSS:              %.1f MiB%s\n", demo_mib(t->rss_kib),
                   procs > 1 ? " (sum over the workers that reported)" : "");
        else
            printf("  peak RSS:              unknown\n");
    }
    printf("  every message arrived: %s\n", t->ok ? "yes" : "no");
}

/* --procs 1: everything in this process; the producers draw the progress line. */
static int
run_here(const struct demo_work *w, struct totals *t)
{
    struct demo_progress pg;
    struct demo_hooks h = {.who = "pairs", .progress = &pg};
    struct demo_result res;
    int rc;

    demo_progress_init(&pg, "pairs", "messages", w->pairs * w->messages);
    rc = demo_run_coroutines(w, &h, &res);
    demo_progress_clear(&pg);
    if (res.failed) {
        print_worker(0, 1, (long)getpid(), w->pairs, &res, "failed (see above)");
    } else {
        add_result(t, &res);
        print_worker(0, 1, (long)getpid(), w->pairs, &res, NULL);
    }
    return rc;
}

/*
 * --procs P, on the worker processes of procs.c. Protocol, one pipe per
 * worker plus a shared "go" pipe: a worker sets up its pairs and sends a
 * 'R' (ready) record; once every worker is ready the parent writes one 'g'
 * per worker on the go pipe, so that all start together; each then sends a
 * 'D' (done) record with its result and exits 0 when nothing was lost. A
 * worker that fails before the start sends 'D' at once; the parent then
 * closes the go pipe without writing, and every worker reads EOF and stops.
 * The producers publish their progress in a shared mapping, which the
 * parent draws.
 */
struct record {
    char tag; /* 'R' ready, 'D' done */
    struct demo_result res;
};

enum wstate { W_SETUP, W_READY, W_DONE, W_GONE };

struct worker {
    enum wstate state;
    int done;      /* a 'D' record arrived */
    int was_ready; /* an 'R' record arrived */
    struct record rec;
    uint64_t pairs;
};

/* What a worker is given, in the child. */
struct child {
    const struct demo_work *w;
    unsigned procs;
    const struct worker *wk;
    struct demo_shared *shared;
    int go[2];
    int out; /* its pipe to the parent */
};

static int
child_ready(void *ctx)
{
    struct child *c = ctx;
    struct record rec = {.tag = 'R'};
    char go;
    ssize_t k;

    if (demo_write_all(c->out, &rec, sizeof rec) == -1)
        return -1; /* the parent is gone */
    while ((k = read(c->go[0], &go, 1)) == -1 && errno == EINTR)
        ;
    return k == 1 && go == 'g' ? 0 : -1; /* EOF: the parent called it off */
}

static int
worker_main(unsigned i, int out, void *ctx)
{
    struct child *c = ctx;
    char who[64];
    struct demo_work w = *c->w;
    struct demo_hooks h = {.who = who, .ready = child_ready, .ctx = c, .shared = &c->shared[i]};
    struct record rec = {.tag = 'D'};
    int rc;

    close(c->go[1]);
    c->out = out;
    snprintf(who, sizeof who, "worker %u/%u", i + 1, c->procs);
    w.pairs = c->wk[i].pairs;
    rc = demo_run_coroutines(&w, &h, &rec.res);
    if (demo_write_all(out, &rec, sizeof rec) == -1) {
        demo_error(who, "write: %s", strerror(errno));
        rc = -1;
    }
    return rc == 0 ? 0 : 1;
}

/* A record from worker i, or (rec NULL) the end of its pipe. */
static void
on_record(unsigned i, const void *rec, void *ctx)
{
    struct worker *wk = &((struct worker *)ctx)[i];

    if (rec == NULL) { /* EOF: it exited (or is about to) */
        if (wk->state != W_DONE)
            wk->state = W_GONE;
        return;
    }
    memcpy(&wk->rec, rec, sizeof wk->rec);
    if (wk->rec.tag == 'R') {
        wk->state = W_READY;
        wk->was_ready = 1;
    } else {
        wk->state = W_DONE;
        wk->done = 1;
    }
}

/* The workers' progress: pairs set up until the start, then messages, then
 * once all are sent, pairs freed. */
static void
show_progress(struct demo_progress *pg, const struct demo_work *w,
              const struct demo_shared *shared, unsigned n, int started)
{
    uint64_t set_up = 0, sent = 0, freed = 0;

    for (unsigned i = 0; i < n; i++) {
        set_up += __atomic_load_n(&shared[i].set_up, __ATOMIC_RELAXED);
        sent += __atomic_load_n(&shared[i].sent, __ATOMIC_RELAXED);
        freed += __atomic_load_n(&shared[i].freed, __ATOMIC_RELAXED);
    }
    if (!started) {
        demo_progress_update(pg, set_up);
    } else if (sent < w->pairs * w->messages) {
        demo_progress_phase(pg, "messages", w->pairs * w->messages);
        demo_progress_update(pg, sent);
    } else {
        demo_progress_phase(pg, "pairs freed", w->pairs);
        demo_progress_update(pg, freed);
    }
}

/* Every worker set up, or one failed: start them all, or call it off.
 * 0, or -1 when the run is off. */
static int
send_go(int go, unsigned started, unsigned ready)
{
    int rc = 0;

    if (ready == started) {
        char gos[MAX_PROCS];

        memset(gos, 'g', started);
        if (demo_write_all(go, gos, started) == -1) {
            demo_error("pairs", "write: %s", strerror(errno));
            rc = -1;
        }
    } else {
        rc = -1; /* one failed to set up (it said why) */
    }
    close(go);
    return rc;
}

/* Wait for worker i and print its line; 0 when it did its share. */
static int
finish_worker(struct demo_procs *pr, unsigned i, const struct worker *wk, int called_off,
              struct totals *t)
{
    const struct demo_result *res = &wk->rec.res;
    unsigned procs = pr->n;
    long pid = (long)pr->w[i].pid;
    char buf[96];
    int ok = 1, lost = demo_procs_wait(pr, i) == -1, status = pr->w[i].status;

    if (!wk->done) { /* it died without a word */
        print_worker(i, procs, pid, wk->pairs, res,
                     lost ? "lost" : demo_describe_exit(status, buf, sizeof buf));
        return -1;
    }
    if (res->failed) {
        print_worker(i, procs, pid, wk->pairs, res,
                     wk->was_ready && called_off ? "stopped: the run was called off"
                                                 : "failed (see above)");
        return -1;
    }
    add_result(t, res);
    print_worker(i, procs, pid, wk->pairs, res, NULL);
    if (res->bad_pairs)
        ok = 0;
    if (lost || (status != 0 && !(res->bad_pairs && WIFEXITED(status) &&
                                  WEXITSTATUS(status) == 1))) {
        /* not the exit its result calls for */
        printf("worker %u/%u (pid %ld): %s\n", i + 1, procs, pid,
               lost ? "lost" : demo_describe_exit(status, buf, sizeof buf));
        ok = 0;
    }
    return ok ? 0 : -1;
}

static int
run_workers(const struct demo_work *w, unsigned procs, struct totals *t)
{
    struct worker *wk = calloc(procs, sizeof *wk);
    struct child c = {.w = w, .procs = procs, .wk = wk};
    struct demo_procs pr;
    struct demo_progress pg;
    int ok = 1, go_sent = 0, called_off = 0;
    unsigned i;

    if (wk == NULL) {
        demo_error("pairs", "calloc: %s", strerror(errno));
        return -1;
    }
    if (demo_procs_init(&pr, "pairs", procs, sizeof(struct record)) == -1) {
        free(wk);
        return -1;
    }
    c.shared = mmap(NULL, procs * sizeof *c.shared, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (c.shared == MAP_FAILED) {
        demo_error("pairs", "mmap: %s", strerror(errno));
        demo_procs_free(&pr);
        free(wk);
        return -1;
    }
    if (pipe(c.go) == -1) {
        demo_error("pairs", "pipe: %s", strerror(errno));
        munmap(c.shared, procs * sizeof *c.shared);
        demo_procs_free(&pr);
        free(wk);
        return -1;
    }
    for (i = 0; i < procs; i++)
        wk[i].pairs = w->pairs / procs + (i < w->pairs % procs);
    for (i = 0; i < procs; i++)
        if (demo_procs_spawn(&pr, worker_main, &c) == -1)
            break;
    close(c.go[0]);
    if (pr.started < procs) { /* call it off: the started workers read EOF */
        close(c.go[1]);
        go_sent = called_off = 1;
        ok = 0;
    }
    demo_progress_init(&pg, "pairs", "pairs set up", w->pairs);
    for (;;) {
        unsigned setting_up = 0, ready = 0;

        for (i = 0; i < pr.started; i++) {
            setting_up += wk[i].state == W_SETUP;
            ready += wk[i].state == W_READY;
        }
        if (!go_sent && setting_up == 0) {
            if (send_go(c.go[1], pr.started, ready) == -1) {
                ok = 0;
                called_off = 1;
            }
            go_sent = 1;
        }
        if (demo_procs_open(&pr) == 0)
            break;
        if (!called_off)
            show_progress(&pg, w, c.shared, pr.started, go_sent);
        if (demo_procs_poll(&pr, 250, NULL, on_record, wk) == -1) {
            if (errno == EINTR)
                continue;
            ok = 0; /* reported */
            break;
        }
    }
    demo_progress_clear(&pg);
    if (pr.read_errors)
        ok = 0;

    for (i = 0; i < pr.started; i++)
        if (finish_worker(&pr, i, &wk[i], called_off, t) == -1)
            ok = 0;
    for (; i < procs; i++)
        printf("worker %u/%u: not started\n", i + 1, procs);
    munmap(c.shared, procs * sizeof *c.shared);
    demo_procs_free(&pr);
    free(wk);
    return ok ? 0 : -1;
}

int
demo_pairs(int argc, char **argv)
{
    struct demo_work w = {.pairs = 1000, .messages = 100, .style = DEMO_GENERATOR};
    struct totals t = {.rss_known = 1};
    uint64_t procs = 1, cap = 0;
    int have_cap = 0, rc;
    char style[64];

    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;

        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return DEMO_OK;
        }
        if ((k = demo_opt("pairs", argc, argv, &i, "--pairs", &v)) != 0) {
            if (k == -1 || demo_parse_u64("pairs", "--pairs", v, 1, DEMO_MAX_PAIRS, &w.pairs))
                return bad_usage();
        } else if ((k = demo_opt("pairs", argc, argv, &i, "--messages", &v)) != 0) {
            if (k == -1 ||
                demo_parse_u64("pairs", "--messages", v, 1, DEMO_MAX_MESSAGES, &w.messages))
                return bad_usage();
        } else if ((k = demo_opt("pairs", argc, argv, &i, "--capacity", &v)) != 0) {
            if (k == -1 || demo_parse_u64("pairs", "--capacity", v, 0, DEMO_MAX_CAPACITY, &cap))
                return bad_usage();
            have_cap = 1;
        } else if ((k = demo_opt("pairs", argc, argv, &i, "--style", &v)) != 0) {
            if (k == -1 || demo_parse_style("pairs", v, &w.style) == -1)
                return bad_usage();
        } else if ((k = demo_opt("pairs", argc, argv, &i, "--procs", &v)) != 0) {
            if (k == -1 || demo_parse_u64("pairs", "--procs", v, 0, MAX_PROCS, &procs))
                return bad_usage();
        } else {
            demo_error("pairs", "unknown argument '%s'", argv[i]);
            return bad_usage();
        }
    }
    if (have_cap && w.style != DEMO_CHANNEL) {
        demo_error("pairs", "--capacity needs --style channel");
        return bad_usage();
    }
    w.capacity = (size_t)cap;
    if (procs == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);

        if (cpus < 1) {
            demo_error("pairs", "sysconf(_SC_NPROCESSORS_ONLN): %s",
                       cpus == -1 ? strerror(errno) : "no CPU online");
            return DEMO_FAIL;
        }
        procs = (uint64_t)cpus < MAX_PROCS ? (uint64_t)cpus : MAX_PROCS;
    }
    if (procs > w.pairs)
        procs = w.pairs; /* a worker never runs zero pairs */

    printf("pairs: %" PRIu64 " pairs x %" PRIu64 " messages, %s, %" PRIu64 " worker%s\n",
           w.pairs, w.messages, demo_style_name(&w, style, sizeof style), procs,
           procs == 1 ? " (in this process)" : "s");
    fflush(stdout); /* before a long run, and before any error on stderr */
    t.pairs = w.pairs;
    t.expected = w.pairs * w.messages;
    if (procs == 1)
        rc = run_here(&w, &t);
    else {
        struct sigaction sa = {.sa_handler = SIG_IGN};

        /* A write to a dead worker's pipe must fail with EPIPE, not kill us. */
        if (sigemptyset(&sa.sa_mask) == -1 || sigaction(SIGPIPE, &sa, NULL) == -1) {
            demo_error("pairs", "sigaction: %s", strerror(errno));
            return DEMO_FAIL;
        }
        rc = run_workers(&w, (unsigned)procs, &t);
    }
    t.ok = rc == 0 && t.received == t.expected;
    print_summary(&w, (unsigned)procs, &t);
    if (fflush(stdout) == EOF) {
        demo_error("pairs", "writing the output: %s", strerror(errno));
        return DEMO_FAIL;
    }
    return t.ok ? DEMO_OK : DEMO_FAIL;
}
