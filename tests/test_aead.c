/*
 * test_aead.c - AES-256-GCM codec against the published vectors, plus the
 * seal/open contract: round trips, every tampered byte rejected, short input.
 *
 * Vectors: "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega,
 * appendix B (the same cases as NIST's gcmEncryptExtIV256 examples). Test
 * cases 13-18 are AES-256; 3 and 4 (AES-128) are included because
 * aead_gcm_raw accepts any AES key size. 17 and 18 use a 64-bit and a
 * 480-bit IV, which only the raw interface can express.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "codecs/aead.h"

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

struct gcm_vec {
	const char *name;
	const char *key, *iv, *pt, *aad, *ct, *tag;
};

#define P64 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
#define P60 "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" \
	    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define K128 "feffe9928665731c6d6a8f9467308308"
#define K256 K128 K128
#define AAD20 "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define IV96 "cafebabefacedbaddecaf888"
#define Z256 "00000000000000000000000000000000" \
	     "00000000000000000000000000000000"

static const struct gcm_vec vecs[] = {
	{ "TC3 (AES-128)", K128, IV96, P64, "",
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
	  "4d5c2af327cd64a62cf35abd2ba6fab4" },
	{ "TC4 (AES-128)", K128, IV96, P60, AAD20,
	  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
	  "5bc94fbc3221a5db94fae95ae7121a47" },
	{ "TC13", Z256,
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "TC14", Z256,
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "TC15", K256, IV96, P64, "",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "TC16", K256, IV96, P60, AAD20,
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
	{ "TC17 (64-bit IV)", K256, "cafebabefacedbad", P60, AAD20,
	  "c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0"
	  "feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f",
	  "3a337dbf46a792c45e454913fe2ea8f2" },
	{ "TC18 (480-bit IV)", K256,
	  "9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728"
	  "c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
	  P60, AAD20,
	  "5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4"
	  "0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f",
	  "a44a8266ee1c8eb0c8b5d4cf5ae9f19a" },
};

/* Decode a hex string into a fresh buffer (at least 1 byte, never NULL). */
static uint8_t *unhex(const char *s, size_t *len)
{
	size_t n = strlen(s) / 2;
	uint8_t *p = malloc(n ? n : 1);

	if (!p || sv_unhex(p, s, n)) {
		printf("bad hex in test vector: %s\n", s);
		exit(1);
	}
	*len = n;
	return p;
}

static int hexeq(const uint8_t *got, const uint8_t *want, size_t n,
		 const char *what, const char *name)
{
	char g[2 * 256 + 1], w[2 * 256 + 1];

	if (memcmp(got, want, n) == 0)
		return 1;
	n = SV_MIN(n, (size_t)256);
	sv_hex(g, got, n);
	sv_hex(w, want, n);
	printf("%s %s mismatch:\n  want %s\n  got  %s\n", name, what, w, g);
	return 0;
}

