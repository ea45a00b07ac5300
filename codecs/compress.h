/*
 * compress.h - zstd compression of chunks and metadata, with a skip rule.
 *
 * One struct compress per worker thread holds a ZSTD_CCtx and a ZSTD_DCtx
 * created once (zstd.h: "allocate a context just once, and reuse it").
 * Pure computation: after compress_create() nothing is allocated.
 */
#ifndef SV_CODECS_COMPRESS_H
#define SV_CODECS_COMPRESS_H

#include <sys/types.h>
#include "include/sv.h"

/* Codec byte recorded with every blob (see docs/FORMAT.md). */
enum sv_codec {
	SV_CODEC_NONE = 0,
	SV_CODEC_ZSTD = 1,
};

struct compress;

/*
 * Create a context at zstd level (1..19). All memory is allocated here
 * (ZSTD_estimateCCtxSize(level): ~0.6 MiB at level 1, ~1.3 MiB at 3, ~81 MiB
 * at 19); no later call allocates.
 * Return: 0 or -ENOMEM/-EINVAL.
 */
int compress_create(struct compress **out, int level) SV_MUST_CHECK;
/* Free a context; NULL is accepted. */
void compress_destroy(struct compress *z);

/* Worst-case compressed size of len input bytes (ZSTD_compressBound). */
size_t compress_bound(size_t len);

/*
 * Compress src into dst (cap bytes, at least compress_bound(len)).
 * Return: compressed length, or -ENOSPC (dst too small), -ENOMEM, -EIO.
 */
ssize_t compress_data(struct compress *z, void *dst, size_t cap,
		      const void *src, size_t len) SV_MUST_CHECK;

/*
 * Decompress exactly raw_len bytes from src into dst (cap >= raw_len).
 * Return: raw_len, or -EBADMSG (corrupt input or wrong length), -ENOSPC.
 */
ssize_t compress_undo(struct compress *z, void *dst, size_t cap,
		      const void *src, size_t len, size_t raw_len) SV_MUST_CHECK;

/*
 * The per-chunk skip rule: compress, and keep the result only if it saves at
 * least 1/min_gain_div of the input (default 32, i.e. ~3%). Otherwise copy the
 * raw bytes so decompression costs nothing on restore.
 * Writes the chosen representation into dst and the codec into *codec.
 * min_gain_div 0 keeps any output shorter than len. dst needs only len
 * bytes (cap >= len), not compress_bound(len): output that would not fit
 * under the threshold is abandoned early.
 * Return: stored length, or -errno as compress_data().
 */
ssize_t compress_chunk(struct compress *z, void *dst, size_t cap,
		       const void *src, size_t len, unsigned min_gain_div,
		       enum sv_codec *codec) SV_MUST_CHECK;

/*
 * Decompressed size recorded in a zstd frame header (ZSTD_getFrameContentSize).
 * Return: the size, or 0 if the frame is invalid or does not record it.
 */
unsigned long long compress_frame_size(const void *src, size_t len);

#endif
