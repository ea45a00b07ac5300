#!/bin/bash
# t_gen_dataset.sh - checks perf/gen_dataset, the generator of realistic
# Cassandra data directories used by `make demo`, the tests and the
# benchmarks: determinism, the on-disk formats (checked independently with
# python3 zlib), snapshots, incremental backups, day 2 and JBOD, and
# --verify against the real Cassandra fixtures.
# Exit 0 pass, 1 fail, 77 skip.
set -u

GEN=${SV_BUILD:-build}/perf/gen_dataset
if [ ! -x "$GEN" ]; then
	echo "skip: $GEN is not built (make tools)"
	exit 77
fi
if ! command -v python3 >/dev/null; then
	echo "skip: python3 is needed for the independent format checks"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

SIZE=64M
SIZE_BYTES=$((64 * 1024 * 1024))

# Listing of every file: path, size, mtime, link count (inodes differ).
listing() { (cd "$1" && find . -type f -printf '%P %s %T@ %n\n' | LC_ALL=C sort); }
sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); }
field() { sed -n "s/.*[ ]$2=\([0-9]*\).*/\1/p" "$1" | tail -n 1; }

# --- 1. determinism -------------------------------------------------------
echo "# generating $SIZE twice with seed 42 (different thread counts)"
"$GEN" --out "$tmp/a" --size $SIZE --seed 42 --incremental >"$tmp/a.out" 2>&1 ||
	{ cat "$tmp/a.out"; bad "day 1 run a exited $?"; exit 1; }
"$GEN" --out "$tmp/b" --size $SIZE --seed 42 --incremental -j 1 >"$tmp/b.out" 2>&1 ||
	{ cat "$tmp/b.out"; bad "day 1 run b exited $?"; exit 1; }
cat "$tmp/a.out"
if diff -r "$tmp/a" "$tmp/b" >/dev/null; then
	ok "same seed: diff -r finds no difference"
else
	bad "same seed: diff -r differs"
fi
if [ "$(sums "$tmp/a")" = "$(sums "$tmp/b")" ] &&
	[ "$(listing "$tmp/a")" = "$(listing "$tmp/b")" ]; then
	ok "same seed: identical sha256, sizes, mtimes and link counts ($(listing "$tmp/a" | wc -l) files)"
else
	bad "same seed: checksums or metadata differ"
	diff <(listing "$tmp/a") <(listing "$tmp/b") | head -5
fi

"$GEN" --out "$tmp/c" --size $SIZE --seed 43 --incremental >"$tmp/c.out" 2>&1 ||
	bad "seed 43 run exited $?"
ndiff=$(diff <(sums "$tmp/a" | grep -- '-Data.db$') <(sums "$tmp/c" | grep -- '-Data.db$') | grep -c '^<')
if [ "$ndiff" -gt 0 ]; then
	ok "different seed: $ndiff Data.db files differ"
else
	bad "different seed gave identical Data.db files"
fi

# --- 2. size, verify --------------------------------------------------------
live=$(field "$tmp/a.out" live_bytes)
if [ -n "$live" ] && [ $((live * 100)) -ge $((SIZE_BYTES * 95)) ] &&
	[ $((live * 100)) -le $((SIZE_BYTES * 105)) ]; then
	ok "live bytes $live within 5% of $SIZE_BYTES"
else
	bad "live bytes '$live' not within 5% of $SIZE_BYTES"
fi
if "$GEN" --verify "$tmp/a" >"$tmp/v.out" 2>&1; then
	ok "--verify: $(cat "$tmp/v.out")"
else
	bad "--verify failed on generated data"
	tail -5 "$tmp/v.out"
fi

# --- 3. independent format checks in python ---------------------------------
cat >"$tmp/check.py" <<'EOF'
import json, os, re, struct, sys, zlib

root, size_want = sys.argv[1], int(sys.argv[2])
errors = []
def err(msg):
    if len(errors) < 20:
        print("  " + msg)
    errors.append(msg)

LIVE = re.compile(r'^nb-(\d+)-big-(.+)$')
COMPS = {"Data.db", "Index.db", "Summary.db", "Filter.db", "Statistics.db",
         "CompressionInfo.db", "Digest.crc32", "TOC.txt"}
stats = dict(sstables=0, chunks=0, tmp=0, txn=0, idx=0, backups=0, snaps=0)
live_bytes = 0
data_raw = data_comp = 0

