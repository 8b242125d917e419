"""The shell every native backend's compiled plan runs in, written once: native
segments with numpy steps between them, the one-interop-call fast path, per-kernel
profiling records, timings and error wrapping.  A backend's compiled plan subclasses
`SegmentedPlan` and supplies how tensors move in and out of its memory and how one
native segment runs; it imports no backend (backends import it).
"""
from __future__ import annotations

import numpy as np

from .engine import KernelRecord, engine
from .errors import WebtensorError, wrap_backend_error
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
        try:
            return self._run(feeds)
        except WebtensorError:
            raise
        except Exception as e:       # a raw JS error (RangeError, stalled pool, GL error...) named for the user
            raise wrap_backend_error(e, f"{self.plan.graph.source} on {self.backend_name}") from None

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        eng = engine()
        plan = self.plan
        out_keys = [k for k in plan.output_keys if k not in plan.constants]
        fast = (eng.recorder is None and not self.per_op_only() and len(self.segments) <= 1
                and all(kind == "native" for kind, _ in self.segments))
        if fast:
            result = self.execute_fast(feeds, out_keys)
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
                    self.run_segment(what, eng.recorder)
                else:
                    self._numpy_step(*what, eng.recorder)
            result = {k: self.read(k) for k in out_keys}
        for k in plan.output_keys:
            if k in plan.constants:
                result[k] = plan.constants[k]
        return result

    def _numpy_step(self, step: Step, where, recorder):
        now = _clock() if recorder is not None else None
        t0 = now() if now else 0.0
        ins = [self.plan.constants[k] if k in self.plan.constants else self.read(k, where) for k in step.inputs]
        for k, v in zip(step.outputs, run_reference(self.plan, step, ins)):
            self.write(k, v, where)
        ms = now() - t0 if now else 0.0
        self.after_numpy(step)
        if recorder is not None:
            recorder.append(KernelRecord(f"numpy:{step.node.op}", step.node.name, self.shapes(step.inputs),
                                         self.shapes(step.outputs), ms, self.out_bytes(step.outputs)))

    # -- for the backends' records ------------------------------------------------------
    def shapes(self, keys) -> list[list[int]]:
        return [list(self.plan.specs[k].shape) for k in keys]

    def out_bytes(self, keys) -> int:
        return sum(4 * int(np.prod(self.plan.specs[k].shape)) for k in keys)


def _clock():
    import js
    return js.performance.now
