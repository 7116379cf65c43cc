/**
 * text-trace.mjs -- `make bench-text`: Sloop's sequence CRDT beside Yjs and Automerge on the
 * automerge-paper editing trace (259,778 single-character edits; tests/fixtures/editing-traces).
 *
 * For each system, in one run on one machine:
 *   local apply   every patch as a local edit, in order;
 *   remote merge  the operations those edits made, applied to an empty replica (a device that was
 *                 offline for the whole session and receives everything at once);
 *   encoded       the bytes of the final state as each library stores it;
 *   memory        what the final document holds, and the process's peak RSS.
 * Sloop runs natively (build/bench/text_bench) and in WASM (build/bench/text-bench.js, the
 * shipped module's flags); tests/bench/text_bench.c says what it measures and checks.
 *
 * Each measurement runs in a fresh child process, one per system per round, the systems in an
 * order rotated from round to round, so every system sees the same machine noise and none
 * inherits another's heap. Every child first makes its remote operations in an untimed pass
 * (which also warms the JIT), then times the local apply and the remote merge, and checks both
 * replicas' text against the trace's end text: a wrong text fails the bench. Memory is measured
 * once per system in a child of its own, before anything else runs in it, as Automerge's WASM
 * memory never shrinks. Medians of --runs rounds (default 5).
 *
 * How each library is driven:
 *   Yjs           Y.Text insert/delete, one transaction per edit; the remote operations are the
 *                 per-edit updates (doc.on('update')), applied one by one with Y.applyUpdate.
 *   Automerge     local apply: all edits as splices in one Automerge.change, as Automerge's own
 *                 edit-trace benchmark does (one change per edit, the figure comparable to the
 *                 others' per-edit operations, is reported too: "automerge per-edit"). Remote: the per-edit changes (getChanges) applied with
 *                 applyChanges, the path the sync protocol takes, all in one call: fed to
 *                 loadIncremental one change at a time, the merge is quadratic (50,000 changes
 *                 took six minutes). loadIncremental of their concatenation is reported too.
 *   Sloop         positions to ids with seq_ids_in / seq_origins_at, one operation per insertion
 *                 and per deleted range, applied one by one with seq_insert / seq_delete.
 * Encoded size: Y.encodeStateAsUpdate, Automerge.save, seq_encode (whole; the form without
 * the visible text, which a Sloop record stores beside its text, is reported too). Yjs's
 * second format (encodeStateAsUpdateV2) is about half the size of its first on this trace, so
 * the size target is reported against both.
 * Memory: Sloop, seq_memory (the sequence's heap, exact); Yjs, the JS heap's growth after GC
 * holding the document (--expose-gc); Automerge, the growth of heap plus external memory (its
 * WASM memory), an upper bound as that memory keeps the apply's peak.
 *
 * Ratios are peer / Sloop, for times, bytes and memory alike (as bench/run.mjs): above 1, Sloop
 * is ahead. The targets (docs, issue) are reported, never asserted.
 *
 *   node tests/bench/text-trace.mjs [--runs N] [--json] [--only sloop-native,yjs,...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TRACE = 'automerge-paper';
const traceJson = `${root}tests/fixtures/editing-traces/${TRACE}.json.gz`;
const traceFlat = `${root}build/traces/${TRACE}.trace`;
const nativeBench = `${root}build/bench/text_bench`;
const wasmBench = `${root}build/bench/text-bench.js`;
const SYSTEMS = ['sloop-native', 'sloop-wasm', 'yjs', 'automerge'];

const args = process.argv.slice(2);
const option = (name) => { const i = args.indexOf(name); return i < 0 ? null : args[i + 1]; };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---------------------------------------------------------------- children -----------------

function loadTrace() {
  const trace = JSON.parse(gunzipSync(readFileSync(traceJson)).toString('utf8'));
  return { patches: trace.txns.flatMap((txn) => txn.patches), endContent: trace.endContent };
}

const gc = () => { globalThis.gc(); globalThis.gc(); };
const heapNow = () => { const m = process.memoryUsage(); return { heap: m.heapUsed, external: m.external }; };
const peakRss = () => process.resourceUsage().maxRSS * 1024;

function checkText(system, which, text, endContent) {
  if (text !== endContent) throw new Error(`${system}: ${which} replica's text differs from the trace's end text`);
}

async function yjsChild(phase) {
  const Y = await import('yjs');
  const { patches, endContent } = loadTrace();
  const applyLocal = () => {
    const doc = new Y.Doc();
    const text = doc.getText('text');
    for (const [pos, del, ins] of patches) {
      if (del) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    }
    return doc;
  };
  if (phase === 'memory') {
    gc();
    const before = heapNow();
    const doc = applyLocal();
    gc();
    const after = heapNow();
    checkText('yjs', 'local', doc.getText('text').toString(), endContent);
    return { retainedBytes: after.heap - before.heap, peakRssBytes: peakRss() };
  }
  const updates = [];
  const recorder = new Y.Doc();
  recorder.on('update', (update) => updates.push(update));
  const recorderText = recorder.getText('text');
  for (const [pos, del, ins] of patches) {
    if (del) recorderText.delete(pos, del);
    if (ins) recorderText.insert(pos, ins);
  }
  recorder.destroy();

  let t0 = performance.now();
  const local = applyLocal();
  const localMs = performance.now() - t0;
  t0 = performance.now();
  const remote = new Y.Doc();
  for (const update of updates) Y.applyUpdate(remote, update);
  const remoteMs = performance.now() - t0;
  checkText('yjs', 'local', local.getText('text').toString(), endContent);
  checkText('yjs', 'remote', remote.getText('text').toString(), endContent);
  return {
    localMs, remoteMs, remoteOps: updates.length,
    encodedBytes: Y.encodeStateAsUpdate(local).length, encodedV2Bytes: Y.encodeStateAsUpdateV2(local).length,
  };
}

async function automergeChild(phase) {
  const A = await import('@automerge/automerge');
  const { patches, endContent } = loadTrace();
  const applyLocal = () => A.change(A.from({ text: '' }), (d) => {
    for (const [pos, del, ins] of patches) A.splice(d, ['text'], pos, del, ins);
  });
  if (phase === 'memory') {
    gc();
    const before = heapNow();
    const doc = applyLocal();
    gc();
    const after = heapNow();
    checkText('automerge', 'local', doc.text, endContent);
    return { retainedBytes: after.heap + after.external - before.heap - before.external, peakRssBytes: peakRss() };
  }
  // The untimed pass that makes the remote operations; its edit loop is the per-edit figure.
  let t0 = performance.now();
  let perEdit = A.from({ text: '' });
  for (const [pos, del, ins] of patches) perEdit = A.change(perEdit, (d) => A.splice(d, ['text'], pos, del, ins));
  const localPerEditMs = performance.now() - t0;
  const changes = A.getChanges(A.init(), perEdit);
  checkText('automerge', 'per-edit', perEdit.text, endContent);
  const perEditEncodedBytes = A.save(perEdit).length;
  A.free(perEdit);

  t0 = performance.now();
  const local = applyLocal();
  const localMs = performance.now() - t0;
  t0 = performance.now();
  const [remote] = A.applyChanges(A.init(), changes);
  const remoteMs = performance.now() - t0;
  const concatenated = Buffer.concat(changes);
  t0 = performance.now();
  const loaded = A.loadIncremental(A.init(), concatenated);
  const remoteLoadIncrementalMs = performance.now() - t0;
  checkText('automerge', 'local', local.text, endContent);
  checkText('automerge', 'remote', remote.text, endContent);
  checkText('automerge', 'loadIncremental', loaded.text, endContent);
  return {
    localMs, localPerEditMs, remoteMs, remoteLoadIncrementalMs, remoteOps: changes.length,
    encodedBytes: A.save(local).length, perEditEncodedBytes,
  };
}

/** Runs text_bench.c's WASM build in this process: the trace goes into its heap. */
async function sloopWasmChild(phase) {
  const lines = [];
  const { default: createTextBench } = await import(wasmBench);
  const mod = await createTextBench({
    wasmBinary: readFileSync(wasmBench.replace(/\.js$/, '.wasm')),
    print: (line) => lines.push(line),
    printErr: (line) => process.stderr.write(`${line}\n`),
  });
  const flat = readFileSync(traceFlat);
  const label = Buffer.from('sloop-wasm\0');
  const flatPtr = mod._malloc(flat.length);
  const labelPtr = mod._malloc(label.length);
  try {
    mod.HEAPU8.set(flat, flatPtr);
    mod.HEAPU8.set(label, labelPtr);
    if (mod._text_bench(flatPtr, flat.length, phase === 'memory' ? 0 : 1, labelPtr)) throw new Error('sloop-wasm: text_bench failed');
  } finally {
    mod._free(flatPtr);
    mod._free(labelPtr);
  }
  return { ...fromSloop(JSON.parse(lines.join('\n'))), peakRssBytes: peakRss() };
}

