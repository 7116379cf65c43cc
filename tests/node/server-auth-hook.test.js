// The auth hook: an app's own sign-in (here a stand-in identity provider's tokens) in place
// of a users file, with and without `lookup`, and what a hook's mistakes are answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../js/server/config.js';
import { T0, call, pushBody, startTestServer } from './server-harness.js';

/** Tokens a stand-in identity provider issued, and who each one is. */
const IDP = new Map([
  ['idp-token-ann', { sub: 'ann', org: 'shop', role: 'editor' }],
  ['idp-token-rob', { sub: 'rob', org: 'shop', role: 'viewer' }],
]);
const grantsFor = (role) => (role === 'editor' ? { read: '*', write: ['items'] } : { read: '*', write: [] });

/** A hook as an app would write one: trusts its identity provider's token. */
function idpHook({ withLookup }) {
  const roles = new Map([['ann', 'editor'], ['rob', 'viewer']]);
  const hook = {
    async login({ idpToken }) {
      const who = typeof idpToken === 'string' ? IDP.get(idpToken) : undefined;
      if (!who) return null;
      return { tenant: who.org, user: who.sub, ...grantsFor(roles.get(who.sub)) };
    },
    roles,
  };
  if (withLookup) hook.lookup = async ({ tenant, user }) => (tenant === 'shop' && roles.has(user) ? grantsFor(roles.get(user)) : null);
  return hook;
}

test('a hook with lookup: the app\'s token signs in, grants are looked up on every request', async () => {
  const hook = idpHook({ withLookup: true });
  const srv = await startTestServer({ auth: hook });
  srv.clock.now = T0;
  try {
    const refused = await call(srv.url, '/v1/login', { body: { idpToken: 'forged' } });
    assert.equal(refused.status, 401);
    assert.deepEqual(refused.body, { code: 'unauthenticated', message: 'sign-in refused' });

    const ann = await call(srv.url, '/v1/login', { body: { idpToken: 'idp-token-ann', device: 'd1' } });
    assert.equal(ann.status, 200, JSON.stringify(ann.body));
    assert.equal(ann.body.tenant, 'shop');
    assert.equal(ann.body.user, 'ann');
    assert.equal(ann.body.device, 'd1');
    assert.deepEqual([ann.body.permissions.read, ann.body.permissions.write], ['*', ['items']]);
    assert.equal((await call(srv.url, '/v1/push', { token: ann.body.token, body: pushBody() })).status, 200);
    assert.deepEqual(srv.stores.calls.at(-1).ctx.perms.write, ['items']);
    assert.equal(srv.stores.calls.at(-1).tenant, 'shop');

    // A changed role applies to the next request, tokens unchanged.
    hook.roles.set('ann', 'viewer');
    const me = await call(srv.url, '/v1/me', { method: 'GET', token: ann.body.token });
    assert.deepEqual(me.body.permissions.write, []);
    // A removed user is refused at once, with refresh too.
    hook.roles.delete('ann');
    for (const [path, token] of [['/v1/me', ann.body.token], ['/v1/refresh', ann.body.offlineToken]]) {
      const res = await call(srv.url, path, { method: path === '/v1/me' ? 'GET' : 'POST', token });
      assert.equal(res.status, 401, path);
      assert.equal(res.body.message, 'unknown user');
    }
  } finally {
    await srv.close();
  }
});

test('a hook without lookup: the grants travel in the signed tokens until the next sign-in', async () => {
  const hook = idpHook({ withLookup: false });
  const srv = await startTestServer({ auth: hook });
  srv.clock.now = T0;
  try {
    const rob = await call(srv.url, '/v1/login', { body: { idpToken: 'idp-token-rob' } });
    assert.equal(rob.status, 200);
    hook.roles.set('rob', 'editor'); // not seen until rob signs in again
    const refreshed = await call(srv.url, '/v1/refresh', { token: rob.body.offlineToken });
    assert.equal(refreshed.status, 200);
    assert.deepEqual(refreshed.body.permissions.write, []);
    const pulled = await call(srv.url, '/v1/pull', { token: refreshed.body.token, body: { v: 1, device: 'd2', cursor: 0 } });
    assert.equal(pulled.status, 200);
    assert.deepEqual(srv.stores.calls.at(-1).ctx.perms, { read: '*', write: [], stepUp: true });
    const again = await call(srv.url, '/v1/login', { body: { idpToken: 'idp-token-rob' } });
    assert.deepEqual(again.body.permissions.write, ['items']);
  } finally {
    await srv.close();
  }
});

test('a hook that throws or answers a wrong shape is a logged 500, never a sign-in', async () => {
  const answers = [
    () => { throw new Error('identity provider down'); },
    () => ({ tenant: 'Bad Tenant', user: 'x', read: '*', write: '*' }),
    () => ({ tenant: 'shop', user: '', read: '*', write: '*' }),
    () => ({ tenant: 'shop', user: 'x', read: 'all', write: '*' }),
    () => 'yes',
  ];
  let answer;
  const srv = await startTestServer({ auth: { login: async () => answer() } });
  try {
    for (const a of answers) {
      answer = a;
      const res = await call(srv.url, '/v1/login', { body: { anything: 1 } });
      assert.equal(res.status, 500, String(a));
      assert.deepEqual(res.body, { code: 'internal', message: 'internal error' });
    }
    assert.equal(srv.logged.length, answers.length, 'each is logged for the operator');
  } finally {
    await srv.close();
  }
});

test('--auth names a module whose login and lookup the server calls', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sloop-hook-'));
  try {
    writeFileSync(join(dir, 'schema.json'), JSON.stringify({ collections: { items: { fields: { name: 'lww' } } } }));
    writeFileSync(join(dir, 'auth.mjs'), `
      export async function login({ code }) {
        return code === 'let-me-in' ? { tenant: 'shop', user: 'kim', read: '*', write: '*' } : null;
      }
      export function lookup({ tenant, user }) {
        return tenant === 'shop' && user === 'kim' ? { read: '*', write: '*' } : null;
      }`);
    const { config } = await loadConfig({ argv: ['--schema', 'schema.json', '--auth', 'auth.mjs'], env: {}, cwd: dir });
    assert.equal(config.users, null);
    const srv = await startTestServer({ auth: config.auth });
    try {
      assert.equal((await call(srv.url, '/v1/login', { body: { code: 'nope' } })).status, 401);
      const kim = await call(srv.url, '/v1/login', { body: { code: 'let-me-in' } });
      assert.equal(kim.status, 200);
      assert.equal((await call(srv.url, '/v1/me', { method: 'GET', token: kim.body.token })).body.user, 'kim');
    } finally {
      await srv.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
