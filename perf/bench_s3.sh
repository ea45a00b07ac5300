#!/bin/bash
# S3 backend throughput against a local Ceph RADOS Gateway (a benchmark,
# never part of `make test`): build/perf/bench_s3 uploads and downloads
# SIZE_MIB (default 1024) with several connection counts, then awscli v2's
# `aws s3 cp` moves the same amount as a reference point. Then, against the
# same gateway, perf/bench_s3_tools.sh backs up and restores a generated
# Cassandra data set (BENCH_S3_DATASET, default 1G) with sstvault, awscli and
# restic: results in perf/out/s3-bench.tsv (BENCH_S3_TOOLS=0 skips it).
#
#   perf/bench_s3.sh [SIZE_MIB]        (after `make`; SV_BUILD=build)
#
# The gateway's RAM-backed store is sized by SV_RGW_STORE_BYTES (default
# here 4 GiB); every step deletes its objects again.
#
# Note: the gateway runs on the same machine (memstore OSD), so these
# numbers measure the client and the gateway together, not a network.
set -u
cd "$(dirname "$0")/.."
. tests/lib_rgw.sh
export SV_RGW_STORE_BYTES=${SV_RGW_STORE_BYTES:-4294967296}
size=${1:-1024}
bin=${SV_BUILD:-$PWD/build}/perf/bench_s3
[ -x "$bin" ] || { echo "bench_s3: $bin not built (make tools)" >&2; exit 1; }
rgw_up || exit $?
file=$(mktemp /tmp/sv-bench.XXXXXX)
trap 'rm -f "$file" "$file.back"; rgw_down' EXIT
bucket=svbench-$$

for c in 1 4 8 16; do
	"$bin" "s3://$bucket/c$c" "$size" "$c" 16 || exit 1
done

head -c "$((size << 20))" /dev/urandom >"$file"
t0=$(date +%s%N)
rgw_aws s3 cp --quiet "$file" "s3://$bucket/awscli" || exit 1
t1=$(date +%s%N)
rgw_aws s3 cp --quiet "s3://$bucket/awscli" "$file.back" || exit 1
t2=$(date +%s%N)
awk -v b=$((size << 20)) -v u=$((t1 - t0)) -v d=$((t2 - t1)) 'BEGIN {
	printf "stage=awscli_put bytes=%d secs=%.3f MBps=%.1f\n", b, u / 1e9, b / (u / 1e3)
	printf "stage=awscli_get bytes=%d secs=%.3f MBps=%.1f\n", b, d / 1e9, b / (d / 1e3)
}'
cmp -s "$file" "$file.back" || { echo "bench_s3: awscli copy differs" >&2; exit 1; }
rgw_aws s3 rm --quiet "s3://$bucket/awscli" || exit 1
rm -f "$file" "$file.back"

if [ "${BENCH_S3_TOOLS:-1}" != 0 ]; then
	BENCH_S3_RGW_DIR=$RGW_DIR perf/bench_s3_tools.sh || exit 1
fi
