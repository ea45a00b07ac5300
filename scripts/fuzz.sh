#!/bin/bash
# Fuzz every parser of untrusted bytes (STYLE.md 21) with libFuzzer, ASan
# and UBSan: build each tests/fuzz/fuzz_<target>.c with clang, then run it
# for FUZZ_SECONDS on its corpus.
#
#   scripts/fuzz.sh [target ...]      default: every tests/fuzz/fuzz_*.c
#
#   FUZZ_SECONDS=60      time per target
#   FUZZ_JOBS=1          targets fuzzed at the same time
#   FUZZ_BUILD=build-fuzz
#   FUZZ_MERGE=1         afterwards, merge inputs that add coverage into
#                        tests/fuzz/corpus/<target>/ (minimized; commit them)
#   FUZZ_ARGS="..."      extra libFuzzer flags
#
# Inputs: tests/fuzz/corpus/<target>/ (kept in git, replayed by
# tests/t_fuzz_regress.sh in make test; seeded by tests/fuzz/gen_corpus.c
# when empty) plus a working corpus in $FUZZ_BUILD/corpus/<target>/ that
# grows across runs. Crashes, leaks, timeouts and property violations are
# saved to tests/fuzz/crashes/<target>/, where make test replays them too
# until the bug is fixed. Exit status: 0 if no target found anything.
set -u
cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-1}
B=${FUZZ_BUILD:-build-fuzz}
PKGS="liburing libzstd libxxhash libcrypto libcurl jansson yaml-0.1 zlib liblz4 libdeflate"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

die() {
	echo "fuzz: $*" >&2
	exit 1
}

# clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev).
have_libfuzzer() {
	command -v clang >/dev/null 2>&1 || return 1
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)'\
'{ (void)d; (void)n; return 0; }\n' >"$B/probe.c"
	clang -fsanitize=fuzzer -o "$B/probe" "$B/probe.c" >/dev/null 2>&1
}

mkdir -p "$B" || die "cannot create $B"
if ! have_libfuzzer; then
	pkgs="clang libclang-rt-14-dev"
	if [ "$(id -u)" = 0 ]; then
		echo "fuzz: installing $pkgs"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $pkgs >/dev/null ||
			die "cannot install $pkgs"
	fi
	have_libfuzzer || die "clang with libFuzzer is needed: apt-get install $pkgs"
fi

# The library, instrumented for coverage (fuzzer-no-link) and sanitizers.
# clang does not know some of gcc's warning options, and a clang-only
# warning in the library must not stop fuzzing: the gcc build keeps -Werror.
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wundef -Wpointer-arith -Wvla"
make --no-print-directory -s BUILD="$B" CC=clang WARN="$WARN" OPT="-O1 -g" \
	SAN="address,undefined,fuzzer-no-link" "$B/libsv.a" ||
	die "cannot build $B/libsv.a"

CFLAGS="-std=c11 -D_GNU_SOURCE -DHAVE_CURL=1 -I. -O1 -g $WARN $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"

if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(for f in tests/fuzz/fuzz_*.c; do basename "$f" .c; done)
fi

mkdir -p "$B/fuzz"
for t in $targets; do
	[ -f "tests/fuzz/$t.c" ] || die "no target tests/fuzz/$t.c"
	clang $CFLAGS $SAN -fsanitize=fuzzer -o "$B/fuzz/$t" "tests/fuzz/$t.c" \
		"$B/libsv.a" $LIBS || die "cannot build $t"
done

# Seeds for targets whose stored corpus is empty.
need_seeds=0
for t in $targets; do
	[ -n "$(ls -A "tests/fuzz/corpus/$t" 2>/dev/null)" ] || need_seeds=1
done
if [ $need_seeds = 1 ]; then
	clang $CFLAGS $SAN -fsanitize=fuzzer-no-link -o "$B/gen_corpus" \
		tests/fuzz/gen_corpus.c "$B/libsv.a" $LIBS ||
		die "cannot build gen_corpus"
	"$B/gen_corpus" "$B/seeds" || die "gen_corpus failed"
	for t in $targets; do
		if [ -z "$(ls -A "tests/fuzz/corpus/$t" 2>/dev/null)" ]; then
			mkdir -p "tests/fuzz/corpus/$t"
			cp "$B/seeds/$t"/* "tests/fuzz/corpus/$t/"
		fi
	done
fi

run_one() {
	local t=$1 log="$B/fuzz/$1.log"
	local before after

	mkdir -p "$B/corpus/$t" "tests/fuzz/crashes/$t"
	before=$(ls "tests/fuzz/crashes/$t" | wc -l)
	# -timeout: one input may take 10 s; slower is a finding. Leaks are
	# findings too (detect_leaks is on under ASan by default).
	"$B/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 \
		-rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="tests/fuzz/crashes/$t/" ${FUZZ_ARGS:-} \
		"$B/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
	after=$(ls "tests/fuzz/crashes/$t" | wc -l)
	if [ "${FUZZ_MERGE:-0}" = 1 ]; then
		"$B/fuzz/$t" -merge=1 "tests/fuzz/corpus/$t" "$B/corpus/$t" \
			>"$B/fuzz/$t.merge.log" 2>&1
	fi
	printf '%-20s execs %-10s exec/s %-7s corpus %-5s crashes %s\n' "$t" \
		"$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
		"$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")" \
		"$(ls "$B/corpus/$t" | wc -l)" "$((after - before))"
	[ "$after" = "$before" ]
}

fail=0
running=0
for t in $targets; do
	run_one "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || fail=1
		running=$((running - 1))
	fi
done
while [ "$running" -gt 0 ]; do
	wait -n || fail=1
	running=$((running - 1))
done

if [ $fail != 0 ]; then
	echo "fuzz: findings saved under tests/fuzz/crashes/ (logs: $B/fuzz/*.log)"
	echo "fuzz: reproduce with $B/fuzz/<target> <file>"
	exit 1
fi
echo "fuzz: no findings"
