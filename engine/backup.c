/*
 * backup.c - see backup.h.
 *
 * Threads and ownership:
 *  - the main thread walks the roots, drives the reader and the chunker,
 *    and computes each file's whole-file digest (in order, as bytes arrive);
 *  - N workers take jobs from `work`: id, the chunk's share of Cassandra's
 *    CRC-32/Adler-32 digest (combined in order at the end), dedup claim,
 *    seal;
 *  - one packer thread takes sealed jobs from `sealed` and owns the packer
 *    and the uploader for the duration of the run.
 * A job (raw + sealed buffers) travels main -> worker -> packer -> its
 * free pool (small or large, see setup()); whoever holds it owns it. Workers write a chunk's id into its
 * file's chunk array at the chunk's own sequence number, so no two threads
 * write the same slot and the array needs no lock.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "codecs/hash.h"
#include "engine/backup.h"
#include "engine/blob.h"
#include "engine/cassandra.h"
#include "engine/index.h"
#include "engine/maint.h"
#include "engine/pack.h"
#include "engine/progress.h"
#include "engine/queue.h"
#include "engine/sstable.h"
#include "engine/util.h"
#include "io/reader.h"
#include "io/walk.h"

#define LARGE_FILE_DIV 4      /* files >= pack_size/4 get packs of their own */
#define MAX_OPEN_PACKS 4
#define PARTS_INFLIGHT_BYTES (24u << 20) /* local store: parts being written */
#define HUGE_ALIGN (2u << 20)             /* transparent huge page size */

struct bfile {
	size_t snap_idx;          /* entry in the snapshot */
	uint64_t group;           /* pack group */
	struct hash_stream hs;    /* main thread only */
	uint32_t seq;             /* next chunk number (main thread) */
	uint32_t cap;             /* chunk array capacity */
	int failed;               /* set by the main thread */
	int cached;               /* chunks came from the catalog */
	int has_cdigest;          /* verify Cassandra's digest on the way */
	struct sstable_verify cv; /* main thread only */
	/*
	 * CRC-32 and Adler-32 digests are not computed on the (serial) main
	 * thread: each worker sums its chunk into sums[seq], and the main
	 * thread combines them in order once the workers are done
	 * (cdigest_deferred). SHA-1 cannot be combined and stays serial.
	 */
	uint32_t *sums;           /* nchunks sums; written by the workers */
	int cd_deferred;          /* the file's sums await combining */
};

struct job {
	struct bfile *file;
	struct snap_chunk *slot;  /* where the worker records the chunk */
	uint64_t group;
	uint8_t *raw;
	uint32_t len;
	uint8_t *out;
	struct queue *home;       /* the pool the job goes back to */
	uint32_t *sum;            /* where to put the chunk's digest sum */
	int sum_kind;             /* enum sstable_digest_kind, when sum */
	struct pack_entry e;
};

struct ctx {
	struct repo *r;
	const struct backup_opts *o;
	struct snapshot *snap;
	struct index *idx;
	struct packer *packer;
	struct queue work, sealed;
	struct queue pool, pool_large;  /* free jobs of each size class */
	struct job *jobs;
	uint8_t *arena;
	size_t njobs, nlarge;         /* jobs; of those, max-size ones */
	size_t small_cap;             /* raw capacity of a small job */
	struct bfile *files;
	size_t nfiles, files_cap;
	_Atomic int err;              /* first error of any thread */
	_Atomic uint64_t bytes_new, chunks_new, chunks;
	_Atomic uint64_t bytes_packed;  /* sealed bytes handed to the packer */
	uint64_t bytes_read;          /* main thread */
	uint64_t warnings;            /* main thread */
	uint64_t total_bytes;         /* main thread, set after the walk */
	uint64_t damaged;             /* main thread: Cassandra digest failed */
	double t0;
	struct progress prog;         /* main thread */
	uint64_t files_done;          /* main thread */
};

