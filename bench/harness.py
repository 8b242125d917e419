"""`build.py bench`: webtensor vs TensorFlow.js 4.22 (and, for MediaPipe's .tflite face
detectors, `--models mediapipe-short,mediapipe-full`, vs MediaPipe's own runtime: bench/mediapipe.py),
side by side in one headless Chromium.

Per (model, backend) configuration, webtensor (in the app page's Pyodide worker) and
each matching TF.js configuration (bench/tfjs.html, one page each) load the same
model file and the same input, then run alternately in small batches (each after two
unmeasured runs) so that a ratio measured on a noisy machine is meaningful.  Every timed inference reads its
outputs back to the CPU.  Prints a table, writes JSON and a PNG chart.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "py"))
import webtensor  # noqa: E402
from webtensor.vision.image import to_model_input  # noqa: E402

DIST = ROOT / "dist"
RESULTS = ROOT / "bench" / "results"

# model name -> file under dist/ (graph models from @vladmandic/human)
HUMAN_GRAPH_MODELS = ("antispoof", "blazeface", "centernet", "emotion", "facemesh", "faceres", "handlandmark-lite",
                      "iris", "liveness", "movenet-lightning", "handtrack")
MODELS = {**{m: f"models/{m}.json" for m in HUMAN_GRAPH_MODELS}, "mobilenetv2": "models/mobilenet_v2/model.json"}
LAYERS_MODELS = {"mobilenetv2"}         # Keras-converted: load_layers_model / tf.loadLayersModel
DYNAMIC_MODELS = {"handtrack"}          # control flow: TF.js needs executeAsync
BACKENDS = ("numpy", "wasm", "wasm-simd", "wasm-simd-threads", "webgl", "webgpu")


def tfjs_configs(backend: str, threads: int) -> list[tuple[str, dict]]:
    """The TF.js pages measured against one webtensor backend: (engine label, query)."""
    if backend == "numpy":
        return [("tfjs", {"backend": "cpu"})]
    if backend == "wasm":
        return [("tfjs", {"backend": "wasm", "simd": 0, "threads": 1})]
    if backend == "wasm-simd":
        return [("tfjs", {"backend": "wasm", "simd": 1, "threads": 1})]
    if backend == "wasm-simd-threads":
        # TF.js 4.22 caps its pool at half of hardwareConcurrency: to really get `threads`
        # threads the page must report twice the cores; the stock page is measured too.
        return [("tfjs", {"backend": "wasm", "simd": 1, "threads": threads, "cores": 2 * threads}),
                ("tfjs-stock", {"backend": "wasm", "simd": 1})]
    if backend == "webgl":
        return [("tfjs", {"backend": "webgl"})]
    if backend == "webgpu":
        return [("tfjs", {"backend": "webgpu"})]
    raise ValueError(backend)


def is_layers_model(path: Path) -> bool:
    doc = json.loads(path.read_text())
    return doc.get("format") == "layers-model" or "model_config" in doc.get("modelTopology", {})


UA_MEMORY = """() => Promise.race([
  performance.measureUserAgentSpecificMemory ? performance.measureUserAgentSpecificMemory().then((r) => r.bytes) : null,
  new Promise((resolve) => setTimeout(() => resolve(null), 20000))])"""


def bench_input(model: str, shape, dtype) -> np.ndarray:
    """BlazeFace gets the sample photo as human feeds it; others a seeded random tensor."""
    shape = [1 if d < 0 else d for d in shape]
    if model == "blazeface":
        from PIL import Image
        img = np.asarray(Image.open(ROOT / ".cache" / "samples" / "astronaut.png").convert("RGB"))
        return to_model_input(img, shape[1])
    if model == "handtrack":            # the photo with a hand, as int32 (what human feeds it)
        from PIL import Image
        from webtensor.vision import HandDetector
        img = np.asarray(Image.open(ROOT / ".cache" / "samples" / "hand.png").convert("RGB"))
        return HandDetector(webtensor.read_graph_model(DIST / MODELS[model])).prepare(img).astype(np.int32)
    rng = np.random.default_rng(42)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(-1, 1, shape).astype(np.float32)
    return rng.integers(0, 256, shape).astype(np.int32)


# --------------------------------------------------------------------------- webtensor side
WT_SETUP = """
import base64, json, js, numpy as np, webtensor
now = js.performance.now
_x = np.frombuffer(base64.b64decode({b64!r}), {dtype!r}).reshape({shape!r})
for _name in ('_model', '_model1'):              # the previous rows' models: their memory goes back
    if globals().get(_name) is not None:
        globals()[_name].dispose()
        globals()[_name] = None
