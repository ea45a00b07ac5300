/*
 * hash.h - keyed XXH3-128 chunk ids and whole-file digests, and the
 * CRC-32 / Adler-32 checksums of Cassandra's Digest components.
 *
 * Both use XXH3_128bits_withSecret with a 192-byte secret that the engine
 * derives from the repository master key (HKDF label "sstvault v1 chunk-id"),
 * so the object store cannot test whether a known file is in a repository.
 * Pure computation: no allocation, no IO.
 */
#ifndef SV_CODECS_HASH_H
#define SV_CODECS_HASH_H

#include "include/sv.h"

#define HASH_SECRET_LEN 192

/* One-shot id of a chunk: out receives SV_ID_LEN bytes (canonical big-endian
 * XXH128 representation, as XXH128_canonicalFromHash writes it). */
void hash_chunk_id(const uint8_t secret[HASH_SECRET_LEN], const void *data,
		   size_t len, uint8_t out[SV_ID_LEN]);

/*
 * Streaming whole-file digest. The state is opaque but fixed size, so a
 * caller can embed it (no allocation). The secret pointer must stay valid
 * until hash_stream_final().
 */
struct hash_stream {
	_Alignas(64) unsigned char opaque[640];
};

void hash_stream_init(struct hash_stream *s,
		      const uint8_t secret[HASH_SECRET_LEN]);
void hash_stream_update(struct hash_stream *s, const void *data, size_t len);
void hash_stream_final(struct hash_stream *s, uint8_t out[SV_ID_LEN]);

/*
 * CRC-32 (IEEE, as zlib's crc32() and java.util.zip.CRC32) and Adler-32,
 * continued from crc / adler (start with 0 and 1). libdeflate's: folded
 * carry-less multiplication where the CPU has it, 2.5x zlib 1.2.13's CRC
 * and 10x its Adler-32 here. zlib's crc32_combine() combines the results.
 */
uint32_t hash_crc32(uint32_t crc, const void *data, size_t len);
uint32_t hash_adler32(uint32_t adler, const void *data, size_t len);

#endif
