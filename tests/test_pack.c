/*
 * test_pack.c - the packer and pack headers (engine/pack.h, FORMAT.md 5).
 *
 * With the in-memory backend: blobs of three groups through a packer with
 * max_open 2 (the least recently used pack is finished for a new group)
 * and 64 KiB parts (blobs straddle parts); packs finished by size; every
 * pack stored under the name its header carries, with the size the index
 * records; pack_read_header returning exactly the blobs added, in order,
 * one group per pack; every blob opening from the bytes at its offset; a
 * header larger than the first 64 KiB tail read. Damaged packs (trailer
 * magic, trailer length, a flipped header byte, a header copied into
 * another pack, short objects) are -EBADMSG, and pack_parse_header rejects
 * a table of malformed plaintexts. Injected backend failures in put_part
 * and in complete make packer_add/packer_flush fail with the error, leave
 * no object and no index entry behind, and stay sticky.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codecs/aead.h"
#include "codecs/hash.h"
#include "engine/blob.h"
#include "engine/pack.h"
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

#define PART (64u << 10)
#define MAX_CHUNK (128u << 10)

static uint64_t rng = 0x1234567887654321ULL;

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

static struct repo *make_repo(uint64_t pack_size)
{
	uint8_t id[REPO_ID_LEN] = { 0xa1, 0xb2 }, master[32] = { 0x55 };
	struct repo_params p;
	struct repo *r = NULL;

	repo_default_params(&p);
	p.pack_size = pack_size;
	if (repo_open_mem(&r, id, master, &p)) {
		printf("FAIL: repo_open_mem\n");
		exit(1);
	}
	return r;
}

/* One blob handed to the packer, remembered for verification. */
struct blob_rec {
	uint64_t group;
	struct pack_entry e;
	uint8_t *raw;
	uint8_t *sealed;
	int found;
};

static struct blobctx *bctx;
static int force_random;   /* 1: every blob incompressible (exact sizes) */

static void make_blob(struct repo *r, struct blob_rec *b, uint64_t group,
		      size_t len)
{
	enum sv_codec codec;
	ssize_t n;

	memset(b, 0, sizeof(*b));
	b->group = group;
	b->raw = malloc(len ? len : 1);
	/* Half the blobs compress, half do not. */
	if ((next64() & 1) || force_random) {
		rand_bytes(b->raw, len);
	} else {
		/* Text unique to this blob: the packer does not dedup, so
		 * two equal chunks would be ambiguous to verify_packs(). */
		uint64_t tag = next64();

		for (size_t i = 0; i < len; i++)
			b->raw[i] = (uint8_t)("abcdefgh"[i % 8] + (i / 4096));
		memcpy(b->raw, &tag, SV_MIN(len, sizeof(tag)));
	}
	b->sealed = malloc(blob_bound(len));
	hash_chunk_id(r->id_secret, b->raw, len, b->e.id);
	n = blob_seal(bctx, b->e.id, b->raw, len, b->sealed, &codec);
	if (n < 0) {
		printf("FAIL: blob_seal: %zd\n", n);
		exit(1);
	}
	b->e.stored_len = (uint32_t)n;
	b->e.raw_len = (uint32_t)len;
	b->e.codec = (uint8_t)codec;
}

static void free_blobs(struct blob_rec *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(b[i].raw);
		free(b[i].sealed);
	}
}

struct names {
	char (*v)[128];
	size_t n, cap;
};

static int names_cb(void *arg, const char *name, uint64_t size,
		    int64_t mtime)
{
	struct names *l = arg;

	(void)size;
	(void)mtime;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static size_t count_prefix(struct repo *r, const char *prefix)
{
	struct names l = { 0 };
	size_t n;

	if (r->up->ops->list(r->up, prefix, names_cb, &l))
		exit(1);
	n = l.n;
	free(l.v);
	return n;
}

static struct blob_rec *find_blob(struct blob_rec *b, size_t n,
				  const uint8_t *id, uint32_t raw_len)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(b[i].e.id, id, SV_ID_LEN) && b[i].e.raw_len == raw_len)
			return &b[i];
	return NULL;
}

