"""The bytes of the ward protocol, version 1 (docs/protocol.md): frames,
handshake lines, ERROR payloads and the flow-control rule.

Pure functions and constants, no I/O: the worker (ward.worker) is built on
them, and a program that speaks the protocol some other way (a test host, a
proxy) may use them too. Section numbers below are those of
docs/protocol.md.
"""

import enum
import struct

__all__ = [
    "VERSION", "MAGIC", "HEADER_SIZE", "MAX_NAME", "MAX_FRAME_DEFAULT",
    "WINDOW_DEFAULT", "MAX_ERROR_MESSAGE", "Kind", "RAW", "JSON", "MSGPACK",
    "Frame", "Violation", "encode_frame", "decode_header", "decode_frame",
    "encode_lines", "decode_lines", "encode_error", "decode_error",
    "fit_error", "cut_utf8", "may_send", "frame_size", "to_signed", "to_unsigned",
]

VERSION = 1                         # the protocol version spoken (6.3)
MAGIC = 0x57                        # byte 0 of every frame, 'W' (3.1)
HEADER = struct.Struct("<BBBBIII")  # magic kind flags nlen len id aux
HEADER_SIZE = HEADER.size           # 16
MAX_NAME = 255                      # a name's bytes at most (3.2)
MAX_FRAME_DEFAULT = 64 * 1024 * 1024  # a payload's default limit (3.3)
WINDOW_DEFAULT = 1024 * 1024        # a ward host's default window (7.6)
MAX_ERROR_MESSAGE = 64 * 1024       # ward cuts ERROR messages there (7.3)

# Payload encodings: the low two bits of `flags` (section 4).
RAW, JSON, MSGPACK = 0, 1, 2


class Kind(enum.IntEnum):
    """The message kinds of section 5."""
    HELLO = 1
    WELCOME = 2
    REQUEST = 3
    REPLY = 4
    ERROR = 5
    NOTIFY = 6
    PROGRESS = 7
    ROW = 8
    DIAG = 9
    CANCEL = 10
    PING = 11
    PONG = 12
    GOODBYE = 13
    CREDIT = 14
    LOG = 15


class Violation(Exception):
    """The peer broke the protocol (section 10): the connection must close.

    `too_big` tells a payload over the receiver's limit apart, which ward
    reports as ETOOBIG rather than EPROTO."""

    def __init__(self, message, too_big=False):
        super().__init__(message)
        self.too_big = too_big


class Frame:
    """One frame: kind, encoding, id, aux, name (str) and payload (bytes).

    `aux` is kept as the unsigned 32-bit value of the wire; use
    to_signed() for an ERROR's code."""

    __slots__ = ("kind", "encoding", "id", "aux", "name", "payload")

    def __init__(self, kind, id=0, aux=0, name="", payload=b"", encoding=RAW):
        self.kind = kind
        self.encoding = encoding
        self.id = id
        self.aux = aux
        self.name = name
        self.payload = payload

    def encode(self):
        """The frame's bytes."""
        return encode_frame(self.kind, self.id, self.aux, self.name, self.payload,
                            self.encoding)

    def __repr__(self):
        kind = Kind(self.kind).name if 1 <= self.kind <= 15 else self.kind
        return "Frame(%s, id=%d, aux=%d, name=%r, encoding=%d, payload=%r)" % (
            kind, self.id, self.aux, self.name, self.encoding, bytes(self.payload[:64]))

    def __eq__(self, other):
        return isinstance(other, Frame) and all(
            getattr(self, k) == getattr(other, k) for k in self.__slots__)


def to_unsigned(value):
    """A signed 32-bit value (an error code) as the u32 of the wire."""
    return value & 0xFFFFFFFF


def to_signed(value):
    """The u32 of the wire as a signed 32-bit value (two's complement)."""
    return value - (1 << 32) if value & 0x80000000 else value


def _name_bytes(name):
    if isinstance(name, str):
        name = name.encode("utf-8")
    if len(name) > MAX_NAME:
        raise ValueError("a name is at most %d bytes, not %d" % (MAX_NAME, len(name)))
    if b"\0" in name:
        raise ValueError("a name holds no NUL byte")
    return name


