/*
 * test_blob.c - sealing and opening chunks (engine/blob.h, FORMAT.md 5).
 *
 * Round trips of empty, tiny, compressible (codec zstd) and random (codec
 * none) chunks up to the context's maximum; every region of a sealed blob
 * (nonce, body, tag) tampered; the id, length and codec a blob is opened
 * with differing from those it was sealed with; a blob moved to another
 * repository; truncations. Blobs with a valid tag but a body that does not
 * decompress to raw_len bytes, or whose content does not hash to its id,
 * are built with the repository's own keys and must fail verification.
 * Output buffers are allocated to exactly raw_len bytes so AddressSanitizer
 * sees any overrun.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/aead.h"
#include "codecs/hash.h"
#include "codecs/kdf.h"
#include "engine/blob.h"

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

#define MAX_CHUNK (256u << 10)

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
}

static void fill_text(uint8_t *p, size_t n)
{
	static const char words[] = "partition key clustering row tombstone ";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 5 + i / 100) % (sizeof(words) - 1)];
}

/* Positions to probe in a buffer of len bytes: every one of the first and
 * last 64, every stride-th in between. */
static size_t next_pos(size_t i, size_t len, size_t stride)
{
	if (i + 1 < 64 || i + 1 + 64 >= len)
		return i + 1;
	return SV_MIN(i + stride, len - 64);
}

static struct repo *make_repo(uint8_t id_last)
{
	uint8_t id[REPO_ID_LEN], master[32];
	struct repo *r = NULL;

	for (int i = 0; i < REPO_ID_LEN; i++)
		id[i] = (uint8_t)i;
	id[REPO_ID_LEN - 1] = id_last;
	for (int i = 0; i < 32; i++)
		master[i] = (uint8_t)(0x20 + i);
	if (repo_open_mem(&r, id, master, NULL)) {
		printf("FAIL: repo_open_mem\n");
		exit(1);
	}
	return r;
}

struct sealed {
	uint8_t id[SV_ID_LEN];
	uint8_t *raw, *blob;
	size_t len;
	ssize_t blen;
	enum sv_codec codec;
};

static void seal_one(struct blobctx *b, const struct repo *r,
		     struct sealed *s, size_t len, int random, uint64_t seed)
{
	s->len = len;
	s->raw = malloc(len ? len : 1);
	s->blob = malloc(blob_bound(len));
	if (random)
		fill_random(s->raw, len, seed);
	else
		fill_text(s->raw, len);
	hash_chunk_id(r->id_secret, s->raw, len, s->id);
	s->codec = (enum sv_codec)99;
	s->blen = blob_seal(b, s->id, s->raw, len, s->blob, &s->codec);
}

static void free_sealed(struct sealed *s)
{
	free(s->raw);
	free(s->blob);
}

/* Open with the given parameters into an exact-size buffer; returns the
 * result and checks the content on success. */
static ssize_t try_open(struct blobctx *b, const uint8_t *id,
			uint32_t raw_len, enum sv_codec codec,
			const uint8_t *blob, size_t blen, const uint8_t *want)
{
	uint8_t *out = malloc(raw_len ? raw_len : 1);
	ssize_t n = blob_open(b, id, raw_len, codec, blob, blen, out);

	if (n >= 0 && want && memcmp(out, want, raw_len))
		n = -1000;     /* opened, but to the wrong bytes */
	free(out);
	return n;
}

