/*
 * maint.c - see maint.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include <jansson.h>

#include "engine/index.h"
#include "engine/maint.h"
#include "engine/pack.h"
#include "engine/util.h"
#include "uploaders/s3.h"

#define PRUNE_LEASE "locks/prune"
#define LEASE_TTL_S (6 * 3600)

/* ---- markers and the lease ---- */

static int put_lock(struct repo *r, const char *name, int64_t ttl_s)
{
	char host[256] = "", *text;
	int64_t now = util_now_ns();
	json_t *j;
	int ret;

	gethostname(host, sizeof(host) - 1);
	j = json_pack("{s:s, s:i, s:I, s:I}", "host", host, "pid",
		      (int)getpid(), "time_ns", (json_int_t)now, "expires_ns",
		      (json_int_t)(now + ttl_s * 1000000000LL));
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text)
		return -ENOMEM;
	ret = repo_put_meta(r, name, SV_META_LOCK, text, strlen(text),
			    UPL_PUT_NO_OVERWRITE);
	free(text);
	return ret;
}

/* Read a lock object: its start and expiry. Return 0 / -errno. */
static int get_lock_pid(struct repo *r, const char *name, int64_t *start,
			int64_t *expires, char *host, size_t cap, int *pid)
{
	uint8_t *pt = NULL;
	size_t len;
	json_int_t t = 0, e = 0;
	int p = 0;
	const char *h = "";
	json_t *j;
	int ret = repo_get_meta(r, name, SV_META_LOCK, &pt, &len);

	if (ret)
		return ret;
	j = json_loadb((const char *)pt, len, 0, NULL);
	free(pt);
	if (!j || json_unpack(j, "{s:I, s:I, s?s, s?i}", "time_ns", &t,
			      "expires_ns", &e, "host", &h, "pid", &p)) {
		json_decref(j);
		return -EBADMSG;
	}
	*start = t;
	*expires = e;
	if (host)
		snprintf(host, cap, "%s", h);
	if (pid)
		*pid = p;
	json_decref(j);
	return 0;
}

static int get_lock(struct repo *r, const char *name, int64_t *start,
		    int64_t *expires, char *host, size_t cap)
{
	return get_lock_pid(r, name, start, expires, host, cap, NULL);
}

/*
 * A marker is stale when it expired, or when it was written on this host
 * by a process that no longer exists (a backup killed with SIGKILL cannot
 * remove its own marker). A stale marker is removed.
 */
static int marker_live(struct repo *r, const char *name, int64_t *start)
{
	char host[256], me[256] = "";
	int64_t expires;
	int pid = 0;

	if (get_lock_pid(r, name, start, &expires, host, sizeof(host), &pid))
		return 0;   /* unreadable: not ours to wait for */
	gethostname(me, sizeof(me) - 1);
	if (expires >= util_now_ns() &&
	    !(pid > 0 && !strcmp(host, me) && kill(pid, 0) && errno == ESRCH))
		return 1;
	log_info("removing stale marker %s (process %d on %s)", name, pid,
		 host);
	(void)r->up->ops->remove(r->up, name);
	return 0;
}

int maint_marker_create(struct repo *r, char *name)
{
	char hex[2 * SV_OID_LEN + 1];
	int ret = repo_new_oid(hex);

	if (ret)
		return ret;
	snprintf(name, 128, "locks/backup-%.32s", hex);
	/* A marker outlives a crashed backup only until it expires. */
	return put_lock(r, name, 24 * 3600);
}

void maint_marker_remove(struct repo *r, const char *name)
{
	if (name && name[0] && r->up->ops->remove(r->up, name))
		log_warn("cannot remove backup marker %s: %s", name,
			 r->up->errbuf);
}

/* ---- forget ---- */

struct group {
	char key[300];
	size_t *idx;
	size_t n;
};

static void bucket(int64_t ns, char kind, char *out, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	if (kind == 'd')
		strftime(out, cap, "%Y-%m-%d", &tm);
	else if (kind == 'w')
		strftime(out, cap, "%G-W%V", &tm);
	else
		strftime(out, cap, "%Y-%m", &tm);
}

