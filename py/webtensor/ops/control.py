"""Ops whose results depend on values, not only shapes: non-max suppression, Where, and
TensorFlow's list values (TensorList*, TensorArray*).  All are `dynamic`: the graph
interpreter (graph/control.py) runs them on numpy as their inputs arrive, never a static
plan, and the shapes after them are resolved when they are known.

The control-flow ops themselves (Enter, Exit, Merge, Switch, NextIteration, LoopCond,
While, If, calls of the function library) are the interpreter's, listed in CONTROL_FLOW.

Semantics follow TensorFlow's kernels (tensorflow/core/kernels/image/
non_max_suppression_op.cc, list_kernels.h, tensor_array_ops.cc), read for the rules
below; the code is ours."""
from __future__ import annotations

import heapq

import numpy as np

from .math import top_k_order
from .spec import OpError, ShapeUnknown, TensorSpec, check, register

I32 = np.dtype(np.int32)
F32 = np.dtype(np.float32)
VARIANT = np.dtype(object)       # a TensorList / TensorArray value

# run by graph/control.py's interpreter, not by a reference kernel
CONTROL_FLOW = {"Enter", "RefEnter", "Exit", "RefExit", "Merge", "RefMerge", "Switch", "RefSwitch",
                "NextIteration", "RefNextIteration", "LoopCond",
                "While", "StatelessWhile", "If", "StatelessIf", "PartitionedCall", "StatefulPartitionedCall"}


def _by_values(ref):
    """A dynamic op's shape rule: exact when every input is known (constants), else unknown
    until the interpreter has the values."""
    def rule(ins, attrs):
        if any(s.value is None for s in ins):
            raise ShapeUnknown()
        return [TensorSpec(np.shape(o), np.asarray(o).dtype) for o in ref([s.value for s in ins], attrs)]
    return rule


# ----------------------------------------------------------------------------- non-max suppression
def _corners(boxes: np.ndarray):
    b = boxes.astype(np.float32, copy=False)
    y1, x1 = np.minimum(b[:, 0], b[:, 2]), np.minimum(b[:, 1], b[:, 3])
    y2, x2 = np.maximum(b[:, 0], b[:, 2]), np.maximum(b[:, 1], b[:, 3])
    return y1, x1, y2, x2, (y2 - y1) * (x2 - x1)


def _iou_matrix(c, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """IoU of boxes[rows] (axis 0) with boxes[cols] (axis 1), corners in either order; 0 when
    either area is 0 (TF's similarity function, in float32 like the kernel).  `c` = _corners."""
    y1, x1, y2, x2, area = c
    r, k = rows[:, None], cols[None, :]
    iy = np.maximum(np.minimum(y2[r], y2[k]) - np.maximum(y1[r], y1[k]), np.float32(0))
    ix = np.maximum(np.minimum(x2[r], x2[k]) - np.maximum(x1[r], x1[k]), np.float32(0))
    inter = iy * ix
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area[r] + area[k] - inter)
    return np.where((area[r] <= 0) | (area[k] <= 0), np.float32(0), iou).astype(np.float32)


def non_max_suppression(boxes, scores, max_output_size, iou_threshold, score_threshold=-np.inf,
                        soft_nms_sigma=0.0, pad=False):
    """TF's greedy NMS: candidates with score > score_threshold, highest score first (ties:
    lower index first); a candidate is dropped when its IoU with a selected box is >
    iou_threshold, or (soft-NMS, sigma > 0) its score is decayed by exp(-0.5 iou^2 / sigma)
    against each selected box it has not yet met and it re-enters the queue.
    Returns (indices int32, scores float32, valid count)."""
    boxes = np.asarray(boxes)
    scores = np.asarray(scores, dtype=np.float32)
    check(boxes.ndim == 2 and boxes.shape[1] == 4, f"boxes must be [num_boxes, 4], got {list(boxes.shape)}")
    check(scores.shape == (boxes.shape[0],), f"scores must be [{boxes.shape[0]}], got {list(scores.shape)}")
    size = int(np.asarray(max_output_size).reshape(-1)[0])
    iou_t = np.float32(np.asarray(iou_threshold).reshape(-1)[0])
    score_t = np.float32(np.asarray(score_threshold).reshape(-1)[0])
    sigma = np.float32(np.asarray(soft_nms_sigma).reshape(-1)[0])
    check(size >= 0, f"max_output_size must be non-negative, got {size}")
    check(0 <= iou_t <= 1, f"iou_threshold must be in [0, 1], got {iou_t}")
    check(sigma >= 0, f"soft_nms_sigma must be non-negative, got {sigma}")
    soft = bool(sigma > 0)
    corners = _corners(boxes)
    if soft:
        selected, kept = _soft_nms(corners, scores, size, iou_t, score_t, sigma)
    else:
        selected = _hard_nms(corners, scores, size, iou_t, score_t)
        kept = [float(scores[i]) for i in selected]
    valid = len(selected)
    if pad:
        selected += [0] * (size - valid)
        kept += [0.0] * (size - valid)
    return np.asarray(selected, dtype=np.int32), np.asarray(kept, dtype=np.float32), np.int32(valid)


