"""The conformance suite: op cases every backend must pass against the numpy reference.

Each case is a tiny graph (one op, or a short chain that exercises fusion) with
shapes at, below and above the SIMD width (4) and the GEMM tile (4 x 8), odd
spatial sizes, stride 2, SAME/VALID and broadcasting.  `run(backend)` compiles
every case for that backend, runs it, and reports per case the max error against
the tolerance, and which nodes the backend ran on numpy instead (reported, not hidden).
"""
from __future__ import annotations

import numpy as np

from .backends import get_backend_async
from .engine import engine, run_sync
from .graph import Graph, Node, TensorInfo
from .model import GraphModel

F32 = np.dtype(np.float32)
RNG_SEED = 20261128

# tolerances (max |got - want| / (1 + |want|)): accumulation order differs in reductions
TOL_EXACT = 1e-6
TOL_ACCUM = 1e-4          # conv / matmul / mean over many terms
TOL_TRANSCENDENTAL = 2e-6  # our own exp/sigmoid/tanh vs numpy's


# an op whose kernel call the backend refuses (its supports(call) is False: WebGL has no int8
# kernels) runs on numpy inside the plan, and must still give the exact integers; any other
# fallback of a kernel op fails its case


class Case:
    def __init__(self, name, nodes, inputs, consts, outputs, tol=TOL_EXACT, kernel_ops=(), int8=False):
        self.name, self.nodes, self.inputs, self.consts = name, nodes, inputs, consts
        self.outputs, self.tol = outputs, tol
        self.kernel_ops = set(kernel_ops)   # ops that must not fall back to numpy
        self.int8 = int8

    def model(self) -> GraphModel:
        nodes = [Node(k, "Placeholder", [], {"dtype": v.dtype, "shape": list(v.shape)}) for k, v in self.inputs.items()]
        nodes += [Node(k, "Const", [], {"dtype": v.dtype}) for k, v in self.consts.items()]
        nodes += self.nodes
        infos_in = [TensorInfo(k, f"{k}:0", list(v.shape), v.dtype) for k, v in self.inputs.items()]
        infos_out = [TensorInfo(o, o if ":" in o else f"{o}:0", None, F32) for o in self.outputs]
        return GraphModel(Graph(nodes, dict(self.consts), infos_in, infos_out, f"case {self.name}"))


