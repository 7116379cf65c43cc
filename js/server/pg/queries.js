/**
 * queries.js -- the SQL of the PostgreSQL store: which rows a push group or a pull loads into
 * the core's scratch database (pg/scratch.js), and how what the core wrote goes back.
 *
 * Every load is one statement, so it reads one snapshot; each table comes back as JSON text
 * (`::text`, so the driver does not parse it) in the shape scratch.js feeds to SQLite. The
 * write-back is one statement too: data-modifying CTEs, one per table, then the tenant row.
 * @module sloop/server/pg/queries
 */
import { TENANT_RE } from '../tokens.js';

const RECORD_JSON = "json_build_object('c', coll, 'r', rid, 'd', doc, 's', encode(state, 'hex'), 'v', version)";
const APPLIED_JSON = "json_build_object('device', device, 'seq', seq, 'id', id, 'user', \"user\", 'result', result)";
const DEVICE_JSON = `json_build_object('device', device, 'user', "user", 'cursor', cursor, 'acked_op', acked_op,
  'acked_seq', acked_seq, 'seen_ms', seen_ms)`;
const CONFLICT_JSON = `json_build_object('id', id, 'coll', coll, 'rid', rid, 'field', field, 'server', server,
  'incoming', incoming, 'op', op, 'device', device, 'user', "user", 'hlc', hlc, 'status', status,
  'resolution', resolution, 'version', version)`;
const agg = (json, from, order = '') => `(SELECT coalesce(json_agg(${json}${order}), '[]')::text FROM ${from})`;
const NODES = (tenant, after) => agg("json_build_object('n', n, 'node', node)", `sloop_nodes WHERE tenant = ${tenant} AND n >= ${after}`, ' ORDER BY n');

/** A pull's tenant row: the head, the compaction horizon, the clock. */
const TENANT = 't AS (SELECT version, horizon, hlc FROM sloop_tenants WHERE tenant = $1)';

/**
 * What every pull reports of its device ($device): the answers of its operations after its
 * ackSeq ($ack), at most as many as the core sends (server_pull.c select_results), and its row.
 */
const DEVICE_PART = (device, ack) => `${agg(APPLIED_JSON,
  `(SELECT * FROM sloop_applied_ops WHERE tenant = $1 AND device = ${device} AND seq > ${ack} ORDER BY seq LIMIT 5000) a`)} AS applied,
  ${agg(DEVICE_JSON, `sloop_devices WHERE tenant = $1 AND device = ${device}`)} AS devices`;

/** The tenant's row, created on first use. */
export const ENSURE_TENANT = 'INSERT INTO sloop_tenants(tenant) VALUES ($1) ON CONFLICT DO NOTHING';

/** Taken first by every push group: pushes of a tenant commit one at a time, in version order. */
export const LOCK_TENANT = 'SELECT version, horizon, hlc, conflicts FROM sloop_tenants WHERE tenant = $1 FOR UPDATE';

/**
 * BEGIN and LOCK_TENANT in one round trip: a simple query (several statements, no parameters),
 * so the tenant id is spelled in it, checked against TENANT_RE ([a-z0-9-]{1,64}) again here.
 * Its second result is the tenant row.
 */
export function beginAndLock(tenant) {
  if (!TENANT_RE.test(tenant)) throw new Error(`refusing tenant id ${JSON.stringify(tenant)}`);
  return `BEGIN; ${LOCK_TENANT.replace('$1', `'${tenant}'`)}`;
}

/**
 * WRITE_PUSH and COMMIT in one round trip: a simple query, so its two values are spelled in it.
 * The tenant id is checked as in beginAndLock; the written JSON goes in dollar quotes under a tag
 * it does not contain, which no setting of PostgreSQL (standard_conforming_strings) reads
 * differently. Each round trip a push group saves is a wait behind the event loop's other work
 * under load (docs/DESIGN.md, "The sync server under load").
 */
export function writeAndCommit(tenant, written) {
  if (!TENANT_RE.test(tenant)) throw new Error(`refusing tenant id ${JSON.stringify(tenant)}`);
  let tag = 'w';
  while (written.includes(`$${tag}$`)) tag += String.fromCharCode(97 + Math.floor(Math.random() * 26));
  const literal = `$${tag}$${written}$${tag}$`;
  // Replacer functions: a string replacement would read "$&" and the like in the JSON as patterns.
  return `${WRITE_PUSH.replaceAll('$1', () => `'${tenant}'`).replaceAll('$2', () => literal)}; COMMIT`;
}

/**
 * A prepared statement: PostgreSQL parses and plans it once per connection, not per push. The
 * loads and the write-back are large statements (planning one took a third of a millisecond).
 */
export const prepared = (name, text) => (values) => ({ name: `sloop_${name}`, text, values });

/**
 * What a push group reads, after the lock: its records, the answers its operation ids may
 * already have, its devices, the conflicts its resolves name, and node ids after $9.
 * $2/$3 coll/rid, $4/$5/$6 device/seq/id, $7 devices, $8 conflict ids.
 */
