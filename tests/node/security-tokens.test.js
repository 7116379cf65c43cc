// Tokens against the real server (the HTTP-layer cases over a fake store are in
// server-auth.test.js): every bad token on every endpoint is 401 with the documented code and
// applies nothing, and a genuine token used with another user's device is refused by the core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenService } from '../../js/server/tokens.js';
import { coreClient, login, post, seededServer } from './real-server.js';

let env;
before(async () => { env = await seededServer('sec-tokens'); });
after(() => env.close());

/** The tokens a client must never get past the server with, and the code each must get. */
function badTokens(genuine, kind) {
  const secret = readFileSync(join(env.dataDir, 'secret'), 'utf8').trim();
  const now = Date.now();
  const old = now - 31 * 86_400_000; // past the lifetime of either kind
  const signer = (at = now, key = secret) => createTokenService({ secret: key, now: () => at });
  const alice = { tid: 'acme', sub: 'alice', auth: now };
  const [, claims, sig] = genuine.token.split('.');
  const carolClaims = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url')), sub: 'alice', tid: 'acme' })).toString('base64url');
  const flip = (s) => s.slice(0, -2) + (s.at(-2) === 'A' ? 'B' : 'A') + s.at(-1);
  return [
    ['missing', null, 'unauthenticated'],
    ['empty', '', 'unauthenticated'],
    ['garbage', 'not-a-token', 'unauthenticated'],
    ['shaped garbage', 'v1.e30.' + 'A'.repeat(43), 'unauthenticated'],
    ['oversized (claims over 4096)', `v1.${'A'.repeat(8000)}.${sig}`, 'unauthenticated'],
    ['forged (another secret)', signer(now, 'x'.repeat(32)).issue(kind, alice).token, 'unauthenticated'],
    ['altered claims (carol made alice)', `v1.${carolClaims}.${sig}`, 'unauthenticated'],
    ['altered signature', `v1.${claims}.${flip(sig)}`, 'unauthenticated'],
    ['expired', signer(old).issue(kind, { ...alice, auth: old }).token, 'expired'],
    ['forged and expired', signer(old, 'y'.repeat(32)).issue(kind, { ...alice, auth: old }).token, 'unauthenticated'],
    ['issued in the future', signer(now + 3_600_000).issue(kind, { ...alice, auth: now + 3_600_000 }).token, 'unauthenticated'],
    ['unknown user', signer().issue(kind, { ...alice, sub: 'mallory' }).token, 'unauthenticated'],
    ['user of another tenant', signer().issue(kind, { ...alice, sub: 'carol' }).token, 'unauthenticated'],
  ];
}

test('bad tokens get 401 on every endpoint and apply nothing', async (t) => {
  const carol = await login(env.srv.url, 'carol');
  const bob = await login(env.srv.url, 'bob');
  env.acme.alice.db.put('notes', 'would-be', { title: 'must not land' });
  const pushBody = env.acme.alice.db.pushBegin(10);
  const pullBody = env.acme.alice.db.pullRequest(100);
  const endpoints = [
    ['/v1/push', 'POST', pushBody, 'access'],
    ['/v1/pull', 'POST', pullBody, 'access'],
    ['/v1/me', 'GET', undefined, 'access'],
    ['/v1/refresh', 'POST', undefined, 'offline'],
  ];
  let cases = 0;
  for (const [path, method, body, kind] of endpoints) {
    const wrongAudience = kind === 'access' ? bob.offlineToken : bob.token;
    for (const [what, token, code] of [...badTokens(carol, kind), ['wrong audience', wrongAudience, 'unauthenticated']]) {
      const r = await post(env.srv.url, path, token, body, { method });
      assert.equal(r.status, 401, `${what} on ${path}: ${r.text}`);
      assert.equal(r.json.code, code, `${what} on ${path}: ${r.text}`);
      cases += 1;
    }
  }
  env.acme.alice.db.pushFail('test: never sent with a good token');
  assert.deepEqual(await env.dump(), env.baseline);
  t.diagnostic(`bad tokens: ${cases} cases, all 401, acme unchanged`);
});

test("a genuine token with another user's device is refused by the core, push and pull", async (t) => {
  const bobDevice = env.acme.bob.db.device;
  const hlc = env.acme.alice.db.clockNow();
  // Next operation ids of bob's device: taking them would get bob's real ones refused.
  const next = Number(env.acme.opIds.filter((id) => id.startsWith(`${bobDevice}:`)).map((id) => id.split(':')[1]).sort((a, b) => b - a)[0]) + 1;
  const asBob = (seq) => ({ v: 1, device: bobDevice, ops: [{ id: `${bobDevice}:${seq}`, type: 'put', coll: 'notes', rid: 'hijack', hlc, base: 0, payload: { title: { set: 'x' } } }] });
  const dave = await login(env.srv.url, 'dave');
  const cases = [
    ['alice pushes from bob\'s device', '/v1/push', env.alice.token, asBob(next)],
    ['alice replays bob\'s first operation id', '/v1/push', env.alice.token, asBob(1)],
    ['alice pulls as bob\'s device', '/v1/pull', env.alice.token, { v: 1, device: bobDevice, cursor: 0 }],
    ['dave (read-only) pulls as bob\'s device', '/v1/pull', dave.token, { v: 1, device: bobDevice, cursor: 0 }],
  ];
  for (const [what, path, token, body] of cases) {
    const r = await post(env.srv.url, path, token, body);
    assert.equal(r.status, 403, `${what}: ${r.text}`);
    assert.equal(r.json.code, 'device', what);
    assert.match(r.json.message, /another user/, what);
  }
  // A token bound to one device cannot speak for another, even the same user's.
  const bound = await login(env.srv.url, 'alice', 'alice-phone');
  for (const path of ['/v1/push', '/v1/pull']) {
    const r = await post(env.srv.url, path, bound.token, path === '/v1/push' ? asBob(next) : { v: 1, device: env.acme.alice.db.device, cursor: 0 });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.code, 'device', r.text);
  }
  assert.deepEqual(await env.dump(), env.baseline);
  // Bob's device still owns its next operation id.
  env.acme.bob.db.put('notes', 'b2', { title: 'bob again' });
  const results = await env.acme.bob.push();
  assert.deepEqual(results.map((r) => [r.id, r.status]), [[`${bobDevice}:${next}`, 'applied']]);
  t.diagnostic(`device ownership: ${cases.length + 2} cases, all 403, nothing applied`);
});

test('a token keeps working across a restart (the secret is kept in the data folder)', async () => {
  const { token } = await login(env.srv.url, 'carol');
  await env.restart();
  const me = await post(env.srv.url, '/v1/me', token, undefined, { method: 'GET' });
  assert.equal(me.status, 200);
  const client = await coreClient(env.srv.url, 'carol', { token });
  await client.pull();
  client.db.close();
});
