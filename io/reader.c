/*
 * reader.c - ordered read-ahead over a list of files, on io_uring.
 *
 * The model, in one paragraph: the reader owns a fixed pool of nbufs
 * buffers of buf_size bytes (allocated once, 4096-aligned for O_DIRECT,
 * registered with the ring). Each buffer is a "slot". A slot is given the
 * next (file, offset) range in list order, its read is submitted, and the
 * slot is appended to the order queue. Reads complete in any order, but the
 * consumer only ever gets the slot at the head of the order queue, and only
 * once that slot's read is complete. A slot that completes early simply
 * waits in the queue. Because ranges are handed out in (file, offset) order
 * and the queue is FIFO, delivery is in (file, offset) order by
 * construction; no sorting or sequence numbers are needed.
 *
 * Backpressure comes from the pool alone: a read is submitted only when a
 * slot is free, and a slot becomes free only when the consumer releases it
 * (reader_release) or when the reader drops a read it no longer needs (the
 * rest of a file that failed). So at most nbufs reads are in flight, at
 * most nbufs buffers exist, and a slow consumer stops the IO. Nothing is
 * allocated per read.
 *
 * Slot ownership, which is the whole safety argument for the buffers:
 *   SLOT_FREE   on the free stack; nobody touches data.
 *   SLOT_QUEUED in the order queue; while slot->busy the KERNEL owns data
 *               (a read is in flight into it, or, in pread mode, pending),
 *               after that the reader owns it until it is delivered.
 *   SLOT_USER   delivered by reader_next(); the CONSUMER owns data until
 *               reader_release(). The reader never reuses it before then.
 * A buffer is therefore never given to the kernel while the consumer holds
 * it, and never given to the consumer while the kernel may still write it.
 *
 * Files are opened lazily, when the first range of a file is handed to a
 * slot, and closed when the last buffer of the file is delivered, after an
 * fstat() that compares size and mtime with what reader_add() was told.
 * Open files are capped at READER_MAX_OPEN; the cap only delays opening the
 * next file, and the files already open always have queued slots that will
 * complete, so it cannot deadlock.
 *
 * Without io_uring the same slots and queue are used, but a slot's read is
 * done with pread() when the slot reaches the head of the queue (no
 * parallelism, but the same ordering, error and change-detection rules).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "io/reader.h"
#include "io/ring.h"

#define READER_DEF_BUF_SIZE (1u << 20)
#define READER_DEF_NBUFS 16u
#define READER_MAX_BUF_SIZE (256u << 20)
#define READER_MAX_NBUFS 4096u
#define READER_MAX_OPEN 64u
#define READER_ALIGN 4096u
#define READER_MAX_RETRY 32
#define READER_MODE_LEN 256
/* posix_fadvise(DONTNEED) is batched per file up to this many bytes: one
 * call per 1 MiB buffer costs more than the reads it follows. */
#define READER_FADV_BATCH (8u << 20)

/*
 * cachestat(2) (Linux 6.5) counts the pages of a file range in the page
 * cache. Older uapi headers lack it; the number and layout are ABI.
 */
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct reader_cachestat_range {
	uint64_t off, len;
};
struct reader_cachestat {
	uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted,
		 nr_recently_evicted;
};

/* How a file spares the page cache; the reader's preference can only get
 * weaker (DONTCACHE -> DIRECT -> FADVISE) as the kernel refuses methods. */
enum cache_mode {
	CM_PLAIN,	/* ordinary buffered reads, cache kept */
	CM_DONTCACHE,	/* RWF_DONTCACHE on every read */
	CM_DIRECT,	/* O_DIRECT for aligned ranges, buffered tail */
	CM_FADVISE,	/* buffered, then POSIX_FADV_DONTNEED once delivered */
};

enum slot_state {
	SLOT_FREE,
	SLOT_QUEUED,
	SLOT_USER,
};

/* What the piece in flight used, to pick the right fallback on error. */
enum piece_kind {
	PIECE_BUFFERED,
	PIECE_DONTCACHE,
	PIECE_DIRECT,
};

