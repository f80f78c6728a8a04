// node_worker.js — a ward worker in Node (bindings/node), for bench_peers:
// the same payloads as node_ipc.js's child, under a ward host.
//
//   echo    a JSON string, sent back (the round trip)
//   rows    {"n": N}: N rows on stream "r", each the JSON string of 32
//           characters node_ipc.js's child sends, then the reply N
//
// It finds the package beside the benchmarks (../../bindings/node), or
// wherever WARD_NODE_PACKAGE says.
'use strict';
const path = require('path');

const ward = require(process.env.WARD_NODE_PACKAGE || path.join(__dirname, '../../bindings/node'));

const PAYLOAD = 'x'.repeat(32);

ward.run({
  echo: (ctx, s) => s,
  rows: async (ctx, p) => {
    for (let i = 0; i < p.n; i++) await ctx.row('r', PAYLOAD);
    return p.n;
  },
});
