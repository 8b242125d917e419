// webtensor's WebGL2 runtime.  Shipped in the wheel and evaluated by Python
// (webtensor.native) as a function body that returns the registry below.
// WebGL2 on an OffscreenCanvas: float32 RGBA textures, one fragment-shader program
// per (op, static shape), compiled once and cached; a model's plan is a static list
// of draws set up once, then `execute` uploads inputs, issues every draw and reads
// back only the outputs.  Python (webtensor/backends/webgl.py) plans all of it.
//
// Every tensor is a w x h grid of texels (shaders/prelude.glsl) stored as a 2D array
// texture of LAYERS layers: grid row r is row r / LAYERS of layer r % LAYERS.  A draw
// attaches the output's layers as LAYERS colour targets, so one fragment writes LAYERS
// consecutive rows: a convolution fetches each weight once for all of them (on
// SwiftShader, where texel fetches are the cost, a 1x1 conv ran 2.1x faster).
'use strict';

const LAYERS = 4;                  // shaders/prelude.glsl's LAYERS
const VERTEX_SHADER = `#version 300 es
void main() {                       // one triangle covering the viewport, no buffers
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}`;

class GLRuntime {
  constructor() {
    this.canvas = new OffscreenCanvas(1, 1);
    this.lost = false;
    this.generation = 0;
    this.canvas.addEventListener('webglcontextlost', (ev) => { ev.preventDefault(); this.lost = true; this.generation++; });
    this.canvas.addEventListener('webglcontextrestored', () => { this.setup(); });
    this.setup();
  }

