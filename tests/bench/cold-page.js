/**
 * cold-page.js -- the page side of cold-breakdown.mjs: bench/page/sloop.js's cold start
 * (import the runtime, open the database, first indexed query), done step by step with each
 * step timed. The steps are the ones openPersistentDb takes; the backend's and WebAssembly's
 * calls are wrapped, not copied, so what is timed is the runtime as it ships.
 */
const now = () => performance.now();

/** Wraps `obj[name]` (an async function) to add its time to `times[label]`. */
function timed(obj, name, times, label) {
  const fn = obj[name];
  obj[name] = async function (...args) {
    const t = now();
    try {
      return await fn.apply(this, args);
    } finally {
      times[label] = (times[label] ?? 0) + now() - t;
    }
  };
}

/**
 * Opens `name` as the bench does and runs its first query; resolves to the step times (ms) and
 * the request figures.
 * @param {{name: string, schemaUrl: string, query: object, leaveOpen?: boolean}} options
 */
export async function coldSteps({ name, schemaUrl, query, leaveOpen = false }) {
  const times = {};
  timed(WebAssembly, 'instantiateStreaming', times, 'wasmInstantiateStreaming');
  timed(WebAssembly, 'compileStreaming', times, 'wasmCompileStreaming');
  timed(WebAssembly, 'instantiate', times, 'wasmInstantiate');
  const idbOpen = indexedDB.open.bind(indexedDB);
  indexedDB.open = (...args) => {
    const t = now();
    const req = idbOpen(...args);
    req.addEventListener('success', () => { times.idbOpen = now() - t; });
    return req;
  };
  const t0 = now();
  const schema = fetch(schemaUrl).then((r) => r.json());
  // What bench/page/sloop.js imports, and the two modules this page wraps, all at once: with
  // the runtime in one file (sw/build.mjs) core.js and core-async.js are not among what the
  // page imports, and importing them after would add a round trip the bench page does not pay.
  const [{ openPersistentDb }, { idbBackend }, { loadModule }, { AsyncCoreDb: coreOpen }] = await Promise.all([
    import('/js/persist.js'), import('/js/storage/idb-backend.js'), import('/js/core.js'), import('/js/core-async.js')]);
  const t1 = now();
  times.importJs = t1 - t0;
  // Not awaited: openPersistentDb loads it as it does in the bench page (awaiting it here
  // would take away what runs while it loads); its own time is when it is ready.
  const marks = {};
  const loaded = loadModule('client').then((mod) => {
    marks.module = now();
    times.loadModule = marks.module - t1;
    // The module's first call (SQLite's initialisation and the VFSes' registration).
    const vfsInit = mod._sloop_vfs_init_js;
    mod._sloop_vfs_init_js = (...args) => {
      const t = now();
      try { return vfsInit(...args); } finally { times.vfsInit = now() - t; }
    };
    return mod;
  });
  // From the request to the grant of the writer lock.
  const locks = navigator.locks;
  const request = locks.request.bind(locks);
  locks.request = (lockName, options, callback) => {
    const t = now();
    return request(lockName, options, (lock) => { times.lock ??= now() - t; return callback(lock); });
  };
  const backend = idbBackend();
  timed(backend, 'claim', times, 'claim');
  const claim = backend.claim;
  backend.claim = (...args) => {
    times.moduleToClaim = now() - marks.module;
    return claim(...args).finally(() => { marks.claimed = now(); });
  };
  // While the module loads, where the backend reads ahead of the claim.
  if (backend.readAhead) timed(backend, 'readAhead', times, 'readAhead');
  timed(backend, 'checkpoint', times, 'drainLog');
  timed(backend, 'readPages', times, 'readPages');
  const reads = [];
  const readPages = backend.readPages;
  backend.readPages = async (name, first, n, owner) => {
    const t = now();
    const pages = await readPages(name, first, n, owner);
    reads.push([first, n, +(t - t0).toFixed(1), +(now() - t).toFixed(2)]);
    return pages;
  };
  if (navigator.storage?.persist) timed(navigator.storage, 'persist', times, 'storagePersist');
  const openFn = coreOpen.open;
  coreOpen.open = async function (...args) {
    const t = now();
    times.claimToCoreOpen = t - marks.claimed;
    try { return await openFn.apply(this, args); } finally { times.coreOpen = now() - t; }
  };
  const pdb = await openPersistentDb({ name, backend, pages: 'auto' });
  const mod = await loaded;
  const t3 = now();
  // Module and open (they overlap where the backend reads ahead).
  times.open = t3 - t1;
  const openReads = backend.stats.pageReads;
  times.openReadPages = times.readPages ?? 0;
  if (!pdb.isWriter) await new Promise((resolve) => pdb.addEventListener('writer', resolve, { once: true }));
  await pdb.core.setSchema(await schema);
  const t4 = now();
  times.setSchema = t4 - t3;
  await pdb.whenDurable();
  const t5 = now();
  times.whenDurable = t5 - t4;
  const rows = await pdb.core.query('notes', query);
  const t6 = now();
  times.query = t6 - t5;
  times.queryReadPages = (times.readPages ?? 0) - times.openReadPages;
  delete times.readPages;
  times.total = t6 - t0;
  const resources = performance.getEntriesByType('resource').map((r) => ({
    url: new URL(r.name).pathname, start: r.startTime, ms: r.duration, bytes: r.transferSize, status: r.responseStatus,
  }));
  const result = {
    times, found: rows.length, mode: pdb.mode, openPageReads: openReads, queryPageReads: backend.stats.pageReads - openReads,
    pagesRead: backend.stats.pagesRead, pagesPrefetched: backend.stats.pagesPrefetched ?? 0, resources, reads, heap: mod.HEAPU8.length,
  };
  // As make bench's tab, which is closed with the database open; else closed (which saves the
  // startup pages' list if it changed).
  if (!leaveOpen) await pdb.close({ waitDurable: false });
  return result;
}
