"""Issue 17 in the browser: no model can write outside its memory, every failure is a
webtensor error, memory stays bounded.  Each finding of the issue is a regression test
here on every native backend it applies to."""
import json
from pathlib import Path

import pytest

NATIVE = ["wasm", "wasm-simd", "wasm-simd-threads", "webgl"]
ROOT = Path(__file__).resolve().parent.parent


def py(page, code):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


# A graph model built in Python: GatherV2 with batch_dims = -1 beside a Slice -> Neg of
# the same input (the tensor the corrupting copy landed in).
PRELUDE = """
import json, numpy as np, webtensor
from webtensor._record import replace
from webtensor.graph import Graph, Node, TensorInfo
from webtensor.model import GraphModel
from webtensor.ops import OPS, TensorSpec
F32, I32 = np.dtype(np.float32), np.dtype(np.int32)

def hostile(shape, idx):
    nodes = [Node("x", "Placeholder", [], {"dtype": F32, "shape": list(shape)})]
    consts = {"idx": np.asarray(idx, np.int32), "ax": np.array(2, np.int32),
              "b": np.array([0, 0, 0], np.int32), "s": np.array([1, 1, 4], np.int32)}
    nodes += [Node(k, "Const", [], {"dtype": I32}) for k in consts]
    nodes += [Node("g", "GatherV2", ["x:0", "idx:0", "ax:0"], {"batch_dims": -1}),
              Node("sl", "Slice", ["x:0", "b:0", "s:0"], {}), Node("neg", "Neg", ["sl:0"], {})]
    outs = [TensorInfo(n, n + ":0", None, F32) for n in ("g", "neg")]
    return GraphModel(Graph(nodes, consts, [TensorInfo("x", "x:0", list(shape), F32)], outs, "hostile.json"))

def old_gather_rule(ins, attrs):    # the shape rule before the fix: batch_dims % (rank + 1)
    ps, ixs = ins[0].shape, ins[1].shape
    bd = attrs.get("batch_dims", 0)
    bd = bd % (len(ixs) + 1) if bd < 0 else bd
    ax = int(np.asarray(ins[2].value).reshape(-1)[0]) % len(ps)
    return [TensorSpec(ps[:ax] + ixs[bd:] + ps[ax + 1:], ins[0].dtype)]
"""


def test_gather_negative_batch_dims_matches_numpy_on_every_backend(app):
    page, _, _ = app
    res = py(page, PRELUDE + """
x = np.arange(30, dtype=np.float32).reshape(2, 3, 5)
m = hostile((2, 3, 5), [[0, 1, 2], [4, 3, 2]])
out = {}
for be in ['numpy', 'wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']:
    m.backend_name = be
    g, neg = m.predict(x)
    out[be] = [g.tolist(), neg.tolist()]
json.dumps(out)
""")
    for be, (g, neg) in res.items():
        assert neg == [[[-0.0, -1.0, -2.0, -3.0]]], be
        assert g == res["numpy"][0] and len(g) == 2 and len(g[0][0]) == 3, be


