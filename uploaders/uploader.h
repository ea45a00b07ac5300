/*
 * uploader.h - the one interface every storage backend implements.
 *
 * A backend is a `const struct uploader_ops` (fio's ioengine_ops, curl's
 * Curl_ssl): a name, an interface version, capability flags, the size of its
 * private state (allocated and zeroed by the core) and its operations. The
 * engine never includes curl or filesystem details: it names objects by
 * their repository-relative key ("config", "keys/<hex>", "data/ab/<hex>",
 * "index/<hex>", "snapshots/<hex>") and lets the backend map them.
 *
 * Writes of large objects (packs) are multipart and asynchronous:
 *   open() -> put_part() x N -> complete()   (or abort() on any failure)
 * put_part() returns SV_Q_QUEUED (in flight: data must stay valid and
 * untouched until reap() hands back its cookie), SV_Q_DONE (finished at once,
 * data may be reused on return) or SV_Q_BUSY (too much in flight: call reap()
 * and try again; never an error). Ranged reads follow the same protocol with
 * get_part(). Small objects use the blocking put()/get().
 *
 * Errors are -errno everywhere: -ENOENT (no such object), -EEXIST (put with
 * UPL_PUT_NO_OVERWRITE found one), -EACCES (403/permission), -EAGAIN
 * (retryable, after the backend's own retries ran out), -EIO (anything
 * else). A human-readable detail, naming the object and the server's error
 * code, is left in u->errbuf by the failing call.
 */
#ifndef SV_UPLOADERS_UPLOADER_H
#define SV_UPLOADERS_UPLOADER_H

#include <stdint.h>
#include <sys/types.h>
#include "include/sv.h"

#define UPLOADER_VERSION 1

/* Capabilities (ops->flags). */
#define UPL_F_MULTIPART   (1u << 0) /* real multipart: parts in flight */
#define UPL_F_RANGED_GET  (1u << 1) /* get_part() reads ranges cheaply */
#define UPL_F_NOOVERWRITE (1u << 2) /* put(UPL_PUT_NO_OVERWRITE) is atomic */
#define UPL_F_REMOTE      (1u << 3) /* network store (progress, limits) */

/* Flags for put() and open(). */
#define UPL_PUT_NO_OVERWRITE (1u << 0) /* fail with -EEXIST if it exists */

/* put_part()/get_part() outcomes (fio's fio_q_status). */
enum sv_q {
	SV_Q_DONE = 0,
	SV_Q_QUEUED = 1,
	SV_Q_BUSY = 2,
};

/* Options a backend may use; zero means "the backend's default". */
struct upl_opts {
	const char *s3_endpoint;  /* e.g. https://s3.eu-west-1.amazonaws.com */
	const char *s3_region;    /* default us-east-1 */
	int s3_path_style;        /* 1 path-style; 0 or -1: virtual-hosted
				   * unless the endpoint is an IP address or
				   * localhost (or TLS + a dotted bucket) */
	const char *s3_profile;   /* shared credentials profile */
	const char *ca_file;      /* CA bundle (else AWS_CA_BUNDLE, SSL_CERT_FILE) */
	const char *client_cert;  /* mutual TLS */
	const char *client_key;
	unsigned connections;     /* requests in flight */
	uint64_t part_size;       /* multipart part size (bytes) */
	uint64_t limit_upload;    /* bytes/s over all connections, 0 = none */
	uint64_t limit_download;
	int fsync;                /* local: fsync objects (default 1) */
	unsigned retries;         /* attempts per request (default 8) */
	unsigned retry_base_ms;   /* full-jitter backoff base (default 100) */
	unsigned retry_cap_ms;    /* backoff ceiling (default 10000) */
	unsigned s3_list_page;    /* keys per list request (default 1000) */
};

/* Counters a backend keeps in u->stats (owned by the thread driving u). */
struct upl_stats {
	uint64_t bytes_up, bytes_down;
	uint64_t objects_put, parts_put, gets, deletes;
	uint64_t retries, throttled;
	unsigned inflight, inflight_max;  /* parts/ranges in flight now, peak */
};

/* A completion handed back by reap(). */
struct upl_event {
	void *cookie;  /* what the caller passed to put_part()/get_part() */
	ssize_t res;   /* bytes transferred, or -errno */
};

struct uploader;

/* One object being written. Owned by the caller; backend state in priv. */
struct upl_write {
	char name[256];
	unsigned flags;
	uint32_t next_part;   /* parts numbered from 1 */
	uint64_t size;        /* bytes passed to put_part() so far */
	int err;              /* sticky: first failure of any part */
	void *priv;           /* backend-owned, freed by complete()/abort() */
};

typedef int (*upl_list_cb)(void *arg, const char *name, uint64_t size,
			   int64_t mtime_s);

struct uploader_ops {
	const char *name;
	int version;          /* UPLOADER_VERSION */
	unsigned flags;       /* UPL_F_* */
	size_t priv_size;     /* bytes of zeroed state the core allocates */

