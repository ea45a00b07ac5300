/*
 * test_writer.c - io/writer: out-of-order writes, the temporary-file
 * protocol, metadata, errors and ENOSPC, with io_uring and with pwrite().
 *
 * Every write gets its own heap buffer that the done callback frees, so a
 * writer that touched a buffer after done (or never called done) shows up
 * under AddressSanitizer or in the callback counts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/writer.h"

static int failures, checks;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		checks++;                                                    \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

#define TMP_SUFFIX ".sstvault-tmp"

static char g_dir[64];

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void gen(uint64_t seed, uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(splitmix(seed + i / 8) >> (8 * (i % 8)));
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Whole content of path into a new buffer; *len receives its size. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *p;
	int fd;

	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	p = malloc((size_t)st.st_size + 1);
	if (p && read(fd, p, (size_t)st.st_size) != (ssize_t)st.st_size) {
		free(p);
		p = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

static void tmp_path(char *out, size_t n, const char *path)
{
	snprintf(out, n, "%s%s", path, TMP_SUFFIX);
}

/* One queued write: its buffer is freed by the callback. */
struct wr {
	struct writer *w;
	int h;
	uint64_t off;
	size_t len;
	uint8_t *buf;
	int res;
	int called;
	struct ctx *ctx;
};

struct ctx {
	struct wr *wr;
	size_t n;
	size_t next;	/* chain mode: next write to queue from a callback */
	int chain;
	size_t ncalled;
};

static void on_done(void *cookie, int res)
{
	struct wr *x = cookie;
	struct ctx *c = x->ctx;
	int ret;

	x->called++;
	x->res = res;
	c->ncalled++;
	/* The buffer is ours again: free it. ASan catches a writer that
	 * reads it after this. */
	free(x->buf);
	x->buf = NULL;
	/* Chain mode: a callback queues the next write (re-entrancy). */
	if (c->chain && c->next < c->n) {
		struct wr *y = &c->wr[c->next++];

		ret = writer_write(y->w, y->h, y->off, y->buf, y->len, on_done,
				   y);
		CHECK(ret == 0, "writer_write from a callback: %d", ret);
	}
}

/*
 * Cut [0, size) into pieces of random length, in random order, queue
 * them (or, in chain mode, queue a few and let callbacks queue the rest),
 * close, and compare the file with the source.
 */
