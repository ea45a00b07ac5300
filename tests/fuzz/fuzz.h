/*
 * fuzz.h - shared by the fuzz targets in tests/fuzz/ (STYLE.md 21).
 *
 * Every target defines LLVMFuzzerTestOneInput(). scripts/fuzz.sh links
 * each with libFuzzer (clang -fsanitize=fuzzer,address,undefined);
 * tests/t_fuzz_regress.sh links each with tests/fuzz/driver.c instead, so
 * `make test` replays the stored corpus with the normal compiler.
 *
 * Sealed inputs need a key: every target uses the same fixed test
 * repository (id and master key below, in-memory store), so corpus files
 * written by gen_corpus.c stay valid across runs and machines.
 */
#ifndef SV_TESTS_FUZZ_H
#define SV_TESTS_FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/aead.h"
#include "engine/repo.h"
#include "engine/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The pack oid every pack-header input is checked against. */
static const uint8_t fuzz_oid[SV_OID_LEN] = {
	0xf0, 0x0d, 0xca, 0xfe, 0x01, 0x02, 0x03, 0x04,
	0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
	0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
	0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
};

/* The fixed test repository, created on first use and kept for the
 * process (a fuzzer runs millions of inputs; leak checkers see it as
 * still reachable). Its store is emptied by the targets that use it. */
static inline struct repo *fuzz_repo(void)
{
	static struct repo *r;

	if (!r) {
		uint8_t id[REPO_ID_LEN], master[32];

		for (int i = 0; i < REPO_ID_LEN; i++)
			id[i] = (uint8_t)(0x70 + i);
		for (int i = 0; i < 32; i++)
			master[i] = (uint8_t)(0x90 + i);
		if (repo_open_mem(&r, id, master, NULL)) {
			fprintf(stderr, "fuzz: cannot create the test repo\n");
			abort();
		}
		util_verbosity = -1;
	}
	return r;
}

/*
 * Seal body under an arbitrary 8-byte header with the test repository's
 * K_meta, as a writer holding the key could (and without compressing, so
 * no zstd context is created per input). Returns a malloc'ed object of
 * *out_len bytes; aborts on failure.
 */
static inline uint8_t *fuzz_seal_raw(const struct repo *r,
				     const uint8_t hdr[SEAL_HDR_LEN],
				     const uint8_t *body, size_t len,
				     size_t *out_len)
{
	static struct aead *a;
	uint8_t aad[SEAL_HDR_LEN + REPO_ID_LEN];
	uint8_t nonce[AEAD_NONCE_LEN] = { 0 };
	uint8_t *obj = malloc(SEAL_HDR_LEN + len + AEAD_OVERHEAD);

	if (!obj || (!a && aead_create(&a)))
		abort();
	memcpy(obj, hdr, SEAL_HDR_LEN);
	memcpy(aad, hdr, SEAL_HDR_LEN);
	memcpy(aad + SEAL_HDR_LEN, r->id, REPO_ID_LEN);
	if (aead_seal(a, r->k_meta, nonce, aad, sizeof(aad), body, len,
		      obj + SEAL_HDR_LEN) < 0)
		abort();
	*out_len = SEAL_HDR_LEN + len + AEAD_OVERHEAD;
	return obj;
}

/* A property every input must keep: a violation is a finding, so crash
 * loudly and let the fuzzer save the input. */
#define FUZZ_ASSERT(cond)                                                   \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: property violated: %s\n",   \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

#endif
