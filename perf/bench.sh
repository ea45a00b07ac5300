#!/bin/bash
# make bench: sstvault against restic and borg on one generated Cassandra
# data set, on this machine, in one run (a benchmark, never part of make
# test).
#
#   perf/bench.sh                     (after `make`; `make bench` does both)
#   perf/bench.sh --report-only       only regenerate the document, the
#                                     targets and the chart from
#                                     perf/out/bench-results.tsv
#
# Environment:
#   BENCH_SIZE=4G        size of the data set (gen_dataset --size); 256M for
#                        a quick try
#   BENCH_RSS_SMALL=1G   also back up a data set of this size with sstvault
#                        alone, to compare peak RSS (empty or 0: skip)
#   BENCH_DIR=DIR        scratch directory for data, repositories and
#                        restores (default perf/out/work; needs ~9x
#                        BENCH_SIZE free); repositories are local
#                        directories on the same file system as the data
#   BENCH_KEEP=1         keep BENCH_DIR afterwards (default: delete it)
#   BENCH_DOC=FILE       document to update (default docs/PERFORMANCE.md;
#                        "" or "-" leaves every document alone)
#   BENCH_TOOLS="sstvault restic borg-zstd borg-lz4"   which tools to run
#   SSTVAULT=PATH        binary to measure (default ./sstvault)
#   SV_BUILD=DIR         build directory holding perf/gen_dataset (default
#                        build)
#
#   BENCH_REPEAT=3       runs of every tool and step; the report shows the
#                        median (1 for a quick try)
#
# Each tool backs up the snapshot-tag directories (<ks>/<table>-<id>/
# snapshots/TAG/, secondary-index folders included) of every table: tag
# snap1 into a fresh repository, then tag snap2 (gen_dataset --day2), then
# restores snap2. Before every step the page cache is dropped (when
# /proc/sys/vm/drop_caches is writable), and every step's time includes a
# final sync(1), so that every tool is timed from a cold cache to data on
# disk whether or not it fsyncs by itself. Repetitions rotate the order of
# the tools.
#
# Output: perf/out/bench-results.tsv (one row per tool, step and run),
# perf/out/bench-targets.tsv (the issue's targets, met or not),
# perf/out/bench-env.txt, per-step logs in perf/out/log/, the chart
# docs/perf-throughput.png, and the generated part of docs/PERFORMANCE.md
# (between <!-- bench:begin --> and <!-- bench:end -->; the rest of the
# document is left as it is).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${BENCH_SIZE:-4G}
SMALL=${BENCH_RSS_SMALL-1G}
OUT=$ROOT/perf/out
WORK=${BENCH_DIR:-$OUT/work}
SV=${SSTVAULT:-$ROOT/sstvault}
GEN=${SV_BUILD:-$ROOT/build}/perf/gen_dataset
DOC=${BENCH_DOC-docs/PERFORMANCE.md}
TOOLS=${BENCH_TOOLS:-sstvault restic borg-zstd borg-lz4}
REPEAT=${BENCH_REPEAT:-3}
NODE=bench
SEED=1

die() {
	echo "bench: $*" >&2
	exit 1
}

REPORT_ONLY=0
case "${1:-}" in
--report-only) REPORT_ONLY=1 ;;
"") ;;
*) die "usage: perf/bench.sh [--report-only]" ;;
esac
RES=$OUT/bench-results.tsv

need_pkgs() {
	local missing="" p
	for p in restic borgbackup gnuplot-nox time python3; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing packages:$missing (as root: apt-get install -y$missing)"
	fi
	echo "bench: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq || true
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		die "apt-get install$missing failed"
}

have() {
	case " $TOOLS " in *" $1 "*) return 0 ;; esac
	return 1
}

# Drop the page cache; prints "cold" when it worked, "warm" otherwise.
drop_caches() {
	sync
	if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		echo cold
	else
		echo warm
	fi
}

