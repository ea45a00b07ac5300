#!/bin/bash
# A real S3 server for the tests: single-node Ceph (one ceph-mon, one
# memstore ceph-osd, radosgw) on 127.0.0.1, from Debian 12's Ceph 16.2.
#
#   tests/rgw.sh install            install radosgw ceph-mon ceph-osd awscli
#                                   (only what is missing; needs root)
#   tests/rgw.sh start DIR [PORT]   start it in DIR (default port: a free one),
#                                   create user TESTKEY/TESTSECRET and print
#                                   the endpoint (http://127.0.0.1:PORT) as
#                                   the last line; also in DIR/endpoint
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

PKGS="radosgw ceph-mon ceph-osd awscli"
ACCESS=TESTKEY
SECRET=TESTSECRET

die() {
	echo "rgw: $*" >&2
	exit 1
}

# Print a TCP port nobody listens on (the kernel picks it).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
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

# Kill one daemon by its PID file and wait up to 20 s for it to exit.
kill_pidfile() {
	local f=$1 pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f" 2>/dev/null || true)
	rm -f "$f"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

cmd_stop() {
	local d=${1:?usage: rgw.sh stop DIR}
	[ -d "$d/run" ] || return 0
	# Gateway first (it is the OSD's client), then the OSD, then the monitor.
	kill_pidfile "$d/run/client.rgw.a.pid"
	kill_pidfile "$d/run/osd.0.pid"
	kill_pidfile "$d/run/mon.a.pid"
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
	for p in ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool; do
		command -v $p >/dev/null || die "$p not found (tests/rgw.sh install)"
	done
	cmd_stop "$d"
	rm -rf "$d"
	mkdir -p "$d/mon" "$d/osd0" "$d/run" "$d/log" "$d/rgw"
	d=$(cd "$d" && pwd)
	[ -n "$port" ] || port=$(free_port)
	local mon2 mon1
	mon2=$(free_port)
	mon1=$(free_port)
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
[mon.a]
mon_data = $d/mon
[osd.0]
osd_data = $d/osd0
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$port
rgw_data = $d/rgw
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