def _hard_nms(corners, scores, size: int, iou_t, score_t) -> list[int]:
    """Hard NMS, TF's greedy order, a block of candidates at a time: a candidate is kept when
    its IoU with every box kept before it is <= iou_t.  Each block's IoUs (with the boxes
    kept so far and among itself) are one array operation; the walk through the block only
    reads them (handtrack: 7 calls over 12804 boxes, ~25x faster than one candidate at a
    time in Pyodide)."""
    cand = np.flatnonzero(scores > score_t)
    selected: list[int] = []
    if size <= 0:
        return selected
    for order in _best_first(cand, scores[cand]):
        for start in range(0, order.size, 128):
            chunk = order[start:start + 128]
            alive = np.ones(chunk.size, bool)
            if selected:
                alive &= ~(_iou_matrix(corners, np.asarray(selected), chunk) > iou_t).any(axis=0)
            suppress = _iou_matrix(corners, chunk, chunk) > iou_t
            for j in np.flatnonzero(alive):
                if not alive[j]:
                    continue
                selected.append(int(chunk[j]))
                if len(selected) >= size:
                    return selected
                alive[j + 1:] &= ~suppress[j, j + 1:]
    return selected


def _best_first(cand: np.ndarray, s: np.ndarray, first: int = 512):
    """`cand` (ascending indices) in NMS order, highest score first, ties by lower index: the
    best `first` from a partition (a whole sort of 12804 scores cost more than the NMS walk),
    then, only if the walk needs them, the rest."""
    if cand.size > 2 * first:
        top = top_k_order(s[None], first)[0]
        yield cand[top]
        rest = np.ones(cand.size, bool)
        rest[top] = False
        cand, s = cand[rest], s[rest]
    yield cand[np.lexsort((cand, -s.astype(np.float64)))]


def _soft_nms(corners, scores, size: int, iou_t, score_t, sigma) -> tuple[list[int], list[float]]:
    """Soft-NMS (sigma > 0), candidate by candidate as TF's kernel: a candidate's score decays
    by exp(-0.5 iou^2 / sigma) against each box selected since it was last looked at, and it
    goes back into the queue while above score_t; no hard suppression in soft mode."""
    scale = np.float32(-0.5) / sigma
    # heap of (-score, index, suppress_begin): the smallest tuple is the highest score, then the lower index
    heap = [(-float(s), i, 0) for i, s in enumerate(scores) if s > score_t]
    heapq.heapify(heap)
    selected: list[int] = []
    kept: list[float] = []
    while len(selected) < size and heap:
        neg, i, begin = heapq.heappop(heap)
        original = score = np.float32(-neg)
        if len(selected) > begin:
            ious = _iou_matrix(corners, np.asarray([i]), np.asarray(selected[begin:][::-1]))[0]   # newest first
            for sim in ious:
                score = np.float32(score * np.exp(scale * sim * sim, dtype=np.float32))
                if score <= score_t:
                    break
        if score == original:
            selected.append(i)
            kept.append(float(score))
        elif score > score_t:
            heapq.heappush(heap, (-float(score), i, len(selected)))
    return selected, kept