struct rfile {
	char *path;		/* freed once the file is opened */
	void *cookie;
	uint64_t size;		/* bytes to read, from reader_add() */
	int64_t mtime_ns;	/* expected mtime, from reader_add() */
	uint64_t plan_off;	/* next offset to hand to a slot */
	uint64_t fadv_lo;	/* delivered buffered range not yet dropped */
	uint64_t fadv_hi;	/* from the page cache: [fadv_lo, fadv_hi) */
	int fd;			/* buffered descriptor, -1 when closed */
	int dfd;		/* O_DIRECT descriptor, -1 when not used */
	uint32_t nqueued;	/* this file's slots in the order queue */
	uint8_t cmode;		/* enum cache_mode, fixed at open */
	uint8_t opened;		/* open was attempted */
	uint8_t isopen;		/* counts in reader->nopen */
	uint8_t stopped;	/* no more ranges to hand out (all, or error) */
	uint8_t ended;		/* its last buffer was delivered */
};

struct rslot {
	struct rbuf b;		/* public part, handed to the consumer */
	uint32_t idx;		/* index in the pool and registered buffers */
	uint32_t want;		/* bytes this slot must read */
	uint32_t got;		/* bytes read so far */
	int err;		/* -errno of a failed read, else 0 */
	uint8_t state;		/* enum slot_state */
	uint8_t done;		/* read finished (fully, short or failed) */
	uint8_t busy;		/* a piece is in the kernel or pending */
	uint8_t piece;		/* enum piece_kind of the current piece */
	uint8_t buffered;	/* some piece went through the page cache */
	uint8_t retries;	/* -EAGAIN/-EINTR resubmissions */
};

/* Everything below is owned by the one thread that drives the reader. */
struct reader {
	uint32_t buf_size;
	uint32_t nbufs;
	unsigned flags;
	int uring;		/* 1: io_uring, 0: pread() */
	int fixed;		/* buffers registered: READ_FIXED */
	int noatime;		/* still worth trying O_NOATIME */
	int direct_ok;		/* DONTCACHE mode: uncached files go
				 * O_DIRECT (until it is refused) */
	int cachestat_ok;	/* cachestat(2) not refused yet */
	int closing;		/* reader_destroy() draining: no resubmits */
	int err;		/* sticky failure of the reader itself */
	uint8_t pref;		/* enum cache_mode for files opened next */
	struct io_uring ring;

	struct rslot *slots;	/* nbufs slots, each with its own buffer */
	uint32_t *freestk;	/* free slot indexes */
	uint32_t nfree;
	struct rslot **order;	/* FIFO of queued slots, capacity nbufs */
	uint32_t ohead;
	uint32_t ocount;
	uint32_t nbusy;		/* io_uring reads in the kernel */

	struct rfile *files;
	uint32_t nfiles;
	uint32_t cap_files;
	uint32_t cur;		/* first file that may get more ranges */
	uint32_t nopen;		/* files with open descriptors */

	char why[RING_WHY_LEN];	/* why io_uring is not used, or "" */
	char regwhy[RING_WHY_LEN]; /* why buffers are not registered */
	char mode[READER_MODE_LEN];
};

static const char *cache_mode_name(int cm)
{
	switch ((enum cache_mode)cm) {
	case CM_PLAIN:
		return "page cache";
	case CM_DONTCACHE:
		return "RWF_DONTCACHE";
	case CM_DIRECT:
		return "O_DIRECT";
	case CM_FADVISE:
		return "posix_fadvise(DONTNEED)";
	}
	return "?";
}

static void reader_update_mode(struct reader *r)
{
	const char *cm = r->direct_ok && r->pref == CM_DONTCACHE ?
			 "RWF_DONTCACHE (O_DIRECT for uncached files)" :
			 cache_mode_name(r->pref);

	if (!r->uring)
		snprintf(r->mode, sizeof(r->mode),
			 "pread (io_uring unavailable: %s), %s", r->why, cm);
	else if (r->fixed)
		snprintf(r->mode, sizeof(r->mode),
			 "io_uring, registered buffers, %s", cm);
	else
		snprintf(r->mode, sizeof(r->mode),
			 "io_uring (buffers not registered: %s), %s",
			 r->regwhy, cm);
}

