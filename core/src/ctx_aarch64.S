/* ctx_aarch64.S - the AArch64 (AAPCS64, ELF) context switch and the first-run trampoline. */

/*
 * A suspended context is nothing but its saved stack pointer. Everything else
 * AAPCS64 asks a callee to preserve sits on the suspended stack, in this
 * 176-byte layout (offsets from the saved stack pointer, growing upwards):
 *
 *   0    x19, x20        16   x21, x22        32   x23, x24
 *   48   x25, x26        64   x27, x28        80   x29 (fp), x30 (lr)
 *   96   d8, d9          112  d10, d11        128  d12, d13
 *   144  d14, d15        160  FPCR            168  unused (keeps sp aligned)
 *
 * ctx_asm.c writes exactly this layout for a context that has never run, so
 * the C side and this file must change together.
 *
 * Branch protection: the switch is entered by bl and left by ret, and the
 * trampoline is only ever reached by that ret, so neither needs a BTI
 * landing pad beyond the "bti c" emitted at the switch's entry when the
 * compiler builds with BTI. The switch never signs or authenticates x30; the
 * value it returns through is the one the resumed context's own bl wrote.
 */

#if defined(__aarch64__) && defined(__LP64__) && defined(__ELF__)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define GLOOP__BTI_C hint 34
#else
#define GLOOP__BTI_C
#endif

	.text

/* void gloop__ctx_switch(gloop__ctx *from, gloop__ctx *to)
 *
 * x0 = from, x1 = to. x9 and x10 are caller-saved scratch. The CFI
 * describes the frame laid out above; because every suspended stack has the
 * same layout, it stays correct after sp has moved to the other stack, where
 * it describes the resumed context instead. */
	.globl	gloop__ctx_switch
	.hidden	gloop__ctx_switch
	.type	gloop__ctx_switch, %function
	.p2align 4
gloop__ctx_switch:
	.cfi_startproc
	GLOOP__BTI_C
	sub	sp, sp, #176
	.cfi_def_cfa_offset 176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	.cfi_offset x19, -176
	.cfi_offset x20, -168
	.cfi_offset x21, -160
	.cfi_offset x22, -152
	.cfi_offset x23, -144
	.cfi_offset x24, -136
	.cfi_offset x25, -128
	.cfi_offset x26, -120
	.cfi_offset x27, -112
	.cfi_offset x28, -104
	.cfi_offset x29, -96
	.cfi_offset x30, -88
	/* Only the low 64 bits of v8-v15 are callee-saved under AAPCS64. */
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	/* The rounding mode, flush-to-zero and trap enables live in FPCR; each
	 * context keeps its own. x10 keeps the value current in this context
	 * so that the restore below can skip the write, which is a
	 * synchronising and comparatively slow operation on many cores, when
	 * both contexts use the same mode, as they nearly always do. */
	mrs	x10, fpcr
	str	x10, [sp, #160]

	mov	x9, sp
	str	x9, [x0]
	ldr	x9, [x1]
	mov	sp, x9

	ldr	x9, [sp, #160]
	cmp	x9, x10
	b.eq	1f
	msr	fpcr, x9
1:
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	add	sp, sp, #176
	.cfi_def_cfa_offset 0
	.cfi_restore x19
	.cfi_restore x20
	.cfi_restore x21
	.cfi_restore x22
	.cfi_restore x23
	.cfi_restore x24
	.cfi_restore x25
	.cfi_restore x26
	.cfi_restore x27
	.cfi_restore x28
	.cfi_restore x29
	.cfi_restore x30
	ret
	.cfi_endproc
	.size	gloop__ctx_switch, .-gloop__ctx_switch

/* The first switch into a fresh context returns here with sp 16-byte
 * aligned, x19 = entry, x20 = arg and x29 = 0 taken from the initial frame.
 * gloop__ctx_start never returns. The link register column is undefined so
 * that debuggers and unwinders stop here instead of walking past the top of
 * the coroutine stack. */
	.globl	gloop__ctx_trampoline
	.hidden	gloop__ctx_trampoline
	.type	gloop__ctx_trampoline, %function
	.p2align 4
gloop__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x19
	mov	x1, x20
	bl	gloop__ctx_start
	/* Not reached: gloop__ctx_start aborts if entry ever returns. */
	brk	#0x3c
	.cfi_endproc
	.size	gloop__ctx_trampoline, .-gloop__ctx_trampoline

/* When the build asks for BTI, say so in the GNU property note; without it
 * the linker would quietly turn BTI off for the whole binary because this
 * one object lacked the marking. The code above is BTI-compatible (see the
 * note on branch protection at the top). The PAC bit is not claimed: the
 * switch does not sign its return address, because a fresh context's first
 * "return" goes to the trampoline through an address no one signed. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
	.pushsection .note.gnu.property, "a"
	.p2align 3
	.long	4			/* name size: "GNU\0" */
	.long	16			/* descriptor size */
	.long	5			/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.long	0xc0000000		/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.long	4			/* property data size */
	.long	1			/* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
	.long	0			/* padding to 8 bytes */
	.popsection
#endif

#endif /* __aarch64__ && __LP64__ && __ELF__ */

/* The coroutine stacks are ordinary memory; nothing here needs an
 * executable stack. */
#if defined(__ELF__)
	.section .note.GNU-stack, "", %progbits
#endif
