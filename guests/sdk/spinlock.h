/* Spinlocks: a ticket lock whose spin loop uses PAUSE, and a paravirtual ticket lock
 * that halts (wfi) and yields (hv_yield_to) under the hartvisor extension. */
#ifndef HARTVISOR_SDK_SPINLOCK_H
#define HARTVISOR_SDK_SPINLOCK_H

#include <stdint.h>
#include "sdk_config.h"

/* Ticket lock: take a ticket (`next`, amoadd), spin with pause until `owner` reaches it.
 * Fair (FIFO). Not recursive; any hart may release. */
typedef struct {
	volatile uint32_t next;
	volatile uint32_t owner;
} ticket_lock_t;
#define TICKET_LOCK_INIT { 0, 0 }

void ticket_lock(ticket_lock_t *l);
int ticket_trylock(ticket_lock_t *l);	/* 1 = taken */
void ticket_unlock(ticket_lock_t *l);
/* Takes the same lock without queueing: waits (pause) until it is free with nobody in
 * line, then takes a ticket with compare-and-swap (test-and-test-and-set). Not FIFO, but
 * no convoy: with more vCPUs than host CPUs, a FIFO ticket lock hands the lock to a
 * waiter that may not be running, and every waiter behind it waits for the host
 * scheduler (see guests/README.md). Released with ticket_unlock(). Do not mix with
 * ticket_lock() callers that need FIFO order. */
void ticket_lock_unfair(ticket_lock_t *l);

/* Paravirtual ticket lock. The same tickets, plus one slot per outstanding ticket
 * (slot[ticket % SDK_MAX_HARTS]: (ticket << 16) | HALTED? | (hartid + 1)), written by the hart
 * that holds that ticket, so anyone can tell which hart holds or is next in line for the
 * lock. A waiter spins with pause for pv_spin_limit rounds; then
 *  - if the hart holding the lock's current ticket is known, it calls hv_yield_to(holder)
 *    (the hypervisor gives it our CPU when it is runnable but not running) and spins again
 *    when that worked;
 *  - otherwise, if it is not next in line, it marks its slot HALTED and executes wfi;
 *    an unlocker hv_kick()s the HALTED hart of the ticket it hands the lock to, and the
 *    one of the ticket after it (now next in line), so that hart is already awake and
 *    spinning when the lock reaches it: the wake-up overlaps the critical section.
 * Without the hartvisor extension (hv_present() == 0) it is a plain ticket lock. */
typedef struct {
	volatile uint32_t next;
	volatile uint32_t owner;
	volatile uint32_t slot[SDK_MAX_HARTS];
} pv_lock_t;
#define PV_LOCK_INIT { 0, 0, { 0 } }

void pv_lock(pv_lock_t *l);
void pv_unlock(pv_lock_t *l);
/* Spin rounds (each one load and one pause) before a waiter yields or halts. */
extern uint32_t pv_spin_limit;
#define PV_SPIN_LIMIT_DEFAULT 128

/* A lock whose kind is chosen at run time (for guests that compare the two). */
#define SDK_LOCK_TICKET 0	/* ticket_lock */
#define SDK_LOCK_PV     1	/* pv_lock */
#define SDK_LOCK_TAS    2	/* ticket_lock_unfair */
typedef struct {
	int kind;
	union {
		ticket_lock_t ticket;
		pv_lock_t pv;
	} u;
} sdk_lock_t;

void sdk_lock_init(sdk_lock_t *l, int kind);
static inline void sdk_lock_acquire(sdk_lock_t *l)
{
	if (l->kind == SDK_LOCK_PV)
		pv_lock(&l->u.pv);
	else if (l->kind == SDK_LOCK_TAS)
		ticket_lock_unfair(&l->u.ticket);
	else
		ticket_lock(&l->u.ticket);
}
static inline void sdk_lock_release(sdk_lock_t *l)
{
	if (l->kind == SDK_LOCK_PV)
		pv_unlock(&l->u.pv);
	else
		ticket_unlock(&l->u.ticket);
}
/* "ticket", "pv", "tas" -> SDK_LOCK_*; anything else -> -1. */
int sdk_lock_kind_parse(const char *name);
const char *sdk_lock_kind_name(int kind);

#endif