static void test_vector(const struct gcm_vec *v, struct aead *a)
{
	size_t kl, ivl, pl, al, cl, tl;
	uint8_t *key = unhex(v->key, &kl), *iv = unhex(v->iv, &ivl);
	uint8_t *pt = unhex(v->pt, &pl), *aad = unhex(v->aad, &al);
	uint8_t *ct = unhex(v->ct, &cl), *tag = unhex(v->tag, &tl);
	uint8_t *buf = calloc(1, pl + AEAD_OVERHEAD), tagbuf[16];
	int r;

	CHECK(pl == cl, "%s: vector has pt %zu != ct %zu bytes", v->name, pl,
	      cl);

	/* Encrypt through the raw interface. */
	r = aead_gcm_raw(1, key, kl, iv, ivl, aad, al, pt, pl, buf, tagbuf, tl);
	CHECK(r == 0, "%s: raw encrypt returned %d", v->name, r);
	CHECK(hexeq(buf, ct, cl, "ciphertext", v->name), "%s: ciphertext",
	      v->name);
	CHECK(hexeq(tagbuf, tag, tl, "tag", v->name), "%s: tag", v->name);

	/* A truncated tag is the leading bytes of the full one. */
	r = aead_gcm_raw(1, key, kl, iv, ivl, aad, al, pt, pl, buf, tagbuf, 12);
	CHECK(r == 0 && memcmp(tagbuf, tag, 12) == 0,
	      "%s: 96-bit tag is not the prefix of the full tag", v->name);

	/* Decrypt and verify. */
	memset(buf, 0xa5, pl + 1);
	r = aead_gcm_raw(0, key, kl, iv, ivl, aad, al, ct, cl, buf, tag, tl);
	CHECK(r == 0, "%s: raw decrypt returned %d", v->name, r);
	CHECK(hexeq(buf, pt, pl, "plaintext", v->name), "%s: plaintext",
	      v->name);
	r = aead_gcm_raw(0, key, kl, iv, ivl, aad, al, ct, cl, buf, tag, 12);
	CHECK(r == 0, "%s: decrypt with 96-bit tag returned %d", v->name, r);

	/* A wrong tag fails and wipes the output. */
	memcpy(tagbuf, tag, tl);
	tagbuf[tl - 1] ^= 0x01;
	memset(buf, 0xa5, pl + 1);
	r = aead_gcm_raw(0, key, kl, iv, ivl, aad, al, ct, cl, buf, tagbuf, tl);
	CHECK(r == -EBADMSG, "%s: bad tag gave %d, want -EBADMSG", v->name, r);
	for (size_t i = 0; i < pl; i++) {
		if (buf[i] != 0) {
			CHECK(0, "%s: output not wiped after tag failure",
			      v->name);
			break;
		}
	}

	/* The 96-bit-IV AES-256 cases also go through seal/open. */
	if (kl == AEAD_KEY_LEN && ivl == AEAD_NONCE_LEN && tl == AEAD_TAG_LEN) {
		ssize_t n;

		n = aead_seal(a, key, iv, aad, al, pt, pl, buf);
		CHECK(n == (ssize_t)(pl + AEAD_OVERHEAD),
		      "%s: seal returned %zd", v->name, n);
		CHECK(memcmp(buf, iv, ivl) == 0 &&
			      hexeq(buf + ivl, ct, cl, "sealed ct", v->name) &&
			      hexeq(buf + ivl + cl, tag, tl, "sealed tag",
				    v->name),
		      "%s: sealed layout is not nonce||ct||tag", v->name);
		{
			uint8_t *dec = malloc(pl ? pl : 1);

			n = aead_open(a, key, aad, al, buf, pl + AEAD_OVERHEAD,
				      dec);
			CHECK(n == (ssize_t)pl && memcmp(dec, pt, pl) == 0,
			      "%s: open returned %zd or wrong plaintext",
			      v->name, n);
			free(dec);
		}
	}
	printf("vector %-18s checked\n", v->name);
	free(key);
	free(iv);
	free(pt);
	free(aad);
	free(ct);
	free(tag);
	free(buf);
}

/* splitmix64: deterministic test data. */
static uint64_t rng_state = 0x5eed;

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

