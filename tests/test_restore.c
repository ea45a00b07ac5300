/*
 * test_restore.c - restore's digests and checks, on both routes: fed from
 * memory in file order as chunks are restored (chunks that arrive early
 * are parked), and by reading the file back (files whose chunks arrived
 * too far out of order, or every file with restore_opts.readback).
 *
 * A real backup (made with the CLI, $SSTVAULT) of multi-chunk random files,
 * small files and an empty file is restored with restore_run() through a
 * restore_check that computes each file's CRC-32 and compares it with the
 * source's. Checked: every restored file is byte-identical to its source;
 * the check saw every byte of every file exactly once, in order (its CRC
 * matches), and began and ended once per file; with park_max = 1 and 4
 * workers some files give their in-memory digests up and are read back,
 * and still verify; with readback every file is read back; a file the
 * check rejects (on either route) is not restored, leaves no temporary,
 * and the restore returns -EBADMSG.
 *
 * Skips (77) without the CLI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/repo.h"
#include "engine/restore.h"
#include "engine/snapshot.h"

/* Atomic: CHECK runs inside the check callbacks, on two threads. */
static atomic_int checks, failures;

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

static char base[64] = "/tmp/sv-restore.XXXXXX";

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

/* CRC-32 of a whole file, or -1. */
static long long file_crc(const char *path)
{
	unsigned char buf[1 << 16];
	uLong crc = crc32(0L, Z_NULL, 0);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crc = crc32(crc, buf, (uInt)n);
	close(fd);
	return n < 0 ? -1 : (long long)crc;
}

/* The check under test: CRC-32 of what restore feeds, against the source. */
/* Counters are atomic: restore calls the check from its main thread and
 * from its verifier thread (for different files) at once. */
struct tcheck {
	atomic_int begun, ended, dropped, rejected;
	const char *reject;       /* path suffix whose check fails */
};

struct tstate {
	struct tcheck *t;
	uLong crc;
	uint64_t bytes;
	char src[600];
};

static struct tcheck tc;

static int t_begin(void *arg, const struct snap_file *f, void **st)
{
	struct tcheck *t = arg;
	struct tstate *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->t = t;
	s->crc = crc32(0L, Z_NULL, 0);
	snprintf(s->src, sizeof(s->src), "%s/src/%s", base, f->path);
	t->begun++;
	*st = s;
	return 0;
}

static void t_update(void *st, const void *data, size_t len)
{
	struct tstate *s = st;

	s->crc = crc32_z(s->crc, data, len);
	s->bytes += len;
}

static int t_end(void *st, const struct snap_file *f, const char *final_path)
{
	struct tstate *s = st;
	size_t n = strlen(final_path), m = s->t->reject ?
					   strlen(s->t->reject) : 0;
	int ret = 0;

	s->t->ended++;
	CHECK(s->bytes == f->size, "%s: check fed %llu of %llu bytes",
	      final_path, (unsigned long long)s->bytes,
	      (unsigned long long)f->size);
	CHECK((long long)s->crc == file_crc(s->src),
	      "%s: check fed bytes out of order or wrong", final_path);
	if (m && n >= m && !strcmp(final_path + n - m, s->t->reject)) {
		s->t->rejected++;
		ret = -EBADMSG;
	}
	free(s);
	return ret;
}

static void t_drop(void *st)
{
	struct tstate *s = st;

	s->t->dropped++;
	free(s);
}

static const struct restore_check tcheck_ops = {
	.begin = t_begin,
	.update = t_update,
	.end = t_end,
	.drop = t_drop,
};

static const char *const files[] = {
	"big1", "big2", "big3", "d/big4", "d/small1", "d/small2", "empty",
};
#define NFILES (sizeof(files) / sizeof(files[0]))

