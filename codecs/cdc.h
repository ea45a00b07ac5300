/*
 * cdc.h - FastCDC content-defined chunking (Xia et al. 2016/2020).
 *
 * Gear rolling hash with normalized chunking level 2: below the average size
 * a boundary needs log2(avg)+2 zero bits, above it log2(avg)-2. The gear
 * table is keyed: the engine derives its 256 64-bit entries from the master
 * key, so boundaries (and thus chunk sizes) leak nothing useful about the
 * content. Pure computation: no allocation, no IO.
 */
#ifndef SV_CODECS_CDC_H
#define SV_CODECS_CDC_H

#include "include/sv.h"

#define CDC_MIN_DEFAULT (256u * 1024)
#define CDC_AVG_DEFAULT (1024u * 1024)
#define CDC_MAX_DEFAULT (4u * 1024 * 1024)
#define CDC_GEAR_BYTES (256 * 8)

struct cdc {
	uint64_t gear[256];  /* keyed gear table */
	uint64_t mask_s;     /* strict mask, used below avg */
	uint64_t mask_l;     /* loose mask, used from avg to max */
	uint32_t min, avg, max;
};

/*
 * Set up a chunker. gear_bytes are CDC_GEAR_BYTES bytes of key material
 * (little-endian 64-bit words). avg must be a power of two and
 * 64 <= min < avg < max.
 * Return: 0, or -EINVAL for bad sizes.
 */
int cdc_init(struct cdc *c, const uint8_t gear_bytes[CDC_GEAR_BYTES],
	     uint32_t min, uint32_t avg, uint32_t max) SV_MUST_CHECK;

/*
 * Length of the next chunk at the start of data[0..len).
 * The caller passes as much data as it has, up to c->max (more is treated
 * as c->max). The result is a boundary in [1, len] (0 only when len is 0):
 * len itself if len <= min, or if no boundary was found
 * (the caller must only accept a result == len when len == c->max or the
 * input is at end of file; otherwise it reads more and calls again, which
 * gives the same answer for the same bytes).
 */
size_t cdc_next(const struct cdc *c, const uint8_t *data, size_t len);

#endif
