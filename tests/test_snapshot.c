/*
 * test_snapshot.c - backup manifests (engine/snapshot.h, FORMAT.md 7).
 *
 * snapshot_parse against a table of hostile JSON documents (unsafe paths,
 * chunk lists that disagree with the file size, bad base64, roots out of
 * range, newer versions, bad modes, types, digests, missing fields), each
 * a one-field edit of a document that parses; a snapshot with files,
 * directories, links, an empty file and Cassandra fields saved to an
 * in-memory repository and loaded back field by field; snapshot_list with
 * a damaged object; snapshot_find ("latest", prefixes, ambiguity) and the
 * snapshot_path_ok table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/snapshot.h"
#include "engine/util.h"
#include "uploaders/mem.h"

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

/* ---- snapshot_path_ok ---- */

static void test_path_ok(void)
{
	static const struct {
		const char *path;
		int ok;
	} cases[] = {
		{ "a", 1 },
		{ "a/b", 1 },
		{ "ks/tbl-0123/nb-1-big-Data.db", 1 },
		{ ".hidden", 1 },
		{ "a/.b", 1 },
		{ "a..b", 1 },
		{ "...", 1 },
		{ "a/..b/c", 1 },
		{ "", 0 },
		{ "/", 0 },
		{ "/abs", 0 },
		{ "../x", 0 },
		{ "..", 0 },
		{ ".", 0 },
		{ "./a", 0 },
		{ "a/./b", 0 },
		{ "a/../b", 0 },
		{ "a/..", 0 },
		{ "a/.", 0 },
		{ "a//b", 0 },
		{ "a/", 0 },
		{ "//a", 0 },
	};

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++)
		CHECK(snapshot_path_ok(cases[i].path) == cases[i].ok,
		      "snapshot_path_ok(\"%s\") = %d, want %d", cases[i].path,
		      snapshot_path_ok(cases[i].path), cases[i].ok);
	printf("snapshot_path_ok: %zu cases\n", SV_ARRAY_SIZE(cases));
}

/* ---- hostile JSON ---- */

/* Base64 of n chunk records whose lengths are lens[]. */
static char *chunks_b64(const uint32_t *lens, size_t n)
{
	uint8_t rec[8 * SNAP_CHUNK_REC];
	char *b64;

	for (size_t i = 0; i < n; i++) {
		memset(rec + i * SNAP_CHUNK_REC, (int)(0x11 * (i + 1)),
		       SV_ID_LEN);
		sv_put_le32(rec + i * SNAP_CHUNK_REC + SV_ID_LEN, lens[i]);
	}
	b64 = util_b64enc(rec, n * SNAP_CHUNK_REC);
	if (!b64)
		exit(1);
	return b64;
}

/*
 * A snapshot document with one file entry; fields given as JSON
 * fragments so each case changes one of them.
 */
struct doc {
	const char *version, *roots, *path, *root, *type, *mode, *size;
	const char *chunks, *extra, *files;
};

static char *make_doc(const struct doc *d, const char *good_chunks)
{
	char *out = NULL;
	char file[4096];

	if (d->files) {
		snprintf(file, sizeof(file), "%s", d->files);
	} else {
		snprintf(file, sizeof(file),
			 "[{\"path\":%s,\"root\":%s,\"type\":%s,\"mode\":%s,"
			 "\"mtime_ns\":1700000000000000000,\"size\":%s,"
			 "\"inode\":42%s%s%s%s}]",
			 d->path ? d->path : "\"ks/t/nb-1-big-Data.db\"",
			 d->root ? d->root : "0", d->type ? d->type : "\"f\"",
			 d->mode ? d->mode : "420", d->size ? d->size : "300",
			 d->chunks ? "," : ",\"chunks\":\"",
			 d->chunks ? d->chunks : good_chunks,
			 d->chunks ? "" : "\"", d->extra ? d->extra : "");
	}
	if (asprintf(&out,
		     "{\"version\":%s,\"time\":\"x\",\"time_ns\":17,"
		     "\"end_ns\":18,\"host\":\"h\",\"type\":\"tree\","
		     "\"roots\":%s,\"files\":%s}",
		     d->version ? d->version : "1",
		     d->roots ? d->roots : "[\"/var/lib/cassandra/data\"]",
		     file) < 0)
		exit(1);
	return out;
}

