/*
 * test_walk.c - directory scans (io/walk.h).
 *
 * A tree built in a temporary directory with files, nested directories,
 * a hard link, symlinks (one dangling, one to a directory), a FIFO and
 * names whose bytewise order differs from a case-insensitive one is
 * walked twice: entries come in the same, sorted, depth-first order with
 * the root first and every directory before its contents; types, modes,
 * sizes, mtimes (to the nanosecond), link targets and hard-link counts are
 * as created, and symlinks are reported, not followed. Then: skipping a
 * directory's contents (callback returns 1), stopping a walk (any other
 * value), a missing root, a root that is a file, an entry whose path is
 * longer than PATH_MAX (reported with -ENAMETOOLONG, walk goes on) and,
 * when not running as root, an unreadable directory (reported with
 * -EACCES).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/walk.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                              \
	do {                                                          \
		checks++;                                             \
		if (!(cond)) {                                        \
			failures++;                                   \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
			printf(__VA_ARGS__);                          \
			printf("\n");                                 \
		}                                                     \
	} while (0)

static char root[PATH_MAX];

struct seen {
	char rel[64][PATH_MAX / 8];
	struct walk_entry e[64];
	char target[64][64];
	size_t n;
	const char *skip;       /* directory whose contents to skip */
	const char *stop_at;    /* entry at which to stop with 7 */
	size_t too_long, too_long_other;
};

static int record(void *arg, const struct walk_entry *e)
{
	struct seen *s = arg;

	if (e->err == -ENAMETOOLONG) {
		s->too_long++;
		return 0;
	}
	if (strlen(e->rel) >= sizeof(s->rel[0])) {
		s->too_long_other++;
		return 0;
	}
	if (s->n < 64) {
		snprintf(s->rel[s->n], sizeof(s->rel[0]), "%s", e->rel);
		s->e[s->n] = *e;
		s->e[s->n].rel = s->rel[s->n];
		s->e[s->n].name = NULL;
		if (e->target)
			snprintf(s->target[s->n], sizeof(s->target[0]), "%s",
				 e->target);
		s->n++;
	}
	/* name is the last component of rel. */
	{
		const char *slash = strrchr(e->rel, '/');

		if (strcmp(e->name, slash ? slash + 1 : e->rel))
			return 100;
	}
	if (s->stop_at && !strcmp(e->rel, s->stop_at))
		return 7;
	if (s->skip && !strcmp(e->rel, s->skip))
		return 1;
	return 0;
}

static void mk(const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, content, strlen(content)) !=
			      (ssize_t)strlen(content)) {
		perror(p);
		exit(1);
	}
	close(fd);
	if (chmod(p, mode)) {
		perror(p);
		exit(1);
	}
}

static void mkd(const char *rel)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (mkdir(p, 0750)) {
		perror(p);
		exit(1);
	}
}

static void set_mtime(const char *rel, time_t sec, long nsec)
{
	char p[PATH_MAX];
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	if (utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW)) {
		perror(p);
		exit(1);
	}
}

static const char *expected[] = {
	"", "B", "a", "c", "c/Z", "c/a", "c/a/deep", "d", "dangling",
	"dirlink", "fifo", "hard", "link",
};

static void build(void)
{
	char p[PATH_MAX], q[PATH_MAX];

	mk("a", "hello", 0640);
	mk("B", "", 0600);
	mkd("c");
	mkd("c/a");
	mk("c/a/deep", "0123456789", 0444);
	mk("c/Z", "z", 0644);
	mkd("d");
	snprintf(p, sizeof(p), "%s/a", root);
	snprintf(q, sizeof(q), "%s/hard", root);
	if (link(p, q))
		exit(1);
	snprintf(p, sizeof(p), "%s/link", root);
	if (symlink("a", p))
		exit(1);
	snprintf(p, sizeof(p), "%s/dangling", root);
	if (symlink("no/such/target", p))
		exit(1);
	snprintf(p, sizeof(p), "%s/dirlink", root);
	if (symlink("c", p))
		exit(1);
	snprintf(p, sizeof(p), "%s/fifo", root);
	if (mkfifo(p, 0620) || chmod(p, 0620))
		exit(1);
	set_mtime("a", 1600000000, 123456789);
	set_mtime("c/a/deep", 1500000000, 1);
	set_mtime("link", 1400000000, 999999999);
}

