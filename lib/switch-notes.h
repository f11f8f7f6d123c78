/*
 * The ELF notes of the switch's assembly files, included at the end of each
 * of them. Both files are assembled on every target (the one for the other
 * architecture to an empty object), so both carry the notes of the target:
 * one object without them would drop the whole library's marking.
 */
#if defined(__ELF__)
/* A NT_GNU_PROPERTY_TYPE_0 note ("GNU") with one 4-byte property. */
#define PROPERTY_NOTE(type, bits) \
    .section .note.gnu.property,"a"; .p2align 3; \
    .long 4; .long 16; .long 5; .asciz "GNU"; \
    .long type; .long 4; .long bits; .p2align 3

/* No executable stack. */
    .section .note.GNU-stack,"",%progbits

#if defined(__x86_64__) && defined(__CET__)
/* Indirect branch tracking: every function of switch-x86_64.S begins with
 * endbr64, and its one jump to a non-endbr64 target is notrack. Not SHSTK:
 * the switch changes stacks without changing shadow stacks. */
    PROPERTY_NOTE(0xc0000002, 1) /* GNU_PROPERTY_X86_FEATURE_1_AND: IBT */
#endif

#if defined(__aarch64__) && defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* Branch target identification: every function of switch-aarch64.S begins
 * with bti c. Not PAC: the saved x30 is stored unsigned in the frame. */
    PROPERTY_NOTE(0xc0000000, 1) /* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI */
#endif
#endif
