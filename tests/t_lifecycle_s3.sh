#!/bin/bash
# Issue 6 acceptance against a real Ceph RADOS Gateway: dedup across nodes,
# forget + prune freeing a compacted SSTable's packs without repacking,
# three nodes backing up concurrently while prune runs, key rotation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_rgw.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found"; exit 77; }
NODE=$(dirname "$0")/cass_node.py
rgw_up; rc=$?; [ $rc = 0 ] || exit $rc
bucket=svl-$$-$RANDOM
cleanup() {
	[ "$RGW_OWNED" = 1 ] || rgw_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	rgw_down
	rm -rf "$T"
}
trap cleanup EXIT
export SSTVAULT_REPO=s3://$bucket/repo SSTVAULT_PASSWORD_FILE=$PW
S3="--s3-endpoint $SV_S3_ENDPOINT"
bucket_bytes() { rgw_aws s3 ls --recursive --summarize "s3://$bucket/repo/data/" | awk '/Total Size/ {print $3}'; }
sv init $S3 -q || fail init

python3 "$NODE" build "$SV_FIXTURES/data" "$T/a" && python3 "$NODE" snapshot "$T/a" s1
sv backup $S3 --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s1 --node A -q || fail "backup A"
cp -a "$T/a" "$T/b"
out=$(sv backup $S3 --data-dir "$T/b/data1" --data-dir "$T/b/data2" --snapshot s1 --node B --json | tail -n 1) || fail "backup B"
[ "$(echo "$out" | json_get bytes_new)" -eq 0 ] && [ "$(echo "$out" | json_get bytes_uploaded)" -eq 0 ] || fail "node B uploaded data: $out"
ok "S3: a second node with identical SSTables uploads no data"

big=$(python3 "$NODE" add-sstable "$T/a" 21 --size 20000000)
python3 "$NODE" snapshot "$T/a" s2
sv backup $S3 --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s2 --node A -q || fail "backup s2"
rm -f "$T"/a/data*/legacy_tables/*/nb-21-big-*
python3 "$NODE" snapshot "$T/a" s3
sv backup $S3 --data-dir "$T/a/data1" --data-dir "$T/a/data2" --snapshot s3 --node A -q || fail "backup s3"
sv forget $S3 --node A --keep-last 1 -q || fail forget
b0=$(bucket_bytes)
out=$(sv prune $S3 --grace 0 --json | tail -n 1) || fail "prune"
b1=$(bucket_bytes)
[ "$(echo "$out" | json_get packs_repacked)" -eq 0 ] || fail "prune repacked: $out"
[ $((b0 - b1)) -ge 19000000 ] || fail "bucket shrank by $((b0 - b1)) bytes: $out"
ok "S3: forget + prune freed $((b0 - b1)) bytes for a $big-byte compacted SSTable, no repack"

for n in x y z; do
	python3 "$NODE" build "$SV_FIXTURES/data" "$T/$n" >/dev/null
	python3 "$NODE" add-sstable "$T/$n" 30 --size 2000000 >/dev/null
	python3 "$NODE" snapshot "$T/$n" s1
done
pids=""
for n in x y z; do
	sv backup $S3 --data-dir "$T/$n/data1" --data-dir "$T/$n/data2" --snapshot s1 --node "$n" --threads 1 -q &
	pids="$pids $!"
done
sv prune $S3 --grace 1h --max-wait 5m -q || fail "prune during backups"
for p in $pids; do wait "$p" || fail "a concurrent backup failed"; done
sv check $S3 --read-data -q || fail "check after concurrent backups and prune"
for n in x y z; do
	sv restore latest $S3 --node "$n" --target "$T/r-$n" -q || fail "restore $n"
	f=$(ls "$T"/$n/data*/legacy_tables/*/nb-30-big-Data.db); t=$(basename "$(dirname "$f")"); t=${t%-*}
	cmp -s "$f" "$T/r-$n/legacy_tables/$t/nb-30-big-Data.db" || fail "node $n restore differs"
done
left=$(rgw_aws s3api list-multipart-uploads --bucket "$bucket" --query 'Uploads[].Key' --output text)
[ -z "$left" ] || [ "$left" = None ] || fail "multipart uploads left: $left"
ok "S3: three concurrent backups + prune: check --read-data passes, every node restores bit-exact, no uploads left"

echo "new passphrase" > "$T/pw2"; chmod 600 "$T/pw2"
orig=$(sv key list $S3 --json | python3 -c 'import json,sys; print([k["id"] for k in json.loads(sys.stdin.read().strip().splitlines()[-1]) if k["current"]][0])')
sv key add $S3 --new-password-file "$T/pw2" -q || fail "key add"
sv key remove $S3 "${orig:0:12}" --password-file "$T/pw2" -q || fail "key remove"
sv snapshots $S3 >/dev/null 2>&1; [ $? -eq 3 ] || fail "old passphrase still opens the S3 repository"
sv snapshots $S3 --password-file "$T/pw2" -q >/dev/null || fail "new passphrase"
ok "S3: key rotation"
echo "$checks checks passed"
