/*
 * mem.c - an in-memory object store: the test double for engine tests
 * (restic's mem backend). Location "mem:" gives a fresh, empty store.
 *
 * It honours the same contract as the real backends (no-overwrite puts,
 * ranged gets, atomic visibility at complete()) and can inject failures:
 * mem_fail_after(u, n, err) makes the n-th following mutating operation
 * fail with err, so engine tests can check cleanup paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uploaders/uploader.h"
#include "uploaders/mem.h"

struct mem_obj {
	char name[256];
	uint8_t *data;
	size_t len;
};

struct mem_priv {
	struct mem_obj *objs;   /* unsorted; fine for test sizes */
	size_t n, cap;
	long fail_after;        /* <0: never */
	int fail_err;
};

struct mem_write {
	uint8_t *data;
	size_t len, cap;
};

static struct mem_priv *mp(struct uploader *u)
{
	return u->priv;
}

static int injected(struct uploader *u)
{
	struct mem_priv *p = mp(u);

	if (p->fail_after < 0)
		return 0;
	if (p->fail_after-- == 0) {
		uploader_seterr(u, "mem: injected failure");
		return p->fail_err;
	}
	return 0;
}

void mem_fail_after(struct uploader *u, long n, int err)
{
	mp(u)->fail_after = n;
	mp(u)->fail_err = err;
}

static struct mem_obj *find(struct mem_priv *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->objs[i].name, name) == 0)
			return &p->objs[i];
	return NULL;
}

static int mem_init(struct uploader *u, const char *location,
		    const struct upl_opts *o)
{
	(void)location, (void)o;
	mp(u)->fail_after = -1;
	return 0;
}

/* Store a copy of data under name, taking ownership of copy. */
static int store(struct uploader *u, const char *name, uint8_t *copy,
		 size_t len, unsigned flags)
{
	struct mem_priv *p = mp(u);
	struct mem_obj *o = find(p, name);

	if (o && (flags & UPL_PUT_NO_OVERWRITE)) {
		free(copy);
		uploader_seterr(u, "%s: object exists", name);
		return -EEXIST;
	}
	if (!o) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 64;
			struct mem_obj *no = realloc(p->objs, cap * sizeof(*no));

			if (!no) {
				free(copy);
				return -ENOMEM;
			}
			p->objs = no;
			p->cap = cap;
		}
		o = &p->objs[p->n++];
		snprintf(o->name, sizeof(o->name), "%s", name);
	} else {
		free(o->data);
	}
	o->data = copy;
	o->len = len;
	u->stats.objects_put++;
	u->stats.bytes_up += len;
	return 0;
}

static int mem_put(struct uploader *u, const char *name, const void *data,
		   size_t len, unsigned flags)
{
	uint8_t *copy;
	int ret = injected(u);

	if (ret)
		return ret;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return store(u, name, copy, len, flags);
}

static int mem_open(struct uploader *u, struct upl_write *w)
{
	(void)u;
	w->priv = calloc(1, sizeof(struct mem_write));
	if (!w->priv)
		return -ENOMEM;
	w->next_part = 1;
	w->size = 0;
	w->err = 0;
	return 0;
}

static int mem_put_part(struct uploader *u, struct upl_write *w,
			const void *data, size_t len, void *cookie)
{
	struct mem_write *mw = w->priv;
	int ret;

	(void)cookie;
	if (w->err)
		return w->err;
	ret = injected(u);
	if (ret)
		return w->err = ret;
	if (mw->len + len > mw->cap) {
		size_t cap = SV_MAX(mw->cap * 2, mw->len + len);
		uint8_t *nd = realloc(mw->data, cap);

		if (!nd)
			return w->err = -ENOMEM;
		mw->data = nd;
		mw->cap = cap;
	}
	memcpy(mw->data + mw->len, data, len);
	mw->len += len;
	w->size += len;
	w->next_part++;
	u->stats.parts_put++;
	return SV_Q_DONE;
}

