"""Compile a Graph for concrete input shapes into a Plan every backend executes.

Compiling checks every op is known (UnsupportedOpError lists them all), infers
every tensor's shape and dtype through the op spec's shape rules (so a bad model
fails here, naming the node, not at predict time), folds nodes whose inputs are
all known (shape arithmetic and constant subgraphs), drops nodes the outputs do
not need, and records each tensor's last use so executors can free it.
"""
from __future__ import annotations

import numpy as np

from .._record import record, field
from ..errors import (ExecutionError, ModelFormatError, UnsupportedOpError, WebtensorError, is_out_of_memory,
                      wrap_backend_error)
from ..ops import GRAPH_OPS, OPS, OpSpec, ShapeUnknown, TensorSpec
from .ir import Graph, Node, split_ref

# Ops never worth folding at plan time (cost, or they produce large outputs).
NO_FOLD_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}


@record
class Step:
    node: Node
    op: OpSpec
    inputs: list[str]
    outputs: list[str]


@record
class Plan:
    graph: Graph
    input_keys: list[str]
    output_keys: list[str]
    steps: list[Step]
    specs: dict[str, TensorSpec]
    constants: dict[str, np.ndarray]          # tensors known at plan time that steps read
    free_after: list[list[str]] = field(default_factory=list)  # per step: keys dead after it
    folded: list[str] = field(default_factory=list)           # names of nodes folded away
    lowered: dict = field(default_factory=dict, repr=False)   # backend name -> its compiled form
    optimize: bool = True                                     # graph passes on (fold, fuse, reuse memory)

    def summary(self) -> dict:
        return {"steps": len(self.steps), "folded_nodes": len(self.folded),
                "graph_nodes": len(self.graph.nodes),
                "constant_bytes": int(sum(v.nbytes for v in self.constants.values()))}


def call_reference(op: OpSpec, node: Node, inputs: list, where: str) -> list:
    """An op's numpy reference on `inputs`; any failure an error naming `where` (the node)."""
    try:
        return op.ref(inputs, node.attrs)
    except WebtensorError:
        raise
    except Exception as e:
        raise (wrap_backend_error(e, where) if is_out_of_memory(e) else ExecutionError(f"{where} failed: {e}")) from None


