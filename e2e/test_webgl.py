"""The WebGL2 backend in headless Chromium (SwiftShader): detections, memory, context loss, fallback
(the conformance suite and the models run for every backend in test_backends.py)."""
import numpy as np

from .test_backends import py


def test_blazeface_detections_and_flat_gpu_memory(app):
    page, _, _ = app
    r = py(page, """
import json, js, numpy as np, webtensor
from webtensor.vision import BlazeFace, decode_image
from pyodide.http import pyfetch
img = await decode_image(await (await pyfetch('samples/astronaut.png')).bytes(), 'astronaut.png')
det = await BlazeFace.load('models/blazeface.json')
det.model.backend_name = 'numpy'
ref = det.detect(img)
det.model.backend_name = 'webgl'
got = det.detect(img)
st = webtensor.native.start('webgl').stats()
before = (st.textures, st.textureBytes)
for _ in range(30):          # a per-inference leak shows within a few (SwiftShader: 0.6 s each)
    det.detect(img)
st = webtensor.native.start('webgl').stats()
json.dumps({"ref": ref, "got": got, "before": before, "after": (st.textures, st.textureBytes),
            "programs": st.programs})
""")
    assert len(r["got"]) == len(r["ref"]) == 1
    np.testing.assert_allclose(r["got"][0]["box"], r["ref"][0]["box"], atol=0.25)
    np.testing.assert_allclose(r["got"][0]["keypoints"], r["ref"][0]["keypoints"], atol=0.25)
    assert r["before"] == r["after"], "textures or GPU bytes grew over 30 predictions"


def test_conformance_with_one_row_per_filter_fetch(app):
    """test_backends runs the suite with every WebGL conv sharing filter fetches between 4
    rows (ROWS 4, the large layers' program); this runs it with ROWS 1 (the smaller program
    that layers below engine().webgl_shared_rows_above get)."""
    page, _, _ = app
    r = py(page, """
import json, webtensor.conformance as c
json.dumps({'results': await c.run_async('webgl', webgl_shared_rows=False)})
""")
    results = r["results"]
    assert len(results) > 100
    failed = [x for x in results if not x["ok"]]
    assert not failed, failed


def test_a_shader_that_does_not_compile_names_its_error(app):
    """Compiles are not waited for one by one (a status query would serialise them); a
    shader's compile error still surfaces, with the compiler's log, when its program is
    first used."""
    page, _, _ = app
    r = py(page, """
import json, webtensor
rt = webtensor.native.start('webgl')
p = rt.program('#version 300 es\\nprecision highp float;\\nout vec4 o;\\nvoid main() { o = vec4(undefined_name); }')
try:
    rt.linked(p)
    err = None
except Exception as e:
    err = str(e)
json.dumps({"err": err})
""")
    assert r["err"] and "shader compile failed" in r["err"] and "undefined_name" in r["err"], r


def test_context_loss_then_restore(app):
    page, _, _ = app
    r = py(page, """
import json, asyncio, js, numpy as np, webtensor
m = await webtensor.load_graph_model('models/emotion.json', backend='webgl')
x = np.random.default_rng(3).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)
ref = m.predict(x)
rt = webtensor.native.start('webgl')
rt.loseContext()
await asyncio.sleep(0.05)
try:
    m.predict(x)
    lost_error = None
except webtensor.WebtensorError as e:
    lost_error = [type(e).__name__, str(e)]
rt.restoreContext()
for _ in range(100):
    await asyncio.sleep(0.02)
    if not rt.lost:
        break
again = m.predict(x)
json.dumps({"lost_error": lost_error, "same": bool(np.allclose(ref, again, atol=1e-6)), "generation": rt.generation})
""")
    assert r["lost_error"][0] == "BackendError" and "context is lost" in r["lost_error"][1]
    assert r["same"] and r["generation"] >= 1


def test_webgl_unavailable_falls_back(playwright, base_url):
    from tools.browser import launch
    from tools.session import open_app
    # --disable-webgl does not reach OffscreenCanvas in workers; --use-gl=disabled removes GL
    browser = launch(playwright, ["--use-gl=disabled"])
    try:
        page, _ = open_app(browser, base_url)
        r = py(page, """
import json, webtensor
before = webtensor.backends()['webgl']
chosen = webtensor.set_backend('webgl')
json.dumps({"before": before, "webgl": webtensor.backends()['webgl'], "chosen": chosen})
""")
    finally:
        browser.close()
    # WebGL starts on first use: the failed start is the fallback's reason, and from then on
    # backends() reports it
    assert r["before"]["started"] is False
    assert r["webgl"]["available"] is False and "WebGL2" in r["webgl"]["reason"], r["webgl"]
    assert r["chosen"] == "wasm-simd-threads"