if {backend!r}.startswith('wasm'):                # the peak counts this model alone
    webtensor.native.start({backend!r}).resetPeak()
t0 = now()
_model = await webtensor.{loader}({url!r})
load_ms = now() - t0
_model.backend_name = {backend!r}
await webtensor.get_backend_async({backend!r})   # the backend's lazy start (timed apart: startup_ms)
startup_ms = webtensor.backends()[{backend!r}]["startup_ms"]
if {backend!r} == 'wasm-simd-threads':
    await webtensor.set_threads({threads})
_outs = {outs!r}
t0 = now()
{run}(_x, _outs)
first_ms = now() - t0
rep = _model.report()
json.dumps({{"load_ms": load_ms, "first_ms": first_ms, "startup_ms": startup_ms, "report": rep["plans"][-1] if rep["plans"] else {{}},
            "fallbacks": rep["fallbacks"]}})
"""
# The thread-scaling reference: the same model on the single-thread SIMD build, in the same
# worker, timed in alternation with the pool (engine "webtensor-1t"): the 2-thread speed-up
# then comes from batches measured side by side, not from two configurations minutes apart.
WT_SETUP_1T = """
if globals().get('_model1') is not None:
    _model1.dispose()
t0 = now()
_model1 = await webtensor.{loader}({url!r})
load_ms = now() - t0
_model1.backend_name = 'wasm-simd'
await webtensor.get_backend_async('wasm-simd')
t0 = now()
_model1.execute(_x, _outs)
first_ms = now() - t0
json.dumps({{"load_ms": load_ms, "first_ms": first_ms}})
"""
WT_TIME = """
ts = []
for _ in range({n}):
    t0 = now()
    {run}(_x, _outs)
    ts.append(now() - t0)
json.dumps(ts)
"""
WT_BARRIERS = """
webtensor.thread_stats(reset=True)
for _ in range({n}):
    {run}(_x, _outs)
_b = webtensor.thread_stats()
json.dumps({{"barriers": _b["barriers"][0] / {n}, "wait_ms": [round(w / {n}, 3) for w in _b["wait_ms"]]}})
"""
# What this machine gives two threads with nothing to wait for, measured beside the model
# (engine "machine", a batch in every round of the alternation): the runtime's multiply-add
# loop (registers only, no barrier, one join) on 2 pool threads against thread 0 alone
# doing the same total rounds, ~8 ms a 2-thread run (BlazeFace's).  A 2-vCPU VM does not
# always give its second vCPU a core of its own: this is the ceiling the model's speed-up
# is measured under.
WT_SCALING_SETUP = """
_rt = webtensor.native.start('wasm-simd-threads')
_rt.scalingProbe(100000, 1)
_probe_iters = max(1000, int(100000 * 8.0 / min(_rt.scalingProbe(100000, 1).ms for _ in range(3))))
json.dumps({{"load_ms": 0, "first_ms": 0, "iters": _probe_iters}})
"""
WT_SCALING = """
_one, _two, _ran = [], [], 0
for _ in range({n}):
    _one.append(_rt.scalingProbe(2 * _probe_iters, 1).ms)
    _rt.scalingProbe(1000, 2)     # wakes the helper, asleep since the 1-thread run (not timed)
    _p = _rt.scalingProbe(_probe_iters, 2)
    _two.append(_p.ms); _ran = max(_ran, _p.threads)
json.dumps({{"one_ms": _one, "two_ms": _two, "threads": _ran}})
"""
WT_OUTPUTS = "json.dumps([base64.b64encode(np.ascontiguousarray(o, np.float32).tobytes()).decode() for o in {run}(_x, _outs)])"
WT_MEMORY = """
if {backend!r}.startswith('wasm'):
    _st = webtensor.native.start({backend!r}).stats().to_py()
    _st["breakdown"] = webtensor.memory().backends[{backend!r}]["heap_breakdown"]
