/*
 * maint.h - repository lifecycle: backup markers, retention (forget) and
 * garbage collection (prune).
 *
 * Many nodes back up into one repository at once with no global lock:
 * packs and index objects are randomly named and immutable, snapshots are
 * created with no-overwrite puts. Each running backup leaves a marker
 * object "locks/backup-<oid>" (sealed, with its start time) for its
 * duration. Prune holds an exclusive lease "locks/prune" (created with
 * no-overwrite) and, before deleting any pack, waits until every backup
 * that may have loaded the old index has finished:
 *   1. mark: every chunk of every kept snapshot sets its index entry's bit;
 *   2. repack packs whose dead share exceeds the threshold (ciphertext is
 *      copied as it is: blobs are bound to their id, not to a pack);
 *   3. write one new index object listing every pack that stays;
 *   4. delete the index objects it read (backups starting now see only the
 *      new index, so they cannot pick a chunk in a pack about to go);
 *   5. wait for backup markers older than step 4 (or stale ones, older than
 *      the grace period) to disappear;
 *   6. delete dead packs, unreferenced packs and temporaries older than the
 *      grace period, and multipart uploads older than it.
 */
#ifndef SV_ENGINE_MAINT_H
#define SV_ENGINE_MAINT_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"
#include "engine/snapshot.h"

/* ---- backup markers ---- */

/* Write a marker for a running backup; name receives its object name
 * (128 bytes). Return 0 / -errno. */
int maint_marker_create(struct repo *r, char *name) SV_MUST_CHECK;
/* Remove it (best effort). */
void maint_marker_remove(struct repo *r, const char *name);

/* ---- forget ---- */

struct forget_opts {
	int keep_last, keep_daily, keep_weekly, keep_monthly;
	const char *node;        /* only this node's snapshots, or NULL */
	const char *type;        /* only this backup type, or NULL */
	int group_by_cluster;    /* group per cluster+type, not node+type */
	int dry_run;
};

struct forget_result {
	uint64_t kept, removed, groups;
};

/*
 * Apply the retention policy to every group of snapshots (per node and
 * backup type, or per cluster and type). A snapshot is kept if any rule
 * keeps it; with no rule at all nothing is removed. Each decision is
 * printed. Return: 0 or -errno.
 */
int maint_forget(struct repo *r, const struct forget_opts *o,
		 struct forget_result *res) SV_MUST_CHECK;

/* ---- prune ---- */

struct prune_opts {
	double repack_threshold;   /* repack packs with more dead bytes */
	int64_t grace_s;           /* keep objects younger than this */
	int64_t wait_s;            /* how long to wait for backups (step 5) */
	int dry_run;
	int progress;
};

struct prune_result {
	uint64_t packs_before, packs_after, packs_deleted, bytes_deleted;
	uint64_t packs_repacked, blobs_repacked, bytes_repacked;
	uint64_t unreferenced_deleted, index_before, index_after;
	uint64_t uploads_aborted, tmp_deleted, snapshots;
	uint64_t packs_kept_young;
};

/* Return: 0, -EBUSY (another prune holds the lease, or backups did not
 * finish within wait_s), -EBADMSG (damaged repository: run check first),
 * -errno. */
int maint_prune(struct repo *r, const struct prune_opts *o,
		struct prune_result *res) SV_MUST_CHECK;

#endif