static const struct walk_entry *find(const struct seen *s, const char *rel)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->rel[i], rel))
			return &s->e[i];
	return NULL;
}

static void test_tree(void)
{
	static struct seen s1, s2;
	const struct walk_entry *e;
	int ret;

	ret = walk_tree(root, record, &s1);
	CHECK(ret == 0, "walk_tree: %d", ret);
	CHECK(s1.n == SV_ARRAY_SIZE(expected), "%zu entries, want %zu", s1.n,
	      SV_ARRAY_SIZE(expected));
	for (size_t i = 0; i < s1.n && i < SV_ARRAY_SIZE(expected); i++)
		CHECK(!strcmp(s1.rel[i], expected[i]), "entry %zu is '%s', "
		      "want '%s'", i, s1.rel[i], expected[i]);
	ret = walk_tree(root, record, &s2);
	CHECK(ret == 0 && s2.n == s1.n, "second walk: %d, %zu entries", ret,
	      s2.n);
	for (size_t i = 0; i < s1.n && i < s2.n; i++)
		CHECK(!strcmp(s1.rel[i], s2.rel[i]) &&
			      s1.e[i].ino == s2.e[i].ino &&
			      s1.e[i].mtime_ns == s2.e[i].mtime_ns,
		      "walks differ at %zu", i);
	for (size_t i = 0; i < s1.n; i++)
		CHECK(s1.e[i].err == 0, "%s: err %d", s1.rel[i], s1.e[i].err);

	e = find(&s1, "");
	CHECK(e && e->type == 'd', "root not reported as a directory");
	e = find(&s1, "a");
	CHECK(e && e->type == 'f' && e->size == 5 && e->mode == 0640 &&
		      e->mtime_ns == 1600000000123456789LL && e->nlink == 2 &&
		      !e->target,
	      "file a: type %c size %llu mode %o mtime %lld nlink %llu",
	      e ? e->type : '?', e ? (unsigned long long)e->size : 0,
	      e ? e->mode : 0, e ? (long long)e->mtime_ns : 0,
	      e ? (unsigned long long)e->nlink : 0);
	{
		const struct walk_entry *h = find(&s1, "hard");

		CHECK(e && h && h->ino == e->ino && h->dev == e->dev,
		      "hard link has another inode");
	}
	e = find(&s1, "B");
	CHECK(e && e->type == 'f' && e->size == 0 && e->mode == 0600,
	      "empty file B");
	e = find(&s1, "c/a/deep");
	CHECK(e && e->type == 'f' && e->size == 10 && e->mode == 0444 &&
		      e->mtime_ns == 1500000000000000001LL,
	      "c/a/deep metadata");
	e = find(&s1, "c");
	CHECK(e && e->type == 'd' && e->mode == 0750 && e->size == 0,
	      "directory c: type %c mode %o size %llu", e ? e->type : '?',
	      e ? e->mode : 0, e ? (unsigned long long)e->size : 0);
	{
		size_t i = (size_t)(find(&s1, "link") - s1.e);

		e = find(&s1, "link");
		CHECK(e && e->type == 'l' && !strcmp(s1.target[i], "a") &&
			      e->mtime_ns == 1400000000999999999LL &&
			      e->size == 0,
		      "symlink link -> a: type %c target '%s'",
		      e ? e->type : '?', s1.target[i]);
	}
	{
		size_t i = (size_t)(find(&s1, "dangling") - s1.e);

		e = find(&s1, "dangling");
		CHECK(e && e->type == 'l' && e->err == 0 &&
			      !strcmp(s1.target[i], "no/such/target"),
		      "dangling symlink");
	}
	e = find(&s1, "dirlink");
	CHECK(e && e->type == 'l', "symlink to a directory not reported as "
	      "a link");
	CHECK(!find(&s1, "dirlink/Z"), "symlink to a directory followed");
	e = find(&s1, "fifo");
	CHECK(e && e->type == 'o' && e->mode == 0620 && e->size == 0,
	      "fifo reported as type %c", e ? e->type : '?');
	printf("tree: %zu entries in order with their metadata\n", s1.n);
}

