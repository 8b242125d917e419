"""The WebGPU backend in headless Chromium on SwiftShader's adapter: detections, memory
over many predictions, the asynchronous API, device loss, and the fallback when the
browser has no WebGPU (the conformance suite and the models run in test_backends.py)."""

import numpy as np
import pytest

from .test_backends import py


def test_blazeface_detections_equal_numpy(app):
    page, _, _ = app
    res = py(page, """
import json, webtensor
from webtensor.vision import BlazeFace, decode_image
from pyodide.http import pyfetch
img = await decode_image(await (await pyfetch('samples/astronaut.png')).bytes(), 'astronaut.png')
det = await BlazeFace.load('models/blazeface.json')
det.model.backend_name = 'numpy'
ref = det.detect(img)
det.model.backend_name = 'webgpu'
got = await det.detect_async(img)
json.dumps({'ref': ref, 'got': got, 'report': det.model.report()['plans'][0]})
""")
    assert len(res["ref"]) == 1 and len(res["got"]) == 1
    f, r = res["got"][0], res["ref"][0]
    np.testing.assert_allclose(f["box"], r["box"], atol=0.11)
    np.testing.assert_allclose(f["keypoints"], r["keypoints"], atol=0.11)
    assert abs(f["score"] - r["score"]) < 1e-3
    rep = res["report"]
    assert rep["fallbacks"] == [] and rep["interop_calls_per_inference"] == 1
    assert rep["pipelines"] < 12                       # shapes in parameters: layers share pipelines


def test_sync_predict_names_predict_async_and_200_predictions_keep_memory_flat(app):
    """200 predictions (a small conv model: SwiftShader runs WebGPU on the CPU, BlazeFace
    takes seconds there) leave the device's buffers as they were after the first."""
    page, _, _ = app
    res = py(page, """
import json, numpy as np, webtensor, webtensor.conformance as c
await webtensor.set_backend_async('webgpu')
case = next(x for x in c.cases() if x.name.startswith('conv2d 7x7x3->8'))
model = case.model()
model.backend_name = 'webgpu'
feeds = dict(case.inputs)
try:
    model.execute(feeds)
    sync_error = None
except webtensor.BackendError as e:
    sync_error = str(e)
first = await model.execute_async(feeds)
stats = lambda: webtensor.get_backend('webgpu').memory_stats()
before = stats()
for _ in range(200):
    out = await model.execute_async(feeds)
after = stats()
json.dumps({'sync_error': sync_error, 'before': before, 'after': after, 'same': bool(np.array_equal(first, out))})
""")
    assert "predict_async" in res["sync_error"]
    assert res["same"]
    assert res["after"]["buffer_bytes"] == res["before"]["buffer_bytes"]
    assert res["after"]["buffers"] == res["before"]["buffers"]


def test_device_loss_is_a_clear_error_and_the_next_predict_rebuilds(app):
    page, _, _ = app
    res = py(page, """
import json, asyncio, numpy as np, webtensor
model = await webtensor.load_graph_model('models/blazeface.json')
model.backend_name = 'webgpu'
x = np.random.default_rng(1).uniform(0, 1, (1, 256, 256, 3)).astype(np.float32)
want = await model.predict_async(x)
webtensor.native.runtime('webgpu').destroyDevice()
await asyncio.sleep(0.05)                      # device.lost resolves
err = None
try:
    await model.predict_async(x)               # rebuilds on a new device
except webtensor.WebtensorError as e:
    err = str(e)
again = await model.predict_async(x)
json.dumps({'err': err, 'same': all(np.allclose(a, b, atol=1e-5) for a, b in zip(want, again)),
            'generation': int(webtensor.native.runtime('webgpu').generation)})
""")
    assert res["err"] is None, res["err"]
    assert res["same"] and res["generation"] >= 1


