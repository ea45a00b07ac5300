/*
 * index.h - the chunk index: chunk id -> (pack, offset, length).
 *
 * In memory it is one open-addressing hash table of fixed-size entries plus
 * a table of pack ids; a lookup touches one or two cache lines. On storage
 * it is a set of sealed "index/<oid>" objects, each listing whole packs with
 * their blob entries (the same entries as the packs' own headers, so an
 * index can always be rebuilt from the packs).
 *
 * Dedup needs id *and* raw length equal (DESIGN.md). A chunk is "pending"
 * from the moment a worker claims it (index_claim) until the pack that holds
 * it is complete (index_add_pack): two identical chunks in flight are
 * therefore stored once, and nothing is "committed" before its pack is
 * durable.
 *
 * Thread safety: every function takes the index's mutex; workers call
 * index_claim concurrently, the packer calls index_add_pack.
 */
#ifndef SV_ENGINE_INDEX_H
#define SV_ENGINE_INDEX_H

#include <pthread.h>
#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"

/* Serialized blob entry in pack headers and index objects: 36 bytes. */
#define PACK_ENTRY_LEN 36

struct pack_entry {
	uint8_t id[SV_ID_LEN];
	uint64_t off;          /* offset of the blob in the pack */
	uint32_t stored_len;   /* sealed length (nonce + ct + tag) */
	uint32_t raw_len;      /* chunk length before compression */
	uint8_t codec;         /* enum sv_codec */
};

void pack_entry_put(uint8_t *p, const struct pack_entry *e);
void pack_entry_get(const uint8_t *p, struct pack_entry *e);

/* Where a committed chunk lives. */
struct index_loc {
	uint32_t pack;         /* index into the pack table (index_pack_oid) */
	uint32_t stored_len;
	uint64_t off;
	uint32_t raw_len;
	uint8_t codec;
};

struct index;

int index_create(struct index **out) SV_MUST_CHECK;
void index_destroy(struct index *x);

/*
 * Load every index object of the repository. A damaged index object is
 * reported (log_err with its name) and makes the call fail with -EBADMSG
 * unless tolerate_damage is set (check uses that to go on).
 * Return: 0 or -errno. *nobjs receives the number of objects loaded.
 */
int index_load(struct index *x, struct repo *r, int tolerate_damage,
	       size_t *nobjs) SV_MUST_CHECK;

/* Load one index object by name (packs added as not new).
 * Return: 0, -EBADMSG, -errno. */
int index_load_one(struct index *x, struct repo *r,
		   const char *name) SV_MUST_CHECK;

/*
 * Claim a chunk for storage. Return: 1 if the caller must store it (it is
 * now pending), 0 if it is already committed or pending, -ENOMEM.
 */
int index_claim(struct index *x, const uint8_t id[SV_ID_LEN],
		uint32_t raw_len) SV_MUST_CHECK;

/* Committed location of a chunk. Return: 0, or -ENOENT (unknown or only
 * pending). */
int index_lookup(struct index *x, const uint8_t id[SV_ID_LEN],
		 uint32_t raw_len, struct index_loc *loc) SV_MUST_CHECK;

/*
 * Record a complete pack and commit its entries. Marks the pack "new in
 * this session" when is_new is set (index_write_new writes those).
 * Return: 0 or -ENOMEM.
 */
int index_add_pack(struct index *x, const uint8_t oid[SV_OID_LEN],
		   uint64_t size, const struct pack_entry *e, size_t n,
		   int is_new) SV_MUST_CHECK;

/* Pack table accessors. */
size_t index_npacks(struct index *x);
const uint8_t *index_pack_oid(struct index *x, uint32_t pack);
uint64_t index_pack_size(struct index *x, uint32_t pack);
size_t index_nentries(struct index *x);

/*
 * Prune's mark phase: set the mark bit of a committed entry. Marking costs
 * no memory beyond the entry itself (a bitmap per index entry, not a set
 * of ids). Return: 1 newly marked, 0 already marked, -ENOENT not committed.
 */
int index_mark(struct index *x, const uint8_t id[SV_ID_LEN],
	       uint32_t raw_len) SV_MUST_CHECK;

/* Visit every committed entry with its mark bit. */
int index_foreach_marked(struct index *x,
			 int (*cb)(void *arg, const struct pack_entry *e,
				   uint32_t pack, int marked),
			 void *arg);

/* Visit every committed entry (check uses it). */
int index_foreach(struct index *x,
		  int (*cb)(void *arg, const struct pack_entry *e,
			    uint32_t pack),
		  void *arg);

/*
 * Write one index object with every pack added with is_new since the last
 * call. No-op when there is none. Return: 0 or -errno.
 */
int index_write_new(struct index *x, struct repo *r) SV_MUST_CHECK;

/* Object name of a pack: "data/<2 hex>/<64 hex>" into out (100 bytes). */
void index_pack_name(const uint8_t oid[SV_OID_LEN], char *out, size_t cap);

/* ---- for tests and fuzzing only ---- */

/*
 * Parse the plaintext of one index object (docs/FORMAT.md section 6) into x,
 * as index_load() does after unsealing it; packs are added with is_new
 * unset. On failure x may hold the packs parsed before the damage.
 * Return: 0, -EBADMSG (malformed), -ENOMEM.
 */
int index_parse_object(struct index *x, const uint8_t *p,
		       size_t len) SV_MUST_CHECK;

#endif
