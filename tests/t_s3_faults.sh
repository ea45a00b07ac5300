#!/bin/bash
# Issue 7: network faults. Backups and restores run through
# tests/faultproxy.py, which sits between sstvault and a real Ceph RADOS
# Gateway and injects 500s, 503 SlowDown, 429, connection resets while the
# request body arrives and while the answer leaves, answers lost after the
# server acted, stalls, truncated answers, and bit flips in request and
# answer bodies, each phase aimed at chosen request kinds. Every phase must
# end one of two ways:
#   - success after retries; then, straight against the gateway (no proxy),
#     the new snapshot restores bit-exact (and at the end check --read-data
#     passes for the whole repository);
#   - failure with a documented exit code (3, 4 or 5) and a message naming
#     the object and the error; then, straight against the gateway, the
#     snapshot list is unchanged, check passes and no multipart upload is
#     left open (or prune --grace 0 aborts it); a failed restore leaves no
#     wrong file under a real name and no temporary.
# Then prune --grace 0 through a listing with a flipped bit must keep every
# snapshot whole, and check --read-data straight against the gateway must
# pass for the whole repository.
# Each phase also asserts that the proxy really injected its faults.
# SV_FAULTS_SLOW=1 adds a phase where the proxy goes silent for good, which
# costs curl's 60 s low-speed timeout (not configurable in sstvault).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_rgw.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "python3 not found (tests/faultproxy.py needs it)"; exit 77; }
# lib.sh's helpers run `python3`; a version manager's shim in front of it
# can cost a second per start, so give them the system one.
mkdir -p "$T/bin" && ln -s "$PY" "$T/bin/python3" && export PATH=$T/bin:$PATH
PROXY=$(cd "$(dirname "$0")" && pwd)/faultproxy.py
t_start=$(date +%s%N)
rgw_up; rc=$?; [ $rc = 0 ] || exit $rc
case "$SV_S3_ENDPOINT" in
http://*) ;;
*) echo "faultproxy needs a plain-http gateway, not $SV_S3_ENDPOINT"; exit 77;;
esac
bucket=svf-$$-$RANDOM
PROXY_PID=""
cleanup() {
	if [ -n "$PROXY_PID" ]; then
		kill "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
	fi
	[ "$RGW_OWNED" = 1 ] || rgw_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	rgw_down
	rm -rf "$T"
}
trap cleanup EXIT

"$PY" "$PROXY" --upstream "$SV_S3_ENDPOINT" --port-file "$T/proxy.port" \
	--control "$T/control.json" --stats "$T/stats.json" \
	--log "$T/proxy.log" 2>"$T/proxy.err" &
PROXY_PID=$!
for i in $(seq 1 50); do
	[ -s "$T/proxy.port" ] && break
	sleep 0.1
done
[ -s "$T/proxy.port" ] || fail "fault proxy did not start: $(cat "$T/proxy.err")"
PX_EP=http://127.0.0.1:$(cat "$T/proxy.port")

export SSTVAULT_REPO=s3://$bucket/faults SSTVAULT_PASSWORD_FILE=$PW
# Through the proxy: minimum part size so every pack is a multipart upload
# of several parts; 4 connections so parts overlap.
PX="--s3-endpoint $PX_EP --s3-part-size 5M --s3-connections 4"
DX="--s3-endpoint $SV_S3_ENDPOINT"