	/* Parse location (path, s3://bucket/prefix) and connect. Required. */
	int (*init)(struct uploader *u, const char *location,
		    const struct upl_opts *o);
	/* Start a multipart object. Required. */
	int (*open)(struct uploader *u, struct upl_write *w);
	/* Queue part w->next_part (the backend increments it). Parts arrive
	 * in order; every part but the last is at least the backend's minimum
	 * part size. Required. Returns enum sv_q or -errno. */
	int (*put_part)(struct uploader *u, struct upl_write *w,
			const void *data, size_t len, void *cookie);
	/* Finish w: the object becomes visible atomically, whole. A
	 * backend may return before its last parts are written and before
	 * the object is durable (uploaders/local.c finishes packs in the
	 * background); it then guarantees that the object is visible,
	 * whole and durable before any later operation of the uploader
	 * begins, and a failure to make it so breaks the uploader: that
	 * operation and every later one return the error. When complete()
	 * returns, w itself is no longer used by the backend. After
	 * abort() no part of w is in flight any more. Either way the
	 * completion of each QUEUED part is still handed back by reap()
	 * (after abort() possibly with -ECANCELED): a caller frees or
	 * reuses a part's buffer when its cookie comes back, never before.
	 * Required. Return: 0 or -errno (then the caller must abort()). */
	int (*complete)(struct uploader *u, struct upl_write *w);
	/* Drop a partial object; safe after any failure. Required. */
	int (*abort)(struct uploader *u, struct upl_write *w);
	/* Completions of QUEUED parts/ranges; waits up to timeout_ms (-1:
	 * until one). Return: number of events, 0 on timeout, -errno. */
	int (*reap)(struct uploader *u, struct upl_event *ev, int max,
		    int timeout_ms);
	/* Blocking single-shot write of a small object. Required. */
	int (*put)(struct uploader *u, const char *name, const void *data,
		   size_t len, unsigned flags);
	/* Blocking ranged read into buf (len bytes at off; len may be
	 * UINT64_MAX for "to the end", bounded by cap). Required.
	 * Return: bytes read, -ENOENT, -ENOSPC (does not fit), -errno. */
	ssize_t (*get)(struct uploader *u, const char *name, uint64_t off,
		       uint64_t len, void *buf, size_t cap);
	/* Asynchronous ranged read (optional; the core falls back to get()).
	 * SV_Q_DONE: the whole range was read at once (-ENODATA instead when
	 * the object ends before the range does). SV_Q_QUEUED: reap() hands
	 * back the cookie with the bytes read, which is fewer than len only
	 * when the range runs past the end of the object, or -errno; buf must
	 * stay valid and untouched until then. */
	int (*get_part)(struct uploader *u, const char *name, uint64_t off,
			uint64_t len, void *buf, void *cookie);
	/* Size of an object (HEAD). Return: 0, -ENOENT, -errno. Required. */
	int (*stat)(struct uploader *u, const char *name, uint64_t *size);
	/* Call cb for every object whose name starts with prefix; a non-zero
	 * return from cb stops the walk and is returned. Required. */
	int (*list)(struct uploader *u, const char *prefix, upl_list_cb cb,
		    void *arg);
	/* Delete one object; -ENOENT if absent. Required. */
	int (*remove)(struct uploader *u, const char *name);
	/* Release everything init() made. Optional. */
	void (*cleanup)(struct uploader *u);
	/* Delete n objects (S3: DeleteObjects, 1000 names per request).
	 * Optional; the core falls back to remove(). Objects that do not
	 * exist are not errors. names are only read during the call.
	 * Return: 0 or the first failure's -errno (detail in errbuf). */
	int (*remove_many)(struct uploader *u, const char *const *names,
			   size_t n);
};

struct uploader {
	const struct uploader_ops *ops;
	void *priv;              /* ops->priv_size bytes, core-owned */
	struct upl_opts opts;    /* copy; strings borrowed from the caller */
	struct upl_stats stats;
	char errbuf[512];        /* detail of the last failure */
};

/* ---- registry (uploaders/registry.c) ---- */

/* Backend by name ("local", "s3", "mem"), or NULL. */
const struct uploader_ops *uploader_find(const char *name);

/*
 * Pick the backend for a location ("s3://..." -> s3, "mem:" -> mem, anything
 * else -> local), check its ops table, allocate it and call init().
 * On failure *out is NULL and errbuf (if not NULL, 512 bytes) says why.
 * Return: 0, -EINVAL (bad ops table or location), -ENOTSUP, -errno of init.
 */
int uploader_create(struct uploader **out, const char *location,
		    const struct upl_opts *o, char *errbuf) SV_MUST_CHECK;

/* Clean up and free; NULL is accepted. */
void uploader_destroy(struct uploader *u);

/* Validate an ops table (version, required handlers).
 * Return: 0 or -EINVAL with the reason in errbuf (512 bytes). */
int uploader_check_ops(const struct uploader_ops *ops, char *errbuf);

/* ---- helpers built on the ops (uploaders/registry.c) ---- */

/* Read a whole object into a malloc'ed buffer of at most max bytes.
 * The caller frees *data. Return: 0, -ENOENT, -E2BIG, -errno. */
int uploader_get_all(struct uploader *u, const char *name, size_t max,
		     uint8_t **data, size_t *len) SV_MUST_CHECK;

/* Set u->errbuf printf-style. */
void uploader_seterr(struct uploader *u, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
