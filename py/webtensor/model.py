"""GraphModel: the user-facing model (TF.js's GraphModel API, Pythonic names)."""
from __future__ import annotations


import numpy as np

from .backends import backends as list_backends, get_backend, get_backend_async, get_backend_class
from .engine import Tensor, TensorDisposedError, _tensors_in, engine, run_sync
from ._io import fetch_bytes, join_url, read_file
from .errors import InputError, ModelFormatError, WeightsError
from .graph import Graph, GraphModelFiles, TensorInfo, parse_graph_model
from .graph.ir import split_ref, tensor_key
from .graph.layers import parse_layers_model
from .graph.tflite import parse_tflite
from .graph.loader import load_json, manifest_entries, parse_model_json
from .graph.plan import Plan, compile_plan
from .ops import TensorSpec


class GraphModel:
    """A TF.js graph model: `predict(x)` or `execute({name: x}, [output names])`."""

    def __init__(self, graph: Graph, backend: str | None = None, optimize: bool = True):
        self.graph = graph
        self.backend_name = backend
        self.optimize = optimize      # False: no folding/fusion/memory reuse (to measure what they buy)
        self._plans: dict[tuple, Plan] = {}
        self.disposed = False
        self.quantization: dict | None = None   # set by webtensor.quantize on int8 models
        engine().models.add(self)
        # Compile once at load with any free (-1) dims set to 1: unknown ops and
        # shape errors surface now, naming the node, not at predict time.
        self.plan_for({i.key: self._default_shape(i) for i in self.inputs}, self.output_keys)

    # -- signature ---------------------------------------------------------------
    @property
    def inputs(self) -> list[TensorInfo]:
        return self.graph.inputs

    @property
    def outputs(self) -> list[TensorInfo]:
        return self.graph.outputs

    @property
    def output_keys(self) -> list[str]:
        return [o.key for o in self.outputs]

    @staticmethod
    def _default_shape(info: TensorInfo) -> tuple[int, ...]:
        if info.shape is None:
            raise ModelFormatError(f"input {info.name!r} has no known shape; pass inputs explicitly")
        return tuple(1 if d < 0 else d for d in info.shape)

    # -- planning ----------------------------------------------------------------
    def plan_for(self, shapes: dict[str, tuple[int, ...]], output_keys: list[str]) -> Plan:
        """The compiled plan for these input shapes: plans are cached per shape in a bounded
        LRU (webtensor.set_plan_cache_size); an evicted plan frees its backend memory."""
        cache_key = (tuple(sorted(shapes.items())), tuple(output_keys))
        plan = self._plans.pop(cache_key, None)
        if plan is None:
            dtype = {i.key: np.dtype(i.dtype) for i in self.inputs}
            specs = {k: TensorSpec(tuple(s), dtype[k]) for k, s in shapes.items()}
            plan = compile_plan(self.graph, specs, output_keys, fold=self.optimize)
        self._plans[cache_key] = plan              # (re)inserted last: the most recently used
        while len(self._plans) > engine().plan_cache_size:
            _release_plan(self._plans.pop(next(iter(self._plans))))
        return plan

    def report(self) -> dict:
        """What the model compiled to: per cached plan its summary and, on the active
        backend, kernel calls, fused nodes, numpy fallbacks and arena bytes."""
        backend = get_backend(self.backend_name)
        plans = []
        for p in self._plans.values():
            entry = p.summary()
            entry.update(backend.describe(p))
            plans.append(entry)
        return {"source": self.graph.source, "nodes": len(self.graph.nodes), "backend": backend.name,
                "plans": plans, "quantization": self.quantization, "fallbacks": sorted({f for p in plans for f in p.get("fallbacks", [])})}

    # -- memory --------------------------------------------------------------------
    def weight_bytes(self) -> int:
        return int(sum(v.nbytes for v in self.graph.consts.values()))

    def memory_plans(self) -> list[dict]:
        """Per compiled plan and backend: arena and weight bytes as laid out there."""
        out = []
        for p in self._plans.values():
            for name, cp in p.lowered.items():
                d = cp.describe()
                out.append({"backend": name, "arena_bytes": d["arena_bytes"],
                            "naive_activation_bytes": d["naive_activation_bytes"], "weight_bytes": d["weight_bytes"]})
        return out

    def dispose(self) -> None:
        """Free what the model holds on every backend (wasm memory, weights)."""
        if self.disposed:
            raise TensorDisposedError(f"{self.graph.source}: the model was already disposed")
        for p in self._plans.values():
            _release_plan(p)
        self._plans.clear()
        self.graph.consts.clear()
        self.disposed = True
        engine().models.discard(self)

    # -- inputs ------------------------------------------------------------------
    def _find_input(self, name: str) -> TensorInfo:
        for info in self.inputs:
            if name in (info.name, info.key, split_ref(info.key)[0]):
                return info
        raise InputError(f"{self.graph.source}: no model input named {name!r}; "
                         f"inputs are {[i.name for i in self.inputs]}")

    def _check_input(self, info: TensorInfo, value) -> np.ndarray:
        try:
            arr = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
        except TensorDisposedError:
            raise
        except Exception as e:
            raise InputError(f"input {info.name!r}: cannot convert {type(value).__name__} to an array ({e})") from None
        try:
            arr = np.asarray(arr)
        except Exception as e:
            raise InputError(f"input {info.name!r}: cannot convert {type(value).__name__} to an array ({e})") from None
        want = np.dtype(info.dtype)
        if arr.dtype != want:
            same_kind = (arr.dtype.kind == "f" and want.kind == "f") or \
                        (arr.dtype.kind in "iu" and want.kind in "iu") or (arr.dtype == want)
            if not same_kind:
                raise InputError(f"input {info.name!r} expects dtype {want.name}, got {arr.dtype.name}"
                                 f" (convert with .astype({want.name!r}))")
            arr = arr.astype(want)
        if info.shape is not None:
            ok = arr.ndim == len(info.shape) and all(w < 0 or w == g for w, g in zip(info.shape, arr.shape))
            if not ok:
                want_s = "[" + ", ".join("?" if d < 0 else str(d) for d in info.shape) + "]"
                raise InputError(f"input {info.name!r} expects shape {want_s}, got {list(arr.shape)}")
        return np.ascontiguousarray(arr)

    def _feeds(self, inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, dict):
            feeds = {}
            for name, value in inputs.items():
                info = self._find_input(name)
                feeds[info.key] = self._check_input(info, value)
            missing = [i.name for i in self.inputs if i.key not in feeds]
            if missing:
                raise InputError(f"{self.graph.source}: missing inputs {missing}")
            return feeds
        if isinstance(inputs, (list, tuple)) and len(self.inputs) > 1:
            if len(inputs) != len(self.inputs):
                raise InputError(f"{self.graph.source}: expected {len(self.inputs)} inputs, got {len(inputs)}")
            return {i.key: self._check_input(i, v) for i, v in zip(self.inputs, inputs)}
        if len(self.inputs) != 1:
            raise InputError(f"{self.graph.source}: the model has {len(self.inputs)} inputs; pass a dict")
        return {self.inputs[0].key: self._check_input(self.inputs[0], inputs)}

    def _output_key(self, name: str) -> str:
        for info in self.outputs:
            if name in (info.name, info.key, split_ref(info.key)[0]):
                return info.key
        node_name, _ = split_ref(name)
        if any(n.name == node_name for n in self.graph.nodes):
            return tensor_key(name)
        raise InputError(f"{self.graph.source}: no tensor named {name!r} in the graph")

    # -- running -----------------------------------------------------------------
    def execute(self, inputs, outputs=None):
        """Run the graph; `outputs` are tensor or signature names (default: all outputs).
        Returns one array for a single name given as a string, else a list."""
        plan, feeds, finish = self._prepare(inputs, outputs)
        return finish(get_backend(self.backend_name).run(plan, feeds))

    async def execute_async(self, inputs, outputs=None):
        """`execute` that awaits the backend's results: the way to run on WebGPU (whose
        readback is asynchronous), and the same results on every other backend."""
        plan, feeds, finish = self._prepare(inputs, outputs)
        backend = await get_backend_async(self.backend_name)
        run_async = getattr(backend, "run_async", None)
        return finish(await run_async(plan, feeds) if run_async else backend.run(plan, feeds))

    def _prepare(self, inputs, outputs):
        if self.disposed:
            raise TensorDisposedError(f"{self.graph.source}: the model was disposed")
        single = isinstance(outputs, str)
        names = [outputs] if single else (list(outputs) if outputs is not None else None)
        keys = self.output_keys if names is None else [self._output_key(n) for n in names]
        as_tensors = bool(_tensors_in(inputs))      # Tensors in -> Tensors out, like TF.js
        feeds = self._feeds(inputs)
        plan = self.plan_for({k: v.shape for k, v in feeds.items()}, keys)

        def finish(result):
            values = [result[k] for k in keys]
            if as_tensors:
                values = [Tensor(v, name=k) for k, v in zip(keys, values)]
            return values[0] if single or (names is None and len(values) == 1) else values
        return plan, feeds, finish

    def predict(self, x):
        """Like TF.js predict: one array for a single-output model, else a list in
        signature order."""
        return self.execute(x)

    async def predict_async(self, x):
        """`predict` that awaits the backend (required on WebGPU, fine everywhere)."""
        return await self.execute_async(x)


