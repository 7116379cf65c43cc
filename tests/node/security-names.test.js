// Names against the real server: collection and field names carrying SQL metacharacters,
// quotes, NUL, unicode and great length, in push operations, pull scopes and local queries,
// are refused (a push operation rejected on its own, `invalid` or `schema`, the rest of its
// batch applied; a pull scope or a query with 4xx) and change nothing; record ids and values with the same characters are
// data, stored and synced byte for byte; the database keeps every table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { clientDocs, coreClient, fileDump, post, seededServer } from './real-server.js';

const INJECTIONS = [
  "a') ; DROP TABLE records; --", "notes'; DELETE FROM records; --", 'notes" OR 1=1 --', 'notes`', 'notes;',
  "title') , json_extract(doc, '$", '$.title', 'title.x', 'title[0]', 'ti tle', 'notes\u0000x', 'title\u0000',
  '\u0000', 'nötes', '记录', '🦀', 'x'.repeat(65), 'y'.repeat(100_000), '', '_reserved', '1notes',
];
// Well-formed names of tables, not collections: unknown collections to a push.
const TABLE_NAMES = ['sqlite_master', 'records', 'applied_ops', 'records_fts', 'NOTES'];
let env;
before(async () => { env = await seededServer('sec-names'); });
after(() => env.close());

/** Sends one request that must be refused with 400, then checks acme is as it was. */
async function refused(path, body, what) {
  const r = await post(env.srv.url, path, env.alice.token, body);
  assert.equal(r.status, 400, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.ok(['invalid', 'schema'].includes(r.json.code), `${what}: ${r.text.slice(0, 300)}`);
  assert.deepEqual(await env.dump(), env.baseline, what);
}

/**
 * Sends a push of [good, bad]: the good operation was applied before (its replay applies
 * nothing), the bad one must be rejected on its own with `invalid` or `schema`; then checks
 * acme is as it was.
 */
async function rejectedPerOp(body, what) {
  // U+0000 anywhere in a body is refused by the HTTP layer, before the core: the body, not
  // an operation, is broken.
  if (JSON.stringify(body).includes('\\u0000')) return refused('/v1/push', body, what);
  const r = await post(env.srv.url, '/v1/push', env.alice.token, body);
  assert.equal(r.status, 200, `${what}: ${r.status} ${r.text.slice(0, 300)}`);
  const [good, bad] = r.json.results;
  assert.equal(good.status, 'applied', `${what}: ${r.text.slice(0, 300)}`);
  assert.equal(bad.status, 'rejected', `${what}: ${r.text.slice(0, 300)}`);
  assert.ok(['invalid', 'schema'].includes(bad.code), `${what}: ${r.text.slice(0, 300)}`);
  assert.deepEqual(await env.dump(), env.baseline, what);
}

test('hostile collection and field names in push operations are rejected one by one and apply nothing', async (t) => {
  const device = env.acme.alice.db.device;
  const hlc = env.acme.alice.db.clockNow();
  let seq = 1000;
  const op = (fields) => ({ id: `${device}:${++seq}`, type: 'put', coll: 'notes', rid: 'x', hlc, base: 0, payload: { title: { set: 't' } }, ...fields });
  // A good operation first, applied once: in every batch below it is a replay, and the bad
  // operation after it is rejected on its own.
  const good = op({ rid: 'good-first' });
  assert.equal((await post(env.srv.url, '/v1/push', env.alice.token, { v: 1, device, ops: [good] })).status, 200);
  env.baseline = await env.dump();
  let cases = 0;
  for (const name of INJECTIONS) {
    const shapes = [
      op({ coll: name }),
      op({ payload: { [name]: { set: 1 } } }),
      op({ type: 'patch', rid: 'n1', base: 1, payload: { title: { set: 'ok' }, [name]: { set: 1 } } }),
      op({ payload: { tags: { add: { [name]: `${device}:1` } }, [name]: { inc: 1 } } }),
    ];
    for (const bad of shapes) {
      await rejectedPerOp({ v: 1, device, ops: [good, bad] }, `push ${JSON.stringify(name).slice(0, 40)}`);
      cases += 1;
    }
  }
  for (const name of TABLE_NAMES) {
    await rejectedPerOp({ v: 1, device, ops: [good, op({ coll: name })] }, `push coll ${name}`);
    cases += 1;
  }
  t.diagnostic(`push names: ${cases} cases, rejected per operation (a body holding U+0000 refused whole), nothing applied`);
});

test('hostile names in pull scopes are refused; hostile values only filter', async (t) => {
  const device = env.acme.alice.db.device;
  let cases = 0;
  for (const name of INJECTIONS) {
    await refused('/v1/pull', { v: 1, device, cursor: 0, scope: { collections: [name] } }, `collections ${JSON.stringify(name).slice(0, 40)}`);
    await refused('/v1/pull', { v: 1, device, cursor: 0, scope: { where: { [name]: 1 } } }, `where ${JSON.stringify(name).slice(0, 40)}`);
    cases += 2;
  }
  for (const value of ["' OR '1'='1", "'); DROP TABLE records; --", '%', '_', '*']) {
    const r = await post(env.srv.url, '/v1/pull', env.alice.token, { v: 1, device, cursor: 0, scope: { where: { title: value } } });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.changes.every((c) => c.evict || c.deleted), `where title = ${value} matched ${r.text.slice(0, 200)}`);
    cases += 1;
  }
  t.diagnostic(`pull names and values: ${cases} cases, names 400, values matched nothing`);
});

