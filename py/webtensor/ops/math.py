"""Element-wise binary/unary ops, comparisons, reductions, ArgMax, Cast, Select, TopK."""
from __future__ import annotations

import numpy as np

from .spec import TensorSpec, broadcast_shapes, check, known, norm_axis, register, shape_of

BOOL = np.dtype(np.bool_)
I32 = np.dtype(np.int32)


def _keep(x, like):
    """numpy may promote (int32 / int32 -> float64); TF keeps the input dtype."""
    return np.asarray(x).astype(like.dtype, copy=False)


def _floordiv(a, b):
    if a.dtype.kind == "f":
        return np.floor(a / b)
    return np.floor_divide(a, b)


def _realdiv(a, b):
    if a.dtype.kind in "iu":
        # TF's Div on ints truncates toward zero (C semantics)
        q = np.trunc(a.astype(np.float64) / b)
        return q
    return a / b


BINARY = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "RealDiv": _realdiv, "Div": _realdiv, "DivNoNan": lambda a, b: np.where(b == 0, 0, a / np.where(b == 0, 1, b)),
    "FloorDiv": _floordiv, "FloorMod": np.mod, "Maximum": np.maximum, "Minimum": np.minimum,
    "Pow": np.power, "SquaredDifference": lambda a, b: (a - b) * (a - b),
}
COMPARE = {
    "Equal": np.equal, "NotEqual": np.not_equal, "Greater": np.greater, "GreaterEqual": np.greater_equal,
    "Less": np.less, "LessEqual": np.less_equal, "LogicalAnd": np.logical_and, "LogicalOr": np.logical_or,
}


def _binary_shape(out_dtype=None):
    def rule(ins, attrs):
        a, b = ins
        check(a.dtype == b.dtype, f"operand dtypes differ: {a.dtype} and {b.dtype}")
        return [TensorSpec(broadcast_shapes(shape_of(a), shape_of(b)), out_dtype or a.dtype)]
    return rule


def _binary_ref(fn, out_dtype=None):
    def ref(ins, attrs):
        a, b = ins
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = fn(a, b)
        return [np.asarray(r, dtype=out_dtype) if out_dtype is not None else _keep(r, a)]
    return ref


for _n, _f in BINARY.items():
    register(_n, ["x", "y"], _binary_shape())(_binary_ref(_f))
for _n, _f in COMPARE.items():
    register(_n, ["x", "y"], _binary_shape(BOOL))(_binary_ref(_f, np.bool_))

UNARY = {
    "Exp": np.exp, "Log": np.log, "Sqrt": np.sqrt, "Rsqrt": lambda x: 1 / np.sqrt(x),
    "Reciprocal": lambda x: 1 / x, "Inv": lambda x: 1 / x, "Square": np.square, "Neg": np.negative,
    "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil, "Round": np.round,  # Round: half to even, as TF
    "Sign": np.sign, "Sin": np.sin, "Cos": np.cos, "Softplus": lambda x: np.logaddexp(0, x),
    "Log1p": np.log1p, "Expm1": np.expm1, "LogicalNot": np.logical_not, "Erf": None,
}
del UNARY["Erf"]


def _unary_shape(ins, attrs):
    return [TensorSpec(ins[0].shape, ins[0].dtype)]


for _n, _f in UNARY.items():
    def _ref(ins, attrs, _f=_f):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return [_keep(_f(ins[0]), ins[0])]
    register(_n, ["x"], _unary_shape)(_ref)


def _addn_shape(ins, attrs):
    shapes = {shape_of(s) for s in ins}
    check(len(shapes) == 1, f"AddN inputs must share one shape, got {sorted(shapes)}")
    return [TensorSpec(ins[0].shape, ins[0].dtype)]


@register("AddN", ["inputs*"], _addn_shape)
def add_n(ins, attrs):
    out = ins[0].copy()
    for x in ins[1:]:
        out += x
    return [out]


# ----------------------------------------------------------------------------- reductions
def _axes(axis_value, rank):
    axes = np.asarray(axis_value).reshape(-1).tolist()
    return tuple(sorted({norm_axis(int(a), rank) for a in axes}))


def _reduce_shape(out_dtype=None):
    def rule(ins, attrs):
        xs = shape_of(ins[0])
        axes = _axes(known(ins[1]), len(xs))
        keep = bool(attrs.get("keep_dims", attrs.get("keepdims", False)))
        shape = tuple(1 if i in axes else d for i, d in enumerate(xs)) if keep else \
            tuple(d for i, d in enumerate(xs) if i not in axes)
        return [TensorSpec(shape, out_dtype or ins[0].dtype)]
    return rule


def _int_mean(x, axis, keepdims):
    n = int(np.prod([x.shape[a] for a in axis])) if axis else 1
    s = np.sum(x.astype(np.int64), axis=axis, keepdims=keepdims)
    return np.trunc(s / n) if n else s


REDUCE = {"Mean": np.mean, "Sum": np.sum, "Max": np.max, "Min": np.min, "Prod": np.prod,
          "All": np.all, "Any": np.any}

