/* The device tree: /chosen/bootargs, /cpus. */
#ifndef HARTVISOR_SDK_BOOTARGS_H
#define HARTVISOR_SDK_BOOTARGS_H

#include <stdint.h>

/* The kernel command line ("" without a device tree). */
const char *bootargs(void);
/* Finds a `key=value` word in the command line and copies value (NUL-terminated,
 * truncated to len - 1 bytes). Returns 1 when found, else 0. */
int bootarg_str(const char *key, char *buf, unsigned len);
/* Numeric value of `key=N` (decimal, or hex with 0x); dflt when absent or malformed. */
uint64_t bootarg_u64(const char *key, uint64_t dflt);
uint32_t bootarg_u32(const char *key, uint32_t dflt);

/* What sdk_fdt_parse() found. */
struct sdk_fdt_info {
	uint32_t ncpus;			/* cpu@ nodes under /cpus */
	uint32_t timebase;		/* /cpus/timebase-frequency, 0 if absent */
	uint8_t possible[64];		/* bitmap of the cpu nodes' reg (hart ids < 512) */
};
/* Parses a flattened device tree; returns 0 when dtb is not a valid FDT. */
int sdk_fdt_parse(const void *dtb, struct sdk_fdt_info *info, char *bootargs_buf, unsigned bootargs_len);

#endif
