"""The wasm backend's edge: typed kernel calls -> argument words (the format the
kernels in kernels_wasm/ read) with weights packed as each kernel wants them.

One encoder per call type, its packing and its limits beside it; `ARGS` names each
opcode's arguments in the order the C kernel reads them (tests/test_wasm_lowering.py
parses the C sources and fails on any mismatch); `EXTENTS` says, from those same
named arguments, which bytes of which tensor a call touches (checked against the
memory plan before any word reaches wasm memory).
"""
from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np

from ..._record import record, field
from ...engine import engine
from ...errors import ExecutionError
from ...lower import BOOL, I8, Lowered, Ref, slot_bytes
from ...lower.calls import (Binary, Cast, Conv, ConvPool, Copy, DepthwiseConv, Dequantize, ExpandDepthwise, Fill, Pool, QConv,
                            QDepthwiseConv, Quantize, Reduce, Resize, SeparableConv, Softmax, TopK, Unary)

# --- the contract with kernels_wasm/common.h and the kernels -------------------------------
OPCODES = {"OP_CONV": 1, "OP_DWCONV": 2, "OP_POOL": 3, "OP_BINARY": 4, "OP_UNARY": 5, "OP_COPY": 6,
           "OP_FILL": 7, "OP_RESIZE": 8, "OP_REDUCE": 9, "OP_SOFTMAX": 10, "OP_CAST": 11,
           "OP_QCONV": 12, "OP_QDWCONV": 13, "OP_QUANTIZE": 14, "OP_DEQUANTIZE": 15, "OP_QMAXPOOL": 16,
           "OP_COPY8": 17, "OP_TOPK": 18, "OP_SEPCONV": 19, "OP_CONVPOOL": 20,
           "OP_EXPDW": 21, "OP_WINOGRAD": 22, "OP_WINOPOOL": 23}
# An op's first word is its opcode | NO_BARRIER_AFTER where the next op may run with no
# barrier between (they touch disjoint bytes); a group of ops between barriers has at most
# GROUP_MAX ops (each has its own work counter in the program's barrier words).
NO_BARRIER_AFTER, GROUP_MAX = 0x100, 8
_CONV_GEOMETRY = ("N", "H", "W", "C", "OH", "OW")
_WINDOW = ("KH", "KW", "SH", "SW", "DH", "DW", "PT", "PL")
_REQUANT = ("xz", "oz", "qmin", "qmax", "rz", "rscale", "out_float", "act")
_six = lambda name: tuple(f"{name}{i}" for i in range(6))       # a 6-element array argument
_CONV_ARGS = ("x", "w", "bias", "out", "residual", "alpha", "zero", *_CONV_GEOMETRY, "CO", *_WINDOW, "act", "param")
ARGS = {
    "OP_CONV": _CONV_ARGS,
    # OP_CONV's words; `out` is the 2x2 max pool of the conv's map, [N][OH/2][OW/2][CO]; no residual
    "OP_CONVPOOL": _CONV_ARGS,
    # OP_CONV's and OP_CONVPOOL's words, a 3x3 stride-1 window (conv.c op_winograd, op_winopool)
    "OP_WINOGRAD": _CONV_ARGS,
    "OP_WINOPOOL": _CONV_ARGS,
    "OP_DWCONV": ("x", "w", "bias", "out", "residual", "alpha", "zero", *_CONV_GEOMETRY, *_WINDOW, "act", "param",
                  "mult"),
    "OP_POOL": ("x", "out", *_CONV_GEOMETRY, "KH", "KW", "SH", "SW", "PT", "PL", "kind"),
    "OP_QMAXPOOL": ("x", "out", *_CONV_GEOMETRY, "KH", "KW", "SH", "SW", "PT", "PL"),
    "OP_BINARY": ("x", "y", "out", "kind", "act", "param", *_six("shape"), *_six("xs"), *_six("ys")),
    "OP_UNARY": ("x", "out", "n", "kind", "param"),
    "OP_COPY": ("src", "dst", *_six("shape"), *_six("ss"), *_six("ds")),
    "OP_COPY8": ("src", "dst", *_six("shape"), *_six("ss"), *_six("ds")),
    "OP_FILL": ("out", "n", "bits"),
    "OP_RESIZE": ("x", "out", *_CONV_GEOMETRY, "nearest", "align", "half"),
    "OP_REDUCE": ("x", "out", "outer", "n", "inner", "kind"),
    "OP_SOFTMAX": ("x", "out", "rows", "cols"),
    "OP_CAST": ("x", "out", "n", "kind"),
    "OP_QCONV": ("x", "w", "bias", "mult", "out", "residual", "padrow", *_CONV_GEOMETRY, "CO", *_WINDOW, *_REQUANT,
                 "KR"),
    "OP_QDWCONV": ("x", "w", "bias", "mult", "out", "residual", "padrow", *_CONV_GEOMETRY, *_WINDOW, *_REQUANT,
                   "CP"),
    "OP_QUANTIZE": ("x", "out", "n", "inv", "zp"),
    "OP_DEQUANTIZE": ("x", "out", "n", "s", "zp"),
    "OP_TOPK": ("x", "values", "indices", "rows", "n", "k"),
    "OP_SEPCONV": ("x", "dw", "dbias", "out", "residual", "alpha", "zero", *_CONV_GEOMETRY, "CO", *_WINDOW, "dact",
                   "dparam", "w", "bias", "act", "param"),
    "OP_EXPDW": ("x", "w", "bias", "dw", "dbias", "out", "residual", "N", "H", "W", "C", "CE", "OH", "OW", *_WINDOW,
                 "act", "param", "dact", "dparam"),
}
# the vocabulary (ops/kinds.py) in the kernels' codes (common.h, elementwise.c, reduce.c)
ACT_CODES = {None: 0, "Relu": 1, "Relu6": 2, "Sigmoid": 3, "Tanh": 4, "Elu": 5, "LeakyRelu": 6, "Prelu": 7,
             "Selu": 8}
