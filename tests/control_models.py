"""Hand-built models with control flow (TF1 frames and TF2 functions), as the TF.js converter
writes them, with what each must compute (a plain Python definition); used by the CPython
tests and, on every backend, by e2e/test_control_flow.py."""
from __future__ import annotations

import numpy as np

from .helpers import attr_s, node, placeholder

I = {"type": "DT_INT32"}
F = {"type": "DT_FLOAT"}
B = {"type": "DT_BOOL"}
V = {"type": "DT_VARIANT"}


def enter(name, x, frame, const=False, T=None):
    return node(name, "Enter", [x], frame_name=attr_s(frame), is_constant={"b": const},
                parallel_iterations={"i": "10"}, **({"T": T} if T else {}))


def tf1_loop(prefix, frame, loop_vars, cond, body, invariants=()):
    """A TF1 while loop.  loop_vars: [(name, initial tensor, T)]; cond(refs) -> (nodes, bool
    tensor) over the Merge outputs; body(refs, inv) -> (nodes, [next tensors]) over the Switch
    true outputs and the invariant Enters.  Returns (nodes, {name: Exit tensor})."""
    nodes = []
    merges = {}
    for name, init, T in loop_vars:
        nodes.append(enter(f"{prefix}/enter_{name}", init, frame, T=T))
        nodes.append(node(f"{prefix}/merge_{name}", "Merge", [f"{prefix}/enter_{name}", f"{prefix}/next_{name}"],
                          T=T, N={"i": "2"}))
        merges[name] = f"{prefix}/merge_{name}"
    inv = {}
    for name, value in invariants:
        nodes.append(enter(f"{prefix}/inv_{name}", value, frame, const=True))
        inv[name] = f"{prefix}/inv_{name}"
    cnodes, pred = cond(merges, inv)
    nodes += cnodes
    nodes.append(node(f"{prefix}/loop_cond", "LoopCond", [pred]))
    live = {}
    exits = {}
    for name, _, T in loop_vars:
        nodes.append(node(f"{prefix}/switch_{name}", "Switch", [merges[name], f"{prefix}/loop_cond"], T=T))
        live[name] = f"{prefix}/switch_{name}:1"
        nodes.append(node(f"{prefix}/exit_{name}", "Exit", [f"{prefix}/switch_{name}"], T=T))
        exits[name] = f"{prefix}/exit_{name}"
    bnodes, nxt = body(live, inv)
    nodes += bnodes
    for (name, _, T), t in zip(loop_vars, nxt):
        nodes.append(node(f"{prefix}/next_{name}", "NextIteration", [t], T=T))
    return nodes, exits


def counting_loop():
    """x: float[2], n: int scalar.  i = 0; acc = x; while i < n: acc = acc * 2 + x; i += 1."""
    consts = {"zero": np.array(0, np.int32), "one": np.array(1, np.int32), "two": np.array(2.0, np.float32)}

    def cond(m, inv):
        return [node("loop/less", "Less", [m["i"], "loop/inv_n"], T=I)], "loop/less"

    def body(v, inv):
        return [node("loop/add_i", "AddV2", [v["i"], "one"], T=I),
                node("loop/mul", "Mul", [v["acc"], "two"], T=F),
                node("loop/add_acc", "AddV2", ["loop/mul", "loop/inv_x"], T=F)], ["loop/add_i", "loop/add_acc"]
    nodes, exits = tf1_loop("loop", "counting", [("i", "zero", I), ("acc", "x", F)], cond, body,
                            invariants=[("n", "n"), ("x", "x")])
    nodes = [placeholder("x", [2]), placeholder("n", [], "DT_INT32")] + nodes + [
        node("count", "Identity", [exits["i"]], T=I), node("acc", "Identity", [exits["acc"]], T=F)]

    def want(x, n):
        acc = x.astype(np.float32)
        for _ in range(max(int(n), 0)):
            acc = acc * np.float32(2) + x
        return [np.int32(max(int(n), 0)), acc]
    return nodes, consts, None, ["count", "acc"], want