static void test_hostile(void)
{
	static const uint32_t lens3[] = { 100, 150, 50 };
	static const uint32_t lens_short[] = { 100, 150, 49 };
	static const uint32_t lens_wrap[] = { 0xffffffffu, 0xffffffffu, 302 };
	char *good = chunks_b64(lens3, 3), *short_list, *wrap;
	char bad_len[200], cut[200], key_chunks[300];
	struct {
		const char *name;
		struct doc d;
		int want;
	} cases[] = {
		{ "valid document", { 0 }, 0 },
		{ "path ../x", { .path = "\"../x\"" }, -EBADMSG },
		{ "path /abs", { .path = "\"/abs\"" }, -EBADMSG },
		{ "path a//b", { .path = "\"a//b\"" }, -EBADMSG },
		{ "path a/./b", { .path = "\"a/./b\"" }, -EBADMSG },
		{ "path a/", { .path = "\"a/\"" }, -EBADMSG },
		{ "path empty", { .path = "\"\"" }, -EBADMSG },
		{ "path ..", { .path = "\"..\"" }, -EBADMSG },
		{ "path a/../../etc", { .path = "\"a/../../etc\"" }, -EBADMSG },
		{ "path with NUL", { .path = "\"a\\u0000b\"" }, -EBADMSG },
		{ "path not a string", { .path = "7" }, -EBADMSG },
		{ "chunk lengths short of size", { .chunks = NULL }, -EBADMSG },
		{ "chunk lengths wrap around 2^32", { 0 }, -EBADMSG },
		{ "chunks not base64", { .chunks = "\"chunks\":\"!!!!\"" },
		  -EBADMSG },
		{ "chunks base64 length not 4n", { .chunks = "\"chunks\":\"QUJD"
							     "R\"" },
		  -EBADMSG },
		{ "chunks base64 of 21 bytes", { 0 }, -EBADMSG },
		{ "chunks all padding", { .chunks = "\"chunks\":\"====\"" },
		  -EBADMSG },
		{ "chunks missing on a file", { .chunks = "\"x\":1" },
		  -EBADMSG },
		{ "chunks not a string", { .chunks = "\"chunks\":[1,2]" },
		  -EBADMSG },
		{ "empty chunk list, size 0", { .size = "0",
						.chunks = "\"chunks\":\"\"" },
		  0 },
		{ "empty chunk list, size 1", { .size = "1",
						.chunks = "\"chunks\":\"\"" },
		  -EBADMSG },
		{ "root 1 of 1", { .root = "1" }, -EBADMSG },
		{ "root -1", { .root = "-1" }, -EBADMSG },
		{ "root 2^32", { .root = "4294967296" }, -EBADMSG },
		{ "no roots", { .roots = "[]" }, -EBADMSG },
		{ "root not a string", { .roots = "[5]" }, -EBADMSG },
		{ "roots not an array", { .roots = "\"/x\"" }, -EBADMSG },
		{ "version 2", { .version = "2" }, -EPROTONOSUPPORT },
		{ "version 0", { .version = "0" }, -EPROTONOSUPPORT },
		{ "version a string", { .version = "\"1\"" }, -EBADMSG },
		{ "mode 07777", { .mode = "4095" }, 0 },
		{ "mode 010000", { .mode = "4096" }, -EBADMSG },
		{ "mode -1", { .mode = "-1" }, -EBADMSG },
		{ "size -1", { .size = "-1" }, -EBADMSG },
		{ "type x", { .type = "\"x\"" }, -EBADMSG },
		{ "type ff", { .type = "\"ff\"" }, -EBADMSG },
		{ "type empty", { .type = "\"\"" }, -EBADMSG },
		{ "link without target", { .type = "\"l\"" }, -EBADMSG },
		{ "link with target", { .type = "\"l\"",
					.extra = ",\"target\":\"../x\"" },
		  0 },
		{ "directory", { .type = "\"d\"", .size = "0" }, 0 },
		{ "digest too short", { .extra = ",\"digest\":\"abcd\"" },
		  -EBADMSG },
		{ "digest not hex", { .extra = ",\"digest\":\"zz000000000000000"
							  "000000000000000\"" },
		  -EBADMSG },
		{ "digest 32 hex", { .extra = ",\"digest\":\"00112233445566778"
						     "899aabbccddeeff\"" },
		  0 },
		{ "unknown fields ignored", { .extra = ",\"future\":{\"a\":1}" },
		  0 },
		{ "cassandra not an object", { .extra = ",\"cassandra\":3" },
		  0 },
		{ "files not an array", { .files = "{}" }, -EBADMSG },
		{ "file not an object", { .files = "[1]" }, -EBADMSG },
		{ "no files", { .files = "[]" }, 0 },
		{ "file missing mode", { .files = "[{\"path\":\"a\",\"root\":0,"
						  "\"type\":\"d\",\"mtime_ns\":0,"
						  "\"size\":0,\"inode\":1}]" },
		  -EBADMSG },
	};
	static const char *raw_cases[] = {
		"", "{", "[]", "null", "{\"version\":1}", "\"version\"",
		"{\"version\":1,\"time_ns\":1,\"end_ns\":1,\"roots\":[],"
		"\"files\":[]} trailing",
	};

	short_list = chunks_b64(lens_short, 3);
	wrap = chunks_b64(lens_wrap, 3);
	snprintf(bad_len, sizeof(bad_len), "\"chunks\":\"%s\"", short_list);
	cases[11].d.chunks = bad_len;
	snprintf(key_chunks, sizeof(key_chunks), "\"chunks\":\"%s\"", wrap);
	cases[12].d.chunks = key_chunks;
	{
		uint8_t rec[21] = { 0 };
		char *b = util_b64enc(rec, sizeof(rec));

		snprintf(cut, sizeof(cut), "\"chunks\":\"%s\"", b);
		free(b);
		cases[15].d.chunks = cut;
	}

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		char *text = make_doc(&cases[i].d, good);
		struct snapshot *s = (struct snapshot *)1;
		int ret = snapshot_parse(text, strlen(text), &s);

		CHECK(ret == cases[i].want, "%s: %d, want %d\n  %s",
		      cases[i].name, ret, cases[i].want, text);
		CHECK(ret ? s == NULL : s != NULL, "%s: *out %p with %d",
		      cases[i].name, (void *)s, ret);
		if (ret == 0 && i == 0) {
			CHECK(s->nfiles == 1 && s->files[0].nchunks == 3 &&
				      s->files[0].chunks[2].len == 50 &&
				      s->files[0].size == 300 &&
				      s->files[0].mode == 420 &&
				      s->files[0].inode == 42 &&
				      s->nroots == 1 && s->time_ns == 17 &&
				      s->end_ns == 18 &&
				      !strcmp(s->host, "h") &&
				      !strcmp(s->type, "tree"),
			      "valid document parsed wrongly");
		}
		snapshot_free(s);
		free(text);
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(raw_cases); i++) {
		struct snapshot *s = NULL;
		int ret = snapshot_parse(raw_cases[i], strlen(raw_cases[i]), &s);

		CHECK(ret == -EBADMSG && !s, "raw '%s': %d", raw_cases[i], ret);
	}
	/* The length argument is honoured: a valid document cut short. */
	{
		char *text = make_doc(&cases[0].d, good);
		struct snapshot *s = NULL;
		int ret = snapshot_parse(text, strlen(text) - 1, &s);

		CHECK(ret == -EBADMSG, "document cut by one byte: %d", ret);
		free(text);
	}
	free(good);
	free(short_list);
	free(wrap);
	printf("hostile JSON: %zu documents\n",
	       SV_ARRAY_SIZE(cases) + SV_ARRAY_SIZE(raw_cases) + 1);
}

