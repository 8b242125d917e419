"""`build.py bench --quick` keeps working: a well-formed result and output agreement
(numpy backend vs TF.js's CPU backend on BlazeFace).  Never asserts a speed."""
import json
import os
import subprocess
import sys

from .conftest import ROOT

ROW_KEYS = {"model", "backend", "engine", "threads", "load_ms", "first_ms", "median_ms", "p90_ms", "peak_bytes",
            "max_abs_diff"}


def test_bench_quick_blazeface_numpy_vs_tfjs(tmp_path, built):
    out = tmp_path / "quick.json"
    env = dict(os.environ, WEBTENSOR_SETUP_DONE="1")
    res = subprocess.run([sys.executable, str(ROOT / "build.py"), "bench", "--quick", "--models", "blazeface",
                          "--backends", "numpy", "--out", str(out), "--repeat", "2"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    data = json.loads(out.read_text())
    assert {"cpu", "cores", "browser"} <= set(data["machine"])
    rows = data["rows"]
    assert {r["engine"] for r in rows} == {"webtensor", "tfjs"}
    for r in rows:
        assert ROW_KEYS <= set(r), set(r) ^ ROW_KEYS
        assert r["model"] == "blazeface" and r["backend"] == "numpy" and r["runs"] == 5
        assert 0 < r["median_ms"] <= r["p90_ms"] and r["first_ms"] > 0 and r["load_ms"] > 0
    tfjs = next(r for r in rows if r["engine"] == "tfjs")
    assert tfjs["tfjs_backend"] == "cpu"
    assert tfjs["max_abs_diff"] is not None and tfjs["max_abs_diff"] < 1e-3, tfjs["max_abs_diff"]
    assert out.with_suffix(".png").stat().st_size > 1000
    assert "ratio" in res.stdout and "webtensor" in res.stdout
    # --repeat 2: the whole comparison twice, each ratio with its range
    assert len(data["repeats"]) == 2 and data["rows"] == data["repeats"][0]
    (summary,) = data["ratios"]
    assert summary["peer"] == "tfjs" and len(summary["ratios"]) == 2
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert "over 2 repeats" in res.stdout


def test_bench_quick_mediapipe_peer(tmp_path, built):
    """The MediaPipe rows: webtensor's FaceDetector vs MediaPipe Tasks on the same .tflite; the
    detections agree (same count, IoU >= 0.9).  Never asserts a speed."""
    out = tmp_path / "mp.json"
    env = dict(os.environ, WEBTENSOR_SETUP_DONE="1")
    res = subprocess.run([sys.executable, str(ROOT / "build.py"), "bench", "--quick", "--models", "mediapipe-short",
                          "--backends", "wasm-simd", "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["engine"] for r in rows] == ["webtensor", "mediapipe"]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["runs"] == 5 and 0 < r["median_ms"] <= r["p90_ms"]
        assert r["detections"] == 1 and r["detections_agree"] and r["iou"][0] >= 0.9, r
    assert 0 < rows[0]["model_only_median_ms"] and rows[0]["fallbacks"] == []
    assert "detections agree with MediaPipe: True" in res.stdout
