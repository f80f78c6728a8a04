#!/usr/bin/env bash
# man_test.sh SOURCE_DIR MAN_DIR WARD — the manual pages the build made
# (MAN_DIR, from docs/man/ by scripts/man_page.sh) against the binary:
#
#   - each renders without a warning from groff (-ww), and holds no
#     placeholder left unfilled;
#   - ward.ini(5) has every key `ward run --keys` lists, in its section,
#     with its default, and no other key;
#   - each page's EXIT STATUS has exactly the codes `ward --help` gives
#     for its command (ward(1): all of them), with their meanings;
#   - every option and command the help of a command names is in its
#     page, and every option a page lists under OPTIONS is one its
#     command knows;
#   - the example of ward.ini(5) is a valid configuration.
#
# The pages are read as a reader sees them: rendered by groff as plain
# text, lines unbroken. Run by ctest (man_pages).
set -uo pipefail

src=${1:?usage: man_test.sh SOURCE_DIR MAN_DIR WARD}
man=${2:?usage: man_test.sh SOURCE_DIR MAN_DIR WARD}
ward=${3:?usage: man_test.sh SOURCE_DIR MAN_DIR WARD}
export LC_ALL=C
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*"
  status=1
}

pages=(ward.1 ward-run.1 ward-ctl.1 ward-probe.1 ward-ext.1 ward-conform.1 ward.ini.5)
for page in "${pages[@]}"; do
  [ -f "$man/$page" ] || { fail "$man/$page was not made"; continue; }
done
[ $status -eq 0 ] || exit 1

# The page as text: one line per paragraph (a line length no paragraph
# reaches), no hyphenation, no bold or underline.
render() {
  groff -man -Tascii -P-c -P-b -P-u -rLL=5000n -rHY=0 "$man/$1"
}

# The text of one section (from its heading to the next), indentation
# kept: 7 spaces for a paragraph or a tag, 14 for what a tag introduces.
section() {
  awk -v want="$2" '/^[A-Z]/ { inside = ($0 == want); next } inside' <<<"$1"
}

# ---- Renders without warnings, nothing left to fill in.
for page in "${pages[@]}"; do
  if ! groff -man -ww -z -Tutf8 "$man/$page" 2>"$tmp/warnings" || [ -s "$tmp/warnings" ]; then
    fail "$page: groff warns:"
    cat "$tmp/warnings"
  fi
  if grep -n '@VERSION@\|^\.\\" @' "$man/$page"; then
    fail "$page: a placeholder was left"
  fi
  render "$page" >"$tmp/$page.txt"
done

# ---- ward.ini(5): the keys, by section, with their defaults.
"$ward" run --keys >"$tmp/keys" || fail "ward run --keys failed"
ini=$(cat "$tmp/ward.ini.5.txt")
declare -A heading=([ward]="THE [ward] SECTION" [service]="THE [service NAME] SECTIONS"
                    [group]="THE [group NAME] SECTIONS")
for sec in $(cut -f 1 "$tmp/keys" | uniq); do
  [ -n "${heading[$sec]:-}" ] ||
    { fail "ward run --keys has section [$sec], which this test does not know"; continue; }
  text=$(section "$ini" "${heading[$sec]}")
  [ -n "$text" ] || { fail "ward.ini(5) has no section '${heading[$sec]}'"; continue; }
  want=$(awk -F '\t' -v s="$sec" '$1 == s { print $2 }' "$tmp/keys")
  got=$(sed -nE 's/^       ([a-z_][a-z_0-9]*)( .*)?$/\1/p' <<<"$text")
  [ "$want" = "$got" ] ||
    fail "ward.ini(5) [$sec] keys differ from ward run --keys:" $'\n' "$(diff <(echo "$want") <(echo "$got"))"
  # (Tabs are whitespace to read: empty fields would vanish; \037 is not.)
  while IFS=$'\037' read -r s key _ default _; do
    [ "$s" = "$sec" ] || continue
    # The paragraph under the key's tag (a short key shares its line).
    body=$(awk -v k="$key" '
      $0 ~ "^       " k "( |$)" { found = 1; sub("^       " k " *", ""); print; next }
      found && /^              / { print; next }
      found { exit }' <<<"$text" | tr '\n' ' ')
    default=${default//\`/}
    case $default in
    "(required)") want="Required." ;;
    "") want="Default: none." ;;
    *) want="Default: $default." ;;
    esac
    [[ $body == *"$want"* ]] || fail "ward.ini(5) [$sec] $key: no \"$want\" in: $body"
  done < <(tr '\t' '\037' <"$tmp/keys")
