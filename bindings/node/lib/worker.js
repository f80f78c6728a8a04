'use strict';
// The worker side of ward: a Node program that a ward host starts and
// calls (docs/protocol.md).
//
// Design notes
// ------------
// Everything runs on the event loop. The socket's 'data' events cut the
// stream into frames and sort each one at once: PINGs are answered there
// and then (so heartbeats are answered whenever the loop is free, also
// while an async handler awaits something; a handler that blocks the loop
// synchronously answers none, and the host's heartbeats then see a hung
// worker, as they should); answers to our own calls settle their promises;
// CREDIT and CANCEL update the call being served (or mark a queued
// request); REQUESTs and NOTIFYs are queued. Handlers run one at a time,
// in arrival order, as in ward's C and Python workers: a queued request
// that is cancelled is answered -7 without running, and after the host's
// GOODBYE the requests still queued are answered -13. Like them, reading
// stops while more than 8 MiB of requests wait for their handlers
// (protocol.md 10), except while a handler waits for credit or we wait for
// answers.
//
// Node cannot set a death signal (prctl) or close-on-exec on the inherited
// channel without a native addon, which this package does without: see
// README.md for what follows from that (protocol.md 2.1, 2.4).

const net = require('node:net');
const path = require('node:path');
const P = require('./protocol');
const payload = require('./payload');
const E = require('./errors');

const { Kind, RAW, JSON: JSON_ENC } = P;
const HANDSHAKE_TIMEOUT_MS = 30000; // to wait for the WELCOME (as libward)
const CALL_TIMEOUT_MS = 30000; // a call's default deadline (as libward)
const FLOOD_HIGH = 8 * 1024 * 1024; // stop reading above this much queued (10)
const FLOOD_LOW = 4 * 1024 * 1024; // and read again at this much
const ITEM_OVERHEAD = 256; // what each queued message counts besides its payload
const YIELD_EVERY = 64 * 1024; // stream bytes between two turns of the event loop

// Diagnostic levels (protocol.md 7.4).
const Level = Object.freeze({ DEBUG: 0, INFO: 1, WARNING: 2, ERROR: 3 });

function levelOf(level) {
  if (typeof level === 'string') {
    const v = Level[level.toUpperCase()];
    if (v === undefined) throw new RangeError(`no diagnostic level ${JSON.stringify(level)}`);
    return v;
  }
  if ([0, 1, 2, 3].includes(level)) return level;
  throw new RangeError(`no diagnostic level ${level}`);
}

// Bytes already encoded, sent as they are under the tag `encoding` (0..2
// or "raw", "json", "msgpack"): a reply, row, progress report or call
// payload that should not be encoded again.
class Encoded {
  constructor(data, encoding) {
    this.data = payload.toBuffer(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    this.encoding = payload.encodingOf(encoding);
  }
}

function checkName(name, what) {
  const b = Buffer.from(String(name), 'utf8');
  if (!b.length || b.length > P.MAX_NAME || b.includes(0) || b.includes(10)) {
    throw new RangeError(`a ${what} is 1..${P.MAX_NAME} bytes of UTF-8 without NUL or newline: ${JSON.stringify(name)}`);
  }
  return b;
}

function programName() {
  return process.argv[1] ? path.basename(process.argv[1]) : 'ward';
}

// One call or notification being handled: what a handler is given as its
// first argument. The handler ends the call by returning (or resolving:
// the value is the reply) or by throwing (a WardError fails it with its
// code, message and data; any other error with code -1 and
// "Name: message"). ctx.reply() and ctx.fail() end it explicitly; the
// return value is then ignored. For a notification (isNotify) there is no
// caller: replies, failures, rows, progress and diagnostics are accepted
// and dropped.
class Context {
  constructor(worker, frame, raw) {
    this.worker = worker;
    this.id = frame.id; // the host's call id (0 for a notification)
    this.method = frame.name;
    this.encoding = frame.encoding; // the request's encoding tag
    this.isNotify = frame.kind === Kind.NOTIFY;
    this.payload = frame.payload; // the request's bytes, as they came
    this.ended = false;
    this._raw = raw;
    this._window = frame.kind === Kind.REQUEST ? frame.aux : 0;
    this._sent = 0; // bytes of ROW and PROGRESS frames sent
    this._acked = 0; // bytes credited
    this._seq = new Map(); // rows sent per stream
    this._abort = new AbortController();
    this._wake = null; // resolves a wait for credit
  }

  // Aborted when the caller cancels the call (or the connection is lost):
  // pass it to what the handler awaits (fetch, timers/promises, streams).
  get signal() {
    return this._abort.signal;
  }

  // Whether the caller has cancelled the call (or the connection is lost).
  get cancelled() {
    return this._abort.signal.aborted;
  }

