/*
 * null.c - a store that discards pack data ("null:" locations).
 *
 * `sstvault bench` runs the whole backup pipeline into it, to measure what
 * the node can do without the storage behind it. A pipeline cannot run
 * against a pure sink: the backup lists index objects, writes an index and
 * a snapshot, and a later backup in the same process reads them back. So
 * the store keeps every small object written with put() (config, keys,
 * index, snapshots, locks) in memory, as the "mem:" store does, and
 * discards only the bytes of multipart objects (packs): their names and
 * sizes are kept, so stat() and list() see them, but get() of one fails
 * with -ENODATA. Parts complete at once (SV_Q_DONE) and are never read, so
 * the sink costs no copy: what is measured is everything up to the storage.
 *
 * Every uploader_create() of "null:" makes a fresh, empty store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uploaders/uploader.h"

struct null_obj {
	char name[256];
	uint8_t *data;       /* NULL for a discarded (multipart) object */
	uint64_t len;
};

struct null_priv {
	struct null_obj *objs;   /* unsorted: a backup writes few objects */
	size_t n, cap;
};

static struct null_priv *np(struct uploader *u)
{
	return u->priv;
}

static struct null_obj *find(struct null_priv *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->objs[i].name, name) == 0)
			return &p->objs[i];
	return NULL;
}

static int null_init(struct uploader *u, const char *location,
		     const struct upl_opts *o)
{
	(void)o;
	if (strncmp(location, "null:", 5) != 0) {
		uploader_seterr(u, "%s: not a null: location", location);
		return -EINVAL;
	}
	return 0;
}

/* Record name -> data (owned, may be NULL when discarded) of len bytes. */
static int store(struct uploader *u, const char *name, uint8_t *data,
		 uint64_t len, unsigned flags)
{
	struct null_priv *p = np(u);
	struct null_obj *o = find(p, name);

	if (strlen(name) >= sizeof(o->name)) {
		free(data);
		uploader_seterr(u, "%s: object name too long", name);
		return -ENAMETOOLONG;
	}
	if (o && (flags & UPL_PUT_NO_OVERWRITE)) {
		free(data);
		uploader_seterr(u, "%s: object exists", name);
		return -EEXIST;
	}
	if (!o) {
		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 64;
			struct null_obj *no = realloc(p->objs,
						      cap * sizeof(*no));

			if (!no) {
				free(data);
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
	o->data = data;
	o->len = len;
	u->stats.objects_put++;
	u->stats.bytes_up += len;
	return 0;
}

static int null_put(struct uploader *u, const char *name, const void *data,
		    size_t len, unsigned flags)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, len);
	return store(u, name, copy, len, flags);
}

static int null_open(struct uploader *u, struct upl_write *w)
{
	(void)u;
	w->priv = NULL;
	w->next_part = 1;
	w->size = 0;
	w->err = 0;
	return 0;
}

static int null_put_part(struct uploader *u, struct upl_write *w,
			 const void *data, size_t len, void *cookie)
{
	(void)data, (void)cookie;
	if (w->err)
		return w->err;
	w->size += len;
	w->next_part++;
	u->stats.parts_put++;
	return SV_Q_DONE;
}

static int null_complete(struct uploader *u, struct upl_write *w)
{
	if (w->err)
		return w->err;
	return store(u, w->name, NULL, w->size, w->flags);
}

static int null_abort(struct uploader *u, struct upl_write *w)
{
	(void)u, (void)w;
	return 0;
}

static int null_reap(struct uploader *u, struct upl_event *ev, int max,
		     int timeout_ms)
{
	(void)u, (void)ev, (void)max, (void)timeout_ms;
	return 0;
}

static ssize_t null_get(struct uploader *u, const char *name, uint64_t off,
			uint64_t len, void *buf, size_t cap)
{
	struct null_obj *o = find(np(u), name);
	uint64_t n;

	if (!o) {
		uploader_seterr(u, "%s: no such object", name);
		return -ENOENT;
	}
	if (!o->data) {
		uploader_seterr(u, "%s: the null store discarded its data",
				name);
		return -ENODATA;
	}
	if (off > o->len)
		return -EINVAL;
	n = SV_MIN(len, o->len - off);
	if (n > cap)
		return -ENOSPC;
	memcpy(buf, o->data + off, (size_t)n);
	u->stats.gets++;
	u->stats.bytes_down += n;
	return (ssize_t)n;
}

static int null_stat(struct uploader *u, const char *name, uint64_t *size)
{
	struct null_obj *o = find(np(u), name);

	if (!o) {
		uploader_seterr(u, "%s: no such object", name);
		return -ENOENT;
	}
	*size = o->len;
	return 0;
}

static int null_list(struct uploader *u, const char *prefix, upl_list_cb cb,
		     void *arg)
{
	struct null_priv *p = np(u);
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < p->n; i++) {
		int ret;

		if (strncmp(p->objs[i].name, prefix, plen))
			continue;
		ret = cb(arg, p->objs[i].name, p->objs[i].len, 0);
		if (ret)
			return ret;
	}
	return 0;
}

static int null_remove(struct uploader *u, const char *name)
{
	struct null_priv *p = np(u);
	struct null_obj *o = find(p, name);

	if (!o)
		return -ENOENT;
	free(o->data);
	*o = p->objs[--p->n];
	u->stats.deletes++;
	return 0;
}

static void null_cleanup(struct uploader *u)
{
	struct null_priv *p = np(u);

	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->objs[i].data);
	free(p->objs);
	p->objs = NULL;
	p->n = p->cap = 0;
}

const struct uploader_ops uploader_null = {
	.name = "null",
	.version = UPLOADER_VERSION,
	.flags = UPL_F_NOOVERWRITE,
	.priv_size = sizeof(struct null_priv),
	.init = null_init,
	.open = null_open,
	.put_part = null_put_part,
	.complete = null_complete,
	.abort = null_abort,
	.reap = null_reap,
	.put = null_put,
	.get = null_get,
	.stat = null_stat,
	.list = null_list,
	.remove = null_remove,
	.cleanup = null_cleanup,
};
