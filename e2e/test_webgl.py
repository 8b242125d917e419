"""The WebGL2 backend in headless Chromium (SwiftShader): detections, memory, context loss, fallback
(the conformance suite and the models run for every backend in test_backends.py)."""
import numpy as np

from .test_backends import py

# Pyodide code the plan tests start with: a conformance case run once on WebGL, and its plan
CASE_PLAN = """
async def case_plan(be, case):
    m = case.model()
    m.backend_name = 'webgl'
    await m.execute_async(dict(case.inputs), list(case.outputs))
    plan = m.plan_for({f"{k}:0": v.shape for k, v in case.inputs.items()}, [m._output_key(o) for o in case.outputs])
    return m, be.compiled(plan)
"""


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


def test_conformance_on_the_alternate_paths(app):
    """test_backends runs the suite with every WebGL conv sharing filter fetches between 4
    rows (ROWS 4), small maps split into more grid rows (SEG) and padded convs drawn as
    interior and frame; this runs it with ROWS 1, every map in image rows and every conv
    whole (engine().webgl_shared_rows_above, webgl_split_rows_below, webgl_interior_side)."""
    page, _, _ = app
    r = py(page, """
import json, webtensor.conformance as c
json.dumps({'results': await c.run_async('webgl', webgl_alternates=True)})
""")
    results = r["results"]
    assert len(results) > 100
    failed = [x for x in results if not x["ok"]]
    assert not failed, failed


