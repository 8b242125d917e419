// The page (UI thread): starts the Pyodide worker, feeds it camera frames or
// images, draws the faces it returns.  Frames cross as ImageBitmaps (transferred).
const params = new URLSearchParams(location.search);
const DEFAULT_MODEL = 'models/blazeface.json';
// ?model= loads only from this page's own origin: a link must not make the page fetch
// and run a model file from anywhere else.
const MODEL_URL = (() => {
  const url = new URL(params.get('model') || DEFAULT_MODEL, location.href);
  if (url.origin === location.origin) return url.href;
  queueMicrotask(() => showError(`?model=${params.get('model')} refused: only models on this site ` +
                                 `(${location.origin}) load; using ${DEFAULT_MODEL}`));
  return new URL(DEFAULT_MODEL, location.href).href;
})();
// ?test=1 enables the run-Python hook the browser tests use; a normal visit has none.
const TEST_HOOKS = params.get('test') === '1';
const $ = (id) => document.getElementById(id);

class WorkerClient {
  constructor(url, onProgress) {
    this.worker = new Worker(url);
    this.pending = new Map();
    this.nextId = 1;
    this.worker.onmessage = (ev) => {
      const msg = ev.data;
      if (msg.progress !== undefined) { onProgress(msg.progress); return; }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      msg.ok ? p.resolve(msg.result) : p.reject(Object.assign(new Error(msg.error.message), { type: msg.error.type }));
    };
    this.worker.onerror = (ev) => {
      const err = new Error(`worker failed: ${ev.message || 'unknown error'}`);
      for (const p of this.pending.values()) { clearTimeout(p.timer); p.reject(err); }
      this.pending.clear();
      showError(err.message);
    };
  }
  call(cmd, args = {}, transfer = [], timeoutMs = 180000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${cmd} timed out after ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.postMessage({ id, cmd, args }, transfer);
    });
  }
}

function setStatus(text) { $('status').textContent = text; }
function showError(text) { const e = $('error'); e.textContent = text; e.hidden = !text; }

// A Python-side result {ok, error} -> value or thrown Error (typed like the Python error)
function unwrap(res) {
  if (res.ok) return res;
  if (res.error.traceback) console.error(res.error.traceback);
  throw Object.assign(new Error(`${res.error.type}: ${res.error.message}`),
                     { type: res.error.type, detail: res.error.message });
}

const client = new WorkerClient('worker.js', (p) => setStatus(`${p}…`));
const stats = { times: [], frames: [], history: [], running: false };   // history: [t, ms, fps]

// Start-up stages, ms since the page's navigation began (worker stages come as epoch ms):
// printed by the start-up test; the page's readiness is 'first detection drawn'.
const startup = { stages: [['page script', performance.now()]] };
function startupStage(name, epochMs) {
  startup.stages.push([name, epochMs === undefined ? performance.now() : epochMs - performance.timeOrigin]);
}

const ready = (async () => {
  const info = await client.call('init', { testHooks: TEST_HOOKS });
  for (const [name, at] of info.stages || []) startupStage(name, at);
  startup.pyodideBoot = info.boot;      // 'snapshot', or how Python booted without one and why
  startup.fromCache = info.fromCache;   // the build's files read from the Cache API (cache.js)
  startupStage('worker ready');
  let be = await client.call('backends');
  // the fastest backend, unless ?backend= names one: asking for threads is enough, Python's
  // set_backend falls back (SIMD, scalar, numpy) and says why.  (WebGL on a real GPU can beat
  // wasm on big models; for BlazeFace the threaded SIMD kernels win.)  Chosen before the
  // model loads: the pool's threads start while the model is fetched, and the plan compiled
  // at load is the one the first detection runs.
  const wanted = params.get('backend') || 'wasm-simd-threads';
  if (wanted !== be.current) {
    unwrap(await client.call('setBackend', { name: wanted }));
    be = await client.call('backends');
  }
  fillBackends(be);
  startupStage(`backend ${be.current} ready`);
  setStatus('loading the detector…');
  const loaded = unwrap(await client.call('loadDetector', { url: MODEL_URL }));
  startupStage('model loaded');
  showDetector(MODEL_URL);
  setStatus(`ready: webtensor ${info.version}, Pyodide + numpy + webtensor (${fmtBytes(info.fetchedBytes)}) in ` +
            `${Math.round(info.ms)} ms, model ` +
            `(${fmtBytes(loaded.weight_bytes)} of weights) in ${Math.round(loaded.load_ms)} ms` +
            (info.crossOriginIsolated ? '' : ' (not cross-origin isolated: no threads)'));
  setInterval(refreshMemory, 1000);
  refreshMemory();
  return info;
})();
ready.catch((err) => { setStatus('failed'); showError(`Start-up failed: ${err.message}`); });

