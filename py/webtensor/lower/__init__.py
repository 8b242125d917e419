"""The lowering: a Plan -> a list of fused kernel calls with packed weights, and the
arena that holds every activation, planned from tensor lifetimes.

Pure Python; imports no backend.  Every native backend compiles the same `Lowered`
(backends/wasm.py writes the calls as program words into wasm memory; backends/webgl.py
translates them into draws).  Today a call is still written in the wasm ABI's words
(`OPCODES`, argument order of kernels_wasm/common.h) with weights packed for the wasm
GEMM: issue 12 replaces that with typed calls each backend encodes at its own edge.
Fusion rules live here (bias / BatchNorm / per-channel affine / residual / activation
epilogues, zero-pad folding), as does `plan_arena`.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..graph.plan import Plan, Step
from ..ops.array import pad_widths, strided_index
from ..ops.nn import conv_geometry
from ..ops.spec import norm_axis

# --- the contract with kernels_wasm/common.h (tests/test_wasm_contract.py checks it)
OPCODES = {"OP_CONV": 1, "OP_DWCONV": 2, "OP_POOL": 3, "OP_BINARY": 4, "OP_UNARY": 5, "OP_COPY": 6,
           "OP_FILL": 7, "OP_RESIZE": 8, "OP_REDUCE": 9, "OP_SOFTMAX": 10, "OP_CAST": 11,
           "OP_QCONV": 12, "OP_QDWCONV": 13, "OP_QUANTIZE": 14, "OP_DEQUANTIZE": 15, "OP_QMAXPOOL": 16,
           "OP_COPY8": 17}
ACTIVATIONS = {"Relu": 1, "Relu6": 2, "Sigmoid": 3, "Tanh": 4, "Elu": 5, "LeakyRelu": 6, "Prelu": 7, "Selu": 8}
BINARY = {"Add": 0, "AddV2": 0, "BiasAdd": 0, "Sub": 1, "Mul": 2, "RealDiv": 3, "Div": 3, "Maximum": 4,
          "Minimum": 5, "SquaredDifference": 6, "Prelu": 7, "FloorDiv": 8, "FloorMod": 9}
UNARY = {**{k: v for k, v in ACTIVATIONS.items() if k != "Prelu"},
         "Exp": 20, "Sqrt": 21, "Rsqrt": 22, "Reciprocal": 23, "Inv": 23, "Neg": 24, "Abs": 25, "Square": 26,
         "Floor": 27, "Ceil": 28, "Round": 30, "Sign": 31}
VIEW_OPS = {"Reshape", "Squeeze", "ExpandDims", "Identity", "StopGradient", "Snapshot"}
MAX_RANK = 6
F32, I32, BOOL, I8 = np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_), np.dtype(np.int8)
CAST_KINDS = {(I32, F32): 0, (BOOL, F32): 0, (F32, I32): 1, (F32, BOOL): 2, (I32, BOOL): 3}   # (src, dst) -> OP_CAST kind
QSCRATCH, QMR = 16384, 4          # kernels_wasm/quant.c: gathered-row scratch bytes per tile, rows per tile


class Fallback(Exception):
    """This op (with these shapes/dtypes/constness) has no wasm kernel: run it on numpy."""


def f32_bits(v: float) -> int:
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


def contiguous_strides(shape) -> list[int]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return strides[::-1]


def view_geometry(shape, index) -> tuple[int, tuple, list[int]]:
    """(element offset, shape, element strides) of `base[index]` for a contiguous base."""
    base = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape=tuple(shape),
                                           strides=tuple(4 * s for s in contiguous_strides(shape)))
    v = base[index] if not callable(index) else index(base)
    offset = (v.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // 4
    return offset, v.shape, [s // 4 for s in v.strides]


def coalesce(shape, *stride_sets) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours that are contiguous in every stride set,
    so kernels see the longest possible inner runs.  Pads to MAX_RANK."""
    dims = [(d, [s[i] for s in stride_sets]) for i, d in enumerate(shape) if d != 1]
    merged: list[tuple[int, list[int]]] = []
    for d, ss in dims:
        if merged:
            pd, pss = merged[-1]
            if all(ps == s * d for ps, s in zip(pss, ss)):
                merged[-1] = (pd * d, ss)
                continue
        merged.append((d, ss))
    if len(merged) > MAX_RANK:
        raise Fallback(f"rank {len(merged)} after merging axes exceeds {MAX_RANK}")
    merged = [(1, [0] * len(stride_sets))] * (MAX_RANK - len(merged)) + merged
    return [d for d, _ in merged], [[ss[k] for _, ss in merged] for k in range(len(stride_sets))]


def broadcast_strides(in_shape, out_shape) -> list[int]:
    contig = contiguous_strides(in_shape)
    strides = [0] * len(out_shape)
    for k, d in enumerate(in_shape):
        od = len(out_shape) - len(in_shape) + k
        strides[od] = 0 if (d == 1 and out_shape[od] != 1) else contig[k]
    return strides


@dataclass(frozen=True)
class Ref:
    """A symbolic address, resolved after memory planning: a tensor (by key), a weight
    (by index) or the shared zero row, plus a byte offset."""
    kind: str
    key: object
    extra: int = 0


