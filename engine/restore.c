/*
 * restore.c - see restore.h.
 *
 * Threads and ownership:
 *  - the main thread plans (chunk refs sorted by pack offset, coalesced into
 *    ranges), issues ranged reads, drives the writer and finishes files;
 *  - N workers open blobs (decrypt, decompress, verify id) from a fetched
 *    range into output buffers and hand them back on `done`; the workers
 *    of a range take its blobs one at a time in order, so a file's chunks
 *    come back nearly in file order;
 *  - the main thread feeds each file's chunks, in file order, to its
 *    whole-file digest and the caller's check (Cassandra's digest): a
 *    chunk that arrives before its predecessor is parked until they come.
 *    Parked chunks hold output buffers, so at most park_max are parked;
 *    past that, the files with parked chunks give their in-memory digests
 *    up and are checked by reading them back;
 *  - one verifier thread reads those files back, so that the main thread
 *    goes on feeding the workers meanwhile.
 * A range buffer goes main -> workers -> range pool (by its last worker);
 * an output buffer goes worker -> main (done) -> writer, and back to the
 * out pool once its write completed and it is digested (or given up).
 * The work queue can hold every range buffer once per worker, so the main
 * thread never blocks pushing work while workers wait for output buffers
 * it must free. A finished file that needs reading back goes main ->
 * verifier (vq) -> main (vdone), which then renames it; both queues hold
 * every file, so neither push blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "codecs/hash.h"
#include "engine/blob.h"
#include "engine/index.h"
#include "engine/queue.h"
#include "engine/progress.h"
#include "engine/restore.h"
#include "engine/util.h"
#include "io/writer.h"

#define RANGE_MAX (8u << 20)   /* largest coalesced read */
#define RANGE_GAP (256u << 10) /* read through gaps up to this size */
/*
 * Range buffers start on a page boundary and local reads are widened to
 * page boundaries, so the local store can read packs with O_DIRECT (no
 * copy through the page cache, nothing left in it). Remote stores get the
 * exact range.
 */
#define RANGE_ALIGN 4096u
#define RANGES_EXTRA 4         /* range buffers beyond one per worker */

struct obuf;

/* A file's digests, fed from its chunks in file order (main thread). */
struct rstream {
	struct hash_stream hs;
	void *chk;                /* restore_check state, or NULL */
	uint64_t next;            /* bytes fed so far */
	struct obuf *parked;      /* later chunks, by offset */
};

struct rfile {
	const struct snap_file *f;
	char *path;               /* final path */
	int h;                    /* writer handle, -1 if not open */
	uint32_t left;            /* chunks not yet written and digested */
	int failed, damaged, done;
	int readback;             /* digests by reading the file back */
	struct rstream *st;       /* in-memory digests, or NULL */
	int vret;                 /* verdict of the digests: 0 or -errno */
};

struct ref {
	uint64_t poff;            /* blob offset in its pack */
	uint64_t foff;            /* offset in the file */
	uint32_t pack;
	uint32_t file;
	uint32_t stored_len, raw_len;
	uint8_t codec;
	uint8_t id[SV_ID_LEN];
};

struct range {
	uint32_t pack;
	uint64_t off, len;        /* the blobs' bytes in the pack */
	uint64_t roff, rlen;      /* what is read: buf[0] is byte roff */
	size_t first, n;          /* refs[first .. first+n) */
	uint8_t *buf;
	int err;
	atomic_size_t next;       /* next ref a worker takes */
	atomic_uint holders;      /* workers yet to let go of buf */
};

struct obuf {
	uint8_t *data;
	struct rctx *c;
	uint32_t file;
	uint64_t off;
	uint32_t len;
	int err;                  /* blob could not be opened */
	const struct ref *ref;
	int writing;              /* main thread: write in flight */
	int parked;               /* main thread: waits for its predecessor */
	struct obuf *next;        /* in its file's parked list */
};

struct rctx {
	struct repo *r;
	const struct snapshot *s;
	const struct restore_opts *o;
	struct index *idx;
	struct writer *w;
	struct rfile *files;
	size_t nfiles;
	struct ref *refs;
	size_t nrefs;
	struct range *ranges;
	size_t nranges;
	struct queue work, done, range_pool, out_pool;
	struct queue vq, vdone;   /* files to verify, verified files */
	size_t verifying;         /* main thread: files in vq or vdone */
	size_t nparked, park_max; /* main thread: chunks parked, limit */
	unsigned threads;
	uint8_t *range_arena, *out_arena;
	struct obuf *obufs;
	size_t nrange_bufs, nobufs;
	size_t files_left;
	uint32_t *ready;          /* files whose last chunk is done */
	size_t nready;
	struct restore_result *res;
	double t0;
	struct progress prog;     /* main thread */
	uint64_t bytes_total;
	uint64_t bytes_done;
	int io_err;               /* first IO error (not damage) */
};

