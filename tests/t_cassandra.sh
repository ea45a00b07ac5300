#!/bin/bash
# Issue 3 acceptance: Cassandra-aware backup and restore on a node built
# from the real fixtures (tests/cass_node.py): snapshot and incremental
# modes, loader and data-dir layouts, the catalog (day 2 reads only new
# SSTables), several nodes merged with generation renames, --at, clean-up
# of backups/, damaged sources.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found at $SV_FIXTURES"; exit 77; }
NODE=$(dirname "$0")/cass_node.py
R=$T/repo
export SSTVAULT_REPO=$R SSTVAULT_PASSWORD_FILE=$PW
sv init -q || fail init
python3 "$NODE" build "$SV_FIXTURES/data" "$T/a" && python3 "$NODE" snapshot "$T/a" snap1 || fail "build node"
D="--data-dir $T/a/data1 --data-dir $T/a/data2"

# 1. snapshot backup and loader restore
out=$(sv backup $D --snapshot snap1 --node A --cluster c1 --json) || fail "backup rc=$?"
[ "$(echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d["cassandra"]["skipped_tmp"], d["damaged_sources"])')" = "1 0" ] || fail "tmp skip / damage counters: $out"
sv restore latest --target "$T/out" -q || fail "restore"
python3 - "$T/a" "$T/out" <<'PY' || fail "loader layout"
import os, sys, filecmp
node, out = sys.argv[1], sys.argv[2]
n = 0
for dd in ("data1", "data2"):
    ks = os.path.join(node, dd, "legacy_tables")
    for t in os.listdir(ks):
        snap = os.path.join(ks, t, "snapshots", "snap1")
        dest = os.path.join(out, "legacy_tables", t.rsplit("-", 1)[0])
        want = sorted(f for f in os.listdir(snap) if os.path.isfile(os.path.join(snap, f))
                      and not f.startswith("tmp") and f not in ("manifest.json", "schema.cql"))
        got = sorted(f for f in os.listdir(dest) if os.path.isfile(os.path.join(dest, f)))
        assert want == got, (dest, set(want) ^ set(got))
        for f in want:
            assert filecmp.cmp(os.path.join(snap, f), os.path.join(dest, f), shallow=False), f
            n += 1
        if os.path.isdir(os.path.join(snap, ".legacy_idx")):
            assert sorted(os.listdir(os.path.join(snap, ".legacy_idx"))) == sorted(os.listdir(os.path.join(dest, ".legacy_idx")))
assert not os.path.exists(os.path.join(out, "system")), "system keyspace restored"
s = open(os.path.join(out, "schema.cql")).read()
assert s.count("CREATE TABLE") == 59, s.count("CREATE TABLE")
print("checked", n, "files")
PY
ok "snapshot backup -> loader layout: every component of every SSTable bit-exact, no tmp files, no system keyspace, schema.cql with 59 tables"
sv restore latest --layout data-dir --target "$T/out-dd" -q || fail "data-dir restore"
[ -f "$T/out-dd/legacy_tables/legacy_nb_clust-$(ls "$T/a/data"*/legacy_tables | grep '^legacy_nb_clust-' | head -1 | sed 's/.*-//')/nb-1-big-Data.db" ] || fail "data-dir layout"
ok "data-dir layout: OUT/<ks>/<table>-<id>/"

# 2. day 2: a new SSTable and a new tag of hard links: only new bytes are read
newb=$(python3 "$NODE" add-sstable "$T/a" 7 --size 200000)
python3 "$NODE" snapshot "$T/a" snap2
meta=$(find "$T/a" -path '*/snapshots/snap2/*' \( -name manifest.json -o -name schema.cql \) -printf '%s\n' | awk '{s+=$1} END {print s}')
before=$(du -sb "$R" | cut -f1)
out=$(sv backup $D --snapshot snap2 --node A --json) || fail "day-2 backup"
after=$(du -sb "$R" | cut -f1)
read_b=$(echo "$out" | json_get bytes_read)
new_b=$(echo "$out" | json_get bytes_new)
[ "$read_b" -eq $((newb + meta)) ] || fail "day 2 read $read_b bytes, want $newb (new SSTable) + $meta (manifest/schema)"
[ "$new_b" -le $((newb + meta)) ] || fail "day 2 stored $new_b new bytes"
[ $((after - before)) -lt $((newb + meta + 65536)) ] || fail "repository grew by $((after - before))"
ok "day 2: read $read_b bytes = new SSTable ($newb) + snapshot metadata ($meta); repository grew by $((after - before))"