def _release_plan(plan: Plan) -> None:
    """Free what every backend compiled for `plan` (wasm blocks, textures)."""
    for cp in plan.lowered.values():
        cp.dispose()
    plan.lowered.clear()


def _shard_paths(doc: dict, url: str) -> list[str]:
    seen: list[str] = []
    for paths, _ in manifest_entries(doc, url):
        seen.extend(p for p in paths if p not in seen)
    return seen


async def _fetch_files(url: str, read) -> GraphModelFiles:
    """model.json and every shard it names; `read` is an async or sync byte reader."""
    import inspect

    async def get(u):
        data = read(u)
        return await data if inspect.isawaitable(data) else data
    try:
        text = await get(url)
    except OSError as e:
        raise ModelFormatError(f"{url}: cannot load model.json ({e})") from None
    doc = load_json(text, url)
    shards = {}
    for p in _shard_paths(doc, url):
        try:
            shards[p] = await get(join_url(url, p))
        except OSError as e:
            raise WeightsError(f"{url}: weight shard {p!r} is missing or unreadable ({e})") from None
    return GraphModelFiles(doc, shards, url)


def _graph_model(files: GraphModelFiles, source: str, backend, optimize) -> GraphModel:
    doc = parse_model_json(files.model_json, source)
    model = GraphModel(parse_graph_model(files), backend, optimize)
    meta = doc.get("userDefinedMetadata")
    if isinstance(meta, dict) and isinstance(meta.get("webtensor_quantization"), dict):
        model.quantization = dict(meta["webtensor_quantization"])      # saved by save_graph_model
    return model


