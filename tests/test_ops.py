"""Op references against hand-checked values and naive loops (TF semantics).

`run` also asks the op's shape rule for its output shapes and dtypes and checks
they agree with what the reference produced, so every case tests both.
"""
import numpy as np
import pytest

from webtensor.ops import OPS, TensorSpec

RNG = np.random.default_rng(3)


def run(op, *inputs, const=(), **attrs):
    """const: indices of inputs the shape rule may read as values."""
    ins = [np.asarray(x) for x in inputs]
    outs = OPS[op].ref(ins, attrs)
    specs = [TensorSpec(x.shape, x.dtype, x if i in const else None) for i, x in enumerate(ins)]
    rule = OPS[op].shape(specs, attrs)
    assert [tuple(s.shape) for s in rule] == [o.shape for o in outs], f"{op}: shape rule disagrees"
    assert [np.dtype(s.dtype) for s in rule] == [o.dtype for o in outs], f"{op}: dtype rule disagrees"
    return outs if len(outs) != 1 else outs[0]


def naive_conv(x, w, stride, pads, dil=1, depthwise=False):
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    (pt, pb), (pl, pr) = pads
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (h + pt + pb - (kh - 1) * dil - 1) // stride + 1
    ow = (wd + pl + pr - (kw - 1) * dil - 1) // stride + 1
    cout = c * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((n, oh, ow, cout), np.float64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                patch = xp[b, i * stride: i * stride + (kh - 1) * dil + 1: dil, j * stride: j * stride + (kw - 1) * dil + 1: dil]
                if depthwise:
                    out[b, i, j] = np.einsum("hwc,hwcm->cm", patch, w).reshape(-1)
                else:
                    out[b, i, j] = np.einsum("hwc,hwco->o", patch, w)
    return out


CONV_ATTRS = lambda s, pad, d=1: dict(strides=[1, s, s, 1], padding=pad, dilations=[1, d, d, 1], data_format="NHWC")


def test_same_padding_odd_size_stride_2_pads_more_at_the_end():
    # TF SAME: out = ceil(5/2) = 3, total pad = (3-1)*2 + 3 - 5 = 2 -> 1 before, 1 after
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
    w = np.ones((3, 3, 1, 1), np.float32)
    y = run("Conv2D", x, w, **CONV_ATTRS(2, "SAME"))
    assert y.shape == (1, 3, 3, 1)
    assert y[0, 0, 0, 0] == 0 + 1 + 5 + 6           # top-left window covers rows/cols -1..1
    assert y[0, 1, 1, 0] == sum(range(6, 9)) + sum(range(11, 14)) + sum(range(16, 19))
    # 6x6 input, stride 2, k 3: total pad 1 -> 0 before, 1 after (TF puts the extra at the end)
    x6 = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    y6 = run("Conv2D", x6, w, **CONV_ATTRS(2, "SAME"))
    assert y6[0, 0, 0, 0] == 0 + 1 + 2 + 6 + 7 + 8 + 12 + 13 + 14


@pytest.mark.parametrize("shape,k,stride,pad,dil", [
    ((1, 7, 7, 3), 3, 1, "SAME", 1), ((2, 9, 8, 5), 3, 2, "SAME", 1), ((1, 8, 8, 4), 5, 2, "VALID", 1),
    ((1, 10, 10, 2), 3, 1, "SAME", 2), ((1, 6, 6, 16), 1, 1, "VALID", 1), ((1, 5, 5, 3), 2, 2, "SAME", 1)])
def test_conv2d_matches_naive_loops(shape, k, stride, pad, dil):
    x = RNG.standard_normal(shape).astype(np.float32)
    w = RNG.standard_normal((k, k, shape[3], 6)).astype(np.float32)
    y = run("Conv2D", x, w, **CONV_ATTRS(stride, pad, dil))
    eff = (k - 1) * dil + 1
    if pad == "SAME":
        pads = []
        for size in shape[1:3]:
            out = -(-size // stride)
            total = max((out - 1) * stride + eff - size, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(0, 0), (0, 0)]
    np.testing.assert_allclose(y, naive_conv(x, w, stride, pads, dil), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mult", [1, 2])
def test_depthwise_matches_naive_loops(mult):
    x = RNG.standard_normal((1, 9, 9, 5)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 5, mult)).astype(np.float32)
    y = run("DepthwiseConv2dNative", x, w, **CONV_ATTRS(2, "SAME"))
    np.testing.assert_allclose(y, naive_conv(x, w, 2, [(1, 1), (1, 1)], depthwise=True), rtol=1e-4, atol=1e-4)


def test_explicit_padding():
    x = RNG.standard_normal((1, 4, 4, 2)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 2, 3)).astype(np.float32)
    attrs = CONV_ATTRS(1, "EXPLICIT")
    attrs["explicit_paddings"] = [0, 0, 2, 0, 1, 1, 0, 0]
    y = run("Conv2D", x, w, **attrs)
    np.testing.assert_allclose(y, naive_conv(x, w, 1, [(2, 0), (1, 1)]), rtol=1e-4, atol=1e-4)


def test_fused_conv_bias_activations_and_batchnorm():
    x = RNG.standard_normal((1, 6, 6, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = RNG.standard_normal(4).astype(np.float32)
    base = run("Conv2D", x, w, **CONV_ATTRS(1, "SAME")) + b
    alpha = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, fused_ops=["BiasAdd", "Relu"], **CONV_ATTRS(1, "SAME")),
                               np.maximum(base, 0), rtol=1e-5)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, fused_ops=["BiasAdd", "Relu6"], **CONV_ATTRS(1, "SAME")),
                               np.clip(base, 0, 6), rtol=1e-5)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, alpha, fused_ops=["BiasAdd", "Prelu"], **CONV_ATTRS(1, "SAME")),
                               np.where(base > 0, base, base * alpha), rtol=1e-5)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, fused_ops=["BiasAdd", "LeakyRelu"], leakyrelu_alpha=0.1,
                                   **CONV_ATTRS(1, "SAME")), np.where(base > 0, base, 0.1 * base), rtol=1e-5)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, fused_ops=["BiasAdd", "Sigmoid"], **CONV_ATTRS(1, "SAME")),
                               1 / (1 + np.exp(-base)), rtol=1e-5)
    np.testing.assert_allclose(run("_FusedConv2D", x, w, b, fused_ops=["BiasAdd", "Elu"], **CONV_ATTRS(1, "SAME")),
                               np.where(base > 0, base, np.expm1(base)), rtol=1e-5, atol=1e-6)
    scale, offset, mean, var = (RNG.random(4).astype(np.float32) + 0.5 for _ in range(4))
    conv = base - b
    want = (conv - mean) / np.sqrt(var + 1e-3) * scale + offset
    np.testing.assert_allclose(run("_FusedConv2D", x, w, scale, offset, mean, var, fused_ops=["FusedBatchNorm"],
                                   epsilon=1e-3, **CONV_ATTRS(1, "SAME")), want, rtol=1e-4, atol=1e-5)


