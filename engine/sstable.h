/*
 * sstable.h - what sstvault knows about Cassandra's files.
 *
 * Pure parsing: SSTable component file names (every naming scheme from 2.0
 * to 5.0), table directory names, TOC.txt, the Digest.* files and snapshot
 * manifest.json. Nothing here touches the file system; callers read the
 * bytes and hand them in. The rules follow DESIGN.md section 2 and the
 * fixtures README, which were checked against Cassandra's own source.
 *
 * Name parsing and TOC handling never allocate: results go into fixed-size
 * structs that the caller owns. Only the SHA-1 verifier (Cassandra 2.0) and
 * the manifest parser allocate, and each says so next to its declaration.
 */
#ifndef SV_ENGINE_SSTABLE_H
#define SV_ENGINE_SSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "include/sv.h"

/* ------------------------------------------------------------------ */
/* Component file names                                                */
/* ------------------------------------------------------------------ */

/* Longest file name accepted (Linux NAME_MAX). */
#define SSTABLE_NAME_MAX 255
/* Room for an id string: a 28-char time-UUID or up to 20 digits, plus NUL. */
#define SSTABLE_ID_MAX 32

/* sstable_parse_name() results other than 0 and -errno. */
#define SSTABLE_TEMPORARY 1 /* tmp-, tmplink- or *.tmp: an unfinished write */
#define SSTABLE_TXNLOG 2    /* <ver>_txn_<op>_<uuid>.log */

/* struct sstable_name.flags */
#define SSTABLE_F_LEGACY 0x1 /* pre-2.2 <ks>-<table>-<ver>-<gen>-<Comp> */
#define SSTABLE_F_TEMP 0x2   /* see .temp */
#define SSTABLE_F_TXNLOG 0x4 /* transaction log, only .version is set */

enum sstable_id_kind {
	SSTABLE_ID_NONE = 0, /* transaction logs */
	SSTABLE_ID_INT,	     /* integer generation, .gen holds the value */
	SSTABLE_ID_UUID,     /* 4.1+ base-36 time-UUID "3gq8_0x1a_2h5ol2..." */
};

enum sstable_temp {
	SSTABLE_TEMP_NONE = 0,
	SSTABLE_TEMP_TMP,     /* "tmp" marker */
	SSTABLE_TEMP_TMPLINK, /* "tmplink" marker */
	SSTABLE_TEMP_SUFFIX,  /* "<name>.tmp" or "<name>.<time-uuid>.tmp" */
};

/*
 * What a component is. Anything syntactically valid that is not one of the
 * named ones is SSTABLE_C_OTHER: Cassandra itself accepts custom components,
 * so a backup keeps them rather than dropping them.
 */
enum sstable_comp {
	SSTABLE_C_OTHER = 0,
	SSTABLE_C_DATA,	       /* Data.db */
	SSTABLE_C_INDEX,       /* Index.db (BIG primary index) */
	SSTABLE_C_PARTITIONS,  /* Partitions.db (BTI primary index) */
	SSTABLE_C_ROWS,	       /* Rows.db (BTI, may be zero bytes) */
	SSTABLE_C_SUMMARY,     /* Summary.db */
	SSTABLE_C_FILTER,      /* Filter.db */
	SSTABLE_C_STATS,       /* Statistics.db */
	SSTABLE_C_COMPRESSION, /* CompressionInfo.db */
	SSTABLE_C_CRC,	       /* CRC.db */
	SSTABLE_C_DIGEST,      /* Digest.crc32, Digest.adler32, Digest.sha1 */
	SSTABLE_C_TOC,	       /* TOC.txt */
	SSTABLE_C_SAI,	       /* SAI+aa+idx+TermsData.db, DSE SAI_idx_X.db */
	SSTABLE_C_SASI,	       /* SI_<index>.db */
};

/*
 * One parsed component file name. Every string is NUL-terminated and fits
 * by construction (no field can be longer than SSTABLE_NAME_MAX), so no
 * parse result is ever truncated. The struct is about 800 bytes and owns
 * no memory.
 */
struct sstable_name {
	char version[3];	       /* "nb", "ka", "da" ... */
	char format[4];		       /* "big" or "bti"; "big" when legacy */
	enum sstable_id_kind id_kind;
	char id[SSTABLE_ID_MAX];       /* the id exactly as in the name */
	uint64_t gen;		       /* integer ids only, else 0 */
	/*
	 * Everything after the id/format part, e.g. "Data.db" or
	 * "SAI+aa+orders_idx+TermsData.db". For SSTABLE_TEMP_SUFFIX it keeps
	 * the suffix ("Statistics.db.tmp") so the name can be rebuilt; .comp
	 * then classifies the part before the suffix.
	 */
	char component[SSTABLE_NAME_MAX + 1];
	enum sstable_comp comp;
	char ks[SSTABLE_NAME_MAX + 1];	  /* legacy names only, else "" */
	char table[SSTABLE_NAME_MAX + 1]; /* legacy names only, else "" */
	enum sstable_temp temp;
	unsigned flags;			  /* SSTABLE_F_* */
};

