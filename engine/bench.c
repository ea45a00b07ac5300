/*
 * bench.c - see bench.h.
 *
 * The limit model. The backup pipeline (engine/backup.c) has three kinds
 * of work:
 *   - serial work on the main thread: FastCDC over every byte and the
 *     whole-file XXH3 digest (streaming) over every byte;
 *   - parallel work on W workers: the keyed XXH3-128 chunk id, zstd with
 *     the skip rule, and AES-256-GCM over the stored (compressed) bytes;
 *   - IO: reads (io_uring) and the upload of stored bytes.
 * With one-thread rates R (bytes/s) measured here, the per-raw-byte CPU
 * costs are t = 1/R, except AES and upload, which see only the stored
 * bytes: t_aes = s / R_aes, where s = stored/raw (1/ratio). Then the
 * pipeline cannot go faster than any of:
 *   read      R_read                      (the device, as backup reads it)
 *   fastcdc   R_cdc                       (serial)
 *   xxh3      min(W * R_xxh3, R_digest)   (ids parallel, digest serial)
 *   zstd      W * R_zstd
 *   aes-gcm   W * R_aes / s
 *   main      1 / (t_cdc + t_digest)      (both on the one main thread)
 *   cpu       C / (t_read + t_cdc + t_digest + t_xxh3 + t_zstd + t_aes)
 *             (all CPU work shares C = min(cores, W + 1) cores; t_read is
 *             the CPU the read stage used per byte, kernel copies
 *             included)
 * and limit = the smallest of these. Upload is left out of the limit
 * because the pipeline measured here writes to "null:"; upload_limit =
 * min(limit, R_upload / s) estimates a real backup to the location.
 * The CPU stages run on a sample spread over everything read, so that one
 * table that compresses unusually does not stand for the whole node.
 * What the model leaves out, and why the pipeline reaches less than 100%:
 * the main thread also copies every byte twice (into the CDC
 * window, then into the job); the packer copies stored bytes into parts;
 * per-chunk key derivation (HMAC-SHA256, ~2 us per ~1 MiB chunk) and
 * queue hand-offs; and backup_run()'s fixed costs (walk, index, snapshot)
 * are in its wall time. A share well below ~70% points at stalls (queue
 * sizes, a stage waiting on IO) rather than at a slow codec.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "codecs/aead.h"
#include "codecs/cdc.h"
#include "codecs/compress.h"
#include "codecs/hash.h"
#include "engine/backup.h"
#include "engine/bench.h"
#include "engine/repo.h"
#include "engine/util.h"
#include "io/reader.h"
#include "io/walk.h"

#define MiB ((uint64_t)1 << 20)
#define READ_MAX_DEFAULT (2048 * MiB)
#define SAMPLE_MAX_DEFAULT (128 * MiB)
#define PART_SIZE_DEFAULT (16 * MiB)
#define UPLOAD_PARTS_DEFAULT 4
#define MIN_SECS_DEFAULT 0.3
#define MAX_PASSES 1000
#define GEN_FILE_SIZE (16 * MiB)

static const char *const stage_names[BENCH_NSTAGES] = {
	"read", "fastcdc", "xxh3", "zstd", "aes-gcm", "upload",
};

/* ---- the files of a data directory, each inode once ---- */

struct bfile {
	char *path;
	uint64_t size, ino;
	int64_t mtime_ns;
	int taken;             /* picked by the pipeline's select */
};

struct fileset {
	const char *root;
	struct bfile *v;
	size_t n, cap;
	uint64_t bytes, max;
	/* Open-addressing set of (dev, ino) keys -> index + 1 in v. */
	uint64_t *keys;
	size_t *vals;
	size_t hcap, hn;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Slot of key: where it is, or the empty slot where it would go. */
static size_t set_slot(const struct fileset *fs, uint64_t key)
{
	size_t i = (size_t)mix64(key) & (fs->hcap - 1);

	while (fs->vals[i] && fs->keys[i] != key)
		i = (i + 1) & (fs->hcap - 1);
	return i;
}

static int set_grow(struct fileset *fs)
{
	size_t ncap = fs->hcap ? 2 * fs->hcap : 1024;
	uint64_t *ok = fs->keys;
	size_t *ov = fs->vals, ocap = fs->hcap;

	fs->keys = calloc(ncap, sizeof(*fs->keys));
	fs->vals = calloc(ncap, sizeof(*fs->vals));
	if (!fs->keys || !fs->vals) {
		free(fs->keys);
		free(fs->vals);
		fs->keys = ok;
		fs->vals = ov;
		return -ENOMEM;
	}
	fs->hcap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (ov[i]) {
			size_t s = set_slot(fs, ok[i]);

			fs->keys[s] = ok[i];
			fs->vals[s] = ov[i];
		}
	}
	free(ok);
	free(ov);
	return 0;
}

