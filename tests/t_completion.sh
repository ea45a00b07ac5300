#!/bin/bash
# Issue 8: bash completion (contrib/bash-completion/sstvault). Sources it,
# fills COMP_WORDS/COMP_CWORD as bash does, calls the completion function
# and checks COMPREPLY: commands, options derived from the real binary's
# --help (and from a fake binary, to show they are read at completion
# time), option values (--layout, lists like node|cluster, files,
# directories), key/config/uploads actions, --opt=value, and the static
# fallback used when the binary cannot be run, which must list exactly
# what the binary's --help lists.
. "$(dirname "$0")/lib.sh"
COMP=$(cd "$(dirname "$0")/.." && pwd)/contrib/bash-completion/sstvault
[ -f "$COMP" ] || fail "$COMP is missing"
# shellcheck source=/dev/null
. "$COMP" || fail "sourcing $COMP failed"
complete -p sstvault | grep -q -- '-F _sstvault' || fail "no 'complete -F _sstvault sstvault'"
ok "sourcing registers 'complete -F _sstvault sstvault'"

# comp WORD... : complete the last word in this shell (so that what the
# completion remembers carries over, as in an interactive shell); sets
# $got to COMPREPLY sorted, on one line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_sstvault
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
}
expect() {   # expect DESCRIPTION WANT WORD...
	local what=$1 want=$2
	shift 2
	comp "$@"
	[ "$got" = "$want" ] || fail "$what: completing '$*' gave '$got', want '$want'"
	ok "$what: '$*<TAB>' -> ${want:-(nothing)}"
}

for BIN in "$SSTVAULT" /nonexistent/sstvault; do
	[ "$BIN" = "$SSTVAULT" ] && how="from --help" || how="static fallback"
	expect "$how: command" "backup" "$BIN" ba
	expect "$how: options" "--snapshot --snapshot-command" "$BIN" backup --sn
	expect "$how: --layout values" "data-dir loader tree" "$BIN" restore --layout ""
	expect "$how: --layout=value (split at =)" "data-dir loader tree" "$BIN" restore --layout = ""
	expect "$how: --layout=prefix (split at =)" "loader" "$BIN" restore --layout = lo
	expect "$how: --layout=prefix (one word)" "--layout=data-dir" "$BIN" restore --layout=d
	expect "$how: list metavariable" "cluster node" "$BIN" forget --group-by ""
	expect "$how: key actions" "add list passwd remove" "$BIN" key ""
	expect "$how: key actions after an option and its value" "add list passwd remove" "$BIN" key --repo /x ""
	expect "$how: no action after the first" "" "$BIN" key list l
	expect "$how: restore's first argument" "latest" "$BIN" restore --target /t ""
	expect "$how: restore --node" "all" "$BIN" restore --node a
	expect "$how: a switch's next word is an option again" "--json" "$BIN" check --read-data --js
done

# Files and directories.
mkdir -p "$T/fs/dir1" "$T/fs/dir2"
: >"$T/fs/file1"
: >"$T/fs/dfile"
expect "--data-dir completes directories only" "$T/fs/dir1 $T/fs/dir2" "$SSTVAULT" backup --data-dir "$T/fs/d"
expect "--target completes directories only" "$T/fs/dir1 $T/fs/dir2" "$SSTVAULT" restore --target "$T/fs/d"
expect "--repo completes directories" "$T/fs/dir1 $T/fs/dir2" "$SSTVAULT" init --repo "$T/fs/d"
expect "--password-file completes files" "$T/fs/dfile $T/fs/dir1 $T/fs/dir2" "$SSTVAULT" init --password-file "$T/fs/d"
for o in --key-file --cassandra-yaml --schema-file; do
	expect "$o completes files" "$T/fs/file1" "$SSTVAULT" backup "$o" "$T/fs/f"
done
expect "a value that is no file name completes nothing" "" "$SSTVAULT" backup --threads ""

# Options are read from the binary at completion time: a fake binary with
# an option sstvault does not have.
cat >"$T/fakesv" <<'EOF'
#!/bin/sh
if [ "$1" = --help ]; then
	printf 'Usage: sstvault COMMAND\n\nCommands:\n  backup     b\n  zap        z\n\nRun it.\n'
else
	printf 'Usage: sstvault %s\n\nOptions:\n      --zzz-file FILE            a file\n      --zzz-mode a|b             a mode\n      --zzz                      a switch\n' "$1"
fi
EOF
chmod +x "$T/fakesv"
expect "commands come from the binary" "zap" "$T/fakesv" z
expect "options come from the binary" "--zzz --zzz-file --zzz-mode" "$T/fakesv" backup --zz
expect "values come from the binary's metavariable" "a b" "$T/fakesv" backup --zzz-mode ""
# --help is remembered per binary; a new binary (other size) is asked again.
sed -i 's/--zzz-mode a|b  /--zzz-mode a|b|c/' "$T/fakesv"
expect "a changed binary is read again" "a b c" "$T/fakesv" backup --zzz-mode ""

# The static fallback must match the binary's --help exactly.
set -f
_sstvault_commands "$SSTVAULT"
dyn=$(echo $_sstvault_reply | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ')
sta=$(echo $_sstvault_static_commands | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' ')
[ "$dyn" = "$sta" ] || fail "static command list '$sta' differs from --help's '$dyn': update _sstvault_static_commands in $COMP"
drift=""
n=0
for c in $_sstvault_static_commands; do
	[ "$c" = version ] && continue
	_sstvault_options "$SSTVAULT" "$c"
	dyn=$(echo $_sstvault_reply | tr ' ' '\n' | LC_ALL=C sort)
	sta=$(_sstvault_static_options "$c" | tr ' ' '\n' | LC_ALL=C sort)
	[ -n "$dyn" ] || fail "no options read from '$SSTVAULT $c --help'"
	if [ "$dyn" != "$sta" ]; then
		drift="$drift
$c: only in --help: $(comm -23 <(echo "$dyn") <(echo "$sta") | tr '\n' ' ')
$c: only in the static list: $(comm -13 <(echo "$dyn") <(echo "$sta") | tr '\n' ' ')"
	fi
	n=$((n + $(echo "$dyn" | wc -l)))
done
set +f
[ -z "$drift" ] || fail "the static fallback in $COMP differs from --help (update _sstvault_static_options):$drift"
ok "static fallback lists the same $n options of $(echo $_sstvault_static_commands | wc -w) commands as --help"
echo "t_completion: $checks checks passed"