int restore_map_tree(void *arg, const struct snapshot *s,
		     const struct snap_file *f, char *out, size_t cap)
{
	const char *root = s->roots[f->root], *base;
	int n;

	(void)arg;
	if (s->nroots == 1) {
		n = snprintf(out, cap, "%s", f->path);
	} else {
		base = strrchr(root, '/');
		base = base && base[1] ? base + 1 : root;
		/* Same basename for two roots: suffix the root number. */
		for (uint32_t i = 0; i < s->nroots; i++) {
			const char *b2 = strrchr(s->roots[i], '/');

			b2 = b2 && b2[1] ? b2 + 1 : s->roots[i];
			if (i != f->root && !strcmp(b2, base)) {
				n = snprintf(out, cap, "%s-%u/%s", base,
					     f->root, f->path);
				return n < 0 || (size_t)n >= cap ?
					-ENAMETOOLONG : 0;
			}
		}
		n = snprintf(out, cap, "%s/%s", base, f->path);
	}
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	if (x->pack != y->pack)
		return x->pack < y->pack ? -1 : 1;
	if (x->poff != y->poff)
		return x->poff < y->poff ? -1 : 1;
	return 0;
}

static void stream_drop(struct rctx *c, struct rfile *rf);

static void file_fail(struct rctx *c, struct rfile *rf, int damaged)
{
	stream_drop(c, rf);
	if (!rf->failed) {
		rf->failed = 1;
		c->res->failed++;
	}
	if (damaged && !rf->damaged) {
		rf->damaged = 1;
		c->res->damaged++;
	}
}

