"""py_ward.py — a Python host (ward.host, over libward) calling a Python
worker (py_worker.py, the `ward` package), for bench_peers: the figures of
py_pipe.py, measured the same way, with ward at both ends.

  python3 py_ward.py rtt REPS N    round trip of 32 bytes (Worker.request,
                                   raw payload); prints, per repetition,
                                   microseconds per round trip
  python3 py_ward.py rows REPS N   one request whose worker sends N rows of
                                   32 bytes, each handed to an on_row
                                   callback; prints rows/s

libward is the one WARD_LIBRARY names (else find_library), the package is
on PYTHONPATH. One warm-up run of N comes first.
"""
import os
import sys
import time

from ward.host import Host

PAYLOAD = b"x" * 32
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("rtt", "rows"):
        print("usage: python3 py_ward.py rtt|rows REPS N", file=sys.stderr)
        return 2
    mode, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with Host() as host:
        w = host.spawn("py-bench", [sys.executable, os.path.join(HERE, "py_worker.py")],
                       env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")})

        def rtt(k):
            request = w.request
            t0 = time.perf_counter()
            for _ in range(k):
                request("echo", PAYLOAD, encoding="raw")
            return (time.perf_counter() - t0) * 1e6 / k

        def rows(k):
            got = [0]

            def on_row(stream, seq, row):
                got[0] += 1
            t0 = time.perf_counter()
            w.request("rows", str(k).encode(), encoding="raw", on_row=on_row)
            if got[0] != k:
                raise RuntimeError("%d rows of %d" % (got[0], k))
            return k / (time.perf_counter() - t0)

        f = rtt if mode == "rtt" else rows
        f(n)  # warm-up
        for _ in range(reps):
            print("%.6f" % f(n), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
