#!/bin/bash
# Test runner: every tests/test_* binary and tests/t_*.sh script, each under
# a timeout. Exit 0 pass, 77 skip, anything else fail (liburing's T_EXIT_*).
# Prints the failures' names and a closing "N passed, N failed, N skipped".
# TESTS="name ..." runs a subset; TEST_TIMEOUT sets the per-test limit.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export SSTVAULT=${SSTVAULT:-$PWD/sstvault}
case "$BUILD" in /*) export SV_BUILD=$BUILD;; *) export SV_BUILD=$PWD/$BUILD;; esac
export SV_FIXTURES=${SV_FIXTURES:-$(cd .. && pwd)/shared/fixtures/cassandra-sstables}
timeout_s=${TEST_TIMEOUT:-600}
# Debian's python3 first: a pyenv shim ahead of it on PATH costs a second
# per start, and the tests start python3 hundreds of times.
[ -x /usr/bin/python3 ] && export PATH=/usr/bin:$PATH
pass=0 fail=0 skip=0 failed=""
logdir=$BUILD/test-logs
mkdir -p "$logdir"
# ThreadSanitizer (make tsan) writes its reports to files of their own,
# one directory per test, so that a report fails its test even where the
# test throws a command's stderr away, kills it, or expects it to fail
# (TSan's exit status, 66, passes such a check). No effect without TSan.
tsan_opts="suppressions=$PWD/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
list=""
for t in "$BUILD"/tests/test_* tests/t_*.sh; do
	[ -e "$t" ] || continue
	case "$t" in *.d|*.o) continue;; esac
	name=$(basename "$t" .sh)
	if [ -n "${TESTS:-}" ] && ! echo " $TESTS " | grep -q " $name "; then continue; fi
	list="$list $t"
done
# S3 tests share one Ceph RADOS Gateway (tests/rgw.sh), started once.
if [ -z "${SV_S3_ENDPOINT:-}" ] && [ -z "${SV_RGW_SHARED_DIR:-}" ] &&
	echo "$list" | grep -q 't_s3'; then
	export SV_RGW_SHARED_DIR=$(mktemp -d /tmp/sv-rgw-shared.XXXXXX)
	trap 'tests/rgw.sh stop "$SV_RGW_SHARED_DIR" >/dev/null 2>&1; rm -rf "$SV_RGW_SHARED_DIR"' EXIT
fi
for t in $list; do
	name=$(basename "$t" .sh)
	start=$(date +%s%N)
	tsdir=$SV_BUILD/test-logs/$name.tsan
	rm -rf "$tsdir" && mkdir -p "$tsdir"
	TSAN_OPTIONS="$tsan_opts log_path=$tsdir/report" \
		timeout -k 10 "$timeout_s" "$t" >"$logdir/$name.log" 2>&1 </dev/null
	rc=$?
	if ls "$tsdir"/report.* >/dev/null 2>&1; then
		echo "ThreadSanitizer reports, also in $tsdir:" >>"$logdir/$name.log"
		cat "$tsdir"/report.* >>"$logdir/$name.log"
		rc=66
	else
		rmdir "$tsdir"
	fi
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	secs="$((ms / 1000)).$(( (ms % 1000) / 100 ))"
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS %-32s %6ss\n' "$name" "$secs";;
	77) skip=$((skip + 1)); printf 'SKIP %-32s (%s)\n' "$name" "$(tail -n 1 "$logdir/$name.log")";;
	*) fail=$((fail + 1)); failed="$failed $name"
	   printf 'FAIL %-32s rc=%d, log %s\n' "$name" "$rc" "$logdir/$name.log"
	   tail -n 30 "$logdir/$name.log" | sed 's/^/    /';;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
