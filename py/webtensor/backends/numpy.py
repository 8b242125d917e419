"""The reference backend: each step runs its op's numpy reference kernel."""
from __future__ import annotations

import numpy as np

import time

from ..engine import KernelRecord, engine
from ..graph.plan import Plan, run_reference


class NumpyBackend:
    name = "numpy"

    @staticmethod
    def probe() -> tuple[bool, str]:
        return True, "always available (CPython and Pyodide)"

    @staticmethod
    def supports(kind: str) -> bool:
        """Every kind of computation: the numpy references are the definition."""
        return True

    def describe(self, plan: Plan) -> dict:
        return {"backend": self.name, "kernel_calls": len(plan.steps), "fallbacks": [],
                "interop_calls_per_inference": 0}

    def memory_stats(self) -> dict:
        return {"kind": "numpy", "note": "arrays live in the Python heap"}

    def run(self, plan: Plan, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        eng = engine()
        recorder, timings = eng.recorder, eng.timings
        if recorder is not None:
            eng.timing_source = "numpy: wall clock around each reference kernel"
        env = dict(plan.constants)
        env.update(feeds)
        for step, dead in zip(plan.steps, plan.free_after):
            node = step.node
            t0 = time.perf_counter()
            outs = run_reference(plan, step, [env[k] for k in step.inputs])
            env.update(zip(step.outputs, outs))
            ms = (time.perf_counter() - t0) * 1e3
            if recorder is not None:
                recorder.append(KernelRecord(node.op, node.name, [list(np.shape(env[k])) for k in step.inputs],
                                             [list(o.shape) for o in outs], ms, int(sum(o.nbytes for o in outs))))
            if timings is not None:
                timings["kernel_ms"] += ms
            for key in dead:
                env.pop(key, None)
        return {k: env[k] for k in plan.output_keys}
