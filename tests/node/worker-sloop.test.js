// The page's handle on an engine in a worker (js/client/worker-sloop.js), against a fake
// worker that records what the page posts: what close() sends, and a second close that ends
// the first one's wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkerSloop } from '../../js/client/worker-sloop.js';

// What close() detaches from; Node has no window events and no document.
globalThis.removeEventListener ??= () => {};
globalThis.document ??= { removeEventListener() {} };

function fakeWorker() {
  return {
    posted: [],
    terminated: false,
    postMessage(message) { this.posted.push(message); },
    terminate() { this.terminated = true; },
  };
}

test('close() passes its options to the worker, and a second close({waitDurable: false}) reaches it while the first waits', async () => {
  const worker = fakeWorker();
  const db = new WorkerSloop(worker, { name: 'notes' });
  let firstDone = false;
  const first = db.close().then(() => { firstDone = true; });
  const second = db.close({ waitDurable: false });
  const closes = worker.posted.filter((m) => m.type === 'call' && m.method === 'close');
  assert.deepEqual(closes.map((m) => m.args), [[{}], [{ waitDurable: false }]]);
  // The engine answers the abandoning close; the waiting one is answered with it (persist.js).
  db.onMessage({ type: 'reply', id: closes[1].id, result: undefined });
  await second;
  assert.equal(worker.terminated, true);
  assert.equal(db.closed, true);
  await first; // rejected as closed by the termination, which close() swallows
  assert.equal(firstDone, true);
  await assert.rejects(db.put('notes', 'a', {}), { code: 'closed' });
});

test('a call whose arguments cannot be cloned is refused as invalid and leaves no pending entry', async () => {
  const worker = fakeWorker();
  // A worker's postMessage clones what it sends, and throws DataCloneError for a function.
  worker.postMessage = function (message) { this.posted.push(structuredClone(message)); };
  const db = new WorkerSloop(worker, { name: 'notes' });
  await assert.rejects(db.put('notes', 'a', { title: 't', onClick() {} }), (e) => e.code === 'invalid' && /^put: /.test(e.message));
  assert.equal(db.calls.size, 0);
  assert.equal(worker.posted.filter((m) => m.type === 'call').length, 0);
  const fine = db.put('notes', 'b', { title: 't' });
  const sent = worker.posted.find((m) => m.type === 'call' && m.method === 'put');
  assert.deepEqual(sent.args, ['notes', 'b', { title: 't' }]);
  db.onMessage({ type: 'reply', id: sent.id, result: 'op-1' });
  assert.equal(await fine, 'op-1');
  assert.equal(db.calls.size, 0);
});