static void test_out_of_order(const char *mode, unsigned flags,
			      uint32_t depth, size_t size, int chain,
			      uint64_t seed, uint32_t max_io)
{
	struct writer_opts o = { .depth = depth, .flags = flags,
				 .max_io = max_io };
	struct writer *w = NULL;
	struct ctx c = { 0 };
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	uint8_t *src = malloc(size + 1), *got = NULL;
	size_t off = 0, glen = 0, cap = 16;
	uint64_t rnd = seed;
	struct stat st;
	int h, ret;
	const int64_t mtime = 1234567890123456789ll;

	snprintf(path, sizeof(path), "%s/ooo_%s_%u_%d_%u", g_dir, mode, depth,
		 chain, max_io);
	tmp_path(tmp, sizeof(tmp), path);
	gen(seed, src, size);
	c.chain = chain;
	c.wr = malloc(cap * sizeof(*c.wr));
	while (off < size) {
		size_t len = 1 + (size_t)((rnd = splitmix(rnd)) % 70000);

		if (len > size - off)
			len = size - off;
		if (c.n == cap) {
			cap *= 2;
			c.wr = realloc(c.wr, cap * sizeof(*c.wr));
		}
		c.wr[c.n] = (struct wr){ .off = off, .len = len, .ctx = &c };
		c.wr[c.n].buf = malloc(len);
		memcpy(c.wr[c.n].buf, src + off, len);
		c.n++;
		off += len;
	}
	for (size_t i = c.n - 1; i > 0; i--) {
		size_t j = (size_t)((rnd = splitmix(rnd)) % (i + 1));
		struct wr t = c.wr[i];

		c.wr[i] = c.wr[j];
		c.wr[j] = t;
	}
	ret = writer_create(&w, &o);
	CHECK(ret == 0, "%s: writer_create %d", mode, ret);
	if (ret)
		goto out;
	h = writer_open(w, path, size, 0);
	CHECK(h >= 0, "%s: writer_open %d", mode, h);
	if (h < 0)
		goto out;
	for (size_t i = 0; i < c.n; i++) {
		c.wr[i].w = w;
		c.wr[i].h = h;
	}
	c.next = chain ? SV_MIN(c.n, (size_t)3) : c.n;
	for (size_t i = 0; i < (chain ? SV_MIN(c.n, (size_t)3) : c.n); i++) {
		ret = writer_write(w, h, c.wr[i].off, c.wr[i].buf, c.wr[i].len,
				   on_done, &c.wr[i]);
		CHECK(ret == 0, "%s: writer_write %d", mode, ret);
	}
	/* Before close: the file exists only under the temporary name,
	 * with mode 0600. */
	CHECK(!exists(path), "%s: final name visible before close", mode);
	CHECK(stat(tmp, &st) == 0 && (st.st_mode & 07777) == 0600,
	      "%s: temporary missing or not 0600 before close", mode);
	CHECK(stat(tmp, &st) == 0 && (uint64_t)st.st_size == size,
	      "%s: temporary not preallocated to %zu bytes", mode, size);
	ret = writer_close(w, h, 1, 0640, mtime);
	CHECK(ret == 0, "%s: writer_close %d", mode, ret);
	CHECK(c.ncalled == c.n, "%s: %zu callbacks for %zu writes", mode,
	      c.ncalled, c.n);
	for (size_t i = 0; i < c.n; i++)
		CHECK(c.wr[i].called == 1 && c.wr[i].res == (int)c.wr[i].len,
		      "%s: write %zu: called %d times, res %d, len %zu", mode,
		      i, c.wr[i].called, c.wr[i].res, c.wr[i].len);
	got = slurp(path, &glen);
	CHECK(got && glen == size && memcmp(got, src, size) == 0,
	      "%s: file content differs (%zu bytes, expected %zu)", mode,
	      glen, size);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640,
	      "%s: mode %o, expected 0640", mode, st.st_mode & 07777);
	CHECK(st.st_mtim.tv_sec == mtime / 1000000000 &&
	      st.st_mtim.tv_nsec == mtime % 1000000000,
	      "%s: mtime %lld.%09ld, expected %lld.%09lld", mode,
	      (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	      (long long)(mtime / 1000000000),
	      (long long)(mtime % 1000000000));
	CHECK(!exists(tmp), "%s: temporary left after close", mode);
	printf("%-40s %zu writes of %zu bytes, depth %u: ok (%s)\n",
	       chain ? "out-of-order, queued from callbacks" :
	       max_io ? "out-of-order, 4103-byte pieces" : "out-of-order",
	       c.n, size, depth, writer_mode(w));
out:
	writer_destroy(w);
	for (size_t i = 0; i < c.n; i++)
		free(c.wr[i].buf);
	free(c.wr);
	free(src);
	free(got);
	unlink(path);
}

static void nop_done(void *cookie, int res)
{
	int *p = cookie;

	*p = res;
}

/* Small cases: empty file, abort, -EEXIST, overwrite, stale temporary,
 * a final name that appears during the restore, pre-1970 mtime. */
