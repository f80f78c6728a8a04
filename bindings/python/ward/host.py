"""The host side: Python programs that start, call and supervise ward
workers (in any language) through libward, with ctypes (standard library).

    from ward.host import Host

    with Host() as host:
        with host.spawn("resizer", ["./resize_worker"]) as w:
            print(w.request("resize", {"w": 640}))

What is here, over include/ward.h:

- Host: ward_host_new with an event callback; host handlers (methods the
  workers call on the host, ward_host_handle), deferred for slow answers;
  spawn; pools; events kept for waiting on (Host.wait_event).
- Worker: blocking requests with rows, progress and diagnostics callbacks
  and a flow-control window (ward_request_ex); asynchronous calls
  (ward_call_start) with cancel, wait and asyncio (request_async);
  notifications, pings, stop, restart, cycle, info, logs
  (ward_worker_logs), and release (ward_worker_free).
- Every WARD_E* code raised as its exception (ward.errors: Timeout,
  Crashed, Closed, GaveUp, ...; RemoteError with the worker's code,
  message and data). Host, Worker, Pool and Call are context managers.

Threads: blocking calls release the interpreter while they wait. Event
callbacks, host handlers and the callbacks of asynchronous calls run on
the host's I/O thread: they must not block (no blocking request there;
ctx.defer() for slow answers). An exception raised in one of them is
printed to stderr, not lost in C.

The library is found as `library` says (a path), else in the
environment's WARD_LIBRARY, else by ctypes.util.find_library("ward").
"""

import asyncio
import ctypes
import ctypes.util
import os
import sys
import threading
import time
import traceback

from . import errors
from . import payload as _payload
from .errors import (Closed, Crashed, Error, GaveUp, PermissionDenied, RemoteError, Stale,
                     from_code)
from .protocol import JSON

__all__ = ["Host", "Worker", "Pool", "Call", "Context", "Event", "LogLine",
           "Crashed", "GaveUp", "Stale", "PermissionDenied"]

_TRANSPORTS = {"inherit": 0, "socket": 1}
_RESTARTS = {"never": 0, "on-failure": 1, "always": 2}

# ward_event_type, by number (ward_event_name says the same names).
EVENTS = ("", "spawned", "ready", "exited", "error", "restarting", "restarted",
          "unhealthy", "gave-up", "stopped", "log", "group-gave-up", "spawn-failed")
_STREAMS = {1: "stdout", 2: "stderr"}

P, I, S, U32, U64, SZ = (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32,
                         ctypes.c_uint64, ctypes.c_size_t)


class _CallOpts(ctypes.Structure):
    """ward_call_opts, as include/ward.h lays it out."""
    _fields_ = [("struct_size", U32), ("timeout_ms", I), ("encoding", I),
                ("on_progress", P), ("on_row", P), ("on_diag", P), ("ud", P),
                ("generation", U32), ("window_bytes", I), ("summary", P)]


class _Event(ctypes.Structure):
    """ward_event."""
    _fields_ = [("type", I), ("worker", P), ("name", S), ("worker_id", U64), ("pid", I),
                ("generation", U32), ("exit_code", I), ("signal", I), ("reason", I),
                ("error", I), ("detail", S), ("attempt", I), ("delay_ms", I),
                ("outcome", I), ("stream", I), ("seq", U64), ("group", S),
                ("proc_class", I)]


_EVENT_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Event), P)


class _HostOpts(ctypes.Structure):
    """ward_host_opts."""
    _fields_ = [("struct_size", U32), ("on_event", _EVENT_FN), ("event_ud", P),
                ("max_frame", U32), ("external_loop", I)]


class _Info(ctypes.Structure):
    """ward_info."""
    _fields_ = [("struct_size", U32), ("pid", I), ("state", I), ("generation", U32),
                ("restarts", U32), ("last_exit_code", I), ("last_signal", I),
                ("last_reason", I), ("last_stop", I), ("start_time_ms", ctypes.c_int64),
                ("rss_bytes", U64), ("cpu_ms", U64), ("calls_served", U64),
                ("calls_in_flight", U32), ("sandbox", U64), ("landlock_abi", I),
                ("reserved_", I), ("proc_class", I), ("reserved2_", I), ("tree", I),
                ("paused", I), ("tree_memory_bytes", U64), ("pressure_cpu", I),
                ("pressure_memory", I), ("pressure_io", I), ("oom_kills", U32),
                ("spares_ready", U32), ("spares_running", U32), ("spares_rss_bytes", U64)]


class _LogLine(ctypes.Structure):
    """ward_log_line."""
    _fields_ = [("seq", U64), ("time_ms", ctypes.c_int64), ("stream", I),
                ("generation", U32), ("flags", I), ("text", S), ("len", SZ)]


class _LogQuery(ctypes.Structure):
    """ward_log_query."""
    _fields_ = [("struct_size", U32), ("streams", I), ("last", SZ),
                ("since_ms", ctypes.c_int64), ("after_seq", U64), ("limit", SZ)]


class _PoolOpts(ctypes.Structure):
    """ward_pool_opts."""
    _fields_ = [("struct_size", U32), ("min_workers", I), ("max_workers", I), ("idle_ms", I)]


class _ReplaceOpts(ctypes.Structure):
    """ward_replace_opts."""
    _fields_ = [("struct_size", U32), ("ready_ms", I), ("drain_ms", I), ("doctor", I)]


class _PoolStats(ctypes.Structure):
    """ward_pool_stats."""
    _fields_ = [("struct_size", U32), ("workers", SZ), ("busy", SZ), ("calls", U64),
                ("failures", U64), ("grown", U64), ("shrunk", U64), ("replaced", U64)]