def table_dirs():
    for dd in sorted(os.listdir(root)):
        if not dd.startswith("data"):
            continue
        for ks in sorted(os.listdir(os.path.join(root, dd))):
            for t in sorted(os.listdir(os.path.join(root, dd, ks))):
                yield dd, ks, t, os.path.join(root, dd, ks, t)

def check_sstable(d, gen, files):
    global data_raw, data_comp
    pre = os.path.join(d, "nb-%d-big-" % gen)
    have = {f[len("nb-%d-big-" % gen):] for f in files}
    if have != COMPS:
        err("%s: components %s" % (pre, sorted(have)))
        return
    toc = open(pre + "TOC.txt").read()
    if not toc.endswith("\n") or set(toc.split()) != COMPS:
        err("%sTOC.txt lists %r" % (pre, toc))
    data = open(pre + "Data.db", "rb").read()
    dig = open(pre + "Digest.crc32", "rb").read()
    if not dig.isdigit() or int(dig) != zlib.crc32(data):
        err("%sDigest.crc32 %r != crc32 %d" % (pre, dig, zlib.crc32(data)))
    ci = open(pre + "CompressionInfo.db", "rb").read()
    n = struct.unpack(">H", ci[:2])[0]
    if ci[2:2 + n] != b"LZ4Compressor":
        err("%s: compressor %r" % (pre, ci[2:2 + n]))
        return
    p = 2 + n
    opts, chunk, maxc, dlen, cnt = struct.unpack(">iiiqi", ci[p:p + 24])
    p += 24
    if opts != 0 or chunk not in (16384, 65536) or maxc != 0x7fffffff:
        err("%s: header opts %d chunk %d max %d" % (pre, opts, chunk, maxc))
    if len(ci) != p + 8 * cnt or cnt != (dlen + chunk - 1) // chunk:
        err("%s: %d chunks for %d bytes, file %d" % (pre, cnt, dlen, len(ci)))
        return
    offs = list(struct.unpack(">%dq" % cnt, ci[p:])) + [len(data)]
    if offs[0] != 0:
        err("%s: first offset %d" % (pre, offs[0]))
    total = 0
    for i in range(cnt):
        c = data[offs[i]:offs[i + 1] - 4]
        want = struct.unpack(">I", data[offs[i + 1] - 4:offs[i + 1]])[0]
        if zlib.crc32(c) != want:
            err("%s: chunk %d crc mismatch" % (pre, i))
            return
        # Cassandra's LZ4Compressor: 4-byte little-endian raw length first.
        raw = struct.unpack("<I", c[:4])[0]
        if raw != min(chunk, dlen - i * chunk):
            err("%s: chunk %d raw length %d" % (pre, i, raw))
        total += raw
        stats["chunks"] += 1
    if total != dlen:
        err("%s: raw total %d != %d" % (pre, total, dlen))
    data_raw += dlen
    data_comp += len(data)
    # mtime of every component: 1700000000 + gen * 60.
    for f in files:
        mt = int(os.stat(os.path.join(d, f)).st_mtime)
        if mt != 1700000000 + gen * 60:
            err("%s/%s: mtime %d" % (d, f, mt))
    filt = open(pre + "Filter.db", "rb").read()
    hc, words = struct.unpack(">ii", filt[:8])
    if len(filt) != 8 + 8 * words or not 0.008 < len(filt) / len(data) < 0.025:
        err("%sFilter.db: %d bytes for %d of data" % (pre, len(filt), len(data)))
    summ = open(pre + "Summary.db", "rb").read()
    mi, scount = struct.unpack(">ii", summ[:8])
    if mi != 128 or scount < 1:
        err("%sSummary.db: interval %d count %d" % (pre, mi, scount))
    st = open(pre + "Statistics.db", "rb").read()
    if struct.unpack(">i", st[:4])[0] != 4 or \
       struct.unpack(">I", st[4:8])[0] != zlib.crc32(st[:4]) or \
       not 1024 <= len(st) <= 65536:
        err("%sStatistics.db: bad table of contents or size %d" % (pre, len(st)))
    stats["sstables"] += 1

def sstables_in(d):
    groups = {}
    for f in sorted(os.listdir(d)):
        m = LIVE.match(f)
        if m and os.path.isfile(os.path.join(d, f)):
            groups.setdefault(int(m.group(1)), []).append(f)
    return groups

