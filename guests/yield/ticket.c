/* yield-ticket: every hart increments one shared counter under one spinlock (ticket, or
 * pv with yield.lock=pv) for yield.ticks of virtual time; see yield.h. */
#include "yield.h"

#define BATCH 8	/* operations between two looks at the clock */

static sdk_lock_t lock;
static volatile uint64_t counter;

static void setup(void)
{
	sdk_lock_init(&lock, yield_lock_kind);
}

static uint32_t batch(unsigned hart)
{
	(void)hart;
	for (int i = 0; i < BATCH; i++) {
		sdk_lock_acquire(&lock);
		counter++;
		sdk_lock_release(&lock);
	}
	return BATCH;
}

static int check(uint64_t total)
{
	if (counter != total) {
		printf("yield: counter=%llu differs from the sum of the harts' counts\n", (unsigned long long)counter);
		return 1;
	}
	return 0;
}

static const struct yield_guest guest = { "ticket", setup, batch, check };

int main(void)
{
	return yield_main(&guest);
}