static void test_round_trips(struct blobctx *b, const struct repo *r)
{
	static const struct {
		const char *name;
		size_t len;
		int random;
		enum sv_codec want;
	} cases[] = {
		{ "empty", 0, 0, SV_CODEC_NONE },
		{ "1 byte", 1, 1, SV_CODEC_NONE },
		{ "1000 random", 1000, 1, SV_CODEC_NONE },
		{ "4 KiB text", 4096, 0, SV_CODEC_ZSTD },
		{ "64 KiB text", 64 << 10, 0, SV_CODEC_ZSTD },
		{ "max random", MAX_CHUNK, 1, SV_CODEC_NONE },
		{ "max text", MAX_CHUNK, 0, SV_CODEC_ZSTD },
	};

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		struct sealed s;
		ssize_t n;

		seal_one(b, r, &s, cases[i].len, cases[i].random, i + 1);
		CHECK(s.blen >= AEAD_OVERHEAD &&
			      (size_t)s.blen <= blob_bound(s.len),
		      "%s: sealed length %zd (bound %zu)", cases[i].name,
		      s.blen, blob_bound(s.len));
		CHECK(s.codec == cases[i].want, "%s: codec %d, want %d",
		      cases[i].name, s.codec, cases[i].want);
		if (s.codec == SV_CODEC_NONE)
			CHECK(s.blen == (ssize_t)(s.len + AEAD_OVERHEAD),
			      "%s: stored blob of %zd bytes", cases[i].name,
			      s.blen);
		n = try_open(b, s.id, (uint32_t)s.len, s.codec, s.blob,
			     (size_t)s.blen, s.raw);
		CHECK(n == (ssize_t)s.len, "%s: blob_open gave %zd, want %zu",
		      cases[i].name, n, s.len);
		free_sealed(&s);
	}
	{
		uint8_t *big = calloc(1, MAX_CHUNK + 1),
			*out = malloc(blob_bound(MAX_CHUNK + 1)), id[SV_ID_LEN];
		enum sv_codec c;
		ssize_t n;

		hash_chunk_id(r->id_secret, big, MAX_CHUNK + 1, id);
		n = blob_seal(b, id, big, MAX_CHUNK + 1, out, &c);
		CHECK(n == -EINVAL, "sealing over max_chunk: %zd", n);
		n = blob_open(b, id, MAX_CHUNK + 1, SV_CODEC_NONE, out,
			      MAX_CHUNK + 1 + AEAD_OVERHEAD, big);
		CHECK(n == -EINVAL, "opening over max_chunk: %zd", n);
		free(big);
		free(out);
	}
	printf("round trips: %zu sizes\n", SV_ARRAY_SIZE(cases));
}

static void tamper_all(struct blobctx *b, struct sealed *s, const char *what)
{
	size_t bad = 0, tried = 0, blen = (size_t)s->blen;

	for (size_t i = 0; i < blen;
	     i = next_pos(i, blen, 997)) {
		ssize_t n;

		s->blob[i] ^= 0x10;
		n = try_open(b, s->id, (uint32_t)s->len, s->codec, s->blob,
			     blen, NULL);
		s->blob[i] ^= 0x10;
		tried++;
		if (n != -EBADMSG) {
			if (bad++ < 5)
				printf("  %s: byte %zu (%s) gave %zd\n", what, i,
				       i < AEAD_NONCE_LEN ? "nonce" :
				       i >= blen - AEAD_TAG_LEN ? "tag" : "body",
				       n);
		}
	}
	CHECK(bad == 0, "%s: %zu of %zu tampered blobs not -EBADMSG", what,
	      bad, tried);
	bad = 0;
	for (size_t n = 0; n < blen; n = next_pos(n, blen, 997)) {
		ssize_t ret = try_open(b, s->id, (uint32_t)s->len, s->codec,
				       s->blob, n, NULL);

		if (ret >= 0 || ret != (n < AEAD_OVERHEAD ? -EINVAL : -EBADMSG))
			bad++;
	}
	CHECK(bad == 0, "%s: %zu truncations not rejected", what, bad);
	/* One byte too many is as wrong as one too few. */
	{
		uint8_t *longer = malloc(blen + 1);
		ssize_t ret;

		memcpy(longer, s->blob, blen);
		longer[blen] = 0;
		ret = try_open(b, s->id, (uint32_t)s->len, s->codec, longer,
			       blen + 1, NULL);
		CHECK(ret == -EBADMSG, "%s: extra byte: %zd", what, ret);
		free(longer);
	}
	printf("%s: %zu tampered bytes and the truncations rejected\n", what,
	       tried);
}

static void test_tamper(struct blobctx *b, const struct repo *r)
{
	struct sealed s;

	seal_one(b, r, &s, 100, 1, 11);
	tamper_all(b, &s, "100 B random");
	free_sealed(&s);
	seal_one(b, r, &s, 64 << 10, 0, 12);
	tamper_all(b, &s, "64 KiB zstd");
	free_sealed(&s);
	seal_one(b, r, &s, MAX_CHUNK, 1, 13);
	tamper_all(b, &s, "256 KiB random");
	free_sealed(&s);
}

