// Several server processes on one PostgreSQL database (js/server/pg-store.js), each a real
// `node js/server/main.js` with SLOOP_DATABASE_URL and one shared SLOOP_SECRET:
//   - pushes through two processes at once while a third client pulls in a loop through both:
//     that client ends with every change (a pull never skips a row that commits late);
//   - a process killed with SIGKILL in a stream of pushes: every acknowledged operation is
//     kept, none is applied twice, and the client converges through the other process;
//   - PostgreSQL restarted under a stream of pushes: the pushes it cuts are answered 503
//     `unavailable`, and the client's retries apply each operation once.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiDump, clientDocs, coreClient, docsOf, login, pushRecording, spawnServerScript } from './real-server.js';
import { startPostgres } from './pg-harness.js';

const SECRET = 'pg-processes-secret-0123456789abcdef0123456789';
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-pg-processes-'));
const children = new Set();
let pg;
before(async () => { pg = await startPostgres({ name: 'processes' }); });
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A server process on the shared database. */
async function serverProcess() {
  const server = await spawnServerScript('js/server/main.js', [], {
    PORT: '0', SLOOP_DATA: dataDir, SLOOP_DATABASE_URL: pg.url, SLOOP_SECRET: SECRET,
  });
  children.add(server.child);
  server.exited.then(() => children.delete(server.child));
  return server;
}

/** Every change and the counter, as the sync API shows them now, through `url`. */
async function serverState(url) {
  const { token } = await login(url, 'bob');
  return docsOf(await apiDump(url, token, `checker-${Math.random().toString(36).slice(2, 10)}`));
}

test('pushes through two processes while a client pulls through both: it ends with every change', async (t) => {
  const [one, two] = [await serverProcess(), await serverProcess()];
  // A token from one process is good at the other: they share the secret.
  const { token } = await login(one.url, 'alice');
  const writers = [await coreClient(one.url, null, { token, batch: 20 }), await coreClient(two.url, null, { token, batch: 20 })];
  writers[0].db.put('notes', 'counter', { title: 'counter', votes: 0 });
  await writers[0].push();
  for (const w of writers) await w.pull();
  const reader = await coreClient(one.url, 'bob', { pageSize: 7 });
  let writing = true;
  let readerPages = 0;
  let rounds = 0;
  const reading = (async () => {
    for (; writing; rounds++) {
      reader.url = rounds % 2 ? two.url : one.url;
      readerPages += await reader.pull();
    }
  })();
  const batches = 40;
  await Promise.all(writers.map(async (w, i) => {
    for (let r = 0; r < batches; r++) {
      // Each record is written once, so a row the reader skipped would stay missing.
      for (let k = 0; k < 15; k++) w.db.put('notes', `w${i}-${r}-${k}`, { title: `writer ${i} round ${r} #${k}` });
      w.db.patch('notes', 'counter', { votes: { $inc: 1 } });
      await w.push();
      await sleep(2); // room for the reader's pulls between commits
    }
  }));
  writing = false;
  await reading;
  await reader.pull();
  const server = await serverState(two.url);
  assert.equal(server['notes/counter'].votes, 2 * batches);
  assert.equal(Object.keys(server).length, 1 + 2 * batches * 15);
  assert.deepEqual(clientDocs(reader.db), server, 'the reader holds every change');
  assert.ok(readerPages >= 20, `the reader pulled while the writers pushed (${readerPages} pages)`);
  t.diagnostic(`${readerPages} pages in ${rounds} pull loops by the reader while the two wrote`);
  for (const c of [...writers, reader]) c.db.close();
  for (const s of [one, two]) s.child.kill('SIGTERM');
});

test('a process killed with SIGKILL mid-push loses no acknowledged write; the other takes over', async (t) => {
  const [one, two] = [await serverProcess(), await serverProcess()];
  const client = await coreClient(one.url, 'alice', { batch: 40 });
  client.db.put('notes', 'kill-counter', { title: 'counter', votes: 0 });
  await client.push();
  const acknowledged = [];
  let increments = 0;
  let cut = 0;
  for (let b = 0; b < 8; b++) {
    for (let k = 0; k < 39; k++) client.db.put('notes', `k${b}-${k}`, { title: `batch ${b} #${k}` });
    client.db.patch('notes', 'kill-counter', { votes: { $inc: 1 } });
    increments += 1;
    const pushing = pushRecording(client, acknowledged);
    if (b === 4) {
      await sleep(15);
      one.child.kill('SIGKILL');
    }
    try {
      await pushing;
    } catch {
      cut += 1; // back in the queue (pushFail); the next push goes to the other process
      client.url = two.url;
    }
  }
  assert.equal(await one.exited, 'SIGKILL');
  client.url = two.url;
  await pushRecording(client, acknowledged);
  await client.pull();
  const { token } = await login(two.url, 'bob');
  const dump = await apiDump(two.url, token, 'kill-checker');
  const versions = new Map(dump.changes.map((c) => [`${c.coll}/${c.rid}`, c.version]));
  for (const { rid, version } of acknowledged) {
    assert.ok((versions.get(`notes/${rid}`) ?? 0) >= version, `acknowledged ${rid}@${version} lost`);
  }
  assert.equal(docsOf(dump)['notes/kill-counter'].votes, increments, 'every increment once');
  assert.equal(client.db.stateCounts().pendingOps, 0);
  assert.deepEqual(Object.fromEntries(Object.entries(clientDocs(client.db)).filter(([k]) => k.startsWith('notes/k'))),
    Object.fromEntries(Object.entries(docsOf(dump)).filter(([k]) => k.startsWith('notes/k'))));
  t.diagnostic(`${acknowledged.length} acknowledged, ${cut} push(es) cut by the kill`);
  client.db.close();
  two.child.kill('SIGTERM');
});

test('PostgreSQL restarted under a stream of pushes: cut pushes get 503 unavailable, retries apply once', async (t) => {
  const server = await serverProcess();
  const client = await coreClient(server.url, 'alice', { batch: 10 });
  client.db.put('notes', 'pg-counter', { title: 'counter', votes: 0 });
  await client.push();
  const failures = [];
  let increments = 0;
  let stop = false;
  // Bounded: a store that never recovers fails the test rather than hang it.
  const giveUp = Date.now() + 30_000;
  const pushing = (async () => {
    for (let b = 0; (!stop || client.db.stateCounts().pendingOps > 0) && Date.now() < giveUp; b++) {
      if (!stop) {
        client.db.put('notes', `pg${b}`, { title: `during the restart ${b}` });
        client.db.patch('notes', 'pg-counter', { votes: { $inc: 1 } });
        increments += 1;
      }
      try {
        await client.push();
      } catch (e) {
        failures.push(e.message);
        await sleep(20);
      }
    }
  })();
  await sleep(100);
  await pg.restart();
  await sleep(200);
  stop = true;
  await pushing;
  assert.equal(client.db.stateCounts().pendingOps, 0, `pushes still failing after the restart: ${failures.slice(-3)}`);
  assert.ok(failures.length > 0, 'the restart cut some pushes');
  for (const f of failures) assert.match(f, /^push: 503 .*"code":"unavailable"/, f);
  await client.pull();
  const state = await serverState(server.url);
  assert.equal(state['notes/pg-counter'].votes, increments, 'every increment applied once');
  assert.deepEqual(clientDocs(client.db), state);
  t.diagnostic(`${increments} batches, ${failures.length} answered 503 during the restart`);
  client.db.close();
  server.child.kill('SIGTERM');
});
