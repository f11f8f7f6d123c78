/*
 * The fast switch for aarch64 (AAPCS64). A context is the stack pointer of
 * a 176-byte frame that holds what a callee must preserve: x19-x28, the
 * frame pointer x29, the link register x30 (where to go on), d8-d15 and
 * FPCR. Saving stores that frame on the running stack; loading reads the
 * other one and returns through x30. No system call: the signal mask stays
 * the thread's.
 *
 * The callee-saved registers are saved here and nowhere else (the C code
 * tail-calls these functions). FPCR is saved every time but written only
 * when it differs from the one in force: msr fpcr is slow on many cores,
 * and a compare is free.
 *
 * void *coro__fast_switch(void **load, void *val, void **save);
 * void *coro__fast_start(void **load, void *val, void **save);
 *     (the saved FPCR is not loaded: a new coroutine keeps the caller's)
 * void *coro__fast_park(void **load, void *val, void **save);
 *     (the same code as coro__fast_switch: reading FPCR is cheap, and the
 *     compare needs the running one)
 * void *coro__fast_ontop(void **load, void (*fn)(void), void **save);
 *     See switch-x86_64.S.
 *
 * This ends with ret, not br: under BTI an indirect br must land on a bti
 * instruction, and return addresses have none.
 */
#if defined(__aarch64__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define LANDING bti c
#else
#define LANDING
#endif

.macro SAVE
    LANDING
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x10, sp
    str x10, [x2]
    ldr x11, [x0]
.endm

.macro LOAD_FPCR
    ldr x10, [x11, #160]
    cmp x10, x9
    b.eq 1f
    msr fpcr, x10
1:
.endm

.macro LOAD_REGS
    mov sp, x11
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
.endm

    .text

    .globl coro__fast_switch
    .hidden coro__fast_switch
    .type coro__fast_switch, %function
    .globl coro__fast_park
    .hidden coro__fast_park
    .type coro__fast_park, %function
    .p2align 4
coro__fast_switch:
coro__fast_park:
    SAVE
    LOAD_FPCR
    LOAD_REGS
    mov x0, x1
    ret
    .size coro__fast_switch, .-coro__fast_switch
    .size coro__fast_park, .-coro__fast_park

    .globl coro__fast_start
    .hidden coro__fast_start
    .type coro__fast_start, %function
    .p2align 4
coro__fast_start:
    SAVE
    LOAD_REGS
    mov x0, x1
    ret
    .size coro__fast_start, .-coro__fast_start

    .globl coro__fast_ontop
    .hidden coro__fast_ontop
    .type coro__fast_ontop, %function
    .p2align 4
coro__fast_ontop:
    SAVE
    LOAD_FPCR
    LOAD_REGS
    blr x1
    brk #0
    .size coro__fast_ontop, .-coro__fast_ontop

#else
/* Nothing for this target but one local symbol, so that nm, which
 * libtool runs on every object, does not warn of an empty table. */
    .text
coro__switch_aarch64_absent:
#endif

#include "switch-notes.h"