/* ---- save and load ---- */

static struct repo *make_repo(void)
{
	uint8_t id[REPO_ID_LEN] = { 0x5a }, master[32] = { 0xa5 };
	struct repo *r = NULL;

	if (repo_open_mem(&r, id, master, NULL)) {
		printf("FAIL: repo_open_mem\n");
		exit(1);
	}
	return r;
}

static struct snapshot *sample(int64_t t)
{
	struct snapshot *s = NULL;
	struct snap_file *f;

	if (snapshot_new(&s))
		exit(1);
	s->time_ns = t;
	s->end_ns = t + 5000000000LL;
	snprintf(s->host, sizeof(s->host), "db-%lld.example", (long long)t);
	snprintf(s->node, sizeof(s->node), "10.0.0.7");
	snprintf(s->cluster, sizeof(s->cluster), "Test Cluster");
	snprintf(s->tag, sizeof(s->tag), "nightly \"quoted\" \\ tag");
	snprintf(s->type, sizeof(s->type), "snapshot");
	snprintf(s->host_id, sizeof(s->host_id),
		 "1f6f8a3e-8b7c-4d4e-9a61-0c9a8b7c6d5e");
	snprintf(s->dc, sizeof(s->dc), "dc1");
	snprintf(s->rack, sizeof(s->rack), "rack1");
	if (snapshot_add_root(s, "/var/lib/cassandra/data") != 0 ||
	    snapshot_add_root(s, "/mnt/disk2/data") != 1)
		exit(1);
	s->schema = strdup("CREATE TABLE ks.t (k int PRIMARY KEY);");
	s->stats = (struct snap_stats){ 4, 5000, 6000, 700, 800, 9, 10, 1 };

