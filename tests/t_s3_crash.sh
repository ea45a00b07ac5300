#!/bin/bash
# Issue 7, crash consistency against a real S3 server (Ceph RADOS Gateway);
# the S3 counterpart of t_crash.sh. A backup is SIGKILLed again and again,
# with the smallest part size (5 MiB) and enough data that every pack is a
# multipart upload of two parts:
#   - at delays spread over a measured uninterrupted run (reads, packing,
#     parts in flight, completes, index, snapshot);
#   - at exact points, through a small proxy in front of the gateway that
#     kills the backup right before the Nth request of a kind reaches the
#     gateway (no engine hook): before the marker, the index listing, the
#     first multipart POST, part 1, part 2, each complete, the HEAD after a
#     complete, the index PUT, the snapshot PUT and the marker's removal.
# After every kill: the bucket (listed with curl, not sstvault) shows what
# the kill point implies (open uploads, packs, index, snapshot, marker),
# check passes, an earlier snapshot restores bit-exact, the next backup
# completes; every fourth round a prune with the default grace removes the
# markers of the killed backups and nothing else. At the end: prune
# --grace 0 leaves, in the gateway's listings (aws s3api, sstvault uploads
# list), no orphan pack, no tmp/ or locks/ object and no open multipart
# upload; check --read-data passes and every snapshot restores bit-exact.
#
# Requests to the gateway dominate the run time; radosgw answers a request
# on a kept-alive connection up to 40 ms late unless its frontend has
# tcp_nodelay=1 (Nagle's algorithm against delayed ACKs).
#
# SV_S3_CRASH_KILLS (default 10; with the 12 exact points, 22 kills) sets
# the number of timed kills.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_rgw.sh"
# The interpreter itself: a version-manager shim on PATH costs a second a call.
PY=$(command -v /usr/bin/python3 || command -v python3)
KILLS=${SV_S3_CRASH_KILLS:-10}
for c in curl "$PY" sha256sum; do
	command -v $c >/dev/null || { echo "$c not installed"; exit 77; }
