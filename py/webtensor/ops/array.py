"""Shape and data-movement ops: reshape, transpose, concat, pack, split, slice, gather, pad..."""
from __future__ import annotations

import numpy as np

from .spec import OpError, TensorSpec, check, known, norm_axis, register, shape_of

I32 = np.dtype(np.int32)


def _ints(v) -> list[int]:
    return [int(i) for i in np.asarray(v).reshape(-1)]


def _same(ins, attrs):
    return [TensorSpec(ins[0].shape, ins[0].dtype, ins[0].value)]


register(("Identity", "StopGradient", "Snapshot"), ["input"], _same)(lambda ins, attrs: [ins[0]])
register("NoOp", [], lambda ins, attrs: [])(lambda ins, attrs: [])


# ----------------------------------------------------------------------------- reshape family
def reshape_target(in_shape, target):
    target = list(target)
    size = int(np.prod(in_shape, dtype=np.int64))
    check(target.count(-1) <= 1 and all(d >= -1 for d in target), f"bad Reshape target {target}")
    if -1 in target:
        rest = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        check(rest > 0 and size % rest == 0, f"cannot reshape {list(in_shape)} into {target}")
        target[target.index(-1)] = size // rest
    check(int(np.prod(target, dtype=np.int64)) == size,
          f"cannot reshape {list(in_shape)} ({size} values) into {target}")
    return tuple(target)


register("Reshape", ["tensor", "shape"],
         lambda ins, attrs: [TensorSpec(reshape_target(shape_of(ins[0]), _ints(known(ins[1]))), ins[0].dtype)])(
    lambda ins, attrs: [ins[0].reshape(reshape_target(ins[0].shape, _ints(ins[1])))])


def squeeze_shape(shape, dims):
    rank = len(shape)
    if not dims:
        return tuple(d for d in shape if d != 1)
    axes = {norm_axis(a, rank) for a in dims}
    bad = [a for a in axes if shape[a] != 1]
    check(not bad, f"cannot squeeze axes {bad} of shape {list(shape)}: size is not 1")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _squeeze_dims(attrs):
    return attrs.get("squeeze_dims") or attrs.get("axis") or []


register("Squeeze", ["input"],
         lambda ins, attrs: [TensorSpec(squeeze_shape(shape_of(ins[0]), _squeeze_dims(attrs)), ins[0].dtype)])(
    lambda ins, attrs: [ins[0].reshape(squeeze_shape(ins[0].shape, _squeeze_dims(attrs)))])


def expand_shape(shape, dim):
    rank = len(shape)
    check(-rank - 1 <= dim <= rank, f"ExpandDims axis {dim} out of range for rank {rank}")
    if dim < 0:
        dim += rank + 1
    return tuple(shape[:dim]) + (1,) + tuple(shape[dim:])


register("ExpandDims", ["input", "dim"],
         lambda ins, attrs: [TensorSpec(expand_shape(shape_of(ins[0]), _ints(known(ins[1]))[0]), ins[0].dtype)])(
    lambda ins, attrs: [ins[0].reshape(expand_shape(ins[0].shape, _ints(ins[1])[0]))])


def _perm(perm, rank):
    perm = [norm_axis(p, rank) for p in perm]
    check(sorted(perm) == list(range(rank)), f"Transpose perm {perm} is not a permutation of {rank} axes")
    return perm


register("Transpose", ["x", "perm"],
         lambda ins, attrs: [TensorSpec(tuple(shape_of(ins[0])[p] for p in _perm(_ints(known(ins[1])), ins[0].rank)),
                                        ins[0].dtype)])(
    lambda ins, attrs: [np.ascontiguousarray(np.transpose(ins[0], _perm(_ints(ins[1]), ins[0].ndim)))])


# ----------------------------------------------------------------------------- concat / pack / split
def concat_shape(shapes, axis):
    check(len(shapes) >= 1, "concat needs at least one input")
    rank = len(shapes[0])
    ax = norm_axis(axis, rank)
    for s in shapes:
        check(len(s) == rank and all(a == b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != ax),
              f"cannot concatenate shapes {[list(x) for x in shapes]} on axis {axis}")
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    return tuple(out), ax


def _concat_v2_shape(ins, attrs):
    shape, _ = concat_shape([shape_of(s) for s in ins[:-1]], _ints(known(ins[-1]))[0])
    return [TensorSpec(shape, ins[0].dtype)]


@register("ConcatV2", ["values*", "axis"], _concat_v2_shape)
def concat_v2(ins, attrs):
    _, ax = concat_shape([x.shape for x in ins[:-1]], _ints(ins[-1])[0])
    return [np.concatenate(ins[:-1], axis=ax)]


