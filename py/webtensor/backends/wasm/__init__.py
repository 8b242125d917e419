"""The wasm backends (`wasm`, `wasm-simd`, `wasm-simd-threads`).

Python plans, wasm executes: a Plan is lowered once into a program of kernel
calls (int32 words, the format kernels_wasm/runtime.c reads), weights are packed
and uploaded once, and activations get offsets in one arena planned from tensor
lifetimes.  `run` is then a single call into JS (web/wasm_runtime.js) that copies
inputs in, runs the whole program inside wasm (on every pool thread) and copies
outputs out.  Ops the kernels lack run on numpy between program segments and are
listed by `describe` (model.report()).
"""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np

from ...engine import KernelRecord, engine
from ...errors import ExecutionError, wrap_backend_error
from ... import native
from ...graph.plan import Plan, Step
from ...lower import BOOL, Lowering, plan_arena, slot_span
from ...runner import SegmentedPlan
from .encode import NO_BARRIER_AFTER, GROUP_MAX, Addr, barrier_free, check_extents, encode, supports, touched_bytes

PROGRAM_MAGIC = 0x57544E31          # kernels_wasm/runtime.c checks it at the head of a program


def to_js_list(values):
    from pyodide.ffi import to_js
    return to_js([int(v) for v in values])


# ----------------------------------------------------------------------------- compiled plan

