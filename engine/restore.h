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
	 * Extra verification of each restored file before it is renamed
	 * (Cassandra digests); NULL for none. The file's bytes are fed in
	 * order, from memory as its chunks are restored, or from the
	 * temporary file read back when its chunks arrived too far out of
	 * order (then a state begun from memory is dropped first).
	 */
	const struct restore_check *check;
	void *check_arg;
	/* Chunks held back for in-order digests, at most (tests; 0 is the
	 * default, which keeps every worker supplied). */
	unsigned park_max;
	/* Check every file by reading it back instead (tests). */
	int readback;
	/* Called after each file is in place (ownership, renames). */
	int (*placed)(void *arg, const struct snap_file *f, const char *path);
	void *placed_arg;
};

/*
 * A streaming check of restored files. begin() sets *st to a state (NULL:
 * nothing to check in this file) and returns 0, or -errno to fail the
 * file; update() feeds the file's bytes in order; end() returns 0 if they
 * are good or -EBADMSG (with a message naming final_path logged), and
 * frees the state; drop() frees a state that will not be ended. Calls for
 * one state never overlap, but states of different files may be used on
 * different threads at once.
 */
struct restore_check {
	int (*begin)(void *arg, const struct snap_file *f, void **st);
	void (*update)(void *st, const void *data, size_t len);
	int (*end)(void *st, const struct snap_file *f, const char *final_path);
	void (*drop)(void *st);
};

struct restore_result {
	uint64_t files, bytes, dirs, links;
	uint64_t failed;          /* files not restored (damage or IO) */
	uint64_t damaged;         /* of those, because data was damaged */
	uint64_t readback;        /* files checked by reading them back */
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
