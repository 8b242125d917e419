"""The device report (report.html, `build.py report`): every bundled model measured on every
available backend and precision of *this* device, and the backend-choice matrix derived
from those numbers instead of someone else's machines.

`measure` runs one (model, backend, precision) step; `recommend` turns the rows into one
recommendation per scenario (real-time, batch throughput, lowest memory, most compatible),
each with the numbers that decided it and the line of code that applies it.
"""
from __future__ import annotations

import time
import tracemalloc

import numpy as np

from .backends import backends as list_backends, get_backend_async
from .errors import WebtensorError
from .model import load_graph_model, load_layers_model
from .native import runtime as native_runtime
from .quantization import quantize
from .vision.blazeface import BlazeFace, iou
from .vision.image import letterbox_input

MODELS = {
    "blazeface": {"url": "models/blazeface.json", "layers": False, "size": 256},
    "mobilenetv2": {"url": "models/mobilenet_v2/model.json", "layers": True, "size": 224},
}
PRECISIONS = ("float32", "int8")
SCENARIOS = ("real-time", "batch throughput", "lowest memory", "most compatible")
# int8 counts as accurate enough when its task-level delta (see ACCURACY) is at most this
INT8_TOLERANCE = 0.05
# What "accuracy delta" measures per model, against float32 on numpy on the sample photo: the
# answer a user acts on, not raw logits (BlazeFace's int8 scores for background anchors move a
# lot while the face found stays the same).
ACCURACY = {"blazeface": "1 - IoU of the face boxes found (1 if the number of faces differs), plus the score change",
            "mobilenetv2": "largest change of a class probability (1 if the top class differs)"}
BATCH = 4                  # throughput is measured at this batch where the model's batch is free
# Plain WebAssembly needs nothing beyond WebAssembly 1.0; numpy needs only Python.
COMPATIBILITY_ORDER = ("wasm", "numpy")