/*
 * Check every pack in x against the blobs: name and size in the store,
 * header entries, one group per pack, blob bytes at their offsets, and
 * each entry's index location. Returns the number of blobs seen.
 */
static size_t verify_packs(struct repo *r, struct index *x,
			   struct blob_rec *b, size_t nb)
{
	size_t seen = 0;
	uint8_t *out = malloc(MAX_CHUNK);

	for (uint32_t p = 0; p < index_npacks(x); p++) {
		const uint8_t *oid = index_pack_oid(x, p);
		uint64_t size = index_pack_size(x, p);
		struct pack_entry *e = NULL;
		char name[100], hex[65];
		size_t n = 0, len = 0;
		uint8_t *obj;
		uint64_t group = UINT64_MAX, end = 0;
		int ret;

		index_pack_name(oid, name, sizeof(name));
		sv_hex(hex, oid, SV_OID_LEN);
		CHECK(!strncmp(name, "data/", 5) && !strncmp(name + 5, hex, 2) &&
			      name[7] == '/' && !strcmp(name + 8, hex),
		      "pack name %s", name);
		obj = mem_object(r->up, name, &len);
		CHECK(obj && len == size, "pack %s: %s, size %zu, index says "
		      "%llu", name, obj ? "stored" : "missing", len,
		      (unsigned long long)size);
		if (!obj)
			continue;
		CHECK(!memcmp(obj + len - 4, PACK_MAGIC, 4),
		      "pack %s: no trailer magic", name);
		ret = pack_read_header(r, oid, size, &e, &n);
		CHECK(ret == 0 && n > 0, "pack_read_header %s: %d, %zu entries",
		      name, ret, n);
		for (size_t i = 0; i < n; i++) {
			struct blob_rec *br = find_blob(b, nb, e[i].id,
							e[i].raw_len);
			struct index_loc loc;
			ssize_t got;

			CHECK(br != NULL, "%s entry %zu is no blob we added",
			      name, i);
			if (!br)
				continue;
			CHECK(!br->found, "blob in two packs");
			br->found = 1;
			seen++;
			if (group == UINT64_MAX)
				group = br->group;
			CHECK(br->group == group, "%s mixes groups %llu and "
			      "%llu", name, (unsigned long long)group,
			      (unsigned long long)br->group);
			CHECK(e[i].off == end &&
				      e[i].stored_len == br->e.stored_len &&
				      e[i].codec == br->e.codec,
			      "%s entry %zu: off %llu (want %llu), stored %u "
			      "(want %u)", name, i,
			      (unsigned long long)e[i].off,
			      (unsigned long long)end, e[i].stored_len,
			      br->e.stored_len);
			end = e[i].off + e[i].stored_len;
			CHECK(!memcmp(obj + e[i].off, br->sealed,
				      e[i].stored_len),
			      "%s entry %zu: stored bytes differ", name, i);
			got = blob_open(bctx, e[i].id, e[i].raw_len,
					(enum sv_codec)e[i].codec, obj + e[i].off,
					e[i].stored_len, out);
			CHECK(got == (ssize_t)br->e.raw_len &&
				      !memcmp(out, br->raw, br->e.raw_len),
			      "%s entry %zu does not open: %zd", name, i, got);
			CHECK(index_lookup(x, e[i].id, e[i].raw_len, &loc) == 0 &&
				      loc.pack == p && loc.off == e[i].off,
			      "%s entry %zu: index location differs", name, i);
		}
		/* Blobs, then the sealed header, then the 8-byte trailer. */
		CHECK(end + sv_get_le32(obj + len - 8) + PACK_TRAILER_LEN == len,
		      "%s: blobs end at %llu, header %u, size %zu", name,
		      (unsigned long long)end, sv_get_le32(obj + len - 8), len);
		free(e);
	}
	free(out);
	return seen;
}

