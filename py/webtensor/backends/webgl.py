"""The WebGL2 backend: the wasm backend's lowering (one backend-neutral list of fused
kernel calls) translated into fragment-shader draws over float32 textures.

Layout (see shaders/prelude.glsl): flat-packed RGBA32F textures, 4 consecutive
elements per texel, so NHWC tensors with channel counts divisible by 4 are "channels
packed by 4" and reshapes are free.  Integers and booleans are stored as floats
(exact below 2**24).  Each draw writes a fresh texture from a pool (a texture is never
read and written by one draw); textures return to the pool after their tensor's last
reader, planned at compile time, so `predict` is one call with a static draw list.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np

from ..engine import KernelRecord, engine
from ..errors import BackendError, ResourceError, WebtensorError, wrap_backend_error
from .. import native
from ..graph.plan import Plan, Step, run_reference
from ..lower import OPCODES, Lowering, Ref, contiguous_strides

SHADER_DIR = Path(__file__).resolve().parent.parent / "shaders"
OP_NAMES = {v: k for k, v in OPCODES.items()}
ACT_GLSL = {0: "return v;", 1: "return max(v, 0.0);", 2: "return clamp(v, 0.0, 6.0);",
            3: "return 1.0 / (1.0 + exp(-v));", 4: "return tanh(clamp(v, -10.0, 10.0));",   # SwiftShader: tanh(inf) is NaN
            5: "return v > 0.0 ? v : exp(v) - 1.0;", 6: "return v > 0.0 ? v : v * PARAM;",
            7: "return v > 0.0 ? v : v * alpha;",
            8: "return 1.0507009873554805 * (v > 0.0 ? v : 1.6732632423543772 * (exp(v) - 1.0));"}
BINARY_GLSL = {0: "x + y", 1: "x - y", 2: "x * y", 3: "x / y", 4: "wt_max(x, y)", 5: "wt_min(x, y)",
               6: "(x - y) * (x - y)", 7: "(x > 0.0 ? x : x * y)", 8: "floor(x / y)", 9: "(x - floor(x / y) * y)"}
# SwiftShader's exp(NaN) is inf: NaN is passed through first
UNARY_GLSL = {20: "(wt_isnan(x) ? x : exp(x))", 21: "sqrt(x)", 22: "inversesqrt(x)", 23: "1.0 / x", 24: "-x", 25: "abs(x)",
              26: "x * x", 27: "floor(x)", 28: "ceil(x)", 30: "roundEven(x)", 31: "(wt_isnan(x) ? x : sign(x))"}
F32 = np.dtype(np.float32)


def shader_source(name: str) -> str:
    """The GLSL shipped in the package (build.py copies shaders/ into it)."""
    for base in (SHADER_DIR, Path(__file__).resolve().parents[3] / "shaders"):
        p = base / f"{name}.glsl"
        if p.exists():
            return p.read_text()
    raise BackendError(f"shader {name}.glsl is missing from the package")


def tex_dims(n: int, max_size: int, row_texels: int | None = None) -> tuple[int, int]:
    """Texture size for n elements; `row_texels` (e.g. W*C/4 of an NHWC tensor) makes
    each texture row one image row, so shaders address texels without dividing."""
    texels = max(1, -(-n // 4))
    if row_texels and texels % row_texels == 0 and row_texels <= max_size and texels // row_texels <= max_size:
        return row_texels, texels // row_texels
    w = min(texels, max_size)
    h = -(-texels // w)
    if h > max_size:
        raise ResourceError(f"a tensor of {n} elements needs {w}x{h} texels, beyond MAX_TEXTURE_SIZE {max_size}")
    return w, h


def f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<i", int(bits)))[0]


class GLPlan:
    """A Plan translated into draws, textures planned, on one GL runtime."""

    def __init__(self, backend: "WebGLBackend", plan: Plan):
        self.backend, self.plan = backend, plan
        self.rt = backend.runtime()
        self.generation = int(self.rt.generation)
        self.lowered = Lowering(plan, plan.optimize, int8=backend.supports("int8")).run()
        self.max_size = int(self.rt.maxTextureSize)
        self.owned: list[int] = []
        self.segments: list[tuple[str, object]] = []
        self.current: dict[str, int] = {}        # tensor -> texture holding it now
        self.free: dict[tuple, list[int]] = {}
        self.weight_tex: dict[tuple, int] = {}
        self.shared: list[bytes] = []            # weight textures held in the backend's shared cache
        self.labels: list[str] = []
        self.dims: dict[int, tuple[int, int]] = {}
        try:
            self._build()
        except BaseException:         # nothing stays allocated by a plan that failed to compile
            self.dispose()
            raise
        self._js_textures = None

    # -- textures ------------------------------------------------------------------
    def base(self, key):
        return self.lowered.aliases.get(key, key)

    def size(self, key) -> int:
        return int(np.prod(self.plan.specs[key].shape, dtype=np.int64))

    def dims_of(self, key) -> tuple[int, int]:
        shape = self.plan.specs[self.base(key)].shape
        row = shape[2] * shape[3] // 4 if len(shape) == 4 and (shape[2] * shape[3]) % 4 == 0 else None
        return tex_dims(self.size(key), self.max_size, row)

    def new_texture(self, key) -> int:
        dims = self.dims_of(key)
        pool = self.free.get(dims)
        if pool:
            return pool.pop()
        tid = int(self.rt.createTexture(*dims))
        self.owned.append(tid)
        self.dims[tid] = dims
        return tid

    def release(self, tid: int, key=None):
        self.free.setdefault(self.dims[tid], []).append(tid)

    def constant_texture(self, array: np.ndarray, tag, row_texels: int | None = None) -> int:
        """A weight texture, uploaded once per backend for identical contents and layout
        (a model's plans for several input shapes share them)."""
        key = (tag, id(array))
        if key not in self.weight_tex:
            data = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
            dims = tex_dims(data.size, self.max_size, row_texels)
            shared_key, tid = self.backend.acquire_texture(data, dims, self.generation)
            self.shared.append(shared_key)
            self.dims[tid] = dims
            self.weight_tex[key] = tid
        return self.weight_tex[key]

    def tex_of(self, ref) -> int:
        """Texture for an input reference (a tensor's current texture, or a weight)."""
        if ref.kind == "w":
            return self.constant_texture(self.lowered.weights[ref.key], ("w", ref.key))
        return self.current[self.base(ref.key)]

    # -- building --------------------------------------------------------------------
    def _build(self):
        low, plan = self.lowered, self.plan
        last: dict[str, int] = {}
        for i, it in enumerate(low.items):
            for k in it.reads + it.writes:
                last[self.base(k)] = i
        for k in plan.output_keys:
            last[self.base(k)] = len(low.items)
        self.inputs = {}
        for k in plan.input_keys:
            tid = self.new_texture(k)
            self.current[self.base(k)] = tid
            self.inputs[k] = tid
            last[self.base(k)] = max(last.get(self.base(k), -1), len(low.items))  # inputs are never overwritten
        draws: list[dict] = []
        for i, it in enumerate(low.items):
            if it.words is None:                       # numpy fallback between draw segments
                if draws:
                    self.segments.append(("gl", self._set_plan(draws)))
                    draws = []
                for k in it.writes:
                    old = self.current.get(self.base(k))
                    self.current[self.base(k)] = self.new_texture(k)
                    if old is not None:
                        self.release(old)
                self.segments.append(("numpy", (it.step, {k: self.current[self.base(k)] for k in it.reads + it.writes})))
            else:
                out_key = it.writes[0]
                d = self.translate(it)
                old = self.current.get(self.base(out_key))
                out_tex = self.new_texture(out_key)
                d["out"] = out_tex
                draws.append(d)
                self.labels.append(it.label)
                self.current[self.base(out_key)] = out_tex
                if old is not None and old not in self.inputs.values():
                    self.release(old)
            for k in set(it.reads + it.writes):
                b = self.base(k)
                if last.get(b) == i and b in self.current and self.current[b] not in self.inputs.values():
                    self.release(self.current[b])
        if draws:
            self.segments.append(("gl", self._set_plan(draws)))
        self.outputs = {k: self.current[self.base(k)] for k in plan.output_keys if k not in plan.constants}

    def _set_plan(self, draws) -> int:
        return int(self.rt.setPlan(json.dumps(draws)))

    def program(self, shader: str, defines: dict, out_key) -> str:
        w, _ = self.dims_of(out_key)
        lines = [f"#define OUT_WIDTH {w}"] + [f"#define {k} {v}" for k, v in defines.items()]
        prelude = shader_source("prelude")
        head, _, rest = prelude.partition("\n")
        return "\n".join([head, *lines, rest, shader_source(shader)])

    def translate(self, it) -> dict:
        """One kernel call of the shared lowering -> one draw."""
        w = it.words
        op, a = OP_NAMES[w[0]], w[2:]
        out_key = it.writes[0]
        n_out = self.size(out_key)
        ints, floats, inputs = [], [], []
        if op in ("OP_CONV", "OP_DWCONV"):
            dw = op == "OP_DWCONV"
            x, wref, bref, _, res, alpha = a[:6]
            if dw:
                N, H, W, C, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, act, param, mult = a[7:24]
                CO = C * mult
                wt = self.constant_texture(self.lowered.weights[wref.key], ("w", wref.key),
                                           C // 4 if C % 4 == 0 and mult == 1 else None)
            else:
                N, H, W, C, OH, OW, CO, KH, KW, SH, SW, DH, DW, PT, PL, act, param = a[7:24]
                mult = 1
                packed = self.lowered.weights[wref.key]                  # [CO8][KH][KW][C][8]
                co8 = packed.shape[0]
                unpacked = packed.transpose(1, 2, 3, 0, 4).reshape(KH, KW, C, co8 * 8)[..., :CO]
                wt = self.constant_texture(np.ascontiguousarray(unpacked), ("unpacked", wref.key),
                                           CO // 4 if CO % 4 == 0 else None)
            bias = self.lowered.weights[bref.key][:CO]
            defs = dict(N=N, H=H, W=W, C=C, OH=OH, OW=OW, CO=CO, KH=KH, KW=KW, SH=SH, SW=SW, DH=DH, DW=DW,
                        PT=PT, PL=PL, MULT=mult, ACTIVATION=ACT_GLSL[act])
            if dw:
                defs["DEPTHWISE"] = 1
            w_rows = self.dims[wt][0] == (C // 4 if dw else CO // 4)
            if CO % 4 == 0 and mult == 1 and (C % 4 == 0 or (not dw and w_rows)):
                defs["VEC4"] = 1                     # 4 output channels per fragment
                if C % 4 == 0:
                    defs["C_VEC4"] = 1               # ... and 4 input channels per fetch
                # direct texel addressing where the textures have image rows
                if (W * C) % 4 == 0 and self.dims[self.tex_of(x)] == (W * C // 4, N * H):
                    defs["X_ROWS"] = 1
                if self.dims_of(out_key) == (OW * CO // 4, N * OH):
                    defs["OUT_ROWS"] = 1
                if w_rows:
                    defs["W_ROWS"] = 1
            inputs = [["X", self.tex_of(x)], ["Wt", wt], ["Bias", self.constant_texture(bias, ("b", bref.key))]]
            if res:
                defs["RESIDUAL"] = 1
                inputs.append(["R", self.tex_of(res)])
            if alpha:
                defs["ALPHA"] = 1
                inputs.append(["Alpha", self.constant_texture(self.lowered.weights[alpha.key][:CO], ("a", alpha.key))])
            floats = [["PARAM", f32_from_bits(param)]]
            return {"src": self.program("conv", defs, out_key), "inputs": inputs, "ints": ints, "floats": floats}
        if op == "OP_POOL":
            x, _, N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, kind = a[:15]
            defs = dict(N=N, H=H, W=W, C=C, OH=OH, OW=OW, KH=KH, KW=KW, SH=SH, SW=SW, PT=PT, PL=PL, AVG=kind)
            return {"src": self.program("window", defs, out_key), "inputs": [["X", self.tex_of(x)]], "ints": [],
                    "floats": []}
        if op in ("OP_BINARY", "OP_UNARY"):
            if op == "OP_BINARY":
                x, y, _, kind, act, param = a[:6]
                shape, xs, ys = a[6:12], a[12:18], a[18:24]
                defs = {"BINARY": 1, "OPERATION": BINARY_GLSL[kind], "ACTIVATION": ACT_GLSL[act]}
                inputs = [["X", self.tex_of(x)], ["Y", self.tex_of(y)]]
                offsets = (x.extra // 4 if isinstance(x, Ref) else 0, y.extra // 4 if isinstance(y, Ref) else 0)
                if any(offsets):
                    raise BackendError("offset operands are not expected in binary ops")
            else:
                x, _, n, kind, param = a[:5]
                shape, xs, ys = [1, 1, 1, 1, 1, n], [0, 0, 0, 0, 0, 1], [0] * 6
                if kind < 20:
                    defs = {"OPERATION": "x", "ACTIVATION": ACT_GLSL[kind]}
                else:
                    defs = {"OPERATION": UNARY_GLSL[kind], "ACTIVATION": ACT_GLSL[0]}
                inputs = [["X", self.tex_of(x)]]
            ints = [["SHAPE", list(map(int, shape))], ["XS", list(map(int, xs))], ["YS", list(map(int, ys))],
                    ["SIZE", [n_out]]]
            return {"src": self.program("elementwise", defs, out_key), "inputs": inputs, "ints": ints,
                    "floats": [["PARAM", f32_from_bits(param)]]}
        if op == "OP_COPY":
            src, dst = a[0], a[1]
            shape, ss, ds = list(map(int, a[2:8])), list(map(int, a[8:14])), list(map(int, a[14:20]))
            n_piece = int(np.prod(shape))
            offset = src.extra // 4
            whole = dst.extra == 0 and n_piece == n_out and ds == _contig6(shape)
            ints = [["SHAPE", shape], ["SS", ss], ["OFFSET", [offset]], ["SIZE", [n_piece]]]
            inputs = [["X", self.tex_of(src)]]
            defs = {}
            if not whole:
                defs["BASE"] = 1
                base_tex = self.current.get(self.base(out_key))
                if base_tex is None:   # nothing written yet: start from zeros
                    base_tex = self.constant_texture(np.zeros(n_out, np.float32), ("zeros", n_out))
                inputs.append(["B", base_tex])
                ints += [["DS", ds], ["DOFFSET", [dst.extra // 4]], ["OUT_SIZE", [n_out]]]
            return {"src": self.program("copy", defs, out_key), "inputs": inputs, "ints": ints, "floats": []}
        if op == "OP_FILL":
            _, n, bits = a[:3]
            value = f32_from_bits(bits) if np.dtype(self.plan.specs[out_key].dtype) == F32 else float(bits)
            return {"src": self.program("reduce", {"FILL": 1}, out_key), "inputs": [],
                    "ints": [["SIZE", [n_out]]], "floats": [["VALUE", value]]}
        if op == "OP_CAST":
            x, _, n, kind = a[:4]
            defs = {"CAST": {0: 0, 1: 1, 2: 2, 3: 2}[kind]}
            return {"src": self.program("reduce", defs, out_key), "inputs": [["X", self.tex_of(x)]],
                    "ints": [["SIZE", [n_out]]], "floats": []}
        if op == "OP_RESIZE":
            x, _, N, H, W, C, OH, OW, nearest, align, half = a[:11]
            sy = (H - 1) / (OH - 1) if align and OH > 1 else H / OH
            sx = (W - 1) / (OW - 1) if align and OW > 1 else W / OW
            defs = dict(N=N, H=H, W=W, C=C, OH=OH, OW=OW, NEAREST=nearest, ALIGN=align, HALF=half)
            return {"src": self.program("resize", defs, out_key), "inputs": [["X", self.tex_of(x)]], "ints": [],
                    "floats": [["SCALE_Y", sy], ["SCALE_X", sx]]}
        if op == "OP_REDUCE":
            x, _, outer, n, inner, kind = a[:6]
            defs = dict(RN=n, INNER=inner, KIND=kind)
            return {"src": self.program("reduce", defs, out_key), "inputs": [["X", self.tex_of(x)]],
                    "ints": [["SIZE", [n_out]]], "floats": []}
        if op == "OP_SOFTMAX":
            x, _, rows, cols = a[:4]
            return {"src": self.program("reduce", {"SOFTMAX": 1, "COLS": cols}, out_key),
                    "inputs": [["X", self.tex_of(x)]], "ints": [["SIZE", [n_out]]], "floats": []}
        raise BackendError(f"webgl: no shader for {op}")

    # -- running ---------------------------------------------------------------------
    def _download(self, key, tid) -> np.ndarray:
        spec = self.plan.specs[key]
        buf = np.empty(self.size(key), np.float32)
        self.rt.download(tid, buf)
        return _from_f32(buf.reshape(spec.shape), spec.dtype)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from pyodide.ffi import to_js
        eng = engine()
        out_keys = list(self.outputs)
        in_keys = self.plan.input_keys
        in_arrays = [np.ascontiguousarray(feeds[k], dtype=np.float32).reshape(-1) for k in in_keys]
        if eng.recorder is None and len(self.segments) <= 1 and all(kind == "gl" for kind, _ in self.segments):
            out_arrays = [np.empty(self.size(k), np.float32) for k in out_keys]
            plan_id = self.segments[0][1] if self.segments else 0
            if self._js_textures is None:      # static after compiling: converted to JS once
                self._js_textures = (to_js([self.inputs[k] for k in in_keys]),
                                     to_js([self.outputs[k] for k in out_keys]))
            self.rt.execute(plan_id, self._js_textures[0], in_arrays, self._js_textures[1], out_arrays)
            if eng.timings is not None:
                t = self.rt.lastTimings
                eng.timings["upload_ms"] += t.upload
                eng.timings["kernel_ms"] += t.run
                eng.timings["download_ms"] += t.download
            result = {k: _from_f32(v.reshape(self.plan.specs[k].shape), self.plan.specs[k].dtype)
                      for k, v in zip(out_keys, out_arrays)}
        else:
            for k, v in zip(in_keys, in_arrays):
                self.rt.upload(self.inputs[k], v)
            labels = iter(self.labels)
            for kind, what in self.segments:
                if kind == "gl":
                    if eng.recorder is not None:
                        eng.timing_source = ("webgl: each draw alone, synchronised by a one-pixel readPixels "
                                             "(no disjoint-timer query in WebGL2 here; gl.finish does not wait)")
                        for ms in self.rt.profile(what).to_py():
                            lab = next(labels)
                            kind_, _, node = lab.partition(":")
                            eng.recorder.append(KernelRecord(kind_, node, [], [], float(ms), 0))
                    else:
                        self.rt.run(what)
                else:
                    self._run_numpy(*what)
            result = {k: self._download(k, self.outputs[k]) for k in out_keys}
        for k in self.plan.output_keys:
            if k in self.plan.constants:
                result[k] = self.plan.constants[k]
        return result

    def _run_numpy(self, step: Step, texs: dict):
        ins = [self.plan.constants[k] if k in self.plan.constants else self._download(k, texs[k]) for k in step.inputs]
        outs = run_reference(self.plan, step, ins)
        for k, v in zip(step.outputs, outs):
            self.rt.upload(texs[k], np.ascontiguousarray(v, dtype=np.float32).reshape(-1))

    def dispose(self):
        for kind, what in self.segments:
            if kind == "gl":
                self.rt.releasePlan(what)
        for tid in self.owned:
            self.rt.releaseTexture(tid)
        self.owned = []
        for key in self.shared:
            self.backend.release_texture(key, self.generation)
        self.shared = []

    def describe(self) -> dict:
        st = self.rt.stats()
        return {"backend": "webgl", "kernel_calls": len(self.labels), "segments": len(self.segments),
                "fallbacks": list(self.lowered.fallbacks), "fused_nodes": len(self.lowered.fused),
                "textures": len(self.owned), "arena_bytes": 0, "naive_activation_bytes": 0, "weight_bytes": 0,
                "texture_bytes": int(st.textureBytes), "interop_calls_per_inference": 1 if len(self.segments) <= 1 else None}


def _contig6(shape):
    return [int(s) for s in contiguous_strides(shape)]


def _from_f32(arr: np.ndarray, dtype) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return arr != 0
    if dt.kind in "iu":
        return np.round(arr).astype(dt)
    return arr


class WebGLBackend:
    name = "webgl"

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return native.capability(cls.name)

    @staticmethod
    def supports(kind: str) -> bool:
        """float32 textures only: int8 tensors and ops run on numpy inside the plan."""
        return kind == "float32"

    def __init__(self):
        self._rt = native.start(self.name)            # BackendError with the reason if it cannot start
        self._textures: dict[bytes, list] = {}      # digest -> [texture id, plans using it, GL generation]

    def acquire_texture(self, data: np.ndarray, dims, generation: int) -> tuple[bytes, int]:
        digest = hashlib.blake2b(memoryview(data).cast("B"), digest_size=20)
        digest.update(repr(dims).encode())
        key = digest.digest()
        entry = self._textures.get(key)
        if entry is None or entry[2] != generation:      # none yet, or lost with its context
            rt = self.runtime()
            tid = int(rt.createTexture(*dims))
            try:
                rt.upload(tid, data)
            except BaseException:
                rt.releaseTexture(tid)
                raise
            entry = self._textures[key] = [tid, 0, generation]
        entry[1] += 1
        return key, entry[0]

    def release_texture(self, key: bytes, generation: int) -> None:
        entry = self._textures.get(key)
        if entry is None or entry[2] != generation:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.runtime().releaseTexture(entry[0])
            del self._textures[key]

    def runtime(self):
        return self._rt

    def compiled(self, plan: Plan) -> GLPlan:
        cp = plan.lowered.get(self.name)
        rt = self.runtime()
        if cp is not None and int(rt.generation) != cp.generation:
            if rt.lost:
                raise BackendError("webgl: the WebGL context is lost; predict works again once it is restored")
            cp = None                                  # restored: every texture and program is gone
        if cp is None:
            try:
                cp = GLPlan(self, plan)
            except ResourceError as e:
                raise ResourceError(f"{plan.graph.source} on webgl: {e}") from None
            except WebtensorError:
                raise
            except Exception as e:     # e.g. a texture beyond the GPU's limits, a GL error
                raise wrap_backend_error(e, f"{plan.graph.source} on webgl") from None
            plan.lowered[self.name] = cp
        return cp

    def run(self, plan: Plan, feeds):
        rt = self.runtime()
        if rt.lost or rt.gl.isContextLost():
            raise BackendError("webgl: the WebGL context is lost; predict works again once it is restored")
        try:
            return self.compiled(plan).run(feeds)
        except WebtensorError:
            raise
        except Exception as e:         # a raw JS error (RangeError...) named for the user
            raise wrap_backend_error(e, f"{plan.graph.source} on webgl") from None

    def describe(self, plan: Plan) -> dict:
        return self.compiled(plan).describe()

    def memory_stats(self) -> dict:
        st = self.runtime().stats()
        return {"kind": "webgl", "texture_bytes": int(st.textureBytes), "textures": int(st.textures),
                "programs": int(st.programs), "shared_weight_textures": len(self._textures)}
