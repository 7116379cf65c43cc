// Protocol v2 over real HTTP (docs/PROTOCOL.md, "Changes on the wire"): the real server with
// the real core on loopback. A client of today asks for v2 and gets the compact form (no
// device id inside a change, the node list once); a v1 request, as an installed client of
// before v2 sends, still gets the state as JSON; both clients end with the same records; a
// corrupt v2 answer is refused with a clear error and changes nothing on the client; one whose
// documents' members come reordered reads the same.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { CoreDb } from '../../js/core.js';
import { mod, schema, seededServer, post, clientDocs, login } from './real-server.js';

const env = await seededServer('wire');
after(() => env.close());

/** Pulls every page with request bodies of protocol `v` into `db`; returns the answers. */
async function pullAll(db, token, v) {
  const answers = [];
  for (let more = true; more;) {
    const body = JSON.parse(db.pullRequest(3));
    body.v = v;
    const r = await post(env.srv.url, '/v1/pull', token, body);
    assert.equal(r.status, 200, r.text);
    answers.push(r.json);
    more = db.pullApply(r.text);
  }
  return answers;
}

test('a client asks for v2 and gets the compact form; a v1 request still gets JSON states', async () => {
  const v2db = CoreDb.open(mod, { schema });
  const v1db = CoreDb.open(mod, { schema });
  try {
    assert.equal(JSON.parse(v2db.pullRequest(3)).v, 2);
    const v2 = await pullAll(v2db, (await login(env.srv.url, 'alice', v2db.device)).token, 2);
    const v1 = await pullAll(v1db, (await login(env.srv.url, 'alice', v1db.device)).token, 1);
    assert.ok(v2.some((a) => a.changes.length > 0));
    for (const a of v2) {
      assert.equal(a.v, 2);
      assert.ok(Array.isArray(a.nodes));
      for (const n of a.nodes) assert.match(n, /^[0-9a-f]{16}$/);
      for (const c of a.changes) {
        if (c.evict) continue;
        assert.equal(typeof c.state, 'string');
        assert.equal(c.deleted, undefined);
        const blob = Buffer.from(c.state, 'base64');
        assert.equal(blob.toString('base64'), c.state);
        for (const n of a.nodes) assert.equal(blob.toString('latin1').includes(n), false);
        // Nor as its 8 bytes (a text field's sequence names its devices by index too).
        for (const n of a.nodes) assert.equal(blob.includes(Buffer.from(n, 'hex').reverse()), false, `node ${n} in ${c.rid}`);
      }
    }
    for (const a of v1) {
      assert.equal(a.v, 1);
      assert.equal(a.nodes, undefined);
      for (const c of a.changes) {
        assert.equal(typeof c.state, 'object');
        assert.equal(typeof c.deleted, 'boolean');
      }
    }
    // The same records either way, and the same as the writers' own.
    assert.deepEqual(clientDocs(v2db), clientDocs(v1db));
    assert.deepEqual(clientDocs(v2db), clientDocs(env.acme.alice.db));
    const bytes = (answers) => answers.reduce((n, a) => n + JSON.stringify(a.changes).length, 0);
    assert.ok(bytes(v2) < bytes(v1) / 2, `v2 ${bytes(v2)} bytes, v1 ${bytes(v1)}`);
  } finally {
    v2db.close();
    v1db.close();
  }
});

test('a push answer carries its records in the form the push asked for', async () => {
  const db = CoreDb.open(mod, { schema });
  try {
    const { token } = await login(env.srv.url, 'alice', db.device);
    db.put('notes', 'wire-1', { title: 'compact', body: 'x' });
    const body = db.pushBegin(10);
    assert.equal(JSON.parse(body).v, 2);
    const r = await post(env.srv.url, '/v1/push', token, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.v, 2);
    assert.deepEqual(r.json.nodes, [db.device]);
    assert.equal(typeof r.json.records[0].state, 'string');
    db.pushEnd(r.text);
    assert.equal(db.recordState('notes', 'wire-1'), 'synced');
    // The same push replayed as v1 (an old queued request): the answer's record as JSON.
    const old = JSON.parse(body);
    old.v = 1;
    const again = await post(env.srv.url, '/v1/push', token, old);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.v, 1);
    assert.equal(typeof again.json.records[0].state, 'object');
    db.pushEnd(again.text);
    assert.equal(db.get('notes', 'wire-1').title, 'compact');
  } finally {
    db.close();
  }
});

test('a corrupt v2 answer is refused with its reason, and nothing is applied', async () => {
  const db = CoreDb.open(mod, { schema });
  try {
    const { token } = await login(env.srv.url, 'alice', db.device);
    const r = await post(env.srv.url, '/v1/pull', token, db.pullRequest(50));
    assert.equal(r.status, 200);
    const live = r.json.changes.findIndex((c) => c.doc);
    const corrupt = [
      { ...r.json, nodes: [] },
      { ...r.json, changes: r.json.changes.map((c, i) => (i === live ? { ...c, state: c.state.slice(0, 8) } : c)) },
      { ...r.json, changes: r.json.changes.map((c, i) => (i === live ? { ...c, doc: {} } : c)) },
    ];
    for (const answer of corrupt) {
      assert.throws(() => db.pullApply(JSON.stringify(answer)), (e) => e.code === 'invalid' && /change|nodes|state/.test(e.message));
      assert.deepEqual(clientDocs(db), {});
      assert.equal(JSON.parse(db.pullRequest(50)).cursor, 0);
    }
    // Members reordered on the way (JSON objects are unordered): the same records.
    const reordered = {
      ...r.json,
      changes: r.json.changes.map((c) => (c.doc ? { ...c, doc: Object.fromEntries(Object.entries(c.doc).reverse()) } : c)),
    };
    db.pullApply(JSON.stringify(reordered));
    const plain = CoreDb.open(mod, { schema });
    try {
      plain.pullApply(r.text);
      assert.ok(Object.keys(clientDocs(db)).length > 0);
      assert.deepEqual(clientDocs(db), clientDocs(plain));
      assert.deepEqual(db.sql('SELECT coll, id, sloop_state(state, doc) FROM records ORDER BY coll, id'),
        plain.sql('SELECT coll, id, sloop_state(state, doc) FROM records ORDER BY coll, id'));
    } finally {
      plain.close();
    }
  } finally {
    db.close();
  }
});
