// The Pyodide host: Python (webtensor) runs here, off the UI thread.
// Protocol: the page posts {id, cmd, args}; we answer {id, ok, result | error};
// progress lines go out as {progress: text}.  One Python call per request.
// webtensor starts its native runtimes itself from the wheel (webtensor.native), as in
// any other Pyodide app: this worker loads nothing but Pyodide.
importScripts('pyodide/pyodide.js', 'unzip.js', 'cache.js');

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

// What does not depend on Pyodide starts at once, in parallel with it: the build manifest,
// webtensor's wheel and numpy's, each fetched and inflated by a helper worker (unzip.js),
// and the memory snapshot.  Once Python is up the wheels' files are only written into its
// file system.
// build.py writes dist's webtensor-build.json here, in dist/worker.js: no request for it, and
// the build's cache is known before the first fetch.  (null: this worker.js is not the build's,
// e.g. a mutant's web root: it fetches the file and caches nothing.)
const BUILD = null;
const buildInfo = BUILD ? Promise.resolve(BUILD) : fetch('webtensor-build.json', { cache: 'no-cache' }).then((r) => {
  if (!r.ok) throw new Error(`cannot fetch webtensor-build.json: HTTP ${r.status}`);
  return r.json();
});
// Every fetch of this worker (Pyodide's own included) goes through the build's cache (cache.js):
// its unchanging files come from the Cache API after the first visit.  `cacheHits` names them.
const cacheHits = [];
const cacheWrites = [];       // done after the first detection (or 5 s after init): cache.js
if (BUILD && BUILD.cache) {
  self.fetch = cacheFirstFetch(BUILD.cache, self.fetch.bind(self), cacheHits, self.location.href, cacheWrites);
  dropOtherBuildCaches(BUILD.cache.name).catch(() => {});
}
let cacheSaved = Promise.resolve();
function writeCache() {
  const puts = cacheWrites.splice(0).map((put) => put());
  if (puts.length) cacheSaved = Promise.all([cacheSaved, ...puts]);
}
// after a detection: once (later detections find nothing left to write, and set no timer)
function writeCacheSoon() { if (cacheWrites.length) setTimeout(writeCache, 0); }
// numpy's wheel is the one dist's pyodide-lock.json names, its sha256 checked here too: Pyodide's
// loadPackage still downloads, checks and registers it and loads its libraries; only its
// unpacking is replaced by writing these files (installNumpyFiles).  Any failure here
// leaves loadPackage to do everything, with the reason in the console.
const wheels = buildInfo.then((build) => inflateElsewhere([
  { url: build.wheel },
  { url: `pyodide/${build.numpy.file}`, sha256: build.numpy.sha256 },
], BUILD && BUILD.cache));
const wheel = wheels.then(([w]) => w).then((w) => { stage('wheel fetched'); return w; });
const numpyFiles = wheels.then(async ([, inflated]) => {
  const [build, n] = [await buildInfo, await inflated];
  stage('numpy inflated');
  return { file: build.numpy.file, size: n.size, files: n.files };
});
wheel.catch(() => {});            // reported where they are awaited
numpyFiles.catch(() => {});

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
  const bytes = new Uint8Array(b), want = (await buildInfo).snapshot_bytes;
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
  try {
    // the promise itself: Pyodide fetches its script and wasm while the snapshot arrives
    return { pyodide: await loadPyodide({ indexURL, _loadSnapshot: snapshotBytes }), boot: 'snapshot' };
  } catch (e) {
    const why = await snapshotBytes.then(() => `snapshot refused: ${String(e.message).split('\n')[0]}`,
                                         (f) => `no snapshot: pyodide-snapshot.bin ${f.message}`);
    console.warn(`webtensor: Pyodide boots without its snapshot (${why})`);
    return { pyodide: await loadPyodide({ indexURL }), boot: `booted (${why})` };
  }
}

// Pyodide's package loader unpacks a wheel in Python (pyodide._package_loader.unpack_buffer);
// for numpy's, whose files are already inflated here, this stands in for it: it writes them,
// then does the rest as the original does (the wheel's INSTALLER record, its data files, the
// list of its libraries for Pyodide to load).  Any other archive goes to the original.
// Returns a function that puts the original back.
const UNPACK_FROM_JS = `
def hook(write, eager_libs):
    eager_libs = set(eager_libs.split(","))
    import pyodide._package_loader as loader
    from pathlib import Path
    from tempfile import NamedTemporaryFile
    from zipfile import ZipFile
    original = loader.unpack_buffer

    def unpack_buffer(buffer, *, filename="", format=None, extract_dir=None, calculate_dynlibs=False,
                      installer=None, source=None):
        name = filename.rpartition("/")[-1]
        if format or extract_dir is None or not write(name, extract_dir, buffer.byteLength):
            return original(buffer, filename=filename, format=format, extract_dir=extract_dir,
                            calculate_dynlibs=calculate_dynlibs, installer=installer, source=source)
        target = Path(extract_dir)
        with NamedTemporaryFile(suffix=name) as f:
            buffer._into_file(f)
            archive = ZipFile(f)
            loader.set_wheel_installer(name, archive, target, installer, source)
            loader.install_datafiles(name, archive, target)
            if not calculate_dynlibs:
                return None
            # numpy's libraries that "import numpy" itself opens load now; the others (random,
            # fft, lapack_lite, the test modules: 5 MB of wasm) when first imported
            return loader.to_js([lib for lib in loader.get_dynlibs(f, ".whl", target)
                                 if lib.rpartition("/")[2].split(".")[0] in eager_libs])

    def restore():
        loader.unpack_buffer = original
    loader.unpack_buffer = unpack_buffer
    return restore
hook
`;

