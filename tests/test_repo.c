/*
 * test_repo.c - sealed metadata objects and repository config/key slots.
 *
 * Sealing (docs/FORMAT.md section 8): round trips of every kind and of
 * empty, tiny, compressible and incompressible plaintexts; every flipped
 * byte and every truncation of a sealed object rejected; wrong kind, newer
 * version and another repository's id rejected. Sealed objects with a
 * valid tag but hostile zstd frames (content size over the metadata limit,
 * lying about their size, unknown codec) are built with the repository's
 * own key and must be refused too.
 *
 * Config and key slots (sections 2 and 3): a real repository in a local
 * directory, opened with the right and a wrong passphrase, with an edited
 * config (MAC mismatch), a config of a newer version, with a second slot,
 * next to junk and unknown-kind slots, and where nothing exists.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codecs/aead.h"
#include "engine/repo.h"
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

static const uint8_t test_id[REPO_ID_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
};

static void fill_master(uint8_t m[32], uint8_t base)
{
	for (int i = 0; i < 32; i++)
		m[i] = (uint8_t)(base + i);
}

/* Deterministic incompressible bytes (xorshift64*). */
static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * 0x2545F4914F6CDD1DULL) >> 56);
	}
}

/* Compressible bytes: a short alphabet in a repeating pattern. */
static void fill_text(uint8_t *p, size_t n)
{
	static const char words[] = "cassandra sstable backup partition ";

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)words[(i * 7 + i / 64) % (sizeof(words) - 1)];
}

/* Positions to probe in a buffer of len bytes: every one of the first and
 * last 64, every stride-th in between. */
static size_t next_pos(size_t i, size_t len, size_t stride)
{
	if (i + 1 < 64 || i + 1 + 64 >= len)
		return i + 1;
	return SV_MIN(i + stride, len - 64);
}

static struct repo *open_test_repo(uint8_t master_base,
				   const uint8_t *id)
{
	struct repo *r = NULL;
	uint8_t m[32];
	int ret;

	fill_master(m, master_base);
	ret = repo_open_mem(&r, id ? id : test_id, m, NULL);
	if (ret) {
		printf("FAIL: repo_open_mem: %s\n", strerror(-ret));
		exit(1);
	}
	return r;
}

/*
 * Seal an arbitrary header and body with r's K_meta, as a writer holding
 * the key could: the tag is valid, only the content is hostile.
 */
static uint8_t *seal_raw(const struct repo *r, const uint8_t hdr[8],
			 const void *body, size_t len, size_t *out_len)
{
	uint8_t aad[SEAL_HDR_LEN + REPO_ID_LEN], nonce[AEAD_NONCE_LEN];
	uint8_t *buf = malloc(SEAL_HDR_LEN + len + AEAD_OVERHEAD);
	struct aead *a = NULL;
	ssize_t n;

	if (!buf || aead_create(&a))
		exit(1);
	memcpy(buf, hdr, SEAL_HDR_LEN);
	memcpy(aad, hdr, SEAL_HDR_LEN);
	memcpy(aad + SEAL_HDR_LEN, r->id, REPO_ID_LEN);
	memset(nonce, 0x42, sizeof(nonce));
	n = aead_seal(a, r->k_meta, nonce, aad, sizeof(aad), body, len,
		      buf + SEAL_HDR_LEN);
	aead_destroy(a);
	if (n < 0)
		exit(1);
	*out_len = SEAL_HDR_LEN + (size_t)n;
	return buf;
}

static const char *err_name(int e)
{
	switch (-e) {
	case 0: return "0";
	case EBADMSG: return "-EBADMSG";
	case EINVAL: return "-EINVAL";
	case EPROTONOSUPPORT: return "-EPROTONOSUPPORT";
	case EACCES: return "-EACCES";
	case ENOENT: return "-ENOENT";
	case EEXIST: return "-EEXIST";
	case ENOMEM: return "-ENOMEM";
	default: return strerror(-e);
	}
}

struct size_case {
	const char *name;
	size_t len;
	int random;            /* 1 incompressible, 0 compressible text */
	int want_codec;        /* expected codec byte in the header */
};

static const struct size_case sizes[] = {
	{ "empty", 0, 0, 0 },
	{ "1 byte", 1, 0, 0 },
	{ "100 KiB text", 100 << 10, 0, 1 },
	{ "1 MiB random", 1 << 20, 1, 0 },
};

