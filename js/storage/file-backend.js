/**
 * file-backend.js -- the Node file store behind the "sloop-file" VFS: the server's storage.
 *
 * Every database and rollback-journal operation SQLite makes is one synchronous fs call here
 * (readSync and writeSync straight into and out of the WebAssembly heap, so pages are read on
 * demand and the database is not bounded by memory). Durability is SQLite's own: the journal
 * is written and fsynced before the database is touched, the database is fsynced before the
 * journal is deleted, and with synchronous=EXTRA (set by js/persist.js) the directory is
 * fsynced after the delete, so a power loss cannot resurrect a committed transaction's journal.
 * A process killed at any instant leaves either a hot journal, which SQLite rolls back on the
 * next open, or a committed database.
 *
 * Left out: locking between processes. One process owns a database file; run one server per
 * file.
 * @module sloop/storage/file-backend
 */
import {
  openSync, readSync, writeSync, fsyncSync, ftruncateSync, fstatSync, closeSync, unlinkSync,
  existsSync, constants,
} from 'node:fs';
import { dirname } from 'node:path';

const SQLITE_OPEN_CREATE = 0x4;

/** fsync of a directory, so a created or deleted entry survives power loss. */
function syncDir(path) {
  const fd = openSync(dirname(path), constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The fs calls the "sloop-file" hooks make; handles are indexes into `files`. */
class NodeFileIo {
  constructor() {
    this.files = new Map();
    this.next = 1;
  }

  /** Runs fn, mapping any fs exception to the hook failure value -1. */
  guard(fn) {
    try {
      return fn();
    } catch {
      return -1;
    }
  }

  open(path, flags) {
    return this.guard(() => {
      const mode = constants.O_RDWR | (flags & SQLITE_OPEN_CREATE ? constants.O_CREAT : 0);
      const h = this.next++;
      this.files.set(h, { fd: openSync(path, mode, 0o644), path });
      return h;
    });
  }

  read(h, heap, ptr, n, off) {
    return this.guard(() => {
      const { fd } = this.files.get(h);
      let got = 0;
      while (got < n) {
        const k = readSync(fd, heap, ptr + got, n - got, off + got);
        if (k === 0) break;
        got += k;
      }
      return got;
    });
  }

  write(h, heap, ptr, n, off) {
    return this.guard(() => {
      const { fd } = this.files.get(h);
      for (let put = 0; put < n;) put += writeSync(fd, heap, ptr + put, n - put, off + put);
      return 0;
    });
  }

  truncate(h, size) { return this.guard(() => (ftruncateSync(this.files.get(h).fd, size), 0)); }

  sync(h, dir) {
    return this.guard(() => {
      const { fd, path } = this.files.get(h);
      fsyncSync(fd);
      if (dir) syncDir(path);
      return 0;
    });
  }

  size(h) { return this.guard(() => fstatSync(this.files.get(h).fd).size); }

  close(h) {
    return this.guard(() => {
      const file = this.files.get(h);
      this.files.delete(h);
      closeSync(file.fd);
      return 0;
    });
  }

  remove(path, dirSync) {
    return this.guard(() => {
      unlinkSync(path);
      if (dirSync) syncDir(path);
      return 0;
    });
  }

  exists(path) { return this.guard(() => (existsSync(path) ? 1 : 0)); }
}

const sharedIo = new NodeFileIo();

/**
 * The file backend: the database `name` is the file path (absolute, or relative to the working
 * directory); its journal is `<name>-journal` next to it.
 * @returns {{kind: 'file', vfs: 'sloop-file', io: NodeFileIo, destroy: (name: string) => Promise<void>}}
 */
export function fileBackend() {
  return {
    kind: 'file',
    vfs: 'sloop-file',
    io: sharedIo,
    async destroy(name) {
      for (const path of [name, `${name}-journal`]) if (existsSync(path)) unlinkSync(path);
    },
    async close() {},
  };
}
