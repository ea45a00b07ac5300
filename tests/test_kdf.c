/*
 * test_kdf.c - HKDF-SHA256 (RFC 5869 appendix A, cases 1-3), HMAC-SHA256
 * (RFC 4231 section 4, cases 1-4) and scrypt (RFC 7914 section 12).
 *
 * The last scrypt vector (N = 2^20, r = 8) needs 1 GiB and a few seconds,
 * so it runs only when SV_SLOW_TESTS is set in the environment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/kdf.h"

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

/* Decode hex into a fresh buffer (at least 1 byte, never NULL). */
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

/* Bytes a, a+1, ..., b as hex, for RFC 5869's counting inputs. */
static char *seq_hex(unsigned a, unsigned b)
{
	char *s = malloc(2 * (b - a + 1) + 1);

	for (unsigned i = a; i <= b; i++) {
		uint8_t byte = (uint8_t)i;

		sv_hex(s + 2 * (i - a), &byte, 1);
	}
	return s;
}

static int expect(const char *name, const uint8_t *got, const char *want_hex)
{
	size_t n;
	uint8_t *want = unhex(want_hex, &n);
	int ok = memcmp(got, want, n) == 0;

	if (!ok) {
		char *g = malloc(2 * n + 1);

		sv_hex(g, got, n);
		printf("%s:\n  want %s\n  got  %s\n", name, want_hex, g);
		free(g);
	}
	free(want);
	CHECK(ok, "%s: output differs from the published value", name);
	printf("%-24s %s\n", name, ok ? "ok" : "MISMATCH");
	return ok;
}

struct hkdf_vec {
	const char *name;
	const char *ikm, *salt, *info, *okm;
};

static void test_hkdf(void)
{
	char *ikm2 = seq_hex(0x00, 0x4f), *salt2 = seq_hex(0x60, 0xaf);
	char *info2 = seq_hex(0xb0, 0xff);
	const char *ikm1 = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";
	const struct hkdf_vec vecs[] = {
		{ "RFC 5869 A.1", ikm1, "000102030405060708090a0b0c",
		  "f0f1f2f3f4f5f6f7f8f9",
		  "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		  "34007208d5b887185865" },
		{ "RFC 5869 A.2", ikm2, salt2, info2,
		  "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		  "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		  "cc30c58179ec3e87c14c01d5c1f3434f1d87" },
		{ "RFC 5869 A.3", ikm1, "", "",
		  "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
		  "9d201395faa4b61a96c8" },
	};
	uint8_t big[255 * 32 + 1];
	int r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(vecs); i++) {
		size_t il, sl, nl, ol;
		uint8_t *ikm = unhex(vecs[i].ikm, &il);
		uint8_t *salt = unhex(vecs[i].salt, &sl);
		uint8_t *info = unhex(vecs[i].info, &nl);
		uint8_t *okm = unhex(vecs[i].okm, &ol), out[128];

		memset(out, 0, sizeof(out));
		r = kdf_hkdf(salt, sl, ikm, il, info, nl, out, ol);
		CHECK(r == 0, "%s: kdf_hkdf returned %d", vecs[i].name, r);
		expect(vecs[i].name, out, vecs[i].okm);
		/* A shorter output is a prefix of the longer one. */
		r = kdf_hkdf(salt, sl, ikm, il, info, nl, out, 16);
		CHECK(r == 0 && memcmp(out, okm, 16) == 0,
		      "%s: 16-byte output is not a prefix", vecs[i].name);
		free(ikm);
		free(salt);
		free(info);
		free(okm);
	}
	r = kdf_hkdf(NULL, 0, (const uint8_t *)"k", 1, NULL, 0, big, 255 * 32);
	CHECK(r == 0, "HKDF of the maximum 8160 bytes: %d", r);
	r = kdf_hkdf(NULL, 0, (const uint8_t *)"k", 1, NULL, 0, big,
		     255 * 32 + 1);
	CHECK(r == -EINVAL, "HKDF of 8161 bytes: %d, want -EINVAL", r);
	r = kdf_hkdf(NULL, 0, (const uint8_t *)"k", 1, NULL, 0, big, 0);
	CHECK(r == -EINVAL, "HKDF of 0 bytes: %d, want -EINVAL", r);
	free(ikm2);
	free(salt2);
	free(info2);
}

struct hmac_vec {
	const char *name;
	const char *key, *data, *mac;
};

