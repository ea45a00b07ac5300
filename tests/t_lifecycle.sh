#!/bin/bash
# Issue 6 acceptance (local backend): key slots, dedup across nodes,
# forget + prune that frees compacted SSTables' packs without repacking,
# and three nodes backing up concurrently while prune runs.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found at $SV_FIXTURES"; exit 77; }
NODE=$(dirname "$0")/cass_node.py
R=$T/repo
export SSTVAULT_REPO=$R
sv init --password-file "$PW" -q || fail init
datasum() { (cd "$R" && find data index snapshots -type f 2>/dev/null | sort | xargs -r sha256sum | sha256sum); }

# 1. keys: add a passphrase, remove the original, data untouched
python3 "$NODE" build "$SV_FIXTURES/data" "$T/a" && python3 "$NODE" snapshot "$T/a" s1
sv backup --password-file "$PW" --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s1 --node A -q || fail "backup A"
before=$(datasum)
echo "second passphrase" > "$T/pw2"; chmod 600 "$T/pw2"
orig=$(sv key list --password-file "$PW" --json | python3 -c 'import json,sys; print([k["id"] for k in json.loads(sys.stdin.read().strip().splitlines()[-1]) if k["current"]][0])')
sv key add --password-file "$PW" --new-password-file "$T/pw2" -q || fail "key add"
[ "$(sv key list --password-file "$T/pw2" --json | python3 -c 'import json,sys; print(len(json.loads(sys.stdin.read().strip().splitlines()[-1])))')" = 2 ] || fail "two keys"
sv key remove "${orig:0:12}" --password-file "$T/pw2" -q || fail "key remove"
sv snapshots --password-file "$PW" >/dev/null 2>&1; [ $? -eq 3 ] || fail "old passphrase still opens the repository"
sv snapshots --password-file "$T/pw2" -q >/dev/null || fail "new passphrase does not open it"
[ "$before" = "$(datasum)" ] || fail "data, index or snapshot objects were rewritten"
sv key remove "$(sv key list --password-file "$T/pw2" --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[0]["id"])')" --password-file "$T/pw2" 2>/dev/null; [ $? -ne 0 ] || fail "removing the last key must be refused"
ok "key add + remove of the original: only the new passphrase opens it, no data object rewritten, last key protected"
export SSTVAULT_PASSWORD_FILE=$T/pw2
sv key add --new-key-file "$T/kf" -q || fail "key file add"
[ "$(stat -c %a "$T/kf")" = 600 ] || fail "key file mode"
sv snapshots --key-file "$T/kf" -q >/dev/null || fail "open with key file"
chmod 644 "$T/kf"
err=$(sv snapshots --key-file "$T/kf" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$err" | grep -q "can be read by other users" || fail "readable key file accepted (rc $rc): $err"
sv snapshots --password-file /nonexistent --password-command "cat $T/pw2" -q >/dev/null 2>&1 || true
env -u SSTVAULT_PASSWORD_FILE "$SSTVAULT" snapshots --password-command "cat $T/pw2" -q >/dev/null || fail "--password-command"
ok "key file slot (refused when other users can read it), --password-command"

# 2. dedup across nodes: node B holds byte-identical SSTables
cp -a "$T/a" "$T/b"
out=$(sv backup --data-dir "$T/b/data1" --data-dir "$T/b/data2" --snapshot s1 --node B --json) || fail "backup B"
[ "$(echo "$out" | json_get bytes_new)" -eq 0 ] && [ "$(echo "$out" | json_get bytes_uploaded)" -eq 0 ] || fail "node B stored data: $out"
[ "$(echo "$out" | json_get bytes_read)" -gt 0 ] || fail "node B did not read (catalog must be per node)"
ok "second node with identical SSTables: read $(echo "$out" | json_get bytes_read) bytes, stored 0"

# snapshot summaries come from the local cache once seen
sv snapshots -q >/dev/null || fail snapshots
n_snap=$(ls "$R/snapshots" | wc -l)
[ "$(find "$SSTVAULT_CACHE_DIR" -type f | wc -l)" -eq "$n_snap" ] || fail "cache does not hold one summary per snapshot"
victim=$(ls "$R/snapshots" | head -1)
cp "$R/snapshots/$victim" "$T/victim.bak"
printf 'garbage' > "$R/snapshots/$victim"
sv snapshots -q >/dev/null || fail "listing must be served from the cache"
sv check -q 2>/dev/null; [ $? -eq 5 ] || fail "check must still read the real (damaged) object"
cp "$T/victim.bak" "$R/snapshots/$victim"
ok "snapshots listing served from the local cache ($n_snap summaries); check reads the repository"

# 3. compaction removes a large SSTable; forget + prune free its packs, no repack
big=$(python3 "$NODE" add-sstable "$T/a" 21 --size 20000000)
python3 "$NODE" snapshot "$T/a" s2
sv backup --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s2 --node A -q || fail "backup s2"
rm -f "$T"/a/data*/legacy_tables/*/nb-21-big-*
python3 "$NODE" snapshot "$T/a" s3
sv backup --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s3 --node A -q || fail "backup s3"
sv forget --node A --keep-last 1 -q || fail forget
[ "$(sv snapshots --json | python3 -c 'import json,sys; print(sum(1 for s in json.loads(sys.stdin.read().strip().splitlines()[-1]) if s["node"]=="A"))')" = 1 ] || fail "forget kept more than one snapshot of A"
s0=$(du -sb "$R" | cut -f1)
out=$(sv prune --grace 0 --json) || fail "prune rc=$?"
s1=$(du -sb "$R" | cut -f1)
rep=$(echo "$out" | json_get packs_repacked); del=$(echo "$out" | json_get packs_deleted)
[ "$rep" -eq 0 ] || fail "prune repacked $rep pack(s): $out"
[ "$del" -ge 1 ] && [ $((s0 - s1)) -ge 19000000 ] || fail "prune freed $((s0 - s1)) bytes in $del packs, want >= 19 MB: $out"
[ "$(echo "$out" | json_get index_after)" -eq 1 ] || fail "index not compacted: $out"
sv check --read-data -q || fail "check after prune"
sv restore latest --node A --target "$T/ra" -q || fail "restore A after prune"
sv restore latest --node B --target "$T/rb" -q || fail "restore B after prune"
cmp -s "$(ls "$T"/a/data*/legacy_tables/legacy_nb_clust-*/nb-1-big-Data.db | head -1)" "$T/ra/legacy_tables/legacy_nb_clust/nb-1-big-Data.db" || fail "restored content"
ok "forget + prune: $del pack(s), $((s0 - s1)) bytes freed for a $big-byte SSTable, 0 repacked, 1 index object, check and restores ok"

