/* vCPU hotplug under hartvisor (docs/sbi-hartvisor-extension.md).
 *
 *   hv_hotplug_init(worker, arg)   once, on the hart that handles events (it becomes the
 *                                  notification hart)
 *   hv_hotplug_poll()              from that hart's IPI handler and/or its main loop:
 *                                  ADD n    -> hart_start(n, worker, arg)
 *                                  REMOVE n -> hart_request_leave(n) (flag + IPI)
 *   in each worker, at safe points (no lock held):
 *       if (hv_should_leave()) { ...hand work over...; hv_hotplug_leave(); }
 *
 * Without the extension, hv_hotplug_poll() does nothing and returns 0. */
#ifndef HARTVISOR_SDK_HOTPLUG_H
#define HARTVISOR_SDK_HOTPLUG_H

#include <stdint.h>
#include "hart.h"

struct hv_hotplug_stats {
	unsigned adds;		/* ADD events whose hart_start succeeded */
	unsigned add_errors;	/* ADD events whose hart_start failed */
	unsigned removes;	/* REMOVE events passed on to the hart */
};
extern struct hv_hotplug_stats hv_hotplug_stats;
/* Print one console line per event (default 1). */
extern int hv_hotplug_verbose;

void hv_hotplug_init(void (*per_hart_main)(void *arg), void *arg);
/* Handles every pending event; returns how many. Safe to call from interrupt handlers
 * and from several harts (one polls at a time; the others return 0 at once). */
int hv_hotplug_poll(void);
/* Makes `hartid` the notification hart (the hypervisor's and the SDK's idea). */
long hv_hotplug_move_notify(unsigned hartid);
/* The current notification hart as the SDK set it. */
unsigned hv_hotplug_notify_hart(void);

static inline int hv_should_leave(void) { return hart_should_leave(); }
/* Unregisters this hart (OFFLINE) and stops it with SBI hart_stop. Never returns. */
static inline void hv_hotplug_leave(void) { hart_exit(); }

#endif
