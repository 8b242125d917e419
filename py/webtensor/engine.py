"""Tensors, scopes and accounting: memory(), tidy(), keep(), profile(), time().

numpy in, numpy out stays the simple path.  A `Tensor` (webtensor.tensor(x)) is a
tracked handle, as in TF.js: model calls given Tensors return Tensors, `tidy()`
disposes what a scope created (except what it returns or `keep()`s), and
`memory()` counts live tensors, loaded models' weights and planned arenas, and
the wasm heaps.  Using a disposed tensor raises TensorDisposedError.
"""
from __future__ import annotations

import functools
import time as _time
import weakref

import numpy as np

from ._record import record, field
from .errors import WebtensorError


class TensorDisposedError(WebtensorError):
    """A Tensor was used (or disposed) after dispose()."""


class Tensor:
    """A tracked tensor.  `.numpy()` gives its data; `dispose()` releases it."""

    __slots__ = ("_data", "_id", "name", "__weakref__")
    _next_id = 1

    def __init__(self, data, name: str | None = None):
        self._data = np.ascontiguousarray(data)
        self._id = Tensor._next_id
        Tensor._next_id += 1
        self.name = name
        _ENGINE.track(self)

    @property
    def is_disposed(self) -> bool:
        return self._data is None

    def _check(self) -> np.ndarray:
        if self._data is None:
            raise TensorDisposedError(f"tensor #{self._id}{f' ({self.name})' if self.name else ''} was disposed")
        return self._data

    def numpy(self) -> np.ndarray:
        return self._check()

    def __array__(self, dtype=None, copy=None):
        data = self._check()
        return data if dtype is None else data.astype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._check().shape

    @property
    def dtype(self) -> np.dtype:
        return self._check().dtype

    @property
    def nbytes(self) -> int:
        return self._check().nbytes

    def dispose(self) -> None:
        self._check()
        _ENGINE.untrack(self)
        self._data = None

    def __repr__(self) -> str:
        if self._data is None:
            return f"<webtensor.Tensor #{self._id} disposed>"
        return f"<webtensor.Tensor #{self._id} shape={list(self._data.shape)} dtype={self._data.dtype}>"


@record
class KernelRecord:
    op: str
    node: str
    input_shapes: list
    output_shapes: list
    ms: float
    bytes_added: int


@record
class Profile:
    new_bytes: int
    peak_bytes: int
    new_tensors: int
    kernels: list[KernelRecord]
    timing: str                       # how kernel times were measured
    result: object = None

    def sorted_kernels(self) -> list[KernelRecord]:
        return sorted(self.kernels, key=lambda k: -k.ms)


@record
class MemoryInfo:
    num_tensors: int
    num_bytes: int
    num_data_buffers: int
    tensor_bytes: int                 # bytes in live Tensors
    weight_bytes: int                 # bytes in loaded models' weights
    backends: dict = field(default_factory=dict)
    models: list = field(default_factory=list)
    unreliable: bool = False
    reasons: list = field(default_factory=list)


