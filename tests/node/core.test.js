// The vertical slice in Node: the WASM build opens a database, writes, reads, searches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule, CoreDb, SloopError } from '../../js/core.js';

const mod = await loadModule();

test('put, get and FTS5 search through the WASM module', () => {
  const db = CoreDb.open(mod);
  try {
    db.put('notes', 'n1', { title: 'Compressor hums', tags: ['loud'] });
    db.put('notes', 'n2', { title: 'Valve fine' });
    assert.deepEqual(db.get('notes', 'n1'), { title: 'Compressor hums', tags: ['loud'] });
    const hits = db.search('notes', 'loud OR compressor');
    assert.deepEqual(hits.map((h) => h.id), ['n1']);
    assert.equal(db.get('notes', 'missing'), undefined);
  } finally {
    db.close();
  }
});

test('non-ASCII text survives the heap boundary both ways', () => {
  const db = CoreDb.open(mod);
  try {
    const title = 'Ölstand prüfen – 水位 🚰';
    db.put('notes', 'ü-1', { title });
    assert.equal(db.get('notes', 'ü-1').title, title);
    assert.equal(db.search('notes', 'prüfen')[0].id, 'ü-1');
  } finally {
    db.close();
  }
});

test('bad input is a SloopError with a stable code', () => {
  const db = CoreDb.open(mod);
  try {
    assert.throws(() => db.put('notes', 'x', [1]), (e) => e instanceof SloopError && e.code === 'schema');
    assert.throws(() => db.put('', 'x', {}), (e) => e.code === 'invalid');
    assert.throws(() => db.search('notes', '"open quote'), (e) => e.code === 'invalid');
  } finally {
    db.close();
  }
});

// The core's deepest recursions: cJSON's parse, print, copy and delete of a value nested as
// deep as cJSON allows, on both sides of a sync; one level more is refused, not truncated.
test('a document nested as deep as JSON parsing allows is written, searched, pushed and pulled', async () => {
  const server = CoreDb.open(await loadModule('server'), { role: 'server' });
  const a = CoreDb.open(mod);
  const b = CoreDb.open(mod);
  try {
    let deep = 'bottom';
    for (let i = 0; i < 990; i++) deep = [deep];
    a.put('notes', 'deep', { title: 'deep note', body: deep });
    assert.deepEqual(a.get('notes', 'deep').body, deep);
    assert.equal(a.search('notes', 'bottom')[0].id, 'deep');
    const ctx = (db) => JSON.stringify({ user: 'u', device: db.device });
    a.pushEnd(server.serverPush(a.pushBegin(10), ctx(a)));
    assert.equal(a.stateCounts().pendingOps, 0);
    assert.equal(b.pullApply(server.serverPull(b.pullRequest(10), ctx(b))), false);
    assert.deepEqual(b.get('notes', 'deep').body, deep);
    let tooDeep = 'x';
    for (let i = 0; i < 2000; i++) tooDeep = [tooDeep];
    assert.throws(() => a.put('notes', 'too-deep', { body: tooDeep }), (e) => e instanceof SloopError);
    assert.equal(a.get('notes', 'too-deep'), undefined);
  } finally {
    a.close();
    b.close();
    server.close();
  }
});

// pullRequestNext keeps the answer it copied into the heap for the pullApply of the same text
// (core.js keptAnswer): one copy of a page's answer instead of two, and never the wrong answer.
test('a pull answer read ahead is copied into the heap once, and only its own text reuses it', async () => {
  const server = CoreDb.open(await loadModule('server'), { role: 'server' });
  const a = CoreDb.open(mod);
  const b = CoreDb.open(mod);
  const c = CoreDb.open(mod);
  const ctx = (db) => JSON.stringify({ user: 'u', device: db.device });
  const count = (db) => db.sql("SELECT count(*) FROM records WHERE coll = 'notes'")[0][0];
  const malloc = mod._malloc;
  try {
    a.transaction(() => { for (let i = 0; i < 100; i++) a.put('notes', `n${i}`, { title: `note ${i} ${'x'.repeat(300)}` }); });
    a.pushEnd(server.serverPush(a.pushBegin(100), ctx(a)));
    const page = server.serverPull(b.pullRequest(100), ctx(b));
    const small = server.serverPull(c.pullRequest(5), ctx(c));
    assert.ok(page.length > 30000); // more than a call's scratch: a copy would be a malloc
    // The same text: no block as large as the answer is allocated again.
    b.pullRequestNext(page, 100);
    const sizes = [];
    mod._malloc = (n) => (sizes.push(n), malloc(n));
    assert.equal(b.pullApply(page), false);
    mod._malloc = malloc;
    assert.deepEqual(sizes.filter((n) => n >= page.length), []);
    assert.equal(b.keptAnswer, null);
    assert.equal(count(b), 100);
    // Another text: it is applied, not the answer kept.
    c.pullRequestNext(page, 100);
    assert.equal(c.pullApply(small), true);
    assert.equal(count(c), 5);
    assert.equal(c.keptAnswer, null);
    c.pullRequestNext(page, 100);
    c.close();
    assert.equal(c.keptAnswer, null);
  } finally {
    mod._malloc = malloc;
    for (const db of [a, b, c, server]) db.close();
  }
});

// Long strings are encoded straight into the heap when their UTF-8 fits a block of their length
// and an eighth (mostly-ASCII JSON), else encoded exactly first (core.js encodeLong): both ways
// must carry every character, and the block tried first must not leak.
test('long strings reach the core whole, ASCII or not, and a kept answer that did not fit leaks no block', async () => {
  const server = CoreDb.open(await loadModule('server'), { role: 'server' });
  const a = CoreDb.open(mod);
  const b = CoreDb.open(mod);
  const ctx = (db) => JSON.stringify({ user: 'u', device: db.device });
  const malloc = mod._malloc, free = mod._free;
  try {
    const wide = 'é€🦀'.repeat(30_000); // 9 UTF-8 bytes per 4 UTF-16 units: over the eighth
    const narrow = `${'x'.repeat(100_000)}é`; // one 2-byte character: within it
    a.put('notes', 'wide', { body: wide });
    a.put('notes', 'narrow', { body: narrow });
    assert.equal(a.get('notes', 'wide').body, wide);
    assert.equal(a.get('notes', 'narrow').body, narrow);
    a.pushEnd(server.serverPush(a.pushBegin(10), ctx(a)));
    const page = server.serverPull(b.pullRequest(10), ctx(b));
    assert.ok(page.length > 100_000);
    assert.ok(Buffer.byteLength(page) > page.length * 1.2, 'the answer is too wide for the first block');
    const live = new Set();
    mod._malloc = (n) => { const p = malloc(n); live.add(p); return p; };
    mod._free = (p) => { live.delete(p); free(p); };
    b.pullRequestNext(page, 10);
    assert.equal(live.size, 1, 'only the kept answer stays allocated');
    assert.equal(b.pullApply(page), false);
    assert.equal(b.keptAnswer, null);
    assert.equal(b.get('notes', 'wide').body, wide);
    assert.equal(b.get('notes', 'narrow').body, narrow);
  } finally {
    mod._malloc = malloc;
    mod._free = free;
    for (const db of [a, b, server]) db.close();
  }
});
