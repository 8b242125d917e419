"""Random op cases for every op in the spec: shapes and attributes drawn through a small
interface, so the same generator runs under Hypothesis (CPython: shape rule vs numpy
reference, with shrinking) and from a seeded numpy generator (the browser: the same
draws on every backend against numpy; this file's source is sent into Pyodide).

A case is (op, inputs, consts, attrs): `consts` are the indices of inputs that a model
holds as constants (axes, shapes, filters...); the rest are runtime inputs."""
import numpy as np

F32, I32, BOOL = np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_)


class SeededDraw:
    """The draw interface over a numpy Generator (Hypothesis has its own adapter)."""

    def __init__(self, rng):
        self.rng = rng

    def int(self, lo, hi):              # inclusive
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def bool(self):
        return self.int(0, 1) == 1


def shape(d, rank_lo=0, rank_hi=4, lo=1, hi=5):
    return tuple(d.int(lo, hi) for _ in range(d.int(rank_lo, rank_hi)))


def array(d, shp, dtype=F32, lo=-3.0, hi=3.0):
    rng = np.random.default_rng(d.int(0, 2 ** 31))
    if dtype == BOOL:
        return rng.random(shp) < 0.5
    if dtype == I32:
        return rng.integers(int(lo), int(hi) + 1, shp).astype(np.int32)
    return rng.uniform(lo, hi, shp).astype(np.float32)


def bshape(d, s):
    """A shape that broadcasts against s (same rank or lower, dims of s or 1)."""
    k = d.int(0, len(s))
    return tuple(dim if d.bool() else 1 for dim in s[len(s) - k:])


UNARY_F = ["Abs", "Ceil", "Cos", "Exp", "Expm1", "Floor", "Inv", "Log", "Log1p", "Neg", "Reciprocal", "Round",
           "Rsqrt", "Sign", "Sin", "Softplus", "Sqrt", "Square", "Relu", "Relu6", "Elu", "Selu", "Sigmoid", "Tanh",
           "LeakyRelu", "Identity", "Snapshot", "StopGradient", "Softmax", "LogSoftmax"]
POSITIVE = {"Log", "Sqrt", "Rsqrt", "Log1p", "Inv", "Reciprocal"}
BINARY_F = ["Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Maximum", "Minimum",
            "Pow", "SquaredDifference", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"]
REDUCE = ["Mean", "Sum", "Max", "Min", "Prod", "All", "Any"]
CONVS = ["Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"]
# ops left out, and why (a test checks every op of the spec is drawn or listed here)
_LISTS = "TensorList/TensorArray values: tests/test_control_flow.py (list loops, element rules)"
NOT_DRAWN = {"NoOp": "no inputs and no outputs",
             **{name: _LISTS for name in (
                 "EmptyTensorList", "TensorListReserve", "TensorListFromTensor", "TensorListGetItem",
                 "TensorListSetItem", "TensorListPushBack", "TensorListPopBack", "TensorListLength",
                 "TensorListElementShape", "TensorListResize", "TensorListStack", "TensorListGather",
                 "TensorListScatter", "TensorListScatterV2", "TensorListScatterIntoExistingList",
                 "TensorListConcatV2", "TensorListSplit", "TensorArrayV3", "TensorArrayWriteV3",
                 "TensorArrayReadV3", "TensorArrayGatherV3", "TensorArrayScatterV3", "TensorArraySizeV3",
                 "TensorArrayConcatV3", "TensorArraySplitV3", "TensorArrayCloseV3")},
             "WtQConv2D": "int8 ops: exact-integer cases in the conformance suite",
             "WtQDepthwiseConv2D": "int8 ops: exact-integer cases in the conformance suite",
             "WtQMatMul": "int8 ops: exact-integer cases in the conformance suite",
             "WtQuantize": "int8 ops: exact-integer cases in the conformance suite",
             "WtDequantize": "int8 ops: exact-integer cases in the conformance suite"}


def _window(d, kind):
    """NHWC input, kernel, strides, dilations, padding for a conv / pool."""
    n, h, w, c = d.int(1, 3), d.int(1, 9), d.int(1, 9), d.int(1, 9)
    kh, kw = d.int(1, 4), d.int(1, 4)
    s = d.int(1, 3)
    dil = d.int(1, 2) if s == 1 and kind == "conv" else 1
    pad = d.pick(["SAME", "VALID", "EXPLICIT"] if kind == "conv" else ["SAME", "VALID"])
    attrs = {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, dil, dil, 1], "data_format": "NHWC"}
    if pad == "EXPLICIT":
        attrs["explicit_paddings"] = [0, 0, d.int(0, 2), d.int(0, 2), d.int(0, 2), d.int(0, 2), 0, 0]
    return (n, h, w, c), (kh, kw), attrs