/* The pipeline's select sees inode numbers but not devices: the key is
 * the inode alone there, so it is the inode alone here too (a data
 * directory spanning mount points could see two files share one). */
static struct bfile *set_find(const struct fileset *fs, uint64_t ino)
{
	size_t s;

	if (!fs->hcap)
		return NULL;
	s = set_slot(fs, ino);
	return fs->vals[s] ? &fs->v[fs->vals[s] - 1] : NULL;
}

static int walk_cb(void *arg, const struct walk_entry *e)
{
	struct fileset *fs = arg;
	struct bfile *f;
	size_t s;

	if (e->err || e->type != 'f')
		return 0;   /* unreadable entries are the read stage's errors */
	if (fs->bytes >= fs->max)
		return 0;
	if (set_find(fs, e->ino))
		return 0;   /* a hard link of a file already listed */
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 256;
		struct bfile *nv = realloc(fs->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		fs->v = nv;
		fs->cap = cap;
	}
	if (2 * (fs->hn + 1) > fs->hcap && set_grow(fs))
		return -ENOMEM;
	f = &fs->v[fs->n];
	memset(f, 0, sizeof(*f));
	if (asprintf(&f->path, "%s/%s", fs->root, e->rel) < 0)
		return -ENOMEM;
	f->size = e->size;
	f->ino = e->ino;
	f->mtime_ns = e->mtime_ns;
	fs->n++;
	s = set_slot(fs, e->ino);
	fs->keys[s] = e->ino;
	fs->vals[s] = fs->n;
	fs->hn++;
	fs->bytes += e->size;
	return 0;
}

static void fileset_free(struct fileset *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		free(fs->v[i].path);
	free(fs->v);
	free(fs->keys);
	free(fs->vals);
	memset(fs, 0, sizeof(*fs));
}

/* ---- generated SSTable-like data ---- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *g)
{
	return mix64(g->s += UINT64_C(0x9e3779b97f4a7c15));
}

/*
 * 4 KiB blocks in roughly the proportions of a Cassandra node's files:
 * random bytes (LZ4-compressed Data.db payload, Filter.db), row-like
 * records (keys from a small population, rising timestamps, small ints,
 * short names: what Index.db and uncompressed tables look like) and text
 * (logs, schema). The same generator as perf/bench_codecs.c.
 */
static void gen_data(uint8_t *p, size_t n, uint64_t seed)
{
	static const char *const names[] = { "alice", "bob", "carol", "dave",
					     "erin", "frank", "grace",
					     "heidi" };
	static const char *const words[] = {
		"the", "partition", "compaction", "of", "keyspace", "replica",
		"timestamp", "and", "row", "cell", "tombstone", "value", "a",
		"INFO", "WARN", "[CompactionExecutor:4]", "2024-01-17", "to",
	};
	struct rng g = { seed };
	uint64_t ts = UINT64_C(1700000000000000);

	for (size_t off = 0; off < n; off += 4096) {
		size_t l = SV_MIN((size_t)4096, n - off), i = 0;
		uint8_t *b = p + off;

		switch (rnd(&g) % 3) {
		case 0:
			for (; i + 8 <= l; i += 8)
				sv_put_le64(b + i, rnd(&g));
			for (; i < l; i++)
				b[i] = (uint8_t)rnd(&g);
			break;
		case 1:
			while (i + 48 <= l) {
				uint64_t key = rnd(&g) % 1000;
				const char *s = names[rnd(&g) % 8];

				sv_put_le64(b + i, key *
					    UINT64_C(0x9e3779b97f4a7c15));
				sv_put_le64(b + i + 8, key);
				ts += rnd(&g) % 5000;
				sv_put_le64(b + i + 16, ts);
				sv_put_le32(b + i + 24,
					    (uint32_t)(rnd(&g) % 100));
				sv_put_le32(b + i + 28,
					    (uint32_t)(rnd(&g) % 65536));
				memcpy(b + i + 32, s, strlen(s));
				i += 32 + strlen(s);
				b[i++] = 0;
			}
			memset(b + i, 0, l - i);
			break;
		default:
			while (i < l) {
				const char *w = words[rnd(&g) %
						      SV_ARRAY_SIZE(words)];
				size_t wl = SV_MIN(strlen(w), l - i);

				memcpy(b + i, w, wl);
				i += wl;
				if (i < l)
					b[i++] = (rnd(&g) % 10) ? ' ' : '\n';
			}
			break;
		}
	}
}

/* ---- stages ---- */

static void stage_done(struct bench_stage *st, uint64_t bytes, double secs)
{
	st->measured = 1;
	st->bytes = bytes;
	st->secs = secs;
	st->mbps = secs > 0 ? (double)bytes / secs / 1e6 : 0;
}

