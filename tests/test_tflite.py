""".tflite loading: MediaPipe's models and hand-built ones against LiteRT's interpreter,
errors naming op and tensor, and seeded mutations that must fail cleanly."""
import time

import numpy as np
import pytest

import webtensor
from webtensor.graph.tflite import parse_tflite
from webtensor.model import GraphModel

from .helpers import ROOT, SAMPLE
from .tflite_writer import ModelBuilder, run_litert

MEDIAPIPE = ROOT / "node_modules" / "@mediapipe"
MODELS = {"face_detection_short_range": "face_detection", "face_detection_full_range": "face_detection",
          "face_detection_full_range_sparse": "face_detection", "hand_landmark_lite": "hands",
          "hand_landmark_full": "hands", "pose_landmark_lite": "pose", "pose_landmark_full": "pose",
          "pose_landmark_heavy": "pose", "selfie_segmentation": "selfie_segmentation",
          "selfie_segmentation_landscape": "selfie_segmentation",
          # unpacked by build.py setup from @mediapipe/hands' packed assets
          "palm_detection_lite": None, "palm_detection_full": None}


def model_path(name):
    if MODELS[name] is None:
        return ROOT / ".cache" / "models" / "mediapipe" / f"{name}.tflite"
    return MEDIAPIPE / MODELS[name] / f"{name}.tflite"


def photo_input(name, shape) -> np.ndarray:
    """The sample photo (a person) resized to the model's input, in the range MediaPipe feeds
    it: [-1, 1] for the face detectors, [0, 1] for the others.  Random noise is far outside
    what these models saw in training and drives pose's segmentation logits to +-1200, where
    float32 summation order alone moves them by 1 (LiteRT's two kernel sets included)."""
    from PIL import Image
    h, w = shape[1], shape[2]
    img = np.asarray(Image.open(SAMPLE).convert("RGB").resize((w, h), Image.BILINEAR), np.float32) / 255
    if name.startswith("face_detection"):
        img = img * 2 - 1
    return np.broadcast_to(img, (shape[0], h, w, 3)).astype(np.float32)


def close(got, want, tol=1e-3):
    """|got - want| <= tol * (1 + max|want|): 1e-3 of the tensor's own scale.  Elementwise
    rtol fails LiteRT against itself (on random input its XNNPACK and reference kernels
    differ by 0.14 on pose's segmentation logits, which reach 1230), so the scale is the tensor's."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0))
    bound = tol * (1 + float(np.max(np.abs(want), initial=0)))
    assert err <= bound, f"max error {err:.3g} > {bound:.3g}"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_mediapipe_model_matches_litert(name):
    path = model_path(name)
    model = webtensor.read_tflite_model(path, backend="numpy")
    info = model.inputs[0]
    x = photo_input(name, info.shape)
    want = run_litert(path.read_bytes(), [x])
    got = model.predict(x)
    got = got if isinstance(got, list) else [got]
    assert [o.name for o in model.outputs] and len(got) == len(want)
    for g, w in zip(got, want):
        close(g, w)
    # execute by tensor name gives the same as predict
    first = model.outputs[0].name
    np.testing.assert_array_equal(model.execute({info.name: x}, first), got[0])
    assert model.report()["source"] == str(path)


def _one(kind, x_shape, consts=(), out_shape=None, n_inputs=1, custom=None, custom_options=b"", **options):
    """A model with one op: inputs x (and more runtime inputs), then constants in order."""
    b = ModelBuilder()
    ins = [b.tensor(f"x{i}", s) for i, s in enumerate([x_shape] if n_inputs == 1 else x_shape)]
    b.inputs = list(ins)
    cins = [b.const(f"c{i}", v) if v is not None else -1 for i, v in enumerate(consts)]
    y = b.tensor("y", out_shape or [1])
    b.outputs = [y]
    b.op(kind, ins + cins, [y], custom=custom, custom_options=custom_options, **options)
    return b.build()


def _check_one(data, xs, tol=1e-4):
    want = run_litert(data, xs)
    # LiteRT resized the output; the model's declared output shape may be a placeholder
    model = GraphModel(parse_tflite(data, "case.tflite"), "numpy")
    got = model.predict(xs[0] if len(xs) == 1 else xs)
    got = got if isinstance(got, list) else [got]
    for g, w in zip(got, want):
        close(g, w, tol)
    return got


rng = np.random.default_rng(3)
R = lambda *s: rng.standard_normal(s).astype(np.float32)
S = lambda *s: rng.standard_normal(s).astype(np.float32) * 0.5
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


@pytest.mark.parametrize("act", sorted(ACT))
@pytest.mark.parametrize("padding,stride,dilation", [(0, 2, 1), (1, 1, 2), (0, 1, 1)])
def test_conv_2d(act, padding, stride, dilation):
    x = R(2, 9, 7, 3)                  # batch 2, odd sizes: SAME pads unevenly
    w, bias = S(5, 3, 3, 3), S(5)
    kh = (3 - 1) * dilation + 1
    oh = -(-9 // stride) if padding == 0 else (9 - kh) // stride + 1
    ow = -(-7 // stride) if padding == 0 else (7 - kh) // stride + 1
    data = _one("CONV_2D", x.shape, [w, bias], [2, oh, ow, 5], padding=padding, strideW=stride, strideH=stride,
                dilationWFactor=dilation, dilationHFactor=dilation, fusedActivationFunction=ACT[act])
    _check_one(data, [x])


def test_fused_tanh_is_refused():
    """LiteRT's conv kernel skips a fused TANH (it clamps to RELU ranges only): refused, not guessed."""
    data = _one("CONV_2D", [1, 3, 3, 2], [S(2, 1, 1, 2), S(2)], [1, 3, 3, 2], padding=1, strideW=1, strideH=1,
                fusedActivationFunction=4)
    with pytest.raises(webtensor.UnsupportedOpError, match=r"CONV_2D 'y' has fused activation TANH"):
        parse_tflite(data, "tanh.tflite")
    data = _one("FULLY_CONNECTED", [2, 3, 4], [S(5, 4), S(5)], [2, 3, 5], keepNumDims=True, fusedActivationFunction=4)
    with pytest.raises(webtensor.UnsupportedOpError, match=r"FULLY_CONNECTED 'y' has fused activation"):
        parse_tflite(data, "fc_tanh.tflite")


