// Types of `sloop/server` (js/server/index.js). Node only.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Every collection, or the listed ones. */
export type Grant = '*' | string[];

/** One entry of a users file: the password is a hash from hashPassword. */
export interface UserEntry {
  tenant: string;
  password: string;
  read: Grant;
  write: Grant;
}

/** Who signed in, as an auth hook's login answers it. */
export interface Identity {
  tenant: string;
  user: string;
  read: Grant;
  write: Grant;
}

/** Sign-in of the app's own (docs/SERVER.md, "Auth hook"), instead of a users file. */
export interface AuthHook {
  login(credentials: Record<string, unknown>, info: { device?: string; headers: Record<string, string | string[] | undefined> }): Identity | null | Promise<Identity | null>;
  /** Current grants of a signed-in user, looked up at refresh; null ends the session. */
  lookup?(who: { tenant: string; user: string }): { read: Grant; write: Grant } | null | Promise<{ read: Grant; write: Grant } | null>;
  /** The message of the 401 when login answers null. */
  refusedMessage?: string;
}

/** One tenant's data, as openTenantStore returns it; requests and contexts cross as JSON text. */
export interface TenantStore {
  push(requestJson: string, ctxJson: string, ops: number): string | Promise<string>;
  pull(requestJson: string, ctxJson: string): string | Promise<string>;
  close(): void | Promise<void>;
}

export type OpenTenantStore = (tenant: string) => TenantStore | Promise<TenantStore>;

export interface Limits {
  maxBodyBytes: number;
  maxOps: number;
  maxDepth: number;
  bodyTimeoutMs: number;
  headersTimeoutMs: number;
  stepUpMaxAgeMs: number;
  accessTtlMs: number;
  offlineTtlMs: number;
  handlerTimeoutMs: number;
  shutdownGraceMs: number;
  keepAliveTimeoutMs: number;
}

/** Defaults for createSyncServer's `limits`. */
export const DEFAULT_LIMITS: Readonly<Limits>;

/** Files served besides the API (GET/HEAD outside /v1/). */
export interface StaticOptions {
  /** The app's static folder, served at / (absolute path). */
  dir?: string | null;
  /** A file served at /sw.js (absolute path). */
  serviceWorker?: string | null;
}

export interface SyncServerOptions {
  /** Login name -> entry. Give exactly one of `users` and `auth`. */
  users?: Record<string, UserEntry>;
  auth?: AuthHook;
  /** Token signing key, at least 32 bytes. */
  secret: string | Buffer;
  openTenantStore: OpenTenantStore;
  limits?: Partial<Limits>;
  staticFiles?: boolean | StaticOptions;
  /** Origins allowed to call the API from another origin (exact match); none by default. */
  cors?: { origins?: string[]; maxAgeSeconds?: number };
  /** Tried before every route; answers true if it handled the request. */
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
  now?: () => number;
  logger?: { error: (...args: unknown[]) => void };
}

export interface SyncServer {
  readonly server: Server;
  /** Starts listening; resolves to the base URL. Port 0 picks a free one. */
  listen(where?: { port?: number; host?: string }): Promise<string>;
  /** Stops accepting, lets requests finish (up to shutdownGraceMs), closes the tenant stores. */
  close(): Promise<void>;
}

/** The sync server (not yet listening): the protocol of docs/PROTOCOL.md under /v1/. */
export function createSyncServer(options: SyncServerOptions): SyncServer;

/** Tenant stores on the C core: one SQLite file per tenant in dataDir. */
export function coreStoreOpener(options: { dataDir: string; schema: object; merge?: Function | null }): OpenTenantStore;

/** Tenant stores in PostgreSQL; close() ends its pool. */
export function pgStoreOpener(options: { url: string; schema: object; merge?: Function | null; poolSize?: number }): Promise<OpenTenantStore & { close(): Promise<void> }>;

/** Checks a schema with the core; throws the core's SloopError (code 'schema' or 'invalid'). */
export function checkSchema(schema: object): Promise<void>;

/** A users file's password hash (scrypt, fresh salt). */
export function hashPassword(password: string, cost?: { N?: number; r?: number; p?: number }): Promise<string>;
