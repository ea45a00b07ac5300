#!/bin/bash
# Format compatibility: a repository written by sstvault format v1 and kept
# in tests/golden/ must keep opening, checking and restoring bit-exact. A
# change to the on-disk format breaks this test on purpose (bump the version
# and keep a reader for v1 instead).
. "$(dirname "$0")/lib.sh"
G=$(cd "$(dirname "$0")/golden" && pwd)
cp -a "$G/v1-repo" "$T/repo"
sv check --repo "$T/repo" --password-file "$G/v1.pass" --read-data -q || fail "check --read-data of the golden repository"
ok "golden v1 repository passes check --read-data"
sv restore latest --repo "$T/repo" --password-file "$G/v1.pass" --target "$T/out" -q || fail "restore"
got=$(cd "$T/out" && find . -type f -o -type l | sort | while read -r f; do
	if [ -L "$f" ]; then echo "l $(readlink "$f") $f"
	else echo "$(sha256sum < "$f" | cut -c1-64) $(stat -c %a "$f") $f"; fi
done)
[ "$got" = "$(cat "$G/v1.expected")" ] || { diff <(echo "$got") "$G/v1.expected"; fail "restored content differs"; }
ok "restored files match the recorded sha256 and modes"
[ -d "$T/out/empty" ] || fail "empty directory not restored"
m=$(stat -c %.9Y "$T/out/ks1/tbl-0123456789abcdef0123456789abcdef/nb-1-big-Data.db")
case "$m" in 1704164645.123456789) ;; *) fail "mtime not restored: $m";; esac
ok "mtime restored to the nanosecond, empty directory present"
echo wrong > "$T/bad"
sv snapshots --repo "$T/repo" --password-file "$T/bad" >/dev/null 2>&1; [ $? -eq 3 ] || fail "wrong passphrase must exit 3"
ok "wrong passphrase rejected"