def test_conv_without_bias_and_depthwise_multiplier():
    x = R(2, 6, 6, 4)
    w = S(3, 1, 1, 4)
    # LiteRT 2.3 refuses an absent conv bias, which the schema allows: compare with a zero bias
    want = run_litert(_one("CONV_2D", x.shape, [w, np.zeros(3, np.float32)], [2, 6, 6, 3], padding=1, strideW=1, strideH=1), [x])
    no_bias = _one("CONV_2D", x.shape, [w, None], [2, 6, 6, 3], padding=1, strideW=1, strideH=1)
    close(GraphModel(parse_tflite(no_bias, "no_bias.tflite"), "numpy").predict(x), want[0], 1e-4)
    w = S(1, 3, 3, 8)                   # [1, KH, KW, C * multiplier]: multiplier 2
    data = _one("DEPTHWISE_CONV_2D", x.shape, [w, S(8)], [2, 3, 3, 8], padding=0, strideW=2, strideH=2,
                depthMultiplier=2, fusedActivationFunction=1)
    _check_one(data, [x])


def test_fully_connected_and_elementwise():
    x = R(3, 10)
    _check_one(_one("FULLY_CONNECTED", x.shape, [S(4, 10), S(4)], [3, 4], fusedActivationFunction=1), [x])
    x3 = R(2, 5, 10)
    _check_one(_one("FULLY_CONNECTED", x3.shape, [S(4, 10), S(4)], [2, 5, 4], keepNumDims=True), [x3])
    a, b = R(2, 4, 4, 3), R(1, 1, 1, 3)
    for kind in ("ADD", "SUB", "MUL"):
        _check_one(_one(kind, [a.shape, b.shape], [], [2, 4, 4, 3], n_inputs=2, fusedActivationFunction=3), [a, b])
    for kind in ("HARD_SWISH", "LOGISTIC", "RELU", "RELU6", "TANH", "RELU_N1_TO_1"):
        _check_one(_one(kind, a.shape, [], list(a.shape)), [a * 4])
    _check_one(_one("LEAKY_RELU", a.shape, [], list(a.shape), alpha=0.3), [a])
    _check_one(_one("SOFTMAX", [3, 7], [], [3, 7], beta=0.5), [R(3, 7)])


@pytest.mark.parametrize("kind", ["MAX_POOL_2D", "AVERAGE_POOL_2D"])
@pytest.mark.parametrize("padding", [0, 1])
def test_pools(kind, padding):
    x = R(2, 7, 8, 3)
    oh, ow = (4, 4) if padding == 0 else (3, 3)
    _check_one(_one(kind, x.shape, [], [2, oh, ow, 3], padding=padding, strideW=2, strideH=2, filterWidth=3,
                    filterHeight=3), [x])


