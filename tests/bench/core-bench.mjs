// core-bench.mjs -- the same measurements as core_bench.c, through the WASM build in Node:
// local writes with their operation-log entries (1 and 1,000 per transaction) and server-side
// apply of pushed operations in batches of 1, 100 and 1,000. Medians of 5 runs, as JSON.
import { loadModule, CoreDb } from '../../js/core.js';

const RUNS = 5;
const schema = { collections: { notes: { fields: { title: 'lww', body: 'lww', votes: 'counter', tags: 'set' }, search: ['title', 'body'] } } };
const mod = await loadModule();
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
  const server = CoreDb.open(mod, { role: 'server', schema });
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

const r = { one: [], thousand: [], a1: [], a100: [], a1000: [] };
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
}));
