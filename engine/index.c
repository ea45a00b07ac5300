/*
 * index.c - see index.h.
 *
 * The table is open addressing with linear probing, keyed by the first 8
 * bytes of the chunk id (ids are keyed hashes, so uniformly spread). It
 * doubles at 70% load; entries are 40 bytes, so 10 M chunks (about 10 TiB
 * of unique data at the 1 MiB average) take 512 MiB at worst.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/index.h"
#include "engine/util.h"

#define ST_EMPTY 0
#define ST_PENDING 1
#define ST_COMMITTED 2
#define NO_PACK UINT32_MAX

struct ientry {
	uint8_t id[SV_ID_LEN];
	uint64_t off;
	uint32_t pack;
	uint32_t stored_len;
	uint32_t raw_len;
	uint8_t codec;
	uint8_t state;
	uint8_t marked;          /* prune's mark bit: 1 bit of the padding */
};

struct ipack {
	uint8_t oid[SV_OID_LEN];
	uint64_t size;
	uint32_t first, count;   /* entries of new packs, in x->fresh */
	uint8_t is_new;
};

struct index {
	pthread_mutex_t lock;
	struct ientry *tab;      /* protected by lock */
	size_t cap, used;        /* cap is a power of two */
	size_t committed;
	struct ipack *packs;
	size_t npacks, packs_cap;
	struct pack_entry *fresh; /* entries of new packs, for index_write_new */
	size_t nfresh, fresh_cap;
	size_t written_packs;    /* packs[0..written) already in an object */
};

void pack_entry_put(uint8_t *p, const struct pack_entry *e)
{
	memcpy(p, e->id, SV_ID_LEN);
	sv_put_le64(p + 16, e->off);
	sv_put_le32(p + 24, e->stored_len);
	sv_put_le32(p + 28, e->raw_len);
	p[32] = e->codec;
	p[33] = p[34] = p[35] = 0;
}

void pack_entry_get(const uint8_t *p, struct pack_entry *e)
{
	memcpy(e->id, p, SV_ID_LEN);
	e->off = sv_get_le64(p + 16);
	e->stored_len = sv_get_le32(p + 24);
	e->raw_len = sv_get_le32(p + 28);
	e->codec = p[32];
}

void index_pack_name(const uint8_t oid[SV_OID_LEN], char *out, size_t cap)
{
	char hex[2 * SV_OID_LEN + 1];

	sv_hex(hex, oid, SV_OID_LEN);
	snprintf(out, cap, "data/%.2s/%s", hex, hex);
}

int index_create(struct index **out)
{
	struct index *x = calloc(1, sizeof(*x));

	*out = NULL;
	if (!x)
		return -ENOMEM;
	x->cap = 1 << 12;
	x->tab = calloc(x->cap, sizeof(*x->tab));
	if (!x->tab) {
		free(x);
		return -ENOMEM;
	}
	pthread_mutex_init(&x->lock, NULL);
	*out = x;
	return 0;
}

void index_destroy(struct index *x)
{
	if (!x)
		return;
	pthread_mutex_destroy(&x->lock);
	free(x->tab);
	free(x->packs);
	free(x->fresh);
	free(x);
}

static size_t slot_of(const struct index *x, const uint8_t *id)
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)h & (x->cap - 1);
}

/* Find the entry for (id, raw_len) or the empty slot where it belongs. */
static struct ientry *probe(struct index *x, const uint8_t *id,
			    uint32_t raw_len)
{
	size_t i = slot_of(x, id);

	for (;;) {
		struct ientry *e = &x->tab[i];

		if (e->state == ST_EMPTY ||
		    (e->raw_len == raw_len && !memcmp(e->id, id, SV_ID_LEN)))
			return e;
		i = (i + 1) & (x->cap - 1);
	}
}

