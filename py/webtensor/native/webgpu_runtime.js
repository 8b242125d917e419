// webtensor's WebGPU runtime.  Shipped in the wheel and evaluated by Python
// (webtensor.native) as a function body that returns the registry below.
// One storage buffer per compiled plan holds its weights and its activation arena (as
// u32 words: kernels bitcast to f32/i32); every kernel call is one compute dispatch
// whose parameters (element offsets, shapes) sit in a small read-only storage buffer,
// so layers of one kind share a pipeline.  Pipelines are created once per WGSL source
// with createComputePipelineAsync, all of a plan's in parallel.  `execute` writes the
// inputs, encodes every dispatch into one command encoder, copies the outputs to one
// staging buffer, submits once and maps it once.  Python (webtensor/backends/webgpu.py)
// plans all of it.
'use strict';

const PARAM_STRIDE = 256;        // minStorageBufferOffsetAlignment on every adapter we know

class GPURuntime {
  constructor(adapter, device, info) {
    this.adapter = adapter;
    this.device = device;
    this.info = info;
    this.buffers = new Map();       // id -> GPUBuffer
    this.plans = new Map();         // id -> {dispatches: [{pipeline, bind, groups}], params}
    this.pipelines = new Map();     // WGSL source -> Promise<GPUComputePipeline>
    this.nextId = 1;
    this.bytes = 0;
    this.lost = false;
    this.lostReason = '';
    this.generation = 0;
    this.compileMs = 0;
    this.timestamps = device.features.has('timestamp-query');
    this.fallbackAdapter = Boolean((adapter.info && adapter.info.isFallbackAdapter) || adapter.isFallbackAdapter);
    device.lost.then((why) => { this.lost = true; this.lostReason = `${why.reason || 'unknown'}: ${why.message}`; });
  }

  check() {
    if (this.lost) throw new Error(`webgpu: the GPU device was lost (${this.lostReason}); the next predict_async starts a new one`);
  }

  createBuffer(bytes) {
    this.check();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const buf = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    const id = this.nextId++;
    this.buffers.set(id, buf);
    this.bytes += size;
    return id;
  }

  buffer(id) {
    const b = this.buffers.get(id);
    if (!b) throw new Error(`webgpu: no buffer ${id}`);
    return b;
  }

  releaseBuffer(id) {
    const b = this.buffers.get(id);
    if (!b) return;
    this.bytes -= b.size;
    b.destroy();
    this.buffers.delete(id);
  }

  // bytes of a numpy array (PyProxy) into buffer `id` at `offset`: never past the buffer
  write(id, offset, array) {
    this.check();
    const b = this.buffer(id), pb = array.getBuffer();
    try {
      const d = pb.data, n = d.byteLength;
      if (offset < 0 || offset + n > b.size || offset % 4) {
        throw new RangeError(`webgpu: write of ${n} bytes at ${offset} into a buffer of ${b.size} bytes`);
      }
      if (n % 4 === 0) {
        this.device.queue.writeBuffer(b, offset, d.buffer, d.byteOffset, n);
      } else {                                   // writeBuffer moves whole words
        const padded = new Uint8Array(Math.ceil(n / 4) * 4);
        padded.set(new Uint8Array(d.buffer, d.byteOffset, n));
        this.device.queue.writeBuffer(b, offset, padded);
      }
    } finally { pb.release(); }
  }

