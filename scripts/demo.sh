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
echo "demo: sstvault backup --data-dir $D/node/data --snapshot snap1   (day 1: nodetool snapshot tag snap1)"
"$S" backup --data-dir "$D/node/data" --snapshot snap1 --node demo-node

echo "demo: evolving the node to day 2 (compaction, new flushes, snapshot snap2)"
"$BUILD/perf/gen_dataset" --out "$D/node" --size "$SIZE" --seed 1 --day2 --incremental >/dev/null
echo "demo: sstvault backup --snapshot snap2   (day 2: unchanged SSTables are not even read)"
"$S" backup --data-dir "$D/node/data" --snapshot snap2 --node demo-node

echo "demo: sstvault snapshots"
"$S" snapshots
echo "demo: sstvault check --read-data"
"$S" check --read-data
echo "demo: sstvault restore latest --target $D/restore   (sstableloader layout)"
"$S" restore latest --target "$D/restore"
echo "demo: verifying every restored SSTable against snapshots/snap2 (bytes and mtimes)"
python3 - "$D/node/data" "$D/restore" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
for ks in sorted(os.listdir(src)):
    for t in sorted(os.listdir(os.path.join(src, ks))):
        snap = os.path.join(src, ks, t, "snapshots", "snap2")
        if not os.path.isdir(snap):
            continue
        dest = os.path.join(out, ks, t.rsplit("-", 1)[0])
        for root, _, files in os.walk(snap):
            for f in files:
                if f in ("manifest.json", "schema.cql"):
                    continue
                a = os.path.join(root, f)
                b = os.path.join(dest, os.path.relpath(a, snap))
                if open(a, "rb").read() != open(b, "rb").read():
                    sys.exit("demo: FAILED - %s differs" % b)
                if os.stat(a).st_mtime_ns != os.stat(b).st_mtime_ns:
                    sys.exit("demo: FAILED - mtime of %s differs" % b)
                n += 1
assert os.path.exists(os.path.join(out, "schema.cql")), "schema.cql missing"
print("demo: OK - %d SSTable components restored bit-exact, schema.cql at the top" % n)
PY
du -sb "$D/node/data" "$D/repo" | awk 'NR==1{s=$1} NR==2{r=$1} END{printf "demo: source %.1f MiB on disk (both days), repository %.1f MiB\n", s/1048576, r/1048576}'
echo "demo: everything is in $D (remove it when done)"
