"""The host side (ward.host, over libward with ctypes): a Python host
calling the C example worker and the Python fixture worker. Given the
library and the worker by make check (WARD_TEST_LIBWARD,
WARD_TEST_ECHO_WORKER); skipped without them, and in sanitizer builds,
whose libward cannot be loaded into an uninstrumented interpreter."""
import os
import sys

import pytest

import ward
from rawhost import HERE, PACKAGE

LIBWARD = os.environ.get("WARD_TEST_LIBWARD")
ECHO_WORKER = os.environ.get("WARD_TEST_ECHO_WORKER")
pytestmark = pytest.mark.skipif(not LIBWARD, reason="no libward given (WARD_TEST_LIBWARD)")


@pytest.fixture
def host():
    from ward.host import Host
    with Host(library=LIBWARD) as h:
        yield h


def python_worker(host, name, transport="inherit"):
    return host.spawn(name, [sys.executable, "-m", "fixture_worker"], transport=transport,
                      restart="never", env={"PYTHONPATH": os.pathsep.join([PACKAGE, HERE])})


@pytest.mark.parametrize("transport", ["inherit", "socket"])
def test_python_worker(host, transport):
    w = python_worker(host, "py", transport)
    assert w.pid > 0 and w.generation == 1
    assert w.serves("add") and not w.serves("nosuch")
    assert w.meta("lang") == "python"
    assert w.request("add", {"a": 40, "b": 2}) == 42
    assert w.request("echo", b"\x00\x01", encoding="raw") == b"\x00\x01"
    if ward.have_msgpack():
        assert w.request("add", {"a": 1, "b": 2}, encoding="msgpack") == 3
    with pytest.raises(ward.RemoteError) as e:
        w.request("fail", {"code": 404, "message": "no such user", "data": {"id": 7}})
    assert (e.value.code, e.value.message, e.value.data) == (404, "no such user", {"id": 7})
    with pytest.raises(ward.NoMethod):
        w.request("nosuch")
    w.ping()
    w.notify("note", "x")
    assert w.request("notes") == {"notes": 1, "bytes": 1}
    w.stop()
    with pytest.raises(ward.Closed):
        w.request("add", {"a": 1, "b": 1})


def test_streams(host):
    w = python_worker(host, "rows")
    rows, progress, diags = [], [], []
    n = w.request("stream", {"n": 50, "every": 10}, window=64,
                  on_row=lambda stream, seq, row: rows.append((stream, seq, row["i"])),
                  on_progress=progress.append,
                  on_diag=lambda *d: diags.append(d))
    assert n == 50
    assert rows == [("out", i, i) for i in range(1, 51)]
    assert progress == [{"done": i, "total": 50} for i in (10, 20, 30, 40, 50)]
    assert diags == [(2, "start", "starting 50 rows")]

    def refuse(*row):
        raise KeyError("not this one")
    with pytest.raises(KeyError):
        w.request("stream", {"n": 3}, on_row=refuse)
    assert w.request("add", {"a": 1, "b": 1}) == 2


@pytest.mark.skipif(not ECHO_WORKER, reason="no echo_worker given")
def test_c_worker(host):
    from ward.host import Crashed
    w = host.spawn("echo", [ECHO_WORKER], restart="never")
    assert w.request("echo", "hello") == "hello"
    with pytest.raises(Crashed):
        w.request("crash", {})


def test_timeouts_and_spawn_failures(host):
    w = python_worker(host, "slow")
    with pytest.raises(ward.Timeout):
        w.request("stuck", {"ms": 60000}, timeout=0.2)
    with pytest.raises(ward.Error) as e:
        host.spawn("none", ["/nonexistent/worker"], restart="never")
    assert e.value.code == ward.ESPAWN
