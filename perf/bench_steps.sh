#!/bin/bash
# perf/bench_steps.sh TOOL... : time the full backup, day-2 backup and
# restore steps of perf/bench.sh (cold cache, a final sync in the time) on
# a data set made once, so that several binaries and restic can be
# interleaved on the same bytes. Not part of make test or make bench; the
# "after these profiles" figures in docs/PERFORMANCE.md come from it:
#
#   build/perf/gen_dataset --out $W/node --size 4G --seed 1 \
#       --snapshot snap1 --incremental
#   build/perf/gen_dataset --out $W/node --day2
#   SV=/path/to/old/sstvault perf/bench_steps.sh sv-base
#   perf/bench_steps.sh sv-new restic     # appends to $W/results.txt
#
# TOOL: sstvault or sv-NAME (the binary in SV), or restic.
# env: W (work dir, default perf/out/steps), SV (binary, default
# ./sstvault), DS (data set, default $W/node), STEPS (default "full day2
# restore"). Needs root to drop the page cache.
set -u
W=${W:-perf/out/steps}
mkdir -p "$W"
DS=${DS:-$W/node}
SV=${SV:-./sstvault}
STEPS=${STEPS:-full day2 restore}
PW=$W/passphrase
[ -f $PW ] || { head -c 24 /dev/urandom | base64 >$PW; chmod 600 $PW; }
export SSTVAULT_PASSWORD_FILE=$PW RESTIC_PASSWORD_FILE=$PW RESTIC_CACHE_DIR=$W/restic-cache
tag_dirs() { find "$1" -mindepth 4 -maxdepth 4 -type d -path "*/snapshots/$2" | sort; }
mapfile -t SNAP1 < <(tag_dirs "$DS/data" snap1)
mapfile -t SNAP2 < <(tag_dirs "$DS/data" snap2)
L1=$(find "${SNAP1[@]}" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
L2=$(find "${SNAP2[@]}" -type f -printf '%s\n' | awk '{s+=$1} END {printf "%.0f", s}')
run() { # tool step logical cmd...
	local tool=$1 step=$2 n=$3; shift 3
	sync; echo 3 >/proc/sys/vm/drop_caches
	local load=$(cut -d' ' -f1 /proc/loadavg)
	local t0=$(date +%s%N)
	/usr/bin/time -v -o $W/time.txt "$@" >$W/log-$tool-$step.txt 2>&1 || { echo "$tool $step FAILED"; tail -5 $W/log-$tool-$step.txt; }
	local t1=$(date +%s%N); sync; local t2=$(date +%s%N)
	local rss=$(awk -F': ' '/Maximum resident/ {print $2}' $W/time.txt)
	local cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.1f+%.1f", u, s}' $W/time.txt)
	awk -v t=$tool -v s=$step -v n=$n -v a=$t0 -v b=$t1 -v c=$t2 -v r=$rss -v l=$load -v cpu=$cpu 'BEGIN {w=(c-a)/1e9; printf "%-9s %-8s wall %6.2fs (tool %6.2fs) %7.1f MB/s rss %d MiB cpu %s load %s\n", t, s, w, (b-a)/1e9, n/1e6/w, r/1024, cpu, l}' | tee -a $W/results.txt
}
for tool in "$@"; do
	repo=$W/repo-$tool; t=$W/restore-$tool
	case $tool in
	sstvault|sv-*)
		if [[ " $STEPS " == *" full "* ]]; then rm -rf $repo; $SV init -q --repo $repo; fi
		[[ " $STEPS " == *" full "* ]] && run $tool full $L1 $SV backup --repo $repo --data-dir $DS/data --snapshot snap1 --node bench --json
		[[ " $STEPS " == *" day2 "* ]] && run $tool day2 $L2 $SV backup --repo $repo --data-dir $DS/data --snapshot snap2 --node bench --json
		if [[ " $STEPS " == *" restore "* ]]; then rm -rf $t; mkdir -p $t; run $tool restore $L2 $SV restore latest --repo $repo --target $t --json; rm -rf $t; fi ;;
	restic)
		if [[ " $STEPS " == *" full "* ]]; then rm -rf $repo; restic -r $repo init --repository-version 2 -q; fi
		[[ " $STEPS " == *" full "* ]] && run restic full $L1 restic -r $repo backup -q --compression auto --host bench "${SNAP1[@]}"
		[[ " $STEPS " == *" day2 "* ]] && run restic day2 $L2 restic -r $repo backup -q --compression auto --host bench "${SNAP2[@]}"
		if [[ " $STEPS " == *" restore "* ]]; then rm -rf $t; mkdir -p $t; run restic restore $L2 restic -r $repo restore -q latest --target $t; rm -rf $t; fi ;;
	esac
done
