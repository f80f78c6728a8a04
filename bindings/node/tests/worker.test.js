'use strict';
// The worker side (lib/worker.js): first under ward's C host, through
// `ward conform` (WARD_TEST_WARD names the binary; ctest sets it), then
// frame by frame under a host of the test's own (rawhost.js) for what the
// conformance run does not look at closely: error names and data,
// AbortSignal, the queue, flow control to the byte, heartbeats during an
// async handler and not during a blocking one, goodbyes, the environment.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { RawHost, json, error, Kind, P } = require('./rawhost');
const ward = require('../lib');

const FIXTURE = path.join(__dirname, 'fixture_worker.js');
const CONFORM = path.join(__dirname, '../../../examples/node/conform_worker.js');
const WARD = process.env.WARD_TEST_WARD;

// The example resolves require('ward'): from NODE_PATH, which ctest points
// at a folder linking bindings/node as node_modules/ward.
test('the conformance worker passes ward conform under the C host', { skip: !WARD && 'WARD_TEST_WARD not set' }, () => {
  const r = spawnSync(WARD, ['conform', '--json', process.execPath, CONFORM], {
    encoding: 'utf8', timeout: 170000,
  });
  assert.ok(r.stdout, `no output; stderr: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  const failed = out.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.detail}`);
  assert.deepEqual(failed, []);
  assert.ok(out.checks.length >= 20);
  assert.equal(r.status, 0);
});

test('started without a host: a clear message and status 2', () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARD_')));
  const r = spawnSync(process.execPath, [FIXTURE], { env, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^fixture_worker\.js: this program is a ward worker and is started by a ward host/);
  assert.match(r.stderr, /WARD_FD/);
});

test('the handshake: name, pid, limit, methods', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    assert.equal(h.helloName, 'fx');
    assert.equal(Number(h.hello.get('pid')[0]), h.proc.pid);
    assert.equal(h.hello.get('max_frame')[0], String(P.MAX_FRAME_DEFAULT));
    assert.ok(h.hello.get('method').includes('echo'));
    assert.ok(h.hello.get('method').includes('wait'));
    // The channel's variables are gone from the worker's environment.
    h.request(1, 'env', null);
    const left = json(await h.answer(1));
    for (const gone of ['WARD_FD', 'WARD_SOCKET', 'WARD_TOKEN']) assert.ok(!left.includes(gone), gone);
    assert.ok(left.includes('WARD_NAME'));
  } finally {
    await h.close();
  }
});

test('a throwing handler: a remote error with the error\'s name and message', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.request(1, 'throw', null);
    let e = error(await h.answer(1));
    assert.deepEqual(e, { code: -1, message: 'TypeError: boom', data: { type: 'TypeError', message: 'boom' } });
    h.request(2, 'throw', 'parse');
    e = error(await h.answer(2));
    assert.equal(e.message, 'ParseError: line 3');
    assert.equal(e.data.type, 'ParseError');
    assert.equal(e.data.stack, undefined); // no stack unless asked
    h.request(3, 'reject', null);
    assert.equal(error(await h.answer(3)).message, 'RangeError: late');
    h.request(4, 'throw', 'string');
    assert.equal(error(await h.answer(4)).message, 'string: a bare string');
    h.request(5, 'ward_error', null);
    assert.deepEqual(error(await h.answer(5)), { code: 422, message: 'unprocessable', data: { field: 'name' } });
    // Params that are not JSON: -9, the handler not run.
    h.request(6, 'add', Buffer.from('{"a": 1,'));
    e = error(await h.answer(6));
    assert.equal(e.code, ward.codes.EPROTO);
    assert.match(e.message, /^invalid JSON: /);
    h.request(7, 'nosuch', null);
    assert.equal(error(await h.answer(7)).code, -11);
    h.request(8, 'add', { a: 1, b: 2 });
    assert.equal(json(await h.answer(8)), 3);
  } finally {
    await h.close();
  }
});

test('with traceback: the stack in the error data', async () => {
  const h = await RawHost.start(FIXTURE, ['--traceback']);
  try {
    h.request(1, 'throw', null);
    const e = error(await h.answer(1));
    assert.match(e.data.stack, /TypeError: boom\n\s+at /);
  } finally {
    await h.close();
  }
});

test('payloads keep their encoding; MessagePack needs its package', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    const raw = Buffer.from([0, 1, 255, 254]);
    h.request(1, 'echo', raw, { enc: P.RAW });
    let f = await h.answer(1);
    assert.equal(f.encoding, P.RAW);
    assert.deepEqual(f.payload, raw);
    h.request(2, 'echo', Buffer.from([0x92, 1, 2]), { enc: P.MSGPACK });
    f = await h.answer(2);
    assert.equal(f.encoding, P.MSGPACK);
    h.request(3, 'add', Buffer.from([0x82]), { enc: P.MSGPACK });
    f = await h.answer(3);
    if (!ward.haveMsgpack()) {
      assert.equal(f.kind, Kind.ERROR);
      assert.match(error(f).message, /@msgpack\/msgpack package is not installed/);
    }
  } finally {
    await h.close();
  }
});