done

# ---- EXIT STATUS: the codes of `ward --help`, for each command.
"$ward" --help >"$tmp/help"
exit_rows=$(awk '/^Exit status/ { on = 1; next } on && /^  [0-9]+  / { print } on && !/^  / { on = 0 }' "$tmp/help")
[ -n "$exit_rows" ] || fail "ward --help has no exit status table"
for page in ward ward-run ward-ctl ward-probe ward-ext ward-conform; do
  cmd=${page#ward-}
  [ "$page" = ward ] && cmd=all
  rows=$(awk -v c="$cmd" 'c == "all" || $2 == "all" || $2 == c' <<<"$exit_rows")
  text=$(section "$(cat "$tmp/$page.1.txt")" "EXIT STATUS")
  want=$(awk '{ print $1 }' <<<"$rows" | uniq)
  got=$(sed -n 's/^       \([0-9][0-9]*\) .*/\1/p' <<<"$text")
  [ "$want" = "$got" ] || fail "$page(1) EXIT STATUS lists $(echo $got), ward --help: $(echo $want)"
  while read -r _ _ meaning; do
    meaning=${meaning%% (*}
    grep -qiF -- "$meaning" <<<"$text" || fail "$page(1) EXIT STATUS does not say: $meaning"
  done <<<"$rows"
done

# ---- Options and commands: those the help names are in the page, and
# the page's OPTIONS are options the command has.
options_of() { grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z-]*' | sed 's/^[^-]*//' | sort -u; }
check_options() { # PAGE HELP-TEXT...
  local page=$1 text
  shift
  text=$(cat "$tmp/$page.txt")
  for opt in $(printf '%s\n' "$@" | options_of); do
    grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|$)" <<<"$text" ||
      fail "$page: no $opt, which its help names"
  done
  local known
  known=$(printf '%s\n' "$@" | options_of)
  for opt in $(section "$text" OPTIONS | sed -n 's/^       \(-.*\)/\1/p' | options_of); do
    grep -qx -- "$opt" <<<"$known" || fail "$page: OPTIONS has $opt, which its help does not name"
  done
}
check_options ward.1 "$(cat "$tmp/help")"
check_options ward-run.1 "$("$ward" run --help)"
check_options ward-probe.1 "$("$ward" probe --help)"
check_options ward-ext.1 "$("$ward" ext --help)"
check_options ward-conform.1 "$("$ward" conform --help)"
ctl_help=$("$ward" ctl --help)
ctl_commands=$(awk '/^Commands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' <<<"$ctl_help")
ctl_helps=("$ctl_help")
commands_text=$(section "$(cat "$tmp/ward-ctl.1.txt")" COMMANDS)
for c in $ctl_commands; do
  ctl_helps+=("$("$ward" ctl "$c" --help)")
  grep -qE "^       $c( |$)" <<<"$commands_text" || fail "ward-ctl.1: COMMANDS has no $c"
done
check_options ward-ctl.1 "${ctl_helps[@]}"
for c in $(awk '/^Commands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }' "$tmp/help"); do
  grep -qE "^       $c( |$)" <<<"$(section "$(cat "$tmp/ward.1.txt")" DESCRIPTION)" ||
    fail "ward.1: DESCRIPTION has no command $c"
done

# ---- The example of ward.ini(5) is valid (its programs are stand-ins:
# they need not exist here).
section "$ini" EXAMPLE | sed -n 's/^       \([[a-z].*\)/\1/p' |
  sed 's/^command = .*/command = sleep 1/; s|^socket = .*|socket = '"$tmp"'/ex.sock|; s|^log_dir = .*|log_dir = none|' \
  >"$tmp/example.ini"
grep -q '^\[service ' "$tmp/example.ini" || fail "ward.ini(5): no example found"
"$ward" run --check "$tmp/example.ini" >/dev/null || fail "ward.ini(5): the example is refused"

[ $status -eq 0 ] && echo "man_test: ok"
exit $status
