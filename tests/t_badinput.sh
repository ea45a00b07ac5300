#!/bin/bash
# Issue 7, bad input from the node: a file that changes between discovery
# and read, a file and a directory the backup user cannot read, a FIFO, a
# full disk during restore, a snapshot with a missing SSTable component, an
# empty data directory and a data directory that does not exist. Each case:
# a message naming the thing, the documented exit code, and nothing wrong
# in the repository or the restore target.
#
# Known gaps (reported, see docs/RELIABILITY.md) print a "GAP:" line; with
# SV_STRICT_GAPS=1 they fail the test.
. "$(dirname "$0")/lib.sh"
[ -d "$SV_FIXTURES/data" ] || { echo "fixtures not found at $SV_FIXTURES"; exit 77; }
t_start=$(date +%s)
ok() { checks=$((checks + 1)); echo "ok $checks - $* [$(($(date +%s) - t_start)) s]"; }
STRICT=${SV_STRICT_GAPS:-0}
gaps=0
gap() {
	gaps=$((gaps + 1))
	echo "GAP: $*"
	[ "$STRICT" = 1 ] && fail "$*"
	return 0
}
R=$T/repo
export SSTVAULT_REPO=$R SSTVAULT_PASSWORD_FILE=$PW
sv init -q || fail init
NODE=$(dirname "$0")/cass_node.py
restored() {   # restored NODE DIR: restore the node's latest into DIR
	rm -rf "$2"
	sv restore latest --node "$1" --target "$2" --no-fsync -q ||
		fail "restore of $1 (exit $?)"
}

