/* demo: harts come and go while they all count under one spinlock.
 *
 * The boot hart starts the other possible harts (those below demo.harts=K, default all;
 * a hart that cannot be started yet, say one hartvisor has not created, is left for a
 * hotplug ADD), then every online hart loops
 *     lock; if (shared < target) { shared++; mine++; } unlock
 * until the shared 64-bit counter reaches the target (demo.ops=N, default 2,000,000),
 * optionally with demo.work=R rounds of private work after each increment (default 0).
 * One hart, the coordinator (at first the boot hart), handles hartvisor's hotplug events:
 * in its IPI handler, from a periodic timer (demo.poll_ms=M, default 10) and every 1024
 * increments of its own. ADD starts the new hart on the same loop; REMOVE asks the hart to
 * leave, which it does between two increments (its count stays in the total). A leaving
 * coordinator hands the role to another running hart first.
 * When the target is reached the coordinator waits until every other hart has stopped,
 * checks shared == sum of the per-hart counts == target, prints the result and the
 * per-hart counts, and shuts down with SRST reason 0 (OK) or 1 (wrong).
 * demo.lock= chooses the lock: ticket (FIFO ticket lock), pv (paravirtual ticket lock; a
 * plain ticket lock without hartvisor), tas (the ticket lock taken test-and-set style:
 * not FIFO, no convoy; the default), auto (pv with the hartvisor extension, else tas).
 * Why not ticket by default: with more vCPUs than free host CPUs (QEMU's 4 vCPU threads
 * on a busy 2-core host) a FIFO lock keeps handing the lock to a vCPU the host is not
 * running, and each hand-off then waits for the host scheduler (milliseconds). pv halts
 * instead, but each hand-off to a halted hart then waits for its wake-up.
 * Other options: demo.harts=K, demo.poll_ms=M, demo.progress_ms=P (coordinator prints the
 * count every P ms, default off), demo.spin=S (pv spin rounds). */
#include "sdk.h"

#define DEFAULT_OPS 2000000u
#define POLL_EVERY  1024u
#define DEFAULT_WORK 0u

static uint64_t target;
static sdk_lock_t lock;
static volatile uint64_t shared_counter;	/* under lock */
static uint64_t per_hart[SDK_MAX_HARTS];	/* per_hart[h] under lock, written by h only */
static uint64_t poll_ticks;
static uint32_t work_rounds;
static uint64_t progress_ticks, next_progress;
static volatile uint32_t work_sink[SDK_MAX_HARTS];
static uint64_t t_start;

/* The coordinator and the finished flags change under role_lock. */
static ticket_lock_t role_lock = TICKET_LOCK_INIT;
static volatile unsigned coordinator;
static volatile uint8_t finished[SDK_MAX_HARTS];
static volatile uint8_t timer_on[SDK_MAX_HARTS];
static volatile unsigned leaves;

static int is_coordinator(void)
{
	return coordinator == hart_id();
}

static void arm_poll_timer(void)
{
	timer_on[hart_id()] = 1;
	timer_arm(rdtime64() + poll_ticks);
}

static void on_ipi(void)
{
	if (is_coordinator())
		hv_hotplug_poll();
}

static void on_timer(void)
{
	if (is_coordinator()) {
		hv_hotplug_poll();
		if (progress_ticks && rdtime64() >= next_progress) {
			next_progress = rdtime64() + progress_ticks;
			printf("demo: progress %llu of %llu\n", (unsigned long long)shared_counter,
			       (unsigned long long)target);
		}
		arm_poll_timer();
	} else {
		timer_on[hart_id()] = 0;
	}
}

