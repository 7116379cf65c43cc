/**
 * tables.js -- the PostgreSQL tables of the sync server's state, one set for every tenant,
 * each row keyed by its tenant first (so a distributed PostgreSQL can shard by it:
 * docs/DEPLOY.md).
 *
 * They hold what a tenant's embedded SQLite file holds (wasm/src/db.c), row for row: the
 * records (the change log, newest version of each record), the answers of applied operations,
 * devices, conflicts, the node ids the binary merge state refers to, and, in sloop_tenants,
 * the tenant's version counter, compaction horizon, clock and highest conflict id. A record's
 * `state` is the C core's binary merge state, opaque here: only the core reads or writes it.
 *
 * The tenant row is the lock every push takes (SELECT ... FOR UPDATE) before it reads the
 * records it will change, so pushes of one tenant commit one after another in version order;
 * docs/PROTOCOL.md, "Versions and commits", says why a pull then never skips a row.
 * @module sloop/server/pg/tables
 */

/** Bumped when the tables change; a newer database refuses an older server. */
export const PG_FORMAT = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS sloop_format (format integer NOT NULL);
CREATE TABLE IF NOT EXISTS sloop_tenants (
  tenant text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 0,
  horizon bigint NOT NULL DEFAULT 0,
  hlc text,
  conflicts bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sloop_records (
  tenant text NOT NULL, coll text NOT NULL, rid text NOT NULL,
  doc text, state bytea NOT NULL, version bigint NOT NULL,
  PRIMARY KEY (tenant, coll, rid)
);
CREATE INDEX IF NOT EXISTS sloop_records_by_version ON sloop_records (tenant, version);
CREATE TABLE IF NOT EXISTS sloop_nodes (
  tenant text NOT NULL, n integer NOT NULL, node bigint NOT NULL,
  PRIMARY KEY (tenant, n)
);
CREATE TABLE IF NOT EXISTS sloop_applied_ops (
  tenant text NOT NULL, device text NOT NULL, seq bigint NOT NULL, id text NOT NULL,
  "user" text, result text NOT NULL,
  PRIMARY KEY (tenant, device, seq, id)
);
CREATE TABLE IF NOT EXISTS sloop_devices (
  tenant text NOT NULL, device text NOT NULL, "user" text, cursor bigint NOT NULL DEFAULT 0,
  acked_op text, acked_seq bigint NOT NULL DEFAULT 0, seen_ms bigint,
  PRIMARY KEY (tenant, device)
);
CREATE TABLE IF NOT EXISTS sloop_conflicts (
  tenant text NOT NULL, id bigint NOT NULL, coll text NOT NULL, rid text NOT NULL, field text NOT NULL,
  server text, incoming text, op text, device text, "user" text, hlc text,
  status text NOT NULL DEFAULT 'open', resolution text, version bigint NOT NULL,
  PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS sloop_conflicts_by_version ON sloop_conflicts (tenant, version);
`;

/**
 * Creates the tables when missing, and checks the format. Several processes may start at once:
 * an advisory lock makes the creation one at a time.
 * @param {import('pg').Pool} pool
 */
export async function ensureTables(pool) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('sloop_format'))");
    await client.query(DDL);
    const { rows } = await client.query('SELECT format FROM sloop_format');
    if (rows.length === 0) await client.query('INSERT INTO sloop_format(format) VALUES ($1)', [PG_FORMAT]);
    else if (rows[0].format > PG_FORMAT) {
      throw new Error(`the database is in format ${rows[0].format}; this server knows ${PG_FORMAT} and older`);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
