/*
 * check.c - see check.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blob.h"
#include "engine/check.h"
#include "engine/index.h"
#include "engine/pack.h"
#include "engine/progress.h"
#include "engine/snapshot.h"
#include "engine/util.h"

struct stored {
	char name[100];
	uint64_t size;
};

/* Blobs found damaged by --read-data, as (pack, offset) pairs. */
struct dmg_list {
	uint64_t *v;
	size_t n, cap;
};

static int dmg_add(struct dmg_list *d, uint32_t pack, uint64_t off)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		uint64_t *nv = realloc(d->v, 2 * cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		d->v = nv;
		d->cap = cap;
	}
	d->v[2 * d->n] = pack;
	d->v[2 * d->n + 1] = off;
	d->n++;
	return 0;
}

static int dmg_has(const struct dmg_list *d, uint32_t pack, uint64_t off)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[2 * i] == pack && d->v[2 * i + 1] == off)
			return 1;
	return 0;
}

struct store_list {
	struct stored *v;
	size_t n, cap;
};

static int list_cb(void *arg, const char *name, uint64_t size, int64_t m)
{
	struct store_list *l = arg;

	(void)m;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct stored *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	snprintf(l->v[l->n].name, sizeof(l->v[0].name), "%s", name);
	l->v[l->n++].size = size;
	return 0;
}

static int cmp_stored(const void *a, const void *b)
{
	return strcmp(((const struct stored *)a)->name,
		      ((const struct stored *)b)->name);
}

static struct stored *find_stored(struct store_list *l, const char *name)
{
	struct stored key;

	snprintf(key.name, sizeof(key.name), "%s", name);
	return bsearch(&key, l->v, l->n, sizeof(*l->v), cmp_stored);
}

/*
 * Read every pack whole and open every blob. bad[p] = 1 marks a pack that is
 * unusable as a whole (missing, wrong size, damaged header); damaged blobs
 * of otherwise readable packs go to dmg, so check names exactly the files
 * that lost data.
 */
