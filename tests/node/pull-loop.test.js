// The client's pull loop (js/client/pull-loop.js): the next page is requested before this one
// is applied, used only when it is the request the core makes after applying, and dropped
// without a trace when its predecessor fails. Against the real core, and against a scripted one
// for the orders and failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModule, CoreDb } from '../../js/core.js';
import { pullPages } from '../../js/client/pull-loop.js';

const mod = await loadModule();
const serverMod = await loadModule('server');
const schema = { collections: { notes: { fields: { title: 'lww', votes: 'counter' }, search: ['title'], indexes: ['votes'] } } };
const ctx = (c) => JSON.stringify({ user: 'u', device: c.device });

/** A server holding n notes written by one client, and a second, empty client. */
function world(n) {
  const server = CoreDb.open(serverMod, { role: 'server', schema });
  const writer = CoreDb.open(mod, { schema });
  const reader = CoreDb.open(mod, { schema });
  writer.transaction(() => { for (let i = 0; i < n; i++) writer.put('notes', `n${i}`, { title: `note ${i}`, votes: i % 3 }); });
  for (let body; (body = writer.pushBegin(500));) writer.pushEnd(server.serverPush(body, ctx(writer)));
  return { server, writer, reader, close: () => [server, writer, reader].forEach((d) => d.close()) };
}

const dump = (db) => JSON.stringify(db.sql("SELECT id, doc FROM records WHERE coll = 'notes' ORDER BY id"));

test('every page but the last is read ahead, and the replica ends equal to the server', async () => {
  const w = world(95);
  try {
    const order = [];
    const call = (method, ...args) => {
      if (method === 'pullApply') order.push('apply');
      return w.reader[method](...args);
    };
    const post = async (body) => {
      order.push(`post ${JSON.parse(body).cursor}`);
      return w.server.serverPull(body, ctx(w.reader));
    };
    const { pages, readAhead } = await pullPages({ call, post, pageSize: 10 });
    assert.equal(pages, 10);
    assert.equal(readAhead, 9);
    // Page 2 is asked for before page 1 is applied, and so on.
    assert.equal(order[0], 'post 0');
    assert.match(order[1], /^post [1-9]/);
    assert.equal(order[2], 'apply');
    assert.equal(order.filter((o) => o === 'apply').length, 10);
    assert.equal(order.filter((o) => o.startsWith('post')).length, 10);
    assert.equal(dump(w.reader), dump(w.writer));
    assert.equal(w.reader.sql("SELECT count(*) FROM records WHERE coll = 'notes'")[0][0], 95);
  } finally {
    w.close();
  }
});

/** A scripted core: answers are page numbers; pullRequest is the cursor; apply advances it. */
function scripted({ pages, guessWrongAt = 0, applyFailsAt = 0 }) {
  const state = { cursor: 0, applied: [], posts: [] };
  const call = async (method, arg) => {
    if (method === 'pullRequest') return `c${state.cursor}`;
    if (method === 'pullRequestNext') {
      const n = Number(arg);
      if (n === pages) return null;
      return n === guessWrongAt ? `c${n}-wrong` : `c${n}`;
    }
    if (method === 'pullApply') {
      const n = Number(arg);
      if (n === applyFailsAt) throw new Error(`page ${n} refused`);
      state.applied.push(n);
      state.cursor = n;
      return n < pages;
    }
    throw new Error(`unexpected ${method}`);
  };
  const post = async (body) => {
    state.posts.push(body);
    if (body.endsWith('-wrong')) throw new Error('a request nobody should wait for');
    return String(Number(body.slice(1)) + 1);
  };
  return { state, call, post };
}

test('a read-ahead that is not the request made after applying is dropped and asked again', async () => {
  const s = scripted({ pages: 5, guessWrongAt: 2 });
  const result = await pullPages({ call: s.call, post: s.post, pageSize: 10 });
  assert.deepEqual(s.state.applied, [1, 2, 3, 4, 5]);
  assert.deepEqual(result, { pages: 5, readAhead: 3 });
  assert.deepEqual(s.state.posts, ['c0', 'c1', 'c2-wrong', 'c2', 'c3', 'c4']);
});

test('a page that fails to apply stops the loop with its error; the page read ahead is dropped', async () => {
  const s = scripted({ pages: 6, applyFailsAt: 3 });
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await assert.rejects(pullPages({ call: s.call, post: s.post, pageSize: 10 }), /page 3 refused/);
    await new Promise((resolve) => setTimeout(resolve, 20));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(s.state.applied, [1, 2]);
  assert.equal(s.state.cursor, 2);
  assert.deepEqual(unhandled, []);
});

test('a read-ahead that fails surfaces only when its answer is needed', async () => {
  const s = scripted({ pages: 3 });
  const post = async (body) => {
    if (body === 'c2') throw new Error('offline');
    return s.post(body);
  };
  await assert.rejects(pullPages({ call: s.call, post, pageSize: 10 }), /offline/);
  assert.deepEqual(s.state.applied, [1, 2]);
});
