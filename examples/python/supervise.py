#!/usr/bin/env python3
"""A Python host supervising a worker written in C (examples/flaky_worker.c),
with the `ward` package of bindings/python over libward (ward.host).

    supervise.py [path/to/flaky_worker]

libward is found by ctypes.util.find_library("ward"), or where the
environment's WARD_LIBRARY says; without an argument the flaky_worker one
folder up from this file is started (where the build puts both).

The worker is asked to work, then to crash in the middle of a call: the
call raises ward.Crashed, the events say how the process died, and the
supervisor starts a new one after a short delay; the same worker handle
then serves again. A hung call passes its deadline (ward.Timeout) and the
worker is killed and replaced too. The last lines the worker wrote to
stderr, of any generation, are printed from its log (flaky_worker writes
none). Exits 0 when everything happened as expected.
"""
import os
import sys

import ward
from ward.host import Host

HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 30.0     # seconds: generous, a loaded machine is slow


def on_event(event):
    """Runs on ward's I/O thread: say it, and return at once."""
    print("  event:", event.type, "pid=%d" % event.pid,
          event.detail or event.reason or "", flush=True)


def main():
    worker_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..",
                                                                      "flaky_worker")
    with Host(on_event=on_event) as host:
        # Restarted on failure, after 50 ms, then 100 ms... (at most 5
        # restarts within 60 s).
        with host.spawn("flaky", [worker_path], restart="on-failure", request_timeout=2,
                        backoff=(0.05, 1, 200, 10), intensity=(5, 60)) as w:
            print("work ->", w.request("work"))
            first = w.pid

            mark = host.mark()
            try:
                w.request("crash")
                raise SystemExit("the crash did not fail the call")
            except ward.Crashed as e:
                print("crash ->", type(e).__name__, e)
            exited = host.wait_event("exited", w, since=mark, timeout=WAIT)
            assert exited.signal == 6 and exited.reason == "crashed", exited
            host.wait_event("restarted", w, since=mark, timeout=WAIT)
            assert w.pid != first and w.generation == 2
            print("work ->", w.request("work"), "(generation %d)" % w.generation)

            mark = host.mark()
            try:
                w.request("hang", timeout=0.5)
                raise SystemExit("the hang did not time out")
            except ward.Timeout as e:
                print("hang ->", type(e).__name__, e)
            exited = host.wait_event("exited", w, since=mark, timeout=WAIT)
            assert exited.reason == "request-timeout", exited
            host.wait_event("restarted", w, since=mark, timeout=WAIT)
            print("work ->", w.request("work"), "(generation %d)" % w.generation)

            info = w.info()
            print("restarts: %d, calls served: %d" % (info["restarts"], info["calls_served"]))
            assert info["restarts"] == 2
            for line in w.logs(stream="stderr", last=5):
                print("  stderr of generation %d: %s" % (line.generation, line.text))
        # Leaving the block stopped the worker and released its handle.
    print("ok")


if __name__ == "__main__":
    main()
