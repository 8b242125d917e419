"""The wasm backends in headless Chromium: conformance, whole models, threads, memory."""
import json

import numpy as np
import pytest

from tests.helpers import GRAPH_MODELS

WASM = ["wasm", "wasm-simd", "wasm-simd-threads"]


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


@pytest.mark.parametrize("backend", WASM)
def test_conformance_suite(app, backend):
    page, _, _ = app
    results = py(page, f"import json, webtensor.conformance as c; json.dumps(c.run({backend!r}))")
    assert len(results) > 100
    failed = [r for r in results if not r["ok"]]
    assert not failed, json.dumps(failed, indent=1)
    # the only numpy fallback is the case that is about fallbacks
    assert {r["case"].removesuffix(" [batch 3]") for r in results if r["fallbacks"]} == {"fallback inside a plan: conv -> ArgMax -> Cast -> Mul"}


MODELS_CODE = """
import json, numpy as np, webtensor
out = {}
for name in %s:
    model = await webtensor.load_graph_model(f'models/{name}.json')
    rng = np.random.default_rng(1234)
    feeds = {}
    for info in model.inputs:
        shape = [1 if d < 0 else d for d in info.shape]
        feeds[info.name] = (rng.uniform(-1, 1, shape).astype(np.float32) if info.dtype.kind == 'f'
                            else rng.integers(0, 256, shape).astype(info.dtype))
    names = [o.name for o in model.outputs]
    model.backend_name = 'numpy'
    ref = model.execute(feeds, names)
    res = {'names': names}
    for be in ['wasm', 'wasm-simd', 'wasm-simd-threads']:
        model.backend_name = be
        got = model.execute(feeds, names)
        # element-wise check |got - want| <= 1e-3 + 1e-3 |want| (numpy's allclose rule)
        res[be] = {n: [float(np.max(np.abs(g - w) - 1e-3 * np.abs(w))) if w.size else -1.0, list(g.shape) == list(w.shape)]
                   for n, g, w in zip(names, got, ref)}
        res[be + ':fallbacks'] = model.report()['fallbacks']
        if name == 'centernet':
            res[be + ':detections'] = got[names.index('tower_0/detections')].tolist()
    if name == 'centernet':
        res['numpy:detections'] = ref[names.index('tower_0/detections')].tolist()
    out[name] = res
json.dumps(out)
"""


def assert_rows_match(got, want, score_col, tol, top=20):
    """Detections after a TopK on random input: the tail of the 100 holds near-ties with
    candidates just outside it, which 1e-7 float differences reorder, so compare the top
    rows; a row within 1e-5 of another row's score may swap with it (matched as a set)."""
    got, want = np.asarray(got).reshape(-1, want.shape[-1]), want.reshape(-1, want.shape[-1])
    scores = want[:, score_col]
    for i, row in enumerate(want[:top]):
        others = np.delete(scores, i)
        if np.min(np.abs(others - scores[i])) > 1e-5:
            np.testing.assert_allclose(got[i], row, rtol=tol, atol=tol)
        else:
            assert np.any(np.all(np.abs(got - row) <= tol * (1 + np.abs(row)), axis=1)), f"row {i} missing"


@pytest.mark.parametrize("names", [GRAPH_MODELS[:5], GRAPH_MODELS[5:]], ids=["models-1", "models-2"])
def test_models_match_numpy_on_every_wasm_backend(app, names):
    page, _, _ = app
    res = py(page, MODELS_CODE % json.dumps(list(names)))
    for name, r in res.items():
        for be in WASM:
            for out_name in r["names"]:
                excess, same_shape = r[be][out_name]
                assert same_shape, f"{name}:{out_name} on {be}: shape differs"
                if name == "centernet" and out_name == "tower_0/detections":
                    assert_rows_match(r[be + ":detections"], np.asarray(r["numpy:detections"], np.float32),
                                      score_col=4, tol=1e-3)
                else:
                    assert excess <= 1e-3, f"{name}:{out_name} on {be}: off by {excess} beyond rtol 1e-3"
            # nothing that computes floats falls back to numpy, except the selection of
            # CenterNet's top 100 (TopKV2) and the gathers that read its results
            float_fallbacks = [f for f in r[be + ":fallbacks"] if f.endswith("float32")
                               and f.split(" ")[0] not in ("TopKV2", "GatherV2", "GatherNd")]
            assert not float_fallbacks, (name, be, float_fallbacks)


def test_blazeface_detections_identical_across_backends(app):
    page, _, _ = app
    code = """
import json, webtensor
from webtensor.vision import BlazeFace, decode_image
from pyodide.http import pyfetch
img = await decode_image(await (await pyfetch('samples/astronaut.png')).bytes(), 'astronaut.png')
det = await BlazeFace.load('models/blazeface.json')
out = {}
for be in ['numpy', 'wasm', 'wasm-simd', 'wasm-simd-threads']:
    det.model.backend_name = be
    out[be] = det.detect(img)
json.dumps(out)
"""
    res = py(page, code)
    ref = res["numpy"]
    assert len(ref) == 1
    for be in WASM:
        assert len(res[be]) == len(ref), be
        for f, r in zip(res[be], ref):
            np.testing.assert_allclose(f["box"], r["box"], atol=0.11)
            np.testing.assert_allclose(f["keypoints"], r["keypoints"], atol=0.11)
            assert abs(f["score"] - r["score"]) < 1e-3


def test_threads_give_identical_results_and_memory_is_flat(app):
    page, _, _ = app
    code = """
import json, js, numpy as np, webtensor
rt = webtensor.native.start('wasm-simd-threads')
model = await webtensor.load_graph_model('models/blazeface.json', backend='wasm-simd-threads')
x = np.random.default_rng(5).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
outs = {}
for n in (1, 2, 3):
    await rt.setThreads(n)
    outs[n] = [o.copy() for o in model.predict(x)]
same = all(np.array_equal(a, b) for n in (2, 3) for a, b in zip(outs[1], outs[n]))
await rt.setThreads(2)
model.predict(x)
before = rt.stats().memoryBytes, rt.stats().usedBytes
for _ in range(200):
    model.predict(x)
after = rt.stats().memoryBytes, rt.stats().usedBytes
probe = {n: None for n in (2, 3)}
for n in (2, 3):
    await rt.setThreads(n)
    probe[n] = await rt.stackProbe(False)
control = await rt.stackProbe(True)
await rt.setThreads(2)
json.dumps({"same": same, "before": before, "after": after, "probe": probe, "control": control,
            "threads": rt.stats().threads})
"""
    r = py(page, code)
    assert r["same"], "1, 2 and 3 threads disagree"
    assert r["before"] == r["after"], "wasm memory grew over 200 predictions"
    assert r["probe"] == {"2": 0, "3": 0}, "per-thread stacks collided"
    assert r["control"] > 0, "the stack probe cannot detect a shared stack (negative control)"
    assert r["threads"] == 2


def test_without_isolation_threads_fall_back_to_simd(browser, built):
    from tools.session import open_app, served
    with served(built, isolated=False) as base:
        page, console = open_app(browser, base)
        try:
            r = py(page, """
import json, webtensor
b = webtensor.backends()
chosen = webtensor.set_backend('wasm-simd-threads')
json.dumps({"threads": b['wasm-simd-threads'], "simd": b['wasm-simd'], "chosen": chosen})
""")
        finally:
            page.close()
    assert r["threads"]["available"] is False and "cross-origin isolated" in r["threads"]["reason"]
    assert r["simd"]["available"] is True
    assert r["chosen"] == "wasm-simd"
