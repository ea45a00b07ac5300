/*
 * main.c - the sstvault command line.
 *
 * One table of options serves parsing, per-command --help and the man page
 * check (tests/t_cli.sh); each option lists the commands it applies to.
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
#include "engine/cassandra.h"
#include "engine/check.h"
#include "engine/maint.h"
#include "engine/repo.h"
#include "engine/restore.h"
#include "engine/snapshot.h"
#include "engine/util.h"

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
	O_HELP = 'h',
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
	{ "data-dir", O_DATADIR, 1, C_BACKUP, "DIR",
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
	  "do not fsync restored files (scratch restores)" },
	{ "read-data", O_READ_DATA, 0, C_CHECK, NULL,
	  "read and verify every blob of every pack" },
	{ "zstd-level", O_ZSTD_LEVEL, 1, C_INIT, "N",
	  "zstd level for new chunks, 1..19 (default 1)" },
	{ "threads", O_THREADS, 1, C_BACKUP | C_RESTORE, "N",
	  "worker threads (default: all cores)" },
	{ "no-uring", O_NO_URING, 0, C_BACKUP | C_RESTORE, NULL,
	  "use pread/pwrite instead of io_uring" },
	{ "keep-cache", O_KEEP_CACHE, 0, C_BACKUP, NULL,
	  "let reads populate the page cache (default: spare it)" },
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
	optind = 2;
	while ((c = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
		const struct opt *o = NULL;

		for (size_t i = 0; i < SV_ARRAY_SIZE(opts); i++)
			if (opts[i].id == c)
				o = &opts[i];
		if (!o)
			return -EINVAL;   /* getopt printed why */
		if (!(o->cmds & a->cmd->bit)) {
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
		case O_VERBOSE: util_verbosity++; break;
		case O_QUIET: util_verbosity = -1; break;
		case O_HELP:
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
	if (!a->repo)
		a->repo = getenv("SSTVAULT_REPO");
	if (!a->passfile)
		a->passfile = getenv("SSTVAULT_PASSWORD_FILE");
	if (!a->pass_cmd)
		a->pass_cmd = getenv("SSTVAULT_PASSWORD_COMMAND");
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

static int open_repo(const struct args *a, struct repo **r)
{
	char errbuf[512];
	char *pass = NULL;
	size_t plen = 0;
	struct upl_opts uo = { 0 };
	int ret;

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

static int cmd_init(struct args *a)
{
	struct repo_params p;
	struct upl_opts uo = { 0 };
	char errbuf[512], *pass = NULL;
	size_t plen = 0;
	int ret;

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
			 const struct cass_sel *sel)
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

		if (sel)
			json_object_set_new(j, "cassandra", json_pack(
				"{s:I, s:I, s:I, s:I, s:I, s:I}",
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
	bo.progress = util_verbosity >= 0 && !a->json;
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
	if (cass && sel.tables_seen == 0)
		log_warn("no table matched in %zu data director%s", nroots,
			 nroots == 1 ? "y" : "ies");
	if (cass && a->snapshot_tag && res.stats.files == 0) {
		log_warn("no files under snapshots/%s/ in any selected table",
			 a->snapshot_tag);
		res.warnings++;
	}
	print_backup(a, &res, cass ? &sel : NULL);
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

		if (a->at) {
			c = cass_pick_at(v, n, nodes[k], at, idx,
					 SV_ARRAY_SIZE(idx));
			if (c < 0) {
				log_err("restore: node %s has no snapshot "
					"backup at or before %s", nodes[k],
					a->at);
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
	const struct snapshot *what;
	struct repo *r = NULL;
	struct owner own;
	size_t n = 0, nchosen = 0;
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
	ret = snapshot_list_summaries(r, &v, &n, NULL);
	if (ret)
		goto out;
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
		ro.verify = cass_verify_restored;
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
	ro.progress = util_verbosity >= 0 && !a->json;
	if (a->owner) {
		ro.placed = chown_placed;
		ro.placed_arg = &own;
	}
	ret = restore_run(r, what, &ro, &res);
	if (ret != -EEXIST && !tree && what->schema &&
	    write_schema(a->target, what->schema) && !ret)
		ret = -EIO;
	if (a->json) {
		print_json(json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I,"
				     " s:I, s:f, s:b}",
				     "command", "restore", "snapshot",
				     chosen[0]->id, "layout",
				     tree ? "tree" : layout == CASS_LAYOUT_DATADIR ?
				     "data-dir" : "loader", "snapshots",
				     (json_int_t)nchosen, "files",
				     (json_int_t)res.files, "bytes",
				     (json_int_t)res.bytes, "failed",
				     (json_int_t)res.failed, "damaged",
				     (json_int_t)res.damaged, "renamed",
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
	ret = check_run(r, a->read_data, util_verbosity >= 0 && !a->json,
			&res);
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

int main(int argc, char **argv)
{
	struct args a = { .grace_s = -1 };
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
	switch (a.cmd->bit) {
	case C_INIT: ret = cmd_init(&a); break;
	case C_BACKUP: ret = cmd_backup(&a); break;
	case C_SNAPSHOTS: ret = cmd_snapshots(&a); break;
	case C_RESTORE: ret = cmd_restore(&a); break;
	case C_CHECK: ret = cmd_check(&a); break;
	case C_FORGET: ret = cmd_forget(&a); break;
	case C_PRUNE: ret = cmd_prune(&a); break;
	case C_KEY: ret = cmd_key(&a); break;
	default: ret = -EINVAL; break;
	}
	if (ret == 1)
		return EXIT_WARN;
	return exit_for(ret);
}
