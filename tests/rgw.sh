#!/bin/bash
# A real S3 server for the tests: single-node Ceph (one ceph-mon, one
# memstore ceph-osd, radosgw) on 127.0.0.1, from Debian 12's Ceph 16.2.
#
#   tests/rgw.sh install            install radosgw ceph-mon ceph-osd awscli
#                                   (only what is missing; needs root)
#   tests/rgw.sh start DIR [PORT]   start it in DIR (default port: a free one),
#                                   create user TESTKEY/TESTSECRET and print
#                                   the endpoint (http://127.0.0.1:PORT) as
#                                   the last line; also in DIR/endpoint.
#                                   The same gateway serves TLS on another
#                                   port: DIR/endpoint_tls (https://...) with
#                                   a self-signed certificate, DIR/ca.crt, for
#                                   127.0.0.1, localhost and *.s3.localhost.
#                                   Virtual-hosted requests work through
#                                   http://s3.localhost:PORT (curl resolves
#                                   *.localhost to 127.0.0.1).
#   tests/rgw.sh stop DIR           kill the daemons by their PID files, wait
#   tests/rgw.sh status DIR         exit 0 if the gateway in DIR answers
#
# start is idempotent-ish: if DIR already holds a gateway that answers, it
# only prints the endpoint; otherwise it stops whatever DIR holds and builds
# a fresh cluster there. memstore keeps the objects in RAM, so the OSD is
# limited to SV_RGW_STORE_BYTES (default 3 GiB: a 512 MiB backup test plus
# the copies a multipart upload makes while it completes, plus overhead).
# The monitor listens on two free ports picked here as well, so several
# clusters can run side by side.
#
# Cross-check client: Debian's awscli v2 is /usr/bin/aws (another `aws` may
# come first on PATH). Against the plain-http endpoint run it under
# `env -u AWS_CA_BUNDLE`.
set -eu

PKGS="radosgw ceph-mon ceph-osd awscli openssl"
ACCESS=TESTKEY
SECRET=TESTSECRET

die() {
	echo "rgw: $*" >&2
	exit 1
}

