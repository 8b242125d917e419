"""`build.py report`: the device report page (report.html) run headless; writes its JSON and a
PNG of the page, and prints the recommendation matrix."""
from __future__ import annotations

import json
from pathlib import Path

from .session import DIST, chromium, served

# WebGPU on SwiftShader, so the capability table can report an adapter (DESIGN.md)
WEBGPU_ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"]


def run_report(models: str, runs: int, out: Path, timeout_s: int = 1800, width: int = 1280, check=None,
               browser=None) -> dict:
    """Run report.html headless; write its JSON to `out` and a PNG beside it.  `check(page,
    report)` (tests) runs on the finished page before it closes; `browser`: an open
    Playwright browser to use (tests share theirs) instead of a Chromium of its own."""
    with served(DIST) as base:
        if browser is not None:
            return _run(browser, base, models, runs, Path(out), timeout_s, width, check)
        with chromium(WEBGPU_ARGS) as own:
            return _run(own, base, models, runs, Path(out), timeout_s, width, check)


def _run(browser, base, models, runs, out: Path, timeout_s, width, check) -> dict:
    out.parent.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(f"{base}/report.html?models={models}&runs={runs}")
        page.wait_for_function("window.webtensorReport !== undefined", timeout=30_000)
        report = page.evaluate(f"Promise.race([window.webtensorReport.done, new Promise((_, rej) => setTimeout(() => "
                               f"rej(new Error('the report took over {timeout_s} s')), {timeout_s * 1000}))])")
        out.write_text(json.dumps(report, indent=1))
        page.screenshot(path=str(out.with_suffix(".png")), full_page=True)
        if check is not None:
            check(page, report)
    finally:
        page.close()
    return report


def print_report(report: dict) -> None:
    caps = {c["name"]: c["value"] for c in report["capabilities"]}
    print(f"webtensor {report['version']}: {report['runs']} runs per step; SIMD {caps.get('WASM SIMD')}, "
          f"isolated {caps.get('cross-origin isolated')}, cores {caps.get('hardwareConcurrency')}, "
          f"WebGL2 {caps.get('WebGL2')}, WebGPU {caps.get('WebGPU adapter')}")
    print(f"{'model':<12}{'backend':<19}{'precision':<10}{'median ms':>10}{'p90 ms':>9}{'img/s':>8}{'peak MB':>9}"
          f"{'acc delta':>10}")
    for r in report["rows"]:
        if "error" in r:
            print(f"{r['model']:<12}{r['backend']:<19}{r['precision']:<10} failed: {r['error']}")
            continue
        print(f"{r['model']:<12}{r['backend']:<19}{r['precision']:<10}{r['median_ms']:>10.1f}{r['p90_ms']:>9.1f}"
              f"{r['images_per_s']:>8.1f}{r['peak_bytes'] / 2**20:>9.2f}{r['accuracy_delta']:>10.1e}")
    for model, recs in report["recommendations"].items():
        print(f"\n{model}:")
        for rec in recs:
            print(f"  {rec['scenario']:<17} {rec['backend']} {rec['precision']}: {rec['why']}\n"
                  f"  {'':<17} {rec['code']}")


def report_main(models: str, runs: int, out: str) -> int:
    report = run_report(models, runs, Path(out))
    print_report(report)
    print(f"\nwrote {out} and {Path(out).with_suffix('.png')}")
    return 0