_SYNC_LOAD = "synchronous loading awaited something"


async def load_graph_model(url: str, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Load a TF.js graph model from a URL (browser) or a URL/path (CPython).
    optimize=False turns the graph passes off (folding, fusion, memory reuse)."""
    return _graph_model(await _fetch_files(url, fetch_bytes), url, backend, optimize)


async def load_layers_model(url: str, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Load a TF.js layers model (Keras-converted) into the same graph IR."""
    return GraphModel(parse_layers_model(await _fetch_files(url, fetch_bytes)), backend, optimize)


def read_graph_model(path, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Synchronous loading of a graph model from a file path (CPython)."""
    return _graph_model(run_sync(_fetch_files(str(path), read_file), _SYNC_LOAD), str(path), backend, optimize)


def read_layers_model(path, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Synchronous loading of a layers model from a file path (CPython)."""
    return GraphModel(parse_layers_model(run_sync(_fetch_files(str(path), read_file), _SYNC_LOAD)), backend, optimize)


async def load_tflite_model(url: str, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Load a .tflite model (TFLite / LiteRT, e.g. MediaPipe's) from a URL (browser) or a
    URL/path (CPython) into the same model object as the graph-model loaders."""
    try:
        data = await fetch_bytes(url)
    except OSError as e:
        raise ModelFormatError(f"{url}: cannot load the .tflite file ({e})") from None
    return GraphModel(parse_tflite(data, url), backend, optimize)


def read_tflite_model(path, backend: str | None = None, optimize: bool = True) -> GraphModel:
    """Synchronous loading of a .tflite model from a file path (CPython)."""
    try:
        data = read_file(str(path))
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot load the .tflite file ({e})") from None
    return GraphModel(parse_tflite(data, str(path)), backend, optimize)


def select_backend(model: GraphModel, sample, runs: int = 5, warmup: int = 2) -> list[dict]:
    """Measure `model` on every available backend (median of `runs` after `warmup`),
    set the fastest as the model's backend, and return the table (fastest first).
    Backends that answer asynchronously (WebGPU) are listed with the reason and measured
    by `await select_backend_async(...)` instead."""
    return run_sync(select_backend_async(model, sample, runs, warmup, include_async=False),
                    "select_backend: a backend suspended; use select_backend_async")


async def select_backend_async(model: GraphModel, sample, runs: int = 5, warmup: int = 2,
                               include_async: bool = True) -> list[dict]:
    """`select_backend` over every available backend, WebGPU included (awaited)."""
    import time as _t
    table = []
    for name, info in list_backends().items():
        if not info["available"]:
            table.append({"backend": name, "available": False, "reason": info["reason"]})
            continue
        if not include_async and getattr(get_backend_class(name), "asynchronous", False):
            table.append({"backend": name, "available": True,
                          "reason": "answers asynchronously: measured by `await webtensor.select_backend_async(...)`"})
            continue
        model.backend_name = name
        try:
            for _ in range(warmup):
                await model.predict_async(sample)
            ms = []
            for _ in range(runs):
                t0 = _t.perf_counter()
                await model.predict_async(sample)
                ms.append((_t.perf_counter() - t0) * 1e3)
            table.append({"backend": name, "available": True, "median_ms": sorted(ms)[len(ms) // 2]})
        except Exception as e:  # a backend that fails is reported, not chosen
            table.append({"backend": name, "available": True, "error": f"{type(e).__name__}: {e}"})
    ok = sorted((r for r in table if "median_ms" in r), key=lambda r: r["median_ms"])
    model.backend_name = ok[0]["backend"] if ok else None
    return ok + [r for r in table if "median_ms" not in r]
