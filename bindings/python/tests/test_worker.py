"""The worker frame by frame, under a host that speaks the frames itself
(rawhost.py): what a ward host cannot be made to send or show. The same
worker under libward's host: tests/test_python.c."""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading

import pytest

from rawhost import DEADLINE, HERE, RawHost, fixture_command, worker_env
from ward.protocol import (JSON, MSGPACK, RAW, Kind, decode_error, encode_error, encode_frame,
                           encode_log, to_unsigned)


@pytest.fixture
def hosts():
    """RawHosts made by a test, cleaned up after it."""
    made = []

    def make(*args, **kw):
        h = RawHost(*args, **kw)
        made.append(h)
        return h
    yield make
    for h in made:
        h.cleanup()


def request(h, id, method, params, window=0, encoding=JSON):
    data = params if isinstance(params, bytes) else json.dumps(params).encode()
    h.put(Kind.REQUEST, id, window, method, data, encoding)


def expect_reply(h, id, encoding=JSON):
    f = h.expect(Kind.REPLY, id, 0)
    assert f.encoding == encoding
    return json.loads(f.payload) if encoding == JSON else f.payload


def expect_error(h, id, code, message=None):
    f = h.expect(Kind.ERROR, id, to_unsigned(code))
    msg, data = decode_error(f.payload)
    if message is not None:
        assert msg.decode() == message
    return msg.decode(), data, f


# -- the handshake -------------------------------------------------------------


def test_hello(hosts):
    h = hosts(["--version=1.4.2"], max_frame=65536)
    f, lines = h.hello()
    assert f.name == "raw" and f.encoding == RAW
    d = dict(lines)
    assert d["pid"] == str(h.proc.pid)
    assert d["max_frame"] == "65536"
    assert d["meta.lang"] == "python" and d["meta.version"] == "1.4.2"
    methods = [v for k, v in lines if k == "method"]
    assert methods[:3] == ["echo", "add", "fail"] and "raise" in methods
    assert "token" not in d
    # Nothing more until the WELCOME: then calls are served.
    h.welcome()
    request(h, 1, "add", {"a": 1, "b": 2})
    assert expect_reply(h, 1) == 3


def test_socket_mode_sends_the_token(hosts):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(DEADLINE)
        token = "ab" * 32
        proc = subprocess.Popen(fixture_command(), stderr=subprocess.PIPE, env=worker_env(
            {"WARD_SOCKET": path, "WARD_TOKEN": token, "WARD_NAME": "sock"}))
        try:
            conn, _ = listener.accept()
            h = RawHost.__new__(RawHost)
            h.sock, h.proc, h.buf = conn, proc, bytearray()
            f, lines = h.hello()
            assert f.name == "sock" and dict(lines)["token"] == token
            h.welcome()
            request(h, 1, "echo", b"\x00raw", encoding=RAW)
            assert expect_reply(h, 1, RAW) == b"\x00raw"
            h.put(Kind.GOODBYE, 0, 0, payload=b"stop")
            assert h.wait() == 0
        finally:
            listener.close()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stderr.close()


def test_refused_handshake(hosts):
    h = hosts()
    h.hello()
    h.put(Kind.GOODBYE, 0, 2, payload=b"bad token")
    assert h.wait() == 1
    assert "refused the handshake (reason 2): bad token" in h.stderr()


def test_without_a_host():
    p = subprocess.run(fixture_command(), env=worker_env(), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=DEADLINE)
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "started by a ward host" in err and "WARD_FD" in err
    assert "Traceback" not in err


def test_an_unusable_channel():
    env = worker_env({"WARD_FD": "97"})   # not open
    p = subprocess.run(fixture_command(), env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=DEADLINE)
    assert p.returncode == 1
    assert "WARD_FD=97 is not an open socket" in p.stderr.decode()


# -- calls ----------------------------------------------------------------------