/* Build refs for every selected file and coalesce them into ranges. */
static int plan(struct rctx *c)
{
	size_t cap = 0;

	for (size_t i = 0; i < c->nfiles; i++)
		cap += c->files[i].f->nchunks;
	c->refs = malloc((cap ? cap : 1) * sizeof(*c->refs));
	if (!c->refs)
		return -ENOMEM;
	for (size_t i = 0; i < c->nfiles; i++) {
		struct rfile *rf = &c->files[i];
		uint64_t foff = 0;

		for (uint32_t k = 0; k < rf->f->nchunks; k++) {
			const struct snap_chunk *ch = &rf->f->chunks[k];
			struct index_loc loc;
			struct ref *rr;

			if (index_lookup(c->idx, ch->id, ch->len, &loc)) {
				char hex[2 * SV_ID_LEN + 1];

				sv_hex(hex, ch->id, SV_ID_LEN);
				log_err("%s: chunk %u (%s) is missing from the "
					"repository index; the file cannot be "
					"restored (run 'sstvault check')",
					rf->path, k, hex);
				file_fail(c, rf, 1);
				break;
			}
			rr = &c->refs[c->nrefs++];
			rr->poff = loc.off;
			rr->foff = foff;
			rr->pack = loc.pack;
			rr->file = (uint32_t)i;
			rr->stored_len = loc.stored_len;
			rr->raw_len = ch->len;
			rr->codec = loc.codec;
			memcpy(rr->id, ch->id, SV_ID_LEN);
			foff += ch->len;
		}
		if (rf->failed) {
			/* Drop the refs of a file that cannot be restored. */
			while (c->nrefs && c->refs[c->nrefs - 1].file == i)
				c->nrefs--;
			rf->left = 0;
		} else {
			rf->left = rf->f->nchunks;
		}
	}
	if (c->nrefs)
		qsort(c->refs, c->nrefs, sizeof(*c->refs), cmp_ref);
	c->ranges = malloc((c->nrefs ? c->nrefs : 1) * sizeof(*c->ranges));
	if (!c->ranges)
		return -ENOMEM;
	for (size_t i = 0; i < c->nrefs;) {
		struct range *g = &c->ranges[c->nranges++];
		size_t j = i + 1;
		uint64_t end = c->refs[i].poff + c->refs[i].stored_len;

		g->pack = c->refs[i].pack;
		g->off = c->refs[i].poff;
		while (j < c->nrefs && c->refs[j].pack == g->pack &&
		       c->refs[j].poff <= end + RANGE_GAP &&
		       SV_MAX(end, c->refs[j].poff + c->refs[j].stored_len) -
				       g->off <= RANGE_MAX) {
			end = SV_MAX(end, c->refs[j].poff + c->refs[j].stored_len);
			j++;
		}
		g->len = end - g->off;
		g->first = i;
		g->n = j - i;
		g->buf = NULL;
		g->err = 0;
		i = j;
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct rctx *c = arg;
	struct blobctx *b = NULL;
	struct range *g;
	int ret = blobctx_create(&b, c->r, 1, c->r->params.cdc_max);

	while ((g = queue_pop(&c->work))) {
		size_t i;

		while ((i = atomic_fetch_add(&g->next, 1)) < g->n) {
			const struct ref *rr = &c->refs[g->first + i];
			struct obuf *ob = queue_pop(&c->out_pool);
			ssize_t n = -EIO;

			if (!ob)
				break;
			ob->file = rr->file;
			ob->off = rr->foff;
			ob->len = rr->raw_len;
			ob->ref = rr;
			if (g->err)
				n = g->err;
			else if (ret)
				n = ret;
			else
				n = blob_open(b, rr->id, rr->raw_len,
					      (enum sv_codec)rr->codec,
					      g->buf + (rr->poff - g->roff),
					      rr->stored_len, ob->data);
			ob->err = n < 0 ? (int)n : 0;
			if (queue_push(&c->done, ob))
				break;
		}
		/* The last worker to let go of the range frees its buffer. */
		if (atomic_fetch_sub(&g->holders, 1) == 1)
			(void)queue_push(&c->range_pool, g->buf);
	}
	blobctx_destroy(b);
	return NULL;
}

static void progress(struct rctx *c, int final)
{
	struct progress_state st = {
		.files_done = c->nfiles - c->files_left,
		.files_total = c->nfiles,
		.bytes_done = c->bytes_done,
		.bytes_total = c->bytes_total,
	};

	progress_update(&c->prog, &st, final);
}

static int open_file(struct rctx *c, struct rfile *rf)
{
	if (rf->h >= 0)
		return 0;
	rf->h = writer_open(c->w, rf->path, rf->f->size, c->o->force);
	if (rf->h < 0) {
		int err = rf->h;

		log_err("cannot create %s: %s", rf->path, strerror(-err));
		if (!c->io_err)
			c->io_err = err;
		file_fail(c, rf, 0);
		return err;
	}
	return 0;
}

/* Does rf need its bytes digested (keyed digest or the caller's check)? */
static int needs_digest(const struct rctx *c, const struct rfile *rf)
{
	return rf->f->has_digest || c->o->check;
}

/* Compare a finished keyed digest with the snapshot's. */
static int digest_match(const struct rfile *rf, struct hash_stream *hs)
{
	uint8_t got[SV_ID_LEN];

	hash_stream_final(hs, got);
	if (memcmp(got, rf->f->digest, SV_ID_LEN)) {
		log_err("%s: restored bytes do not match the digest recorded "
			"at backup; file not restored", rf->path);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Read a finished temporary back (one pass) for its keyed digest and the
 * caller's check. buf: 1 MiB, the verifier's.
 */
static int verify_readback(struct rctx *c, struct rfile *rf, const char *tmp,
			   uint8_t *buf)
{
	const struct restore_check *ck = c->o->check;
	struct hash_stream hs;
	void *chk = NULL;
	int fd, ret = 0;

	if (ck) {
		ret = ck->begin(c->o->check_arg, rf->f, &chk);
		if (ret) {
			log_err("%s: cannot check: %s", rf->path,
				strerror(-ret));
			return ret;
		}
	}
	if (!rf->f->has_digest && !chk)
		return 0;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	hash_stream_init(&hs, c->r->id_secret);
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		hash_stream_update(&hs, buf, (size_t)n);
		if (chk)
			ck->update(chk, buf, (size_t)n);
	}
	close(fd);
	if (!ret && rf->f->has_digest)
		ret = digest_match(rf, &hs);
out:
	if (chk && !ret) {
		ret = ck->end(chk, rf->f, rf->path);
		chk = NULL;
	}
	if (chk)
		ck->drop(chk);
	return ret;
}

/* The verifier thread: check files whose digests were given up in memory
 * by reading them back. */
static void *verifier_main(void *arg)
{
	struct rctx *c = arg;
	struct rfile *rf;
	uint8_t *buf = malloc(1 << 20);

	while ((rf = queue_pop(&c->vq))) {
		char tmp[PATH_MAX + 32];

		snprintf(tmp, sizeof(tmp), "%s.sstvault-tmp", rf->path);
		rf->vret = buf ? verify_readback(c, rf, tmp, buf) : -ENOMEM;
		if (queue_push(&c->vdone, rf))
			break;
	}
	free(buf);
	return NULL;
}

/* Rename (or drop) a file once it is verified; count it. */
static void close_file(struct rctx *c, struct rfile *rf)
{
	int ok = !rf->failed, ret;

	if (ok && rf->vret) {
		file_fail(c, rf, rf->vret == -EBADMSG);
		ok = 0;
	}
	if (rf->h >= 0) {
		ret = writer_close(c->w, rf->h, ok, rf->f->mode,
				   rf->f->mtime_ns);
		if (ret && ok) {
			log_err("cannot write %s: %s", rf->path, strerror(-ret));
			if (!c->io_err)
				c->io_err = ret;
			file_fail(c, rf, 0);
			ok = 0;
		}
		rf->h = -1;
	}
	if (ok) {
		c->res->files++;
		c->res->bytes += rf->f->size;
		if (c->o->placed)
			(void)c->o->placed(c->o->placed_arg, rf->f, rf->path);
	}
	rf->done = 1;
	c->files_left--;
}

/* Finish the in-memory digests of a file whose every chunk was fed. */
static int stream_finish(struct rctx *c, struct rfile *rf)
{
	const struct restore_check *ck = c->o->check;
	struct rstream *st = rf->st;
	int ret = 0;

	rf->st = NULL;
	if (st->next != rf->f->size) {
		/* Every chunk was fed, so the chunks the snapshot lists do
		 * not add up to the size it records: a damaged snapshot. */
		log_err("%s: the snapshot's chunks hold %llu bytes, its size "
			"is %llu; file not restored", rf->path,
			(unsigned long long)st->next,
			(unsigned long long)rf->f->size);
		ret = -EBADMSG;
	}
	if (!ret && rf->f->has_digest)
		ret = digest_match(rf, &st->hs);
	if (st->chk && !ret)
		ret = ck->end(st->chk, rf->f, rf->path);
	else if (st->chk)
		ck->drop(st->chk);
	free(st);
	return ret;
}

/*
 * Every chunk of rf is written and digested (or given up on): check the
 * digests, or have the verifier read the file back; close_file() acts on
 * the verdict. A failed file is closed at once.
 */
static void finish_file(struct rctx *c, struct rfile *rf)
{
	if (rf->done)
		return;
	/* A file with no chunks (empty) has no writer handle yet; opening it
	 * creates it. The file's writes are all complete here: its last
	 * chunk's write callback is what made it ready. */
	if (!rf->failed)
		(void)open_file(c, rf);
	rf->vret = 0;
	if (!rf->failed && rf->st) {
		rf->vret = stream_finish(c, rf);
		close_file(c, rf);
		return;
	}
	if (rf->failed || !needs_digest(c, rf) || queue_push(&c->vq, rf)) {
		close_file(c, rf);
		return;
	}
	c->res->readback++;
	c->verifying++;
}

/* One chunk of rf is finished (written and digested, or given up on). */
static void chunk_done(struct rctx *c, struct rfile *rf)
{
	if (--rf->left == 0)
		c->ready[c->nready++] = (uint32_t)(rf - c->files);
}

/* An output buffer goes back to the pool once it is neither being written
 * nor waiting to be digested. */
static void ob_settle(struct rctx *c, struct obuf *ob)
{
	struct rfile *rf = &c->files[ob->file];

	if (ob->writing || ob->parked)
		return;
	/* rf first: a worker may reuse ob as soon as it is in the pool. */
	(void)queue_push(&c->out_pool, ob);
	chunk_done(c, rf);
}

/* Give up rf's in-memory digests: its parked chunks are let go, and the
 * file is read back at the end if it still needs checking. */
static void stream_drop(struct rctx *c, struct rfile *rf)
{
	struct rstream *st = rf->st;
	struct obuf *ob, *next;

	if (!st)
		return;
	rf->st = NULL;
	rf->readback = 1;
	if (st->chk)
		c->o->check->drop(st->chk);
	ob = st->parked;
	free(st);
	for (; ob; ob = next) {
		next = ob->next;
		ob->next = NULL;
		ob->parked = 0;
		c->nparked--;
		ob_settle(c, ob);
	}
}

/* Start rf's in-memory digests at its first chunk. Not being able to
 * (memory, or the check's begin) only means reading the file back. */
static void stream_start(struct rctx *c, struct rfile *rf)
{
	struct rstream *st;

	if (rf->st || rf->readback || rf->failed || !needs_digest(c, rf))
		return;
	rf->readback = 1;
	if (c->o->readback)
		return;
	st = aligned_alloc(_Alignof(struct rstream), sizeof(*st));
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	hash_stream_init(&st->hs, c->r->id_secret);
	if (c->o->check &&
	    c->o->check->begin(c->o->check_arg, rf->f, &st->chk)) {
		free(st);
		return;
	}
	rf->st = st;
	rf->readback = 0;
}

static void stream_feed(struct rctx *c, struct rstream *st, struct obuf *ob)
{
	hash_stream_update(&st->hs, ob->data, ob->len);
	if (st->chk)
		c->o->check->update(st->chk, ob->data, ob->len);
	st->next += ob->len;
}

/*
 * Offer ob (a chunk of rf, its write queued) to rf's digests: fed now if
 * it is the next in file order, with every parked successor it unblocks,
 * else parked. Past park_max parked chunks, every file holding some gives
 * its in-memory digests up, so that the workers never run out of output
 * buffers waiting for a predecessor that needs one.
 */
static void stream_offer(struct rctx *c, struct rfile *rf, struct obuf *ob)
{
	struct rstream *st = rf->st;
	struct obuf **pp;

	if (!st)
		return;
	if (ob->off != st->next) {
		for (pp = &st->parked; *pp && (*pp)->off < ob->off;
		     pp = &(*pp)->next)
			;
		ob->next = *pp;
		*pp = ob;
		ob->parked = 1;
		if (++c->nparked > c->park_max) {
			for (size_t i = 0; i < c->nobufs; i++)
				if (c->obufs[i].parked)
					stream_drop(c,
						    &c->files[c->obufs[i].file]);
		}
		return;
	}
	stream_feed(c, st, ob);
	while (st->parked && st->parked->off == st->next) {
		struct obuf *p = st->parked;

		st->parked = p->next;
		p->next = NULL;
		p->parked = 0;
		c->nparked--;
		stream_feed(c, st, p);
		ob_settle(c, p);
	}
}

static void write_done(void *cookie, int res)
{
	struct obuf *ob = cookie;
	struct rctx *c = ob->c;
	struct rfile *rf = &c->files[ob->file];

	if (res < 0) {
		if (!rf->failed)
			log_err("cannot write %s: %s", rf->path,
				strerror(-res));
		if (!c->io_err)
			c->io_err = res;
		file_fail(c, rf, 0);
	} else {
		c->bytes_done += (uint64_t)res;
	}
	/* Last: file_fail() above may have unparked ob, which must then be
	 * settled once, here. */
	ob->writing = 0;
	ob_settle(c, ob);
}

/* Is a blob's error damage of the repository data (exit 5), rather than
 * an IO error of the store (exit 4)? */
static int ob_damage(int err)
{
	return err == -EBADMSG || err == -EINVAL || err == -ENODATA;
}

static void handle_done(struct rctx *c, struct obuf *ob)
{
	struct rfile *rf = &c->files[ob->file];

	ob->writing = ob->parked = 0;
	ob->next = NULL;
	if (ob->err || rf->failed) {
		if (ob->err && !rf->failed) {
			char pack[100];

			index_pack_name(index_pack_oid(c->idx, ob->ref->pack),
					pack, sizeof(pack));
			log_err("%s: chunk at offset %llu in %s is damaged "
				"(%s); file not restored", rf->path,
				(unsigned long long)ob->ref->poff, pack,
				ob->err == -EBADMSG ? "authentication failed" :
				ob->err == -ENODATA ? "the pack is truncated" :
				strerror(-ob->err));
			file_fail(c, rf, ob_damage(ob->err));
			if (!ob_damage(ob->err) && !c->io_err)
				c->io_err = ob->err;
		}
		(void)queue_push(&c->out_pool, ob);
		chunk_done(c, rf);
		return;
	}
	if (open_file(c, rf) ||
	    writer_write(c->w, rf->h, ob->off, ob->data, ob->len, write_done,
			 ob)) {
		file_fail(c, rf, 0);
		(void)queue_push(&c->out_pool, ob);
		chunk_done(c, rf);
		return;
	}
	/* The write's callback never runs inside writer_write(), so ob is
	 * still being written here. */
	ob->writing = 1;
	stream_start(c, rf);
	stream_offer(c, rf, ob);
}

/* Hand a fetched range to the workers: once per worker that may share it,
 * each taking its next blob in turn. */
static void dispatch(struct rctx *c, struct range *g)
{
	unsigned k = g->n < c->threads ? (unsigned)g->n : c->threads;

	if (k == 0)
		k = 1;
	atomic_store(&g->next, 0);
	atomic_store(&g->holders, k);
	for (unsigned i = 0; i < k; i++)
		(void)queue_push(&c->work, g);
}

/* Bytes of g's read that must arrive: the read may end early only past
 * the last blob (the end of the pack). */
static uint64_t range_need(const struct range *g)
{
	return g->off + g->len - g->roff;
}

/*
 * A read of g failed (n < 0) or came back short (0 <= n < what it needs).
 * A pack that ends before a blob the index places in it is damaged
 * repository data (-ENODATA, counted as damage like a failed
 * authentication); anything else is an IO error of the store.
 */
static void range_failed(struct rctx *c, struct range *g, ssize_t n)
{
	struct uploader *u = c->r->up;
	char name[100];

	index_pack_name(index_pack_oid(c->idx, g->pack), name, sizeof(name));
	if (n >= 0 || n == -ENODATA) {
		log_err("%s ends before the blobs at %llu-%llu that the index "
			"places in it: the pack is truncated; run 'sstvault "
			"check'", name, (unsigned long long)g->off,
			(unsigned long long)(g->off + g->len));
		g->err = -ENODATA;
		return;
	}
	log_err("cannot read %s at %llu: %s", name,
		(unsigned long long)g->off,
		u->errbuf[0] ? u->errbuf : strerror((int)-n));
	g->err = (int)n;
}

/*
 * Start reading g into g->buf: asynchronously when the backend has
 * get_part() (SV_Q_QUEUED, or SV_Q_BUSY to retry after a reap), else at
 * once. A local store gets the range widened to RANGE_ALIGN (never past
 * the end of the pack), so that it can read with O_DIRECT.
 */
static int fetch(struct rctx *c, struct range *g)
{
	struct uploader *u = c->r->up;
	char name[100];
	ssize_t n;

	g->roff = g->off;
	g->rlen = g->len;
	if (!(u->ops->flags & UPL_F_REMOTE)) {
		uint64_t psize = index_pack_size(c->idx, g->pack);
		uint64_t end = (g->off + g->len + RANGE_ALIGN - 1) &
			       ~(uint64_t)(RANGE_ALIGN - 1);

		g->roff = g->off & ~(uint64_t)(RANGE_ALIGN - 1);
		if (psize >= g->off + g->len && end > psize)
			end = psize;
		g->rlen = end - g->roff;
	}
	index_pack_name(index_pack_oid(c->idx, g->pack), name, sizeof(name));
	if (u->ops->get_part) {
		int ret = u->ops->get_part(u, name, g->roff, g->rlen, g->buf, g);

		if (ret == SV_Q_QUEUED || ret == SV_Q_BUSY)
			return ret;
		n = ret == SV_Q_DONE ? (ssize_t)g->rlen : ret;
	} else {
		n = u->ops->get(u, name, g->roff, g->rlen, g->buf, g->rlen);
	}
	if (n < 0 || (uint64_t)n < range_need(g))
		range_failed(c, g, n);
	return SV_Q_DONE;
}

static int run(struct rctx *c)
{
	struct uploader *u = c->r->up;
	size_t next = 0, inflight = 0;
	struct range *busy = NULL;
	int ret;

	/* Files without chunks (empty, or failed while planning). */
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].left == 0)
			finish_file(c, &c->files[i]);
	while (c->files_left) {
		int progressed = 0;
		struct obuf *ob;
		struct rfile *rf;

		while (next < c->nranges || busy) {
			struct range *g = busy ? busy : &c->ranges[next];

			if (!busy) {
				uint8_t *buf = queue_trypop(&c->range_pool);

				if (!buf)
					break;
				g->buf = buf;
				next++;
			}
			busy = NULL;
			ret = fetch(c, g);
			if (ret == SV_Q_BUSY) {
				busy = g;
				break;
			}
			if (ret == SV_Q_QUEUED) {
				inflight++;
				continue;
			}
			dispatch(c, g);
			progressed = 1;
		}
		if (inflight) {
			struct upl_event ev[16];
			int n = u->ops->reap(u, ev, 16, 0);

			for (int i = 0; i < n; i++) {
				struct range *g = ev[i].cookie;

				if (ev[i].res < 0 ||
				    (uint64_t)ev[i].res < range_need(g))
					range_failed(c, g, ev[i].res);
				inflight--;
				dispatch(c, g);
				progressed = 1;
			}
		}
		while ((ob = queue_trypop(&c->done))) {
			handle_done(c, ob);
			progressed = 1;
		}
		ret = writer_poll(c->w, 0);
		if (ret > 0)
			progressed = 1;
		while (c->nready)
			finish_file(c, &c->files[c->ready[--c->nready]]);
		while (c->verifying && (rf = queue_trypop(&c->vdone))) {
			c->verifying--;
			close_file(c, rf);
			progressed = 1;
		}
		progress(c, 0);
		if (!progressed) {
			ob = queue_pop_timed(&c->done, inflight || c->verifying ?
					     1 : 20);
			if (ob)
				handle_done(c, ob);
		}
	}
	return 0;
}

