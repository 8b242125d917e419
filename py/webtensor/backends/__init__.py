"""Backends behind one small protocol: `run(plan, feeds) -> {key: array}`.

Each backend registers here with an availability probe; `backends()` lists
every known backend and, for the unavailable ones, why.
"""
from __future__ import annotations

from ..errors import BackendError
from .numpy import NumpyBackend
from .wasm import WasmBackend, WasmSimdBackend, WasmSimdThreadsBackend

_REGISTRY = {"numpy": NumpyBackend, "wasm": WasmBackend, "wasm-simd": WasmSimdBackend,
             "wasm-simd-threads": WasmSimdThreadsBackend}
_instances: dict[str, object] = {}
_current = "numpy"


def backends() -> dict[str, dict]:
    """{name: {"available": bool, "reason": str}} for every backend webtensor has."""
    out = {}
    for name, cls in _REGISTRY.items():
        ok, reason = cls.probe()
        out[name] = {"available": ok, "reason": reason}
    return out


def get_backend(name: str | None = None):
    name = name or _current
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; webtensor has {sorted(_REGISTRY)}")
    if name not in _instances:
        ok, reason = _REGISTRY[name].probe()
        if not ok:
            raise BackendError(f"backend {name!r} is unavailable here: {reason}")
        _instances[name] = _REGISTRY[name]()
    return _instances[name]


def set_backend(name: str) -> None:
    """Select the default backend for predict/execute (raises if unavailable)."""
    global _current
    get_backend(name)
    _current = name


def current_backend_name() -> str:
    return _current
