// The public API as docs examples import it (tests/node/docs-runner.js): js/sloop.js, with
// every database they open recorded, so the runner can close what a failing example left
// open (an open database keeps its sync timers, and the test process, alive).
import { openSloop as openRecorded } from '../../js/sloop.js';

export * from '../../js/sloop.js';

/** Databases opened through this module and not yet closed by the runner. */
export const opened = new Set();

/** openSloop, recorded. */
export async function openSloop(options) {
  const db = await openRecorded(options);
  opened.add(db);
  return db;
}
