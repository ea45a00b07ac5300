#!/bin/bash
# make bench: sstvault against restic and borg on one generated Cassandra
# data set, on this machine, in one run (a benchmark, never part of make
# test).
#
#   perf/bench.sh                     (after `make`; `make bench` does both)
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
# Each tool backs up the snapshot-tag directories (<ks>/<table>-<id>/
# snapshots/TAG/, secondary-index folders included) of every table: day 1
# tag snap1, then day 2 (after gen_dataset --day2) tag snap2, then restores
# the day-2 snapshot. Before every step the page cache is dropped (when
# /proc/sys/vm/drop_caches is writable), and every step's time includes a
# final sync(1), so that every tool is timed from a cold cache to data on
# disk whether or not it fsyncs by itself.
#
# Output: perf/out/bench-results.tsv (one row per tool and step),
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
NODE=bench
SEED=1

die() {
	echo "bench: $*" >&2
	exit 1
}

[ -x "$SV" ] || die "$SV not built (run make)"
[ -x "$GEN" ] || die "$GEN not built (run make)"

# ---- packages ---------------------------------------------------------

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
need_pkgs

# ---- scratch space and environment -----------------------------------

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

RES=$OUT/bench-results.tsv
printf 'tool\tstep\tdataset\tlogical_bytes\twall_s\ttool_s\tMBps\trepo_bytes\tpeak_rss_kib\tuser_s\tsys_s\tload1\tcache\tstatus\n' >"$RES"

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
	find "$@" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# Directories of one snapshot tag, one per table (secondary-index folders
# live inside them).
tag_dirs() {
	find "$1" -mindepth 4 -maxdepth 4 -type d -path "*/snapshots/$2" | sort
}

# run TOOL STEP DATASET LOGICAL REPO_DIR DIR_TO_RUN_IN -- COMMAND...
# Times COMMAND (under /usr/bin/time -v) plus a final sync, from a cold page
# cache, and appends one row to the results.
run() {
	local tool=$1 step=$2 ds=$3 logical=$4 repo=$5 cwd=$6
	shift 7
	local log=$OUT/log/$tool-$step.log tv=$OUT/log/$tool-$step.time
	local cache load t0 t1 t2 rc rss user sys wall tsec mbps rbytes status
	cache=$(drop_caches)
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "bench: $tool $step ($ds, $logical bytes, $cache cache, load $load)"
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
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$tool" "$step" "$ds" "$logical" "$wall" "$tsec" "$mbps" \
		"$rbytes" "${rss:-0}" "${user:-0}" "${sys:-0}" "$load" \
		"$cache" "$status" >>"$RES"
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
		awk '{ s += $1 } END { print s + 0 }')
	if [ "$got" != "$want" ]; then
		echo "bench: $tool restore holds $got bytes of Data.db, want $want" >&2
		sed -i "\$s/\tok\$/\tbad-restore/" "$RES"
		return 1
	fi
}

