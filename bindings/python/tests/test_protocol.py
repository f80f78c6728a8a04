"""The pure parts of the package: frames against the test vectors of
docs/protocol.md section 12 (read from the document, one source),
handshake lines, ERROR payloads, the flow-control rule (7.6) and payload
encodings."""
import os
import re

import pytest

from ward import payload
from ward.errors import Error, PayloadError
from ward.protocol import (JSON, MSGPACK, RAW, Frame, Kind, Violation, decode_error,
                           decode_frame, decode_header, decode_lines, encode_error,
                           encode_frame, encode_lines, encode_log, fit_error, format_log,
                           frame_size, may_send, to_signed, to_unsigned)

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "protocol.md")


def doc_vectors():
    """{letter: bytes} of every vector of section 12."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("\n## 12. "):text.index("\n## 13. ")]
    vectors = {}
    for m in re.finditer(r"\n### \((\w)\)[^\n]*\n(.*?)(?=\n### |\Z)", section, re.S):
        block = re.search(r"```\n(.*?)\n```", m.group(2), re.S).group(1)
        hexes = []
        for line in block.splitlines():
            offset, _, data = line.partition(": ")
            assert int(offset, 16) == len(hexes), "vector (%s): offset %s" % (m.group(1), offset)
            hexes += data.split()
        vectors[m.group(1)] = bytes(int(h, 16) for h in hexes)
    return vectors


# What each vector holds, from the tables of section 12.
EXPECTED = {
    "a": Frame(Kind.REQUEST, 1, 0, "echo", b'"hi"', JSON),
    "b": Frame(Kind.REPLY, 1, 0, "", b'"hi"', JSON),
    "c": Frame(Kind.ERROR, 7, to_unsigned(-11), "", encode_error("no such method"), JSON),
    "d": Frame(Kind.ROW, 3, 2, "out", b"\x01\x02\x03", RAW),
    "e": Frame(Kind.HELLO, 0, 1, "w", b"pid=42\nmethod=echo\n", RAW),
    "f": Frame(Kind.PING, 9, 0, "", b"", RAW),
    "g": Frame(Kind.GOODBYE, 0, 2, "", b"bad token", RAW),
    "h": Frame(Kind.CREDIT, 3, 524288, "", b"", RAW),
    "i": Frame(Kind.LOG, 3, 4, "", encode_log("disk slow", [("ms", "250")]), RAW),
}


def test_every_vector_of_the_document_is_checked():
    assert sorted(doc_vectors()) == sorted(EXPECTED)


@pytest.mark.parametrize("letter", sorted(EXPECTED))
def test_vector(letter):
    data = doc_vectors()[letter]
    want = EXPECTED[letter]
    assert want.encode() == data
    frame, used = decode_frame(data + b"\x57trailing")
    assert used == len(data)
    assert frame == want


def test_error_vector_reads_back():
    f, _ = decode_frame(doc_vectors()["c"])
    assert to_signed(f.aux) == -11
    assert decode_error(f.payload) == (b"no such method", b"")


def test_partial_frames_wait_for_more():
    data = doc_vectors()["a"]
    for n in range(len(data)):
        assert decode_frame(data[:n]) == (None, 0)


@pytest.mark.parametrize("header, why", [
    (b"\x58\x03\x01\x04\x04\0\0\0\x01\0\0\0\0\0\0\0", "magic"),
    (b"\x57\x00\x01\x04\x04\0\0\0\x01\0\0\0\0\0\0\0", "kind"),
    (b"\x57\x10\x01\x04\x04\0\0\0\x01\0\0\0\0\0\0\0", "kind"),
    (b"\x57\x03\x05\x04\x04\0\0\0\x01\0\0\0\0\0\0\0", "reserved"),
    (b"\x57\x03\x03\x04\x04\0\0\0\x01\0\0\0\0\0\0\0", "encoding"),
])
def test_bad_headers_are_violations(header, why):
    with pytest.raises(Violation, match=why):
        decode_header(header, 1 << 20)


def test_a_payload_over_the_limit_is_refused_from_the_header():
    header = encode_frame(Kind.REPLY, 1, 0, b"", b"x" * 101)[:16]
    with pytest.raises(Violation) as e:
        decode_header(header, 100)
    assert e.value.too_big
    assert decode_header(header, 101)[3] == 101


def test_names_are_bounded():
    assert len(encode_frame(Kind.ROW, 1, 1, "s" * 255)) == 16 + 255
    with pytest.raises(ValueError):
        encode_frame(Kind.ROW, 1, 1, "s" * 256)
    with pytest.raises(ValueError):
        encode_frame(Kind.ROW, 1, 1, "a\0b")
    with pytest.raises(ValueError):
        encode_frame(Kind.ROW, 1, 1, "", b"", 3)
    assert frame_size("out", 3) == 22


def test_handshake_lines():
    data = encode_lines([("pid", 4242), ("method", "echo"), ("method", "sum"),
                         ("meta.version", "1.0"), ("empty", "")])
    assert data == b"pid=4242\nmethod=echo\nmethod=sum\nmeta.version=1.0\nempty=\n"
    assert decode_lines(data) == [("pid", "4242"), ("method", "echo"), ("method", "sum"),
                                  ("meta.version", "1.0"), ("empty", "")]
    assert decode_lines(b"a=b=c\n") == [("a", "b=c")]
    assert decode_lines(b"") == []
    for bad in (b"pid=1", b"novalue\n", b"=x\n", b"\xff=1\n"):
        with pytest.raises(Violation):
            decode_lines(bad)
    for pair in (("", "x"), ("a=b", "x"), ("k", "a\nb"), ("k", "nul\0")):
        with pytest.raises(ValueError):
            encode_lines([pair])


def test_error_payloads():
    assert encode_error("hi", b"{}") == b"\x02\0\0\0hi{}"
    assert decode_error(b"\x02\0\0\0hi{}") == (b"hi", b"{}")
    assert decode_error(b"\0\0\0\0") == (b"", b"")
    for bad in (b"", b"\x01\0\0", b"\x05\0\0\0abc"):
        with pytest.raises(Violation):
            decode_error(bad)
    assert to_unsigned(-11) == 0xFFFFFFF5 and to_signed(0xFFFFFFF5) == -11
    assert to_signed(451) == 451


def test_errors_are_fitted_to_the_limit():
    # Fits: kept whole.
    assert fit_error("message", b"data", 100) == (encode_error("message", b"data"), True)
    # The data goes first, then the message is shortened, never inside a
    # UTF-8 sequence.
    assert fit_error("message", b"d" * 200, 100) == (encode_error("message"), False)
    assert fit_error("\u00e9" * 10, b"x", 4 + 5) == (encode_error("\u00e9\u00e9"), False)
    # Messages are cut at 64 KiB whatever the limit.
    body, _ = fit_error("m" * 70000, b"", 1 << 20)
    assert len(decode_error(body)[0]) == 65536


def test_the_worked_example_of_7_6():
    """The table of section 7.6, with W = 1048576 and 300000-byte rows."""
    w, out = 1048576, 0
    steps = [("send", 300000), ("send", 300000), ("send", 300000), ("wait", 300000),
             ("credit", 600000), ("send", 300000), ("wait", 2000000), ("credit", 600000),
             ("send", 2000000)]
    for what, n in steps:
        if what == "credit":
            out -= n
            continue
        assert may_send(w, out, n) == (what == "send"), (what, n, out)
        if what == "send":
            out += n
    assert out == 2000000
    assert not may_send(w, out, 1)
    assert may_send(0, 1 << 40, 1 << 30)  # no window


@pytest.mark.parametrize("enc, value", [
    (JSON, {"a": [1, 2.5, "\u00e9", None, True]}),
    (JSON, None),
    (RAW, b"\x00\xff"),
    (MSGPACK, {"a": [1, b"\x00", "x"]}),
])
def test_payload_round_trips(enc, value):
    if enc == MSGPACK and not payload.have_msgpack():
        pytest.skip("msgpack is not installed")
    assert payload.decode(enc, payload.encode(enc, value)) == value


def test_payload_rules():
    assert payload.decode(JSON, b"") is None
    assert payload.decode(RAW, b"") == b""
    assert payload.encode(RAW, None) == b""
    assert payload.encode(JSON, {"k": "\u00e9"}) == '{"k":"\u00e9"}'.encode()
    with pytest.raises(PayloadError, match="invalid JSON"):
        payload.decode(JSON, b"{nope")
    with pytest.raises(PayloadError, match="invalid JSON"):
        payload.decode(JSON, b"\xff")
    with pytest.raises(ValueError):
        payload.encode(JSON, float("nan"))
    with pytest.raises(TypeError):
        payload.encode(RAW, "text")
    assert payload.encoding_of("msgpack") == MSGPACK and payload.encoding_of(0) == RAW
    with pytest.raises(ValueError):
        payload.encoding_of(3)


def test_without_msgpack(monkeypatch):
    monkeypatch.setattr(payload, "msgpack", None)
    assert not payload.have_msgpack()
    with pytest.raises(Error, match="msgpack module is not installed"):
        payload.decode(MSGPACK, b"\x01")
    with pytest.raises(Error, match="msgpack module is not installed"):
        payload.encode(MSGPACK, 1)


@pytest.mark.parametrize("message, fields", [
    ("x" * 4097, []),
    ("nul \0", []),
    (b"\xc3\x28", []),
    ("m", [("k", "v")] * 33),
    ("m", [("a b", "v")]),
    ("m", [("", "v")]),
    ("m", [("k", "v" * 1025)]),
    ("m", [("k", "1"), ("k", "2")]),
])
def test_log_record_rules(message, fields):
    with pytest.raises(ValueError):
        encode_log(message, fields)


def test_log_line_as_ward_formats_it():
    fields = [("ms", "250"), ("path", "/a b"), ("q", 'say "hi"\\'), ("e", "")]
    assert format_log(4, "disk\tslow\n", fields, 3) == \
        'WARN disk\tslow? ms=250 path="/a b" q="say \\"hi\\"\\\\" e="" (call 3)'
    assert format_log(1, "") == "TRACE "
