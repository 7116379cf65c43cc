/**
 * scratch.js -- the C core's working copy of a tenant, for a store that keeps the tenant
 * elsewhere (PostgreSQL): an in-memory server database that, for each request, is loaded with
 * the rows that request reads, runs the core's own push or pull on them, gives back every row
 * the core wrote, and is rolled back to empty.
 *
 * So the merge, the idempotency rules, conflicts, scopes, snapshots and the answers' encoding
 * are the core's, the same code as on the embedded store; the outer store only chooses which
 * rows to load (pg/queries.js) and writes back what it is given.
 *
 * Rows cross as JSON text in both directions, built and read by the databases themselves
 * (PostgreSQL's json_agg, SQLite's json_each and json_group_array), so no row is taken apart in
 * JavaScript. The loaded JSON enters SQLite as one string literal per table: the only escape
 * a SQLite string literal needs is a doubled quote, and JSON text holds no NUL.
 *
 * What the core writes is found without knowing how it decides: records and conflicts carry
 * the version of the change that wrote them (above the loaded head), node ids are numbered past
 * the loaded ones, and temporary triggers note the keys of the answers and devices it writes.
 * A table the core starts writing without a line here would be lost on the way back; the store
 * conformance suite (tests/node/store-conformance.test.js) runs every path against both stores,
 * and a scratch refuses to start when the core's tables have other columns than the ones here.
 *
 * Node ids (the table `nodes`, which binary states refer to by number) are the one thing kept
 * between requests: they only grow, so each request first adds those committed since.
 * @module sloop/server/pg/scratch
 */

const quote = (text) => `'${text.replaceAll("'", "''")}'`;

/** A whole number for SQL text; anything else is a bug upstream. */
function int(n) {
  const s = String(n);
  if (!/^-?\d{1,19}$/.test(s)) throw new Error(`scratch: ${s} is not an integer`);
  return s;
}

const CAPTURE = `
CREATE TEMP TABLE cap_applied(device TEXT, seq INTEGER, id TEXT);
CREATE TEMP TABLE cap_devices(device TEXT PRIMARY KEY);
CREATE TEMP TRIGGER cap_applied_i AFTER INSERT ON applied_ops
  BEGIN INSERT INTO cap_applied VALUES(new.device, new.seq, new.id); END;
CREATE TEMP TRIGGER cap_devices_i AFTER INSERT ON devices
  BEGIN INSERT OR IGNORE INTO cap_devices VALUES(new.device); END;
CREATE TEMP TRIGGER cap_devices_u AFTER UPDATE ON devices
  BEGIN INSERT OR IGNORE INTO cap_devices VALUES(new.device); END;
`;

/** Statements that load one table from a JSON array literal (PostgreSQL's names). */
const LOADERS = {
  records: (j) => `INSERT INTO records(coll, id, doc, state, version)
    SELECT value->>'c', value->>'r', value->>'d', unhex(value->>'s'), value->>'v' FROM json_each(${j})`,
  applied: (j) => `INSERT INTO applied_ops(device, seq, id, user, result)
    SELECT value->>'device', value->>'seq', value->>'id', value->>'user', value->>'result' FROM json_each(${j})`,
  devices: (j) => `INSERT INTO devices(device, user, cursor, acked_op, acked_seq, seen_ms)
    SELECT value->>'device', value->>'user', value->>'cursor', value->>'acked_op', value->>'acked_seq',
      value->>'seen_ms' FROM json_each(${j})`,
  conflicts: (j) => `INSERT INTO conflicts(id, coll, rid, field, server, incoming, op, device, user, hlc, status,
      resolution, version)
    SELECT value->>'id', value->>'coll', value->>'rid', value->>'field', value->>'server', value->>'incoming',
      value->>'op', value->>'device', value->>'user', value->>'hlc', value->>'status', value->>'resolution',
      value->>'version' FROM json_each(${j})`,
};

/** Everything a request wrote, as one JSON object (the text PostgreSQL reads back). */
const capture = (v0, n0) => `SELECT json_object(
  'records', (SELECT json_group_array(json_object('c', coll, 'r', id, 'd', doc, 's', hex(state), 'v', version))
    FROM records WHERE version > ${v0}),
  'conflicts', (SELECT json_group_array(json_object('id', id, 'coll', coll, 'rid', rid, 'field', field,
      'server', server, 'incoming', incoming, 'op', op, 'device', device, 'user', user, 'hlc', hlc,
      'status', status, 'resolution', resolution, 'version', version))
    FROM conflicts WHERE version > ${v0}),
  'applied', (SELECT json_group_array(json_object('device', device, 'seq', seq, 'id', id, 'user', user,
      'result', result)) FROM applied_ops JOIN cap_applied USING (device, seq, id)),
  'devices', (SELECT json_group_array(json_object('device', device, 'user', user, 'cursor', cursor,
      'acked_op', acked_op, 'acked_seq', acked_seq, 'seen_ms', seen_ms)) FROM devices JOIN cap_devices USING (device)),
  'nodes', (SELECT json_group_array(json_object('n', n, 'node', node)) FROM nodes WHERE n >= ${n0}),
  'version', (SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'version'),
  'hlc', (SELECT v FROM meta WHERE k = 'hlc'),
  'conflictMax', (SELECT max(id) FROM conflicts WHERE version > ${v0}))`;