done
rgw_up; rc=$?; [ $rc = 0 ] || { echo "no S3 gateway (rgw_up: $rc)"; exit 77; }
bucket=svc-$$-$RANDOM
PFX=crash
proxy_pid=""
cleanup() {
	[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null
	if [ "$RGW_OWNED" != 1 ]; then
		sv uploads abort $S3 -q >/dev/null 2>&1
		rgw_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	fi
	rgw_down
	rm -rf "$T"
}
trap cleanup EXIT
export SSTVAULT_REPO=s3://$bucket/$PFX SSTVAULT_PASSWORD_FILE=$PW
S3="--s3-endpoint $SV_S3_ENDPOINT --s3-part-size 5M --s3-connections 4"
t_start=$(date +%s)
jnum() { tail -n 1 | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }   # jnum KEY < JSON
ok() { checks=$((checks + 1)); echo "ok $checks - $* [$(($(date +%s) - t_start)) s]"; }

# The bucket as the gateway sees it, without sstvault: curl signs with
# SigV4 itself (credentials from a config file, not the command line).
(umask 077; printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" \
	"$AWS_SECRET_ACCESS_KEY" > "$T/curlrc")
# s3list QUERY FILE: the gateway's XML answer into FILE, or fail. (curl
# 7.88 signs the query as given: its parameters must come sorted.)
s3list() {
	curl -sS -K "$T/curlrc" --aws-sigv4 "aws:amz:${AWS_DEFAULT_REGION}:s3" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		-o "$2" "$SV_S3_ENDPOINT/$bucket/?$1" || fail "listing $1: curl failed"
	grep -q "<IsTruncated>false</IsTruncated>" "$2" ||
		fail "listing $1: unexpected answer: $(head -c 300 "$2")"
}
# census: count the objects of the repository by kind and its open
# multipart uploads, into n_data n_idx n_snap n_lock n_tmp n_up.
census() {
	s3list "list-type=2&max-keys=1000&prefix=$PFX%2F" "$T/list.xml"
	s3list "prefix=$PFX%2F&uploads=" "$T/up.xml"
	read -r n_data n_idx n_snap n_lock n_tmp n_up < <(awk -v p="$PFX/" '
		NR == FNR { while (match($0, "<Key>[^<]*</Key>")) {
			k = substr($0, RSTART + 5, RLENGTH - 11)
			$0 = substr($0, RSTART + RLENGTH)
			split(substr(k, length(p) + 1), a, "/"); n[a[1]]++ }
			next }
		{ u += gsub(/<UploadId>/, "") }
		END { print n["data"] + 0, n["index"] + 0, n["snapshots"] + 0,
			n["locks"] + 0, n["tmp"] + 0, u + 0 }' "$T/list.xml" "$T/up.xml")
	[ -n "$n_up" ] || fail "census: cannot parse the listings"
}
snap0() { census; s0=$n_snap l0=$n_lock d0=$n_data i0=$n_idx u0=$n_up; }
deltas() {   # after a kill: the changes since snap0, as d_* variables
	census
	d_snap=$((n_snap - s0)) d_lock=$((n_lock - l0)) d_data=$((n_data - d0))
	d_idx=$((n_idx - i0)) d_up=$((n_up - u0))
	[ $d_snap -le 1 ] || fail "one backup committed $d_snap snapshots"
	[ "$n_tmp" -eq 0 ] || fail "$n_tmp object(s) under tmp/ on S3"
}

manifest() {   # the tree: type, size, mode, mtime, target, sha256
	(cd "$1" && find . -mindepth 1 \( -type f -printf '%P f %s %m %T@\n' \) \
		-o \( -type d -printf '%P d %m\n' \) -o \( -type l -printf '%P l %l\n' \) |
		LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0 -r sha256sum)
}
# Two packs a round (one per directory), each a multipart upload of two
# parts (5 MiB + the rest), plus a file every round shares (dedup).
mkdata() {
	mkdir -p "$1/ks/t1" "$1/ks/t2" "$1/sub/empty"
	cp -p "$T/base.db" "$1/ks/t1/base.db"
	head -c 6000000 /dev/urandom > "$1/ks/t1/big.db"
	head -c 5500000 /dev/urandom > "$1/ks/t2/mid.db"
	head -c 3000 /dev/urandom > "$1/ks/t2/small.db"
	: > "$1/ks/t2/empty.db"
	chmod 640 "$1/ks/t2/mid.db"
	ln -s t1/big.db "$1/ks/link"
}
head -c 2000000 /dev/urandom > "$T/base.db"
mkdir -p "$T/man"
# verify SNAPSHOT MANIFEST [NODE [TAG]]: restore and compare (TAG names the
# scratch files, so that two can run at once)
verify() {
	local o=$T/out${4:-} rc
	rm -rf "$o"
	sv restore "$1" ${3:+--node "$3"} --target "$o" --no-fsync $S3 -q \
		2>"$o.err"; rc=$?
	[ $rc -eq 0 ] || fail "restore of $1 ${3:-} (exit $rc): $(cat "$o.err")"
	manifest "$o" > "$o.got"
	cmp -s "$T/man/$2" "$o.got" ||
		fail "$1 ${3:-} restored differs: $(diff "$T/man/$2" "$o.got" | head -5)"
	rm -rf "$o" "$o.err" "$o.got"
}
verify_node() { verify latest "$1" "$1"; }

sv init $S3 -q || fail "init on S3"

# Calibration: an uninterrupted backup, timed.
mkdata "$T/src"
manifest "$T/src" > "$T/man/n0"
t0=$(date +%s%N)
out=$(sv backup $S3 --data-dir "$T/src" --node n0 --threads 1 --json) ||
	fail "first backup"
dur_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
npacks=$(echo "$out" | jnum packs)
nparts=$(echo "$out" | jnum parts)
[ "$npacks" -ge 2 ] && [ "$nparts" -ge $((2 * npacks)) ] ||
	fail "calibration: $npacks packs in $nparts parts, want >= 2 packs of >= 2 parts"
rm -rf "$T/src"
verify_node n0
ok "calibration backup: $npacks packs in $nparts parts of <= 5 MiB, $dur_ms ms"

# after_kill NODE WHAT: the checks after every kill, then the next backup
# (straight to the gateway, timed: the kills' delays follow it as the
# repository grows). Alongside the check (all three only read), the node of
# the previous round is restored (its snapshot, written just before this
# kill, must survive it) and, every third round, a random earlier one.
# Every fourth round a prune with the default grace compacts the index
# objects (one per backup); it must leave what the kills left alone (all of
# it is younger than the grace) but remove the markers of the killed
# backups (this host, dead processes).
rounds=0 prev=n0 earlier=0
after_kill() {
	local node=$1 what=$2 rc t0 out old="" bg1 bg2=""
	( verify latest "$prev" "$prev" bg1 ) > "$T/bg1.msg" 2>&1 &
	bg1=$!
	if [ $((rounds % 3)) -eq 2 ]; then
		old=$(ls "$T/man" | grep -vx -e "$node" -e "$prev" | shuf -n 1)
		( verify latest "$old" "$old" bg2 ) > "$T/bg2.msg" 2>&1 &
		bg2=$! earlier=$((earlier + 1))
	fi
	sv check $S3 -q 2>"$T/err"; rc=$?
	wait $bg1 || fail "node $prev after kill ($what): $(cat "$T/bg1.msg")"
	[ -z "$bg2" ] || wait $bg2 ||
		fail "node $old after kill ($what): $(cat "$T/bg2.msg")"
	[ $rc -eq 0 ] || fail "check after kill ($what): exit $rc: $(cat "$T/err")"
	t0=$(date +%s%N)
	sv backup $S3 --data-dir "$T/src" --node "$node" --threads 1 -q 2>"$T/err" ||
		fail "backup after kill ($what): exit $?: $(cat "$T/err")"
	dur_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	rm -rf "$T/src"
	rounds=$((rounds + 1)) prev=$node
	if [ $((rounds % 4)) -eq 0 ]; then
		census
		local locks=$n_lock ups=$n_up packs=$n_data
		out=$(sv prune $S3 --max-wait 10s --json 2>"$T/err") ||
			fail "prune after round $rounds: $(cat "$T/err")"
		census
		[ $n_up -eq $ups ] && [ $n_data -eq $packs ] ||
			fail "prune with the default grace removed young data: uploads $ups -> $n_up, objects under data/ $packs -> $n_data: $out"
		# Killed backups ran on this host: their markers are stale.
		[ $n_lock -eq 0 ] ||
			fail "prune left $n_lock of $locks marker(s) of killed backups"
		compactions=$((compactions + 1))
		markers_gone=$((markers_gone + locks))
	fi
}
compactions=0 markers_gone=0

# 1. Timed kills at delays spread from 0 to 90% of the measured duration
# (plus jitter) of the last uninterrupted one. A run that finishes first
# counts apart. What the kill left in the bucket (new since the round
# began) tells where it landed: open uploads, a multipart upload in progress.
killed=0 finished=0 attempts=0 maxdelay=0
start=0 reads=0 mid_mp=0 late=0 committed=0   # where the kills landed
while [ $killed -lt "$KILLS" ] && [ $attempts -lt $((KILLS + 12)) ]; do
	attempts=$((attempts + 1))
	node=n$attempts
	mkdata "$T/src"
	manifest "$T/src" > "$T/man/$node"
	delay_us=$(( dur_ms * 900 * killed / KILLS + RANDOM % 15000 ))
	[ $delay_us -gt $maxdelay ] && maxdelay=$delay_us
	snap0
	"$SSTVAULT" backup $S3 --data-dir "$T/src" --node "$node" --threads 1 \
		-q 2>/dev/null &
	pid=$!
	sleep "$(printf '%d.%06d' $((delay_us / 1000000)) $((delay_us % 1000000)))"
	kill -9 "$pid" 2>/dev/null
	{ wait "$pid"; } 2>/dev/null; rc=$?
	if [ $rc -eq 137 ]; then
		killed=$((killed + 1))
		deltas
		if [ $d_lock -eq 0 ] && [ $d_snap -eq 0 ]; then
			phase=start; start=$((start + 1))
		elif [ $d_up -eq 0 ] && [ $d_data -eq 0 ]; then
			phase=reads; reads=$((reads + 1))
		elif [ $d_up -gt 0 ]; then
			phase=multipart; mid_mp=$((mid_mp + 1))
		elif [ $d_snap -eq 0 ]; then
			phase=packs-done; late=$((late + 1))
		else
			phase=committed; committed=$((committed + 1))
		fi
		echo "kill at $((delay_us / 1000)) ms ($phase): +$d_up open upload(s), +$d_data pack(s), +$d_idx index, +$d_snap snapshot, +$d_lock marker"
	elif [ $rc -eq 0 ]; then
		finished=$((finished + 1))
	else
		fail "killed backup exited $rc, want 137 or 0"
	fi
	after_kill "$node" "at $((delay_us / 1000)) ms"
done
[ $killed -ge "$KILLS" ] ||
	fail "only $killed of $KILLS backups were killed before they finished"
want_mp=$((KILLS / 10))
[ $mid_mp -ge $want_mp ] ||
	fail "only $mid_mp of $killed kills left an open multipart upload, want >= $want_mp"
ok "$killed SIGKILLs (0..$((maxdelay / 1000)) ms) + $finished runs that finished first; landed: $start before the marker, $reads after it with nothing uploaded yet, $mid_mp with multipart uploads open, $late after every pack, $committed after the snapshot; check passes after each, the next backup completes and restores bit-exact"

# 2. Kills at exact points. The proxy passes requests through to the
# gateway and, right before the Nth request whose method and target match
# the rule, kills the backup with SIGKILL and drops the request (and every
# later one of that run), so the gateway never sees it. Every request is
# logged: an uninterrupted run through the proxy gives the sequence.
cat > "$T/killproxy.py" <<'PY'
import os, re, signal, socket, sys, threading
up = ("127.0.0.1", int(sys.argv[1]))
rule_path, log_path, port_path = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
state = {"rule": None, "n": 0, "dead": False}

def log(line):
    with open(log_path, "a") as f:
        f.write(line + "\n")

def drop(method, target):
    """True when this request must not reach the gateway."""
    try:
        text = open(rule_path).read().strip()
    except OSError:
        text = ""
    with lock:
        log("%s %s" % (method, target))
        if text != state["rule"]:
            state.update(rule=text, n=0, dead=False)
        if not text:
            return False
        if state["dead"]:
            return True
        pid, m, rx, nth = text.split()
        if m == method and re.search(rx, target):
            state["n"] += 1
            if state["n"] == int(nth):
                state["dead"] = True
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
                log("KILL %s %s %s" % (pid, method, target))
                return True
    return False

def pump(src, dst):
    try:
        while True:
            d = src.recv(1 << 16)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def handle(c):
    try:
        u = socket.create_connection(up)
    except OSError:
        c.close()
        return
    # A relay must not add Nagle's delay to what it forwards.
    for s in (c, u):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=pump, args=(u, c), daemon=True).start()
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = c.recv(1 << 16)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target = lines[0].split(" ")[:2]
            clen = 0
            for h in lines[1:]:
                k, _, v = h.partition(":")
                k = k.strip().lower()
                if k == "content-length":
                    clen = int(v)
                elif k == "transfer-encoding":
                    log("ERROR chunked body %s %s" % (method, target))
                    return
            if drop(method, target):
                return
            u.sendall(head + b"\r\n\r\n")
            take = min(clen, len(buf))
            u.sendall(buf[:take])
            buf = buf[take:]
            clen -= take
            while clen:
                d = c.recv(min(clen, 1 << 16))
                if not d:
                    return
                u.sendall(d)
                clen -= len(d)
    except OSError:
        pass
    finally:
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(64)
with open(port_path + ".tmp", "w") as f:
    f.write(str(ls.getsockname()[1]))
os.rename(port_path + ".tmp", port_path)
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY
ep=${SV_S3_ENDPOINT#http://}
case "$ep" in 127.0.0.1:*|localhost:*) ;; *) fail "the proxy needs a plain-http local endpoint, got $SV_S3_ENDPOINT";; esac
: > "$T/rule"
"$PY" "$T/killproxy.py" "${ep##*:}" "$T/rule" "$T/plog" "$T/pport" &
proxy_pid=$!
for i in $(seq 1 100); do [ -s "$T/pport" ] && break; sleep 0.1; done
[ -s "$T/pport" ] || fail "kill proxy did not start"
P3="--s3-endpoint http://127.0.0.1:$(cat "$T/pport") --s3-part-size 5M --s3-connections 4"
mkdata "$T/src"
manifest "$T/src" > "$T/man/p0"
sv backup $P3 --data-dir "$T/src" --node p0 --threads 1 -q ||
	fail "backup through the proxy"
rm -rf "$T/src"
verify_node p0
cp "$T/plog" "$T/seq"
sed -E 's/[0-9a-f]{64}/H/g; s/(backup-)[0-9a-f]+/\1M/; s/uploadId=[^&]*/uploadId=U/' \
	"$T/seq" | grep -vn '^GET /[^?]*/keys/' | sed 's/^/  /'

# name  method  target regex  nth  required: d_snap d_lock d_data d_idx,
# d_up as "=N" or ">=N" ("-" for no requirement). An optional point (the
# HEADs some servers need, some not) is skipped when the calibration run
# did not send that request.
points="
marker      PUT    /locks/backup-     1 =0 =0 =0 =0 =0   required
index-list  GET    prefix=$PFX%2Findex 1 =0 =1 =0 =0 =0   required
pack-open   POST   [?]uploads=?\$      1 =0 =1 =0 =0 =0   required
part-1      PUT    [?]partNumber=1&   1 =0 =1 =0 =0 >=1  required
part-2      PUT    [?]partNumber=2&   1 =0 =1 =0 =0 >=1  required
complete-1  POST   [?]uploadId=       1 =0 =1 =0 =0 >=$npacks required
pack-head   HEAD   /data/             1 =0 =1 =1 =0 -    optional
complete-2  POST   [?]uploadId=       2 =0 =1 =1 =0 >=1  required
index       PUT    /index/            1 =0 =1 =$npacks =0 =0 required
snapshot    PUT    /snapshots/        1 =0 =1 =$npacks =1 =0 required
marker-head HEAD   /locks/backup-     1 =1 =1 =$npacks =1 =0 optional
marker-del  DELETE /locks/backup-     1 =1 =1 =$npacks =1 =0 required
"
want() {   # want NAME VALUE SPEC
	case "$3" in
	-) return 0 ;;
	'>='*) [ "$2" -ge "${3#>=}" ] ;;
	=*) [ "$2" -eq "${3#=}" ] ;;
	esac || fail "kill before $1: got $2, want $3 (+$d_snap snapshot, +$d_lock marker, +$d_data pack, +$d_idx index, +$d_up open upload)"
}
np=0 skipped="" mid_exact=0
while read -r -u 3 what m rx nth ws wl wd wi wu req; do
	[ -n "$what" ] || continue
	seen=$(awk -v m="$m" -v rx="$rx" '$1 == m && $2 ~ rx' "$T/seq" | wc -l)
	if [ "$seen" -lt "$nth" ]; then
		[ "$req" = optional ] ||
			fail "the uninterrupted run sent no request #$nth $m $rx ($what)"
		skipped="$skipped $what"
		continue
	fi
	node=x-$what
	mkdata "$T/src"
	manifest "$T/src" > "$T/man/$node"
	snap0
	: > "$T/plog"
	( echo "$BASHPID $m $rx $nth" > "$T/rule"
	  exec "$SSTVAULT" backup $P3 --data-dir "$T/src" --node "$node" \
		--threads 1 -q 2>/dev/null ) &
	pid=$!
	{ wait "$pid"; } 2>/dev/null; rc=$?
	: > "$T/rule"
	[ $rc -eq 137 ] || fail "kill before $what: exit $rc, want 137"
	grep -q "^KILL .* $m " "$T/plog" || fail "kill before $what: the proxy did not kill"
	deltas
	echo "kill before $what ($(grep '^KILL' "$T/plog" | cut -d' ' -f3- | sed -E 's/[0-9a-f]{64}/H/g; s/uploadId=[^&]*/uploadId=U/')): +$d_up open upload(s), +$d_data pack(s), +$d_idx index, +$d_snap snapshot, +$d_lock marker"
	want "$what: snapshots" $d_snap "$ws"
	want "$what: markers" $d_lock "$wl"
	want "$what: packs" $d_data "$wd"
	want "$what: index objects" $d_idx "$wi"
	want "$what: open uploads" $d_up "$wu"
	[ $d_up -gt 0 ] && mid_exact=$((mid_exact + 1))
	after_kill "$node" "before $what"
	np=$((np + 1))
