/*
 * The ELF notes of the switch's assembly files, included at the end of each
 * of them. Both files are assembled on every target (the one for the other
 * architecture to an empty object), so both carry the notes of the target:
 * one object without them would drop the whole library's marking.
 */
#if defined(__ELF__)
/* No executable stack. */
    .section .note.GNU-stack,"",%progbits

#if defined(__x86_64__) && defined(__CET__)
/* Indirect branch tracking: every function of switch-x86_64.S begins with
 * endbr64, and its one jump to a non-endbr64 target is notrack. Not SHSTK:
 * the switch changes stacks without changing shadow stacks. */
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4                     /* name size: "GNU" */
    .long 16                    /* descriptor size */
    .long 5                     /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000002            /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long 4
    .long 1                     /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif

#if defined(__aarch64__) && defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* Branch target identification: every function of switch-aarch64.S begins
 * with bti c. Not PAC: the saved x30 is stored unsigned in the frame. */
    .section .note.gnu.property,"a"
    .p2align 3
    .long 4                     /* name size: "GNU" */
    .long 16                    /* descriptor size */
    .long 5                     /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz "GNU"
    .long 0xc0000000            /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long 4
    .long 1                     /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
    .p2align 3
#endif
#endif
