/*
 * test_compress.c - zstd codec: round trips at several levels, the
 * per-chunk skip rule, and hostile input to compress_undo (wrong length,
 * truncation, every single-byte corruption of a small frame), which must
 * give -EBADMSG and never crash or write past raw_len.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/compress.h"

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

static uint64_t rng_state = 0xc0ffee;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Text-like: words from a small vocabulary, like CQL rows or JSON logs. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char *words[] = {
		"cassandra", "keyspace", "partition", "clustering", "sstable",
		"tombstone", "compaction", "timestamp", "user_id", "\"name\":",
		"{", "}", "2024-01-17T10:22:31Z", "INSERT", "INTO", "VALUES",
	};
	size_t off = 0;

	while (off < n) {
		const char *w = words[rnd() % SV_ARRAY_SIZE(words)];
		size_t l = strlen(w);

		for (size_t i = 0; i < l && off < n; i++)
			p[off++] = (uint8_t)w[i];
		if (off < n)
			p[off++] = (rnd() % 8) ? ' ' : '\n';
	}
}

enum kind { K_ZERO, K_TEXT, K_RANDOM };

struct rt_case {
	const char *name;
	size_t len;
	enum kind kind;
};

static const struct rt_case rt_cases[] = {
	{ "empty", 0, K_TEXT },
	{ "1 byte", 1, K_TEXT },
	{ "small text", 100, K_TEXT },
	{ "zeros 64 KiB", 65536, K_ZERO },
	{ "text 1 MiB", 1 << 20, K_TEXT },
	{ "random 1 MiB", 1 << 20, K_RANDOM },
	{ "text 4 MiB", 4 << 20, K_TEXT },
	{ "random 4 MiB", 4 << 20, K_RANDOM },
	/* Larger than a chunk, as a big index run or manifest may be. */
	{ "text 9 MiB", 9 << 20, K_TEXT },
};

static void make(uint8_t *p, size_t n, enum kind k)
{
	switch (k) {
	case K_ZERO:
		memset(p, 0, n);
		break;
	case K_TEXT:
		fill_text(p, n);
		break;
	case K_RANDOM:
		fill_random(p, n);
		break;
	}
}

static void test_round_trips(void)
{
	static const int levels[] = { 1, 3, 19 };

	for (size_t li = 0; li < SV_ARRAY_SIZE(levels); li++) {
		struct compress *z = NULL;
		int r = compress_create(&z, levels[li]);

		CHECK(r == 0, "compress_create(level %d): %d", levels[li], r);
		if (r)
			continue;
		for (size_t i = 0; i < SV_ARRAY_SIZE(rt_cases); i++) {
			const struct rt_case *c = &rt_cases[i];
			size_t bound = compress_bound(c->len);
			uint8_t *src = malloc(c->len + 1);
			uint8_t *cmp = malloc(bound);
			uint8_t *dec = malloc(c->len + 1);
			ssize_t n, d;

			/*
			 * Level 19 is slow (about 1 s per 4 MiB): give it the
			 * 4 MiB text case but not 4 MiB of random bytes or
			 * 9 MiB, which the faster levels already cover.
			 */
			if (levels[li] == 19 &&
			    (c->len > (4u << 20) ||
			     (c->len == (4u << 20) && c->kind == K_RANDOM)))
				goto next;
			make(src, c->len, c->kind);
			n = compress_data(z, cmp, bound, src, c->len);
			CHECK(n > 0, "level %d %s: compress_data %zd",
			      levels[li], c->name, n);
			if (n <= 0)
				goto next;
			dec[c->len] = 0x77;
			d = compress_undo(z, dec, c->len, cmp, (size_t)n,
					  c->len);
			CHECK(d == (ssize_t)c->len &&
				      memcmp(dec, src, c->len) == 0,
			      "level %d %s: undo returned %zd or wrong bytes",
			      levels[li], c->name, d);
			CHECK(dec[c->len] == 0x77,
			      "level %d %s: undo wrote past raw_len",
			      levels[li], c->name);
			printf("level %2d %-13s %8zu -> %8zd bytes (%.2fx)\n",
			       levels[li], c->name, c->len, n,
			       n ? (double)c->len / (double)n : 0.0);
next:
			free(src);
			free(cmp);
			free(dec);
		}
		compress_destroy(z);
	}
	compress_destroy(NULL);
	{
		struct compress *z = (struct compress *)1;

		CHECK(compress_create(&z, 0) == -EINVAL && z == NULL,
		      "level 0 accepted");
		CHECK(compress_create(&z, 20) == -EINVAL && z == NULL,
		      "level 20 accepted");
	}
}

/*
 * compress_create sizes a static workspace; zstd fails with
 * memory_allocation (-ENOMEM here) if a level needs more. Inputs above
 * 256 KiB use each level's largest parameter set, so 300 KiB probes the
 * worst case of every level, including the row-hash levels 5-12.
 */
