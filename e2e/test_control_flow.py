"""Control flow in the browser (issue 15): the hand-built loop / cond / TensorList / TF2
models on every backend against their definitions; human's handtrack on every backend against
TensorFlow.js's WebGL outputs (TF.js's wasm backend gets its boxes wrong: tfjs#2590, its
float->bool cast truncates); the hand detector from the page's detector choice (the CLI:
test_detect_cli.py)."""
import base64
import json

import numpy as np
import pytest

import webtensor

from tests import control_models
from tests.helpers import ROOT

from .conftest import DIST

BACKENDS = ["numpy", "wasm", "wasm-simd", "wasm-simd-threads", "webgl", "webgpu"]
# the signature's order (the program the model built at load serves it)
HANDTRACK_OUTPUTS = ["Identity_2:0", "Identity_4:0", "Identity_6:0", "Identity_1:0", "Identity_3:0", "Identity_5:0",
                     "Identity:0", "Identity_7:0"]


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


def b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


MODELS_CODE = """
import base64, json, numpy as np, webtensor
cases = json.loads(%(cases)r)
res = {}
for name, runs in cases.items():
    model = await webtensor.load_graph_model(f'_test/{name}.json')
    for be in %(backends)r:
        model.backend_name = be
        outs = []
        for feeds, outputs in runs:
            x = {k: np.frombuffer(base64.b64decode(v), dtype).reshape(shape) for k, (v, dtype, shape) in feeds.items()}
            got = await model.execute_async(x, outputs)
            outs.append([[base64.b64encode(np.ascontiguousarray(g).tobytes()).decode(), str(np.asarray(g).dtype),
                          list(np.shape(g))] for g in got])
        res[f'{name}/{be}'] = outs
        res[f'{name}/{be}:native'] = sum(g['native'] for g in model.report()['control_flow']['groups'])
    model.dispose()
json.dumps(res)
"""


def test_hand_built_control_flow_on_every_backend(app, scratch):
    page, _, _ = app
    cases, wants = {}, {}
    for name in control_models.MODELS:
        control_models.write(name, scratch)
        *_, outputs, want = control_models.MODELS[name]()
        runs = []
        for feeds in control_models.CASES[name]:
            arrs = {k: np.asarray(v) for k, v in feeds.items()}
            runs.append([{k: [b64(v), v.dtype.name, list(v.shape)] for k, v in arrs.items()}, outputs])
            wants.setdefault(name, []).append(want(**feeds))
        cases[name] = runs
    r = py(page, MODELS_CODE % {"cases": json.dumps(cases), "backends": BACKENDS})
    failures = []
    for name in control_models.MODELS:
        for be in BACKENDS:
            for case, (got, want) in enumerate(zip(r[f"{name}/{be}"], wants[name])):
                for (data, dtype, shape), w in zip(got, want):
                    g = np.frombuffer(base64.b64decode(data), dtype).reshape(shape)
                    w = np.asarray(w)
                    if g.shape != w.shape or g.dtype != w.dtype or not np.allclose(g, w, rtol=1e-4, atol=1e-4):
                        failures.append(f"{name} case {case} on {be}: got {g.dtype}{list(g.shape)} "
                                        f"{g.ravel()[:4]}, want {w.dtype}{list(w.shape)} {w.ravel()[:4]}")
        # the conv loop's body runs as a plan on every backend (not node by node on numpy)
    assert all(r[f"conv_loop/{be}:native"] >= 1 for be in BACKENDS)
    assert not failures, "\n".join(failures)


HANDTRACK_CODE = """
import base64, json, numpy as np, webtensor
x = np.frombuffer(base64.b64decode(%(x)r), np.uint8).reshape(%(shape)r)
model = await webtensor.load_graph_model('models/handtrack.json')
out = {}
for be in %(backends)r:
    model.backend_name = be
    got = await model.execute_async(x, %(keys)r)
    out[be] = [base64.b64encode(np.ascontiguousarray(g, np.float32).tobytes()).decode() for g in got]
    report = model.report()
    out[be + ':groups'] = [g['native'] for g in report['control_flow']['groups']]
    out[be + ':fallbacks'] = report['fallbacks']
model.dispose()
json.dumps(out)
"""


def tfjs_webgl_outputs(browser, base_url, x, keys) -> list[np.ndarray]:
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/bench/tfjs.html?backend=webgl")
        page.evaluate("(a) => window.bench.setup(a)", {
            "modelUrl": f"{base_url}/models/handtrack.json", "inputB64": b64(x.astype(np.int32)),
            "shape": list(x.shape), "dtype": "int32", "outputs": keys, "kind": "graph", "dynamic": True})
        return [np.frombuffer(base64.b64decode(o), np.float32) for o in page.evaluate("() => window.bench.outputsB64()")]
    finally:
        page.close()


def test_handtrack_on_every_backend_equals_tfjs_webgl(app, browser, base_url):
    """The whole model (preprocessing while-loop, backbone, 7 NonMaxSuppressionV5, Where,
    gathers, padding to 100) on a photo with a hand: every output within 1e-3 of TF.js WebGL,
    the selected boxes and classes the same."""
    from webtensor.vision import HandDetector
    from PIL import Image
    page, _, _ = app
    photo = np.asarray(Image.open(ROOT / ".cache" / "samples" / "hand.png").convert("RGB"))
    x = HandDetector(webtensor.read_graph_model(DIST / "models" / "handtrack.json")).prepare(photo)
    want = tfjs_webgl_outputs(browser, base_url, x, HANDTRACK_OUTPUTS)
    r = py(page, HANDTRACK_CODE % {"x": b64(x), "shape": list(x.shape), "backends": BACKENDS, "keys": HANDTRACK_OUTPUTS})
    failures = []
    for be in BACKENDS:
        for key, data, w in zip(HANDTRACK_OUTPUTS, r[be], want):
            g = np.frombuffer(base64.b64decode(data), np.float32)
            if g.shape != w.shape:
                failures.append(f"{key} on {be}: {g.size} values, TF.js {w.size}")
            elif not np.allclose(g, w, rtol=1e-3, atol=1e-3):
                failures.append(f"{key} on {be}: max error {np.abs(g - w).max():.3g}")
        assert r[be + ":groups"].count(True) == 2, (be, r[be + ":groups"])      # backbone + loop body natively
        assert "NonMaxSuppressionV5" in r[be + ":fallbacks"]
    assert not failures, "\n".join(failures)
    scores = want[HANDTRACK_OUTPUTS.index("Identity_4:0")]
    assert scores[0] > 0.85                       # the pointing hand, found by both


def test_handtrack_from_the_page_detector_choice(browser, base_url):
    from tools.session import open_app
    page, console = open_app(browser, base_url, "camera=0&backend=wasm-simd&model=models/handtrack.json")
    try:
        assert page.input_value("#detector") == "models/handtrack.json"
        page.click("#sample")
        page.wait_for_function("window.webtensorApp.lastResult && window.webtensorApp.lastResult.kind === 'hands'",
                               timeout=120_000)
        result = page.evaluate("window.webtensorApp.lastResult")
        assert len(result["faces"]) == 1 and result["faces"][0]["label"] == "point", result["faces"]
        assert result["faces"][0]["score"] > 0.85
    finally:
        page.close()

