// The Pyodide host: Python (webtensor) runs here, off the UI thread.
// Protocol: the page posts {id, cmd, args}; we answer {id, ok, result | error};
// progress lines go out as {progress: text}.  One Python call per request.
// webtensor starts its native runtimes itself from the wheel (webtensor.native), as in
// any other Pyodide app: this worker loads nothing but Pyodide.
importScripts('pyodide/pyodide.js');

let pyodide = null;
let app = null;   // the webtensor.app module (PyProxy)
let testHooks = false;   // the run-Python hook: only for a page opened with ?test=1

// Bytes fetched so far by this worker (Resource Timing sees every fetch it made).
function fetchedBytes() {
  return performance.getEntriesByType('resource').reduce((n, e) => n + (e.encodedBodySize || e.transferSize || 0), 0);
}
function progress(text) {
  self.postMessage({ progress: `${text} (${(fetchedBytes() / (1 << 20)).toFixed(1)} MB fetched)` });
}

// Start-up stages as epoch milliseconds (performance.timeOrigin + now(): comparable with the
// page's clock), for the page's start-up report.
const stages = [];
function stage(name) { stages.push([name, performance.timeOrigin + performance.now()]); }
stage('worker started');

// What does not depend on Pyodide starts at once, in parallel with it: the build manifest and
// the wheel's bytes (installed by unpacking into site-packages: no micropip to load).
const wheelBytes = fetch('webtensor-build.json').then((r) => r.json()).then(async (build) => {
  const res = await fetch(build.wheel);
  if (!res.ok) throw new Error(`cannot fetch ${build.wheel}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  stage('wheel fetched');
  return { build, bytes };
});
wheelBytes.catch(() => {});       // reported where it is awaited

const SNAPSHOT_MAGIC = 0x706e7300;     // Pyodide 0.27's snapshot header, little endian "\0snp"
// The interpreter's memory as booted at build time (tools/pyodide_snapshot.js): restoring it
// skips initialising Python (measured here: Pyodide ready at ~4.5 s -> ~1.4 s).  A missing
// or unusable one is not used: Python boots as usual and the start-up says why.  A cut or
// foreign file is refused here, before Pyodide sees it (a short image makes loadPyodide
// hang); one made by another Pyodide build is refused by Pyodide's own build id check.
const snapshotBytes = fetch('pyodide-snapshot.bin').then((r) => {
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.arrayBuffer();
}).then(async (b) => {
  const bytes = new Uint8Array(b), want = (await wheelBytes).build.snapshot_bytes;
  const magic = bytes.length >= 16 ? new DataView(b).getUint32(0, true) : 0;
  if (bytes.length !== want || magic !== SNAPSHOT_MAGIC) {
    throw new Error(`is ${bytes.length} bytes${magic === SNAPSHOT_MAGIC ? '' : ' without the snapshot magic'}, the build made ${want}`);
  }
  stage('snapshot fetched');
  return bytes;
});
snapshotBytes.catch(() => {});

async function bootPyodide() {
  const indexURL = new URL('pyodide/', self.location).href;
  let snapshot;
  try {
    snapshot = await snapshotBytes;
  } catch (e) {
    return { pyodide: await loadPyodide({ indexURL }), boot: `booted (no snapshot: pyodide-snapshot.bin ${e.message})` };
  }
  try {
    return { pyodide: await loadPyodide({ indexURL, _loadSnapshot: snapshot }), boot: 'snapshot' };
  } catch (e) {
    console.warn(`webtensor: the Pyodide snapshot was refused (${e.message}); booting Python instead`);
    return { pyodide: await loadPyodide({ indexURL }), boot: `booted (snapshot refused: ${String(e.message).split('\n')[0]})` };
  }
}

async function init({ testHooks: hooks } = {}) {
  testHooks = hooks === true;
  const t0 = performance.now();
  progress('loading Pyodide');
  const { pyodide: booted, boot } = await bootPyodide();
  pyodide = booted;
  stage('pyodide ready');
  progress('loading numpy');
  const numpy = pyodide.loadPackage(['numpy'], { messageCallback: () => {}, errorCallback: (m) => progress(m) });
  const { build, bytes } = await wheelBytes;
  progress(`installing ${build.wheel}`);
  const sitePackages = pyodide.runPython('import sysconfig; sysconfig.get_paths()["purelib"]');
  pyodide.unpackArchive(bytes, 'whl', { extractDir: sitePackages });
  stage('wheel installed');
  await numpy;
  stage('numpy loaded');
  app = pyodide.pyimport('webtensor.app');
  stage('webtensor imported');
  return { version: build.version, ms: performance.now() - t0, fetchedBytes: fetchedBytes(),
           crossOriginIsolated: self.crossOriginIsolated === true, stages, boot };
}

// Python functions return JSON text: {"ok": ..., ...}
const parse = (text) => JSON.parse(text);

const handlers = {
  init,
  async loadDetector({ url, minScore }) {
    progress(`loading the detector ${url.split('/').pop()}`);
    return parse(await app.load_detector(url, minScore ?? null));
  },
  async detectImage({ bytes, name }) { return parse(await app.detect_image(new Uint8Array(bytes), name)); },
  async detectFrame({ bitmap }) {
    // ImageBitmap from the page's video: draw it here and hand raw RGBA to Python.
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, width, height).data;
    return parse(await app.detect_frame(rgba, width, height));
  },
  backends() { return parse(app.backends_json()); },
  memory() { return parse(app.memory_json()); },
  async profile() { return parse(await app.profile_json()); },
  async setThreads({ n }) { return parse(await app.set_threads(n)); },
  async setBackend({ name }) { return parse(await app.set_backend(name)); },
  async setPrecision({ precision }) {
    if (precision === 'int8') progress('quantising the model to int8');
    return parse(await app.set_precision(precision, new URL('samples/astronaut.png', self.location).href));
  },
  // the device report (report.html): one measurement per request
  reportSteps({ models }) { return parse(app.report_steps(models)); },
  async reportStep({ model, backend, precision, runs }) {
    return parse(await app.report_step(model, backend, precision, runs,
                                       new URL('samples/astronaut.png', self.location).href));
  },
  reportRecommend({ rows }) { return parse(app.report_recommend(JSON.stringify(rows))); },
  // Test/diagnostic hook: run Python source, return what it evaluates to (JSON text expected).
  async python({ code }) {
    if (!testHooks) throw new Error('the run-Python hook is off (open the page with ?test=1)');
    return await pyodide.runPythonAsync(code);
  },
};

self.onmessage = async (ev) => {
  const { id, cmd, args } = ev.data;
  try {
    if (!handlers[cmd]) throw new Error(`unknown command ${cmd}`);
    if (cmd !== 'init' && !app) throw new Error('the worker is not initialised');
    const result = await handlers[cmd](args || {});
    self.postMessage({ id, ok: true, result });
  } catch (err) {
    self.postMessage({ id, ok: false, error: { type: err.type || err.name || 'Error', message: String(err.message || err) } });
  }
};