@register("NonMaxSuppressionV2", ["boxes", "scores", "max_output_size", "iou_threshold"],
          _by_values(lambda ins, attrs: nms_v2(ins, attrs)), dynamic=True)
def nms_v2(ins, attrs):
    return [non_max_suppression(*ins[:4])[0]]


@register("NonMaxSuppressionV3", ["boxes", "scores", "max_output_size", "iou_threshold", "score_threshold"],
          _by_values(lambda ins, attrs: nms_v3(ins, attrs)), dynamic=True)
def nms_v3(ins, attrs):
    return [non_max_suppression(*ins[:5])[0]]


@register("NonMaxSuppressionV4", ["boxes", "scores", "max_output_size", "iou_threshold", "score_threshold"],
          _by_values(lambda ins, attrs: nms_v4(ins, attrs)), dynamic=True)
def nms_v4(ins, attrs):
    idx, _, valid = non_max_suppression(*ins[:5], pad=bool(attrs.get("pad_to_max_output_size", False)))
    return [idx, valid]


@register("NonMaxSuppressionV5", ["boxes", "scores", "max_output_size", "iou_threshold", "score_threshold",
                                  "soft_nms_sigma"],
          _by_values(lambda ins, attrs: nms_v5(ins, attrs)), dynamic=True)
def nms_v5(ins, attrs):
    return list(non_max_suppression(*ins[:6], pad=bool(attrs.get("pad_to_max_output_size", False))))


@register("Where", ["condition"], _by_values(lambda ins, attrs: where(ins, attrs)), dynamic=True)
def where(ins, attrs):
    """Coordinates of the true (non-zero) elements, row-major: [count, rank].  TF gives
    int64; webtensor's indices are int32, as TF.js's are."""
    return [np.argwhere(np.asarray(ins[0]) != 0).astype(np.int32).reshape(-1, np.ndim(ins[0]))]


# ----------------------------------------------------------------------------- TensorList
class TensorList:
    """TF's list value: immutable here (each op returns a new list, as TF's copy-on-write
    does); `None` marks an element never set."""

    def __init__(self, items, element_shape, dtype):
        self.items = list(items)
        self.element_shape = element_shape       # list of int (-1 unknown) or None (unknown rank)
        self.dtype = np.dtype(dtype) if not isinstance(dtype, str) else dtype

    def with_items(self, items):
        return TensorList(items, self.element_shape, self.dtype)

    def __repr__(self):
        return f"TensorList({len(self.items)} x {self.element_shape}, {self.dtype})"


def _shape_arg(v):
    """An element_shape input: -1 (scalar) means unknown rank."""
    a = np.asarray(v).reshape(-1).astype(int).tolist()
    if np.ndim(v) == 0 and a == [-1]:
        return None
    return a


def _merge_shapes(a, b, what):
    if a is None:
        return b
    if b is None:
        return a
    check(len(a) == len(b), f"{what}: element shapes {a} and {b} differ in rank")
    out = []
    for x, y in zip(a, b):
        check(x < 0 or y < 0 or x == y, f"{what}: element shapes {a} and {b} are incompatible")
        out.append(x if x >= 0 else y)
    return out


def _zeros_for(lst: TensorList, shape, what):
    shape = _merge_shapes(lst.element_shape, shape, what)
    check(shape is not None and all(d >= 0 for d in shape),
          f"{what}: an element was never set and its shape {shape} is not fully known")
    return np.zeros(shape, dtype=lst.dtype)


def _list(v, what) -> TensorList:
    if not isinstance(v, TensorList):
        raise OpError(f"{what}: expected a TensorList, got {type(v).__name__}")
    return v


def _index(v, n, what, allow_end=False):
    i = int(np.asarray(v).reshape(-1)[0])
    check(0 <= i < n + (1 if allow_end else 0), f"{what}: index {i} out of range for a list of {n} elements")
    return i


def _check_item(lst: TensorList, item, what):
    item = np.asarray(item)
    check(isinstance(lst.dtype, str) or item.dtype == lst.dtype,
          f"{what}: item dtype {item.dtype.name} differs from the list's {getattr(lst.dtype, 'name', lst.dtype)}")
    _merge_shapes(lst.element_shape, list(item.shape), what)
    return item


def _list_shape(ins, attrs):
    raise ShapeUnknown()