/*
 * The sparing method to fall back to once a stronger one was refused.
 * O_DIRECT needs every slot to start on a 4096 boundary, hence buf_size.
 */
static uint8_t weaker_than_dontcache(const struct reader *r)
{
	if (!(r->flags & READER_F_NO_DIRECT) && r->buf_size % READER_ALIGN == 0)
		return CM_DIRECT;
	return CM_FADVISE;
}

static void reader_downgrade(struct reader *r, uint8_t from, uint8_t to)
{
	if (r->pref == from) {
		r->pref = to;
		reader_update_mode(r);
	}
}

int reader_create(struct reader **out, const struct reader_opts *o)
{
	static const int ops[] = { IORING_OP_READ_FIXED, IORING_OP_READ };
	struct reader_opts def = {
		.buf_size = READER_DEF_BUF_SIZE,
		.nbufs = READER_DEF_NBUFS,
		.flags = READER_F_SPARE_CACHE,
	};
	struct iovec *iov = NULL;
	struct reader *r = NULL;
	int ret;

	*out = NULL;
	if (!o)
		o = &def;
	if (o->buf_size > READER_MAX_BUF_SIZE || o->nbufs > READER_MAX_NBUFS)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->buf_size = o->buf_size ? o->buf_size : READER_DEF_BUF_SIZE;
	r->nbufs = o->nbufs ? o->nbufs : READER_DEF_NBUFS;
	r->flags = o->flags;
	r->noatime = 1;
	r->slots = calloc(r->nbufs, sizeof(*r->slots));
	r->freestk = calloc(r->nbufs, sizeof(*r->freestk));
	r->order = calloc(r->nbufs, sizeof(*r->order));
	iov = calloc(r->nbufs, sizeof(*iov));
	ret = -ENOMEM;
	if (!r->slots || !r->freestk || !r->order || !iov)
		goto err;
	for (uint32_t i = 0; i < r->nbufs; i++) {
		struct rslot *s = &r->slots[i];
		void *p;

		/* Aligned for O_DIRECT; one allocation per buffer so that
		 * sanitizers see an overrun of one buffer into the next. */
		if (posix_memalign(&p, READER_ALIGN, r->buf_size))
			goto err;
		s->idx = i;
		s->b.data = p;
		s->state = SLOT_FREE;
		iov[i].iov_base = p;
		iov[i].iov_len = r->buf_size;
		/* Popped from the top: slot 0 is used first. */
		r->freestk[r->nbufs - 1 - i] = i;
	}
	r->nfree = r->nbufs;

	if (r->flags & READER_F_NO_URING) {
		snprintf(r->why, sizeof(r->why), "%s",
			 "disabled by READER_F_NO_URING");
	} else if (ring_init(&r->ring, r->nbufs, ops, SV_ARRAY_SIZE(ops),
			     r->why, sizeof(r->why)) == 0) {
		r->uring = 1;
		/*
		 * Registration pins the pool once, instead of pinning and
		 * unpinning pages on every read. It can fail under a small
		 * RLIMIT_MEMLOCK on older kernels; plain reads into the same
		 * buffers work just as well, only a little slower.
		 */
		ret = io_uring_register_buffers(&r->ring, iov, r->nbufs);
		if (ret == 0)
			r->fixed = 1;
		else
			snprintf(r->regwhy, sizeof(r->regwhy), "%s",
				 strerror(-ret));
	}

	if (!(r->flags & READER_F_SPARE_CACHE))
		r->pref = CM_PLAIN;
	else if (!(r->flags & READER_F_NO_DONTCACHE))
		r->pref = CM_DONTCACHE;
	else
		r->pref = weaker_than_dontcache(r);
	r->direct_ok = r->pref == CM_DONTCACHE &&
		       weaker_than_dontcache(r) == CM_DIRECT;
	r->cachestat_ok = 1;
	reader_update_mode(r);
	free(iov);
	*out = r;
	return 0;
err:
	free(iov);
	reader_destroy(r);
	return ret;
}

