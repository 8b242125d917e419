// The device report: capabilities detected here, then each (model, backend, precision)
// measured by webtensor in the Pyodide worker (the live page's worker.js), one step per
// request, then the recommendation matrix computed from those rows (webtensor/report.py).
// ?models=blazeface,mobilenetv2&runs=20 narrows or widens it.
'use strict';
const params = new URLSearchParams(location.search);
const MODELS = (params.get('models') || 'blazeface,mobilenetv2').split(',').filter(Boolean);
const RUNS = Math.max(1, Math.min(1000, Number(params.get('runs')) || 20));
const $ = (id) => document.getElementById(id);
// The smallest module using a v128 op: validates only where wasm SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);

const worker = new Worker('worker.js');
const pending = new Map();
let nextId = 1;
worker.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.progress !== undefined) { $('status').textContent = `${msg.progress}…`; return; }
  const p = pending.get(msg.id);
  pending.delete(msg.id);
  if (p) msg.ok ? p.resolve(msg.result) : p.reject(new Error(msg.error.message));
};
function call(cmd, args = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => { pending.set(id, { resolve, reject }); worker.postMessage({ id, cmd, args }); });
}
function unwrap(res) {
  if (res.ok) return res;
  throw new Error(`${res.error.type}: ${res.error.message}`);
}
const fmtMs = (v) => (v == null ? '–' : v < 10 ? v.toFixed(2) : v.toFixed(1));
const fmtMB = (b) => (b == null ? '–' : (b / 2 ** 20).toFixed(2));
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  Object.assign(e, attrs);
  e.append(...kids.map((k) => (k instanceof Node ? k : document.createTextNode(String(k)))));
  return e;
};

// ---------------------------------------------------------------- capabilities
async function capabilities() {
  const caps = [];
  const add = (name, value, how) => caps.push({ name, value, how });
  add('WebAssembly', typeof WebAssembly === 'object', 'typeof WebAssembly');
  add('WASM SIMD', WebAssembly.validate(SIMD_PROBE), 'WebAssembly.validate() of a module that uses a v128 op');
  add('cross-origin isolated', self.crossOriginIsolated === true, 'self.crossOriginIsolated (the COOP/COEP headers)');
  add('SharedArrayBuffer', typeof SharedArrayBuffer !== 'undefined', 'typeof SharedArrayBuffer');
  add('Web Workers', typeof Worker !== 'undefined', 'typeof Worker');
  add('hardwareConcurrency', navigator.hardwareConcurrency ?? null, 'navigator.hardwareConcurrency (logical cores)');
  const gl = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(1, 1).getContext('webgl2') : null;
  add('WebGL2', !!gl, "new OffscreenCanvas(1, 1).getContext('webgl2')");
  add('WebGL2 float render targets', !!(gl && gl.getExtension('EXT_color_buffer_float')), "getExtension('EXT_color_buffer_float')");
  add('WebGL2 max texture size', gl ? gl.getParameter(gl.MAX_TEXTURE_SIZE) : null, 'getParameter(MAX_TEXTURE_SIZE)');
  const dbg = gl && gl.getExtension('WEBGL_debug_renderer_info');
  add('WebGL2 renderer', gl ? gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : null,
      'WEBGL_debug_renderer_info (else RENDERER)');
  if (gl && gl.getExtension('WEBGL_lose_context')) gl.getExtension('WEBGL_lose_context').loseContext();
  let adapter = null, gpuHow = 'navigator.gpu is undefined';
  if (navigator.gpu) {
    gpuHow = 'navigator.gpu.requestAdapter()';
    adapter = await Promise.race([navigator.gpu.requestAdapter().catch(() => null),
                                  new Promise((r) => setTimeout(() => r(null), 3000))]);
  }
  const info = adapter ? (adapter.info || {}) : {};
  add('WebGPU adapter', adapter ? `${info.vendor || '?'} ${info.architecture || ''}`.trim() : false, gpuHow);
  add('WebGPU fallback adapter', adapter ? !!(info.isFallbackAdapter ?? adapter.isFallbackAdapter) : null,
      'adapter.info.isFallbackAdapter (a software adapter)');
  add('deviceMemory hint', navigator.deviceMemory ?? null, 'navigator.deviceMemory (GB, rounded down; Chromium only)');
  add('user agent', navigator.userAgent, 'navigator.userAgent');
  return caps;
}

