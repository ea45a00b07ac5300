# lib_rgw.sh - sourced by shell tests that need a real S3 server.
#
#   . tests/lib_rgw.sh
#   rgw_up || exit $?        # 77 (skip) if Ceph cannot be installed
#   trap rgw_down EXIT
#   rgw_aws s3api list-buckets
#
# rgw_up exports SV_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
# AWS_DEFAULT_REGION; for a gateway started by tests/rgw.sh also
# SV_S3_ENDPOINT_TLS + SV_S3_CA_FILE (the same gateway over TLS, and its
# self-signed certificate) and SV_S3_VHOST_ENDPOINT (http://s3.localhost:PORT,
# for virtual-hosted requests). Three ways to get a gateway, first match wins:
#   - SV_S3_ENDPOINT already set: use that server (credentials from the
#     environment, default TESTKEY/TESTSECRET), start and stop nothing;
#   - SV_RGW_SHARED_DIR set: `tests/rgw.sh start` in that directory, which
#     reuses a gateway already running there, and rgw_down leaves it up
#     (whoever set the variable stops it with `tests/rgw.sh stop DIR`);
#   - otherwise a private gateway in a temporary directory, removed by
#     rgw_down.
# Each test should use its own bucket, so tests can share one gateway.

RGW_SH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/rgw.sh"
RGW_DIR=""
RGW_OWNED=0

rgw_up() {
	export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-TESTKEY}
	export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-TESTSECRET}
	export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
	export AWS_EC2_METADATA_DISABLED=true
	if [ -n "${SV_S3_ENDPOINT:-}" ]; then
		return 0
	fi
	if ! "$RGW_SH" install >&2; then
		echo "cannot install Ceph RADOS Gateway (radosgw ceph-mon ceph-osd awscli)"
		return 77
	fi
	if [ -n "${SV_RGW_SHARED_DIR:-}" ]; then
		RGW_DIR=$SV_RGW_SHARED_DIR
	else
		RGW_DIR=$(mktemp -d /tmp/sv-rgw.XXXXXX) || return 1
		RGW_OWNED=1
	fi
	local t0=$(date +%s%N) ep
	if ! ep=$("$RGW_SH" start "$RGW_DIR" | tail -n 1) || [ -z "$ep" ]; then
		echo "rgw: start failed; logs:" >&2
		tail -n 20 "$RGW_DIR"/log/*.log 2>/dev/null >&2
		rgw_down
		return 1
	fi
	export SV_S3_ENDPOINT=$ep
	export SV_S3_ENDPOINT_TLS=$(cat "$RGW_DIR/endpoint_tls")
	export SV_S3_CA_FILE=$RGW_DIR/ca.crt
	export SV_S3_VHOST_ENDPOINT=http://s3.localhost:${ep##*:}
	echo "rgw: $SV_S3_ENDPOINT ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}

rgw_down() {
	if [ "$RGW_OWNED" = 1 ] && [ -n "$RGW_DIR" ]; then
		"$RGW_SH" stop "$RGW_DIR"
		rm -rf "$RGW_DIR"
		RGW_OWNED=0
		unset SV_S3_ENDPOINT SV_S3_ENDPOINT_TLS SV_S3_CA_FILE \
			SV_S3_VHOST_ENDPOINT
	fi
}

# Debian's awscli v2 (another `aws` may come first on PATH). Its CA bundle
# variable breaks plain-http endpoints, so it is dropped here.
rgw_aws() {
	env -u AWS_CA_BUNDLE /usr/bin/aws --endpoint-url "$SV_S3_ENDPOINT" "$@"
}
