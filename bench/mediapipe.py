"""The MediaPipe rows of `build.py bench`: webtensor's FaceDetector against MediaPipe's own
runtime (@mediapipe/tasks-vision 1.1.0, FaceDetector, CPU delegate) on the same .tflite model
(`mediapipe-short`, `mediapipe-full`, `mediapipe-full-sparse`) and the same photo, in one
headless Chromium, alternating batches as the TF.js rows do.

What is timed is one whole `detect` on each side: the photo (512x512 RGB, decoded once) to the
model's input, the inference, box decoding and weighted NMS.  MediaPipe's Tasks build runs
on one thread (its wasm has no pthreads); webtensor's rows are measured on the backend asked
for (wasm-simd: one thread; wasm-simd-threads: the browser's cores).  Its model-only time
(the inference on the prepared input) is reported beside it.  The detections must agree:
the same count and IoU >= 0.9 per face.
"""
from __future__ import annotations

import statistics

import numpy as np

MODELS = {"mediapipe-short": "face_detection_short_range", "mediapipe-full": "face_detection_full_range",
          "mediapipe-full-sparse": "face_detection_full_range_sparse"}
PHOTO = "samples/astronaut.png"

WT_SETUP = """
import json, js, numpy as np, webtensor
from webtensor.vision import FaceDetector, decode_image
from webtensor._io import fetch_bytes
from webtensor.vision.image import letterbox_input
now = js.performance.now
_img = await decode_image(await fetch_bytes({photo!r}), {photo!r})
t0 = now()
_det = await FaceDetector.load({url!r})
load_ms = now() - t0
_det.model.backend_name = {backend!r}
await webtensor.get_backend_async({backend!r})
if {backend!r} == 'wasm-simd-threads':
    await webtensor.set_threads({threads})
_x = letterbox_input(_img, _det.input_size)[0]
class _Detect:          # what the harness's timing loop calls: _model.execute(_x, _outs)
    def execute(self, x, outs):
        return _det.detect(_img)
_model, _outs = _Detect(), None
t0 = now()
_faces = _det.detect(_img)
first_ms = now() - t0
json.dumps({{"load_ms": load_ms, "first_ms": first_ms, "faces": _faces, "fallbacks": _det.model.report()["fallbacks"]}})
"""
WT_MODEL_ONLY = """
_names = _det.output_names()
ts = []
for _ in range({n}):
    t0 = now()
    _det.model.execute(_x, _names)
    ts.append(now() - t0)
json.dumps(ts)
"""


def iou(a, b) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def measure_mediapipe(model: str, backend: str, args, browser, base: str, wt_page, log) -> list[dict]:
    from .harness import alternate, wt
    name = MODELS[model]
    log(f"  webtensor {backend}: loading {name}")
    setup = wt(wt_page, WT_SETUP.format(photo=PHOTO, url=f"models/mediapipe/{name}.tflite", backend=backend,
                                        threads=args.threads))
    setup["backend"] = backend
    page = browser.new_page()
    page.goto(f"{base}/bench/mediapipe.html")
    page.wait_for_function("window.bench !== undefined", timeout=60_000)
    log("  mediapipe tasks-vision (CPU delegate): loading")
    min_score = 0.5 if model == "mediapipe-short" else 0.6
    mp = page.evaluate("(a) => window.bench.setup(a)", {"modelUrl": f"{base}/bench/models/{name}_with_metadata.tflite",
                                                        "imageUrl": f"{base}/{PHOTO}", "minScore": min_score})
    engines = [{"engine": "webtensor", "page": None, "setup": setup, "ms": []},
               {"engine": "mediapipe", "page": page, "setup": mp, "ms": []}]
    alternate(engines, wt_page, args)
    model_only = wt(wt_page, WT_MODEL_ONLY.format(n=max(10, args.runs)))
    # the detections agree: same count, IoU >= 0.9 face by face (in score order)
    wt_faces, mp_faces = setup["faces"], page.evaluate("() => window.bench.detections()")
    ious = [round(iou(a["box"], b["box"]), 3) for a, b in zip(sorted(wt_faces, key=lambda f: -f["score"]),
                                                              sorted(mp_faces, key=lambda f: -f["score"]))]
    agree = len(wt_faces) == len(mp_faces) and all(v >= 0.9 for v in ious)
    rows = []
    for e in engines:
        ms = e["ms"]
        row = {"model": model, "backend": backend, "engine": e["engine"],
               "threads": (args.threads if backend == "wasm-simd-threads" else 1) if e["engine"] == "webtensor" else 1,
               "load_ms": round(e["setup"]["load_ms"], 1), "first_ms": round(e["setup"]["first_ms"], 1),
               "median_ms": round(statistics.median(ms), 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
               "runs": len(ms), "round_medians_ms": [round(t, 3) for t in e["rounds"]],
               "peak_bytes": None, "max_abs_diff": None, "ua_memory_bytes": None,
               "detections": len(wt_faces if e["engine"] == "webtensor" else mp_faces), "iou": ious,
               "detections_agree": agree}
        if e["engine"] == "webtensor":
            row["model_only_median_ms"] = round(statistics.median(model_only), 2)
            row["fallbacks"] = setup["fallbacks"]
        else:
            row["wasm_simd"] = mp.get("simd")
            page.close()
        rows.append(row)
    log(f"  detections: webtensor {len(wt_faces)}, mediapipe {len(mp_faces)}, IoU {ious}")
    return rows