def test_a_shape_rule_that_disagrees_with_its_op_cannot_corrupt_another_model(app):
    """The original exploit with the old (wrong) shape rule put back: the fallback's output
    is 160 KB where 800 bytes were planned.  Every backend refuses it with an
    ExecutionError naming the node, and BlazeFace, loaded on the same backend before,
    returns exactly what it returned before."""
    page, _, _ = app
    res = py(page, PRELUDE + """
real = OPS["GatherV2"]
OPS["GatherV2"] = replace(real, shape=old_gather_rule)
out = {}
try:
    canary = await webtensor.load_graph_model('models/blazeface.json')
    xc = np.random.default_rng(5).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    for be in ['wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']:
        canary.backend_name = be
        before = canary.predict(xc)
        m = hostile((1, 200, 5), (np.arange(200) % 5).reshape(1, 200))
        m.backend_name = be
        try:
            m.predict(np.ones((1, 200, 5), np.float32))
            err = None
        except Exception as e:
            err = [type(e).__name__, str(e), isinstance(e, webtensor.WebtensorError)]
        after = canary.predict(xc)
        out[be] = {"error": err, "same": all(np.array_equal(a, b) for a, b in zip(before, after)),
                   "finite": all(bool(np.isfinite(a).all()) for a in after)}
        m.dispose()
finally:
    OPS["GatherV2"] = real
json.dumps(out)
""")
    for be in NATIVE:
        r = res[be]
        assert r["error"] is not None, f"{be}: the hostile model ran"
        kind, msg, is_ours = r["error"]
        assert is_ours and kind == "ExecutionError", f"{be}: {kind}: {msg}"
        assert "node 'g' (GatherV2)" in msg and "[1, 200, 200]" in msg, msg
        assert r["same"] and r["finite"], f"{be}: the canary model changed"


def test_debug_guards_catch_a_write_outside_a_slot_and_pass_the_conformance_suite(app):
    """debug_memory_guards: the conformance suite passes on every wasm backend with a
    guard after every slot checked after every kernel; a byte written into a guard (the
    negative control) is reported naming the kernel that ran."""
    page, _, _ = app
    res = py(page, """
import json, numpy as np, webtensor, webtensor.conformance as c
from webtensor.backends import get_backend
webtensor.debug_memory_guards(True)
try:
    out = {}
    for be in ['wasm', 'wasm-simd', 'wasm-simd-threads']:
        rs = c.run(be)
        out[be] = [r for r in rs if not r['ok']]
        out[be + ':n'] = len(rs)
    case = next(k for k in c.cases() if k.name.startswith('conv2d 7x7x3->8'))
    m = case.model()
    m.backend_name = 'wasm-simd'
    x = dict(case.inputs)
    m.predict(x)
    cp = next(iter(m._plans.values())).lowered['wasm-simd']
    start = cp._guards[2 * 1]                # the guard after the first slot
    cp.rt.write(start + 5, np.array([7], np.uint8))
    try:
        m.predict(x)
        out['control'] = None
    except webtensor.ExecutionError as e:
        out['control'] = str(e)
    # whole models, guarded kernel by kernel, equal their unguarded outputs
    xb = np.random.default_rng(3).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    xm = np.random.default_rng(3).uniform(0, 1, (1, 224, 224, 3)).astype(np.float32)
    out['models'] = {}
    for url, loader, xin in [('models/blazeface.json', webtensor.load_graph_model, xb),
                             ('models/mobilenet_v2/model.json', webtensor.load_layers_model, xm)]:
        gm = await loader(url)
        gm.backend_name = 'numpy'
        want = gm.predict(xin)
        want = want if isinstance(want, list) else [want]
        for be in ['wasm-simd', 'wasm-simd-threads']:
            gm.backend_name = be
            got = gm.predict(xin)
            got = got if isinstance(got, list) else [got]
            out['models'][f"{url} {be}"] = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
        gm.dispose()
finally:
    webtensor.debug_memory_guards(False)
json.dumps(out)
""")
    for be in ["wasm", "wasm-simd", "wasm-simd-threads"]:
        assert res[be + ":n"] > 100 and not res[be], json.dumps(res[be], indent=1)
    assert res["control"] and "memory guard" in res["control"] and "overwritten by kernel conv:y" in res["control"]
    assert len(res["models"]) == 4 and max(res["models"].values()) < 1e-3, res["models"]


BIG_CONV = PRELUDE + """
def conv_model(w):
    nodes = [Node("x", "Placeholder", [], {"dtype": F32, "shape": [-1, -1, -1, 8]}), Node("w", "Const", [], {"dtype": F32}),
             Node("y", "Conv2D", ["x:0", "w:0"], {"strides": [1, 1, 1, 1], "padding": "SAME"})]
    return GraphModel(Graph(nodes, {"w": w}, [TensorInfo("x", "x:0", [-1, -1, -1, 8], F32)],
                            [TensorInfo("y", "y:0", None, F32)], "conv.json"))
"""


