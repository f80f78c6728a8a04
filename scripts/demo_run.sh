#!/usr/bin/env bash
# demo_run.sh WARD — the supervisor part of `make demo`: runs
# examples/ward.ini with `ward run`, looks at it with `ward ctl`, stops it.
set -euo pipefail
ward=$1
conf=examples/ward.ini
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "\$ $ward run $conf &"
"$ward" run "$conf" 2>"$log" &
daemon=$!
# Wait (at most 20 s) until every instance is ready.
for _ in $(seq 200); do
  if "$ward" ctl -c "$conf" status 2>/dev/null |
     awk 'NR > 1 && $2 != "ready" { bad = 1 } END { exit NR < 2 || bad }'; then
    break
  fi
  sleep 0.1
done
echo "\$ $ward ctl -c $conf status"
"$ward" ctl -c "$conf" status
echo "\$ $ward ctl -c $conf logs api"
"$ward" ctl -c "$conf" logs api
echo "\$ $ward ctl -c $conf restart indexer"
"$ward" ctl -c "$conf" restart indexer
echo "\$ $ward ctl -c $conf shutdown"
"$ward" ctl -c "$conf" shutdown
wait "$daemon"
echo "--- what the daemon logged on stderr ---"
cat "$log"