data_bytes() {
	# shellcheck disable=SC2046
	find $(tag_dirs "$1" "$2") -type f -name '*-Data.db' -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

# ---- the environment, recorded ---------------------------------------

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command: make bench (perf/bench.sh)"
	echo "env: BENCH_SIZE=$SIZE BENCH_RSS_SMALL=${SMALL:-0} BENCH_TOOLS=\"$TOOLS\""
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

# ---- day 1 ------------------------------------------------------------

DS=$WORK/node
echo "bench: generating $SIZE in $DS (day 1, snapshot snap1)"
"$GEN" --out "$DS" --size "$SIZE" --seed $SEED --snapshot snap1 \
	--incremental >"$OUT/log/gen-day1.log" 2>&1 || die "gen_dataset failed"
mapfile -t SNAP1 < <(tag_dirs "$DS/data" snap1)
[ "${#SNAP1[@]}" -gt 0 ] || die "no snapshots/snap1 directories in $DS/data"
L1=$(logical_bytes "${SNAP1[@]}")

SVR=$WORK/repo-sstvault RR=$WORK/repo-restic
BZ=$WORK/repo-borg-zstd BL=$WORK/repo-borg-lz4
fail=0
if have sstvault; then
	"$SV" init -q --repo "$SVR" >"$OUT/log/sstvault-init.log" 2>&1 ||
		die "sstvault init failed"
	run sstvault full "$SIZE" "$L1" "$SVR" "$ROOT" -- \
		"$SV" backup --repo "$SVR" --data-dir "$DS/data" \
		--snapshot snap1 --node $NODE --json || fail=1
fi
if have restic; then
	restic -r "$RR" init --repository-version 2 -q \
		>"$OUT/log/restic-init.log" 2>&1 || die "restic init failed"
	run restic full "$SIZE" "$L1" "$RR" "$ROOT" -- \
		restic -r "$RR" backup -q --compression auto --host $NODE \
		"${SNAP1[@]}" || fail=1
fi
if have borg-zstd; then
	borg init -e repokey "$BZ" >"$OUT/log/borg-zstd-init.log" 2>&1 ||
		die "borg init failed"
	run borg-zstd full "$SIZE" "$L1" "$BZ" "$ROOT" -- \
		borg create -C zstd,3 "$BZ::snap1" "${SNAP1[@]}" || fail=1
fi
if have borg-lz4; then
	borg init -e repokey "$BL" >"$OUT/log/borg-lz4-init.log" 2>&1 ||
		die "borg init failed"
	run borg-lz4 full "$SIZE" "$L1" "$BL" "$ROOT" -- \
		borg create -C lz4 "$BL::snap1" "${SNAP1[@]}" || fail=1
fi

# ---- day 2 ------------------------------------------------------------

echo "bench: evolving $DS to day 2 (compaction, flushes, snapshot snap2)"
"$GEN" --out "$DS" --size "$SIZE" --seed $SEED --day2 --incremental \
	>"$OUT/log/gen-day2.log" 2>&1 || die "gen_dataset --day2 failed"
mapfile -t SNAP2 < <(tag_dirs "$DS/data" snap2)
[ "${#SNAP2[@]}" -gt 0 ] || die "no snapshots/snap2 directories in $DS/data"
L2=$(logical_bytes "${SNAP2[@]}")
# Bytes of snap2 files that share no inode with a snap1 file: what is
# really new on day 2 (the rest are hard links of the same SSTables).
NEW2=$(awk 'FNR == 1 { n++ } n == 1 { seen[$1] = 1; next }
	!($1 in seen) { s += $2 } END { print s + 0 }' \
	<(find "${SNAP1[@]}" -type f -printf '%i %s\n') \
	<(find "${SNAP2[@]}" -type f -printf '%i %s\n'))
echo "day2_new_bytes_estimate: $NEW2" >>"$OUT/bench-env.txt"

if have sstvault; then
	run sstvault day2 "$SIZE" "$L2" "$SVR" "$ROOT" -- \
		"$SV" backup --repo "$SVR" --data-dir "$DS/data" \
		--snapshot snap2 --node $NODE --json || fail=1
fi
if have restic; then
	run restic day2 "$SIZE" "$L2" "$RR" "$ROOT" -- \
		restic -r "$RR" backup -q --compression auto --host $NODE \
		"${SNAP2[@]}" || fail=1
fi
if have borg-zstd; then
	run borg-zstd day2 "$SIZE" "$L2" "$BZ" "$ROOT" -- \
		borg create -C zstd,3 "$BZ::snap2" "${SNAP2[@]}" || fail=1
fi
if have borg-lz4; then
	run borg-lz4 day2 "$SIZE" "$L2" "$BL" "$ROOT" -- \
		borg create -C lz4 "$BL::snap2" "${SNAP2[@]}" || fail=1
fi

# ---- restore of the day-2 snapshot -----------------------------------

WANT=$(data_bytes "$DS/data" snap2)
T=$WORK/restore
if have sstvault; then
	rm -rf "$T" && mkdir -p "$T"
	run sstvault restore "$SIZE" "$L2" "$SVR" "$ROOT" -- \
		"$SV" restore latest --repo "$SVR" --target "$T" --json &&
		check_restore sstvault "$T" "$WANT" || fail=1
fi
if have restic; then
	rm -rf "$T" && mkdir -p "$T"
	run restic restore "$SIZE" "$L2" "$RR" "$ROOT" -- \
		restic -r "$RR" restore -q latest --target "$T" &&
		check_restore restic "$T" "$WANT" || fail=1
fi
if have borg-zstd; then
	rm -rf "$T" && mkdir -p "$T"
	run borg-zstd restore "$SIZE" "$L2" "$BZ" "$T" -- \
		borg extract "$BZ::snap2" &&
		check_restore borg-zstd "$T" "$WANT" || fail=1
fi
if have borg-lz4; then
	rm -rf "$T" && mkdir -p "$T"
	run borg-lz4 restore "$SIZE" "$L2" "$BL" "$T" -- \
		borg extract "$BL::snap2" &&
		check_restore borg-lz4 "$T" "$WANT" || fail=1
fi
rm -rf "$T"

# ---- sstvault peak RSS on a smaller data set -------------------------

if have sstvault && [ -n "$SMALL" ] && [ "$SMALL" != 0 ] &&
	[ "$SMALL" != "$SIZE" ]; then
	DSS=$WORK/node-small SVS=$WORK/repo-sstvault-small
	echo "bench: generating $SMALL in $DSS (peak RSS comparison)"
	"$GEN" --out "$DSS" --size "$SMALL" --seed $SEED --snapshot snap1 \
		--incremental >"$OUT/log/gen-small.log" 2>&1 ||
		die "gen_dataset failed"
	mapfile -t SNAPS < <(tag_dirs "$DSS/data" snap1)
	LS=$(logical_bytes "${SNAPS[@]}")
	rm -rf "$DS"   # free the space of the large set first
	"$SV" init -q --repo "$SVS" >>"$OUT/log/sstvault-init.log" 2>&1 ||
		die "sstvault init failed"
	run sstvault full "$SMALL" "$LS" "$SVS" "$ROOT" -- \
		"$SV" backup --repo "$SVS" --data-dir "$DSS/data" \
		--snapshot snap1 --node $NODE --json || fail=1
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/bench-env.txt"

# ---- report ------------------------------------------------------------

python3 - "$RES" "$OUT" "$SIZE" "$SMALL" "$DOC" <<'EOF' || fail=1
import os, sys

res, out, size, small, doc = sys.argv[1:6]
rows = []
with open(res) as f:
    hdr = f.readline().rstrip("\n").split("\t")
    for line in f:
        rows.append(dict(zip(hdr, line.rstrip("\n").split("\t"))))

def get(tool, step, ds=size):
    for r in rows:
        if r["tool"] == tool and r["step"] == step and r["dataset"] == ds:
            return r
    return None

def ok(r):
    return r is not None and r["status"] == "ok"

env = {}
with open(os.path.join(out, "bench-env.txt")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition(": ")
        env[k] = v

def mib(n):
    return "%.0f MiB" % (int(n) / 1048576.0)

def gb(n):
    return "%.2f GB" % (int(n) / 1e9)

tools = ["sstvault", "restic", "borg-zstd", "borg-lz4"]
label = {"sstvault": "sstvault (zstd -1)", "restic": "restic (--compression auto)",
         "borg-zstd": "borg (-C zstd,3)", "borg-lz4": "borg (-C lz4)"}
steps = [("full", "full backup (snap1)"), ("day2", "day-2 backup (snap2)"),
         ("restore", "restore of snap2")]

md = []
md.append("Generated by `perf/bench.sh` on %s. Do not edit between the markers." %
          env.get("date", "?"))
md.append("")
md.append("| | |")
md.append("|---|---|")
for k in ("command", "env", "sstvault", "restic", "borg", "gen_dataset",
          "cpu", "memory", "kernel", "filesystem", "page cache",
          "load before", "load after"):
    if k in env:
        md.append("| %s | `%s` |" % (k, env[k]) if k in ("command", "env", "gen_dataset")
                  else "| %s | %s |" % (k, env[k]))
md.append("")
md.append("### Results (%s data set)" % size)
md.append("")
md.append("MB/s is logical bytes of the step (the snapshot tag's files) / wall "
          "time; wall time runs from a cold page cache to data on disk (the "
          "tool, then `sync`). Ratios are sstvault's figure over the peer's "
          "on the same step: throughput (higher is better for sstvault) and "
          "repository size (lower is better).")
md.append("")
md.append("| tool | step | logical | wall s | (tool alone s) | MB/s | repository after | peak RSS | sstvault throughput ratio | sstvault repository ratio |")
md.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for st, sname in steps:
    sv = get("sstvault", st)
    for t in tools:
        r = get(t, st)
        if r is None:
            continue
        tr = rr = ""
        if t != "sstvault" and ok(sv) and ok(r):
            tr = "%.2fx" % (float(sv["MBps"]) / float(r["MBps"]))
            rr = "%.2fx" % (int(sv["repo_bytes"]) / int(r["repo_bytes"]))
        mbps = r["MBps"] if r["status"] == "ok" else "%s (%s)" % (r["MBps"], r["status"])
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label[t], sname, gb(r["logical_bytes"]), r["wall_s"], r["tool_s"],
            mbps, gb(r["repo_bytes"]), mib(int(r["peak_rss_kib"]) * 1024), tr, rr))
small_r = get("sstvault", "full", small) if small and small != "0" else None
if small_r:
    md.append("| %s | full backup, %s data set | %s | %s | %s | %s | %s | %s | | |" % (
        label["sstvault"], small, gb(small_r["logical_bytes"]), small_r["wall_s"],
        small_r["tool_s"], small_r["MBps"], gb(small_r["repo_bytes"]),
        mib(int(small_r["peak_rss_kib"]) * 1024)))
md.append("")
if "day2_new_bytes_estimate" in env:
    md.append("Day 2 adds %s of new SSTable files (files of snap2 that are "
              "not hard links of snap1 files); the rest of snap2 is the "
              "same files as snap1 under a new path." % gb(env["day2_new_bytes_estimate"]))
    md.append("")
md.append("![throughput per tool and step](perf-throughput.png)")
md.append("")

# Targets of issue 5.
targets = []
def tgt(name, want, got, met):
    targets.append((name, want, got, met))

sv_f, rs_f = get("sstvault", "full"), get("restic", "full")
sv_d, rs_d = get("sstvault", "day2"), get("restic", "day2")
sv_r, rs_r = get("sstvault", "restore"), get("restic", "restore")
if ok(sv_f) and ok(rs_f):
    x = float(sv_f["MBps"]) / float(rs_f["MBps"])
    tgt("full backup throughput vs restic", ">= 4x", "%.2fx" % x, x >= 4)
    x = int(sv_f["repo_bytes"]) / int(rs_f["repo_bytes"])
    tgt("full backup repository size vs restic", "<= 1.1x", "%.3fx" % x, x <= 1.1)
if ok(sv_d) and ok(rs_d):
    x = float(rs_d["wall_s"]) / float(sv_d["wall_s"])
    tgt("day-2 backup speed vs restic (restic time / sstvault time)", ">= 10x",
        "%.1fx" % x, x >= 10)
if ok(sv_r) and ok(rs_r):
    x = float(sv_r["MBps"]) / float(rs_r["MBps"])
    tgt("restore throughput vs restic", ">= 4x", "%.2fx" % x, x >= 4)
svs = [r for r in rows if r["tool"] == "sstvault" and r["status"] == "ok"]
if svs:
    worst = max(svs, key=lambda r: int(r["peak_rss_kib"]))
    tgt("sstvault peak RSS, every step", "<= 256 MiB",
        "%s (%s, %s)" % (mib(int(worst["peak_rss_kib"]) * 1024), worst["step"],
                         worst["dataset"]),
        int(worst["peak_rss_kib"]) <= 256 * 1024)
if ok(sv_f) and small_r and ok(small_r):
    a, b = int(small_r["peak_rss_kib"]), int(sv_f["peak_rss_kib"])
    x = abs(b - a) / float(a)
    tgt("peak RSS of full backup, %s vs %s data set" % (small, size), "within 10%",
        "%s vs %s (%+.1f%%)" % (mib(a * 1024), mib(b * 1024), 100.0 * (b - a) / a),
        x <= 0.10)

md.append("### Targets (issue 5)")
md.append("")
md.append("| target | wanted | measured | met |")
md.append("|---|---|---|---|")
for name, want, got, met in targets:
    md.append("| %s | %s | %s | %s |" % (name, want, got, "yes" if met else "**no**"))
md.append("")

with open(os.path.join(out, "bench-targets.tsv"), "w") as f:
    f.write("target\twanted\tmeasured\tmet\n")
    for name, want, got, met in targets:
        f.write("%s\t%s\t%s\t%s\n" % (name, want, got, "yes" if met else "no"))

# Chart data: MB/s per step (rows) and tool (columns).
with open(os.path.join(out, "bench-chart.dat"), "w") as f:
    f.write("step " + " ".join('"%s"' % label[t] for t in tools) + "\n")
    for st, sname in steps:
        vals = []
        for t in tools:
            r = get(t, st)
            vals.append(r["MBps"] if ok(r) else "-")
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
        text = text.rstrip("\n") + "\n\n" + begin + "\n" + gen + "\n" + end + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print("bench: wrote %s" % doc)
for name, want, got, met in targets:
    print("bench: target %-60s %-10s %-28s %s" % (name, want, got, "met" if met else "MISSED"))
EOF

# ---- chart -------------------------------------------------------------

if [ -n "$DOC" ] && [ "$DOC" != "-" ] && [ -s "$OUT/bench-chart.dat" ]; then
	PNG=$(dirname "$DOC")/perf-throughput.png
	gnuplot <<EOF || fail=1
set terminal pngcairo size 900,520 font "sans,10"
set output "$PNG"
set title "Throughput on the $SIZE data set (MB/s of logical data, cold cache, log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set yrange [1:*]
set ylabel "MB/s"
set grid ytics
set key top left
set datafile missing "-"
plot for [i=2:5] "$OUT/bench-chart.dat" using i:xtic(1) title columnheader(i)
EOF
	echo "bench: wrote $PNG"
fi
cp "$RES" "$OUT/bench-results-$(date -u +%Y%m%dT%H%M%SZ).tsv" 2>/dev/null
exit $fail