static const enum sv_meta_kind kinds[] = {
	SV_META_SNAPSHOT, SV_META_INDEX, SV_META_PACKHDR, SV_META_CATALOG,
	SV_META_LOCK,
};

static void test_round_trips(struct repo *r)
{
	for (size_t s = 0; s < SV_ARRAY_SIZE(sizes); s++) {
		const struct size_case *c = &sizes[s];
		uint8_t *pt = malloc(c->len + 1);

		if (c->random)
			fill_random(pt, c->len, 7 + s);
		else
			fill_text(pt, c->len);
		for (size_t k = 0; k < SV_ARRAY_SIZE(kinds); k++) {
			uint8_t *sealed = NULL, *back = NULL;
			size_t sl = 0, bl = 0;
			int ret;

			ret = repo_seal(r, kinds[k], pt, c->len, &sealed, &sl);
			CHECK(ret == 0, "seal %s kind %d: %s", c->name, kinds[k],
			      err_name(ret));
			if (ret)
				continue;
			CHECK(memcmp(sealed, SEAL_MAGIC, 4) == 0 &&
				      sealed[4] == SV_FORMAT_VERSION &&
				      sealed[5] == kinds[k] &&
				      sealed[6] == c->want_codec &&
				      sealed[7] == 0,
			      "%s kind %d: header %02x %02x %02x %02x, want "
			      "version 1, kind %d, codec %d, flags 0", c->name,
			      kinds[k], sealed[4], sealed[5], sealed[6],
			      sealed[7], kinds[k], c->want_codec);
			if (c->want_codec == 0)
				CHECK(sl == SEAL_HDR_LEN + AEAD_OVERHEAD + c->len,
				      "%s: sealed length %zu, want %zu", c->name,
				      sl, SEAL_HDR_LEN + AEAD_OVERHEAD + c->len);
			else
				CHECK(sl < c->len / 4, "%s: sealed length %zu "
				      "not compressed", c->name, sl);
			ret = repo_unseal(r, kinds[k], sealed, sl, &back, &bl);
			CHECK(ret == 0 && bl == c->len &&
				      (c->len == 0 || !memcmp(back, pt, c->len)) &&
				      back[bl] == '\0',
			      "unseal %s kind %d: %s, len %zu (want %zu)",
			      c->name, kinds[k], err_name(ret), bl, c->len);
			free(back);
			/* Any other kind is refused. */
			ret = repo_unseal(r, kinds[(k + 1) % SV_ARRAY_SIZE(kinds)],
					  sealed, sl, &back, &bl);
			CHECK(ret == -EBADMSG && back == NULL,
			      "%s kind %d opened as another kind: %s", c->name,
			      kinds[k], err_name(ret));
			free(back);
			free(sealed);
		}
		free(pt);
	}
	printf("round trips: %zu sizes x %zu kinds\n", SV_ARRAY_SIZE(sizes),
	       SV_ARRAY_SIZE(kinds));
}

/* What flipping byte i of a sealed object must produce. */
static int flip_expect(size_t i, uint8_t mask, int ret)
{
	if (i < 4)
		return ret == -EINVAL;
	if (i == 4)
		return ret == -EPROTONOSUPPORT;
	(void)mask;
	return ret == -EBADMSG;
}

static void flip_all(struct repo *r, const char *what, const uint8_t *pt,
		     size_t len, size_t stride)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	uint8_t *sealed = NULL, *back = NULL;
	size_t sl, bl, tried = 0, bad = 0;
	int ret;

	ret = repo_seal(r, SV_META_SNAPSHOT, pt, len, &sealed, &sl);
	CHECK(ret == 0, "seal %s: %s", what, err_name(ret));
	if (ret)
		return;
	for (size_t i = 0; i < sl; i = next_pos(i, sl, stride)) {
		for (size_t m = 0; m < SV_ARRAY_SIZE(masks); m++) {
			sealed[i] ^= masks[m];
			ret = repo_unseal(r, SV_META_SNAPSHOT, sealed, sl, &back,
					  &bl);
			sealed[i] ^= masks[m];
			tried++;
			if (!flip_expect(i, masks[m], ret) || back) {
				bad++;
				if (bad < 5)
					printf("  %s: byte %zu ^ %02x gave %s\n",
					       what, i, masks[m], err_name(ret));
			}
			free(back);
			back = NULL;
		}
	}
	CHECK(bad == 0, "%s: %zu of %zu flipped objects not rejected as "
	      "expected", what, bad, tried);
	/* Every truncation is an error, never a crash or a success. */
	bad = 0;
	for (size_t n = 0; n < sl; n = next_pos(n, sl, stride)) {
		ret = repo_unseal(r, SV_META_SNAPSHOT, sealed, n, &back, &bl);
		if (ret == 0 || back ||
		    ret != (n < SEAL_HDR_LEN + AEAD_OVERHEAD ? -EINVAL :
							       -EBADMSG))
			bad++;
		free(back);
		back = NULL;
	}
	CHECK(bad == 0, "%s: %zu truncations not rejected", what, bad);
	printf("%s: %zu flips and the truncations rejected\n", what, tried);
	free(sealed);
}

