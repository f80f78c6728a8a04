"""A host for the tests that speaks the frames itself (with ward.protocol):
it starts fixture_worker (or any command) on one end of a socketpair and
checks, frame by frame, what a ward host cannot be made to send or show.
Every wait has a deadline (DEADLINE seconds), none is a sleep."""
import os
import select
import socket
import subprocess
import sys

from ward.protocol import HEADER_SIZE, Frame, Kind, decode_frame, decode_lines, encode_frame

DEADLINE = 20.0
HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)


def worker_env(extra=None):
    """The environment of a worker: this one without WARD_*, with the
    package and the fixtures on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARD_")}
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE, HERE])
    env.update(extra or {})
    return env


def fixture_command(*args):
    return [sys.executable, "-m", "fixture_worker", *args]


class RawHost:
    """One worker process and the host's end of its channel."""

    def __init__(self, args=(), *, command=None, env=None, ppid=False, max_frame=None):
        self.sock, child = socket.socketpair()
        extra = {"WARD_FD": str(child.fileno()), "WARD_NAME": "raw"}
        if ppid:
            extra["WARD_PPID"] = str(os.getpid())
        if max_frame is not None:
            extra["WARD_MAX_FRAME"] = str(max_frame)
        extra.update(env or {})
        self.proc = subprocess.Popen(command or fixture_command(*args), env=worker_env(extra),
                                     pass_fds=[child.fileno()], stdin=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        child.close()
        self.buf = bytearray()

    # -- frames ------------------------------------------------------------

    def read(self, deadline=DEADLINE):
        """The next frame from the worker, or None at the end of the stream."""
        while True:
            f, used = decode_frame(self.buf, 1 << 30)
            if f is not None:
                del self.buf[:used]
                return f
            ready, _, _ = select.select([self.sock], [], [], deadline)
            assert ready, "nothing from the worker within %g s" % deadline
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                assert not self.buf, "the stream ended inside a frame"
                return None
            self.buf += chunk

    def expect(self, kind, id=None, aux=None):
        f = self.read()
        assert f is not None, "end of stream where a %s was due" % Kind(kind).name
        assert (f.kind, f.id if id is not None else None, f.aux if aux is not None else None) \
            == (kind, id, aux), "got %r, want %s id=%s aux=%s" % (f, Kind(kind).name, id, aux)
        return f

    def put(self, kind, id=0, aux=0, name="", payload=b"", encoding=0):
        self.sock.sendall(encode_frame(kind, id, aux, name, payload, encoding))

    def put_raw(self, data):
        self.sock.sendall(data)

    # -- the handshake -------------------------------------------------------

    def hello(self):
        """The HELLO: (frame, lines as a list of pairs)."""
        f = self.expect(Kind.HELLO, 0, 1)
        return f, decode_lines(f.payload)

    def welcome(self, max_frame=1 << 20):
        lines = "max_frame=%d\npid=%d\nworker_id=7\ngeneration=3\n" % (max_frame, os.getpid())
        self.put(Kind.WELCOME, 0, 1, payload=lines.encode())

    def start(self, max_frame=1 << 20):
        self.hello()
        self.welcome(max_frame)
        return self

    # -- the process -----------------------------------------------------------

    def wait(self):
        """The worker's exit status (-N for signal N) within the deadline."""
        try:
            return self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker did not exit within %g s" % DEADLINE) from None

    def stderr(self):
        return self.proc.stderr.read().decode("utf-8", "replace")

    def close(self):
        self.sock.close()

    def cleanup(self):
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stderr):
            if f:
                f.close()


__all__ = ["RawHost", "Frame", "Kind", "HEADER_SIZE", "DEADLINE", "worker_env",
           "fixture_command", "PACKAGE", "HERE"]
