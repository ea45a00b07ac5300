/*
 * cdc.c - FastCDC content-defined chunking with normalized chunking level 2.
 *
 * The rolling hash is Gear: h = (h << 1) + gear[byte]. Because each step
 * shifts the previous state left by one, bit j of h depends only on the last
 * j + 1 bytes, so the hash "rolls" without ever subtracting the byte that
 * leaves the window. A boundary is declared after byte i when the masked
 * bits of h are all zero.
 *
 * Normalized chunking (Xia et al., FastCDC, USENIX ATC 2016, section 3.4):
 * from min to avg the mask has log2(avg) + 2 bits (a cut is 4x less likely
 * than at the nominal rate), from avg to max it has log2(avg) - 2 bits (4x
 * more likely). This squeezes the chunk size distribution towards avg, which
 * both improves dedup (fewer tiny and huge chunks) and bounds the index.
 *
 * The mask bits are the high bits of the hash, bits 63-k .. 62. High bits
 * are used because they depend on the longest window of input (up to 63
 * bytes), so a boundary is a function of ~63 bytes of content rather than of
 * a handful. Bit 63 is left out on purpose: it keeps the door open for the
 * two-bytes-per-step variant of FastCDC2020 (which tests h << 1 against
 * mask << 1 and so cannot see bit 63) without changing any boundary.
 *
 * No boundary can fall in the first min bytes, so the scan starts at min
 * with h = 0 (the original algorithm does the same). The hash state at any
 * position therefore depends only on the bytes from the chunk start, which
 * is what makes repeated calls on a growing buffer return the same cut.
 */
#include <errno.h>

#include "codecs/cdc.h"

/* k one-bits ending at bit 62; k is at most 32 here, see cdc_init. */
static uint64_t cdc_mask(unsigned k)
{
	return ((UINT64_C(1) << k) - 1) << (63 - k);
}

int cdc_init(struct cdc *c, const uint8_t gear_bytes[CDC_GEAR_BYTES],
	     uint32_t min, uint32_t avg, uint32_t max)
{
	unsigned bits = 0;

	if (min < 64 || min >= avg || avg >= max)
		return -EINVAL;
	if (avg & (avg - 1))
		return -EINVAL;
	while ((UINT32_C(1) << bits) < avg)
		bits++;
	/* avg > min >= 64 gives bits >= 7, so bits - 2 >= 5; bits <= 31. */
	for (int i = 0; i < 256; i++)
		c->gear[i] = sv_get_le64(gear_bytes + 8 * i);
	c->mask_s = cdc_mask(bits + 2);
	c->mask_l = cdc_mask(bits - 2);
	c->min = min;
	c->avg = avg;
	c->max = max;
	return 0;
}

/*
 * Roll the hash over p[i..end) and return the index just past the first
 * byte after which (h & mask) == 0, or 0 if there is none (0 can never be a
 * real cut, since i >= min >= 64). *hp carries the state across the strict
 * and loose halves.
 *
 * This is the hot loop of the backup: one load from the data, one from the
 * 2 KiB gear table (which stays in L1), a shift-add that compilers emit as a
 * single lea, and a test. The cut branch is almost never taken, so it
 * predicts perfectly; unrolling by eight only removes the loop counter
 * overhead. Each step still tests its own position, so the result is
 * identical to a byte-at-a-time loop.
 */
static inline size_t cdc_scan(const uint64_t *gear, uint64_t mask,
			      const uint8_t *p, size_t i, size_t end,
			      uint64_t *hp)
{
	uint64_t h = *hp;

#define CDC_STEP(k)                              \
	do {                                     \
		h = (h << 1) + gear[p[i + (k)]]; \
		if (!(h & mask))                 \
			goto cut##k;             \
	} while (0)

	while (end - i >= 8) {
		CDC_STEP(0);
		CDC_STEP(1);
		CDC_STEP(2);
		CDC_STEP(3);
		CDC_STEP(4);
		CDC_STEP(5);
		CDC_STEP(6);
		CDC_STEP(7);
		i += 8;
	}
	while (i < end) {
		CDC_STEP(0);
		i++;
	}
#undef CDC_STEP
	*hp = h;
	return 0;
cut0:
	return i + 1;
cut1:
	return i + 2;
cut2:
	return i + 3;
cut3:
	return i + 4;
cut4:
	return i + 5;
cut5:
	return i + 6;
cut6:
	return i + 7;
cut7:
	return i + 8;
}

size_t cdc_next(const struct cdc *c, const uint8_t *data, size_t len)
{
	size_t normal, cut;
	uint64_t h = 0;

	if (len > c->max)
		len = c->max;
	if (len <= c->min)
		return len;
	normal = SV_MIN((size_t)c->avg, len);
	cut = cdc_scan(c->gear, c->mask_s, data, c->min, normal, &h);
	if (cut)
		return cut;
	cut = cdc_scan(c->gear, c->mask_l, data, normal, len, &h);
	if (cut)
		return cut;
	return len;
}