/*
 * Parse a bare file name (no directory part) found in a table directory.
 *
 * Recognised: 2.2+ "<ver>-<id>-<big|bti>-<Component>", pre-2.2
 * "<ks>-<table>-<ver>-<gen>-<Component>" (2.0 and 2.1; the table may be
 * "<table>.<index>" for old secondary indexes), both with an optional
 * "tmp"/"tmplink" marker where Cassandra puts one ("tmp-la-2-big-Data.db",
 * "ks-tbl-tmp-ka-4-Data.db"), "<name>.tmp" and "<name>.<time-uuid>.tmp"
 * leftovers of rewritten components and of entire-SSTable streaming, and
 * transaction logs "<ver>_txn_<op>_<uuid>.log".
 * Ids are decimal generations or 28-char base-36 time-UUIDs; versions are
 * two lower-case letters.
 *
 * Files that are not SSTable components at all (manifest.json, schema.cql,
 * ephemeral.snapshot, anything odd) get -EINVAL: the caller decides what to
 * do with them and reports the rest, nothing is dropped here silently.
 * Parsing runs backwards as Cassandra's Descriptor does, so a keyspace
 * called "tmp" is not mistaken for a marker.
 *
 * On any return *out is fully initialised (zeroed on error).
 * Return: 0 for a live component, SSTABLE_TEMPORARY for an unfinished write
 * (fields filled as for a live one, flags has SSTABLE_F_TEMP),
 * SSTABLE_TXNLOG for a transaction log (only .version and .flags set),
 * -ENAMETOOLONG when name is longer than SSTABLE_NAME_MAX, -EINVAL for
 * anything else.
 */
int sstable_parse_name(const char *name,
		       struct sstable_name *out) SV_MUST_CHECK;

/*
 * Rebuild the file name from a parsed (and possibly edited) struct: the
 * exact inverse of sstable_parse_name() for every non-txn-log name.
 * Return: length written (excluding NUL), -ENAMETOOLONG when the name would
 * exceed SSTABLE_NAME_MAX, -ENOSPC when cap is too small, -EINVAL for a
 * transaction log.
 */
int sstable_format_name(const struct sstable_name *n, char *out,
			size_t cap) SV_MUST_CHECK;

/*
 * Grouping key of the SSTable a component belongs to: the file name up to
 * (not including) "-<Component>", e.g. "nb-1-big", "na-1-bti",
 * "legacy_tables-legacy_ka_simple-ka-1" or "tmp-la-2-big". Components with
 * equal keys in one directory form one SSTable; the key includes version
 * and format, so na-1-big and na-1-bti stay apart. key + "-" + component
 * is the component's file name.
 * Return: length written, -ENOSPC when cap is too small, -EINVAL for a
 * transaction log.
 */
int sstable_key(const struct sstable_name *n, char *out,
		size_t cap) SV_MUST_CHECK;

/*
 * File name of another component of the same SSTable, e.g. the Digest or
 * TOC next to a Data.db. component must be a valid component name.
 * Return: length written, -EINVAL (bad component or a txn log),
 * -ENAMETOOLONG, -ENOSPC as sstable_format_name().
 */
int sstable_sibling_name(const struct sstable_name *n, const char *component,
			 char *out, size_t cap) SV_MUST_CHECK;

/*
 * The same component name with its id replaced by new_id, for restoring
 * several nodes' "nb-1-big-*" into one loader folder. Apply the same new_id
 * to every component of the SSTable: TOC, Digest and Statistics hold no
 * file names, so nothing inside the files changes. (2.0's Digest.sha1 does
 * name its Data.db, as a label only: neither Cassandra nor
 * sstable_parse_digest() checks it.) new_id is a decimal
 * generation or a base-36 time-UUID; pre-2.2 names accept only decimal.
 * Return: length written, -EINVAL (name not an SSTable component, bad
 * new_id, UUID for a legacy name), -ENAMETOOLONG, -ENOSPC.
 */
int sstable_rename_id(const char *name, const char *new_id, char *out,
		      size_t cap) SV_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Table directories                                                   */
/* ------------------------------------------------------------------ */