static void test_all_levels(void)
{
	size_t n = 300 * 1024, bound = compress_bound(n);
	uint8_t *src = malloc(n), *cmp = malloc(bound), *dec = malloc(n);
	int ok = 0;

	fill_text(src, n);
	for (int level = 1; level <= 19; level++) {
		struct compress *z = NULL;
		ssize_t c, d;

		if (compress_create(&z, level)) {
			CHECK(0, "compress_create(level %d) failed", level);
			continue;
		}
		c = compress_data(z, cmp, bound, src, n);
		d = c > 0 ? compress_undo(z, dec, n, cmp, (size_t)c, n) : c;
		CHECK(c > 0 && d == (ssize_t)n && memcmp(dec, src, n) == 0,
		      "level %d: compress %zd, undo %zd", level, c, d);
		ok += c > 0 && d == (ssize_t)n;
		compress_destroy(z);
	}
	printf("levels 1..19 fit their preallocated workspace: %d/19\n", ok);
	free(src);
	free(cmp);
	free(dec);
}

static void test_skip_rule(struct compress *z)
{
	size_t n = 1 << 20, cap = compress_bound(n);
	uint8_t *src = malloc(n), *dst = malloc(cap), *dec = malloc(n);
	enum sv_codec codec = (enum sv_codec)99;
	ssize_t r, d;

	fill_random(src, n);
	r = compress_chunk(z, dst, cap, src, n, 32, &codec);
	CHECK(r == (ssize_t)n && codec == SV_CODEC_NONE &&
		      memcmp(dst, src, n) == 0,
	      "random chunk: got %zd codec %d, want raw copy", r, codec);
	printf("skip rule: random 1 MiB stored as %s, %zd bytes\n",
	       codec == SV_CODEC_NONE ? "NONE" : "ZSTD", r);
	/* Raw storage needs only len bytes of room. */
	r = compress_chunk(z, dst, n, src, n, 32, &codec);
	CHECK(r == (ssize_t)n && codec == SV_CODEC_NONE,
	      "random chunk with cap == len: %zd", r);
	r = compress_chunk(z, dst, n - 1, src, n, 32, &codec);
	CHECK(r == -ENOSPC, "random chunk with cap < len: %zd", r);

	fill_text(src, n);
	r = compress_chunk(z, dst, cap, src, n, 32, &codec);
	CHECK(r > 0 && r < (ssize_t)(n - n / 32) && codec == SV_CODEC_ZSTD,
	      "text chunk: got %zd codec %d, want ZSTD", r, codec);
	d = compress_undo(z, dec, n, dst, (size_t)r, n);
	CHECK(d == (ssize_t)n && memcmp(dec, src, n) == 0,
	      "text chunk does not decompress: %zd", d);
	printf("skip rule: text 1 MiB stored as %s, %zd bytes\n",
	       codec == SV_CODEC_ZSTD ? "ZSTD" : "NONE", r);

	/*
	 * Around the threshold: half random, half zeros compresses to a bit
	 * over 50%. A divisor of 2 demands < 50% and so stores raw; a divisor
	 * of 32 demands < ~97% and keeps zstd.
	 */
	fill_random(src, n / 2);
	memset(src + n / 2, 0, n / 2);
	r = compress_chunk(z, dst, cap, src, n, 2, &codec);
	CHECK(r == (ssize_t)n && codec == SV_CODEC_NONE,
	      "half-random with div 2: %zd codec %d, want raw", r, codec);
	r = compress_chunk(z, dst, cap, src, n, 32, &codec);
	CHECK(codec == SV_CODEC_ZSTD && r > (ssize_t)(n / 2) &&
		      r < (ssize_t)(n - n / 32),
	      "half-random with div 32: %zd codec %d, want zstd", r, codec);
	/* Divisor 0 keeps anything smaller, divisor 1 never compresses. */
	r = compress_chunk(z, dst, cap, src, n, 0, &codec);
	CHECK(codec == SV_CODEC_ZSTD && r < (ssize_t)n,
	      "div 0: %zd codec %d", r, codec);
	r = compress_chunk(z, dst, cap, src, n, 1, &codec);
	CHECK(codec == SV_CODEC_NONE && r == (ssize_t)n, "div 1: %zd codec %d",
	      r, codec);
	/* An empty chunk is stored raw: no frame is ever shorter than 0. */
	r = compress_chunk(z, dst, cap, src, 0, 32, &codec);
	CHECK(r == 0 && codec == SV_CODEC_NONE, "empty chunk: %zd codec %d",
	      r, codec);
	free(src);
	free(dst);
	free(dec);
}

