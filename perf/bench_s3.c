/*
 * bench_s3.c - upload and download throughput of the S3 backend alone.
 *
 *   bench_s3 s3://bucket/prefix SIZE_MIB [CONNECTIONS [PART_MIB]]
 *
 * Uploads SIZE_MIB of pseudo-random bytes as one multipart object the way
 * the engine does (a pool of CONNECTIONS + 1 part buffers, each filled just
 * before put_part(), reap on BUSY), then reads it back with ranged
 * get_part() calls of PART_MIB, then deletes it. Endpoint and credentials
 * come from SV_S3_ENDPOINT and the AWS_* variables; the bucket is created
 * if needed. Prints one parseable line per direction:
 *   stage=s3_put bytes=... secs=... MBps=... conns=... part_mib=...
 *   inflight_max=... retries=... throttled=...  (on one line)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uploaders/s3.h"
#include "uploaders/uploader.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fill(uint8_t *d, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1, *w = (uint64_t *)d;

	for (size_t i = 0; i < n / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

static void line(const char *stage, uint64_t bytes, double secs,
		 const struct uploader *u, uint64_t part)
{
	printf("stage=%s bytes=%" PRIu64 " secs=%.3f MBps=%.1f conns=%u "
	       "part_mib=%" PRIu64 " inflight_max=%u retries=%" PRIu64
	       " throttled=%" PRIu64 "\n", stage, bytes, secs,
	       (double)bytes / secs / 1e6, u->opts.connections, part >> 20,
	       u->stats.inflight_max, u->stats.retries, u->stats.throttled);
}

int main(int argc, char **argv)
{
	struct upl_opts o = { 0 };
	struct uploader *u = NULL;
	struct upl_write w;
	struct upl_event ev[64];
	uint8_t **bufs = NULL;
	int *busy = NULL;
	uint64_t size, part, off;
	unsigned conns, nbuf;
	char eb[512];
	double t;
	int rc = 1, n;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_s3 s3://bucket/prefix SIZE_MIB "
			"[CONNECTIONS [PART_MIB]]\n");
		return 2;
	}
	size = strtoull(argv[2], NULL, 10) << 20;
	conns = argc > 3 ? (unsigned)atoi(argv[3]) : 8;
	part = (argc > 4 ? strtoull(argv[4], NULL, 10) : 16) << 20;
	o.s3_endpoint = getenv("SV_S3_ENDPOINT");
	o.s3_path_style = -1;
	o.connections = conns;
	o.part_size = part;
	if (uploader_create(&u, argv[1], &o, eb)) {
		fprintf(stderr, "bench_s3: %s\n", eb);
		return 1;
	}
	if (s3_create_bucket(u)) {
		fprintf(stderr, "bench_s3: %s\n", u->errbuf);
		goto out;
	}
	nbuf = conns + 1;
	bufs = calloc(nbuf, sizeof(*bufs));
	busy = calloc(nbuf, sizeof(*busy));
	for (unsigned i = 0; bufs && i < nbuf; i++)
		bufs[i] = malloc(part);
	if (!bufs || !busy || !bufs[nbuf - 1]) {
		fprintf(stderr, "bench_s3: out of memory\n");
		goto out;
	}

	/* Upload: the buffer index travels as the cookie. */
	memset(&w, 0, sizeof(w));
	snprintf(w.name, sizeof(w.name), "bench-object");
	t = now_s();
	if (u->ops->open(u, &w))
		goto fail;
	for (off = 0; off < size;) {
		uint64_t len = size - off < part ? size - off : part;
		unsigned b = 0;

		while (b < nbuf && busy[b])
			b++;
		if (b == nbuf) {
			n = u->ops->reap(u, ev, 64, -1);
			for (int i = 0; i < n; i++) {
				busy[(uintptr_t)ev[i].cookie] = 0;
				if (ev[i].res < 0)
					goto fail;
			}
			continue;
		}
		fill(bufs[b], len, off / part + 1);
		rc = u->ops->put_part(u, &w, bufs[b], len,
				      (void *)(uintptr_t)b);
		if (rc == SV_Q_BUSY) {
			n = u->ops->reap(u, ev, 64, -1);
			for (int i = 0; i < n; i++) {
				busy[(uintptr_t)ev[i].cookie] = 0;
				if (ev[i].res < 0)
					goto fail;
			}
			continue;
		}
		if (rc < 0)
			goto fail;
		busy[b] = 1;
		off += len;
	}
	if (u->ops->complete(u, &w))
		goto fail;
	while ((n = u->ops->reap(u, ev, 64, 0)) > 0)
		for (int i = 0; i < n; i++)
			busy[(uintptr_t)ev[i].cookie] = 0;
	line("s3_put", size, now_s() - t, u, part);

	/* Download in part-sized ranges, conns + 1 buffers in rotation. */
	memset(busy, 0, nbuf * sizeof(*busy));
	u->stats.inflight_max = 0;
	t = now_s();
	for (off = 0; off < size || u->stats.inflight;) {
		unsigned b = 0;

		while (off < size && b < nbuf && busy[b])
			b++;
		if (off < size && b < nbuf) {
			uint64_t len = size - off < part ? size - off : part;

			rc = u->ops->get_part(u, "bench-object", off, len,
					      bufs[b], (void *)(uintptr_t)b);
			if (rc == SV_Q_QUEUED) {
				busy[b] = 1;
				off += len;
				continue;
			}
			if (rc < 0)
				goto fail;
		}
		n = u->ops->reap(u, ev, 64, -1);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			busy[(uintptr_t)ev[i].cookie] = 0;
			if (ev[i].res < 0)
				goto fail;
		}
	}
	line("s3_get", size, now_s() - t, u, part);
	rc = u->ops->remove(u, "bench-object");
	if (rc)
		fprintf(stderr, "bench_s3: %s\n", u->errbuf);
	rc = rc ? 1 : 0;
	goto out;
fail:
	fprintf(stderr, "bench_s3: %s\n", u->errbuf);
	u->ops->abort(u, &w);
	rc = 1;
out:
	for (unsigned i = 0; bufs && i < conns + 1; i++)
		free(bufs[i]);
	free(bufs);
	free(busy);
	uploader_destroy(u);
	return rc;
}