@dataclass
class Item:
    """One unit of the lowered plan: a wasm kernel call or a numpy fallback step."""
    words: list | None              # [opcode, nwords, args...] with Refs, for wasm
    step: Step | None               # for numpy fallbacks
    reads: list[str]
    writes: list[str]
    label: str


@dataclass
class Lowered:
    items: list[Item]
    weights: list[np.ndarray]
    aliases: dict[str, str]             # view tensor -> base tensor (same bytes)
    fused: dict[str, str] = field(default_factory=dict)   # fused node -> node it joined
    fallbacks: list[str] = field(default_factory=list)
    zero_floats: int = 4
    conv_flops: int = 0                 # multiply-adds x2 in conv/GEMM/depthwise kernels


class Lowering:
    """Plan -> Lowered: op-by-op lowering with peephole fusion."""

    def __init__(self, plan: Plan, optimize: bool = True, int8: bool = True):
        self.plan = plan
        self.optimize = optimize          # False: no fusion or folding (for optimize-report)
        self.int8 = int8                  # False: int8 tensors and ops go to numpy (WebGL has no int8 kernels)
        self.specs = plan.specs
        self.weights: list[np.ndarray] = []
        self._weight_ids: dict[int, int] = {}
        self.aliases: dict[str, str] = {}
        self.items: list[Item] = []
        self.fused: dict[str, str] = {}
        self.fallbacks: list[str] = []
        self.zero_floats = 4
        self.conv_flops = 0
        self.producer = {}
        for i, s in enumerate(plan.steps):
            for k in s.outputs:
                self.producer[k] = i
        self.uses: dict[str, list[int]] = {}
        for i, s in enumerate(plan.steps):
            for k in s.inputs:
                self.uses.setdefault(k, []).append(i)
        self.outputs = set(plan.output_keys)
        self.skip: set[int] = set()
        self.folded_pads: dict[str, tuple[str, int, int]] = {}   # padded tensor -> (source, pad top, pad left)

    # -- helpers -------------------------------------------------------------------
    def const(self, key) -> np.ndarray | None:
        return self.plan.constants.get(key)

    def shape(self, key) -> tuple[int, ...]:
        return tuple(self.specs[key].shape)

    def dtype(self, key) -> np.dtype:
        return np.dtype(self.specs[key].dtype)

    def weight(self, array: np.ndarray) -> Ref:
        arr = np.ascontiguousarray(array)
        if arr.dtype == BOOL:
            arr = arr.astype(np.int32)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float32, copy=False)
        elif arr.dtype.kind in "iu" and arr.dtype != I8:
            arr = arr.astype(np.int32, copy=False)
        idx = self._weight_ids.get(id(array))
        if idx is None:
            idx = len(self.weights)
            self.weights.append(arr)
            self._weight_ids[id(array)] = idx
        return Ref("w", idx)

    def ref(self, key, extra_elems: int = 0, esize: int = 4) -> Ref:
        """Address of a tensor's data: uploaded once if it is a constant."""
        c = self.const(key)
        if c is not None:
            r = self.weight(c)
            return Ref("w", r.key, extra_elems * esize)
        return Ref("t", key, extra_elems * esize)

    def require_f32(self, *keys):
        for k in keys:
            if self.dtype(k) != F32:
                raise Fallback(f"{k} is {self.dtype(k).name}, the kernel is float32-only")

    def single_consumer(self, key, after: int):
        """The step that alone consumes `key` (and `key` is no model output), or None."""
        users = self.uses.get(key, [])
        if key in self.outputs or len(users) != 1 or users[0] <= after:
            return None
        return users[0]

    def emit(self, opcode: str, args: list, reads: list[str], writes: list[str], label: str):
        words = [OPCODES[opcode], len(args) + 2, *args]
        self.items.append(Item(words, None, [k for k in reads if self.const(k) is None], writes, label))

    # -- driver --------------------------------------------------------------------
    def run(self) -> Lowered:
        for i, step in enumerate(self.plan.steps):
            if i in self.skip:
                continue
            op = step.node.op
            try:
                if not self.int8 and any(self.dtype(k) == I8 for k in list(step.inputs) + list(step.outputs)):
                    raise Fallback("int8 tensors have no kernels on this backend")
                start = len(self.items)
                if op in VIEW_OPS:
                    self.view(step)
                elif op in LOWERINGS:
                    LOWERINGS[op](self, i, step)
                else:
                    raise Fallback(f"no wasm kernel for {op}")
                # an empty output no kernel writes (a zero-size slice or split) still needs a
                # slot: an empty fill claims it
                written = {k for it in self.items[start:] for k in it.writes} | set(self.aliases)
                for k in step.outputs:
                    if k not in written and int(np.prod(self.shape(k), dtype=np.int64)) == 0:
                        self.emit("OP_FILL", [Ref("t", k), 0, 0], [], [k], f"empty:{step.node.name}")
            except Fallback:
                dtypes = ",".join(sorted({self.dtype(k).name for k in step.outputs}))
                self.fallbacks.append(f"{op} ({step.node.name}) -> {dtypes}")
                self.items.append(Item(None, step, [k for k in step.inputs if self.const(k) is None],
                                       list(step.outputs), f"numpy:{op}"))
        return Lowered(self.items, self.weights, self.aliases, self.fused, self.fallbacks, self.zero_floats,
                       self.conv_flops)

    def view(self, step: Step):
        lower_view(self, step.inputs[0], step.outputs[0])

    # -- fusion --------------------------------------------------------------------
    def fuse_epilogue(self, i: int, out: str, act: int, allow_residual: bool, channels: int | None = None):
        """Follow `out` through consumers that can join the producing kernel: per-channel
        Mul/Add/Sub/BiasAdd by constants (an affine a*y + b folded into weights and bias,
        while nothing else has joined), a residual Add, then an activation.
        Returns (out, scale a or None, shift b or None, residual, act, param)."""
        scale, shift, residual, param = None, None, None, 0.0
        if not self.optimize:
            return out, scale, shift, residual, act, param
        while True:
            j = self.single_consumer(out, i)
            if j is None:
                break
            nxt = self.plan.steps[j]
            op = nxt.node.op
            other = [k for k in nxt.inputs if k != out]
            c = self.const(other[0]) if len(other) == 1 else None
            per_channel = (c is not None and channels is not None and c.dtype == F32 and
                           (c.size == 1 or (c.size == channels and c.shape[-1] == channels)))
            affine_ok = act == 0 and residual is None and per_channel
            if affine_ok and (op == "BiasAdd" and nxt.inputs[0] == out or op in ("Add", "AddV2")):
                shift = (shift if shift is not None else 0) + np.broadcast_to(c.reshape(-1), (channels,))
            elif affine_ok and op == "Sub" and nxt.inputs[0] == out:
                shift = (shift if shift is not None else 0) - np.broadcast_to(c.reshape(-1), (channels,))
            elif affine_ok and op == "Mul":
                m = np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float32)
                scale = m if scale is None else scale * m
                shift = None if shift is None else shift * m
            elif (act == 0 and allow_residual and residual is None and op in ("Add", "AddV2") and len(other) == 1
                  and self.shape(other[0]) == self.shape(out) and self.dtype(other[0]) == F32
                  and self.const(other[0]) is None and self.producer.get(other[0], -1) < i):
                residual = other[0]
            elif act == 0 and op in ACTIVATIONS and op != "Prelu" and nxt.inputs == [out]:
                act = ACTIVATIONS[op]
                param = float(nxt.node.attrs.get("alpha", 0.2)) if op == "LeakyRelu" else 0.0
            else:
                break
            self.skip.add(j)
            self.fused[nxt.node.name] = self.plan.steps[i].node.name
            out = nxt.outputs[0]
        return out, scale, shift, residual, act, param