/*
 * A large buffer that lives as long as the backup (the job arena, the CDC
 * window), on transparent huge pages where the system allows them
 * (madvise mode): a backup touches every page of these within seconds,
 * and taking one page fault per 4 KiB page was ~3% of a backup's CPU on
 * the benchmark VM, where faults are expensive. The cost is RSS rounded up
 * to 2 MiB pages, which also makes it independent of the data size. Free
 * with free(). Return: the buffer, or NULL.
 */
static void *alloc_huge(size_t size)
{
	size_t n = (size + HUGE_ALIGN - 1) & ~(size_t)(HUGE_ALIGN - 1);
	void *p = aligned_alloc(HUGE_ALIGN, n);

	if (p)
		(void)madvise(p, n, MADV_HUGEPAGE);
	return p;
}

static void set_err(struct ctx *c, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&c->err, &zero, err);
}

/* ---- walk ---- */

struct walk_ctx {
	struct ctx *c;
	uint32_t root;
	const char *root_path;
};

static int add_bfile(struct ctx *c, size_t snap_idx, uint64_t size,
		     uint64_t group)
{
	struct bfile *bf;
	uint32_t min = c->r->params.cdc_min;

	if (c->nfiles == c->files_cap) {
		size_t cap = c->files_cap ? 2 * c->files_cap : 256;
		struct bfile *nf = realloc(c->files, cap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		c->files = nf;
		c->files_cap = cap;
	}
	bf = &c->files[c->nfiles++];
	memset(bf, 0, sizeof(*bf));
	bf->snap_idx = snap_idx;
	bf->group = group;
	/* Every chunk but the last is at least min bytes. */
	bf->cap = (uint32_t)(size / min + 2);
	return 0;
}

static uint64_t dir_group(const char *rel)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)rel[i]) * 1099511628211ull;
	return h & ~(1ull << 63);
}

