"""py_worker.py — a ward worker in Python (the `ward` package of
bindings/python), for bench_peers and py_ward.py: the same payloads as
py_pipe.py.

  echo   replies with the request's bytes (raw: not decoded)
  rows   params: N as text; sends N rows of 32 bytes on the stream "r",
         one ctx.row() each, then replies N
  batch  the same with one ctx.rows() (up to 64 KiB of rows a write)
"""
import ward

ROW = b"r" * 32
worker = ward.Worker("py-bench")


@worker.method(raw=True)
def echo(ctx, data):
    return data


@worker.method(raw=True)
def rows(ctx, data):
    n = int(data)
    row = ctx.row
    for _ in range(n):
        row("r", ROW)
    return str(n).encode()


@worker.method(raw=True)
def batch(ctx, data):
    n = int(data)
    ctx.rows("r", (ROW for _ in range(n)))
    return str(n).encode()


if __name__ == "__main__":
    worker.run()
