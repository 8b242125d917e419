"""int8 ops of quantised models (made by `webtensor.quantize`), with exact numpy references.

Tensors: int8 with per-tensor affine parameters, real = (q - zero_point) * scale.
Filters: int8, per-output-channel symmetric (zero point 0).  The arithmetic every
backend must reproduce bit for bit (the wasm kernels do the same float32 operations
in the same order; tests compare integers exactly):

    acc  = bias_q[c] + sum(x_q * w_q)                 int32; padding reads x's zero point
    y    = float32(acc) * multiplier[c]               float32
    y    = y + float32(r_q - r_zero) * residual_scale (a fused residual add, optional)
    int8 output:    q = clamp(rint(y) + out_zero, qmin, qmax)  (rint: half to even;
                    the activation is folded into qmin/qmax)
    float32 output: y, then the activation (none, Relu, Relu6)

bias_q already holds -x_zero * sum(w_q) so that the inner loop multiplies raw int8
values (the zero-point correction idea is the usual one of gemmlowp/XNNPACK; our code).
"""
from __future__ import annotations

import numpy as np

from .nn import _taps, conv_geometry
from .spec import TensorSpec, check, register, shape_of

I8, I32, F32 = np.dtype(np.int8), np.dtype(np.int32), np.dtype(np.float32)
QACTS = ("", "Relu", "Relu6")