  _cancel(reason) {
    if (!this._abort.signal.aborted) this._abort.abort(reason);
    this._poke();
  }

  _poke() {
    const wake = this._wake;
    this._wake = null;
    if (wake) wake();
  }

  _checkOpen() {
    if (this.ended) throw new E.WardError(E.codes.EINVAL, 'the call has ended');
  }

  _encode(value, encoding) {
    if (value instanceof Encoded) return [value.encoding, value.data];
    if (encoding === undefined || encoding === null) {
      if (this._raw && payload.isBytes(value)) return [this.encoding, payload.toBuffer(value)];
      return [this.encoding, payload.encode(this.encoding, value)];
    }
    const enc = payload.encodingOf(encoding);
    return [enc, payload.encode(enc, value)];
  }

  // Ends the call with `value` as its result, in `encoding` (default: the
  // request's; an Encoded value goes as it is). Throws TooBig (the call is
  // not ended) for a result over the caller's limit, TypeError for a value
  // the encoding cannot hold.
  reply(value = null, { encoding } = {}) {
    this._checkOpen();
    const [enc, data] = this._encode(value, encoding);
    if (!this.isNotify && data.length > this.worker.hostMaxFrame) {
      throw new E.TooBig(`a result of ${data.length} bytes, over the caller's limit of ${this.worker.hostMaxFrame}`);
    }
    this.ended = true;
    if (!this.isNotify) this.worker._send(Kind.REPLY, this.id, 0, '', data, enc);
  }

  // Ends the call with an error: `code` (a non-zero 32-bit integer; your
  // own codes are positive or below -99), a message for humans and
  // optional `data` for programs, encoded like a reply (JSON for a raw
  // request). Data that cannot be encoded or would not fit the caller's
  // limit is dropped (then the message shortened).
  fail(code, message = '', data = undefined, { encoding } = {}) {
    this._checkOpen();
    if (!Number.isInteger(code) || code === 0 || code < -(2 ** 31) || code >= 2 ** 31) {
      throw new RangeError(`an error code is a non-zero 32-bit integer, not ${code}`);
    }
    this.ended = true;
    if (this.isNotify) return;
    let enc = encoding === undefined ? this.encoding : payload.encodingOf(encoding);
    let blob = Buffer.alloc(0);
    if (data instanceof Encoded) {
      enc = data.encoding;
      blob = data.data;
    } else if (data !== undefined && data !== null) {
      if (enc === RAW && !payload.isBytes(data)) enc = JSON_ENC; // structured data: JSON
      try {
        blob = payload.encode(enc, data);
      } catch (e) {
        blob = Buffer.alloc(0);
      }
    }
    const { payload: body } = P.fitError(message, blob, this.worker.hostMaxFrame);
    this.worker._send(Kind.ERROR, this.id, code, '', body, enc);
  }

  // Sends one row on the named stream (numbered from 1 per stream). Rows
  // are tentative until the call succeeds. Resolves once sent: it waits
  // while the caller's flow-control window is full (7.6) and while the
  // socket is full. Rejects with Cancelled once the caller has cancelled
  // (nothing is sent: stop, and let it through), Closed when the
  // connection is gone, TooBig for a row over the caller's limit.
  row(stream, value, { encoding } = {}) {
    return this._stream(Kind.ROW, checkName(stream, 'stream name'), String(stream), value, encoding);
  }

  // Sends a progress report (e.g. {done: 40, total: 100}), paced,
  // cancelled and failing as row().
  progress(value, { encoding } = {}) {
    return this._stream(Kind.PROGRESS, Buffer.alloc(0), null, value, encoding);
  }

  // Sends a diagnostic: a message for humans, a short `code` and a level
  // (Level.DEBUG .. Level.ERROR, or "debug", "info", "warning", "error").
  // Not paced; does not end the call.
  diag(message, { code = '', level = Level.INFO } = {}) {
    this._checkOpen();
    const lv = levelOf(level);
    const c = Buffer.from(String(code), 'utf8');
    if (c.length > P.MAX_NAME || c.includes(0)) {
      throw new RangeError(`a diagnostic code is at most ${P.MAX_NAME} bytes, without NUL`);
    }
    if (this.isNotify) return;
    const text = P.cutUtf8(Buffer.from(String(message), 'utf8'), this.worker.hostMaxFrame);
    this.worker._send(Kind.DIAG, this.id, lv, c, text, RAW);
  }

  // Sends a log record for this call: Worker.log(), with the call's id
  // (0 for a notification). Allowed after the call has ended.
  log(level, message, fields) {
    this.worker._log(level, message, fields, this.isNotify ? 0 : this.id);
  }

