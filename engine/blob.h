/*
 * blob.h - sealing and opening chunks ("blobs") for packs.
 *
 * A blob is nonce(12) || AES-256-GCM(ciphertext) || tag(16) of the chunk,
 * zstd-compressed when that pays. The key is per chunk:
 *   K_chunk = HMAC-SHA256(K_data, id || le32(raw_len))
 * and the AAD binds the blob to its repository, id, length, codec and
 * format version, so a blob cannot be swapped for another (FORMAT.md).
 *
 * A struct blobctx belongs to one thread (a pipeline worker); it owns one
 * zstd context, one cipher context and one scratch buffer of max chunk size,
 * all allocated in blobctx_create: nothing is allocated per chunk.
 */
#ifndef SV_ENGINE_BLOB_H
#define SV_ENGINE_BLOB_H

#include <sys/types.h>
#include "include/sv.h"
#include "codecs/compress.h"
#include "engine/repo.h"

struct blobctx;

/* Return: 0 or -ENOMEM. max_chunk bounds raw chunk sizes. */
int blobctx_create(struct blobctx **out, const struct repo *r, int level,
		   size_t max_chunk) SV_MUST_CHECK;
void blobctx_destroy(struct blobctx *b);

/* Worst-case sealed size of a raw chunk of len bytes. */
size_t blob_bound(size_t len);

/*
 * Compress (if it pays) and encrypt a chunk whose id is already computed.
 * out must hold blob_bound(len) bytes. *codec receives the codec used.
 * Return: sealed length, or -errno.
 */
ssize_t blob_seal(struct blobctx *b, const uint8_t id[SV_ID_LEN],
		  const void *raw, size_t len, void *out,
		  enum sv_codec *codec) SV_MUST_CHECK;

/*
 * Decrypt, decompress and verify a blob: the result must be raw_len bytes
 * whose keyed XXH3-128 equals id. out must hold raw_len bytes.
 * Return: raw_len, or -EBADMSG (authentication failed, bad compressed data,
 * or id mismatch), -EINVAL.
 */
ssize_t blob_open(struct blobctx *b, const uint8_t id[SV_ID_LEN],
		  uint32_t raw_len, enum sv_codec codec, const void *sealed,
		  size_t len, void *out) SV_MUST_CHECK;

#endif
