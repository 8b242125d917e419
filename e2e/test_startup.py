"""Start-up (issue 16): the live page records when each stage finished, in ms since its
navigation began; cold (an empty HTTP cache) and on a second visit (the same browser
profile).  The stages are printed; only their order and presence are asserted (tests never
assert times)."""
import io
import zipfile

import pytest

from tools.session import startup_visit

STAGES = ["worker started", "pyodide ready", "wheel installed", "numpy loaded", "webtensor imported",
          "worker ready", "backend", "model loaded", "first detection drawn"]


def test_startup_stages_cold_and_second_visit(browser, base_url):
    context = browser.new_context()
    try:
        runs = {"cold": startup_visit(context, base_url), "second visit": startup_visit(context, base_url)}
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
        assert "numpy inflated" in names          # numpy's wheel unpacked in JS, not by Pyodide
        assert startup["pyodideBoot"] == "snapshot", startup["pyodideBoot"]   # the build's snapshot restored
        assert "snapshot fetched" in names
    # the build's unchanging files: fetched on the cold visit (numpy's wheel once: the worker's second
    # read of it, Pyodide's, finds it cached), read from the Cache API on the second
    print(f"read from the build's cache: cold {runs['cold']['fromCache']}, second visit {runs['second visit']['fromCache']}")
    assert not {"pyodide-snapshot.bin", "pyodide.asm.wasm", "python_stdlib.zip"} & set(runs["cold"]["fromCache"])
    assert set(runs["second visit"]["fromCache"]) >= {"pyodide-snapshot.bin", "pyodide.asm.wasm", "python_stdlib.zip",
                                                      "numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl"}


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
        startup = startup_visit(context, base_url, snapshot_route=route)
    finally:
        context.close()
    boot = startup["pyodideBoot"]
    want = {"missing": "booted (no snapshot: pyodide-snapshot.bin HTTP 404)",
            "cut": f"booted (no snapshot: pyodide-snapshot.bin is 4096 bytes, the build made {len(real)})",
            "other build": "booted (snapshot refused: Snapshot build id mismatch"}[answer]
    assert boot.startswith(want), boot
    assert startup["readyMs"] > 0


def _zip(entries, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_the_workers_unzip_inflates_wheels_and_refuses_bad_ones(browser, base_url):
    """web/unzip.js (how the worker unpacks webtensor's and numpy's wheels): stored and
    deflated entries come back byte for byte; a path leaving the target directory, a damaged
    deflate stream, a changed byte (CRC-32) and a file that is no zip are errors naming the archive and the entry."""
    big = bytes(range(256)) * 4000 + b"tail"          # several deflate blocks, >1 output chunk
    good = {"pkg/__init__.py": b"x = 1\n", "pkg/data.bin": big, "pkg-1.0.dist-info/RECORD": b""}
    cases = {
        "deflated": _zip(good.items()),
        "stored": _zip(good.items(), zipfile.ZIP_STORED),
        "escape": _zip([("pkg/../../etc/passwd", b"root")]),
        "absolute": _zip([("/etc/passwd", b"root")]),
        "not a zip": b"PK" + bytes(100),
    }
    damaged = bytearray(cases["deflated"])
    at = damaged.index(b"pkg/data.bin") + len("pkg/data.bin") + 200      # inside its deflate stream
    damaged[at:at + 64] = bytes(64)
    cases["damaged"] = bytes(damaged)
    flipped = bytearray(_zip(good.items(), zipfile.ZIP_STORED))    # same length, one byte changed
    flipped[flipped.index(b"x = 1")] = ord("y")
    cases["flipped"] = bytes(flipped)
    page = browser.new_page()
    try:
        page.goto(f"{base_url}/index.html?camera=0&backend=numpy")
        page.add_script_tag(url="unzip.js")
        got = page.evaluate("""async (cases) => {
            const out = {};
            for (const [label, bytes] of Object.entries(cases)) {
              try {
                const files = await inflateZip(new Uint8Array(bytes), label);
                out[label] = { files: files.map(([n, d]) => [n, Array.from(d.subarray(0, 8)), d.length]) };
              } catch (e) { out[label] = { error: e.message }; }
            }
            return out;
        }""", {k: list(v) for k, v in cases.items()})
    finally:
        page.close()
    want = sorted([n, list(d[:8]), len(d)] for n, d in good.items())
    assert sorted(got["deflated"]["files"]) == want, got["deflated"]
    assert sorted(got["stored"]["files"]) == want, got["stored"]
    assert got["escape"]["error"] == 'escape: unsafe path "pkg/../../etc/passwd"', got["escape"]
    assert got["absolute"]["error"] == 'absolute: unsafe path "/etc/passwd"', got["absolute"]
    assert got["not a zip"]["error"].startswith("not a zip: not a zip archive"), got["not a zip"]
    assert got["damaged"]["error"].startswith("damaged: pkg/data.bin"), got["damaged"]
    assert got["flipped"]["error"] == "flipped: pkg/__init__.py fails its CRC-32 check", got["flipped"]


def test_zip_importers_still_see_a_changed_archive(browser, base_url):
    """The worker lets a zipimporter skip re-reading an unchanged archive on
    importlib.invalidate_caches() (its stamp: size and mtime); a changed one is still re-read,
    so a module added to a zip on sys.path imports after invalidate_caches(), as in CPython."""
    from tools.session import open_app
    page, _ = open_app(browser, base_url)
    try:
        got = page.evaluate("(c) => window.webtensorApp.python(c)", """
import importlib, json, os, sys, time, zipfile
path = "/tmp/extra.zip"
with zipfile.ZipFile(path, "w") as z:
    z.writestr("first_mod.py", "X = 1")
sys.path.append(path)
import first_mod
importlib.invalidate_caches()       # the archive is now one the worker's importers know
time.sleep(0.01)
with zipfile.ZipFile(path, "a") as z:
    z.writestr("second_mod.py", "Y = 2")
os.utime(path)
importlib.invalidate_caches()
import second_mod
stdlib_importers = sum(1 for k in sys.path_importer_cache if k.startswith("/lib/python312.zip"))
json.dumps([first_mod.X, second_mod.Y, stdlib_importers])
""")
    finally:
        page.close()
    x, y, importers = __import__("json").loads(got)
    assert (x, y) == (1, 2)
    assert importers > 5          # the case the worker's change is for: many importers of one zip