test('cancellation: ctx.signal aborts; a queued request is answered -7 unrun', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.request(1, 'wait', null);
    await h.next((f) => f.kind === Kind.NOTIFY && f.name === 'started');
    h.request(2, 'slow', { ms: 1 }); // queued behind 'wait'
    h.send(Kind.CANCEL, 2);
    h.send(Kind.CANCEL, 1);
    let e = error(await h.answer(1));
    assert.equal(e.code, -7);
    e = error(await h.answer(2));
    assert.deepEqual([e.code, e.message], [-7, 'cancelled before it started']);
    h.send(Kind.CANCEL, 99); // for no call: ignored
    h.request(3, 'log', null);
    assert.deepEqual(json(await h.answer(3)), ['wait started', 'wait saw abort: true Cancelled']);
  } finally {
    await h.close();
  }
});

test('flow control: rows within the window, to the byte', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    const window = 200;
    h.request(1, 'rows', { n: 30, pad: 20 }, { window });
    let outstanding = 0;
    let rows = 0;
    for (;;) {
      // Everything the worker may send without more credit has come once
      // it stops: take frames until none arrives for a while.
      const f = await h.next((x) => x.id === 1).catch(() => null);
      assert.ok(f, 'the call stalled');
      if (f.kind === Kind.REPLY) break;
      assert.equal(f.kind, Kind.ROW);
      const n = P.HEADER_SIZE + Buffer.byteLength(f.name) + f.payload.length;
      assert.ok(P.maySend(window, outstanding, n), `row ${f.aux} overran the window (${outstanding} + ${n})`);
      outstanding += n;
      rows++;
      assert.equal(f.aux, rows);
      if (outstanding > window / 2) {
        // Wait a little: nothing more may come until we credit.
        await new Promise((r) => setTimeout(r, 50));
        const more = h.frames.filter((x) => x.id === 1 && x.kind === Kind.ROW);
        for (const m of more) {
          const k = P.HEADER_SIZE + 3 + m.payload.length;
          assert.ok(P.maySend(window, outstanding, k), 'a row beyond the window');
        }
        h.send(Kind.CREDIT, 1, outstanding);
        outstanding = 0;
      }
    }
    assert.equal(rows, 30);
  } finally {
    await h.close();
  }
});

test('heartbeats: answered while an async handler waits, not while one blocks', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.request(1, 'slow', { ms: 1500 });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    h.send(Kind.PING, 0x80000001);
    const pong = await h.next((f) => f.kind === Kind.PONG);
    assert.equal(pong.id, 0x80000001);
    assert.ok(Date.now() - t0 < 1000, 'the PONG waited for the handler');
    assert.equal(h.frames.find((f) => f.id === 1), undefined);
    assert.equal(json(await h.answer(1)), 'slow done');
    // A handler that blocks the event loop: the PONG comes only after it.
    h.request(2, 'block', { ms: 800 });
    await new Promise((r) => setTimeout(r, 100));
    h.send(Kind.PING, 7);
    await h.next((f) => f.kind === Kind.PONG && f.id === 7);
    assert.ok(h.frames.some((f) => f.kind === Kind.REPLY && f.id === 2), 'a PONG before the reply');
    const reply = await h.answer(2);
    assert.equal(json(reply), 'unblocked');
  } finally {
    await h.close();
  }
});

// Rows without a window resolve at once: the worker must still return to
// the event loop now and then, or it would read neither PINGs nor the
// CANCEL (conform_node caught that, about one run in six).
test('a stream without a window still answers pings and sees its cancel', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    for (let round = 0; round < 5; round++) {
      const id = 10 + round;
      h.request(id, 'forever', null, { window: 0 });
      await h.next((f) => f.kind === Kind.ROW && f.id === id);
      h.send(Kind.PING, 100 + round);
      await h.next((f) => f.kind === Kind.PONG && f.id === 100 + round);
      h.send(Kind.CANCEL, id);
      assert.equal(error(await h.answer(id)).code, -7);
      h.frames = h.frames.filter((f) => f.id !== id); // the rows, dropped
    }
  } finally {
    await h.close();
  }
});