def draw_case(d, op=None):
    """-> (op, inputs, consts, attrs)."""
    op = op or d.pick(sorted(ALL_DRAWN))
    if op in UNARY_F:
        x = array(d, shape(d, 1 if op in ("Softmax", "LogSoftmax") else 0), lo=0.1 if op in POSITIVE else -3)
        return op, [x], set(), {"alpha": 0.25}
    if op == "LogicalNot":
        return op, [array(d, shape(d), BOOL)], set(), {}
    if op in BINARY_F or op in ("LogicalAnd", "LogicalOr", "Prelu"):
        a = shape(d)
        b = bshape(d, a)
        if d.bool():
            a, b = b, a
        dt = BOOL if op.startswith("Logical") else (I32 if d.int(0, 4) == 0 and op not in ("Pow",) else F32)
        lo = 0.5 if op in ("RealDiv", "Div", "FloorDiv", "FloorMod", "Pow") else -3
        x, y = array(d, a, dt, lo=-3 if dt != F32 or op != "Pow" else 0.5), array(d, b, dt, lo=lo)
        if dt == I32 and op in ("RealDiv", "Div", "FloorDiv", "FloorMod"):
            y = np.where(y == 0, 1, y).astype(np.int32)
        if op == "Prelu":
            x, y = array(d, a), array(d, bshape(d, a))
        return op, [x, y], {1} if d.bool() else set(), {}
    if op == "BiasAdd":
        s = shape(d, 1, 4)
        return op, [array(d, s), array(d, s[-1:])], {1}, {"data_format": "NHWC"}
    if op == "AddN":
        s = shape(d)
        return op, [array(d, s) for _ in range(d.int(1, 4))], set(), {}
    if op in REDUCE:
        s = shape(d, 1)
        axes = sorted({d.int(-len(s), len(s) - 1) for _ in range(d.int(1, len(s)))})
        dt = BOOL if op in ("All", "Any") else F32
        return op, [array(d, s, dt), np.array(axes, np.int32)], {1}, {"keep_dims": d.bool()}
    if op in ("ArgMax", "ArgMin"):
        s = shape(d, 1)
        return op, [array(d, s), np.array(d.int(-len(s), len(s) - 1), np.int32)], {1}, {"output_type": I32}
    if op in CONVS:
        (n, h, w, c), (kh, kw), attrs = _window(d, "conv")
        depthwise = "Depthwise" in op
        co = d.int(1, 3) if depthwise else d.int(1, 9)
        ins = [array(d, (n, h, w, c)), array(d, (kh, kw, c, co))]
        if op.startswith(("_", "Fused")):
            act = d.pick([[], ["Relu"], ["Relu6"], ["Elu"], ["Sigmoid"], ["LeakyRelu"]])
            attrs["fused_ops"] = ["BiasAdd"] + act
            attrs["leakyrelu_alpha"] = 0.2
            ins.append(array(d, (c * co if depthwise else co,)))
        return op, ins, set(range(1, len(ins))), attrs
    if op in ("MaxPool", "AvgPool"):
        (n, h, w, c), (kh, kw), attrs = _window(d, "pool")
        attrs["ksize"] = [1, kh, kw, 1]
        attrs.pop("dilations")
        return op, [array(d, (n, h, w, c))], set(), attrs
    if op in ("MatMul", "_FusedMatMul"):
        m, k, n = d.int(1, 9), d.int(1, 9), d.int(1, 9)
        ta, tb = d.bool(), d.bool()
        ins = [array(d, (k, m) if ta else (m, k)), array(d, (n, k) if tb else (k, n))]
        attrs = {"transpose_a": ta, "transpose_b": tb}
        if op == "_FusedMatMul":
            attrs["fused_ops"] = ["BiasAdd"] + d.pick([[], ["Relu"]])
            ins.append(array(d, (n,)))
        return op, ins, set(range(1, len(ins))) if d.bool() else set(), attrs
    if op.startswith("BatchMatMul"):
        batch = shape(d, 0, 2, 1, 3)
        m, k, n = d.int(1, 6), d.int(1, 6), d.int(1, 6)
        ax, ay = d.bool(), d.bool()
        return op, [array(d, batch + ((k, m) if ax else (m, k))), array(d, bshape(d, batch) + ((n, k) if ay else (k, n)))], \
            set(), {"adj_x": ax, "adj_y": ay}
    if op.startswith("FusedBatchNorm"):
        s = (d.int(1, 2), d.int(1, 5), d.int(1, 5), d.int(1, 6))
        c = s[-1]
        return op, [array(d, s), array(d, (c,)), array(d, (c,)), array(d, (c,)), array(d, (c,), lo=0.1, hi=2)], \
            {1, 2, 3, 4}, {"epsilon": 1e-3}
    if op == "Transpose":
        s = shape(d, 1)
        perm = list(np.random.default_rng(d.int(0, 999)).permutation(len(s)))
        return op, [array(d, s), np.array(perm, np.int32)], {1}, {}
    if op == "Reshape":
        s = shape(d)
        n = int(np.prod(s))
        dims = [n] if n else [0]
        if n and d.bool():
            f = next(f for f in (4, 3, 2, 1) if n % f == 0)
            dims = [f, -1]
        return op, [array(d, s), np.array(dims, np.int32)], {1}, {}
    if op == "Squeeze":
        s = tuple(1 if d.int(0, 2) == 0 else x for x in shape(d, 1))
        ones = [i for i, x in enumerate(s) if x == 1]
        dims = [i for i in ones if d.bool()]
        return op, [array(d, s)], set(), {"squeeze_dims": dims}
    if op == "ExpandDims":
        s = shape(d)
        return op, [array(d, s), np.array(d.int(-len(s) - 1, len(s)), np.int32)], {1}, {}
    if op == "Slice":
        s = shape(d, 1)
        begin = [d.int(0, x - 1) for x in s]
        size = [d.pick([-1, d.int(0, x - b)]) for x, b in zip(s, begin)]
        return op, [array(d, s), np.array(begin, np.int32), np.array(size, np.int32)], {1, 2}, {}
    if op == "StridedSlice":
        s = shape(d, 1, 3)
        b = [d.int(-x, x - 1) for x in s]
        e = [d.int(-x, x) for x in s]
        st = [d.pick([1, 2, -1]) for _ in s]
        masks = {k: d.int(0, 2 ** len(s) - 1) for k in ("begin_mask", "end_mask")}
        if d.bool():
            masks["shrink_axis_mask"] = 1 << d.int(0, len(s) - 1)
            i = masks["shrink_axis_mask"].bit_length() - 1
            b[i], e[i], st[i] = d.int(0, s[i] - 1), 0, 1
            e[i] = b[i] + 1
            masks = {k: v & ~(1 << i) for k, v in masks.items() if k != "shrink_axis_mask"} | \
                {"shrink_axis_mask": 1 << i}
        ints = lambda v: np.array(v, np.int32)
        return op, [array(d, s), ints(b), ints(e), ints(st)], {1, 2, 3}, masks
    if op in ("ConcatV2", "Concat", "Pack"):
        s = list(shape(d, 1))
        ax = d.int(-len(s), len(s) - 1)
        vals = []
        for _ in range(d.int(1, 3)):
            t = list(s)
            if op != "Pack":
                t[ax] = d.int(0, 4)
            vals.append(array(d, tuple(t)))
        if op == "Pack":
            return op, vals, set(), {"axis": d.int(-len(s) - 1, len(s)), "N": len(vals)}
        axis = np.array(ax, np.int32)
        return (op, vals + [axis], {len(vals)}, {"N": len(vals)}) if op == "ConcatV2" else \
            (op, [axis] + vals, {0}, {"N": len(vals)})
    if op == "Unpack":
        s = shape(d, 1)
        ax = d.int(-len(s), len(s) - 1)
        return op, [array(d, s)], set(), {"axis": ax, "num": s[ax]}
    if op == "Split":
        s = list(shape(d, 1))
        ax = d.int(0, len(s) - 1)
        num = d.int(1, 3)
        s[ax] = num * d.int(1, 3)
        return op, [np.array(ax, np.int32), array(d, tuple(s))], {0}, {"num_split": num}
    if op == "SplitV":
        s = shape(d, 1)
        ax = d.int(0, len(s) - 1)
        sizes = []
        left = s[ax]
        while left > 0 and len(sizes) < 3:
            sizes.append(d.int(0, left))
            left -= sizes[-1]
        sizes.append(-1)
        return op, [array(d, s), np.array(sizes, np.int32), np.array(ax, np.int32)], {1, 2}, {"num_split": len(sizes)}
    if op in ("Pad", "PadV2", "MirrorPad"):
        s = shape(d, 1)
        mode = d.pick(["REFLECT", "SYMMETRIC"])
        lim = lambda x: (x - 1 if mode == "REFLECT" else x) if op == "MirrorPad" else 3
        pads = np.array([[d.int(0, lim(x)), d.int(0, lim(x))] for x in s], np.int32)
        ins = [array(d, s), pads] + ([np.array(-1.5, np.float32)] if op == "PadV2" else [])
        return op, ins, set(range(1, len(ins))), {"mode": mode} if op == "MirrorPad" else {}
    if op == "GatherV2":
        ps = shape(d, 1, 4)
        bd = d.int(0, len(ps) - 1)
        ax = d.int(bd, len(ps) - 1)
        # index dims after the batch: random, or copies of the params' next dims (where a
        # rule that miscounts batch_dims still finds the shapes "compatible")
        ix = ps[:bd] + (shape(d, 0, 2) if d.bool() else ps[bd:bd + d.int(1, 2)])
        idx = array(d, ix, I32, 0, ps[ax] - 1)
        neg = d.bool() and bd > 0
        axis = ax - len(ps) if d.bool() else ax
        return op, [array(d, ps), idx, np.array(axis, np.int32)], {2} | ({1} if d.bool() else set()), \
            {"batch_dims": bd - len(ix) if neg else bd}
    if op == "GatherNd":
        ps = shape(d, 1, 4)
        k = d.int(1, len(ps))
        lead = shape(d, 0, 2)
        idx = np.stack([array(d, lead, I32, 0, ps[i] - 1) for i in range(k)], axis=-1).astype(np.int32)
        return op, [array(d, ps), idx], {1}, {}
    if op in ("ResizeBilinear", "ResizeNearestNeighbor"):
        n, h, w, c = d.int(1, 3), d.int(1, 7), d.int(1, 7), d.int(1, 5)
        ac = d.bool()
        hp = not ac and d.bool()
        return op, [array(d, (n, h, w, c)), np.array([d.int(1, 9), d.int(1, 9)], np.int32)], {1}, \
            {"align_corners": ac, "half_pixel_centers": hp}
    if op == "Cast":
        src, dst = d.pick([F32, I32, BOOL]), d.pick([F32, I32, BOOL])
        return op, [array(d, shape(d), src, -9, 9)], set(), {"DstT": dst}
    if op in ("Select", "SelectV2"):
        s = shape(d, 1)
        cond = s if op == "Select" or d.bool() else bshape(d, s)
        if op == "Select" and d.bool():
            cond = s[:1]
        return op, [array(d, cond, BOOL), array(d, s), array(d, s)], set(), {}
    if op == "TopKV2":
        s = shape(d, 1)
        return op, [array(d, s), np.array(d.int(0, s[-1]), np.int32)], {1}, {"sorted": True}
    if op == "Fill":
        return op, [np.array(shape(d), np.int32), np.array(2.5, np.float32)], {0}, {}
    if op == "Range":
        start, delta = d.int(-5, 5), d.pick([1, 2, -1, 3])
        limit = start + delta * d.int(0, 6)
        return op, [np.array(start, np.float32), np.array(limit, np.float32), np.array(delta, np.float32)], \
            {0, 1, 2}, {}
    if op == "Shape":
        return op, [array(d, shape(d))], set(), {"out_type": I32}
    if op == "DepthToSpace":
        b = d.int(1, 3)                         # 1: the rule must refuse it
        c = b * b * d.int(1, 3) + (d.int(0, 1) if d.int(0, 4) == 0 else 0)     # sometimes indivisible
        return op, [array(d, (d.int(1, 3), d.int(1, 4), d.int(1, 4), c))], set(), {"block_size": b}
    if op == "Conv2DBackpropInput":
        n, h, w, ci, co = d.int(1, 3), d.int(1, 5), d.int(1, 5), d.int(1, 4), d.int(1, 4)
        kh, kw, s = d.int(1, 4), d.int(1, 4), d.int(1, 3)
        pad = d.pick(["SAME", "VALID"])
        oh, ow = (h * s, w * s) if pad == "SAME" else ((h - 1) * s + kh, (w - 1) * s + kw)
        if d.int(0, 5) == 0:
            oh += 1                              # a size no forward conv maps back: refused
        size = np.array([n, oh, ow, co], np.int32)
        return op, [size, array(d, (kh, kw, co, ci)), array(d, (n, h, w, ci))], {0}, \
            {"strides": [1, s, s, 1], "padding": pad, "data_format": "NHWC"}
    if op.startswith("NonMaxSuppression"):
        n = d.int(0, 9)
        boxes = array(d, (n, 4), lo=0.0, hi=1.0)
        if n > 1 and d.bool():
            boxes[-1] = boxes[0]                 # a duplicate box
        levels = np.array([0.1, 0.5, 0.5, 0.9], np.float32)      # ties are common
        scores = levels[np.random.default_rng(d.int(0, 2 ** 31)).integers(0, 4, n)]
        ins = [boxes, scores, np.array(d.int(0, 10), np.int32), np.array(d.pick([0.0, 0.3, 0.5, 1.0]), np.float32)]
        if op != "NonMaxSuppressionV2":
            ins.append(np.array(d.pick([-1.0, 0.0, 0.4]), np.float32))
        if op == "NonMaxSuppressionV5":
            ins.append(np.array(d.pick([0.0, 0.0, 0.5]), np.float32))
        # boxes and scores at run time: the interpreter runs the op when they are known
        return op, ins, set(range(2, len(ins))), {"pad_to_max_output_size": d.bool()}
    if op == "Where":
        s = shape(d, 1, 3, 0, 4)
        x = array(d, s, d.pick([F32, BOOL]))
        if x.dtype == F32:
            x = np.where(x > 0, x, 0).astype(np.float32)
        return op, [x], set(), {}
    raise ValueError(f"no draw for {op}")