def frame_size(name, payload_len):
    """The bytes a frame takes on the wire: what flow control counts (7.6)."""
    return HEADER_SIZE + len(_name_bytes(name)) + payload_len


def encode_frame(kind, id=0, aux=0, name=b"", payload=b"", encoding=RAW):
    """The bytes of one frame (3.1). `aux` may be negative (an error code);
    `name` is str or bytes. Raises ValueError for a name over 255 bytes or
    holding a NUL byte, an encoding other than 0..2, a bad kind."""
    if not 1 <= kind <= 15:
        raise ValueError("no message kind %r" % (kind,))
    if encoding not in (RAW, JSON, MSGPACK):
        raise ValueError("no payload encoding %r" % (encoding,))
    name = _name_bytes(name)
    return (HEADER.pack(MAGIC, kind, encoding, len(name), len(payload), id & 0xFFFFFFFF,
                        to_unsigned(aux))
            + name + bytes(payload))


def decode_header(header, max_frame):
    """Checks a 16-byte header as a receiver must before it reads the body
    (3.4, 10). Returns (kind, encoding, nlen, length, id, aux); raises
    Violation for a bad magic, kind, flags or a payload over `max_frame`."""
    magic, kind, flags, nlen, length, id, aux = HEADER.unpack(header)
    if magic != MAGIC:
        raise Violation("bad magic 0x%02x" % magic)
    if not 1 <= kind <= 15:
        raise Violation("unknown message kind %d" % kind)
    if flags & 0xFC:
        raise Violation("reserved flag bits set (0x%02x)" % flags)
    if flags & 3 == 3:
        raise Violation("invalid payload encoding 3")
    if length > max_frame:
        raise Violation("a payload of %d bytes, over the limit of %d" % (length, max_frame),
                        too_big=True)
    return kind, flags & 3, nlen, length, id, aux


def decode_frame(data, max_frame=MAX_FRAME_DEFAULT):
    """Decodes the first frame of `data`. Returns (Frame, bytes used), or
    (None, 0) when `data` does not hold a whole frame yet. Raises Violation
    as decode_header does, and for a name that is not UTF-8."""
    if len(data) < HEADER_SIZE:
        return None, 0
    kind, enc, nlen, length, id, aux = decode_header(bytes(data[:HEADER_SIZE]), max_frame)
    end = HEADER_SIZE + nlen + length
    if len(data) < end:
        return None, 0
    try:
        name = bytes(data[HEADER_SIZE:HEADER_SIZE + nlen]).decode("utf-8")
    except UnicodeDecodeError:
        raise Violation("a name that is not UTF-8") from None
    payload = bytes(data[HEADER_SIZE + nlen:end])
    return Frame(kind, id, aux, name, payload, enc), end


def encode_lines(pairs):
    """Handshake lines (6.1): `key=value\\n` for each (key, value) pair,
    values str or int. Raises ValueError for a key that is empty or holds
    `=`, or a key or value holding a newline or a NUL byte."""
    out = []
    for key, value in pairs:
        value = str(value)
        if not key or "=" in key or "\n" in key or "\0" in key:
            raise ValueError("bad handshake key %r" % (key,))
        if "\n" in value or "\0" in value:
            raise ValueError("bad handshake value %r for %s" % (value, key))
        out.append("%s=%s\n" % (key, value))
    return "".join(out).encode("utf-8")


def decode_lines(payload):
    """The (key, value) pairs of a handshake payload (6.1), in order;
    repeated keys repeat. Raises Violation for a line without `=`, with an
    empty key, or without its final newline, or bytes that are not UTF-8."""
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise Violation("handshake lines that are not UTF-8") from None
    if text and not text.endswith("\n"):
        raise Violation("handshake lines that do not end with a newline")
    pairs = []
    for line in text.split("\n")[:-1]:
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise Violation("a handshake line without a key: %r" % line)
        pairs.append((key, value))
    return pairs


def encode_error(message, data=b""):
    """An ERROR payload (7.3): the message's length (u32), the message
    (str or bytes), then the error data."""
    if isinstance(message, str):
        message = message.encode("utf-8")
    return struct.pack("<I", len(message)) + message + bytes(data)