  pipeline(src) {
    let p = this.pipelines.get(src);
    if (!p) {
      const module = this.device.createShaderModule({ code: src });
      p = this.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } })
        .catch(async (e) => {
          const info = await module.getCompilationInfo();
          const msgs = info.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ');
          throw new Error(`webgpu: a kernel failed to compile: ${msgs || e.message}`);
        });
      this.pipelines.set(src, p);
    }
    return p;
  }

  // plan: JSON {sources: [wgsl], dispatches: [{src: index, params: [int32...], groups: [x, y]}]}
  // over buffer `bufId`.  Every pipeline is created in parallel; resolves to the plan id.
  async setPlan(planJson, bufId) {
    this.check();
    const t0 = performance.now();
    const plan = JSON.parse(planJson), buf = this.buffer(bufId);
    const pipes = await Promise.all(plan.sources.map((s) => this.pipeline(s)));
    const words = new Int32Array(Math.max(1, plan.dispatches.length) * PARAM_STRIDE / 4);
    plan.dispatches.forEach((d, i) => {
      if (d.params.length > PARAM_STRIDE / 4) throw new RangeError('webgpu: too many kernel parameters');
      words.set(d.params, i * PARAM_STRIDE / 4);
    });
    const params = this.device.createBuffer({ size: words.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.device.queue.writeBuffer(params, 0, words);
    const dispatches = plan.dispatches.map((d, i) => {
      const pipeline = pipes[d.src];
      const bind = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [
        { binding: 0, resource: { buffer: buf } },
        { binding: 1, resource: { buffer: params, offset: i * PARAM_STRIDE, size: PARAM_STRIDE } }] });
      return { pipeline, bind, groups: d.groups };
    });
    const id = this.nextId++;
    this.plans.set(id, { dispatches, params });
    this.compileMs += performance.now() - t0;
    return id;
  }

  encode(encoder, planId, first = 0, last = -1) {
    const ds = this.plans.get(planId).dispatches, end = last < 0 ? ds.length : last;
    if (end <= first) return;
    const pass = encoder.beginComputePass();
    for (let i = first; i < end; i++) {
      const d = ds[i];
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bind);
      pass.dispatchWorkgroups(d.groups[0], d.groups[1], 1);
    }
    pass.end();
  }

  run(planId) {
    this.check();
    const enc = this.device.createCommandEncoder();
    this.encode(enc, planId);
    this.device.queue.submit([enc.finish()]);
  }

  // copy [offset, offset + bytes) of each read to one staging buffer, submit (after
  // `encoder`'s work, if given), map once; resolves to one ArrayBuffer with the reads
  // back to back (each rounded up to 4 bytes).  Python arrays are never touched after
  // an await: Pyodide may release argument proxies when a call returns its promise.
  async readInto(encoder, buf, reads) {
    const sizes = reads.map(([, bytes]) => Math.ceil(bytes / 4) * 4);
    const total = sizes.reduce((s, n) => s + n, 0);
    const staging = this.device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = encoder || this.device.createCommandEncoder();
    let at = 0;
    reads.forEach(([offset], i) => {
      const n = sizes[i];
      if (offset < 0 || offset + n > buf.size || offset % 4) {
        staging.destroy();
        throw new RangeError(`webgpu: read of ${n} bytes at ${offset} from a buffer of ${buf.size} bytes`);
      }
      if (n) enc.copyBufferToBuffer(buf, offset, staging, at, n);
      at += n;
    });
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      return staging.getMappedRange().slice(0);
    } catch (e) {
      this.check();
      throw e;
    } finally {
      staging.destroy();
    }
  }

  read(bufId, offset, bytes) {
    this.check();
    return this.readInto(null, this.buffer(bufId), [[offset, bytes]]);
  }

  // One call per inference: write the inputs (now), then every dispatch and the output
  // copies in one command buffer, one submit, one map; resolves to the outputs' bytes.
  execute(planId, bufId, inOffsets, inArrays, outOffsets, outBytes) {
    this.check();
    const t0 = performance.now(), buf = this.buffer(bufId);
    for (let i = 0; i < inOffsets.length; i++) { const a = inArrays.get(i); this.write(bufId, inOffsets[i], a); a.destroy(); }
    const t1 = performance.now();
    const enc = this.device.createCommandEncoder();
    if (planId) this.encode(enc, planId);
    const reads = outOffsets.map((o, i) => [o, outBytes[i]]);
    return this.readInto(enc, buf, reads).then((bytes) => {
      this.lastTimings = { upload: t1 - t0, run: performance.now() - t1, download: 0 };
      return bytes;
    });
  }

  // Time each dispatch: with timestamp queries around each compute pass where the device
  // has them (GPU time), else submit it alone and wait for the queue (wall time).
  async profile(planId) {
    this.check();
    const n = this.plans.get(planId).dispatches.length, ms = [];
    if (this.timestamps && n) {
      const qs = this.device.createQuerySet({ type: 'timestamp', count: 2 * n });
      const resolve = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      const out = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const enc = this.device.createCommandEncoder();
      const ds = this.plans.get(planId).dispatches;
      for (let i = 0; i < n; i++) {
        const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        pass.setPipeline(ds[i].pipeline);
        pass.setBindGroup(0, ds[i].bind);
        pass.dispatchWorkgroups(ds[i].groups[0], ds[i].groups[1], 1);
        pass.end();
      }
      enc.resolveQuerySet(qs, 0, 2 * n, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, out, 0, 16 * n);
      this.device.queue.submit([enc.finish()]);
      await out.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(out.getMappedRange());
      for (let i = 0; i < n; i++) ms.push(Number(t[2 * i + 1] - t[2 * i]) / 1e6);
      out.unmap(); out.destroy(); resolve.destroy(); qs.destroy();
      this.lastProfile = 'timestamp queries around each dispatch (GPU time)';
      return ms;
    }
    for (let i = 0; i < n; i++) {
      const t = performance.now(), enc = this.device.createCommandEncoder();
      this.encode(enc, planId, i, i + 1);
      this.device.queue.submit([enc.finish()]);
      await this.device.queue.onSubmittedWorkDone();
      ms.push(performance.now() - t);
    }
    this.lastProfile = 'each dispatch submitted alone, timed to onSubmittedWorkDone (wall time)';
    return ms;
  }

  releasePlan(planId) {
    const p = this.plans.get(planId);
    if (!p) return;
    p.params.destroy();
    this.plans.delete(planId);
  }

  destroyDevice() { this.device.destroy(); }        // for tests: a device loss on demand

  stats() {
    return { buffers: this.buffers.size, bufferBytes: this.bytes, pipelines: this.pipelines.size, plans: this.plans.size,
             compileMs: this.compileMs, lost: this.lost, generation: this.generation, timestamps: this.timestamps,
             fallbackAdapter: this.fallbackAdapter,
             adapter: this.info };
  }
}

