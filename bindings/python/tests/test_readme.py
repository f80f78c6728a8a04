"""The two-line workers of README.md and bindings/python/README.md work
as they say (each read from its document when the test runs)."""
import json
import os
import re
import sys

import pytest

from rawhost import PACKAGE, RawHost
from ward.protocol import JSON, Kind

ROOT = os.path.dirname(os.path.dirname(PACKAGE))


def first_python_block(path, after):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text[text.index(after):]
    return re.search(r"```python\n(.*?)\n```", text, re.S).group(1) + "\n"


@pytest.mark.parametrize("doc, after, method, params, want", [
    (os.path.join(ROOT, "README.md"), "A worker in Python is two lines", "echo", "hi", "hi"),
    (os.path.join(PACKAGE, "README.md"), "The two-line worker", "upper", "hi", "HI"),
])
def test_two_line_worker(tmp_path, doc, after, method, params, want):
    code = first_python_block(doc, after)
    assert len(code.strip().splitlines()) == 2
    script = tmp_path / "worker.py"
    script.write_text(code)
    h = RawHost(command=[sys.executable, str(script)])
    try:
        _, lines = h.hello()
        assert ("method", method) in lines
        h.welcome()
        h.put(Kind.REQUEST, 1, 0, method, json.dumps(params).encode(), JSON)
        assert json.loads(h.expect(Kind.REPLY, 1, 0).payload) == want
        h.put(Kind.GOODBYE, 0, 0, payload=b"stop")
        assert h.wait() == 0
    finally:
        h.cleanup()


def test_host_example_names():
    """The host example of bindings/python/README.md compiles, and every
    method it calls on a host, a worker or a call is one they have."""
    from ward.host import Call, Host, Worker
    code = first_python_block(os.path.join(PACKAGE, "README.md"), "## A host")
    compile(code, "README.md", "exec")
    for var, cls in (("host", Host), ("w", Worker), ("call", Call)):
        for name in re.findall(r"\b%s\.(\w+)" % var, code):
            assert hasattr(cls, name), "%s.%s" % (cls.__name__, name)
