"""webtensor under Pyodide in the page's worker agrees with CPython."""
import json

import numpy as np

import webtensor

from tests.helpers import HUMAN_MODELS

BLAZEFACE_IN_PYODIDE = """
import json, sys, numpy as np, webtensor
model = await webtensor.load_graph_model('models/blazeface.json')
x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
outs = model.execute(x, ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0'])
json.dumps({"platform": sys.platform, "version": sys.version.split()[0], "numpy": np.__version__,
            "outs": [o.tolist() for o in outs]})
"""


def test_blazeface_outputs_match_cpython(app):
    page, _, _ = app
    res = json.loads(page.evaluate("(code) => window.webtensorApp.python(code)", BLAZEFACE_IN_PYODIDE))
    assert res["platform"] == "emscripten" and res["version"].startswith("3.12") and res["numpy"] == "2.0.2"
    model = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    want = model.execute(x, ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"])
    for got, ref in zip(res["outs"], want):
        np.testing.assert_allclose(np.array(got, np.float32), ref, rtol=1e-4, atol=1e-4)


def test_errors_in_the_browser_are_webtensor_errors(app):
    page, _, _ = app
    code = """
import json, numpy as np, webtensor
found = {}
for url in ['models/nothere.json', 'models/blazeface.bin']:
    try:
        await webtensor.load_graph_model(url)
    except webtensor.WebtensorError as e:
        found[url] = [type(e).__name__, str(e)]
model = await webtensor.load_graph_model('models/blazeface.json')
try:
    model.predict(np.zeros((1, 128, 128, 3), np.float32))
except webtensor.WebtensorError as e:
    found['shape'] = [type(e).__name__, str(e)]
json.dumps(found)
"""
    found = json.loads(page.evaluate("(code) => window.webtensorApp.python(code)", code))
    assert found["models/nothere.json"][0] == "ModelFormatError" and "nothere.json" in found["models/nothere.json"][1]
    assert "HTTP 404" in found["models/nothere.json"][1]
    assert found["models/blazeface.bin"][0] == "ModelFormatError"       # binary is not JSON
    assert found["shape"][0] == "InputError" and "[1, 256, 256, 3]" in found["shape"][1]


def test_undecodable_image_in_the_page(app):
    page, _, _ = app
    res = page.evaluate("() => window.webtensorApp.detectBase64(btoa('not an image at all'), 'holiday.jpg')")
    assert res["ok"] is False
    assert res["error"]["type"] == "ImageDecodeError" and "holiday.jpg" in res["error"]["message"]