const webtensorGPU = {
  runtime: null,
  capability() {
    if (typeof navigator === 'undefined' || !navigator.gpu) {
      return { available: false, reason: 'this browser exposes no navigator.gpu (WebGPU is off; Chromium needs --enable-unsafe-webgpu where it is not on by default)' };
    }
    return { available: true, reason: 'navigator.gpu present; the adapter is requested on start' };
  },
  // Asynchronous: the adapter and the device come from promises.  Rejects with the reason.
  async start() {
    if (this.runtime && !this.runtime.lost) return this.runtime;
    const cap = this.capability();
    if (!cap.available) throw new Error(cap.reason);
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('navigator.gpu.requestAdapter() found no adapter (no usable GPU; Chromium needs --enable-unsafe-webgpu, and --use-webgpu-adapter=swiftshader without one)');
    const features = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
    const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize } });
    const ai = adapter.info || {};
    const fallback = Boolean(ai.isFallbackAdapter || adapter.isFallbackAdapter);
    const info = `${ai.vendor || '?'} ${ai.architecture || ''}${fallback ? ' (fallback adapter)' : ''}`.trim();
    const generation = this.runtime ? this.runtime.generation + 1 : 0;
    this.runtime = new GPURuntime(adapter, device, info);
    this.runtime.generation = generation;
    return this.runtime;
  },
};
return webtensorGPU;