# ----------------------------------------------------------------------------- lowerings
def lower_view(low: Lowering, src: str, out: str):
    """`out` is `src`'s bytes under another shape: no kernel, an alias."""
    if low.const(src) is not None:
        raise Fallback("view of a constant")
    low.aliases[out] = low.aliases.get(src, src)

def _fused_epilogue_args(low: Lowering, step: Step, channels: int):
    """bias, act, param, alpha and a weight scale from the node's own fused_ops."""
    attrs = step.node.attrs
    extra = list(step.inputs[2:])
    bias = np.zeros(channels, np.float32)
    scale = None
    act, param, alpha = 0, 0.0, None
    for f in attrs.get("fused_ops") or []:
        if f == "BiasAdd":
            b = low.const(extra.pop(0))
            if b is None:
                raise Fallback("runtime bias")
            bias = bias + b
        elif f == "FusedBatchNorm":
            s, o, m, v = (low.const(extra.pop(0)) for _ in range(4))
            if any(t is None for t in (s, o, m, v)):
                raise Fallback("runtime batch-norm parameters")
            scale = s / np.sqrt(v + np.float32(attrs.get("epsilon", 1e-3)))
            bias = (bias - m) * scale + o
        elif f == "Prelu":
            a = low.const(extra.pop(0))
            if a is None or a.size not in (1, channels) or (a.size == channels and a.shape[-1] != channels):
                raise Fallback("PReLU alpha is not per-channel")
            act, alpha = ACTIVATIONS["Prelu"], np.broadcast_to(a.reshape(-1), (channels,)).astype(np.float32)
        elif f in ACTIVATIONS:
            act = ACTIVATIONS[f]
            param = float(attrs.get("leakyrelu_alpha", 0.2)) if f == "LeakyRelu" else 0.0
        else:
            raise Fallback(f"fused op {f}")
    return bias.astype(np.float32), scale, act, param, alpha


def _pad_to(v: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.float32)
    out[:v.size] = v
    return out


