/*
 * test_local.c - the local store (uploaders/local.c): direct, asynchronous
 * pack writes and ranged reads, the syncer thread, and their ordering.
 *
 * Asserted: every object reads back byte for byte whatever the part sizes
 * and buffer alignments (aligned O_DIRECT parts, an unaligned tail, parts
 * that are not aligned at all, parts smaller than a block); a QUEUED part
 * or range comes back through reap() exactly once with its byte count;
 * SV_Q_BUSY is returned instead of queueing without bound; a completed
 * object is visible, whole, by the next operation (stat, get, list); an
 * abort leaves nothing behind; a failure of the syncer (rename refused) is
 * returned by the next operation and by every later one; ranged reads past
 * the end of an object are short, not errors; and all of it also works
 * without io_uring and on tmpfs (no O_DIRECT before 6.6).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uploaders/uploader.h"

static int fails, checks;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		checks++;                                                  \
		if (!(cond)) {                                             \
			fails++;                                           \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

#define MAXQ 256

/* Cookies handed out and not yet reaped: a cookie is &slot[i]. */
struct tracker {
	int out[MAXQ];
	int n;
	int dup;          /* a cookie came back twice or was never sent */
	ssize_t res[MAXQ];
};

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static int reap_some(struct uploader *u, struct tracker *t, int timeout)
{
	struct upl_event ev[16];
	int n = u->ops->reap(u, ev, 16, timeout);

	for (int i = 0; i < n; i++) {
		int k = (int)((int *)ev[i].cookie - t->out);

		if (k < 0 || k >= MAXQ || t->out[k] != 1) {
			t->dup = 1;
			continue;
		}
		t->out[k] = 0;
		t->res[k] = ev[i].res;
		t->n--;
	}
	return n;
}

static void reap_all(struct uploader *u, struct tracker *t)
{
	for (int idle = 0; t->n > 0 && idle < 50;) {
		int n = reap_some(u, t, 100);

		idle = n > 0 ? 0 : idle + 1;
	}
}

/*
 * Write obj as parts of the given sizes from buf (+ shift bytes, to make
 * the buffer unaligned), complete it, and check it reads back. Return the
 * number of parts that were queued.
 */
static int write_obj(struct uploader *u, const char *name, const uint8_t *src,
		     const size_t *sizes, int nparts, int reuse_check)
{
	struct upl_write w = { 0 };
	struct tracker t = { 0 };
	uint64_t off = 0, size = 0;
	int queued = 0, ret;

	snprintf(w.name, sizeof(w.name), "%s", name);
	ret = u->ops->open(u, &w);
	CHECK(ret == 0, "%s: open = %d (%s)", name, ret, u->errbuf);
	if (ret)
		return 0;
	for (int i = 0; i < nparts; i++) {
		for (;;) {
			t.out[i] = 1;
			ret = u->ops->put_part(u, &w, src + off, sizes[i],
					       &t.out[i]);
			if (ret != SV_Q_BUSY)
				break;
			t.out[i] = 0;
			reap_some(u, &t, -1);
		}
		CHECK(ret == SV_Q_DONE || ret == SV_Q_QUEUED,
		      "%s: put_part %d = %d (%s)", name, i, ret, u->errbuf);
		if (ret == SV_Q_QUEUED) {
			t.n++;
			queued++;
		} else {
			t.out[i] = 0;
			t.res[i] = (ssize_t)sizes[i];
		}
		off += sizes[i];
	}
	ret = u->ops->complete(u, &w);
	CHECK(ret == 0, "%s: complete = %d (%s)", name, ret, u->errbuf);
	reap_all(u, &t);
	CHECK(t.n == 0 && !t.dup, "%s: %d part(s) never reaped, dup %d", name,
	      t.n, t.dup);
	for (int i = 0; i < nparts; i++)
		CHECK(t.res[i] == (ssize_t)sizes[i],
		      "%s: part %d result %zd, want %zu", name, i, t.res[i],
		      sizes[i]);
	ret = u->ops->stat(u, name, &size);
	CHECK(ret == 0 && size == off, "%s: stat = %d, size %llu, want %llu",
	      name, ret, (unsigned long long)size, (unsigned long long)off);
	if (reuse_check) {
		uint8_t *back = malloc(off ? off : 1);
		ssize_t n = u->ops->get(u, name, 0, UINT64_MAX, back, off);

		CHECK(n == (ssize_t)off && !memcmp(back, src, off),
		      "%s: read back %zd bytes, %s", name, n,
		      n == (ssize_t)off ? "different" : "short");
		free(back);
	}
	return queued;
}