def test_layers_share_programs_and_small_maps_split(app):
    """Sizes are uniforms, so BlazeFace's 76 draws need few programs (each costs SwiftShader
    12-40 ms at its first draw); maps of 8 rows or fewer written by a large conv get more
    grid rows than image rows (SwiftShader splits a draw between threads by rows of quads:
    MobileNetV2's 7x7 maps), every other map one grid row per image row."""
    page, _, _ = app
    r = py(page, """
import json, webtensor
from webtensor.backends import get_backend
from webtensor.engine import engine
out = {}
for name, url in (('blazeface', 'models/blazeface.json'), ('mobilenetv2', 'models/mobilenet_v2/model.json')):
    m = await (webtensor.load_graph_model if name == 'blazeface' else webtensor.load_layers_model)(url)
    plan = next(iter(m._plans.values()))
    gp = get_backend('webgl').compiled(plan)
    draws = webtensor.native.start('webgl').plans.get(gp.segments[0][1][0])
    maps = [[list(map(int, spec.shape)), list(gp.dims_of(k)), gp.conv_macs.get(gp.base(k), 0), gp.planes.get(k, 1)]
            for k, spec in plan.specs.items() if k in gp.conv_macs and len(spec.shape) == 4 and spec.shape[3] % 4 == 0]
    out[name] = {"draws": draws.length, "programs": len({d.p.source for d in draws}), "maps": maps}
out["macs"] = engine().webgl_split_macs
json.dumps(out)
""")
    assert r["blazeface"]["draws"] > 60 and r["blazeface"]["programs"] <= 7, r["blazeface"]
    assert r["mobilenetv2"]["programs"] <= 14, r["mobilenetv2"]["programs"]
    split = 0
    for model in ("blazeface", "mobilenetv2"):
        for (n, h, w, c), (tw, th), macs, planes in r[model]["maps"]:
            if n * h <= 8 and macs >= r["macs"]:
                split += 1
                assert th >= 9 and tw * th * planes == n * h * w * c // 4 and (w * c // 4) % tw == 0, \
                    (model, (n, h, w, c), (tw, th))
            else:
                assert [tw, th] == [w * c // 4 // planes, n * h], (model, (n, h, w, c), (tw, th))
    assert split >= 5


def test_a_pool_writes_its_channel_padded_output(app):
    """A pool whose output is only zero-padded in channels (BlazeFace's stride-2 blocks)
    writes the padded tensor itself: no fill or copy draws, one program fewer.  The
    conformance suite checks the values; this checks where it happens and where not (a
    pool output that another op reads keeps its own texture, and its pad is a copy)."""
    page, _, _ = app
    r = py(page, CASE_PLAN + """
import json, webtensor, webtensor.conformance as c
from webtensor.backends import get_backend
be = get_backend('webgl')
out = {}
for case in c.cases():
    if not case.name.startswith('residual:') or 'batch' in case.name:
        continue
    m, gp = await case_plan(be, case)
    out[case.name.split(',')[0]] = [len(gp.pool_pads), [l.split(':')[0] for l in gp.labels]]
    m.dispose()
bf = await webtensor.load_graph_model('models/blazeface.json')
gp = be.compiled(next(iter(bf._plans.values())))
out['blazeface'] = [len(gp.pool_pads), [l.split(':')[0] for l in gp.labels]]
json.dumps(out)
""")
    want = {"residual: max pool and channel pad": 1, "residual: max pool alone": 0, "residual: channel pad alone": 0,
            "residual: max pool also an output": 0, "residual: max pool also read by a Square": 0,
            "residual: SAME max pool of an odd map": 1,
            "residual: channel pad of a computed map": 0, "blazeface": 2}
    assert {k: v[0] for k, v in r.items()} == want, r
    for name, (n, kinds) in r.items():
        has_pad = name != "residual: max pool alone"
        assert ("pad" in kinds) == (has_pad and not n), (name, kinds)
        assert ("fill" in kinds) is False, (name, kinds)


def test_conv_maps_of_two_channel_planes(app):
    """Conv outputs that only convs and pools read, or only the caller (plan outputs), are
    stored as 2 channel planes (8 colour targets; GLPlan._channel_planes), heads of 2 and 6
    channels padded to 8: where the conformance cases have them and where not, MobileNetV2's
    inverted-residual maps, BlazeFace's maps and heads.  The suite checks the values."""
    page, _, _ = app
    r = py(page, CASE_PLAN + """
import json, numpy as np, webtensor, webtensor.conformance as c
from webtensor.backends import get_backend
be = get_backend('webgl')
out = {}
for case in c.plane_cases(np.random.default_rng(0)):
    m, gp = await case_plan(be, case)
    out[case.name] = sorted(k.split(':')[0] for k in gp.planes)
    out[case.name + ' (padded)'] = sorted(f"{k.split(':')[0]}={v}" for k, v in gp.co_pad.items())
    out[case.name + ' (image pads)'] = list(gp.in_pads.values())
    out[case.name + ' (output pixels a grid row)'] = [gp.pixel_rows(k) for k in gp.plan.output_keys]
    m.dispose()
mn = await webtensor.load_layers_model('models/mobilenet_v2/model.json')
gp = be.compiled(next(iter(mn._plans.values())))
out['mobilenetv2'] = [k for k in gp.planes]
bf = await webtensor.load_graph_model('models/blazeface.json')
gp = be.compiled(next(iter(bf._plans.values())))
out['blazeface'] = list(gp.planes)
out['blazeface outputs'] = [k in gp.planes for k in map(gp.base, gp.plan.output_keys)]
out['blazeface programs'] = len(set(d.p.source for d in gp.rt.plans.get(gp.segments[0][1][0])))
out['blazeface image pads'] = list(gp.in_pads.values())
json.dumps(out)
""")
    assert r["planes: an inverted-residual stack"] == ["a", "e1", "e2", "g", "p1", "s", "y"], r
    assert r["planes: a map a depthwise conv and a pool read"] == ["e"], r
    assert r["planes: a map an elementwise op also reads keeps 1 plane"] == [], r
    assert r["planes: a conv of 2 planes whose residual is the plan's input, of 1"] == ["a", "y"], r
    # a plan output of 1x1 convs is stored in planes too (read back unpacked: the suite checks)
    assert r["planes: a residual of 2 planes into a conv of 1 (an elementwise op reads it)"] == ["p"], r
    heads = "planes: detector heads as plan outputs (class heads of 2 and 6 channels)"
    assert r[heads] == ["e", "f", "h1", "h2", "h3", "h4"], r
    assert r[heads + " (padded)"] == ["h1=8", "h3=8"], r
    assert r["planes: an inverted-residual stack (padded)"] == [], r
    split = "planes: a plan output of split rows (8x8, 128 -> 256 channels)"
    assert r[split] == ["y"] and r[split + " (output pixels a grid row)"] == [4], r
    assert len(r["mobilenetv2"]) >= 30, r["mobilenetv2"]
    # BlazeFace: every 1x1 conv's map, its 4 heads (plan outputs) included, and so 5 programs:
    # the stem, 2 depthwise, the pool and the 2-plane 1x1 conv
    assert len(r["blazeface"]) >= 36, r["blazeface"]
    assert r["blazeface outputs"] == [True] * 4, r
    assert r["blazeface programs"] == 5, r
    # the RGB image's texture holds the stem's padding (5x5 SAME, stride 2 on 256: 1 before, 2
    # after), but not where two stems pad it differently
    assert r["blazeface image pads"] == [[1, 2, 1, 2]], r
    assert r["RGB image into two stems of different padding (image pads)"] == [], r


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


def test_a_split_conv_reads_its_residual_in_its_own_row_layout(app):
    """A 6x6x256 1x1 conv is split into more grid rows (enough multiply-adds), its residual
    (the plan's input) is not: the two must share a layout, so neither is split (palm
    detection's blocks came out wrong on WebGL until then).  Default engine settings: the
    conformance suite splits every small map alike and cannot see this."""
    page, _, _ = app
    r = py(page, """
import json, numpy as np, webtensor
from webtensor.conformance import Case, _rand, error
from webtensor.graph.ir import Node
rng = np.random.default_rng(5)
conv = lambda s, pad: {"strides": [1, s, s, 1], "padding": pad, "dilations": [1, 1, 1, 1], "data_format": "NHWC"}
out = {}
for act in ("Relu", None):
    nodes = [Node("dw", "DepthwiseConv2dNative", ["x:0", "wd:0"], conv(1, "SAME")),
             Node("pw", "_FusedConv2D", ["dw:0", "wp:0", "bp:0"], {**conv(1, "VALID"), "fused_ops": ["BiasAdd"]}),
             Node("y", "AddV2", ["pw:0", "x:0"], {})] + ([Node("z", act, ["y:0"], {})] if act else [])
    c = Case("split residual", nodes, {"x": _rand(rng, 1, 6, 6, 256)}, {"wd": _rand(rng, 3, 3, 256, 1),
             "wp": _rand(rng, 1, 1, 256, 256), "bp": _rand(rng, 256)}, ["z:0" if act else "y:0"])
    m = c.model()
    m.backend_name = "numpy"
    want = m.execute(dict(c.inputs), list(c.outputs))
    m.backend_name = "webgl"
    got = m.execute(dict(c.inputs), list(c.outputs))
    out[str(act)] = max(error(g, w) for g, w in zip(got, want))
json.dumps(out)
""")
    assert all(e < 1e-4 for e in r.values()), r