BINARY_CODES = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Maximum": 4, "Minimum": 5, "SquaredDifference": 6,
                "Prelu": 7, "FloorDiv": 8, "FloorMod": 9}
UNARY_CODES = {**{k: v for k, v in ACT_CODES.items() if k not in (None, "Prelu")},
               "Exp": 20, "Sqrt": 21, "Rsqrt": 22, "Reciprocal": 23, "Neg": 24, "Abs": 25, "Square": 26,
               "Floor": 27, "Ceil": 28, "Round": 30, "Sign": 31}
REDUCE_CODES = {"Mean": 0, "Sum": 1, "Max": 2, "Min": 3}
CAST_CODES = {("int32", "float32"): 0, ("bool", "float32"): 0, ("float32", "int32"): 1, ("float32", "bool"): 2,
              ("int32", "bool"): 3}
# kernel limits
MAX_DEPTHWISE_TAPS = 64           # conv.c DW_MAX_TAPS / quant.c tap pointers
SEP_SCRATCH = 4096                # conv.c: floats of depthwise output op_sepconv holds (two pixels at least)
POOL_CO_MAX = 512                 # conv.c: output channels op_convpool holds for a window's 4 pixels
EXPDW_SCRATCH = 8192              # conv.c: floats of expanded rows op_expdw holds (one output column's window at least)
WINO_MAX_C = 256                  # conv.c: input channels op_winograd's stack holds a panel of U for
QSCRATCH, QMR = 16384, 4          # quant.c: gathered-row scratch bytes per tile, rows per tile


def f32_bits(v: float) -> int:
    return struct.unpack("<i", struct.pack("<f", float(v)))[0]


@record(frozen=True)
class Addr:
    """A symbolic address, resolved once the plan is laid out: a tensor ("t", key), a
    weight ("w", index into the encoded weights) or the zero row ("z"), plus bytes."""
    kind: str
    key: object = None
    extra: int = 0


@record
class Encoded:
    """A Lowered plan in the kernels' words: per native item (opcode, {argument: value
    or Addr}, label), None for a numpy step; the weights to upload (packed)."""
    items: list
    weights: list[np.ndarray] = field(default_factory=list)
    zero_floats: int = 4              # the zero row conv kernels read for taps in the padding

    def words(self, i: int) -> list:
        op, args, _ = self.items[i]
        return [OPCODES[op], len(ARGS[op]) + 2, *(args[name] for name in ARGS[op])]

    def dump(self, h) -> tuple:
        """Plain data (weights by content digest `h`) for comparing encodings in tests."""
        out = []
        for i, it in enumerate(self.items):
            if it is None:
                out.append(None)
                continue
            out.append((it[2], [("w", h(self.weights[w.key]), w.extra) if isinstance(w, Addr) and w.kind == "w"
                                else (w.kind, str(w.key) if w.kind == "t" else 0, w.extra) if isinstance(w, Addr)
                                else int(w) for w in self.words(i)]))
        return out, self.zero_floats


