// Group commit (js/server/group-commit.js): pushes that arrive together share one transaction,
// each keeps its own answer, a refused push changes nothing while its group goes on, and a
// failed commit fails the whole group. Then the same on this run's store (test-store.js):
// concurrent pushes of many devices in one commit, all durable, versions handed out once each.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommitQueue, MAX_GROUP_OPS, MAX_GROUP_PUSHES, MAX_QUEUED_PUSHES, settle } from '../../js/server/group-commit.js';
import { onPostgres, storeOpener } from './test-store.js';
import { loadModule, CoreDb } from '../../js/core.js';

const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-group-commit-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

/** A queue whose groups are recorded; `answer(p)` is each push's outcome. */
function recordingQueue(answer = (p) => `ok ${p.request}`, { delayMs = 0, failCommit = () => false } = {}) {
  const groups = [];
  const queue = new CommitQueue(async (group) => {
    groups.push(group.map((p) => p.request));
    if (delayMs) await sleep(delayMs);
    const outcomes = group.map((p) => settle(() => answer(p)));
    if (failCommit(group)) throw new Error('commit failed');
    return outcomes;
  });
  return { queue, groups };
}

test('pushes queued in one turn share one group and each gets its own answer', async () => {
  const { queue, groups } = recordingQueue((p) => {
    if (p.request === 'bad') throw new Error('refused bad');
    return `ok ${p.request}`;
  });
  const answers = await Promise.allSettled(['a', 'bad', 'c'].map((r) => queue.push(r, '{}', 1)));
  assert.deepEqual(groups, [['a', 'bad', 'c']]);
  assert.deepEqual(answers.map((a) => a.value ?? a.reason.message), ['ok a', 'refused bad', 'ok c']);
  assert.deepEqual(queue.stats, { groups: 1, pushes: 3, largest: 3 });
});

test('a failed commit fails every push of its group and none of the next', async () => {
  let fail = true;
  const { queue, groups } = recordingQueue(undefined, { failCommit: () => fail });
  const first = await Promise.allSettled(['a', 'b'].map((r) => queue.push(r, '{}', 1)));
  assert.deepEqual(first.map((a) => a.status), ['rejected', 'rejected']);
  assert.match(first[0].reason.message, /commit failed/);
  fail = false;
  assert.equal(await queue.push('c', '{}', 1), 'ok c');
  assert.deepEqual(groups, [['a', 'b'], ['c']]);
});

test('pushes arriving while a group commits go together in the next group', async () => {
  const { queue, groups } = recordingQueue(undefined, { delayMs: 30 });
  const first = queue.push('a', '{}', 1);
  await sleep(5); // the first group is committing now
  const later = ['b', 'c', 'd'].map((r) => queue.push(r, '{}', 1));
  assert.deepEqual(await Promise.all([first, ...later]), ['ok a', 'ok b', 'ok c', 'ok d']);
  assert.deepEqual(groups, [['a'], ['b', 'c', 'd']]);
  await queue.idle();
});

test('groups are bounded by pushes and by operations', async () => {
  const { queue, groups } = recordingQueue();
  const many = Array.from({ length: MAX_GROUP_PUSHES + 5 }, (_, i) => queue.push(`p${i}`, '{}', 1));
  await Promise.all(many);
  assert.deepEqual(groups.map((g) => g.length), [MAX_GROUP_PUSHES, 5]);
  groups.length = 0;
  const big = MAX_GROUP_OPS / 2 + 1; // two of these do not fit in one group
  await Promise.all(['x', 'y', 'z'].map((r) => queue.push(r, '{}', big)));
  assert.deepEqual(groups, [['x'], ['y'], ['z']]);
  // A single push over the bound still goes (alone): the bound never refuses a push.
  groups.length = 0;
  assert.equal(await queue.push('huge', '{}', MAX_GROUP_OPS * 2), 'ok huge');
  assert.deepEqual(groups, [['huge']]);
});