static void test_protocol(const char *mode, unsigned flags)
{
	struct writer_opts o = { .depth = 4, .flags = flags };
	struct writer *w = NULL;
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	uint8_t data[5000], *got;
	struct stat st;
	size_t glen;
	int h, ret, res = 1;
	int fds = count_fds();

	gen(42, data, sizeof(data));
	ret = writer_create(&w, &o);
	CHECK(ret == 0, "%s: writer_create %d", mode, ret);
	if (ret)
		return;

	/* Empty file. */
	snprintf(path, sizeof(path), "%s/empty_%s", g_dir, mode);
	h = writer_open(w, path, 0, 0);
	CHECK(h >= 0, "%s: open empty: %d", mode, h);
	ret = writer_write(w, h, 0, NULL, 0, nop_done, &res);
	CHECK(ret == 0, "%s: zero-length write: %d", mode, ret);
	ret = writer_close(w, h, 1, 0600, 0);
	CHECK(ret == 0 && res == 0, "%s: close empty: %d, done res %d", mode,
	      ret, res);
	CHECK(stat(path, &st) == 0 && st.st_size == 0 &&
	      st.st_mtim.tv_sec == 0 && st.st_mtim.tv_nsec == 0,
	      "%s: empty file missing, not empty or wrong mtime", mode);
	tmp_path(tmp, sizeof(tmp), path);
	CHECK(!exists(tmp), "%s: empty: temporary left", mode);

	/* Existing final name: -EEXIST without overwrite, and untouched. */
	h = writer_open(w, path, 10, 0);
	CHECK(h == -EEXIST, "%s: open over an existing file: %d, expected"
	      " -EEXIST", mode, h);
	CHECK(!exists(tmp), "%s: -EEXIST left a temporary", mode);
	/* With overwrite it is replaced. */
	h = writer_open(w, path, sizeof(data), 1);
	CHECK(h >= 0, "%s: open with overwrite: %d", mode, h);
	res = 1;
	ret = writer_write(w, h, 0, data, sizeof(data), nop_done, &res);
	CHECK(ret == 0, "%s: write: %d", mode, ret);
	ret = writer_close(w, h, 1, 0755, -1234567891ll);
	CHECK(ret == 0 && res == (int)sizeof(data),
	      "%s: close overwrite: %d, res %d", mode, ret, res);
	got = slurp(path, &glen);
	CHECK(got && glen == sizeof(data) && !memcmp(got, data, glen),
	      "%s: overwritten content differs", mode);
	free(got);
	/* Pre-1970 time: floor division, tv_nsec stays positive. */
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0755 &&
	      st.st_mtim.tv_sec == -2 && st.st_mtim.tv_nsec == 765432109,
	      "%s: mode %o mtime %lld.%09ld, expected 0755 -2.765432109", mode,
	      st.st_mode & 07777, (long long)st.st_mtim.tv_sec,
	      st.st_mtim.tv_nsec);
	unlink(path);

	/* ok == 0 leaves nothing, and reports no error. */
	snprintf(path, sizeof(path), "%s/aborted_%s", g_dir, mode);
	tmp_path(tmp, sizeof(tmp), path);
	h = writer_open(w, path, sizeof(data), 0);
	CHECK(h >= 0, "%s: open: %d", mode, h);
	ret = writer_write(w, h, 0, data, sizeof(data), nop_done, &res);
	CHECK(ret == 0, "%s: write: %d", mode, ret);
	CHECK(exists(tmp), "%s: no temporary while writing", mode);
	ret = writer_close(w, h, 0, 0644, 0);
	CHECK(ret == 0, "%s: close(ok=0): %d", mode, ret);
	CHECK(!exists(path) && !exists(tmp), "%s: ok=0 left a file", mode);
	/* The handle is gone. */
	ret = writer_close(w, h, 1, 0644, 0);
	CHECK(ret == -EBADF, "%s: second close: %d, expected -EBADF", mode,
	      ret);
	ret = writer_write(w, 12345, 0, data, 1, nop_done, &res);
	CHECK(ret == -EBADF, "%s: write to a bad handle: %d", mode, ret);

	/* A stale temporary from a crashed run is replaced. */
	snprintf(path, sizeof(path), "%s/stale_%s", g_dir, mode);
	tmp_path(tmp, sizeof(tmp), path);
	ret = open(tmp, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (ret >= 0) {
		if (write(ret, "junk junk junk junk", 19) != 19)
			perror(tmp);
		close(ret);
	}
	h = writer_open(w, path, 100, 0);
	CHECK(h >= 0, "%s: open over a stale temporary: %d", mode, h);
	ret = writer_write(w, h, 0, data, 100, nop_done, &res);
	CHECK(ret == 0, "%s: write: %d", mode, ret);
	ret = writer_close(w, h, 1, 0644, 0);
	got = slurp(path, &glen);
	CHECK(ret == 0 && got && glen == 100 && !memcmp(got, data, 100),
	      "%s: stale temporary: close %d, %zu bytes", mode, ret, glen);
	free(got);
	unlink(path);

	/* The final name appears while we restore: no overwrite means the
	 * other file wins, and our temporary goes away. */
	snprintf(path, sizeof(path), "%s/race_%s", g_dir, mode);
	tmp_path(tmp, sizeof(tmp), path);
	h = writer_open(w, path, 100, 0);
	CHECK(h >= 0, "%s: open: %d", mode, h);
	ret = writer_write(w, h, 0, data, 100, nop_done, &res);
	CHECK(ret == 0, "%s: write: %d", mode, ret);
	ret = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (ret >= 0)
		close(ret);
	ret = writer_close(w, h, 1, 0644, 0);
	CHECK(ret == -EEXIST, "%s: close when the name appeared: %d, expected"
	      " -EEXIST", mode, ret);
	CHECK(stat(path, &st) == 0 && st.st_size == 0 && !exists(tmp),
	      "%s: the other file was replaced, or a temporary is left", mode);
	unlink(path);

	/* A directory in the way. */
	h = writer_open(w, g_dir, 1, 1);
	CHECK(h == -EISDIR, "%s: open of a directory: %d", mode, h);

	/* destroy with an open file: the temporary is unlinked. */
	snprintf(path, sizeof(path), "%s/destroyed_%s", g_dir, mode);
	tmp_path(tmp, sizeof(tmp), path);
	h = writer_open(w, path, 100, 0);
	res = 1;
	ret = writer_write(w, h, 0, data, 100, nop_done, &res);
	CHECK(h >= 0 && ret == 0, "%s: open/write: %d %d", mode, h, ret);
	writer_destroy(w);
	CHECK(res == 100, "%s: destroy did not deliver the last write (%d)",
	      mode, res);
	CHECK(!exists(path) && !exists(tmp), "%s: destroy left a file", mode);
	CHECK(count_fds() == fds, "%s: %d descriptors after destroy, %d "
	      "before", mode, count_fds(), fds);
	printf("%-40s ok (%s)\n", "protocol: empty/EEXIST/abort/stale/race",
	       mode);
}

