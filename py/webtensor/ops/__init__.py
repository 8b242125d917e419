"""The op specification: one registry, the single source of truth for every backend."""
from .spec import OPS, OpSpec, OpError, ShapeUnknown, TensorSpec
from . import nn, math, array, quant  # noqa: F401  (registration side effects)

# Ops the executor handles itself rather than through a reference kernel.
GRAPH_OPS = {"Const", "Placeholder"}

__all__ = ["OPS", "OpSpec", "OpError", "ShapeUnknown", "TensorSpec", "GRAPH_OPS"]
