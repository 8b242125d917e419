// webtensor's wasm runtime.  Shipped in the wheel (webtensor/native/) and evaluated by
// Python (webtensor.native) as the body of a function that returns the registry below:
// no <script> tag, no file served beside the page, the same path in a page's main
// thread, a Worker, PyScript or JupyterLite.
// One WasmRuntime per variant owns a module instance, its memory (a first-fit
// allocator over it) and, for the threaded variant, a pool of helper workers that
// instantiate the same module on the same shared memory, each with its own stack.
// Python (webtensor/backends/wasm/) plans; this file only moves bytes and runs.
'use strict';

const WASM_PAGE = 65536;
const MAX_PAGES = 16384;                 // 1 GiB, the --max-memory the modules are linked with
const HELPER_STACK_BYTES = 1 << 20;      // per helper thread (thread 0 uses the module's own stack)
const GUARD_BYTE = 0xA5;                 // sentinel value of the debug guards
const MAX_THREADS = 64, GROUP_MAX = 8;   // kernels_wasm/common.h
const FULL_SPINS = 1000000, OVERSUBSCRIBED_SPINS = 2000;   // barrier spins before sleeping (runtime.c)
const HELPER_SPINS = 300000;     // a helper's polls of the control block after a run (~1 ms) before sleeping
// control block: [go, prog, nthreads, kind, index, done, quit, ..., barrier, ..., results[tid], ready[tid]]
const CTL = { GO: 0, PROG: 1, NTHREADS: 2, KIND: 3, INDEX: 4, DONE: 5, QUIT: 6, SPIN: 7, BARRIER: 8, RESULTS: 16,
              READY: 16 + MAX_THREADS };
const CTL_WORDS = CTL.READY + MAX_THREADS;
const VARIANTS = {
  'wasm': { simd: false, threads: false },
  'wasm-simd': { simd: true, threads: false },
  'wasm-simd-threads': { simd: true, threads: true },
};
// A page's main thread may not block (Atomics.wait throws there): thread 0 then spins
// at the barriers and at the end of a run instead of sleeping.
const CAN_BLOCK = typeof WorkerGlobalScope !== 'undefined' && self instanceof WorkerGlobalScope;
// The smallest module using a v128 op: validates only where wasm SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);

class WasmRuntime {
  constructor(name, module, threaded, helperURL) {
    this.name = name;
    this.module = module;
    this.threaded = threaded;
    this.helperURL = helperURL;      // a Blob URL of wasm_thread.js (threaded variant only)
    this.memory = new WebAssembly.Memory({ initial: 256, maximum: MAX_PAGES, shared: threaded });
    this.instance = new WebAssembly.Instance(module, { env: { memory: this.memory, now_ms: () => performance.now() } });
    this.exports = this.instance.exports;
    const base = this.exports.__heap_base.value;
    this.free = [{ offset: align(base, 64), size: this.memory.buffer.byteLength - align(base, 64) }];
    this.used = 0;
    this.peakUsed = 0;
    this.helpers = [];
    this.threads = 1;
    this.ctl = this.alloc(CTL_WORDS * 4);
    this.i32().fill(0, this.ctl / 4, this.ctl / 4 + CTL_WORDS);
    this.runs = 0;
  }

  i32() { return new Int32Array(this.memory.buffer); }
  u8() { return new Uint8Array(this.memory.buffer); }