elif {backend!r} == 'webgl':
    _st = webtensor.native.start('webgl').stats().to_py()
    _st["peakUsedBytes"] = _st["textureBytes"]
elif {backend!r} == 'webgpu':
    _st = {{"peakUsedBytes": int(webtensor.native.runtime('webgpu').stats().bufferBytes)}}
else:
    _st = None
json.dumps(_st)
"""
WT_PEAK = """
_rt = webtensor.native.start({backend!r})
_n = 2_000_000
_rt.exports.peak_madd(1000, 1.0)
t0 = now(); _rt.exports.peak_madd(_n, 1.0); _ms = now() - t0
json.dumps(_n * 12 * 2 * ({lanes}) / (_ms * 1e6))
"""


def wt(page, code: str):
    return json.loads(page.evaluate("(c) => window.webtensorApp.python(c)", code))


FRESH_PAGE_BACKENDS = ("webgl",)


def measure(model: str, backend: str, args, browser, base: str, wt_page, log) -> list[dict]:
    layers = model in LAYERS_MODELS or is_layers_model(DIST / MODELS[model])
    local = (webtensor.read_layers_model if layers else webtensor.read_graph_model)(DIST / MODELS[model])
    info = local.inputs[0]
    x = bench_input(model, info.shape, info.dtype)
    outs = [o.key for o in local.outputs]
    b64 = base64.b64encode(x.tobytes()).decode()
    url = MODELS[model]
    threads = args.threads
    rows: list[dict] = []

    log(f"  webtensor {backend}: loading")
    setup = wt(wt_page, WT_SETUP.format(b64=b64, dtype=x.dtype.name, shape=list(x.shape), url=url,
                                        backend=backend, threads=threads, outs=outs, run=wt_run(backend),
                                        loader="load_layers_model" if layers else "load_graph_model"))
    setup["backend"] = backend
    engines = [{"engine": "webtensor", "page": None, "setup": setup, "ms": []}]
    for label, query in tfjs_configs(backend, threads):
        page = browser.new_page()
        wasm_files: list[str] = []
        page.on("request", lambda r, acc=wasm_files: acc.append(r.url.rsplit("/", 1)[-1]) if r.url.endswith(".wasm") else None)
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        page.goto(f"{base}/bench/tfjs.html?{qs}")
        log(f"  {label} {qs}: loading")
        s = page.evaluate("(a) => window.bench.setup(a)", {"modelUrl": f"{base}/{url}", "inputB64": b64,
                                                           "shape": list(x.shape), "dtype": x.dtype.name,
                                                           "outputs": outs, "kind": "layers" if layers else "graph",
                                                           "dynamic": model in DYNAMIC_MODELS})
        s["wasm_files"] = sorted(set(wasm_files))
        engines.append({"engine": label, "page": page, "setup": s, "ms": [], "query": query})

    if backend == "wasm-simd-threads":
        one = wt(wt_page, WT_SETUP_1T.format(url=url, loader="load_layers_model" if layers else "load_graph_model"))
        one["backend"] = "wasm-simd"
        engines.append({"engine": "webtensor-1t", "page": None, "setup": one, "ms": [], "model_var": "_model1"})
        if threads == 2:
            engines.append({"engine": "machine", "page": None, "setup": wt(wt_page, WT_SCALING_SETUP.format()),
                            "ms": [], "one_ms": [], "threads": 0})

    alternate(engines, wt_page, args)

    wt_out = [np.frombuffer(base64.b64decode(o), np.float32) for o in wt(wt_page, WT_OUTPUTS.format(run=wt_run(backend)))]
    wt_mem = wt(wt_page, WT_MEMORY.format(backend=backend))
    # the pool's barriers: how many per inference, and each thread's time waiting in them
    barriers = wt(wt_page, WT_BARRIERS.format(n=10, run=wt_run(backend))) if backend == "wasm-simd-threads" else None
    scaling = None
    probe = next((e for e in engines if e["engine"] == "machine"), None)
    if probe:
        engines.remove(probe)
        pairs = sorted(a / b for a, b in zip(probe["one_ms"], probe["ms"]))
        scaling = {"speedup": round(statistics.median(probe["one_ms"]) / statistics.median(probe["ms"]), 3),
                   "pair_min": round(pairs[0], 3), "pair_median": round(statistics.median(pairs), 3),
                   "pair_max": round(pairs[-1], 3), "two_thread_ms": round(statistics.median(probe["ms"]), 2),
                   "threads": probe["threads"]}
    gflops_peak = None
    if backend.startswith("wasm"):
        gflops_peak = wt(wt_page, WT_PEAK.format(backend=backend, lanes=1 if backend == "wasm" else 4))
    if args.ua_memory:   # whole-page memory as the browser counts it (waits for a GC)
        for e in engines:
            e["ua_memory"] = (wt_page if e["page"] is None else e["page"]).evaluate(UA_MEMORY)
    for e in engines:
        ms = e["ms"]
        row = {"model": model, "backend": backend, "engine": e["engine"],
               "threads": (threads if backend == "wasm-simd-threads" else 1) if e["engine"] == "webtensor"
               else e["setup"].get("threads"),
               "load_ms": round(e["setup"]["load_ms"], 1), "first_ms": round(e["setup"]["first_ms"], 1),
               "median_ms": round(statistics.median(ms), 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
               "runs": len(ms), "samples_ms": [round(t, 3) for t in ms],
               "round_medians_ms": [round(t, 3) for t in e["rounds"]], "peak_bytes": None, "max_abs_diff": None, "ua_memory_bytes": e.get("ua_memory")}
        if e["engine"] == "webtensor-1t":
            row["threads"] = 1
        elif e["engine"] == "webtensor":
            # weights + arena + programs (+ thread stacks): the most this model held at once
            row["peak_bytes"] = wt_mem.get("peakUsedBytes") if wt_mem else None
            row["heap_bytes"] = wt_mem.get("memoryBytes") if wt_mem else None
            row["heap_breakdown"] = wt_mem.get("breakdown") if wt_mem else None
            rep = e["setup"]["report"]
            row["fallbacks"] = e["setup"]["fallbacks"]
            row["kernel_calls"] = rep.get("kernel_calls")
            row["arena_bytes"] = rep.get("arena_bytes")
            if scaling:
                row["machine_2thread_speedup"] = scaling
            if barriers:
                row["barriers_per_inference"] = barriers["barriers"]
                row["barrier_wait_ms"] = barriers["wait_ms"]
            if rep.get("conv_flops"):
                row["conv_gflops_per_s"] = round(rep["conv_flops"] / (row["median_ms"] * 1e6), 2)
                row["peak_gflops_per_s_per_core"] = round(gflops_peak, 2) if gflops_peak else None
        else:
            page = e["page"]
            # tf.profile's peak over one inference (weights + intermediates alive at once): the
            # same quantity as webtensor's peak; on wasm its heap's size beside it
            mem = page.evaluate("() => window.bench.memoryProfile()")
            row["peak_bytes"] = mem.get("peakBytes")
            row["heap_bytes"] = mem.get("wasmHeapBytes")
            row["tfjs_backend"] = e["setup"]["backend"]
            row["wasm_files"] = e["setup"].get("wasm_files")
            row["reported_cores"] = e["setup"].get("hardwareConcurrency")
            tf_out = [np.frombuffer(base64.b64decode(o), np.float32) for o in page.evaluate("() => window.bench.outputsB64()")]
            row["max_abs_diff"] = float(max(np.max(np.abs(a - b)) for a, b in zip(wt_out, tf_out)))
            page.close()
        rows.append(row)
    one = next((r for r in rows if r["engine"] == "webtensor-1t"), None)
    if one:     # the pool's speed-up over one thread, from alternating batches
        rows[0]["speedup_over_1_thread"] = round(1 / paired_ratio(rows[0], one), 3)
    # webtensor's agreement is the one with its first peer
    peers = [r for r in rows if r["engine"] not in ("webtensor", "webtensor-1t")]
    if peers:
        rows[0]["max_abs_diff"] = peers[0]["max_abs_diff"]
    return rows


def alternate(engines: list[dict], wt_page, args) -> None:
    """Warm-up, then rounds of alternating batches so that drift hits every engine alike;
    each engine's timings land in its "ms", each batch's median in its "rounds" (what
    paired_ratio pairs)."""
    batch = max(1, args.batch)
    for e in engines:
        # at least 3 runs and 0.5 s of them: a module used for the first time runs its
        # baseline-compiled code until the engine's optimising tier catches up (measured:
        # the first model of a run, antispoof at ~8 ms, came out 1.0-1.3x TF.js after 3
        # warm-up runs, 0.94 measured after another model); every engine gets the same
        warm = _time(e, wt_page, 3)
        while sum(warm) < 500 and len(warm) < 60:
            warm += _time(e, wt_page, 3)
        e["ms"] = []
        e["rounds"] = []
    for _ in range(max(1, -(-args.runs // batch))):
        for e in engines:
            # let the previous engine's thread pool go idle (XNNPACK's workers spin after
            # each task) so that neither engine runs against the other's spinning threads
            time.sleep(0.1)
            # after the gap (and the other engine's batch) the first inferences run cold on
            # this 2-vCPU VM (measured: the first one or two of a batch 1.5-2x slower, for
            # both engines); each batch re-warms, unmeasured, so medians compare steady
            # state.  First-inference latency is reported separately (first ms).
            _time(e, wt_page, args.batch_warmup)
            ms = _time(e, wt_page, batch)
            e["ms"] += ms
            e["rounds"].append(statistics.median(ms))
            if e["engine"] == "machine":
                e["one_ms"] += e["last_one_ms"]


def wt_run(backend: str) -> str:
    """How the webtensor page runs the model: WebGPU's results come back with a promise."""
    return "await _model.execute_async" if backend == "webgpu" else "_model.execute"


