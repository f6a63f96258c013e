/* Boot, secondary harts, traps, IPIs and the timer. */
#include "hart.h"
#include "csr.h"
#include "sbi.h"
#include "bootargs.h"
#include "console.h"
#include "sdk_string.h"

struct hart sdk_harts[SDK_MAX_HARTS];
char sdk_bootargs_buf[512];

static unsigned boot_hart;
static unsigned nr_possible, possible_limit;
static uint8_t possible_map[(SDK_MAX_HARTS + 7) / 8];
static uint32_t timebase = 10000000;
static void (*ipi_handler)(void);
static void (*timer_handler)(void);

extern char sdk_secondary_entry[];

struct trap_frame {
	unsigned long ra, t0, t1, t2, a0, a1, a2, a3, a4, a5, a6, a7, t3, t4, t5, t6;
	unsigned long sepc, sstatus;
};

static void set_tp(struct hart *h)
{
	__asm__ volatile("mv tp, %0" :: "r"(h) : "memory");
}

static void mark_possible(unsigned id)
{
	possible_map[id / 8] |= (uint8_t)(1u << (id % 8));
	nr_possible++;
	if (id + 1 > possible_limit)
		possible_limit = id + 1;
}

static void find_harts(const void *dtb)
{
	struct sdk_fdt_info info;
	if (sdk_fdt_parse(dtb, &info, sdk_bootargs_buf, sizeof(sdk_bootargs_buf))) {
		if (info.timebase)
			timebase = info.timebase;
		for (unsigned id = 0; id < SDK_MAX_HARTS && id < 8 * sizeof(info.possible); id++)
			if (info.possible[id / 8] & (1u << (id % 8)))
				mark_possible(id);
	}
	if (nr_possible == 0) {
		/* No usable /cpus: probe with HSM until an id is not valid. */
		for (unsigned id = 0; id < SDK_MAX_HARTS; id++) {
			if (sbi_hart_get_status(id).error == SBI_ERR_INVALID_PARAM)
				break;
			mark_possible(id);
		}
	}
	if (!hart_is_possible(boot_hart))
		mark_possible(boot_hart);
}

void sdk_boot(unsigned long hartid, const void *dtb) __attribute__((noreturn));
void sdk_boot(unsigned long hartid, const void *dtb)
{
	struct hart *h = &sdk_harts[hartid];
	h->id = hartid;
	h->state = HART_ONLINE;
	h->starts = 1;
	set_tp(h);
	boot_hart = hartid;
	sbi_init();
	find_harts(dtb);
	csr_set(sie, SIE_SSIE);
	irq_enable();
	int r = main();
	sdk_shutdown(r != 0);
}

void sdk_secondary(unsigned long hartid, unsigned long opaque) __attribute__((noreturn));
void sdk_secondary(unsigned long hartid, unsigned long opaque)
{
	(void)opaque;
	struct hart *h = &sdk_harts[hartid];
	set_tp(h);
	h->state = HART_ONLINE;
	csr_write(sip, 0);
	csr_set(sie, SIE_SSIE);
	irq_enable();
	if (h->entry)
		h->entry(h->arg);
	hart_exit();
}

unsigned hart_boot_id(void) { return boot_hart; }
unsigned hart_count_possible(void) { return nr_possible; }
unsigned hart_possible_limit(void) { return possible_limit; }
unsigned timebase_hz(void) { return timebase; }

int hart_is_possible(unsigned hartid)
{
	return hartid < SDK_MAX_HARTS && (possible_map[hartid / 8] & (1u << (hartid % 8)));
}

int hart_is_online(unsigned hartid)
{
	return hartid < SDK_MAX_HARTS && __atomic_load_n(&sdk_harts[hartid].state, __ATOMIC_ACQUIRE) != HART_OFFLINE;
}

