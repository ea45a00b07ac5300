/*
 * gen_corpus.c - write the seed inputs of every fuzz target.
 *
 *   gen_corpus <dir>    writes <dir>/<target>/seed-*
 *
 * Seeds are valid inputs (plus a few near misses) built with the same
 * fixed test repository as the targets (fuzz.h), so sealed seeds open.
 * scripts/fuzz.sh runs it when a target's corpus directory is empty; the
 * seeds and what the fuzzers found from them are kept in
 * tests/fuzz/corpus/ and replayed by tests/t_fuzz_regress.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "codecs/hash.h"
#include "engine/blob.h"
#include "engine/index.h"
#include "engine/pack.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}

static const char *outdir;

static void put(const char *target, const char *name, const void *a,
		size_t alen, const void *b, size_t blen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(a, 1, alen, f) != alen ||
	    (blen && fwrite(b, 1, blen, f) != blen) || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void put_str(const char *target, const char *name, uint8_t sel,
		    const char *s)
{
	put(target, name, &sel, 1, s, strlen(s));
}

/* A pack header plaintext with n back-to-back entries of 100 bytes. */
static size_t pack_header(uint8_t *buf, uint32_t n)
{
	memcpy(buf, fuzz_oid, SV_OID_LEN);
	sv_put_le32(buf + SV_OID_LEN, n);
	for (uint32_t i = 0; i < n; i++) {
		struct pack_entry e = { .off = 100ull * i, .stored_len = 100,
					.raw_len = 150, .codec = i & 1 };

		memset(e.id, (int)(0x40 + i), SV_ID_LEN);
		pack_entry_put(buf + SV_OID_LEN + 4 + i * PACK_ENTRY_LEN, &e);
	}
	return SV_OID_LEN + 4 + n * PACK_ENTRY_LEN;
}

static void seeds_pack_header(struct repo *r)
{
	uint8_t hdr[SV_OID_LEN + 4 + 8 * PACK_ENTRY_LEN], pre[9], *sealed;
	size_t hl, sl;

	for (uint32_t n = 0; n <= 3; n++) {
		char name[32];

		hl = pack_header(hdr, n);
		pre[0] = 0;
		sv_put_le64(pre + 1, 100ull * n);
		snprintf(name, sizeof(name), "parse-%u", n);
		put("fuzz_pack_header", name, pre, 9, hdr, hl);
		pre[0] = 1;
		sv_put_le16(pre + 1, (uint16_t)(100 * n));
		snprintf(name, sizeof(name), "sealed-%u", n);
		put("fuzz_pack_header", name, pre, 3, hdr, hl);
	}
	/* A whole pack object: blobs (zeros), sealed header, trailer. */
	hl = pack_header(hdr, 2);
	if (repo_seal(r, SV_META_PACKHDR, hdr, hl, &sealed, &sl))
		exit(1);
	{
		size_t len = 1 + 200 + sl + 8;
		uint8_t *obj = calloc(1, len);

		obj[0] = 2;
		memcpy(obj + 201, sealed, sl);
		sv_put_le32(obj + 201 + sl, (uint32_t)sl);
		memcpy(obj + 201 + sl + 4, "SVP1", 4);
		put("fuzz_pack_header", "object", obj, len, NULL, 0);
		free(obj);
	}
	free(sealed);
}

static void seeds_index(void)
{
	uint8_t buf[4 + 2 * (SV_OID_LEN + 12) + 5 * PACK_ENTRY_LEN];
	size_t pos = 4;

	sv_put_le32(buf, 0);
	put("fuzz_index", "empty", buf, 4, NULL, 0);
	sv_put_le32(buf, 2);
	for (int p = 0; p < 2; p++) {
		uint32_t n = p ? 3 : 2;

		memset(buf + pos, 0x10 + p, SV_OID_LEN);
		sv_put_le64(buf + pos + SV_OID_LEN, 1000);
		sv_put_le32(buf + pos + SV_OID_LEN + 8, n);
		pos += SV_OID_LEN + 12;
		for (uint32_t i = 0; i < n; i++) {
			struct pack_entry e = { .off = 100 * i,
						.stored_len = 100,
						.raw_len = 120 + i,
						.codec = 1 };

			memset(e.id, (int)(0x60 + i + 4 * p), SV_ID_LEN);
			pack_entry_put(buf + pos, &e);
			pos += PACK_ENTRY_LEN;
		}
	}
	put("fuzz_index", "two-packs", buf, pos, NULL, 0);
}

