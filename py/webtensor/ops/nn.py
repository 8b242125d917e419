"""Convolutions, matmul, pooling, resize, softmax, activations (NHWC, TF semantics)."""
from __future__ import annotations

import math

import numpy as np

from .spec import TensorSpec, check, known, register, shape_of

F32 = np.dtype(np.float32)


# ----------------------------------------------------------------------------- activations
def sigmoid(x):
    # split by sign so exp never overflows
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype)


_SELU_A, _SELU_L = 1.6732632423543772, 1.0507009873554805

ACTIVATIONS = {
    "Relu": lambda x, a, attrs: np.maximum(x, 0).astype(x.dtype),
    "Relu6": lambda x, a, attrs: np.clip(x, 0, 6).astype(x.dtype),
    "Elu": lambda x, a, attrs: _elu(x),
    "Selu": lambda x, a, attrs: (_SELU_L * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0)))).astype(x.dtype),
    "Sigmoid": lambda x, a, attrs: sigmoid(x),
    "Tanh": lambda x, a, attrs: np.tanh(x),
    "LeakyRelu": lambda x, a, attrs: np.where(x > 0, x, x * np.float32(attrs.get("leakyrelu_alpha", attrs.get("alpha", 0.2)))).astype(x.dtype),
    "Prelu": lambda x, a, attrs: np.where(x > 0, x, x * a).astype(x.dtype),
}


def same_shape(ins, attrs):
    return [TensorSpec(ins[0].shape, ins[0].dtype)]


for _name in ("Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh", "LeakyRelu"):
    register(_name, ["x"], same_shape)(lambda ins, attrs, _f=ACTIVATIONS[_name]: [_f(ins[0], None, attrs)])


def _prelu_shape(ins, attrs):
    from .spec import broadcast_shapes
    return [TensorSpec(broadcast_shapes(shape_of(ins[0]), shape_of(ins[1])), ins[0].dtype)]


@register("Prelu", ["x", "alpha"], _prelu_shape)
def prelu(ins, attrs):
    return [ACTIVATIONS["Prelu"](ins[0], ins[1], attrs)]


def _softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


register("Softmax", ["logits"], same_shape)(lambda ins, attrs: [_softmax(ins[0])])


@register("LogSoftmax", ["logits"], same_shape)
def log_softmax(ins, attrs):
    x = ins[0]
    m = np.max(x, axis=-1, keepdims=True)
    return [(x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))).astype(x.dtype)]


# ----------------------------------------------------------------------------- padding rules
def window_geometry(size: int, k: int, stride: int, dilation: int, padding: str,
                    explicit: tuple[int, int] | None = None) -> tuple[int, int, int]:
    """-> (output size, pad before, pad after) along one spatial axis, as TF computes them."""
    check(k >= 1 and stride >= 1 and dilation >= 1, f"bad window k={k} stride={stride} dilation={dilation}")
    eff = (k - 1) * dilation + 1
    if padding == "VALID":
        out, before, after = (size - eff) // stride + 1, 0, 0
    elif padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + eff - size, 0)
        before, after = total // 2, total - total // 2
    elif padding == "EXPLICIT":
        check(explicit is not None, "EXPLICIT padding needs explicit_paddings")
        before, after = explicit
        out = (size + before + after - eff) // stride + 1
    else:
        raise ValueError(f"unknown padding {padding!r}")
    check(out >= 1, f"window of size {eff} does not fit input size {size} with {padding} padding")
    return out, before, after


def _spatial(attrs, key="strides", default=(1, 1, 1, 1)):
    v = attrs.get(key) or list(default)
    check(len(v) == 4 and v[0] == 1 and v[3] == 1, f"{key} must be [1, h, w, 1] (NHWC), got {v}")
    return int(v[1]), int(v[2])


def _explicit(attrs):
    p = attrs.get("explicit_paddings") or []
    if attrs.get("padding") != "EXPLICIT":
        return None, None
    check(len(p) == 8, f"explicit_paddings must have 8 values, got {p}")
    return (p[2], p[3]), (p[4], p[5])


