/*
 * The fast switch for aarch64 (AAPCS64): save what a callee must preserve
 * (x19-x28, the frame pointer x29, the link register x30, d8-d15 and FPCR)
 * on the running stack, store the stack pointer, load the other one,
 * restore. No system call: the signal mask stays the thread's.
 *
 * void coro__fast_switch(void **save_sp, void *load_sp);
 * void coro__fast_enter(void **save_sp, const ucontext_t *first);
 *     saves like coro__fast_switch, then enters a context made by
 *     makecontext() through setcontext(), which does not return.
 */
#if defined(__aarch64__)

.macro SAVE
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
    mov x9, sp
    str x9, [x0]
.endm

    .text

    .globl coro__fast_switch
    .hidden coro__fast_switch
    .type coro__fast_switch, %function
    .p2align 4
coro__fast_switch:
    SAVE
    mov sp, x1
    ldr x9, [sp, #160]
    msr fpcr, x9
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
    ret
    .size coro__fast_switch, .-coro__fast_switch

    .globl coro__fast_enter
    .hidden coro__fast_enter
    .type coro__fast_enter, %function
    .p2align 4
coro__fast_enter:
    SAVE
    mov x0, x1
    bl setcontext
    brk #0
    .size coro__fast_enter, .-coro__fast_enter

#endif

/* No executable stack, also in the empty object built for other targets. */
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
