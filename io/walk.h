/*
 * walk.h - depth-first directory scan with lstat metadata.
 *
 * Entries are reported in a deterministic order (names sorted bytewise
 * within each directory, a directory before its contents), so two backups
 * of the same tree list files identically. Symbolic links are reported,
 * never followed. Threading: none; the callback runs on the caller's thread.
 */
#ifndef SV_IO_WALK_H
#define SV_IO_WALK_H

#include <stdint.h>
#include "include/sv.h"

struct walk_entry {
	const char *rel;       /* path relative to the root ("" for it) */
	const char *name;      /* last component */
	char type;             /* 'f' file, 'd' directory, 'l' symlink,
				* 'o' other (fifo, socket, device) */
	uint32_t mode;         /* permission bits (07777) */
	int64_t mtime_ns;
	uint64_t size, ino, dev, nlink;
	const char *target;    /* symlink target, or NULL */
	int err;               /* 0, or -errno if it could not be read */
};

/* Called for each entry; pointers are valid during the call only. A
 * directory callback may return 1 to skip its contents; any other non-zero
 * value stops the walk and is returned. */
typedef int (*walk_fn)(void *arg, const struct walk_entry *e);

/*
 * Walk root. The root itself is reported first with rel "".
 * Return: 0, the callback's stop value, or -errno if root cannot be read
 * (-ENOENT, -ENOTDIR, -EACCES).
 */
int walk_tree(const char *root, walk_fn fn, void *arg) SV_MUST_CHECK;

/* lstat one path into e (rel/name set by the caller). Return 0/-errno. */
int walk_stat(const char *path, struct walk_entry *e) SV_MUST_CHECK;

#endif
