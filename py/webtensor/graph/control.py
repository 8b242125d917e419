"""Graphs with control flow and value-dependent shapes, run by an interpreter whose dense
parts are static plans.

TensorFlow writes control flow two ways, and models converted for TF.js carry both:

* TF1 frames: `Enter` moves a value into a loop's frame, `Merge` joins the first value with
  the one `NextIteration` sends back, `LoopCond` + `Switch` send each value either into the
  body (port 1) or out through `Exit` (port 0).  A `Switch`/`Merge` pair outside a loop is a
  conditional: the untaken port carries a *dead* value, every op with a dead input is dead,
  and `Merge` passes on its live input.
* TF2 functional ops: `While` / `StatelessWhile` (cond and body functions), `If` /
  `StatelessIf`, `PartitionedCall` — the functions are in model.json's `library`.

A `Program` is the graph cut into blocks: the root, one per loop frame (its body, with the
cond), one per function.  A block's items run in order; each is a node the interpreter
runs itself (control flow, ops whose output shape depends on values, TensorList values),
a nested `Loop`, or a `Group`: a convex set of plain nodes that runs as one static plan
(compiled when its inputs' shapes are known, cached per shape) — on the model's native
backend when it holds real work (a conv, a matmul, a resize, a pool), else node by node on
numpy.  Groups are formed per "level": a plain node's level is the number of interpreter
items on its longest path from the block's start, so nothing in a group waits on something
that waits on the group.  Nodes also group only with nodes of the same *guard* (the Switch
ports they lie behind), so a group is dead or alive as a whole.

The backend is not known here (layers: graph/ imports no backend): the model passes an
executor with `run_group(group, feeds)`.
"""
from __future__ import annotations

import time

import numpy as np

from .._record import record, field
from ..errors import ExecutionError, ModelFormatError
from ..ops import CONTROL_FLOW, OPS
from ..ops.control import LIST_OPS
from .ir import Node, split_ref, stable_topo_order
from .plan import call_reference

DEFAULT_LOOP_LIMIT = 100_000
_LOOP_LIMIT = [DEFAULT_LOOP_LIMIT]


