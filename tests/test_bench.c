/*
 * test_bench.c - the null store (uploaders/null.c) and the stage and
 * pipeline measurement behind `sstvault bench` (engine/bench.c).
 *
 * Rates depend on the host and are not asserted; what is asserted is that
 * every stage ran over the bytes it should have, the model's limit is the
 * smallest of its terms, the pipeline read exactly the data directory's
 * distinct files (hard links once), the upload's scratch object is gone
 * afterwards, and both print formats carry the figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/bench.h"
#include "engine/util.h"
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

static void test_null_store(void)
{
	struct uploader *u = NULL;
	struct upl_write w = { 0 };
	char errbuf[512], buf[16];
	static uint8_t part[1 << 20];
	uint64_t size = 0;
	ssize_t n;
	int ret;

	printf("null store: small objects kept, pack data discarded\n");
	ret = uploader_create(&u, "null:", NULL, errbuf);
	CHECK(ret == 0 && u, "uploader_create(null:) = %d (%s)", ret, errbuf);
	if (!u)
		return;
	CHECK(strcmp(u->ops->name, "null") == 0, "backend %s, want null",
	      u->ops->name);
	ret = u->ops->put(u, "config", "hello", 5, UPL_PUT_NO_OVERWRITE);
	CHECK(ret == 0, "put config = %d", ret);
	ret = u->ops->put(u, "config", "again", 5, UPL_PUT_NO_OVERWRITE);
	CHECK(ret == -EEXIST, "second no-overwrite put = %d, want -EEXIST",
	      ret);
	n = u->ops->get(u, "config", 0, UINT64_MAX, buf, sizeof(buf));
	CHECK(n == 5 && memcmp(buf, "hello", 5) == 0,
	      "get config = %zd, want the 5 bytes put", n);
	n = u->ops->get(u, "config", 1, 3, buf, sizeof(buf));
	CHECK(n == 3 && memcmp(buf, "ell", 3) == 0, "ranged get = %zd", n);

	snprintf(w.name, sizeof(w.name), "data/ab/pack");
	ret = u->ops->open(u, &w);
	CHECK(ret == 0, "open = %d", ret);
	memset(part, 0x5a, sizeof(part));
	for (int i = 0; i < 3; i++) {
		ret = u->ops->put_part(u, &w, part, sizeof(part), NULL);
		CHECK(ret == SV_Q_DONE, "put_part = %d, want SV_Q_DONE", ret);
	}
	ret = u->ops->complete(u, &w);
	CHECK(ret == 0, "complete = %d", ret);
	ret = u->ops->stat(u, "data/ab/pack", &size);
	CHECK(ret == 0 && size == 3 * sizeof(part),
	      "stat pack = %d, size %llu, want %zu", ret,
	      (unsigned long long)size, 3 * sizeof(part));
	n = u->ops->get(u, "data/ab/pack", 0, 10, buf, sizeof(buf));
	CHECK(n == -ENODATA, "get of discarded pack = %zd, want -ENODATA", n);
	ret = u->ops->stat(u, "nothing", &size);
	CHECK(ret == -ENOENT, "stat of a missing object = %d", ret);
	ret = u->ops->remove(u, "data/ab/pack");
	CHECK(ret == 0, "remove pack = %d", ret);
	ret = u->ops->stat(u, "data/ab/pack", &size);
	CHECK(ret == -ENOENT, "stat after remove = %d", ret);
	uploader_destroy(u);

	/* Every "null:" store starts empty. */
	ret = uploader_create(&u, "null:", NULL, errbuf);
	CHECK(ret == 0, "second uploader_create = %d", ret);
	if (!ret) {
		ret = u->ops->stat(u, "config", &size);
		CHECK(ret == -ENOENT, "fresh store has config (%d)", ret);
		uploader_destroy(u);
	}
}

static int write_file(const char *path, size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);
	int fd, ret = 0;

	if (!p)
		return -ENOMEM;
	/* Half random, half repetitive: both codec paths get exercised. */
	srand(seed);
	for (size_t i = 0; i < len; i++)
		p[i] = (i / 4096) % 2 ? (uint8_t)rand() : (uint8_t)(i % 7);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	free(p);
	return ret;
}

static double min_term(const struct bench_result *r)
{
	double m = r->main_mbps < r->cpu_mbps ? r->main_mbps : r->cpu_mbps;

	for (int i = BENCH_READ; i <= BENCH_AES; i++)
		if (r->stage[i].measured && r->stage[i].allows_mbps < m)
			m = r->stage[i].allows_mbps;
	return m;
}