_ROW_FN = ctypes.CFUNCTYPE(None, S, U64, P, SZ, P)
_PROGRESS_FN = ctypes.CFUNCTYPE(None, P, SZ, P)
_DIAG_FN = ctypes.CFUNCTYPE(None, I, S, S, P)
_DONE_FN = ctypes.CFUNCTYPE(None, P, I, P, P)
_HANDLER_FN = ctypes.CFUNCTYPE(I, P, P, SZ, P)

_SIGS = {
    "ward_host_new": (I, [P, P]),
    "ward_host_free": (None, [P]),
    "ward_host_handle": (I, [P, S, _HANDLER_FN, P]),
    "ward_spec_new": (I, [P, S, S]),
    "ward_spec_free": (None, [P]),
    "ward_spec_arg": (I, [P, S]),
    "ward_spec_env": (I, [P, S, S]),
    "ward_spec_cwd": (I, [P, S]),
    "ward_spec_transport": (I, [P, I]),
    "ward_spec_restart": (I, [P, I]),
    "ward_spec_intensity": (I, [P, I, I]),
    "ward_spec_backoff": (I, [P, I, I, I, I]),
    "ward_spec_heartbeat": (I, [P, I, I]),
    "ward_spec_stop_grace": (I, [P, I]),
    "ward_spec_request_timeout": (I, [P, I]),
    "ward_spec_startup_timeout": (I, [P, I]),
    "ward_spec_max_requests": (I, [P, U64]),
    "ward_spec_spares": (I, [P, U32]),
    "ward_replace_opts_init": (I, [P, SZ]),
    "ward_worker_replace": (I, [P, P, P]),
    "ward_pool_replace": (I, [P, P, P]),
    "ward_spawn": (I, [P, P, P]),
    "ward_call_opts_init": (I, [P, SZ]),
    "ward_host_opts_init": (I, [P, SZ]),
    "ward_info_init": (I, [P, SZ]),
    "ward_log_query_init": (I, [P, SZ]),
    "ward_pool_opts_init": (I, [P, SZ]),
    "ward_pool_stats_init": (I, [P, SZ]),
    "ward_request_ex": (I, [P, P, S, P, SZ, P]),
    "ward_call_start": (I, [P, P, S, P, SZ, P, _DONE_FN, P]),
    "ward_call_cancel": (I, [P]),
    "ward_call_wait": (I, [P, I]),
    "ward_call_free": (None, [P]),
    "ward_notify": (I, [P, S, P, SZ]),
    "ward_ping": (I, [P, I]),
    "ward_worker_stop": (I, [P, I]),
    "ward_worker_restart": (I, [P]),
    "ward_worker_cycle": (I, [P]),
    "ward_worker_wait_ready": (I, [P, I]),
    "ward_worker_free": (None, [P]),
    "ward_worker_pid": (I, [P]),
    "ward_worker_id": (U64, [P]),
    "ward_worker_name": (S, [P]),
    "ward_worker_generation": (U32, [P]),
    "ward_worker_serves": (I, [P, S]),
    "ward_worker_meta": (S, [P, S]),
    "ward_worker_info": (I, [P, P]),
    "ward_worker_logs": (I, [P, P, P, P]),
    "ward_log_lines_free": (None, [P, SZ]),
    "ward_worker_data_dir": (S, [P]),
    "ward_pool_new": (I, [P, P, P, P]),
    "ward_pool_free": (None, [P]),
    "ward_pool_request_ex": (I, [P, P, S, P, SZ, P]),
    "ward_pool_info": (I, [P, P]),
    "ward_msg_data": (P, [P]),
    "ward_msg_len": (SZ, [P]),
    "ward_msg_encoding": (I, [P]),
    "ward_msg_code": (I, [P]),
    "ward_msg_error": (S, [P]),
    "ward_msg_free": (None, [P]),
    "ward_last_error": (S, []),
    "ward_strerror": (S, [I]),
    "ward_reason_name": (S, [I]),
    "ward_state_name": (S, [I]),
    "ward_stop_outcome_name": (S, [I]),
    "ward_ctx_reply": (I, [P, P, SZ]),
    "ward_ctx_fail_data": (I, [P, I, S, P, SZ]),
    "ward_ctx_progress": (I, [P, P, SZ]),
    "ward_ctx_row": (I, [P, S, P, SZ]),
    "ward_ctx_diag": (I, [P, I, S, S]),
    "ward_ctx_defer": (P, [P]),
    "ward_ctx_encoding": (I, [P]),
    "ward_ctx_set_encoding": (I, [P, I]),
    "ward_ctx_method": (S, [P]),
    "ward_ctx_is_notify": (I, [P]),
    "ward_ctx_worker": (P, [P]),
}

_libs = {}
_libs_lock = threading.Lock()


def _load(library):
    path = library or os.environ.get("WARD_LIBRARY") or ctypes.util.find_library("ward")
    if not path:
        raise OSError("libward not found: install ward, or give Host(library=PATH) "
                      "or WARD_LIBRARY")
    with _libs_lock:
        lib = _libs.get(path)
        if lib is None:
            lib = ctypes.CDLL(path)
            for name, (restype, argtypes) in _SIGS.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = restype, argtypes
            _libs[path] = lib
        return lib


def _error(lib, rc):
    """The exception of a WARD_E* code, with libward's last error sentence
    (of this thread) as its message."""
    return from_code(rc, (lib.ward_last_error() or b"").decode("utf-8", "replace"))


