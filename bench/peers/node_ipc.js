// node_ipc.js — Node's child_process.fork IPC (json serialization), for
// bench_peers: the same figures as ward's, measured the same way.
//
//   node node_ipc.js rtt REPS N      round trip of a message carrying a
//                                    32-character string; prints, per
//                                    repetition, microseconds per round trip
//   node node_ipc.js stream REPS N   N one-way messages, then a request for
//                                    the count the child saw, which ends the
//                                    measurement; prints messages per second
//   node node_ipc.js rows REPS N     one request for N rows, which the child
//                                    sends as N messages carrying the
//                                    32-character string, then an end
//                                    message; prints rows per second (what
//                                    node_worker.js does under a ward host)
//
// One warm-up run of N comes first. Run by bench_peers, which pins it (or
// not) to the same CPUs as ward's figures.
'use strict';
const { fork } = require('child_process');

const PAYLOAD = 'x'.repeat(32);

function child() {
  let count = 0;
  process.on('message', (m) => {
    if (m.t === 'e') {
      process.send(m);
    } else if (m.t === 'n') {
      count++;
    } else if (m.t === 'c') {
      process.send({ t: 'c', n: count });
      count = 0;
    } else if (m.t === 'r') {
      for (let i = 0; i < m.n; i++) process.send({ t: 'r', d: PAYLOAD });
      process.send({ t: 'd', n: m.n });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

async function parent(mode, reps, n) {
  const c = fork(__filename, ['--child'], {
    serialization: 'json',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let waiting = null;
  let rows = 0;
  c.on('message', (m) => {
    if (m.t === 'r') {
      rows++;
      return;
    }
    const w = waiting;
    waiting = null;
    if (w) w(m);
  });
  const next = () => new Promise((resolve) => { waiting = resolve; });

  async function rtt(k) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) {
      const p = next();
      c.send({ t: 'e', d: PAYLOAD });
      await p;
    }
    return Number(process.hrtime.bigint() - t0) / 1e3 / k;
  }

  async function stream(k) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < k; i++) c.send({ t: 'n', d: PAYLOAD });
    const p = next();
    c.send({ t: 'c' });
    const m = await p;
    if (m.n !== k) throw new Error(`the child counted ${m.n} messages of ${k}`);
    return k / (Number(process.hrtime.bigint() - t0) / 1e9);
  }

  async function rowsIn(k) {
    rows = 0;
    const t0 = process.hrtime.bigint();
    const p = next();
    c.send({ t: 'r', n: k });
    await p;
    if (rows !== k) throw new Error(`${rows} rows of ${k}`);
    return k / (Number(process.hrtime.bigint() - t0) / 1e9);
  }

  const f = { rtt, stream, rows: rowsIn }[mode];
  await f(n); // warm-up (and JIT)
  for (let r = 0; r < reps; r++) console.log((await f(n)).toFixed(6));
  c.disconnect();
}

if (process.argv[2] === '--child') {
  child();
} else {
  const [mode, reps, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  if (!['rtt', 'stream', 'rows'].includes(mode) || !(reps > 0) || !(n > 0)) {
    console.error('usage: node node_ipc.js rtt|stream|rows REPS N');
    process.exit(2);
  }
  parent(mode, reps, n).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