static void check_common(const struct bench_result *r, uint64_t sample)
{
	for (int i = BENCH_CDC; i <= BENCH_AES; i++) {
		const struct bench_stage *s = &r->stage[i];

		CHECK(s->measured && s->err == 0, "stage %s not measured (%d)",
		      s->name, s->err);
		CHECK(s->bytes >= sample && s->bytes % sample == 0,
		      "stage %s processed %llu bytes, want whole passes of %llu",
		      s->name, (unsigned long long)s->bytes,
		      (unsigned long long)sample);
		CHECK(s->mbps > 0 && s->allows_mbps > 0,
		      "stage %s: %.1f MB/s allows %.1f", s->name, s->mbps,
		      s->allows_mbps);
	}
	CHECK(r->sample_bytes == sample, "sample %llu bytes, want %llu",
	      (unsigned long long)r->sample_bytes,
	      (unsigned long long)sample);
	/* Every chunk but the last is >= 256 KiB, none is > 4 MiB. */
	CHECK(r->chunks >= sample / (4u << 20) &&
	      r->chunks <= sample / (256u << 10) + 1,
	      "%llu chunks for %llu bytes", (unsigned long long)r->chunks,
	      (unsigned long long)sample);
	CHECK(r->ratio > 0.9, "ratio %.3f", r->ratio);
	CHECK(r->limit_mbps > 0 && r->limit_mbps <= min_term(r) * 1.0000001 &&
	      r->limit_mbps >= min_term(r) * 0.9999999,
	      "limit %.1f is not the smallest term %.1f", r->limit_mbps,
	      min_term(r));
	CHECK(r->limit_by && r->limit_by[0], "no binding stage named");
	CHECK(r->pipeline_ran && r->pipeline_err == 0, "pipeline: ran %d err %d",
	      r->pipeline_ran, r->pipeline_err);
	CHECK(r->pipeline_mbps > 0 && r->pipeline_share > 0,
	      "pipeline %.1f MB/s, share %.3f", r->pipeline_mbps,
	      r->pipeline_share);
}

static void check_print(const struct bench_result *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	json_t *j, *st;
	json_error_t je;

	bench_print(f, r, 0);
	fclose(f);
	CHECK(text && strstr(text, "limit:") && strstr(text, "fastcdc") &&
	      strstr(text, "pipeline (into null:)"),
	      "table lacks limit/stage/pipeline lines:\n%s", text);
	free(text);
	text = NULL;
	f = open_memstream(&text, &len);
	bench_print(f, r, 1);
	fclose(f);
	j = json_loads(text, 0, &je);
	CHECK(j != NULL, "JSON does not parse: %s\n%s", je.text, text);
	if (j) {
		st = json_object_get(j, "stages");
		CHECK(json_array_size(st) == BENCH_NSTAGES,
		      "%zu stages in JSON", json_array_size(st));
		CHECK(json_real_value(json_object_get(j, "limit_MBps")) > 0,
		      "limit_MBps missing");
		CHECK(json_integer_value(json_object_get(
			      json_object_get(j, "pipeline"), "bytes")) ==
			      (json_int_t)r->pipeline_bytes,
		      "pipeline bytes in JSON differ");
		json_decref(j);
	}
	free(text);
}

static void test_generated(void)
{
	struct bench_opts o = { 0 };
	struct bench_result r;
	int ret;

	printf("bench on generated data, no location\n");
	o.sample_max = 8u << 20;
	o.min_secs = 0.01;
	ret = bench_run(&o, &r);
	CHECK(ret == 0, "bench_run = %d", ret);
	CHECK(!r.stage[BENCH_READ].measured, "read measured without a dir");
	CHECK(!r.stage[BENCH_UPLOAD].measured, "upload measured without "
	      "a location");
	CHECK(strcmp(r.source, "generated") == 0, "source %s", r.source);
	check_common(&r, 8u << 20);
	CHECK(r.pipeline_bytes == 8u << 20, "pipeline read %llu bytes, want "
	      "the 8 MiB written", (unsigned long long)r.pipeline_bytes);
	check_print(&r);
}