class Encoder:
    def __init__(self, constants: dict):
        self.constants = constants
        self.weights: list[np.ndarray] = []
        self._ids: dict[tuple, int] = {}
        self._keep: list = []              # sources of cached weights stay alive (their ids key the cache)
        self.zero_floats = 4

    def weight(self, array: np.ndarray, pack=None, tag: str = "") -> Addr:
        """Upload `pack(array)` (or the array) once per source array and packing.  An
        all-zero array of 4-byte words is the zero row instead (grown to hold it): Keras'
        separable convs have no depthwise bias, and emotion's four zero vectors were 2.3 KB."""
        key = (tag, id(array))
        idx = self._ids.get(key)
        if idx is None:
            arr = np.ascontiguousarray(pack(array) if pack else array)
            if arr.dtype == BOOL:                       # bool is stored as int32
                arr = arr.astype(np.int32)
            elif arr.dtype.kind == "f":
                arr = arr.astype(np.float32, copy=False)
            elif arr.dtype.kind in "iu" and arr.dtype != I8:
                arr = arr.astype(np.int32, copy=False)
            self._keep.append(array)
            if arr.dtype.itemsize == 4 and arr.size and not arr.view(np.int32).any():
                self.zero_floats = max(self.zero_floats, arr.size)
                idx = self._ids[key] = -1
            else:
                idx = self._ids[key] = len(self.weights)
                self.weights.append(arr)
        return Addr("z") if idx < 0 else Addr("w", idx)

    def ref(self, ref: Ref | None, esize: int = 4):
        if ref is None:
            return 0                                     # an optional input left out
        if ref.kind == "c":
            w = self.weight(self.constants[ref.key])
            return Addr(w.kind, w.key, ref.offset * esize)
        return Addr("t", ref.key, ref.offset * esize)


