// The search index behind a large pull (wasm/src/fts_behind.c), through the public API and the
// real server: after a sync the scheduler catches the index up in the background (no search
// needed), and a search on another device finds every pulled record whatever the catch-up has
// done by then.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, openClient, waitFor } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

const N = 150; // one page of the default 200: more than the 64 that leave the index behind
const behind = async (db) => (await db.persistent.call('sql', "SELECT (SELECT count(*) FROM meta WHERE k = 'fts_after'), (SELECT count(*) FROM records_fts)"))[0];

test('after a large pull the search index catches up by itself, and a search finds every record', async () => {
  const writer = await openClient(server, 'alice');
  const idle = await openClient(server, 'alice');
  const searcher = await openClient(server, 'alice');
  try {
    await writer.db.putMany('notes', Array.from({ length: N }, (_, i) => ({ id: `n${i}`, doc: { title: `w${i}x`, body: 'common' } })));
    await writer.db.sync();

    await idle.db.sync();
    assert.equal((await idle.db.query('notes', {})).length, N, 'the records are there at the end of the sync');
    await waitFor(async () => (await behind(idle.db))[0] === 0, 'the catch-up after the sync');
    assert.deepEqual(await behind(idle.db), [0, N], 'every record indexed, nothing left behind');

    await searcher.db.sync();
    assert.equal((await searcher.db.search('notes', 'common', { limit: 500 })).length, N);
    assert.deepEqual((await searcher.db.search('notes', 'w7x')).map((r) => r.id), ['n7']);
    assert.deepEqual(await behind(searcher.db), [0, N]);
  } finally {
    await writer.db.close();
    await idle.db.close();
    await searcher.db.close();
  }
});
