// Tenant scoping and the context the store receives: the tenant always comes from the token.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { TenantStores, isTenantId } from '../../js/server/tenants.js';
import { createTokenService } from '../../js/server/tokens.js';
import { SECRET, T0, call, login, pushBody, startTestServer } from './server-harness.js';

let srv;
let carol;
before(async () => {
  srv = await startTestServer();
  srv.clock.now = T0;
  carol = await login(srv.url, 'carol');
});
after(() => srv.close());
beforeEach(() => { srv.stores.calls.length = 0; srv.clock.now = T0; });

test('a globex token reaches only globex, whatever the body names', async () => {
  const hostile = [
    pushBody(2, { tenant: 'acme', user: 'alice', ctx: { tenant: 'acme' } }),
    { ...pushBody(1), device: 'alice-laptop', ops: [{ ...pushBody(1).ops[0], id: 'alice-laptop:1', tenant: 'acme' }] },
    { v: 1, device: 'd1', ops: [], perms: { write: '*' }, tenant: '../acme' },
  ];
  for (const body of hostile) assert.equal((await call(srv.url, '/v1/push', { token: carol.token, body })).status, 200);
  const pulls = [{ v: 1, device: 'd1', cursor: 0, tenant: 'acme' }, { v: 1, device: 'd1', cursor: 999999, scope: { tenant: 'acme' } }];
  for (const body of pulls) assert.equal((await call(srv.url, '/v1/pull', { token: carol.token, body })).status, 200);

  assert.equal(srv.stores.calls.length, hostile.length + pulls.length);
  for (const c of srv.stores.calls) {
    assert.equal(c.tenant, 'globex');
    assert.equal(c.ctx.tenant, 'globex');
    assert.equal(c.ctx.user, 'carol');
  }
  assert.ok(!srv.stores.opened.includes('acme'), 'acme store opened by a globex token');
});

test('the same request from acme and globex lands in two stores', async () => {
  const alice = await login(srv.url, 'alice');
  await call(srv.url, '/v1/push', { token: alice.token, body: pushBody() });
  await call(srv.url, '/v1/push', { token: carol.token, body: pushBody() });
  assert.deepEqual(srv.stores.calls.map((c) => c.tenant), ['acme', 'globex']);
  assert.deepEqual([...new Set(srv.stores.opened)].sort(), ['acme', 'globex']);
  assert.equal(srv.stores.opened.length, 2, 'each tenant store is opened once');
});

test('the store gets the checked context: tenant, user, device, clock, permissions', async () => {
  const bob = await login(srv.url, 'bob');
  srv.clock.now = T0 + 1234;
  await call(srv.url, '/v1/pull', { token: bob.token, body: { v: 1, device: 'tab-9', cursor: 3 } });
  const [c] = srv.stores.calls;
  assert.deepEqual(c.ctx, {
    tenant: 'acme', user: 'bob', device: 'tab-9', nowMs: T0 + 1234,
    perms: { read: '*', write: ['notes', 'tasks'], stepUp: true },
  });
  assert.deepEqual(c.request, { v: 1, device: 'tab-9', cursor: 3 });
});

test('device ids are validated, and a device-bound token only syncs that device', async () => {
  for (const device of [undefined, '', '../x', 'a b', 'x'.repeat(65), 7, ['d1']]) {
    const res = await call(srv.url, '/v1/push', { token: carol.token, body: { ...pushBody(), device } });
    assert.equal(res.status, 400, String(device));
    assert.equal(res.body.code, 'invalid');
  }
  const bound = await login(srv.url, 'carol', 'phone-1');
  const other = await call(srv.url, '/v1/pull', { token: bound.token, body: { v: 1, device: 'phone-2', cursor: 0 } });
  assert.equal(other.status, 403);
  assert.equal(other.body.code, 'device');
  const same = await call(srv.url, '/v1/pull', { token: bound.token, body: { v: 1, device: 'phone-1', cursor: 0 } });
  assert.equal(same.status, 200);
  assert.equal(srv.stores.calls.length, 1);
});

test('tenant ids that could escape the data folder are refused everywhere', async () => {
  for (const id of ['../acme', 'acme/..', '.', '', 'ACME', 'a'.repeat(65), 'a\0b', 'acme.db', null]) {
    assert.equal(isTenantId(id), false, String(id));
    assert.throws(() => new TenantStores(() => ({})).get(id), /refusing tenant id/);
  }
  assert.equal(isTenantId('acme-2'), true);
  // A correctly signed token cannot even carry such a tenant.
  const signer = createTokenService({ secret: SECRET, now: () => T0 });
  const token = signer.issue('access', { tid: '../acme', sub: 'carol', auth: T0 }).token;
  const res = await call(srv.url, '/v1/push', { token, body: pushBody() });
  assert.equal(res.status, 401);
  assert.equal(srv.stores.calls.length, 0);
});