static void test_groups(void)
{
	struct repo *r = make_repo(300u << 10);
	struct index *x = NULL;
	struct packer *p = NULL;
	struct blob_rec b[200];
	size_t nb = 0, seen;
	uint64_t raw = 0, stored = 0;
	int ret;

	if (index_create(&x) || packer_create(&p, r, x, 2, PART, 4))
		exit(1);
	CHECK(packer_memory(p) == 4 * PART, "packer_memory %zu",
	      packer_memory(p));

	/* g1, g2, g1, then g3: g2 is the least recently used and must be
	 * the pack that is finished to make room. */
	make_blob(r, &b[nb], 1, 5000);
	ret = packer_add(p, 1, &b[nb].e, b[nb].sealed);
	nb++;
	make_blob(r, &b[nb], 2, 7000);
	ret |= packer_add(p, 2, &b[nb].e, b[nb].sealed);
	nb++;
	make_blob(r, &b[nb], 1, 9000);
	ret |= packer_add(p, 1, &b[nb].e, b[nb].sealed);
	nb++;
	CHECK(ret == 0 && packer_stats(p)->packs == 0,
	      "two groups fit in two open packs");
	make_blob(r, &b[nb], 3, 3000);
	ret = packer_add(p, 3, &b[nb].e, b[nb].sealed);
	nb++;
	CHECK(ret == 0 && packer_stats(p)->packs == 1 && index_npacks(x) == 1,
	      "third group did not finish one pack (%llu)",
	      (unsigned long long)packer_stats(p)->packs);
	{
		struct index_loc loc;

		CHECK(index_lookup(x, b[1].e.id, b[1].e.raw_len, &loc) == 0,
		      "the LRU pack (group 2) was not the one finished");
		CHECK(index_lookup(x, b[0].e.id, b[0].e.raw_len, &loc) ==
			      -ENOENT,
		      "group 1 (recently used) was finished");
	}

	/* Many more blobs of varied sizes; packs fill up by size. */
	while (nb < SV_ARRAY_SIZE(b)) {
		uint64_t g = 1 + next64() % 3;
		size_t len = 1 + (size_t)(next64() % (MAX_CHUNK - 1));

		if (nb % 10 == 0)
			len = MAX_CHUNK;
		make_blob(r, &b[nb], g, len);
		ret = packer_add(p, g, &b[nb].e, b[nb].sealed);
		if (ret) {
			CHECK(0, "packer_add: %d", ret);
			break;
		}
		nb++;
	}
	ret = packer_flush(p);
	CHECK(ret == 0, "packer_flush: %d", ret);
	ret = packer_flush(p);
	CHECK(ret == 0, "second packer_flush: %d", ret);
	for (size_t i = 0; i < nb; i++) {
		raw += b[i].e.raw_len;
		stored += b[i].e.stored_len;
	}
	CHECK(packer_stats(p)->blobs == nb &&
		      packer_stats(p)->raw_bytes == raw &&
		      packer_stats(p)->blob_bytes == stored,
	      "stats: %llu blobs, %llu raw, %llu stored; want %zu, %llu, %llu",
	      (unsigned long long)packer_stats(p)->blobs,
	      (unsigned long long)packer_stats(p)->raw_bytes,
	      (unsigned long long)packer_stats(p)->blob_bytes, nb,
	      (unsigned long long)raw, (unsigned long long)stored);
	CHECK(packer_stats(p)->packs == index_npacks(x) &&
		      count_prefix(r, "data/") == index_npacks(x),
	      "%llu packs counted, %zu indexed, %zu stored",
	      (unsigned long long)packer_stats(p)->packs, index_npacks(x),
	      count_prefix(r, "data/"));
	CHECK(index_npacks(x) >= 10, "only %zu packs for ~13 MB at 300 KiB",
	      index_npacks(x));
	for (uint32_t i = 0; i < index_npacks(x); i++)
		CHECK(index_pack_size(x, i) < (300u << 10) + MAX_CHUNK + 65536,
		      "pack %u of %llu bytes exceeds the target by more than "
		      "a blob", i, (unsigned long long)index_pack_size(x, i));
	seen = verify_packs(r, x, b, nb);
	CHECK(seen == nb, "%zu of %zu blobs found in packs", seen, nb);
	packer_destroy(p);
	packer_destroy(NULL);
	CHECK(count_prefix(r, "data/") == index_npacks(x),
	      "destroy after flush removed packs");
	index_destroy(x);
	free_blobs(b, nb);
	repo_close(r);
	printf("packer: %zu blobs in 3 groups, LRU, sizes and headers "
	       "checked\n", nb);
}