static void seeds_sealed(struct repo *r)
{
	static const char *texts[] = {
		"{\"version\":1}",
		"sstvault sstvault sstvault sstvault sstvault sstvault "
		"sstvault sstvault sstvault sstvault sstvault sstvault",
	};

	for (size_t i = 0; i < SV_ARRAY_SIZE(texts); i++) {
		uint8_t *sealed, hdr[1 + 8];
		size_t sl, tl = strlen(texts[i]);
		char name[32];
		uint8_t frame[512];
		size_t fl;

		/* Genuine sealed objects (raw mode, kind 1 expects data[0] 0). */
		if (repo_seal(r, SV_META_SNAPSHOT, texts[i], tl, &sealed, &sl))
			exit(1);
		hdr[0] = 0;
		snprintf(name, sizeof(name), "genuine-%zu", i);
		put("fuzz_sealed", name, hdr, 1, sealed, sl);
		free(sealed);
		/* Header + body, codec 0 and codec 1. */
		hdr[0] = 1;
		memcpy(hdr + 1, "SVLT", 4);
		hdr[5] = SV_FORMAT_VERSION;
		hdr[6] = (uint8_t)(1 + i);
		hdr[7] = 0;
		hdr[8] = 0;
		snprintf(name, sizeof(name), "raw-%zu", i);
		put("fuzz_sealed", name, hdr, 9, texts[i], tl);
		fl = ZSTD_compress(frame, sizeof(frame), texts[i], tl, 3);
		if (ZSTD_isError(fl))
			exit(1);
		hdr[7] = 1;
		snprintf(name, sizeof(name), "zstd-%zu", i);
		put("fuzz_sealed", name, hdr, 9, frame, fl);
	}
}

static void seeds_blob(struct repo *r)
{
	struct blobctx *b = NULL;
	static uint8_t raw[4096], sealed[8192], frame[8192];
	uint8_t pre[6];

	if (blobctx_create(&b, r, 1, 64 << 10))
		exit(1);
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i % 7 == 0 ? i : 'a' + i % 13);
	for (int k = 0; k < 2; k++) {
		size_t len = k ? 4096 : 33;
		uint8_t id[SV_ID_LEN];
		enum sv_codec codec;
		ssize_t n;
		size_t fl;
		char name[32];

		hash_chunk_id(r->id_secret, raw, len, id);
		n = blob_seal(b, id, raw, len, sealed, &codec);
		if (n < 0)
			exit(1);
		pre[0] = 0;
		sv_put_le32(pre + 1, (uint32_t)len);
		pre[5] = (uint8_t)codec;
		{
			uint8_t *buf = malloc(SV_ID_LEN + (size_t)n);

			memcpy(buf, id, SV_ID_LEN);
			memcpy(buf + SV_ID_LEN, sealed, (size_t)n);
			snprintf(name, sizeof(name), "genuine-%d", k);
			put("fuzz_blob", name, pre, 6, buf, SV_ID_LEN + (size_t)n);
			free(buf);
		}
		pre[0] = 1;
		pre[5] = 0;
		snprintf(name, sizeof(name), "raw-%d", k);
		put("fuzz_blob", name, pre, 6, raw, len);
		fl = ZSTD_compress(frame, sizeof(frame), raw, len, 3);
		if (ZSTD_isError(fl))
			exit(1);
		pre[5] = 1;
		snprintf(name, sizeof(name), "zstd-%d", k);
		put("fuzz_blob", name, pre, 6, frame, fl);
	}
	blobctx_destroy(b);
}

static void seeds_snapshot(void)
{
	static const char *docs[] = {
		"{\"version\":1,\"time_ns\":1,\"end_ns\":2,\"roots\":[],"
		"\"files\":[]}",
		"{\"version\":1,\"time\":\"2026-01-01T00:00:00.000Z\","
		"\"time_ns\":1767225600000000000,\"end\":\"x\","
		"\"end_ns\":1767225601000000000,\"host\":\"db1\",\"node\":"
		"\"10.0.0.1\",\"cluster\":\"c\",\"tag\":\"\",\"type\":"
		"\"snapshot\",\"host_id\":\"\",\"dc\":\"dc1\",\"rack\":\"r1\","
		"\"roots\":[\"/var/lib/cassandra/data\"],\"schema\":\"CREATE\","
		"\"stats\":{\"files\":3,\"bytes\":40,\"chunks\":2},"
		"\"files\":[{\"path\":\"ks/t-0123/nb-1-big-Data.db\",\"root\":0,"
		"\"type\":\"f\",\"mode\":420,\"mtime_ns\":5,\"size\":40,"
		"\"inode\":7,\"digest\":\"00112233445566778899aabbccddeeff\","
		"\"chunks\":\"ERERERERERERERERERERERQAAAAiIiIiIiIiIiIiIiIiIiIiFAAAAA==\","
		"\"cassandra\":{\"keyspace\":\"ks\",\"table\":\"t\","
		"\"sstable\":\"nb-1-big\",\"component\":\"Data.db\","
		"\"kind\":\"snapshot\"}},"
		"{\"path\":\"ks\",\"root\":0,\"type\":\"d\",\"mode\":493,"
		"\"mtime_ns\":5,\"size\":0,\"inode\":8},"
		"{\"path\":\"ks/l\",\"root\":0,\"type\":\"l\",\"mode\":511,"
		"\"mtime_ns\":5,\"size\":0,\"inode\":9,\"target\":\"../x\"}]}",
		"{\"version\":2,\"time_ns\":1,\"end_ns\":2,\"roots\":[],"
		"\"files\":[]}",
	};

	for (size_t i = 0; i < SV_ARRAY_SIZE(docs); i++) {
		char name[32];

		snprintf(name, sizeof(name), "doc-%zu", i);
		put("fuzz_snapshot", name, docs[i], strlen(docs[i]), NULL, 0);
	}
}

