/*
 * writer.c - restore-side writes at file offsets, on io_uring.
 *
 * Each restored file is written into "<path>.sstvault-tmp", created with
 * O_EXCL and mode 0600 and preallocated with fallocate(), so that running
 * out of space shows up at open rather than half way through. Writes are
 * queued at their offsets in any order; writer_close() waits for them,
 * fsyncs, applies mode and mtime and renames the temporary into place. A
 * file under its final name is therefore always complete.
 *
 * Requests: the writer has depth request records, allocated once. A
 * record is taken by writer_write() and given back just before its done
 * callback runs, so at most depth writes are in flight and a caller that
 * writes faster than the disk blocks in writer_write() (which reaps) rather
 * than growing a queue. The data buffer is never copied: it belongs to the
 * caller, and the kernel reads it until the completion, which is why the
 * caller must not touch it before done. Registered (fixed) buffers are not
 * used for the same reason: the memory is not ours to register.
 *
 * Callback discipline: a request's record is freed and its CQE consumed
 * before the callback runs, so the callback may queue new writes (even
 * re-entering writer_poll() when the queue is full) without seeing a
 * half-processed completion. Completions in pwrite mode are parked on a
 * FIFO and delivered from writer_poll(), exactly like io_uring ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/ring.h"
#include "io/writer.h"

#define WRITER_DEF_DEPTH 32u
#define WRITER_MAX_DEPTH 4096u
#define WRITER_MAX_PIECE (1u << 30)	/* below the kernel's MAX_RW_COUNT */
#define WRITER_MAX_RETRY 32
#define WRITER_TMP_SUFFIX ".sstvault-tmp"
#define WRITER_MODE_LEN 192

struct wfile {
	char *path;		/* final name; NULL when the handle is free */
	char *tmp;		/* path + WRITER_TMP_SUFFIX */
	int fd;			/* descriptor of tmp */
	int err;		/* first write error of the file */
	int overwrite;		/* rename may replace an existing file */
	uint32_t inflight;	/* writes queued whose done has not run yet */
};

struct wreq {
	const uint8_t *buf;	/* caller's data, read by the kernel */
	uint64_t off;
	size_t len;
	size_t done;		/* bytes written so far (short writes) */
	writer_done_fn fn;
	void *cookie;
	int h;
	int res;		/* final result while on the pending FIFO */
	uint32_t idx;
	uint8_t retries;
	uint8_t dontcache;	/* the piece in flight asked for RWF_DONTCACHE */
};

/* Everything is owned by the one thread that drives the writer. */
struct writer {
	unsigned flags;
	uint32_t depth;
	uint32_t max_io;	/* bytes per piece */
	int uring;
	int err;		/* sticky failure of the ring */
	int dontcache;		/* WRITER_F_DONTCACHE, until refused */
	struct io_uring ring;

	struct wreq *reqs;	/* depth records */
	uint32_t *freestk;
	uint32_t nfree;
	uint32_t *pend;		/* finished, callback not yet run (FIFO) */
	uint32_t phead;
	uint32_t pcount;
	uint32_t nbusy;		/* requests in the kernel */

	struct wfile *files;
	uint32_t nfiles;

	char why[RING_WHY_LEN];
	char mode[WRITER_MODE_LEN];
};

static void writer_set_mode(struct writer *w)
{
	if (w->uring)
		snprintf(w->mode, sizeof(w->mode), "io_uring%s",
			 w->dontcache ? ", RWF_DONTCACHE" : "");
	else
		snprintf(w->mode, sizeof(w->mode),
			 "pwrite (io_uring unavailable: %s)", w->why);
}

int writer_create(struct writer **out, const struct writer_opts *o)
{
	static const int ops[] = { IORING_OP_WRITE };
	struct writer *w;
	int ret = -ENOMEM;

	*out = NULL;
	if (o && o->depth > WRITER_MAX_DEPTH)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->depth = o && o->depth ? o->depth : WRITER_DEF_DEPTH;
	w->flags = o ? o->flags : 0;
	w->max_io = o && o->max_io ? SV_MIN(o->max_io, WRITER_MAX_PIECE)
				   : WRITER_MAX_PIECE;
	w->reqs = calloc(w->depth, sizeof(*w->reqs));
	w->freestk = calloc(w->depth, sizeof(*w->freestk));
	w->pend = calloc(w->depth, sizeof(*w->pend));
	if (!w->reqs || !w->freestk || !w->pend)
		goto err;
	for (uint32_t i = 0; i < w->depth; i++) {
		w->reqs[i].idx = i;
		w->freestk[w->depth - 1 - i] = i;
	}
	w->nfree = w->depth;
	if (w->flags & WRITER_F_NO_URING)
		snprintf(w->why, sizeof(w->why), "%s",
			 "disabled by WRITER_F_NO_URING");
	else if (ring_init(&w->ring, w->depth, ops, SV_ARRAY_SIZE(ops), w->why,
			   sizeof(w->why)) == 0)
		w->uring = 1;
	w->dontcache = w->uring && (w->flags & WRITER_F_DONTCACHE);
	writer_set_mode(w);
	*out = w;
	return 0;
err:
	writer_destroy(w);
	return ret;
}

