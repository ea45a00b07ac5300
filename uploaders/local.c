/*
 * local.c - a repository in a local directory (the embedded default).
 *
 * Objects are files under the root, named by their repository key. Every
 * object is written to "<root>/tmp/<random>" first, fsynced, and renamed into
 * place, then the parent directory is fsynced: a crash at any point, power
 * loss included, leaves either no object or the whole object, never a torn
 * one (leftovers in tmp/ are garbage that prune removes). Objects written with
 * UPL_PUT_NO_OVERWRITE use renameat2(RENAME_NOREPLACE), so two writers can
 * never replace each other's manifest.
 *
 * Small objects (put()) are written synchronously. Packs (open(),
 * put_part(), complete()) carry a backup's bytes, and are written so that
 * neither the copy nor the disk stalls the packer thread that drives us:
 *
 *  - Parts are written with O_DIRECT, straight from the caller's buffer, on
 *    io_uring: no copy into the page cache (that copy was 31% of a local
 *    backup's CPU), no repository data evicting the node's hot pages, and
 *    put_part() returns SV_Q_QUEUED at once; reap() hands the buffer back
 *    when its write is done. Direct IO needs the buffer, the file offset and
 *    the length aligned to LOCAL_DIO_ALIGN: the unaligned tail of a pack's
 *    last part, and any part that is not aligned at all, go through a
 *    second, buffered descriptor of the same file, once no direct write of
 *    that file is in flight.
 *  - complete() waits for the object's writes and hands the file to the
 *    syncer thread, which fsyncs it, renames it into place and fsyncs the
 *    directory, exactly as put() does, while the packer fills the next
 *    pack. A pack is thus still durable before it has its name; it just
 *    gets the name a little later. Several packs waiting together are
 *    fsynced together, so the disk's cache flush (~45 ms per 64 MiB pack on
 *    the benchmark VM) is paid once for all of them.
 *  - Ordering: every later operation of the uploader (put, get, get_part,
 *    stat, list, remove, remove_many, and a complete() of an object written
 *    with UPL_PUT_NO_OVERWRITE) first waits until the syncer has finished
 *    every object handed to it. The repository's write order packs ->
 *    index -> snapshot therefore holds on disk, power loss included: the
 *    index object is not even written before every pack it lists is
 *    durable under its name. If the syncer fails (fsync, rename), the
 *    uploader is broken: that operation and every later one return the
 *    first error, with its detail in errbuf, and the objects still waiting
 *    are dropped (unlinked from tmp/), never renamed.
 *
 * Ranged reads (get_part(), what a restore uses) go the same way: O_DIRECT
 * on io_uring straight into the caller's buffer when buffer, offset and
 * length are aligned, several in flight, each completion handed back by
 * reap(). A cold read through the page cache costs a copy plus the page
 * allocations, and on the benchmark VM the latter are the dominant cost
 * (pages the host has reclaimed fault in again).
 *
 * Without io_uring (or with SSTVAULT_NO_URING=1) parts are written at once
 * with pwrite(), still O_DIRECT where the file system allows it, and
 * put_part() and get_part() return SV_Q_DONE. Where O_DIRECT is refused (tmpfs, some
 * network file systems) parts are buffered writes whose writeback
 * sync_file_range() starts at once.
 *
 * Threads: one thread at a time drives an uploader (the packer thread
 * during a backup, the main thread before and after); everything in
 * struct local_priv but the syncer fields belongs to it. The syncer thread
 * touches only the syncer queue and the files handed to it, under sy_lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/ring.h"
#include "uploaders/uploader.h"

#define LOCAL_PART_SIZE (8u << 20)  /* default part size (upl_opts) */
#define LOCAL_DEPTH 32u             /* parts and ranges not yet reaped */
#define LOCAL_DIO_ALIGN 4096u       /* buffer, offset and length alignment */
#define LOCAL_SYNC_MAX 16u          /* objects queued for the syncer */
#define LOCAL_MAX_RETRY 16          /* -EAGAIN/-EINTR resubmissions */

struct local_write;

/*
 * One part handed to put_part(), or one range handed to get_part(), and not
 * yet handed back by reap(). The caller's buffer is read (part) or written
 * (range) by the kernel until the request is finished; the record is
 * recycled only when reap() returns its cookie.
 */
struct lreq {
	int kind;                /* LREQ_PART or LREQ_RANGE */
	struct local_write *lw;  /* part: NULL once finished (lw may go) */
	void *cookie;
	const uint8_t *data;     /* part: the caller's bytes */
	uint8_t *rbuf;           /* range: the caller's buffer */
	int rfd;                 /* range: descriptor of the object */
	uint64_t off;            /* file offset of data[0] / rbuf[0] */
	size_t dlen;             /* part: leading bytes written with
				  * O_DIRECT; range: bytes asked for */
	size_t done;             /* of dlen, transferred so far */
	size_t tail;             /* part: bytes after dlen, written buffered */
	ssize_t res;             /* first error; the final result once parked */
	int pieces;              /* IO in flight + tail not written */
	int indio;               /* an IO of this request is in the kernel */
	int direct;              /* range: rfd has O_DIRECT */
	unsigned retries;
};

enum { LREQ_PART, LREQ_RANGE };

/*
 * An object being written. Owned by the driving thread while open (as
 * upl_write.priv) and while closing (complete() returned, writes still in
 * flight; counted in nclosing); owned by the syncer thread once queued to
 * it, which closes, renames or unlinks and frees it.
 */