for _n, _f in REDUCE.items():
    def _ref(ins, attrs, _f=_f, _n=_n):
        x = ins[0]
        axes = _axes(ins[1], x.ndim)
        keep = bool(attrs.get("keep_dims", attrs.get("keepdims", False)))
        if _n == "Mean" and x.dtype.kind in "iu":
            return [_keep(_int_mean(x, axes, keep), x)]
        if _n in ("Max", "Min"):
            check(all(x.shape[a] > 0 for a in axes), f"{_n} over an empty axis")
        return [_keep(_f(x, axis=axes, keepdims=keep), x)]
    register(_n, ["input", "axis"], _reduce_shape(BOOL if _n in ("All", "Any") else None))(_ref)


def _arg_shape(ins, attrs):
    xs = shape_of(ins[0])
    ax = norm_axis(int(np.asarray(known(ins[1])).reshape(-1)[0]), len(xs))
    return [TensorSpec(tuple(d for i, d in enumerate(xs) if i != ax), np.dtype(attrs.get("output_type", I32)))]


for _n, _f in (("ArgMax", np.argmax), ("ArgMin", np.argmin)):
    def _ref(ins, attrs, _f=_f):
        x = ins[0]
        ax = norm_axis(int(np.asarray(ins[1]).reshape(-1)[0]), x.ndim)
        check(x.shape[ax] > 0, "arg reduction over an empty axis")
        return [_f(x, axis=ax).astype(attrs.get("output_type", I32))]
    register(_n, ["input", "dimension"], _arg_shape)(_ref)


# ----------------------------------------------------------------------------- cast / select / topk
def _cast_shape(ins, attrs):
    dst = attrs["DstT"]
    check(isinstance(dst, np.dtype) and dst.kind in "biuf",
          f"Cast to {getattr(dst, 'name', dst)} is not supported (numeric and bool only)")
    return [TensorSpec(ins[0].shape, dst)]


@register("Cast", ["x"], _cast_shape)
def cast(ins, attrs):
    x, dst = ins[0], np.dtype(attrs["DstT"])
    if dst == BOOL:
        return [x != 0]                       # TF: nonzero -> true (0.5 -> true)
    if x.dtype.kind == "f" and dst.kind in "iu":
        with np.errstate(invalid="ignore"):
            return [np.trunc(x).astype(dst)]   # truncation toward zero
    return [x.astype(dst)]


def _select_shape(v2):
    def rule(ins, attrs):
        c, a, b = (shape_of(s) for s in ins)
        check(ins[1].dtype == ins[2].dtype, "Select branches must share a dtype")
        if v2:
            return [TensorSpec(broadcast_shapes(c, a, b), ins[1].dtype)]
        check(a == b, f"Select branches must have one shape, got {list(a)} and {list(b)}")
        check(c == a or (len(c) == 1 and len(a) >= 1 and c[0] == a[0]),
              f"Select condition shape {list(c)} must equal {list(a)} or be [{a[0] if a else '?'}]")
        return [TensorSpec(a, ins[1].dtype)]
    return rule


@register("Select", ["condition", "t", "e"], _select_shape(False))
def select(ins, attrs):
    c, a, b = ins
    if c.ndim == 1 and a.ndim > 1:
        c = c.reshape((-1,) + (1,) * (a.ndim - 1))
    return [np.where(c, a, b)]


register("SelectV2", ["condition", "t", "e"], _select_shape(True))(
    lambda ins, attrs: [np.where(ins[0], ins[1], ins[2]).astype(ins[1].dtype)])


def _topk_shape(ins, attrs):
    xs = shape_of(ins[0])
    k = int(np.asarray(known(ins[1])).reshape(-1)[0])
    check(len(xs) >= 1 and 0 <= k <= xs[-1], f"k={k} must be in [0, {xs[-1] if xs else 0}]")
    shape = xs[:-1] + (k,)
    return [TensorSpec(shape, ins[0].dtype), TensorSpec(shape, I32)]


@register("TopKV2", ["input", "k"], _topk_shape)
def top_k(ins, attrs):
    x = ins[0]
    k = int(np.asarray(ins[1]).reshape(-1)[0])
    check(x.ndim >= 1 and 0 <= k <= x.shape[-1], f"k={k} out of range for shape {list(x.shape)}")
    n = x.shape[-1]
    if k == 0 or x.size == 0:
        order = np.zeros(x.shape[:-1] + (k,), np.int64)
    elif 4 * k < n and x.dtype.kind == "f" and not np.isnan(x).any():
        order = top_k_order(x, k)
    else:
        # stable sort of descending values: equal values keep the lower index first, as TF
        # does; NaN sorts after every number
        order = np.argsort(-x.astype(np.float64), axis=-1, kind="stable")[..., :k]
    return [np.take_along_axis(x, order, axis=-1), order.astype(np.int32)]


def top_k_order(x, k):
    """The same order as the stable sort in O(n) per row (CenterNet: 1.3M scores, k = 100):
    a partition finds the k-th largest value v; every element above v is in, then the
    lowest-index elements equal to v fill the rest; only those k are sorted."""
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty((rows.shape[0], k), np.int64)
    for r, row in enumerate(rows):
        v = row[np.argpartition(row, row.size - k)[row.size - k]]
        above = np.flatnonzero(row > v)
        ties = np.flatnonzero(row == v)[:k - above.size]
        pick = np.concatenate([above, ties])
        out[r] = pick[np.lexsort((pick, -row[pick].astype(np.float64)))]
    return out.reshape(x.shape[:-1] + (k,))