/* A pack whose header is larger than the 64 KiB first tail read. */
static void test_big_header(void)
{
	struct repo *r = make_repo(64u << 20);
	struct index *x = NULL;
	struct packer *p = NULL;
	enum { N = 5000 };
	struct blob_rec *b = calloc(N, sizeof(*b));
	int ret = 0;

	if (index_create(&x) || packer_create(&p, r, x, 1, PART, 2))
		exit(1);
	for (size_t i = 0; i < N && !ret; i++) {
		make_blob(r, &b[i], 7, 8 + i % 50);
		ret = packer_add(p, 7, &b[i].e, b[i].sealed);
	}
	ret = ret ? ret : packer_flush(p);
	CHECK(ret == 0 && index_npacks(x) == 1, "big header pack: %d", ret);
	CHECK(verify_packs(r, x, b, N) == N, "big header: blobs missing");
	{
		size_t len;
		char name[100];
		uint8_t *obj;

		index_pack_name(index_pack_oid(x, 0), name, sizeof(name));
		obj = mem_object(r->up, name, &len);
		CHECK(obj && sv_get_le32(obj + len - 8) > 65536,
		      "header is only %u bytes", obj ? sv_get_le32(obj + len - 8)
						     : 0);
	}
	packer_destroy(p);
	index_destroy(x);
	free_blobs(b, N);
	free(b);
	repo_close(r);
	printf("header over 64 KiB read back\n");
}

/* ---- damaged packs ---- */

static int read_copy(struct repo *r, const uint8_t *oid, uint64_t size,
		     const uint8_t *bytes, size_t len)
{
	char name[100];
	struct pack_entry *e = NULL;
	size_t n = 0;
	int ret;

	index_pack_name(oid, name, sizeof(name));
	if (r->up->ops->put(r->up, name, bytes, len, 0))
		exit(1);
	ret = pack_read_header(r, oid, size, &e, &n);
	if (ret == 0 && (!e || !n))
		ret = -1000;
	if (ret && (e || n))
		ret = -1001;   /* failure must not hand out entries */
	free(e);
	r->up->ops->remove(r->up, name);
	return ret;
}

