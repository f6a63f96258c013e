/* Shared driver of the directed-yield lock workloads. */
#include "yield.h"

#define DEFAULT_TICKS 50000000ull

int yield_lock_kind = SDK_LOCK_TICKET;

static const struct yield_guest *guest;
static uint64_t deadline;
static uint64_t ops[SDK_MAX_HARTS];

static void run(void)
{
	unsigned me = hart_id();
	uint64_t n = 0;
	do
		n += guest->batch(me);
	while (rdtime64() < deadline);
	ops[me] = n;
}

static void worker(void *arg)
{
	(void)arg;
	run();
}

int yield_main(const struct yield_guest *g)
{
	unsigned me = hart_id();
	char buf[16];
	guest = g;
	if (bootarg_str("yield.lock", buf, sizeof(buf))) {
		yield_lock_kind = sdk_lock_kind_parse(buf);
		if (yield_lock_kind < 0) {
			printf("yield: unknown yield.lock=%s (ticket, pv or tas)\n", buf);
			return 1;
		}
	}
	uint64_t ticks = bootarg_u64("yield.ticks", DEFAULT_TICKS);
	unsigned limit = hart_possible_limit();
	unsigned k = bootarg_u32("yield.harts", limit);
	pv_spin_limit = bootarg_u32("yield.spin", PV_SPIN_LIMIT_DEFAULT);
	g->setup();

	uint64_t start = rdtime64();
	deadline = start + ticks;
	unsigned started = 1;
	for (unsigned h = 0; h < limit && h < k; h++) {
		if (h == me || !hart_is_possible(h))
			continue;
		long err = hart_start(h, worker, 0);
		if (err == 0)
			started++;
		else
			printf("yield: hart %u: hart_start failed (%ld)\n", h, err);
	}
	printf("yield: guest=%s lock=%s harts=%u ticks=%llu timebase=%u hv=%d\n", g->name,
	       sdk_lock_kind_name(yield_lock_kind), started, (unsigned long long)ticks, timebase_hz(), hv_present());
	run();
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++)
		if (h != me)
			hart_wait_offline(h);
	uint64_t end = rdtime64();

	uint64_t total = 0;
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++) {
		total += ops[h];
		if (sdk_harts[h].starts)
			printf("yield: hart %u ops=%llu\n", h, (unsigned long long)ops[h]);
	}
	if (yield_lock_kind == SDK_LOCK_PV) {
		struct pv_stats t = { 0, 0, 0, 0, 0 };
		for (unsigned h = 0; h < SDK_MAX_HARTS; h++) {
			t.slow += sdk_harts[h].pv.slow;
			t.yield_calls += sdk_harts[h].pv.yield_calls;
			t.yield_given += sdk_harts[h].pv.yield_given;
			t.halts += sdk_harts[h].pv.halts;
			t.kicks += sdk_harts[h].pv.kicks;
		}
		printf("yield: pv slow=%u yield_calls=%u yield_given=%u halts=%u kicks=%u\n", t.slow, t.yield_calls,
		       t.yield_given, t.halts, t.kicks);
	}
	printf("yield: elapsed ticks=%llu\n", (unsigned long long)(end - start));
	int bad = g->check(total);
	printf("yield: check %s\n", bad ? "WRONG" : "OK");
	printf("yield: ops=%llu\n", (unsigned long long)total);
	return bad;
}
