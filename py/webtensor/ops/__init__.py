"""The op specification: one registry, the single source of truth for every backend."""
from .spec import OPS, OpSpec, OpError, ShapeUnknown, TensorSpec
from . import nn, math, array, quant, control  # noqa: F401  (registration side effects)
from .control import CONTROL_FLOW

# Ops the executor handles itself rather than through a reference kernel: constants,
# inputs, and control flow (graph/control.py's interpreter).
GRAPH_OPS = {"Const", "Placeholder"} | CONTROL_FLOW

__all__ = ["OPS", "OpSpec", "OpError", "ShapeUnknown", "TensorSpec", "GRAPH_OPS", "CONTROL_FLOW"]
