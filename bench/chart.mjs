/**
 * chart.mjs -- draws bench/results.json as an SVG bar chart: one row per scenario and peer,
 * the bar the ratio peer / Sloop on a log scale around 1 (right of the line: Sloop ahead).
 * `node bench/chart.mjs [results.json]` redraws bench/chart.svg beside the results and prints
 * them as a Markdown table (the one in README.md).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROW = 22;
const LABEL = 300;
const PLOT = 420;
const LIMIT = 64; // the axis spans 1/64 .. 64; bars beyond are clipped and marked

/** Row labels: the scenario's number comes from its title. */
const SHORT = {
  write1: 'single durable writes', bulk: 'bulk insert', query: 'indexed query', search: 'full-text search',
  sync: 'initial sync', push: 'push offline operations', cold: 'cold start', bytes: 'first-visit bytes', memory: 'memory after sync',
};
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
const fmt = (r) => (r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r >= 0.01 ? r.toFixed(2) : r.toPrecision(1));

/**
 * @param {{scenarios: Array<{title: string, ratios: Record<string, number>}>, date: string, scale: number, runs: number}} results
 * @returns {string} the SVG document
 */
export function renderChart(results) {
  const rows = results.scenarios.flatMap((s) => Object.entries(s.ratios).map(([peer, ratio]) => ({ s, peer, ratio })));
  const top = 56;
  const height = top + rows.length * ROW + 40;
  const width = LABEL + PLOT + 70;
  const x = (r) => LABEL + PLOT / 2 + (Math.log2(Math.min(LIMIT, Math.max(1 / LIMIT, r))) / Math.log2(LIMIT)) * (PLOT / 2);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Sloop against its peers: peer median / Sloop median (log scale; right of 1: Sloop ahead)</text>`,
    `<text x="10" y="38" fill="#555">${esc(results.date.slice(0, 10))}, medians of ${results.runs} runs, scale ${results.scale}, headless Chromium + Node on one machine</text>`,
  ];
  for (const t of [1 / 64, 1 / 8, 1, 8, 64]) {
    out.push(`<line x1="${x(t)}" y1="${top - 4}" x2="${x(t)}" y2="${top + rows.length * ROW}" stroke="${t === 1 ? '#000' : '#ddd'}"/>`,
      `<text x="${x(t)}" y="${top + rows.length * ROW + 16}" text-anchor="middle" fill="#555">${t < 1 ? `1/${1 / t}` : t}×</text>`);
  }
  rows.forEach(({ s, peer, ratio }, i) => {
    const y = top + i * ROW;
    const [a, b] = [x(1), x(ratio)].sort((p, q) => p - q);
    const color = ratio >= 1 ? '#2b8a3e' : '#c92a2a';
    out.push(`<text x="${LABEL - 8}" y="${y + 15}" text-anchor="end">${esc(s.title.split('.')[0])}. ${SHORT[s.id] ?? esc(s.id)} vs ${esc(peer)}</text>`,
      `<rect x="${a}" y="${y + 4}" width="${Math.max(1, b - a)}" height="${ROW - 8}" fill="${color}"/>`,
      `<text x="${ratio >= 1 ? b + 4 : x(1) + 4}" y="${y + 15}">${fmt(ratio)}×${Math.abs(Math.log2(ratio)) > Math.log2(LIMIT) ? ' (clipped)' : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const human = (v, unit) => (unit === 'bytes' ? (v >= 1 << 20 ? `${(v / (1 << 20)).toFixed(1)} MiB` : `${(v / 1024).toFixed(0)} KiB`)
  : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 0)} ms`);

/**
 * @param {object} results as in results.json
 * @returns {string} one row per scenario: Sloop's median, then each peer's median and ratio
 */
export function renderTable(results) {
  const rows = ['| scenario | Sloop | peer: median (ratio peer / Sloop) |', '| --- | --- | --- |'];
  for (const s of results.scenarios) {
    const peers = Object.entries(s.results).filter(([sys]) => sys !== 'sloop')
      .map(([sys, r]) => `${sys} ${human(r.median, s.unit)} (**${fmt(s.ratios[sys])}×**)`);
    rows.push(`| ${s.title} | ${human(s.results.sloop.median, s.unit)} | ${peers.join('; ')} |`);
  }
  return rows.join('\n') + '\n';
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2] ?? new URL('./results.json', import.meta.url).pathname;
  const results = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(join(dirname(file), 'chart.svg'), renderChart(results));
  process.stdout.write(renderTable(results));
}
