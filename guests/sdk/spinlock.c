/* Ticket spinlock and paravirtual ticket spinlock. */
#include "spinlock.h"
#include "csr.h"
#include "sbi.h"
#include "hart.h"
#include "sdk_string.h"

/* ---- ticket lock ---- */

void ticket_lock(ticket_lock_t *l)
{
	uint32_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	while (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != me)
		cpu_pause();
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

int ticket_trylock(ticket_lock_t *l)
{
	uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
	uint32_t expect = owner;
	/* Take a ticket only if it is served at once: next == owner. */
	return __atomic_compare_exchange_n(&l->next, &expect, owner + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

void ticket_lock_unfair(ticket_lock_t *l)
{
	for (;;) {
		uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
		uint32_t expect = owner;
		if (__atomic_load_n(&l->next, __ATOMIC_RELAXED) == owner &&
		    __atomic_compare_exchange_n(&l->next, &expect, owner + 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		cpu_pause();
	}
}

void ticket_unlock(ticket_lock_t *l)
{
	/* Only the holder writes owner. */
	__atomic_store_n(&l->owner, l->owner + 1, __ATOMIC_RELEASE);
}

/* ---- paravirtual ticket lock ---- */

uint32_t pv_spin_limit = PV_SPIN_LIMIT_DEFAULT;

#define PV_SLOT_HALTED 0x8000u
#define PV_SLOT_HART   0x7fffu
#define PV_SLOT(t) ((t) & (SDK_MAX_HARTS - 1))

/* A slot entry: (ticket << 16) | HALTED? | (hartid + 1); 0 = never written. */
static inline uint32_t pv_entry(uint32_t ticket, uint32_t hart)
{
	return (ticket << 16) | ((hart + 1) & PV_SLOT_HART);
}

static inline uint32_t pv_entry_hart(uint32_t entry)
{
	return (entry & PV_SLOT_HART) - 1;
}

static inline int pv_entry_is(uint32_t entry, uint32_t ticket)
{
	/* The slot is rewritten by each ticket that maps to it; only trust a matching one. */
	return (entry & PV_SLOT_HART) != 0 && (entry >> 16) == (ticket & 0xffffu);
}

void pv_lock(pv_lock_t *l)
{
	struct hart *self = hart_self();
	uint32_t me = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	volatile uint32_t *slot = &l->slot[PV_SLOT(me)];
	*slot = pv_entry(me, self->id);
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == me)
		goto taken;
	self->pv.slow++;
	/* Spin rounds before the next yield/halt decision: doubled (up to 64 x pv_spin_limit)
	 * after each yield the hypervisor declined (the holder is running), so a waiter next
	 * in line does not make an ecall every few microseconds. */
	uint32_t rounds = pv_spin_limit;
	for (;;) {
		for (uint32_t i = 0; i < rounds; i++) {
			if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) == me)
				goto taken;
			cpu_pause();
		}
		if (!hv_present())
			continue;	/* plain ticket lock */
		uint32_t owner = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
		if (owner == me)
			goto taken;
		uint32_t holder = l->slot[PV_SLOT(owner)];
		if (pv_entry_is(holder, owner)) {
			self->pv.yield_calls++;
			if (hv_yield_to(pv_entry_hart(holder)) == 0) {
				self->pv.yield_given++;
				rounds = pv_spin_limit;
				continue;
			}
			if (rounds < 64 * pv_spin_limit)
				rounds *= 2;
		}
		if (me - owner == 1)
			continue;	/* next in line and the holder runs: keep spinning */
		/* Halt until an unlocker kicks us: when we become next in line or get the lock. */
		*slot = pv_entry(me, self->id) | PV_SLOT_HALTED;
		fence_rw_rw();	/* the HALTED mark before the owner check; pairs with pv_unlock */
		if (me - __atomic_load_n(&l->owner, __ATOMIC_RELAXED) > 1) {
			self->pv.halts++;
			cpu_wfi();
		}
		*slot = pv_entry(me, self->id);
	}
taken:
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
}

static inline void pv_kick_if_halted(pv_lock_t *l, uint32_t ticket)
{
	uint32_t entry = l->slot[PV_SLOT(ticket)];
	if (pv_entry_is(entry, ticket) && (entry & PV_SLOT_HALTED)) {
		hart_self()->pv.kicks++;
		hv_kick(pv_entry_hart(entry));
	}
}

void pv_unlock(pv_lock_t *l)
{
	uint32_t next = l->owner + 1;
	__atomic_store_n(&l->owner, next, __ATOMIC_RELEASE);
	if (!hv_present())
		return;
	fence_rw_rw();	/* the owner store before reading the waiters' slots */
	/* The new holder, if it halted, and the one now next in line, so that it is awake
	 * and spinning by the time the lock reaches it. */
	pv_kick_if_halted(l, next);
	if (__atomic_load_n(&l->next, __ATOMIC_RELAXED) - next > 1)
		pv_kick_if_halted(l, next + 1);
}

/* ---- run-time choice ---- */

void sdk_lock_init(sdk_lock_t *l, int kind)
{
	memset(l, 0, sizeof(*l));
	l->kind = kind == SDK_LOCK_PV || kind == SDK_LOCK_TAS ? kind : SDK_LOCK_TICKET;
}

int sdk_lock_kind_parse(const char *name)
{
	if (strcmp(name, "ticket") == 0)
		return SDK_LOCK_TICKET;
	if (strcmp(name, "pv") == 0)
		return SDK_LOCK_PV;
	if (strcmp(name, "tas") == 0)
		return SDK_LOCK_TAS;
	return -1;
}

const char *sdk_lock_kind_name(int kind)
{
	return kind == SDK_LOCK_PV ? "pv" : kind == SDK_LOCK_TAS ? "tas" : "ticket";
}
