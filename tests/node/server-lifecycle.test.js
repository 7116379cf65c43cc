// Static files next to the API, graceful shutdown, and keep-alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { DEFAULT_LIMITS } from '../../js/server/sync-server.js';
import { T0, call, login, pushBody, startTestServer } from './server-harness.js';

test('with staticFiles the PWA is served; API paths stay JSON and no-store', async () => {
  const srv = await startTestServer({ staticFiles: true });
  try {
    const page = await fetch(`${srv.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(await page.text(), /<title>Sloop[^<]*<\/title>/);
    const missing = await call(srv.url, '/v1/nothing', { method: 'GET' });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('cache-control'), 'no-store');
    assert.equal((await call(srv.url, '/../package.json', { method: 'GET' })).status, 404);
  } finally {
    await srv.close();
  }
});

test('close lets a request in flight finish, then closes every tenant store', async () => {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  const srv = await startTestServer({
    behaviour: { push: async () => { await gate; return '{"v":1,"results":[]}'; } },
  });
  srv.clock.now = T0;
  const carol = await login(srv.url, 'carol');
  await call(srv.url, '/v1/pull', { token: (await login(srv.url, 'alice')).token, body: { v: 1, device: 'd1', cursor: 0 } });
  const slow = call(srv.url, '/v1/push', { token: carol.token, body: pushBody() });
  while (srv.stores.calls.length < 2) await new Promise((r) => setTimeout(r, 5));

  const closed = srv.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(srv.stores.closed, [], 'stores stay open while a request is in flight');
  await assert.rejects(fetch(`${srv.url}/v1/me`), 'no new connections once closing');
  release();
  assert.equal((await slow).status, 200);
  await closed;
  assert.deepEqual(srv.stores.closed.sort(), ['acme', 'globex']);
  assert.equal(srv.close(), closed, 'close is idempotent');
});

test('close cuts requests that outlast the grace period', async () => {
  const srv = await startTestServer({
    limits: { shutdownGraceMs: 100 },
    behaviour: { push: () => new Promise(() => {}) },
  });
  srv.clock.now = T0;
  const { token } = await login(srv.url, 'alice');
  const stuck = call(srv.url, '/v1/push', { token, body: pushBody() }).catch((e) => e);
  while (srv.stores.calls.length < 1) await new Promise((r) => setTimeout(r, 5));
  const started = Date.now();
  await srv.close();
  assert.ok(Date.now() - started < 2000);
  assert.ok((await stuck) instanceof Error, 'the stuck request was cut');
  assert.deepEqual(srv.stores.closed, ['acme']);
});

test('idle keep-alive connections stay open past the headers timeout, for a minute', async () => {
  // The server must outlast what clients and proxies keep: closing first cuts POSTs that a
  // client sends on the dying connection, and those are not retried.
  assert.ok(DEFAULT_LIMITS.keepAliveTimeoutMs >= 60_000);
  const srv = await startTestServer({ limits: { headersTimeoutMs: 300, bodyTimeoutMs: 300 } });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const me = (token) => new Promise((resolve, reject) => {
    const req = request(`${srv.url}/v1/me`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket, keepAlive: res.headers['keep-alive'] }));
    });
    req.on('error', reject).end();
  });
  try {
    const { token } = await login(srv.url, 'alice');
    // Clients (Node's Agent, undici) take the advertised timeout as their own bound.
    assert.deepEqual(await me(token), { status: 200, reused: false, keepAlive: 'timeout=65' });
    await new Promise((r) => setTimeout(r, 700)); // idle longer than the headers timeout
    assert.deepEqual(await me(token), { status: 200, reused: true, keepAlive: 'timeout=65' });
  } finally {
    agent.destroy();
    await srv.close();
  }
});

test('a request still unanswered after handlerTimeoutMs is answered 503 timeout, and the server goes on', async () => {
  let stall = true;
  const srv = await startTestServer({
    limits: { handlerTimeoutMs: 200 },
    behaviour: { push: () => (stall ? new Promise(() => {}) : '{"v":1,"results":[]}') },
  });
  srv.clock.now = T0;
  try {
    const { token } = await login(srv.url, 'alice');
    const started = Date.now();
    const stuck = await call(srv.url, '/v1/push', { token, body: pushBody() });
    assert.equal(stuck.status, 503);
    assert.equal(stuck.body.code, 'timeout');
    assert.match(stuck.body.message, /POST \/v1\/push did not finish within 200 ms/);
    assert.ok(Date.now() - started < 5000);
    stall = false;
    assert.equal((await call(srv.url, '/v1/push', { token, body: pushBody() })).status, 200, 'the next request is answered');
    assert.equal((await call(srv.url, '/v1/pull', { token, body: { v: 1, device: 'd1', cursor: 0 } })).status, 200);
    assert.deepEqual(srv.logged, [], 'a timeout is an answer, not a bug');
  } finally {
    await srv.close();
  }
});

test('a tenant store that never opens: its requests time out, and close() gives it up after the grace', async () => {
  const srv = await startTestServer({
    limits: { handlerTimeoutMs: 200, shutdownGraceMs: 200 },
    behaviour: { open: (tenant) => (tenant === 'acme' ? new Promise(() => {}) : undefined) },
  });
  srv.clock.now = T0;
  const alice = await login(srv.url, 'alice');
  const carol = await login(srv.url, 'carol');
  const stuck = await call(srv.url, '/v1/pull', { token: alice.token, body: { v: 1, device: 'd1', cursor: 0 } });
  assert.equal(stuck.status, 503);
  assert.equal(stuck.body.code, 'timeout');
  assert.equal((await call(srv.url, '/v1/pull', { token: carol.token, body: { v: 1, device: 'd2', cursor: 0 } })).status, 200,
    'another tenant is not held up');
  const started = Date.now();
  await assert.rejects(srv.close(), (e) => e instanceof AggregateError && /tenant store acme did not open/.test(e.errors[0].message));
  assert.ok(Date.now() - started < 3000, 'close did not wait for the stuck open');
  assert.deepEqual(srv.stores.closed, ['globex']);
});