/** Sloop's JSON (text_bench.c) in the children's common shape. */
function fromSloop(r) {
  if (r.runs === 0) return { retainedBytes: r.seqMemoryLocal, peakRssBytes: r.peakRssKiB * 1024, wasmHeapBytes: r.wasmHeapBytes };
  return {
    localMs: r.localMsMedian, remoteMs: r.remoteMsMedian, remoteOps: r.remoteOps, encodedBytes: r.encodedBytes,
    encodedOmitVisibleBytes: r.encodedOmitVisibleBytes, encodeMs: r.encodeMsMedian, decodeMs: r.decodeMsMedian,
    seqRuns: r.seqRuns, seqMemoryRemote: r.seqMemoryRemote,
  };
}

// ---------------------------------------------------------------- the parent --------------

/** One measurement in a fresh process: the parsed JSON it prints. */
function measure(system, phase) {
  const child = system === 'sloop-native'
    ? spawnSync(nativeBench, [traceFlat, '--runs', phase === 'memory' ? '0' : '1'], { encoding: 'utf8', maxBuffer: 1 << 24 })
    : spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', system, phase],
      { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (child.status !== 0) throw new Error(`${system} (${phase}) failed:\n${child.stderr}${child.error ?? ''}`);
  const result = JSON.parse(child.stdout);
  return system === 'sloop-native' ? fromSloop(result) : result;
}

function collect(systems, runs) {
  const timings = Object.fromEntries(systems.map((s) => [s, []]));
  for (let round = 0; round < runs; round++) {
    for (let k = 0; k < systems.length; k++) {
      const system = systems[(round + k) % systems.length];
      timings[system].push(measure(system, 'time'));
      process.stderr.write(`round ${round + 1}/${runs}: ${system} done\n`);
    }
  }
  const results = {};
  for (const system of systems) {
    const medians = {};
    for (const key of Object.keys(timings[system][0])) {
      const values = timings[system].map((r) => r[key]);
      medians[key] = key.endsWith('Ms') ? median(values) : values[0];
    }
    results[system] = { ...medians, ...measure(system, 'memory'), runs: timings[system] };
  }
  return results;
}

/** Peer / Sloop for each pair that was measured. */
function ratios(results) {
  const out = {};
  const ratio = (peer, sloop, key) => (results[peer] && results[sloop] ? results[peer][key] / results[sloop][key] : null);
  for (const sloop of ['sloop-native', 'sloop-wasm']) {
    for (const peer of ['yjs', 'automerge']) {
      if (!results[peer] || !results[sloop]) continue;
      out[`${peer}/${sloop}`] = {
        localMs: ratio(peer, sloop, 'localMs'), remoteMs: ratio(peer, sloop, 'remoteMs'),
        encodedBytes: ratio(peer, sloop, 'encodedBytes'), retainedBytes: ratio(peer, sloop, 'retainedBytes'),
      };
    }
    if (results.yjs && results[sloop]) out[`yjs/${sloop}`].encodedV2Bytes = results.yjs.encodedV2Bytes / results[sloop].encodedBytes;
  }
  if (results.automerge && results['sloop-wasm']) out['automerge per-edit/sloop-wasm'] = { localMs: results.automerge.localPerEditMs / results['sloop-wasm'].localMs };
  return out;
}

/** The issue's targets, as measured: reported, never asserted. */
function targets(results, r) {
  const native = results['sloop-native'];
  const wasm = results['sloop-wasm'];
  const list = [];
  const add = (what, value, met) => list.push({ what, value, met });
  if (native) add('native local apply <= 1 s', `${native.localMs.toFixed(0)} ms`, native.localMs <= 1000);
  if (wasm && results.automerge) add('WASM local apply ahead of Automerge', `automerge/sloop ${r['automerge/sloop-wasm'].localMs.toFixed(2)}`, r['automerge/sloop-wasm'].localMs > 1);
  if (wasm && results.yjs) add('WASM local apply within 2x of Yjs', `yjs/sloop ${r['yjs/sloop-wasm'].localMs.toFixed(2)}`, r['yjs/sloop-wasm'].localMs >= 0.5);
  const sloop = native ?? wasm;
  for (const [format, key] of [['', 'encodedBytes'], [' (its V2 format)', 'encodedV2Bytes']]) {
    if (sloop && results.yjs) add(`encoded state <= 2x Yjs${format}`, `yjs/sloop ${(results.yjs[key] / sloop.encodedBytes).toFixed(2)}`, results.yjs[key] / sloop.encodedBytes >= 0.5);
  }
  for (const [name, s] of [['native', native], ['WASM', wasm]]) {
    if (s) add(`${name} remote merge <= 2x local apply`, `remote/local ${(s.remoteMs / s.localMs).toFixed(2)}`, s.remoteMs <= 2 * s.localMs);
  }
  return list;
}

function printTable(results, r, t, runs) {
  const ms = (v) => (v == null ? '' : `${v.toFixed(v < 100 ? 1 : 0)} ms`);
  const kib = (v) => (v == null ? '' : `${(v / 1024).toFixed(0)} KiB`);
  const mib = (v) => (v == null ? '' : `${(v / 1048576).toFixed(1)} MiB`);
  const rows = [['system', 'local apply', 'remote merge', 'encoded', 'memory', 'peak RSS']];
  for (const [system, x] of Object.entries(results)) {
    rows.push([system, ms(x.localMs), ms(x.remoteMs), kib(x.encodedBytes), kib(x.retainedBytes), mib(x.peakRssBytes)]);
    if (system === 'yjs') rows.push(['yjs V2 format', '', '', kib(x.encodedV2Bytes), '', '']);
    if (system === 'automerge') rows.push(['automerge per-edit', ms(x.localPerEditMs), ms(x.remoteLoadIncrementalMs), kib(x.perEditEncodedBytes), '', '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  console.log(`${TRACE}: ${loadTrace().patches.length.toLocaleString('en')} edits; medians of ${runs} round${runs === 1 ? '' : 's'}`);
  for (const row of rows) console.log(row.map((cell, i) => (i ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  '));
  if (results.automerge) console.log('(automerge per-edit: one change per edit; its remote column is loadIncremental of the concatenated changes)');
  for (const s of ['sloop-native', 'sloop-wasm']) {
    if (results[s]?.encodedOmitVisibleBytes) console.log(`${s}: encoded without the visible text ${kib(results[s].encodedOmitVisibleBytes)}; encode ${ms(results[s].encodeMs)}, decode ${ms(results[s].decodeMs)}`);
  }
  console.log('\nratios (peer / Sloop; above 1, Sloop is ahead)');
  for (const [pair, x] of Object.entries(r)) {
    console.log(`  ${pair.padEnd(30)} ${Object.entries(x).map(([k, v]) => `${k} ${v == null ? '-' : v.toFixed(2)}`).join('  ')}`);
  }
  console.log('\ntargets');
  for (const x of t) console.log(`  ${x.met ? 'met    ' : 'NOT met'}  ${x.what}: ${x.value}`);
}

async function main() {
  if (args[0] === '--child') {
    const [, system, phase] = args;
    const run = { yjs: yjsChild, automerge: automergeChild, 'sloop-wasm': sloopWasmChild }[system];
    process.stdout.write(JSON.stringify(await run(phase)));
    return;
  }
  const runs = Number(option('--runs') ?? 5);
  const systems = option('--only')?.split(',') ?? SYSTEMS;
  for (const file of [traceFlat, nativeBench, wasmBench]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run make bench-text`);
  }
  const results = collect(systems, runs);
  const r = ratios(results);
  const t = targets(results, r);
  const report = { date: new Date().toISOString(), node: process.version, trace: TRACE, runs, results, ratios: r, targets: t };
  if (args.includes('--json')) console.log(JSON.stringify(report, null, 2));
  else printTable(results, r, t, runs);
  // `make bench` keeps the run beside its other results (bench/text-results.json).
  const out = option('--write');
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
}

await main();
