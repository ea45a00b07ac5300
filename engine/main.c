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
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/backup.h"
#include "engine/check.h"
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
	C_ALL = 0xff,
};

enum opt_id {
	O_REPO = 256, O_PASSFILE, O_DATADIR, O_TARGET, O_TAG, O_NODE,
	O_CLUSTER, O_JSON, O_THREADS, O_NO_URING, O_KEEP_CACHE, O_FORCE,
	O_READ_DATA, O_LAYOUT, O_ZSTD_LEVEL, O_NO_FSYNC, O_HELP = 'h',
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
	{ "data-dir", O_DATADIR, 1, C_BACKUP, "DIR",
	  "directory to back up; repeat for several (JBOD)" },
	{ "tag", O_TAG, 1, C_BACKUP, "TAG", "label stored with the snapshot" },
	{ "node", O_NODE, 1, C_BACKUP, "NAME",
	  "node name stored with the snapshot (default: host name)" },
	{ "cluster", O_CLUSTER, 1, C_BACKUP, "NAME",
	  "cluster name stored with the snapshot" },
	{ "target", O_TARGET, 1, C_RESTORE, "DIR",
	  "directory to restore into (must be empty unless --force)" },
	{ "layout", O_LAYOUT, 1, C_RESTORE, "tree",
	  "restore layout: tree recreates the backed-up directories" },
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
	{ "backup", C_BACKUP, "backup --data-dir DIR [--data-dir DIR...]",
	  "Back up directories; only chunks the repository lacks are "
	  "stored." },
	{ "snapshots", C_SNAPSHOTS, "snapshots [--json]",
	  "List the snapshots in the repository." },
	{ "restore", C_RESTORE, "restore ID|latest --target DIR",
	  "Restore a snapshot, verifying every byte before it is put in "
	  "place." },
	{ "check", C_CHECK, "check [--read-data]",
	  "Verify the repository's structure, and with --read-data every "
	  "blob." },
};

struct args {
	const struct cmdinfo *cmd;
	const char *repo, *passfile, *target, *tag, *node, *cluster, *layout;
	const char *datadirs[64];
	size_t ndatadirs;
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
		case O_TAG: a->tag = optarg; break;
		case O_NODE: a->node = optarg; break;
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
	return 0;
}

