"""The lowering: a Plan -> typed kernel calls (lower/calls.py) with logical weights,
fused where a backend kernel can apply an epilogue, plus the arena that holds every
activation (lower/memory.py).

Pure Python; imports no backend.  Each native backend compiles the same `Lowered`
at its own edge: backends/wasm/encode.py encodes each call as argument words with packed
weights, backends/webgl.py maps each call type to a draw.  A backend answers
`supports(call)`; a call it refuses sends its op to numpy between native segments.
Fusion rules live here (bias / BatchNorm / per-channel affine / residual /
activation epilogues, zero-pad folding).
"""
from __future__ import annotations

from typing import Callable

import math

import numpy as np

from .._record import record, field, replace
from ..graph.plan import Plan, Step
from ..ops.array import pad_widths, strided_index
from ..ops.kinds import ACTIVATIONS, BINARY_KINDS, MAX_COMMUTING_ACTIVATIONS, REDUCTIONS, UNARY_KINDS
from ..ops.nn import conv_geometry
from ..ops.spec import norm_axis
from .calls import (Binary, Cast, Conv, ConvPool, Copy, DepthwiseConv, Dequantize, ExpandDepthwise, Fill, Pool, QConv,
                    QDepthwiseConv, Quantize, Reduce, Ref, Requant, Resize, SeparableConv, Softmax, TopK, Unary,
                    Window)
from .memory import contiguous_strides, plan_arena, slot_bytes, slot_span  # noqa: F401  (re-exported)

VIEW_OPS = {"Reshape", "Squeeze", "ExpandDims", "Identity", "StopGradient", "Snapshot"}
# steps that may be lowered ahead of a conv to feed its fused residual (see ready_before)
HOISTABLE = {"Pad", "PadV2", "MaxPool", "AvgPool"}
MAX_RANK = 6                       # strided calls (Binary, Copy) carry 6-d shapes
F32, I32, BOOL, I8 = np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_), np.dtype(np.int8)
CASTS = {(I32, F32), (BOOL, F32), (F32, I32), (F32, BOOL), (I32, BOOL)}   # (src, dst) with a Cast call
MAX_DEPTHWISE_TAPS = 64            # both native depthwise kernels keep one tap row per output pixel


class Fallback(Exception):
    """This op (with these shapes/dtypes/constness) has no kernel call: run it on numpy."""


class Refused(Fallback):
    """The backend's `supports` refused the kernel call this op lowers to."""



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


@record
class Item:
    """One unit of the lowered plan: a kernel call or a numpy fallback step."""
    call: object | None             # a lower/calls.py call, for the native backend
    step: Step | None               # for numpy fallbacks
    reads: list[str]
    writes: list[str]
    label: str


@record
class Lowered:
    items: list[Item]
    aliases: dict[str, str]             # view tensor -> base tensor (same bytes)
    fused: dict[str, str] = field(default_factory=dict)   # fused node -> node it joined
    fallbacks: list[str] = field(default_factory=list)
    conv_flops: int = 0                 # multiply-adds x2 in conv/GEMM/depthwise kernels
    refused: list[str] = field(default_factory=list)     # fallbacks the backend's supports() refused


def _all_calls(call) -> bool:
    return True


