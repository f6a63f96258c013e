/* Console output over SBI DBCN (or the legacy putchar when DBCN is absent). */
#ifndef HARTVISOR_SDK_CONSOLE_H
#define HARTVISOR_SDK_CONSOLE_H

#include <stdarg.h>
#include <stdint.h>

/* Writes bytes as they are (no lock). */
void console_write(const char *s, unsigned long n);
/* printf: %d %i %u %x %X %s %c %p %%, with the l and ll size prefixes (ll = 64-bit), a
 * width, and the 0 and - flags. One call's output is written as a whole (a console lock
 * with interrupts off), so lines from different harts do not mix. Returns the length. */
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
/* snprintf into buf (always NUL-terminated when len > 0); returns the full length. */
int snprintf(char *buf, unsigned long len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* 64-bit unsigned division by a small divisor without libgcc; returns the quotient and
 * stores the remainder. */
uint64_t sdk_udiv64_small(uint64_t n, uint32_t d, uint32_t *rem);

#endif