def _time(e, wt_page, n: int) -> list[float]:
    if e["engine"] == "webtensor":
        return wt(wt_page, WT_TIME.format(n=n, run=wt_run(e["setup"]["backend"])))
    if e["engine"] == "webtensor-1t":
        return wt(wt_page, WT_TIME.format(n=n, run="_model1.execute"))
    if e["engine"] == "machine":        # 2-thread times; the 1-thread ones of the same pairs kept aside
        sc = wt(wt_page, WT_SCALING.format(n=n))
        e["last_one_ms"] = sc["one_ms"]
        e["threads"] = max(e["threads"], sc["threads"])
        return sc["two_ms"]
    return e["page"].evaluate(f"() => window.bench.time({n})")


def machine_info(browser) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "browser": f"Chromium {browser.version}", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "tfjs": "4.22.0", "webtensor": webtensor.__version__}


def print_table(rows: list[dict]) -> None:
    head = f"{'model':<18}{'backend':<19}{'engine':<11}{'thr':>4}{'load ms':>9}{'first ms':>10}" \
           f"{'median':>9}{'p90':>9}{'ratio':>7}{'MB':>7}{'maxdiff':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        base = next((p for p in rows if p["model"] == r["model"] and p["backend"] == r["backend"]
                     and p["engine"] in ("tfjs", "mediapipe")), None)
        ratio = f"{paired_ratio(r, base):.2f}" if base and r["engine"] == "webtensor" else ""
        mb = f"{r['peak_bytes'] / 1e6:.1f}" if r.get("peak_bytes") else "-"
        diff = f"{r['max_abs_diff']:.1e}" if r.get("max_abs_diff") is not None else "-"
        print(f"{r['model']:<18}{r['backend']:<19}{r['engine']:<11}{str(r['threads'] or '-'):>4}{r['load_ms']:>9.0f}"
              f"{r['first_ms']:>10.1f}{r['median_ms']:>9.2f}{r['p90_ms']:>9.2f}{ratio:>7}{mb:>7}{diff:>10}")
    for r in rows:
        if r.get("wasm_files"):
            print(f"  {r['model']} {r['backend']} {r['engine']}: TF.js loaded {', '.join(r['wasm_files'])}"
                  f" (reported cores {r.get('reported_cores')}, threads {r['threads']})")
        if r.get("model_only_median_ms"):
            print(f"  {r['model']} {r['backend']} webtensor: model alone {r['model_only_median_ms']} ms of the "
                  f"{r['median_ms']} ms detect; detections agree with MediaPipe: {r['detections_agree']} (IoU {r['iou']})")
        if r.get("speedup_over_1_thread"):
            print(f"  {r['model']} {r['backend']} webtensor: {r['threads']} threads {r['speedup_over_1_thread']:.2f}x "
                  f"the single-thread SIMD build (webtensor-1t), batches alternating")
        if r.get("machine_2thread_speedup"):
            sc = r["machine_2thread_speedup"]
            print(f"  {r['model']} {r['backend']} machine: a multiply-add loop with no barrier on 2 threads "
                  f"{sc['speedup']:.2f}x one thread (pairs {sc['pair_min']:.2f} - {sc['pair_max']:.2f}), "
                  f"{sc['two_thread_ms']} ms a run: this VM's 2-thread ceiling, measured beside the model")
        if r.get("barrier_wait_ms"):
            print(f"  {r['model']} {r['backend']} webtensor: {r['barriers_per_inference']:.0f} barriers per inference; "
                  f"ms waiting in them per inference, by thread: {', '.join(f'{w:.2f}' for w in r['barrier_wait_ms'])}")
        if r.get("conv_gflops_per_s"):
            peak = r.get("peak_gflops_per_s_per_core")
            print(f"  {r['model']} {r['backend']} webtensor: {r['conv_gflops_per_s']} GFLOP/s in conv/GEMM/depthwise "
                  f"over the whole inference" + (f"; multiply-add loop peak {peak} GFLOP/s per core" if peak else ""))


