"""MediaPipe's .tflite models in headless Chromium on every backend, against LiteRT's outputs
(computed here in CPython by ai-edge-litert on the same inputs and served to the page)."""
import json

import numpy as np
import pytest

from e2e.conftest import ARTIFACTS
from tests.test_tflite import MODELS, model_path, photo_input
from tests.tflite_writer import run_litert

# every model on the wasm backends; on the GPU backends (SwiftShader here: the CPU emulating a
# GPU) the models that between them use every op kind of the others (PAD, MAX_POOL, CONCAT;
# DENSIFY, DEPTH_TO_SPACE, RESIZE; MEAN, FULLY_CONNECTED, LOGISTIC; PRELU; HARD_SWISH, MUL,
# AVERAGE_POOL, the custom transposed conv; pose's five outputs)
GPU_MODELS = ["face_detection_short_range", "face_detection_full_range_sparse", "hand_landmark_lite",
              "palm_detection_lite", "selfie_segmentation", "pose_landmark_lite"]
GROUPS = [(["wasm", "wasm-simd", "wasm-simd-threads"], sorted(MODELS)), (["webgl"], GPU_MODELS),
          (["webgpu"], GPU_MODELS)]

CODE = """
import io, json, numpy as np, webtensor
from pyodide.http import pyfetch
async def npy(url):
    return np.load(io.BytesIO(await (await pyfetch(url)).bytes()))
model = await webtensor.load_tflite_model('models/mediapipe/%(name)s.tflite')
x = await npy('_test/%(name)s.in.npy')
want = [await npy(f'_test/%(name)s.out{k}.npy') for k in range(len(model.outputs))]
res = {'outputs': [o.name for o in model.outputs]}
for be in %(backends)r:
    model.backend_name = be
    got = await model.predict_async(x)
    got = got if isinstance(got, list) else [got]
    # max |got - want| / (1 + max|want|): 1e-3 of each tensor's scale (tests/test_tflite.py: close)
    res[be] = [[float(np.max(np.abs(g.astype(np.float64) - w)) / (1 + float(np.max(np.abs(w))))),
                list(g.shape) == list(w.shape)] for g, w in zip(got, want)]
    rep = model.report()
    res[be + ':fallbacks'] = rep['fallbacks']
    res[be + ':backend'] = rep['backend']
model.dispose()
json.dumps(res)
"""


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


@pytest.mark.parametrize("backends,models", GROUPS, ids=[g[0][0] for g in GROUPS])
def test_mediapipe_models_match_litert_in_the_browser(app, scratch, backends, models):
    page, _, _ = app
    failures, table = [], {}
    for name in models:
        path = model_path(name)
        from webtensor.graph.tflite import parse_tflite
        shape = [1 if d < 0 else d for d in parse_tflite(path.read_bytes(), name).inputs[0].shape]
        x = photo_input(name, shape)
        np.save(scratch / f"{name}.in.npy", x)
        for k, w in enumerate(run_litert(path.read_bytes(), [x])):
            np.save(scratch / f"{name}.out{k}.npy", w)
        r = py(page, CODE % {"name": name, "backends": backends})
        table[name] = {be: dict(zip(r["outputs"], (e for e, _ in r[be]))) for be in backends}
        for be in backends:
            assert r[be + ":backend"] == be, f"{name}: asked for {be}, ran on {r[be + ':backend']}"
            for out, (err, shape_ok) in zip(r["outputs"], r[be]):
                if not shape_ok or err > 1e-3:
                    failures.append(f"{name} {out} on {be}: error {err:.3g} of scale (shape ok: {shape_ok})")
            # the only numpy step any of these models has: selfie segmentation's transposed conv
            allowed = {"Conv2DBackpropInput"} if name.startswith("selfie") else set()
            ops = {f.split(" ")[0] for f in r[be + ":fallbacks"]}
            assert ops <= allowed, f"{name} on {be}: numpy fallbacks {r[be + ':fallbacks']}"
    ARTIFACTS.mkdir(exist_ok=True)      # the measured errors, for the record
    (ARTIFACTS / f"tflite_parity_{backends[0]}.json").write_text(json.dumps(table, indent=1))
    assert not failures, "\n".join(failures)


INT8_CODE = """
import io, json, numpy as np, webtensor
from pyodide.http import pyfetch
async def get(url):
    return await (await pyfetch(url)).bytes()
model = await webtensor.load_tflite_model('_test/int8.tflite')
x = np.load(io.BytesIO(await get('_test/int8.in.npy')))
want = [np.load(io.BytesIO(await get(f'_test/int8.out{k}.npy'))) for k in range(3)]
res = {}
for be in ('numpy', 'wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl', 'webgpu'):
    model.backend_name = be
    got = await model.predict_async(x)
    diffs = [np.abs(g.astype(np.int32) - w.astype(np.int32)) for g, w in zip(got[:3], want)]
    res[be] = {'max_step': int(max(d.max() for d in diffs)), 'exact': float(np.mean(np.concatenate([(d == 0).ravel() for d in diffs]))),
               'dtypes': [str(g.dtype) for g in got[:3]], 'fallbacks': model.report()['fallbacks']}
json.dumps(res)
"""


def test_int8_tflite_model_on_every_backend(app, scratch):
    """A fully int8 .tflite (QUANTIZE, per-channel int8 conv + depthwise, int8 fully-connected,
    DEQUANTIZE) on every backend: its integers within one step of LiteRT's (bit-exact where
    no product lands on a rounding tie), the convs on webtensor's int8 kernels (wasm)."""
    from tests.test_tflite import _int8_model
    page, _, _ = app
    data = _int8_model()
    (scratch / "int8.tflite").write_bytes(data)
    x = np.random.default_rng(5).uniform(-1.5, 1.5, (2, 8, 8, 3)).astype(np.float32)
    np.save(scratch / "int8.in.npy", x)
    for k, w in enumerate(run_litert(data, [x])[:3]):
        np.save(scratch / f"int8.out{k}.npy", w)
    r = py(page, INT8_CODE)
    for be, row in r.items():
        assert row["max_step"] <= 1 and row["exact"] > 0.97, (be, row)
        assert row["dtypes"] == ["int8"] * 3, (be, row)
    for be in ("wasm", "wasm-simd", "wasm-simd-threads"):
        assert r[be]["fallbacks"] == [], (be, r[be]["fallbacks"])