static double cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/*
 * Read every listed file as a backup does, and keep a sample of at most
 * cap bytes for the CPU stages: whole buffers spread evenly over
 * everything read (not just the first files, whose tables may compress
 * unlike the rest). The copies into the sample are timed apart and taken
 * out of the stage's time. The CPU time the process spent reading (the
 * kernel's copies and page-cache work included) is recorded too: it
 * competes with the codecs for the same cores.
 */
static int stage_read(const struct bench_opts *o, struct fileset *fs,
		      struct bench_result *r, uint8_t *sample, size_t cap,
		      size_t *sample_len)
{
	struct reader_opts ro = { 0 };
	struct reader *rd = NULL;
	uint64_t bytes = 0, errors = 0;
	double t0, c0, copy = 0, credit = 0, share;
	int ret;

	ro.buf_size = 1 << 20;
	ro.nbufs = 16;
	ro.flags = (o->keep_cache ? 0 : READER_F_SPARE_CACHE) |
		   (o->no_uring ? READER_F_NO_URING : 0);
	*sample_len = 0;
	share = fs->bytes > cap ? (double)cap / (double)fs->bytes : 1.0;
	ret = reader_create(&rd, &ro);
	if (ret)
		return ret;
	for (size_t i = 0; i < fs->n; i++) {
		ret = reader_add(rd, fs->v[i].path, fs->v[i].size,
				 fs->v[i].mtime_ns, &fs->v[i]);
		if (ret < 0)
			goto out;
	}
	c0 = cpu_secs();
	t0 = util_mono();
	for (;;) {
		struct rbuf *b;

		ret = reader_next(rd, &b);
		if (ret == 1) {
			ret = 0;
			break;
		}
		if (ret < 0)
			goto out;
		if (b->err && b->last)
			errors++;
		bytes += b->len;
		credit += share * b->len;
		if (credit >= b->len && *sample_len < cap && b->len) {
			double m0 = util_mono();
			size_t n = SV_MIN((size_t)b->len, cap - *sample_len);

			memcpy(sample + *sample_len, b->data, n);
			*sample_len += n;
			credit -= (double)n;
			copy += util_mono() - m0;
		}
		reader_release(rd, b);
	}
	stage_done(&r->stage[BENCH_READ], bytes, util_mono() - t0 - copy);
	/* The copies' CPU time is about their wall time: take it out. */
	c0 = cpu_secs() - c0 - copy;
	if (c0 > 0)
		r->read_cpu_mbps = (double)bytes / c0 / 1e6;
	snprintf(r->io_mode, sizeof(r->io_mode), "%s", reader_mode(rd));
	r->files = fs->n;
	if (errors)
		log_warn("bench: %llu file(s) of %s could not be read fully",
			 (unsigned long long)errors, o->data_dir);
	if (!bytes)
		ret = -ENODATA;
out:
	reader_destroy(rd);
	return ret;
}

/* Run fn over the sample until min_secs have passed; rate of one pass. */
struct pass {
	const uint8_t *data;
	size_t len;
	uint32_t *cut;           /* chunk lengths */
	size_t nchunks;
	void *ctx;
	uint8_t *out;
	uint64_t stored;         /* zstd: bytes after the skip rule */
	int err;
};

typedef void (*pass_fn)(struct pass *p);

static void timed(struct bench_stage *st, pass_fn fn, struct pass *p,
		  double min_secs)
{
	double t0 = util_mono(), dt;
	unsigned n = 0;

	do {
		fn(p);
		n++;
		dt = util_mono() - t0;
	} while (!p->err && dt < min_secs && n < MAX_PASSES);
	if (p->err) {
		st->err = p->err;
		return;
	}
	stage_done(st, (uint64_t)p->len * n, dt);
}

static void pass_cdc(struct pass *p)
{
	const struct cdc *c = p->ctx;
	size_t off = 0, k = 0;

	while (off < p->len) {
		size_t n = cdc_next(c, p->data + off,
				    SV_MIN(p->len - off, (size_t)c->max));

		/* p->cut has room for every chunk (each but the last is at
		 * least c->min bytes). */
		p->cut[k++] = (uint32_t)n;
		off += n;
	}
	p->nchunks = k;
}

static void pass_xxh3(struct pass *p)
{
	const uint8_t *secret = p->ctx;
	uint8_t id[SV_ID_LEN];
	size_t off = 0;

	for (size_t k = 0; k < p->nchunks; k++) {
		hash_chunk_id(secret, p->data + off, p->cut[k], id);
		off += p->cut[k];
		p->out[k % 64] ^= id[0];   /* keep the result observable */
	}
}

