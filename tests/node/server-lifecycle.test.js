// Static files next to the API, and graceful shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
