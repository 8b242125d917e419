"""The WebGPU backend: the typed kernel calls of the lowering as WGSL compute
dispatches (shaders/wgsl/), driven from Python through native/webgpu_runtime.js.

Memory is laid out like the wasm backend's: one storage buffer per compiled plan, the
plan's weights (logical layouts, as the calls carry them) then its activation arena
from lower/memory.plan_arena; kernels read element offsets and shapes from a small
parameter block per dispatch, so every layer of one kind shares one pipeline.  Each
call's reach (lower/extents.py) is checked against its tensors' slots before the plan
is built.  Results come back through `mapAsync`: this backend runs with
`await model.predict_async(x)` / `execute_async`; a synchronous `predict` raises an
error that says so.  The device is requested asynchronously too:
`await webtensor.set_backend_async("webgpu")`.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from .. import native
from ..engine import KernelRecord, engine
from ..errors import BackendError, ExecutionError, WebtensorError, wrap_backend_error
from ..graph.plan import Plan
from ..lower import BOOL, Lowering, plan_arena, slot_bytes
from ..lower.calls import Binary, Cast, Conv, Copy, DepthwiseConv, Fill, Pool, Reduce, Resize, Softmax, Unary
from ..lower.extents import call_extents
from ..runner import SegmentedPlan

SHADER_DIRS = (Path(__file__).resolve().parent.parent / "shaders" / "wgsl",
               Path(__file__).resolve().parents[3] / "shaders" / "wgsl")
WORKGROUP = 64                   # prelude.wgsl @workgroup_size
MAX_GROUPS = 65535               # per dispatch dimension

# the vocabulary (ops/kinds.py) as WGSL
ACT_WGSL = {None: "return v;", "Relu": "return max(v, 0.0);", "Relu6": "return clamp(v, 0.0, 6.0);",
            "Sigmoid": "return 1.0 / (1.0 + exp(-v));",
            "Tanh": "return tanh(clamp(v, -10.0, 10.0));",     # tanh(inf) on SwiftShader is NaN
            "Elu": "if (v > 0.0) { return v; } return exp(v) - 1.0;",
            "LeakyRelu": "if (v > 0.0) { return v; } return v * param;",
            "Prelu": "if (v > 0.0) { return v; } return v * alpha;",
            "Selu": "if (v > 0.0) { return 1.0507009873554805 * v; } return 1.0507009873554805 * 1.6732632423543772 * (exp(v) - 1.0);"}
BINARY_WGSL = {"Add": "x + y", "Sub": "x - y", "Mul": "x * y", "Div": "x / y", "Maximum": "wt_max(x, y)",
               "Minimum": "wt_min(x, y)", "SquaredDifference": "(x - y) * (x - y)",
               "Prelu": "select(x * y, x, x > 0.0)", "FloorDiv": "floor(x / y)", "FloorMod": "(x - floor(x / y) * y)"}
UNARY_WGSL = {"Exp": "select(exp(x), x, wt_isnan(x))", "Sqrt": "sqrt(x)", "Rsqrt": "inverseSqrt(x)",
              "Reciprocal": "1.0 / x", "Neg": "-x", "Abs": "abs(x)", "Square": "x * x", "Floor": "floor(x)",
              "Ceil": "ceil(x)", "Round": "round(x)", "Sign": "select(sign(x), x, wt_isnan(x))"}
REDUCE_KIND = {"Mean": 0, "Sum": 1, "Max": 2, "Min": 3}
CAST_TO = {"float32": 0, "int32": 1, "bool": 2}


@functools.cache
def wgsl_source(name: str) -> str:
    """A WGSL file shipped in the package, read once."""
    for d in SHADER_DIRS:
        p = d / f"{name}.wgsl"
        if p.exists():
            return p.read_text()
    raise BackendError(f"shader wgsl/{name}.wgsl is missing from the package")


def f32_bits(v: float) -> int:
    return int(np.array([v], np.float32).view(np.int32)[0])


# ----------------------------------------------------------------------------- kernels
# Per call type: (shader, {WGSL substitutions}, parameter words after p[0], work items)
# and, for a tiled kernel, its workgroup grid.  `o(ref)` is a Ref's element offset in
# the plan's buffer (-1 for a missing optional one).
GEMM_TILE = 32                   # gemm.wgsl: TM = TN


def k_conv(c, o):
    """Conv and DepthwiseConv, one item per 4 output channels of a pixel (conv.wgsl)."""
    g, dw = c.g, isinstance(c, DepthwiseConv)
    co = g.C * c.MULT if dw else c.CO
    return "conv", {"ACTIVATION": ACT_WGSL[c.act]}, _conv_params(c, o, co), g.N * g.OH * g.OW * -(-co // 4)


def _conv_params(c, o, co) -> list[int]:
    g, dw = c.g, isinstance(c, DepthwiseConv)
    return [o(c.x), o(c.filter), o(c.bias), o(c.out), o(c.residual), o(c.alpha), g.N, g.H, g.W, g.C, g.OH, g.OW,
            co, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PT, g.PL, c.MULT if dw else 0, f32_bits(c.param)]


def gemm_fits(c) -> bool:
    """A regular conv with enough channels and pixels to fill tiles of the tiled GEMM."""
    if not isinstance(c, Conv):
        return False
    m = c.g.N * c.g.OH * c.g.OW
    return c.CO >= 16 and m >= GEMM_TILE and -(-m // GEMM_TILE) <= MAX_GROUPS


def k_gemm(c: Conv, o):
    """A regular conv as the tiled GEMM (gemm.wgsl): its own workgroup grid."""
    m = c.g.N * c.g.OH * c.g.OW
    return "gemm", {"ACTIVATION": ACT_WGSL[c.act]}, _conv_params(c, o, c.CO), m * c.CO, \
        [-(-m // GEMM_TILE), -(-c.CO // GEMM_TILE)]


def k_pool(c: Pool, o):
    g = c.g
    params = [o(c.x), o(c.out), g.N, g.H, g.W, g.C, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.PT, g.PL,
              int(c.kind == "Avg")]
    return "window", {}, params, g.N * g.OH * g.OW * g.C


def k_binary(c: Binary, o):
    params = [o(c.x), o(c.y), o(c.out), f32_bits(c.param), *c.shape, *c.xs, *c.ys]
    return "elementwise", {"OPERATION": BINARY_WGSL[c.kind], "ACTIVATION": ACT_WGSL[c.act]}, params, \
        int(np.prod(c.shape, dtype=np.int64))


def k_unary(c: Unary, o):
    subs = ({"OPERATION": "x", "ACTIVATION": ACT_WGSL[c.kind]} if c.kind in ACT_WGSL
            else {"OPERATION": UNARY_WGSL[c.kind], "ACTIVATION": ACT_WGSL[None]})
    params = [o(c.x), o(c.x), o(c.out), f32_bits(c.param), 1, 1, 1, 1, 1, c.n, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    return "elementwise", subs, params, c.n


def k_copy(c: Copy, o):
    return "copy", {}, [o(c.src), o(c.dst), *c.shape, *c.ss, *c.ds], int(np.prod(c.shape, dtype=np.int64))


def k_fill(c: Fill, o):
    bits = f32_bits(c.value) if c.dtype == "float32" else int(c.value)
    return "reduce", {"KIND": 5}, [o(c.out), bits], c.n


def k_cast(c: Cast, o):
    return "reduce", {"KIND": 6}, [o(c.x), o(c.out), CAST_TO[c.dst], int(c.src == "float32")], c.n


def k_reduce(c: Reduce, o):
    return "reduce", {"KIND": REDUCE_KIND[c.kind]}, [o(c.x), o(c.out), c.n, c.inner], c.outer * c.inner


def k_softmax(c: Softmax, o):
    return "reduce", {"KIND": 4}, [o(c.x), o(c.out), c.cols], c.rows


def k_resize(c: Resize, o):
    sy = (c.H - 1) / (c.OH - 1) if c.align_corners and c.OH > 1 else c.H / c.OH
    sx = (c.W - 1) / (c.OW - 1) if c.align_corners and c.OW > 1 else c.W / c.OW
    params = [o(c.x), o(c.out), c.N, c.H, c.W, c.C, c.OH, c.OW, int(c.nearest), int(c.align_corners),
              int(c.half_pixel_centers), f32_bits(sy), f32_bits(sx)]
    return "resize", {}, params, c.N * c.OH * c.OW * c.C


KERNELS = {Conv: k_conv, DepthwiseConv: k_conv, Pool: k_pool, Binary: k_binary, Unary: k_unary, Copy: k_copy,
           Fill: k_fill, Cast: k_cast, Reduce: k_reduce, Softmax: k_softmax, Resize: k_resize}


def supports(call) -> bool:
    """Every float32 / int32 / bool call type with a kernel; int8 calls run on numpy."""
    return type(call) in KERNELS and not call.int8


def program(shader: str, subs: dict) -> str:
    body = wgsl_source(shader)
    prelude = wgsl_source("prelude")
    for k, v in subs.items():
        body = body.replace(k, str(v))
    if "fn main(" not in body:                   # an item kernel: the shared entry point
        body += "\n" + wgsl_source("items")
    return prelude.replace("ACTIVATION", subs.get("ACTIVATION", "return v;")) + "\n" + body


def groups_for(items: int) -> list[int]:
    wg = max(1, -(-items // WORKGROUP))
    x = min(wg, MAX_GROUPS)
    return [x, -(-wg // x)]


# ----------------------------------------------------------------------------- compiled plan
class GPUPlan(SegmentedPlan):
    """A Plan lowered, laid out in one storage buffer and encoded as dispatches."""

    backend_name = "webgpu"

    def __init__(self, backend: "WebGPUBackend", plan: Plan):
        self.backend, self.plan = backend, plan
        self.rt = backend.runtime()             # the device it is built on: stale once the backend has another
        self.buf = None
        self.plan_ids: list[int] = []
        self.lowered = low = Lowering(plan, plan.optimize, supports).run()
        self.offsets, self.arena_bytes, self.naive_bytes = plan_arena(low, plan.specs, plan.input_keys,
                                                                      plan.output_keys)
        self._weights: list[tuple[int, np.ndarray]] = []     # (element offset, array as stored)
        self._weight_at: dict[int, int] = {}           # id(source array) -> element offset
        self._keep: list[np.ndarray] = []
        self.weight_bytes = 0
        calls = [it.call for it in low.items if it.call is not None]
        for call in calls:                             # weights first: the arena follows them
            for v in vars(call).values():
                if isinstance(v, np.ndarray):
                    self._weight(v)
                elif getattr(v, "kind", None) == "c":
                    self._weight(plan.constants[v.key])
        self.arena_base = self.weight_bytes // 4
        self.total_bytes = self.weight_bytes + max(self.arena_bytes, 16)
        self._check_extents()
        self.sources: dict[str, int] = {}      # WGSL source -> index (one pipeline each)
        self.tiled_calls = 0
        self.segments = []
        pending: list[tuple[dict, object]] = []
        for item in low.items:
            if item.call is None:
                if pending:
                    self.segments.append(("native", pending))
                    pending = []
                self.segments.append(("numpy", (item.step, None)))
            else:
                pending.append((self._dispatch(item.call), item))
        if pending:
            self.segments.append(("native", pending))
        self.n_ops = len(calls)
        self._js_offsets = None

    # -- layout ----------------------------------------------------------------------
    def _weight(self, array: np.ndarray) -> int:
        at = self._weight_at.get(id(array))
        if at is None:
            arr = np.ascontiguousarray(array)
            if arr.dtype == BOOL or (arr.dtype.kind in "iu"):
                arr = arr.astype(np.int32)
            else:
                arr = arr.astype(np.float32)
            at = self._weight_at[id(array)] = self.weight_bytes // 4
            self._weights.append((at, arr))
            self._keep.append(array)
            self.weight_bytes += -(-max(arr.nbytes, 4) // 16) * 16
        return at

    def elem(self, ref) -> int:
        """Element offset of an operand in the plan's buffer (-1: none)."""
        if ref is None:
            return -1
        if isinstance(ref, np.ndarray):
            return self._weight_at[id(ref)]
        if ref.kind == "c":
            return self._weight_at[id(self.plan.constants[ref.key])] + ref.offset
        return self.arena_base + self.offsets[self.lowered.aliases.get(ref.key, ref.key)] // 4 + ref.offset

    def _check_extents(self):
        """Every element a call touches lies in its operand's slot (or constant)."""
        src = self.plan.graph.source
        for it in self.lowered.items:
            if it.call is None:
                continue
            for ref, lo, hi, written in call_extents(it.call):
                if ref.kind == "c":
                    if written:
                        raise ExecutionError(f"{src}: kernel {it.label} would write into the weights")
                    size = int(np.asarray(self.plan.constants[ref.key]).size)
                else:
                    spec = self.plan.specs[self.lowered.aliases.get(ref.key, ref.key)]
                    size = slot_bytes(spec) // 4
                if lo < 0 or hi > size:
                    raise ExecutionError(f"{src}: kernel {it.label} would {'write' if written else 'read'} elements "
                                         f"[{lo}, {hi}) of {ref.key!r}, whose slot holds {size}")

    def _dispatch(self, call) -> dict:
        kernel = k_gemm if self.backend.tiled_gemm() and gemm_fits(call) else KERNELS[type(call)]
        self.tiled_calls += kernel is k_gemm
        shader, subs, params, items, *grid = kernel(call, self.elem)
        src = self.sources.setdefault(program(shader, subs), len(self.sources))
        return {"src": src, "params": [int(items), *map(int, params)],
                "groups": grid[0] if grid else groups_for(items)}

    async def build(self):
        """Buffer, weights, pipelines (created in parallel) and bind groups on the device."""
        rt = self.rt
        self.buf = int(rt.createBuffer(self.total_bytes))
        if self._weights:
            blob = np.zeros(self.weight_bytes, np.uint8)
            for at, arr in self._weights:
                blob[4 * at:4 * at + arr.nbytes] = np.frombuffer(arr.tobytes(), np.uint8)
            rt.write(self.buf, 0, blob)
        segments = []
        for kind, what in self.segments:
            if kind == "native":
                plan_json = json.dumps({"sources": list(self.sources), "dispatches": [d for d, _ in what]})
                pid = int(await rt.setPlan(plan_json, self.buf))
                self.plan_ids.append(pid)
                what = (pid, [item for _, item in what])
            segments.append((kind, what))
        self.segments = segments
        self._weights = []                      # on the device now

    # -- running (the asynchronous shell is runner.SegmentedPlan) ----------------------
    def _byte_offset(self, key) -> int:
        return 4 * self.arena_base + self.offsets[self.lowered.aliases.get(key, key)]

    def write(self, key, value, where=None) -> None:
        self.rt.write(self.buf, self._byte_offset(key), self.checked(key, value))

    def _from_bytes(self, key, raw, at=0) -> np.ndarray:
        spec = self.plan.specs[key]
        n = int(np.prod(spec.shape, dtype=np.int64))
        out = np.frombuffer(raw, self.stored_dtype(key), count=n, offset=at).reshape(spec.shape).copy()
        return out.astype(BOOL) if spec.dtype == BOOL else out

    def _nbytes(self, key) -> int:
        return int(np.prod(self.plan.specs[key].shape, dtype=np.int64)) * self.stored_dtype(key).itemsize

    async def read_async(self, key, where=None) -> np.ndarray:
        raw = (await self.rt.read(self.buf, self._byte_offset(key), self._nbytes(key))).to_py()
        return self._from_bytes(key, raw)

    async def execute_fast_async(self, feeds, out_keys):
        from pyodide.ffi import to_js
        pid = self.segments[0][1][0] if self.segments else 0
        ins = [self.checked(k, feeds[k]) for k in self.plan.input_keys]
        sizes = [self._nbytes(k) for k in out_keys]
        if self._js_offsets is None:           # static after compiling: converted to JS once
            self._js_offsets = (to_js([self._byte_offset(k) for k in self.plan.input_keys]),
                                to_js([self._byte_offset(k) for k in out_keys]), to_js(sizes))
        raw = (await self.rt.execute(pid, self.buf, self._js_offsets[0], ins, *self._js_offsets[1:])).to_py()
        out, at = {}, 0
        for k, n in zip(out_keys, sizes):
            out[k] = self._from_bytes(k, raw, at)
            at += -(-n // 4) * 4
        return out

    async def run_segment_async(self, segment, recorder) -> None:
        pid, items = segment
        if recorder is None:
            self.rt.run(pid)
            return
        ms = (await self.rt.profile(pid)).to_py()
        engine().timing_source = f"webgpu: {self.rt.lastProfile}"
        for t, item in zip(ms, items):
            kind, _, node = item.label.partition(":")
            recorder.append(KernelRecord(kind, node, self.shapes(item.reads), self.shapes(item.writes), float(t),
                                         self.out_bytes(item.writes)))

    def execute_fast(self, feeds, out_keys):
        raise _sync_error(self.plan)

    def read(self, key, where=None):
        raise _sync_error(self.plan)

    def run_segment(self, segment, recorder):
        raise _sync_error(self.plan)

    def dispose(self):
        if not self.rt.lost:                    # a lost device took its buffers and pipelines with it
            for pid in self.plan_ids:
                self.rt.releasePlan(pid)
            if self.buf is not None:
                self.rt.releaseBuffer(self.buf)
        self.plan_ids, self.buf = [], None

    def describe(self) -> dict:
        return {**self.describe_base(self.n_ops), "tiled_gemm_calls": self.tiled_calls,
                "arena_bytes": self.arena_bytes, "naive_activation_bytes": self.naive_bytes,
                "weight_bytes": self.weight_bytes, "pipelines": len(self.sources),
                "conv_flops": self.lowered.conv_flops}


def _sync_error(plan) -> BackendError:
    return BackendError(f"{plan.graph.source} on webgpu: WebGPU returns results asynchronously; use "
                        f"`await model.predict_async(x)` or `await model.execute_async(...)` (they work on every backend)")


class WebGPUBackend:
    name = "webgpu"
    asynchronous = True

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return native.capability(cls.name)

    @staticmethod
    def supports(call) -> bool:
        """A typed kernel call (lower/calls.py) with a WGSL kernel: float32 / int32 / bool;
        int8 calls run on numpy inside the plan."""
        return supports(call)

    def __init__(self):
        self._rt = native.start(self.name)      # BackendError unless set_backend_async started the device
        # Regular convs as the workgroup-tiled GEMM (gemm.wgsl) or one item per 4 outputs
        # (conv.wgsl): None picks by adapter.  On SwiftShader's CPU adapter the tiles cost
        # more than they save (BlazeFace 3.6-4.2 s tiled vs 2.7-3.3 s per inference), so a
        # fallback adapter gets the item kernel; a GPU gets the tiles.  Set True/False to force.
        self.gemm: bool | None = None

    def tiled_gemm(self) -> bool:
        return (not bool(self._rt.fallbackAdapter)) if self.gemm is None else bool(self.gemm)

    def runtime(self):
        return self._rt

    async def compiled_async(self, plan: Plan) -> GPUPlan:
        """The plan built on the current device (a new device after a loss, and the plan
        rebuilt on it)."""
        if self._rt.lost:
            print(f"webtensor: the WebGPU device was lost ({self._rt.lostReason}); starting a new one")
            self._rt = await native.start_async(self.name)
        cp = self.compiled(plan)
        if cp.rt is not self._rt:               # built on a lost device
            plan.lowered.pop(self.name, None)
            cp = self.compiled(plan)
        if cp.buf is None:
            try:
                await cp.build()
            except BaseException as e:          # nothing stays allocated by a plan that failed to build
                cp.dispose()
                plan.lowered.pop(self.name, None)
                if isinstance(e, WebtensorError) or not isinstance(e, Exception):
                    raise
                raise wrap_backend_error(e, f"{plan.graph.source} on webgpu") from None
        return cp

    def compiled(self, plan: Plan) -> GPUPlan:
        cp = plan.lowered.get(self.name)
        if cp is None:
            cp = GPUPlan(self, plan)              # lowered and laid out; built on the device by compiled_async
            plan.lowered[self.name] = cp
        return cp

    def run(self, plan: Plan, feeds):
        raise _sync_error(plan)

    async def run_async(self, plan: Plan, feeds):
        return await (await self.compiled_async(plan)).run_async(feeds)

    def describe(self, plan: Plan) -> dict:
        return self.compiled(plan).describe()

    def memory_stats(self) -> dict:
        st = self._rt.stats()
        return {"kind": "webgpu", "buffer_bytes": int(st.bufferBytes), "buffers": int(st.buffers),
                "pipelines": int(st.pipelines), "adapter": str(st.adapter), "lost": bool(st.lost)}