class Lowering:
    """Plan -> Lowered: op-by-op lowering with peephole fusion.  `supports(call)` is the
    target backend's: a call it refuses makes its op a numpy step (all accepted when None)."""

    def __init__(self, plan: Plan, optimize: bool = True, supports: Callable[[object], bool] | None = None,
                 hoist: bool = True):
        self.plan = plan
        # may move work between steps: a residual's branch lowered ahead of its conv
        # (ready_before), an activation after a max pool applied before it (fuse_epilogue)
        self.hoist = hoist
        self.optimize = optimize          # False: no fusion or folding (for optimize-report)
        self.supports = supports or _all_calls
        self.specs = plan.specs
        self.aliases: dict[str, str] = {}
        self.items: list[Item] = []
        self.fused: dict[str, str] = {}
        self.fallbacks: list[str] = []
        self.refused: list[str] = []       # the fallbacks whose call the backend refused
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

    def ref(self, key, offset: int = 0) -> Ref:
        """An operand: a constant (uploaded once by the backend) or an activation."""
        return Ref("c" if self.const(key) is not None else "t", key, offset)

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

    def emit(self, call, reads: list[str], writes: list[str], label: str):
        if not self.supports(call):
            raise Refused(f"the backend has no kernel for this {type(call).__name__}")
        self.items.append(Item(call, None, [k for k in reads if self.const(k) is None], writes, label))

    # -- driver --------------------------------------------------------------------
    def run(self) -> Lowered:
        for i, step in enumerate(self.plan.steps):
            if i in self.skip:
                continue
            op = step.node.op
            # a rule may fuse and alias before a later call is refused: undo all of it
            saved = (len(self.items), set(self.skip), dict(self.fused), dict(self.aliases), dict(self.folded_pads),
                     self.conv_flops)
            try:
                start = len(self.items)
                if op in VIEW_OPS:
                    self.view(step)
                elif op in LOWERINGS:
                    LOWERINGS[op](self, i, step)
                else:
                    raise Fallback(f"no kernel call for {op}")
                # an empty output no kernel writes (a zero-size slice or split) still needs a
                # slot: an empty fill claims it
                written = {k for it in self.items[start:] for k in it.writes} | set(self.aliases)
                for k in step.outputs:
                    if k not in written and math.prod(map(int, self.shape(k))) == 0:
                        self.emit(Fill(Ref("t", k), 0, 0, self.dtype(k).name), [], [k], f"empty:{step.node.name}")
            except Fallback as why:
                n, self.skip, self.fused, self.aliases, self.folded_pads, self.conv_flops = saved
                del self.items[n:]
                for k in step.inputs:
                    if k in self.folded_pads:        # its conv runs on numpy: the Pad runs after all
                        self._materialise_pad(k)
                self._numpy(step, isinstance(why, Refused))
        return Lowered(self.items, self.aliases, self.fused, self.fallbacks, self.conv_flops, self.refused)

    def _numpy(self, step: Step, refused: bool = False):
        dtypes = ",".join(sorted({self.dtype(k).name for k in step.outputs}))
        self.fallbacks.append(f"{step.node.op} ({step.node.name}) -> {dtypes}")
        if refused:
            self.refused.append(self.fallbacks[-1])
        self.items.append(Item(None, step, [k for k in step.inputs if self.const(k) is None],
                               list(step.outputs), f"numpy:{step.node.op}"))

    def _materialise_pad(self, key: str):
        del self.folded_pads[key]
        j = self.producer[key]
        pad = self.plan.steps[j]
        self.fused.pop(pad.node.name, None)
        n = len(self.items)
        try:
            lower_pad(self, j, pad, fold=False)
        except Fallback as why:
            del self.items[n:]
            self._numpy(pad, isinstance(why, Refused))

    def view(self, step: Step):
        lower_view(self, step.inputs[0], step.outputs[0])

    # -- fusion --------------------------------------------------------------------
    def ready_before(self, key: str, i: int, until: int) -> bool:
        """Can `key` be read by the kernel of step i?  Yes if produced before i; or if the cheap
        steps producing it (Pad, pooling: MediaPipe's channel-padded skip branches, which
        TFLite orders after the conv) depend only on tensors produced before i: then they
        are lowered now, ahead of the conv, and skipped later (hoisted)."""
        j = self.producer.get(key, -1)
        if j < i:
            return True
        if not self.hoist:
            return False
        chain, stack = [], [j]
        while stack:
            k = stack.pop()
            if k < i or k in chain:
                continue
            step = self.plan.steps[k]
            if k >= until or k in self.skip or step.node.op not in HOISTABLE or len(chain) >= 3:
                return False
            chain.append(k)
            stack.extend(self.producer.get(t, -1) for t in step.inputs if self.const(t) is None)
        n = len(self.items)
        saved = (set(self.skip), dict(self.fused), dict(self.aliases), dict(self.folded_pads))
        try:
            for k in sorted(chain):
                LOWERINGS[self.plan.steps[k].node.op](self, k, self.plan.steps[k])
                self.skip.add(k)
        except Fallback:                 # the branch stays where it was; the Add is not fused
            del self.items[n:]
            self.skip, self.fused, self.aliases, self.folded_pads = saved
            return False
        return True

    def fuse_epilogue(self, i: int, out: str, act: str | None, allow_residual: bool, channels: int | None = None):
        """Follow `out` through consumers that can join the producing kernel: per-channel
        Mul/Add/Sub/BiasAdd by constants (an affine a*y + b folded into weights and bias,
        while nothing else has joined; a constant Add/Sub after the residual too), a residual
        Add (or a two-input AddN), then an activation: a Prelu node with
        per-channel constant alphas too where the kernel has channels (`channels` given),
        which facemesh's blocks have after each residual Add.
        Returns (out, scale a or None, shift b or None, residual, act, param, alpha or None)."""
        scale, shift, residual, param, alpha = None, None, None, 0.0, None
        if not self.optimize:
            return out, scale, shift, residual, act, param, alpha
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
            affine_ok = act is None and residual is None and per_channel
            # a constant added after the residual is still a bias (the sum commutes): Grappler's
            # AddN(conv, skip) -> AddV2(bias, .) in handlandmark-lite's 18 blocks
            shift_ok = act is None and per_channel
            if shift_ok and (op == "BiasAdd" and nxt.inputs[0] == out or op in ("Add", "AddV2")):
                shift = (shift if shift is not None else 0) + np.broadcast_to(c.reshape(-1), (channels,))
            elif shift_ok and op == "Sub" and nxt.inputs[0] == out:
                shift = (shift if shift is not None else 0) - np.broadcast_to(c.reshape(-1), (channels,))
            elif affine_ok and op == "Mul":
                m = np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float32)
                scale = m if scale is None else scale * m
                shift = None if shift is None else shift * m
            elif (act is None and allow_residual and residual is None and op in ("Add", "AddV2", "AddN") and len(other) == 1
                  and self.shape(other[0]) == self.shape(out) and self.dtype(other[0]) == F32
                  and self.const(other[0]) is None and self.ready_before(other[0], i, j)):
                residual = other[0]
            elif act is None and op in ACTIVATIONS and op != "Prelu" and nxt.inputs == [out]:
                act = op
                param = float(nxt.node.attrs.get("alpha", 0.2)) if op == "LeakyRelu" else 0.0
            elif act is None and op == "Prelu" and nxt.inputs[0] == out and per_channel:
                act, alpha = op, np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float32)
            # Relu6 written as clip_by_value(Relu(y), 0, 6) (Keras' ReLU(max_value=6) as
            # faceres has it: Relu -> Minimum 6 -> Maximum 0): the clip joins as Relu6, and
            # a Maximum with 0 after it changes nothing (NaN stays NaN either way)
            elif act == "Relu" and op == "Minimum" and c is not None and c.size == 1 and float(c.reshape(-1)[0]) == 6.0:
                act = "Relu6"
            elif act in ("Relu", "Relu6") and op == "Maximum" and c is not None and c.size == 1 \
                    and float(c.reshape(-1)[0]) == 0.0:
                pass
            elif act is None and op == "MaxPool" and nxt.inputs == [out] and self.hoist:
                act, param = self._act_through_max_pool(i, j, out)
                break
            else:
                break
            self.skip.add(j)
            self.fused[nxt.node.name] = self.plan.steps[i].node.name
            out = nxt.outputs[0]
        return out, scale, shift, residual, act, param, alpha


    def _act_through_max_pool(self, i: int, j: int, out: str) -> tuple[str | None, float]:
        """conv -> MaxPool -> Relu (antispoof, three times): the activation joins the conv's
        epilogue and the pool, lowered at its own step, writes the activation's output (an
        alias): act(max(...)) == max(act(...)) exactly for these activations, and the
        element-wise kernel and its pass over the pooled map are gone."""
        pool_out = self.plan.steps[j].outputs[0]
        k = self.single_consumer(pool_out, j)
        nxt = self.plan.steps[k] if k is not None else None
        if nxt is None or nxt.node.op not in MAX_COMMUTING_ACTIVATIONS or nxt.inputs != [pool_out] \
                or self.dtype(out) != F32:
            return None, 0.0
        param = float(nxt.node.attrs.get("alpha", 0.2)) if nxt.node.op == "LeakyRelu" else 0.0
        if param < 0:
            return None, 0.0
        self.skip.add(k)
        self.fused[nxt.node.name] = self.plan.steps[i].node.name
        self.aliases[nxt.outputs[0]] = pool_out
        return nxt.node.op, param


