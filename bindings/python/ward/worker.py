"""The worker side of ward: a Python program that a ward host starts and
calls (docs/protocol.md).

Design notes
------------
Frames are read by whichever thread needs them, one at a time (the
*reading role*, `_reading`), and sorted: answers to our own calls resolve
them; CREDIT and CANCEL update the call being served (or mark a queued
request); PINGs, REQUESTs, NOTIFYs and the host's GOODBYE are queued for
the serving thread.

- The *serving* thread (the one in serve() or run()) runs handlers one at
  a time, in arrival order, and is the only one that answers PINGs: a
  handler stuck in a loop without a boundary stops the answers, which is
  how the host detects a hang (protocol.md 8.2). A handler's boundaries
  are ctx.row(), ctx.progress(), ctx.cancelled(), waiting for credit, and
  waiting for a call to the host: each answers the PINGs waiting.
- While it has nothing to do, the serving thread reads the socket itself:
  a request is read, handled and answered on one thread, with no handoff
  between threads (which costs a Python round trip more than the rest of
  it). At the boundaries of a handler it reads what has arrived without
  waiting, at most once a millisecond, as ward's C worker library does.
- A *reader* thread (started by connect()) reads when nobody else does
  and someone waits for a frame: while a handler waits for credit, while
  calls of ours wait for their answers (asyncio ones included), when
  nothing is served at all, and to see the end after close().

One lock (a Condition) guards the shared state; another makes each frame
go out whole, so any thread may call, notify or close. Like ward's C
worker library, the reader stops reading while more than 8 MiB of requests
and notifications wait for handlers (protocol.md 10), except while someone
waits for a frame from the host: credit for a handler, or an answer.
"""

import asyncio
import ctypes
import os
import signal
import socket
import sys
import threading
import time
import traceback as _traceback
from collections import deque

from . import payload as _payload
from . import winpipe
from .errors import (ECANCELED, ECLOSED, EINVAL, ENOMETHOD, ESYS, ETOOBIG, Cancelled, Closed,
                     Error, HandshakeError, NoHost, NoMethod, ProtocolError, RemoteError,
                     Timeout, TooBig)
from .protocol import (HEADER_SIZE, JSON, LOG_LEVELS, MAX_FRAME_DEFAULT, MAX_NAME, RAW, VERSION,
                       Frame, Kind, Violation, cut_utf8, decode_error, decode_header,
                       decode_lines, encode_frame, encode_lines, encode_log, fit_error,
                       format_log, may_send, to_signed)

__all__ = ["Worker", "Context", "Encoded", "Level"]

HANDSHAKE_TIMEOUT = 30.0        # seconds to wait for the WELCOME (as libward)
CALL_TIMEOUT = 30.0             # a call's default deadline (as libward)
_FLOOD_HIGH = 8 * 1024 * 1024   # stop reading above this much queued (protocol.md 10)
_FLOOD_LOW = 4 * 1024 * 1024    # and read again at this much
_ITEM_OVERHEAD = 256            # what each queued message counts besides its payload
_HAND_OVER = 0.002              # a handler's boundaries read for it this long (s)
_BATCH = 64 * 1024              # the most ctx.rows() sends in one write
_PR_SET_PDEATHSIG = 1
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)
_WINDOWS = sys.platform == "win32"   # the channel is a named pipe (protocol.md 2.2a)


class Level:
    """Diagnostic levels (protocol.md 7.4)."""
    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3
    _BY_NAME = {"debug": 0, "info": 1, "warning": 2, "error": 3}

    @classmethod
    def of(cls, level):
        if isinstance(level, str):
            try:
                return cls._BY_NAME[level.lower()]
            except KeyError:
                raise ValueError("no diagnostic level %r" % level) from None
        if level in (0, 1, 2, 3):
            return level
        raise ValueError("no diagnostic level %r" % (level,))


class Encoded:
    """Bytes already encoded, sent as they are under the tag `encoding`
    (0..2 or "raw", "json", "msgpack"): a reply, row, progress report or
    call payload that should not be encoded again."""

    __slots__ = ("data", "encoding")

    def __init__(self, data, encoding):
        self.data = bytes(data)
        self.encoding = _payload.encoding_of(encoding)


def _utf8_cut(text, limit):
    """`text` as UTF-8, cut to at most `limit` bytes between characters."""
    return cut_utf8(text.encode("utf-8"), limit)


def _check_name(name, what):
    data = name.encode("utf-8") if isinstance(name, str) else bytes(name)
    if not data or len(data) > MAX_NAME or b"\0" in data or b"\n" in data:
        raise ValueError("a %s is 1..%d bytes of UTF-8 without NUL or newline: %r"
                         % (what, MAX_NAME, name))
    return data


def _exception_text(exc):
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        "%s.%s" % (kind.__module__, kind.__qualname__))
    text = str(exc)
    return name, ("%s: %s" % (name, text) if text else name)


