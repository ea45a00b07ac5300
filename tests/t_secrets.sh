#!/bin/bash
# Issue 7, secrets never leak: every command, plain, with -vv and
# --json (and --help), with a known passphrase, a known key file, a known
# --password-command output, a known new passphrase and a known
# AWS_SECRET_ACCESS_KEY. None of them may appear in any output, in any file
# of the repository, of the local cache or of a metrics file, in the
# command line of any process while a backup runs, or in the environment
# sstvault hands to the password command. The S3 part (uploads, a real
# signing secret) runs when a Ceph RADOS Gateway is available.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found at $SV_FIXTURES"; exit 77; }
t_start=$(date +%s)
ok() { checks=$((checks + 1)); echo "ok $checks - $* [$(($(date +%s) - t_start)) s]"; }
S_PASS="pass-Secret-q7Rz41xV"
S_PASS2="new-Secret-Lm93TfQa"
S_KEY="keyfile-Secret-Hx28Wd0P"
S_CMD="command-Secret-Nv55Cj2E"
S_WRONG="wrong-Secret-Ue61Po7B"
S_AWS="aws-Secret-Yb40Ks8R"
printf '%s\n' "$S_PASS" > "$PW"
printf '%s\n' "$S_PASS2" > "$T/pw2"
printf '%s' "$S_KEY" > "$T/kf"
printf '%s\n' "$S_CMD" > "$T/cmdpw"
printf '%s\n' "$S_WRONG" > "$T/wrong"
chmod 600 "$PW" "$T/pw2" "$T/kf" "$T/cmdpw" "$T/wrong"
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=$S_AWS
SECRETS="$S_PASS $S_PASS2 $S_KEY $S_CMD $S_WRONG $S_AWS"
O=$T/outputs
mkdir -p "$O"
R=$T/repo
export SSTVAULT_REPO=$R
n=0
# run NAME ARGS...: run sstvault with ARGS plain, -vv and --json,
# capturing stdout and stderr of each.
run() {
	local name=$1 v
	shift
	# -vv prints everything -v does and more.
	for v in ${VARIANTS:-"" -vv --json}; do
		n=$((n + 1))
		local t0=$(date +%s%N) rc
		"$SSTVAULT" "$@" $v >"$O/$name$v.out" 2>"$O/$name$v.err" </dev/null
		rc=$?
		echo "$name $v: exit $rc, $(( ($(date +%s%N) - t0) / 1000000 )) ms" >> "$O/exits"
	done
}
# leaks DIR...: print every file under DIR that holds a secret (raw, or in
# hex or base64 when it is long enough to be recognised).
leaks() {
	local s
	for s in $SECRETS; do
		printf '%s\n' "$s"
		printf '%s' "$s" | xxd -p | tr -d '\n'; echo
		printf '%s' "$s" | base64 | tr -d '=\n' | cut -c1-20
	done > "$T/patterns"
	grep -rlaF -f "$T/patterns" "$@" 2>/dev/null | while read -r f; do
		echo "$f: $(grep -aoF -f "$T/patterns" "$f" | sort -u | tr '\n' ' ')"
	done
}

sv init --password-file "$PW" -q || fail init
cp -a "$SV_FIXTURES/data" "$T/src"
head -c 40000000 /dev/urandom > "$T/src/big.db"
sv key add --password-file "$PW" --new-key-file "$T/kf" -q || fail "key add (key file)"
sv key add --password-file "$PW" --new-password-file "$T/pw2" -q || fail "key add (passphrase)"
sv key add --password-file "$PW" --new-password-file "$T/cmdpw" -q || fail "key add (command)"

# 1. A backup's process arguments and environment, sampled while it runs,
# and those of the password command it starts. The command sleeps first so
# that the sampling sees the process whatever the backup's speed.
"$SSTVAULT" backup --password-command "sleep 0.4; cat $T/cmdpw" --data-dir "$T/src" \
	--threads 1 -q --node psnode 2>/dev/null &
pid=$!
samples=0 bad=""
while kill -0 "$pid" 2>/dev/null; do
	for p in $pid $(pgrep -P "$pid" 2>/dev/null); do
		for f in cmdline environ; do
			tr '\0' ' ' 2>/dev/null < /proc/$p/$f > "$T/proc" || continue
			# AWS_SECRET_ACCESS_KEY is in the environment because
			# the caller put it there; the others are read from
			# files and must never be exported.
			for s in $SECRETS; do
				[ "$f" = environ ] && [ "$s" = "$S_AWS" ] && continue
				grep -qF -- "$s" "$T/proc" && bad="$bad $p/$f:$s"
			done
		done
	done
	# every process on the machine, as ps shows them
	ps -eo args 2>/dev/null > "$T/ps"
	for s in $SECRETS; do
		grep -qF -- "$s" "$T/ps" && bad="$bad ps:$s"
	done
	samples=$((samples + 1))
	sleep 0.02
