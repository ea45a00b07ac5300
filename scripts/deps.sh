#!/bin/sh
# Install the Debian 12 packages sstvault needs to build and test, and only
# those that are missing. Runs as root (as on a fresh machine or in CI);
# as another user it prints the apt-get line to run instead.
set -eu
PKGS="build-essential pkg-config liburing-dev libzstd-dev libxxhash-dev libssl-dev
libcurl4-openssl-dev libjansson-dev libyaml-dev zlib1g-dev liblz4-dev libdeflate-dev python3 curl
util-linux groff-base man-db systemd bc strace xxd ${SSTVAULT_EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root: apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
