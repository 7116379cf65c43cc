/**
 * wire-size.mjs -- bytes on the wire per pulled record, and what compressing a pull page
 * costs the server. A measuring tool, not a test: nothing here passes or fails.
 *
 *   node tests/bench/wire-size.mjs [--records 10000] [--page 1000] [--runs 20] [--json]
 *
 * Seeds a tenant with the benchmark's notes (bench/data.js, web/schema.json), starts the real
 * server (C core, file VFS) on loopback and pulls every page three times, identity, gzip and
 * br, in each protocol version (v1: the state as JSON; v2: the compact form), counting the answer's body bytes as they arrive on the socket (headers add ~250 bytes a
 * page). Then, on one full v2 page, the CPU time of each compression level (median of `runs`),
 * which is how the server's levels (js/server/compress.js) were chosen.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { record } from '../../bench/data.js';
import { seedSloop } from '../../bench/seed-sloop.js';
import { createSyncServer } from '../../js/server/sync-server.js';
import { coreStoreOpener } from '../../js/server/core-store.js';

const { values: opt } = parseArgs({
  options: {
    records: { type: 'string', default: '10000' },
    page: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const n = Number(opt.records);
const pageSize = Number(opt.page);
const runs = Number(opt.runs);

const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));
const users = JSON.parse(readFileSync(new URL('../../js/server/demo-users.json', import.meta.url), 'utf8'));

/** One POST over raw node:http: the status, headers and the body bytes as sent. */
function post(url, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU ms (user + system) of one synchronous call, median of `runs` (of 3 for a slow one). */
function cpuMs(fn) {
  const times = [];
  for (let i = 0, spent = 0; i < runs && !(i >= 3 && spent > 2000); i++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    times.push((d.user + d.system) / 1000);
    spent += times[i];
  }
  return median(times);
}

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-wire-'));
try {
  await seedSloop({ dataDir, schema, n });
  const sync = createSyncServer({
    users, secret: 'wire-size-secret-0123456789abcdef0123456789', openTenantStore: coreStoreOpener({ dataDir, schema }),
  });
  const url = await sync.listen({ port: 0 });
  try {
    const device = 'wire1';
    const loginRes = await post(url, '/v1/login', {}, { user: 'alice', password: 'alice-sloop-demo', device });
    if (loginRes.status !== 200) throw new Error(`login: ${loginRes.status} ${loginRes.bytes}`);
    const { token } = JSON.parse(loginRes.bytes.toString());
    const auth = { authorization: `Bearer ${token}` };
    /** Pulls everything as a fresh device asking for protocol `v`: bytes per encoding. */
    async function pullAll(v) {
      const totals = { identity: 0, gzip: 0, br: 0 };
      let records = 0;
      const wallMs = {};
      const parsedFull = (a) => a && JSON.parse(a.bytes.toString()).changes.length === pageSize;
      let page = null;
      for (let cursor = 0, more = true; more;) {
        const body = { v, device, cursor, limit: pageSize, fresh: true };
        const answers = {};
        for (const enc of Object.keys(totals)) {
          const t0 = performance.now();
          answers[enc] = await post(url, '/v1/pull', { ...auth, 'accept-encoding': enc }, body);
          if (answers[enc].status !== 200) throw new Error(`pull ${enc}: ${answers[enc].status} ${answers[enc].bytes}`);
          const got = answers[enc].headers['content-encoding'] ?? 'identity';
          if (got !== enc) throw new Error(`asked for ${enc}, got ${got}`);
          totals[enc] += answers[enc].bytes.length;
          if (parsedFull(answers.identity)) (wallMs[enc] ??= []).push(performance.now() - t0);
        }
        const parsed = JSON.parse(answers.identity.bytes.toString());
        records += parsed.changes.length;
        if (page === null && parsed.changes.length === pageSize) page = answers.identity.bytes;
        cursor = parsed.cursor;
        more = parsed.hasMore;
      }
      return { totals, records, wallMs, page };
    }
    // v1 (the state as JSON, what installed clients of before v2 ask for) and v2 (compact).
    const byVersion = { 1: await pullAll(1), 2: await pullAll(2) };
    const { records, page } = byVersion[2];
    let docBytes = 0;
    for (let i = 0; i < n; i++) docBytes += Buffer.byteLength(JSON.stringify(record(i).doc));
    const docJson = Math.round(docBytes / n);

    const levels = [];
    if (page) {
      for (const level of [1, 4, 6, 9]) {
        const out = gzipSync(page, { level });
        levels.push({ encoding: 'gzip', level, bytesPerRecord: Math.round(out.length / pageSize), cpuMsPerPage: cpuMs(() => gzipSync(page, { level })) });
      }
      for (const quality of [1, 4, 5, 6, 9, 11]) {
        const params = { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT };
        const out = brotliCompressSync(page, { params });
        levels.push({ encoding: 'br', level: quality, bytesPerRecord: Math.round(out.length / pageSize), cpuMsPerPage: cpuMs(() => brotliCompressSync(page, { params })) });
      }
    }
    const versions = Object.fromEntries(Object.entries(byVersion).map(([v, r]) => {
      const perRecord = Object.fromEntries(Object.entries(r.totals).map(([k, b]) => [k, Math.round(b / r.records)]));
      return [v, {
        perRecord,
        ratio: Object.fromEntries(Object.entries(perRecord).map(([k, b]) => [k, +(b / docJson).toFixed(2)])),
        pullMs: Object.fromEntries(Object.entries(r.wallMs).map(([k, ms]) => [k, +median(ms).toFixed(1)])),
      }];
    }));
    const result = { records, pageSize, docJson, versions, levels };
    if (opt.json) {
      console.log(JSON.stringify(result));
    } else {
      console.log(`${records} records in pages of ${pageSize}; document JSON ${docJson} B/record`);
      for (const [v, r] of Object.entries(versions)) {
        console.log(`protocol v${v}:`);
        for (const [k, b] of Object.entries(r.perRecord)) console.log(`  ${k.padEnd(8)} ${String(b).padStart(5)} B/record  (${r.ratio[k]}x the document)`);
        console.log(`  one full page, request to last byte on loopback (ms, median): ${JSON.stringify(r.pullMs)}`);
      }
      console.log('compression of one full v2 page (CPU ms, median):');
      for (const l of levels) console.log(`  ${l.encoding.padEnd(4)} ${String(l.level).padStart(2)}  ${String(l.bytesPerRecord).padStart(4)} B/record  ${l.cpuMsPerPage.toFixed(1).padStart(6)} ms`);
    }
  } finally {
    await sync.close();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