static int grow(struct index *x)
{
	struct ientry *old = x->tab;
	size_t oldcap = x->cap;

	x->tab = calloc(oldcap * 2, sizeof(*x->tab));
	if (!x->tab) {
		x->tab = old;
		return -ENOMEM;
	}
	x->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].state != ST_EMPTY)
			*probe(x, old[i].id, old[i].raw_len) = old[i];
	free(old);
	return 0;
}

/* Insert or find; the caller holds the lock. */
static struct ientry *upsert(struct index *x, const uint8_t *id,
			     uint32_t raw_len, int *created)
{
	struct ientry *e;

	if ((x->used + 1) * 10 > x->cap * 7 && grow(x))
		return NULL;
	e = probe(x, id, raw_len);
	*created = e->state == ST_EMPTY;
	if (*created) {
		memcpy(e->id, id, SV_ID_LEN);
		e->raw_len = raw_len;
		e->pack = NO_PACK;
		e->state = ST_PENDING;
		x->used++;
	}
	return e;
}

int index_claim(struct index *x, const uint8_t id[SV_ID_LEN],
		uint32_t raw_len)
{
	int created = 0;
	struct ientry *e;

	pthread_mutex_lock(&x->lock);
	e = upsert(x, id, raw_len, &created);
	pthread_mutex_unlock(&x->lock);
	if (!e)
		return -ENOMEM;
	return created;
}

int index_lookup(struct index *x, const uint8_t id[SV_ID_LEN],
		 uint32_t raw_len, struct index_loc *loc)
{
	struct ientry *e;
	int ret = -ENOENT;

	pthread_mutex_lock(&x->lock);
	e = probe(x, id, raw_len);
	if (e->state == ST_COMMITTED) {
		loc->pack = e->pack;
		loc->off = e->off;
		loc->stored_len = e->stored_len;
		loc->raw_len = e->raw_len;
		loc->codec = e->codec;
		ret = 0;
	}
	pthread_mutex_unlock(&x->lock);
	return ret;
}

