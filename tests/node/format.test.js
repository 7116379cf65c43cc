// The format-1 and format-2 fixtures (tests/fixtures/format-v1 and format-v2, see their READMEs)
// opened through the WASM module on the file backend: the same files tests/c/test_format.c
// checks natively, so the WASM path of a format migration is covered too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPersistentDb } from '../../js/persist.js';
import { fileBackend } from '../../js/storage/file-backend.js';

const fixtures = (v) => new URL(`../fixtures/format-v${v}/`, import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sloop-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

const CLIENT_DEVICE = '672b8485d9ea8942';

/** Copies one fixture of format `v` into the temporary folder and returns the copy's path. */
function copyOf(name, v = 1) {
  const path = join(dir, `${serial++}-${name}`);
  copyFileSync(join(fixtures(v), name), path);
  return path;
}

// One backend (one set of file handles) for every database this file opens in the module.
const backend = fileBackend();
const open = (path, role) => openPersistentDb({ name: path, backend, role });

for (const v of [1, 2]) {
  test(`format ${v}: the client fixture opens with its records, operations and conflicts`, async () => {
    const pdb = await open(copyOf('client.db', v), 'client');
    try {
      const db = pdb.core;
      assert.equal(db.device, CLIENT_DEVICE);
      assert.deepEqual(db.query('notes').map((r) => [r.id, r.state]),
        [['n1', 'synced'], ['n2', 'modified-locally'], ['n3', 'failed'], ['n4', 'local-only']]);
      assert.deepEqual(db.query('tasks').map((r) => [r.id, r.state]), [['t1', 'modified-locally']]);
      assert.deepEqual(db.get('notes', 'n2'),
        { body: 'pressure low', site: 'south', status: 'waiting', tags: ['heat'], title: 'Boiler 2', votes: 1 });
      assert.equal(db.recordState('tasks', 't4'), 'modified-locally');
      assert.equal(db.get('tasks', 't4'), undefined);

      const failed = db.ops('failed');
      assert.deepEqual(failed.map((o) => [o.id, o.type, o.rid, o.attempts]), [[`${CLIENT_DEVICE}:10`, 'patch', 'n3', 1]]);
      assert.match(failed[0].lastError, /^immutable: /);
      assert.deepEqual(failed[0].payload, { createdBy: { set: 'zed' }, votes: { inc: 2 } });
      assert.deepEqual(db.ops('pending').map((o) => [o.id, o.type, o.coll, o.rid]), [
        [`${CLIENT_DEVICE}:12`, 'put', 'notes', 'n4'],
        [`${CLIENT_DEVICE}:13`, 'patch', 'notes', 'n2'],
        [`${CLIENT_DEVICE}:14`, 'put', 'tasks', 't1'],
        [`${CLIENT_DEVICE}:15`, 'patch', 'notes', 'n2'],
        [`${CLIENT_DEVICE}:16`, 'delete', 'tasks', 't4'],
      ]);
      assert.deepEqual(db.conflicts({ all: true }).map((c) => [c.id, c.rid, c.status, c.server, c.incoming, c.resolution]), [
        [1, 'n1', 'open', 'done', 'blocked', null],
        [2, 'n2', 'resolved', 'done', 'waiting', 'waiting'],
      ]);
      assert.deepEqual(db.stateCounts(), {
        'local-only': 1, syncing: 0, synced: 1, failed: 1, 'modified-locally': 3,
        pendingOps: 5, failedOps: 1, openConflicts: 1,
      });
      assert.deepEqual(JSON.parse(db.pullRequest(100)), { v: 2, device: CLIENT_DEVICE, cursor: 13, limit: 100, ackSeq: 11 });
    } finally {
      await pdb.close();
    }
  });

  test(`format ${v}: the fixture client syncs its pending work against the fixture server`, async () => {
    const client = await open(copyOf('client.db', v), 'client');
    const server = await open(copyOf('server.db', v), 'server');
    try {
      const c = client.core;
      const s = server.core;
      assert.equal(s.query('notes').length + s.query('tasks').length, 5);
      assert.equal(s.conflicts({ all: true }).length, 2);
      const ctx = JSON.stringify({ user: 'u0', device: CLIENT_DEVICE });
      for (let req = c.pushBegin(50); req; req = c.pushBegin(50)) c.pushEnd(s.serverPush(req, ctx));
      for (let more = true; more;) more = c.pullApply(s.serverPull(c.pullRequest(100), ctx));
      assert.deepEqual(c.get('notes', 'n2'),
        { body: 'pressure fixed', site: 'south', status: 'waiting', tags: ['heat'], title: 'Boiler 2', votes: 6 });
      assert.deepEqual(s.get('notes', 'n2'), c.get('notes', 'n2'));
      assert.deepEqual(s.get('tasks', 't1'), { done: true, owner: 'ann', points: 4, title: 'order seals' });
      assert.equal(s.get('tasks', 't4'), undefined);
      const counts = c.stateCounts();
      assert.deepEqual([counts.pendingOps, counts.failedOps, counts.openConflicts], [0, 1, 1]);
      // Format 3 keeps a server's answers in one table keyed by (device, seq, id): the migrated
      // ones and the ones this sync added.
      assert.deepEqual(s.sql("SELECT group_concat(name, ',') FROM pragma_table_info('applied_ops') WHERE pk > 0"),
        [['device,seq,id']]);
      assert.deepEqual(s.sql("SELECT count(*) FROM sqlite_schema WHERE name = 'applied_by_device'"), [[0]]);
      assert.deepEqual(s.sql(`SELECT count(*) FROM applied_ops WHERE device = '${CLIENT_DEVICE}' AND seq >= 12`), [[5]]);
    } finally {
      await client.close();
      await server.close();
    }
  });
}

test('format 1: a database of a newer format is refused and left byte for byte', async () => {
  const path = copyOf('client.db');
  const pdb = await open(path, 'client');
  pdb.core.sql("UPDATE meta SET v = '99' WHERE k = 'format'");
  await pdb.close();
  const before = readFileSync(path);
  await assert.rejects(open(path, 'client'), { code: 'invalid' });
  assert.deepEqual(readFileSync(path), before);
  assert.equal(existsSync(`${path}-journal`), false);
});

test('format 1 migrates to format 3 on open: every state decodes, search still finds, each role its tables', async () => {
  const client = await open(copyOf('client.db'), 'client');
  const server = await open(copyOf('server.db'), 'server');
  try {
    for (const [db, records] of [[client.core, 6], [server.core, 6]]) {
      assert.deepEqual(db.sql("SELECT v FROM meta WHERE k = 'format'"), [['3']]);
      // Every state is a binary blob the core reads back as a merge state of its record.
      assert.deepEqual(db.sql('SELECT count(*), count(sloop_state(state, doc)), sum(typeof(state) = \'blob\') FROM records'),
        [[records, records, records]]);
    }
    const c = client.core;
    assert.deepEqual(c.search('notes', 'hinge').map((r) => r.id), ['n4']);
    assert.deepEqual(c.search('notes', 'valve').map((r) => r.id), ['n1']);
    // The server keeps no search index, base or sync state.
    assert.deepEqual(server.core.sql(
      "SELECT (SELECT count(*) FROM sqlite_schema WHERE name = 'records_fts'),"
      + " (SELECT count(*) FROM pragma_table_info('records') WHERE name IN ('base', 'sync'))"), [[0, 0]]);
  } finally {
    await client.close();
    await server.close();
  }
});
