"""The host side, a first part: Python programs that start and call ward
workers (in any language) through libward, with ctypes (standard library).

    from ward.host import Host

    with Host() as host:
        w = host.spawn("resizer", ["./resize_worker"])
        print(w.request("resize", {"w": 640}))
        w.stop()

What is here: a host (ward_host_new), workers spawned from a name and an
argv (with environment, transport and restart policy), blocking requests
with JSON, raw or MessagePack payloads and callbacks for their rows,
progress reports and diagnostics (with a flow-control window),
notifications, pings, stop, and libward's error codes raised as the
exceptions of ward.errors. Not yet: asynchronous calls and cancellation,
events, logs, host handlers (workers calling the host). The library is found as
`library` says, else by ctypes.util.find_library("ward").
"""

import ctypes
import ctypes.util

from . import errors
from . import payload as _payload
from .errors import (Cancelled, Closed, Error, NoMethod, ProtocolError, RemoteError,
                     Timeout, TooBig, _Fixed)
from .protocol import JSON

__all__ = ["Host", "Worker", "Crashed", "GaveUp", "Stale", "PermissionDenied"]


class Crashed(_Fixed):
    """The worker died while the call was in flight (WARD_ECRASHED)."""
    code = errors.ECRASHED


class GaveUp(_Fixed):
    """The worker reached its restart limit and failed (WARD_EGAVEUP)."""
    code = errors.EGAVEUP


class Stale(_Fixed):
    """The call was pinned to an earlier generation (WARD_ESTALE)."""
    code = errors.ESTALE


class PermissionDenied(_Fixed):
    """Permission denied (WARD_EPERM)."""
    code = errors.EPERM


_BY_CODE = {
    errors.ETIMEDOUT: Timeout, errors.ECANCELED: Cancelled, errors.ECRASHED: Crashed,
    errors.EPROTO: ProtocolError, errors.ETOOBIG: TooBig, errors.ENOMETHOD: NoMethod,
    errors.ECLOSED: Closed, errors.EGAVEUP: GaveUp, errors.ESTALE: Stale,
    errors.EPERM: PermissionDenied,
}

_TRANSPORTS = {"inherit": 0, "socket": 1}
_RESTARTS = {"never": 0, "on-failure": 1, "always": 2}


class _CallOpts(ctypes.Structure):
    """ward_call_opts, as include/ward.h lays it out."""
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_int),
        ("encoding", ctypes.c_int),
        ("on_progress", ctypes.c_void_p),
        ("on_row", ctypes.c_void_p),
        ("on_diag", ctypes.c_void_p),
        ("ud", ctypes.c_void_p),
        ("generation", ctypes.c_uint32),
        ("window_bytes", ctypes.c_int),
        ("summary", ctypes.c_void_p),
    ]


def _load(library):
    path = library or ctypes.util.find_library("ward")
    if not path:
        raise OSError("libward not found: install ward, or give Host(library=PATH)")
    lib = ctypes.CDLL(path)
    P, I, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    PP = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "ward_host_new": (I, [PP, P]),
        "ward_host_free": (None, [P]),
        "ward_spec_new": (I, [PP, S, S]),
        "ward_spec_free": (None, [P]),
        "ward_spec_arg": (I, [P, S]),
        "ward_spec_env": (I, [P, S, S]),
        "ward_spec_transport": (I, [P, I]),
        "ward_spec_restart": (I, [P, I]),
        "ward_spawn": (I, [PP, P, P]),
        "ward_call_opts_init": (I, [P, ctypes.c_size_t]),
        "ward_request_ex": (I, [PP, P, S, P, ctypes.c_size_t, P]),
        "ward_notify": (I, [P, S, P, ctypes.c_size_t]),
        "ward_ping": (I, [P, I]),
        "ward_worker_stop": (I, [P, I]),
        "ward_worker_free": (None, [P]),
        "ward_worker_pid": (I, [P]),
        "ward_worker_generation": (ctypes.c_uint32, [P]),
        "ward_worker_serves": (I, [P, S]),
        "ward_worker_meta": (S, [P, S]),
        "ward_msg_data": (P, [P]),
        "ward_msg_len": (ctypes.c_size_t, [P]),
        "ward_msg_encoding": (I, [P]),
        "ward_msg_code": (I, [P]),
        "ward_msg_error": (S, [P]),
        "ward_msg_free": (None, [P]),
        "ward_last_error": (S, []),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def _raise(lib, rc):
    """Raises the exception of a WARD_E* code, with libward's last error
    sentence as its message."""
    text = (lib.ward_last_error() or b"").decode("utf-8", "replace")
    kind = _BY_CODE.get(rc)
    if kind is NoMethod:
        raise NoMethod(rc, text)
    raise kind(text) if kind else Error(rc, text)


