/* SBI ecall wrappers. */
#include "sbi.h"

int sdk_hv_present;
int sdk_has_dbcn;

struct sbiret sbi_ecall(unsigned long eid, unsigned long fid, unsigned long a0, unsigned long a1,
			unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
	register unsigned long r0 __asm__("a0") = a0;
	register unsigned long r1 __asm__("a1") = a1;
	register unsigned long r2 __asm__("a2") = a2;
	register unsigned long r3 __asm__("a3") = a3;
	register unsigned long r4 __asm__("a4") = a4;
	register unsigned long r5 __asm__("a5") = a5;
	register unsigned long r6 __asm__("a6") = fid;
	register unsigned long r7 __asm__("a7") = eid;
	__asm__ volatile("ecall"
			 : "+r"(r0), "+r"(r1)
			 : "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7)
			 : "memory");
	struct sbiret ret = { (long)r0, (long)r1 };
	return ret;
}

#define ECALL0(e, f) sbi_ecall((e), (f), 0, 0, 0, 0, 0, 0)
#define ECALL1(e, f, x) sbi_ecall((e), (f), (x), 0, 0, 0, 0, 0)
#define ECALL2(e, f, x, y) sbi_ecall((e), (f), (x), (y), 0, 0, 0, 0)
#define ECALL3(e, f, x, y, z) sbi_ecall((e), (f), (x), (y), (z), 0, 0, 0)

long sbi_get_spec_version(void)
{
	struct sbiret r = ECALL0(SBI_EXT_BASE, 0);
	return r.error ? r.error : r.value;
}

long sbi_probe_extension(unsigned long eid)
{
	struct sbiret r = ECALL1(SBI_EXT_BASE, 3, eid);
	return r.error ? 0 : r.value;
}

long sbi_set_timer(uint64_t stime_value)
{
	return ECALL2(SBI_EXT_TIME, 0, (unsigned long)stime_value, (unsigned long)(stime_value >> 32)).error;
}

long sbi_send_ipi(unsigned long hart_mask, unsigned long hart_mask_base)
{
	return ECALL2(SBI_EXT_IPI, 0, hart_mask, hart_mask_base).error;
}

long sbi_hart_start(unsigned long hartid, unsigned long start_addr, unsigned long opaque)
{
	return ECALL3(SBI_EXT_HSM, 0, hartid, start_addr, opaque).error;
}

long sbi_hart_stop(void)
{
	return ECALL0(SBI_EXT_HSM, 1).error;
}

struct sbiret sbi_hart_get_status(unsigned long hartid)
{
	return ECALL1(SBI_EXT_HSM, 2, hartid);
}

long sbi_system_reset(unsigned long type, unsigned long reason)
{
	return ECALL2(SBI_EXT_SRST, 0, type, reason).error;
}

struct sbiret sbi_debug_console_write(unsigned long num_bytes, unsigned long base_lo, unsigned long base_hi)
{
	return ECALL3(SBI_EXT_DBCN, 0, num_bytes, base_lo, base_hi);
}

long sbi_debug_console_write_byte(uint8_t byte)
{
	return ECALL1(SBI_EXT_DBCN, 2, byte).error;
}

long sbi_legacy_putchar(int ch)
{
	/* Legacy calls return their result in a0 only. */
	return sbi_ecall(SBI_EXT_LEGACY_PUTCHAR, 0, (unsigned long)ch, 0, 0, 0, 0, 0).error;
}

unsigned long hv_hotplug_get_event(void)
{
	if (!sdk_hv_present)
		return 0;
	struct sbiret r = ECALL0(SBI_EXT_HARTVISOR, HV_FID_HOTPLUG_GET_EVENT);
	return r.error ? 0 : (unsigned long)r.value;
}

long hv_hotplug_set_notify(unsigned long hartid)
{
	if (!sdk_hv_present)
		return SBI_ERR_NOT_SUPPORTED;
	return ECALL1(SBI_EXT_HARTVISOR, HV_FID_HOTPLUG_SET_NOTIFY, hartid).error;
}

unsigned long hv_hotplug_pending(void)
{
	if (!sdk_hv_present)
		return 0;
	struct sbiret r = ECALL0(SBI_EXT_HARTVISOR, HV_FID_HOTPLUG_PENDING);
	return r.error ? 0 : (unsigned long)r.value;
}

long hv_yield_to(unsigned long hartid)
{
	if (!sdk_hv_present)
		return SBI_ERR_NOT_SUPPORTED;
	struct sbiret r = ECALL1(SBI_EXT_HARTVISOR, HV_FID_YIELD_TO, hartid);
	return r.error ? r.error : r.value;
}

long hv_kick(unsigned long hartid)
{
	if (!sdk_hv_present)
		return SBI_ERR_NOT_SUPPORTED;
	return ECALL1(SBI_EXT_HARTVISOR, HV_FID_KICK, hartid).error;
}

void sbi_init(void)
{
	sdk_has_dbcn = sbi_probe_extension(SBI_EXT_DBCN) > 0;
	sdk_hv_present = sbi_probe_extension(SBI_EXT_HARTVISOR) > 0;
}