static struct wfile *writer_file(struct writer *w, int h)
{
	if (h < 0 || (uint32_t)h >= w->nfiles || !w->files[h].path)
		return NULL;
	return &w->files[h];
}

/* Close, unlink the temporary and free the handle. */
static void file_abort(struct wfile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->path);
	free(f->tmp);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

static void req_issue(struct writer *w, struct wreq *q);

/*
 * Park a finished request on the pending FIFO; its callback runs from the
 * next writer_poll(). Capacity depth suffices: each request is at most
 * once on it.
 */
static void req_park(struct writer *w, struct wreq *q, int res)
{
	q->res = res;
	w->pend[(w->phead + w->pcount) % w->depth] = q->idx;
	w->pcount++;
}

/*
 * The request is over: record the file's first error, give the record
 * back, then run the callback (last, so that it may queue new writes).
 */
static void req_finish(struct writer *w, struct wreq *q, int res)
{
	struct wfile *f = &w->files[q->h];
	writer_done_fn fn = q->fn;
	void *cookie = q->cookie;

	if (res < 0 && !f->err)
		f->err = res;
	f->inflight--;
	w->freestk[w->nfree++] = q->idx;
	if (fn)
		fn(cookie, res);
}

/*
 * A piece of q finished with res. Short writes are continued from where
 * they stopped; only the whole request's outcome reaches the caller.
 * Return: 1 if the callback ran, 0 if the request goes on.
 */
static int req_complete(struct writer *w, struct wreq *q, int res)
{
	/* A kernel or file system without RWF_DONTCACHE for writes refuses
	 * the flag; write through the page cache from then on. */
	if ((res == -EOPNOTSUPP || res == -EINVAL) && q->dontcache) {
		w->dontcache = 0;
		writer_set_mode(w);
		req_issue(w, q);
		return 0;
	}
	if ((res == -EAGAIN || res == -EINTR) &&
	    q->retries < WRITER_MAX_RETRY) {
		q->retries++;
		req_issue(w, q);
		return 0;
	}
	if (res > 0) {
		q->done += (size_t)res;
		if (q->done < q->len) {
			req_issue(w, q);
			return 0;
		}
		res = (int)q->len;
	} else if (res == 0) {
		/* A regular file accepting no byte without an error would
		 * make us loop forever; call it an IO error. */
		res = -EIO;
	}
	req_finish(w, q, res);
	return 1;
}

/* Queue the rest of q (io_uring mode). On a ring failure the request fails
 * with that error, delivered like any completion. */
static void req_issue(struct writer *w, struct wreq *q)
{
	struct wfile *f = &w->files[q->h];
	struct io_uring_sqe *sqe;
	size_t len = q->len - q->done;
	int ret;

	if (len > w->max_io)
		len = w->max_io;
	sqe = ring_get_sqe(&w->ring, &ret);
	if (!sqe) {
		w->err = ret;
		req_park(w, q, ret);
		return;
	}
	io_uring_prep_write(sqe, f->fd, q->buf + q->done, (unsigned)len,
			    q->off + q->done);
	if (w->dontcache)
		sqe->rw_flags = RWF_DONTCACHE;
	q->dontcache = w->dontcache;
	io_uring_sqe_set_data(sqe, q);
	w->nbusy++;
}