static int mem_complete(struct uploader *u, struct upl_write *w)
{
	struct mem_write *mw = w->priv;
	int ret;

	if (w->err)
		return w->err;
	ret = injected(u);
	if (ret)
		return w->err = ret;
	ret = store(u, w->name, mw->data, mw->len, w->flags);
	mw->data = NULL;
	free(mw);
	w->priv = NULL;
	return ret;
}

static int mem_abort(struct uploader *u, struct upl_write *w)
{
	struct mem_write *mw = w->priv;

	(void)u;
	if (mw)
		free(mw->data);
	free(mw);
	w->priv = NULL;
	return 0;
}

static int mem_reap(struct uploader *u, struct upl_event *ev, int max,
		    int timeout_ms)
{
	(void)u, (void)ev, (void)max, (void)timeout_ms;
	return 0;
}

static ssize_t mem_get(struct uploader *u, const char *name, uint64_t off,
		       uint64_t len, void *buf, size_t cap)
{
	struct mem_obj *o = find(mp(u), name);
	size_t n;

	if (!o) {
		uploader_seterr(u, "%s: no such object", name);
		return -ENOENT;
	}
	if (off > o->len)
		return -EINVAL;
	n = (size_t)SV_MIN(len, (uint64_t)(o->len - off));
	if (n > cap)
		return -ENOSPC;
	memcpy(buf, o->data + off, n);
	u->stats.gets++;
	u->stats.bytes_down += n;
	return (ssize_t)n;
}

static int mem_get_part(struct uploader *u, const char *name, uint64_t off,
			uint64_t len, void *buf, void *cookie)
{
	ssize_t n = mem_get(u, name, off, len, buf, len);

	(void)cookie;
	if (n < 0)
		return (int)n;
	return (uint64_t)n == len ? SV_Q_DONE : -EIO;
}

static int mem_stat(struct uploader *u, const char *name, uint64_t *size)
{
	struct mem_obj *o = find(mp(u), name);

	if (!o) {
		uploader_seterr(u, "%s: no such object", name);
		return -ENOENT;
	}
	*size = o->len;
	return 0;
}

static int mem_list(struct uploader *u, const char *prefix, upl_list_cb cb,
		    void *arg)
{
	struct mem_priv *p = mp(u);

	for (size_t i = 0; i < p->n; i++) {
		if (strncmp(p->objs[i].name, prefix, strlen(prefix)))
			continue;
		int ret = cb(arg, p->objs[i].name, p->objs[i].len, 0);

		if (ret)
			return ret;
	}
	return 0;
}

static int mem_remove(struct uploader *u, const char *name)
{
	struct mem_priv *p = mp(u);
	struct mem_obj *o = find(p, name);
	int ret = injected(u);

	if (ret)
		return ret;
	if (!o)
		return -ENOENT;
	free(o->data);
	*o = p->objs[--p->n];
	u->stats.deletes++;
	return 0;
}

static void mem_cleanup(struct uploader *u)
{
	struct mem_priv *p = mp(u);

	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->objs[i].data);
	free(p->objs);
}

/* Direct access for tests: the stored bytes of an object, or NULL. */
uint8_t *mem_object(struct uploader *u, const char *name, size_t *len)
{
	struct mem_obj *o = find(mp(u), name);

	if (!o)
		return NULL;
	*len = o->len;
	return o->data;
}

const struct uploader_ops uploader_mem = {
	.name = "mem",
	.version = UPLOADER_VERSION,
	.flags = UPL_F_RANGED_GET | UPL_F_NOOVERWRITE,
	.priv_size = sizeof(struct mem_priv),
	.init = mem_init,
	.open = mem_open,
	.put_part = mem_put_part,
	.complete = mem_complete,
	.abort = mem_abort,
	.reap = mem_reap,
	.put = mem_put,
	.get = mem_get,
	.get_part = mem_get_part,
	.stat = mem_stat,
	.list = mem_list,
	.remove = mem_remove,
	.cleanup = mem_cleanup,
};