def test_encodings(hosts):
    h = hosts().start()
    request(h, 1, "echo", b'"hi"')
    assert expect_reply(h, 1) == "hi"
    request(h, 2, "add", b"\x82\xa1a\x01\xa1b\x02", encoding=MSGPACK)
    assert expect_reply(h, 2, MSGPACK) == b"\x03"
    request(h, 3, "echo", b"", encoding=MSGPACK)
    assert expect_reply(h, 3, MSGPACK) == b""


def test_without_msgpack_a_msgpack_request_fails_clearly(hosts):
    h = hosts(["--no-msgpack"]).start()
    request(h, 1, "add", b"\x82\xa1a\x01\xa1b\x02", encoding=MSGPACK)
    msg, _, _ = expect_error(h, 1, -1)
    assert "msgpack module is not installed" in msg
    request(h, 2, "echo", b"\x01", encoding=MSGPACK)   # raw handlers still work
    assert expect_reply(h, 2, MSGPACK) == b"\x01"


def test_bad_payloads_are_typed_errors(hosts):
    h = hosts().start()
    request(h, 1, "add", b"{nope")
    msg, data, _ = expect_error(h, 1, -9)
    assert msg.startswith("invalid JSON: ") and data == b""
    request(h, 2, "add", b"\xff\xfe")
    assert expect_error(h, 2, -9)[0].startswith("invalid JSON: ")
    request(h, 3, "add", b"\xc1", encoding=MSGPACK)      # never used in MessagePack
    assert expect_error(h, 3, -9)[0].startswith("invalid MessagePack: ")
    # A result the encoding cannot hold: the handler's error, not a crash.
    request(h, 4, "echo", {"a": 1})
    assert expect_reply(h, 4) == {"a": 1}


def test_exceptions(hosts):
    h = hosts().start()
    request(h, 1, "raise", 5)
    msg, data, f = expect_error(h, 1, -1, "ValueError: bad value 5")
    assert f.encoding == JSON
    assert json.loads(data) == {"type": "ValueError", "message": "bad value 5"}
    request(h, 2, "raise_error", {"code": -500, "message": "mine", "data": {"k": 1}})
    assert expect_error(h, 2, -500, "mine")[1] == b'{"k":1}'
    request(h, 3, "nosuch", {})
    expect_error(h, 3, -11, "no method 'nosuch'")


def test_results_over_the_callers_limit(hosts):
    h = hosts().start(max_frame=1000)
    request(h, 1, "big", 1000)
    assert len(h.expect(Kind.REPLY, 1, 0).payload) == 1000
    request(h, 2, "big", 1001)
    msg, _, _ = expect_error(h, 2, -10)
    assert "1001 bytes" in msg
    # An error is fitted: its data dropped, its message shortened.
    request(h, 3, "fail", {"code": 9, "message": "m" * 2000, "data": "d" * 100})
    msg, data, f = expect_error(h, 3, 9)
    assert len(f.payload) == 1000 and data == b"" and msg == "m" * 996


def test_goodbye_with_requests_queued(hosts):
    """A window of 64 bytes holds one 35-byte row at a time: the stream
    waits for credit, reading meanwhile. Requests queued behind it: one
    cancelled (-7 unrun), one caught by the GOODBYE (-13), one unknown
    (-11). Then the worker exits 0 with the host's end still open."""
    h = hosts().start()
    request(h, 1, "stream", {"n": 3}, window=64)
    h.expect(Kind.DIAG, 1, 2)
    assert json.loads(h.expect(Kind.ROW, 1, 1).payload) == {"i": 1, "pad": ""}
    request(h, 2, "add", {"a": 1, "b": 1})
    h.put(Kind.CANCEL, 2)
    request(h, 3, "add", {"a": 1, "b": 1})
    request(h, 4, "nosuch", {})
    h.put(Kind.PING, 0x80000001)
    h.put(Kind.GOODBYE, 0, 0, payload=b"recycle")
    h.expect(Kind.PONG, 0x80000001, 0)        # answered while waiting for credit
    h.put(Kind.CREDIT, 1, 35)
    h.expect(Kind.ROW, 1, 2)
    h.put(Kind.CREDIT, 1, 35)
    h.expect(Kind.ROW, 1, 3)
    assert expect_reply(h, 1) == 3
    expect_error(h, 2, -7, "cancelled before it started")
    expect_error(h, 3, -13, "the worker is stopping")
    expect_error(h, 4, -11)
    assert h.wait() == 0
    assert h.read() is None


