"""What the page's worker calls: one call per request, JSON in and out.

Every function returns a JSON string: {"ok": true, ...} or
{"ok": false, "error": {"type": ..., "message": ...}} so that webtensor errors
reach the page (and the CLI) as the same clear text, never as a traceback.
"""
from __future__ import annotations

import json
import time
import traceback

from .backends import backends as list_backends, current_backend_name, set_backend_async as _set_backend
from .engine import memory as _memory, profile_async as _profile_async
from .errors import WebtensorError
from .native import set_threads as _set_threads
from .vision import BlazeFace, FaceDetector, HandDetector, SsdFaceDetector, decode_image
from .vision.hands import CONNECTIONS, HandTracker
from .vision.image import rgba_to_rgb

_detector: SsdFaceDetector | HandTracker | None = None
_last_image = None          # the last frame or image detected, for profile()
_models: dict = {}          # precision -> the detector's model in it ("float32" as loaded, "int8" quantised)


def _ok(**fields) -> str:
    return json.dumps({"ok": True, **fields})


def _fail(e: BaseException) -> str:
    if isinstance(e, WebtensorError):
        err = {"type": type(e).__name__, "message": str(e)}
    else:  # a bug, not bad input: keep the traceback for the console
        err = {"type": type(e).__name__, "message": f"internal error: {e}", "traceback": traceback.format_exc()}
    return json.dumps({"ok": False, "error": err})


def _bytes(data) -> bytes:
    return data.to_bytes() if hasattr(data, "to_bytes") else bytes(data)


def backends_json() -> str:
    return _ok(backends=list_backends(), current=current_backend_name())


async def set_backend(name: str) -> str:
    try:
        return _ok(current=await _set_backend(name))
    except Exception as e:
        return _fail(e)


async def set_threads(n: int) -> str:
    try:
        return _ok(threads=await _set_threads(int(n)))
    except Exception as e:
        return _fail(e)


async def load_detector(url: str, min_score: float | None = None) -> str:
    """A detector from `url`: MediaPipe's hand landmark .tflite -> the hands pipeline (with the
    palm detector beside it), another .tflite -> one of MediaPipe's face detectors, human's
    handtrack.json -> hand boxes, another model.json -> BlazeFace; min_score defaults to the
    detector's own threshold."""
    global _detector
    try:
        t0 = time.perf_counter()
        path = url.split("?")[0]
        name = path.rsplit("/", 1)[-1]
        if name.startswith("hand_landmark"):
            palm = path.rsplit("/", 1)[0] + "/palm_detection_lite.tflite"
            kw = {} if min_score is None else {"min_palm_score": float(min_score)}
            _detector = await HandTracker.load(palm, url, **kw)
        elif name.startswith("handtrack"):
            kw = {} if min_score is None else {"min_score": float(min_score)}
            _detector = await HandDetector.load(url, **kw)
        else:
            kw = {} if min_score is None else {"min_score": float(min_score)}
            _detector = await (FaceDetector if path.endswith(".tflite") else BlazeFace).load(url, **kw)
        _models.clear()
        _models["float32"] = _detector.model
        return _ok(load_ms=(time.perf_counter() - t0) * 1e3, report=_detector.model.report(),
                   weight_bytes=_detector.model.weight_bytes(), detector=type(_detector).__name__,
                   input_size=_detector.input_size, min_score=_detector.min_score)
    except Exception as e:
        return _fail(e)