  // ---- memory: first-fit free list over the module's memory, growing it on demand
  // `kind` labels the block in stats().byKind (weights, arena, programs, ...): the heap's
  // breakdown sums to usedBytes.
  alloc(bytes, kind = 'runtime') {
    if (!(bytes >= 0) || bytes > MAX_PAGES * WASM_PAGE) {
      throw new Error(`webtensor-oom: ${this.name} cannot allocate ${bytes} bytes (limit ${MAX_PAGES * WASM_PAGE / 2 ** 20} MiB)`);
    }
    const size = align(Math.max(bytes, 16), 16);
    let i = this.free.findIndex((b) => b.size >= size);
    if (i < 0) {
      const last = this.free[this.free.length - 1];
      const end = this.memory.buffer.byteLength;
      const tailFree = last && last.offset + last.size === end ? last.size : 0;
      const pages = Math.ceil((size - tailFree) / WASM_PAGE);
      if (this.memory.buffer.byteLength / WASM_PAGE + pages > MAX_PAGES) {
        // (division, not >>: sizes past 2 GiB overflow 32-bit shifts)
        throw new Error(`webtensor-oom: ${this.name} needs ${Math.ceil(size / 2 ** 20)} MiB more, beyond its ` +
                        `${MAX_PAGES * WASM_PAGE / 2 ** 20} MiB limit (${Math.round(this.used / 2 ** 20)} MiB in use)`);
      }
      this.memory.grow(pages);
      if (tailFree) last.size += pages * WASM_PAGE;
      else this.free.push({ offset: end, size: pages * WASM_PAGE });
      i = this.free.findIndex((b) => b.size >= size);
    }
    const block = this.free[i];
    const offset = block.offset;
    block.offset += size;
    block.size -= size;
    if (block.size === 0) this.free.splice(i, 1);
    (this.sizes ||= new Map()).set(offset, size);
    (this.kinds ||= new Map()).set(offset, kind);
    (this.byKind ||= {})[kind] = (this.byKind[kind] || 0) + size;
    this.used += size;
    this.peakUsed = Math.max(this.peakUsed, this.used);
    return offset;
  }