class Context:
    """One call or notification being handled: what a handler is given as
    its first argument.

    The handler ends the call by returning (the value is the reply) or by
    raising (a ward.Error fails it with its code, message and data; any
    other exception with code -1 and "Type: message"). ctx.reply() and
    ctx.fail() end it explicitly; the return value is then ignored. Use the
    context only on the handler's thread, and not after the handler has
    returned.

    For a notification (is_notify) there is no caller: replies, failures,
    rows, progress reports and diagnostics are accepted and discarded.
    """

    def __init__(self, worker, frame, raw):
        self.worker = worker
        self.id = frame.id                   # the host's call id (0 for a notification)
        self.method = frame.name
        self.encoding = frame.encoding       # the request's encoding tag
        self.is_notify = frame.kind == Kind.NOTIFY
        self.payload = frame.payload         # the request's bytes, as they came
        self._raw = raw
        self._window = frame.aux if frame.kind == Kind.REQUEST else 0
        self._sent = 0                       # bytes of ROW and PROGRESS frames sent
        self._acked = 0                      # bytes credited (under the worker's lock)
        self._cancelled = False              # (under the worker's lock)
        self._seq = {}
        self.ended = False                   # a reply or failure went out

    def __repr__(self):
        return "<ward.Context %s %r id=%d>" % (
            "notify" if self.is_notify else "request", self.method, self.id)

    # -- ending the call ------------------------------------------------

    def reply(self, value=None, *, encoding=None):
        """Ends the call with `value` as its result, in `encoding` (default:
        the request's; an Encoded value goes as it is). Raises TooBig (the
        call is not ended) for a result over the caller's limit, TypeError
        or ValueError for a value the encoding cannot hold."""
        self._check_open()
        enc, data = self._encode(value, encoding)
        if self.is_notify:
            self.ended = True
            return
        if len(data) > self.worker.host_max_frame:
            raise TooBig("a result of %d bytes, over the caller's limit of %d"
                         % (len(data), self.worker.host_max_frame))
        self.ended = True
        self.worker._send(Kind.REPLY, self.id, 0, b"", data, enc)

    def fail(self, code, message="", data=None, *, encoding=None):
        """Ends the call with an error: `code` (a non-zero int: your own
        codes are positive or below -99), a message for humans and
        optional `data` for programs, encoded like a reply. Data that
        cannot be encoded, or that would not fit the caller's limit, is
        dropped (and then the message shortened)."""
        self._check_open()
        if not isinstance(code, int) or code == 0 or not -2**31 <= code < 2**31:
            raise ValueError("an error code is a non-zero 32-bit int, not %r" % (code,))
        self.ended = True
        if self.is_notify:
            return
        enc, blob = self._error_data(data, encoding)
        body, _ = fit_error(str(message), blob, self.worker.host_max_frame)
        self.worker._send(Kind.ERROR, self.id, code, b"", body, enc)

    # -- streaming -------------------------------------------------------

    def row(self, stream, value, *, encoding=None):
        """Sends one row on the named stream (numbered from 1 per stream).
        Rows are tentative until the call succeeds. Blocks while the
        caller's flow-control window is full, answering pings; raises
        Cancelled once the caller has cancelled the call (nothing is sent:
        stop, and let it through), TooBig for a row over its limit."""
        self._stream(Kind.ROW, _check_name(stream, "stream name"), stream, value, encoding)

    def rows(self, stream, values, *, encoding=None):
        """row() for each of `values`, in order, in as few writes as the
        caller's window allows (up to 64 KiB at a time): the way to stream
        many small rows fast. The same rows, numbers, pacing and errors as
        row() for each; every row is sent before it returns (those before
        an error too)."""
        name = _check_name(stream, "stream name")
        self._check_open()
        w = self.worker
        batch, size, seq = [], 0, self._seq.get(stream, 0)

        def flush():
            nonlocal batch, size
            if batch:
                data, n, last = b"".join(batch), size, seq
                batch, size = [], 0
                w._send_bytes(data)
                self._seq[stream] = last
                self._sent += n

        try:
            for value in values:
                enc, data = self._encode(value, encoding)
                if self.is_notify:
                    continue
                if len(data) > w.host_max_frame:
                    raise TooBig("a row of %d bytes, over the caller's limit of %d"
                                 % (len(data), w.host_max_frame))
                n = HEADER_SIZE + len(name) + len(data)
                # Each frame of the batch obeys the rule of 7.6 as if those
                # before it had been sent.
                if batch and (size + n > _BATCH or not may_send(
                        self._window, self._sent - self._acked + size, n)):
                    flush()
                if not batch:
                    self._wait_window(n)     # a boundary: pings, cancel, credit
                seq += 1
                batch.append(encode_frame(Kind.ROW, self.id, seq, name, data, enc))
                size += n
        finally:
            flush()

    def progress(self, value, *, encoding=None):
        """Sends a progress report (e.g. {"done": 40, "total": 100}):
        paced, cancelled and failing as row()."""
        self._stream(Kind.PROGRESS, b"", None, value, encoding)

    def diag(self, message, *, code="", level=Level.INFO):
        """Sends a diagnostic: a message for humans, a short `code`
        ("E042", "deprecated") and a level (Level.DEBUG .. Level.ERROR, or
        "debug", "info", "warning", "error"). Not paced; does not end the
        call."""
        self._check_open()
        level = Level.of(level)
        code = code.encode("utf-8") if code else b""
        if len(code) > MAX_NAME or b"\0" in code:
            raise ValueError("a diagnostic code is at most %d bytes, without NUL" % MAX_NAME)
        if self.is_notify:
            return
        text = _utf8_cut(str(message), self.worker.host_max_frame)
        self.worker._send(Kind.DIAG, self.id, level, code, text, RAW)

    def log(self, level, message, **fields):
        """Sends a log record for this call: Worker.log(), with the call's
        id (none for a notification). Allowed after the call has ended."""
        self.worker._log(level, message, fields, 0 if self.is_notify else self.id)

    def cancelled(self):
        """Whether the caller has cancelled the call (or the connection to
        it is lost): check it between steps of long work, and stop. It is a
        boundary: pings waiting are answered."""
        w = self.worker
        w._boundary()
        with w._cv:
            return self._cancelled or (w._end is not None and w._bye is None)

    # -- calling the host ----------------------------------------------------

    def call(self, method, params=None, **options):
        """Calls the host: Worker.call()."""
        return self.worker.call(method, params, **options)

    def notify(self, method, params=None, **options):
        """Notifies the host: Worker.notify()."""
        return self.worker.notify(method, params, **options)

    # -- inside ------------------------------------------------------------

    def _check_open(self):
        if self.ended:
            raise Error(EINVAL, "the call has ended")

    def _encode(self, value, encoding):
        if isinstance(value, Encoded):
            return value.encoding, value.data
        if encoding is None:
            enc = self.encoding
            if self._raw and isinstance(value, (bytes, bytearray, memoryview)):
                return enc, bytes(value)   # a raw handler's bytes go as they are
        else:
            enc = _payload.encoding_of(encoding)
        return enc, _payload.encode(enc, value)

    def _error_data(self, data, encoding):
        """(encoding, bytes) of error data; empty when it cannot be made."""
        if data is None:
            return (self.encoding if encoding is None else _payload.encoding_of(encoding)), b""
        if isinstance(data, Encoded):
            return data.encoding, data.data
        enc = self.encoding if encoding is None else _payload.encoding_of(encoding)
        if enc == RAW and not isinstance(data, (bytes, bytearray, memoryview)):
            enc = JSON    # structured data for a raw request: JSON
        try:
            return enc, _payload.encode(enc, data)
        except (TypeError, ValueError, Error):
            return enc, b""

    def _stream(self, kind, name, stream, value, encoding):
        self._check_open()
        enc, data = self._encode(value, encoding)
        if self.is_notify:
            return
        if len(data) > self.worker.host_max_frame:
            raise TooBig("a %s of %d bytes, over the caller's limit of %d" % (
                "row" if kind == Kind.ROW else "progress report", len(data),
                self.worker.host_max_frame))
        n = HEADER_SIZE + len(name) + len(data)
        self._wait_window(n)
        seq = 0
        if kind == Kind.ROW:
            seq = self._seq.get(stream, 0) + 1
        self.worker._send(kind, self.id, seq, name, data, enc)
        if kind == Kind.ROW:
            self._seq[stream] = seq
        self._sent += n

    def _wait_window(self, n):
        """Returns once the sending rule of 7.6 lets a frame of `n` bytes
        go, answering pings meanwhile; raises Cancelled or Closed."""
        w = self.worker
        w._boundary()
        while True:
            w._answer_pings()
            with w._cv:
                if self._cancelled:
                    raise Cancelled("the caller cancelled the call")
                if w._end is not None:
                    raise Closed("the connection to the host is closed")
                if may_send(self._window, self._sent - self._acked, n):
                    return
                if w._pings and w._is_serving_thread():
                    continue
                w._waiting_credit = True
                w._wake_reader()       # also past a flood
                try:
                    w._cv.wait()
                finally:
                    w._waiting_credit = False


