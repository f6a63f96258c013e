/* Harts: start and stop, hart-local data (through `tp`), IPIs, timer, traps. */
#ifndef HARTVISOR_SDK_HART_H
#define HARTVISOR_SDK_HART_H

#include <stdint.h>
#include "sdk_config.h"

/* Life cycle of a hart as the SDK sees it. */
#define HART_OFFLINE  0	/* never started, or stopped (hart_exit) */
#define HART_STARTING 1	/* hart_start() succeeded; it has not reached its entry yet */
#define HART_ONLINE   2	/* running */

/* Paravirtual-lock statistics of one hart (see spinlock.h). */
struct pv_stats {
	unsigned slow;		/* acquisitions that had to wait beyond the first check */
	unsigned yield_calls;	/* hv_yield_to() calls */
	unsigned yield_given;	/* ... that gave the CPU to the holder (returned 0) */
	unsigned halts;		/* wfi executed while waiting */
	unsigned kicks;		/* hv_kick() calls made when unlocking */
};

/* Hart-local data; `tp` points at the running hart's entry. */
struct hart {
	uint32_t id;
	volatile uint32_t state;	/* HART_* */
	volatile uint32_t leave;	/* set by hart_request_leave(): finish up and hart_exit() */
	unsigned starts;		/* how often this hart was started (the boot hart counts 1) */
	void (*entry)(void *arg);
	void *arg;
	void *user;			/* free for the guest */
	struct pv_stats pv;
};

extern struct hart sdk_harts[SDK_MAX_HARTS];

static inline struct hart *hart_self(void)
{
	struct hart *h;
	__asm__ volatile("mv %0, tp" : "=r"(h));
	return h;
}

static inline unsigned hart_id(void) { return hart_self()->id; }
static inline struct hart *hart_get(unsigned hartid) { return &sdk_harts[hartid]; }

/* The hart that entered _start. */
unsigned hart_boot_id(void);
/* Possible harts, from the device tree's /cpus (or probed with HSM hart_get_status), at
 * most SDK_MAX_HARTS. hart_possible_limit() is one more than the largest possible id. */
unsigned hart_count_possible(void);
unsigned hart_possible_limit(void);
int hart_is_possible(unsigned hartid);
/* 1 while the hart is STARTING or ONLINE. */
int hart_is_online(unsigned hartid);
/* Notices a hart that was stopped from outside (hartvisor's forced removal: HSM says
 * STOPPED while the SDK still has it ONLINE), marks it OFFLINE and returns 1. */
int hart_reap(unsigned hartid);

/* Starts a stopped hart at the SDK's secondary entry; it runs fn(arg) with interrupts
 * enabled (sstatus.SIE, sie.SSIE) and calls hart_exit() when fn returns. Returns the SBI
 * error (0 = started). */
long hart_start(unsigned hartid, void (*fn)(void *arg), void *arg);
/* Marks this hart OFFLINE and stops it (SBI HSM hart_stop). Never returns. */
void hart_exit(void) __attribute__((noreturn));
/* Waits (spinning with pause) until the hart is OFFLINE (reaping it if needed). */
void hart_wait_offline(unsigned hartid);

/* Asks a hart to leave: sets its `leave` flag and sends it an IPI (none to itself). */
void hart_request_leave(unsigned hartid);
static inline int hart_should_leave(void) { return hart_self()->leave != 0; }

/* Supervisor software interrupt (IPI). The SDK clears sip.SSIP, then calls the handler. */
long hart_send_ipi(unsigned hartid);
void sdk_set_ipi_handler(void (*fn)(void));

/* Supervisor timer: timer_arm(t) fires the handler once when `time` >= t (sie.STIE). The
 * SDK disarms the timer before calling the handler, which may re-arm it. */
void sdk_set_timer_handler(void (*fn)(void));
void timer_arm(uint64_t deadline);
void timer_disarm(void);
/* /cpus/timebase-frequency (Hz), 10 MHz when the device tree does not say. */
unsigned timebase_hz(void);

/* SRST shutdown: reason 0 (ok) when failed == 0, else 1 (failure). Never returns. */
void sdk_shutdown(int failed) __attribute__((noreturn));

/* The guest's main, on the boot hart with interrupts enabled. Its return value goes to
 * sdk_shutdown(). */
int main(void);

#endif