export const LOAD_PUSH = `SELECT
  ${agg(RECORD_JSON, `unnest($2::text[], $3::text[]) AS k(kc, kr), LATERAL (SELECT coll, rid, doc, state, version
      FROM sloop_records r WHERE r.tenant = $1 AND r.coll = k.kc AND r.rid = k.kr LIMIT 1) r`)} AS records,
  ${agg(APPLIED_JSON, `unnest($4::text[], $5::bigint[], $6::text[]) AS k(kd, ks, ki), LATERAL (SELECT device, seq, id,
      "user", result FROM sloop_applied_ops a WHERE a.tenant = $1 AND a.device = k.kd AND a.seq = k.ks AND a.id = k.ki LIMIT 1) a`)} AS applied,
  ${agg(DEVICE_JSON, 'sloop_devices WHERE tenant = $1 AND device = ANY($7::text[])')} AS devices,
  ${agg(CONFLICT_JSON, 'sloop_conflicts WHERE tenant = $1 AND id = ANY($8::bigint[])')} AS conflicts,
  ${NODES('$1', '$9')} AS nodes`;

/**
 * What a version-ordered pull reads, in one snapshot: the tenant row, a window of the change
 * log after the cursor ($2) in the collections it may and wants to read ($3, NULL: all) of at
 * most $4 rows, where the window ends (`upto`: the last row's version when it is full, else the
 * head), how many such rows lie beyond it, the conflicts up to it, the device's ($5)
 * answers after its ackSeq ($6) and row, and node ids from $7 on (nodes are numbered from 0).
 */
export const LOAD_PULL = `WITH ${TENANT},
win AS (SELECT coll, rid, doc, state, version FROM sloop_records
  WHERE tenant = $1 AND version > $2 AND version <= (SELECT version FROM t) AND ($3::text[] IS NULL OR coll = ANY($3::text[]))
  ORDER BY version LIMIT $4),
u AS (SELECT CASE WHEN (SELECT count(*) FROM win) = $4 THEN (SELECT max(version) FROM win)
  ELSE (SELECT version FROM t) END AS upto)
SELECT t.version, t.horizon, t.hlc, u.upto,
  (SELECT count(*) FROM sloop_records WHERE tenant = $1 AND version > u.upto AND version <= t.version
    AND ($3::text[] IS NULL OR coll = ANY($3::text[])))::int AS beyond,
  ${agg(RECORD_JSON, 'win')} AS records,
  ${agg(CONFLICT_JSON, 'sloop_conflicts WHERE tenant = $1 AND version > $2 AND version <= u.upto')} AS conflicts,
  ${DEVICE_PART('$5', '$6')},
  ${NODES('$1', '$7')} AS nodes
FROM t, u`;

/**
 * What a snapshot page or a scope-hash pull reads: the whole scope ($3 as above) at the head,
 * the conflicts after the cursor ($2), the device's ($4) answers after its ackSeq ($5) and row,
 * and node ids from $6 on. The core decides what of it to send; see
 * docs/DEPLOY.md for what this costs on a large tenant.
 */
export const LOAD_SCOPE = `WITH ${TENANT}
SELECT t.version, t.horizon, t.hlc,
  ${agg(RECORD_JSON, `sloop_records WHERE tenant = $1 AND version <= t.version AND ($3::text[] IS NULL OR coll = ANY($3::text[]))`)} AS records,
  ${agg(CONFLICT_JSON, 'sloop_conflicts WHERE tenant = $1 AND version > $2 AND version <= t.version')} AS conflicts,
  ${DEVICE_PART('$4', '$5')},
  ${NODES('$1', '$6')} AS nodes
FROM t`;

/**
 * What a later page of a snapshot in version order reads: the rows of one group of the scope
 * ($3 as above) at or below the snapshot version ($2), after the token's position ($4, 0 when
 * the group has not started), in serving order (newest first or oldest first), at most $5;
 * the tenant row, every conflict up to the head when $9 (the page may be the last, which
 * carries them), the device's ($6) answers after its ackSeq ($7) and row, and node ids from $8
 * on. `loaded` says how many rows came: all $5 of them means
 * the group goes on past them.
 */
export const loadSnapshotWindow = (newestFirst) => `WITH ${TENANT},
w AS (SELECT coll, rid, doc, state, version FROM sloop_records
  WHERE tenant = $1 AND version <= $2 AND ($3::text[] IS NULL OR coll = ANY($3::text[]))
    AND ($4::bigint = 0 OR version ${newestFirst ? '<' : '>'} $4)
  ORDER BY version${newestFirst ? ' DESC' : ''} LIMIT $5)
SELECT t.version, t.horizon, t.hlc, (SELECT count(*) FROM w)::int AS loaded,
  ${agg(RECORD_JSON, 'w')} AS records,
  ${agg(CONFLICT_JSON, 'sloop_conflicts WHERE $9 AND tenant = $1 AND version <= t.version')} AS conflicts,
  ${DEVICE_PART('$6', '$7')},
  ${NODES('$1', '$8')} AS nodes
FROM t`;

