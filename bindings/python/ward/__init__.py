"""ward for Python: workers that a ward host supervises and calls.

The two-line worker:

    import ward
    ward.run({"upper": lambda ctx, text: text.upper()})

With decorators, streams and calls back to the host:

    import ward

    @ward.method
    def scan(ctx, params):
        for i in range(params["n"]):
            ctx.row("out", {"i": i})          # paced by the caller's window
            if ctx.cancelled():
                raise ward.Cancelled()
        ctx.progress({"done": params["n"]})
        return ctx.call("host.summary", {"n": params["n"]})

    ward.run()

The functions here work on one default Worker (ward.worker()); make your
own ward.Worker for anything else. ward.host is the other side: a Python
program that starts, calls and supervises workers through libward. docs/protocol.md describes the protocol
this speaks; bindings/python/README.md the package.
"""

from .errors import (ECANCELED, ECLOSED, ECRASHED, EGAVEUP, EHANDSHAKE, EINVAL, ENOMEM,
                     ENOMETHOD, EPERM, EPROTO, EREMOTE, ESPAWN, ESTALE, ESYS, ETIMEDOUT, ETOOBIG,
                     Cancelled, Closed, Crashed, Error, GaveUp, HandshakeError, InvalidArgument,
                     NoHost, NoMethod, OutOfMemory, PayloadError, PermissionDenied,
                     ProtocolError, RemoteError, SpawnError, Stale, SystemFailure, Timeout,
                     TooBig, error_name, from_code)
from .payload import have_msgpack
from .protocol import JSON, MSGPACK, RAW
from .worker import Context, Encoded, Level, Worker

__version__ = "0.1.0"

__all__ = [
    "Worker", "Context", "Encoded", "Level", "RAW", "JSON", "MSGPACK", "worker", "method",
    "handle", "run", "call", "call_async", "notify", "have_msgpack", "error_name",
    "Error", "RemoteError", "NoMethod", "Cancelled", "Timeout", "Closed", "ProtocolError",
    "TooBig", "HandshakeError", "NoHost", "PayloadError", "InvalidArgument", "OutOfMemory",
    "SystemFailure", "SpawnError", "Crashed", "GaveUp", "Stale", "PermissionDenied",
    "from_code",
    "EINVAL", "ENOMEM", "ESYS", "ESPAWN", "EHANDSHAKE", "ETIMEDOUT", "ECANCELED", "ECRASHED",
    "EPROTO", "ETOOBIG", "ENOMETHOD", "EREMOTE", "ECLOSED", "EGAVEUP", "ESTALE", "EPERM",
]

_default = None


def worker():
    """The default Worker, which the functions of this module use (made on
    first use)."""
    global _default
    if _default is None:
        _default = Worker()
    return _default


def method(name=None, *, raw=False):
    """Decorator: registers a handler with the default worker
    (Worker.method)."""
    return worker().method(name, raw=raw)


def handle(name, fn, *, raw=False):
    """Registers a handler with the default worker (Worker.handle)."""
    worker().handle(name, fn, raw=raw)


def run(handlers=None, *, name=None, meta=None, traceback=None):
    """Registers `handlers` (a dict of method name to fn(ctx, params)) with
    the default worker, applies the options given (Worker's) and runs it
    (Worker.run): returns when the host says goodbye; exits with status 2
    when not started by a ward host, 1 when the connection is lost."""
    w = worker()
    if name is not None:
        w.name = name
    if meta:
        w.meta.update(meta)
    if traceback is not None:
        w.traceback = traceback
    for method_name, fn in (handlers or {}).items():
        w.handle(method_name, fn)
    w.run()


def call(method, params=None, **options):
    """Calls the host from the default worker (Worker.call)."""
    return worker().call(method, params, **options)


async def call_async(method, params=None, **options):
    """Calls the host from the default worker, for asyncio
    (Worker.call_async)."""
    return await worker().call_async(method, params, **options)


def notify(method, params=None, **options):
    """Notifies the host from the default worker (Worker.notify)."""
    worker().notify(method, params, **options)
