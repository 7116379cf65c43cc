// Permissions into ctx.perms, the JS pre-checks, and step-up freshness.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { T0, call, login, pushBody, startTestServer } from './server-harness.js';

let srv;
before(async () => { srv = await startTestServer(); });
after(() => srv.close());
beforeEach(() => { srv.stores.calls.length = 0; srv.clock.now = T0; });

const adminOp = { id: 'd1:9', type: 'put', coll: 'admin', rid: 'cfg', hlc: '0192f3a4b5c6-0000-00000000000000d1', base: 0, payload: {} };
const stepUpOp = { ...adminOp, id: 'd1:10', coll: 'notes', stepUp: true };

test("bob's batch with an admin op reaches the core with his write list, to be rejected per op", async () => {
  const bob = await login(srv.url, 'bob');
  const res = await call(srv.url, '/v1/push', { token: bob.token, body: pushBody(1, { ops: [...pushBody(1).ops, adminOp] }) });
  assert.equal(res.status, 200);
  assert.deepEqual(srv.stores.calls[0].ctx.perms.write, ['notes', 'tasks']);
  assert.equal(srv.stores.calls[0].request.ops.length, 2);
});

test('a user who may write nothing reaches the core, which rejects each op `denied`', async () => {
  const dave = await login(srv.url, 'dave');
  const res = await call(srv.url, '/v1/push', { token: dave.token, body: pushBody(1) });
  assert.equal(res.status, 200);
  assert.equal(srv.stores.calls.length, 1);
  assert.deepEqual(srv.stores.calls[0].ctx.perms.write, []);
  assert.equal((await call(srv.url, '/v1/push', { token: dave.token, body: pushBody(0) })).status, 200);
  assert.equal((await call(srv.url, '/v1/pull', { token: dave.token, body: { v: 1, device: 'd1', cursor: 0 } })).status, 200);
});

test('a pull naming a collection the user may not read is refused', async () => {
  const erin = await login(srv.url, 'erin');
  const pull = (collections) => call(srv.url, '/v1/pull', { token: erin.token, body: { v: 1, device: 'd1', cursor: 0, scope: { collections } } });
  const denied = await pull(['notes', 'admin']);
  assert.equal(denied.status, 403);
  assert.equal(denied.body.code, 'denied');
  assert.match(denied.body.message, /admin/);
  assert.equal(srv.stores.calls.length, 0);
  assert.equal((await pull(['notes'])).status, 200);
  assert.deepEqual(srv.stores.calls[0].ctx.perms.read, ['notes']);
});

test('a stepUp op needs a password sign-in within 5 minutes; a stale token gets 403 stepup', async () => {
  const alice = await login(srv.url, 'alice');
  const body = pushBody(1, { ops: [...pushBody(1).ops, stepUpOp] });
  srv.clock.now = T0 + 5 * 60_000;
  const fresh = await call(srv.url, '/v1/push', { token: alice.token, body });
  assert.equal(fresh.status, 200);
  assert.equal(srv.stores.calls[0].ctx.perms.stepUp, true);

  srv.clock.now = T0 + 5 * 60_000 + 1;
  const stale = await call(srv.url, '/v1/push', { token: alice.token, body });
  assert.equal(stale.status, 403);
  assert.equal(stale.body.code, 'stepup');
  assert.match(stale.body.message, /d1:10.*5 minutes/);
  assert.equal(srv.stores.calls.length, 1, 'the stale batch never reached the store');

  // Without stepUp ops the stale token still syncs, and the core is told it is not fresh.
  assert.equal((await call(srv.url, '/v1/push', { token: alice.token, body: pushBody(1) })).status, 200);
  assert.equal(srv.stores.calls[1].ctx.perms.stepUp, false);
});

test('refreshing does not renew step-up freshness; signing in again does', async () => {
  const alice = await login(srv.url, 'alice');
  const body = pushBody(0, { ops: [stepUpOp] });
  srv.clock.now = T0 + 10 * 60_000;
  const refreshed = await call(srv.url, '/v1/refresh', { token: alice.offlineToken });
  assert.equal(refreshed.status, 200);
  assert.equal((await call(srv.url, '/v1/push', { token: refreshed.body.token, body })).body.code, 'stepup');
  const again = await login(srv.url, 'alice');
  assert.equal((await call(srv.url, '/v1/push', { token: again.token, body })).status, 200);
  assert.equal(srv.stores.calls.length, 1);
});

test('duplicate keys cannot smuggle a stepUp op past the check', async () => {
  const alice = await login(srv.url, 'alice');
  srv.clock.now = T0 + 60 * 60_000 - 1;
  // JSON.parse keeps the last "ops", cJSON the first: the store must get what was checked.
  const text = `{"v":1,"device":"d1","ops":[${JSON.stringify(stepUpOp)}],"ops":[]}`;
  const res = await call(srv.url, '/v1/push', { token: alice.token, body: text });
  assert.equal(res.status, 200);
  assert.equal(srv.stores.calls[0].requestJson, '{"v":1,"device":"d1","ops":[]}');
});