def _check(lib, rc):
    if rc:
        raise _error(lib, rc)


def _text(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _str(value):
    return "" if value is None else value.decode("utf-8", "replace")


def _report(what):
    """An exception in a callback on the I/O thread: said, not raised into C."""
    print("ward.host: %s raised:" % what, file=sys.stderr)
    traceback.print_exc()


def _msg_bytes(lib, msg):
    n = lib.ward_msg_len(msg)
    return ctypes.string_at(lib.ward_msg_data(msg), n) if n else b""


def _outcome(lib, rc, msg, text=None):
    """The result of a call that ended with `rc` and `msg` (a reply or a
    remote error), or the exception to raise. `text`: the error sentence,
    when it was read on another thread."""
    if rc == 0:
        return _payload.decode(lib.ward_msg_encoding(msg), _msg_bytes(lib, msg))
    if rc == errors.EREMOTE and msg:
        code = lib.ward_msg_code(msg)
        message = _str(lib.ward_msg_error(msg))
        blob, enc = _msg_bytes(lib, msg), lib.ward_msg_encoding(msg)
        value = None
        if blob:
            try:
                value = _payload.decode(enc, blob)
            except Error:
                value = blob
        err = from_code(code, message, value)
        if not isinstance(err, RemoteError):    # a worker failing with a code of ward's
            err = RemoteError(code, message, value, enc)
        err.encoding = enc
        return err
    return from_code(rc, text if text is not None else _str(lib.ward_last_error()))


class Event:
    """A lifecycle event (ward_event): `type` its name ("spawned", "ready",
    "exited", "restarting", "restarted", "unhealthy", "gave-up", "stopped",
    "error", "log", "group-gave-up", "spawn-failed"), and the fields that
    apply to it (others 0, None or ""): worker_id, name, pid, generation,
    exit_code, signal, reason (a name: "crashed", "stopped", ...), error,
    detail, attempt, delay_ms, outcome (a name), stream, seq, group; `worker`
    the Worker object, when the host knows it."""

    __slots__ = ("type", "worker", "worker_id", "name", "pid", "generation", "exit_code",
                 "signal", "reason", "error", "detail", "attempt", "delay_ms", "outcome",
                 "stream", "seq", "group", "time")

    def __init__(self, lib, ev, worker):
        self.type = EVENTS[ev.type] if 0 < ev.type < len(EVENTS) else str(ev.type)
        self.worker = worker
        self.worker_id = ev.worker_id
        self.name = _str(ev.name)
        self.pid = ev.pid
        self.generation = ev.generation
        self.exit_code = ev.exit_code
        self.signal = ev.signal
        self.reason = _str(lib.ward_reason_name(ev.reason)) if ev.reason else None
        self.error = ev.error
        self.detail = _str(ev.detail) if ev.detail else None
        self.attempt = ev.attempt
        self.delay_ms = ev.delay_ms
        self.outcome = _str(lib.ward_stop_outcome_name(ev.outcome)) if ev.outcome else None
        self.stream = _STREAMS.get(ev.stream)
        self.seq = ev.seq
        self.group = _str(ev.group) if ev.group else None
        self.time = time.monotonic()

    def __repr__(self):
        extra = ""
        if self.type == "exited":
            extra = " code=%d signal=%d reason=%s" % (self.exit_code, self.signal, self.reason)
        elif self.detail:
            extra = " %r" % self.detail
        return "<ward.Event %s %s#%d pid=%d gen=%d%s>" % (
            self.type, self.name, self.worker_id, self.pid, self.generation, extra)


class LogLine:
    """A captured line of a worker's stdout or stderr (ward_log_line)."""

    __slots__ = ("seq", "time", "stream", "generation", "cut", "binary", "text")

    def __init__(self, line):
        self.seq = line.seq
        self.time = line.time_ms / 1000.0      # wall clock, seconds since the epoch
        self.stream = _STREAMS.get(line.stream, str(line.stream))
        self.generation = line.generation
        self.cut = bool(line.flags & 1)
        self.binary = bool(line.flags & 2)
        self.text = ctypes.string_at(line.text, line.len).decode("utf-8", "replace")

    def __repr__(self):
        return "<ward.LogLine %d %s %r>" % (self.seq, self.stream, self.text)


def _decoder(enc):
    def value(data, n):
        blob = ctypes.string_at(data, n) if n else b""
        try:
            return _payload.decode(enc, blob)
        except Error:
            return blob
    return value


def _callbacks(opts, enc, failed, on_row, on_progress, on_diag):
    """Sets the call's callbacks in `opts`; returns what must stay alive
    during the call. The first exception of a callback goes to `failed`."""
    value = _decoder(enc)

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
            _str(stream), seq, value(data, n)))))
        opts.on_row = ctypes.cast(keep[-1], P)
    if on_progress:
        keep.append(_PROGRESS_FN(guarded(lambda data, n, ud: on_progress(value(data, n)))))
        opts.on_progress = ctypes.cast(keep[-1], P)
    if on_diag:
        keep.append(_DIAG_FN(guarded(lambda level, code, message, ud: on_diag(
            level, _str(code), _str(message)))))
        opts.on_diag = ctypes.cast(keep[-1], P)
    return keep


def _call_opts(lib, timeout, encoding, window, generation):
    opts = _CallOpts()
    lib.ward_call_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
    opts.timeout_ms = -1 if timeout is None else max(0, int(timeout * 1000))
    opts.encoding = _payload.encoding_of(encoding)
    opts.window_bytes = window
    opts.generation = generation
    return opts


