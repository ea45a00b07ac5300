#!/bin/bash
# Issue 8: the manual page docs/sstvault.1 says what the binary does.
#  - every command of 'sstvault --help' has a subsection under COMMANDS;
#  - every option of 'sstvault CMD --help', written as --help writes it
#    ("--keep-last N", "-v, --verbose"), is described in its command's
#    subsection; options that every command takes may instead be described
#    once, in a section whose title ends in OPTIONS (COMMON OPTIONS, S3
#    OPTIONS);
#  - no option is documented that no command takes (stale after a rename);
#  - the variables --help names and the exit codes it lists are described;
#  - the header carries the binary's version;
#  - the page renders with groff -ww and man -l without a warning, within
#    80 columns (that part is skipped, not the test, without groff);
#  - every 'sstvault CMD ...' command line in README.md, docs/OPERATIONS.md,
#    docs/RUNBOOKS.md and the page itself uses only options CMD takes;
#  - README.md mentions 'make demo' and 'make test'.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
PAGE=docs/sstvault.1
[ -f "$PAGE" ] || fail "$PAGE is missing"
"$SSTVAULT" --help >/dev/null || fail "$SSTVAULT --help failed"

python3 - "$SSTVAULT" "$PAGE" <<'PY' || fail "the manual page does not match --help (see above)"
import re, subprocess, sys

sv, page = sys.argv[1], sys.argv[2]
errors = []


