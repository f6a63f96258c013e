/* Hotplug event handling (the outline of docs/sbi-hartvisor-extension.md). */
#include "hotplug.h"
#include "sbi.h"
#include "csr.h"
#include "console.h"
#include "spinlock.h"

struct hv_hotplug_stats hv_hotplug_stats;
int hv_hotplug_verbose = 1;

static void (*worker)(void *arg);
static void *worker_arg;
static ticket_lock_t poll_lock = TICKET_LOCK_INIT;
static volatile unsigned notify_hart;

void hv_hotplug_init(void (*per_hart_main)(void *arg), void *arg)
{
	worker = per_hart_main;
	worker_arg = arg;
	hv_hotplug_move_notify(hart_id());
}

long hv_hotplug_move_notify(unsigned hartid)
{
	notify_hart = hartid;
	return hv_present() ? hv_hotplug_set_notify(hartid) : 0;
}

unsigned hv_hotplug_notify_hart(void)
{
	return notify_hart;
}

int hv_hotplug_poll(void)
{
	if (!hv_present())
		return 0;
	unsigned long flags = irq_save();
	if (!ticket_trylock(&poll_lock)) {
		irq_restore(flags);
		return 0;
	}
	int handled = 0;
	for (;;) {
		unsigned long ev = hv_hotplug_get_event();
		if (ev == 0)
			break;
		unsigned hart = HV_EVENT_HART(ev);
		handled++;
		if (HV_EVENT_KIND(ev) == HV_EVENT_ADD) {
			long err = worker ? hart_start(hart, worker, worker_arg) : SBI_ERR_NOT_SUPPORTED;
			if (err) {
				hv_hotplug_stats.add_errors++;
				printf("hotplug: add hart %u: hart_start failed (%ld)\n", hart, err);
			} else {
				hv_hotplug_stats.adds++;
				if (hv_hotplug_verbose)
					printf("hotplug: add hart %u: started\n", hart);
			}
		} else if (HV_EVENT_KIND(ev) == HV_EVENT_REMOVE) {
			hv_hotplug_stats.removes++;
			if (hv_hotplug_verbose)
				printf("hotplug: remove hart %u: asked to leave\n", hart);
			hart_request_leave(hart);
		} else {
			printf("hotplug: unknown event 0x%lx\n", ev);
		}
	}
	ticket_unlock(&poll_lock);
	irq_restore(flags);
	return handled;
}
