/*
 * registry.c - the table of storage backends and the core around them.
 *
 * Registration is one explicit NULL-terminated table (curl's
 * available_backends[]): objects in a static archive that nothing references
 * are never linked, so constructor-based registration would silently lose a
 * backend. Every ops table is validated when it is instantiated (fio's
 * check_engine_ops), so a backend missing a handler fails loudly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uploaders/uploader.h"

extern const struct uploader_ops uploader_local;
extern const struct uploader_ops uploader_mem;
#ifdef HAVE_CURL
extern const struct uploader_ops uploader_s3;
#endif
extern const struct uploader_ops uploader_null;

static const struct uploader_ops *const backends[] = {
	&uploader_local,
	&uploader_mem,
#ifdef HAVE_CURL
	&uploader_s3,
#endif
	&uploader_null,
	NULL,
};

const struct uploader_ops *uploader_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

int uploader_check_ops(const struct uploader_ops *ops, char *errbuf)
{
	const char *missing = NULL;

	if (ops->version != UPLOADER_VERSION) {
		snprintf(errbuf, 512, "uploader %s: interface version %d, want %d",
			 ops->name, ops->version, UPLOADER_VERSION);
		return -EINVAL;
	}
	if (!ops->init)
		missing = "init";
	else if (!ops->open)
		missing = "open";
	else if (!ops->put_part)
		missing = "put_part";
	else if (!ops->complete)
		missing = "complete";
	else if (!ops->abort)
		missing = "abort";
	else if (!ops->reap)
		missing = "reap";
	else if (!ops->put)
		missing = "put";
	else if (!ops->get)
		missing = "get";
	else if (!ops->stat)
		missing = "stat";
	else if (!ops->list)
		missing = "list";
	else if (!ops->remove)
		missing = "remove";
	if (missing) {
		snprintf(errbuf, 512, "uploader %s: no %s handler", ops->name,
			 missing);
		return -EINVAL;
	}
	return 0;
}

static const char *backend_for(const char *location)
{
	if (strncmp(location, "s3://", 5) == 0)
		return "s3";
	if (strncmp(location, "mem:", 4) == 0)
		return "mem";
	if (strncmp(location, "null:", 5) == 0)
		return "null";
	return "local";
}

int uploader_create(struct uploader **out, const char *location,
		    const struct upl_opts *o, char *errbuf)
{
	static const struct upl_opts none;
	const struct uploader_ops *ops;
	const char *name = backend_for(location);
	struct uploader *u = NULL;
	char scratch[512];
	int ret;

	if (!errbuf)
		errbuf = scratch;
	errbuf[0] = '\0';
	*out = NULL;
	ops = uploader_find(name);
	if (!ops) {
		snprintf(errbuf, 512, "%s: no %s backend in this build",
			 location, name);
		return -ENOTSUP;
	}
	ret = uploader_check_ops(ops, errbuf);
	if (ret)
		return ret;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->ops = ops;
	u->opts = o ? *o : none;
	if (ops->priv_size) {
		u->priv = calloc(1, ops->priv_size);
		if (!u->priv) {
			ret = -ENOMEM;
			goto err;
		}
	}
	ret = ops->init(u, location, &u->opts);
	if (ret) {
		snprintf(errbuf, 512, "%s", u->errbuf[0] ? u->errbuf : strerror(-ret));
		goto err;
	}
	*out = u;
	return 0;
err:
	/* init failed: cleanup must cope with partial state, like every
	 * destructor here. */
	uploader_destroy(u);
	return ret;
}

void uploader_destroy(struct uploader *u)
{
	if (!u)
		return;
	if (u->ops->cleanup)
		u->ops->cleanup(u);
	free(u->priv);
	free(u);
}

void uploader_seterr(struct uploader *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->errbuf, sizeof(u->errbuf), fmt, ap);
	va_end(ap);
}

int uploader_get_all(struct uploader *u, const char *name, size_t max,
		     uint8_t **data, size_t *len)
{
	size_t first = SV_MIN(max, (size_t)1 << 16);
	uint64_t size = 0;
	uint8_t *buf;
	ssize_t n;
	int ret;

	*data = NULL;
	*len = 0;
	/* Small objects (config, key slots, locks) in one GET: a GET, unlike
	 * a HEAD, carries the store's error body (SignatureDoesNotMatch,
	 * NoSuchBucket...) into u->errbuf. */
	buf = malloc(first ? first : 1);
	if (!buf)
		return -ENOMEM;
	n = u->ops->get(u, name, 0, UINT64_MAX, buf, first);
	if (n >= 0) {
		*data = buf;
		*len = (size_t)n;
		return 0;
	}
	free(buf);
	if (n != -ENOSPC)
		return (int)n;
	ret = u->ops->stat(u, name, &size);
	if (ret)
		return ret;
	if (size > max) {
		uploader_seterr(u, "%s: object of %llu bytes exceeds %zu", name,
				(unsigned long long)size, max);
		return -E2BIG;
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	n = u->ops->get(u, name, 0, size, buf, size);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	if ((uint64_t)n != size) {
		uploader_seterr(u, "%s: short read (%zd of %llu bytes)", name,
				n, (unsigned long long)size);
		free(buf);
		return -EIO;
	}
	*data = buf;
	*len = size;
	return 0;
}