_ROW_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_uint64, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.c_void_p)
_PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_DIAG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                            ctypes.c_void_p)


def _callbacks(opts, enc, failed, on_row, on_progress, on_diag):
    """Sets the call's callbacks in `opts`; returns what must stay alive
    during the call. The first exception of a callback goes to `failed`."""
    def value(data, n):
        blob = ctypes.string_at(data, n) if n else b""
        try:
            return _payload.decode(enc, blob)
        except Error:
            return blob

    def guarded(fn):
        def call(*args):
            try:
                fn(*args)
            except BaseException as e:   # not through C: kept for the caller
                if not failed:
                    failed.append(e)
        return call

    keep = []
    if on_row:
        keep.append(_ROW_FN(guarded(lambda stream, seq, data, n, ud: on_row(
            stream.decode("utf-8", "replace"), seq, value(data, n)))))
        opts.on_row = ctypes.cast(keep[-1], ctypes.c_void_p)
    if on_progress:
        keep.append(_PROGRESS_FN(guarded(lambda data, n, ud: on_progress(value(data, n)))))
        opts.on_progress = ctypes.cast(keep[-1], ctypes.c_void_p)
    if on_diag:
        keep.append(_DIAG_FN(guarded(lambda level, code, message, ud: on_diag(
            level, code.decode("utf-8", "replace"), message.decode("utf-8", "replace")))))
        opts.on_diag = ctypes.cast(keep[-1], ctypes.c_void_p)
    return keep


