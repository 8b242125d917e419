"""The wheel alone is enough (issue 11): bare Pyodide hosts that load nothing of webtensor
but its wheel (e2e/pages/: a page's main thread, a Worker) get every native backend (WebGPU
through set_backend_async / execute_async),
started by Python from the installed package data, with numpy's results."""
import json
import shutil
from pathlib import Path

import pytest

from tools.server import start_background

PAGES = Path(__file__).resolve().parent / "pages"

EVERY_BACKEND = """
import json, asyncio, numpy as np, webtensor
names = ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0']
model = await webtensor.load_graph_model('/models/blazeface.json')
x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
before = webtensor.backends()
webtensor.set_backend('numpy')
ref = model.execute(x, names)
out = {}
for be in ['wasm', 'wasm-simd', 'wasm-simd-threads', 'webgl']:
    chosen = webtensor.set_backend(be)
    got = model.execute(x, names)
    out[be] = {"chosen": chosen, "err": max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref))}
threads = None
if webtensor.backends()['wasm-simd-threads']['available']:
    # the pool's helpers start once the host returns to its event loop: then runs use them
    await webtensor.set_threads(2)
    webtensor.set_backend('wasm-simd-threads')
    got = model.execute(x, names)
    st = webtensor.native.runtime('wasm-simd-threads').stats()
    threads = {"ready": int(st.readyThreads), "main_thread": bool(st.mainThread),
               "err": max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref))}
chosen = await webtensor.set_backend_async('webgpu')
got = await model.execute_async(x, names)
out['webgpu'] = {"chosen": chosen, "err": max(float(np.max(np.abs(g - r))) for g, r in zip(got, ref))}
json.dumps({"before": before, "after": webtensor.backends(), "out": out, "threads": threads})
"""


def run_in(page, code: str):
    return json.loads(page.evaluate("(code) => window.run(code)", code))


@pytest.fixture(scope="module")
def pages_root(built):
    """e2e/pages served from dist/_pages (beside the wheel, Pyodide and the models)."""
    d = built / "_pages"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(PAGES, d)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def plain_server(built, pages_root):
    """The web root without COOP/COEP: a page that is not cross-origin isolated."""
    server, base = start_background(built, isolated=False)
    yield base
    server.shutdown()
    server.server_close()


def _check_native(r, threads: bool):
    for be in ("wasm", "wasm-simd", "webgl", "webgpu"):
        assert r["before"][be]["available"] and not r["before"][be]["started"], (be, r["before"][be])
        assert r["out"][be]["chosen"] == be, (be, r["out"][be], r["after"][be])
        assert r["out"][be]["err"] <= 1e-4, (be, r["out"][be])
        assert r["after"][be]["started"] and r["after"][be]["startup_ms"] > 0, r["after"][be]
    if threads:
        assert r["out"]["wasm-simd-threads"]["chosen"] == "wasm-simd-threads"
        assert r["out"]["wasm-simd-threads"]["err"] <= 1e-4
        assert r["threads"]["ready"] == 2 and r["threads"]["err"] <= 1e-4, r["threads"]
        assert r["after"]["wasm-simd-threads"]["startup_ms"] > 0


@pytest.mark.parametrize("host,main_thread", [("main.html", True), ("worker.html", False)])
def test_every_backend_from_the_wheel(browser, base_url, pages_root, host, main_thread):
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/_pages/{host}")
        r = run_in(page, EVERY_BACKEND)
    finally:
        page.close()
    _check_native(r, threads=True)
    # a page's main thread cannot block: there thread 0 spins at the barriers instead
    assert r["threads"]["main_thread"] is main_thread


def test_page_without_isolation_and_a_damaged_install(browser, plain_server, pages_root):
    page = browser.new_page()
    try:
        page.goto(f"{plain_server}/_pages/main.html")
        r = run_in(page, EVERY_BACKEND)
        damaged = run_in(page, """
import json, webtensor
from pathlib import Path
here = Path(webtensor.native.__file__).parent
found = {}
# a fresh start of each: forget what started
webtensor.native._startup.clear(); webtensor.native._runtimes.clear(); webtensor.native._registries.clear()
webtensor.engine.engine().backends.clear()
(here / 'webtensor-wasm.wasm').write_bytes(b'\\0asm garbage')
(here / 'webgl_runtime.js').unlink()
for be in ('wasm', 'webgl'):
    try:
        webtensor.set_backend(be, strict=True)
        found[be] = None
    except webtensor.WebtensorError as e:
        found[be] = [type(e).__name__, str(e)]
found['fallback'] = webtensor.set_backend('wasm')
json.dumps(found)
""")
    finally:
        page.close()
    assert r["before"]["wasm-simd-threads"]["available"] is False
    assert "cross-origin isolated" in r["before"]["wasm-simd-threads"]["reason"]
    assert r["out"]["wasm-simd-threads"]["chosen"] == "wasm-simd"
    _check_native(r, threads=False)
    assert damaged["wasm"][0] == "BackendError" and "webtensor-wasm.wasm is corrupted" in damaged["wasm"][1]
    assert damaged["webgl"][0] == "BackendError" and "missing webtensor/native/webgl_runtime.js" in damaged["webgl"][1]
    assert damaged["fallback"] == "numpy"


def test_pyscript_example_finds_the_face(browser, base_url):
    """examples/pyscript: PyScript (npm @pyscript/core) on our Pyodide, webtensor from its wheel."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base_url}/examples/pyscript/index.html")
        page.wait_for_function("document.body.dataset.faces !== undefined", timeout=120_000)
        faces = page.evaluate("document.body.dataset.faces")
        status = page.evaluate("document.getElementById('status').textContent")
        drawn = page.evaluate("""() => { const c = document.getElementById('overlay');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 1; i < d.length; i += 4) n += d[i] === 0xe0; return n; }""")
    finally:
        page.close()
    assert faces == "1", (status, errors)
    assert "backend wasm-simd" in status
    assert drawn > 100          # the green box is on the overlay
    assert not errors
