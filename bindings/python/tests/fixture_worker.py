"""The worker the tests drive: `python3 -m fixture_worker [options]`, with
bindings/python and this folder on PYTHONPATH. tests/test_python.c starts
it under a ward host (libward); the pytest tests under a host of their own
that speaks the frames (rawhost.py).

Options: --traceback (tracebacks in error data), --version=V (meta.version),
--no-msgpack (runs as if the msgpack module were not installed).
"""
import sys

if "--no-msgpack" in sys.argv:
    sys.modules["msgpack"] = None   # import msgpack now fails

import asyncio  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import ward  # noqa: E402

worker = ward.Worker("fixture", traceback="--traceback" in sys.argv)
for arg in sys.argv[1:]:
    if arg.startswith("--version="):
        worker.meta["version"] = arg[len("--version="):]
tally = {"notes": 0, "bytes": 0}


@worker.method(raw=True)
def echo(ctx, data):
    """The request's bytes back, in the request's encoding."""
    return data


@worker.method
def add(ctx, params):
    return params["a"] + params["b"]


@worker.method
def fail(ctx, params):
    """Fails with the code, message and data asked for."""
    ctx.fail(params["code"], params.get("message", ""), params.get("data"))


@worker.method("raise")
def raise_(ctx, params):
    raise ValueError("bad value %s" % params)


@worker.method
def raise_error(ctx, params):
    raise ward.Error(params["code"], params["message"], params.get("data"))


@worker.method
def big(ctx, n):
    """A result of n bytes of JSON: a string of n - 2 characters."""
    return "x" * (n - 2)


@worker.method
def stream(ctx, params):
    """n rows {"i": i, "pad": ...} on "out", a progress report after each
    `every` rows, a warning first; replies n."""
    n, pad, every = params["n"], "p" * params.get("pad", 0), params.get("every", 0)
    ctx.diag("starting %d rows" % n, code="start", level="warning")
    for i in range(1, n + 1):
        ctx.row("out", {"i": i, "pad": pad})
        if every and i % every == 0:
            ctx.progress({"done": i, "total": n})
    return n


@worker.method
def stream_batch(ctx, params):
    """stream, with the rows sent by one ctx.rows() (batched writes)."""
    n, pad = params["n"], "p" * params.get("pad", 0)
    ctx.rows("out", ({"i": i, "pad": pad} for i in range(1, n + 1)))
    return n


@worker.method
def forever_batch(ctx, params):
    """forever, with ctx.rows() over an endless generator."""
    def endless():
        i = 0
        while True:
            i += 1
            yield {"i": i, "pad": ""}
    ctx.rows("out", endless())


@worker.method
def forever(ctx, params):
    """Rows until the caller cancels: Cancelled ends the call with -7."""
    i = 0
    while True:
        i += 1
        ctx.row("out", {"i": i, "pad": ""})


@worker.method
def spin(ctx, params):
    """Works for params["ms"] in small steps, checking for cancellation
    between them (each check answers pings): "done" or ERROR -7. With
    "tell", it first notifies the host's "hanging" that it runs."""
    if params.get("tell"):
        worker.notify("hanging", {})
    end = time.monotonic() + params["ms"] / 1000.0
    while time.monotonic() < end:
        if ctx.cancelled():
            raise ward.Cancelled("stopped early")
        time.sleep(0.005)     # a step of work
    return "done"


@worker.method
def stuck(ctx, params):
    """Works without a boundary: no pings are answered meanwhile. Says
    on stderr when it starts, so that a test can know it has."""
    print("stuck for %d ms" % params["ms"], file=sys.stderr, flush=True)
    time.sleep(params["ms"] / 1000.0)
    return "late"


@worker.method
def hold(ctx, params):
    """Waits for a line on stdin (the test's go-ahead), without reading
    the connection meanwhile: what arrives queues up."""
    print("holding", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip()


def _describe(e):
    return {"error": type(e).__name__, "code": e.code, "message": e.message, "data": e.data}


@worker.method
def ask(ctx, params):
    """Calls the host's params["method"] with params["params"]; returns
    {"result": ...} or a description of the error."""
    try:
        timeout = params.get("timeout", 20.0)
        return {"result": ctx.call(params["method"], params.get("params"), timeout=timeout)}
    except ward.Error as e:
        return _describe(e)


@worker.method
def ask_async(ctx, params):
    """ask, with Worker.call_async on an event loop of its own."""
    async def go():
        calls = [worker.call_async(params["method"], p) for p in params["each"]]
        return await asyncio.gather(*calls)
    try:
        return {"result": asyncio.run(go())}
    except ward.Error as e:
        return _describe(e)


@worker.method
def poke(ctx, params):
    """A notification: notifies the host's "poked" back with the params."""
    worker.notify("poked", params)


@worker.method
def note(ctx, data):
    """A notification, counted."""
    tally["notes"] += 1
    tally["bytes"] += len(data or "")


@worker.method
def notes(ctx, params):
    return tally


@worker.method
def leave(ctx, params):
    """Says goodbye to the host: the worker exits 0."""
    worker.close("done on purpose")


@worker.method
def die(ctx, params):
    """Ends the process at once, mid-call: a crash."""
    os._exit(3)


@worker.method
def broken_note(ctx, params):
    raise RuntimeError("a notification handler that fails")


@worker.method
def logs(ctx, params):
    """Log records (protocol.md 8.4): two for the call, one outside it; and
    what breaks the rules is refused before anything is sent."""
    ctx.log("warn", "disk slow", ms=250, disk="sda")
    ctx.log(5, "tab\there")
    worker.log("debug", "not in a call")
    refused = 0
    for level, message, fields in (("loud", "m", {}), (0, "m", {}), ("info", "x" * 4097, {}),
                                   ("info", "nul \0", {}), ("info", "m", {"k": "v" * 1025})):
        try:
            ctx.log(level, message, **fields)
        except ValueError:
            refused += 1
    return refused


if __name__ == "__main__":
    worker.run()
