/*
 * compress.c - zstd compression of chunks and metadata, with a skip rule.
 *
 * Both zstd contexts live in workspaces allocated once in compress_create()
 * and handed to zstd with ZSTD_initStaticCCtx/ZSTD_initStaticDCtx. A static
 * context can never grow, so this is what turns "nothing is allocated after
 * create" from a hope into a guarantee: a normal ZSTD_CCtx sizes its tables
 * lazily on the first call and resizes them whenever the input size class
 * changes (a 4 MiB chunk after a 200-byte manifest, say).
 *
 * The compression workspace is sized with ZSTD_estimateCCtxSize(level),
 * which zstd defines as large enough for one-shot compression of an input of
 * any size at any level up to the given one. ZSTD_compress2() compresses in
 * one shot with "stable" in/out buffers, so it needs no streaming buffers on
 * top. At the default levels this is 0.6 MiB (level 1) to 1.3 MiB (level 3)
 * per worker; level 19 costs about 81 MiB.
 *
 * The static-context functions are in zstd's ZSTD_STATIC_LINKING_ONLY
 * section. Their signatures have not changed since zstd 1.3 and the shared
 * library exports them, so using them against the system libzstd is safe in
 * practice; the Debian package pins the exact version anyway.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include <errno.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codecs/compress.h"

struct compress {
	ZSTD_CCtx *cctx;   /* lives inside cws */
	ZSTD_DCtx *dctx;   /* lives inside dws */
	void *cws, *dws;   /* workspaces, owned */
	int level;
};

int compress_create(struct compress **out, int level)
{
	struct compress *z = NULL;
	size_t csize, dsize;
	int ret = -ENOMEM;

	*out = NULL;
	if (level < 1 || level > 19)
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		goto err;
	z->level = level;
	csize = ZSTD_estimateCCtxSize(level);
	dsize = ZSTD_estimateDCtxSize();
	if (ZSTD_isError(csize) || ZSTD_isError(dsize)) {
		ret = -EINVAL;
		goto err;
	}
	/* malloc's alignment (16) satisfies zstd's 8-byte requirement. */
	z->cws = malloc(csize);
	z->dws = malloc(dsize);
	if (!z->cws || !z->dws)
		goto err;
	z->cctx = ZSTD_initStaticCCtx(z->cws, csize);
	z->dctx = ZSTD_initStaticDCtx(z->dws, dsize);
	if (!z->cctx || !z->dctx)
		goto err;
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx,
						ZSTD_c_compressionLevel,
						level))) {
		ret = -EINVAL;
		goto err;
	}
	/*
	 * The frame header records the content size, so a frame announcing a
	 * different size than the caller expects is rejected before any
	 * output is written. This is the default, but the check in
	 * compress_undo() relies on it, so say it explicitly.
	 */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->cctx,
						ZSTD_c_contentSizeFlag, 1))) {
		ret = -EINVAL;
		goto err;
	}
	*out = z;
	return 0;
err:
	compress_destroy(z);
	return ret;
}

void compress_destroy(struct compress *z)
{
	if (!z)
		return;
	/* Static contexts own nothing beyond their workspace. */
	free(z->cws);
	free(z->dws);
	free(z);
}

size_t compress_bound(size_t len)
{
	return ZSTD_compressBound(len);
}

/* Translate a zstd error once, at the boundary (STYLE.md 9). */
static ssize_t compress_err(size_t r, ssize_t other)
{
	/* Not a switch: -Wswitch-enum would demand all of zstd's codes. */
	ZSTD_ErrorCode code = ZSTD_getErrorCode(r);

	if (code == ZSTD_error_dstSize_tooSmall)
		return -ENOSPC;
	if (code == ZSTD_error_memory_allocation)
		return -ENOMEM;
	return other;
}

ssize_t compress_data(struct compress *z, void *dst, size_t cap,
		      const void *src, size_t len)
{
	size_t r;

	r = ZSTD_compress2(z->cctx, dst, cap, src, len);
	if (ZSTD_isError(r))
		return compress_err(r, -EIO);
	return (ssize_t)r;
}

ssize_t compress_undo(struct compress *z, void *dst, size_t cap,
		      const void *src, size_t len, size_t raw_len)
{
	size_t r;

	if (cap < raw_len)
		return -ENOSPC;
	/*
	 * zstd reads zero bytes as zero frames decoding to nothing, but
	 * compress_data() never emits less than a frame header, so an empty
	 * blob is damage, whatever raw_len says.
	 */
	if (len == 0)
		return -EBADMSG;
	/*
	 * Give zstd exactly raw_len bytes of room: a frame that would decode
	 * to more is then stopped by zstd itself (dstSize_tooSmall, which here
	 * means a bad frame, not a small buffer), and one that decodes to
	 * less is caught by the length check below.
	 */
	r = ZSTD_decompressDCtx(z->dctx, dst, raw_len, src, len);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		return -EBADMSG;
	}
	if (r != raw_len)
		return -EBADMSG;
	return (ssize_t)r;
}

ssize_t compress_chunk(struct compress *z, void *dst, size_t cap,
		       const void *src, size_t len, unsigned min_gain_div,
		       enum sv_codec *codec)
{
	size_t limit = len - (min_gain_div ? len / min_gain_div : 0);
	ssize_t r = -ENOSPC;

	/*
	 * Keep the zstd frame only if it is shorter than limit. Capping the
	 * output room at limit - 1 makes zstd itself give up (dstSize_tooSmall)
	 * as soon as the frame outgrows the limit, and lets dst be as small as
	 * len instead of compress_bound(len). For incompressible data that is
	 * near the end of the input, so the attempt still costs about one
	 * full compression; the point is correctness, not speed.
	 */
	if (limit > 0) {
		r = compress_data(z, dst, SV_MIN(cap, limit - 1), src, len);
		if (r >= 0) {
			*codec = SV_CODEC_ZSTD;
			return r;
		}
		if (r != -ENOSPC)
			return r;
	}
	if (cap < len)
		return -ENOSPC;
	if (len)
		memcpy(dst, src, len);
	*codec = SV_CODEC_NONE;
	return (ssize_t)len;
}

unsigned long long compress_frame_size(const void *src, size_t len)
{
	unsigned long long n = ZSTD_getFrameContentSize(src, len);

	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
		return 0;
	return n;
}
