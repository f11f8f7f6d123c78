/*
 * The fast backend's C part: a new context, made by makecontext() and
 * turned into the frame that the assembly switch loads (switch-x86_64.S,
 * switch-aarch64.S describe it), and the backend's name.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "coro.h"
#include "switch.h"

/* makecontext() needs a context that getcontext() filled, and getcontext()
 * makes a system call (it reads the signal mask). Nothing of it matters
 * here but the registers makecontext() sets, so one copy made once serves
 * every context. */
static ucontext_t model;
static int model_err;
static pthread_once_t model_once = PTHREAD_ONCE_INIT;

static void
make_model(void)
{
    model_err = getcontext(&model) == 0 ? 0 : errno;
}

/* The first frame, below the stack pointer that makecontext() chose, so
 * that loading it enters the entry function as makecontext() arranged. A
 * null frame pointer ends the chain of frames there, for debuggers and
 * unwinders. The control words are not read: a new context is started. */
static void *
first_frame(const ucontext_t *uc)
{
#if defined(__x86_64__)
    uint64_t *sp = (uint64_t *)uc->uc_mcontext.gregs[REG_RSP] - 7;

    memset(sp, 0, 7 * sizeof *sp);      /* r15-r12, rbp */
    sp[4] = (uint64_t)uc->uc_mcontext.gregs[REG_RBX];
    sp[6] = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    return sp;
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)uc->uc_mcontext.sp - 22;

    memset(sp, 0, 22 * sizeof *sp);     /* x29, d8-d15, FPCR */
    for (int i = 0; i < 10; i++)        /* x19-x28 */
        sp[i] = uc->uc_mcontext.regs[19 + i];
    sp[11] = uc->uc_mcontext.pc;        /* x30: where ret goes */
    return sp;
#endif
}

int
coro__ctx_make(struct coro__ctx *ctx, void *stack, size_t size, void (*entry)(void))
{
    ucontext_t uc;

    pthread_once(&model_once, make_model);
    if (model_err) {
        errno = model_err;
        return -1;
    }
    uc = model;
    uc.uc_stack.ss_sp = stack;
    uc.uc_stack.ss_size = size;
    uc.uc_link = NULL; /* entry() never returns */
    makecontext(&uc, entry, 0);
    ctx->sp = first_frame(&uc);
    return 0;
}

const char *
coro_switch_name(void)
{
#if defined(__x86_64__)
    return "fast (x86_64)";
#elif defined(__aarch64__)
    return "fast (aarch64)";
#endif
}