static void test_tamper(struct repo *r)
{
	uint8_t small[100], *big = malloc(1 << 20), *text = malloc(100 << 10);

	fill_random(small, sizeof(small), 3);
	fill_random(big, 1 << 20, 4);
	fill_text(text, 100 << 10);
	flip_all(r, "100 B random", small, sizeof(small), 1);
	flip_all(r, "100 KiB text (zstd)", text, 100 << 10, 7);
	flip_all(r, "1 MiB random", big, 1 << 20, 4099);
	free(big);
	free(text);
}

static void test_header_fields(struct repo *r)
{
	uint8_t pt[64], *sealed = NULL, *back = NULL;
	struct repo *other, *other_key;
	uint8_t other_id[REPO_ID_LEN], codec;
	size_t sl, bl;
	int ret;

	fill_text(pt, sizeof(pt));
	if (repo_seal(r, SV_META_INDEX, pt, sizeof(pt), &sealed, &sl))
		exit(1);

	sealed[4] = 2;
	ret = repo_unseal(r, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EPROTONOSUPPORT, "version 2: %s, want -EPROTONOSUPPORT",
	      err_name(ret));
	sealed[4] = 0xff;
	ret = repo_unseal(r, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EPROTONOSUPPORT, "version 255: %s", err_name(ret));
	sealed[4] = SV_FORMAT_VERSION;

	codec = sealed[6];
	sealed[6] = 2;
	ret = repo_unseal(r, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EBADMSG, "codec 2: %s, want -EBADMSG", err_name(ret));
	sealed[6] = codec;
	sealed[7] = 1;
	ret = repo_unseal(r, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EBADMSG, "flags 1 (authenticated): %s", err_name(ret));
	sealed[7] = 0;

	/* The same key under another repository id: the AAD differs. */
	memcpy(other_id, test_id, sizeof(other_id));
	other_id[15] ^= 1;
	other = open_test_repo(0x20, other_id);
	ret = repo_unseal(other, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EBADMSG && !back, "another repository id: %s",
	      err_name(ret));
	/* The same id with another master key. */
	other_key = open_test_repo(0x21, NULL);
	ret = repo_unseal(other_key, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == -EBADMSG && !back, "another master key: %s",
	      err_name(ret));
	ret = repo_unseal(r, SV_META_INDEX, sealed, sl, &back, &bl);
	CHECK(ret == 0 && bl == sizeof(pt), "restored header: %s",
	      err_name(ret));
	free(back);
	back = NULL;

	/* Seals are randomized: two seals of the same bytes differ. */
	{
		uint8_t *again = NULL;
		size_t al;

		if (repo_seal(r, SV_META_INDEX, pt, sizeof(pt), &again, &al))
			exit(1);
		CHECK(al == sl && memcmp(again + 8, sealed + 8, 12) != 0,
		      "two seals share a nonce");
		free(again);
	}
	repo_close(other);
	repo_close(other_key);
	free(sealed);
	printf("header fields, foreign id and key checked\n");
}

/* A zstd frame with single-segment content size (8 bytes) and one raw
 * last block of n bytes (n < 2^21). */