// Pyodide's loadPackage ends with importlib.invalidate_caches(), and CPython 3.12's
// zipimporter answers that by re-reading its archive's directory in Python: the standard
// library's zip, once for each of the ~20 packages imported from it, 200-300 ms on the live
// page (measured).  Here an importer re-reads its archive only when the file changed (size,
// mtime); the directory read last is shared by the importers of the same archive.
const ZIP_DIRECTORY_ONCE = `
def once():
    import os, zipimport
    read = zipimport.zipimporter.invalidate_caches
    known = {}       # archive -> ((mtime, size), directory)

    def stamp(path):
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size

    for archive, files in zipimport._zip_directory_cache.items():
        known[archive] = (stamp(archive), files)

    def invalidate_caches(self):
        try:
            now = stamp(self.archive)
        except OSError:
            return read(self)
        if known.get(self.archive, (None,))[0] == now:
            self._files = zipimport._zip_directory_cache[self.archive] = known[self.archive][1]
            return
        read(self)
        known[self.archive] = (now, self._files)

    zipimport.zipimporter.invalidate_caches = invalidate_caches
once()
`;

// The libraries "import numpy" opens (numpy 2.0: its core, and linalg's, which numpy.lib
// imports).  The package's other 17 load when Python first imports them (a synchronous
// dlopen, allowed in a worker): numpy's load measured 30-50 ms shorter (7.5 -> 4.5 MB of wasm).
const NUMPY_EAGER_LIBS = ['_multiarray_umath', '_umath_linalg'];

function installNumpyFiles(py, numpy) {
  const hook = py.runPython(UNPACK_FROM_JS);
  try {
    return hook((name, dir, nbytes) => {
      if (name !== numpy.file || nbytes !== numpy.size) return false;
      writeFiles(py.FS, dir, numpy.files);
      return true;
    }, NUMPY_EAGER_LIBS.join(','));
  } finally {
    hook.destroy();
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
  pyodide.runPython(ZIP_DIRECTORY_ONCE);
  let restoreUnpack = null;
  try {
    restoreUnpack = installNumpyFiles(pyodide, await numpyFiles);
  } catch (e) {
    console.warn(`webtensor: numpy is unpacked by Pyodide (${e.message})`);
  }
  const numpy = pyodide.loadPackage(['numpy'], { messageCallback: () => {}, errorCallback: (m) => progress(m) });
  const build = await buildInfo;
  progress(`installing ${build.wheel}`);
  const sitePackages = pyodide.runPython('import sysconfig; sysconfig.get_paths()["purelib"]');
  try {
    writeFiles(pyodide.FS, sitePackages, (await wheel).files);
  } catch (e) {       // e.g. a browser without DecompressionStream: Pyodide unpacks it
    console.warn(`webtensor: ${e.message}; Pyodide unpacks the wheel instead`);
    const res = await fetch(build.wheel);
    if (!res.ok) throw new Error(`cannot fetch ${build.wheel}: HTTP ${res.status}`);
    pyodide.unpackArchive(new Uint8Array(await res.arrayBuffer()), 'whl', { extractDir: sitePackages });
  }
  stage('wheel installed');
  try {
    await numpy;
  } finally {
    if (restoreUnpack) { restoreUnpack(); restoreUnpack.destroy(); }
  }
  stage('numpy loaded');
  app = pyodide.pyimport('webtensor.app');
  stage('webtensor imported');
  setTimeout(writeCache, 5000);
  // what the helper read from the build's cache (its jobs are done: both wheels were awaited)
  const helperHits = (await Promise.allSettled(await wheels.catch(() => [])))
    .flatMap((r) => (r.status === 'fulfilled' ? r.value.fromCache : []));
  return { version: build.version, ms: performance.now() - t0, fetchedBytes: fetchedBytes(),
           crossOriginIsolated: self.crossOriginIsolated === true, stages, boot,
           fromCache: [...cacheHits, ...helperHits] };
}

// Python functions return JSON text: {"ok": ..., ...}
const parse = (text) => JSON.parse(text);

const handlers = {
  init,
  async loadDetector({ url, minScore }) {
    progress(`loading the detector ${url.split('/').pop()}`);
    return parse(await app.load_detector(url, minScore ?? null));
  },
  async detectImage({ bytes, name }) {
    try { return parse(await app.detect_image(new Uint8Array(bytes), name)); } finally { writeCacheSoon(); }
  },
  async detectFrame({ bitmap }) {
    // ImageBitmap from the page's video: draw it here and hand raw RGBA to Python.
    const { width, height } = bitmap;
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, width, height).data;
    try { return parse(await app.detect_frame(rgba, width, height)); } finally { writeCacheSoon(); }
  },
  // resolves once the build's files fetched so far are in the Cache API (tools wait for it
  // before closing the page, so that the next visit finds them)
  async cacheWritten() { writeCache(); await cacheSaved; return cacheHits.length; },
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
