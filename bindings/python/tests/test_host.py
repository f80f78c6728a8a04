"""The host side (ward.host, over libward with ctypes): a Python host
calling the C example workers and the Python fixture worker. Given the
library and the examples' build directory by make check
(WARD_TEST_LIBWARD, WARD_TEST_EXAMPLES); skipped without them, and in
sanitizer builds, whose libward cannot be loaded into an uninstrumented
interpreter."""
import asyncio
import os
import sys
import threading
import time

import pytest

import ward
from rawhost import HERE, PACKAGE

LIBWARD = os.environ.get("WARD_TEST_LIBWARD")
EXAMPLES = os.environ.get("WARD_TEST_EXAMPLES")
pytestmark = pytest.mark.skipif(not LIBWARD, reason="no libward given (WARD_TEST_LIBWARD)")
needs_examples = pytest.mark.skipif(not EXAMPLES, reason="no examples given (WARD_TEST_EXAMPLES)")


def example(name):
    return os.path.join(EXAMPLES, name)


@pytest.fixture
def host():
    from ward.host import Host
    with Host(library=LIBWARD) as h:
        yield h


def python_worker(host, name, transport="inherit", **options):
    options.setdefault("restart", "never")
    return host.spawn(name, [sys.executable, "-m", "fixture_worker"], transport=transport,
                      env={"PYTHONPATH": os.pathsep.join([PACKAGE, HERE])}, **options)


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
    assert w.info()["state"] == "stopped" and w.info()["last_stop"] == "graceful"


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


@pytest.mark.parametrize("window", [64, 4096, 0, -1])
def test_batched_rows(host, window):
    """ctx.rows() sends many rows a write, within the caller's window
    (libward cuts off a worker that overruns it), numbered in order; and
    stops at a cancel."""
    w = python_worker(host, "batch")
    rows = []
    n = w.request("stream_batch", {"n": 3000, "pad": 10}, window=window,
                  on_row=lambda stream, seq, row: rows.append((seq, row["i"])))
    assert n == 3000 and rows == [(i, i) for i in range(1, 3001)]
    got = []
    c = w.call("forever_batch", window=window, on_row=lambda s, seq, row: got.append(seq))
    deadline = time.monotonic() + 30
    while len(got) < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    c.cancel()
    with pytest.raises(ward.Cancelled):
        c.wait(30)
    assert w.request("add", {"a": 1, "b": 1}) == 2     # it served on


def test_every_code_has_its_class():
    """Each WARD_E* code is raised as a class of its own under ward.Error;
    a code that is not ward's is a RemoteError."""
    codes = [getattr(ward, name) for name in dir(ward)
             if name.startswith("E") and name.isupper() and isinstance(getattr(ward, name), int)]
    assert len(codes) == 16
    classes = set()
    for code in codes:
        e = ward.from_code(code, "why")
        assert isinstance(e, ward.Error) and e.code == code and e.message == "why"
        classes.add(type(e))
    assert len(classes) == 16
    assert isinstance(ward.from_code(-8), ward.Crashed)
    assert isinstance(ward.from_code(-11), ward.NoMethod)
    assert isinstance(ward.from_code(-11), ward.RemoteError)
    assert type(ward.from_code(404, "x", {"a": 1})) is ward.RemoteError
    assert issubclass(ward.PayloadError, ward.ProtocolError)
    assert issubclass(ward.NoHost, ward.InvalidArgument)
    from ward.host import Crashed, GaveUp
    assert Crashed is ward.Crashed and GaveUp is ward.GaveUp


@needs_examples
def test_c_worker_crash_and_restart(host):
    """A C worker that dies mid-call: the call raises Crashed, the events
    say how it ended and that it came back, and the handle serves on."""
    seen = []
    host._on_event = seen.append
    with host.spawn("echo", [example("echo_worker")], restart="on-failure",
                    backoff=(0.01, 0.1, 200, 10)) as w:
        assert w.request("echo", "hello") == "hello"
        mark = host.mark()
        pid = w.pid
        with pytest.raises(ward.Crashed):
            w.request("crash", {})
        exited = host.wait_event("exited", w, since=mark)
        assert (exited.pid, exited.signal, exited.reason) == (pid, 6, "crashed")
        assert exited.worker is w
        restarting = host.wait_event("restarting", w, since=mark)
        assert restarting.reason == "crashed" and restarting.attempt == 1
        host.wait_event("restarted", w, since=mark)
        w.wait_ready()
        assert w.generation == 2 and w.pid != pid
        assert w.request("echo", [1, 2]) == [1, 2]
        assert w.info()["restarts"] == 1
    assert [e.type for e in seen][:2] == ["spawned", "ready"]
    assert host.wait_event("stopped", w, since=mark).outcome == "graceful"