/* Mark in keep[] the newest snapshot of each of the last n buckets. */
static void keep_buckets(struct snapshot **v, const struct group *g, int n,
			 char kind, uint8_t *keep)
{
	char last[32] = "", cur[32];
	int taken = 0;

	for (size_t k = g->n; k-- > 0 && taken < n;) {
		bucket(v[g->idx[k]]->time_ns, kind, cur, sizeof(cur));
		if (!strcmp(cur, last))
			continue;
		keep[g->idx[k]] = 1;
		snprintf(last, sizeof(last), "%s", cur);
		taken++;
	}
}

int maint_forget(struct repo *r, const struct forget_opts *o,
		 struct forget_result *res)
{
	struct snapshot **v = NULL;
	struct group *groups = NULL;
	uint8_t *keep = NULL;
	size_t n = 0, ng = 0;
	int ret, any_rule = o->keep_last || o->keep_daily || o->keep_weekly ||
			    o->keep_monthly;

	memset(res, 0, sizeof(*res));
	if (!any_rule) {
		log_err("forget: no --keep-* rule given; refusing to remove "
			"every snapshot");
		return -EINVAL;
	}
	ret = snapshot_list_summaries(r, &v, &n, NULL);
	if (ret)
		return ret;
	keep = calloc(n + 1, 1);
	groups = calloc(n + 1, sizeof(*groups));
	if (!keep || !groups) {
		ret = -ENOMEM;
		goto out;
	}
	/* v is sorted oldest first; groups keep that order. */
	for (size_t i = 0; i < n; i++) {
		char key[300];
		size_t g;

		if ((o->node && strcmp(v[i]->node, o->node)) ||
		    (o->type && strcmp(v[i]->type, o->type))) {
			keep[i] = 1;
			continue;
		}
		snprintf(key, sizeof(key), "%s|%s",
			 o->group_by_cluster ? v[i]->cluster : v[i]->node,
			 v[i]->type);
		for (g = 0; g < ng && strcmp(groups[g].key, key); g++)
			;
		if (g == ng) {
			snprintf(groups[ng].key, sizeof(groups[ng].key), "%s",
				 key);
			groups[ng].idx = calloc(n, sizeof(size_t));
			if (!groups[ng].idx) {
				ret = -ENOMEM;
				goto out;
			}
			ng++;
		}
		groups[g].idx[groups[g].n++] = i;
	}
	res->groups = ng;
	for (size_t g = 0; g < ng; g++) {
		struct group *gr = &groups[g];

		for (size_t k = gr->n; k-- > 0 && gr->n - k <= (size_t)o->keep_last;)
			keep[gr->idx[k]] = 1;
		keep_buckets(v, gr, o->keep_daily, 'd', keep);
		keep_buckets(v, gr, o->keep_weekly, 'w', keep);
		keep_buckets(v, gr, o->keep_monthly, 'm', keep);
	}
	for (size_t i = 0; i < n; i++) {
		char t[40], name[100];

		util_fmt_time(t, sizeof(t), v[i]->time_ns);
		if (keep[i]) {
			res->kept++;
			log_info("keep   %.8s %s %s %s", v[i]->id, t,
				 v[i]->node, v[i]->type);
			continue;
		}
		log_msg("%s %.8s %s node %s %s %s", o->dry_run ?
			"would remove" : "remove", v[i]->id, t, v[i]->node,
			v[i]->type, v[i]->tag);
		res->removed++;
		if (o->dry_run)
			continue;
		snprintf(name, sizeof(name), "snapshots/%s", v[i]->id);
		ret = r->up->ops->remove(r->up, name);
		if (ret) {
			log_err("cannot remove %s: %s", name, r->up->errbuf);
			goto out;
		}
	}
	ret = 0;
out:
	for (size_t g = 0; g < ng; g++)
		free(groups[g].idx);
	free(groups);
	free(keep);
	snapshot_list_free(v, n);
	return ret;
}

/* ---- prune ---- */

struct obj {
	char name[128];
	uint64_t size;
	int64_t mtime;
};

struct objs {
	struct obj *v;
	size_t n, cap;
};

static int objs_cb(void *arg, const char *name, uint64_t size, int64_t mtime)
{
	struct objs *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 128;
		struct obj *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	snprintf(l->v[l->n].name, sizeof(l->v[0].name), "%s", name);
	l->v[l->n].size = size;
	l->v[l->n].mtime = mtime;
	l->n++;
	return 0;
}

static int list_objs(struct repo *r, const char *prefix, struct objs *l)
{
	int ret = r->up->ops->list(r->up, prefix, objs_cb, l);

	if (ret)
		log_err("cannot list %s: %s", prefix, r->up->errbuf);
	return ret;
}