def _rand(rng, *shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def _i32(v):
    return np.array(v, np.int32)


def cases() -> list[Case]:
    rng = np.random.default_rng(RNG_SEED)
    out: list[Case] = []

    def add(name, op, inputs, consts, attrs=None, n_out=1, tol=TOL_EXACT, order=None, kernel=True):
        order = order or (list(inputs) + list(consts))
        outs = [f"y:{i}" for i in range(n_out)]
        out.append(Case(name, [Node("y", op, [f"{k}:0" for k in order], attrs or {})], inputs, consts, outs, tol,
                        [op] if kernel else []))

    conv = lambda s, pad, d=1: {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, d, d, 1],
                                "data_format": "NHWC"}
    # -- convolutions: channels at/below/above 4 and 8, odd sizes, stride 2, SAME/VALID, dilation
    for (h, w, c, co, k, s, pad, d) in [(7, 7, 3, 8, 3, 1, "SAME", 1), (9, 6, 5, 9, 3, 2, "SAME", 1),
                                        (8, 8, 4, 16, 1, 1, "VALID", 1), (5, 5, 17, 7, 1, 1, "SAME", 1),
                                        (10, 11, 1, 4, 5, 2, "VALID", 1), (12, 12, 8, 3, 3, 1, "SAME", 2),
                                        (6, 6, 9, 17, 2, 2, "SAME", 1), (3, 3, 32, 33, 3, 1, "VALID", 1),
                                        (11, 9, 3, 10, 3, 1, "SAME", 2)]:   # few channels + dilation: the patch path
        add(f"conv2d {h}x{w}x{c}->{co} k{k} s{s} {pad} d{d}", "Conv2D", {"x": _rand(rng, 1, h, w, c)},
            {"w": _rand(rng, k, k, c, co)}, conv(s, pad, d), tol=TOL_ACCUM)
    # the patch path's row copy (unit dilation along W) under a dilation along H only
    add("conv2d 10x8x3->6 k3 s1 VALID d2x1", "Conv2D", {"x": _rand(rng, 1, 10, 8, 3)}, {"w": _rand(rng, 3, 3, 3, 6)},
        {**conv(1, "VALID"), "dilations": [1, 2, 1, 1]}, tol=TOL_ACCUM)
    for fused, extra in [(["BiasAdd"], 1), (["BiasAdd", "Relu"], 1), (["BiasAdd", "Relu6"], 1),
                         (["BiasAdd", "Prelu"], 2), (["BiasAdd", "Sigmoid"], 1), (["BiasAdd", "Elu"], 1),
                         (["BiasAdd", "LeakyRelu"], 1), (["BiasAdd", "Tanh"], 1), (["FusedBatchNorm", "Relu"], 4)]:
        co = 12
        consts = {"w": _rand(rng, 3, 3, 5, co)}
        for j in range(extra):
            consts[f"a{j}"] = _rand(rng, co, lo=0.5 if "BatchNorm" in fused[0] else -1, hi=1.5)
        attrs = {**conv(1, "SAME"), "fused_ops": fused, "epsilon": 1e-3, "leakyrelu_alpha": 0.15}
        tol = TOL_TRANSCENDENTAL * 10 if fused[-1] in ("Sigmoid", "Elu", "Tanh") else TOL_ACCUM
        add(f"_FusedConv2D {'+'.join(fused)}", "_FusedConv2D", {"x": _rand(rng, 1, 7, 6, 5, lo=-3, hi=3)}, consts,
            attrs, tol=tol)
    # channels 14 = 8 + 4 + 2 and 17 = 8 + 8 + 1: every channel block of the two-pixel kernel
    for (h, c, mult, k, s) in [(7, 3, 1, 3, 1), (9, 8, 1, 3, 2), (8, 5, 2, 3, 1), (6, 17, 1, 5, 2), (5, 4, 1, 3, 1),
                               (7, 14, 1, 5, 1), (6, 14, 1, 3, 1)]:
        add(f"depthwise {h}x{h}x{c} m{mult} k{k} s{s}", "DepthwiseConv2dNative", {"x": _rand(rng, 1, h, h, c)},
            {"w": _rand(rng, k, k, c, mult)}, conv(s, "SAME"), tol=TOL_ACCUM)
    # nine taps that are not 3x3 (1x9 and 9x1): the 3x3 path must not take them
    for kh, kw in ((1, 9), (9, 1)):
        add(f"depthwise 11x10x6 k{kh}x{kw} s1", "DepthwiseConv2dNative", {"x": _rand(rng, 1, 11, 10, 6)},
            {"w": _rand(rng, kh, kw, 6, 1)}, conv(1, "SAME"), tol=TOL_ACCUM)
    add("FusedDepthwise BiasAdd+Relu6", "FusedDepthwiseConv2dNative", {"x": _rand(rng, 1, 9, 9, 6, lo=-4, hi=4)},
        {"w": _rand(rng, 3, 3, 6, 1), "b": _rand(rng, 6)}, {**conv(2, "VALID"), "fused_ops": ["BiasAdd", "Relu6"]},
        tol=TOL_ACCUM)
    for (m, k, n, ta, tb) in [(1, 7, 9, False, False), (5, 16, 3, False, True), (4, 8, 8, False, False)]:
        b = _rand(rng, *((n, k) if tb else (k, n)))
        add(f"MatMul {m}x{k}x{n} tb={tb}", "MatMul", {"a": _rand(rng, m, k)}, {"b": b},
            {"transpose_a": ta, "transpose_b": tb}, tol=TOL_ACCUM)
    add("_FusedMatMul BiasAdd+Relu", "_FusedMatMul", {"a": _rand(rng, 3, 10)},
        {"b": _rand(rng, 10, 6), "bias": _rand(rng, 6)}, {"fused_ops": ["BiasAdd", "Relu"]}, tol=TOL_ACCUM)
    # -- pooling
    for op in ("MaxPool", "AvgPool"):
        for (h, c, k, s, pad) in [(7, 3, 3, 2, "SAME"), (8, 4, 2, 2, "VALID"), (5, 9, 3, 1, "SAME")]:
            add(f"{op} {h}x{h}x{c} k{k} s{s} {pad}", op, {"x": _rand(rng, 1, h, h, c)}, {},
                {"ksize": [1, k, k, 1], "strides": [1, s, s, 1], "padding": pad})
    # stride 1 along W, a window wider than tall and the right padding wider than the left
    # (the max pool's sliding column path), and stride 2 down, 1 across
    add("MaxPool 6x9x7 k2x4 s1 SAME", "MaxPool", {"x": _rand(rng, 1, 6, 9, 7)}, {},
        {"ksize": [1, 2, 4, 1], "strides": [1, 1, 1, 1], "padding": "SAME"})
    add("MaxPool 7x6x5 k3x2 s2x1 VALID", "MaxPool", {"x": _rand(rng, 1, 7, 6, 5)}, {},
        {"ksize": [1, 3, 2, 1], "strides": [1, 2, 1, 1], "padding": "VALID"})
    # -- element-wise binary with broadcasting
    shapes = [((2, 3, 5), (2, 3, 5)), ((1, 4, 4, 7), (7,)), ((3, 1, 6), (1, 5, 1)), ((2, 9), ()), ((), (4, 3)),
              ((1, 6, 6, 3), (1, 6, 6, 1))]
    for op in ("AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference"):
        for sa, sb in shapes[:3] if op not in ("AddV2", "Mul") else shapes:
            b = _rand(rng, *sb, lo=0.5, hi=2) if op == "RealDiv" else _rand(rng, *sb)
            add(f"{op} {sa} {sb}", op, {"a": _rand(rng, *sa)}, {"b": b}, tol=TOL_EXACT)
    # a short row repeated over NHWC (a per-channel mean or scale): the kernels' periodic path,
    # batch 2, 50 rows of 3 = 12 whole periods of 12 and a tail of two rows; either side repeats
    for op in ("AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference"):
        row = _rand(rng, 3, lo=0.5, hi=2) if op == "RealDiv" else _rand(rng, 3)
        add(f"{op} (2, 5, 5, 3) (3,)", op, {"a": _rand(rng, 2, 5, 5, 3)}, {"b": row}, tol=TOL_EXACT)
        big = _rand(rng, 2, 5, 5, 3, lo=0.5, hi=2) if op == "RealDiv" else _rand(rng, 2, 5, 5, 3)
        add(f"{op} (7,) (1, 3, 3, 7)", op, {"a": _rand(rng, 7)}, {"b": big[:1, :3, :3, :].repeat(3, 3)[..., :7]},
            tol=TOL_EXACT)
    add("AddV2 two runtime inputs", "AddV2", {"a": _rand(rng, 2, 8, 5), "b": _rand(rng, 8, 1)}, {})
    add("Prelu", "Prelu", {"x": _rand(rng, 1, 5, 5, 6)}, {"alpha": _rand(rng, 6)})
    add("AddN x3", "AddN", {"a": _rand(rng, 3, 7), "b": _rand(rng, 3, 7), "c": _rand(rng, 3, 7)}, {})
    add("BiasAdd", "BiasAdd", {"x": _rand(rng, 2, 3, 9)}, {"b": _rand(rng, 9)})
    # -- unary
    for op, lo, hi, tol in [("Relu", -2, 2, TOL_EXACT), ("Relu6", -3, 9, TOL_EXACT), ("Sigmoid", -20, 20, TOL_TRANSCENDENTAL),
                            ("Tanh", -5, 5, TOL_TRANSCENDENTAL), ("Exp", -20, 10, TOL_TRANSCENDENTAL * 5),
                            ("Elu", -5, 3, TOL_TRANSCENDENTAL), ("Sqrt", 0, 9, TOL_EXACT), ("Rsqrt", 0.1, 9, TOL_EXACT),
                            ("Reciprocal", 0.5, 4, TOL_EXACT), ("Neg", -1, 1, 0), ("Abs", -1, 1, 0),
                            ("Square", -3, 3, TOL_EXACT), ("Floor", -3, 3, 0), ("Round", -3, 3, 0)]:
        add(f"{op}", op, {"x": _rand(rng, 3, 37, lo=lo, hi=hi)}, {}, tol=tol)
    add("LeakyRelu", "LeakyRelu", {"x": _rand(rng, 2, 11)}, {}, {"alpha": 0.3})
    # the exponential's whole range: results down to the denormals and up to FLT_MAX, the
    # limits where it turns 0 and inf, and the small-argument branches of Tanh and Elu
    wide = np.concatenate([np.linspace(-110, 95, 60), np.linspace(-0.1, 0.1, 13), [88.37, 88.38, -103.9, -104.0,
                                                                                   9.0, 9.01, -9.01, -0.0625]])
    for op in ("Exp", "Sigmoid", "Tanh", "Elu", "Selu"):
        add(f"{op} over the float range", op, {"x": wide.astype(np.float32).reshape(3, 27)}, {},
            tol=TOL_TRANSCENDENTAL * 5)
    # -- data movement
    add("Pad", "Pad", {"x": _rand(rng, 1, 5, 4, 3)}, {"p": _i32([[0, 0], [1, 2], [0, 1], [2, 3]])})
    add("PadV2 value", "PadV2", {"x": _rand(rng, 2, 3)}, {"p": _i32([[1, 0], [2, 2]]), "v": np.float32(-7)})
    add("ConcatV2 axis -1", "ConcatV2", {"a": _rand(rng, 1, 4, 4, 3), "b": _rand(rng, 1, 4, 4, 5)}, {"ax": _i32(-1)},
        {"N": 2})
    add("ConcatV2 axis 1", "ConcatV2", {"a": _rand(rng, 2, 3, 5), "b": _rand(rng, 2, 1, 5), "c": _rand(rng, 2, 2, 5)},
        {"ax": _i32(1)}, {"N": 3})
    add("Pack axis 1", "Pack", {"a": _rand(rng, 3, 4), "b": _rand(rng, 3, 4)}, {}, {"axis": 1})
    add("Unpack axis 1", "Unpack", {"x": _rand(rng, 2, 3, 4)}, {}, {"axis": 1, "num": 3}, n_out=3)
    add("Split", "Split", {"x": _rand(rng, 2, 6, 4)}, {"ax": _i32(1)}, {"num_split": 3}, n_out=3, order=["ax", "x"])
    add("SplitV", "SplitV", {"x": _rand(rng, 2, 7)}, {"s": _i32([2, -1, 1]), "ax": _i32(-1)}, n_out=3)
    add("Transpose", "Transpose", {"x": _rand(rng, 2, 3, 4, 5)}, {"p": _i32([0, 3, 1, 2])})
    add("Slice", "Slice", {"x": _rand(rng, 3, 5, 6)}, {"b": _i32([1, 0, 2]), "s": _i32([2, -1, 3])})
    for masks in [{}, {"shrink_axis_mask": 1}, {"begin_mask": 2, "end_mask": 2}, {"new_axis_mask": 2},
                  {"ellipsis_mask": 1}]:
        add(f"StridedSlice {masks}", "StridedSlice", {"x": _rand(rng, 5, 6, 3)},
            {"b": _i32([1, 0, 1]), "e": _i32([4, 5, 3]), "st": _i32([2, 1, 1])}, masks)
    add("StridedSlice reverse", "StridedSlice", {"x": _rand(rng, 5, 6)}, {"b": _i32([-1]), "e": _i32([0]),
                                                                           "st": _i32([-1])}, {"end_mask": 1})
    for op in ("ResizeBilinear", "ResizeNearestNeighbor"):
        for size, ac, hp in [((9, 7), False, False), ((4, 3), False, True), ((11, 5), True, False)]:
            add(f"{op} {size} ac={ac} hp={hp}", op, {"x": _rand(rng, 1, 6, 5, 3)}, {"size": _i32(size)},
                {"align_corners": ac, "half_pixel_centers": hp}, tol=TOL_EXACT)
    for op in ("Mean", "Sum", "Max", "Min"):
        # ([1]: 2 outer rows x 42 lanes, past one 32-lane run of the wasm kernel)
        for axes, keep in [([1, 2], True), ([-1], False), ([0], False), ([1], False)]:
            add(f"{op} axes={axes} keep={keep}", op, {"x": _rand(rng, 2, 5, 7, 6)}, {"ax": _i32(axes)},
                {"keep_dims": keep}, tol=TOL_ACCUM)
    for cols in (1, 3, 4, 7, 100):
        add(f"Softmax cols={cols}", "Softmax", {"x": _rand(rng, 3, cols, lo=-5, hi=5)}, {}, tol=TOL_TRANSCENDENTAL)
    # TopK: ties (values from a small set: the lower index first), rows > 1, k = n, k = 0, a long row
    # streamed past a full buffer, and NaN / +-Inf (NaN ranks below every number)
    ties = rng.integers(-3, 4, (2, 4, 33)).astype(np.float32)
    ties[0, 1, [3, 9]], ties[1, 2, [0, 5, 7]], ties[1, 3, 4] = np.nan, np.inf, -np.inf
    ties[1, 0, :] = np.nan
    for name, x, k in [("ties, NaN/Inf, rows 8", ties, 5), ("k = n", _rand(rng, 3, 6), 6),
                       ("k = 0", _rand(rng, 2, 4), 0), ("a long row", _rand(rng, 1, 5000), 100)]:
        add(f"TopKV2 {name}", "TopKV2", {"x": x}, {"k": np.array(k, np.int32)}, {"sorted": True}, n_out=2)
    add("Cast int32->float32", "Cast", {"x": rng.integers(-100, 100, (3, 5)).astype(np.int32)}, {},
        {"DstT": np.dtype(np.float32)})
    add("Cast float32->int32", "Cast", {"x": _rand(rng, 4, 6, lo=-9, hi=9)}, {}, {"DstT": np.dtype(np.int32)})
    big = _rand(rng, 3, 11, lo=-1e6, hi=1e6)               # a tail of 1 after 8 vectors
    big[0, :3] = [-0.0, -0.99, 0.99]                          # toward zero
    add("Cast float32->int32 (3, 11)", "Cast", {"x": big}, {}, {"DstT": np.dtype(np.int32)})
    add("Cast int32->float32 (3, 11)", "Cast", {"x": rng.integers(-2**20, 2**20, (3, 11)).astype(np.int32)},
        {}, {"DstT": np.dtype(np.float32)})
    add("Reshape (view)", "Reshape", {"x": _rand(rng, 2, 3, 4)}, {"s": _i32([4, -1])})

    # -- chains that exercise fusion: conv -> add(residual) -> relu, conv -> bias -> relu6
    # a depthwise conv with a fused residual that dies there (the output takes its slot, in
    # place) on rows of odd width (the two-pixel kernels' last pixel is alone), 3x3 and 5x5,
    # channels 14 = 8 + 4 + 2 (every channel block)
    for k in (3, 5):
        out.append(Case(f"fusion: depthwise {k}x{k} + in-place residual, odd width", [
            Node("r", "Relu", ["xr:0"], {}),
            Node("dw", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")),
            Node("y", "AddV2", ["dw:0", "r:0"], {})],
            {"x": _rand(rng, 1, 5, 7, 14), "xr": _rand(rng, 1, 5, 7, 14)}, {"wd": _rand(rng, k, k, 14, 1)}, ["y:0"],
            TOL_ACCUM, ["DepthwiseConv2dNative", "AddV2", "Relu"]))
    # a depthwise conv that only a 1x1 conv reads: one separable call where the backend has
    # one (wasm).  Stride 2 with Relu6 between and 10 output channels (a partial panel);
    # 5x5 with a LeakyRelu, a Sigmoid after, and an in-place residual on an odd width; a
    # row of 205 pixels x 40 channels (the scratch holds 102: chunks of 102, 102 and 1); and
    # a depthwise output that a second op reads too (no fusion: the map must be stored)
    sep = lambda k, s, co, c: {"wd": _rand(rng, k, k, c, 1), "bd": _rand(rng, c), "wp": _rand(rng, 1, 1, c, co),
                               "bp": _rand(rng, co)}
    dwb = lambda s, act=None: {**conv(s, "SAME"), "fused_ops": ["BiasAdd"] + ([act] if act else []),
                               "leakyrelu_alpha": 0.2}
    out.append(Case("separable: depthwise 3x3 s2 -> Relu6 -> 1x1 conv (10 channels)", [
        Node("d", "FusedDepthwiseConv2dNative", ["x:0", "wd:0", "bd:0"], dwb(2, "Relu6")),
        Node("y", "_FusedConv2D", ["d:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]})],
        {"x": _rand(rng, 1, 9, 11, 14, lo=-3, hi=3)}, sep(3, 2, 10, 14), ["y:0"], TOL_ACCUM,
        ["FusedDepthwiseConv2dNative", "_FusedConv2D"]))
    out.append(Case("separable: depthwise 5x5 LeakyRelu -> 1x1 conv + in-place residual -> Sigmoid, odd width", [
        Node("d", "FusedDepthwiseConv2dNative", ["x:0", "wd:0", "bd:0"], dwb(1, "LeakyRelu")),
        Node("r", "Relu", ["xr:0"], {}),
        Node("p", "_FusedConv2D", ["d:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("s", "AddV2", ["p:0", "r:0"], {}), Node("y", "Sigmoid", ["s:0"], {})],
        {"x": _rand(rng, 1, 6, 7, 9), "xr": _rand(rng, 1, 6, 7, 12)}, sep(5, 1, 12, 9), ["y:0"],
        TOL_TRANSCENDENTAL * 10 + TOL_ACCUM, ["FusedDepthwiseConv2dNative", "_FusedConv2D", "AddV2", "Sigmoid"]))
    out.append(Case("separable: a row of 205 pixels x 40 channels (three scratch chunks) + residual", [
        Node("d", "FusedDepthwiseConv2dNative", ["x:0", "wd:0", "bd:0"], dwb(1)),
        Node("p", "_FusedConv2D", ["d:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("s", "AddV2", ["p:0", "xr:0"], {}), Node("y", "Relu", ["s:0"], {})],
        {"x": _rand(rng, 1, 2, 205, 40), "xr": _rand(rng, 1, 2, 205, 16)}, sep(3, 1, 16, 40), ["y:0"], TOL_ACCUM,
        ["FusedDepthwiseConv2dNative", "_FusedConv2D", "AddV2", "Relu"]))
    out.append(Case("separable: the depthwise output read twice (stays apart)", [
        Node("d", "FusedDepthwiseConv2dNative", ["x:0", "wd:0", "bd:0"], dwb(1)),
        Node("p", "_FusedConv2D", ["d:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("y", "AddV2", ["p:0", "d:0"], {})],
        {"x": _rand(rng, 1, 5, 5, 8)}, sep(3, 1, 8, 8), ["y:0"], TOL_ACCUM,
        ["FusedDepthwiseConv2dNative", "_FusedConv2D", "AddV2"]))
    # a 1x1 conv into a padded SAME conv, Inf and NaN on the border rows and columns, the
    # input made by a 1x1 conv, whose WebGL grid rows past the map hold garbage (H not a
    # multiple of 4), not zeros like the padding.  "interior and border": maps large enough
    # for WebGL to draw the interior without bounds selects and the frame apart
    # (interior_rects: the interior must never read the border).  "stride-2 slide": taps of
    # even height (WebGL SLIDE2's last tap is odd), and 13 output rows of a batch of 1 (the
    # last group of 4 rows is not full)
    for group, name, k, st, shape, dw, act in [
            ("interior and border", "depthwise 3x3 s1", 3, 1, (1, 23, 22, 8), True, "Relu6"),
            ("interior and border", "depthwise 3x3 s2", 3, 2, (1, 41, 37, 8), True, "Relu6"),
            ("interior and border", "conv 5x5 s2, 4 channels", 5, 2, (1, 39, 42, 4), False, "Relu6"),
            ("stride-2 slide", "depthwise 4x4 s2", 4, 2, (1, 34, 20, 8), True, "Relu"),
            ("stride-2 slide", "conv 6x6 s2, 4 channels", 6, 2, (1, 24, 18, 4), False, "Relu"),
            ("stride-2 slide", "depthwise 5x5 s2, 13 output rows", 5, 2, (1, 26, 20, 8), True, "Relu")]:
        xb = _rand(rng, *shape, lo=-2, hi=2)
        xb[0, 0, 3, 1], xb[0, -1, 5, 2], xb[0, 7, 0, 3], xb[0, 9, -1, 0] = np.inf, -np.inf, np.nan, np.inf
        op = "FusedDepthwiseConv2dNative" if dw else "_FusedConv2D"
        wshape = (k, k, shape[3], 1) if dw else (k, k, shape[3], 12)
        out.append(Case(f"{group}: 1x1 conv -> {name} SAME", [
            Node("p", "_FusedConv2D", ["x:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
            Node("y", op, ["p:0", "w:0", "b:0"], {**conv(st, "SAME"), "fused_ops": ["BiasAdd", act]})],
            {"x": xb}, {"wp": _rand(rng, 1, 1, shape[3], shape[3]), "bp": _rand(rng, shape[3], lo=1, hi=2),
                        "w": _rand(rng, *wshape), "b": _rand(rng, wshape[2] if dw else 12)}, ["y:0"], TOL_ACCUM,
            ["_FusedConv2D", op]))
    # an RGB stem (WebGL: its input uploaded with 4 channels, the slide fetching 3 filter
    # texels a tap), at batch 3 its groups of 4 rows in 3 images
    xs = _rand(rng, 1, 24, 21, 3, lo=-2, hi=2)
    xs[0, 0, 0, 0], xs[0, 13, 20, 2], xs[0, 23, 7, 1] = np.nan, np.inf, -np.inf
    out.append(Case("stride-2 slide: RGB stem 5x5 s2 SAME -> Relu", [
        Node("y", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv(2, "SAME"), "fused_ops": ["BiasAdd", "Relu"]})],
        {"x": xs}, {"w": _rand(rng, 5, 5, 3, 8), "b": _rand(rng, 8)}, ["y:0"], TOL_ACCUM, ["_FusedConv2D"]))
    # a global pool over a conv's 7x7 map (WebGL splits that map's grid rows for its conv's
    # threads, and the pool reads the split grid: window.glsl X_SPLIT), NaN/Inf in the map
    for kind in ("AvgPool", "MaxPool"):
        xg = _rand(rng, 1, 7, 7, 16, lo=-2, hi=2)
        xg[0, 3, 4, 5], xg[0, 6, 6, 9], xg[0, 0, 2, 12] = np.nan, np.inf, -np.inf
        out.append(Case(f"global {kind} over a conv's 7x7 map", [
            Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
            Node("y", kind, ["c:0"], {"ksize": [1, 7, 7, 1], "strides": [1, 1, 1, 1], "padding": "VALID"})],
            {"x": xg}, {"w": _rand(rng, 1, 1, 16, 16), "b": _rand(rng, 16)}, ["y:0"], TOL_ACCUM, ["_FusedConv2D", kind]))
    # two zero pads of one size with a layer between: the zeros a backend keeps for the first
    # (WebGL shares one zeros texture) must still be zeros for the second
    out.append(Case("two channel pads of one size, a Relu between", [
        Node("p1", "Pad", ["x:0", "pw:0"], {}), Node("r", "Relu", ["p1:0"], {}),
        Node("p2", "Pad", ["z:0", "pw:0"], {}), Node("y", "AddV2", ["r:0", "p2:0"], {})],
        {"x": _rand(rng, 1, 4, 4, 4, lo=-2, hi=2), "z": _rand(rng, 1, 4, 4, 4)}, {"pw": _i32([[0, 0], [0, 0], [0, 0], [0, 4]])},
        ["y:0", "p2:0"], TOL_EXACT, ["Pad", "Relu", "AddV2"]))
    # BlazeFace's stride-2 blocks: a 1x1 conv after a stride-2 depthwise adds the block
    # input's 2x2 max pool, its channels zero-padded (WebGL's pool draw writes the padded
    # tensor: GLPlan._padded_pools); NaN/Inf inside pool windows, the pad alone, the pool
    # alone, a pool that is also an output or read by another op (its pad drawn apart) and a
    # SAME pool of an odd map
    for name, (h, w, c, co), pool_on, pad_on, extra in (
            ("max pool and channel pad", (20, 12, 8, 16), True, True, False),
            ("max pool alone", (18, 10, 8, 8), True, False, False),
            ("channel pad alone", (10, 7, 8, 12), False, True, False),
            ("max pool also an output", (20, 12, 8, 16), True, True, "output"),
            ("max pool also read by a Square", (20, 12, 8, 16), True, True, "reader"),
            ("SAME max pool of an odd map", (19, 12, 8, 16), True, True, False)):
        xb = _rand(rng, 1, h, w, c, lo=-2, hi=2)
        xb[0, 2, 3, 1], xb[0, 5, 4, 6], xb[0, 9, 0, 3], xb[0, 0, 6, 0] = np.nan, np.inf, -np.inf, np.nan
        nodes = [Node("d", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(2 if pool_on else 1, "SAME"))]
        res = "x:0"
        if pool_on:
            nodes.append(Node("m", "MaxPool", [res], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                                                      "padding": "SAME" if h % 2 else "VALID"}))
            res = "m:0"
        if pad_on:
            nodes.append(Node("p", "Pad", [res, "pw:0"], {}))
            res = "p:0"
        nodes += [Node("c", "_FusedConv2D", ["d:0", "wc:0", "bc:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
                  Node("a", "AddV2", ["c:0", res], {}), Node("y", "Relu", ["a:0"], {})]
        if extra == "reader":
            nodes.append(Node("z", "Square", ["m:0"], {}))
        out.append(Case(f"residual: {name}, added to a 1x1 conv after a depthwise", nodes, {"x": xb},
                        {"wd": _rand(rng, 3, 3, c, 1), "wc": _rand(rng, 1, 1, c, co), "bc": _rand(rng, co),
                         "pw": _i32([[0, 0], [0, 0], [0, 0], [0, co - c]])},
                        ["y:0"] + {"output": ["m:0"], "reader": ["z:0"]}.get(extra, []), TOL_ACCUM,
                        ["DepthwiseConv2dNative", "_FusedConv2D", "AddV2", "Relu"] + ["MaxPool"] * pool_on + ["Pad"] * pad_on))
    # ... where the padded map is computed and another map of its size is made after its
    # other reader and before the conv: the map must stay alive until the conv reads it
    out.append(Case("residual: channel pad of a computed map, a map of its size made before the conv", [
        Node("s", "Relu", ["x:0"], {}), Node("d", "DepthwiseConv2dNative", ["s:0", "wd:0"], conv(1, "SAME")),
        Node("e", "Square", ["d:0"], {}),
        Node("c", "_FusedConv2D", ["e:0", "wc:0", "bc:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("p", "Pad", ["s:0", "pw:0"], {}), Node("y", "AddV2", ["c:0", "p:0"], {})],
        {"x": _rand(rng, 1, 10, 8, 8, lo=-2, hi=2)},
        {"wd": _rand(rng, 3, 3, 8, 1), "wc": _rand(rng, 1, 1, 8, 16), "bc": _rand(rng, 16),
         "pw": _i32([[0, 0], [0, 0], [0, 0], [0, 8]])}, ["y:0"], TOL_ACCUM,
        ["Relu", "DepthwiseConv2dNative", "Square", "_FusedConv2D", "Pad", "AddV2"]))
    x = _rand(rng, 1, 8, 8, 8)
    out.append(Case("fusion: dwconv -> conv+bias -> add residual -> relu", [
        Node("dw", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")),
        Node("pw", "_FusedConv2D", ["dw:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("sum", "AddV2", ["pw:0", "x:0"], {}), Node("y", "Relu", ["sum:0"], {})],
        {"x": x}, {"wd": _rand(rng, 3, 3, 8, 1), "wp": _rand(rng, 1, 1, 8, 8), "bp": _rand(rng, 8)}, ["y:0"], TOL_ACCUM,
        ["DepthwiseConv2dNative", "_FusedConv2D", "AddV2", "Relu"]))
    # a Prelu node (not a fused op) after the residual Add joins the kernel as its PReLU
    # epilogue where its alphas are per channel (facemesh's blocks: [1, 1, C] alphas); 12
    # channels = a panel of 8 and a partial one; NaN / Inf in the input
    xs = _rand(rng, 1, 7, 9, 12, lo=-2, hi=2)
    xs[0, 0, 0, 3], xs[0, 6, 8, 0], xs[0, 3, 4, 11] = np.nan, np.inf, -np.inf      # a corner, the far corner, inside
    out.append(Case("fusion: dwconv -> conv+bias -> add residual -> Prelu node (per-channel alphas)", [
        Node("dw", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")),
        Node("pw", "_FusedConv2D", ["dw:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
        Node("sum", "AddV2", ["pw:0", "x:0"], {}), Node("y", "Prelu", ["sum:0", "al:0"], {})],
        {"x": xs}, {"wd": _rand(rng, 3, 3, 12, 1), "wp": _rand(rng, 1, 1, 12, 12), "bp": _rand(rng, 12),
                    "al": _rand(rng, 1, 1, 12)}, ["y:0"], TOL_ACCUM,
        ["DepthwiseConv2dNative", "_FusedConv2D", "AddV2", "Prelu"]))
    out.append(Case("fusion: conv -> BiasAdd -> Prelu node (one alpha)", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("b", "BiasAdd", ["c:0", "bias:0"], {}),
        Node("y", "Prelu", ["b:0", "al:0"], {})],
        {"x": _rand(rng, 1, 6, 5, 4, lo=-3, hi=3)}, {"w": _rand(rng, 3, 3, 4, 10), "bias": _rand(rng, 10),
                                                     "al": np.array([0.25], np.float32)}, ["y:0"], TOL_ACCUM,
        ["Conv2D", "BiasAdd", "Prelu"]))
    # alphas per pixel too ([H, W, C]): not the kernels' per-channel epilogue, a Prelu of its own
    out.append(Case("fusion: depthwise -> Prelu node with per-pixel alphas stays apart", [
        Node("d", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")), Node("y", "Prelu", ["d:0", "al:0"], {})],
        {"x": _rand(rng, 1, 5, 6, 8)}, {"wd": _rand(rng, 3, 3, 8, 1), "al": _rand(rng, 5, 6, 8)}, ["y:0"], TOL_ACCUM,
        ["DepthwiseConv2dNative", "Prelu"]))
    # Relu6 as clip_by_value(Relu(y), 0, 6) (faceres): Relu -> Minimum 6 -> Maximum 0 joins the
    # kernel as Relu6; with Inf / -Inf / NaN in the input (6, 0 and NaN out); a clip at 5 stays apart
    xc = _rand(rng, 1, 6, 7, 9, lo=-9, hi=9)
    xc[0, 0, 0, 1], xc[0, 5, 6, 8], xc[0, 2, 3, 4] = np.inf, -np.inf, np.nan
    for top in (6.0, 5.0):
        out.append(Case(f"fusion: depthwise -> Relu -> Minimum {top:g} -> Maximum 0 (clip_by_value)", [
            Node("d", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")), Node("r", "Relu", ["d:0"], {}),
            Node("m", "Minimum", ["r:0", "six:0"], {}), Node("y", "Maximum", ["m:0", "zero:0"], {})],
            {"x": xc}, {"wd": _rand(rng, 3, 3, 9, 1), "six": np.array(top, np.float32),
                        "zero": np.array(0.0, np.float32)}, ["y:0"], TOL_ACCUM,
            ["DepthwiseConv2dNative", "Relu", "Minimum", "Maximum"]))
    out.append(Case("fusion: conv+bias -> Relu -> Minimum 6 -> Maximum 0 -> 1x1 conv", [
        Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv(2, "SAME"), "fused_ops": ["BiasAdd", "Relu"]}),
        Node("m", "Minimum", ["c:0", "six:0"], {}), Node("k", "Maximum", ["m:0", "zero:0"], {}),
        Node("y", "Conv2D", ["k:0", "w2:0"], conv(1, "VALID"))],
        {"x": _rand(rng, 1, 9, 8, 3, lo=-5, hi=5)}, {"w": _rand(rng, 3, 3, 3, 12), "b": _rand(rng, 12),
                                                     "six": np.array([6.0], np.float32), "zero": np.array(0.0, np.float32),
                                                     "w2": _rand(rng, 1, 1, 12, 5)}, ["y:0"], TOL_ACCUM,
        ["_FusedConv2D", "Minimum", "Maximum", "Conv2D"]))
    # Grappler's rewrite of a residual block's sum (handlandmark-lite): AddN(conv, skip) then
    # AddV2(bias constant, .): the skip is the conv's residual and the constant its bias
    xa = _rand(rng, 1, 6, 6, 10)
    out.append(Case("fusion: dwconv -> 1x1 conv -> AddN(skip) -> AddV2(constant first)", [
        Node("dw", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")),
        Node("pw", "Conv2D", ["dw:0", "wp:0"], conv(1, "VALID")),
        Node("n", "AddN", ["pw:0", "x:0"], {}), Node("y", "AddV2", ["bc:0", "n:0"], {})],
        {"x": xa}, {"wd": _rand(rng, 3, 3, 10, 1), "wp": _rand(rng, 1, 1, 10, 10), "bc": _rand(rng, 10)}, ["y:0"],
        TOL_ACCUM, ["DepthwiseConv2dNative", "Conv2D", "AddN", "AddV2"]))
    out.append(Case("fusion: conv -> add residual -> Mul constant (scales the residual too)", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("s", "AddV2", ["c:0", "r:0"], {}),
        Node("y", "Mul", ["s:0", "k:0"], {})],
        {"x": _rand(rng, 1, 4, 5, 6), "r": _rand(rng, 1, 4, 5, 9)}, {"w": _rand(rng, 3, 3, 6, 9), "k": _rand(rng, 9)},
        ["y:0"], TOL_ACCUM, ["Conv2D", "AddV2", "Mul"]))
    out.append(Case("fusion: conv -> add residual -> Sub constant -> Relu", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("s", "AddV2", ["c:0", "r:0"], {}),
        Node("d", "Sub", ["s:0", "k:0"], {}), Node("y", "Relu", ["d:0"], {})],
        {"x": _rand(rng, 1, 5, 4, 6), "r": _rand(rng, 1, 5, 4, 7)}, {"w": _rand(rng, 3, 3, 6, 7), "k": _rand(rng, 7)},
        ["y:0"], TOL_ACCUM, ["Conv2D", "AddV2", "Sub", "Relu"]))
    out.append(Case("fusion: conv -> BiasAdd -> Relu6", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(2, "SAME")), Node("b", "BiasAdd", ["c:0", "bias:0"], {}),
        Node("y", "Relu6", ["b:0"], {})],
        {"x": _rand(rng, 1, 9, 9, 3, lo=-4, hi=4)}, {"w": _rand(rng, 3, 3, 3, 10), "bias": _rand(rng, 10)}, ["y:0"],
        TOL_ACCUM, ["Conv2D", "BiasAdd", "Relu6"]))
    # an activation after a max pool joins the conv before it (Lowering._act_through_max_pool):
    # odd sizes (the pool drops the last row and column), a SAME pool, and two that must stay
    # apart (a LeakyRelu with a negative alpha does not commute with max; a pool output that
    # is also a model output must keep its un-activated values)
    pool = lambda k, s, pad: {"ksize": [1, k, k, 1], "strides": [1, s, s, 1], "padding": pad}
    for act, attrs, k, s, pad in (("Relu", {}, 2, 2, "VALID"), ("Relu6", {}, 3, 2, "SAME"),
                                  ("LeakyRelu", {"alpha": 0.1}, 2, 2, "VALID"),
                                  ("LeakyRelu", {"alpha": -0.5}, 2, 2, "VALID")):
        out.append(Case(f"fusion: conv -> MaxPool k{k} s{s} {pad} -> {act}{attrs.get('alpha', '')}", [
            Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv(1, "SAME"), "fused_ops": ["BiasAdd"]}),
            Node("m", "MaxPool", ["c:0"], pool(k, s, pad)), Node("y", act, ["m:0"], attrs)],
            {"x": _rand(rng, 1, 11, 9, 5, lo=-3, hi=3)}, {"w": _rand(rng, 3, 3, 5, 12), "b": _rand(rng, 12)}, ["y:0"],
            TOL_ACCUM, ["_FusedConv2D", "MaxPool", act]))
    # conv -> 2x2 stride-2 max pool as one call where a backend has it (wasm's ConvPool): the
    # rows path (C >= 8) with an activation that stays before the pool, a strided conv, and
    # a SAME pool over an odd map (whose edge windows reach the padding: never fused)
    for name, x, w, cattrs, ppad, act in (
            ("conv 3x3 8x10x16->16 Sigmoid -> MaxPool SAME (even map)", _rand(rng, 1, 8, 10, 16), _rand(rng, 3, 3, 16, 16),
             conv(1, "SAME"), "SAME", "Sigmoid"),
            ("conv 3x3 s2 12x12x6->20 -> MaxPool VALID", _rand(rng, 1, 12, 12, 6), _rand(rng, 3, 3, 6, 20),
             conv(2, "VALID"), "VALID", None),
            ("conv 3x3 7x9x8->8 -> MaxPool SAME (odd map)", _rand(rng, 1, 7, 9, 8), _rand(rng, 3, 3, 8, 8),
             conv(1, "SAME"), "SAME", None)):
        out.append(Case(f"fusion: {name}", [
            Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**cattrs, "fused_ops": ["BiasAdd"] + ([act] if act else [])}),
            Node("y", "MaxPool", ["c:0"], pool(2, 2, ppad))], {"x": x}, {"w": w, "b": _rand(rng, w.shape[3])}, ["y:0"],
            TOL_ACCUM, ["_FusedConv2D", "MaxPool"]))
    # a 1x1 conv into a strided depthwise conv as one call where a backend has it (wasm's
    # ExpandDepthwise; the suite lowers the size threshold to 0): odd sizes, SAME and VALID,
    # a 5x5 window, a map wide enough for two column chunks, a residual, a folded Pad, and an
    # expansion another op reads too (never fused)
    pw = {"strides": [1, 1, 1, 1], "padding": "VALID"}
    for name, x, ce, k, pad, extra in (
            ("11x9x5->12 Relu6 -> depthwise 3x3 s2 SAME", _rand(rng, 1, 11, 9, 5), 12, 3, "SAME", None),
            ("10x12x8->16 -> depthwise 5x5 s2 VALID -> Relu", _rand(rng, 1, 10, 12, 8), 16, 5, "VALID", "relu"),
            ("12x48x4->64 -> depthwise 3x3 s2 SAME (two column chunks)", _rand(rng, 1, 12, 48, 4), 64, 3, "SAME", None),
            ("9x10x6->8 -> depthwise 3x3 s2 SAME + residual", _rand(rng, 1, 9, 10, 6), 8, 3, "SAME", "res")):
        nodes = [Node("e", "_FusedConv2D", ["x:0", "we:0", "be:0"], {**pw, "fused_ops": ["BiasAdd", "Relu6"]}),
                 Node("y" if extra is None else "d", "DepthwiseConv2dNative", ["e:0", "wd:0"], conv(2, pad))]
        ins, consts = {"x": x}, {"we": _rand(rng, 1, 1, x.shape[3], ce), "be": _rand(rng, ce), "wd": _rand(rng, k, k, ce, 1)}
        if extra == "relu":
            nodes.append(Node("y", "Relu", ["d:0"], {}))
        elif extra == "res":
            oh, ow = -(-x.shape[1] // 2), -(-x.shape[2] // 2)
            ins["r"] = _rand(rng, 1, oh, ow, ce)
            nodes.append(Node("y", "AddV2", ["d:0", "r:0"], {}))
        out.append(Case(f"fusion: 1x1 conv {name}", nodes, ins, consts, ["y:0"], TOL_ACCUM,
                        ["_FusedConv2D", "DepthwiseConv2dNative"]))
    out.append(Case("fusion: 1x1 conv -> Pad -> depthwise 3x3 s2 VALID (the pad folded, the expansion fused)", [
        Node("e", "Conv2D", ["x:0", "we:0"], pw), Node("p", "Pad", ["e:0", "pads:0"], {}),
        Node("y", "DepthwiseConv2dNative", ["p:0", "wd:0"], conv(2, "VALID"))],
        {"x": _rand(rng, 1, 8, 7, 3)}, {"we": _rand(rng, 1, 1, 3, 8), "pads": _i32([[0, 0], [1, 1], [1, 1], [0, 0]]),
                                         "wd": _rand(rng, 3, 3, 8, 1)}, ["y:0"], TOL_ACCUM, ["Conv2D", "DepthwiseConv2dNative"]))
    out.append(Case("fusion: 1x1 conv read by a depthwise s2 and by a Relu (stays apart)", [
        Node("e", "Conv2D", ["x:0", "we:0"], pw), Node("y", "DepthwiseConv2dNative", ["e:0", "wd:0"], conv(2, "SAME")),
        Node("z", "Relu", ["e:0"], {})],
        {"x": _rand(rng, 1, 6, 6, 4)}, {"we": _rand(rng, 1, 1, 4, 8), "wd": _rand(rng, 3, 3, 8, 1)}, ["y:0", "z:0"],
        TOL_ACCUM, ["Conv2D", "DepthwiseConv2dNative", "Relu"]))
    out.append(Case("fusion: conv -> MaxPool -> Relu, the pool also an output (the Relu stays apart)", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("m", "MaxPool", ["c:0"], pool(2, 2, "VALID")),
        Node("y", "Relu", ["m:0"], {})], {"x": _rand(rng, 1, 8, 8, 4)}, {"w": _rand(rng, 3, 3, 4, 8)},
        ["y:0", "m:0"], TOL_ACCUM, ["Conv2D", "MaxPool", "Relu"]))
    out.append(Case("fusion: Pad (zeros) -> depthwise VALID stride 2 (pad folded into the conv)", [
        Node("p", "Pad", ["x:0", "pads:0"], {}),
        Node("y", "DepthwiseConv2dNative", ["p:0", "w:0"], conv(2, "VALID"))],
        {"x": _rand(rng, 1, 9, 8, 8)}, {"pads": _i32([[0, 0], [0, 1], [0, 1], [0, 0]]), "w": _rand(rng, 3, 3, 8, 1)},
        ["y:0"], TOL_ACCUM, ["Pad", "DepthwiseConv2dNative"]))
    out.append(Case("fusion: Pad (zeros, asymmetric) -> conv SAME", [
        Node("p", "Pad", ["x:0", "pads:0"], {}),
        Node("y", "Conv2D", ["p:0", "w:0"], conv(1, "SAME"))],
        {"x": _rand(rng, 1, 6, 7, 3)}, {"pads": _i32([[0, 0], [2, 1], [1, 0], [0, 0]]), "w": _rand(rng, 3, 3, 3, 5)},
        ["y:0"], TOL_ACCUM, ["Pad", "Conv2D"]))
    out.append(Case("fusion: conv -> Mul(per-channel) -> Add -> Relu6 (affine folded into the weights)", [
        Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv(1, "SAME"), "fused_ops": ["BiasAdd"]}),
        Node("m", "Mul", ["c:0", "s:0"], {}), Node("a", "AddV2", ["m:0", "t:0"], {}),
        Node("y", "Relu6", ["a:0"], {})],
        {"x": _rand(rng, 1, 6, 6, 5, lo=-3, hi=3)},
        {"w": _rand(rng, 3, 3, 5, 12), "b": _rand(rng, 12), "s": _rand(rng, 12, lo=-2, hi=2), "t": _rand(rng, 12)},
        ["y:0"], TOL_ACCUM, ["_FusedConv2D", "Mul", "AddV2", "Relu6"]))
    out.append(Case("fusion: depthwise -> Mul(scalar) -> Sub(per-channel)", [
        Node("d", "DepthwiseConv2dNative", ["x:0", "w:0"], conv(1, "SAME")),
        Node("m", "Mul", ["d:0", "s:0"], {}), Node("y", "Sub", ["m:0", "t:0"], {})],
        {"x": _rand(rng, 1, 5, 5, 8)}, {"w": _rand(rng, 3, 3, 8, 1), "s": np.float32(1.7), "t": _rand(rng, 8)},
        ["y:0"], TOL_ACCUM, ["DepthwiseConv2dNative", "Mul", "Sub"]))
    out.append(Case("fallback inside a plan: conv -> ArgMax -> Cast -> Mul", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")),
        Node("am", "ArgMax", ["c:0", "ax:0"], {"output_type": np.dtype(np.int32)}),
        Node("f", "Cast", ["am:0"], {"DstT": np.dtype(np.float32)}), Node("y", "Mul", ["f:0", "two:0"], {})],
        {"x": _rand(rng, 1, 5, 5, 4)}, {"w": _rand(rng, 3, 3, 4, 6), "ax": _i32(-1), "two": np.float32(2)}, ["y:0"],
        TOL_EXACT, ["Conv2D", "Cast", "Mul"]))
    out.extend(coverage_cases(rng))
    out.extend(nonfinite_cases(rng))
    out.extend(int8_cases(rng))
    out.extend(tile_cases(rng))
    out.extend(plane_cases(np.random.default_rng(RNG_SEED + 16)))   # (their own stream: the cases above keep theirs)
    return out + batched(out)


def plane_cases(rng) -> list[Case]:
    """Conv chains whose maps WebGL stores as 2 channel planes (backends/webgl.py
    GLPlan._channel_planes): 1x1 and 3x3 convs writing them (output channels of 8 and 24: 1
    and 3 texels a plane; a PReLU), depthwise convs of stride 1 and 2, 1x1 convs and a pool
    reading them, residuals of 2 planes into convs of 2 and of 1, of 1 into a conv of 2, a
    small map of split rows, a map an elementwise op also reads (1 plane), a detector's heads
    as plan outputs (class heads of 2 and 6 channels) and a plan output of split rows.  And
    an RGB image two stems of different padding read (WebGL keeps their padding out of its
    texture).  NaN and Inf in the inputs; every case also at batch 3 (batched)."""
    out: list[Case] = []
    conv = lambda s, pad: {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, 1, 1, 1], "data_format": "NHWC"}
    fused = lambda name, x, w, b, ops, s=1, pad="VALID", extra=(): Node(
        name, "_FusedConv2D", [x, w, b, *extra], {**conv(s, pad), "fused_ops": ["BiasAdd", *ops]})
    x = _rand(rng, 1, 12, 10, 8, lo=-2, hi=2)
    x[0, 1, 2, 3], x[0, 7, 9, 0], x[0, 10, 4, 6] = np.nan, np.inf, -np.inf
    consts = {"w1": _rand(rng, 1, 1, 8, 16), "b1": _rand(rng, 16), "wd1": _rand(rng, 3, 3, 16, 1),
              "w2": _rand(rng, 1, 1, 16, 16), "b2": _rand(rng, 16), "w3": _rand(rng, 1, 1, 16, 24), "b3": _rand(rng, 24),
              "wd2": _rand(rng, 3, 3, 24, 1), "w4": _rand(rng, 1, 1, 24, 16), "b4": _rand(rng, 16),
              "w5": _rand(rng, 3, 3, 16, 16), "b5": _rand(rng, 16), "a5": _rand(rng, 16, lo=0, hi=0.5),
              "wd3": _rand(rng, 3, 3, 16, 1), "w6": _rand(rng, 1, 1, 16, 8), "b6": _rand(rng, 8),
              "w7": _rand(rng, 1, 1, 8, 8), "b7": _rand(rng, 8)}
    out.append(Case("planes: an inverted-residual stack", [
        fused("e1", "x:0", "w1:0", "b1:0", ["Relu6"]),                                 # 2 planes, read by a depthwise
        Node("d1", "DepthwiseConv2dNative", ["e1:0", "wd1:0"], conv(1, "SAME")),
        fused("p1", "d1:0", "w2:0", "b2:0", []),                                        # read by a 1x1 and as a residual
        fused("e2", "p1:0", "w3:0", "b3:0", ["Relu6"]),                                 # 24 channels: 3 texels a plane
        Node("d2", "DepthwiseConv2dNative", ["e2:0", "wd2:0"], conv(1, "SAME")),
        fused("q", "d2:0", "w4:0", "b4:0", []), Node("a", "AddV2", ["q:0", "p1:0"], {}),  # a residual of 2 planes
        fused("g", "a:0", "w5:0", "b5:0", ["Prelu"], 1, "SAME", ["a5:0"]),              # 3x3, padded, PReLU
        Node("d3", "DepthwiseConv2dNative", ["g:0", "wd3:0"], conv(2, "SAME")),          # stride 2: a 6x5 map
        fused("s", "d3:0", "w6:0", "b6:0", ["Relu"]),                                    # split rows, 2 planes
        fused("y", "s:0", "w7:0", "b7:0", [])],
        {"x": x}, consts, ["y:0"], TOL_ACCUM, ["_FusedConv2D", "DepthwiseConv2dNative", "AddV2"]))
    x = _rand(rng, 1, 9, 7, 8, lo=-2, hi=2)
    x[0, 4, 3, 2] = np.nan
    out.append(Case("planes: a map a depthwise conv and a pool read", [
        fused("e", "x:0", "w1:0", "b1:0", ["Relu"]),
        Node("d", "DepthwiseConv2dNative", ["e:0", "wd:0"], conv(1, "SAME")),
        Node("m", "MaxPool", ["e:0"], {"ksize": [1, 3, 3, 1], "strides": [1, 1, 1, 1], "padding": "SAME"}),
        Node("y", "AddV2", ["d:0", "m:0"], {})],
        {"x": x}, {"w1": _rand(rng, 1, 1, 8, 16), "b1": _rand(rng, 16), "wd": _rand(rng, 3, 3, 16, 1)}, ["y:0"],
        TOL_ACCUM, ["_FusedConv2D", "DepthwiseConv2dNative", "MaxPool", "AddV2"]))
    x = _rand(rng, 1, 9, 7, 8, lo=-2, hi=2)
    x[0, 2, 5, 1] = np.inf
    out.append(Case("planes: a map an elementwise op also reads keeps 1 plane", [
        fused("e", "x:0", "w1:0", "b1:0", ["Relu"]),
        Node("d", "DepthwiseConv2dNative", ["e:0", "wd:0"], conv(1, "SAME")),
        Node("s", "Square", ["e:0"], {}), Node("y", "AddV2", ["d:0", "s:0"], {})],
        {"x": x}, {"w1": _rand(rng, 1, 1, 8, 16), "b1": _rand(rng, 16), "wd": _rand(rng, 3, 3, 16, 1)}, ["y:0"],
        TOL_ACCUM, ["_FusedConv2D", "DepthwiseConv2dNative", "Square", "AddV2"]))
    out.append(Case("planes: a conv of 2 planes whose residual is the plan's input, of 1", [
        fused("c", "x:0", "w1:0", "b1:0", []), Node("a", "AddV2", ["c:0", "x:0"], {}),
        fused("y", "a:0", "w2:0", "b2:0", ["Relu6"])],
        {"x": _rand(rng, 1, 6, 11, 16, lo=-2, hi=2)},
        {"w1": _rand(rng, 1, 1, 16, 16), "b1": _rand(rng, 16), "w2": _rand(rng, 1, 1, 16, 8), "b2": _rand(rng, 8)},
        ["y:0"], TOL_ACCUM, ["_FusedConv2D", "AddV2"]))
    x = _rand(rng, 2, 5, 6, 8, lo=-2, hi=2)
    x[1, 3, 2, 7] = -np.inf
    # (y: 1 plane, as an elementwise op reads it)
    out.append(Case("planes: a residual of 2 planes into a conv of 1 (an elementwise op reads it)", [
        fused("p", "x:0", "w1:0", "b1:0", ["Relu6"]),
        Node("d", "DepthwiseConv2dNative", ["p:0", "wd:0"], conv(1, "SAME")),
        fused("c", "d:0", "w2:0", "b2:0", []), Node("y", "AddV2", ["c:0", "p:0"], {}), Node("z", "Square", ["y:0"], {})],
        {"x": x}, {"w1": _rand(rng, 1, 1, 8, 24), "b1": _rand(rng, 24), "wd": _rand(rng, 3, 3, 24, 1),
                   "w2": _rand(rng, 1, 1, 24, 24), "b2": _rand(rng, 24)},
        ["y:0", "z:0"], TOL_ACCUM, ["_FusedConv2D", "DepthwiseConv2dNative", "AddV2", "Square"]))
    # an RGB image two stems of different padding read (WebGL: its channels padded to 4, its
    # image not, as the stems disagree; one stem's image padded is the stem case above)
    x = _rand(rng, 1, 13, 10, 3, lo=-2, hi=2)
    x[0, 0, 9, 0], x[0, 12, 0, 2], x[0, 6, 5, 1] = np.nan, np.inf, -np.inf
    out.append(Case("RGB image into two stems of different padding", [
        Node("a", "_FusedConv2D", ["x:0", "wa:0", "ba:0"], {**conv(2, "SAME"), "fused_ops": ["BiasAdd", "Relu"]}),
        Node("b", "_FusedConv2D", ["x:0", "wb:0", "bb:0"], {**conv(2, "VALID"), "fused_ops": ["BiasAdd"]})],
        {"x": x}, {"wa": _rand(rng, 3, 3, 3, 8), "ba": _rand(rng, 8), "wb": _rand(rng, 3, 3, 3, 8), "bb": _rand(rng, 8)},
        ["a:0", "b:0"], TOL_ACCUM, ["_FusedConv2D"]))
    # a detector's heads (BlazeFace's): 1x1 convs of 2 planes as plan outputs, read back
    # through a Reshape or directly; class heads of 2 and 6 channels (padded to 8 on WebGL),
    # one with a PReLU, regressors of 16 and 24
    x = _rand(rng, 1, 10, 12, 8, lo=-2, hi=2)
    x[0, 3, 4, 5], x[0, 8, 11, 0], x[0, 0, 0, 7] = np.nan, np.inf, -np.inf
    out.append(Case("planes: detector heads as plan outputs (class heads of 2 and 6 channels)", [
        fused("e", "x:0", "w1:0", "b1:0", ["Relu"]),
        fused("h1", "e:0", "wh1:0", "bh1:0", []), Node("r1", "Reshape", ["h1:0", "s1:0"], {}),
        fused("h2", "e:0", "wh2:0", "bh2:0", []), Node("r2", "Reshape", ["h2:0", "s2:0"], {}),
        Node("d", "DepthwiseConv2dNative", ["e:0", "wd:0"], conv(2, "SAME")),
        fused("f", "d:0", "w2:0", "b2:0", ["Relu6"]),
        fused("h3", "f:0", "wh3:0", "bh3:0", ["Prelu"], 1, "VALID", ["ah3:0"]), Node("r3", "Reshape", ["h3:0", "s3:0"], {}),
        fused("h4", "f:0", "wh4:0", "bh4:0", [])],
        {"x": x}, {"w1": _rand(rng, 1, 1, 8, 16), "b1": _rand(rng, 16), "wh1": _rand(rng, 1, 1, 16, 2),
                   "bh1": _rand(rng, 2), "s1": _i32([-1, 240, 1]), "wh2": _rand(rng, 1, 1, 16, 16), "bh2": _rand(rng, 16),
                   "s2": _i32([-1, 120, 16]), "wd": _rand(rng, 3, 3, 16, 1), "w2": _rand(rng, 1, 1, 16, 16),
                   "b2": _rand(rng, 16), "wh3": _rand(rng, 1, 1, 16, 6), "bh3": _rand(rng, 6),
                   "ah3": _rand(rng, 6, lo=0, hi=0.5), "s3": _i32([-1, 90, 2]), "wh4": _rand(rng, 1, 1, 16, 24),
                   "bh4": _rand(rng, 24)},
        ["r1:0", "r2:0", "r3:0", "h4:0"], TOL_ACCUM, ["_FusedConv2D", "DepthwiseConv2dNative", "Reshape"]))
    # a plan output of 2 planes whose grid rows are not image rows (WebGL: an 8x8 map of a
    # conv of >= 2 M multiply-adds holds 4 pixels a grid row), read back unpacked
    x = _rand(rng, 1, 8, 8, 128, lo=-1, hi=1)
    x[0, 2, 7, 100], x[0, 5, 0, 3], x[0, 7, 7, 127] = np.nan, np.inf, -np.inf
    out.append(Case("planes: a plan output of split rows (8x8, 128 -> 256 channels)", [
        fused("y", "x:0", "w:0", "b:0", ["Relu6"])],
        {"x": x}, {"w": _rand(rng, 1, 1, 128, 256, lo=-0.2, hi=0.2), "b": _rand(rng, 256)},
        ["y:0"], TOL_ACCUM, ["_FusedConv2D"]))
    return out


def tile_cases(rng) -> list[Case]:
    """Convolutions and MatMuls whose pixels, output channels and reduction length fall
    on neither side of a tile (tiled GEMM kernels: 32 x 32 outputs, 8 values of k per
    step), with every epilogue a tile writes: bias, residual, PReLU, Relu6; NaN and Inf
    inputs reach a tile too."""
    out: list[Case] = []
    conv = {"strides": [1, 1, 1, 1], "padding": "SAME", "dilations": [1, 1, 1, 1], "data_format": "NHWC"}
    for (h, w, c, co, k) in [(9, 7, 13, 37, 3), (8, 8, 16, 32, 1), (5, 13, 9, 65, 1), (11, 6, 3, 24, 5)]:
        out.append(Case(f"tiles: conv2d {h}x{w}x{c}->{co} k{k}", [Node("y", "Conv2D", ["x:0", "w:0"], conv)],
                        {"x": _rand(rng, 1, h, w, c)}, {"w": _rand(rng, k, k, c, co)}, ["y:0"], TOL_ACCUM, ["Conv2D"]))
    co = 40
    for fused, extra in [(["BiasAdd", "Relu6"], 1), (["BiasAdd", "Prelu"], 2)]:
        consts = {"w": _rand(rng, 3, 3, 11, co), **{f"a{j}": _rand(rng, co) for j in range(extra)}}
        out.append(Case(f"tiles: _FusedConv2D {'+'.join(fused)} 7x9x11->{co}", [Node(
            "y", "_FusedConv2D", ["x:0"] + [f"{k}:0" for k in consts], {**conv, "fused_ops": fused})],
            {"x": _rand(rng, 1, 7, 9, 11, lo=-3, hi=3)}, consts, ["y:0"], TOL_ACCUM, ["_FusedConv2D"]))
    out.append(Case("tiles: conv -> add residual -> relu 6x7x10->33", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv), Node("a", "AddV2", ["c:0", "r:0"], {}),
        Node("y", "Relu", ["a:0"], {})],
        {"x": _rand(rng, 1, 6, 7, 10), "r": _rand(rng, 1, 6, 7, 33)}, {"w": _rand(rng, 1, 1, 10, 33)}, ["y:0"],
        TOL_ACCUM, ["Conv2D", "AddV2", "Relu"]))
    x = _rand(rng, 1, 6, 6, 17)
    x[0, 2, 3, 5], x[0, 4, 1, 0], x[0, 0, 0, 16] = np.nan, np.inf, -np.inf
    out.append(Case("tiles: conv2d NaN/Inf 6x6x17->34", [Node("y", "Conv2D", ["x:0", "w:0"], conv)],
                    {"x": x}, {"w": _rand(rng, 3, 3, 17, 34)}, ["y:0"], TOL_ACCUM, ["Conv2D"]))
    # Winograd F(2x2, 3x3) tiles (wasm's op_winograd: 3x3 stride 1, >= 8 input channels):
    # odd maps (a last tile half outside), VALID and SAME, output channels off the 8-panel,
    # more input channels than one panel group of the transformed filter holds (256: a
    # group per panel), a residual, and a pool that takes a tile per window
    for (h, w, c, co, pad) in [(11, 9, 32, 20, "VALID"), (7, 10, 12, 13, "SAME"), (4, 5, 256, 20, "SAME")]:
        out.append(Case(f"winograd: conv2d 3x3 {h}x{w}x{c}->{co} {pad}",
                        [Node("y", "Conv2D", ["x:0", "w:0"], {**conv, "padding": pad})],
                        {"x": _rand(rng, 1, h, w, c)}, {"w": _rand(rng, 3, 3, c, co)}, ["y:0"], TOL_ACCUM, ["Conv2D"]))
    out.append(Case("winograd: conv 3x3 -> add residual -> relu 7x8x10->33", [
        Node("c", "Conv2D", ["x:0", "w:0"], conv), Node("a", "AddV2", ["c:0", "r:0"], {}),
        Node("y", "Relu", ["a:0"], {})],
        {"x": _rand(rng, 1, 7, 8, 10), "r": _rand(rng, 1, 7, 8, 33)}, {"w": _rand(rng, 3, 3, 10, 33)}, ["y:0"],
        TOL_ACCUM, ["Conv2D", "AddV2", "Relu"]))
    # Non-finite inputs: a transform spreads one through its whole tile where a direct conv
    # keeps it in the windows that hold it (a NaN at a tile's corner pixel reaches one of
    # the tile's four outputs directly, all four through the transforms); and a pixel 40x
    # its neighbours (the transforms' rounding scales with a tile's largest input)
    x = _rand(rng, 1, 9, 10, 9)
    x[0, 3, 3, 2], x[0, 0, 9, 0], x[0, 8, 0, 8], x[0, 5, 6, 4] = np.nan, np.inf, -np.inf, 40.0
    out.append(Case("winograd: conv2d 3x3 NaN/Inf at tile corners 9x10x9->11 VALID",
                    [Node("y", "Conv2D", ["x:0", "w:0"], {**conv, "padding": "VALID"})],
                    {"x": x}, {"w": _rand(rng, 3, 3, 9, 11)}, ["y:0"], TOL_ACCUM, ["Conv2D"]))
    x = _rand(rng, 1, 13, 11, 16, lo=-3, hi=3)
    x[0, 4, 4, 1], x[0, 9, 2, 15] = np.nan, np.inf
    out.append(Case("winograd: conv 3x3 VALID 13x11x16->12 LeakyRelu -> MaxPool VALID (odd map, NaN/Inf)", [
        Node("c", "_FusedConv2D", ["x:0", "w:0", "b:0"], {**conv, "padding": "VALID",
                                                          "fused_ops": ["BiasAdd", "LeakyRelu"], "leakyrelu_alpha": 0.2}),
        Node("y", "MaxPool", ["c:0"], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})],
        {"x": x}, {"w": _rand(rng, 3, 3, 16, 12), "b": _rand(rng, 12)}, ["y:0"], TOL_ACCUM, ["_FusedConv2D", "MaxPool"]))
    for (m, k, n) in [(33, 45, 40), (70, 9, 17)]:
        out.append(Case(f"tiles: MatMul {m}x{k}x{n}", [Node("y", "MatMul", ["a:0", "b:0"], {})],
                        {"a": _rand(rng, m, k)}, {"b": _rand(rng, k, n)}, ["y:0"], TOL_ACCUM, ["MatMul"]))
    return out


# Ops whose kernels index by batch: every case of theirs also runs at batch 3 (issue 19:
# a kernel that drops the batch offset passed every batch-1 case).
BATCHED_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "MaxPool", "AvgPool",
               "ResizeBilinear", "ResizeNearestNeighbor", "WtQConv2D", "WtQDepthwiseConv2D"}


def batched(cases: list[Case]) -> list[Case]:
    """A batch-3 copy of every case whose first node is in BATCHED_OPS: each rank-4
    batch-1 input becomes [x, x mirrored in W, x rolled in H], different data per image."""
    out = []
    for c in cases:
        if c.nodes[0].op not in BATCHED_OPS:
            continue
        ins = {k: np.concatenate([v, np.flip(v, axis=2), np.roll(v, 1, axis=1)]) if v.ndim == 4 and v.shape[0] == 1
               else v for k, v in c.inputs.items()}
        if all(v is c.inputs[k] for k, v in ins.items()):
            continue
        out.append(Case(f"{c.name} [batch 3]", c.nodes, ins, c.consts, c.outputs, c.tol, c.kernel_ops, c.int8))
    return out


def coverage_cases(rng) -> list[Case]:
    """Ops and attributes the lowering accepts that the cases above miss (issue 19):
    dilated depthwise, EXPLICIT padding, float FloorDiv/FloorMod, Ceil/Sign/Selu, Min,
    casts to and from bool, binary ops with a fused activation, and each fusion rule with
    the constant on either side."""
    out: list[Case] = []
    conv = lambda s, pad, d=1: {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, d, d, 1],
                                "data_format": "NHWC"}

    def one(name, op, inputs, consts, attrs=None, tol=TOL_EXACT, order=None, n_out=1):
        order = order or (list(inputs) + list(consts))
        out.append(Case(name, [Node("y", op, [f"{k}:0" for k in order], attrs or {})], inputs, consts,
                        [f"y:{i}" for i in range(n_out)], tol, [op]))

    for (h, c, k, d) in [(9, 6, 3, 2), (11, 5, 3, 3)]:
        one(f"depthwise {h}x{h}x{c} k{k} d{d}", "DepthwiseConv2dNative", {"x": _rand(rng, 1, h, h, c)},
            {"w": _rand(rng, k, k, c, 1)}, conv(1, "SAME", d), TOL_ACCUM)
    one("conv2d EXPLICIT padding", "Conv2D", {"x": _rand(rng, 1, 6, 5, 3)}, {"w": _rand(rng, 3, 3, 3, 5)},
        {"strides": [1, 1, 2, 1], "padding": "EXPLICIT", "explicit_paddings": [0, 0, 2, 1, 0, 2, 0, 0]}, TOL_ACCUM)
    one("depthwise EXPLICIT padding", "DepthwiseConv2dNative", {"x": _rand(rng, 1, 7, 6, 4)},
        {"w": _rand(rng, 3, 3, 4, 1)},
        {"strides": [1, 2, 1, 1], "padding": "EXPLICIT", "explicit_paddings": [0, 0, 1, 2, 2, 0, 0, 0]}, TOL_ACCUM)
    for op in ("FloorDiv", "FloorMod"):
        signs = np.where(rng.random((3, 7)) < 0.5, -1.0, 1.0).astype(np.float32)
        one(f"{op} float, both signs", op, {"a": _rand(rng, 3, 7, lo=-9, hi=9)},
            {"b": signs * _rand(rng, 3, 7, lo=0.5, hi=3)})
        one(f"{op} float, broadcast divisor", op, {"a": _rand(rng, 2, 5, 4, lo=-9, hi=9)},
            {"b": np.array([-2.5, 1.5, 3.0, -0.75], np.float32)})
    for op, lo, hi, tol in [("Ceil", -3, 3, 0), ("Sign", -2, 2, 0), ("Selu", -4, 3, TOL_TRANSCENDENTAL * 5)]:
        x = _rand(rng, 3, 37, lo=lo, hi=hi)
        x[0, :3] = [0.0, -0.0, 2.0]                  # exact integers and zeros
        one(op, op, {"x": x}, {}, tol=tol)
    for axes, keep in [([1, 2], True), ([-1], False), ([0], False)]:
        one(f"Min axes={axes} keep={keep}", "Min", {"x": _rand(rng, 2, 5, 7, 6)}, {"ax": _i32(axes)},
            {"keep_dims": keep})
    for (h, w, c, b) in [(3, 4, 8, 2), (2, 5, 18, 3), (4, 4, 4, 2)]:
        one(f"DepthToSpace {h}x{w}x{c} block {b}", "DepthToSpace", {"x": _rand(rng, 2, h, w, c)}, {},
            {"block_size": b, "data_format": "NHWC"})
    edge = np.array([[0.0, -0.0, 0.5, -0.5, 1e-30, 3.0, -2.0]], np.float32)
    one("Cast float32->bool (0.5 -> true)", "Cast", {"x": np.concatenate([edge, _rand(rng, 2, 7)])}, {},
        {"DstT": np.dtype(np.bool_)})
    one("Cast int32->bool", "Cast", {"x": rng.integers(-2, 3, (3, 5)).astype(np.int32)}, {}, {"DstT": np.dtype(np.bool_)})
    one("Cast bool->float32", "Cast", {"x": rng.random((4, 9)) < 0.5}, {}, {"DstT": F32})
    one("Add (TF1 name)", "Add", {"a": _rand(rng, 3, 5)}, {"b": _rand(rng, 5)})
    out.append(Case("views: Relu -> ExpandDims -> Squeeze -> Identity -> Neg (no copies)", [
        Node("r", "Relu", ["x:0"], {}), Node("e", "ExpandDims", ["r:0", "ax:0"], {}),
        Node("s", "Squeeze", ["e:0"], {"squeeze_dims": [1]}), Node("i", "Identity", ["s:0"], {}),
        Node("y", "Neg", ["i:0"], {})],
        {"x": _rand(rng, 3, 6)}, {"ax": _i32(1)}, ["y:0"], TOL_EXACT, ["Relu", "ExpandDims", "Squeeze", "Identity", "Neg"]))
    # binary ops (two runtime operands) with the activation that follows fused into them
    for op, act in [("AddV2", "Relu"), ("Mul", "Relu6"), ("Sub", "Sigmoid"), ("Maximum", "Tanh"),
                    ("RealDiv", "Elu"), ("SquaredDifference", "Selu"), ("AddV2", "LeakyRelu")]:
        b = _rand(rng, 2, 1, 5, lo=0.5, hi=2) if op == "RealDiv" else _rand(rng, 2, 1, 5, lo=-2, hi=2)
        out.append(Case(f"fusion: {op} -> {act} (activation in the binary kernel)", [
            Node("s", op, ["a:0", "b:0"], {}), Node("y", act, ["s:0"], {"alpha": 0.3})],
            {"a": _rand(rng, 2, 4, 5, lo=-3, hi=3), "b": b}, {}, ["y:0"], TOL_TRANSCENDENTAL * 5, [op, act]))
    # per-channel constants after a conv, on either side of the op (Sub(c, conv) must not
    # become conv - c), and the residual add with the skip on either side
    w, t = _rand(rng, 3, 3, 4, 6), _rand(rng, 6)
    for op, first in [("Sub", "c"), ("Sub", "conv"), ("AddV2", "c"), ("AddV2", "conv"), ("Mul", "c"),
                      ("Mul", "conv"), ("BiasAdd", "conv")]:
        ins = ["t:0", "c:0"] if first == "c" else ["c:0", "t:0"]
        out.append(Case(f"fusion: conv -> {op}({'const, conv' if first == 'c' else 'conv, const'})", [
            Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("y", op, ins, {})],
            {"x": _rand(rng, 1, 5, 6, 4)}, {"w": w, "t": t}, ["y:0"], TOL_ACCUM, ["Conv2D", op]))
    for first in ("skip", "conv"):
        ins = ["x:0", "c:0"] if first == "skip" else ["c:0", "x:0"]
        out.append(Case(f"fusion: conv -> AddV2 residual ({first} first) -> Relu", [
            Node("c", "Conv2D", ["x:0", "w:0"], conv(1, "SAME")), Node("s", "AddV2", ins, {}),
            Node("y", "Relu", ["s:0"], {})],
            {"x": _rand(rng, 1, 5, 5, 6)}, {"w": _rand(rng, 3, 3, 6, 6)}, ["y:0"], TOL_ACCUM, ["Conv2D", "AddV2", "Relu"]))
    # a residual branch TFLite orders after the conv (MediaPipe's BlazeBlocks: max-pool, then
    # a channel Pad): lowered ahead of the conv so the Add still joins it (ready_before)
    for pool in (True, False):
        branch = [Node("m", "MaxPool", ["x:0"], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})] \
            if pool else []
        stride = 2 if pool else 1
        out.append(Case(f"fusion: conv -> AddV2 with a later channel-padded skip{' (max-pooled)' if pool else ''} -> Relu",
                        [Node("d", "DepthwiseConv2dNative", ["x:0", "dw:0"], conv(stride, "SAME")),
                         Node("c", "Conv2D", ["d:0", "w:0"], conv(1, "VALID")), *branch,
                         Node("p", "Pad", ["m:0" if pool else "x:0", "pads:0"], {}),
                         Node("s", "AddV2", ["p:0", "c:0"], {}), Node("y", "Relu", ["s:0"], {})],
                        {"x": _rand(rng, 1, 6, 7, 4, lo=-2, hi=2)},
                        {"dw": _rand(rng, 3, 3, 4, 1), "w": _rand(rng, 1, 1, 4, 7),
                         "pads": _i32([[0, 0], [0, 0], [0, 0], [0, 3]])},
                        ["y:0"], TOL_ACCUM, ["DepthwiseConv2dNative", "Conv2D", "Pad", "AddV2", "Relu"] +
                        (["MaxPool"] if pool else [])))
    out.append(Case("fusion: depthwise -> Sub(const, depthwise) -> Relu6", [
        Node("d", "DepthwiseConv2dNative", ["x:0", "w:0"], conv(1, "SAME")), Node("s", "Sub", ["t:0", "d:0"], {}),
        Node("y", "Relu6", ["s:0"], {})],
        {"x": _rand(rng, 1, 5, 5, 8, lo=-3, hi=3)}, {"w": _rand(rng, 3, 3, 8, 1), "t": _rand(rng, 8, lo=0, hi=4)},
        ["y:0"], TOL_ACCUM, ["DepthwiseConv2dNative", "Sub", "Relu6"]))
    return out


# The NaN / Inf rule (the numpy reference; TensorFlow agrees): NaN in -> NaN out for every
# element-wise op, activation, max/min, pool and reduction; infinities follow IEEE 754.
SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.5, 7.0], np.float32)
NONFINITE_UNARY = ["Relu", "Relu6", "Sigmoid", "Tanh", "Exp", "Elu", "Selu", "LeakyRelu", "Sqrt", "Rsqrt", "Reciprocal",
                   "Neg", "Abs", "Square", "Floor", "Ceil", "Round", "Sign"]
NONFINITE_BINARY = ["AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference", "FloorDiv",
                    "FloorMod", "Prelu"]


def nonfinite_cases(rng) -> list[Case]:
    out: list[Case] = []
    x = np.concatenate([SPECIALS, _rand(rng, 8, lo=-3, hi=3)]).reshape(2, 8)
    for op in NONFINITE_UNARY:
        out.append(Case(f"{op} NaN/Inf/-0", [Node("y", op, ["x:0"], {"alpha": 0.3})], {"x": x}, {}, ["y:0"],
                        TOL_TRANSCENDENTAL * 5, [op]))
    # every special against every special (FloorDiv/FloorMod: finite non-zero divisors, whose
    # remainders by an infinity or by zero the kernels do not define the same way)
    a = np.repeat(SPECIALS, SPECIALS.size).reshape(8, 8)
    b = np.tile(SPECIALS, SPECIALS.size).reshape(8, 8)
    for op in NONFINITE_BINARY:
        bb = np.where(np.isfinite(b) & (b != 0), b, np.float32(1.5)) if op in ("FloorDiv", "FloorMod") else b
        bb = bb[0] if op == "Prelu" else bb                # Prelu: per-channel alphas
        out.append(Case(f"{op} NaN/Inf/-0", [Node("y", op, ["a:0", "b:0"], {})], {"a": a, "b": bb}, {}, ["y:0"],
                        TOL_EXACT, [op]))
    # the same specials through the periodic path: a row of three specials repeated over NHWC
    # against specials scattered in the streamed side (and the other way round)
    grid = _rand(rng, 2, 4, 5, 3, lo=-3, hi=3)
    grid.reshape(-1)[::7] = np.resize(SPECIALS, grid.reshape(-1)[::7].size)
    row = SPECIALS[[0, 1, 5]]
    for op in NONFINITE_BINARY[:7]:
        out.append(Case(f"{op} NaN/Inf over a repeated row", [Node("y", op, ["a:0", "b:0"], {})],
                        {"a": grid, "b": row}, {}, ["y:0"], TOL_EXACT, [op]))
        out.append(Case(f"{op} NaN/Inf repeated row first", [Node("y", op, ["a:0", "b:0"], {})],
                        {"a": row, "b": grid}, {}, ["y:0"], TOL_EXACT, [op]))
    out.append(Case("Cast float32->bool NaN/Inf/-0", [Node("y", "Cast", ["x:0"], {"DstT": np.dtype(np.bool_)})],
                    {"x": x}, {}, ["y:0"], TOL_EXACT, ["Cast"]))
    out.append(Case("Cast float32->bool->float32 NaN/Inf/-0 (true is 1)", [
        Node("b", "Cast", ["x:0"], {"DstT": np.dtype(np.bool_)}), Node("y", "Cast", ["b:0"], {"DstT": F32})],
        {"x": np.concatenate([x, x[:, :5]], axis=1)}, {}, ["y:0"], TOL_EXACT, ["Cast"]))
    xc = _rand(rng, 1, 6, 6, 4, lo=-2, hi=2)
    xc[0, 1, 1, 0], xc[0, 4, 2, 3], xc[0, 3, 3, 1] = np.nan, np.inf, -np.inf
    xc[0, 2, 4, 2] = np.copysign(np.float32(np.nan), np.float32(-1))     # a NaN with its sign bit set
    out.append(Case("_FusedConv2D BiasAdd+Relu6 on NaN/Inf input", [Node("y", "_FusedConv2D", ["x:0", "w:0", "b:0"], {
        **{"strides": [1, 1, 1, 1], "padding": "SAME"}, "fused_ops": ["BiasAdd", "Relu6"]})],
        {"x": xc}, {"w": _rand(rng, 3, 3, 4, 5), "b": _rand(rng, 5)}, ["y:0"], TOL_ACCUM, ["_FusedConv2D"]))
    out.append(Case("depthwise -> Relu on NaN/Inf input", [
        Node("d", "DepthwiseConv2dNative", ["x:0", "w:0"], {"strides": [1, 1, 1, 1], "padding": "SAME"}),
        Node("y", "Relu", ["d:0"], {})], {"x": xc}, {"w": _rand(rng, 3, 3, 4, 1)}, ["y:0"], TOL_ACCUM,
        ["DepthwiseConv2dNative", "Relu"]))
    out.append(Case("conv -> MaxPool -> Relu on NaN/Inf input (the Relu joins the conv)", [
        Node("c", "Conv2D", ["x:0", "w:0"], {"strides": [1, 1, 1, 1], "padding": "VALID"}),
        Node("m", "MaxPool", ["c:0"], {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"}),
        Node("y", "Relu", ["m:0"], {})], {"x": xc}, {"w": _rand(rng, 1, 1, 4, 6)}, ["y:0"], TOL_ACCUM,
        ["Conv2D", "MaxPool", "Relu"]))
    out.append(Case("1x1 conv -> depthwise 3x3 s2 on NaN/Inf input (fused on wasm)", [
        Node("e", "Conv2D", ["x:0", "w:0"], {"strides": [1, 1, 1, 1], "padding": "VALID"}),
        Node("y", "DepthwiseConv2dNative", ["e:0", "wd:0"], {"strides": [1, 2, 2, 1], "padding": "SAME"})],
        {"x": xc}, {"w": _rand(rng, 1, 1, 4, 8), "wd": _rand(rng, 3, 3, 8, 1)}, ["y:0"], TOL_ACCUM,
        ["Conv2D", "DepthwiseConv2dNative"]))
    for op in ("MaxPool", "AvgPool"):
        out.append(Case(f"{op} on NaN/Inf input", [Node("y", op, ["x:0"], {
            "ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": "VALID"})], {"x": xc}, {}, ["y:0"], TOL_EXACT, [op]))
        out.append(Case(f"{op} k3 s1 SAME on NaN/Inf input", [Node("y", op, ["x:0"], {
            "ksize": [1, 3, 3, 1], "strides": [1, 1, 1, 1], "padding": "SAME"})], {"x": xc}, {}, ["y:0"], TOL_EXACT, [op]))
        out.append(Case(f"{op} k3 s2 SAME on NaN/Inf input", [Node("y", op, ["x:0"], {
            "ksize": [1, 3, 3, 1], "strides": [1, 2, 2, 1], "padding": "SAME"})], {"x": xc}, {}, ["y:0"], TOL_EXACT, [op]))
    for op in ("Max", "Min", "Sum", "Mean"):
        out.append(Case(f"{op} reduction on NaN/Inf input", [Node("y", op, ["x:0", "ax:0"], {})],
                        {"x": xc}, {"ax": _i32([1])}, ["y:0"], TOL_ACCUM, [op]))
    return out


def _i8(rng, *shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def int8_cases(rng) -> list[Case]:
    """The int8 ops of quantised models (ops/quant.py): results must equal the numpy
    reference exactly (tolerance 0).  Channel counts below/at/above 8 and 16 (the
    kernels' lanes), odd K, padding, stride 2, dilation, residuals, float outputs."""
    out: list[Case] = []

    def qconv(name, op, x, w, attrs, residual=False, out_float=False, act="", qrange=(-128, 127), mult=None):
        co = _q_channels(op, w)
        k = w.size // co
        consts = {"w": w, "b": rng.integers(-3000, 3000, co).astype(np.int32) if mult is None else np.zeros(co, np.int32),
                  # multipliers that spread the accumulators over the int8 range (some clamp)
                  "m": (rng.uniform(0.5, 2.0, co) / (40.0 * np.sqrt(k)) / (10 if out_float else 1)).astype(np.float32)
                  if mult is None else np.full(co, mult, np.float32)}
        a = {**attrs, "x_zero_point": int(rng.integers(-20, 20)), "out_zero_point": int(rng.integers(-10, 10)),
             "qmin": qrange[0], "qmax": qrange[1], "out_dtype": "float32" if out_float else "int8", "activation": act}
        inputs = {"x": x}
        ins = ["x:0", "w:0", "b:0", "m:0"]
        if residual:
            oshape = _qconv_out_shape(op, x, w, attrs)
            inputs["r"] = _i8(rng, *oshape)
            a.update(residual_zero_point=int(rng.integers(-30, 30)), residual_scale=float(rng.uniform(0.5, 1.5)))
            ins.append("r:0")
        out.append(Case(f"int8 {name}", [Node("y", op, ins, a)], inputs, consts, ["y:0"], 0.0, [op], int8=True))

    conv = lambda s, pad, d=1: {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, d, d, 1]}
    for (h, w, c, co, k, s, pad, d, res, fl) in [
            (5, 7, 13, 11, 1, 1, "VALID", 1, False, False), (8, 8, 16, 24, 1, 1, "SAME", 1, True, False),
            (9, 9, 4, 16, 3, 1, "SAME", 1, True, False), (11, 10, 3, 24, 5, 2, "SAME", 1, False, True),
            (12, 12, 6, 9, 3, 1, "VALID", 2, False, False), (7, 6, 9, 17, 3, 2, "SAME", 1, False, False),
            (4, 4, 40, 8, 3, 1, "SAME", 1, True, True)]:
        qconv(f"WtQConv2D {h}x{w}x{c}->{co} k{k} s{s} {pad} d{d}{' +residual' if res else ''}"
              f"{' float out' if fl else ''}", "WtQConv2D", _i8(rng, 1, h, w, c), _i8(rng, k, k, c, co),
              conv(s, pad, d), residual=res, out_float=fl, act="Relu6" if fl else "",
              qrange=(-128, 127) if fl or res else (-5, 100))
    qconv("WtQConv2D EXPLICIT padding", "WtQConv2D", _i8(rng, 2, 6, 5, 8), _i8(rng, 3, 3, 8, 8),
          {"strides": [1, 1, 1, 1], "padding": "EXPLICIT", "explicit_paddings": [0, 0, 2, 1, 0, 2, 0, 0]})
    for (m, k, n, fl) in [(3, 20, 10, False), (1, 64, 5, True), (6, 7, 33, False)]:
        qconv(f"WtQMatMul {m}x{k}x{n}{' float out' if fl else ''}", "WtQMatMul", _i8(rng, m, k), _i8(rng, k, n), {},
              out_float=fl, act="Relu" if fl else "")
    for (h, c, k, s, pad, res, fl) in [(7, 20, 3, 1, "SAME", True, False), (9, 8, 3, 2, "SAME", False, True),
                                       (8, 3, 5, 1, "VALID", False, False), (6, 33, 3, 2, "VALID", False, False),
                                       (5, 16, 3, 1, "SAME", True, True)]:
        qconv(f"WtQDepthwiseConv2D {h}x{h}x{c} k{k} s{s} {pad}{' +residual' if res else ''}"
              f"{' float out' if fl else ''}", "WtQDepthwiseConv2D", _i8(rng, 1, h, h, c), _i8(rng, k, k, c, 1),
              conv(s, pad), residual=res, out_float=fl, act="Relu" if fl else "")
    # requantisation ties: a multiplier of 0.5 makes every odd accumulator land on .5, which
    # must round half to even (random multipliers never hit an exact tie)
    small = lambda *shape: rng.integers(-3, 4, shape).astype(np.int8)
    qconv("WtQConv2D rounding ties (multiplier 0.5)", "WtQConv2D", small(1, 5, 5, 8), small(1, 1, 8, 9),
          conv(1, "VALID"), mult=0.5)
    qconv("WtQDepthwiseConv2D rounding ties (multiplier 0.5)", "WtQDepthwiseConv2D", small(1, 6, 6, 12),
          small(3, 3, 12, 1), conv(1, "SAME"), mult=0.5)
    # quantize: values on the rounding ties (k/4 with scale 0.5) to check half-to-even
    ties = (rng.integers(-300, 300, (2, 3, 5, 7)) / 4).astype(np.float32)
    out.append(Case("int8 WtQuantize (ties, clamping)", [Node("y", "WtQuantize", ["x:0"], {"scale": 0.5, "zero_point": 3})],
                    {"x": ties}, {}, ["y:0"], 0.0, ["WtQuantize"], int8=True))
    out.append(Case("int8 WtDequantize", [Node("y", "WtDequantize", ["x:0"], {"scale": 0.037, "zero_point": -7})],
                    {"x": _i8(rng, 3, 37)}, {}, ["y:0"], TOL_EXACT, ["WtDequantize"], int8=True))
    for (h, c, k, s, pad) in [(7, 20, 3, 2, "SAME"), (8, 16, 2, 2, "VALID"), (5, 5, 3, 1, "SAME")]:
        out.append(Case(f"int8 MaxPool {h}x{h}x{c} k{k} s{s} {pad}", [Node("y", "MaxPool", ["x:0"], {
            "ksize": [1, k, k, 1], "strides": [1, s, s, 1], "padding": pad})], {"x": _i8(rng, 1, h, h, c)}, {},
            ["y:0"], 0.0, ["MaxPool"], int8=True))
    out.append(Case("int8 PadV2 (zero point) -> Reshape -> ConcatV2", [
        Node("p", "PadV2", ["x:0", "pads:0", "v:0"], {}), Node("r", "Reshape", ["p:0", "shape:0"], {}),
        Node("y", "ConcatV2", ["r:0", "z:0", "ax:0"], {})],
        {"x": _i8(rng, 1, 4, 4, 6), "z": _i8(rng, 1, 4, 4, 3)},
        {"pads": _i32([[0, 0], [0, 0], [0, 0], [0, 3]]), "v": _i32(-9), "shape": _i32([1, 4, 4, 9]), "ax": _i32(3)},
        ["y:0"], 0.0, ["PadV2", "ConcatV2"], int8=True))
    return out


def _q_channels(op, w) -> int:
    """Output channels of an int8 conv case's filter."""
    from .ops.kinds import FILTER_CHANNEL_AXIS, QUANT_OPS
    kind = next(k for k, v in QUANT_OPS.items() if v == op)
    return w.shape[FILTER_CHANNEL_AXIS[kind]]


def _qconv_out_shape(op, x, w, attrs):
    """Output shape of an int8 conv case (for its residual input)."""
    from .ops import OPS, TensorSpec
    co = _q_channels(op, w)
    ins = [TensorSpec(x.shape, x.dtype), TensorSpec(w.shape, w.dtype),
           TensorSpec((co,), np.dtype(np.int32)), TensorSpec((co,), F32)]
    return OPS[op].shape(ins, attrs)[0].shape


def error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / (1 + |want|) over finite values; inf when the shapes differ, a NaN
    is missing or extra, or an infinity differs (the NaN/Inf rule is exact)."""
    if got.shape != want.shape:
        return float("inf")
    if want.size == 0:
        return 0.0
    g, w = got.astype(np.float64), want.astype(np.float64)
    nan_w = np.isnan(w)
    if np.any(nan_w != np.isnan(g)):
        return float("inf")
    inf_w = np.isinf(w)
    if np.any(g[inf_w] != w[inf_w]) or np.any(np.isinf(g[~inf_w & ~nan_w])):
        return float("inf")
    fin = ~nan_w & ~inf_w
    return float(np.max(np.abs(g[fin] - w[fin]) / (1.0 + np.abs(w[fin])), initial=0.0))


def run(backend: str, names: list[str] | None = None) -> list[dict]:
    """Every case on `backend` vs numpy: [{case, ok, error, tol, fallbacks}]."""
    return run_sync(run_async(backend, names, sync=True),       # a synchronous backend never suspends it
                    f"backend {backend!r} answers asynchronously: use `await conformance.run_async(...)`")


async def run_async(backend: str, names: list[str] | None = None, webgl_alternates: bool = False,
                    sync: bool = False) -> list[dict]:
    """`run` through `execute_async`: the way to run the suite on WebGPU.  Every plan runs on
    the whole thread pool, however small (the kernels' work splits are what is tested), every
    3x3 stride-1 conv of 8 or more input channels in wasm's Winograd kernel, and
    every WebGL conv shares its filter fetches between 4 rows (ROWS 4), maps of few rows
    split into more grid rows (SEG) and padded convs draw interior and frame apart;
    `webgl_alternates=True` runs the other paths: ROWS 1, every map with one image row per
    grid row, and every padded conv whole."""
    eng = engine()
    settings = dict(one_thread_below_flops=0, fuse_expansion_above_bytes=0, winograd_min_tiles=1,
                    winograd_min_out_channels=1, webgl_shared_rows_above=0, webgl_split_macs=0,
                    webgl_interior_side=0)
    if webgl_alternates:
        settings.update(webgl_shared_rows_above=1 << 62, webgl_interior_side=1 << 62, webgl_split_rows_below=0)
    saved = {k: getattr(eng, k) for k in settings}
    for k, v in settings.items():
        setattr(eng, k, v)
    try:
        return await _run_cases(backend, names, sync)
    finally:
        for k, v in saved.items():
            setattr(eng, k, v)


async def _run_cases(backend: str, names: list[str] | None, sync: bool = False) -> list[dict]:
    results = []
    target = await get_backend_async(backend)
    if backend == "wasm-simd-threads":
        # the helpers start only once the page returns to its event loop, and nothing below
        # does: without this wait the whole suite ran on thread 0 alone in a fresh page.  (The
        # synchronous `run` cannot wait: it runs on the helpers that are ready.)
        from . import native
        rt = native.start(backend)
        want = max(2, int(rt.threads))
        if int(rt.readyThreads()) < want and not sync:
            await native.set_threads(want)
    for case in cases():
        if names and case.name not in names:
            continue
        model = case.model()
        model.backend_name = "numpy"
        want = model.execute(dict(case.inputs), list(case.outputs))
        model.backend_name = backend
        entry = {"case": case.name, "tol": case.tol}
        try:
            got = await model.execute_async(dict(case.inputs), list(case.outputs))
            err = max(error(g, w) for g, w in zip(got, want))
            plan = model.plan_for({f"{k}:0": v.shape for k, v in case.inputs.items()},
                                  [model._output_key(o) for o in case.outputs])
            desc = target.describe(plan)
            fallbacks = desc.get("fallbacks", [])
            refused = desc.get("refused", [])
            bad_fallbacks = [f for f in fallbacks if f.split(" ")[0] in case.kernel_ops and f not in refused]
            entry.update(ok=err <= case.tol and not bad_fallbacks, error=err, fallbacks=fallbacks, refused=refused,
                         kernel_calls=desc.get("kernel_calls"), barriers=desc.get("barriers_per_inference"))
        except Exception as e:  # report, never hide
            entry.update(ok=False, error=None, exception=f"{type(e).__name__}: {e}")
        model.dispose()           # give its wasm blocks / textures back before the next case
        results.append(entry)
    return results
