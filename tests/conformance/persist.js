/**
 * persist.js -- the storage conformance suite: one list of cases that every backend runs
 * (fake-indexeddb and the file backend in Node, real IndexedDB in Chromium).
 *
 * Plain ES module with no Node or browser imports: the runner passes an `env`:
 *   kind                  'idb' | 'file'
 *   name()                a fresh database name
 *   open(name, options)   openPersistentDb with this backend (options.faults: idb test hooks)
 *   newLocks()            a lock manager of its own (another "browser session")
 *   tamper(name)          damages the stored image (idb only)
 *   loseStore(name)       what clearing the site's data does (idb only): the browser closes
 *                         every connection to the store and deletes it
 *   destroy(name)         deletePersistentDb
 *   mode                  the page mode every open must report ('image', 'on-demand', 'file')
 * A case throws to fail. `only` restricts a case to some backend kinds.
 */

function check(cond, message) {
  if (!cond) throw new Error(message);
}

function same(actual, expected, what) {
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  check(a === e, `${what}: got ${a}, want ${e}`);
}

const SCHEMA = 'CREATE TABLE IF NOT EXISTS w(k INTEGER PRIMARY KEY, v TEXT);' +
  'CREATE TABLE IF NOT EXISTS total(id INTEGER PRIMARY KEY, n INTEGER);';

/** One commit: row k (padded to span pages) and the highest k so far, which must agree with it. */
function writeSql(k) {
  return `BEGIN; INSERT INTO w VALUES(${k}, printf('%.3000c', '${String.fromCharCode(97 + (k % 26))}'));` +
    ` INSERT INTO total VALUES(1, ${k}) ON CONFLICT(id) DO UPDATE SET n = max(n, excluded.n); COMMIT;`;
}

/**
 * Checks the database holds exactly a committed prefix 1..m of the writes, passes
 * integrity_check, and returns m.
 */
export async function committedPrefix(pdb) {
  same(await pdb.call('sql', 'PRAGMA integrity_check'), [['ok']], 'integrity_check');
  await pdb.call('sql', SCHEMA);
  const [[count, max]] = await pdb.call('sql', 'SELECT count(*), coalesce(max(k), 0) FROM w');
  const total = (await pdb.call('sql', 'SELECT n FROM total'))[0]?.[0] ?? 0;
  same([count, total], [max, max], 'rows 1..m with total m');
  const [[bad]] = await pdb.call('sql', "SELECT count(*) FROM w WHERE length(v) <> 3000 OR substr(v, 1, 1) <> char(97 + k % 26)");
  same(bad, 0, 'rows with wrong content');
  return max;
}

/** Writes rows from..to, each its own commit; resolves when all are durable. */
export async function writeRows(pdb, from, to) {
  await pdb.call('sql', SCHEMA);
  const writes = [];
  for (let k = from; k <= to; k++) writes.push(pdb.call('sql', writeSql(k)));
  await Promise.all(writes);
}

/** A disk that is full while `disk.full` holds: every flush fails with QuotaExceededError (idb `faults`). */
function fullDisk(full = true) {
  const disk = { full };
  disk.faults = { beforeFlushCommit: () => { if (disk.full) throw new DOMException('disk full', 'QuotaExceededError'); } };
  return disk;
}

/** What `promise` resolves to, or `late` if it has not settled within `ms`. */
function within(promise, ms, late) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve(late), ms))]);
}

/** A writer and a follower of store `name`, one lock manager between them (returned too). */
async function writerAndFollower(env, name) {
  const locks = env.newLocks();
  const writer = await env.open(name, { locks });
  const follower = await env.open(name, { locks });
  check(writer.isWriter && !follower.isWriter, 'exactly one writer');
  return { locks, writer, follower };
}

function nextEvent(target, type) {
  return new Promise((resolve) => target.addEventListener(type, (e) => resolve(e.detail), { once: true }));
}

/**
 * Runs `sql` through a follower whose claim failed until a writer serves it: the follower
 * hears of a new writer over the channel, a message away, and until then its calls reject
 * with the claim's error code `refused`. Returns the rows, or that code after 2 s.
 */
async function whenServed(follower, sql, refused) {
  let answer = refused;
  for (let tries = 0; answer === refused && tries < 100; tries++) {
    if (tries) await new Promise((resolve) => setTimeout(resolve, 20));
    answer = await follower.call('sql', sql).catch((e) => e.code);
  }
  return answer;
}

