// The one call/reply/event layer (js/rpc.js) and the handle on it (js/sloop.js), against
// fake ports that record what is posted: errors cross as SloopErrors with their code, kind and
// status; calls on a shared channel are answered by the one endpoint that serves them; what
// the handle's close() sends; arguments a worker cannot clone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RpcEndpoint, DECLINE, directPorts } from '../../js/rpc.js';
import { SloopError, toWire, fromWire } from '../../js/errors.js';
import { Sloop } from '../../js/sloop.js';
import { TabPeers } from '../../js/engine/tab-peers.js';
import { openClient } from './client-harness.js';

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

test('a failed close still closes the handle, and rejects with why', async () => {
  const worker = fakeWorker();
  const db = openHandle(worker);
  const closing = db.close();
  const call = worker.posted.find((m) => m.type === 'call' && m.method === 'close');
  worker.deliver({ type: 'reply', id: call.id, error: { code: 'storage', message: 'close failed', cause: { name: 'UnknownError', message: 'disk' } } });
  await assert.rejects(closing, (e) => e instanceof SloopError && e.code === 'storage' && e.cause?.name === 'UnknownError');
  assert.equal(db.closed, true);
  assert.equal(worker.ended, true);
  await db.close(); // closed already: nothing to report
});

test('pause() and resume() change status.paused at once and resolve once the engine answered', async () => {
  const worker = fakeWorker();
  const db = openHandle(worker);
  db.current = { online: true, paused: false, error: null };
  let done = false;
  const pausing = db.pause().then((value) => { done = true; return value; });
  assert.equal(db.status.paused, true);
  const call = worker.posted.find((m) => m.type === 'call' && m.method === 'pause');
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(done, false, 'waits for the engine');
  worker.deliver({ type: 'event', event: 'status', detail: { online: true, paused: true, error: null } });
  worker.deliver({ type: 'reply', id: call.id, result: 'ignored' });
  assert.equal(await pausing, undefined);
  const resuming = db.resume();
  assert.equal(db.status.paused, false);
  const again = worker.posted.find((m) => m.type === 'call' && m.method === 'resume');
  worker.deliver({ type: 'reply', id: again.id, error: { code: 'internal', message: 'boom' } });
  await assert.rejects(resuming, { code: 'internal' });
});

test('an error\'s cause crosses as {name, message} and comes back as its cause', () => {
  const idbError = Object.assign(new Error('The transaction was aborted'), { name: 'AbortError' });
  const error = Object.assign(new SloopError('storage', 'flush failed'), { cause: idbError });
  const wire = structuredClone(toWire(error));
  assert.deepEqual(wire.cause, { name: 'AbortError', message: 'The transaction was aborted' });
  const back = fromWire(wire);
  assert.ok(back.cause instanceof Error);
  assert.deepEqual([back.cause.name, back.cause.message], ['AbortError', 'The transaction was aborted']);
  assert.equal('cause' in toWire(new SloopError('storage', 'no cause')), false);
  assert.equal(fromWire(toWire(new SloopError('storage', 'no cause'))).cause, undefined);
});

test('on the direct transport the engine gets a copy of the page\'s arguments, as from a worker', async () => {
  const { db } = await openClient(null, null);
  try {
    assert.equal(db.runsIn, 'page');
    const doc = { title: 'first' };
    const a = db.put('notes', 'a', doc);
    doc.title = 'second';
    const b = db.put('notes', 'b', doc);
    await Promise.all([a, b]);
    assert.equal((await db.get('notes', 'a')).title, 'first');
    assert.equal((await db.get('notes', 'b')).title, 'second');
    // What a worker could not be sent is refused the same way, and runs nowhere.
    await assert.rejects(db.put('notes', 'c', { title: 't', onClick() {} }), (e) => e instanceof SloopError && e.code === 'invalid' && /^put: /.test(e.message));
    assert.equal(await db.get('notes', 'c'), undefined);
  } finally {
    await db.close();
  }
});

test('a new writer declines a follower\'s sync until its scheduler is made, and answers the call re-sent on its announcement', async () => {
  const join = fakeChannel();
  let runs = 0;
  const writerEngine = {
    closed: false, isWriter: true, serverUrl: 'http://sync.example', scheduler: null,
    // As SloopEngine.syncHere: without a scheduler the database is taken for local only.
    async syncHere() {
      if (!this.scheduler) throw new SloopError('invalid', 'no serverUrl: this database is local only');
      runs++;
    },
  };
  const writer = new TabPeers(join(), writerEngine);
  const follower = new TabPeers(join(), { closed: false, isWriter: false, heard() {} });
  const syncing = follower.requestSync();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(follower.rpc.pending.size, 1, 'declined, waiting for the writer');
  writerEngine.scheduler = {};
  writer.announceWriter();
  await syncing;
  assert.equal(runs, 1);
  // A local-only writer still says so.
  writerEngine.serverUrl = '';
  writerEngine.scheduler = null;
  await assert.rejects(follower.requestSync(), { code: 'invalid' });
  writer.rpc.close();
  follower.rpc.close();
});

test('a follower tab\'s close waits for its writes the writer applies: none is reported failed', async () => {
  const { db: writer, name } = await openClient(null, null);
  const { db: follower } = await openClient(null, null, { name });
  try {
    assert.equal(follower.status.writer, false);
    await writer.put('notes', 'n', { title: 'count', votes: 0 });
    const inc = follower.patch('notes', 'n', { votes: { $inc: 1 } });
    await follower.close();
    assert.match(await inc, /:\d+$/);
    assert.equal((await writer.get('notes', 'n')).votes, 1);
  } finally {
    await follower.close();
    await writer.close();
  }
});