	f = snapshot_add_file(s, "ks/t-0123456789abcdef0123456789abcdef/"
				 "nb-1-big-Data.db");
	f->root = 0;
	f->type = SNAP_FILE;
	f->mode = 0644;
	f->mtime_ns = t - 123456789;
	f->size = 3000;
	f->inode = 987654321012ULL;
	f->has_digest = 1;
	memset(f->digest, 0xd1, SV_ID_LEN);
	f->nchunks = 3;
	f->chunks = calloc(3, sizeof(*f->chunks));
	for (int i = 0; i < 3; i++) {
		memset(f->chunks[i].id, 0x30 + i, SV_ID_LEN);
		f->chunks[i].len = 1000;
	}
	snprintf(f->cass.keyspace, sizeof(f->cass.keyspace), "ks");
	snprintf(f->cass.table, sizeof(f->cass.table), "t");
	snprintf(f->cass.table_id, sizeof(f->cass.table_id),
		 "0123456789abcdef0123456789abcdef");
	snprintf(f->cass.sstable, sizeof(f->cass.sstable), "nb-1-big");
	snprintf(f->cass.component, sizeof(f->cass.component), "Data.db");
	snprintf(f->cass.kind, sizeof(f->cass.kind), "snapshot");
	snprintf(f->cass.index_dir, sizeof(f->cass.index_dir), ".idx");

	f = snapshot_add_file(s, "ks/empty");
	f->root = 1;
	f->type = SNAP_FILE;
	f->mode = 0600;
	f->size = 0;

	f = snapshot_add_file(s, "ks");
	f->root = 1;
	f->type = SNAP_DIR;
	f->mode = 0755;
	f->mtime_ns = -1;      /* before 1970 */

	f = snapshot_add_file(s, "ks/link");
	f->root = 0;
	f->type = SNAP_LINK;
	f->mode = 0777;
	f->target = strdup("../elsewhere/file name with spaces");
	return s;
}