/* Several files at once, writes interleaved, closed in another order. */
static void test_many(const char *mode, unsigned flags)
{
	enum { NF = 12, PIECE = 3000, NP = 7 };
	struct writer_opts o = { .depth = 5, .flags = flags };
	struct writer *w = NULL;
	char path[NF][PATH_MAX];
	uint8_t src[NF][PIECE * NP], *got;
	int h[NF], res[NF][NP], ret;
	size_t glen;

	ret = writer_create(&w, &o);
	CHECK(ret == 0, "%s: writer_create %d", mode, ret);
	if (ret)
		return;
	for (int f = 0; f < NF; f++) {
		snprintf(path[f], sizeof(path[f]), "%s/many_%s_%d", g_dir,
			 mode, f);
		gen(1000 + (uint64_t)f, src[f], sizeof(src[f]));
		h[f] = writer_open(w, path[f], sizeof(src[f]), 0);
		CHECK(h[f] >= 0, "%s: open %d: %d", mode, f, h[f]);
	}
	for (int p = NP - 1; p >= 0; p--)
		for (int f = 0; f < NF; f++) {
			res[f][p] = 1;
			ret = writer_write(w, h[f], (uint64_t)p * PIECE,
					   src[f] + p * PIECE, PIECE, nop_done,
					   &res[f][p]);
			CHECK(ret == 0, "%s: write: %d", mode, ret);
		}
	for (int f = NF - 1; f >= 0; f--) {
		ret = writer_close(w, h[f], 1, 0600, 0);
		CHECK(ret == 0, "%s: close %d: %d", mode, f, ret);
		for (int p = 0; p < NP; p++)
			CHECK(res[f][p] == PIECE, "%s: file %d piece %d res %d",
			      mode, f, p, res[f][p]);
		got = slurp(path[f], &glen);
		CHECK(got && glen == sizeof(src[f]) &&
		      !memcmp(got, src[f], glen), "%s: file %d differs", mode,
		      f);
		free(got);
		unlink(path[f]);
	}
	/* Handles are reused after close. */
	ret = writer_open(w, path[0], 0, 0);
	CHECK(ret >= 0 && ret < NF, "%s: handle not reused: %d", mode, ret);
	if (ret >= 0)
		CHECK(writer_close(w, ret, 0, 0, 0) == 0, "%s: close", mode);
	writer_destroy(w);
	printf("%-40s ok (%s)\n", "12 files interleaved, depth 5", mode);
}