def test_the_window_is_followed_exactly(hosts):
    """Rows of 16 + 3 + 16 + pad bytes under a window of 100: sent while
    at most half is outstanding or the row still fits (7.6)."""
    h = hosts().start()
    request(h, 1, "stream", {"n": 6, "pad": 5}, window=100)   # 40-byte frames
    h.expect(Kind.DIAG, 1, 2)
    h.expect(Kind.ROW, 1, 1)    # 0 outstanding
    h.expect(Kind.ROW, 1, 2)    # 40 <= 50
    h.put(Kind.PING, 1)         # 80 > 50 and 120 > 100: waits, and answers
    h.expect(Kind.PONG, 1, 0)
    h.put(Kind.CREDIT, 1, 20)   # 60 > 50, but 60 + 40 fits the window
    h.expect(Kind.ROW, 1, 3)    # 100 outstanding now
    h.put(Kind.CREDIT, 1, 60)   # 40
    h.expect(Kind.ROW, 1, 4)    # 80
    h.put(Kind.CREDIT, 1, 80)   # 0
    h.expect(Kind.ROW, 1, 5)
    h.expect(Kind.ROW, 1, 6)
    assert expect_reply(h, 1) == 6


def test_cancel_while_waiting_for_credit(hosts):
    h = hosts().start()
    request(h, 1, "forever", {}, window=64)
    h.expect(Kind.ROW, 1, 1)
    h.put(Kind.CANCEL, 1)
    expect_error(h, 1, -7, "cancelled")
    h.put(Kind.CANCEL, 1)       # for an ended call: ignored
    h.put(Kind.CREDIT, 1, 99)   # likewise
    request(h, 2, "add", {"a": 2, "b": 2})
    assert expect_reply(h, 2) == 4


def test_progress_and_diagnostics(hosts):
    h = hosts().start()
    request(h, 1, "stream", {"n": 2, "every": 1})
    d = h.expect(Kind.DIAG, 1, 2)
    assert d.name == "start" and d.payload == b"starting 2 rows" and d.encoding == RAW
    h.expect(Kind.ROW, 1, 1)
    p = h.expect(Kind.PROGRESS, 1, 0)
    assert json.loads(p.payload) == {"done": 1, "total": 2} and p.name == ""
    h.expect(Kind.ROW, 1, 2)
    h.expect(Kind.PROGRESS, 1, 0)
    assert expect_reply(h, 1) == 2


# -- pings, calls to the host, notifications --------------------------------------


def test_pings_while_a_handler_waits_for_the_host(hosts):
    """A handler calls the host (its own id space, no window); while it
    waits, pings are answered; the answer resolves its call."""
    h = hosts().start()
    request(h, 5, "ask", {"method": "host.add", "params": {"a": 1, "b": 2}})
    call = h.expect(Kind.REQUEST, 1, 0)
    assert call.name == "host.add" and json.loads(call.payload) == {"a": 1, "b": 2}
    h.put(Kind.PING, 77)
    h.expect(Kind.PONG, 77, 0)
    h.put(Kind.REPLY, 99, 0, payload=b"0", encoding=JSON)       # not its id: ignored
    h.put(Kind.ROW, 1, 1, "x", b"1", JSON)                      # dropped
    h.put(Kind.REPLY, 1, 0, payload=b"3", encoding=JSON)
    assert expect_reply(h, 5) == {"result": 3}


