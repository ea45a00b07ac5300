/*
 * restore.h - the restore pipeline.
 *
 *   snapshot -> chunk refs -> index (pack, offset) -> sorted by pack and
 *   coalesced into ranged reads -> workers (AES-GCM open, zstd, id check)
 *   -> io/writer (io_uring writes at file offsets into temporaries)
 *   -> whole-file digest check -> rename into place.
 *
 * A file is renamed to its final name only after every byte was written
 * and its keyed digest (and, where the caller checks it, Cassandra's own
 * digest) matched: restore never hands back wrong bytes under a real name.
 */
#ifndef SV_ENGINE_RESTORE_H
#define SV_ENGINE_RESTORE_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"
#include "engine/snapshot.h"

struct restore_opts {
	const char *target;
	int force;                /* allow a non-empty target */
	unsigned threads;         /* 0 = all cores */
	int no_uring;
	int no_fsync;
	int progress;             /* enum progress_mode */
	/*
	 * Map a snapshot entry to a path under target (out, cap bytes,
	 * relative). Return 0 to restore there, 1 to skip the entry, -errno
	 * to fail. NULL means the tree layout.
	 */
	int (*map)(void *arg, const struct snapshot *s,
		   const struct snap_file *f, char *out, size_t cap);
	void *map_arg;
	/*
	 * Extra verification of a finished temporary file before it is
	 * renamed (Cassandra digests). Return 0 if good, -EBADMSG to fail
	 * the file (with a message logged by the callback). May be NULL.
	 */
	int (*verify)(void *arg, const struct snap_file *f,
		      const char *tmp_path, const char *final_path);
	void *verify_arg;
	/* Called after each file is in place (ownership, renames). */
	int (*placed)(void *arg, const struct snap_file *f, const char *path);
	void *placed_arg;
};

struct restore_result {
	uint64_t files, bytes, dirs, links;
	uint64_t failed;          /* files not restored (damage or IO) */
	uint64_t damaged;         /* of those, because data was damaged */
	double secs;
	char io_mode[160];
};

/*
 * Restore the entries of s. Return: 0 when every selected file was
 * restored; -EBADMSG when some file could not be restored because the
 * repository data is damaged or missing (named in the log); -EEXIST when
 * the target is not empty and force is not set; another -errno on IO
 * failure (e.g. -ENOSPC).
 */
int restore_run(struct repo *r, const struct snapshot *s,
		const struct restore_opts *o,
		struct restore_result *res) SV_MUST_CHECK;

/* Default tree layout: one root restores into target itself, several into
 * target/<basename of root>/. */
int restore_map_tree(void *arg, const struct snapshot *s,
		     const struct snap_file *f, char *out, size_t cap);

#endif
