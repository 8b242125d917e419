"""The op registry: per op, its inputs, output shape/dtype rule and numpy reference.

Reference kernels take `(inputs: list[np.ndarray], attrs: dict)` and return a list
of outputs; shape rules take `(inputs: list[TensorSpec], attrs)` and return a list
of TensorSpec (shape may be None when it depends on values unknown at plan time).
Semantics follow TensorFlow's op documentation (e.g. SAME padding, rounding).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .._record import record


@record(frozen=True)
class TensorSpec:
    shape: tuple[int, ...] | None
    dtype: np.dtype
    value: np.ndarray | None = None   # known at plan time (constants, folded shape arithmetic)

    @property
    def rank(self) -> int:
        return len(self.shape)


@record(frozen=True)
class OpSpec:
    name: str
    inputs: tuple[str, ...]           # input names; "name*" is variadic, "name?" optional
    ref: Callable
    shape: Callable
    foldable: bool = True             # may run at plan time when all inputs are known
    dynamic: bool = False             # output shapes depend on input values (NMS, Where) or the
                                      # values are not tensors (TensorLists): the graph interpreter
                                      # (graph/control.py) runs it on numpy, never a static plan


OPS: dict[str, OpSpec] = {}


class ShapeUnknown(Exception):
    """Raised by a shape rule that needs a value not known at plan time."""


class OpError(ValueError):
    """Invalid inputs/attributes for an op; the executor adds the node name."""


def register(names, inputs, shape, foldable=True, dynamic=False):
    """Decorator: register `ref` under one or more TF op names."""
    if isinstance(names, str):
        names = (names,)

    def deco(ref):
        for n in names:
            OPS[n] = OpSpec(n, tuple(inputs), ref, shape, foldable, dynamic)
        return ref
    return deco


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise OpError(msg)


def known(spec: TensorSpec) -> np.ndarray:
    """The plan-time value of an input that must be constant (e.g. a Reshape's shape)."""
    if spec.value is None:
        raise ShapeUnknown()
    return spec.value


def shape_of(spec: TensorSpec) -> tuple[int, ...]:
    if spec.shape is None:
        raise ShapeUnknown()
    return spec.shape


def norm_axis(axis: int, rank: int) -> int:
    check(-rank <= axis < max(rank, 1), f"axis {axis} out of range for rank {rank}")
    return axis % max(rank, 1)


def broadcast_shapes(*shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise OpError(f"shapes {' and '.join(map(str, shapes))} do not broadcast") from None
