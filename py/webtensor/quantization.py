"""Post-training int8 quantisation: `quantize(model, calibration_inputs)`.

The float model's plan is run on numpy over the calibration inputs to record each
tensor's range.  Every convolution, depthwise convolution and MatMul with a constant
filter becomes an int8 op (ops/quant.py) together with the epilogue the wasm backend
would fuse into it (bias, per-channel affine, residual add, Relu/Relu6): the same
fusion analysis as the backends (lower/ `Lowering`), so one definition
decides what joins a kernel.  MaxPool, zero Pad and reshapes run on int8 values
unchanged; any other op reads float32, through a WtDequantize inserted where an int8
tensor meets it (and WtQuantize where a float tensor enters an int8 op).  A
convolution whose result only float ops read writes float32 directly.

Scheme: filters per-output-channel symmetric int8 (scale = max|w| / 127), activations
per-tensor affine int8 with [min, max] of the calibration run widened to include 0.
"""
from __future__ import annotations

import numpy as np

from ._record import record
from .lower import VIEW_OPS, Fallback, Lowering, fused_epilogue_args
from .errors import InputError
from .graph.ir import Graph, Node, TensorInfo, split_ref
from .graph.plan import Plan
from .ops.kinds import FILTER_CHANNEL_AXIS, FILTER_KINDS, QUANT_OPS
from .ops.quant import F32, I8, QACTS, quantize_values

# filter layouts (ops/kinds.py): conv [kh,kw,ci,co], depthwise [kh,kw,c,1], MatMul [k,n]
REDUCE_AXES = {kind: tuple(a for a in range(4 if kind != "mm" else 2) if a != axis)
               for kind, axis in FILTER_CHANNEL_AXIS.items()}     # all but the channel axis
ACT_NAMES = {n or None: n for n in QACTS}   # the activations an int8 op folds (None: none) -> attribute
GEOMETRY_ATTRS = ("strides", "padding", "explicit_paddings", "dilations", "data_format")


@record(frozen=True)
class QParams:
    scale: float
    zero_point: int


