/*
 * The fast switch for x86_64 (System V ABI): save what a callee must
 * preserve (rbx, rbp, r12-r15, the MXCSR and x87 control words) on the
 * running stack, store the stack pointer, load the other one, restore.
 * No system call: the signal mask stays the thread's.
 *
 * void coro__fast_switch(void **save_sp, void *load_sp);
 * void coro__fast_enter(void **save_sp, const ucontext_t *first);
 *     saves like coro__fast_switch, then enters a context made by
 *     makecontext() through setcontext(), which does not return.
 */
#if defined(__x86_64__)

#ifdef __CET__
#define LANDING endbr64
#else
#define LANDING
#endif

.macro SAVE
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
.endm

    .text

    .globl coro__fast_switch
    .hidden coro__fast_switch
    .type coro__fast_switch, @function
    .p2align 4
coro__fast_switch:
    LANDING
    SAVE
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    /* pop + indirect jump rather than ret: the return predictor would
     * guess the caller of this call, which is never where we go. */
    popq %rcx
    jmpq *%rcx
    .size coro__fast_switch, .-coro__fast_switch

    .globl coro__fast_enter
    .hidden coro__fast_enter
    .type coro__fast_enter, @function
    .p2align 4
coro__fast_enter:
    LANDING
    SAVE
    movq %rsi, %rdi /* the stack is 16-byte aligned here, as a call needs */
    call setcontext@PLT
    ud2
    .size coro__fast_enter, .-coro__fast_enter

#endif

/* No executable stack, also in the empty object built for other targets. */
#if defined(__ELF__)
    .section .note.GNU-stack,"",%progbits
#endif
