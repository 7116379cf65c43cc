// Text and list fields through the public API (db.text(), db.list(), bindTextarea) against the
// real server on loopback: offline edits of one paragraph by two devices converge with both
// runs whole, remote edits arrive as index deltas, a bound textarea keeps its caret, lists
// insert, remove and move, bad indexes are refused, and offline edits are ordinary operations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop, bindTextarea, SloopError } from '../../js/sloop.js';
import { startTestServer, openClient, backend, freshName, waitFor } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

/** Types `text` one character at a time at `index`, as a keyboard would. */
async function type(handle, index, text) {
  for (const [k, ch] of [...text].entries()) await handle.insert(index + k, ch);
}

/** A stand-in for a <textarea>: value, selection, input events, focus. */
class FakeTextarea extends EventTarget {
  constructor() {
    super();
    Object.assign(this, { value: '', selectionStart: 0, selectionEnd: 0, selectionDirection: 'none', scrollTop: 0 });
    this.ownerDocument = { activeElement: this };
  }
  setSelectionRange(start, end, direction) {
    Object.assign(this, { selectionStart: start, selectionEnd: end, selectionDirection: direction });
  }
  /** The user types `text` at the caret. */
  typeAtCaret(text) {
    for (const ch of text) {
      const at = this.selectionEnd;
      this.value = this.value.slice(0, at) + ch + this.value.slice(at);
      this.setSelectionRange(at + 1, at + 1, 'none');
      this.dispatchEvent(new Event('input'));
    }
  }
}

test('two devices offline type into one paragraph at the same place: both runs whole after sync', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'p1', { title: 'Valve', body: 'Valve ok.' });
    await a.db.sync();
    await b.db.sync();
    const ta = await a.db.text('notes', 'p1', 'body');
    const tb = await b.db.text('notes', 'p1', 'body');
    assert.equal(tb.value, 'Valve ok.');
    const ann = ' Ann checked the gauge.';
    const bob = ' Bob saw a leak.';
    await type(ta, 9, ann);
    await type(tb, 9, bob);
    assert.equal(ta.value, `Valve ok.${ann}`);
    await a.db.sync();
    await b.db.sync();
    await a.db.sync();
    assert.equal(ta.value, tb.value);
    assert.equal((await a.db.get('notes', 'p1')).body, ta.value);
    assert.ok(ta.value.includes(ann) && ta.value.includes(bob), ta.value);
    assert.equal(ta.value.length, 9 + ann.length + bob.length);
    ta.close();
    tb.close();
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('remote edits arrive as index deltas, and a bound textarea applies them keeping its caret', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'd1', { title: 'Deltas', body: 'abcdefghij' });
    await a.db.sync();
    await b.db.sync();
    const ta = await a.db.text('notes', 'd1', 'body');
    const tb = await b.db.text('notes', 'd1', 'body');
    const events = [];
    const raw = [];
    tb.addEventListener('change', (e) => events.push(e.detail));
    b.db.addEventListener('change', (e) => raw.push(...e.detail.textEdits));
    const area = new FakeTextarea();
    const unbind = bindTextarea(tb, area);
    assert.equal(area.value, 'abcdefghij');
    area.setSelectionRange(5, 5, 'none'); // between "e" and "f"
    await ta.splice(1, 0, 'X');
    await ta.delete(9, 1);
    await a.db.sync();
    await b.db.sync();
    assert.deepEqual(raw.map((c) => [c.coll, c.id, c.field, c.local]), [['notes', 'd1', 'body', false]]);
    assert.deepEqual(events, [{ edits: [[1, 0, 'X'], [9, 1, '']], local: false, value: 'aXbcdefghj' }]);
    assert.equal(area.value, 'aXbcdefghj');
    assert.deepEqual([area.selectionStart, area.selectionEnd], [6, 6], 'still between "e" and "f"');
    // The textarea's own typing goes out as splices and is the record's after sync.
    area.typeAtCaret('!!');
    await waitFor(() => tb.value === 'aXbcde!!fghj', 'the typing written');
    assert.equal(events.at(-1).local, true);
    await b.db.sync();
    await a.db.sync();
    assert.equal(ta.value, 'aXbcde!!fghj');
    // Edits that do not fit what the textarea shows (here it lost a "d"): it takes the
    // record's value, the caret mapped by prefix and suffix (after "fg" still).
    area.value = 'aXbce!!fghj';
    area.setSelectionRange(9, 9, 'none');
    await ta.insert(0, '>');
    await a.db.sync();
    await b.db.sync();
    assert.equal(area.value, '>aXbcde!!fghj');
    assert.deepEqual([area.selectionStart, area.selectionEnd], [11, 11]);
    unbind();
    ta.close();
    tb.close();
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('list fields: insert, remove and move through the API; bad indexes are refused and change nothing', async () => {
  const schema = { collections: { jobs: { fields: { steps: 'list', notes: 'text' } } } };
  const db = await openSloop({ name: freshName('list'), schema, backend: backend(), serverUrl: '' });
  try {
    await db.put('jobs', 'j1', { steps: ['drain', 'open'], notes: 'abc' });
    const steps = await db.list('jobs', 'j1', 'steps');
    const seen = [];
    steps.addEventListener('change', (e) => seen.push(e.detail.value));
    assert.deepEqual(steps.value, ['drain', 'open']);
    await steps.insert(2, 'inspect', { by: 'bob' });
    assert.deepEqual(steps.value, ['drain', 'open', 'inspect', { by: 'bob' }]);
    await steps.move(2, 0);
    assert.deepEqual(steps.value, ['inspect', 'drain', 'open', { by: 'bob' }]);
    await steps.remove(3);
    assert.deepEqual(steps.value, ['inspect', 'drain', 'open']);
    assert.deepEqual((await db.get('jobs', 'j1')).steps, ['inspect', 'drain', 'open']);
    assert.deepEqual(seen.at(-1), ['inspect', 'drain', 'open']);

    const notes = await db.text('jobs', 'j1', 'notes');
    const before = await db.get('jobs', 'j1');
    const refused = [
      steps.insert(9, 'x'), steps.remove(2, 5), steps.move(0, 7), steps.insert(-1, 'x'), steps.move(0.5, 1),
      notes.insert(4, 'x'), notes.delete(1, 9), notes.splice(-1, 0, 'x'), notes.insert('1', 'x'),
    ];
    for (const write of refused) await assert.rejects(write, (e) => e instanceof SloopError && e.code === 'invalid');
    assert.deepEqual(await db.get('jobs', 'j1'), before);
    assert.equal(notes.value, 'abc');
    assert.deepEqual(steps.value, ['inspect', 'drain', 'open']);
    // An index inside a surrogate pair is refused too.
    await notes.insert(0, '\u{1F527}');
    await assert.rejects(notes.insert(1, '?'), (e) => e.code === 'invalid');
    assert.equal(notes.value, '\u{1F527}abc');
    notes.close();
    steps.close();
    await assert.rejects(steps.insert(0, 'late'), (e) => e.code === 'closed');
  } finally {
    await db.close();
  }
});