def _params(params, encoding):
    enc = _payload.encoding_of(encoding)
    if enc == 0 and isinstance(params, (bytes, bytearray, memoryview)):
        return enc, bytes(params)
    return enc, _payload.encode(enc, params)


def _replace(lib, fn, handle, name, argv, ready, drain, doctor, options):
    """ward_worker_replace or ward_pool_replace of `handle` with a spec of
    `name` from `argv` and spawn()'s options."""
    opts = _ReplaceOpts()
    lib.ward_replace_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
    if ready is not None:
        opts.ready_ms = int(ready * 1000)
    if drain is not None:
        opts.drain_ms = int(drain * 1000)
    opts.doctor = 1 if doctor else 0
    spec = _spec(lib, name, argv, **options)
    try:
        _check(lib, fn(handle, spec, ctypes.byref(opts)))
    finally:
        lib.ward_spec_free(spec)


def _spec(lib, name, argv, env=None, cwd=None, transport="inherit", restart="on-failure",
          stop_grace=None, request_timeout=None, startup_timeout=None, heartbeat=None,
          intensity=None, backoff=None, max_requests=None, spares=None):
    """A ward_spec from Python values (the caller frees it)."""
    if not argv:
        raise errors.InvalidArgument("argv names at least the executable")
    spec = P()
    _check(lib, lib.ward_spec_new(ctypes.byref(spec), _text(name), _text(argv[0])))
    try:
        rc = 0
        for arg in argv[1:]:
            rc = rc or lib.ward_spec_arg(spec, _text(arg))
        for key, value in (env or {}).items():
            rc = rc or lib.ward_spec_env(spec, _text(key), None if value is None else _text(value))
        if cwd is not None:
            rc = rc or lib.ward_spec_cwd(spec, _text(os.fspath(cwd)))
        if transport not in _TRANSPORTS or restart not in _RESTARTS:
            raise errors.InvalidArgument("transport is one of %s, restart one of %s" % (
                "/".join(_TRANSPORTS), "/".join(_RESTARTS)))
        rc = rc or lib.ward_spec_transport(spec, _TRANSPORTS[transport])
        rc = rc or lib.ward_spec_restart(spec, _RESTARTS[restart])
        if stop_grace is not None:
            rc = rc or lib.ward_spec_stop_grace(spec, int(stop_grace * 1000))
        if request_timeout is not None:
            rc = rc or lib.ward_spec_request_timeout(spec, int(request_timeout * 1000))
        if startup_timeout is not None:
            rc = rc or lib.ward_spec_startup_timeout(spec, int(startup_timeout * 1000))
        if heartbeat is not None:
            interval, misses = heartbeat
            rc = rc or lib.ward_spec_heartbeat(spec, int(interval * 1000), misses)
        if intensity is not None:
            restarts, period = intensity
            rc = rc or lib.ward_spec_intensity(spec, restarts, int(period * 1000))
        if backoff is not None:
            initial, cap, pct, reset = backoff
            rc = rc or lib.ward_spec_backoff(spec, int(initial * 1000), int(cap * 1000), pct,
                                             int(reset * 1000))
        if max_requests is not None:
            rc = rc or lib.ward_spec_max_requests(spec, max_requests)
        if spares is not None:
            rc = rc or lib.ward_spec_spares(spec, spares)
        _check(lib, rc)
    except BaseException:
        lib.ward_spec_free(spec)
        raise
    return spec


