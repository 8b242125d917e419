"""The device report's logic (webtensor/report.py) on CPython: measurement rows on numpy, and
recommendations that follow the numbers (int8 only within its accuracy tolerance)."""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from tests.helpers import HUMAN_MODELS, ROOT
from webtensor import report


def row(backend, precision, median, peak, delta=0.0, ips=None):
    return {"model": "m", "backend": backend, "precision": precision, "median_ms": median, "p90_ms": median * 1.2,
            "images_per_s": ips or 1e3 / median, "throughput_batch": 1, "peak_bytes": peak, "weight_bytes": 1,
            "memory_kind": "wasm heap", "accuracy_delta": delta}


def by_scenario(recs):
    return {r["scenario"]: (r["backend"], r["precision"]) for r in recs["m"]}


def test_recommendations_follow_the_numbers():
    rows = [row("wasm", "float32", 90, 6e6), row("wasm-simd", "float32", 25, 6e6),
            row("wasm-simd-threads", "float32", 20, 7e6, ips=80), row("wasm-simd-threads", "int8", 12, 2e6, 0.01),
            row("webgl", "float32", 600, 8e6)]
    got = by_scenario(report.recommend(rows))
    assert got == {"real-time": ("wasm-simd-threads", "int8"), "batch throughput": ("wasm-simd-threads", "int8"),
                   "lowest memory": ("wasm-simd-threads", "int8"), "most compatible": ("wasm", "float32")}
    recs = report.recommend(rows)["m"]
    assert all(r["code"].startswith('webtensor.set_backend("') for r in recs)
    assert "webtensor.quantize" in recs[0]["code"] and "12.0 ms" in recs[0]["why"]


def test_inaccurate_int8_is_never_recommended():
    rows = [row("wasm-simd", "float32", 25, 6e6), row("wasm-simd", "int8", 10, 1e6, delta=0.5)]
    got = by_scenario(report.recommend(rows))
    assert set(got.values()) == {("wasm-simd", "float32")}


def test_unknown_model_is_refused():
    with pytest.raises(report.WebtensorError, match="unknown report model"):
        report.steps(["nothere"])


def test_measure_on_numpy(monkeypatch):
    monkeypatch.setitem(report.MODELS, "blazeface", {**report.MODELS["blazeface"],
                                                      "url": str(HUMAN_MODELS / "blazeface.json")})
    photo = np.asarray(Image.open(ROOT / ".cache" / "samples" / "astronaut.png").convert("RGB"))
    # a thread of its own: a browser test's event loop may be running in this one
    with ThreadPoolExecutor(1) as pool:
        rows = [pool.submit(asyncio.run, report.measure("blazeface", "numpy", p, 2, photo)).result()
                for p in report.PRECISIONS]
    for r in rows:
        assert r["median_ms"] > 0 and r["p90_ms"] >= r["median_ms"] and r["peak_bytes"] > 0
        assert r["throughput_batch"] == 1 and r["fallbacks"] == []
    assert rows[0]["accuracy_delta"] == 0.0                 # float32 on numpy is the reference
    # the same face, int8: one box at IoU >= 0.9 with a score within 0.1 of float32's (the bound
    # tests/test_quant.py holds int8 BlazeFace to).  Whether it is also within the report's
    # INT8_TOLERANCE depends on float rounding: the calibration runs float32 convolutions through
    # OpenBLAS, whose kernel depends on the CPU (0.047 with its Haswell/Zen kernels, 0.089 with
    # SkylakeX's on an AVX-512 machine) - the device report measures it per device for that reason.
    assert 0 < rows[1]["accuracy_delta"] < 0.2, rows[1]