export const cases = [
  {
    name: 'writes survive close and reopen',
    async run(env) {
      const name = env.name();
      let pdb = await env.open(name);
      same(pdb.mode, env.mode, 'page mode');
      await writeRows(pdb, 1, 30);
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 30, 'rows after reopen');
      await writeRows(pdb, 31, 35);
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 35, 'rows after second reopen');
      await pdb.close();
    },
  },
  {
    name: 'writes in flight group-commit and each promise means durable',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const pdb = await env.open(name);
      let flushes = 0;
      let pagesPerFlush = 0;
      pdb.addEventListener('durable', (e) => { flushes++; pagesPerFlush = Math.max(pagesPerFlush, e.detail.pages); });
      await writeRows(pdb, 1, 60);
      check(flushes < 60, `60 commits took ${flushes} flushes: no group commit`);
      // One more small commit on a grown database flushes only the pages it changed.
      await pdb.call('sql', 'CREATE TABLE big(b); INSERT INTO big VALUES(zeroblob(400000))');
      await pdb.whenDurable();
      const before = flushes;
      let last = 0;
      pdb.addEventListener('durable', (e) => { last = e.detail.pages; });
      await pdb.call('sql', writeSql(61));
      check(flushes > before && last > 0 && last <= 6, `a one-row commit wrote ${last} pages`);
      await pdb.close();
    },
  },
  {
    name: 'a shrinking database (VACUUM) reopens intact',
    async run(env) {
      const name = env.name();
      let pdb = await env.open(name);
      await writeRows(pdb, 1, 40);
      await pdb.call('sql', 'CREATE TABLE junk(b); INSERT INTO junk VALUES(zeroblob(300000))');
      const [[grown]] = await pdb.call('sql', 'PRAGMA page_count');
      await pdb.call('sql', 'DROP TABLE junk; VACUUM');
      const [[shrunk]] = await pdb.call('sql', 'PRAGMA page_count');
      check(shrunk < grown - 50, `VACUUM went from ${grown} to ${shrunk} pages`);
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 40, 'rows after VACUUM and reopen');
      same(await pdb.call('sql', 'PRAGMA page_count'), [[shrunk]], 'page count after reopen');
      await pdb.close();
    },
  },
  {
    name: 'aborted flushes are reported, retried, and lose nothing',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      let aborts = 2;
      const faults = { beforeFlushCommit: (tx) => { if (aborts > 0) aborts--, tx.abort(); } };
      let pdb = await env.open(name);
      await writeRows(pdb, 1, 5);
      await pdb.close();
      pdb = await env.open(name, { faults, retryMs: [5] });
      const errors = [];
      pdb.addEventListener('error', (e) => errors.push(e.detail.error.code));
      await writeRows(pdb, 6, 20);
      same(errors, ['storage', 'storage'], 'reported failures');
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 20, 'rows after retried flushes');
      await pdb.close();
    },
  },
  {
    name: 'quota errors are reported as quota and the data is kept',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const disk = fullDisk();
      let pdb = await env.open(name, { faults: disk.faults, retryMs: [60000] });
      const error = nextEvent(pdb, 'error');
      // Direct core calls: synchronous on a whole image, Promises on demand; await covers both.
      await pdb.core.sql(SCHEMA);
      for (let k = 1; k <= 3; k++) await pdb.core.sql(writeSql(k));
      const durable = pdb.whenDurable();
      same((await error).error.code, 'quota', 'error code');
      same(await pdb.core.sql('SELECT count(*) FROM w'), [[3]], 'rows still in memory');
      disk.full = false;
      pdb.retryNow();
      await durable;
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 3, 'rows after the retry');
      await pdb.close();
    },
  },
  {
    name: 'a flush that dies mid-way leaves the last committed prefix',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      let flushes = 0;
      const dieAt = 4;
      // From flush dieAt on, every transaction aborts: the tab is gone, nothing more lands.
      const faults = { beforeFlushCommit: (tx) => { if (++flushes >= dieAt) tx.abort(); } };
      const dead = await env.open(name, { faults, locks: env.newLocks(), retryMs: [1] });
      let durable = 0;
      await dead.call('sql', SCHEMA);
      for (let k = 1; k <= 40; k++) {
        dead.call('sql', writeSql(k)).then(() => { durable = Math.max(durable, k); }, () => {});
        if (k % 5 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      await new Promise((r) => setTimeout(r, 50));
      check(flushes >= dieAt, `only ${flushes} flushes ran`);
      const pdb = await env.open(name, { locks: env.newLocks() });
      const m = await committedPrefix(pdb);
      check(m >= durable && m < 40, `reopened with ${m} rows; ${durable} were durable, 40 written`);
      await pdb.close();
      await dead.close({ waitDurable: false });
    },
  },
  {
    name: 'a failed checkpoint is reported and loses nothing; a finished one reads the same',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      let fail = true;
      const beforeCheckpointCommit = () => {
        if (!fail) return;
        const e = new Error('test: no space for the checkpoint');
        e.name = 'QuotaExceededError';
        throw e;
      };
      let pdb = await env.open(name, { faults: { beforeCheckpointCommit } });
      await writeRows(pdb, 1, 20);
      let code = null;
      await pdb.checkpoint().catch((e) => { code = e.code; });
      same(code, 'quota', 'the failed checkpoint');
      same(await committedPrefix(pdb), 20, 'rows after the failed checkpoint');
      fail = false;
      await pdb.checkpoint();
      await writeRows(pdb, 21, 25);
      same(await committedPrefix(pdb), 25, 'rows after the checkpoint');
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 25, 'rows after reopen');
      await pdb.checkpoint();
      await pdb.close();
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 25, 'rows after a checkpoint of everything and reopen');
      await pdb.close();
    },
  },
  {
    name: 'a bulk commit is one log record; a checkpoint stopped inside it loses nothing, and reopens',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      let steps = 0;
      const beforeCheckpointCommit = () => {
        if (++steps !== 2) return;
        const e = new Error('test: the tab went away between two steps');
        e.name = 'AbortError';
        throw e;
      };
      let pdb = await env.open(name, { faults: { beforeCheckpointCommit } });
      await writeRows(pdb, 1, 5);
      await pdb.checkpoint();
      steps = 0;
      // ~6 MB of new pages in one commit: past the idle checkpoint's 4 MiB (page-log.js
      // CHECKPOINT_AT_BYTES), six checkpoint steps' worth (1 MiB each).
      const stopped = nextEvent(pdb, 'error');
      await pdb.call('sql', 'BEGIN; CREATE TABLE bulk(b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)' +
        ' INSERT INTO bulk SELECT randomblob(100000) FROM n; COMMIT');
      const fingerprint = "SELECT count(*), sum(length(b)), group_concat(hex(substr(b, 1 + (rowid * 997) % 99000, 8)), '') FROM bulk";
      const bulk = await pdb.call('sql', fingerprint);
      const log = pdb.backend.logStats(name);
      check(log.entries === 1 && log.bytes > 6000000, `the bulk commit's log: ${JSON.stringify(log)}`);
      // The background checkpoint writes the record's first 1 MiB, then its second step fails.
      same((await stopped).error.code, 'storage', 'the stopped checkpoint');
      same(steps, 2, 'checkpoint steps tried');
      same(pdb.backend.logStats(name).entries, 1, 'the record stays in the log, part of it checkpointed');
      same(await pdb.call('sql', fingerprint), bulk, 'the bulk rows after the stopped checkpoint');
      await pdb.close({ waitDurable: false });
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 5, 'rows after reopening from the part-checkpointed log');
      same(await pdb.call('sql', fingerprint), bulk, 'the bulk rows after reopen');
      await pdb.checkpoint();
      same(pdb.backend.logStats(name), { entries: 0, bytes: 0 }, 'the log after a whole checkpoint');
      await pdb.close();
      pdb = await env.open(name);
      same(await pdb.call('sql', fingerprint), bulk, 'the bulk rows from the page records');
      await pdb.close();
    },
  },
  {
    name: 'a fenced writer cannot overwrite a newer one',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const zombie = await env.open(name, { locks: env.newLocks() });
      await writeRows(zombie, 1, 3);
      const owner = await env.open(name, { locks: env.newLocks() });
      await writeRows(owner, 4, 8);
      let code = null;
      await zombie.call('sql', writeSql(9)).catch((e) => { code = e.code; });
      same(code, 'fenced', 'zombie write');
      await zombie.close();
      await owner.close();
      const pdb = await env.open(name, { locks: env.newLocks() });
      same(await committedPrefix(pdb), 8, 'rows after the zombie tried');
      await pdb.close();
    },
  },
  {
    name: 'a fenced writer cannot overwrite a newer one that checkpointed its whole log',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const zombie = await env.open(name, { locks: env.newLocks() });
      await writeRows(zombie, 1, 3);
      const owner = await env.open(name, { locks: env.newLocks() });
      await writeRows(owner, 4, 8);
      // The log holds only the owner's claim marker now: the zombie's next commit is refused by it.
      await owner.checkpoint();
      let code = null;
      await zombie.call('sql', writeSql(9)).catch((e) => { code = e.code; });
      same(code, 'fenced', 'zombie write');
      await zombie.close();
      await owner.close();
      const pdb = await env.open(name, { locks: env.newLocks() });
      same(await committedPrefix(pdb), 8, 'rows after the zombie tried');
      await pdb.close();
    },
  },
  {
    name: 'a damaged store is refused as corrupt and can be recreated',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      let pdb = await env.open(name);
      await writeRows(pdb, 1, 10);
      await pdb.close();
      await env.tamper(name);
      let code = null;
      await env.open(name).catch((e) => { code = e.code; });
      same(code, 'corrupt', 'open of a damaged store');
      await env.destroy(name);
      pdb = await env.open(name);
      same(await committedPrefix(pdb), 0, 'rows after recreate');
      await pdb.close();
    },
  },
  {
    name: 'a follower whose claim fails rejects the calls waiting for a writer, until a writer is back',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const locks = env.newLocks();
      const first = await env.open(name, { locks });
      await writeRows(first, 1, 5);
      let letClaim, claimStarted;
      const gate = new Promise((resolve) => { letClaim = resolve; });
      const started = new Promise((resolve) => { claimStarted = resolve; });
      const second = await env.open(name, { locks, faults: { beforeClaim: () => (claimStarted(), gate) } });
      check(!second.isWriter, 'the second handle follows');
      const failed = nextEvent(second, 'error');
      // When the writer closes, the second handle takes the lock and its claim waits at the
      // gate, while the store is damaged under it.
      await first.close();
      await started;
      const waiting = second.call('sql', 'SELECT count(*) FROM w').then(() => 'answered', (e) => e.code);
      await env.tamper(name);
      letClaim();
      same((await failed).error.code, 'corrupt', 'the error event');
      same(await waiting, 'corrupt', 'the call waiting for a writer');
      same(await second.call('sql', 'SELECT 1').then(() => 'answered', (e) => e.code), 'corrupt', 'a call with no writer');
      // The documented recovery: a new handle on a recreated store becomes the writer, and the
      // follower's calls go to it again.
      await env.destroy(name);
      const third = await env.open(name, { locks });
      check(third.isWriter, 'the new handle is the writer');
      same(await whenServed(second, 'SELECT 1', 'corrupt'), [[1]], 'a call once a writer is back');
      await second.close();
      await third.close();
    },
  },
  {
    name: 'a follower whose claim failed once queues again when another handle claims, and takes over from it',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const locks = env.newLocks();
      const first = await env.open(name, { locks });
      await writeRows(first, 1, 5);
      let failures = 1;
      const faults = {
        beforeClaim: async () => {
          if (failures-- > 0) throw Object.assign(new Error('the store is unavailable for a moment'), { code: 'storage' });
        },
      };
      const second = await env.open(name, { locks, faults });
      const failed = nextEvent(second, 'error');
      await first.close();
      same((await failed).error.code, 'storage', 'the failed claim');
      // A third handle becomes the writer (at once, or as soon as the failed claim's lock is
      // released); the second hears of it.
      const third = await env.open(name, { locks });
      if (!third.isWriter) await nextEvent(third, 'writer');
      same(await whenServed(second, 'SELECT count(*) FROM w', 'storage'), [[5]], 'the second handle, served by the third');
      // The third closes: the second, queued again, takes over rather than waiting for a writer.
      const tookOver = nextEvent(second, 'writer');
      await third.close();
      await tookOver;
      await writeRows(second, 6, 8);
      await second.close();
      const pdb = await env.open(name, { locks });
      same(await committedPrefix(pdb), 8, 'rows after the takeover');
      await pdb.close();
    },
  },
  {
    name: 'a closing writer leaves the calls that reach it to the next writer: each runs once',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const locks = env.newLocks();
      const first = await env.open(name, { locks });
      await writeRows(first, 1, 30); // a log for the close to checkpoint, so it takes a while
      const second = await env.open(name, { locks });
      const closing = first.close();
      // Sent while the writer closes: it must either answer them or leave them to the next
      // writer, never both (a call run on each would count twice).
      const calls = [];
      for (let k = 31; k <= 36; k++) {
        calls.push(second.call('sql', writeSql(k)));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      await closing;
      await Promise.all(calls);
      same(await second.call('sql', 'SELECT count(*), count(DISTINCT k) FROM w WHERE k > 30'), [[6, 6]], 'rows written by the calls');
      await second.close();
    },
  },
  {
    name: 'under a full disk, reads answer at once while writes wait for durability',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const disk = fullDisk(false);
      const pdb = await env.open(name, { faults: disk.faults, retryMs: [60000] });
      await writeRows(pdb, 1, 1);
      disk.full = true;
      const error = nextEvent(pdb, 'error');
      let written = false;
      const write = pdb.call('sql', writeSql(2)).then(() => { written = true; });
      // A read made while the write's flush is failing, and one made after the failure.
      const during = pdb.call('get', 'notes', 'n1');
      same((await error).error.code, 'quota', 'the flush failure');
      const late = (promise) => within(promise.then(() => 'answered'), 3000, 'waiting');
      same(await late(during), 'answered', 'a read made before the failure');
      same(await late(pdb.call('get', 'notes', 'n1')), 'answered', 'a read made after it');
      check(!written, 'the write still waits for durability');
      disk.full = false;
      pdb.retryNow();
      await write;
      await pdb.close();
      const again = await env.open(name);
      same(await committedPrefix(again), 2, 'both rows once the disk had room');
      await again.close();
    },
  },
  {
    name: 'a close waiting on a full disk is ended by close({waitDurable: false}), and the next writer opens',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const pdb = await env.open(name, { faults: fullDisk().faults, retryMs: [50] });
      await pdb.core.sql(SCHEMA);
      await pdb.core.sql(writeSql(1));
      let settled = false;
      const first = pdb.close().then(() => { settled = true; });
      await new Promise((resolve) => setTimeout(resolve, 500));
      check(!settled, 'close waits while flushes fail');
      await pdb.close({ waitDurable: false });
      await first;
      const next = await env.open(name);
      // Row 1 never became durable: abandoned, as the app asked.
      same(await next.call('sql', "SELECT count(*) FROM sqlite_master WHERE name = 'w'"), [[0]], 'tables after an abandoned close');
      await writeRows(next, 1, 2);
      same(await committedPrefix(next), 2, 'the next writer writes');
      await next.close();
    },
  },
  {
    name: 'a store the browser closes under the writer refuses its writes for good, says why, and is not written again',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const pdb = await env.open(name);
      await writeRows(pdb, 1, 2);
      const codes = [];
      pdb.addEventListener('error', (e) => codes.push(e.detail.error.code));
      await env.loseStore(name);
      // Retried as a storage failure if it raced the close; then refused as lost, never hung.
      const outcome = (promise) => within(promise.then(() => 'durable', (e) => e?.code ?? String(e)), 15000, 'still waiting after 15 s');
      same(await outcome(writeRows(pdb, 3, 3)), 'lost', 'a write after the store was closed');
      same(await outcome(pdb.whenDurable()), 'lost', 'whenDurable');
      same(await outcome(writeRows(pdb, 4, 4)), 'lost', 'every later write');
      check(codes.includes('lost'), `an 'error' event with code lost (got ${codes})`);
      await pdb.close();
      // Nothing of the old writer went onto the emptied store: a new open starts a new database.
      const again = await env.open(name);
      same(await again.call('sql', "SELECT count(*) FROM sqlite_master WHERE name = 'w'"), [[0]], 'tables in the cleared store');
      await writeRows(again, 1, 3);
      same(await committedPrefix(again), 3, 'the new database');
      await again.close();
    },
  },
  {
    name: 'a follower call whose arguments cannot be sent is refused at once, runs nowhere, and blocks no later call',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const { writer, follower } = await writerAndFollower(env, name);
      await writer.call('sql', SCHEMA);
      // A function in the arguments: the channel cannot carry it (DataCloneError).
      let outcome;
      try {
        outcome = await follower.call('sql', writeSql(7), { onSaved() {} }).then(() => 'ran', (e) => e?.code ?? String(e));
      } catch (e) {
        outcome = `thrown: ${e?.name}`;
      }
      same(outcome, 'invalid', 'the call that cannot be sent');
      await writeRows(follower, 1, 2);
      const tookOver = nextEvent(follower, 'writer');
      await writer.close();
      await tookOver;
      await writeRows(follower, 3, 3);
      same(await committedPrefix(follower), 3, 'rows 1..3, and never row 7');
      await follower.close();
    },
  },
  {
    name: 'a second handle proxies to the writer, hears changes, and takes over',
    only: ['idb'],
    async run(env) {
      const name = env.name();
      const { locks, writer: first, follower: second } = await writerAndFollower(env, name);
      const heard = nextEvent(second, 'change');
      await first.call('sql', SCHEMA);
      // Interleaved writers: odd keys from one handle, even keys from the other.
      const writes = [];
      for (let k = 1; k <= 30; k++) writes.push((k % 2 ? first : second).call('sql', writeSql(k)));
      await Promise.all(writes);
      await heard;
      const tookOver = nextEvent(second, 'writer');
      await first.close();
      await tookOver;
      await writeRows(second, 31, 35);
      await second.close();
      const pdb = await env.open(name, { locks });
      same(await committedPrefix(pdb), 35, 'rows from both handles');
      await pdb.close();
    },
  },
];
