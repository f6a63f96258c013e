/* Start-up code shared by hartvisor's bare-metal M-mode guests.
 *
 * Entered at _start in M-mode. Hart 0 sets up gp/sp and a trap vector,
 * clears .bss, calls main() and exits through HTIF with main's return value.
 * Any other hart parks in a wfi loop.
 *
 * Built with -DREPORT_INSTRET (`make count`, never for images/), it also
 * prints the number of instructions retired from _start to main's return on
 * the HTIF console, as read from minstret; QEMU counts exactly with
 * `-icount shift=0`.
 *
 * An unexpected trap ends the run with exit code 64 + cause for an exception
 * and 128 + cause for an interrupt (cause = mcause & 63): never 0, and it
 * survives QEMU, whose process exit status keeps only the low 8 bits. */

	.section .text.init, "ax", @progbits
	.globl	_start
_start:
#ifdef REPORT_INSTRET
	csrr	s0, minstret
#endif
	csrr	t0, mhartid
	bnez	t0, .Lpark

	.option	push
	.option	norelax
	la	gp, __global_pointer$
	.option	pop
	la	sp, __stack_top

	la	t0, .Ltrap
	csrw	mtvec, t0
	csrw	mie, zero

	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sw	zero, 0(t0)
	addi	t0, t0, 4
	j	1b
2:
	call	main
#ifdef REPORT_INSTRET
	csrr	a1, minstret
	sub	a1, a1, s0
	mv	s1, a0
	mv	a0, a1
	call	htif_report_instret
	mv	a0, s1
#endif
	j	htif_exit		/* a0 = main's return value; never returns */

.Lpark:
	wfi
	j	.Lpark

	.balign	4			/* mtvec (direct mode) needs 4-byte alignment */
.Ltrap:
	csrr	a0, mcause
	andi	a1, a0, 63
	ori	a1, a1, 64		/* exception: 64 + cause */
	bgez	a0, 3f
	xori	a1, a1, 64 + 128	/* interrupt: 128 + cause */
3:	mv	a0, a1
	j	htif_exit

/* The HTIF mailboxes, 64-bit each, in their own 64-byte-aligned section. */
	.section .tohost, "aw", @progbits
	.balign	64
	.globl	tohost
	.type	tohost, @object
	.size	tohost, 8
tohost:
	.dword	0
	.balign	64
	.globl	fromhost
	.type	fromhost, @object
	.size	fromhost, 8
fromhost:
	.dword	0