class _Queued:
    """A REQUEST, NOTIFY or GOODBYE waiting for the serving thread."""
    __slots__ = ("frame", "cancelled", "cost")

    def __init__(self, frame, cost):
        self.frame = frame
        self.cancelled = False
        self.cost = cost


class _Outgoing:
    """One call (or ping) of ours, waiting for its answer."""
    __slots__ = ("id", "answer", "error", "wake")

    def __init__(self, id, wake=None):
        self.id = id
        self.answer = None      # the REPLY, ERROR or PONG frame
        self.error = None       # or why there will be none (Closed)
        self.wake = wake        # called (any thread) once it is settled

    @property
    def done(self):
        return self.answer is not None or self.error is not None

    def result(self):
        if self.error is not None:
            raise self.error
        f = self.answer
        if f.kind == Kind.REPLY:
            return _payload.decode(f.encoding, f.payload)
        if f.kind == Kind.PONG:
            return None
        message, data = decode_error(f.payload)
        value = data
        if data and f.encoding != RAW:
            try:
                value = _payload.decode(f.encoding, data)
            except Error:
                value = data
        elif not data:
            value = None
        code = to_signed(f.aux)
        kind = NoMethod if code == ENOMETHOD else RemoteError
        raise kind(code, message.decode("utf-8", "replace"), value, f.encoding)


