#!/bin/bash
# Issue 8 acceptance: progress on a terminal and plain lines without one,
# --json on every command, the Prometheus metrics file, every documented
# exit code, the config file's precedence and `config show` masking.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found"; exit 77; }
command -v script >/dev/null || { echo "script(1) missing (util-linux)"; exit 77; }
GEN=${SV_BUILD:-build}/perf/gen_dataset
R=$T/repo
export SSTVAULT_REPO=$R SSTVAULT_PASSWORD_FILE=$PW
sv init -q || fail init
[ -x "$GEN" ] && "$GEN" --out "$T/gen" --size 96M --seed 5 --no-snapshot >/dev/null || cp -a "$SV_FIXTURES/data" "$T/gen"

# 1. progress: a live line under a pseudo-terminal, plain lines otherwise
script -qec "$SSTVAULT backup --data-dir $T/gen --threads 1" "$T/tty.log" >/dev/null || fail "backup under a pty"
n=$(grep -o $'\r\033\[K' "$T/tty.log" | wc -l)
[ "$n" -ge 2 ] || fail "progress line drawn $n time(s) on the terminal"
ok "terminal: progress line redrawn $n times"
sv backup --data-dir "$SV_FIXTURES/data" >"$T/plain.out" 2>"$T/plain.err" || fail "backup without a terminal"
if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T/plain.out" "$T/plain.err"; then fail "control characters without a terminal"; fi
grep -q "^backup: .* files" "$T/plain.err" || fail "no plain progress line: $(cat "$T/plain.err")"
ok "no terminal: plain progress lines, no control characters"