static int read_packs(struct repo *r, struct index *x, uint8_t *bad,
		      struct dmg_list *dmg, struct check_result *res,
		      int progress)
{
	struct blobctx *b = NULL;
	uint8_t *buf = NULL, *out = NULL;
	size_t cap = 0, np = index_npacks(x);
	struct progress prog;
	uint64_t total = 0;
	int ret;

	progress_start(&prog, (enum progress_mode)progress, "check");
	for (uint32_t p = 0; p < np; p++)
		total += index_pack_size(x, p);
	ret = blobctx_create(&b, r, 1, r->params.cdc_max);
	out = malloc(r->params.cdc_max);
	if (ret || !out) {
		ret = ret ? ret : -ENOMEM;
		goto out;
	}
	for (uint32_t p = 0; p < np; p++) {
		uint64_t size = index_pack_size(x, p);
		struct pack_entry *ents = NULL;
		size_t n = 0;
		char name[100];
		ssize_t got;
		int pack_bad;

		if (bad[p])
			continue;   /* already known missing */
		index_pack_name(index_pack_oid(x, p), name, sizeof(name));
		ret = pack_read_header(r, index_pack_oid(x, p), size, &ents, &n);
		if (ret == -ENOMEM)
			goto out;
		if (ret) {
			log_err("pack %s: header damaged or unreadable (%s)",
				name, ret == -EBADMSG ? "authentication or "
				"format check failed" : strerror(-ret));
			bad[p] = 1;
			res->damaged_packs++;
			free(ents);
			continue;
		}
		if (size > cap) {
			uint8_t *nb = realloc(buf, size);

			if (!nb) {
				free(ents);
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = size;
		}
		/* The header area sits after the last blob; read only blobs. */
		got = r->up->ops->get(r->up, name, 0, size, buf, cap);
		if (got != (ssize_t)size) {
			log_err("pack %s: cannot read (%s)", name,
				r->up->errbuf);
			bad[p] = 1;
			res->damaged_packs++;
			free(ents);
			continue;
		}
		res->bytes_read += size;
		pack_bad = 0;
		for (size_t i = 0; i < n; i++) {
			ssize_t m = blob_open(b, ents[i].id, ents[i].raw_len,
					      (enum sv_codec)ents[i].codec,
					      buf + ents[i].off,
					      ents[i].stored_len, out);
			struct index_loc loc;

			res->blobs++;
			if (m < 0) {
				char hex[2 * SV_ID_LEN + 1];

				sv_hex(hex, ents[i].id, SV_ID_LEN);
				log_err("pack %s: blob %s at offset %llu is "
					"damaged (%s)", name, hex,
					(unsigned long long)ents[i].off,
					m == -EBADMSG ? "authentication failed" :
					strerror((int)-m));
				res->damaged_blobs++;
				if (!pack_bad)
					res->damaged_packs++;
				pack_bad = 1;
				if (dmg_add(dmg, p, ents[i].off)) {
					free(ents);
					ret = -ENOMEM;
					goto out;
				}
			} else if (index_lookup(x, ents[i].id, ents[i].raw_len,
						&loc) == 0 && loc.pack == p &&
				   loc.off != ents[i].off) {
				log_err("pack %s: header and index disagree "
					"about blob offsets", name);
				if (!bad[p])
					res->damaged_packs++;
				bad[p] = 1;
			}
		}
		free(ents);
		{
			struct progress_state st = {
				.files_done = p + 1, .files_total = np,
				.bytes_done = res->bytes_read,
				.bytes_total = total,
			};

			progress_update(&prog, &st, p + 1 == np);
		}
	}
	ret = 0;
out:
	free(buf);
	free(out);
	blobctx_destroy(b);
	return ret;
}

int check_run(struct repo *r, int read_data, int progress,
	      struct check_result *res)
{
	struct store_list packs = { 0 };
	struct dmg_list dmg = { 0 };
	struct snapshot **snaps = NULL;
	struct index *x = NULL;
	uint8_t *bad = NULL, *seen = NULL;
	size_t nsnaps = 0, nobjs = 0, dsnaps = 0, np;
	int ret;

	memset(res, 0, sizeof(*res));
	ret = index_create(&x);
	if (!ret)
		ret = index_load(x, r, 1, &nobjs);
	if (ret)
		goto out;
	res->index_objects = nobjs;
	{
		/* Count damaged index objects: those that failed to load
		 * were logged by index_load; recount by listing. */
		struct store_list idx = { 0 };

		ret = r->up->ops->list(r->up, "index/", list_cb, &idx);
		free(idx.v);
		if (ret)
			goto out;
		res->damaged_index = idx.n - nobjs;
	}
	ret = r->up->ops->list(r->up, "data/", list_cb, &packs);
	if (ret)
		goto out;
	if (packs.n)
		qsort(packs.v, packs.n, sizeof(*packs.v), cmp_stored);
	np = index_npacks(x);
	res->packs = np;
	bad = calloc(np + 1, 1);
	seen = calloc(packs.n + 1, 1);
	if (!bad || !seen) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t p = 0; p < np; p++) {
		char name[100];
		struct stored *st;

		index_pack_name(index_pack_oid(x, p), name, sizeof(name));
		st = find_stored(&packs, name);
		if (!st) {
			log_err("pack %s is in the index but missing from the "
				"repository", name);
			res->missing_packs++;
			bad[p] = 1;
			continue;
		}
		seen[st - packs.v] = 1;
		if (st->size != index_pack_size(x, p)) {
			log_err("pack %s has %llu bytes, the index says %llu",
				name, (unsigned long long)st->size,
				(unsigned long long)index_pack_size(x, p));
			res->damaged_packs++;
			bad[p] = 1;
		}
	}
	for (size_t i = 0; i < packs.n; i++)
		if (!seen[i]) {
			log_info("pack %s is not referenced by any index "
				 "(left by an interrupted backup)",
				 packs.v[i].name);
			res->unreferenced_packs++;
		}
	if (read_data) {
		ret = read_packs(r, x, bad, &dmg, res, progress);
		if (ret)
			goto out;
	}
	ret = snapshot_list(r, &snaps, &nsnaps, &dsnaps);
	if (ret)
		goto out;
	res->snapshots = nsnaps;
	res->damaged_snapshots = dsnaps;
	for (size_t s = 0; s < nsnaps; s++) {
		for (size_t i = 0; i < snaps[s]->nfiles; i++) {
			const struct snap_file *f = &snaps[s]->files[i];
			int affected = 0;

			for (uint32_t k = 0; k < f->nchunks; k++) {
				struct index_loc loc;

				if (index_lookup(x, f->chunks[k].id,
						 f->chunks[k].len, &loc)) {
					res->missing_chunks++;
					affected = 1;
				} else if (bad[loc.pack] ||
					   dmg_has(&dmg, loc.pack, loc.off)) {
					affected = 1;
				}
			}
			if (affected) {
				log_err("snapshot %.8s: file %s is affected "
					"(damaged or missing data)",
					snaps[s]->id, f->path);
				res->affected_files++;
			}
		}
	}
	if (res->damaged_packs || res->damaged_blobs || res->missing_packs ||
	    res->missing_chunks || res->damaged_snapshots ||
	    res->damaged_index)
		ret = -EBADMSG;
out:
	snapshot_list_free(snaps, nsnaps);
	free(packs.v);
	free(dmg.v);
	free(bad);
	free(seen);
	index_destroy(x);
	return ret;
}