def quantize_values(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 -> int8: clamp(rint(x * (1/scale)) + zero_point)."""
    inv = np.float32(1.0 / scale)
    y = np.rint(np.asarray(x, np.float32) * inv) + np.float32(zero_point)
    return np.clip(y, -128, 127).astype(I8)


def dequantize_values(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.int32) - np.int32(zero_point)).astype(F32) * np.float32(scale)


def requantize(acc: np.ndarray, multiplier: np.ndarray, residual: np.ndarray | None, attrs) -> np.ndarray:
    y = acc.astype(F32) * multiplier.astype(F32)
    if residual is not None:
        r = (residual.astype(np.int32) - np.int32(attrs.get("residual_zero_point", 0))).astype(F32)
        y = y + r * np.float32(attrs.get("residual_scale", 1.0))
    if attrs.get("out_dtype", "int8") == "float32":
        act = attrs.get("activation", "")
        if act in ("Relu", "Relu6"):
            y = np.maximum(y, np.float32(0))
        if act == "Relu6":
            y = np.minimum(y, np.float32(6))
        return y
    y = np.rint(y) + np.float32(attrs.get("out_zero_point", 0))
    y = np.clip(y, np.float32(attrs.get("qmin", -128)), np.float32(attrs.get("qmax", 127)))
    return y.astype(I8)


def _exact_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer matrix product through float64 BLAS: int8 x int8 products summed over
    K < 2^37 / 2^14 terms are exact in float64's 53-bit mantissa."""
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def qconv_acc(x, w, attrs, depthwise: bool) -> np.ndarray:
    kh, kw = w.shape[:2]
    out_hw, strides, dil, pads = conv_geometry(x.shape, kh, kw, attrs)
    n, c = x.shape[0], x.shape[3]
    fill = int(attrs.get("x_zero_point", 0))
    if depthwise:
        acc = np.zeros((n, *out_hw, c), np.int64)
        for i, j, view in _taps(x, kh, kw, out_hw, strides, dil, pads, fill=fill):
            acc += view.astype(np.int64) * w[i, j, :, 0].astype(np.int64)
        return acc
    acc = np.zeros((n * out_hw[0] * out_hw[1], w.shape[3]), np.int64)
    for i, j, view in _taps(x, kh, kw, out_hw, strides, dil, pads, fill=fill):
        acc += _exact_dot(view.reshape(-1, c), w[i, j])
    return acc.reshape(n, *out_hw, w.shape[3])


def _check_q(ins, attrs, where):
    x, w, bias, mult = ins[:4]
    check(x.dtype == I8 and w.dtype == I8, f"{where}: input and filter must be int8 (got {x.dtype}, {w.dtype})")
    check(bias.dtype == I32 and mult.dtype == F32, f"{where}: bias must be int32 and multiplier float32")
    check(attrs.get("out_dtype", "int8") in ("int8", "float32"), f"{where}: out_dtype must be int8 or float32")
    check(attrs.get("activation", "") in QACTS, f"{where}: activation must be one of {QACTS}")


def _finish(acc, ins, attrs):
    acc = acc + ins[2].astype(np.int64)
    check(np.abs(acc).max(initial=0) < 2 ** 31, "int32 accumulator overflow")
    return [requantize(acc.astype(np.int32), ins[3], ins[4] if len(ins) > 4 else None, attrs)]


def _out_dtype(attrs):
    return F32 if attrs.get("out_dtype", "int8") == "float32" else I8


def _qconv_shape(depthwise):
    def rule(ins, attrs):
        xs, ws = shape_of(ins[0]), shape_of(ins[1])
        check(len(xs) == 4 and len(ws) == 4 and xs[3] == ws[2], f"input {list(xs)} does not match filter {list(ws)}")
        check(not depthwise or ws[3] == 1, "int8 depthwise needs channel multiplier 1")
        (oh, ow), *_ = conv_geometry(xs, ws[0], ws[1], attrs)
        co = ws[2] if depthwise else ws[3]
        check(tuple(shape_of(ins[2])) == (co,) and tuple(shape_of(ins[3])) == (co,), "bias/multiplier size != channels")
        if len(ins) > 4:
            check(tuple(shape_of(ins[4])) == (xs[0], oh, ow, co), "residual shape != output shape")
        return [TensorSpec((xs[0], oh, ow, co), _out_dtype(attrs))]
    return rule


@register("WtQConv2D", ["input", "filter", "bias", "multiplier", "residual?"], _qconv_shape(False), foldable=False)
def qconv2d(ins, attrs):
    _check_q(ins, attrs, "WtQConv2D")
    return _finish(qconv_acc(ins[0], ins[1], attrs, False), ins, attrs)


@register("WtQDepthwiseConv2D", ["input", "filter", "bias", "multiplier", "residual?"], _qconv_shape(True),
          foldable=False)
def qdepthwise(ins, attrs):
    _check_q(ins, attrs, "WtQDepthwiseConv2D")
    return _finish(qconv_acc(ins[0], ins[1], attrs, True), ins, attrs)


def _qmatmul_shape(ins, attrs):
    xs, ws = shape_of(ins[0]), shape_of(ins[1])
    check(len(xs) == 2 and len(ws) == 2 and xs[1] == ws[0], f"int8 MatMul shapes {list(xs)} x {list(ws)}")
    check(tuple(shape_of(ins[2])) == (ws[1],) and tuple(shape_of(ins[3])) == (ws[1],), "bias/multiplier size")
    return [TensorSpec((xs[0], ws[1]), _out_dtype(attrs))]


@register("WtQMatMul", ["a", "b", "bias", "multiplier", "residual?"], _qmatmul_shape, foldable=False)
def qmatmul(ins, attrs):
    _check_q(ins, attrs, "WtQMatMul")
    return _finish(_exact_dot(ins[0], ins[1]), ins, attrs)


def _same_shape_as(dtype):
    return lambda ins, attrs: [TensorSpec(shape_of(ins[0]), dtype)]


@register("WtQuantize", ["input"], _same_shape_as(I8))
def quantize_op(ins, attrs):
    check(ins[0].dtype == F32, "WtQuantize needs float32 input")
    return [quantize_values(ins[0], attrs["scale"], attrs["zero_point"])]


@register("WtDequantize", ["input"], _same_shape_as(F32))
def dequantize_op(ins, attrs):
    check(ins[0].dtype == I8, "WtDequantize needs int8 input")
    return [dequantize_values(ins[0], attrs["scale"], attrs["zero_point"])]
