"""py_pipe.py — Python's multiprocessing.Pipe between a parent and a
multiprocessing.Process, for bench_peers: the same figures as ward's,
measured the same way.

  python3 py_pipe.py rtt REPS N      round trip of a 32-byte bytes object
                                     (Connection.send / recv, pickled);
                                     prints, per repetition, microseconds
                                     per round trip
  python3 py_pipe.py stream REPS N   N one-way messages, then a request for
                                     the count the child saw, which ends
                                     the measurement; prints messages/s
  python3 py_pipe.py rows REPS N     asks the child for N messages of 32
                                     bytes, which it sends back one by one
                                     and ends with None; prints messages/s
                                     (ward's rows from a Python worker)

One warm-up run of N comes first. Run by bench_peers, which pins it (or
not) to the same CPUs as ward's figures.
"""
import multiprocessing as mp
import sys
import time

PAYLOAD = b"x" * 32


def child(conn, mode):
    count = 0
    while True:
        try:
            m = conn.recv()
        except EOFError:
            return
        if m == "quit":
            return
        if mode == "rtt":
            conn.send(m)
        elif mode == "rows":
            send = conn.send
            for _ in range(m):
                send(PAYLOAD)
            send(None)
        elif m is None:
            conn.send(count)
            count = 0
        else:
            count += 1


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("rtt", "stream", "rows"):
        print("usage: python3 py_pipe.py rtt|stream|rows REPS N", file=sys.stderr)
        return 2
    mode, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    here, there = mp.Pipe()
    p = mp.Process(target=child, args=(there, mode), daemon=True)
    p.start()
    there.close()

    def rtt(k):
        t0 = time.perf_counter()
        for _ in range(k):
            here.send(PAYLOAD)
            here.recv()
        return (time.perf_counter() - t0) * 1e6 / k

    def stream(k):
        t0 = time.perf_counter()
        for _ in range(k):
            here.send(PAYLOAD)
        here.send(None)
        got = here.recv()
        if got != k:
            raise RuntimeError("the child counted %d messages of %d" % (got, k))
        return k / (time.perf_counter() - t0)

    def rows(k):
        t0 = time.perf_counter()
        here.send(k)
        got, recv = 0, here.recv
        while recv() is not None:
            got += 1
        if got != k:
            raise RuntimeError("the child sent %d messages of %d" % (got, k))
        return k / (time.perf_counter() - t0)

    f = {"rtt": rtt, "stream": stream, "rows": rows}[mode]
    f(n)  # warm-up
    for _ in range(reps):
        print("%.6f" % f(n), flush=True)
    # A forked child holds a copy of our end too, so it would never see
    # end of stream: it is told to quit instead.
    here.send("quit")
    here.close()
    p.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