/* Read the passphrase; one trailing newline is not part of it. */
static int read_pass(const struct args *a, char **pass, size_t *len)
{
	int ret;

	if (!a->passfile) {
		log_err("no passphrase: use --password-file FILE or set "
			"SSTVAULT_PASSWORD_FILE");
		return -EINVAL;
	}
	ret = util_read_file(a->passfile, 4096, pass, len);
	if (ret) {
		log_err("cannot read password file %s: %s", a->passfile,
			ret == -E2BIG ? "larger than 4 KiB" : strerror(-ret));
		return ret;
	}
	if (*len && (*pass)[*len - 1] == '\n')
		(*pass)[--*len] = '\0';
	if (*len && (*pass)[*len - 1] == '\r')
		(*pass)[--*len] = '\0';
	if (*len == 0) {
		log_err("password file %s is empty", a->passfile);
		free(*pass);
		*pass = NULL;
		return -EINVAL;
	}
	return 0;
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
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

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

static int cmd_backup(struct args *a)
{
	struct backup_opts bo = { 0 };
	struct backup_result res;
	struct repo *r = NULL;
	char b1[32], b2[32], b3[32];
	int ret;

	if (!a->ndatadirs) {
		log_err("backup: no --data-dir given");
		return -EINVAL;
	}
	ret = open_repo(a, &r);
	if (ret)
		return ret;
	bo.roots = a->datadirs;
	bo.nroots = a->ndatadirs;
	bo.tag = a->tag;
	bo.node = a->node;
	bo.cluster = a->cluster;
	bo.threads = a->threads;
	bo.no_uring = a->no_uring;
	bo.keep_cache = a->keep_cache;
	bo.progress = util_verbosity >= 0 && !a->json;
	ret = backup_run(r, &bo, &res);
	if (ret) {
		log_err("backup failed: %s; no snapshot was written (data "
			"already uploaded is reused by the next backup)",
			strerror(-ret));
		goto out;
	}
	util_fmt_bytes(b1, sizeof(b1), res.stats.bytes_read);
	util_fmt_bytes(b2, sizeof(b2), res.stats.bytes_new);
	util_fmt_bytes(b3, sizeof(b3), res.stats.bytes_stored);
	if (a->json) {
		print_json(json_pack(
			"{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			" s:f, s:I, s:s}",
			"command", "backup", "snapshot", res.id, "files",
			(json_int_t)res.stats.files, "bytes",
			(json_int_t)res.stats.bytes, "bytes_read",
			(json_int_t)res.stats.bytes_read, "bytes_new",
			(json_int_t)res.stats.bytes_new, "bytes_uploaded",
			(json_int_t)res.stats.bytes_stored, "chunks",
			(json_int_t)res.stats.chunks, "chunks_new",
			(json_int_t)res.stats.chunks_new, "packs",
			(json_int_t)res.packs, "seconds", res.secs,
			"warnings", (json_int_t)res.warnings, "io_mode",
			res.io_mode));
	} else {
		log_msg("snapshot %.8s saved: %llu files, %s read, %s new, %s "
			"uploaded in %llu packs, %.1f s (%.0f MB/s)", res.id,
			(unsigned long long)res.stats.files, b1, b2, b3,
			(unsigned long long)res.packs, res.secs,
			(double)res.stats.bytes_read / 1e6 /
				SV_MAX(res.secs, 1e-3));
		if (res.warnings)
			log_warn("%llu file(s) could not be backed up (see "
				 "above)", (unsigned long long)res.warnings);
	}
	if (res.warnings)
		ret = 1;
out:
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
	ret = snapshot_list(r, &v, &n, &dmg);
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

static int cmd_restore(struct args *a)
{
	struct restore_opts ro = { 0 };
	struct restore_result res;
	struct snapshot **v = NULL;
	struct repo *r = NULL;
	size_t n = 0;
	int ret, k;

	if (a->npos != 1) {
		log_err("restore: give exactly one snapshot id (or 'latest')");
		return -EINVAL;
	}
	if (!a->target) {
		log_err("restore: no --target given");
		return -EINVAL;
	}
	if (a->layout && strcmp(a->layout, "tree")) {
		log_err("restore: unknown --layout '%s' (this version has: "
			"tree)", a->layout);
		return -EINVAL;
	}
	ret = open_repo(a, &r);
	if (ret)
		return ret;
	ret = snapshot_list(r, &v, &n, NULL);
	if (ret)
		goto out;
	k = snapshot_find(v, n, a->positional[0]);
	if (k < 0) {
		log_err("restore: %s snapshot '%s'", k == -EINVAL ?
			"ambiguous" : "no such", a->positional[0]);
		ret = k == -EINVAL ? -EINVAL : -ENOENT;
		goto out;
	}
	ro.target = a->target;
	ro.force = a->force;
	ro.threads = a->threads;
	ro.no_uring = a->no_uring;
	ro.no_fsync = a->no_fsync;
	ro.progress = util_verbosity >= 0 && !a->json;
	ret = restore_run(r, v[k], &ro, &res);
	if (a->json) {
		print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f,"
				     " s:b}",
				     "command", "restore", "snapshot",
				     v[k]->id, "files", (json_int_t)res.files,
				     "bytes", (json_int_t)res.bytes, "failed",
				     (json_int_t)res.failed, "damaged",
				     (json_int_t)res.damaged, "dirs",
				     (json_int_t)res.dirs, "seconds", res.secs,
				     "ok", ret == 0));
	} else if (!ret) {
		char b[32];

		util_fmt_bytes(b, sizeof(b), res.bytes);
		log_msg("restored snapshot %.8s: %llu files, %s, verified, in "
			"%.1f s", v[k]->id, (unsigned long long)res.files, b,
			res.secs);
	} else if (res.failed) {
		log_err("restore incomplete: %llu file(s) not restored (%llu "
			"because repository data is damaged or missing)",
			(unsigned long long)res.failed,
			(unsigned long long)res.damaged);
	}
out:
	snapshot_list_free(v, n);
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
			" s:I, s:I, s:I, s:b}",
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
	struct args a = { 0 };
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
	default: ret = -EINVAL; break;
	}
	if (ret == 1)
		return EXIT_WARN;
	return exit_for(ret);
}
