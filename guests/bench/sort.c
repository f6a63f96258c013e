/* bench-sort: a memory-heavy guest.
 *
 * Each round fills an array of SORT_WORDS 32-bit words from a linear
 * congruential generator, sorts it with a bottom-up merge sort (ping-pong
 * between the array and a scratch array of the same size, 2 x 1 MiB by
 * default), and checks the result:
 *   - the output is in non-decreasing order                 (else exit 1)
 *   - it holds the same multiset as the input: the sum, the xor and the sum
 *     of squares of all words are unchanged                 (else exit 2)
 * After the last round a digest of all sorted outputs must match a
 * known answer, which catches a host that computes the generator wrongly
 * but consistently                                          (else exit 3).
 * Exit code 0 when everything holds.
 *
 * SORT_EXPECT is the digest for the default SORT_WORDS/SORT_ROUNDS/seed. It
 * was computed by the same source built for the build machine:
 *     make -C guests sort-expect
 * (which prints the value to paste here if the parameters change). */
#include <stdint.h>

#ifndef SORT_WORDS
#define SORT_WORDS (256u * 1024u)
#endif
#ifndef SORT_ROUNDS
#define SORT_ROUNDS 6
#endif
#ifndef SORT_SEED
#define SORT_SEED 0x2545f491u
#endif
#ifndef SORT_EXPECT
#define SORT_EXPECT 0x331d8d4fu
#endif

static uint32_t data[SORT_WORDS];
static uint32_t scratch[SORT_WORDS];

struct sums {
	uint32_t sum, xor, sq;
};

static struct sums multiset_sums(const uint32_t *a, uint32_t n)
{
	struct sums s = { 0, 0, 0 };
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = a[i];
		s.sum += v;
		s.xor ^= v;
		s.sq += v * v;
	}
	return s;
}

static uint32_t fill(uint32_t *a, uint32_t n, uint32_t x)
{
	for (uint32_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		a[i] = x ^ (x >> 15);
	}
	return x;
}

static void merge(const uint32_t *src, uint32_t *dst, uint32_t lo, uint32_t mid, uint32_t hi)
{
	uint32_t i = lo, j = mid, k = lo;
	while (i < mid && j < hi) {
		uint32_t a = src[i], b = src[j];
		if (b < a) {
			dst[k++] = b;
			j++;
		} else {
			dst[k++] = a;
			i++;
		}
	}
	while (i < mid)
		dst[k++] = src[i++];
	while (j < hi)
		dst[k++] = src[j++];
}

/* Sorts a[0..n) using t[0..n) as scratch; returns the buffer holding the result. */
static uint32_t *merge_sort(uint32_t *a, uint32_t *t, uint32_t n)
{
	uint32_t *src = a, *dst = t;
	for (uint32_t width = 1; width < n; width *= 2) {
		for (uint32_t lo = 0; lo < n; lo += 2 * width) {
			uint32_t mid = lo + width < n ? lo + width : n;
			uint32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			merge(src, dst, lo, mid, hi);
		}
		uint32_t *swap = src;
		src = dst;
		dst = swap;
	}
	return src;
}

static int run(uint32_t *digest_out)
{
	uint32_t x = SORT_SEED;
	uint32_t digest = 2166136261u;
	for (int round = 0; round < SORT_ROUNDS; round++) {
		x = fill(data, SORT_WORDS, x);
		struct sums before = multiset_sums(data, SORT_WORDS);
		const uint32_t *out = merge_sort(data, scratch, SORT_WORDS);
		for (uint32_t i = 1; i < SORT_WORDS; i++)
			if (out[i - 1] > out[i])
				return 1;
		struct sums after = multiset_sums(out, SORT_WORDS);
		if (after.sum != before.sum || after.xor != before.xor || after.sq != before.sq)
			return 2;
		for (uint32_t i = 0; i < SORT_WORDS; i += 64)
			digest = (digest ^ out[i]) * 16777619u;
	}
	*digest_out = digest;
	return 0;
}

#ifdef SORT_HOST
/* Built for the build machine by `make sort-expect` to compute SORT_EXPECT. */
#include <stdio.h>
int main(void)
{
	uint32_t digest = 0;
	int rc = run(&digest);
	if (rc != 0) {
		fprintf(stderr, "sort-expect: self-check failed (%d)\n", rc);
		return 1;
	}
	printf("0x%08xu\n", (unsigned)digest);
	return 0;
}
#else
int main(void)
{
	uint32_t digest = 0;
	int rc = run(&digest);
	if (rc != 0)
		return rc;
	return digest == SORT_EXPECT ? 0 : 3;
}
#endif