@register("Concat", ["concat_dim", "values*"],
          lambda ins, attrs: _concat_v2_shape(list(ins[1:]) + [ins[0]], attrs))
def concat_v1(ins, attrs):
    return concat_v2(list(ins[1:]) + [ins[0]], attrs)


def _packed(shape, n, axis):
    rank = len(shape) + 1
    check(-rank <= axis < rank, f"Pack axis {axis} out of range for rank {rank}")
    axis %= rank
    return tuple(shape[:axis]) + (n,) + tuple(shape[axis:])


def _pack_shape(ins, attrs):
    shapes = {shape_of(s) for s in ins}
    check(len(shapes) == 1, f"Pack inputs must share one shape, got {sorted(shapes)}")
    return [TensorSpec(_packed(ins[0].shape, len(ins), attrs.get("axis", 0)), ins[0].dtype)]


@register("Pack", ["values*"], _pack_shape)
def pack(ins, attrs):
    check(len({x.shape for x in ins}) == 1, "Pack inputs must share one shape")
    return [np.stack(ins, axis=attrs.get("axis", 0))]


def _unpack_shape(ins, attrs):
    xs = shape_of(ins[0])
    ax = norm_axis(attrs.get("axis", 0), len(xs))
    num = attrs.get("num", xs[ax])
    check(num == xs[ax], f"Unpack num={num} but axis {ax} has size {xs[ax]}")
    return [TensorSpec(xs[:ax] + xs[ax + 1:], ins[0].dtype)] * num


@register("Unpack", ["value"], _unpack_shape)
def unpack(ins, attrs):
    x = ins[0]
    ax = norm_axis(attrs.get("axis", 0), x.ndim)
    check(attrs.get("num", x.shape[ax]) == x.shape[ax], "Unpack num does not match the axis size")
    return [np.take(x, i, axis=ax) for i in range(x.shape[ax])]


def split_sizes(dim, sizes):
    sizes = list(sizes)
    check(sizes.count(-1) <= 1, f"SplitV sizes {sizes} have more than one -1")
    if -1 in sizes:
        sizes[sizes.index(-1)] = dim - sum(s for s in sizes if s != -1)
    check(all(s >= 0 for s in sizes) and sum(sizes) == dim, f"split sizes {sizes} do not add up to {dim}")
    return sizes


