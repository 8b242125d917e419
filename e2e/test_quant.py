"""int8 models in headless Chromium: quantised under Pyodide, run by the wasm int8 kernels
with the exact integers of the numpy reference, detections close to float, saved to and
loaded from the page's file system.  (The int8 op cases are in the conformance suite,
which e2e/test_wasm.py and e2e/test_webgl.py run on every backend.)"""
import json

CODE = """
import json, numpy as np, webtensor
from pyodide.http import pyfetch
from webtensor.vision import image as vi
from webtensor.vision.blazeface import BlazeFace, iou
fm = await webtensor.load_graph_model('models/blazeface.json')
photo = await vi.decode_image(await (await pyfetch('samples/astronaut.png')).bytes())
x = vi.to_model_input(vi.letterbox(photo)[0], 256)
cal = [x, vi.to_model_input(vi.letterbox(photo[:, ::-1])[0], 256), vi.to_model_input(vi.letterbox(photo[:, 64:448])[0], 256)]
q = webtensor.quantize(fm, cal)
names = [o.name for o in fm.outputs]
q.backend_name = 'numpy'
ref = q.execute(x, names)
out = {'quantization': q.quantization}
for be in ['wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']:
    q.backend_name = be
    got = q.execute(x, names)
    out[be] = {'exact': all(np.array_equal(a, b) for a, b in zip(ref, got)),
               'fallbacks': q.report()['fallbacks'], 'kernel_calls': q.report()['plans'][0].get('kernel_calls')}
    fm.backend_name = be
    df, dq = BlazeFace(fm).detect(photo), BlazeFace(q).detect(photo)
    out[be]['faces'] = [len(df), len(dq)]
    out[be]['iou'] = [float(iou(np.array(f['box']), np.array([g['box']]))[0]) for f, g in zip(df, dq)]
# 100 predictions on the threaded backend: no growth of the wasm heap
q.backend_name = 'wasm-simd-threads'
before = webtensor.memory().backends['wasm-simd-threads']['heap_used_bytes']
for _ in range(100):
    q.predict(x)
out['heap_growth'] = webtensor.memory().backends['wasm-simd-threads']['heap_used_bytes'] - before
path = webtensor.save_graph_model(q, '/tmp/int8', 'blazeface')
back = webtensor.read_graph_model(path, backend='wasm-simd')
out['reloaded_exact'] = all(np.array_equal(a, b) for a, b in zip(ref, back.execute(x, names)))
out['reloaded_quantization'] = back.quantization
json.dumps(out)
"""


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


def test_quantized_blazeface_in_the_browser(app):
    page, _, _ = app
    r = py(page, CODE)
    assert r["quantization"]["int8_kernels"] == 69
    for be in ("wasm", "wasm-simd", "wasm-simd-threads"):
        assert r[be]["exact"], be                    # the int8 kernels give numpy's integers
        assert r[be]["fallbacks"] == [], be          # nothing of the int8 model runs on numpy
        assert r[be]["faces"] == [1, 1] and min(r[be]["iou"]) >= 0.9, (be, r[be])
    # WebGL has no int8 kernels: the int8 parts run on numpy inside its plan, still exact
    assert r["webgl"]["exact"] and r["webgl"]["fallbacks"]
    assert r["heap_growth"] <= 0
    assert r["reloaded_exact"] and r["reloaded_quantization"]["int8_kernels"] == 69


def test_page_precision_switch(app):
    """The page's Precision control: int8 quantised in the page on first use, detections
    close to float32, and back; a bad value is refused with a clear error."""
    import base64

    import numpy as np

    from webtensor.vision.blazeface import iou

    from .conftest import DIST
    page, _, _ = app
    # the page calibrates int8 on the astronaut photo; evaluate on another one (the cameraman)
    b64 = base64.b64encode((DIST / "samples" / "camera.png").read_bytes()).decode()
    detect = "([b, n]) => window.webtensorApp.detectBase64(b, n)"
    try:
        res = page.evaluate("() => window.webtensorApp.setPrecision('int8')")
        assert res["precision"] == "int8" and res["int8_kernels"] == 69
        assert res["weight_bytes"] < 0.35 * res["float_weight_bytes"]
        assert "int8: 69 int8 kernels" in page.text_content("#status")
        faces8 = page.evaluate(detect, [b64, "camera.png"])["faces"]
    finally:
        page.evaluate("() => window.webtensorApp.setPrecision('float32')")
    faces32 = page.evaluate(detect, [b64, "camera.png"])["faces"]
    assert len(faces8) == len(faces32) == 1
    assert iou(np.array(faces32[0]["box"]), np.array([faces8[0]["box"]]))[0] >= 0.9
    err = page.evaluate("() => window.webtensorApp.setPrecision('int4').then(() => null, (e) => e.message)")
    assert "precision must be 'float32' or 'int8'" in err
    assert page.input_value("#precision") == "float32"