# 2. --json: every line of every command is JSON, the last one the summary
jsonlines() { python3 -c '
import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
assert lines, "no output"
objs = [json.loads(l) for l in lines]
last = objs[-1]
for k in sys.argv[1:]:
    assert k in (last if isinstance(last, dict) else last[0]), (k, last)
' "$@"; }
sv backup --data-dir "$SV_FIXTURES/data" --json | jsonlines command snapshot files bytes bytes_read bytes_new bytes_uploaded warnings upload || fail "backup --json"
sv snapshots --json | jsonlines id time node type files bytes || fail "snapshots --json"
sv restore latest --target "$T/r1" --json | jsonlines command files bytes ok || fail "restore --json"
sv check --json | jsonlines command ok packs snapshots || fail "check --json"
sv forget --keep-last 5 --dry-run --json | jsonlines command kept removed || fail "forget --json"
sv prune --dry-run --json | jsonlines command packs_before packs_deleted || fail "prune --json"
sv key list --json | jsonlines id kind current || fail "key --json"
sv config show --json | jsonlines repo || fail "config --json"
sv init --repo "$T/r2" --json | jsonlines command repo || fail "init --json"
ok "--json on every command parses and carries its documented fields"

# 3. metrics file in Prometheus text format
sv backup --data-dir "$SV_FIXTURES/data" --metrics-file "$T/m.prom" -q || fail "backup with metrics"
python3 - "$T/m.prom" <<'PY' || fail "metrics file does not parse"
import re, sys
text = open(sys.argv[1]).read()
names = set()
for line in text.splitlines():
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*",?)*)\} (\S+)', line)
    assert m, "bad line: " + line
    float(m.group(3))
    names.add(m.group(1))
need = {"sstvault_last_run_success", "sstvault_last_run_duration_seconds", "sstvault_last_run_bytes_read",
        "sstvault_last_run_bytes_new", "sstvault_last_run_bytes_uploaded", "sstvault_last_run_files",
        "sstvault_last_run_errors", "sstvault_last_success_timestamp_seconds", "sstvault_last_run_stage_bytes_per_second"}
assert need <= names, need - names
assert 'sstvault_last_run_success{command="backup"' in text and "} 1" in text
PY
if command -v promtool >/dev/null; then promtool check metrics < "$T/m.prom" || fail promtool; fi
ok "metrics file parses as Prometheus text format with the documented series"
echo wrong > "$T/badpw"
sv snapshots --password-file "$T/badpw" --metrics-file "$T/m2.prom" 2>/dev/null
cp "$T/m.prom" "$T/m3.prom"
sv backup --data-dir "$T/nonexistent" --metrics-file "$T/m3.prom" -q 2>/dev/null
grep -q 'sstvault_last_run_success{command="backup".*} 0' "$T/m3.prom" || fail "failed run not recorded"
old=$(grep '^sstvault_last_success_timestamp_seconds' "$T/m.prom" | awk '{print $2}')
new=$(grep '^sstvault_last_success_timestamp_seconds' "$T/m3.prom" | awk '{print $2}')
[ "$old" = "$new" ] || fail "last success timestamp not carried over ($old -> $new)"
ok "a failed run records success 0 and keeps the last success timestamp"

# 4. every documented exit code
code() { "$@" >/dev/null 2>&1; echo $?; }
[ "$(code sv snapshots)" = 0 ] || fail "exit 0"
mkdir -p "$T/warn" && cp -a "$SV_FIXTURES/data/legacy_tables" "$T/warn/" && mkfifo "$T/warn/fifo"
[ "$(code sv backup --data-dir "$T/warn")" = 1 ] || fail "exit 1 (warnings)"
[ "$(code sv backup --bogus-option)" = 2 ] || fail "exit 2 (usage)"
[ "$(code sv restore)" = 2 ] || fail "exit 2 (missing argument)"
[ "$(code sv snapshots --password-file "$T/badpw")" = 3 ] || fail "exit 3 (wrong passphrase)"
[ "$(code sv snapshots --repo "$T/none")" = 3 ] || fail "exit 3 (no repository)"
mkdir -p "$T/ro" && sv init --repo "$T/ro/r" -q && chmod 0555 "$T/ro/r" "$T/ro/r/keys"
if [ "$(id -u)" != 0 ]; then
	[ "$(code sv backup --repo "$T/ro/r" --data-dir "$SV_FIXTURES/data")" = 4 ] || fail "exit 4 (storage)"
else
	# root ignores modes: fill a tiny filesystem instead, if we may mount
	mkdir -p "$T/small" && if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
		sv init --repo "$T/small/r" -q
		c=$(code sv backup --repo "$T/small/r" --data-dir "$T/gen")
		umount "$T/small"
		[ "$c" = 4 ] || fail "exit 4 (storage full), got $c"
	fi
fi
f=$(ls "$R"/data/*/* | head -1); printf 'x' | dd of="$f" bs=1 seek=200 conv=notrunc 2>/dev/null
[ "$(code sv check --read-data)" = 5 ] || fail "exit 5 (damage)"
ok "exit codes 0, 1, 2, 3, 4 and 5 each for the situation that produces it"

# 5. config file: flags > environment > file; secrets masked
cat > "$T/sv.conf" <<C
# test configuration
repo = $T/from-file
s3-region = from-file
threads = 1
password-command = echo supersecret-in-config
C
out=$(env -u SSTVAULT_PASSWORD_FILE SSTVAULT_REPO=$T/from-env "$SSTVAULT" config show --config "$T/sv.conf")
echo "$out" | grep -q "^repo = $T/from-env$" || fail "environment must beat the file: $out"
echo "$out" | grep -q "^s3-region = from-file$" || fail "file value missing: $out"
echo "$out" | grep -q "supersecret" && fail "config show leaked a secret"
out=$(env -u SSTVAULT_PASSWORD_FILE SSTVAULT_REPO=$T/from-env AWS_SECRET_ACCESS_KEY=topsecretkey "$SSTVAULT" config show --config "$T/sv.conf" --repo "$T/from-flag")
echo "$out" | grep -q "^repo = $T/from-flag$" || fail "flag must beat the environment: $out"
echo "$out" | grep -q topsecretkey && fail "config show leaked the S3 secret"
echo "$out" | grep -q "aws-secret-access-key = \*\*\*" || fail "S3 secret not shown as set: $out"
echo "bogus-key = 1" > "$T/bad.conf"
[ "$(code sv snapshots --config "$T/bad.conf")" = 2 ] || fail "unknown config key must be a usage error"
ok "config: flags > environment > file, secrets masked, unknown keys refused"
echo "$checks checks passed"
