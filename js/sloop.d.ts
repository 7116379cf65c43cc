// Type declarations for js/sloop.js, the public Sloop API.

export type RecordState = 'local-only' | 'syncing' | 'synced' | 'failed' | 'modified-locally';

/** Every rejection and throw of the API (js/errors.js); `code` is stable (the core's, the protocol's, 'network', 'closed', ...): one code per condition, a closed database is 'closed' everywhere. */
export class SloopError extends Error {
  constructor(code: string, message: string);
  readonly code: string;
  /** For sync failures: 'network' | 'expired' | 'reauth' | 'signed-out' | 'transient' | 'refused'. */
  kind?: string;
  /** For sync failures: the HTTP status (0 when the request never got an answer). */
  status?: number;
}

export interface SloopAuth {
  /** The current access token (may be expired), or null when signed out. */
  getToken(): string | null | Promise<string | null>;
  /** Tries the offline token (POST /v1/refresh); a new access token, or null when the user must sign in. May throw when offline. */
  refresh?(): Promise<string | null>;
}

/** The session passwordAuth() keeps. */
export interface PasswordSession {
  user: string;
  tenant: string;
  /** Access token; null once the offline token was refused. */
  token: string | null;
  expiresAt: number;
  offlineToken: string | null;
  offlineExpiresAt: number;
  /** The device the tokens are bound to. */
  device?: string;
  permissions: { read: '*' | string[]; write: '*' | string[]; stepUpMaxAgeMs: number };
}

/** A Web Storage-like place for the session (localStorage, or memoryStorage()). */
export interface SessionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Sign-in with the server's own users (POST /v1/login), token keeping and refresh; an `auth` for openSloop. */
export interface PasswordAuth extends SloopAuth {
  /** Who signed in last on this browser (kept after the offline token was refused), or null. */
  readonly user: string | null;
  readonly tenant: string | null;
  /** There are tokens to sync with (the access token may have expired). */
  readonly signedIn: boolean;
  readonly session: PasswordSession | null;
  /** Rejects with SloopError 'unauthenticated' (wrong user or password), 'network', or the server's code. */
  signIn(user: string, password: string, device?: string): Promise<PasswordSession>;
  getToken(): string | null;
  refresh(): Promise<string | null>;
  /** Forgets tokens and user; local databases stay. */
  signOut(): void;
}

export function passwordAuth(options?: {
  /** Default: this page's origin. */
  serverUrl?: string;
  /** Default: localStorage, or memory where there is none. */
  storage?: SessionStorage;
  /** Default 'sloop-session'. */
  key?: string;
  fetch?: typeof fetch;
  /** A sign-in or refresh unanswered this long is aborted: SloopError 'timeout'. Default 60000. */
  timeoutMs?: number;
}): PasswordAuth;

/** A session storage in memory (the default where there is no localStorage). */
export function memoryStorage(): SessionStorage;

export interface SyncOptions {
  pushBatch?: number;
  pullPage?: number;
  debounceMs?: number;
  intervalMs?: number;
  /** A request (or auth.getToken(), auth.refresh()) unanswered this long fails as 'network', code 'timeout'; default 60000. */
  requestTimeoutMs?: number;
  backoff?: { baseMs?: number; maxMs?: number };
  /** Source of jitter in [0, 1); tests make it deterministic. */
  random?: () => number;
}

/** How a field merges when devices write it concurrently (docs/SCHEMA.md, Field policies). */
export type FieldPolicy = 'lww' | 'fww' | 'counter' | 'set' | 'manual' | 'custom' | 'text' | 'list';

/** One collection of a schema; any other key is refused with code 'schema'. */
export interface CollectionSchema {
  fields?: Record<string, FieldPolicy>;
  /** Default true: a field not in `fields` is refused with code 'schema'. false accepts it with `default`. */
  strict?: boolean;
  /** The policy of fields not listed; only with `strict: false`. Default 'lww'. */
  default?: FieldPolicy;
  /** Fields full-text search covers; default every string. */
  search?: string[];
  /** Fields with an index for query where/orderBy. */
  indexes?: string[];
}

/** The schema language (docs/SCHEMA.md). `collections` is required unless `open` is true. */
export interface SloopSchema {
  collections?: Record<string, CollectionSchema>;
  /** true: collections not listed are accepted too, free-form and last-writer-wins. */
  open?: boolean;
  maxDriftMs?: number;
  driftPolicy?: 'clamp' | 'reject';
}

/** A `recent` window: records whose `field` (ms since the epoch, or ISO 8601 text) is within the last `days` days. */
export interface RecentWindow { field: string; days: number }