  release(offset) {
    const size = this.sizes.get(offset);
    if (size === undefined) throw new Error(`${this.name}: release of unknown block ${offset}`);
    this.sizes.delete(offset);
    const kind = this.kinds.get(offset);
    this.kinds.delete(offset);
    this.byKind[kind] -= size;
    this.used -= size;
    this.free.push({ offset, size });
    this.free.sort((a, b) => a.offset - b.offset);
    const merged = [];
    for (const b of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.offset + last.size === b.offset) last.size += b.size;
      else merged.push({ ...b });
    }
    this.free = merged;
  }

  // Every byte range Python moves must lie inside one block it allocated: a plan can
  // then never write into memory another plan (or model) owns, whatever its shapes say.
  checkRange(offset, bytes, what) {
    for (const [start, size] of this.sizes || []) {
      if (offset >= start && offset + bytes <= start + size) return;
    }
    throw new RangeError(`${this.name}: ${what} of ${bytes} bytes at ${offset} is outside every allocated block`);
  }

  // ---- data: Python passes numpy arrays (PyProxy); getBuffer gives views on Pyodide's heap
  write(offset, array) {
    const buf = array.getBuffer();
    try {
      const src = buf.data;
      this.checkRange(offset, src.byteLength, 'write');
      this.u8().set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    } finally { buf.release(); }
  }

  read(offset, array) {
    const buf = array.getBuffer();
    try {
      const dst = buf.data;
      this.checkRange(offset, dst.byteLength, 'read');
      new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(this.u8().subarray(offset, offset + dst.byteLength));
    } finally { buf.release(); }
  }

  // ---- debug sentinels (webtensor.debug_memory_guards): ranges as [start, length, ...]
  fillGuards(ranges) {
    const u8 = this.u8();
    for (let i = 0; i < ranges.length; i += 2) {
      this.checkRange(ranges[i], ranges[i + 1], 'guard');
      u8.fill(GUARD_BYTE, ranges[i], ranges[i] + ranges[i + 1]);
    }
  }

  // The index of the first range whose sentinel bytes changed, or -1.
  checkGuards(ranges) {
    const u8 = this.u8();
    for (let i = 0; i < ranges.length; i += 2) {
      for (let a = ranges[i], end = a + ranges[i + 1]; a < end; a++) if (u8[a] !== GUARD_BYTE) return i / 2;
    }
    return -1;
  }

  // ---- running
  // Helpers that started: thread 0 plus the helpers 1..k that all said ready (a helper
  // starts only once the page returns to its event loop, so a pool grows after start).
  readyThreads() {
    if (!this.threaded) return 1;
    const i32 = this.i32(), r = this.ctl / 4 + CTL.READY;
    let n = 1;
    while (n < this.threads && Atomics.load(i32, r + n) === 1) n++;
    return n;
  }

  // kind: 0 the program at prog, 1 its op `index` alone, 2 the stack probe, 3 the scaling probe.
  // maxThreads: a plan too small to gain from the pool runs on thread 0 alone (0: all).
  run(prog, kind = 0, index = 0, maxThreads = 0) {
    const n = maxThreads > 0 ? Math.min(maxThreads, this.readyThreads()) : this.readyThreads();
    const spin = CAN_BLOCK ? 0 : 1;
    if (n > 1) {
      const i32 = this.i32(), c = this.ctl / 4;
      if (kind < 2) {   // the work counters of the first group's ops (runtime.c)
        const b = i32[prog / 4 + 2] / 4;
        for (let k = 0; k < GROUP_MAX; k++) Atomics.store(i32, b + 2 + k, 0);
      }
      i32[c + CTL.PROG] = prog;
      i32[c + CTL.NTHREADS] = n;
      i32[c + CTL.KIND] = kind;
      i32[c + CTL.INDEX] = index;
      Atomics.store(i32, c + CTL.DONE, 0);
      Atomics.add(i32, c + CTL.GO, 1);
      Atomics.notify(i32, c + CTL.GO);
    }
    let r;
    if (kind === 0) r = this.exports.run_plan(prog, 0, n, spin);
    else if (kind === 1) r = this.exports.run_op(prog, index, 0, n, spin);
    else if (kind === 2) r = this.exports.stack_probe(this.ctl + CTL.BARRIER * 4, 0, n, spin);
    else { this.exports.peak_madd(index, 1.0); r = 0; }
    if (n > 1 && r !== -2) {  // helpers count themselves done after the final barrier
      const i32 = this.i32(), c = this.ctl / 4, t0 = performance.now();
      for (let k = 0; Atomics.load(i32, c + CTL.DONE) < n - 1; k++) {
        if ((k & 1023) === 0 && performance.now() - t0 > 10000) { r = -2; break; }
        if (CAN_BLOCK) Atomics.wait(i32, c + CTL.DONE, Atomics.load(i32, c + CTL.DONE), 50);
      }
    }
    this.runs++;
    if (r === -2) throw new Error(`${this.name}: the thread pool stalled (a helper thread did not reach the barrier within 10 s)`);
    if (r < 0) throw new Error(`${this.name}: the program at ${prog} is malformed`);
    return r;
  }

  // One call per inference: copy inputs in, run the program, copy outputs out.
  // The outputs land in one byte array, back to back at `outAt` (Python makes its views): one
  // buffer handshake with Python instead of one per output (~0.25 ms of BlazeFace's 4).
  execute(prog, inOffsets, inArrays, outOffsets, outSizes, outAt, outBytes, maxThreads = 0) {
    const t0 = performance.now();
    for (let i = 0; i < inOffsets.length; i++) { const a = inArrays.get(i); this.write(inOffsets[i], a); a.destroy(); }
    const t1 = performance.now();
    if (prog) this.run(prog, 0, 0, maxThreads);
    const t2 = performance.now();
    const buf = outBytes.getBuffer('u8');
    try {
      const dst = buf.data, u8 = this.u8();
      for (let i = 0; i < outOffsets.length; i++) {
        const n = outSizes[i];
        this.checkRange(outOffsets[i], n, 'read');
        if (outAt[i] + n > dst.length) throw new RangeError(`webtensor: output ${i} (${n} bytes at ${outAt[i]}) past the ${dst.length}-byte buffer`);
        dst.set(u8.subarray(outOffsets[i], outOffsets[i] + n), outAt[i]);
      }
    } finally { buf.release(); outBytes.destroy(); }
    this.lastTimings = { upload: t1 - t0, run: t2 - t1, download: performance.now() - t2 };
  }

  runOp(prog, index, maxThreads = 0) { return this.run(prog, 1, index, maxThreads); }

  // What the machine gives a pool with nothing to wait for: `iters` rounds of the
  // multiply-add loop (runtime.c peak_madd, registers only) on each of `threads` threads at
  // once, one join at the end; -> ms.  The bench times 2 threads against 1 thread running
  // twice the rounds: the 2-thread ceiling of this machine at that moment, beside the models'.
  // -> {ms, threads: how many ran their share (each helper marks its result slot)}.
  scalingProbe(iters, threads) {
    const i32 = this.i32(), res = this.ctl / 4 + CTL.RESULTS;
    i32.fill(0, res, res + MAX_THREADS);
    const t0 = performance.now();
    this.run(0, 3, iters, threads);
    const ms = performance.now() - t0;
    let ran = 1;
    for (let t = 1; t < MAX_THREADS; t++) ran += i32[res + t];
    return { ms, threads: ran };
  }

  // Each thread fills a 64 KiB stack buffer with its own pattern and checks it after a
  // barrier: the count of corrupted words (0 = no collision).  shareStacks=true points
  // every helper at thread 0's stack first: the negative control that must collide.
  async stackProbe(shareStacks = false) {
    if (shareStacks) await this.tellHelpers((h) => ({ setStack: this.exports.__stack_pointer.value }));
    try {
      const n = this.threaded ? this.threads : 1;
      let bad = this.run(0, 2);
      const i32 = this.i32(), c = this.ctl / 4;
      for (let t = 1; t < Math.min(n, this.readyThreads()); t++) bad += i32[c + CTL.RESULTS + t];
      return bad;
    } finally {
      if (shareStacks) await this.tellHelpers((h) => ({ setStack: h.stackTop }));
    }
  }

  // Send each helper a message and wait for its acknowledgement.
  tellHelpers(makeMessage) {
    return Promise.all(this.helpers.map((h) => new Promise((resolve) => {
      h.worker.onmessage = (ev) => { if (ev.data === 'ack') resolve(); };
      h.worker.postMessage(makeMessage(h));
    })));
  }

  // ---- the pool
  // Start helpers up to n threads without waiting for them (they join runs once ready).
  startThreads(n) {
    if (!this.threaded) throw new Error(`${this.name} has no threads`);
    n = Math.max(1, Math.min(n | 0, MAX_THREADS));
    while (this.helpers.length < n - 1) this.spawnHelper(this.helpers.length + 1);
    this.threads = n;
    // More threads than cores: a thread spinning at a barrier holds a core the late one
    // needs (2 cores, 3 threads: BlazeFace 22 -> 56 ms), so it sleeps almost at once.
    const cores = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || n;
    this.exports.set_spin_limit(n > cores ? OVERSUBSCRIBED_SPINS : FULL_SPINS);
    this.setHelperSpin(n > cores ? 0 : HELPER_SPINS);
    return n;
  }

  // After a run a helper polls for the next one this many times before it sleeps: a model
  // whose native segments alternate with numpy steps restarts the pool within about a
  // millisecond, and a sleeping helper wakes late (CenterNet: 14 segments an inference).
  setHelperSpin(n) { this.i32()[this.ctl / 4 + CTL.SPIN] = n; }

  // Start helpers up to n threads and wait until all of them are ready.
  async setThreads(n) {
    n = this.startThreads(n);
    await Promise.all(this.helpers.slice(0, n - 1).map((h) => h.ready));
    return n;
  }

  spawnHelper(tid) {
    const stack = this.alloc(HELPER_STACK_BYTES, 'thread stacks');
    const stackTop = stack + HELPER_STACK_BYTES;
    const worker = new Worker(this.helperURL);
    const helper = { worker, tid, stackTop, stack };
    helper.ready = new Promise((resolve, reject) => {
      worker.onmessage = (ev) => ev.data === 'ready' ? resolve() : reject(new Error(`helper ${tid}: ${ev.data}`));
      worker.onerror = (ev) => reject(new Error(`helper ${tid} failed: ${ev.message}`));
    });
    helper.ready.catch((err) => { this.helperError = err.message; console.warn(`webtensor: ${this.name}: ${err.message}`); });
    this.helpers.push(helper);
    worker.postMessage({ module: this.module, memory: this.memory, tid, stackTop, ctl: this.ctl, layout: CTL });
    return helper;
  }

  // The high-water mark restarts from what is in use now (the device report measures the
  // peak each model adds).
  resetPeak() { this.peakUsed = this.used; }

  // Per thread: barriers passed and ms spent waiting in them since the last reset (the
  // threaded module keeps them in its memory; a helper's performance.now has its own
  // origin, but each figure is a difference of one thread's clock).
  barrierStats() {
    if (!this.exports.barrier_stats) return null;
    const addr = this.exports.barrier_stats(), n = this.threads;
    return { waitMs: Array.from(new Float64Array(this.memory.buffer, addr, n)),
             passed: Array.from(new Int32Array(this.memory.buffer, addr + 8 * MAX_THREADS, n)),
             runs: this.runs - (this.runsAtReset || 0) };
  }

  resetBarrierStats() {
    if (!this.exports.barrier_stats) return;
    const addr = this.exports.barrier_stats();
    new Uint8Array(this.memory.buffer, addr, 12 * MAX_THREADS).fill(0);
    this.runsAtReset = this.runs;
  }

  stats() {
    return { name: this.name, memoryBytes: this.memory.buffer.byteLength, usedBytes: this.used,
             heapBase: this.exports.__heap_base.value, byKind: { ...(this.byKind || {}) },
             peakUsedBytes: this.peakUsed, threads: this.threaded ? this.threads : 1,
             readyThreads: this.readyThreads(), mainThread: !CAN_BLOCK, runs: this.runs };
  }
}