def conv_geometry(x_shape, kh, kw, attrs):
    """Output H, W and the pads of a NHWC window op."""
    check(attrs.get("data_format", "NHWC") == "NHWC", "only NHWC data_format is supported")
    check(len(x_shape) == 4, f"input must be rank 4 (NHWC), got shape {list(x_shape)}")
    sh, sw = _spatial(attrs, "strides")
    dh, dw = _spatial(attrs, "dilations")
    eh, ew = _explicit(attrs)
    pad = attrs.get("padding", "VALID")
    oh, pt, pb = window_geometry(x_shape[1], kh, sh, dh, pad, eh)
    ow, pl, pr = window_geometry(x_shape[2], kw, sw, dw, pad, ew)
    return (oh, ow), (sh, sw), (dh, dw), ((pt, pb), (pl, pr))


def _taps(x, kh, kw, out_hw, strides, dilations, pads, fill=0.0):
    """Yield (i, j, view) for each filter tap: the strided input window it multiplies."""
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh, ow = out_hw
    sh, sw = strides
    dh, dw = dilations
    for i in range(kh):
        for j in range(kw):
            yield i, j, x[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw, :]


def conv2d(x, w, attrs):
    kh, kw, cin, cout = w.shape
    check(x.shape[3] == cin, f"input has {x.shape[3]} channels but the filter expects {cin}")
    out_hw, strides, dil, pads = conv_geometry(x.shape, kh, kw, attrs)
    n = x.shape[0]
    if kh == kw == 1 and strides == (1, 1) and pads == ((0, 0), (0, 0)):
        return (x.reshape(-1, cin) @ w.reshape(cin, cout)).reshape(n, *out_hw, cout)
    acc = np.zeros((n * out_hw[0] * out_hw[1], cout), np.float32)
    for i, j, view in _taps(x, kh, kw, out_hw, strides, dil, pads):
        acc += view.reshape(-1, cin) @ w[i, j]
    return acc.reshape(n, *out_hw, cout)


def depthwise_conv2d(x, w, attrs):
    kh, kw, c, mult = w.shape
    check(x.shape[3] == c, f"input has {x.shape[3]} channels but the filter expects {c}")
    out_hw, strides, dil, pads = conv_geometry(x.shape, kh, kw, attrs)
    n = x.shape[0]
    acc = np.zeros((n, *out_hw, c, mult), np.float32)
    for i, j, view in _taps(x, kh, kw, out_hw, strides, dil, pads):
        acc += view[..., None] * w[i, j]
    return acc.reshape(n, *out_hw, c * mult)


def apply_fused(y, fused_ops, extra, attrs, where="fused op"):
    """Epilogue of _FusedConv2D/_FusedMatMul/FusedDepthwiseConv2dNative: BiasAdd or
    FusedBatchNorm, then an optional activation; `extra` are the op's extra inputs."""
    args = list(extra)
    for f in fused_ops:
        if f == "BiasAdd":
            check(len(args) >= 1, f"{where}: BiasAdd needs a bias input")
            b = args.pop(0)
            check(b.ndim == 1 and b.shape[0] == y.shape[-1],
                  f"{where}: bias shape {list(b.shape)} does not match {y.shape[-1]} channels")
            y = y + b
        elif f == "FusedBatchNorm":
            check(len(args) >= 4, f"{where}: FusedBatchNorm needs scale, offset, mean, variance")
            scale, offset, mean, var = (args.pop(0) for _ in range(4))
            eps = np.float32(attrs.get("epsilon", 1e-3))
            y = (y - mean) * (scale / np.sqrt(var + eps)) + offset
        elif f in ACTIVATIONS:
            alpha = None
            if f == "Prelu":
                check(len(args) >= 1, f"{where}: Prelu needs an alpha input")
                alpha = args.pop(0)
            y = ACTIVATIONS[f](y, alpha, attrs)
        else:
            raise ValueError(f"{where}: unsupported fused op {f!r}")
    return y.astype(np.float32, copy=False)


FUSABLE = {"BiasAdd", "FusedBatchNorm"} | set(ACTIVATIONS)


def _fused_list(attrs):
    ops = attrs.get("fused_ops") or []
    bad = [f for f in ops if f not in FUSABLE]
    check(not bad, f"unsupported fused ops {bad}")
    return ops