ALL_DRAWN = set(UNARY_F) | set(BINARY_F) | set(REDUCE) | set(CONVS) | {
    "LogicalNot", "LogicalAnd", "LogicalOr", "Prelu", "BiasAdd", "AddN", "ArgMax", "ArgMin", "MaxPool", "AvgPool",
    "MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "FusedBatchNorm", "FusedBatchNormV2",
    "FusedBatchNormV3", "Transpose", "Reshape", "Squeeze", "ExpandDims", "Slice", "StridedSlice", "ConcatV2",
    "Concat", "Pack", "Unpack", "Split", "SplitV", "Pad", "PadV2", "MirrorPad", "GatherV2", "GatherNd",
    "ResizeBilinear", "ResizeNearestNeighbor", "Cast", "Select", "SelectV2", "TopKV2", "Fill", "Range", "Shape",
    "DepthToSpace", "Conv2DBackpropInput", "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4",
    "NonMaxSuppressionV5", "Where"}


def case_graph(op, inputs, consts, attrs, name="drawn"):
    """A one-node GraphModel for a drawn case (runtime inputs as placeholders)."""
    from webtensor.graph import Graph, Node, TensorInfo
    from webtensor.model import GraphModel
    from webtensor.ops import OPS, TensorSpec
    ins, nodes, cvals, infos = [], [], {}, []
    for i, v in enumerate(inputs):
        k = f"in{i}"
        ins.append(f"{k}:0")
        if i in consts:
            nodes.append(Node(k, "Const", [], {"dtype": v.dtype}))
            cvals[k] = v
        else:
            nodes.append(Node(k, "Placeholder", [], {"dtype": v.dtype, "shape": list(v.shape)}))
            infos.append(TensorInfo(k, f"{k}:0", list(v.shape), v.dtype))
    nodes.append(Node("y", op, ins, attrs))
    n_out = len(OPS[op].shape([TensorSpec(v.shape, v.dtype, v) for v in inputs], attrs))
    outs = [TensorInfo(f"y{j}", f"y:{j}", None, F32) for j in range(n_out)]
    return GraphModel(Graph(nodes, cvals, infos, outs, name)), {f"in{i}": v for i, v in enumerate(inputs)
                                                                if i not in consts}