function showCapabilities(caps) {
  const t = $('caps');
  for (const c of caps) {
    const v = c.value === true ? 'yes' : c.value === false ? 'no' : c.value == null ? 'unknown' : String(c.value);
    t.append(el('tr', { className: 'cap' }, el('td', {}, c.name), el('td', { className: `v-${v}` }, v), el('td', { className: 'how' }, c.how)));
  }
}

// ---------------------------------------------------------------- per-model tables and charts
const COLUMNS = [['backend', 'backend'], ['precision', 'precision'], ['load ms', 'load_ms'], ['first ms', 'first_ms'],
  ['median ms', 'median_ms'], ['p90 ms', 'p90_ms'], ['images/s', 'images_per_s'], ['peak MB', 'peak_bytes'],
  ['accuracy Δ', 'accuracy_delta'], ['numpy fallbacks', 'fallbacks']];

function modelSection(model) {
  let sec = $(`model-${model}`);
  if (sec) return sec;
  const head = el('tr', {}, ...COLUMNS.map(([h]) => el('th', {}, h)));
  sec = el('section', { className: 'panel', id: `model-${model}` }, el('h2', {}, model),
    el('div', { className: 'scroll' }, el('table', { className: 'grid rows' }, head)),
    el('canvas', { className: 'chart', height: 40, ariaLabel: `${model}: median and p90 per backend` }));
  $('models').append(sec);
  return sec;
}

function cell(key, row) {
  const v = row[key];
  if (row.error && !['backend', 'precision'].includes(key)) return key === 'load_ms' ? row.error : '';
  if (key === 'peak_bytes') return `${fmtMB(v)} (${row.memory_kind})`;
  if (key === 'accuracy_delta') return v == null ? '–' : v.toExponential(1);
  if (key === 'images_per_s') return v == null ? '–' : `${v.toFixed(1)} (batch ${row.throughput_batch})`;
  if (key === 'fallbacks') {          // "Op (node) -> dtype" entries: count them by op type
    if (!v || !v.length) return 'none';
    const ops = [...new Set(v.map((f) => f.split(' ')[0]))];
    return `${v.length} nodes: ${ops.slice(0, 4).join(', ')}${ops.length > 4 ? ', …' : ''}`;
  }
  if (key.endsWith('_ms')) return fmtMs(v);
  return String(v);
}

function addRow(row) {
  const sec = modelSection(row.model);
  const tr = el('tr', { className: 'row' }, ...COLUMNS.map(([, k]) => el('td', { className: `c-${k}` }, cell(k, row))));
  if (row.fallbacks && row.fallbacks.length) tr.querySelector('.c-fallbacks').title = row.fallbacks.join('\n');
  tr.dataset.backend = row.backend;
  tr.dataset.precision = row.precision;
  if (row.error) tr.classList.add('failed');
  sec.querySelector('table').append(tr);
  drawChart(sec.querySelector('canvas'), report.rows.filter((r) => r.model === row.model && r.median_ms != null));
}

function drawChart(canvas, rows) {
  const w = Math.max(240, canvas.parentElement.clientWidth - 8), rowH = 22;
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = '100%';
  canvas.style.maxWidth = `${w}px`;
  canvas.style.height = `${rows.length * rowH + 24}px`;
  canvas.width = w * dpr;
  canvas.height = (rows.length * rowH + 24) * dpr;
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  const max = Math.max(1e-6, ...rows.map((r) => r.p90_ms));
  const left = Math.min(170, w * 0.4), right = 70, plotW = Math.max(50, w - left - right);
  ctx.font = '12px system-ui, sans-serif';
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    ctx.fillStyle = '#333';
    ctx.fillText(`${r.backend} ${r.precision}`, 2, y + 14);
    ctx.fillStyle = r.precision === 'int8' ? '#ef6c00' : '#1565c0';
    ctx.fillRect(left, y + 3, (r.median_ms / max) * plotW, rowH - 8);
    ctx.fillStyle = '#000';
    ctx.fillRect(left + (r.p90_ms / max) * plotW, y + 1, 2, rowH - 4);     // the p90 tick
    ctx.fillStyle = '#333';
    ctx.fillText(`${fmtMs(r.median_ms)} ms`, left + (r.p90_ms / max) * plotW + 6, y + 14);
  });
  ctx.fillStyle = '#666';
  ctx.fillText('bar: median ms, tick: p90 (blue float32, orange int8)', left, rows.length * rowH + 18);
}

