/*
 * main.c - the sstvault command line.
 *
 * One table of options serves parsing, per-command --help and the man page
 * check (tests/t_manpage.sh); each option lists the commands it applies to.
 * Exit codes are documented in README.md and docs/OPERATIONS.md:
 *   0 success, 1 finished with warnings, 2 usage error,
 *   3 repository or key error, 4 storage or IO error, 5 data damage found.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <grp.h>
#include <pwd.h>

#include "engine/backup.h"
#include "engine/bench.h"
#include "engine/cassandra.h"
#include "engine/check.h"
#include "engine/maint.h"
#include "engine/progress.h"
#include "engine/repo.h"
#include "engine/restore.h"
#include "engine/snapshot.h"
#include "engine/util.h"
#include "uploaders/s3.h"

#define SV_VERSION "0.1.0"

enum exit_code {
	EXIT_OK = 0,
	EXIT_WARN = 1,
	EXIT_USAGE = 2,
	EXIT_REPO = 3,
	EXIT_STORAGE = 4,
	EXIT_DAMAGE = 5,
};

enum cmd {
	C_INIT = 1 << 0,
	C_BACKUP = 1 << 1,
	C_SNAPSHOTS = 1 << 2,
	C_RESTORE = 1 << 3,
	C_CHECK = 1 << 4,
	C_FORGET = 1 << 5,
	C_PRUNE = 1 << 6,
	C_KEY = 1 << 7,
	C_CONFIG = 1 << 8,
	C_UPLOADS = 1 << 9,
	C_BENCH = 1 << 10,
	C_ALL = 0xffff,
};

enum opt_id {
	O_REPO = 256, O_PASSFILE, O_DATADIR, O_TARGET, O_TAG, O_NODE,
	O_CLUSTER, O_JSON, O_THREADS, O_NO_URING, O_KEEP_CACHE, O_FORCE,
	O_READ_DATA, O_LAYOUT, O_ZSTD_LEVEL, O_NO_FSYNC, O_SNAPSHOT,
	O_INCREMENTAL, O_SNAPSHOT_CMD, O_YAML, O_KEYSPACE, O_TABLE, O_EXCLUDE,
	O_INCLUDE_SYSTEM, O_SCHEMA_FILE, O_DC, O_RACK, O_HOST_ID,
	O_CLEAR_INCR, O_CLEAR_SNAP, O_AT, O_OWNER, O_KEEP_LAST, O_KEEP_DAILY,
	O_KEEP_WEEKLY, O_KEEP_MONTHLY, O_GROUP_BY, O_DRY_RUN, O_REPACK,
	O_GRACE, O_MAX_WAIT, O_NEW_PASS, O_NEW_KEYFILE, O_PASS_CMD, O_KEYFILE,
	O_CONFIG, O_METRICS, O_S3_ENDPOINT, O_S3_REGION, O_S3_ADDRESSING,
	O_S3_PROFILE, O_S3_CA, O_S3_CERT, O_S3_KEY, O_S3_CONNS, O_S3_PART,
	O_LIMIT_UP, O_LIMIT_DOWN, O_TYPE, O_BENCH_SIZE, O_HELP = 'h',
	O_VERBOSE = 'v', O_QUIET = 'q',
};

struct opt {
	const char *name;
	int id;
	int has_arg;
	unsigned cmds;
	const char *arg, *help;
};

static const struct opt opts[] = {
	{ "repo", O_REPO, 1, C_ALL, "REPO",
	  "repository location: a directory (or $SSTVAULT_REPO)" },
	{ "password-file", O_PASSFILE, 1, C_ALL, "FILE",
	  "read the passphrase from FILE (or $SSTVAULT_PASSWORD_FILE)" },
	{ "password-command", O_PASS_CMD, 1, C_ALL, "CMD",
	  "read the passphrase from CMD's output, e.g. a secret manager "
	  "(or $SSTVAULT_PASSWORD_COMMAND)" },
	{ "key-file", O_KEYFILE, 1, C_ALL, "FILE",
	  "open with a key file instead of a passphrase (must not be "
	  "readable by other users)" },
	{ "keep-last", O_KEEP_LAST, 1, C_FORGET, "N",
	  "keep the N newest snapshots of each group" },
	{ "keep-daily", O_KEEP_DAILY, 1, C_FORGET, "N",
	  "keep the newest snapshot of each of the last N days" },
	{ "keep-weekly", O_KEEP_WEEKLY, 1, C_FORGET, "N",
	  "keep the newest snapshot of each of the last N ISO weeks" },
	{ "keep-monthly", O_KEEP_MONTHLY, 1, C_FORGET, "N",
	  "keep the newest snapshot of each of the last N months" },
	{ "bench-size", O_BENCH_SIZE, 1, C_BENCH, "SIZE",
	  "read at most SIZE bytes from --data-dir (default 2G)" },
	{ "type", O_TYPE, 1, C_FORGET, "snapshot|incremental|tree",
	  "only snapshots of this backup type (hourly incrementals usually "
	  "want other rules than nightly snapshots)" },
	{ "group-by", O_GROUP_BY, 1, C_FORGET, "node|cluster",
	  "apply the rules per node and backup type (default) or per "
	  "cluster and type" },
	{ "dry-run", O_DRY_RUN, 0, C_FORGET | C_PRUNE, NULL,
	  "only show what would be removed" },
	{ "repack-threshold", O_REPACK, 1, C_PRUNE, "FRACTION",
	  "repack packs whose unused share exceeds FRACTION (default 0.3)" },
	{ "grace", O_GRACE, 1, C_PRUNE, "DURATION",
	  "never delete objects younger than this (default 24h; s/m/h/d)" },
	{ "max-wait", O_MAX_WAIT, 1, C_PRUNE, "DURATION",
	  "wait at most this long for running backups (default 1h)" },
	{ "new-password-file", O_NEW_PASS, 1, C_KEY, "FILE",
	  "key add/passwd: the new passphrase" },
	{ "new-key-file", O_NEW_KEYFILE, 1, C_KEY, "FILE",
	  "key add: a key file (created with 32 random bytes if missing)" },
	{ "data-dir", O_DATADIR, 1, C_BACKUP | C_BENCH, "DIR",
	  "directory to back up; repeat for several (JBOD)" },
	{ "tag", O_TAG, 1, C_BACKUP, "TAG", "label stored with the snapshot" },
	{ "snapshot", O_SNAPSHOT, 1, C_BACKUP, "TAG",
	  "back up snapshots/TAG/ of every selected table (Cassandra mode)" },
	{ "incremental", O_INCREMENTAL, 0, C_BACKUP, NULL,
	  "back up backups/ of every selected table (Cassandra mode)" },
	{ "snapshot-command", O_SNAPSHOT_CMD, 1, C_BACKUP, "CMD",
	  "run CMD first, {tag} replaced, e.g. 'nodetool snapshot -t {tag}'" },
	{ "cassandra-yaml", O_YAML, 1, C_BACKUP, "FILE",
	  "take data_file_directories and cluster_name from cassandra.yaml" },
	{ "keyspace", O_KEYSPACE, 1, C_BACKUP | C_RESTORE, "KS",
	  "only this keyspace (repeatable)" },
	{ "table", O_TABLE, 1, C_BACKUP | C_RESTORE, "KS.TABLE",
	  "only this table (repeatable)" },
	{ "exclude", O_EXCLUDE, 1, C_BACKUP, "KS[.TABLE]",
	  "leave out a keyspace or table (repeatable)" },
	{ "include-system", O_INCLUDE_SYSTEM, 0, C_BACKUP, NULL,
	  "also back up system, system_traces, system_views, "
	  "system_virtual_schema" },
	{ "schema-file", O_SCHEMA_FILE, 1, C_BACKUP, "FILE",
	  "store this schema (cqlsh -e 'DESC SCHEMA') with the backup" },
	{ "node", O_NODE, 1, C_BACKUP | C_RESTORE | C_FORGET, "NAME",
	  "backup: node name (default: host name); restore: node to "
	  "restore, repeatable, or 'all'" },
	{ "cluster", O_CLUSTER, 1, C_BACKUP, "NAME",
	  "cluster name stored with the snapshot" },
	{ "dc", O_DC, 1, C_BACKUP, "NAME", "data center stored with the snapshot" },
	{ "rack", O_RACK, 1, C_BACKUP, "NAME", "rack stored with the snapshot" },
	{ "host-id", O_HOST_ID, 1, C_BACKUP, "UUID",
	  "Cassandra host id stored with the snapshot" },
	{ "clear-incrementals", O_CLEAR_INCR, 0, C_BACKUP, NULL,
	  "after a committed --incremental backup, delete the backed-up "
	  "files from backups/" },
	{ "clear-snapshot", O_CLEAR_SNAP, 0, C_BACKUP, NULL,
	  "after a committed --snapshot backup, remove the snapshot" },
	{ "at", O_AT, 1, C_RESTORE, "TIME",
	  "point in time: last snapshot backup before TIME plus later "
	  "incrementals (RFC 3339, 'YYYY-MM-DD HH:MM:SS' UTC, or @epoch)" },
	{ "owner", O_OWNER, 1, C_RESTORE, "USER:GROUP",
	  "chown restored files and directories" },
	{ "target", O_TARGET, 1, C_RESTORE, "DIR",
	  "directory to restore into (must be empty unless --force)" },
	{ "layout", O_LAYOUT, 1, C_RESTORE, "LAYOUT",
	  "loader (OUT/ks/table/, default for Cassandra backups), data-dir "
	  "(OUT/ks/table-id/) or tree (the backed-up directories)" },
	{ "force", O_FORCE, 0, C_RESTORE,
	  NULL, "restore into a non-empty target, replacing files" },
	{ "no-fsync", O_NO_FSYNC, 0, C_RESTORE, NULL,
	  "do not flush the restored files to disk at the end (scratch "
	  "restores that can be repeated)" },
	{ "read-data", O_READ_DATA, 0, C_CHECK, NULL,
	  "read and verify every blob of every pack" },
	{ "zstd-level", O_ZSTD_LEVEL, 1, C_INIT | C_BENCH, "N",
	  "zstd level for new chunks, 1..19 (default 1)" },
	{ "threads", O_THREADS, 1, C_BACKUP | C_RESTORE | C_BENCH, "N",
	  "worker threads (default: all cores)" },
	{ "no-uring", O_NO_URING, 0, C_BACKUP | C_RESTORE, NULL,
	  "use pread/pwrite instead of io_uring" },
	{ "keep-cache", O_KEEP_CACHE, 0, C_BACKUP, NULL,
	  "let reads populate the page cache (default: spare it)" },
	{ "config", O_CONFIG, 1, C_ALL, "FILE",
	  "read options from FILE (default /etc/sstvault/sstvault.conf); "
	  "flags override the environment, which overrides the file" },
	{ "metrics-file", O_METRICS, 1,
	  C_BACKUP | C_RESTORE | C_CHECK | C_FORGET | C_PRUNE, "PATH",
	  "write Prometheus metrics of this run to PATH (node_exporter "
	  "textfile collector), atomically" },
	{ "s3-endpoint", O_S3_ENDPOINT, 1, C_ALL, "URL",
	  "S3 endpoint for s3:// repositories (default https://s3.REGION."
	  "amazonaws.com); plain http only when given explicitly" },
	{ "s3-region", O_S3_REGION, 1, C_ALL, "REGION",
	  "region for request signing (default us-east-1)" },
	{ "s3-addressing", O_S3_ADDRESSING, 1, C_ALL, "path|virtual|auto",
	  "bucket addressing style (default auto: path-style for IP and "
	  "localhost endpoints)" },
	{ "s3-profile", O_S3_PROFILE, 1, C_ALL, "NAME",
	  "profile in the AWS shared credentials file (else AWS_PROFILE, "
	  "else default); AWS_ACCESS_KEY_ID etc. take precedence" },
	{ "s3-ca-file", O_S3_CA, 1, C_ALL, "FILE",
	  "CA bundle to verify the endpoint (else AWS_CA_BUNDLE, "
	  "SSL_CERT_FILE)" },
	{ "s3-client-cert", O_S3_CERT, 1, C_ALL, "FILE",
	  "client certificate for mutual TLS" },
	{ "s3-client-key", O_S3_KEY, 1, C_ALL, "FILE",
	  "client key for mutual TLS" },
	{ "s3-connections", O_S3_CONNS, 1, C_ALL, "N",
	  "requests in flight (default 8)" },
	{ "s3-part-size", O_S3_PART, 1, C_ALL, "SIZE",
	  "multipart part size, at least 5M (default 16M)" },
	{ "limit-upload", O_LIMIT_UP, 1, C_ALL, "RATE",
	  "cap uploads at RATE bytes/s over all connections, e.g. 50M" },
	{ "limit-download", O_LIMIT_DOWN, 1, C_ALL, "RATE",
	  "cap downloads at RATE bytes/s over all connections" },
	{ "json", O_JSON, 0, C_ALL, NULL,
	  "print a JSON summary object on stdout" },
	{ "verbose", O_VERBOSE, 0, C_ALL, NULL, "more detail (repeatable)" },
	{ "quiet", O_QUIET, 0, C_ALL, NULL, "only errors" },
	{ "help", O_HELP, 0, C_ALL, NULL, "show this help" },
};

struct cmdinfo {
	const char *name;
	unsigned bit;
	const char *usage, *desc;
};

static const struct cmdinfo cmds[] = {
	{ "init", C_INIT, "init --repo REPO --password-file FILE",
	  "Create a new encrypted repository." },
	{ "backup", C_BACKUP,
	  "backup (--data-dir DIR... | --cassandra-yaml FILE) "
	  "[--snapshot TAG | --incremental]",
	  "Back up a Cassandra snapshot tag, the incremental backups/, or "
	  "(with neither) whole directory trees; only chunks the repository "
	  "lacks are stored, and files unchanged since an earlier backup of "
	  "this node are not read again." },
	{ "snapshots", C_SNAPSHOTS, "snapshots [--json]",
	  "List the snapshots in the repository." },
	{ "restore", C_RESTORE, "restore ID|latest --target DIR [--layout "
	  "loader|data-dir|tree] [--node NAME|all] [--at TIME]",
	  "Restore a snapshot, verifying every byte before it is put in "
	  "place." },
	{ "check", C_CHECK, "check [--read-data]",
	  "Verify the repository's structure, and with --read-data every "
	  "blob." },
	{ "forget", C_FORGET, "forget --keep-last N [--keep-daily N ...]",
	  "Remove snapshots that no retention rule keeps (data goes with "
	  "prune)." },
	{ "prune", C_PRUNE, "prune [--grace 24h] [--dry-run]",
	  "Delete data no snapshot references; safe while backups run." },
	{ "key", C_KEY, "key list|add|remove ID|passwd",
	  "Manage the key slots that open the repository; data is never "
	  "re-encrypted." },
	{ "config", C_CONFIG, "config show",
	  "Print the effective configuration (flags, environment, file) with "
	  "secrets masked." },
	{ "bench", C_BENCH, "bench [--data-dir DIR] [--repo REPO]",
	  "Measure each pipeline stage on this host (read, FastCDC, XXH3, "
	  "zstd, AES-GCM, upload) and the whole pipeline into a null store; "
	  "print MB/s, the limit the stages imply and the share reached." },
	{ "uploads", C_UPLOADS, "uploads list|abort",
	  "List or abort multipart uploads left under an S3 repository's "
	  "prefix by interrupted backups." },
};

struct args {
	const struct cmdinfo *cmd;
	const char *repo, *passfile, *target, *tag, *node, *cluster, *layout;
	const char *datadirs[64];
	size_t ndatadirs;
	char *yaml_dirs[64];
	size_t nyaml_dirs;
	const char *snapshot_tag, *snapshot_cmd, *yaml, *schema_file;
	const char *dc, *rack, *host_id, *at, *owner;
	const char *keyspaces[CASS_MAX_FILTERS], *tables[CASS_MAX_FILTERS];
	const char *excludes[CASS_MAX_FILTERS], *nodes[CASS_MAX_FILTERS];
	size_t nkeyspaces, ntables, nexcludes, nnodes;
	int incremental, include_system, clear_incr, clear_snap;
	int keep_last, keep_daily, keep_weekly, keep_monthly, dry_run;
	int group_cluster;
	double repack;
	int64_t grace_s, max_wait_s;
	const char *new_pass, *new_keyfile, *pass_cmd, *keyfile;
	const char *config, *metrics_file, *type;
	const char *s3_endpoint, *s3_region, *s3_addressing, *s3_profile;
	const char *s3_ca, *s3_cert, *s3_key;
	uint64_t s3_conns, s3_part, limit_up, limit_down, bench_size;
	int quiet, verbose;
	int from_config;       /* parsing the config file, not argv */
	const char *positional[8];
	size_t npos;
	int json, force, read_data, no_uring, keep_cache, no_fsync;
	unsigned threads;
	int zstd_level;
};