# ----------------------------------------------------------------------------- lowerings
def lower_view(low: Lowering, src: str, out: str):
    """`out` is `src`'s bytes under another shape: no kernel, an alias."""
    if low.const(src) is not None:
        raise Fallback("view of a constant")
    low.aliases[out] = low.aliases.get(src, src)

def fused_epilogue_args(low: Lowering, step: Step, channels: int):
    """bias, act, param, alpha and a weight scale from the node's own fused_ops."""
    attrs = step.node.attrs
    extra = list(step.inputs[2:])
    bias = np.zeros(channels, np.float32)
    scale = None
    act, param, alpha = None, 0.0, None
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
            act, alpha = "Prelu", np.broadcast_to(a.reshape(-1), (channels,)).astype(np.float32)
        elif f in ACTIVATIONS:
            act = f
            param = float(attrs.get("leakyrelu_alpha", 0.2)) if f == "LeakyRelu" else 0.0
        else:
            raise Fallback(f"fused op {f}")
    return bias.astype(np.float32), scale, act, param, alpha


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
    g, w4 = _gemm_geometry(low, x, w, attrs, matmul)
    if not matmul:
        x, g = _unfold_pad(low, x, g)
    co = w4.shape[3]
    bias, scale, act, param, alpha = fused_epilogue_args(low, step, co)
    if scale is not None:
        w4 = w4 * scale
    out, a, b, residual, act, fparam, falpha = low.fuse_epilogue(i, step.outputs[0], act, allow_residual=True,
                                                                 channels=co)
    param, alpha = param or fparam, alpha if falpha is None else falpha
    if a is not None:
        w4, bias = w4 * a, bias * a
    if b is not None:
        bias = bias + b
    low.conv_flops += 2 * g.N * g.OH * g.OW * co * g.KH * g.KW * g.C
    call = Conv(low.ref(x), Ref("t", out), np.asarray(w4, np.float32), np.asarray(bias, np.float32),
                Ref("t", residual) if residual else None, alpha, g, co, act, param)
    reads = [x] + ([residual] if residual else [])
    if not fuse_separable(low, call, x, reads, out, step.node.name) and not fuse_max_pool(low, call, i, step.node.name):
        low.emit(call, reads, [out], f"conv:{step.node.name}")


