"""The device report (issue 18): report.html run headless by `build.py report`'s own function
on BlazeFace with few runs, and the live page's layout at a phone and a wide window size."""
import json
import re

from .conftest import ARTIFACTS

CAPABILITIES = {"WebAssembly", "WASM SIMD", "cross-origin isolated", "SharedArrayBuffer", "Web Workers",
                "hardwareConcurrency", "WebGL2", "WebGL2 float render targets", "WebGL2 max texture size",
                "WebGL2 renderer", "WebGPU adapter", "WebGPU fallback adapter", "deviceMemory hint", "user agent"}
SCENARIOS = ["real-time", "batch throughput", "lowest memory", "most compatible"]


def test_device_report_on_blazeface(browser, built):
    from tools.report import run_report
    seen = {}

    def check(page, report):
        seen["caps"] = page.eval_on_selector_all("#caps tr.cap", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
        seen["rows"] = page.eval_on_selector_all("#model-blazeface tr.row", "rs => rs.map(r => [r.dataset.backend, "
                                                 "r.dataset.precision, r.querySelector('.c-median_ms').textContent])")
        seen["matrix"] = page.eval_on_selector_all("#matrix tr[data-scenario]", "rs => rs.map(r => [r.dataset.scenario, "
                                                   "r.querySelector('td strong').textContent])")
        seen["download"] = page.evaluate("fetch(document.getElementById('download').href).then(r => r.text())")
        seen["chart_height"] = page.evaluate("document.querySelector('#model-blazeface canvas').height")
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
        seen["overflow"] = page.evaluate("document.body.scrollWidth - window.innerWidth")

    ARTIFACTS.mkdir(exist_ok=True)
    report = run_report("blazeface", 2, ARTIFACTS / "report.json", check=check, browser=browser)
    # every capability shown, each with how it was detected
    assert {c["name"] for c in report["capabilities"]} == CAPABILITIES
    assert [c[0] for c in seen["caps"]] == [c["name"] for c in report["capabilities"]]
    assert all(c[2] for c in seen["caps"])
    assert dict((c[0], c[1]) for c in seen["caps"])["WASM SIMD"] == "yes"
    # a row per available backend and precision, measured
    available = {b for b, i in report["backends"].items() if i["available"]}
    assert {"numpy", "wasm", "wasm-simd", "wasm-simd-threads", "webgl"} <= available
    assert {(r["backend"], r["precision"]) for r in report["rows"]} == {(b, p) for b in available for p in ("float32", "int8")}
    assert all("error" not in r and r["median_ms"] > 0 and r["peak_bytes"] > 0 for r in report["rows"]), report["rows"]
    # the page shows what the JSON says, and the download is the same JSON
    assert [(r[0], r[1]) for r in seen["rows"]] == [(r["backend"], r["precision"]) for r in report["rows"]]
    assert all(abs(float(r[2]) - row["median_ms"]) < 0.06 * max(1, row["median_ms"])
               for r, row in zip(seen["rows"], report["rows"]))
    assert json.loads(seen["download"]) == report
    assert json.loads((ARTIFACTS / "report.json").read_text()) == report
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
    # one recommendation per scenario, naming an available backend
    recs = report["recommendations"]["blazeface"]
    assert [r["scenario"] for r in recs] == SCENARIOS
    # (WebGPU starts asynchronously: its line is `await webtensor.set_backend_async("webgpu")`; it
    # wins "lowest memory" where int8 is outside its tolerance, as on this machine's CPU)
    assert all(r["backend"] in available and r["code"].startswith(
        "await webtensor.set_backend_async(" if r["backend"] == "webgpu" else "webtensor.set_backend(") for r in recs)
    assert [m[0] for m in seen["matrix"]] == SCENARIOS
    assert [m[1] for m in seen["matrix"]] == [f"{r['backend']} {r['precision']}" for r in recs]
    assert seen["chart_height"] > 0 and seen["overflow"] <= 1


def test_live_page_layout_phone_and_wide(browser, base_url):
    from tools.session import open_app
    out = {}
    for name, size in (("phone", {"width": 390, "height": 844}), ("wide", {"width": 1440, "height": 900})):
        context = browser.new_context(viewport=size)
        try:
            page, _ = open_app(browser, base_url, context=context)
            page.click("#sample")
            page.wait_for_function("document.getElementById('faces').textContent === '1'", timeout=60_000)
            page.wait_for_function("window.webtensorApp.memoryUpdates >= 2", timeout=30_000)
            out[name] = page.evaluate("""() => {
              const panel = (id) => document.getElementById(id).parentElement.getBoundingClientRect().width;
              const rows = [...document.querySelectorAll('#detections tbody tr')];
              return { overflow: document.body.scrollWidth - window.innerWidth,
                       rows: rows.length, tip: rows.length ? rows[0].title : '',
                       cells: rows.length ? [...rows[0].cells].map(c => c.textContent) : [],
                       mem: document.getElementById('mem-plot').getBoundingClientRect().width / panel('mem-plot'),
                       perf: document.getElementById('perf-plot').getBoundingClientRect().width / panel('perf-plot') };
            }""")
            page.screenshot(path=str(ARTIFACTS / f"live-page-{name}.png"), full_page=True)
        finally:
            context.close()
    for name, r in out.items():
        assert r["overflow"] <= 1, (name, r)                 # nothing wider than the window
        assert r["rows"] == 1 and r["tip"].startswith("keypoints") and len(re.findall(r"\(\d+, \d+\)", r["tip"])) == 6, (name, r)
        assert float(r["cells"][1]) > 0.5 and "→" in r["cells"][2], (name, r)
        assert 0.85 <= r["mem"] <= 1.0 and 0.85 <= r["perf"] <= 1.0, (name, r)   # the plots span their panels
