// The tenant store's contract, at the store's own interface (push, pull, compact with the
// context the HTTP layer gives), on this run's store: tests/run.mjs runs this file on the
// embedded SQLite store (`node`) and on PostgreSQL (`node-pg`, SLOOP_TEST_STORE=postgres). What
// one store answers the other must: paging and its counts, scopes and read grants, snapshot
// pages, conflicts and their resolution, compaction and the Bloom-filter resync, devices, and
// refusals that change nothing.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModule, CoreDb } from '../../js/core.js';
import { STORE, storeOpener } from './test-store.js';

const schema = {
  collections: {
    notes: { fields: { title: 'lww', status: 'manual', rank: 'lww', votes: 'counter', tags: 'set' } },
    tasks: { fields: { title: 'lww', done: 'lww' } },
  },
};
const mod = await loadModule();
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-conformance-'));
const open = await storeOpener({ dataDir, schema });
const opened = [];
after(async () => {
  for (const s of opened) await s.close();
  await open.close();
  rmSync(dataDir, { recursive: true, force: true });
});
let tenants = 0;
/** A store of a tenant no other test uses. */
async function freshStore() {
  const store = await open(`conf-${STORE}-${++tenants}`);
  opened.push(store);
  return store;
}

const ALL = { read: '*', write: '*' };
const ctxOf = (db, user = 'alice', perms = ALL) => JSON.stringify({ user, device: db.device, perms });
const client = () => CoreDb.open(mod, { schema });

/** Pushes everything pending; the answers' results. */
async function push(store, db, ctx = ctxOf(db)) {
  const results = [];
  for (let body; (body = db.pushBegin(100));) {
    const answer = await store.push(body, ctx, JSON.parse(body).ops.length);
    db.pushEnd(answer);
    results.push(...JSON.parse(answer).results);
  }
  return results;
}

/** Pulls until caught up; every answer, parsed. */
async function pull(store, db, { limit = 100, scope = null, ctx = ctxOf(db) } = {}) {
  const answers = [];
  for (let more = true; more;) {
    const text = await store.pull(db.pullRequest(limit, scope), ctx);
    answers.push(JSON.parse(text));
    more = db.pullApply(text);
  }
  return answers;
}

const docs = (db) => Object.fromEntries(db.sql('SELECT coll, id, doc FROM records WHERE doc IS NOT NULL ORDER BY coll, id')
  .map(([coll, id, doc]) => [`${coll}/${id}`, JSON.parse(doc)]));
/** `call` is refused with `code` (the SQLite store refuses synchronously, PostgreSQL's later). */
const rejectsWith = (call, code) => assert.rejects(async () => call(), (e) => e.code === code);

/** 300 records, notes and tasks interleaved, so a collection's rows are spread over the log. */
async function seeded(store) {
  const a = client();
  for (let i = 0; i < 300; i++) {
    if (i % 6 === 0) a.put('tasks', `t${i}`, { title: `task ${i}`, done: false });
    else a.put('notes', `n${i}`, { title: `note ${i}`, status: i % 4 === 0 ? 'open' : 'done', rank: i });
  }
  await push(store, a);
  return a;
}

test(`${STORE}: a push answers each operation with the next version, and again the same when replayed`, async () => {
  const store = await freshStore();
  const a = client();
  for (let i = 0; i < 5; i++) a.put('notes', `n${i}`, { title: `t${i}`, votes: i });
  const body = a.pushBegin(100);
  const first = JSON.parse(await store.push(body, ctxOf(a), 5));
  assert.deepEqual(first.results.map((r) => [r.status, r.version]), [1, 2, 3, 4, 5].map((v) => ['applied', v]));
  const again = JSON.parse(await store.push(body, ctxOf(a), 5));
  assert.deepEqual(again.results, first.results, 'a replay is answered from what was kept');
  a.pushEnd(JSON.stringify(first));
  const b = client();
  await pull(store, b);
  assert.deepEqual(docs(b), docs(a));
  assert.equal(b.sql("SELECT count(*) FROM records")[0][0], 5);
});

test(`${STORE}: pages of a scope carry the right cursor, hasMore and remaining`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  const tasks = client();
  const pages = await pull(store, tasks, { limit: 7, scope: { collections: ['tasks'] } });
  let received = 0;
  for (const [i, page] of pages.entries()) {
    assert.ok(page.changes.every((c) => c.coll === 'tasks'));
    received += page.changes.length;
    assert.equal(page.hasMore, i < pages.length - 1);
    assert.equal(page.remaining, page.hasMore ? 50 - received : 0, `page ${i}`);
  }
  assert.equal(received, 50);
  assert.equal(pages.at(-1).cursor, 300, 'the last page leaves the cursor at the head');
  const everything = client();
  const all = await pull(store, everything, { limit: 64 });
  assert.deepEqual(all.map((p) => p.changes.length), [64, 64, 64, 64, 44]);
  assert.deepEqual(all.map((p) => p.remaining), [236, 172, 108, 44, 0]);
  assert.deepEqual(docs(everything), docs(a));
});