/** What a replica pulls and keeps (docs/CLIENT.md, "Pull scopes"; docs/PROTOCOL.md, "Scopes"). */
export interface SloopScope {
  collections?: string[];
  where?: Record<string, string | number | boolean | null>;
  /** One window for every collection, or one per collection; records that age out are evicted locally unless they have local work. */
  recent?: RecentWindow | Record<string, RecentWindow>;
  /** Collections pulled first in an initial sync or a resync, in this order. */
  priority?: string[];
  order?: 'recent' | 'version';
  orderBy?: string;
}

export interface OpenSloopOptions {
  name: string;
  /** Whose database: each user of a browser gets their own local database (`name@user`), queue and device id. */
  user?: string;
  /** The same schema the server uses; refused with code 'schema' when it breaks the rules of docs/SCHEMA.md. */
  schema: SloopSchema;
  serverUrl?: string | null;
  /** What this replica pulls and keeps; a bad shape rejects with code 'invalid'; a scope other than the stored one resyncs under it. Omitted: the stored scope stays (set by another tab or page); null: no scope. */
  scope?: SloopScope | null;
  auth?: SloopAuth;
  backend?: object;
  /** How the local database's pages are held (docs/PERSISTENCE.md): 'auto' (default) reads them from IndexedDB on demand where the browser has JS Promise Integration, else loads the whole database at open ('image'). */
  pages?: 'auto' | 'image' | 'on-demand';
  fetch?: typeof fetch;
  sync?: SyncOptions;
  /** A LockManager (tests); default navigator.locks. */
  locks?: object;
  /** Run the engine in a dedicated worker (default in a browser page when fetch, backend, locks and sync.random are not given); false keeps it on the calling thread. */
  worker?: boolean;
}

export interface Query {
  where?: Record<string, unknown>;
  orderBy?: string | Array<string | [string, 'asc' | 'desc']> | object;
  limit?: number;
  offset?: number;
}

export interface Row<T = any> { id: string; doc: T; state: RecordState }

export interface SloopStatus {
  online: boolean;
  syncing: boolean;
  pendingOps: number;
  failedOps: number;
  openConflicts: number;
  pullPage: number;
  pullPages: number;
  /** While a resync runs (after 410 `resync` or 400 `cursor`): its round (1 to 3) and the snapshot pages of that round, applied and estimated; absent otherwise. */
  resync?: { round: number; page: number; pages: number };
  lastSyncAt: number | null;
  /** 'signed-out': no token; 'needs-reauth': the server refused the token (expired past refresh, revoked, another device's, or this device is another user's). */
  auth: 'ok' | 'expired' | 'needs-reauth' | 'signed-out';
  paused: boolean;
  error: { code: string; message: string } | null;
  /** When the next automatic retry is due (ms since the epoch), after a failure; absent after a success. */
  retryAt?: number;
  /** This tab runs sync for the database. */
  writer: boolean;
  /** How the local database's pages are held: read from IndexedDB on demand, or the whole database in memory (docs/PERSISTENCE.md). */
  pages: 'on-demand' | 'image';
}

export interface Conflict {
  id: number;
  coll: string;
  rid: string;
  field: string;
  server: unknown;
  incoming: unknown;
  status: string;
  [key: string]: unknown;
}

export interface FailedOp {
  id: string;
  coll: string;
  rid: string;
  type: 'put' | 'patch' | 'delete' | 'resolve';
  payload: object;
  lastError: string | null;
  attempts: number;
}

export interface Change { coll: string; id: string; state: RecordState | 'removed' }

/** A splice: delete `deleteCount` UTF-16 code units at `index`, then insert the string there. */
export type TextEdit = [index: number, deleteCount: number, inserted: string];

/** How a `text` field changed: the edits, in order, turn its previous value into the new one. */
export interface TextChange { coll: string; id: string; field: string; local: boolean; edits: TextEdit[] }

export interface SloopEventMap {
  status: CustomEvent<SloopStatus>;
  /** `textEdits`: every text field a local write or a pull changed, as splices. */
  change: CustomEvent<{ changes: Change[]; textEdits: TextChange[] }>;
  conflict: CustomEvent<{ conflicts: Conflict[] }>;
  failed: CustomEvent<{ failedOps: FailedOp[] }>;
  error: CustomEvent<{ error: unknown }>;
}

/**
 * The handle openSloop() answers. Its methods are those of js/client/methods.js, the one table
 * (tests/node/method-table.test.js fails when this class and the table disagree); the engine
 * behind it runs in a worker or on this thread (`runsIn`), reached over js/rpc.js.
 */
