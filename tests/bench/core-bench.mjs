// core-bench.mjs -- the same measurements as core_bench.c, through the WASM build in Node:
// local writes with their operation-log entries (1 and 1,000 per transaction), server-side
// apply of pushed operations in batches of 1, 100 and 1,000, a client applying pulled pages of
// 1,000 records that have no local operations (and with the search index's catch-up after
// them), and the bytes SQLite stores per record (dbstat).
// Medians of 5 runs, as JSON. It loads the bench's modules (build/bench/wasm/sloop-{client,server}:
// the shipped sources plus SQLite's dbstat table), which `make bench-core` builds; BENCH_WASM_DIR
// names another folder of the two, to compare builds.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CoreDb, adoptModule } from '../../js/core.js';
import { record } from '../../bench/data.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const schema = { collections: { notes: { fields: { title: 'lww', body: 'lww', votes: 'counter', tags: 'set' }, search: ['title', 'body'] } } };
const appSchema = JSON.parse(await readFile(new URL('../../web/schema.json', import.meta.url), 'utf8'));
const dir = new URL(process.env.BENCH_WASM_DIR ? `file://${resolve(process.env.BENCH_WASM_DIR)}/` : '../../build/bench/wasm/', import.meta.url);
const load = async (role) => adoptModule(await (await import(new URL(`sloop-${role}.js`, dir).href)).default(
  { wasmBinary: await readFile(new URL(`sloop-${role}.wasm`, dir)) }), role);
const mod = await load('client');
const serverMod = await load('server');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function benchWrites(n, perTx) {
  const db = CoreDb.open(mod, { schema });
  const t0 = performance.now();
  const write = (i) => db.put('notes', `n${i}`, { title: `Inspection ${i}`, body: `Valve ${i % 97} checked, pressure nominal`, votes: i % 7 });
  if (perTx === 1) for (let i = 0; i < n; i++) write(i);
  else for (let i = 0; i < n; i += perTx) db.transaction(() => { for (let j = i; j < Math.min(n, i + perTx); j++) write(j); });
  const rate = n / ((performance.now() - t0) / 1000);
  db.close();
  return rate;
}

function benchApply(n, batch) {
  const client = CoreDb.open(mod, { schema });
  const server = CoreDb.open(serverMod, { role: 'server', schema });
  const ctx = JSON.stringify({ user: 'u', device: client.device });
  client.transaction(() => {
    for (let i = 0; i < 100; i++) client.put('notes', `n${i}`, { title: 't' });
    for (let i = 0; i < n; i++) client.patch('notes', `n${i % 100}`, { title: `t${i}`, votes: { $inc: 1 }, tags: { $add: [`g${i % 5}`] } });
  });
  client.pushEnd(server.serverPush(client.pushBegin(100), ctx));
  let serverMs = 0;
  let applied = 0;
  for (let body; (body = client.pushBegin(batch));) {
    const t0 = performance.now();
    const answer = server.serverPush(body, ctx);
    serverMs += performance.now() - t0;
    applied += batch;
    client.pushEnd(answer);
  }
  client.close();
  server.close();
  return Math.min(applied, n) / (serverMs / 1000);
}

/** A server holding notes 0..n-1 of make bench, pushed by one client in batches of 1,000. */
function serverWithNotes(n) {
  const writer = CoreDb.open(mod, { schema: appSchema });
  const server = CoreDb.open(serverMod, { role: 'server', schema: appSchema });
  const ctx = JSON.stringify({ user: 'u', device: writer.device });
  for (let i = 0; i < n; i += 1000) {
    writer.transaction(() => { for (let j = i; j < Math.min(n, i + 1000); j++) writer.put('notes', record(j).id, record(j).doc); });
  }
  for (let body; (body = writer.pushBegin(1000));) writer.pushEnd(server.serverPush(body, ctx));
  writer.close();
  return server;
}

/** The pages a fresh client pulls from the server, 1,000 records each. */
function serverPages(server) {
  const probe = CoreDb.open(mod, { schema: appSchema });
  const ctx = JSON.stringify({ user: 'u', device: probe.device });
  const pages = [];
  for (let more = true; more;) {
    const page = server.serverPull(probe.pullRequest(1000), ctx);
    more = probe.pullApply(page);
    pages.push(page);
  }
  probe.close();
  return pages;
}

/**
 * Applies the pages to a fresh client: records per second, the same with the search index's
 * catch-up after them (the pages leave the index behind: wasm/src/fts_behind.c), and SQLite's
 * bytes per record once the index is whole.
 */
function benchPull(pages) {
  const db = CoreDb.open(mod, { schema: appSchema });
  const t0 = performance.now();
  for (const page of pages) db.pullApply(page);
  const seconds = (performance.now() - t0) / 1000;
  // A module from before the catch-up existed (through BENCH_WASM_DIR) indexes as it pulls.
  if (mod._sloop_search_catch_up) while (db.searchCatchUp(2000));
  const indexedSeconds = (performance.now() - t0) / 1000;
  const [[records]] = db.sql('SELECT count(*) FROM records');
  const [[entries]] = db.sql('SELECT count(*) FROM records_fts');
  if (entries !== records) throw new Error(`the search index holds ${entries} of ${records} records after the catch-up`);
  // A module built without dbstat (a shipped one, through BENCH_WASM_DIR) has no byte count.
  const bytes = hasDbstat(db) ? db.sql('SELECT sum(pgsize) FROM dbstat')[0][0] : null;
  db.close();
  return { rate: records / seconds, indexed: records / indexedSeconds, bytesPerRecord: bytes === null ? null : bytes / records };
}

function hasDbstat(db) {
  try {
    db.sql('SELECT 1 FROM dbstat LIMIT 1');
    return true;
  } catch {
    return false;
  }
}

const r = { one: [], thousand: [], a1: [], a100: [], a1000: [], pull: [], pullIndexed: [], bytes: [] };
const server = serverWithNotes(10000);
const pages = serverPages(server);
server.close();
for (let i = 0; i < RUNS; i++) {
  const { rate, indexed, bytesPerRecord } = benchPull(pages);
  r.pull.push(rate);
  r.pullIndexed.push(indexed);
  r.bytes.push(bytesPerRecord);
}
let noteBytes = 0;
for (let i = 0; i < 100; i++) noteBytes += JSON.stringify(record(i).doc).length;
for (let i = 0; i < RUNS; i++) {
  r.one.push(benchWrites(5000, 1));
  r.thousand.push(benchWrites(20000, 1000));
  r.a1.push(benchApply(2000, 1));
  r.a100.push(benchApply(10000, 100));
  r.a1000.push(benchApply(10000, 1000));
}
console.log(JSON.stringify({
  runtime: 'wasm-node',
  writesPerSec1PerTx: Math.round(median(r.one)),
  writesPerSec1000PerTx: Math.round(median(r.thousand)),
  applyOpsPerSecBatch1: Math.round(median(r.a1)),
  applyOpsPerSecBatch100: Math.round(median(r.a100)),
  applyOpsPerSecBatch1000: Math.round(median(r.a1000)),
  pullApplyPerSec: Math.round(median(r.pull)),
  pullIndexedPerSec: Math.round(median(r.pullIndexed)),
  bytesPerRecord: r.bytes[0] === null ? null : Math.round(median(r.bytes)),
  noteJsonBytes: Math.round(noteBytes / 100),
}));