struct local_write {
	int fd;                  /* buffered descriptor of tmp */
	int dfd;                 /* O_DIRECT descriptor of tmp, or -1 */
	int err;                 /* first failure of a part (sticky) */
	int closing;             /* completed while writes were in flight */
	unsigned dio;            /* direct writes of this object in flight */
	struct lreq *tailreq;    /* part whose tail waits for them */
	char tmp[PATH_MAX];
	char path[PATH_MAX];     /* final path, set by complete() */
	struct local_write *next; /* syncer queue link */
};

struct local_priv {
	char root[PATH_MAX];
	int fsync;

	/* The driving thread's. */
	int ring_state;          /* 0 not tried, 1 ready, -1 unavailable */
	int ring_up;             /* ring set up (to release), even if failed */
	struct io_uring ring;
	int dio;                 /* O_DIRECT: -1 not tried, 1 works, 0 no */
	unsigned busy;           /* requests in the kernel */
	unsigned nclosing;       /* completed objects still being written */
	struct lreq reqs[LOCAL_DEPTH];
	unsigned freestk[LOCAL_DEPTH], nfree;
	unsigned fin[LOCAL_DEPTH], fhead, fcount; /* finished, not reaped */

	/* The syncer's queue and state, under sy_lock. */
	int sy_inited;
	pthread_mutex_t sy_lock;
	pthread_cond_t sy_cond;  /* the queue or sy_pending changed */
	int sy_started, sy_stop;
	pthread_t sy_tid;
	struct local_write *sy_head, *sy_tail;
	unsigned sy_pending;     /* queued or being synced */
	int sy_err;              /* first failure of the syncer (sticky) */
	char sy_errbuf[512];
};

static struct local_priv *lp(struct uploader *u)
{
	return u->priv;
}

static int path_of(struct uploader *u, const char *name, char *out)
{
	int n;

	/* Keys come from the engine, never from the repository, but refuse
	 * anything that could leave the root all the same. */
	if (name[0] == '/' || strstr(name, "..")) {
		uploader_seterr(u, "%s: invalid object name", name);
		return -EINVAL;
	}
	n = snprintf(out, PATH_MAX, "%s/%s", lp(u)->root, name);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* mkdir -p of the directory part of path (below the root). */
static int make_parents(char *path)
{
	char *slash = strrchr(path, '/');
	int ret = 0;

	if (!slash)
		return 0;
	*slash = '\0';
	if (mkdir(path, 0700) && errno != EEXIST) {
		if (errno == ENOENT) {
			ret = make_parents(path);
			if (!ret && mkdir(path, 0700) && errno != EEXIST)
				ret = -errno;
		} else {
			ret = -errno;
		}
	}
	*slash = '/';
	return ret;
}

static int fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		ret = -errno;
	close(fd);
	return ret;
}

static int write_all(int fd, const void *data, size_t len, off_t off)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int aligned(uint64_t v)
{
	return (v & (LOCAL_DIO_ALIGN - 1)) == 0;
}

/* ---- the syncer thread ---- */

/* The directory part of path equals that of another path. */
static int same_dir(const char *a, const char *b)
{
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');

	return sa && sb && sa - a == sb - b && !memcmp(a, b, (size_t)(sa - a));
}

/*
 * Make a batch of finished objects durable and give them their names:
 * fsync every file (the first fsync flushes the disk's cache for all of
 * them), rename each, then fsync each directory once. With err set on
 * entry (the uploader is broken) or after the first failure, the rest are
 * unlinked instead. Frees the batch. Return: 0 or the first -errno, with
 * the detail in errbuf (512 bytes).
 */
static int sync_batch(struct local_write *batch, int err, char *errbuf)
{
	struct local_write *lw, *prev;

	for (lw = batch; lw && !err; lw = lw->next) {
		if (fsync(lw->fd)) {
			err = -errno;
			snprintf(errbuf, 512, "cannot write %s: %s", lw->path,
				 strerror(errno));
		}
	}
	for (lw = batch; lw; lw = lw->next) {
		int ret = err ? err : make_parents(lw->path);

		if (!ret && rename(lw->tmp, lw->path))
			ret = -errno;
		if (ret && !err) {
			err = ret;
			snprintf(errbuf, 512, "cannot store %s: %s", lw->path,
				 strerror(-ret));
		}
		if (ret) {
			unlink(lw->tmp);
			lw->path[0] = '\0';
		}
	}
	for (lw = batch; lw; lw = lw->next) {
		int seen = 0;

		if (!lw->path[0])
			continue;
		for (prev = batch; prev != lw && !seen; prev = prev->next)
			seen = prev->path[0] && same_dir(prev->path, lw->path);
		if (!seen && !err) {
			int ret = fsync_parent(lw->path);

			if (ret) {
				err = ret;
				snprintf(errbuf, 512, "cannot store %s: %s",
					 lw->path, strerror(-ret));
			}
		}
	}
	while (batch) {
		lw = batch;
		batch = lw->next;
		close(lw->fd);
		if (lw->dfd >= 0)
			close(lw->dfd);
		free(lw);
	}
	return err;
}