def _padded(v: np.ndarray, n: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros(n, dtype)
    out[:v.size] = v.reshape(-1)
    return out


def _geometry(g, with_dilation: bool = True) -> dict:
    d = dict(N=g.N, H=g.H, W=g.W, C=g.C, OH=g.OH, OW=g.OW, KH=g.KH, KW=g.KW, SH=g.SH, SW=g.SW, PT=g.PT, PL=g.PL)
    if with_dilation:
        d.update(DH=g.DH, DW=g.DW)
    return d


# ----------------------------------------------------------------------------- encoders
def pack_panels8(w: np.ndarray) -> np.ndarray:
    """[KH,KW,C,CO] -> [CO/8][KH][KW][C][8]: 8-output-channel panels, zero-padded, the
    layout of conv.c's GEMM microkernel."""
    kh, kw, c, co = w.shape
    co8 = -(-co // 8)
    packed = np.zeros((kh, kw, c, co8 * 8), np.float32)
    packed[..., :co] = w
    return packed.reshape(kh, kw, c, co8, 8).transpose(3, 0, 1, 2, 4)


def winograd_ok(call: Conv, pool: bool = False) -> bool:
    """A conv op_winograd computes (conv.c): a 3x3 stride-1 window, enough input channels
    for the transforms to pay (an RGB stem's 3 do not), and at least engine()'s
    winograd_min_tiles 2x2 output tiles and winograd_min_out_channels."""
    g, eng = call.g, engine()
    tiles = g.N * ((g.OH // 2) * (g.OW // 2) if pool else -(-g.OH // 2) * -(-g.OW // 2))
    return (g.KH == g.KW == 3 and g.SH == g.SW == 1 and g.DH == g.DW == 1 and 8 <= g.C <= WINO_MAX_C
            and eng.winograd_min_tiles is not None and tiles >= max(1, eng.winograd_min_tiles)
            and call.CO >= eng.winograd_min_out_channels)


def enc_conv(call: Conv, e: Encoder):
    g, co8 = call.g, -(-call.CO // 8)
    e.zero_floats = max(e.zero_floats, g.KW * g.C)
    return "OP_WINOGRAD" if winograd_ok(call) else "OP_CONV", dict(
        x=e.ref(call.x), w=e.weight(call.filter, pack_panels8, "panels8"),
        bias=e.weight(_padded(call.bias, co8 * 8)), out=e.ref(call.out), residual=e.ref(call.residual),
        alpha=e.weight(_padded(call.alpha, co8 * 8)) if call.alpha is not None else 0, zero=Addr("z"),
        **_geometry(g), CO=call.CO, act=ACT_CODES[call.act], param=f32_bits(call.param))


def enc_convpool(call: ConvPool, e: Encoder):
    _, args = enc_conv(call.conv, e)
    return "OP_WINOPOOL" if winograd_ok(call.conv, pool=True) else "OP_CONVPOOL", {**args, "out": e.ref(call.out)}


def enc_dwconv(call: DepthwiseConv, e: Encoder):
    e.zero_floats = max(e.zero_floats, call.g.C)
    return "OP_DWCONV", dict(
        x=e.ref(call.x), w=e.weight(call.filter), bias=e.weight(call.bias), out=e.ref(call.out),
        residual=e.ref(call.residual), alpha=e.weight(call.alpha) if call.alpha is not None else 0, zero=Addr("z"),
        **_geometry(call.g), act=ACT_CODES[call.act], param=f32_bits(call.param), mult=call.MULT)


def enc_sepconv(call: SeparableConv, e: Encoder):
    """The depthwise half's words (input, filter, window, activation) and the 1x1 half's
    (packed panels, output, residual, epilogue), from the two calls' own encoders."""
    _, d = enc_dwconv(call.dw, e)
    _, p = enc_conv(call.pw, e)
    return "OP_SEPCONV", dict(
        x=d["x"], dw=d["w"], dbias=d["bias"], out=p["out"], residual=p["residual"], alpha=p["alpha"], zero=Addr("z"),
        **{k: d[k] for k in (*_CONV_GEOMETRY, *_WINDOW)}, CO=p["CO"], dact=d["act"], dparam=d["param"], w=p["w"],
        bias=p["bias"], act=p["act"], param=p["param"])


def enc_expdw(call: ExpandDepthwise, e: Encoder):
    """The 1x1 half's words (input, packed panels, epilogue) and the depthwise half's
    (filter, window, residual, output), from the two calls' own encoders."""
    _, p = enc_conv(call.pw, e)
    _, d = enc_dwconv(call.dw, e)
    return "OP_EXPDW", dict(
        x=p["x"], w=p["w"], bias=p["bias"], dw=d["w"], dbias=d["bias"], out=d["out"], residual=d["residual"],
        N=p["N"], H=p["H"], W=p["W"], C=p["C"], CE=p["CO"], OH=d["OH"], OW=d["OW"], **{k: d[k] for k in _WINDOW},
        act=p["act"], param=p["param"], dact=d["act"], dparam=d["param"])


def enc_pool(call: Pool, e: Encoder):
    esize = 1 if call.int8 else 4
    args = dict(x=e.ref(call.x, esize), out=e.ref(call.out, esize), **_geometry(call.g, with_dilation=False))
    if call.int8:
        return "OP_QMAXPOOL", args
    return "OP_POOL", dict(args, kind=0 if call.kind == "Max" else 1)


def enc_binary(call: Binary, e: Encoder):
    return "OP_BINARY", dict(x=e.ref(call.x), y=e.ref(call.y), out=e.ref(call.out), kind=BINARY_CODES[call.kind],
                             act=ACT_CODES[call.act], param=f32_bits(call.param),
                             **_named6("shape", call.shape), **_named6("xs", call.xs), **_named6("ys", call.ys))


def _named6(name, values) -> dict:
    return {f"{name}{i}": int(v) for i, v in enumerate(values)}


def enc_unary(call: Unary, e: Encoder):
    return "OP_UNARY", dict(x=e.ref(call.x), out=e.ref(call.out), n=call.n, kind=UNARY_CODES[call.kind],
                            param=f32_bits(call.param))


def enc_copy(call: Copy, e: Encoder):
    return "OP_COPY8" if call.itemsize == 1 else "OP_COPY", dict(
        src=e.ref(call.src, call.itemsize), dst=e.ref(call.dst, call.itemsize),
        **_named6("shape", call.shape), **_named6("ss", call.ss), **_named6("ds", call.ds))


def enc_fill(call: Fill, e: Encoder):
    """Fills whole 32-bit words: an int8 fill repeats its byte four times over ceil(n/4)
    words (the arena rounds slots up to 16 bytes)."""
    if call.dtype == "int8":
        bits = int(np.array([int(call.value) & 0xFF] * 4, np.uint8).view(np.int32)[0])
        return "OP_FILL", dict(out=e.ref(call.out), n=-(-call.n // 4), bits=bits)
    bits = f32_bits(call.value) if call.dtype == "float32" else int(call.value)
    return "OP_FILL", dict(out=e.ref(call.out), n=call.n, bits=bits)


def enc_resize(call: Resize, e: Encoder):
    return "OP_RESIZE", dict(x=e.ref(call.x), out=e.ref(call.out), N=call.N, H=call.H, W=call.W, C=call.C,
                             OH=call.OH, OW=call.OW, nearest=int(call.nearest), align=int(call.align_corners),
                             half=int(call.half_pixel_centers))


def enc_reduce(call: Reduce, e: Encoder):
    return "OP_REDUCE", dict(x=e.ref(call.x), out=e.ref(call.out), outer=call.outer, n=call.n, inner=call.inner,
                             kind=REDUCE_CODES[call.kind])


def enc_softmax(call: Softmax, e: Encoder):
    return "OP_SOFTMAX", dict(x=e.ref(call.x), out=e.ref(call.out), rows=call.rows, cols=call.cols)


def enc_cast(call: Cast, e: Encoder):
    return "OP_CAST", dict(x=e.ref(call.x), out=e.ref(call.out), n=call.n, kind=CAST_CODES[(call.src, call.dst)])


def _requant_args(q) -> dict:
    return dict(xz=q.x_zero, oz=q.out_zero, qmin=q.qmin, qmax=q.qmax, rz=q.residual_zero,
                rscale=f32_bits(q.residual_scale), out_float=int(q.out_float), act=ACT_CODES[q.act])


def _qconv_rows(c: QConv) -> int:
    """KR: bytes of one gathered filter row (KW*C) rounded up to the 8-byte dot step."""
    return -(-c.g.KW * c.g.C // 8) * 8


def pack_qconv(call: QConv):
    """Filter rows (KW*C bytes zero-padded to KR) packed per 8 output channels as the
    dot_i16x8 microkernel reads them."""
    g, kr, co8 = call.g, _qconv_rows(call), -(-call.CO // 8)

    def pack(w):
        rows = np.zeros((g.KH, kr, co8 * 8), np.int8)
        rows[:, :g.KW * g.C, :call.CO] = w.reshape(g.KH, g.KW * g.C, call.CO)
        # [kh][kb][pair j][elem e][cb][half][lane] -> [cb][kh][kb][j][half][lane][e]
        return rows.reshape(g.KH, kr // 8, 4, 2, co8, 2, 4).transpose(4, 0, 1, 2, 5, 6, 3)
    return pack


def enc_qconv(call: QConv, e: Encoder):
    g, kr, co8 = call.g, _qconv_rows(call), -(-call.CO // 8)
    return "OP_QCONV", dict(
        x=e.ref(call.x, 1), w=e.weight(call.filter, pack_qconv(call), f"qconv{kr}"),
        bias=e.weight(_padded(call.bias, co8 * 8, np.int32)), mult=e.weight(_padded(call.mult, co8 * 8)),
        out=e.ref(call.out, 4 if call.q.out_float else 1), residual=e.ref(call.residual, 1),
        padrow=e.weight(np.full(kr + 16, call.q.x_zero, np.int8)),
        **_geometry(g), CO=call.CO, **_requant_args(call.q), KR=kr)


def pack_qdwconv(w: np.ndarray) -> np.ndarray:
    """[KH,KW,C] -> taps in pairs: [pair][C/8][half][lane][tap of pair] (quant.c op_qdwconv);
    an odd last tap pairs with a zero weight."""
    kh, kw, c = w.shape
    cp, pairs = -(-c // 8) * 8, -(-kh * kw // 2)
    taps = np.zeros((pairs * 2, cp), np.int8)
    taps[:kh * kw, :c] = w.reshape(kh * kw, c)
    return taps.reshape(pairs, 2, cp // 8, 2, 4).transpose(0, 2, 3, 4, 1)


def enc_qdwconv(call: QDepthwiseConv, e: Encoder):
    g, cp = call.g, -(-call.g.C // 8) * 8
    return "OP_QDWCONV", dict(
        x=e.ref(call.x, 1), w=e.weight(call.filter, pack_qdwconv, "qdw"),
        bias=e.weight(_padded(call.bias, cp, np.int32)), mult=e.weight(_padded(call.mult, cp)),
        out=e.ref(call.out, 4 if call.q.out_float else 1), residual=e.ref(call.residual, 1),
        padrow=e.weight(np.full(cp + 16, call.q.x_zero, np.int8)),
        **_geometry(g), **_requant_args(call.q), CP=cp)


def enc_quantize(call: Quantize, e: Encoder):
    return "OP_QUANTIZE", dict(x=e.ref(call.x), out=e.ref(call.out, 1), n=call.n,
                               inv=f32_bits(np.float32(1.0 / call.scale)), zp=call.zero_point)


def enc_dequantize(call: Dequantize, e: Encoder):
    return "OP_DEQUANTIZE", dict(x=e.ref(call.x, 1), out=e.ref(call.out), n=call.n, s=f32_bits(call.scale),
                                 zp=call.zero_point)


def enc_topk(call: TopK, e: Encoder):
    return "OP_TOPK", dict(x=e.ref(call.x), values=e.ref(call.values), indices=e.ref(call.indices), rows=call.rows,
                           n=call.n, k=call.k)


ENCODERS = {Conv: enc_conv, DepthwiseConv: enc_dwconv, Pool: enc_pool, Binary: enc_binary, Unary: enc_unary,
            Copy: enc_copy, Fill: enc_fill, Resize: enc_resize, Reduce: enc_reduce, Softmax: enc_softmax,
            Cast: enc_cast, QConv: enc_qconv, QDepthwiseConv: enc_qdwconv, Quantize: enc_quantize,
            Dequantize: enc_dequantize, TopK: enc_topk, SeparableConv: enc_sepconv, ConvPool: enc_convpool,
            ExpandDepthwise: enc_expdw}


def supports(call) -> bool:
    """A call type with an encoder, inside its kernel's limits."""
    if type(call) not in ENCODERS:
        return False
    if isinstance(call, (DepthwiseConv, QDepthwiseConv)) and call.g.KH * call.g.KW > MAX_DEPTHWISE_TAPS:
        return False
    if isinstance(call, SeparableConv) and (call.dw.g.KH * call.dw.g.KW > MAX_DEPTHWISE_TAPS
                                            or 2 * call.dw.g.C > SEP_SCRATCH):
        return False
    if isinstance(call, ExpandDepthwise):
        g, ce = call.dw.g, call.pw.CO
        window_floats = ((g.KH - 1) * g.DH + 1) * ((g.KW - 1) * g.DW + 1) * ce
        # worth it only where the expanded map is large: a small one stays in cache, and the
        # rows its chunks share would be computed twice (engine().fuse_expansion_above_bytes)
        return (g.KH * g.KW <= MAX_DEPTHWISE_TAPS and window_floats <= EXPDW_SCRATCH
                and g.N * g.H * g.W * ce * 4 >= engine().fuse_expansion_above_bytes)
    if isinstance(call, ConvPool) and (call.conv.residual is not None or call.conv.CO > POOL_CO_MAX):
        return False                   # conv.c holds the four conv pixels of a window in a stack scratch
    if isinstance(call, QConv) and (call.g.KH > 16 or call.g.KH * QMR * _qconv_rows(call) > QSCRATCH):
        return False                   # quant.c gathers QMR rows of KH filter rows into its scratch
    return True


def encode(lowered: Lowered, constants: dict) -> Encoded:
    e = Encoder(constants)
    items = []
    for item in lowered.items:
        if item.call is None:
            items.append(None)
            continue
        if not supports(item.call):
            raise ExecutionError(f"wasm: no kernel for {item.label} ({type(item.call).__name__})")
        op, args = ENCODERS[type(item.call)](item.call, e)
        if set(args) != set(ARGS[op]):            # an encoder and the table disagree: a bug here
            raise AssertionError(f"{op}: encoder gives {sorted(set(args) ^ set(ARGS[op]))} unlike ARGS")
        items.append((op, args, item.label))
    return Encoded(items, e.weights, e.zero_floats)


# ----------------------------------------------------------------------------- extents
def _span(shape, strides) -> tuple[int, int]:
    """(lowest, highest + 1) element offset a strided walk over `shape` touches."""
    lo = sum((d - 1) * s for d, s in zip(shape, strides) if s < 0 and d > 0)
    hi = sum((d - 1) * s for d, s in zip(shape, strides) if s > 0 and d > 0)
    return lo, hi + 1


def _dense(n: int) -> tuple[int, int]:
    return 0, n


def _six_of(a, name) -> list[int]:
    return [getattr(a, f"{name}{i}") for i in range(6)]


def _copy_extents(esize):
    return lambda a: [("src", _span(_six_of(a, "shape"), _six_of(a, "ss")), esize, False),
                      ("dst", _span(_six_of(a, "shape"), _six_of(a, "ds")), esize, True)]


# Per opcode: (argument, element span, element size, written?) of every tensor it
# touches, computed from the same named arguments the C kernel reads.
EXTENTS = {
    "OP_CONV": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                          ("residual", _dense(a.N * a.OH * a.OW * a.CO), 4, False),
                          ("out", _dense(a.N * a.OH * a.OW * a.CO), 4, True)],
    "OP_DWCONV": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                            ("residual", _dense(a.N * a.OH * a.OW * a.C * a.mult), 4, False),
                            ("out", _dense(a.N * a.OH * a.OW * a.C * a.mult), 4, True)],
    "OP_POOL": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                          ("out", _dense(a.N * a.OH * a.OW * a.C), 4, True)],
    "OP_QMAXPOOL": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 1, False),
                              ("out", _dense(a.N * a.OH * a.OW * a.C), 1, True)],
    "OP_BINARY": lambda a: [("x", _span(_six_of(a, "shape"), _six_of(a, "xs")), 4, False),
                            ("y", _span(_six_of(a, "shape"), _six_of(a, "ys")), 4, False),
                            ("out", _dense(int(np.prod(_six_of(a, "shape"), dtype=np.int64))), 4, True)],
    "OP_UNARY": lambda a: [("x", _dense(a.n), 4, False), ("out", _dense(a.n), 4, True)],
    "OP_COPY": _copy_extents(4),
    "OP_COPY8": _copy_extents(1),
    "OP_FILL": lambda a: [("out", _dense(a.n), 4, True)],
    "OP_RESIZE": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                            ("out", _dense(a.N * a.OH * a.OW * a.C), 4, True)],
    "OP_REDUCE": lambda a: [("x", _dense(a.outer * a.n * a.inner), 4, False),
                            ("out", _dense(a.outer * a.inner), 4, True)],
    "OP_SOFTMAX": lambda a: [("x", _dense(a.rows * a.cols), 4, False), ("out", _dense(a.rows * a.cols), 4, True)],
    "OP_CAST": lambda a: [("x", _dense(a.n), 4, False), ("out", _dense(a.n), 4, True)],
    "OP_QCONV": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 1, False),
                           ("residual", _dense(a.N * a.OH * a.OW * a.CO), 1, False),
                           ("out", _dense(a.N * a.OH * a.OW * a.CO), 4 if a.out_float else 1, True)],
    "OP_QDWCONV": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 1, False),
                             ("residual", _dense(a.N * a.OH * a.OW * a.C), 1, False),
                             ("out", _dense(a.N * a.OH * a.OW * a.C), 4 if a.out_float else 1, True)],
    "OP_QUANTIZE": lambda a: [("x", _dense(a.n), 4, False), ("out", _dense(a.n), 1, True)],
    "OP_DEQUANTIZE": lambda a: [("x", _dense(a.n), 1, False), ("out", _dense(a.n), 4, True)],
    "OP_EXPDW": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                           ("residual", _dense(a.N * a.OH * a.OW * a.CE), 4, False),
                           ("out", _dense(a.N * a.OH * a.OW * a.CE), 4, True)],
    "OP_CONVPOOL": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                              ("residual", _dense(0), 4, False),
                              ("out", _dense(a.N * (a.OH // 2) * (a.OW // 2) * a.CO), 4, True)],
    "OP_WINOGRAD": lambda a: EXTENTS["OP_CONV"](a),
    "OP_WINOPOOL": lambda a: EXTENTS["OP_CONVPOOL"](a),
    "OP_SEPCONV": lambda a: [("x", _dense(a.N * a.H * a.W * a.C), 4, False),
                             ("residual", _dense(a.N * a.OH * a.OW * a.CO), 4, False),
                             ("out", _dense(a.N * a.OH * a.OW * a.CO), 4, True)],
    "OP_TOPK": lambda a: [("x", _dense(a.rows * a.n), 4, False), ("values", _dense(a.rows * a.k), 4, True),
                          ("indices", _dense(a.rows * a.k), 4, True)],
}


def operand_extents(item) -> list[tuple[str, object, int, int, bool]]:
    """An encoded item's operands as its kernel touches them: [(argument, its value (an
    Addr, or 0 where an optional one is left out), first byte, end byte relative to it,
    written?)], from EXTENTS over the item's own argument words."""
    op, args, _ = item
    ints = SimpleNamespace(**{k: 0 if isinstance(v, Addr) else int(v) for k, v in args.items()})
    return [(name, args[name], lo * esize, hi * esize, written)
            for name, (lo, hi), esize, written in EXTENTS[op](ints)]


def touched_bytes(encoded: Encoded, i: int, resolve) -> list[tuple[int, int, bool]]:
    """The activation bytes item i's kernel reads and writes once laid out (`resolve` gives
    an Addr's address): [(first, end, written?)].  Weights and the zero row are only read."""
    return [(resolve(ref) + lo, resolve(ref) + hi, written)
            for _, ref, lo, hi, written in operand_extents(encoded.items[i])
            if isinstance(ref, Addr) and ref.kind == "t" and hi > lo]


def barrier_free(touched: list[list[tuple[int, int, bool]]]) -> list[bool]:
    """Per op of a program: may the next op start with no barrier between them?  Greedy
    groups in program order: an op joins the group before it when it writes no byte the
    group touches and reads no byte the group writes, up to GROUP_MAX ops.  (The idea of
    a dependency-aware schedule instead of a barrier after every op is the same one task
    graphs in other runtimes use; here it stays a flag word in the linear program.)"""
    flags = [False] * len(touched)
    group: list[tuple[int, int, bool]] = []
    size = 0
    for j, spans in enumerate(touched):
        if j and size < GROUP_MAX and not any((w1 or w2) and a1 < b2 and a2 < b1
                                              for a1, b1, w1 in group for a2, b2, w2 in spans):
            flags[j - 1] = True
            group += spans
            size += 1
            continue
        group, size = list(spans), 1
    return flags


def check_extents(encoded: Encoded, lowered: Lowered, specs, source: str) -> None:
    """Every byte a kernel call will touch lies inside the slot planned for its tensor,
    and no call writes a weight: checked once per plan, before it reaches wasm memory, so
    a model whose shapes disagree with its kernels fails here, naming the kernel."""
    base = lambda k: lowered.aliases.get(k, k)
    for item in encoded.items:
        if item is None:
            continue
        op, _, label = item
        for name, ref, lo, hi, written in operand_extents(item):
            if not isinstance(ref, Addr):
                if written or ref != 0:
                    raise ExecutionError(f"{source}: kernel {label} ({op}) has no buffer for {name}")
                continue                    # an optional input left out (0)
            if ref.kind != "t":
                if written:
                    raise ExecutionError(f"{source}: kernel {label} ({op}) would write into the weights")
                continue
            planned = slot_bytes(specs[base(ref.key)])
            first, end = ref.extra + lo, ref.extra + hi
            if hi > lo and (first < 0 or end > planned):
                raise ExecutionError(f"{source}: kernel {label} ({op}) would "
                                     f"{'write' if written else 'read'} bytes [{first}, {end}) of tensor "
                                     f"{ref.key!r} ({name}), whose slot holds {planned} bytes")