test(`${STORE}: a where scope sends what matches, and evicts what stops matching`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  await pull(store, a);
  const open = client();
  const scope = { collections: ['notes'], where: { status: 'open' } };
  await pull(store, open, { limit: 30, scope });
  const want = Object.entries(docs(a)).filter(([k, d]) => k.startsWith('notes/') && d.status === 'open');
  assert.deepEqual(Object.keys(docs(open)), want.map(([k]) => k));
  a.patch('notes', 'n4', { status: 'done' });
  a.patch('notes', 'n5', { status: 'open' });
  await push(store, a);
  const [page] = await pull(store, open, { scope });
  assert.ok(page.changes.some((c) => c.rid === 'n4' && c.evict), 'n4 left the scope: evicted');
  assert.equal(docs(open)['notes/n4'], undefined);
  assert.equal(docs(open)['notes/n5'].status, 'open');
});

test(`${STORE}: read grants bound what a pull sends and counts; write grants what a push may change`, async () => {
  const store = await freshStore();
  await seeded(store);
  const reader = client();
  const perms = { read: ['tasks'], write: ['tasks'] };
  const pages = await pull(store, reader, { limit: 20, ctx: ctxOf(reader, 'bob', perms) });
  assert.deepEqual(pages.map((p) => p.remaining), [30, 10, 0], 'notes are not even counted');
  assert.ok(pages.every((p) => p.changes.every((c) => c.coll === 'tasks')));
  reader.put('notes', 'sneaky', { title: 'not allowed' });
  reader.put('tasks', 'fine', { title: 'allowed' });
  const results = await push(store, reader, ctxOf(reader, 'bob', perms));
  assert.deepEqual(results.map((r) => [r.status, r.code]), [['rejected', 'denied'], ['applied', undefined]]);
  const check = client();
  await pull(store, check);
  assert.equal(docs(check)['notes/sneaky'], undefined);
  assert.equal(docs(check)['tasks/fine'].title, 'allowed');
});

test(`${STORE}: a snapshot pull serves the scope newest first, page by page, and ends at the head`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  const fresh = client();
  const scope = { collections: ['notes'], order: 'recent', orderBy: 'rank' };
  const pages = await pull(store, fresh, { limit: 50, scope });
  const ranks = pages.flatMap((p) => p.changes.map((c) => c.doc.rank));
  assert.equal(ranks.length, 250);
  assert.deepEqual(ranks, [...ranks].sort((x, y) => y - x), 'highest rank first');
  assert.ok(pages[0].snapshot && pages[0].progress, 'the first page carries the token and the progress');
  assert.equal(pages.at(-1).cursor, 300);
  const want = Object.fromEntries(Object.entries(docs(a)).filter(([k]) => k.startsWith('notes/')));
  assert.deepEqual(docs(fresh), want);
});

test(`${STORE}: a snapshot by version serves its groups in order, newest first, across many pages`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  const fresh = client();
  // Groups in the scope's order; small pages, so a store that loads a window per page cuts
  // pages inside groups and at their ends.
  const scope = { collections: ['tasks', 'notes'], order: 'recent' };
  const pages = await pull(store, fresh, { limit: 17, scope });
  const served = pages.flatMap((p) => p.changes.map((c) => [c.coll, c.version]));
  assert.equal(served.length, 300);
  assert.deepEqual(served.slice(0, 50).map(([coll]) => coll), Array(50).fill('tasks'), 'every task first');
  for (const coll of ['tasks', 'notes']) {
    const versions = served.filter(([c]) => c === coll).map(([, v]) => v);
    assert.deepEqual(versions, [...versions].sort((x, y) => y - x), `${coll}: newest first`);
  }
  assert.equal(new Set(served.map(([c, v]) => `${c}${v}`)).size, 300, 'nothing served twice');
  assert.ok(pages.length >= 300 / 17, `${pages.length} pages`);
  assert.deepEqual(pages.at(-1).progress.sent, 300);
  assert.deepEqual(docs(fresh), docs(a));
});