function redrawCharts() {
  for (const model of new Set(report.rows.map((r) => r.model))) {
    const sec = $(`model-${model}`);
    if (sec) drawChart(sec.querySelector('canvas'), report.rows.filter((r) => r.model === model && r.median_ms != null));
  }
}
window.addEventListener('resize', redrawCharts);

// ---------------------------------------------------------------- the matrix
function showMatrix(rec) {
  const t = $('matrix');
  t.innerHTML = '';
  const models = Object.keys(rec.recommendations);
  t.append(el('tr', {}, el('th', {}, 'scenario'), ...models.map((m) => el('th', {}, m))));
  for (const scenario of rec.scenarios) {
    const tds = models.map((m) => {
      const r = rec.recommendations[m].find((x) => x.scenario === scenario);
      return el('td', { className: 'rec' }, el('strong', {}, `${r.backend} ${r.precision}`), el('br'),
        el('span', { className: 'why' }, r.why), el('br'), el('code', {}, r.code));
    });
    const tr = el('tr', {}, el('th', {}, scenario), ...tds);
    tr.dataset.scenario = scenario;
    t.append(tr);
  }
  $('matrix-note').textContent = `int8 is recommended only where no output moved by more than ` +
    `${rec.int8_tolerance * 100}% of its range (accuracy Δ) against float32 on numpy, on the sample photo.`;
}

// ---------------------------------------------------------------- the run
const report = { version: null, date: new Date().toISOString(), url: location.href, models: MODELS, runs: RUNS,
                 capabilities: [], backends: {}, unavailable: {}, rows: [], recommendations: {}, stopped: false };
let stopRequested = false;
$('stop').onclick = () => { stopRequested = true; $('stop').disabled = true; $('status').textContent = 'stopping after this step…'; };

function offerDownload() {
  const blob = new Blob([JSON.stringify(report, null, 1)], { type: 'application/json' });
  const a = $('download');
  a.href = URL.createObjectURL(blob);
  a.removeAttribute('aria-disabled');
}

async function main() {
  report.capabilities = await capabilities();
  showCapabilities(report.capabilities);
  const info = await call('init', {});
  report.version = info.version;
  const plan = unwrap(await call('reportSteps', { models: MODELS.join(',') }));
  report.unavailable = plan.unavailable;
  $('unavailable').textContent = Object.keys(plan.unavailable).length
    ? 'Not measured here: ' + Object.entries(plan.unavailable).map(([b, why]) => `${b} (${why})`).join('; ')
    : 'Every webtensor backend is available here.';
  const steps = plan.steps;
  $('progress').max = steps.length;
  const t0 = performance.now();
  for (let i = 0; i < steps.length && !stopRequested; i++) {
    const s = steps[i];
    const elapsed = (performance.now() - t0) / 1000;
    const left = i ? Math.round((elapsed / i) * (steps.length - i)) : null;
    $('progress-text').textContent = `${i + 1}/${steps.length}: ${s.model} on ${s.backend} ${s.precision}` +
      (left != null ? ` — about ${left} s left` : '');
    $('status').textContent = `measuring ${s.model} on ${s.backend} (${s.precision}), ${RUNS} runs`;
    let row;
    try {
      row = unwrap(await call('reportStep', { ...s, runs: RUNS })).row;
    } catch (err) {
      row = { ...s, error: err.message };
    }
    report.rows.push(row);
    addRow(row);
    $('progress').value = i + 1;
  }
  report.stopped = stopRequested;
  report.backends = unwrap(await call('backends')).backends;
  const rec = unwrap(await call('reportRecommend', { rows: report.rows.filter((r) => !r.error) }));
  report.recommendations = rec.recommendations;
  report.scenarios = rec.scenarios;
  report.int8_tolerance = rec.int8_tolerance;
  showMatrix(rec);
  offerDownload();
  $('stop').disabled = true;
  $('progress-text').textContent = `${report.rows.length}/${steps.length} steps` + (report.stopped ? ' (stopped)' : '') +
    ` in ${((performance.now() - t0) / 1000).toFixed(0)} s`;
  $('status').textContent = `done: webtensor ${report.version}, ${RUNS} runs per step`;
  return report;
}

window.webtensorReport = { report, done: main() };
window.webtensorReport.done.catch((err) => {
  $('status').textContent = 'failed';
  $('error').hidden = false;
  $('error').textContent = `The report failed: ${err.message}`;
});