function fmtBytes(n) {
  if (n == null) return '–';
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KB` : `${n} B`;
}

function fillBackends(be) {
  const sel = $('backend');
  sel.innerHTML = '';
  const notes = [];
  for (const [name, b] of Object.entries(be.backends)) {
    const opt = new Option(b.available ? name : `${name} (unavailable)`, name);
    opt.disabled = !b.available;
    opt.title = b.reason;
    opt.selected = name === be.current;
    sel.add(opt);
    if (!b.available) notes.push(`${name}: ${b.reason}`);
  }
  $('backend-note').textContent = notes.join('; ');
  $('threads').disabled = be.current !== 'wasm-simd-threads';
}

// ------------------------------------------------------------------ time plots
// A canvas sized to its panel (device pixels), redrawn with a time axis over the last
// minute: series [{label, color, points: [[t ms, value]], axis: 'left' | 'right'}].
const WINDOW_MS = 60000;
function fitCanvas(c, cssHeight) {
  const dpr = window.devicePixelRatio || 1, w = Math.max(200, c.parentElement.clientWidth - 4);
  c.style.width = `${w}px`;
  c.style.height = `${cssHeight}px`;
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(cssHeight * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(cssHeight * dpr);
  }
  const ctx = c.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, cssHeight);
  return { ctx, w, h: cssHeight };
}

function timePlot(c, series, fmt, fmtRight) {
  const { ctx, w, h } = fitCanvas(c, 150);
  const now = performance.now(), left = 58, right = fmtRight ? 48 : 10, top = 18, bottom = 20;
  const pw = w - left - right, ph = h - top - bottom;
  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#ccc';
  ctx.fillStyle = '#555';
  ctx.strokeRect(left, top, pw, ph);
  for (let s = 0; s <= 60; s += 15) {                  // time axis: seconds before now
    const x = left + pw * (1 - s / 60);
    ctx.fillText(s ? `-${s} s` : 'now', x - (s ? 12 : 10), h - 5);
  }
  const scales = {};
  for (const axis of ['left', 'right']) {
    const vals = series.filter((sr) => sr.axis === axis).flatMap((sr) => sr.points.map((p) => p[1]));
    scales[axis] = Math.max(1e-9, ...vals) * 1.1;
  }
  ctx.fillText(fmt(scales.left), 2, top + 8);
  ctx.fillText(fmt(0), 2, top + ph);
  if (fmtRight) { ctx.fillText(fmtRight(scales.right), w - right + 4, top + 8); ctx.fillText(fmtRight(0), w - right + 4, top + ph); }
  let lx = left;
  for (const sr of series) {
    ctx.strokeStyle = sr.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    sr.points.filter((p) => now - p[0] <= WINDOW_MS).forEach(([t, v], i) => {
      const x = left + pw * (1 - (now - t) / WINDOW_MS), y = top + ph - (v / scales[sr.axis]) * ph;
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = sr.color;
    ctx.fillText(sr.label, lx, 12);
    lx += ctx.measureText(sr.label).width + 14;
  }
}

// ------------------------------------------------------------------ memory panel
const memHistory = [];     // [t, bytes, heap]
async function refreshMemory() {
  let res;
  try { res = unwrap(await client.call('memory')); } catch (err) { return; }
  const m = res.memory;
  const backend = $('backend').value;
  const heap = m.backends[backend];
  $('mem-tensors').textContent = String(m.num_tensors);
  $('mem-bytes').textContent = fmtBytes(m.num_bytes);
  $('mem-heap').textContent = heap && heap.kind === 'wasm'
    ? `${fmtBytes(heap.heap_used_bytes)} / ${fmtBytes(heap.heap_reserved_bytes)}` : 'n/a on this backend';
  const plans = m.models.flatMap((md) => md.plans).filter((p) => p.backend === backend);
  $('mem-arena').textContent = plans.length ? plans.map((p) => fmtBytes(p.arena_bytes)).join(', ') : '–';
  $('mem-note').textContent = m.unreliable ? `estimated: ${m.reasons.join('; ')}` : '';
  const now = performance.now();
  memHistory.push([now, m.num_bytes, heap && heap.heap_used_bytes || 0]);
  while (memHistory.length && now - memHistory[0][0] > WINDOW_MS) memHistory.shift();
  plotMemory();
  plotSpeed();
  window.webtensorApp.memory = m;
  window.webtensorApp.memoryUpdates += 1;
}

const fmtMB = (v) => `${(v / 2 ** 20).toFixed(1)} MB`;
function plotMemory() {
  timePlot($('mem-plot'), [
    { label: 'tensors + weights', color: '#1565c0', axis: 'left', points: memHistory.map((h) => [h[0], h[1]]) },
    { label: 'wasm heap used', color: '#ef6c00', axis: 'left', points: memHistory.map((h) => [h[0], h[2]]) }], fmtMB);
}

function plotSpeed() {
  timePlot($('perf-plot'), [
    { label: 'inference ms', color: '#1565c0', axis: 'left', points: stats.history.map((h) => [h[0], h[1]]) },
    { label: 'FPS', color: '#2e7d32', axis: 'right', points: stats.history.filter((h) => h[2] != null).map((h) => [h[0], h[2]]) }],
  (v) => `${v.toFixed(0)} ms`, (v) => `${v.toFixed(0)} fps`);
}
window.addEventListener('resize', () => { plotMemory(); plotSpeed(); });

// ------------------------------------------------------------------ profile panel
async function runProfile() {
  try {
    const p = unwrap(await client.call('profile'));
    $('profile-note').textContent = `${p.backend}: ${p.kernels.length} kernels, ${p.total_ms.toFixed(1)} ms in ` +
      `kernels; ${p.timing}`;
    drawProfile(p.kernels.slice(0, 15));
    window.webtensorApp.lastProfile = p;
    return p;
  } catch (err) { showError(err.message); throw err; }
}

function drawProfile(kernels) {
  const { ctx, w: cw, h: ch } = fitCanvas($('profile-chart'), 20 * Math.max(kernels.length, 1) + 10);
  const max = Math.max(1e-6, ...kernels.map((k) => k.ms));
  const rowH = (ch - 10) / Math.max(kernels.length, 1);
  ctx.font = '11px sans-serif';
  kernels.forEach((k, i) => {
    const y = 5 + i * rowH, w = (k.ms / max) * Math.max(40, cw - 270);
    ctx.fillStyle = '#1565c0';
    ctx.fillRect(200, y, w, rowH * 0.7);
    ctx.fillStyle = '#333';
    const label = `${k.op} ${k.node.split('/').slice(-2).join('/')}`;
    ctx.fillText(label.length > 32 ? label.slice(0, 31) + '…' : label, 2, y + rowH * 0.6);
    ctx.fillText(`${k.ms.toFixed(2)} ms`, 205 + w, y + rowH * 0.6);
  });
}

function median(xs) { const s = [...xs].sort((a, b) => a - b); return s.length ? s[s.length >> 1] : 0; }

function draw(result, source) {
  if (startup.readyMs === undefined) {       // the page's readiness: its first detection drawn
    startupStage('first detection drawn');
    startup.readyMs = startup.stages[startup.stages.length - 1][1];
  }
  const canvas = $('overlay');
  canvas.width = result.width;
  canvas.height = result.height;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (source) ctx.drawImage(source, 0, 0);
  ctx.lineWidth = Math.max(2, result.width / 200);
  for (const f of result.faces) {
    const [x0, y0, x1, y1] = f.box;
    ctx.strokeStyle = '#00e676';
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    if (result.connections) {          // hands: the 21 landmarks' skeleton
      ctx.strokeStyle = '#ffd600';
      for (const [a, b] of result.connections) {
        ctx.beginPath();
        ctx.moveTo(...f.keypoints[a]);
        ctx.lineTo(...f.keypoints[b]);
        ctx.stroke();
      }
    }
    ctx.fillStyle = '#ff1744';
    for (const [x, y] of f.keypoints) { ctx.beginPath(); ctx.arc(x, y, ctx.lineWidth * 1.5, 0, 2 * Math.PI); ctx.fill(); }
    ctx.fillStyle = '#00e676';
    ctx.font = `${Math.max(12, result.width / 40)}px sans-serif`;
    ctx.fillText((f.label ? `${f.label} ` : '') + f.score.toFixed(2), x0, Math.max(12, y0 - 4));
  }
  stats.times.push(result.ms);
  if (stats.times.length > 30) stats.times.shift();
  const now = performance.now();
  stats.history.push([now, result.ms, stats.running ? stats.frames.length / 2 : null]);
  while (stats.history.length && now - stats.history[0][0] > WINDOW_MS) stats.history.shift();
  $('faces').textContent = String(result.faces.length);
  $('infer').textContent = `${median(stats.times).toFixed(1)} ms`;
  showDetections(result.faces);
  window.webtensorApp.lastResult = result;
}

// Detections as a compact table: score and box; the keypoints in the row's tooltip.
function showDetections(faces) {
  const body = $('detections').tBodies[0];
  body.innerHTML = '';
  faces.forEach((f, i) => {
    const [x0, y0, x1, y1] = f.box.map(Math.round);
    const tr = document.createElement('tr');
    for (const text of [i + 1, f.score.toFixed(2), `${x0}, ${y0} → ${x1}, ${y1}`, `${x1 - x0}×${y1 - y0}`]) {
      const td = document.createElement('td');
      td.textContent = String(text);
      tr.append(td);
    }
    tr.title = (f.landmarks ? `${f.handedness.label} hand, presence ${f.presence}; landmarks: ` : 'keypoints (eyes, nose, mouth, ears): ') + f.keypoints.map(([x, y]) => `(${Math.round(x)}, ${Math.round(y)})`).join(' ');
    body.append(tr);
  });
}

async function detectBytes(buffer, name) {
  await ready;
  return unwrap(await client.call('detectImage', { bytes: buffer, name }, [buffer]));
}

let lastImageBlob = null;        // the image on show, re-detected when the detector changes
async function showImageFile(blob, name) {
  stopCamera();
  showError('');
  lastImageBlob = { blob, name };
  try {
    const buffer = await blob.arrayBuffer();
    const result = await detectBytes(buffer.slice(0), name);
    const bitmap = await createImageBitmap(blob);
    $('video').hidden = true;
    draw(result, bitmap);
    setStatus(`${name}: ${result.faces.length} ${result.kind === 'hands' ? 'hand' : 'face'}(s) in ${result.ms.toFixed(0)} ms`);
  } catch (err) { showError(err.message); }
}

// ------------------------------------------------------------------ camera
async function startCamera() {
  showError('');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch (err) {
    const why = err.name === 'NotAllowedError' ? 'camera permission was denied'
      : err.name === 'NotFoundError' ? 'no camera was found' : `the camera failed (${err.name}: ${err.message})`;
    showError(`Live detection needs a camera, but ${why}. Use "Open an image" or the sample photo instead.`);
    $('camera-state').textContent = 'unavailable';
    return false;
  }
  const video = $('video');
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  $('camera-state').textContent = 'on';
  await ready;
  stats.running = true;
  loop();
  return true;
}

function stopCamera() {
  stats.running = false;
  const video = $('video');
  if (video.srcObject) { video.srcObject.getTracks().forEach((t) => t.stop()); video.srcObject = null; }
  $('camera-state').textContent = 'off';
}

async function loop() {
  const video = $('video');
  while (stats.running) {
    if (video.readyState < 2) { await new Promise((r) => setTimeout(r, 30)); continue; }
    try {
      const bitmap = await createImageBitmap(video);
      const result = unwrap(await client.call('detectFrame', { bitmap }, [bitmap]));
      draw(result, video);
      const now = performance.now();
      stats.frames.push(now);
      while (stats.frames.length && now - stats.frames[0] > 2000) stats.frames.shift();
      $('fps').textContent = (stats.frames.length / 2).toFixed(1);
      window.webtensorApp.frames += 1;
    } catch (err) {
      showError(err.message);
      stats.running = false;
    }
  }
}

// ------------------------------------------------------------------ wiring + API for tests/CLI
$('start-camera').onclick = () => startCamera();
$('stop-camera').onclick = () => stopCamera();
// the sample photo: a face, or for the hand detectors a photo with a hand
$('sample').onclick = async () => {
  const det = $('detector').value;
  const name = det.includes('hand_landmark') ? 'zidane.jpg' : det.includes('handtrack') ? 'hand.png' : 'astronaut.png';
  showImageFile(await (await fetch(`samples/${name}`)).blob(), name);
};
$('file').onchange = (ev) => { const f = ev.target.files[0]; if (f) showImageFile(f, f.name); };
$('backend').onchange = async (ev) => {
  try {
    const res = unwrap(await client.call('setBackend', { name: ev.target.value }));
    $('backend').value = res.current;            // a fallback may have been chosen instead
    $('threads').disabled = res.current !== 'wasm-simd-threads';
    stats.times.length = 0;
    showError('');
  } catch (err) { showError(err.message); }
};
$('threads').onchange = async (ev) => {
  try { await client.call('setThreads', { n: Number(ev.target.value) }); stats.times.length = 0; }
  catch (err) { showError(err.message); }
};
$('precision').onchange = (ev) => setPrecision(ev.target.value).catch(() => {});
$('detector').onchange = (ev) => setDetector(ev.target.value).catch(() => {});

// the detector select shows the loaded model (an unlisted ?model= gets its own entry)
function showDetector(url) {
  const sel = $('detector');
  const rel = new URL(url, location.href).pathname.replace(/^.*?\/models\//, 'models/');
  if (![...sel.options].some((o) => o.value === rel)) sel.add(new Option(rel, rel));
  sel.value = rel;
}

// Switch the face detector in the running worker (no reload): BlazeFace's model.json or one
// of MediaPipe's .tflite detectors; the precision goes back to float32 for the new model.
async function setDetector(url) {
  const sel = $('detector');
  sel.disabled = true;
  try {
    await ready;
    const res = unwrap(await client.call('loadDetector', { url: new URL(url, location.href).href }));
    showDetector(url);
    $('precision').value = 'float32';
    stats.times.length = 0;
    showError('');
    const u = new URL(location.href);
    u.searchParams.set('model', url);
    history.replaceState(null, '', u);
    if (lastImageBlob) await showImageFile(lastImageBlob.blob, lastImageBlob.name);
    setStatus(`${res.detector} ${url.split('/').pop()} (${res.input_size}x${res.input_size}, ` +
              `${fmtBytes(res.weight_bytes)} of weights) loaded in ${Math.round(res.load_ms)} ms`);
    return res;
  } catch (err) {
    showError(err.message);
    throw err;
  } finally { sel.disabled = false; }
}
$('profile-btn').onclick = () => runProfile().catch(() => {});

async function setPrecision(precision) {
  const sel = $('precision');
  sel.disabled = true;
  try {
    const res = unwrap(await client.call('setPrecision', { precision }));
    sel.value = res.precision;
    stats.times.length = 0;
    showError('');
    setStatus(precision === 'int8'
      ? `int8: ${res.int8_kernels} int8 kernels, weights ${fmtBytes(res.float_weight_bytes)} -> ` +
        `${fmtBytes(res.weight_bytes)}` + (res.quantize_ms ? `, quantised in ${(res.quantize_ms / 1000).toFixed(1)} s` : '')
      : `float32: weights ${fmtBytes(res.weight_bytes)}`);
    return res;
  } catch (err) {
    sel.value = 'float32';
    showError(err.message);
    throw err;
  } finally { sel.disabled = false; }
}

function base64ToBuffer(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes.buffer;
}

window.webtensorApp = {
  ready,
  startup,
  frames: 0,
  lastResult: null,
  memory: null,
  memoryUpdates: 0,
  lastProfile: null,
  runProfile,
  setPrecision,
  setDetector,
  // -> {ok: true, faces, ...} or {ok: false, error: {type, message}}: never throws, never hangs
  async detectBase64(b64, name, backend) {
    try {
      await ready;
      if (backend) unwrap(await client.call('setBackend', { name: backend }));
      return await detectBytes(base64ToBuffer(b64), name);
    } catch (err) { return { ok: false, error: { type: err.type || 'Error', message: err.detail ?? err.message } }; }
  },
  ...(TEST_HOOKS ? { async python(code) { await ready; return client.call('python', { code }); } } : {}),
  startCamera, stopCamera,
  // the build's files this visit fetched are in the Cache API once this resolves (web/cache.js)
  async cacheWritten() { await ready; return client.call('cacheWritten'); },
};

if (params.get('camera') !== '0') startCamera();