def test_a_lost_device_mid_run_is_a_clear_error(app):
    """A run that meets a lost device fails with an error that says so (not a hang, not
    a wrong answer), and the next predict works on a new device."""
    page, _, _ = app
    res = py(page, """
import json, numpy as np, webtensor
model = await webtensor.load_graph_model('models/blazeface.json')
model.backend_name = 'webgpu'
x = np.zeros((1, 256, 256, 3), np.float32)
await model.predict_async(x)
rt = webtensor.native.runtime('webgpu')
cp = next(iter(model._plans.values())).lowered['webgpu']
pending = cp.run_async({model.inputs[0].key: x})
rt.destroyDevice()
err = None
try:
    await pending
except webtensor.WebtensorError as e:
    err = f"{type(e).__name__}: {e}"
ok = len(await model.predict_async(x)) == 4
json.dumps({'err': err, 'ok': ok})
""")
    assert res["ok"]
    assert res["err"] and "lost" in res["err"] and "webgpu" in res["err"], res["err"]


@pytest.fixture(scope="module")
def no_webgpu_page(playwright, base_url):
    """The page in a Chromium started without the WebGPU flags."""
    from tools.browser import launch
    from tools.session import open_app
    b = launch(playwright, webgpu=False)
    page, _ = open_app(b, base_url)
    yield page
    b.close()


def test_unavailable_webgpu_falls_back_with_the_reason(no_webgpu_page):
    res = py(no_webgpu_page, """
import json, io, contextlib, webtensor
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    chosen = await webtensor.set_backend_async('webgpu')
json.dumps({'chosen': chosen, 'said': buf.getvalue(), 'info': webtensor.backends()['webgpu']})
""")
    assert res["chosen"] == "webgl"
    assert "'webgpu' is unavailable" in res["said"] and "falling back to 'webgl'" in res["said"]
    assert res["info"]["available"] is False and res["info"]["reason"]


def test_mobilenet_v2_equals_numpy(app):
    page, _, _ = app
    res = py(page, """
import json, numpy as np, webtensor
model = await webtensor.load_layers_model('models/mobilenet_v2/model.json')
x = np.random.default_rng(3).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
model.backend_name = 'numpy'
want = model.predict(x)
model.backend_name = 'webgpu'
got = await model.predict_async(x)
json.dumps({'excess': float(np.max(np.abs(got - want) - 1e-3 * np.abs(want))), 'same_shape': got.shape == want.shape,
            'argmax': [int(np.argmax(got)), int(np.argmax(want))], 'fallbacks': model.report()['fallbacks']})
""")
    assert res["excess"] <= 1e-3 and res["same_shape"]
    assert res["argmax"][0] == res["argmax"][1] and res["fallbacks"] == []


def test_the_page_detects_on_webgpu(browser, base_url):
    """The live page on ?backend=webgpu (the switcher's choice): the sample photo's face,
    the switcher showing webgpu, the memory panel reading the device's buffers."""
    from tools.session import open_app
    page, _ = open_app(browser, base_url, query="camera=0&backend=webgpu")
    try:
        assert page.evaluate("document.getElementById('backend').value") == "webgpu"
        page.click("#sample")
        page.wait_for_function("document.getElementById('faces').textContent === '1'", timeout=120_000)
        res = page.evaluate("window.webtensorApp.lastResult")
        assert res["backend"] == "webgpu"
        x0, y0, x1, y1 = res["faces"][0]["box"]
        assert 150 < x0 < 200 and 50 < y0 < 100
        assert page.is_hidden("#error")
    finally:
        page.close()


def test_conformance_with_the_tiled_gemm(app):
    """The workgroup-tiled GEMM (gemm.wgsl: the default on a GPU, off on SwiftShader's
    CPU adapter, where it measured slower) passes every conv and MatMul case too."""
    page, _, _ = app
    res = py(page, """
import json, webtensor, webtensor.conformance as c
gpu = await webtensor.get_backend_async('webgpu')
gpu.gemm = True
try:
    names = [x.name for x in c.cases() if any(n.op in ('Conv2D', '_FusedConv2D', 'MatMul', '_FusedMatMul')
                                              for n in x.nodes)]
    rs = await c.run_async('webgpu', names)
    tiled = 0
    for x in c.cases():
        if x.name.startswith('tiles: conv2d 9x7x13'):
            m = x.model(); m.backend_name = 'webgpu'
            await m.execute_async(dict(x.inputs), list(x.outputs))
            tiled = m.report()['plans'][0]['tiled_gemm_calls']
finally:
    gpu.gemm = None
json.dumps({'n': len(rs), 'failed': [r for r in rs if not r['ok']], 'tiled': tiled})
""")
    assert res["n"] > 40 and not res["failed"], res["failed"]
    assert res["tiled"] == 1
