/*
 * reader.h - ordered, read-ahead file reader on io_uring.
 *
 * The backup pipeline needs every file's bytes in order, but wants many
 * reads in flight across many files. The reader takes a list of files
 * (reader_add), keeps up to nbufs reads of buf_size bytes in flight across
 * the next files in that list, and hands the buffers back strictly in
 * (file, offset) order. Buffers come from a fixed pool registered with the
 * ring (io_uring_register_buffers); nothing is allocated per read.
 *
 * Page cache: with READER_F_SPARE_CACHE (the default) reads use
 * RWF_DONTCACHE where the kernel supports it, else O_DIRECT with aligned
 * buffers (unaligned tails re-read buffered), else posix_fadvise(DONTNEED)
 * behind the reader, so a backup does not evict Cassandra's hot data.
 * Where io_uring is unavailable (old kernel, seccomp, io_uring_disabled) the
 * reader falls back to pread() and says so once through reader_mode().
 *
 * Threading: a reader is driven by one thread.
 */
#ifndef SV_IO_READER_H
#define SV_IO_READER_H

#include <stdint.h>
#include <sys/types.h>
#include "include/sv.h"

/*
 * Flags. The environment variable SSTVAULT_NO_URING=1 (any value but "" and
 * "0") has the effect of READER_F_NO_URING for every reader (and of
 * WRITER_F_NO_URING for every writer). READER_F_NO_DONTCACHE and
 * READER_F_NO_DIRECT skip a page-cache sparing method, so that tests and
 * benchmarks can exercise the O_DIRECT and posix_fadvise() fallbacks on a
 * kernel that has RWF_DONTCACHE.
 */
#define READER_F_SPARE_CACHE  (1u << 0) /* do not leave data in page cache */
#define READER_F_NO_URING     (1u << 1) /* force the pread() fallback */
#define READER_F_NO_DONTCACHE (1u << 2) /* spare cache without RWF_DONTCACHE */
#define READER_F_NO_DIRECT    (1u << 3) /* spare cache without O_DIRECT */

/*
 * A zero field means its default; reader_create(&r, NULL) gives 16 x 1 MiB
 * with READER_F_SPARE_CACHE. buf_size may be 1 byte to 256 MiB, nbufs 1 to
 * 4096; O_DIRECT is only used when buf_size is a multiple of 4096. The
 * pool is allocated once: nbufs * buf_size bytes, plus one small record per
 * added file. Files are opened when their first read is due and closed
 * after their last buffer is delivered; at most 64 are open at any time
 * (two descriptors each when O_DIRECT is used).
 */
struct reader_opts {
	uint32_t buf_size;  /* bytes per read, default 1 MiB */
	uint32_t nbufs;     /* pool size = reads in flight, default 16 */
	unsigned flags;     /* READER_F_* */
};

/* One buffer of file data, owned by the consumer from reader_next() until
 * reader_release(). data stays valid until then. On a buffer with err != 0,
 * len may be 0 (nothing read) or the bytes read before the error; either
 * way the file's data must not be trusted. */
struct rbuf {
	uint32_t file;      /* index returned by reader_add() */
	void *cookie;       /* what reader_add() was given */
	uint64_t off;       /* offset of data[0] in the file */
	uint32_t len;       /* valid bytes (0 only for an empty file) */
	int last;           /* 1 on the final buffer of this file */
	int err;            /* 0, or -errno for this file; see below */
	uint8_t *data;
};

struct reader;

/* o may be NULL for the defaults. io_uring being unavailable is not an
 * error: the reader then uses pread() (see reader_mode()).
 * Return: 0, -ENOMEM, -EINVAL (bad opts). */
int reader_create(struct reader **out, const struct reader_opts *o) SV_MUST_CHECK;
/* Closes files, unregisters and frees buffers; NULL is accepted. */
void reader_destroy(struct reader *r);

/*
 * Append a file to the read list. size and mtime_ns are what the caller
 * saw when it scanned the file: the reader reads exactly size bytes and,
 * after the last read, checks with fstat that size and mtime are unchanged.
 * path is copied.
 * Return: the file's index (>= 0), or -ENOMEM.
 */
int reader_add(struct reader *r, const char *path, uint64_t size,
	       int64_t mtime_ns, void *cookie) SV_MUST_CHECK;

/*
 * Next buffer in order. A file that cannot be opened or read yields one
 * buffer with err set (-EACCES, -ENOENT, -EIO...) and last = 1; a file that
 * ended early or changed while read (size or mtime differ) has err = -ESTALE
 * on its last buffer. The consumer decides what an error means. A path
 * that is not a regular file yields -EISDIR (directory) or -EINVAL.
 * The consumer may hold several buffers at once, but not the whole pool:
 * if it holds all nbufs and asks for another, reader_next() returns
 * -ENOBUFS (a usage error that does not break the reader: release one and
 * call again).
 * Return: 0 with *out set, 1 when every added file has been delivered,
 * -ENOBUFS as above, other -errno on a failure of the reader itself (then
 * the reader is broken and every later call returns the same error).
 */
int reader_next(struct reader *r, struct rbuf **out) SV_MUST_CHECK;

/* Give a buffer back to the pool (may start the next reads, which may open
 * files). b must not be used afterwards; NULL is accepted. A failure to
 * submit is kept and returned by the next reader_next(). */
void reader_release(struct reader *r, struct rbuf *b);

/* Human-readable IO mode, e.g. "io_uring, registered buffers,
 * RWF_DONTCACHE" or "pread (io_uring unavailable: Operation not permitted),
 * page cache". It can change once after the first reads, when the kernel or
 * file system turns out to lack RWF_DONTCACHE or O_DIRECT. The string is
 * owned by the reader and valid until the next call on it. */
const char *reader_mode(const struct reader *r);

#endif