def decode_error(payload):
    """(message bytes, data bytes) of an ERROR payload (7.3); raises
    Violation when it is shorter than 4 bytes or its message length runs
    past its end."""
    if len(payload) < 4:
        raise Violation("an ERROR payload of %d bytes, under 4" % len(payload))
    (mlen,) = struct.unpack_from("<I", payload)
    if mlen > len(payload) - 4:
        raise Violation("an ERROR message of %d bytes in a payload of %d" % (mlen, len(payload)))
    return bytes(payload[4:4 + mlen]), bytes(payload[4 + mlen:])


def cut_utf8(data, limit):
    """`data` cut to at most `limit` bytes, not inside a UTF-8 sequence."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


def fit_error(message, data, limit):
    """An ERROR payload that fits a peer's `limit`: as ward does (7.3), the
    message is cut at 64 KiB, then the data dropped if the whole does not
    fit, then the message shortened. Returns (payload, data_kept)."""
    if isinstance(message, str):
        message = message.encode("utf-8")
    message = cut_utf8(message, MAX_ERROR_MESSAGE)
    if 4 + len(message) + len(data) <= limit:
        return encode_error(message, data), True
    return encode_error(cut_utf8(message, max(limit - 4, 0))), False


def may_send(window, outstanding, n):
    """The sending rule of 7.6: whether a callee may send a PROGRESS or ROW
    frame of `n` bytes with `outstanding` bytes not yet credited, under the
    caller's `window` (0: no flow control)."""
    return window == 0 or outstanding <= window // 2 or outstanding + n <= window


# Log records (section 8.4): levels, and the limits a record keeps.
LOG_LEVELS = {"trace": 1, "debug": 2, "info": 3, "warn": 4, "error": 5}
LOG_MESSAGE_MAX = 4096
LOG_FIELDS_MAX = 32
LOG_KEY_MAX = 64
LOG_VALUE_MAX = 1024
_LOG_KEY_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def encode_log(message, fields=()):
    """A LOG payload (8.4): the message, then each (key, value) of
    `fields`, every string behind its u32 length. Strings are encoded as
    UTF-8. Raises ValueError for a record that breaks a rule of 8.4."""
    def text(s, what, limit):
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        if len(b) > limit:
            raise ValueError("a log %s of %d bytes, over %d" % (what, len(b), limit))
        if b"\0" in b:
            raise ValueError("a log %s holds a NUL byte" % what)
        b.decode("utf-8")        # bytes given must be UTF-8 too (UnicodeError is a ValueError)
        return struct.pack("<I", len(b)) + b
    fields = list(fields)
    if len(fields) > LOG_FIELDS_MAX:
        raise ValueError("%d log fields, over %d" % (len(fields), LOG_FIELDS_MAX))
    keys = [k for k, _ in fields]
    if len(set(keys)) != len(keys):
        raise ValueError("a log field key given twice")
    out = [text(message, "message", LOG_MESSAGE_MAX)]
    for key, value in fields:
        k = key.encode("ascii", "replace") if isinstance(key, str) else bytes(key)
        if not 1 <= len(k) <= LOG_KEY_MAX or not set(k) <= _LOG_KEY_CHARS:
            raise ValueError("a log field key is 1..%d bytes of [A-Za-z0-9_.-], not %r"
                             % (LOG_KEY_MAX, key))
        out.append(struct.pack("<I", len(k)) + k)
        out.append(text(value, "field value", LOG_VALUE_MAX))
    return b"".join(out)


def format_log(level, message, fields=(), call_id=0):
    """A record as one readable line, as ward prints records (ward.h
    ward_log_format): "WARN disk slow ms=250 path=\"/a b\" (call 3)"."""
    names = {v: k for k, v in LOG_LEVELS.items()}

    def clean(text):
        return "".join("?" if (ord(c) < 0x20 and c != "\t") or c == "\x7f" else c
                       for c in text)

    def value(v):
        if v and not any(c in v for c in " \t\"=\\"):
            return clean(v)
        return '"' + clean(v.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    parts = [names.get(level, "unknown").upper() + " " + clean(message)]
    parts += ["%s=%s" % (clean(k), value(v)) for k, v in fields]
    if call_id:
        parts.append("(call %d)" % call_id)
    return " ".join(parts)