class _Engine:
    def __init__(self):
        self.tensors: dict[int, weakref.ref] = {}
        self.scopes: list[list[Tensor]] = []
        self.models: "weakref.WeakSet" = weakref.WeakSet()
        self.recorder: list | None = None        # set while profile() runs: backends append KernelRecords
        self.timing_source = ""                  # how the backend measured them
        self.timings: dict | None = None         # set while time() runs: backends add their ms
        self.backends: dict[str, object] = {}     # live backend instances (backends/ registers them)
        self.guard_bytes = 0                     # > 0: sentinels after every arena slot (debug_memory_guards)
        self.plan_cache_size = 4                 # compiled plans a model keeps per input shape (LRU)
        # wasm plans with fewer conv/GEMM/depthwise flops run on one thread (the pool's
        # wake-up and barriers cost more); the conformance suite sets 0 to test every split
        self.one_thread_below_flops = 4e6
        # wasm fuses a 1x1 conv into the strided depthwise conv that reads it where the expanded
        # map would take this many bytes or more (a smaller map stays in cache, and the fused
        # kernel computes the rows its chunks share twice); the conformance suite sets 0
        self.fuse_expansion_above_bytes = 1 << 20
        # wasm computes 3x3 stride-1 convs of 8 or more input channels with at least this many
        # 2x2 output tiles and output channels in the Winograd domain (conv.c op_winograd: 16
        # multiply-adds per channel pair for 4 outputs, not 36).  Each thread transforms the
        # filter first, which a tiny map does not repay, and each tile's input transform,
        # which few output channels do not (emotion's 8x8x256 -> 7 conv: 0.27 -> 0.36 ms on
        # scalar wasm; its 29x29x32 -> 64 one 2.6 -> 1.6 ms).  None: never.  The conformance
        # suite sets both to 1
        self.winograd_min_tiles = 16
        self.winograd_min_out_channels = 32
        # WebGL convs with at least this many output elements compute 4 rows per fetched
        # filter texel (ROWS 4).  0: every conv does, since the sizes became uniforms and the
        # layers share programs (measured faster on every layer of MobileNetV2, down to 7x7
        # and 1x1 maps; one program variant, not two, to compile).  e2e/test_webgl.py runs
        # the conformance suite again with no conv sharing (ROWS 1 everywhere)
        self.webgl_shared_rows_above = 0
        # WebGL grids of NHWC maps with fewer image rows than this hold fewer pixels per grid
        # row than the map's width, for more rows (backends/webgl.py pixel_rows); 0: never.
        # 9: up to 8 rows are 2 rows of fragments (4 grid rows each), one row of 2x2 quads,
        # which SwiftShader runs on one thread; a 14x14 map's 2 quad rows already split
        # (splitting it too measured slower: its depthwise convs lose SLIDE).
        # e2e/test_webgl.py runs the conformance suite with 0 too
        self.webgl_split_rows_below = 9
        # ... where the conv writing the map does at least this many multiply-adds (a split map
        # is another program to compile; MobileNetV2's 7x7 layers do 4.5-20 M, BlazeFace's
        # 8x8 ones 0.6 M); the conformance suite sets 0
        self.webgl_split_macs = 2_000_000
        # WebGL padded convs whose output is at least this many pixels a side draw their
        # interior with the program that has no bounds selects, the border apart
        # (backends/webgl.py interior_rects); the conformance suite sets 0.  160: BlazeFace's
        # 128x128 and MobileNetV2's 112x112 depthwise convs drawn whole ran 0.97-1.0x as fast
        # end to end (same page, alternating), and the interior's program took ~40 ms to
        # compile at SwiftShader's first draw (the first inference is what the split cost)
        self.webgl_interior_side = 160
        # WebGL convs of at least this many multiply-adds whose output only convs read write
        # it as 2 channel planes (8 colour targets: each input texel fetched feeds 8 output
        # channels; backends/webgl.py GLPlan._channel_planes); None: never (devices with
        # fewer than 8 draw buffers never do).  The conformance suite sets 0
        self.webgl_planes_macs: int | None = 0

    def track(self, t: Tensor) -> None:
        self.tensors[t._id] = weakref.ref(t)
        if self.scopes:
            self.scopes[-1].append(t)

    def untrack(self, t: Tensor) -> None:
        self.tensors.pop(t._id, None)

    def live(self) -> list[Tensor]:
        out = []
        for ref in list(self.tensors.values()):
            t = ref()
            if t is not None and not t.is_disposed:
                out.append(t)
        return out


_ENGINE = _Engine()


def tensor(data, name: str | None = None) -> Tensor:
    """A tracked Tensor holding `data` (copied to a contiguous array)."""
    return Tensor(np.array(data, copy=True), name)


def keep(t: Tensor) -> Tensor:
    """Exempt `t` from the enclosing tidy() scopes."""
    for scope in _ENGINE.scopes:
        if t in scope:
            scope.remove(t)
    return t


def _tensors_in(value) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors_in(v)]
    return []


class tidy:
    """Dispose tensors created inside the scope, except those returned or kept.

        with webtensor.tidy():            @webtensor.tidy
            y = model.predict(t)          def step(t): return model.predict(t)
    """

    def __init__(self, fn=None):
        self.fn = fn
        if fn is not None:
            functools.update_wrapper(self, fn)

    def __enter__(self):
        _ENGINE.scopes.append([])
        return self

    def __exit__(self, *exc):
        self._close(keep_out=[])
        return False

    def _close(self, keep_out: list[Tensor]):
        scope = _ENGINE.scopes.pop()
        kept = {id(t) for t in keep_out}
        for t in scope:
            if id(t) in kept:
                if _ENGINE.scopes:
                    _ENGINE.scopes[-1].append(t)
            elif not t.is_disposed:
                t.dispose()

    def __call__(self, *args, **kwargs):
        if self.fn is None:                      # used as @tidy() with parentheses
            return tidy(args[0])
        _ENGINE.scopes.append([])
        try:
            result = self.fn(*args, **kwargs)
        except BaseException:
            self._close(keep_out=[])
            raise
        self._close(keep_out=_tensors_in(result))
        return result


