#!/bin/bash
# The README's quick start, run literally (issue 8): the block between the
# quickstart markers, in a clean shell, with the built binary first on PATH.
. "$(dirname "$0")/lib.sh"
top=$(cd "$(dirname "$0")/.." && pwd)
script=$(sed -n '/<!-- quickstart:begin -->/,/<!-- quickstart:end -->/p' "$top/README.md" | sed '1,2d;$d' | sed '$d')
[ -n "$script" ] || fail "no quick start block in README.md"
bindir=$(dirname "$SSTVAULT")
rm -rf /tmp/sstvault-quickstart
out=$(cd "$top" && env -u SSTVAULT_CACHE_DIR HOME="$T" PATH="$bindir:$PATH" bash -euc "$script" 2>&1); rc=$?
rm -rf /tmp/sstvault-quickstart
[ $rc -eq 0 ] || fail "quick start failed (rc $rc): $out"
echo "$out" | tail -n 1 | grep -qx "sstable bytes" || fail "quick start did not restore the file: $out"
ok "README quick start runs as written and restores the SSTable"
