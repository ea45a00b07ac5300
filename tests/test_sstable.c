/*
 * test_sstable.c - Cassandra file knowledge (engine/sstable.c).
 *
 * Two halves. Static tables cover every naming scheme of DESIGN.md section 2
 * and the fixtures README (UUID ids, SAI names, tmp/tmplink/txn leftovers,
 * garbage), renames, table directories, TOC, digest and manifest.json
 * forms. Then the real SSTables in $SV_FIXTURES are checked against their
 * MANIFEST.tsv, whose columns were computed independently with Python's
 * zlib: every name parses to the listed component and version, folders
 * group into the SSTables their TOCs describe, every Data.db verifies
 * against its digest with the streaming verifier (and a one-byte flip
 * fails), and every TOC is compared with the folder's real contents.
 * Without the fixtures only the static half runs; exit 77 says so.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/sstable.h"

static int checks, failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		checks++;                                                  \
		if (!(cond)) {                                             \
			failures++;                                        \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);        \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

/* Read a whole file into a NUL-terminated malloc'ed buffer, or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET))
		goto out;
	buf = malloc((size_t)n + 1);
	if (!buf)
		goto out;
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[n] = '\0';
	*len = (size_t)n;
out:
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------------ */
/* File names                                                          */
/* ------------------------------------------------------------------ */

#define UUID1 "3gq8_0x1a_2h5ol2ffw0jfyk1vmu"
#define UUID2 "3gqh_1kh6_2g3ay2g29ohf9ileii"
#define TXUUID "1b3c4e70-12ab-11ec-8d3d-0242ac130003"

struct name_case {
	const char *name;
	int ret;
	const char *version, *id;
	enum sstable_id_kind id_kind;
	uint64_t gen;
	const char *format, *component;
	enum sstable_comp comp;
	const char *ks, *table;
	enum sstable_temp temp;
	const char *key;
};

#define LIVE 0
#define TEMP SSTABLE_TEMPORARY
#define INT SSTABLE_ID_INT
#define UUID SSTABLE_ID_UUID
#define BAD(s) { .name = (s), .ret = -EINVAL }

static const struct name_case name_cases[] = {
	/* 2.2+ names, BIG and BTI, integer and UUID ids */
	{ "nb-1-big-Data.db", LIVE, "nb", "1", INT, 1, "big", "Data.db",
	  SSTABLE_C_DATA, "", "", SSTABLE_TEMP_NONE, "nb-1-big" },
	{ "na-1-bti-Partitions.db", LIVE, "na", "1", INT, 1, "bti",
	  "Partitions.db", SSTABLE_C_PARTITIONS, "", "", SSTABLE_TEMP_NONE,
	  "na-1-bti" },
	{ "na-1-bti-Rows.db", LIVE, "na", "1", INT, 1, "bti", "Rows.db",
	  SSTABLE_C_ROWS, "", "", SSTABLE_TEMP_NONE, "na-1-bti" },
	{ "da-" UUID1 "-bti-Rows.db", LIVE, "da", UUID1, UUID, 0, "bti",
	  "Rows.db", SSTABLE_C_ROWS, "", "", SSTABLE_TEMP_NONE,
	  "da-" UUID1 "-bti" },
	{ "nb-" UUID2 "-big-Data.db", LIVE, "nb", UUID2, UUID, 0, "big",
	  "Data.db", SSTABLE_C_DATA, "", "", SSTABLE_TEMP_NONE,
	  "nb-" UUID2 "-big" },
	{ "oa-12-big-Statistics.db", LIVE, "oa", "12", INT, 12, "big",
	  "Statistics.db", SSTABLE_C_STATS, "", "", SSTABLE_TEMP_NONE,
	  "oa-12-big" },
	{ "me-7-big-Digest.crc32", LIVE, "me", "7", INT, 7, "big",
	  "Digest.crc32", SSTABLE_C_DIGEST, "", "", SSTABLE_TEMP_NONE,
	  "me-7-big" },
	{ "la-2-big-Digest.adler32", LIVE, "la", "2", INT, 2, "big",
	  "Digest.adler32", SSTABLE_C_DIGEST, "", "", SSTABLE_TEMP_NONE,
	  "la-2-big" },
	{ "nb-6-big-TOC.txt", LIVE, "nb", "6", INT, 6, "big", "TOC.txt",
	  SSTABLE_C_TOC, "", "", SSTABLE_TEMP_NONE, "nb-6-big" },
	{ "mc-3-big-CompressionInfo.db", LIVE, "mc", "3", INT, 3, "big",
	  "CompressionInfo.db", SSTABLE_C_COMPRESSION, "", "",
	  SSTABLE_TEMP_NONE, "mc-3-big" },
	{ "ma-18446744073709551615-big-Data.db", LIVE, "ma",
	  "18446744073709551615", INT, UINT64_MAX, "big", "Data.db",
	  SSTABLE_C_DATA, "", "", SSTABLE_TEMP_NONE,
	  "ma-18446744073709551615-big" },
	/* SAI, SASI and custom components */
	{ "nb-6-big-SAI+aa+orders_idx+TermsData.db", LIVE, "nb", "6", INT, 6,
	  "big", "SAI+aa+orders_idx+TermsData.db", SSTABLE_C_SAI, "", "",
	  SSTABLE_TEMP_NONE, "nb-6-big" },
	{ "da-" UUID1 "-bti-SAI+aa+GroupComplete.db", LIVE, "da", UUID1, UUID,
	  0, "bti", "SAI+aa+GroupComplete.db", SSTABLE_C_SAI, "", "",
	  SSTABLE_TEMP_NONE, "da-" UUID1 "-bti" },
	{ "nb-6-big-SAI+ba+2+orders_idx+Meta.db", LIVE, "nb", "6", INT, 6,
	  "big", "SAI+ba+2+orders_idx+Meta.db", SSTABLE_C_SAI, "", "",
	  SSTABLE_TEMP_NONE, "nb-6-big" },
	{ "nb-4-big-SI_age_idx.db", LIVE, "nb", "4", INT, 4, "big",
	  "SI_age_idx.db", SSTABLE_C_SASI, "", "", SSTABLE_TEMP_NONE,
	  "nb-4-big" },
	{ "nb-4-big-Vector.db", LIVE, "nb", "4", INT, 4, "big", "Vector.db",
	  SSTABLE_C_OTHER, "", "", SSTABLE_TEMP_NONE, "nb-4-big" },
	/* pre-2.2: keyspace and table in the name, '_' allowed in both */
	{ "legacy_tables-legacy_ka_simple-ka-1-Data.db", LIVE, "ka", "1", INT,
	  1, "big", "Data.db", SSTABLE_C_DATA, "legacy_tables",
	  "legacy_ka_simple", SSTABLE_TEMP_NONE,
	  "legacy_tables-legacy_ka_simple-ka-1" },
	{ "Keyspace1-Standard1-jb-0-Data.db", LIVE, "jb", "0", INT, 0, "big",
	  "Data.db", SSTABLE_C_DATA, "Keyspace1", "Standard1",
	  SSTABLE_TEMP_NONE, "Keyspace1-Standard1-jb-0" },
	{ "Keyspace1-Standard1-jb-0-Digest.sha1", LIVE, "jb", "0", INT, 0,
	  "big", "Digest.sha1", SSTABLE_C_DIGEST, "Keyspace1", "Standard1",
	  SSTABLE_TEMP_NONE, "Keyspace1-Standard1-jb-0" },
	{ "ks-tbl.tbl_idx-ka-3-Index.db", LIVE, "ka", "3", INT, 3, "big",
	  "Index.db", SSTABLE_C_INDEX, "ks", "tbl.tbl_idx", SSTABLE_TEMP_NONE,
	  "ks-tbl.tbl_idx-ka-3" },
	{ "ks-tbl-ka-1-CRC.db", LIVE, "ka", "1", INT, 1, "big", "CRC.db",
	  SSTABLE_C_CRC, "ks", "tbl", SSTABLE_TEMP_NONE, "ks-tbl-ka-1" },
	/* a keyspace or table called "tmp" is not a temporary marker */
	{ "tmp-tbl-ka-1-Data.db", LIVE, "ka", "1", INT, 1, "big", "Data.db",
	  SSTABLE_C_DATA, "tmp", "tbl", SSTABLE_TEMP_NONE, "tmp-tbl-ka-1" },
	{ "ks-tmp-ka-1-Data.db", LIVE, "ka", "1", INT, 1, "big", "Data.db",
	  SSTABLE_C_DATA, "ks", "tmp", SSTABLE_TEMP_NONE, "ks-tmp-ka-1" },
	/* unfinished writes */
	{ "ks-tbl-tmp-ka-4-Data.db", TEMP, "ka", "4", INT, 4, "big",
	  "Data.db", SSTABLE_C_DATA, "ks", "tbl", SSTABLE_TEMP_TMP,
	  "ks-tbl-tmp-ka-4" },
	{ "ks-tbl-tmplink-ka-4-Index.db", TEMP, "ka", "4", INT, 4, "big",
	  "Index.db", SSTABLE_C_INDEX, "ks", "tbl", SSTABLE_TEMP_TMPLINK,
	  "ks-tbl-tmplink-ka-4" },
	{ "tmplink-la-2-big-Data.db", TEMP, "la", "2", INT, 2, "big",
	  "Data.db", SSTABLE_C_DATA, "", "", SSTABLE_TEMP_TMPLINK,
	  "tmplink-la-2-big" },
	{ "tmp-lb-3-big-Data.db", TEMP, "lb", "3", INT, 3, "big", "Data.db",
	  SSTABLE_C_DATA, "", "", SSTABLE_TEMP_TMP, "tmp-lb-3-big" },
	{ "tmp-nb-" UUID2 "-big-Index.db", TEMP, "nb", UUID2, UUID, 0, "big",
	  "Index.db", SSTABLE_C_INDEX, "", "", SSTABLE_TEMP_TMP,
	  "tmp-nb-" UUID2 "-big" },
	{ "nb-5-big-Statistics.db.tmp", TEMP, "nb", "5", INT, 5, "big",
	  "Statistics.db.tmp", SSTABLE_C_STATS, "", "", SSTABLE_TEMP_SUFFIX,
	  "nb-5-big" },
	{ "nb-5-big-Data.db." TXUUID ".tmp", TEMP, "nb", "5", INT, 5, "big",
	  "Data.db." TXUUID ".tmp", SSTABLE_C_DATA, "", "",
	  SSTABLE_TEMP_SUFFIX, "nb-5-big" },
	/* transaction logs: only the version is filled */
	{ "nb_txn_compaction_" TXUUID ".log", SSTABLE_TXNLOG, "nb", "", 0, 0,
	  "", "", 0, "", "", SSTABLE_TEMP_NONE, NULL },
	{ "ma_txn_flush_8a8e6c70-4e1c-11e6-9b6f-e5e1b57c5b5b.log",
	  SSTABLE_TXNLOG, "ma", "", 0, 0, "", "", 0, "", "",
	  SSTABLE_TEMP_NONE, NULL },
	/* garbage */
	BAD(""), BAD("Data.db"), BAD("nb--big-Data.db"),
	BAD("../x"), BAD(".."), BAD("."),
	BAD("a/nb-1-big-Data.db"), BAD("nb-1-big-Data.db/"),
	BAD("/nb-1-big-Data.db"), BAD("nb-1-big-"),
	BAD("nb-1-big-Data"), BAD("nb-1-xyz-Data.db"),
	BAD("NB-1-big-Data.db"), BAD("nbb-1-big-Data.db"),
	BAD("n-1-big-Data.db"), BAD("nb-1a-big-Data.db"),
	BAD("nb--1-big-Data.db"), BAD("nb-0x1-big-Data.db"),
	BAD("nb-3gq8_0x1a_2h5ol2ffw0jfyk1vm-big-Data.db"),
	BAD("nb-3GQ8_0x1a_2h5ol2ffw0jfyk1vmu-big-Data.db"),
	BAD("nb-3gq8-0x1a-2h5ol2ffw0jfyk1vmu-big-Data.db"),
	BAD("nb-18446744073709551616-big-Data.db"),
	BAD("ks-tbl-ka-1"), BAD("ks-tbl-ka-x-Data.db"),
	BAD("a-ks-tbl-ka-1-Data.db"),
	BAD("foo-nb-1-big-Data.db"),
	BAD("tmp-ks-tbl-ka-1-Data.db"),
	BAD("ks-t-b-l-ka-1-Data.db"), BAD("ks-tbl.-ka-1-Data.db"),
	BAD("nb-1-big-Data.db "), BAD("nb-1-big-Da ta.db"),
	BAD("nb-1-big-Data.db\n"), BAD("nb-1-big-SAI+aa.db"),
	BAD("nb-1-big-SAI++Meta.db"),
	BAD("nb-1-big-SAI+aa+idx+Meta"),
	BAD("nb-1-big-.db"), BAD("nb-1-big-Data."),
	BAD("manifest.json"), BAD("schema.cql"),
	BAD("ephemeral.snapshot"), BAD("nb_txn_.log"),
	BAD("nb_txn_compaction.log"), BAD(".tmp"),
	BAD("nb-1-big-Data.db.tmp.tmp"), BAD("nb-1-big-Data.db.xyz.tmp"),
	BAD("nb-1-b\xc3\xafg-Data.db"),
};

