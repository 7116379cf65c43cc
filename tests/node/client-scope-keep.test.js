// openSloop's `scope` option across opens of one database (docs/CLIENT.md, "Pull scopes"):
// omitted, the stored scope stays (a second tab or page that does not name one must not clear
// the main page's, which would start a full resync); null removes it. The stored scope is read
// back from the pull request the core would send, which carries it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop } from '../../js/sloop.js';
import { schema, backend, freshName } from './client-harness.js';

const open = (name, scope) => openSloop({ name, schema, backend: backend(), ...(scope !== undefined && { scope }) });
/** The stored scope as the pull request carries it (a window as its cut-off: `since`). */
async function storedScope(db) {
  const scope = JSON.parse(await db.persistent.call('pullRequest', 1)).scope;
  return scope ? { collections: scope.collections, where: scope.where, window: scope.recent?.field } : null;
}
const WINDOW = { collections: ['notes'], where: { site: 'north' }, recent: { field: 'updatedAt', days: 30 } };
const STORED = { collections: ['notes'], where: { site: 'north' }, window: 'updatedAt' };

test('an open without a scope keeps the stored one; scope: null removes it', async () => {
  const name = freshName('scope-keep');
  const main = await open(name, WINDOW);
  try {
    assert.deepEqual(await storedScope(main), STORED);
    // A second tab of the app, open beside the main page, that names no scope.
    const other = await open(name);
    try {
      assert.equal(other.status.writer, false);
      assert.deepEqual(await storedScope(main), STORED);
    } finally {
      await other.close();
    }
  } finally {
    await main.close();
  }
  // A later page of the app that names no scope, alone.
  const later = await open(name);
  try {
    assert.deepEqual(await storedScope(later), STORED);
  } finally {
    await later.close();
  }
  const cleared = await open(name, null);
  try {
    assert.equal(await storedScope(cleared), null);
  } finally {
    await cleared.close();
  }
});