def test_a_call_to_the_host_times_out(hosts):
    h = hosts().start()
    request(h, 1, "ask", {"method": "host.slow", "timeout": 0.2})
    call = h.expect(Kind.REQUEST, 1, 0)
    h.expect(Kind.CANCEL, call.id, 0)
    assert expect_reply(h, 1) == {"error": "Timeout", "code": -6, "data": None,
                                  "message": "no answer to 'host.slow' within 0.2 s"}
    h.put(Kind.REPLY, call.id, 0, payload=b"1", encoding=JSON)  # too late: ignored
    request(h, 2, "add", {"a": 1, "b": 1})
    assert expect_reply(h, 2) == 2


def test_host_errors_reach_the_handler(hosts):
    h = hosts().start()
    request(h, 1, "ask", {"method": "host.fail"})
    call = h.expect(Kind.REQUEST, 1, 0)
    h.put(Kind.ERROR, call.id, to_unsigned(-11), payload=encode_error("no method"),
          encoding=JSON)
    r = expect_reply(h, 1)
    assert (r["error"], r["code"], r["message"]) == ("NoMethod", -11, "no method")


def test_notifications_both_ways(hosts):
    h = hosts().start()
    h.put(Kind.NOTIFY, 0, 0, "poke", b'{"n":1}', JSON)
    f = h.expect(Kind.NOTIFY, 0, 0)
    assert f.name == "poked" and f.payload == b'{"n":1}' and f.encoding == JSON
    h.put(Kind.NOTIFY, 0, 0, "nosuch", b"{}", JSON)            # dropped
    h.put(Kind.NOTIFY, 0, 0, "broken_note", b"{}", JSON)       # fails quietly
    request(h, 1, "add", {"a": 1, "b": 1})
    assert expect_reply(h, 1) == 2                             # nothing came before it
    h.put(Kind.GOODBYE, 0, 0)
    assert h.wait() == 0
    assert "notification 'broken_note' failed: RuntimeError" in h.stderr()


def test_the_worker_says_goodbye(hosts):
    h = hosts().start()
    h.put(Kind.NOTIFY, 0, 0, "leave", b"{}", JSON)
    f = h.expect(Kind.GOODBYE, 0, 0)
    assert f.payload == b"done on purpose"
    assert h.read() is None
    assert h.wait() == 0


# -- the end of the connection ----------------------------------------------------


@pytest.mark.parametrize("how", ["eof", "goodbye 3", "bad magic", "too big"])
def test_lost_connections_end_with_status_1(hosts, how):
    h = hosts(max_frame=65536).start()
    request(h, 1, "add", {"a": 1, "b": 1})
    expect_reply(h, 1)
    if how == "eof":
        h.close()
    elif how == "goodbye 3":
        h.put(Kind.GOODBYE, 0, 3, payload=b"you broke it")
    elif how == "bad magic":
        h.put_raw(b"\x58" + b"\0" * 15)
    else:
        h.put_raw(bytes([0x57, Kind.REPLY, 0, 0]) + (65537).to_bytes(4, "little") + b"\0" * 8)
    assert h.wait() == 1
    err = h.stderr()
    if how != "eof":
        assert h.read() is None
        assert {"goodbye 3": "you broke it", "bad magic": "bad magic",
                "too big": "over the limit of 65536"}[how] in err


def test_a_stuck_handler_does_not_answer_pings(hosts):
    """Pings are answered by the serving loop, not by a thread that is
    always there: a handler without boundaries leaves them unanswered
    until it returns (protocol.md 8.2)."""
    h = hosts().start()
    request(h, 1, "stuck", {"ms": 300})
    assert h.proc.stderr.readline() == b"stuck for 300 ms\n"
    h.put(Kind.PING, 5)
    f = h.read()
    assert (f.kind, f.id) == (Kind.REPLY, 1)     # the reply first, then the PONG
    h.expect(Kind.PONG, 5, 0)