def fuse_max_pool(low: Lowering, conv: Conv, i: int, name: str) -> bool:
    """A conv whose output only a 2x2 stride-2 max pool reads, no window of it reaching the
    padding (VALID, or SAME over an even map: the pool's output is the map's halves): one
    ConvPool in the two calls' stead, where the backend supports it.  The pool step is
    skipped; an activation moved ahead of the pool (_act_through_max_pool) is the conv's
    epilogue."""
    out = conv.out.key
    j = low.single_consumer(out, i) if low.optimize else None
    if j is None or j in low.skip or low.plan.steps[j].node.op != "MaxPool":
        return False
    pool = low.plan.steps[j]
    k, g = pool.node.attrs.get("ksize"), conv.g
    pg = _window(low, out, k[1], k[2], pool.node.attrs)
    if (pg.KH, pg.KW, pg.SH, pg.SW, pg.PT, pg.PL, pg.OH, pg.OW) != (2, 2, 2, 2, 0, 0, g.OH // 2, g.OW // 2):
        return False
    call = ConvPool(conv, Ref("t", pool.outputs[0]))
    if not low.supports(call):
        return False
    low.skip.add(j)
    low.fused[pool.node.name] = name
    low.emit(call, [conv.x.key], [pool.outputs[0]], f"convpool:{name}+{pool.node.name}")
    return True


def fuse_separable(low: Lowering, conv: Conv, x: str, reads: list[str], out: str, name: str) -> bool:
    """A 1x1 stride-1 conv whose input only it reads, made by a depthwise conv (multiplier
    1, no residual, no Prelu): one SeparableConv in the depthwise item's stead, where the
    backend supports it (wasm: the depthwise rows stay in a scratch and never reach the
    arena; with threads, one barrier fewer)."""
    g = conv.g
    if (g.KH, g.KW, g.SH, g.SW, g.PT, g.PL) != (1, 1, 1, 1, 0, 0) or conv.x != Ref("t", x):
        return False

    def fused(dw):      # alpha: a Prelu, which needs it
        ok = (isinstance(dw, DepthwiseConv) and dw.out == Ref("t", x) and dw.MULT == 1 and dw.residual is None
              and dw.alpha is None)
        return SeparableConv(dw, conv) if ok else None
    return _join_producer(low, x, reads, out, "sepconv", name, fused)


def _join_producer(low: Lowering, x: str, reads: list[str], out: str, kind: str, name: str, fused) -> bool:
    """The item that produced `x` and the call being lowered, which alone reads `x`, as one
    call: fused(producer's call) -> the joint call, or None.  It goes where the call being
    lowered would, after any items hoisted since the producer (a residual branch): nothing
    between reads `x`.  Only where the backend supports it."""
    if not low.optimize or x in low.outputs or len(low.uses.get(x, ())) != 1:
        return False
    j = next((n for n in range(len(low.items) - 1, -1, -1) if x in low.items[n].writes), None)
    call = fused(low.items[j].call) if j is not None and low.items[j].writes == [x] else None
    if call is None or not low.supports(call):
        return False
    first = low.items.pop(j)
    low.items.append(Item(call, None, first.reads + [k for k in reads[1:] if low.const(k) is None], [out],
                          f"{kind}:{first.label.partition(':')[2]}+{name}"))
    return True


def _gemm_geometry(low: Lowering, x: str, w: np.ndarray, attrs: dict, matmul: bool) -> tuple[Window, np.ndarray]:
    """A conv or a MatMul as the conv kernels see it: its Window and filter [KH,KW,C,CO].
    A MatMul [M,K] x [K,N] is a 1x1 conv over M pixels."""
    if matmul:
        m, k = low.shape(x)
        return Window(1, m, 1, k, m, 1, 1, 1, 1, 1, 1, 1, 0, 0), w.reshape(1, 1, *w.shape)
    return _window(low, x, w.shape[0], w.shape[1], attrs), w


def _window(low: Lowering, x: str, kh: int, kw: int, attrs: dict) -> Window:
    n_, h, wd, c = low.shape(x)
    (oh, ow), strides, dil, pads = conv_geometry((n_, h, wd, c), kh, kw, attrs)
    return Window(n_, h, wd, c, oh, ow, kh, kw, strides[0], strides[1], dil[0], dil[1], pads[0][0], pads[1][0])


def _unfold_pad(low: Lowering, x: str, g: Window) -> tuple[str, Window]:
    """If x is a zero Pad folded into this conv: read its source, with the pad added to
    the conv's padding (output size unchanged: it was computed on the padded shape)."""
    if x not in low.folded_pads:
        return x, g
    src, top, left = low.folded_pads[x]
    _, h0, w0, _ = low.shape(src)
    return src, replace(g, H=h0, W=w0, PT=g.PT + top, PL=g.PL + left)


def lower_dwconv(low: Lowering, i: int, step: Step):
    x, wkey = step.inputs[:2]
    w = low.const(wkey)
    if w is None:
        raise Fallback("runtime filter")
    low.require_f32(x)
    kh, kw, _, mult = w.shape
    c = low.shape(x)[3]
    if kh * kw > MAX_DEPTHWISE_TAPS:
        raise Fallback(f"depthwise filter larger than {MAX_DEPTHWISE_TAPS} taps")
    x, g = _unfold_pad(low, x, _window(low, x, kh, kw, step.node.attrs))
    bias, scale, act, param, alpha = fused_epilogue_args(low, step, c * mult)
    if scale is not None:
        w = w * scale.reshape(c, mult)
    out, a, b, residual, act, fparam, falpha = low.fuse_epilogue(i, step.outputs[0], act, allow_residual=True,
                                                                 channels=c * mult)
    param, alpha = param or fparam, alpha if falpha is None else falpha
    if a is not None:
        w, bias = w * a.reshape(c, mult), bias * a
    if b is not None:
        bias = bias + b
    low.conv_flops += 2 * g.N * g.OH * g.OW * c * mult * kh * kw
    call = DepthwiseConv(low.ref(x), Ref("t", out), np.ascontiguousarray(w, np.float32), np.asarray(bias, np.float32),
                         Ref("t", residual) if residual else None, alpha, g, mult, act, param)
    reads = [x] + ([residual] if residual else [])
    if not fuse_expansion(low, call, x, reads, out, step.node.name):
        low.emit(call, reads, [out], f"dwconv:{step.node.name}")


def fuse_expansion(low: Lowering, dw: DepthwiseConv, x: str, reads: list[str], out: str, name: str) -> bool:
    """A strided depthwise conv (multiplier 1, no Prelu) whose input only it reads, made by a
    1x1 stride-1 conv (no residual, no Prelu): one ExpandDepthwise in the 1x1 item's stead,
    where the backend supports it (wasm: the expanded rows a window needs live in a ring on
    the stack, so the expanded map, the largest tensor of an inverted-residual block, gets
    no slot).  At stride 1 the map is no larger than the depthwise output, which the fusion
    would store instead: nothing to gain, so strided only."""
    if dw.MULT != 1 or dw.alpha is not None or (dw.g.SH, dw.g.SW) == (1, 1) or dw.x != Ref("t", x):
        return False

    def fused(pw):
        ok = (isinstance(pw, Conv) and pw.out == Ref("t", x) and pw.residual is None and pw.alpha is None
              and (pw.g.KH, pw.g.KW, pw.g.SH, pw.g.SW, pw.g.PT, pw.g.PL) == (1, 1, 1, 1, 0, 0))
        return ExpandDepthwise(pw, dw) if ok else None
    return _join_producer(low, x, reads, out, "expdw", name, fused)


def lower_pool(low: Lowering, i: int, step: Step):
    x = step.inputs[0]
    k = step.node.attrs.get("ksize")
    g = _window(low, x, k[1], k[2], step.node.attrs)
    kind = "Max" if step.node.op == "MaxPool" else "Avg"
    if low.dtype(x) == I8 and kind == "Max":
        low.emit(Pool(low.ref(x), Ref("t", step.outputs[0]), g, kind, "int8"), [x], list(step.outputs),
                 f"qmaxpool:{step.node.name}")
        return
    low.require_f32(x)
    low.emit(Pool(low.ref(x), Ref("t", step.outputs[0]), g, kind), [x], list(step.outputs), f"pool:{step.node.name}")


def lower_binary(low: Lowering, i: int, step: Step):
    a, b = step.inputs[:2]
    low.require_f32(a, b)
    out = step.outputs[0]
    oshape = low.shape(out)
    shape, (sa, sb) = coalesce(oshape, broadcast_strides(low.shape(a), oshape), broadcast_strides(low.shape(b), oshape))
    out, _, _, _, act, param, _ = low.fuse_epilogue(i, out, None, allow_residual=False)   # no channels: no Prelu
    call = Binary(low.ref(a), low.ref(b), Ref("t", out), BINARY_KINDS[step.node.op], act, param, shape, sa, sb)
    low.emit(call, [a, b], [out], f"binary:{step.node.name}")


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
        low.emit(Binary(low.ref(prev), low.ref(k), Ref("t", out), "Add", None, 0.0, shape, sa, sb), [prev, k], [out],
                 f"addn:{step.node.name}")
        prev = out


def lower_unary(low: Lowering, i: int, step: Step):
    x = step.inputs[0]
    low.require_f32(x)
    op = step.node.op
    param = float(step.node.attrs.get("alpha", 0.2)) if op == "LeakyRelu" else 0.0
    n = int(np.prod(low.shape(x), dtype=np.int64))
    low.emit(Unary(low.ref(x), Ref("t", step.outputs[0]), n, UNARY_KINDS[op], param), [x], list(step.outputs),
             f"unary:{step.node.name}")


def _elem_size_ok(low: Lowering, *keys):
    for k in keys:
        if low.dtype(k) not in (F32, I32, BOOL, I8):
            raise Fallback(f"{k} is {low.dtype(k).name}")


def emit_copy(low: Lowering, src: str, src_geom, dst: str, dst_geom, label: str, reads=None):
    (so, shape, ss), (do, _, ds) = src_geom, dst_geom
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return
    cshape, (css, cds) = coalesce(shape, ss, ds)
    call = Copy(low.ref(src, so), Ref("t", dst, do), cshape, css, cds, 1 if low.dtype(dst) == I8 else 4)
    low.emit(call, reads or [src], [dst], label)


def contiguous_geom(shape):
    return 0, tuple(shape), contiguous_strides(shape)


def lower_transpose(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    perm = [norm_axis(int(p), len(low.shape(x))) for p in np.asarray(low.const(step.inputs[1])).reshape(-1)]
    emit_copy(low, x, view_geometry(low.shape(x), lambda b: b.transpose(perm)), out,
              contiguous_geom(low.shape(out)), f"transpose:{step.node.name}")


def lower_depth_to_space(low: Lowering, i: int, step: Step):
    """A copy: the output viewed as [N, H, b, W, b, C'] and transposed to [N, H, W, b, b, C'] is
    exactly the input's layout (TF's DCR order)."""
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    n, h, w, c = low.shape(x)
    b = int(step.node.attrs["block_size"])
    co = c // (b * b)
    dst = view_geometry((n, h, b, w, b, co), lambda t: t.transpose(0, 1, 3, 2, 4, 5))
    emit_copy(low, x, contiguous_geom((n, h, w, b, b, co)), out, dst, f"depth_to_space:{step.node.name}")


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


def lower_pad(low: Lowering, i: int, step: Step, fold: bool = True):
    x, out = step.inputs[0], step.outputs[0]
    _elem_size_ok(low, x)
    widths = pad_widths(low.shape(x), low.const(step.inputs[1]))
    value = low.const(step.inputs[2]) if len(step.inputs) > 2 else np.float32(0)
    j = low.single_consumer(out, i)
    # Zero padding of H and W only, read only by a convolution: the conv kernels treat
    # taps outside the input as zeros, so the pad becomes the conv's own padding.
    if (fold and low.optimize and j is not None and low.plan.steps[j].node.op in CONV_OPS
            and low.plan.steps[j].inputs[0] == out and len(widths) == 4 and widths[0] == (0, 0)
            and widths[3] == (0, 0) and value is not None and float(np.asarray(value).reshape(-1)[0]) == 0.0
            and low.const(x) is None):
        low.folded_pads[out] = (x, widths[1][0], widths[2][0])
        low.fused[step.node.name] = low.plan.steps[j].node.name
        return
    value = 0
    if len(step.inputs) > 2:
        v = low.const(step.inputs[2])
        if v is None:
            raise Fallback("runtime pad value")
        value = np.asarray(v).reshape(-1)[0].item()
    n = int(np.prod(low.shape(out), dtype=np.int64))
    low.emit(Fill(Ref("t", out), n, value, low.dtype(out).name), [], [out], f"pad-fill:{step.node.name}")
    interior = tuple(slice(a, a + d) for (a, _), d in zip(widths, low.shape(x)))
    emit_copy(low, x, contiguous_geom(low.shape(x)), out, view_geometry(low.shape(out), interior),
              f"pad:{step.node.name}", reads=[x, out])


def lower_resize(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    low.require_f32(x)
    n_, h, wd, c = low.shape(x)
    _, oh, ow, _ = low.shape(out)
    a = step.node.attrs
    call = Resize(low.ref(x), Ref("t", out), n_, h, wd, c, oh, ow, step.node.op == "ResizeNearestNeighbor",
                  bool(a.get("align_corners")), bool(a.get("half_pixel_centers")))
    low.emit(call, [x], [out], f"resize:{step.node.name}")


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
    low.emit(Reduce(low.ref(x), Ref("t", out), outer, n, inner, step.node.op), [x], [out], f"reduce:{step.node.name}")


def lower_softmax(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    low.require_f32(x)
    shape = low.shape(x)
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    low.emit(Softmax(low.ref(x), Ref("t", out), rows, shape[-1]), [x], [out], f"softmax:{step.node.name}")


def lower_topk(low: Lowering, i: int, step: Step):
    x, values, indices = step.inputs[0], step.outputs[0], step.outputs[1]
    low.require_f32(x)
    shape = low.shape(x)
    k = low.shape(values)[-1]
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    low.emit(TopK(low.ref(x), Ref("t", values), Ref("t", indices), rows, shape[-1], k), [x], [values, indices],
             f"topk:{step.node.name}")


def lower_cast(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    src, dst = low.dtype(x), low.dtype(out)
    if src == dst or (src == BOOL and dst == I32):
        if low.const(x) is not None:
            raise Fallback("cast of a constant")
        low.aliases[out] = low.aliases.get(x, x)      # same 4-byte representation
        return
    if (src, dst) not in CASTS:
        raise Fallback(f"cast {src.name} -> {dst.name}")
    n = int(np.prod(low.shape(x), dtype=np.int64))
    low.emit(Cast(low.ref(x), Ref("t", out), n, src.name, dst.name), [x], [out], f"cast:{step.node.name}")


def _requant(step: Step) -> Requant:
    a = step.node.attrs
    return Requant(int(a.get("x_zero_point", 0)), int(a.get("out_zero_point", 0)), int(a.get("qmin", -128)),
                   int(a.get("qmax", 127)), int(a.get("residual_zero_point", 0)), float(a.get("residual_scale", 1.0)),
                   a.get("out_dtype", "int8") == "float32", a.get("activation") or None)


def _q_consts(low: Lowering, step: Step):
    vals = [low.const(k) for k in step.inputs[1:4]]
    if any(v is None for v in vals):
        raise Fallback("runtime int8 filter, bias or multiplier")
    if low.dtype(step.inputs[0]) != I8:
        raise Fallback("int8 kernel on a non-int8 input")
    return vals


def lower_qconv(low: Lowering, i: int, step: Step):
    """WtQConv2D / WtQMatMul (ops/quant.py) -> QConv."""
    x, out = step.inputs[0], step.outputs[0]
    w, bias, mult = _q_consts(low, step)
    residual = step.inputs[4] if len(step.inputs) > 4 else None
    g, w4 = _gemm_geometry(low, x, w, step.node.attrs, step.node.op == "WtQMatMul")
    co = w4.shape[3]
    low.conv_flops += 2 * g.N * g.OH * g.OW * co * g.KH * g.KW * g.C
    call = QConv(low.ref(x), Ref("t", out), w4, bias.astype(np.int32), np.asarray(mult, np.float32),
                 Ref("t", residual) if residual else None, g, co, _requant(step))
    low.emit(call, [x] + ([residual] if residual else []), [out], f"qconv:{step.node.name}")


def lower_qdwconv(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    w, bias, mult = _q_consts(low, step)
    residual = step.inputs[4] if len(step.inputs) > 4 else None
    kh, kw = w.shape[:2]
    if kh * kw > MAX_DEPTHWISE_TAPS:
        raise Fallback(f"depthwise filter larger than {MAX_DEPTHWISE_TAPS} taps")
    g = _window(low, x, kh, kw, step.node.attrs)
    low.conv_flops += 2 * g.N * g.OH * g.OW * g.C * kh * kw
    call = QDepthwiseConv(low.ref(x), Ref("t", out), w.reshape(kh, kw, g.C), bias.astype(np.int32),
                          np.asarray(mult, np.float32), Ref("t", residual) if residual else None, g, _requant(step))
    low.emit(call, [x] + ([residual] if residual else []), [out], f"qdwconv:{step.node.name}")


def lower_quantize(low: Lowering, i: int, step: Step):
    x, out = step.inputs[0], step.outputs[0]
    a = step.node.attrs
    n = int(np.prod(low.shape(x), dtype=np.int64))
    if step.node.op == "WtQuantize":
        low.require_f32(x)
        low.emit(Quantize(low.ref(x), Ref("t", out), n, float(a["scale"]), int(a["zero_point"])), [x], [out],
                 f"quantize:{step.node.name}")
    else:
        if low.dtype(x) != I8:
            raise Fallback("dequantize of a non-int8 tensor")
        low.emit(Dequantize(low.ref(x), Ref("t", out), n, float(a["scale"]), int(a["zero_point"])), [x], [out],
                 f"dequantize:{step.node.name}")


LOWERINGS = {
    **{op: lower_conv for op in ("Conv2D", "_FusedConv2D", "MatMul", "_FusedMatMul")},
    **{op: lower_dwconv for op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")},
    **{op: lower_pool for op in ("MaxPool", "AvgPool")},
    **{op: lower_binary for op in BINARY_KINDS},
    **{op: lower_unary for op in UNARY_KINDS},
    "AddN": lower_add_n,
    "Transpose": lower_transpose, "DepthToSpace": lower_depth_to_space, "Slice": lower_slice, "StridedSlice": lower_slice,
    "ConcatV2": lower_concat, "Concat": lower_concat, "Pack": lower_pack,
    "Unpack": lower_unpack_split, "Split": lower_unpack_split, "SplitV": lower_unpack_split,
    "Pad": lower_pad, "PadV2": lower_pad,
    "ResizeBilinear": lower_resize, "ResizeNearestNeighbor": lower_resize,
    **{op: lower_reduce for op in REDUCTIONS},
    "Softmax": lower_softmax, "Cast": lower_cast, "TopKV2": lower_topk,
    "WtQConv2D": lower_qconv, "WtQMatMul": lower_qconv, "WtQDepthwiseConv2D": lower_qdwconv,
    "WtQuantize": lower_quantize, "WtDequantize": lower_quantize,
}