static void test_damage(void)
{
	struct repo *r = make_repo(1u << 20);
	struct index *x = NULL;
	struct packer *p = NULL;
	struct blob_rec b[5];
	uint8_t oid[SV_OID_LEN], other[SV_OID_LEN], *obj, *copy;
	struct pack_entry *e = NULL;
	char name[100];
	size_t len, n, bad = 0, tried = 0;
	uint32_t hlen;
	int ret;

	if (index_create(&x) || packer_create(&p, r, x, 1, PART, 2))
		exit(1);
	for (size_t i = 0; i < SV_ARRAY_SIZE(b); i++) {
		make_blob(r, &b[i], 1, 3000 + 100 * i);
		if (packer_add(p, 1, &b[i].e, b[i].sealed))
			exit(1);
	}
	if (packer_flush(p) || index_npacks(x) != 1)
		exit(1);
	memcpy(oid, index_pack_oid(x, 0), SV_OID_LEN);
	index_pack_name(oid, name, sizeof(name));
	obj = mem_object(r->up, name, &len);
	copy = malloc(len);
	memcpy(copy, obj, len);
	hlen = sv_get_le32(copy + len - 8);
	rand_bytes(other, sizeof(other));

	CHECK(read_copy(r, oid, len, copy, len) == 0, "intact copy");

	copy[len - 1] ^= 1;
	ret = read_copy(r, oid, len, copy, len);
	CHECK(ret == -EBADMSG, "trailer magic: %d", ret);
	copy[len - 1] ^= 1;

	static const uint32_t hlens[] = { 0, 1, 27, 35, 36, 0x7fffffffu,
					  0xffffffffu };
	for (size_t i = 0; i < SV_ARRAY_SIZE(hlens); i++) {
		sv_put_le32(copy + len - 8, hlens[i]);
		ret = read_copy(r, oid, len, copy, len);
		CHECK(ret == -EBADMSG || ret == -EINVAL,
		      "trailer length %u: %d", hlens[i], ret);
	}
	sv_put_le32(copy + len - 8, hlen + 1);
	ret = read_copy(r, oid, len, copy, len);
	CHECK(ret == -EBADMSG || ret == -EINVAL, "trailer length + 1: %d", ret);
	sv_put_le32(copy + len - 8, hlen - 1);
	ret = read_copy(r, oid, len, copy, len);
	CHECK(ret == -EBADMSG || ret == -EINVAL, "trailer length - 1: %d", ret);
	sv_put_le32(copy + len - 8, hlen);

	/* Every byte of the sealed header flipped. */
	for (size_t i = len - 8 - hlen; i < len - 8; i++) {
		copy[i] ^= 0x20;
		ret = read_copy(r, oid, len, copy, len);
		copy[i] ^= 0x20;
		tried++;
		if (ret != -EBADMSG && ret != -EINVAL &&
		    ret != -EPROTONOSUPPORT)
			bad++;
	}
	CHECK(bad == 0, "%zu of %zu header flips accepted", bad, tried);

	/* The same bytes stored as another pack: its header names oid. */
	ret = read_copy(r, other, len, copy, len);
	CHECK(ret == -EBADMSG, "header copied into another pack: %d", ret);
	/* Wrong sizes. */
	ret = read_copy(r, oid, len + 1, copy, len);
	CHECK(ret < 0, "size one larger than the object: %d", ret);
	ret = read_copy(r, oid, 10, copy, len);
	CHECK(ret == -EBADMSG, "size 10: %d", ret);
	ret = read_copy(r, oid, 8 + 8 + 28 + 16, copy + len - 60, 60);
	CHECK(ret == -EBADMSG || ret == -EINVAL, "tail only: %d", ret);
	/* A pack cut short of its blobs: header entries point past them. */
	{
		size_t cut = b[0].e.stored_len;
		uint8_t *shorter = malloc(len - cut);

		memcpy(shorter, copy + cut, len - cut);
		ret = read_copy(r, oid, len - cut, shorter, len - cut);
		CHECK(ret == -EBADMSG, "pack missing its first blob: %d", ret);
		free(shorter);
	}
	ret = pack_read_header(r, other, len, &e, &n);
	CHECK(ret == -ENOENT, "missing pack: %d", ret);
	free(copy);
	packer_destroy(p);
	index_destroy(x);
	free_blobs(b, SV_ARRAY_SIZE(b));
	repo_close(r);
	printf("damaged packs rejected (%zu header flips)\n", tried);
}

/* ---- pack_parse_header table ---- */