static void test_binding(struct blobctx *b, struct blobctx *other_b,
			 const struct repo *r)
{
	static const size_t lens[] = { 100, 8192 };

	for (size_t k = 0; k < SV_ARRAY_SIZE(lens); k++) {
		struct sealed s;
		uint8_t id2[SV_ID_LEN];
		ssize_t n;

		seal_one(b, r, &s, lens[k], 0, 21);
		memcpy(id2, s.id, SV_ID_LEN);
		id2[0] ^= 1;
		n = try_open(b, id2, (uint32_t)s.len, s.codec, s.blob,
			     (size_t)s.blen, NULL);
		CHECK(n == -EBADMSG, "%zu B %s: wrong id: %zd", s.len,
		      s.codec ? "zstd" : "raw", n);
		n = try_open(b, s.id, (uint32_t)s.len + 1, s.codec, s.blob,
			     (size_t)s.blen, NULL);
		CHECK(n == -EBADMSG, "%zu B: raw_len + 1: %zd", s.len, n);
		n = try_open(b, s.id, (uint32_t)s.len - 1, s.codec, s.blob,
			     (size_t)s.blen, NULL);
		CHECK(n == -EBADMSG, "%zu B: raw_len - 1: %zd", s.len, n);
		n = try_open(b, s.id, (uint32_t)s.len,
			     s.codec == SV_CODEC_ZSTD ? SV_CODEC_NONE :
							SV_CODEC_ZSTD,
			     s.blob, (size_t)s.blen, NULL);
		CHECK(n == -EBADMSG, "%zu B: other codec: %zd", s.len, n);
		n = try_open(b, s.id, (uint32_t)s.len, (enum sv_codec)7, s.blob,
			     (size_t)s.blen, NULL);
		CHECK(n == -EINVAL, "%zu B: codec 7: %zd", s.len, n);
		n = try_open(other_b, s.id, (uint32_t)s.len, s.codec, s.blob,
			     (size_t)s.blen, NULL);
		CHECK(n == -EBADMSG, "%zu B: moved to another repository: %zd",
		      s.len, n);
		n = try_open(b, s.id, (uint32_t)s.len, s.codec, s.blob,
			     (size_t)s.blen, s.raw);
		CHECK(n == (ssize_t)s.len, "%zu B: intact blob: %zd", s.len, n);
		free_sealed(&s);
	}
	/* Two blobs of one chunk: the right one, not a swapped one, opens. */
	{
		struct sealed x, y;

		seal_one(b, r, &x, 500, 1, 31);
		seal_one(b, r, &y, 500, 1, 32);
		CHECK(try_open(b, x.id, 500, x.codec, y.blob, (size_t)y.blen,
			       NULL) == -EBADMSG,
		      "blob of another chunk opened under x's id");
		free_sealed(&x);
		free_sealed(&y);
	}
	printf("id, length, codec and repository binding checked\n");
}

/* Seal body under the chunk key of (id, raw_len, codec) directly. */
static size_t seal_body(const struct repo *r, const uint8_t *id,
			uint32_t raw_len, enum sv_codec codec,
			const void *body, size_t len, uint8_t *out)
{
	uint8_t msg[SV_ID_LEN + 4], key[32], nonce[AEAD_NONCE_LEN];
	uint8_t aad[REPO_ID_LEN + SV_ID_LEN + 6];
	struct aead *a = NULL;
	ssize_t n;

	memcpy(msg, id, SV_ID_LEN);
	sv_put_le32(msg + SV_ID_LEN, raw_len);
	if (kdf_hmac_sha256(r->k_data, 32, msg, sizeof(msg), key) ||
	    aead_create(&a))
		exit(1);
	memcpy(aad, r->id, REPO_ID_LEN);
	memcpy(aad + REPO_ID_LEN, id, SV_ID_LEN);
	sv_put_le32(aad + REPO_ID_LEN + SV_ID_LEN, raw_len);
	aad[REPO_ID_LEN + SV_ID_LEN + 4] = (uint8_t)codec;
	aad[REPO_ID_LEN + SV_ID_LEN + 5] = SV_FORMAT_VERSION;
	memset(nonce, 7, sizeof(nonce));
	n = aead_seal(a, key, nonce, aad, sizeof(aad), body, len, out);
	aead_destroy(a);
	if (n < 0)
		exit(1);
	return (size_t)n;
}