static int remove_objs(struct repo *r, const char *const *names, size_t n)
{
	struct uploader *u = r->up;
	int ret = 0;

	if (!n)
		return 0;
	if (u->ops->remove_many)
		return u->ops->remove_many(u, names, n);
	for (size_t i = 0; i < n; i++) {
		int r2 = u->ops->remove(u, names[i]);

		if (r2 && r2 != -ENOENT && !ret) {
			log_err("cannot remove %s: %s", names[i], u->errbuf);
			ret = r2;
		}
	}
	return ret;
}

struct pack_use {
	uint64_t total, live;
	uint32_t nlive, n;
	int repack, drop;
};

struct use_ctx {
	struct pack_use *use;
	struct pack_entry *live;  /* live entries of packs to repack */
	uint32_t *live_pack;
	size_t nlive;
	struct pack_entry *keep;  /* entries of packs that stay as they are */
	uint32_t *keep_pack;
	size_t nkeep;
	int collect;
};

static int use_cb(void *arg, const struct pack_entry *e, uint32_t pack,
		  int marked)
{
	struct use_ctx *c = arg;
	struct pack_use *u = &c->use[pack];

	if (!c->collect) {
		u->total += e->stored_len;
		u->n++;
		if (marked) {
			u->live += e->stored_len;
			u->nlive++;
		}
		return 0;
	}
	if (u->drop)
		return 0;
	if (u->repack) {
		if (marked) {
			c->live[c->nlive] = *e;
			c->live_pack[c->nlive++] = pack;
		}
		return 0;
	}
	c->keep[c->nkeep] = *e;
	c->keep_pack[c->nkeep++] = pack;
	return 0;
}

/* Order entries by (pack, offset) so packs are read sequentially. */
static struct pack_entry *sort_base;
static uint32_t *sort_pack;

static int cmp_ent(const void *a, const void *b)
{
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (sort_pack[i] != sort_pack[j])
		return sort_pack[i] < sort_pack[j] ? -1 : 1;
	return sort_base[i].off < sort_base[j].off ? -1 :
	       sort_base[i].off > sort_base[j].off;
}

static size_t *sorted_order(struct pack_entry *e, uint32_t *p, size_t n)
{
	size_t *ord = malloc((n ? n : 1) * sizeof(*ord));

	if (!ord)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	sort_base = e;
	sort_pack = p;
	qsort(ord, n, sizeof(*ord), cmp_ent);
	return ord;
}

/* Copy the live blobs of the packs to repack into new packs. */
static int repack(struct repo *r, struct index *old, struct index *fresh,
		  struct use_ctx *c, struct prune_result *res)
{
	struct packer *pk = NULL;
	size_t *ord = NULL;
	uint8_t *buf = NULL;
	size_t cap = 0;
	int ret;

	if (!c->nlive)
		return 0;
	ret = packer_create(&pk, r, fresh, 1, 16u << 20, 2 +
			    ((r->up->ops->flags & UPL_F_REMOTE) ? 4 : 0));
	if (ret)
		return ret;
	ord = sorted_order(c->live, c->live_pack, c->nlive);
	if (!ord) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < c->nlive; k++) {
		struct pack_entry *e = &c->live[ord[k]];
		char name[100];
		ssize_t got;

		if (e->stored_len > cap) {
			uint8_t *nb = realloc(buf, e->stored_len);

			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap = e->stored_len;
		}
		index_pack_name(index_pack_oid(old, c->live_pack[ord[k]]), name,
				sizeof(name));
		got = r->up->ops->get(r->up, name, e->off, e->stored_len, buf,
				      cap);
		if (got != (ssize_t)e->stored_len) {
			log_err("repack: cannot read %s: %s", name,
				r->up->errbuf);
			ret = got < 0 ? (int)got : -EIO;
			goto out;
		}
		/* The sealed blob is bound to its id and length, not to its
		 * pack: it moves as it is. */
		ret = packer_add(pk, 0, e, buf);
		if (ret)
			goto out;
		res->blobs_repacked++;
		res->bytes_repacked += e->stored_len;
	}
	ret = packer_flush(pk);
out:
	if (ret)
		log_err("repack failed: %s", r->up->errbuf[0] ? r->up->errbuf :
			strerror(-ret));
	packer_destroy(pk);
	free(ord);
	free(buf);
	return ret;
}

