/*
 * hash.c - keyed XXH3-128 chunk ids and streaming whole-file digests.
 *
 * A thin wrapper over libxxhash. The one-shot and update paths go through
 * libxxhash's x86 dispatcher where the header is available: it picks the
 * AVX-512, AVX2 or SSE2 kernel at run time, which is several times faster
 * than the baseline SSE2 build of the plain entry points on CPUs that have
 * the wide units. The result is bit-identical by construction (the
 * dispatcher only selects among implementations of the same function), and
 * tests/test_hash.c checks it against the plain entry points.
 */
#define XXH_STATIC_LINKING_ONLY
#include <libdeflate.h>
#include <xxhash.h>

#include "codecs/hash.h"

#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#define HASH_ONESHOT XXH3_128bits_withSecret_dispatch
#define HASH_UPDATE XXH3_128bits_update_dispatch
#endif
#endif

#ifndef HASH_ONESHOT
#define HASH_ONESHOT XXH3_128bits_withSecret
#define HASH_UPDATE XXH3_128bits_update
#endif

/*
 * struct hash_stream reserves a fixed opaque area so that callers can embed
 * it without allocating. If a future libxxhash grows XXH3_state_t beyond it,
 * the build must fail here rather than corrupt memory at run time.
 */
_Static_assert(sizeof(XXH3_state_t) <=
		       sizeof(((struct hash_stream *)0)->opaque),
	       "XXH3_state_t does not fit in struct hash_stream");
_Static_assert(_Alignof(XXH3_state_t) <= _Alignof(struct hash_stream),
	       "struct hash_stream is not aligned enough for XXH3_state_t");
_Static_assert(HASH_SECRET_LEN >= XXH3_SECRET_SIZE_MIN,
	       "HASH_SECRET_LEN is below XXH3_SECRET_SIZE_MIN");
_Static_assert(sizeof(XXH128_canonical_t) == SV_ID_LEN,
	       "XXH128 canonical form is not SV_ID_LEN bytes");

static XXH3_state_t *hash_state(struct hash_stream *s)
{
	return (XXH3_state_t *)(void *)s->opaque;
}

static void hash_store(XXH128_hash_t h, uint8_t out[SV_ID_LEN])
{
	XXH128_canonical_t c;

	/* Big-endian: high64 first, as XXH128_canonicalFromHash defines it. */
	XXH128_canonicalFromHash(&c, h);
	memcpy(out, c.digest, SV_ID_LEN);
}

void hash_chunk_id(const uint8_t secret[HASH_SECRET_LEN], const void *data,
		   size_t len, uint8_t out[SV_ID_LEN])
{
	hash_store(HASH_ONESHOT(data, len, secret, HASH_SECRET_LEN), out);
}

void hash_stream_init(struct hash_stream *s,
		      const uint8_t secret[HASH_SECRET_LEN])
{
	/*
	 * XXH3_128bits_reset_withSecret keeps a pointer to the secret rather
	 * than a copy; hash.h documents that it must outlive the stream. It
	 * only fails for a NULL state or a short secret, neither of which
	 * can happen here.
	 */
	(void)XXH3_128bits_reset_withSecret(hash_state(s), secret,
					    HASH_SECRET_LEN);
}

void hash_stream_update(struct hash_stream *s, const void *data, size_t len)
{
	/* Fails only for (NULL, len > 0) input, a caller bug. */
	(void)HASH_UPDATE(hash_state(s), data, len);
}

void hash_stream_final(struct hash_stream *s, uint8_t out[SV_ID_LEN])
{
	hash_store(XXH3_128bits_digest(hash_state(s)), out);
}

uint32_t hash_crc32(uint32_t crc, const void *data, size_t len)
{
	return libdeflate_crc32(crc, data, len);
}

uint32_t hash_adler32(uint32_t adler, const void *data, size_t len)
{
	return libdeflate_adler32(adler, data, len);
}