def _conv_shape(kind):
    def rule(ins, attrs):
        xs, ws = shape_of(ins[0]), shape_of(ins[1])
        check(len(ws) == 4, f"filter must be rank 4, got shape {list(ws)}")
        check(len(xs) == 4 and xs[3] == ws[2],
              f"input shape {list(xs)} does not match filter shape {list(ws)} (channels)")
        _fused_list(attrs)
        (oh, ow), *_ = conv_geometry(xs, ws[0], ws[1], attrs)
        cout = ws[3] if kind == "conv" else ws[2] * ws[3]
        return [TensorSpec((xs[0], oh, ow, cout), F32)]
    return rule


register("Conv2D", ["input", "filter"], _conv_shape("conv"))(
    lambda ins, attrs: [conv2d(ins[0], ins[1], attrs)])
register("_FusedConv2D", ["input", "filter", "args*"], _conv_shape("conv"))(
    lambda ins, attrs: [apply_fused(conv2d(ins[0], ins[1], attrs), _fused_list(attrs), ins[2:], attrs)])
register("DepthwiseConv2dNative", ["input", "filter"], _conv_shape("depthwise"))(
    lambda ins, attrs: [depthwise_conv2d(ins[0], ins[1], attrs)])
register("FusedDepthwiseConv2dNative", ["input", "filter", "args*"], _conv_shape("depthwise"))(
    lambda ins, attrs: [apply_fused(depthwise_conv2d(ins[0], ins[1], attrs), _fused_list(attrs), ins[2:], attrs)])


def _transposed_geometry(in_hw, out_size, kh, kw, attrs):
    """Pads of a transposed conv: those of the forward conv from its output back to its input."""
    (oh, ow), strides, dil, pads = conv_geometry((1, *out_size, 1), kh, kw, attrs)
    check(dil == (1, 1), "transposed conv with dilations is not supported")
    check((oh, ow) == tuple(in_hw), f"output size {list(out_size)} with this filter, strides and padding "
                                    f"maps back to {[oh, ow]}, not the input's {list(in_hw)}")
    return strides, pads


def _conv_transpose_shape(ins, attrs):
    size = [int(v) for v in np.asarray(known(ins[0])).reshape(-1)]
    ws, xs = shape_of(ins[1]), shape_of(ins[2])
    check(len(size) == 4 and len(ws) == 4 and len(xs) == 4, f"Conv2DBackpropInput needs a 4-value size and rank-4 "
                                                            f"filter and input, got {size}, {list(ws)}, {list(xs)}")
    check(ws[3] == xs[3] and size[3] == ws[2] and size[0] == xs[0],
          f"Conv2DBackpropInput: size {size}, filter {list(ws)} and input {list(xs)} do not agree on channels/batch")
    _transposed_geometry(xs[1:3], size[1:3], ws[0], ws[1], attrs)
    return [TensorSpec(tuple(size), F32)]


@register("Conv2DBackpropInput", ["input_sizes", "filter", "out_backprop"], _conv_transpose_shape)
def conv2d_transpose(ins, attrs):
    """The transposed conv (TF's Conv2DBackpropInput; filter [KH, KW, CO, CI]): each input pixel
    scatters x @ w[i, j].T to the output cell the forward conv would have read it from."""
    size, w, x = [int(v) for v in np.asarray(ins[0]).reshape(-1)], ins[1], ins[2]
    kh, kw, co, ci = w.shape
    (sh, sw), ((pt, pb), (pl, pr)) = _transposed_geometry(x.shape[1:3], size[1:3], kh, kw, attrs)
    n, h, wd, _ = x.shape
    full = np.zeros((n, size[1] + pt + pb + kh, size[2] + pl + pr + kw, co), np.float32)
    flat = x.reshape(-1, ci).astype(np.float32)
    for i in range(kh):
        for j in range(kw):
            full[:, i: i + (h - 1) * sh + 1: sh, j: j + (wd - 1) * sw + 1: sw, :] += \
                (flat @ w[i, j].T.astype(np.float32)).reshape(n, h, wd, co)
    return [full[:, pt: pt + size[1], pl: pl + size[2], :]]


# ----------------------------------------------------------------------------- matmul
def _mm_dims(a_shape, b_shape, ta, tb):
    check(len(a_shape) >= 2 and len(b_shape) >= 2, f"matmul needs rank >= 2, got {list(a_shape)}, {list(b_shape)}")
    m, k1 = (a_shape[-1], a_shape[-2]) if ta else (a_shape[-2], a_shape[-1])
    k2, n = (b_shape[-1], b_shape[-2]) if tb else (b_shape[-2], b_shape[-1])
    check(k1 == k2, f"matmul inner dimensions differ: {list(a_shape)} x {list(b_shape)}")
    return m, n


