"""`build.py detect`: face or hand detection on image files, run by Pyodide in headless Chromium,
with BlazeFace (TF.js graph model), MediaPipe's .tflite detectors and hands pipeline, or human's
handtrack (a TF.js graph model with control flow)."""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from .session import app_page

# --model NAME -> the model file the page loads (served from dist/models/)
DETECTOR_MODELS = {"blazeface": "models/blazeface.json",
                   "mediapipe-short": "models/mediapipe/face_detection_short_range.tflite",
                   "mediapipe-full": "models/mediapipe/face_detection_full_range.tflite",
                   "mediapipe-full-sparse": "models/mediapipe/face_detection_full_range_sparse.tflite",
                   "mediapipe-hands": "models/mediapipe/hand_landmark_lite.tflite",
                   "handtrack": "models/handtrack.json"}


def annotate(image_path: Path, faces: list[dict], out_path: Path, connections=()) -> None:
    from PIL import Image, ImageDraw
    with Image.open(image_path) as im:
        im = im.convert("RGB")
    draw = ImageDraw.Draw(im)
    width = max(2, im.width // 200)
    for f in faces:
        draw.rectangle(f["box"], outline=(0, 230, 118), width=width)
        for a, b in connections:                 # a hand's skeleton
            draw.line([tuple(f["keypoints"][a]), tuple(f["keypoints"][b])], fill=(255, 214, 0), width=width)
        r = width * 1.5
        for x, y in f["keypoints"]:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=(255, 23, 68))
        label = f"{f['label']} " if f.get("label") else ""
        draw.text((f["box"][0], max(0, f["box"][1] - 12)), f"{label}{f['score']:.2f}", fill=(0, 230, 118))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    im.save(out_path)


def annotated_path(image: Path, out_dir: str | None, kind: str = "faces") -> Path:
    name = f"{image.stem}.{kind}.png"
    return Path(out_dir) / name if out_dir else image.with_name(name)


def detect_one(page, given: str, backend: str) -> dict:
    """-> the page's answer {ok, faces, ...} or {ok: False, error}."""
    try:
        data = Path(given).read_bytes()
    except OSError as e:
        return {"ok": False, "error": {"type": "OSError", "message": f"cannot read the file ({e.strerror})"}}
    return page.evaluate("([b64, name, backend]) => window.webtensorApp.detectBase64(b64, name, backend)",
                         [base64.b64encode(data).decode(), Path(given).name, backend])


def print_faces(given: str, res: dict, out: Path) -> None:
    what = "hand" if res.get("kind") == "hands" else "face"
    print(f"{given}: {len(res['faces'])} {what}(s), {res['ms']:.0f} ms on {res['backend']} (annotated: {out})")
    for f in res["faces"]:
        box = ", ".join(f"{v:.1f}" for v in f["box"])
        kps = " ".join(f"({x:.0f},{y:.0f})" for x, y in f["keypoints"])
        label = f"{f['label']}  " if f.get("label") else ""
        print(f"  {label}score {f['score']:.3f}  box [{box}]" + (f"  keypoints {kps}" if kps else ""))


def detect_main(images: list[str], backend: str = "numpy", as_json: bool = False, out_dir: str | None = None,
                model: str = "blazeface") -> int:
    if model not in DETECTOR_MODELS:
        print(f"error: --model {model!r} is not one of {', '.join(DETECTOR_MODELS)}", file=sys.stderr)
        return 2
    results: dict[str, list] = {}
    failures = 0
    console: list[str] = []
    try:
        with app_page(f"camera=0&backend=numpy&model={DETECTOR_MODELS[model]}") as (page, _, console):
            for given in images:
                res = detect_one(page, given, backend)
                if not res.get("ok"):
                    err = res.get("error", {})
                    print(f"{given}: error: {err.get('type')}: {err.get('message')}", file=sys.stderr)
                    failures += 1
                    continue
                results[given] = res["faces"]
                out = annotated_path(Path(given), out_dir, res.get("kind", "faces"))
                annotate(Path(given), res["faces"], out, res.get("connections", ()))
                if not as_json:
                    print_faces(given, res, out)
    except Exception as e:  # the page failed to start (browser, Pyodide, model): say so briefly
        print(f"error: the page failed: {str(e).splitlines()[0]}", file=sys.stderr)
        for line in console[-20:]:
            print(f"  {line}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(results))
    return 1 if failures else 0