def paired_ratio(wt: dict, peer: dict) -> float:
    """webtensor's time over the peer's: the median, over the rounds of the alternation, of
    the two batches' medians measured side by side in that round.  This VM moves between
    fast and slow spells of a second or more that hit both engines (measured: both at
    4.0-4.8 ms for two batches, both at 7.5-8.0 for the next); a ratio of whole-run medians
    mixes spells, one paired by round mostly does not.  Rows without rounds (MediaPipe's)
    compare whole-run medians."""
    a, b = wt.get("round_medians_ms"), peer.get("round_medians_ms")
    if a and b and len(a) == len(b):
        return statistics.median(x / y for x, y in zip(a, b))
    return wt["median_ms"] / peer["median_ms"]


def ratio_ranges(repeats: list[list[dict]]) -> list[dict]:
    """Per (model, backend, peer engine): webtensor's time over the peer's (paired_ratio),
    one value per repeat (each measured side by side in that repeat), with min / median / max."""
    out: dict[tuple, list[float]] = {}
    for rows in repeats:
        for r in rows:
            if r["engine"] == "webtensor":
                if r.get("machine_2thread_speedup"):   # the machine's ceiling (a speed-up, not a ratio)
                    out.setdefault((r["model"], r["backend"], "machine"), []).append(
                        r["machine_2thread_speedup"]["speedup"])
                continue
            wt = next((w for w in rows if w["engine"] == "webtensor" and w["model"] == r["model"]
                       and w["backend"] == r["backend"]), None)
            if wt:
                out.setdefault((r["model"], r["backend"], r["engine"]), []).append(paired_ratio(wt, r))
    return [{"model": m, "backend": b, "peer": e, "ratios": [round(v, 3) for v in vs],
             "min": round(min(vs), 3), "median": round(statistics.median(vs), 3), "max": round(max(vs), 3)}
            for (m, b, e), vs in out.items()]