class Host:
    """A ward host (ward_host_new): supervises the workers it spawns, on an
    I/O thread of its own. Close it (or use `with`) to stop them all.

    `on_event(event)` is called for each lifecycle event (an Event), on the
    I/O thread; the host also keeps the last `keep_events` of them for
    wait_event(). `max_frame`: the largest payload accepted from a worker
    (0: ward's default, 64 MiB)."""

    def __init__(self, *, library=None, on_event=None, max_frame=0, keep_events=10000):
        self._lib = lib = _load(library)
        self._on_event = on_event
        self._events = []
        self._events_base = 0           # events dropped from the front
        self._keep = keep_events
        self._cv = threading.Condition()
        self._workers = {}              # handle address -> Worker
        self._handlers = {}             # method -> the C function kept alive
        self._calls = set()             # asynchronous calls whose done has not run
        self._just_done = None          # the last call whose done ran (see _retire)
        self._event_fn = _EVENT_FN(self._event)
        opts = _HostOpts()
        lib.ward_host_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
        opts.on_event = self._event_fn
        opts.max_frame = max_frame
        h = P()
        _check(lib, lib.ward_host_new(ctypes.byref(h), ctypes.byref(opts)))
        self._h = h
        self._pools = []

    # -- events -----------------------------------------------------------------

    def _event(self, evp, ud):
        try:
            ev = evp.contents
            with self._cv:
                worker = self._workers.get(ev.worker)
            e = Event(self._lib, ev, worker)
            with self._cv:
                self._events.append(e)
                if len(self._events) > self._keep:
                    drop = len(self._events) - self._keep
                    del self._events[:drop]
                    self._events_base += drop
                self._cv.notify_all()
            if self._on_event:
                self._on_event(e)
        except BaseException:
            _report("an event callback")

    def mark(self):
        """A position in the stream of events, for wait_event(since=...)."""
        with self._cv:
            return self._events_base + len(self._events)

    def events(self, since=0):
        """The events kept, from position `since` (mark())."""
        with self._cv:
            return self._events[max(0, since - self._events_base):]

    def wait_event(self, type, worker=None, *, since=0, timeout=30.0):
        """Waits for an event of `type` (for `worker`, a Worker or a worker
        id, when given) at or after position `since` (mark(); 0: any kept)
        and returns it; raises ward.Timeout after `timeout` seconds."""
        wid = worker.id if isinstance(worker, Worker) else worker
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for e in self._events[max(0, since - self._events_base):]:
                    if e.type == type and (wid is None or e.worker_id == wid):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise errors.Timeout("no %s event within %g s" % (type, timeout))
                self._cv.wait(left)

    # -- workers ------------------------------------------------------------------

    def _handle(self):
        if not self._h:
            raise Closed("the host is closed")
        return self._h

    def spawn(self, name, argv, **options):
        """Starts a worker and returns its Worker once its handshake is
        done: `argv[0]` is the executable (a path, or a name looked up in
        PATH), the rest its arguments. Options (all optional):

        env (dict; None removes a variable), cwd, transport ("inherit" or
        "socket"), restart ("never", "on-failure", "always"), stop_grace,
        request_timeout, startup_timeout (seconds), heartbeat ((interval
        s, misses)), intensity ((restarts, period s)), backoff ((initial s,
        max s, multiplier %, reset after s)), max_requests, spares (processes
        kept started and ready to take over at once: ward_spec_spares).

        Raises SpawnError, HandshakeError, GaveUp, InvalidArgument, ... with
        libward's sentence saying why."""
        lib = self._lib
        spec = _spec(lib, name, argv, **options)
        try:
            w = P()
            rc = lib.ward_spawn(ctypes.byref(w), self._handle(), spec)
            if rc:
                raise _error(lib, rc)
        finally:
            lib.ward_spec_free(spec)
        return self._adopt(w)

    def _adopt(self, handle):
        worker = Worker(self, handle)
        with self._cv:
            self._workers[handle.value] = worker
        return worker

    def pool(self, name, argv, *, min_workers=1, max_workers=4, idle=30.0, **options):
        """A pool of identical workers (ward_pool_new) from the same
        arguments as spawn(): calls go to a free worker, the pool grows up
        to max_workers and shrinks after `idle` seconds."""
        lib = self._lib
        spec = _spec(lib, name, argv, **options)
        try:
            opts = _PoolOpts()
            lib.ward_pool_opts_init(ctypes.byref(opts), ctypes.sizeof(opts))
            opts.min_workers, opts.max_workers = min_workers, max_workers
            opts.idle_ms = int(idle * 1000)
            p = P()
            _check(lib, lib.ward_pool_new(ctypes.byref(p), self._handle(), spec,
                                          ctypes.byref(opts)))
        finally:
            lib.ward_spec_free(spec)
        pool = Pool(self, p, name)
        self._pools.append(pool)
        return pool

    # -- host handlers --------------------------------------------------------------

    def handle(self, method, fn=None, *, raw=False):
        """Registers fn(ctx, params) for calls and notifications of
        `method` that workers make to the host (ward_host_handle); also a
        decorator (@host.handle("log.open")). It runs on the I/O thread, one
        at a time: it returns the reply, or raises (a ward.Error fails the
        call with its code, message and data; another exception with -1 and
        "Type: message"), or calls ctx.defer() and answers later from
        another thread. `params` is the payload decoded by its encoding, or
        bytes with raw=True."""
        if fn is None:
            return lambda f: self.handle(method, f, raw=raw) or f

        def serve(ctxp, data, n, ud):
            ctx = Context(self, ctxp)
            try:
                blob = ctypes.string_at(data, n) if n else b""
                params = blob if raw else _payload.decode(ctx.encoding, blob)
                result = fn(ctx, params)
                if not ctx.ended and not ctx.deferred:
                    ctx.reply(result)
            except BaseException as e:
                if ctx.deferred:
                    _report("the host handler of %r" % method)
                elif not ctx.ended:
                    ctx._fail_with(e)
            return 0

        cfn = _HANDLER_FN(serve)
        _check(self._lib, self._lib.ward_host_handle(self._handle(), _text(method), cfn, None))
        self._handlers[method] = cfn       # kept alive: ward never removes a handler

    # -- asynchronous calls ----------------------------------------------------------------

    def _running(self, call):
        """Keeps a started call, and the C callbacks it holds, alive until
        its `done` has run, whatever the program does with the Call."""
        with self._cv:
            self._calls.add(call)

    def _retire(self, call, started=True):
        """At the end of a call's `done` (on the I/O thread, where every
        `done` runs, one after another): the call is let go once the next
        one ends, since freeing a callback while it runs would pull the
        code from under it."""
        with self._cv:
            self._calls.discard(call)
            if started:
                self._just_done = call

    # -- the end ----------------------------------------------------------------------

    def close(self):
        """Frees the pools, stops every worker still running (in reverse
        start order) and frees the host (ward_host_free)."""
        if self._h:
            for p in self._pools:
                p.close()
            h, self._h = self._h, None
            self._lib.ward_host_free(h)
            with self._cv:
                workers = list(self._workers.values())
                self._workers.clear()
            for w in workers:      # their handles went with the host
                w._w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Context:
    """One call (or notification) a worker made to a host handler: what
    the handler is given. `method`, `worker` (the Worker that called),
    `encoding`, `is_notify`. End it with reply() or fail() (or return /
    raise from the handler); defer() it to answer from another thread."""

    def __init__(self, host, ctxp):
        self._host = host
        self._lib = lib = host._lib
        self._c = ctxp
        self.method = _str(lib.ward_ctx_method(ctxp))
        self.is_notify = bool(lib.ward_ctx_is_notify(ctxp))
        self.encoding = lib.ward_ctx_encoding(ctxp)
        with host._cv:
            self.worker = host._workers.get(lib.ward_ctx_worker(ctxp))
        self.ended = False
        self.deferred = False

    def _ctx(self):
        if self.ended:
            raise errors.InvalidArgument("the call has ended")
        return self._c

    def defer(self):
        """Takes the call off the I/O thread: the handler returns, and
        reply() or fail() end it later, from any thread. Returns self."""
        c = self._lib.ward_ctx_defer(self._ctx())
        if not c:
            raise _error(self._lib, errors.EINVAL)
        self._c, self.deferred = c, True
        return self

    def reply(self, value=None, *, encoding=None):
        """Ends the call with `value`, in the request's encoding (or
        `encoding`; bytes go as they are for raw)."""
        enc, data = _params(value, self.encoding if encoding is None else encoding)
        c = self._ctx()
        if encoding is not None:
            self._lib.ward_ctx_set_encoding(c, enc)
        self.ended = True
        _check(self._lib, self._lib.ward_ctx_reply(c, data, len(data)))

    def fail(self, code, message="", data=None):
        """Ends the call with an error: a non-zero code, a message, and
        optional data (encoded as the request)."""
        blob = b"" if data is None else _params(data, self.encoding)[1]
        c = self._ctx()
        self.ended = True
        _check(self._lib, self._lib.ward_ctx_fail_data(c, code, _text(str(message)), blob,
                                                       len(blob)))

    def _fail_with(self, exc):
        if isinstance(exc, Error):
            code, message, data = exc.code, exc.message, exc.data
        else:
            name = type(exc).__qualname__
            message = "%s: %s" % (name, exc) if str(exc) else name
            code, data = errors.EINVAL, {"type": name, "message": str(exc)}
        try:
            self.fail(code or errors.EINVAL, message, data)
        except Error:
            pass

    def row(self, stream, value):
        """Sends a row on the named stream (before the call ends)."""
        enc, data = _params(value, self.encoding)
        _check(self._lib, self._lib.ward_ctx_row(self._ctx(), _text(stream), data, len(data)))

    def progress(self, value):
        """Sends a progress report."""
        enc, data = _params(value, self.encoding)
        _check(self._lib, self._lib.ward_ctx_progress(self._ctx(), data, len(data)))

    def diag(self, message, *, code="", level=1):
        """Sends a diagnostic (level 0 debug .. 3 error)."""
        _check(self._lib, self._lib.ward_ctx_diag(self._ctx(), level, _text(code),
                                                  _text(str(message))))


