/*
 * pack.h - writing packs (the packer) and reading their headers.
 *
 * A pack is blobs || sealed header || le32 header length || "SVP1"
 * (docs/FORMAT.md). The trailer comes last so a pack streams out part by
 * part before its header exists, and a reader finds the header with one
 * ranged read of the tail (restic's layout).
 *
 * The packer keeps up to max_open packs open at once, one per "group": the
 * engine gives every large file a group of its own and groups small files
 * by table, so one large SSTable's chunks are contiguous and never mixed
 * with another file's, and an SSTable that compaction removes frees whole
 * packs. A pack is finished when it reaches the target size, when its slot
 * is needed for a new group (least recently used first), or at the end.
 *
 * Memory: nparts part buffers of part_size bytes, each starting on a 4 KiB
 * boundary (for backends that write them with direct IO), allocated at
 * create.
 * Threading: one thread (the packer thread) drives a packer.
 */
#ifndef SV_ENGINE_PACK_H
#define SV_ENGINE_PACK_H

#include <stdint.h>
#include "include/sv.h"
#include "codecs/compress.h"
#include "engine/index.h"
#include "engine/repo.h"

#define PACK_MAGIC "SVP1"
#define PACK_TRAILER_LEN 8

struct packer_stats {
	uint64_t packs;        /* packs completed */
	uint64_t blobs;        /* blobs written */
	uint64_t blob_bytes;   /* sealed bytes written */
	uint64_t raw_bytes;    /* raw bytes of those blobs */
};

struct packer;

/* Return: 0, -ENOMEM, -EINVAL. */
int packer_create(struct packer **out, struct repo *r, struct index *x,
		  unsigned max_open, size_t part_size,
		  unsigned nparts) SV_MUST_CHECK;

/* Abort every open pack (no partial pack is ever left behind) and free.
 * NULL accepted. */
void packer_destroy(struct packer *p);

/*
 * Append one sealed blob to the pack of group. The blob is copied; the
 * caller keeps its buffer. On completion of a pack its entries are
 * committed to the index. Sticky: after a failure every call returns the
 * first error. Return: 0 or -errno (the uploader's errbuf says more).
 */
int packer_add(struct packer *p, uint64_t group, const struct pack_entry *e,
	       const void *blob) SV_MUST_CHECK;

/* Finish every open pack. Return: 0 or the first error. */
int packer_flush(struct packer *p) SV_MUST_CHECK;

const struct packer_stats *packer_stats(const struct packer *p);
/* Bytes of memory the packer holds (for the startup ceiling). */
size_t packer_memory(const struct packer *p);

/*
 * Read and verify the header of pack oid (size bytes) with a ranged read
 * of its tail. *ents is malloc'ed (caller frees).
 * Return: 0; -EBADMSG (damaged trailer or header, or a header that belongs
 * to another pack); -errno of the backend.
 */
int pack_read_header(struct repo *r, const uint8_t oid[SV_OID_LEN],
		     uint64_t size, struct pack_entry **ents,
		     size_t *n) SV_MUST_CHECK;

/* Parse a pack header plaintext (exposed for fuzzing).
 * Return: 0 or -EBADMSG. */
int pack_parse_header(const uint8_t *pt, size_t len,
		      const uint8_t oid[SV_OID_LEN], uint64_t pack_size,
		      struct pack_entry **ents, size_t *n) SV_MUST_CHECK;

#endif