live_inodes = {}
for dd, ks, t, d in table_dirs():
    if not re.match(r'^[a-z_0-9]+-[0-9a-f]{32}$', t):
        err("table folder name %s" % t)
    for f in os.listdir(d):
        p = os.path.join(d, f)
        if f.startswith("tmp-nb-") and f.endswith("-big-Data.db"):
            stats["tmp"] += 1
        elif re.match(r'^nb_txn_compaction_[0-9a-f-]{36}\.log$', f):
            stats["txn"] += 1
        elif f.startswith(".") and os.path.isdir(p):
            stats["idx"] += 1
            for gen, files in sstables_in(p).items():
                check_sstable(p, gen, files)
                for x in files:
                    live_inodes[os.path.join(dd, ks, t, f, x)] = os.stat(os.path.join(p, x)).st_ino
                    live_bytes += os.path.getsize(os.path.join(p, x))
    for gen, files in sstables_in(d).items():
        check_sstable(d, gen, files)
        for x in files:
            live_inodes[os.path.join(dd, ks, t, x)] = os.stat(os.path.join(d, x)).st_ino
            live_bytes += os.path.getsize(os.path.join(d, x))

# Snapshots: hard links of every live component; manifest lists Data.db.
tag = sys.argv[3] if len(sys.argv) > 3 else "snap1"
for dd, ks, t, d in table_dirs():
    sd = os.path.join(d, "snapshots", tag)
    if dd in ("data", "data1"):
        man = json.load(open(os.path.join(sd, "manifest.json")))
        schema = open(os.path.join(sd, "schema.cql")).read()
        hexid = t.rsplit("-", 1)[1]
        uuid = "%s-%s-%s-%s-%s" % (hexid[:8], hexid[8:12], hexid[12:16], hexid[16:20], hexid[20:])
        if "WITH ID = " + uuid not in schema or "CREATE TABLE IF NOT EXISTS %s.%s (" % (ks, t.rsplit("-", 1)[0]) not in schema \
           or "CREATE KEYSPACE IF NOT EXISTS " + ks not in schema:
            err("%s/schema.cql lacks CREATE KEYSPACE/TABLE or WITH ID = %s" % (sd, uuid))
        want = []
        for dd2 in sorted(x for x in os.listdir(root) if x.startswith("data")):
            d2 = os.path.join(root, dd2, ks, t)
            want += [f for f in os.listdir(d2) if LIVE.match(f) and f.endswith("-Data.db")]
            want += ["%s/%s" % (s, f) for s in os.listdir(d2) if s.startswith(".")
                     for f in os.listdir(os.path.join(d2, s)) if f.endswith("-Data.db")]
        if sorted(man["files"]) != sorted(want):
            err("%s/manifest.json lists %d files, %d live Data.db" % (sd, len(man["files"]), len(want)))
    for rel, ino in live_inodes.items():
        parts = rel.split(os.sep)
        if parts[0] != dd or parts[2] != t:
            continue
        sp = os.path.join(sd, *parts[3:])
        if not os.path.exists(sp) or os.stat(sp).st_ino != ino:
            err("%s is not a hard link of the live file" % sp)
        else:
            stats["snaps"] += 1
    bd = os.path.join(d, "backups")
    if os.path.isdir(bd):
        for f in os.listdir(bd):
            lp = os.path.join(d, f)
            if os.path.exists(lp) and os.stat(lp).st_ino != os.stat(os.path.join(bd, f)).st_ino:
                err("%s/%s differs from the live file" % (bd, f))
            stats["backups"] += 1

print("  %(sstables)d sstables, %(chunks)d chunks, %(snaps)d snapshot links, "
      "%(backups)d backup links, tmp %(tmp)d, txn %(txn)d, 2i %(idx)d" % stats)
print("  live bytes %d, Data.db lz4 ratio %.2f" % (live_bytes, data_raw / max(data_comp, 1)))
if stats["tmp"] != 1 or stats["txn"] != 1 or stats["idx"] != 1:
    err("want one tmp- leftover, one txn log and one index folder: %r" % stats)
if not 2.0 <= data_raw / max(data_comp, 1) <= 3.0:
    err("lz4 ratio %.2f outside 2..3" % (data_raw / max(data_comp, 1)))
if size_want and live_bytes != size_want:
    err("live bytes %d, the generator reported %d" % (live_bytes, size_want))
if stats["backups"] == 0 and "--incremental" in sys.argv:
    err("no backups/ links")
print("  %d errors" % len(errors))
sys.exit(1 if errors else 0)
EOF
if python3 "$tmp/check.py" "$tmp/a" "$live" snap1 --incremental; then
	ok "python: digests, chunk CRCs, LZ4 headers, CompressionInfo, TOC, mtimes, Filter/Summary/Statistics, snapshot links, manifest, schema, backups"
