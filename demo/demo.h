/* coro-demo's modes, one file each, and what they share (util.c). */
#ifndef CORO_DEMO_H
#define CORO_DEMO_H

#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/types.h>

/* Exit statuses of every mode. */
enum { DEMO_OK = 0, DEMO_FAIL = 1, DEMO_USAGE = 2 };

/* The modes: argv[0] is the mode's name ("pairs", "compare"). */
int demo_tutorial(void);
int demo_pairs(int argc, char **argv);
int demo_compare(int argc, char **argv);
int demo_serve(int argc, char **argv);

/*
 * Options and output (util.c). Parsers print a one-line error on stderr
 * ("coro-demo MODE: ...") and return -1; the caller then prints its usage.
 */

/* Is argv[*i] the option --name? Then return 1 with *val pointing at its
 * value ("--name VALUE" moves *i past VALUE; "--name=VALUE" too works).
 * 0 when it is not that option, -1 when the value is missing. */
int demo_opt(const char *mode, int argc, char **argv, int *i, const char *name, const char **val);

/* A whole decimal number in [min, max]: no sign, no blanks, no trailing junk. */
int demo_parse_u64(const char *mode, const char *opt, const char *s, uint64_t min, uint64_t max,
                   uint64_t *out);

/* A comma-separated list of such numbers, into a malloc'd array (*out, *n). */
int demo_parse_list(const char *mode, const char *opt, const char *s, uint64_t min, uint64_t max,
                    uint64_t **out, size_t *n);