static void pass_digest(struct pass *p)
{
	struct hash_stream hs;
	uint8_t id[SV_ID_LEN];

	hash_stream_init(&hs, p->ctx);
	/* In 1 MiB pieces, as the reader hands the bytes over. */
	for (size_t off = 0; off < p->len; off += MiB)
		hash_stream_update(&hs, p->data + off,
				   (size_t)SV_MIN((size_t)MiB, p->len - off));
	hash_stream_final(&hs, id);
	p->out[0] ^= id[0];
}

static void pass_zstd(struct pass *p)
{
	size_t off = 0;
	uint64_t stored = 0;

	for (size_t k = 0; k < p->nchunks && !p->err; k++) {
		enum sv_codec codec;
		ssize_t n = compress_chunk(p->ctx, p->out, p->cut[k],
					   p->data + off, p->cut[k], 32,
					   &codec);

		if (n < 0)
			p->err = (int)n;
		else
			stored += (uint64_t)n;
		off += p->cut[k];
	}
	p->stored = stored;
}

struct aes_ctx {
	struct aead *a;
	uint8_t key[AEAD_KEY_LEN];
	uint8_t nonce[AEAD_NONCE_LEN];
	uint8_t aad[40];
};

static void pass_aes(struct pass *p)
{
	struct aes_ctx *x = p->ctx;
	size_t off = 0;

	for (size_t k = 0; k < p->nchunks && !p->err; k++) {
		ssize_t n;

		/* The pipeline draws a fresh nonce per chunk; a counter in
		 * it is enough for a measurement. */
		sv_put_le64(x->nonce, k);
		n = aead_seal(x->a, x->key, x->nonce, x->aad, sizeof(x->aad),
			      p->data + off, p->cut[k], p->out);
		if (n < 0)
			p->err = (int)n;
		off += p->cut[k];
	}
}

static int stage_cpu(const struct bench_opts *o, struct bench_result *r,
		     const uint8_t *sample, size_t len)
{
	double min_secs = o->min_secs > 0 ? o->min_secs : MIN_SECS_DEFAULT;
	uint8_t gear[CDC_GEAR_BYTES], secret[HASH_SECRET_LEN];
	struct cdc cdc;
	struct compress *z = NULL;
	struct aes_ctx aes = { 0 };
	struct pass p = { 0 };
	struct bench_stage dig = { 0 };
	uint32_t *cut = NULL;
	uint8_t *out = NULL;
	int ret;

	ret = util_random(gear, sizeof(gear));
	if (!ret)
		ret = util_random(secret, sizeof(secret));
	if (!ret)
		ret = util_random(aes.key, sizeof(aes.key));
	if (!ret)
		ret = util_random(aes.aad, sizeof(aes.aad));
	if (!ret)
		ret = cdc_init(&cdc, gear, CDC_MIN_DEFAULT, CDC_AVG_DEFAULT,
			       CDC_MAX_DEFAULT);
	if (ret)
		goto out;
	cut = malloc((len / CDC_MIN_DEFAULT + 2) * sizeof(*cut));
	out = malloc(CDC_MAX_DEFAULT + AEAD_OVERHEAD + 64);
	ret = -ENOMEM;
	if (!cut || !out)
		goto out;
	ret = compress_create(&z, r->zstd_level);
	if (!ret)
		ret = aead_create(&aes.a);
	if (ret)
		goto out;
	p.data = sample;
	p.len = len;
	p.cut = cut;
	p.out = out;

	p.ctx = &cdc;
	timed(&r->stage[BENCH_CDC], pass_cdc, &p, min_secs);
	r->chunks = p.nchunks;

	p.ctx = secret;
	timed(&r->stage[BENCH_XXH3], pass_xxh3, &p, min_secs);
	timed(&dig, pass_digest, &p, min_secs);
	r->digest_mbps = dig.mbps;

	p.ctx = z;
	timed(&r->stage[BENCH_ZSTD], pass_zstd, &p, min_secs);
	if (r->stage[BENCH_ZSTD].measured && p.stored)
		r->ratio = (double)len /
			   (double)(p.stored + AEAD_OVERHEAD * p.nchunks);

	p.ctx = &aes;
	timed(&r->stage[BENCH_AES], pass_aes, &p, min_secs);

	for (int i = BENCH_CDC; i <= BENCH_AES; i++)
		if (r->stage[i].err && !ret)
			ret = r->stage[i].err;
	r->sample_bytes = len;
out:
	util_wipe(aes.key, sizeof(aes.key));
	util_wipe(secret, sizeof(secret));
	compress_destroy(z);
	aead_destroy(aes.a);
	free(cut);
	free(out);
	return ret;
}

/* Upload parts of incompressible bytes (as sealed packs are) to a
 * scratch object, time open..complete..stat, then remove it. The stat is
 * part of the time: a store may finish an object after complete()
 * returned (the local store fsyncs and renames packs on a syncer thread),
 * and its next operation waits for that. The part buffer is page-aligned,
 * as the packer's are, so the local store can write it with O_DIRECT. */