# gen DIR SEED SIZES...: files of seeded random (incompressible) bytes,
# each SIZE as NAME=BYTES.
gen() {
	"$PY" - "$@" <<'PY'
import os, random, sys
d, seed = sys.argv[1], sys.argv[2]
r = random.Random(seed)
for spec in sys.argv[3:]:
    name, size = spec.split("=")
    p = os.path.join(d, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(r.randbytes(int(size)))
    os.chmod(p, 0o640)
PY
}
MiB=1048576
# Fresh data for each backup phase: one pack of about 12 MiB, so three
# parts of 5 MiB; the largest file spans two.
phase_data() {
	gen "$1" "$2" big=$((9 * MiB)) mid/m1=$((2 * MiB)) mid/m2=$((MiB / 2)) \
		small/s1=100000 small/s2=5000 small/empty=0
}

# control NAME RULES-JSON: the proxy's schedule for the next phase.
control() {
	printf '{"phase": "%s", "seed": 7, "rules": [%s]}\n' "$1" "$2" \
		>"$T/control.tmp"
	mv "$T/control.tmp" "$T/control.json"
}
# faults NAME [FAULT]: faults injected in phase NAME (of one fault kind).
faults() {
	"$PY" - "$T/stats.json" "$1" "${2:-}" <<'PY'
import json, sys
ph = json.load(open(sys.argv[1]))["phases"].get(sys.argv[2], {})
print(sum(n for kind in ph.get("faults", {}).values()
          for f, n in kind.items() if not sys.argv[3] or f == sys.argv[3]))
PY
}
# injected NAME "FAULT...": each of these faults was injected in NAME.
injected() {
	local f
	for f in ${2:-""}; do
		[ "$(faults "$1" "$f")" -gt 0 ] ||
			fail "$1: the proxy injected no ${f:-fault}"
	done
}
snap_ids() {
	sv snapshots $DX --json | "$PY" -c 'import json,sys; print(" ".join(sorted(s["id"] for s in json.loads(sys.stdin.read().strip().splitlines()[-1]))))'
}
open_uploads() {
	sv uploads list $DX --json | "$PY" -c 'import json,sys; print(len(json.loads(sys.stdin.read().strip().splitlines()[-1])["uploads"]))'
}
jfield() {
	"$PY" -c 'import json,sys
v = json.loads(sys.stdin.read().strip().splitlines()[-1])
for k in sys.argv[1].split("."):
    v = v[k]
print(v)' "$1"
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# A failure message must name a repository object and say what went wrong.
OBJ_RE='(data|index|snapshots|keys|locks)/[^ :;,()]{8,}|/config'
names_object() {
	grep -Eq "$OBJ_RE" "$1" &&
		grep -Eqi 'gave up|damaged|authentication|[45][0-9][0-9] [A-Za-z]|failed' "$1"
}

# Restores straight from the gateway must give back exactly the source.
verify_snapshot() {
	local id=$1 src=$2 what=$3
	rm -rf "$T/chk"
	sv restore "$id" $DX --target "$T/chk" -q ||
		fail "$what: direct restore of $id failed"
	same_tree "$src" "$T/chk" || fail "$what: direct restore of $id differs from $src"
	rm -rf "$T/chk"
}

# backup_phase NAME EXPECT RULES ["FAULT..."]: back up fresh data through
# the proxy. EXPECT: ok (must succeed), fail (must fail), either. Each
# FAULT named must have been injected at least once.
backup_phase() {
	local name=$1 expect=$2 rules=$3 fkind=${4:-} after rc out n
	local src=$T/src/$name
	phase_data "$src" "$name"
	control "$name" "$rules"
	local t0=$(date +%s%N) took
	sv backup $PX --data-dir "$src" --json >"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	took="backup $(ms_since $t0) ms"
	out=$(tail -n 1 "$T/$name.out")
	control idle ""
	injected "$name" "$fkind"
	n=$(faults "$name")
	if [ $rc = 0 ]; then
		[ "$expect" != fail ] ||
			fail "$name: backup succeeded through $n faults that must exhaust its retries"
		local id retries
		read -r id retries < <(echo "$out" | "$PY" -c 'import json,sys
v = json.loads(sys.stdin.read().strip().splitlines()[-1])
print(v["snapshot"], v["upload"]["retries"])')
		verify_snapshot "$id" "$src" "$name"
		SNAPS=$(echo $SNAPS $id | tr ' ' '\n' | sort | xargs)
		[ "$(open_uploads)" = 0 ] || fail "$name: multipart uploads left open"
		ok "$name: backup through $n fault(s) succeeded ($retries retries); direct restore bit-exact, no upload open [$took, all $(ms_since $t0) ms]"
	else
		[ "$expect" != ok ] ||
			fail "$name: backup failed (rc=$rc) through $n fault(s): $(tail -n 3 "$T/$name.err")"
		case $rc in 3|4|5) ;; *) fail "$name: undocumented exit code $rc: $(cat "$T/$name.err")";; esac
		names_object "$T/$name.err" ||
			fail "$name: failure message names no object or error: $(cat "$T/$name.err" "$T/$name.out")"
		after=$(snap_ids) || fail "$name: cannot list snapshots directly"
		[ "$SNAPS" = "$after" ] ||
			fail "$name: failed backup changed the snapshot list: '$SNAPS' -> '$after'"
		sv check $DX -q || fail "$name: check after the failed backup"
		[ "$(open_uploads)" = 0 ] || fail "$name: multipart uploads left open by a failed backup"
		ok "$name: backup failed (exit $rc) after $n fault(s) naming the object ($(grep -Eo "$OBJ_RE" "$T/$name.err" | head -n 1)); no snapshot added, check clean, no upload open [$took, all $(ms_since $t0) ms]"
	fi
}

# restore_phase NAME EXPECT RULES ["FAULT..."]: restore the base snapshot
# through the proxy, as backup_phase.
restore_phase() {
	local name=$1 expect=$2 rules=$3 fkind=${4:-} rc n out=$T/rst/$1
	control "$name" "$rules"
	local t0=$(date +%s%N) took
	sv restore "$BASE_ID" $PX --target "$out" -q 2>"$T/$name.err"
	rc=$?
	took="restore $(ms_since $t0) ms"
	control idle ""
	injected "$name" "$fkind"
	n=$(faults "$name")
	# Whatever happened: no temporary left, and every file present under
	# its real name is the source's.
	tmps=$(find "$out" -name '*.sstvault-tmp' 2>/dev/null)
	[ -z "$tmps" ] || fail "$name: temporaries left: $tmps"
	"$PY" - "$BASE" "$out" <<'PY' || fail "$name: a restored file differs from the source"
import os, sys
src, out = sys.argv[1], sys.argv[2]
for root, _, files in os.walk(out):
    for f in files:
        p = os.path.join(root, f)
        q = os.path.join(src, os.path.relpath(p, out))
        if not os.path.isfile(q) or open(p, "rb").read() != open(q, "rb").read():
            print("wrong file", p); sys.exit(1)
PY
	if [ $rc = 0 ]; then
		[ "$expect" != fail ] ||
			fail "$name: restore succeeded through $n faults that must exhaust its retries"
		same_tree "$BASE" "$out" || fail "$name: restore through faults differs"
		ok "$name: restore through $n fault(s) bit-exact (bytes, modes, mtimes) [$took]"
	else
		[ "$expect" != ok ] ||
			fail "$name: restore failed (rc=$rc) through $n fault(s): $(tail -n 3 "$T/$name.err")"
		case $rc in 3|4|5) ;; *) fail "$name: undocumented exit code $rc: $(cat "$T/$name.err")";; esac
		names_object "$T/$name.err" ||
			fail "$name: failure message names no object or error: $(cat "$T/$name.err")"
		local present
		(cd "$out" && find . -type f | sort) >"$T/$name.files"
		present=$(wc -l <"$T/$name.files")
		ok "$name: restore failed (exit $rc) after $n fault(s) naming the object ($(grep -Eo "$OBJ_RE" "$T/$name.err" | head -n 1)); $present file(s) written, all identical to the source, no temporary [$took]"
	fi
	rm -rf "$out"
}