/* Strict UTF-8 (no overlongs, no surrogates), as JSON requires. */
static int utf8_ok(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p) {
		unsigned n, cp;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			n = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			n = 3, cp = *p & 0x07;
		else
			return 0;
		for (unsigned i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

static int walk_cb(void *arg, const struct walk_entry *e)
{
	struct walk_ctx *w = arg;
	struct ctx *c = w->c;
	struct snap_file *f;
	uint64_t group;

	if (e->err) {
		log_warn("cannot read %s/%s: %s; it is not in this backup",
			 w->root_path, e->rel, strerror(-e->err));
		c->warnings++;
		return e->type == 'd' ? 1 : 0;
	}
	if (e->rel[0] == '\0')
		return 0;   /* the root itself: its metadata is in roots */
	if (!utf8_ok(e->rel) || (e->target && !utf8_ok(e->target))) {
		/* Snapshots are JSON: names must be UTF-8. Cassandra's own
		 * names always are; say so rather than lose the file quietly. */
		log_warn("%s/%s: name or link target is not valid UTF-8; "
			 "skipped", w->root_path, e->rel);
		c->warnings++;
		return e->type == 'd' ? 1 : 0;
	}
	if (e->type == 'o') {
		log_warn("%s/%s: not a regular file, directory or symlink; "
			 "skipped", w->root_path, e->rel);
		c->warnings++;
		return 0;
	}
	f = snapshot_add_file(c->snap, e->rel);
	if (!f)
		return -ENOMEM;
	f->root = w->root;
	f->type = e->type;
	f->mode = e->mode;
	f->mtime_ns = e->mtime_ns;
	f->size = e->type == 'f' ? e->size : 0;
	f->inode = e->ino;
	if (e->target) {
		f->target = strdup(e->target);
		if (!f->target)
			return -ENOMEM;
	}
	if (c->o->select) {
		int sel = c->o->select(c->o->select_arg, c->snap, w->root_path,
				       e->rel, f);

		if (sel < 0)
			return sel;
		if (sel != BACKUP_TAKE) {
			/* Filtered out: drop the entry we just added. */
			f = &c->snap->files[c->snap->nfiles - 1];
			free(f->path);
			free(f->target);
			c->snap->nfiles--;
			return sel == BACKUP_DESCEND ? 0 : e->type == 'd';
		}
		f = &c->snap->files[c->snap->nfiles - 1];
	}
	if (e->type != 'f')
		return 0;
	if (e->size >= c->r->params.pack_size / LARGE_FILE_DIV)
		group = (1ull << 63) | c->nfiles;
	else
		group = dir_group(e->rel) ^ ((uint64_t)w->root << 48);
	c->total_bytes += e->size;
	return add_bfile(c, c->snap->nfiles - 1, e->size, group);
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
	struct ctx *c = arg;
	struct blobctx *b = NULL;
	struct job *j;
	int ret;

	ret = blobctx_create(&b, c->r, c->r->params.zstd_level,
			     c->r->params.cdc_max);
	if (ret)
		set_err(c, ret);
	while ((j = queue_pop(&c->work))) {
		enum sv_codec codec = SV_CODEC_NONE;
		ssize_t n;

		if (atomic_load(&c->err) || !b) {
			(void)queue_push(j->home, j);
			continue;
		}
		hash_chunk_id(c->r->id_secret, j->raw, j->len, j->slot->id);
		j->slot->len = j->len;
		if (j->sum)
			*j->sum = j->sum_kind == SSTABLE_DIGEST_CRC32 ?
				  hash_crc32(0, j->raw, j->len) :
				  hash_adler32(1, j->raw, j->len);
		atomic_fetch_add(&c->chunks, 1);
		ret = index_claim(c->idx, j->slot->id, j->len);
		if (ret <= 0) {
			if (ret < 0)
				set_err(c, ret);
			(void)queue_push(j->home, j);
			continue;
		}
		n = blob_seal(b, j->slot->id, j->raw, j->len, j->out, &codec);
		if (n < 0) {
			set_err(c, (int)n);
			(void)queue_push(j->home, j);
			continue;
		}
		memcpy(j->e.id, j->slot->id, SV_ID_LEN);
		j->e.raw_len = j->len;
		j->e.stored_len = (uint32_t)n;
		j->e.codec = (uint8_t)codec;
		atomic_fetch_add(&c->bytes_new, j->len);
		atomic_fetch_add(&c->chunks_new, 1);
		if (queue_push(&c->sealed, j))
			(void)queue_push(j->home, j);
	}
	blobctx_destroy(b);
	return NULL;
}

static void *packer_main(void *arg)
{
	struct ctx *c = arg;
	struct job *j;
	int ret;

	while ((j = queue_pop(&c->sealed))) {
		if (!atomic_load(&c->err)) {
			ret = packer_add(c->packer, j->group, &j->e, j->out);
			atomic_fetch_add(&c->bytes_packed, j->e.stored_len);
			if (ret) {
				log_err("upload failed: %s",
					c->r->up->errbuf[0] ? c->r->up->errbuf :
							      strerror(-ret));
				set_err(c, ret);
			}
		}
		(void)queue_push(j->home, j);
	}
	if (!atomic_load(&c->err)) {
		ret = packer_flush(c->packer);
		if (ret) {
			log_err("upload failed: %s",
				c->r->up->errbuf[0] ? c->r->up->errbuf :
						      strerror(-ret));
			set_err(c, ret);
		}
	}
	return NULL;
}

/* ---- chunker (main thread) ---- */

struct window {
	uint8_t *buf;       /* 2 * max bytes */
	size_t cap, pos, len;
};

static void progress(struct ctx *c, int final)
{
	struct progress_state st = {
		.files_done = c->files_done,
		.files_total = c->nfiles,
		.bytes_done = c->bytes_read,
		.bytes_total = c->total_bytes,
		.bytes_new = atomic_load(&c->bytes_new),
		.bytes_up = atomic_load(&c->bytes_packed),
	};

	progress_update(&c->prog, &st, final);
}

/* Cut and dispatch chunks from the window; all of it when eof. */
static int emit(struct ctx *c, struct bfile *bf, struct window *w, int eof)
{
	struct snap_file *f = &c->snap->files[bf->snap_idx];
	size_t max = c->r->params.cdc_max;

	while (w->len && (eof || w->len >= max)) {
		size_t cut = cdc_next(&c->r->cdc, w->buf + w->pos,
				      SV_MIN(w->len, max));
		struct job *j;

		if (bf->seq >= bf->cap)
			return -EOVERFLOW;   /* file grew beyond its stat */
		j = queue_pop(cut <= c->small_cap ? &c->pool : &c->pool_large);
		if (!j)
			return -EPIPE;
		j->file = bf;
		j->sum = bf->sums ? &bf->sums[bf->seq] : NULL;
		j->sum_kind = (int)bf->cv.want.kind;
		j->slot = &f->chunks[bf->seq++];
		j->group = bf->group;
		j->len = (uint32_t)cut;
		memcpy(j->raw, w->buf + w->pos, cut);
		w->pos += cut;
		w->len -= cut;
		if (queue_push(&c->work, j))
			return -EPIPE;
	}
	if (w->pos >= max) {
		memmove(w->buf, w->buf + w->pos, w->len);
		w->pos = 0;
	}
	return 0;
}

static int feed(struct ctx *c, struct bfile *bf, struct window *w,
		const uint8_t *data, size_t len)
{
	hash_stream_update(&bf->hs, data, len);
	while (len) {
		size_t room = w->cap - w->pos - w->len;
		size_t n = SV_MIN(room, len);
		int ret;

		memcpy(w->buf + w->pos + w->len, data, n);
		w->len += n;
		data += n;
		len -= n;
		ret = emit(c, bf, w, 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* Cassandra's own digest of a Data.db, checked as the bytes go by: a
 * mismatch means the source is damaged. The file is still backed up (it is
 * what the node has), counted and reported. */
static void start_cdigest(struct ctx *c, struct bfile *bf,
			  const struct snap_file *f)
{
	struct sstable_digest d;

	(void)c;
	if (!f->cass.cdigest[0] || cass_digest_parse(f->cass.cdigest, &d))
		return;
	bf->has_cdigest = sstable_verify_init(&bf->cv, &d) == 0;
	/* Without memory for the sums the digest is computed serially. */
	if (bf->has_cdigest && (d.kind == SSTABLE_DIGEST_CRC32 ||
				d.kind == SSTABLE_DIGEST_ADLER32))
		bf->sums = calloc(bf->cap, sizeof(*bf->sums));
}

/* Report a digest that does not match (after sstable_verify_final). */
static void report_cdigest(struct ctx *c, struct bfile *bf,
			   const struct snap_file *f)
{
	char want[64], got[64];

	if (sstable_format_digest(&bf->cv.want, want, sizeof(want)) < 0 ||
	    sstable_format_digest(&bf->cv.got, got, sizeof(got)) < 0)
		want[0] = got[0] = '\0';
	log_warn("damaged source: %s does not match its Cassandra digest "
		 "(expected %s, file has %s); backed up as it is - repair or "
		 "rebuild this SSTable on the node", f->path, want, got);
	c->damaged++;
	c->warnings++;
}

/* End of the file's bytes: check a serial digest now; a summed one once
 * the workers are done (cdigest_deferred). */
static void finish_cdigest(struct ctx *c, struct bfile *bf,
			   const struct snap_file *f)
{
	if (!bf->has_cdigest)
		return;
	if (bf->sums) {
		bf->cd_deferred = 1;
		return;
	}
	bf->has_cdigest = 0;
	if (sstable_verify_final(&bf->cv))
		report_cdigest(c, bf, f);
}

/*
 * After the workers have finished (every sum is written): combine each
 * deferred file's chunk sums in file order into its whole-file CRC-32 or
 * Adler-32 (zlib's *_combine), and check it as sstable_verify_final does.
 */
static void cdigest_deferred(struct ctx *c)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		struct bfile *bf = &c->files[i];
		const struct snap_file *f = &c->snap->files[bf->snap_idx];
		int crc = bf->cv.want.kind == SSTABLE_DIGEST_CRC32;
		uint32_t acc = crc ? (uint32_t)crc32(0L, Z_NULL, 0) :
				     (uint32_t)adler32(0L, Z_NULL, 0);

		if (!bf->cd_deferred || bf->failed)
			continue;
		bf->cd_deferred = 0;
		bf->has_cdigest = 0;
		for (uint32_t k = 0; k < f->nchunks; k++) {
			z_off_t len = (z_off_t)f->chunks[k].len;

			acc = crc ? (uint32_t)crc32_combine(acc, bf->sums[k], len) :
			      (uint32_t)adler32_combine(acc, bf->sums[k], len);
			bf->cv.bytes += (uint64_t)len;
		}
		bf->cv.acc = acc;
		if (sstable_verify_final(&bf->cv))
			report_cdigest(c, bf, f);
	}
}

static int read_all(struct ctx *c, struct reader *rd)
{
	struct window w = { 0 };
	struct bfile *cur = NULL;
	int ret = 0;

	w.cap = 2 * (size_t)c->r->params.cdc_max;
	w.buf = alloc_huge(w.cap);
	if (!w.buf)
		return -ENOMEM;
	for (;;) {
		struct rbuf *b;
		struct bfile *bf;
		struct snap_file *f;

		if (atomic_load(&c->err)) {
			ret = atomic_load(&c->err);
			break;
		}
		ret = reader_next(rd, &b);
		if (ret == 1) {
			ret = 0;
			break;
		}
		if (ret < 0)
			break;
		bf = b->cookie;
		f = &c->snap->files[bf->snap_idx];
		if (bf != cur) {
			cur = bf;
			w.pos = w.len = 0;
			hash_stream_init(&bf->hs, c->r->id_secret);
			start_cdigest(c, bf, f);
			f->chunks = calloc(bf->cap, sizeof(*f->chunks));
			if (!f->chunks) {
				reader_release(rd, b);
				ret = -ENOMEM;
				break;
			}
		}
		if (!bf->failed && !b->err && b->len) {
			if (bf->has_cdigest && !bf->sums)
				sstable_verify_update(&bf->cv, b->data, b->len);
			ret = feed(c, bf, &w, b->data, b->len);
			c->bytes_read += b->len;
		}
		if (!bf->failed && b->err) {
			bf->failed = 1;
			log_warn("%s/%s: %s; it is not in this backup",
				 c->o->roots[f->root], f->path,
				 b->err == -ESTALE ?
				 "changed while it was read (size or mtime "
				 "differ)" : strerror(-b->err));
			c->warnings++;
		}
		if (b->last && !bf->failed && !ret) {
			ret = emit(c, bf, &w, 1);
			f->nchunks = bf->seq;
			hash_stream_final(&bf->hs, f->digest);
			f->has_digest = 1;
			finish_cdigest(c, bf, f);
		}
		if (b->last)
			c->files_done++;
		if (b->last && bf->has_cdigest && !bf->cd_deferred) {
			sstable_verify_release(&bf->cv);
			bf->has_cdigest = 0;
		}
		reader_release(rd, b);
		if (ret)
			break;
		progress(c, 0);
	}
	free(w.buf);
	return ret;
}

/* Drop files that failed from the snapshot (their chunks are garbage). */
static void drop_failed(struct ctx *c)
{
	size_t out = 0;
	char *dead = calloc(c->snap->nfiles + 1, 1);

	if (!dead)
		return;
	for (size_t i = 0; i < c->nfiles; i++)
		if (c->files[i].failed)
			dead[c->files[i].snap_idx] = 1;
	for (size_t i = 0; i < c->snap->nfiles; i++) {
		struct snap_file *f = &c->snap->files[i];

		if (dead[i]) {
			free(f->path);
			free(f->target);
			free(f->chunks);
			continue;
		}
		c->snap->files[out++] = *f;
	}
	c->snap->nfiles = out;
	free(dead);
}

/*
 * The job pool, sized by memory rather than by count. A job holds a raw
 * chunk and its sealed blob, so a job able to take the largest chunk costs
 * max + blob_bound(max) (8 MiB at the default 4 MiB maximum), yet FastCDC's
 * normalized chunking makes chunks above twice the average rare (the loose
 * mask past the average cuts within avg/4 on average: P(> 2 avg) ~ e^-4).
 * So most jobs are small (twice the average) and a few, one per worker
 * and one more, take any chunk; the main thread picks the class by the
 * chunk's length. In the memory that 2 * threads + 4 full-size jobs took,
 * this gives ~1.6x as many jobs (13 instead of 8 on 2 cores), which is
 * slack for the stages to run unevenly: a worker preempted, the reader
 * waiting for the disk, the packer waiting for a free part. The work and
 * sealed queues hold every job, so only the pools block.
 */
static int setup(struct ctx *c, unsigned threads)
{
	size_t max = c->r->params.cdc_max, large = max + blob_bound(max);
	size_t budget = (2 * (size_t)threads + 4) * large;
	size_t small, off = 0;
	int ret;

	c->small_cap = SV_MIN(2 * (size_t)c->r->params.cdc_avg, max);
	small = c->small_cap + blob_bound(c->small_cap);
	c->nlarge = (size_t)threads + 1;
	c->njobs = c->nlarge + (budget - c->nlarge * large) / small;
	c->jobs = calloc(c->njobs, sizeof(*c->jobs));
	c->arena = alloc_huge(c->nlarge * large +
			      (c->njobs - c->nlarge) * small);
	if (!c->jobs || !c->arena)
		return -ENOMEM;
	ret = queue_init(&c->pool, c->njobs - c->nlarge);
	if (!ret)
		ret = queue_init(&c->pool_large, c->nlarge);
	if (!ret)
		ret = queue_init(&c->work, c->njobs);
	if (!ret)
		ret = queue_init(&c->sealed, c->njobs);
	if (ret)
		return ret;
	for (size_t i = 0; i < c->njobs; i++) {
		struct job *j = &c->jobs[i];
		size_t cap = i < c->nlarge ? max : c->small_cap;

		j->raw = c->arena + off;
		j->out = j->raw + cap;
		off += cap + blob_bound(cap);
		j->home = i < c->nlarge ? &c->pool_large : &c->pool;
		ret = queue_push(j->home, j);
		if (ret)
			return ret;
	}
	return 0;
}

/* Bytes of the job pool (for the startup ceiling). */
static size_t jobs_memory(const struct ctx *c)
{
	size_t max = c->r->params.cdc_max;

	return c->nlarge * (max + blob_bound(max)) +
	       (c->njobs - c->nlarge) *
	       (c->small_cap + blob_bound(c->small_cap));
}

int backup_run(struct repo *r, const struct backup_opts *o,
	       struct backup_result *res)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct reader_opts ro = { 0 };
	struct reader *rd = NULL;
	pthread_t *tids = NULL, ptid;
	unsigned threads = o->threads, started = 0;
	int packer_started = 0, ret;
	size_t nidx = 0;
	char hostname[256] = "", marker[128] = "";

	memset(res, 0, sizeof(*res));
	if (!c)
		return -ENOMEM;
	c->r = r;
	c->o = o;
	c->t0 = util_mono();
	progress_start(&c->prog, (enum progress_mode)o->progress, "backup");
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		threads = n > 0 ? (unsigned)n : 1;
	}
	/* The marker goes up before the index is read: a prune that deletes
	 * packs waits for every backup that may have seen the old index. */
	ret = maint_marker_create(r, marker);
	if (ret) {
		log_err("cannot write backup marker: %s", r->up->errbuf);
		goto out;
	}
	ret = index_create(&c->idx);
	if (!ret)
		ret = index_load(c->idx, r, 0, &nidx);
	if (ret)
		goto out;
	log_info("index: %zu objects, %zu packs, %zu chunks", nidx,
		 index_npacks(c->idx), index_nentries(c->idx));
	ret = snapshot_new(&c->snap);
	if (ret)
		goto out;
	c->snap->time_ns = util_now_ns();
	gethostname(hostname, sizeof(hostname) - 1);
	snprintf(c->snap->host, sizeof(c->snap->host), "%s", hostname);
	snprintf(c->snap->node, sizeof(c->snap->node), "%s",
		 o->node ? o->node : hostname);
	snprintf(c->snap->type, sizeof(c->snap->type), "%s",
		 o->type ? o->type : "tree");
#define OPT(field) \
	snprintf(c->snap->field, sizeof(c->snap->field), "%s", \
		 o->field ? o->field : "")
	OPT(tag);
	OPT(cluster);
	OPT(host_id);
	OPT(dc);
	OPT(rack);
#undef OPT
	if (o->schema) {
		c->snap->schema = strdup(o->schema);
		if (!c->snap->schema) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < o->nroots; i++) {
		char real[PATH_MAX];
		struct walk_ctx w = { c, 0, o->roots[i] };

		if (!realpath(o->roots[i], real)) {
			/* A wrong path is the operator's input: a usage error
			 * (exit 2), not a repository problem. */
			log_err("cannot read data directory %s: %s",
				o->roots[i], strerror(errno));
			ret = -EINVAL;
			goto out;
		}
		ret = snapshot_add_root(c->snap, real);
		if (ret < 0)
			goto out;
		w.root = (uint32_t)ret;
		/* Walk the resolved path: a data directory that is a symlink
		 * (/var/lib/cassandra/data -> /mnt/...) is still a directory. */
		ret = walk_tree(real, walk_cb, &w);
		if (ret) {
			log_err("cannot read data directory %s: %s",
				o->roots[i], strerror(-ret));
			goto out;
		}
	}
	if (o->catalog) {
		for (size_t i = 0; i < c->nfiles; i++) {
			struct snap_file *f =
				&c->snap->files[c->files[i].snap_idx];

			ret = o->catalog(o->catalog_arg, c->idx, c->snap, f);
			if (ret < 0)
				goto out;
			if (ret == 1) {
				c->files[i].cached = 1;
				res->catalog_hits++;
				res->catalog_bytes += f->size;
				c->total_bytes -= f->size;
			}
		}
		ret = 0;
	}
	if (o->after_walk_hook && system(o->after_walk_hook) != 0)
		log_warn("after-walk hook failed: %s", o->after_walk_hook);
	ret = setup(c, threads);
	if (ret)
		goto out;
	ro.buf_size = 1 << 20;
	ro.nbufs = o->read_bufs ? o->read_bufs : 16;
	ro.flags = (o->keep_cache ? 0 : READER_F_SPARE_CACHE) |
		   (o->no_uring ? READER_F_NO_URING : 0);
	ret = reader_create(&rd, &ro);
	if (ret)
		goto out;
	snprintf(res->io_mode, sizeof(res->io_mode), "%s", reader_mode(rd));
	{
		int remote = (r->up->ops->flags & UPL_F_REMOTE) != 0;
		unsigned conns = r->up->opts.connections ?
				 r->up->opts.connections : 8;
		size_t part = r->up->opts.part_size ? r->up->opts.part_size :
				16u << 20;
		/* Parts in flight besides one being filled per open pack:
		 * half the connections of a remote store; for a local one
		 * (direct writes on io_uring, uploaders/local.c) enough for
		 * PARTS_INFLIGHT_BYTES, so the packer fills the next part
		 * while the disk writes the last ones. */
		unsigned spare = remote ? conns / 2 :
				 (unsigned)SV_MAX(2, PARTS_INFLIGHT_BYTES / part);

		ret = packer_create(&c->packer, r, c->idx, MAX_OPEN_PACKS,
				    part, MAX_OPEN_PACKS + 1 + spare);
		if (ret)
			goto out;
	}
	res->memory = jobs_memory(c) +
		      (size_t)ro.nbufs * ro.buf_size +
		      2 * (size_t)r->params.cdc_max +
		      packer_memory(c->packer);
	{
		char mem[32];

		util_fmt_bytes(mem, sizeof(mem), res->memory);
		log_info("backup: %zu files, %u workers, reads: %s, memory "
			 "ceiling %s (plus index)", c->nfiles, threads,
			 res->io_mode, mem);
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		struct snap_file *f = &c->snap->files[c->files[i].snap_idx];
		char path[PATH_MAX];

		if (c->files[i].cached)
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->roots[f->root],
			 f->path);
		ret = reader_add(rd, path, f->size, f->mtime_ns, &c->files[i]);
		if (ret < 0)
			goto out;
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
	if (pthread_create(&ptid, NULL, packer_main, c)) {
		ret = -EAGAIN;
		goto out;
	}
	packer_started = 1;
	ret = read_all(c, rd);
	if (ret)
		set_err(c, ret);
out:
	/* Shut the stages down in order: no more work, workers drain, then
	 * the packer drains and flushes (or aborts on error). */
	if (c->work.items)
		queue_close(&c->work);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (c->sealed.items)
		queue_close(&c->sealed);
	if (packer_started)
		pthread_join(ptid, NULL);
	if (!ret)
		ret = atomic_load(&c->err);
	if (!ret)
		cdigest_deferred(c);
	if (!ret) {
		/* Every pack is complete; the store makes each durable
		 * before anything written after it (the local store's put()
		 * waits for its syncer), so now the index, then the
		 * snapshot. */
		ret = index_write_new(c->idx, r);
		if (ret)
			log_err("cannot write index: %s", r->up->errbuf);
	}
	if (!ret) {
		struct snapshot *s = c->snap;

		drop_failed(c);
		s->end_ns = util_now_ns();
		for (size_t i = 0; i < s->nfiles; i++)
			if (s->files[i].type == SNAP_FILE) {
				s->stats.files++;
				s->stats.bytes += s->files[i].size;
			}
		s->stats.bytes_read = c->bytes_read;
		s->stats.bytes_new = atomic_load(&c->bytes_new);
		s->stats.bytes_stored = packer_stats(c->packer)->blob_bytes;
		s->stats.chunks = atomic_load(&c->chunks);
		s->stats.chunks_new = atomic_load(&c->chunks_new);
		s->stats.damaged = c->damaged;
		ret = snapshot_save(r, s);
		if (ret)
			log_err("cannot write snapshot: %s", r->up->errbuf);
		else
			progress(c, 1);
		memcpy(res->id, s->id, sizeof(res->id));
		res->stats = s->stats;
		res->packs = packer_stats(c->packer)->packs;
	}
	if (marker[0])
		maint_marker_remove(r, marker);
	if (rd)
		snprintf(res->io_mode, sizeof(res->io_mode), "%s",
			 reader_mode(rd));
	res->warnings = c->warnings;
	res->damaged_sources = c->damaged;
	if (!ret && o->keep_snapshot) {
		res->snap = c->snap;
		c->snap = NULL;
	}
	res->secs = util_mono() - c->t0;
	packer_destroy(c->packer);
	reader_destroy(rd);
	free(tids);
	queue_destroy(&c->work);
	queue_destroy(&c->sealed);
	queue_destroy(&c->pool);
	queue_destroy(&c->pool_large);
	free(c->jobs);
	free(c->arena);
	for (size_t i = 0; i < c->nfiles; i++)
		free(c->files[i].sums);
	free(c->files);
	snapshot_free(c->snap);
	index_destroy(c->idx);
	free(c);
	return ret;
}