done 3<<EOF
$points
EOF
! grep -q '^ERROR' "$T/plog" "$T/seq" || fail "proxy: $(grep -h '^ERROR' "$T/plog" "$T/seq")"
ok "$np kills at exact points${skipped:+ (not sent by this server:$skipped)}: the bucket holds what each point implies (open uploads, packs, index, snapshot, marker); check and the next backup fine"
kills=$((killed + np))

# 3. Every chunk of every snapshot is indexed and intact.
sv check $S3 --read-data -q || fail "check --read-data after all kills"
ok "check --read-data after $kills kills ($rounds rounds, each node restored bit-exact after the next kill, $earlier random earlier ones too; $compactions prunes with the default grace deleted no young pack or upload and removed all $markers_gone markers of killed backups)"

# 4. prune --grace 0: no orphans, no tmp/ or locks/ objects, no open
# multipart upload; all judged from the gateway's own listings.
census
out=$(sv check $S3 --json) || fail "check before prune"
packs=$(echo "$out" | tail -n 1 | jnum packs)
o0=$((n_data - packs)) m0=$n_lock up0=$n_up
out=$(sv uploads list $S3 --json) || fail "sstvault uploads list"
svup=$(echo "$out" | grep -o '"upload_id"' | wc -l)
[ "$svup" -eq "$up0" ] || fail "sstvault uploads list: $svup uploads, the gateway lists $up0"
echo "before prune: $n_data objects under data/, $packs packs indexed ($o0 orphans), $m0 marker(s) of killed backups, $up0 open multipart upload(s), $n_tmp under tmp/"
[ "$o0" -gt 0 ] && [ $((m0 + markers_gone)) -gt 0 ] && [ "$up0" -gt 0 ] ||
	fail "the kills left no orphan pack/marker/upload: the test did not exercise prune"
