/* Minimal HTIF (host-target interface) for bare-metal M-mode guests. */
#ifndef HARTVISOR_GUEST_HTIF_H
#define HARTVISOR_GUEST_HTIF_H

#include <stdint.h>

/* The 64-bit mailboxes, defined in crt0.S (section .tohost). */
extern volatile uint64_t tohost;
extern volatile uint64_t fromhost;

/* Ends the run: the host sees exit code `code` (0 = success). */
void htif_exit(uint32_t code) __attribute__((noreturn));

/* Writes one byte to the host console (device 1, command 1) and waits for
 * the host to take it. Only for hosts that implement the HTIF console. */
void htif_putchar(char c);
void htif_puts(const char *s);
void htif_puthex(uint32_t v);
void htif_report_instret(uint32_t count);

/* Freestanding helpers the compiler may call on its own. */
void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);

#endif