def run_reference(plan: Plan, step: Step, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run one step on its numpy reference and check every output against the shape and
    dtype the plan reserved for it.  Every backend stores a fallback's outputs through
    this check, so an op whose result disagrees with its shape rule fails here, naming
    the node, instead of writing past its slot into other tensors (or other models)."""
    node = step.node
    where = f"{plan.graph.source}: node {node.name!r} ({node.op})"
    outs = call_reference(step.op, node, inputs, where)
    if len(outs) < len(step.outputs):
        raise ExecutionError(f"{where} produced {len(outs)} outputs, the plan expects {len(step.outputs)}")
    checked = []
    for key, value in zip(step.outputs, outs):
        want = plan.specs[key]
        value = np.asarray(value)
        if value.shape != tuple(want.shape):
            raise ExecutionError(f"{where} produced {key!r} with shape {list(value.shape)}, its shape rule "
                                 f"says {list(want.shape)}")
        if value.dtype != want.dtype:
            raise ExecutionError(f"{where} produced {key!r} as {value.dtype.name}, its shape rule says "
                                 f"{np.dtype(want.dtype).name}")
        checked.append(value)
    return checked


def unsupported_ops(nodes: list[Node]) -> dict[str, list[str]]:
    bad: dict[str, list[str]] = {}
    for n in nodes:
        if n.op not in OPS and n.op not in GRAPH_OPS:
            bad.setdefault(n.op, []).append(n.name)
    return bad


def check_supported(nodes: list[Node], source: str) -> None:
    bad = unsupported_ops(nodes)
    if bad:
        parts = [f"{op} (node {names[0]!r}" + (f" and {len(names) - 1} more" if len(names) > 1 else "") + ")"
                 for op, names in sorted(bad.items())]
        raise UnsupportedOpError(f"{source}: unsupported ops: " + ", ".join(parts))


def needed_nodes(nodes: list[Node], output_keys: list[str]) -> set[str]:
    """The names of the nodes the outputs depend on (a missing one: ModelFormatError)."""
    by_name = {n.name: n for n in nodes}
    need, stack = set(), [split_ref(k)[0] for k in output_keys]
    while stack:
        name = stack.pop()
        if name in need:
            continue
        if name not in by_name:
            raise ModelFormatError(f"no node {name!r} in the graph")
        need.add(name)
        stack.extend(split_ref(t)[0] for t in by_name[name].inputs)
    return need


def compile_plan(graph: Graph, input_specs: dict[str, TensorSpec], output_keys: list[str],
                 fold: bool = True) -> Plan:
    """input_specs: tensor key -> concrete shape/dtype of each fed Placeholder."""
    need = needed_nodes(graph.nodes, output_keys)
    specs: dict[str, TensorSpec] = {}
    values: dict[str, np.ndarray] = {}
    steps: list[Step] = []
    folded: list[str] = []
    for node in graph.nodes:
        if node.name not in need:
            continue
        where = f"{graph.source}: node {node.name!r} ({node.op})"
        if node.op == "Const":
            v = graph.consts[node.name]
            specs[node.output(0)] = TensorSpec(v.shape, v.dtype, v)
            values[node.output(0)] = v
            continue
        if node.op == "Placeholder":
            key = node.output(0)
            if key not in input_specs:
                raise ModelFormatError(f"{where}: the outputs need this Placeholder but it is not a "
                                       f"model input (inputs: {sorted(input_specs)})")
            specs[key] = input_specs[key]
            continue
        op = OPS.get(node.op)
        if op is None or op.dynamic:
            raise ModelFormatError(f"{where}: control flow or a value-dependent shape: the graph "
                                   f"interpreter runs it (graph/control.py), not a static plan")
        try:
            ins = [specs[k] for k in node.inputs]
        except KeyError as e:
            raise ModelFormatError(f"{where}: reads {e.args[0]!r}, which its producer does not output") from None
        required = [i for i in op.inputs if not i.endswith(("?", "*"))]
        variadic = any(i.endswith("*") for i in op.inputs)
        if len(ins) < len(required) or (not variadic and len(ins) > len(op.inputs)):
            raise ModelFormatError(f"{where}: expects inputs {list(op.inputs)}, got {len(ins)}")
        try:
            if fold and node.op not in NO_FOLD_OPS and op.foldable and all(s.value is not None for s in ins):
                outs = op.ref([s.value for s in ins], node.attrs)
                out_specs = [TensorSpec(o.shape, o.dtype, o) for o in (np.asarray(x) for x in outs)]
                folded.append(node.name)
            else:
                try:
                    out_specs = op.shape(ins, node.attrs)
                except ShapeUnknown:
                    raise ModelFormatError(f"{where}: its output shape depends on a value that is not "
                                           f"known when the model is compiled") from None
                steps.append(Step(node, op, list(node.inputs), [node.output(i) for i in range(len(out_specs))]))
        except WebtensorError:
            raise
        except Exception as e:  # a shape rule or fold rejected the node: name it
            raise ModelFormatError(f"{where}: {e}") from None
        for i, s in enumerate(out_specs):
            specs[node.output(i)] = s
            if s.value is not None:
                values[node.output(i)] = s.value
    for k in output_keys:
        if k not in specs:
            raise ModelFormatError(f"{graph.source}: output {k!r} is not produced by its node")

    # constants the steps (or outputs) read; lifetimes of everything else
    step_inputs = {k for s in steps for k in s.inputs}
    constants = {k: v for k, v in values.items() if k in step_inputs or k in output_keys}
    last_use: dict[str, int] = {}
    for i, s in enumerate(steps):
        for k in s.inputs:
            last_use[k] = i
    keep = set(output_keys)
    free_after: list[list[str]] = [[] for _ in steps]
    for k, i in last_use.items():
        if k not in keep:
            free_after[i].append(k)
    input_keys = [k for k in input_specs]
    return Plan(graph, input_keys, list(output_keys), steps, specs, constants, free_after, folded, optimize=fold)
