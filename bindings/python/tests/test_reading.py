"""Which thread of the worker reads the socket (ward/worker.py, design
notes): the serving thread reads its own requests while it waits for
work, so a call costs no handoff between threads; the reader thread
reads for a handler that runs on (credit, cancels) and for calls of ours.
In-process: the worker's end of a socketpair is handed to it in WARD_FD,
and the test plays the host on the other end."""
import importlib
import socket
import threading

import ward
from ward.protocol import Kind, decode_frame, encode_frame

worker_mod = importlib.import_module("ward.worker")   # ward.worker is also a function
DEADLINE = 20.0


class Host:
    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()
        sock.settimeout(DEADLINE)

    def read(self):
        while True:
            f, used = decode_frame(self.buf, 1 << 30)
            if f is not None:
                del self.buf[:used]
                return f
            chunk = self.sock.recv(1 << 16)
            assert chunk, "the worker ended the stream"
            self.buf += chunk

    def put(self, kind, id=0, aux=0, name="", payload=b"", encoding=0):
        self.sock.sendall(encode_frame(kind, id, aux, name, payload, encoding))


def start(monkeypatch, w):
    """The worker connected to a test host, serving on a thread; records
    the name of the thread that read each frame."""
    readers = []
    read_one = worker_mod.Worker._read_one

    def spy(self):
        readers.append(threading.current_thread().name)
        read_one(self)
    monkeypatch.setattr(worker_mod.Worker, "_read_one", spy)
    host_end, worker_end = socket.socketpair()
    monkeypatch.setenv("WARD_FD", str(worker_end.detach()))   # the worker's now
    host = Host(host_end)
    out = {}

    def serve():
        try:
            w.serve()
            out["returned"] = True
        except BaseException as e:      # noqa: B902 - for the test to see
            out["error"] = e
    t = threading.Thread(target=serve, name="serving", daemon=True)
    t.start()
    assert host.read().kind == Kind.HELLO
    host.put(Kind.WELCOME, 0, 1, payload=b"max_frame=1048576\n")
    return host, t, out, readers


def test_the_serving_thread_reads_its_requests(monkeypatch):
    w = ward.Worker("reading")

    @w.method(raw=True)
    def echo(ctx, data):
        return data

    host, t, out, readers = start(monkeypatch, w)
    for i in range(1, 51):
        host.put(Kind.REQUEST, i, 0, "echo", b"%d" % i)
        f = host.read()
        assert (f.kind, f.id, f.payload) == (Kind.REPLY, i, b"%d" % i)
    host.put(Kind.GOODBYE, 0, 0, payload=b"stop")
    t.join(DEADLINE)
    assert out == {"returned": True}
    # The reader thread reads everything until serve() has begun (it may
    # then be waiting in a read already, and so read the first requests:
    # at most two) and again after it returned (the end of the stream);
    # every other frame was read by the serving thread itself.
    assert readers.count("ward-reader") <= 3, readers
    assert readers.count("serving") >= 48, readers


def test_a_long_handler_hands_reading_over(monkeypatch):
    """A handler streaming past the window, for longer than the hand-over
    time: its credit is read for it, and the host's cancel reaches it."""
    w = ward.Worker("streaming")
    started = threading.Event()

    @w.method
    def forever(ctx, params):
        started.set()
        i = 0
        while True:
            i += 1
            ctx.row("out", i)

    host, t, out, readers = start(monkeypatch, w)
    host.put(Kind.REQUEST, 1, 256, "forever", b"null", 1)
    assert started.wait(DEADLINE)
    credited = 0
    while credited < 20:
        f = host.read()
        assert f.kind == Kind.ROW
        host.put(Kind.CREDIT, 1, len(encode_frame(Kind.ROW, 1, 0, "out", f.payload, 1)))
        credited += 1
    host.put(Kind.CANCEL, 1)
    while True:
        f = host.read()
        if f.kind != Kind.ROW:
            break
        host.put(Kind.CREDIT, 1, len(encode_frame(Kind.ROW, 1, 0, "out", f.payload, 1)))
    assert (f.kind, f.id, f.aux) == (Kind.ERROR, 1, ward.ECANCELED & 0xFFFFFFFF)
    host.put(Kind.GOODBYE, 0, 0, payload=b"stop")
    t.join(DEADLINE)
    assert out == {"returned": True}
    assert "ward-reader" in readers