static size_t make_frame(uint8_t *out, uint64_t content_size,
			 const uint8_t *data, size_t n)
{
	size_t pos = 0;
	uint32_t bh = (uint32_t)(1 | (0 << 1) | (n << 3));

	sv_put_le32(out, 0xFD2FB528u);
	pos = 4;
	out[pos++] = 0xE0;     /* FCS 8 bytes, single segment */
	sv_put_le64(out + pos, content_size);
	pos += 8;
	out[pos++] = (uint8_t)bh;
	out[pos++] = (uint8_t)(bh >> 8);
	out[pos++] = (uint8_t)(bh >> 16);
	memcpy(out + pos, data, n);
	return pos + n;
}

static void test_hostile_frames(struct repo *r)
{
	static const struct {
		const char *name;
		uint64_t content_size;
		size_t data_len;
		int want;
	} cases[] = {
		{ "honest frame", 20, 20, 0 },
		{ "content size over 1 GiB", (1ull << 30) + 1, 20, -EBADMSG },
		{ "content size 2^63", 1ull << 63, 20, -EBADMSG },
		{ "frame says 10, holds 20", 10, 20, -EBADMSG },
		{ "frame says 30, holds 20", 30, 20, -EBADMSG },
		{ "frame says 0", 0, 0, -EBADMSG },
	};
	uint8_t hdr[8] = { 'S', 'V', 'L', 'T', SV_FORMAT_VERSION,
			   SV_META_SNAPSHOT, 1, 0 };
	uint8_t data[32], frame[64];

	fill_text(data, sizeof(data));
	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		size_t fl = make_frame(frame, cases[i].content_size, data,
				       cases[i].data_len);
		uint8_t *sealed, *back = NULL;
		size_t sl, bl = 0;
		int ret;

		sealed = seal_raw(r, hdr, frame, fl, &sl);
		ret = repo_unseal(r, SV_META_SNAPSHOT, sealed, sl, &back, &bl);
		CHECK(ret == cases[i].want && (ret != 0 || (bl == 20 &&
			      !memcmp(back, data, 20))) && (ret == 0 || !back),
		      "%s: %s, want %s", cases[i].name, err_name(ret),
		      err_name(cases[i].want));
		free(back);
		free(sealed);
	}
	/* Garbage under codec 1 (authenticated, but not a zstd frame). */
	{
		uint8_t junk[40], *sealed, *back = NULL;
		size_t sl, bl;
		int ret;

		fill_random(junk, sizeof(junk), 99);
		sealed = seal_raw(r, hdr, junk, sizeof(junk), &sl);
		ret = repo_unseal(r, SV_META_SNAPSHOT, sealed, sl, &back, &bl);
		CHECK(ret == -EBADMSG && !back, "random bytes as zstd: %s",
		      err_name(ret));
		free(sealed);
		free(back);
	}
	printf("hostile zstd frames under a valid tag: %zu cases\n",
	       SV_ARRAY_SIZE(cases) + 1);
}

static void test_meta_objects(struct repo *r)
{
	uint8_t pt[300], *back = NULL, *obj;
	size_t bl, ol;
	int ret;

	fill_text(pt, sizeof(pt));
	ret = repo_put_meta(r, "snapshots/aa", SV_META_SNAPSHOT, pt,
			    sizeof(pt), UPL_PUT_NO_OVERWRITE);
	CHECK(ret == 0, "put_meta: %s", err_name(ret));
	ret = repo_put_meta(r, "snapshots/aa", SV_META_SNAPSHOT, pt,
			    sizeof(pt), UPL_PUT_NO_OVERWRITE);
	CHECK(ret == -EEXIST, "put_meta twice with no-overwrite: %s",
	      err_name(ret));
	ret = repo_get_meta(r, "snapshots/aa", SV_META_SNAPSHOT, &back, &bl);
	CHECK(ret == 0 && bl == sizeof(pt) && !memcmp(back, pt, bl),
	      "get_meta: %s", err_name(ret));
	free(back);
	back = NULL;
	ret = repo_get_meta(r, "snapshots/bb", SV_META_SNAPSHOT, &back, &bl);
	CHECK(ret == -ENOENT, "get_meta of a missing object: %s",
	      err_name(ret));
	obj = mem_object(r->up, "snapshots/aa", &ol);
	if (obj) {
		obj[ol / 2] ^= 4;
		r->up->errbuf[0] = '\0';
		ret = repo_get_meta(r, "snapshots/aa", SV_META_SNAPSHOT, &back,
				    &bl);
		CHECK(ret == -EBADMSG && !back, "get_meta damaged: %s",
		      err_name(ret));
		CHECK(strstr(r->up->errbuf, "snapshots/aa") != NULL,
		      "errbuf does not name the object: '%s'", r->up->errbuf);
	}
	printf("put_meta/get_meta checked\n");
}