test(`${STORE}: a conflict is recorded, pulled by both devices, resolved once and closed for both`, async () => {
  const store = await freshStore();
  const a = client();
  const b = client();
  a.put('notes', 'x', { title: 'shared', status: 'open' });
  await push(store, a);
  await pull(store, b, { ctx: ctxOf(b, 'bob') });
  a.patch('notes', 'x', { status: 'done' });
  b.patch('notes', 'x', { status: 'blocked' });
  await push(store, a);
  const [late] = await push(store, b, ctxOf(b, 'bob'));
  assert.equal(late.status, 'conflict');
  await pull(store, a);
  await pull(store, b, { ctx: ctxOf(b, 'bob') });
  const [ca] = a.conflicts();
  const [cb] = b.conflicts();
  assert.equal(ca.id, cb.id);
  assert.equal(ca.status, 'open');
  b.resolve(cb.id, 'blocked');
  const [resolved] = await push(store, b, ctxOf(b, 'bob'));
  assert.equal(resolved.status, 'applied', JSON.stringify(resolved));
  await pull(store, a);
  assert.equal(a.conflicts().length, 0, 'closed for the other device too');
  assert.equal(a.get('notes', 'x').status, 'blocked');
  // A resolve of the closed conflict, sent as a device that had not heard yet would, is refused
  // by the store and changes nothing.
  const stale = JSON.stringify({ v: 2, device: a.device, ops: [{ id: `${a.device}:99`, type: 'resolve', coll: 'notes',
    rid: 'x', hlc: a.clockNow(), base: 0, payload: { conflict: ca.id, value: 'done' } }] });
  const [again] = JSON.parse(await store.push(stale, ctxOf(a), 1)).results;
  assert.equal(again.status, 'rejected', JSON.stringify(again));
  await pull(store, b, { ctx: ctxOf(b, 'bob') });
  assert.equal(b.get('notes', 'x').status, 'blocked');
});

test(`${STORE}: after compaction an old cursor gets 410 resync, and the Bloom resync converges`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  await pull(store, a);
  const away = client();
  await pull(store, away);
  for (let i = 1; i <= 5; i++) a.delete('notes', `n${i}`);
  a.put('notes', 'late', { title: 'written while away was away' });
  await push(store, a);
  const [{ version: head }] = (await push(store, (a.put('tasks', 'head', { title: 'h' }), a))).slice(-1);
  await store.compact(head);
  await rejectsWith(() => store.pull(away.pullRequest(100), ctxOf(away)), 'resync');
  away.resyncBegin(0.01);
  await pull(store, away, { limit: 80 });
  // One page: a version-ordered sync from 0 whose second page starts below the horizon would
  // itself be sent to resync.
  const check = client();
  await pull(store, check, { limit: 1000 });
  assert.deepEqual(docs(away), docs(check));
  assert.equal(docs(away)['notes/n1'], undefined);
  assert.equal(docs(away)['notes/late'].title, 'written while away was away');
  const progress = away.pullProgress();
  assert.equal(progress.mode, 'filter');
  assert.ok(progress.omitted > 250, `the filter spared what away held (${progress.omitted})`);
});

test(`${STORE}: a device is its first user's; bad requests are refused and change nothing`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  const before = client();
  await pull(store, before);
  await rejectsWith(() => store.pull(a.pullRequest(10), ctxOf(a, 'mallory')), 'device');
  a.put('notes', 'theirs', { title: 'mallory may not push as alice\'s device' });
  await rejectsWith(() => store.push(a.pushBegin(10), ctxOf(a, 'mallory'), 1), 'device');
  const ahead = JSON.stringify({ v: 2, device: a.device, cursor: 99999, limit: 10 });
  await rejectsWith(() => store.pull(ahead, ctxOf(a)), 'cursor');
  await rejectsWith(() => store.push('{"v":2,', ctxOf(a), 1), 'json');
  const after = client();
  await pull(store, after);
  assert.deepEqual(docs(after), docs(before));
});