def test_shape_ops():
    x = R(2, 4, 6, 8)
    _check_one(_one("RESHAPE", x.shape, [np.array([2, -1, 8], np.int32)], [2, 24, 8]), [x])
    _check_one(_one("MEAN", x.shape, [np.array([1, 2], np.int32)], [2, 1, 1, 8], keepDims=True), [x])
    _check_one(_one("PAD", x.shape, [np.array([[0, 0], [1, 2], [0, 1], [0, 0]], np.int32)], [2, 7, 7, 8]), [x])
    _check_one(_one("DEPTH_TO_SPACE", x.shape, [], [2, 8, 12, 2], blockSize=2), [x])
    y = R(2, 4, 6, 3)
    _check_one(_one("CONCATENATION", [x.shape, y.shape], [], [2, 4, 6, 11], n_inputs=2, axis=3), [x, y])
    for ac, hp in ((False, True), (True, False), (False, False)):
        _check_one(_one("RESIZE_BILINEAR", x.shape, [np.array([9, 11], np.int32)], [2, 9, 11, 8],
                        alignCorners=ac, halfPixelCenters=hp), [x])


def test_transposed_convs():
    x = R(2, 5, 6, 4)
    w, bias = S(3, 3, 3, 4), S(3)              # OHWI: 3 output channels
    data = _one("TRANSPOSE_CONV", [4], [w, None, bias], [2, 10, 12, 3], padding=0, strideW=2, strideH=2)
    b = ModelBuilder()          # TRANSPOSE_CONV's inputs are (output_shape, weights, input, bias)
    xi = b.tensor("x", x.shape)
    b.inputs = [xi]
    y = b.tensor("y", [2, 10, 12, 3])
    b.outputs = [y]
    b.op("TRANSPOSE_CONV", [b.const("shape", np.array([2, 10, 12, 3], np.int32)), b.const("w", w), xi,
                            b.const("b", bias)], [y], padding=0, strideW=2, strideH=2)
    _check_one(b.build(), [x])
    del data
    # MediaPipe's custom op: (input, OHWI weights, bias); options = int32 padding (1 SAME), stride w, stride h
    w2 = S(2, 2, 2, 4)
    opts = np.array([1, 2, 2], "<i4").tobytes()
    data = _one("CUSTOM", x.shape, [w2, S(2)], [2, 10, 12, 2], custom="Convolution2DTransposeBias", custom_options=opts)
    _check_one(data, [x])


def test_float16_weights_behind_dequantize():
    b = ModelBuilder()
    x = b.tensor("x", [2, 5, 5, 3])
    b.inputs = [x]
    w16 = b.const("w16", S(4, 3, 3, 3).astype(np.float16))
    w = b.tensor("w", [4, 3, 3, 3])
    b.op("DEQUANTIZE", [w16], [w])
    y = b.tensor("y", [2, 5, 5, 4])
    b.outputs = [y]
    b.op("CONV_2D", [x, w, b.const("bias", S(4))], [y], padding=0, strideW=1, strideH=1)
    data = b.build()
    got = _check_one(data, [R(2, 5, 5, 3)])
    model = GraphModel(parse_tflite(data, "f16.tflite"), "numpy")
    assert all(v.dtype != np.float16 for v in model.graph.consts.values())
    assert got[0].dtype == np.float32


def _int8_model():
    """QUANTIZE -> int8 CONV_2D (per-channel, RELU6) -> int8 DEPTHWISE (RELU) -> RESHAPE ->
    int8 FULLY_CONNECTED -> outputs: the int8 tensor and its DEQUANTIZE."""
    r = np.random.default_rng(11)
    b = ModelBuilder()
    x = b.tensor("x", [2, 8, 8, 3])
    b.inputs = [x]
    xq = b.tensor("xq", [2, 8, 8, 3], np.int8, scale=0.02, zero_point=3)
    b.op("QUANTIZE", [x], [xq])
    w1 = r.integers(-127, 128, (6, 3, 3, 3)).astype(np.int8)
    s1 = r.uniform(0.002, 0.01, 6).astype(np.float32)
    c1 = b.tensor("c1", [2, 4, 4, 6], np.int8, scale=0.05, zero_point=-128)
    b.op("CONV_2D", [xq, b.const("w1", w1, scale=s1, zero_point=np.zeros(6, np.int64)),
                     b.const("b1", r.integers(-500, 500, 6).astype(np.int32), scale=0.02 * s1, zero_point=np.zeros(6, np.int64))],
         [c1], padding=0, strideW=2, strideH=2, fusedActivationFunction=3)
    w2 = r.integers(-127, 128, (1, 3, 3, 6)).astype(np.int8)
    s2 = r.uniform(0.005, 0.02, 6).astype(np.float32)
    c2 = b.tensor("c2", [2, 4, 4, 6], np.int8, scale=0.04, zero_point=-128)
    b.op("DEPTHWISE_CONV_2D", [c1, b.const("w2", w2, scale=s2, zero_point=np.zeros(6, np.int64), axis=3),
                               b.const("b2", r.integers(-300, 300, 6).astype(np.int32), scale=0.05 * s2,
                                       zero_point=np.zeros(6, np.int64))],
         [c2], padding=0, strideW=1, strideH=1, depthMultiplier=1, fusedActivationFunction=1)
    flat = b.tensor("flat", [2, 96], np.int8, scale=0.04, zero_point=-128)
    b.op("RESHAPE", [c2, b.const("shape", np.array([2, 96], np.int32))], [flat])
    w3 = r.integers(-127, 128, (5, 96)).astype(np.int8)
    fc = b.tensor("fc", [2, 5], np.int8, scale=0.1, zero_point=2)
    b.op("FULLY_CONNECTED", [flat, b.const("w3", w3, scale=0.004, zero_point=0),
                             b.const("b3", r.integers(-1000, 1000, 5).astype(np.int32), scale=0.04 * 0.004, zero_point=0)],
         [fc])
    out = b.tensor("out", [2, 5])
    b.op("DEQUANTIZE", [fc], [out])
    b.outputs = [c1, c2, fc, out]
    return b.build()