static void test_control(void)
{
	static struct seen s;
	char p[PATH_MAX];
	int ret;

	memset(&s, 0, sizeof(s));
	s.skip = "c";
	ret = walk_tree(root, record, &s);
	CHECK(ret == 0 && find(&s, "c") && !find(&s, "c/Z") &&
		      !find(&s, "c/a") && find(&s, "d") && find(&s, "link"),
	      "skipping c: %d, %zu entries", ret, s.n);

	memset(&s, 0, sizeof(s));
	s.stop_at = "c/Z";
	ret = walk_tree(root, record, &s);
	CHECK(ret == 7 && s.n == 5 && !find(&s, "c/a"),
	      "stop at c/Z: %d after %zu entries (want 7 after 5)", ret, s.n);

	memset(&s, 0, sizeof(s));
	s.skip = "";
	ret = walk_tree(root, record, &s);
	CHECK(ret == 0 && s.n == 1, "skipping the root: %d, %zu entries", ret,
	      s.n);

	snprintf(p, sizeof(p), "%s/missing", root);
	ret = walk_tree(p, record, &s);
	CHECK(ret == -ENOENT, "missing root: %d", ret);
	snprintf(p, sizeof(p), "%s/a", root);
	ret = walk_tree(p, record, &s);
	CHECK(ret == -ENOTDIR, "file as root: %d", ret);
	{
		struct walk_entry e;

		ret = walk_stat(p, &e);
		CHECK(ret == 0 && e.type == 'f' && e.size == 5, "walk_stat: %d",
		      ret);
		snprintf(p, sizeof(p), "%s/missing", root);
		CHECK(walk_stat(p, &e) == -ENOENT, "walk_stat of a missing "
		      "path");
	}
	printf("skip, stop and bad roots checked\n");
}

/* Nest directories with 200-character names until the relative path is
 * longer than PATH_MAX, then put a file at the bottom. */
static void test_too_long(void)
{
	static struct seen s;
	char name[201], dir[PATH_MAX];
	int fd, depth = 0, ret;

	memset(name, 'n', 200);
	name[200] = '\0';
	snprintf(dir, sizeof(dir), "%s/long", root);
	if (mkdir(dir, 0755))
		exit(1);
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	while (fd >= 0 && depth < (PATH_MAX / 201) + 2) {
		int next;

		if (mkdirat(fd, name, 0755))
			break;
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
		depth++;
	}
	if (fd >= 0) {
		int f = openat(fd, "leaf", O_WRONLY | O_CREAT, 0644);

		if (f >= 0)
			close(f);
		close(fd);
	}
	CHECK(depth == (PATH_MAX / 201) + 2, "could only nest %d deep", depth);
	memset(&s, 0, sizeof(s));
	ret = walk_tree(dir, record, &s);
	CHECK(ret == 0, "walk over a too-deep tree: %d", ret);
	CHECK(s.too_long == 1, "%zu entries reported -ENAMETOOLONG, want 1",
	      s.too_long);
	printf("path over PATH_MAX reported with -ENAMETOOLONG\n");
}

static void test_unreadable(void)
{
	static struct seen s;
	char p[PATH_MAX];
	const struct walk_entry *e;
	int ret;

	if (geteuid() == 0) {
		printf("unreadable directory: skipped as root\n");
		return;
	}
	mkd("closed");
	mk("closed/x", "x", 0644);
	snprintf(p, sizeof(p), "%s/closed", root);
	if (chmod(p, 0))
		exit(1);
	memset(&s, 0, sizeof(s));
	ret = walk_tree(root, record, &s);
	e = find(&s, "closed");
	CHECK(ret == 0 && e && !find(&s, "closed/x"),
	      "walk over an unreadable directory: %d", ret);
	/* The directory itself is reported once with its metadata, then
	 * once more with the error from reading it. */
	{
		int errs = 0;

		for (size_t i = 0; i < s.n; i++)
			if (!strcmp(s.rel[i], "closed") && s.e[i].err == -EACCES)
				errs++;
		CHECK(errs == 1, "unreadable directory reported %d times with "
		      "-EACCES", errs);
	}
	chmod(p, 0755);
	printf("unreadable directory reported with -EACCES\n");
}

int main(void)
{
	char cmd[PATH_MAX + 64];

	snprintf(root, sizeof(root), "/tmp/sv-test-walk-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	build();
	test_tree();
	test_control();
	test_unreadable();
	test_too_long();
	/* rm -rf copes with paths longer than PATH_MAX (it uses *at()). */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd))
		printf("warning: cannot remove %s\n", root);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