def set_loop_limit(n: int) -> int:
    """The most iterations one loop may run before the model fails with an ExecutionError
    naming the loop (a loop whose condition never turns false would otherwise hang the
    page).  Returns the previous limit."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"the loop limit must be a positive int, got {n!r}")
    old, _LOOP_LIMIT[0] = _LOOP_LIMIT[0], n
    return old


def loop_limit() -> int:
    return _LOOP_LIMIT[0]


class _Dead:
    def __repr__(self):
        return "DEAD"


DEAD = _Dead()

ENTER = ("Enter", "RefEnter")
EXIT = ("Exit", "RefExit")
MERGE = ("Merge", "RefMerge")
SWITCH = ("Switch", "RefSwitch")
NEXT = ("NextIteration", "RefNextIteration")
WHILE = ("While", "StatelessWhile")
IF = ("If", "StatelessIf")
CALL = ("PartitionedCall", "StatefulPartitionedCall")

# Real work: a group holding one of these runs as a native plan; a group of only shape
# arithmetic and small element-wise steps is cheaper on numpy than a plan compile + call.
HEAVY_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative", "MatMul",
             "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "ResizeBilinear",
             "ResizeNearestNeighbor", "MaxPool", "AvgPool", "WtQConv2D", "WtQDepthwiseConv2D", "WtQMatMul"}
# Small integer inputs of a native group are compiled in as constants (a Reshape's shape, a
# slice's bounds computed at run time): the plan is specialised on them, and cached per value.
SPECIALISE_ELEMENTS = 16


def interpreted_why(node: Node) -> str | None:
    """Why the interpreter runs `node` itself (on numpy), or None for a plain node a static
    plan may hold."""
    if node.op in CONTROL_FLOW:
        return "control flow: run by the graph interpreter"
    spec = OPS.get(node.op)
    if node.op in LIST_OPS or any(isinstance(v, str) and v in ("DT_VARIANT", "DT_RESOURCE")
                                  for v in node.attrs.values()):     # Identity... carrying a list
        return "TensorList / TensorArray values live in Python"
    if spec is not None and spec.dynamic:
        return "output shape depends on input values"
    return None


def is_dynamic_node(node: Node) -> bool:
    """Run by the interpreter itself: control flow, value-dependent shapes, list values."""
    return interpreted_why(node) is not None


def needs_interpreter(nodes) -> bool:
    return any(is_dynamic_node(n) for n in nodes)


# ----------------------------------------------------------------------------- structure
@record
class Group:
    id: int
    nodes: list[Node]
    inputs: list[str]            # keys the group reads from outside it (constants excluded)
    outputs: list[str]           # keys read after it
    heavy: bool
    source: str

    @property
    def label(self) -> str:
        return f"group {self.id} ({len(self.nodes)} nodes: {self.nodes[0].name!r} ...)"


@record
class Loop:
    name: str                    # the frame name
    enters: list[Node]
    merges: list[Node]           # one per loop variable
    first: dict                  # merge name -> (input index of its Enter, Enter node)
    nexts: dict                  # merge name -> (input index of its NextIteration, NextIteration node)
    cond: Node                   # LoopCond
    exits: list[Node]
    block: "Block" = None


@record
class Block:
    items: list = field(default_factory=list)       # Node | Loop | Group


class Program:
    """A graph (or function body) cut into blocks; built once per set of requested outputs."""

    def __init__(self, nodes: list[Node], consts: dict, input_keys: list[str], output_keys: list[str],
                 source: str, library: dict | None = None):
        self.source = source
        self.library = library or {}
        self.input_keys = list(input_keys)
        self.output_keys = list(output_keys)
        self.groups: list[Group] = []
        self.loops: list[Loop] = []
        self.functions: dict[str, Program] = {}
        by_name = {n.name: n for n in nodes}
        self.by_name = by_name
        self.nodes = list(nodes)          # the caller keeps only what the outputs need
        self.position = {n.name: i for i, n in enumerate(self.nodes)}
        self._frames()
        self._loops()
        self._guards()
        self.root = self._block(())
        # the constants as tensors, one scope every run reads through (built once, not per run)
        self.constants = Scope()
        self.constants.values.update((f"{k}:0", v) for k, v in consts.items())

    # -- frames: which loop each node lives in --------------------------------------------
    def _where(self, n: Node) -> str:
        return f"{self.source}: node {n.name!r} ({n.op})"

    def _frames(self):
        frame: dict[str, tuple] = {}           # node -> the frame its outputs live in
        home: dict[str, tuple] = {}            # node -> the frame whose block runs it
        for n in self.nodes:
            if n.op in ("Const", "Placeholder"):
                frame[n.name] = home[n.name] = ()
                continue
            ins = []
            for k in n.inputs:
                p = split_ref(k)[0]
                if self.by_name[p].op == "Const" or self.by_name[p].op in NEXT:
                    continue
                if p not in frame:
                    raise ModelFormatError(f"{self._where(n)}: reads {k!r} before it is computed (a cycle "
                                           f"that is not a while loop's NextIteration -> Merge)")
                ins.append(frame[p])
            f = max(ins, key=len, default=())
            for g in ins:
                if f[:len(g)] != g:
                    raise ModelFormatError(f"{self._where(n)}: reads tensors of two different loops "
                                           f"({'/'.join(g) or 'top level'} and {'/'.join(f)})")
            if n.op in ENTER:
                name = n.attrs.get("frame_name")
                if not isinstance(name, str) or not name:
                    raise ModelFormatError(f"{self._where(n)}: an Enter without a frame_name")
                home[n.name] = frame[n.name] = f + (name,)
            elif n.op in EXIT:
                if not f:
                    raise ModelFormatError(f"{self._where(n)}: an Exit outside any loop")
                home[n.name] = f
                frame[n.name] = f[:-1]
            else:
                home[n.name] = frame[n.name] = f
            for k in n.inputs:                   # reading its own loop's Exit: a cycle the frames hide
                p = split_ref(k)[0]
                loop = home.get(p) if self.by_name[p].op in EXIT else None
                if loop and home[n.name][:len(loop)] == loop:
                    raise ModelFormatError(f"{self._where(n)}: reads {k!r}, the exit of the loop it is in")
        self.home = home

    def _loops(self):
        by_frame: dict[tuple, dict] = {}
        for n in self.nodes:
            f = self.home[n.name]
            if n.op in ENTER or n.op in EXIT or n.op == "LoopCond" or n.op in MERGE:
                by_frame.setdefault(f, {"enter": [], "exit": [], "cond": [], "merge": []})
            if n.op in ENTER:
                by_frame[f]["enter"].append(n)
            elif n.op in EXIT:
                by_frame[f]["exit"].append(n)
            elif n.op == "LoopCond":
                by_frame[f]["cond"].append(n)
            elif n.op in MERGE and any(self.by_name[split_ref(k)[0]].op in NEXT for k in n.inputs):
                by_frame[f]["merge"].append(n)
        self.loop_of: dict[tuple, Loop] = {}
        for f, parts in sorted(by_frame.items(), key=lambda kv: len(kv[0])):
            if not f:
                if parts["merge"] or parts["cond"]:
                    bad = (parts["merge"] + parts["cond"])[0]
                    raise ModelFormatError(f"{self._where(bad)}: a loop node outside any loop frame (no Enter)")
                continue
            where = f"{self.source}: loop {f[-1]!r}"
            if len(parts["cond"]) != 1:
                raise ModelFormatError(f"{where} has {len(parts['cond'])} LoopCond nodes, expected 1")
            cond = parts["cond"][0]
            first, nexts = {}, {}
            for m in parts["merge"]:
                if len(m.inputs) != 2:
                    raise ModelFormatError(f"{self._where(m)}: a loop Merge needs 2 inputs, has {len(m.inputs)}")
                for i, k in enumerate(m.inputs):
                    p = self.by_name[split_ref(k)[0]]
                    if p.op in NEXT:
                        nexts[m.name] = (i, p)
                    elif p.op in ENTER:
                        first[m.name] = (i, p)
                if m.name not in first or m.name not in nexts:
                    raise ModelFormatError(f"{self._where(m)}: a loop Merge must join an Enter and a NextIteration")
            loop = Loop(f[-1], parts["enter"], parts["merge"], first, nexts, cond, parts["exit"])
            self.loop_of[f] = loop
            self.loops.append(loop)
        fed_back = {p.name for lp in self.loops for _, p in lp.nexts.values()}
        for n in self.nodes:
            if n.op in NEXT and (self.home[n.name] not in self.loop_of or n.name not in fed_back):
                raise ModelFormatError(f"{self._where(n)}: a NextIteration that feeds no loop Merge")

    def _guards(self):
        """Per node, the (predicate tensor, port) pairs of the Switches it lies behind: nodes
        group only with nodes of the same guard, so a group is dead or alive as a whole."""
        self.guard = guard = {}
        for n in self.nodes:
            ins = [self._switch_guard(k) for k in n.inputs if self.by_name[split_ref(k)[0]].op not in NEXT]
            if n.op in MERGE:
                g = frozenset.intersection(*ins) if ins else frozenset()
            elif n.op in EXIT:
                loop = self.loop_of[self.home[n.name]]
                g = frozenset().union(*[guard.get(e.name, frozenset()) for e in loop.enters])
            else:
                g = frozenset().union(*ins)
            guard[n.name] = g

    def _switch_guard(self, key: str) -> frozenset:
        """The guard of a tensor read by a consumer: a Switch's port adds itself."""
        name, port = split_ref(key)
        n = self.by_name[name]
        g = self.guard.get(name, frozenset())
        if n.op in SWITCH:
            g = g | {(n.inputs[1], port)}
        return g

    # -- blocks -------------------------------------------------------------------------------
    def _block(self, f: tuple) -> Block:
        """The items of frame f in a runnable order: its own nodes and its child loops, each
        child loop one item; then the plain nodes grouped by (level, guard)."""
        depth = len(f)

        def item_of(name):
            h = self.home[name]
            if h[:depth] != f:
                return None                          # outside this block: already computed
            return name if len(h) == depth else ("loop", h[:depth + 1])

        loop = self.loop_of.get(f)
        merges = {m.name for m in loop.merges} if loop else set()
        members: list = []
        seen = set()
        first_pos: dict = {}
        for n in self.nodes:
            if n.op in ("Const", "Placeholder"):
                continue
            it = item_of(n.name)
            if it is None:
                continue
            if isinstance(it, str) and (n.op in ENTER or n.op in EXIT or n.name in merges):
                continue                             # set by the loop (Enter, Merge) or read by it (Exit)
            if it not in seen:
                seen.add(it)
                members.append(it)
                first_pos[it] = self.position[n.name]
        deps: dict = {it: set() for it in members}
        for n in self.nodes:
            it = item_of(n.name) if n.op not in ("Const", "Placeholder") else None
            if it is None or it not in deps:
                continue
            for k in n.inputs:
                p = split_ref(k)[0]
                if self.by_name[p].op in NEXT and n.op in MERGE:
                    continue
                pi = item_of(p) if self.by_name[p].op not in ("Const", "Placeholder") else None
                if pi is not None and pi != it and pi in deps:
                    deps[it].add(pi)
        order = stable_topo_order(members, deps, first_pos)
        if len(order) != len(members):
            stuck = [m for m in members if m not in set(order)][:3]
            raise ModelFormatError(f"{self.source}: {'/'.join(f) or 'top level'}: a cycle through {stuck} (only a "
                                   f"while loop's NextIteration may feed back)")
        # levels and groups
        level: dict = {}
        dynamic: dict = {}
        for it in order:
            is_dyn = not isinstance(it, str) or is_dynamic_node(self.by_name[it])
            dynamic[it] = is_dyn
            lv = 0
            for d in deps[it]:
                lv = max(lv, level[d] + (1 if dynamic[d] and not is_dyn else 0))
            level[it] = lv
        block = Block()
        index = {it: i for i, it in enumerate(order)}
        by_key: dict = {}
        plan: list = []
        for it in order:
            if dynamic[it]:
                plan.append((level[it], 1, index[it], it))
            else:
                by_key.setdefault((level[it], self.guard[it]), []).append(it)
        for (lv, g), names in by_key.items():
            # same level: a group depends only on groups of a smaller guard (fewer Switches)
            plan.append((lv, 0, (len(g), index[names[0]]), ("group", names)))
        plan.sort(key=lambda t: t[:3])
        for _, kind, _, it in plan:
            if kind == 0:
                block.items.append(self._group(it[1]))
            elif isinstance(it, str):
                block.items.append(self.by_name[it])
            else:
                loop = self.loop_of[it[1]]
                loop.block = self._block(it[1])
                block.items.append(loop)
        return block

    def _group(self, names: list[str]) -> Group:
        inside = set(names)
        nodes = [self.by_name[n] for n in names]
        nodes.sort(key=lambda n: self.position[n.name])
        inputs: list[str] = []
        for n in nodes:
            for k in n.inputs:
                p = split_ref(k)[0]
                if p not in inside and self.by_name[p].op != "Const" and k not in inputs:
                    inputs.append(k)
        used_after = set(self.output_keys)
        for n in self.nodes:
            if n.name not in inside:
                used_after.update(n.inputs)
        outputs = sorted({k for k in used_after if split_ref(k)[0] in inside},
                         key=lambda k: (self.position[split_ref(k)[0]], k))
        heavy = any(n.op in HEAVY_OPS for n in nodes)
        g = Group(len(self.groups), nodes, inputs, outputs, heavy, self.source)
        self.groups.append(g)
        return g

    # -- functions (TF2 control flow) ------------------------------------------------------
    def function(self, name) -> "Program":
        if isinstance(name, dict):
            name = name.get("name")
        prog = self.functions.get(name)
        if prog is None:
            fn = self.library.get(name)
            if fn is None:
                raise ModelFormatError(f"{self.source}: calls function {name!r}, which the model's library "
                                       f"does not define")
            prog = Program(fn.nodes, fn.consts, fn.arg_keys, fn.output_keys, f"{self.source}: function {name!r}",
                           self.library)
            self.functions[name] = prog
        return prog