static void test_bad_input(struct compress *z)
{
	enum { N = 3000 };
	uint8_t src[N], cmp[N + 512], dec[N + 64], *tmp;
	ssize_t n, r;
	int badmsg = 0, ok_same = 0, other = 0;
	size_t flips = 0;

	fill_text(src, N);
	n = compress_data(z, cmp, sizeof(cmp), src, N);
	CHECK(n > 0, "compress_data: %zd", n);
	if (n <= 0)
		return;

	/* Wrong raw_len either way. */
	r = compress_undo(z, dec, sizeof(dec), cmp, (size_t)n, N - 1);
	CHECK(r == -EBADMSG, "raw_len - 1: %zd, want -EBADMSG", r);
	r = compress_undo(z, dec, sizeof(dec), cmp, (size_t)n, N + 1);
	CHECK(r == -EBADMSG, "raw_len + 1: %zd, want -EBADMSG", r);
	r = compress_undo(z, dec, sizeof(dec), cmp, (size_t)n, 0);
	CHECK(r == -EBADMSG, "raw_len 0: %zd, want -EBADMSG", r);
	/* Room smaller than raw_len is the caller's -ENOSPC. */
	r = compress_undo(z, dec, N - 1, cmp, (size_t)n, N);
	CHECK(r == -ENOSPC, "cap < raw_len: %zd, want -ENOSPC", r);

	/* Every truncation, in a right-sized heap copy for ASan to watch. */
	for (ssize_t t = 0; t < n; t++) {
		tmp = malloc(t ? (size_t)t : 1);
		memcpy(tmp, cmp, (size_t)t);
		r = compress_undo(z, dec, N, tmp, (size_t)t, N);
		CHECK(r == -EBADMSG, "truncated to %zd of %zd: %zd", t, n, r);
		free(tmp);
	}
	/* Trailing garbage after the frame. */
	cmp[n] = 0x42;
	r = compress_undo(z, dec, N, cmp, (size_t)n + 1, N);
	CHECK(r == -EBADMSG, "trailing byte: %zd, want -EBADMSG", r);

	/*
	 * Flip each byte of the frame. zstd has no checksum here (the chunk
	 * id is verified after decompression instead), so some flips in
	 * literals decode to the right length with wrong bytes: those are
	 * not errors of this layer. What must hold is that nothing crashes,
	 * nothing is written past raw_len, and a flip never yields a length
	 * other than raw_len with success.
	 */
	for (ssize_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			cmp[i] ^= (uint8_t)(1 << bit);
			memset(dec, 0xee, sizeof(dec));
			r = compress_undo(z, dec, N, cmp, (size_t)n, N);
			flips++;
			if (r == -EBADMSG)
				badmsg++;
			else if (r == N)
				ok_same++;
			else
				other++;
			for (size_t j = N; j < sizeof(dec); j++)
				if (dec[j] != 0xee) {
					CHECK(0, "flip at %zd wrote past "
						 "raw_len", i);
					break;
				}
			cmp[i] ^= (uint8_t)(1 << bit);
		}
	}
	CHECK(other == 0, "%d flips gave a result other than -EBADMSG or N",
	      other);
	CHECK(badmsg > 0, "no flip was detected at all");
	printf("corruption: %zu bit flips, %d -EBADMSG, %d decoded to raw_len "
	       "(left for the chunk id check), %d other\n",
	       flips, badmsg, ok_same, other);
	/* Garbage that is not a frame at all. */
	fill_random(cmp, 64);
	r = compress_undo(z, dec, N, cmp, 64, N);
	CHECK(r == -EBADMSG, "random bytes: %zd, want -EBADMSG", r);
	/* The context still works after all that. */
	r = compress_undo(z, dec, N, cmp, 0, 0);
	CHECK(r == -EBADMSG, "empty input: %zd", r);
	n = compress_data(z, cmp, sizeof(cmp), src, N);
	r = compress_undo(z, dec, N, cmp, (size_t)n, N);
	CHECK(r == N && memcmp(dec, src, N) == 0,
	      "context unusable after bad input: %zd", r);
}

static void test_enospc(struct compress *z)
{
	size_t n = 1 << 16;
	uint8_t *src = malloc(n), *dst = malloc(compress_bound(n));
	ssize_t r;

	fill_random(src, n);
	r = compress_data(z, dst, n / 2, src, n);
	CHECK(r == -ENOSPC, "random into half-size dst: %zd, want -ENOSPC",
	      r);
	r = compress_data(z, dst, 0, src, n);
	CHECK(r == -ENOSPC, "zero-size dst: %zd, want -ENOSPC", r);
	fill_text(src, n);
	r = compress_data(z, dst, 16, src, n);
	CHECK(r == -ENOSPC, "text into 16-byte dst: %zd, want -ENOSPC", r);
	r = compress_data(z, dst, compress_bound(n), src, n);
	CHECK(r > 0, "after -ENOSPC the context still works: %zd", r);
	printf("dst too small: -ENOSPC\n");
	free(src);
	free(dst);
}

int main(void)
{
	struct compress *z = NULL;

	test_round_trips();
	test_all_levels();
	if (compress_create(&z, 3)) {
		printf("compress_create failed\n");
		return 1;
	}
	test_skip_rule(z);
	test_bad_input(z);
	test_enospc(z);
	compress_destroy(z);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