static void usage(FILE *out, const struct cmdinfo *c)
{
	if (!c) {
		fprintf(out,
			"sstvault %s - encrypted, deduplicating backups of "
			"Cassandra SSTables\n\nUsage: sstvault COMMAND "
			"[OPTIONS]\n\nCommands:\n", SV_VERSION);
		for (size_t i = 0; i < SV_ARRAY_SIZE(cmds); i++)
			fprintf(out, "  %-10s %s\n", cmds[i].name,
				cmds[i].desc);
		fprintf(out, "  %-10s %s\n", "version", "Print the version.");
		fprintf(out,
			"\nRun 'sstvault COMMAND --help' for its options.\n"
			"Exit codes: 0 ok, 1 warnings, 2 usage, 3 repository "
			"or key, 4 storage or IO, 5 data damage.\n");
		return;
	}
	fprintf(out, "Usage: sstvault %s [OPTIONS]\n\n%s\n\nOptions:\n",
		c->usage, c->desc);
	for (size_t i = 0; i < SV_ARRAY_SIZE(opts); i++) {
		char left[64];

		if (!(opts[i].cmds & c->bit))
			continue;
		if (opts[i].id < 256)
			snprintf(left, sizeof(left), "-%c, --%s%s%s",
				 opts[i].id, opts[i].name,
				 opts[i].arg ? " " : "",
				 opts[i].arg ? opts[i].arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s",
				 opts[i].name, opts[i].arg ? " " : "",
				 opts[i].arg ? opts[i].arg : "");
		fprintf(out, "  %-30s %s\n", left, opts[i].help);
	}
}

