"""The reference backend: each step runs its op's numpy reference kernel."""
from __future__ import annotations

import numpy as np

from ..errors import ExecutionError, WebtensorError
from ..graph.plan import Plan


class NumpyBackend:
    name = "numpy"

    @staticmethod
    def probe() -> tuple[bool, str]:
        return True, "always available (CPython and Pyodide)"

    def describe(self, plan: Plan) -> dict:
        return {"backend": self.name, "kernel_calls": len(plan.steps), "fallbacks": [],
                "interop_calls_per_inference": 0}

    def run(self, plan: Plan, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = dict(plan.constants)
        env.update(feeds)
        for step, dead in zip(plan.steps, plan.free_after):
            node = step.node
            try:
                outs = step.op.ref([env[k] for k in step.inputs], node.attrs)
            except WebtensorError:
                raise
            except Exception as e:
                raise ExecutionError(f"{plan.graph.source}: node {node.name!r} ({node.op}) failed: {e}") from None
            for key, value in zip(step.outputs, outs):
                want = plan.specs[key]
                if value.shape != want.shape:
                    raise ExecutionError(f"{plan.graph.source}: node {node.name!r} ({node.op}) produced shape "
                                         f"{list(value.shape)}, its shape rule says {list(want.shape)}")
                env[key] = value
            for key in dead:
                env.pop(key, None)
        return {k: env[k] for k in plan.output_keys}
