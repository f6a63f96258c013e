/* SBI calls for S-mode guests: the standard SBI 2.0 calls the SDK uses, and hartvisor's
 * vendor extension (docs/sbi-hartvisor-extension.md). */
#ifndef HARTVISOR_SDK_SBI_H
#define HARTVISOR_SDK_SBI_H

#include <stdint.h>

struct sbiret {
	long error;
	long value;
};

/* Extension ids. */
#define SBI_EXT_BASE      0x10
#define SBI_EXT_TIME      0x54494D45
#define SBI_EXT_IPI       0x735049
#define SBI_EXT_HSM       0x48534D
#define SBI_EXT_SRST      0x53525354
#define SBI_EXT_DBCN      0x4442434E
#define SBI_EXT_LEGACY_PUTCHAR 0x01
#define SBI_EXT_HARTVISOR 0x09485654

/* Error codes. */
#define SBI_SUCCESS               0
#define SBI_ERR_FAILED           -1
#define SBI_ERR_NOT_SUPPORTED    -2
#define SBI_ERR_INVALID_PARAM    -3
#define SBI_ERR_DENIED           -4
#define SBI_ERR_INVALID_ADDRESS  -5
#define SBI_ERR_ALREADY_AVAILABLE -6
#define SBI_ERR_ALREADY_STARTED  -7
#define SBI_ERR_ALREADY_STOPPED  -8

/* HSM states (hart_get_status). */
#define SBI_HSM_STARTED        0
#define SBI_HSM_STOPPED        1
#define SBI_HSM_START_PENDING  2
#define SBI_HSM_STOP_PENDING   3
#define SBI_HSM_SUSPENDED      4

/* SRST. */
#define SBI_SRST_SHUTDOWN     0
#define SBI_SRST_COLD_REBOOT  1
#define SBI_SRST_WARM_REBOOT  2
#define SBI_SRST_REASON_NONE    0
#define SBI_SRST_REASON_FAILURE 1

/* hartvisor extension: function ids and event kinds. */
#define HV_FID_HOTPLUG_GET_EVENT  0
#define HV_FID_HOTPLUG_SET_NOTIFY 1
#define HV_FID_HOTPLUG_PENDING    2
#define HV_FID_YIELD_TO           3
#define HV_FID_KICK               4
#define HV_EVENT_ADD    1
#define HV_EVENT_REMOVE 2
#define HV_EVENT_KIND(ev) ((unsigned long)(ev) >> 24)
#define HV_EVENT_HART(ev) ((unsigned long)(ev) & 0xffffff)

struct sbiret sbi_ecall(unsigned long eid, unsigned long fid, unsigned long a0, unsigned long a1,
			unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);

/* Base. */
long sbi_get_spec_version(void);
long sbi_probe_extension(unsigned long eid);	/* 0 when absent */

/* TIME. */
long sbi_set_timer(uint64_t stime_value);

/* IPI: bit i of hart_mask is hart hart_mask_base + i. */
long sbi_send_ipi(unsigned long hart_mask, unsigned long hart_mask_base);

/* HSM. */
long sbi_hart_start(unsigned long hartid, unsigned long start_addr, unsigned long opaque);
long sbi_hart_stop(void);
struct sbiret sbi_hart_get_status(unsigned long hartid);

/* SRST: does not return when it succeeds. */
long sbi_system_reset(unsigned long type, unsigned long reason);

/* DBCN. console_write returns the number of bytes written (error < 0). */
struct sbiret sbi_debug_console_write(unsigned long num_bytes, unsigned long base_lo, unsigned long base_hi);
long sbi_debug_console_write_byte(uint8_t byte);

/* Legacy console putchar (EID 1). */
long sbi_legacy_putchar(int ch);

/* hartvisor extension. hv_present() is cached by the SDK at boot (sbi_init). Each call
 * below returns SBI_ERR_NOT_SUPPORTED (or 0 for the event calls) when it is absent. */
extern int sdk_hv_present;
static inline int hv_present(void) { return sdk_hv_present; }
unsigned long hv_hotplug_get_event(void);	/* 0 = no event; else (kind << 24) | hart */
long hv_hotplug_set_notify(unsigned long hartid);
unsigned long hv_hotplug_pending(void);
long hv_yield_to(unsigned long hartid);	/* 0 = CPU time given to that hart, 1 = not */
long hv_kick(unsigned long hartid);

/* Probes the extensions the SDK uses; called once on the boot hart before main. */
void sbi_init(void);
extern int sdk_has_dbcn;

#endif