/* Count the failed writes of the ENOSPC case. */
static void enospc_done(void *cookie, int res)
{
	int *nerr = cookie;

	if (res == -ENOSPC)
		(*nerr)++;
	else if (res < 0)
		*nerr += 1000;	/* any other error fails the check */
}

/*
 * A 1 MiB tmpfs: preallocating 2 MiB fails at open, and writing 2 MiB into
 * a file opened without preallocation fails in the writes and the close.
 * Either way nothing is left. Needs root to mount; skipped otherwise.
 */
static void test_enospc(const char *mode, unsigned flags)
{
	struct writer_opts o = { .depth = 8, .flags = flags };
	struct writer *w = NULL;
	char mnt[PATH_MAX], path[PATH_MAX + 8], tmp[PATH_MAX + 32];
	static uint8_t data[2u << 20];
	int h, ret, nerr = 0;

	snprintf(mnt, sizeof(mnt), "%s/tmpfs_%s", g_dir, mode);
	if (mkdir(mnt, 0755) < 0 ||
	    mount("sv_test", mnt, "tmpfs", 0, "size=1m") < 0) {
		printf("%-40s skipped: cannot mount tmpfs (%s)\n", "ENOSPC",
		       strerror(errno));
		rmdir(mnt);
		return;
	}
	snprintf(path, sizeof(path), "%s/f", mnt);
	tmp_path(tmp, sizeof(tmp), path);
	gen(7, data, sizeof(data));
	ret = writer_create(&w, &o);
	CHECK(ret == 0, "%s: writer_create %d", mode, ret);
	if (ret)
		goto out;

	h = writer_open(w, path, sizeof(data), 0);
	CHECK(h == -ENOSPC, "%s: open with 2 MiB preallocation on a 1 MiB "
	      "tmpfs: %d, expected -ENOSPC", mode, h);
	CHECK(!exists(path) && !exists(tmp), "%s: ENOSPC at open left a file",
	      mode);
	if (h >= 0 && writer_close(w, h, 0, 0, 0) < 0)
		fprintf(stderr, "%s: close after an unexpected open\n", mode);

	h = writer_open(w, path, 0, 0);
	CHECK(h >= 0, "%s: open without preallocation: %d", mode, h);
	if (h < 0)
		goto out;
	for (size_t off = 0; off < sizeof(data); off += 65536) {
		ret = writer_write(w, h, off, data + off, 65536, enospc_done,
				   &nerr);
		CHECK(ret == 0, "%s: writer_write: %d", mode, ret);
	}
	ret = writer_close(w, h, 1, 0644, 0);
	CHECK(ret == -ENOSPC, "%s: close after writing 2 MiB into 1 MiB: %d,"
	      " expected -ENOSPC", mode, ret);
	CHECK(nerr > 0 && nerr < 1000, "%s: %d writes failed with ENOSPC "
	      "(>= 1000: another error)", mode, nerr);
	CHECK(!exists(path) && !exists(tmp), "%s: ENOSPC in writes left a "
	      "file", mode);
	printf("%-40s ok (%d of 32 writes failed) (%s)\n",
	       "ENOSPC on a 1 MiB tmpfs", nerr, mode);
out:
	writer_destroy(w);
	if (umount(mnt) < 0)
		perror(mnt);
	rmdir(mnt);
}