static int stage_upload(const struct bench_opts *o, struct bench_result *r)
{
	struct bench_stage *st = &r->stage[BENCH_UPLOAD];
	unsigned parts = o->upload_parts ? o->upload_parts :
			 UPLOAD_PARTS_DEFAULT;
	size_t psize = o->part_size ? (size_t)o->part_size : PART_SIZE_DEFAULT;
	struct uploader *u = NULL;
	struct upl_write w = { 0 };
	uint8_t *buf = NULL, id[8];
	char errbuf[512], hex[17];
	uint64_t size = 0;
	int ret, opened = 0;
	double t0;

	snprintf(r->location, sizeof(r->location), "%s", o->location);
	buf = aligned_alloc(4096, (psize + 4095) & ~(size_t)4095);
	if (!buf)
		return -ENOMEM;
	ret = util_random(buf, psize);
	if (!ret)
		ret = util_random(id, sizeof(id));
	if (ret)
		goto out;
	sv_hex(hex, id, sizeof(id));
	snprintf(w.name, sizeof(w.name), "tmp-bench/%s", hex);
	ret = uploader_create(&u, o->location, o->upl, errbuf);
	if (ret) {
		log_err("bench: cannot open %s: %s", o->location, errbuf);
		goto out;
	}
	t0 = util_mono();
	ret = u->ops->open(u, &w);
	if (ret)
		goto fail;
	opened = 1;
	/* Every part is the same immutable buffer, so a part in flight
	 * (SV_Q_QUEUED) needs no buffer of its own. */
	for (unsigned i = 0; i < parts; i++) {
		for (;;) {
			struct upl_event ev[16];
			int n;

			ret = u->ops->put_part(u, &w, buf, psize, NULL);
			if (ret != SV_Q_BUSY)
				break;
			n = u->ops->reap(u, ev, (int)SV_ARRAY_SIZE(ev), -1);
			if (n < 0) {
				ret = n;
				break;
			}
		}
		if (ret < 0)
			goto fail;
	}
	ret = u->ops->complete(u, &w);
	if (ret)
		goto fail;
	opened = 0;
	ret = u->ops->stat(u, w.name, &size);
	if (!ret && size != (uint64_t)parts * psize)
		ret = -EIO;
	if (ret)
		goto fail;
	stage_done(st, (uint64_t)parts * psize, util_mono() - t0);
	ret = u->ops->remove(u, w.name);
	if (ret) {
		log_warn("bench: cannot remove %s at %s: %s", w.name,
			 o->location, u->errbuf[0] ? u->errbuf :
			 strerror(-ret));
		ret = 0;
	}
	goto out;
fail:
	log_err("bench: upload to %s failed: %s", o->location,
		u->errbuf[0] ? u->errbuf : strerror(-ret));
	if (opened)
		(void)u->ops->abort(u, &w);
out:
	if (ret)
		st->err = ret;
	uploader_destroy(u);
	free(buf);
	return ret;
}

/* ---- the pipeline into "null:" ---- */

static int pipe_select(void *arg, struct snapshot *s, const char *root,
		       const char *rel, struct snap_file *f)
{
	struct fileset *fs = arg;
	struct bfile *b;

	(void)s, (void)root, (void)rel;
	if (f->type == SNAP_DIR)
		return BACKUP_TAKE;
	if (f->type != SNAP_FILE)
		return BACKUP_SKIP;
	b = set_find(fs, f->inode);
	if (!b || b->taken || b->size != f->size)
		return BACKUP_SKIP;
	b->taken = 1;
	return BACKUP_TAKE;
}

