"""JupyterLite (`build.py lite`): examples/face-detection.ipynb runs headless, all cells, in
the Pyodide kernel (jupyterlite-pyodide-kernel on our Pyodide 0.27.7, offline), webtensor
from its wheel: the face drawn inline, the memory table, the profile chart."""
import pytest


def test_face_detection_notebook_runs(browser, base_url, built):
    if not (built / "lite" / "notebooks" / "index.html").exists():
        pytest.fail("dist/lite/ is not built: run `python3 build.py lite` (`build.py test` does)")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{base_url}/lite/notebooks/index.html?path=face-detection.ipynb")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        page.wait_for_selector(".lm-MenuBar-itemLabel:text-is('Run')", timeout=60_000)
        page.wait_for_timeout(2000)          # the kernel connects
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        page.wait_for_function("document.querySelector('#webtensor-memory') && "
                               "document.querySelectorAll('.jp-OutputArea-output img').length >= 2", timeout=300_000)
        outputs = page.evaluate("[...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent)")
        memory_rows = page.evaluate("[...document.querySelectorAll('#webtensor-memory tr')].map(r => r.textContent)")
        page.screenshot(path=str(built.parent / "artifacts" / "jupyterlite.png"), full_page=True)
    finally:
        page.close()
    text = "\n".join(outputs)
    # (JupyterLab's own UI code may log a page error in headless runs; the cells' outputs are
    # what this test judges, and they carry any Python error as a traceback)
    assert "faces found: 1" in text, (text, errors)
    assert "Traceback" not in text and "Error" not in text, text
    chosen = next(line for line in text.splitlines() if line.startswith("using "))
    assert chosen.split()[1] in ("wasm", "wasm-simd", "wasm-simd-threads", "webgl"), chosen
    assert any(r.startswith("backend wasm") for r in memory_rows), memory_rows