def _split_shape(ins, attrs):
    xs = shape_of(ins[1])
    ax = norm_axis(_ints(known(ins[0]))[0], len(xs))
    n = attrs.get("num_split", 1)
    check(n >= 1 and xs[ax] % n == 0, f"cannot split size {xs[ax]} into {n} equal parts")
    return [TensorSpec(xs[:ax] + (xs[ax] // n,) + xs[ax + 1:], ins[1].dtype)] * n


@register("Split", ["axis", "value"], _split_shape)
def split(ins, attrs):
    ax = norm_axis(_ints(ins[0])[0], ins[1].ndim)
    n = attrs.get("num_split", 1)
    check(ins[1].shape[ax] % n == 0, "Split size is not divisible")
    return list(np.split(ins[1], n, axis=ax))


def _splitv_shape(ins, attrs):
    xs = shape_of(ins[0])
    ax = norm_axis(_ints(known(ins[2]))[0], len(xs))
    sizes = split_sizes(xs[ax], _ints(known(ins[1])))
    return [TensorSpec(xs[:ax] + (s,) + xs[ax + 1:], ins[0].dtype) for s in sizes]


@register("SplitV", ["value", "size_splits", "axis"], _splitv_shape)
def split_v(ins, attrs):
    x = ins[0]
    ax = norm_axis(_ints(ins[2])[0], x.ndim)
    sizes = split_sizes(x.shape[ax], _ints(ins[1]))
    return list(np.split(x, np.cumsum(sizes)[:-1], axis=ax))


# ----------------------------------------------------------------------------- slicing
def slice_bounds(shape, begin, size):
    check(len(begin) == len(shape) == len(size), f"Slice begin/size rank does not match shape {list(shape)}")
    out = []
    for d, b, s in zip(shape, begin, size):
        e = d if s == -1 else b + s
        check(0 <= b <= d and b <= e <= d, f"Slice begin {begin} size {size} out of bounds for {list(shape)}")
        out.append(slice(b, e))
    return tuple(out)


register("Slice", ["input", "begin", "size"], lambda ins, attrs: [TensorSpec(
    tuple(s.stop - s.start for s in slice_bounds(shape_of(ins[0]), _ints(known(ins[1])), _ints(known(ins[2])))),
    ins[0].dtype)])(lambda ins, attrs: [ins[0][slice_bounds(ins[0].shape, _ints(ins[1]), _ints(ins[2]))].copy()])


def strided_index(rank, begin, end, strides, attrs):
    """TF StridedSlice masks -> a numpy index tuple (numpy slicing clamps exactly as TF)."""
    n = len(begin)
    check(len(end) == n and len(strides) == n, "StridedSlice begin/end/strides lengths differ")
    bm, em = attrs.get("begin_mask", 0), attrs.get("end_mask", 0)
    elm, nam, sam = attrs.get("ellipsis_mask", 0), attrs.get("new_axis_mask", 0), attrs.get("shrink_axis_mask", 0)
    check(bin(elm).count("1") <= 1, "StridedSlice allows at most one ellipsis")
    index, dims_used = [], 0
    for i in range(n):
        bit = 1 << i
        if elm & bit:
            index.append(Ellipsis)
        elif nam & bit:
            index.append(np.newaxis)
        elif sam & bit:
            index.append(begin[i])
            dims_used += 1
        else:
            check(strides[i] != 0, "StridedSlice stride 0")
            index.append(slice(None if bm & bit else begin[i], None if em & bit else end[i], strides[i]))
            dims_used += 1
    check(dims_used <= rank, f"StridedSlice indexes {dims_used} axes of a rank-{rank} tensor")
    return tuple(index)


def strided_slice(x, begin, end, strides, attrs):
    idx = strided_index(x.ndim, begin, end, strides, attrs)
    try:
        return np.array(x[idx])
    except IndexError as e:
        raise OpError(f"StridedSlice index out of range: {e}") from None


def _strided_shape(ins, attrs):
    xs = shape_of(ins[0])
    probe = np.empty(xs, dtype=np.bool_)  # zero-cost shape derivation: numpy views, no data
    out = strided_slice(probe, _ints(known(ins[1])), _ints(known(ins[2])), _ints(known(ins[3])), attrs)
    return [TensorSpec(out.shape, ins[0].dtype)]


register("StridedSlice", ["input", "begin", "end", "strides"], _strided_shape)(
    lambda ins, attrs: [strided_slice(ins[0], _ints(ins[1]), _ints(ins[2]), _ints(ins[3]), attrs)])


# ----------------------------------------------------------------------------- gather
def _gather_shape(ins, attrs):
    ps, ixs = shape_of(ins[0]), shape_of(ins[1])
    bd = attrs.get("batch_dims", 0)
    ax = norm_axis(_ints(known(ins[2]))[0], len(ps))
    bd = bd + len(ixs) if bd < 0 else bd      # TensorFlow: a negative batch_dims counts from the indices' rank
    check(0 <= bd <= len(ixs) and bd <= ax and ps[:bd] == ixs[:bd], f"GatherV2 batch_dims={bd} does not fit shapes {list(ps)}, {list(ixs)}")
    return [TensorSpec(ps[:ax] + ixs[bd:] + ps[ax + 1:], ins[0].dtype)]


@register("GatherV2", ["params", "indices", "axis"], _gather_shape)
def gather_v2(ins, attrs):
    params, idx = ins[0], ins[1].astype(np.intp)  # index type: int32 on wasm32 (Pyodide)
    ax = norm_axis(_ints(ins[2])[0], params.ndim)
    check(idx.size == 0 or (idx.min() >= 0 and idx.max() < params.shape[ax]),
          f"GatherV2 indices out of range [0, {params.shape[ax]})")
    bd = attrs.get("batch_dims", 0)
    if bd < 0:
        bd += idx.ndim
    check(0 <= bd <= min(ax, idx.ndim), f"GatherV2 batch_dims={bd} does not fit shapes {list(params.shape)}, "
                                         f"{list(idx.shape)}")
    if bd == 0:
        return [np.take(params, idx, axis=ax)]
    batch = params.shape[:bd]
    p = params.reshape((-1,) + params.shape[bd:])
    i = idx.reshape((-1,) + idx.shape[bd:])
    out = np.stack([np.take(p[b], i[b], axis=ax - bd) for b in range(p.shape[0])])
    return [out.reshape(batch + out.shape[1:])]


def _gathernd_shape(ins, attrs):
    ps, ixs = shape_of(ins[0]), shape_of(ins[1])
    check(len(ixs) >= 1 and ixs[-1] <= len(ps), f"GatherNd indices {list(ixs)} do not fit params {list(ps)}")
    return [TensorSpec(ixs[:-1] + ps[ixs[-1]:], ins[0].dtype)]


@register("GatherNd", ["params", "indices"], _gathernd_shape)
def gather_nd(ins, attrs):
    params, idx = ins[0], ins[1].astype(np.intp)
    k = idx.shape[-1]
    for d in range(k):
        check(idx.size == 0 or (idx[..., d].min() >= 0 and idx[..., d].max() < params.shape[d]),
              f"GatherNd indices out of range on axis {d}")
    return [params[tuple(idx[..., d] for d in range(k))]]


# ----------------------------------------------------------------------------- shape / fill / range
@register("Shape", ["input"], lambda ins, attrs: [TensorSpec(
    (len(shape_of(ins[0])),), np.dtype(attrs.get("out_type", I32)),
    np.array(shape_of(ins[0]), dtype=attrs.get("out_type", I32)))])
def shape_op(ins, attrs):
    return [np.array(ins[0].shape, dtype=attrs.get("out_type", I32))]


@register("Fill", ["dims", "value"], lambda ins, attrs: [TensorSpec(tuple(_ints(known(ins[0]))), ins[1].dtype)])
def fill(ins, attrs):
    dims = _ints(ins[0])
    check(all(d >= 0 for d in dims), f"Fill dims {dims} must be non-negative")
    return [np.full(dims, ins[1].reshape(()) if ins[1].size == 1 else ins[1], dtype=ins[1].dtype)]


def _range_values(start, limit, delta, dtype):
    check(delta != 0, "Range delta is 0")
    n = max(int(np.ceil((limit - start) / delta)), 0)
    check(n <= 1 << 26, f"Range of {n} values is too large")
    return (start + delta * np.arange(n)).astype(dtype)


def _scalar(v):
    return np.asarray(v).reshape(-1)[0].item()


@register("Range", ["start", "limit", "delta"], lambda ins, attrs: [TensorSpec(
    _range_values(_scalar(known(ins[0])), _scalar(known(ins[1])), _scalar(known(ins[2])), ins[0].dtype).shape,
    ins[0].dtype)])
def range_op(ins, attrs):
    return [_range_values(_scalar(ins[0]), _scalar(ins[1]), _scalar(ins[2]), ins[0].dtype)]


# ----------------------------------------------------------------------------- pad
def pad_widths(shape, paddings):
    p = np.asarray(paddings).reshape(-1, 2) if np.asarray(paddings).size else np.zeros((0, 2), int)
    check(p.shape[0] == len(shape), f"paddings {p.tolist()} do not match rank {len(shape)}")
    check((p >= 0).all(), f"paddings {p.tolist()} must be non-negative")
    return [(int(a), int(b)) for a, b in p]


def _pad_shape(ins, attrs):
    xs = shape_of(ins[0])
    w = pad_widths(xs, known(ins[1]))
    return [TensorSpec(tuple(d + a + b for d, (a, b) in zip(xs, w)), ins[0].dtype)]


register(("Pad", "PadV2"), ["input", "paddings", "constant_values?"], _pad_shape)(
    lambda ins, attrs: [np.pad(ins[0], pad_widths(ins[0].shape, ins[1]),
                               constant_values=(ins[2].reshape(-1)[0] if len(ins) > 2 else 0))])


@register("MirrorPad", ["input", "paddings"], _pad_shape)
def mirror_pad(ins, attrs):
    mode = {"REFLECT": "reflect", "SYMMETRIC": "symmetric"}.get(attrs.get("mode", "REFLECT"))
    check(mode is not None, f"MirrorPad mode {attrs.get('mode')!r}")
    return [np.pad(ins[0], pad_widths(ins[0].shape, ins[1]), mode=mode)]


# ----------------------------------------------------------------------------- depth to space
def depth_to_space_shape(shape, block: int):
    check(len(shape) == 4 and block >= 2, f"DepthToSpace needs NHWC input and block_size >= 2, got "
                                           f"{list(shape)}, {block}")
    n, h, w, c = shape
    check(c % (block * block) == 0, f"DepthToSpace: {c} channels are not divisible by block_size^2 = {block * block}")
    return n, h * block, w * block, c // (block * block)


def _d2s_check(attrs):
    check(attrs.get("data_format", "NHWC") == "NHWC", "only NHWC DepthToSpace is supported")
    return int(attrs.get("block_size", 0))


@register("DepthToSpace", ["input"], lambda ins, attrs: [TensorSpec(
    depth_to_space_shape(shape_of(ins[0]), _d2s_check(attrs)), ins[0].dtype)])
def depth_to_space(ins, attrs):
    """TF's DCR order: out[n, h*b + i, w*b + j, c] = x[n, h, w, (i*b + j)*C' + c]."""
    b = _d2s_check(attrs)
    n, h, w, co = depth_to_space_shape(ins[0].shape, b)
    x = ins[0].reshape(n, h // b, w // b, b, b, co)
    return [x.transpose(0, 1, 3, 2, 4, 5).reshape(n, h, w, co)]
