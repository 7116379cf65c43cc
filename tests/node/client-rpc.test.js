// The one call/reply/event layer (js/client/rpc.js) and the handle on it (js/sloop.js), against
// fake ports that record what is posted: errors cross as SloopErrors with their code, kind and
// status; calls on a shared channel are answered by the one endpoint that serves them; what
// the handle's close() sends; arguments a worker cannot clone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RpcEndpoint, DECLINE, directPorts } from '../../js/client/rpc.js';
import { SloopError, toWire, fromWire } from '../../js/errors.js';
import { Sloop } from '../../js/sloop.js';

/** A worker as the page sees it: records posts; deliver() is the worker answering. */
function fakeWorker({ clone = false } = {}) {
  const listeners = new Set();
  return {
    posted: [],
    ended: false,
    postMessage(message) { this.posted.push(clone ? structuredClone(message) : message); },
    addEventListener(type, fn) { listeners.add(fn); },
    removeEventListener(type, fn) { listeners.delete(fn); },
    deliver(data) { for (const fn of listeners) fn({ data }); },
  };
}

/** A BroadcastChannel stand-in: what one member posts, every other member receives. */
function fakeChannel() {
  const members = new Set();
  return () => {
    const me = {
      listeners: new Set(),
      postMessage(data) { for (const m of members) if (m !== me) queueMicrotask(() => { for (const fn of m.listeners) fn({ data: structuredClone(data) }); }); },
      addEventListener(type, fn) { me.listeners.add(fn); },
      removeEventListener(type, fn) { me.listeners.delete(fn); },
    };
    members.add(me);
    return me;
  };
}

const openHandle = (worker) => new Sloop(worker, { name: 'notes' }, { runsIn: 'worker', end: () => { worker.ended = true; } });

test('errors cross in one wire format: a SloopError with its code, kind and status', async () => {
  const error = Object.assign(new SloopError('expired', 'token expired'), { kind: 'expired', status: 401 });
  const back = fromWire(structuredClone(toWire(error)));
  assert.ok(back instanceof SloopError);
  assert.deepEqual([back.code, back.message, back.kind, back.status], ['expired', 'token expired', 'expired', 401]);
  assert.equal(fromWire(toWire(new TypeError('bug'))).code, 'internal');

  const [a, b] = directPorts();
  new RpcEndpoint(b, { serve: (method) => { if (method === 'fail') throw error; return 'ok'; } });
  const caller = new RpcEndpoint(a);
  assert.equal(await caller.call('fine'), 'ok');
  await assert.rejects(caller.call('fail'), (e) => e instanceof SloopError && e.code === 'expired' && e.status === 401);
});

test('over a direct pair, events and replies arrive in the order they were sent', async () => {
  const [a, b] = directPorts();
  const seen = [];
  const engine = new RpcEndpoint(b, { serve: async () => { engine.emit('change', 1); return 'done'; } });
  const handle = new RpcEndpoint(a, { onEvent: (event, detail) => seen.push([event, detail]) });
  const result = await handle.call('put');
  seen.push(['reply', result]);
  assert.deepEqual(seen, [['change', 1], ['reply', 'done']]);
  handle.close();
  await assert.rejects(handle.call('put'), { code: 'closed' });
});

test('on a shared channel a call is answered by the endpoint that serves it, and re-sent to the next one', async () => {
  const join = fakeChannel();
  let writer = 'first';
  const serveAs = (name) => (method) => (writer === name ? `${method} by ${name}` : DECLINE);
  const first = new RpcEndpoint(join(), { self: 'first', serve: serveAs('first') });
  new RpcEndpoint(join(), { self: 'second', serve: serveAs('second') });
  const follower = new RpcEndpoint(join(), { self: 'follower' });
  assert.equal(await follower.call('sync'), 'sync by first');
  // The writer goes away before it answers; the next one takes over and the call is re-sent.
  writer = null;
  const waiting = follower.call('sync');
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(follower.pending.size, 1, 'nobody answered');
  first.close();
  writer = 'second';
  follower.resend();
  assert.equal(await waiting, 'sync by second');
});

test('close() passes its options to the engine, and a second close({waitDurable: false}) reaches it while the first waits', async () => {
  const worker = fakeWorker();
  const db = openHandle(worker);
  let firstDone = false;
  const first = db.close().then(() => { firstDone = true; });
  const second = db.close({ waitDurable: false });
  const closes = worker.posted.filter((m) => m.type === 'call' && m.method === 'close');
  assert.deepEqual(closes.map((m) => m.args), [[{}], [{ waitDurable: false }]]);
  // The engine answers the abandoning close; the waiting one is answered with it (persist.js).
  worker.deliver({ type: 'reply', id: closes[1].id, result: undefined });
  await second;
  assert.equal(worker.ended, true);
  assert.equal(db.closed, true);
  await first; // rejected as closed when the transport ended, which close() swallows
  assert.equal(firstDone, true);
  await assert.rejects(db.put('notes', 'a', {}), { code: 'closed' });
});

test('a call whose arguments cannot be cloned is refused as invalid and leaves no pending entry', async () => {
  const worker = fakeWorker({ clone: true });
  const db = openHandle(worker);
  await assert.rejects(db.put('notes', 'a', { title: 't', onClick() {} }), (e) => e.code === 'invalid' && /^put: /.test(e.message));
  assert.equal(db.rpc.pending.size, 0);
  assert.equal(worker.posted.filter((m) => m.type === 'call').length, 0);
  const fine = db.put('notes', 'b', { title: 't' });
  const sent = worker.posted.find((m) => m.type === 'call' && m.method === 'put');
  assert.deepEqual(sent.args, ['notes', 'b', { title: 't' }]);
  worker.deliver({ type: 'reply', id: sent.id, result: 'op-1' });
  assert.equal(await fine, 'op-1');
  assert.equal(db.rpc.pending.size, 0);
});

test('the handle answers the engine\'s auth questions from the app\'s provider, errors included', async () => {
  const worker = fakeWorker();
  let calls = 0;
  const db = new Sloop(worker, { name: 'notes', auth: { getToken: () => 'tok', refresh: async () => { calls++; throw new SloopError('network', 'offline'); } } }, { runsIn: 'worker' });
  worker.deliver({ type: 'call', id: 1, method: 'auth', args: ['getToken'] });
  worker.deliver({ type: 'call', id: 2, method: 'auth', args: ['refresh'] });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const replies = worker.posted.filter((m) => m.type === 'reply');
  assert.deepEqual(replies.find((r) => r.id === 1), { type: 'reply', id: 1, result: 'tok' });
  assert.deepEqual(replies.find((r) => r.id === 2).error, { code: 'network', message: 'offline' });
  assert.equal(calls, 1);
  // Events: status kept as a copy, errors made SloopErrors again.
  const errors = [];
  db.addEventListener('error', (e) => errors.push(e.detail.error));
  worker.deliver({ type: 'event', event: 'status', detail: { online: true, error: null } });
  worker.deliver({ type: 'event', event: 'error', detail: { error: { code: 'quota', message: 'full' } } });
  assert.equal(db.status.online, true);
  assert.ok(errors[0] instanceof SloopError && errors[0].code === 'quota');
});