static int stage_pipeline(const struct bench_opts *o, struct bench_result *r,
			  const char *dir, struct fileset *fs)
{
	struct repo_params rp;
	struct backup_opts bo = { 0 };
	struct backup_result br;
	struct repo *repo = NULL;
	uint8_t id[REPO_ID_LEN], master[32];
	const char *roots[1] = { dir };
	char errbuf[512];
	int ret;

	repo_default_params(&rp);
	rp.zstd_level = r->zstd_level;
	/* A throw-away repository: random id and key, subkeys derived as
	 * repo_open() derives them, over a store that keeps small objects
	 * and discards packs (repo_open() itself cannot be used: every
	 * "null:" store starts empty, with no config or key slot). */
	ret = util_random(id, sizeof(id));
	if (!ret)
		ret = util_random(master, sizeof(master));
	if (!ret)
		ret = repo_open_mem(&repo, id, master, &rp);
	util_wipe(master, sizeof(master));
	if (ret)
		return ret;
	uploader_destroy(repo->up);
	repo->up = NULL;
	ret = uploader_create(&repo->up, "null:", NULL, errbuf);
	if (ret) {
		log_err("bench: cannot create the null store: %s", errbuf);
		goto out;
	}
	snprintf(repo->location, sizeof(repo->location), "null:");
	for (size_t i = 0; i < fs->n; i++)
		fs->v[i].taken = 0;
	bo.roots = roots;
	bo.nroots = 1;
	bo.tag = "bench";
	bo.node = "bench";
	bo.threads = r->threads;
	bo.no_uring = o->no_uring;
	bo.keep_cache = o->keep_cache;
	bo.select = pipe_select;
	bo.select_arg = fs;
	bo.type = "tree";
	ret = backup_run(repo, &bo, &br);
	r->pipeline_ran = 1;
	if (ret) {
		log_err("bench: pipeline failed: %s", strerror(-ret));
		goto out;
	}
	r->pipeline_files = br.stats.files;
	r->pipeline_bytes = br.stats.bytes_read;
	r->pipeline_secs = br.secs;
	r->pipeline_mbps = br.secs > 0 ?
			   (double)br.stats.bytes_read / br.secs / 1e6 : 0;
out:
	r->pipeline_err = ret;
	repo_close(repo);
	return ret;
}

/* Write the generated sample as files of a scratch directory, so that the
 * pipeline has something to read. */
static int write_sample(const uint8_t *p, size_t len, char *dir, size_t cap,
			struct fileset *fs)
{
	const char *tmp = getenv("TMPDIR");
	int ret = 0;

	snprintf(dir, cap, "%s/sstvault-bench.XXXXXX", tmp && *tmp ? tmp :
		 "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	for (size_t off = 0, k = 0; off < len; off += GEN_FILE_SIZE, k++) {
		size_t n = (size_t)SV_MIN((uint64_t)(len - off), GEN_FILE_SIZE);
		char path[4200];
		int fd;

		snprintf(path, sizeof(path), "%s/nb-%zu-big-Data.db", dir,
			 k + 1);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		for (size_t w = 0; w < n;) {
			ssize_t m = write(fd, p + off + w, n - w);

			if (m < 0) {
				ret = -errno;
				break;
			}
			w += (size_t)m;
		}
		close(fd);
		if (ret)
			return ret;
	}
	fs->root = dir;
	fs->max = UINT64_MAX;
	return walk_tree(dir, walk_cb, fs);
}

static void remove_sample(const char *dir, const struct fileset *fs)
{
	for (size_t i = 0; i < fs->n; i++)
		unlink(fs->v[i].path);
	rmdir(dir);
}

/* ---- the model ---- */

static unsigned host_cores(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set))
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

static void consider(struct bench_result *r, double mbps, const char *what)
{
	if (mbps > 0 && (r->limit_mbps == 0 || mbps < r->limit_mbps)) {
		r->limit_mbps = mbps;
		r->limit_by = what;
	}
}

static void model(struct bench_result *r)
{
	double digest_mbps = r->digest_mbps;
	struct bench_stage *s = r->stage;
	unsigned w = SV_MIN(r->threads, r->cores);
	double c = SV_MIN((double)r->cores, (double)w + 1);
	double frac = r->ratio > 0 ? 1.0 / r->ratio : 1.0;
	double t_read = 0, t_cdc, t_dig, t_id, t_z, t_aes;

	if (!s[BENCH_CDC].measured || !s[BENCH_XXH3].measured ||
	    !s[BENCH_ZSTD].measured || !s[BENCH_AES].measured ||
	    digest_mbps <= 0)
		return;
	t_cdc = 1.0 / s[BENCH_CDC].mbps;
	t_dig = 1.0 / digest_mbps;
	t_id = 1.0 / s[BENCH_XXH3].mbps;
	t_z = 1.0 / s[BENCH_ZSTD].mbps;
	t_aes = frac / s[BENCH_AES].mbps;
	if (s[BENCH_READ].measured && r->read_cpu_mbps > 0)
		t_read = 1.0 / r->read_cpu_mbps;
	if (s[BENCH_READ].measured)
		s[BENCH_READ].allows_mbps = s[BENCH_READ].mbps;
	s[BENCH_CDC].allows_mbps = s[BENCH_CDC].mbps;
	s[BENCH_XXH3].allows_mbps = SV_MIN(w * s[BENCH_XXH3].mbps,
					   digest_mbps);
	s[BENCH_ZSTD].allows_mbps = w * s[BENCH_ZSTD].mbps;
	s[BENCH_AES].allows_mbps = w * s[BENCH_AES].mbps / frac;
	if (s[BENCH_UPLOAD].measured)
		s[BENCH_UPLOAD].allows_mbps = s[BENCH_UPLOAD].mbps / frac;
	r->main_mbps = 1.0 / (t_cdc + t_dig);
	r->cpu_mbps = c / (t_read + t_cdc + t_dig + t_id + t_z + t_aes);
	r->limit_mbps = 0;
	for (int i = BENCH_READ; i <= BENCH_AES; i++)
		consider(r, s[i].allows_mbps, s[i].name);
	consider(r, r->main_mbps, "main thread");
	consider(r, r->cpu_mbps, "cpu");
	if (s[BENCH_UPLOAD].measured)
		r->upload_limit_mbps = SV_MIN(r->limit_mbps,
					      s[BENCH_UPLOAD].allows_mbps);
	if (r->pipeline_mbps > 0 && r->limit_mbps > 0)
		r->pipeline_share = r->pipeline_mbps / r->limit_mbps;
}