/* Any backup running now (a marker that has not expired)? */
static int backups_running(struct repo *r)
{
	struct objs locks = { 0 };
	int busy = 0;

	if (list_objs(r, "locks/backup-", &locks))
		return 1;   /* cannot tell: assume yes */
	for (size_t i = 0; i < locks.n && !busy; i++) {
		int64_t start;

		busy = marker_live(r, locks.v[i].name, &start);
	}
	free(locks.v);
	return busy;
}

/* Step 5: wait for backups that may have loaded the old index. */
static int wait_backups(struct repo *r, int64_t since_ns,
			const struct prune_opts *o)
{
	double t0 = util_mono();

	for (;;) {
		struct objs locks = { 0 };
		int busy = 0, ret = list_objs(r, "locks/backup-", &locks);

		if (ret)
			return ret;
		for (size_t i = 0; i < locks.n; i++) {
			int64_t start;

			if (!marker_live(r, locks.v[i].name, &start) ||
			    start > since_ns)
				continue;   /* stale, or saw the new index */
			if (!busy)
				log_info("prune: waiting for %s",
					 locks.v[i].name);
			busy = 1;
		}
		free(locks.v);
		if (!busy)
			return 0;
		if (util_mono() - t0 > (double)o->wait_s) {
			log_err("prune: backups still running after %lld s; "
				"nothing was deleted, run prune again later",
				(long long)o->wait_s);
			return -EBUSY;
		}
		usleep(200 * 1000);
	}
}

static int take_lease(struct repo *r)
{
	int64_t start, expires;
	char host[256] = "?";
	int ret = put_lock(r, PRUNE_LEASE, LEASE_TTL_S);

	if (ret != -EEXIST)
		return ret;
	if (get_lock(r, PRUNE_LEASE, &start, &expires, host, sizeof(host)) ==
		    0 &&
	    expires > util_now_ns()) {
		log_err("prune: another prune (on %s) holds the repository's "
			"maintenance lease; try again later", host);
		return -EBUSY;
	}
	log_warn("prune: removing the expired maintenance lease of %s", host);
	(void)r->up->ops->remove(r->up, PRUNE_LEASE);
	return put_lock(r, PRUNE_LEASE, LEASE_TTL_S);
}

struct abort_ctx {
	struct repo *r;
	int64_t cutoff_s;
	uint64_t n;
};

static int abort_old_upload(void *arg, const char *key, const char *upload_id,
			    int64_t initiated_s)
{
	struct abort_ctx *a = arg;

	if (initiated_s > a->cutoff_s)
		return 0;
	if (s3_abort_upload(a->r->up, key, upload_id) == 0)
		a->n++;
	return 0;
}

int maint_prune(struct repo *r, const struct prune_opts *o,
		struct prune_result *res)
{
	struct objs idx_objs = { 0 }, packs = { 0 }, tmps = { 0 };
	struct index *old = NULL, *fresh = NULL;
	struct snapshot **v = NULL;
	struct use_ctx c = { 0 };
	const char **del = NULL;
	size_t nsnaps = 0, ndel = 0, np, nobjs = 0, dmg = 0;
	int64_t now_s = util_now_ns() / 1000000000, switch_ns;
	int ret, leased = 0, busy = 0;