def test_int8_model_within_one_step_of_litert():
    """TFLite requantises with a Q31 fixed-point multiplier and shift; webtensor's int8
    kernels multiply by the float32 real multiplier and round half to even.  The integers
    agree within one step; this measures how many are exact."""
    data = _int8_model()
    x = np.random.default_rng(5).uniform(-1.5, 1.5, (2, 8, 8, 3)).astype(np.float32)
    want = run_litert(data, [x])
    model = GraphModel(parse_tflite(data, "int8.tflite"), "numpy")
    ops = {n.op for n in model.graph.nodes}
    assert {"WtQuantize", "WtQConv2D", "WtQDepthwiseConv2D", "WtQMatMul", "WtDequantize"} <= ops
    got = model.predict(x)
    exact = total = 0
    for g, w in zip(got[:3], want[:3]):
        assert g.dtype == np.int8 and g.shape == w.shape
        diff = np.abs(g.astype(np.int32) - w.astype(np.int32))
        assert diff.max() <= 1, diff.max()
        exact += int((diff == 0).sum())
        total += diff.size
    assert exact / total > 0.97, exact / total
    np.testing.assert_allclose(got[3], want[3], atol=0.1 + 1e-6)   # one step of the output's 0.1 scale


def test_unsupported_op_names_op_and_tensor():
    x = R(1, 4)
    data = _one("CUMSUM", x.shape, [np.array([1], np.int32)], [1, 4])
    with pytest.raises(webtensor.UnsupportedOpError, match=r"cumsum.tflite: unsupported TFLite ops: CUMSUM \(tensor 'y'\)"):
        parse_tflite(data, "cumsum.tflite")
    data = _one("CUSTOM", x.shape, [], [1, 4], custom="MyCustomOp")
    with pytest.raises(webtensor.UnsupportedOpError, match=r"MyCustomOp \(tensor 'y'\)"):
        parse_tflite(data, "custom.tflite")


def test_not_a_tflite_file():
    for bad in (b"", b"\x00" * 7, b"{\"format\": \"graph-model\"}", b"\x10\x00\x00\x00TFL3" + b"\xff" * 8):
        with pytest.raises(webtensor.ModelFormatError, match="bad.tflite"):
            parse_tflite(bad, "bad.tflite")
    with pytest.raises(webtensor.ModelFormatError, match="nowhere.tflite"):
        webtensor.read_tflite_model("nowhere.tflite")


@pytest.mark.parametrize("seed", range(3))
def test_mutated_tflite_fails_cleanly(seed):
    """Seeded byte flips, truncations and field-sized overwrites of the short-range face model:
    each ends in a webtensor error or a valid result, never another exception or a hang."""
    base = model_path("face_detection_short_range").read_bytes()
    r = np.random.default_rng(100 + seed)
    x = np.zeros((1, 128, 128, 3), np.float32)
    errors = 0
    head = min(len(base), 4096)          # the tables sit at the start and the end; weights in between
    for i in range(40):
        b = bytearray(base)
        kind = int(r.integers(4))
        if kind == 0:
            b = b[:int(r.integers(len(b)))]
        else:
            for _ in range(int(r.integers(1, 8))):
                pos = int(r.integers(head)) if r.random() < 0.5 else len(b) - 1 - int(r.integers(head))
                if kind == 1:
                    b[pos] ^= 0xFF
                elif kind == 2:
                    b[pos:pos + 4] = int(r.integers(-2 ** 31, 2 ** 31)).to_bytes(4, "little", signed=True)
                else:
                    b[pos:pos + 2] = b"\x00\x00"
        t0 = time.perf_counter()
        try:
            GraphModel(parse_tflite(bytes(b), "fuzz.tflite"), "numpy").predict(x)
        except webtensor.WebtensorError:
            errors += 1
        except Exception as e:   # anything else is a bug: say which case
            pytest.fail(f"seed {seed} case {i} (kind {kind}): {type(e).__name__}: {e}")
        assert time.perf_counter() - t0 < 20, f"case {i} took too long"
    assert errors > 0