# (a) A file that changes after discovery, before it is read.
S=$T/a
mkdir -p "$S"
head -c 3000000 /dev/urandom > "$S/grow.db"
head -c 2000000 /dev/urandom > "$S/shrink.db"
head -c 1000000 /dev/urandom > "$S/rewrite.db"
head -c 5000 /dev/urandom > "$S/stable.db"
cp -p "$S/stable.db" "$T/stable.ref"
for c in "echo extra >> $S/grow.db:grow.db" \
	"truncate -s 100 $S/shrink.db:shrink.db" \
	"dd if=/dev/urandom of=$S/rewrite.db bs=4096 count=1 conv=notrunc status=none; touch -d @1000000000 $S/rewrite.db:rewrite.db"; do
	hook=${c%:*}; f=${c##*:}
	node=a-${f%.db}
	err=$(SSTVAULT_TEST_AFTER_WALK="$hook" sv backup --data-dir "$S" --node "$node" 2>&1 >/dev/null); rc=$?
	[ $rc -eq 1 ] || fail "$f changed during backup: exit $rc, want 1: $err"
	echo "$err" | grep -q "$f: changed while it was read" ||
		fail "no warning naming $f: $err"
	restored "$node" "$T/ra"
	[ ! -e "$T/ra/$f" ] || fail "$f, changed during the backup, is in the snapshot"
	cmp -s "$T/ra/stable.db" "$T/stable.ref" || fail "stable.db not restored intact"
	ok "(a) $f changed after discovery ($hook): exit 1, '$(echo "$err" | grep "$f" | head -1)', left out of the snapshot; other files intact"
done
# A file already in the node's catalog (same inode, size, mtime at
# discovery) is not read again: a change after the walk is not seen, and the
# snapshot keeps the content the catalog vouches for (consistent, but older
# than the disk).
sv backup --data-dir "$S" --node a-cat -q || fail "catalog backup"
cp -p "$S/grow.db" "$T/grow.ref"
SSTVAULT_TEST_AFTER_WALK="echo more >> $S/grow.db" sv backup --data-dir "$S" --node a-cat -q 2>/dev/null; rc=$?
restored a-cat "$T/ra"
if [ $rc -eq 0 ]; then
	cmp -s "$T/ra/grow.db" "$T/grow.ref" ||
		fail "catalog hit: snapshot holds neither the old nor a verified content"
	gap "(a) a file unchanged at discovery but changed before its (skipped) read is not reported; the snapshot holds its discovery-time content (engine/backup.c: no re-stat of catalog hits)"
else
	[ ! -e "$T/ra/grow.db" ] || fail "changed catalog file kept"
	ok "(a) catalog hit changed after discovery: reported"
fi

# (b) Permission denied: the backup runs as nobody on a tree holding a
# 0600 root file, a 0700 root directory and a FIFO.
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1 &&
	setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
	B=$(mktemp -d /tmp/sv-nobody.XXXXXX)
	trap 'rm -rf "$T" "$B"' EXIT
	chmod 755 "$B"
	mkdir -p "$B/src/ks/t1" "$B/src/locked"
	head -c 100000 /dev/urandom > "$B/src/ks/t1/ok.db"
	head -c 100000 /dev/urandom > "$B/src/ks/t1/private.db"
	touch "$B/src/locked/inside.db"
	mkfifo "$B/src/ks/fifo"
	chmod -R a+rX "$B/src"
	chmod 600 "$B/src/ks/t1/private.db"
	chmod 700 "$B/src/locked"
	cp "$PW" "$B/pw"; mkdir "$B/repo" "$B/cache" "$B/o"
	chown nobody "$B/pw" "$B/repo" "$B/cache" "$B/o"
	asnobody() {
		setpriv --reuid=nobody --regid=nogroup --clear-groups \
			env SSTVAULT_CACHE_DIR="$B/cache" "$SSTVAULT" "$@" \
			--repo "$B/repo/r" --password-file "$B/pw"
	}
	asnobody init -q || fail "init as nobody"
	# Files only: the unreadable file and the FIFO.
	chmod 755 "$B/src/locked"
	err=$(asnobody backup --data-dir "$B/src/ks" 2>&1 >/dev/null); rc=$?
	[ $rc -eq 1 ] || fail "unreadable file: exit $rc, want 1: $err"
	# The full path, as the operator gave the data directory.
	echo "$err" | grep -qF "$B/src/ks/t1/private.db: Permission denied" ||
		fail "no warning naming $B/src/ks/t1/private.db: $err"
	echo "$err" | grep -q "fifo.*not a regular file" ||
		fail "no warning naming the FIFO: $err"
	asnobody restore latest --target "$B/o/out" --no-fsync -q ||
		fail "restore as nobody"
	[ ! -e "$B/o/out/t1/private.db" ] && cmp -s "$B/o/out/t1/ok.db" "$B/src/ks/t1/ok.db" ||
		fail "restore: private.db present or ok.db differs"
	ok "(b) as nobody: 0600 root file -> exit 1, '$(echo "$err" | grep private.db | head -1)'; FIFO -> '$(echo "$err" | grep fifo | head -1)'; the rest restores"
	# An unreadable directory.
	chmod 700 "$B/src/locked"
	err=$(asnobody backup --data-dir "$B/src" 2>&1 >/dev/null); rc=$?
	if [ $rc -eq 1 ] && echo "$err" | grep -q "locked.*Permission denied" &&
		! echo "$err" | grep -q "backup failed"; then
		ok "(b) unreadable directory: exit 1, warning names it, the rest is backed up"
	else
		echo "$err" | grep -q "locked.*Permission denied" ||
			fail "unreadable directory not named: $err"
		gap "(b) an unreadable sub-directory fails the whole backup (exit $rc): $(echo "$err" | tr '\n' '|') -- io/walk.c walk_dir passes the callback's skip value 1 up as an error"
	fi
	rm -rf "$B"
else
	echo "(b) skipped: setpriv or user nobody unavailable"
fi

# (c) Full disk during restore: a 2 MiB tmpfs, 3 MiB of data.
M=$T/mnt
mkdir -p "$M" "$T/c"
head -c 1500000 /dev/urandom > "$T/c/one.db"
head -c 1500000 /dev/urandom > "$T/c/two.db"
head -c 1000 /dev/urandom > "$T/c/small.db"
sv backup --data-dir "$T/c" --node c -q || fail "backup (c)"
if mount -t tmpfs -o size=2m tmpfs "$M" 2>/dev/null; then
	trap 'umount "$M" 2>/dev/null; rm -rf "$T"' EXIT
	err=$(sv restore latest --node c --target "$M/out" 2>&1 >/dev/null); rc=$?
	[ $rc -eq 4 ] || fail "restore to a full disk: exit $rc, want 4: $err"
	echo "$err" | grep -q "No space left on device" || fail "no ENOSPC message: $err"
	echo "$err" | grep -qE "(one|two)\.db: No space left" || fail "ENOSPC message names no file: $err"
	[ -z "$(find "$M" -name '*.sstvault-tmp')" ] || fail "temporaries left: $(find "$M" -name '*.sstvault-tmp')"
	nok=0
	for f in $(cd "$M/out" && find . -type f); do
		cmp -s "$M/out/$f" "$T/c/$f" || fail "$f present but incomplete or wrong after ENOSPC"
		nok=$((nok + 1))
	done
	umount "$M"
	ok "(c) restore onto a full 2 MiB tmpfs: exit 4, '$(echo "$err" | grep 'No space' | head -1)'; $nok file(s) present, all complete and correct, no *.sstvault-tmp"
else
	echo "(c) skipped: cannot mount a tmpfs"
fi

# (d) A snapshot that lacks one component of an SSTable.
python3 "$NODE" build "$SV_FIXTURES/data" "$T/node" && python3 "$NODE" snapshot "$T/node" s1
victim=$(ls "$T"/node/data*/legacy_tables/*/snapshots/s1/*Index.db | head -1)
rm -f "$victim"
err=$(sv backup --data-dir "$T/node/data1" --data-dir "$T/node/data2" --snapshot s1 --node d 2>&1 >/dev/null); rc=$?
if [ $rc -eq 1 ] && echo "$err" | grep -q "$(basename "$victim")"; then
	ok "(d) missing $(basename "$victim"): exit 1 and a warning naming it"
else
	[ $rc -eq 0 ] || fail "missing component: exit $rc: $err"
	gap "(d) $(basename "$victim") missing from the snapshot (listed in TOC.txt and manifest.json): backup exits $rc without a warning; the restored SSTable is unusable"
fi

# (e) An empty data directory: a snapshot with 0 files, exit 0.
mkdir -p "$T/empty"
out=$(sv backup --data-dir "$T/empty" --node e --json 2>"$T/err"); rc=$?
[ $rc -eq 0 ] || fail "empty data dir: exit $rc: $(cat "$T/err")"
[ "$(echo "$out" | json_get files)" -eq 0 ] || fail "empty data dir: $out"
sv restore latest --node e --target "$T/re" -q || fail "restore of the empty snapshot"
[ -z "$(ls -A "$T/re")" ] || fail "empty snapshot restored files"
ok "(e) empty data directory: exit 0, a snapshot of 0 files that restores to nothing (docs/OPERATIONS.md)"

# (f) A data directory that does not exist.
err=$(sv backup --data-dir "$T/nonexistent" --node f 2>&1 >/dev/null); rc=$?
echo "$err" | grep -q "$T/nonexistent.*No such file or directory" ||
	fail "message does not name the missing directory: $err"
n=$(ls "$R/snapshots" | wc -l)
if [ $rc -eq 2 ] || [ $rc -eq 4 ]; then
	ok "(f) nonexistent --data-dir: exit $rc, '$(echo "$err" | head -1)'"
else
	gap "(f) nonexistent --data-dir exits $rc (3 = repository or key error; want 2 usage or 4 IO): $(echo "$err" | head -1)"
fi
# (g) A restore that cannot create a symlink (a non-empty directory holds
# its name in a target restored into with --force): exit 4, the target's
# IO, naming the path; the regular files still restore.
mkdir -p "$T/g/src" "$T/g/out/lnk"
echo data > "$T/g/src/file"; ln -s file "$T/g/src/lnk"; echo x > "$T/g/out/lnk/keep"
sv backup --data-dir "$T/g/src" --node g -q || fail "(g) backup"
err=$(sv restore latest --node g --target "$T/g/out" --force 2>&1 >/dev/null); rc=$?
[ $rc -eq 4 ] || fail "(g) symlink that cannot be created: exit $rc, want 4: $err"
echo "$err" | grep -q "cannot create symlink $T/g/out/lnk" || fail "(g) message: $err"
cmp -s "$T/g/src/file" "$T/g/out/file" || fail "(g) the regular file was not restored"
ok "(g) symlink over a non-empty directory: exit 4, '$(echo "$err" | head -1)'"
echo "$checks checks passed, $gaps gap(s), in $(( $(date +%s) - t_start )) s"
