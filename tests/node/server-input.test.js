// Bad input of every kind gets a 4xx with {code, message}; the server never falls over.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { T0, call, login, pushBody, rawRequest, startTestServer } from './server-harness.js';

const LIMIT = 4096;
let srv;
let token;
let storeBehaviour = {};
before(async () => {
  srv = await startTestServer({
    limits: { maxBodyBytes: LIMIT, maxOps: 10, bodyTimeoutMs: 300, headersTimeoutMs: 400 },
    behaviour: { push: (...a) => (storeBehaviour.push ?? ((r) => JSON.stringify({ v: 1, results: [], n: r.ops.length })))(...a) },
  });
  srv.clock.now = T0;
  token = (await login(srv.url, 'alice')).token;
});
after(() => srv.close());
beforeEach(() => { srv.stores.calls.length = 0; storeBehaviour = {}; });

/** Asserts a JSON error answer with the API headers. */
function assertError(res, status, code, label = '') {
  assert.equal(res.status, status, `${label} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.code, code, label);
  assert.equal(typeof res.body.message, 'string', label);
  if (res.headers.get) {
    assert.equal(res.headers.get('cache-control'), 'no-store', label);
    assert.match(res.headers.get('content-type'), /^application\/json/, label);
  }
}

const push = (body, headers) => call(srv.url, '/v1/push', { token, body, headers });

test('malformed JSON and invalid UTF-8 are 400 json', async () => {
  for (const text of ['{', '{"v":1,}', 'nul', "{'v':1}", '{"v":1} x', '']) assertError(await push(text), 400, 'json', text);
  const badUtf8 = [Buffer.from('{"v":1,"device":"d1","ops":[],"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')];
  assertError(await push(new Uint8Array(Buffer.concat(badUtf8))), 400, 'json', 'bad utf-8');
  assertError(await push(new Uint8Array(Buffer.from([0xed, 0xa0, 0x80]))), 400, 'json', 'encoded surrogate');
  assertError(await call(srv.url, '/v1/login', { body: '{"user":' }), 400, 'json', 'login');
  assert.equal(srv.stores.calls.length, 0);
});

test('bodies that are not a JSON object, or lack the protocol fields, are 400 invalid', async () => {
  for (const text of ['[]', 'null', '7', '"s"', 'true', '[{"v":1}]']) assertError(await push(text), 400, 'invalid', text);
  const bodies = [{}, { v: 3, device: 'd1', ops: [] }, { v: '1', device: 'd1', ops: [] }, { v: 1, device: 'd1' },
    { v: 1, device: 'd1', ops: {} }, { v: 1, device: 'd1', ops: 'x' }];
  for (const body of bodies) assertError(await push(body), 400, 'invalid', JSON.stringify(body));
  const deep = `{"v":1,"device":"d1","ops":[${'['.repeat(100)}${']'.repeat(100)}]}`;
  assertError(await push(deep), 400, 'invalid', 'deep');
  const veryDeep = `{"v":1,"device":"d1","ops":[{"p":${'['.repeat(2000)}${']'.repeat(2000)}}]}`;
  assertError(await push(veryDeep), 400, 'invalid', 'very deep');
  assert.equal(srv.stores.calls.length, 0);
});

test('a wrong or missing content type, or a compressed body, is 415', async () => {
  const text = JSON.stringify(pushBody());
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/jsonx']) {
    assertError(await push(text, { 'content-type': type }), 415, 'unsupported_media_type', type);
  }
  assertError(await push(text, { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 415, 'unsupported_media_type');
  const none = await rawRequest(srv.url, '/v1/push', { authorization: `Bearer ${token}` }, (req) => req.end(text));
  assertError(none, 415, 'unsupported_media_type', 'no type');
  assert.equal((await push(text, { 'content-type': 'Application/JSON; charset=UTF-8' })).status, 200);
});

test('a body declared over the limit is refused before it is sent', async () => {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(LIMIT + 1) };
  // Only the headers go out: a 413 answer proves the server did not wait for the body.
  const res = await rawRequest(srv.url, '/v1/push', headers, (req) => req.flushHeaders());
  assertError(res, 413, 'toobig');
  assert.equal(res.headers.connection, 'close');
});

test('a chunked body is cut off at the limit while streaming', async () => {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  let sent = 0;
  const res = await rawRequest(srv.url, '/v1/push', headers, (req) => {
    const pump = () => {
      // Keep sending until the answer arrives; at most 1 MiB, far past the 4 KiB limit.
      while (sent < 1024 * 1024 && !req.destroyed) {
        sent += 1024;
        if (!req.write(' '.repeat(1024))) return req.once('drain', pump);
      }
    };
    req.write('{"v":1,"device":"d1","ops":[],"pad":"');
    pump();
  });
  assertError(res, 413, 'toobig');
  const exact = JSON.stringify({ v: 1, device: 'd1', ops: [], pad: '' });
  assert.equal((await push(exact.replace('""', `"${'x'.repeat(LIMIT - exact.length)}"`))).status, 200);
  assertError(await push(exact.replace('""', `"${'x'.repeat(LIMIT - exact.length + 1)}"`)), 413, 'toobig', 'limit + 1');
});

test('more operations than the batch limit is 413 toobig', async () => {
  assert.equal((await push(pushBody(10))).status, 200);
  assertError(await push(pushBody(11)), 413, 'toobig');
  assert.equal(srv.stores.calls.length, 1);
});

test('a body that trickles in is cut off with 408 timeout', async () => {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '100' };
  const started = Date.now();
  const res = await rawRequest(srv.url, '/v1/push', headers, (req) => req.write('{"v":1,'));
  assertError(res, 408, 'timeout');
  assert.ok(Date.now() - started < 3000, 'the deadline applies');
});

test('unknown endpoints are 404, wrong methods 405 with Allow', async () => {
  for (const [method, path] of [['GET', '/'], ['GET', '/v1/'], ['POST', '/v1/pushx'], ['GET', '/v2/push'],
    ['POST', '/v1/push/'], ['GET', '/../../etc/passwd'], ['PUT', '/index.html']]) {
    assertError(await call(srv.url, path, { method, token }), 404, 'not_found', `${method} ${path}`);
  }
  for (const [method, path, allow] of [['GET', '/v1/push', 'POST'], ['DELETE', '/v1/pull', 'POST'],
    ['POST', '/v1/me', 'GET'], ['PUT', '/v1/login', 'POST'], ['GET', '/v1/refresh', 'POST']]) {
    const res = await call(srv.url, path, { method, token });
    assertError(res, 405, 'method_not_allowed', `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow);
  }
  assert.equal((await call(srv.url, '/v1/push?x=1', { token, body: pushBody() })).status, 200, 'query ignored');
});

