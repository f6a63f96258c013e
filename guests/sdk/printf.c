/* A small printf for the SBI console. */
#include "console.h"
#include "sbi.h"
#include "spinlock.h"
#include "csr.h"

static ticket_lock_t console_lock = TICKET_LOCK_INIT;

void console_write(const char *s, unsigned long n)
{
	while (n && sdk_has_dbcn) {
		struct sbiret r = sbi_debug_console_write(n, (unsigned long)(uintptr_t)s, 0);
		if (r.error || r.value <= 0 || (unsigned long)r.value > n)
			break;	/* fall back to byte-wise output */
		s += r.value;
		n -= (unsigned long)r.value;
	}
	while (n--)
		sbi_legacy_putchar((unsigned char)*s++);
}

uint64_t sdk_udiv64_small(uint64_t n, uint32_t d, uint32_t *rem)
{
	/* Long division in 16-bit digits: each step divides a value below d << 16. */
	uint64_t q = 0;
	uint32_t r = 0;
	for (int shift = 48; shift >= 0; shift -= 16) {
		uint32_t cur = (r << 16) | (uint32_t)((n >> shift) & 0xffff);
		q |= (uint64_t)(cur / d) << shift;
		r = cur % d;
	}
	if (rem)
		*rem = r;
	return q;
}

/* Output sink: a buffer that is flushed to the console when full (to == 0 means
 * snprintf: keep what fits and count the rest). */
struct sink {
	char *buf;
	unsigned long cap, len, total;
	int to_console;
};

static void put(struct sink *s, char c)
{
	s->total++;
	if (s->len < s->cap) {
		s->buf[s->len++] = c;
		return;
	}
	if (s->to_console) {
		console_write(s->buf, s->len);
		s->len = 0;
		s->buf[s->len++] = c;
	}
}

static void put_padded(struct sink *s, const char *str, unsigned long n, int width, int left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(s, pad);
	while (n--)
		put(s, *str++);
	if (left)
		while (fill-- > 0)
			put(s, ' ');
}

static void put_number(struct sink *s, uint64_t v, unsigned base, int negative, int upper, int width, int left,
		       char pad)
{
	char tmp[24];
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;
	do {
		uint32_t r;
		if (base == 16) {
			r = (uint32_t)(v & 15);
			v >>= 4;
		} else if (v >> 32) {
			v = sdk_udiv64_small(v, base, &r);
		} else {
			uint32_t w = (uint32_t)v;
			r = w % base;
			v = w / base;
		}
		tmp[n++] = digits[r];
	} while (v);
	if (negative) {
		if (pad == '0') {
			put(s, '-');
			if (width > 0)
				width--;
		} else {
			tmp[n++] = '-';
		}
	}
	char out[24];
	for (int i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	put_padded(s, out, n, width, left, left ? ' ' : pad);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		fmt++;
		int left = 0, width = 0, lng = 0;
		char pad = ' ';
		for (;; fmt++) {
			if (*fmt == '-')
				left = 1;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
			put_number(s, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, v < 0, 0, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng >= 2 ? va_arg(ap, unsigned long long)
				     : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			put_number(s, v, *fmt == 'u' ? 10 : 16, 0, *fmt == 'X', width, left, pad);
			break;
		}
		case 'p':
			put(s, '0');
			put(s, 'x');
			put_number(s, (uintptr_t)va_arg(ap, void *), 16, 0, 0, 8, 0, '0');
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			unsigned long n = 0;
			while (str[n])
				n++;
			put_padded(s, str, n, width, left, ' ');
			break;
		}
		case 'c': {
			char c = (char)va_arg(ap, int);
			put_padded(s, &c, 1, width, left, ' ');
			break;
		}
		case '%':
			put(s, '%');
			break;
		case 0:
			return;
		default:
			put(s, '%');
			put(s, *fmt);
			break;
		}
	}
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[160];
	struct sink s = { buf, sizeof(buf), 0, 0, 1 };
	unsigned long flags = irq_save();
	ticket_lock(&console_lock);
	format(&s, fmt, ap);
	console_write(buf, s.len);
	ticket_unlock(&console_lock);
	irq_restore(flags);
	return (int)s.total;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int snprintf(char *buf, unsigned long len, const char *fmt, ...)
{
	va_list ap;
	struct sink s = { buf, len ? len - 1 : 0, 0, 0, 0 };
	va_start(ap, fmt);
	format(&s, fmt, ap);
	va_end(ap);
	if (len)
		buf[s.len] = 0;
	return (int)s.total;
}
