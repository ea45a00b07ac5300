/*
 * sv.h - definitions shared by every module of sstvault.
 *
 * This header is deliberately tiny: compiler attributes, the chunk id
 * length and little-endian load/store helpers used by every on-disk format.
 * It includes nothing but the C library, so codecs/ may use it without
 * breaking the layering rule (no syscalls, no threads, no IO headers).
 */
#ifndef SV_H
#define SV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SV_MUST_CHECK __attribute__((warn_unused_result))
#define SV_UNUSED __attribute__((unused))
#define SV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SV_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Chunk ids and file digests are XXH3-128: 16 bytes. */
#define SV_ID_LEN 16
/* Object ids (packs, index objects, snapshots, key slots) are 32 random bytes. */
#define SV_OID_LEN 32
/* Repository format version written by this build. */
#define SV_FORMAT_VERSION 1

static inline void sv_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void sv_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void sv_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t sv_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t sv_get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t sv_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
static inline void sv_hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Parse exactly 2n hex digits; returns 0 or -EINVAL. */
static inline int sv_unhex(uint8_t *out, const char *s, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++) {
		int c = s[i], v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -22; /* EINVAL, without pulling in errno.h */
		if (i & 1)
			out[i / 2] |= (uint8_t)v;
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	return s[2 * n] == '\0' ? 0 : -22;
}

#endif /* SV_H */
