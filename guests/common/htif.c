/* HTIF exit and console for bare-metal M-mode guests.
 *
 * tohost is written as two 32-bit stores, low word first, then the high word:
 * a host (QEMU `spike`, hartvisor) acts on the write of the high word. */
#include "htif.h"

static inline void tohost_write(uint32_t lo, uint32_t hi)
{
	volatile uint32_t *w = (volatile uint32_t *)&tohost;
	w[0] = lo;
	w[1] = hi;
}

void htif_exit(uint32_t code)
{
	/* device 0 (syscall proxy), payload bit 0 set = "exit with payload >> 1" */
	for (;;)
		tohost_write((code << 1) | 1, 0);
}

void htif_putchar(char c)
{
	/* device 1 (console), command 1 (write one byte) */
	tohost_write((uint8_t)c, (1u << 24) | (1u << 16));
	while (tohost != 0)
		;
	fromhost = 0;
}

void htif_puts(const char *s)
{
	while (*s)
		htif_putchar(*s++);
}

void htif_puthex(uint32_t v)
{
	for (int i = 28; i >= 0; i -= 4)
		htif_putchar("0123456789abcdef"[(v >> i) & 15]);
}

/* Used by crt0.S when built with -DREPORT_INSTRET. */
void htif_report_instret(uint32_t count)
{
	htif_puts("instret 0x");
	htif_puthex(count);
	htif_putchar('\n');
}

void *memset(void *dst, int c, unsigned long n)
{
	unsigned char *d = dst;
	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

void *memcpy(void *dst, const void *src, unsigned long n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
}