@pytest.mark.parametrize("backend", ["wasm", "wasm-simd-threads", "webgl"])
def test_out_of_memory_is_a_resource_error_and_leaks_nothing(app, backend):
    """Issue 17 (2, 5): a plan whose arena cannot be had fails with a ResourceError naming
    the model, and frees the weights it uploaded (heap in use unchanged, also after
    dispose); a huge Pad is a webtensor error too."""
    page, _, _ = app
    res = py(page, BIG_CONV + f"""
from webtensor.backends import get_backend
be = get_backend({backend!r})
used = lambda: be.memory_stats().get('heap_used_bytes', be.memory_stats().get('texture_bytes'))
w = np.random.default_rng(1).uniform(-1, 1, (3, 3, 8, 64)).astype(np.float32)
m = conv_model(w)
m.backend_name = {backend!r}
m.predict(np.ones((1, 8, 8, 8), np.float32))
before = used()
errors = []
for _ in range(3):
    plan = m.plan_for({{'x:0': (1, 8000, 8000, 8)}}, m.output_keys)
    try:
        be.describe(plan)              # compiles the plan on the backend
        errors.append(None)
    except Exception as e:
        errors.append([type(e).__name__, str(e), isinstance(e, webtensor.WebtensorError)])
after = used()
m.dispose()
pad = GraphModel(Graph([Node("x", "Placeholder", [], {{"dtype": F32, "shape": [1, 4]}}), Node("p", "Const", [], {{"dtype": I32}}),
                        Node("y", "Pad", ["x:0", "p:0"], {{}})], {{"p": np.array([[0, 0], [0, 2 ** 30]], np.int32)}},
                       [TensorInfo("x", "x:0", [1, 4], F32)], [TensorInfo("y", "y:0", None, F32)], "pad.json"))
pad.backend_name = {backend!r}
try:
    pad.predict(np.ones((1, 4), np.float32))
    pad_err = None
except Exception as e:
    pad_err = [type(e).__name__, str(e), isinstance(e, webtensor.WebtensorError)]
json.dumps({{"errors": errors, "before": before, "after": after, "pad": pad_err}})
""")
    for err in res["errors"]:
        assert err is not None and err[2], res["errors"]
        assert err[0] == "ResourceError" and "conv.json" in err[1], err
    assert res["after"] == res["before"], f"a failed compile left {res['after'] - res['before']} bytes allocated"
    assert res["pad"] is not None and res["pad"][2], res["pad"]


def test_plans_share_weights_and_the_plan_cache_is_bounded(app):
    """Issue 17 (3): a model run at batch sizes 1..12 keeps at most plan_cache_size plans,
    uploads its weights once, and dispose() gives every byte back."""
    page, _, _ = app
    res = py(page, BIG_CONV + """
from webtensor.backends import get_backend
be = get_backend('wasm-simd')
w = np.random.default_rng(1).uniform(-1, 1, (3, 3, 8, 512)).astype(np.float32)   # 147 KB of weights
start, blobs0 = be.memory_stats()['heap_used_bytes'], be.memory_stats()['shared_weight_blobs']
m = conv_model(w)
m.backend_name = 'wasm-simd'
peaks, plans = [], []
for n in range(1, 13):
    y = m.predict(np.ones((n, 16, 16, 8), np.float32))
    st = be.memory_stats()
    peaks.append(st['heap_used_bytes'] - start)
    plans.append(len(m._plans))
blobs = be.memory_stats()['shared_weight_blobs'] - blobs0
m.dispose()
json.dumps({"peaks": peaks, "plans": plans, "blobs": blobs,
            "end": be.memory_stats()['heap_used_bytes'] - start, "cache": webtensor.engine.engine().plan_cache_size})
""")
    assert max(res["plans"]) == res["cache"] == 4
    assert res["blobs"] == 1                           # one weight upload for every batch size
    # bounded: 4 arenas of the largest batches + one weight blob, not 12 of each
    assert res["peaks"][-1] < 4 * 12 * 16 * 16 * 520 * 4 + 200_000, res["peaks"]
    assert res["end"] == 0, f"dispose left {res['end']} bytes"


