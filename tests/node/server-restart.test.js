// The real server restarted under a client's push stream: closed and started again between
// batches, and a child-process server killed with SIGKILL while a push is in flight. After
// each restart every operation the client saw applied is in the server's state, and the
// client converges by pushing again: the re-sent batch applies nothing twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './test-store.js';
import { apiDump, clientDocs, coreClient, docsOf, login, pushRecording, spawnServer } from './real-server.js';

const dirs = [];
const children = new Set();
after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const tempDir = (name) => {
  const dir = mkdtempSync(join(tmpdir(), name));
  dirs.push(dir);
  return dir;
};

/** One batch of writes: `size` new records and one increment of the shared counter. */
function writeBatch(db, round, size) {
  for (let i = 0; i < size; i++) db.put('notes', `r${round}-${i}`, { title: `round ${round} #${i}` });
  db.patch('notes', 'counter', { votes: { $inc: 1 } });
}

/**
 * Checks that every applied result is in the server's state (a record at least as new as the
 * answer's version), and that the counter counts every increment once.
 */
async function assertNothingLost(url, applied, increments) {
  const { token } = await login(url, 'bob');
  const dump = await apiDump(url, token, 'checker');
  const versions = new Map(dump.changes.map((c) => [`${c.coll}/${c.rid}`, c.version]));
  for (const { rid, version } of applied) {
    assert.ok((versions.get(`notes/${rid}`) ?? 0) >= version, `acknowledged ${rid}@${version} lost`);
  }
  assert.equal(docsOf(dump)['notes/counter'].votes, increments);
  return dump;
}

test('a server closed and started between batches loses no acknowledged write', async (t) => {
  const dataDir = tempDir('sloop-restart-');
  let srv = await startServer({ port: 0, dataDir });
  const client = await coreClient(srv.url, 'alice', { batch: 25 });
  client.db.put('notes', 'counter', { title: 'counter', votes: 0 });
  await client.push();
  const applied = [];
  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    writeBatch(client.db, round, 20);
    await pushRecording(client, applied);
    await srv.close();
    srv = await startServer({ port: 0, dataDir });
    client.url = srv.url;
    await assertNothingLost(srv.url, applied, round + 1);
  }
  await client.sync();
  const dump = await assertNothingLost(srv.url, applied, rounds);
  assert.deepEqual(clientDocs(client.db), docsOf(dump));
  assert.equal(client.db.stateCounts().pendingOps, 0);
  client.db.close();
  await srv.close();
  t.diagnostic(`${rounds} restarts, ${applied.length} acknowledged operations, all kept`);
});

test('a server killed with SIGKILL mid-push loses no acknowledged write; re-pushing converges', async (t) => {
  const dataDir = tempDir('sloop-kill-');
  let server = await spawnServer(dataDir);
  children.add(server.child);
  const client = await coreClient(server.url, 'alice', { batch: 60 });
  client.db.put('notes', 'counter', { title: 'counter', votes: 0 });
  await client.push();
  const applied = [];
  let increments = 0;
  let cutMidPush = 0;
  const kills = 3;
  for (let kill = 0; kill < kills; kill++) {
    // Two batches answered, then one cut off by the kill somewhere inside its apply.
    for (let b = 0; b < 3; b++) {
      writeBatch(client.db, `${kill}-${b}`, 40);
      increments += 1;
      const pushing = pushRecording(client, applied);
      if (b === 2) {
        await sleep(10 + 25 * kill);
        server.child.kill('SIGKILL');
      }
      try {
        await pushing;
      } catch {
        cutMidPush += 1; // the batch went back to the queue (pushFail)
      }
    }
    assert.equal(await server.exited, 'SIGKILL');
    children.delete(server.child);
    server = await spawnServer(dataDir);
    children.add(server.child);
    client.url = server.url;
    // The counter may lag (the cut batch's increment is in the queue) but never run ahead.
    const { token } = await login(server.url, 'bob');
    const counted = docsOf(await apiDump(server.url, token, 'checker'))['notes/counter'].votes;
    assert.ok(counted <= increments && counted >= increments - 1, `counter ${counted} of ${increments}`);
    // Re-pushing the queue applies what the kill cut off, once.
    await pushRecording(client, applied);
    await assertNothingLost(server.url, applied, increments);
  }
  await client.sync();
  const reader = await coreClient(server.url, 'bob');
  await reader.pull();
  assert.deepEqual(clientDocs(client.db), clientDocs(reader.db));
  assert.equal(clientDocs(reader.db)['notes/counter'].votes, increments);
  assert.equal(client.db.stateCounts().pendingOps, 0);
  for (const c of [client, reader]) c.db.close();
  server.child.kill('SIGTERM');
  await server.exited;
  children.delete(server.child);
  t.diagnostic(`${kills} SIGKILLs (${cutMidPush} during a push), ${applied.length} acknowledged results, none lost, counter ${increments}/${increments}`);
});
