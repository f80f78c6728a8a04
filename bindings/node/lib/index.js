'use strict';
// ward: write ward workers in JavaScript (docs/protocol.md). The worker
// side only; no native addon, no dependencies; Node 18 or newer.
//
//   const ward = require('ward');
//   ward.run({ add: (ctx, p) => p.a + p.b });

const { Worker, Context, Encoded, Level } = require('./worker');
const errors = require('./errors');
const protocol = require('./protocol');
const payload = require('./payload');

let shared = null;

// The worker of this process, for the module-level functions below.
function worker() {
  if (!shared) shared = new Worker();
  return shared;
}

// Registers a handler on the shared worker (Worker.method).
function method(name, fn, options) {
  worker().method(name, fn, options);
}

// Registers `handlers` ({name: fn}) on the shared worker and runs it
// (Worker.run): the process exits when the host says goodbye.
function run(handlers = {}, { name, meta, traceback } = {}) {
  const w = worker();
  if (name) w.name = name;
  if (meta) Object.assign(w.meta, meta);
  if (traceback !== undefined) w.traceback = traceback;
  for (const [m, fn] of Object.entries(handlers)) w.method(m, fn);
  return w.run();
}

module.exports = {
  Worker, Context, Encoded, Level, worker, method, run,
  call: (...a) => worker().call(...a),
  notify: (...a) => worker().notify(...a),
  log: (...a) => worker().log(...a),
  haveMsgpack: payload.haveMsgpack,
  RAW: protocol.RAW, JSON: protocol.JSON, MSGPACK: protocol.MSGPACK,
  protocol,
  ...errors,
};