static int count_dir(const char *path)
{
	char cmd[600];
	FILE *f;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' 2>/dev/null | wc -l", path);
	f = popen(cmd, "r");
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		pclose(f);
	}
	return n;
}

static void test_store(const char *root, const char *what)
{
	size_t big = 8u << 20;
	uint8_t *src = aligned_alloc(4096, 4 * big + 8192), *dst;
	struct uploader *u = NULL;
	struct upl_opts o = { 0 };
	struct tracker t = { 0 };
	char errbuf[512], tmpdir[600];
	int ret, queued;

	printf("%s: %s\n", what, root);
	fill(src, 4 * big + 8192, 7);
	ret = uploader_create(&u, root, &o, errbuf);
	CHECK(ret == 0, "%s: uploader_create = %d (%s)", what, ret, errbuf);
	if (ret) {
		free(src);
		return;
	}
	CHECK(u->opts.part_size > 0, "%s: no default part size", what);

	/* Aligned parts and an unaligned tail (a pack's usual shape). */
	{
		size_t s[] = { big, big, big, 12345 };

		queued = write_obj(u, "data/aa/one", src, s, 4, 1);
		printf("  aligned parts + tail: %d of 4 queued\n", queued);
	}
	/* Parts whose buffer is not aligned: written at once. */
	{
		size_t s[] = { big, big, 999 };

		write_obj(u, "data/aa/two", src + 1, s, 3, 1);
	}
	/* Part sizes that are not block multiples: every part after the
	 * first starts unaligned, and tails chain. */
	{
		size_t s[] = { 100000, 100000, 4096, 1, 7000, 65536 };

		write_obj(u, "data/aa/three", src, s, 6, 1);
	}
	/* Parts smaller than a block, and an empty object. */
	{
		size_t s[] = { 10, 20, 30 };

		write_obj(u, "data/aa/four", src, s, 3, 1);
		write_obj(u, "data/aa/empty", src, s, 0, 1);
	}
	/* Many parts without reaping: BUSY, never an unbounded queue. */
	{
		struct upl_write w = { 0 };
		int busy = 0, i;

		snprintf(w.name, sizeof(w.name), "data/aa/many");
		ret = u->ops->open(u, &w);
		CHECK(ret == 0, "%s: open many = %d", what, ret);
		for (i = 0; i < MAXQ && !busy && !ret; i++) {
			t.out[i] = 1;
			ret = u->ops->put_part(u, &w, src, 65536, &t.out[i]);
			if (ret == SV_Q_QUEUED)
				t.n++;
			else
				t.out[i] = 0;
			busy = ret == SV_Q_BUSY;
			if (ret >= 0)
				ret = 0;
		}
		printf("  %d parts queued before BUSY (%s)\n", t.n,
		       busy ? "busy" : "never busy: synchronous");
		CHECK(ret == 0, "%s: put_part many = %d", what, ret);
		CHECK(busy || t.n == 0, "%s: %d parts queued and never BUSY",
		      what, t.n);
		/* Abort with parts in flight: every cookie still comes
		 * back, and nothing is left in tmp/ or under the name. */
		ret = u->ops->abort(u, &w);
		CHECK(ret == 0, "%s: abort = %d", what, ret);
		reap_all(u, &t);
		CHECK(t.n == 0 && !t.dup, "%s: after abort %d part(s) not "
		      "reaped, dup %d", what, t.n, t.dup);
		snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", root);
		CHECK(count_dir(tmpdir) == 0, "%s: %d file(s) left in tmp/",
		      what, count_dir(tmpdir));
		{
			uint64_t size;

			ret = u->ops->stat(u, "data/aa/many", &size);
			CHECK(ret == -ENOENT, "%s: aborted object: stat = %d",
			      what, ret);
		}
	}
	/* Ranged reads: aligned (direct), unaligned, and past the end. */
	{
		size_t len = 3 * big + 12345;
		uint8_t *buf = aligned_alloc(4096, big + 8192);
		struct {
			uint64_t off, len, want;
		} rg[] = {
			{ 0, big, big },
			{ 4096, 65536, 65536 },
			{ 1, 5000, 5000 },
			{ big + 3, 123457, 123457 },
			{ len - 8192, 16384, 8192 },
			{ (len & ~(uint64_t)4095), 8192, len & 4095 },
		};

		dst = buf;
		for (size_t i = 0; i < sizeof(rg) / sizeof(rg[0]); i++) {
			struct tracker tr = { 0 };
			ssize_t got;

			memset(dst, 0xee, big + 8192);
			tr.out[0] = 1;
			ret = u->ops->get_part(u, "data/aa/one", rg[i].off,
					       rg[i].len, dst, &tr.out[0]);
			CHECK(ret == SV_Q_QUEUED || ret == SV_Q_DONE ||
			      (ret == -ENODATA && rg[i].want < rg[i].len),
			      "%s: get_part %zu = %d (%s)", what, i, ret,
			      u->errbuf);
			if (ret == SV_Q_QUEUED) {
				tr.n = 1;
				reap_all(u, &tr);
				got = tr.res[0];
				CHECK(tr.n == 0, "%s: range %zu never reaped",
				      what, i);
			} else if (ret == SV_Q_DONE) {
				got = (ssize_t)rg[i].len;
			} else {
				continue;   /* synchronous: short is -ENODATA */
			}
			CHECK(got == (ssize_t)rg[i].want &&
			      !memcmp(dst, src + rg[i].off, rg[i].want),
			      "%s: range %zu (%llu+%llu): %zd bytes, want %llu",
			      what, i, (unsigned long long)rg[i].off,
			      (unsigned long long)rg[i].len, got,
			      (unsigned long long)rg[i].want);
		}
		free(buf);
	}
	/* A failure of the syncer: the directory a pack goes to cannot be
	 * created (a file is in the way), so the rename fails after
	 * complete() returned. The next operation says so, and every
	 * later one. */
	{
		char block[700];
		size_t s[] = { big, 5000 };
		struct upl_write w = { 0 };
		uint64_t size;
		int fd;

		snprintf(block, sizeof(block), "%s/data/zz", root);
		fd = open(block, O_CREAT | O_WRONLY, 0600);
		CHECK(fd >= 0, "%s: cannot create %s", what, block);
		if (fd >= 0)
			close(fd);
		snprintf(w.name, sizeof(w.name), "data/zz/blocked");
		ret = u->ops->open(u, &w);
		if (!ret) {
			t.n = 0;
			t.out[0] = t.out[1] = 1;
			ret = u->ops->put_part(u, &w, src, s[0], &t.out[0]);
			t.n += ret == SV_Q_QUEUED;
			ret = u->ops->put_part(u, &w, src + s[0], s[1],
					       &t.out[1]);
			t.n += ret == SV_Q_QUEUED;
			ret = u->ops->complete(u, &w);
			if (ret)
				(void)u->ops->abort(u, &w);
			reap_all(u, &t);
			if (ret == 0) {
				ret = u->ops->stat(u, "data/aa/one", &size);
				CHECK(ret == -ENOTDIR || ret == -EEXIST ||
				      ret < 0, "%s: stat after a failed "
				      "background rename = %d", what, ret);
				ret = u->ops->put(u, "x", "y", 1, 0);
				CHECK(ret < 0, "%s: later put = %d, want the "
				      "sticky error", what, ret);
				printf("  background failure reported: %s\n",
				       u->errbuf);
			} else {
				/* Synchronous store: complete() itself
				 * failed, which is as good. */
				printf("  complete failed at once: %s\n",
				       u->errbuf);
			}
		}
	}
	uploader_destroy(u);
	free(src);
}

int main(void)
{
	char dir[] = "/tmp/sv_test_local_XXXXXX";
	char dir2[] = "/tmp/sv_test_local_XXXXXX";
	char shm[] = "/dev/shm/sv_test_local_XXXXXX";
	char cmd[200];

	if (!mkdtemp(dir)) {
		printf("cannot create a temporary directory\n");
		return 1;
	}
	test_store(dir, "local (io_uring)");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fails++;
	if (!mkdtemp(dir2))
		return 1;
	setenv("SSTVAULT_NO_URING", "1", 1);
	test_store(dir2, "local (no io_uring)");
	unsetenv("SSTVAULT_NO_URING");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir2);
	if (system(cmd))
		fails++;
	if (mkdtemp(shm)) {
		test_store(shm, "local on tmpfs");
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", shm);
		if (system(cmd))
			fails++;
	}
	printf("%d checks, %d failed\n", checks, fails);
	if (fails)
		return 1;
	printf("test_local: all passed\n");
	return 0;
}