def _matmul_shape(ta_key, tb_key, batched):
    def rule(ins, attrs):
        a, b = shape_of(ins[0]), shape_of(ins[1])
        ta, tb = bool(attrs.get(ta_key)), bool(attrs.get(tb_key))
        m, n = _mm_dims(a, b, ta, tb)
        if not batched:
            check(len(a) == 2 and len(b) == 2, f"MatMul needs rank-2 inputs, got {list(a)}, {list(b)}")
            _fused_list(attrs)
            return [TensorSpec((m, n), ins[0].dtype)]
        from .spec import broadcast_shapes
        return [TensorSpec(broadcast_shapes(a[:-2], b[:-2]) + (m, n), ins[0].dtype)]
    return rule


def matmul(a, b, ta, tb):
    if ta:
        a = np.swapaxes(a, -1, -2)
    if tb:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)


register("MatMul", ["a", "b"], _matmul_shape("transpose_a", "transpose_b", False))(
    lambda ins, attrs: [matmul(ins[0], ins[1], attrs.get("transpose_a"), attrs.get("transpose_b"))])
register("_FusedMatMul", ["a", "b", "args*"], _matmul_shape("transpose_a", "transpose_b", False))(
    lambda ins, attrs: [apply_fused(matmul(ins[0], ins[1], attrs.get("transpose_a"), attrs.get("transpose_b")),
                                    _fused_list(attrs), ins[2:], attrs)])
register(("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"), ["x", "y"], _matmul_shape("adj_x", "adj_y", True))(
    lambda ins, attrs: [matmul(ins[0], ins[1], attrs.get("adj_x"), attrs.get("adj_y"))])


def _bias_shape(ins, attrs):
    xs, bs = shape_of(ins[0]), shape_of(ins[1])
    check(len(bs) == 1 and len(xs) >= 1 and bs[0] == xs[-1], f"bias {list(bs)} does not match input {list(xs)}")
    return [TensorSpec(xs, ins[0].dtype)]


register("BiasAdd", ["value", "bias"], _bias_shape)(lambda ins, attrs: [ins[0] + ins[1]])


def _batchnorm_shape(ins, attrs):
    return [TensorSpec(ins[0].shape, ins[0].dtype)] + [TensorSpec(ins[1].shape, ins[1].dtype)] * 5


@register(("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"),
          ["x", "scale", "offset", "mean", "variance"], _batchnorm_shape)
def fused_batch_norm(ins, attrs):
    x, scale, offset, mean, var = ins[:5]
    eps = np.float32(attrs.get("epsilon", 1e-3))
    y = ((x - mean) * (scale / np.sqrt(var + eps)) + offset).astype(np.float32)
    return [y, mean, var, mean, var, var]


# ----------------------------------------------------------------------------- pooling
def _pool_shape(ins, attrs):
    xs = shape_of(ins[0])
    kh, kw = _spatial(attrs, "ksize")
    (oh, ow), *_ = conv_geometry(xs, kh, kw, attrs)
    return [TensorSpec((xs[0], oh, ow, xs[3]), ins[0].dtype)]


@register("MaxPool", ["input"], _pool_shape)
def max_pool(ins, attrs):
    x = ins[0]
    kh, kw = _spatial(attrs, "ksize")
    out_hw, strides, dil, pads = conv_geometry(x.shape, kh, kw, attrs)
    fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    out = None
    for _, _, view in _taps(x, kh, kw, out_hw, strides, dil, pads, fill=fill):
        out = view.copy() if out is None else np.maximum(out, view)
    return [out]


@register("AvgPool", ["value"], _pool_shape)
def avg_pool(ins, attrs):
    """TF excludes padded cells from the average (divides by the count of real cells)."""
    x = ins[0]
    kh, kw = _spatial(attrs, "ksize")
    out_hw, strides, dil, pads = conv_geometry(x.shape, kh, kw, attrs)
    ones = np.ones((1, x.shape[1], x.shape[2], 1), np.float32)
    total = np.zeros((x.shape[0], *out_hw, x.shape[3]), np.float32)
    count = np.zeros((1, *out_hw, 1), np.float32)
    for (_, _, v), (_, _, c) in zip(_taps(x, kh, kw, out_hw, strides, dil, pads),
                                    _taps(ones, kh, kw, out_hw, strides, dil, pads)):
        total += v
        count += c
    return [(total / count).astype(x.dtype)]


