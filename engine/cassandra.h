/*
 * cassandra.h - what makes sstvault a Cassandra tool: discovery of
 * snapshot and incremental SSTables in data directories, the per-node
 * catalog that keeps unchanged SSTables from being read again, Cassandra
 * digest checks, cassandra.yaml, and the restore layouts that
 * sstableloader and nodetool refresh/import take as they are.
 *
 * Layout of a data directory (DESIGN.md §2):
 *   <data>/<keyspace>/<table>-<id>/{live files, .<index>/,
 *       snapshots/<tag>/{files, .<index>/, manifest.json, schema.cql},
 *       backups/{files, .<index>/}}
 */
#ifndef SV_ENGINE_CASSANDRA_H
#define SV_ENGINE_CASSANDRA_H

#include <stdint.h>
#include "include/sv.h"
#include "engine/index.h"
#include "engine/repo.h"
#include "engine/snapshot.h"
#include "engine/sstable.h"

#define CASS_MAX_FILTERS 64

enum cass_mode {
	CASS_SNAPSHOT = 1,   /* snapshots/<tag>/ */
	CASS_INCREMENTAL,    /* backups/ */
};

/* Discovery options and counters (the select callback's argument). */
struct cass_sel {
	enum cass_mode mode;
	const char *tag;
	const char *keyspaces[CASS_MAX_FILTERS];  /* --keyspace */
	size_t nkeyspaces;
	const char *tables[CASS_MAX_FILTERS];     /* --table ks.t */
	size_t ntables;
	const char *excludes[CASS_MAX_FILTERS];   /* --exclude ks or ks.t */
	size_t nexcludes;
	int include_system;
	/* counters */
	uint64_t tables_seen, sstables, skipped_tmp, skipped_txn;
	uint64_t unrecognized, schema_files;
	uint64_t missing_components;  /* listed in a TOC, absent (warning) */
	int err;
};

/* The backup select callback (see backup_opts.select). */
int cass_select(void *arg, struct snapshot *s, const char *root,
		const char *rel, struct snap_file *f);

/* True for the keyspaces skipped unless --include-system. */
int cass_is_system_keyspace(const char *ks);

/* Parse "crc32:N", "adler32:N" or "sha1:<40 hex>". Return 0 / -EINVAL. */
int cass_digest_parse(const char *s, struct sstable_digest *d) SV_MUST_CHECK;

/*
 * The catalog: identity (data dir, inode, size, mtime, keyspace, table id,
 * SSTable, component; plus the path for non-Cassandra files) -> the chunks
 * and digest recorded by an earlier backup of this node. Built from the
 * node's snapshots in the repository, so it is always consistent with
 * what is stored and needs no separate state. The catalog borrows the
 * snapshots it was built from; free them after the catalog.
 */
struct cass_catalog;
struct restore_check;

int cass_catalog_build(struct cass_catalog **out, struct snapshot **snaps,
		       size_t n, const char *node) SV_MUST_CHECK;
void cass_catalog_free(struct cass_catalog *c);
/* backup_opts.catalog callback. */
int cass_catalog_lookup(void *arg, struct index *idx,
			const struct snapshot *s, struct snap_file *f);
size_t cass_catalog_size(const struct cass_catalog *c);

/*
 * cassandra.yaml: data_file_directories (up to max entries, malloc'ed
 * strings the caller frees), cluster_name and incremental_backups.
 * Return: 0, -ENOENT, -EINVAL (not YAML, or no data_file_directories) with
 * the reason logged.
 */
int cass_yaml_load(const char *path, char **dirs, size_t max, size_t *n,
		   char *cluster, size_t cluster_cap,
		   int *incremental) SV_MUST_CHECK;

/* ---- restore ---- */

enum cass_layout {
	CASS_LAYOUT_LOADER = 1,   /* OUT/<ks>/<table>/ (sstableloader) */
	CASS_LAYOUT_DATADIR,      /* OUT/<ks>/<table>-<id>/ (refresh/import) */
};

struct cass_plan_opts {
	enum cass_layout layout;
	const char *keyspaces[CASS_MAX_FILTERS];
	size_t nkeyspaces;
	const char *tables[CASS_MAX_FILTERS];
	size_t ntables;
};

struct cass_plan_stats {
	uint64_t sstables, renamed, files, duplicates;
};

/*
 * Build the restore plan: a snapshot (caller frees) whose files are the
 * SSTable components of the given snapshots (several nodes, or a snapshot
 * plus incrementals) with paths relative to the restore target, laid out
 * for the chosen layout. Components of one SSTable from one node keep one
 * id; where two nodes' SSTables would collide in one folder, the later
 * ones get a fresh generation, consistently across all their components.
 * The schema text of all snapshots is joined into plan->schema.
 * Return: 0, -ENOENT (nothing selected), -ENOMEM.
 */
int cass_plan(struct snapshot **snaps, size_t n,
	      const struct cass_plan_opts *o, struct snapshot **plan,
	      struct cass_plan_stats *st) SV_MUST_CHECK;

/*
 * Pick the snapshots of one node for a point in time: the last "snapshot"
 * backup at or before at_ns, then every "incremental" backup after it up to
 * at_ns. v is sorted by time. Indexes go to out (max entries).
 * Return: count, or -ENOENT (no snapshot backup before at_ns).
 */
int cass_pick_at(struct snapshot **v, size_t n, const char *node,
		 int64_t at_ns, size_t *out, size_t max);

/* restore_opts.check: checks a restored Data.db against the Cassandra
 * digest recorded at backup (struct restore_check in engine/restore.h). */
extern const struct restore_check cass_restore_check;

/*
 * After a committed backup: delete from backups/ exactly the files the
 * snapshot records (same inode, size and mtime now), or remove the
 * snapshot tag directories of the recorded files. A file that changed or
 * arrived meanwhile is left alone. Return: files removed, or -errno.
 */
long cass_clear_incrementals(const struct snapshot *s) SV_MUST_CHECK;
long cass_clear_snapshot(const struct snapshot *s, const char *tag) SV_MUST_CHECK;

#endif