static int target_empty(const char *t)
{
	DIR *d = opendir(t);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return 1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int mkparents(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	return util_mkdirs(dir, 0755);
}

static int setup_files(struct rctx *c)
{
	char rel[PATH_MAX], full[PATH_MAX];
	const struct snapshot *s = c->s;
	int ret = 0;

	c->files = calloc(s->nfiles + 1, sizeof(*c->files));
	if (!c->files)
		return -ENOMEM;
	for (size_t i = 0; i < s->nfiles; i++) {
		const struct snap_file *f = &s->files[i];
		int m = c->o->map ? c->o->map(c->o->map_arg, s, f, rel,
					      sizeof(rel)) :
				    restore_map_tree(NULL, s, f, rel, sizeof(rel));

		if (m == 1)
			continue;
		if (m < 0)
			return m;
		if (!snapshot_path_ok(rel)) {
			log_err("refusing unsafe path '%s' from the snapshot",
				rel);
			return -EINVAL;
		}
		snprintf(full, sizeof(full), "%s/%s", c->o->target, rel);
		if (f->type == SNAP_DIR) {
			ret = util_mkdirs(full, 0700);
		} else {
			ret = mkparents(full);
		}
		if (ret) {
			log_err("cannot create %s: %s", full, strerror(-ret));
			return ret;
		}
		if (f->type != SNAP_FILE)
			continue;
		c->files[c->nfiles].f = f;
		c->bytes_total += f->size;
		c->files[c->nfiles].h = -1;
		c->files[c->nfiles].path = strdup(full);
		if (!c->files[c->nfiles].path)
			return -ENOMEM;
		c->nfiles++;
	}
	c->files_left = c->nfiles;
	c->ready = calloc(c->nfiles + 1, sizeof(*c->ready));
	return c->ready ? 0 : -ENOMEM;
}

/* Symlinks, then directory modes and mtimes (deepest first). */
static int finish_tree(struct rctx *c)
{
	char rel[PATH_MAX], full[PATH_MAX];
	const struct snapshot *s = c->s;
	int ret = 0;

	for (size_t k = s->nfiles; k-- > 0;) {
		const struct snap_file *f = &s->files[k];
		int m = c->o->map ? c->o->map(c->o->map_arg, s, f, rel,
					      sizeof(rel)) :
				    restore_map_tree(NULL, s, f, rel, sizeof(rel));
		struct timespec ts[2];

		if (m || f->type == SNAP_FILE)
			continue;
		snprintf(full, sizeof(full), "%s/%s", c->o->target, rel);
		ts[0].tv_sec = ts[1].tv_sec = f->mtime_ns / 1000000000;
		ts[0].tv_nsec = ts[1].tv_nsec = f->mtime_ns % 1000000000;
		if (f->type == SNAP_LINK) {
			if (c->o->force)
				unlink(full);
			if (symlink(f->target, full)) {
				/* An IO failure of the target (exit 4), whatever
				 * errno says: -EEXIST would read as a
				 * repository error. */
				log_err("cannot create symlink %s: %s", full,
					strerror(errno));
				ret = -EIO;
				continue;
			}
			utimensat(AT_FDCWD, full, ts, AT_SYMLINK_NOFOLLOW);
			c->res->links++;
		} else if (f->type == SNAP_DIR) {
			if (chmod(full, f->mode))
				ret = -errno;
			utimensat(AT_FDCWD, full, ts, 0);
			c->res->dirs++;
		}
	}
	return ret;
}

int restore_run(struct repo *r, const struct snapshot *s,
		const struct restore_opts *o, struct restore_result *res)
{
	struct rctx *c = calloc(1, sizeof(*c));
	struct writer_opts wo = { 0 };
	pthread_t *tids = NULL, vtid;
	unsigned threads = o->threads, started = 0;
	int vstarted = 0;
	size_t max = r->params.cdc_max, rsize;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!c)
		return -ENOMEM;
	c->r = r;
	c->s = s;
	c->o = o;
	c->res = res;
	c->t0 = util_mono();
	progress_start(&c->prog, (enum progress_mode)o->progress, "restore");
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (unsigned)n : 1;
	}
	if (!o->force && !target_empty(o->target)) {
		log_err("target %s is not empty; choose an empty directory or "
			"pass --force", o->target);
		ret = -EEXIST;
		goto out;
	}
	ret = util_mkdirs(o->target, 0755);
	if (ret) {
		log_err("cannot create target %s: %s", o->target,
			strerror(-ret));
		goto out;
	}
	ret = index_create(&c->idx);
	if (!ret)
		ret = index_load(c->idx, r, 1, NULL);
	if (ret)
		goto out;
	ret = setup_files(c);
	if (!ret)
		ret = plan(c);
	if (ret)
		goto out;
	/* No fsync per file: one syncfs() of the target at the end makes
	 * the whole restore durable at a fraction of the cost (648 fsyncs
	 * were 30% of a 4 GiB restore). Until the command returns 0 nothing
	 * is promised, and a file only gets its real name once verified. */
	wo.flags = (o->no_uring ? WRITER_F_NO_URING : 0) | WRITER_F_NO_FSYNC |
		   WRITER_F_DONTCACHE;
	ret = writer_create(&c->w, &wo);
	if (ret)
		goto out;
	snprintf(res->io_mode, sizeof(res->io_mode), "%s", writer_mode(c->w));
	c->nrange_bufs = threads + RANGES_EXTRA;
	c->threads = threads;
	/*
	 * Workers share ranges blob by blob, so a file's chunks arrive at
	 * most about one per worker out of order; threads + 1 buffers are
	 * never parked, so some worker can always go on.
	 */
	c->nobufs = 3 * (size_t)threads + 6;
	c->park_max = c->nobufs - threads - 1;
	if (o->park_max && o->park_max < c->park_max)
		c->park_max = o->park_max;
	/* A range holds up to RANGE_MAX of blobs, or one blob of up to
	 * blob_bound(max), plus the widening to RANGE_ALIGN at both ends. */
	rsize = (RANGE_MAX + blob_bound(max) + 3 * RANGE_ALIGN) &
		~(size_t)(RANGE_ALIGN - 1);
	c->range_arena = aligned_alloc(RANGE_ALIGN, c->nrange_bufs * rsize);
	c->out_arena = malloc(c->nobufs * max);
	c->obufs = calloc(c->nobufs, sizeof(*c->obufs));
	if (!c->range_arena || !c->out_arena || !c->obufs) {
		ret = -ENOMEM;
		goto out;
	}
	ret = queue_init(&c->work, c->nrange_bufs * threads);
	if (!ret)
		ret = queue_init(&c->range_pool, c->nrange_bufs);
	if (!ret)
		ret = queue_init(&c->out_pool, c->nobufs);
	if (!ret)
		ret = queue_init(&c->done, c->nobufs);
	if (!ret)
		ret = queue_init(&c->vq, c->nfiles + 1);
	if (!ret)
		ret = queue_init(&c->vdone, c->nfiles + 1);
	if (ret)
		goto out;
	if (pthread_create(&vtid, NULL, verifier_main, c)) {
		ret = -EAGAIN;
		goto out;
	}
	vstarted = 1;
	for (size_t i = 0; i < c->nrange_bufs; i++)
		(void)queue_push(&c->range_pool, c->range_arena + i * rsize);
	for (size_t i = 0; i < c->nobufs; i++) {
		c->obufs[i].data = c->out_arena + i * max;
		c->obufs[i].c = c;
		(void)queue_push(&c->out_pool, &c->obufs[i]);
	}
	tids = calloc(threads, sizeof(*tids));
	if (!tids) {
		ret = -ENOMEM;
		goto out;
	}
	for (; started < threads; started++)
		if (pthread_create(&tids[started], NULL, worker_main, c)) {
			ret = -EAGAIN;
			goto out;
		}
	ret = run(c);
	snprintf(res->io_mode, sizeof(res->io_mode), "%s", writer_mode(c->w));
	log_info("restore: writes: %s; %llu file(s) checked by reading them "
		 "back", res->io_mode, (unsigned long long)res->readback);
	if (!ret)
		ret = finish_tree(c);
	if (!ret && !o->no_fsync) {
		int fd = open(o->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || syncfs(fd)) {
			ret = -errno;
			log_err("cannot flush %s to disk: %s", o->target,
				strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	progress(c, 1);
out:
	if (c->work.items)
		queue_close(&c->work);
	if (c->out_pool.items)
		queue_close(&c->out_pool);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	if (c->vq.items)
		queue_close(&c->vq);
	if (c->vdone.items)
		queue_close(&c->vdone);
	if (vstarted)
		pthread_join(vtid, NULL);
	queue_destroy(&c->vq);
	queue_destroy(&c->vdone);
	/* Any file left open (error exit) is dropped by the writer. */
	writer_destroy(c->w);
	queue_destroy(&c->work);
	queue_destroy(&c->done);
	queue_destroy(&c->range_pool);
	queue_destroy(&c->out_pool);
	free(c->range_arena);
	free(c->out_arena);
	free(c->obufs);
	for (size_t i = 0; i < c->nfiles; i++) {
		/* Left by an error exit: their buffers are freed below. */
		if (c->files[i].st && c->files[i].st->chk)
			o->check->drop(c->files[i].st->chk);
		free(c->files[i].st);
		free(c->files[i].path);
	}
	free(c->files);
	free(c->ready);
	free(c->refs);
	free(c->ranges);
	index_destroy(c->idx);
	if (!ret && res->damaged)
		ret = -EBADMSG;
	if (!ret && c->io_err)
		ret = c->io_err;
	if (!ret && res->failed)
		ret = -EIO;
	res->secs = util_mono() - c->t0;
	free(c);
	return ret;
}
