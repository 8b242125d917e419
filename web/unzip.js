// Inflate a zip archive (a wheel) in JS: the browser's own DecompressionStream does the
// deflate, off the Python interpreter.  Pyodide unpacks wheels in Python (zipfile + shutil
// running in wasm): 0.3 s for webtensor's, 0.6-0.7 s for numpy's on the live page, measured;
// the worker instead has them fetched and inflated by a helper worker running this file
// (fetchAndInflate), on another thread while Pyodide boots (on the worker's own thread it
// delayed the boot by ~0.3 s), and only writes the files once Python is up.
// Only what wheels use: stored or deflated entries, no zip64, no encryption.  A malformed
// archive, an entry failing its CRC-32 or one whose path would leave the target directory is
// an error naming it.
'use strict';

const ZIP_END = 0x06054b50, ZIP_CENTRAL = 0x02014b50, ZIP_LOCAL = 0x04034b50;

// -> Promise of [[path inside the archive, Uint8Array], ...] (directories omitted)
async function inflateZip(bytes, label) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (what) => { throw new Error(`${label}: ${what}`); };
  let end = -1;                      // the end record is last, after a comment of <= 64 KiB
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === ZIP_END) { end = i; break; }
  }
  if (end < 0) fail('not a zip archive (no end of central directory)');
  const count = view.getUint16(end + 10, true);
  let p = view.getUint32(end + 16, true);
  const names = new TextDecoder();
  const entries = [];
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== ZIP_CENTRAL) fail(`central directory entry ${k} is damaged`);
    const method = view.getUint16(p + 10, true), crc = view.getUint32(p + 16, true), packed = view.getUint32(p + 20, true);
    const size = view.getUint32(p + 24, true), local = view.getUint32(p + 42, true);
    const nameLen = view.getUint16(p + 28, true);
    const name = names.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    p += 46 + nameLen + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
    if (name.endsWith('/')) continue;
    if (name.startsWith('/') || name.split('/').some((s) => s === '..' || s === '')) fail(`unsafe path ${JSON.stringify(name)}`);
    if (packed === 0xffffffff || size === 0xffffffff || local === 0xffffffff) fail(`${name} is a zip64 entry`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== ZIP_LOCAL) fail(`${name}: no local header`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + packed > bytes.length) fail(`${name} runs past the end of the archive`);
    entries.push({ name, method, crc, size, raw: bytes.subarray(start, start + packed) });
  }
  // one entry at a time through a stream's writer and reader: measured on numpy's 512
  // entries, 145 ms; through Blob/Response wrappers, or all at once, 250-950 ms
  const out = [];
  for (const { name, method, crc, size, raw } of entries) {
    let data;
    if (method === 0) data = raw;
    else if (method === 8) data = await inflateRaw(raw).catch((e) => fail(`${name}: ${e.message}`));
    else fail(`${name} uses compression method ${method}`);
    if (data.length !== size) fail(`${name} inflated to ${data.length} bytes, its header says ${size}`);
    if (crc32(data) !== crc) fail(`${name} fails its CRC-32 check`);
    out.push([name, data]);
  }
  return out;
}

async function inflateRaw(raw) {
  const stream = new DecompressionStream('deflate-raw');
  const writer = stream.writable.getWriter();
  writer.write(raw).catch(() => {});       // a corrupt stream is reported by the reader
  writer.close().catch(() => {});
  const reader = stream.readable.getReader(), chunks = [];
  let n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
  }
  if (chunks.length === 1) return chunks[0];
  const data = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) { data.set(c, at); at += c.length; }
  return data;
}

// CRC-32 eight bytes per step ("slicing by 8": table k maps a byte to its CRC contribution k
// bytes further on): numpy's 14 MB of files took ~90 ms one byte per step, measured.
let CRC_TABLES = null;
function crc32(data) {
  if (!CRC_TABLES) {
    const t = new Uint32Array(8 * 256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    for (let k = 1; k < 8; k++) {
      for (let n = 0; n < 256; n++) {
        const prev = t[(k - 1) * 256 + n];
        t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
      }
    }
    CRC_TABLES = t;
  }
  const t = CRC_TABLES;
  let c = 0xffffffff, i = 0;
  const whole = data.length - (data.length % 8);
  for (; i < whole; i += 8) {
    const a = (c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    c = t[7 * 256 + (a & 0xff)] ^ t[6 * 256 + ((a >>> 8) & 0xff)] ^ t[5 * 256 + ((a >>> 16) & 0xff)]
      ^ t[4 * 256 + (a >>> 24)] ^ t[3 * 256 + data[i + 4]] ^ t[2 * 256 + data[i + 5]]
      ^ t[256 + data[i + 6]] ^ t[data[i + 7]];
  }
  for (; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Write inflated files under dir in an Emscripten file system.
function writeFiles(FS, dir, files) {
  const made = new Set();
  for (const [name, data] of files) {
    const path = `${dir}/${name}`, parent = path.slice(0, path.lastIndexOf('/'));
    if (!made.has(parent)) { FS.mkdirTree(parent); made.add(parent); }
    FS.writeFile(path, data);
  }
}

// The helper: {url, sha256?} -> {ok, size, bytes, files} (buffers transferred) or {ok: false, error}.
async function fetchAndInflate(url, sha256, fetcher = fetch) {
  const label = url.split('/').pop();
  const res = await fetcher(url);
  if (!res.ok) throw new Error(`cannot fetch ${label}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (sha256) {
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)),
                              (b) => b.toString(16).padStart(2, '0')).join('');
    if (digest !== sha256) throw new Error(`${label}: sha256 ${digest}, the build's lock says ${sha256}`);
  }
  return { size: bytes.length, bytes, files: await inflateZip(bytes, label) };
}

if (typeof WorkerGlobalScope !== 'undefined' && self.name === 'webtensor-unzip') {
  importScripts('cache.js');
  self.onmessage = async ({ data: { id, url, sha256, cache } }) => {
    try {
      const fromCache = [];
      const fetcher = cache ? cacheFirstFetch(cache, fetch.bind(self), fromCache, self.location.href) : fetch;
      const out = { ...await fetchAndInflate(url, sha256, fetcher), fromCache };
      const buffers = new Set([out.bytes.buffer, ...out.files.map(([, d]) => d.buffer)]);
      self.postMessage({ id, ok: true, ...out }, [...buffers]);
    } catch (e) {
      self.postMessage({ id, ok: false, error: e.message });
    }
  };
}

// The worker's side: one helper for the start-up's wheels, closed when the last one is back;
// `cache` (webtensor-build.json's) lets it read them from the build's cache (cache.js).
function inflateElsewhere(jobs, cache) {
  const helper = new Worker('unzip.js', { name: 'webtensor-unzip' });
  const pending = new Map();
  helper.onmessage = ({ data }) => {
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    if (pending.size === 0) helper.terminate();
    data.ok ? resolve(data) : reject(new Error(data.error));
  };
  return jobs.map((job, id) => new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    helper.postMessage({ id, ...job, cache });
  }));
}
