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
	int progress;               /* 1: print progress lines */
	int json;                   /* JSON progress events on stdout */
	/* Optional file filter: return 0 to skip a file (after it was
	 * reported), and optionally fill the Cassandra identity. */
	int (*select)(void *arg, const char *root, const char *rel,
		      struct snap_file *f);
	void *select_arg;
	const char *type;           /* "tree" unless set by the caller */
	const char *schema;         /* schema text to embed, or NULL */
};

struct backup_result {
	char id[2 * SV_OID_LEN + 1];
	struct snap_stats stats;
	uint64_t warnings;          /* files skipped or damaged */
	uint64_t packs;
	double secs;
	size_t memory;              /* worst-case bytes, computed at start */
	char io_mode[160];
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
