/*
 * fuzz_blob.c - opening blobs (FORMAT.md 5): decrypt, decompress, verify.
 *
 * Input: one mode byte, then le32 raw_len || codec byte || rest.
 *   even mode: rest = id(16) || sealed blob -> blob_open() on the bytes as
 *              they are (the tag cannot be forged: only genuine blobs
 *              open, and then to content that hashes to id);
 *   odd mode:  rest = body. The body is encrypted under the chunk key and
 *              AAD of (id, raw_len, codec), as a writer holding the key
 *              could, so blob_open() reaches zstd with hostile frames and
 *              the id check. The id is the keyed hash of what an
 *              independent decoder (plain ZSTD_decompress, or the body
 *              itself for codec 0) makes of the body, so bodies that
 *              decode to exactly raw_len bytes must open (for zstd: when
 *              the body is a standard frame and raw_len > 0), and nothing
 *              else may.
 * raw_len is reduced modulo the context's maximum chunk size (64 KiB).
 */
#include <errno.h>
#include <string.h>
#include <zstd.h>

#include "codecs/aead.h"
#include "codecs/hash.h"
#include "codecs/kdf.h"
#include "engine/blob.h"
#include "tests/fuzz/fuzz.h"

#define MAX_CHUNK (64u << 10)

static struct blobctx *ctx(void)
{
	static struct blobctx *b;

	if (!b && blobctx_create(&b, fuzz_repo(), 1, MAX_CHUNK))
		abort();
	return b;
}

static size_t seal_body(const struct repo *r, const uint8_t *id,
			uint32_t raw_len, uint8_t codec, const uint8_t *body,
			size_t len, uint8_t *out)
{
	uint8_t msg[SV_ID_LEN + 4], key[32], nonce[AEAD_NONCE_LEN] = { 0 };
	uint8_t aad[REPO_ID_LEN + SV_ID_LEN + 6];
	static struct aead *a;
	ssize_t n;

	if (!a && aead_create(&a))
		abort();
	memcpy(msg, id, SV_ID_LEN);
	sv_put_le32(msg + SV_ID_LEN, raw_len);
	if (kdf_hmac_sha256(r->k_data, 32, msg, sizeof(msg), key))
		abort();
	memcpy(aad, r->id, REPO_ID_LEN);
	memcpy(aad + REPO_ID_LEN, id, SV_ID_LEN);
	sv_put_le32(aad + REPO_ID_LEN + SV_ID_LEN, raw_len);
	aad[REPO_ID_LEN + SV_ID_LEN + 4] = codec;
	aad[REPO_ID_LEN + SV_ID_LEN + 5] = SV_FORMAT_VERSION;
	n = aead_seal(a, key, nonce, aad, sizeof(aad), body, len, out);
	if (n < 0)
		abort();
	return (size_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[MAX_CHUNK + 1], ref[MAX_CHUNK + 1];
	struct repo *r = fuzz_repo();
	struct blobctx *b = ctx();
	uint32_t raw_len;
	uint8_t codec;
	ssize_t n;

	if (size < 6)
		return 0;
	raw_len = sv_get_le32(data + 1) % (MAX_CHUNK + 1);
	codec = data[5];
	data += 6;
	size -= 6;
	if (!(data[-6] & 1)) {
		if (size < SV_ID_LEN)
			return 0;
		n = blob_open(b, data, raw_len, (enum sv_codec)codec,
			      data + SV_ID_LEN, size - SV_ID_LEN, out);
		/* Only a genuine blob (a seed) opens, to its id. */
		if (n >= 0) {
			uint8_t got[SV_ID_LEN];

			FUZZ_ASSERT(n == (ssize_t)raw_len);
			hash_chunk_id(r->id_secret, out, raw_len, got);
			FUZZ_ASSERT(!memcmp(got, data, SV_ID_LEN));
		} else {
			FUZZ_ASSERT(n == -EBADMSG || n == -EINVAL);
		}
	} else {
		uint8_t id[SV_ID_LEN], *sealed;
		size_t ref_len = 0, sl;
		int decodable, maybe = 0;

		codec &= 1;
		if (size > 2 * MAX_CHUNK)
			return 0;
		if (codec == 0) {
			decodable = size == raw_len;
			memcpy(ref, data, SV_MIN(size, sizeof(ref)));
			ref_len = SV_MIN(size, sizeof(ref));
		} else {
			size_t got = ZSTD_decompress(ref, sizeof(ref), data,
						     size);

			ref_len = ZSTD_isError(got) ? 0 : got;
			/* An empty body is refused by design
			 * (compress_undo: no frame at all is damage). */
			decodable = !ZSTD_isError(got) && got == raw_len &&
				    size > 0;
			/* A writer never stores more than the bound of
			 * the largest chunk: longer blobs are refused. */
			if (size > ZSTD_compressBound(MAX_CHUNK))
				decodable = 0;
			/* Nor anything but exactly one standard frame of a
			 * non-empty chunk: libzstd also decodes legacy (v0.x),
			 * skippable and concatenated frames, which blob_open
			 * may refuse (it gives zstd exactly raw_len bytes of
			 * room, and the legacy decoders want more). */
			if (size < 4 || sv_get_le32(data) != ZSTD_MAGICNUMBER ||
			    ZSTD_findFrameCompressedSize(data, size) != size ||
			    raw_len == 0)
				maybe = 1;
		}
		hash_chunk_id(r->id_secret, ref, ref_len, id);
		sealed = malloc(size + AEAD_OVERHEAD);
		if (!sealed)
			abort();
		sl = seal_body(r, id, raw_len, codec, data, size, sealed);
		n = blob_open(b, id, raw_len, (enum sv_codec)codec, sealed, sl,
			      out);
		if (n >= 0) {
			FUZZ_ASSERT(decodable);
			FUZZ_ASSERT(n == (ssize_t)raw_len);
			FUZZ_ASSERT(!memcmp(out, ref, raw_len));
		} else {
			FUZZ_ASSERT(n == -EBADMSG || n == -EINVAL);
			FUZZ_ASSERT(!decodable || maybe);
		}
		free(sealed);
	}
	return 0;
}
