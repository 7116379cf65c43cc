// End to end in Chromium against the real server: a write the server refuses never stalls the
// queue (issue 13, requirement 1). Through the public API in a page (the engine in its
// worker, real IndexedDB):
//   repro A: the app's schema has a collection `lists` the server's schema lacks;
//   repro B: the read-only user dave writes a note.
// Each ends with the refused operation in failedOps() with its code, discard clearing it, and
// every other write synced (checked on the server, over the protocol).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAppServer, launchBrowser, serverNotes } from './e2e-harness.js';
import { openClientPage } from './client-fixtures.js';

let server, browser;
before(async () => { [server, browser] = await Promise.all([startAppServer(), launchBrowser()]); });
after(async () => { await browser?.close(); await server?.close(); });

/**
 * In a fresh page: opens a database as `user` with the app's schema plus `extra` collections,
 * makes the writes, syncs, and reports failedOps(), status and what discard leaves.
 */
async function runInPage({ user, extra, writes }) {
  const { page, context } = await openClientPage(browser, server.url);
  try {
    return await page.evaluate(async ({ user, extra, writes }) => {
      const { openSloop } = await import('/js/sloop.js');
      const { signIn } = await import('/tests/browser/client-page.js');
      const base = await (await fetch('/schema.json')).json();
      const schema = { ...base, collections: { ...base.collections, ...extra } };
      const session = { token: null };
      const db = await openSloop({
        name: `refusal-${user}-${Date.now()}`, schema, serverUrl: location.origin,
        auth: { getToken: () => session.token }, sync: { intervalMs: 0, debounceMs: 60_000 },
      });
      try {
        Object.assign(session, await signIn(user, db.device));
        for (const [coll, id, doc] of writes) await db.put(coll, id, doc);
        await db.sync();
        const failed = await db.failedOps();
        const after = {
          status: { pendingOps: db.status.pendingOps, failedOps: db.status.failedOps, error: db.status.error },
          states: {},
        };
        for (const [coll, id] of writes) after.states[`${coll}/${id}`] = await db.recordState(coll, id);
        for (const op of failed) await db.discard(op.id);
        await db.sync();
        const left = await db.failedOps();
        const docs = {};
        for (const [coll, id] of writes) docs[`${coll}/${id}`] = (await db.get(coll, id)) ?? null;
        return {
          runsIn: db.runsIn,
          failed: failed.map((op) => ({ coll: op.coll, rid: op.rid, lastError: op.lastError })),
          after, left: left.length, pendingAfterDiscard: db.status.pendingOps, docs,
        };
      } finally {
        await db.close();
      }
    }, { user, extra, writes });
  } finally {
    await context.close();
  }
}

test('repro A: an op on a collection the server lacks fails with `schema`; discard clears it; the rest syncs', { timeout: 60_000 }, async () => {
  const r = await runInPage({
    user: 'alice',
    extra: { lists: { fields: { name: 'lww' } } },
    writes: [['lists', 'l1', { name: 'groceries' }], ['notes', 'ok1', { title: 'Milk and eggs' }], ['notes', 'ok2', { title: 'Bread' }]],
  });
  assert.equal(r.failed.length, 1, JSON.stringify(r.failed));
  assert.deepEqual([r.failed[0].coll, r.failed[0].rid], ['lists', 'l1']);
  assert.match(r.failed[0].lastError, /^schema: unknown collection 'lists'/);
  assert.deepEqual(r.after.status, { pendingOps: 0, failedOps: 1, error: null });
  assert.deepEqual(r.after.states, { 'lists/l1': 'failed', 'notes/ok1': 'synced', 'notes/ok2': 'synced' });
  assert.equal(r.left, 0, 'discard cleared the failed op');
  assert.equal(r.pendingAfterDiscard, 0);
  assert.equal(r.docs['lists/l1'], null, 'the record only this device had is gone');
  const held = await serverNotes(server.url, 'alice');
  assert.equal(held.get('ok1')?.title, 'Milk and eggs');
  assert.equal(held.get('ok2')?.title, 'Bread');
});

test('repro B: the read-only user dave writes a note; it fails `denied`; discard clears it', { timeout: 60_000 }, async () => {
  const r = await runInPage({ user: 'dave', extra: {}, writes: [['notes', 'dave1', { title: 'From dave' }]] });
  assert.equal(r.failed.length, 1, JSON.stringify(r.failed));
  assert.match(r.failed[0].lastError, /^denied: /);
  assert.deepEqual(r.after.status, { pendingOps: 0, failedOps: 1, error: null });
  assert.deepEqual(r.after.states, { 'notes/dave1': 'failed' });
  assert.equal(r.left, 0);
  assert.equal(r.pendingAfterDiscard, 0);
  assert.equal(r.docs['notes/dave1'], null);
  assert.equal((await serverNotes(server.url, 'alice')).has('dave1'), false);
});
