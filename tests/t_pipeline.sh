#!/bin/bash
# The backup and restore pipelines at their edges (issue 5):
#  - one sparse file larger than 4 GiB, with data on both sides of the
#    4 GiB boundary and at its very end, so that every 32-bit offset or
#    length truncation would show up as wrong bytes;
#  - many small files (thousands of one-chunk and empty files);
#  - both runs inside a memory cap of 256 MiB (a cgroup, v1 or v2, or
#    RLIMIT_AS where neither can be made), which the fixed buffer pools
#    (`-v` prints their ceiling) must respect whatever the data size.
# Content is compared byte for byte after the restore.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

CAP_MB=256
asan=0
case "$SSTVAULT" in *asan*|*tsan*) asan=1;; esac
if ldd "$SSTVAULT" 2>/dev/null | grep -qE 'libasan|libtsan'; then asan=1; fi
# Sanitizer builds keep freed memory in quarantine and shadow it: they get
# a looser cap, and their RSS is not held to the target.
[ $asan = 1 ] && CAP_MB=1024

# --- the data: a 4.5 GiB sparse file and 3000 small files --------------
D=$T/data
mkdir -p "$D/small"
big=$D/big.db
size=$(( (4 << 30) + (512 << 20) + 12345 ))
truncate -s "$size" "$big"
put() {   # put OFFSET LENGTH SEED: deterministic random bytes at OFFSET
	python3 - "$big" "$1" "$2" "$3" <<'PY'
import random, sys
p, off, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = random.Random(seed)
with open(p, "r+b") as f:
    f.seek(off)
    f.write(r.randbytes(n))
PY
}
put 0 $((3 << 20)) a                               # head
put $(( (4 << 30) - (1 << 20) - 7 )) $((2 << 20)) b # across 4 GiB
put $(( (4 << 30) + (256 << 20) )) 4096 c           # beyond 4 GiB
put $(( size - 70000 )) 70000 d                     # the tail
python3 - "$D/small" <<'PY'
import os, random, sys
r = random.Random(7)
for i in range(3000):
    d = os.path.join(sys.argv[1], "d%02d" % (i % 50))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d" % i), "wb") as f:
        f.write(r.randbytes(r.choice([0, 1, 100, 4096, 20000])))
PY
ok "data: $(du -h --apparent-size "$big" | cut -f1) sparse file ($(du -k "$big" | cut -f1) KiB allocated), 3000 small files"

sv init --repo "$T/repo" --password-file "$PW" >/dev/null || fail "init"

# --- the memory cap -------------------------------------------------------
# capped CMD...: run CMD inside a memory cap of CAP_MB; sets CAP_KIND and,
# after the run, PEAK_KB (the cap's own high-water mark where it has one).
cg=""
CAP_KIND=none
if [ -w /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/sv-pipe-$$" 2>/dev/null; then
	cg=/sys/fs/cgroup/memory/sv-pipe-$$
	echo $((CAP_MB << 20)) > "$cg/memory.limit_in_bytes" || fail "cgroup v1 limit"
	CAP_KIND="cgroup v1 memory.limit_in_bytes"
elif [ -f /sys/fs/cgroup/cgroup.controllers ] &&
	grep -qw memory /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null &&
	mkdir "/sys/fs/cgroup/sv-pipe-$$" 2>/dev/null; then
	cg=/sys/fs/cgroup/sv-pipe-$$
	echo $((CAP_MB << 20)) > "$cg/memory.max" || fail "cgroup v2 limit"
	echo 0 > "$cg/memory.swap.max" 2>/dev/null
	CAP_KIND="cgroup v2 memory.max"
elif [ $asan = 0 ] && command -v prlimit >/dev/null; then
	CAP_KIND="RLIMIT_AS (prlimit --as)"
fi
[ -n "$cg" ] && trap 'rmdir "$cg" 2>/dev/null; rm -rf "$T"' EXIT
capped() {
	if [ -n "$cg" ]; then
		# A fresh high-water mark per run (v1 resets on write).
		echo 0 > "$cg/memory.max_usage_in_bytes" 2>/dev/null
		sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' \
			sh "$cg" "$@"
	elif [ "$CAP_KIND" != none ]; then
		# Address space, not resident memory: io_uring, thread stacks
		# and glibc's per-thread arenas reserve more than they touch,
		# so the same cap is a stricter test here.
		prlimit --as=$(( (CAP_MB + 768) << 20 )) -- "$@"
	else
		"$@"
	fi
}
peak_kb() {
	if [ -f "$cg/memory.max_usage_in_bytes" ]; then
		echo $(( $(cat "$cg/memory.max_usage_in_bytes") >> 10 ))
	elif [ -f "$cg/memory.peak" ]; then
		echo $(( $(cat "$cg/memory.peak") >> 10 ))
	else
		echo 0
	fi
}
oom_kills() {
	local f=$cg/memory.oom_control
	[ -f "$cg/memory.events" ] && f=$cg/memory.events
	[ -n "$cg" ] && awk '$1 == "oom_kill" { print $2 }' "$f" 2>/dev/null || echo 0
}
[ "$CAP_KIND" = none ] && echo "note: no memory cap available here (no writable cgroup, sanitizer build without prlimit); runs are uncapped"

# --- backup ---------------------------------------------------------------
t0=$(date +%s%N)
capped /usr/bin/time -f 'maxrss_kb %M' -o "$T/time.b" \
	"$SSTVAULT" backup --repo "$T/repo" --password-file "$PW" \
	--data-dir "$D" -v --json >"$T/b.json" 2>"$T/b.err"
rc=$?
bms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] || fail "backup under the cap ($CAP_KIND) exit $rc: $(tail -5 "$T/b.err")"
bpeak=$(peak_kb)
brss=$(awk '/maxrss_kb/ { print $2 }' "$T/time.b")
ceiling=$(sed -n 's/.*memory ceiling \([0-9.]*\) MiB.*/\1/p' "$T/b.err" | head -1)
[ -n "$ceiling" ] || fail "backup -v does not print its memory ceiling: $(head -5 "$T/b.err")"
files=$(json_get files < "$T/b.json")
[ "$files" -eq 3001 ] || fail "backup saw $files files, want 3001"
bytes=$(json_get bytes < "$T/b.json")
[ "$bytes" -gt $((4 << 30)) ] || fail "backup counted $bytes bytes, want more than 4 GiB"
ok "backup of $(( bytes >> 20 )) MiB in $bms ms under $CAP_KIND ${CAP_MB} MiB: peak RSS $((brss >> 10)) MiB, cgroup peak $((bpeak >> 10)) MiB, ceiling printed ${ceiling} MiB"
if [ $asan = 0 ]; then
	[ "$brss" -le $((CAP_MB << 10)) ] || fail "backup peak RSS ${brss} KiB above ${CAP_MB} MiB"
	awk -v c="$ceiling" -v r="$brss" 'BEGIN { exit !(r / 1024 <= c + 48) }' ||
		fail "backup peak RSS $((brss >> 10)) MiB exceeds the printed ceiling ${ceiling} MiB by more than 48 MiB"
	ok "peak RSS within the printed ceiling + 48 MiB and the ${CAP_MB} MiB cap"
