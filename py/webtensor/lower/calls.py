"""The typed kernel calls every native backend runs: named fields, logical weight
layouts, the vocabulary of ops/kinds.py.  A backend encodes them at its own edge
(wasm: argument words + packed weights; WebGL: draws over textures); nothing here
knows a backend's codes, packing or limits.
"""
from __future__ import annotations

import numpy as np

from .._record import record


@record(frozen=True)
class Ref:
    """A tensor operand: an activation ("t", key) that the memory plan places, or a
    constant ("c", key) of plan.constants that the backend uploads once.  `offset`
    counts elements from the tensor's start (a view into it)."""
    kind: str
    key: str
    offset: int = 0


@record(frozen=True)
class Window:
    """NHWC geometry of a sliding-window call: input N,H,W,C, output OH,OW, window
    KH,KW, strides SH,SW, dilations DH,DW, top/left padding PT,PL (taps outside the
    input read zeros; bottom/right padding follows from OH/OW)."""
    N: int
    H: int
    W: int
    C: int
    OH: int
    OW: int
    KH: int
    KW: int
    SH: int
    SW: int
    DH: int
    DW: int
    PT: int
    PL: int


class Call:
    int8 = False          # touches int8 tensors (backends without int8 kernels refuse it)


@record
class FilterCall(Call):
    """What Conv and DepthwiseConv share: input, output, a logical filter, and the fused
    epilogue act(conv + bias [+ residual]); alpha [channels] for Prelu, else None."""
    x: Ref
    out: Ref
    filter: np.ndarray
    bias: np.ndarray
    residual: Ref | None
    alpha: np.ndarray | None
    g: Window


@record
class Conv(FilterCall):
    """A conv (a MatMul is a 1x1 conv over M pixels): filter [KH,KW,C,CO] float32 with any
    folded scale; bias [CO]; param: LeakyRelu's slope."""
    CO: int
    act: str | None
    param: float


@record
class DepthwiseConv(FilterCall):
    """A depthwise conv: filter [KH,KW,C,MULT], output channel c * MULT + m."""
    MULT: int
    act: str | None
    param: float


@record
class Pool(Call):
    """Max or average ("Max" / "Avg") pooling; average divides by the taps inside the input."""
    x: Ref
    out: Ref
    g: Window
    kind: str
    dtype: str = "float32"          # "int8": max pool of int8 values

    @property
    def int8(self):
        return self.dtype == "int8"


@record
class Binary(Call):
    """out = act(x <kind> y) over a 6-d shape with per-operand element strides (0 broadcasts)."""
    x: Ref
    y: Ref
    out: Ref
    kind: str
    act: str | None
    param: float
    shape: list[int]
    xs: list[int]
    ys: list[int]


@record
class Unary(Call):
    """out = kind(x) over n elements (activations included); param: LeakyRelu's slope."""
    x: Ref
    out: Ref
    n: int
    kind: str
    param: float


@record
class Copy(Call):
    """dst[dst strides] = src[src strides] over a 6-d shape (transpose, slice, concat,
    pack, split, pad interior); offsets live in the Refs."""
    src: Ref
    dst: Ref
    shape: list[int]
    ss: list[int]
    ds: list[int]
    itemsize: int                   # 4 (float32 / int32 / bool) or 1 (int8)

    @property
    def int8(self):
        return self.itemsize == 1


@record
class Fill(Call):
    """The first n elements of out = value."""
    out: Ref
    n: int
    value: float | int
    dtype: str

    @property
    def int8(self):
        return self.dtype == "int8"


@record
class Resize(Call):
    x: Ref
    out: Ref
    N: int
    H: int
    W: int
    C: int
    OH: int
    OW: int
    nearest: bool
    align_corners: bool
    half_pixel_centers: bool


@record
class Reduce(Call):
    """x viewed as [outer, n, inner] reduced over n by kind (ops/kinds.REDUCTIONS)."""
    x: Ref
    out: Ref
    outer: int
    n: int
    inner: int
    kind: str


@record
class Softmax(Call):
    """Softmax over the last axis of x viewed as [rows, cols]."""
    x: Ref
    out: Ref
    rows: int
    cols: int


@record
class Cast(Call):
    x: Ref
    out: Ref
    n: int
    src: str                        # dtype names: "float32", "int32", "bool"
    dst: str


@record
class TopK(Call):
    """Per row of x viewed as [rows, n]: the k largest values in order and their indices
    (ties: the lower index first; NaN ranks below every number, as the reference's sort)."""
    x: Ref
    values: Ref
    indices: Ref
    rows: int
    n: int
    k: int