function align(n, a) { return Math.ceil(n / a) * a; }

// The registry webtensor.native hands to the Python backends.
const webtensorWasm = {
  runtimes: {},
  // Whether a variant can start here, without starting it: {available, reason}.
  capability(name) {
    const v = VARIANTS[name];
    if (!v) return { available: false, reason: `unknown wasm variant ${name}` };
    if (typeof WebAssembly !== 'object') return { available: false, reason: 'this browser has no WebAssembly' };
    if (v.simd && !WebAssembly.validate(SIMD_PROBE)) return { available: false, reason: 'this browser has no WebAssembly SIMD' };
    if (v.threads && !(self.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined')) {
      return { available: false, reason: 'the page is not cross-origin isolated (COOP/COEP), so there is no SharedArrayBuffer' };
    }
    if (v.threads && typeof Worker === 'undefined') return { available: false, reason: 'this context cannot start Web Workers' };
    return { available: true, reason: 'ready' };
  },
  // Compile `bytes` (the variant's module from the wheel) and start its runtime; the
  // threaded variant starts its helpers from `helperSource` (wasm_thread.js) as a Blob
  // URL, which a cross-origin-isolated page allows.  Synchronous: Python calls it on
  // the first use of the backend.
  start(name, bytes, helperSource, threads) {
    const v = VARIANTS[name];
    const module = new WebAssembly.Module(bytes);
    const helperURL = v.threads ? URL.createObjectURL(new Blob([helperSource], { type: 'text/javascript' })) : null;
    const rt = new WasmRuntime(name, module, v.threads, helperURL);
    if (v.threads) rt.startThreads(threads || navigator.hardwareConcurrency || 1);
    this.runtimes[name] = rt;
    return rt;
  },
  get(name) { return this.runtimes[name]; },
};
return webtensorWasm;
