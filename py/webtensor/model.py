"""GraphModel: the user-facing model (TF.js's GraphModel API, Pythonic names)."""
from __future__ import annotations


import numpy as np

from .backends import backends as list_backends, get_backend, get_backend_async, get_backend_class
from .engine import KernelRecord, Tensor, TensorDisposedError, _tensors_in, engine, run_sync
from ._io import fetch_bytes, join_url, read_file
from .errors import InputError, ModelFormatError, WebtensorError, WeightsError, wrap_backend_error
from .graph import Graph, GraphModelFiles, TensorInfo, parse_graph_model
from .graph.control import SPECIALISE_ELEMENTS
from .graph.ir import Node, split_ref, tensor_key
from .graph.layers import parse_layers_model
from .graph.tflite import parse_tflite
from .graph.loader import load_json, manifest_entries, parse_model_json
from .graph.control import Group, Interpreter, Program, interpreted_why, needs_interpreter
from .graph.plan import Plan, compile_plan, needed_nodes
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
        self._programs: dict[tuple, Program] = {}        # output keys -> control-flow program
        self._group_plans: dict[int, dict] = {}           # id(group) -> its plans per input shape (LRU)
        self._group_notes: dict[int, str] = {}            # id(group) -> why it runs on numpy
        self._fast: _FastPath | None = None               # execute(x)'s path while nothing changes
        engine().models.add(self)
        if self.program_for(self.output_keys) is not None:
            return        # control flow: its structure was checked; shapes are known as it runs
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
        LRU (webtensor.set_plan_cache_size); an evicted plan frees its backend memory.
        Results come back by name, so the outputs' order is not part of the key: a detector
        asking for all outputs in its own order runs the plan compiled at load."""
        def build():
            dtype = {i.key: np.dtype(i.dtype) for i in self.inputs}
            specs = {k: TensorSpec(tuple(s), dtype[k]) for k, s in shapes.items()}
            return compile_plan(self.graph, specs, output_keys, fold=self.optimize)
        return _lru(self._plans, _plan_key(shapes, output_keys), build)

    def program_for(self, output_keys: list[str]) -> Program | None:
        """The control-flow program for these outputs, or None when the nodes they need are
        all plain (one static plan, the fast path)."""
        key = tuple(output_keys)
        if key not in self._programs:
            need = needed_nodes(self.graph.nodes, list(output_keys))
            nodes = [n for n in self.graph.nodes if n.name in need]
            self._programs[key] = (Program(nodes, self.graph.consts, [i.key for i in self.inputs],
                                           list(output_keys), self.graph.source, self.graph.library)
                                   if needs_interpreter(nodes) else None)
        return self._programs[key]

    def group_plan(self, group: Group, feeds: dict) -> tuple[Plan | None, dict]:
        """A heavy group's static plan for these input shapes (small integer inputs compiled
        in as constants), cached per group; (None, _) when it cannot be planned (then it runs
        on numpy, and report() says why)."""
        arrays = {k: np.asarray(v) for k, v in feeds.items()}
        fixed = {k: v for k, v in arrays.items() if v.dtype.kind in "biu" and v.size <= SPECIALISE_ELEMENTS}
        runtime = {k: v for k, v in arrays.items() if k not in fixed}

        def build():
            try:
                return compile_plan(_group_graph(group, self.graph.consts, runtime, fixed),
                                    {f"{k}:0": TensorSpec(v.shape, v.dtype) for k, v in runtime.items()},
                                    group.outputs, fold=self.optimize)
            except ModelFormatError as e:
                self._group_notes[id(group)] = str(e)
                return None
        cache_key = (tuple((k, v.shape, v.dtype.str) for k, v in runtime.items()),
                     tuple((k, v.shape, v.dtype.str, v.tobytes()) for k, v in fixed.items()))
        plan = _lru(self._group_plans.setdefault(id(group), {}), cache_key, build)   # groups live as long as their program
        return plan, {f"{k}:0": v for k, v in runtime.items()}

    def report(self) -> dict:
        """What the model compiled to: per cached plan its summary and, on the active
        backend, kernel calls, fused nodes, numpy fallbacks and arena bytes.  A model with
        control flow adds `control_flow`: its loops, its groups (native plans or numpy) and
        each op the interpreter runs on numpy, with why."""
        backend = get_backend(self.backend_name)
        plans = []
        for p in self._all_plans():
            entry = p.summary()
            entry.update(backend.describe(p))
            plans.append(entry)
        fallbacks = {f for p in plans for f in p.get("fallbacks", [])}
        out = {"source": self.graph.source, "nodes": len(self.graph.nodes), "backend": backend.name,
               "plans": plans, "quantization": self.quantization}
        programs = [p for p in self._programs.values() if p is not None]
        if programs:
            out["control_flow"] = _describe_programs(programs, self._group_notes)
            fallbacks |= {e["op"] for e in out["control_flow"]["numpy_ops"]}
        out["fallbacks"] = sorted(fallbacks)
        return out

    def _all_plans(self):
        yield from self._plans.values()
        for plans in self._group_plans.values():
            yield from (p for p in plans.values() if p is not None)

    # -- memory --------------------------------------------------------------------
    def weight_bytes(self) -> int:
        return int(sum(v.nbytes for v in self.graph.consts.values()))

    def memory_plans(self) -> list[dict]:
        """Per compiled plan and backend: arena and weight bytes as laid out there."""
        out = []
        for p in self._all_plans():
            for name, cp in p.lowered.items():
                d = cp.describe()
                out.append({"backend": name, "arena_bytes": d["arena_bytes"],
                            "naive_activation_bytes": d["naive_activation_bytes"], "weight_bytes": d["weight_bytes"]})
        return out

    def dispose(self) -> None:
        """Free what the model holds on every backend (wasm memory, weights)."""
        if self.disposed:
            raise TensorDisposedError(f"{self.graph.source}: the model was already disposed")
        for p in list(self._all_plans()):
            _release_plan(p)
        self._plans.clear()
        self._group_plans.clear()
        self._fast = None
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
        if self._fast is not None and type(inputs) is np.ndarray:
            got = self._fast(self, inputs, outputs)
            if got is not None:
                return got
        plan, feeds, finish = self._prepare(inputs, outputs)
        backend = get_backend(self.backend_name)
        if isinstance(plan, Program):
            return finish(run_sync(Interpreter(plan, _Groups(self, backend)).run(feeds),
                                   f"{backend.name}: this backend's results come back asynchronously; "
                                   f"use execute_async"))
        result = finish(backend.run(plan, feeds))
        if type(inputs) is np.ndarray and len(self.inputs) == 1:
            self._fast = _FastPath.make(self, backend, plan, feeds, outputs)
        return result

    async def execute_async(self, inputs, outputs=None):
        """`execute` that awaits the backend's results: the way to run on WebGPU (whose
        readback is asynchronous), and the same results on every other backend."""
        plan, feeds, finish = self._prepare(inputs, outputs)
        backend = await get_backend_async(self.backend_name)
        if isinstance(plan, Program):
            return finish(await Interpreter(plan, _Groups(self, backend)).run(feeds))
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
        plan = self.program_for(keys) or self.plan_for({k: v.shape for k, v in feeds.items()}, keys)

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


class _FastPath:
    """`execute(x)` / `predict(x)` for a model of one input given as an array of the planned
    dtype and shape, C-contiguous: the compiled plan's one interop call with nothing around
    it.  The layers it skips (input checks and conversion, plan lookup, the runner's shell)
    are cheap warm but cost ~0.2 ms a call on BlazeFace, run cold in cache after the
    kernels.  It applies only while each of them would do nothing: the same backend, the
    same plan still cached and compiled there (an evicted or disposed plan's memory is
    gone), no profile(), time() or memory guards; else the full path runs (and makes a new
    one)."""

    def __init__(self, backend, plan_key, plan, cp, run, dtype, shape, names, single):
        self.backend, self.plan_key, self.plan, self.cp, self.run = backend, plan_key, plan, cp, run
        self.dtype, self.shape, self.names, self.single = dtype, shape, names, single

    @staticmethod
    def _names(outputs):
        """execute's `outputs` as a key: None, a name, or a tuple of names (False for any
        other kind of argument, which the full path reads)."""
        if outputs is None or type(outputs) is str:
            return outputs
        return tuple(outputs) if type(outputs) in (list, tuple) else False

    @staticmethod
    def make(model: GraphModel, backend, plan: Plan, feeds: dict, outputs) -> "_FastPath | None":
        make_runner = getattr(backend, "fast_runner", None)
        if make_runner is None:
            return None
        names = _FastPath._names(outputs)
        if names is False:
            return None
        keys = (model.output_keys if names is None else
                [model._output_key(names)] if isinstance(names, str) else [model._output_key(n) for n in names])
        made = make_runner(plan, keys)
        if made is None:
            return None
        (key, x), = feeds.items()
        cp, run = made
        if np.dtype(model.inputs[0].dtype) != cp.stored_dtype(key):
            return None                       # bool inputs are stored as int32: converted each call
        single = isinstance(names, str) or (names is None and len(keys) == 1)
        return _FastPath(backend, _plan_key({key: x.shape}, keys), plan, cp, run, x.dtype, x.shape, names, single)

    def __call__(self, model: GraphModel, x: np.ndarray, outputs):
        eng = engine()
        if (x.dtype != self.dtype or x.shape != self.shape or not x.flags.c_contiguous or model.disposed
                or (outputs is not self.names and self._names(outputs) != self.names)
                or eng.recorder is not None or eng.timings is not None or self.cp.per_op_only()
                or get_backend(model.backend_name) is not self.backend
                or model._plans.get(self.plan_key) is not self.plan
                or self.plan.lowered.get(self.backend.name) is not self.cp):
            return None
        model._plans[self.plan_key] = model._plans.pop(self.plan_key)      # most recently used, as _lru does
        try:
            values = self.run(x)
        except WebtensorError:
            raise
        except Exception as e:
            raise wrap_backend_error(e, f"{model.graph.source} on {self.backend.name}") from None
        return values[0] if self.single else values


class _Groups:
    """The interpreter's executor: a heavy group runs as a static plan on the model's
    backend (awaited where the backend answers asynchronously)."""

    def __init__(self, model: GraphModel, backend):
        self.model, self.backend = model, backend

    async def run_group(self, group: Group, feeds: dict):
        plan, runtime = self.model.group_plan(group, feeds)
        if plan is None:
            return None
        run_async = getattr(self.backend, "run_async", None)
        return await run_async(plan, runtime) if run_async else self.backend.run(plan, runtime)

    def record(self, node, ins, outs, ms):
        rec = engine().recorder
        if rec is not None:
            rec.append(KernelRecord(f"numpy:{node.op}", node.name, [list(np.shape(v)) for v in ins
                                                                    if isinstance(v, np.ndarray)],
                                    [list(np.shape(v)) for v in outs if isinstance(v, np.ndarray)], ms,
                                    int(sum(v.nbytes for v in outs if isinstance(v, np.ndarray)))))


def _group_graph(group: Group, consts: dict, runtime: dict, fixed: dict) -> Graph:
    """A group as a graph of its own: its runtime inputs as Placeholders named by the key
    they replace, its small integer inputs as constants, the constants it reads."""
    nodes, sub_consts = [], {}
    for k, v in runtime.items():
        nodes.append(Node(k, "Placeholder", [], {"dtype": v.dtype, "shape": list(v.shape)}))
    for k, v in fixed.items():
        nodes.append(Node(k, "Const", []))
        sub_consts[k] = v
    rename = {k: f"{k}:0" for k in list(runtime) + list(fixed)}
    seen = set()
    for n in group.nodes:
        for k in n.inputs:
            name = split_ref(k)[0]
            if k not in rename and name in consts and name not in seen:
                seen.add(name)
                nodes.append(Node(name, "Const", []))
                sub_consts[name] = consts[name]
    for n in group.nodes:
        nodes.append(Node(n.name, n.op, [rename.get(k, k) for k in n.inputs], n.attrs))
    inputs = [TensorInfo(k, f"{k}:0", list(v.shape), v.dtype) for k, v in runtime.items()]
    outputs = [TensorInfo(k, k, None, np.dtype(np.float32)) for k in group.outputs]
    return Graph(nodes, sub_consts, inputs, outputs, f"{group.source} ({group.label})")


def _describe_programs(programs, notes: dict) -> dict:
    ops: dict[str, dict] = {}
    loops, groups = [], []
    for prog in programs:
        loops += [lp.name for lp in prog.loops]
        for n in prog.nodes:
            why = interpreted_why(n)
            if why is not None:
                ops.setdefault(n.op, {"op": n.op, "nodes": 0, "why": why})["nodes"] += 1
        for g in prog.groups:
            native = g.heavy and id(g) not in notes
            groups.append({"group": g.id, "outputs": len(prog.output_keys), "nodes": len(g.nodes), "native": native,
                           "why": None if native else notes.get(id(g), "no conv, matmul, resize or pool: "
                                                                       "cheaper on numpy than a plan")})
    return {"loops": sorted(set(loops)), "groups": groups, "numpy_ops": sorted(ops.values(), key=lambda e: e["op"]),
            "interop_calls_per_inference": sum(1 for g in groups if g["native"])}


def _plan_key(shapes: dict, output_keys) -> tuple:
    """A plan's key in GraphModel._plans: input shapes, and output keys in any order."""
    return tuple(sorted(shapes.items())), tuple(sorted(set(output_keys)))


def _lru(cache: dict, key, build):
    """cache[key], built on a miss and made the most recently used; past the plan cache size
    (webtensor.set_plan_cache_size) the least recently used plan is evicted and its backend
    memory freed."""
    value = cache.pop(key) if key in cache else build()
    cache[key] = value
    while len(cache) > engine().plan_cache_size:
        old = cache.pop(next(iter(cache)))
        if old is not None:
            _release_plan(old)
    return value


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