static int add_pack_locked(struct index *x, const uint8_t *oid,
			   uint64_t size, const struct pack_entry *pe,
			   size_t n, int is_new)
{
	struct ipack *p;
	uint32_t pi;

	if (x->npacks == x->packs_cap) {
		size_t cap = x->packs_cap ? 2 * x->packs_cap : 64;
		struct ipack *np = realloc(x->packs, cap * sizeof(*np));

		if (!np)
			return -ENOMEM;
		x->packs = np;
		x->packs_cap = cap;
	}
	if (is_new && x->nfresh + n > x->fresh_cap) {
		size_t cap = SV_MAX(2 * x->fresh_cap, x->nfresh + n);
		struct pack_entry *nf = realloc(x->fresh, cap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		x->fresh = nf;
		x->fresh_cap = cap;
	}
	pi = (uint32_t)x->npacks;
	p = &x->packs[x->npacks++];
	memcpy(p->oid, oid, SV_OID_LEN);
	p->size = size;
	p->is_new = (uint8_t)is_new;
	p->first = (uint32_t)x->nfresh;
	p->count = is_new ? (uint32_t)n : 0;
	if (is_new) {
		memcpy(x->fresh + x->nfresh, pe, n * sizeof(*pe));
		x->nfresh += n;
	}
	for (size_t i = 0; i < n; i++) {
		int created;
		struct ientry *e = upsert(x, pe[i].id, pe[i].raw_len, &created);

		if (!e)
			return -ENOMEM;
		/* A chunk stored twice (two writers raced) keeps its first
		 * committed location; both copies are valid. */
		if (e->state == ST_COMMITTED)
			continue;
		e->pack = pi;
		e->off = pe[i].off;
		e->stored_len = pe[i].stored_len;
		e->codec = pe[i].codec;
		e->state = ST_COMMITTED;
		x->committed++;
	}
	return 0;
}

int index_add_pack(struct index *x, const uint8_t oid[SV_OID_LEN],
		   uint64_t size, const struct pack_entry *e, size_t n,
		   int is_new)
{
	int ret;

	pthread_mutex_lock(&x->lock);
	ret = add_pack_locked(x, oid, size, e, n, is_new);
	pthread_mutex_unlock(&x->lock);
	return ret;
}

size_t index_npacks(struct index *x)
{
	return x->npacks;
}

const uint8_t *index_pack_oid(struct index *x, uint32_t pack)
{
	return x->packs[pack].oid;
}

uint64_t index_pack_size(struct index *x, uint32_t pack)
{
	return x->packs[pack].size;
}

size_t index_nentries(struct index *x)
{
	return x->committed;
}

int index_mark(struct index *x, const uint8_t id[SV_ID_LEN],
	       uint32_t raw_len)
{
	struct ientry *e;
	int ret = -ENOENT;

	pthread_mutex_lock(&x->lock);
	e = probe(x, id, raw_len);
	if (e->state == ST_COMMITTED) {
		ret = !e->marked;
		e->marked = 1;
	}
	pthread_mutex_unlock(&x->lock);
	return ret;
}

int index_foreach_marked(struct index *x,
			 int (*cb)(void *arg, const struct pack_entry *e,
				   uint32_t pack, int marked),
			 void *arg)
{
	for (size_t i = 0; i < x->cap; i++) {
		struct ientry *ie = &x->tab[i];
		struct pack_entry e;
		int ret;

		if (ie->state != ST_COMMITTED)
			continue;
		memcpy(e.id, ie->id, SV_ID_LEN);
		e.off = ie->off;
		e.stored_len = ie->stored_len;
		e.raw_len = ie->raw_len;
		e.codec = ie->codec;
		ret = cb(arg, &e, ie->pack, ie->marked);
		if (ret)
			return ret;
	}
	return 0;
}

/* index_foreach() is index_foreach_marked() without the mark bit. */
struct foreach_adapter {
	int (*cb)(void *arg, const struct pack_entry *e, uint32_t pack);
	void *arg;
};

static int foreach_adapt(void *arg, const struct pack_entry *e, uint32_t pack,
			 int marked)
{
	struct foreach_adapter *f = arg;

	(void)marked;
	return f->cb(f->arg, e, pack);
}

int index_foreach(struct index *x,
		  int (*cb)(void *arg, const struct pack_entry *e,
			    uint32_t pack),
		  void *arg)
{
	struct foreach_adapter f = { cb, arg };

	return index_foreach_marked(x, foreach_adapt, &f);
}

/*
 * Index object plaintext (FORMAT.md): le32 npacks, then per pack:
 * oid[32] | le64 pack size | le32 n | n x 36-byte entries.
 */
static int parse_object(struct index *x, const uint8_t *p, size_t len)
{
	size_t pos = 4;
	uint32_t np;

	if (len < 4)
		return -EBADMSG;
	np = sv_get_le32(p);
	for (uint32_t i = 0; i < np; i++) {
		struct pack_entry *pe;
		uint64_t size;
		uint32_t n;
		int ret;

		if (len - pos < SV_OID_LEN + 12)
			return -EBADMSG;
		size = sv_get_le64(p + pos + SV_OID_LEN);
		n = sv_get_le32(p + pos + SV_OID_LEN + 8);
		if ((len - pos - SV_OID_LEN - 12) / PACK_ENTRY_LEN < n)
			return -EBADMSG;
		pe = malloc((n ? n : 1) * sizeof(*pe));
		if (!pe)
			return -ENOMEM;
		for (uint32_t k = 0; k < n; k++) {
			pack_entry_get(p + pos + SV_OID_LEN + 12 +
					       (size_t)k * PACK_ENTRY_LEN,
				       &pe[k]);
			/* Written so that a hostile offset cannot wrap. */
			if (pe[k].off > size ||
			    pe[k].stored_len > size - pe[k].off) {
				free(pe);
				return -EBADMSG;
			}
		}
		ret = index_add_pack(x, p + pos, size, pe, n, 0);
		free(pe);
		if (ret)
			return ret;
		pos += SV_OID_LEN + 12 + (size_t)n * PACK_ENTRY_LEN;
	}
	return pos == len ? 0 : -EBADMSG;
}

struct load_ctx {
	struct index *x;
	struct repo *r;
	int tolerate;
	size_t n;
	int err;
};

static int load_one(void *arg, const char *name, uint64_t size,
		    int64_t mtime)
{
	struct load_ctx *c = arg;
	uint8_t *pt = NULL;
	size_t len;
	int ret;

	(void)size, (void)mtime;
	ret = repo_get_meta(c->r, name, SV_META_INDEX, &pt, &len);
	if (!ret)
		ret = parse_object(c->x, pt, len);
	free(pt);
	if (ret) {
		log_err("index object %s: %s", name,
			ret == -EBADMSG ? "damaged (authentication or parse "
					  "failed); run 'sstvault check'" :
					  strerror(-ret));
		if (!c->err)
			c->err = ret;
		return c->tolerate && ret != -ENOMEM ? 0 : ret;
	}
	c->n++;
	return 0;
}

int index_load_one(struct index *x, struct repo *r, const char *name)
{
	struct load_ctx c = { x, r, 0, 0, 0 };

	return load_one(&c, name, 0, 0);
}

int index_load(struct index *x, struct repo *r, int tolerate_damage,
	       size_t *nobjs)
{
	struct load_ctx c = { x, r, tolerate_damage, 0, 0 };
	int ret = r->up->ops->list(r->up, "index/", load_one, &c);

	if (nobjs)
		*nobjs = c.n;
	x->written_packs = x->npacks;
	if (ret)
		return ret;
	return tolerate_damage ? 0 : c.err;
}

int index_write_new(struct index *x, struct repo *r)
{
	char hex[2 * SV_OID_LEN + 1], name[80];
	size_t n = 0, len = 4, pos = 4;
	uint8_t *buf;
	int ret;

	pthread_mutex_lock(&x->lock);
	for (size_t i = x->written_packs; i < x->npacks; i++) {
		if (!x->packs[i].is_new)
			continue;
		n++;
		len += SV_OID_LEN + 12 +
		       (size_t)x->packs[i].count * PACK_ENTRY_LEN;
	}
	if (!n) {
		pthread_mutex_unlock(&x->lock);
		return 0;
	}
	buf = malloc(len);
	if (!buf) {
		pthread_mutex_unlock(&x->lock);
		return -ENOMEM;
	}
	sv_put_le32(buf, (uint32_t)n);
	for (size_t i = x->written_packs; i < x->npacks; i++) {
		struct ipack *p = &x->packs[i];

		if (!p->is_new)
			continue;
		memcpy(buf + pos, p->oid, SV_OID_LEN);
		sv_put_le64(buf + pos + SV_OID_LEN, p->size);
		sv_put_le32(buf + pos + SV_OID_LEN + 8, p->count);
		pos += SV_OID_LEN + 12;
		for (uint32_t k = 0; k < p->count; k++, pos += PACK_ENTRY_LEN)
			pack_entry_put(buf + pos, &x->fresh[p->first + k]);
	}
	x->written_packs = x->npacks;
	pthread_mutex_unlock(&x->lock);
	ret = repo_new_oid(hex);
	if (!ret) {
		snprintf(name, sizeof(name), "index/%s", hex);
		ret = repo_put_meta(r, name, SV_META_INDEX, buf, len,
				    UPL_PUT_NO_OVERWRITE);
	}
	free(buf);
	return ret;
}

/* ---- for tests and fuzzing only ---- */

int index_parse_object(struct index *x, const uint8_t *p, size_t len)
{
	return parse_object(x, p, len);
}