def choose_params(lo: float, hi: float) -> QParams:
    """int8 affine parameters covering [lo, hi] (widened to include 0, so that zero
    padding is exact)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        hi = lo + 1e-6
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return QParams(float(np.float32(scale)), zp)


@record
class Group:
    """A conv-like step and the epilogue steps it absorbs, in float terms."""
    step: int
    kind: str
    x: str
    w: np.ndarray          # conv [kh,kw,ci,co]; dw [kh,kw,c,1]; mm [k,n]  (affine folded in)
    bias: np.ndarray       # float32 [co]
    residual: str | None
    act: str | None        # None, "Relu" or "Relu6"
    out: str
    members: set           # the plan steps it absorbed (epilogue ops)


def calibrate(plan: Plan, feeds_list: list[dict]) -> dict[str, np.ndarray]:
    """Run the plan on numpy for each input; per float tensor, the min and max of each
    channel (last axis): an array [2, channels]."""
    ranges: dict[str, np.ndarray] = {}

    def record(k, v):
        v = np.asarray(v)
        if v.dtype != F32 or v.size == 0:
            return
        flat = v.reshape(-1, v.shape[-1]) if v.ndim else v.reshape(1, 1)
        mm = np.stack([np.nanmin(flat, axis=0), np.nanmax(flat, axis=0)]).astype(np.float64)
        r = ranges.get(k)
        ranges[k] = mm if r is None else np.stack([np.minimum(r[0], mm[0]), np.maximum(r[1], mm[1])])

    for feeds in feeds_list:
        values = dict(plan.constants)
        for k, v in feeds.items():
            values[k] = v
            record(k, v)
        for step in plan.steps:
            outs = step.op.ref([values[k] for k in step.inputs], step.node.attrs)
            for k, v in zip(step.outputs, outs):
                values[k] = np.asarray(v)
                record(k, v)
    return ranges


def find_groups(plan: Plan, keep_float=()) -> tuple[dict[int, Group], set[int]]:
    """Conv-like steps that can run in int8 (and are not named in keep_float), each with
    its fused epilogue; the set of steps absorbed into them."""
    low = Lowering(plan, True, hoist=False)     # the int8 graph keeps the plan's step order
    groups: dict[int, Group] = {}
    for i, step in enumerate(plan.steps):
        kind = FILTER_KINDS.get(step.node.op)
        if i in low.skip or kind is None or step.node.name in keep_float:
            continue
        x, wkey = step.inputs[:2]
        w = low.const(wkey)
        if w is None or low.const(x) is not None or low.dtype(x) != F32:
            continue
        attrs = step.node.attrs
        if kind == "mm":
            if attrs.get("transpose_a") or len(low.shape(x)) != 2:
                continue
            w = w.T if attrs.get("transpose_b") else w
            co = w.shape[1]
        elif kind == "dw":
            if w.shape[3] != 1:
                continue
            co = w.shape[2]
        else:
            co = w.shape[3]
        try:
            bias, scale, act, _, alpha = fused_epilogue_args(low, step, co)
        except Fallback:
            continue
        if alpha is not None or act not in ACT_NAMES:
            continue
        chan = (lambda v: np.asarray(v, np.float32).reshape(co, 1)) if kind == "dw" else \
            (lambda v: np.asarray(v, np.float32))
        w = np.asarray(w, np.float32)
        if scale is not None:
            w = w * chan(scale)
        saved = (set(low.skip), dict(low.fused))
        out, a, b, residual, act2, _, _ = low.fuse_epilogue(i, step.outputs[0], act, allow_residual=True, channels=co)
        if act2 not in ACT_NAMES:          # e.g. a Sigmoid joined: keep the conv alone
            low.skip, low.fused = saved
            out, a, b, residual, act2 = step.outputs[0], None, None, None, act
        if a is not None:
            w, bias = w * chan(a), bias * a
        if b is not None:
            bias = bias + b
        groups[i] = Group(i, kind, x, w, np.asarray(bias, np.float32), residual, act2, out, low.skip - saved[0])
    return groups, set(low.skip)


def equalize(plan: Plan, groups: dict[int, Group], absorbed: set[int], ranges: dict[str, np.ndarray],
             strength: float = 0.5) -> int:
    """Cross-layer range equalisation (the idea of Nagel et al. 2019, "Data-Free
    Quantization"): a conv or depthwise conv with no activation or a Relu (both commute
    with a positive per-channel scale) whose output only convs read can have output
    channel c multiplied by s_c and those convs' input channel c divided by s_c without
    changing the result.  Choosing s_c to even out the channels' ranges lets one
    per-tensor int8 scale serve all of them (BlazeFace's depthwise outputs span ranges
    10x-100x apart).  strength 1 equalises fully, 0 not at all; 0.5 splits the spread
    between the activation and the filters.  Returns the number of tensors equalised."""
    other_reads = {k for i, st in enumerate(plan.steps) if i not in groups and i not in absorbed for k in st.inputs}
    readers: dict[str, list[tuple[Group, str]]] = {}
    for g in groups.values():
        readers.setdefault(g.x, []).append((g, "x"))
        if g.residual:
            readers.setdefault(g.residual, []).append((g, "residual"))
    done = 0
    for g in groups.values():
        nxt = readers.get(g.out, [])
        if (g.kind == "mm" or g.act not in (None, "Relu") or g.residual or g.out in plan.output_keys or g.out in other_reads
                or g.out not in ranges or not nxt or any(role != "x" or c.kind != "conv" for c, role in nxt)):
            continue
        r = np.maximum(np.abs(ranges[g.out]).max(axis=0), 1e-6)
        s = (r.max() / r) ** strength
        chan = s.reshape(-1, 1) if g.kind == "dw" else s
        g.w = (g.w * chan).astype(np.float32)
        g.bias = (g.bias * s).astype(np.float32)
        for c, _ in nxt:
            c.w = (c.w / s.reshape(-1, 1)).astype(np.float32)
        ranges[g.out] = ranges[g.out] * s
        done += 1
    return done


def int32_safe(g: Group, px: QParams) -> bool:
    """Can the int32 accumulator hold bias + every product sum?  (A bias large against
    the tiny scale of a near-constant input can overflow it: such a conv stays float.)"""
    wq, sw = quantize_filter(g.w, g.kind)
    k = wq.size // sw.size
    bias_q = np.abs(g.bias.astype(np.float64) / (px.scale * sw)) + abs(px.zero_point) * 127 * k
    return bool(np.all(bias_q + 128 * 127 * k < 2 ** 31 - 1))


def quantize_filter(w: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8: (w_q, scale per channel)."""
    amax = np.abs(w).max(axis=REDUCE_AXES[kind])
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float64)
    shape = [1] * w.ndim
    shape[FILTER_CHANNEL_AXIS[kind]] = -1
    wq = np.clip(np.rint(w / scale.reshape(shape)), -127, 127).astype(I8)
    return wq, scale


