#!/usr/bin/env node
// A ward worker in Node that serves the conformance contract of
// docs/protocol.md section 16 and passes `ward conform`:
//
//   NODE_PATH=bindings/node ward conform node examples/node/conform_worker.js
//
// (or `npm install bindings/node` beside it). Each handler is one
// behaviour of the protocol done with the `ward` package's worker API:
// copy it to start a worker of your own.
'use strict';

const ward = require('ward');
const { setTimeout: sleepMs } = require('node:timers/promises');

const worker = new ward.Worker({ name: 'conform', meta: { lang: 'node' } });

// The request's bytes back, tagged with the request's encoding.
worker.method('conform.echo', (ctx, data) => data, { raw: true });

worker.method('conform.fail', (ctx, p) => {
  ctx.fail(p.code, p.message || '', p.data);
});

// An ordinary exception: the package makes it a remote error with the
// error's name and message.
worker.method('conform.raise', (ctx, p) => {
  throw new TypeError(p.message);
});

// Params that are not JSON never get here: the package answers -9.
worker.method('conform.add', (ctx, p) => p.a + p.b);

worker.method('conform.rows', async (ctx, p) => {
  const pad = 'x'.repeat(p.pad || 0);
  ctx.diag(`starting ${p.n} rows`, { code: 'start', level: 'warning' });
  for (let i = 1; i <= p.n; i++) {
    await ctx.row('out', { i, pad }); // waits for the window; rejects with Cancelled
    if (p.every && i % p.every === 0) await ctx.progress({ done: i, total: p.n });
  }
  // A log record for the host's log ring (a line on stderr for a host
  // that takes none): level, message, fields; the call's id goes with it.
  ctx.log('info', 'rows sent', { rows: p.n, stream: 'out' });
  return p.n;
});

worker.method('conform.forever', async (ctx) => {
  for (let i = 1; ; i++) await ctx.row('out', { i }); // until the host cancels
});

// Work in small asynchronous steps: the event loop answers heartbeats
// between them, and ctx.signal aborts the wait when the host cancels.
worker.method('conform.sleep', async (ctx, p) => {
  if (p.tell) await worker.notify('conform.running', {});
  await sleepMs(p.ms, undefined, { signal: ctx.signal });
  return 'done';
});

worker.method('conform.ask', async (ctx, p) => {
  try {
    return { result: await ctx.call(p.method, p.params) };
  } catch (e) {
    if (!(e instanceof ward.WardError)) throw e;
    return { code: e.code, message: e.message, data: e.data === undefined ? null : e.data };
  }
});

worker.method('conform.notify', (ctx, p) => worker.notify('conform.notified', p));

worker.method('conform.leave', () => worker.close('leaving on purpose'));

worker.run();
