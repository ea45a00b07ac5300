/*
 * backup.h - the backup pipeline.
 *
 *   walk -> io/reader (io_uring, ordered) -> chunker (FastCDC, main thread)
 *        -> workers (id, dedup claim, zstd, AES-GCM; N threads)
 *        -> packer thread (packs, multipart upload) -> index -> snapshot
 *
 * Memory is fixed at start (a pool of jobs, the reader's buffers, the
 * packer's parts) whatever the data size; -v prints the ceiling.
 */
#ifndef SV_ENGINE_BACKUP_H
#define SV_ENGINE_BACKUP_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"
#include "engine/index.h"
#include "engine/snapshot.h"

struct backup_source {
	char *root;            /* directory to read */
	char *rel;             /* file relative to root, "" for whole tree */
};

struct backup_opts {
	const char *const *roots;   /* directories to back up (tree mode) */
	size_t nroots;
	const char *tag, *node, *cluster, *host_id, *dc, *rack;
	unsigned threads;           /* workers; 0 = all cores */
	unsigned read_bufs;         /* reader buffers; 0 = default */
	int no_uring;               /* force pread */
	int keep_cache;             /* do not spare the page cache */
	int progress;               /* enum progress_mode */
	/*
	 * Optional filter, called for every walked entry with its snapshot
	 * entry already filled: return BACKUP_SKIP to leave it out (a
	 * directory's contents too), BACKUP_TAKE to keep it, or, for a
	 * directory, BACKUP_DESCEND to walk into it without recording it.
	 * It may fill f->cass (identity, Cassandra digest) and append to
	 * the snapshot's schema text. Negative values abort the backup.
	 */
	int (*select)(void *arg, struct snapshot *s, const char *root,
		      const char *rel, struct snap_file *f);
	void *select_arg;
	/*
	 * Optional catalog: called for every regular file before it is
	 * read. Return 1 after filling f->chunks/nchunks/digest from a
	 * previous backup of the very same file (identity: data dir, inode,
	 * size, mtime, Cassandra identity); the file is then not read. The
	 * chunks must be committed in the index (check with index_lookup).
	 */
	int (*catalog)(void *arg, struct index *idx, const struct snapshot *s,
		       struct snap_file *f);
	void *catalog_arg;
	/* Shell command run after discovery, before reading (tests use it
	 * to change the source while a backup runs). */
	const char *after_walk_hook;
	const char *type;           /* "tree" unless set by the caller */
	const char *schema;         /* schema text to embed, or NULL */
	int keep_snapshot;          /* hand the snapshot back in result */
};

#define BACKUP_SKIP 0
#define BACKUP_TAKE 1
#define BACKUP_DESCEND 2

struct backup_result {
	char id[2 * SV_OID_LEN + 1];
	struct snap_stats stats;
	uint64_t warnings;          /* files skipped or damaged */
	uint64_t packs;
	double secs;
	size_t memory;              /* worst-case bytes, computed at start */
	char io_mode[160];
	uint64_t catalog_hits;      /* files not read thanks to the catalog */
	uint64_t catalog_bytes;
	uint64_t damaged_sources;   /* files whose Cassandra digest failed */
	struct snapshot *snap;      /* the saved snapshot, if keep_snapshot;
				     * the caller frees it */
};

/*
 * Back up the roots into the repository and write a snapshot.
 * Return: 0 (result filled; warnings may be non-zero), or -errno on a
 * failure that prevented the snapshot (nothing referencing missing data is
 * ever written).
 */
int backup_run(struct repo *r, const struct backup_opts *o,
	       struct backup_result *res) SV_MUST_CHECK;

#endif