/* "90", "90s", "30m", "6h", "2d" -> seconds. */
static int parse_duration(const char *s, int64_t *out)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	int64_t mul = 1;

	if (end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	struct option lo[SV_ARRAY_SIZE(opts) + 1];
	int c;

	memset(lo, 0, sizeof(lo));
	for (size_t i = 0; i < SV_ARRAY_SIZE(opts); i++) {
		lo[i].name = opts[i].name;
		lo[i].has_arg = opts[i].has_arg ? required_argument :
						  no_argument;
		lo[i].val = opts[i].id;
	}
	/* Parse from the command name on, so that the command plays the
	 * program name; optind = 0 makes GNU getopt start afresh, which lets
	 * the config file and then argv be parsed one after the other. */
	argc--;
	argv++;
	optind = 0;
	while ((c = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
		const struct opt *o = NULL;

		for (size_t i = 0; i < SV_ARRAY_SIZE(opts); i++)
			if (opts[i].id == c)
				o = &opts[i];
		if (!o)
			return -EINVAL;   /* getopt printed why */
		if (!(o->cmds & a->cmd->bit)) {
			if (a->from_config)
				continue;   /* a file serves every command */
			log_err("--%s does not apply to '%s'", o->name,
				a->cmd->name);
			return -EINVAL;
		}
		switch (c) {
		case O_REPO: a->repo = optarg; break;
		case O_PASSFILE: a->passfile = optarg; break;
		case O_DATADIR:
			if (a->ndatadirs == SV_ARRAY_SIZE(a->datadirs)) {
				log_err("too many --data-dir options");
				return -EINVAL;
			}
			a->datadirs[a->ndatadirs++] = optarg;
			break;
		case O_TARGET: a->target = optarg; break;
		case O_SNAPSHOT: a->snapshot_tag = optarg; break;
		case O_INCREMENTAL: a->incremental = 1; break;
		case O_SNAPSHOT_CMD: a->snapshot_cmd = optarg; break;
		case O_YAML: a->yaml = optarg; break;
		case O_SCHEMA_FILE: a->schema_file = optarg; break;
		case O_DC: a->dc = optarg; break;
		case O_RACK: a->rack = optarg; break;
		case O_HOST_ID: a->host_id = optarg; break;
		case O_AT: a->at = optarg; break;
		case O_OWNER: a->owner = optarg; break;
		case O_INCLUDE_SYSTEM: a->include_system = 1; break;
		case O_CLEAR_INCR: a->clear_incr = 1; break;
		case O_CLEAR_SNAP: a->clear_snap = 1; break;
		case O_DRY_RUN: a->dry_run = 1; break;
		case O_NEW_PASS: a->new_pass = optarg; break;
		case O_NEW_KEYFILE: a->new_keyfile = optarg; break;
		case O_PASS_CMD: a->pass_cmd = optarg; break;
		case O_KEYFILE: a->keyfile = optarg; break;
		case O_CONFIG: a->config = optarg; break;
		case O_TYPE:
			if (strcmp(optarg, "snapshot") &&
			    strcmp(optarg, "incremental") &&
			    strcmp(optarg, "tree")) {
				log_err("--type: snapshot, incremental or tree");
				return -EINVAL;
			}
			a->type = optarg;
			break;
		case O_METRICS: a->metrics_file = optarg; break;
		case O_S3_ENDPOINT: a->s3_endpoint = optarg; break;
		case O_S3_REGION: a->s3_region = optarg; break;
		case O_S3_PROFILE: a->s3_profile = optarg; break;
		case O_S3_CA: a->s3_ca = optarg; break;
		case O_S3_CERT: a->s3_cert = optarg; break;
		case O_S3_KEY: a->s3_key = optarg; break;
		case O_S3_ADDRESSING:
			if (strcmp(optarg, "path") && strcmp(optarg, "virtual") &&
			    strcmp(optarg, "auto")) {
				log_err("--s3-addressing: path, virtual or auto");
				return -EINVAL;
			}
			a->s3_addressing = optarg;
			break;
		case O_BENCH_SIZE:
			if (util_parse_size(optarg, &a->bench_size)) {
				log_err("--bench-size: expected a size like 1G");
				return -EINVAL;
			}
			break;
		case O_S3_CONNS:
		case O_S3_PART:
		case O_LIMIT_UP:
		case O_LIMIT_DOWN: {
			uint64_t v;

			if (util_parse_size(optarg, &v) || !v) {
				log_err("--%s: expected a number like 8, 16M or "
					"50M, got '%s'", o->name, optarg);
				return -EINVAL;
			}
			if (c == O_S3_PART && v < (5u << 20)) {
				log_err("--s3-part-size: S3 parts are at least "
					"5 MiB");
				return -EINVAL;
			}
			if (c == O_S3_CONNS && v > 256) {
				log_err("--s3-connections: at most 256");
				return -EINVAL;
			}
			*(c == O_S3_CONNS ? &a->s3_conns :
			  c == O_S3_PART ? &a->s3_part :
			  c == O_LIMIT_UP ? &a->limit_up : &a->limit_down) = v;
			break;
		}
		case O_GROUP_BY:
			if (strcmp(optarg, "node") && strcmp(optarg, "cluster")) {
				log_err("--group-by: node or cluster");
				return -EINVAL;
			}
			a->group_cluster = !strcmp(optarg, "cluster");
			break;
		case O_KEEP_LAST:
		case O_KEEP_DAILY:
		case O_KEEP_WEEKLY:
		case O_KEEP_MONTHLY: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 0 || v > 1000000) {
				log_err("--%s: expected a count, got '%s'",
					o->name, optarg);
				return -EINVAL;
			}
			*(c == O_KEEP_LAST ? &a->keep_last :
			  c == O_KEEP_DAILY ? &a->keep_daily :
			  c == O_KEEP_WEEKLY ? &a->keep_weekly :
			  &a->keep_monthly) = (int)v;
			break;
		}
		case O_REPACK: {
			char *end;

			a->repack = strtod(optarg, &end);
			if (*end || a->repack < 0 || a->repack > 1) {
				log_err("--repack-threshold: 0..1");
				return -EINVAL;
			}
			break;
		}
		case O_GRACE:
		case O_MAX_WAIT: {
			int64_t v;

			if (parse_duration(optarg, &v)) {
				log_err("--%s: expected a duration like 30m, 6h "
					"or 2d, got '%s'", o->name, optarg);
				return -EINVAL;
			}
			*(c == O_GRACE ? &a->grace_s : &a->max_wait_s) = v;
			break;
		}
		case O_KEYSPACE:
		case O_TABLE:
		case O_EXCLUDE: {
			const char **v = c == O_KEYSPACE ? a->keyspaces :
					 c == O_TABLE ? a->tables : a->excludes;
			size_t *n = c == O_KEYSPACE ? &a->nkeyspaces :
				    c == O_TABLE ? &a->ntables : &a->nexcludes;

			if (*n == CASS_MAX_FILTERS) {
				log_err("too many --%s options", o->name);
				return -EINVAL;
			}
			if (c == O_TABLE && !strchr(optarg, '.')) {
				log_err("--table: expected KEYSPACE.TABLE, got "
					"'%s'", optarg);
				return -EINVAL;
			}
			v[(*n)++] = optarg;
			break;
		}
		case O_TAG: a->tag = optarg; break;
		case O_NODE:
			a->node = optarg;
			if (a->nnodes < CASS_MAX_FILTERS)
				a->nodes[a->nnodes++] = optarg;
			break;
		case O_CLUSTER: a->cluster = optarg; break;
		case O_LAYOUT: a->layout = optarg; break;
		case O_JSON: a->json = 1; break;
		case O_FORCE: a->force = 1; break;
		case O_NO_FSYNC: a->no_fsync = 1; break;
		case O_READ_DATA: a->read_data = 1; break;
		case O_NO_URING: a->no_uring = 1; break;
		case O_KEEP_CACHE: a->keep_cache = 1; break;
		case O_THREADS: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 1024) {
				log_err("--threads: expected 1..1024, got '%s'",
					optarg);
				return -EINVAL;
			}
			a->threads = (unsigned)v;
			break;
		}
		case O_ZSTD_LEVEL: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 19) {
				log_err("--zstd-level: expected 1..19, got '%s'",
					optarg);
				return -EINVAL;
			}
			a->zstd_level = (int)v;
			break;
		}
		case O_VERBOSE: a->verbose++; break;
		case O_QUIET: a->quiet = 1; break;
		case O_HELP:
			if (a->from_config)
				break;
			usage(stdout, a->cmd);
			exit(EXIT_OK);
		default:
			return -EINVAL;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npos == SV_ARRAY_SIZE(a->positional))
			return -EINVAL;
		a->positional[a->npos++] = argv[optind];
	}
	return 0;
}

/* Strip one trailing newline (and CR): not part of the secret. */
static int trim_secret(const char *what, char *pass, size_t *len)
{
	if (*len && pass[*len - 1] == '\n')
		pass[--*len] = '\0';
	if (*len && pass[*len - 1] == '\r')
		pass[--*len] = '\0';
	if (*len == 0) {
		log_err("%s gave an empty passphrase", what);
		return -EINVAL;
	}
	return 0;
}

/* A secret file must not be readable by other users. */
static int check_private(const char *path, int refuse)
{
	struct stat st;

	if (stat(path, &st))
		return 0;   /* reading it reports the error */
	if (!(st.st_mode & 077))
		return 0;
	if (refuse) {
		log_err("key file %s can be read by other users (mode %04o); "
			"refusing to use it: run 'chmod 600 %s'", path,
			(unsigned)(st.st_mode & 07777), path);
		return -EINVAL;
	}
	log_warn("password file %s can be read by other users (mode %04o); "
		 "run 'chmod 600 %s'", path, (unsigned)(st.st_mode & 07777),
		 path);
	return 0;
}

static int read_secret_file(const char *path, int keyfile, char **pass,
			    size_t *len)
{
	int ret = check_private(path, keyfile);

	if (ret)
		return ret;
	ret = util_read_file(path, 4096, pass, len);
	if (ret) {
		log_err("cannot read %s %s: %s", keyfile ? "key file" :
			"password file", path, ret == -E2BIG ?
			"larger than 4 KiB" : strerror(-ret));
		return ret == -ENOENT || ret == -E2BIG ? -EINVAL : ret;
	}
	ret = trim_secret(path, *pass, len);
	if (ret) {
		free(*pass);
		*pass = NULL;
	}
	return ret;
}

/* Run a command and take its standard output as the passphrase. */
static int read_secret_command(const char *cmd, char **pass, size_t *len)
{
	FILE *p = popen(cmd, "r");
	char *buf = calloc(1, 4097);
	size_t n = 0;
	int st, ret;

	*pass = NULL;
	if (!p || !buf) {
		free(buf);
		if (p)
			pclose(p);
		log_err("cannot run --password-command");
		return -EINVAL;
	}
	n = fread(buf, 1, 4096, p);
	st = pclose(p);
	if (st != 0) {
		util_wipe(buf, 4097);
		free(buf);
		/* The command line may hold secrets: do not echo it. */
		log_err("--password-command exited with status %d", st);
		return -EINVAL;
	}
	*len = n;
	ret = trim_secret("--password-command", buf, len);
	if (ret) {
		free(buf);
		return ret;
	}
	*pass = buf;
	return 0;
}

/* The secret that opens the repository: key file, command or file. */
static int read_pass(const struct args *a, char **pass, size_t *len)
{
	if (a->keyfile)
		return read_secret_file(a->keyfile, 1, pass, len);
	if (a->pass_cmd)
		return read_secret_command(a->pass_cmd, pass, len);
	if (!a->passfile) {
		log_err("no passphrase: use --password-file FILE (or "
			"SSTVAULT_PASSWORD_FILE), --password-command CMD or "
			"--key-file FILE");
		return -EINVAL;
	}
	return read_secret_file(a->passfile, 0, pass, len);
}

static int need_repo(const struct args *a)
{
	if (!a->repo) {
		log_err("no repository: use --repo REPO or set SSTVAULT_REPO");
		return -EINVAL;
	}
	return 0;
}

static int exit_for(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case -EINVAL:
		return EXIT_USAGE;
	case -EACCES:
	case -ENOENT:
	case -EPROTONOSUPPORT:
	case -EEXIST:
		return EXIT_REPO;
	case -EBADMSG:
		return EXIT_DAMAGE;
	default:
		return EXIT_STORAGE;
	}
}