/*
 * RWF_DONTCACHE on a file system that refuses it (tmpfs has no
 * FOP_DONTCACHE): the writer drops the flag after the first refusal,
 * re-issues the refused write and says so in its mode; every byte lands.
 * On ext4 (g_dir) the flag is kept. Needs root to mount.
 */
static void test_dontcache(void)
{
	struct writer_opts o = { .depth = 4, .flags = WRITER_F_DONTCACHE |
						   WRITER_F_NO_FSYNC };
	struct writer *w = NULL;
	char mnt[PATH_MAX], path[PATH_MAX + 8], mode[200];
	static uint8_t data[1u << 20];
	uint8_t *got = NULL;
	size_t glen = 0;
	int h, ret, nerr = 0;

	snprintf(mnt, sizeof(mnt), "%s/tmpfs_dontcache", g_dir);
	if (mkdir(mnt, 0755) < 0 ||
	    mount("sv_test", mnt, "tmpfs", 0, "size=8m") < 0) {
		printf("%-40s skipped: cannot mount tmpfs (%s)\n",
		       "RWF_DONTCACHE refused", strerror(errno));
		rmdir(mnt);
		return;
	}
	snprintf(path, sizeof(path), "%s/f", mnt);
	gen(9, data, sizeof(data));
	ret = writer_create(&w, &o);
	CHECK(ret == 0, "dontcache: writer_create %d", ret);
	if (ret)
		goto out;
	snprintf(mode, sizeof(mode), "%s", writer_mode(w));
	h = writer_open(w, path, sizeof(data), 0);
	CHECK(h >= 0, "dontcache: open %d", h);
	if (h < 0)
		goto out;
	/* Back to front, so the refused write is not the first piece. */
	for (size_t off = sizeof(data); off > 0; off -= 65536) {
		ret = writer_write(w, h, off - 65536, data + off - 65536,
				   65536, enospc_done, &nerr);
		CHECK(ret == 0, "dontcache: writer_write: %d", ret);
	}
	ret = writer_close(w, h, 1, 0644, 0);
	CHECK(ret == 0 && nerr == 0, "dontcache: close %d, %d writes failed",
	      ret, nerr);
	got = slurp(path, &glen);
	CHECK(got && glen == sizeof(data) && !memcmp(got, data, glen),
	      "dontcache: content differs on tmpfs");
	if (strstr(mode, "RWF_DONTCACHE"))
		CHECK(!strstr(writer_mode(w), "RWF_DONTCACHE"),
		      "dontcache: tmpfs accepted RWF_DONTCACHE? mode '%s' "
		      "(expected the page-cache fallback)", writer_mode(w));
	printf("%-40s ok (%s, then %s)\n", "RWF_DONTCACHE refused by tmpfs",
	       mode, writer_mode(w));
out:
	free(got);
	writer_destroy(w);
	unlink(path);
	if (umount(mnt) < 0)
		perror(mnt);
	rmdir(mnt);
}