def test_seeded_fuzz_on_the_native_backends_never_corrupts_a_canary(app):
    """The graph-model fuzz cases (tests/fuzzing.py) on every native backend: each ends in
    a webtensor error or a result, and a canary model loaded on the same backend returns
    exactly the same outputs after every case."""
    page, _, _ = app
    fuzzing = (ROOT / "tests" / "fuzzing.py").read_text()
    res = py(page, fuzzing + """
import json, numpy as np, webtensor
from webtensor._io import fetch_bytes
from webtensor.graph import GraphModelFiles, parse_graph_model
from webtensor.model import GraphModel
doc = json.loads(await fetch_bytes('models/blazeface.json'))
shard = await fetch_bytes('models/blazeface.bin')
canary = await webtensor.load_graph_model('models/blazeface.json')
x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
rng = np.random.default_rng(17)
report = {"ok": 0, "error": 0, "bad": []}
backends = ['wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']
want = {}
for be in backends:
    canary.backend_name = be
    want[be] = canary.predict(x)
for i in range(24):
    d, s, what = mutate(rng, doc, shard)
    be = backends[i % len(backends)]
    try:
        model = GraphModel(parse_graph_model(GraphModelFiles(json.dumps(d), {"blazeface.bin": s}, "blazeface.json")))
        model.backend_name = be
        model.predict(x)
        model.dispose()
        report["ok"] += 1
    except webtensor.WebtensorError:
        report["error"] += 1
    except Exception as e:
        report["bad"].append(f"case {i} ({what}) on {be}: {type(e).__name__}: {e}")
    canary.backend_name = be
    if not all(np.array_equal(a, b) for a, b in zip(canary.predict(x), want[be])):
        report["bad"].append(f"case {i} ({what}) on {be}: the canary's outputs changed")
json.dumps(report)
""")
    assert not res["bad"], "\n".join(res["bad"])
    assert res["error"] > 0 and res["ok"] + res["error"] == 24


def test_drawn_op_cases_agree_on_every_backend(app):
    """The property test's seeded draws (tests/op_draws.py) for every op of the spec, run
    on every native backend against numpy: same shapes, values within 1e-4 (NaN/Inf
    exact), and any refusal is a webtensor error."""
    page, _, _ = app
    draws = (ROOT / "tests" / "op_draws.py").read_text()
    res = py(page, draws + """
import json, numpy as np, webtensor
from webtensor.conformance import error
bad, ran = [], 0
for op in sorted(ALL_DRAWN):
    for seed in range(3):
        case = draw_case(SeededDraw(np.random.default_rng(seed)), op)
        try:
            model, feeds = case_graph(*case, name=f"{op} seed {seed}")
            model.backend_name = 'numpy'
            with np.errstate(all='ignore'):
                want = model.execute(feeds, [o.key for o in model.outputs])
        except webtensor.WebtensorError:
            continue                 # refused by the spec: nothing to compare
        ran += 1
        for be in ['wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']:
            model.backend_name = be
            try:
                got = model.execute(feeds, [o.key for o in model.outputs])
                err = max([error(np.asarray(g), np.asarray(w)) for g, w in zip(got, want)] or [0.0])
                if not err <= 1e-4:
                    bad.append(f"{op} seed {seed} on {be}: error {err}")
            except Exception as e:
                bad.append(f"{op} seed {seed} on {be}: {type(e).__name__}: {e}")
        model.dispose()
json.dumps({"bad": bad, "ran": ran})
""")
    assert res["ran"] > 250
    assert not res["bad"], "\n".join(sorted({b.split(" on ")[0] + ": " + b.split(": ", 1)[1] for b in res["bad"]}))