static void *syncer_main(void *arg)
{
	struct local_priv *p = arg;
	char errbuf[512];

	pthread_mutex_lock(&p->sy_lock);
	for (;;) {
		struct local_write *batch;
		unsigned n = 0;
		int err;

		while (!p->sy_head && !p->sy_stop)
			pthread_cond_wait(&p->sy_cond, &p->sy_lock);
		if (!p->sy_head)
			break;
		batch = p->sy_head;
		p->sy_head = p->sy_tail = NULL;
		for (struct local_write *lw = batch; lw; lw = lw->next)
			n++;
		err = p->sy_err;
		pthread_mutex_unlock(&p->sy_lock);
		errbuf[0] = '\0';
		err = sync_batch(batch, err, errbuf);
		pthread_mutex_lock(&p->sy_lock);
		if (err && !p->sy_err) {
			p->sy_err = err;
			memcpy(p->sy_errbuf, errbuf, sizeof(errbuf));
		}
		p->sy_pending -= n;
		pthread_cond_broadcast(&p->sy_cond);
	}
	pthread_mutex_unlock(&p->sy_lock);
	return NULL;
}

static void write_free(struct local_write *lw)
{
	close(lw->fd);
	if (lw->dfd >= 0)
		close(lw->dfd);
	free(lw);
}

/* Start the syncer thread on first use. Return: 0 or -EAGAIN. */
static int syncer_start(struct local_priv *p)
{
	if (!p->sy_started) {
		if (pthread_create(&p->sy_tid, NULL, syncer_main, p))
			return -EAGAIN;
		p->sy_started = 1;
	}
	return 0;
}

/* Break the uploader with err, unless it already is (first error wins). */
static void sync_fail(struct local_priv *p, int err, const char *what)
{
	pthread_mutex_lock(&p->sy_lock);
	if (!p->sy_err) {
		p->sy_err = err;
		snprintf(p->sy_errbuf, sizeof(p->sy_errbuf),
			 "cannot write %s: %s", what, strerror(-err));
	}
	pthread_cond_broadcast(&p->sy_cond);
	pthread_mutex_unlock(&p->sy_lock);
}

/*
 * Give a finished object to the (started) syncer; waits while
 * LOCAL_SYNC_MAX objects are queued. On success the syncer owns lw.
 * Return: 0, or the syncer's sticky failure (lw stays the caller's).
 */
static int sync_push(struct local_priv *p, struct local_write *lw)
{
	int ret = 0;

	pthread_mutex_lock(&p->sy_lock);
	while (p->sy_pending >= LOCAL_SYNC_MAX && !p->sy_err)
		pthread_cond_wait(&p->sy_cond, &p->sy_lock);
	if (p->sy_err) {
		ret = p->sy_err;
	} else {
		lw->next = NULL;
		if (p->sy_tail)
			p->sy_tail->next = lw;
		else
			p->sy_head = lw;
		p->sy_tail = lw;
		p->sy_pending++;
		pthread_cond_broadcast(&p->sy_cond);
	}
	pthread_mutex_unlock(&p->sy_lock);
	return ret;
}

/*
 * The last write of an object that complete() left to finish has ended
 * (its tail is written): hand it to the syncer, or, if a part failed,
 * break the uploader and drop the object.
 */
static void close_finish(struct local_priv *p, struct local_write *lw)
{
	int ret = lw->err;

	p->nclosing--;
	lw->closing = 0;
	if (!ret)
		ret = sync_push(p, lw);
	if (!ret)
		return;
	sync_fail(p, ret, lw->path);
	unlink(lw->tmp);
	write_free(lw);
}

static int ring_poll(struct local_priv *p, int timeout_ms);

/*
 * Wait until every completed object is written, durable and named: the
 * objects complete() left with writes in flight, then the syncer's queue.
 * Called at the start of every operation but open() and put_part(), which
 * is what orders a pack's durability before anything written after it.
 * Return: 0, or the first failure of a background step (sticky; the
 * detail goes to errbuf).
 */
static int settle(struct uploader *u)
{
	struct local_priv *p = lp(u);
	int ret;

	/* Each closing object has a write in the kernel (its last
	 * completion closes it), so this ends. */
	while (p->nclosing && p->busy)
		(void)ring_poll(p, -1);
	pthread_mutex_lock(&p->sy_lock);
	while (p->sy_pending)
		pthread_cond_wait(&p->sy_cond, &p->sy_lock);
	ret = p->sy_err;
	if (ret)
		uploader_seterr(u, "%s", p->sy_errbuf);
	pthread_mutex_unlock(&p->sy_lock);
	return ret;
}

/* ---- direct IO on io_uring (the driving thread) ---- */

/* The request is over: park it until reap() hands its cookie back. A
 * range's result is the bytes read, which is short only at the end of the
 * object. */
static void req_finish(struct local_priv *p, struct lreq *q)
{
	if (--q->pieces > 0)
		return;
	if (!q->res)
		q->res = q->kind == LREQ_RANGE ? (ssize_t)q->done :
			 (ssize_t)(q->dlen + q->tail);
	if (q->kind == LREQ_RANGE) {
		close(q->rfd);
		q->rfd = -1;
	}
	q->lw = NULL;
	p->fin[(p->fhead + p->fcount) % LOCAL_DEPTH] = (unsigned)(q - p->reqs);
	p->fcount++;
}

static void req_fail(struct lreq *q, int err)
{
	if (!q->res)
		q->res = err;
	if (q->lw && !q->lw->err)
		q->lw->err = err;
}

/* Write the waiting tail of lw's last part through the buffered
 * descriptor. Only once no direct write of lw is in flight. */