static void test_parse_table(void)
{
	uint8_t oid[SV_OID_LEN], buf[SV_OID_LEN + 4 + 3 * PACK_ENTRY_LEN + 8];
	struct pack_entry ent[3];
	static const struct {
		const char *name;
		int want;
	} cases[] = {
		{ "valid, 3 entries", 0 },
		{ "other pack oid", -EBADMSG },
		{ "count one more than entries", -EBADMSG },
		{ "count one less", -EBADMSG },
		{ "stray bytes after the entries", -EBADMSG },
		{ "gap between blobs", -EBADMSG },
		{ "first blob not at 0", -EBADMSG },
		{ "stored_len 27", -EBADMSG },
		{ "codec 2", -EBADMSG },
		{ "last blob past the pack", -EBADMSG },
		{ "input shorter than an oid", -EBADMSG },
		{ "zero entries", 0 },
	};

	rand_bytes(oid, sizeof(oid));
	for (size_t c = 0; c < SV_ARRAY_SIZE(cases); c++) {
		struct pack_entry *e = NULL;
		uint64_t pack_size = 300;
		size_t len = SV_OID_LEN + 4 + 3 * PACK_ENTRY_LEN, n = 99;
		uint32_t cnt = 3;
		int ret;

		memset(ent, 0, sizeof(ent));
		for (int i = 0; i < 3; i++) {
			rand_bytes(ent[i].id, SV_ID_LEN);
			ent[i].off = (uint64_t)i * 100;
			ent[i].stored_len = 100;
			ent[i].raw_len = 90;
			ent[i].codec = (uint8_t)(i & 1);
		}
		memcpy(buf, oid, SV_OID_LEN);
		switch (c) {
		case 1:
			buf[3] ^= 1;
			break;
		case 2:
			cnt = 4;
			break;
		case 3:
			cnt = 2;
			break;
		case 4:
			len += 5;
			memset(buf + len - 5, 0, 5);
			break;
		case 5:
			ent[2].off = 201;
			break;
		case 6:
			ent[0].off = 1;
			break;
		case 7:
			ent[1].stored_len = 27;
			ent[2].off = 127;
			break;
		case 8:
			ent[1].codec = 2;
			break;
		case 9:
			pack_size = 299;
			break;
		case 10:
			len = SV_OID_LEN - 1;
			break;
		case 11:
			cnt = 0;
			len = SV_OID_LEN + 4;
			break;
		default:
			break;
		}
		if (len >= SV_OID_LEN + 4) {
			sv_put_le32(buf + SV_OID_LEN, cnt);
			for (int i = 0; i < 3 && SV_OID_LEN + 4 +
			     (size_t)(i + 1) * PACK_ENTRY_LEN <= len; i++)
				pack_entry_put(buf + SV_OID_LEN + 4 +
					       (size_t)i * PACK_ENTRY_LEN, &ent[i]);
		}
		ret = pack_parse_header(buf, len, oid, pack_size, &e, &n);
		CHECK(ret == cases[c].want, "%s: %d, want %d", cases[c].name,
		      ret, cases[c].want);
		if (ret == 0) {
			CHECK(n == cnt && e != NULL, "%s: %zu entries",
			      cases[c].name, n);
			for (size_t i = 0; i < n; i++)
				CHECK(!memcmp(e[i].id, ent[i].id, SV_ID_LEN) &&
					      e[i].off == ent[i].off &&
					      e[i].raw_len == ent[i].raw_len &&
					      e[i].codec == ent[i].codec,
				      "%s: entry %zu differs", cases[c].name, i);
		} else {
			CHECK(e == NULL && n == 0, "%s: failure left output",
			      cases[c].name);
		}
		free(e);
	}
	printf("pack_parse_header: %zu cases\n", SV_ARRAY_SIZE(cases));
}

/* ---- injected failures ---- */

