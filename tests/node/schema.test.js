// The schema's rules end to end (docs/SCHEMA.md): the public API refuses a field the schema
// does not list with code `schema` and changes nothing, refuses a schema without collections,
// and a server whose schema is narrower than the client's rejects the operation, both in the
// core and over HTTP through the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SloopError, openSloop } from '../../js/sloop.js';
import { CoreDb, loadModule } from '../../js/core.js';
import { startTestServer, openClient, schema, backend, freshName, login } from './client-harness.js';

const mod = await loadModule();
const serverMod = await loadModule('server');

/** The app's schema with one more field in notes and one more collection: a newer client. */
function widerSchema() {
  const wider = structuredClone(schema);
  wider.collections.notes.fields.colour = 'lww';
  wider.collections.lists = { fields: { name: 'lww' } };
  return wider;
}

/**
 * The server's verdict on operation `opId` of a push: a refusal of the whole request answers
 * for every operation in it, otherwise the operation's own result. Both forms are accepted so
 * the check holds whether the server refuses the batch or that operation alone.
 */
function verdict(refusal, results, opId) {
  if (refusal) return { status: 'rejected', code: refusal };
  const r = results.find((x) => x.id === opId);
  assert.ok(r, `no result for ${opId}`);
  return { status: r.status, code: r.code };
}

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

test('an unknown field is refused locally with code schema and nothing changes', async () => {
  const { db } = await openClient(server, null);
  try {
    const first = await db.put('notes', 'n1', { title: 'Pump 4' });
    const isSchema = (e) => e instanceof SloopError && e.code === 'schema' && /colour/.test(e.message);
    await assert.rejects(db.put('notes', 'n1', { title: 'Pump 5', colour: 'red' }), isSchema);
    await assert.rejects(db.patch('notes', 'n1', { colour: 'red' }), isSchema);
    await assert.rejects(db.put('notes', 'n2', { colour: 'red' }), isSchema);
    assert.deepEqual(await db.get('notes', 'n1'), { title: 'Pump 4' });
    assert.equal(await db.get('notes', 'n2'), undefined);
    // No operation was logged for the refused writes: the next one takes the next sequence.
    const next = await db.patch('notes', 'n1', { title: 'Pump 4b' });
    assert.equal(next, first.replace(/:\d+$/, (m) => `:${Number(m.slice(1)) + 1}`));
    assert.deepEqual(await db.failedOps(), []);
  } finally {
    await db.close();
  }
});

test('a schema without collections is refused unless it says open', async () => {
  await assert.rejects(
    openSloop({ name: freshName('noschema'), schema: { maxDriftMs: 1000 }, backend: backend() }),
    (e) => e instanceof SloopError && e.code === 'schema' && /collections/.test(e.message));
  const open = await openSloop({ name: freshName('open'), schema: { open: true }, backend: backend() });
  try {
    await open.put('anything', 'a1', { free: 'form', n: 1 });
    assert.deepEqual(await open.get('anything', 'a1'), { free: 'form', n: 1 });
  } finally {
    await open.close();
  }
  const loose = { collections: { scratch: { strict: false, default: 'lww', fields: { title: 'lww' } } } };
  const db = await openSloop({ name: freshName('loose'), schema: loose, backend: backend() });
  try {
    await db.put('scratch', 's1', { title: 't', extra: true });
    await assert.rejects(db.put('other', 'o1', {}), (e) => e.code === 'schema');
  } finally {
    await db.close();
  }
});

test('the core of a server with a narrower schema rejects the op with code schema', () => {
  for (const [coll, doc] of [['notes', { title: 't', colour: 'red' }], ['lists', { name: 'groceries' }]]) {
    const srv = CoreDb.open(serverMod, { role: 'server', schema });
    const client = CoreDb.open(mod, { schema: widerSchema() });
    try {
      client.put(coll, 'r1', doc);
      const opId = client.lastOp();
      const body = client.pushBegin(10);
      const ctx = JSON.stringify({ user: 'u1', device: client.device });
      let refusal = null;
      let results = [];
      try {
        results = JSON.parse(srv.serverPush(body, ctx)).results;
      } catch (e) {
        assert.ok(e instanceof SloopError, String(e));
        refusal = e.code;
      }
      assert.deepEqual(verdict(refusal, results, opId), { status: 'rejected', code: 'schema' }, coll);
      assert.deepEqual(srv.sql("SELECT count(*) FROM records WHERE id = 'r1'"), [[0]]);
    } finally {
      client.close();
      srv.close();
    }
  }
});

test('the real server rejects a newer client\'s field it does not have', async () => {
  const client = CoreDb.open(mod, { schema: widerSchema() });
  try {
    const { token } = await login(server.url, 'alice', client.device);
    client.put('notes', 'c1', { title: 'from a newer app', colour: 'red' });
    const opId = client.lastOp();
    const res = await fetch(`${server.url}/v1/push`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: client.pushBegin(10),
    });
    const answer = await res.json();
    const refusal = res.status === 200 ? null : answer.code;
    if (refusal) assert.equal(res.status, 400);
    assert.deepEqual(verdict(refusal, answer.results ?? [], opId), { status: 'rejected', code: 'schema' });
    assert.match(answer.message ?? answer.results.find((r) => r.id === opId).message, /colour/);
  } finally {
    client.close();
  }
});
