# Shared helpers for shell tests (sourced). Each test gets a scratch
# directory removed on exit, a passphrase file, and check/fail helpers.
set -u
SSTVAULT=${SSTVAULT:-$(cd "$(dirname "$0")/.." && pwd)/sstvault}
SV_FIXTURES=${SV_FIXTURES:-$(cd "$(dirname "$0")/../.." && pwd)/shared/fixtures/cassandra-sstables}
# Tests use a cheap scrypt cost so each open takes milliseconds.
export SSTVAULT_TEST_SCRYPT_N=${SSTVAULT_TEST_SCRYPT_N:-1024}
unset SSTVAULT_REPO SSTVAULT_PASSWORD_FILE SSTVAULT_PASSWORD_COMMAND
T=$(mktemp -d /tmp/sv-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
export SSTVAULT_CACHE_DIR=$T/cache
PW=$T/pw
echo "correct horse battery staple" > "$PW"
chmod 600 "$PW"
checks=0
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
sv() { "$SSTVAULT" "$@"; }
# Compare two trees: bytes, mode and mtime (ns) of every entry.
same_tree() {
	python3 - "$1" "$2" <<'PY'
import os, sys
a, b = sys.argv[1], sys.argv[2]
bad = 0
for root, dirs, files in os.walk(a):
    for n in dirs + files:
        pa = os.path.join(root, n)
        pb = os.path.join(b, os.path.relpath(pa, a))
        sa, sb = os.lstat(pa), os.lstat(pb) if os.path.lexists(pb) else None
        if sb is None:
            print("missing", pb); bad += 1; continue
        if (sa.st_mode & 0o7777) != (sb.st_mode & 0o7777):
            print("mode differs", pb, oct(sa.st_mode), oct(sb.st_mode)); bad += 1
        if os.path.isfile(pa) and not os.path.islink(pa):
            if sa.st_mtime_ns != sb.st_mtime_ns:
                print("mtime differs", pb, sa.st_mtime_ns, sb.st_mtime_ns); bad += 1
            if open(pa, "rb").read() != open(pb, "rb").read():
                print("content differs", pb); bad += 1
for root, dirs, files in os.walk(b):
    for n in dirs + files:
        pb = os.path.join(root, n)
        if not os.path.lexists(os.path.join(a, os.path.relpath(pb, b))):
            print("extra", pb); bad += 1
sys.exit(1 if bad else 0)
PY
}
json_get() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[sys.argv[1]])' "$1"; }