class _Builder:
    """Emits the int8 graph step by step, tracking each original tensor's float and
    int8 versions."""

    def __init__(self, model, plan: Plan, ranges, groups: dict[int, Group], absorbed: set[int]):
        self.plan, self.ranges, self.groups, self.absorbed = plan, ranges, groups, absorbed
        self.nodes: list[Node] = [n for n in model.graph.nodes if n.op == "Placeholder"]
        self.consts: dict[str, np.ndarray] = {}
        self.names = {n.name for n in self.nodes}
        self.fkey: dict[str, str] = {k: k for k in plan.input_keys}
        self.qkey: dict[str, str] = {}
        self.qp: dict[str, QParams] = {}
        self.outputs = set(plan.output_keys)
        self.uses: dict[str, list[tuple[str, int]]] = {}
        for i, s in enumerate(plan.steps):
            if i in groups:
                g = groups[i]
                for k in [g.x] + ([g.residual] if g.residual else []):
                    self.uses.setdefault(k, []).append(("group", i))
            elif i not in absorbed:
                for k in s.inputs:
                    self.uses.setdefault(k, []).append(("step", i))
        self._wants: dict[str, bool] = {}
        self.stats = {"int8_kernels": 0, "float_kernels": [], "quantize_nodes": 0, "dequantize_nodes": 0}

    # -- names and nodes ----------------------------------------------------------
    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.names:
            name, n = f"{base}_{n}", n + 1
        self.names.add(name)
        return name

    def add(self, name: str, op: str, inputs: list[str], attrs: dict) -> str:
        node = Node(self.unique(name), op, inputs, attrs)
        self.nodes.append(node)
        return node.output(0)

    def const(self, name: str, value: np.ndarray) -> str:
        key = self.add(name, "Const", [], {"dtype": np.dtype(value.dtype)})
        self.consts[split_ref(key)[0]] = value
        return key

    def params(self, k: str) -> QParams:
        if k not in self.ranges:
            raise InputError(f"quantize: no calibration range for tensor {k!r}")
        r = self.ranges[k]
        return choose_params(r[0].min(), r[1].max())

    # -- the two versions of a tensor ----------------------------------------------
    def float_of(self, k: str) -> str:
        if k in self.fkey:
            return self.fkey[k]
        if k in self.plan.constants:
            self.fkey[k] = self.const("const/" + k.replace(":", "_"), self.plan.constants[k])
        else:
            p = self.qp[k]
            name = split_ref(k)[0] if k.endswith(":0") else k.replace(":", "_")
            self.fkey[k] = self.add(name, "WtDequantize", [self.qkey[k]],
                                    {"scale": p.scale, "zero_point": p.zero_point})
            self.stats["dequantize_nodes"] += 1
        return self.fkey[k]

    def int8_of(self, k: str) -> str:
        if k not in self.qkey:
            p = self.params(k)
            self.qkey[k] = self.add(split_ref(k)[0] + "/quantize", "WtQuantize", [self.float_of(k)],
                                    {"scale": p.scale, "zero_point": p.zero_point})
            self.qp[k] = p
            self.stats["quantize_nodes"] += 1
        return self.qkey[k]

    def passes_int8(self, i: int) -> bool:
        """MaxPool, zero Pad and views keep int8 values as they are."""
        s = self.plan.steps[i]
        op = s.node.op
        if op == "MaxPool" or op in VIEW_OPS:
            return True
        if op in ("Pad", "PadV2"):
            v = self.plan.constants.get(s.inputs[2]) if len(s.inputs) > 2 else np.zeros(1)
            return v is not None and float(np.asarray(v).reshape(-1)[0]) == 0.0 and \
                s.inputs[1] in self.plan.constants
        return False

    def wants_int8(self, k: str) -> bool:
        """Does any reader of k take int8 (an int8 kernel, or an int8 pass-through op
        whose result some int8 kernel reads)?"""
        if k not in self._wants:
            self._wants[k] = False
            self._wants[k] = any(kind == "group" or (self.passes_int8(i) and self.plan.steps[i].inputs[0] == k
                                                     and self.wants_int8(self.plan.steps[i].outputs[0]))
                                 for kind, i in self.uses.get(k, []))
        return self._wants[k]

    # -- emission --------------------------------------------------------------------
    def emit_group(self, g: Group):
        node = self.plan.steps[g.step].node
        xq = self.int8_of(g.x)
        px = self.qp[g.x]
        rq = self.int8_of(g.residual) if g.residual else None
        wq, sw = quantize_filter(g.w, g.kind)
        sumw = wq.astype(np.int64).sum(axis=REDUCE_AXES[g.kind])
        acc_scale = px.scale * sw
        bias_q = np.rint(g.bias.astype(np.float64) / acc_scale) - px.zero_point * sumw
        bias_q = np.clip(bias_q, -2 ** 31, 2 ** 31 - 1).astype(np.int32)
        attrs = {k: node.attrs[k] for k in GEOMETRY_ATTRS if k in node.attrs}
        attrs.update({"x_zero_point": px.zero_point, "filter_scales": [float(v) for v in sw]})
        out_name = split_ref(g.out)[0]
        if self.wants_int8(g.out):
            po = self.params(g.out)
            mult = acc_scale / po.scale
            qmin, qmax = -128, 127
            if g.act in ("Relu", "Relu6"):
                qmin = max(qmin, po.zero_point)
            if g.act == "Relu6":
                qmax = min(qmax, po.zero_point + int(np.rint(6.0 / po.scale)))
            attrs.update({"out_dtype": "int8", "out_zero_point": po.zero_point, "qmin": qmin, "qmax": qmax})
            if rq:
                pr = self.qp[g.residual]
                attrs.update({"residual_zero_point": pr.zero_point,
                              "residual_scale": float(np.float32(pr.scale / po.scale))})
            name = out_name + "/int8"
        else:
            mult = acc_scale
            attrs.update({"out_dtype": "float32", "activation": ACT_NAMES[g.act]})
            if rq:
                pr = self.qp[g.residual]
                attrs.update({"residual_zero_point": pr.zero_point, "residual_scale": pr.scale})
            name = out_name
        base = node.name
        ins = [xq, self.const(base + "/q_filter", wq), self.const(base + "/q_bias", bias_q),
               self.const(base + "/q_multiplier", mult.astype(np.float32))] + ([rq] if rq else [])
        key = self.add(name, QUANT_OPS[g.kind], ins, attrs)
        if attrs["out_dtype"] == "int8":
            self.qkey[g.out], self.qp[g.out] = key, po
        else:
            self.fkey[g.out] = key
        self.stats["int8_kernels"] += 1

    def emit_step(self, i: int):
        s = self.plan.steps[i]
        x = s.inputs[0] if s.inputs else None
        if self.passes_int8(i) and x in self.qkey and (x not in self.fkey or self.wants_int8(s.outputs[0])):
            ins = [self.qkey[x]] + [self.float_of(k) for k in s.inputs[1:]]
            if s.node.op in ("Pad", "PadV2"):     # pad with the zero point: real 0
                ins = ins[:2] + [self.const(s.node.name + "/q_pad_value",
                                            np.array(self.qp[x].zero_point, np.int32))]
                op = "PadV2"
            else:
                op = s.node.op
            out = s.outputs[0]
            self.qkey[out] = self.add(s.node.name + "/int8", op, ins, dict(s.node.attrs))
            self.qp[out] = self.qp[x]
            return
        if s.node.op in FILTER_KINDS:
            self.stats["float_kernels"].append(f"{s.node.op} ({s.node.name})")
        ins = [self.float_of(k) for k in s.inputs]
        node = Node(self.unique(s.node.name), s.node.op, ins, dict(s.node.attrs))
        self.nodes.append(node)
        for j, k in enumerate(s.outputs):
            self.fkey[k] = node.output(j)

    def build(self, graph: Graph) -> Graph:
        for i in range(len(self.plan.steps)):
            if i in self.groups:
                self.emit_group(self.groups[i])
            elif i not in self.absorbed:
                self.emit_step(i)
        outputs = [TensorInfo(o.name, self.float_of(o.key), o.shape, o.dtype) for o in graph.outputs]
        inputs = [TensorInfo(i.name, i.key, i.shape, i.dtype) for i in graph.inputs]
        return Graph(self.nodes, self.consts, inputs, outputs, graph.source + " (int8)")


