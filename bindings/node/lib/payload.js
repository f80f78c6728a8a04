'use strict';
// Payloads as values, by their encoding tag (docs/protocol.md 4):
// - raw (0): bytes (a Buffer or Uint8Array; null/undefined: empty);
// - JSON (1): UTF-8 JSON text; an empty payload is null;
// - MessagePack (2): with the `@msgpack/msgpack` package when it can be
//   loaded (it is not a dependency: install it beside your worker);
//   without it, MessagePack payloads cannot be decoded or made, and
//   handlers that are not raw fail such calls with a message that says so.

const { RAW, JSON: JSON_ENC, MSGPACK } = require('./protocol');
const { WardError, PayloadError, codes } = require('./errors');

let msgpack = null;
try {
  msgpack = require('@msgpack/msgpack'); // optional
} catch (e) {
  msgpack = null;
}

const NAMES = { raw: RAW, json: JSON_ENC, msgpack: MSGPACK };

function haveMsgpack() {
  return msgpack !== null;
}

// An encoding tag from 0..2 or a name ("raw", "json", "msgpack").
function encodingOf(value) {
  if (typeof value === 'string') {
    const tag = NAMES[value.toLowerCase()];
    if (tag === undefined) throw new RangeError(`no payload encoding ${JSON.stringify(value)}`);
    return tag;
  }
  if (value === RAW || value === JSON_ENC || value === MSGPACK) return value;
  throw new RangeError(`no payload encoding ${value}`);
}

function noMsgpack() {
  return new WardError(codes.EINVAL,
    'a MessagePack payload, but the @msgpack/msgpack package is not installed');
}

function isBytes(v) {
  return Buffer.isBuffer(v) || v instanceof Uint8Array;
}

function toBuffer(v) {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

// The value of `payload` (a Buffer) tagged `encoding`.
function decode(encoding, payload) {
  if (encoding === RAW) return payload;
  if (payload.length === 0) return null;
  if (encoding === JSON_ENC) {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
    } catch (e) {
      throw new PayloadError(`invalid JSON: ${e.message}`);
    }
  }
  if (!msgpack) throw noMsgpack();
  try {
    return msgpack.decode(payload);
  } catch (e) {
    throw new PayloadError(`invalid MessagePack: ${e.message}`);
  }
}

// The bytes of `value` in `encoding`.
function encode(encoding, value) {
  if (encoding === RAW) {
    if (value === null || value === undefined) return Buffer.alloc(0);
    if (isBytes(value)) return toBuffer(value);
    throw new TypeError(`a raw payload is bytes (a Buffer), not ${typeof value}`);
  }
  if (encoding === JSON_ENC) {
    const text = JSON.stringify(value === undefined ? null : value);
    if (text === undefined) throw new TypeError(`a ${typeof value} has no JSON form`);
    return Buffer.from(text, 'utf8');
  }
  if (!msgpack) throw noMsgpack();
  return toBuffer(msgpack.encode(value));
}

module.exports = { haveMsgpack, encodingOf, decode, encode, isBytes, toBuffer };
