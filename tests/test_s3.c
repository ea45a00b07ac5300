/*
 * test_s3.c - the S3 backend against a real S3 server (Ceph RADOS Gateway,
 * started by tests/t_s3.sh through tests/lib_rgw.sh) and against a tiny
 * fake server in a thread for the failures a healthy gateway never
 * produces (503 SlowDown, 500, a wrong ETag).
 *
 * Environment:
 *   SV_S3_ENDPOINT   e.g. http://127.0.0.1:7480; unset: skip (exit 77)
 *   AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default TESTKEY/TESTSECRET,
 *                    the user tests/rgw.sh creates)
 *   SV_S3_BUCKET     bucket to use (default svtest-<pid>); created here
 *   SV_S3_DATA_OUT   if set, the bytes of the 40 MiB multipart object
 *                    s3://BUCKET/t/mp40 are written there, and the object
 *                    is left in the bucket, for the shell's ETag cross-check
 *   SV_S3_ENDPOINT_TLS, SV_S3_CA_FILE   the gateway over TLS and its CA
 *                    (optional: TLS tests)
 *   SV_S3_VHOST_ENDPOINT  an endpoint under which bucket.HOST reaches the
 *                    gateway (optional: virtual-hosted test)
 *
 * Exit 0 pass, 1 fail, 77 skip.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "uploaders/s3.h"
#include "uploaders/uploader.h"

#define MiB (1u << 20)

static int passed, failed;
static const char *endpoint;
static char bucket[64];

static void check(int ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *d, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		d[i] = (uint8_t)(x >> 24);
	}
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		printf("FAIL out of memory\n");
		exit(1);
	}
	return p;
}

static struct upl_opts base_opts(void)
{
	struct upl_opts o = { 0 };

	o.s3_endpoint = endpoint;
	o.s3_path_style = -1;
	return o;
}

static struct uploader *mk(const char *loc, const struct upl_opts *o)
{
	char eb[512];
	struct uploader *u = NULL;
	int rc = uploader_create(&u, loc, o, eb);

	if (rc) {
		printf("FAIL cannot create uploader %s: %s (%d)\n", loc, eb, rc);
		exit(1);
	}
	return u;
}

/*
 * Upload d[0..len) as a multipart object the way the engine does: queue
 * parts, reap on BUSY, complete, abort on failure. Return 0 or -errno.
 */
static int upload_mp(struct uploader *u, const char *name, const uint8_t *d,
		     size_t len, size_t part, unsigned flags)
{
	struct upl_write w;
	struct upl_event ev[16];
	size_t off = 0;
	int rc, n;

	memset(&w, 0, sizeof(w));
	snprintf(w.name, sizeof(w.name), "%s", name);
	w.flags = flags;
	rc = u->ops->open(u, &w);
	if (rc)
		return rc;
	while (off < len) {
		size_t l = len - off < part ? len - off : part;

		rc = u->ops->put_part(u, &w, d + off, l, (void *)(uintptr_t)(off + 1));
		if (rc == SV_Q_BUSY) {
			n = u->ops->reap(u, ev, 16, -1);
			for (int i = 0; i < n; i++)
				if (ev[i].res < 0)
					rc = (int)ev[i].res;
			if (rc < 0)
				break;
			continue;
		}
		if (rc < 0)
			break;
		off += l;
		rc = 0;
	}
	if (!rc)
		rc = u->ops->complete(u, &w);
	if (rc)
		u->ops->abort(u, &w);
	/* Hand back the completions complete() waited for. */
	while ((n = u->ops->reap(u, ev, 16, 0)) > 0)
		for (int i = 0; i < n; i++)
			if (ev[i].res < 0 && !rc && ev[i].res != -ECANCELED)
				rc = (int)ev[i].res;
	return rc;
}

/* ---- list helpers ---- */

struct names {
	char n[200][64];
	uint64_t size[200];
	int count;
	int stop_at;
};

static int list_cb(void *arg, const char *name, uint64_t size, int64_t mtime)
{
	struct names *nm = arg;

	(void)mtime;
	if (nm->count < 200) {
		snprintf(nm->n[nm->count], sizeof(nm->n[0]), "%s", name);
		nm->size[nm->count] = size;
	}
	nm->count++;
	if (nm->stop_at && nm->count == nm->stop_at)
		return 42;
	return 0;
}

struct ups {
	int count;
	char name[8][64];
	char id[8][128];
	int64_t when[8];
};