LIST_OPS: set[str] = set()       # ops whose values (or some inputs) are TensorLists / TensorArrays


def _tl(name, inputs):
    LIST_OPS.add(name)
    return register(name, inputs, _list_shape, foldable=False, dynamic=True)


@_tl("EmptyTensorList", ["element_shape", "max_num_elements"])
def tl_empty(ins, attrs):
    return [TensorList([], _shape_arg(ins[0]), attrs.get("element_dtype", F32))]


@_tl("TensorListReserve", ["element_shape", "num_elements"])
def tl_reserve(ins, attrs):
    n = int(np.asarray(ins[1]).reshape(-1)[0])
    check(n >= 0, f"TensorListReserve: num_elements must be non-negative, got {n}")
    return [TensorList([None] * n, _shape_arg(ins[0]), attrs.get("element_dtype", F32))]


@_tl("TensorListFromTensor", ["tensor", "element_shape"])
def tl_from_tensor(ins, attrs):
    t = np.asarray(ins[0])
    check(t.ndim >= 1, "TensorListFromTensor: the tensor must have rank >= 1")
    shape = _merge_shapes(_shape_arg(ins[1]), list(t.shape[1:]), "TensorListFromTensor")
    return [TensorList([t[i] for i in range(t.shape[0])], shape, t.dtype)]


@_tl("TensorListGetItem", ["input_handle", "index", "element_shape"])
def tl_get_item(ins, attrs):
    lst = _list(ins[0], "TensorListGetItem")
    i = _index(ins[1], len(lst.items), "TensorListGetItem")
    item = lst.items[i]
    return [item if item is not None else _zeros_for(lst, _shape_arg(ins[2]), "TensorListGetItem")]


@_tl("TensorListSetItem", ["input_handle", "index", "item"])
def tl_set_item(ins, attrs):
    lst = _list(ins[0], "TensorListSetItem")
    n = len(lst.items)
    i = int(np.asarray(ins[1]).reshape(-1)[0])
    items = list(lst.items)
    if attrs.get("resize_if_index_out_of_bounds") and i >= n:
        items += [None] * (i + 1 - n)
    else:
        _index(i, n, "TensorListSetItem")
    items[i] = _check_item(lst, ins[2], "TensorListSetItem")
    return [lst.with_items(items)]


@_tl("TensorListPushBack", ["input_handle", "tensor"])
def tl_push_back(ins, attrs):
    lst = _list(ins[0], "TensorListPushBack")
    return [lst.with_items(lst.items + [_check_item(lst, ins[1], "TensorListPushBack")])]


@_tl("TensorListPopBack", ["input_handle", "element_shape"])
def tl_pop_back(ins, attrs):
    lst = _list(ins[0], "TensorListPopBack")
    check(len(lst.items) > 0, "TensorListPopBack: the list is empty")
    item = lst.items[-1]
    if item is None:
        item = _zeros_for(lst, _shape_arg(ins[1]), "TensorListPopBack")
    return [lst.with_items(lst.items[:-1]), item]


@_tl("TensorListLength", ["input_handle"])
def tl_length(ins, attrs):
    return [np.int32(len(_list(ins[0], "TensorListLength").items))]


@_tl("TensorListElementShape", ["input_handle"])
def tl_element_shape(ins, attrs):
    shape = _list(ins[0], "TensorListElementShape").element_shape
    return [np.int32(-1) if shape is None else np.asarray(shape, dtype=np.int32)]


@_tl("TensorListResize", ["input_handle", "size"])
def tl_resize(ins, attrs):
    lst = _list(ins[0], "TensorListResize")
    n = int(np.asarray(ins[1]).reshape(-1)[0])
    check(n >= 0, f"TensorListResize: size must be non-negative, got {n}")
    return [lst.with_items((lst.items + [None] * n)[:n])]