@needs_examples
def test_gave_up(host):
    w = host.spawn("flaky", [example("flaky_worker")], restart="always",
                   intensity=(1, 60), backoff=(0.01, 0.01, 100, 60))
    mark = host.mark()
    with pytest.raises(ward.Crashed):
        w.request("crash")
    host.wait_event("restarted", w, since=mark)
    w.wait_ready()
    with pytest.raises(ward.Crashed):
        w.request("crash")
    host.wait_event("gave-up", w, since=mark)
    with pytest.raises(ward.GaveUp):
        w.request("work")
    w.restart()
    assert w.request("work") == "done"


def test_async_calls(host):
    """call() returns at once; wait(), done callbacks, rows on the I/O
    thread, cancel, and asyncio."""
    w = python_worker(host, "async", restart="on-failure")
    rows, ended = [], threading.Event()
    c = w.call("stream", {"n": 20}, on_row=lambda s, seq, row: rows.append(seq),
               done=lambda call: ended.set())
    assert c.wait(30) == 20
    assert ended.wait(30) and c.done and c.status == 0
    assert rows == list(range(1, 21))
    with pytest.raises(ward.RemoteError) as e:
        w.call("fail", {"code": 7, "message": "seven"}).wait(30)
    assert e.value.code == 7
    with pytest.raises(ward.NoMethod):
        w.call("nosuch").wait(30)

    got = []
    forever = w.call("forever", on_row=lambda s, seq, row: got.append(seq))
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got
    forever.cancel()
    with pytest.raises(ward.Cancelled):
        forever.wait(30)
    mark = host.mark()
    with pytest.raises(ward.Timeout):
        w.call("spin", {"ms": 60000}, timeout=0.2).wait(30)
    # Killed at the deadline (kill-on-timeout), and restarted.
    assert host.wait_event("exited", w, since=mark).reason == "request-timeout"
    host.wait_event("restarted", w, since=mark)

    async def several():
        return await asyncio.gather(*[w.request_async("add", {"a": i, "b": i})
                                      for i in range(10)])
    assert asyncio.run(several()) == [2 * i for i in range(10)]

    async def cancelled():
        task = asyncio.ensure_future(w.request_async("spin", {"ms": 60000}))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(cancelled())
    assert w.request("add", {"a": 1, "b": 2}) == 3


def test_host_handlers(host):
    """Methods the worker calls on the host: a reply, a ward.Error, an
    exception, a deferred answer from another thread, and one not served."""
    calls = []

    @host.handle("host.add")
    def add(ctx, params):
        calls.append((ctx.method, ctx.worker))
        return params["a"] + params["b"]

    @host.handle("host.fail")
    def fail(ctx, params):
        raise ward.Error(451, "not here", {"why": "refused"})

    @host.handle("host.broken")
    def broken(ctx, params):
        raise ValueError("a bug")

    @host.handle("host.later")
    def later(ctx, params):
        ctx.defer()
        threading.Thread(target=lambda: (time.sleep(0.05), ctx.reply({"late": params}))).start()

    w = python_worker(host, "asker")
    ask = lambda method, params=None: w.request("ask", {"method": method, "params": params})
    assert ask("host.add", {"a": 20, "b": 22}) == {"result": 42}
    assert calls == [("host.add", w)]
    assert ask("host.fail") == {"error": "RemoteError", "code": 451, "message": "not here",
                                "data": {"why": "refused"}}
    r = ask("host.broken")
    assert (r["code"], r["message"]) == (-1, "ValueError: a bug")
    assert ask("host.later", 5) == {"result": {"late": 5}}
    assert ask("host.nosuch")["error"] == "NoMethod"
    assert w.request("ask_async", {"method": "host.add",
                                   "each": [{"a": 1, "b": 1}, {"a": 2, "b": 2}]}) == \
        {"result": [2, 4]}