test(`${STORE}: a name the store cannot hold (a NUL in it) is refused per operation; its group goes on`, async () => {
  const store = await freshStore();
  const a = client();
  const b = client();
  const nul = JSON.stringify({ v: 2, device: a.device, ops: [{ id: `${a.device}:1`, type: 'put', coll: 'notes', rid: 'a\u0000b',
    hlc: a.clockNow(), base: 0, payload: { title: 'x' } }, { id: `${a.device}:2`, type: 'put', coll: 'no\u0000tes', rid: 'c',
    hlc: a.clockNow(), base: 0, payload: { title: 'y' } }] });
  b.put('notes', 'fine', { title: 'pushed in the same group' });
  const [bad, good] = await Promise.all([store.push(nul, ctxOf(a), 2), store.push(b.pushBegin(10), ctxOf(b), 1)]);
  assert.deepEqual(JSON.parse(bad).results.map((r) => [r.status, r.code]), [['rejected', 'invalid'], ['rejected', 'schema']]);
  assert.equal(JSON.parse(good).results[0].status, 'applied');
  // A scope naming such a collection reads nothing (and fails nothing).
  const odd = JSON.stringify({ v: 2, device: b.device, cursor: 0, limit: 10, scope: { collections: ['no\u0000tes'] } });
  assert.deepEqual(JSON.parse(await store.pull(odd, ctxOf(b))).changes, []);
});

test(`${STORE}: values with control characters, quotes and every plane round-trip unchanged`, async () => {
  const store = await freshStore();
  const a = client();
  // What PostgreSQL's json would reject or mangle inside the written rows (the core itself
  // refuses NUL and lone surrogates before they get this far).
  const odd = ['tab\tnew\nline\u0001\u001f', 'emoji 😀 and 中文', '\u2028\u2029', 'quote \' " \\ end', '\\u0000 as text'];
  odd.forEach((title, i) => a.put('notes', `v${i}`, { title, tags: [title] }));
  const results = await push(store, a);
  assert.ok(results.every((r) => r.status === 'applied'), JSON.stringify(results));
  const b = client();
  await pull(store, b);
  assert.deepEqual(docs(b), docs(a));
});

test(`${STORE}: an operation id spelled with a zero or a sign before its number is answered as a replay the second time`, async () => {
  const store = await freshStore();
  const a = client();
  a.put('notes', 'n', { title: 'counted', votes: 0 });
  await push(store, a);
  // The core reads "d:07", "d: +8" as 7 and 8 (strtoll); a store that read them otherwise
  // would miss the answers kept for them and apply the increments again.
  a.patch('notes', 'n', { votes: { $inc: 1 } });
  const real = JSON.parse(a.pushBegin(10));
  a.pushFail('not sent: only its operation is borrowed');
  for (const seq of ['07', ' +8']) {
    const body = JSON.stringify({ ...real, ops: [{ ...real.ops[0], id: `${a.device}:${seq}` }] });
    const first = JSON.parse(await store.push(body, ctxOf(a), 1)).results;
    const again = JSON.parse(await store.push(body, ctxOf(a), 1)).results;
    assert.equal(first[0].status, 'applied', JSON.stringify(first));
    assert.deepEqual(again, first);
  }
  const b = client();
  await pull(store, b);
  assert.equal(b.get('notes', 'n').votes, 2, 'each increment applied once');
});

test(`${STORE}: a filtered resync of a scope of two collections, in small pages, converges`, async () => {
  const store = await freshStore();
  const a = await seeded(store);
  await pull(store, a);
  const scope = { collections: ['tasks', 'notes'] };
  const away = client();
  await pull(store, away, { scope });
  for (let i = 1; i <= 11; i++) a.delete('notes', `n${i}`);
  a.delete('tasks', 't6');
  a.put('tasks', 'late', { title: 'written while away was away' });
  a.patch('notes', 'n13', { title: 'changed while away was away' });
  // Enough changes that the first page cannot hold them all: the later pages are the ones a
  // store may serve from a window.
  for (let i = 14; i < 300; i += 7) a.patch(i % 6 === 0 ? 'tasks' : 'notes', i % 6 === 0 ? `t${i}` : `n${i}`, { title: `again ${i}` });
  await push(store, a);
  const [{ version: head }] = (await push(store, (a.put('notes', 'head', { title: 'h' }), a))).slice(-1);
  await store.compact(head);
  await rejectsWith(() => store.pull(away.pullRequest(100, scope), ctxOf(away)), 'resync');
  away.resyncBegin(0.01);
  // Pages of 9: oldest first (a resync's order), through both groups, most rows left out by the
  // filter, so a store that loads a window per page cuts many pages.
  const pages = await pull(store, away, { limit: 9, scope });
  assert.ok(pages.length > 3, `${pages.length} pages`);
  const check = client();
  await pull(store, check, { limit: 1000, scope });
  assert.deepEqual(docs(away), docs(check));
  assert.equal(docs(away)['notes/n1'], undefined);
  assert.equal(docs(away)['tasks/t6'], undefined);
  assert.equal(docs(away)['notes/n13'].title, 'changed while away was away');
  assert.equal(away.pullProgress().verified, true, 'the scope hash agreed');
});