else
	bad "python format checks"
fi

# --- 4. corruption is detected ---------------------------------------------
src=$(find "$tmp/a/data" -path '*/snapshots' -prune -o -name 'nb-*-big-Data.db' -size +100k -print | LC_ALL=C sort | head -n 1)
mkdir -p "$tmp/bad/ks/t-00000000000000000000000000000000" "$tmp/bad2/ks/t-00000000000000000000000000000000"
for f in "${src%Data.db}"*; do
	cp "$f" "$tmp/bad/ks/t-00000000000000000000000000000000/"
	cp "$f" "$tmp/bad2/ks/t-00000000000000000000000000000000/"
done
bf=$(ls "$tmp"/bad/ks/t-*/nb-*-big-Data.db)
printf '\xff\xfe' | dd of="$bf" bs=1 seek=5000 conv=notrunc status=none
if "$GEN" --verify "$tmp/bad" >"$tmp/bad.out" 2>&1; then
	bad "--verify accepted a Data.db with two flipped bytes"
else
	ok "--verify rejects a damaged chunk: $(grep FAIL "$tmp/bad.out" | head -n 1)"
fi
dg=$(ls "$tmp"/bad2/ks/t-*/nb-*-big-Digest.crc32)
printf '12345' >"$dg"
if "$GEN" --verify "$tmp/bad2" >"$tmp/bad2.out" 2>&1; then
	bad "--verify accepted a wrong Digest.crc32"
else
	ok "--verify rejects a wrong digest: $(grep FAIL "$tmp/bad2.out" | head -n 1)"
fi

# A chunk whose LZ4 block is damaged but whose CRC and digest were
# recomputed: only the decompression check can catch it.
mkdir -p "$tmp/bad3/ks/t-00000000000000000000000000000000"
for f in "${src%Data.db}"*; do cp "$f" "$tmp/bad3/ks/t-00000000000000000000000000000000/"; done
python3 - "$(ls "$tmp"/bad3/ks/t-*/nb-*-big-Data.db)" <<'EOF'
import struct, sys, zlib
p = sys.argv[1]
ci = open(p.replace("Data.db", "CompressionInfo.db"), "rb").read()
n = struct.unpack(">H", ci[:2])[0] + 2 + 24
end = struct.unpack(">q", ci[n + 8:n + 16])[0]   # second chunk offset
d = bytearray(open(p, "rb").read())
# Damage the first sequence token of chunk 0's LZ4 block (after Cassandra's
# 4-byte length header): the literal and match lengths no longer parse.
d[4] ^= 0x70
d[end - 4:end] = struct.pack(">I", zlib.crc32(bytes(d[:end - 4])))
open(p, "wb").write(d)
open(p.replace("Data.db", "Digest.crc32"), "w").write(str(zlib.crc32(bytes(d))))
EOF
if "$GEN" --verify "$tmp/bad3" >"$tmp/bad3.out" 2>&1; then
	bad "--verify accepted a damaged LZ4 block with valid checksums"
else
	ok "--verify decompresses: $(grep FAIL "$tmp/bad3.out" | head -n 1)"
fi

# --- 5. day 2 ----------------------------------------------------------------
live_files() {
	(cd "$1" && find . -path '*/snapshots' -prune -o -path '*/backups' -prune -o \
		-type f -name 'nb-*-big-*' -printf '%P %i %T@ %s\n' | LC_ALL=C sort)
}
live_files "$tmp/a" >"$tmp/before"
"$GEN" --out "$tmp/a" --day2 --seed 42 --incremental >"$tmp/a2.out" 2>&1 ||
	{ cat "$tmp/a2.out"; bad "day 2 exited $?"; }
"$GEN" --out "$tmp/b" --day2 --seed 42 --incremental -j 1 >"$tmp/b2.out" 2>&1 ||
	bad "day 2 of b exited $?"
cat "$tmp/a2.out"
live_files "$tmp/a" >"$tmp/after"
new_rep=$(field "$tmp/a2.out" new_bytes)
live2=$(field "$tmp/a2.out" live_bytes)
python3 - "$tmp/before" "$tmp/after" "$new_rep" "$live2" <<'EOF'
import sys
def load(p):
    return {l.split()[0]: l.split()[1:] for l in open(p)}
