/* Shared driver of the directed-yield lock workloads (ticket.c, hashtable.c).
 *
 * The boot hart reads the options, calls setup(), takes the start time and starts every
 * other possible hart (below yield.harts=K, default all); then every hart calls batch()
 * until the `time` CSR passes start + yield.ticks (default 50,000,000 = 5 s at 10 MHz).
 * The boot hart waits for the others to stop, calls check(total) and prints
 * `yield: ops=<total>` last, then shuts down (SRST reason 1 if check failed). */
#ifndef HARTVISOR_YIELD_H
#define HARTVISOR_YIELD_H

#include "sdk.h"

struct yield_guest {
	const char *name;
	void (*setup)(void);			/* boot hart, before the others start */
	uint32_t (*batch)(unsigned hart);	/* some operations; returns how many */
	int (*check)(uint64_t total);		/* 0 = consistent; may print details */
};

extern int yield_lock_kind;	/* yield.lock=ticket|pv|tas (default ticket) */

int yield_main(const struct yield_guest *g);

#endif
