// The build's unchanging files from the Cache API: Pyodide's wasm, standard library and lock
// file, numpy's and webtensor's wheels and the memory snapshot (~45 MB) are the same for every
// visit of one build, so after the first visit they are read from a cache named after the
// build (webtensor-build.json's `cache`: a hash over those files) with no request at all.
// Why not HTTP caching alone: a browser keeps no entry larger than a fraction of its HTTP
// cache, and a small one (a private window's, headless Chromium's) then fetches the 24 MB
// snapshot and the 10 MB wasm again on every visit (seen here: the second visit transferred
// both).  Anything the Cache API refuses (no `caches` outside a secure context, quota) falls
// back to the network, never to an error.
'use strict';

// {name, files: [paths relative to the web root]} -> a fetch that serves those files cache-first
// (others go to `fetcher` untouched) and records what it read from the cache in `hits`.
// `later` (optional) collects the writes to the cache as functions to call once start-up is
// over: writing 40 MB into the cache while Pyodide boots delayed a cold start by ~70 ms here.
function cacheFirstFetch(cache, fetcher, hits, base, later = null) {
  const files = new Set((cache.files || []).map((f) => new URL(f, base).href));
  const usable = typeof caches !== 'undefined' && cache.name;
  return async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url, base).href;
    if (!usable || !files.has(url) || (init && init.method && init.method !== 'GET')) return fetcher(input, init);
    let store = null;
    try {
      store = await caches.open(cache.name);
      const hit = await store.match(url);
      if (hit) { hits.push(url.slice(url.lastIndexOf('/') + 1)); return hit; }
    } catch (e) {
      console.warn(`webtensor: the Cache API is unavailable (${e.message}); fetching ${url}`);
      store = null;
    }
    const res = await fetcher(input, init);
    if (store && res.ok) {
      const copy = res.clone();
      const put = () => store.put(url, copy).catch((e) => console.warn(`webtensor: not cached: ${url} (${e.message})`));
      if (later) later.push(put); else put();
    }
    return res;
  };
}

// Caches of earlier builds: deleted once this build's name is known.
async function dropOtherBuildCaches(name) {
  if (typeof caches === 'undefined' || !name) return;
  for (const key of await caches.keys()) {
    if (key.startsWith('webtensor-') && key !== name) await caches.delete(key);
  }
}