static void test_dir(const char *tmp)
{
	char dir[512], path[600], loc[512];
	struct bench_opts o = { 0 };
	struct bench_result r;
	uint64_t total = 0;
	int ret;

	printf("bench on a data directory, upload to a local location\n");
	snprintf(dir, sizeof(dir), "%s/data", tmp);
	snprintf(loc, sizeof(loc), "%s/repo", tmp);
	CHECK(mkdir(dir, 0755) == 0 && mkdir(loc, 0755) == 0, "mkdir");
	snprintf(path, sizeof(path), "%s/ks", dir);
	CHECK(mkdir(path, 0755) == 0, "mkdir ks");
	for (unsigned i = 0; i < 3; i++) {
		size_t len = (size_t)(3 + i) << 20;

		snprintf(path, sizeof(path), "%s/ks/nb-%u-big-Data.db", dir,
			 i + 1);
		CHECK(write_file(path, len, i + 1) == 0, "write %s", path);
		total += len;
	}
	/* A hard link (as snapshots/ holds) is read once. */
	snprintf(path, sizeof(path), "%s/ks/nb-1-big-Data.db", dir);
	{
		char link_path[600];

		snprintf(link_path, sizeof(link_path), "%s/zz-link-Data.db",
			 dir);
		CHECK(link(path, link_path) == 0, "link");
	}
	o.data_dir = dir;
	o.location = loc;
	o.upload_parts = 2;
	o.part_size = 1u << 20;
	o.sample_max = 4u << 20;
	o.min_secs = 0.01;
	o.threads = 2;
	ret = bench_run(&o, &r);
	CHECK(ret == 0, "bench_run = %d", ret);
	CHECK(r.stage[BENCH_READ].measured &&
	      r.stage[BENCH_READ].bytes == total,
	      "read %llu bytes, want %llu (each inode once)",
	      (unsigned long long)r.stage[BENCH_READ].bytes,
	      (unsigned long long)total);
	CHECK(r.files == 3, "%llu files read, want 3",
	      (unsigned long long)r.files);
	CHECK(r.io_mode[0], "no io mode");
	check_common(&r, 4u << 20);
	CHECK(r.pipeline_bytes == total && r.pipeline_files == 3,
	      "pipeline read %llu bytes in %llu files, want %llu in 3",
	      (unsigned long long)r.pipeline_bytes,
	      (unsigned long long)r.pipeline_files,
	      (unsigned long long)total);
	CHECK(r.stage[BENCH_UPLOAD].measured &&
	      r.stage[BENCH_UPLOAD].bytes == 2u << 20,
	      "upload %llu bytes, want 2 MiB",
	      (unsigned long long)r.stage[BENCH_UPLOAD].bytes);
	CHECK(r.upload_limit_mbps > 0 &&
	      r.upload_limit_mbps <= r.limit_mbps,
	      "upload limit %.1f vs limit %.1f", r.upload_limit_mbps,
	      r.limit_mbps);
	snprintf(path, sizeof(path), "%s/tmp-bench", loc);
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd),
			 "test -z \"$(find '%s' -type f 2>/dev/null)\"", path);
		CHECK(system(cmd) == 0, "scratch object left in %s", path);
	}
	check_print(&r);

	printf("bench: missing data directory and unusable location\n");
	snprintf(path, sizeof(path), "%s/none", tmp);
	o.data_dir = path;
	o.location = NULL;
	ret = bench_run(&o, &r);
	CHECK(ret == -ENOENT, "missing dir: %d, want -ENOENT", ret);
	o.data_dir = dir;
	snprintf(path, sizeof(path), "%s/ks/nb-1-big-Data.db/sub", dir);
	o.location = path;   /* below a regular file: cannot be written */
	o.no_pipeline = 1;
	ret = bench_run(&o, &r);
	CHECK(ret < 0 && r.stage[BENCH_UPLOAD].err < 0 &&
	      !r.stage[BENCH_UPLOAD].measured,
	      "upload below a file: ret %d, stage err %d", ret,
	      r.stage[BENCH_UPLOAD].err);
	CHECK(r.stage[BENCH_ZSTD].measured, "CPU stages skipped when the "
	      "upload fails");
	CHECK(!r.pipeline_ran, "pipeline ran with no_pipeline");
}

int main(void)
{
	char tmp[] = "/tmp/test_bench.XXXXXX";
	char cmd[200];

	util_verbosity = -1;
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_null_store();
	test_generated();
	test_dir(tmp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		printf("cannot remove %s\n", tmp);
	printf("%d checks, %d failed\n", checks, fails);
	return fails ? 1 : 0;
}
