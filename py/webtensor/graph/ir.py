"""Graph IR: nodes in topological order, constants, named inputs/outputs.

A tensor is referred to as "node:index" everywhere inside webtensor; TF's
"node" shorthand for output 0 is normalised away at load.
"""
from __future__ import annotations

import numpy as np

from .._record import record, field
from ..errors import ModelFormatError


def split_ref(ref: str) -> tuple[str, int]:
    """'a/b:1' -> ('a/b', 1); 'a/b' -> ('a/b', 0)."""
    name, sep, idx = ref.rpartition(":")
    if sep and idx.isdigit():
        return name, int(idx)
    return ref, 0


def tensor_key(ref: str) -> str:
    name, idx = split_ref(ref)
    return f"{name}:{idx}"


@record
class Node:
    name: str
    op: str
    inputs: list[str]                 # tensor keys "node:idx" (control inputs dropped)
    attrs: dict = field(default_factory=dict)

    def output(self, i: int = 0) -> str:
        return f"{self.name}:{i}"


@record
class TensorInfo:
    """A named graph input or output: user-facing name, tensor key, shape (-1 = any), dtype."""
    name: str
    key: str
    shape: list[int] | None
    dtype: np.dtype


@record
class Graph:
    nodes: list[Node]                 # topological order, Const/Placeholder included
    consts: dict[str, np.ndarray]     # node name -> value (for Const nodes)
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    source: str = "model.json"
    library: dict = field(default_factory=dict)   # TF2 control flow: function name -> control.Function

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def __post_init__(self):
        self._by_name = {n.name: n for n in self.nodes}

    def consumers(self) -> dict[str, list[Node]]:
        out: dict[str, list[Node]] = {}
        for n in self.nodes:
            for t in n.inputs:
                out.setdefault(t, []).append(n)
        return out


BACK_EDGE_OPS = ("NextIteration", "RefNextIteration")   # a loop's edge back to its Merge


def topo_sort(nodes: list[Node], source: str) -> list[Node]:
    """Kahn's algorithm, keeping the file's order among ready nodes (stable, deterministic).
    A while loop's NextIteration -> Merge edge is its one legitimate cycle: it is not an
    ordering constraint (graph/control.py runs the loop); any other cycle is an error."""
    by_name = {}
    for n in nodes:
        if n.name in by_name:
            raise ModelFormatError(f"{source}: duplicate node name {n.name!r}")
        by_name[n.name] = n
    deps: dict[str, set[str]] = {}
    for n in nodes:
        ds = set()
        for t in n.inputs:
            src, _ = split_ref(t)
            if src not in by_name:
                raise ModelFormatError(
                    f"{source}: node {n.name!r} ({n.op}) reads {t!r}, but no node {src!r} exists")
            if by_name[src].op not in BACK_EDGE_OPS:
                ds.add(src)
        deps[n.name] = ds
    position = {n.name: i for i, n in enumerate(nodes)}
    order = stable_topo_order(list(by_name), deps, position)
    if len(order) != len(nodes):
        stuck = sorted(set(by_name) - set(order))[:5]
        raise ModelFormatError(f"{source}: the graph has a cycle through nodes {stuck}")
    return [by_name[name] for name in order]


def stable_topo_order(items: list, deps: dict, position: dict) -> list:
    """Kahn's algorithm over hashable items (deps: item -> the items it needs), taking the
    ready item of lowest `position` first.  Items on a cycle are left out: a caller compares
    lengths to detect one."""
    import heapq
    users: dict = {it: [] for it in items}
    remaining = {it: len(deps[it]) for it in items}
    for it in items:
        for d in deps[it]:
            users[d].append(it)
    heap = [(position[it], i, it) for i, it in enumerate(items) if remaining[it] == 0]
    heapq.heapify(heap)
    order, tick = [], len(items)
    while heap:
        _, _, it = heapq.heappop(heap)
        order.append(it)
        for u in users[it]:
            remaining[u] -= 1
            if remaining[u] == 0:
                tick += 1                  # positions may repeat: the tick breaks ties, items never compared
                heapq.heappush(heap, (position[u], tick, u))
    return order