fi
[ "$(oom_kills)" = 0 ] || fail "the cgroup OOM-killed a process"

# The repository holds the sparse file's zeros once: far less than 4 GiB.
repo_kb=$(du -sk "$T/repo" | cut -f1)
[ "$repo_kb" -lt $((64 << 10)) ] || fail "repository is ${repo_kb} KiB, want < 64 MiB (zero chunks deduplicated)"
ok "repository ${repo_kb} KiB for $(( bytes >> 20 )) MiB logical (zero chunks stored once)"

sv check --repo "$T/repo" --password-file "$PW" --read-data >/dev/null 2>"$T/c.err" ||
	fail "check --read-data: $(tail -3 "$T/c.err")"
ok "check --read-data"

# --- restore --------------------------------------------------------------
t0=$(date +%s%N)
capped /usr/bin/time -f 'maxrss_kb %M' -o "$T/time.r" \
	"$SSTVAULT" restore latest --repo "$T/repo" --password-file "$PW" \
	--target "$T/out" --no-fsync >/dev/null 2>"$T/r.err"
rc=$?
rms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ $rc -eq 0 ] || fail "restore under the cap exit $rc: $(tail -5 "$T/r.err")"
rpeak=$(peak_kb)
rrss=$(awk '/maxrss_kb/ { print $2 }' "$T/time.r")
ok "restore in $rms ms under $CAP_KIND: peak RSS $((rrss >> 10)) MiB, cgroup peak $((rpeak >> 10)) MiB"
if [ $asan = 0 ]; then
	[ "$rrss" -le $((CAP_MB << 10)) ] || fail "restore peak RSS ${rrss} KiB above ${CAP_MB} MiB"
fi
[ "$(oom_kills)" = 0 ] || fail "the cgroup OOM-killed a process"

r=$T/out/big.db
[ "$(stat -c %s "$r")" = "$size" ] || fail "restored size $(stat -c %s "$r"), want $size"
cmp "$big" "$r" || fail "restored sparse file differs"
for off in 0 $(( (4 << 30) - 7 )) $(( (4 << 30) + (256 << 20) )) $(( size - 70000 )); do
	a=$(tail -c +$((off + 1)) "$big" | head -c 4096 | sha256sum)
	b=$(tail -c +$((off + 1)) "$r" | head -c 4096 | sha256sum)
	[ "$a" = "$b" ] || fail "bytes at offset $off differ"
done
ok "the ${size}-byte file is byte-identical (cmp), including data across 4 GiB and at its end"
rm -f "$r" "$big"
same_tree "$D" "$T/out" || fail "small files differ after restore"
ok "3000 small files restored bit-exact (bytes, mode, mtime)"
echo "$checks checks passed"