/** A whole tenant, in the shape a scratch loads (the tests' dumps of a store read it). */
export const LOAD_TENANT = `SELECT t.version, t.horizon, t.hlc,
  ${agg(RECORD_JSON, 'sloop_records WHERE tenant = $1')} AS records,
  ${agg(CONFLICT_JSON, 'sloop_conflicts WHERE tenant = $1')} AS conflicts,
  ${agg(APPLIED_JSON, 'sloop_applied_ops WHERE tenant = $1')} AS applied,
  ${agg(DEVICE_JSON, 'sloop_devices WHERE tenant = $1')} AS devices,
  ${NODES('$1', '0')} AS nodes
FROM sloop_tenants t WHERE t.tenant = $1`;

/** The rows of one table in the written JSON, parsed once (w, WRITE_PUSH's first CTE). */
const FROM_WRITTEN = (key, columns) => `FROM w, jsonb_to_recordset(w.j->'${key}') AS x(${columns})`;

/**
 * Writes back what a push group wrote ($2: scratch.js's JSON) and moves the tenant row on.
 * Devices keep the highest acknowledged operation, as the core's own upsert does; a pull's
 * cursor, written without the lock, is not a push's to touch.
 */
export const WRITE_PUSH = `WITH
w AS MATERIALIZED (SELECT $2::jsonb AS j),
r AS (INSERT INTO sloop_records(tenant, coll, rid, doc, state, version)
  SELECT $1, x.c, x.r, x.d, decode(x.s, 'hex'), x.v ${FROM_WRITTEN('records', 'c text, r text, d text, s text, v bigint')}
  ON CONFLICT (tenant, coll, rid) DO UPDATE SET doc = excluded.doc, state = excluded.state, version = excluded.version),
a AS (INSERT INTO sloop_applied_ops(tenant, device, seq, id, "user", result)
  SELECT $1, x.device, x.seq, x.id, x."user", x.result
  ${FROM_WRITTEN('applied', 'device text, seq bigint, id text, "user" text, result text')}),
d AS (INSERT INTO sloop_devices AS o(tenant, device, "user", cursor, acked_op, acked_seq, seen_ms)
  SELECT $1, x.device, x."user", x.cursor, x.acked_op, x.acked_seq, x.seen_ms
  ${FROM_WRITTEN('devices', 'device text, "user" text, cursor bigint, acked_op text, acked_seq bigint, seen_ms bigint')}
  ON CONFLICT (tenant, device) DO UPDATE SET
    acked_op = CASE WHEN excluded.acked_seq > o.acked_seq THEN excluded.acked_op ELSE o.acked_op END,
    acked_seq = greatest(o.acked_seq, excluded.acked_seq), seen_ms = greatest(o.seen_ms, excluded.seen_ms)),
c AS (INSERT INTO sloop_conflicts(tenant, id, coll, rid, field, server, incoming, op, device, "user", hlc, status,
    resolution, version)
  SELECT $1, x.id, x.coll, x.rid, x.field, x.server, x.incoming, x.op, x.device, x."user", x.hlc, x.status,
    x.resolution, x.version
  ${FROM_WRITTEN('conflicts', `id bigint, coll text, rid text, field text, server text, incoming text, op text,
    device text, "user" text, hlc text, status text, resolution text, version bigint`)}
  ON CONFLICT (tenant, id) DO UPDATE SET status = excluded.status, resolution = excluded.resolution,
    version = excluded.version),
n AS (INSERT INTO sloop_nodes(tenant, n, node) SELECT $1, x.n, x.node ${FROM_WRITTEN('nodes', 'n integer, node bigint')})
UPDATE sloop_tenants SET
  version = greatest(version, coalesce((SELECT (j->>'version')::bigint FROM w), 0)),
  hlc = coalesce((SELECT j->>'hlc' FROM w), hlc),
  conflicts = greatest(conflicts, coalesce((SELECT (j->>'conflictMax')::bigint FROM w), 0))
WHERE tenant = $1`;

/**
 * What a pull wrote: its device's row (the cursor it reached, when it was seen; the user on a
 * device's first pull, which makes the device that user's). Nodes and records a pull never
 * writes.
 */
export const WRITE_PULL = `WITH w AS (SELECT $2::jsonb AS j)
INSERT INTO sloop_devices AS o(tenant, device, "user", cursor, seen_ms)
  SELECT $1, x.device, x."user", x.cursor, x.seen_ms
  ${FROM_WRITTEN('devices', 'device text, "user" text, cursor bigint, seen_ms bigint')}
  ON CONFLICT (tenant, device) DO UPDATE SET cursor = excluded.cursor, seen_ms = excluded.seen_ms`;

/** Compaction: tombstones at or below $2 go, and the horizon moves up to it. */
export const COMPACT = [
  'DELETE FROM sloop_records WHERE tenant = $1 AND doc IS NULL AND version <= $2',
  'UPDATE sloop_tenants SET horizon = greatest(horizon, $2) WHERE tenant = $1',
];