# 4. three nodes back up concurrently while prune runs
for n in x y z; do
	python3 "$NODE" build "$SV_FIXTURES/data" "$T/$n" >/dev/null
	python3 "$NODE" add-sstable "$T/$n" 30 --size 3000000 >/dev/null
	python3 "$NODE" snapshot "$T/$n" s1
done
pids=""
for n in x y z; do
	sv backup --data-dir "$T/$n/data1" --data-dir "$T/$n/data2" --snapshot s1 --node "$n" --threads 1 -q &
	pids="$pids $!"
done
sv prune --grace 1h --max-wait 5m -q || fail "prune during backups"
for p in $pids; do wait "$p" || fail "a concurrent backup failed"; done
sv prune --grace 0 -q || fail "second prune"
sv check --read-data -q || fail "check after concurrent backups and prune"
for n in x y z A B; do
	sv restore latest --node "$n" --target "$T/r-$n" -q || fail "restore $n"
done
for n in x y z; do
	f=$(ls "$T"/$n/data*/legacy_tables/*/nb-30-big-Data.db)
	t=$(basename "$(dirname "$f")"); t=${t%-*}
	cmp -s "$f" "$T/r-$n/legacy_tables/$t/nb-30-big-Data.db" || fail "node $n restore differs"
done
[ -z "$(ls "$R/locks" 2>/dev/null)" ] || fail "locks left behind: $(ls "$R/locks")"
ok "three concurrent backups + prune: check --read-data passes, every node restores bit-exact, no locks left"
echo "$checks checks passed"