def _stacked(lst: TensorList, indices, shape, what):
    items = [lst.items[_index(i, len(lst.items), what)] for i in indices]
    known = [np.asarray(x) for x in items if x is not None]
    if known:
        shape = _merge_shapes(shape, list(known[0].shape), what)
    zeros = None
    out = []
    for x in items:
        if x is None:
            zeros = _zeros_for(lst, shape, what) if zeros is None else zeros
            x = zeros
        check(list(np.shape(x)) == list(np.shape(out[0])) if out else True,
              f"{what}: elements of different shapes cannot be stacked")
        out.append(x)
    if not out:
        shape = _merge_shapes(lst.element_shape, shape, what)
        check(shape is not None and all(d >= 0 for d in shape),
              f"{what}: an empty list with an element shape {shape} that is not fully known")
        return np.zeros([0] + list(shape), dtype=lst.dtype)
    return np.stack(out).astype(lst.dtype, copy=False)


@_tl("TensorListStack", ["input_handle", "element_shape"])
def tl_stack(ins, attrs):
    lst = _list(ins[0], "TensorListStack")
    want = attrs.get("num_elements", -1)
    check(want is None or want < 0 or want == len(lst.items),
          f"TensorListStack: the list has {len(lst.items)} elements, the op expects {want}")
    return [_stacked(lst, range(len(lst.items)), _shape_arg(ins[1]), "TensorListStack")]


@_tl("TensorListGather", ["input_handle", "indices", "element_shape"])
def tl_gather(ins, attrs):
    lst = _list(ins[0], "TensorListGather")
    return [_stacked(lst, np.asarray(ins[1]).reshape(-1).tolist(), _shape_arg(ins[2]), "TensorListGather")]


def _scatter(lst: TensorList, tensor, indices, what):
    tensor = np.asarray(tensor)
    idx = np.asarray(indices).reshape(-1).astype(int).tolist()
    check(tensor.ndim >= 1 and tensor.shape[0] == len(idx),
          f"{what}: {len(idx)} indices for a tensor of shape {list(tensor.shape)}")
    items = list(lst.items)
    for k, i in enumerate(idx):
        check(i >= 0, f"{what}: negative index {i}")
        if i >= len(items):
            items += [None] * (i + 1 - len(items))
        items[i] = tensor[k]
    return lst.with_items(items)


@_tl("TensorListScatterV2", ["tensor", "indices", "element_shape", "num_elements"])
def tl_scatter_v2(ins, attrs):
    t = np.asarray(ins[0])
    n = int(np.asarray(ins[3]).reshape(-1)[0])
    lst = TensorList([None] * max(n, 0), _merge_shapes(_shape_arg(ins[2]), list(t.shape[1:]), "TensorListScatter"),
                     t.dtype)
    return [_scatter(lst, t, ins[1], "TensorListScatterV2")]


@_tl("TensorListScatter", ["tensor", "indices", "element_shape"])
def tl_scatter(ins, attrs):
    return tl_scatter_v2([ins[0], ins[1], ins[2], np.int32(-1)], attrs)


@_tl("TensorListScatterIntoExistingList", ["input_handle", "tensor", "indices"])
def tl_scatter_existing(ins, attrs):
    return [_scatter(_list(ins[0], "TensorListScatterIntoExistingList"), ins[1], ins[2],
                     "TensorListScatterIntoExistingList")]


@_tl("TensorListConcatV2", ["input_handle", "element_shape", "leading_dims"])
def tl_concat(ins, attrs):
    lst = _list(ins[0], "TensorListConcat")
    check(all(x is not None for x in lst.items), "TensorListConcat: an element was never set")
    items = [np.asarray(x) for x in lst.items]
    check(all(x.ndim >= 1 for x in items), "TensorListConcat: elements must have rank >= 1")
    lengths = np.asarray([x.shape[0] for x in items], dtype=np.int32)
    if not items:
        shape = _shape_arg(ins[1]) or [0]
        return [np.zeros([0] + [max(d, 0) for d in shape[1:]], dtype=lst.dtype), lengths]
    return [np.concatenate(items).astype(lst.dtype, copy=False), lengths]


@_tl("TensorListSplit", ["tensor", "element_shape", "lengths"])
def tl_split(ins, attrs):
    t = np.asarray(ins[0])
    lengths = np.asarray(ins[2]).reshape(-1).astype(int)
    check(t.ndim >= 1 and (lengths >= 0).all() and int(lengths.sum()) == t.shape[0],
          f"TensorListSplit: lengths {lengths.tolist()} do not sum to {t.shape[0] if t.ndim else 0}")
    bounds = np.cumsum(lengths)[:-1]
    return [TensorList(np.split(t, bounds), _shape_arg(ins[1]), t.dtype)]