# 3. two nodes with the same generations merge into one loader tree
cp -a "$T/a" "$T/b"
sv backup --data-dir "$T/b/data1" --data-dir "$T/b/data2" --snapshot snap2 --node B -q || fail "node B backup"
out=$(sv restore latest --node all --target "$T/merged" --json) || fail "merge restore"
[ "$(echo "$out" | json_get renamed)" -gt 0 ] || fail "no rename reported: $out"
python3 - "$T/a" "$T/merged" <<'PY' || fail "merged tree"
import os, sys, re, collections
node, out = sys.argv[1], sys.argv[2]
src = {}
for dd in ("data1", "data2"):
    ks = os.path.join(node, dd, "legacy_tables")
    for t in os.listdir(ks):
        snap = os.path.join(ks, t, "snapshots", "snap2")
        for f in os.listdir(snap):
            p = os.path.join(snap, f)
            if os.path.isfile(p):
                src.setdefault(t.rsplit("-", 1)[0], {})[f] = open(p, "rb").read()
pat = re.compile(r"^(?:(.+)-(.+)-)?([a-z]{2})-(\d+|[0-9a-z_]{28})-(?:(big|bti)-)?(.+)$")
for table, files in src.items():
    d = os.path.join(out, "legacy_tables", table)
    groups = collections.defaultdict(dict)
    for f in os.listdir(d):
        if not os.path.isfile(os.path.join(d, f)):
            continue
        m = pat.match(f)
        assert m, f
        key = (m.group(1), m.group(3), m.group(4), m.group(5))
        groups[key][m.group(6)] = open(os.path.join(d, f), "rb").read()
    srcgroups = collections.defaultdict(dict)
    for f, b in files.items():
        m = pat.match(f)
        if not m or f.startswith("tmp"):
            continue
        srcgroups[(m.group(1), m.group(3), m.group(4), m.group(5))][m.group(6)] = b
    assert len(groups) == 2 * len(srcgroups), (table, len(groups), len(srcgroups))
    for key, comps in groups.items():
        assert any(comps == s for s in srcgroups.values()), (table, key)
print("ok")
PY
ok "--node all: two nodes' SSTables in one loader tree, colliding ids renamed consistently, every SSTable matches a source SSTable"

