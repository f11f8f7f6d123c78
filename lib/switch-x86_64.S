/*
 * The fast switch for x86_64 (System V ABI). A context is the stack pointer
 * of a frame that holds what a callee must preserve: r15, r14, r13, r12,
 * rbx, rbp and the address to go on at, in that order from the stack
 * pointer up, with the MXCSR and the x87 control word in the 8 bytes just
 * below it (the red zone, which nothing touches while the context is
 * suspended: a signal frame skips it). Saving pushes that frame on the
 * running stack; loading pops the other one and jumps. No system call: the
 * signal mask stays the thread's.
 *
 * The callee-saved registers are saved here and nowhere else: the C code
 * tail-calls these functions, so the frame saved is that of whoever called
 * into libcoro, and the other side goes on straight in its own caller.
 * The arguments come in the order the callers mostly have them in already.
 *
 * The control words are saved on every switch and loaded on every switch:
 * on the processors measured (doc/performance.md), reading them back to
 * load them only when they differ costs more than loading them, because the
 * load must wait for stmxcsr's store.
 *
 * void *coro__fast_switch(void **load, void *val, void **save);
 *     Save the running context in *save, go on in the context *load; the
 *     switch that saved that one returns val there.
 * void *coro__fast_start(void **load, void *val, void **save);
 *     The same for a context that starts a new coroutine: its saved control
 *     words are not loaded, so that it starts with the caller's.
 * void *coro__fast_park(void **load, void *val, void **save);
 *     The same as coro__fast_switch for a context saved only to be started
 *     later by coro__fast_start (or never entered again): its control words
 *     are not saved, since nothing will load them (stmxcsr is most of the
 *     cost of a switch here).
 * void *coro__fast_ontop(void **load, void (*fn)(void), void **save);
 *     The same as coro__fast_switch, but instead of going on where *load was
 *     saved, call fn() right above that frame on its stack. fn never
 *     returns; a later switch to *save returns what it passes.
 *
 * Control goes back with an indirect jmp, never ret: the return predictor
 * would guess the caller of this call, which is never where we go.
 */
#if defined(__x86_64__)

#ifdef __CET__
#define LANDING endbr64
/* The jump goes to a saved return address, which has no endbr64. */
#define NOTRACK notrack
#else
#define LANDING
#define NOTRACK
#endif

.macro SAVE_REGS
    LANDING
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
.endm

.macro SAVE_SP
    movq %rsp, (%rdx)
    movq (%rdi), %rsp
.endm

.macro SAVE
    SAVE_REGS
    stmxcsr -8(%rsp)
    fnstcw -4(%rsp)
    SAVE_SP
.endm

.macro LOAD_CONTROL
    ldmxcsr -8(%rsp)
    fldcw -4(%rsp)
.endm

.macro LOAD_REGS
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
.endm

    .text

    .globl coro__fast_switch
    .hidden coro__fast_switch
    .type coro__fast_switch, @function
    .p2align 4
coro__fast_switch:
    SAVE
    LOAD_CONTROL
    LOAD_REGS
    popq %rcx
    movq %rsi, %rax
    NOTRACK jmpq *%rcx
    .size coro__fast_switch, .-coro__fast_switch

    .globl coro__fast_start
    .hidden coro__fast_start
    .type coro__fast_start, @function
    .p2align 4
coro__fast_start:
    SAVE
    LOAD_REGS
    popq %rcx
    movq %rsi, %rax
    NOTRACK jmpq *%rcx
    .size coro__fast_start, .-coro__fast_start

    .globl coro__fast_park
    .hidden coro__fast_park
    .type coro__fast_park, @function
    .p2align 4
coro__fast_park:
    SAVE_REGS
    SAVE_SP
    LOAD_CONTROL
    LOAD_REGS
    popq %rcx
    movq %rsi, %rax
    NOTRACK jmpq *%rcx
    .size coro__fast_park, .-coro__fast_park

    .globl coro__fast_ontop
    .hidden coro__fast_ontop
    .type coro__fast_ontop, @function
    .p2align 4
coro__fast_ontop:
    SAVE
    LOAD_CONTROL
    LOAD_REGS
    /* Drop the address it would have gone on at: the stack is as it was
     * before that call, 16-byte aligned, as a call needs. */
    addq $8, %rsp
    call *%rsi
    ud2
    .size coro__fast_ontop, .-coro__fast_ontop

#else
/* Nothing for this target but one local symbol, so that nm, which
 * libtool runs on every object, does not warn of an empty table. */
    .text
coro__switch_x86_64_absent:
#endif

#include "switch-notes.h"
