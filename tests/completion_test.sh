#!/usr/bin/env bash
# completion_test.sh SOURCE_DIR WARD — the bash completion of `ward`
# (tools/ward/ward-completion.bash), called as bash calls it: COMP_WORDS
# and COMP_CWORD set, the function run, COMPREPLY checked. Commands and
# options come from the binary's help; service names from a daemon this
# test starts; and with no daemon answering, nothing, quietly and at once.
# Run by ctest (completion).
set -uo pipefail

src=${1:?usage: completion_test.sh SOURCE_DIR WARD}
ward=${2:?usage: completion_test.sh SOURCE_DIR WARD}
status=0
tmp=$(mktemp -d)
daemon= silent=
cleanup() {
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [ -n "$silent" ] && kill "$silent" 2>/dev/null && wait "$silent" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# The completion runs `ward` as it was typed: the one built here.
PATH=$(dirname "$ward"):$PATH
# shellcheck source=/dev/null
source "$src/tools/ward/ward-completion.bash"
complete -p ward >/dev/null || { echo "the script registers no completion for ward"; exit 1; }

# What TAB offers after the words given (the last is the one under the
# cursor), sorted, on one line; what it wrote on stderr goes to $tmp/err.
offers() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _ward 2>"$tmp/err"
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}

expect() {
  local want=$1
  shift
  local got
  got=$(offers "$@")
  if [ "$got" != "$want" ]; then
    echo "FAIL: '$*' offers [$got], expected [$want]"
    status=1
  elif [ -s "$tmp/err" ]; then
    echo "FAIL: '$*' wrote on stderr: $(cat "$tmp/err")"
    status=1
  else
    echo "ok: '$*' -> [$got]"
  fi
}

# ---- Commands and options, from the help of each level.
expect "conform ctl ext probe run" ward ''
expect "--help --version -h" ward -
expect "start status stop" ward ctl st
expect "start status stop" ward ctl -s "$tmp/x.sock" --json st
expect "start status stop" ward ctl --socket = "$tmp/x.sock" st
expect "--check --help --journal --keys" ward run --
expect "--config --help --json --socket --timeout" ward ctl --
expect "--grace --help --json" ward ctl stop web --
expect "--call --help --json --level --stderr --stdout --timestamps -f -h -n -t" ward ctl logs web -
expect "always never on-failure" ward ctl spawn job --restart ''
expect "USR1 USR2" ward ctl signal web US
expect "call check list" ward ext ''
expect "--help --json --version" ward conform --

# ---- Files and directories where the help says CONFIG, PATH, DIR.
mkdir "$tmp/files" "$tmp/files/extdir"
touch "$tmp/files/ward.ini"
cd "$tmp/files" || exit 1
expect "extdir ward.ini" ward run ''
expect "extdir ward.ini" ward ctl -c ''
expect "extdir" ward ext list ''
cd "$src" || exit 1

# ---- No daemon: nothing, nothing on stderr. A socket nobody listens on
# (a daemon that died), and one that takes the connection and never
# answers (a daemon that hangs): the completion gives up after a second.
expect "" ward ctl -s "$tmp/none.sock" stop ''
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("listening", flush=True)
time.sleep(120)' "$tmp/silent.sock" >"$tmp/silent.out" &
silent=$!
for _ in $(seq 600); do
  grep -q listening "$tmp/silent.out" && break
  sleep 0.1
done
start=$SECONDS
expect "" ward ctl -s "$tmp/silent.sock" stop ''
if ((SECONDS - start > 10)); then
  echo "FAIL: completing against a silent socket took $((SECONDS - start)) s"
  status=1
fi

# ---- Service names from a running daemon.
cat >"$tmp/ward.ini" <<INI
[ward]
socket = $tmp/ward.sock
log_dir = none

[service web]
command = sleep 600
instances = 2

[service db]
command = sleep 600
group = back

[group back]
INI
"$ward" run "$tmp/ward.ini" 2>"$tmp/daemon.log" &
daemon=$!
# It answers once its control socket is up (polled, 60 s at most).
for _ in $(seq 600); do
  "$ward" ctl -c "$tmp/ward.ini" status >/dev/null 2>&1 && break
  sleep 0.1
done
"$ward" ctl -c "$tmp/ward.ini" status >/dev/null ||
  { echo "FAIL: the daemon did not answer"; cat "$tmp/daemon.log"; exit 1; }
expect "all back db web" ward ctl -c "$tmp/ward.ini" stop ''
expect "back" ward ctl -c "$tmp/ward.ini" stop b
expect "web" ward ctl --config = "$tmp/ward.ini" restart w
expect "web.1 web.2" ward ctl -s "$tmp/ward.sock" status web.
expect "" ward ctl -c "$tmp/ward.ini" spawn ''
"$ward" ctl -c "$tmp/ward.ini" shutdown >/dev/null
wait "$daemon"
daemon=

[ $status -eq 0 ] && echo "completion_test: ok"
exit $status