static void file_close(struct reader *r, struct rfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->dfd >= 0)
		close(f->dfd);
	f->fd = -1;
	f->dfd = -1;
	if (f->isopen) {
		f->isopen = 0;
		r->nopen--;
	}
}

/* Wait for every read still in the kernel: their buffers must not be
 * freed while the kernel may write into them. */
static void reader_drain(struct reader *r)
{
	r->closing = 1;
	while (r->uring && r->nbusy > 0) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		if (ring_wait(&r->ring) < 0)
			break;
		io_uring_for_each_cqe(&r->ring, head, cqe) {
			struct rslot *s = io_uring_cqe_get_data(cqe);

			s->busy = 0;
			r->nbusy--;
			n++;
		}
		io_uring_cq_advance(&r->ring, n);
	}
}

void reader_destroy(struct reader *r)
{
	if (!r)
		return;
	reader_drain(r);
	/*
	 * If draining failed (the ring broke), the kernel may still own some
	 * buffers; tearing the ring down first cancels and waits for them
	 * before we free the memory.
	 */
	if (r->uring)
		io_uring_queue_exit(&r->ring);
	for (uint32_t i = 0; i < r->nfiles; i++) {
		file_close(r, &r->files[i]);
		free(r->files[i].path);
	}
	if (r->slots)
		for (uint32_t i = 0; i < r->nbufs; i++)
			free(r->slots[i].b.data);
	free(r->files);
	free(r->slots);
	free(r->freestk);
	free(r->order);
	free(r);
}

