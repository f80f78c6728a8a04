"""A worker's channel on Windows (docs/protocol.md 2.2a): a byte-mode named
pipe opened for overlapped I/O, behind the few methods of a socket that
worker.py uses (recv, sendall, settimeout, shutdown, close), over CPython's
_winapi module (standard library, Windows only).

- Inherit mode: WARD_FD is the decimal value of an inherited HANDLE to the
  client end of a connected pipe, opened for overlapped I/O; it is made
  not inheritable, so that programs the worker starts do not hold it.
- Socket mode: WARD_SOCKET names a pipe (\\\\.\\pipe\\ward-w-...) that the
  worker opens with CreateFile (read and write, OPEN_EXISTING, overlapped).

A handle opened for overlapped I/O must be read and written with an
OVERLAPPED structure: each operation starts, and the caller waits for its
end (GetOverlappedResult), as multiprocessing's pipe connections do. The
end of the stream is a read failing with ERROR_BROKEN_PIPE. shutdown()
cancels the read under way (CancelIoEx) and makes every later read see the
end, as shutdown(2) wakes a thread blocked in recv on a socket.

Not yet run on Windows: there is no Windows CPython where ward is tested
(Debian has none, for Wine). tests/test_winpipe.py runs this code on any
system against a stand-in for _winapi.
"""

import socket
import threading

try:
    import _winapi
except ImportError:          # not Windows: tests hand in a stand-in
    _winapi = None

__all__ = ["PipeChannel", "open_inherited", "open_named", "DONTWAIT"]

ERROR_BROKEN_PIPE = 109
ERROR_NO_DATA = 232
ERROR_PIPE_NOT_CONNECTED = 233
ERROR_OPERATION_ABORTED = 995
ERROR_IO_PENDING = 997
WAIT_OBJECT_0 = 0
WAIT_TIMEOUT = 258
INFINITE = 0xFFFFFFFF
GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_FLAG_OVERLAPPED = 0x40000000

# recv()'s flag for "do not wait" (socket.MSG_DONTWAIT, which Windows lacks).
DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0x40)

_ENDED = (ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED)


def _winerror(e):
    return getattr(e, "winerror", None)


class PipeChannel:
    """The worker's end of its pipe, used as worker.py uses a socket: one
    reading thread and any writing threads at a time (worker.py serialises
    each side)."""

    def __init__(self, handle, api=None):
        self._api = api or _winapi
        self._h = handle
        self._timeout = None
        self._lock = threading.Lock()
        self._read = None          # the Overlapped of the read under way
        self._shut = False

    def fileno(self):
        return self._h

    def settimeout(self, timeout):
        """How long recv() waits (seconds; None: without limit);
        socket.timeout after it."""
        self._timeout = timeout

    def recv(self, n, flags=0):
        """Up to `n` bytes; b"" at the end of the stream (or after
        shutdown()). With DONTWAIT in `flags`, BlockingIOError when nothing
        has arrived."""
        api = self._api
        if flags & DONTWAIT:
            try:
                avail, _ = api.PeekNamedPipe(self._h, 0)
            except OSError as e:
                if _winerror(e) in _ENDED:
                    return b""
                raise
            if not avail:
                raise BlockingIOError("nothing to read yet")
            n = min(n, avail)
        with self._lock:
            if self._shut:
                return b""
            try:
                ov, err = api.ReadFile(self._h, n, overlapped=True)
            except OSError as e:
                if _winerror(e) in _ENDED:
                    return b""
                raise
            self._read = ov
        try:
            return self._finish_read(ov, err)
        finally:
            with self._lock:
                self._read = None

    def _finish_read(self, ov, err):
        api = self._api
        if err == ERROR_IO_PENDING and self._timeout is not None:
            ms = max(0, int(self._timeout * 1000))
            if api.WaitForMultipleObjects([ov.event], False, ms) == WAIT_TIMEOUT:
                ov.cancel()
                self._result(ov)
                raise socket.timeout("timed out")
        nread, err = self._result(ov)
        if err == ERROR_OPERATION_ABORTED or (nread == 0 and err == 0 and self._shut):
            return b""                 # cancelled by shutdown()
        return bytes(ov.getbuffer()[:nread])

    def _result(self, ov):
        """GetOverlappedResult, waiting: (bytes, error); the end of the
        stream as (0, ERROR_BROKEN_PIPE)."""
        try:
            return ov.GetOverlappedResult(True)
        except OSError as e:
            if _winerror(e) in _ENDED:
                return 0, ERROR_OPERATION_ABORTED
            raise

    def sendall(self, data, flags=0):
        """Writes all of `data`; BrokenPipeError when the host is gone."""
        api = self._api
        view = memoryview(data)
        while view:
            if self._shut:
                raise BrokenPipeError("the channel is shut down")
            try:
                ov, err = api.WriteFile(self._h, bytes(view), overlapped=True)
                written, err = ov.GetOverlappedResult(True)
            except OSError as e:
                if _winerror(e) in _ENDED:
                    raise BrokenPipeError("the host closed the pipe") from None
                raise
            if err == ERROR_OPERATION_ABORTED or written == 0:
                raise BrokenPipeError("the write to the host was cancelled")
            view = view[written:]

    def shutdown(self, how=None):
        """Ends the channel for this side: the read under way returns the
        end of the stream, and so does every later one."""
        with self._lock:
            self._shut = True
            ov = self._read
        if ov is not None:
            try:
                ov.cancel()
            except OSError:
                pass

    def close(self):
        if self._h is not None:
            self.shutdown()
            h, self._h = self._h, None
            try:
                self._api.CloseHandle(h)
            except OSError:
                pass


def open_inherited(value, api=None):
    """The channel of WARD_FD=`value` (a HANDLE's decimal value). Raises
    ValueError or OSError when it names no usable handle."""
    import os
    handle = int(value)
    if handle <= 0:
        raise ValueError("not a handle: %r" % value)
    if hasattr(os, "set_handle_inheritable"):     # Windows
        os.set_handle_inheritable(handle, False)
    return PipeChannel(handle, api)


def open_named(name, api=None):
    """The channel of WARD_SOCKET=`name` (a pipe name): opened with
    CreateFile, read and write, overlapped. Raises OSError (the pipe is
    missing, or busy: another opener has it)."""
    api = api or _winapi
    handle = api.CreateFile(name, GENERIC_READ | GENERIC_WRITE, 0, 0, OPEN_EXISTING,
                            FILE_FLAG_OVERLAPPED, 0)
    return PipeChannel(handle, api)