def sample_inputs(model: str, photo: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(the input measured, calibration inputs for int8), both made from the sample photo."""
    size = MODELS[model]["size"]
    views = [photo, photo[:, ::-1], photo[:, photo.shape[1] // 8: photo.shape[1] * 7 // 8]]
    if model == "blazeface":
        make = lambda img: letterbox_input(img, size)[0]      # noqa: E731  (as BlazeFace.detect feeds it)
    else:
        def make(img):                                         # nearest resize to size x size, 0..1
            ys = (np.arange(size) * img.shape[0] // size)
            xs = (np.arange(size) * img.shape[1] // size)
            return (img[ys][:, xs, :3].astype(np.float32) / 255.0)[None]
    return make(photo), [make(v) for v in views]


def steps(models: list[str]) -> dict:
    """The measurement plan: a step per (model, available backend, precision), and the
    backends left out with the reason."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise WebtensorError(f"unknown report model(s) {unknown}; the report knows {sorted(MODELS)}")
    info = list_backends()
    available = [b for b, i in info.items() if i["available"]]
    return {"steps": [{"model": m, "backend": b, "precision": p} for m in models for b in available for p in PRECISIONS],
            "unavailable": {b: i["reason"] for b, i in info.items() if not i["available"]}}


class _PeakMemory:
    """Bytes a step added to its backend's memory at its peak: the wasm heap's high-water
    mark, the WebGL textures, or (numpy) Python's traced allocations."""

    def __init__(self, backend: str):
        self.backend = backend
        self.kind = {"webgl": "textures", "webgpu": "GPU buffers"}.get(
            backend, "wasm heap" if backend.startswith("wasm") else "numpy arrays")

    async def __aenter__(self):
        await get_backend_async(self.backend)           # started before the baseline
        rt = native_runtime(self.backend)
        if self.backend.startswith("wasm"):
            self.base = int(rt.stats().usedBytes)
            rt.resetPeak()
        elif self.backend == "webgl":
            self.base = int(rt.stats().textureBytes)
        elif self.backend == "webgpu":
            self.base = int(rt.stats().bufferBytes)
        else:
            tracemalloc.start()
        return self

    def peak(self) -> int:
        rt = native_runtime(self.backend)
        if self.backend.startswith("wasm"):
            return int(rt.stats().peakUsedBytes) - self.base
        if self.backend == "webgl":
            return int(rt.stats().textureBytes) - self.base
        if self.backend == "webgpu":
            return int(rt.stats().bufferBytes) - self.base
        return int(tracemalloc.get_traced_memory()[1])

    async def __aexit__(self, *exc):
        if self.kind == "numpy arrays":
            tracemalloc.stop()


def _outputs(result) -> list[np.ndarray]:
    return [np.asarray(o) for o in (result if isinstance(result, list) else [result])]


def _relative_rms(got: list[np.ndarray], ref: list[np.ndarray]) -> float:
    """The largest relative RMS difference over the raw outputs (reported beside the task delta)."""
    return max(float(np.sqrt(np.mean((g.astype(np.float64) - r) ** 2)) / max(np.sqrt(np.mean(r.astype(np.float64) ** 2)), 1e-12))
               for g, r in zip(got, ref))


async def _answer(model: str, m, x: np.ndarray, photo: np.ndarray):
    """What the model tells a user: BlazeFace's faces on the photo, MobileNetV2's class probabilities."""
    if model == "blazeface":
        return await BlazeFace(m).detect_async(photo)
    return _outputs(await m.predict_async(x))[0].reshape(-1)


def _task_delta(model: str, got, ref) -> float:
    if model == "blazeface":
        if len(got) != len(ref):
            return 1.0
        worst = 0.0
        for f in ref:
            best = max(got, key=lambda g: float(iou(np.array(f["box"]), np.array([g["box"]]))[0]))
            overlap = float(iou(np.array(f["box"]), np.array([best["box"]]))[0])
            worst = max(worst, 1.0 - overlap + abs(best["score"] - f["score"]))
        return worst
    if int(np.argmax(got)) != int(np.argmax(ref)):
        return 1.0
    return float(np.max(np.abs(got.astype(np.float64) - ref)))


_references: dict[str, tuple] = {}      # model -> (float32 outputs, answer) on numpy


async def measure(model: str, backend: str, precision: str, runs: int, photo: np.ndarray,
                  base_url: str = "") -> dict:
    """One step: load, (quantise), first inference, `runs` timed inferences, batch throughput,
    peak memory and the accuracy delta against float32 on numpy, for this device."""
    spec = MODELS[model]
    x, calibration = sample_inputs(model, photo)
    loader = load_layers_model if spec["layers"] else load_graph_model
    row = {"model": model, "backend": backend, "precision": precision, "runs": runs}
    if model not in _references:
        ref_model = await loader(base_url + spec["url"], backend="numpy")
        _references[model] = ([o.copy() for o in _outputs(ref_model.predict(x))],
                               await _answer(model, ref_model, x, photo))
        ref_model.dispose()
    ref_outputs, ref_answer = _references[model]
    async with _PeakMemory(backend) as mem:
        t0 = time.perf_counter()
        m = await loader(base_url + spec["url"], backend=backend)
        row["load_ms"] = (time.perf_counter() - t0) * 1e3
        try:
            if precision == "int8":
                t0 = time.perf_counter()
                q = quantize(m, calibration, backend=backend)
                row["quantize_ms"] = (time.perf_counter() - t0) * 1e3
                q.backend_name = backend
                m.dispose()
                m = q
            t0 = time.perf_counter()
            out = _outputs(await m.predict_async(x))
            row["first_ms"] = (time.perf_counter() - t0) * 1e3
            row["output_rel_rms"] = _relative_rms(out, ref_outputs)
            row["accuracy_delta"] = _task_delta(model, await _answer(model, m, x, photo), ref_answer)
            row["accuracy_metric"] = ACCURACY[model]
            times = []
            for _ in range(max(1, runs)):
                t0 = time.perf_counter()
                await m.predict_async(x)
                times.append((time.perf_counter() - t0) * 1e3)
            times.sort()
            row["median_ms"] = times[len(times) // 2]
            row["p90_ms"] = times[min(len(times) - 1, int(np.ceil(0.9 * len(times))) - 1)]
            batch = BATCH if m.inputs[0].shape and m.inputs[0].shape[0] in (-1, None) else 1
            if batch > 1:
                xb = np.repeat(x, batch, axis=0)
                await m.predict_async(xb)                  # its plan is compiled outside the timing
                bt = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    await m.predict_async(xb)
                    bt.append((time.perf_counter() - t0) * 1e3)
                row["images_per_s"] = batch * 1e3 / sorted(bt)[1]
            else:
                row["images_per_s"] = 1e3 / row["median_ms"]
            row["throughput_batch"] = batch
            row["peak_bytes"] = mem.peak()
            row["memory_kind"] = mem.kind
            row["weight_bytes"] = m.weight_bytes()
            row["fallbacks"] = m.report()["fallbacks"]
        finally:
            m.dispose()
    return row


def _code(backend: str, precision: str) -> str:
    line = (f'await webtensor.set_backend_async("{backend}")' if backend == "webgpu"
            else f'webtensor.set_backend("{backend}")')
    if precision == "int8":
        line += "; model = webtensor.quantize(model, calibration_inputs)"
    return line


def recommend(rows: list[dict]) -> dict[str, list[dict]]:
    """{model: [one recommendation per scenario]}: the backend and precision to use on this
    device, why (the numbers compared), and the code line.  int8 is recommended only where
    its accuracy delta is within INT8_TOLERANCE."""
    out = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        ok = [r for r in rows if r["model"] == model and "median_ms" in r
              and (r["precision"] == "float32" or r["accuracy_delta"] <= INT8_TOLERANCE)]
        if not ok:
            continue
        recs = []

        def add(scenario, best, why):
            recs.append({"scenario": scenario, "backend": best["backend"], "precision": best["precision"],
                         "why": why, "code": _code(best["backend"], best["precision"])})

        fast = sorted(ok, key=lambda r: r["median_ms"])
        b, nxt = fast[0], (fast[1] if len(fast) > 1 else None)
        add("real-time", b, f"lowest median latency: {b['median_ms']:.1f} ms (p90 {b['p90_ms']:.1f} ms, "
            f"{1e3 / b['median_ms']:.0f} inferences/s)"
            + (f"; next {nxt['backend']} {nxt['precision']} at {nxt['median_ms']:.1f} ms" if nxt else ""))
        thr = max(ok, key=lambda r: r["images_per_s"])
        add("batch throughput", thr, f"most images per second: {thr['images_per_s']:.1f} at batch "
            f"{thr['throughput_batch']}")
        low = min(ok, key=lambda r: (r["peak_bytes"], r["median_ms"]))
        add("lowest memory", low, f"smallest peak: {low['peak_bytes'] / 2**20:.2f} MB of {low['memory_kind']} "
            f"(weights {low['weight_bytes'] / 2**20:.2f} MB)")
        compat = next((r for name in COMPATIBILITY_ORDER for r in ok
                       if r["backend"] == name and r["precision"] == "float32"), fast[0])
        add("most compatible", compat, f"{compat['backend']} needs no SIMD, threads or GPU and runs in every "
            f"browser with WebAssembly: {compat['median_ms']:.1f} ms here" if compat["backend"] == "wasm"
            else f"{compat['backend']}: {compat['median_ms']:.1f} ms here")
        out[model] = recs
    return out
