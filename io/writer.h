/*
 * writer.h - restore-side writes at file offsets on io_uring.
 *
 * Restore decrypts chunks in parallel and out of order; the writer puts each
 * one at its offset in a preallocated (fallocate) temporary file and, when
 * the caller finishes the file, fsyncs it, sets mode and mtime and renames
 * it to its final name. A crash or error therefore never leaves a file under
 * its real name that looks complete but is not.
 *
 * Threading: one thread drives a writer. Completions are delivered through
 * callbacks from writer_poll() (and from writer_write() when it has to wait
 * for room, and writer_close()/writer_destroy() while they wait), never
 * from inside the writer_write() call that queued the same write. A
 * callback may call writer_write() again.
 *
 * Without io_uring (or with WRITER_F_NO_URING, or the environment variable
 * SSTVAULT_NO_URING=1) the writes are done with pwrite() inside
 * writer_write(), and their callbacks are still delivered later from
 * writer_poll(), so a caller sees the same sequence in both modes.
 */
#ifndef SV_IO_WRITER_H
#define SV_IO_WRITER_H

#include <stdint.h>
#include <sys/types.h>
#include "include/sv.h"

#define WRITER_F_NO_URING (1u << 0) /* force the pwrite() fallback */
#define WRITER_F_NO_FSYNC (1u << 1) /* skip fsync (tests, scratch restores) */
/* io_uring writes with RWF_DONTCACHE: pages are written back at once and
 * dropped, so a large restore neither fills the page cache nor leaves the
 * whole write-back to the final fsync/syncfs. Where the kernel or file
 * system refuses it, the writer goes on through the page cache and says so
 * in writer_mode(). The pwrite() fallback ignores it. */
#define WRITER_F_DONTCACHE (1u << 2)

/* A zero field means its default; writer_create(&w, NULL) is allowed.
 * depth is 1 to 4096. max_io caps one write system call or SQE (the
 * default, 1 GiB, stays under the kernel's limit); a longer write is done
 * as consecutive pieces, by the same code that continues a short write, so
 * tests set it small to exercise that path. */
struct writer_opts {
	uint32_t depth;     /* writes in flight, default 32 */
	unsigned flags;
	uint32_t max_io;    /* bytes per write piece, default 1 GiB */
};

typedef void (*writer_done_fn)(void *cookie, int res);

struct writer;

/* Return: 0, -ENOMEM, -EINVAL (bad opts). io_uring being unavailable is not
 * an error: the writer then uses pwrite() (see writer_mode()). */
int writer_create(struct writer **out, const struct writer_opts *o) SV_MUST_CHECK;
/* Waits for the writes in flight and runs their callbacks, then aborts open
 * files (their temporaries are unlinked); NULL accepted. */
void writer_destroy(struct writer *w);

/*
 * Create "<path>.sstvault-tmp" (O_EXCL after removing a stale one), and
 * preallocate size bytes. Return: a handle >= 0, or -errno (-ENOSPC,
 * -EACCES, -EEXIST if path exists and overwrite is 0 ...).
 */
int writer_open(struct writer *w, const char *path, uint64_t size,
		int overwrite) SV_MUST_CHECK;

/*
 * Queue len bytes at off. buf must stay valid and untouched until done is
 * called with the same cookie (res = len, or -errno; short writes are
 * continued internally). May block in writer_poll() while the queue is
 * full. len may be 0 (done gets 0) and at most INT_MAX; done may be NULL.
 * Return: 0, or -errno if the write could not be queued (done not called):
 * -EBADF (bad handle), -EINVAL, or the ring's failure.
 */
int writer_write(struct writer *w, int h, uint64_t off, const void *buf,
		 size_t len, writer_done_fn done, void *cookie) SV_MUST_CHECK;

/* Deliver completions; wait for at least one if wait != 0 and any are in
 * flight. Return: number delivered, or -errno. */
int writer_poll(struct writer *w, int wait) SV_MUST_CHECK;

/*
 * Finish a file: wait for its writes, fsync, set mode and mtime (ns), and
 * rename the temporary to the final path. With ok == 0 the temporary is
 * unlinked instead. mode keeps its permission bits (07777). If overwrite was
 * 0 the rename does not replace a file that appeared meanwhile (-EEXIST).
 * The handle is invalid afterwards, whatever the result. The parent
 * directory is not fsynced (the caller may do it once per directory).
 * Return: 0 or -errno (the first write error of the file if any; then the
 * temporary is unlinked).
 */
int writer_close(struct writer *w, int h, int ok, uint32_t mode,
		 int64_t mtime_ns) SV_MUST_CHECK;

/* "io_uring" or "pwrite (io_uring unavailable: <reason>)"; owned by w. */
const char *writer_mode(const struct writer *w);

#endif
