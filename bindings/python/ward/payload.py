"""Payloads as Python values, by their encoding tag (docs/protocol.md 4).

- RAW (0): bytes, as they are. Values to send must be bytes-like (or None
  for an empty payload).
- JSON (1): UTF-8 JSON text, with the standard library's json. An empty
  payload is None (protocol.md: an empty payload is fine in any encoding).
- MSGPACK (2): MessagePack, with the `msgpack` package when it can be
  imported; without it, MessagePack payloads cannot be decoded or made.
"""

import json

from .errors import Error, PayloadError
from .protocol import JSON, MSGPACK, RAW

try:  # optional: MessagePack payloads
    import msgpack
except ImportError:  # pragma: no cover - depends on the machine
    msgpack = None

__all__ = ["ENCODINGS", "encoding_of", "encode", "decode", "have_msgpack"]

ENCODINGS = {"raw": RAW, "json": JSON, "msgpack": MSGPACK}


def have_msgpack():
    """Whether MessagePack payloads can be encoded and decoded here."""
    return msgpack is not None


def encoding_of(value):
    """An encoding tag from 0..2 or a name ("raw", "json", "msgpack")."""
    if isinstance(value, str):
        try:
            return ENCODINGS[value.lower()]
        except KeyError:
            raise ValueError("no payload encoding %r" % value) from None
    if value in (RAW, JSON, MSGPACK):
        return value
    raise ValueError("no payload encoding %r" % (value,))


def _no_msgpack():
    return Error(None, "MessagePack payload, but the msgpack module is not installed")


def decode(encoding, payload):
    """The value of `payload` (bytes) tagged `encoding`. Raises
    PayloadError for bytes that do not decode, ward.Error when MessagePack
    is not available."""
    if encoding == RAW:
        return bytes(payload)
    if not payload:
        return None
    if encoding == JSON:
        try:
            return json.loads(bytes(payload).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise PayloadError("invalid JSON: %s" % e) from None
    if encoding == MSGPACK:
        if msgpack is None:
            raise _no_msgpack()
        try:
            return msgpack.unpackb(bytes(payload), raw=False)
        except Exception as e:  # msgpack raises several unrelated types
            raise PayloadError("invalid MessagePack: %s" % e) from None
    raise ValueError("no payload encoding %r" % (encoding,))


def encode(encoding, value):
    """The bytes of `value` in `encoding`. Raises TypeError or ValueError
    for a value the encoding cannot hold (NaN in JSON, a str as raw bytes),
    ward.Error when MessagePack is not available."""
    if encoding == RAW:
        if value is None:
            return b""
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        raise TypeError("a raw payload is bytes, not %s" % type(value).__name__)
    if encoding == JSON:
        return json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8")
    if encoding == MSGPACK:
        if msgpack is None:
            raise _no_msgpack()
        return msgpack.packb(value, use_bin_type=True)
    raise ValueError("no payload encoding %r" % (encoding,))