static int uploads_cb(void *arg, const char *name, const char *id,
		      int64_t initiated)
{
	struct ups *s = arg;

	if (s->count < 8) {
		snprintf(s->name[s->count], sizeof(s->name[0]), "%s", name);
		snprintf(s->id[s->count], sizeof(s->id[0]), "%s", id);
		s->when[s->count] = initiated;
	}
	s->count++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Tests against the real gateway                                      */
/* ------------------------------------------------------------------ */

static void test_objects(struct uploader *u)
{
	uint8_t d[1000], g[2000];
	uint64_t size = 0;
	ssize_t n;
	int rc;

	fill(d, sizeof(d), 1);
	rc = u->ops->put(u, "config", d, sizeof(d), 0);
	check(rc == 0, "put config: rc=%d %s", rc, rc ? u->errbuf : "");
	rc = u->ops->stat(u, "config", &size);
	check(rc == 0 && size == sizeof(d), "stat config: rc=%d size=%" PRIu64
	      " (want 1000)", rc, size);
	n = u->ops->get(u, "config", 0, UINT64_MAX, g, sizeof(g));
	check(n == 1000 && !memcmp(g, d, 1000), "get whole object: %zd bytes, "
	      "content %s", n, n == 1000 && !memcmp(g, d, 1000) ? "same" : "differs");
	n = u->ops->get(u, "config", 100, 20, g, sizeof(g));
	check(n == 20 && !memcmp(g, d + 100, 20), "ranged get 100+20: %zd bytes",
	      n);
	n = u->ops->get(u, "config", 990, UINT64_MAX, g, sizeof(g));
	check(n == 10 && !memcmp(g, d + 990, 10), "get from 990 to the end: "
	      "%zd bytes (want 10)", n);
	n = u->ops->get(u, "config", 5000, 10, g, sizeof(g));
	check(n == 0, "get past the end: %zd (want 0)", n);
	n = u->ops->get(u, "config", 0, UINT64_MAX, g, 500);
	check(n == -ENOSPC, "get into a too small buffer: %zd (want -ENOSPC)", n);

	rc = u->ops->put(u, "config", d, sizeof(d), UPL_PUT_NO_OVERWRITE);
	check(rc == -EEXIST, "no-overwrite put on an existing object: rc=%d "
	      "(want -EEXIST) [%s]", rc, u->errbuf);
	rc = u->ops->put(u, "keys/k1", d, 10, UPL_PUT_NO_OVERWRITE);
	check(rc == 0, "no-overwrite put of a new object: rc=%d", rc);
	rc = u->ops->put(u, "empty", "", 0, 0);
	check(rc == 0, "put an empty object: rc=%d %s", rc, rc ? u->errbuf : "");
	n = u->ops->get(u, "empty", 0, UINT64_MAX, g, sizeof(g));
	check(n == 0, "get the empty object: %zd", n);

	rc = u->ops->stat(u, "nope", &size);
	check(rc == -ENOENT, "stat missing: rc=%d (want -ENOENT)", rc);
	n = u->ops->get(u, "nope", 0, 10, g, sizeof(g));
	check(n == -ENOENT && strstr(u->errbuf, "nope"), "get missing: %zd, "
	      "errbuf '%s'", n, u->errbuf);
	rc = u->ops->remove(u, "nope");
	check(rc == -ENOENT, "remove missing: rc=%d (want -ENOENT)", rc);
	rc = u->ops->remove(u, "keys/k1");
	check(rc == 0, "remove: rc=%d", rc);
	rc = u->ops->stat(u, "keys/k1", &size);
	check(rc == -ENOENT, "stat after remove: rc=%d (want -ENOENT)", rc);

	/* Names that need URL encoding, and XML escaping in the list. */
	{
		const char *odd = "data/ab/x y&z<q>'\"+%~=,;:@!$()*.bin";
		struct names nm;

		memset(&nm, 0, sizeof(nm));
		rc = u->ops->put(u, odd, d, 33, 0);
		check(rc == 0, "put odd name: rc=%d %s", rc, rc ? u->errbuf : "");
		n = u->ops->get(u, odd, 0, UINT64_MAX, g, sizeof(g));
		check(n == 33 && !memcmp(g, d, 33), "get odd name: %zd", n);
		rc = u->ops->list(u, "data/", list_cb, &nm);
		check(rc == 0 && nm.count == 1 && !strcmp(nm.n[0], odd) &&
		      nm.size[0] == 33, "list unescapes names: rc=%d count=%d "
		      "'%s'", rc, nm.count, nm.n[0]);
		rc = u->ops->remove(u, odd);
		check(rc == 0, "remove odd name: rc=%d", rc);
	}
}

static void test_list_and_batch(void)
{
	struct upl_opts o = base_opts();
	struct uploader *u;
	struct names nm;
	const char *names[51];
	char store[51][32];
	uint8_t d[64];
	int rc, ok = 1;

	char loc[128];

	o.s3_list_page = 7;  /* 50 objects: 8 pages */
	snprintf(loc, sizeof(loc), "s3://%s/pg", bucket);
	u = mk(loc, &o);
	fill(d, sizeof(d), 2);
	for (int i = 0; i < 50; i++) {
		snprintf(store[i], sizeof(store[i]), "obj/%03d", i);
		names[i] = store[i];
		rc = u->ops->put(u, store[i], d, (size_t)i, 0);
		if (rc)
			ok = 0;
	}
	check(ok, "put 50 small objects");
	memset(&nm, 0, sizeof(nm));
	rc = u->ops->list(u, "", list_cb, &nm);
	for (int i = 0; i < 50 && ok; i++)
		if (strcmp(nm.n[i], store[i]) || nm.size[i] != (uint64_t)i)
			ok = 0;
	check(rc == 0 && nm.count == 50 && ok, "list over 8 pages of 7: rc=%d "
	      "count=%d (want 50), names and sizes %s", rc, nm.count,
	      ok ? "right" : "wrong");
	memset(&nm, 0, sizeof(nm));
	rc = u->ops->list(u, "obj/01", list_cb, &nm);
	check(rc == 0 && nm.count == 10, "list with prefix obj/01: count=%d "
	      "(want 10)", nm.count);
	memset(&nm, 0, sizeof(nm));
	nm.stop_at = 9;
	rc = u->ops->list(u, "", list_cb, &nm);
	check(rc == 42 && nm.count == 9, "callback stops the walk: rc=%d "
	      "count=%d", rc, nm.count);
	/* The 51st name does not exist: DeleteObjects does not mind. */
	snprintf(store[50], sizeof(store[50]), "obj/none");
	names[50] = store[50];
	u->stats.deletes = 0;
	rc = u->ops->remove_many(u, names, 51);
	check(rc == 0, "remove_many 51 names: rc=%d %s", rc, rc ? u->errbuf : "");
	memset(&nm, 0, sizeof(nm));
	rc = u->ops->list(u, "", list_cb, &nm);
	check(rc == 0 && nm.count == 0, "list after remove_many: count=%d "
	      "(want 0)", nm.count);
	uploader_destroy(u);
}

static void test_ranges(struct uploader *u)
{
	const size_t size = 8 * MiB, rl = 128 << 10;
	uint8_t *d = xmalloc(size), *bufs = xmalloc(64 * rl);
	struct upl_event ev[16];
	int rc, done = 0, bad = 0, next = 0;
	ssize_t got[65];

	fill(d, size, 3);
	rc = u->ops->put(u, "data/ranges", d, size, 0);
	check(rc == 0, "put 8 MiB object: rc=%d %s", rc, rc ? u->errbuf : "");
	u->stats.inflight_max = 0;
	/* 64 ranges of 128 KiB at scattered offsets; range 63 runs past
	 * the end, so it comes back short. */
	while (done < 64) {
		while (next < 64) {
			uint64_t off = next == 63 ? size - 1000 :
				       (uint64_t)((next * 37) % 63) * rl;

			rc = u->ops->get_part(u, "data/ranges", off, rl,
					      bufs + (size_t)next * rl,
					      (void *)(uintptr_t)(next + 1));
			if (rc == SV_Q_BUSY)
				break;
			if (rc != SV_Q_QUEUED) {
				check(0, "get_part %d: rc=%d %s", next, rc, u->errbuf);
				goto out;
			}
			next++;
		}
		rc = u->ops->reap(u, ev, 16, -1);
		if (rc <= 0) {
			check(0, "reap: rc=%d", rc);
			goto out;
		}
		for (int i = 0; i < rc; i++) {
			int k = (int)(uintptr_t)ev[i].cookie - 1;

			got[k] = ev[i].res;
			done++;
		}
	}
	for (int k = 0; k < 64; k++) {
		uint64_t off = k == 63 ? size - 1000 :
			       (uint64_t)((k * 37) % 63) * rl;
		size_t want = k == 63 ? 1000 : rl;

		if (got[k] != (ssize_t)want ||
		    memcmp(bufs + (size_t)k * rl, d + off, want))
			bad++;
	}
	check(bad == 0, "64 ranged reads through get_part/reap: %d wrong", bad);
	check(u->stats.inflight_max > 1, "ranged reads overlap: inflight_max=%u",
	      u->stats.inflight_max);
	check(u->stats.inflight == 0, "nothing in flight after reaping: %u",
	      u->stats.inflight);
	rc = u->ops->get_part(u, "data/ranges", size + 10, 100, bufs,
			      (void *)1);
	if (rc == SV_Q_QUEUED && u->ops->reap(u, ev, 1, -1) == 1)
		check(ev[0].res == 0, "get_part past the end: res=%zd (want 0)",
		      ev[0].res);
	else
		check(0, "get_part past the end: rc=%d", rc);
	rc = u->ops->get_part(u, "data/none", 0, 100, bufs, (void *)1);
	if (rc == SV_Q_QUEUED && u->ops->reap(u, ev, 1, -1) == 1)
		check(ev[0].res == -ENOENT, "get_part of a missing object: "
		      "res=%zd (want -ENOENT)", ev[0].res);
	else
		check(0, "get_part missing: rc=%d", rc);
out:
	free(d);
	free(bufs);
}

static void test_multipart(void)
{
	const size_t size = 40 * MiB, part = 5 * MiB;
	struct upl_opts o = base_opts();
	const char *out = getenv("SV_S3_DATA_OUT");
	uint8_t *d = xmalloc(size), *g = xmalloc(size + 1);
	struct uploader *u;
	struct ups ups;
	uint64_t st = 0;
	ssize_t n;
	char loc[128];
	double t;
	int rc;

	o.connections = 8;
	o.part_size = part;
	snprintf(loc, sizeof(loc), "s3://%s/t", bucket);
	u = mk(loc, &o);
	fill(d, size, 4);
	t = now_s();
	rc = upload_mp(u, "mp40", d, size, part, 0);
	t = now_s() - t;
	check(rc == 0, "multipart 40 MiB in 5 MiB parts: rc=%d %s (%.2f s, "
	      "%.0f MB/s)", rc, rc ? u->errbuf : "", t, size / t / 1e6);
	check(u->stats.parts_put == 8 && u->stats.objects_put == 1,
	      "stats: parts_put=%" PRIu64 " objects_put=%" PRIu64,
	      u->stats.parts_put, u->stats.objects_put);
	check(u->stats.inflight_max > 1 && u->stats.inflight_max <= 8,
	      "parts overlap: inflight_max=%u (want 2..8)",
	      u->stats.inflight_max);
	check(u->stats.bytes_up >= size, "bytes_up=%" PRIu64,
	      u->stats.bytes_up);
	rc = u->ops->stat(u, "mp40", &st);
	check(rc == 0 && st == size, "stat multipart object: %" PRIu64, st);
	n = u->ops->get(u, "mp40", 0, UINT64_MAX, g, size + 1);
	check(n == (ssize_t)size && !memcmp(g, d, size), "read back 40 MiB: "
	      "%zd bytes, %s", n, n == (ssize_t)size && !memcmp(g, d, size) ?
	      "same" : "differs");
	if (out) {
		FILE *f = fopen(out, "wb");

		check(f && fwrite(d, 1, size, f) == size && !fclose(f),
		      "wrote the multipart data to %s", out);
	}

	/* A short last part, and a lone part below 5 MiB. */
	rc = upload_mp(u, "mp6", d, 6 * MiB, part, 0);
	check(rc == 0, "multipart 5 MiB + 1 MiB: rc=%d %s", rc, rc ? u->errbuf : "");
	n = u->ops->get(u, "mp6", 0, UINT64_MAX, g, size);
	check(n == 6 * MiB && !memcmp(g, d, 6 * MiB), "read back: %zd", n);
	rc = upload_mp(u, "mp-small", d, 100000, part, 0);
	check(rc == 0, "multipart with one 100 kB part: rc=%d %s", rc,
	      rc ? u->errbuf : "");
	n = u->ops->get(u, "mp-small", 0, UINT64_MAX, g, size);
	check(n == 100000 && !memcmp(g, d, 100000), "read back: %zd", n);
	rc = upload_mp(u, "mp-empty", d, 0, part, 0);
	n = u->ops->get(u, "mp-empty", 0, UINT64_MAX, g, size);
	check(rc == 0 && n == 0, "multipart with no parts: rc=%d, %zd bytes",
	      rc, n);

	/* No-overwrite multipart: a new name completes, an existing one
	 * fails with -EEXIST and keeps its content. */
	rc = upload_mp(u, "mp-once", d, 6 * MiB, part, UPL_PUT_NO_OVERWRITE);
	check(rc == 0, "no-overwrite multipart of a new name: rc=%d %s", rc,
	      rc ? u->errbuf : "");
	rc = upload_mp(u, "mp-once", d + 1, 6 * MiB, part, UPL_PUT_NO_OVERWRITE);
	n = u->ops->get(u, "mp-once", 0, UINT64_MAX, g, size);
	check(rc == -EEXIST && n == 6 * MiB && !memcmp(g, d, 6 * MiB),
	      "no-overwrite multipart onto an existing object: rc=%d (want "
	      "-EEXIST), content kept: %s", rc,
	      n == 6 * MiB && !memcmp(g, d, 6 * MiB) ? "yes" : "no");

	/* A part below 5 MiB that is not the last is refused at once. */
	{
		struct upl_write w;

		memset(&w, 0, sizeof(w));
		snprintf(w.name, sizeof(w.name), "mp-bad");
		rc = u->ops->open(u, &w);
		if (!rc)
			rc = u->ops->put_part(u, &w, d, 1000, NULL);
		if (rc == SV_Q_QUEUED)
			rc = u->ops->put_part(u, &w, d, 1000, NULL);
		check(rc == -EINVAL && w.err == -EINVAL, "short part before "
		      "the last: rc=%d w.err=%d (want -EINVAL, sticky)", rc,
		      w.err);
		rc = u->ops->put_part(u, &w, d, part, NULL);
		check(rc == -EINVAL, "sticky: the next part gets %d", rc);
		rc = u->ops->abort(u, &w);
		check(rc == 0 && !w.priv, "abort: rc=%d", rc);
		while (u->ops->reap(u, (struct upl_event[4]){ 0 }, 4, 0) > 0)
			;
	}

	/* Abort with parts in flight leaves no upload behind. */
	{
		struct upl_write w;
		struct upl_event ev[8];
		int cancelled = 0, events = 0;

		memset(&w, 0, sizeof(w));
		snprintf(w.name, sizeof(w.name), "mp-abort");
		rc = u->ops->open(u, &w);
		for (int i = 0; i < 3 && rc >= 0; i++)
			rc = u->ops->put_part(u, &w, d + (size_t)i * part, part,
					      (void *)(uintptr_t)(i + 1));
		check(rc == SV_Q_QUEUED, "three parts queued: rc=%d", rc);
		rc = u->ops->abort(u, &w);
		check(rc == 0, "abort with parts in flight: rc=%d %s", rc,
		      rc ? u->errbuf : "");
		while ((n = u->ops->reap(u, ev, 8, 0)) > 0) {
			events += (int)n;
			for (int i = 0; i < n; i++)
				cancelled += ev[i].res == -ECANCELED;
		}
		check(events == 3, "every queued part comes back through reap: "
		      "%d events (%d cancelled)", events, cancelled);
		check(u->stats.inflight == 0, "inflight back to 0: %u",
		      u->stats.inflight);
	}

	/* A leftover upload (a crashed run): listed, then aborted by id. */
	{
		struct upl_write w;

		memset(&w, 0, sizeof(w));
		snprintf(w.name, sizeof(w.name), "data/leftover");
		rc = u->ops->open(u, &w);
		check(rc == 0, "open an upload and leave it: rc=%d", rc);
		memset(&ups, 0, sizeof(ups));
		rc = s3_list_uploads(u, uploads_cb, &ups);
		check(rc == 0 && ups.count == 1 &&
		      !strcmp(ups.name[0], "data/leftover") && ups.when[0] > 0,
		      "list uploads: rc=%d count=%d name '%s' initiated %" PRId64,
		      rc, ups.count, ups.name[0], ups.when[0]);
		rc = ups.count == 1 ? s3_abort_upload(u, ups.name[0], ups.id[0]) : -1;
		check(rc == 0, "abort it by id: rc=%d %s", rc, rc ? u->errbuf : "");
		rc = s3_abort_upload(u, ups.name[0], ups.id[0]);
		check(rc == 0, "aborting it again is fine: rc=%d", rc);
		memset(&ups, 0, sizeof(ups));
		rc = s3_list_uploads(u, uploads_cb, &ups);
		check(rc == 0 && ups.count == 0, "no uploads left: count=%d",
		      ups.count);
		/* The upl_write still points at the upload: abort() copes
		 * with an upload that is gone. */
		rc = u->ops->abort(u, &w);
		check(rc == 0, "abort() after the upload was aborted by id: "
		      "rc=%d", rc);
	}
	if (!out) {
		const char *rm[] = { "mp40", "mp6", "mp-small", "mp-empty",
				     "mp-once" };

		rc = u->ops->remove_many(u, rm, 5);
		check(rc == 0, "clean up: rc=%d", rc);
	}
	uploader_destroy(u);
	free(d);
	free(g);
}

static void test_errors(void)
{
	struct upl_opts o = base_opts();
	struct uploader *u;
	char loc[128], *old = NULL;
	uint8_t d[16] = { 0 };
	int rc;

	/* Wrong secret. */
	if (getenv("AWS_SECRET_ACCESS_KEY"))
		old = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
	setenv("AWS_SECRET_ACCESS_KEY", "WRONGSECRET", 1);
	snprintf(loc, sizeof(loc), "s3://%s/x", bucket);
	u = mk(loc, &o);
	rc = u->ops->put(u, "config", d, sizeof(d), 0);
	check(rc == -EACCES && strstr(u->errbuf, "SignatureDoesNotMatch") &&
	      strstr(u->errbuf, "x/config"), "wrong secret: rc=%d (want "
	      "-EACCES), errbuf '%s'", rc, u->errbuf);
	uploader_destroy(u);
	if (old) {
		setenv("AWS_SECRET_ACCESS_KEY", old, 1);
		free(old);
	}

	/* Missing bucket: the message names it. */
	u = mk("s3://no-such-bucket-sv/x", &o);
	rc = u->ops->put(u, "config", d, sizeof(d), 0);
	check(rc == -ENOENT && strstr(u->errbuf, "NoSuchBucket") &&
	      strstr(u->errbuf, "bucket 'no-such-bucket-sv'"), "missing bucket: "
	      "rc=%d (want -ENOENT), errbuf '%s'", rc, u->errbuf);
	uploader_destroy(u);

	/* Nobody listening: retried, then -EAGAIN. */
	{
		struct upl_opts c = { 0 };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t al = sizeof(a);
		char ep[64];
		double t;

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(s, (struct sockaddr *)&a, sizeof(a));
		getsockname(s, (struct sockaddr *)&a, &al);
		close(s);  /* a port that was free a moment ago */
		snprintf(ep, sizeof(ep), "http://127.0.0.1:%u",
			 ntohs(a.sin_port));
		c.s3_endpoint = ep;
		c.retries = 4;
		c.retry_base_ms = 20;
		u = mk("s3://abc/x", &c);
		t = now_s();
		rc = u->ops->put(u, "config", d, sizeof(d), 0);
		t = now_s() - t;
		check(rc == -EAGAIN && u->stats.retries == 3 &&
		      strstr(u->errbuf, "gave up after 4 attempts"),
		      "connection refused: rc=%d (want -EAGAIN) retries=%" PRIu64
		      " in %.2f s, errbuf '%s'", rc, u->stats.retries, t,
		      u->errbuf);
		uploader_destroy(u);
	}

	/* Credentials from a profile in the shared credentials file. */
	{
		char path[] = "/tmp/sv-creds-XXXXXX";
		int fd = mkstemp(path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		const char *ak = getenv("AWS_ACCESS_KEY_ID");
		const char *sk = getenv("AWS_SECRET_ACCESS_KEY");

		if (f) {
			fprintf(f, "# test\n[default]\naws_access_key_id = X\n"
				"aws_secret_access_key = Y\n\n[ sv ]\n"
				"aws_access_key_id=%s\n aws_secret_access_key = "
				"%s \n[other]\naws_access_key_id = Z\n", ak, sk);
			fclose(f);
		}
		setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
		o.s3_profile = "sv";
		u = mk(loc, &o);
		rc = u->ops->put(u, "from-profile", d, sizeof(d), 0);
		check(rc == 0, "credentials from profile [sv]: rc=%d %s", rc,
		      rc ? u->errbuf : "");
		u->ops->remove(u, "from-profile");
		uploader_destroy(u);
		o.s3_profile = "missing";
		{
			char eb[512];

			rc = uploader_create(&u, loc, &o, eb);
			check(rc == -EACCES && strstr(eb, "missing"),
			      "missing profile: rc=%d (want -EACCES) '%s'", rc,
			      eb);
		}
		unlink(path);
		unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	}
}

/*
 * The limiter: 24 MiB in four 6 MiB parts, all in flight at once, under an
 * 8 MiB/s cap shared by the four connections; then 24 MiB of ranged reads
 * under a 16 MiB/s cap. Each must land within 10% of its cap.
 */
static void test_limits(void)
{
	const size_t size = 24 * MiB, part = 6 * MiB;
	struct upl_opts o = base_opts();
	uint8_t *d = xmalloc(size), *g = xmalloc(size);
	struct upl_event ev[8];
	struct uploader *u;
	char loc[128];
	double t, rate;
	int rc, done = 0;

	o.limit_upload = 8 * MiB;
	o.limit_download = 16 * MiB;
	snprintf(loc, sizeof(loc), "s3://%s/lim", bucket);
	u = mk(loc, &o);
	fill(d, size, 5);
	t = now_s();
	rc = upload_mp(u, "cap", d, size, part, 0);
	t = now_s() - t;
	rate = size / t;
	check(rc == 0 && rate > 0.9 * 8 * MiB && rate < 1.1 * 8 * MiB,
	      "upload capped at 8 MiB/s: %.2f MiB/s over %.2f s (rc=%d)",
	      rate / MiB, t, rc);
	check(u->stats.inflight_max >= 4, "the cap is shared by %u parts in "
	      "flight", u->stats.inflight_max);
	t = now_s();
	for (int i = 0; i < 4; i++) {
		rc = u->ops->get_part(u, "cap", (uint64_t)i * part, part,
				      g + (size_t)i * part, NULL);
		if (rc != SV_Q_QUEUED)
			break;
	}
	while (done < 4 && (rc = u->ops->reap(u, ev, 8, -1)) > 0)
		for (int i = 0; i < rc; i++)
			done += ev[i].res == (ssize_t)part;
	t = now_s() - t;
	rate = size / t;
	check(done == 4 && !memcmp(d, g, size) && rate > 0.9 * 16 * MiB &&
	      rate < 1.1 * 16 * MiB, "download capped at 16 MiB/s: %.2f MiB/s "
	      "over %.2f s, %d/4 ranges right", rate / MiB, t, done);
	rc = u->ops->remove(u, "cap");
	uploader_destroy(u);
	free(d);
	free(g);
}

/* ------------------------------------------------------------------ */
/* A fake S3 server for the failures a healthy gateway does not make   */
/* ------------------------------------------------------------------ */

struct fake {
	int lfd;
	unsigned port;
	pthread_t th;
	pthread_mutex_t mu;
	/* Script, set before the requests it affects (under mu). */
	int throttle_parts;   /* 503 SlowDown for this many part PUTs */
	int fail_completes;   /* 500 InternalError for this many completes */
	int all_500;
	int bad_etag_part;    /* answer this part with a wrong ETag */
	/* Observations. */
	int requests;
	int saw_token;
	char host[128];       /* Host header of the last request */
	char target[256];     /* request target of the last request */
	int maxpart;          /* highest part number stored */
	uint8_t md5[64][16];
};

static int read_full(int fd, char *b, size_t n)
{
	while (n) {
		ssize_t r = read(fd, b, n);

		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static void reply(int fd, const char *status, const char *extra,
		  const char *body)
{
	char h[1024];
	int n = snprintf(h, sizeof(h), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n%s\r\n", status, strlen(body),
			 extra);

	if (write(fd, h, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		return;
}

static void fake_one(struct fake *f, int fd)
{
	static char hdr[16384];
	char method[16] = "", target[2048] = "", *body = NULL, *he, *cl;
	size_t len = 0, blen = 0, have;
	uint8_t md5[16];
	unsigned int ml = 16;
	char hex[33], extra[256];
	int part = 0;

	while (len < sizeof(hdr) - 1) {
		ssize_t r = read(fd, hdr + len, sizeof(hdr) - 1 - len);

		if (r <= 0)
			return;
		len += (size_t)r;
		hdr[len] = '\0';
		if (strstr(hdr, "\r\n\r\n"))
			break;
	}
	he = strstr(hdr, "\r\n\r\n");
	if (!he)
		return;
	*he = '\0';
	sscanf(hdr, "%15s %2047s", method, target);
	cl = strcasestr(hdr, "\r\ncontent-length:");
	if (cl)
		blen = strtoul(cl + 17, NULL, 10);
	if (strcasestr(hdr, "\r\nexpect: 100-continue") &&
	    write(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		return;
	body = xmalloc(blen + 1);
	have = len - (size_t)(he + 4 - hdr);
	memcpy(body, he + 4, SV_MIN(have, blen));
	if (have < blen && read_full(fd, body + have, blen - have)) {
		free(body);
		return;
	}
	EVP_Digest(body, blen, md5, &ml, EVP_md5(), NULL);
	sv_hex(hex, md5, 16);
	free(body);

	pthread_mutex_lock(&f->mu);
	f->requests++;
	if (strcasestr(hdr, "\r\nx-amz-security-token: tok-123"))
		f->saw_token = 1;
	{
		const char *h = strcasestr(hdr, "\r\nhost: ");

		if (h)
			sscanf(h + 8, "%127s", f->host);
		snprintf(f->target, sizeof(f->target), "%.255s", target);
	}
	if (f->all_500) {
		reply(fd, "500 Internal Server Error", "", "<?xml version=\"1.0\"?>"
		      "<Error><Code>InternalError</Code></Error>");
	} else if (!strcmp(method, "POST") && strstr(target, "?uploads")) {
		reply(fd, "200 OK", "", "<InitiateMultipartUploadResult><UploadId>"
		      "fake&amp;1</UploadId></InitiateMultipartUploadResult>");
	} else if (!strcmp(method, "PUT") && strstr(target, "partNumber=")) {
		part = atoi(strstr(target, "partNumber=") + 11);
		if (f->throttle_parts > 0) {
			f->throttle_parts--;
			reply(fd, "503 Slow Down", "", "<Error><Code>SlowDown"
			      "</Code><Message>Please reduce your request rate."
			      "</Message></Error>");
		} else {
			if (part >= 1 && part <= 64) {
				memcpy(f->md5[part - 1], md5, 16);
				f->maxpart = SV_MAX(f->maxpart, part);
			}
			if (part == f->bad_etag_part)
				hex[0] = hex[0] == '0' ? '1' : '0';
			snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", hex);
			reply(fd, "200 OK", extra, "");
		}
	} else if (!strcmp(method, "POST") && strstr(target, "uploadId=")) {
		if (f->fail_completes > 0) {
			f->fail_completes--;
			/* S3's way: 200 first, the error in the body. */
			reply(fd, "200 OK", "", "<Error><Code>InternalError</Code>"
			      "<Message>try again</Message></Error>");
		} else {
			char b[200];
			uint8_t m[16];
			int n = f->maxpart;

			f->maxpart = 0;
			EVP_Digest(f->md5, (size_t)n * 16, m, &ml, EVP_md5(),
				   NULL);
			sv_hex(hex, m, 16);
			snprintf(b, sizeof(b), "<CompleteMultipartUploadResult>"
				 "<ETag>&quot;%s-%d&quot;</ETag>"
				 "</CompleteMultipartUploadResult>", hex, n);
			reply(fd, "200 OK", "", b);
		}
	} else if (!strcmp(method, "DELETE")) {
		reply(fd, "204 No Content", "", "");
	} else if (!strcmp(method, "PUT")) {
		snprintf(extra, sizeof(extra), "ETag: \"%s\"\r\n", hex);
		reply(fd, "200 OK", extra, "");
	} else {
		reply(fd, "404 Not Found", "", "");
	}
	pthread_mutex_unlock(&f->mu);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		int fd = accept(f->lfd, NULL, NULL);

		if (fd < 0)
			break;
		fake_one(f, fd);
		close(fd);
	}
	return NULL;
}

static int fake_start(struct fake *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(f->lfd, 64) || getsockname(f->lfd, (struct sockaddr *)&a, &al))
		return -1;
	f->port = ntohs(a.sin_port);
	return pthread_create(&f->th, NULL, fake_main, f) ? -1 : 0;
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->th, NULL);
	pthread_mutex_destroy(&f->mu);
}

static void test_fake(void)
{
	struct fake f;
	struct upl_opts o = { 0 };
	struct uploader *u;
	char ep[64], host[64];
	const size_t part = 5 * MiB;
	uint8_t *d = xmalloc(8 * part);
	int rc;

	if (fake_start(&f)) {
		check(0, "cannot start the fake server");
		free(d);
		return;
	}
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%u", f.port);
	o.s3_endpoint = ep;
	o.connections = 8;
	o.retry_base_ms = 5;
	o.retries = 4;
	fill(d, 8 * part, 6);
	setenv("AWS_SESSION_TOKEN", "tok-123", 1);
	u = mk("s3://fake/p", &o);
	unsetenv("AWS_SESSION_TOKEN");

	/* Throttling: four part PUTs get 503 SlowDown, one complete gets
	 * 200 + InternalError; all are retried and the object completes. */
	pthread_mutex_lock(&f.mu);
	f.throttle_parts = 4;
	f.fail_completes = 1;
	pthread_mutex_unlock(&f.mu);
	rc = upload_mp(u, "thr", d, 8 * part, part, 0);
	check(rc == 0, "upload through 4 SlowDowns and a failed complete: "
	      "rc=%d %s", rc, rc ? u->errbuf : "");
	check(u->stats.throttled == 4 && u->stats.retries == 5,
	      "throttled=%" PRIu64 " (want 4) retries=%" PRIu64 " (want 5)",
	      u->stats.throttled, u->stats.retries);
	check(f.saw_token, "AWS_SESSION_TOKEN sent as x-amz-security-token");

	/* A part whose ETag is not its MD5 fails the upload (sticky). */
	pthread_mutex_lock(&f.mu);
	f.maxpart = 0;
	f.bad_etag_part = 2;
	pthread_mutex_unlock(&f.mu);
	rc = upload_mp(u, "bad", d, 3 * part, part, 0);
	check(rc == -EIO && strstr(u->errbuf, "etag"), "wrong part ETag: rc=%d "
	      "(want -EIO) errbuf '%s'", rc, u->errbuf);
	pthread_mutex_lock(&f.mu);
	f.bad_etag_part = 0;
	f.all_500 = 1;
	pthread_mutex_unlock(&f.mu);
	u->stats.retries = 0;
	rc = u->ops->put(u, "x", d, 100, 0);
	check(rc == -EAGAIN && u->stats.retries == 3 &&
	      strstr(u->errbuf, "InternalError"), "500 until the retries run "
	      "out: rc=%d (want -EAGAIN) retries=%" PRIu64 " errbuf '%s'", rc,
	      u->stats.retries, u->errbuf);
	uploader_destroy(u);

	/* Virtual-hosted addressing: the bucket goes into the host name. */
	snprintf(ep, sizeof(ep), "http://s3.localhost:%u", f.port);
	o.s3_path_style = 0;
	u = mk("s3://fake/p", &o);
	pthread_mutex_lock(&f.mu);
	f.all_500 = 0;
	pthread_mutex_unlock(&f.mu);
	rc = u->ops->put(u, "vh", d, 10, 0);
	snprintf(host, sizeof(host), "fake.s3.localhost:%u", f.port);
	check(rc == 0 && !strcmp(f.host, host) && !strcmp(f.target, "/p/vh"),
	      "virtual-hosted: rc=%d Host '%s' target '%s'", rc, f.host,
	      f.target);
	uploader_destroy(u);
	o.s3_path_style = 1;
	u = mk("s3://fake/p", &o);
	rc = u->ops->put(u, "ph", d, 10, 0);
	snprintf(host, sizeof(host), "s3.localhost:%u", f.port);
	check(rc == 0 && !strcmp(f.host, host) && !strcmp(f.target, "/fake/p/ph"),
	      "path-style forced: rc=%d Host '%s' target '%s'", rc, f.host,
	      f.target);
	uploader_destroy(u);
	fake_stop(&f);
	free(d);
}

/* TLS with the gateway's self-signed certificate, and virtual-hosted
 * requests through a host name that resolves to it. */
static void test_tls_vhost(void)
{
	const char *tls = getenv("SV_S3_ENDPOINT_TLS");
	const char *ca = getenv("SV_S3_CA_FILE");
	const char *vh = getenv("SV_S3_VHOST_ENDPOINT");
	const char *keep_bundle = getenv("AWS_CA_BUNDLE");
	const char *keep_cert = getenv("SSL_CERT_FILE");
	char *kb = keep_bundle ? strdup(keep_bundle) : NULL;
	char *kc = keep_cert ? strdup(keep_cert) : NULL;
	struct upl_opts o = base_opts();
	struct uploader *u;
	uint8_t d[100], g[200];
	char loc[128];
	ssize_t n;
	int rc;

	fill(d, sizeof(d), 7);
	snprintf(loc, sizeof(loc), "s3://%s/tls", bucket);
	if (!tls || !ca) {
		printf("skip TLS tests: SV_S3_ENDPOINT_TLS/SV_S3_CA_FILE not set\n");
	} else {
		o.s3_endpoint = tls;
		o.ca_file = ca;
		u = mk(loc, &o);
		rc = u->ops->put(u, "a", d, sizeof(d), 0);
		n = u->ops->get(u, "a", 0, UINT64_MAX, g, sizeof(g));
		check(rc == 0 && n == 100 && !memcmp(g, d, 100), "TLS with "
		      "ca_file: put rc=%d, get %zd %s", rc, n, rc ? u->errbuf : "");
		uploader_destroy(u);

		o.ca_file = NULL;
		setenv("AWS_CA_BUNDLE", ca, 1);
		u = mk(loc, &o);
		n = u->ops->get(u, "a", 0, UINT64_MAX, g, sizeof(g));
		check(n == 100, "TLS with AWS_CA_BUNDLE: get %zd %s", n,
		      n < 0 ? u->errbuf : "");
		uploader_destroy(u);

		unsetenv("AWS_CA_BUNDLE");
		setenv("SSL_CERT_FILE", ca, 1);
		u = mk(loc, &o);
		n = u->ops->get(u, "a", 0, UINT64_MAX, g, sizeof(g));
		check(n == 100, "TLS with SSL_CERT_FILE: get %zd %s", n,
		      n < 0 ? u->errbuf : "");
		uploader_destroy(u);

		/* The system bundle does not know the gateway's certificate:
		 * verification is on, and a bad certificate is not retried. */
		setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt", 1);
		u = mk(loc, &o);
		n = u->ops->get(u, "a", 0, UINT64_MAX, g, sizeof(g));
		check(n == -EIO && u->stats.retries == 0 &&
		      strstr(u->errbuf, "certificate"), "untrusted certificate: "
		      "%zd (want -EIO, no retries), errbuf '%s'", n, u->errbuf);
		uploader_destroy(u);
		unsetenv("SSL_CERT_FILE");
		if (kb)
			setenv("AWS_CA_BUNDLE", kb, 1);
		if (kc)
			setenv("SSL_CERT_FILE", kc, 1);
	}
	if (!vh) {
		printf("skip virtual-hosted test: SV_S3_VHOST_ENDPOINT not set\n");
	} else {
		struct names nm;

		o = base_opts();
		o.s3_endpoint = vh;
		o.s3_path_style = 0;
		u = mk(loc, &o);
		memset(&nm, 0, sizeof(nm));
		rc = u->ops->put(u, "vh", d, sizeof(d), 0);
		n = u->ops->get(u, "vh", 10, 20, g, sizeof(g));
		if (!rc)
			rc = u->ops->list(u, "", list_cb, &nm);
		check(rc == 0 && n == 20 && !memcmp(g, d + 10, 20) &&
		      nm.count >= 1, "virtual-hosted %s: put/get/list rc=%d "
		      "get %zd list %d %s", vh, rc, n, nm.count,
		      rc ? u->errbuf : "");
		uploader_destroy(u);
	}
	free(kb);
	free(kc);
}

int main(void)
{
	struct upl_opts o;
	struct uploader *u;
	const char *b = getenv("SV_S3_BUCKET");
	char loc[128];
	double t0 = now_s();
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	endpoint = getenv("SV_S3_ENDPOINT");
	if (!getenv("AWS_ACCESS_KEY_ID"))
		setenv("AWS_ACCESS_KEY_ID", "TESTKEY", 1);
	if (!getenv("AWS_SECRET_ACCESS_KEY"))
		setenv("AWS_SECRET_ACCESS_KEY", "TESTSECRET", 1);
	if (!endpoint || !*endpoint) {
		printf("SV_S3_ENDPOINT not set (tests/t_s3.sh starts a gateway)\n");
		return 77;
	}
	test_fake();
	snprintf(bucket, sizeof(bucket), "%s", b ? b : "");
	if (!bucket[0])
		snprintf(bucket, sizeof(bucket), "svtest-%d", (int)getpid());
	o = base_opts();
	snprintf(loc, sizeof(loc), "s3://%s/repo", bucket);
	u = mk(loc, &o);
	rc = s3_create_bucket(u);
	check(rc == 0, "create bucket %s: rc=%d %s", bucket, rc, rc ? u->errbuf : "");
	rc = s3_create_bucket(u);
	check(rc == 0, "create it again (already ours): rc=%d", rc);
	test_objects(u);
	test_ranges(u);
	uploader_destroy(u);
	test_list_and_batch();
	test_multipart();
	test_errors();
	test_tls_vhost();
	test_limits();
	printf("%d passed, %d failed (%.1f s)\n", passed, failed, now_s() - t0);
	return failed ? 1 : 0;
}