class Worker:
    """A ward worker: register handlers, then serve().

        worker = ward.Worker(meta={"version": "1.2"})

        @worker.method
        def add(ctx, params):
            return params["a"] + params["b"]

        worker.run()

    `name` is the worker's name in its HELLO when the host did not give one
    (WARD_NAME); `meta` entries are announced as metadata (the host reads
    them with ward_worker_meta; "lang" is "python" unless given);
    `traceback` adds the formatted traceback to the error data of a
    handler that raised (off: callers get the exception's type and
    message only).
    """

    def __init__(self, name=None, *, meta=None, traceback=False):
        self.name = name
        self.meta = {"lang": "python"}
        self.meta.update(meta or {})
        self.traceback = traceback
        self._handlers = {}
        self._sock = None
        self._connect_lock = threading.Lock()
        self._rbuf = bytearray()
        lock = threading.RLock()
        self._cv = threading.Condition(lock)
        self._rcv = threading.Condition(lock)   # the reader thread waits on this one
        self._wlock = threading.Lock()
        self._inbox = deque()
        self._inbox_cost = 0
        self._queued = {}            # queued requests by id, for CANCEL
        self._pings = deque()        # ids of PINGs to answer
        self._calls = {}             # our calls in flight by id
        self._next_id = 0
        self._current = None         # the Context being served
        self._waiting_credit = False
        self._reading = False        # a thread holds the reading role
        self._idle = False           # the serving thread waits for work
        self._flooded = False        # too much queued: the reader pauses
        self._polled = 0.0           # when a boundary last looked for frames
        self._started = 0.0          # when the handler running started
        self._handed = False         # its boundaries left reading to the reader thread
        self._want = 0               # bytes the frame being read still lacks
        self._bye = None             # the reason of the host's GOODBYE, once read
        self._end = None             # why the connection ended (an Error), once it has
        self._left = False           # we said goodbye (close())
        self._serving = None         # ident of the serving thread
        self._sock_closed = False    # (under _wlock)
        env = os.environ.get("WARD_MAX_FRAME", "")
        self.max_frame = int(env) if env.isdigit() and 1 <= int(env) <= 0xFFFFFFFF \
            else MAX_FRAME_DEFAULT
        # From the WELCOME (protocol.md 6.2).
        self.host_max_frame = MAX_FRAME_DEFAULT
        self.host_logs = False
        self.host_pid = None
        self.worker_id = None
        self.generation = None
        self.data_dir = os.environ.get("WARD_DATA_DIR")

    # -- handlers ------------------------------------------------------------

    def method(self, name=None, *, raw=False):
        """Decorator: registers a handler for requests and notifications of
        a method, named `name` or after the function.

            @worker.method
            def echo(ctx, params): ...

            @worker.method("image.resize", raw=True)
            def resize(ctx, data): ...

        A handler is called as fn(ctx, params): `params` is the request's
        payload decoded by its encoding (JSON: the value, None when empty;
        raw: bytes; MessagePack: the value), or its bytes as they came with
        `raw=True` (whose bytes results then go back as they are)."""
        if callable(name):
            self.handle(name.__name__, name)
            return name

        def register(fn):
            self.handle(name or fn.__name__, fn, raw=raw)
            return fn
        return register

    def handle(self, name, fn, *, raw=False):
        """Registers `fn` for `name` (see method()); before the handshake,
        which announces the methods. Registering a name again replaces its
        handler."""
        _check_name(name, "method name")
        if not callable(fn):
            raise TypeError("a handler is callable")
        if self._sock is not None:
            raise Error(EINVAL, "handlers are registered before the handshake")
        self._handlers[name] = (fn, raw)

    # -- the connection --------------------------------------------------------

    @property
    def connected(self):
        """Whether the handshake is done and the connection is still up."""
        return self._sock is not None and self._end is None and not self._left

    def connect(self):
        """Finds the channel in the environment (protocol.md 2), sets the
        death signal while the host is the parent (2.4), and does the
        handshake (6). Done by serve(), call() and notify() when needed.
        Removes WARD_FD, WARD_SOCKET and WARD_TOKEN from os.environ, so that
        programs this one starts do not take themselves for workers.

        Raises NoHost (nothing in the environment), Error ESYS (the channel
        named cannot be used), HandshakeError (refused, or no WELCOME within
        30 s), ProtocolError."""
        with self._connect_lock:
            if self._sock is not None:
                return self
            sock, token = _open_channel()
            _follow_host()
            try:
                self._handshake(sock, token)
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            for key in ("WARD_FD", "WARD_SOCKET", "WARD_TOKEN"):
                os.environ.pop(key, None)
            threading.Thread(target=self._read_loop, name="ward-reader", daemon=True).start()
            return self

    def _handshake(self, sock, token):
        lines = [("pid", os.getpid()), ("max_frame", self.max_frame)]
        if token is not None:
            lines.append(("token", token))
        lines += [("method", m) for m in self._handlers]
        lines += [("meta." + k, v) for k, v in self.meta.items()]
        name = os.environ.get("WARD_NAME") or self.name or "worker"
        sock.sendall(encode_frame(Kind.HELLO, 0, VERSION, _utf8_cut(name, MAX_NAME),
                                  encode_lines(lines)), _SEND_FLAGS)
        sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            f = self._read_frame(sock)
        except socket.timeout:
            raise HandshakeError("no WELCOME from the host within %g s" % HANDSHAKE_TIMEOUT)
        except EOFError:
            raise HandshakeError("the host closed the connection during the handshake")
        except Violation as v:
            raise ProtocolError("the host broke the protocol: %s" % v)
        sock.settimeout(None)
        text = f.payload.decode("utf-8", "replace")
        if f.kind == Kind.GOODBYE:
            raise HandshakeError("the host refused the handshake (reason %d): %s" % (f.aux, text))
        if f.kind != Kind.WELCOME:
            raise ProtocolError("the host's first frame is a %s, not a WELCOME" % Kind(f.kind).name)
        if f.aux != VERSION:
            sock.sendall(encode_frame(Kind.GOODBYE, 0, 1, b"", b"version"), _SEND_FLAGS)
            raise HandshakeError("the host chose protocol version %d; this speaks %d"
                                 % (f.aux, VERSION))
        try:
            welcome = dict(decode_lines(f.payload))
            self.host_max_frame = int(welcome.get("max_frame", MAX_FRAME_DEFAULT))
            self.host_logs = welcome.get("log") == "1"     # LOG frames welcome (8.4)
            for key in ("pid", "worker_id", "generation"):
                if key in welcome:
                    setattr(self, "host_pid" if key == "pid" else key, int(welcome[key]))
        except (Violation, ValueError) as e:
            raise ProtocolError("a malformed WELCOME: %s" % e) from None

    def _read_frame(self, sock):
        """The next frame (a buffered read); EOFError at the end."""
        while True:
            f = self._parse()
            if f is not None:
                return f
            self._fill(sock, self._rbuf, self._want)

    def _parse(self):
        """The first frame of the buffer, or None (and in _want the bytes
        it lacks) when it is not all there yet."""
        buf = self._rbuf
        if len(buf) < HEADER_SIZE:
            self._want = 0
            return None
        kind, enc, nlen, length, id, aux = decode_header(bytes(buf[:HEADER_SIZE]), self.max_frame)
        end = HEADER_SIZE + nlen + length
        if len(buf) < end:
            self._want = end - len(buf)
            return None
        try:
            name = bytes(buf[HEADER_SIZE:HEADER_SIZE + nlen]).decode("utf-8")
        except UnicodeDecodeError:
            raise Violation("a name that is not UTF-8") from None
        body = bytes(buf[HEADER_SIZE + nlen:end])
        del buf[:end]
        return Frame(kind, id, aux, name, body, enc)

    @staticmethod
    def _fill(sock, buf, want=0):
        chunk = sock.recv(max(want, 1 << 16))
        if not chunk:
            raise EOFError
        buf += chunk

    # -- reading -------------------------------------------------------------------

    def _read_loop(self):
        """The reader thread: reads while nobody else does and someone
        waits for a frame (see the design notes)."""
        while True:
            with self._cv:
                while not self._reader_may_read():
                    if self._end is not None:
                        return
                    self._rcv.wait()
                self._reading = True
            self._read_one()
            self._drop_role()

    def _reader_may_read(self):
        """Whether the reader thread takes the role now (under the lock)."""
        if self._reading or self._end is not None:
            return False
        if self._left:
            return True               # the end of the stream, after close()
        waiting = bool(self._calls) or self._waiting_credit
        # Past 8 MiB queued for handlers, nothing more is read until half
        # of it is handled, except for a frame someone waits for
        # (protocol.md 10).
        if self._inbox_cost > _FLOOD_HIGH:
            self._flooded = True
        elif self._inbox_cost <= _FLOOD_LOW:
            self._flooded = False
        if self._flooded and not waiting:
            return False
        if self._serving is None:
            return True               # nobody serves: read everything
        return not self._idle and (waiting or self._handed)

    def _take_role(self):
        """Takes the reading role if free (under the lock): whether it did."""
        if self._reading or self._end is not None:
            return False
        self._reading = True
        return True

    def _drop_role(self):
        with self._cv:
            self._reading = False
            self._cv.notify_all()
            self._wake_reader()

    def _wake_reader(self):
        """Wakes the reader thread if it should read now (under the lock).
        Called where its answer may have changed; never otherwise, since a
        thread woken for nothing costs as much as the work it waits for."""
        if self._reader_may_read():
            self._rcv.notify()

    def _read_one(self):
        """With the role: reads and sorts one frame, waiting for it."""
        self._reading_guard(lambda: self._sort(self._read_frame(self._sock)))

    def _read_available(self):
        """With the role: sorts the frames that have arrived, waiting for
        none."""
        def drain():
            while True:
                f = self._parse()
                if f is not None:
                    self._sort(f)
                    continue
                try:
                    chunk = self._sock.recv(max(self._want, 1 << 16), winpipe.DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    return
                if not chunk:
                    raise EOFError
                self._rbuf += chunk
        self._reading_guard(drain)

    def _reading_guard(self, read):
        """Runs `read`; the end of the stream or a broken frame ends the
        connection, with the error that says why."""
        try:
            read()
            return
        except EOFError:
            end = Closed("the host closed the connection")
        except Violation as v:
            kind = TooBig if v.too_big else ProtocolError
            end = kind("the host broke the protocol: %s" % v)
        except ProtocolError as e:
            end = e
        except OSError as e:
            end = Closed("the connection to the host failed: %s" % e)
        except Exception as e:    # a bug here must not leave the serving loop waiting
            end = ProtocolError("the reader failed: %s" % _exception_text(e)[1])
        self._finish(end)

    def _boundary(self):
        """A handler's boundary on the serving thread: sorts what has
        arrived and answers the pings. In its first milliseconds it looks
        for frames itself, at most once a millisecond, without waiting; a
        handler that goes on longer hands reading over to the reader
        thread, which then reads as they come (a stream's credit, a
        CANCEL, PINGs) until the handler ends. A short handler thus costs
        no thread switch, and a long one no system call per boundary."""
        if not self._handed and self._is_serving_thread():
            now = time.monotonic()
            if now - self._started >= _HAND_OVER:
                with self._cv:
                    self._handed = True
                    self._wake_reader()
            elif now - self._polled >= 0.001:
                self._polled = now
                with self._cv:
                    took = self._take_role()
                if took:
                    try:
                        self._read_available()
                    finally:
                        self._drop_role()
        self._answer_pings()

    def _sort(self, f):
        """Where a frame read goes (protocol.md 5, 7, 8)."""
        k = f.kind
        if k == Kind.ERROR:
            decode_error(f.payload)      # a malformed ERROR is a violation
        if k in (Kind.REPLY, Kind.ERROR, Kind.PONG):
            with self._cv:
                out = self._calls.pop(f.id, None)
                if out is not None:
                    out.answer = f
                    self._cv.notify_all()
            if out is not None and out.wake:
                out.wake()
        elif k in (Kind.REQUEST, Kind.NOTIFY):
            item = _Queued(f, len(f.payload) + _ITEM_OVERHEAD)
            with self._cv:
                self._inbox.append(item)
                self._inbox_cost += item.cost
                if k == Kind.REQUEST:
                    self._queued[f.id] = item
                self._cv.notify_all()
        elif k == Kind.PING:
            with self._cv:
                self._pings.append(f.id)
                self._cv.notify_all()
        elif k == Kind.CANCEL:
            with self._cv:
                cur = self._current
                if cur is not None and not cur.is_notify and cur.id == f.id:
                    cur._cancelled = True
                elif f.id in self._queued:
                    self._queued[f.id].cancelled = True
                self._cv.notify_all()
        elif k == Kind.CREDIT:
            with self._cv:
                cur = self._current
                if cur is not None and not cur.is_notify and cur.id == f.id:
                    cur._acked += f.aux
                    self._cv.notify_all()
        elif k == Kind.GOODBYE:
            if f.aux != 0:
                raise ProtocolError("the host cut the connection (goodbye reason %d): %s" % (
                    f.aux, f.payload.decode("utf-8", "replace")))
            with self._cv:
                self._bye = 0
                self._inbox.append(_Queued(f, 0))
                self._cv.notify_all()
            # Go on reading: answers to our calls may still come (8.3).
        elif k in (Kind.HELLO, Kind.WELCOME):
            raise Violation("a %s after the handshake" % Kind(k).name)
        elif k == Kind.LOG:
            raise Violation("a LOG from the host, which only workers send (8.4)")
        # PROGRESS, ROW and DIAG of our calls: not kept (as libward).

    def _finish(self, end):
        with self._cv:
            if self._end is None:
                self._end = end
            calls = list(self._calls.values())
            self._calls.clear()
            for out in calls:
                out.error = Closed("the connection to the host ended: %s" % end.message)
            self._cv.notify_all()
            self._rcv.notify_all()
        for out in calls:
            if out.wake:
                out.wake()
        with self._wlock:
            self._sock_closed = True
            self._sock.close()

    # -- sending -----------------------------------------------------------------

    def _send(self, kind, id, aux, name, data, enc):
        self._send_bytes(encode_frame(kind, id, aux, name, data, enc))

    def _send_bytes(self, frame):
        """Sends whole frames, from any thread."""
        with self._wlock:
            if self._sock_closed:
                raise Closed("the connection to the host is closed")
            try:
                self._sock.sendall(frame, _SEND_FLAGS)
            except OSError as e:
                raise Closed("the connection to the host failed: %s" % e) from None

    def _is_serving_thread(self):
        return self._serving == threading.get_ident()

    def _answer_pings(self):
        """Answers the PINGs waiting, on the serving thread only (8.2)."""
        if not self._pings or not self._is_serving_thread():
            return
        with self._cv:
            ids = list(self._pings)
            self._pings.clear()
        for id in ids:
            self._send(Kind.PONG, id, 0, b"", b"", RAW)

    # -- serving -------------------------------------------------------------------

    def serve(self):
        """Connects if needed, then serves requests, notifications and pings
        on this thread until the host says goodbye (returns None: exit with
        status 0 now, protocol.md 8.3) or this worker does (close()).
        Raises Closed when the connection is lost, ProtocolError when the
        host broke the protocol or cut us off, TooBig when it sent a frame
        over our limit (then exit with a non-zero status), and what
        connect() raises."""
        self.connect()
        with self._cv:
            if self._serving is not None:
                raise Error(EINVAL, "the worker is served by another thread already")
            self._serving = threading.get_ident()
        try:
            while True:
                item, ctx, entry = self._next()
                if item is None:
                    return
                try:
                    self._handle(item, ctx, entry)
                except Closed:
                    if self._bye is None and not self._left:
                        raise
                finally:
                    with self._cv:
                        self._current = None
        finally:
            with self._cv:
                self._serving = None
                self._idle = False
                self._wake_reader()

    def _next(self):
        """The next thing to do: (queued item, Context or None, handler) or
        (None, None, None) to return. Answers pings meanwhile."""
        while True:
            self._answer_pings()
            with self._cv:
                self._idle = True
                while not (self._pings or self._inbox or self._end is not None or self._left):
                    # Nothing to do: read the next frame on this thread,
                    # unless another one is reading already.
                    if self._take_role():
                        break
                    self._cv.wait()
                else:
                    if self._pings:
                        continue
                    if self._left:
                        return None, None, None
                    if self._end is not None and self._bye is None:
                        raise self._end
                    if not self._inbox:   # ended after the GOODBYE was handled
                        return None, None, None
                    self._idle = False
                    self._handed = False
                    self._started = time.monotonic()
                    self._wake_reader()   # for calls of ours waiting meanwhile
                    return self._pop()
            try:
                self._read_one()
            finally:
                self._drop_role()

    def _pop(self):
        """The next queued item, made ready to serve (under the lock)."""
        item = self._inbox.popleft()
        self._inbox_cost -= item.cost
        self._wake_reader()       # a reader paused by a flood may go on
        f = item.frame
        if f.kind == Kind.GOODBYE:
            return None, None, None
        if f.kind == Kind.REQUEST and self._queued.get(f.id) is item:
            del self._queued[f.id]
        entry = self._handlers.get(f.name)
        ctx = Context(self, f, entry[1] if entry else False)
        self._current = ctx
        return item, ctx, entry

    def _handle(self, item, ctx, entry):
        if ctx.is_notify:
            if entry is not None:
                self._run(ctx, entry[0])
        elif entry is None:
            ctx.fail(ENOMETHOD, "no method '%s'" % ctx.method)
        elif item.cancelled:
            ctx.fail(ECANCELED, "cancelled before it started")
        elif self._bye is not None:
            ctx.fail(ECLOSED, "the worker is stopping")
        else:
            self._run(ctx, entry[0])

    def _run(self, ctx, fn):
        """Runs a handler and ends its call from what it did."""
        try:
            params = ctx.payload if ctx._raw else _payload.decode(ctx.encoding, ctx.payload)
            result = fn(ctx, params)
        except Closed:
            if self._end is not None or self._left:
                raise
            self._failed(ctx, Closed("the connection to the host is closed"))
        except Cancelled:
            self._failed(ctx, Cancelled("cancelled"))
        except Exception as e:
            self._failed(ctx, e)
        else:
            if not ctx.ended:
                try:
                    ctx.reply(result)
                except Closed:
                    raise
                except Exception as e:
                    self._failed(ctx, e)

    def _failed(self, ctx, exc):
        if ctx.ended:
            return
        if isinstance(exc, Error):
            code, message, data = exc.code, exc.message, exc.data
        else:
            name, message = _exception_text(exc)
            code, data = EINVAL, {"type": name, "message": str(exc)}
            if self.traceback:
                data["traceback"] = "".join(_traceback.format_exception(
                    type(exc), exc, exc.__traceback__))
        if ctx.is_notify:
            print("ward: notification %r failed: %s" % (ctx.method, message),
                  file=sys.stderr, flush=True)
            return
        if not isinstance(code, int) or code == 0 or not -2**31 <= code < 2**31:
            code = EINVAL
        ctx.fail(code, message, data)

    def run(self):
        """serve() as the main of a worker program: returns when the host
        says goodbye (the program should then end, status 0); exits
        (SystemExit) with status 2 and a message on stderr when the program
        was not started by a ward host, and with status 1 when the
        connection is lost or refused or the host broke the protocol.
        Makes stdout line-buffered, so lines reach the host's log as they
        are printed."""
        try:
            sys.stdout.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
        try:
            self.serve()
        except NoHost as e:
            print("%s: %s" % (_program(), e.message), file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        except Error as e:
            print("%s: %s" % (_program(), e.message), file=sys.stderr, flush=True)
            raise SystemExit(1) from None

    def close(self, text=""):
        """Says goodbye to the host (GOODBYE reason 0, unless the host said
        goodbye first) and ends the connection: serve() returns, calls in
        flight fail with Closed. The host then reports the process's exit
        when it ends; exit with status 0 for "done on purpose"."""
        with self._cv:
            if self._sock is None or self._left:
                return
            self._left = True
            quiet = self._bye is not None or self._end is not None
            self._cv.notify_all()
            self._wake_reader()
        if not quiet:
            try:
                self._send(Kind.GOODBYE, 0, 0, b"", str(text).encode("utf-8"), RAW)
            except Closed:
                pass
        with self._wlock:
            if not self._sock_closed:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- calls to the host ---------------------------------------------------------

    def _start(self, kind, method, enc, data, wake=None):
        """Registers one call (or ping) of ours and sends it."""
        self.connect()
        with self._cv:
            if self._end is not None or self._left:
                raise Closed("the connection to the host is closed")
            while True:       # non-zero, not in use, wrapping (7.1)
                self._next_id = (self._next_id % 0xFFFFFFFF) + 1
                if self._next_id not in self._calls:
                    break
            out = _Outgoing(self._next_id, wake)
            self._calls[out.id] = out
            self._wake_reader()
        try:
            self._send(kind, out.id, 0, method, data, enc)
        except Closed:
            with self._cv:
                self._calls.pop(out.id, None)
            raise
        return out

    def _abandon(self, out):
        """Gives up on a call: forgets it and sends a CANCEL (7.2)."""
        with self._cv:
            waiting = self._calls.pop(out.id, None) is out
        if waiting:
            try:
                self._send(Kind.CANCEL, out.id, 0, b"", b"", RAW)
            except Closed:
                pass

    def _wait(self, out, timeout):
        """Waits for `out` up to `timeout` seconds (None: no limit); on the
        serving thread (a handler calling the host) pings are answered
        meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._answer_pings()
            with self._cv:
                while not out.done:
                    if self._pings and self._is_serving_thread():
                        break
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._cv.wait(left)
                else:
                    return True

    def _request_bytes(self, method, params, encoding):
        name = _check_name(method, "method name")
        if isinstance(params, Encoded):
            enc, data = params.encoding, params.data
        else:
            enc = _payload.encoding_of(encoding)
            data = _payload.encode(enc, params)
        self.connect()
        if len(data) > self.host_max_frame:
            raise TooBig("a payload of %d bytes, over the host's limit of %d"
                         % (len(data), self.host_max_frame))
        return name, enc, data

    def call(self, method, params=None, *, timeout=CALL_TIMEOUT, encoding=JSON):
        """Calls a method the host serves (ward_host_handle) and returns its
        result, decoded by its encoding. From any thread, handlers included
        (a handler waiting here still answers pings). `params` is encoded
        in `encoding` (JSON by default; an Encoded value goes as it is).
        The call has no flow-control window (protocol.md 7.6); progress,
        rows and diagnostics the host sends for it are dropped.

        Raises RemoteError (NoMethod for -11) when the host answers with an
        error, Timeout after `timeout` seconds (None: no limit; the host is
        sent a CANCEL), Closed when the connection ends first, TooBig for
        params over the host's limit, and what connect() raises."""
        name, enc, data = self._request_bytes(method, params, encoding)
        out = self._start(Kind.REQUEST, name, enc, data)
        if not self._wait(out, timeout):
            self._abandon(out)
            if not out.done:
                raise Timeout("no answer to %r within %g s" % (method, timeout))
        return out.result()

    async def call_async(self, method, params=None, *, timeout=CALL_TIMEOUT, encoding=JSON):
        """call() for asyncio: awaits the answer without blocking the event
        loop. Cancelling the awaiting task sends the host a CANCEL. The
        first call may block briefly for the handshake, if not done yet."""
        loop = asyncio.get_running_loop()
        settled = loop.create_future()

        def wake():
            def settle():
                if not settled.done():
                    settled.set_result(None)
            try:
                loop.call_soon_threadsafe(settle)
            except RuntimeError:
                pass    # the loop is closed: nobody waits any more

        name, enc, data = self._request_bytes(method, params, encoding)
        out = self._start(Kind.REQUEST, name, enc, data, wake)
        try:
            await asyncio.wait_for(settled, timeout)
        except asyncio.TimeoutError:
            self._abandon(out)
            if not out.done:
                raise Timeout("no answer to %r within %g s" % (method, timeout)) from None
        except asyncio.CancelledError:
            self._abandon(out)
            raise
        return out.result()

    def notify(self, method, params=None, *, encoding=JSON):
        """Sends a notification to the host: no answer, no outcome beyond
        the socket taking it (it blocks while the host does not read).
        Raises Closed, TooBig, and what connect() raises."""
        name, enc, data = self._request_bytes(method, params, encoding)
        with self._cv:
            if self._end is not None or self._left:
                raise Closed("the connection to the host is closed")
        self._send(Kind.NOTIFY, 0, 0, name, data, enc)

    def log(self, level, message, **fields):
        """Sends a log record to the host (protocol.md 8.4), which keeps it
        with its structure in the worker's log ring: `level` "trace",
        "debug", "info", "warn" (or "warning"), "error", or 1..5; the
        message; fields as keyword arguments (values made str). A host that
        does not take records (its WELCOME has no log=1) gets the record as
        a line "LEVEL message key=value ..." on stderr instead. Raises
        ValueError for a record outside the limits of 8.4, Closed, and what
        connect() raises."""
        self._log(level, message, fields, 0)

    def _log(self, level, message, fields, call_id):
        if isinstance(level, str):
            name = "warn" if level.lower() == "warning" else level.lower()
            if name not in LOG_LEVELS:
                raise ValueError("no log level %r" % level)
            level = LOG_LEVELS[name]
        elif level not in (1, 2, 3, 4, 5):
            raise ValueError("no log level %r" % (level,))
        pairs = [(k, str(v)) for k, v in fields.items()]
        data = encode_log(str(message), pairs)
        self.connect()
        if not self.host_logs:
            sys.stderr.write(format_log(level, str(message), pairs, call_id) + "\n")
            sys.stderr.flush()
            return
        if len(data) > self.host_max_frame:
            raise TooBig("a log record of %d bytes, over the host's limit of %d"
                         % (len(data), self.host_max_frame))
        self._send(Kind.LOG, call_id, level, b"", data, RAW)

    def ping(self, timeout=CALL_TIMEOUT):
        """A round trip to the host (PING, PONG). Raises Timeout, Closed."""
        out = self._start(Kind.PING, b"", RAW, b"")
        if not self._wait(out, timeout):
            self._abandon(out)
            if not out.done:
                raise Timeout("no PONG within %g s" % timeout)
        out.result()


def _program():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "ward"


def _open_channel():
    """The socket the environment names (protocol.md 2.1, 2.2; on Windows
    the named pipe, 2.2a) and the token to send (None in inherit mode)."""
    if _WINDOWS:
        return _open_pipe()
    fd = os.environ.get("WARD_FD")
    if fd is not None:
        try:
            fd = int(fd)
            os.set_inheritable(fd, False)   # FD_CLOEXEC (2.1)
            return socket.socket(fileno=fd), None
        except (ValueError, OSError) as e:
            raise Error(ESYS, "WARD_FD=%s is not an open socket: %s" % (fd, e)) from None
    path = os.environ.get("WARD_SOCKET")
    if path is not None:
        token = os.environ.get("WARD_TOKEN")
        if not token:
            raise NoHost("WARD_SOCKET is set but WARD_TOKEN is not")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise Error(ESYS, "cannot connect to WARD_SOCKET %s: %s" % (path, e)) from None
        return sock, token
    raise NoHost("this program is a ward worker and is started by a ward host, which "
                 "passes it a channel in its environment (WARD_FD, or WARD_SOCKET and "
                 "WARD_TOKEN); neither is set")


def _open_pipe():
    """_open_channel() on Windows: an inherited pipe handle (WARD_FD), or a
    pipe name (WARD_SOCKET) to open."""
    fd = os.environ.get("WARD_FD")
    if fd is not None:
        try:
            return winpipe.open_inherited(fd), None
        except (ValueError, OSError) as e:
            raise Error(ESYS, "WARD_FD=%s is not a pipe handle: %s" % (fd, e)) from None
    path = os.environ.get("WARD_SOCKET")
    if path is not None:
        token = os.environ.get("WARD_TOKEN")
        if not token:
            raise NoHost("WARD_SOCKET is set but WARD_TOKEN is not")
        try:
            return winpipe.open_named(path), token
        except OSError as e:
            raise Error(ESYS, "cannot open the pipe WARD_SOCKET %s: %s" % (path, e)) from None
    raise NoHost("this program is a ward worker and is started by a ward host, which "
                 "passes it a channel in its environment (WARD_FD, or WARD_SOCKET and "
                 "WARD_TOKEN); neither is set")


def _follow_host():
    """The death signal of protocol.md 2.4: set only while the host is our
    parent, and only when the host asks for it (WARD_PPID)."""
    ppid = os.environ.get("WARD_PPID")
    if not ppid or not sys.platform.startswith("linux"):
        return
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)   # first set, then compare
    if not ppid.isdigit() or os.getppid() != int(ppid):
        prctl(_PR_SET_PDEATHSIG, 0, 0, 0, 0)   # a wrapper forked us: take it back
