// The sync server's login, tokens and refresh, over HTTP on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenService } from '../../js/server/tokens.js';
import { SECRET, T0, call, login, pushBody, startTestServer } from './server-harness.js';

let srv;
before(async () => { srv = await startTestServer(); });
after(() => srv.close());

const push = (token, body = pushBody()) => call(srv.url, '/v1/push', { token, body });

/** Rebuilds a token with other claims but the original signature. */
function withClaims(token, change) {
  const [v, claims, sig] = token.split('.');
  const decoded = JSON.parse(Buffer.from(claims, 'base64url').toString());
  return [v, Buffer.from(JSON.stringify({ ...decoded, ...change })).toString('base64url'), sig].join('.');
}

test('login with the right password answers tokens, tenant and permissions', async () => {
  srv.clock.now = T0;
  const res = await call(srv.url, '/v1/login', { body: { user: 'bob', password: 'bob-pw', device: 'd1' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.body.tenant, 'acme');
  assert.equal(res.body.user, 'bob');
  assert.equal(res.body.device, 'd1');
  assert.deepEqual(res.body.permissions, { read: '*', write: ['notes', 'tasks'], stepUpMaxAgeMs: 300_000 });
  assert.equal(res.body.expiresAt, T0 + 3_600_000);
  assert.equal(res.body.offlineExpiresAt, T0 + 30 * 86_400_000);
  assert.match(res.body.token, /^v1\.[\w-]+\.[\w-]{43}$/);
  assert.equal((await push(res.body.token)).status, 200);
});

test('a wrong password, an unknown user and missing fields are refused', async () => {
  for (const body of [{ user: 'bob', password: 'alice-pw' }, { user: 'nobody', password: 'x' },
    { user: '__proto__', password: 'x' }, { user: 'constructor', password: 'x' }]) {
    const res = await call(srv.url, '/v1/login', { body });
    assert.equal(res.status, 401, JSON.stringify(body));
    assert.deepEqual(res.body, { code: 'unauthenticated', message: 'wrong user or password' });
  }
  for (const body of [{ user: 'bob' }, { password: 'bob-pw' }, { user: 7, password: 'bob-pw' },
    { user: 'bob', password: 'bob-pw', device: '../d' }]) {
    const res = await call(srv.url, '/v1/login', { body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.body.code, 'invalid');
  }
});

test('requests without a token, or with garbage for one, are unauthenticated', async () => {
  const garbage = ['', 'x', 'v1..', 'v1.e30.', 'Bearer', 'v2.e30.' + 'A'.repeat(43), '.'.repeat(50),
    'v1.' + 'A'.repeat(5000) + '.' + 'A'.repeat(43), 'v1.%%%.' + 'A'.repeat(43), 'v1.e30.' + 'A'.repeat(43)];
  const noToken = await call(srv.url, '/v1/push', { body: pushBody() });
  assert.equal(noToken.status, 401);
  assert.equal(noToken.body.code, 'unauthenticated');
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer');
  for (const token of garbage) {
    const res = await call(srv.url, '/v1/push', { body: pushBody(), headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 401, token);
    assert.equal(res.body.code, 'unauthenticated', token);
  }
  const basic = await call(srv.url, '/v1/me', { method: 'GET', headers: { authorization: 'Basic Ym9iOmJvYi1wdw==' } });
  assert.equal(basic.status, 401);
  assert.equal(srv.stores.calls.filter((c) => c.ctx.user !== 'bob').length, 0);
});

test('an expired token is 401 expired; it works up to its expiry', async () => {
  srv.clock.now = T0;
  const { token } = await login(srv.url, 'alice');
  srv.clock.now = T0 + 3_600_000 - 1;
  assert.equal((await call(srv.url, '/v1/me', { method: 'GET', token })).status, 200);
  srv.clock.now = T0 + 3_600_000;
  const res = await push(token);
  assert.equal(res.status, 401);
  assert.equal(res.body.code, 'expired');
  srv.clock.now = T0;
});

test('forged, altered and re-signed tokens are unauthenticated, never expired', async () => {
  srv.clock.now = T0;
  const { token } = await login(srv.url, 'alice');
  const otherKey = createTokenService({ secret: 'another-secret-0123456789abcdef0123456789', now: () => T0 });
  const forged = otherKey.issue('access', { tid: 'acme', sub: 'alice', auth: T0 }).token;
  const sig = token.split('.')[2];
  const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
  const cases = {
    forged,
    otherTenant: withClaims(token, { tid: 'globex' }),
    otherUser: withClaims(token, { sub: 'bob' }),
    longerLife: withClaims(token, { exp: T0 + 10 * 86_400_000 }),
    flippedSignature: `${token.split('.').slice(0, 2).join('.')}.${flipped}`,
    lastSignatureBits: token.slice(0, -1) + (token.at(-1) === 'A' ? 'B' : 'A'),
    expiredAndForged: withClaims(token, { exp: T0 - 1 }),
  };
  for (const [name, bad] of Object.entries(cases)) {
    const res = await push(bad);
    assert.equal(res.status, 401, name);
    assert.equal(res.body.code, 'unauthenticated', name);
  }
  // The same claims signed with the right key pass: the checks above failed on the signature.
  const good = createTokenService({ secret: SECRET, now: () => T0 }).issue('access', { tid: 'acme', sub: 'alice', auth: T0 });
  assert.equal((await push(good.token)).status, 200);
});

test('a token of a user who is gone, or moved tenant, is unauthenticated', async () => {
  const ours = createTokenService({ secret: SECRET, now: () => T0 });
  srv.clock.now = T0;
  for (const subject of [{ tid: 'acme', sub: 'mallory' }, { tid: 'globex', sub: 'alice' }]) {
    const res = await push(ours.issue('access', { ...subject, auth: T0 }).token);
    assert.equal(res.status, 401, JSON.stringify(subject));
    assert.equal(res.body.code, 'unauthenticated');
  }
});

test('audiences keep access and offline tokens apart', async () => {
  srv.clock.now = T0;
  const { token, offlineToken } = await login(srv.url, 'alice', 'd1');
  for (const path of ['/v1/push', '/v1/pull']) {
    const res = await call(srv.url, path, { token: offlineToken, body: pushBody() });
    assert.equal(res.status, 401, path);
    assert.equal(res.body.code, 'unauthenticated');
  }
  const me = await call(srv.url, '/v1/me', { method: 'GET', token: offlineToken });
  assert.equal(me.body.code, 'unauthenticated');
  const refresh = await call(srv.url, '/v1/refresh', { token });
  assert.equal(refresh.status, 401);
  assert.equal(refresh.body.code, 'unauthenticated');
});

test('refresh with the offline token issues a new access token, days later', async () => {
  srv.clock.now = T0;
  const first = await login(srv.url, 'carol', 'lap-1');
  srv.clock.now = T0 + 20 * 86_400_000;
  assert.equal((await push(first.token, pushBody(1, { device: 'lap-1' }))).body.code, 'expired');
  const res = await call(srv.url, '/v1/refresh', { token: first.offlineToken });
  assert.equal(res.status, 200);
  assert.equal(res.body.tenant, 'globex');
  assert.equal(res.body.device, 'lap-1');
  assert.equal(res.body.expiresAt, srv.clock.now + 3_600_000);
  assert.equal(res.body.offlineToken, undefined);
  assert.equal((await push(res.body.token, pushBody(1, { device: 'lap-1' }))).status, 200);
  srv.clock.now = T0 + 30 * 86_400_000;
  assert.equal((await call(srv.url, '/v1/refresh', { token: first.offlineToken })).body.code, 'expired');
  srv.clock.now = T0;
});

test('/v1/me answers the permissions a client caches for offline use', async () => {
  srv.clock.now = T0;
  const { token } = await login(srv.url, 'erin', 'tab-2');
  srv.clock.now = T0 + 1000;
  const res = await call(srv.url, '/v1/me', { method: 'GET', token });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.deepEqual(res.body, {
    v: 1, tenant: 'acme', user: 'erin', device: 'tab-2', authAt: T0, expiresAt: T0 + 3_600_000,
    permissions: { read: ['notes'], write: ['notes'], stepUpMaxAgeMs: 300_000 },
  });
  srv.clock.now = T0;
});
