'use strict';
// The frames of lib/protocol.js against the test vectors of
// docs/protocol.md section 12, read from the document itself: each
// vector's bytes decode to the fields its table gives, and encoding those
// fields gives the bytes back. Then the rules around them.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const P = require('../lib/protocol');

const doc = fs.readFileSync(path.join(__dirname, '../../../docs/protocol.md'), 'utf8');
const section = doc.slice(doc.indexOf('## 12. Test vectors'), doc.indexOf('## 13.'));

// [{title, row: table cells, bytes: Buffer}] for each vector.
function vectors() {
  const out = [];
  for (const part of section.split('\n### ').slice(1)) {
    const title = part.split('\n')[0];
    const row = part.split('\n').find((l) => /^\| 0x57 \|/.test(l));
    const hex = /```\n([\s\S]*?)```/.exec(part);
    if (!row || !hex) continue;
    const bytes = Buffer.from(hex[1].split('\n').map((l) => l.replace(/^[0-9a-f]+:/, '')).join('').replace(/\s+/g, ''), 'hex');
    out.push({ title, row: row.split('|').slice(1, -1).map((c) => c.trim()), bytes });
  }
  return out;
}

test('the vectors of protocol.md section 12 decode and encode back', () => {
  const vs = vectors();
  assert.ok(vs.length >= 7, `found ${vs.length} vectors`);
  for (const v of vs) {
    const r = new P.FrameReader();
    r.push(v.bytes);
    const f = r.next();
    assert.ok(f, v.title);
    assert.equal(r.size, 0, `${v.title}: bytes left over`);
    const [, kind, flags, nlen, len, id, aux] = v.row;
    assert.equal(f.kind, parseInt(kind, 10), v.title);
    assert.equal(f.encoding, parseInt(flags, 10), v.title);
    assert.equal(Buffer.byteLength(f.name), parseInt(nlen, 10), v.title);
    assert.equal(f.payload.length, parseInt(len, 10), v.title);
    assert.equal(f.id, parseInt(id, 10), v.title);
    assert.equal(P.toSigned(f.aux), parseInt(aux, 10), v.title);
    const again = P.encodeFrame(f.kind, f.id, P.toSigned(f.aux), f.name, f.payload, f.encoding);
    assert.deepEqual(again, v.bytes, v.title);
  }
});