def nested_loops():
    """n, m: int scalars.  total = 0; for i < n: for j < m: total += i * j + 1."""
    consts = {"zero": np.array(0, np.int32), "one": np.array(1, np.int32)}

    def outer_cond(m, inv):
        return [node("outer/less", "Less", [m["i"], "outer/inv_n"], T=I)], "outer/less"

    def outer_body(v, inv):
        def inner_cond(mm, iv):
            return [node("inner/less", "Less", [mm["j"], "inner/inv_m"], T=I)], "inner/less"

        def inner_body(vv, iv):
            return [node("inner/ij", "Mul", ["inner/inv_i", vv["j"]], T=I),
                    node("inner/ij1", "AddV2", ["inner/ij", "one"], T=I),
                    node("inner/tot", "AddV2", [vv["t"], "inner/ij1"], T=I),
                    node("inner/j1", "AddV2", [vv["j"], "one"], T=I)], ["inner/j1", "inner/tot"]
        # the inner loop's j starts at 0 on every outer iteration: a body-local zero (Identity of
        # the outer counter times 0 keeps it inside the outer frame)
        pre = [node("outer/zero_j", "Mul", [v["i"], "zero"], T=I)]
        inner, ex = tf1_loop("inner", "inner_frame", [("j", "outer/zero_j", I), ("t", v["t"], I)], inner_cond,
                             inner_body, invariants=[("m", "outer/inv_m"), ("i", v["i"])])
        return pre + inner + [node("outer/i1", "AddV2", [v["i"], "one"], T=I)], ["outer/i1", ex["t"]]
    nodes, exits = tf1_loop("outer", "outer_frame", [("i", "zero", I), ("t", "zero", I)], outer_cond, outer_body,
                            invariants=[("n", "n"), ("m", "m")])
    nodes = [placeholder("n", [], "DT_INT32"), placeholder("m", [], "DT_INT32")] + nodes + [
        node("total", "Identity", [exits["t"]], T=I)]

    def want(n, m):
        return [np.int32(sum(i * j + 1 for i in range(int(n)) for j in range(int(m))))]
    return nodes, consts, None, ["total"], want


def tf1_cond():
    """x: float[3].  y = x * 2 if sum(x) > 0 else x - 1 (Switch / Merge, dead branch)."""
    consts = {"axis": np.array([0], np.int32), "zero_f": np.array(0.0, np.float32), "two": np.array(2.0, np.float32)}
    nodes = [placeholder("x", [3]),
             node("sum", "Sum", ["x", "axis"], T=F, keep_dims={"b": False}),
             node("pred", "Greater", ["sum", "zero_f"], T=F),
             node("sw", "Switch", ["x", "pred"], T=F),
             node("then", "Mul", ["sw:1", "two"], T=F),
             node("else", "Sub", ["sw", "two"], T=F),
             node("else2", "AddV2", ["else", "one_f"], T=F),
             node("merge", "Merge", ["else2", "then"], T=F, N={"i": "2"}),
             node("y", "Identity", ["merge"], T=F),
             node("which", "Identity", ["merge:1"], T=I)]
    consts["one_f"] = np.array(1.0, np.float32)

    def want(x):
        return [x * np.float32(2), np.int32(1)] if x.sum() > 0 else [x - np.float32(1), np.int32(0)]
    return nodes, consts, None, ["y", "which"], want


def conv_loop():
    """A loop whose body holds real work (a conv + bias + relu, run as a static plan on the
    backend each iteration): x: float[b, 6, 6, 4], n: int.  repeat n times: x = relu(conv(x) + b)."""
    rng = np.random.default_rng(7)
    consts = {"zero": np.array(0, np.int32), "one": np.array(1, np.int32),
              "w": (rng.standard_normal((3, 3, 4, 4)) * 0.3).astype(np.float32),
              "bias": (rng.standard_normal(4) * 0.1).astype(np.float32)}

    def cond(m, inv):
        return [node("cl/less", "Less", [m["i"], "cl/inv_n"], T=I)], "cl/less"

    def body(v, inv):
        return [node("cl/conv", "Conv2D", [v["x"], "w"], T=F, strides=attr_ints([1, 1, 1, 1]),
                     padding=attr_s("SAME"), data_format=attr_s("NHWC"), dilations=attr_ints([1, 1, 1, 1])),
                node("cl/bias", "BiasAdd", ["cl/conv", "bias"], T=F),
                node("cl/relu", "Relu", ["cl/bias"], T=F),
                node("cl/i1", "AddV2", [v["i"], "one"], T=I)], ["cl/i1", "cl/relu"]
    nodes, exits = tf1_loop("cl", "conv_frame", [("i", "zero", I), ("x", "x", F)], cond, body,
                            invariants=[("n", "n")])
    nodes = [placeholder("x", [-1, 6, 6, 4]), placeholder("n", [], "DT_INT32")] + nodes + [
        node("y", "Identity", [exits["x"]], T=F)]

    def want(x, n):
        from webtensor.ops import OPS
        y = x
        for _ in range(int(n)):
            y = OPS["Conv2D"].ref([y, consts["w"]], {"strides": [1, 1, 1, 1], "padding": "SAME",
                                                     "dilations": [1, 1, 1, 1], "data_format": "NHWC"})[0]
            y = np.maximum(y + consts["bias"], 0)
        return [y]
    return nodes, consts, None, ["y"], want


