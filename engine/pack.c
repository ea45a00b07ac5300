/*
 * pack.c - see pack.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/pack.h"
#include "engine/util.h"

/*
 * Part buffers start on a page boundary: a backend may hand them to the
 * kernel for direct IO (uploaders/local.c writes packs with O_DIRECT),
 * which needs the buffer aligned to the device's block size. The arena is
 * on transparent huge pages where allowed (madvise mode): every page of it
 * is written within seconds, and a fault per 4 KiB page is costly in a
 * virtual machine; direct IO also pins far fewer pages per part.
 */
#define PART_ALIGN 4096u
#define ARENA_ALIGN (2u << 20)

struct openpack;

struct part {
	uint8_t *data;
	size_t len;
	struct openpack *owner;    /* set while queued in the uploader, until
				    * its pack is closed (then NULL) */
	struct part *next;         /* free list / owner's in-flight list */
};

struct openpack {
	int used;
	uint64_t group;
	uint64_t last_use;
	uint8_t oid[SV_OID_LEN];
	struct upl_write w;
	struct part *cur;          /* part being filled, or NULL */
	uint64_t size;             /* bytes appended so far */
	struct pack_entry *ents;
	size_t n, cap;
	struct part *inflight;     /* parts queued in the uploader */
};

struct packer {
	struct repo *r;
	struct index *x;
	struct openpack *open;
	unsigned max_open;
	size_t part_size;
	size_t stride;             /* part_size rounded up to PART_ALIGN */
	uint8_t *arena;            /* nparts * stride bytes, 2 MiB-aligned */
	int arena_lost;            /* parts never came back: do not free */
	struct part *parts;
	unsigned nparts;
	struct part *free_parts;
	unsigned nqueued;          /* parts queued in the uploader */
	uint64_t clock;
	struct packer_stats st;
	int err;                   /* sticky */
};

int packer_create(struct packer **out, struct repo *r, struct index *x,
		  unsigned max_open, size_t part_size, unsigned nparts)
{
	struct packer *p;
	size_t asize;

	*out = NULL;
	if (!max_open || nparts < max_open + 1 || part_size < (1 << 16))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->r = r;
	p->x = x;
	p->max_open = max_open;
	p->part_size = part_size;
	p->nparts = nparts;
	p->stride = (part_size + PART_ALIGN - 1) & ~(size_t)(PART_ALIGN - 1);
	p->open = calloc(max_open, sizeof(*p->open));
	p->parts = calloc(nparts, sizeof(*p->parts));
	asize = ((size_t)nparts * p->stride + ARENA_ALIGN - 1) &
		~(size_t)(ARENA_ALIGN - 1);
	p->arena = aligned_alloc(ARENA_ALIGN, asize);
	if (p->arena)
		(void)madvise(p->arena, asize, MADV_HUGEPAGE);
	if (!p->open || !p->parts || !p->arena) {
		packer_destroy(p);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nparts; i++) {
		p->parts[i].data = p->arena + (size_t)i * p->stride;
		p->parts[i].next = p->free_parts;
		p->free_parts = &p->parts[i];
	}
	*out = p;
	return 0;
}

static void part_free(struct packer *p, struct part *pt)
{
	pt->owner = NULL;
	pt->len = 0;
	pt->next = p->free_parts;
	p->free_parts = pt;
}

/* Take a queued part off its pack's in-flight list. */
static void unlink_inflight(struct openpack *op, struct part *pt)
{
	for (struct part **pp = &op->inflight; *pp; pp = &(*pp)->next) {
		if (*pp == pt) {
			*pp = pt->next;
			return;
		}
	}
}

/* Hand back completed parts. Return: events reaped, or -errno. */
static int reap(struct packer *p, int timeout_ms)
{
	struct upl_event ev[16];
	struct uploader *u = p->r->up;
	int n = u->ops->reap(u, ev, (int)SV_ARRAY_SIZE(ev), timeout_ms);

	for (int i = 0; i < n; i++) {
		struct part *pt = ev[i].cookie;
		struct openpack *op = pt->owner;

		if (op) {
			unlink_inflight(op, pt);
			if (ev[i].res < 0 && !op->w.err)
				op->w.err = (int)ev[i].res;
		}
		p->nqueued--;
		part_free(p, pt);
	}
	return n;
}