enum sstable_dir_kind {
	SSTABLE_DIR_TABLE = 0, /* "<table>-<32 hex>" or bare "<table>" */
	SSTABLE_DIR_INDEX,     /* ".<index_name>" inside a table directory */
};

struct sstable_table_dir {
	enum sstable_dir_kind kind;
	char name[SSTABLE_NAME_MAX + 1]; /* table or index name */
	bool has_id;			 /* false for 2.0-style bare names */
	char id_hex[33];		 /* as in the name, "" without id */
	uint8_t id[16];			 /* the table id's bytes */
};

/*
 * Parse a directory name below a keyspace directory ("<table>-<32 hex>" or,
 * for 2.0 and sstableloader input, "<table>") or an index subfolder
 * (".<index>") below a table directory. Names are [A-Za-z0-9_]+.
 * "snapshots" and "backups" parse as bare table names: which level a name
 * was found at is the caller's knowledge, not this parser's.
 * Return: 0, -ENAMETOOLONG, -EINVAL.
 */
int sstable_parse_table_dir(const char *name,
			    struct sstable_table_dir *out) SV_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* TOC.txt                                                             */
/* ------------------------------------------------------------------ */

#define SSTABLE_TOC_MAX 256    /* components per TOC */
#define SSTABLE_TOC_BYTES 8192 /* largest TOC.txt accepted */

/*
 * A parsed TOC: the component names, deduplicated, in file order. About
 * 8.7 KiB, owns no memory; threads with small stacks should not keep one
 * on the stack.
 */
struct sstable_toc {
	unsigned count;
	uint16_t off[SSTABLE_TOC_MAX]; /* entry i starts at buf + off[i] */
	char buf[SSTABLE_TOC_BYTES];
};

/*
 * Parse the bytes of a TOC.txt: one component per line. LF or CRLF line
 * ends, a missing final newline, surrounding blanks and blank lines are
 * all tolerated; a repeated line counts once.
 * Return: 0, -E2BIG (more than SSTABLE_TOC_BYTES bytes or SSTABLE_TOC_MAX
 * entries), -EINVAL (a line that is not a component name, e.g. binary data).
 */
int sstable_parse_toc(const void *data, size_t len,
		      struct sstable_toc *toc) SV_MUST_CHECK;

/* Entry i (< toc->count) of a parsed TOC; valid as long as toc is. */
const char *sstable_toc_get(const struct sstable_toc *toc, unsigned i);

/* Outcome of sstable_check_toc(). About 1 KiB, owns no memory. */
struct sstable_toc_check {
	unsigned missing;  /* listed in the TOC, not present */
	unsigned fatal;	   /* of those, ones Cassandra cannot rebuild */
	unsigned unlisted; /* present, not listed (e.g. SAI files) */
	uint16_t missing_idx[SSTABLE_TOC_MAX];	/* indexes into the TOC */
	uint16_t unlisted_idx[SSTABLE_TOC_MAX]; /* indexes into present[] */
};

/*
 * Compare a TOC with the components present on disk (component strings as
 * in struct sstable_name.component, e.g. "Data.db"). A listed but absent
 * Summary.db is only a warning: Cassandra rebuilds it from Index.db on
 * load, and two real upstream SSTables have such a TOC. Any other missing
 * component is fatal. Unlisted files are reported, never fatal.
 * Return: 0 when nothing fatal is missing (res may still list warnings),
 * -ENOENT when res->fatal > 0, -E2BIG when n_present > SSTABLE_TOC_MAX.
 */
int sstable_check_toc(const struct sstable_toc *toc,
		      const char *const *present, size_t n_present,
		      struct sstable_toc_check *res) SV_MUST_CHECK;

/* ------------------------------------------------------------------ */
/* Digest files and streaming verification                             */
/* ------------------------------------------------------------------ */

enum sstable_digest_kind {
	SSTABLE_DIGEST_CRC32 = 1, /* zlib CRC-32 (3.0+ Digest.crc32) */
	SSTABLE_DIGEST_ADLER32,	  /* Adler-32 (2.2 Digest.adler32, 2.1 .sha1) */
	SSTABLE_DIGEST_SHA1,	  /* SHA-1 (2.0 Digest.sha1) */
};

/* A digest of a whole on-disk Data.db. */
struct sstable_digest {
	enum sstable_digest_kind kind;
	uint32_t value;	 /* CRC32 and ADLER32 */
	uint8_t sha1[20]; /* SHA1 */
};

