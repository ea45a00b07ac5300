/*
 * test_hash.c - keyed XXH3-128 chunk ids and streaming digests.
 *
 * The reference is libxxhash's plain XXH3_128bits_withSecret called
 * directly: hash.c may route through the x86 dispatcher (AVX2/AVX-512), so
 * this also cross-checks the vector kernels against the baseline build.
 * Lengths are chosen at XXH3's internal seams: 0, 1-3, 4-8, 9-16, 17-128,
 * 129-240 and the long-input path with partial stripes and blocks.
 */
#define XXH_STATIC_LINKING_ONLY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>

#include "codecs/hash.h"

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

static uint64_t rng_state = 0x1234;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* The expected id: plain library call, canonical form written by hand. */
static void reference_id(const uint8_t *secret, const void *data, size_t len,
			 uint8_t out[SV_ID_LEN])
{
	XXH128_hash_t h = XXH3_128bits_withSecret(data, len, secret,
						  HASH_SECRET_LEN);

	for (int i = 0; i < 8; i++) {
		out[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
		out[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
	}
}

static const size_t lengths[] = {
	0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1023, 1024, 1025,
	65536, (1 << 20) + 7,
};

static void test_oneshot_and_stream(const uint8_t *secret, const uint8_t *buf)
{
	int ok = 0, sok = 0;

	for (size_t i = 0; i < SV_ARRAY_SIZE(lengths); i++) {
		size_t len = lengths[i];
		uint8_t want[SV_ID_LEN], got[SV_ID_LEN];
		char w[33], g[33];

		reference_id(secret, buf, len, want);
		hash_chunk_id(secret, buf, len, got);
		sv_hex(w, want, SV_ID_LEN);
		sv_hex(g, got, SV_ID_LEN);
		CHECK(memcmp(want, got, SV_ID_LEN) == 0,
		      "hash_chunk_id(len %zu): want %s got %s", len, w, g);
		ok += memcmp(want, got, SV_ID_LEN) == 0;

		/*
		 * Streaming: whole, byte by byte (short inputs only) and in
		 * random piece sizes, some spanning XXH3's 256-byte internal
		 * buffer and 1 KiB stripes, some empty.
		 */
		for (int mode = 0; mode < 6; mode++) {
			struct hash_stream s;
			size_t off = 0;

			if (mode == 1 && len > 4096)
				continue;
			hash_stream_init(&s, secret);
			while (off < len) {
				size_t piece;

				if (mode == 0)
					piece = len;
				else if (mode == 1)
					piece = 1;
				else if (mode == 2)
					piece = rnd() % 300;
				else
					piece = rnd() % (70000u * (size_t)mode);
				piece = SV_MIN(piece, len - off);
				hash_stream_update(&s, buf + off, piece);
				off += piece;
			}
			hash_stream_final(&s, got);
			sv_hex(g, got, SV_ID_LEN);
			CHECK(memcmp(want, got, SV_ID_LEN) == 0,
			      "stream(len %zu, mode %d): want %s got %s", len,
			      mode, w, g);
			sok += memcmp(want, got, SV_ID_LEN) == 0;
		}
	}
	printf("one-shot ids equal XXH3_128bits_withSecret: %d/%zu lengths\n",
	       ok, SV_ARRAY_SIZE(lengths));
	printf("streaming digests equal it too: %d splits\n", sok);
}

static void test_secret_matters(const uint8_t *secret, const uint8_t *buf)
{
	uint8_t other[HASH_SECRET_LEN], a[SV_ID_LEN], b[SV_ID_LEN];
	int differ = 0;

	/*
	 * A secret from another key, as HKDF would give: every byte differs.
	 * (A single flipped secret byte is not enough: XXH3 reads only part of
	 * the secret for short inputs, e.g. bytes 0..31 up to 16 bytes of
	 * input, and byte 100 of a 192-byte secret is unused for 241 bytes.
	 * That is harmless here because the secret is uniformly random key
	 * material, never a tweaked copy of another.)
	 */
	fill(other, sizeof(other));
	for (size_t i = 0; i < SV_ARRAY_SIZE(lengths); i++) {
		hash_chunk_id(secret, buf, lengths[i], a);
		hash_chunk_id(other, buf, lengths[i], b);
		CHECK(memcmp(a, b, SV_ID_LEN) != 0,
		      "another secret left the id of %zu bytes unchanged",
		      lengths[i]);
		differ += memcmp(a, b, SV_ID_LEN) != 0;
	}
	printf("another secret gives another id: %d/%zu lengths\n", differ,
	       SV_ARRAY_SIZE(lengths));
	/* The streaming digest is keyed by the same secret. */
	{
		struct hash_stream s;

		hash_stream_init(&s, other);
		hash_stream_update(&s, buf, 5000);
		hash_stream_final(&s, b);
		hash_chunk_id(secret, buf, 5000, a);
		CHECK(memcmp(a, b, SV_ID_LEN) != 0,
		      "streaming digest ignores the secret");
		hash_chunk_id(other, buf, 5000, a);
		CHECK(memcmp(a, b, SV_ID_LEN) == 0,
		      "streaming digest under another secret differs from "
		      "the one-shot id");
	}
	/* And content matters: a one-bit data change. */
	{
		uint8_t *copy = malloc(4096);

		memcpy(copy, buf, 4096);
		hash_chunk_id(secret, copy, 4096, a);
		copy[2048] ^= 0x10;
		hash_chunk_id(secret, copy, 4096, b);
		CHECK(memcmp(a, b, SV_ID_LEN) != 0,
		      "a one-bit data change left the id unchanged");
		free(copy);
	}
}

static void test_canonical(const uint8_t *secret, const uint8_t *buf)
{
	XXH128_hash_t h = XXH3_128bits_withSecret(buf, 1000, secret,
						  HASH_SECRET_LEN);
	uint8_t id[SV_ID_LEN];

	hash_chunk_id(secret, buf, 1000, id);
	/* Big-endian: the first byte is the top byte of high64. */
	CHECK(id[0] == (uint8_t)(h.high64 >> 56) &&
		      id[7] == (uint8_t)h.high64 &&
		      id[8] == (uint8_t)(h.low64 >> 56) &&
		      id[15] == (uint8_t)h.low64,
	      "id is not canonical big-endian high64||low64");
	printf("canonical byte order: high64 big-endian, then low64\n");
}

/*
 * Golden value: chunk ids are stored in every repository, so a change in
 * the hash (library or wrapper) must break a test on purpose. Secret byte i
 * is (7 * i + 3) mod 256, data byte i is i mod 251, 1000 bytes; the value
 * was computed with libxxhash 0.8.1's XXH3_128bits_withSecret.
 */
/* hash_crc32 / hash_adler32 (libdeflate) agree with zlib's, whole and
 * continued piece by piece, and on the standard check value. */
static void test_checksums(const uint8_t *buf, size_t max)
{
	CHECK(hash_crc32(0, "123456789", 9) == 0xCBF43926u,
	      "crc32 check value %08x", hash_crc32(0, "123456789", 9));
	CHECK(hash_adler32(1, "123456789", 9) == 0x091E01DEu,
	      "adler32 check value %08x", hash_adler32(1, "123456789", 9));
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(rnd() % max), cut = len ? rnd() % len : 0;
		uint32_t c = hash_crc32(hash_crc32(0, buf, cut), buf + cut,
					len - cut);
		uint32_t a = hash_adler32(hash_adler32(1, buf, cut), buf + cut,
					  len - cut);

		CHECK(c == (uint32_t)crc32_z(0, buf, len), "crc32 of %zu bytes "
		      "cut at %zu differs from zlib's", len, cut);
		CHECK(a == (uint32_t)adler32_z(1, buf, len), "adler32 of %zu "
		      "bytes cut at %zu differs from zlib's", len, cut);
	}
}

static void test_golden(void)
{
	static const char want[] = "daa4307963f8b47a5d63581e98e1e10f";
	uint8_t secret[HASH_SECRET_LEN], data[1000], id[SV_ID_LEN];
	char got[33];

	for (int i = 0; i < HASH_SECRET_LEN; i++)
		secret[i] = (uint8_t)(7 * i + 3);
	for (int i = 0; i < 1000; i++)
		data[i] = (uint8_t)(i % 251);
	hash_chunk_id(secret, data, sizeof(data), id);
	sv_hex(got, id, SV_ID_LEN);
	CHECK(strcmp(got, want) == 0, "golden id: want %s got %s", want, got);
	printf("golden id %s\n", got);
}

int main(void)
{
	size_t max = (1 << 20) + 7;
	uint8_t secret[HASH_SECRET_LEN];
	uint8_t *buf = malloc(max);

	fill(secret, sizeof(secret));
	fill(buf, max);
	test_oneshot_and_stream(secret, buf);
	test_secret_matters(secret, buf);
	test_canonical(secret, buf);
	test_golden();
	test_checksums(buf, max);
	free(buf);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
