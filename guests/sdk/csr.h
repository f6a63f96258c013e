/* CSR access and a few privileged instructions for S-mode code. */
#ifndef HARTVISOR_SDK_CSR_H
#define HARTVISOR_SDK_CSR_H

#include <stdint.h>

#define csr_read(csr) ({ unsigned long __v; __asm__ volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); __v; })
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" :: "rK"(val) : "memory")
#define csr_set(csr, bits) __asm__ volatile("csrs " #csr ", %0" :: "rK"(bits) : "memory")
#define csr_clear(csr, bits) __asm__ volatile("csrc " #csr ", %0" :: "rK"(bits) : "memory")
#define csr_read_clear(csr, bits) ({ unsigned long __v; \
	__asm__ volatile("csrrc %0, " #csr ", %1" : "=r"(__v) : "rK"(bits) : "memory"); __v; })

#define SSTATUS_SIE   (1ul << 1)
#define SSTATUS_SPIE  (1ul << 5)
#define SIE_SSIE      (1ul << 1)
#define SIE_STIE      (1ul << 5)
#define SIE_SEIE      (1ul << 9)
#define SIP_SSIP      (1ul << 1)

#define SCAUSE_INTERRUPT (1ul << 31)
#define IRQ_S_SOFT  1
#define IRQ_S_TIMER 5
#define IRQ_S_EXT   9

/* The 64-bit `time` CSR, read consistently on RV32. */
static inline uint64_t rdtime64(void)
{
	uint32_t hi, lo, hi2;
	do {
		__asm__ volatile("rdtimeh %0" : "=r"(hi));
		__asm__ volatile("rdtime %0" : "=r"(lo));
		__asm__ volatile("rdtimeh %0" : "=r"(hi2));
	} while (hi != hi2);
	return ((uint64_t)hi << 32) | lo;
}

/* PAUSE (Zihintpause): a hint that this hart is spinning. Encoded as a FENCE with
 * pred = W, succ = 0, so any RV32I core runs it as a no-op. */
static inline void cpu_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void cpu_wfi(void)
{
	__asm__ volatile("wfi" ::: "memory");
}

static inline void fence_rw_rw(void)
{
	__asm__ volatile("fence rw, rw" ::: "memory");
}

/* Interrupts of this hart (sstatus.SIE). irq_save disables them and returns the old state. */
static inline unsigned long irq_save(void)
{
	return csr_read_clear(sstatus, SSTATUS_SIE) & SSTATUS_SIE;
}

static inline void irq_restore(unsigned long flags)
{
	if (flags)
		csr_set(sstatus, SSTATUS_SIE);
}

static inline void irq_enable(void) { csr_set(sstatus, SSTATUS_SIE); }
static inline void irq_disable(void) { csr_clear(sstatus, SSTATUS_SIE); }

#endif
