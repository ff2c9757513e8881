/* ctx_x86_64.S - the x86-64 (System V, ELF) context switch and the first-run trampoline. */

/*
 * A suspended context is nothing but its saved stack pointer. Everything else
 * the System V ABI asks a callee to preserve sits on the suspended stack, in
 * this layout (offsets from the saved stack pointer, growing upwards):
 *
 *   0   MXCSR (4 bytes), x87 control word (2 bytes), 2 bytes unused
 *   8   r15
 *   16  r14
 *   24  r13
 *   32  r12
 *   40  rbx
 *   48  rbp
 *   56  return address
 *   64  the caller's stack pointer after the call returns
 *
 * ctx_asm.c writes exactly this layout for a context that has never run, so
 * the C side and this file must change together.
 *
 * Control-flow enforcement: the entry points start with endbr64 when the
 * compiler asks for indirect-branch tracking, which costs nothing on CPUs
 * without it. The switch itself leaves by an indirect jump to the popped
 * return address, and it moves between stacks without moving a shadow stack,
 * so this object deliberately carries no GNU property note claiming IBT or
 * shadow-stack support; a linker then marks the final binary as not
 * CET-enabled instead of letting it fault at the first switch.
 */

#if defined(__x86_64__) && defined(__LP64__) && defined(__ELF__)

#if defined(__CET__) && (__CET__ & 1)
#define GLOOP__ENDBR endbr64
#else
#define GLOOP__ENDBR
#endif

	.text

/* The body shared by both switches: save the callee-saved state on the
 * current stack, store its stack pointer into *rdi, load the one in *rsi
 * and pop that context's state. rdi = from, rsi = to. The CFI describes the
 * frame laid out above; because every suspended stack has the same layout,
 * it stays correct after rsp has moved to the other stack, where it
 * describes the resumed context instead. */
.macro GLOOP__SWAP_STACKS
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	/* The rounding mode, exception masks and precision control are
	 * callee-saved under the ABI, so each context keeps its own. */
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)

	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp

	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
.endm

/* void gloop__ctx_switch(gloop__ctx *from, gloop__ctx *to)
 *
 * For switches between the scheduler and a task. Only caller-saved
 * registers (rcx here) are used as scratch. It leaves with pop + jmp instead
 * of ret: the return-stack predictor would expect the switch to return to
 * its own caller, but the scheduler and a task suspend at different places,
 * so a ret mispredicts on every such switch, while the indirect-branch
 * predictor learns the alternation. */
	.globl	gloop__ctx_switch
	.hidden	gloop__ctx_switch
	.type	gloop__ctx_switch, @function
	.p2align 4
gloop__ctx_switch:
	.cfi_startproc
	GLOOP__ENDBR
	GLOOP__SWAP_STACKS
	popq	%rcx
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
	jmp	*%rcx
	.cfi_endproc
	.size	gloop__ctx_switch, .-gloop__ctx_switch

/* void gloop__ctx_handoff(gloop__ctx *from, gloop__ctx *to)
 *
 * The same switch for one task handing over to the next, leaving by ret.
 * Tasks of a batch mostly suspend at the same place (the hand-over in
 * task.c, called through the same functions), so the return the predictor
 * expects, the call that entered this switch, is where the resumed task
 * continues, and so are the returns after it: every return of the step is
 * predicted. With pop + jmp the entry this call pushed on the return stack
 * is never taken off, which misaligns the stack by one: the resumed task's
 * next two returns mispredicted, at 10 000 tasks as much as a whole switch
 * costs. */
	.globl	gloop__ctx_handoff
	.hidden	gloop__ctx_handoff
	.type	gloop__ctx_handoff, @function
	.p2align 4
gloop__ctx_handoff:
	.cfi_startproc
	GLOOP__ENDBR
	GLOOP__SWAP_STACKS
	ret
	.cfi_endproc
	.size	gloop__ctx_handoff, .-gloop__ctx_handoff

/* The first switch into a fresh context "returns" here, with rsp 16-byte
 * aligned, r12 = entry and r13 = arg taken from the initial frame. The call
 * pushes the return address, so entry's frame starts aligned exactly as the
 * ABI requires at a call. gloop__ctx_start never returns. The return address
 * column is undefined so that debuggers and unwinders stop here instead of
 * walking past the top of the coroutine stack. */
	.globl	gloop__ctx_trampoline
	.hidden	gloop__ctx_trampoline
	.type	gloop__ctx_trampoline, @function
	.p2align 4
gloop__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined %rip
	GLOOP__ENDBR
	movq	%r12, %rdi
	movq	%r13, %rsi
	call	gloop__ctx_start
	/* Not reached: gloop__ctx_start aborts if entry ever returns. */
	ud2
	.cfi_endproc
	.size	gloop__ctx_trampoline, .-gloop__ctx_trampoline

#endif /* __x86_64__ && __LP64__ && __ELF__ */

/* The coroutine stacks are ordinary memory; nothing here needs an
 * executable stack. */
#if defined(__ELF__)
	.section .note.GNU-stack, "", @progbits
#endif