static void test_failures(void)
{
	static const struct {
		const char *name;
		long fail_after;   /* mutating calls that succeed first */
		size_t blob_len, nblobs;
		int fail_in_add;   /* the error surfaces in packer_add */
	} cases[] = {
		/* 3 x 30 KB: the first 64 KiB part is sent by the 3rd add. */
		{ "first put_part", 0, 30000, 3, 1 },
		/* 2 x 20 KB: one part, sent at flush, then complete. */
		{ "put_part at flush", 0, 20000, 2, 0 },
		{ "complete", 1, 20000, 2, 0 },
		/* 10 x 60 KB = 600 KB, one pack of 10 parts: the 6th part. */
		{ "put_part mid pack", 5, 60000, 10, 1 },
		{ "complete of a 10-part pack", 10, 60000, 10, 0 },
	};

	force_random = 1;
	for (size_t c = 0; c < SV_ARRAY_SIZE(cases); c++) {
		struct repo *r = make_repo(64u << 20);
		struct index *x = NULL;
		struct packer *p = NULL;
		struct blob_rec b[16];
		struct index_loc loc;
		int ret = 0, add_err = 0, committed = 0;
		size_t nb = cases[c].nblobs;

		if (index_create(&x) || packer_create(&p, r, x, 2, PART, 3))
			exit(1);
		mem_fail_after(r->up, cases[c].fail_after, -EIO);
		for (size_t i = 0; i < nb; i++) {
			make_blob(r, &b[i], 5, cases[c].blob_len);
			ret = packer_add(p, 5, &b[i].e, b[i].sealed);
			if (ret && !add_err)
				add_err = ret;
		}
		CHECK(cases[c].fail_in_add ? add_err == -EIO : add_err == 0,
		      "%s: packer_add returned %d", cases[c].name, add_err);
		ret = packer_flush(p);
		CHECK(ret == -EIO, "%s: packer_flush: %d, want -EIO",
		      cases[c].name, ret);
		CHECK(count_prefix(r, "data/") == 0,
		      "%s: a pack object was left in the store", cases[c].name);
		for (size_t i = 0; i < nb; i++)
			committed += index_lookup(x, b[i].e.id, b[i].e.raw_len,
						  &loc) == 0;
		CHECK(committed == 0 && index_npacks(x) == 0,
		      "%s: %d blobs committed to the index", cases[c].name,
		      committed);
		/* Sticky, even with the backend healthy again. */
		mem_fail_after(r->up, -1, 0);
		make_blob(r, &b[nb], 6, 100);
		ret = packer_add(p, 6, &b[nb].e, b[nb].sealed);
		CHECK(ret == -EIO, "%s: add after failure: %d", cases[c].name,
		      ret);
		CHECK(packer_flush(p) == -EIO, "%s: flush not sticky",
		      cases[c].name);
		packer_destroy(p);
		CHECK(count_prefix(r, "data/") == 0,
		      "%s: destroy left a pack", cases[c].name);
		index_destroy(x);
		free_blobs(b, nb + 1);
		repo_close(r);
	}

	/* A failure in the second pack keeps the first, complete one. */
	{
		struct repo *r = make_repo(100u << 10);
		struct index *x = NULL;
		struct packer *p = NULL;
		struct blob_rec b[8];
		int ret = 0;

		if (index_create(&x) || packer_create(&p, r, x, 1, PART, 2))
			exit(1);
		for (size_t i = 0; i < 4 && !ret; i++) {
			make_blob(r, &b[i], 1, 40000);
			ret = packer_add(p, 1, &b[i].e, b[i].sealed);
		}
		CHECK(ret == 0 && index_npacks(x) == 1,
		      "first pack not complete (%d, %zu)", ret, index_npacks(x));
		mem_fail_after(r->up, 0, -ENOSPC);
		for (size_t i = 4; i < 8; i++) {
			make_blob(r, &b[i], 1, 40000);
			ret = packer_add(p, 1, &b[i].e, b[i].sealed);
			CHECK(ret == -ENOSPC, "add %zu: %d", i, ret);
		}
		ret = packer_flush(p);
		CHECK(ret == -ENOSPC, "second pack: %d, want -ENOSPC", ret);
		CHECK(count_prefix(r, "data/") == 1 && index_npacks(x) == 1,
		      "%zu packs stored after a failed second pack",
		      count_prefix(r, "data/"));
		packer_destroy(p);
		index_destroy(x);
		free_blobs(b, 8);
		repo_close(r);
	}
	{
		struct packer *p = NULL;
		struct repo *r = make_repo(1 << 20);
		struct index *x = NULL;

		if (index_create(&x))
			exit(1);
		CHECK(packer_create(&p, r, x, 0, PART, 4) == -EINVAL,
		      "max_open 0 accepted");
		CHECK(packer_create(&p, r, x, 4, PART, 4) == -EINVAL,
		      "nparts == max_open accepted");
		CHECK(packer_create(&p, r, x, 1, 4096, 4) == -EINVAL,
		      "4 KiB parts accepted");
		index_destroy(x);
		repo_close(r);
	}
	force_random = 0;
	printf("injected failures: %zu cases + partial success\n",
	       SV_ARRAY_SIZE(cases));
}

int main(void)
{
	struct repo *r = make_repo(1 << 20);

	if (blobctx_create(&bctx, r, 1, MAX_CHUNK))
		return 1;
	util_verbosity = -1;
	test_parse_table();
	test_groups();
	test_big_header();
	test_damage();
	test_failures();
	blobctx_destroy(bctx);
	repo_close(r);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
