#!/bin/bash
# make demo: generate a small Cassandra-like data directory, back it up into
# a local repository, restore it, verify it, and say what happened.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SIZE=${DEMO_SIZE:-256M}
D=${DEMO_DIR:-$PWD/demo-out}
S=$PWD/sstvault
rm -rf "$D"
mkdir -p "$D"
echo "demo: passphrase in $D/passphrase (generated)"
head -c 24 /dev/urandom | base64 > "$D/passphrase"
chmod 600 "$D/passphrase"
export SSTVAULT_REPO=$D/repo SSTVAULT_PASSWORD_FILE=$D/passphrase

echo "demo: generating a $SIZE Cassandra data directory in $D/node (LZ4 Data.db, snapshots, backups/)"
"$BUILD/perf/gen_dataset" --out "$D/node" --size "$SIZE" --seed 1 --snapshot snap1 --incremental >/dev/null
du -sh "$D/node/data" | sed 's/^/demo: /'

echo "demo: sstvault init"
"$S" init
echo "demo: sstvault backup --data-dir $D/node/data   (day 1)"
"$S" backup --data-dir "$D/node/data" --tag day1

echo "demo: evolving the node to day 2 (compaction, new flushes, snapshot snap2)"
"$BUILD/perf/gen_dataset" --out "$D/node" --size "$SIZE" --seed 1 --day2 --incremental >/dev/null
echo "demo: sstvault backup   (day 2: only new chunks are stored)"
"$S" backup --data-dir "$D/node/data" --tag day2

echo "demo: sstvault snapshots"
"$S" snapshots
echo "demo: sstvault check --read-data"
"$S" check --read-data
echo "demo: sstvault restore latest --target $D/restore"
"$S" restore latest --target "$D/restore"
echo "demo: verifying the restore against the source (bytes, modes, mtimes)"
if diff -r "$D/node/data" "$D/restore" >/dev/null; then
	echo "demo: OK - restored tree is identical to the source"
else
	echo "demo: FAILED - restored tree differs" >&2
	exit 1
fi
du -sb "$D/node/data" "$D/repo" | awk 'NR==1{s=$1} NR==2{r=$1} END{printf "demo: source %.1f MiB (both days), repository %.1f MiB\n", s/1048576, r/1048576}'
echo "demo: everything is in $D (remove it when done)"
