/*
 * test_reader.c - io/reader: ordering, content, errors, change detection
 * and page-cache sparing, in every IO mode.
 *
 * A set of files with pseudo-random content (a function of a per-file seed
 * and the offset, so any byte can be recomputed) is read through readers
 * with several pool shapes and every mode: io_uring with and without
 * page-cache sparing (RWF_DONTCACHE, O_DIRECT, fadvise) and the pread()
 * fallback. The consumer checks strict (file, offset) order, full buffers
 * before the last, the exact bytes and a per-file hash, the error of each
 * broken file, and it holds several buffers for a while before checking
 * and poisoning them, so a reader that reused a held buffer, or delivered
 * one it had not filled, fails.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/reader.h"

#define TMPFS_MAGIC_ 0x01021994
#define NSMALL 500
#define BIG_SIZE (3u << 20)
#define CACHE_FILE_SIZE (8u << 20)

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

enum kind {
	K_OK,		/* read as is */
	K_MISSING,	/* path never existed: -ENOENT */
	K_DELETED,	/* unlinked after reader_add: -ENOENT */
	K_DIR,		/* a directory: -EISDIR */
	K_REWRITTEN,	/* same size, new content and mtime after add */
	K_TRUNCATED,	/* shrunk after add: EOF early */
	K_GROWN,	/* appended to after add */
	K_TOUCHED,	/* mtime changed after its first buffer arrived */
	K_UNREADABLE,	/* mode 000, when not root: -EACCES */
};

struct tfile {
	char path[PATH_MAX];
	uint64_t size;
	int64_t mtime_ns;
	uint64_t seed;
	uint64_t hash;		/* FNV-1a of the expected content */
	int kind;
	int expect_err;
};