static void test_round_trip(struct aead *a)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 255, 4096, 65537,
					1 << 20 };
	uint8_t key[AEAD_KEY_LEN], key2[AEAD_KEY_LEN], nonce[AEAD_NONCE_LEN];
	uint8_t aad[45];
	int ok = 0;

	fill(key, sizeof(key));
	fill(key2, sizeof(key2));
	fill(aad, sizeof(aad));
	for (size_t i = 0; i < SV_ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i];
		uint8_t *pt = malloc(n + 1), *s1 = malloc(n + AEAD_OVERHEAD);
		uint8_t *s2 = malloc(n + AEAD_OVERHEAD), *dec = malloc(n + 1);
		ssize_t r;

		fill(pt, n);
		fill(nonce, sizeof(nonce));
		r = aead_seal(a, key, nonce, aad, sizeof(aad), pt, n, s1);
		CHECK(r == (ssize_t)(n + AEAD_OVERHEAD), "seal %zu: %zd", n, r);
		/* Interleave another key to prove the context is re-keyed. */
		r = aead_seal(a, key2, nonce, aad, sizeof(aad), pt, n, s2);
		CHECK(r == (ssize_t)(n + AEAD_OVERHEAD) &&
			      memcmp(s1 + AEAD_NONCE_LEN, s2 + AEAD_NONCE_LEN,
				     n + AEAD_TAG_LEN) != 0,
		      "seal %zu under another key gave the same output", n);
		r = aead_seal(a, key, nonce, aad, sizeof(aad), pt, n, s2);
		CHECK(memcmp(s1, s2, n + AEAD_OVERHEAD) == 0,
		      "seal %zu is not deterministic for a fixed nonce", n);
		r = aead_open(a, key, aad, sizeof(aad), s1, n + AEAD_OVERHEAD,
			      dec);
		CHECK(r == (ssize_t)n && memcmp(dec, pt, n) == 0,
		      "open %zu: %zd or wrong plaintext", n, r);
		r = aead_open(a, key2, aad, sizeof(aad), s1, n + AEAD_OVERHEAD,
			      dec);
		CHECK(r == -EBADMSG, "open %zu with the wrong key: %zd", n, r);
		r = aead_open(a, key, NULL, 0, s1, n + AEAD_OVERHEAD, dec);
		CHECK(r == -EBADMSG, "open %zu without the AAD: %zd", n, r);
		r = aead_open(a, key, aad, sizeof(aad), s1, n + AEAD_OVERHEAD,
			      dec);
		if (r == (ssize_t)n && memcmp(dec, pt, n) == 0)
			ok++;
		CHECK(r == (ssize_t)n, "open %zu after failures: %zd", n, r);
		free(pt);
		free(s1);
		free(s2);
		free(dec);
	}
	printf("round trip: %d/%zu sizes ok (0 B .. 1 MiB)\n", ok,
	       SV_ARRAY_SIZE(sizes));
}

/* Flip each byte of nonce, ciphertext, tag and AAD in turn. */
static void test_tamper(struct aead *a)
{
	enum { PT = 40, AAD = 21 };
	uint8_t key[AEAD_KEY_LEN], nonce[AEAD_NONCE_LEN], pt[PT], aad[AAD];
	uint8_t sealed[PT + AEAD_OVERHEAD], dec[PT];
	int rejected = 0, total = 0;
	ssize_t r;

	fill(key, sizeof(key));
	fill(nonce, sizeof(nonce));
	fill(pt, sizeof(pt));
	fill(aad, sizeof(aad));
	r = aead_seal(a, key, nonce, aad, AAD, pt, PT, sealed);
	CHECK(r == (ssize_t)sizeof(sealed), "seal: %zd", r);
	for (size_t i = 0; i < sizeof(sealed); i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			sealed[i] ^= (uint8_t)(1 << bit);
			memset(dec, 0x5a, sizeof(dec));
			r = aead_open(a, key, aad, AAD, sealed, sizeof(sealed),
				      dec);
			total++;
			if (r == -EBADMSG)
				rejected++;
			else
				CHECK(0, "flipped bit %d of sealed byte %zu: "
					 "open returned %zd, want -EBADMSG",
				      bit, i, r);
			for (size_t j = 0; j < sizeof(dec); j++)
				if (dec[j]) {
					CHECK(0, "output not wiped (byte %zu)",
					      i);
					break;
				}
			sealed[i] ^= (uint8_t)(1 << bit);
		}
	}
	for (size_t i = 0; i < AAD; i++) {
		aad[i] ^= 0x80;
		r = aead_open(a, key, aad, AAD, sealed, sizeof(sealed), dec);
		total++;
		if (r == -EBADMSG)
			rejected++;
		else
			CHECK(0, "flipped AAD byte %zu: open returned %zd", i,
			      r);
		aad[i] ^= 0x80;
	}
	/* Truncation and extension also break the tag. */
	r = aead_open(a, key, aad, AAD, sealed, sizeof(sealed) - 1, dec);
	CHECK(r == -EBADMSG, "truncated by one byte: %zd", r);
	r = aead_open(a, key, aad, AAD - 1, sealed, sizeof(sealed), dec);
	CHECK(r == -EBADMSG, "shorter AAD: %zd", r);
	r = aead_open(a, key, aad, AAD, sealed, sizeof(sealed), dec);
	CHECK(r == PT && memcmp(dec, pt, PT) == 0, "untampered open: %zd", r);
	printf("tamper: %d/%d single-byte changes rejected with -EBADMSG\n",
	       rejected, total);
}