test('hostile names in local queries and searches are refused by the core', async (t) => {
  const { db } = env.acme.alice;
  let cases = 0;
  for (const name of INJECTIONS) {
    const queries = [{ where: { [name]: 1 } }, { where: { [name]: { $gt: 1 } } }, { orderBy: name }, { orderBy: [[name, 'asc']] }];
    for (const q of queries) {
      assert.throws(() => db.query('notes', q), (e) => ['invalid', 'json'].includes(e.code), JSON.stringify(q).slice(0, 80));
      cases += 1;
    }
  }
  assert.throws(() => db.query('notes', { orderBy: [['title', 'asc; DROP TABLE records']] }), { code: 'invalid' });
  // FTS5 syntax errors are errors, not crashes, and the table is still there.
  for (const q of ['"unbalanced', 'title:', 'NEAR(', ')', "'; DROP TABLE records; --"]) {
    try { db.search('notes', q); } catch (e) { assert.ok(typeof e.code === 'string', q); }
    cases += 1;
  }
  assert.ok(db.query('notes', {}).length > 0);
  t.diagnostic(`local queries: ${cases + 1} cases refused or answered, no crash`);
});

test('record ids and values with SQL text and unicode are data, synced byte for byte', async () => {
  const ids = ["'); DROP TABLE records; --", 'Robert"); DROP TABLE applied_ops; --', '%', '_', '日本語', '🦀'.repeat(32), 'é'.repeat(64)];
  const writer = await coreClient(env.srv.url, 'alice');
  for (const id of ids) writer.db.put('notes', id, { title: id, body: "'; DELETE FROM records WHERE 1; --" });
  const results = await writer.push();
  assert.deepEqual(results.map((r) => r.status), ids.map(() => 'applied'));
  for (const bad of ['x'.repeat(129), 'a\u0001b', 'tab\there']) {
    assert.throws(() => writer.db.put('notes', bad, { title: 't' }), { code: 'invalid' }, JSON.stringify(bad));
  }
  const reader = await coreClient(env.srv.url, 'bob');
  await reader.pull();
  for (const id of ids) assert.deepEqual(reader.db.get('notes', id), { title: id, body: "'; DELETE FROM records WHERE 1; --" });
  await writer.pull();
  assert.deepEqual(clientDocs(reader.db), clientDocs(writer.db));
  for (const c of [writer, reader]) c.db.close();
});

test('the database file still holds every table and the rows it had', async () => {
  const dump = await env.restart(() => fileDump(env.dataDir, 'acme', { skipDevices: ['auditor'] }));
  const seeded = new Set(env.baseline.changes.map((c) => c.rid));
  for (const rid of seeded) assert.ok(dump.records.some(([, id]) => id === rid), rid);
  assert.ok(dump.appliedOps.length > 0 && dump.devices.length > 0 && dump.conflicts.length > 0);
});