  // Calls the host: Worker.call().
  call(method, params, options) {
    return this.worker.call(method, params, options);
  }

  // Notifies the host: Worker.notify().
  notify(method, params, options) {
    return this.worker.notify(method, params, options);
  }

  async _stream(kind, name, stream, value, encoding) {
    this._checkOpen();
    const [enc, data] = this._encode(value, encoding);
    if (this.isNotify) return;
    if (data.length > this.worker.hostMaxFrame) {
      throw new E.TooBig(`a ${kind === Kind.ROW ? 'row' : 'progress report'} of ${data.length} bytes, over the caller's limit of ${this.worker.hostMaxFrame}`);
    }
    const n = P.HEADER_SIZE + name.length + data.length;
    await this._waitWindow(n);
    let seq = 0;
    if (kind === Kind.ROW) seq = (this._seq.get(stream) || 0) + 1;
    const w = this.worker;
    w._send(kind, this.id, seq, name, data, enc);
    if (kind === Kind.ROW) this._seq.set(stream, seq);
    this._sent += n;
    if (w._sock && w._sock.writableNeedDrain) await w._drain();
    // Without a window (or with a large one), a handler awaiting rows that
    // resolve at once never returns to the event loop (socket writes that
    // complete at once signal it in ticks, not I/O events): every 64 KiB,
    // let the loop read (a CANCEL, PINGs) before going on.
    w._unyielded += n;
    if (w._unyielded >= YIELD_EVERY) {
      w._unyielded = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async _waitWindow(n) {
    const w = this.worker;
    for (;;) {
      if (this.cancelled) {
        if (w._end) throw new E.Closed(`the connection to the host ended: ${w._end.message}`);
        throw new E.Cancelled('the caller cancelled the call');
      }
      if (w._end) throw new E.Closed('the connection to the host is closed');
      if (P.maySend(this._window, this._sent - this._acked, n)) return;
      w._waitingCredit = true;
      w._resumeReading(); // a reader paused by a flood reads again
      try {
        await new Promise((resolve) => { this._wake = resolve; });
      } finally {
        w._waitingCredit = false;
        w._unyielded = 0; // woken by what the loop read
      }
    }
  }
}

// A ward worker: register handlers, then run() (or serve()).
//
//   const { Worker } = require('ward');
//   const worker = new Worker();
//   worker.method('add', (ctx, p) => p.a + p.b);
//   worker.run();
class Worker {
  constructor({ name, meta, traceback = false } = {}) {
    this.name = name || null; // the HELLO's name when WARD_NAME is not set
    this.meta = Object.assign({}, meta || {}); // meta.* lines of the HELLO
    this.traceback = traceback; // stacks in the error data of failed handlers
    this._handlers = new Map();
    this._sock = null;
    this._connecting = null;
    this._reader = null;
    this._inbox = [];
    this._inboxCost = 0;
    this._queued = new Map(); // REQUESTs waiting, by id
    this._calls = new Map(); // our calls in flight, by id
    this._nextId = 0;
    this._current = null; // the Context being served
    this._busy = false;
    this._waitingCredit = false;
    this._paused = false;
    this._corked = false;
    this._unyielded = 0; // stream bytes sent since the event loop last ran
    this._bye = null; // the reason of the host's GOODBYE, once read
    this._end = null; // why the connection ended (an Error), once it has
    this._left = false; // we said goodbye (close())
    this._serving = null; // {resolve, reject} of serve()
    this._hostLogs = false; // the WELCOME said log=1 (protocol.md 8.4)
    this._early = []; // log records made before the handshake ended
    const env = process.env.WARD_MAX_FRAME || '';
    const max = /^[0-9]+$/.test(env) ? Number(env) : 0;
    this.maxFrame = max >= 1 && max <= 0xffffffff ? max : P.MAX_FRAME_DEFAULT;
    // From the WELCOME (protocol.md 6.2).
    this.hostMaxFrame = P.MAX_FRAME_DEFAULT;
    this.hostPid = null;
    this.workerId = null;
    this.generation = null;
    this.dataDir = process.env.WARD_DATA_DIR || null;
  }

  // Registers `fn` for requests and notifications of `name`, before the
  // handshake (which announces the methods). fn(ctx, params) may be async;
  // `params` is the payload decoded by its encoding (JSON: the value, null
  // when empty; raw: a Buffer; MessagePack: the value), or its bytes as
  // they came with {raw: true} (whose Buffer results then go back as
  // they are). Registering a name again replaces its handler.
  method(name, fn, { raw = false } = {}) {
    checkName(name, 'method name');
    if (typeof fn !== 'function') throw new TypeError('a handler is a function');
    if (this._sock || this._connecting) {
      throw new E.WardError(E.codes.EINVAL, 'handlers are registered before the handshake');
    }
    this._handlers.set(String(name), { fn, raw });
    return this;
  }

  // Whether the handshake is done and the connection still up.
  get connected() {
    return this._sock !== null && this._end === null && !this._left;
  }

  // Finds the channel in the environment (protocol.md 2) and does the
  // handshake (6). serve(), call() and notify() do it when needed. Removes
  // WARD_FD, WARD_SOCKET and WARD_TOKEN from process.env, so that programs
  // this one starts do not take themselves for workers. Rejects with
  // NoHost (nothing in the environment), WardError ESYS (the channel
  // cannot be used), HandshakeError, ProtocolError.
  connect() {
    if (!this._connecting) {
      this._connecting = this._connect();
      this._connecting.catch(() => {});
    }
    return this._connecting;
  }

  async _connect() {
    const { sock, token } = await openChannel();
    try {
      await this._handshake(sock, token);
    } catch (e) {
      sock.destroy();
      throw e;
    }
    for (const key of ['WARD_FD', 'WARD_SOCKET', 'WARD_TOKEN']) delete process.env[key];
    return this;
  }

  _handshake(sock, token) {
    const lines = [['pid', process.pid], ['max_frame', this.maxFrame]];
    if (token !== null) lines.push(['token', token]);
    for (const m of this._handlers.keys()) lines.push(['method', m]);
    for (const [k, v] of Object.entries(this.meta)) lines.push([`meta.${k}`, v]);
    const name = P.cutUtf8(Buffer.from(process.env.WARD_NAME || this.name || 'worker', 'utf8'), P.MAX_NAME);
    this._reader = new P.FrameReader(this.maxFrame);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (err) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new E.HandshakeError(
        `no WELCOME from the host within ${HANDSHAKE_TIMEOUT_MS / 1000} s`)), HANDSHAKE_TIMEOUT_MS);
      sock.on('data', (chunk) => {
        if (!done) {
          this._reader.push(chunk);
          let f;
          try {
            f = this._reader.next();
          } catch (v) {
            finish(new E.ProtocolError(`the host broke the protocol: ${v.message}`));
            return;
          }
          if (!f) return;
          const err = this._welcome(sock, f);
          if (err) {
            finish(err);
            return;
          }
          this._sock = sock;
          finish();
          this._read(Buffer.alloc(0)); // frames that came with the WELCOME
          return;
        }
        this._read(chunk);
      });
      sock.on('end', () => {
        if (!done) finish(new E.HandshakeError('the host closed the connection during the handshake'));
        else this._finish(new E.Closed('the host closed the connection'));
      });
      sock.on('error', (e) => {
        if (!done) finish(new E.HandshakeError(`the connection failed during the handshake: ${e.message}`));
        else this._finish(new E.Closed(`the connection to the host failed: ${e.message}`));
      });
      sock.on('close', () => {
        if (done) this._finish(new E.Closed('the connection to the host is closed'));
      });
      sock.write(P.encodeFrame(Kind.HELLO, 0, P.VERSION, name, P.encodeLines(lines)));
    });
  }

  // Checks the host's first frame; returns an Error, or null for a WELCOME.
  _welcome(sock, f) {
    const text = f.payload.toString('utf8');
    if (f.kind === Kind.GOODBYE) {
      return new E.HandshakeError(`the host refused the handshake (reason ${f.aux}): ${text}`);
    }
    if (f.kind !== Kind.WELCOME) {
      return new E.ProtocolError(`the host's first frame is a ${P.KIND_NAMES[f.kind]}, not a WELCOME`);
    }
    if (f.aux !== P.VERSION) {
      sock.write(P.encodeFrame(Kind.GOODBYE, 0, 1, '', Buffer.from('version')));
      return new E.HandshakeError(`the host chose protocol version ${f.aux}; this speaks ${P.VERSION}`);
    }
    try {
      const welcome = new Map(P.decodeLines(f.payload));
      if (welcome.has('max_frame')) this.hostMaxFrame = Number(welcome.get('max_frame'));
      if (welcome.has('pid')) this.hostPid = Number(welcome.get('pid'));
      if (welcome.has('worker_id')) this.workerId = Number(welcome.get('worker_id'));
      if (welcome.has('generation')) this.generation = Number(welcome.get('generation'));
      this._hostLogs = welcome.get('log') === '1';
    } catch (e) {
      return new E.ProtocolError(`a malformed WELCOME: ${e.message}`);
    }
    return null;
  }

  // ---- reading ----

  _read(chunk) {
    if (this._end) return;
    this._reader.push(chunk);
    try {
      let f;
      while (!this._end && (f = this._reader.next())) this._sort(f);
    } catch (e) {
      let err = e;
      if (e instanceof P.Violation) {
        err = e.tooBig ? new E.TooBig(`the host broke the protocol: ${e.message}`)
          : new E.ProtocolError(`the host broke the protocol: ${e.message}`);
      } else if (!(e instanceof E.WardError)) {
        err = new E.ProtocolError(`the reader failed: ${e.message}`);
      }
      this._finish(err);
    }
  }

  // Where a frame read goes (protocol.md 5, 7, 8).
  _sort(f) {
    switch (f.kind) {
      case Kind.PING:
        this._send(Kind.PONG, f.id, 0, '', Buffer.alloc(0), RAW);
        break;
      case Kind.REPLY:
      case Kind.ERROR:
      case Kind.PONG: {
        if (f.kind === Kind.ERROR) P.decodeError(f.payload); // a malformed ERROR is a violation
        const out = this._calls.get(f.id);
        if (out) {
          this._calls.delete(f.id);
          out.settle(f);
        }
        this._resumeReading();
        break;
      }
      case Kind.REQUEST:
      case Kind.NOTIFY: {
        const item = { frame: f, cost: f.payload.length + ITEM_OVERHEAD, cancelled: false };
        this._inbox.push(item);
        this._inboxCost += item.cost;
        if (f.kind === Kind.REQUEST) this._queued.set(f.id, item);
        if (this._inboxCost > FLOOD_HIGH) this._pauseReading();
        this._pump();
        break;
      }
      case Kind.CANCEL: {
        const cur = this._current;
        if (cur && !cur.isNotify && cur.id === f.id) {
          cur._cancel(new E.Cancelled('the caller cancelled the call'));
        } else if (this._queued.has(f.id)) {
          this._queued.get(f.id).cancelled = true;
        }
        break;
      }
      case Kind.CREDIT: {
        const cur = this._current;
        if (cur && !cur.isNotify && cur.id === f.id) {
          cur._acked += f.aux;
          cur._poke();
        }
        break;
      }
      case Kind.GOODBYE:
        if (f.aux !== 0) {
          throw new E.ProtocolError(`the host cut the connection (goodbye reason ${f.aux}): ${f.payload.toString('utf8')}`);
        }
        this._bye = 0;
        this._inbox.push({ frame: f, cost: 0, cancelled: false });
        this._pump();
        // Go on reading: answers to our calls may still come (8.3).
        break;
      case Kind.HELLO:
      case Kind.WELCOME:
        throw new P.Violation(`a ${P.KIND_NAMES[f.kind]} after the handshake`);
      case Kind.LOG:
        throw new P.Violation('a LOG from the host, which only workers send (8.4)');
      default:
        break; // PROGRESS, ROW and DIAG of our calls: not kept (as libward)
    }
  }

  _pauseReading() {
    if (!this._paused && this._sock && this._calls.size === 0 && !this._waitingCredit) {
      this._paused = true;
      this._sock.pause();
    }
  }

  _resumeReading() {
    if (this._paused && this._sock &&
        (this._inboxCost <= FLOOD_LOW || this._calls.size > 0 || this._waitingCredit)) {
      this._paused = false;
      this._sock.resume();
    }
  }

  // The connection has ended (or was cut): fails what waits on it.
  _finish(err) {
    if (this._end) return;
    this._end = err;
    for (const out of this._calls.values()) {
      out.fail(new E.Closed(`the connection to the host ended: ${err.message}`));
    }
    this._calls.clear();
    if (this._current) this._current._cancel(err);
    if (this._sock) this._sock.destroy();
    this._pump();
  }

  // ---- sending ----

  _send(kind, id, aux, name, data, enc) {
    if (this._end || !this._sock || this._sock.destroyed) {
      throw new E.Closed('the connection to the host is closed');
    }
    const sock = this._sock;
    // Frames sent in one turn of the event loop (rows a handler sends
    // while the window allows, a reply and the PONGs of one read) go out
    // in one write: corked until the ticks of this turn have run.
    if (!this._corked) {
      this._corked = true;
      sock.cork();
      process.nextTick(() => {
        this._corked = false;
        sock.uncork();
      });
    }
    sock.write(P.encodeFrame(kind, id, aux, name, data, enc));
  }

  // Resolves once the socket has taken what is buffered (or is gone).
  _drain() {
    const sock = this._sock;
    if (!sock || !sock.writableNeedDrain || sock.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        sock.off('drain', done);
        sock.off('close', done);
        resolve();
      };
      sock.on('drain', done);
      sock.on('close', done);
    });
  }

  // Resolves once what was written has reached the kernel (at most 2 s):
  // before the process exits, so that the last reply or the GOODBYE is
  // not lost with it.
  _flush() {
    const sock = this._sock;
    if (!sock || sock.destroyed) return Promise.resolve();
    if (this._corked) {
      this._corked = false;
      sock.uncork();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 2000);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      if (sock.writableEnded) {
        if (sock.writableFinished) done();
        else sock.once('finish', done).once('close', done);
      } else {
        sock.write(Buffer.alloc(0), done);
      }
    });
  }

  // ---- serving ----

  // Connects if needed, then serves requests and notifications until the
  // host says goodbye (resolves: exit with status 0 now, protocol.md 8.3)
  // or this worker does (close()). Rejects with Closed when the
  // connection is lost, ProtocolError when the host broke the protocol or
  // cut us off, TooBig when it sent a frame over our limit (then exit
  // with a non-zero status), and what connect() rejects with.
  async serve() {
    await this.connect();
    if (this._serving) throw new E.WardError(E.codes.EINVAL, 'the worker is served already');
    const done = new Promise((resolve, reject) => { this._serving = { resolve, reject }; });
    this._pump();
    return done;
  }

  // Runs the next queued item if nothing runs; settles serve() at the end.
  _pump() {
    if (!this._serving || this._busy) return;
    if (this._left) {
      this._serving.resolve();
      return;
    }
    if (this._inbox.length === 0) {
      if (this._end) {
        if (this._bye === null) this._serving.reject(this._end);
        else this._serving.resolve();
      }
      return;
    }
    const item = this._inbox.shift();
    this._inboxCost -= item.cost;
    this._resumeReading();
    const f = item.frame;
    if (f.kind === Kind.GOODBYE) {
      this._serving.resolve();
      return;
    }
    if (f.kind === Kind.REQUEST && this._queued.get(f.id) === item) this._queued.delete(f.id);
    const entry = this._handlers.get(f.name);
    const ctx = new Context(this, f, entry ? entry.raw : false);
    this._current = ctx;
    this._busy = true;
    this._handle(item, ctx, entry).then(() => {
      this._current = null;
      this._busy = false;
      setImmediate(() => this._pump()); // let pings and credits in between calls
    });
  }

  async _handle(item, ctx, entry) {
    try {
      if (ctx.isNotify) {
        if (entry) await this._run(ctx, entry.fn);
      } else if (!entry) {
        ctx.fail(E.codes.ENOMETHOD, `no method '${ctx.method}'`);
      } else if (item.cancelled) {
        ctx.fail(E.codes.ECANCELED, 'cancelled before it started');
      } else if (this._bye !== null) {
        ctx.fail(E.codes.ECLOSED, 'the worker is stopping');
      } else if (this._end) {
        // The connection is gone: nothing can be answered.
      } else {
        await this._run(ctx, entry.fn);
      }
    } catch (e) {
      // Sending failed: the connection is gone, serve() says so.
    }
  }

  // Runs a handler and ends its call from what it did.
  async _run(ctx, fn) {
    let result;
    try {
      const params = ctx._raw ? ctx.payload : payload.decode(ctx.encoding, ctx.payload);
      result = await fn(ctx, params);
    } catch (e) {
      this._failed(ctx, e);
      return;
    }
    if (!ctx.ended && !this._end) {
      try {
        ctx.reply(result);
      } catch (e) {
        if (e instanceof E.Closed) throw e;
        this._failed(ctx, e);
      }
    }
  }

  _failed(ctx, exc) {
    if (ctx.ended || this._end) return;
    let code;
    let message;
    let data;
    if (exc instanceof E.WardError) {
      ({ code, message, data } = exc);
    } else if (ctx.cancelled && exc && (exc.name === 'AbortError' || exc === ctx.signal.reason)) {
      code = E.codes.ECANCELED;
      message = 'cancelled';
    } else {
      const name = exc instanceof Error ? exc.name || exc.constructor.name : typeof exc;
      const text = exc instanceof Error ? exc.message : String(exc);
      code = E.codes.EINVAL;
      message = text ? `${name}: ${text}` : name;
      data = { type: name, message: text };
      if (this.traceback && exc instanceof Error && exc.stack) data.stack = exc.stack;
    }
    if (ctx.isNotify) {
      process.stderr.write(`ward: notification '${ctx.method}' failed: ${message}\n`);
      return;
    }
    if (!Number.isInteger(code) || code === 0 || code < -(2 ** 31) || code >= 2 ** 31) {
      code = E.codes.EINVAL;
    }
    ctx.fail(code, message, data);
  }

  // serve() as the main of a worker program: exits with status 0 when the
  // host says goodbye (or this worker did, close()), with status 2 and a
  // message on stderr when the program was not started by a ward host,
  // and with status 1 when the connection is lost or refused or the host
  // broke the protocol.
  async run() {
    let status = 0;
    try {
      await this.serve();
    } catch (e) {
      process.stderr.write(`${programName()}: ${e.message}\n`);
      status = e instanceof E.NoHost ? 2 : 1;
    }
    await this._flush();
    process.exit(status);
  }

  // Says goodbye to the host (GOODBYE reason 0, unless the host said
  // goodbye first) and ends the connection: serve() resolves, calls in
  // flight fail with Closed. Exit with status 0 for "done on purpose".
  close(text = '') {
    if (!this._sock || this._left) return;
    this._left = true;
    const quiet = this._bye !== null || this._end !== null;
    if (!quiet) {
      try {
        this._send(Kind.GOODBYE, 0, 0, '', Buffer.from(String(text), 'utf8'), RAW);
      } catch (e) {
        // gone already
      }
    }
    for (const out of this._calls.values()) out.fail(new E.Closed('this worker said goodbye'));
    this._calls.clear();
    if (this._current) this._current._cancel(new E.Closed('this worker said goodbye'));
    this._sock.end();
    this._pump();
  }

  // ---- calls to the host ----

  async _request(method, params, encoding) {
    const name = checkName(method, 'method name');
    let enc;
    let data;
    if (params instanceof Encoded) {
      ({ encoding: enc, data } = params);
    } else {
      enc = payload.encodingOf(encoding === undefined ? JSON_ENC : encoding);
      data = payload.encode(enc, params);
    }
    await this.connect();
    if (data.length > this.hostMaxFrame) {
      throw new E.TooBig(`a payload of ${data.length} bytes, over the host's limit of ${this.hostMaxFrame}`);
    }
    if (this._end || this._left) throw new E.Closed('the connection to the host is closed');
    return { name, enc, data };
  }

  _start(kind, name, enc, data, { timeout, signal, what }) {
    return new Promise((resolve, reject) => {
      do {
        this._nextId = (this._nextId % 0xffffffff) + 1; // non-zero, not in use, wrapping (7.1)
      } while (this._calls.has(this._nextId));
      const id = this._nextId;
      let timer = null;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
      };
      const abandon = (err) => {
        if (this._calls.get(id) !== out) return;
        this._calls.delete(id);
        cleanup();
        try {
          this._send(Kind.CANCEL, id, 0, '', Buffer.alloc(0), RAW);
        } catch (e) {
          // gone
        }
        reject(err);
      };
      const onAbort = () => abandon(new E.Cancelled(`${what}: cancelled`));
      const out = {
        settle: (f) => {
          cleanup();
          try {
            resolve(answerOf(f));
          } catch (e) {
            reject(e);
          }
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      if (signal && signal.aborted) {
        reject(new E.Cancelled(`${what}: cancelled`));
        return;
      }
      this._calls.set(id, out);
      try {
        this._send(kind, id, 0, name, data, enc);
      } catch (e) {
        this._calls.delete(id);
        reject(e);
        return;
      }
      this._resumeReading();
      if (timeout !== null && timeout !== undefined && timeout !== Infinity) {
        timer = setTimeout(() => abandon(new E.Timeout(`no answer to ${what} within ${timeout} ms`)), timeout);
      }
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  // Calls a method the host serves (ward_host_handle) and resolves with its
  // result, decoded by its encoding. `params` is encoded in `encoding`
  // (JSON by default; an Encoded value goes as it is). Options: timeout
  // (ms, default 30000; null: none; the host is sent a CANCEL when it
  // passes) and signal (an AbortSignal: aborting sends a CANCEL). The
  // call has no flow-control window; progress, rows and diagnostics the
  // host sends for it are dropped. Rejects with RemoteError (NoMethod for
  // -11), Timeout, Cancelled, Closed, TooBig, and what connect() rejects.
  async call(method, params = null, { timeout = CALL_TIMEOUT_MS, encoding, signal } = {}) {
    const { name, enc, data } = await this._request(method, params, encoding);
    return this._start(Kind.REQUEST, name, enc, data, { timeout, signal, what: `'${method}'` });
  }

  // Sends a notification to the host: no answer. Resolves once the socket
  // has taken it. Rejects with Closed, TooBig, and what connect() rejects.
  async notify(method, params = null, { encoding } = {}) {
    const { name, enc, data } = await this._request(method, params, encoding);
    this._send(Kind.NOTIFY, 0, 0, name, data, enc);
    await this._drain();
  }

  // Sends a log record to the host (protocol.md 8.4), which keeps it with
  // its structure in the worker's log ring: `level` "trace", "debug",
  // "info", "warn" (or "warning"), "error", or 1..5; the message; fields
  // as an object (or a Map, or [key, value] pairs), values made strings.
  // A host that takes no records (its WELCOME has no log=1) gets the
  // record as a line "LEVEL message key=value ..." on stderr instead.
  // Not paced, never answered; returns nothing. Before the handshake ends
  // the record waits for it (connecting if needed, as call() does; if
  // that fails, the record goes to stderr). Throws RangeError or
  // TypeError for a record outside the limits of 8.4, Closed once the
  // connection has ended, TooBig for a record over the host's limit.
  log(level, message, fields) {
    this._log(level, message, fields, 0);
  }

  _log(level, message, fields, callId) {
    const lv = P.logLevel(level);
    const pairs = P.logPairs(fields);
    const text = Buffer.isBuffer(message) ? message : String(message);
    const data = P.encodeLog(text, pairs);
    const rec = { level: lv, text, pairs, data, callId };
    if (this._sock && this._early.length === 0) {
      this._sendLog(rec);
      return;
    }
    if (this._end || this._left) throw new E.Closed('the connection to the host is closed');
    this._early.push(rec); // in order behind those waiting already
    if (this._early.length === 1) {
      this.connect().then(() => this._flushEarly(), () => this._flushEarly());
    }
  }

  // The records made before the handshake ended, in order: to the host,
  // or to stderr when there is none to take them.
  _flushEarly() {
    const early = this._early;
    this._early = [];
    for (const rec of early) {
      try {
        this._sendLog(rec);
      } catch (e) {
        process.stderr.write(`${P.formatLog(rec.level, rec.text, rec.pairs, rec.callId)}\n`);
      }
    }
  }

  _sendLog(rec) {
    if (this._sock && (this._end || this._left)) throw new E.Closed('the connection to the host is closed');
    if (!this._sock || !this._hostLogs) {
      // No host, or one that takes no records: the line ward would print.
      process.stderr.write(`${P.formatLog(rec.level, rec.text, rec.pairs, rec.callId)}\n`);
      return;
    }
    if (rec.data.length > this.hostMaxFrame) {
      throw new E.TooBig(`a log record of ${rec.data.length} bytes, over the host's limit of ${this.hostMaxFrame}`);
    }
    this._send(Kind.LOG, rec.callId, rec.level, '', rec.data, RAW);
  }

  // A round trip to the host (PING, PONG).
  async ping({ timeout = CALL_TIMEOUT_MS } = {}) {
    await this.connect();
    if (this._end || this._left) throw new E.Closed('the connection to the host is closed');
    return this._start(Kind.PING, '', RAW, Buffer.alloc(0), { timeout, what: 'ping' });
  }
}

// The value of an answer: a REPLY's result, or the error of an ERROR.
function answerOf(f) {
  if (f.kind === Kind.PONG) return undefined;
  if (f.kind === Kind.REPLY) return payload.decode(f.encoding, f.payload);
  const { message, data } = P.decodeError(f.payload);
  const code = P.toSigned(f.aux);
  let value;
  if (data.length) {
    try {
      value = payload.decode(f.encoding, data);
    } catch (e) {
      value = data; // kept as bytes
    }
  }
  const text = message.toString('utf8');
  throw code === E.codes.ENOMETHOD ? new E.NoMethod(text, value) : new E.RemoteError(code, text, value);
}

// The socket the environment names (protocol.md 2.1, 2.2) and the token
// to send (null in inherit mode).
async function openChannel() {
  const fdText = process.env.WARD_FD;
  if (fdText !== undefined) {
    const fd = /^[0-9]+$/.test(fdText) ? Number(fdText) : NaN;
    if (!Number.isInteger(fd)) throw new E.WardError(E.codes.ESYS, `WARD_FD=${fdText} is not a file descriptor`);
    try {
      return { sock: new net.Socket({ fd, readable: true, writable: true }), token: null };
    } catch (e) {
      throw new E.WardError(E.codes.ESYS, `WARD_FD=${fdText} is not an open socket: ${e.message}`);
    }
  }
  const where = process.env.WARD_SOCKET;
  if (where !== undefined) {
    const token = process.env.WARD_TOKEN;
    if (!token) throw new E.NoHost('WARD_SOCKET is set but WARD_TOKEN is not');
    const sock = await new Promise((resolve, reject) => {
      const s = net.createConnection(where);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => reject(new E.WardError(E.codes.ESYS, `cannot connect to WARD_SOCKET ${where}: ${e.message}`)));
    });
    return { sock, token };
  }
  throw new E.NoHost('this program is a ward worker and is started by a ward host, which '
    + 'passes it a channel in its environment (WARD_FD, or WARD_SOCKET and WARD_TOKEN); '
    + 'neither is set');
}

module.exports = { Worker, Context, Encoded, Level };