def memory() -> MemoryInfo:
    """What webtensor holds now: live Tensors, models' weights and arenas, wasm heaps."""
    live = _ENGINE.live()
    bases = {id(t.numpy().base if t.numpy().base is not None else t.numpy()) for t in live}
    tensor_bytes = sum(t.nbytes for t in live)
    weight_bytes, weight_count, models = 0, 0, []
    for m in list(_ENGINE.models):
        wb = m.weight_bytes()
        weight_bytes += wb
        weight_count += len(m.graph.consts)
        models.append({"source": m.graph.source, "weight_bytes": wb, "plans": m.memory_plans()})
    info = MemoryInfo(num_tensors=len(live) + weight_count, num_bytes=tensor_bytes + weight_bytes,
                      num_data_buffers=len(bases) + weight_count, tensor_bytes=tensor_bytes,
                      weight_bytes=weight_bytes, models=models)
    for name, backend in _ENGINE.backends.items():
        stats = getattr(backend, "memory_stats", None)
        if stats is not None:
            info.backends[name] = stats()
    info.reasons.append("numpy backend intermediates are freed as soon as their last reader has run; "
                        "their peak is not tracked")
    info.unreliable = True
    return info


def run_sync(coro, why: str):
    """Drive a coroutine that never really suspends (file reads, a backend whose results
    are synchronous) to its end without an event loop; RuntimeError(why) if it suspends."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(why)


def profile(fn, *args, **kwargs) -> Profile:
    """Run fn(*args) recording every kernel: op, node, shapes, time, bytes added."""
    async def call():
        return fn(*args, **kwargs)
    return run_sync(profile_async(call), "profile(): the call suspended; use profile_async")


async def profile_async(fn, *args, **kwargs) -> Profile:
    """`profile` of an async call (`model.execute_async`, `predict_async`): the way to
    profile on WebGPU, whose kernel times come from timestamp queries where it has them."""
    before = memory()
    records: list[KernelRecord] = []
    _ENGINE.recorder = records
    try:
        result = await fn(*args, **kwargs)
    finally:
        _ENGINE.recorder = None
    after = memory()
    running, peak = before.num_bytes, before.num_bytes
    for k in records:
        running += k.bytes_added
        peak = max(peak, running)
    return Profile(new_bytes=after.num_bytes - before.num_bytes, peak_bytes=max(peak, after.num_bytes),
                   new_tensors=after.num_tensors - before.num_tensors, kernels=records,
                   timing=_ENGINE.timing_source, result=result)


def time(fn, *args, **kwargs) -> dict:
    """Wall ms of fn(*args), and the part spent in kernels, uploads and downloads."""
    _ENGINE.timings = {"kernel_ms": 0.0, "upload_ms": 0.0, "download_ms": 0.0}
    t0 = _time.perf_counter()
    try:
        fn(*args, **kwargs)
    finally:
        timings, _ENGINE.timings = _ENGINE.timings, None
    timings["wall_ms"] = (_time.perf_counter() - t0) * 1e3
    return timings


def debug_memory_guards(on: bool = True, nbytes: int = 64) -> None:
    """Debug mode (as ggml's backend tests do): plans compiled from now on put `nbytes` of
    sentinel bytes after every activation slot, run kernel by kernel, and check every
    sentinel after each kernel, raising an ExecutionError that names the kernel that
    wrote outside its slot.  Slow; meant for tests and for hunting a kernel bug."""
    _ENGINE.guard_bytes = max(16, -(-int(nbytes) // 16) * 16) if on else 0


def set_plan_cache_size(n: int) -> None:
    """How many compiled plans (one per distinct input shape) a model keeps; the least
    recently used one beyond that is disposed with its backend memory.  Default 4."""
    if int(n) < 1:
        raise ValueError("the plan cache holds at least one plan")
    _ENGINE.plan_cache_size = int(n)


def engine() -> _Engine:
    return _ENGINE