b, a = load(sys.argv[1]), load(sys.argv[2])
rep, live = int(sys.argv[3]), int(sys.argv[4])
kept = [k for k in b if k in a]
changed = [k for k in kept if a[k][:2] != b[k][:2] or a[k][2] != b[k][2]]
removed = [k for k in b if k not in a]
new = [k for k in a if k not in b]
newb = sum(int(a[k][2]) for k in new)
rm_sst = {k.rsplit("-", 1)[0] for k in removed}
new_sst = {k.rsplit("-", 1)[0] for k in new}
print("  kept %d files (%d changed), removed %d sstables, %d new sstables, "
      "%d new bytes (reported %d), %.1f%% of %d live" %
      (len(kept), len(changed), len(rm_sst), len(new_sst), newb, rep,
       100.0 * newb / live, live))
bad = changed or not removed or not new or newb != rep or \
      not 0.05 <= newb / live <= 0.40 or sum(int(v[2]) for v in a.values()) != live
sys.exit(1 if bad else 0)
EOF
if [ $? -eq 0 ]; then
	ok "day 2: untouched SSTables keep inode and mtime, new bytes match the report and are 5-40% of live"
else
	bad "day 2: inode/mtime preserved, removed and new SSTables, new bytes in range"
fi
if [ -d "$(ls -d "$tmp"/a/data/*/*-*/snapshots/snap1 | head -n 1)" ] &&
	python3 "$tmp/check.py" "$tmp/a" "$live2" snap2 --incremental >"$tmp/c2.out"; then
	ok "day 2: snap1 kept, snap2 links every live SSTable, formats still valid"
else
	cat "$tmp/c2.out"
	bad "day 2: snapshots or formats"
fi
if "$GEN" --verify "$tmp/a" >"$tmp/v2.out" 2>&1; then
	ok "day 2 --verify: $(cat "$tmp/v2.out")"
else
	bad "day 2 --verify failed"
fi
if diff -r "$tmp/a" "$tmp/b" >/dev/null && [ "$(listing "$tmp/a")" = "$(listing "$tmp/b")" ]; then
	ok "day 2 is deterministic too"
else
	bad "day 2 outputs differ between identical runs"
fi
if "$GEN" --out "$tmp/a" --day2 --seed 42 >/dev/null 2>&1; then
	bad "a second day 2 with an existing snapshot tag succeeded"
else
	ok "day 2 refuses an existing snapshot tag"
fi

# --- 6. JBOD -----------------------------------------------------------------
"$GEN" --out "$tmp/j" --size 16M --jbod 3 --seed 5 >"$tmp/j.out" 2>&1 || bad "jbod run exited $?"
nd=0
for d in 1 2 3; do
	n=$(find "$tmp/j/data$d" -path '*/snapshots' -prune -o -name 'nb-*-big-Data.db' -print 2>/dev/null | wc -l)
	[ "$n" -gt 0 ] && nd=$((nd + 1))
done
ntab=$(ls -d "$tmp"/j/data3/*/*-* 2>/dev/null | wc -l)
if [ "$nd" -eq 3 ] && [ "$ntab" -ge 6 ] && "$GEN" --verify "$tmp/j" >/dev/null 2>&1 &&
	python3 "$tmp/check.py" "$tmp/j" "$(field "$tmp/j.out" live_bytes)" snap1 >"$tmp/jc.out"; then
	ok "jbod 3: SSTables in all 3 data dirs, $ntab table folders in data3, manifest in data1 lists all"
else
	cat "$tmp/jc.out" 2>/dev/null
	bad "jbod layout (dirs with sstables $nd, table folders in data3 $ntab)"
fi

# --- 7. real Cassandra fixtures ------------------------------------------------
fx=${SV_FIXTURES:-}
if [ -n "$fx" ] && [ -d "$fx/data" ]; then
	if "$GEN" --verify "$fx/data" >"$tmp/fx.out" 2>&1; then
		nok=$(sed -n 's/^verify: \([0-9]*\) sstables ok.*/\1/p' "$tmp/fx.out")
		n3=$(find "$fx/data" -name '[m-z][a-z]-*-Data.db' | wc -l)
		if [ "${nok:-0}" -ge "$n3" ]; then
			ok "fixtures: $(tail -n 1 "$tmp/fx.out") (3.0+ sstables: $n3)"
		else
			bad "fixtures: only ${nok:-0} verified, $n3 are 3.0+"
		fi
	else
		cat "$tmp/fx.out" | tail -5
		bad "--verify fails on the real Cassandra fixtures"
	fi
else
	echo "note: SV_FIXTURES not set or without data/, fixture check not run"
fi

if "$GEN" --help | grep -q -- '--jbod'; then ok "--help documents the layout options"; else bad "--help"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
exit 0
