"""The WebGL2 backend: the typed kernel calls of the lowering (lower/calls.py) drawn
as fragment-shader passes over float32 textures, one draw per call (`DRAWS`).

Layout (see shaders/prelude.glsl): flat-packed RGBA32F textures, 4 consecutive
elements per texel, so NHWC tensors with channel counts divisible by 4 are "channels
packed by 4" and reshapes are free.  Integers and booleans are stored as floats
(exact below 2**24).  Each draw writes a fresh texture from a pool (a texture is never
read and written by one draw); textures return to the pool after their tensor's last
reader, planned at compile time, so `predict` is one call with a static draw list.
"""
from __future__ import annotations

import functools
import math
import hashlib
import json
from pathlib import Path

import numpy as np

from .._record import replace
from ..engine import KernelRecord, engine
from ..errors import BackendError, ResourceError, WebtensorError, wrap_backend_error
from .. import native
from ..graph.plan import Plan
from ..runner import SegmentedPlan
from ..lower import Lowering, contiguous_strides
from ..lower.calls import (Binary, Cast, Conv, Copy, DepthwiseConv, Fill, Pool, Reduce, Ref, Resize, Softmax,
                          Unary)

SHADER_DIR = Path(__file__).resolve().parent.parent / "shaders"
# the vocabulary (ops/kinds.py) as GLSL
ACT_GLSL = {None: "return v;", "Relu": "return max(v, 0.0);", "Relu6": "return clamp(v, 0.0, 6.0);",
            "Sigmoid": "return 1.0 / (1.0 + exp(-v));",
            "Tanh": "return tanh(clamp(v, -10.0, 10.0));",   # SwiftShader: tanh(inf) is NaN
            "Elu": "return v > 0.0 ? v : exp(v) - 1.0;", "LeakyRelu": "return v > 0.0 ? v : v * PARAM;",
            "Prelu": "return v > 0.0 ? v : v * alpha;",
            "Selu": "return 1.0507009873554805 * (v > 0.0 ? v : 1.6732632423543772 * (exp(v) - 1.0));"}
BINARY_GLSL = {"Add": "x + y", "Sub": "x - y", "Mul": "x * y", "Div": "x / y", "Maximum": "wt_max(x, y)",
               "Minimum": "wt_min(x, y)", "SquaredDifference": "(x - y) * (x - y)", "Prelu": "(x > 0.0 ? x : x * y)",
               "FloorDiv": "floor(x / y)", "FloorMod": "(x - floor(x / y) * y)"}
# SwiftShader's exp(NaN) is inf: NaN is passed through first
UNARY_GLSL = {"Exp": "(wt_isnan(x) ? x : exp(x))", "Sqrt": "sqrt(x)", "Rsqrt": "inversesqrt(x)", "Reciprocal": "1.0 / x",
              "Neg": "-x", "Abs": "abs(x)", "Square": "x * x", "Floor": "floor(x)", "Ceil": "ceil(x)",
              "Round": "roundEven(x)", "Sign": "(wt_isnan(x) ? x : sign(x))"}
CLAMP_ACT = {None: 0, "Relu": 1, "Relu6": 2}                     # conv.glsl ACT_CLAMP's ACT_KIND
REDUCE_KIND = {"Mean": 0, "Sum": 1, "Max": 2, "Min": 3}           # reduce.glsl KIND
CAST_TO = {"float32": 0, "int32": 1, "bool": 2}                    # reduce.glsl CAST: the destination
LAYERS = 4                       # grid rows per fragment (prelude.glsl, webgl_runtime.js)
MAX_DEPTHWISE_TAPS = 64          # kept as the wasm kernels' limit (larger filters untested here)
F32 = np.dtype(np.float32)
F32_ZERO = np.zeros(0, np.float32)     # what the plan's derived zero arrays are keyed on


@functools.cache
def shader_source(name: str) -> str:
    """The GLSL shipped in the package (build.py copies shaders/ into it), read once."""
    for base in (SHADER_DIR, Path(__file__).resolve().parents[3] / "shaders"):
        p = base / f"{name}.glsl"
        if p.exists():
            return p.read_text()
    raise BackendError(f"shader {name}.glsl is missing from the package")


@functools.lru_cache(maxsize=256)
def program_source(shader: str, defines: tuple, sizes: tuple) -> str:
    """A draw's GLSL: the prelude, its #defines, its size uniforms, the shader, main()."""
    head, _, rest = shader_source("prelude").partition("\n")
    return "\n".join([head, *(f"#define {k} {v}" for k, v in defines), rest, *(f"uniform int {k};" for k in sizes),
                      shader_source(shader), shader_source("main")])


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


