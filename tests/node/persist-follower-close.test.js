// A follower handle's close (js/persist.js) and the calls it sent the writer: they are answered
// before it closes, never rejected as 'closed' while the writer applies them (the app would be
// told a write failed that was made, and a retried $inc would count twice). Two handles of one
// database in one process, as two tabs: fake-indexeddb, a lock manager of their own, and the
// process's BroadcastChannel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';

let serial = 0;
const SCHEMA = { collections: { counters: { fields: { n: 'counter' } } } };
const open = (name, locks) => openPersistentDb({ name, backend: idbBackend({ indexedDB, IDBKeyRange }), locks });
const counter = async (pdb) => (await pdb.call('get', 'counters', 'c'))?.n;

test('a follower\'s close waits for its forwarded calls to be answered', { timeout: 30_000 }, async () => {
  const name = `follower-close-${process.pid}-${serial++}`;
  const locks = new ProcessLocks();
  const writer = await open(name, locks);
  const follower = await open(name, locks);
  try {
    await writer.call('setSchema', SCHEMA);
    await writer.call('put', 'counters', 'c', { n: 0 });
    assert.equal(follower.isWriter, false);
    const inc = follower.call('patch', 'counters', 'c', { n: { $inc: 1 } });
    await follower.close();
    await inc; // answered, not rejected as closed
    assert.equal(await counter(writer), 1);
    await assert.rejects(follower.call('get', 'counters', 'c'), { code: 'closed' });
  } finally {
    await follower.close();
    await writer.close();
  }
});

test('a closing follower whose writer went without answering claims the store and runs its calls', { timeout: 30_000 }, async () => {
  const name = `follower-close-${process.pid}-${serial++}`;
  const locks = new ProcessLocks();
  const writer = await open(name, locks);
  await writer.call('setSchema', SCHEMA);
  await writer.call('put', 'counters', 'c', { n: 0 });
  const follower = await open(name, locks);
  // The writer is closing: it takes no more calls, and the next writer in line is the follower.
  const writerClosed = writer.close();
  const inc = follower.call('patch', 'counters', 'c', { n: { $inc: 1 } });
  await follower.close();
  await writerClosed;
  await inc;
  const reopened = await open(name, locks);
  try {
    assert.equal(await counter(reopened), 1);
  } finally {
    await reopened.close();
  }
});

test('close({waitDurable: false}) does not wait for a follower\'s calls', { timeout: 30_000 }, async () => {
  const name = `follower-close-${process.pid}-${serial++}`;
  const locks = new ProcessLocks();
  const writer = await open(name, locks);
  const follower = await open(name, locks);
  try {
    await writer.call('setSchema', SCHEMA);
    await writer.call('put', 'counters', 'c', { n: 0 });
    const inc = follower.call('patch', 'counters', 'c', { n: { $inc: 1 } });
    inc.catch(() => {});
    await follower.close({ waitDurable: false });
    await assert.rejects(inc, { code: 'closed' });
  } finally {
    await writer.close();
  }
});