/* ---- local-directory repositories ---- */

static char tmpdir[256];

static int rm_rf(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int read_text(const char *path, char **out)
{
	size_t len;

	return util_read_file(path, 1 << 20, out, &len);
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fputs(text, f) >= 0;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -EIO;
}

/* Replace the first occurrence of from with to in the file at path. */
static int edit_file(const char *path, const char *from, const char *to)
{
	char *text = NULL, *p, *out;
	int ret = read_text(path, &text);

	if (ret)
		return ret;
	p = strstr(text, from);
	if (!p) {
		printf("  '%s' not found in %s\n", from, path);
		free(text);
		return -ENOENT;
	}
	out = malloc(strlen(text) + strlen(to) + 1);
	memcpy(out, text, (size_t)(p - text));
	strcpy(out + (p - text), to);
	strcat(out, p + strlen(from));
	ret = write_text(path, out);
	free(out);
	free(text);
	return ret;
}

static int open_dir(const char *dir, const char *pass, struct repo **out,
		    char *errbuf)
{
	return repo_open(out, dir, NULL, pass, strlen(pass), errbuf);
}

static int count_slots(const char *dir)
{
	char path[512];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/keys", dir);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void test_local(void)
{
	struct repo_params p;
	struct repo *r = NULL;
	char dir[512], cfg[600], errbuf[512], slot[2 * SV_OID_LEN + 1];
	char path[700], *saved = NULL;
	int ret;

	repo_default_params(&p);
	p.scrypt_n = 1024;
	snprintf(dir, sizeof(dir), "%s/repo", tmpdir);
	snprintf(cfg, sizeof(cfg), "%s/config", dir);

	ret = repo_init(dir, NULL, &p, "right", 5, errbuf);
	CHECK(ret == 0, "repo_init: %s (%s)", err_name(ret), errbuf);
	ret = repo_init(dir, NULL, &p, "other", 5, errbuf);
	CHECK(ret == -EEXIST, "repo_init twice: %s, want -EEXIST",
	      err_name(ret));
	CHECK(count_slots(dir) == 1, "%d key slots after init, want 1",
	      count_slots(dir));

	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == 0 && r, "open with the right passphrase: %s (%s)",
	      err_name(ret), errbuf);
	if (r) {
		uint8_t pt[10] = "0123456789", *sealed = NULL, *back = NULL;
		size_t sl, bl;
		struct repo *r2 = NULL;

		CHECK(strlen(r->slot) == 2 * SV_OID_LEN,
		      "slot id '%s' is not 64 hex", r->slot);
		CHECK(r->params.zstd_level == 1 &&
			      r->params.cdc_avg == p.cdc_avg &&
			      r->params.pack_size == p.pack_size,
		      "params not read back from the config");
		/* Two opens derive the same keys: a sealed object of one opens
		 * with the other. */
		if (repo_seal(r, SV_META_LOCK, pt, sizeof(pt), &sealed, &sl))
			exit(1);
		ret = open_dir(dir, "right", &r2, errbuf);
		if (!ret)
			ret = repo_unseal(r2, SV_META_LOCK, sealed, sl, &back,
					  &bl);
		CHECK(ret == 0 && bl == sizeof(pt), "reopened repository "
		      "cannot unseal: %s", err_name(ret));
		free(back);
		free(sealed);
		repo_close(r2);

		ret = repo_add_slot(r, "second", 6, slot);
		CHECK(ret == 0 && strlen(slot) == 64, "repo_add_slot: %s",
		      err_name(ret));
		repo_close(r);
		r = NULL;
	}
	CHECK(count_slots(dir) == 2, "%d key slots after add, want 2",
	      count_slots(dir));
	ret = open_dir(dir, "second", &r, errbuf);
	CHECK(ret == 0 && r && !strcmp(r->slot, slot),
	      "open with the added passphrase: %s (%s), slot %s",
	      err_name(ret), errbuf, r ? r->slot : "-");
	repo_close(r);
	r = NULL;
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == 0, "first passphrase after add: %s", err_name(ret));
	repo_close(r);
	r = NULL;

	ret = open_dir(dir, "wrong", &r, errbuf);
	CHECK(ret == -EACCES && !r, "wrong passphrase: %s, want -EACCES",
	      err_name(ret));
	CHECK(strstr(errbuf, "passphrase") != NULL,
	      "errbuf does not say why: '%s'", errbuf);
	ret = repo_open(&r, dir, NULL, "righ", 4, errbuf);
	CHECK(ret == -EACCES, "passphrase prefix: %s", err_name(ret));

	/* Junk and unknown-kind slots are skipped, not fatal. */
	snprintf(path, sizeof(path), "%s/keys/%064d", dir, 0);
	ret = write_text(path, "this is not json");
	snprintf(path, sizeof(path), "%s/keys/%064d", dir, 1);
	ret |= write_text(path, "{\"version\":1,\"kind\":\"yubikey\",\"kdf\":"
				"{\"name\":\"scrypt\",\"n\":1024,\"r\":8,"
				"\"p\":1,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\"},"
				"\"wrapped\":\"AAAA\"}");
	snprintf(path, sizeof(path), "%s/keys/%064d", dir, 2);
	ret |= write_text(path, "{\"version\":2,\"kind\":\"passphrase\"}");
	CHECK(ret == 0, "cannot write junk slots");
	ret = open_dir(dir, "second", &r, errbuf);
	CHECK(ret == 0, "open next to junk slots: %s (%s)", err_name(ret),
	      errbuf);
	repo_close(r);
	r = NULL;
	ret = open_dir(dir, "wrong", &r, errbuf);
	CHECK(ret == -EACCES, "wrong passphrase next to junk slots: %s",
	      err_name(ret));

	/* The config is MAC'ed: an edited level is refused. */
	if (read_text(cfg, &saved))
		exit(1);
	ret = edit_file(cfg, "\"level\": 1", "\"level\": 3");
	CHECK(ret == 0, "cannot edit the config");
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EBADMSG && !r, "edited level: %s, want -EBADMSG (%s)",
	      err_name(ret), errbuf);
	CHECK(strstr(errbuf, "MAC") != NULL, "errbuf: '%s'", errbuf);
	write_text(cfg, saved);
	ret = edit_file(cfg, "\"pack_size\": 67108864",
			"\"pack_size\": 33554432");
	ret = ret ? ret : open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EBADMSG, "edited pack_size: %s", err_name(ret));
	write_text(cfg, saved);

	ret = edit_file(cfg, "\"version\": 1", "\"version\": 2");
	CHECK(ret == 0, "cannot edit the config version");
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EPROTONOSUPPORT && !r,
	      "config version 2: %s, want -EPROTONOSUPPORT", err_name(ret));
	CHECK(strstr(errbuf, "version 2") != NULL,
	      "errbuf does not name the version: '%s'", errbuf);
	write_text(cfg, saved);

	ret = edit_file(cfg, "\"format\": \"sstvault\"", "\"format\": \"x\"");
	ret = ret ? ret : open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EBADMSG, "foreign format: %s", err_name(ret));
	write_text(cfg, saved);
	write_text(cfg, "{\"format\": \"sstvault\", \"version\": 1}");
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EBADMSG, "config missing fields: %s", err_name(ret));
	write_text(cfg, "{not json");
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -EBADMSG, "config not JSON: %s", err_name(ret));
	write_text(cfg, saved);
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == 0, "restored config: %s (%s)", err_name(ret), errbuf);
	repo_close(r);
	r = NULL;
	free(saved);

	snprintf(path, sizeof(path), "%s/missing", tmpdir);
	ret = open_dir(path, "right", &r, errbuf);
	CHECK(ret == -ENOENT && !r, "missing directory: %s, want -ENOENT",
	      err_name(ret));
	unlink(cfg);
	ret = open_dir(dir, "right", &r, errbuf);
	CHECK(ret == -ENOENT, "directory without config: %s", err_name(ret));
	printf("local repository: init, open, slots, config checks done\n");
}

int main(void)
{
	struct repo *r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sv-test-repo-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	r = open_test_repo(0x20, NULL);
	test_round_trips(r);
	test_tamper(r);
	test_header_fields(r);
	test_hostile_frames(r);
	test_meta_objects(r);
	repo_close(r);
	test_local();
	rm_rf(tmpdir);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