static int same_file(const struct snap_file *a, const struct snap_file *b)
{
	if (strcmp(a->path, b->path) || a->root != b->root ||
	    a->type != b->type || a->mode != b->mode ||
	    a->mtime_ns != b->mtime_ns || a->size != b->size ||
	    a->inode != b->inode || a->has_digest != b->has_digest ||
	    (a->has_digest && memcmp(a->digest, b->digest, SV_ID_LEN)) ||
	    a->nchunks != b->nchunks || !a->target != !b->target ||
	    (a->target && strcmp(a->target, b->target)) ||
	    memcmp(&a->cass, &b->cass, sizeof(a->cass)))
		return 0;
	for (uint32_t i = 0; i < a->nchunks; i++)
		if (memcmp(&a->chunks[i], &b->chunks[i], sizeof(a->chunks[i])))
			return 0;
	return 1;
}

static int same_snapshot(const struct snapshot *a, const struct snapshot *b)
{
	if (a->time_ns != b->time_ns || a->end_ns != b->end_ns ||
	    strcmp(a->host, b->host) || strcmp(a->node, b->node) ||
	    strcmp(a->cluster, b->cluster) || strcmp(a->tag, b->tag) ||
	    strcmp(a->type, b->type) || strcmp(a->host_id, b->host_id) ||
	    strcmp(a->dc, b->dc) || strcmp(a->rack, b->rack) ||
	    a->nroots != b->nroots || a->nfiles != b->nfiles ||
	    !a->schema != !b->schema ||
	    (a->schema && strcmp(a->schema, b->schema)) ||
	    memcmp(&a->stats, &b->stats, sizeof(a->stats)))
		return 0;
	for (uint32_t i = 0; i < a->nroots; i++)
		if (strcmp(a->roots[i], b->roots[i]))
			return 0;
	for (size_t i = 0; i < a->nfiles; i++)
		if (!same_file(&a->files[i], &b->files[i])) {
			printf("  file %zu (%s) differs\n", i, a->files[i].path);
			return 0;
		}
	return 1;
}

