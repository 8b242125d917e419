"""`build.py detect` as a user runs it: headless Chromium + Pyodide on the bundled photo."""
import json
import os
import subprocess
import sys

from .conftest import ROOT


def run_detect(*args):
    env = dict(os.environ, WEBTENSOR_SETUP_DONE="1")
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "detect", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_detect_json_on_the_bundled_photo(tmp_path, built):
    res = run_detect("--json", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    results = json.loads(res.stdout)                  # stdout is exactly one JSON object
    (faces,) = results.values()
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face["box"]
    assert len(face["keypoints"]) == 6 and 0.5 < face["score"] <= 1
    for x, y in face["keypoints"][:2]:                # right and left eye inside the box
        assert x0 < x < x1 and y0 < y < y1
    # where an independent detector puts the face: MediaPipe's own FaceDetector (Tasks
    # vision, CPU delegate) on this photo gives x 177, y 82, 95 x 95 (DESIGN.md section 5)
    ref = (177, 82, 177 + 95, 82 + 95)
    inter = max(0, min(x1, ref[2]) - max(x0, ref[0])) * max(0, min(y1, ref[3]) - max(y0, ref[1]))
    union = (x1 - x0) * (y1 - y0) + 95 * 95 - inter
    assert inter / union > 0.5, (face["box"], ref)
    assert (tmp_path / "astronaut.faces.png").exists()


def test_detect_reports_an_undecodable_image(tmp_path, built):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    res = run_detect(str(bad))
    assert res.returncode == 1
    assert "broken.png" in res.stderr and "ImageDecodeError" in res.stderr
    assert "ImageDecodeError: ImageDecodeError" not in res.stderr          # the type is said once


def test_detect_with_mediapipe_tflite_detectors(tmp_path, built):
    """--model mediapipe-short: MediaPipe's .tflite detector, in the browser.  The short-
    range model is the one MediaPipe's own runtime measured on this photo (DESIGN.md: score
    0.92, box x 177, y 82, 95 x 95): same model, same post-processing, so IoU >= 0.9."""
    ref = (177, 82, 177 + 95, 82 + 95)
    for model, min_iou in (("mediapipe-short", 0.9),):        # full range: e2e/test_page.py
        res = run_detect("--json", "--model", model, "--backend", "wasm-simd", "--out", str(tmp_path))
        assert res.returncode == 0, res.stderr
        (faces,) = json.loads(res.stdout).values()
        assert len(faces) == 1, faces
        x0, y0, x1, y1 = faces[0]["box"]
        inter = max(0, min(x1, ref[2]) - max(x0, ref[0])) * max(0, min(y1, ref[3]) - max(y0, ref[1]))
        iou = inter / ((x1 - x0) * (y1 - y0) + 95 * 95 - inter)
        assert iou >= min_iou, (model, faces[0]["box"], iou)
        if model == "mediapipe-short":
            assert abs(faces[0]["score"] - 0.92) < 0.01


def test_detect_hands_pipeline(tmp_path, built):
    """--model mediapipe-hands: palm detection -> crop -> 21 landmarks, in the browser, on the
    photo with a pointing hand (build.py setup takes it from ultralytics' wheel)."""
    photo = ROOT / ".cache" / "samples" / "zidane.jpg"
    res = run_detect("--json", "--model", "mediapipe-hands", "--backend", "wasm-simd-threads", "--out", str(tmp_path),
                     str(photo))
    assert res.returncode == 0, res.stderr
    (hands,) = json.loads(res.stdout).values()
    assert len(hands) == 1 and len(hands[0]["keypoints"]) == 21 and hands[0]["presence"] > 0.9
    tip = hands[0]["keypoints"][8]                     # the pointing index fingertip, near (1150, 412)
    assert 1120 < tip[0] < 1175 and 395 < tip[1] < 435, tip
    assert (tmp_path / "zidane.hands.png").exists()


def test_detect_handtrack(tmp_path, built):
    """--model handtrack: human's hand detector (a graph model with a while loop and NMS), on its
    default photo (zidane.jpg's right half: a pointing hand)."""
    res = run_detect("--json", "--model", "handtrack", "--backend", "wasm-simd-threads", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (hands,) = json.loads(res.stdout).values()
    assert len(hands) == 1 and hands[0]["label"] == "point" and hands[0]["score"] > 0.85, hands
    x0, y0, x1, y1 = hands[0]["box"]
    assert 280 < x0 < 350 and 360 < y0 < 420 and 450 < x1 < 520 and 460 < y1 < 520, hands[0]["box"]
    assert (tmp_path / "hand.hands.png").exists()