class Call:
    """An asynchronous call (ward_call_start): wait() for its result,
    cancel() it, or await it (asyncio). Its callbacks, and `done(call)`
    when given, run on the host's I/O thread."""

    def __init__(self, worker, enc, failed, keep, on_done):
        self._worker = worker
        self._lib = worker._lib
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._h = None
        self._failed = failed
        self._keep = keep
        self._on_done = on_done
        self._waiters = []          # (loop, future) of asyncio awaiters
        self.status = None          # the WARD_* outcome once done
        self._value = None          # the result, or the exception to raise

    def _done(self, callp, status, msg, ud):
        try:
            lib = self._lib
            # The error sentence of this thread is not the call's: its code's.
            text = _str(lib.ward_strerror(status)) if status not in (0, errors.EREMOTE) else None
            try:
                out = _outcome(lib, status, msg, text)
            except BaseException as e:
                out = e
            lib.ward_msg_free(msg)
            if self._failed:
                out = self._failed[0]
            with self._lock:
                self.status, self._value = status, out
                self._h = None
                waiters, self._waiters = self._waiters, []
            lib.ward_call_free(callp)
            self._settled.set()
            for loop, fut in waiters:
                try:
                    loop.call_soon_threadsafe(_settle, fut)
                except RuntimeError:
                    pass     # the loop is closed: nobody waits any more
            if self._on_done:
                self._on_done(self)
        except BaseException:
            _report("the end of an asynchronous call")
        finally:
            self._worker._host._retire(self)

    @property
    def done(self):
        return self._settled.is_set()

    def cancel(self):
        """Cancels the call: it ends with ward.Cancelled (unless it had
        ended), and the worker is told. Any thread."""
        with self._lock:
            if self._h is not None:
                self._lib.ward_call_cancel(self._h)

    def wait(self, timeout=None):
        """Waits for the end (None: no limit) and returns the result or
        raises its exception (ward.Timeout if it has not ended in time)."""
        if not self._settled.wait(timeout):
            raise errors.Timeout("the call has not ended within %g s" % timeout)
        return self.result()

    def result(self):
        if not self._settled.is_set():
            raise errors.InvalidArgument("the call has not ended")
        if isinstance(self._value, BaseException):
            raise self._value
        return self._value

    def __await__(self):
        return self._wait_async().__await__()

    async def _wait_async(self):
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            if self.status is None:
                self._waiters.append((loop, fut))
            else:
                fut.set_result(None)
        try:
            await fut
        except asyncio.CancelledError:
            self.cancel()
            raise
        return self.result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """Leaving the block cancels the call if it still runs, and waits for its end."""
        if not self.done:
            self.cancel()
            self._settled.wait()


def _settle(fut):
    if not fut.done():
        fut.set_result(None)