/* At a safe point (no lock held): leave if asked. Returns only if this hart stays. */
static void maybe_leave(void)
{
	if (!hv_should_leave())
		return;
	unsigned me = hart_id();
	ticket_lock(&role_lock);
	if (coordinator == me) {
		unsigned next = SDK_MAX_HARTS;
		for (unsigned h = 0; h < hart_possible_limit() && next == SDK_MAX_HARTS; h++)
			if (h != me && sdk_harts[h].state == HART_ONLINE && !sdk_harts[h].leave && !finished[h])
				next = h;
		for (unsigned h = 0; h < hart_possible_limit() && next == SDK_MAX_HARTS; h++)
			if (h != me && hart_is_online(h) && !finished[h])
				next = h;
		if (next == SDK_MAX_HARTS) {
			/* The host does not remove the last started hart; should it ask, stay. */
			hart_self()->leave = 0;
			ticket_unlock(&role_lock);
			printf("demo: hart %u asked to leave but no other hart runs: staying\n", me);
			return;
		}
		coordinator = next;
		hv_hotplug_move_notify(next);
		timer_disarm();
		timer_on[me] = 0;
		printf("demo: coordinator moves from hart %u to hart %u\n", me, next);
		hart_send_ipi(next);	/* so it polls for events now */
	}
	leaves++;
	ticket_unlock(&role_lock);
	printf("demo: hart %u leaves after %llu increments\n", me, (unsigned long long)per_hart[me]);
	hv_hotplug_leave();
}

static void coordinator_finish(void) __attribute__((noreturn));

/* Takes the shared lock. A TAS waiter asked to leave stops waiting (returns 0) and leaves at once: with more
 * vCPUs than host CPUs the lock can take many milliseconds to come round, and the host waits on this hart. */
static int acquire_or_leave(void)
{
	if (lock.kind != SDK_LOCK_TAS) {
		sdk_lock_acquire(&lock);
		return 1;
	}
	for (;;) {
		ticket_lock_t *t = &lock.u.ticket;
		if (__atomic_load_n(&t->next, __ATOMIC_RELAXED) == __atomic_load_n(&t->owner, __ATOMIC_RELAXED) && ticket_trylock(t))
			return 1;
		if (hv_should_leave())
			return 0;
		cpu_pause();
	}
}

static void run(void)
{
	unsigned me = hart_id();
	ticket_lock(&role_lock);
	finished[me] = 0;
	ticket_unlock(&role_lock);

	for (uint32_t i = 1;; i++) {
		maybe_leave();
		if (!acquire_or_leave())
			continue;	/* asked to leave while waiting: maybe_leave() takes it from here */
		int more = shared_counter < target;
		if (more) {
			shared_counter++;
			per_hart[me]++;
		}
		sdk_lock_release(&lock);
		if (!more)
			break;
		/* Work of this hart's own between two increments (demo.work rounds). */
		uint32_t x = (uint32_t)i ^ me;
		for (uint32_t w = 0; w < work_rounds; w++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
		}
		work_sink[me] = x;
		if (i % POLL_EVERY == 0 && is_coordinator()) {
			hv_hotplug_poll();
			if (!timer_on[me])
				arm_poll_timer();
		}
	}

	ticket_lock(&role_lock);
	finished[me] = 1;
	int coord = coordinator == me;
	ticket_unlock(&role_lock);
	if (coord)
		coordinator_finish();
	/* Done: stop (hart_exit), on the boot hart as on the others. */
	hv_hotplug_leave();
}

static void worker(void *arg)
{
	(void)arg;
	run();
}

