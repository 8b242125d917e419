"""The wasm backends in headless Chromium: identical detections, threads, memory
(the conformance suite and the models run for every backend in test_backends.py)."""

import numpy as np

from .test_backends import py

WASM = ["wasm", "wasm-simd", "wasm-simd-threads"]


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
scaling = {n: rt.scalingProbe(2000, n) for n in (1, 2)}
scaling = {n: [p.threads, p.ms] for n, p in scaling.items()}
json.dumps({"same": same, "before": before, "after": after, "probe": probe, "control": control,
            "threads": rt.stats().threads, "scaling": scaling})
"""
    r = py(page, code)
    assert r["same"], "1, 2 and 3 threads disagree"
    assert r["before"] == r["after"], "wasm memory grew over 200 predictions"
    assert r["probe"] == {"2": 0, "3": 0}, "per-thread stacks collided"
    assert r["control"] > 0, "the stack probe cannot detect a shared stack (negative control)"
    # the bench's 2-thread ceiling: the multiply-add loop ran on as many threads as asked
    assert [r["scaling"][n][0] for n in ("1", "2")] == [1, 2], r["scaling"]
    assert all(r["scaling"][n][1] > 0 for n in ("1", "2")), r["scaling"]
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


def test_a_small_plan_runs_on_one_thread_and_agrees(app):
    """A plan under engine().one_thread_below_flops (a 0.5 MFLOP conformance conv) runs on
    thread 0 alone on wasm-simd-threads, liveness (13 MFLOP) and BlazeFace (378 MFLOP) on the
    pool; all equal the single-threaded SIMD results; the conformance suite's small cases still
    use the pool (it sets one_thread_below_flops to 0)."""
    page, _, _ = app
    code = """
import json, numpy as np, webtensor
from webtensor import conformance
out = {}
case = next(c for c in conformance.cases() if c.name == 'tiles: conv2d 9x7x13->37 k3')
models = {'small conv': (case.model(), dict(case.inputs), list(case.outputs))}
for name in ('liveness', 'blazeface'):
    m = await webtensor.load_graph_model(f'models/{name}.json')
    info = m.inputs[0]
    x = np.random.default_rng(3).uniform(0, 1, [1 if d < 0 else d for d in info.shape]).astype(np.float32)
    models[name] = (m, x, None)
for name, (m, x, outs) in models.items():
    m.backend_name = 'wasm-simd'
    want = m.execute(x, outs)
    m.backend_name = 'wasm-simd-threads'
    got = m.execute(x, outs)
    want, got = (w if isinstance(w, list) else [w] for w in (want, got))
    out[name] = {'cap': m.report()['plans'][-1].get('max_threads'),
                 'diff': max(float(np.abs(a - b).max()) for a, b in zip(got, want))}
    m.dispose()
json.dumps(out)
"""
    res = py(page, code)
    assert res["small conv"]["cap"] == 1, res
    assert res["liveness"]["cap"] is None and res["blazeface"]["cap"] is None, res
    assert all(r["diff"] < 1e-4 for r in res.values()), res


def test_thread_stats_count_every_barrier(app):
    """webtensor.thread_stats(): after a reset, each pool thread passed the plan's barriers
    once per inference (BlazeFace is one program), and its waiting time is a time."""
    page, _, _ = app
    code = """
import json, math, numpy as np, webtensor
m = await webtensor.load_graph_model('models/blazeface.json', backend='wasm-simd-threads')
await webtensor.set_threads(2)
x = np.zeros((1, 256, 256, 3), np.float32)
m.predict(x)
webtensor.thread_stats(reset=True)
for _ in range(3):
    m.predict(x)
st = webtensor.thread_stats()
after_reset = webtensor.thread_stats(reset=True) and webtensor.thread_stats()
plan = m.report()['plans'][-1]
kernels, barriers = plan['kernel_calls'], plan['barriers_per_inference']
m.dispose()
json.dumps({'st': st, 'kernels': kernels, 'barriers': barriers, 'after_reset': after_reset,
            'finite': all(math.isfinite(w) and w >= 0 for w in st['wait_ms'])})
"""
    r = py(page, code)
    st = r["st"]
    assert st["threads"] == 2 and st["runs"] == 3, st
    # one barrier per group of kernels: BlazeFace's 44 kernels pass 39 (the max pools beside
    # their pads' fills, the heads beside each other: disjoint bytes, no barrier between)
    assert r["kernels"] == 44 and r["barriers"] == 39, r
    assert st["barriers"] == [3 * r["barriers"]] * 2, (st, r["barriers"])
    assert r["finite"], st
    assert r["after_reset"]["barriers"] == [0, 0] and r["after_reset"]["runs"] == 0, r["after_reset"]
