/*
 * bench_index - memory and lookup time of the chunk index at scale
 * (issue: "index memory and lookup time for 10 million chunk entries").
 *
 *   bench_index [--entries N]      (default 10000000)
 *
 * Inserts N random chunk ids as committed entries of packs of 64 entries,
 * then looks up N hits and N misses in random order. Prints one line per
 * measurement: stage=index_insert|index_hit|index_miss entries=N secs=S
 * ns_per_op=X, and stage=index_memory bytes=B bytes_per_entry=E (peak RSS
 * growth from getrusage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/index.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* splitmix64: deterministic ids without a dependency. */
static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_id(uint64_t seed, uint8_t id[SV_ID_LEN])
{
	uint64_t s = seed, a = mix(&s), b = mix(&s);

	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

int main(int argc, char **argv)
{
	size_t n = 10000000, per = 64, hits = 0;
	struct pack_entry ents[64];
	struct index *x = NULL;
	long rss0;
	double t;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--entries") && i + 1 < argc)
			n = strtoull(argv[++i], NULL, 10);
	rss0 = rss_kib();
	if (index_create(&x))
		return 1;
	t = now();
	for (size_t i = 0; i < n; i += per) {
		uint8_t oid[SV_OID_LEN] = { 0 };
		size_t k = 0;

		memcpy(oid, &i, sizeof(i));
		for (; k < per && i + k < n; k++) {
			make_id(i + k, ents[k].id);
			ents[k].off = k * 1000;
			ents[k].stored_len = 1000;
			ents[k].raw_len = 1 << 20;
			ents[k].codec = 1;
		}
		if (index_add_pack(x, oid, per * 1000, ents, k, 0))
			return 1;
	}
	t = now() - t;
	printf("stage=index_insert entries=%zu secs=%.3f ns_per_op=%.1f\n", n,
	       t, t * 1e9 / n);
	printf("stage=index_memory entries=%zu bytes=%ld bytes_per_entry=%.1f\n",
	       n, (rss_kib() - rss0) * 1024L,
	       (rss_kib() - rss0) * 1024.0 / n);
	t = now();
	for (size_t i = 0; i < n; i++) {
		uint8_t id[SV_ID_LEN];
		struct index_loc loc;
		uint64_t s = i * 2654435761u % n;

		make_id(s, id);
		hits += index_lookup(x, id, 1 << 20, &loc) == 0;
	}
	t = now() - t;
	printf("stage=index_hit entries=%zu found=%zu secs=%.3f ns_per_op=%.1f\n",
	       n, hits, t, t * 1e9 / n);
	hits = 0;
	t = now();
	for (size_t i = 0; i < n; i++) {
		uint8_t id[SV_ID_LEN];
		struct index_loc loc;

		make_id(n + i, id);
		hits += index_lookup(x, id, 1 << 20, &loc) == 0;
	}
	t = now() - t;
	printf("stage=index_miss entries=%zu found=%zu secs=%.3f ns_per_op=%.1f\n",
	       n, hits, t, t * 1e9 / n);
	index_destroy(x);
	return 0;
}