def lower_conv(low: Lowering, i: int, step: Step):
    op = step.node.op
    x, wkey = step.inputs[:2]
    w = low.const(wkey)
    if w is None:
        raise Fallback("runtime filter")
    low.require_f32(x)
    attrs = step.node.attrs
    matmul = op in ("MatMul", "_FusedMatMul")
    if matmul:
        if attrs.get("transpose_a"):
            raise Fallback("transpose_a")
        w = w.T if attrs.get("transpose_b") else w
    n_, h, wd, c, w4, oh, ow, strides, dil, pads = _gemm_geometry(low, x, w, attrs, matmul)
    if not matmul:
        x, h, wd, pads = _unfold_pad(low, x, h, wd, pads)
    kh, kw, _, co = w4.shape
    bias, scale, act, param, alpha = _fused_epilogue_args(low, step, co)
    if scale is not None:
        w4 = w4 * scale
    out, a, b, residual, act, fparam = low.fuse_epilogue(i, step.outputs[0], act, allow_residual=True, channels=co)
    param = param or fparam
    if a is not None:
        w4, bias = w4 * a, bias * a
    if b is not None:
        bias = bias + b
    co8 = -(-co // 8)
    packed = np.zeros((kh, kw, c, co8 * 8), np.float32)
    packed[..., :co] = w4
    packed = np.ascontiguousarray(packed.reshape(kh, kw, c, co8, 8).transpose(3, 0, 1, 2, 4))
    low.zero_floats = max(low.zero_floats, kw * c)
    low.conv_flops += 2 * n_ * oh * ow * co * kh * kw * c
    args = [low.ref(x), low.weight(packed), low.weight(_pad_to(bias, co8 * 8)), Ref("t", out),
            Ref("t", residual) if residual else 0, low.weight(_pad_to(alpha, co8 * 8)) if alpha is not None else 0,
            Ref("z", 0), n_, h, wd, c, oh, ow, co, kh, kw, strides[0], strides[1], dil[0], dil[1],
            pads[0][0], pads[1][0], act, f32_bits(param)]
    low.emit("OP_CONV", args, [x] + ([residual] if residual else []), [out], f"conv:{step.node.name}")


def _gemm_geometry(low: Lowering, x: str, w: np.ndarray, attrs: dict, matmul: bool):
    """A conv or a MatMul as the conv kernels see it: (N, H, W, C, filter [KH,KW,C,CO], OH, OW,
    strides, dilations, pads).  A MatMul [M,K] x [K,N] is a 1x1 conv over M pixels."""
    if matmul:
        m, k = low.shape(x)
        return 1, m, 1, k, w.reshape(1, 1, *w.shape), m, 1, (1, 1), (1, 1), ((0, 0), (0, 0))
    n_, h, wd, c = low.shape(x)
    (oh, ow), strides, dil, pads = conv_geometry((n_, h, wd, c), w.shape[0], w.shape[1], attrs)
    return n_, h, wd, c, w, oh, ow, strides, dil, pads


def _unfold_pad(low: Lowering, x: str, h: int, wd: int, pads):
    """If x is a zero Pad folded into this conv: read its source, with the pad added to
    the conv's padding (output size unchanged: it was computed on the padded shape)."""
    if x not in low.folded_pads:
        return x, h, wd, pads
    src, top, left = low.folded_pads[x]
    _, h0, w0, _ = low.shape(src)
    (pt, pb), (pl, pr) = pads
    return src, h0, w0, ((pt + top, pb), (pl + left, pr))


def lower_dwconv(low: Lowering, i: int, step: Step):
    x, wkey = step.inputs[:2]
    w = low.const(wkey)
    if w is None:
        raise Fallback("runtime filter")
    low.require_f32(x)
    n_, h, wd, c = low.shape(x)
    kh, kw, _, mult = w.shape
    if kh * kw > 64:
        raise Fallback("depthwise filter larger than 64 taps")
    (oh, ow), strides, dil, pads = conv_geometry((n_, h, wd, c), kh, kw, step.node.attrs)
    x, h, wd, pads = _unfold_pad(low, x, h, wd, pads)
    bias, scale, act, param, alpha = _fused_epilogue_args(low, step, c * mult)
    if scale is not None:
        w = w * scale.reshape(c, mult)
    out, a, b, residual, act, fparam = low.fuse_epilogue(i, step.outputs[0], act, allow_residual=True,
                                                         channels=c * mult)
    param = param or fparam
    if a is not None:
        w, bias = w * a.reshape(c, mult), bias * a
    if b is not None:
        bias = bias + b
    low.zero_floats = max(low.zero_floats, c)
    low.conv_flops += 2 * n_ * oh * ow * c * mult * kh * kw
    args = [low.ref(x), low.weight(np.ascontiguousarray(w, np.float32)), low.weight(bias), Ref("t", out),
            Ref("t", residual) if residual else 0, low.weight(alpha) if alpha is not None else 0, Ref("z", 0),
            n_, h, wd, c, oh, ow, kh, kw, strides[0], strides[1], dil[0], dil[1], pads[0][0], pads[1][0],
            act, f32_bits(param), mult]
    low.emit("OP_DWCONV", args, [x] + ([residual] if residual else []), [out], f"dwconv:{step.node.name}")


def lower_pool(low: Lowering, i: int, step: Step):
    x = step.inputs[0]
    attrs = step.node.attrs
    n_, h, wd, c = low.shape(x)
    k = attrs.get("ksize")
    (oh, ow), strides, dil, pads = conv_geometry((n_, h, wd, c), k[1], k[2], attrs)
    if low.dtype(x) == I8 and step.node.op == "MaxPool":
        args = [low.ref(x), Ref("t", step.outputs[0]), n_, h, wd, c, oh, ow, k[1], k[2], strides[0], strides[1],
                pads[0][0], pads[1][0]]
        low.emit("OP_QMAXPOOL", args, [x], list(step.outputs), f"qmaxpool:{step.node.name}")
        return
    low.require_f32(x)
    args = [low.ref(x), Ref("t", step.outputs[0]), n_, h, wd, c, oh, ow, k[1], k[2], strides[0], strides[1],
            pads[0][0], pads[1][0], 0 if step.node.op == "MaxPool" else 1]
    low.emit("OP_POOL", args, [x], list(step.outputs), f"pool:{step.node.name}")


def lower_binary(low: Lowering, i: int, step: Step):
    a, b = step.inputs[:2]
    low.require_f32(a, b)
    out = step.outputs[0]
    oshape = low.shape(out)
    shape, (sa, sb) = coalesce(oshape, broadcast_strides(low.shape(a), oshape), broadcast_strides(low.shape(b), oshape))
    out, _, _, _, act, param = low.fuse_epilogue(i, out, 0, allow_residual=False)
    args = [low.ref(a), low.ref(b), Ref("t", out), BINARY[step.node.op], act, f32_bits(param), *shape, *sa, *sb]
    low.emit("OP_BINARY", args, [a, b], [out], f"binary:{step.node.name}")


def lower_add_n(low: Lowering, i: int, step: Step):
    """AddN as a chain of binary adds into the output (same shape: element-wise in place is safe)."""
    ins, out = step.inputs, step.outputs[0]
    low.require_f32(*ins)
    if any(low.shape(k) != low.shape(out) for k in ins):
        raise Fallback("AddN with broadcasting")
    if len(ins) == 1:                        # AddN of one tensor is that tensor
        return lower_view(low, ins[0], out)
    n = int(np.prod(low.shape(out), dtype=np.int64))
    shape, (sa, sb) = coalesce((n,), [1], [1])
    prev = ins[0]
    for k in ins[1:]:
        args = [low.ref(prev), low.ref(k), Ref("t", out), BINARY["Add"], 0, 0, *shape, *sa, *sb]
        low.emit("OP_BINARY", args, [prev, k], [out], f"addn:{step.node.name}")
        prev = out


def lower_unary(low: Lowering, i: int, step: Step):
    x = step.inputs[0]
    low.require_f32(x)
    op = step.node.op
    param = float(step.node.attrs.get("alpha", 0.2)) if op == "LeakyRelu" else 0.0
    n = int(np.prod(low.shape(x), dtype=np.int64))
    args = [low.ref(x), Ref("t", step.outputs[0]), n, UNARY[op], f32_bits(param)]
    low.emit("OP_UNARY", args, [x], list(step.outputs), f"unary:{step.node.name}")


def _elem_size_ok(low: Lowering, *keys):
    for k in keys:
        if low.dtype(k) not in (F32, I32, BOOL, I8):
            raise Fallback(f"{k} is {low.dtype(k).name}")


def emit_copy(low: Lowering, src: str, src_geom, dst: str, dst_geom, label: str, reads=None):
    (so, shape, ss), (do, _, ds) = src_geom, dst_geom
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return
    esize = 1 if low.dtype(dst) == I8 else 4
    cshape, (css, cds) = coalesce(shape, ss, ds)
    args = [low.ref(src, so, esize), Ref("t", dst, do * esize), *cshape, *css, *cds]
    low.emit("OP_COPY8" if esize == 1 else "OP_COPY", args, reads or [src], [dst], label)


def contiguous_geom(shape):
    return 0, tuple(shape), contiguous_strides(shape)


def lower_transpose(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    perm = [norm_axis(int(p), len(low.shape(x))) for p in np.asarray(low.const(step.inputs[1])).reshape(-1)]
    emit_copy(low, x, view_geometry(low.shape(x), lambda b: b.transpose(perm)), out,
              contiguous_geom(low.shape(out)), f"transpose:{step.node.name}")


def lower_slice(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    vals = [low.const(k) for k in step.inputs[1:]]
    if any(v is None for v in vals):
        raise Fallback("runtime slice bounds")
    ints = [[int(t) for t in np.asarray(v).reshape(-1)] for v in vals]
    shape = low.shape(x)
    if step.node.op == "Slice":
        begin, size = ints
        index = tuple(slice(b, shape[d] if s == -1 else b + s) for d, (b, s) in enumerate(zip(begin, size)))
    else:
        index = strided_index(len(shape), *ints, step.node.attrs)
    geom = view_geometry(shape, index)
    if tuple(geom[1]) != low.shape(out):
        raise Fallback("slice geometry mismatch")
    emit_copy(low, x, geom, out, contiguous_geom(low.shape(out)), f"slice:{step.node.name}")


def lower_concat(low: Lowering, i: int, step: Step):
    op = step.node.op
    values = step.inputs[:-1] if op == "ConcatV2" else step.inputs[1:]
    axis_key = step.inputs[-1] if op == "ConcatV2" else step.inputs[0]
    out = step.outputs[0]
    oshape = low.shape(out)
    _elem_size_ok(low, out)
    ax = norm_axis(int(np.asarray(low.const(axis_key)).reshape(-1)[0]), len(oshape))
    pos = 0
    for v in values:
        size = low.shape(v)[ax]
        dst = view_geometry(oshape, (slice(None),) * ax + (slice(pos, pos + size),))
        emit_copy(low, v, contiguous_geom(low.shape(v)), out, dst, f"concat:{step.node.name}")
        pos += size


def lower_pack(low: Lowering, i: int, step: Step):
    out = step.outputs[0]
    oshape = low.shape(out)
    _elem_size_ok(low, out)
    ax = norm_axis(step.node.attrs.get("axis", 0), len(oshape))
    for j, v in enumerate(step.inputs):
        emit_copy(low, v, contiguous_geom(low.shape(v)), out, view_geometry(oshape, (slice(None),) * ax + (j,)),
                  f"pack:{step.node.name}")


def lower_unpack_split(low: Lowering, i: int, step: Step):
    op = step.node.op
    if op == "Unpack":
        x = step.inputs[0]
        ax = norm_axis(step.node.attrs.get("axis", 0), len(low.shape(x)))
        indices = [(slice(None),) * ax + (j,) for j in range(len(step.outputs))]
    else:
        x, axis_key = (step.inputs[1], step.inputs[0]) if op == "Split" else (step.inputs[0], step.inputs[2])
        ax = norm_axis(int(np.asarray(low.const(axis_key)).reshape(-1)[0]), len(low.shape(x)))
        sizes = [low.shape(o)[ax] for o in step.outputs]
        starts = np.cumsum([0] + sizes[:-1])
        indices = [(slice(None),) * ax + (slice(int(s), int(s) + n),) for s, n in zip(starts, sizes)]
    _elem_size_ok(low, x)
    for out, index in zip(step.outputs, indices):
        emit_copy(low, x, view_geometry(low.shape(x), index), out, contiguous_geom(low.shape(out)),
                  f"{op.lower()}:{step.node.name}")


CONV_OPS = ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")


def lower_pad(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    widths = pad_widths(low.shape(x), low.const(step.inputs[1]))
    value = low.const(step.inputs[2]) if len(step.inputs) > 2 else np.float32(0)
    j = low.single_consumer(out, i)
    # Zero padding of H and W only, read only by a convolution: the conv kernels treat
    # taps outside the input as zeros, so the pad becomes the conv's own padding.
    if (low.optimize and j is not None and low.plan.steps[j].node.op in CONV_OPS and low.plan.steps[j].inputs[0] == out
            and len(widths) == 4 and widths[0] == (0, 0) and widths[3] == (0, 0) and value is not None
            and float(np.asarray(value).reshape(-1)[0]) == 0.0 and low.const(x) is None):
        low.folded_pads[out] = (x, widths[1][0], widths[2][0])
        low.fused[step.node.name] = low.plan.steps[j].node.name
        return
    value = 0
    if len(step.inputs) > 2:
        v = low.const(step.inputs[2])
        if v is None:
            raise Fallback("runtime pad value")
        value = np.asarray(v).reshape(-1)[0]
    bits = f32_bits(value) if low.dtype(x) == F32 else int(value)
    n = int(np.prod(low.shape(out), dtype=np.int64))
    if low.dtype(x) == I8:        # fill whole 32-bit words with the byte (the arena rounds sizes up to 16)
        bits, n = int(np.array([int(value) & 0xFF] * 4, np.uint8).view(np.int32)[0]), -(-n // 4)
    low.emit("OP_FILL", [Ref("t", out), n, bits], [], [out], f"pad-fill:{step.node.name}")
    interior = tuple(slice(a, a + d) for (a, _), d in zip(widths, low.shape(x)))
    emit_copy(low, x, contiguous_geom(low.shape(x)), out, view_geometry(low.shape(out), interior),
              f"pad:{step.node.name}", reads=[x, out])


def lower_resize(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    low.require_f32(x)
    n_, h, wd, c = low.shape(x)
    _, oh, ow, _ = low.shape(out)
    a = step.node.attrs
    args = [low.ref(x), Ref("t", out), n_, h, wd, c, oh, ow, int(step.node.op == "ResizeNearestNeighbor"),
            int(bool(a.get("align_corners"))), int(bool(a.get("half_pixel_centers")))]
    low.emit("OP_RESIZE", args, [x], [out], f"resize:{step.node.name}")


def lower_reduce(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    low.require_f32(x)
    shape = low.shape(x)
    axes = sorted({norm_axis(int(v), len(shape)) for v in np.asarray(low.const(step.inputs[1])).reshape(-1)})
    if not axes:
        raise Fallback("empty reduction")
    lo, hi = axes[0], axes[-1]
    if any(d not in axes and shape[d] != 1 for d in range(lo, hi + 1)):
        raise Fallback("reduced axes are not adjacent")
    outer = int(np.prod(shape[:lo], dtype=np.int64))
    n = int(np.prod(shape[lo:hi + 1], dtype=np.int64))
    inner = int(np.prod(shape[hi + 1:], dtype=np.int64))
    kind = {"Mean": 0, "Sum": 1, "Max": 2, "Min": 3}[step.node.op]
    low.emit("OP_REDUCE", [low.ref(x), Ref("t", out), outer, n, inner, kind], [x], [out], f"reduce:{step.node.name}")


def lower_softmax(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    low.require_f32(x)
    shape = low.shape(x)
    cols = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    low.emit("OP_SOFTMAX", [low.ref(x), Ref("t", out), rows, cols], [x], [out], f"softmax:{step.node.name}")


def lower_cast(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    src, dst = low.dtype(x), low.dtype(out)
    if src == dst or (src == BOOL and dst == I32):
        if low.const(x) is not None:
            raise Fallback("cast of a constant")
        low.aliases[out] = low.aliases.get(x, x)      # same 4-byte representation
        return
    if (src, dst) not in CAST_KINDS:
        raise Fallback(f"cast {src.name} -> {dst.name}")
    n = int(np.prod(low.shape(x), dtype=np.int64))
    low.emit("OP_CAST", [low.ref(x), Ref("t", out), n, CAST_KINDS[(src, dst)]], [x], [out], f"cast:{step.node.name}")


def _q_epilogue_args(low: Lowering, step: Step) -> list[int]:
    """xz oz qmin qmax rz rscale out_float act: the requantisation words of OP_QCONV/OP_QDWCONV."""
    a = step.node.attrs
    out_float = a.get("out_dtype", "int8") == "float32"
    act = ACTIVATIONS.get(a.get("activation", ""), 0)
    return [int(a.get("x_zero_point", 0)), int(a.get("out_zero_point", 0)), int(a.get("qmin", -128)),
            int(a.get("qmax", 127)), int(a.get("residual_zero_point", 0)), f32_bits(a.get("residual_scale", 1.0)),
            int(out_float), act]


def _q_consts(low: Lowering, step: Step):
    vals = [low.const(k) for k in step.inputs[1:4]]
    if any(v is None for v in vals):
        raise Fallback("runtime int8 filter, bias or multiplier")
    if low.dtype(step.inputs[0]) != I8:
        raise Fallback("int8 kernel on a non-int8 input")
    return vals


def lower_qconv(low: Lowering, i: int, step: Step):
    """WtQConv2D / WtQMatMul -> OP_QCONV.  Filter rows (KW*C bytes, zero-padded to KR, a
    multiple of 8) packed per 8 output channels as the dot_i16x8 microkernel reads them."""
    x, out = step.inputs[0], step.outputs[0]
    w, bias, mult = _q_consts(low, step)
    residual = step.inputs[4] if len(step.inputs) > 4 else None
    attrs = step.node.attrs
    n_, h, wd, c, w4, oh, ow, strides, dil, pads = _gemm_geometry(low, x, w, attrs, step.node.op == "WtQMatMul")
    kh, kw, _, co = w4.shape
    kr = -(-kw * c // 8) * 8
    if kh > 16 or kh * QMR * kr > QSCRATCH:
        raise Fallback(f"int8 filter rows of {kh} x {kw * c} bytes exceed the kernel's scratch")
    co8 = -(-co // 8)
    rows = np.zeros((kh, kr, co8 * 8), np.int8)
    rows[:, :kw * c, :co] = w4.reshape(kh, kw * c, co)
    # [kh][kb][pair j][elem e][cb][half][lane] -> [cb][kh][kb][j][half][lane][e]
    packed = np.ascontiguousarray(rows.reshape(kh, kr // 8, 4, 2, co8, 2, 4).transpose(4, 0, 1, 2, 5, 6, 3))
    padrow = np.full(kr + 16, int(attrs.get("x_zero_point", 0)), np.int8)
    low.conv_flops += 2 * n_ * oh * ow * co * kh * kw * c
    args = [low.ref(x), low.weight(packed), low.weight(np.pad(bias.astype(np.int32), (0, co8 * 8 - co))),
            low.weight(_pad_to(mult, co8 * 8)), Ref("t", out), Ref("t", residual) if residual else 0,
            low.weight(padrow), n_, h, wd, c, oh, ow, co, kh, kw, strides[0], strides[1], dil[0], dil[1],
            pads[0][0], pads[1][0], *_q_epilogue_args(low, step), kr]
    low.emit("OP_QCONV", args, [x] + ([residual] if residual else []), [out], f"qconv:{step.node.name}")


def lower_qdwconv(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    w, bias, mult = _q_consts(low, step)
    residual = step.inputs[4] if len(step.inputs) > 4 else None
    n_, h, wd, c = low.shape(x)
    kh, kw = w.shape[:2]
    if kh * kw > 64:
        raise Fallback("depthwise filter larger than 64 taps")
    (oh, ow), strides, dil, pads = conv_geometry((n_, h, wd, c), kh, kw, step.node.attrs)
    cp = -(-c // 8) * 8
    pairs = -(-kh * kw // 2)
    taps = np.zeros((pairs * 2, cp), np.int8)
    taps[:kh * kw, :c] = w.reshape(kh * kw, c)
    # [pair][tap of pair][cb][half][lane] -> [pair][cb][half][lane][tap of pair] (quant.c op_qdwconv)
    wp = np.ascontiguousarray(taps.reshape(pairs, 2, cp // 8, 2, 4).transpose(0, 2, 3, 4, 1))
    padrow = np.full(cp + 16, int(step.node.attrs.get("x_zero_point", 0)), np.int8)
    low.conv_flops += 2 * n_ * oh * ow * c * kh * kw
    args = [low.ref(x), low.weight(wp), low.weight(np.pad(bias.astype(np.int32), (0, cp - c))),
            low.weight(_pad_to(mult, cp)), Ref("t", out), Ref("t", residual) if residual else 0, low.weight(padrow),
            n_, h, wd, c, oh, ow, kh, kw, strides[0], strides[1], dil[0], dil[1], pads[0][0], pads[1][0],
            *_q_epilogue_args(low, step), cp]
    low.emit("OP_QDWCONV", args, [x] + ([residual] if residual else []), [out], f"qdwconv:{step.node.name}")


def lower_quantize(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    a = step.node.attrs
    n = int(np.prod(low.shape(x), dtype=np.int64))
    if step.node.op == "WtQuantize":
        low.require_f32(x)
        args = [low.ref(x), Ref("t", out), n, f32_bits(np.float32(1.0 / a["scale"])), int(a["zero_point"])]
        low.emit("OP_QUANTIZE", args, [x], [out], f"quantize:{step.node.name}")
    else:
        if low.dtype(x) != I8:
            raise Fallback("dequantize of a non-int8 tensor")
        args = [low.ref(x), Ref("t", out), n, f32_bits(a["scale"]), int(a["zero_point"])]
        low.emit("OP_DEQUANTIZE", args, [x], [out], f"dequantize:{step.node.name}")


LOWERINGS = {
    **{op: lower_conv for op in ("Conv2D", "_FusedConv2D", "MatMul", "_FusedMatMul")},
    **{op: lower_dwconv for op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")},
    **{op: lower_pool for op in ("MaxPool", "AvgPool")},
    **{op: lower_binary for op in BINARY},
    **{op: lower_unary for op in UNARY},
    "AddN": lower_add_n,
    "Transpose": lower_transpose, "Slice": lower_slice, "StridedSlice": lower_slice,
    "ConcatV2": lower_concat, "Concat": lower_concat, "Pack": lower_pack,
    "Unpack": lower_unpack_split, "Split": lower_unpack_split, "SplitV": lower_unpack_split,
    "Pad": lower_pad, "PadV2": lower_pad,
    "ResizeBilinear": lower_resize, "ResizeNearestNeighbor": lower_resize,
    **{op: lower_reduce for op in ("Mean", "Sum", "Max", "Min")},
    "Softmax": lower_softmax, "Cast": lower_cast,
    "WtQConv2D": lower_qconv, "WtQMatMul": lower_qconv, "WtQDepthwiseConv2D": lower_qdwconv,
    "WtQuantize": lower_quantize, "WtDequantize": lower_quantize,
}


# ----------------------------------------------------------------------------- memory plan
def slot_bytes(spec) -> int:
    """Bytes planned for a tensor: bool is stored as int32; int8 kernels may read up to 8
    bytes past a tensor's end (16 reserved)."""
    dt = np.dtype(spec.dtype)
    n = int(np.prod(spec.shape, dtype=np.int64))
    return n * 4 if dt == BOOL else n * dt.itemsize + (16 if dt == I8 else 0)


def slot_span(spec) -> int:
    """Bytes a slot occupies in the arena: its planned bytes rounded up to 16 (at least 16)."""
    return max(16, -(-slot_bytes(spec) // 16) * 16)


def plan_arena(lowered: Lowered, specs, input_keys, output_keys, reuse: bool = True,
               guard: int = 0) -> tuple[dict[str, int], int, int]:
    """Offsets for every non-constant tensor from lifetimes over the item sequence
    (greedy by size, first fit in time-overlapping placements).  Returns
    (offset per base tensor, arena bytes, naive bytes).  guard > 0 (debug mode) leaves
    that many bytes after every slot, and before the first, for sentinels."""
    base = lambda k: lowered.aliases.get(k, k)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = len(lowered.items)
    for k in input_keys:
        first[base(k)] = -1
        last[base(k)] = end
    for i, item in enumerate(lowered.items):
        for k in item.writes:
            first.setdefault(base(k), i)
            last[base(k)] = max(last.get(base(k), i), i)
        for k in item.reads:
            last[base(k)] = max(last.get(base(k), i), i)
    for k in output_keys:
        if k in specs and base(k) in first:
            last[base(k)] = end
    sizes = {k: slot_span(specs[k]) + guard for k in first}
    order = sorted(first, key=lambda k: (-sizes[k], first[k]))
    placed: list[tuple[int, int, int, int]] = []   # (offset, size, first, last)
    offsets: dict[str, int] = {}
    for k in order:
        lo, hi = (first[k], last[k]) if reuse else (-1, end)   # without reuse: everything lives throughout
        busy = sorted((o, o + s) for o, s, f, l in placed if not (l < lo or hi < f))
        off = guard
        for a, b in busy:
            if off + sizes[k] <= a:
                break
            off = max(off, b)
        offsets[k] = off
        placed.append((off, sizes[k], lo, hi))
    arena = max((o + s for o, s, _, _ in placed), default=0)
    return offsets, arena, sum(sizes.values())
