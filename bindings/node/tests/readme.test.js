'use strict';
// The two-line workers of README.md and bindings/node/README.md work as
// they say (each read from its document when the test runs).
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { RawHost, json, Kind } = require('./rawhost');

const PACKAGE = path.join(__dirname, '..');
const ROOT = path.join(PACKAGE, '../..');

function firstJsBlock(file, after) {
  const text = fs.readFileSync(file, 'utf8');
  const from = text.indexOf(after);
  assert.ok(from >= 0, `${file}: no "${after}"`);
  return /```js\n([\s\S]*?)\n```/.exec(text.slice(from))[1];
}

for (const [doc, after, method, params, want] of [
  [path.join(ROOT, 'README.md'), 'A worker in Node is two lines', 'echo', 'hi', 'hi'],
  [path.join(PACKAGE, 'README.md'), 'The two-line worker', 'upper', 'hi', 'HI'],
]) {
  test(`the two-line worker of ${path.relative(ROOT, doc)}`, async () => {
    const code = firstJsBlock(doc, after);
    assert.equal(code.trim().split('\n').length, 2);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ward-node-readme-'));
    // require('ward') finds the package through a node_modules beside it.
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(PACKAGE, path.join(dir, 'node_modules', 'ward'));
    fs.writeFileSync(path.join(dir, 'worker.js'), `${code}\n`);
    const h = await RawHost.start(path.join(dir, 'worker.js'), [], { env: { NODE_PATH: '' } });
    try {
      assert.ok(h.hello.get('method').includes(method));
      h.request(1, method, params);
      assert.equal(json(await h.answer(1)), want);
      h.send(Kind.GOODBYE, 0, 0, '', Buffer.from('stop'));
      assert.deepEqual(await h.waitExit(), { code: 0, signal: null });
    } finally {
      await h.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
