#!/bin/bash
# Issue 2 acceptance: round trip of the real Cassandra fixtures through a
# local repository (bytes, mode, mtime), dedup of a second backup, no
# plaintext names in the repository, wrong passphrase, damaged pack.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found at $SV_FIXTURES"; exit 77; }
SRC=$T/src
cp -a "$SV_FIXTURES/data" "$SRC"
R=$T/repo

sv init --repo "$R" --password-file "$PW" >/dev/null || fail "init"
ok "init"
sv init --repo "$R" --password-file "$PW" 2>/dev/null; [ $? -eq 3 ] || fail "second init must fail with exit 3"
ok "init refuses an existing repository"

out=$(sv backup --repo "$R" --password-file "$PW" --data-dir "$SRC" --json) || fail "backup"
total=$(echo "$out" | json_get bytes)
new1=$(echo "$out" | json_get bytes_new)
[ "$new1" -gt 0 ] && [ "$new1" -le "$total" ] || fail "first backup new bytes $new1 of $total"
ok "first backup: $total bytes, $new1 new"

sv restore latest --repo "$R" --password-file "$PW" --target "$T/out" -q || fail "restore"
same_tree "$SRC" "$T/out" || fail "restored tree differs"
ok "restore is bit-exact with modes and mtimes ($(find "$SRC" -type f | wc -l) files)"

before=$(du -sb "$R" | cut -f1)
out=$(sv backup --repo "$R" --password-file "$PW" --data-dir "$SRC" --json) || fail "second backup"
after=$(du -sb "$R" | cut -f1)
new2=$(echo "$out" | json_get bytes_new)
up2=$(echo "$out" | json_get bytes_uploaded)
grow=$((after - before))
[ "$new2" -eq 0 ] && [ "$up2" -eq 0 ] || fail "second backup stored new data: new=$new2 uploaded=$up2"
# Only the new snapshot object may be added: a few KiB for 542 files.
[ "$grow" -lt 65536 ] || fail "second backup grew the repository by $grow bytes"
ok "second backup: 0 new bytes, repository grew by $grow bytes (snapshot only)"

# Every command's --json output parses and carries its documented fields.
sv check --repo "$R" --password-file "$PW" --json | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert d["ok"] and d["snapshots"] == 2 and d["packs"] > 0, d' || fail "check --json"
sv snapshots --repo "$R" --password-file "$PW" --json | python3 -c 'import json,sys; v=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert len(v) == 2 and all(k in v[0] for k in ("id","time","node","type","files","bytes")), v' || fail "snapshots --json"
sv restore latest --repo "$R" --password-file "$PW" --target "$T/out-json" --json | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); assert d["ok"] and d["files"] > 500, d' || fail "restore --json"
ok "check, snapshots and restore --json parse with their fields"

# No plaintext names anywhere in the repository objects.
for word in legacy_tables legacy_ka_simple legacy_nb_clust Data.db Statistics.db TOC.txt CompressionInfo; do
	if grep -rl --exclude=config -- "$word" "$R" >/dev/null; then
		fail "repository contains plaintext '$word': $(grep -rl -- "$word" "$R" | head -3)"
	fi
done
ok "no keyspace, table or file names in any object"

# Wrong passphrase: exit 3, clear message, nothing written.
echo "wrong" > "$T/bad"
snap=$(cd "$R" && find . -type f | sort | xargs sha256sum | sha256sum)
err=$(sv backup --repo "$R" --password-file "$T/bad" --data-dir "$SRC" 2>&1 >/dev/null); rc=$?
[ $rc -eq 3 ] || fail "wrong passphrase exit $rc, want 3"
echo "$err" | grep -q "wrong passphrase" || fail "message: $err"
[ "$snap" = "$(cd "$R" && find . -type f | sort | xargs sha256sum | sha256sum)" ] || fail "repository changed"
ok "wrong passphrase: exit 3, '$err', repository unchanged"

# Damage one byte inside the largest pack; check must name it and the
# files whose chunks it holds, and restore must refuse exactly those.
sv check --repo "$R" --password-file "$PW" --read-data -q || fail "check before damage"
python3 - "$R" <<'PY' || fail "damage"
import os, sys
packs = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(sys.argv[1], "data")) for f in fs]
p = max(packs, key=os.path.getsize)
with open(p, "r+b") as f:
    f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 0x55]))
open(sys.argv[1] + "/../damaged", "w").write(os.path.basename(p))
PY
dpack=$(cat "$T/damaged")
err=$(sv check --repo "$R" --password-file "$PW" --read-data 2>&1); rc=$?
[ $rc -eq 5 ] || fail "check --read-data after damage: exit $rc, want 5"
echo "$err" | grep -q "$dpack" || fail "check does not name the damaged pack $dpack: $err"
affected=$(echo "$err" | sed -n 's/.*: file \(.*\) is affected.*/\1/p' | sort -u)
[ -n "$affected" ] || fail "check names no affected file: $err"
ok "check --read-data: exit 5, names pack ${dpack:0:12}... and $(echo "$affected" | wc -l) affected file(s)"
err=$(sv restore latest --repo "$R" --password-file "$PW" --target "$T/out2" 2>&1); rc=$?
[ $rc -eq 5 ] || fail "restore of damaged file: exit $rc, want 5"
for f in $affected; do
	echo "$err" | grep -q "$f" || fail "restore does not name $f: $err"
	[ ! -e "$T/out2/$f" ] || fail "damaged file $f was written under its real name"
done
[ -z "$(find "$T/out2" -name '*.sstvault-tmp')" ] || fail "temporary files left behind"
# Every file not affected was restored intact.
n=0
while read -r f; do
	echo "$affected" | grep -qx "$f" && continue
	cmp -s "$SRC/$f" "$T/out2/$f" || fail "unaffected file $f differs"
	n=$((n + 1))
done < <(cd "$SRC" && find . -type f -printf '%P\n')
ok "restore: exit 5, names the affected file(s), writes none of them; $n other files intact"

# Truncate that pack: the index places blobs past its new end. Restore
# must call it damage (exit 5, like check), name the pack as truncated,
# and write none of its files, with io_uring and with the pread path.
truncate -s 4096 "$(find "$R/data" -name "$dpack")" || fail "truncate"
err=$(sv check --repo "$R" --password-file "$PW" --read-data 2>&1); rc=$?
[ $rc -eq 5 ] || fail "check of a truncated pack: exit $rc, want 5"
for mode in uring pread; do
	rm -rf "$T/out3"
	err=$(if [ $mode = pread ]; then export SSTVAULT_NO_URING=1; fi
	      sv restore latest --repo "$R" --password-file "$PW" --target "$T/out3" 2>&1); rc=$?
	[ $rc -eq 5 ] || fail "restore with a truncated pack ($mode): exit $rc, want 5: $err"
	echo "$err" | grep -q "$dpack ends before the blobs at .* the pack is truncated" ||
		fail "restore ($mode) does not say the pack is truncated: $err"
	for f in $affected; do
		[ ! -e "$T/out3/$f" ] || fail "file $f of a truncated pack was written ($mode)"
	done
done
ok "truncated pack: check and restore (io_uring and pread) exit 5 and name it as truncated"
echo "$checks checks passed"
