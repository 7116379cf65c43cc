// Replays against the real server: a push captured off the wire (alice's) sent again by alice,
// by bob with alice's device id or his own, by carol in another tenant, and after a restart.
// Nothing is applied twice (counters and versions prove it) and nothing is applied as the
// wrong user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './test-store.js';
import { apiDump, coreClient, login, post } from './real-server.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-sec-replay-'));
let srv;
let alice;
let bob;
let captured;
let firstAnswer;
let afterFirst;
let auditor; // alice's token for no one device, for dumps

before(async () => {
  srv = await startServer({ port: 0, dataDir });
  alice = await coreClient(srv.url, 'alice');
  bob = await coreClient(srv.url, 'bob');
  alice.db.put('notes', 'n1', { title: 'counter', votes: 0 });
  await alice.sync();
  await bob.sync();
  // The capture: an increment (applied twice, it would show) and a create.
  alice.db.patch('notes', 'n1', { votes: { $inc: 5 }, tags: { $add: ['x'] } });
  alice.db.put('notes', 'n2', { title: 'made once' });
  captured = alice.db.pushBegin(10);
  const r = await post(srv.url, '/v1/push', alice.token, captured);
  assert.equal(r.status, 200, r.text);
  alice.db.pushEnd(r.text);
  firstAnswer = r.json;
  auditor = (await login(srv.url, 'alice')).token;
  afterFirst = await apiDump(srv.url, auditor, 'auditor');
});
after(async () => {
  for (const c of [alice, bob]) c.db.close();
  await srv.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const votes = (dump) => dump.changes.find((c) => c.rid === 'n1').doc.votes;

test('the same user replaying a push gets the first answers and changes nothing', async (t) => {
  assert.equal(votes(afterFirst), 5);
  for (let i = 0; i < 3; i++) {
    const r = await post(srv.url, '/v1/push', alice.token, captured);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.results, firstAnswer.results);
    assert.deepEqual(await apiDump(srv.url, auditor, 'auditor'), afterFirst);
  }
  // A fresh login (new token) changes nothing either: idempotency is by operation id.
  const again = await login(srv.url, 'alice');
  const r = await post(srv.url, '/v1/push', again.token, captured);
  assert.deepEqual(r.json.results, firstAnswer.results);
  assert.deepEqual(await apiDump(srv.url, auditor, 'auditor'), afterFirst);
  t.diagnostic('same-user replays: 4, each answered from memory, version and counter unchanged');
});

test('another user replaying the push applies nothing, under either device id', async (t) => {
  const { device } = JSON.parse(captured);
  // Bob's client token is bound to his device; an unbound one reaches the core, which knows
  // the device is alice's.
  const bound = await post(srv.url, '/v1/push', bob.token, captured);
  assert.equal(bound.status, 403, bound.text);
  assert.equal(bound.json.code, 'device');
  const bobUnbound = (await login(srv.url, 'bob')).token;
  const asBob = await post(srv.url, '/v1/push', bobUnbound, captured);
  assert.equal(asBob.status, 403, asBob.text);
  assert.equal(asBob.json.code, 'device');
  assert.match(asBob.json.message, /another user/);
  // Re-addressed to bob's own device, the operation ids no longer match the device.
  const readdressed = captured.replace(`"device":"${device}"`, `"device":"${bob.db.device}"`);
  assert.notEqual(readdressed, captured);
  const mine = await post(srv.url, '/v1/push', bob.token, readdressed);
  assert.equal(mine.status, 400, mine.text);
  assert.equal(mine.json.code, 'invalid');
  // Renamed to bob's device throughout, they are bob's own new operations: applied as bob's,
  // which bob could have written anyway; alice's answers are never what he gets back.
  const renamed = captured.replaceAll(device, bob.db.device);
  const own = await post(srv.url, '/v1/push', bob.token, renamed);
  assert.equal(own.status, 200, own.text);
  assert.ok(own.json.results.every((r) => r.id.startsWith(`${bob.db.device}:`)));
  const dump = await apiDump(srv.url, auditor, 'auditor');
  assert.equal(dump.version, afterFirst.version + own.json.results.length);
  assert.equal(votes(dump), 10, 'the increment counted once for alice and once for bob');
  afterFirst = dump;
  t.diagnostic('cross-user replays: 3 refused whole (403 bound token, 403 device, 400 ids), 1 re-addressed applied as bob\'s own');
});

test('a replay into another tenant lands there only', async () => {
  const carol = await login(srv.url, 'carol');
  const r = await post(srv.url, '/v1/push', carol.token, captured);
  assert.equal(r.status, 200, r.text);
  // n1 does not exist in globex: the patch is refused there, the put makes globex's own n2.
  assert.deepEqual(r.json.results.map((x) => x.status), ['rejected', 'applied']);
  assert.deepEqual(await apiDump(srv.url, auditor, 'auditor'), afterFirst);
});

test('replays after a restart are still answered from memory', async () => {
  await srv.close();
  srv = await startServer({ port: 0, dataDir });
  const r = await post(srv.url, '/v1/push', alice.token, captured);
  assert.deepEqual(r.json.results, firstAnswer.results);
  assert.deepEqual(await apiDump(srv.url, auditor, 'auditor'), afterFirst);
  // A lost answer recovered through pull: ackedOp names the last of alice's operations.
  const pulled = await post(srv.url, '/v1/pull', alice.token, { v: 1, device: alice.db.device, cursor: 0 });
  assert.equal(pulled.json.ackedOp, firstAnswer.results.at(-1).id);
});
