/*
 * blob.c - see blob.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/aead.h"
#include "codecs/hash.h"
#include "codecs/kdf.h"
#include "engine/blob.h"
#include "engine/util.h"

#define BLOB_AAD_LEN (REPO_ID_LEN + SV_ID_LEN + 4 + 1 + 1)

struct blobctx {
	const struct repo *repo;    /* borrowed; outlives the context */
	struct compress *z;
	struct aead *a;
	uint8_t *scratch;           /* compress output / decrypt output */
	size_t scratch_cap;
	size_t max_chunk;
	int level;
};

size_t blob_bound(size_t len)
{
	return compress_bound(len) + AEAD_OVERHEAD;
}

int blobctx_create(struct blobctx **out, const struct repo *r, int level,
		   size_t max_chunk)
{
	struct blobctx *b = calloc(1, sizeof(*b));
	int ret;

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->repo = r;
	b->level = level;
	b->max_chunk = max_chunk;
	b->scratch_cap = compress_bound(max_chunk);
	b->scratch = malloc(b->scratch_cap);
	ret = b->scratch ? 0 : -ENOMEM;
	if (!ret)
		ret = compress_create(&b->z, level);
	if (!ret)
		ret = aead_create(&b->a);
	if (ret) {
		blobctx_destroy(b);
		return ret;
	}
	*out = b;
	return 0;
}

void blobctx_destroy(struct blobctx *b)
{
	if (!b)
		return;
	compress_destroy(b->z);
	aead_destroy(b->a);
	free(b->scratch);
	free(b);
}

static int chunk_key(const struct repo *r, const uint8_t id[SV_ID_LEN],
		     uint32_t raw_len, uint8_t key[32])
{
	uint8_t msg[SV_ID_LEN + 4];

	memcpy(msg, id, SV_ID_LEN);
	sv_put_le32(msg + SV_ID_LEN, raw_len);
	return kdf_hmac_sha256(r->k_data, sizeof(r->k_data), msg, sizeof(msg),
			       key);
}

static void chunk_aad(const struct repo *r, const uint8_t id[SV_ID_LEN],
		      uint32_t raw_len, enum sv_codec codec, uint8_t *aad)
{
	memcpy(aad, r->id, REPO_ID_LEN);
	memcpy(aad + REPO_ID_LEN, id, SV_ID_LEN);
	sv_put_le32(aad + REPO_ID_LEN + SV_ID_LEN, raw_len);
	aad[REPO_ID_LEN + SV_ID_LEN + 4] = (uint8_t)codec;
	aad[REPO_ID_LEN + SV_ID_LEN + 5] = SV_FORMAT_VERSION;
}

ssize_t blob_seal(struct blobctx *b, const uint8_t id[SV_ID_LEN],
		  const void *raw, size_t len, void *out,
		  enum sv_codec *codec)
{
	uint8_t key[32], nonce[AEAD_NONCE_LEN], aad[BLOB_AAD_LEN];
	ssize_t n;
	int ret;

	if (len > b->max_chunk || len > UINT32_MAX)
		return -EINVAL;
	n = compress_chunk(b->z, b->scratch, b->scratch_cap, raw, len, 32,
			   codec);
	if (n < 0)
		return n;
	ret = chunk_key(b->repo, id, (uint32_t)len, key);
	if (!ret)
		ret = util_random(nonce, sizeof(nonce));
	if (ret)
		goto out;
	chunk_aad(b->repo, id, (uint32_t)len, *codec, aad);
	n = aead_seal(b->a, key, nonce, aad, sizeof(aad), b->scratch,
		      (size_t)n, out);
	ret = n < 0 ? (int)n : 0;
out:
	util_wipe(key, sizeof(key));
	return ret ? ret : n;
}

ssize_t blob_open(struct blobctx *b, const uint8_t id[SV_ID_LEN],
		  uint32_t raw_len, enum sv_codec codec, const void *sealed,
		  size_t len, void *out)
{
	uint8_t key[32], aad[BLOB_AAD_LEN], got[SV_ID_LEN];
	uint8_t *plain;
	ssize_t n;
	int ret;

	if (raw_len > b->max_chunk || len < AEAD_OVERHEAD ||
	    len - AEAD_OVERHEAD > b->scratch_cap ||
	    (codec != SV_CODEC_NONE && codec != SV_CODEC_ZSTD))
		return -EINVAL;
	ret = chunk_key(b->repo, id, raw_len, key);
	if (ret)
		return ret;
	chunk_aad(b->repo, id, raw_len, codec, aad);
	/* Uncompressed blobs decrypt straight into out; compressed ones go
	 * through the scratch buffer first. */
	plain = codec == SV_CODEC_NONE ? out : b->scratch;
	if (codec == SV_CODEC_NONE && len - AEAD_OVERHEAD != raw_len) {
		ret = -EBADMSG;
		goto out;
	}
	n = aead_open(b->a, key, aad, sizeof(aad), sealed, len, plain);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if (codec == SV_CODEC_ZSTD) {
		n = compress_undo(b->z, out, raw_len, b->scratch, (size_t)n,
				  raw_len);
		if (n < 0) {
			ret = -EBADMSG;
			goto out;
		}
	}
	hash_chunk_id(b->repo->id_secret, out, raw_len, got);
	if (memcmp(got, id, SV_ID_LEN))
		ret = -EBADMSG;
out:
	util_wipe(key, sizeof(key));
	return ret ? ret : (ssize_t)raw_len;
}
