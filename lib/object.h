/*
 * The coroutine object (coro.c), above the stack layer and below the
 * scheduler: what the layers above may use. A layer that runs coroutines
 * itself (the scheduler's tasks) makes them "managed": users cannot resume,
 * close or destroy them, their coro_yield() goes to the manager's hook, and
 * the manager keeps its own per-coroutine state in the object's ext area.
 * The object knows nothing else of its managers.
 *
 * Naming: coro_ is public and exported, coro__ is internal across files,
 * unprefixed names are file-local.
 */
#ifndef CORO_OBJECT_H
#define CORO_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "coro.h"
#include "list.h"
#include "sanitize.h"
#include "switch.h"

struct coro__stack;

/* One deferred handler: coro_defer()'s (allocated), or the library's own
 * in a caller's frame (on_stack), run if the coroutine ends while that
 * frame is live. A LIFO list per coroutine. */
struct coro__defer {
    void (*fn)(void *);
    void *arg;
    struct coro__defer *next;
    int on_stack;
};

/* A manager's hooks. */
struct coro__ops {
    const char *kind;            /* what its coroutines are called: "task" */
    /* coro_yield(out) in one of its coroutines: the return value. */
    void *(*yield)(struct coro *self, void *out);
};

enum {
    CORO__ROOT = 1,              /* the thread's own stack, not a coroutine */
    CORO__MANAGED = 2,           /* ops is set */
    CORO__ENDING = 4             /* its handlers run: it may not suspend any more */
};

/* What every context of a thread has, coroutines and the thread's own
 * stack (the root) alike: what a switch reads and writes, in one cache
 * line. */
struct coro__base {
    struct coro__ctx ctx;        /* first: the fast switch saves through its address */
    struct coro__base *resumer;  /* whom it yields to */
    uint64_t key;                /* its thread's id, with CORO__KEY_MANAGED when managed */
    void **out;                  /* where its resumer wants the value handed out, or NULL */
    /* Its number in its thread, from 1 (CORO__ROOT_ID for the root): no
     * other context of the thread has had or will have it, unlike its
     * address (a new coroutine on a pooled stack has its dead
     * predecessor's). */
    uint64_t seq;
    int err;                     /* its errno while another context runs */
    unsigned char status;        /* a coro_status_t */
    unsigned char flags;         /* CORO__ROOT, CORO__MANAGED, CORO__ENDING */
    struct coro__san_ctx san;
};
#define CORO__ROOT_ID UINT64_MAX
#define CORO__KEY_MANAGED ((uint64_t)1 << 63)

/* Room for a manager's per-coroutine state. */
enum { CORO__EXT_SIZE = 320 };

/* A coroutine, right below its stack's descriptor at the top of its stack,
 * 64-byte aligned: b and what the managers look at first share the first
 * cache line, a manager's hot state the next. coro_create() sets every
 * field but parked, which tells what the context left on the stack is good
 * for, and stays with the stack in the pool. */
struct coro {
    struct coro__base b;
    const struct coro__ops *ops; /* its manager's hooks, or NULL */
    struct coro__defer *defers;  /* last registered first */
    _Alignas(64) unsigned char ext[CORO__EXT_SIZE]; /* its own cache lines */
    coro_fn *fn;
    void *arg;
    struct coro__stack *stack;
    unsigned char parked;        /* b.ctx starts trampoline()'s loop for a new coroutine */
    struct coro__link live;      /* in its thread's live coroutines (for debuggers) */
    char name[CORO_NAME_MAX];    /* "" until named: coro_name() makes the default */
};

/* Each thread's state: the running context, and the root. */
struct coro__thread {
    struct coro__base *current;  /* a coroutine's b, or &root */
    int *errnop;                 /* &errno */
    uint64_t id;                 /* never reused by another thread, unlike this state's address */
    uint64_t seq;                /* the last coroutine's number */
    struct coro__link live;      /* every coroutine made and not destroyed yet, oldest first */
    struct coro__base root;
    struct coro__san_thread san;
#if CORO__TSAN
    void *root_fiber;
#endif
};