def test_a_flood_of_notifications_waits_in_the_socket(hosts):
    """While a handler runs, the worker reads requests and notifications
    only until 8 MiB of them wait (protocol.md 10): the rest stays in the
    socket, so the host's writes block, and nothing is lost."""
    h = hosts().start()
    request(h, 1, "hold", {})
    assert h.proc.stderr.readline() == b"holding\n"
    note = encode_frame(Kind.NOTIFY, 0, 0, "note", b'"' + b"x" * 65534 + b'"', JSON)
    flood = note * 384                        # 24 MiB
    h.sock.setblocking(False)
    sent = 0
    while sent < len(flood) and select.select([], [h.sock], [], 2.0)[1]:
        try:
            sent += h.sock.send(flood[sent:sent + (1 << 20)])
        except BlockingIOError:
            pass
    assert sent < 10 * 1024 * 1024, "the worker read %d bytes while busy" % sent
    h.proc.stdin.write(b"go\n")
    h.proc.stdin.flush()
    h.sock.setblocking(True)
    h.sock.sendall(flood[sent:])
    assert expect_reply(h, 1) == "go"
    request(h, 2, "notes", {})
    assert expect_reply(h, 2) == {"notes": 384, "bytes": 384 * 65534}


# -- the death signal (protocol.md 2.4) ----------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_death_signal_kept_while_the_host_is_the_parent(hosts):
    """Started by a thread that then ends, with WARD_PPID this process:
    the worker keeps the signal, so the kernel kills it when that thread
    goes (which is why a host that cannot keep the thread sets no
    WARD_PPID)."""
    made = []

    def start():
        h = hosts(ppid=True)
        h.hello()        # sent after the signal was set
        made.append(h)
    t = threading.Thread(target=start)
    t.start()
    t.join()
    assert made[0].wait() == -9


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_death_signal_taken_back_under_a_forking_wrapper(hosts):
    """A shell that runs the worker in the background and ends when the
    test lets it: the worker's parent is not the host, so it takes the
    signal back and goes on serving after the shell is gone."""
    cmd = ["/bin/sh", "-c", '"$0" -m fixture_worker & read x', sys.executable]
    h = hosts(command=cmd, ppid=True)
    f, lines = h.hello()
    pid = int(dict(lines)["pid"])
    assert pid != h.proc.pid
    h.proc.stdin.close()           # `read` ends, and so does the shell
    h.wait()
    h.welcome()
    request(h, 1, "echo", b'"alive"')
    assert expect_reply(h, 1) == "alive"
    h.close()                      # EOF: it exits
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    if pidfd is not None:
        assert select.select([pidfd], [], [], DEADLINE)[0], "the worker did not exit"
        os.close(pidfd)


# -- log records (protocol.md 8.4) ------------------------------------------------


def test_log_records_as_log_frames(hosts):
    h = hosts()
    h.hello()
    lines = "max_frame=%d\npid=%d\nworker_id=7\ngeneration=3\nlog=1\n" % (1 << 20, os.getpid())
    h.put(Kind.WELCOME, 0, 1, payload=lines.encode())
    request(h, 5, "logs", {})
    f = h.expect(Kind.LOG, 5, 4)
    assert f.encoding == RAW and f.name == ""
    assert f.payload == encode_log("disk slow", [("ms", "250"), ("disk", "sda")])
    f = h.expect(Kind.LOG, 5, 5)
    assert f.payload == encode_log("tab\there")
    f = h.expect(Kind.LOG, 0, 2)
    assert f.payload == encode_log("not in a call")
    assert expect_reply(h, 5) == 5      # five records refused, none sent


def test_log_records_to_stderr_without_log1(hosts):
    h = hosts().start()                 # a WELCOME without log=1: no LOG frame
    request(h, 5, "logs", {})
    assert expect_reply(h, 5) == 5
    h.close()
    h.wait()
    err = h.stderr()
    assert "WARN disk slow ms=250 disk=sda (call 5)\n" in err
    assert "ERROR tab\there (call 5)\n" in err and "DEBUG not in a call\n" in err
