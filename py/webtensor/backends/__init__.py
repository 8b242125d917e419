"""Backends behind one small protocol: `run(plan, feeds) -> {key: array}`.

Each backend registers here with an availability probe; `backends()` lists
every known backend and, for the unavailable ones, why.
"""
from __future__ import annotations

from .. import native
from ..engine import engine
from ..errors import BackendError
from .numpy import NumpyBackend
from .wasm import WasmBackend, WasmSimdBackend, WasmSimdThreadsBackend
from .webgl import WebGLBackend
from .webgpu import WebGPUBackend

_REGISTRY = {"numpy": NumpyBackend, "wasm": WasmBackend, "wasm-simd": WasmSimdBackend,
             "wasm-simd-threads": WasmSimdThreadsBackend, "webgl": WebGLBackend, "webgpu": WebGPUBackend}
_instances: dict[str, object] = engine().backends   # shared with engine.memory(), which imports no backend
_current = "numpy"


def backends() -> dict[str, dict]:
    """{name: {"available": bool, "reason": str, "started": bool, "startup_ms": float | None}}
    for every backend webtensor has.  Native backends start on first use (set_backend,
    or a model's backend=...): `startup_ms` is that start's time (wasm compile and
    instantiation, thread pool, GL context)."""
    out = {}
    started = native.startup()
    for name, cls in _REGISTRY.items():
        ok, reason = cls.probe()
        st = started.get(name, {})
        out[name] = {"available": ok, "reason": reason, "started": name in _instances,
                     "startup_ms": st.get("ms")}
    return out


def get_backend_class(name: str):
    """The class registered for backend `name` (its probe, `asynchronous`...), nothing started."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; webtensor has {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def get_backend(name: str | None = None):
    name = name or _current
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; webtensor has {sorted(_REGISTRY)}")
    if name not in _instances:
        ok, reason = _REGISTRY[name].probe()
        if not ok:
            raise BackendError(f"backend {name!r} is unavailable here: {reason}")
        _instances[name] = _REGISTRY[name]()       # a native backend starts here (BackendError if it cannot)
    return _instances[name]


async def get_backend_async(name: str | None = None):
    """`get_backend` that first awaits an asynchronous start (WebGPU's device)."""
    name = name or _current
    if name in _REGISTRY and getattr(_REGISTRY[name], "asynchronous", False) and name not in _instances:
        ok, reason = _REGISTRY[name].probe()
        if not ok:
            raise BackendError(f"backend {name!r} is unavailable here: {reason}")
        await native.start_async(name)
    return get_backend(name)


# Where an unavailable backend's selection falls back to (and why it is said out loud).
FALLBACK = {"wasm-simd-threads": "wasm-simd", "wasm-simd": "wasm", "wasm": "numpy", "webgl": "wasm-simd-threads",
            "webgpu": "webgl"}


def set_backend(name: str, strict: bool = False) -> str:
    """Select the default backend for predict/execute and return the one selected.
    An unavailable backend falls back along FALLBACK (threads -> SIMD -> scalar ->
    numpy) with a printed line saying why; strict=True raises instead."""
    global _current
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; webtensor has {sorted(_REGISTRY)}")
    wanted = name
    while True:
        ok, reason = _REGISTRY[name].probe()
        if ok:
            try:
                get_backend(name)             # starts a native backend on its first use
                break
            except BackendError as e:
                ok, reason = False, str(e)
        if strict or name not in FALLBACK:
            raise BackendError(f"backend {name!r} is unavailable here: {reason}")
        print(f"webtensor: backend {name!r} is unavailable ({reason}); falling back to {FALLBACK[name]!r}")
        name = FALLBACK[name]
    _current = name
    if name != wanted:
        print(f"webtensor: using backend {name!r} instead of {wanted!r}")
    return name


async def set_backend_async(name: str, strict: bool = False) -> str:
    """`set_backend` that first awaits the start of backends that start asynchronously
    (WebGPU requests its adapter and device with promises); works for every backend.
    A failed start falls back like `set_backend`, with the reason."""
    try:
        await get_backend_async(name)
    except BackendError:
        pass                                  # remembered: set_backend below says why and falls back
    return set_backend(name, strict)


def current_backend_name() -> str:
    return _current
