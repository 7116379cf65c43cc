// Response compression (js/server/compress.js, sendJson in sync-server.js): large answers go
// gzip or br as the request's Accept-Encoding allows, small ones and refusals as they are;
// the decompressed bytes are the identity answer's; fetch (undici) decodes them itself; a real
// client syncs through it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { chooseEncoding, parseAcceptEncoding, COMPRESS_MIN_BYTES } from '../../js/server/compress.js';
import { startTestServer, login, call } from './server-harness.js';
import * as real from './client-harness.js';

/** A pull answer well over the threshold: 200 changes of a note-sized document. */
const BIG = JSON.stringify({
  v: 1,
  changes: Array.from({ length: 200 }, (_, i) => ({
    coll: 'notes', rid: `n${i}`, version: i + 1, deleted: false,
    doc: { title: `Inspection ${i}`, body: `pump ${i} pressure nominal, seal replaced on unit ${i % 7}` },
  })),
  conflicts: [], cursor: 200, hasMore: false, remaining: 0,
});

let srv;
let token;
before(async () => {
  srv = await startTestServer({ behaviour: { pull: () => BIG } });
  ({ token } = await login(srv.url, 'alice', 'd1'));
});
after(() => srv.close());

/** A pull over raw node:http (no decoding): status, headers and the bytes as sent. */
function rawPull(headers = {}, path = '/v1/pull', auth = true) {
  return new Promise((resolve, reject) => {
    const h = { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}), ...headers };
    const req = request(srv.url + path, { method: 'POST', headers: h, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ v: 1, device: 'd1', cursor: 0 }));
  });
}

test('Accept-Encoding: q-values, wildcards, refusals and preference', () => {
  assert.equal(chooseEncoding(undefined), null);
  assert.equal(chooseEncoding(''), null);
  assert.equal(chooseEncoding('identity'), null);
  assert.equal(chooseEncoding('gzip, deflate'), 'gzip');
  assert.equal(chooseEncoding('gzip, deflate, br'), 'br', 'br on a tie');
  assert.equal(chooseEncoding('gzip;q=1.0, br;q=0.5'), 'gzip');
  assert.equal(chooseEncoding('br;q=0, gzip;q=0.1'), 'gzip');
  assert.equal(chooseEncoding('gzip;q=0, br;q=0'), null);
  assert.equal(chooseEncoding('*'), 'br');
  assert.equal(chooseEncoding('*;q=0.5, br;q=0'), 'gzip');
  assert.equal(chooseEncoding('*;q=0'), null);
  assert.equal(chooseEncoding('X-GZIP'), 'gzip');
  assert.equal(chooseEncoding('deflate, compress'), null);
  assert.equal(chooseEncoding('gzip;q=abc'), null, 'a malformed q-value refuses');
  assert.equal(chooseEncoding('gzip;q=2'), null);
  assert.equal(parseAcceptEncoding('br;q=0.2, br;q=0.8').get('br'), 0.8);
});

test('a large answer goes gzip or br when accepted, and decompresses to the identity body', async () => {
  const plain = await rawPull({ 'accept-encoding': 'identity' });
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.bytes.toString(), BIG);
  assert.equal(Number(plain.headers['content-length']), plain.bytes.length);
  for (const [accept, encoding, decode] of [['gzip', 'gzip', gunzipSync], ['br', 'br', brotliDecompressSync],
    ['gzip, deflate, br', 'br', brotliDecompressSync], ['br;q=0.5, gzip', 'gzip', gunzipSync]]) {
    const res = await rawPull({ 'accept-encoding': accept });
    assert.equal(res.status, 200, accept);
    assert.equal(res.headers['content-encoding'], encoding, accept);
    assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.headers.vary, /Accept-Encoding/);
    assert.equal(Number(res.headers['content-length']), res.bytes.length, `${accept}: Content-Length is the sent length`);
    assert.ok(res.bytes.length < plain.bytes.length / 3, `${accept}: ${res.bytes.length} bytes`);
    assert.deepEqual(decode(res.bytes), plain.bytes, accept);
  }
});

test('without Accept-Encoding, or refusing both codings, the answer is identity', async () => {
  for (const headers of [{}, { 'accept-encoding': 'gzip;q=0, br;q=0' }, { 'accept-encoding': '*;q=0' }, { 'accept-encoding': 'deflate' }]) {
    const res = await rawPull(headers);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], undefined, JSON.stringify(headers));
    assert.match(res.headers.vary, /Accept-Encoding/, 'the answer depends on the header either way');
    assert.equal(res.bytes.toString(), BIG);
  }
});

test('small answers and errors go uncompressed, and errors stay JSON', async () => {
  const me = await call(srv.url, '/v1/me', { method: 'GET', token, headers: { 'accept-encoding': 'gzip, br' } });
  assert.equal(me.status, 200);
  assert.equal(me.headers.get('content-encoding'), null);
  const noToken = await rawPull({ 'accept-encoding': 'gzip, br' }, '/v1/pull', false);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers['content-encoding'], undefined);
  assert.ok(noToken.bytes.length < COMPRESS_MIN_BYTES);
  assert.equal(JSON.parse(noToken.bytes.toString()).code, 'unauthenticated');
  const compressedBody = await rawPull({ 'accept-encoding': 'gzip', 'content-encoding': 'gzip' });
  assert.equal(compressedBody.status, 415, 'compressed request bodies are still refused');
  assert.equal(JSON.parse(compressedBody.bytes.toString()).code, 'unsupported_media_type');
});

test("Node's fetch asks for compression and decodes it", async () => {
  const res = await fetch(`${srv.url}/v1/pull`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ v: 1, device: 'd1', cursor: 0 }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-encoding') ?? '', /^(br|gzip)$/, 'undici sends Accept-Encoding by default');
  assert.equal(await res.text(), BIG);
});

test('Vary keeps Origin when CORS is on', async () => {
  const cors = await startTestServer({ behaviour: { pull: () => BIG }, cors: { origins: ['https://app.example'] } });
  try {
    const { token: t } = await login(cors.url, 'alice', 'd1');
    const res = await call(cors.url, '/v1/pull', { token: t, body: { v: 1, device: 'd1', cursor: 0 }, headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('vary'), 'Origin, Accept-Encoding');
    assert.equal(res.body.changes.length, 200);
  } finally {
    await cors.close();
  }
});

test('a client syncs through compressed answers end to end', async () => {
  const server = await real.startTestServer();
  const encodings = [];
  const recording = async (...args) => {
    const res = await globalThis.fetch(...args);
    if (String(args[0]).endsWith('/v1/pull')) encodings.push(res.headers.get('content-encoding') ?? 'identity');
    return res;
  };
  const a = await real.openClient(server, 'alice');
  const b = await real.openClient(server, 'bob', { fetch: recording });
  try {
    const docs = Array.from({ length: 120 }, (_, i) => ({ id: `c${i}`, doc: { title: `note ${i}`, body: `body of note ${i} `.repeat(4) } }));
    for (const { id, doc } of docs) await a.db.put('notes', id, doc);
    await a.db.sync();
    encodings.length = 0;
    await b.db.sync();
    assert.ok(encodings.some((e) => e === 'br' || e === 'gzip'), `pulls came ${encodings.join(', ')}`);
    for (const { id, doc } of docs) {
      const got = await b.db.get('notes', id);
      assert.equal(got?.title, doc.title, id);
      assert.equal(got?.body, doc.body, id);
    }
  } finally {
    await a.db.close();
    await b.db.close();
    await server.close();
  }
});
