#!/usr/bin/env bash
# demo_run.sh WARD — the supervisor part of `make demo`: runs
# examples/ward.ini with `ward run`, looks at it with `ward ctl`, stops it,
# saying before each step what it shows and what to notice.
set -euo pipefail
ward=$1
conf=examples/ward.ini
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A step: a sentence or two of what it shows, then the command as typed,
# then what it printed.
say() { printf '\n'; printf '# %s\n' "$@"; }
show() {
  echo "\$ $*"
  "$@"
}

say "ward run: a supervisor that keeps the services of $conf up. It starts cache" \
    "first, then api (two copies) and indexer, which depend on it. It runs in the" \
    "background here; its own log goes to a file, printed at the end."
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

say "ward ctl talks to the daemon over its control socket (-c: the one named in $conf)." \
    "status: one row per instance; api is api.1 and api.2, each with its own PID, all ready."
show "$ward" ctl -c "$conf" status

say "logs: what a service printed, kept by the daemon; with two instances each line" \
    "says which one wrote it."
show "$ward" ctl -c "$conf" logs api

say "restart: the indexer is asked to stop (with SIGINT, its stop_signal) and started again;" \
    "the command returns once the new process says it is ready. Notice its new PID."
show "$ward" ctl -c "$conf" restart indexer
show "$ward" ctl -c "$conf" status indexer

say "shutdown: every service stops, dependents before what they depend on, then the daemon exits."
show "$ward" ctl -c "$conf" shutdown
wait "$daemon"

say "What ward run logged on stderr, one event a line (TIME EVENT NAME key=value...):" \
    "spawned and ready in dependency order, the indexer's restart (generation=2), the" \
    "stop in reverse order, and orphan-reaped for processes the services left behind."
cat "$log"
