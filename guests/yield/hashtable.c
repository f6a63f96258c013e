/* yield-hashtable: an ebizzy-like workload. A hash table of about 4096 entries (keys
 * 1..8192, 1024 buckets of 16 slots) behind one lock, or yield.locks=N bucket-stripe
 * locks (1-16, default 1). Each hart loops: pick a key and an operation with its own
 * xorshift generator (75 % lookups, 12.5 % inserts, 12.5 % deletes), do it under the
 * bucket's lock, then some work of its own on the result outside the lock. Runs for
 * yield.ticks of virtual time (see yield.h); at the end the table is checked: every key
 * in its own bucket, no duplicates, every value right, and the entry count equal to the
 * initial count plus the successful inserts minus the successful deletes. */
#include "yield.h"

#define NBUCKETS     1024u
#define SLOTS        16u
#define KEYSPACE     8192u
#define INITIAL      4096u
#define MAX_LOCKS    16u
#define BATCH        4	/* operations between two looks at the clock */

struct bucket {
	uint32_t key[SLOTS];	/* 0 = empty */
	uint32_t val[SLOTS];
};

static struct bucket table[NBUCKETS];
static sdk_lock_t locks[MAX_LOCKS];
static unsigned nlocks = 1;
static unsigned initial_entries;

struct hart_state {
	uint32_t rng;
	unsigned inserted, deleted, found, bad_values, sink;
} __attribute__((aligned(64)));
static struct hart_state hs[SDK_MAX_HARTS];

static inline uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static inline uint32_t bucket_of(uint32_t key)
{
	return (key * 2654435761u) >> 22;	/* top 10 bits: 0..1023 */
}

static inline uint32_t value_of(uint32_t key)
{
	return key * 0x9e3779b9u ^ 0x5bd1e995u;
}

/* The three operations, with the bucket's lock held. */
static int lookup(struct bucket *b, uint32_t key, uint32_t *val)
{
	for (unsigned i = 0; i < SLOTS; i++)
		if (b->key[i] == key) {
			*val = b->val[i];
			return 1;
		}
	return 0;
}

static int insert(struct bucket *b, uint32_t key)
{
	int free_slot = -1;
	for (unsigned i = 0; i < SLOTS; i++) {
		if (b->key[i] == key)
			return 0;
		if (b->key[i] == 0 && free_slot < 0)
			free_slot = (int)i;
	}
	if (free_slot < 0)
		return 0;	/* bucket full */
	b->val[free_slot] = value_of(key);
	b->key[free_slot] = key;
	return 1;
}

static int delete(struct bucket *b, uint32_t key)
{
	for (unsigned i = 0; i < SLOTS; i++)
		if (b->key[i] == key) {
			b->key[i] = 0;
			b->val[i] = 0;
			return 1;
		}
	return 0;
}

static void setup(void)
{
	nlocks = bootarg_u32("yield.locks", 1);
	if (nlocks < 1)
		nlocks = 1;
	if (nlocks > MAX_LOCKS)
		nlocks = MAX_LOCKS;
	for (unsigned i = 0; i < nlocks; i++)
		sdk_lock_init(&locks[i], yield_lock_kind);
	uint32_t seed = 0x2545f491u;
	while (initial_entries < INITIAL) {
		uint32_t key = xorshift32(&seed) % KEYSPACE + 1;
		initial_entries += (unsigned)insert(&table[bucket_of(key)], key);
	}
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++)
		hs[h].rng = 0x9e3779b9u * (h + 1) | 1;
	printf("yield: hashtable %u buckets x %u slots, %u entries, keys 1..%u, %u lock%s\n", NBUCKETS, SLOTS,
	       initial_entries, KEYSPACE, nlocks, nlocks == 1 ? "" : "s");
}

static uint32_t batch(unsigned hart)
{
	struct hart_state *st = &hs[hart];
	for (int n = 0; n < BATCH; n++) {
		uint32_t r = xorshift32(&st->rng);
		uint32_t key = r % KEYSPACE + 1;
		uint32_t op = (r >> 24) & 7;	/* 0-5 lookup, 6 insert, 7 delete */
		uint32_t b = bucket_of(key);
		sdk_lock_t *l = &locks[b % nlocks];
		uint32_t val = 0;
		int hit;
		sdk_lock_acquire(l);
		if (op < 6)
			hit = lookup(&table[b], key, &val);
		else if (op == 6)
			hit = insert(&table[b], key);
		else
			hit = delete(&table[b], key);
		sdk_lock_release(l);
		if (op < 6 && hit) {
			st->found++;
			if (val != value_of(key))
				st->bad_values++;
			/* Work on the record outside the lock (as ebizzy searches and copies). */
			uint32_t x = val;
			for (int i = 0; i < 16; i++)
				x = (x ^ (x >> 7)) * 0x2c1b3c6du + (uint32_t)i;
			st->sink += x;
		} else if (op == 6) {
			st->inserted += (uint32_t)hit;
		} else if (op == 7) {
			st->deleted += (uint32_t)hit;
		}
	}
	return BATCH;
}

static int check(uint64_t total)
{
	(void)total;
	int bad = 0;
	unsigned entries = 0;
	for (uint32_t b = 0; b < NBUCKETS; b++) {
		for (unsigned i = 0; i < SLOTS; i++) {
			uint32_t key = table[b].key[i];
			if (!key)
				continue;
			entries++;
			if (key > KEYSPACE || bucket_of(key) != b || table[b].val[i] != value_of(key))
				bad = 1;
			for (unsigned j = i + 1; j < SLOTS; j++)
				if (table[b].key[j] == key)
					bad = 1;
		}
	}
	int64_t expect = initial_entries;
	unsigned found = 0, bad_values = 0;
	for (unsigned h = 0; h < SDK_MAX_HARTS; h++) {
		expect += (int64_t)hs[h].inserted - (int64_t)hs[h].deleted;
		found += hs[h].found;
		bad_values += hs[h].bad_values;
	}
	if (expect != entries || bad_values)
		bad = 1;
	printf("yield: table entries=%u expected=%ld lookups found=%u bad values=%u\n", entries, (long)expect, found,
	       bad_values);
	return bad;
}

static const struct yield_guest guest = { "hashtable", setup, batch, check };

int main(void)
{
	return yield_main(&guest);
}