/* ---- entry points ---- */

int bench_run(const struct bench_opts *o, struct bench_result *r)
{
	uint64_t smax = o->sample_max ? o->sample_max : SAMPLE_MAX_DEFAULT;
	struct fileset fs = { 0 };
	uint8_t *sample = NULL;
	size_t slen = 0;
	char gendir[4096] = "";
	int ret = 0, first = 0;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < BENCH_NSTAGES; i++) {
		r->stage[i].name = stage_names[i];
		r->stage[i].parallel = i == BENCH_XXH3 || i == BENCH_ZSTD ||
				       i == BENCH_AES;
	}
	r->limit_by = "";
	r->cores = host_cores();
	r->threads = o->threads ? o->threads : r->cores;
	r->zstd_level = o->zstd_level ? o->zstd_level : 1;
	snprintf(r->source, sizeof(r->source), "%s",
		 o->data_dir ? o->data_dir : "generated");
	if (r->zstd_level < 1 || r->zstd_level > 19)
		return -EINVAL;
	sample = malloc(smax);
	if (!sample)
		return -ENOMEM;

	if (o->data_dir) {
		fs.root = o->data_dir;
		fs.max = o->read_max ? o->read_max : READ_MAX_DEFAULT;
		ret = walk_tree(o->data_dir, walk_cb, &fs);
		if (ret) {
			log_err("bench: cannot read %s: %s", o->data_dir,
				strerror(-ret));
			goto out;
		}
		ret = stage_read(o, &fs, r, sample, smax, &slen);
		if (ret) {
			r->stage[BENCH_READ].err = ret;
			log_err("bench: reading %s failed: %s", o->data_dir,
				ret == -ENODATA ? "no data" : strerror(-ret));
			goto out;
		}
	} else {
		slen = (size_t)smax;
		gen_data(sample, slen, 1);
	}

	ret = stage_cpu(o, r, sample, slen);
	if (ret) {
		log_err("bench: codec stages failed: %s", strerror(-ret));
		first = ret;
	}
	if (!o->no_pipeline && !o->data_dir) {
		ret = write_sample(sample, slen, gendir, sizeof(gendir), &fs);
		if (ret) {
			log_err("bench: cannot write generated data to %s: %s",
				gendir, strerror(-ret));
			first = first ? first : ret;
		}
	}
	/* The sample is not needed any more: give its memory back before
	 * the pipeline allocates its own. */
	free(sample);
	sample = NULL;

	if (o->location) {
		ret = stage_upload(o, r);
		first = first ? first : ret;
	}
	if (!o->no_pipeline && fs.n) {
		ret = stage_pipeline(o, r, o->data_dir ? o->data_dir : gendir,
				     &fs);
		first = first ? first : ret;
	}
	model(r);
	ret = first;
out:
	if (gendir[0])
		remove_sample(gendir, &fs);
	fileset_free(&fs);
	free(sample);
	return ret;
}

static const char *err_str(int err, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", err ? strerror(-err) : "");
	return buf;
}

