/*
 * test_hostile.c - a hostile repository: validly encrypted snapshots (made
 * with the repository's own key through the engine API, as an attacker
 * who holds the key or a compromised writer could) that name "../" paths,
 * absolute paths, or a symlink followed by a file under it. Restore must
 * refuse them with a clear error or neutralise them, and never create,
 * change or follow anything outside the target.
 *
 * Two routes for each hostile snapshot:
 *   1. the CLI (`sstvault restore ID`), which loads and parses the sealed
 *      snapshot: it must reject it (the parser validates paths), exit
 *      non-zero with a message, and write nothing outside the target;
 *   2. restore_run() directly on the in-memory snapshot, bypassing the
 *      parser: the restore code itself must not write outside the target.
 *
 * Needs the CLI ($SSTVAULT, set by the test runner) to make the repository
 * and a real backup whose chunks the hostile entries reuse; skips (77)
 * without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/repo.h"
#include "engine/restore.h"
#include "engine/snapshot.h"

static int checks, failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		checks++;                                                 \
		if (!(cond)) {                                            \
			failures++;                                       \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
		}                                                         \
	} while (0)

static char base[64] = "/tmp/sv-hostile.XXXXXX";
static const char *sv;

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command line; return its exit status (-1 if killed). */
static int run(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Number of entries in a directory (-1 if it cannot be read). */
static int count_entries(const char *dir)
{
	char cmd[600];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' 2>/dev/null | wc -l", dir);
	p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static struct snap_file *find_file(struct snapshot *s, const char *path)
{
	for (size_t i = 0; i < s->nfiles; i++)
		if (!strcmp(s->files[i].path, path))
			return &s->files[i];
	return NULL;
}

static void set_path(struct snap_file *f, const char *path)
{
	free(f->path);
	f->path = strdup(path);
}

/*
 * Save s (with file entry `victim` renamed to `path`), then restore it via
 * the CLI and via restore_run. Nothing may appear at `outside`, and the
 * CLI must fail with a message that names the problem.
 */
static void hostile_path(struct repo *r, const char *victim, const char *path,
			 const char *outside, const char *label)
{
	struct snapshot **v = NULL;
	struct snapshot *s;
	struct snap_file *f;
	struct restore_opts ro = { 0 };
	struct restore_result rr = { 0 };
	size_t n = 0;
	char target[300], errf[300], cmd_out[600];
	int ret, rc;

	ret = snapshot_list(r, &v, &n, NULL);
	CHECK(ret == 0 && n >= 1, "snapshot_list: %d", ret);
	if (ret || !n)
		return;
	s = v[0];
	f = find_file(s, victim);
	CHECK(f != NULL, "%s not in the base snapshot", victim);
	if (!f)
		goto out;
	set_path(f, path);
	ret = snapshot_save(r, s);
	CHECK(ret == 0, "%s: snapshot_save: %d", label, ret);

	/* 1. CLI: load, parse, refuse. */
	snprintf(target, sizeof(target), "%s/t-cli-%s", base, label);
	snprintf(errf, sizeof(errf), "%s/err-%s", base, label);
	rc = run("'%s' restore %.12s --repo %s/repo --password-file %s/pw "
		 "--target %s -q 2>%s", sv, s->id, base, base, target, errf);
	CHECK(rc > 0 && rc < 128, "%s: CLI restore exit %d, want a refusal",
	      label, rc);
	CHECK(!exists(outside), "%s: CLI restore created %s", label, outside);
	snprintf(cmd_out, sizeof(cmd_out),
		 "grep -qiE 'path|snapshot|damaged|invalid' %s", errf);
	CHECK(run("%s", cmd_out) == 0, "%s: CLI message does not say why",
	      label);
	run("echo '%s: CLI restore exit %d:' $(head -c 300 %s)", label, rc,
	    errf);

	/* 2. restore_run on the in-memory snapshot, no parser in between. */
	snprintf(target, sizeof(target), "%s/t-api-%s", base, label);
	ro.target = target;
	ro.no_fsync = 1;
	ro.threads = 1;
	ret = restore_run(r, s, &ro, &rr);
	CHECK(!exists(outside), "%s: restore_run created %s", label, outside);
	printf("%s: restore_run returned %d, %llu file(s) restored, %llu "
	       "failed; %s absent\n", label, ret,
	       (unsigned long long)rr.files, (unsigned long long)rr.failed,
	       outside);
	/* The id must not stay in the repository for the next cases. */
	{
		char obj[400];

		snprintf(obj, sizeof(obj), "%s/repo/snapshots/%s", base, s->id);
		unlink(obj);
	}
out:
	snapshot_list_free(v, n);
}

/* A symlink entry "a" -> outside directory, then a file "a/x". */
static void hostile_link(struct repo *r, const char *outdir)
{
	struct snapshot **v = NULL;
	struct snapshot *s;
	struct snap_file *f, *l;
	struct restore_opts ro = { 0 };
	struct restore_result rr = { 0 };
	size_t n = 0;
	char target[300], errf[300];
	int ret, rc;

	ret = snapshot_list(r, &v, &n, NULL);
	CHECK(ret == 0 && n >= 1, "snapshot_list: %d", ret);
	if (ret || !n)
		return;
	s = v[0];
	f = find_file(s, "x");
	CHECK(f != NULL, "x not in the base snapshot");
	if (!f)
		goto out;
	set_path(f, "a/x");
	/* Append the link after the file: a restore that creates links
	 * first would then write a/x through it. */
	l = snapshot_add_file(s, "a");
	CHECK(l != NULL, "snapshot_add_file");
	if (!l)
		goto out;
	l->type = SNAP_LINK;
	l->mode = 0777;
	l->target = strdup(outdir);
	l->root = 0;
	ret = snapshot_save(r, s);
	CHECK(ret == 0, "link: snapshot_save: %d", ret);

	snprintf(target, sizeof(target), "%s/t-cli-link", base);
	snprintf(errf, sizeof(errf), "%s/err-link", base);
	rc = run("'%s' restore %.12s --repo %s/repo --password-file %s/pw "
		 "--target %s -q 2>%s", sv, s->id, base, base, target, errf);
	CHECK(count_entries(outdir) == 0,
	      "link: CLI restore wrote into %s through the link", outdir);
	run("echo 'link: CLI restore exit %d:' $(head -c 300 %s); "
	    "ls -la %s | sed 's/^/  /'", rc, errf, target);

	snprintf(target, sizeof(target), "%s/t-api-link", base);
	ro.target = target;
	ro.no_fsync = 1;
	ro.threads = 1;
	ret = restore_run(r, s, &ro, &rr);
	CHECK(count_entries(outdir) == 0,
	      "link: restore_run wrote into %s through the link", outdir);
	printf("link: restore_run returned %d, %llu file(s), %llu link(s), "
	       "%llu failed; %s still empty\n", ret,
	       (unsigned long long)rr.files, (unsigned long long)rr.links,
	       (unsigned long long)rr.failed, outdir);
out:
	snapshot_list_free(v, n);
}

int main(void)
{
	struct repo *r = NULL;
	char errbuf[512], outdir[300], evil[300], path[400];
	int ret;

	sv = getenv("SSTVAULT");
	if (!sv || access(sv, X_OK)) {
		printf("SSTVAULT (the CLI) not set\n");
		return 77;
	}
	setenv("SSTVAULT_TEST_SCRYPT_N", "1024", 1);
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/cache", base);
	setenv("SSTVAULT_CACHE_DIR", path, 1);
	if (run("cd %s && printf 'hostile pw\\n' > pw && chmod 600 pw && "
		"mkdir -p src && head -c 300000 /dev/urandom > src/x && "
		"head -c 2000 /dev/urandom > src/y && "
		"'%s' init --repo repo --password-file pw -q && "
		"'%s' backup --repo repo --password-file pw --data-dir src -q",
		base, sv, sv)) {
		fprintf(stderr, "cannot set up the repository\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/repo", base);
	ret = repo_open(&r, path, NULL, "hostile pw", 10, errbuf);
	CHECK(ret == 0, "repo_open: %d %s", ret, errbuf);
	if (ret)
		goto out;

	/* "../evil" from a target base/t-*-dotdot lands at base/evil. */
	snprintf(evil, sizeof(evil), "%s/evil", base);
	hostile_path(r, "y", "../evil", evil, "dotdot");
	hostile_path(r, "y", "../../../../../../../..", evil, "dotdot-only");
	snprintf(path, sizeof(path), "%s/abs-evil", base);
	{
		char abs_path[400];

		snprintf(abs_path, sizeof(abs_path), "%s", path);
		hostile_path(r, "y", abs_path, path, "absolute");
	}
	hostile_path(r, "y", "ok/../../evil", evil, "inner-dotdot");

	snprintf(outdir, sizeof(outdir), "%s/outside", base);
	mkdir(outdir, 0755);
	hostile_link(r, outdir);
out:
	repo_close(r);
	if (!getenv("SV_KEEP"))
		run("rm -rf %s", base);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