static void print_json(json_t *j)
{
	char *s;

	if (!j) {
		/* A json_pack format/argument mismatch: a bug, say so. */
		log_err("internal error: cannot build the JSON summary");
		return;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(j);
}

/* What the last command did, for --metrics-file. */
static struct run_stats {
	char node[256];         /* copied: the command's buffers are gone */
	uint64_t files, bytes, bytes_read, bytes_new, bytes_up, warnings;
	uint64_t errors;
	double read_rate, up_rate;
} run;

/* Upload options from flags (S3 only; the local backend ignores them). */
static void upl_from_args(const struct args *a, struct upl_opts *uo)
{
	memset(uo, 0, sizeof(*uo));
	uo->s3_endpoint = a->s3_endpoint;
	uo->s3_region = a->s3_region;
	uo->s3_path_style = !a->s3_addressing ? -1 :
			    !strcmp(a->s3_addressing, "path") ? 1 :
			    !strcmp(a->s3_addressing, "virtual") ? 0 : -1;
	uo->s3_profile = a->s3_profile;
	uo->ca_file = a->s3_ca;
	uo->client_cert = a->s3_cert;
	uo->client_key = a->s3_key;
	uo->connections = (unsigned)a->s3_conns;
	uo->part_size = a->s3_part;
	uo->limit_upload = a->limit_up;
	uo->limit_download = a->limit_down;
}

/*
 * Prometheus text format for node_exporter's textfile collector, written
 * to PATH.tmp and renamed so the collector never reads half a file. The
 * last-success timestamp of a failed run is carried over from the
 * previous file, so an alert on "no success for 26 h" keeps working.
 */
static void write_metrics(const struct args *a, int code, double secs)
{
	char tmp[4096], labels[512], *old = NULL;
	double last_ok = 0;
	size_t len;
	FILE *f;

	snprintf(labels, sizeof(labels),
		 "command=\"%s\",node=\"%s\",type=\"%s\"", a->cmd->name,
		 run.node[0] ? run.node : a->node ? a->node : "",
		 a->cmd->bit != C_BACKUP ? "" : a->incremental ? "incremental" :
		 a->snapshot_tag ? "snapshot" : "tree");
	if (util_read_file(a->metrics_file, 1 << 20, &old, &len) == 0) {
		const char *p = strstr(old,
				       "\nsstvault_last_success_timestamp_seconds{");

		if (p && (p = strchr(p, '}')))
			last_ok = strtod(p + 1, NULL);
	}
	free(old);
	if (code == EXIT_OK || code == EXIT_WARN)
		last_ok = (double)util_now_ns() / 1e9;
	snprintf(tmp, sizeof(tmp), "%s.tmp", a->metrics_file);
	f = fopen(tmp, "w");
	if (!f) {
		log_warn("cannot write metrics file %s: %s", tmp,
			 strerror(errno));
		return;
	}
#define GAUGE(name, help, value) \
	fprintf(f, "# HELP sstvault_%s %s\n# TYPE sstvault_%s gauge\n" \
		"sstvault_%s{%s} %.17g\n", name, help, name, name, labels, \
		(double)(value))
	GAUGE("last_run_success", "1 if the last run succeeded (exit 0 or 1)",
	      code == EXIT_OK || code == EXIT_WARN);
	GAUGE("last_run_exit_code", "exit code of the last run", code);
	GAUGE("last_run_timestamp_seconds", "when the last run ended",
	      (double)util_now_ns() / 1e9);
	GAUGE("last_success_timestamp_seconds",
	      "when a run last succeeded", last_ok);
	GAUGE("last_run_duration_seconds", "duration of the last run", secs);
	GAUGE("last_run_files", "files handled by the last run", run.files);
	GAUGE("last_run_bytes", "logical bytes handled by the last run",
	      run.bytes);
	GAUGE("last_run_bytes_read", "bytes read from disk or the store",
	      run.bytes_read);
	GAUGE("last_run_bytes_new", "bytes the repository did not have",
	      run.bytes_new);
	GAUGE("last_run_bytes_uploaded", "bytes stored in the repository",
	      run.bytes_up);
	GAUGE("last_run_warnings", "warnings of the last run", run.warnings);
	GAUGE("last_run_errors", "errors of the last run (damaged or failed "
	      "files)", run.errors);
	fprintf(f, "# HELP sstvault_last_run_stage_bytes_per_second throughput "
		"of a pipeline stage in the last run\n# TYPE "
		"sstvault_last_run_stage_bytes_per_second gauge\n");
	fprintf(f, "sstvault_last_run_stage_bytes_per_second{%s,stage=\"read\"} "
		"%.17g\n", labels, run.read_rate);
	fprintf(f, "sstvault_last_run_stage_bytes_per_second{%s,stage=\"upload\"} "
		"%.17g\n", labels, run.up_rate);
#undef GAUGE
	if (fclose(f) || rename(tmp, a->metrics_file)) {
		log_warn("cannot write metrics file %s: %s", a->metrics_file,
			 strerror(errno));
		unlink(tmp);
	}
}

/* Print the effective configuration; secrets never appear. */
static int cmd_config(struct args *a)
{
	json_t *j = json_object();

	if (a->npos != 1 || strcmp(a->positional[0], "show")) {
		json_decref(j);
		log_err("config: the only action is 'show'");
		return -EINVAL;
	}
#define SHOW(name, val) \
	do { \
		if (a->json) \
			json_object_set_new(j, name, json_string(val)); \
		else \
			printf("%s = %s\n", name, val); \
	} while (0)
#define SHOW_STR(name, f) \
	if (a->f) \
		SHOW(name, a->f)
#define SHOW_NUM(name, f) \
	if (a->f) { \
		char num[32]; \
		snprintf(num, sizeof(num), "%llu", (unsigned long long)a->f); \
		SHOW(name, num); \
	}
	SHOW("config", a->config);
	SHOW_STR("repo", repo);
	SHOW_STR("password-file", passfile);
	/* A command line may carry a secret: show that one is set only. */
	if (a->pass_cmd)
		SHOW("password-command", "********");
	SHOW_STR("key-file", keyfile);
	for (size_t i = 0; i < a->ndatadirs; i++)
		SHOW("data-dir", a->datadirs[i]);
	SHOW_STR("cassandra-yaml", yaml);
	SHOW_STR("node", node);
	SHOW_STR("cluster", cluster);
	SHOW_STR("dc", dc);
	SHOW_STR("rack", rack);
	SHOW_STR("tag", tag);
	SHOW_STR("snapshot", snapshot_tag);
	SHOW_STR("snapshot-command", snapshot_cmd);
	SHOW_STR("metrics-file", metrics_file);
	SHOW_STR("s3-endpoint", s3_endpoint);
	SHOW_STR("s3-region", s3_region);
	SHOW_STR("s3-addressing", s3_addressing);
	SHOW_STR("s3-profile", s3_profile);
	SHOW_STR("s3-ca-file", s3_ca);
	SHOW_STR("s3-client-cert", s3_cert);
	SHOW_STR("s3-client-key", s3_key);
	SHOW_NUM("s3-connections", s3_conns);
	SHOW_NUM("s3-part-size", s3_part);
	SHOW_NUM("limit-upload", limit_up);
	SHOW_NUM("limit-download", limit_down);
	SHOW_NUM("threads", threads);
	if (getenv("AWS_ACCESS_KEY_ID"))
		SHOW("aws-access-key-id", getenv("AWS_ACCESS_KEY_ID"));
	if (getenv("AWS_SECRET_ACCESS_KEY"))
		SHOW("aws-secret-access-key", "******** (from environment)");
	if (getenv("AWS_SESSION_TOKEN"))
		SHOW("aws-session-token", "******** (from environment)");
#undef SHOW
#undef SHOW_STR
#undef SHOW_NUM
	if (a->json)
		print_json(j);
	else
		json_decref(j);
	return 0;
}

struct uploads_ctx {
	struct uploader *u;
	int abort, json;
	json_t *arr;
	uint64_t n, failed;
};

static int upload_cb(void *arg, const char *name, const char *upload_id,
		     int64_t initiated_s)
{
	struct uploads_ctx *c = arg;
	char t[40];

	util_fmt_time(t, sizeof(t), initiated_s * 1000000000LL);
	c->n++;
	if (c->json)
		json_array_append_new(c->arr, json_pack("{s:s, s:s, s:s}",
							"object", name,
							"upload_id", upload_id,
							"initiated", t));
	else
		printf("%s %s %s\n", t, name, upload_id);
	if (c->abort && s3_abort_upload(c->u, name, upload_id)) {
		log_err("cannot abort %s: %s", name, c->u->errbuf);
		c->failed++;
	}
	return 0;
}

static int cmd_bench(struct args *a)
{
	struct bench_opts bo = { 0 };
	struct bench_result res;
	struct upl_opts uo;
	int ret;

	if (a->ndatadirs > 1) {
		log_err("bench: one --data-dir at most");
		return -EINVAL;
	}
	upl_from_args(a, &uo);
	bo.data_dir = a->ndatadirs ? a->datadirs[0] : NULL;
	bo.location = a->repo;
	bo.upl = &uo;
	bo.read_max = a->bench_size;
	bo.zstd_level = a->zstd_level;
	bo.threads = a->threads;
	bo.keep_cache = a->keep_cache;
	bo.no_uring = a->no_uring;
	if (!bo.data_dir)
		log_msg("bench: no --data-dir, CPU stages run on generated "
			"SSTable-like data and the read stage is skipped");
	if (!bo.location)
		log_msg("bench: no --repo, the upload stage is skipped");
	ret = bench_run(&bo, &res);
	if (ret) {
		log_err("bench failed: %s", strerror(-ret));
		return ret;
	}
	bench_print(stdout, &res, a->json);
	return 0;
}

static int cmd_uploads(struct args *a)
{
	const char *sub = a->npos ? a->positional[0] : "list";
	struct uploads_ctx c = { 0 };
	struct upl_opts uo;
	char errbuf[512];
	int ret;

	if (strcmp(sub, "list") && strcmp(sub, "abort")) {
		log_err("uploads: list or abort");
		return -EINVAL;
	}
	ret = need_repo(a);
	if (ret)
		return ret;
	if (strncmp(a->repo, "s3://", 5)) {
		log_err("uploads: %s is not an s3:// repository (only S3 has "
			"multipart uploads)", a->repo);
		return -EINVAL;
	}
	upl_from_args(a, &uo);
	ret = uploader_create(&c.u, a->repo, &uo, errbuf);
	if (ret) {
		log_err("%s", errbuf);
		return ret;
	}
	c.abort = !strcmp(sub, "abort");
	c.json = a->json;
	c.arr = json_array();
	ret = s3_list_uploads(c.u, upload_cb, &c);
	if (ret)
		log_err("cannot list multipart uploads: %s", c.u->errbuf);
	if (a->json)
		print_json(json_pack("{s:s, s:s, s:o, s:I}", "command",
				     "uploads", "action", sub, "uploads", c.arr,
				     "failed", (json_int_t)c.failed));
	else {
		json_decref(c.arr);
		log_msg("%llu multipart upload(s)%s",
			(unsigned long long)c.n, c.abort ? " aborted" : "");
	}
	uploader_destroy(c.u);
	return ret ? ret : c.failed ? -EIO : 0;
}

static int open_repo(const struct args *a, struct repo **r)
{
	char errbuf[512];
	char *pass = NULL;
	size_t plen = 0;
	struct upl_opts uo;
	int ret;

	upl_from_args(a, &uo);
	ret = need_repo(a);
	if (!ret)
		ret = read_pass(a, &pass, &plen);
	if (ret)
		return ret;
	ret = repo_open(r, a->repo, &uo, pass, plen, errbuf);
	util_wipe(pass, plen);
	free(pass);
	if (ret)
		log_err("%s", errbuf);
	return ret;
}


static int cmd_init(struct args *a)
{
	struct repo_params p;
	struct upl_opts uo;
	char errbuf[512], *pass = NULL;
	size_t plen = 0;
	int ret;

	upl_from_args(a, &uo);
	repo_default_params(&p);
	if (a->zstd_level)
		p.zstd_level = a->zstd_level;
	{
		/* Tests may lower the KDF cost; never below 2^10. */
		const char *n = getenv("SSTVAULT_TEST_SCRYPT_N");

		if (n && atoi(n) >= 1024)
			p.scrypt_n = (uint64_t)atoi(n);
	}
	ret = need_repo(a);
	if (!ret)
		ret = read_pass(a, &pass, &plen);
	if (ret)
		return ret;
	if (!strncmp(a->repo, "s3://", 5)) {
		struct uploader *u = NULL;

		/* A bucket we already own is fine; a missing one is created
		 * (DESIGN: init may run it unconditionally). */
		ret = uploader_create(&u, a->repo, &uo, errbuf);
		if (!ret) {
			uint8_t *cfgdata = NULL;
			size_t cl;

			/* Create the bucket only when it is missing, so that
			 * init needs no s3:CreateBucket on an existing one. */
			ret = uploader_get_all(u, "config", 1 << 20, &cfgdata,
					       &cl);
			free(cfgdata);
			if (ret == -ENOENT && strstr(u->errbuf, "NoSuchBucket"))
				ret = s3_create_bucket(u);
			else if (ret == -ENOENT || ret == 0)
				ret = 0;   /* repo_init reports an existing one */
			if (ret)
				snprintf(errbuf, sizeof(errbuf), "%s",
					 u->errbuf);
		}
		uploader_destroy(u);
		if (ret) {
			log_err("%s", errbuf);
			util_wipe(pass, plen);
			free(pass);
			return ret;
		}
	}
	ret = repo_init(a->repo, &uo, &p, pass, plen, errbuf);
	util_wipe(pass, plen);
	free(pass);
	if (ret) {
		log_err("%s", errbuf);
		return ret;
	}
	if (a->json)
		print_json(json_pack("{s:s, s:s}", "command", "init", "repo",
				     a->repo));
	else
		log_msg("created repository at %s; keep the passphrase safe: "
			"without it the data cannot be read", a->repo);
	return 0;
}

/* Run --snapshot-command with {tag} replaced. */
static int run_snapshot_command(const char *cmd, const char *tag)
{
	char line[4096];
	size_t o = 0;
	int rc;

	for (const char *p = cmd; *p && o + 1 < sizeof(line); p++) {
		if (!strncmp(p, "{tag}", 5)) {
			o += (size_t)snprintf(line + o, sizeof(line) - o, "%s",
					      tag);
			p += 4;
		} else {
			line[o++] = *p;
		}
	}
	line[SV_MIN(o, sizeof(line) - 1)] = '\0';
	log_msg("running: %s", line);
	rc = system(line);
	if (rc != 0) {
		log_err("--snapshot-command failed (status %d): %s; nothing was "
			"backed up", rc, line);
		return -EIO;
	}
	return 0;
}

static void print_backup(const struct args *a, const struct backup_result *res,
			 const struct cass_sel *sel, const struct upl_stats *us)
{
	char b1[32], b2[32], b3[32], b4[32];

	util_fmt_bytes(b1, sizeof(b1), res->stats.bytes_read);
	util_fmt_bytes(b2, sizeof(b2), res->stats.bytes_new);
	util_fmt_bytes(b3, sizeof(b3), res->stats.bytes_stored);
	util_fmt_bytes(b4, sizeof(b4), res->catalog_bytes);
	if (a->json) {
		json_t *j = json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			" s:f, s:I, s:s, s:I, s:I, s:I}",
			"command", "backup", "snapshot", res->id, "files",
			(json_int_t)res->stats.files, "bytes",
			(json_int_t)res->stats.bytes, "bytes_read",
			(json_int_t)res->stats.bytes_read, "bytes_new",
			(json_int_t)res->stats.bytes_new, "bytes_uploaded",
			(json_int_t)res->stats.bytes_stored, "chunks",
			(json_int_t)res->stats.chunks, "chunks_new",
			(json_int_t)res->stats.chunks_new, "packs",
			(json_int_t)res->packs, "seconds", res->secs,
			"warnings", (json_int_t)res->warnings, "io_mode",
			res->io_mode, "catalog_hits",
			(json_int_t)res->catalog_hits, "catalog_bytes",
			(json_int_t)res->catalog_bytes, "damaged_sources",
			(json_int_t)res->damaged_sources);

		json_object_set_new(j, "upload", json_pack(
			"{s:I, s:I, s:I, s:I, s:I}", "parts",
			(json_int_t)us->parts_put, "objects",
			(json_int_t)us->objects_put, "inflight_max",
			(json_int_t)us->inflight_max, "retries",
			(json_int_t)us->retries, "throttled",
			(json_int_t)us->throttled));
		if (sel)
			json_object_set_new(j, "cassandra", json_pack(
				"{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"missing_components",
				(json_int_t)sel->missing_components,
				"tables", (json_int_t)sel->tables_seen,
				"sstables", (json_int_t)sel->sstables,
				"skipped_tmp", (json_int_t)sel->skipped_tmp,
				"skipped_txn", (json_int_t)sel->skipped_txn,
				"unrecognized", (json_int_t)sel->unrecognized,
				"schema_files", (json_int_t)sel->schema_files));
		print_json(j);
		return;
	}
	if (sel)
		log_msg("cassandra: %llu tables, %llu sstables, %llu unfinished "
			"writes and %llu transaction logs skipped, %llu "
			"unrecognized files kept",
			(unsigned long long)sel->tables_seen,
			(unsigned long long)sel->sstables,
			(unsigned long long)sel->skipped_tmp,
			(unsigned long long)sel->skipped_txn,
			(unsigned long long)sel->unrecognized);
	log_msg("snapshot %.8s saved: %llu files, %s read (%s unchanged, not "
		"read), %s new, %s uploaded in %llu packs, %.1f s (%.0f MB/s)",
		res->id, (unsigned long long)res->stats.files, b1, b4, b2, b3,
		(unsigned long long)res->packs, res->secs,
		(double)res->stats.bytes_read / 1e6 / SV_MAX(res->secs, 1e-3));
	if (res->warnings)
		log_warn("%llu warning(s): see above (%llu damaged source "
			 "file(s))", (unsigned long long)res->warnings,
			 (unsigned long long)res->damaged_sources);
}