# 4. --at: a snapshot backup plus incrementals, three points in time
python3 "$NODE" build "$SV_FIXTURES/data" "$T/c"
python3 "$NODE" snapshot "$T/c" s1
DC="--data-dir $T/c/data1 --data-dir $T/c/data2"
sv backup $DC --snapshot s1 --node C -q || fail "C snapshot"
sleep 1.2
python3 "$NODE" add-sstable "$T/c" 11 --backups >/dev/null
sv backup $DC --incremental --node C -q || fail "C incremental 1"
sleep 1.2
t2=$(date +%s)
sleep 1.2
python3 "$NODE" add-sstable "$T/c" 12 --backups >/dev/null
sv backup $DC --incremental --node C -q || fail "C incremental 2"
t3=$(( $(date +%s) + 1 ))
has() { ls "$1"/legacy_tables/*/ 2>/dev/null | grep -c "^nb-$2-big-Data.db$"; }
sv restore latest --node C --at "@$t2" --target "$T/at2" -q || fail "--at t2"
[ "$(has "$T/at2" 11)" = 1 ] && [ "$(has "$T/at2" 12)" = 0 ] || fail "--at t2 content: 11=$(has "$T/at2" 11) 12=$(has "$T/at2" 12)"
sv restore latest --node C --at "@$t3" --target "$T/at3" -q || fail "--at t3"
[ "$(has "$T/at3" 11)" = 1 ] && [ "$(has "$T/at3" 12)" = 1 ] || fail "--at t3 content"
sv restore latest --node C --at "@1000" --target "$T/at0" 2>/dev/null; [ $? -eq 3 ] || fail "--at before the first backup must fail with 3"
ok "--at: snapshot + first incremental at t2, both incrementals at t3, nothing before t1"

# 5. --clear-incrementals removes only committed files
late=$(ls "$T"/c/data*/legacy_tables/*/backups/nb-12-big-Data.db | head -1)
export SSTVAULT_TEST_AFTER_WALK="cp $late $(dirname "$late")/nb-13-big-Data.db"
sv backup $DC --incremental --node C --clear-incrementals -q || fail "clear run"
unset SSTVAULT_TEST_AFTER_WALK
left=$(ls "$(dirname "$late")")
[ "$left" = "nb-13-big-Data.db" ] || fail "backups/ after clean-up: $left"
ok "--clear-incrementals removed the committed files; the file that arrived during the run survives"

# 6. a damaged Data.db: reported at backup, refused at restore
python3 "$NODE" build "$SV_FIXTURES/data" "$T/d"
python3 "$NODE" snapshot "$T/d" s1
victim=$(ls "$T"/d/data*/legacy_tables/legacy_nb_clust-*/nb-1-big-Data.db | head -1)
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(1000); b=f.read(1); f.seek(1000); f.write(bytes([b[0]^1]))" "$victim"
err=$(sv backup --data-dir "$T/d/data1" --data-dir "$T/d/data2" --snapshot s1 --node D 2>&1); rc=$?
[ $rc -eq 1 ] || fail "damaged source: backup exit $rc, want 1"
echo "$err" | grep -q "damaged source: .*legacy_nb_clust.*nb-1-big-Data.db" || fail "no damaged-source message: $err"
err=$(sv restore latest --node D --target "$T/dout" 2>&1); rc=$?
[ $rc -eq 5 ] || fail "restore of damaged SSTable: exit $rc, want 5"
echo "$err" | grep -q "legacy_nb_clust/nb-1-big-Data.db: restored bytes do not match the Cassandra digest" || fail "restore message: $err"
[ ! -e "$T/dout/legacy_tables/legacy_nb_clust/nb-1-big-Data.db" ] || fail "damaged Data.db written"
[ -e "$T/dout/legacy_tables/legacy_nb_clust/nb-1-big-Index.db" ] || fail "other components missing"
ok "damaged Data.db: warned at backup (exit 1), refused at restore naming the file (exit 5)"

# 7. cassandra.yaml supplies data dirs and cluster name
cat > "$T/cassandra.yaml" <<Y
cluster_name: 'Test Cluster'
incremental_backups: true
data_file_directories:
    - $T/a/data1
    - $T/a/data2
Y
out=$(sv backup --cassandra-yaml "$T/cassandra.yaml" --snapshot snap2 --node A --json) || fail "yaml backup"
[ "$(echo "$out" | json_get bytes_read)" -eq 0 ] || fail "yaml backup re-read data: $out"
sv snapshots --json | python3 -c 'import json,sys; assert json.loads(sys.stdin.read().strip().splitlines()[-1])[-1]["cluster"] == "Test Cluster"' || fail "cluster name from yaml"
ok "--cassandra-yaml: data dirs and cluster name; unchanged SSTables not read (catalog)"
# 8. a component listed in TOC.txt but missing is reported at backup
python3 "$NODE" build "$SV_FIXTURES/data" "$T/e" && python3 "$NODE" snapshot "$T/e" s1
gone=$(ls "$T"/e/data*/legacy_tables/legacy_nb_simple-*/snapshots/s1/nb-1-big-Index.db | head -1)
rm -f "$gone"
err=$(sv backup --data-dir "$T/e/data1" --data-dir "$T/e/data2" --snapshot s1 --node E 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || fail "missing component: exit $rc, want 1"
echo "$err" | grep -q "nb-1-big-Index.db: component Index.db listed in TOC.txt is missing" || fail "missing component not named: $err"
ok "a component listed in TOC.txt but absent: warning naming it, exit 1 (Summary.db alone is only noted)"
echo "$checks checks passed"