def run(*args):
    return subprocess.run([sv, *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout


# ---- what the binary says ----
top = run("--help")
cmds = []
in_cmds = False
for line in top.splitlines():
    if line.startswith("Commands:"):
        in_cmds = True
        continue
    if in_cmds:
        m = re.match(r"^  ([a-z][a-z0-9-]*)\s", line)
        if not m:
            break
        cmds.append(m.group(1))
if len(cmds) < 8:
    sys.exit("could not read the command list from --help:\n" + top)

METAVAR = re.compile(r"^(?:[A-Z][A-Z0-9_.:\[\]-]*(?:\.\.\.)?|\S*\|\S*)$")


def parse_options(text):
    """--help's option lines -> ['--repo REPO', '-v, --verbose', ...]."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^\s+((?:-[A-Za-z], )?--[a-z0-9][a-z0-9-]*)(.*)$", line)
        if not m:
            continue
        opt, rest = m.group(1), m.group(2)
        # The argument follows after exactly one space; the description
        # after the padding (or one space when the column overflowed).
        a = re.match(r"^ (\S+)", rest)
        if a and METAVAR.match(a.group(1)):
            opt += " " + a.group(1)
        out.append(opt)
    return out


helps = {}
for c in cmds:
    h = run(c, "--help")
    if not h.startswith("Usage:"):
        helps[c] = None          # e.g. 'version': no options
        continue
    helps[c] = parse_options(h)
    if not helps[c]:
        errors.append(f"{c}: no options parsed from '{c} --help'")
with_help = [c for c in cmds if helps[c] is not None]
common = set.intersection(*(set(helps[c]) for c in with_help))
all_names = {re.search(r"--[a-z0-9-]+", o).group(0)
             for c in with_help for o in helps[c]}

# ---- what the page says ----
ESC = [(r"\(aq", "'"), (r"\(ga", "`"), (r"\(em", "--"), (r"\(en", "-"),
       (r"\-", "-"), (r"\&", ""), (r"\|", ""), (r"\^", ""), (r"\e", "\\"),
       (r"\ ", " "), (r"\~", " ")]


def plain(s):
    s = re.sub(r"\\f(?:\[[^]]*\]|\(..|.)", "", s)
    for a, b in ESC:
        s = s.replace(a, b)
    return s


def macro_args(s):
    args, cur, q, i = [], "", False, 0
    while i < len(s):
        ch = s[i]
        if ch == '"':
            if q and s[i + 1:i + 2] == '"':
                cur += '"'
                i += 1
            else:
                q = not q
        elif ch in " \t" and not q:
            if cur:
                args.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    if cur:
        args.append(cur)
    return args


FONT_MACROS = {"B", "I", "SM", "SB", "BI", "IB", "BR", "RB", "IR", "RI"}
sections = {}         # "SH TITLE" / "SS title" -> plain text
order = []
key = None
version_hdr = None
page_lines = []       # plain text, one line per source line
for raw in open(page, encoding="utf-8"):
    raw = raw.rstrip("\n")
    if raw.startswith('.\\"') or raw.startswith("'\\\""):
        continue
    m = re.match(r"^[.'](\S+)\s*(.*)$", raw)
    if m:
        mac, rest = m.group(1), m.group(2)
        args = [plain(a) for a in macro_args(rest)]
        if mac == "TH":
            version_hdr = args[3] if len(args) > 3 else ""
            continue
        if mac in ("SH", "SS"):
            key = f"{mac} {' '.join(args)}"
            order.append(key)
            sections[key] = ""
            continue
        if mac in FONT_MACROS:
            text = " ".join(args) if mac in ("B", "I", "SM", "SB") \
                else "".join(args)
        elif mac in ("SY", "TQ", "TP", "IP", "PP", "P", "LP", "RS", "RE",
                     "EX", "EE", "YS", "in", "nf", "fi", "nh", "ad", "nr",
                     "sp", "br", "hy", "ne"):
            text = " ".join(args) if mac in ("SY", "IP") else ""
        else:
            errors.append(f"unexpected macro .{mac} in {page}: fix the test "
                          "or the page")
            text = ""
    else:
        text = plain(raw)
    if key is not None:
        sections[key] += " " + text
        page_lines.append(text)

norm = {k: re.sub(r"\s+", " ", v) for k, v in sections.items()}


def has(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text)


def section_of(cmd):
    # subsections after .SH COMMANDS, up to the next .SH
    inside = False
    for k in order:
        if k.startswith("SH "):
            inside = k == "SH COMMANDS"
        elif inside and k.split()[1:] in ([cmd], ["sstvault", cmd]):
            return norm[k]
    return None


ok = 0
option_sections = " ".join(v for k, v in norm.items()
                           if k.startswith("SH ") and k.endswith("OPTIONS"))
for c in cmds:
    sec = section_of(c)
    if sec is None:
        errors.append(f"command '{c}' has no '.SS {c}' under COMMANDS")
        continue
    ok += 1
    for o in helps[c] or []:
        if has(sec, o) or (o in common and has(option_sections, o)):
            ok += 1
            continue
        where = f"the '{c}' subsection" + \
            (" or a ... OPTIONS section" if o in common else "")
        errors.append(f"{c}: '{o}' (from '{c} --help') is not in {where}")

# Documented options that nothing takes any more.
everything = " ".join(norm.values())
for name in sorted(set(re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", everything))):
    if name not in all_names:
        errors.append(f"{page} documents {name}, which no command's --help lists")

# Variables named by --help, exit codes listed by --help.
env = norm.get("SH ENVIRONMENT", "")
helptext = top + "".join(run(c, "--help") for c in with_help)
for var in sorted(set(re.findall(r"\b(?:SSTVAULT|AWS|SSL)_[A-Z0-9_]+\b", helptext))):
    if has(env, var):
        ok += 1
    else:
        errors.append(f"ENVIRONMENT does not describe {var} (named by --help)")
m = re.search(r"Exit codes: (.*)", top)
codes = re.findall(r"(\d+) ", m.group(1)) if m else []
if not codes:
    errors.append("no 'Exit codes:' line in --help")
exits = sections.get("SH EXIT STATUS", "")
for code in codes:
    if re.search(rf"(?<!\d){code}(?!\d)", exits):
        ok += 1
    else:
        errors.append(f"EXIT STATUS does not describe exit code {code}")

ver = run("version").split()
if len(ver) < 2 or version_hdr != f"sstvault {ver[1]}":
    errors.append(f".TH says '{version_hdr}', the binary is '{' '.join(ver[:2])}'")
else:
    ok += 1

# Command lines in the docs (and the page's own text) use only options
# their command takes: "sstvault CMD ... --opt" up to the end of the
# command (newline, backtick, pipe, ';', '&&', a comment).
import os
docs = {f: open(f, encoding="utf-8").read() for f in
        ("README.md", "docs/OPERATIONS.md", "docs/RUNBOOKS.md") if os.path.exists(f)}
docs[page] = "\n".join(page_lines)
names_of = {c: {re.search(r"--[a-z0-9-]+", o).group(0) for o in helps[c]}
            for c in with_help}
cmdre = re.compile(r"(?<![\w/.-])(?:sstvault|sv)[ \t]+(" + "|".join(cmds) + r")(?![\w-])")
lines_checked = 0
for f, text in docs.items():
    text = re.sub(r"\\\n\s*", " ", text)          # join continued lines
    for m in cmdre.finditer(text):
        c = m.group(1)
        rest = re.split(r"\n|`|\||;|&&|\s#", text[m.end():], maxsplit=1)[0]
        lines_checked += 1
        for o in re.findall(r"(?<![\w-])--[a-z0-9][a-z0-9-]*", rest):
            if c in names_of and o not in names_of[c] and o != "--help":
                errors.append(f"{f}: 'sstvault {c} ... {o}': '{c}' has no {o}")
print(f"checked {lines_checked} sstvault command lines in "
      f"{', '.join(sorted(docs))} against their command's options")

print(f"ok - {len(cmds)} commands, {sum(len(helps[c]) for c in with_help)} "
      f"command options ({len(common)} common), {len(codes)} exit codes: "
      f"{ok} facts found in {page}")
for e in errors:
    print("MISSING/STALE:", e)
sys.exit(1 if errors else 0)
PY
ok "every command, option, variable and exit code of --help is in $PAGE; nothing stale"

for target in "make demo" "make test"; do
	grep -q "$target" README.md || fail "README.md does not mention '$target'"
done
ok "README.md mentions 'make demo' and 'make test'"

# Rendering: groff's warnings (-ww) and man-db's, 80 columns.
if command -v groff >/dev/null; then
	warn=$(groff -man -Tutf8 -ww "$PAGE" 2>&1 >/dev/null)
	[ -z "$warn" ] || fail "groff -ww warns: $warn"
	wide=$(MANWIDTH=80 groff -man -Tutf8 -rLL=80n "$PAGE" 2>/dev/null |
	       sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g' | awk 'length > 80' | head -3)
	[ -z "$wide" ] || fail "lines wider than 80 columns: $wide"
	ok "groff -man -Tutf8 -ww renders $PAGE without a warning, within 80 columns"
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 man -l "$PAGE" 2>"$T/man.err")
		[ ! -s "$T/man.err" ] || fail "man -l warns: $(cat "$T/man.err")"
		echo "$out" | grep -q '^SSTVAULT(1)' || fail "man -l output has no SSTVAULT(1) header"
		for s in NAME SYNOPSIS DESCRIPTION COMMANDS ENVIRONMENT FILES "EXIT STATUS" EXAMPLES "SEE ALSO"; do
			echo "$out" | grep -q "^$s\$" || fail "man -l output has no $s section"
		done
		ok "man -l renders it ($(echo "$out" | wc -l) lines) with every required section"
	else
		echo "note: man not installed; man -l rendering not checked"
	fi
else
	echo "note: groff not installed (Debian: groff-base); rendering not checked"
fi
echo "t_manpage: $checks checks passed"
