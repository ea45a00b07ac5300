/*
 * test_cdc.c - FastCDC chunker: size bounds, exact coverage, shift
 * resistance (the reason for content-defined chunking), determinism, keyed
 * boundaries, equality with a plain byte-at-a-time reference, and the
 * incremental-call contract that engine/chunk relies on.
 */
#define XXH_STATIC_LINKING_ONLY
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "codecs/cdc.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                              \
	do {                                                          \
		checks++;                                             \
		if (!(cond)) {                                        \
			failures++;                                   \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
		}                                                     \
	} while (0)

#define MiB (1024u * 1024)
#define BUF_LEN (64 * (size_t)MiB)

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		sv_put_le64(p + i, rnd());
	for (; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/*
 * The specification, one byte at a time, straight from the FastCDC paper's
 * Algorithm 2 with the header's conventions. cdc_next must agree exactly.
 */
static size_t ref_next(const struct cdc *c, const uint8_t *p, size_t len)
{
	uint64_t h = 0;
	size_t i, normal;

	if (len > c->max)
		len = c->max;
	if (len <= c->min)
		return len;
	normal = len < c->avg ? len : c->avg;
	for (i = c->min; i < normal; i++) {
		h = (h << 1) + c->gear[p[i]];
		if (!(h & c->mask_s))
			return i + 1;
	}
	for (; i < len; i++) {
		h = (h << 1) + c->gear[p[i]];
		if (!(h & c->mask_l))
			return i + 1;
	}
	return len;
}

struct chunks {
	size_t n, cap;
	size_t *len;
	uint64_t *hash;   /* XXH3-64 of the chunk bytes */
};

static void chunk_all(const struct cdc *c, const uint8_t *buf, size_t n,
		      struct chunks *out)
{
	size_t off = 0;

	out->n = 0;
	while (off < n) {
		size_t l = cdc_next(c, buf + off, SV_MIN(n - off,
							 (size_t)c->max));

		if (l == 0)
			break;   /* would loop forever; caught below */
		if (out->n == out->cap) {
			out->cap = out->cap ? 2 * out->cap : 256;
			out->len = realloc(out->len, out->cap * sizeof(size_t));
			out->hash = realloc(out->hash,
					    out->cap * sizeof(uint64_t));
		}
		out->len[out->n] = l;
		out->hash[out->n] = XXH3_64bits(buf + off, l);
		out->n++;
		off += l;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int popcount64(uint64_t v)
{
	int n = 0;

	for (; v; v &= v - 1)
		n++;
	return n;
}

static void test_init(const uint8_t *gear)
{
	struct cdc c;

	CHECK(cdc_init(&c, gear, 63, 256, 1024) == -EINVAL, "min < 64");
	CHECK(cdc_init(&c, gear, 256, 256, 1024) == -EINVAL, "min == avg");
	CHECK(cdc_init(&c, gear, 100, 300, 1024) == -EINVAL, "avg not 2^k");
	CHECK(cdc_init(&c, gear, 100, 1024, 1024) == -EINVAL, "avg == max");
	CHECK(cdc_init(&c, gear, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT,
		       CDC_MAX_DEFAULT) == 0, "defaults rejected");
	/* Normalized chunking level 2 around log2(1 MiB) = 20 bits. */
	CHECK(popcount64(c.mask_s) == 22 && popcount64(c.mask_l) == 18,
	      "mask bits %d/%d, want 22/18", popcount64(c.mask_s),
	      popcount64(c.mask_l));
	CHECK((c.mask_s & c.mask_l) == c.mask_l,
	      "loose mask is not a subset of the strict mask");
	CHECK(c.gear[1] == sv_get_le64(gear + 8),
	      "gear table is not read as little-endian words");
	printf("cdc_init: bad sizes rejected, masks 22/18 bits\n");
}

/* cdc_next against ref_next on many (config, data, offset, len) cases. */
static void test_reference(const uint8_t *gear, const uint8_t *buf)
{
	static const uint32_t cfg[][3] = {
		{ 64, 256, 1024 },
		{ 100, 4096, 16384 },
		{ 2048, 8192, 65536 },
		{ CDC_MIN_DEFAULT, CDC_AVG_DEFAULT, CDC_MAX_DEFAULT },
	};
	/* Offsets < max/2 plus lengths < 1.25 max stay inside 2 max. */
	const size_t low_len = 2 * (size_t)CDC_MAX_DEFAULT;
	uint8_t *low = malloc(low_len);
	long cases = 0, cuts = 0;

	/* Low-entropy data too: runs of a few byte values, and all zeros. */
	for (size_t i = 0; i < low_len; i++)
		low[i] = (uint8_t)((i / 97) % 3);
	for (size_t k = 0; k < SV_ARRAY_SIZE(cfg); k++) {
		struct cdc c;
		int iters = k == 3 ? 60 : 3000;

		if (cdc_init(&c, gear, cfg[k][0], cfg[k][1], cfg[k][2])) {
			CHECK(0, "cdc_init config %zu", k);
			continue;
		}
		for (int it = 0; it < iters; it++) {
			const uint8_t *src = (it % 10 == 9) ? low : buf;
			size_t off = rnd() % (CDC_MAX_DEFAULT / 2);
			size_t len = rnd() % (c.max + c.max / 4);
			size_t want, got;

			if (it % 7 == 0)
				len = c.min + rnd() % 3;   /* edge at min */
			want = ref_next(&c, src + off, len);
			got = cdc_next(&c, src + off, len);
			cases++;
			cuts += want < SV_MIN(len, (size_t)c.max);
			if (want != got) {
				CHECK(0, "config %u/%u/%u off %zu len %zu: "
					 "reference %zu, cdc_next %zu",
				      c.min, c.avg, c.max, off, len, want,
				      got);
				break;
			}
		}
	}
	/* All zeros: the hash settles to a constant; both must agree. */
	memset(low, 0, low_len);
	{
		struct cdc c;

		if (cdc_init(&c, gear, 64, 256, 1024) == 0)
			CHECK(ref_next(&c, low, 1024) ==
				      cdc_next(&c, low, 1024),
			      "all-zero input differs from the reference");
	}
	printf("cdc_next == byte-at-a-time reference: %ld cases (%ld content "
	       "cuts), 4 size configs, random and low-entropy data\n",
	       cases, cuts);
	free(low);
}

/*
 * At each chunk start, call cdc_next on a random prefix of what is
 * available. A cut before the end of the prefix must be the full-data cut;
 * otherwise the prefix length comes back and the real cut lies beyond it.
 */
static void test_incremental(const struct cdc *c, const uint8_t *buf,
			     size_t n, const struct chunks *full)
{
	size_t off = 0, checked = 0, partial_cuts = 0, bad = 0;

	for (size_t i = 0; i < full->n; off += full->len[i], i++) {
		size_t avail = SV_MIN(n - off, (size_t)c->max);

		for (int t = 0; t < 4; t++) {
			size_t part = 1 + rnd() % avail, r;

			r = cdc_next(c, buf + off, part);
			checked++;
			if (r < part) {
				partial_cuts++;
				if (r != full->len[i])
					bad++;
			} else if (r != part || full->len[i] < part) {
				bad++;
			}
		}
	}
	CHECK(bad == 0, "%zu of %zu partial calls disagree with full data",
	      bad, checked);
	printf("incremental (%u/%u/%u): %zu partial calls, %zu found the cut "
	       "early, %zu inconsistent with full data\n",
	       c->min, c->avg, c->max, checked, partial_cuts, bad);
}

int main(void)
{
	uint8_t gear_a[CDC_GEAR_BYTES], gear_b[CDC_GEAR_BYTES];
	uint8_t *buf = malloc(BUF_LEN), *shifted = malloc(BUF_LEN + 100);
	struct chunks a = { 0 }, b = { 0 }, s = { 0 }, k = { 0 };
	struct cdc c, ck;
	size_t sum = 0, bad_size = 0, same_bytes = 0, total_s = 0;
	size_t smallest = SIZE_MAX, largest = 0, common = 0, same_n = 0;
	uint64_t *sorted;
	double mean;

	rng_state = 1;
	fill(gear_a, sizeof(gear_a));
	fill(gear_b, sizeof(gear_b));   /* "another key" */
	fill(buf, BUF_LEN);
	test_init(gear_a);
	test_reference(gear_a, buf);

	if (cdc_init(&c, gear_a, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT,
		     CDC_MAX_DEFAULT) ||
	    cdc_init(&ck, gear_b, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT,
		     CDC_MAX_DEFAULT)) {
		printf("cdc_init failed\n");
		return 1;
	}
	chunk_all(&c, buf, BUF_LEN, &a);

	/* Bounds and exact coverage. */
	for (size_t i = 0; i < a.n; i++) {
		int last = i + 1 == a.n;

		sum += a.len[i];
		if (a.len[i] > c.max || (!last && a.len[i] <= c.min) ||
		    a.len[i] == 0)
			bad_size++;
		if (!last) {
			smallest = SV_MIN(smallest, a.len[i]);
			largest = SV_MAX(largest, a.len[i]);
		}
	}
	CHECK(bad_size == 0, "%zu chunks outside (min, max]", bad_size);
	CHECK(sum == BUF_LEN, "chunks cover %zu bytes, input is %zu", sum,
	      BUF_LEN);
	mean = (double)BUF_LEN / (double)a.n;
	printf("64 MiB random: %zu chunks, mean %.0f KiB, smallest %zu KiB, "
	       "largest %zu KiB, all within (min, max], cover %zu bytes\n",
	       a.n, mean / 1024, smallest / 1024, largest / 1024, sum);
	CHECK(mean >= 0.5 * c.avg && mean <= 2.0 * c.avg,
	      "mean chunk %.0f outside [0.5, 2] x avg %u", mean, c.avg);

	/* Determinism. */
	chunk_all(&c, buf, BUF_LEN, &b);
	CHECK(b.n == a.n && memcmp(a.len, b.len, a.n * sizeof(size_t)) == 0,
	      "same input and gear gave different boundaries");
	printf("same input + same gear: identical boundaries\n");

	/* Shift resistance: 100 bytes inserted at the start. */
	fill(shifted, 100);
	memcpy(shifted + 100, buf, BUF_LEN);
	chunk_all(&c, shifted, BUF_LEN + 100, &s);
	sorted = malloc(a.n * sizeof(uint64_t));
	memcpy(sorted, a.hash, a.n * sizeof(uint64_t));
	qsort(sorted, a.n, sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < s.n; i++) {
		total_s += s.len[i];
		if (bsearch(&s.hash[i], sorted, a.n, sizeof(uint64_t),
			    cmp_u64)) {
			same_bytes += s.len[i];
			same_n++;
		}
	}
	printf("insert 100 bytes at start: preserved %.1f%% of bytes in "
	       "identical chunks (%zu of %zu chunks new)\n",
	       100.0 * (double)same_bytes / (double)total_s, s.n - same_n,
	       s.n);
	CHECK((double)same_bytes >= 0.95 * (double)total_s,
	      "only %.1f%% of bytes preserved after an insertion, want >= 95%%",
	      100.0 * (double)same_bytes / (double)total_s);

	/* A different gear table (another key) moves the boundaries. */
	chunk_all(&ck, buf, BUF_LEN, &k);
	{
		size_t i = 0, j = 0, pa = 0, pk = 0;

		/* Count boundary positions common to both (merge walk). */
		while (i < a.n && j < k.n) {
			size_t na = pa + a.len[i], nk = pk + k.len[j];

			if (na == nk) {
				common++;
				pa = na, pk = nk, i++, j++;
			} else if (na < nk) {
				pa = na, i++;
			} else {
				pk = nk, j++;
			}
		}
	}
	/* The end of the buffer is a shared "boundary" by construction. */
	CHECK(common <= 1 + a.n / 20,
	      "%zu of %zu boundaries survive a change of gear table", common,
	      a.n);
	printf("another gear table: %zu chunks, %zu boundaries in common "
	       "(end of input included)\n", k.n, common);

	/* Incremental calls on partial data agree with full data. */
	test_incremental(&c, buf, BUF_LEN, &a);
	{
		struct cdc small;
		struct chunks m = { 0 };

		if (cdc_init(&small, gear_a, 2048, 8192, 65536) == 0) {
			chunk_all(&small, buf, 16 * MiB, &m);
			mean = (double)(16 * MiB) / (double)m.n;
			printf("16 MiB at 2/8/64 KiB: %zu chunks, mean %.0f "
			       "bytes\n", m.n, mean);
			CHECK(mean >= 0.5 * small.avg &&
				      mean <= 2.0 * small.avg,
			      "mean chunk %.0f outside [0.5, 2] x avg %u",
			      mean, small.avg);
			test_incremental(&small, buf, 16 * MiB, &m);
		}
		free(m.len);
		free(m.hash);
	}

	free(sorted);
	free(a.len);
	free(a.hash);
	free(b.len);
	free(b.hash);
	free(s.len);
	free(s.hash);
	free(k.len);
	free(k.hash);
	free(buf);
	free(shifted);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
