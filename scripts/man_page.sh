#!/usr/bin/env bash
# man_page.sh WARD VERSION TEMPLATE OUTPUT — makes one manual page from
# its template in docs/man/ (the build runs it for each, with the `ward`
# it built). The template is roff (man(7)); this fills in what the binary
# knows, so that the pages cannot drift from it:
#
#   @VERSION@                the version, in the .TH line
#   .\" @exit-status CMD     the exit statuses of `ward CMD` (all: of every
#                            command), from the table of `WARD --help`
#                            (cli.h's CLI_EXIT_MAP)
#   .\" @keys SECTION        the keys of [SECTION] of the configuration,
#                            from `WARD run --keys` (config.c's conf_keys):
#                            name, meaning, default, what a reload does
#
# A page with @keys lines must place every section `ward run --keys` has:
# a new section needs its own words in the template, so it is an error
# here rather than a section silently missing from the manual.
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: man_page.sh WARD VERSION TEMPLATE OUTPUT" >&2
  exit 2
fi
ward=$1 version=$2 template=$3 output=$4

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$ward" --help >"$tmp/help"
if grep -q '^\.\\" @keys ' "$template"; then
  "$ward" run --keys >"$tmp/keys"
else
  : >"$tmp/keys"
fi

LC_ALL=C awk -v version="$version" -v template="$template" -F '\t' '
# Text for roff: backslashes escaped, `code` in bold with its hyphens as
# \- (so that options copy as typed), and \& before a leading . or '"'"'
# (which would start a request).
function roff(s,    out, c, i, code) {
  out = ""; code = 0
  for (i = 1; i <= length(s); i++) {
    c = substr(s, i, 1)
    if (c == "`") { out = out (code ? "\\fR" : "\\fB"); code = !code; continue }
    if (c == "\\") c = "\\e"
    else if (c == "-" && code) c = "\\-"
    out = out c
  }
  if (code) out = out "\\fR"
  if (out ~ /^[.'"'"']/) out = "\\&" out
  return out
}

function sentence(s) { return s ~ /[.!?]$/ ? s : s "." }
function capital(s) { return toupper(substr(s, 1, 1)) substr(s, 2) }

function fail(msg) {
  printf "man_page.sh: %s: %s\n", template, msg > "/dev/stderr"
  failed = 1
  exit 1
}

# ---- `ward --help`: the rows of its exit status table.
FILENAME == ARGV[1] {
  if ($0 ~ /^Exit status/) { in_exit = 1; next }
  if (in_exit && match($0, /^  [0-9]+  [a-z]+  +/)) {
    split(substr($0, 3, RLENGTH - 2), f, " ")
    nexit++
    exit_code[nexit] = f[1]; exit_cmd[nexit] = f[2]
    exit_text[nexit] = substr($0, RLENGTH + 1)
  } else if (in_exit) {
    in_exit = 0
  }
  next
}

# ---- `ward run --keys`: section, key, reload, default, meaning.
FILENAME == ARGV[2] {
  if (NF != 5) fail("ward run --keys: not 5 fields: " $0)
  nkeys++
  key_section[nkeys] = $1; key_name[nkeys] = $2; key_reload[nkeys] = $3
  key_default[nkeys] = $4; key_text[nkeys] = $5
  if (!($1 in section_seen)) { section_seen[$1] = 1; section_order[++nsections] = $1 }
  next
}

# ---- The template.
{
  if ($0 ~ /^\.\\" @/) {
    split($0, w, " ")
    if ($0 ~ /^\.\\" @exit-status [a-z]+$/) exit_status(w[3])
    else if ($0 ~ /^\.\\" @keys [a-z]+$/) keys(w[3])
    else fail("unknown placeholder: " $0)
    next
  }
  gsub(/@VERSION@/, version)
  print
}

# The exit statuses of `cmd` (all: every command), one .TP per code, in
# the order of the table. A note for one command, "(probe: ...)", is left
# out of the other commands pages.
function exit_status(cmd,    i, text, note, shown, n, sub_cmd) {
  if (nexit == 0) fail("ward --help has no exit status table")
  n = 0
  for (i = 1; i <= nexit; i++) {
    if (cmd != "all" && exit_cmd[i] != "all" && exit_cmd[i] != cmd) continue
    text = exit_text[i]
    if (cmd != "all" && match(text, / \([a-z]+: [^)]*\)/)) {
      note = substr(text, RSTART + 2, RLENGTH - 2)
      sub(/:.*/, "", note)
      if (note != cmd) text = substr(text, 1, RSTART - 1) substr(text, RSTART + RLENGTH)
      else text = substr(text, 1, RSTART + 1) substr(text, RSTART + length(note) + 4)
    }
    # A meaning for one subcommand starts with its name ("status: ...").
    sub_cmd = ""
    if (match(text, /^[a-z][a-z-]*: /)) {
      sub_cmd = substr(text, 1, RLENGTH - 2)
      text = substr(text, RLENGTH + 1)
    }
    if (cmd == "all" && exit_cmd[i] != "all")
      text = "`ward " exit_cmd[i] (sub_cmd == "" ? "" : " " sub_cmd) "`: " text
    else if (sub_cmd != "")
      text = "`" sub_cmd "`: " text
    else
      text = capital(text)
    if (exit_code[i] in shown) {
      print ".br"
    } else {
      print ".TP"
      print ".B " exit_code[i]
      shown[exit_code[i]] = 1
    }
    print roff(sentence(text))
    n++
  }
  if (n == 0) fail("ward --help lists no exit status for " cmd)
}

function reload_text(section, how) {
  if (how == "at-once") return "A reload applies a change at once."
  if (how == "next-start") return "A change applies at the next start of `ward run`, not at a reload."
  if (how == "restart" && section == "service") return "A reload that changes it restarts the service."
  if (how == "restart") return "A reload that changes it restarts the services of the " section "."
  return "On reload: " how "."
}

# The keys of [section], in the order of the table: name, meaning,
# default, what a reload does with a change.
function keys(section,    i, n) {
  if (!(section in section_seen)) fail("ward run --keys has no section [" section "]")
  placed[section] = 1
  n = 0
  for (i = 1; i <= nkeys; i++) {
    if (key_section[i] != section) continue
    print ".TP"
    print ".B " key_name[i]
    print roff(sentence(capital(key_text[i])))
    if (key_default[i] == "(required)") print "Required."
    else print roff("Default: " (key_default[i] == "" ? "none" : key_default[i]) ".")
    print roff(reload_text(section, key_reload[i]))
    n++
  }
}

END {
  if (failed) exit 1
  for (i = 1; i <= nsections; i++)
    if (!(section_order[i] in placed))
      fail("ward run --keys has section [" section_order[i] "], which the template does not place (add a line: .\\\" @keys " section_order[i] ")")
}
' "$tmp/help" "$tmp/keys" "$template" >"$tmp/page"

mv "$tmp/page" "$output"