static void write_tail(struct local_priv *p, struct local_write *lw)
{
	struct lreq *q = lw->tailreq;
	int ret;

	if (!q || lw->dio)
		return;
	lw->tailreq = NULL;
	ret = write_all(lw->fd, q->data + q->dlen, q->tail,
			(off_t)(q->off + q->dlen));
	if (ret)
		req_fail(q, ret);
	req_finish(p, q);
}

/* Queue the rest of q's direct write and submit it. Return: 0 or -errno
 * (nothing was queued). */
static int req_issue(struct local_priv *p, struct lreq *q)
{
	struct io_uring_sqe *sqe;
	int ret;

	sqe = ring_get_sqe(&p->ring, &ret);
	if (!sqe)
		return ret;
	io_uring_prep_write(sqe, q->lw->dfd, q->data + q->done,
			    (unsigned)(q->dlen - q->done), q->off + q->done);
	io_uring_sqe_set_data(sqe, q);
	q->indio = 1;
	q->lw->dio++;
	p->busy++;
	/* Submit now: the disk should not wait for our next call. A
	 * failure to submit leaves the entry queued for the next one. */
	(void)ring_submit(&p->ring);
	return 0;
}

/*
 * A direct write of q completed with res. Short writes are continued;
 * -EINVAL means this file system refuses direct IO after all (a stricter
 * alignment than ours): the rest is written buffered, and later objects do
 * not try O_DIRECT again.
 */
static void req_complete(struct local_priv *p, struct lreq *q, int res)
{
	struct local_write *lw = q->lw;
	int ret;

	q->indio = 0;
	lw->dio--;
	p->busy--;
	if ((res == -EAGAIN || res == -EINTR) &&
	    q->retries++ < LOCAL_MAX_RETRY) {
		ret = req_issue(p, q);
		if (!ret)
			return;
		res = ret;
	}
	if (res > 0) {
		q->done += (size_t)res;
		if (q->done < q->dlen && aligned(q->done)) {
			ret = req_issue(p, q);
			if (!ret)
				return;
			res = ret;
		}
	} else if (res == 0) {
		res = -EIO;
	}
	if (res == -EINVAL && q->done == 0)
		p->dio = 0;
	if ((res == -EINVAL && q->done == 0) ||
	    (res > 0 && q->done < q->dlen)) {
		ret = write_all(lw->fd, q->data + q->done, q->dlen - q->done,
				(off_t)(q->off + q->done));
		res = ret ? ret : 1;
		if (!ret)
			q->done = q->dlen;
	}
	if (res < 0)
		req_fail(q, res);
	req_finish(p, q);
	write_tail(p, lw);
	if (lw->closing && !lw->dio)
		close_finish(p, lw);
}

/* Queue the rest of range q and submit it. Return: 0 or -errno. */
static int range_issue(struct local_priv *p, struct lreq *q)
{
	struct io_uring_sqe *sqe;
	int ret;

	sqe = ring_get_sqe(&p->ring, &ret);
	if (!sqe)
		return ret;
	io_uring_prep_read(sqe, q->rfd, q->rbuf + q->done,
			   (unsigned)(q->dlen - q->done), q->off + q->done);
	io_uring_sqe_set_data(sqe, q);
	q->indio = 1;
	p->busy++;
	(void)ring_submit(&p->ring);
	return 0;
}

/* Read the rest of range q with pread() through a buffered descriptor
 * (O_DIRECT refused after all, or an unaligned remainder). */