  setup() {
    const gl = this.canvas.getContext('webgl2', { antialias: false, depth: false, stencil: false,
                                                  premultipliedAlpha: false, powerPreference: 'high-performance' });
    if (!gl) throw new Error('WebGL2 is not available in this browser');
    if (!gl.getExtension('EXT_color_buffer_float')) throw new Error('EXT_color_buffer_float is missing: cannot render to float32 textures');
    this.gl = gl;
    // Enabling KHR_parallel_shader_compile lets the driver compile in the background:
    // setPlan() creates every program of a model first, and link status is only
    // queried when a program is first drawn (linked()), so compiles overlap.
    this.parallel = gl.getExtension('KHR_parallel_shader_compile');
    this.loseExt = gl.getExtension('WEBGL_lose_context');
    this.maxTextureSize = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    this.maxDrawBuffers = gl.getParameter(gl.MAX_DRAW_BUFFERS);   // 8: channel planes (webgl.py)
    this.renderer = (() => { const d = gl.getExtension('WEBGL_debug_renderer_info');
      return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); })();
    this.vs = this.compile(gl.VERTEX_SHADER, VERTEX_SHADER);
    this.compiled(this.vs, VERTEX_SHADER);
    this.vao = gl.createVertexArray();
    this.programs = new Map();      // source -> {program, locations}
    this.textures = new Map();      // id -> {tex, w, h}
    this.plans = new Map();         // id -> draws
    this.nextId = 1;
    this.bytes = 0;
    this.lost = false;
    this.compileMs = 0;
  }

  check() {
    if (this.lost || this.gl.isContextLost()) {
      this.lost = true;
      throw new Error('WebGL context lost: the GPU reset or the browser reclaimed it; webtensor rebuilds the plan once the context is restored');
    }
  }

  // No status query here: a query waits for the compile to finish (a round trip to the GPU
  // process), which would serialise a plan's compiles; linked() asks once, at the first draw.
  compile(type, source) {
    const gl = this.gl, sh = gl.createShader(type);
    gl.shaderSource(sh, source);
    gl.compileShader(sh);
    return sh;
  }

  compiled(sh, source) {
    const gl = this.gl;
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS) && !gl.isContextLost()) {
      const log = gl.getShaderInfoLog(sh);
      throw new Error(`shader compile failed: ${log}\n${source.split('\n').slice(0, 8).join('\n')}`);
    }
  }

  program(source) {
    let p = this.programs.get(source);
    if (p) return p;
    const t0 = performance.now();
    const gl = this.gl, prog = gl.createProgram();
    const fs = this.compile(gl.FRAGMENT_SHADER, source);
    gl.attachShader(prog, this.vs);
    gl.attachShader(prog, fs);
    gl.linkProgram(prog);
    p = { prog, fs, locations: new Map(), source };
    this.programs.set(source, p);
    this.compileMs += performance.now() - t0;
    return p;
  }

  linked(p) {
    const gl = this.gl;
    if (p.ok) return;
    const t0 = performance.now();          // compileMs: issuing the compiles + waiting for them here
    const ok = gl.getProgramParameter(p.prog, gl.LINK_STATUS);
    this.compileMs += performance.now() - t0;
    if (!ok && !gl.isContextLost()) {
      this.compiled(p.fs, p.source);       // a compile error names the shader's own line
      throw new Error(`program link failed: ${gl.getProgramInfoLog(p.prog)}`);
    }
    p.ok = true;
  }

  location(p, name) {
    if (!p.locations.has(name)) p.locations.set(name, this.gl.getUniformLocation(p.prog, name));
    return p.locations.get(name);
  }

  // A w x h texel grid: LAYERS layers of ceil(h / LAYERS) rows.  `flat`: a plain 2D
  // texture of h rows instead, for weights that are read and never drawn into (SwiftShader
  // fetches from a 2D texture ~10 % faster than from an array texture; measured on a 1x1 conv).
  // `planes` 2: the grid twice, the second in layers LAYERS..2 LAYERS-1 (a tensor's channel
  // planes, written by one draw through 2 LAYERS colour targets; never uploaded)
  createTexture(w, h, flat = false, planes = 1) {
    this.check();
    const gl = this.gl, tex = gl.createTexture(), layers = flat ? 1 : LAYERS * planes;
    const rows = Math.ceil(h / (flat ? 1 : LAYERS));
    const target = flat ? gl.TEXTURE_2D : gl.TEXTURE_2D_ARRAY;
    gl.bindTexture(target, tex);
    if (flat) gl.texStorage2D(target, 1, gl.RGBA32F, w, rows);
    else gl.texStorage3D(target, 1, gl.RGBA32F, w, rows, layers);
    for (const [k, v] of [[gl.TEXTURE_MIN_FILTER, gl.NEAREST], [gl.TEXTURE_MAG_FILTER, gl.NEAREST],
                          [gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE]]) {
      gl.texParameteri(target, k, v);
    }
    const id = this.nextId++;
    this.textures.set(id, { tex, w, h, rows, layers, planes, target, fbo: null });
    this.bytes += w * rows * layers * 16;
    return id;
  }

  // The framebuffer that draws into texture t: its layers as colour targets 0..layers-1.
  target(t) {
    if (t.fbo) return t.fbo;
    if (t.layers === 1) throw new Error('webgl: a weight texture is never drawn into or read back');
    const gl = this.gl;
    t.fbo = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, t.fbo);
    for (let l = 0; l < t.layers; l++) gl.framebufferTextureLayer(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0 + l, t.tex, 0, l);
    gl.drawBuffers(Array.from({ length: t.layers }, (_, l) => gl.COLOR_ATTACHMENT0 + l));
    return t.fbo;
  }

  texture(id) {
    const t = this.textures.get(id);
    if (!t) throw new Error(`webgl: texture ${id} does not exist (released, or its plan was disposed)`);
    return t;
  }

  releaseTexture(id) {
    const t = this.textures.get(id);
    if (!t) return;
    if (!this.lost) { this.gl.deleteTexture(t.tex); if (t.fbo) this.gl.deleteFramebuffer(t.fbo); }
    this.bytes -= t.w * t.rows * t.layers * 16;
    this.textures.delete(id);
  }

  // numpy array (PyProxy) -> texture; the array is float32, n elements, padded with zeros
  upload(id, array) {
    this.check();
    const gl = this.gl, t = this.texture(id), buf = array.getBuffer('f32');
    try {
      if (t.planes !== 1) throw new Error('webgl: a texture of channel planes is never uploaded');
      const row = t.w * 4, data = buf.data;
      if (data.length > t.h * row) {   // never past the texture planned for this tensor
        throw new RangeError(`webgl: upload of ${data.length} floats into a ${t.w}x${t.h} texture (${t.h * row} floats)`);
      }
      // grid row r -> layer r % LAYERS, row r / LAYERS (a flat texture: row r)
      const L = t.layers, staging = new Float32Array(row * t.rows * L);
      for (let r = 0; r * row < data.length; r++) {
        staging.set(data.subarray(r * row, Math.min((r + 1) * row, data.length)), ((r % L) * t.rows + Math.floor(r / L)) * row);
      }
      gl.bindTexture(t.target, t.tex);
      if (L === 1) gl.texSubImage2D(t.target, 0, 0, 0, t.w, t.rows, gl.RGBA, gl.FLOAT, staging);
      else gl.texSubImage3D(t.target, 0, 0, 0, 0, t.w, t.rows, L, gl.RGBA, gl.FLOAT, staging);
    } finally { buf.release(); }
  }

  // texture -> numpy array (PyProxy), n floats; a texture of channel planes gives them one
  // after the other, each its grid (Python puts a pixel's channels together: unpacked())
  download(id, array) {
    this.check();
    const gl = this.gl, t = this.texture(id), buf = array.getBuffer('f32');
    try {
      const row = t.w * 4, data = buf.data, n = data.length, plane = t.h * row;
      if (n > t.planes * plane) throw new RangeError(`webgl: download of ${n} floats from a ${t.w}x${t.h} texture of ${t.planes} plane(s)`);
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.target(t));
      const staging = new Float32Array(row * t.rows), L = LAYERS;
      for (let p = 0; p < t.planes && p * plane < n; p++) {
        const np = Math.min(n - p * plane, plane), used = Math.ceil(np / row), out = data.subarray(p * plane, p * plane + np);
        for (let l = 0; l < L && l < used; l++) {      // layer l of the plane holds grid rows l, l + L, ...
          const rows = Math.ceil((used - l) / L);
          gl.readBuffer(gl.COLOR_ATTACHMENT0 + p * L + l);
          gl.readPixels(0, 0, t.w, rows, gl.RGBA, gl.FLOAT, staging);
          for (let y = 0; y < rows; y++) {
            const r = y * L + l, end = Math.min((r + 1) * row, np);
            out.set(staging.subarray(y * row, y * row + end - r * row), r * row);
          }
        }
      }
    } finally { buf.release(); }
  }

  // plan: JSON {sources: [GLSL], draws: [{src: index into sources, out, inputs: [[uniform, textureId]],
  //              ints: [[name, [..]]], floats: [[name, v]]}]}
  setPlan(planJson) {
    this.check();
    const { sources, draws } = JSON.parse(planJson), programs = sources.map((s) => this.program(s));
    for (const d of draws) d.p = programs[d.src];
    const id = this.nextId++;
    this.plans.set(id, draws);
    return id;
  }

  // One draw of one pixel with each program of a plan, flushed: SwiftShader compiles a
  // program (and its texture samplers) at its first draw, in the GPU process, so this
  // starts every compile of a plan while the caller goes on (uploading its weights); the
  // pixel is drawn again by the plan's first run, as every draw covers its whole output.
  // Every draw is bound first, which asks every query that waits for the GPU process (link
  // status, uniform locations): asked between the draws, each would wait for the compiles
  // drawn before it.
  warm(planId) {
    this.check();
    const gl = this.gl, first = new Map();
    for (const d of this.plans.get(planId)) if (!first.has(d.p)) first.set(d.p, d);
    gl.bindVertexArray(this.vao);
    gl.disable(gl.BLEND);
    for (const d of first.values()) this.bind(d, this.textures.get(d.out));
    for (const d of first.values()) this.drawOne(d, this.textures.get(d.out), [[0, 0, 1, 1]]);
    gl.flush();
  }

  run(planId, first = 0, last = -1) {
    this.check();
    const gl = this.gl, draws = this.plans.get(planId);
    const end = last < 0 ? draws.length : last;
    gl.bindVertexArray(this.vao);
    gl.disable(gl.BLEND);
    for (let i = first; i < end; i++) this.drawOne(draws[i], this.textures.get(draws[i].out), draws[i].rects);
  }

  // Draw d's program, target, textures and uniforms (a program's link status and each of its
  // uniform locations are asked once, at its first bind)
  bind(d, out) {
    const gl = this.gl, p = d.p;
    this.linked(p);
    gl.useProgram(p.prog);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.target(out));
    gl.viewport(0, 0, out.w, out.rows);
    gl.uniform1i(this.location(p, 'OUT_WIDTH'), out.w);   // null (a no-op) where unused
    gl.uniform1i(this.location(p, 'OUT_ROWS'), out.h);
    d.inputs.forEach(([name, tid], unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      const t = this.textures.get(tid);
      gl.bindTexture(t.target, t.tex);
      gl.uniform1i(this.location(p, name), unit);
    });
    for (const [name, v] of d.ints) gl.uniform1iv(this.location(p, name), v);
    for (const [name, v] of d.floats) gl.uniform1f(this.location(p, name), v);
  }

  drawOne(d, out, rects) {
    const gl = this.gl;
    this.bind(d, out);
    if (rects) {     // parts of the output (a conv's interior, its border): the viewport
      // is the part (gl_FragCoord stays the window's), so only its fragments are rasterized
      for (const [x, y, w, h] of rects) { gl.viewport(x, y, w, h); gl.drawArrays(gl.TRIANGLES, 0, 3); }
    } else {
      gl.drawArrays(gl.TRIANGLES, 0, 3);
    }
  }

  // One call per inference: upload inputs, run every draw, read back the outputs.
  execute(planId, inIds, inArrays, outIds, outArrays) {
    const t0 = performance.now();
    for (let i = 0; i < inIds.length; i++) { const a = inArrays.get(i); this.upload(inIds[i], a); a.destroy(); }
    const t1 = performance.now();
    if (planId) this.run(planId);          // 0: the outputs are views of the inputs
    const t2 = performance.now();
    for (let i = 0; i < outIds.length; i++) { const a = outArrays.get(i); this.download(outIds[i], a); a.destroy(); }
    this.lastTimings = { upload: t1 - t0, run: t2 - t1, download: performance.now() - t2 };
  }

  // Time each draw alone.  No disjoint-timer query exists in WebGL2 here, and
  // gl.finish() returns before the work is done on ANGLE/SwiftShader, so each draw is
  // followed by a one-pixel readPixels of its output, which waits for it.
  profile(planId) {
    const gl = this.gl, draws = this.plans.get(planId), ms = [], px = new Float32Array(4);
    for (let i = 0; i < draws.length; i++) {
      const t = performance.now();
      this.run(planId, i, i + 1);
      gl.readBuffer(gl.COLOR_ATTACHMENT0);
      gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.FLOAT, px);
      ms.push(performance.now() - t);
    }
    return ms;
  }

  releasePlan(planId) { this.plans.delete(planId); }

  loseContext() { if (this.loseExt) this.loseExt.loseContext(); }
  restoreContext() { if (this.loseExt) this.loseExt.restoreContext(); }

  stats() {
    return { textures: this.textures.size, textureBytes: this.bytes, programs: this.programs.size,
             compileMs: this.compileMs, lost: this.lost, generation: this.generation,
             maxTextureSize: this.maxTextureSize, renderer: this.renderer };
  }
}

const webtensorGL = {
  runtime: null,
  capability() {
    if (typeof OffscreenCanvas === 'undefined') return { available: false, reason: 'this context has no OffscreenCanvas' };
    return { available: true, reason: 'ready' };
  },
  // Synchronous: the first use of the backend starts it (OffscreenCanvas works on a
  // page's main thread and in workers alike).  Throws with the reason if it cannot.
  start() {
    if (!this.runtime) this.runtime = new GLRuntime();
    return this.runtime;
  },
};
return webtensorGL;