def attr_ints(v):
    return {"list": {"i": [str(i) for i in v]}}


def tensorlist_loop():
    """x: float[4, 3].  A map over rows: out[k] = x[k] * (k + 1), written with TensorListReserve /
    FromTensor / GetItem / SetItem in a TF1 loop, stacked after it."""
    consts = {"zero": np.array(0, np.int32), "one": np.array(1, np.int32), "four": np.array(4, np.int32),
              "elem": np.array([3], np.int32), "any": np.array(-1, np.int32)}

    def cond(m, inv):
        return [node("tl/less", "Less", [m["k"], "four"], T=I)], "tl/less"

    def body(v, inv):
        return [node("tl/get", "TensorListGetItem", [v["src"], v["k"], "elem"], element_dtype=F),
                node("tl/k1", "AddV2", [v["k"], "one"], T=I),
                node("tl/k1f", "Cast", ["tl/k1"], SrcT=I, DstT=F),
                node("tl/scaled", "Mul", ["tl/get", "tl/k1f"], T=F),
                node("tl/set", "TensorListSetItem", [v["out"], v["k"], "tl/scaled"], element_dtype=F)], \
            ["tl/k1", "tl/set", v["src"]]
    pre = [placeholder("x", [4, 3]),
           node("reserve", "TensorListReserve", ["elem", "four"], element_dtype=F, shape_type=I),
           node("from", "TensorListFromTensor", ["x", "elem"], element_dtype=F, shape_type=I)]
    nodes, exits = tf1_loop("tl", "list_frame", [("k", "zero", I), ("out", "reserve", V), ("src", "from", V)],
                            cond, body)
    nodes = pre + nodes + [node("stack", "TensorListStack", [exits["out"], "elem"], element_dtype=F,
                                num_elements={"i": "4"})]

    def want(x):
        return [x * np.arange(1, 5, dtype=np.float32)[:, None]]
    return nodes, consts, None, ["stack"], want


# ----------------------------------------------------------------------------- TF2 functions
def _sig(name, args, outs):
    return {"name": name, "inputArg": [{"name": a, "type": t} for a, t in args],
            "outputArg": [{"name": o, "type": t} for o, t in outs]}


def _inline(value):
    a = np.asarray(value)
    key = {"f": "floatVal", "i": "intVal", "b": "boolVal"}[a.dtype.kind]
    dt = {"f": "DT_FLOAT", "i": "DT_INT32", "b": "DT_BOOL"}[a.dtype.kind]
    return {"tensor": {"dtype": dt, "tensorShape": {"dim": [{"size": str(d)} for d in a.shape]},
                       key: a.reshape(-1).tolist()}}


