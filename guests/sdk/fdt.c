/* A minimal flattened-device-tree walk (just what the SDK needs) and the command line. */
#include "bootargs.h"
#include "sdk_string.h"

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE   2u
#define FDT_PROP       3u
#define FDT_NOP        4u
#define FDT_END        9u

static uint32_t be32(const void *p)
{
	const uint8_t *b = p;
	return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

int sdk_fdt_parse(const void *dtb, struct sdk_fdt_info *info, char *bootargs_buf, unsigned bootargs_len)
{
	const uint8_t *base = dtb;
	memset(info, 0, sizeof(*info));
	if (bootargs_len)
		bootargs_buf[0] = 0;
	if (!base || ((uintptr_t)base & 3) || be32(base) != FDT_MAGIC)
		return 0;
	uint32_t totalsize = be32(base + 4);
	uint32_t off_struct = be32(base + 8), off_strings = be32(base + 12);
	uint32_t size_struct = be32(base + 36);
	if (off_struct >= totalsize || off_strings >= totalsize || size_struct > totalsize - off_struct)
		return 0;
	const uint8_t *p = base + off_struct, *end = p + size_struct;
	const char *strings = (const char *)base + off_strings;

	/* Where we are: depth, and which interesting nodes enclose us. */
	int depth = 0, in_cpus = 0, in_chosen = 0, in_cpu = 0;
	while (p + 4 <= end) {
		uint32_t tok = be32(p);
		p += 4;
		if (tok == FDT_BEGIN_NODE) {
			const char *name = (const char *)p;
			unsigned n = strlen(name);
			p += (n + 4) & ~3u;
			depth++;
			if (depth == 2) {
				in_cpus = starts_with(name, "cpus") && (name[4] == 0 || name[4] == '@');
				in_chosen = starts_with(name, "chosen") && name[6] == 0;
			} else if (depth == 3 && in_cpus && starts_with(name, "cpu@")) {
				in_cpu = 1;
				info->ncpus++;
			}
		} else if (tok == FDT_END_NODE) {
			if (depth == 3)
				in_cpu = 0;
			if (depth == 2)
				in_cpus = in_chosen = 0;
			depth--;
		} else if (tok == FDT_PROP) {
			if (p + 8 > end)
				return 0;
			uint32_t len = be32(p), nameoff = be32(p + 4);
			const uint8_t *val = p + 8;
			p = val + ((len + 3) & ~3u);
			if (p > end)
				return 0;
			const char *pname = strings + nameoff;
			if (depth == 2 && in_chosen && strcmp(pname, "bootargs") == 0 && bootargs_len) {
				unsigned n = len < bootargs_len ? len : bootargs_len - 1;
				memcpy(bootargs_buf, val, n);
				bootargs_buf[n] = 0;
			} else if (depth == 2 && in_cpus && len == 4 && strcmp(pname, "timebase-frequency") == 0) {
				info->timebase = be32(val);
			} else if (depth == 3 && in_cpu && len == 4 && strcmp(pname, "reg") == 0) {
				uint32_t id = be32(val);
				if (id < 8 * sizeof(info->possible))
					info->possible[id / 8] |= (uint8_t)(1u << (id % 8));
			}
		} else if (tok == FDT_NOP) {
			continue;
		} else {
			break;	/* FDT_END or garbage */
		}
	}
	return 1;
}

/* ---- command line ---- */

extern char sdk_bootargs_buf[];

const char *bootargs(void)
{
	return sdk_bootargs_buf;
}

int bootarg_str(const char *key, char *buf, unsigned len)
{
	const char *s = sdk_bootargs_buf;
	unsigned klen = strlen(key);
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		const char *word = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		if ((unsigned)(s - word) > klen && word[klen] == '=' && memcmp(word, key, klen) == 0) {
			const char *v = word + klen + 1;
			unsigned n = 0;
			while (v + n < s && n + 1 < len) {
				buf[n] = v[n];
				n++;
			}
			if (len)
				buf[n] = 0;
			return 1;
		}
	}
	return 0;
}

uint64_t bootarg_u64(const char *key, uint64_t dflt)
{
	char buf[32];
	if (!bootarg_str(key, buf, sizeof(buf)) || !buf[0])
		return dflt;
	uint64_t v = 0;
	const char *s = buf;
	unsigned radix = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
		if (!*s)
			return dflt;
	}
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (radix == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (radix == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else if (*s == '_')
			continue;
		else
			return dflt;
		v = v * radix + d;
	}
	return v;
}

uint32_t bootarg_u32(const char *key, uint32_t dflt)
{
	uint64_t v = bootarg_u64(key, dflt);
	return v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
}