static void test_save_load(void)
{
	struct repo *r = make_repo();
	struct snapshot *a = sample(1700000000000000000LL);
	struct snapshot *b = sample(1600000000000000000LL), *back = NULL;
	struct snapshot **v = NULL;
	size_t n = 0, damaged = 9, len;
	char name[100], first[65];
	uint8_t *obj;
	int ret;

	ret = snapshot_save(r, a);
	CHECK(ret == 0 && strlen(a->id) == 64, "snapshot_save: %d, id '%s'",
	      ret, a->id);
	snprintf(first, sizeof(first), "%s", a->id);
	snprintf(name, sizeof(name), "snapshots/%s", a->id);
	obj = mem_object(r->up, name, &len);
	CHECK(obj && len > 12 && !memcmp(obj, "SVLT", 4) &&
		      obj[5] == SV_META_SNAPSHOT,
	      "stored snapshot is not a sealed kind-1 object");
	CHECK(obj && !memmem(obj, len, "nb-1-big", 8) &&
		      !memmem(obj, len, "Test Cluster", 12),
	      "plaintext visible in the stored snapshot");

	ret = snapshot_load(r, a->id, &back);
	CHECK(ret == 0 && back && !strcmp(back->id, a->id),
	      "snapshot_load: %d", ret);
	if (back)
		CHECK(same_snapshot(a, back), "loaded snapshot differs");
	snapshot_free(back);
	back = NULL;

	ret = snapshot_save(r, a);
	CHECK(ret == 0 && strcmp(a->id, first),
	      "second save reused the id (%d)", ret);
	ret = snapshot_save(r, b);
	CHECK(ret == 0, "save b: %d", ret);

	ret = snapshot_load(r, "00000000000000000000000000000000000000000000"
			       "00000000000000000000", &back);
	CHECK(ret == -ENOENT && !back, "load of a missing snapshot: %d", ret);

	/* A damaged object and a foreign name next to them. */
	if (r->up->ops->put(r->up, "snapshots/0123456789012345678901234567"
				   "890123456789012345678901234567890123",
			    "garbage", 7, 0) ||
	    r->up->ops->put(r->up, "snapshots/short", "x", 1, 0))
		exit(1);
	util_verbosity = -1;
	ret = snapshot_list(r, &v, &n, &damaged);
	CHECK(ret == 0 && n == 3 && damaged == 1,
	      "snapshot_list: %d, %zu snapshots, %zu damaged (want 3, 1)",
	      ret, n, damaged);
	if (ret == 0 && n == 3) {
		CHECK(v[0]->time_ns == b->time_ns &&
			      v[1]->time_ns == a->time_ns &&
			      v[2]->time_ns == a->time_ns,
		      "list not sorted by time");
		CHECK(same_snapshot(v[0], b), "listed b differs");
		CHECK(snapshot_find(v, n, "latest") == 2, "latest is not last");
	}
	snapshot_list_free(v, n);

	/* A snapshot whose plaintext is authentic but malformed. */
	{
		const char *bad = "{\"version\":1,\"time_ns\":1,\"end_ns\":1,"
				  "\"roots\":[\"/\"],\"files\":[{\"path\":"
				  "\"../../etc/passwd\",\"root\":0,\"type\":"
				  "\"d\",\"mode\":420,\"mtime_ns\":0,\"size\":0,"
				  "\"inode\":1}]}";
		ret = repo_put_meta(r, "snapshots/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				    SV_META_SNAPSHOT, bad, strlen(bad), 0);
		ret = ret ? ret : snapshot_load(r, "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
						   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
						   "aaaaaaa", &back);
		CHECK(ret == -EBADMSG && !back,
		      "authentic snapshot with a path escaping its root: %d",
		      ret);
	}
	snapshot_free(a);
	snapshot_free(b);
	snapshot_free(NULL);
	repo_close(r);
	printf("save/load/list round trip checked\n");
}

static void test_find(void)
{
	static const char *ids[] = {
		"abcd0000000000000000000000000000000000000000000000000000000000aa",
		"abcd1111111111111111111111111111111111111111111111111111111111bb",
		"ef01000000000000000000000000000000000000000000000000000000000000",
	};
	struct snapshot s[3], *v[3];
	static const struct {
		const char *what;
		int want;
	} cases[] = {
		{ "latest", 2 },
		{ "abcd0", 0 },
		{ "abcd1", 1 },
		{ "ef01", 2 },
		{ "abcd", -EINVAL },        /* ambiguous */
		{ "abc", -EINVAL },         /* too short */
		{ "", -EINVAL },
		{ "ffff", -ENOENT },
		{ "abcd00000000000000000000000000000000000000000000000000000000"
		  "00aa", 0 },
		{ "abcd00000000000000000000000000000000000000000000000000000000"
		  "00aa0", -ENOENT },       /* longer than any id */
		{ "ABCD0", -ENOENT },
	};

	memset(s, 0, sizeof(s));
	for (int i = 0; i < 3; i++) {
		snprintf(s[i].id, sizeof(s[i].id), "%s", ids[i]);
		v[i] = &s[i];
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		int got = snapshot_find(v, 3, cases[i].what);

		CHECK(got == cases[i].want, "snapshot_find(\"%s\") = %d, want %d",
		      cases[i].what, got, cases[i].want);
	}
	CHECK(snapshot_find(v, 0, "latest") == -ENOENT,
	      "latest of no snapshots");
	CHECK(snapshot_find(v, 0, "abcd") == -ENOENT, "prefix of none");
	printf("snapshot_find: %zu cases\n", SV_ARRAY_SIZE(cases) + 2);
}

int main(void)
{
	test_path_ok();
	test_hostile();
	test_save_load();
	test_find();
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
