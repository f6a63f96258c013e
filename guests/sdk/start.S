/* Entry points of an SDK guest (S-mode, flat image at 0x80400000).
 *
 * _start: the boot hart, a0 = hartid, a1 = device tree. Sets gp, its stack and stvec,
 *   clears .bss (only here: the other harts are stopped until this one starts them),
 *   and calls sdk_boot(hartid, dtb), which never returns.
 * sdk_secondary_entry: where hart_start() starts other harts, a0 = hartid, a1 = opaque.
 *   Sets gp, its stack and stvec and calls sdk_secondary(hartid, opaque).
 * Each hart's stack is slot `hartid` of the per-hart stack area; `tp` is set in C
 * (hart-local data). A hart whose id is at least SDK_MAX_HARTS has no stack: it stops.
 *
 * sdk_trap_vector: saves the caller-saved registers on the current stack (the guest
 * has no user mode, so sp is always a kernel stack), calls sdk_trap(frame), restores,
 * sret. Traps do not nest: sstatus.SIE is clear while the handler runs. */
#include "sdk_config.h"

	.section .text.init, "ax", @progbits
	.globl	_start
_start:
	.option	push
	.option	norelax
	la	gp, __global_pointer$
	.option	pop
	csrw	sie, zero
	csrw	sip, zero
	li	t0, SDK_MAX_HARTS
	bgeu	a0, t0, .Lno_stack
	la	t0, .Lhalt		/* no traps expected before sdk_boot sets the real vector */
	csrw	stvec, t0
	la	t0, __bss_start
	la	t1, __bss_end
1:	bgeu	t0, t1, 2f
	sw	zero, 0(t0)
	addi	t0, t0, 4
	j	1b
2:	call	.Lset_stack
	la	t0, sdk_trap_vector
	csrw	stvec, t0
	tail	sdk_boot

	.globl	sdk_secondary_entry
sdk_secondary_entry:
	.option	push
	.option	norelax
	la	gp, __global_pointer$
	.option	pop
	csrw	sie, zero
	li	t0, SDK_MAX_HARTS
	bgeu	a0, t0, .Lno_stack
	call	.Lset_stack
	la	t0, sdk_trap_vector
	csrw	stvec, t0
	tail	sdk_secondary

/* sp = __sdk_stacks + (a0 + 1) * SDK_STACK_SIZE; clobbers t0, t1. */
.Lset_stack:
	addi	t0, a0, 1
	li	t1, SDK_STACK_SIZE
	mul	t0, t0, t1
	la	sp, __sdk_stacks
	add	sp, sp, t0
	ret

.Lno_stack:
	/* SBI HSM hart_stop; if that fails, halt here for good. */
	li	a7, 0x48534D
	li	a6, 1
	ecall
	.balign	4
.Lhalt:
	wfi
	j	.Lhalt

	.text
	.balign	4
	.globl	sdk_trap_vector
sdk_trap_vector:
	addi	sp, sp, -80
	sw	ra, 0(sp)
	sw	t0, 4(sp)
	sw	t1, 8(sp)
	sw	t2, 12(sp)
	sw	a0, 16(sp)
	sw	a1, 20(sp)
	sw	a2, 24(sp)
	sw	a3, 28(sp)
	sw	a4, 32(sp)
	sw	a5, 36(sp)
	sw	a6, 40(sp)
	sw	a7, 44(sp)
	sw	t3, 48(sp)
	sw	t4, 52(sp)
	sw	t5, 56(sp)
	sw	t6, 60(sp)
	csrr	t0, sepc
	sw	t0, 64(sp)
	csrr	t0, sstatus
	sw	t0, 68(sp)
	mv	a0, sp
	call	sdk_trap
	lw	t0, 64(sp)
	csrw	sepc, t0
	lw	t0, 68(sp)
	csrw	sstatus, t0
	lw	ra, 0(sp)
	lw	t0, 4(sp)
	lw	t1, 8(sp)
	lw	t2, 12(sp)
	lw	a0, 16(sp)
	lw	a1, 20(sp)
	lw	a2, 24(sp)
	lw	a3, 28(sp)
	lw	a4, 32(sp)
	lw	a5, 36(sp)
	lw	a6, 40(sp)
	lw	a7, 44(sp)
	lw	t3, 48(sp)
	lw	t4, 52(sp)
	lw	t5, 56(sp)
	lw	t6, 60(sp)
	addi	sp, sp, 80
	sret

/* Per-hart stacks: not part of the image and not cleared. */
	.section .sdk_stacks, "aw", @nobits
	.balign	16
	.globl	__sdk_stacks
__sdk_stacks:
	.space	SDK_MAX_HARTS * SDK_STACK_SIZE