static void test_env(void)
{
	struct writer *w = NULL;
	int ret;

	setenv("SSTVAULT_NO_URING", "1", 1);
	ret = writer_create(&w, NULL);
	unsetenv("SSTVAULT_NO_URING");
	CHECK(ret == 0 && strstr(writer_mode(w), "pwrite") &&
	      strstr(writer_mode(w), "SSTVAULT_NO_URING"),
	      "env: mode \"%s\"", w ? writer_mode(w) : "");
	printf("%-40s mode: %s\n", "SSTVAULT_NO_URING=1",
	       w ? writer_mode(w) : "-");
	writer_destroy(w);
	w = NULL;
	ret = writer_create(&w, &(struct writer_opts){ .depth = 100000 });
	CHECK(ret == -EINVAL && !w, "opts: depth 100000 gave %d", ret);
}

/*
 * io_uring forbidden as a seccomp profile does it (EPERM from
 * io_uring_setup, in a child): the writer falls back by itself, says why,
 * and restores a file correctly.
 */
static void test_seccomp(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = SV_ARRAY_SIZE(f), .filter = f };
	char path[PATH_MAX];
	int status = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/seccomp", g_dir);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct writer *w = NULL;
		uint8_t data[10000], *got;
		size_t glen;
		int h, res = 1, bad = 0;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
			printf("%-40s skipped: no seccomp (%s)\n", "seccomp",
			       strerror(errno));
			_exit(77);
		}
		gen(99, data, sizeof(data));
		if (writer_create(&w, NULL) != 0)
			_exit(1);
		h = writer_open(w, path, sizeof(data), 0);
		bad |= h < 0;
		bad |= writer_write(w, h, 5000, data + 5000, 5000, nop_done,
				    &res) != 0;
		bad |= writer_write(w, h, 0, data, 5000, nop_done, &res) != 0;
		bad |= writer_close(w, h, 1, 0644, 0) != 0;
		got = slurp(path, &glen);
		bad |= !got || glen != sizeof(data) ||
		       memcmp(got, data, glen) != 0;
		free(got);
		printf("%-40s mode: %s\n", "seccomp io_uring=EPERM",
		       writer_mode(w));
		bad |= strstr(writer_mode(w), "pwrite (io_uring unavailable: "
			      "Operation not permitted)") != writer_mode(w);
		writer_destroy(w);
		fflush(stdout);
		_exit(bad);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) &&
	      (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77),
	      "seccomp: the fallback failed without io_uring (status %d)",
	      status);
	unlink(path);
}

int main(void)
{
	static const struct {
		const char *name;
		unsigned flags;
	} modes[] = {
		{ "uring", 0 },
		{ "uring-nofsync", WRITER_F_NO_FSYNC },
		{ "uring-dontcache", WRITER_F_DONTCACHE },
		{ "pwrite", WRITER_F_NO_URING },
		{ "pwrite-nofsync", WRITER_F_NO_URING | WRITER_F_NO_FSYNC },
	};
	char cmd[128];
	int fds;

	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(g_dir, sizeof(g_dir), "/tmp/sv_test_writer_XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	fds = count_fds();
	for (size_t m = 0; m < SV_ARRAY_SIZE(modes); m++) {
		const char *n = modes[m].name;
		unsigned f = modes[m].flags;

		printf("== %s\n", n);
		test_out_of_order(n, f, 32, (1u << 20) + 12345, 0, 1 + m, 0);
		test_out_of_order(n, f, 1, 300000, 0, 11 + m, 0);
		test_out_of_order(n, f, 2, 700001, 1, 21 + m, 0);
		test_out_of_order(n, f, 0, 1, 0, 31 + m, 0);
		/* Writes continued piece by piece, as short writes are. */
		test_out_of_order(n, f, 8, 500000, 0, 41 + m, 4103);
		test_protocol(n, f);
		test_many(n, f);
		if (!(f & WRITER_F_NO_FSYNC))
			test_enospc(n, f);
	}
	test_dontcache();
	test_env();
	test_seccomp();
	CHECK(count_fds() == fds, "%d descriptors at the end, %d at start",
	      count_fds(), fds);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
	printf("%d checks, %d failed\n", checks, failures);
	if (failures) {
		printf("test_writer: FAILED\n");
		return 1;
	}
	printf("test_writer: all passed\n");
	return 0;
}