done
wait "$pid" || fail "backup with --password-command (exit $?)"
[ -z "$bad" ] || fail "secret visible in process arguments or environment:$bad"
[ $samples -ge 2 ] || fail "the backup ended before its arguments could be sampled ($samples)"
ok "backup: $samples samples of /proc/<pid>/cmdline and environ (sstvault and its children) and ps -eo args show no secret"

# 2. Every command, plain / -v / -vv / --json.
rm -f "$T/src/big.db"
export SSTVAULT_PASSWORD_FILE=$PW
run backup backup --data-dir "$T/src" --tag t1 --metrics-file "$T/metrics.prom"
VARIANTS=-vv run backup-kf backup --key-file "$T/kf" --data-dir "$T/src" --node kfnode
VARIANTS=-vv run backup-cmd backup --password-command "cat $T/cmdpw" --data-dir "$T/src" --node cmdnode
run snapshots snapshots
run check check --read-data --metrics-file "$T/metrics2.prom"
run restore restore latest --target "$T/restore" --force --no-fsync
run forget forget --keep-last 1 --dry-run
run prune prune --dry-run
run keylist key list
VARIANTS=-vv run keylist-kf key list --key-file "$T/kf"
run config config show
VARIANTS=-vv run config-cmd config show --password-command "cat $T/cmdpw" --key-file "$T/kf"
run wrong snapshots --password-file "$T/wrong"
VARIANTS=-vv run wrong-cmd snapshots --password-command "cat $T/wrong"
for c in init backup snapshots restore check forget prune key config uploads; do
	"$SSTVAULT" $c --help >"$O/help-$c.out" 2>&1
	n=$((n + 1))
done
grep -q "wrong passphrase" "$O/wrong.err" || fail "wrong passphrase not reported: $(cat "$O/wrong.err")"
grep -c "exit 0," "$O/exits" | grep -qv '^0$' || fail "no command succeeded"

bad=$(leaks "$O")
[ -z "$bad" ] || fail "secret in command output: $bad"
ok "$n runs (10 commands x plain/-vv/--json; key file, password command, wrong passphrase at -vv; --help): no secret in stdout or stderr"

bad=$(leaks "$R" "$SSTVAULT_CACHE_DIR" "$T"/metrics*.prom)
[ -z "$bad" ] || fail "secret stored in the repository, cache or metrics: $bad"
nf=$(find "$R" "$SSTVAULT_CACHE_DIR" "$T"/metrics*.prom -type f | wc -l)
ok "$nf files of the repository, the cache and the metrics files hold no secret (raw, hex or base64)"

# 3. S3: the signing secret never appears, also with -vv and uploads list.
. "$(dirname "$0")/lib_rgw.sh"
export -n AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
if rgw_up >"$T/rgw.log" 2>&1; then
	bucket=svsec-$$-$RANDOM
	trap '[ "$RGW_OWNED" = 1 ] || rgw_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1; rgw_down; rm -rf "$T"' EXIT
	SECRETS="$SECRETS $AWS_SECRET_ACCESS_KEY"
	rm -rf "$O"; mkdir -p "$O"; : > "$O/exits"; n=0
	export SSTVAULT_REPO=s3://$bucket/sec
	S3="--s3-endpoint $SV_S3_ENDPOINT"
	sv init $S3 -q || fail "init on S3"
	run s3backup backup $S3 --data-dir "$SV_FIXTURES/data" --s3-part-size 5M
	run s3snapshots snapshots $S3
	# check --read-data through S3 costs seconds: once, at -vv.
	VARIANTS=-vv run s3check-data check $S3 --read-data
	run s3check check $S3
	run s3restore restore latest $S3 --target "$T/s3r" --force --no-fsync
	run s3uploads uploads list $S3
	run s3config config show $S3
	run s3forget forget $S3 --keep-last 1 --dry-run
	run s3prune prune $S3 --dry-run
	run s3keys key list $S3
	AWS_SECRET_ACCESS_KEY=$S_WRONG run s3badsecret snapshots $S3
	grep -q "s3badsecret : exit 3," "$O/exits" || fail "wrong S3 secret: $(grep s3badsecret "$O/exits" | head -1)"
	grep -q "s3backup : exit 0," "$O/exits" || fail "S3 backup failed: $(cat "$O/s3backup.err")"
	grep -q "s3badsecret : exit 0," "$O/exits" && fail "a wrong S3 secret was accepted"
	bad=$(leaks "$O")
	[ -z "$bad" ] || fail "secret in S3 command output: $bad"
	rgw_aws s3 cp --recursive "s3://$bucket/" "$T/s3objs" >/dev/null || fail "download bucket"
	bad=$(leaks "$T/s3objs" "$SSTVAULT_CACHE_DIR")
	[ -z "$bad" ] || fail "secret stored in S3 objects or cache: $bad"
	ok "S3: $n runs (9 commands x plain/-vv/--json, uploads list, wrong secret) and $(find "$T/s3objs" -type f | wc -l) objects: no secret, signing secret included"
else
	echo "S3 part skipped: $(tail -n 1 "$T/rgw.log")"
fi
echo "$checks checks passed in $(( $(date +%s) - t_start )) s"
