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