// The same, deterministically: over a socket whose writes complete at
// once (as a Unix socket's do while the host keeps up), in a child process
// that a starved event loop would leave hanging past the deadline.
test('rows that never wait do not starve the event loop', () => {
  const child = `
    const { Duplex } = require('node:stream');
    const { Worker } = require(${JSON.stringify(path.join(__dirname, '../lib'))});
    const P = require(${JSON.stringify(path.join(__dirname, '../lib/protocol'))});
    const sock = new Duplex({ read() {}, write(c, e, cb) { check(c); cb(); },
                              writev(cs, cb) { for (const c of cs) check(c.chunk); cb(); } });
    const r = new P.FrameReader();
    function check(chunk) {
      r.push(chunk);
      let f;
      while ((f = r.next())) if (f.kind === P.Kind.PONG) { console.log('pong'); process.exit(0); }
    }
    const w = new Worker();
    w.method('forever', async (ctx) => { for (;;) await ctx.row('out', 'x'.repeat(100)); });
    w._sock = sock;
    w._reader = new P.FrameReader();
    w._connecting = Promise.resolve(w);
    w.serve();
    w._read(P.encodeFrame(P.Kind.REQUEST, 1, 0, 'forever', Buffer.from('{}'), P.JSON));
    setTimeout(() => w._read(P.encodeFrame(P.Kind.PING, 7)), 50);
  `;
  const r = spawnSync(process.execPath, ['-e', child], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.stdout.trim(), 'pong', `status ${r.status}, signal ${r.signal}: ${r.stderr}`);
});

test('calls to the host: result, remote error, abort, notifications both ways', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.request(1, 'ask', { method: 'h.add', params: { a: 1, b: 2 } });
    let q = await h.next((f) => f.kind === Kind.REQUEST);
    assert.equal(q.name, 'h.add');
    assert.equal(q.aux, 0); // no window asked
    assert.ok(q.id !== 0);
    h.send(Kind.REPLY, q.id, 0, '', Buffer.from('3'), P.JSON);
    assert.deepEqual(json(await h.answer(1)), { result: 3 });
    h.request(2, 'ask', { method: 'h.fail' });
    q = await h.next((f) => f.kind === Kind.REQUEST);
    h.send(Kind.ERROR, q.id, 451, '', P.encodeError('no', Buffer.from('{"why":1}')), P.JSON);
    assert.deepEqual(json(await h.answer(2)), { error: 'RemoteError', code: 451, message: 'no', data: { why: 1 } });
    h.request(3, 'ask', { method: 'h.none' });
    q = await h.next((f) => f.kind === Kind.REQUEST);
    h.send(Kind.ERROR, q.id, -11, '', P.encodeError('no such method'), P.JSON);
    assert.equal(json(await h.answer(3)).error, 'NoMethod');
    // A timeout and an abort send the host a CANCEL for the call.
    h.request(4, 'ask', { method: 'h.slow', timeout: 50 });
    q = await h.next((f) => f.kind === Kind.REQUEST);
    assert.deepEqual(json(await h.answer(4)).error, 'Timeout');
    await h.next((f) => f.kind === Kind.CANCEL && f.id === q.id);
    h.request(5, 'ask_abort', { method: 'h.slow' });
    assert.deepEqual(json(await h.answer(5)), { error: 'Cancelled', code: -7 });
    // A notification, and one back.
    h.send(Kind.NOTIFY, 0, 0, 'poke', Buffer.from('{"n":1}'), P.JSON);
    const n = await h.next((f) => f.kind === Kind.NOTIFY);
    assert.equal(n.name, 'poked');
    assert.deepEqual(json(n), { n: 1 });
    // A notification whose handler throws: no answer, serving goes on.
    h.send(Kind.NOTIFY, 0, 0, 'bad_note', Buffer.from('{}'), P.JSON);
    h.request(6, 'add', { a: 2, b: 2 });
    assert.equal(json(await h.answer(6)), 4);
    await h.stderrMatching(/notification 'bad_note' failed: Error: a notification handler that fails/);
  } finally {
    await h.close();
  }
});

test('the host\'s goodbye: the handler finishes, the queue gets -13, exit 0 without EOF', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.request(1, 'slow', { ms: 300, tell: true });
    await h.next((f) => f.kind === Kind.NOTIFY && f.name === 'started');
    h.request(2, 'add', { a: 1, b: 1 });
    h.send(Kind.GOODBYE, 0, 0, '', Buffer.from('stop'));
    assert.equal(json(await h.answer(1)), 'slow done');
    const e = error(await h.answer(2));
    assert.equal(e.code, -13);
    // Our end stays open: the worker must exit by itself.
    assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
  } finally {
    await h.close();
  }
});

test('the worker\'s own goodbye, and the end of the connection without one', async () => {
  let h = await RawHost.start(FIXTURE);
  try {
    h.send(Kind.NOTIFY, 0, 0, 'leave', Buffer.from('{}'), P.JSON);
    const bye = await h.next((f) => f.kind === Kind.GOODBYE);
    assert.equal(bye.aux, 0);
    assert.equal(bye.payload.toString(), 'bye');
    assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
  } finally {
    await h.close();
  }
  h = await RawHost.start(FIXTURE);
  try {
    h.sock.end();
    const x = await h.waitExit();
    assert.equal(x.code, 1);
    assert.match(h.stderr, /the host closed the connection/);
  } finally {
    await h.close();
  }
});