export class Sloop extends EventTarget {
  readonly name: string;
  /** openSloop's `user`, or null for one database shared by whoever signs in. */
  readonly user: string | null;
  /** This replica's device id: send it as `device` in POST /v1/login. */
  readonly device: string;
  readonly status: SloopStatus;
  /** Where the engine runs: 'worker' (a dedicated worker of this page) or 'page'. */
  readonly runsIn: 'worker' | 'page';
  /** The core's own methods by name, on the writer tab's database (docs/CLIENT.md, Search): for tools and tests. */
  readonly persistent: { call(method: string, ...args: unknown[]): Promise<any> };
  put(coll: string, id: string, doc: object): Promise<string>;
  /** Many documents of one collection, all or nothing, in one transaction and one durable flush. */
  putMany(coll: string, rows: Array<{ id: string; doc: object }>): Promise<string>;
  patch(coll: string, id: string, changes: object): Promise<string>;
  delete(coll: string, id: string): Promise<string>;
  get<T = any>(coll: string, id: string): Promise<T | undefined>;
  query<T = any>(coll: string, query?: Query): Promise<Row<T>[]>;
  search<T = any>(coll: string, text: string, options?: { limit?: number }): Promise<{ id: string; doc: T }[]>;
  live<T = any>(coll: string, query: Query | null, callback: (rows: Row<T>[]) => void): () => void;
  recordState(coll: string, id: string): Promise<RecordState | undefined>;
  /** A handle on a `text` field, its value read. */
  text(coll: string, id: string, field: string, options?: FieldHandleOptions): Promise<TextHandle>;
  /** A handle on a `list` field, its value read. */
  list<T = unknown>(coll: string, id: string, field: string, options?: FieldHandleOptions): Promise<ListHandle<T>>;
  conflicts(): Promise<Conflict[]>;
  resolve(conflictId: number, value: unknown): Promise<string>;
  failedOps(): Promise<FailedOp[]>;
  retry(opId?: string): Promise<void>;
  discard(opId: string): Promise<void>;
  sync(): Promise<void>;
  /** `status.paused` is true at once; resolves once the engine has paused. */
  pause(): Promise<void>;
  /** `status.paused` is false at once; resolves once the engine has resumed. */
  resume(): Promise<void>;
  /** waitDurable false abandons writes not yet durable; made while an earlier close waits (storage failing), it ends that wait. */
  close(options?: { waitDurable?: boolean }): Promise<void>;
  addEventListener<K extends keyof SloopEventMap>(type: K, listener: (ev: SloopEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SloopEventMap>(type: K, listener: (ev: SloopEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export interface FieldHandleOptions {
  /** Other fields to set in the same patch as each write (an updatedAt), so an edit stays one operation. */
  alongside?: () => object;
}

interface FieldHandleEvents<D> {
  addEventListener(type: 'change', listener: (ev: CustomEvent<D>) => void, options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'change', listener: (ev: CustomEvent<D>) => void, options?: boolean | EventListenerOptions): void;
}

/** One `text` field of one record (db.text()). Writes are patches: durable, pushed, idempotent. */
export interface TextHandle extends FieldHandleEvents<{ edits: TextEdit[]; local: boolean; value: string }> {
  readonly coll: string;
  readonly id: string;
  readonly field: string;
  /** The current string ('' for a record or field that does not exist), kept up to date by change events. */
  readonly value: string;
  /** Rejects with 'invalid' for an index or count outside the text (or inside a surrogate pair), 'notfound' for no record. */
  splice(index: number, deleteCount: number, inserted?: string): Promise<string>;
  insert(index: number, text: string): Promise<string>;
  delete(index: number, count: number): Promise<string>;
  /** Reads the field again; a difference is emitted as one splice. */
  refresh(): Promise<string>;
  close(): void;
}

/** One `list` field of one record (db.list()). A write resolves once `value` shows it. */
export interface ListHandle<T = unknown> extends FieldHandleEvents<{ value: T[] }> {
  readonly coll: string;
  readonly id: string;
  readonly field: string;
  readonly value: T[];
  insert(index: number, ...values: T[]): Promise<string>;
  remove(index: number, count?: number): Promise<string>;
  /** The element at `from` ends at index `to`. */
  move(from: number, to: number): Promise<string>;
  refresh(): Promise<T[]>;
  close(): void;
}

/** Binds a textarea (or text input) to a text handle; returns unbind. */
export function bindTextarea(handle: TextHandle, textarea: HTMLTextAreaElement | HTMLInputElement, options?: { onError?: (error: unknown) => void }): () => void;
/** `text` with the edits applied, or null when they do not fit it. */
export function applyEdits(text: string, edits: TextEdit[]): string | null;
/** Where a caret at `index` goes after `edits` (text inserted at the caret goes after it). */
export function mapIndex(index: number, edits: TextEdit[]): number;
/** The one splice from `before` to `after` (common prefix and suffix), or null when equal; `caret`, where the caret is in `after`, settles ambiguity. */
export function spliceBetween(before: string, after: string, caret?: number): TextEdit | null;

export function openSloop(options: OpenSloopOptions): Promise<Sloop>;
export function deleteSloop(options: { name: string; user?: string; backend?: object }): Promise<void>;
/** The local database's name for a user: `name`, or `name@<user, URI-encoded>`. */
export function databaseName(name: string, user?: string | null): string;
