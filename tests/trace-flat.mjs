// trace-flat.mjs -- turns an editing trace (tests/fixtures/editing-traces/*.json.gz) into a flat
// file that a C program reads with fscanf and fread, without gzip or a JSON parser.
//
//   node tests/trace-flat.mjs IN.json.gz OUT.trace
//
// Layout (ASCII header lines; content as raw UTF-8 bytes, each followed by one '\n'):
//
//   sloop-trace 1 <txns> <patches> <agents>
//   T <agent> <patches in this txn> <parents> [<parent txn index> ...]   once per transaction,
//   P <pos> <del> <ins code points> <ins bytes>                           then its patches,
//   <ins bytes of UTF-8>                                                  each with its insert
//   E <code points> <bytes>                                               last, the end text
//   <bytes of UTF-8>
//
// Positions and deletion counts are in code points, as in the trace. A trace with one writer
// and no `parents` (automerge-paper) gets agent 0 and, for each transaction, the one before it
// as its parent: the same history, said the way a concurrent trace says it. Content is written
// by byte count, so inserts holding newlines or any other byte need no escaping.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node tests/trace-flat.mjs IN.json.gz OUT.trace');
  process.exit(2);
}
const trace = JSON.parse(gunzipSync(readFileSync(input)).toString('utf8'));
const codePoints = (s) => [...s].length;

const chunks = [];
const line = (s) => chunks.push(Buffer.from(`${s}\n`, 'latin1'));
const content = (s) => {
  const bytes = Buffer.from(s, 'utf8');
  line(`${codePoints(s)} ${bytes.length}`);
  chunks.push(bytes, Buffer.from('\n'));
};

const patchCount = trace.txns.reduce((sum, txn) => sum + txn.patches.length, 0);
line(`sloop-trace 1 ${trace.txns.length} ${patchCount} ${trace.numAgents ?? 1}`);
trace.txns.forEach((txn, i) => {
  const parents = txn.parents ?? (i === 0 ? [] : [i - 1]);
  line(['T', txn.agent ?? 0, txn.patches.length, parents.length, ...parents].join(' '));
  for (const [pos, del, ins] of txn.patches) {
    chunks.push(Buffer.from(`P ${pos} ${del} `, 'latin1'));
    content(ins);
  }
});
chunks.push(Buffer.from('E ', 'latin1'));
content(trace.endContent);

mkdirSync(dirname(output), { recursive: true });
writeFileSync(output, Buffer.concat(chunks));