# ----------------------------------------------------------------------------- TensorArray (TF1)
class TensorArray:
    """TF1's TensorArray resource: mutable, threaded through loops by its `flow` scalar."""

    def __init__(self, size, dtype, element_shape, dynamic_size):
        self.items = [None] * size
        self.dtype = dtype
        self.element_shape = element_shape
        self.dynamic_size = dynamic_size

    def as_list(self):
        return TensorList(self.items, self.element_shape, self.dtype)


def _array(v, what) -> TensorArray:
    if not isinstance(v, TensorArray):
        raise OpError(f"{what}: expected a TensorArray handle, got {type(v).__name__}")
    return v


FLOW = np.float32(0)


def _ta(name, inputs):
    LIST_OPS.add(name)
    return register(name, inputs, _list_shape, foldable=False, dynamic=True)


@_ta("TensorArrayV3", ["size"])
def ta_new(ins, attrs):
    n = int(np.asarray(ins[0]).reshape(-1)[0])
    check(n >= 0, f"TensorArrayV3: size must be non-negative, got {n}")
    shape = attrs.get("element_shape")
    return [TensorArray(n, attrs.get("dtype", F32), shape, bool(attrs.get("dynamic_size", False))), FLOW]


@_ta("TensorArrayWriteV3", ["handle", "index", "value", "flow_in"])
def ta_write(ins, attrs):
    ta = _array(ins[0], "TensorArrayWriteV3")
    i = int(np.asarray(ins[1]).reshape(-1)[0])
    if ta.dynamic_size and i >= len(ta.items):
        ta.items += [None] * (i + 1 - len(ta.items))
    _index(i, len(ta.items), "TensorArrayWriteV3")
    ta.items[i] = _check_item(ta.as_list(), ins[2], "TensorArrayWriteV3")
    return [FLOW]


@_ta("TensorArrayReadV3", ["handle", "index", "flow_in"])
def ta_read(ins, attrs):
    ta = _array(ins[0], "TensorArrayReadV3")
    i = _index(ins[1], len(ta.items), "TensorArrayReadV3")
    item = ta.items[i]
    return [item if item is not None else _zeros_for(ta.as_list(), None, "TensorArrayReadV3")]


@_ta("TensorArrayGatherV3", ["handle", "indices", "flow_in"])
def ta_gather(ins, attrs):
    ta = _array(ins[0], "TensorArrayGatherV3")
    return [_stacked(ta.as_list(), np.asarray(ins[1]).reshape(-1).tolist(), attrs.get("element_shape"),
                     "TensorArrayGatherV3")]


@_ta("TensorArrayScatterV3", ["handle", "indices", "value", "flow_in"])
def ta_scatter(ins, attrs):
    ta = _array(ins[0], "TensorArrayScatterV3")
    lst = _scatter(ta.as_list(), ins[2], ins[1], "TensorArrayScatterV3")
    check(ta.dynamic_size or len(lst.items) == len(ta.items),
          f"TensorArrayScatterV3: an index beyond the array's {len(ta.items)} elements")
    ta.items = lst.items
    return [FLOW]


@_ta("TensorArraySizeV3", ["handle", "flow_in"])
def ta_size(ins, attrs):
    return [np.int32(len(_array(ins[0], "TensorArraySizeV3").items))]


@_ta("TensorArrayConcatV3", ["handle", "flow_in"])
def ta_concat(ins, attrs):
    ta = _array(ins[0], "TensorArrayConcatV3")
    return tl_concat([ta.as_list(), np.int32(-1), np.zeros(0, np.int32)], attrs)


@_ta("TensorArraySplitV3", ["handle", "value", "lengths", "flow_in"])
def ta_split(ins, attrs):
    ta = _array(ins[0], "TensorArraySplitV3")
    ta.items = tl_split([ins[1], np.int32(-1), ins[2]], attrs)[0].items
    return [FLOW]


@_ta("TensorArrayCloseV3", ["handle"])
def ta_close(ins, attrs):
    return []