static void check_name_case(const struct name_case *c)
{
	struct sstable_name n;
	char buf[SSTABLE_NAME_MAX + 1];
	int r = sstable_parse_name(c->name, &n);

	CHECK(r == c->ret, "parse \"%s\": want %d got %d", c->name, c->ret, r);
	if (r != c->ret || r < 0) {
		if (r < 0)
			CHECK(n.version[0] == '\0' && n.component[0] == '\0',
			      "parse \"%s\": struct not cleared on error",
			      c->name);
		return;
	}
	CHECK(!strcmp(n.version, c->version), "\"%s\": version %s, want %s",
	      c->name, n.version, c->version);
	CHECK(!strcmp(n.id, c->id), "\"%s\": id %s, want %s", c->name, n.id,
	      c->id);
	CHECK(n.id_kind == c->id_kind && n.gen == c->gen,
	      "\"%s\": id kind %d gen %llu, want %d %llu", c->name, n.id_kind,
	      (unsigned long long)n.gen, c->id_kind,
	      (unsigned long long)c->gen);
	CHECK(!strcmp(n.format, c->format), "\"%s\": format %s, want %s",
	      c->name, n.format, c->format);
	CHECK(!strcmp(n.component, c->component),
	      "\"%s\": component %s, want %s", c->name, n.component,
	      c->component);
	CHECK(n.comp == c->comp, "\"%s\": comp %d, want %d", c->name, n.comp,
	      c->comp);
	CHECK(!strcmp(n.ks, c->ks) && !strcmp(n.table, c->table),
	      "\"%s\": ks/table %s/%s, want %s/%s", c->name, n.ks, n.table,
	      c->ks, c->table);
	CHECK(n.temp == c->temp, "\"%s\": temp %d, want %d", c->name, n.temp,
	      c->temp);
	CHECK(!!(n.flags & SSTABLE_F_LEGACY) == (c->ks[0] != '\0'),
	      "\"%s\": legacy flag %u", c->name, n.flags);
	CHECK(!!(n.flags & SSTABLE_F_TEMP) == (r == SSTABLE_TEMPORARY),
	      "\"%s\": temp flag %u", c->name, n.flags);
	CHECK(!!(n.flags & SSTABLE_F_TXNLOG) == (r == SSTABLE_TXNLOG),
	      "\"%s\": txn flag %u", c->name, n.flags);
	if (r == SSTABLE_TXNLOG) {
		CHECK(sstable_key(&n, buf, sizeof(buf)) == -EINVAL &&
			      sstable_format_name(&n, buf, sizeof(buf)) ==
				      -EINVAL,
		      "\"%s\": txn log must have no key or name", c->name);
		return;
	}
	r = sstable_key(&n, buf, sizeof(buf));
	CHECK(r == (int)strlen(c->key) && !strcmp(buf, c->key),
	      "\"%s\": key \"%s\" (%d), want \"%s\"", c->name, buf, r, c->key);
	r = sstable_format_name(&n, buf, sizeof(buf));
	CHECK(r == (int)strlen(c->name) && !strcmp(buf, c->name),
	      "\"%s\": rebuilt as \"%s\" (%d)", c->name, buf, r);
}

