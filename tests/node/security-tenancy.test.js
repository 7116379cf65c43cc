// Tenant isolation on the real server: carol (tenant globex) sends acme's record ids,
// collections, cursors, operation ids, conflict ids and device ids to every endpoint. Nothing
// of acme may come back (data, counts, errors, acknowledgements, conflicts), and acme's data
// must be unchanged after every attempt: its API dump after each one, its database file at
// the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './test-store.js';
import { ACME_MARK, apiDump, coreClient, fileDump, login, post, seedAcme } from './real-server.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-sec-tenancy-'));
const AUDITOR = 'auditor';
let srv;
let acme;
let aliceToken;
let carol;
let acmeDumpBefore;
let acmeFileBefore;
let attempts = 0;

before(async () => {
  srv = await startServer({ port: 0, dataDir });
  acme = await seedAcme(srv.url);
  aliceToken = (await login(srv.url, 'alice')).token;
  acmeDumpBefore = await apiDump(srv.url, aliceToken, AUDITOR);
  // The file is read with the server stopped: one process owns a database file.
  await srv.close();
  acmeFileBefore = await fileDump(dataDir, 'acme', { skipDevices: [AUDITOR] });
  srv = await startServer({ port: 0, dataDir });
  carol = await login(srv.url, 'carol');
});
after(async () => {
  await srv.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * One attempt by carol: the answer must carry nothing of acme, and acme's dump must be what
 * it was before any attempt.
 */
async function attempt(path, body, { token = carol.token, method = 'POST' } = {}) {
  attempts += 1;
  const r = await post(srv.url, path, token, body, { method });
  assert.ok(!r.text.includes(ACME_MARK), `${path} leaked acme data: ${r.text.slice(0, 300)}`);
  assert.doesNotMatch(r.text, /"(alice|bob|acme)"/, `${path} named acme or its users: ${r.text.slice(0, 300)}`);
  assert.notEqual(r.status, 500, r.text);
  assert.deepEqual(await apiDump(srv.url, aliceToken, AUDITOR), acmeDumpBefore, `acme changed after ${path} ${JSON.stringify(body)?.slice(0, 200)}`);
  return r;
}

test('push: acme ids, operation ids, devices, bases and conflict ids reach only globex', async (t) => {
  const hlc = acme.alice.db.clockNow();
  let globexVersion = 0;
  // Carol may claim acme's device ids in globex: device ids are per tenant. A patch of
  // acme's records at acme's version finds no such record; a put makes globex's own.
  const ops = (device, type, first) => acme.rids.map((rid, i) => ({
    id: `${device}:${first + i}`, type, coll: 'notes', rid, hlc, base: acmeDumpBefore.version,
    payload: { title: { set: `globex ${rid}` }, votes: { inc: 1 } },
  }));
  for (const device of acme.devices) {
    const patched = await attempt('/v1/push', { v: 1, device, ops: ops(device, 'patch', 1) });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.json.results.map((x) => x.code), acme.rids.map(() => 'notfound'), patched.text);
    assert.deepEqual(patched.json.records, []);
  }
  for (const device of acme.devices) {
    const put = await attempt('/v1/push', { v: 1, device, ops: ops(device, 'put', 101) });
    assert.equal(put.status, 200, put.text);
    // Fresh globex versions, not acme's remembered answers for the same operation ids.
    assert.deepEqual(put.json.results.map((x) => [x.status, x.version]), acme.rids.map(() => ['applied', ++globexVersion]), put.text);
    for (const rec of put.json.records) {
      assert.deepEqual(Object.keys(rec.doc).sort(), ['title', 'votes']);
      assert.equal(rec.doc.title, `globex ${rec.rid}`);
    }
  }
  // The acme operation ids as carol's: globex answers with its own results.
  for (const opId of acme.opIds) {
    const device = opId.split(':')[0];
    const r = await attempt('/v1/push', { v: 1, device, ops: [{ id: opId, type: 'put', coll: 'notes', rid: 'n1', hlc, base: 0, payload: {} }] });
    assert.equal(r.status, 200, r.text);
    // Applied now, or globex's own remembered answer when carol used the id above.
    const [res] = r.json.results;
    assert.ok(res.status === 'applied' || res.code === 'notfound', r.text);
  }
  // Resolving acme's conflicts: globex has none with those ids.
  for (const conflict of acme.conflictIds) {
    const r = await attempt('/v1/push', { v: 1, device: 'carol-1', ops: [{ id: `carol-1:${conflict}`, type: 'resolve', coll: 'notes', rid: 'n1', hlc, base: 0, payload: { conflict, value: 'x' } }] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.results[0].status, 'rejected');
    assert.equal(r.json.results[0].code, 'notfound');
  }
  // Names of a tenant anywhere in the body are just unknown fields.
  for (const extra of [{ tenant: 'acme' }, { ctx: { tenant: 'acme', user: 'alice' } }, { user: 'alice', perms: { write: '*' } }]) {
    const r = await attempt('/v1/push', { v: 1, device: 'carol-2', ops: [], ...extra });
    assert.equal(r.status, 200, r.text);
  }
  t.diagnostic(`push attempts so far: ${attempts}`);
});

test('pull: past, present and future cursors, acme devices and scopes show globex only', async (t) => {
  const globex = await apiDump(srv.url, carol.token, 'carol-dump');
  const globexRids = new Set(globex.changes.map((c) => c.rid));
  const cursors = [0, 1, 2, globex.version - 1, globex.version, acmeDumpBefore.version, globex.version + 1, 1e6, 9e15];
  const devices = [...acme.devices, 'carol-3'];
  const scopes = [undefined, { collections: ['notes'] }, { where: { createdBy: 'alice' } }, { where: { title: `${ACME_MARK} roof` } }];
  for (const cursor of cursors) {
    for (const device of devices) {
      for (const scope of scopes) {
        const r = await attempt('/v1/pull', { v: 1, device, cursor, limit: 2, ackSeq: 0, ...(scope ? { scope } : {}) });
        if (cursor > globex.version) {
          // The error names globex's head, never acme's.
          assert.equal(r.status, 400, r.text);
          // The error names globex's head, never acme's (past 9e15 a cursor is just invalid).
          assert.ok(['cursor', 'invalid'].includes(r.json.code), r.text);
          if (r.json.code === 'cursor') assert.ok(r.json.message.includes(`(${globex.version})`), r.json.message);
          continue;
        }
        assert.equal(r.status, 200, r.text);
        for (const c of r.json.changes) assert.ok(globexRids.has(c.rid), c.rid);
        const left = globex.changes.filter((c) => c.version > r.json.cursor).length;
        assert.equal(r.json.remaining, r.json.hasMore ? left : 0, 'remaining counts globex only');
        assert.ok(r.json.cursor <= globex.version);
        assert.deepEqual(r.json.conflicts, []);
        // Acknowledgements name only what carol pushed in globex from that device.
        for (const res of r.json.results) assert.ok(res.id.startsWith(`${device}:`), res.id);
        if (r.json.ackedOp) assert.ok(r.json.ackedOp.startsWith(`${device}:`));
      }
    }
  }
  t.diagnostic(`attempts so far: ${attempts}`);
});

test('me and refresh answer for globex whatever the request names', async (t) => {
  const me = await attempt('/v1/me?tenant=acme&user=alice', undefined, { method: 'GET' });
  assert.equal(me.status, 200);
  assert.equal(me.json.tenant, 'globex');
  assert.equal(me.json.user, 'carol');
  const refreshed = await attempt('/v1/refresh', { tenant: 'acme', user: 'alice', device: acme.devices[0] }, { token: carol.offlineToken });
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(refreshed.json.tenant, 'globex');
  assert.equal(refreshed.json.user, 'carol');
  assert.equal(refreshed.json.device, undefined);
  const again = await attempt('/v1/me', undefined, { token: refreshed.json.token, method: 'GET' });
  assert.equal(again.json.tenant, 'globex');
  // A carol client syncing from scratch holds exactly globex's records.
  const client = await coreClient(srv.url, 'carol');
  await client.sync();
  const rids = client.db.sql('SELECT id FROM records ORDER BY id').map(([id]) => id);
  assert.deepEqual(rids, [...acme.rids].sort());
  assert.ok(!JSON.stringify(client.db.sql('SELECT doc, sloop_state(state, doc), sloop_state(base, NULL) FROM records')).includes(ACME_MARK));
  client.db.close();
  t.diagnostic(`tenant isolation: ${attempts} attempts, every one answered from globex, acme unchanged`);
});

test("acme's database file is row for row what it was before the attempts", async () => {
  await srv.close();
  assert.deepEqual(await fileDump(dataDir, 'acme', { skipDevices: [AUDITOR] }), acmeFileBefore);
  srv = await startServer({ port: 0, dataDir });
  for (const c of [acme.alice, acme.bob]) c.db.close();
});
