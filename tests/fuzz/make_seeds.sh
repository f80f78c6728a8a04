#!/usr/bin/env bash
# make_seeds.sh [DIR] — writes the seed corpora of the fuzz targets into
# DIR/TARGET/, by default tests/fuzz/corpus/TARGET/ (checked in; run it
# again after docs/protocol.md section 12 or examples/ward.ini changed, and
# commit what changed: ctest's fuzz_seeds test fails until then).
#
#   frame    each test vector of docs/protocol.md section 12, and all of
#            them in one stream, behind the target's two leading bytes
#            (receive limit, split seed) in a few combinations; two LOG
#            frames whose payload is no record
#   hello    the HELLO payload of vector (e), and one with every kind of line
#   welcome  a host's and a server's WELCOME payload
#   json     JSON values: a row, the ERROR payload of vector (c) with data,
#            a ward.doctor answer
#   config   examples/ward.ini, and a file with every key
#   manifest the manifests of examples/extensions/, and the greeter's with
#            params after a NUL, good and bad
#   ring     a 64-byte ring holding two records, and one whose record comes
#            after a skip to the start
#
# Needs bash, awk and printf; nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$here/corpus}

rm -rf "$out"
mkdir -p "$out"/{frame,hello,welcome,json,config,manifest,ring}

# The vectors: for each "### (x)" heading of section 12, the hex bytes of
# its code block, as \xHH escapes for printf, one vector a line.
vectors=$(awk '
  /^## 12\./ { in12 = 1; next }
  /^## / && in12 { exit }
  !in12 { next }
  /^### \(/ { name = substr($2, 2, 1); next }
  /^```/ { if (block) { print name, esc; esc = "" } block = !block; next }
  block && /^[0-9a-f]+: / { for (i = 2; i <= NF; i++) esc = esc "\\x" $i }
' "$root/docs/protocol.md")
[ -n "$vectors" ] || { echo "make_seeds.sh: no test vectors found in docs/protocol.md" >&2; exit 1; }

all=""
while read -r name esc; do
  # Limit byte 0: WARD_MAX_FRAME_DEFAULT; split seeds 0 and 7.
  printf "\\x00\\x00$esc" >"$out/frame/vector-$name"
  printf "\\x00\\x07$esc" >"$out/frame/vector-$name-split"
  all="$all$esc"
done <<<"$vectors"
printf "\\x00\\x00$all" >"$out/frame/all-vectors"
printf "\\x00\\x2a$all" >"$out/frame/all-vectors-split"
# Limit 16 bytes (byte 3): vector (a) fits, (e) is over it.
printf "\\x03\\x01$all" >"$out/frame/all-vectors-limit16"
# LOG frames whose payload is no record: a message longer than the payload,
# and a key without its value (docs/protocol.md 8.4).
printf '\x00\x00\x57\x0f\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x05\x00\x00\x00ab' \
  >"$out/frame/log-short-message"
printf '\x00\x00\x57\x0f\x00\x00\x0a\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00m\x01\x00\x00\x00k' \
  >"$out/frame/log-key-alone"

printf 'pid=42\nmethod=echo\n' >"$out/hello/vector-e"
printf 'pid=7\nmax_frame=1048576\ntoken=0123456789abcdef\nmethod=echo\nmethod=count\nmeta.version=1.2.3\nmeta.lang=c\n' \
  >"$out/hello/full"

printf 'max_frame=67108864\npid=9881\nworker_id=3\ngeneration=1\n' >"$out/welcome/host"
printf 'max_frame=1024\npid=12\n' >"$out/welcome/server"

printf '{"i": 1}' >"$out/json/row"
printf '"hi"' >"$out/json/reply"
printf '\x0e\x00\x00\x00no such method{"missing": ["x", 1.5, null, true]}' >"$out/json/error-with-data"
printf '{"checks": [{"name": "db", "status": "pass", "message": "ok"}, {"name": "disk", "status": "warning"}]}' \
  >"$out/json/doctor"

cp "$root/examples/ward.ini" "$out/config/example"
cat >"$out/config/every-key" <<'INI'
[ward]
socket = /tmp/ward-fuzz.sock
log_dir = none
log_max_size = 1M
log_files = 3

[service a]
command = sh -c 'echo "$HOME"; exit 0'
  --more "args" here
env = A=1
env = B=two
cwd = /tmp
restart = on-failure
max_restarts = 3
restart_window = 30s
backoff = 500ms
backoff_max = 1m
stop_signal = SIGINT
stop_grace = 2s
ready = notify 3
startup_timeout = 1h
heartbeat = 5s
memory_limit = 1G
memory_high = 512M
instances = 2
control = yes

[service b]
command = sleep 1000 ; a comment
ready = up 1s
depends_on = a
  c

[service c]
command = true
ready = handshake
INI

# Manifests: the examples', and params for the greeter's command.
for m in "$root"/examples/extensions/*/ward-extension.json; do
  cp "$m" "$out/manifest/$(basename "$(dirname "$m")")"
done
{ cat "$root/examples/extensions/greeter/ward-extension.json"; printf '\0{"name":"Ada"}'; } \
  >"$out/manifest/greeter-params"
{ cat "$root/examples/extensions/greeter/ward-extension.json"; printf '\0{"name":""}'; } \
  >"$out/manifest/greeter-bad-params"

# Rings: the area (byte 0: 64 bytes), the writer's and the reader's
# counters, the data. Two records, "hello" and "world"; then "abc" at the
# start after a skip at byte 48.
z8='\x00\x00\x00\x00\x00\x00\x00\x00'
rec() { printf '\\x%02x\\x00\\x00\\x00\\x%02x\\xff\\xff\\xff' "$1" $((255 - $1)); }
printf "\x00\x20\x00\x00\x00\x00\x00\x00\x00$z8$(rec 5)hello\x00\x00\x00$(rec 5)world\x00\x00\x00" \
  >"$out/ring/two-records"
printf "\x00\x50\x00\x00\x00\x00\x00\x00\x00\x30\x00\x00\x00\x00\x00\x00\x00$(rec 3)abc\x00\x00\x00\x00\x00$z8$z8$z8$z8\xff\xff\xff\xff\x00\x00\x00\x00$z8" \
  >"$out/ring/skip"

echo "make_seeds.sh: wrote $(find "$out" -type f | wc -l) seeds under ${out#"$root"/}"
