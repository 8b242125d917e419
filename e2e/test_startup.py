"""Start-up (issue 16): the live page records when each stage finished, in ms since its
navigation began; cold (an empty HTTP cache) and on a second visit (the same browser
profile).  The stages are printed; only their order and presence are asserted (tests never
assert times)."""
import pytest

STAGES = ["worker started", "pyodide ready", "wheel installed", "numpy loaded", "webtensor imported",
          "worker ready", "model loaded", "backend", "first detection drawn"]


def _visit(context, base_url, snapshot_route=None):
    page = context.new_page()
    if snapshot_route is not None:
        page.route("**/pyodide-snapshot.bin", snapshot_route)
    try:
        page.goto(f"{base_url}/index.html?camera=0&backend=wasm-simd-threads&test=1")
        page.wait_for_function("window.webtensorApp !== undefined", timeout=30_000)
        page.evaluate("window.webtensorApp.ready.then(() => true)")
        page.click("#sample")
        page.wait_for_function("window.webtensorApp.startup.readyMs !== undefined", timeout=120_000)
        return page.evaluate("window.webtensorApp.startup")
    finally:
        page.close()


def test_startup_stages_cold_and_second_visit(browser, base_url):
    context = browser.new_context()
    try:
        runs = {"cold": _visit(context, base_url), "second visit": _visit(context, base_url)}
    finally:
        context.close()
    for label, startup in runs.items():
        stages = startup["stages"]
        print(f"\nstart-up, {label}: ready (first detection drawn) at {startup['readyMs']:.0f} ms; "
              f"Pyodide: {startup['pyodideBoot']}")
        for name, ms in stages:
            print(f"  {ms:8.0f} ms  {name}")
        names = [n for n, _ in stages]
        order = [next(i for i, n in enumerate(names) if n.startswith(s)) for s in STAGES]   # each reported
        assert order == sorted(order), names
        times = [stages[i][1] for i in order]
        assert times == sorted(times), stages
        assert "wheel fetched" in names
        assert startup["pyodideBoot"] == "snapshot", startup["pyodideBoot"]   # the build's snapshot restored
        assert "snapshot fetched" in names


@pytest.mark.parametrize("answer", ["missing", "cut", "other build"])
def test_without_a_usable_snapshot_python_boots_and_says_why(browser, built, base_url, answer):
    """A missing snapshot (HTTP 404), a cut one, or one made by another Pyodide build (its
    build id changed): the worker boots Python as usual, the page still detects, and the
    start-up says why."""
    real = (built / "pyodide-snapshot.bin").read_bytes()

    def route(r):
        if answer == "missing":
            r.fulfill(status=404, body="")
        elif answer == "cut":
            r.fulfill(status=200, body=real[:4096], content_type="application/octet-stream")
        else:   # the 32-byte build id follows the 16-byte header
            other = real[:16] + bytes(b ^ 0xFF for b in real[16:48]) + real[48:]
            r.fulfill(status=200, body=other, content_type="application/octet-stream")
    context = browser.new_context()
    try:
        startup = _visit(context, base_url, route)
    finally:
        context.close()
    boot = startup["pyodideBoot"]
    want = {"missing": "booted (no snapshot: pyodide-snapshot.bin HTTP 404)",
            "cut": f"booted (no snapshot: pyodide-snapshot.bin is 4096 bytes, the build made {len(real)})",
            "other build": "booted (snapshot refused: Snapshot build id mismatch"}[answer]
    assert boot.startswith(want), boot
    assert startup["readyMs"] > 0