test('a full queue refuses a push at once with 503 busy, and takes pushes again once it drains', async () => {
  const { queue } = recordingQueue(undefined, { delayMs: 20 });
  const waiting = Array.from({ length: MAX_QUEUED_PUSHES }, (_, i) => queue.push(`q${i}`, '{}', 1));
  await assert.rejects(queue.push('one too many', '{}', 1), (e) => e.status === 503 && e.code === 'busy');
  await Promise.all(waiting);
  assert.equal(await queue.push('later', '{}', 1), 'ok later');
});

test('idle() waits for queued pushes', async () => {
  const { queue } = recordingQueue(undefined, { delayMs: 20 });
  let answered = 0;
  for (const r of ['a', 'b']) queue.push(r, '{}', 1).then(() => answered++);
  await queue.idle();
  assert.equal(answered, 2);
});

const ctxOf = (db) => JSON.stringify({ user: 'alice', device: db.device });

/** Pulls everything the store has into db. */
async function pullAll(store, db) {
  for (let more = true; more;) more = db.pullApply(await store.pull(db.pullRequest(1000), ctxOf(db)));
}

/** N clients (each holding what the store holds) with a few writes each, and their push bodies. */
async function clientBatches(mod, store, n, perClient) {
  return Promise.all(Array.from({ length: n }, async (_, c) => {
    const db = CoreDb.open(mod, { schema });
    await pullAll(store, db);
    for (let i = 0; i < perClient; i++) db.put('notes', `c${c}-${i}`, { title: `client ${c} #${i}` });
    db.patch('notes', 'shared', { votes: { $inc: 1 } });
    return { db, body: db.pushBegin(1000), ctx: ctxOf(db) };
  }));
}

test(`the ${onPostgres ? 'PostgreSQL' : 'SQLite'} store commits concurrent pushes of many devices together, each answered for itself`, async () => {
  const mod = await loadModule();
  const open = await storeOpener({ dataDir, schema });
  let store = await open('acme');
  const setup = CoreDb.open(mod, { schema });
  setup.put('notes', 'shared', { title: 'shared', votes: 0 });
  setup.pushEnd(await store.push(setup.pushBegin(10), ctxOf(setup), 1));
  const clients = await clientBatches(mod, store, 12, 3);
  // One push is refused whole (its device is not the context's), one is sent twice.
  const refused = { body: clients[0].body, ctx: JSON.stringify({ user: 'alice', device: 'someone-else' }) };
  const sends = [...clients.map((c) => store.push(c.body, c.ctx, 4)), store.push(refused.body, refused.ctx, 4),
    store.push(clients[1].body, clients[1].ctx, 4)];
  const answers = await Promise.allSettled(sends);
  assert.equal(answers[0].status, 'fulfilled', answers[0].reason?.stack);
  assert.deepEqual(store.commits, { groups: 2, pushes: 15, largest: 14 }, 'the setup push, then all 14 in one commit');
  assert.equal(answers[12].status, 'rejected', 'the mismatched device is refused');
  const versions = [];
  for (let c = 0; c < clients.length; c++) {
    assert.equal(answers[c].status, 'fulfilled', answers[c].reason?.message);
    const { results } = JSON.parse(answers[c].value);
    assert.equal(results.length, 4);
    for (const r of results) {
      assert.equal(r.status, 'applied', JSON.stringify(r));
      assert.ok(r.id.startsWith(`${clients[c].db.device}:`), 'each push is answered with its own operations');
      versions.push(r.version);
    }
    clients[c].db.pushEnd(answers[c].value);
  }
  // The same body again in the same group: the same answers, nothing applied twice.
  assert.deepEqual(JSON.parse(answers[13].value).results, JSON.parse(answers[1].value).results);
  assert.equal(new Set(versions).size, versions.length, 'every operation got its own version');
  // Durable: a reopened store holds every record and the counter counts each push once.
  await store.close();
  store = await open('acme');
  const reader = CoreDb.open(mod, { schema });
  await pullAll(store, reader);
  assert.equal(reader.query('notes', {}).length, 1 + 12 * 3);
  assert.equal(reader.get('notes', 'shared').votes, 12);
  await store.close();
  await open.close();
  for (const db of [setup, reader, ...clients.map((c) => c.db)]) db.close();
});
