/**
 * sqlite-worker.js -- @sqlite.org/sqlite-wasm as its documentation recommends for persistence:
 * in a worker, on the OPFS VFS (which needs a cross-origin-isolated page), with prepared
 * statements and one transaction per bulk write. Declared indexes on status and updatedAt and
 * an FTS5 external-content table kept by triggers (SQLite's documented pattern). Messages:
 * {id, op, args} -> {id, result} | {id, error}.
 */
import sqlite3InitModule from '/sqlite/sqlite3.mjs';

const ready = sqlite3InitModule({ print: () => {}, printErr: () => {} });
const dbs = new Map();

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS notes(id TEXT PRIMARY KEY, title TEXT, body TEXT, site TEXT, status TEXT,
    updatedAt INTEGER, createdBy TEXT);
  CREATE INDEX IF NOT EXISTS notes_status ON notes(status);
  CREATE INDEX IF NOT EXISTS notes_updated ON notes(updatedAt);
  CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(title, body, site, content='notes', content_rowid='rowid');
  CREATE TRIGGER IF NOT EXISTS notes_ai AFTER INSERT ON notes BEGIN
    INSERT INTO notes_fts(rowid, title, body, site) VALUES (new.rowid, new.title, new.body, new.site);
  END;`;
const INSERT = 'INSERT INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)';
const bind = (r) => [r.id, r.doc.title, r.doc.body, r.doc.site, r.doc.status, r.doc.updatedAt, r.doc.createdBy];

function db(sqlite3, name) {
  if (!dbs.has(name)) {
    if (!sqlite3.oo1.OpfsDb) throw new Error('no OPFS VFS (is the page cross-origin isolated?)');
    const d = new sqlite3.oo1.OpfsDb(`/${name}.sqlite3`);
    d.exec(SCHEMA);
    dbs.set(name, d);
  }
  return dbs.get(name);
}

function insertAll(d, rows) {
  const st = d.prepare(INSERT);
  try {
    for (const r of rows) st.bind(bind(r)).stepReset();
  } finally {
    st.finalize();
  }
}

const rowsOf = (d, sql, bindings) => d.exec({ sql, bind: bindings, rowMode: 'object', returnValue: 'resultRows' });

const ops = {
  open: (s, name) => { db(s, name); },
  close: (s, name) => { dbs.get(name)?.close(); dbs.delete(name); },
  async destroy(s, name) {
    ops.close(s, name);
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(`${name}.sqlite3`).catch(() => {});
  },
  put: (s, name, r) => { insertAll(db(s, name), [r]); },
  bulk: (s, name, rows) => { const d = db(s, name); d.transaction(() => insertAll(d, rows)); },
  query: (s, name, status, limit) =>
    rowsOf(db(s, name), `SELECT * FROM notes WHERE status = ?${limit ? ` LIMIT ${limit}` : ''}`, [status]),
  search: (s, name, word) => rowsOf(db(s, name),
    'SELECT notes.* FROM notes_fts JOIN notes ON notes.rowid = notes_fts.rowid WHERE notes_fts MATCH ? ORDER BY rank LIMIT 50', [word]),
};

onmessage = async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, result: await ops[op](await ready, ...args) });
  } catch (e) {
    postMessage({ id, error: String(e?.message ?? e) });
  }
};
