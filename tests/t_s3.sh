#!/bin/bash
# The S3 backend against a real Ceph RADOS Gateway: runs the uploader-level
# C test (tests/test_s3.c), then checks its results with an independent
# client (Debian's awscli v2): the multipart object's ETag must be the
# md5-of-part-md5s we recompute here from the uploaded bytes, and no
# multipart upload may be left behind.
set -u
cd "$(dirname "$0")/.."
. tests/lib_rgw.sh

SV_BUILD=${SV_BUILD:-$PWD/build}
bin=$SV_BUILD/tests/test_s3
if [ ! -x "$bin" ]; then
	echo "$bin not built"
	exit 1
fi
rgw_up
rc=$?
[ $rc = 0 ] || exit $rc
data=$(mktemp /tmp/sv-s3data.XXXXXX)
bucket=svt-$$-$RANDOM
cleanup() {
	# A private gateway goes away whole; on a shared one, drop our bucket.
	[ "$RGW_OWNED" = 1 ] ||
		rgw_aws s3 rb --force "s3://$bucket" >/dev/null 2>&1
	rm -f "$data"
	rgw_down
}
trap cleanup EXIT

t0=$(date +%s%N)
SV_S3_BUCKET=$bucket SV_S3_DATA_OUT=$data "$bin"
rc=$?
echo "test_s3: rc=$rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ $rc = 0 ] || exit 1

fail=0
got=$(rgw_aws s3api head-object --bucket "$bucket" --key t/mp40 \
	--query ETag --output text | tr -d '"')
want=$(python3 - "$data" <<'PY'
import hashlib, sys
md5s, n = b"", 0
with open(sys.argv[1], "rb") as f:
    while True:
        b = f.read(5 << 20)
        if not b:
            break
        md5s += hashlib.md5(b).digest()
        n += 1
print("%s-%d" % (hashlib.md5(md5s).hexdigest(), n))
PY
)
if [ -n "$got" ] && [ "$got" = "$want" ]; then
	echo "ok   aws head-object ETag of t/mp40 is md5(part md5s)-8: $got"
else
	echo "FAIL aws head-object ETag of t/mp40: got '$got', want '$want'"
	fail=1
fi
n=$(rgw_aws s3api list-multipart-uploads --bucket "$bucket" \
	--query 'length(Uploads || `[]`)' --output text)
if [ "$n" = 0 ]; then
	echo "ok   aws list-multipart-uploads: none left"
else
	echo "FAIL aws list-multipart-uploads: $n left, want 0"
	fail=1
fi
exit $fail
