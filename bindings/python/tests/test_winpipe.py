"""The worker's Windows channel (ward/winpipe.py, protocol.md 2.2a), run
here against a stand-in for CPython's _winapi: each pipe handle is one end
of a socketpair, and overlapped reads, writes, waits, cancels and peeks
behave as Windows documents them (a read's bytes arrive when its end is
waited for; a cancelled read ends with ERROR_OPERATION_ABORTED; the end
of the stream is ERROR_BROKEN_PIPE). There is no Windows CPython where
ward is tested, so this is what checks that code: the worker's whole
conversation through it, both ways of finding the pipe, and its ends."""
import importlib
import os
import select
import socket
import threading
import time

import pytest

import ward
from ward import winpipe
from ward.protocol import Kind, decode_frame, decode_lines, encode_frame

DEADLINE = 20.0
worker_mod = importlib.import_module("ward.worker")   # ward.worker is also a function


def _oserror(code):
    e = OSError("Windows error %d" % code)
    e.winerror = code
    return e


class _Overlapped:
    def __init__(self, api, sock, n=0, data=None):
        self.api, self.sock, self.n = api, sock, n
        self.data = data
        self.buf = b""
        self.cancelled = False
        self.done = data is not None
        self.event = self
        self.wake_r, self.wake_w = os.pipe()

    def _ready(self, timeout):
        if self.done or self.cancelled:
            return True
        r, _, _ = select.select([self.sock, self.wake_r], [], [], timeout)
        return bool(r)

    def cancel(self):
        self.cancelled = True
        os.write(self.wake_w, b"x")

    def GetOverlappedResult(self, wait):
        assert wait
        try:
            if self.data is not None:
                return len(self.data), 0
            self._ready(None)
            if self.cancelled and not self.done:
                return 0, winpipe.ERROR_OPERATION_ABORTED
            chunk = self.sock.recv(self.n)
            if not chunk:
                raise _oserror(winpipe.ERROR_BROKEN_PIPE)
            self.buf, self.done = chunk, True
            return len(chunk), 0
        finally:
            for fd in (self.wake_r, self.wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.wake_r = self.wake_w = -1

    def getbuffer(self):
        return self.buf


class FakeWinapi:
    """What winpipe uses of _winapi, over socketpairs."""

    def __init__(self):
        self.handles = {}
        self.names = {}
        self.next = 100

    def add(self, sock, name=None):
        self.next += 4
        self.handles[self.next] = sock
        if name:
            self.names[name] = self.next
        return self.next

    def ReadFile(self, h, n, overlapped):
        assert overlapped, "a handle opened for overlapped I/O is read with an OVERLAPPED"
        return _Overlapped(self, self.handles[h], n=n), winpipe.ERROR_IO_PENDING

    def WriteFile(self, h, data, overlapped):
        assert overlapped
        try:
            self.handles[h].sendall(bytes(data))
        except OSError:
            raise _oserror(winpipe.ERROR_NO_DATA) from None
        return _Overlapped(self, self.handles[h], data=bytes(data)), 0

    def WaitForMultipleObjects(self, events, wait_all, ms):
        (ov,) = events
        return winpipe.WAIT_OBJECT_0 if ov._ready(ms / 1000.0) else winpipe.WAIT_TIMEOUT

    def PeekNamedPipe(self, h, size):
        assert size == 0
        try:
            data = self.handles[h].recv(1 << 16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return 0, 0
        if not data:
            raise _oserror(winpipe.ERROR_BROKEN_PIPE)
        return len(data), 0

    def CreateFile(self, name, access, share, security, disposition, flags, template):
        assert access == winpipe.GENERIC_READ | winpipe.GENERIC_WRITE
        assert disposition == winpipe.OPEN_EXISTING and flags & winpipe.FILE_FLAG_OVERLAPPED
        if name not in self.names:
            raise _oserror(2)    # ERROR_FILE_NOT_FOUND
        return self.names.pop(name)

    def CloseHandle(self, h):
        self.handles.pop(h).close()


@pytest.fixture
def api(monkeypatch):
    fake = FakeWinapi()
    monkeypatch.setattr(winpipe, "_winapi", fake)
    monkeypatch.setattr(worker_mod, "_WINDOWS", True)
    for key in ("WARD_FD", "WARD_SOCKET", "WARD_TOKEN", "WARD_PPID", "WARD_MAX_FRAME"):
        monkeypatch.delenv(key, raising=False)
    return fake


class Host:
    """The host's end, speaking frames."""

    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()

    def read(self):
        deadline = time.monotonic() + DEADLINE
        while True:
            f, used = decode_frame(self.buf, 1 << 30)
            if f is not None:
                del self.buf[:used]
                return f
            left = deadline - time.monotonic()
            assert left > 0 and select.select([self.sock], [], [], left)[0], "no frame in time"
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                return None
            self.buf += chunk

    def put(self, kind, id=0, aux=0, name="", payload=b"", encoding=0):
        self.sock.sendall(encode_frame(kind, id, aux, name, payload, encoding))


def serve_in_thread(w):
    out = {}

    def run():
        try:
            w.serve()
            out["returned"] = True
        except BaseException as e:      # noqa: B902 - reported to the test
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def converse(host, w):
    """A handshake, calls both ways, a ping, a stream, the host's goodbye."""
    hello = host.read()
    assert hello.kind == Kind.HELLO
    lines = dict(decode_lines(hello.payload))
    host.put(Kind.WELCOME, 0, 1, payload=b"max_frame=1048576\npid=1\n")
    host.put(Kind.REQUEST, 1, 0, "echo", b'"over a pipe"', 1)
    f = host.read()
    assert (f.kind, f.id, f.payload) == (Kind.REPLY, 1, b'"over a pipe"')
    host.put(Kind.PING, 2)
    assert (host.read().kind) == Kind.PONG
    host.put(Kind.REQUEST, 3, 1 << 20, "rows", b"5", 1)
    kinds = [host.read() for _ in range(6)]
    assert [f.kind for f in kinds] == [Kind.ROW] * 5 + [Kind.REPLY]
    assert [f.aux for f in kinds[:5]] == [1, 2, 3, 4, 5]
    host.put(Kind.REQUEST, 4, 0, "ask", b"{}", 1)
    call = host.read()
    assert (call.kind, call.name) == (Kind.REQUEST, "host.add")
    host.put(Kind.REPLY, call.id, 0, "", b"42", 1)
    f = host.read()
    assert (f.kind, f.id, f.payload) == (Kind.REPLY, 4, b"42")
    host.put(Kind.GOODBYE, 0, 0, payload=b"stop")
    return lines


def make_worker():
    w = ward.Worker("pipe")

    @w.method(raw=True)
    def echo(ctx, data):
        return data

    @w.method
    def rows(ctx, n):
        ctx.rows("out", range(n))
        return n

    @w.method
    def ask(ctx, params):
        return ctx.call("host.add", {"a": 40, "b": 2})
    return w


def test_inherited_handle(api, monkeypatch):
    """WARD_FD names an inherited pipe handle: the whole conversation."""
    host_end, worker_end = socket.socketpair()
    monkeypatch.setenv("WARD_FD", str(api.add(worker_end)))
    w = make_worker()
    t, out = serve_in_thread(w)
    lines = converse(Host(host_end), w)
    t.join(DEADLINE)
    assert out == {"returned": True}
    assert "token" not in lines and lines["method"] in ("echo", "rows", "ask")
    assert "WARD_FD" not in os.environ


def test_named_pipe(api, monkeypatch):
    """WARD_SOCKET names the pipe to open; the HELLO carries WARD_TOKEN."""
    host_end, worker_end = socket.socketpair()
    name = r"\\.\pipe\ward-w-test"
    api.add(worker_end, name)
    monkeypatch.setenv("WARD_SOCKET", name)
    monkeypatch.setenv("WARD_TOKEN", "s3cret")
    w = make_worker()
    t, out = serve_in_thread(w)
    lines = converse(Host(host_end), w)
    t.join(DEADLINE)
    assert out == {"returned": True} and lines["token"] == "s3cret"


def test_missing_pipe(api, monkeypatch):
    monkeypatch.setenv("WARD_SOCKET", r"\\.\pipe\ward-w-gone")
    monkeypatch.setenv("WARD_TOKEN", "t")
    with pytest.raises(ward.Error) as e:
        ward.Worker().connect()
    assert e.value.code == ward.ESYS and "ward-w-gone" in e.value.message
    monkeypatch.delenv("WARD_SOCKET")
    monkeypatch.setenv("WARD_FD", "not-a-handle")
    with pytest.raises(ward.Error):
        ward.Worker().connect()


def test_close_wakes_the_reading_thread(api, monkeypatch):
    """close() from another thread while the serving thread waits in a
    read: the read is cancelled, serve() returns, the host reads the
    worker's GOODBYE and then the end."""
    host_end, worker_end = socket.socketpair()
    monkeypatch.setenv("WARD_FD", str(api.add(worker_end)))
    w = make_worker()
    t, out = serve_in_thread(w)
    host = Host(host_end)
    assert host.read().kind == Kind.HELLO
    host.put(Kind.WELCOME, 0, 1, payload=b"max_frame=1048576\n")
    host.put(Kind.PING, 9)
    assert host.read().kind == Kind.PONG       # served: now it waits in a read
    w.close("leaving")
    t.join(DEADLINE)
    assert out == {"returned": True}
    f = host.read()
    assert (f.kind, f.payload) == (Kind.GOODBYE, b"leaving")


def test_end_of_stream(api, monkeypatch):
    """The host's end closing is the end of the stream for the worker."""
    host_end, worker_end = socket.socketpair()
    monkeypatch.setenv("WARD_FD", str(api.add(worker_end)))
    w = make_worker()
    t, out = serve_in_thread(w)
    host = Host(host_end)
    assert host.read().kind == Kind.HELLO
    host.put(Kind.WELCOME, 0, 1, payload=b"max_frame=1048576\n")
    host_end.close()
    t.join(DEADLINE)
    assert isinstance(out.get("error"), ward.Closed)


def test_channel_reads(api):
    """recv() with a deadline, without waiting, and after shutdown()."""
    a, b = socket.socketpair()
    ch = winpipe.PipeChannel(api.add(b))
    with pytest.raises(BlockingIOError):
        ch.recv(10, winpipe.DONTWAIT)
    ch.settimeout(0.05)
    with pytest.raises(socket.timeout):
        ch.recv(10)
    a.sendall(b"abcdef")
    ch.settimeout(None)
    assert ch.recv(4, winpipe.DONTWAIT) == b"abcd"
    assert ch.recv(10) == b"ef"
    ch.shutdown()
    assert ch.recv(10) == b""
    with pytest.raises(BrokenPipeError):
        ch.sendall(b"x")
    ch.close()
    a.close()
