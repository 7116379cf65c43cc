// The JS binding over the full core in WASM: two clients converging through a server
// database, sync states, failed operations, conflicts, and a custom merge written in JS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule, CoreDb } from '../../js/core.js';

const mod = await loadModule();
const serverMod = await loadModule('server');
const schema = {
  collections: {
    notes: {
      fields: { title: 'lww', tags: 'set', votes: 'counter', status: 'manual', createdBy: 'fww', layout: 'custom' },
      search: ['title'],
      indexes: ['status'],
    },
  },
};

function world(n) {
  const server = CoreDb.open(serverMod, { role: 'server', schema });
  const clients = Array.from({ length: n }, () => CoreDb.open(mod, { schema }));
  const ctx = (c) => JSON.stringify({ user: 'u', device: c.device });
  const sync = (c) => {
    for (let body; (body = c.pushBegin(50));) c.pushEnd(server.serverPush(body, ctx(c)));
    while (c.pullApply(server.serverPull(c.pullRequest(100), ctx(c))));
  };
  const close = () => [server, ...clients].forEach((d) => d.close());
  return { server, clients, sync, close };
}

test('two clients converge: LWW fields, add-wins tags, counters', () => {
  const w = world(2);
  const [a, b] = w.clients;
  try {
    const op = a.put('notes', 'n1', { title: 'Pump', tags: ['x'], votes: 1 });
    assert.match(op, /^[0-9a-f]{16}:1$/);
    assert.equal(a.recordState('notes', 'n1'), 'local-only');
    w.sync(a);
    assert.equal(a.recordState('notes', 'n1'), 'synced');
    w.sync(b);
    a.patch('notes', 'n1', { title: 'Pump 4', tags: { $add: ['a'] }, votes: { $inc: 2 } });
    b.patch('notes', 'n1', { tags: { $add: ['b'] }, votes: { $inc: 3 } });
    assert.equal(b.recordState('notes', 'n1'), 'modified-locally');
    w.sync(a); w.sync(b); w.sync(a);
    const want = { title: 'Pump 4', tags: ['a', 'b', 'x'], votes: 6 };
    assert.deepEqual(w.server.get('notes', 'n1'), want);
    assert.deepEqual(a.get('notes', 'n1'), want);
    assert.deepEqual(b.get('notes', 'n1'), want);
    assert.deepEqual(a.stateCounts().pendingOps, 0);
  } finally {
    w.close();
  }
});

test('a refused write is kept as failed with its reason, then discarded explicitly', () => {
  const w = world(2);
  const [a, b] = w.clients;
  try {
    a.put('notes', 'n1', { title: 't' });
    w.sync(a); w.sync(b);
    a.patch('notes', 'n1', { createdBy: 'ann' });
    assert.throws(() => a.patch('notes', 'n1', { createdBy: 'eve' }), (e) => e.code === 'immutable');
    b.patch('notes', 'n1', { createdBy: 'bob' });
    w.sync(a); w.sync(b);
    assert.equal(w.server.get('notes', 'n1').createdBy, 'ann');
    assert.equal(b.recordState('notes', 'n1'), 'failed');
    const [failed] = b.ops('failed');
    assert.match(failed.lastError, /^immutable:/);
    assert.deepEqual(failed.payload, { createdBy: { set: 'bob' } });
    assert.equal(b.get('notes', 'n1').createdBy, 'ann');
    b.discard(failed.id);
    assert.equal(b.recordState('notes', 'n1'), 'synced');
    assert.equal(b.ops().length, 0);
  } finally {
    w.close();
  }
});

test('manual conflicts are listed on both sides and a resolution reaches everyone', () => {
  const w = world(2);
  const [a, b] = w.clients;
  try {
    a.put('notes', 'n1', { status: 'open' });
    w.sync(a); w.sync(b);
    a.patch('notes', 'n1', { status: 'done' });
    b.patch('notes', 'n1', { status: 'blocked' });
    w.sync(a); w.sync(b); w.sync(a);
    const [conflict] = a.conflicts();
    assert.equal(conflict.field, 'status');
    assert.deepEqual([conflict.server, conflict.incoming], ['done', 'blocked']);
    assert.equal(b.conflicts().length, 1);
    a.resolve(conflict.id, 'blocked');
    w.sync(a); w.sync(b);
    assert.equal(b.get('notes', 'n1').status, 'blocked');
    assert.equal(b.conflicts().length, 0);
    assert.equal(a.conflicts({ all: true })[0].status, 'resolved');
  } finally {
    w.close();
  }
});