/*
 * Parse the content of a digest file. component names the file
 * ("Digest.crc32", "Digest.adler32", "Digest.sha1"); the kind follows from
 * it except for Digest.sha1, which Cassandra 2.1 fills with an Adler-32 in
 * decimal and 2.0 with "<40 hex>  <Data.db path>": the content decides.
 * A trailing newline or blanks are tolerated.
 * Return: 0, -EINVAL (unknown component or content that fits no form).
 */
int sstable_parse_digest(const char *component, const void *data, size_t len,
			 struct sstable_digest *out) SV_MUST_CHECK;

/*
 * "crc32:123", "adler32:456" or "sha1:<40 hex>" into out, for messages.
 * Return: length written, -ENOSPC when cap is too small (48 bytes always
 * suffice), -EINVAL for an unknown kind.
 */
int sstable_format_digest(const struct sstable_digest *d, char *out,
			  size_t cap) SV_MUST_CHECK;

/*
 * Streaming check of Data.db against its digest, fed by the pipeline as
 * the bytes go by, so verification costs no extra read. Lifecycle:
 * init, update for each piece in file order, final; release when the
 * stream is abandoned before final. The struct is caller-owned; for SHA1
 * it holds an OpenSSL context that final or release frees.
 */
struct sstable_verify {
	struct sstable_digest want; /* from the digest file */
	struct sstable_digest got;  /* filled by final */
	uint64_t bytes;		    /* bytes fed so far */
	uint32_t acc;		    /* running CRC32 / Adler-32 */
	int err;		    /* sticky, -errno */
	void *md;		    /* EVP_MD_CTX, SHA1 only; owned */
};

/*
 * Start verifying against want (copied).
 * Return: 0, -EINVAL (unknown kind), -ENOMEM (SHA-1 context).
 */
int sstable_verify_init(struct sstable_verify *v,
			const struct sstable_digest *want) SV_MUST_CHECK;

/* Feed the next len bytes of Data.db. A failure (SHA-1 only, in theory)
 * is sticky and reported by final. */
void sstable_verify_update(struct sstable_verify *v, const void *data,
			   size_t len);

/*
 * Finish: compute v->got, compare with v->want and free the SHA-1 context.
 * Return: 0 on a match, -EBADMSG on a mismatch, -EIO when hashing failed.
 */
int sstable_verify_final(struct sstable_verify *v) SV_MUST_CHECK;

/* Free what init allocated without finishing. Safe after final, on a
 * zeroed struct and more than once. */
void sstable_verify_release(struct sstable_verify *v);

/* ------------------------------------------------------------------ */
/* Snapshot manifest.json                                              */
/* ------------------------------------------------------------------ */

#define SSTABLE_MANIFEST_MAX (64u << 20) /* largest manifest.json accepted */

/*
 * A snapshot's manifest.json. Times are milliseconds since the epoch, UTC.
 * files holds the Data.db names (relative, e.g. "nb-1-big-Data.db" or
 * ".idx/nb-1-big-Data.db" for index SSTables) exactly as listed.
 */
struct sstable_manifest {
	char **files;	    /* n_files NUL-terminated strings */
	size_t n_files;
	bool has_created;   /* created_at present and not null (4.1+) */
	bool has_expires;   /* expires_at present and not null (4.1+) */
	int64_t created_ms;
	int64_t expires_ms;
	bool ephemeral;	    /* 5.0 "ephemeral"; false when absent */
};

/*
 * Parse manifest.json from 2.2 to 5.0. "files" (an array of strings) is
 * required; created_at/expires_at may be ISO-8601 strings
 * ("2021-07-03T10:37:30Z", fractional seconds and +hh:mm offsets allowed)
 * or numbers: a real number is epoch seconds (Jackson's seconds.nanos), an
 * integer is epoch milliseconds when its magnitude is at least 1e11 (after
 * 1973) and epoch seconds below that (before year 5138). Unknown fields are
 * ignored. File entries that are absolute or contain a ".." component are
 * rejected, so the list can never lead a restore outside its directory.
 *
 * On success *out is a new manifest owned by the caller, freed with
 * sstable_manifest_free(). On failure *out is NULL and, when err is not
 * NULL, err (errcap bytes) receives a one-line reason such as
 * "manifest.json: line 1 column 9: ...".
 * Return: 0, -EBADMSG (not JSON or not a manifest), -E2BIG (len above
 * SSTABLE_MANIFEST_MAX), -ENOMEM.
 */
int sstable_parse_manifest(const void *data, size_t len,
			   struct sstable_manifest **out, char *err,
			   size_t errcap) SV_MUST_CHECK;

/* Free a manifest and its strings; NULL is accepted. */
void sstable_manifest_free(struct sstable_manifest *m);

#endif /* SV_ENGINE_SSTABLE_H */