	memset(res, 0, sizeof(*res));
	if (!o->dry_run) {
		ret = take_lease(r);
		if (ret)
			return ret;
		leased = 1;
	}
	ret = list_objs(r, "index/", &idx_objs);
	if (!ret)
		ret = index_create(&old);
	if (!ret)
		ret = index_load(old, r, 0, &nobjs);
	if (ret) {
		log_err("prune: the index cannot be read completely; run "
			"'sstvault check' and repair before pruning");
		ret = ret == -ENOMEM ? ret : -EBADMSG;
		goto out;
	}
	res->index_before = nobjs;
	ret = snapshot_list(r, &v, &nsnaps, &dmg);
	if (ret)
		goto out;
	if (dmg) {
		log_err("prune: %zu snapshot(s) cannot be read; refusing to "
			"delete anything they may reference", dmg);
		ret = -EBADMSG;
		goto out;
	}
	res->snapshots = nsnaps;
	/* 1. mark */
	for (size_t s = 0; s < nsnaps; s++)
		for (size_t i = 0; i < v[s]->nfiles; i++) {
			const struct snap_file *f = &v[s]->files[i];

			for (uint32_t k = 0; k < f->nchunks; k++)
				if (index_mark(old, f->chunks[k].id,
					       f->chunks[k].len) < 0) {
					log_err("prune: snapshot %.8s file %s "
						"references a chunk missing "
						"from the index; run check",
						v[s]->id, f->path);
					ret = -EBADMSG;
					goto out;
				}
		}
	np = index_npacks(old);
	res->packs_before = np;
	c.use = calloc(np + 1, sizeof(*c.use));
	if (!c.use) {
		ret = -ENOMEM;
		goto out;
	}
	(void)index_foreach_marked(old, use_cb, &c);
	ret = list_objs(r, "data/", &packs);
	if (ret)
		goto out;
	for (uint32_t p = 0; p < np; p++) {
		struct pack_use *u = &c.use[p];
		double dead = u->total ? 1.0 - (double)u->live / u->total : 1;
		int64_t mtime = 0;
		char name[100];

		index_pack_name(index_pack_oid(old, p), name, sizeof(name));
		for (size_t i = 0; i < packs.n; i++)
			if (!strcmp(packs.v[i].name, name))
				mtime = packs.v[i].mtime;
		if (u->live == 0) {
			u->drop = 1;
		} else if (dead > o->repack_threshold) {
			u->repack = 1;
		}
		/* Young packs may belong to a backup whose snapshot is not
		 * written yet: keep them whole. */
		if ((u->drop || u->repack) && mtime > now_s - o->grace_s) {
			u->drop = u->repack = 0;
			res->packs_kept_young++;
		}
	}
	c.live = malloc((index_nentries(old) + 1) * sizeof(*c.live));
	c.live_pack = malloc((index_nentries(old) + 1) * sizeof(*c.live_pack));
	c.keep = malloc((index_nentries(old) + 1) * sizeof(*c.keep));
	c.keep_pack = malloc((index_nentries(old) + 1) * sizeof(*c.keep_pack));
	if (!c.live || !c.live_pack || !c.keep || !c.keep_pack) {
		ret = -ENOMEM;
		goto out;
	}
	c.collect = 1;
	(void)index_foreach_marked(old, use_cb, &c);
	for (uint32_t p = 0; p < np; p++) {
		if (c.use[p].repack)
			res->packs_repacked++;
		if (c.use[p].drop || c.use[p].repack) {
			res->packs_deleted++;
			res->bytes_deleted += index_pack_size(old, p);
		}
	}
	if (o->dry_run) {
		log_msg("prune (dry run): would delete %llu pack(s) of %llu "
			"(%llu bytes), repacking %llu",
			(unsigned long long)res->packs_deleted,
			(unsigned long long)np,
			(unsigned long long)res->bytes_deleted,
			(unsigned long long)res->packs_repacked);
		goto out;
	}
	/* 2. repack, 3. new index with every pack that stays */
	ret = index_create(&fresh);
	if (ret)
		goto out;
	ret = repack(r, old, fresh, &c, res);
	if (ret)
		goto out;
	{
		size_t *ord = sorted_order(c.keep, c.keep_pack, c.nkeep);

		if (!ord) {
			ret = -ENOMEM;
			goto out;
		}
		for (size_t a = 0; a < c.nkeep && !ret;) {
			size_t b = a;
			struct pack_entry *pe;
			uint32_t pack = c.keep_pack[ord[a]];

			while (b < c.nkeep && c.keep_pack[ord[b]] == pack)
				b++;
			pe = malloc((b - a) * sizeof(*pe));
			if (!pe) {
				ret = -ENOMEM;
				break;
			}
			for (size_t k = a; k < b; k++)
				pe[k - a] = c.keep[ord[k]];
			ret = index_add_pack(fresh, index_pack_oid(old, pack),
					     index_pack_size(old, pack), pe,
					     b - a, 1);
			free(pe);
			a = b;
		}
		free(ord);
		if (ret)
			goto out;
	}
	ret = index_write_new(fresh, r);
	if (ret) {
		log_err("prune: cannot write the new index: %s; nothing was "
			"deleted", r->up->errbuf);
		goto out;
	}
	res->packs_after = index_npacks(fresh);
	res->index_after = index_npacks(fresh) ? 1 : 0;
	/* 4. the old index objects go; from now on backups see the new one */
	del = calloc(idx_objs.n + packs.n + 1024, sizeof(*del));
	if (!del) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < idx_objs.n; i++)
		del[ndel++] = idx_objs.v[i].name;
	ret = remove_objs(r, del, ndel);
	if (ret)
		goto out;
	switch_ns = util_now_ns();
	/* 5. wait for backups that may have seen the old index */
	ret = wait_backups(r, switch_ns, o);
	if (ret)
		goto out;
	/* Backups that finished meanwhile wrote index objects of their own:
	 * their packs are referenced, not garbage. */
	{
		struct objs now_idx = { 0 };

		ret = list_objs(r, "index/", &now_idx);
		for (size_t i = 0; !ret && i < now_idx.n; i++) {
			int seen = 0;

			for (size_t k = 0; k < idx_objs.n && !seen; k++)
				seen = !strcmp(now_idx.v[i].name,
					       idx_objs.v[k].name);
			if (!seen)
				ret = index_load_one(fresh, r,
						     now_idx.v[i].name);
		}
		free(now_idx.v);
		if (ret)
			goto out;
	}
	/* 6. delete dead packs, and packs no index knows (interrupted
	 * backups) once they are older than the grace period and no backup
	 * is running (a running backup's packs are not indexed yet). */
	ndel = 0;
	for (uint32_t p = 0; p < np; p++) {
		if (!c.use[p].drop && !c.use[p].repack)
			continue;
		for (size_t i = 0; i < packs.n; i++) {
			char name[100];

			index_pack_name(index_pack_oid(old, p), name,
					sizeof(name));
			if (!strcmp(packs.v[i].name, name)) {
				del[ndel++] = packs.v[i].name;
				break;
			}
		}
	}
	busy = backups_running(r);
	if (busy)
		log_info("prune: backups are running; unreferenced packs stay "
			 "until the next prune");
	for (size_t i = 0; i < packs.n; i++) {
		const char *hex = strrchr(packs.v[i].name, '/');
		uint8_t oid[SV_OID_LEN];
		int known = 0;

		if (!hex || strlen(hex + 1) != 2 * SV_OID_LEN ||
		    sv_unhex(oid, hex + 1, SV_OID_LEN))
			continue;
		for (uint32_t p = 0; p < np && !known; p++)
			known = !memcmp(index_pack_oid(old, p), oid, SV_OID_LEN);
		for (size_t p = 0; p < index_npacks(fresh) && !known; p++)
			known = !memcmp(index_pack_oid(fresh, (uint32_t)p), oid,
					SV_OID_LEN);
		if (!known && packs.v[i].mtime <= now_s - o->grace_s &&
		    !busy) {
			del[ndel++] = packs.v[i].name;
			res->unreferenced_deleted++;
			res->bytes_deleted += packs.v[i].size;
		}
	}
	ret = remove_objs(r, del, ndel);
	if (ret)
		goto out;
	/* Temporaries of the local backend and stale multipart uploads. */
	if (!busy && list_objs(r, "tmp/", &tmps) == 0) {
		/* del[] was sized for index objects and packs; interrupted
		 * backups may have left more temporaries than that. */
		const char **nd = realloc(del, (tmps.n + 1) * sizeof(*del));

		if (!nd) {
			ret = -ENOMEM;
			goto out;
		}
		del = nd;
		ndel = 0;
		for (size_t i = 0; i < tmps.n; i++)
			if (tmps.v[i].mtime <= now_s - o->grace_s)
				del[ndel++] = tmps.v[i].name;
		if (remove_objs(r, del, ndel) == 0)
			res->tmp_deleted = ndel;
	}
	if (!strcmp(r->up->ops->name, "s3")) {
		struct abort_ctx a = { r, now_s - o->grace_s, 0 };

		if (s3_list_uploads(r->up, abort_old_upload, &a) == 0)
			res->uploads_aborted = a.n;
	}
out:
	if (leased)
		(void)r->up->ops->remove(r->up, PRUNE_LEASE);
	free(del);
	free(c.use);
	free(c.live);
	free(c.live_pack);
	free(c.keep);
	free(c.keep_pack);
	free(idx_objs.v);
	free(packs.v);
	free(tmps.v);
	snapshot_list_free(v, nsnaps);
	index_destroy(old);
	index_destroy(fresh);
	return ret;
}