def _text(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


class Host:
    """A ward host: supervises the workers it spawns (ward_host_new). Close
    it (or use `with`) to stop them all."""

    def __init__(self, *, library=None):
        self._lib = _load(library)
        h = ctypes.c_void_p()
        rc = self._lib.ward_host_new(ctypes.byref(h), None)
        if rc:
            _raise(self._lib, rc)
        self._h = h
        self._workers = []

    def spawn(self, name, argv, *, env=None, transport="inherit", restart="on-failure"):
        """Starts a worker: `argv[0]` is the executable (a path, or a name
        looked up in PATH), the rest its arguments; `env` adds variables
        (None removes one); `transport` "inherit" or "socket"; `restart`
        "never", "on-failure" or "always". Returns once its handshake is
        done. Raises ward.Error (ESPAWN, EHANDSHAKE, ...)."""
        lib = self._lib
        spec = ctypes.c_void_p()
        rc = lib.ward_spec_new(ctypes.byref(spec), _text(name), _text(argv[0]))
        if rc:
            _raise(lib, rc)
        try:
            for arg in argv[1:]:
                rc = rc or lib.ward_spec_arg(spec, _text(arg))
            for key, value in (env or {}).items():
                rc = rc or lib.ward_spec_env(spec, _text(key),
                                             None if value is None else _text(value))
            rc = rc or lib.ward_spec_transport(spec, _TRANSPORTS[transport])
            rc = rc or lib.ward_spec_restart(spec, _RESTARTS[restart])
            w = ctypes.c_void_p()
            rc = rc or lib.ward_spawn(ctypes.byref(w), self._h, spec)
            if rc:
                _raise(lib, rc)
        finally:
            lib.ward_spec_free(spec)
        worker = Worker(self, w)
        self._workers.append(worker)
        return worker

    def close(self):
        """Stops every worker still running and frees the host."""
        if self._h:
            for w in self._workers:
                w._release()
            self._lib.ward_host_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Worker:
    """A worker of a Host (the handle outlives restarts of its process)."""

    def __init__(self, host, handle):
        self._host = host
        self._lib = host._lib
        self._w = handle

    def _handle(self):
        if not self._w:
            raise Closed("the worker's handle was released")
        return self._w

    @property
    def pid(self):
        """The current process id (0 when there is none)."""
        return self._lib.ward_worker_pid(self._handle())

    @property
    def generation(self):
        return self._lib.ward_worker_generation(self._handle())

    def serves(self, method):
        """Whether its handshake announced `method`."""
        return bool(self._lib.ward_worker_serves(self._handle(), _text(method)))

    def meta(self, key):
        """A metadata value of its handshake ("version"), or None."""
        value = self._lib.ward_worker_meta(self._handle(), _text(key))
        return None if value is None else value.decode("utf-8", "replace")

    def request(self, method, params=None, *, timeout=30.0, encoding=JSON, on_row=None,
                on_progress=None, on_diag=None, window=0):
        """Calls `method` and returns its result, decoded by its encoding.

        While the call runs, on this thread: on_row(stream, seq, value) for
        each row, on_progress(value) for each progress report (both decoded
        as the request's encoding: bytes for raw, or when they do not
        decode), on_diag(level, code, message). Rows are tentative until the
        call returns. `window`: the flow-control window in bytes (0: 1 MiB;
        -1: none). An exception in a callback is raised once the call has
        ended (the call itself goes on).

        Raises RemoteError (NoMethod for -11) with the worker's code,
        message and data, and the exception of any other WARD_E* code
        (Timeout, Crashed, Closed, ...)."""
        enc = _payload.encoding_of(encoding)
        data = _payload.encode(enc, params)
        opts = _CallOpts()
        self._lib.ward_call_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
        opts.timeout_ms = -1 if timeout is None else int(timeout * 1000)
        opts.encoding = enc
        opts.window_bytes = window
        failed = []
        keep = _callbacks(opts, enc, failed, on_row, on_progress, on_diag)
        msg = ctypes.c_void_p()
        rc = self._lib.ward_request_ex(ctypes.byref(msg), self._handle(), _text(method), data,
                                       len(data), ctypes.byref(opts))
        del keep
        try:
            if failed:
                raise failed[0]
            if rc == 0:
                return _payload.decode(self._lib.ward_msg_encoding(msg), self._bytes(msg))
            if rc == errors.EREMOTE:
                lib = self._lib
                code = lib.ward_msg_code(msg)
                message = (lib.ward_msg_error(msg) or b"").decode("utf-8", "replace")
                blob, enc = self._bytes(msg), lib.ward_msg_encoding(msg)
                value = None
                if blob:
                    try:
                        value = _payload.decode(enc, blob)
                    except Error:
                        value = blob
                raise RemoteError(code, message, value, enc)
            _raise(self._lib, rc)
        finally:
            self._lib.ward_msg_free(msg)

    def _bytes(self, msg):
        n = self._lib.ward_msg_len(msg)
        return ctypes.string_at(self._lib.ward_msg_data(msg), n) if n else b""

    def notify(self, method, params=None):
        """Sends a notification (JSON): no answer."""
        data = _payload.encode(JSON, params)
        rc = self._lib.ward_notify(self._handle(), _text(method), data, len(data))
        if rc:
            _raise(self._lib, rc)

    def ping(self, timeout=30.0):
        """A round trip through the worker's serving loop."""
        rc = self._lib.ward_ping(self._handle(), int(timeout * 1000))
        if rc:
            _raise(self._lib, rc)

    def stop(self, grace_ms=-1):
        """Stops the worker for good (goodbye, then signals after the grace;
        -1: the spec's) and waits until it has stopped."""
        rc = self._lib.ward_worker_stop(self._handle(), grace_ms)
        if rc:
            _raise(self._lib, rc)

    def _release(self):
        if self._w:
            self._lib.ward_worker_free(self._w)
            self._w = None
