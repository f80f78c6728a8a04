'use strict';
// A host for the tests that speaks the frames itself: it listens on a Unix
// socket, starts a worker in socket mode (WARD_SOCKET, WARD_TOKEN), checks
// its HELLO and answers WELCOME; then the test sends and reads frames.
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const P = require('../lib/protocol');

const { Kind } = P;
const WAIT_MS = 20000;

class RawHost {
  // `welcome`: [key, value] lines for the WELCOME, besides or instead of
  // its max_frame and pid (e.g. ['log', 1]).
  static async start(script, args = [], { env = {}, welcome = [] } = {}) {
    const h = new RawHost();
    h.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-node-test-'));
    const where = path.join(h.dir, 'w.sock');
    const token = crypto.randomBytes(32).toString('hex');
    const server = net.createServer();
    await new Promise((resolve) => server.listen(where, resolve));
    h.proc = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, WARD_SOCKET: where, WARD_TOKEN: token, WARD_NAME: 'fx', ...env },
      stdio: ['ignore', 'inherit', 'pipe'],
    });
    h.stderr = '';
    h.proc.stderr.on('data', (d) => { h.stderr += d; h.poke(); });
    h.exited = new Promise((resolve) => h.proc.on('exit', (code, signal) => resolve({ code, signal })));
    // Once the process has exited and its stderr is read to the end.
    h.closed = new Promise((resolve) => h.proc.on('close', resolve));
    h.sock = await withTimeout(new Promise((resolve) => server.once('connection', resolve)), 'no connection');
    server.close();
    h.reader = new P.FrameReader();
    h.frames = [];
    h.waiters = [];
    h.eof = false;
    h.sock.on('data', (chunk) => {
      h.reader.push(chunk);
      let f;
      while ((f = h.reader.next())) h.frames.push(f);
      h.poke();
    });
    h.sock.on('end', () => { h.eof = true; h.poke(); });
    h.sock.on('error', () => { h.eof = true; h.poke(); });
    const hello = await h.next();
    if (hello.kind !== Kind.HELLO) throw new Error(`first frame kind ${hello.kind}`);
    h.hello = new Map();
    for (const [k, v] of P.decodeLines(hello.payload)) {
      if (!h.hello.has(k)) h.hello.set(k, []);
      h.hello.get(k).push(v);
    }
    h.helloName = hello.name;
    if (h.hello.get('token')[0] !== token) throw new Error('wrong token');
    h.send(Kind.WELCOME, 0, 1, '', P.encodeLines([...new Map([['max_frame', 67108864], ['pid', process.pid], ...welcome])]));
    return h;
  }

  poke() {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  send(kind, id = 0, aux = 0, name = '', payload = Buffer.alloc(0), enc = P.RAW) {
    this.sock.write(P.encodeFrame(kind, id, aux, name, payload, enc));
  }

  request(id, method, value, { window = 0, enc = P.JSON } = {}) {
    const data = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
    this.send(Kind.REQUEST, id, window, method, data, enc);
  }

  // The next frame matching `pred` (default: any), taken out of the
  // frames read; rejects after 20 s or at EOF.
  async next(pred = () => true) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.eof) throw new Error('EOF while waiting for a frame');
      if (Date.now() > deadline) throw new Error('no such frame within 20 s');
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  // The answer (REPLY or ERROR) to call `id`.
  answer(id) {
    return this.next((f) => (f.kind === Kind.REPLY || f.kind === Kind.ERROR) && f.id === id);
  }

  // The worker's exit, once its stderr is read to the end too.
  async waitExit() {
    const x = await withTimeout(this.exited, 'the worker did not exit');
    await withTimeout(this.closed, 'the worker\'s stderr did not end');
    return x;
  }

  // Waits until what the worker wrote on stderr matches `re`: its lines
  // travel on a pipe of their own, so they may come after a frame sent
  // later. Rejects after 20 s or once stderr has ended without a match.
  async stderrMatching(re) {
    const deadline = Date.now() + WAIT_MS;
    let ended = false;
    this.closed.then(() => { ended = true; this.poke(); });
    for (;;) {
      if (re.test(this.stderr)) return this.stderr;
      if (ended) throw new Error(`stderr ended without ${re}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no ${re} on stderr within 20 s: ${this.stderr}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  async close() {
    this.sock.destroy();
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    await this.exited;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${WAIT_MS / 1000} s`)), WAIT_MS);
  })]).finally(() => clearTimeout(timer));
}

function json(f) {
  return JSON.parse(f.payload.toString());
}

function error(f) {
  const { message, data } = P.decodeError(f.payload);
  return { code: P.toSigned(f.aux), message: message.toString(), data: data.length ? JSON.parse(data) : undefined };
}

module.exports = { RawHost, json, error, Kind, P };
