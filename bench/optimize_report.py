"""`build.py optimize-report`: what the graph passes buy, per model.

Per model of @vladmandic/human (and the MobileNetV2 layers model): graph nodes, plan
steps after folding and pruning, kernels launched per inference and nodes fused, the
activation arena planned from lifetimes against one buffer per tensor, and latency with
the passes on vs off on the fastest wasm backend, measured alternately in one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "py"))
import webtensor  # noqa: E402
from webtensor.lower import Lowering, plan_arena  # noqa: E402

DIST = ROOT / "dist"
MODELS = {m: f"models/{m}.json" for m in ("antispoof", "blazeface", "centernet", "emotion", "facemesh", "faceres",
                                          "handlandmark-lite", "iris", "liveness", "movenet-lightning")}
MODELS["mobilenetv2"] = "models/mobilenet_v2/model.json"

TIME_CODE = """
import json, js, numpy as np, webtensor
loader = webtensor.load_layers_model if {layers} else webtensor.load_graph_model
models = {{opt: await loader({url!r}, backend={backend!r}, optimize=opt) for opt in (True, False)}}
info = models[True].inputs[0]
shape = [1 if d < 0 else d for d in info.shape]
rng = np.random.default_rng(7)
x = rng.uniform(-1, 1, shape).astype(np.float32) if info.dtype.kind == 'f' else rng.integers(0, 256, shape).astype(info.dtype)
now = js.performance.now
ms = {{True: [], False: []}}
for m in models.values():
    m.predict(x); m.predict(x)
for _ in range({rounds}):
    for opt, m in models.items():
        t = now(); m.predict(x); ms[opt].append(now() - t)
for m in models.values():
    m.dispose()
json.dumps({{"on": ms[True], "off": ms[False]}})
"""


def static_figures(name: str) -> dict:
    path = DIST / MODELS[name]
    load = webtensor.read_layers_model if name == "mobilenetv2" else webtensor.read_graph_model
    rows = {}
    for opt in (True, False):
        m = load(path, optimize=opt)
        plan = next(iter(m._plans.values()))
        low = Lowering(plan, optimize=opt).run()
        _, arena, naive = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys, reuse=opt)
        rows[opt] = {"steps": len(plan.steps), "kernels": len(low.items), "fused": len(low.fused),
                     "folded": len(plan.folded), "arena": arena, "naive": naive}
    nodes = sum(1 for n in m.graph.nodes if n.op not in ("Const", "Placeholder"))
    return {"nodes": nodes, "on": rows[True], "off": rows[False]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="build.py optimize-report", description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "optimize.json"))
    args = ap.parse_args(argv)
    from tools.quiet import check_quiet
    from tools.session import app_page
    check_quiet()
    report = []
    with app_page() as (page, _, _):
        status = json.loads(page.evaluate("(c) => window.webtensorApp.python(c)",
                                          "import json, webtensor; json.dumps(webtensor.backends())"))
        backend = next(b for b in ("wasm-simd-threads", "wasm-simd", "wasm") if status[b]["available"])
        for name in [m for m in args.models.split(",") if m]:
            fig = static_figures(name)
            ms = json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", TIME_CODE.format(
                layers=name == "mobilenetv2", url=MODELS[name], backend=backend, rounds=args.runs)))
            fig.update(model=name, backend=backend, median_on_ms=statistics.median(ms["on"]),
                       median_off_ms=statistics.median(ms["off"]))
            report.append(fig)
            print(f"  {name}: done", flush=True)
    head = (f"{'model':<18}{'nodes':>6}{'steps':>7}{'kernels on/off':>16}{'fused':>7}{'arena MB on/off':>17}"
            f"{'ms on':>8}{'ms off':>8}{'speed-up':>9}")
    print(f"\nbackend: {backend}\n{head}\n{'-' * len(head)}")
    for r in report:
        on, off = r["on"], r["off"]
        print(f"{r['model']:<18}{r['nodes']:>6}{on['steps']:>7}{on['kernels']:>8}/{off['kernels']:<7}{on['fused']:>7}"
              f"{on['arena'] / 1e6:>9.1f}/{off['arena'] / 1e6:<7.1f}{r['median_on_ms']:>8.1f}{r['median_off_ms']:>8.1f}"
              f"{r['median_off_ms'] / r['median_on_ms']:>8.2f}x")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {out}")
    return 0