out=$(sv prune $S3 --grace 0 --max-wait 10s --json 2>"$T/err") ||
	fail "prune --grace 0 after killed backups: $(cat "$T/err")"
aborted=$(echo "$out" | jnum uploads_aborted)
unref=$(echo "$out" | jnum unreferenced_deleted)
[ "$aborted" = "$up0" ] && [ "$unref" = "$o0" ] ||
	fail "prune aborted $aborted of $up0 uploads, deleted $unref of $o0 orphans: $out"
rgw_aws s3api list-objects-v2 --bucket "$bucket" --prefix "$PFX/" \
	--query 'Contents[].Key' --output text > "$T/final.txt" ||
	fail "aws s3api list-objects-v2"
tr '\t' '\n' < "$T/final.txt" | grep -v '^None$' > "$T/final"
out=$(sv check $S3 --json) || fail "check after prune"
packs=$(echo "$out" | tail -n 1 | jnum packs)
n=$(grep -c "^$PFX/data/" "$T/final")
[ "$n" -eq "$packs" ] ||
	fail "after prune: $n objects under data/, $packs packs in the index"
bad=$(grep -v -E "^$PFX/(config|keys/[0-9a-f]+|data/[0-9a-f]{2}/[0-9a-f]{64}|index/[0-9a-f]{64}|snapshots/[0-9a-f]{64})\$" "$T/final")
[ -z "$bad" ] || fail "after prune, objects that should be gone: $(echo "$bad" | head -5)"
left=$(rgw_aws s3api list-multipart-uploads --bucket "$bucket" \
	--query 'Uploads[].Key' --output text) || fail "aws s3api list-multipart-uploads"