static void seeds_sstable(void)
{
	static const char *names[] = {
		"nb-1-big-Data.db", "na-22-bti-Partitions.db",
		"da-3gq8_0x1a_2h5ol2b8mwr1uf0zp4-bti-Rows.db",
		"legacy_tables-legacy_ka_simple-ka-1-Data.db",
		"ks-tbl.idx-jb-4-Index.db", "tmp-la-2-big-Data.db",
		"ks-tbl-tmp-ka-4-Data.db", "nb-1-big-Statistics.db.tmp",
		"nb_txn_compaction_1b4f2a50-1d5e-11ef-9a2b-8f1e2d3c4b5a.log",
		"nb-7-big-SAI+aa+orders_idx+TermsData.db", "manifest.json",
		"t-0123456789abcdef0123456789abcdef", ".idx",
	};
	static const char *tocs[] = {
		"Data.db\nTOC.txt\nStatistics.db\nDigest.crc32\nIndex.db\n"
		"Summary.db\nFilter.db\nCompressionInfo.db\n",
		"Data.db\r\nTOC.txt\r\n\r\n  Rows.db  \r\nData.db",
	};
	static const struct {
		uint8_t comp;
		const char *text;
	} digests[] = {
		{ 0, "2285140513" }, { 1, "76435450\n" }, { 2, "76435450" },
		{ 2, "0123456789abcdef0123456789abcdef01234567  "
		     "ks-t-jb-1-Data.db\n" },
	};
	static const char *manifests[] = {
		"{\"files\":[\"nb-1-big-Data.db\",\".idx/nb-2-big-Data.db\"]}",
		"{\"files\":[\"nb-1-big-Data.db\"],\"created_at\":"
		"\"2021-07-03T10:37:30.123Z\",\"expires_at\":null}",
		"{\"files\":[],\"created_at\":1625308650123,"
		"\"expires_at\":1625308650.5,\"ephemeral\":true}",
		"{\"files\":[\"../x\"]}",
	};
	char name[32];

	for (size_t i = 0; i < SV_ARRAY_SIZE(names); i++) {
		snprintf(name, sizeof(name), "name-%zu", i);
		put_str("fuzz_sstable", name, 0, names[i]);
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(tocs); i++) {
		snprintf(name, sizeof(name), "toc-%zu", i);
		put_str("fuzz_sstable", name, 1, tocs[i]);
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(digests); i++) {
		uint8_t pre[2] = { 2, digests[i].comp };

		snprintf(name, sizeof(name), "digest-%zu", i);
		put("fuzz_sstable", name, pre, 2, digests[i].text,
		    strlen(digests[i].text));
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(manifests); i++) {
		snprintf(name, sizeof(name), "manifest-%zu", i);
		put_str("fuzz_sstable", name, 3, manifests[i]);
	}
}

/* A real local repository with cheap scrypt; its config and slot. */
static void seeds_config(void)
{
	char dir[] = "/tmp/sv-gen-corpus-XXXXXX", errbuf[512], path[512];
	char cmd[600];
	struct repo_params p;
	struct repo *r = NULL;
	char *cfg = NULL, *slot = NULL;
	size_t clen, slen;
	uint8_t le[2];

	if (!mkdtemp(dir))
		exit(1);
	snprintf(path, sizeof(path), "%s/repo", dir);
	repo_default_params(&p);
	p.scrypt_n = 16;
	p.scrypt_r = 1;
	p.scrypt_p = 1;
	if (repo_init(path, NULL, &p, "fuzz", 4, errbuf) ||
	    repo_open(&r, path, NULL, "fuzz", 4, errbuf)) {
		fprintf(stderr, "gen_corpus: %s\n", errbuf);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/repo/config", dir);
	if (util_read_file(path, 1 << 16, &cfg, &clen))
		exit(1);
	snprintf(path, sizeof(path), "%s/repo/keys/%s", dir, r->slot);
	if (util_read_file(path, 1 << 16, &slot, &slen))
		exit(1);
	sv_put_le16(le, (uint16_t)clen);
	{
		uint8_t *buf = malloc(clen + slen);

		memcpy(buf, cfg, clen);
		memcpy(buf + clen, slot, slen);
		put("fuzz_config", "repo", le, 2, buf, clen + slen);
		/* The same config with a slot of another passphrase's
		 * shape: a wrong-passphrase seed. */
		buf[clen + slen / 2] ^= 1;
		put("fuzz_config", "repo-bent-slot", le, 2, buf, clen + slen);
		free(buf);
	}
	repo_close(r);
	free(cfg);
	free(slot);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		exit(1);
}

int main(int argc, char **argv)
{
	struct repo *r;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus <corpus dir>\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	r = fuzz_repo();
	seeds_pack_header(r);
	seeds_index();
	seeds_sealed(r);
	seeds_blob(r);
	seeds_snapshot();
	seeds_sstable();
	seeds_config();
	return 0;
}
