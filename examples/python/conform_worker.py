#!/usr/bin/env python3
"""A ward worker in Python that serves the conformance contract of
docs/protocol.md section 16 and passes `ward conform`:

    PYTHONPATH=bindings/python ward conform python3 examples/python/conform_worker.py

Each handler is one behaviour of the protocol done with the `ward`
package's worker API (bindings/python): copy it to start a worker of your
own.
"""
import time

import ward

worker = ward.Worker("conform", meta={"lang": "python"})


@worker.method("conform.echo", raw=True)
def echo(ctx, data):
    """The request's bytes back, tagged with the request's encoding."""
    return data


@worker.method("conform.fail")
def fail(ctx, params):
    ctx.fail(params["code"], params.get("message", ""), params.get("data"))


@worker.method("conform.raise")
def raise_(ctx, params):
    # An ordinary exception: the package makes it a remote error with the
    # exception's type and message.
    raise RuntimeError(params["message"])


@worker.method("conform.add")
def add(ctx, params):
    # Params that are not JSON never get here: the package answers -9.
    return params["a"] + params["b"]


@worker.method("conform.rows")
def rows(ctx, params):
    n, pad, every = params["n"], "x" * params.get("pad", 0), params.get("every", 0)
    ctx.diag("starting %d rows" % n, code="start", level="warning")
    for i in range(1, n + 1):
        ctx.row("out", {"i": i, "pad": pad})     # waits for the window; raises Cancelled
        if every and i % every == 0:
            ctx.progress({"done": i, "total": n})
    return n


@worker.method("conform.forever")
def forever(ctx, params):
    i = 0
    while True:           # ctx.row raises ward.Cancelled once the host cancels
        i += 1
        ctx.row("out", {"i": i})


@worker.method("conform.sleep")
def sleep(ctx, params):
    if params.get("tell"):
        worker.notify("conform.running", {})
    end = time.monotonic() + params["ms"] / 1000.0
    while time.monotonic() < end:
        if ctx.cancelled():   # a boundary: answers pings, sees a CANCEL
            raise ward.Cancelled("cancelled")
        time.sleep(0.005)     # a step of work
    return "done"


@worker.method("conform.ask")
def ask(ctx, params):
    try:
        return {"result": ctx.call(params["method"], params.get("params"))}
    except ward.Error as e:
        return {"code": e.code, "message": e.message, "data": e.data}


@worker.method("conform.notify")
def notify(ctx, params):
    worker.notify("conform.notified", params)


@worker.method("conform.leave")
def leave(ctx, params):
    worker.close("leaving on purpose")


if __name__ == "__main__":
    worker.run()