/* With the fast switch the pointer to it is initial-exec TLS, so that an
 * access is a single load instead of a __tls_get_addr() call. That puts the
 * library's whole TLS (this, the thread's state and the pool's, a few
 * hundred bytes) in the static TLS block, which glibc keeps room for even
 * when libcoro is dlopen'ed. The ucontext build keeps the default model:
 * its state holds whole ucontext_t's, and its switches make a system call
 * anyway. */
#if CORO_SWITCH_FAST
#define CORO__TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CORO__TLS_MODEL
#endif
extern __thread struct coro__thread *coro__thr_ptr CORO__TLS_MODEL
    __attribute__((visibility("hidden")));
/* Set up the calling thread's state. */
struct coro__thread *coro__thr_init(void);

/* The calling thread's state, for reading: until the thread first uses
 * libcoro, a read-only one (id 0, the root running). */
static inline struct coro__thread *
coro__thr_peek(void)
{
    return coro__thr_ptr;
}

/* The calling thread's state, set up. */
static inline struct coro__thread *
coro__thr(void)
{
    struct coro__thread *t = coro__thr_ptr;

    return __builtin_expect(t->id != 0, 1) ? t : coro__thr_init();
}

/* The calling thread's id, as stored in the objects it makes. */
static inline uint64_t
coro__thread_id(void)
{
    return coro__thr()->id;
}

/* Does owner (an id from coro__thread_id()) name the calling thread? */
static inline int
coro__mine(uint64_t owner)
{
    return owner == coro__thr_peek()->id;
}

/* The running context's seq: a number no other context of the thread has
 * had or will have. */
static inline uint64_t
coro__self_id(void)
{
    return coro__thr_peek()->current->seq;
}

/* The running coroutine, or NULL on the thread's own stack. */
static inline struct coro *
coro__self(void)
{
    struct coro__base *b = coro__thr_peek()->current;

    return b->flags & CORO__ROOT ? NULL : (struct coro *)b;
}

static inline int
coro__ending(const struct coro *co)
{
    return (co->b.flags & CORO__ENDING) != 0;
}

static inline void *
coro__ext(struct coro *co)
{
    return co->ext;
}

static inline struct coro *
coro__of_ext(void *ext)
{
    return (struct coro *)(void *)((char *)ext - offsetof(struct coro, ext));
}

/* A managed coroutine: coro_create() with ops. Its ext area is zeroed. */
struct coro *coro__create(coro_fn *fn, void *arg, size_t stack_size, const struct coro__ops *ops);
/* Run co (created or suspended) from the running context until it
 * suspends (0) or ends (1); a suspended co gets val back from the call
 * that suspended it. When a coroutine ends in its place (see
 * coro__switch_to), what it returned goes to *out (out may be NULL). */
int coro__resume(struct coro *co, int val, void **out);
/* In a managed coroutine: back to whoever resumed it (coro__resume()
 * returns 0). Returns the val of whatever resumes self again. */
int coro__suspend(struct coro *self);
/* In a managed coroutine: suspend, and let next (created or suspended)
 * run in its place with the same resumer, handing it val (which its own
 * coro__suspend() or coro__switch_to() returns). Returns the val that
 * comes with self's turn again. */
int coro__switch_to(struct coro *self, struct coro *next, int val);
/* What co, not started yet, will run instead of what it was made with. */
static inline void
coro__set_entry(struct coro *co, coro_fn *fn, void *arg)
{
    co->fn = fn;
    co->arg = arg;
}

/* Set co's errno: the one it will find when it runs next, or the live
 * one when co is running. */
static inline void
coro__set_errno(struct coro *co, int err)
{
    struct coro__thread *t = coro__thr_peek();

    if (t->current == &co->b)
        *t->errnop = err;
    else
        co->b.err = err;
}
/* coro_close() and coro_destroy() for any coroutine of this thread,
 * managed ones too. */
int coro__close(struct coro *co);
int coro__destroy(struct coro *co);

/* Push d, its fn, arg and on_stack set, on the running coroutine's
 * deferred handlers; coro__defer_pop() takes an on_stack one off again,
 * unrun, once its caller no longer needs it (nothing pushed after it is
 * left). */
static inline void
coro__defer_push(struct coro *self, struct coro__defer *d)
{
    d->next = self->defers;
    self->defers = d;
}

static inline void
coro__defer_pop(struct coro *self, struct coro__defer *d)
{
    self->defers = d->next;
}

#endif /* CORO_OBJECT_H */