def test_fused_matmul_and_transposes():
    a = RNG.standard_normal((3, 5)).astype(np.float32)
    b = RNG.standard_normal((4, 5)).astype(np.float32)
    bias = RNG.standard_normal(4).astype(np.float32)
    y = run("_FusedMatMul", a, b, bias, transpose_a=False, transpose_b=True, fused_ops=["BiasAdd", "Relu"])
    np.testing.assert_allclose(y, np.maximum(a @ b.T + bias, 0), rtol=1e-5)
    np.testing.assert_allclose(run("MatMul", a.T.copy(), b.T.copy(), transpose_a=True), a @ b.T, rtol=1e-5)


def test_max_pool_same_ignores_padding_and_avg_pool_excludes_it():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) - 20  # all negative: zero padding would win a max
    y = run("MaxPool", x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="SAME")
    # out 2x2; total pad 1 -> 0 before, 1 after
    np.testing.assert_array_equal(y[0, :, :, 0], [[10 - 20, 11 - 20], [14 - 20, 15 - 20]])
    a = run("AvgPool", np.ones((1, 3, 3, 1), np.float32), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    np.testing.assert_array_equal(a, np.ones((1, 2, 2, 1)))  # edge windows average only real cells
    v = run("AvgPool", np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
            padding="VALID")
    np.testing.assert_array_equal(v[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_resize_bilinear_modes():
    x = np.array([0, 10, 20, 30], np.float32).reshape(1, 1, 4, 1)
    size = np.array([1, 8], np.int32)
    legacy = run("ResizeBilinear", x, size, const=(1,))[0, 0, :, 0]
    np.testing.assert_allclose(legacy, [0, 5, 10, 15, 20, 25, 30, 30])        # src = dst * 0.5
    half = run("ResizeBilinear", x, size, half_pixel_centers=True, const=(1,))[0, 0, :, 0]
    # half-pixel: src = (dst + .5) * .5 - .5 = -.25, .25, .75, ... -> clamped below 0
    np.testing.assert_allclose(half, [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30])
    ac = run("ResizeBilinear", x, np.array([1, 7], np.int32), align_corners=True, const=(1,))[0, 0, :, 0]
    np.testing.assert_allclose(ac, [0, 5, 10, 15, 20, 25, 30])                 # scale (4-1)/(7-1)
    down = run("ResizeBilinear", np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), np.array([2, 2], np.int32),
               const=(1,))[0, :, :, 0]
    np.testing.assert_allclose(down, [[0, 2], [8, 10]])


def test_resize_nearest_modes():
    x = np.array([0, 1, 2, 3], np.float32).reshape(1, 1, 4, 1)
    n = lambda size, **kw: run("ResizeNearestNeighbor", x, np.array([1, size], np.int32), const=(1,), **kw)[0, 0, :, 0]
    np.testing.assert_array_equal(n(8), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(n(3), [0, 1, 2])                               # floor(dst * 4/3)
    np.testing.assert_array_equal(n(3, align_corners=True), [0, 2, 3])           # round(dst * 1.5)
    np.testing.assert_array_equal(n(3, half_pixel_centers=True), [0, 2, 3])      # floor((dst + .5) * 4/3)


def test_broadcasting_and_integer_division_semantics():
    a = np.array([[-7], [7]], np.int32)
    b = np.array([2, -2], np.int32)
    np.testing.assert_array_equal(run("FloorDiv", a, b), [[-4, 3], [3, -4]])
    np.testing.assert_array_equal(run("FloorMod", a, b), [[1, -1], [1, -1]])  # sign of the divisor
    np.testing.assert_array_equal(run("FloorDiv", np.float32([-7.5]), np.float32([2])), [-4])
    np.testing.assert_array_equal(run("SquaredDifference", np.float32([1, 2]), np.float32([[3], [0]])), [[4, 1], [1, 4]])
    assert run("Add", np.int32([1]), np.int32([2])).dtype == np.int32
    np.testing.assert_array_equal(run("Maximum", np.float32([1, 5]), np.float32(3)), [3, 5])
    np.testing.assert_array_equal(run("AddN", np.float32([1, 2]), np.float32([3, 4]), np.float32([5, 6])), [9, 12])
    np.testing.assert_array_equal(run("Greater", np.float32([1, 5]), np.float32([3])), [False, True])


def test_unary_ops():
    x = np.float32([0.25, 1, 4])
    np.testing.assert_allclose(run("Rsqrt", x), [2, 1, 0.5])
    np.testing.assert_allclose(run("Reciprocal", x), [4, 1, 0.25])
    np.testing.assert_allclose(run("Sqrt", x), [0.5, 1, 2])
    np.testing.assert_allclose(run("Relu6", np.float32([-1, 3, 9])), [0, 3, 6])
    np.testing.assert_allclose(run("Softmax", np.float32([[0, np.log(3)]])), [[0.25, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(run("Prelu", np.float32([[-2, 2]]), np.float32([0.5, 0.5])), [[-1, 2]])
    np.testing.assert_array_equal(run("Round", np.float32([0.5, 1.5, -0.5])), [0, 2, -0])  # half to even


def test_reductions_with_negative_axes_and_keep_dims():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_allclose(run("Mean", x, np.int32([-1]), keep_dims=True, const=(1,)), x.mean(-1, keepdims=True))
    np.testing.assert_allclose(run("Sum", x, np.int32([0, 2]), const=(1,)), x.sum((0, 2)))
    np.testing.assert_allclose(run("Max", x, np.int32(1), const=(1,)), x.max(1))
    np.testing.assert_array_equal(run("ArgMax", np.float32([[1, 9, 9], [7, 2, 3]]), np.int32(-1), const=(1,),
                                      output_type=np.dtype(np.int32)), [1, 0])
    np.testing.assert_array_equal(run("Mean", np.int32([[1, 2], [3, 5]]), np.int32([1]), const=(1,)), [1, 4])


def test_cast_follows_tensorflow():
    x = np.float32([0.5, -0.5, 0, 2.7, -2.7])
    np.testing.assert_array_equal(run("Cast", x, DstT=np.dtype(np.bool_)), [True, True, False, True, True])
    np.testing.assert_array_equal(run("Cast", x, DstT=np.dtype(np.int32)), [0, 0, 0, 2, -2])
    np.testing.assert_array_equal(run("Cast", np.array([True, False]), DstT=np.dtype(np.float32)), [1, 0])


def test_select_and_selectv2():
    c = np.array([True, False])
    t = np.float32([[1, 2], [3, 4]])
    e = np.float32([[5, 6], [7, 8]])
    np.testing.assert_array_equal(run("Select", c, t, e), [[1, 2], [7, 8]])            # rank-1 condition picks rows
    np.testing.assert_array_equal(run("SelectV2", c, t, e), [[1, 6], [3, 8]])          # broadcasts on the last axis


def test_topk_sorted_and_ties_keep_lower_index():
    v, i = run("TopKV2", np.float32([[1, 3, 3, 2]]), np.int32(2), const=(1,))
    np.testing.assert_array_equal(v, [[3, 3]])
    np.testing.assert_array_equal(i, [[1, 2]])


def test_shape_manipulation():
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    assert run("Reshape", x, np.int32([-1, 2]), const=(1,)).shape == (6, 2)
    assert run("Squeeze", x, squeeze_dims=[0]).shape == (3, 4)
    assert run("Squeeze", np.zeros((1, 2, 1)), squeeze_dims=[]).shape == (2,)
    assert run("ExpandDims", x, np.int32(-1), const=(1,)).shape == (1, 3, 4, 1)
    np.testing.assert_array_equal(run("Transpose", x, np.int32([2, 0, 1]), const=(1,)), x.transpose(2, 0, 1))
    np.testing.assert_array_equal(run("ConcatV2", x, x, np.int32(-1), const=(2,)), np.concatenate([x, x], -1))
    np.testing.assert_array_equal(run("Pack", np.float32([1, 2]), np.float32([3, 4]), axis=1), [[1, 3], [2, 4]])
    a, b = run("Unpack", np.float32([[1, 3], [2, 4]]), axis=1, num=2)
    np.testing.assert_array_equal(a, [1, 2])
    parts = run("Split", np.int32(2), x, num_split=2, const=(0,))
    assert [p.shape for p in parts] == [(1, 3, 2), (1, 3, 2)]
    parts = run("SplitV", x, np.int32([1, -1]), np.int32(-1), const=(1, 2))
    assert [p.shape for p in parts] == [(1, 3, 1), (1, 3, 3)]
    np.testing.assert_array_equal(run("Slice", x, np.int32([0, 1, 1]), np.int32([-1, 2, 2]), const=(1, 2)),
                                  x[:, 1:3, 1:3])
    np.testing.assert_array_equal(run("Pad", np.float32([[1]]), np.int32([[1, 0], [0, 2]]), const=(1,)),
                                  [[0, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(run("PadV2", np.float32([1]), np.int32([[1, 1]]), np.float32(9), const=(1,)), [9, 1, 9])
    np.testing.assert_array_equal(run("Shape", x), [1, 3, 4])
    np.testing.assert_array_equal(run("Fill", np.int32([2, 2]), np.float32(7), const=(0,)), np.full((2, 2), 7))
    np.testing.assert_array_equal(run("Range", np.int32(3), np.int32(10), np.int32(3), const=(0, 1, 2)), [3, 6, 9])


@pytest.mark.parametrize("begin,end,strides,masks,want", [
    ([1], [3], [1], {}, lambda x: x[1:3]),
    ([0, 1], [0, 3], [1, 1], {"begin_mask": 1, "end_mask": 1}, lambda x: x[:, 1:3]),
    ([-1], [0], [-1], {"end_mask": 1}, lambda x: x[::-1]),
    ([2], [0], [1], {"shrink_axis_mask": 1}, lambda x: x[2]),
    ([0, 0], [0, 0], [1, 1], {"ellipsis_mask": 1, "shrink_axis_mask": 2, "begin_mask": 0}, lambda x: x[..., 0]),
    ([0, 0], [0, 0], [1, 1], {"new_axis_mask": 1, "begin_mask": 2, "end_mask": 2}, lambda x: x[None, :]),
    ([0, 1], [4, 4], [2, 2], {}, lambda x: x[0:4:2, 1:4:2]),
    ([1, 0, 0], [2, 0, 2], [1, 1, 1], {"new_axis_mask": 2, "end_mask": 0}, lambda x: x[1:2, None, 0:2]),
    ([-100], [100], [1], {}, lambda x: x[-100:100]),
])
def test_strided_slice_masks(begin, end, strides, masks, want):
    x = np.arange(20, dtype=np.float32).reshape(5, 4)
    y = run("StridedSlice", x, np.int32(begin), np.int32(end), np.int32(strides), const=(1, 2, 3), **masks)
    np.testing.assert_array_equal(y, want(x))


def test_gather_and_gather_nd():
    p = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(run("GatherV2", p, np.int32([2, 0]), np.int32(0), const=(2,)), p[[2, 0]])
    np.testing.assert_array_equal(run("GatherV2", p, np.int32([[1], [3]]), np.int32(-1), const=(2,)), p[:, [[1], [3]]])
    bd = run("GatherV2", p, np.int32([[1], [0], [3]]), np.int32(1), batch_dims=1, const=(2,))
    np.testing.assert_array_equal(bd, [[1], [4], [11]])
    np.testing.assert_array_equal(run("GatherNd", p, np.int32([[0, 1], [2, 3]])), [1, 11])
    np.testing.assert_array_equal(run("GatherNd", p, np.int32([[2]])), [p[2]])
    with pytest.raises(ValueError, match="out of range"):
        run("GatherV2", p, np.int32([5]), np.int32(0), const=(2,))


def test_gather_negative_batch_dims_follows_tensorflow():
    """batch_dims < 0 counts from the indices' rank (TF); the shape rule and the reference agree."""
    from webtensor.ops import OPS, TensorSpec
    x = np.arange(30, dtype=np.float32).reshape(2, 3, 5)
    idx = np.array([[0, 1, 2], [4, 3, 2]], np.int32)
    ax = np.array(2, np.int32)
    attrs = {"batch_dims": -1}
    (out,) = OPS["GatherV2"].ref([x, idx, ax], attrs)
    (spec,) = OPS["GatherV2"].shape([TensorSpec(x.shape, x.dtype), TensorSpec(idx.shape, idx.dtype),
                                     TensorSpec((), ax.dtype, ax)], attrs)
    assert out.shape == spec.shape == (2, 3, 3)
    assert out[1, 2].tolist() == [29, 28, 27]    # x[1, 2, [4, 3, 2]]


def test_cast_to_string_is_refused_by_the_shape_rule():
    from webtensor.ops import OPS, TensorSpec
    from webtensor.ops.spec import OpError
    with pytest.raises(OpError, match="Cast to object is not supported"):
        OPS["Cast"].shape([TensorSpec((2,), np.dtype(np.float32))], {"DstT": np.dtype(object)})