# ----------------------------------------------------------------------------- resize
def _resize_shape(ins, attrs):
    xs = shape_of(ins[0])
    check(len(xs) == 4, f"images must be rank 4, got {list(xs)}")
    size = [int(v) for v in np.asarray(known(ins[1])).reshape(-1)]
    check(len(size) == 2 and min(size) >= 1, f"size must be 2 positive ints, got {size}")
    return [TensorSpec((xs[0], size[0], size[1], xs[3]), F32)]


def _resize_scale(in_size, out_size, align_corners):
    if align_corners and out_size > 1:
        return (in_size - 1) / (out_size - 1)
    return in_size / out_size


def _bilinear_axis(in_size, out_size, align_corners, half_pixel):
    scale = _resize_scale(in_size, out_size, align_corners)
    dst = np.arange(out_size, dtype=np.float64)
    src = (dst + 0.5) * scale - 0.5 if half_pixel else dst * scale
    floor = np.floor(src)
    lo = np.clip(floor, 0, in_size - 1).astype(np.intp)
    hi = np.clip(np.ceil(src) if half_pixel else floor + 1, 0, in_size - 1).astype(np.intp)
    frac = (src - floor).astype(np.float32)
    return lo, hi, frac


@register("ResizeBilinear", ["images", "size"], _resize_shape, foldable=False)
def resize_bilinear(ins, attrs):
    x = ins[0].astype(np.float32, copy=False)
    oh, ow = (int(v) for v in np.asarray(ins[1]).reshape(-1))
    ac, hp = bool(attrs.get("align_corners")), bool(attrs.get("half_pixel_centers"))
    check(not (ac and hp), "align_corners and half_pixel_centers cannot both be true")
    y0, y1, fy = _bilinear_axis(x.shape[1], oh, ac, hp)
    x0, x1, fx = _bilinear_axis(x.shape[2], ow, ac, hp)
    top, bottom = x[:, y0], x[:, y1]
    fx_ = fx[None, None, :, None]
    t = top[:, :, x0] + (top[:, :, x1] - top[:, :, x0]) * fx_
    b = bottom[:, :, x0] + (bottom[:, :, x1] - bottom[:, :, x0]) * fx_
    return [(t + (b - t) * fy[None, :, None, None]).astype(np.float32)]


def _nearest_axis(in_size, out_size, align_corners, half_pixel):
    scale = _resize_scale(in_size, out_size, align_corners)
    dst = np.arange(out_size, dtype=np.float64)
    if align_corners:
        src = np.floor(dst * scale + 0.5)      # TF's roundf: half away from zero (src >= 0)
    elif half_pixel:
        src = np.floor((dst + 0.5) * scale)
    else:
        src = np.floor(dst * scale)
    return np.clip(src, 0, in_size - 1).astype(np.intp)


def _nearest_shape(ins, attrs):
    (spec,) = _resize_shape(ins, attrs)
    return [TensorSpec(spec.shape, ins[0].dtype)]


@register("ResizeNearestNeighbor", ["images", "size"], _nearest_shape, foldable=False)
def resize_nearest(ins, attrs):
    x = ins[0]
    oh, ow = (int(v) for v in np.asarray(ins[1]).reshape(-1))
    ac, hp = bool(attrs.get("align_corners")), bool(attrs.get("half_pixel_centers"))
    ys = _nearest_axis(x.shape[1], oh, ac, hp)
    xs = _nearest_axis(x.shape[2], ow, ac, hp)
    return [x[:, ys][:, :, xs]]


def conv_flops(x_shape, w_shape, out_shape, depthwise=False) -> int:
    """Multiply-adds x2 of a conv; used by benchmarks to report GFLOP/s."""
    kh, kw = w_shape[0], w_shape[1]
    per_out = kh * kw * (1 if depthwise else w_shape[2])
    return 2 * math.prod(out_shape) * per_out