class Worker:
    """A worker of a Host (the handle outlives restarts of its process).
    As a context manager, leaving the block stops it and frees the
    handle."""

    def __init__(self, host, handle):
        self._host = host
        self._lib = host._lib
        self._w = handle
        self.id = self._lib.ward_worker_id(handle)
        self.name = _str(self._lib.ward_worker_name(handle))

    def __repr__(self):
        return "<ward.host.Worker %s#%d>" % (self.name, self.id)

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

    @property
    def data_dir(self):
        """Its private data directory."""
        return _str(self._lib.ward_worker_data_dir(self._handle()))

    def serves(self, method):
        """Whether its handshake announced `method`."""
        return bool(self._lib.ward_worker_serves(self._handle(), _text(method)))

    def meta(self, key):
        """A metadata value of its handshake ("version"), or None."""
        value = self._lib.ward_worker_meta(self._handle(), _text(key))
        return None if value is None else _str(value)

    def info(self):
        """Its figures now (ward_worker_info), as a dict: pid, state (a
        name: "ready", "backing-off", ...), generation, restarts,
        last_exit_code, last_signal, last_reason, last_stop (names),
        start_time (s since the epoch), rss_bytes and cpu_ms (None where
        the system does not say), calls_served, calls_in_flight, paused,
        oom_kills, spares_ready, spares_running, spares_rss_bytes (None
        where the system does not say)."""
        lib = self._lib
        i = _Info()
        lib.ward_info_init(ctypes.byref(i), ctypes.sizeof(i))
        _check(lib, lib.ward_worker_info(ctypes.byref(i), self._handle()))
        unknown = 2**64 - 1
        return {
            "pid": i.pid, "state": _str(lib.ward_state_name(i.state)),
            "generation": i.generation, "restarts": i.restarts,
            "last_exit_code": i.last_exit_code, "last_signal": i.last_signal,
            "last_reason": _str(lib.ward_reason_name(i.last_reason)) if i.last_reason else None,
            "last_stop": _str(lib.ward_stop_outcome_name(i.last_stop)) if i.last_stop else None,
            "start_time": i.start_time_ms / 1000.0 if i.start_time_ms else None,
            "rss_bytes": None if i.rss_bytes == unknown else i.rss_bytes,
            "cpu_ms": None if i.cpu_ms == unknown else i.cpu_ms,
            "calls_served": i.calls_served, "calls_in_flight": i.calls_in_flight,
            "paused": bool(i.paused), "oom_kills": i.oom_kills,
            "spares_ready": i.spares_ready, "spares_running": i.spares_running,
            "spares_rss_bytes": None if i.spares_rss_bytes == unknown else i.spares_rss_bytes,
        }

    # -- calls ----------------------------------------------------------------------

    def request(self, method, params=None, *, timeout=30.0, encoding=JSON, on_row=None,
                on_progress=None, on_diag=None, window=0, generation=0):
        """Calls `method` and returns its result, decoded by its encoding.

        While the call runs, on this thread: on_row(stream, seq, value) for
        each row, on_progress(value) for each progress report (both decoded
        as the request's encoding: bytes for raw, or when they do not
        decode), on_diag(level, code, message). Rows are tentative until the
        call returns. `window`: the flow-control window in bytes (0: 1 MiB;
        -1: none). `timeout` in seconds (None: the spec's). `generation`:
        pin the call to that generation (Stale otherwise). An exception in a
        callback is raised once the call has ended (the call itself goes on).

        Raises RemoteError (NoMethod for -11) with the worker's code,
        message and data, and the exception of any other WARD_E* code
        (Timeout, Crashed, Closed, GaveUp, TooBig, ...)."""
        lib = self._lib
        enc, data = _params(params, encoding)
        opts = _call_opts(lib, timeout, enc, window, generation)
        failed = []
        keep = _callbacks(opts, enc, failed, on_row, on_progress, on_diag)
        msg = P()
        rc = lib.ward_request_ex(ctypes.byref(msg), self._handle(), _text(method), data,
                                 len(data), ctypes.byref(opts))
        del keep
        try:
            if failed:
                raise failed[0]
            out = _outcome(lib, rc, msg)
        finally:
            lib.ward_msg_free(msg)
        if isinstance(out, BaseException):
            raise out
        return out

    def call(self, method, params=None, *, timeout=30.0, encoding=JSON, on_row=None,
             on_progress=None, on_diag=None, window=0, generation=0, done=None):
        """Starts `method` and returns a Call at once (ward_call_start):
        call.wait() gives the result, call.cancel() cancels it, `await call`
        waits in asyncio. The callbacks (as request()'s) and done(call) run
        on the host's I/O thread. Raises at once what stops the call from
        starting (Closed, GaveUp, TooBig, InvalidArgument...)."""
        lib = self._lib
        enc, data = _params(params, encoding)
        opts = _call_opts(lib, timeout, enc, window, generation)
        failed = []
        keep = _callbacks(opts, enc, failed, on_row, on_progress, on_diag)
        call = Call(self, enc, failed, keep, done)
        fn = _DONE_FN(call._done)
        keep.append(fn)
        self._host._running(call)
        h = P()
        rc = lib.ward_call_start(ctypes.byref(h), self._handle(), _text(method), data,
                                 len(data), ctypes.byref(opts), fn, None)
        if rc:
            self._host._retire(call, started=False)
            raise _error(lib, rc)
        with call._lock:
            if call.status is None:      # `done` may have run already, and freed it
                call._h = h
        return call

    async def request_async(self, method, params=None, **options):
        """request() for asyncio: awaits the result without blocking the
        loop (the callbacks run on the host's I/O thread). Cancelling the
        awaiting task cancels the call."""
        return await self.call(method, params, **options)

    def notify(self, method, params=None):
        """Sends a notification (JSON): no answer."""
        data = _payload.encode(JSON, params)
        _check(self._lib, self._lib.ward_notify(self._handle(), _text(method), data, len(data)))

    def ping(self, timeout=30.0):
        """A round trip through the worker's serving loop."""
        _check(self._lib, self._lib.ward_ping(self._handle(), int(timeout * 1000)))

    # -- life cycle ---------------------------------------------------------------------

    def wait_ready(self, timeout=30.0):
        """Waits until the worker is ready (after a restart, say)."""
        _check(self._lib, self._lib.ward_worker_wait_ready(
            self._handle(), -1 if timeout is None else int(timeout * 1000)))

    def stop(self, grace=None):
        """Stops the worker for good (goodbye, then signals after `grace`
        seconds; None: the spec's) and waits until it has stopped."""
        ms = -1 if grace is None else int(grace * 1000)
        _check(self._lib, self._lib.ward_worker_stop(self._handle(), ms))

    def restart(self):
        """Starts it again (a stopped, failed or exited worker too) and
        waits until it is ready."""
        _check(self._lib, self._lib.ward_worker_restart(self._handle()))

    def cycle(self):
        """Replaces its process by a new one (calls in flight finish first)."""
        _check(self._lib, self._lib.ward_worker_cycle(self._handle()))

    def replace(self, argv, *, ready=None, drain=None, doctor=False, **options):
        """Replaces its process with one of a new spec (ward_worker_replace):
        `argv` and the options are spawn()'s; the new process is ready
        (and past its doctor check with doctor=True) within `ready`
        seconds before new calls go to it, and the old one's calls in
        flight may finish for `drain` seconds. The handle stays. If the new
        process does not come up, the old one keeps serving and the error
        says why. Blocks."""
        _replace(self._lib, self._lib.ward_worker_replace, self._handle(), self.name, argv,
                 ready, drain, doctor, options)

    def logs(self, *, last=0, stream=None, since=None, after_seq=0, limit=0):
        """Its captured output lines (ward_worker_logs), oldest first, as
        LogLines: the `last` N, of `stream` ("stdout", "stderr", or None
        for both), read at or after `since` (s since the epoch), after
        sequence number `after_seq` (to follow), at most `limit`."""
        lib = self._lib
        q = _LogQuery()
        lib.ward_log_query_init(ctypes.byref(q), ctypes.sizeof(q))
        q.streams = {None: 3, "stdout": 1, "stderr": 2}[stream]
        q.last, q.after_seq, q.limit = last, after_seq, limit
        if since is not None:
            q.since_ms = int(since * 1000)
        arr, n = ctypes.POINTER(_LogLine)(), SZ()
        _check(lib, lib.ward_worker_logs(ctypes.byref(arr), ctypes.byref(n), self._handle(),
                                         ctypes.byref(q)))
        try:
            return [LogLine(arr[i]) for i in range(n.value)]
        finally:
            lib.ward_log_lines_free(arr, n)

    def close(self):
        """Stops the worker if needed and releases the handle
        (ward_worker_free): its log ring and data directory go."""
        if self._w:
            with self._host._cv:
                self._host._workers.pop(self._w.value, None)
            w, self._w = self._w, None
            self._lib.ward_worker_free(w)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pool:
    """A pool of workers (ward_pool_new): request() goes to a free one."""

    def __init__(self, host, handle, name):
        self._host = host
        self._lib = host._lib
        self._p = handle
        self.name = name

    def _handle(self):
        if not self._p:
            raise Closed("the pool is closed")
        return self._p

    def request(self, method, params=None, *, timeout=30.0, encoding=JSON, on_row=None,
                on_progress=None, on_diag=None, window=0):
        """Worker.request() on a worker the pool chooses."""
        lib = self._lib
        enc, data = _params(params, encoding)
        opts = _call_opts(lib, timeout, enc, window, 0)
        failed = []
        keep = _callbacks(opts, enc, failed, on_row, on_progress, on_diag)
        msg = P()
        rc = lib.ward_pool_request_ex(ctypes.byref(msg), self._handle(), _text(method), data,
                                      len(data), ctypes.byref(opts))
        del keep
        try:
            if failed:
                raise failed[0]
            out = _outcome(lib, rc, msg)
        finally:
            lib.ward_msg_free(msg)
        if isinstance(out, BaseException):
            raise out
        return out

    def replace(self, argv, *, ready=None, drain=None, doctor=False, **options):
        """Moves the pool to a new spec, member by member (ward_pool_replace):
        each new worker is ready (and past its doctor check with
        doctor=True) within `ready` seconds before the old one stops taking
        calls, whose calls in flight may finish for `drain` seconds. `argv`
        and the options are spawn()'s. If a new worker does not come up,
        the old ones keep serving and the error says why. Blocks."""
        _replace(self._lib, self._lib.ward_pool_replace, self._handle(), self.name, argv, ready,
                 drain, doctor, options)

    def stats(self):
        """ward_pool_info as a dict: workers, busy, calls, failures, grown,
        shrunk, replaced."""
        s = _PoolStats()
        self._lib.ward_pool_stats_init(ctypes.byref(s), ctypes.sizeof(s))
        _check(self._lib, self._lib.ward_pool_info(ctypes.byref(s), self._handle()))
        return {k: getattr(s, k) for k, _ in _PoolStats._fields_ if k != "struct_size"}

    def close(self):
        """Stops and frees the pool's workers and the pool."""
        if self._p:
            p, self._p = self._p, None
            self._lib.ward_pool_free(p)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