static int range_sync(struct lreq *q)
{
	int flags = fcntl(q->rfd, F_GETFL);

	if (flags < 0 || (q->direct &&
			  fcntl(q->rfd, F_SETFL, flags & ~O_DIRECT) < 0))
		return -errno;
	q->direct = 0;
	while (q->done < q->dlen) {
		ssize_t n = pread(q->rfd, q->rbuf + q->done, q->dlen - q->done,
				  (off_t)(q->off + q->done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;   /* end of the object: a short range */
		q->done += (size_t)n;
	}
	return 0;
}

/*
 * A read of range q completed with res. Short reads are continued (the
 * next read then returns 0 at the end of the object); -EINVAL from a
 * direct read means the file system wants a stricter alignment than ours:
 * the range is read buffered, and later ranges do not try O_DIRECT.
 */
static void range_complete(struct local_priv *p, struct lreq *q, int res)
{
	int ret;

	q->indio = 0;
	p->busy--;
	if ((res == -EAGAIN || res == -EINTR) &&
	    q->retries++ < LOCAL_MAX_RETRY) {
		ret = range_issue(p, q);
		if (!ret)
			return;
		res = ret;
	}
	if (res == -EINVAL && q->direct) {
		p->dio = 0;
		res = range_sync(q);
	} else if (res > 0) {
		q->done += (size_t)res;
		if (q->done < q->dlen) {
			ret = q->direct && !aligned(q->done) ? range_sync(q) :
			      range_issue(p, q);
			if (!ret && q->indio)
				return;
			res = ret;
		}
	}
	if (res < 0 && !q->res)
		q->res = res;
	req_finish(p, q);
}

/*
 * The ring failed in a way we cannot recover from (waiting for completions
 * returned an error other than a timeout or a signal): fail every request
 * still counted in flight, so that their buffers go back to the callers;
 * the objects are failed and will be aborted, the ranges reported failed.
 * Later requests are served synchronously.
 */
static void ring_fail(struct local_priv *p, int err)
{
	for (unsigned i = 0; i < LOCAL_DEPTH; i++) {
		struct lreq *q = &p->reqs[i];
		struct local_write *lw = q->lw;

		if (!q->indio)
			continue;
		q->indio = 0;
		if (lw)
			lw->dio--;
		p->busy--;
		req_fail(q, err);
		req_finish(p, q);
		if (lw && lw->closing && !lw->dio)
			close_finish(p, lw);
	}
	p->ring_state = -1;
}

/*
 * Process completions, waiting up to timeout_ms (0: none, -1: until one)
 * when nothing is ready. Return: completions processed, or -errno.
 */
static int ring_poll(struct local_priv *p, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	int n = 0, ret;

	if (p->ring_state != 1 || !p->busy)
		return 0;
	if (timeout_ms && io_uring_peek_cqe(&p->ring, &cqe)) {
		if (timeout_ms < 0) {
			ret = io_uring_wait_cqe(&p->ring, &cqe);
		} else {
			struct __kernel_timespec ts = {
				.tv_sec = timeout_ms / 1000,
				.tv_nsec = (long long)(timeout_ms % 1000) *
					   1000000,
			};

			ret = io_uring_wait_cqe_timeout(&p->ring, &cqe, &ts);
		}
		if (ret < 0 && ret != -ETIME && ret != -EINTR &&
		    ret != -EAGAIN) {
			ring_fail(p, ret);
			return ret;
		}
	}
	while (io_uring_peek_cqe(&p->ring, &cqe) == 0) {
		struct lreq *q = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&p->ring, cqe);
		if (q->kind == LREQ_RANGE)
			range_complete(p, q, res);
		else
			req_complete(p, q, res);
		n++;
	}
	return n;
}

/* Set the ring up on first use; without io_uring (old kernel, seccomp,
 * SSTVAULT_NO_URING) every request is served synchronously. */
static void ring_start(struct local_priv *p)
{
	static const int ops[] = { IORING_OP_WRITE, IORING_OP_READ };
	char why[RING_WHY_LEN];

	if (p->ring_state == 0) {
		p->ring_state = ring_init(&p->ring, LOCAL_DEPTH, ops,
					  SV_ARRAY_SIZE(ops), why,
					  sizeof(why)) ? -1 : 1;
		p->ring_up = p->ring_state == 1;
	}
}

/* Wait until no direct write of lw is in flight, and write its tail. */
static void drain(struct local_priv *p, struct local_write *lw)
{
	while (lw->dio)
		(void)ring_poll(p, -1);
	write_tail(p, lw);
}

/* ---- operations ---- */

static int local_init(struct uploader *u, const char *location,
		      const struct upl_opts *o)
{
	struct local_priv *p = lp(u);
	size_t n;

	if (pthread_mutex_init(&p->sy_lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&p->sy_cond, NULL)) {
		pthread_mutex_destroy(&p->sy_lock);
		return -ENOMEM;
	}
	p->sy_inited = 1;
	p->dio = -1;
	for (unsigned i = 0; i < LOCAL_DEPTH; i++)
		p->freestk[i] = LOCAL_DEPTH - 1 - i;
	p->nfree = LOCAL_DEPTH;
	if (strncmp(location, "file://", 7) == 0)
		location += 7;
	n = strlen(location);
	if (n == 0 || n >= sizeof(p->root) - 80) {
		uploader_seterr(u, "invalid repository path '%s'", location);
		return -EINVAL;
	}
	memcpy(p->root, location, n + 1);
	while (n > 1 && p->root[n - 1] == '/')
		p->root[--n] = '\0';
	p->fsync = o->fsync >= 0;
	/* Our default part size, published for the packer: direct writes
	 * need no large parts, and smaller ones let more be in flight in
	 * the same memory. */
	if (!u->opts.part_size)
		u->opts.part_size = LOCAL_PART_SIZE;
	return 0;
}

static void local_cleanup(struct uploader *u)
{
	struct local_priv *p = lp(u);

	if (!p->sy_inited)
		return;
	if (p->sy_started) {
		(void)settle(u);
		pthread_mutex_lock(&p->sy_lock);
		p->sy_stop = 1;
		pthread_cond_broadcast(&p->sy_cond);
		pthread_mutex_unlock(&p->sy_lock);
		pthread_join(p->sy_tid, NULL);
	}
	/* Every object was completed or aborted, which waited for its
	 * writes; this only guards against a caller that did neither. */
	while (p->busy && ring_poll(p, -1) >= 0)
		;
	if (p->ring_up)
		io_uring_queue_exit(&p->ring);
	pthread_cond_destroy(&p->sy_cond);
	pthread_mutex_destroy(&p->sy_lock);
}

/* Open a fresh temporary file under <root>/tmp. */
static int tmp_open(struct uploader *u, char *tmp)
{
	uint8_t rnd[12];
	char hex[25];
	int fd, ret;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	sv_hex(hex, rnd, sizeof(rnd));
	snprintf(tmp, PATH_MAX, "%s/tmp/%s", lp(u)->root, hex);
	ret = make_parents(tmp);
	if (ret) {
		uploader_seterr(u, "cannot create %s/tmp: %s", lp(u)->root,
				strerror(-ret));
		return ret;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		uploader_seterr(u, "cannot create %s: %s", tmp, strerror(errno));
		return ret;
	}
	return fd;
}

/* fsync the temporary, rename it to name, fsync the directory. */
static int tmp_commit(struct uploader *u, int fd, const char *tmp,
		      const char *name, unsigned flags)
{
	char path[PATH_MAX];
	int ret;

	ret = path_of(u, name, path);
	if (ret)
		return ret;
	if (lp(u)->fsync && fsync(fd)) {
		ret = -errno;
		uploader_seterr(u, "cannot write %s: %s", name, strerror(errno));
		return ret;
	}
	ret = make_parents(path);
	if (ret) {
		uploader_seterr(u, "cannot create directory for %s: %s", name,
				strerror(-ret));
		return ret;
	}
	if (flags & UPL_PUT_NO_OVERWRITE)
		ret = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
	else
		ret = rename(tmp, path);
	if (ret) {
		ret = -errno;
		uploader_seterr(u, "cannot store %s: %s", name, strerror(errno));
		return ret;
	}
	if (lp(u)->fsync)
		return fsync_parent(path);
	return 0;
}

static int local_put(struct uploader *u, const char *name, const void *data,
		     size_t len, unsigned flags)
{
	char tmp[PATH_MAX];
	int fd, ret;

	ret = settle(u);
	if (ret)
		return ret;
	fd = tmp_open(u, tmp);
	if (fd < 0)
		return fd;
	ret = write_all(fd, data, len, 0);
	if (ret)
		uploader_seterr(u, "cannot write %s: %s", name, strerror(-ret));
	else
		ret = tmp_commit(u, fd, tmp, name, flags);
	close(fd);
	if (ret)
		unlink(tmp);
	else
		u->stats.objects_put++, u->stats.bytes_up += len;
	return ret;
}

static int local_open(struct uploader *u, struct upl_write *w)
{
	struct local_priv *p = lp(u);
	struct local_write *lw = calloc(1, sizeof(*lw));
	int ret;

	if (!lw)
		return -ENOMEM;
	lw->dfd = -1;
	lw->fd = tmp_open(u, lw->tmp);
	if (lw->fd < 0) {
		ret = lw->fd;
		free(lw);
		return ret;
	}
	/* A second descriptor of the same file for direct writes; a file
	 * system that refuses O_DIRECT is asked once per uploader. */
	if (p->dio) {
		lw->dfd = open(lw->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
		if (lw->dfd < 0 && p->dio < 0)
			p->dio = 0;
		else if (lw->dfd >= 0)
			p->dio = 1;
	}
	if (lw->dfd >= 0)
		ring_start(p);
	w->priv = lw;
	w->next_part = 1;
	w->size = 0;
	w->err = 0;
	return 0;
}

/* Write a part at once (no ring, or not aligned): after the direct writes
 * and the tail of the object, so it is written in order. Return: 0 or
 * -errno. */
static int write_now(struct local_priv *p, struct local_write *lw,
		     const uint8_t *data, size_t len, uint64_t off)
{
	size_t dlen = 0;
	int ret;

	drain(p, lw);
	if (lw->err)
		return lw->err;
	if (lw->dfd >= 0 && p->dio && aligned((uintptr_t)data) && aligned(off))
		dlen = len & ~(size_t)(LOCAL_DIO_ALIGN - 1);
	ret = dlen ? write_all(lw->dfd, data, dlen, (off_t)off) : 0;
	if (ret == -EINVAL) {
		p->dio = 0;
		dlen = 0;
		ret = 0;
	}
	if (!ret)
		ret = write_all(lw->fd, data + dlen, len - dlen,
				(off_t)(off + dlen));
	/* Buffered bytes: start their writeback now, so that the fsync
	 * finds little left to do and the disk works while we pack on. */
	if (!ret && p->fsync && len > dlen)
		(void)sync_file_range(lw->fd, (off_t)(off + dlen),
				      (off_t)(len - dlen),
				      SYNC_FILE_RANGE_WRITE);
	return ret;
}

static int local_put_part(struct uploader *u, struct upl_write *w,
			  const void *data, size_t len, void *cookie)
{
	struct local_priv *p = lp(u);
	struct local_write *lw = w->priv;
	uint64_t off = w->size;
	size_t dlen = 0;
	int ret;

	if (w->err)
		return w->err;
	if (lw->err)
		return w->err = lw->err;
	/* A direct write needs the buffer and the offset aligned; a tail
	 * still waiting means the offset is not. */
	if (p->ring_state == 1 && lw->dfd >= 0 && p->dio && !lw->tailreq &&
	    aligned((uintptr_t)data) && aligned(off))
		dlen = len & ~(size_t)(LOCAL_DIO_ALIGN - 1);
	if (dlen) {
		struct lreq *q;

		if (!p->nfree)
			return SV_Q_BUSY;
		q = &p->reqs[p->freestk[--p->nfree]];
		memset(q, 0, sizeof(*q));
		q->lw = lw;
		q->cookie = cookie;
		q->data = data;
		q->off = off;
		q->dlen = dlen;
		q->tail = len - dlen;
		q->pieces = 1 + (q->tail > 0);
		ret = req_issue(p, q);
		if (ret) {
			p->freestk[p->nfree++] = (unsigned)(q - p->reqs);
		} else {
			if (q->tail)
				lw->tailreq = q;
			ret = SV_Q_QUEUED;
			if (p->busy > u->stats.inflight_max)
				u->stats.inflight_max = p->busy;
		}
	} else {
		ret = write_now(p, lw, data, len, off);
		if (!ret)
			ret = SV_Q_DONE;
	}
	if (ret < 0) {
		uploader_seterr(u, "cannot write %s: %s", w->name,
				strerror(-ret));
		w->err = ret;
		return ret;
	}
	w->size += len;
	w->next_part++;
	u->stats.parts_put++;
	u->stats.bytes_up += len;
	u->stats.inflight = p->busy;
	return ret;
}

/*
 * Finish an object. A pack is not waited for: if its last parts are still
 * being written, the object is left to finish in the background (its last
 * completion hands it to the syncer), and complete() returns at once, so
 * the packer goes on filling the next pack. settle() waits for all of it
 * before any later operation.
 */
static int local_complete(struct uploader *u, struct upl_write *w)
{
	struct local_priv *p = lp(u);
	struct local_write *lw = w->priv;
	int ret;

	ret = w->err ? w->err : lw->err;
	if (ret) {
		uploader_seterr(u, "cannot write %s: %s", w->name,
				strerror(-ret));
		goto fail;
	}
	/* Without fsync there is nothing to wait for, and an object that
	 * must not replace another reports -EEXIST here, to the caller:
	 * both are committed now, after whatever is in the background. So
	 * is every object when no syncer thread can be started. */
	if (!p->fsync || (w->flags & UPL_PUT_NO_OVERWRITE) ||
	    syncer_start(p)) {
		drain(p, lw);
		ret = lw->err;
		if (ret)
			uploader_seterr(u, "cannot write %s: %s", w->name,
					strerror(-ret));
		if (!ret)
			ret = settle(u);
		if (!ret)
			ret = tmp_commit(u, lw->fd, lw->tmp, w->name, w->flags);
		if (ret)
			goto fail;
		write_free(lw);
		goto out;
	}
	ret = path_of(u, w->name, lw->path);
	if (ret) {
		uploader_seterr(u, "%s: invalid object name", w->name);
		goto fail;
	}
	if (lw->dio) {
		lw->closing = 1;
		p->nclosing++;
		goto out;   /* the last completion finishes it */
	}
	write_tail(p, lw);
	ret = lw->err;
	if (ret) {
		uploader_seterr(u, "cannot write %s: %s", w->name,
				strerror(-ret));
		goto fail;
	}
	ret = sync_push(p, lw);
	if (ret) {
		pthread_mutex_lock(&p->sy_lock);
		uploader_seterr(u, "%s", p->sy_errbuf);
		pthread_mutex_unlock(&p->sy_lock);
		goto fail;
	}
out:
	w->priv = NULL;
	u->stats.objects_put++;
	u->stats.inflight = p->busy;
	return 0;
fail:
	/* errbuf was set where it failed. */
	w->err = ret;
	return ret;   /* the caller aborts, which unlinks tmp */
}

static int local_abort(struct uploader *u, struct upl_write *w)
{
	struct local_priv *p = lp(u);
	struct local_write *lw = w->priv;

	if (!lw)
		return 0;
	/* The kernel must be done with the caller's buffers and with our
	 * descriptors; a tail not written yet is cancelled. */
	while (lw->dio)
		(void)ring_poll(p, -1);
	if (lw->tailreq) {
		req_fail(lw->tailreq, -ECANCELED);
		req_finish(p, lw->tailreq);
		lw->tailreq = NULL;
	}
	unlink(lw->tmp);
	write_free(lw);
	w->priv = NULL;
	u->stats.inflight = p->busy;
	return 0;
}

static int local_reap(struct uploader *u, struct upl_event *ev, int max,
		      int timeout_ms)
{
	struct local_priv *p = lp(u);
	int n = 0, ret = 0;

	/* Wait only while nothing finished is waiting to be handed back;
	 * a completion may just continue a short write, so wait again
	 * until a part is finished (or, with a timeout, once). */
	ret = ring_poll(p, 0);
	while (ret >= 0 && !p->fcount && p->busy && timeout_ms) {
		ret = ring_poll(p, timeout_ms);
		if (timeout_ms > 0)
			break;
	}
	while (n < max && p->fcount) {
		unsigned i = p->fin[p->fhead];

		p->fhead = (p->fhead + 1) % LOCAL_DEPTH;
		p->fcount--;
		ev[n].cookie = p->reqs[i].cookie;
		ev[n].res = p->reqs[i].res;
		if (p->reqs[i].kind == LREQ_RANGE && ev[n].res > 0)
			u->stats.bytes_down += (uint64_t)ev[n].res;
		p->freestk[p->nfree++] = i;
		n++;
	}
	u->stats.inflight = p->busy;
	return n ? n : SV_MIN(ret, 0);
}

static ssize_t local_get(struct uploader *u, const char *name, uint64_t off,
			 uint64_t len, void *buf, size_t cap)
{
	char path[PATH_MAX];
	struct stat st;
	size_t want, got = 0;
	ssize_t ret;
	int fd;

	ret = settle(u);
	if (!ret)
		ret = path_of(u, name, path);
	if (ret)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		uploader_seterr(u, "cannot open %s: %s", name, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (off > (uint64_t)st.st_size) {
		uploader_seterr(u, "%s: range at %llu beyond its %lld bytes",
				name, (unsigned long long)off,
				(long long)st.st_size);
		ret = -EINVAL;
		goto out;
	}
	want = (size_t)SV_MIN(len, (uint64_t)st.st_size - off);
	if (want > cap) {
		ret = -ENOSPC;
		goto out;
	}
	while (got < want) {
		ssize_t n = pread(fd, (uint8_t *)buf + got, want - got,
				  (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			uploader_seterr(u, "cannot read %s: %s", name,
					n < 0 ? strerror(errno) : "short file");
			goto out;
		}
		got += (size_t)n;
	}
	u->stats.gets++;
	u->stats.bytes_down += got;
	ret = (ssize_t)got;
out:
	close(fd);
	return ret;
}

/*
 * A ranged read on io_uring: O_DIRECT into the caller's buffer when the
 * buffer, the offset and the length are aligned (the restore asks for
 * aligned ranges), so that a restore neither copies pack data through the
 * page cache nor fills it; else a buffered read. The completion's result is
 * the bytes read, short only at the end of the object. Without a ring the
 * read is done at once (SV_Q_DONE, whole range or an error).
 */
static int local_get_part(struct uploader *u, const char *name, uint64_t off,
			  uint64_t len, void *buf, void *cookie)
{
	struct local_priv *p = lp(u);
	char path[PATH_MAX];
	struct lreq *q;
	int direct, fd, ret;
	ssize_t n;

	ring_start(p);
	if (p->ring_state != 1 || len > INT32_MAX) {
		n = local_get(u, name, off, len, buf, len);
		if (n < 0)
			return (int)n;
		if ((uint64_t)n != len) {
			uploader_seterr(u, "%s: short read at %llu (%zd of "
					"%llu bytes)", name,
					(unsigned long long)off, n,
					(unsigned long long)len);
			return -ENODATA;
		}
		return SV_Q_DONE;
	}
	if (!p->nfree)
		return SV_Q_BUSY;
	ret = settle(u);
	if (!ret)
		ret = path_of(u, name, path);
	if (ret)
		return ret;
	direct = p->dio != 0 && aligned((uintptr_t)buf) && aligned(off) &&
		 aligned(len);
	fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
	if (fd < 0 && direct && errno == EINVAL) {
		p->dio = 0;
		direct = 0;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		ret = -errno;
		uploader_seterr(u, "cannot open %s: %s", name, strerror(errno));
		return ret;
	}
	q = &p->reqs[p->freestk[--p->nfree]];
	memset(q, 0, sizeof(*q));
	q->kind = LREQ_RANGE;
	q->cookie = cookie;
	q->rbuf = buf;
	q->rfd = fd;
	q->off = off;
	q->dlen = (size_t)len;
	q->pieces = 1;
	q->direct = direct;
	ret = len ? range_issue(p, q) : 0;
	if (ret) {
		close(fd);
		p->freestk[p->nfree++] = (unsigned)(q - p->reqs);
		uploader_seterr(u, "cannot read %s: %s", name, strerror(-ret));
		return ret;
	}
	if (!len)
		req_finish(p, q);
	u->stats.gets++;
	if (p->busy > u->stats.inflight_max)
		u->stats.inflight_max = p->busy;
	u->stats.inflight = p->busy;
	return SV_Q_QUEUED;
}

static int local_stat(struct uploader *u, const char *name, uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	int ret = settle(u);

	if (!ret)
		ret = path_of(u, name, path);
	if (ret)
		return ret;
	if (stat(path, &st)) {
		ret = -errno;
		if (ret != -ENOENT)
			uploader_seterr(u, "cannot stat %s: %s", name,
					strerror(errno));
		else
			uploader_seterr(u, "%s: no such object in %s", name,
					lp(u)->root);
		return ret;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Depth-first walk of <root>/<rel>, reporting regular files. */
static int walk(struct uploader *u, const char *rel, const char *prefix,
		upl_list_cb cb, void *arg)
{
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(path, sizeof(path), "%s/%s", lp(u)->root, rel);
	d = opendir(path);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	while ((de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "",
			 de->d_name);
		if (strncmp(sub, prefix, SV_MIN(strlen(sub), strlen(prefix))))
			continue;
		snprintf(path, sizeof(path), "%s/%s", lp(u)->root, sub);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			ret = walk(u, sub, prefix, cb, arg);
		else if (S_ISREG(st.st_mode) &&
			 strncmp(sub, prefix, strlen(prefix)) == 0)
			ret = cb(arg, sub, (uint64_t)st.st_size, st.st_mtime);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

static int local_list(struct uploader *u, const char *prefix, upl_list_cb cb,
		      void *arg)
{
	int ret = settle(u);

	return ret ? ret : walk(u, "", prefix, cb, arg);
}

static int local_remove(struct uploader *u, const char *name)
{
	char path[PATH_MAX];
	int ret = settle(u);

	if (!ret)
		ret = path_of(u, name, path);
	if (ret)
		return ret;
	if (unlink(path)) {
		ret = -errno;
		uploader_seterr(u, "cannot remove %s: %s", name, strerror(errno));
		return ret;
	}
	u->stats.deletes++;
	return 0;
}

const struct uploader_ops uploader_local = {
	.name = "local",
	.version = UPLOADER_VERSION,
	.flags = UPL_F_RANGED_GET | UPL_F_NOOVERWRITE,
	.priv_size = sizeof(struct local_priv),
	.init = local_init,
	.open = local_open,
	.put_part = local_put_part,
	.complete = local_complete,
	.abort = local_abort,
	.reap = local_reap,
	.put = local_put,
	.get = local_get,
	.get_part = local_get_part,
	.stat = local_stat,
	.list = local_list,
	.remove = local_remove,
	.cleanup = local_cleanup,
};