# Print a TCP port in 20000..59999 that nobody listens on: a connect that
# is refused at once. (Pure bash: starting an interpreter costs more than
# the whole probe.)
free_port() {
	local p i
	for i in $(seq 1 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
			echo $p
			return 0
		fi
	done
	die "no free port found"
}

http_code() {
	curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
}

cmd_install() {
	local missing="" p
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || die "missing packages:$missing (run as root: apt-get install -y$missing)"
	echo "rgw: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists yet: update once and retry.
	apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 || {
		apt-get update -qq &&
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	}
}

cmd_stop() {
	local d=${1:?usage: rgw.sh stop DIR} f pid pids="" alive i
	[ -d "$d/run" ] || return 0
	# The cluster is disposable (memstore keeps nothing, and start rebuilds
	# it from scratch), so SIGKILL: on SIGTERM the OSD alone takes ~5 s to
	# shut down. Then wait until all three are gone.
	for f in client.rgw.a osd.0 mon.a; do
		pid=$(cat "$d/run/$f.pid" 2>/dev/null || true)
		rm -f "$d/run/$f.pid"
		[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && pids="$pids $pid"
	done
	for i in $(seq 1 100); do
		alive=""
		for pid in $pids; do
			kill -0 "$pid" 2>/dev/null && alive="$alive $pid"
		done
		pids=$alive
		[ -z "$pids" ] && return 0
		sleep 0.1
	done
	die "daemons$pids did not exit"
}

cmd_status() {
	local d=${1:?usage: rgw.sh status DIR}
	[ -f "$d/endpoint" ] && [ -f "$d/run/client.rgw.a.pid" ] || return 1
	kill -0 "$(cat "$d/run/client.rgw.a.pid")" 2>/dev/null || return 1
	[ "$(http_code "$(cat "$d/endpoint")/")" = 200 ]
}

# Wait until cmd succeeds, at most $1 tenths of a second.
wait_for() {
	local n=$1 i
	shift
	for i in $(seq 1 "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

rgw_answers() {
	[ "$(http_code "http://127.0.0.1:$1/")" = 200 ]
}

osd_up() {
	ceph -c "$1/ceph.conf" osd stat 2>/dev/null | grep -q '1 up'
}

cmd_start() {
	local d=${1:?usage: rgw.sh start DIR [PORT]} port=${2:-} fsid ou id c
	local t0
	t0=$(date +%s%N)
	if cmd_status "$d"; then
		cat "$d/endpoint"
		return 0
	fi
	for p in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool openssl; do
		command -v $p >/dev/null || die "$p not found (tests/rgw.sh install)"
	done
	cmd_stop "$d"
	rm -rf "$d"
	mkdir -p "$d/mon" "$d/osd0" "$d/run" "$d/log" "$d/rgw"
	d=$(cd "$d" && pwd)
	[ -n "$port" ] || port=$(free_port)
	local mon2 mon1 tport
	mon2=$(free_port)
	mon1=$(free_port)
	tport=$(free_port)
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1 \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost" \
		-keyout "$d/tls.key" -out "$d/ca.crt" >/dev/null 2>&1 ||
		die "cannot make a TLS certificate"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$d/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
public_network = 127.0.0.0/8
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_max_pg_per_osd = 1000
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = ${SV_RGW_STORE_BYTES:-3221225472}
run_dir = $d/run
log_file = $d/log/\$name.log
admin_socket = $d/run/\$name.asok
pid_file = $d/run/\$name.pid
keyring = $d/keyring
client_mount_timeout = 30
# One monitor needs no batching of Paxos proposals: with the default 1 s
# interval every pool radosgw creates at its first start costs a second.
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
[mon.a]
mon_data = $d/mon
[osd.0]
osd_data = $d/osd0
[client.rgw.a]
rgw_frontends = beast tcp_nodelay=1 endpoint=127.0.0.1:$port ssl_endpoint=127.0.0.1:$tport ssl_certificate=$d/ca.crt ssl_private_key=$d/tls.key
rgw_data = $d/rgw
# Host: bucket.s3.localhost selects the bucket (virtual-hosted style).
rgw_dns_name = s3.localhost
# Deleted and overwritten data is freed by the gateway's garbage collector,
# by default no sooner than 2 hours later: the RAM-backed store would fill
# up (and block every write) after a few GB of tests or benchmarks.
rgw_gc_obj_min_wait = 2
rgw_gc_processor_period = 2
CONF
	c="-c $d/ceph.conf"
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. \
		--cap mon 'allow *' >/dev/null
	ceph-authtool "$d/keyring" --gen-key -n client.admin --cap mon 'allow *' \
		--cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
	ceph-authtool "$d/keyring" --gen-key -n osd.0 --cap mon 'allow profile osd' \
		--cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
	ceph-authtool "$d/keyring" --gen-key -n client.rgw.a --cap mon 'allow rw' \
		--cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
	monmaptool --create --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" \
		--fsid "$fsid" "$d/monmap" >/dev/null
	ceph-mon $c --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring" \
		>"$d/log/mkfs.out" 2>&1 || die "ceph-mon --mkfs failed, see $d/log"
	# Each daemon forks into the background and writes its PID file.
	ceph-mon $c -i a >>"$d/log/start.out" 2>&1 || die "ceph-mon failed, see $d/log"
	ceph $c auth import -i "$d/keyring" >/dev/null 2>&1 ||
		die "ceph auth import failed, see $d/log"
	ou=$(cat /proc/sys/kernel/random/uuid)
	id=$(ceph $c osd new "$ou") || die "ceph osd new failed"
	ceph-osd $c -i "$id" --mkfs --osd-uuid "$ou" >>"$d/log/mkfs.out" 2>&1 ||
		die "ceph-osd --mkfs failed, see $d/log"
	ceph-osd $c -i "$id" >>"$d/log/start.out" 2>&1 || die "ceph-osd failed, see $d/log"
	wait_for 600 osd_up "$d" || die "osd did not come up in 60 s, see $d/log"
	radosgw $c -n client.rgw.a >>"$d/log/start.out" 2>&1 ||
		die "radosgw failed, see $d/log"
	wait_for 900 rgw_answers "$port" ||
		die "radosgw did not answer on port $port in 90 s, see $d/log"
	radosgw-admin $c -n client.admin user create --uid=test --display-name=test \
		--access-key=$ACCESS --secret-key=$SECRET \
		>"$d/log/user-create.json" 2>"$d/log/user-create.err" ||
		die "user create failed: $(cat "$d/log/user-create.err")"
	echo "https://127.0.0.1:$tport" >"$d/endpoint_tls"
	echo "http://127.0.0.1:$port" >"$d/endpoint"
	echo "rgw: up in $(( ($(date +%s%N) - t0) / 1000000 )) ms ($ACCESS/$SECRET)" >&2
	cat "$d/endpoint"
}

case "${1:-}" in
install) cmd_install ;;
start) shift; cmd_start "$@" ;;
stop) shift; cmd_stop "$@" ;;
status) shift; cmd_status "$@" ;;
*) echo "usage: tests/rgw.sh install | start DIR [PORT] | stop DIR | status DIR" >&2
   exit 2 ;;
esac