# Sum of the sizes of the regular files under the given directories.
logical_bytes() {
	find "$@" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# Directories of one snapshot tag, one per table (secondary-index folders
# live inside them).
tag_dirs() {
	find "$1" -mindepth 4 -maxdepth 4 -type d -path "*/snapshots/$2" | sort
}

# run TOOL STEP DATASET REP LOGICAL REPO_DIR DIR_TO_RUN_IN -- COMMAND...
# Times COMMAND (under /usr/bin/time -v) plus a final sync, from a cold page
# cache, and appends one row to the results.
run() {
	local tool=$1 step=$2 ds=$3 rep=$4 logical=$5 repo=$6 cwd=$7
	shift 8
	local log=$OUT/log/$tool-$step-$ds-$rep.log
	local tv=$OUT/log/$tool-$step-$ds-$rep.time
	local cache load t0 t1 t2 rc rss user sys wall tsec mbps rbytes status
	cache=$(drop_caches)
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "bench: [$rep/$REPEAT] $tool $step ($ds, $logical bytes, $cache cache, load $load)"
	echo "+ $*" >"$log"
	t0=$(date +%s%N)
	(cd "$cwd" && /usr/bin/time -v -o "$tv" "$@") >>"$log" 2>&1
	rc=$?
	t1=$(date +%s%N)
	sync
	t2=$(date +%s%N)
	rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tv")
	user=$(awk -F': ' '/User time/ { print $2 }' "$tv")
	sys=$(awk -F': ' '/System time/ { print $2 }' "$tv")
	wall=$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	tsec=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	mbps=$(awk -v n="$logical" -v s="$wall" 'BEGIN { printf "%.1f", n / 1e6 / s }')
	rbytes=$(du -sb "$repo" | cut -f1)
	status=ok
	[ "$rc" = 0 ] || status="exit$rc"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$tool" "$step" "$ds" "$rep" "$logical" "$wall" "$tsec" \
		"$mbps" "$rbytes" "${rss:-0}" "${user:-0}" "${sys:-0}" \
		"$load" "$cache" "$status" >>"$RES"
	echo "bench:   ${wall}s (${tsec}s + sync), ${mbps} MB/s, repository $rbytes bytes, peak RSS ${rss:-?} KiB, $status"
	if [ "$rc" != 0 ]; then
		echo "bench: $tool $step failed (exit $rc); last lines of $log:" >&2
		tail -5 "$log" >&2
	fi
	return "$rc"
}

# The restored Data.db bytes must equal the source's: a cheap check that a
# restore really put the data back (each tool verifies content itself).
check_restore() {
	local tool=$1 dir=$2 want=$3 got
	got=$(find "$dir" -type f -name '*-Data.db' -printf '%s\n' |
		awk '{ s += $1 } END { printf "%.0f\n", s }')
	if [ "$got" != "$want" ]; then
		echo "bench: $tool restore holds $got bytes of Data.db, want $want" >&2
		sed -i "\$s/\tok\$/\tbad-restore/" "$RES"
		return 1
	fi
}

data_bytes() {
	# shellcheck disable=SC2046
	find $(tag_dirs "$1" "$2") -type f -name '*-Data.db' -printf '%s\n' |
		awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# bench_tool TOOL REP: a fresh repository, the full backup of snap1, the
# day-2 backup of snap2 and the restore of snap2, timed; then the
# repository and the restore are deleted (unless BENCH_KEEP=1).
bench_tool() {
	local tool=$1 rep=$2 repo=$WORK/repo-$1 t=$WORK/restore comp
	rm -rf "$repo" "$t"
	mkdir -p "$t"
	case $tool in
	sstvault)
		"$SV" init -q --repo "$repo" >>"$OUT/log/init.log" 2>&1 ||
			die "sstvault init failed"
		run sstvault full "$SIZE" "$rep" "$L1" "$repo" "$ROOT" -- \
			"$SV" backup --repo "$repo" --data-dir "$DS/data" \
			--snapshot snap1 --node $NODE --json || return 1
		run sstvault day2 "$SIZE" "$rep" "$L2" "$repo" "$ROOT" -- \
			"$SV" backup --repo "$repo" --data-dir "$DS/data" \
			--snapshot snap2 --node $NODE --json || return 1
		run sstvault restore "$SIZE" "$rep" "$L2" "$repo" "$ROOT" -- \
			"$SV" restore latest --repo "$repo" --target "$t" \
			--json || return 1
		;;
	restic)
		restic -r "$repo" init --repository-version 2 -q \
			>>"$OUT/log/init.log" 2>&1 || die "restic init failed"
		run restic full "$SIZE" "$rep" "$L1" "$repo" "$ROOT" -- \
			restic -r "$repo" backup -q --compression auto \
			--host $NODE "${SNAP1[@]}" || return 1
		run restic day2 "$SIZE" "$rep" "$L2" "$repo" "$ROOT" -- \
			restic -r "$repo" backup -q --compression auto \
			--host $NODE "${SNAP2[@]}" || return 1
		run restic restore "$SIZE" "$rep" "$L2" "$repo" "$ROOT" -- \
			restic -r "$repo" restore -q latest --target "$t" ||
			return 1
		;;
	borg-zstd | borg-lz4)
		comp=lz4
		[ "$tool" = borg-zstd ] && comp=zstd,3
		borg init -e repokey "$repo" >>"$OUT/log/init.log" 2>&1 ||
			die "borg init failed"
		run "$tool" full "$SIZE" "$rep" "$L1" "$repo" "$ROOT" -- \
			borg create -C "$comp" "$repo::snap1" "${SNAP1[@]}" ||
			return 1
		run "$tool" day2 "$SIZE" "$rep" "$L2" "$repo" "$ROOT" -- \
			borg create -C "$comp" "$repo::snap2" "${SNAP2[@]}" ||
			return 1
		run "$tool" restore "$SIZE" "$rep" "$L2" "$repo" "$t" -- \
			borg extract "$repo::snap2" || return 1
		;;
	*)
		die "unknown tool $tool (BENCH_TOOLS)"
		;;
	esac
	check_restore "$tool" "$t" "$WANT" || return 1
	[ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$repo"
	rm -rf "$t"
}