test('a custom merge written in JavaScript decides concurrent values on the server', () => {
  const w = world(2);
  const [a, b] = w.clients;
  const calls = [];
  const merge = (coll, field, current, incoming) => {
    calls.push([coll, field, current, incoming]);
    return [current, incoming].sort().join('+');
  };
  w.server.setMerge(merge);
  try {
    a.put('notes', 'n1', { layout: 'grid' });
    w.sync(a); w.sync(b);
    a.patch('notes', 'n1', { layout: 'list' });
    b.patch('notes', 'n1', { layout: 'cards' });
    w.sync(a); w.sync(b); w.sync(a);
    assert.deepEqual(calls, [['notes', 'layout', 'list', 'cards']]);
    assert.equal(a.get('notes', 'n1').layout, 'cards+list');
    // A merge that throws rejects the write visibly instead of crashing.
    w.server.setMerge(() => { throw new Error('no'); });
    a.patch('notes', 'n1', { layout: 'x' });
    b.patch('notes', 'n1', { layout: 'y' });
    w.sync(a); w.sync(b);
    assert.equal(b.ops('failed').length, 1);
    assert.match(b.ops('failed')[0].lastError, /^merge:/);
  } finally {
    w.close();
  }
});

test('queries filter, sort and page; live-query change notifications arrive', () => {
  const db = CoreDb.open(mod, { schema });
  try {
    for (let i = 0; i < 20; i++) db.put('notes', `n${i}`, { title: `note ${i}`, status: i % 3 === 0 ? 'open' : 'done', votes: i });
    const open = db.query('notes', { where: { status: 'open' }, orderBy: [['votes', 'desc']], limit: 3 });
    assert.deepEqual(open.map((r) => r.id), ['n18', 'n15', 'n12']);
    assert.equal(open[0].state, 'local-only');
    const page = db.query('notes', { where: { votes: { $gte: 5, $lt: 9 } }, orderBy: 'votes', offset: 1, limit: 2 });
    assert.deepEqual(page.map((r) => r.doc.votes), [6, 7]);
    assert.deepEqual(db.query('notes', { where: { status: { $in: ['open'] }, votes: { $ne: 0 } } }).length, 6);
    const changes = db.takeChanges();
    assert.equal(changes.length, 20);
    assert.deepEqual(changes[0], { coll: 'notes', id: 'n0', state: 'local-only' });
    assert.deepEqual(db.takeChanges(), []);
    assert.throws(() => db.query('notes', { where: { "x'); DROP TABLE records; --": 1 } }), (e) => e.code === 'invalid');
  } finally {
    db.close();
  }
});

test('a progressive initial sync reports its pages; a resync after compaction converges', () => {
  const w = world(2);
  const [a, b] = w.clients;
  const ctx = JSON.stringify({ user: 'u', device: b.device });
  try {
    a.transaction(() => { for (let i = 0; i < 30; i++) a.put('notes', `n${i}`, { title: `note ${i}` }); });
    w.sync(a);
    const pages = [];
    for (let more = true; more;) {
      more = b.pullApply(w.server.serverPull(b.pullRequest(10, { order: 'recent' }), ctx));
      pages.push(`${b.pullProgress().page} of ${b.pullProgress().pages}`);
    }
    assert.deepEqual(pages, ['1 of 3', '2 of 3', '3 of 3']);
    assert.equal(b.pullProgress().phase, 'idle');
    a.delete('notes', 'n1');
    a.patch('notes', 'n2', { title: 'changed' });
    w.sync(a);
    w.server.serverCompact(Number(w.server.sql("SELECT v FROM meta WHERE k = 'version'")[0][0]));
    assert.throws(() => w.server.serverPull(b.pullRequest(10), ctx), (e) => e.code === 'resync');
    b.resyncBegin(0.01);
    while (b.pullApply(w.server.serverPull(b.pullRequest(100), ctx)));
    const progress = b.pullProgress();
    assert.equal(progress.verified, true);
    assert.ok(progress.omitted >= 27, `omitted ${progress.omitted}`);
    assert.equal(b.get('notes', 'n1'), undefined);
    assert.equal(b.get('notes', 'n2').title, 'changed');
  } finally {
    w.close();
  }
});
