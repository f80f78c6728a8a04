'use strict';
// The bytes of the ward protocol, version 1 (docs/protocol.md): frames,
// handshake lines, ERROR payloads and the flow-control rule. Pure
// functions and constants, no I/O; section numbers are those of
// docs/protocol.md.

const VERSION = 1; // the protocol version spoken (6.3)
const MAGIC = 0x57; // byte 0 of every frame, 'W' (3.1)
const HEADER_SIZE = 16;
const MAX_NAME = 255; // a name's bytes at most (3.2)
const MAX_FRAME_DEFAULT = 64 * 1024 * 1024; // a payload's default limit (3.3)
const MAX_ERROR_MESSAGE = 64 * 1024; // ward cuts ERROR messages there (7.3)

// Payload encodings: the low two bits of `flags` (4).
const RAW = 0;
const JSON_ENC = 1;
const MSGPACK = 2;

// The message kinds of section 5.
const Kind = Object.freeze({
  HELLO: 1, WELCOME: 2, REQUEST: 3, REPLY: 4, ERROR: 5, NOTIFY: 6, PROGRESS: 7,
  ROW: 8, DIAG: 9, CANCEL: 10, PING: 11, PONG: 12, GOODBYE: 13, CREDIT: 14, LOG: 15,
});
const KIND_NAMES = Object.fromEntries(Object.entries(Kind).map(([k, v]) => [v, k]));

// The peer broke the protocol (section 10): the connection must close.
// `tooBig` tells a payload over the receiver's limit apart.
class Violation extends Error {
  constructor(message, tooBig = false) {
    super(message);
    this.name = 'Violation';
    this.tooBig = tooBig;
  }
}

function nameBytes(name) {
  const b = Buffer.isBuffer(name) ? name : Buffer.from(name || '', 'utf8');
  if (b.length > MAX_NAME) throw new RangeError(`a name is at most ${MAX_NAME} bytes, not ${b.length}`);
  if (b.includes(0)) throw new RangeError('a name holds no NUL byte');
  return b;
}

// The bytes of one frame (3.1). `aux` may be negative (an error code);
// `name` a string or a Buffer; `payload` a Buffer (or empty).
function encodeFrame(kind, id = 0, aux = 0, name = '', payload = Buffer.alloc(0), encoding = RAW) {
  if (!(kind >= 1 && kind <= 15)) throw new RangeError(`no message kind ${kind}`);
  if (encoding !== RAW && encoding !== JSON_ENC && encoding !== MSGPACK) {
    throw new RangeError(`no payload encoding ${encoding}`);
  }
  const n = nameBytes(name);
  const body = payload || Buffer.alloc(0);
  const buf = Buffer.allocUnsafe(HEADER_SIZE + n.length + body.length);
  buf[0] = MAGIC;
  buf[1] = kind;
  buf[2] = encoding;
  buf[3] = n.length;
  buf.writeUInt32LE(body.length, 4);
  buf.writeUInt32LE(id >>> 0, 8);
  buf.writeUInt32LE(aux >>> 0, 12);
  n.copy(buf, HEADER_SIZE);
  if (body.length) Buffer.from(body.buffer, body.byteOffset, body.length).copy(buf, HEADER_SIZE + n.length);
  return buf;
}

