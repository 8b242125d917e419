"""The layers-model loader on nsfwjs's MobileNetV2 agrees with TF.js's loadLayersModel."""
import base64
import json

import numpy as np

import webtensor

from .conftest import DIST


def test_mobilenetv2_matches_tfjs_load_layers_model(browser, base_url):
    x = np.random.default_rng(11).uniform(0, 1, (1, 224, 224, 3)).astype(np.float32)
    model = webtensor.read_layers_model(DIST / "models" / "mobilenet_v2" / "model.json")
    ours = model.predict(x)                        # numpy backend, CPython
    assert ours.shape == (1, 5) and abs(float(ours.sum()) - 1) < 1e-5
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/bench/tfjs.html?backend=cpu")
        page.evaluate("(a) => window.bench.setup(a)", {
            "modelUrl": f"{base_url}/models/mobilenet_v2/model.json", "inputB64": base64.b64encode(x.tobytes()).decode(),
            "shape": [1, 224, 224, 3], "dtype": "float32", "outputs": [], "kind": "layers"})
        theirs = np.asarray(page.evaluate("() => window.bench.outputs()")[0], np.float32).reshape(1, 5)
    finally:
        page.close()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_mobilenetv2_in_pyodide_on_wasm_matches_numpy(app):
    page, _, _ = app
    res = json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", """
import json, numpy as np, webtensor
m = await webtensor.load_layers_model('models/mobilenet_v2/model.json')
x = np.random.default_rng(11).uniform(0, 1, (1, 224, 224, 3)).astype(np.float32)
out = {}
for be in ['numpy', 'wasm', 'wasm-simd', 'wasm-simd-threads']:
    m.backend_name = be
    out[be] = m.predict(x).tolist()
    out[be + ':fallbacks'] = m.report()['fallbacks']
json.dumps(out)
"""))
    for be in ("wasm", "wasm-simd", "wasm-simd-threads"):
        np.testing.assert_allclose(res[be], res["numpy"], rtol=1e-4, atol=1e-4, err_msg=be)
        assert res[be + ":fallbacks"] == []
