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

// Log records (8.4): levels, and the limits a record keeps.
const LOG_LEVELS = Object.freeze({ trace: 1, debug: 2, info: 3, warn: 4, error: 5 });
const LOG_LEVEL_NAMES = Object.freeze(['', 'trace', 'debug', 'info', 'warn', 'error']);
const LOG_MESSAGE_MAX = 4096;
const LOG_FIELDS_MAX = 32;
const LOG_KEY_MAX = 64;
const LOG_VALUE_MAX = 1024;
const LOG_KEY = /^[A-Za-z0-9_.-]+$/;
// A UTF-16 surrogate without its other half: no UTF-8 for it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// The level of a record, 1..5, from a name ("trace" .. "error", or
// "warning"; any case) or a number; RangeError otherwise.
function logLevel(level) {
  if (typeof level === 'string') {
    const name = level.toLowerCase() === 'warning' ? 'warn' : level.toLowerCase();
    if (Object.prototype.hasOwnProperty.call(LOG_LEVELS, name)) return LOG_LEVELS[name];
  } else if (Number.isInteger(level) && level >= 1 && level <= 5) {
    return level;
  }
  throw new RangeError(`no log level ${JSON.stringify(level)}: trace, debug, info, warn, error or 1..5`);
}

// A record's fields as [key, value] pairs, values made strings: from a
// plain object, a Map or an iterable of pairs. TypeError otherwise.
function logPairs(fields) {
  if (fields === undefined || fields === null) return [];
  let entries;
  if (fields instanceof Map) entries = [...fields];
  else if (typeof fields[Symbol.iterator] === 'function' && typeof fields !== 'string') entries = [...fields];
  else if (typeof fields === 'object') entries = Object.entries(fields);
  else throw new TypeError('log fields are an object, a Map or [key, value] pairs');
  return entries.map((e) => {
    if (!Array.isArray(e) || e.length !== 2) throw new TypeError('a log field is a [key, value] pair');
    if (typeof e[0] !== 'string') throw new TypeError(`a log field key is a string, not ${typeof e[0]}`);
    return [e[0], Buffer.isBuffer(e[1]) ? e[1] : String(e[1])];
  });
}

// The UTF-8 bytes of a record's message or value, checked against 8.4.
function logText(s, what, limit) {
  let b;
  if (Buffer.isBuffer(s)) {
    try {
      utf8.decode(s);
    } catch (e) {
      throw new RangeError(`a log ${what} that is not UTF-8`);
    }
    b = s;
  } else {
    if (LONE_SURROGATE.test(s)) throw new RangeError(`a log ${what} that is not UTF-8 (a lone surrogate)`);
    b = Buffer.from(s, 'utf8');
  }
  if (b.length > limit) throw new RangeError(`a log ${what} of ${b.length} bytes, over ${limit}`);
  if (b.includes(0)) throw new RangeError(`a log ${what} holds a NUL byte`);
  return b;
}

// A LOG payload (8.4): the message, then each [key, value] of `pairs`
// (logPairs), every string behind its u32 length. Throws RangeError for
// a record that breaks a rule of 8.4.
function encodeLog(message, pairs = []) {
  if (pairs.length > LOG_FIELDS_MAX) {
    throw new RangeError(`${pairs.length} log fields, over ${LOG_FIELDS_MAX}`);
  }
  const seen = new Set();
  const parts = [logText(Buffer.isBuffer(message) ? message : String(message), 'message', LOG_MESSAGE_MAX)];
  for (const [key, value] of pairs) {
    if (key.length > LOG_KEY_MAX || !LOG_KEY.test(key)) {
      throw new RangeError(`a log field key is 1..${LOG_KEY_MAX} bytes of [A-Za-z0-9_.-], not ${JSON.stringify(key)}`);
    }
    if (seen.has(key)) throw new RangeError(`the log field key ${JSON.stringify(key)} given twice`);
    seen.add(key);
    parts.push(Buffer.from(key, 'latin1'), logText(value, 'field value', LOG_VALUE_MAX));
  }
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    p.copy(out, at + 4);
    at += 4 + p.length;
  }
  return out;
}

// A record as one readable line, as ward prints records (ward.h
// ward_log_format): 'WARN disk slow ms=250 path="/a b" (call 3)'.
function formatLog(level, message, pairs = [], callId = 0) {
  // eslint-disable-next-line no-control-regex
  const clean = (t) => String(t).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '?');
  const value = (v) => {
    const t = String(v);
    if (t && !/[ \t"=\\]/.test(t)) return clean(t);
    return `"${clean(t.replace(/[\\"]/g, '\\$&'))}"`;
  };
  const parts = [`${(LOG_LEVEL_NAMES[level] || 'unknown').toUpperCase()} ${clean(message)}`];
  for (const [k, v] of pairs) parts.push(`${clean(k)}=${value(v)}`);
  if (callId) parts.push(`(call ${callId >>> 0})`);
  return parts.join(' ');
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
  LOG_LEVELS, LOG_MESSAGE_MAX, LOG_FIELDS_MAX, LOG_KEY_MAX, LOG_VALUE_MAX,
  logLevel, logPairs, encodeLog, formatLog,
};