static int get_part(struct packer *p, struct part **out)
{
	while (!p->free_parts) {
		int n = reap(p, -1);

		if (n < 0)
			return n;
		if (n == 0 && !p->free_parts) {
			/* Nothing in flight can free a part: a sizing bug. */
			return -EDEADLK;
		}
	}
	*out = p->free_parts;
	p->free_parts = (*out)->next;
	(*out)->len = 0;
	(*out)->next = NULL;
	return 0;
}

/* Give the current part of op to the uploader. */
static int send_part(struct packer *p, struct openpack *op)
{
	struct uploader *u = p->r->up;
	struct part *pt = op->cur;
	int ret;

	op->cur = NULL;
	pt->owner = op;
	for (;;) {
		ret = u->ops->put_part(u, &op->w, pt->data, pt->len, pt);
		if (ret != SV_Q_BUSY)
			break;
		ret = reap(p, -1);
		if (ret < 0)
			break;
	}
	if (ret == SV_Q_QUEUED) {
		pt->next = op->inflight;
		op->inflight = pt;
		p->nqueued++;
		return 0;
	}
	part_free(p, pt);
	return ret < 0 ? ret : 0;
}

/* Append bytes to op's stream, sending full parts. */
static int append(struct packer *p, struct openpack *op, const void *data,
		  size_t len)
{
	const uint8_t *src = data;
	int ret;

	while (len) {
		size_t room, n;

		if (!op->cur) {
			ret = get_part(p, &op->cur);
			if (ret)
				return ret;
		}
		room = p->part_size - op->cur->len;
		n = SV_MIN(room, len);
		memcpy(op->cur->data + op->cur->len, src, n);
		op->cur->len += n;
		op->size += n;
		src += n;
		len -= n;
		if (op->cur->len == p->part_size) {
			ret = send_part(p, op);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * Wait until the uploader has handed back every queued part: a part's
 * buffer is reused, or the arena freed, only once its cookie came back
 * (uploader.h). Used at the end (flush, destroy), not per pack.
 */
static void reap_all(struct packer *p)
{
	for (int idle = 0; p->nqueued;) {
		int n = reap(p, 1000);

		idle = n == 0 ? idle + 1 : 0;
		if (n < 0 || idle > 300) {
			log_err("uploader lost the completion of %u part(s)",
				p->nqueued);
			/* The uploader is broken: nothing will come back,
			 * and nothing will be sent again either. The
			 * arena stays allocated (leaked) so that a late
			 * write from it cannot touch freed memory. */
			p->arena_lost = 1;
			p->nqueued = 0;
			if (!p->err)
				p->err = -EIO;
		}
	}
}

/*
 * Release everything of op after complete() or abort() returned. Parts of
 * op still queued in the uploader (complete() may return before the last
 * ones are written) are not waited for: they no longer reference op, and
 * go back to the free list whenever reap() hands them back, so the packer
 * goes on with the next pack at once.
 */
static void close_pack(struct packer *p, struct openpack *op)
{
	for (struct part *pt = op->inflight; pt; pt = pt->next)
		pt->owner = NULL;
	op->inflight = NULL;
	if (op->cur)
		part_free(p, op->cur);
	op->cur = NULL;
	free(op->ents);
	memset(op, 0, sizeof(*op));
}

static void abort_pack(struct packer *p, struct openpack *op)
{
	struct uploader *u = p->r->up;

	if (!op->used)
		return;
	if (u->ops->abort(u, &op->w))
		log_warn("cannot abort upload of %s: %s", op->w.name, u->errbuf);
	close_pack(p, op);
}

int pack_parse_header(const uint8_t *pt, size_t len,
		      const uint8_t oid[SV_OID_LEN], uint64_t pack_size,
		      struct pack_entry **ents, size_t *n)
{
	struct pack_entry *e;
	uint64_t end = 0;
	uint32_t cnt;

	*ents = NULL;
	*n = 0;
	if (len < SV_OID_LEN + 4 || memcmp(pt, oid, SV_OID_LEN))
		return -EBADMSG;
	cnt = sv_get_le32(pt + SV_OID_LEN);
	if ((len - SV_OID_LEN - 4) / PACK_ENTRY_LEN != cnt ||
	    (len - SV_OID_LEN - 4) % PACK_ENTRY_LEN)
		return -EBADMSG;
	e = malloc((cnt ? cnt : 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (uint32_t i = 0; i < cnt; i++) {
		pack_entry_get(pt + SV_OID_LEN + 4 + (size_t)i * PACK_ENTRY_LEN,
			       &e[i]);
		/* Blobs are laid out back to back from offset 0. */
		if (e[i].off != end || e[i].stored_len < 28 ||
		    e[i].codec > SV_CODEC_ZSTD ||
		    e[i].off + e[i].stored_len > pack_size) {
			free(e);
			return -EBADMSG;
		}
		end = e[i].off + e[i].stored_len;
	}
	*ents = e;
	*n = cnt;
	return 0;
}

static int finish_pack(struct packer *p, struct openpack *op)
{
	struct uploader *u = p->r->up;
	uint8_t *hdr = NULL, *sealed = NULL, *check = NULL, trailer[8];
	struct pack_entry *verify = NULL;
	size_t hlen, slen, clen, vn;
	int ret;

	hlen = SV_OID_LEN + 4 + op->n * PACK_ENTRY_LEN;
	hdr = malloc(hlen);
	if (!hdr) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(hdr, op->oid, SV_OID_LEN);
	sv_put_le32(hdr + SV_OID_LEN, (uint32_t)op->n);
	for (size_t i = 0; i < op->n; i++)
		pack_entry_put(hdr + SV_OID_LEN + 4 + i * PACK_ENTRY_LEN,
			       &op->ents[i]);
	ret = repo_seal(p->r, SV_META_PACKHDR, hdr, hlen, &sealed, &slen);
	if (ret)
		goto out;
	/* Verify the header decodes before it leaves (restic's
	 * verifyHeader; STYLE 25): never upload a pack we could not read. */
	ret = repo_unseal(p->r, SV_META_PACKHDR, sealed, slen, &check, &clen);
	if (!ret)
		ret = pack_parse_header(check, clen, op->oid,
					op->size + slen + PACK_TRAILER_LEN,
					&verify, &vn);
	if (!ret && (vn != op->n || memcmp(check, hdr, hlen)))
		ret = -EBADMSG;
	if (ret) {
		log_err("pack %s: header does not verify after sealing",
			op->w.name);
		goto out;
	}
	sv_put_le32(trailer, (uint32_t)slen);
	memcpy(trailer + 4, PACK_MAGIC, 4);
	ret = append(p, op, sealed, slen);
	if (!ret)
		ret = append(p, op, trailer, sizeof(trailer));
	if (!ret && op->cur)
		ret = send_part(p, op);
	if (!ret)
		ret = op->w.err;
	if (!ret)
		ret = u->ops->complete(u, &op->w);
	if (ret)
		goto out;
	ret = index_add_pack(p->x, op->oid, op->size, op->ents, op->n, 1);
	if (ret)
		goto out;
	p->st.packs++;
	log_debug("pack %s: %zu blobs, %llu bytes", op->w.name, op->n,
		  (unsigned long long)op->size);
	close_pack(p, op);
out:
	if (ret && !p->err)
		p->err = ret;
	if (ret)
		abort_pack(p, op);
	free(verify);
	free(check);
	free(sealed);
	free(hdr);
	return ret;
}

static int start_pack(struct packer *p, struct openpack *op, uint64_t group)
{
	struct uploader *u = p->r->up;
	int ret;

	memset(op, 0, sizeof(*op));
	ret = util_random(op->oid, sizeof(op->oid));
	if (ret)
		return ret;
	index_pack_name(op->oid, op->w.name, sizeof(op->w.name));
	ret = u->ops->open(u, &op->w);
	if (ret)
		return ret;
	op->used = 1;
	op->group = group;
	return 0;
}

static struct openpack *pack_for(struct packer *p, uint64_t group, int *err)
{
	struct openpack *lru = NULL, *free_slot = NULL;

	*err = 0;
	for (unsigned i = 0; i < p->max_open; i++) {
		struct openpack *op = &p->open[i];

		if (op->used && op->group == group)
			return op;
		if (!op->used && !free_slot)
			free_slot = op;
		if (op->used && (!lru || op->last_use < lru->last_use))
			lru = op;
	}
	if (!free_slot) {
		*err = finish_pack(p, lru);
		if (*err)
			return NULL;
		free_slot = lru;
	}
	*err = start_pack(p, free_slot, group);
	return *err ? NULL : free_slot;
}

int packer_add(struct packer *p, uint64_t group, const struct pack_entry *e,
	       const void *blob)
{
	struct openpack *op;
	int ret;

	if (p->err)
		return p->err;
	op = pack_for(p, group, &ret);
	if (!op)
		goto fail;
	if (op->n == op->cap) {
		size_t cap = op->cap ? 2 * op->cap : 256;
		struct pack_entry *ne = realloc(op->ents, cap * sizeof(*ne));

		if (!ne) {
			ret = -ENOMEM;
			goto fail;
		}
		op->ents = ne;
		op->cap = cap;
	}
	op->ents[op->n] = *e;
	op->ents[op->n].off = op->size;
	op->n++;
	op->last_use = ++p->clock;
	ret = append(p, op, blob, e->stored_len);
	if (ret)
		goto fail;
	p->st.blobs++;
	p->st.blob_bytes += e->stored_len;
	p->st.raw_bytes += e->raw_len;
	if (op->size >= p->r->params.pack_size)
		ret = finish_pack(p, op);
	if (ret)
		goto fail;
	return 0;
fail:
	if (!p->err)
		p->err = ret;
	return ret;
}

int packer_flush(struct packer *p)
{
	for (unsigned i = 0; i < p->max_open && !p->err; i++)
		if (p->open[i].used)
			(void)finish_pack(p, &p->open[i]);
	reap_all(p);
	return p->err;
}

const struct packer_stats *packer_stats(const struct packer *p)
{
	return &p->st;
}

size_t packer_memory(const struct packer *p)
{
	return (size_t)p->nparts * p->stride;
}

void packer_destroy(struct packer *p)
{
	if (!p)
		return;
	if (p->open)
		for (unsigned i = 0; i < p->max_open; i++)
			abort_pack(p, &p->open[i]);
	reap_all(p);
	free(p->open);
	free(p->parts);
	if (!p->arena_lost)
		free(p->arena);
	free(p);
}

int pack_read_header(struct repo *r, const uint8_t oid[SV_OID_LEN],
		     uint64_t size, struct pack_entry **ents, size_t *n)
{
	struct uploader *u = r->up;
	uint8_t *tail = NULL, *pt = NULL;
	size_t want, plen;
	uint32_t hlen;
	char name[100];
	ssize_t got;
	int ret;

	*ents = NULL;
	*n = 0;
	index_pack_name(oid, name, sizeof(name));
	if (size < PACK_TRAILER_LEN + SEAL_HDR_LEN + 28)
		return -EBADMSG;
	/* Read a generous tail at once: most headers fit in 64 KiB. */
	want = (size_t)SV_MIN(size, (uint64_t)(1 << 16));
	tail = malloc(want);
	if (!tail)
		return -ENOMEM;
	got = u->ops->get(u, name, size - want, want, tail, want);
	if (got != (ssize_t)want) {
		ret = got < 0 ? (int)got : -EBADMSG;
		goto out;
	}
	if (memcmp(tail + want - 4, PACK_MAGIC, 4)) {
		ret = -EBADMSG;
		goto out;
	}
	hlen = sv_get_le32(tail + want - 8);
	if ((uint64_t)hlen + PACK_TRAILER_LEN > size) {
		ret = -EBADMSG;
		goto out;
	}
	if (hlen + PACK_TRAILER_LEN > want) {
		uint8_t *big = malloc(hlen + PACK_TRAILER_LEN);

		if (!big) {
			ret = -ENOMEM;
			goto out;
		}
		free(tail);
		tail = big;
		want = hlen + PACK_TRAILER_LEN;
		got = u->ops->get(u, name, size - want, want, tail, want);
		if (got != (ssize_t)want) {
			ret = got < 0 ? (int)got : -EBADMSG;
			goto out;
		}
	}
	ret = repo_unseal(r, SV_META_PACKHDR, tail + want - PACK_TRAILER_LEN - hlen,
			  hlen, &pt, &plen);
	if (!ret)
		ret = pack_parse_header(pt, plen, oid,
					size - hlen - PACK_TRAILER_LEN, ents, n);
out:
	free(pt);
	free(tail);
	return ret;
}