test('frames split anywhere are reassembled', () => {
  const a = P.encodeFrame(P.Kind.ROW, 3, 2, 'out', Buffer.from([1, 2, 3]));
  const b = P.encodeFrame(P.Kind.PING, 9);
  const all = Buffer.concat([a, b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new P.FrameReader();
    r.push(all.subarray(0, cut));
    const got = [];
    let f;
    while ((f = r.next())) got.push(f);
    r.push(all.subarray(cut));
    while ((f = r.next())) got.push(f);
    assert.deepEqual(got.map((x) => x.kind), [P.Kind.ROW, P.Kind.PING], `cut at ${cut}`);
    assert.deepEqual(got[0].payload, Buffer.from([1, 2, 3]));
  }
});

test('bad headers are violations, checked before the body arrives', () => {
  const good = P.encodeFrame(P.Kind.PING, 1);
  const cases = [
    [0, 0x58, /magic/], [1, 0, /kind/], [1, 16, /kind/], [2, 4, /flag/], [2, 3, /encoding 3/],
  ];
  for (const [at, value, want] of cases) {
    const bad = Buffer.from(good);
    bad[at] = value;
    const r = new P.FrameReader();
    r.push(bad);
    assert.throws(() => r.next(), (e) => e instanceof P.Violation && want.test(e.message));
  }
  // A payload over the limit: refused from the header alone, as too big.
  const r = new P.FrameReader(100);
  r.push(P.encodeFrame(P.Kind.REQUEST, 1, 0, 'm', Buffer.alloc(101)).subarray(0, 16));
  assert.throws(() => r.next(), (e) => e instanceof P.Violation && e.tooBig);
  // A name that is not UTF-8.
  const n = P.encodeFrame(P.Kind.NOTIFY, 0, 0, Buffer.from([0xff]));
  const r2 = new P.FrameReader();
  r2.push(n);
  assert.throws(() => r2.next(), /UTF-8/);
});

test('handshake lines, errors and the flow-control rule', () => {
  const lines = P.encodeLines([['pid', 42], ['method', 'echo']]);
  assert.equal(lines.toString(), 'pid=42\nmethod=echo\n');
  assert.deepEqual(P.decodeLines(lines), [['pid', '42'], ['method', 'echo']]);
  assert.throws(() => P.decodeLines(Buffer.from('pid=1')), P.Violation);
  assert.throws(() => P.decodeLines(Buffer.from('=1\n')), P.Violation);
  assert.throws(() => P.encodeLines([['a=b', 1]]), RangeError);
  const e = P.decodeError(P.encodeError('no', Buffer.from('{}')));
  assert.equal(e.message.toString(), 'no');
  assert.equal(e.data.toString(), '{}');
  assert.throws(() => P.decodeError(Buffer.from([9, 0, 0, 0, 1])), P.Violation);
  // Data dropped, then the message cut at a character, to fit a limit.
  const fit = P.fitError('é'.repeat(10), Buffer.alloc(100), 9);
  assert.equal(fit.dataKept, false);
  assert.equal(P.decodeError(fit.payload).message.toString(), 'éé');
  assert.ok(P.maySend(0, 1e9, 1e9));
  assert.ok(P.maySend(100, 50, 1000)); // at most half outstanding: any frame
  assert.ok(P.maySend(100, 60, 40));
  assert.ok(!P.maySend(100, 60, 41));
});

// Log records (8.4): vector (i) built by the encoder, from the frame's
// fields as the document states them.
test('vector (i): a LOG frame from encodeLog', () => {
  const v = vectors().find((x) => x.title.startsWith('(i) '));
  assert.ok(v, 'no vector (i) in protocol.md section 12');
  const data = P.encodeLog('disk slow', P.logPairs({ ms: 250 }));
  assert.equal(data.length, 26);
  assert.deepEqual(P.encodeFrame(P.Kind.LOG, 3, P.logLevel('warn'), '', data), v.bytes);
  assert.deepEqual(P.encodeLog(''), Buffer.alloc(4)); // an empty message, no fields
});

test('log levels: names, numbers, and nothing else', () => {
  assert.deepEqual(['trace', 'debug', 'info', 'warn', 'error'].map(P.logLevel), [1, 2, 3, 4, 5]);
  assert.equal(P.logLevel('WARNING'), 4);
  assert.equal(P.logLevel('Error'), 5);
  assert.equal(P.logLevel(1), 1);
  for (const bad of ['loud', 'critical', '', 'toString', 0, 6, 2.5, '3', null, undefined]) {
    assert.throws(() => P.logLevel(bad), RangeError, String(bad));
  }
});

test('a record that breaks a rule of 8.4 is refused', () => {
  const enc = (m, f) => P.encodeLog(m, P.logPairs(f));
  // At the limits: accepted.
  enc('m'.repeat(P.LOG_MESSAGE_MAX));
  enc('é'.repeat(P.LOG_MESSAGE_MAX / 2)); // counted in bytes
  enc('m', { ['k'.repeat(P.LOG_KEY_MAX)]: 'v'.repeat(P.LOG_VALUE_MAX), 'a.b-c_D9': '' });
  enc('m', Object.fromEntries(Array.from({ length: P.LOG_FIELDS_MAX }, (_, i) => [`k${i}`, i])));
  // Past them, or against the rules: RangeError.
  for (const [what, m, f] of [
    ['long message', 'm'.repeat(P.LOG_MESSAGE_MAX + 1)],
    ['long message in bytes', 'é'.repeat(P.LOG_MESSAGE_MAX / 2 + 1)],
    ['NUL in message', 'a\0b'],
    ['lone surrogate', 'a\uD800b'],
    ['message not UTF-8', Buffer.from([0x61, 0xff])],
    ['long value', 'm', { k: 'v'.repeat(P.LOG_VALUE_MAX + 1) }],
    ['NUL in value', 'm', { k: '\0' }],
    ['long key', 'm', { ['k'.repeat(P.LOG_KEY_MAX + 1)]: 'v' }],
    ['empty key', 'm', { '': 'v' }],
    ['space in key', 'm', { 'a b': 'v' }],
    ['non-ASCII key', 'm', { 'clé': 'v' }],
    ['too many fields', 'm', Object.fromEntries(Array.from({ length: P.LOG_FIELDS_MAX + 1 }, (_, i) => [`k${i}`, i]))],
    ['key twice', 'm', [['k', '1'], ['k', '2']]],
  ]) {
    assert.throws(() => enc(m, f), RangeError, what);
  }
  // Fields that are no fields: TypeError.
  assert.throws(() => P.logPairs('k=v'), TypeError);
  assert.throws(() => P.logPairs(42), TypeError);
  assert.throws(() => P.logPairs([['k']]), TypeError);
  assert.throws(() => P.logPairs([[1, 'v']]), TypeError);
  // A Map and pairs keep their order; values are made strings.
  assert.deepEqual(P.logPairs(new Map([['b', 1], ['a', true]])), [['b', '1'], ['a', 'true']]);
  assert.deepEqual(P.logPairs(null), []);
});

// The same lines as ward_log_format (tests/test_slog.c test_format) and
// Python's format_log.
test('formatLog: the line ward prints for a record', () => {
  // test_format's own case.
  assert.equal(P.formatLog(4, 'disk\tslow\n', [['ms', '250'], ['path', '/a b'], ['q', 'say "hi"\\'], ['e', '']], 3),
    'WARN disk\tslow? ms=250 path="/a b" q="say \\"hi\\"\\\\" e="" (call 3)');
  assert.equal(P.formatLog(1, '', [], 0), 'TRACE ');
  assert.equal(P.formatLog(5, 'tab\there, bell\x07', []), 'ERROR tab\there, bell?');
  assert.equal(P.formatLog(1, 'm', [['e', ''], ['q', 'say "hi"'], ['b', 'a\\b'], ['eq', 'a=b']]),
    'TRACE m e="" q="say \\"hi\\"" b="a\\\\b" eq="a=b"');
  assert.equal(P.formatLog(3, 'line\nbreak', [['k', 'v\r']], 0), 'INFO line?break k=v?');
  assert.equal(P.formatLog(2, 'x', [['k', 'tab\tin']], 4294967295), 'DEBUG x k="tab\tin" (call 4294967295)');
});