# ----------------------------------------------------------------------------- running
class Scope:
    """Tensor values of one block run; reads fall through to the enclosing scopes."""
    __slots__ = ("values", "parent", "dead")

    def __init__(self, parent: "Scope | None" = None):
        self.values: dict = {}
        self.parent = parent
        self.dead: set = set()

    def get(self, key):
        s = self
        name = None
        while s is not None:
            v = s.values.get(key)
            if v is not None:
                return v
            if s.dead:
                name = name or split_ref(key)[0]
                if name in s.dead:
                    return DEAD
            s = s.parent
        raise KeyError(key)


def _read(scope: Scope, key: str, where: str):
    try:
        return scope.get(key)
    except KeyError:
        raise ExecutionError(f"{where}: reads {key!r}, which was never computed (a malformed graph)") from None


def _truth(v, where) -> bool:
    """TF's rule for If / LoopCond predicates: a scalar is true when non-zero; a tensor of
    more elements is true when it is non-empty."""
    a = np.asarray(v)
    if a.ndim == 0:
        return bool(a)
    if a.dtype == np.bool_ and a.size == 1:
        return bool(a.reshape(()))
    return a.size > 0


class Interpreter:
    """Runs a Program.  `executor.run_group(group, feeds)` (awaitable) runs a heavy group
    natively and returns its outputs; `executor.record(node, ms)` may count numpy steps."""

    def __init__(self, program: Program, executor):
        self.program = program
        self.executor = executor

    async def run(self, feeds: dict) -> dict:
        prog = self.program
        scope = Scope(prog.constants)
        scope.values.update(feeds)
        await self._block(prog, prog.root, scope)
        out = {}
        for k in prog.output_keys:
            v = _read(scope, k, f"{prog.source}: output")
            if v is DEAD:
                raise ExecutionError(f"{prog.source}: output {k!r} is dead (it lies on a branch the "
                                     f"model's condition did not take)")
            out[k] = v
        return out

    async def _block(self, prog: Program, block: Block, scope: Scope):
        for item in block.items:
            if isinstance(item, Group):
                await self._group(prog, item, scope)
            elif isinstance(item, Loop):
                await self._loop(prog, item, scope)
            else:
                await self._node(prog, item, scope)

    async def _group(self, prog: Program, group: Group, scope: Scope):
        feeds = {k: _read(scope, k, f"{prog.source}: {group.label}") for k in group.inputs}
        if any(v is DEAD for v in feeds.values()):
            scope.dead.update(n.name for n in group.nodes)
            return
        if group.heavy:
            result = await self.executor.run_group(group, feeds)
            if result is not None:
                scope.values.update(result)
                return
        local = Scope(scope)
        local.values.update(feeds)
        for n in group.nodes:
            await self._node(prog, n, local)
        for k in group.outputs:
            scope.values[k] = local.values[k]

    async def _node(self, prog: Program, n: Node, scope: Scope):
        ins = [_read(scope, k, prog._where(n)) for k in n.inputs]
        op = n.op
        if op in MERGE:
            for i, v in enumerate(ins):
                if v is not DEAD:
                    scope.values[n.output(0)] = v
                    scope.values[n.output(1)] = np.int32(i)
                    return
            scope.dead.add(n.name)
            return
        if any(v is DEAD for v in ins):
            scope.dead.add(n.name)
            return
        if op in SWITCH:
            if len(ins) != 2:
                raise ExecutionError(f"{prog._where(n)}: a Switch needs data and a predicate")
            taken = 1 if _truth(ins[1], prog._where(n)) else 0
            scope.values[n.output(taken)] = ins[0]
            scope.values[n.output(1 - taken)] = None
            scope.dead.add(n.name)            # the untaken port: its key is absent, so it reads dead
            return
        if op == "LoopCond" or op in NEXT:
            scope.values[n.output(0)] = ins[0]
            return
        if op in WHILE:
            outs = await self._while(prog, n, ins)
        elif op in IF:
            branch = n.attrs.get("then_branch") if _truth(ins[0], prog._where(n)) else n.attrs.get("else_branch")
            outs = await self._call(prog, n, branch, ins[1:])
        elif op in CALL:
            outs = await self._call(prog, n, n.attrs.get("f"), ins)
        elif op in ENTER or op in EXIT:
            raise ExecutionError(f"{prog._where(n)}: outside the loop structure it belongs to")
        else:
            outs = self._reference(prog, n, ins)
        for i, v in enumerate(outs):
            scope.values[n.output(i)] = v

    def _reference(self, prog: Program, n: Node, ins):
        spec = OPS.get(n.op)
        if spec is None:
            raise ExecutionError(f"{prog._where(n)}: no reference for this op")
        t0 = time.perf_counter()
        outs = call_reference(spec, n, ins, prog._where(n))
        record = getattr(self.executor, "record", None)
        if record is not None:
            record(n, ins, outs, (time.perf_counter() - t0) * 1e3)
        return outs

    async def _loop(self, prog: Program, loop: Loop, scope: Scope):
        where = f"{prog.source}: loop {loop.name!r}"
        entered = {e.name: _read(scope, e.inputs[0], prog._where(e)) for e in loop.enters}
        if any(v is DEAD for v in entered.values()):
            scope.dead.update(x.name for x in loop.exits)
            return
        values = {m.name: entered[loop.first[m.name][1].name] for m in loop.merges}
        came_from = {m.name: loop.first[m.name][0] for m in loop.merges}
        frame = Scope(scope)                      # what entered the frame: the same every iteration
        frame.values.update((e.output(0), entered[e.name]) for e in loop.enters)
        limit = loop_limit()
        iteration = 0
        while True:
            local = Scope(frame)
            for m in loop.merges:
                local.values[m.output(0)] = values[m.name]
                local.values[m.output(1)] = np.int32(came_from[m.name])
            await self._block(prog, loop.block, local)
            pred = _read(local, loop.cond.inputs[0], f"{where}: its condition")
            if pred is DEAD or not _truth(pred, where):
                for x in loop.exits:
                    v = _read(local, x.inputs[0], prog._where(x))
                    if v is DEAD:
                        scope.dead.add(x.name)
                    else:
                        scope.values[x.output(0)] = v
                return
            iteration += 1
            if iteration >= limit:
                raise ExecutionError(f"{where} ran {iteration} iterations without its condition turning false "
                                     f"(the limit; raise it with webtensor.set_loop_limit(n))")
            for m in loop.merges:
                v = _read(local, loop.nexts[m.name][1].inputs[0], where)
                if v is DEAD:
                    raise ExecutionError(f"{where}: the next value of {m.name!r} is dead while the loop goes on")
                values[m.name] = v
                came_from[m.name] = loop.nexts[m.name][0]

    async def _call(self, prog: Program, n: Node, fn, args):
        body = prog.function(fn)
        if len(args) != len(body.input_keys):
            raise ExecutionError(f"{prog._where(n)}: passes {len(args)} arguments to {body.source}, which takes "
                                 f"{len(body.input_keys)}")
        out = await Interpreter(body, self.executor).run(dict(zip(body.input_keys, args)))
        return [out[k] for k in body.output_keys]

    async def _while(self, prog: Program, n: Node, args):
        cond, body = n.attrs.get("cond"), n.attrs.get("body")
        where = prog._where(n)
        limit = loop_limit()
        values = list(args)
        for iteration in range(limit + 1):
            pred = (await self._call(prog, n, cond, values))[0]
            if not _truth(pred, where):
                return values
            if iteration >= limit:
                break
            new = await self._call(prog, n, body, values)
            if len(new) != len(values):
                raise ExecutionError(f"{where}: the body returns {len(new)} values for {len(values)} loop variables")
            values = new
        raise ExecutionError(f"{where} ran {limit} iterations without its condition turning false "
                             f"(the limit; raise it with webtensor.set_loop_limit(n))")


# ----------------------------------------------------------------------------- TF2 function library
@record
class Function:
    name: str
    nodes: list[Node]
    consts: dict
    arg_keys: list[str]
    output_keys: list[str]


# Output argument names of multi-output ops, for a function body's "node:arg:index" references.
OUTPUT_ARGS = {
    "Switch": ["output_false", "output_true"], "Merge": ["output", "value_index"],
    "TopKV2": ["values", "indices"], "NonMaxSuppressionV4": ["selected_indices", "valid_outputs"],
    "NonMaxSuppressionV5": ["selected_indices", "selected_scores", "valid_outputs"],
    "TensorListPopBack": ["output_handle", "tensor"], "TensorListConcatV2": ["tensor", "lengths"],
    "TensorArrayV3": ["handle", "flow"], "TensorArrayConcatV3": ["value", "lengths"],
    "FusedBatchNorm": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2"],
    "FusedBatchNormV3": ["y", "batch_mean", "batch_variance", "reserve_space_1", "reserve_space_2",
                         "reserve_space_3"],
}