/* "coro-demo MODE: <message>" on stderr (printf-style). */
void demo_error(const char *mode, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* After such an error, GNU style: "Try 'coro-demo [MODE ]--help' for more
 * information." on stderr (mode NULL for the top level); DEMO_USAGE. */
int demo_bad_usage(const char *mode);

double demo_sec(int64_t ns);
double demo_rate(uint64_t count, int64_t ns); /* per second */
double demo_mib(long kib);
long demo_maxrss_kib(void); /* getrusage(RUSAGE_SELF).ru_maxrss, -1 on error (reported) */

/* A progress line on stderr, only when stderr is a terminal, only once a run
 * has lasted DEMO_PROGRESS_AFTER, redrawn in place with \r:
 * "LABEL: DONE/TOTAL UNIT (P%), S s". */
#define DEMO_PROGRESS_AFTER ((int64_t)2000000000)
struct demo_progress {
    char label[80];
    const char *unit;
    uint64_t total;
    int64_t start, last;
    int enabled;
    size_t width; /* characters drawn, 0 when nothing is shown */
};
void demo_progress_init(struct demo_progress *p, const char *label, const char *unit,
                        uint64_t total);
void demo_progress_phase(struct demo_progress *p, const char *unit, uint64_t total);
void demo_progress_update(struct demo_progress *p, uint64_t done); /* cheap when not due */
void demo_progress_clear(struct demo_progress *p);

/*
 * The coroutine workload (pairs.c), shared by 'pairs' and 'compare': pairs
 * producer/consumer pairs on one scheduler in this process.
 */
enum demo_style { DEMO_GENERATOR, DEMO_CHANNEL };

struct demo_work {
    uint64_t pairs, messages; /* each producer sends 1, 2, ..., messages */
    enum demo_style style;
    size_t capacity;          /* channel style */
};

struct demo_result {
    uint64_t pairs;
    uint64_t expected, received; /* messages */
    uint64_t bad_pairs;          /* pairs whose count, sum or replies were wrong */
    uint64_t switches;           /* context switches, as 'pairs --help' defines them */
    int64_t setup_ns;            /* creating every pair */
    int64_t start_ns, end_ns;    /* the run, on the monotonic clock (coro_now()) */
    long maxrss_kib;             /* -1: unknown */
    int failed;                  /* an error stopped it (reported on stderr) */
};

struct demo_hooks {
    const char *who;                /* prefixes error messages: "coro-demo WHO: ..." */
    int (*ready)(void *ctx);        /* NULL, or called between setup and run: 0 runs */
    void *ctx;
    struct demo_progress *progress; /* NULL, or drawn from here (and the producers) */
    struct demo_shared *shared;     /* NULL, or where to publish progress for a parent */
};

/* Progress of a worker process, in memory shared with its parent; each
 * counter only grows, and is written every so often (atomically). */
struct demo_shared {
    uint64_t set_up; /* pairs created */
    uint64_t sent;   /* messages sent */
    uint64_t freed;  /* pairs freed after the run */
};

/* 0 when it ran and every message arrived; -1 otherwise (errors reported). */
int demo_run_coroutines(const struct demo_work *w, const struct demo_hooks *h,
                        struct demo_result *res);

/* How demo_work is described in output: "generator", "channel (capacity 4)". */
const char *demo_style_name(const struct demo_work *w, char *buf, size_t size);
/* Parse --style's value. */
int demo_parse_style(const char *mode, const char *s, enum demo_style *out);

/*
 * Worker processes (procs.c), for 'pairs' and 'serve': forked workers that
 * report to the parent through a pipe each, in records of one fixed size.
 */
struct demo_proc {
    pid_t pid;
    int fd;      /* the read end of its pipe, -1 once at EOF */
    size_t have; /* bytes of the record being read */
    int reaped;  /* demo_procs_wait() was called */
    int status;  /* then its wait status, -1 when waitpid() failed */
};

struct demo_procs {
    const char *who;   /* for errors: "coro-demo WHO: ..." */
    unsigned n;        /* workers there is room for */
    unsigned started;  /* workers forked, numbered 0 to started - 1 */
    size_t rec_size;   /* every record has this size */
    unsigned read_errors; /* reads of a pipe that failed (reported; taken as EOF) */
    struct demo_proc *w;
    unsigned char *recs; /* the record being read, per worker */
    struct pollfd *pfd;
};

/* In the child: the worker's work, with out the write end of its pipe (the
 * earlier workers' pipes are closed). What it returns is its exit status. */
typedef int demo_proc_fn(unsigned i, int out, void *ctx);
/* In the parent: worker i sent the record rec (rec_size bytes), or, with
 * rec NULL, closed its pipe. */
typedef void demo_record_fn(unsigned i, const void *rec, void *ctx);

/* Room for n workers. 0, or -1 (reported). */
int demo_procs_init(struct demo_procs *p, const char *who, unsigned n, size_t rec_size);
/* Fork worker number p->started, which runs fn(i, out, ctx) and _exit()s.
 * stdout and stderr are flushed first. 0, or -1 (reported). */
int demo_procs_spawn(struct demo_procs *p, demo_proc_fn *fn, void *ctx);
/* The workers whose pipes are still open. */
unsigned demo_procs_open(const struct demo_procs *p);
/* Wait up to timeout_ms (< 0: no limit) for the open pipes, and read what
 * came, calling fn. With mask, ppoll(2) waits with that signal mask. 0, or
 * -1: EINTR (a signal), or a poll error (reported). */
int demo_procs_poll(struct demo_procs *p, int timeout_ms, const sigset_t *mask, demo_record_fn *fn,
                    void *ctx);
/* Close worker i's pipe if open and wait for it to exit: its status in
 * p->w[i].status. 0, or -1 (reported). */
int demo_procs_wait(struct demo_procs *p, unsigned i);
/* Send sig to every started worker not yet waited for. */
void demo_procs_kill(const struct demo_procs *p, int sig);
/* Free p, closing the pipes still open (the workers are not waited for). */
void demo_procs_free(struct demo_procs *p);

/* write(2) all of buf, again after EINTR. 0, or -1 and errno. */
int demo_write_all(int fd, const void *buf, size_t len);
/* "exited with status 1", "killed by signal 9 (Killed)". */
const char *demo_describe_exit(int status, char *buf, size_t size);

/* Shared limits of the options. */
#define DEMO_MAX_PAIRS ((uint64_t)10000000)
#define DEMO_MAX_MESSAGES                                                   \
    ((uint64_t)UINTPTR_MAX < (uint64_t)1000000000000 ? (uint64_t)UINTPTR_MAX \
                                                      : (uint64_t)1000000000000)
#define DEMO_MAX_CAPACITY ((uint64_t)1000000)

#endif