static void test_short(struct aead *a)
{
	uint8_t key[AEAD_KEY_LEN] = { 1 }, nonce[AEAD_NONCE_LEN] = { 2 };
	uint8_t sealed[AEAD_OVERHEAD], dec[1];
	int bad = 0;
	ssize_t r;

	for (size_t n = 0; n < AEAD_OVERHEAD; n++) {
		r = aead_open(a, key, NULL, 0, sealed, n, dec);
		if (r != -EINVAL) {
			bad++;
			CHECK(0, "open of %zu bytes returned %zd, want -EINVAL",
			      n, r);
		}
	}
	/* Exactly the overhead is a valid, empty message. */
	r = aead_seal(a, key, nonce, NULL, 0, NULL, 0, sealed);
	CHECK(r == AEAD_OVERHEAD, "seal of empty message: %zd", r);
	r = aead_open(a, key, NULL, 0, sealed, sizeof(sealed), dec);
	CHECK(r == 0, "open of empty message: %zd", r);
	printf("short input: lengths 0..%d rejected with -EINVAL (%d wrong)\n",
	       AEAD_OVERHEAD - 1, bad);
}

/*
 * Count OpenSSL's allocations (installed before OpenSSL allocates
 * anything) to check the codec contract: after aead_create, seal and open
 * allocate nothing, whatever the key, success or failure.
 */
static long ossl_allocs;

static void *count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return malloc(n);
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return realloc(p, n);
}

static void count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static void test_no_alloc(struct aead *a, int counting)
{
	uint8_t key[AEAD_KEY_LEN] = { 0 }, nonce[AEAD_NONCE_LEN] = { 0 };
	uint8_t pt[3000], sealed[3000 + AEAD_OVERHEAD], dec[3000];
	long before = ossl_allocs;

	if (!counting) {
		printf("allocation count: skipped (OpenSSL allocated before "
		       "the hook could be installed)\n");
		return;
	}
	/* aead_create went through the hook, so it is live. */
	CHECK(before > 0, "allocation hook saw nothing during aead_create");
	fill(pt, sizeof(pt));
	for (int i = 0; i < 200; i++) {
		key[0] = (uint8_t)i;
		nonce[0] = (uint8_t)i;
		CHECK(aead_seal(a, key, nonce, "aad", 3, pt, sizeof(pt),
				sealed) == (ssize_t)sizeof(sealed),
		      "seal %d", i);
		CHECK(aead_open(a, key, "aad", 3, sealed, sizeof(sealed),
				dec) == (ssize_t)sizeof(pt),
		      "open %d", i);
		sealed[100] ^= 1;
		CHECK(aead_open(a, key, "aad", 3, sealed, sizeof(sealed),
				dec) == -EBADMSG,
		      "tampered open %d", i);
	}
	CHECK(ossl_allocs == before,
	      "%ld OpenSSL allocations in 600 seal/open calls, want 0",
	      ossl_allocs - before);
	printf("allocation count: %ld OpenSSL allocations in 600 seal/open "
	       "calls after aead_create\n", ossl_allocs - before);
}

static void test_raw_args(void)
{
	uint8_t key[32] = { 0 }, iv[12] = { 0 }, tag[16], out[1];
	int r;

	r = aead_gcm_raw(1, key, 20, iv, 12, NULL, 0, NULL, 0, out, tag, 16);
	CHECK(r == -EINVAL, "20-byte key: %d", r);
	r = aead_gcm_raw(1, key, 32, iv, 0, NULL, 0, NULL, 0, out, tag, 16);
	CHECK(r == -EINVAL, "empty IV: %d", r);
	r = aead_gcm_raw(1, key, 32, iv, 12, NULL, 0, NULL, 0, out, tag, 17);
	CHECK(r == -EINVAL, "17-byte tag: %d", r);
}

int main(void)
{
	struct aead *a = NULL;
	int counting;

	counting = CRYPTO_set_mem_functions(count_malloc, count_realloc,
					    count_free);
	if (aead_create(&a)) {
		printf("aead_create failed\n");
		return 1;
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(vecs); i++)
		test_vector(&vecs[i], a);
	test_round_trip(a);
	test_tamper(a);
	test_short(a);
	test_no_alloc(a, counting);
	test_raw_args();
	aead_destroy(a);
	aead_destroy(NULL);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