static char g_dir[64];
static struct tfile *g_files;
static size_t g_nfiles;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Content of file seed at [off, off+len): byte pos is byte pos % 8 of
 * splitmix(seed', pos / 8), so any range can be recomputed. */
static void gen(uint64_t seed, uint64_t off, uint8_t *p, size_t len)
{
	uint64_t base = seed * 0x100000001b3ull;
	size_t i = 0;

	while (i < len) {
		uint64_t pos = off + i;
		uint64_t v = splitmix(base + pos / 8);

		for (unsigned k = (unsigned)(pos % 8); k < 8 && i < len; k++)
			p[i++] = (uint8_t)(v >> (8 * k));
	}
}

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

static int64_t mtime_of(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* Write size bytes of seed's content to path; fills t. Exits on error:
 * the fixture itself failing is not a reader bug. */
static void make_file(struct tfile *t, const char *path, uint64_t size,
		      uint64_t seed)
{
	uint8_t buf[65536];
	uint64_t off = 0;
	int fd;

	if (path != t->path)
		snprintf(t->path, sizeof(t->path), "%s", path);
	t->size = size;
	t->seed = seed;
	t->hash = FNV_INIT;
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	while (off < size) {
		size_t n = (size_t)SV_MIN((uint64_t)sizeof(buf), size - off);

		gen(seed, off, buf, n);
		t->hash = fnv(t->hash, buf, n);
		if (write(fd, buf, n) != (ssize_t)n) {
			perror(path);
			exit(1);
		}
		off += n;
	}
	close(fd);
	t->mtime_ns = mtime_of(path);
}

static struct tfile *add_file(void)
{
	struct tfile *t;

	g_files = realloc(g_files, (g_nfiles + 1) * sizeof(*g_files));
	if (!g_files)
		exit(1);
	t = &g_files[g_nfiles++];
	memset(t, 0, sizeof(*t));
	return t;
}

static uint64_t g_seed = 1;

static void add_regular(const char *name, uint64_t size)
{
	struct tfile *t = add_file();
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	make_file(t, path, size, g_seed++);
	t->kind = K_OK;
}

static void add_special(const char *name, int kind, int expect_err)
{
	struct tfile *t = add_file();

	snprintf(t->path, sizeof(t->path), "%s/%s", g_dir, name);
	t->kind = kind;
	t->expect_err = expect_err;
	t->seed = g_seed++;
}

/*
 * The file list, with the troublesome cases spread between the small
 * files so that they are read while other files are in flight.
 */
static void build_set(void)
{
	static const uint32_t bss[] = { 4096, 10000, 65536, 1u << 20 };
	char name[64], path[PATH_MAX];

	add_regular("empty", 0);
	add_regular("one", 1);
	for (size_t i = 0; i < SV_ARRAY_SIZE(bss); i++) {
		snprintf(name, sizeof(name), "bs_%u", bss[i]);
		add_regular(name, bss[i]);
		snprintf(name, sizeof(name), "bs_%u_plus1", bss[i]);
		add_regular(name, bss[i] + 1);
	}
	add_special("missing", K_MISSING, -ENOENT);
	add_regular("big", BIG_SIZE);
	add_special("subdir", K_DIR, -EISDIR);
	add_regular("aligned_12k", 3 * 4096);
	add_regular("tail_12k_123", 3 * 4096 + 123);
	add_regular("odd_1m_4097", (1u << 20) + 4097);
	for (int i = 0; i < NSMALL; i++) {
		snprintf(name, sizeof(name), "small_%03d", i);
		add_regular(name, splitmix((uint64_t)i) % 9000);
		if (i == 100)
			add_special("rewritten", K_REWRITTEN, -ESTALE);
		if (i == 200)
			add_special("deleted", K_DELETED, -ENOENT);
		if (i == 300)
			add_special("truncated", K_TRUNCATED, -ESTALE);
		if (i == 400)
			add_special("grown", K_GROWN, -ESTALE);
		if (i == 450)
			add_special("touched", K_TOUCHED, -ESTALE);
		/* Root reads a mode-000 file anyway (CAP_DAC_OVERRIDE);
		 * the missing path and the directory stand in for it. */
		if (i == 460 && geteuid() != 0)
			add_special("unreadable", K_UNREADABLE, -EACCES);
	}
	snprintf(path, sizeof(path), "%s/subdir", g_dir);
	if (mkdir(path, 0755) < 0) {
		perror(path);
		exit(1);
	}
}

/* Files that must change between reader_add() and the read are created
 * afresh for every run, before the add. */
static void prepare_special(struct tfile *t)
{
	switch ((enum kind)t->kind) {
	case K_REWRITTEN:
	case K_DELETED:
	case K_GROWN:
		make_file(t, t->path, 200000, t->seed);
		break;
	case K_TOUCHED:
		/* More than one buffer in every pool shape. */
		make_file(t, t->path, (5u << 19) + 5, t->seed);
		break;
	case K_TRUNCATED:
		make_file(t, t->path, 300000, t->seed);
		break;
	case K_UNREADABLE:
		unlink(t->path);	/* mode 000 from the previous run */
		make_file(t, t->path, 1000, t->seed);
		if (chmod(t->path, 0) < 0)
			perror(t->path);
		break;
	case K_OK:
	case K_MISSING:
	case K_DIR:
		break;
	}
}

static void set_mtime(const char *path, int64_t ns)
{
	struct timespec ts[2];

	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)(ns / 1000000000);
	ts[1].tv_nsec = (long)(ns % 1000000000);
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		perror(path);
}

/* After reader_add(), before the first read. */
static void change_special(struct tfile *t)
{
	struct tfile tmp;
	int fd;

	switch ((enum kind)t->kind) {
	case K_REWRITTEN:
		/* Same size, other bytes; a distinct mtime on purpose
		 * (timestamps can be coarser than the test is fast). */
		make_file(&tmp, t->path, t->size, t->seed + 1000);
		set_mtime(t->path, t->mtime_ns + 1000000000);
		break;
	case K_DELETED:
		unlink(t->path);
		break;
	case K_TRUNCATED:
		if (truncate(t->path, (off_t)(t->size / 2)) < 0)
			perror(t->path);
		break;
	case K_GROWN:
		fd = open(t->path, O_WRONLY | O_APPEND);
		if (fd < 0 || write(fd, "more", 4) != 4)
			perror(t->path);
		if (fd >= 0)
			close(fd);
		set_mtime(t->path, t->mtime_ns);
		break;
	case K_OK:
	case K_MISSING:
	case K_DIR:
	case K_TOUCHED:
	case K_UNREADABLE:
		break;
	}
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
	return n - 1;	/* the DIR's own descriptor */
}

/* A held buffer and what it was when delivered: if the reader reused it
 * meanwhile, both the bytes and the header would change together, so the
 * copy is what the check trusts. */
struct held {
	struct rbuf *b;
	struct rbuf at;
};

/* Consumer state for one run. */
struct run {
	struct reader *r;
	const char *name;
	uint32_t buf_size;
	uint32_t hold;		/* buffers held before checking them */
	int count_fds;		/* check the open-file cap */
	int base_fds;
	int max_fds;
	size_t cur;		/* file expected next */
	uint64_t next_off;	/* offset expected next in it */
	uint64_t *hash;		/* running hash per file, in release order */
	struct held *held;	/* FIFO of held buffers */
	uint32_t hhead, hcount;
	size_t nbufs, nbytes;
};

/* Check a buffer's bytes now (after it was held), then poison and
 * release it. */
static void check_release(struct run *ru, struct held *h)
{
	struct rbuf *b = h->b;
	const struct tfile *t = &g_files[h->at.file];
	static uint8_t exp[1u << 20];

	CHECK(b->file == h->at.file && b->off == h->at.off &&
	      b->len == h->at.len && b->last == h->at.last &&
	      b->data == h->at.data,
	      "%s: %s: buffer header changed while the consumer held it",
	      ru->name, t->path);
	if (b->data != h->at.data || b->len != h->at.len)
		return;
	/* From here on only the copy taken at delivery is trusted. */
	b = &h->at;
	if (t->kind == K_OK && b->err == 0 && b->len <= sizeof(exp)) {
		gen(t->seed, b->off, exp, b->len);
		CHECK(memcmp(exp, b->data, b->len) == 0,
		      "%s: %s: bytes at %llu+%u differ from the file",
		      ru->name, t->path, (unsigned long long)b->off, b->len);
		ru->hash[b->file] = fnv(ru->hash[b->file], b->data, b->len);
		if (b->last)
			CHECK(ru->hash[b->file] == t->hash,
			      "%s: %s: content hash %016llx, expected %016llx",
			      ru->name, t->path,
			      (unsigned long long)ru->hash[b->file],
			      (unsigned long long)t->hash);
	}
	b = h->b;
	memset(b->data, 0x5a, b->len);
	reader_release(ru->r, b);
}

/* Checks made when a buffer is delivered: order, sizes, errors. */
static void check_delivery(struct run *ru, struct rbuf *b)
{
	const struct tfile *t;

	CHECK(b->file == ru->cur, "%s: got file %u, expected file %zu",
	      ru->name, b->file, ru->cur);
	if (b->file != ru->cur || ru->cur >= g_nfiles)
		return;
	t = &g_files[ru->cur];
	CHECK(b->cookie == t, "%s: %s: wrong cookie", ru->name, t->path);
	CHECK(b->off == ru->next_off, "%s: %s: offset %llu, expected %llu",
	      ru->name, t->path, (unsigned long long)b->off,
	      (unsigned long long)ru->next_off);
	CHECK(b->len <= ru->buf_size, "%s: %s: len %u > buf_size %u",
	      ru->name, t->path, b->len, ru->buf_size);
	if (!b->last)
		CHECK(b->len == ru->buf_size && b->err == 0,
		      "%s: %s: non-last buffer len %u err %d", ru->name,
		      t->path, b->len, b->err);
	if (b->last) {
		CHECK(b->err == t->expect_err,
		      "%s: %s: last buffer err %d, expected %d", ru->name,
		      t->path, b->err, t->expect_err);
		if (t->kind == K_OK)
			CHECK(b->off + b->len == t->size,
			      "%s: %s: ended at %llu, size %llu", ru->name,
			      t->path, (unsigned long long)(b->off + b->len),
			      (unsigned long long)t->size);
		if (t->kind == K_MISSING || t->kind == K_DELETED ||
		    t->kind == K_DIR || t->kind == K_UNREADABLE)
			CHECK(b->off == 0 && b->len == 0,
			      "%s: %s: error buffer off %llu len %u", ru->name,
			      t->path, (unsigned long long)b->off, b->len);
		ru->cur++;
		ru->next_off = 0;
	} else {
		ru->next_off += b->len;
	}
	if (t->kind == K_OK && b->len == 0)
		CHECK(t->size == 0 && b->last, "%s: %s: empty buffer",
		      ru->name, t->path);
	/* The file may change while we read it: the last buffer must see
	 * it, even if every read of the file is already done, since the
	 * check runs when the last buffer is delivered. */
	if (t->kind == K_TOUCHED && b->off == 0 && !b->last)
		set_mtime(t->path, t->mtime_ns + 2000000000);
}

static void run_one(const char *name, const struct reader_opts *o,
		    uint32_t hold, int count)
{
	struct run ru;
	struct rbuf *b;
	int ret;

	memset(&ru, 0, sizeof(ru));
	ru.name = name;
	ru.buf_size = o ? (o->buf_size ? o->buf_size : 1u << 20) : 1u << 20;
	ru.hold = hold;
	ru.count_fds = count;
	ru.hash = calloc(g_nfiles, sizeof(*ru.hash));
	ru.held = calloc(hold + 1, sizeof(*ru.held));
	if (!ru.hash || !ru.held)
		exit(1);
	for (size_t i = 0; i < g_nfiles; i++) {
		ru.hash[i] = FNV_INIT;
		prepare_special(&g_files[i]);
	}
	ru.base_fds = count_fds();
	ret = reader_create(&ru.r, o);
	CHECK(ret == 0, "%s: reader_create: %d", name, ret);
	if (ret)
		goto out;
	for (size_t i = 0; i < g_nfiles; i++) {
		struct tfile *t = &g_files[i];

		ret = reader_add(ru.r, t->path, t->size, t->mtime_ns, t);
		CHECK(ret == (int)i, "%s: reader_add returned %d, expected %zu",
		      name, ret, i);
	}
	for (size_t i = 0; i < g_nfiles; i++)
		change_special(&g_files[i]);

	while ((ret = reader_next(ru.r, &b)) == 0) {
		check_delivery(&ru, b);
		ru.nbufs++;
		ru.nbytes += b->len;
		if (ru.count_fds) {
			int n = count_fds() - ru.base_fds;

			if (n > ru.max_fds)
				ru.max_fds = n;
		}
		/* Hold: the oldest held buffer is checked only after
		 * `hold` newer ones arrived (and reads ran into other
		 * buffers meanwhile). */
		ru.held[(ru.hhead + ru.hcount) % (hold + 1)].b = b;
		ru.held[(ru.hhead + ru.hcount) % (hold + 1)].at = *b;
		ru.hcount++;
		if (ru.hcount > hold) {
			check_release(&ru, &ru.held[ru.hhead]);
			ru.hhead = (ru.hhead + 1) % (hold + 1);
			ru.hcount--;
			/* Let early completions pile up out of order now
			 * and then. */
			if (ru.nbufs % 97 == 0)
				usleep(2000);
		}
	}
	CHECK(ret == 1, "%s: reader_next ended with %d, expected 1", name, ret);
	while (ru.hcount > 0) {
		check_release(&ru, &ru.held[ru.hhead]);
		ru.hhead = (ru.hhead + 1) % (hold + 1);
		ru.hcount--;
	}
	CHECK(ru.cur == g_nfiles, "%s: %zu files delivered, expected %zu",
	      name, ru.cur, g_nfiles);
	ret = reader_next(ru.r, &b);
	CHECK(ret == 1, "%s: reader_next after the end: %d", name, ret);
	printf("%-28s %6zu buffers %9zu bytes  mode: %s\n", name, ru.nbufs,
	       ru.nbytes, reader_mode(ru.r));
	if (o && (o->flags & READER_F_NO_URING))
		CHECK(strncmp(reader_mode(ru.r), "pread (io_uring unavailable",
			      27) == 0,
		      "%s: mode \"%s\" should be the pread fallback", name,
		      reader_mode(ru.r));
	/* The mode names the page-cache method the flags asked for (or a
	 * weaker one the kernel or file system left us). */
	if (o && !(o->flags & READER_F_SPARE_CACHE))
		CHECK(strstr(reader_mode(ru.r), "page cache") != NULL,
		      "%s: mode \"%s\" should keep the page cache", name,
		      reader_mode(ru.r));
	if (!o || (o->flags & READER_F_SPARE_CACHE))
		CHECK(strstr(reader_mode(ru.r), "page cache") == NULL,
		      "%s: mode \"%s\" should spare the page cache", name,
		      reader_mode(ru.r));
	if (o && (o->flags & READER_F_NO_DONTCACHE))
		CHECK(strstr(reader_mode(ru.r), "RWF_DONTCACHE") == NULL,
		      "%s: mode \"%s\" despite READER_F_NO_DONTCACHE", name,
		      reader_mode(ru.r));
	if (o && (o->flags & READER_F_NO_DIRECT))
		CHECK(strstr(reader_mode(ru.r), "O_DIRECT") == NULL,
		      "%s: mode \"%s\" despite READER_F_NO_DIRECT", name,
		      reader_mode(ru.r));
	if (ru.count_fds) {
		printf("%-28s at most %d descriptors open\n", name, ru.max_fds);
		/* The cap is 64 files (two descriptors each in O_DIRECT
		 * mode), plus the ring's own descriptor. This pool would
		 * keep more than 100 small files open without the cap, so
		 * the cap must also be reached. */
		int direct = (o->flags & READER_F_SPARE_CACHE) &&
			     (o->flags & READER_F_NO_DONTCACHE) &&
			     !(o->flags & READER_F_NO_DIRECT);
		int cap = direct ? 129 : 65;

		CHECK(ru.max_fds >= 60 && ru.max_fds <= cap,
		      "%s: %d descriptors open at once, expected 60..%d",
		      name, ru.max_fds, cap);
	}
out:
	reader_destroy(ru.r);
	CHECK(count_fds() == ru.base_fds,
	      "%s: %d descriptors after destroy, %d before", name,
	      count_fds(), ru.base_fds);
	free(ru.hash);
	free(ru.held);
}

/* The consumer may not hold the whole pool: -ENOBUFS, and the reader
 * carries on once a buffer comes back. */
static void test_enobufs(void)
{
	struct reader_opts o = { .buf_size = 4096, .nbufs = 2 };
	struct reader *r = NULL;
	struct rbuf *a = NULL, *b = NULL, *c = NULL;
	size_t n = 0;
	int ret;

	ret = reader_create(&r, &o);
	CHECK(ret == 0, "enobufs: reader_create %d", ret);
	if (ret)
		return;
	for (size_t i = 0; i < g_nfiles; i++)
		if (g_files[i].kind == K_OK && g_files[i].size == 65537)
			ret = reader_add(r, g_files[i].path, g_files[i].size,
					 g_files[i].mtime_ns, NULL);
	CHECK(reader_next(r, &a) == 0 && reader_next(r, &b) == 0,
	      "enobufs: first two buffers");
	ret = reader_next(r, &c);
	CHECK(ret == -ENOBUFS, "enobufs: third buffer with the pool held: %d,"
	      " expected -ENOBUFS", ret);
	reader_release(r, a);
	reader_release(r, a);	/* double release is ignored */
	reader_release(r, NULL);
	n = 2;
	while ((ret = reader_next(r, &c)) == 0) {
		n++;
		reader_release(r, c);
	}
	reader_release(r, b);
	CHECK(ret == 1 && n == 17, "enobufs: %zu buffers then %d, expected 17"
	      " then 1", n, ret);
	reader_destroy(r);
	printf("%-28s ok\n", "enobufs");
}

/* SSTVAULT_NO_URING forces the fallback and the mode says so. */
static void test_env(void)
{
	struct reader *r = NULL;
	int ret;

	setenv("SSTVAULT_NO_URING", "1", 1);
	ret = reader_create(&r, NULL);
	unsetenv("SSTVAULT_NO_URING");
	CHECK(ret == 0, "env: reader_create %d", ret);
	if (ret)
		return;
	CHECK(strstr(reader_mode(r), "pread") &&
	      strstr(reader_mode(r), "SSTVAULT_NO_URING"),
	      "env: mode \"%s\" should name SSTVAULT_NO_URING", reader_mode(r));
	printf("%-28s mode: %s\n", "SSTVAULT_NO_URING=1", reader_mode(r));
	reader_destroy(r);
	ret = reader_create(&r, &(struct reader_opts){ .nbufs = 5000 });
	CHECK(ret == -EINVAL, "opts: nbufs 5000 gave %d, expected -EINVAL",
	      ret);
	reader_destroy(r);
}

/*
 * A real "no io_uring" environment, as a container's seccomp profile makes
 * it: in a child, io_uring_setup() fails with ENOSYS. The reader must fall
 * back by itself, say why, and still deliver the right bytes.
 */
static void test_seccomp(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = SV_ARRAY_SIZE(f), .filter = f };
	const struct tfile *t = NULL;
	int status = 0;
	pid_t pid;

	for (size_t i = 0; i < g_nfiles; i++)
		if (g_files[i].kind == K_OK && g_files[i].size == BIG_SIZE)
			t = &g_files[i];
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct reader *r = NULL;
		struct rbuf *b;
		uint64_t h = FNV_INIT;
		int ret, bad = 0;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
			printf("%-28s skipped: no seccomp (%s)\n", "seccomp",
			       strerror(errno));
			_exit(77);
		}
		if (reader_create(&r, NULL) != 0 ||
		    reader_add(r, t->path, t->size, t->mtime_ns, NULL) != 0)
			_exit(1);
		while ((ret = reader_next(r, &b)) == 0) {
			bad |= b->err != 0;
			h = fnv(h, b->data, b->len);
			reader_release(r, b);
		}
		printf("%-28s mode: %s\n", "seccomp io_uring=ENOSYS",
		       reader_mode(r));
		bad |= ret != 1 || h != t->hash;
		bad |= strstr(reader_mode(r), "pread (io_uring unavailable: "
			      "Function not implemented)") != reader_mode(r);
		reader_destroy(r);
		fflush(stdout);
		_exit(bad);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	      WIFEXITED(status) &&
	      (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77),
	      "seccomp: the fallback failed without io_uring (status %d)",
	      status);
}