int reader_add(struct reader *r, const char *path, uint64_t size,
	       int64_t mtime_ns, void *cookie)
{
	struct rfile *f;
	char *p;

	if (r->nfiles >= INT32_MAX)
		return -ENOMEM;
	if (r->nfiles == r->cap_files) {
		uint32_t cap = r->cap_files ? r->cap_files * 2 : 64;
		struct rfile *nf;

		if (cap > INT32_MAX)
			cap = INT32_MAX;
		nf = realloc(r->files, (size_t)cap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		r->files = nf;
		r->cap_files = cap;
	}
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	f = &r->files[r->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = p;
	f->cookie = cookie;
	f->size = size;
	f->mtime_ns = mtime_ns;
	f->fd = -1;
	f->dfd = -1;
	return (int)r->nfiles++;
}

/*
 * open() a path that must be a regular file. O_NONBLOCK keeps a FIFO put
 * in the file's place from blocking us; it is cleared again afterwards
 * because io_uring would turn it into -EAGAIN on uncached buffered reads.
 * O_NOATIME spares an inode write per file; it needs ownership or
 * CAP_FOWNER, so it is dropped for good after the first EPERM.
 * Return: the descriptor, or -errno (-EISDIR, -EINVAL for non-regular).
 */
static int open_regular(struct reader *r, const char *path, struct stat *st)
{
	int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = -1, fl, ret;

	if (r->noatime) {
		fd = open(path, flags | O_NOATIME);
		if (fd < 0 && errno == EPERM) {
			fd = open(path, flags);
			if (fd >= 0)
				r->noatime = 0;
		}
	} else {
		fd = open(path, flags);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0) {
		ret = -errno;
		goto err;
	}
	if (!S_ISREG(st->st_mode)) {
		ret = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		goto err;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
		goto err;
	}
	return fd;
err:
	close(fd);
	return ret;
}

/*
 * Whether no page of the open file fd is in the page cache. Such a file has
 * nothing to spare: reading it O_DIRECT into our buffers leaves the cache
 * as it was, like RWF_DONTCACHE, but without the copy out of the page cache
 * and the cache's own bookkeeping (about 5% of a backup's CPU), and without
 * allocating page-cache pages at all. A file with any page cached (say an
 * SSTable Cassandra is reading) keeps RWF_DONTCACHE, which serves those
 * pages from memory. Return: 1 uncached, 0 cached or unknown.
 */
static int file_uncached(struct reader *r, int fd)
{
	struct reader_cachestat_range range = { 0, 0 };   /* to the end */
	struct reader_cachestat cs;

	if (!r->cachestat_ok)
		return 0;
	if (syscall(__NR_cachestat, fd, &range, &cs, 0) < 0) {
		if (errno == ENOSYS || errno == EPERM)
			r->cachestat_ok = 0;
		return 0;
	}
	return cs.nr_cache == 0;
}

/*
 * Open f for reading in the reader's current cache mode. In O_DIRECT mode a
 * second, O_DIRECT descriptor serves the aligned part of the file; the
 * buffered one serves an unaligned tail and fstat(). The two opens must
 * reach the same inode, else the path was replaced in between (-ESTALE).
 * Return: 0 or -errno.
 */
static int file_open(struct reader *r, struct rfile *f)
{
	struct stat st, dst;
	int ret, fl;

	f->opened = 1;
	f->cmode = r->pref;
	ret = open_regular(r, f->path, &st);
	if (ret < 0)
		goto out;
	f->fd = ret;
	f->isopen = 1;
	r->nopen++;
	ret = 0;
	if (f->cmode == CM_DONTCACHE && r->direct_ok &&
	    f->size >= READER_ALIGN && file_uncached(r, f->fd))
		f->cmode = CM_DIRECT;
	if (f->cmode != CM_DIRECT || f->size < READER_ALIGN)
		goto out;
	/* O_NOATIME is known to work or not by now (first open). */
	f->dfd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
			       O_DIRECT | (r->noatime ? O_NOATIME : 0));
	if (f->dfd < 0 && errno == EINVAL) {
		/* This file system has no O_DIRECT (e.g. tmpfs before
		 * 6.6): use fadvise from now on, or stay with
		 * RWF_DONTCACHE when that was the mode. */
		reader_downgrade(r, CM_DIRECT, CM_FADVISE);
		r->direct_ok = 0;
		reader_update_mode(r);
		f->cmode = r->pref == CM_DONTCACHE ? CM_DONTCACHE : CM_FADVISE;
	} else if (f->dfd < 0) {
		ret = -errno;
	} else if (fstat(f->dfd, &dst) < 0) {
		ret = -errno;
	} else if (dst.st_dev != st.st_dev || dst.st_ino != st.st_ino) {
		ret = -ESTALE;
	} else if ((fl = fcntl(f->dfd, F_GETFL)) < 0 ||
		   fcntl(f->dfd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
	}
	/* O_DIRECT chosen only because nothing was cached: any failure to
	 * set it up but a replaced path means RWF_DONTCACHE, as planned. */
	if (ret && ret != -ESTALE && r->pref == CM_DONTCACHE) {
		if (f->dfd >= 0)
			close(f->dfd);
		f->dfd = -1;
		f->cmode = CM_DONTCACHE;
		ret = 0;
	}
out:
	free(f->path);
	f->path = NULL;
	return ret;
}

/*
 * The after-the-last-read check: the file must still have the size and
 * mtime the caller scanned, else it changed while we read it and the bytes
 * we delivered may be a mix of two versions.
 * Return: 0, -ESTALE, or -errno of fstat.
 */
static int file_check(const struct rfile *f)
{
	struct stat st;
	int64_t mt;

	if (fstat(f->fd, &st) < 0)
		return -errno;
	mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if ((uint64_t)st.st_size != f->size || mt != f->mtime_ns)
		return -ESTALE;
	return 0;
}

/*
 * Choose the next piece of s to read: the part not read yet. With O_DIRECT
 * only an aligned, whole-block prefix goes direct; what is left (a file's
 * unaligned tail, or the rest after a short direct read) is read buffered.
 */
static void slot_piece(const struct reader *r, struct rslot *s, int *fd,
		       uint64_t *pos, uint32_t *len, int *rwf)
{
	const struct rfile *f = &r->files[s->b.file];

	*pos = s->b.off + s->got;
	*len = s->want - s->got;
	*fd = f->fd;
	*rwf = 0;
	s->piece = PIECE_BUFFERED;
	if (f->cmode == CM_DIRECT && f->dfd >= 0 && *pos % READER_ALIGN == 0 &&
	    *len >= READER_ALIGN && s->got % READER_ALIGN == 0) {
		*fd = f->dfd;
		*len &= ~(READER_ALIGN - 1);
		s->piece = PIECE_DIRECT;
	} else if (f->cmode == CM_DONTCACHE) {
		*rwf = RWF_DONTCACHE;
		s->piece = PIECE_DONTCACHE;
	}
	if (s->piece == PIECE_BUFFERED && f->cmode != CM_PLAIN)
		s->buffered = 1;
}

/*
 * Start the next piece of s. With io_uring an SQE is queued (submitted by
 * the caller's next submit or wait); in pread mode the piece is only marked
 * pending and done synchronously when s reaches the head of the queue.
 * From here until the completion the buffer belongs to the kernel.
 */
static void slot_issue(struct reader *r, struct rslot *s)
{
	struct io_uring_sqe *sqe;
	uint64_t pos;
	uint32_t len;
	int fd, rwf, ret;

	s->busy = 1;
	if (!r->uring)
		return;
	slot_piece(r, s, &fd, &pos, &len, &rwf);
	sqe = ring_get_sqe(&r->ring, &ret);
	if (!sqe) {
		/* The ring is unusable: the reader is broken. The slot is
		 * not in the kernel, so it must not count as busy. */
		s->busy = 0;
		r->err = ret;
		return;
	}
	if (r->fixed)
		io_uring_prep_read_fixed(sqe, fd, s->b.data + s->got, len, pos,
					 (int)s->idx);
	else
		io_uring_prep_read(sqe, fd, s->b.data + s->got, len, pos);
	sqe->rw_flags = rwf;
	io_uring_sqe_set_data(sqe, s);
	r->nbusy++;
}

/*
 * A piece of s finished with res (bytes, or -errno). Decides whether the
 * slot is done or needs another piece: short reads are continued, refused
 * cache-sparing methods fall back and retry, EOF before the expected size
 * and hard errors end the slot and stop the file.
 */
static void slot_complete(struct reader *r, struct rslot *s, int res)
{
	struct rfile *f = &r->files[s->b.file];

	s->busy = 0;
	if (r->closing)
		return;
	if ((res == -EAGAIN || res == -EINTR) &&
	    s->retries < READER_MAX_RETRY) {
		s->retries++;
		slot_issue(r, s);
		return;
	}
	if (s->piece == PIECE_DONTCACHE &&
	    (res == -EOPNOTSUPP || res == -EINVAL)) {
		/*
		 * The kernel (before 6.14) or this file system does not do
		 * uncached reads. This file is already open buffered, so it
		 * drops the pages with fadvise; files opened later try the
		 * next method.
		 */
		reader_downgrade(r, CM_DONTCACHE, weaker_than_dontcache(r));
		f->cmode = CM_FADVISE;
		slot_issue(r, s);
		return;
	}
	if (s->piece == PIECE_DIRECT && res == -EINVAL) {
		/* O_DIRECT opened but the device refuses our alignment. */
		reader_downgrade(r, CM_DIRECT, CM_FADVISE);
		r->direct_ok = 0;
		reader_update_mode(r);
		f->cmode = r->pref == CM_DONTCACHE ? CM_DONTCACHE : CM_FADVISE;
		slot_issue(r, s);
		return;
	}
	if (res < 0) {
		s->err = res;
		s->done = 1;
		f->stopped = 1;
		return;
	}
	if (res == 0) {
		/* EOF before the size we were told: the file shrank. The
		 * slot ends short and the delivery marks it -ESTALE. */
		s->done = 1;
		f->stopped = 1;
		return;
	}
	s->got += (uint32_t)res;
	if (s->got < s->want) {
		/* Short read (signal, page cache pressure, or a short
		 * O_DIRECT read at a block boundary): read the rest. */
		slot_issue(r, s);
		return;
	}
	s->done = 1;
}

static struct rslot *slot_take(struct reader *r)
{
	struct rslot *s = &r->slots[r->freestk[--r->nfree]];

	s->state = SLOT_QUEUED;
	s->want = 0;
	s->got = 0;
	s->err = 0;
	s->done = 0;
	s->busy = 0;
	s->buffered = 0;
	s->retries = 0;
	return s;
}

static void slot_put(struct reader *r, struct rslot *s)
{
	s->state = SLOT_FREE;
	r->freestk[r->nfree++] = s->idx;
}

/* Append s for file fi at off to the order queue (the FIFO that fixes the
 * delivery order). Capacity nbufs suffices: only taken slots are queued. */
static void order_push(struct reader *r, struct rslot *s, uint32_t fi,
		       uint64_t off)
{
	struct rfile *f = &r->files[fi];

	s->b.file = fi;
	s->b.cookie = f->cookie;
	s->b.off = off;
	s->b.len = 0;
	s->b.last = 0;
	s->b.err = 0;
	r->order[(r->ohead + r->ocount) % r->nbufs] = s;
	r->ocount++;
	f->nqueued++;
}

/*
 * Hand out ranges to free slots, in list order, for as long as there are
 * free slots, files, and descriptors under the cap. This is the only place
 * that opens files and the only place that decides (file, offset) order.
 */
static void reader_fill(struct reader *r)
{
	while (r->nfree > 0 && r->cur < r->nfiles && !r->err) {
		uint32_t fi = r->cur;
		struct rfile *f = &r->files[fi];
		struct rslot *s;
		int ret;

		if (f->stopped) {
			r->cur++;
			continue;
		}
		if (!f->opened) {
			if (r->nopen >= READER_MAX_OPEN)
				break;
			ret = file_open(r, f);
			if (ret < 0) {
				/* One error buffer stands for the file. */
				s = slot_take(r);
				order_push(r, s, fi, 0);
				s->err = ret;
				s->done = 1;
				f->stopped = 1;
				r->cur++;
				continue;
			}
		}
		s = slot_take(r);
		order_push(r, s, fi, f->plan_off);
		s->want = (uint32_t)SV_MIN((uint64_t)r->buf_size,
					   f->size - f->plan_off);
		f->plan_off += s->want;
		if (f->plan_off == f->size) {
			f->stopped = 1;
			r->cur++;
		}
		if (s->want == 0)
			s->done = 1;	/* empty file: checked on delivery */
		else
			slot_issue(r, s);
	}
}

/* Process every completion that is ready (io_uring mode). */
static void reader_reap(struct reader *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		struct rslot *s = io_uring_cqe_get_data(cqe);

		r->nbusy--;
		slot_complete(r, s, cqe->res);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

/* Make progress on the head slot h, which is not done yet. */
static int reader_wait(struct reader *r, struct rslot *h)
{
	int ret;

	if (r->uring) {
		/* Not done and queued means its read is in the kernel, or
		 * in the submission queue, which ring_wait() submits. */
		if (r->nbusy == 0)
			return -EIO;
		ret = ring_wait(&r->ring);
		if (ret < 0)
			return ret;
		reader_reap(r);
		return r->err;
	}
	/* pread mode: do the head's pieces now, with the same rules. */
	while (h->busy && !r->err) {
		struct iovec iov;
		uint64_t pos;
		uint32_t len;
		int fd, rwf;
		ssize_t n;

		slot_piece(r, h, &fd, &pos, &len, &rwf);
		iov.iov_base = h->b.data + h->got;
		iov.iov_len = len;
		if (rwf)
			n = preadv2(fd, &iov, 1, (off_t)pos, rwf);
		else
			n = pread(fd, iov.iov_base, len, (off_t)pos);
		slot_complete(r, h, n < 0 ? -errno : (int)n);
	}
	return r->err;
}

/* Submit the SQEs queued by fills and resubmissions, so no read waits in
 * the submission queue while the consumer works. */
static void reader_flush(struct reader *r)
{
	int ret;

	if (!r->uring || r->err || io_uring_sq_ready(&r->ring) == 0)
		return;
	ret = ring_submit(&r->ring);
	if (ret < 0)
		r->err = ret;
}

/*
 * Turn the completed head slot into the buffer the consumer sees: decide
 * last and err, run the change check on the file's last buffer, drop the
 * consumed range from the page cache where that is the sparing method, and
 * close the file once nothing of it is queued.
 */
static void slot_finish(struct reader *r, struct rslot *s)
{
	struct rfile *f = &r->files[s->b.file];

	s->b.len = s->got;
	s->b.err = s->err;
	if (s->err) {
		s->b.last = 1;
	} else if (s->got < s->want) {
		s->b.err = -ESTALE;
		s->b.last = 1;
	} else if (s->b.off + s->got == f->size) {
		s->b.last = 1;
		s->b.err = file_check(f);
	}
	/*
	 * The bytes are in our buffer now, so their page-cache copy can go.
	 * Delivery is in order, so the ranges to drop grow contiguously;
	 * they are dropped in batches, and at the latest with the file's
	 * last buffer, while the descriptor is still open.
	 */
	if (s->buffered && s->got > 0) {
		if (f->fadv_hi == f->fadv_lo)
			f->fadv_lo = s->b.off;
		f->fadv_hi = s->b.off + s->got;
	}
	if (s->b.last) {
		f->ended = 1;
		f->stopped = 1;
	}
	if (f->fadv_hi > f->fadv_lo && f->fd >= 0 &&
	    (s->b.last || f->fadv_hi - f->fadv_lo >= READER_FADV_BATCH)) {
		(void)posix_fadvise(f->fd, (off_t)f->fadv_lo,
				    (off_t)(f->fadv_hi - f->fadv_lo),
				    POSIX_FADV_DONTNEED);
		f->fadv_lo = f->fadv_hi;
	}
	if (f->ended && f->nqueued == 0)
		file_close(r, f);
}

int reader_next(struct reader *r, struct rbuf **out)
{
	int ret;

	*out = NULL;
	if (r->err)
		return r->err;
	for (;;) {
		struct rslot *s;
		struct rfile *f;

		reader_fill(r);
		if (r->err)
			return r->err;
		if (r->ocount == 0) {
			if (r->cur >= r->nfiles)
				return 1;
			/* Files are left but no slot is free or queued: the
			 * consumer holds the whole pool. */
			return r->nfree == 0 ? -ENOBUFS : -EDEADLK;
		}
		s = r->order[r->ohead];
		if (!s->done) {
			/*
			 * In-order delivery: even if later slots are done,
			 * the consumer waits for the head. This is where a
			 * slow disk stalls the pipeline, and the only place
			 * the reader sleeps.
			 */
			ret = reader_wait(r, s);
			if (ret < 0) {
				r->err = ret;
				return ret;
			}
			continue;
		}
		r->ohead = (r->ohead + 1) % r->nbufs;
		r->ocount--;
		f = &r->files[s->b.file];
		f->nqueued--;
		if (f->ended) {
			/*
			 * A read behind a buffer that already ended its file
			 * (error or early EOF): nobody wants its bytes. The
			 * slot is done, so the kernel is finished with it
			 * and it can go straight back to the pool.
			 */
			slot_put(r, s);
			if (f->nqueued == 0)
				file_close(r, f);
			continue;
		}
		slot_finish(r, s);
		s->state = SLOT_USER;
		reader_flush(r);
		if (r->err) {
			slot_put(r, s);
			return r->err;
		}
		*out = &s->b;
		return 0;
	}
}

void reader_release(struct reader *r, struct rbuf *b)
{
	struct rslot *s;

	if (!b)
		return;
	/* b is the first member of its slot. */
	s = (struct rslot *)((char *)b - offsetof(struct rslot, b));
	if (s < r->slots || s >= r->slots + r->nbufs || s->state != SLOT_USER)
		return;	/* not ours, or released twice: ignore */
	slot_put(r, s);
	/* The freed slot can take the next range at once, so the pool stays
	 * busy while the consumer works on the buffers it still holds. */
	if (!r->err) {
		reader_fill(r);
		reader_flush(r);
	}
}

const char *reader_mode(const struct reader *r)
{
	return r->mode;
}