static size_t make_frame(uint8_t *out, uint64_t content_size,
			 const uint8_t *data, size_t n)
{
	uint32_t bh = (uint32_t)(1 | (n << 3));   /* last, raw block */

	sv_put_le32(out, 0xFD2FB528u);
	out[4] = 0xE0;                            /* single segment, FCS 8 */
	sv_put_le64(out + 5, content_size);
	out[13] = (uint8_t)bh;
	out[14] = (uint8_t)(bh >> 8);
	out[15] = (uint8_t)(bh >> 16);
	memcpy(out + 16, data, n);
	return 16 + n;
}

static void test_hostile_bodies(struct blobctx *b, const struct repo *r)
{
	uint8_t data[64], id[SV_ID_LEN], frame[128], blob[256];
	size_t fl, bl;
	ssize_t n;

	fill_text(data, sizeof(data));
	hash_chunk_id(r->id_secret, data, sizeof(data), id);

	/* Honest control case: the crafted path itself works. */
	fl = make_frame(frame, 64, data, 64);
	bl = seal_body(r, id, 64, SV_CODEC_ZSTD, frame, fl, blob);
	n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, data);
	CHECK(n == 64, "crafted honest zstd blob: %zd", n);

	fl = make_frame(frame, 32, data, 32);
	bl = seal_body(r, id, 64, SV_CODEC_ZSTD, frame, fl, blob);
	n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, NULL);
	CHECK(n == -EBADMSG, "frame decoding to fewer bytes: %zd", n);

	fl = make_frame(frame, 64, data, 64);
	{
		uint8_t more[80];

		memcpy(more, data, 64);
		memset(more + 64, 'x', 16);
		fl = make_frame(frame, 80, more, 80);
	}
	bl = seal_body(r, id, 64, SV_CODEC_ZSTD, frame, fl, blob);
	n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, NULL);
	CHECK(n == -EBADMSG, "frame decoding to more bytes: %zd", n);

	bl = seal_body(r, id, 64, SV_CODEC_ZSTD, data, 64, blob);
	n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, NULL);
	CHECK(n == -EBADMSG, "non-frame body under codec zstd: %zd", n);

	bl = seal_body(r, id, 64, SV_CODEC_ZSTD, data, 0, blob);
	n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, NULL);
	CHECK(n == -EBADMSG, "empty body under codec zstd: %zd", n);

	/* Right length, valid tag, content that does not hash to id. */
	{
		uint8_t other[64];

		memcpy(other, data, 64);
		other[10] ^= 1;
		bl = seal_body(r, id, 64, SV_CODEC_NONE, other, 64, blob);
		n = try_open(b, id, 64, SV_CODEC_NONE, blob, bl, NULL);
		CHECK(n == -EBADMSG, "raw content with the wrong id: %zd", n);
		fl = make_frame(frame, 64, other, 64);
		bl = seal_body(r, id, 64, SV_CODEC_ZSTD, frame, fl, blob);
		n = try_open(b, id, 64, SV_CODEC_ZSTD, blob, bl, NULL);
		CHECK(n == -EBADMSG, "zstd content with the wrong id: %zd", n);
	}
	printf("hostile bodies under valid tags rejected\n");
}

int main(void)
{
	struct repo *r = make_repo(0x0f), *other = make_repo(0x0e);
	struct blobctx *b = NULL, *ob = NULL;
	int ret;

	ret = blobctx_create(&b, r, 3, MAX_CHUNK);
	if (!ret)
		ret = blobctx_create(&ob, other, 3, MAX_CHUNK);
	if (ret) {
		printf("FAIL: blobctx_create: %d\n", ret);
		return 1;
	}
	test_round_trips(b, r);
	test_tamper(b, r);
	test_binding(b, ob, r);
	test_hostile_bodies(b, r);
	blobctx_destroy(b);
	blobctx_destroy(ob);
	blobctx_destroy(NULL);
	repo_close(r);
	repo_close(other);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