/*
 * The snapshots the catalog needs: of this node, the newest of each type
 * and everything after its newest "snapshot"-type backup (its incrementals).
 * An SSTable still on the node is in the newest backup that saw it, so
 * older manifests add nothing; this keeps the cost flat as years of
 * backups accumulate. Summaries come from the local cache.
 */
static int load_catalog_snapshots(struct repo *r, const char *node,
				  struct snapshot ***out, size_t *nout)
{
	struct snapshot **sum = NULL, **full = NULL;
	size_t n = 0, k = 0, last_snap = 0;
	int ret = snapshot_list_summaries(r, &sum, &n, NULL);

	*out = NULL;
	*nout = 0;
	if (ret)
		return ret;
	full = calloc(n + 1, sizeof(*full));
	if (!full) {
		snapshot_list_free(sum, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!strcmp(sum[i]->node, node) &&
		    !strcmp(sum[i]->type, "snapshot"))
			last_snap = i;
	for (size_t i = 0; i < n && !ret; i++) {
		int newest = 1;

		if (strcmp(sum[i]->node, node))
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (!strcmp(sum[j]->node, node) &&
			    !strcmp(sum[j]->type, sum[i]->type))
				newest = 0;
		if (!newest && i < last_snap)
			continue;
		ret = snapshot_load(r, sum[i]->id, &full[k]);
		if (!ret)
			k++;
		else if (ret != -ENOMEM)
			ret = 0;   /* damaged: only a lost catalog hit */
	}
	snapshot_list_free(sum, n);
	*out = full;
	*nout = k;
	return ret;
}

static int cmd_backup(struct args *a)
{
	struct backup_opts bo = { 0 };
	struct backup_result res = { 0 };
	struct cass_sel sel = { 0 };
	struct cass_catalog *cat = NULL;
	struct snapshot **prev = NULL;
	struct repo *r = NULL;
	size_t nprev = 0;
	char cluster[256] = "", hostname[256] = "", *schema = NULL;
	const char *const *roots = a->datadirs;
	size_t nroots = a->ndatadirs;
	int cass = a->snapshot_tag || a->incremental, ret, yaml_incr = 0;

	if (a->snapshot_tag && a->incremental) {
		log_err("backup: --snapshot and --incremental exclude each other");
		return -EINVAL;
	}
	if ((a->clear_incr && !a->incremental) ||
	    (a->clear_snap && !a->snapshot_tag)) {
		log_err("backup: --clear-incrementals needs --incremental, "
			"--clear-snapshot needs --snapshot");
		return -EINVAL;
	}
	if (a->yaml) {
		ret = cass_yaml_load(a->yaml, a->yaml_dirs,
				     SV_ARRAY_SIZE(a->yaml_dirs),
				     &a->nyaml_dirs, cluster, sizeof(cluster),
				     &yaml_incr);
		if (ret)
			return ret == -ENOENT ? -EINVAL : ret;
		if (!nroots) {
			roots = (const char *const *)a->yaml_dirs;
			nroots = a->nyaml_dirs;
		}
		if (a->incremental && !yaml_incr)
			log_warn("%s has incremental_backups disabled: backups/ "
				 "may be empty", a->yaml);
	}
	if (!nroots) {
		log_err("backup: no --data-dir or --cassandra-yaml given");
		return -EINVAL;
	}
	if (a->schema_file) {
		size_t len;

		ret = util_read_file(a->schema_file, 16 << 20, &schema, &len);
		if (ret) {
			log_err("cannot read --schema-file %s: %s",
				a->schema_file, strerror(-ret));
			return -EINVAL;
		}
	}
	if (a->snapshot_cmd) {
		if (!a->snapshot_tag) {
			log_err("--snapshot-command needs --snapshot TAG");
			ret = -EINVAL;
			goto out;
		}
		ret = run_snapshot_command(a->snapshot_cmd, a->snapshot_tag);
		if (ret)
			goto out;
	}
	ret = open_repo(a, &r);
	if (ret)
		goto out;
	gethostname(hostname, sizeof(hostname) - 1);
	bo.node = a->node ? a->node : hostname;
	/* The catalog comes from this node's recent snapshots. */
	ret = load_catalog_snapshots(r, bo.node, &prev, &nprev);
	if (!ret)
		ret = cass_catalog_build(&cat, prev, nprev, bo.node);
	if (ret)
		goto out;
	log_info("catalog: %zu files known from %zu snapshot(s)",
		 cass_catalog_size(cat), nprev);
	bo.catalog = cass_catalog_lookup;
	bo.catalog_arg = cat;
	bo.roots = roots;
	bo.nroots = nroots;
	bo.tag = a->tag ? a->tag : a->snapshot_tag;
	bo.cluster = a->cluster ? a->cluster : cluster[0] ? cluster : NULL;
	bo.dc = a->dc;
	bo.rack = a->rack;
	bo.host_id = a->host_id;
	bo.threads = a->threads;
	bo.no_uring = a->no_uring;
	bo.keep_cache = a->keep_cache;
	bo.progress = (int)progress_mode_for(a->json, util_verbosity < 0);
	bo.schema = schema;
	bo.after_walk_hook = getenv("SSTVAULT_TEST_AFTER_WALK");
	bo.keep_snapshot = a->clear_incr || a->clear_snap;
	if (cass) {
		sel.mode = a->incremental ? CASS_INCREMENTAL : CASS_SNAPSHOT;
		sel.tag = a->snapshot_tag;
		memcpy(sel.keyspaces, a->keyspaces, sizeof(a->keyspaces));
		sel.nkeyspaces = a->nkeyspaces;
		memcpy(sel.tables, a->tables, sizeof(a->tables));
		sel.ntables = a->ntables;
		memcpy(sel.excludes, a->excludes, sizeof(a->excludes));
		sel.nexcludes = a->nexcludes;
		sel.include_system = a->include_system;
		bo.select = cass_select;
		bo.select_arg = &sel;
		bo.type = a->incremental ? "incremental" : "snapshot";
	} else if (a->nkeyspaces || a->ntables || a->nexcludes) {
		log_err("--keyspace/--table/--exclude need --snapshot or "
			"--incremental");
		ret = -EINVAL;
		goto out;
	}
	ret = backup_run(r, &bo, &res);
	if (ret) {
		log_err("backup failed: %s; no snapshot was written (data "
			"already uploaded is reused by the next backup)",
			strerror(-ret));
		goto out;
	}
	res.warnings += sel.missing_components;
	if (cass && sel.tables_seen == 0)
		log_warn("no table matched in %zu data director%s", nroots,
			 nroots == 1 ? "y" : "ies");
	if (cass && a->snapshot_tag && res.stats.files == 0) {
		log_warn("no files under snapshots/%s/ in any selected table",
			 a->snapshot_tag);
		res.warnings++;
	}
	print_backup(a, &res, cass ? &sel : NULL, &r->up->stats);
	snprintf(run.node, sizeof(run.node), "%s", bo.node);
	run.files = res.stats.files;
	run.bytes = res.stats.bytes;
	run.bytes_read = res.stats.bytes_read;
	run.bytes_new = res.stats.bytes_new;
	run.bytes_up = res.stats.bytes_stored;
	run.warnings = res.warnings;
	run.errors = res.damaged_sources;
	run.read_rate = (double)res.stats.bytes_read / SV_MAX(res.secs, 1e-3);
	run.up_rate = (double)res.stats.bytes_stored / SV_MAX(res.secs, 1e-3);
	/* The snapshot is committed: clean up what Cassandra leaves to the
	 * operator, and only what this snapshot recorded. */
	if (res.snap && a->clear_incr) {
		long n = cass_clear_incrementals(res.snap);

		log_msg("removed %ld backed-up file(s) from backups/", n);
	}
	if (res.snap && a->clear_snap) {
		long n = cass_clear_snapshot(res.snap, a->snapshot_tag);

		log_msg("removed snapshot %s (%ld file(s))", a->snapshot_tag, n);
	}
	if (res.warnings)
		ret = 1;
out:
	snapshot_free(res.snap);
	cass_catalog_free(cat);
	snapshot_list_free(prev, nprev);
	for (size_t i = 0; i < a->nyaml_dirs; i++)
		free(a->yaml_dirs[i]);
	a->nyaml_dirs = 0;
	free(schema);
	repo_close(r);
	return ret;
}

static int cmd_snapshots(struct args *a)
{
	struct snapshot **v = NULL;
	struct repo *r = NULL;
	size_t n = 0, dmg = 0;
	int ret;

	ret = open_repo(a, &r);
	if (ret)
		return ret;
	ret = snapshot_list_summaries(r, &v, &n, &dmg);
	if (ret) {
		log_err("cannot list snapshots: %s", r->up->errbuf);
		goto out;
	}
	if (a->json) {
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++) {
			char t[40];

			util_fmt_time(t, sizeof(t), v[i]->time_ns);
			json_array_append_new(arr, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I,"
				" s:I}",
				"id", v[i]->id, "time", t, "host", v[i]->host,
				"node", v[i]->node, "cluster", v[i]->cluster,
				"tag", v[i]->tag, "type", v[i]->type, "files",
				(json_int_t)v[i]->stats.files, "bytes",
				(json_int_t)v[i]->stats.bytes, "bytes_new",
				(json_int_t)v[i]->stats.bytes_new));
		}
		print_json(arr);
	} else {
		printf("%-10s %-24s %-16s %-10s %-12s %8s %10s\n", "ID",
		       "TIME", "NODE", "TYPE", "TAG", "FILES", "SIZE");
		for (size_t i = 0; i < n; i++) {
			char t[40], sz[32];

			util_fmt_time(t, sizeof(t), v[i]->time_ns);
			util_fmt_bytes(sz, sizeof(sz), v[i]->stats.bytes);
			printf("%-10.8s %-24s %-16s %-10s %-12s %8llu %10s\n",
			       v[i]->id, t, v[i]->node, v[i]->type,
			       v[i]->tag[0] ? v[i]->tag : "-",
			       (unsigned long long)v[i]->stats.files, sz);
		}
		printf("%zu snapshot(s)\n", n);
	}
	if (dmg)
		ret = -EBADMSG;