[ -z "$left" ] || [ "$left" = None ] || fail "multipart uploads left open: $left"
out=$(sv uploads list $S3 --json) || fail "sstvault uploads list"
svup=$(echo "$out" | grep -o '"upload_id"' | wc -l)
[ "$svup" -eq 0 ] || fail "sstvault uploads list: $svup uploads after prune"
ok "prune --grace 0: $o0 orphan pack(s), $m0 marker(s) and $up0 open upload(s) (prune: $unref unreferenced deleted, $aborted aborted) -> 0, 0, 0 in the gateway's listings (aws s3api, sstvault uploads list); $n packs, all indexed"

# 5. After prune: every snapshot ever committed restores bit-exact.
sv check $S3 --read-data -q || fail "check --read-data after prune"
sv snapshots $S3 --json > "$T/snaps.json" || fail "snapshots"
tail -n 1 "$T/snaps.json" | "$PY" -c 'import json,sys
for s in json.load(sys.stdin): print(s["id"], s["node"])' > "$T/snaps" ||
	fail "snapshots --json: $(head -c 300 "$T/snaps.json")"
nsnap=$(wc -l < "$T/snaps")
[ "$nsnap" -ge "$(ls "$T/man" | wc -l)" ] ||
	fail "$nsnap snapshots for $(ls "$T/man" | wc -l) nodes"
# Four restores at a time: each is mostly waiting on the gateway.
export -f manifest
export SSTVAULT T S3
xargs -P 4 -L 1 bash -c 'd=$T/r-$0
	"$SSTVAULT" restore "$0" --target "$d" --no-fsync $S3 -q 2>"$d.err" ||
		{ echo "restore of $0 (node $1) failed: $(cat "$d.err")"; exit 0; }
	manifest "$d" | cmp -s "$T/man/$1" - ||
		echo "snapshot $0 (node $1) restored differs"
	rm -rf "$d" "$d.err"' < "$T/snaps" > "$T/bad" 2>&1
[ ! -s "$T/bad" ] || fail "$(head -5 "$T/bad")"
ok "check --read-data passes and all $nsnap snapshots ($(ls "$T/man" | wc -l) nodes) restore bit-exact after prune"
echo "figures: $kills kills ($killed timed, $np exact), $mid_mp timed and $mid_exact exact ones left open multipart uploads; before prune --grace 0: $o0 orphan packs, $up0 open uploads, $m0 markers (+ $markers_gone removed by the $compactions earlier prunes); after: 0, 0, 0"
echo "$checks checks passed in $(( $(date +%s) - t_start )) s"
