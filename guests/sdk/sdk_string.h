/* The few string functions the SDK (and the compiler) need; freestanding, no libc. */
#ifndef HARTVISOR_SDK_STRING_H
#define HARTVISOR_SDK_STRING_H

void *memset(void *dst, int c, unsigned long n);
void *memcpy(void *dst, const void *src, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
unsigned long strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif
