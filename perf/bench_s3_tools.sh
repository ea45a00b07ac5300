#!/bin/bash
# Tool-level S3 benchmark (never part of `make test`): sstvault, awscli v2
# (`aws s3 cp --recursive`) and restic back up the same generated Cassandra
# snapshot into the same RADOS Gateway, then bring it back down.
#
#   perf/bench_s3_tools.sh            (after `make`; perf/bench_s3.sh calls it)
#
# Environment:
#   SV_BUILD              build directory (default ./build); needs sstvault
#                         (SV_BIN, default SV_BUILD/sstvault, else ./sstvault)
#                         and SV_BUILD/perf/gen_dataset
#   BENCH_S3_DATASET      data set size for gen_dataset (default 1G)
#   BENCH_S3_DATASET_DIR  reuse this gen_dataset output instead of generating
#                         one (must hold DIR/data with snapshot snap1)
#   BENCH_S3_CONNS        sstvault --s3-connections (default 8)
#   BENCH_S3_OUT          results directory (default perf/out)
#   SV_S3_ENDPOINT        use this gateway; otherwise tests/lib_rgw.sh starts
#                         one (SV_RGW_STORE_BYTES sizes its RAM-backed store)
#
# Steps per tool: upload the */snapshots/snap1 directories, list what the
# bucket holds under the tool's prefix, download everything into a fresh
# directory, check the byte and file counts, delete the tool's objects (the
# memstore OSD keeps them in RAM) and the download. Each step's time ends
# with a sync, so writes that a tool leaves in the page cache are counted.
# The page cache is dropped before each step when /proc/sys/vm/drop_caches
# is writable. Results: BENCH_S3_OUT/s3-bench.tsv, logs in
# BENCH_S3_OUT/log/s3-*.log.
set -u
cd "$(dirname "$0")/.."
. tests/lib_rgw.sh

BUILD=${SV_BUILD:-$PWD/build}
SV=${SV_BIN:-$BUILD/sstvault}
[ -x "$SV" ] || SV=$PWD/sstvault
GEN=$BUILD/perf/gen_dataset
SIZE=${BENCH_S3_DATASET:-1G}
CONNS=${BENCH_S3_CONNS:-8}
OUT=${BENCH_S3_OUT:-$PWD/perf/out}
RES=$OUT/s3-bench.tsv

die() {
	echo "bench_s3_tools: $*" >&2
	exit 1
}

[ -x "$SV" ] || die "sstvault not built ($SV; run make)"
[ -x /usr/bin/aws ] || die "/usr/bin/aws missing (tests/rgw.sh install)"
if ! command -v restic >/dev/null; then
	[ "$(id -u)" = 0 ] || die "restic missing (apt-get install restic)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic \
		>/dev/null 2>&1 || die "cannot install restic"
fi

WORK=$(mktemp -d /tmp/sv-s3bench.XXXXXX) || die "cannot create a work dir"
cleanup() {
	rm -rf "$WORK"
	rgw_down
}
trap cleanup EXIT
mkdir -p "$OUT/log" || die "cannot create $OUT/log"

if [ -n "${BENCH_S3_DATASET_DIR:-}" ]; then
	DS=$BENCH_S3_DATASET_DIR
else
	[ -x "$GEN" ] || die "$GEN not built (run make)"
	DS=$WORK/ds
	echo "bench_s3_tools: generating $SIZE data set (seed 3)"
	"$GEN" --out "$DS" --size "$SIZE" --seed 3 --snapshot snap1 \
		>"$OUT/log/s3-gen.log" 2>&1 || die "gen_dataset failed"
fi
DATA=$DS/data
# The snapshot directories, relative to DATA (ks/table-id/snapshots/snap1).
mapfile -t SNAPS < <(cd "$DATA" && find . -mindepth 4 -maxdepth 4 -type d \
	-path '*/snapshots/snap1' | sed 's|^\./||' | sort)
[ "${#SNAPS[@]}" -gt 0 ] || die "no */snapshots/snap1 under $DATA"
LOGICAL=$(cd "$DATA" && find "${SNAPS[@]}" -type f -printf '%s\n' |
	awk '{ s += $1 } END { printf "%.0f\n", s }')
NFILES=$(cd "$DATA" && find "${SNAPS[@]}" -type f | wc -l)

rgw_up || exit $?
# The gateway's directory (its PID files), also when perf/bench_s3.sh
# started it and passes it down.
GWDIR=${RGW_DIR:-${BENCH_S3_RGW_DIR:-}}
BUCKET=svtools-$$-$RANDOM
rgw_aws s3 mb "s3://$BUCKET" >/dev/null || die "cannot create bucket $BUCKET"

PW=$WORK/passphrase
head -c 24 /dev/urandom | base64 >"$PW"
chmod 600 "$PW"
export SSTVAULT_PASSWORD_FILE=$PW RESTIC_PASSWORD_FILE=$PW
export RESTIC_CACHE_DIR=$WORK/restic-cache
unset SSTVAULT_REPO RESTIC_REPOSITORY RESTIC_PASSWORD

drop_caches() {
	sync
	if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
		echo cold
	else
		echo warm
	fi
}

# Bytes in the bucket under a prefix, as the S3 listing reports them.
stored_bytes() {
	rgw_aws s3 ls --recursive --summarize "s3://$BUCKET/$1/" |
		awk '/Total Size:/ { print $3 }'
}

# Byte and file totals of a tree: "BYTES FILES".
tree_totals() {
	find "$1" -type f -printf '%s\n' |
		awk '{ s += $1; n++ } END { printf "%.0f %d\n", s, n }'
}

printf 'tool\tstep\tlogical_bytes\tfiles\twall_s\tMBps\tstored_bytes\tuser_s\tsys_s\tpeak_rss_kib\tgw_cpu_s\tcache\tstatus\n' >"$RES"

# CPU seconds used so far by the gateway's daemons (radosgw, OSD, monitor)
# when this script started them; "-" for a gateway found elsewhere.
TCK=$(getconf CLK_TCK)
gw_ticks() {
	local f pid t=0 st
	[ -n "$GWDIR" ] || { echo -; return; }
	for f in client.rgw.a osd.0 mon.a; do
		pid=$(cat "$GWDIR/run/$f.pid" 2>/dev/null) || continue
		st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		st=${st##*) }
		set -- $st
		t=$((t + ${12} + ${13}))
	done
	echo $t
}

# step TOOL STEP PREFIX CWD -- COMMAND...: times COMMAND plus a sync and
# appends a row; PREFIX is the tool's prefix in the bucket (its size is
# listed after an upload step, "-" after a download).
step() {
	local tool=$1 st=$2 prefix=$3 cwd=$4
	shift 5
	local log=$OUT/log/s3-$tool-$st.log tv=$WORK/time cache t0 t1 rc
	local wall mbps stored=- user sys rss status=ok g0 g1 gcpu=-
	cache=$(drop_caches)
	g0=$(gw_ticks)
	echo "bench_s3_tools: $tool $st ($LOGICAL bytes, $cache cache)"
	echo "+ $*" >"$log"
	t0=$(date +%s%N)
	(cd "$cwd" && /usr/bin/time -f '%U %S %M' -o "$tv" "$@") >>"$log" 2>&1
	rc=$?
	sync
	t1=$(date +%s%N)
	g1=$(gw_ticks)
	[ "$g0" = - ] || gcpu=$(awk -v d=$((g1 - g0)) -v h="$TCK" \
		'BEGIN { printf "%.2f", d / h }')
	[ $rc = 0 ] || status="failed($rc)"
	read -r user sys rss <"$tv" 2>/dev/null || { user=- sys=- rss=-; }
	wall=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.3f", n / 1e9 }')
	mbps=$(awk -v b="$LOGICAL" -v n=$((t1 - t0)) \
		'BEGIN { printf "%.1f", b / (n / 1e3) }')
	[ "$st" = upload ] && stored=$(stored_bytes "$prefix")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$tool" "$st" "$LOGICAL" "$NFILES" "$wall" "$mbps" "${stored:--}" \
		"$user" "$sys" "$rss" "$gcpu" "$cache" "$status" >>"$RES"
	echo "  wall ${wall}s, $mbps MB/s, stored ${stored:--}, gateway cpu ${gcpu}s, $status"
	[ $rc = 0 ] || tail -n 5 "$log" >&2
	return $rc
}

# check_down TOOL DIR: the download holds as many bytes and files as the
# snapshot directories (sstvault restores with --layout tree, the backed-up
# directories as they were, like the other two tools).
check_down() {
	local got
	got=$(tree_totals "$2")
	if [ "$got" != "$LOGICAL $NFILES" ]; then
		echo "bench_s3_tools: $1 download holds $got (bytes files), expected $LOGICAL $NFILES" >&2
		sed -i "\$s/\tok\$/\tshort/" "$RES"
		return 1
	fi
	echo "  download checked: $LOGICAL bytes in $NFILES files"
}

remove_prefix() {
	rgw_aws s3 rm --recursive --quiet "s3://$BUCKET/$1/" ||
		echo "bench_s3_tools: cannot delete s3://$BUCKET/$1/" >&2
	rm -rf "$WORK/down"
	# Let the gateway's garbage collector (2 s in tests/rgw.sh) free the
	# RAM-backed store before the next tool writes.
	sleep 5
}

EP=$SV_S3_ENDPOINT
fail=0

# ---- sstvault ------------------------------------------------------
SVREPO=s3://$BUCKET/sv
"$SV" init -q --repo "$SVREPO" --s3-endpoint "$EP" \
	>"$OUT/log/s3-sstvault-init.log" 2>&1 || die "sstvault init failed"
step sstvault upload sv "$DATA" -- "$SV" backup --repo "$SVREPO" \
	--s3-endpoint "$EP" --data-dir "$DATA" --snapshot snap1 \
	--s3-connections "$CONNS" --json || fail=1
mkdir -p "$WORK/down"
step sstvault download sv "$WORK" -- "$SV" restore latest --repo "$SVREPO" \
	--s3-endpoint "$EP" --s3-connections "$CONNS" --target "$WORK/down" \
	--layout tree --json || fail=1
check_down sstvault "$WORK/down" || fail=1
remove_prefix sv

# ---- awscli v2 -----------------------------------------------------
# One command for all snapshot directories: the filters keep the live
# SSTables next to them out.
step awscli upload aws "$DATA" -- env -u AWS_CA_BUNDLE /usr/bin/aws \
	--endpoint-url "$EP" s3 cp --recursive --only-show-errors . \
	"s3://$BUCKET/aws/" --exclude '*' --include '*/snapshots/snap1/*' ||
	fail=1
mkdir -p "$WORK/down"
step awscli download aws "$WORK" -- env -u AWS_CA_BUNDLE /usr/bin/aws \
	--endpoint-url "$EP" s3 cp --recursive --only-show-errors \
	"s3://$BUCKET/aws/" "$WORK/down" || fail=1
check_down awscli "$WORK/down" || fail=1
remove_prefix aws

# ---- restic --------------------------------------------------------
RREPO=s3:$EP/$BUCKET/restic
restic -r "$RREPO" init --repository-version 2 -q \
	>"$OUT/log/s3-restic-init.log" 2>&1 || die "restic init failed"
step restic upload restic "$DATA" -- restic -r "$RREPO" backup -q \
	--compression auto "${SNAPS[@]}" || fail=1
mkdir -p "$WORK/down"
step restic download restic "$WORK" -- restic -r "$RREPO" restore -q \
	latest --target "$WORK/down" || fail=1
check_down restic "$WORK/down" || fail=1
remove_prefix restic

# ---- summary -------------------------------------------------------
# sv_ratio: sstvault's MB/s over this row's, for the same step.
awk -F'\t' -v OFS='\t' 'NR == FNR { if (FNR > 1 && $1 == "sstvault") m[$2] = $6; next }
FNR == 1 { print $0, "sv_ratio"; next }
{ print $0, ($6 > 0 && m[$2] > 0) ? sprintf("%.2f", m[$2] / $6) : "-" }' \
	"$RES" "$RES" >"$RES.tmp" && mv "$RES.tmp" "$RES"
echo
column -t -s "$(printf '\t')" "$RES"
echo "results: $RES"
exit $fail