// Checks a 16-byte header as a receiver must before reading the body
// (3.4, 10); returns its fields or throws a Violation.
function decodeHeader(buf, offset, maxFrame) {
  const magic = buf[offset];
  const kind = buf[offset + 1];
  const flags = buf[offset + 2];
  if (magic !== MAGIC) throw new Violation(`bad magic 0x${magic.toString(16)}`);
  if (kind < 1 || kind > 15) throw new Violation(`unknown message kind ${kind}`);
  if (flags & 0xfc) throw new Violation(`reserved flag bits set (0x${flags.toString(16)})`);
  if ((flags & 3) === 3) throw new Violation('invalid payload encoding 3');
  const length = buf.readUInt32LE(offset + 4);
  if (length > maxFrame) {
    throw new Violation(`a payload of ${length} bytes, over the limit of ${maxFrame}`, true);
  }
  return {
    kind, encoding: flags & 3, nlen: buf[offset + 3], length,
    id: buf.readUInt32LE(offset + 8), aux: buf.readUInt32LE(offset + 12),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Cuts a byte stream into frames: push() chunks as they arrive, then
// next() returns frames ({kind, encoding, id, aux, name, payload}) until
// it returns null (no whole frame yet). Throws a Violation on bad input.
class FrameReader {
  constructor(maxFrame = MAX_FRAME_DEFAULT) {
    this.maxFrame = maxFrame;
    this.chunks = [];
    this.size = 0;
  }

  push(chunk) {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
  }

  // The first `n` bytes joined into one buffer (they are there).
  gather(n) {
    if (this.chunks[0].length < n) {
      const all = Buffer.concat(this.chunks, this.size);
      this.chunks = [all];
    }
    return this.chunks[0];
  }

  consume(n) {
    this.size -= n;
    while (n > 0) {
      const first = this.chunks[0];
      if (first.length <= n) {
        this.chunks.shift();
        n -= first.length;
      } else {
        this.chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  next() {
    if (this.size < HEADER_SIZE) return null;
    const h = decodeHeader(this.gather(HEADER_SIZE), 0, this.maxFrame);
    const end = HEADER_SIZE + h.nlen + h.length;
    if (this.size < end) return null;
    const buf = this.gather(end);
    let name = '';
    if (h.nlen) {
      try {
        name = utf8.decode(buf.subarray(HEADER_SIZE, HEADER_SIZE + h.nlen));
      } catch (e) {
        throw new Violation('a name that is not UTF-8');
      }
    }
    // A copy: the chunk it came in may be large, and is let go.
    const payload = Buffer.from(buf.subarray(HEADER_SIZE + h.nlen, end));
    this.consume(end);
    return { kind: h.kind, encoding: h.encoding, id: h.id, aux: h.aux, name, payload };
  }
}

// Handshake lines (6.1): `key=value\n` for each [key, value] pair.
function encodeLines(pairs) {
  let out = '';
  for (const [key, v] of pairs) {
    const value = String(v);
    if (!key || /[=\n\0]/.test(key)) throw new RangeError(`bad handshake key ${JSON.stringify(key)}`);
    if (/[\n\0]/.test(value)) throw new RangeError(`bad handshake value for ${key}`);
    out += `${key}=${value}\n`;
  }
  return Buffer.from(out, 'utf8');
}

// The [key, value] pairs of a handshake payload (6.1), in order.
function decodeLines(payload) {
  let text;
  try {
    text = utf8.decode(payload);
  } catch (e) {
    throw new Violation('handshake lines that are not UTF-8');
  }
  if (text && !text.endsWith('\n')) throw new Violation('handshake lines that do not end with a newline');
  const pairs = [];
  for (const line of text.split('\n').slice(0, -1)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Violation(`a handshake line without a key: ${JSON.stringify(line)}`);
    pairs.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return pairs;
}

// `buf` cut to at most `limit` bytes, not inside a UTF-8 sequence.
function cutUtf8(buf, limit) {
  if (buf.length <= limit) return buf;
  let end = limit;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

// An ERROR payload (7.3): the message's length (u32), the message, the data.
function encodeError(message, data = Buffer.alloc(0)) {
  const m = Buffer.isBuffer(message) ? message : Buffer.from(String(message), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(m.length, 0);
  return Buffer.concat([len, m, data]);
}

// {message: Buffer, data: Buffer} of an ERROR payload, or a Violation.
function decodeError(payload) {
  if (payload.length < 4) throw new Violation(`an ERROR payload of ${payload.length} bytes, under 4`);
  const mlen = payload.readUInt32LE(0);
  if (mlen > payload.length - 4) {
    throw new Violation(`an ERROR message of ${mlen} bytes in a payload of ${payload.length}`);
  }
  return { message: payload.subarray(4, 4 + mlen), data: payload.subarray(4 + mlen) };
}

// An ERROR payload that fits a peer's `limit`, as ward does (7.3): the
// message cut at 64 KiB, then the data dropped if the whole does not
// fit, then the message shortened.
function fitError(message, data, limit) {
  let m = cutUtf8(Buffer.from(String(message), 'utf8'), MAX_ERROR_MESSAGE);
  if (4 + m.length + data.length <= limit) return { payload: encodeError(m, data), dataKept: true };
  m = cutUtf8(m, Math.max(limit - 4, 0));
  return { payload: encodeError(m), dataKept: false };
}

// The sending rule of 7.6: whether a PROGRESS or ROW frame of `n` bytes
// may go with `outstanding` bytes not yet credited (window 0: no limit).
function maySend(window, outstanding, n) {
  return window === 0 || outstanding <= Math.floor(window / 2) || outstanding + n <= window;
}

// The u32 of the wire as a signed 32-bit value (an error code).
function toSigned(v) {
  return v | 0;
}

module.exports = {
  VERSION, MAGIC, HEADER_SIZE, MAX_NAME, MAX_FRAME_DEFAULT, MAX_ERROR_MESSAGE,
  RAW, JSON: JSON_ENC, MSGPACK, Kind, KIND_NAMES, Violation, FrameReader,
  encodeFrame, decodeHeader, encodeLines, decodeLines, encodeError, decodeError,
  fitError, cutUtf8, maySend, toSigned, nameBytes,
};
