/**
 * raw-idb.js -- the physical limit of bulk writes: the same number of bytes as the records'
 * JSON, written as 1 MiB ArrayBuffers in one IndexedDB transaction with strict durability
 * (what docs/PERSISTENCE.md calls raw IndexedDB blob-write bandwidth).
 */
import { records, now } from './common.js';

const MiB = 1 << 20;

const idbOpen = (name) => new Promise((resolve, reject) => {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => req.result.createObjectStore('blobs');
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

export function destroy(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
  });
}

/** Bytes of n records as JSON (id and document): the payload the other systems store. */
export const payloadBytes = (n) => records(n).reduce((sum, r) => sum + r.id.length + JSON.stringify(r.doc).length, 0);

export async function bulk({ name, n }) {
  const bytes = payloadBytes(n);
  const db = await idbOpen(name);
  const noise = crypto.getRandomValues(new Uint8Array(MiB / 16));
  const buffers = Array.from({ length: Math.ceil(bytes / MiB) }, (_, i) => {
    const b = new Uint8Array(Math.min(MiB, bytes - i * MiB));
    for (let o = 0; o < b.length; o += noise.length) b.set(noise.subarray(0, Math.min(noise.length, b.length - o)), o);
    return b.buffer;
  });
  const t = now();
  await new Promise((resolve, reject) => {
    const tx = db.transaction('blobs', 'readwrite', { durability: 'strict' });
    buffers.forEach((b, i) => tx.objectStore('blobs').put(b, i));
    tx.oncomplete = resolve;
    tx.onabort = () => reject(tx.error);
  });
  const ms = now() - t;
  db.close();
  return ms;
}