@pytest.mark.parametrize("backend", ["wasm-simd", "wasm-simd-threads"])
def test_the_predict_fast_path_steps_aside_whenever_a_skipped_layer_would_act(app, backend):
    """execute(x[, outputs])'s fast path (model._FastPath: the compiled plan's one interop
    call with nothing around it) gives the full path's results, bit for bit, and steps aside
    whenever a layer it skips would do something: another dtype or a strided view
    (converted), profile() and time() (recorded), another backend, a plan evicted from the
    cache (its memory freed: running it would write into memory that is no longer its own),
    other output names, a disposed model (an error)."""
    page, _, _ = app
    res = py(page, BIG_CONV + f"""
rng = np.random.default_rng(7)
m = conv_model(rng.uniform(-1, 1, (3, 3, 8, 40)).astype(np.float32))
m.backend_name = {backend!r}
full = []                                  # calls that took the full path
prepare = m._prepare
m._prepare = lambda *a: full.append(1) or prepare(*a)
x = rng.uniform(-1, 1, (1, 9, 7, 8)).astype(np.float32)
ref = m.predict(x).copy()
r = {{"made": m._fast is not None}}
same = [np.array_equal(m.predict(x), ref) for _ in range(3)]
r["fast"] = len(full)                      # 1: only the first call
wide = np.concatenate([x, x], axis=3)[..., ::2]     # the same values, strided
for name, call in [("float64", lambda: m.predict(x.astype(np.float64))), ("strided", lambda: m.predict(wide)),
                   ("profile", lambda: webtensor.profile(lambda: m.predict(x)).kernels),
                   ("time", lambda: webtensor.time(lambda: m.predict(x))["kernel_ms"])]:
    n = len(full)
    out = call()
    r[name] = [len(full) - n, bool(len(out) if name == "profile" else out is not None)]
n = len(full); m.predict(x); r["fast again"] = len(full) - n
m.backend_name = "wasm"
n = len(full); y_scalar = m.predict(x); m.predict(x); r["other backend"] = len(full) - n
m.backend_name = {backend!r}
m.predict(x)                               # the full path once, back on this backend
webtensor.set_plan_cache_size(1)
try:
    n = len(full)
    # evicts x's plan (its arena freed) and, given its input by name, leaves x's fast path in place
    m.execute({{"x": np.ones((1, 5, 5, 8), np.float32)}})
    r["kept"] = m._fast is not None and m._fast.shape == x.shape
    evicted = m.predict(x)
    r["evicted"] = [len(full) - n, bool(np.array_equal(evicted, ref))]
finally:
    webtensor.set_plan_cache_size(4)
n = len(full)
named = [m.execute(x, ["y"]), m.execute(x, ("y",)), m.execute(x, "y"), m.execute(x, "y")]
r["named"] = [len(full) - n, [type(v).__name__ for v in named],
              all(np.array_equal(v[0] if isinstance(v, list) else v, ref) for v in named)]
m.dispose()
try:
    m.predict(x)
    r["disposed"] = None
except webtensor.TensorDisposedError as e:
    r["disposed"] = str(e)
r["same"] = all(same) and bool(np.allclose(y_scalar, ref, atol=1e-4))
json.dumps(r)
""")
    assert res["made"] and res["same"], res
    assert res["fast"] == 1 and res["fast again"] == 0, res
    for name in ("float64", "strided", "profile", "time"):
        assert res[name] == [1, True], (name, res)
    assert res["other backend"] == 1, res      # once to plan for it, then its own fast path
    assert res["kept"] and res["evicted"] == [2, True], res
    # output names: the full path once per way of naming them, lists as lists, a name alone as an array
    assert res["named"] == [2, ["list", "list", "ndarray", "ndarray"], True], res
    assert res["disposed"] and "disposed" in res["disposed"], res