/* Length limits: exactly SSTABLE_NAME_MAX parses, one more does not. */
static void check_name_lengths(void)
{
	char name[SSTABLE_NAME_MAX + 2], small[8];
	struct sstable_name n;
	const char *tail = "-tbl-ka-1-Data.db";
	size_t pad = SSTABLE_NAME_MAX - strlen(tail);
	int r;

	memset(name, 'k', pad);
	strcpy(name + pad, tail);
	r = sstable_parse_name(name, &n);
	CHECK(r == 0 && strlen(n.ks) == pad,
	      "255-char name: want 0 got %d (ks len %zu)", r, strlen(n.ks));
	r = sstable_format_name(&n, small, sizeof(small));
	CHECK(r == -ENOSPC && small[0] == '\0',
	      "format into 8 bytes: want -ENOSPC got %d", r);
	memset(name, 'k', pad + 1);
	strcpy(name + pad + 1, tail);
	r = sstable_parse_name(name, &n);
	CHECK(r == -ENAMETOOLONG, "256-char name: want -ENAMETOOLONG got %d",
	      r);
	/* A longer id would push the 255-char name over the limit. */
	memset(name, 'k', pad);
	strcpy(name + pad, tail);
	r = sstable_rename_id(name, "10", small, sizeof(small));
	CHECK(r == -ENAMETOOLONG, "rename to 256 chars: want -ENAMETOOLONG got %d",
	      r);
	r = sstable_parse_name("nb-1-big-Data.db", &n);
	CHECK(r == 0, "parse for sibling: %d", r);
	{
		char buf[64];

		r = sstable_sibling_name(&n, "Digest.crc32", buf, sizeof(buf));
		CHECK(r > 0 && !strcmp(buf, "nb-1-big-Digest.crc32"),
		      "sibling: got \"%s\" (%d)", buf, r);
		r = sstable_sibling_name(&n, "../x", buf, sizeof(buf));
		CHECK(r == -EINVAL, "sibling ../x: want -EINVAL got %d", r);
	}
}