/*
 * The fallbacks at run time: on tmpfs (/dev/shm) uncached reads are
 * refused with EOPNOTSUPP after the reads were submitted. The reads in
 * flight must be retried, the reader must move on to the next method, and
 * the bytes and order must not suffer.
 */
static void test_runtime_fallback(void)
{
	static const unsigned flags[] = {
		READER_F_SPARE_CACHE,
		READER_F_SPARE_CACHE | READER_F_NO_URING,
		READER_F_SPARE_CACHE | READER_F_NO_DIRECT,
	};
	enum { NF = 20 };
	struct tfile t[NF];
	char dir[64], path[PATH_MAX];
	struct statfs sfs;
	struct iovec iov;
	uint8_t probe[16];
	int refused = 0, fd;

	snprintf(dir, sizeof(dir), "/dev/shm/sv_test_reader_XXXXXX");
	if (statfs("/dev/shm", &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_ ||
	    !mkdtemp(dir)) {
		printf("%-28s skipped: no tmpfs at /dev/shm\n", "fallback");
		return;
	}
	for (int i = 0; i < NF; i++) {
		snprintf(path, sizeof(path), "%s/f%02d", dir, i);
		make_file(&t[i], path, 150001 + (uint64_t)i * 4096, 500 + i);
	}
	/* Does this kernel refuse RWF_DONTCACHE on tmpfs? */
	fd = open(t[0].path, O_RDONLY | O_CLOEXEC);
	iov.iov_base = probe;
	iov.iov_len = sizeof(probe);
	if (fd >= 0 && preadv2(fd, &iov, 1, 0, 0x80) < 0 &&
	    (errno == EOPNOTSUPP || errno == EINVAL))
		refused = 1;
	if (fd >= 0)
		close(fd);
	for (size_t m = 0; m < SV_ARRAY_SIZE(flags); m++) {
		struct reader_opts o = { .buf_size = 65536, .nbufs = 8,
					 .flags = flags[m] };
		struct reader *r = NULL;
		struct rbuf *b;
		uint64_t h = FNV_INIT, off = 0;
		uint32_t cur = 0;
		int ret, bad = 0;

		if (reader_create(&r, &o) != 0) {
			CHECK(0, "fallback: reader_create");
			continue;
		}
		for (int i = 0; i < NF; i++)
			if (reader_add(r, t[i].path, t[i].size, t[i].mtime_ns,
				       NULL) != i)
				bad = 1;
		while ((ret = reader_next(r, &b)) == 0) {
			uint8_t exp[65536];

			bad |= b->file != cur || b->off != off || b->err != 0;
			if (b->file < NF && b->len <= sizeof(exp)) {
				gen(t[b->file].seed, b->off, exp, b->len);
				bad |= memcmp(exp, b->data, b->len) != 0;
			}
			h = fnv(h, b->data, b->len);
			off += b->len;
			if (b->last) {
				bad |= h != t[cur].hash;
				h = FNV_INIT;
				off = 0;
				cur++;
			}
			reader_release(r, b);
		}
		CHECK(!bad && ret == 1 && cur == NF, "fallback: flags %#x: "
		      "wrong order, bytes or errors (ret %d, %u files)",
		      flags[m], ret, cur);
		printf("%-28s flags %#x mode: %s\n", "tmpfs (no DONTCACHE)",
		       flags[m], reader_mode(r));
		if (refused)
			CHECK(!strstr(reader_mode(r), "RWF_DONTCACHE"),
			      "fallback: mode \"%s\" after EOPNOTSUPP",
			      reader_mode(r));
		reader_destroy(r);
	}
	for (int i = 0; i < NF; i++)
		unlink(t[i].path);
	rmdir(dir);
}

/* Fraction (per mille) of path's pages in the page cache. */
static int resident_permille(const char *path)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n, in = 0;
	unsigned char *vec;
	struct stat st;
	void *m;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0)
		return -1;
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return -1;
	n = ((size_t)st.st_size + pg - 1) / pg;
	vec = malloc(n);
	if (vec && mincore(m, (size_t)st.st_size, vec) == 0)
		for (size_t i = 0; i < n; i++)
			in += vec[i] & 1;
	free(vec);
	munmap(m, (size_t)st.st_size);
	return (int)(in * 1000 / n);
}