static void coordinator_finish(void)
{
	unsigned me = hart_id();
	timer_disarm();
	/* Wait for every other hart; harts added meanwhile start, see the target, stop. */
	for (;;) {
		hv_hotplug_poll();
		int others = 0;
		for (unsigned h = 0; h < SDK_MAX_HARTS; h++)
			if (h != me && hart_is_online(h) && !hart_reap(h))
				others++;
		if (!others)
			break;
		for (int i = 0; i < 1000; i++)
			cpu_pause();
	}
	uint64_t elapsed = rdtime64() - t_start;

	uint64_t sum = 0;
	unsigned ran = 0;
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++) {
		sum += per_hart[h];
		if (sdk_harts[h].starts)
			ran++;
	}
	int ok = shared_counter == target && sum == target;
	if (ok)
		printf("demo: result OK total=%llu\n", (unsigned long long)sum);
	else
		printf("demo: result WRONG shared=%llu sum=%llu target=%llu\n", (unsigned long long)shared_counter,
		       (unsigned long long)sum, (unsigned long long)target);
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++)
		if (sdk_harts[h].starts)
			printf("demo: hart %u count=%llu starts=%u\n", h, (unsigned long long)per_hart[h], sdk_harts[h].starts);
	unsigned ms = (unsigned)sdk_udiv64_small(elapsed, timebase_hz() / 1000 ? timebase_hz() / 1000 : 1, 0);
	printf("demo: %u harts ran, %u left, hotplug adds=%u removes=%u, %u ms of virtual time, finished on hart %u\n",
	       ran, leaves, hv_hotplug_stats.adds, hv_hotplug_stats.removes, ms, me);
	if (lock.kind == SDK_LOCK_PV && hv_present()) {
		struct pv_stats t = { 0, 0, 0, 0, 0 };
		for (unsigned h = 0; h < SDK_MAX_HARTS; h++) {
			t.slow += sdk_harts[h].pv.slow;
			t.yield_calls += sdk_harts[h].pv.yield_calls;
			t.yield_given += sdk_harts[h].pv.yield_given;
			t.halts += sdk_harts[h].pv.halts;
			t.kicks += sdk_harts[h].pv.kicks;
		}
		printf("demo: pv lock: slow=%u yield_calls=%u yield_given=%u halts=%u kicks=%u\n", t.slow,
		       t.yield_calls, t.yield_given, t.halts, t.kicks);
	}
	sdk_shutdown(!ok);
}

int main(void)
{
	unsigned me = hart_id();
	char buf[16] = "";
	/* Default tas (no convoy); auto: pv where there is hartvisor, else tas. */
	int kind = SDK_LOCK_TAS;
	if (bootarg_str("demo.lock", buf, sizeof(buf)) && strcmp(buf, "auto") == 0) {
		kind = hv_present() ? SDK_LOCK_PV : SDK_LOCK_TAS;
	} else if (buf[0]) {
		kind = sdk_lock_kind_parse(buf);
		if (kind < 0) {
			printf("demo: unknown demo.lock=%s (auto, ticket, pv or tas)\n", buf);
			return 1;
		}
	}
	target = bootarg_u64("demo.ops", DEFAULT_OPS);
	unsigned limit = hart_possible_limit();
	unsigned k = bootarg_u32("demo.harts", limit);
	uint32_t poll_ms = bootarg_u32("demo.poll_ms", 10);
	poll_ticks = (uint64_t)(timebase_hz() / 1000) * (poll_ms ? poll_ms : 1);
	pv_spin_limit = bootarg_u32("demo.spin", PV_SPIN_LIMIT_DEFAULT);
	work_rounds = bootarg_u32("demo.work", DEFAULT_WORK);
	progress_ticks = (uint64_t)(timebase_hz() / 1000) * bootarg_u32("demo.progress_ms", 0);

	sdk_lock_init(&lock, kind);
	coordinator = me;
	printf("demo: boot hart %u, %u possible harts, starting harts below %u; lock=%s ops=%llu hartvisor extension %s\n",
	       me, hart_count_possible(), k, sdk_lock_kind_name(kind), (unsigned long long)target,
	       hv_present() ? "present" : "absent");

	hv_hotplug_init(worker, 0);
	sdk_set_ipi_handler(on_ipi);
	sdk_set_timer_handler(on_timer);
	t_start = rdtime64();

	unsigned started = 1, failed = 0;
	for (unsigned h = 0; h < limit && h < k; h++) {
		if (h == me || !hart_is_possible(h))
			continue;
		long err = hart_start(h, worker, 0);
		if (err == 0)
			started++;
		else
			failed++;
	}
	if (failed)
		printf("demo: %u harts running, %u could not be started now (left for hotplug)\n", started, failed);
	else
		printf("demo: %u harts running\n", started);
	arm_poll_timer();
	run();
	return 0;	/* not reached */
}