int hart_reap(unsigned hartid)
{
	if (hartid >= SDK_MAX_HARTS || hartid == hart_id())
		return 0;
	struct hart *h = &sdk_harts[hartid];
	int reaped = 0;
	unsigned long flags = irq_save();
	/* ONLINE is only set by the hart itself once it runs, so HSM STOPPED together with
	 * ONLINE means it was stopped without hart_exit (a forced removal). */
	if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == HART_ONLINE) {
		struct sbiret r = sbi_hart_get_status(hartid);
		uint32_t expect = HART_ONLINE;
		if (r.error == 0 && r.value == SBI_HSM_STOPPED &&
		    __atomic_compare_exchange_n(&h->state, &expect, HART_OFFLINE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			reaped = 1;
	}
	irq_restore(flags);
	return reaped;
}

long hart_start(unsigned hartid, void (*fn)(void *arg), void *arg)
{
	if (hartid >= SDK_MAX_HARTS)
		return SBI_ERR_INVALID_PARAM;
	struct hart *h = &sdk_harts[hartid];
	if (h->state != HART_OFFLINE && !hart_reap(hartid))
		return SBI_ERR_ALREADY_AVAILABLE;
	h->id = hartid;
	h->entry = fn;
	h->arg = arg;
	h->leave = 0;
	h->starts++;
	__atomic_store_n(&h->state, HART_STARTING, __ATOMIC_RELEASE);
	long err = sbi_hart_start(hartid, (unsigned long)sdk_secondary_entry, hartid);
	if (err) {
		h->starts--;
		__atomic_store_n(&h->state, HART_OFFLINE, __ATOMIC_RELEASE);
	}
	return err;
}

void hart_exit(void)
{
	struct hart *h = hart_self();
	irq_disable();
	csr_write(sie, 0);
	__atomic_store_n(&h->state, HART_OFFLINE, __ATOMIC_RELEASE);
	sbi_hart_stop();
	for (;;)
		cpu_wfi();
}

void hart_wait_offline(unsigned hartid)
{
	for (uint32_t i = 1; hart_is_online(hartid); i++) {
		cpu_pause();
		if ((i & 0xfff) == 0)
			hart_reap(hartid);
	}
}

void hart_request_leave(unsigned hartid)
{
	if (hartid >= SDK_MAX_HARTS)
		return;
	__atomic_store_n(&sdk_harts[hartid].leave, 1, __ATOMIC_RELEASE);
	if (hartid != hart_id() && sdk_harts[hartid].state == HART_ONLINE)
		hart_send_ipi(hartid);
}

long hart_send_ipi(unsigned hartid)
{
	return sbi_send_ipi(1, hartid);
}

void sdk_set_ipi_handler(void (*fn)(void)) { ipi_handler = fn; }
void sdk_set_timer_handler(void (*fn)(void)) { timer_handler = fn; }

void timer_arm(uint64_t deadline)
{
	sbi_set_timer(deadline);
	csr_set(sie, SIE_STIE);
}

void timer_disarm(void)
{
	csr_clear(sie, SIE_STIE);
	sbi_set_timer(~(uint64_t)0);
}

void sdk_shutdown(int failed)
{
	sbi_system_reset(SBI_SRST_SHUTDOWN, failed ? SBI_SRST_REASON_FAILURE : SBI_SRST_REASON_NONE);
	/* No SRST: nothing else to do but halt. */
	irq_disable();
	for (;;)
		cpu_wfi();
}

void sdk_trap(struct trap_frame *f)
{
	unsigned long cause = csr_read(scause);
	if (cause & SCAUSE_INTERRUPT) {
		unsigned long irq = cause & ~SCAUSE_INTERRUPT;
		if (irq == IRQ_S_SOFT) {
			csr_clear(sip, SIP_SSIP);
			if (ipi_handler)
				ipi_handler();
			return;
		}
		if (irq == IRQ_S_TIMER) {
			timer_disarm();
			if (timer_handler)
				timer_handler();
			return;
		}
		if (irq == IRQ_S_EXT) {
			csr_clear(sie, SIE_SEIE);
			return;
		}
	}
	printf("sdk: unexpected trap on hart %u: scause=0x%lx sepc=0x%lx stval=0x%lx ra=0x%lx\n", hart_id(), cause,
	       f->sepc, csr_read(stval), f->ra);
	sdk_shutdown(1);
}