control base ""
sv init $DX -q || fail "init"
# The restores' data: big1 gets a pack of its own (files of a quarter of
# the 64 MiB pack size or more do), 4 parts; the rest share one of 2 parts.
BASE=$T/src/base
gen "$BASE" base a/big1=$((17 * MiB)) a/big2=$((5 * MiB)) b/m1=$MiB \
	b/s1=100000 b/s2=5000
out=$(sv backup $PX --data-dir "$BASE" --json | tail -n 1) || fail "clean backup through the proxy"
BASE_ID=$(echo "$out" | jfield snapshot)
[ "$(echo "$out" | jfield upload.parts)" -ge 6 ] || fail "base backup: expected multipart uploads: $out"
[ "$(faults base)" = 0 ] || fail "faults injected with no rule"
verify_snapshot "$BASE_ID" "$BASE" base
SNAPS=$(snap_ids)
# The key of big1's pack: the object uploaded in most parts.
BIG_PACK=$(awk '$2 == "base" && $3 == "put_part" { sub(/\?.*/, "", $5); n[$5]++ }
	END { for (k in n) if (n[k] > best) { best = n[k]; key = k }; print key }' "$T/proxy.log")
case "$BIG_PACK" in */faults/data/*) ;; *) fail "cannot find the large pack in the proxy log: '$BIG_PACK'";; esac
ok "base: $(du -sm "$BASE" | cut -f1) MB in $(echo "$out" | jfield upload.parts) parts through the proxy without faults, direct restore bit-exact"

# ---- backups through faults ----
# The first rule of each phase fires on the first matching request, so a
# phase cannot pass without a fault; the second draws from a seeded RNG.
# 500s, and a CompleteMultipartUpload whose 200 carries an InternalError.
backup_phase b-500 ok '{"kinds":["put_part"],"fault":"500","first":1},
	{"kinds":["complete"],"fault":"error200","first":1},
	{"kinds":["put_part","put_object","complete","create_upload"],"fault":"500","prob":0.3}' "500 error200"
backup_phase b-throttle ok '{"kinds":["put_part"],"fault":"503","first":1},
	{"kinds":["put_object"],"fault":"429","first":1},
	{"kinds":["put_part","put_object"],"fault":"503","prob":0.3},
	{"kinds":["put_part","put_object","head"],"fault":"429","prob":0.2}' "503 429"
[ "$(tail -n 1 "$T/b-throttle.out" | jfield upload.throttled)" -gt 0 ] ||
	fail "b-throttle: the backup counted no throttled request"
# The connection reset while the part is on its way; a flipped bit in a
# part or object body, which the gateway refuses (Content-MD5: BadDigest;
# signed SHA-256 of small bodies: XAmzContentSHA256Mismatch).
backup_phase b-request-body ok '{"kinds":["put_part"],"fault":"reset_request","first":1},
	{"kinds":["put_part"],"fault":"corrupt_request","first":1},
	{"kinds":["put_part","put_object"],"fault":"reset_request","prob":0.2,"at":0.3},
	{"kinds":["put_part","put_object","complete"],"fault":"corrupt_request","prob":0.2}' "reset_request corrupt_request"
# Answers cut short: reset mid-body, or closed before Content-Length.
backup_phase b-cut-answers ok '{"kinds":["list","get_object","complete"],"fault":"reset_response","every":5},
	{"kinds":["list","get_object","complete"],"fault":"truncate","every":4}' "reset_response truncate"
# The gateway acted but its answer was lost (reset before the first byte,
# or a 500 after the fact): a retried conditional PUT finds its own object,
# a retried complete finds the upload gone and checks the object's ETag.
backup_phase b-lost-answer ok '{"kinds":["put_part","complete"],"fault":"lost","first":1},
	{"kinds":["put_part","put_object","complete"],"fault":"lost","prob":0.3},
	{"kinds":["complete","put_object"],"fault":"500","when":"after","prob":0.3}' lost
# Silence shorter than curl's 60 s low-speed limit is waited out.
backup_phase b-stall ok '{"kinds":["put_part"],"fault":"stall","first":1,"seconds":1},
	{"kinds":["put_part","put_object","get_object","list"],"fault":"stall","prob":0.1,"seconds":0.3}' stall
# A bit flipped in an object read whole (config, key slot, snapshot,
# index) does not match the object's ETag, the MD5 of its bytes: the GET is
# retried and the backup succeeds.
backup_phase b-corrupt-object ok '{"kinds":["get_object"],"fault":"corrupt_response","first":1},
	{"kinds":["get_object"],"fault":"corrupt_response","prob":0.2}' corrupt_response
# A list page has nothing to check it by but TLS: a flipped bit can name
# an object that does not exist, or hide one. The backup may fail, but must
# say where, and leave the repository as it was. (The keys/ listing is
# left alone: a key slot hidden that way reads as "no key slot".)
backup_phase b-corrupt-list either '{"kinds":["list"],"fault":"corrupt_response","every":2,"match":"prefix=faults%2F(index|snapshots)"}' corrupt_response

# An upload id whose answer was lost is unknown to sstvault: the upload
# stays open on the server until prune aborts it.
name=b-lost-create
phase_data "$T/src/$name" "$name"
control "$name" '{"kinds":["create_upload"],"fault":"lost","first":1}'
out=$(sv backup $PX --data-dir "$T/src/$name" --json | tail -n 1) || fail "$name: backup"
control idle ""
[ "$(faults "$name" lost)" = 1 ] || fail "$name: expected one lost CreateMultipartUpload"
id=$(echo "$out" | jfield snapshot)
verify_snapshot "$id" "$T/src/$name" "$name"
SNAPS=$(echo $SNAPS $id | tr ' ' '\n' | sort | xargs)
[ "$(open_uploads)" = 1 ] || fail "$name: expected the orphaned upload in 'uploads list'"
pr=$(sv prune $DX --grace 0 --json | tail -n 1) || fail "$name: prune --grace 0"
[ "$(echo "$pr" | jfield uploads_aborted)" -ge 1 ] || fail "$name: prune aborted no upload: $pr"
[ "$(open_uploads)" = 0 ] || fail "$name: upload still open after prune --grace 0"
ok "$name: the upload whose CreateMultipartUpload answer was lost is listed, and prune --grace 0 aborts it"

# Retries exhausted: every attempt at the second part fails (one part, so
# the backoff of one request, 8 attempts, is all the phase waits for).
backup_phase b-exhausted fail '{"kinds":["put_part"],"fault":"500","prob":1,"match":"partNumber=2&"}' 500
grep -q "gave up after" "$T/b-exhausted.err" ||
	fail "b-exhausted: message does not say the retries ran out: $(cat "$T/b-exhausted.err")"
grep -q "s3://$bucket/faults/data/" "$T/b-exhausted.err" ||
	fail "b-exhausted: message does not name the pack: $(cat "$T/b-exhausted.err")"
ok "b-exhausted: $(grep -m1 'gave up' "$T/b-exhausted.err" | cut -c1-160)"

# ---- restores through faults ----
restore_phase r-500 ok '{"kinds":["get_range"],"fault":"500","first":1},
	{"kinds":["get_range","get_object","list"],"fault":"500","prob":0.3}' 500
restore_phase r-throttle ok '{"kinds":["get_range"],"fault":"503","first":1},
	{"kinds":["get_object"],"fault":"429","first":1},
	{"kinds":["get_range","get_object"],"fault":"503","prob":0.3},
	{"kinds":["get_range","get_object","head"],"fault":"429","prob":0.2}' "503 429"
restore_phase r-cut-answers ok '{"kinds":["get_range"],"fault":"reset_response","first":1},
	{"kinds":["get_range"],"fault":"truncate","first":1},
	{"kinds":["get_range","get_object","list"],"fault":"reset_response","prob":0.2},
	{"kinds":["get_range","get_object","list"],"fault":"truncate","prob":0.2,"at":0.9}' "reset_response truncate"
# The restore's lock marker reset while it is sent; ranged reads lost.
restore_phase r-lost ok '{"kinds":["put_object"],"fault":"reset_request","first":1},
	{"kinds":["get_range"],"fault":"lost","first":1},
	{"kinds":["get_range"],"fault":"lost","prob":0.3}' "reset_request lost"
restore_phase r-stall ok '{"kinds":["get_range"],"fault":"stall","first":1,"seconds":1},
	{"kinds":["get_range","get_object"],"fault":"stall","prob":0.1,"seconds":0.3}' stall
restore_phase r-corrupt-object ok '{"kinds":["get_object"],"fault":"corrupt_response","first":1},
	{"kinds":["get_object"],"fault":"corrupt_response","prob":0.2}' corrupt_response
# A range of a pack has no checksum to retry on: the blob's authentication
# catches the flipped bit, as damage (exit 5), and that file is not written.
restore_phase r-corrupt-range either '{"kinds":["get_range"],"fault":"corrupt_response","first":1}' corrupt_response
# Every read of big1's pack fails: the restore must fail naming it, and
# still restore the files of the other pack.
restore_phase r-exhausted fail "{\"kinds\":[\"get_range\"],\"fault\":\"500\",\"prob\":1,\"match\":\"$BIG_PACK\"}" 500
grep -q "gave up after" "$T/r-exhausted.err" ||
	fail "r-exhausted: message does not say the retries ran out: $(cat "$T/r-exhausted.err")"
grep -q "${BIG_PACK#/$bucket/faults/}" "$T/r-exhausted.err" ||
	fail "r-exhausted: message does not name ${BIG_PACK#/$bucket/faults/}: $(cat "$T/r-exhausted.err")"
[ -s "$T/r-exhausted.files" ] && ! grep -q big1 "$T/r-exhausted.files" ||
	fail "r-exhausted: expected the other pack's files and no big1, got: $(cat "$T/r-exhausted.files")"
ok "r-exhausted: restored $(wc -l <"$T/r-exhausted.files") file(s) of the other pack; big1 not written"

# ---- prune through a damaged listing ----
# One bit flipped in a <Contents> tag of the snapshots/ listing hides that
# snapshot from a parser that looks for tags; prune --grace 0 must not take
# its packs for garbage (the listing is asked for again, or prune stops).
name=p-corrupt-list
control "$name" '{"kinds":["list"],"fault":"corrupt_response","first":3,"match":"prefix=faults%2Fsnapshots","within":"<Contents>"}'
sv prune $PX --grace 0 --json >"$T/$name.out" 2>"$T/$name.err"
rc=$?
control idle ""
injected "$name" corrupt_response
case $rc in 0|3|4|5) ;; *) fail "$name: prune exit code $rc: $(cat "$T/$name.err")";; esac
[ $rc = 0 ] || names_object "$T/$name.err" ||
	fail "$name: failure message names no object or error: $(cat "$T/$name.err")"
sv check $DX -q 2>"$T/$name.check" ||
	fail "$name: prune through a damaged listing deleted data a snapshot needs: $(head -n 3 "$T/$name.check")"
[ "$(snap_ids)" = "$SNAPS" ] || fail "$name: the snapshot list changed"
ok "$name: prune --grace 0 (exit $rc) through $(faults "$name") damaged listing(s) kept every snapshot whole"

if [ "${SV_FAULTS_SLOW:-0}" = 1 ]; then
	backup_phase b-hang ok '{"kinds":["put_part"],"fault":"hang","first":1}' hang
	restore_phase r-hang ok '{"kinds":["get_range"],"fault":"hang","first":1}' hang
fi

# ---- the whole repository, straight from the gateway ----
sv check $DX --read-data -q || fail "check --read-data after all phases"
[ "$(open_uploads)" = 0 ] || fail "multipart uploads left open at the end"
ok "check --read-data passes for all $(snap_ids | wc -w) snapshots; no upload open"

proxy_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$PROXY_PID/stat" 2>/dev/null)
kill "$PROXY_PID" && wait "$PROXY_PID"
PROXY_PID=""
echo "proxy: ${proxy_cpu:-?} s of CPU"
"$PY" - "$T/stats.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["total"]
print("proxy: %d requests: %s" % (d["requests"], json.dumps(t["requests"], sort_keys=True)))
per = {}
for kind, fs in t["faults"].items():
    for f, n in fs.items():
        per[f] = per.get(f, 0) + n
print("proxy: faults injected by fault: %s" % json.dumps(per, sort_keys=True))
print("proxy: faults injected by request kind: %s" % json.dumps(t["faults"], sort_keys=True))
if d["errors"]:
    print("proxy: internal errors: %s" % d["errors"])
PY
echo "$checks checks passed in $(( ($(date +%s%N) - t_start) / 1000000 )) ms"