static void evict(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/*
 * Read one 8 MiB file in each sparing mode, starting from an evicted
 * page cache, and check that it does not stay cached (and that it does
 * without sparing, which shows the measurement means something).
 */
static void test_cache(void)
{
	static const struct {
		const char *name;
		unsigned flags;
	} modes[] = {
		{ "cache: default", 0 },
		{ "cache: spare", READER_F_SPARE_CACHE },
		{ "cache: spare no-dontcache",
		  READER_F_SPARE_CACHE | READER_F_NO_DONTCACHE },
		{ "cache: spare fadvise", READER_F_SPARE_CACHE |
		  READER_F_NO_DONTCACHE | READER_F_NO_DIRECT },
		{ "cache: pread spare",
		  READER_F_SPARE_CACHE | READER_F_NO_URING },
		{ "cache: pread fadvise", READER_F_SPARE_CACHE |
		  READER_F_NO_URING | READER_F_NO_DONTCACHE |
		  READER_F_NO_DIRECT },
	};
	struct tfile t;
	struct statfs sfs;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/cachefile", g_dir);
	make_file(&t, path, CACHE_FILE_SIZE, 777);
	if (statfs(g_dir, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC_) {
		printf("cache checks skipped: %s is on tmpfs\n", g_dir);
		return;
	}
	for (size_t m = 0; m < SV_ARRAY_SIZE(modes); m++) {
		struct reader_opts o = { .buf_size = 1u << 20, .nbufs = 4,
					 .flags = modes[m].flags };
		struct reader *r = NULL;
		struct rbuf *b;
		uint64_t h = FNV_INIT;
		int before, after, ret;

		evict(path);
		before = resident_permille(path);
		if (reader_create(&r, &o) != 0 ||
		    reader_add(r, path, t.size, t.mtime_ns, NULL) != 0) {
			CHECK(0, "%s: setup failed", modes[m].name);
			reader_destroy(r);
			continue;
		}
		while ((ret = reader_next(r, &b)) == 0) {
			CHECK(b->err == 0, "%s: err %d", modes[m].name, b->err);
			h = fnv(h, b->data, b->len);
			reader_release(r, b);
		}
		CHECK(ret == 1 && h == t.hash, "%s: content", modes[m].name);
		after = resident_permille(path);
		printf("%-28s resident before %3d.%d%% after %5.1f%%  "
		       "mode: %s\n",
		       modes[m].name, before / 10, before % 10, after / 10.0,
		       reader_mode(r));
		if (before > 100) {
			printf("%-28s eviction did not work here; not judged\n",
			       modes[m].name);
		} else if (modes[m].flags & READER_F_SPARE_CACHE) {
			CHECK(after <= 100, "%s: %.1f%% of the file left in "
			      "page cache (mode %s)", modes[m].name,
			      after / 10.0, reader_mode(r));
		} else {
			CHECK(after >= 900, "%s: only %.1f%% cached after a "
			      "plain read", modes[m].name, after / 10.0);
		}
		reader_destroy(r);
	}
	unlink(path);
}

static void rm_tree(void)
{
	char cmd[PATH_MAX + 16];

	if (strncmp(g_dir, "/tmp/", 5) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
}

int main(void)
{
	static const struct {
		const char *name;
		unsigned flags;
	} modes[] = {
		{ "uring", 0 },
		{ "uring spare", READER_F_SPARE_CACHE },
		{ "uring spare/direct",
		  READER_F_SPARE_CACHE | READER_F_NO_DONTCACHE },
		{ "uring spare/fadvise", READER_F_SPARE_CACHE |
		  READER_F_NO_DONTCACHE | READER_F_NO_DIRECT },
		{ "pread", READER_F_NO_URING },
		{ "pread spare", READER_F_NO_URING | READER_F_SPARE_CACHE },
		{ "pread spare/direct", READER_F_NO_URING |
		  READER_F_SPARE_CACHE | READER_F_NO_DONTCACHE },
	};
	/* all: every mode; else uring, uring spare/direct, pread spare. */
	static const struct {
		uint32_t buf_size, nbufs, hold;
		int all;
	} pools[] = {
		{ 65536, 4, 3, 1 },	/* pool far smaller than "big" */
		{ 1u << 20, 16, 8, 1 },	/* the defaults */
		{ 10000, 3, 2, 0 },	/* not 4096-aligned: no O_DIRECT */
		{ 4096, 1, 0, 0 },	/* one buffer: strictly serial */
	};
	char name[96];

	/* Line by line, so a log cut short by a timeout shows where. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(g_dir, sizeof(g_dir), "/tmp/sv_test_reader_XXXXXX");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	build_set();
	printf("checking %zu files under %s\n", g_nfiles, g_dir);

	for (size_t p = 0; p < SV_ARRAY_SIZE(pools); p++)
		for (size_t m = 0; m < SV_ARRAY_SIZE(modes); m++) {
			struct reader_opts o = {
				.buf_size = pools[p].buf_size,
				.nbufs = pools[p].nbufs,
				.flags = modes[m].flags,
			};

			if (!pools[p].all && m != 0 && m != 2 && m != 5)
				continue;

			snprintf(name, sizeof(name), "%ux%u %s",
				 pools[p].nbufs, pools[p].buf_size,
				 modes[m].name);
			run_one(name, &o, pools[p].hold, 0);
		}
	/* Defaults (NULL opts), and a deep pool of small buffers that
	 * would keep hundreds of small files open without the cap. */
	run_one("defaults", NULL, 4, 0);
	for (size_t m = 0; m < SV_ARRAY_SIZE(modes); m++) {
		struct reader_opts o = { .buf_size = 4096, .nbufs = 256,
					 .flags = modes[m].flags };

		/* uring, uring O_DIRECT (two descriptors a file), pread. */
		if (m != 0 && m != 2 && m != 4)
			continue;
		snprintf(name, sizeof(name), "256x4096 %s", modes[m].name);
		run_one(name, &o, 8, 1);
	}
	test_enobufs();
	test_env();
	test_seccomp();
	test_runtime_fallback();
	test_cache();
	rm_tree();
	free(g_files);
	printf("%d checks, %d failed\n", checks, failures);
	if (failures) {
		printf("test_reader: FAILED\n");
		return 1;
	}
	printf("test_reader: all passed\n");
	return 0;
}