test('store errors map to protocol statuses; a store bug is 500 internal and logged', async () => {
  const sloopError = (code) => () => { throw Object.assign(new Error(`core says ${code}`), { code }); };
  for (const [code, status] of [['schema', 400], ['drift', 400], ['json', 400], ['denied', 403], ['device', 403], ['resync', 410], ['toobig', 413]]) {
    storeBehaviour.push = sloopError(code);
    const res = await push(pushBody());
    assertError(res, status, code);
    assert.equal(res.body.message, `core says ${code}`);
  }
  const logged = srv.logged.length;
  for (const bug of [sloopError('corrupt'), () => { throw new TypeError('oops'); }, () => 42, async () => { throw new Error('late'); }]) {
    storeBehaviour.push = bug;
    const res = await push(pushBody());
    assertError(res, 500, 'internal');
    assert.equal(res.body.message, 'internal error', 'no internals leak');
  }
  assert.equal(srv.logged.length, logged + 4);
  storeBehaviour = {};
  assert.equal((await push(pushBody())).status, 200, 'still serving');
});

/** Writes raw bytes on a fresh connection and resolves with all the server sent back. */
async function rawExchange(bytes) {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(Number(new URL(srv.url).port), '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (d) => { text += d; }).on('close', () => resolve(text)).on('error', () => resolve(text));
  });
}

test('malformed HTTP gets a JSON 400 and the server keeps serving', async () => {
  const answer = await rawExchange('POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
  assert.match(answer, /^HTTP\/1\.1 400/);
  assert.equal(JSON.parse(answer.split('\r\n\r\n')[1]).code, 'invalid');
  assert.equal((await push(pushBody())).status, 200);
});

test('headers that never finish are cut off with a JSON 408', async () => {
  const started = Date.now();
  const answer = await rawExchange('POST /v1/push HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
  assert.match(answer, /^HTTP\/1\.1 408/);
  assert.equal(JSON.parse(answer.split('\r\n\r\n')[1]).code, 'timeout');
  assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
});

/** Deterministic PRNG (mulberry32), so a failing case can be replayed from its seed. */
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A garbage body: random bytes, or a valid request with bytes flipped, cut or repeated. */
function garbage(rand) {
  const valid = Buffer.from(JSON.stringify(rand() < 0.5 ? pushBody(3) : { v: 1, device: 'd1', cursor: 5, scope: { collections: ['notes'] } }));
  const kind = Math.floor(rand() * 4);
  if (kind === 0) return Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
  const bytes = Buffer.from(valid);
  if (kind === 1) for (let i = 0; i < 1 + rand() * 5; i++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
  if (kind === 2) return bytes.subarray(0, Math.floor(rand() * bytes.length));
  if (kind === 3) {
    const tokens = ['{', '}', '[', ']', '"', ',', ':', 'null', '1e999', '-0', '"\\ud800"', '{"__proto__":{}}', '"ops"', '"v"'];
    const at = Math.floor(rand() * bytes.length);
    return Buffer.concat([bytes.subarray(0, at), Buffer.from(tokens[Math.floor(rand() * tokens.length)]), bytes.subarray(at)]);
  }
  return bytes;
}

test('random garbage bodies never crash the server or get a 5xx', async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20260101);
  const rand = prng(seed);
  const paths = ['/v1/push', '/v1/pull', '/v1/login', '/v1/refresh'];
  const statuses = new Map();
  const logged = srv.logged.length;
  for (let i = 0; i < 400; i++) {
    const path = paths[Math.floor(rand() * paths.length)];
    const body = garbage(rand);
    const res = await call(srv.url, path, { token, body: new Uint8Array(body) });
    const label = `seed ${seed} case ${i} ${path} ${body.toString('base64')}`;
    assert.ok(res.status < 500, label);
    if (res.status >= 400) assert.equal(typeof res.body.code, 'string', label);
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  // The mix must reach past the parser, or the test proves little.
  assert.ok(statuses.get(200) > 10 && statuses.get(400) > 100, JSON.stringify([...statuses]));
  assert.equal(srv.logged.length, logged, 'no bug was logged');
  console.log(`fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
});
