/*
 * bench_read.c - throughput of the read stage (io/reader) alone.
 *
 *   bench_read DIR [--bufs N] [--buf-size KiB] [--no-uring] [--spare-cache]
 *                  [--no-dontcache] [--no-direct]
 *
 * Reads every regular file under DIR (recursively, not following symbolic
 * links) in directory-walk order through one reader, releasing each buffer
 * at once, and prints one parseable line:
 *
 *   stage=read bytes=N secs=S MBps=M files=F errors=E mode="..."
 *
 * MBps is 10^6 bytes per second. Files whose buffers carry an error are
 * counted in errors= (the bytes read before the error still count). Drop
 * the page cache first (echo 3 > /proc/sys/vm/drop_caches) for a cold run.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/reader.h"

static struct reader *g_r;
static uint64_t g_files;
static int g_err;
/* Where the consumer's loads go, so the compiler keeps them. */
static volatile uint64_t g_sink;

static int on_entry(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	int64_t mt;
	int ret;

	(void)ftw;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	mt = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	ret = reader_add(g_r, path, (uint64_t)st->st_size, mt, NULL);
	if (ret < 0) {
		g_err = ret;
		return 1;
	}
	g_files++;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_read DIR [--bufs N] [--buf-size KiB] "
		"[--no-uring] [--spare-cache] [--no-dontcache] "
		"[--no-direct]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct reader_opts o = { .buf_size = 1u << 20, .nbufs = 16 };
	const char *dir = NULL;
	uint64_t bytes = 0, errors = 0;
	double t0, secs;
	struct rbuf *b;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bufs") && i + 1 < argc)
			o.nbufs = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--buf-size") && i + 1 < argc)
			o.buf_size = (uint32_t)strtoul(argv[++i], NULL, 10) *
				     1024;
		else if (!strcmp(argv[i], "--no-uring"))
			o.flags |= READER_F_NO_URING;
		else if (!strcmp(argv[i], "--spare-cache"))
			o.flags |= READER_F_SPARE_CACHE;
		else if (!strcmp(argv[i], "--no-dontcache"))
			o.flags |= READER_F_NO_DONTCACHE;
		else if (!strcmp(argv[i], "--no-direct"))
			o.flags |= READER_F_NO_DIRECT;
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else
			return usage();
	}
	if (!dir || o.nbufs == 0 || o.buf_size == 0)
		return usage();
	ret = reader_create(&g_r, &o);
	if (ret < 0) {
		fprintf(stderr, "cannot create reader: %s\n", strerror(-ret));
		return 1;
	}
	/* The walk is not timed: the engine scans before it reads. */
	if (nftw(dir, on_entry, 64, FTW_PHYS) != 0 || g_err) {
		fprintf(stderr, "cannot walk %s: %s\n", dir,
			strerror(g_err ? -g_err : errno));
		reader_destroy(g_r);
		return 1;
	}
	t0 = now();
	while ((ret = reader_next(g_r, &b)) == 0) {
		bytes += b->len;
		if (b->err)
			errors++;
		/* Touch the data, as a consumer would. */
		if (b->len)
			g_sink += b->data[b->len - 1];
		reader_release(g_r, b);
	}
	secs = now() - t0;
	if (ret < 0) {
		fprintf(stderr, "reader failed: %s\n", strerror(-ret));
		reader_destroy(g_r);
		return 1;
	}
	printf("stage=read bytes=%llu secs=%.3f MBps=%.1f files=%llu "
	       "errors=%llu bufs=%u buf_size=%u mode=\"%s\"\n",
	       (unsigned long long)bytes, secs,
	       secs > 0 ? (double)bytes / secs / 1e6 : 0.0,
	       (unsigned long long)g_files, (unsigned long long)errors,
	       o.nbufs, o.buf_size, reader_mode(g_r));
	reader_destroy(g_r);
	return 0;
}