def print_ranges(summary: list[dict], n: int) -> None:
    print(f"\nratio webtensor / peer over {n} repeats (median [min - max]):")
    for s in summary:
        if s["peer"] == "webtensor-1t":     # the pool's time over one thread's: its inverse is the speed-up
            print(f"  {s['model']:<18}{s['backend']:<19}speed-up over 1 thread {1 / s['median']:.2f} "
                  f"[{1 / s['max']:.2f} - {1 / s['min']:.2f}]")
            continue
        if s["peer"] == "machine":
            print(f"  {s['model']:<18}{s['backend']:<19}machine's 2-thread ceiling {s['median']:.2f} "
                  f"[{s['min']:.2f} - {s['max']:.2f}] (a loop with no barrier, beside the model)")
            continue
        print(f"  {s['model']:<18}{s['backend']:<19}vs {s['peer']:<11}{s['median']:.2f} [{s['min']:.2f} - {s['max']:.2f}]")


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({(r["model"], r["backend"]) for r in rows}, key=lambda g: (g[0], BACKENDS.index(g[1])))
    width = 0.8 / 4
    engines = ["webtensor", "tfjs", "tfjs-stock", "mediapipe"]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(groups)), 4))
    for k, eng in enumerate(engines):
        vals = [next((r["median_ms"] for r in rows if (r["model"], r["backend"]) == g and r["engine"] == eng), 0)
                for g in groups]
        ax.bar([i + (k - 1.5) * width for i in range(len(groups))], vals, width, label=eng)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{m}\n{b}" for m, b in groups], fontsize=8)
    ax.set_ylabel("median ms per inference (lower is better)")
    ax.set_title("webtensor vs TensorFlow.js 4.22 / MediaPipe Tasks, same browser, same model and input")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="build.py bench", description=__doc__)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--models", default="blazeface,mobilenetv2")
    ap.add_argument("--backends", default="wasm,wasm-simd,wasm-simd-threads")
    ap.add_argument("--threads", type=int, default=0, help="threads for wasm-simd-threads (0: the browser's cores)")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    ap.add_argument("--batch", type=int, default=5,
                    help="timed runs per engine in each round of the alternation (--runs / --batch rounds)")
    ap.add_argument("--batch-warmup", type=int, default=2, help="unmeasured runs before each batch")
    ap.add_argument("--quick", action="store_true", help="a one-minute smoke run (5 runs, BlazeFace)")
    ap.add_argument("--ua-memory", action="store_true",
                    help="also record performance.measureUserAgentSpecificMemory() per page (slow: waits for a GC)")
    ap.add_argument("--model", action="append", default=[], help="NAME=path/under/dist/model.json (repeatable)")
    ap.add_argument("--all", action="store_true",
                    help="every human graph model (handtrack included) and MobileNetV2 (overrides --models)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the whole alternating comparison N times; report each ratio's min / median / max")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = 5
    for spec in args.model:
        name, _, path = spec.partition("=")
        MODELS[name] = path
    models = list(HUMAN_GRAPH_MODELS) + ["mobilenetv2"] if args.all else [m for m in args.models.split(",") if m]
    backends = [b for b in args.backends.split(",") if b]
    from bench.mediapipe import MODELS as MEDIAPIPE_MODELS, measure_mediapipe
    missing = [m for m in models if m not in MEDIAPIPE_MODELS and not (DIST / MODELS.get(m, "-")).exists()]
    if missing:
        print(f"bench: skipping models whose files are missing: {missing}")
        models = [m for m in models if m not in missing]
    from tools.quiet import check_quiet
    from tools.session import chromium, open_app, served
    repeats: list[list[dict]] = []
    log = lambda msg: print(msg, flush=True)
    busy_before = check_quiet(log)
    with served(DIST) as base, chromium() as browser:
        wt_page, _ = open_app(browser, base)
        if args.threads == 0:
            args.threads = wt_page.evaluate("navigator.hardwareConcurrency")
        machine = machine_info(browser)
        machine["busy_before_percent"] = busy_before
        for rep in range(max(1, args.repeat)):
            rows: list[dict] = []
            for model in models:
                for backend in backends:
                    log(f"{model} / {backend}" + (f" (repeat {rep + 1} of {args.repeat})" if args.repeat > 1 else ""))
                    if model in MEDIAPIPE_MODELS:      # the peer is MediaPipe's own runtime
                        rows += measure_mediapipe(model, backend, args, browser, base, wt_page, log)
                    elif backend in FRESH_PAGE_BACKENDS:
                        # a page of its own, as each TF.js configuration has: the WebGL runtime
                        # keeps its compiled programs for the page's life, and a model measured
                        # after another that shares them would report a warm first inference
                        page, _ = open_app(browser, base)
                        try:
                            rows += measure(model, backend, args, browser, base, page, log)
                        finally:
                            page.close()
                    else:
                        rows += measure(model, backend, args, browser, base, wt_page, log)
            repeats.append(rows)
    rows = repeats[0]
    print()
    print_table(rows)
    summary = ratio_ranges(repeats)
    if len(repeats) > 1:
        print_ranges(summary, len(repeats))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "rows": rows, "repeats": repeats, "ratios": summary}, indent=1))
    chart(rows, out.with_suffix(".png"))
    print(f"\nwrote {out} and {out.with_suffix('.png')}")
    return 0
