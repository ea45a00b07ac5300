/*
 * snapshot.h - backup manifests ("snapshots/<oid>" objects).
 *
 * A snapshot records what one backup run saw: when, where (host, node,
 * cluster, data directories), how (tree, Cassandra snapshot, incremental)
 * and, per file, its metadata, keyed XXH3-128 digest and ordered chunk
 * list. It is sealed JSON (docs/FORMAT.md, "Snapshots"); chunk lists are
 * base64 of packed (id, le32 length) records to keep manifests small.
 *
 * It is written last, after its packs and index object: a snapshot never
 * names data that is not durable.
 */
#ifndef SV_ENGINE_SNAPSHOT_H
#define SV_ENGINE_SNAPSHOT_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/repo.h"

#define SNAP_CHUNK_REC (SV_ID_LEN + 4)

struct snap_chunk {
	uint8_t id[SV_ID_LEN];
	uint32_t len;
};

enum snap_ftype {
	SNAP_FILE = 'f',
	SNAP_DIR = 'd',
	SNAP_LINK = 'l',
};

/* Cassandra identity of a file (empty strings for non-Cassandra files). */
struct snap_cass {
	char keyspace[64];
	char table[64];
	char table_id[40];
	char sstable[128];     /* grouping key "<version>-<id>-<format>" */
	char component[96];
	char kind[16];         /* "live", "snapshot", "backups", "schema" */
	char index_dir[72];    /* ".<index>" for secondary-index files */
	char cdigest[64];      /* Cassandra digest of a Data.db,
				* "crc32:N" / "adler32:N" / "sha1:<hex>" */
};

struct snap_file {
	char *path;            /* relative to its root, '/'-separated */
	uint32_t root;         /* index into snapshot roots */
	char type;             /* enum snap_ftype */
	uint32_t mode;
	int64_t mtime_ns;
	uint64_t size;
	uint64_t inode;
	char *target;          /* symlink target */
	uint8_t digest[SV_ID_LEN];
	int has_digest;
	struct snap_chunk *chunks;
	uint32_t nchunks;
	struct snap_cass cass;
};

struct snap_stats {
	uint64_t files, bytes, bytes_read, bytes_new, bytes_stored;
	uint64_t chunks, chunks_new, damaged;
};

struct snapshot {
	char id[2 * SV_OID_LEN + 1];
	int64_t time_ns, end_ns;
	char host[256], node[256], cluster[256], tag[256];
	char type[32];         /* "tree", "snapshot", "incremental" */
	char host_id[64], dc[64], rack[64];
	char **roots;
	uint32_t nroots;
	struct snap_file *files;
	size_t nfiles, cap;
	char *schema;          /* schema.cql text, if any */
	struct snap_stats stats;
};

/* Allocate an empty snapshot. Return: 0 or -ENOMEM. */
int snapshot_new(struct snapshot **out) SV_MUST_CHECK;
void snapshot_free(struct snapshot *s);

/* Append a root; returns its index or -ENOMEM. */
int snapshot_add_root(struct snapshot *s, const char *path) SV_MUST_CHECK;
/* Append a file entry (path copied); returns a pointer valid until the next
 * append, or NULL on -ENOMEM. */
struct snap_file *snapshot_add_file(struct snapshot *s, const char *path);

/*
 * Serialize, seal and store as "snapshots/<fresh oid>" with no-overwrite;
 * s->id receives the oid. Return: 0 or -errno.
 */
int snapshot_save(struct repo *r, struct snapshot *s) SV_MUST_CHECK;

/* Load one snapshot by full oid. Return: 0, -ENOENT, -EBADMSG... */
int snapshot_load(struct repo *r, const char *oid,
		  struct snapshot **out) SV_MUST_CHECK;

/* Parse a snapshot's JSON plaintext (exposed for fuzzing and tests).
 * Return: 0 or -EBADMSG. */
int snapshot_parse(const char *json, size_t len,
		   struct snapshot **out) SV_MUST_CHECK;

/*
 * Load every snapshot (sorted by time, oldest first). *out is an array of
 * *n pointers; free with snapshot_list_free. A damaged snapshot is reported
 * and skipped (counted in *damaged if not NULL).
 */
int snapshot_list(struct repo *r, struct snapshot ***out, size_t *n,
		  size_t *damaged) SV_MUST_CHECK;
void snapshot_list_free(struct snapshot **v, size_t n);

/*
 * The same, but summaries only (no file lists), served from the local
 * cache (<cache>/<repo id>/snapshots/, SSTVAULT_CACHE_DIR or
 * $XDG_CACHE_HOME/sstvault or ~/.cache/sstvault; "off" disables it) and
 * fetched from the repository only for snapshots not cached yet. Load the
 * full snapshot with snapshot_load() where the files are needed.
 */
int snapshot_list_summaries(struct repo *r, struct snapshot ***out,
			    size_t *n, size_t *damaged) SV_MUST_CHECK;

/*
 * Resolve "latest" or a unique id prefix (>= 4 hex) among v.
 * Return: the index, -ENOENT, or -EINVAL (ambiguous).
 */
int snapshot_find(struct snapshot **v, size_t n, const char *what);

/* A safe relative path: not empty, not absolute, no "." / ".." / empty
 * components, no NUL. */
int snapshot_path_ok(const char *p);

#endif