static void test_hmac(void)
{
	static const struct hmac_vec vecs[] = {
		{ "RFC 4231 case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		  "4869205468657265", /* "Hi There" */
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "RFC 4231 case 2", "4a656665", /* "Jefe" */
		  /* "what do ya want for nothing?" */
		  "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ "RFC 4231 case 3", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		  "dddddddddddddddddddddddddddddddddddd",
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
		{ "RFC 4231 case 4",
		  "0102030405060708090a0b0c0d0e0f10111213141516171819",
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	};
	uint8_t out[32], out2[32];
	int r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(vecs); i++) {
		size_t kl, dl;
		uint8_t *key = unhex(vecs[i].key, &kl);
		uint8_t *data = unhex(vecs[i].data, &dl);

		memset(out, 0, sizeof(out));
		r = kdf_hmac_sha256(key, kl, data, dl, out);
		CHECK(r == 0, "%s: kdf_hmac_sha256 returned %d", vecs[i].name,
		      r);
		expect(vecs[i].name, out, vecs[i].mac);
		free(key);
		free(data);
	}
	/* Empty key and message are legal and must not be confused. */
	r = kdf_hmac_sha256(NULL, 0, NULL, 0, out);
	CHECK(r == 0, "HMAC with empty key and message: %d", r);
	/* Published elsewhere (e.g. Wikipedia's HMAC page) for HMAC_SHA256("", ""). */
	expect("HMAC(\"\", \"\")", out,
	       "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	r = kdf_hmac_sha256((const uint8_t *)"key", 3, "msg", 3, out);
	CHECK(r == 0, "HMAC: %d", r);
	r = kdf_hmac_sha256((const uint8_t *)"kez", 3, "msg", 3, out2);
	CHECK(r == 0 && memcmp(out, out2, 32) != 0,
	      "a different key gives a different MAC");
}

struct scrypt_vec {
	const char *name;
	const char *pass, *salt;
	uint64_t n;
	uint32_t r, p;
	int slow;
	const char *dk;
};

static void test_scrypt(void)
{
	static const struct scrypt_vec vecs[] = {
		{ "RFC 7914 N=16", "", "", 16, 1, 1, 0,
		  "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
		  "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906" },
		{ "RFC 7914 N=1024", "password", "NaCl", 1024, 8, 16, 0,
		  "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
		  "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640" },
		{ "RFC 7914 N=16384", "pleaseletmein", "SodiumChloride", 16384,
		  8, 1, 0,
		  "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
		  "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887" },
		{ "RFC 7914 N=1048576", "pleaseletmein", "SodiumChloride",
		  1048576, 8, 1, 1,
		  "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47"
		  "8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4" },
	};
	const int slow = getenv("SV_SLOW_TESTS") != NULL;
	uint8_t out[64];
	int r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(vecs); i++) {
		const struct scrypt_vec *v = &vecs[i];

		if (v->slow && !slow) {
			printf("%-24s skipped (1 GiB; set SV_SLOW_TESTS=1)\n",
			       v->name);
			continue;
		}
		memset(out, 0, sizeof(out));
		r = kdf_scrypt(v->pass, strlen(v->pass),
			       (const uint8_t *)v->salt, strlen(v->salt), v->n,
			       v->r, v->p, out, sizeof(out));
		CHECK(r == 0, "%s: kdf_scrypt returned %d", v->name, r);
		expect(v->name, out, v->dk);
	}
	r = kdf_scrypt("p", 1, (const uint8_t *)"s", 1, 1000, 8, 1, out, 32);
	CHECK(r == -EINVAL, "N=1000 (not a power of two): %d", r);
	r = kdf_scrypt("p", 1, (const uint8_t *)"s", 1, 1, 8, 1, out, 32);
	CHECK(r == -EINVAL, "N=1: %d", r);
	r = kdf_scrypt("p", 1, (const uint8_t *)"s", 1, UINT64_C(1) << 21, 8,
		       1, out, 32);
	CHECK(r == -EINVAL, "N=2^21, r=8 (2 GiB, over the limit): %d", r);
	r = kdf_scrypt("p", 1, (const uint8_t *)"s", 1, 16, 0, 1, out, 32);
	CHECK(r == -EINVAL, "r=0: %d", r);
}

int main(void)
{
	test_hkdf();
	test_hmac();
	test_scrypt();
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