async def set_precision(precision: str, calibration_url: str) -> str:
    """Switch the detector between its float32 model and an int8 copy, quantised on first
    use with calibration images made from the photo at `calibration_url` (as is, mirrored
    and a narrower cut, letterboxed as detect() feeds them)."""
    from .quantization import quantize
    from ._io import fetch_bytes
    from .vision.image import letterbox_input
    try:
        if _detector is None:
            raise WebtensorError("no detector loaded: call load_detector first")
        if isinstance(_detector, (HandTracker, HandDetector)) and precision == "int8":
            raise WebtensorError("int8 is offered for the face detectors; the hand detectors run in float32")
        if precision not in ("float32", "int8"):
            raise WebtensorError(f"precision must be 'float32' or 'int8', got {precision!r}")
        quantize_ms = 0.0
        if precision not in _models:
            photo = await decode_image(await fetch_bytes(calibration_url), calibration_url)
            views = [photo, photo[:, ::-1], photo[:, photo.shape[1] // 8: photo.shape[1] * 7 // 8]]
            t0 = time.perf_counter()
            _models["int8"] = quantize(_models["float32"], [letterbox_input(v, _detector.input_size)[0] for v in views])
            quantize_ms = (time.perf_counter() - t0) * 1e3
        _detector.model = _models[precision]
        q = _detector.model.quantization or {}
        return _ok(precision=precision, weight_bytes=_detector.model.weight_bytes(), quantize_ms=quantize_ms,
                   float_weight_bytes=_models["float32"].weight_bytes(), int8_kernels=q.get("int8_kernels", 0))
    except Exception as e:
        return _fail(e)


async def _detect(image) -> str:
    global _last_image
    if _detector is None:
        raise WebtensorError("no detector loaded: call load_detector first")
    _last_image = image
    t0 = time.perf_counter()
    found = await _detector.detect_async(image)        # every backend, WebGPU included
    extra = {}
    if isinstance(_detector, HandTracker):             # hands drawn like faces: box, points, and bones
        found = [_hand_as_detection(h) for h in found]
        extra = {"kind": "hands", "connections": CONNECTIONS}
    elif isinstance(_detector, HandDetector):            # boxes with a class label, no landmarks
        extra = {"kind": "hands"}
    return _ok(faces=found, width=int(image.shape[1]), height=int(image.shape[0]),
               ms=(time.perf_counter() - t0) * 1e3, backend=current_backend_name(), **extra)


def _hand_as_detection(hand: dict) -> dict:
    xs, ys = [p[0] for p in hand["landmarks"]], [p[1] for p in hand["landmarks"]]
    return {**hand, "box": [min(xs), min(ys), max(xs), max(ys)], "keypoints": [p[:2] for p in hand["landmarks"]]}


async def detect_image(data, name: str) -> str:
    """Encoded image bytes (a JS Uint8Array or bytes) -> faces."""
    try:
        return await _detect(await decode_image(_bytes(data), name))
    except Exception as e:
        return _fail(e)


async def detect_frame(rgba, width: int, height: int) -> str:
    """Raw RGBA pixels of a video frame -> faces."""
    try:
        return await _detect(rgba_to_rgb(_bytes(rgba), int(width), int(height)))
    except Exception as e:
        return _fail(e)


def memory_json() -> str:
    """webtensor.memory() for the page's memory panel."""
    try:
        m = _memory()
        return _ok(memory={"num_tensors": m.num_tensors, "num_bytes": m.num_bytes,
                           "num_data_buffers": m.num_data_buffers, "tensor_bytes": m.tensor_bytes,
                           "weight_bytes": m.weight_bytes, "backends": m.backends, "models": m.models,
                           "unreliable": m.unreliable, "reasons": m.reasons})
    except Exception as e:
        return _fail(e)


async def profile_json() -> str:
    """Profile one detection of the last frame: per-kernel times, sorted, for the profile panel."""
    try:
        if _detector is None or _last_image is None:
            raise WebtensorError("nothing to profile yet: detect a frame or an image first")
        p = await _profile_async(_detector.detect_async, _last_image)
        kernels = [{"op": k.op, "node": k.node, "ms": k.ms, "input_shapes": k.input_shapes,
                    "output_shapes": k.output_shapes, "bytes_added": k.bytes_added} for k in p.sorted_kernels()]
        return _ok(kernels=kernels, timing=p.timing, total_ms=sum(k.ms for k in p.kernels),
                   new_bytes=p.new_bytes, peak_bytes=p.peak_bytes, new_tensors=p.new_tensors,
                   backend=current_backend_name())
    except Exception as e:
        return _fail(e)


# ------------------------------------------------------------------ the device report (report.html)
_report_photo = None


def report_steps(models: str) -> str:
    from . import report
    try:
        return _ok(**report.steps([m for m in models.split(",") if m]))
    except Exception as e:
        return _fail(e)


async def report_step(model: str, backend: str, precision: str, runs: int, photo_url: str) -> str:
    """One (model, backend, precision) measurement of the device report."""
    from . import report
    from ._io import fetch_bytes
    global _report_photo
    try:
        if _report_photo is None:
            _report_photo = await decode_image(await fetch_bytes(photo_url), photo_url)
        return _ok(row=await report.measure(model, backend, precision, int(runs), _report_photo))
    except Exception as e:
        return _fail(e)


def report_recommend(rows_json: str) -> str:
    from . import report
    try:
        return _ok(recommendations=report.recommend(json.loads(rows_json)), scenarios=list(report.SCENARIOS),
                   int8_tolerance=report.INT8_TOLERANCE)
    except Exception as e:
        return _fail(e)
