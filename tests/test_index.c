/*
 * test_index.c - the chunk index (engine/index.h, FORMAT.md section 6).
 *
 * Claim semantics (dedup needs id and length equal; pending chunks are not
 * found by lookup), commits by index_add_pack (first location wins when a
 * chunk is stored twice), one million entries forcing the table to grow
 * with every one found again, ids sharing their first 8 bytes (the hash
 * slot), index_write_new + index_load round trips through one in-memory
 * store, damaged index objects (failing, or skipped in tolerate mode), and
 * a table of malformed index plaintexts fed to index_parse_object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/index.h"
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

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next64(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static void rand_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(next64() >> 56);
}

static struct index *new_index(void)
{
	struct index *x = NULL;

	if (index_create(&x)) {
		printf("FAIL: index_create\n");
		exit(1);
	}
	return x;
}

static struct repo *make_repo(void)
{
	uint8_t id[REPO_ID_LEN] = { 1, 2, 3 }, master[32] = { 9, 8, 7 };
	struct repo *r = NULL;

	if (repo_open_mem(&r, id, master, NULL)) {
		printf("FAIL: repo_open_mem\n");
		exit(1);
	}
	return r;
}

/* n entries laid out back to back from offset 0. */
static struct pack_entry *make_entries(size_t n, uint64_t *size)
{
	struct pack_entry *e = calloc(n ? n : 1, sizeof(*e));
	uint64_t off = 0;

	for (size_t i = 0; i < n; i++) {
		rand_bytes(e[i].id, SV_ID_LEN);
		e[i].off = off;
		e[i].raw_len = 1000 + (uint32_t)(next64() % 100000);
		e[i].stored_len = e[i].raw_len / 2 + 28;
		e[i].codec = (uint8_t)(i & 1);
		off += e[i].stored_len;
	}
	*size = off + 100;
	return e;
}

static int loc_matches(struct index *x, const struct pack_entry *e,
		       const uint8_t *oid)
{
	struct index_loc loc;

	if (index_lookup(x, e->id, e->raw_len, &loc))
		return 0;
	return loc.off == e->off && loc.stored_len == e->stored_len &&
	       loc.raw_len == e->raw_len && loc.codec == e->codec &&
	       loc.pack < index_npacks(x) &&
	       !memcmp(index_pack_oid(x, loc.pack), oid, SV_OID_LEN);
}