/** The columns of the core's server tables this file loads and captures (wasm/src/db.c). */
const COLUMNS = {
  records: ['r', 'coll', 'id', 'doc', 'state', 'version'],
  applied_ops: ['device', 'seq', 'id', 'user', 'result'],
  devices: ['device', 'user', 'cursor', 'acked_op', 'acked_seq', 'seen_ms'],
  conflicts: ['id', 'coll', 'rid', 'field', 'server', 'incoming', 'op', 'device', 'user', 'hlc', 'status', 'resolution', 'version'],
  nodes: ['n', 'node'],
  meta: ['k', 'v'],
};

/**
 * Runs one of the scratch's own steps (not the request's): its failure is the server's, never
 * the request's, so it must not reach the client as the core's 4xx (a SloopError `invalid` from
 * a stored clock, say); it becomes a plain Error, answered 500 and logged.
 */
function own(step, fn) {
  try {
    return fn();
  } catch (e) {
    throw new Error(`scratch database, ${step}: ${e.message}`, { cause: e });
  }
}

/** Thrown through CoreDb.transaction() to roll the scratch back with the result in hand. */
class Rollback {
  constructor(value) {
    this.value = value;
  }
}

/**
 * @typedef {object} TenantRow the tenant's row (sloop_tenants), as strings or numbers
 * @property {number|string} version @property {number|string} horizon @property {string|null} hlc
 * @property {number|string} conflicts the highest conflict id handed out
 *
 * @typedef {object} Loaded what one request reads, each table a JSON array text (or absent)
 * @property {string} [records] [{c, r, d, s (hex), v}]
 * @property {string} [applied] @property {string} [devices] @property {string} [conflicts]
 * @property {string} [nodes] [{n, node}]: node ids from the scratch's count on
 */

export class Scratch {
  /**
   * @param {import('../../core.js').CoreDb} db an empty in-memory server database, its schema
   *   (and custom merge) set
   */
  constructor(db) {
    this.db = db;
    for (const [table, want] of Object.entries(COLUMNS)) {
      const have = db.sql(`SELECT name FROM pragma_table_info('${table}') ORDER BY cid`).map(([name]) => name);
      if (have.join() !== want.join()) {
        throw new Error(`scratch database: the core's table ${table} has columns ${have.join(', ')}; this store knows ${want.join(', ')}`);
      }
    }
    db.sql(CAPTURE);
    /** How many node ids the scratch holds: they are numbered from 0, so also the next one. */
    this.nodes = 0;
  }

  /** Adds node ids committed since the last request (they only ever grow). */
  addNodes(nodesJson) {
    if (!nodesJson || nodesJson === '[]') return;
    this.db.sql(`INSERT OR IGNORE INTO nodes(n, node) SELECT value->>'n', value->>'node' FROM json_each(${quote(nodesJson)})`);
    this.nodes = this.db.sql('SELECT count(*) FROM nodes')[0][0];
  }

  /**
   * Loads `loaded` at tenant state `tenant`, runs `fn(db)` on it and rolls everything back.
   * @template T
   * @param {TenantRow} tenant @param {Loaded} loaded
   * @param {(db: import('../../core.js').CoreDb) => T} fn
   * @returns {{value: T, written: string}} fn's value and the rows written, as JSON text
   */
  run(tenant, loaded, fn) {
    const { db } = this;
    own('loading node ids', () => this.addNodes(loaded.nodes));
    if (tenant.hlc) own('taking the tenant clock', () => db.serverClock(tenant.hlc));
    const v0 = int(tenant.version);
    const statements = [
      `INSERT OR REPLACE INTO meta(k, v) VALUES ('version', '${v0}'), ('horizon', '${int(tenant.horizon)}')`,
    ];
    for (const [table, load] of Object.entries(LOADERS)) {
      if (loaded[table] && loaded[table] !== '[]') statements.push(load(quote(loaded[table])));
    }
    // SQLite numbers a new conflict after the highest id in its table: one row at the tenant's
    // highest id (unless loaded) keeps the numbers of every process in one sequence. It names
    // no record, so nothing the core looks up by record or version ever finds it.
    if (Number(tenant.conflicts) > 0) {
      statements.push(`INSERT OR IGNORE INTO conflicts(id, coll, rid, field, status, version)
        VALUES (${int(tenant.conflicts)}, '', '', '', 'placeholder', 0)`);
    }
    statements.push('DELETE FROM cap_applied', 'DELETE FROM cap_devices');
    try {
      db.transaction(() => {
        own('loading rows', () => db.sql(statements.join(';\n')));
        const value = fn(db);
        const written = own('capturing writes', () => db.sql(capture(v0, int(this.nodes)))[0][0]);
        throw new Rollback({ value, written });
      });
    } catch (e) {
      if (e instanceof Rollback) return e.value;
      throw e;
    }
    throw new Error('scratch: the transaction ended without its result');
  }
}
