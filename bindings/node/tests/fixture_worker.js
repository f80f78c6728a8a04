'use strict';
// The worker test/worker.test.js drives: `node test/fixture_worker.js
// [--traceback]`, with the package on NODE_PATH or beside it.
const ward = require('../lib');
const { setTimeout: sleepMs } = require('node:timers/promises');

const worker = new ward.Worker({ name: 'fixture', traceback: process.argv.includes('--traceback') });
const log = [];

class ParseError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ParseError';
  }
}

worker.method('echo', (ctx, data) => data, { raw: true });
worker.method('add', (ctx, p) => p.a + p.b);
worker.method('throw', (ctx, p) => {
  if (p === 'string') throw 'a bare string'; // eslint-disable-line no-throw-literal
  throw p === 'parse' ? new ParseError('line 3') : new TypeError('boom');
});
worker.method('reject', async () => {
  await sleepMs(1);
  throw new RangeError('late');
});
worker.method('ward_error', () => {
  throw new ward.WardError(422, 'unprocessable', { field: 'name' });
});
// Waits for the host's CANCEL through ctx.signal, then says what it saw.
worker.method('wait', async (ctx) => {
  log.push('wait started');
  await worker.notify('started', 'wait');
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
  log.push(`wait saw abort: ${ctx.cancelled} ${ctx.signal.reason.name}`);
  throw ctx.signal.reason;
});
worker.method('slow', async (ctx, p) => {
  log.push(`slow ${p.ms}`);
  if (p.tell) await worker.notify('started', 'slow');
  await sleepMs(p.ms);
  return 'slow done';
});
worker.method('rows', async (ctx, p) => {
  for (let i = 1; i <= p.n; i++) await ctx.row(p.stream || 'out', { i, pad: 'x'.repeat(p.pad || 0) });
  return p.n;
});
worker.method('forever', async (ctx) => {
  for (let i = 1; ; i++) await ctx.row('out', i);
});
worker.method('log', () => log);
worker.method('env', () => Object.keys(process.env).filter((k) => k.startsWith('WARD_')).sort());
worker.method('ask', async (ctx, p) => {
  try {
    return { result: await ctx.call(p.method, p.params, p.timeout ? { timeout: p.timeout } : {}) };
  } catch (e) {
    return { error: e.name, code: e.code, message: e.message, data: e.data };
  }
});
worker.method('ask_abort', async (ctx, p) => {
  const ac = new AbortController();
  const pending = ctx.call(p.method, p.params, { signal: ac.signal });
  ac.abort();
  try {
    return { result: await pending };
  } catch (e) {
    return { error: e.name, code: e.code };
  }
});
worker.method('poke', (ctx, p) => worker.notify('poked', p));
worker.method('bad_note', () => {
  throw new Error('a notification handler that fails');
});
worker.method('block', (ctx, p) => {
  const end = Date.now() + p.ms;
  while (Date.now() < end) { /* blocks the event loop: no PONG meanwhile */ }
  return 'unblocked';
});
worker.method('leave', () => worker.close('bye'));
// Log records (protocol.md 8.4): two for the call, one outside it; what
// breaks the rules is refused at the call, before anything is sent (the
// names of the errors thrown are the reply).
worker.method('logs', (ctx) => {
  ctx.log('warn', 'disk slow', { ms: 250, disk: 'sda' });
  ctx.log(5, 'tab\there');
  worker.log('debug', 'not in a call');
  const refused = [];
  for (const [level, message, fields] of [['loud', 'm'], [0, 'm'], ['info', 'x'.repeat(4097)],
    ['info', 'nul \0'], ['info', 'm', { k: 'v'.repeat(1025) }], ['info', 'm', { 'a b': 1 }],
    ['info', 'm', [['k', 1], ['k', 2]]], ['info', 'm', 'k=v']]) {
    try {
      ctx.log(level, message, fields);
    } catch (e) {
      refused.push(e.name);
    }
  }
  return refused;
});
worker.method('log_big', (ctx, n) => {
  try {
    ctx.log('info', 'x'.repeat(n));
    return 'sent';
  } catch (e) {
    return e.name;
  }
});
// Says goodbye, then tries to log: stderr says what it threw.
worker.method('leave_log', () => {
  worker.close('bye');
  try {
    worker.log('info', 'too late');
  } catch (e) {
    process.stderr.write(`log after close: ${e.name}\n`);
  }
});
// A notification's records belong to no call.
worker.method('note_log', (ctx, p) => ctx.log('info', 'noted', { what: p }));

// Before the handshake: the record waits for it.
if (process.argv.includes('--log-early')) worker.log('info', 'starting', { pid: process.pid });
worker.run();
