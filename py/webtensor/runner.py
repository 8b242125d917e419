"""The shell every native backend's compiled plan runs in, written once: native
segments with numpy steps between them, the one-interop-call fast path, per-kernel
profiling records, timings and error wrapping.  A backend's compiled plan subclasses
`SegmentedPlan` and supplies how tensors move in and out of its memory and how one
native segment runs; it imports no backend (backends import it).
"""
from __future__ import annotations

import numpy as np

from .engine import KernelRecord, engine, run_sync
from .errors import ExecutionError, WebtensorError, wrap_backend_error
from .graph.plan import Plan, Step, run_reference


class SegmentedPlan:
    """`segments`: ("native", segment) or ("numpy", (step, where)) in plan order, where
    `where` is whatever the backend needs to find the step's tensors at that point."""

    backend_name: str
    plan: Plan
    segments: list[tuple[str, object]]

    # -- what a backend supplies -------------------------------------------------------
    def execute_fast(self, feeds: dict, out_keys: list[str]) -> dict[str, np.ndarray]:
        """The whole plan (one native segment) in one interop call."""
        raise NotImplementedError

    def run_segment(self, segment, recorder) -> None:
        """One native segment; with a recorder, kernel by kernel, appending KernelRecords."""
        raise NotImplementedError

    def write(self, key: str, value: np.ndarray, where=None) -> None:
        raise NotImplementedError

    def read(self, key: str, where=None) -> np.ndarray:
        raise NotImplementedError

    def per_op_only(self) -> bool:
        """True where every run must take the segment-by-segment path (debug guards)."""
        return False

    def after_numpy(self, step: Step) -> None:
        """Called after each numpy step (the wasm backend checks its guards here)."""

    # -- the shell ---------------------------------------------------------------------
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The synchronous run: the asynchronous shell below, driven to its end without an
        event loop (a backend whose reads are synchronous never suspends it)."""
        return run_sync(self.run_async(feeds), f"{self.backend_name}: this backend's results come back asynchronously")

    # -- the asynchronous shell (a backend whose results come back with promises) --------
    async def execute_fast_async(self, feeds: dict, out_keys: list[str]) -> dict[str, np.ndarray]:
        return self.execute_fast(feeds, out_keys)

    async def run_segment_async(self, segment, recorder) -> None:
        self.run_segment(segment, recorder)

    async def read_async(self, key: str, where=None) -> np.ndarray:
        return self.read(key, where)

    async def run_async(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`run` for every backend, awaiting where the backend's reads are asynchronous."""
        try:
            return await self._run_async(feeds)
        except WebtensorError:
            raise
        except Exception as e:
            raise wrap_backend_error(e, f"{self.plan.graph.source} on {self.backend_name}") from None

    async def _run_async(self, feeds):
        eng = engine()
        plan = self.plan
        out_keys = [k for k in plan.output_keys if k not in plan.constants]
        fast = (eng.recorder is None and not self.per_op_only() and len(self.segments) <= 1
                and all(kind == "native" for kind, _ in self.segments))
        if fast:
            result = await self.execute_fast_async(feeds, out_keys)
            if eng.timings is not None:
                t = self.rt.lastTimings
                eng.timings["upload_ms"] += t.upload
                eng.timings["kernel_ms"] += t.run
                eng.timings["download_ms"] += t.download
        else:
            for k in plan.input_keys:
                self.write(k, feeds[k])
            for kind, what in self.segments:
                if kind == "native":
                    await self.run_segment_async(what, eng.recorder)
                    continue
                step, where = what
                now = _clock() if eng.recorder is not None else None
                t0 = now() if now else 0.0
                ins = [plan.constants[k] if k in plan.constants else await self.read_async(k, where)
                       for k in step.inputs]
                for k, v in zip(step.outputs, run_reference(plan, step, ins)):
                    self.write(k, v, where)
                self.after_numpy(step)
                if eng.recorder is not None:
                    eng.recorder.append(KernelRecord(f"numpy:{step.node.op}", step.node.name, self.shapes(step.inputs),
                                                     self.shapes(step.outputs), now() - t0,
                                                     self.out_bytes(step.outputs)))
            result = {k: await self.read_async(k) for k in out_keys}
        for k in plan.output_keys:
            if k in plan.constants:
                result[k] = plan.constants[k]
        return result

    # -- for the backends -------------------------------------------------------------
    def stored_dtype(self, key) -> np.dtype:
        """The dtype a tensor has in native memory: bool is stored as int32."""
        dt = np.dtype(self.plan.specs[key].dtype)
        return np.dtype(np.int32) if dt == np.bool_ else dt

    def checked(self, key, value) -> np.ndarray:
        """A tensor as stored in its slot: only exactly the planned shape fits (the JS side
        checks again that the bytes stay inside memory this backend allocated)."""
        spec = self.plan.specs[key]
        if tuple(np.shape(value)) != tuple(spec.shape):
            raise ExecutionError(f"{self.plan.graph.source}: tensor {key!r} has shape {list(np.shape(value))}, "
                                 f"the plan reserved {list(spec.shape)}")
        return np.ascontiguousarray(value, dtype=self.stored_dtype(key))

    def describe_base(self, n_calls: int) -> dict:
        """What every native backend's describe() reports about the lowering and segments."""
        low = self.lowered
        return {"backend": self.backend_name, "kernel_calls": n_calls, "segments": len(self.segments),
                "fallbacks": list(low.fallbacks), "refused": list(low.refused), "fused_nodes": len(low.fused),
                "interop_calls_per_inference": 1 if len(self.segments) <= 1 else None}

    def shapes(self, keys) -> list[list[int]]:
        return [list(self.plan.specs[k].shape) for k in keys]

    def out_bytes(self, keys) -> int:
        return sum(4 * int(np.prod(self.plan.specs[k].shape)) for k in keys)


def _clock():
    import js
    return js.performance.now