static void test_claim(void)
{
	struct index *x = new_index();
	struct pack_entry e[3];
	struct index_loc loc;
	uint8_t oid[SV_OID_LEN], oid2[SV_OID_LEN];
	uint64_t size;
	int ret;

	memset(e, 0, sizeof(e));
	rand_bytes(e[0].id, SV_ID_LEN);
	e[0].raw_len = 100;
	e[0].stored_len = 128;
	e[1] = e[0];
	e[1].raw_len = 101;            /* same id, other length */
	e[1].off = 128;
	e[1].stored_len = 129;
	rand_bytes(e[2].id, SV_ID_LEN);
	e[2].raw_len = 100;
	e[2].off = 257;
	e[2].stored_len = 40;
	size = 297;
	rand_bytes(oid, sizeof(oid));
	rand_bytes(oid2, sizeof(oid2));

	CHECK(index_claim(x, e[0].id, 100) == 1, "first claim is not 1");
	CHECK(index_claim(x, e[0].id, 100) == 0, "second claim is not 0");
	CHECK(index_claim(x, e[0].id, 101) == 1,
	      "same id, other length: not a new chunk");
	CHECK(index_claim(x, e[0].id, 101) == 0, "repeat with length 101");
	CHECK(index_lookup(x, e[0].id, 100, &loc) == -ENOENT,
	      "a pending chunk is found by lookup");
	CHECK(index_nentries(x) == 0, "pending chunks counted as committed");

	ret = index_add_pack(x, oid, size, e, 3, 1);
	CHECK(ret == 0, "add_pack: %d", ret);
	CHECK(index_npacks(x) == 1 && index_pack_size(x, 0) == size &&
		      !memcmp(index_pack_oid(x, 0), oid, SV_OID_LEN),
	      "pack table after add_pack");
	CHECK(index_nentries(x) == 3, "%zu committed, want 3",
	      index_nentries(x));
	for (int i = 0; i < 3; i++)
		CHECK(loc_matches(x, &e[i], oid), "entry %d not found as added",
		      i);
	CHECK(index_claim(x, e[0].id, 100) == 0, "claim of a committed chunk");
	CHECK(index_claim(x, e[2].id, 100) == 0,
	      "claim of a chunk committed without claim");
	CHECK(index_lookup(x, e[0].id, 99, &loc) == -ENOENT,
	      "lookup with the wrong length found something");
	{
		uint8_t unknown[SV_ID_LEN];

		rand_bytes(unknown, sizeof(unknown));
		CHECK(index_lookup(x, unknown, 100, &loc) == -ENOENT,
		      "unknown id found");
	}
	/* The same chunk in a second pack (two writers raced): the first
	 * location stays. */
	{
		struct pack_entry dup = e[0];

		dup.off = 0;
		dup.stored_len = 500;
		ret = index_add_pack(x, oid2, 600, &dup, 1, 1);
		CHECK(ret == 0 && index_npacks(x) == 2, "second pack: %d", ret);
		CHECK(loc_matches(x, &e[0], oid), "first location replaced");
		CHECK(index_nentries(x) == 3, "a duplicate counted twice");
	}
	/* An empty pack is recorded. */
	ret = index_add_pack(x, oid2, 8, NULL, 0, 0);
	CHECK(ret == 0 && index_npacks(x) == 3, "empty pack: %d", ret);
	index_destroy(x);
	index_destroy(NULL);
	printf("claim/lookup/add_pack semantics checked\n");
}

static int count_cb(void *arg, const struct pack_entry *e, uint32_t pack)
{
	size_t *n = arg;

	(void)e;
	(void)pack;
	(*n)++;
	return 0;
}

static int stop_cb(void *arg, const struct pack_entry *e, uint32_t pack)
{
	(void)arg;
	(void)e;
	(void)pack;
	return 42;
}

static void test_many(void)
{
	const size_t total = 1000000, per_pack = 1000;
	struct index *x = new_index();
	struct pack_entry *all = malloc(total * sizeof(*all));
	uint8_t (*oids)[SV_OID_LEN] = malloc(total / per_pack * SV_OID_LEN);
	size_t missing = 0, claimed = 0, seen = 0;

	for (size_t p = 0; p < total / per_pack; p++) {
		uint64_t size;
		struct pack_entry *e = make_entries(per_pack, &size);

		rand_bytes(oids[p], SV_OID_LEN);
		for (size_t i = 0; i < per_pack; i++)
			claimed += index_claim(x, e[i].id, e[i].raw_len) == 1;
		if (index_add_pack(x, oids[p], size, e, per_pack, p & 1)) {
			printf("FAIL: add_pack %zu\n", p);
			exit(1);
		}
		memcpy(all + p * per_pack, e, per_pack * sizeof(*e));
		free(e);
	}
	CHECK(claimed == total, "%zu of %zu claims returned 1", claimed, total);
	CHECK(index_nentries(x) == total, "%zu entries, want %zu",
	      index_nentries(x), total);
	for (size_t i = 0; i < total; i++)
		missing += !loc_matches(x, &all[i], oids[i / per_pack]);
	CHECK(missing == 0, "%zu of %zu entries not found after growth",
	      missing, total);
	CHECK(index_foreach(x, count_cb, &seen) == 0 && seen == total,
	      "foreach visited %zu, want %zu", seen, total);
	CHECK(index_foreach(x, stop_cb, NULL) == 42,
	      "foreach does not return the callback's stop value");
	index_destroy(x);
	free(all);
	free(oids);
	printf("1M entries: all found after growth\n");

	/* Ids that share their first 8 bytes land in one probe run. */
	x = new_index();
	{
		struct pack_entry *e = calloc(20000, sizeof(*e));
		uint8_t oid[SV_OID_LEN] = { 1 };
		size_t bad = 0;

		for (size_t i = 0; i < 20000; i++) {
			memset(e[i].id, 0xab, 8);
			rand_bytes(e[i].id + 8, 8);
			e[i].off = i * 30;
			e[i].stored_len = 30;
			e[i].raw_len = (uint32_t)(i % 3);
		}
		if (index_add_pack(x, oid, 20000 * 30, e, 20000, 0))
			exit(1);
		for (size_t i = 0; i < 20000; i++)
			bad += !loc_matches(x, &e[i], oid);
		CHECK(bad == 0, "%zu colliding ids not found", bad);
		free(e);
	}
	index_destroy(x);
}