# The measurements: every tool, every step.
measure() {
	[ -x "$SV" ] || die "$SV not built (run make)"
	[ -x "$GEN" ] || die "$GEN not built (run make)"

	# ---- packages ------------------------------------------------

	need_pkgs

	# ---- scratch space and environment ---------------------------

	rm -rf "$WORK" "$OUT/log"
	mkdir -p "$WORK" "$OUT/log" || die "cannot create $WORK"
	[ "${BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
	PW=$WORK/passphrase
	head -c 24 /dev/urandom | base64 >"$PW"
	chmod 600 "$PW"
	export SSTVAULT_PASSWORD_FILE=$PW
	export RESTIC_PASSWORD_FILE=$PW RESTIC_CACHE_DIR=$WORK/restic-cache
	export BORG_PASSPHRASE
	BORG_PASSPHRASE=$(cat "$PW")
	export BORG_BASE_DIR=$WORK/borg-home BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
	export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
	unset RESTIC_REPOSITORY BORG_REPO SSTVAULT_REPO

	printf 'tool\tstep\tdataset\trep\tlogical_bytes\twall_s\ttool_s\tMBps\trepo_bytes\tpeak_rss_kib\tuser_s\tsys_s\tload1\tcache\tstatus\n' >"$RES"

	# ---- the environment, recorded -------------------------------

	{
		echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo "command: make bench (perf/bench.sh)"
		echo "env: BENCH_SIZE=$SIZE BENCH_RSS_SMALL=${SMALL:-0} BENCH_REPEAT=$REPEAT BENCH_TOOLS=\"$TOOLS\""
		echo "sstvault: $("$SV" version 2>&1 | head -1), $SV, source $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ' with uncommitted changes')"
		echo "restic: $(restic version 2>&1 | head -1)"
		echo "borg: $(borg --version 2>&1 | head -1)"
		echo "gen_dataset: $GEN --size $SIZE --seed $SEED"
		echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores online"
		echo "memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
		echo "kernel: $(uname -sr)"
		echo "filesystem: $(findmnt -no FSTYPE,SOURCE -T "$WORK" | head -1) (data, repositories and restores)"
		echo "page cache: $(if [ -w /proc/sys/vm/drop_caches ]; then echo 'dropped before every step'; else echo 'not dropped (/proc/sys/vm/drop_caches not writable): steps read from a warm cache'; fi)"
		echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$OUT/bench-env.txt"
	cat "$OUT/bench-env.txt"

	# ---- the data set: day 1, then day 2 ------------------------

	# Both days are generated before any backup: day 2 only adds files
	# and removes live links (compaction), it never changes a file of
	# snap1 (checked below), so snap1 is the same whether it is backed
	# up before or after day 2, and every repetition sees the same data.
	DS=$WORK/node
	echo "bench: generating $SIZE in $DS (day 1, snapshot snap1)"
	"$GEN" --out "$DS" --size "$SIZE" --seed $SEED --snapshot snap1 \
		--incremental >"$OUT/log/gen-day1.log" 2>&1 ||
		die "gen_dataset failed"
	mapfile -t SNAP1 < <(tag_dirs "$DS/data" snap1)
	[ "${#SNAP1[@]}" -gt 0 ] ||
		die "no snapshots/snap1 directories in $DS/data"
	L1=$(logical_bytes "${SNAP1[@]}")
	SIG1=$(find "${SNAP1[@]}" -type f -printf '%p %i %s %T@\n' | sort |
		md5sum)
	echo "bench: evolving $DS to day 2 (compaction, flushes, snapshot snap2)"
	"$GEN" --out "$DS" --size "$SIZE" --seed $SEED --day2 --incremental \
		>"$OUT/log/gen-day2.log" 2>&1 || die "gen_dataset --day2 failed"
	[ "$SIG1" = "$(find "${SNAP1[@]}" -type f -printf '%p %i %s %T@\n' |
		sort | md5sum)" ] ||
		die "day 2 changed files of snap1: the backups of snap1 would not see day 1"
	mapfile -t SNAP2 < <(tag_dirs "$DS/data" snap2)
	[ "${#SNAP2[@]}" -gt 0 ] ||
		die "no snapshots/snap2 directories in $DS/data"
	L2=$(logical_bytes "${SNAP2[@]}")
	# Bytes of snap2 files that share no inode with a snap1 file: what is
	# really new on day 2 (the rest are hard links of the same SSTables).
	NEW2=$(awk 'FNR == 1 { n++ } n == 1 { seen[$1] = 1; next }
		!($1 in seen) { s += $2 } END { printf "%.0f\n", s }' \
		<(find "${SNAP1[@]}" -type f -printf '%i %s\n') \
		<(find "${SNAP2[@]}" -type f -printf '%i %s\n'))
	echo "day2_new_bytes_estimate: $NEW2" >>"$OUT/bench-env.txt"
	WANT=$(data_bytes "$DS/data" snap2)

	# ---- every tool: full backup, day-2 backup, restore ----------

	# Repetitions rotate the order of the tools, so that a burst of
	# other work on the machine does not always hit the same tool.
	fail=0
	read -r -a tools <<<"$TOOLS"
	for ((rep = 1; rep <= REPEAT; rep++)); do
		for ((k = 0; k < ${#tools[@]}; k++)); do
			tool=${tools[(k + rep - 1) % ${#tools[@]}]}
			bench_tool "$tool" "$rep" || fail=1
		done
	done

	# ---- sstvault peak RSS on a smaller data set -----------------

	if have sstvault && [ -n "$SMALL" ] && [ "$SMALL" != 0 ] &&
		[ "$SMALL" != "$SIZE" ]; then
		DSS=$WORK/node-small
		echo "bench: generating $SMALL in $DSS (peak RSS comparison)"
		rm -rf "$DS"   # free the space of the large set first
		"$GEN" --out "$DSS" --size "$SMALL" --seed $SEED \
			--snapshot snap1 --incremental \
			>"$OUT/log/gen-small.log" 2>&1 || die "gen_dataset failed"
		mapfile -t SNAPS < <(tag_dirs "$DSS/data" snap1)
		LS=$(logical_bytes "${SNAPS[@]}")
		for ((rep = 1; rep <= REPEAT; rep++)); do
			R=$WORK/repo-sstvault-small
			rm -rf "$R"
			"$SV" init -q --repo "$R" >>"$OUT/log/init.log" 2>&1 ||
				die "sstvault init failed"
			run sstvault full "$SMALL" "$rep" "$LS" "$R" "$ROOT" -- \
				"$SV" backup --repo "$R" --data-dir "$DSS/data" \
				--snapshot snap1 --node $NODE --json || fail=1
			rm -rf "$R"
		done
	fi
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/bench-env.txt"
}

if [ "$REPORT_ONLY" = 1 ]; then
	[ -s "$RES" ] && [ -s "$OUT/bench-env.txt" ] ||
		die "no results in $OUT to report (run perf/bench.sh first)"
	SIZE=$(sed -n 's/^env: BENCH_SIZE=\([^ ]*\).*/\1/p' "$OUT/bench-env.txt")
	fail=0
else
	measure
fi

# ---- report ----------------------------------------------------------

python3 - "$RES" "$OUT" "$DOC" <<'EOF' || fail=1
import os
import statistics
import sys

res, out, doc = sys.argv[1:4]
rows = []
with open(res) as f:
    hdr = f.readline().rstrip("\n").split("\t")
    for line in f:
        r = dict(zip(hdr, line.rstrip("\n").split("\t")))
        r.setdefault("rep", "1")
        rows.append(r)

env = {}
with open(os.path.join(out, "bench-env.txt")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition(": ")
        env[k] = v
# The data set sizes of the run, from its recorded environment.
size, small = "4G", ""
for word in env.get("env", "").split():
    k, _, v = word.partition("=")
    if k == "BENCH_SIZE":
        size = v
    elif k == "BENCH_RSS_SMALL":
        small = v if v != "0" else ""


def num(x):
    # Integers; older runs wrote large sums as "4.29512e+09".
    return int(float(x))


def mib(n):
    return "%.0f MiB" % (num(n) / 1048576.0)


def gb(n):
    return "%.2f GB" % (num(n) / 1e9)


def agg(tool, step, ds=None):
    """Median over the repetitions of one tool and step (None if it never
    ran); a failed repetition makes the whole entry failed."""
    ds = ds or size
    rs = [r for r in rows
          if r["tool"] == tool and r["step"] == step and r["dataset"] == ds]
    if not rs:
        return None
    bad = [r["status"] for r in rs if r["status"] != "ok"]
    logical = num(rs[0]["logical_bytes"])
    walls = [float(r["wall_s"]) for r in rs if r["status"] == "ok"]
    a = {"runs": len(rs), "ok": not bad, "status": ",".join(bad) or "ok",
         "logical": logical}
    if walls:
        a["wall"] = statistics.median(walls)
        a["tool_s"] = statistics.median(
            [float(r["tool_s"]) for r in rs if r["status"] == "ok"])
        a["mbps"] = logical / 1e6 / a["wall"]
        a["mbps_min"] = logical / 1e6 / max(walls)
        a["mbps_max"] = logical / 1e6 / min(walls)
        a["repo"] = statistics.median(
            [num(r["repo_bytes"]) for r in rs if r["status"] == "ok"])
        a["rss"] = max(num(r["peak_rss_kib"]) for r in rs)
        a["load"] = "-".join(sorted({r["load1"] for r in rs},
                                    key=float)[::max(1, len(rs) - 1)])
    else:
        a["ok"] = False
    return a


tools = ["sstvault", "restic", "borg-zstd", "borg-lz4"]
label = {"sstvault": "sstvault (zstd 1)",
         "restic": "restic (--compression auto)",
         "borg-zstd": "borg (-C zstd,3)", "borg-lz4": "borg (-C lz4)"}
steps = [("full", "full backup (snap1)"), ("day2", "day-2 backup (snap2)"),
         ("restore", "restore of snap2")]
reps = max([num(r["rep"]) for r in rows] or [1])

md = []
md.append("Generated by `perf/bench.sh` on %s. Do not edit between the "
          "markers." % env.get("date", "?"))
md.append("")
md.append("| | |")
md.append("|---|---|")
for k in ("command", "env", "sstvault", "restic", "borg", "gen_dataset",
          "cpu", "memory", "kernel", "filesystem", "page cache",
          "load before", "load after"):
    if k in env:
        code = k in ("command", "env", "gen_dataset")
        md.append("| %s | %s |" % (k, "`%s`" % env[k] if code else env[k]))
md.append("")
md.append("### Results (%s data set, median of %d run%s)" % (
    size, reps, "" if reps == 1 else "s"))
md.append("")
md.append("MB/s is the step's logical bytes (the snapshot tag's files) / "
          "wall time, where wall time runs from a cold page cache to data "
          "on disk (the tool, then `sync`); the figure is the median over "
          "the runs, and the range is the slowest and fastest run. "
          "Ratios are sstvault's figure over the peer's on the same step: "
          "throughput (higher is better for sstvault) and repository size "
          "(lower is better). Peak RSS is the largest of the runs.")
md.append("")
md.append("| tool | step | logical | wall s | tool alone s | MB/s | range MB/s "
          "| repository after | peak RSS | load | sstvault throughput ratio "
          "| sstvault repository ratio |")
md.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def line(t, sname, a, sv, ds_note=""):
    if a is None:
        return
    if not a["ok"] and "wall" not in a:
        md.append("| %s | %s%s | %s | failed (%s) | | | | | | | | |" % (
            label[t], sname, ds_note, gb(a["logical"]), a["status"]))
        return
    tr = rr = ""
    if t != "sstvault" and sv and sv["ok"] and a["ok"]:
        tr = "%.2fx" % (sv["mbps"] / a["mbps"])
        rr = "%.2fx" % (sv["repo"] / a["repo"])
    mbps = "%.1f" % a["mbps"]
    if not a["ok"]:
        mbps += " (%s)" % a["status"]
    md.append("| %s | %s%s | %s | %.2f | %.2f | %s | %.0f-%.0f | %s | %s | "
              "%s | %s | %s |" % (
                  label[t], sname, ds_note, gb(a["logical"]), a["wall"],
                  a["tool_s"], mbps, a["mbps_min"], a["mbps_max"],
                  gb(a["repo"]), mib(a["rss"] * 1024), a["load"], tr, rr))


for st, sname in steps:
    sv = agg("sstvault", st)
    for t in tools:
        line(t, sname, agg(t, st), sv)
small_a = agg("sstvault", "full", small) if small else None
if small_a:
    line("sstvault", "full backup", small_a, None,
         ", %s data set" % small)
md.append("")
if "day2_new_bytes_estimate" in env:
    md.append("Day 2 adds %s of new SSTable files (files of snap2 that "
              "share no inode with a file of snap1); the rest of snap2 is "
              "the same files as snap1 under new paths."
              % gb(env["day2_new_bytes_estimate"]))
    md.append("")
md.append("![throughput per tool and step](perf-throughput.png)")
md.append("")

targets = []


def tgt(name, want, got, met):
    targets.append((name, want, got, met))


sv_f, rs_f = agg("sstvault", "full"), agg("restic", "full")
sv_d, rs_d = agg("sstvault", "day2"), agg("restic", "day2")
sv_r, rs_r = agg("sstvault", "restore"), agg("restic", "restore")


def ok(a):
    return a is not None and a["ok"]


if ok(sv_f) and ok(rs_f):
    x = sv_f["mbps"] / rs_f["mbps"]
    tgt("full backup throughput vs restic", ">= 4x", "%.2fx" % x, x >= 4)
    x = sv_f["repo"] / rs_f["repo"]
    tgt("full backup repository size vs restic", "<= 1.1x", "%.3fx" % x,
        x <= 1.1)
if ok(sv_d) and ok(rs_d):
    x = rs_d["wall"] / sv_d["wall"]
    tgt("day-2 backup speed vs restic (restic time / sstvault time)",
        ">= 10x", "%.1fx" % x, x >= 10)
if ok(sv_r) and ok(rs_r):
    x = sv_r["mbps"] / rs_r["mbps"]
    tgt("restore throughput vs restic", ">= 4x", "%.2fx" % x, x >= 4)
svs = [r for r in rows if r["tool"] == "sstvault" and r["status"] == "ok"]
if svs:
    worst = max(svs, key=lambda r: num(r["peak_rss_kib"]))
    tgt("sstvault peak RSS, every step and run", "<= 256 MiB",
        "%s (%s, %s data set)" % (mib(num(worst["peak_rss_kib"]) * 1024),
                                  worst["step"], worst["dataset"]),
        num(worst["peak_rss_kib"]) <= 256 * 1024)
if ok(sv_f) and ok(small_a):
    a, b = small_a["rss"], sv_f["rss"]
    x = abs(b - a) / float(a)
    tgt("peak RSS of the full backup, %s vs %s data set" % (small, size),
        "within 10%", "%s vs %s (%+.1f%%)" % (
            mib(a * 1024), mib(b * 1024), 100.0 * (b - a) / a), x <= 0.10)

md.append("### Targets (issue 5)")
md.append("")
md.append("| target | wanted | measured (medians) | met |")
md.append("|---|---|---|---|")
for name, want, got, met in targets:
    md.append("| %s | %s | %s | %s |" % (name, want, got,
                                          "yes" if met else "**no**"))
md.append("")

with open(os.path.join(out, "bench-targets.tsv"), "w") as f:
    f.write("target\twanted\tmeasured\tmet\n")
    for name, want, got, met in targets:
        f.write("%s\t%s\t%s\t%s\n" % (name, want, got,
                                      "yes" if met else "no"))

# Chart data: median MB/s per step (rows) and tool (columns).
with open(os.path.join(out, "bench-chart.dat"), "w") as f:
    f.write("step " + " ".join('"%s"' % label[t] for t in tools) + "\n")
    for st, sname in steps:
        vals = []
        for t in tools:
            a = agg(t, st)
            vals.append("%.1f" % a["mbps"] if ok(a) else "-")
        f.write('"%s" %s\n' % (sname, " ".join(vals)))

gen = "\n".join(md)
with open(os.path.join(out, "bench-report.md"), "w") as f:
    f.write(gen + "\n")

if doc and doc != "-":
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    try:
        with open(doc) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Performance\n\n%s\n%s\n" % (begin, end)
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + begin + "\n" + gen + "\n" + end + tail
    else:
        text = (text.rstrip("\n") + "\n\n" + begin + "\n" + gen + "\n" +
                end + "\n")
    with open(doc, "w") as f:
        f.write(text)
    print("bench: wrote %s" % doc)
for name, want, got, met in targets:
    print("bench: target %-60s %-10s %-30s %s" % (
        name, want, got, "met" if met else "MISSED"))
EOF

# ---- chart -----------------------------------------------------------

if [ -n "$DOC" ] && [ "$DOC" != "-" ] && [ -s "$OUT/bench-chart.dat" ]; then
	PNG=$(dirname "$DOC")/perf-throughput.png
	gnuplot <<EOF || fail=1
set terminal pngcairo size 900,520 font "sans,10"
set output "$PNG"
set title "Throughput, $SIZE data set: median MB/s of logical data, cold cache (log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [*:*]
set ylabel "MB/s"
set grid ytics
set key below
set datafile missing "-"
plot for [i=2:5] "$OUT/bench-chart.dat" using i:xtic(1) title columnheader(i)
EOF
	echo "bench: wrote $PNG"
fi
[ "$REPORT_ONLY" = 1 ] ||
	cp "$RES" "$OUT/bench-results-$(date -u +%Y%m%dT%H%M%SZ).tsv" 2>/dev/null
exit $fail