class GLPlan(SegmentedPlan):
    """A Plan translated into draws, textures planned, on one GL runtime."""

    backend_name = "webgl"

    def __init__(self, backend: "WebGLBackend", plan: Plan):
        self.backend, self.plan = backend, plan
        self.rt = backend.runtime()
        self.generation = int(self.rt.generation)
        self.lowered = Lowering(plan, plan.optimize, supports).run()
        self.max_size = int(self.rt.maxTextureSize)
        self.owned: list[int] = []
        self.borrowed: set[int] = set()
        self.segments: list[tuple[str, object]] = []
        self.current: dict[str, int] = {}        # tensor -> texture holding it now
        self.free: dict[tuple, list[int]] = {}
        self.weight_tex: dict[tuple, int] = {}
        self.shared: list[bytes] = []            # weight textures held in the backend's shared cache
        self.labels: list[str] = []
        self.dims: dict[int, tuple[int, int]] = {}
        self.writers, self.readers = self._uses()
        self.padded, self.in_pads = self._padded_inputs()
        self.conv_macs = {self.base(it.writes[0]): conv_macs(it.call) for it in self.lowered.items
                          if isinstance(it.call, (Conv, DepthwiseConv))}
        self.planes: dict[str, int] = {}          # (every map 1 plane while the planes are chosen)
        self.co_pad: dict[str, int] = {}          # conv heads' output channels padded to 8 (_channel_planes)
        self._same_rows_as_residuals()
        self.planes = self._channel_planes()
        self.pool_pads, self.skipped = self._padded_pools()
        self.tex_planes: dict[int, int] = {}       # texture -> its planes (the free pool's key)
        self.derived_arrays: dict[tuple, tuple] = {}
        self.zeros: dict[tuple, int] = {}          # (n, row texels) -> a shared texture of zeros
        self.feed_bufs: dict[str, tuple] = {}      # padded inputs: (upload buffer, the image's place in it)
        self.read_layouts: dict[str, tuple] = {}   # output -> (floats its texture holds, its unpacking)
        self.pending_uploads: list | None = []     # weights uploaded once the programs compile
        try:
            self._build()
            self._upload_weights()
        except BaseException:         # nothing stays allocated by a plan that failed to compile
            self.dispose()
            raise
        self._js_textures = None

    # -- textures ------------------------------------------------------------------
    def base(self, key):
        return self.lowered.aliases.get(key, key)

    def size(self, key) -> int:
        return math.prod(map(int, self.plan.specs[key].shape))     # (np.prod: ~35 us a call in Pyodide)

    def shape_of(self, key) -> tuple:
        """A tensor's shape as its texture holds it (an RGB input's channels padded to 4 and
        its image to its stem's padding, a conv head's output channels to 8)."""
        b = self.base(key)
        shape = tuple(map(int, self.plan.specs[b].shape))
        if b in self.co_pad:
            return (*shape[:3], self.co_pad[b])
        if b in self.padded:
            pt, pb, pl, pr = self.in_pads.get(b, (0, 0, 0, 0))
            return shape[0], shape[1] + pt + pb, shape[2] + pl + pr, 4
        return shape

    def _same_rows_as_residuals(self):
        """A conv reads its residual at its own output's grid position, so both must hold
        the same pixels per grid row: where they would not (a split 6x6x256 conv output
        whose residual, a max pool's output or an input, keeps image rows: palm detection's
        blocks once their Prelu joined the conv), neither is split."""
        convs = [it.call for it in self.lowered.items if isinstance(it.call, (Conv, DepthwiseConv))
                 and it.call.residual is not None and it.call.residual.kind == "t"]
        changed = True
        while changed:
            changed = False
            for c in convs:
                out, res = self.base(c.out.key), self.base(c.residual.key)
                if self.pixel_rows(out) != self.pixel_rows(res) and (self.conv_macs.get(out) or self.conv_macs.get(res)):
                    self.conv_macs[out] = self.conv_macs[res] = 0
                    changed = True         # (only when a split was undone: the loop ends)

    def pixel_rows(self, key) -> int | None:
        """Pixels per grid row of an NHWC tensor: its width (a grid row is an image row), or
        fewer where a map has under `engine().webgl_split_rows_below` image rows (a 7x7 map:
        1 pixel, 49 grid rows; the widest divisor of the width that gives that many rows)
        and the conv writing it does at least `webgl_split_macs` multiply-adds.  SwiftShader
        splits a draw between its threads by rows of 2x2 quads, and a fragment writes 4 grid
        rows: the 7 rows of a 7x7 map were one row of quads, on one thread (2x the time per
        MAC).  Small layers keep image rows: the split rows take another program (~30 ms to
        compile at the first draw) for a gain of a few tenths of a ms (BlazeFace's 8x8 maps:
        2.5 ms over 16 draws).  None: not NHWC, or rows not whole texels."""
        shape = self.shape_of(key)
        if len(shape) != 4 or (shape[2] * shape[3]) % 4:
            return None
        N, H, W, C = shape
        eng = engine()
        least = eng.webgl_split_rows_below
        if N * H >= least or C % 4 or self.conv_macs.get(self.base(key), 0) < eng.webgl_split_macs:
            return W
        return next((d for d in range(W, 0, -1) if W % d == 0 and N * H * (W // d) >= least), 1)

    def dims_of(self, key) -> tuple[int, int]:
        """A tensor's grid, w x h texels (of one plane, for a tensor of 2: _channel_planes)."""
        shape, pr, planes = self.shape_of(key), self.pixel_rows(key), self.planes.get(self.base(key), 1)
        return tex_dims(math.prod(shape) // planes, self.max_size, pr * shape[3] // 4 // planes if pr else None)

    def planes_of(self, ref) -> int:
        """The channel planes of an operand's texture (1, or 2: _channel_planes)."""
        return 1 if ref.kind == "c" else self.planes.get(self.base(ref.key), 1)

    def _uses(self) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """{tensor: the items that write it}, {tensor: the items that read it and do not also
        write it}, by base tensor (a view's readers count as its base's)."""
        writers: dict[str, list[int]] = {}
        readers: dict[str, list[int]] = {}
        for i, it in enumerate(self.lowered.items):
            for k in it.writes:
                writers.setdefault(self.base(k), []).append(i)
            for k in it.reads:
                if k not in it.writes:
                    readers.setdefault(self.base(k), []).append(i)
        return writers, readers

    def is_zero_fill(self, it) -> bool:
        """A Fill of zeros over the whole tensor (a Pad's background)."""
        return isinstance(it.call, Fill) and it.call.value == 0 and it.call.n == self.size(it.writes[0])

    def _padded_inputs(self) -> tuple[dict[str, int], dict[str, tuple[int, int, int, int]]]:
        """Plan inputs of 1-3 channels that only convs read (an RGB image into its stem):
        their texture holds each pixel's channels padded to 4 with zeros (the feed is padded
        at upload), so the stem reads a pixel as one texel through the 4-channel conv path,
        with its filter padded alike, instead of as a window of two texels (SwiftShader took
        ~107 ms to compile that program at the first draw, ~35 ms the 4-channel one).
        Where every reader pads the image alike, the texture holds that padding too (rows
        and columns of zeros around the image: (top, bottom, left, right)), so the stem is
        a conv without padding, its program without bounds selects: BlazeFace's first
        inference ~20 ms faster (fresh pages, alternating), its stem ~1 ms.  (Tried: that
        stem drawn by the 1x1 convs' 2-plane program, one program fewer to compile: 31 ms a
        run against 19, and the first inference no faster.)  Returns {input: its channels},
        {input: its spatial padding}."""
        items, plan, padded, pads = self.lowered.items, self.plan, {}, {}
        for k in plan.input_keys:
            shape = plan.specs[k].shape
            if len(shape) != 4 or not 1 <= shape[3] <= 3 or k in plan.output_keys or self.base(k) != k \
                    or plan.specs[k].dtype != "float32":
                continue
            readers = [items[i] for i in self.readers.get(k, [])]
            if readers and all(type(it.call) is Conv and it.call.x == Ref("t", k) and it.call.residual != Ref("t", k)
                               and all(r == k for r in it.reads if self.base(r) == k) for it in readers):
                padded[k] = int(shape[3])
                spatial = {(g.PT, max(0, (g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1 - g.H - g.PT),
                            g.PL, max(0, (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1 - g.W - g.PL))
                           for g in (it.call.g for it in readers)}
                if len(spatial) == 1:
                    pads[k] = spatial.pop()
        return padded, pads

    def _channel_planes(self) -> dict[str, int]:
        """Conv outputs stored as 2 channel planes: {tensor: 2}.  A tensor of 2 planes holds
        the first half of each pixel's channel texels in layers 0-3 of its texture, the
        second half in layers 4-7 (the grid half as wide), so the conv writing it computes 4
        output channels of each half in each of its 4 rows: 8 colour targets, and each input
        texel it fetches feeds 8 output channels where it fed 4 (the input fetches are half
        a 1x1 conv's; MobileNetV2's were its cost).  Only where every reader knows planes:
        convs reading it as their input on the 4-channel path or as their residual (of
        either planes, conv.glsl RH), pools on theirs; never a plan input, a tensor read
        through a view, or one a numpy step reads.  The writer: a conv (not depthwise) on the
        4-channel path, of output channels a multiple of 8, 4 rows a fragment, and at least
        engine().webgl_planes_macs multiply-adds; the device has 8 draw buffers.
        A plan output takes planes too: read back, a pixel's channels are put together again
        (unpacked).  And a conv writing a plan output no item reads, of output channels not a
        multiple of 8 (a detector's class head: 2 or 6), computes them padded to 8 with zero
        filters (co_pad), cut off at read-back, with the program of the other 1x1 convs:
        BlazeFace's heads had a program of their own (~20 ms to compile at SwiftShader's
        first draw), and kept its 1-plane 1x1 program for 4 layers (~27 ms)."""
        eng, items = engine(), self.lowered.items
        least = eng.webgl_planes_macs
        if least is None or int(self.rt.maxDrawBuffers) < 8:
            return {}
        inputs = {self.base(k) for k in self.plan.input_keys}
        outputs = {self.base(k) for k in self.plan.output_keys if k not in self.plan.constants}

        def nhwc_grid(key, c_mult):
            shape = self.shape_of(key)
            return len(shape) == 4 and shape[3] % c_mult == 0 and self.pixel_rows(key) is not None \
                and self.base(key) == key

        def writes_planes(i):
            it = items[i]
            c = it.call
            if type(c) is not Conv or c.x.kind != "t":
                return False
            co = self.co_pad.get(self.base(it.writes[0]), c.CO)
            if c.g.C % 4 or c.x.key in self.padded or c.g.DH != 1 or co % 8 or conv_macs(c) < least \
                    or self.size(it.writes[0]) < eng.webgl_shared_rows_above:
                return False
            out = it.writes[0]
            # (an item reading a view of it is refused by reads_planes; a plan output's view
            # is read back in its own shape: unpacked)
            return out not in inputs and len(self.writers.get(out, [])) == 1 \
                and nhwc_grid(out, 8) and nhwc_grid(c.x.key, 4) and tuple(self.shape_of(out)) == \
                (c.g.N, c.g.OH, c.g.OW, co) and not slides_stride2(c.g, c.g.C)

        def reads_planes(j, key):
            """Whether item j reads `key` only as a conv's input or residual, or a pool's input,
            on the 4-channel path."""
            it = items[j]
            c = it.call
            if type(c) is Pool:
                return c.x == Ref("t", key) and not c.int8 and pool_vec4(self, c, it.writes[0]) is not None \
                    and all(self.base(r) != key or r == key for r in it.reads)
            if type(c) not in (Conv, DepthwiseConv) or (c.x == Ref("t", key)) == (c.residual == Ref("t", key)) \
                    or any(self.base(r) == key and r != key for r in it.reads):
                return False
            co = self.shape_of(it.writes[0])[-1] if type(c) is Conv else c.g.C * c.MULT
            # (a residual has its output's pixels a grid row: _same_rows_as_residuals)
            return (type(c) is Conv or c.MULT == 1) and co % 4 == 0 and nhwc_grid(it.writes[0], 4)

        # the heads first: their readers' choice (reads_planes) sees their padded channels
        for i, it in enumerate(items):
            out = it.writes[0] if it.writes else None
            # (no residual: it would have the output's channels, unpadded)
            if type(it.call) is Conv and out in outputs and not self.readers.get(out) and it.call.CO % 8 \
                    and it.call.residual is None and len(self.plan.specs[out].shape) == 4:
                self.co_pad[out] = -(-it.call.CO // 8) * 8
                if not writes_planes(i):
                    del self.co_pad[out]
        chosen = {}
        for i, it in enumerate(items):
            out = it.writes[0] if it.writes else None
            if writes_planes(i) and all(reads_planes(j, out) for j in self.readers.get(out, [])):
                chosen[out] = 2
        return chosen

    def _padded_pools(self) -> tuple[dict[int, str], set[int]]:
        """Pools whose output is only zero-padded in channels (BlazeFace's stride-2 blocks: a
        2x2 max pool, then its channels padded, the residual of the next conv): the pool's
        draw writes the padded tensor, zeros past its channels (window.glsl CO4), so the zero
        Fill and the channel-pad Copy are not drawn, and the copy's program (~25 ms to compile
        at SwiftShader's first draw) is not needed.  Returns {pool item: the padded tensor}
        and the items not drawn.  Only where the pool's output has no other reader and the
        pool takes its 4-channel path (pool_vec4)."""
        items, writers, readers = self.lowered.items, self.writers, self.readers
        kept = {self.base(k) for k in self.plan.output_keys + self.plan.input_keys}
        pads, skipped = {}, set()
        for j, it in enumerate(items):
            copy = it.call
            if not isinstance(copy, Copy) or copy.src.kind != "t" or copy.src.offset or copy.dst.offset \
                    or copy.itemsize != 4:
                continue
            pad, src = self.base(it.writes[0]), self.base(copy.src.key)
            w, ws = writers.get(pad, []), writers.get(src, [])
            # (readers count a view's readers under its base: the pool's output is read by the copy alone)
            if len(w) != 2 or w[1] != j or len(ws) != 1 or readers.get(src) != [j] or src in kept:
                continue
            pool = items[ws[0]].call
            if not self.is_zero_fill(items[w[0]]) or not isinstance(pool, Pool) or pool.int8 \
                    or pool.x.kind != "t" or pool.x.offset:
                continue
            g, cs, pshape = pool.g, copy.shape[5], self.shape_of(pad)
            if list(copy.shape) != [1, 1, 1, 1, g.N * g.OH * g.OW, cs] or list(copy.ss[4:]) != [cs, 1] \
                    or cs != g.C or len(pshape) != 4 or tuple(pshape[:3]) != (g.N, g.OH, g.OW) \
                    or list(copy.ds[4:]) != [pshape[3], 1] or pool_vec4(self, pool, pad) is None:
                continue
            pads[ws[0]] = pad
            skipped.update(w)
        return pads, skipped

    def derived(self, array: np.ndarray, kind: str, make) -> np.ndarray:
        """`make(array)` (a filter padded), made once per plan and kept, so the id that keys
        its weight texture stays its own."""
        key = (id(array), kind)
        if key not in self.derived_arrays:
            self.derived_arrays[key] = (array, make(array))
        return self.derived_arrays[key][1]

    def feed(self, key, value) -> np.ndarray:
        """An input as the flat float32 its texture holds: channels and image padded where
        planned, into a buffer kept for it (the padding stays zero), not a new array per
        inference."""
        c = self.padded.get(key)
        if not c:
            return np.ascontiguousarray(value, dtype=np.float32).reshape(-1)
        if key not in self.feed_bufs:
            buf = np.zeros(self.shape_of(key), np.float32)
            _, h, w, _ = self.plan.specs[key].shape
            pt, _, pl, _ = self.in_pads.get(key, (0, 0, 0, 0))
            self.feed_bufs[key] = (buf, buf[:, pt:pt + h, pl:pl + w, :c])
        buf, image = self.feed_bufs[key]
        image[...] = np.reshape(value, self.plan.specs[key].shape)
        return buf.reshape(-1)

    def zeros_texture(self, n: int, row_texels: int | None = None) -> int:
        """A shared texture of n zeros (row_texels wide), standing in for a tensor: borrowed,
        never returned to the plan's pool."""
        key = (n, row_texels)
        if key not in self.zeros:
            zeros = self.derived(F32_ZERO, key, lambda _: np.zeros(n, np.float32))
            self.zeros[key] = self.constant_texture(zeros, ("zeros", *key), row_texels)
            self.borrowed.add(self.zeros[key])
        return self.zeros[key]

    def new_texture(self, key) -> int:
        dims, planes = self.dims_of(key), self.planes.get(self.base(key), 1)
        pool = self.free.get((dims, planes))
        if pool:
            return pool.pop()
        tid = int(self.rt.createTexture(*dims, False, planes))
        self.owned.append(tid)
        self.dims[tid] = dims
        self.tex_planes[tid] = planes
        return tid

    def release(self, tid: int, key=None):
        if tid in self.borrowed:            # a shared constant standing in for a tensor
            return
        self.free.setdefault((self.dims[tid], self.tex_planes.get(tid, 1)), []).append(tid)

    def constant_texture(self, array: np.ndarray, tag, row_texels: int | None = None, flat: bool = False) -> int:
        """A weight texture, uploaded once per backend for identical contents and layout
        (a model's plans for several input shapes share them); `flat`: a plain 2D texture
        (a conv's filter, bias and alpha: sampler2D in conv.glsl)."""
        key = (tag, id(array), flat)
        if key not in self.weight_tex:
            data = np.ascontiguousarray(array, dtype=np.float32).reshape(-1)
            dims = tex_dims(data.size, self.max_size, row_texels)
            shared_key, tid = self.backend.acquire_texture(data, dims, self.generation, flat, self.pending_uploads)
            self.shared.append(shared_key)
            self.dims[tid] = dims
            self.weight_tex[key] = tid
        return self.weight_tex[key]

    def tex_of(self, ref) -> int:
        """Texture for an operand (a tensor's current texture, or a constant's)."""
        if ref.kind == "c":
            return self.constant_texture(self.plan.constants[ref.key], "const")
        return self.current[self.base(ref.key)]

    # -- building --------------------------------------------------------------------
    def _build(self):
        low, plan = self.lowered, self.plan
        # what each item writes: a pool whose output is channel-padded writes the padded tensor
        writes = [[self.pool_pads[i]] if i in self.pool_pads else it.writes for i, it in enumerate(low.items)]
        last: dict[str, int] = {}
        for i, it in enumerate(low.items):
            if i in self.skipped:
                continue
            for k in it.reads + writes[i]:
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
        labels: list[str] = []
        for i, it in enumerate(low.items):
            if i in self.skipped:                      # a pad its pool writes
                continue
            if it.call is None:                        # numpy fallback between draw segments
                if draws:
                    self.segments.append(("native", (self._set_plan(draws), labels)))
                    draws, labels = [], []
                for k in it.writes:
                    old = self.current.get(self.base(k))
                    self.current[self.base(k)] = self.new_texture(k)
                    if old is not None:
                        self.release(old)
                self.segments.append(("numpy", (it.step, {k: self.current[self.base(k)] for k in it.reads + it.writes})))
            elif self.is_zero_fill(it):
                # zeros (a Pad's background, its copy follows): a shared zeros texture stands
                # in, no draw and no program (~15 ms at SwiftShader's first draw)
                b = self.base(it.writes[0])
                old = self.current.get(b)
                self.current[b] = self.zeros_texture(self.size(it.writes[0]), self.dims_of(it.writes[0])[0])
                if old is not None and old not in self.inputs.values():
                    self.release(old)
            else:
                out_key = writes[i][0]
                ds = self.translate(it, out_key)
                old = self.current.get(self.base(out_key))
                out_tex = self.new_texture(out_key)
                for j, d in enumerate(ds if isinstance(ds, list) else [ds]):   # a conv: interior + border
                    d["out"] = out_tex
                    draws.append(d)
                    labels.append(it.label + (" (border)" if j else ""))
                    self.labels.append(labels[-1])
                self.current[self.base(out_key)] = out_tex
                if old is not None and old not in self.inputs.values():
                    self.release(old)
            for k in set(it.reads + writes[i]):
                b = self.base(k)
                if last.get(b) == i and b in self.current and self.current[b] not in self.inputs.values():
                    self.release(self.current[b])
        if draws:
            self.segments.append(("native", (self._set_plan(draws), labels)))
        self.outputs = {k: self.current[self.base(k)] for k in plan.output_keys if k not in plan.constants}

    def _upload_weights(self) -> None:
        """The weight textures' contents, sent after every program of the plan was handed
        to the runtime and drawn once (warm): SwiftShader compiles a program at its first
        draw, in the GPU process, so those compiles run while this side packs and uploads."""
        pending, self.pending_uploads = self.pending_uploads, None
        for tid, data in pending:
            self.rt.upload(tid, data)

    def _set_plan(self, draws) -> int:
        """Hand a segment's draws to the runtime, each distinct program source once (a model's
        76 draws share ~10 sources of ~12 KB)."""
        self._drop_unused_residual(draws)
        sources: dict[str, int] = {}
        slim = [{**{k: v for k, v in d.items() if k != "program"},
                 "src": sources.setdefault(program_source(*d["program"]), len(sources))} for d in draws]
        plan_id = int(self.rt.setPlan(json.dumps({"sources": list(sources), "draws": slim})))
        self.rt.warm(plan_id)
        return plan_id

    @staticmethod
    def _drop_unused_residual(draws) -> None:
        """A program with the uniform residual branch (RES_UNIFORM, for layers with and
        without a residual to share it) that none of its draws takes is compiled without
        it: SwiftShader compiles the branch it never runs (an RGB stem: ~50 ms at its first
        draw, ~60-75 with the branch)."""
        programs: dict[tuple, list[dict]] = {}
        for d in draws:
            programs.setdefault(d["program"], []).append(d)
        for (shader, defines, sizes), ds in programs.items():
            if ("RES_UNIFORM", 1) not in defines or any(dict(d["ints"]).get("HAS_RES") != [0] for d in ds):
                continue
            program = (shader, tuple(kv for kv in defines if kv[0] not in ("RES_UNIFORM", "RESIDUAL")),
                       tuple(k for k in sizes if k != "HAS_RES"))
            for d in ds:
                d["program"] = program
                d["inputs"] = [i for i in d["inputs"] if i[0] != "R"]
                d["ints"] = [i for i in d["ints"] if i[0] != "HAS_RES"]

    def draw(self, shader: str, defines: dict, inputs: list, sizes: dict | None = None, ints: list = (),
             floats: list = ()) -> dict:
        """A draw of `shader`: `defines` shape the program (its structure), `sizes` are
        `uniform int`s, so layers that differ only in their sizes share one program; the
        runtime compiles a program once per source (SwiftShader: ~12 ms at its first draw
        even for a trivial shader, 20-40 ms for a conv), and sets OUT_WIDTH per draw."""
        sizes = sizes or {}
        # (sorted: layers that differ only in the order their defines were set share the program;
        # program_source makes its GLSL when the plan is handed to the runtime, _set_plan)
        program = (shader, tuple(sorted(defines.items())), tuple(sorted(sizes)))
        return {"program": program, "inputs": inputs, "ints": [[k, [int(v)]] for k, v in sizes.items()] + list(ints),
                "floats": list(floats)}

    def translate(self, it, out_key) -> dict | list[dict]:
        """One kernel call of the lowering -> its draw (`DRAWS`; a padded conv: two, its
        interior and its frame) into out_key's texture (the item's output, or for a pool
        the channel-padded tensor it writes: _padded_pools)."""
        return DRAWS[type(it.call)](self, it.call, out_key)

    # -- running (the shell is runner.SegmentedPlan) ---------------------------------------
    def read(self, key, where=None) -> np.ndarray:
        buf = np.empty(self.read_layout(key)[0], np.float32)
        self.rt.download(where[key] if where is not None else self.outputs[key], buf)
        return self.unpacked(key, buf)

    def read_layout(self, key) -> tuple:
        """(floats a tensor's texture holds, every plane and padded channel, and how its
        download is unpacked: None, or (planes, grid rows, pixels a grid row, texels a
        pixel in a plane, pixels, channels held, channels)); worked out once per tensor."""
        if key not in self.read_layouts:
            b = self.base(key)
            planes, shape = self.planes.get(b, 1), self.shape_of(b)
            unpack = None
            if planes > 1 or b in self.co_pad:
                N, H, W, C = shape
                pr = self.pixel_rows(b)
                unpack = (planes, N * H * W // pr, pr, C // 4 // planes, N * H * W, C, int(self.plan.specs[b].shape[3]))
            self.read_layouts[key] = (math.prod(shape), unpack)
        return self.read_layouts[key]

    def unpacked(self, key, buf: np.ndarray) -> np.ndarray:
        """A downloaded tensor in its own shape and dtype: its planes (the runtime's download
        gives them one after the other) put together again per pixel, padded channels off."""
        spec, unpack = self.plan.specs[key], self.read_layout(key)[1]
        if unpack is not None:
            planes, rows, pr, xh, pixels, held, c = unpack
            # plane p, grid row r, pixel j of it, texel t -> pixel r * pr + j, texel p * xh + t
            buf = np.ascontiguousarray(buf.reshape(planes, rows, pr, xh, 4).transpose(1, 2, 0, 3, 4)
                                       .reshape(pixels, held)[:, :c])
        return _from_f32(buf.reshape(spec.shape), spec.dtype)

    def write(self, key, value, where=None) -> None:
        self.rt.upload(where[key] if where is not None else self.inputs[key], self.feed(key, value))

    def execute_fast(self, feeds, out_keys) -> dict[str, np.ndarray]:
        """One interop call: upload the inputs, every draw, download the outputs."""
        from pyodide.ffi import to_js
        in_keys = self.plan.input_keys
        in_arrays = [self.feed(k, feeds[k]) for k in in_keys]
        out_arrays = [np.empty(self.read_layout(k)[0], np.float32) for k in out_keys]
        plan_id = self.segments[0][1][0] if self.segments else 0
        if self._js_textures is None:      # static after compiling: converted to JS once
            self._js_textures = (to_js([self.inputs[k] for k in in_keys]), to_js([self.outputs[k] for k in out_keys]))
        self.rt.execute(plan_id, self._js_textures[0], in_arrays, self._js_textures[1], out_arrays)
        return {k: self.unpacked(k, v) for k, v in zip(out_keys, out_arrays)}

    def run_segment(self, segment, recorder) -> None:
        plan_id, labels = segment
        if recorder is None:
            self.rt.run(plan_id)
            return
        engine().timing_source = ("webgl: each draw alone, synchronised by a one-pixel readPixels "
                                  "(no disjoint-timer query in WebGL2 here; gl.finish does not wait)")
        for ms, label in zip(self.rt.profile(plan_id).to_py(), labels):
            kind, _, node = label.partition(":")
            recorder.append(KernelRecord(kind, node, [], [], float(ms), 0))

    def dispose(self):
        for kind, what in self.segments:
            if kind == "native":
                self.rt.releasePlan(what[0])
        for tid in self.owned:
            self.rt.releaseTexture(tid)
        self.owned = []
        for key in self.shared:
            self.backend.release_texture(key, self.generation)
        self.shared = []

    def describe(self) -> dict:
        st = self.rt.stats()
        return {**self.describe_base(len(self.labels)), "textures": len(self.owned), "arena_bytes": 0,
                "naive_activation_bytes": 0, "weight_bytes": 0, "texture_bytes": int(st.textureBytes)}


# ----------------------------------------------------------------------------- draws
def _f32(v: float) -> float:
    """A float uniform as the float32 the other backends compute with."""
    return float(np.float32(v))


def pixel_grid(dims, pr: int, n: int, h: int, w: int, c: int) -> bool:
    """Whether a texture of `dims` holds an [n][h][w][c] map as pr pixels of one image row
    per grid row (pr = w: image rows; fewer: a split small map, GLPlan.pixel_rows)."""
    return (pr * c) % 4 == 0 and tuple(dims) == (pr * c // 4, n * h * w // pr)


def slides_stride2(g, C: int) -> bool:
    """A conv's shape for conv.glsl's SLIDE2 (4 input channels, stride 2, 3 or more tap rows)."""
    return C == 4 and g.SH == 2 and g.KH >= 3


def conv_macs(call) -> int:
    g = call.g
    return g.N * g.OH * g.OW * g.KH * g.KW * (call.CO * g.C if isinstance(call, Conv) else g.C * call.MULT)


def draw_conv(p: GLPlan, call, out_key) -> dict:
    """Conv and DepthwiseConv: conv.glsl, logical filters as weight textures."""
    dw = isinstance(call, DepthwiseConv)
    g = call.g
    if not dw and call.x.kind == "t" and call.x.key in p.in_pads:    # the image holds the padding
        pt, pb, pl, pr = p.in_pads[call.x.key]
        g = replace(g, H=g.H + pt + pb, W=g.W + pl + pr, PT=0, PL=0)
    N, H, W, C = g.N, g.H, g.W, g.C
    mult = call.MULT if dw else 1
    CO = C * mult if dw else p.co_pad.get(p.base(out_key), call.CO)
    filt, bias, alpha = call.filter, call.bias, call.alpha
    if not dw and CO != call.CO:                 # a head's output channels padded (co_pad): zero filters
        if call.residual is not None:
            raise BackendError(f"webgl: {out_key}: a residual into a conv of padded output channels (a planning bug)")
        pad = CO - call.CO
        filt = p.derived(filt, ("co", CO), lambda f: np.pad(f, ((0, 0), (0, 0), (0, 0), (0, pad))))
        bias = p.derived(bias, ("co", CO), lambda b: np.pad(b, (0, pad)))
        if alpha is not None:
            alpha = p.derived(alpha, ("co", CO), lambda a: np.pad(a, (0, pad)))
    if not dw and call.x.key in p.padded:           # an RGB stem on its padded input texture
        C = 4
        filt = p.derived(filt, "pad4", lambda f: np.pad(f, ((0, 0), (0, 0), (0, 4 - f.shape[2]), (0, 0))))
    # the geometry too: loops over constant bounds are unrolled, which made the RGB stem's
    # 5x5 program take 148 ms to compile (60 ms with uniform bounds) and ran no faster
    sizes = dict(N=N, H=H, W=W, C=C, OH=g.OH, OW=g.OW, CO=CO, MULT=mult, KH=g.KH, KW=g.KW, SH=g.SH, SW=g.SW,
                 DH=g.DH, DW=g.DW, PT=g.PT, PL=g.PL)
    defs = dict(ACTIVATION=ACT_GLSL[call.act])
    if dw:
        defs["DEPTHWISE"] = 1
    out_dims = p.dims_of(out_key)
    x_tex = p.tex_of(call.x)
    xp, op = p.planes_of(call.x), p.planes.get(p.base(out_key), 1)      # channel planes
    # a grid row holds pr pixels of one image row (pixel_rows): the whole row, or, in maps
    # of few rows, fewer (OUT_PR, X_PR; a tensor that is not NHWC, the 2D input of a
    # MatMul, may still have the rows the conv's NHWC view of it wants: its dims say)
    pr_out = p.pixel_rows(out_key) or g.OW
    pr_x = (p.pixel_rows(call.x.key) if call.x.kind == "t" else None) or W
    out_rows = CO % 4 == 0 and pixel_grid(out_dims, pr_out, N, g.OH, g.OW, CO // op)
    x_rows = pixel_grid(p.dims[x_tex], pr_x, N, H, W, C // xp)
    # SEG: grid rows that are not image rows; a separate program, as the general addressing
    # (a division per tap and row) cost the usual layers 7 %
    seg = pr_out != g.OW or pr_x != W
    w_rows = dw and C % 4 == 0 or not dw and CO % 4 == 0
    vec4 = CO % 4 == 0 and mult == 1 and out_rows and (C % 4 == 0 or (not dw and w_rows)) \
        and (not seg or C % 4 == 0 and x_rows)
    wt = p.constant_texture(filt, "filter", ((C if dw else CO) // 4) if w_rows else None, flat=True)
    if vec4:
        defs["VEC4"] = 1                     # 4 output channels of a pixel in each of 4 rows per fragment
        if C % 4 == 0:
            defs["C_VEC4"] = 1               # ... and 4 input channels per fetch
        elif C < 4:
            defs["STEM_C"] = C               # an RGB stem: a pixel's channels in one window
        if p.dims[wt][0] == (C if dw else CO) // 4:
            defs["W_ROWS"] = 1
        # direct texel addressing where the input's grid has pixel rows
        if x_rows:
            defs["X_ROWS"] = 1
        if seg:
            defs["SEG"] = 1
            sizes["OUT_PR"], sizes["X_PR"] = pr_out, pr_x
        sizes["XH"], sizes["XP"] = C // 4 // xp, xp
        # 4 rows per fetched filter texel where the layer is large enough to pay for the
        # longer compile (SwiftShader compiles a program at its first draw)
        defs["ROWS"] = 4 if p.size(out_key) >= engine().webgl_shared_rows_above else 1
        # taps that never reach the padding need no bounds selects
        v_in = g.PT == 0 and (g.OH - 1) * g.SH + (g.KH - 1) * g.DH < H
        h_in = g.PL == 0 and (g.OW - 1) * g.SW + (g.KW - 1) * g.DW < W
        if v_in and h_in:
            defs["NO_PAD"] = 1
        elif h_in:
            defs["NO_HPAD"] = 1
        if call.act in CLAMP_ACT:            # the activation a uniform: layers share the program
            defs["ACT_CLAMP"], defs["ACTIVATION"] = 1, ACT_GLSL[None]
            sizes["ACT_KIND"] = CLAMP_ACT[call.act]
        elif call.act is not None:
            defs["HAS_ACT"] = 1
        # each input row fetched once for a fragment's 4 output rows (conv.glsl SLIDE, SLIDE2),
        # where those rows are in one image (or past the last row of a batch of 1).  Stride 2
        # for 4-channel convs of 3 or more tap rows (KH + 6 fetches where there were 4 KH; an
        # RGB stem drawn whole, selects and all, against interior and frame without: BlazeFace's
        # 5x5 one 36.6 -> ~24 ms, MobileNetV2's 3x3 interior 10.4 -> 9.6-10.0), not for
        # depthwise convs (MobileNetV2's 56x56 one: no faster; it keeps 7 input rows in
        # registers, against 4 for stride 1)
        slide = defs["ROWS"] == 4 and g.DH == 1 and (g.OH % 4 == 0 or N == 1) and not seg
        if slide and dw and g.SH == 1:
            defs["SLIDE"] = 1
        elif slide and not dw and slides_stride2(g, C):
            defs["SLIDE2"] = 1
            defs["C_REAL"] = p.padded.get(call.x.key, 4)     # the input channels that are not padding
    r_tex = p.tex_of(call.residual) if call.residual else None
    if xp > 1 and not ("VEC4" in defs and "X_ROWS" in defs):
        raise BackendError(f"webgl: {out_key}: an input of 2 channel planes off the 4-channel path (a planning bug)")
    if op > 1:
        if not ("C_VEC4" in defs and "W_ROWS" in defs and defs["ROWS"] == 4 and not dw and "SLIDE2" not in defs):
            raise BackendError(f"webgl: {out_key}: an output of 2 channel planes off the 4-channel path (a planning bug)")
        defs["OUT_PLANES"] = 1
    # the residual: read at the output's pixels, in its own planes (RH texels a pixel in each)
    rp = p.planes_of(call.residual) if r_tex is not None else 1
    r_grid = r_tex is not None and pixel_grid(p.dims[r_tex], pr_out, N, g.OH, g.OW, CO // rp)
    if rp > 1 and not ("VEC4" in defs and r_grid):
        raise BackendError(f"webgl: {out_key}: a residual of 2 channel planes off the 4-channel path (a planning bug)")
    if "VEC4" in defs:
        sizes["RH"] = CO // 4 // rp
    bias = p.constant_texture(bias, "bias", flat=True)
    inputs = [["X", x_tex], ["Wt", wt], ["Bias", bias]]
    if "VEC4" in defs and not dw and (r_tex is None or r_grid):
        # with or without a residual, one program: HAS_RES says, in a uniform branch (without,
        # R is the input texture, never read; not for depthwise convs, which never have one
        # in these models)
        defs["RES_UNIFORM"] = defs["RESIDUAL"] = 1
        sizes["HAS_RES"] = int(r_tex is not None)
        inputs.append(["R", x_tex if r_tex is None else r_tex])
    elif r_tex is not None:
        defs["RESIDUAL"] = 1
        inputs.append(["R", r_tex])
        if r_grid:
            defs["R_ROWS"] = 1
    if call.alpha is not None:
        defs["ALPHA"] = 1
        inputs.append(["Alpha", p.constant_texture(alpha, "alpha", flat=True)])
    full = p.draw("conv", defs, inputs, sizes, floats=[["PARAM", _f32(call.param)]])
    rects = interior_rects(p, call, out_key, defs)
    if rects is None:
        return full
    inner = p.draw("conv", {**{k: v for k, v in defs.items() if k != "NO_HPAD"}, "NO_PAD": 1}, inputs, sizes,
                   floats=full["floats"])
    inner["rects"], full["rects"] = rects[:1], rects[1:]
    return [inner, full]


def interior_rects(p: GLPlan, call, out_key, defs) -> list | None:
    """[interior, border strips...] in fragments (x, y, w, h) for a padded conv: the interior,
    where no tap reaches the padding, is drawn by the program without bounds selects (they
    cost 20-25 % of a padded conv on SwiftShader: the stem 38.6 -> 31.2 ms, a stride-2
    depthwise 2.6 -> 1.9), the frame around it by the full program, each part a viewport
    (webgl_runtime.js drawOne).  None: no
    split (no padding, a batch, split rows, a stride-2 slide (SLIDE2: its interior program
    would be one more to compile, and the slide already saved the fetches: BlazeFace's stem
    drawn whole 23-25 ms, its interior alone 19, interior and frame without the slide 33-37),
    or a map under engine().webgl_interior_side pixels a side: the frame's strips are draws
    of few fragments, a row of quads on one thread; in MobileNetV2's 56x56 depthwise convs
    they cost more than the selects saved)."""
    g = call.g
    side = engine().webgl_interior_side
    if "VEC4" not in defs or "NO_PAD" in defs or "SEG" in defs or "SLIDE2" in defs or g.N != 1 \
            or g.OH < side or g.OW < side:
        return None
    cout4 = p.dims_of(out_key)[0] // g.OW
    oh_lo, ow_lo = -(-g.PT // g.SH), -(-g.PL // g.SW)
    oh_hi = min(g.OH - 1, (g.H - 1 + g.PT - (g.KH - 1) * g.DH) // g.SH)
    ow_hi = min(g.OW - 1, (g.W - 1 + g.PL - (g.KW - 1) * g.DW) // g.SW)
    y0, y1 = -(-oh_lo // LAYERS), (oh_hi + 1) // LAYERS       # fragment rows whose 4 rows are all inside
    x0, x1 = ow_lo * cout4, (ow_hi + 1) * cout4
    width, height = g.OW * cout4, -(-g.OH // LAYERS)
    if y1 - y0 < 1 or x1 - x0 < 1 or 2 * (y1 - y0) * (x1 - x0) < width * height:
        return None
    frame = [[0, 0, width, y0], [0, y1, width, height - y1], [0, y0, x0, y1 - y0], [x1, y0, width - x1, y1 - y0]]
    return [[x0, y0, x1 - x0, y1 - y0]] + [r for r in frame if r[2] > 0 and r[3] > 0]


def pool_vec4(p: GLPlan, call: Pool, out_key) -> int | None:
    """The input's pixels per grid row where a pool takes window.glsl's 4-channel path (both
    channel counts multiples of 4, the output in image rows, the input in image rows or split
    rows: X_SPLIT, MobileNetV2's global average pool over its 7x7 map, 2.2 ms one element at
    a time), else None.  Also what GLPlan._padded_pools asks before the textures exist."""
    g, co = call.g, p.shape_of(out_key)[-1]
    pr = (p.pixel_rows(call.x.key) if call.x.kind == "t" else None) or g.W
    x_dims = p.dims_of(call.x.key) if call.x.kind == "t" else p.dims[p.tex_of(call.x)]
    xp = p.planes_of(call.x)
    ok = g.C % 4 == 0 and co % 4 == 0 and pixel_grid(p.dims_of(out_key), g.OW, g.N, g.OH, g.OW, co) \
        and pixel_grid(x_dims, pr, g.N, g.H, g.W, g.C // xp)
    return pr if ok else None


def draw_pool(p: GLPlan, call: Pool, out_key) -> dict:
    """Pooling: window.glsl.  `out_key` may be a channel-padded copy of the pool's output
    (GLPlan._padded_pools): CO4 texels a pixel, zeros past the pool's C / 4."""
    g = call.g
    co = p.shape_of(out_key)[-1]
    sizes = dict(N=g.N, H=g.H, W=g.W, C=g.C, OH=g.OH, OW=g.OW, KH=g.KH, KW=g.KW, SH=g.SH, SW=g.SW, PT=g.PT, PL=g.PL)
    defs = dict(AVG=int(call.kind == "Avg"))
    pr = pool_vec4(p, call, out_key)
    xp = p.planes_of(call.x)
    if xp > 1 and pr is None:
        raise BackendError(f"webgl: {out_key}: a pool input of 2 channel planes off the 4-channel path (a planning bug)")
    if pr is not None:
        defs["VEC4"] = 1
        sizes["CO4"] = co // 4
        sizes["XH"] = g.C // 4 // xp
        if pr != g.W:
            defs["X_SPLIT"] = 1
            sizes["X_PR"] = pr
    elif co != g.C:
        raise BackendError(f"webgl: a channel-padded pool output without the 4-channel path ({out_key})")
    return p.draw("window", defs, [["X", p.tex_of(call.x)]], sizes)


def _elementwise(p: GLPlan, defs, inputs, shape, xs, ys, param, out_key) -> dict:
    ints = [["SHAPE", list(map(int, shape))], ["XS", list(map(int, xs))], ["YS", list(map(int, ys))],
            ["SIZE", [p.size(out_key)]]]
    return p.draw("elementwise", defs, inputs, ints=ints, floats=[["PARAM", _f32(param)]])


def draw_binary(p: GLPlan, call: Binary, out_key) -> dict:
    if call.x.offset or call.y.offset:
        raise BackendError("offset operands are not expected in binary ops")
    defs = {"BINARY": 1, "OPERATION": BINARY_GLSL[call.kind], "ACTIVATION": ACT_GLSL[call.act]}
    return _elementwise(p, defs, [["X", p.tex_of(call.x)], ["Y", p.tex_of(call.y)]], call.shape, call.xs, call.ys,
                        call.param, out_key)


def draw_unary(p: GLPlan, call: Unary, out_key) -> dict:
    if call.kind in ACT_GLSL:
        defs = {"OPERATION": "x", "ACTIVATION": ACT_GLSL[call.kind]}
    else:
        defs = {"OPERATION": UNARY_GLSL[call.kind], "ACTIVATION": ACT_GLSL[None]}
    return _elementwise(p, defs, [["X", p.tex_of(call.x)]], [1, 1, 1, 1, 1, call.n], [0, 0, 0, 0, 0, 1], [0] * 6,
                        call.param, out_key)


def draw_copy(p: GLPlan, call: Copy, out_key) -> dict:
    shape, ss, ds = list(map(int, call.shape)), list(map(int, call.ss)), list(map(int, call.ds))
    n_out, n_piece = p.size(out_key), int(np.prod(shape))
    whole = call.dst.offset == 0 and n_piece == n_out and ds == _contig6(shape)
    if not whole:
        # the shader finds a piece's coordinates by dividing by DS outermost first: order the
        # axes by destination stride (a DepthToSpace writes its W axis inside its block-row axis)
        order = sorted(range(len(shape)), key=lambda d: -ds[d] if shape[d] > 1 else 1)
        shape, ss, ds = [shape[d] for d in order], [ss[d] for d in order], [ds[d] for d in order]
    ints = [["SHAPE", shape], ["SS", ss], ["OFFSET", [call.src.offset]], ["SIZE", [n_piece]]]
    inputs = [["X", p.tex_of(call.src)]]
    defs = {}
    if not whole:                      # a piece of the output: the rest comes from its current texture
        defs["BASE"] = 1
        base_tex = p.current.get(p.base(out_key))
        if base_tex is None:           # nothing written yet: start from zeros
            base_tex = p.zeros_texture(n_out)
        inputs.append(["B", base_tex])
        ints += [["DS", ds], ["DOFFSET", [call.dst.offset]], ["OUT_SIZE", [n_out]]]
    return p.draw("copy", defs, inputs, ints=ints)


def draw_fill(p: GLPlan, call: Fill, out_key) -> dict:
    value = _f32(call.value) if call.dtype == "float32" else float(int(call.value))
    return p.draw("reduce", {"FILL": 1}, [], {"SIZE": p.size(out_key)}, floats=[["VALUE", value]])


def draw_cast(p: GLPlan, call: Cast, out_key) -> dict:
    return p.draw("reduce", {"CAST": CAST_TO[call.dst]}, [["X", p.tex_of(call.x)]], {"SIZE": p.size(out_key)})


def draw_resize(p: GLPlan, call: Resize, out_key) -> dict:
    H, W, OH, OW, align = call.H, call.W, call.OH, call.OW, call.align_corners
    sy = (H - 1) / (OH - 1) if align and OH > 1 else H / OH
    sx = (W - 1) / (OW - 1) if align and OW > 1 else W / OW
    sizes = dict(N=call.N, H=H, W=W, C=call.C, OH=OH, OW=OW)
    defs = dict(NEAREST=int(call.nearest), ALIGN=int(align), HALF=int(call.half_pixel_centers))
    return p.draw("resize", defs, [["X", p.tex_of(call.x)]], sizes, floats=[["SCALE_Y", sy], ["SCALE_X", sx]])


def draw_reduce(p: GLPlan, call: Reduce, out_key) -> dict:
    return p.draw("reduce", {"KIND": REDUCE_KIND[call.kind]}, [["X", p.tex_of(call.x)]],
                  {"RN": call.n, "INNER": call.inner, "SIZE": p.size(out_key)})


def draw_softmax(p: GLPlan, call: Softmax, out_key) -> dict:
    return p.draw("reduce", {"SOFTMAX": 1}, [["X", p.tex_of(call.x)]], {"COLS": call.cols, "SIZE": p.size(out_key)})


DRAWS = {Conv: draw_conv, DepthwiseConv: draw_conv, Pool: draw_pool, Binary: draw_binary, Unary: draw_unary,
         Copy: draw_copy, Fill: draw_fill, Cast: draw_cast, Resize: draw_resize, Reduce: draw_reduce,
         Softmax: draw_softmax}


def supports(call) -> bool:
    """float32 textures: every call type with a draw, except on int8 tensors."""
    if type(call) not in DRAWS or call.int8:
        return False
    return not (isinstance(call, DepthwiseConv) and call.g.KH * call.g.KW > MAX_DEPTHWISE_TAPS)


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
    def supports(call) -> bool:
        """A typed kernel call (lower/calls.py) this backend draws: float32 textures only,
        so int8 calls run on numpy inside the plan."""
        return supports(call)

    def __init__(self):
        self._rt = native.start(self.name)            # BackendError with the reason if it cannot start
        self._textures: dict[bytes, list] = {}      # digest -> [texture id, plans using it, GL generation]

    def acquire_texture(self, data: np.ndarray, dims, generation: int, flat: bool = False,
                        pending: list | None = None) -> tuple[bytes, int]:
        """The shared texture of `data`, created and uploaded once; with `pending`, a new
        texture's upload is appended there (tid, data) for the caller to do later (GLPlan:
        after its programs started compiling)."""
        digest = hashlib.blake2b(memoryview(data).cast("B"), digest_size=20)
        digest.update(repr((dims, flat)).encode())
        key = digest.digest()
        entry = self._textures.get(key)
        if entry is None or entry[2] != generation:      # none yet, or lost with its context
            rt = self.runtime()
            tid = int(rt.createTexture(*dims, flat))
            if pending is not None:
                pending.append((tid, data))
            else:
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
