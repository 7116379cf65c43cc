// Hostile payloads against the real server at its production limits (1 MiB bodies, 1000
// operations, 64 levels; server-input.test.js covers the same refusals over a fake store with
// small limits): each gets a clear 4xx or is applied whole, nothing crashes, acme's data is
// unchanged by the refused ones, and the server's memory stays bounded over repeated rounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { rawRequest } from './server-harness.js';
import { coreClient, post, seededServer } from './real-server.js';

const MiB = 1024 * 1024;
// A full collection before each RSS sample, so the figure is what is retained.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
let env;
before(async () => { env = await seededServer('sec-payloads'); });
after(() => env.close());

/** The refused payloads: [label, send() => {status, json}, status, code]. */
function hostilePayloads() {
  const device = env.acme.alice.db.device;
  const hlc = env.acme.alice.db.clockNow();
  const auth = { authorization: `Bearer ${env.alice.token}` };
  const op = (i) => ({ id: `${device}:${5000 + i}`, type: 'put', coll: 'notes', rid: `h${i}`, hlc, base: 0, payload: { title: { set: 'x' } } });
  const send = (body, headers) => () => post(env.srv.url, '/v1/push', env.alice.token, body, { headers });
  const raw = (headers, write) => async () => {
    const r = await rawRequest(env.srv.url, '/v1/push', { ...auth, 'content-type': 'application/json', ...headers }, write);
    return { status: r.status ?? r.error?.code, json: r.body };
  };
  const padded = JSON.stringify({ v: 1, device, ops: [op(1)], pad: 'x'.repeat(MiB) });
  return [
    // Refused on the header alone: the body is never sent, so a wait for it would hang here.
    ['declared 2 MiB, body never sent', raw({ 'content-length': String(2 * MiB) }, (req) => req.flushHeaders()), 413, 'toobig'],
    ['declared 1 GiB', raw({ 'content-length': String(1024 * MiB) }, (req) => req.flushHeaders()), 413, 'toobig'],
    ['1 MiB + 60 bytes, declared', send(padded), 413, 'toobig'],
    ['3 MiB chunked, undeclared', raw({ 'transfer-encoding': 'chunked' }, (req) => {
      for (let i = 0; i < 3; i++) req.write(Buffer.alloc(MiB, 0x20));
      req.end();
    }), 413, 'toobig'],
    ['1001 operations', send({ v: 1, device, ops: Array.from({ length: 1001 }, (_, i) => op(i)) }), 413, 'toobig'],
    ['200,000 numbers as operations', send(`{"v":1,"device":"${device}","ops":[${'1,'.repeat(199_999)}1]}`), 413, 'toobig'],
    ['ops nested 100,000 deep', send(`{"v":1,"device":"${device}","ops":${'['.repeat(100_000)}${']'.repeat(100_000)}}`), 400, 'invalid'],
    ['payload nested 65 deep', send({ v: 1, device, ops: [{ ...op(2), payload: { title: { set: JSON.parse('['.repeat(60) + ']'.repeat(60)) } } }] }), 400, 'invalid'],
    ['objects nested 150,000 deep', send(`{"v":1,"device":"${device}","ops":[],"x":${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}}`), 400, 'invalid'],
    ['invalid UTF-8 in a string', send(new Uint8Array(Buffer.concat([Buffer.from(`{"v":1,"device":"${device}","ops":[],"x":"`), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]))), 400, 'json'],
    ['UTF-8 encoded surrogate', send(new Uint8Array(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]))), 400, 'json'],
    ['overlong UTF-8 quote', send(new Uint8Array(Buffer.from([0x7b, 0x22, 0xc0, 0xa2, 0x3a, 0x31, 0x7d]))), 400, 'json'],
    ['raw NUL byte', send(`{"v":1,"device":"${device}","ops":[]}\u0000`), 400, 'json'],
    ['escaped NUL in a value', send({ v: 1, device, ops: [{ ...op(3), payload: { title: { set: 'a\u0000b' } } }] }), 400, 'invalid'],
    ['a JSON array body', send('[{"v":1}]'), 400, 'invalid'],
    ['a gzip body', send(JSON.stringify({ v: 1, device, ops: [] }), { 'content-encoding': 'gzip' }), 415, 'unsupported_media_type'],
    ['text/plain', send(JSON.stringify({ v: 1, device, ops: [] }), { 'content-type': 'text/plain' }), 415, 'unsupported_media_type'],
  ];
}

test('every hostile payload gets its 4xx and acme is unchanged', async (t) => {
  const cases = hostilePayloads();
  for (const [label, send, status, code] of cases) {
    const r = await send();
    assert.equal(r.status, status, `${label}: ${JSON.stringify(r.json)?.slice(0, 200)}`);
    assert.equal(r.json?.code, code, label);
  }
  assert.deepEqual(await env.dump(), env.baseline);
  t.diagnostic(`hostile payloads: ${cases.length} cases, each refused with its 4xx, acme unchanged`);
});

test('a string just under the body limit is applied whole and synced back intact', async () => {
  const big = 'é'.repeat(450_000) + '🦀'.repeat(10_000); // ~940 kB of UTF-8
  const writer = await coreClient(env.srv.url, 'alice');
  writer.db.put('notes', 'big', { title: 'big', body: big });
  assert.deepEqual((await writer.push()).map((r) => r.status), ['applied']);
  const reader = await coreClient(env.srv.url, 'bob');
  await reader.pull();
  assert.equal(reader.db.get('notes', 'big').body, big);
  for (const c of [writer, reader]) c.db.close();
});

test('memory stays bounded over 20 rounds of hostile payloads', async (t) => {
  const cases = hostilePayloads();
  const start = await env.dump();
  // Client and server share this process; what either retains shows in the JS heap and in
  // external memory (Buffers, the WASM heap). RSS alone swings by ~80 MiB with allocator
  // slack, so it is reported and bounded loosely.
  const sample = () => {
    gc();
    const u = process.memoryUsage();
    return { rss: u.rss / MiB, retained: (u.heapUsed + u.external) / MiB };
  };
  const round = async () => {
    for (const [label, send, status] of cases) assert.equal((await send()).status, status, label);
  };
  const before = sample();
  for (let i = 0; i < 5; i++) await round();
  const warm = sample();
  let peakRss = warm.rss;
  for (let i = 0; i < 15; i++) {
    await round();
    peakRss = Math.max(peakRss, sample().rss);
  }
  const end = sample();
  const f = (n) => n.toFixed(0);
  t.diagnostic(`${20 * cases.length} hostile requests: rss ${f(before.rss)} -> ${f(end.rss)} MiB (peak ${f(peakRss)}), `
    + `heap+external ${f(before.retained)} -> ${f(warm.retained)} after 5 rounds -> ${f(end.retained)} after 20`);
  // Each round sends over 6 MiB of refused bodies: retained, 15 rounds would add 90 MiB.
  assert.ok(end.retained - warm.retained < 10, `heap+external grew ${f(end.retained - warm.retained)} MiB`);
  assert.ok(peakRss - before.rss < 200, `rss grew ${f(peakRss - before.rss)} MiB`);
  assert.deepEqual(await env.dump(), start);
});