class CompiledPlan(SegmentedPlan):
    """A Plan lowered and laid out in one runtime's memory."""

    def __init__(self, backend: "WasmBackend", plan: Plan):
        self.backend = backend
        self.backend_name = backend.name
        self.rt = backend.runtime()
        self.plan = plan
        self.blocks: list[int] = []
        self.weights_key = None
        self.guard = engine().guard_bytes
        try:
            self.lowered = low = Lowering(plan, plan.optimize, supports).run()
            self.encoded = encode(low, plan.constants)
            check_extents(self.encoded, low, plan.specs, plan.graph.source)
            self.offsets, self.arena_bytes, self.naive_bytes = plan_arena(
                low, plan.specs, plan.input_keys, plan.output_keys, guard=self.guard,
                reuse=plan.optimize and not self.guard)       # guards need slots that never share bytes
            self._layout()
        except BaseException as e:   # nothing stays allocated by a plan that failed to compile
            self.dispose()
            raise wrap_backend_error(e, f"{plan.graph.source} on {backend.name}") from None

    def _layout(self):
        low, enc = self.lowered, self.encoded
        self.weights_key, self.weights_base, w_offsets, self.weight_bytes = self.backend.upload_weights(
            enc.weights + [np.zeros(enc.zero_floats, np.float32)])
        self.w_addr = [self.weights_base + o for o in w_offsets]
        self.zero_addr = self.w_addr[-1]
        self.arena_base = self._alloc(max(self.arena_bytes, 16), "arena")
        if self.guard:
            self._guards = self._guard_ranges()
            self.rt.fillGuards(to_js_list(self._guards))
        # segments: runs of native items become one program each
        self.segments: list[tuple[str, object]] = []
        current: list[tuple[list[int], object]] = []
        for i, item in enumerate(low.items):
            if item.call is not None:
                current.append(([self.resolve(w) for w in enc.words(i)], item, touched_bytes(enc, i, self.resolve)))
            else:
                if current:
                    self.segments.append(("native", self._program(current)))
                    current = []
                self.segments.append(("numpy", (item.step, None)))
        if current:
            self.segments.append(("native", self._program(current)))
        self.n_ops = sum(1 for it in low.items if it.call is not None)
        self.barriers = sum(what[2] for kind, what in self.segments if kind == "native")
        # A plan this small loses more to waking the pool and its barriers than the second
        # thread gains: thread 0 alone.  Measured on 2 cores since helpers poll ~1 ms after a
        # run: conformance cases under 2.5 MFLOP gain nothing (0.07-0.2 ms either way, a late
        # helper costs ~0.4 ms), liveness (13 MFLOP, 19 kernels) 0.65 -> 0.42 ms on two.
        self.max_threads = 1 if low.conv_flops < engine().one_thread_below_flops else 0
        self._js_io: dict[tuple, SimpleNamespace] = {}   # output keys -> execute_fast's layout

    def _guard_ranges(self) -> list[int]:
        """[start, length, ...] of the sentinel bytes: before the first slot and after each."""
        ranges = [self.arena_base, self.guard]
        for k, off in self.offsets.items():
            end = off + slot_span(self.plan.specs[k])
            ranges += [self.arena_base + end, self.guard]
        return ranges

    def _check_guards(self, label: str):
        bad = int(self.rt.checkGuards(to_js_list(self._guards)))
        if bad >= 0:
            addr = self._guards[2 * bad]
            owner = "the arena's start" if bad == 0 else repr(list(self.offsets)[bad - 1])
            raise ExecutionError(f"{self.plan.graph.source}: memory guard after {owner} (at {addr}) was "
                                 f"overwritten by {label}: a kernel wrote outside its slot")

    def _alloc(self, nbytes: int, kind: str) -> int:
        addr = int(self.rt.alloc(nbytes, kind))
        self.blocks.append(addr)
        return addr

    def address(self, key: str) -> int:
        base = self.lowered.aliases.get(key, key)
        return self.arena_base + self.offsets[base]

    def resolve(self, w) -> int:
        if not isinstance(w, Addr):
            return int(w)
        if w.kind == "t":
            return self.address(w.key) + w.extra
        if w.kind == "w":
            return self.w_addr[w.key] + w.extra
        return self.zero_addr + w.extra

    def _program(self, ops: list[tuple[list[int], object, list]]) -> tuple[int, list, int]:
        """One program in wasm memory: (its address, the lowered items it runs, the barriers
        a pool passes running it).  Ops touching disjoint bytes share a barrier (barrier_free)."""
        words = [PROGRAM_MAGIC, len(ops), 0, 0]
        flags = barrier_free([spans for _, _, spans in ops])
        for (op, _, _), free in zip(ops, flags):
            words.extend([op[0] | (NO_BARRIER_AFTER if free else 0), *op[1:]])
        tail = [0] * (2 + GROUP_MAX)              # barrier words: arrivals, generation, work counters
        addr = self._alloc((len(words) + len(tail)) * 4, "programs")
        words[2] = addr + len(words) * 4          # barrier words follow the ops
        self.rt.write(addr, np.array(words + tail, dtype=np.int32))
        return addr, [item for _, item, _ in ops], flags.count(False)

    # -- running (the shell is runner.SegmentedPlan) ---------------------------------------
    def read(self, key, where=None) -> np.ndarray:
        spec = self.plan.specs[key]
        out = np.empty(spec.shape, self.stored_dtype(key))
        self.rt.read(self.address(key), out)
        return out.astype(BOOL) if spec.dtype == BOOL else out

    def write(self, key, value: np.ndarray, where=None):
        self.rt.write(self.address(key), self.checked(key, value))

    def execute_fast(self, feeds, out_keys) -> dict[str, np.ndarray]:
        """One interop call: inputs in, the program on every pool thread, outputs out."""
        io = self._io(out_keys)
        values = self._execute(io, [self.checked(k, feeds[k]) for k in self.plan.input_keys])
        return dict(zip(out_keys, values))

    def fast_runner(self, out_keys):
        """x -> [outputs in out_keys order] for the plan's one input, already of its stored
        dtype and shape and C-contiguous: execute_fast's call with nothing around it (the
        model checks, on every call, that this compiled plan is still the one in use).
        None where the plan is not one native segment of one input."""
        if (len(self.plan.input_keys) != 1 or len(self.segments) > 1
                or any(kind != "native" for kind, _ in self.segments)
                or any(k in self.plan.constants for k in out_keys)):
            return None
        io = self._io(out_keys)
        return lambda x: self._execute(io, [x])

    def _io(self, out_keys) -> SimpleNamespace:
        key = tuple(out_keys)
        io = self._js_io.get(key)
        if io is None:            # static after compiling: converted to JS once per output list
            from pyodide.ffi import to_js
            io = self._js_io[key] = self._io_layout(out_keys, to_js)
        return io

    def _execute(self, io, in_arrays) -> list[np.ndarray]:
        out = np.empty(io.total, np.uint8)
        self.rt.execute(io.prog, io.in_addr, in_arrays, io.out_addr, io.out_sizes, io.out_at, out, self.max_threads)
        return [out[at:at + nbytes].view(dtype).reshape(shape).astype(BOOL) if is_bool
                else out[at:at + nbytes].view(dtype).reshape(shape)
                for at, nbytes, dtype, shape, is_bool in io.views]

    def _io_layout(self, out_keys, to_js) -> SimpleNamespace:
        """Where execute_fast's inputs go and its outputs come from, as JS arrays, and each
        output's place in the one byte buffer they come back in (8-byte aligned views)."""
        views, at = [], 0
        for k in out_keys:
            dtype = np.dtype(self.stored_dtype(k))
            shape = self.plan.specs[k].shape
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            views.append((at, nbytes, dtype, shape, self.plan.specs[k].dtype == BOOL))
            at += -(-nbytes // 8) * 8
        return SimpleNamespace(prog=self.segments[0][1][0] if self.segments else 0,
                               in_addr=to_js([self.address(k) for k in self.plan.input_keys]),
                               out_addr=to_js([self.address(k) for k in out_keys]),
                               out_sizes=to_js([v[1] for v in views]), out_at=to_js([v[0] for v in views]),
                               views=views, total=max(at, 8))

    def per_op_only(self) -> bool:
        return bool(self.guard)             # guards are checked after every kernel

    def after_numpy(self, step: Step) -> None:
        if self.guard:
            self._check_guards(f"numpy:{step.node.op} ({step.node.name})")

    def run_segment(self, segment, recorder) -> None:
        """A program in one call, or (profile(), debug guards) each kernel alone: timed and,
        in debug_memory_guards mode, every sentinel checked after it."""
        prog, items, _ = segment
        if recorder is None and not self.guard:
            self.rt.run(prog, 0, 0, self.max_threads)
            return
        import js
        now = js.performance.now
        if recorder is not None:
            engine().timing_source = (f"{self.backend.name}: each kernel run alone (run_op) and timed with "
                                      f"performance.now around it, {self.rt.stats().threads} thread(s)")
        for i, item in enumerate(items):
            t0 = now()
            self.rt.runOp(prog, i, self.max_threads)
            ms = now() - t0
            if self.guard:
                self._check_guards(f"kernel {item.label}")
            if recorder is not None:
                kind, _, node_name = item.label.partition(":")
                recorder.append(KernelRecord(kind, node_name, self.shapes(item.reads), self.shapes(item.writes), ms,
                                             self.out_bytes(item.writes)))

    def dispose(self):
        for addr in self.blocks:
            self.rt.release(addr)
        self.blocks = []
        if self.weights_key is not None:
            self.backend.release_weights(self.weights_key)
            self.weights_key = None

    def describe(self) -> dict:
        return {**self.describe_base(self.n_ops), "arena_bytes": self.arena_bytes,
                "naive_activation_bytes": self.naive_bytes, "weight_bytes": self.weight_bytes,
                "conv_flops": self.lowered.conv_flops, "max_threads": self.max_threads or None,
                "barriers_per_inference": self.barriers}


class WasmBackend:
    """One of the three wasm variants; the kernels and memory live in the page's worker."""

    variant = "wasm"

    def __init__(self):
        self.name = self.variant
        self._rt = native.start(self.variant)       # BackendError with the reason if it cannot start
        self._weights: dict[bytes, list] = {}      # digest -> [address, bytes, plans using it]

    @classmethod
    def probe(cls) -> tuple[bool, str]:
        return native.capability(cls.variant)

    @staticmethod
    def supports(call) -> bool:
        """A typed kernel call (lower/calls.py) with an encoder here, inside its kernel's
        limits: every call type, float32 and int8."""
        return supports(call)

    def upload_weights(self, arrays: list[np.ndarray]) -> tuple[bytes, int, list[int], int]:
        """One blob of 16-byte aligned weights in wasm memory, shared by every plan whose
        packed weights are byte-identical (a model compiled for several input shapes
        uploads its weights once).  Returns (key, address, offsets, bytes); each plan
        calls release_weights(key) when disposed."""
        offsets, total = [], 0
        digest = hashlib.blake2b(digest_size=20)
        for w in arrays:
            offsets.append(total)
            total += -(-w.nbytes // 16) * 16
            digest.update(f"{w.dtype.str}{w.shape}".encode())
            digest.update(memoryview(np.ascontiguousarray(w)).cast("B"))
        key = digest.digest()
        entry = self._weights.get(key)
        if entry is None:
            rt = self.runtime()
            addr = int(rt.alloc(max(total, 16), "weights"))
            try:
                blob = np.zeros(total, np.uint8)
                for w, o in zip(arrays, offsets):
                    blob[o:o + w.nbytes] = np.frombuffer(np.ascontiguousarray(w).tobytes(), np.uint8)
                rt.write(addr, blob)
            except BaseException:
                rt.release(addr)
                raise
            entry = self._weights[key] = [addr, total, 0]
        entry[2] += 1
        return key, entry[0], offsets, total

    def release_weights(self, key: bytes) -> None:
        entry = self._weights[key]
        entry[2] -= 1
        if entry[2] == 0:
            self.runtime().release(entry[0])
            del self._weights[key]

    def runtime(self):
        return self._rt

    def compiled(self, plan: Plan) -> CompiledPlan:
        cp = plan.lowered.get(self.name)
        if cp is None:
            cp = plan.lowered[self.name] = CompiledPlan(self, plan)
        return cp

    def run(self, plan: Plan, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.compiled(plan).run(feeds)

    def fast_runner(self, plan: Plan, out_keys):
        """(compiled plan, x -> outputs) for GraphModel's fast path, or None (CompiledPlan.fast_runner)."""
        cp = self.compiled(plan)
        run = cp.fast_runner(out_keys)
        return None if run is None else (cp, run)

    def describe(self, plan: Plan) -> dict:
        return self.compiled(plan).describe()

    def memory_stats(self) -> dict:
        st = self.runtime().stats()
        by_kind = {str(k): int(v) for k, v in st.byKind.to_py().items() if int(v)}
        # every byte of the wasm memory, by what holds it: the blocks in use by kind, the
        # module's own data and main stack (below __heap_base), and free blocks
        breakdown = {**by_kind, "module data + stack": int(st.heapBase),
                     "free": int(st.memoryBytes) - int(st.heapBase) - int(st.usedBytes)}
        return {"kind": "wasm", "heap_reserved_bytes": int(st.memoryBytes), "heap_used_bytes": int(st.usedBytes),
                "heap_breakdown": breakdown,
                "heap_peak_used_bytes": int(st.peakUsedBytes), "threads": int(st.threads),
                "shared_weight_blobs": len(self._weights),
                "shared_weight_bytes": int(sum(e[1] for e in self._weights.values())),
                "note": "a wasm memory never shrinks: freed blocks are reused by later plans"}


class WasmSimdBackend(WasmBackend):
    variant = "wasm-simd"


class WasmSimdThreadsBackend(WasmBackend):
    variant = "wasm-simd-threads"