def tf2_while():
    """TF2 functional control flow.  x: float[2], n: int.
    outer While over i < n: (a While inside the body: j < i -> s += 1.0), then an If on the
    running sum: s > 3 ? s * 0.5 : s + 1.  Also a TensorList pushed each outer step and stacked."""
    f32 = "DT_FLOAT"
    i32 = "DT_INT32"
    library = {"function": [
        {"signature": _sig("inner_cond", [("j", i32), ("lim", i32), ("s", f32)], [("out", "DT_BOOL")]),
         "nodeDef": [{"name": "lt", "op": "Less", "input": ["j", "lim"], "attr": {"T": I}}],
         "ret": {"out": "lt:z:0"}},
        {"signature": _sig("inner_body", [("j", i32), ("lim", i32), ("s", f32)],
                           [("j1", i32), ("lim1", i32), ("s1", f32)]),
         "nodeDef": [{"name": "one", "op": "Const", "attr": {"dtype": I, "value": _inline(np.int32(1))}},
                     {"name": "onef", "op": "Const", "attr": {"dtype": F, "value": _inline(np.float32(1))}},
                     {"name": "add", "op": "AddV2", "input": ["j", "one:output:0"], "attr": {"T": I}},
                     {"name": "adds", "op": "AddV2", "input": ["s", "onef:output:0"], "attr": {"T": F}},
                     {"name": "idl", "op": "Identity", "input": ["lim"], "attr": {"T": I}}],
         "ret": {"j1": "add:z:0", "lim1": "idl:output:0", "s1": "adds:z:0"}},
        {"signature": _sig("halve", [("v", f32)], [("r", f32)]),
         "nodeDef": [{"name": "h", "op": "Const", "attr": {"dtype": F, "value": _inline(np.float32(0.5))}},
                     {"name": "m", "op": "Mul", "input": ["v", "h:output:0"], "attr": {"T": F}}],
         "ret": {"r": "m:z:0"}},
        {"signature": _sig("plus_one", [("v", f32)], [("r", f32)]),
         "nodeDef": [{"name": "o", "op": "Const", "attr": {"dtype": F, "value": _inline(np.float32(1))}},
                     {"name": "a", "op": "AddV2", "input": ["v", "o:output:0"], "attr": {"T": F}}],
         "ret": {"r": "a:z:0"}},
        {"signature": _sig("outer_cond", [("i", i32), ("n", i32), ("s", f32), ("lst", "DT_VARIANT")],
                           [("out", "DT_BOOL")]),
         "nodeDef": [{"name": "lt", "op": "Less", "input": ["i", "n"], "attr": {"T": I}}],
         "ret": {"out": "lt:z:0"}},
        {"signature": _sig("outer_body", [("i", i32), ("n", i32), ("s", f32), ("lst", "DT_VARIANT")],
                           [("i1", i32), ("n1", i32), ("s1", f32), ("lst1", "DT_VARIANT")]),
         "nodeDef": [{"name": "zero", "op": "Const", "attr": {"dtype": I, "value": _inline(np.int32(0))}},
                     {"name": "one", "op": "Const", "attr": {"dtype": I, "value": _inline(np.int32(1))}},
                     {"name": "three", "op": "Const", "attr": {"dtype": F, "value": _inline(np.float32(3))}},
                     {"name": "w", "op": "StatelessWhile", "input": ["zero:output:0", "i", "s"],
                      "attr": {"cond": {"func": {"name": "inner_cond"}}, "body": {"func": {"name": "inner_body"}},
                               "T": {"list": {"type": ["DT_INT32", "DT_INT32", "DT_FLOAT"]}}}},
                     {"name": "gt", "op": "Greater", "input": ["w:output:2", "three:output:0"], "attr": {"T": F}},
                     {"name": "branch", "op": "StatelessIf", "input": ["gt:z:0", "w:output:2"],
                      "attr": {"then_branch": {"func": {"name": "halve"}},
                               "else_branch": {"func": {"name": "plus_one"}}}},
                     {"name": "push", "op": "TensorListPushBack", "input": ["lst", "branch:output:0"],
                      "attr": {"element_dtype": F}},
                     {"name": "add", "op": "AddV2", "input": ["i", "one:output:0"], "attr": {"T": I}}],
         "ret": {"i1": "add:z:0", "n1": "n", "s1": "branch:output:0", "lst1": "push:output_handle:0"}},
    ]}
    consts = {"zero": np.array(0, np.int32), "zero_f": np.array(0.0, np.float32), "shape": np.array(-1, np.int32),
              "maxn": np.array(-1, np.int32)}
    nodes = [placeholder("n", [], "DT_INT32"),
             node("empty", "EmptyTensorList", ["shape", "maxn"], element_dtype=F, shape_type=I),
             node("loop", "While", ["zero", "n", "zero_f", "empty"],
                  cond={"func": {"name": "outer_cond"}}, body={"func": {"name": "outer_body"}}),
             node("s", "Identity", ["loop:2"], T=F),
             node("history", "TensorListStack", ["loop:3", "shape"], element_dtype=F, num_elements={"i": "-1"})]

    def want(n):
        s, hist = np.float32(0), []
        for i in range(int(n)):
            s = s + np.float32(i)
            s = s * np.float32(0.5) if s > 3 else s + np.float32(1)
            hist.append(s)
        return [np.float32(s), np.asarray(hist, np.float32)]
    return nodes, consts, library, ["s", "history"], want


MODELS = {"counting_loop": counting_loop, "nested_loops": nested_loops, "tf1_cond": tf1_cond,
          "conv_loop": conv_loop, "tensorlist_loop": tensorlist_loop, "tf2_while": tf2_while}

# inputs each model is checked on
CASES = {
    "counting_loop": [{"x": np.array([1.5, -2.0], np.float32), "n": np.int32(n)} for n in (0, 1, 5)],
    "nested_loops": [{"n": np.int32(n), "m": np.int32(m)} for n, m in ((0, 3), (3, 0), (3, 4))],
    "tf1_cond": [{"x": np.array([1.0, 2.0, -0.5], np.float32)}, {"x": np.array([-1.0, 0.5, 0.25], np.float32)}],
    "conv_loop": [{"x": np.random.default_rng(3).standard_normal((b, 6, 6, 4)).astype(np.float32), "n": np.int32(n)}
                  for b, n in ((1, 0), (1, 3), (2, 2))],
    "tensorlist_loop": [{"x": np.arange(12, dtype=np.float32).reshape(4, 3) - 5}],
    "tf2_while": [{"n": np.int32(n)} for n in (1, 4, 6)],
}


def write(name, folder):
    from .helpers import write_model
    nodes, consts, library, outputs, _ = MODELS[name]()
    return write_model(folder, nodes, consts, library=library, name=name)