struct names {
	char v[16][128];
	size_t n;
};

static int names_cb(void *arg, const char *name, uint64_t size,
		    int64_t mtime)
{
	struct names *l = arg;

	(void)size;
	(void)mtime;
	if (l->n < 16)
		snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static void list_index(struct repo *r, struct names *l)
{
	l->n = 0;
	if (r->up->ops->list(r->up, "index/", names_cb, l))
		exit(1);
}

static void test_store(void)
{
	struct repo *r = make_repo();
	struct index *x = new_index(), *y;
	struct pack_entry *e1, *e2, *e3;
	uint8_t o1[SV_OID_LEN], o2[SV_OID_LEN], o3[SV_OID_LEN];
	uint64_t s1, s2, s3;
	struct names l;
	size_t nobjs = 99, bad = 0;
	int ret;

	e1 = make_entries(500, &s1);
	e2 = make_entries(3, &s2);
	e3 = make_entries(7, &s3);
	rand_bytes(o1, sizeof(o1));
	rand_bytes(o2, sizeof(o2));
	rand_bytes(o3, sizeof(o3));

	ret = index_write_new(x, r);
	list_index(r, &l);
	CHECK(ret == 0 && l.n == 0, "write_new with nothing new: %d, %zu "
	      "objects", ret, l.n);
	if (index_add_pack(x, o1, s1, e1, 500, 1) ||
	    index_add_pack(x, o2, s2, e2, 3, 1) ||
	    index_add_pack(x, o3, s3, e3, 7, 0))
		exit(1);
	ret = index_write_new(x, r);
	list_index(r, &l);
	CHECK(ret == 0 && l.n == 1, "write_new: %d, %zu objects", ret, l.n);
	CHECK(strlen(l.v[0]) == 6 + 64, "index object name '%s'", l.v[0]);
	ret = index_write_new(x, r);
	list_index(r, &l);
	CHECK(ret == 0 && l.n == 1, "second write_new wrote again (%zu)",
	      l.n);

	y = new_index();
	ret = index_load(y, r, 0, &nobjs);
	CHECK(ret == 0 && nobjs == 1, "index_load: %d, %zu objects", ret,
	      nobjs);
	CHECK(index_npacks(y) == 2 && index_nentries(y) == 503,
	      "loaded %zu packs, %zu entries; want 2 and 503 (the pack "
	      "added with is_new unset is not written)", index_npacks(y),
	      index_nentries(y));
	for (size_t i = 0; i < 500; i++)
		bad += !loc_matches(y, &e1[i], o1);
	for (size_t i = 0; i < 3; i++)
		bad += !loc_matches(y, &e2[i], o2);
	CHECK(bad == 0, "%zu entries differ after the round trip", bad);
	for (uint32_t p = 0; p < index_npacks(y); p++) {
		const uint8_t *oid = index_pack_oid(y, p);
		uint64_t want = !memcmp(oid, o1, SV_OID_LEN) ? s1 :
				!memcmp(oid, o2, SV_OID_LEN) ? s2 : 0;

		CHECK(index_pack_size(y, p) == want, "pack %u size %llu, want "
		      "%llu", p, (unsigned long long)index_pack_size(y, p),
		      (unsigned long long)want);
	}
	/* Loaded packs are not "new": writing again adds nothing. */
	ret = index_write_new(y, r);
	list_index(r, &l);
	CHECK(ret == 0 && l.n == 1, "write_new after load wrote %zu", l.n);
	index_destroy(y);

	/* A second object, then damage the first. */
	if (index_add_pack(x, o3, s3, e3, 7, 1) || index_write_new(x, r))
		exit(1);
	list_index(r, &l);
	CHECK(l.n == 2, "%zu index objects, want 2", l.n);
	{
		size_t len;
		uint8_t *obj = mem_object(r->up, l.v[0], &len);
		int second_has_o3;

		obj[len - 5] ^= 0x40;
		y = new_index();
		ret = index_load(y, r, 0, &nobjs);
		CHECK(ret == -EBADMSG, "load with a damaged object: %d", ret);
		index_destroy(y);
		y = new_index();
		ret = index_load(y, r, 1, &nobjs);
		CHECK(ret == 0 && nobjs == 1,
		      "tolerant load: %d, %zu objects (want 0, 1)", ret, nobjs);
		/* The intact object is the one written second (o3) or first,
		 * depending on list order: its packs are there. */
		second_has_o3 = index_npacks(y) == 1;
		CHECK(second_has_o3 ? loc_matches(y, &e3[0], o3) :
				      loc_matches(y, &e1[0], o1),
		      "tolerant load lost the intact object");
		index_destroy(y);
		obj[len - 5] ^= 0x40;
	}

	/* Authentic but malformed plaintexts are damage too. */
	{
		uint8_t pt[4 + SV_OID_LEN + 12 + PACK_ENTRY_LEN];

		sv_put_le32(pt, 1);
		memcpy(pt + 4, o1, SV_OID_LEN);
		sv_put_le64(pt + 4 + SV_OID_LEN, 10);   /* pack too small */
		sv_put_le32(pt + 4 + SV_OID_LEN + 8, 1);
		pack_entry_put(pt + 4 + SV_OID_LEN + 12, &e1[1]);
		ret = repo_put_meta(r, "index/zz", SV_META_INDEX, pt,
				    sizeof(pt), 0);
		y = new_index();
		ret = ret ? ret : index_load(y, r, 0, &nobjs);
		CHECK(ret == -EBADMSG, "entry beyond its pack: %d", ret);
		index_destroy(y);
		/* Right content, wrong kind. */
		ret = repo_put_meta(r, "index/zz", SV_META_SNAPSHOT, "\0\0\0\0",
				    4, 0);
		y = new_index();
		ret = ret ? ret : index_load(y, r, 0, &nobjs);
		CHECK(ret == -EBADMSG, "snapshot-kind object under index/: %d",
		      ret);
		index_destroy(y);
		r->up->ops->remove(r->up, "index/zz");
	}
	index_destroy(x);
	free(e1);
	free(e2);
	free(e3);
	repo_close(r);
	printf("write_new/load round trip and damaged objects checked\n");
}

/* ---- malformed plaintexts ---- */

struct buf {
	uint8_t d[4096];
	size_t n;
};

static void put32(struct buf *b, uint32_t v)
{
	sv_put_le32(b->d + b->n, v);
	b->n += 4;
}

static void put64(struct buf *b, uint64_t v)
{
	sv_put_le64(b->d + b->n, v);
	b->n += 8;
}

static void put_pack(struct buf *b, uint8_t tag, uint64_t size, uint32_t n)
{
	memset(b->d + b->n, tag, SV_OID_LEN);
	b->n += SV_OID_LEN;
	put64(b, size);
	put32(b, n);
}

static void put_entry(struct buf *b, uint8_t tag, uint64_t off,
		      uint32_t stored, uint32_t raw)
{
	struct pack_entry e = { .off = off, .stored_len = stored,
				.raw_len = raw, .codec = 1 };

	memset(e.id, tag, SV_ID_LEN);
	pack_entry_put(b->d + b->n, &e);
	b->n += PACK_ENTRY_LEN;
}

static void test_parse_table(void)
{
	static const struct {
		const char *name;
		int want;
		size_t want_entries;
	} names[] = {
		{ "empty input", -EBADMSG, 0 },
		{ "3 bytes", -EBADMSG, 0 },
		{ "zero packs", 0, 0 },
		{ "zero packs + trailing byte", -EBADMSG, 0 },
		{ "one pack, no entries", 0, 0 },
		{ "one pack, two entries", 0, 2 },
		{ "pack count says 2, has 1", -EBADMSG, 0 },
		{ "entry count says 3, has 2", -EBADMSG, 0 },
		{ "entry count 0xffffffff", -EBADMSG, 0 },
		{ "entry past the pack end", -EBADMSG, 0 },
		{ "entry offset wraps around 2^64", -EBADMSG, 0 },
		{ "pack header cut short", -EBADMSG, 0 },
		{ "trailing bytes after the packs", -EBADMSG, 0 },
		{ "entry ends exactly at the pack end", 0, 1 },
	};
	struct buf b;

	for (size_t i = 0; i < SV_ARRAY_SIZE(names); i++) {
		struct index *x = new_index();
		int ret;

		memset(&b, 0, sizeof(b));
		switch (i) {
		case 0:
			break;
		case 1:
			b.n = 3;
			break;
		case 2:
			put32(&b, 0);
			break;
		case 3:
			put32(&b, 0);
			b.n++;
			break;
		case 4:
			put32(&b, 1);
			put_pack(&b, 1, 100, 0);
			break;
		case 5:
			put32(&b, 1);
			put_pack(&b, 1, 100, 2);
			put_entry(&b, 2, 0, 40, 50);
			put_entry(&b, 3, 40, 40, 50);
			break;
		case 6:
			put32(&b, 2);
			put_pack(&b, 1, 100, 0);
			break;
		case 7:
			put32(&b, 1);
			put_pack(&b, 1, 100, 3);
			put_entry(&b, 2, 0, 40, 50);
			put_entry(&b, 3, 40, 40, 50);
			break;
		case 8:
			put32(&b, 1);
			put_pack(&b, 1, 100, 0xffffffffu);
			put_entry(&b, 2, 0, 40, 50);
			break;
		case 9:
			put32(&b, 1);
			put_pack(&b, 1, 100, 1);
			put_entry(&b, 2, 70, 40, 50);
			break;
		case 10:
			put32(&b, 1);
			put_pack(&b, 1, 100, 1);
			put_entry(&b, 2, UINT64_MAX - 10, 40, 50);
			break;
		case 11:
			put32(&b, 1);
			put_pack(&b, 1, 100, 0);
			b.n -= 3;
			break;
		case 12:
			put32(&b, 1);
			put_pack(&b, 1, 100, 1);
			put_entry(&b, 2, 0, 40, 50);
			b.n += 7;
			break;
		case 13:
			put32(&b, 1);
			put_pack(&b, 1, 100, 1);
			put_entry(&b, 2, 60, 40, 50);
			break;
		default:
			break;
		}
		ret = index_parse_object(x, b.d, b.n);
		CHECK(ret == names[i].want &&
			      (ret || index_nentries(x) == names[i].want_entries),
		      "%s: %d with %zu entries, want %d with %zu",
		      names[i].name, ret, index_nentries(x), names[i].want,
		      names[i].want_entries);
		index_destroy(x);
	}
	printf("malformed index plaintexts: %zu cases\n",
	       SV_ARRAY_SIZE(names));
}

int main(void)
{
	test_claim();
	test_parse_table();
	test_store();
	test_many();
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
