// The peer: TensorFlow.js 4.22 running the same model file on the same input as
// webtensor.  Query: backend=wasm|webgl|webgpu|cpu, simd=0|1, threads=N (0 = TF.js's default),
// cores=N (what navigator.hardwareConcurrency reports: TF.js 4.22 caps its pool at half).
'use strict';
const q = new URLSearchParams(location.search);
const cores = Number(q.get('cores') || 0);
if (cores > 0) Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => cores });

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`cannot load ${src}`));
    document.head.appendChild(s);
  });
}

function decode(b64, dtype) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return dtype === 'int32' ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
}

let model = null, input = null, outputNames = null, layers = false, dynamic = false;

window.bench = {
  ready: (async () => {
    await loadScript('../tfjs/tf.min.js');
    await loadScript('../tfjs/tf-backend-wasm.min.js');
    if ((q.get('backend') || 'wasm') === 'webgpu') await loadScript('../tfjs/tf-backend-webgpu.min.js');
    document.getElementById('status').textContent = `TF.js ${tf.version.tfjs} loaded`;
  })(),

  // dynamic: the model has control flow or value-dependent shapes (TF.js then needs executeAsync)
  async setup({ modelUrl, inputB64, shape, dtype, outputs, kind, dynamic: isDynamic }) {
    await this.ready;
    const backend = q.get('backend') || 'wasm';
    if (backend === 'wasm') {
      tf.wasm.setWasmPaths(new URL('../tfjs/', location.href).href);
      if (q.get('simd') === '0') tf.env().set('WASM_HAS_SIMD_SUPPORT', false);
      const threads = Number(q.get('threads') || 0);
      if (threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      else if (threads > 1) tf.wasm.setThreadsCount(threads);
    }
    if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} failed to initialise`);
    await tf.ready();
    const t0 = performance.now();
    layers = kind === 'layers';
    model = layers ? await tf.loadLayersModel(modelUrl) : await tf.loadGraphModel(modelUrl);
    const loadMs = performance.now() - t0;
    input = tf.tensor(decode(inputB64, dtype), shape, dtype);
    outputNames = outputs;
    dynamic = Boolean(isDynamic);
    const t1 = performance.now();
    await this.runOnce();
    const firstMs = performance.now() - t1;
    const info = { load_ms: loadMs, first_ms: firstMs, backend: tf.getBackend(), version: tf.version.tfjs,
                   hardwareConcurrency: navigator.hardwareConcurrency };
    if (backend === 'wasm') info.threads = tf.wasm.getThreadsCount ? tf.wasm.getThreadsCount() : null;
    return info;
  },

  // One inference with outputs read back to the CPU (inside the timed region): dataSync,
  // or on WebGPU (whose readback is asynchronous, as webtensor's) await data().
  async runOnce() {
    const outs = layers ? model.predict(input)
      : dynamic ? await model.executeAsync(input, outputNames) : model.execute(input, outputNames);
    const list = Array.isArray(outs) ? outs : [outs];
    const data = tf.getBackend() === 'webgpu' ? await Promise.all(list.map((t) => t.data()))
      : list.map((t) => t.dataSync());
    list.forEach((t) => t.dispose());
    return data;
  },

  async time(n) {
    const ms = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await this.runOnce();
      ms.push(performance.now() - t);
    }
    return ms;
  },

  async outputs() { return (await this.runOnce()).map((d) => Array.from(d)); },
  // the same as float32 bytes in base64: JSON lists of a large model's outputs (CenterNet: ~1.6M
  // numbers) took half a minute to cross into Python
  async outputsB64() {
    return (await this.runOnce()).map((d) => {
      const bytes = new Uint8Array(Float32Array.from(d).buffer);
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(bin);
    });
  },
  memory() { return tf.memory(); },
  // like with like for the memory table: TF.js's peak bytes over one inference (tf.profile:
  // weights + the intermediates alive at once) and, on wasm, its heap's size
  async memoryProfile() {
    const info = await tf.profile(async () => {
      const outs = layers ? model.predict(input)
        : dynamic ? await model.executeAsync(input, outputNames) : model.execute(input, outputNames);
      (Array.isArray(outs) ? outs : [outs]).forEach((t) => t.dispose());
    });
    const be = tf.backend();
    const heap = be && be.wasm && be.wasm.HEAPU8 ? be.wasm.HEAPU8.byteLength : null;
    return { peakBytes: info.peakBytes, newBytes: info.newBytes, numBytes: tf.memory().numBytes, wasmHeapBytes: heap };
  },
};