/* Restore s with the given options into base/t-label and compare. */
static void restore_case(struct repo *r, const struct snapshot *s,
			 const char *label, unsigned threads,
			 unsigned park_max, int readback, const char *reject)
{
	struct restore_opts ro = { 0 };
	struct restore_result rr;
	char target[300];
	int ret;

	atomic_store(&tc.begun, 0);
	atomic_store(&tc.ended, 0);
	atomic_store(&tc.dropped, 0);
	atomic_store(&tc.rejected, 0);
	tc.reject = reject;
	snprintf(target, sizeof(target), "%s/t-%s", base, label);
	ro.target = target;
	ro.no_fsync = 1;
	ro.threads = threads;
	ro.park_max = park_max;
	ro.readback = readback;
	ro.check = &tcheck_ops;
	ro.check_arg = &tc;
	ret = restore_run(r, s, &ro, &rr);
	printf("%s: restore_run %d, %llu files, %llu read back, %llu failed; "
	       "check begun %d ended %d dropped %d\n", label, ret,
	       (unsigned long long)rr.files, (unsigned long long)rr.readback,
	       (unsigned long long)rr.failed, tc.begun, tc.ended, tc.dropped);
	/* Every begun state is ended or dropped exactly once. */
	CHECK(tc.begun == tc.ended + tc.dropped, "%s: %d begun, %d ended, "
	      "%d dropped", label, tc.begun, tc.ended, tc.dropped);
	/* Every file's check ended once (an in-memory state given up is
	 * dropped and begun again for the read-back). */
	CHECK(tc.ended == (int)NFILES, "%s: %d checks ended, want %zu",
	      label, tc.ended, NFILES);
	if (readback)
		CHECK(rr.readback == NFILES && tc.dropped == 0,
		      "%s: %llu read back, %d dropped", label,
		      (unsigned long long)rr.readback, tc.dropped);
	for (size_t i = 0; i < NFILES; i++) {
		char src[600], dst[600];
		int rejected = reject && !strcmp(files[i], reject);

		snprintf(src, sizeof(src), "%s/src/%s", base, files[i]);
		snprintf(dst, sizeof(dst), "%s/%s", target, files[i]);
		if (rejected) {
			CHECK(access(dst, F_OK) != 0, "%s: rejected %s restored",
			      label, dst);
			continue;
		}
		CHECK(run("cmp -s '%s' '%s'", src, dst) == 0,
		      "%s: %s differs from its source", label, dst);
	}
	CHECK(run("find '%s' -name '*.sstvault-tmp' | grep -q .", target) != 0,
	      "%s: temporaries left in %s", label, target);
	if (reject) {
		CHECK(ret == -EBADMSG && rr.failed == 1 && rr.damaged == 1 &&
		      tc.rejected == 1, "%s: ret %d failed %llu damaged %llu "
		      "rejected %d", label, ret, (unsigned long long)rr.failed,
		      (unsigned long long)rr.damaged, tc.rejected);
	} else {
		CHECK(ret == 0 && rr.files == NFILES && rr.failed == 0,
		      "%s: ret %d, %llu files, %llu failed", label, ret,
		      (unsigned long long)rr.files,
		      (unsigned long long)rr.failed);
	}
}

int main(void)
{
	struct repo *r = NULL;
	struct snapshot **v = NULL;
	size_t n = 0;
	char errbuf[512], path[400];
	const char *sv = getenv("SSTVAULT");
	int ret, gave_up = 0;

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
	/* Random data: 10-24 MiB files of ~1 MiB chunks (10 to 24 each). */
	if (run("cd %s && printf 'restore pw\\n' > pw && chmod 600 pw && "
		"mkdir -p src/d && "
		"head -c 20000000 /dev/urandom > src/big1 && "
		"head -c 14000000 /dev/urandom > src/big2 && "
		"head -c 24000000 /dev/urandom > src/big3 && "
		"head -c 10000000 /dev/urandom > src/d/big4 && "
		"head -c 3000 /dev/urandom > src/d/small1 && "
		"head -c 300000 /dev/urandom > src/d/small2 && "
		": > src/empty && "
		"'%s' init --repo repo --password-file pw -q && "
		"'%s' backup --repo repo --password-file pw --data-dir src -q",
		base, sv, sv)) {
		fprintf(stderr, "cannot set up the repository\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/repo", base);
	ret = repo_open(&r, path, NULL, "restore pw", 10, errbuf);
	CHECK(ret == 0, "repo_open: %d %s", ret, errbuf);
	if (ret)
		goto out;
	ret = snapshot_list(r, &v, &n, NULL);
	CHECK(ret == 0 && n == 1, "snapshot_list: %d, %zu", ret, n);
	if (ret || n != 1)
		goto out;

	restore_case(r, v[0], "memory", 2, 0, 0, NULL);
	restore_case(r, v[0], "memory-1", 1, 0, 0, NULL);
	restore_case(r, v[0], "readback", 2, 0, 1, NULL);
	/*
	 * park_max 1 with 4 workers sharing each range blob by blob: a
	 * file's chunks come back out of order often enough that some files
	 * give up; try a few times, since the order is the scheduler's.
	 */
	for (int i = 0; i < 5 && !gave_up; i++) {
		char label[32];

		snprintf(label, sizeof(label), "park1-%d", i);
		restore_case(r, v[0], label, 4, 1, 0, NULL);
		gave_up = tc.dropped > 0;
	}
	CHECK(gave_up, "park_max 1 never made a file give up its in-memory "
	      "digests");
	restore_case(r, v[0], "reject-memory", 2, 0, 0, "big3");
	restore_case(r, v[0], "reject-readback", 2, 0, 1, "d/big4");
out:
	snapshot_list_free(v, n);
	repo_close(r);
	if (!getenv("SV_KEEP"))
		run("rm -rf %s", base);
	printf("%d checks, %d failures\n", atomic_load(&checks),
	       atomic_load(&failures));
	return failures ? 1 : 0;
}