/* pwrite mode: the whole write, now. Return: len or -errno. */
static int req_pwrite(struct writer *w, struct wreq *q)
{
	int fd = w->files[q->h].fd;

	while (q->done < q->len) {
		size_t len = SV_MIN(q->len - q->done, (size_t)w->max_io);
		ssize_t n = pwrite(fd, q->buf + q->done, len,
				   (off_t)(q->off + q->done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		q->done += (size_t)n;
	}
	return (int)q->len;
}

int writer_poll(struct writer *w, int wait)
{
	struct io_uring_cqe *cqe;
	int n = 0, ret;

	for (;;) {
		/*
		 * Finished requests first. Only those parked on entry:
		 * callbacks that write again (pwrite mode) park new ones,
		 * which wait for the next call instead of looping here.
		 */
		for (uint32_t k = w->pcount; k > 0; k--) {
			struct wreq *q = &w->reqs[w->pend[w->phead]];

			w->phead = (w->phead + 1) % w->depth;
			w->pcount--;
			req_finish(w, q, q->res);
			n++;
		}
		if (!w->uring)
			return n;
		if (w->err)
			return n > 0 ? n : w->err;
		if (wait && n == 0 && w->nbusy > 0) {
			ret = ring_wait(&w->ring);
			if (ret < 0) {
				w->err = ret;
				return ret;
			}
		} else if (io_uring_sq_ready(&w->ring)) {
			ret = ring_submit(&w->ring);
			if (ret < 0) {
				w->err = ret;
				return ret;
			}
		}
		/*
		 * One CQE at a time, marked seen before its callback runs:
		 * a callback may re-enter writer_poll() through
		 * writer_write(), and must not see this CQE again.
		 */
		while (io_uring_peek_cqe(&w->ring, &cqe) == 0) {
			struct wreq *q = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&w->ring, cqe);
			w->nbusy--;
			n += req_complete(w, q, res);
		}
		/* Continuations of short writes go out now. */
		if (io_uring_sq_ready(&w->ring)) {
			ret = ring_submit(&w->ring);
			if (ret < 0) {
				w->err = ret;
				return ret;
			}
		}
		/* Waiting means "until a callback ran": a reaped short
		 * write that was resubmitted does not count. */
		if (!wait || n > 0 || (w->nbusy == 0 && w->pcount == 0))
			return n;
	}
}

int writer_open(struct writer *w, const char *path, uint64_t size,
		int overwrite)
{
	struct wfile *f = NULL;
	struct stat st;
	uint32_t h;
	size_t plen;
	int ret;

	if (!path || !path[0])
		return -EINVAL;
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (!overwrite)
			return -EEXIST;
	} else if (errno != ENOENT) {
		return -errno;
	}
	/* A free handle, or a new one. */
	for (h = 0; h < w->nfiles; h++)
		if (!w->files[h].path)
			break;
	if (h == w->nfiles) {
		struct wfile *nf;

		if (w->nfiles >= INT_MAX)
			return -EMFILE;
		nf = realloc(w->files, ((size_t)w->nfiles + 1) * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		w->files = nf;
		w->nfiles++;
	}
	f = &w->files[h];
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->overwrite = overwrite;
	plen = strlen(path);
	ret = -ENOMEM;
	f->path = strdup(path);
	f->tmp = malloc(plen + sizeof(WRITER_TMP_SUFFIX));
	if (!f->path || !f->tmp)
		goto err;
	memcpy(f->tmp, path, plen);
	memcpy(f->tmp + plen, WRITER_TMP_SUFFIX, sizeof(WRITER_TMP_SUFFIX));

	/* A temporary left by a crashed restore is garbage by definition. */
	if (unlink(f->tmp) < 0 && errno != ENOENT) {
		ret = -errno;
		free(f->tmp);
		f->tmp = NULL;	/* not ours: do not unlink it again */
		goto err;
	}
	f->fd = open(f->tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (f->fd < 0) {
		ret = -errno;
		free(f->tmp);
		f->tmp = NULL;	/* someone else's (EEXIST): leave it */
		goto err;
	}
	if (size > 0 && fallocate(f->fd, 0, 0, (off_t)size) < 0) {
		ret = -errno;
		/*
		 * No preallocation on this file system: set the size so the
		 * file still ends up exactly size bytes long. Any other
		 * error (ENOSPC, EDQUOT, EFBIG) is the answer.
		 */
		if (ret != -EOPNOTSUPP && ret != -ENOSYS)
			goto err;
		if (ftruncate(f->fd, (off_t)size) < 0) {
			ret = -errno;
			goto err;
		}
	}
	return (int)h;
err:
	file_abort(f);
	return ret;
}

int writer_write(struct writer *w, int h, uint64_t off, const void *buf,
		 size_t len, writer_done_fn done, void *cookie)
{
	struct wfile *f = writer_file(w, h);
	struct wreq *q;
	int ret;

	if (!f)
		return -EBADF;
	if (len > INT_MAX || (len && !buf) || off > (uint64_t)INT64_MAX - len)
		return -EINVAL;
	if (w->err)
		return w->err;
	/*
	 * Backpressure: with every record in use, deliver completions
	 * (which may run callbacks, including ones that write again) until
	 * one is free.
	 */
	while (w->nfree == 0) {
		ret = writer_poll(w, 1);
		if (ret < 0)
			return ret;
		/* Every record is free, parked or in the kernel, so a poll
		 * that found none of the latter two cannot free one. */
		if (w->nfree == 0 && w->nbusy == 0 && w->pcount == 0)
			return -EIO;
	}
	/* The poll may have run callbacks that closed or reused nothing of
	 * ours, but it may have moved w->files: look the file up again. */
	f = writer_file(w, h);
	if (!f)
		return -EBADF;
	q = &w->reqs[w->freestk[--w->nfree]];
	q->buf = buf;
	q->off = off;
	q->len = len;
	q->done = 0;
	q->fn = done;
	q->cookie = cookie;
	q->h = h;
	q->retries = 0;
	f->inflight++;
	if (len == 0)
		req_park(w, q, 0);
	else if (!w->uring)
		req_park(w, q, req_pwrite(w, q));
	else {
		req_issue(w, q);
		/* Submit now: a restore write should not wait for the next
		 * poll to reach the disk. */
		if (!w->err && io_uring_sq_ready(&w->ring)) {
			ret = ring_submit(&w->ring);
			if (ret < 0)
				w->err = ret;
		}
	}
	return 0;
}

static struct timespec ns_to_timespec(int64_t ns)
{
	struct timespec ts;
	int64_t sec = ns / 1000000000, rem = ns % 1000000000;

	/* Floor division, so times before 1970 keep 0 <= tv_nsec < 1e9. */
	if (rem < 0) {
		rem += 1000000000;
		sec--;
	}
	ts.tv_sec = (time_t)sec;
	ts.tv_nsec = (long)rem;
	return ts;
}

/*
 * Move tmp to path. Without overwrite, RENAME_NOREPLACE makes the "does
 * the final name exist" test and the rename one atomic step; file systems
 * without it get a check then a plain rename.
 */
static int rename_final(const struct wfile *f)
{
	struct stat st;

	if (f->overwrite)
		return rename(f->tmp, f->path) < 0 ? -errno : 0;
	if (renameat2(AT_FDCWD, f->tmp, AT_FDCWD, f->path,
		      RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (lstat(f->path, &st) == 0)
		return -EEXIST;
	return rename(f->tmp, f->path) < 0 ? -errno : 0;
}

int writer_close(struct writer *w, int h, int ok, uint32_t mode,
		 int64_t mtime_ns)
{
	struct timespec times[2];
	struct wfile *f = writer_file(w, h);
	int ret = 0;

	if (!f)
		return -EBADF;
	/* Every write of this file must be finished (and its callback run)
	 * before fsync, and before an abort closes the descriptor. */
	while (f->inflight > 0) {
		ret = writer_poll(w, 1);
		f = &w->files[h];	/* callbacks may have opened files */
		if (ret < 0)
			break;
		ret = 0;
	}
	if (!ret)
		ret = f->err;
	if (ok && !ret) {
		if (!(w->flags & WRITER_F_NO_FSYNC) && fsync(f->fd) < 0)
			ret = -errno;
		if (!ret && fchmod(f->fd, (mode_t)(mode & 07777)) < 0)
			ret = -errno;
		times[0].tv_sec = 0;
		times[0].tv_nsec = UTIME_OMIT;
		times[1] = ns_to_timespec(mtime_ns);
		if (!ret && futimens(f->fd, times) < 0)
			ret = -errno;
	}
	/* close() can report a deferred write error (NFS): it counts. */
	if (close(f->fd) < 0 && ok && !ret)
		ret = -errno;
	f->fd = -1;
	if (ok && !ret)
		ret = rename_final(f);
	if (ok && !ret) {
		/* Renamed: the temporary name no longer exists. */
		free(f->tmp);
		f->tmp = NULL;
	}
	file_abort(f);
	return ret;
}

void writer_destroy(struct writer *w)
{
	if (!w)
		return;
	/*
	 * The kernel may be reading caller buffers and writing our
	 * descriptors: wait for all of it, and hand every buffer back
	 * through its callback, before closing anything.
	 */
	while (w->nbusy > 0 || w->pcount > 0)
		if (writer_poll(w, 1) < 0)
			break;
	if (w->uring)
		io_uring_queue_exit(&w->ring);
	for (uint32_t i = 0; i < w->nfiles; i++)
		if (w->files[i].path)
			file_abort(&w->files[i]);
	free(w->files);
	free(w->reqs);
	free(w->freestk);
	free(w->pend);
	free(w);
}

const char *writer_mode(const struct writer *w)
{
	return w->mode;
}