def quantize(model, calibration_inputs, backend: str | None = None, equalization: float = 0.5,
             keep_float=()):
    """An int8 copy of `model` (a GraphModel), calibrated on `calibration_inputs`: a list
    of inputs as `predict` takes them (arrays, or dicts for several inputs), all of one
    shape.  Returns a GraphModel whose `quantization` dict says what was quantised."""
    from .model import GraphModel
    if model.program_for(model.output_keys) is not None:
        from .errors import UnsupportedOpError
        raise UnsupportedOpError(f"quantize: {model.graph.source} has control flow or value-dependent shapes; "
                                 f"int8 quantization covers models that are one static plan")
    if not isinstance(calibration_inputs, (list, tuple)) or not calibration_inputs:
        raise InputError("quantize: calibration_inputs must be a non-empty list of model inputs")
    feeds_list = [model._feeds(x) for x in calibration_inputs]
    shapes = {k: v.shape for k, v in feeds_list[0].items()}
    for f in feeds_list[1:]:
        if {k: v.shape for k, v in f.items()} != shapes:
            raise InputError(f"quantize: calibration inputs differ in shape ({shapes} vs "
                             f"{ {k: v.shape for k, v in f.items()} })")
    plan = model.plan_for(shapes, model.output_keys)
    ranges = calibrate(plan, feeds_list)
    groups, absorbed = find_groups(plan, set(keep_float))
    for i, g in list(groups.items()):
        if g.x not in ranges or not int32_safe(g, choose_params(ranges[g.x][0].min(), ranges[g.x][1].max())):
            absorbed -= g.members
            del groups[i]
    equalized = equalize(plan, groups, absorbed, ranges, equalization) if equalization else 0
    b = _Builder(model, plan, ranges, groups, absorbed)
    graph = b.build(model.graph)
    q = GraphModel(graph, backend if backend is not None else model.backend_name, model.optimize)
    float_bytes = int(sum(v.nbytes for v in model.graph.consts.values()))
    q.quantization = {"calibration_inputs": len(feeds_list), "equalized_pairs": equalized, **b.stats,
                      "weight_bytes_float32": float_bytes, "weight_bytes_int8": q.weight_bytes()}
    return q


def compare_outputs(reference: list[np.ndarray], quantized: list[np.ndarray], names: list[str]) -> list[dict]:
    """Per output: max and mean absolute error of the int8 model against the float one."""
    rows = []
    for name, a, b in zip(names, reference, quantized):
        d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
        rows.append({"output": name, "max_abs_error": float(d.max(initial=0)), "mean_abs_error": float(d.mean()),
                     "reference_range": [float(np.min(a)), float(np.max(a))]})
    return rows


__all__ = ["quantize", "calibrate", "choose_params", "compare_outputs", "quantize_values"]