test('offline edits are operations in the log: kept, pushed after reconnecting, applied once', async () => {
  let network = 'up'; // 'down': requests fail; 'lost': they reach the server, the answer is lost
  const flakyFetch = async (url, init) => {
    if (network === 'down') throw new TypeError('fetch failed');
    const res = await fetch(url, init);
    if (network === 'lost') throw new TypeError('fetch failed');
    return res;
  };
  const a = await openClient(server, 'alice', { fetch: flakyFetch });
  const b = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'o1', { title: 'Offline', body: 'Seal worn.' });
    await a.db.sync();
    await b.db.sync();
    const ta = await a.db.text('notes', 'o1', 'body', { alongside: () => ({ updatedAt: 7 }) });
    network = 'down';
    await type(ta, 10, ' Replace');
    await assert.rejects(a.db.sync(), (e) => e.code === 'network');
    const pending = await a.db.persistent.call('ops', 'pending');
    const edits = pending.filter((op) => op.rid === 'o1');
    // Keystrokes continuing an unsent operation fold into it: the typed run is one insertion.
    assert.equal(edits.length, 1, 'one operation for the typed run');
    assert.equal(edits[0].type, 'patch');
    assert.deepEqual(edits[0].payload.body.seq.map((e) => e.s), [' Replace']);
    assert.equal(edits[0].payload.updatedAt.set, 7, 'alongside fields in the same operation');
    // The push reaches the server but its answer is lost: pushed again, applied once.
    network = 'lost';
    await assert.rejects(a.db.sync(), (e) => e.code === 'network');
    network = 'up';
    await a.db.sync();
    assert.equal(a.db.status.pendingOps, 0);
    await b.db.sync();
    assert.equal((await b.db.get('notes', 'o1')).body, 'Seal worn. Replace');
    ta.close();
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('change events keep record entries as they were and put text edits beside them', async () => {
  const { db } = await openClient(server, null);
  try {
    const details = [];
    db.addEventListener('change', (e) => details.push(e.detail));
    await db.put('notes', 'c1', { title: 'Shape', body: 'hi' });
    assert.deepEqual(details, [{
      changes: [{ coll: 'notes', id: 'c1', state: 'local-only' }],
      textEdits: [{ coll: 'notes', id: 'c1', field: 'body', local: true, edits: [[0, 0, 'hi']] }],
    }]);
  } finally {
    await db.close();
  }
});
