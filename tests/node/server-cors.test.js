// Cross-origin calls: allowed origins only (exact match), preflight answered or refused,
// Vary: Origin, no credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { corsPolicy } from '../../js/server/cors.js';
import { PASSWORDS, call, login, pushBody, startTestServer } from './server-harness.js';

const APP = 'http://localhost:5173';

/** A preflight as a browser sends it before a JSON POST with a bearer token. */
const preflight = (url, path, origin) => fetch(url + path, {
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
});

test('by default no origin is allowed: a preflight gets 403 and no CORS headers', async () => {
  const srv = await startTestServer();
  try {
    const res = await preflight(srv.url, '/v1/login', APP);
    assert.equal(res.status, 403);
    assert.equal((await res.json()).code, 'denied');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    assert.equal(res.headers.get('access-control-allow-methods'), null);
    const login = await call(srv.url, '/v1/login', { body: { user: 'alice', password: PASSWORDS.alice }, headers: { origin: APP } });
    assert.equal(login.status, 200, 'same-origin style requests still work');
    assert.equal(login.headers.get('access-control-allow-origin'), null);
  } finally {
    await srv.close();
  }
});

test('an allowed origin gets its preflight answered and every answer readable', async () => {
  const srv = await startTestServer({ cors: { origins: [APP], maxAgeSeconds: 120 } });
  try {
    for (const path of ['/v1/login', '/v1/push', '/v1/pull', '/v1/refresh', '/v1/me']) {
      const res = await preflight(srv.url, path, APP);
      assert.equal(res.status, 204, path);
      assert.equal(res.headers.get('access-control-allow-origin'), APP);
      assert.equal(res.headers.get('access-control-allow-methods'), 'GET, HEAD, POST');
      assert.deepEqual(res.headers.get('access-control-allow-headers').split(/, */).sort(), ['authorization', 'content-type']);
      assert.equal(res.headers.get('access-control-max-age'), '120');
      assert.equal(res.headers.get('vary'), 'Origin');
      assert.equal(res.headers.get('access-control-allow-credentials'), null, 'bearer tokens, never cookies');
    }
    const session = await call(srv.url, '/v1/login', { body: { user: 'alice', password: PASSWORDS.alice }, headers: { origin: APP } });
    assert.equal(session.status, 200);
    assert.equal(session.headers.get('access-control-allow-origin'), APP);
    assert.equal(session.headers.get('vary'), 'Origin, Accept-Encoding', 'API answers also vary with compression');
    const pushed = await call(srv.url, '/v1/push', { token: session.body.token, body: pushBody(), headers: { origin: APP } });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.headers.get('access-control-allow-origin'), APP);
    // Errors too, so the page can read {code, message}.
    const refused = await call(srv.url, '/v1/login', { body: { user: 'alice', password: 'wrong' }, headers: { origin: APP } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('access-control-allow-origin'), APP);
  } finally {
    await srv.close();
  }
});

test('origins match exactly: another port, scheme or host gets nothing', async () => {
  const srv = await startTestServer({ cors: { origins: [APP] } });
  try {
    const alice = await login(srv.url, 'alice');
    for (const origin of ['http://localhost:5174', 'https://localhost:5173', 'http://evil.example', 'null', `${APP}.evil.example`]) {
      const pre = await preflight(srv.url, '/v1/push', origin);
      assert.equal(pre.status, 403, origin);
      assert.equal(pre.headers.get('access-control-allow-origin'), null, origin);
      const res = await call(srv.url, '/v1/me', { method: 'GET', token: alice.token, headers: { origin } });
      assert.equal(res.status, 200, 'the server answers; the browser hides it from that page');
      assert.equal(res.headers.get('access-control-allow-origin'), null, origin);
      assert.equal(res.headers.get('vary'), 'Origin, Accept-Encoding', 'a cache must not reuse one origin\'s answer for another');
    }
  } finally {
    await srv.close();
  }
});

test('an OPTIONS that is not a preflight is left to the routes', async () => {
  const srv = await startTestServer({ cors: { origins: [APP] } });
  try {
    const res = await fetch(`${srv.url}/v1/login`, { method: 'OPTIONS', headers: { origin: APP } });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
  } finally {
    await srv.close();
  }
});

test('origins that could never match are refused when the server is built', () => {
  for (const bad of ['localhost:5173', 'http://localhost:5173/', 'http://localhost:5173/app', 'ftp://x.example', '*', 42]) {
    assert.throws(() => corsPolicy({ origins: [bad] }), /CORS origin/, String(bad));
  }
  assert.throws(() => corsPolicy({ origins: [], maxAgeSeconds: -1 }), /maxAgeSeconds/);
  assert.doesNotThrow(() => corsPolicy({ origins: [APP, 'https://app.example.com'] }));
});
