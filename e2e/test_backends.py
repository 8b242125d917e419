"""Every native backend in headless Chromium, one suite parametrised over them: the
conformance suite and the 10 human graph models against numpy."""
import json

import numpy as np
import pytest

from tests.helpers import GRAPH_MODELS

NATIVE = ["wasm", "wasm-simd", "wasm-simd-threads", "webgl", "webgpu"]
# backends whose model checks share one load of each model (one page call per group)
GROUPS = {"wasm": ["wasm", "wasm-simd", "wasm-simd-threads"], "webgl": ["webgl"], "webgpu": ["webgpu"]}
PLAN_FALLBACK_CASE = "fallback inside a plan: conv -> ArgMax -> Cast -> Mul"


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


@pytest.mark.parametrize("backend", NATIVE)
def test_conformance_suite(app, backend):
    page, _, _ = app
    r = py(page, f"import json, webtensor, webtensor.conformance as c; webtensor.thread_stats(reset=True); "
                 f"json.dumps({{'results': await c.run_async({backend!r}), 'pool': webtensor.thread_stats()}})")
    results = r["results"]
    if backend == "wasm-simd-threads":      # every case ran on the whole pool, helpers included
        assert r["pool"]["threads"] >= 2 and min(r["pool"]["barriers"]) > 500, r["pool"]
    assert len(results) > 100
    failed = [x for x in results if not x["ok"]]
    assert not failed, json.dumps(failed, indent=1)
    # the only numpy fallbacks: the case about fallbacks, and cases whose calls the backend's
    # supports(call) refuses: none on wasm, exactly the int8 ones on WebGL (float32 textures),
    # which run on numpy inside the plan and still give the exact integers
    name = lambda x: x["case"].removesuffix(" [batch 3]")
    int8 = {name(x) for x in results if x["case"].startswith("int8 ")}
    assert len(int8) > 20
    refused = {name(x) for x in results if x["refused"]}
    # and on the GPUs the calls lower/calls.GPU_REFUSED lists (TopK: no GPU kernel)
    gpu_refused = {name(x) for x in results if x["case"].startswith("TopKV2 ")}
    assert refused == (int8 | gpu_refused if backend in ("webgl", "webgpu") else set())
    assert {name(x) for x in results if x["fallbacks"]} == {PLAN_FALLBACK_CASE} | refused
    if backend == "wasm-simd-threads":
        # ops with disjoint bytes share a barrier on the pool: the suite runs such groups
        # (heads beside each other, a max pool beside its pad's fill, splits), at batch 3 too
        grouped = [x["case"] for x in results if x["barriers"] is not None and x["barriers"] < x["kernel_calls"]]
        assert len(grouped) >= 16 and any(c.endswith("[batch 3]") for c in grouped), grouped


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
    for be in %s:
        model.backend_name = be
        got = await model.execute_async(feeds, names)
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


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("names", [GRAPH_MODELS[:5], GRAPH_MODELS[5:]], ids=["models-1", "models-2"])
def test_models_match_numpy(app, names, group):
    page, _, _ = app
    res = py(page, MODELS_CODE % (json.dumps(list(names)), json.dumps(GROUPS[group])))
    for name, r in res.items():
        for be in GROUPS[group]:
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




PROFILE_CODE = """
import json, numpy as np, webtensor, webtensor.conformance as c
case = next(x for x in c.cases() if x.name == %r)
model = case.model()
model.backend_name = 'numpy'
want = model.execute(dict(case.inputs), list(case.outputs))
model.backend_name = %r
plain = await model.execute_async(dict(case.inputs), list(case.outputs))
prof = await webtensor.profile_async(model.execute_async, dict(case.inputs), list(case.outputs))
desc = model.report()['plans'][0]
json.dumps({'kinds': [k.op for k in prof.kernels], 'ms': [k.ms for k in prof.kernels], 'timing': prof.timing,
            'kernel_calls': desc['kernel_calls'], 'segments': desc['segments'],
            'same': all(np.array_equal(a, b) for a, b in zip(prof.result, plain)),
            'right': all(np.allclose(a, b, atol=1e-4) for a, b in zip(plain, want))})
"""


@pytest.mark.parametrize("backend", NATIVE)
def test_profile_runs_every_segment_kernel_by_kernel(app, backend):
    """profile() takes the shell's segment-by-segment path: each native kernel and the
    numpy step between segments recorded and timed, same results as a plain run."""
    page, _, _ = app
    r = py(page, PROFILE_CODE % (PLAN_FALLBACK_CASE, backend))
    assert r["right"] and r["same"]
    assert r["segments"] == 3                                    # native, numpy (ArgMax), native
    numpy_steps = [k for k in r["kinds"] if k.startswith("numpy:")]
    assert numpy_steps == ["numpy:ArgMax"], r["kinds"]
    assert len(r["kinds"]) == r["kernel_calls"] + 1
    assert all(ms >= 0 for ms in r["ms"]) and backend in r["timing"]
