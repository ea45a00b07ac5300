#!/bin/bash
# Replay the fuzz corpus without libFuzzer (STYLE.md 21): every
# tests/fuzz/fuzz_<target>.c is linked with tests/fuzz/driver.c against
# $SV_BUILD/libsv.a using the normal compiler, then fed every file of
# tests/fuzz/corpus/<target>/ and tests/fuzz/crashes/<target>/. A crash,
# a sanitizer report (when libsv.a is a sanitizer build, as in make asan)
# or a violated property fails the test. scripts/fuzz.sh grows the corpus.
set -u
cd "$(dirname "$0")/.."
B=${SV_BUILD:-$PWD/build}
lib=$B/libsv.a
out=$B/fuzz-regress
PKGS="liburing libzstd libxxhash libcrypto libcurl jansson yaml-0.1 zlib liblz4 libdeflate"

if [ ! -f "$lib" ]; then
	echo "no $lib: run make first"
	exit 77
fi
mkdir -p "$out" || exit 1

# Link with the sanitizers libsv.a was built with, if any.
syms=$(nm "$lib" 2>/dev/null)
san=""
case "$syms" in *__asan_init*) san="$san,address";; esac
case "$syms" in *__ubsan_handle*) san="$san,undefined";; esac
case "$syms" in *__tsan_init*) san="$san,thread";; esac
sanflags=""
[ -n "$san" ] && sanflags="-fsanitize=${san#,} -fno-sanitize-recover=all"

CC=${CC:-cc}
CFLAGS="-std=c11 -D_GNU_SOURCE -DHAVE_CURL=1 -I. -O1 -g -Wall -Wextra -Werror
	$sanflags $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lpthread -lm"

fail=0 total=0 targets=0
for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	bin=$out/$t
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ "$lib" -nt "$bin" ] ||
	   [ tests/fuzz/driver.c -nt "$bin" ] || [ tests/fuzz/fuzz.h -nt "$bin" ]; then
		if ! $CC $CFLAGS -o "$bin" "$src" tests/fuzz/driver.c "$lib" \
			$LIBS; then
			echo "FAIL $t: does not build"
			fail=1
			continue
		fi
	fi
	targets=$((targets + 1))
	if "$bin" "tests/fuzz/corpus/$t" "tests/fuzz/crashes/$t" \
		>"$out/$t.log" 2>&1; then
		n=$(sed -n 's/^\([0-9]*\) inputs replayed$/\1/p' "$out/$t.log")
		total=$((total + ${n:-0}))
		echo "ok   $t: ${n:-0} inputs"
	else
		echo "FAIL $t: last input and report:"
		grep '^input ' "$out/$t.log" | tail -n 1
		grep -v '^input ' "$out/$t.log" | tail -n 20
		fail=1
	fi
done
echo "$targets targets, $total inputs replayed${san:+ (sanitizers: ${san#,})}"
exit $fail
