// The deterministic simulation at the JS level: the full client (openSloop: scheduler,
// persistence on fake-indexeddb) and the real server on loopback, with a fault-injecting
// transport in place of the network. Faults: requests dropped before sending, requests
// applied by the server with the answer lost, duplicated requests, delays. Refusals: one
// device's app schema has a collection (`lists`) and a field (`colour`) the server's lacks,
// dave may write nothing, and bob's write grant is taken away and given back mid-run. After
// the faults heal and every device has synced: nothing is pending or in flight, and every
// operation is applied or failed with a code (`denied`, `schema`); bob retries his refused
// writes once he may write again, every other failed one is discarded; then every device
// equals the server and the shared counter equals the sum of the increments that were not
// refused (nothing lost, nothing applied twice). A failing seed prints itself;
// SIM_JS_SEEDS=a-b runs a range.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, openClient, schema, users } from './client-harness.js';

const server = await startTestServer();
after(() => server.close());

/** splitmix64 on BigInt, reduced to [0, n). */
function rng(seed) {
  let s = BigInt(seed) * 0x9e3779b97f4a7c15n;
  return (n) => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) % BigInt(n));
  };
}

/** A fetch that misbehaves like a bad network while `faults.on`; counts what it did. */
function faultyFetch(pick, faults) {
  return async (url, init) => {
    if (!faults.on) return fetch(url, init);
    const roll = pick(100);
    if (roll < 12) { faults.dropped++; throw new TypeError('network down (request dropped)'); }
    if (roll < 22) {
      faults.lostAnswers++;
      await fetch(url, init).then((r) => r.text());
      throw new TypeError('connection reset (answer lost)');
    }
    if (roll < 30) {
      faults.duplicated++;
      await fetch(url, init).then((r) => r.text());
      return fetch(url, init);
    }
    if (roll < 40) { faults.delayed++; await new Promise((r) => setTimeout(r, pick(30))); }
    return fetch(url, init);
  };
}

/** Notes by title; `colour` left out: whether the server keeps a field it does not declare is
 * the schema's business, not this simulation's. */
const dump = async (db) => (await db.query('notes', { orderBy: 'title' }))
  .map(({ id, doc: { colour, ...doc } }) => ({ id, doc }));

/** The app schema of a device newer than the server's. */
const wideSchema = {
  ...schema,
  collections: {
    ...schema.collections,
    notes: { ...schema.collections.notes, fields: { ...schema.collections.notes.fields, colour: 'lww' } },
    lists: { fields: { name: 'lww' } },
  },
};

/** The increment an operation carried on the counter record, or 0. */
const incrementOf = (op, counterId) => (op.rid === counterId ? op.payload?.votes?.inc ?? 0 : 0);

async function runSeed(seed) {
  const pick = rng(seed);
  const faults = { on: false, dropped: 0, lostAnswers: 0, duplicated: 0, delayed: 0, schemaMismatch: 0, permChanges: 0 };
  const devices = [];
  const bobGrant = users.bob.write;
  for (const user of ['alice', 'bob', 'alice', 'dave']) {
    const wide = devices.length === 2;
    const { db } = await openClient(server, user, {
      fetch: faultyFetch(pick, faults), sync: { backoff: { baseMs: 1, maxMs: 5 } }, ...(wide && { schema: wideSchema }),
    });
    devices.push(db);
  }
  const [, bob, wide] = devices;
  const ids = [0, 1, 2, 3].map((i) => `sim${seed}-${i}`);
  let increments = 0;
  await devices[0].put('notes', ids[0], { title: `seed ${seed}`, votes: 0, tags: [] });
  await devices[0].sync().catch(() => {});
  faults.on = true;
  for (let step = 0; step < 40; step++) {
    const db = devices[pick(devices.length)];
    const id = ids[pick(ids.length)];
    try {
      switch (pick(9)) {
        case 0: await db.put('notes', id, { title: `t${pick(50)}`, body: `b${step}`, tags: [`g${pick(3)}`] }); break;
        case 1: await db.patch('notes', id, { tags: { $add: [`g${pick(3)}`] }, body: `edited ${step}` }); break;
        case 2: {
          const n = 1 + pick(3);
          await db.patch('notes', ids[0], { votes: { $inc: n } });
          increments += n; // committed locally: must reach the server exactly once
          break;
        }
        case 6: {
          faults.schemaMismatch++;
          if (pick(2)) await wide.put('lists', `l${pick(3)}`, { name: `list ${step}` });
          else await wide.put('notes', id, { title: `c${pick(50)}`, colour: 'red' });
          break;
        }
        case 7: {
          faults.permChanges++;
          users.bob.write = users.bob.write.length ? [] : bobGrant;
          break;
        }
        default: await db.sync().catch(() => {});
      }
    } catch (e) {
      if (e.code !== 'notfound' && e.code !== 'deleted') throw e; // a patch before the put arrived
    }
  }
  faults.on = false;
  for (let round = 0; round < 3; round++) for (const db of devices) await db.sync();
  // Nothing pending or in flight; every operation applied or failed with a code.
  for (const [i, db] of devices.entries()) {
    assert.equal(db.status.pendingOps, 0, `seed ${seed}: device ${i} has pending operations`);
    for (const op of await db.failedOps()) {
      assert.match(op.lastError ?? '', /^(denied|schema): /, `seed ${seed}: device ${i} op ${op.id} failed without a code`);
    }
  }
  // Bob may write again and retries; everything else that failed is dropped.
  users.bob.write = bobGrant;
  await bob.retry();
  for (const db of devices) await db.sync();
  for (const [i, db] of devices.entries()) {
    for (const op of await db.failedOps()) {
      assert.ok(db !== bob, `seed ${seed}: bob's retried op ${op.id} failed again: ${op.lastError}`);
      increments -= incrementOf(op, ids[0]);
      await db.discard(op.id);
    }
    assert.deepEqual(await db.failedOps(), [], `seed ${seed}: device ${i} still has failed operations`);
  }
  for (let round = 0; round < 2; round++) for (const db of devices) await db.sync();
  const want = await dump(devices[0]);
  for (const [i, db] of devices.entries()) {
    assert.deepEqual(await dump(db), want, `seed ${seed}: device ${i} differs`);
    assert.equal(db.status.pendingOps, 0, `seed ${seed}: device ${i} has pending operations`);
  }
  const counter = want.find((r) => r.id === ids[0]);
  assert.equal(counter.doc.votes, increments, `seed ${seed}: counter ${counter.doc.votes}, committed increments ${increments}`);
  for (const db of devices) await db.close();
  return faults;
}

const [from, to] = (process.env.SIM_JS_SEEDS ?? '1-6').split('-').map(Number);
for (let seed = from; seed <= (to ?? from); seed++) {
  test(`JS-level simulation, seed ${seed}`, async () => {
    let faults;
    try {
      faults = await runSeed(seed);
    } catch (e) {
      users.bob.write = users.bob.write.length ? users.bob.write : ['notes', 'tasks'];
      console.error(`seed ${seed} failed (replay: SIM_JS_SEEDS=${seed} node --test tests/node/sim-js.test.js)`);
      throw e;
    }
    assert.ok(faults.dropped + faults.lostAnswers + faults.duplicated + faults.delayed > 0, 'no fault was injected');
    console.log(`seed ${seed}: faults ${JSON.stringify(faults)}`);
  });
}