static void test_names(void)
{
	int before = failures;

	for (size_t i = 0; i < SV_ARRAY_SIZE(name_cases); i++)
		check_name_case(&name_cases[i]);
	check_name_lengths();
	printf("names: %zu static cases %s\n", SV_ARRAY_SIZE(name_cases),
	       failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Renames                                                             */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name, *new_id;
	int ret;
	const char *want;
} rename_cases[] = {
	{ "nb-1-big-Data.db", "7", 0, "nb-7-big-Data.db" },
	{ "na-1-bti-Partitions.db", "12", 0, "na-12-bti-Partitions.db" },
	{ "na-1-bti-Rows.db", "12", 0, "na-12-bti-Rows.db" },
	{ "da-" UUID1 "-bti-Rows.db", UUID2, 0, "da-" UUID2 "-bti-Rows.db" },
	{ "da-" UUID1 "-bti-Data.db", "3", 0, "da-3-bti-Data.db" },
	{ "nb-1-big-Data.db", UUID2, 0, "nb-" UUID2 "-big-Data.db" },
	{ "nb-6-big-SAI+aa+orders_idx+TermsData.db", "9", 0,
	  "nb-9-big-SAI+aa+orders_idx+TermsData.db" },
	{ "legacy_tables-legacy_ka_simple-ka-1-Data.db", "42", 0,
	  "legacy_tables-legacy_ka_simple-ka-42-Data.db" },
	{ "Keyspace1-Standard1-jb-0-Digest.sha1", "5", 0,
	  "Keyspace1-Standard1-jb-5-Digest.sha1" },
	{ "ks-tbl.tbl_idx-ka-3-Index.db", "4", 0,
	  "ks-tbl.tbl_idx-ka-4-Index.db" },
	{ "tmp-lb-3-big-Data.db", "4", 0, "tmp-lb-4-big-Data.db" },
	{ "tmplink-la-2-big-Data.db", "20", 0, "tmplink-la-20-big-Data.db" },
	{ "ks-tbl-tmp-ka-4-Data.db", "5", 0, "ks-tbl-tmp-ka-5-Data.db" },
	{ "nb-5-big-Data.db." TXUUID ".tmp", "6", 0,
	  "nb-6-big-Data.db." TXUUID ".tmp" },
	{ "nb-5-big-Statistics.db.tmp", "6", 0, "nb-6-big-Statistics.db.tmp" },
	{ "legacy_tables-legacy_ka_simple-ka-1-Data.db", UUID1, -EINVAL, "" },
	{ "nb_txn_compaction_" TXUUID ".log", "2", -EINVAL, "" },
	{ "nb-1-big-Data.db", "", -EINVAL, "" },
	{ "nb-1-big-Data.db", "x", -EINVAL, "" },
	{ "nb-1-big-Data.db", "1-big", -EINVAL, "" },
	{ "nb-1-big-Data.db", "../1", -EINVAL, "" },
	{ "nb-1-big-Data.db", "3gq8_0x1a_2h5ol2ffw0jfyk1vmuX", -EINVAL, "" },
	{ "Data.db", "1", -EINVAL, "" },
};

static void test_rename(void)
{
	static const char *const bti_set[] = {
		"na-1-bti-Data.db",	   "na-1-bti-Partitions.db",
		"na-1-bti-Rows.db",	   "na-1-bti-TOC.txt",
		"na-1-bti-Digest.crc32", "na-1-bti-Statistics.db",
	};
	char out[SSTABLE_NAME_MAX + 1], back[SSTABLE_NAME_MAX + 1];
	char first_key[SSTABLE_NAME_MAX + 1] = "";
	int before = failures, r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(rename_cases); i++) {
		struct sstable_name orig;

		r = sstable_rename_id(rename_cases[i].name,
				      rename_cases[i].new_id, out, sizeof(out));
		CHECK(rename_cases[i].ret < 0 ? r == rename_cases[i].ret :
						r == (int)strlen(rename_cases[i].want),
		      "rename \"%s\" to %s: want %d got %d",
		      rename_cases[i].name, rename_cases[i].new_id,
		      rename_cases[i].ret, r);
		if (r < 0 || rename_cases[i].ret < 0)
			continue;
		CHECK(!strcmp(out, rename_cases[i].want) &&
			      r == (int)strlen(out),
		      "rename \"%s\": got \"%s\", want \"%s\"",
		      rename_cases[i].name, out, rename_cases[i].want);
		/* Round trip: renaming back restores the original name. */
		if (sstable_parse_name(rename_cases[i].name, &orig) < 0)
			continue;
		r = sstable_rename_id(out, orig.id, back, sizeof(back));
		CHECK(r >= 0 && !strcmp(back, rename_cases[i].name),
		      "round trip of \"%s\": got \"%s\" (%d)",
		      rename_cases[i].name, back, r);
	}
	r = sstable_rename_id("nb-1-big-Data.db", "7", out, 16);
	CHECK(r == -ENOSPC, "rename into 16 bytes: want -ENOSPC got %d", r);
	r = sstable_rename_id("nb-1-big-Data.db", "7", out, 17);
	CHECK(r == 16, "rename into 17 bytes: want 16 got %d", r);

	/* Every component of one SSTable renamed with one id stays one
	 * SSTable: equal keys, and still apart from the BIG twin. */
	for (size_t i = 0; i < SV_ARRAY_SIZE(bti_set); i++) {
		struct sstable_name n;
		char key[SSTABLE_NAME_MAX + 1];

		r = sstable_rename_id(bti_set[i], "77", out, sizeof(out));
		CHECK(r > 0, "rename %s: %d", bti_set[i], r);
		CHECK(sstable_parse_name(out, &n) == 0 &&
			      sstable_key(&n, key, sizeof(key)) > 0,
		      "renamed %s does not parse", out);
		if (i == 0)
			strcpy(first_key, key);
		CHECK(!strcmp(key, first_key) && !strcmp(key, "na-77-bti"),
		      "renamed set: key %s, first %s", key, first_key);
	}
	printf("rename: %zu cases + set rename %s\n",
	       SV_ARRAY_SIZE(rename_cases), failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Table directories                                                   */
/* ------------------------------------------------------------------ */

static void test_table_dirs(void)
{
	static const struct {
		const char *name;
		int ret;
		enum sstable_dir_kind kind;
		const char *tname;
		bool has_id;
		uint8_t id0, id15;
	} cases[] = {
		{ "legacy_ka_simple-5edea35d664539748ab2b705f09f5306", 0,
		  SSTABLE_DIR_TABLE, "legacy_ka_simple", true, 0x5e, 0x06 },
		{ "orders-ABCDEF0123456789abcdef0123456789", 0,
		  SSTABLE_DIR_TABLE, "orders", true, 0xab, 0x89 },
		{ "Standard1", 0, SSTABLE_DIR_TABLE, "Standard1", false, 0, 0 },
		{ ".orders_idx", 0, SSTABLE_DIR_INDEX, "orders_idx", false, 0, 0 },
		{ .name = "", .ret = -EINVAL }, { .name = ".", .ret = -EINVAL }, { .name = "..", .ret = -EINVAL },
		{ .name = "tbl-", .ret = -EINVAL }, { .name = "-5edea35d664539748ab2b705f09f5306", .ret = -EINVAL },
		{ .name = "tbl-5edea35d664539748ab2b705f09f530", .ret = -EINVAL },
		{ .name = "tbl-5edea35d664539748ab2b705f09f53066", .ret = -EINVAL },
		{ .name = "tbl-5edea35d664539748ab2b705f09f530g", .ret = -EINVAL },
		{ .name = "t-b-5edea35d664539748ab2b705f09f5306", .ret = -EINVAL },
		{ .name = "tbl-5edea35d664539748ab2b705f09f5306-x", .ret = -EINVAL },
		{ .name = "a/b", .ret = -EINVAL }, { .name = ".a.b", .ret = -EINVAL }, { .name = "t bl", .ret = -EINVAL },
	};
	struct sstable_table_dir d;
	char longname[SSTABLE_NAME_MAX + 2];
	int before = failures;

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		int r = sstable_parse_table_dir(cases[i].name, &d);

		CHECK(r == cases[i].ret, "table dir \"%s\": want %d got %d",
		      cases[i].name, cases[i].ret, r);
		if (r < 0 || cases[i].ret < 0)
			continue;
		CHECK(d.kind == cases[i].kind && !strcmp(d.name, cases[i].tname) &&
			      d.has_id == cases[i].has_id,
		      "table dir \"%s\": kind %d name %s has_id %d", cases[i].name,
		      d.kind, d.name, d.has_id);
		if (cases[i].has_id)
			CHECK(d.id[0] == cases[i].id0 && d.id[15] == cases[i].id15 &&
				      strlen(d.id_hex) == 32,
			      "table dir \"%s\": id bytes %02x..%02x",
			      cases[i].name, d.id[0], d.id[15]);
		else
			CHECK(d.id_hex[0] == '\0', "table dir \"%s\": id_hex set",
			      cases[i].name);
	}
	memset(longname, 't', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(sstable_parse_table_dir(longname, &d) == -ENAMETOOLONG,
	      "256-char table dir: want -ENAMETOOLONG");
	printf("table dirs: %zu cases %s\n", SV_ARRAY_SIZE(cases),
	       failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* TOC                                                                 */
/* ------------------------------------------------------------------ */

static struct sstable_toc toc; /* 8.7 KiB: not on the stack */

static void test_toc_synthetic(void)
{
	static const struct {
		const char *text;
		int ret;
		unsigned count;
		const char *first, *last;
	} cases[] = {
		{ "Data.db\nFilter.db\nTOC.txt\n", 0, 3, "Data.db", "TOC.txt" },
		{ "Data.db\r\nFilter.db\r\nTOC.txt\r\n", 0, 3, "Data.db",
		  "TOC.txt" },
		{ "Data.db\nTOC.txt", 0, 2, "Data.db", "TOC.txt" },
		{ "\n\nData.db\n\n  Filter.db \t\n\n\n", 0, 2, "Data.db",
		  "Filter.db" },
		{ "Data.db\nData.db\r\nData.db", 0, 1, "Data.db", "Data.db" },
		{ "SAI+aa+idx+Meta.db\nRows.db\n", 0, 2, "SAI+aa+idx+Meta.db",
		  "Rows.db" },
		{ "", 0, 0, NULL, NULL },
		{ "\r\n\n", 0, 0, NULL, NULL },
		{ "Data.db\n\x01\x02\x03\n", -EINVAL, 0, NULL, NULL },
		{ "Data.db\nnot a component\n", -EINVAL, 0, NULL, NULL },
		{ "Data.db\n../TOC.txt\n", -EINVAL, 0, NULL, NULL },
	};
	static const char *const present_ok[] = { "Data.db", "Index.db",
						  "TOC.txt", "Extra.db" };
	static const char *const present_nodata[] = { "Index.db", "TOC.txt" };
	static const char *many[SSTABLE_TOC_MAX + 1];
	struct sstable_toc_check res;
	char *big;
	size_t pos = 0;
	int before = failures, r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		r = sstable_parse_toc(cases[i].text, strlen(cases[i].text), &toc);
		CHECK(r == cases[i].ret, "toc case %zu: want %d got %d", i,
		      cases[i].ret, r);
		if (r < 0) {
			CHECK(toc.count == 0, "toc case %zu: count %u on error",
			      i, toc.count);
			continue;
		}
		CHECK(toc.count == cases[i].count, "toc case %zu: count %u want %u",
		      i, toc.count, cases[i].count);
		if (!cases[i].count)
			continue;
		CHECK(!strcmp(sstable_toc_get(&toc, 0), cases[i].first) &&
			      !strcmp(sstable_toc_get(&toc, toc.count - 1),
				      cases[i].last),
		      "toc case %zu: entries %s..%s", i,
		      sstable_toc_get(&toc, 0),
		      sstable_toc_get(&toc, toc.count - 1));
		CHECK(sstable_toc_get(&toc, toc.count) == NULL,
		      "toc case %zu: get past the end", i);
	}
	CHECK(sstable_parse_toc(NULL, 0, &toc) == 0 && toc.count == 0,
	      "empty NULL toc");

	/* Limits: bytes and entries. */
	big = malloc(SSTABLE_TOC_BYTES + 16);
	memset(big, '\n', SSTABLE_TOC_BYTES);
	r = sstable_parse_toc(big, SSTABLE_TOC_BYTES, &toc);
	CHECK(r == -E2BIG, "toc of %d bytes: want -E2BIG got %d",
	      SSTABLE_TOC_BYTES, r);
	for (int i = 0; i <= SSTABLE_TOC_MAX; i++)
		pos += (size_t)sprintf(big + pos, "C%03d.db\n", i);
	r = sstable_parse_toc(big, pos, &toc);
	CHECK(r == -E2BIG, "toc of %d entries: want -E2BIG got %d",
	      SSTABLE_TOC_MAX + 1, r);
	r = sstable_parse_toc(big, pos - 8, &toc);
	CHECK(r == 0 && toc.count == SSTABLE_TOC_MAX,
	      "toc of %d entries: want 0 got %d (%u)", SSTABLE_TOC_MAX, r,
	      toc.count);
	free(big);

	/* Checks against what is present. */
	r = sstable_parse_toc("Data.db\nIndex.db\nSummary.db\nTOC.txt\n", 36,
			      &toc);
	CHECK(r == 0 && toc.count == 4, "check toc parse: %d %u", r, toc.count);
	r = sstable_check_toc(&toc, present_ok, 4, &res);
	CHECK(r == 0 && res.missing == 1 && res.fatal == 0 &&
		      !strcmp(sstable_toc_get(&toc, res.missing_idx[0]),
			      "Summary.db") &&
		      res.unlisted == 1 && res.unlisted_idx[0] == 3,
	      "missing Summary.db: want 0/1 missing/0 fatal/1 unlisted, got %d/%u/%u/%u",
	      r, res.missing, res.fatal, res.unlisted);
	r = sstable_check_toc(&toc, present_nodata, 2, &res);
	CHECK(r == -ENOENT && res.missing == 2 && res.fatal == 1,
	      "missing Data.db: want -ENOENT/2/1, got %d/%u/%u", r, res.missing,
	      res.fatal);
	r = sstable_check_toc(&toc, present_ok, 3, &res);
	CHECK(r == 0 && res.missing == 1 && res.unlisted == 0,
	      "exact minus Summary: %d/%u/%u", r, res.missing, res.unlisted);
	for (int i = 0; i <= SSTABLE_TOC_MAX; i++)
		many[i] = "Data.db";
	r = sstable_check_toc(&toc, many, SSTABLE_TOC_MAX + 1, &res);
	CHECK(r == -E2BIG, "check with %d present: want -E2BIG got %d",
	      SSTABLE_TOC_MAX + 1, r);
	printf("toc: %zu parse cases + limits + checks %s\n",
	       SV_ARRAY_SIZE(cases), failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Digests                                                             */
/* ------------------------------------------------------------------ */

/* Verify data in pieces of step bytes. */
static int verify_pieces(const struct sstable_digest *d, const void *data,
			 size_t len, size_t step, struct sstable_digest *got)
{
	struct sstable_verify v;
	const unsigned char *p = data;
	int r = sstable_verify_init(&v, d);

	if (got)
		memset(got, 0, sizeof(*got));
	if (r)
		return r;
	/* An empty NULL piece mid-stream must change nothing (zlib would
	 * return its initial value for a NULL buffer). */
	for (size_t off = 0; off < len; off += step) {
		sstable_verify_update(&v, p + off, SV_MIN(step, len - off));
		if (off == 0)
			sstable_verify_update(&v, NULL, 0);
	}
	r = sstable_verify_final(&v);
	if (got)
		*got = v.got;
	sstable_verify_release(&v); /* harmless after final */
	return r;
}

static void test_digest_synthetic(void)
{
	static const struct {
		const char *comp, *content;
		int ret;
		enum sstable_digest_kind kind;
		uint32_t value;
		const char *data, *formatted;
	} cases[] = {
		/* Standard check values: CRC-32 of "123456789", Adler-32 of
		 * "Wikipedia", SHA-1 of "abc" (FIPS 180 example). */
		{ "Digest.crc32", "3421780262", 0, SSTABLE_DIGEST_CRC32,
		  3421780262u, "123456789", "crc32:3421780262" },
		{ "Digest.crc32", "3421780262\n", 0, SSTABLE_DIGEST_CRC32,
		  3421780262u, "123456789", "crc32:3421780262" },
		{ "Digest.adler32", "300286872", 0, SSTABLE_DIGEST_ADLER32,
		  300286872u, "Wikipedia", "adler32:300286872" },
		/* 2.1: Adler-32 in a file named Digest.sha1 */
		{ "Digest.sha1", "300286872", 0, SSTABLE_DIGEST_ADLER32,
		  300286872u, "Wikipedia", "adler32:300286872" },
		/* 2.0: sha1sum layout, bare name or full path */
		{ "Digest.sha1",
		  "a9993e364706816aba3e25717850c26c9cd0d89d  Keyspace1-Standard1-jb-0-Data.db",
		  0, SSTABLE_DIGEST_SHA1, 0, "abc",
		  "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "Digest.sha1",
		  "A9993E364706816ABA3E25717850C26C9CD0D89D  /var/lib/cassandra/data/Keyspace1/Standard1/Keyspace1-Standard1-jb-0-Data.db\n",
		  0, SSTABLE_DIGEST_SHA1, 0, "abc",
		  "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "Digest.sha1", "a9993e364706816aba3e25717850c26c9cd0d89d", 0,
		  SSTABLE_DIGEST_SHA1, 0, "abc",
		  "sha1:a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "Digest.crc32", "0", 0, SSTABLE_DIGEST_CRC32, 0, "",
		  "crc32:0" },
		{ "Digest.crc32", "4294967295", 0, SSTABLE_DIGEST_CRC32,
		  UINT32_MAX, NULL, "crc32:4294967295" },
		{ .comp = "Digest.crc32", .content = "4294967296", .ret = -EINVAL },
		{ .comp = "Digest.crc32", .content = "-1", .ret = -EINVAL },
		{ .comp = "Digest.crc32", .content = "", .ret = -EINVAL },
		{ .comp = "Digest.crc32", .content = "abc", .ret = -EINVAL },
		{ .comp = "Digest.crc32", .content = "12\n34", .ret = -EINVAL },
		{ .comp = "Digest.adler32", .content = "12345678901", .ret = -EINVAL },
		{ .comp = "Digest.md5", .content = "123", .ret = -EINVAL },
		{ .comp = "Data.db", .content = "123", .ret = -EINVAL },
		{ .comp = "Digest.sha1", .content = "a9993e364706816aba3e25717850c26c9cd0d89", .ret = -EINVAL },
		{ .comp = "Digest.sha1", .content = "a9993e364706816aba3e25717850c26c9cd0d89dx", .ret = -EINVAL },
		{ .comp = "Digest.sha1", .content = "g9993e364706816aba3e25717850c26c9cd0d89d", .ret = -EINVAL },
		{ .comp = "Digest.sha1", .content = "a9993e364706816aba3e25717850c26c9cd0d89d  a\nb", .ret = -EINVAL },
	};
	struct sstable_digest d, got;
	struct sstable_verify v;
	char buf[64];
	int before = failures, r;

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		r = sstable_parse_digest(cases[i].comp, cases[i].content,
					 strlen(cases[i].content), &d);
		CHECK(r == cases[i].ret, "digest %s \"%s\": want %d got %d",
		      cases[i].comp, cases[i].content, cases[i].ret, r);
		if (r < 0 || cases[i].ret < 0)
			continue;
		CHECK(d.kind == cases[i].kind &&
			      (d.kind == SSTABLE_DIGEST_SHA1 ||
			       d.value == cases[i].value),
		      "digest %s \"%s\": kind %d value %u", cases[i].comp,
		      cases[i].content, d.kind, d.value);
		r = sstable_format_digest(&d, buf, sizeof(buf));
		CHECK(r > 0 && !strcmp(buf, cases[i].formatted),
		      "format digest: \"%s\", want \"%s\"", buf,
		      cases[i].formatted);
		if (!cases[i].data)
			continue;
		size_t n = strlen(cases[i].data);
		char *copy = malloc(n + 1);

		memcpy(copy, cases[i].data, n + 1);
		for (size_t step = 1; step <= 4; step += 3) {
			r = verify_pieces(&d, copy, n, step, &got);
			CHECK(r == 0, "verify \"%s\" against %s (step %zu): %d",
			      cases[i].data, cases[i].formatted, step, r);
		}
		if (n) {
			copy[n / 2] ^= 0x01;
			r = verify_pieces(&d, copy, n, 2, &got);
			CHECK(r == -EBADMSG,
			      "flipped \"%s\": want -EBADMSG got %d", copy, r);
		}
		free(copy);
	}
	/* Abandoned SHA-1 verification must not leak (ASan checks). */
	r = sstable_parse_digest("Digest.sha1",
				 "a9993e364706816aba3e25717850c26c9cd0d89d", 40,
				 &d);
	CHECK(r == 0 && sstable_verify_init(&v, &d) == 0, "sha1 init");
	sstable_verify_update(&v, "ab", 2);
	sstable_verify_release(&v);
	sstable_verify_release(&v);
	CHECK(sstable_format_digest(&d, buf, 10) == -ENOSPC,
	      "format digest into 10 bytes: want -ENOSPC");
	memset(&d, 0, sizeof(d));
	CHECK(sstable_verify_init(&v, &d) == -EINVAL,
	      "verify with kind 0: want -EINVAL");
	printf("digest: %zu cases %s\n", SV_ARRAY_SIZE(cases),
	       failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* manifest.json                                                       */
/* ------------------------------------------------------------------ */

#define T_20210703 1625308650000LL /* 2021-07-03T10:37:30Z, date -u +%s */

static void test_manifest(void)
{
	static const struct {
		const char *json;
		int ret;
		size_t n_files;
		const char *file0, *file1;
		bool has_created, has_expires;
		int64_t created, expires;
		bool ephemeral;
		const char *err_has;
	} cases[] = {
		/* 2.2, empty snapshot */
		{ "{\"files\":[]}\n", 0, 0, NULL, NULL, false, false, 0, 0,
		  false, NULL },
		/* 4.0 json-simple, index SSTable with "\/" */
		{ "{\"files\":[\"nb-1-big-Data.db\",\".idx\\/nb-1-big-Data.db\"]}\n",
		  0, 2, "nb-1-big-Data.db", ".idx/nb-1-big-Data.db", false,
		  false, 0, 0, false, NULL },
		/* 4.1 Jackson, ISO-8601 strings, expires null */
		{ "{\"files\":[\"nb-1-big-Data.db\"],\"created_at\":\"2021-07-03T10:37:30Z\",\"expires_at\":null}",
		  0, 1, "nb-1-big-Data.db", NULL, true, false, T_20210703, 0,
		  false, NULL },
		{ "{\"files\":[\"a-1-big-Data.db\"],\"created_at\":\"2021-07-03T10:37:30.123456789Z\",\"expires_at\":\"2021-07-03T12:37:30+02:00\"}",
		  0, 1, "a-1-big-Data.db", NULL, true, true, T_20210703 + 123,
		  T_20210703, false, NULL },
		{ "{\"files\":[],\"created_at\":\"2000-02-29T23:59:59.5Z\",\"expires_at\":\"1969-12-31T23:59:59Z\"}",
		  0, 0, NULL, NULL, true, true, 951868799500LL, -1000, false,
		  NULL },
		/* 4.1 Jackson numeric: seconds.nanos, epoch ms, epoch s */
		{ "{\"files\":[],\"created_at\":1625308650.123456789,\"expires_at\":1625312250.5}",
		  0, 0, NULL, NULL, true, true, T_20210703 + 123,
		  T_20210703 + 3600500, false, NULL },
		{ "{\"files\":[],\"created_at\":1625308650000,\"expires_at\":1625308650}",
		  0, 0, NULL, NULL, true, true, T_20210703, T_20210703, false,
		  NULL },
		/* 5.0 ephemeral, unknown fields ignored */
		{ "{\"files\":[\"da-" UUID1 "-bti-Data.db\"],\"created_at\":\"2021-07-03T10:37:30Z\",\"expires_at\":null,\"ephemeral\":true,\"future\":{\"x\":[1]}}",
		  0, 1, "da-" UUID1 "-bti-Data.db", NULL, true, false,
		  T_20210703, 0, true, NULL },
		{ "{\"ephemeral\":false,\"files\":[\"x\"]}", 0, 1, "x", NULL,
		  false, false, 0, 0, false, NULL },
		/* malformed */
		{ "{\"files\":[\"a\"", -EBADMSG, 0, NULL, NULL, false, false, 0,
		  0, false, "line 1" },
		{ "", -EBADMSG, 0, NULL, NULL, false, false, 0, 0, false,
		  "manifest.json: line" },
		{ "[]", -EBADMSG, 0, NULL, NULL, false, false, 0, 0, false,
		  "not a JSON object" },
		{ "{}", -EBADMSG, 0, NULL, NULL, false, false, 0, 0, false,
		  "no \"files\" array" },
		{ "{\"files\":\"x\"}", -EBADMSG, 0, NULL, NULL, false, false, 0,
		  0, false, "not an array" },
		{ "{\"files\":[1]}", -EBADMSG, 0, NULL, NULL, false, false, 0, 0,
		  false, "files[0] is not a string" },
		{ "{\"files\":[\"ok\",\"..\\/..\\/etc\\/passwd\"]}", -EBADMSG, 0,
		  NULL, NULL, false, false, 0, 0, false, "files[1]" },
		{ "{\"files\":[\"/etc/passwd\"]}", -EBADMSG, 0, NULL, NULL, false,
		  false, 0, 0, false, "leaves the snapshot" },
		{ "{\"files\":[\"a//b\"]}", -EBADMSG, 0, NULL, NULL, false, false,
		  0, 0, false, "leaves the snapshot" },
		{ "{\"files\":[\"\"]}", -EBADMSG, 0, NULL, NULL, false, false, 0,
		  0, false, "files[0]" },
		{ "{\"files\":[],\"created_at\":\"yesterday\"}", -EBADMSG, 0,
		  NULL, NULL, false, false, 0, 0, false, "created_at" },
		{ "{\"files\":[],\"created_at\":\"2021-02-29T00:00:00Z\"}",
		  -EBADMSG, 0, NULL, NULL, false, false, 0, 0, false,
		  "ISO-8601" },
		{ "{\"files\":[],\"created_at\":\"2021-07-03T10:37:30\"}",
		  -EBADMSG, 0, NULL, NULL, false, false, 0, 0, false,
		  "ISO-8601" },
		{ "{\"files\":[],\"expires_at\":true}", -EBADMSG, 0, NULL, NULL,
		  false, false, 0, 0, false, "expires_at" },
		{ "{\"files\":[],\"expires_at\":1e300}", -EBADMSG, 0, NULL, NULL,
		  false, false, 0, 0, false, "out of range" },
		{ "{\"files\":[],\"ephemeral\":\"yes\"}", -EBADMSG, 0, NULL, NULL,
		  false, false, 0, 0, false, "ephemeral" },
		{ "{\"files\":[],\"files\":[]}", -EBADMSG, 0, NULL, NULL, false,
		  false, 0, 0, false, "duplicate" },
	};
	int before = failures;

	for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
		struct sstable_manifest *m = (void *)1;
		char err[256];
		int r = sstable_parse_manifest(cases[i].json,
					       strlen(cases[i].json), &m, err,
					       sizeof(err));

		CHECK(r == cases[i].ret, "manifest %zu: want %d got %d (%s)", i,
		      cases[i].ret, r, err);
		if (r < 0) {
			CHECK(m == NULL, "manifest %zu: *out not NULL on error",
			      i);
			CHECK(cases[i].err_has && strstr(err, cases[i].err_has),
			      "manifest %zu: error \"%s\" lacks \"%s\"", i, err,
			      cases[i].err_has ? cases[i].err_has : "");
			printf("  manifest %zu rejected: %s\n", i, err);
			continue;
		}
		if (cases[i].ret < 0) {
			sstable_manifest_free(m);
			continue;
		}
		CHECK(m->n_files == cases[i].n_files, "manifest %zu: %zu files",
		      i, m->n_files);
		if (cases[i].file0 && m->n_files > 0)
			CHECK(!strcmp(m->files[0], cases[i].file0),
			      "manifest %zu: files[0] %s", i, m->files[0]);
		if (cases[i].file1 && m->n_files > 1)
			CHECK(!strcmp(m->files[1], cases[i].file1),
			      "manifest %zu: files[1] %s", i, m->files[1]);
		CHECK(m->has_created == cases[i].has_created &&
			      (!m->has_created || m->created_ms == cases[i].created),
		      "manifest %zu: created %d %lld, want %d %lld", i,
		      m->has_created, (long long)m->created_ms,
		      cases[i].has_created, (long long)cases[i].created);
		CHECK(m->has_expires == cases[i].has_expires &&
			      (!m->has_expires || m->expires_ms == cases[i].expires),
		      "manifest %zu: expires %d %lld, want %d %lld", i,
		      m->has_expires, (long long)m->expires_ms,
		      cases[i].has_expires, (long long)cases[i].expires);
		CHECK(m->ephemeral == cases[i].ephemeral,
		      "manifest %zu: ephemeral %d", i, m->ephemeral);
		sstable_manifest_free(m);
	}
	sstable_manifest_free(NULL);
	{
		struct sstable_manifest *m;

		CHECK(sstable_parse_manifest("{}", SSTABLE_MANIFEST_MAX + 1ul,
					     &m, NULL, 0) == -E2BIG,
		      "oversized manifest: want -E2BIG");
	}
	printf("manifest: %zu cases %s\n", SV_ARRAY_SIZE(cases),
	       failures == before ? "ok" : "FAILED");
}

/* ------------------------------------------------------------------ */
/* Real fixtures                                                       */
/* ------------------------------------------------------------------ */

enum { C_PATH, C_SIZE, C_COMP, C_VER, C_DFILE, C_DVAL, C_CRC, C_ADLER,
       C_ALGO, C_TOC, NCOLS };

static const char *const col_names[NCOLS] = {
	"path",		 "size",	 "component",	 "sstable_version",
	"digest_file",	 "digest_value", "data_crc32",	 "data_adler32",
	"digest_algo_verified",	"toc_check",
};

struct row {
	const char *f[NCOLS];
};

struct manifest_tsv {
	char *buf;
	struct row *rows;
	size_t n;
};

/* Split line in place on tabs. Return: the number of cells (at most max). */
static int split_tabs(char *line, const char **cells, int max)
{
	int n = 0;
	char *p = line;

	cells[n++] = p;
	while ((p = strchr(p, '\t')) && n < max) {
		*p++ = '\0';
		cells[n++] = p;
	}
	return n;
}

static int load_tsv(const char *path, struct manifest_tsv *t)
{
	const char *hdr[64], *cells[64];
	int idx[NCOLS], ncol, i;
	char *line, *save = NULL;
	size_t len, cap = 1024;

	memset(t, 0, sizeof(*t));
	t->buf = slurp(path, &len);
	if (!t->buf)
		return -errno;
	line = strtok_r(t->buf, "\n", &save);
	if (!line)
		return -EINVAL;
	ncol = split_tabs(line, hdr, 64);
	for (i = 0; i < NCOLS; i++) {
		idx[i] = -1;
		for (int j = 0; j < ncol; j++)
			if (!strcmp(hdr[j], col_names[i]))
				idx[i] = j;
		if (idx[i] < 0) {
			printf("MANIFEST.tsv: no column %s\n", col_names[i]);
			return -EINVAL;
		}
	}
	t->rows = malloc(cap * sizeof(*t->rows));
	if (!t->rows)
		return -ENOMEM;
	while ((line = strtok_r(NULL, "\n", &save))) {
		int n = split_tabs(line, cells, 64);

		if (n != ncol) {
			printf("MANIFEST.tsv: %d cells, want %d\n", n, ncol);
			return -EINVAL;
		}
		if (t->n == cap) {
			struct row *nr = realloc(t->rows, 2 * cap * sizeof(*nr));

			if (!nr)
				return -ENOMEM;
			t->rows = nr;
			cap *= 2;
		}
		for (i = 0; i < NCOLS; i++)
			t->rows[t->n].f[i] = cells[idx[i]];
		t->n++;
	}
	return 0;
}

/* Directory part and base name of a MANIFEST path. */
static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static bool same_dir(const char *a, const char *b)
{
	size_t la = (size_t)(base_of(a) - a), lb = (size_t)(base_of(b) - b);

	return la == lb && !memcmp(a, b, la);
}

/* Name of the path element before the base name (depth 1) or before that
 * (depth 2). */
static void parent_name(const char *path, int depth, char *out, size_t cap)
{
	const char *end = base_of(path) - 1, *start;

	for (int i = 1; i < depth; i++) {
		while (end > path && end[-1] != '/')
			end--;
		end--;
	}
	start = end;
	while (start > path && start[-1] != '/')
		start--;
	snprintf(out, cap, "%.*s", (int)(end - start), start);
}

#define MAX_DIR_FILES 64
#define MAX_GROUPS 8

struct group {
	char key[SSTABLE_NAME_MAX + 1];
	char id[SSTABLE_ID_MAX];
	const char *comps[MAX_DIR_FILES];
	size_t n, first; /* first: index of a member in the parsed names */
	int tocs, datas;
};

struct fixture_stats {
	size_t files, dirs, groups, datas, digests, tocs, warnings,
		expected_warnings, zero_rows, na_dirs, legacy_names;
};

/* Check that the name of every MANIFEST row parses as the row says. */
static void check_rows(const struct manifest_tsv *t, struct fixture_stats *st)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct row *w = &t->rows[i];
		const char *base = base_of(w->f[C_PATH]);
		struct sstable_name n;
		struct sstable_table_dir td;
		char tdir[SSTABLE_NAME_MAX + 1], ks[SSTABLE_NAME_MAX + 1];
		char back[SSTABLE_NAME_MAX + 1];
		int r = sstable_parse_name(base, &n);

		st->files++;
		CHECK(r == 0, "fixture %s: parse %d", w->f[C_PATH], r);
		if (r)
			continue;
		CHECK(!strcmp(n.component, w->f[C_COMP]),
		      "fixture %s: component %s, MANIFEST %s", base,
		      n.component, w->f[C_COMP]);
		CHECK(!strcmp(n.version, w->f[C_VER]),
		      "fixture %s: version %s, MANIFEST %s", base, n.version,
		      w->f[C_VER]);
		CHECK(sstable_format_name(&n, back, sizeof(back)) > 0 &&
			      !strcmp(back, base),
		      "fixture %s: rebuilt as %s", base, back);
		parent_name(w->f[C_PATH], 1, tdir, sizeof(tdir));
		parent_name(w->f[C_PATH], 2, ks, sizeof(ks));
		r = sstable_parse_table_dir(tdir, &td);
		CHECK(r == 0 && td.has_id && td.kind == SSTABLE_DIR_TABLE,
		      "fixture dir %s: parse %d has_id %d", tdir, r, td.has_id);
		if (n.flags & SSTABLE_F_LEGACY) {
			st->legacy_names++;
			CHECK(!strcmp(n.ks, ks) && !strcmp(n.table, td.name),
			      "fixture %s: ks/table %s/%s but folders say %s/%s",
			      base, n.ks, n.table, ks, td.name);
		}
		if (n.comp == SSTABLE_C_ROWS && !strcmp(w->f[C_SIZE], "0"))
			st->zero_rows++;
	}
}

static const struct row *find_row(const struct manifest_tsv *t,
				  const char *dir_path, const char *base)
{
	for (size_t i = 0; i < t->n; i++)
		if (same_dir(t->rows[i].f[C_PATH], dir_path) &&
		    !strcmp(base_of(t->rows[i].f[C_PATH]), base))
			return &t->rows[i];
	return NULL;
}

/* Verify one Data.db against its digest file, then with a flipped byte. */
static void check_digest(const char *root, const struct row *w,
			 struct fixture_stats *st)
{
	char path[4096], dname[SSTABLE_NAME_MAX + 1];
	struct sstable_name n;
	struct sstable_digest d, got;
	char *data = NULL, *dig = NULL;
	size_t len = 0, dlen = 0;
	uint32_t want_col;
	const char *algo = w->f[C_ALGO];
	int r;

	st->datas++;
	if (!strcmp(w->f[C_DFILE], "-"))
		return;
	if (sstable_parse_name(base_of(w->f[C_PATH]), &n) != 0 ||
	    sstable_sibling_name(&n, w->f[C_DFILE], dname, sizeof(dname)) < 0) {
		CHECK(0, "fixture %s: no digest name", w->f[C_PATH]);
		return;
	}
	snprintf(path, sizeof(path), "%s/%.*s%s", root,
		 (int)(base_of(w->f[C_PATH]) - w->f[C_PATH]), w->f[C_PATH],
		 dname);
	dig = slurp(path, &dlen);
	CHECK(dig != NULL, "cannot read %s", path);
	snprintf(path, sizeof(path), "%s/%s", root, w->f[C_PATH]);
	data = slurp(path, &len);
	CHECK(data != NULL, "cannot read %s", path);
	if (!dig || !data)
		goto out;
	CHECK(len == strtoull(w->f[C_SIZE], NULL, 10),
	      "%s: %zu bytes, MANIFEST %s", path, len, w->f[C_SIZE]);
	r = sstable_parse_digest(w->f[C_DFILE], dig, dlen, &d);
	CHECK(r == 0, "%s: digest parse %d", dname, r);
	if (r)
		goto out;
	st->digests++;
	/* The MANIFEST says which algorithm matched when checked with
	 * Python; our content-based choice must agree. */
	want_col = (uint32_t)strtoul(strcmp(algo, "crc32") ? w->f[C_ADLER] :
							     w->f[C_CRC],
				     NULL, 10);
	CHECK((!strcmp(algo, "crc32") && d.kind == SSTABLE_DIGEST_CRC32) ||
		      (!strcmp(algo, "adler32") &&
		       d.kind == SSTABLE_DIGEST_ADLER32),
	      "%s: digest kind %d, MANIFEST algorithm %s", dname, d.kind, algo);
	CHECK(d.value == (uint32_t)strtoul(w->f[C_DVAL], NULL, 10) &&
		      d.value == want_col,
	      "%s: digest %u, MANIFEST digest %s and %s of Data.db %u", dname,
	      d.value, w->f[C_DVAL], algo, want_col);
	r = verify_pieces(&d, data, len, 4093, &got);
	CHECK(r == 0 && got.value == want_col,
	      "%s: streaming verify %d, computed %u want %u", w->f[C_PATH], r,
	      got.value, want_col);
	r = verify_pieces(&d, data, len, len ? len : 1, NULL);
	CHECK(r == 0, "%s: one-piece verify %d", w->f[C_PATH], r);
	if (len) {
		size_t at[3] = { 0, len / 2, len - 1 };

		for (int k = 0; k < 3; k++) {
			data[at[k]] ^= 0x01;
			r = verify_pieces(&d, data, len, 4093, NULL);
			data[at[k]] ^= 0x01;
			CHECK(r == -EBADMSG,
			      "%s: byte %zu flipped: want -EBADMSG got %d",
			      w->f[C_PATH], at[k], r);
		}
	}
out:
	free(dig);
	free(data);
}

/* Group the real directory by key and check each group against its TOC. */
static void check_dir(const char *root, const struct manifest_tsv *t,
		      const char *dir_path, struct fixture_stats *st)
{
	char path[4096], tdir[SSTABLE_NAME_MAX + 1];
	char names[MAX_DIR_FILES][SSTABLE_NAME_MAX + 1];
	struct sstable_name parsed[MAX_DIR_FILES];
	struct group g[MAX_GROUPS];
	size_t nn = 0, ng = 0, rows_here = 0, tocs_listed = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%.*s", root,
		 (int)(base_of(dir_path) - dir_path), dir_path);
	parent_name(dir_path, 1, tdir, sizeof(tdir));
	d = opendir(path);
	CHECK(d != NULL, "cannot open %s: %s", path, strerror(errno));
	if (!d)
		return;
	while ((de = readdir(d)) && nn < MAX_DIR_FILES) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		snprintf(names[nn++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < t->n; i++)
		if (same_dir(t->rows[i].f[C_PATH], dir_path)) {
			rows_here++;
			tocs_listed += !strcmp(t->rows[i].f[C_COMP], "TOC.txt");
		}
	CHECK(nn == rows_here, "%s: %zu files on disk, %zu in MANIFEST", tdir,
	      nn, rows_here);

	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < nn; i++) {
		char key[SSTABLE_NAME_MAX + 1];
		size_t k;

		CHECK(find_row(t, dir_path, names[i]) != NULL,
		      "%s/%s on disk but not in MANIFEST", tdir, names[i]);
		if (sstable_parse_name(names[i], &parsed[i]) != 0 ||
		    sstable_key(&parsed[i], key, sizeof(key)) < 0) {
			CHECK(0, "%s/%s: does not parse", tdir, names[i]);
			continue;
		}
		for (k = 0; k < ng && strcmp(g[k].key, key); k++)
			;
		if (k == ng) {
			if (ng == MAX_GROUPS) {
				CHECK(0, "%s: more than %d groups", tdir,
				      MAX_GROUPS);
				continue;
			}
			strcpy(g[ng].key, key);
			strcpy(g[ng].id, parsed[i].id);
			g[ng].first = i;
			ng++;
		}
		g[k].comps[g[k].n++] = parsed[i].component;
		g[k].tocs += parsed[i].comp == SSTABLE_C_TOC;
		g[k].datas += parsed[i].comp == SSTABLE_C_DATA;
	}
	st->groups += ng;
	/* One TOC per SSTable: the MANIFEST's TOC count is the number of
	 * groups a correct grouping must find. */
	CHECK(ng == tocs_listed, "%s: %zu groups, %zu TOC.txt in MANIFEST",
	      tdir, ng, tocs_listed);
	if (!strncmp(tdir, "legacy_na_", 10)) {
		st->na_dirs++;
		CHECK(ng == 2 &&
			      ((!strcmp(g[0].key, "na-1-big") &&
				!strcmp(g[1].key, "na-1-bti")) ||
			       (!strcmp(g[0].key, "na-1-bti") &&
				!strcmp(g[1].key, "na-1-big"))) &&
			      !strcmp(g[0].id, g[1].id),
		      "%s: want groups na-1-big and na-1-bti with one id, got %zu (%s, %s)",
		      tdir, ng, g[0].key, ng > 1 ? g[1].key : "");
	}
	if (!strncmp(tdir, "legacy_ka_with_illegal_cell_names-", 34))
		CHECK(ng == 2 && g[0].id[0] != g[1].id[0],
		      "%s: want ka-1 and ka-2 groups, got %zu", tdir, ng);

	for (size_t k = 0; k < ng; k++) {
		char tname[SSTABLE_NAME_MAX + 1], expect[256] = "ok", got[256];
		struct sstable_toc_check res;
		const struct row *tr;
		char *text;
		size_t len;
		int r;

		CHECK(g[k].tocs == 1 && g[k].datas == 1,
		      "%s/%s: %d TOC and %d Data.db", tdir, g[k].key, g[k].tocs,
		      g[k].datas);
		if (sstable_sibling_name(&parsed[g[k].first], "TOC.txt", tname,
					 sizeof(tname)) < 0)
			continue;
		tr = find_row(t, dir_path, tname);
		snprintf(path, sizeof(path), "%s/%.*s%s", root,
			 (int)(base_of(dir_path) - dir_path), dir_path, tname);
		text = slurp(path, &len);
		CHECK(text != NULL && tr != NULL, "cannot read %s", path);
		if (!text || !tr) {
			free(text);
			continue;
		}
		st->tocs++;
		r = sstable_parse_toc(text, len, &toc);
		free(text);
		CHECK(r == 0 && toc.count > 0, "%s: toc parse %d", tname, r);
		r = sstable_check_toc(&toc, g[k].comps, g[k].n, &res);
		/* Describe the outcome as the MANIFEST's toc_check column. */
		if (res.missing) {
			size_t o = (size_t)snprintf(got, sizeof(got),
						    "listed_but_missing=");

			for (unsigned m = 0; m < res.missing && o < sizeof(got);
			     m++)
				o += (size_t)snprintf(
					got + o, sizeof(got) - o, "%s%s",
					m ? "," : "",
					sstable_toc_get(&toc, res.missing_idx[m]));
		} else {
			snprintf(got, sizeof(got), "ok");
		}
		snprintf(expect, sizeof(expect), "%s", tr->f[C_TOC]);
		CHECK(!strcmp(got, expect) && res.unlisted == 0,
		      "%s: toc check \"%s\" (%u unlisted), MANIFEST \"%s\"",
		      tname, got, res.unlisted, expect);
		if (res.missing) {
			st->warnings++;
			CHECK(r == 0 && res.fatal == 0,
			      "%s: missing Summary.db must be a warning (%d)",
			      tname, r);
			printf("  warning: %s/%s lists %s, which is missing\n",
			       tdir, tname, got + strlen("listed_but_missing="));
		} else {
			CHECK(r == 0, "%s: toc check %d", tname, r);
		}
	}
}

static int test_fixtures(void)
{
	const char *root = getenv("SV_FIXTURES");
	char path[4096];
	struct manifest_tsv t;
	struct fixture_stats st;
	struct stat sb;
	int before = failures;

	if (!root || !*root)
		root = "/work/shared/fixtures/cassandra-sstables";
	snprintf(path, sizeof(path), "%s/MANIFEST.tsv", root);
	if (stat(path, &sb) != 0) {
		printf("fixtures: %s missing\n", path);
		return 77;
	}
	memset(&st, 0, sizeof(st));
	if (load_tsv(path, &t) < 0) {
		CHECK(0, "cannot load %s", path);
		free(t.buf);
		free(t.rows);
		return 1;
	}
	CHECK(t.n > 0, "MANIFEST.tsv has no rows");
	check_rows(&t, &st);
	for (size_t i = 0; i < t.n; i++) {
		const struct row *w = &t.rows[i];
		bool seen = false;

		if (!strcmp(w->f[C_COMP], "Data.db"))
			check_digest(root, w, &st);
		if (!strncmp(w->f[C_TOC], "listed_but_missing", 18))
			st.expected_warnings++;
		for (size_t j = 0; j < i && !seen; j++)
			seen = same_dir(t.rows[j].f[C_PATH], w->f[C_PATH]);
		if (!seen) {
			st.dirs++;
			check_dir(root, &t, w->f[C_PATH], &st);
		}
	}
	/* The TOCs that list a missing file are discovered from the data;
	 * their number must be what the MANIFEST recorded independently. */
	CHECK(st.warnings == st.expected_warnings,
	      "TOC warnings: found %zu, MANIFEST records %zu", st.warnings,
	      st.expected_warnings);
	CHECK(st.digests == st.datas,
	      "%zu Data.db, only %zu verified against a digest", st.datas,
	      st.digests);
	printf("fixtures: %zu files (%zu pre-2.2 names, %zu zero-byte Rows.db) in %zu dirs, "
	       "%zu sstables, %zu Data.db verified against digests (+3 flips each), "
	       "%zu TOCs checked, %zu TOC warnings (MANIFEST: %zu), %zu na dirs with BIG+BTI %s\n",
	       st.files, st.legacy_names, st.zero_rows, st.dirs, st.groups,
	       st.digests, st.tocs, st.warnings, st.expected_warnings,
	       st.na_dirs, failures == before ? "ok" : "FAILED");
	free(t.buf);
	free(t.rows);
	return 0;
}

int main(void)
{
	int fx;

	test_names();
	test_rename();
	test_table_dirs();
	test_toc_synthetic();
	test_digest_synthetic();
	test_manifest();
	fx = test_fixtures();
	printf("%d checks, %d failed\n", checks, failures);
	if (failures)
		return 1;
	if (fx == 77) {
		printf("static cases passed; fixtures not found (set SV_FIXTURES)\n");
		return 77;
	}
	return 0;
}
