// The real server with the real core over loopback: two clients of one tenant converge, a
// restart loses no acknowledged write, another tenant sees nothing, and the core's errors
// come back as 4xx JSON.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './test-store.js';
import { loadModule, CoreDb } from '../../js/core.js';

const mod = await loadModule();
const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-server-core-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

async function login(url, user, device) {
  const res = await fetch(`${url}/v1/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: `${user}-sloop-demo`, device }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

async function post(url, path, token, body) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
  });
  return { status: res.status, text: await res.text() };
}

/** A core client syncing over HTTP. */
async function client(url, user) {
  const db = CoreDb.open(mod, { schema });
  const token = await login(url, user, db.device);
  return {
    db,
    async sync() {
      for (let body; (body = db.pushBegin(100));) {
        const r = await post(url, '/v1/push', token, body);
        assert.equal(r.status, 200, r.text);
        db.pushEnd(r.text);
      }
      for (let more = true; more;) {
        const r = await post(url, '/v1/pull', token, db.pullRequest(50));
        assert.equal(r.status, 200, r.text);
        more = db.pullApply(r.text);
      }
    },
    token,
  };
}

test('two clients of one tenant converge through the real server, and a restart keeps it all', async () => {
  let srv = await startServer({ port: 0, dataDir });
  const a = await client(srv.url, 'alice');
  const b = await client(srv.url, 'bob');
  a.db.put('notes', 'n1', { title: 'Boiler', tags: ['heating'], votes: 1, status: 'open', createdBy: 'alice' });
  await a.sync();
  await b.sync();
  a.db.patch('notes', 'n1', { title: 'Boiler room 2', votes: { $inc: 2 }, tags: { $add: ['urgent'] } });
  b.db.patch('notes', 'n1', { body: 'Pressure 1.2 bar', votes: { $inc: 3 } });
  await a.sync();
  await b.sync();
  await a.sync();
  const want = { body: 'Pressure 1.2 bar', createdBy: 'alice', status: 'open', tags: ['heating', 'urgent'], title: 'Boiler room 2', votes: 6 };
  assert.deepEqual(a.db.get('notes', 'n1'), want);
  assert.deepEqual(b.db.get('notes', 'n1'), want);
  for (let i = 0; i < 20; i++) a.db.put('notes', `bulk${i}`, { title: `t${i}` });
  await a.sync();
  await srv.close();
  srv = await startServer({ port: 0, dataDir });
  const fresh = await client(srv.url, 'bob');
  await fresh.sync();
  assert.deepEqual(fresh.db.get('notes', 'n1'), want);
  assert.equal(fresh.db.query('notes', {}).length, 21);
  // Another tenant's user sees none of it, whatever cursor it sends.
  const carol = await client(srv.url, 'carol');
  await carol.sync();
  assert.equal(carol.db.query('notes', {}).length, 0);
  const r = await post(srv.url, '/v1/pull', carol.token, JSON.stringify({ v: 1, device: carol.db.device, cursor: 5 }));
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).code, 'cursor');
  for (const c of [a, b, fresh, carol]) c.db.close();
  await srv.close();
});

test('the core rejects bad operations one by one; only a broken batch is refused with 4xx JSON', async () => {
  const srv = await startServer({ port: 0, dataDir });
  const a = await client(srv.url, 'alice');
  const dev = a.db.device;
  const hlc = a.db.clockNow();
  const cases = [
    [{ id: `${dev}:1`, type: 'put', coll: 'nope', rid: 'x', hlc, payload: {} }, 'schema'],
    [{ id: `${dev}:2`, type: 'put', coll: 'notes', rid: 'x', hlc: 'yesterday', payload: {} }, 'invalid'],
    [{ id: `${dev}:3`, type: 'put', coll: 'notes', rid: 'x', hlc, payload: { votes: { set: 'many' } } }, 'schema'],
    [{ id: `${dev}:4`, type: 'put', coll: 'notes', rid: 'x', hlc, payload: { "a'b": { set: 1 } } }, 'invalid'],
  ];
  for (const [op, code] of cases) {
    const r = await post(srv.url, '/v1/push', a.token, JSON.stringify({ v: 1, device: dev, ops: [op] }));
    assert.equal(r.status, 200, r.text);
    const [result] = JSON.parse(r.text).results;
    assert.deepEqual([result.id, result.status, result.code], [op.id, 'rejected', code], r.text);
  }
  const broken = { v: 1, device: dev, ops: [{ id: 'other:1', type: 'put', coll: 'notes', rid: 'x', hlc, payload: {} }] };
  const r = await post(srv.url, '/v1/push', a.token, JSON.stringify(broken));
  assert.equal(r.status, 400, r.text);
  assert.equal(JSON.parse(r.text).code, 'invalid', r.text);
  await a.sync();
  assert.equal(a.db.get('notes', 'x'), undefined);
  a.db.close();
  await srv.close();
});