test('a host that breaks the protocol is cut off', async () => {
  const h = await RawHost.start(FIXTURE);
  try {
    h.sock.write(Buffer.from('not a frame at all'));
    const x = await h.waitExit();
    assert.equal(x.code, 1);
    assert.match(h.stderr, /broke the protocol: bad magic/);
  } finally {
    await h.close();
  }
});

// Log records (protocol.md 8.4).
const REFUSED = ['RangeError', 'RangeError', 'RangeError', 'RangeError', 'RangeError', 'RangeError',
  'RangeError', 'TypeError'];

test('log records: LOG frames to a host whose WELCOME says log=1', async () => {
  const h = await RawHost.start(FIXTURE, ['--log-early'], { welcome: [['log', 1]] });
  try {
    // The record made before the handshake, sent after it.
    let f = await h.next();
    assert.deepEqual([f.kind, f.id, f.aux, f.encoding, f.name], [Kind.LOG, 0, 3, P.RAW, '']);
    assert.deepEqual(f.payload, P.encodeLog('starting', [['pid', String(h.proc.pid)]]));
    h.request(5, 'logs', {});
    f = await h.next();
    assert.deepEqual([f.kind, f.id, f.aux, f.encoding, f.name], [Kind.LOG, 5, 4, P.RAW, '']);
    assert.deepEqual(f.payload, P.encodeLog('disk slow', [['ms', '250'], ['disk', 'sda']]));
    f = await h.next();
    assert.deepEqual([f.kind, f.id, f.aux], [Kind.LOG, 5, 5]);
    assert.deepEqual(f.payload, P.encodeLog('tab\there'));
    f = await h.next();
    assert.deepEqual([f.kind, f.id, f.aux], [Kind.LOG, 0, 2]);
    assert.deepEqual(f.payload, P.encodeLog('not in a call'));
    // The bad ones were refused, nothing sent for them: the reply is next.
    f = await h.next();
    assert.deepEqual([f.kind, f.id], [Kind.REPLY, 5]);
    assert.deepEqual(json(f), REFUSED);
    // A notification's record has no call id.
    h.send(Kind.NOTIFY, 0, 0, 'note_log', Buffer.from('"x y"'), P.JSON);
    f = await h.next();
    assert.deepEqual([f.kind, f.id, f.aux], [Kind.LOG, 0, 3]);
    assert.deepEqual(f.payload, P.encodeLog('noted', [['what', 'x y']]));
    h.send(Kind.GOODBYE);
    assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
    assert.doesNotMatch(h.stderr, /starting|disk slow|noted/);
  } finally {
    await h.close();
  }
});

test('log records: lines on stderr for a host without log=1, as ward_log_format', async () => {
  const h = await RawHost.start(FIXTURE, ['--log-early']);
  try {
    h.request(5, 'logs', {});
    assert.deepEqual(json(await h.answer(5)), REFUSED);
    h.send(Kind.NOTIFY, 0, 0, 'note_log', Buffer.from('"x y"'), P.JSON);
    h.send(Kind.GOODBYE);
    assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
    assert.equal(h.frames.filter((x) => x.kind === Kind.LOG).length, 0);
    assert.equal(h.stderr, `INFO starting pid=${h.proc.pid}\n`
      + 'WARN disk slow ms=250 disk=sda (call 5)\nERROR tab\there (call 5)\nDEBUG not in a call\n'
      + 'INFO noted what="x y"\n');
  } finally {
    await h.close();
  }
});

test('log records: one over the host\'s limit is TooBig, one after goodbye Closed; neither sent', async () => {
  const h = await RawHost.start(FIXTURE, [], { welcome: [['max_frame', 64], ['log', 1]] });
  try {
    h.request(1, 'log_big', 61); // 4 + 61 bytes: one over
    assert.deepEqual(json(await h.answer(1)), 'TooBig');
    h.request(2, 'log_big', 60);
    const f = await h.next();
    assert.deepEqual([f.kind, f.id, f.payload.length], [Kind.LOG, 2, 64]);
    assert.deepEqual(json(await h.answer(2)), 'sent');
    // After the worker's goodbye: Closed, and no line either.
    h.send(Kind.NOTIFY, 0, 0, 'leave_log', Buffer.from('{}'), P.JSON);
    assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
    assert.equal(h.stderr, 'log after close: Closed\n');
  } finally {
    await h.close();
  }
});

test('the package installs nothing native and needs no dependency', () => {
  const pkg = require('../package.json');
  assert.equal(pkg.name, 'ward');
  assert.deepEqual(pkg.dependencies || {}, {});
  assert.match(pkg.engines.node, />=18/);
});