@record(frozen=True)
class Requant:
    """The int8 epilogue (ops/quant.py): acc * mult + out_zero, clamped to [qmin, qmax];
    a residual adds (r - residual_zero) * residual_scale; out_float writes
    act(acc * mult) as float32 instead."""
    x_zero: int
    out_zero: int
    qmin: int
    qmax: int
    residual_zero: int
    residual_scale: float
    out_float: bool
    act: str | None


@record
class QConv(Call):
    """int8 conv / MatMul: filter int8 [KH,KW,C,CO], bias int32 [CO] (zero points
    folded in), mult float32 [CO]."""
    x: Ref
    out: Ref
    filter: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    residual: Ref | None
    g: Window
    CO: int
    q: Requant
    int8 = True


@record
class QDepthwiseConv(Call):
    """int8 depthwise conv (multiplier 1): filter int8 [KH,KW,C]."""
    x: Ref
    out: Ref
    filter: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    residual: Ref | None
    g: Window
    q: Requant
    int8 = True


@record
class Quantize(Call):
    """out int8 = clamp(round(x / scale) + zero_point)."""
    x: Ref
    out: Ref
    n: int
    scale: float
    zero_point: int
    int8 = True


@record
class Dequantize(Call):
    """out float32 = (x - zero_point) * scale."""
    x: Ref
    out: Ref
    n: int
    scale: float
    zero_point: int
    int8 = True


@record
class SeparableConv(Call):
    """A depthwise conv (multiplier 1, no residual, no Prelu) whose output only a 1x1
    stride-1 conv reads, as one call: `dw.out` (= `pw.x`) is never stored, so it has no
    slot.  The Lowering forms it only where the backend's supports() takes it; otherwise
    the two calls stay apart."""
    dw: DepthwiseConv
    pw: Conv

    @property
    def x(self) -> Ref:
        return self.dw.x

    @property
    def out(self) -> Ref:
        return self.pw.out

    @property
    def residual(self) -> Ref | None:
        return self.pw.residual


@record
class ConvPool(Call):
    """A conv (no residual) whose output only a 2x2 stride-2 max pool reads, as one call: each
    pooled pixel is the max of the conv's four pixels after its epilogue, so the conv's map
    (antispoof's stem: 4 MB) is never stored and has no slot.  `out` is the pool's output,
    [N, OH // 2, OW // 2, CO] (a VALID pool drops an odd last row or column).  Formed only
    where the backend's supports() takes it; otherwise the two calls stay apart."""
    conv: Conv
    out: Ref

    @property
    def x(self) -> Ref:
        return self.conv.x


@record
class ExpandDepthwise(Call):
    """A 1x1 stride-1 conv (no residual, no Prelu) whose output only a strided depthwise conv
    (multiplier 1, no Prelu) reads, as one call: `pw.out` (= `dw.x`, the expanded map, four
    times the depthwise output at stride 2) is never stored, so it has no slot.  Formed only
    where the backend's supports() takes it; otherwise the two calls stay apart."""
    pw: Conv
    dw: DepthwiseConv

    @property
    def x(self) -> Ref:
        return self.pw.x

    @property
    def out(self) -> Ref:
        return self.dw.out

    @property
    def residual(self) -> Ref | None:
        return self.dw.residual


CALL_TYPES = (Conv, DepthwiseConv, Pool, Binary, Unary, Copy, Fill, Resize, Reduce, Softmax, Cast, QConv,
              QDepthwiseConv, Quantize, Dequantize, TopK, SeparableConv, ConvPool, ExpandDepthwise)
# Calls the GPU backends have no kernel for, and why (their lowering sends the op to numpy there,
# or, for a fusion, keeps its parts apart)
GPU_REFUSED = {TopK: "selection needs a sort; a fragment/compute pass per output would read the whole row "
                     "k times (numpy's partition runs it there)",
               SeparableConv: "a fusion for the CPU's caches and barriers: on a GPU the depthwise output would "
                              "be recomputed per output channel; the two passes stay apart",
               ConvPool: "a fusion for the CPU's caches and memory: a GPU fragment per pooled texel would "
                         "compute four conv pixels with no reuse; the two passes stay apart",
               ExpandDepthwise: "a fusion for the CPU's memory: on a GPU each depthwise output would recompute "
                                "its window's expanded pixels; the two passes stay apart"}