def test_logs(host):
    """What the worker wrote to stderr, from ward_worker_logs."""
    w = python_worker(host, "logger")
    with pytest.raises(ward.Timeout):
        w.request("stuck", {"ms": 300}, timeout=0.1)
    deadline = time.monotonic() + 30
    lines = []
    while not lines and time.monotonic() < deadline:
        lines = [l for l in w.logs(stream="stderr") if l.text == "stuck for 300 ms"]
        time.sleep(0.01)
    assert lines and lines[0].stream == "stderr" and lines[0].generation == 1
    assert w.logs(stream="stdout") == []
    first = w.logs(last=1)[0]
    assert w.logs(after_seq=first.seq) == []


@needs_examples
def test_pool(host):
    with host.pool("echoes", [example("echo_worker")], min_workers=1, max_workers=2) as p:
        assert [p.request("echo", i) for i in range(5)] == list(range(5))
        stats = p.stats()
        assert stats["calls"] == 5 and stats["failures"] == 0 and stats["workers"] >= 1


def _fixture(version):
    return [sys.executable, "-m", "fixture_worker", "--version=%s" % version]


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not so within %s s" % timeout
        time.sleep(0.01)


def test_spares_and_replace(host):
    """spares=1: a crash is taken over by the spare (its process was
    started before the crash); replace() moves the worker to a new
    version, and a broken one leaves it serving."""
    env = {"PYTHONPATH": os.pathsep.join([PACKAGE, HERE])}
    w = host.spawn("hot", _fixture(1), env=env, restart="on-failure", spares=1)
    _wait(lambda: w.info()["spares_ready"] == 1)
    info = w.info()
    assert info["spares_running"] == 1 and info["spares_rss_bytes"] != 0
    pid = w.pid
    with pytest.raises(ward.Crashed):
        w.request("die")
    _wait(lambda: w.pid not in (0, pid))  # the crash is reaped, the spare took over
    assert w.request("add", {"a": 1, "b": 1}) == 2 and w.generation == 2
    w.replace(_fixture(2), env=env, restart="on-failure", spares=1, drain=5.0)
    assert w.meta("version") == "2" and w.request("add", {"a": 2, "b": 2}) == 4
    before = w.pid
    with pytest.raises(ward.SpawnError):
        w.replace(["/nonexistent/worker"], restart="on-failure")
    assert w.pid == before and w.meta("version") == "2"
    w.stop()


def test_pool_replace(host):
    env = {"PYTHONPATH": os.pathsep.join([PACKAGE, HERE])}
    with host.pool("fixtures", _fixture(1), env=env, min_workers=2, max_workers=2) as p:
        assert p.request("add", {"a": 1, "b": 2}) == 3
        p.replace(_fixture(2), env=env, drain=5.0)
        assert p.stats()["workers"] == 2 and p.request("add", {"a": 3, "b": 4}) == 7


def test_worker_context_manager(host):
    mark = host.mark()
    with python_worker(host, "scoped") as w:
        assert w.request("add", {"a": 1, "b": 1}) == 2
    assert host.wait_event("stopped", w.id, since=mark)
    with pytest.raises(ward.Closed):
        w.request("add", {"a": 1, "b": 1})


def test_timeouts_and_spawn_failures(host):
    w = python_worker(host, "slow")
    with pytest.raises(ward.Timeout):
        w.request("stuck", {"ms": 60000}, timeout=0.2)
    with pytest.raises(ward.SpawnError) as e:
        host.spawn("none", ["/nonexistent/worker"], restart="never")
    assert e.value.code == ward.ESPAWN and "/nonexistent/worker" in e.value.message
    with pytest.raises(ward.InvalidArgument):
        host.spawn("bad", [sys.executable], transport="carrier-pigeon")


def test_closed_host():
    from ward.host import Host
    h = Host(library=LIBWARD)
    h.close()
    with pytest.raises(ward.Closed):
        h.spawn("late", [sys.executable])