out:
	snapshot_list_free(v, n);
	repo_close(r);
	return ret;
}

struct owner {
	uid_t uid;
	gid_t gid;
};

static int chown_placed(void *arg, const struct snap_file *f,
			const char *path)
{
	const struct owner *o = arg;

	(void)f;
	if (lchown(path, o->uid, o->gid)) {
		log_warn("cannot chown %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static int parse_owner(const char *s, struct owner *o)
{
	char user[128];
	const char *colon = strchr(s, ':');
	struct passwd *pw;
	struct group *gr;

	snprintf(user, sizeof(user), "%.*s",
		 (int)(colon ? (size_t)(colon - s) : strlen(s)), s);
	pw = getpwnam(user);
	if (!pw) {
		log_err("--owner: no such user '%s'", user);
		return -EINVAL;
	}
	o->uid = pw->pw_uid;
	o->gid = pw->pw_gid;
	if (colon && colon[1]) {
		gr = getgrnam(colon + 1);
		if (!gr) {
			log_err("--owner: no such group '%s'", colon + 1);
			return -EINVAL;
		}
		o->gid = gr->gr_gid;
	}
	return 0;
}

/* Write schema.cql at the top of the target. */
static int write_schema(const char *target, const char *schema)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/schema.cql", target);
	f = fopen(path, "w");
	if (!f) {
		log_err("cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	fputs(schema, f);
	if (fclose(f)) {
		log_err("cannot write %s: %s", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* Is the newest snapshot of node a Cassandra (snapshot/incremental) one? */
static int node_is_cass(struct snapshot *const *v, size_t n,
			const char *node)
{
	for (size_t i = n; i-- > 0;)
		if (!strcmp(v[i]->node, node))
			return strcmp(v[i]->type, "tree") != 0;
	return 0;
}

/* Choose the snapshots to restore: one by id, or per node latest / --at. */
static int pick_snapshots(const struct args *a, struct snapshot **v, size_t n,
			  struct snapshot **out, size_t *nout)
{
	const char *what = a->positional[0];
	int64_t at = INT64_MAX;
	int all = a->nnodes == 1 && !strcmp(a->nodes[0], "all");
	const char *nodes[CASS_MAX_FILTERS];
	size_t nn = 0;

	*nout = 0;
	if (a->at && util_parse_time(a->at, &at)) {
		log_err("--at: cannot parse time '%s'", a->at);
		return -EINVAL;
	}
	if (strcmp(what, "latest") && !a->at) {
		int k = snapshot_find(v, n, what);

		if (k < 0) {
			log_err("restore: %s snapshot '%s'",
				k == -EINVAL ? "ambiguous" : "no such", what);
			return k == -EINVAL ? -EINVAL : -ENOENT;
		}
		out[(*nout)++] = v[k];
		return 0;
	}
	/* Nodes: as given, all of them, or the node of the latest. */
	if (all || !a->nnodes) {
		for (size_t i = n; i-- > 0 && nn < CASS_MAX_FILTERS;) {
			int seen = 0;

			for (size_t k = 0; k < nn; k++)
				seen |= !strcmp(nodes[k], v[i]->node);
			if (!seen)
				nodes[nn++] = v[i]->node;
			if (!all)
				break;
		}
	} else {
		memcpy(nodes, a->nodes, a->nnodes * sizeof(*nodes));
		nn = a->nnodes;
	}
	for (size_t k = 0; k < nn; k++) {
		size_t idx[256];
		int c;

		/* Without --at, "latest" of a Cassandra node is its point in
		 * time now: the last snapshot backup plus the incrementals
		 * after it (the newest incremental alone holds only what was
		 * flushed since the previous one). */
		if (a->at || node_is_cass(v, n, nodes[k])) {
			c = cass_pick_at(v, n, nodes[k], at, idx,
					 SV_ARRAY_SIZE(idx));
			if (c < 0) {
				log_err("restore: node %s has no snapshot "
					"backup %s%s (incremental backups "
					"need one to start from; restore an "
					"incremental by its id instead)",
					nodes[k], a->at ? "at or before " :
					"", a->at ? a->at : "");
				return -ENOENT;
			}
		} else {
			c = 0;
			for (size_t i = n; i-- > 0;)
				if (!strcmp(v[i]->node, nodes[k])) {
					idx[c++] = i;
					break;
				}
			if (!c) {
				log_err("restore: no snapshot of node %s",
					nodes[k]);
				return -ENOENT;
			}
		}
		for (int i = 0; i < c && *nout < 256; i++)
			out[(*nout)++] = v[idx[i]];
	}
	return 0;
}

static int cmd_restore(struct args *a)
{
	struct restore_opts ro = { 0 };
	struct restore_result res = { 0 };
	struct cass_plan_stats pst = { 0 };
	struct snapshot **v = NULL, *chosen[256], *plan = NULL;
	struct snapshot *loaded[256];
	size_t nloaded = 0;
	char marker[128] = "";
	const struct snapshot *what;
	struct repo *r = NULL;
	struct owner own;
	size_t n = 0, nchosen = 0, damaged = 0;
	enum cass_layout layout = 0;
	int ret, tree;

	if (a->npos != 1) {
		log_err("restore: give exactly one snapshot id (or 'latest')");
		return -EINVAL;
	}
	if (!a->target) {
		log_err("restore: no --target given");
		return -EINVAL;
	}
	if (a->layout && strcmp(a->layout, "tree") &&
	    strcmp(a->layout, "loader") && strcmp(a->layout, "data-dir")) {
		log_err("restore: unknown --layout '%s' (loader, data-dir or "
			"tree)", a->layout);
		return -EINVAL;
	}
	if (a->owner && parse_owner(a->owner, &own))
		return -EINVAL;
	ret = open_repo(a, &r);
	if (ret)
		return ret;
	/* Like a backup, a restore reads packs through the index: prune
	 * must wait for it before deleting any (maint.h). */
	if (maint_marker_create(r, marker))
		log_warn("cannot write a reader marker: %s; a concurrent prune "
			 "could remove data this restore reads", r->up->errbuf);
	ret = snapshot_list_summaries(r, &v, &n, &damaged);
	if (ret)
		goto out;
	/* A snapshot that cannot be read has no known node or time: it may
	 * be the newest one, so "latest" or --at would silently pick an
	 * older point in time. Refuse; a snapshot by id is still fine. */
	if (damaged && (!strcmp(a->positional[0], "latest") || a->at)) {
		log_err("restore: %zu snapshot object(s) cannot be read (named "
			"above); one of them may be the latest, so nothing is "
			"restored. Restore a snapshot by its id ('sstvault "
			"snapshots' lists the readable ones) and run 'sstvault "
			"check'", damaged);
		ret = -EBADMSG;
		goto out;
	}
	ret = pick_snapshots(a, v, n, chosen, &nchosen);
	if (ret)
		goto out;
	/* Summaries carry no file lists: load the chosen ones whole. */
	for (size_t i = 0; i < nchosen; i++) {
		ret = snapshot_load(r, chosen[i]->id, &loaded[i]);
		if (ret) {
			log_err("cannot read snapshot %.8s: %s", chosen[i]->id,
				r->up->errbuf);
			goto out;
		}
		nloaded++;
		chosen[i] = loaded[i];
	}
	tree = a->layout ? !strcmp(a->layout, "tree") :
			   !strcmp(chosen[0]->type, "tree");
	if (tree) {
		if (nchosen != 1 || a->nkeyspaces || a->ntables) {
			log_err("restore: --layout tree restores exactly one "
				"snapshot, without keyspace or table filters");
			ret = -EINVAL;
			goto out;
		}
		what = chosen[0];
	} else {
		struct cass_plan_opts po = { 0 };

		layout = a->layout && !strcmp(a->layout, "data-dir") ?
			 CASS_LAYOUT_DATADIR : CASS_LAYOUT_LOADER;
		po.layout = layout;
		memcpy(po.keyspaces, a->keyspaces, sizeof(a->keyspaces));
		po.nkeyspaces = a->nkeyspaces;
		memcpy(po.tables, a->tables, sizeof(a->tables));
		po.ntables = a->ntables;
		ret = cass_plan(chosen, nchosen, &po, &plan, &pst);
		if (ret == -ENOENT)
			log_err("restore: no SSTable in the chosen snapshot(s) "
				"matches (is it a tree backup? use --layout "
				"tree)");
		if (ret)
			goto out;
		what = plan;
		ro.check = &cass_restore_check;
		for (size_t i = 0; i < nchosen; i++)
			log_info("restoring snapshot %.8s (node %s, %s, %s)",
				 chosen[i]->id, chosen[i]->node,
				 chosen[i]->type, chosen[i]->tag);
		if (pst.renamed)
			log_msg("restore: %llu SSTable(s) renamed to avoid "
				"generation collisions between nodes",
				(unsigned long long)pst.renamed);
	}
	ro.target = a->target;
	ro.force = a->force;
	ro.threads = a->threads;
	ro.no_uring = a->no_uring;
	ro.no_fsync = a->no_fsync;
	ro.progress = (int)progress_mode_for(a->json, util_verbosity < 0);
	if (a->owner) {
		ro.placed = chown_placed;
		ro.placed_arg = &own;
	}
	ret = restore_run(r, what, &ro, &res);
	run.files = res.files;
	run.bytes = res.bytes;
	run.bytes_read = r->up->stats.bytes_down;
	run.errors = res.failed;
	run.read_rate = (double)r->up->stats.bytes_down / SV_MAX(res.secs, 1e-3);
	if (ret != -EEXIST && !tree && what->schema &&
	    write_schema(a->target, what->schema) && !ret)
		ret = -EIO;
	if (a->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I,"
				     " s:I, s:I, s:f, s:b}",
				     "command", "restore", "snapshot",
				     chosen[0]->id, "layout",
				     tree ? "tree" : layout == CASS_LAYOUT_DATADIR ?
				     "data-dir" : "loader", "snapshots",
				     (json_int_t)nchosen, "files",
				     (json_int_t)res.files, "bytes",
				     (json_int_t)res.bytes, "failed",
				     (json_int_t)res.failed, "damaged",
				     (json_int_t)res.damaged, "read_back",
				     (json_int_t)res.readback, "renamed",
				     (json_int_t)pst.renamed, "seconds",
				     res.secs, "ok", ret == 0));
	} else if (!ret) {
		char b[32];

		util_fmt_bytes(b, sizeof(b), res.bytes);
		log_msg("restored %zu snapshot(s) (%s layout): %llu files, %s, "
			"verified, in %.1f s%s", nchosen,
			tree ? "tree" : layout == CASS_LAYOUT_DATADIR ?
			"data-dir" : "loader",
			(unsigned long long)res.files, b, res.secs,
			!tree && what->schema ? "; schema in schema.cql" : "");
	} else if (res.failed) {
		log_err("restore incomplete: %llu file(s) not restored (%llu "
			"because repository data is damaged or missing)",
			(unsigned long long)res.failed,
			(unsigned long long)res.damaged);
	}
out:
	if (marker[0])
		maint_marker_remove(r, marker);
	for (size_t i = 0; i < nloaded; i++)
		snapshot_free(loaded[i]);
	snapshot_free(plan);
	snapshot_list_free(v, n);
	repo_close(r);
	return ret;
}

static int cmd_forget(struct args *a)
{
	struct forget_opts fo = { 0 };
	struct forget_result res;
	struct repo *r = NULL;
	int ret;

	fo.keep_last = a->keep_last;
	fo.keep_daily = a->keep_daily;
	fo.keep_weekly = a->keep_weekly;
	fo.keep_monthly = a->keep_monthly;
	fo.node = a->node;
	fo.type = a->type;
	fo.group_by_cluster = a->group_cluster;
	fo.dry_run = a->dry_run;
	if (!fo.keep_last && !fo.keep_daily && !fo.keep_weekly &&
	    !fo.keep_monthly) {
		log_err("forget: give at least one --keep-* rule");
		return -EINVAL;
	}
	ret = open_repo(a, &r);
	if (ret)
		return ret;
	ret = maint_forget(r, &fo, &res);
	if (a->json)
		print_json(json_pack("{s:s, s:I, s:I, s:I, s:b, s:b}", "command",
				     "forget", "kept", (json_int_t)res.kept,
				     "removed", (json_int_t)res.removed,
				     "groups", (json_int_t)res.groups,
				     "dry_run", a->dry_run, "ok", ret == 0));
	else if (!ret)
		log_msg("forget: %llu snapshot(s) %s, %llu kept; run 'sstvault "
			"prune' to free their data",
			(unsigned long long)res.removed,
			a->dry_run ? "would be removed" : "removed",
			(unsigned long long)res.kept);
	repo_close(r);
	return ret;
}

static int cmd_prune(struct args *a)
{
	struct prune_opts po = { 0 };
	struct prune_result res;
	struct repo *r = NULL;
	char b[32];
	int ret;

	po.repack_threshold = a->repack > 0 ? a->repack : 0.3;
	po.grace_s = a->grace_s >= 0 ? a->grace_s : 24 * 3600;
	po.wait_s = a->max_wait_s ? a->max_wait_s : 3600;
	po.dry_run = a->dry_run;
	po.progress = util_verbosity >= 0 && !a->json;
	ret = open_repo(a, &r);
	if (ret)
		return ret;
	ret = maint_prune(r, &po, &res);
	run.bytes = res.bytes_deleted;
	run.files = res.packs_deleted;
	util_fmt_bytes(b, sizeof(b), res.bytes_deleted);
	if (a->json)
		print_json(json_pack(
			"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			" s:I, s:I, s:I, s:b, s:b}",
			"command", "prune", "packs_before",
			(json_int_t)res.packs_before, "packs_after",
			(json_int_t)res.packs_after, "packs_deleted",
			(json_int_t)res.packs_deleted, "bytes_deleted",
			(json_int_t)res.bytes_deleted, "packs_repacked",
			(json_int_t)res.packs_repacked, "blobs_repacked",
			(json_int_t)res.blobs_repacked, "bytes_repacked",
			(json_int_t)res.bytes_repacked, "unreferenced_deleted",
			(json_int_t)res.unreferenced_deleted, "index_before",
			(json_int_t)res.index_before, "index_after",
			(json_int_t)res.index_after, "uploads_aborted",
			(json_int_t)res.uploads_aborted, "packs_kept_young",
			(json_int_t)res.packs_kept_young, "dry_run",
			a->dry_run, "ok", ret == 0));
	else if (!ret && !a->dry_run)
		log_msg("prune: deleted %llu of %llu pack(s) (%s), repacked "
			"%llu, %llu unreferenced; index objects %llu -> %llu",
			(unsigned long long)res.packs_deleted,
			(unsigned long long)res.packs_before, b,
			(unsigned long long)res.packs_repacked,
			(unsigned long long)res.unreferenced_deleted,
			(unsigned long long)res.index_before,
			(unsigned long long)res.index_after);
	repo_close(r);
	return ret == -EBUSY ? -EAGAIN : ret;
}

/* Create a key file with 32 random bytes (base64) if it does not exist. */
static int ensure_keyfile(const char *path)
{
	uint8_t raw[32];
	char *b64;
	FILE *f;
	int fd;

	if (access(path, F_OK) == 0)
		return 0;
	if (util_random(raw, sizeof(raw)))
		return -EIO;
	b64 = util_b64enc(raw, sizeof(raw));
	util_wipe(raw, sizeof(raw));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!b64 || !f) {
		log_err("cannot create key file %s: %s", path, strerror(errno));
		if (fd >= 0 && !f)
			close(fd);
		free(b64);
		return -EINVAL;
	}
	fprintf(f, "%s\n", b64);
	util_wipe(b64, strlen(b64));
	free(b64);
	if (fclose(f))
		return -EIO;
	log_msg("created key file %s (keep it safe and private)", path);
	return 0;
}

static int cmd_key(struct args *a)
{
	const char *sub = a->npos ? a->positional[0] : "list";
	struct repo_slot slots[64];
	struct repo *r = NULL;
	char errbuf[512], id[2 * SV_OID_LEN + 1], *np = NULL;
	size_t n = 0, nplen = 0;
	int ret;

	if (strcmp(sub, "list") && strcmp(sub, "add") && strcmp(sub, "remove") &&
	    strcmp(sub, "passwd")) {
		log_err("key: unknown action '%s' (list, add, remove, passwd)",
			sub);
		return -EINVAL;
	}
	if (!strcmp(sub, "remove") && a->npos != 2) {
		log_err("key remove: give the key id (see 'sstvault key list')");
		return -EINVAL;
	}
	if (!strcmp(sub, "add") || !strcmp(sub, "passwd")) {
		if (!!a->new_pass == !!a->new_keyfile ||
		    (a->new_keyfile && !strcmp(sub, "passwd"))) {
			log_err("key %s: give --new-password-file FILE%s", sub,
				strcmp(sub, "add") ? "" :
				" or --new-key-file FILE");
			return -EINVAL;
		}
		if (a->new_keyfile && ensure_keyfile(a->new_keyfile))
			return -EINVAL;
		ret = read_secret_file(a->new_keyfile ? a->new_keyfile :
				       a->new_pass, !!a->new_keyfile, &np,
				       &nplen);
		if (ret)
			return ret;
	}
	ret = open_repo(a, &r);
	if (ret)
		goto out;
	if (!strcmp(sub, "list")) {
		json_t *arr = json_array();

		ret = repo_list_slots(r, slots, SV_ARRAY_SIZE(slots), &n);
		for (size_t i = 0; !ret && i < n; i++) {
			if (a->json)
				json_array_append_new(arr, json_pack(
					"{s:s, s:s, s:s, s:b}", "id",
					slots[i].id, "kind", slots[i].kind,
					"created", slots[i].created, "current",
					slots[i].current));
			else
				printf("%s %-10.10s %-10s %s\n",
				       slots[i].current ? "*" : " ",
				       slots[i].id, slots[i].kind,
				       slots[i].created);
		}
		if (a->json)
			print_json(arr);
		else
			json_decref(arr);
		goto out;
	}
	if (!strcmp(sub, "remove")) {
		ret = repo_remove_slot(r, a->positional[1], errbuf);
		if (ret)
			log_err("%s", errbuf);
		else
			log_msg("removed key %s", a->positional[1]);
		goto out;
	}
	ret = repo_add_slot_kind(r, np, nplen,
				 a->new_keyfile ? "keyfile" : "passphrase", id);
	if (ret) {
		log_err("cannot add key: %s", r->up->errbuf);
		goto out;
	}
	log_msg("added key %.8s (%s)", id, a->new_keyfile ? "key file" :
		"passphrase");
	if (!strcmp(sub, "passwd")) {
		/* The new slot is durable; only now drop the old one. */
		ret = repo_remove_slot(r, r->slot, errbuf);
		if (ret)
			log_err("%s", errbuf);
		else
			log_msg("removed old key %.8s", r->slot);
	}
	if (a->json)
		print_json(json_pack("{s:s, s:s, s:s}", "command", "key",
				     "added", id, "action", sub));
out:
	if (np)
		util_wipe(np, nplen);
	free(np);
	repo_close(r);
	return ret;
}

static int cmd_check(struct args *a)
{
	struct check_result res;
	struct repo *r = NULL;
	int ret;

	ret = open_repo(a, &r);
	if (ret)
		return ret;
	ret = check_run(r, a->read_data,
			(int)progress_mode_for(a->json, util_verbosity < 0),
			&res);
	run.files = res.blobs;
	run.bytes_read = res.bytes_read;
	run.errors = res.damaged_packs + res.missing_packs +
		     res.damaged_snapshots + res.missing_chunks;
	if (a->json) {
		print_json(json_pack(
			"{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			" s:I, s:I, s:b}",
			"command", "check", "read_data", a->read_data,
			"snapshots", (json_int_t)res.snapshots, "packs",
			(json_int_t)res.packs, "blobs", (json_int_t)res.blobs,
			"bytes_read", (json_int_t)res.bytes_read,
			"damaged_packs", (json_int_t)res.damaged_packs,
			"damaged_blobs", (json_int_t)res.damaged_blobs,
			"missing_packs", (json_int_t)res.missing_packs,
			"missing_chunks", (json_int_t)res.missing_chunks,
			"damaged_snapshots",
			(json_int_t)res.damaged_snapshots, "affected_files",
			(json_int_t)res.affected_files, "ok", ret == 0));
	} else if (ret == 0) {
		log_msg("no errors: %llu snapshots, %llu packs%s",
			(unsigned long long)res.snapshots,
			(unsigned long long)res.packs,
			a->read_data ? ", every blob read and verified" : "");
	} else if (ret == -EBADMSG) {
		log_err("repository damaged: %llu damaged pack(s), %llu "
			"missing pack(s), %llu damaged snapshot(s); %llu "
			"file(s) affected",
			(unsigned long long)res.damaged_packs,
			(unsigned long long)res.missing_packs,
			(unsigned long long)res.damaged_snapshots,
			(unsigned long long)res.affected_files);
	}
	repo_close(r);
	return ret;
}

/*
 * The config file: "name = value" lines with the long option names
 * ("repo = s3://bucket/prefix", "data-dir = /data1" (repeatable),
 * "incremental = true"); '#' starts a comment. It is parsed with the same
 * option table as argv, so everything a flag can say, the file can say.
 * Options that do not apply to the command at hand are ignored.
 * Return: 0, or -EINVAL with the file and line named.
 */
static int load_config(const char *path, int must_exist, struct args *c,
		       char **text_out, char ***argv_out)
{
	char *text = NULL, **av = NULL, *line, *save = NULL;
	size_t len = 0, n = 2, cap = 64;
	int lineno = 0, ret;

	*text_out = NULL;
	*argv_out = NULL;
	ret = util_read_file(path, 1 << 20, &text, &len);
	if (ret) {
		if (!must_exist && ret == -ENOENT)
			return 0;
		log_err("cannot read config file %s: %s", path, strerror(-ret));
		return -EINVAL;
	}
	av = calloc(cap, sizeof(*av));
	if (!av) {
		free(text);
		return -ENOMEM;
	}
	av[0] = (char *)"sstvault";
	av[1] = (char *)c->cmd->name;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq, *k, *v, *end;
		const struct opt *o = NULL;

		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		k = line;
		v = eq ? eq + 1 : NULL;
		end = eq ? eq : line + strlen(line);
		while (end > k && (end[-1] == ' ' || end[-1] == '\t' ||
				   end[-1] == '\r'))
			end--;
		*end = '\0';
		if (v) {
			while (*v == ' ' || *v == '\t')
				v++;
			end = v + strlen(v);
			while (end > v && (end[-1] == ' ' || end[-1] == '\t' ||
					   end[-1] == '\r'))
				end--;
			*end = '\0';
		}
		for (size_t i = 0; i < SV_ARRAY_SIZE(opts); i++)
			if (!strcmp(opts[i].name, k))
				o = &opts[i];
		if (!o || o->id == O_CONFIG || o->id == O_HELP) {
			log_err("%s line %d: unknown option '%s'", path, lineno,
				k);
			ret = -EINVAL;
			goto out;
		}
		if (n + 3 >= cap) {
			char **na = realloc(av, 2 * cap * sizeof(*av));

			if (!na) {
				ret = -ENOMEM;
				goto out;
			}
			av = na;
			cap *= 2;
		}
		if (o->has_arg) {
			if (!v || !*v) {
				log_err("%s line %d: '%s' needs a value", path,
					lineno, k);
				ret = -EINVAL;
				goto out;
			}
			{
				/* "--name" and the value as two arguments */
				char *flag = malloc(strlen(k) + 3);

				if (!flag) {
					ret = -ENOMEM;
					goto out;
				}
				sprintf(flag, "--%s", k);
				av[n++] = flag;
				av[n] = strdup(v);
				if (!av[n++]) {
					ret = -ENOMEM;
					goto out;
				}
			}
		} else {
			char *flag;

			if (v && strcmp(v, "true") && strcmp(v, "yes") &&
			    strcmp(v, "1")) {
				if (!strcmp(v, "false") || !strcmp(v, "no") ||
				    !strcmp(v, "0"))
					continue;
				log_err("%s line %d: '%s' is a switch: true or "
					"false", path, lineno, k);
				ret = -EINVAL;
				goto out;
			}
			flag = malloc(strlen(k) + 3);
			if (!flag) {
				ret = -ENOMEM;
				goto out;
			}
			sprintf(flag, "--%s", k);
			av[n++] = flag;
		}
	}
	c->from_config = 1;
	if (parse_args((int)n, av, c)) {
		log_err("in config file %s", path);
		ret = -EINVAL;
	}
	c->from_config = 0;
out:
	*text_out = text;
	*argv_out = av;
	return ret;
}

static void free_config_argv(char **av)
{
	if (!av)
		return;
	/* Everything after the program and command names is ours. */
	for (size_t i = 2; av[i]; i++)
		free(av[i]);
	free(av);
}

/* Flags (a) override the environment, which overrides the file (c). */
static void merge_args(struct args *a, const struct args *c)
{
#define STR_ENV(f, env) \
	if (!a->f && getenv(env)) \
		a->f = getenv(env)
#define TAKE(f) \
	if (!a->f) \
		a->f = c->f
#define TAKE_LIST(v, n) \
	if (!a->n) { \
		memcpy(a->v, c->v, sizeof(a->v)); \
		a->n = c->n; \
	}
	STR_ENV(repo, "SSTVAULT_REPO");
	STR_ENV(passfile, "SSTVAULT_PASSWORD_FILE");
	STR_ENV(pass_cmd, "SSTVAULT_PASSWORD_COMMAND");
	STR_ENV(metrics_file, "SSTVAULT_METRICS_FILE");
	/* One secret source: a flag or environment choice beats the file's. */
	if (a->passfile || a->pass_cmd || a->keyfile) {
		TAKE(keyfile);
	} else {
		TAKE(passfile);
		TAKE(pass_cmd);
		TAKE(keyfile);
	}
	TAKE(type); TAKE(repo); TAKE(target); TAKE(tag); TAKE(node); TAKE(cluster);
	TAKE(layout); TAKE(snapshot_tag); TAKE(snapshot_cmd); TAKE(yaml);
	TAKE(schema_file); TAKE(dc); TAKE(rack); TAKE(host_id); TAKE(at);
	TAKE(owner); TAKE(new_pass); TAKE(new_keyfile); TAKE(metrics_file);
	TAKE(s3_endpoint); TAKE(s3_region); TAKE(s3_addressing);
	TAKE(s3_profile); TAKE(s3_ca); TAKE(s3_cert); TAKE(s3_key);
	TAKE(s3_conns); TAKE(s3_part); TAKE(limit_up); TAKE(limit_down);
	TAKE(json); TAKE(force); TAKE(read_data); TAKE(no_uring);
	TAKE(keep_cache); TAKE(no_fsync); TAKE(threads); TAKE(zstd_level);
	TAKE(incremental); TAKE(include_system); TAKE(clear_incr);
	TAKE(clear_snap); TAKE(keep_last); TAKE(keep_daily);
	TAKE(keep_weekly); TAKE(keep_monthly); TAKE(dry_run);
	TAKE(group_cluster); TAKE(repack); TAKE(max_wait_s); TAKE(quiet);
	TAKE(verbose);
	if (a->grace_s < 0)
		a->grace_s = c->grace_s;
	TAKE_LIST(datadirs, ndatadirs);
	TAKE_LIST(keyspaces, nkeyspaces);
	TAKE_LIST(tables, ntables);
	TAKE_LIST(excludes, nexcludes);
	TAKE_LIST(nodes, nnodes);
#undef STR_ENV
#undef TAKE
#undef TAKE_LIST
}

int main(int argc, char **argv)
{
	struct args a = { .grace_s = -1 }, cfg = { .grace_s = -1 };
	char *cfg_text = NULL, **cfg_argv = NULL;
	double t0;
	int ret;

	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout, NULL);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("sstvault %s (repository format %d)\n", SV_VERSION,
		       SV_FORMAT_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < SV_ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			a.cmd = &cmds[i];
	if (!a.cmd) {
		log_err("unknown command '%s'; see 'sstvault --help'", argv[1]);
		return EXIT_USAGE;
	}
	if (parse_args(argc, argv, &a)) {
		fprintf(stderr, "see 'sstvault %s --help'\n", a.cmd->name);
		return EXIT_USAGE;
	}
	cfg.cmd = a.cmd;
	{
		const char *path = a.config ? a.config :
				   getenv("SSTVAULT_CONFIG") ?
				   getenv("SSTVAULT_CONFIG") :
				   "/etc/sstvault/sstvault.conf";

		if (load_config(path, a.config || getenv("SSTVAULT_CONFIG"),
				&cfg, &cfg_text, &cfg_argv)) {
			ret = -EINVAL;
			goto out;
		}
		a.config = path;
	}
	merge_args(&a, &cfg);
	util_verbosity = a.quiet ? -1 : a.verbose;
	t0 = util_mono();
	switch (a.cmd->bit) {
	case C_INIT: ret = cmd_init(&a); break;
	case C_BACKUP: ret = cmd_backup(&a); break;
	case C_SNAPSHOTS: ret = cmd_snapshots(&a); break;
	case C_RESTORE: ret = cmd_restore(&a); break;
	case C_CHECK: ret = cmd_check(&a); break;
	case C_FORGET: ret = cmd_forget(&a); break;
	case C_PRUNE: ret = cmd_prune(&a); break;
	case C_KEY: ret = cmd_key(&a); break;
	case C_CONFIG: ret = cmd_config(&a); break;
	case C_UPLOADS: ret = cmd_uploads(&a); break;
	case C_BENCH: ret = cmd_bench(&a); break;
	default: ret = -EINVAL; break;
	}
	if (a.metrics_file)
		write_metrics(&a, ret == 1 ? EXIT_WARN : exit_for(ret),
			      util_mono() - t0);
out:
	free(cfg_text);
	free_config_argv(cfg_argv);
	if (ret == 1)
		return EXIT_WARN;
	return exit_for(ret);
}
