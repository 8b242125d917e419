"""The native runtimes, shipped inside the wheel and started by Python on first use.

This folder is package data: the JS runtimes (`wasm_runtime.js`, `wasm_thread.js`,
`webgl_runtime.js`, `webgpu_runtime.js`), the three wasm modules `build.py` compiles (`webtensor-*.wasm`) and
`manifest.json` (the sha256 of each, written at build time).  Under Pyodide, the first
use of a native backend reads its files from the installed package, checks them
against the manifest, evaluates the JS runtime as a function body (`js.Function`) and
compiles the wasm from those bytes: any Pyodide app (a page's main thread, a Worker,
PyScript, JupyterLite) gets the native backends from `micropip.install` alone.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .._io import IN_BROWSER
from ..errors import BackendError

HERE = Path(__file__).resolve().parent
WASM_MODULES = {"wasm": "webtensor-wasm.wasm", "wasm-simd": "webtensor-wasm-simd.wasm",
                "wasm-simd-threads": "webtensor-wasm-simd-threads.wasm"}
SCRIPTS = ("wasm_runtime.js", "wasm_thread.js", "webgl_runtime.js", "webgpu_runtime.js")
RUNTIME_SCRIPT = {"webgl": "webgl_runtime.js", "webgpu": "webgpu_runtime.js"}   # others: wasm_runtime.js

_manifest: dict | None = None
_registries: dict[str, object] = {}       # script name -> the JS registry it returned
_runtimes: dict[str, object] = {}         # backend name -> started JS runtime
_startup: dict[str, dict] = {}            # backend name -> {"ok", "ms" | "reason"}


def manifest() -> dict[str, str]:
    global _manifest
    if _manifest is None:
        path = HERE / "manifest.json"
        if not path.is_file():
            raise BackendError("the installed webtensor has no webtensor/native/manifest.json: this wheel was built "
                               "without its native runtimes (build it with `python3 build.py build`)")
        try:
            _manifest = json.loads(path.read_text())
        except ValueError as e:
            raise BackendError(f"webtensor/native/manifest.json is corrupted: {e}") from None
    return _manifest


def data(name: str) -> bytes:
    """The bytes of one native file, checked against the manifest (a missing or corrupted
    file is a BackendError naming it, never a wasm compile error far from the cause)."""
    path = HERE / name
    if not path.is_file():
        raise BackendError(f"the installed webtensor is missing webtensor/native/{name} "
                           f"(rebuild the wheel with `python3 build.py build`)")
    raw = path.read_bytes()
    want = manifest().get(name)
    if want is None:
        raise BackendError(f"webtensor/native/{name} is not listed in webtensor/native/manifest.json")
    got = hashlib.sha256(raw).hexdigest()
    if got != want:
        raise BackendError(f"webtensor/native/{name} is corrupted: sha256 {got[:16]}... differs from the "
                           f"manifest's {want[:16]}... (reinstall the wheel)")
    return raw


def _registry(script: str):
    reg = _registries.get(script)
    if reg is None:
        import js
        source = data(script).decode()
        try:
            reg = js.Function(source)()
        except Exception as e:
            raise BackendError(f"webtensor/native/{script} does not evaluate in this browser: {e}") from None
        _registries[script] = reg
    return reg


def capability(name: str) -> tuple[bool, str]:
    """Whether backend `name` can start here, without starting it; once started (or once
    its start failed), what happened."""
    if not IN_BROWSER:
        return False, "needs a browser: the native kernels run under Pyodide"
    done = _startup.get(name)
    if done is not None:
        return (True, done["reason"]) if done["ok"] else (False, done["reason"])
    try:
        script = RUNTIME_SCRIPT.get(name, "wasm_runtime.js")
        reg = _registry(script)
        st = reg.capability() if name in RUNTIME_SCRIPT else reg.capability(name)
    except BackendError as e:
        return False, str(e)
    return bool(st.available), str(st.reason)


def start(name: str):
    """The started JS runtime of backend `name` (starting it on first call); raises
    BackendError with the reason when it cannot start.  Timed: see `startup()`."""
    rt = _runtimes.get(name)
    if rt is not None:
        return rt
    if name == "webgpu":
        raise BackendError("WebGPU starts asynchronously (its adapter and device come from promises): "
                           "call `await webtensor.set_backend_async('webgpu')`")
    done = _startup.get(name)
    if done is not None and not done["ok"]:
        raise BackendError(f"backend {name!r} failed to start: {done['reason']}")
    ok, reason = capability(name)
    if not ok:
        raise BackendError(f"backend {name!r} is unavailable here: {reason}")
    import js
    t0 = js.performance.now()
    try:
        if name == "webgl":
            rt = _registry("webgl_runtime.js").start()
            reason = f"WebGL2 on {rt.renderer}"
        else:
            from pyodide.ffi import to_js
            module = data(WASM_MODULES[name])
            helper = data("wasm_thread.js").decode() if name.endswith("threads") else None
            rt = _registry("wasm_runtime.js").start(name, to_js(module), helper, 0)
            where = "main thread" if bool(rt.stats().mainThread) else "worker"
            reason = f"{int(rt.threads)} threads ({where})" if name.endswith("threads") else "ready"
    except Exception as e:       # a missing file, a JS error: compile failure, no WebGL2, ...
        raise _start_failed(name, e) from None
    return _started(name, rt, reason, t0)


def _start_failed(name: str, e: Exception) -> BackendError:
    """Remember why backend `name` could not start (its fallback's reason); the error to raise."""
    if isinstance(e, BackendError):
        _startup[name] = {"ok": False, "reason": str(e)}
        return e
    msg = str(getattr(e, "message", None) or e).splitlines()[0]
    _startup[name] = {"ok": False, "reason": msg}
    print(f"webtensor: backend {name!r} failed to start: {msg}")
    return BackendError(f"backend {name!r} failed to start: {msg}")


def _started(name: str, rt, reason: str, t0: float):
    import js
    _startup[name] = {"ok": True, "reason": reason, "ms": round(float(js.performance.now() - t0), 2)}
    _runtimes[name] = rt
    return rt


async def start_async(name: str):
    """`start` for every backend, awaiting the ones whose start is asynchronous (WebGPU:
    adapter, then device); a lost WebGPU device is replaced by a new one."""
    if name != "webgpu":
        return start(name)
    rt = _runtimes.get(name)
    if rt is not None and not rt.lost:
        return rt
    ok, reason = capability(name) if rt is None else (True, "")
    if not ok:
        raise BackendError(f"backend {name!r} is unavailable here: {reason}")
    import js
    t0 = js.performance.now()
    try:
        rt = await _registry("webgpu_runtime.js").start()
    except Exception as e:       # no adapter, device request refused, ...
        raise _start_failed(name, e) from None
    return _started(name, rt, f"WebGPU on {rt.info}", t0)


def runtime(name: str):
    """The JS runtime of a started backend, or None (for tools and tests)."""
    return _runtimes.get(name)


def startup() -> dict[str, dict]:
    """{backend: {"ok", "reason", "ms"}} for every native backend that started or failed."""
    return {k: dict(v) for k, v in _startup.items()}


def thread_stats(reset: bool = False) -> dict | None:
    """What the wasm-simd-threads pool's barriers cost since the last reset: `runs` (programs
    or single kernels run), per thread `barriers` passed and `wait_ms` spent waiting in them
    (the thread that arrives last waits ~0).  None before the pool starts.  reset=True
    starts a new count after reading."""
    rt = _runtimes.get("wasm-simd-threads")
    if rt is None:
        return None
    st = rt.barrierStats().to_py()
    if reset:
        rt.resetBarrierStats()
    return {"threads": len(st["passed"]), "runs": int(st["runs"]), "barriers": [int(b) for b in st["passed"]],
            "wait_ms": [float(w) for w in st["waitMs"]]}


async def set_threads(n: int) -> int:
    """Size the wasm-simd-threads pool (starting it if needed) and wait until every
    helper thread is ready; returns the thread count."""
    rt = start("wasm-simd-threads")
    return int(await rt.setThreads(int(n)))