/* JSON string body: the characters JSON needs escaped, and no others. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void print_json(FILE *f, const struct bench_result *r)
{
	char eb[128];

	fputs("{\"stages\":[", f);
	for (int i = 0; i < BENCH_NSTAGES; i++) {
		const struct bench_stage *s = &r->stage[i];

		fprintf(f, "%s{\"name\":", i ? "," : "");
		json_str(f, s->name);
		fprintf(f, ",\"measured\":%s,\"parallel\":%s,\"bytes\":%llu,"
			"\"seconds\":%.6f,\"MBps\":%.1f,\"allows_MBps\":%.1f,"
			"\"error\":", s->measured ? "true" : "false",
			s->parallel ? "true" : "false",
			(unsigned long long)s->bytes, s->secs, s->mbps,
			s->allows_mbps);
		json_str(f, err_str(s->err, eb, sizeof(eb)));
		fputc('}', f);
	}
	fprintf(f, "],\"cores\":%u,\"threads\":%u,\"zstd_level\":%d,"
		"\"source\":", r->cores, r->threads, r->zstd_level);
	json_str(f, r->source);
	fputs(",\"io_mode\":", f);
	json_str(f, r->io_mode);
	fputs(",\"location\":", f);
	json_str(f, r->location);
	fprintf(f, ",\"files\":%llu,\"sample_bytes\":%llu,\"chunks\":%llu,"
		"\"ratio\":%.3f,\"read_cpu_MBps\":%.1f,\"digest_MBps\":%.1f,"
		"\"main_MBps\":%.1f,\"cpu_MBps\":%.1f,"
		"\"limit_MBps\":%.1f,\"limit_by\":",
		(unsigned long long)r->files,
		(unsigned long long)r->sample_bytes,
		(unsigned long long)r->chunks, r->ratio, r->read_cpu_mbps,
		r->digest_mbps, r->main_mbps,
		r->cpu_mbps, r->limit_mbps);
	json_str(f, r->limit_by ? r->limit_by : "");
	fprintf(f, ",\"upload_limit_MBps\":%.1f,\"pipeline\":{\"ran\":%s,"
		"\"error\":", r->upload_limit_mbps,
		r->pipeline_ran ? "true" : "false");
	json_str(f, err_str(r->pipeline_err, eb, sizeof(eb)));
	fprintf(f, ",\"files\":%llu,\"bytes\":%llu,\"seconds\":%.3f,"
		"\"MBps\":%.1f,\"share\":%.3f}}\n",
		(unsigned long long)r->pipeline_files,
		(unsigned long long)r->pipeline_bytes, r->pipeline_secs,
		r->pipeline_mbps, r->pipeline_share);
}

void bench_print(FILE *f, const struct bench_result *r, int json)
{
	char sz[32], eb[128];

	if (json) {
		print_json(f, r);
		return;
	}
	util_fmt_bytes(sz, sizeof(sz), r->sample_bytes);
	fprintf(f, "host: %u cores, %u pipeline workers; data: %s; sample "
		"%s, %llu chunks, zstd -%d, ratio %.2f\n", r->cores,
		r->threads, r->source, sz, (unsigned long long)r->chunks,
		r->zstd_level, r->ratio);
	if (r->io_mode[0])
		fprintf(f, "reads: %s\n", r->io_mode);
	fprintf(f, "%-10s %-9s %12s %14s  %s\n", "stage", "kind",
		"MB/s", "allows MB/s", "");
	for (int i = 0; i < BENCH_NSTAGES; i++) {
		const struct bench_stage *s = &r->stage[i];
		const char *kind = s->parallel ? "parallel" :
				   (i == BENCH_READ || i == BENCH_UPLOAD) ?
				   "io" : "serial";

		if (!s->measured) {
			fprintf(f, "%-10s %-9s %12s %14s  %s\n", s->name, kind,
				"-", "-", s->err ?
				err_str(s->err, eb, sizeof(eb)) :
				"not measured");
			continue;
		}
		if (i == BENCH_READ)
			fprintf(f, "%-10s %-9s %12.1f %14.1f  %llu files; "
				"%.0f MB per CPU second\n", s->name, kind,
				s->mbps, s->allows_mbps,
				(unsigned long long)r->files,
				r->read_cpu_mbps);
		else
			fprintf(f, "%-10s %-9s %12.1f %14.1f  %s\n", s->name,
				kind, s->mbps, s->allows_mbps,
				i == BENCH_UPLOAD ? r->location : "");
	}
	fprintf(f, "%-10s %-9s %12.1f %14.1f  whole-file XXH3 digest (one "
		"thread); main = CDC + digest\n", "main", "serial",
		r->digest_mbps, r->main_mbps);
	fprintf(f, "%-10s %-9s %12s %14.1f  every CPU stage on %u cores\n",
		"cpu", "all", "", r->cpu_mbps,
		SV_MIN(r->cores, SV_MIN(r->threads, r->cores) + 1));
	fprintf(f, "limit: %.1f MB/s (bound by %s)", r->limit_mbps,
		r->limit_by && r->limit_by[0] ? r->limit_by : "-");
	if (r->upload_limit_mbps > 0)
		fprintf(f, "; with the upload: %.1f MB/s",
			r->upload_limit_mbps);
	fputc('\n', f);
	if (r->pipeline_ran && !r->pipeline_err)
		fprintf(f, "pipeline (into null:): %.1f MB/s, %llu files, "
			"%.2f s: %.0f%% of the limit\n", r->pipeline_mbps,
			(unsigned long long)r->pipeline_files,
			r->pipeline_secs, 100.0 * r->pipeline_share);
	else if (r->pipeline_ran)
		fprintf(f, "pipeline (into null:): failed: %s\n",
			err_str(r->pipeline_err, eb, sizeof(eb)));
}
