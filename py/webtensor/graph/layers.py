"""TF.js layers models (Keras-converted `model.json`) -> the same Graph IR as graph models.

Each Keras layer becomes one or a few IR nodes named after the layer (its output is
"<layer>:0").  BatchNormalization that follows a Conv2D/DepthwiseConv2D/SeparableConv2D
(whose output nothing else reads, with a linear activation) is folded into that
conv's kernel and bias at load; elsewhere it becomes a FusedBatchNorm node.
Weights come from the manifest by Keras's names ("<layer>/kernel", "<layer>/bias"...).
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOpError, WeightsError
from .ir import Graph, Node, TensorInfo, topo_sort
from .loader import GraphModelFiles, decode_weights, load_json

F32 = np.dtype(np.float32)
ACTIVATION_OPS = {"relu": "Relu", "relu6": "Relu6", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu",
                  "selu": "Selu", "softplus": "Softplus", "softmax": "Softmax", "exponential": "Exp"}
SUPPORTED = {"InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "BatchNormalization", "Activation",
             "ReLU", "LeakyReLU", "PReLU", "Add", "Multiply", "Concatenate", "ZeroPadding2D", "MaxPooling2D",
             "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Reshape", "Dense",
             "Dropout", "Softmax"}


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)


class _Builder:
    def __init__(self, weights: dict[str, np.ndarray], source: str):
        self.weights, self.source = weights, source
        self.nodes: list[Node] = []
        self.consts: dict[str, np.ndarray] = {}
        self.convs: dict[str, Node] = {}        # layer name -> its (foldable) conv node

    def weight(self, layer: str, name: str, required=True):
        for key in (f"{layer}/{name}", f"{layer}/{layer}/{name}"):
            if key in self.weights:
                return self.weights[key].astype(np.float32) if self.weights[key].dtype.kind == "f" else self.weights[key]
        cands = [k for k in self.weights if k.startswith(f"{layer}/") and k.endswith(f"/{name}")]
        if cands:
            return self.weights[cands[0]]
        if required:
            raise WeightsError(f"{self.source}: layer {layer!r} needs weight '{layer}/{name}', not in the manifest")
        return None

    def const(self, name: str, value) -> str:
        value = np.asarray(value)
        self.consts[name] = value
        self.nodes.append(Node(name, "Const", [], {"dtype": value.dtype}))
        return f"{name}:0"

    def add(self, name, op, inputs, **attrs) -> str:
        self.nodes.append(Node(name, op, list(inputs), attrs))
        return f"{name}:0"

    def activation(self, layer: str, x: str, act: str | None) -> str:
        if act in (None, "linear"):
            return x
        if act not in ACTIVATION_OPS:
            raise UnsupportedOpError(f"{self.source}: layer {layer!r}: unsupported activation {act!r}")
        return self.add(f"{layer}/{act}", ACTIVATION_OPS[act], [x])


def parse_layers_model(files: GraphModelFiles) -> Graph:
    """Build a Graph from a TF.js layers model (model.json + shards)."""
    try:
        return _parse(files)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
        raise ModelFormatError(f"{files.source}: malformed layers model ({type(e).__name__}: {e})") from None


def _layers_and_io(topology: dict, source: str):
    mc = topology.get("model_config", topology)
    cls, cfg = mc.get("class_name"), mc.get("config")
    if cls == "Sequential":
        layers = cfg["layers"] if isinstance(cfg, dict) else cfg
        prev = None
        out = []
        for layer in layers:
            layer = dict(layer)
            layer["name"] = layer.get("name") or layer["config"]["name"]
            layer["inbound"] = [prev] if prev else []
            out.append(layer)
            prev = layer["name"]
        first = out[0]["config"]
        if out[0]["class_name"] != "InputLayer":
            shape = first.get("batch_input_shape")
            if shape is None:
                raise ModelFormatError(f"{source}: Sequential model without an input shape")
            out.insert(0, {"name": "input", "class_name": "InputLayer", "inbound": [],
                           "config": {"batch_input_shape": shape, "dtype": first.get("dtype", "float32")}})
            out[1]["inbound"] = ["input"]
        return out, [out[0]["name"]], [out[-1]["name"]]
    if cls not in ("Model", "Functional"):
        raise ModelFormatError(f"{source}: unsupported Keras model class {cls!r}")
    out = []
    for layer in cfg["layers"]:
        nodes = layer.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise UnsupportedOpError(f"{source}: layer {layer['name']!r} is shared (called {len(nodes)} times)")
        inbound = [ref[0] for ref in nodes[0]] if nodes else []
        out.append({**layer, "inbound": inbound})
    return out, [r[0] for r in cfg["input_layers"]], [r[0] for r in cfg["output_layers"]]


def _parse(files: GraphModelFiles) -> Graph:
    source = files.source
    doc = load_json(files.model_json, source)
    if not isinstance(doc.get("modelTopology"), dict):
        raise ModelFormatError(f"{source}: no 'modelTopology' object: not a TF.js layers model")
    if doc.get("format") not in (None, "layers-model"):
        raise ModelFormatError(f"{source}: format is {doc.get('format')!r}, expected 'layers-model'")
    layers, input_names, output_names = _layers_and_io(doc["modelTopology"], source)
    unknown = sorted({l["class_name"] for l in layers} - SUPPORTED)
    if unknown:
        names = {c: next(l["name"] for l in layers if l["class_name"] == c) for c in unknown}
        raise UnsupportedOpError(f"{source}: unsupported layers: " +
                                 ", ".join(f"{c} (layer {n!r})" for c, n in names.items()))
    b = _Builder(decode_weights(doc, files.shards, source), source)
    readers: dict[str, int] = {}
    for layer in layers:
        for src in layer["inbound"]:
            readers[src] = readers.get(src, 0) + 1
    tensor: dict[str, str] = {}          # layer name -> IR tensor carrying its output
    infos_in = []
    for layer in layers:
        name, cls, cfg = layer["name"], layer["class_name"], layer["config"]
        ins = [tensor[s] for s in layer["inbound"]]
        x = ins[0] if ins else None
        if cls == "InputLayer":
            shape = [-1 if d is None else int(d) for d in cfg["batch_input_shape"]]
            dt = np.dtype(cfg.get("dtype", "float32"))
            b.add(name, "Placeholder", [], dtype=dt, shape=shape)
            infos_in.append(TensorInfo(name, f"{name}:0", shape, dt))
            tensor[name] = f"{name}:0"
            continue
        if cls in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
            strides, dil = _pair(cfg.get("strides", 1)), _pair(cfg.get("dilation_rate", 1))
            attrs = {"strides": [1, *strides, 1], "dilations": [1, *dil, 1],
                     "padding": cfg.get("padding", "valid").upper(), "data_format": "NHWC"}
            bias = b.weight(name, "bias") if cfg.get("use_bias", True) else None
            if cls == "SeparableConv2D":
                dw = b.weight(name, "depthwise_kernel")
                mid = b.add(f"{name}/depthwise", "DepthwiseConv2dNative", [x, b.const(f"{name}/depthwise_kernel", dw)],
                            **attrs)
                x, cls_op, kernel = mid, "Conv2D", b.weight(name, "pointwise_kernel")
                attrs = {"strides": [1, 1, 1, 1], "dilations": [1, 1, 1, 1], "padding": "VALID", "data_format": "NHWC"}
            elif cls == "DepthwiseConv2D":
                cls_op, kernel = "DepthwiseConv2dNative", b.weight(name, "depthwise_kernel")
            else:
                cls_op, kernel = "Conv2D", b.weight(name, "kernel")
            out_ch = kernel.shape[2] * kernel.shape[3] if cls_op == "DepthwiseConv2dNative" else kernel.shape[3]
            wname = b.const(f"{name}/kernel", kernel)
            bname = b.const(f"{name}/bias", bias if bias is not None else np.zeros(out_ch, np.float32))
            fused_op = "_FusedConv2D" if cls_op == "Conv2D" else "FusedDepthwiseConv2dNative"
            node_out = b.add(name, fused_op, [x, wname, bname], fused_ops=["BiasAdd"], num_args=1, **attrs)
            act = cfg.get("activation", "linear")
            if act in (None, "linear") and readers.get(name, 0) == 1:
                b.convs[name] = b.nodes[-1]        # a following BatchNormalization may fold into it
            tensor[name] = b.activation(name, node_out, act)
            continue
        if cls == "BatchNormalization":
            eps = float(cfg.get("epsilon", 1e-3))
            axis = cfg.get("axis", -1)
            axis = axis[0] if isinstance(axis, list) else axis
            mean, var = b.weight(name, "moving_mean"), b.weight(name, "moving_variance")
            gamma = b.weight(name, "gamma") if cfg.get("scale", True) else np.ones_like(mean)
            beta = b.weight(name, "beta") if cfg.get("center", True) else np.zeros_like(mean)
            scale = (gamma / np.sqrt(var + np.float32(eps))).astype(np.float32)
            shift = (beta - mean * scale).astype(np.float32)
            src = layer["inbound"][0]
            conv = b.convs.pop(src, None)
            if conv is not None and axis in (-1, 3):
                kernel = b.consts[conv.inputs[1].split(":")[0]]
                if conv.op == "FusedDepthwiseConv2dNative":
                    kernel *= scale.reshape(kernel.shape[2], kernel.shape[3])
                else:
                    kernel *= scale
                bias_key = conv.inputs[2].split(":")[0]
                b.consts[bias_key] = (b.consts[bias_key] * scale + shift).astype(np.float32)
                tensor[name] = tensor[src]            # folded: the conv's output is the BN's output
                continue
            tensor[name] = b.add(name, "FusedBatchNorm", [x, b.const(f"{name}/gamma", gamma),
                                                         b.const(f"{name}/beta", beta), b.const(f"{name}/mean", mean),
                                                         b.const(f"{name}/variance", var)], epsilon=eps)
            continue
        if cls == "Activation":
            tensor[name] = b.activation(name, x, cfg.get("activation"))
            continue
        if cls == "ReLU":
            max_value, slope = cfg.get("max_value"), float(cfg.get("negative_slope", 0) or 0)
            if float(cfg.get("threshold", 0) or 0) != 0:
                raise UnsupportedOpError(f"{source}: layer {name!r}: ReLU with a threshold")
            if slope:
                y = b.add(f"{name}/leaky", "LeakyRelu", [x], alpha=slope)
            elif max_value is not None and float(max_value) == 6.0:
                y = b.add(name, "Relu6", [x])
            else:
                y = b.add(name, "Relu", [x])
            if max_value is not None and float(max_value) != 6.0:
                y = b.add(f"{name}/max", "Minimum", [y, b.const(f"{name}/max_value", np.float32(max_value))])
            tensor[name] = y
            continue
        if cls == "LeakyReLU":
            tensor[name] = b.add(name, "LeakyRelu", [x], alpha=float(cfg.get("alpha", 0.3)))
            continue
        if cls == "PReLU":
            tensor[name] = b.add(name, "Prelu", [x, b.const(f"{name}/alpha", b.weight(name, "alpha"))])
            continue
        if cls in ("Add", "Multiply"):
            op = "AddV2" if cls == "Add" else "Mul"
            y = ins[0]
            for i, other in enumerate(ins[1:]):
                y = b.add(name if i == len(ins) - 2 else f"{name}/{i}", op, [y, other])
            tensor[name] = y
            continue
        if cls == "Concatenate":
            tensor[name] = b.add(name, "ConcatV2", ins + [b.const(f"{name}/axis", np.int32(cfg.get("axis", -1)))],
                                 N=len(ins))
            continue
        if cls == "ZeroPadding2D":
            p = cfg.get("padding", 1)
            if isinstance(p, int):
                p = [[p, p], [p, p]]
            p = [_pair(v) if isinstance(v, int) else list(v) for v in p]
            pads = np.array([[0, 0], p[0], p[1], [0, 0]], np.int32)
            tensor[name] = b.add(name, "Pad", [x, b.const(f"{name}/paddings", pads)])
            continue
        if cls in ("MaxPooling2D", "AveragePooling2D"):
            pool = _pair(cfg.get("pool_size", 2))
            strides = _pair(cfg.get("strides") or pool)
            tensor[name] = b.add(name, "MaxPool" if cls == "MaxPooling2D" else "AvgPool", [x],
                                 ksize=[1, *pool, 1], strides=[1, *strides, 1],
                                 padding=cfg.get("padding", "valid").upper(), data_format="NHWC")
            continue
        if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            tensor[name] = b.add(name, "Mean" if cls == "GlobalAveragePooling2D" else "Max",
                                 [x, b.const(f"{name}/axes", np.array([1, 2], np.int32))],
                                 keep_dims=bool(cfg.get("keepdims", False)))
            continue
        if cls == "Flatten":
            tensor[name] = b.add(name, "Reshape", [x, b.const(f"{name}/shape", np.array([-1, 0], np.int32))],
                                 _flatten=True)
            continue
        if cls == "Reshape":
            target = [-1] + [int(d) for d in cfg["target_shape"]]
            tensor[name] = b.add(name, "Reshape", [x, b.const(f"{name}/shape", np.array(target, np.int32))])
            continue
        if cls == "Dense":
            kernel = b.weight(name, "kernel")
            bias = b.weight(name, "bias") if cfg.get("use_bias", True) else np.zeros(kernel.shape[1], np.float32)
            act = cfg.get("activation", "linear")
            fused = ["BiasAdd"] + ([ACTIVATION_OPS[act]] if act in ("relu", "relu6", "sigmoid", "tanh", "elu") else [])
            y = b.add(name if len(fused) > 1 or act in (None, "linear") else f"{name}/dense", "_FusedMatMul",
                      [x, b.const(f"{name}/kernel", kernel), b.const(f"{name}/bias", bias)],
                      fused_ops=fused, num_args=1, transpose_a=False, transpose_b=False)
            if len(fused) == 1 and act not in (None, "linear"):
                y = b.activation(name, y, act)
            tensor[name] = y
            continue
        if cls == "Dropout":
            tensor[name] = x
            continue
        if cls == "Softmax":
            tensor[name] = b.add(name, "Softmax", [x])
            continue
    _fix_flattens(b, infos_in, source)
    nodes = topo_sort(b.nodes, source)
    outputs = [TensorInfo(n, tensor[n], None, F32) for n in output_names]
    return Graph(nodes, b.consts, infos_in, outputs, source)


def _fix_flattens(b: _Builder, infos_in, source):
    """Flatten's target is [-1, product of the non-batch dims]: resolved with the IR's
    own shape rules once the graph exists (a 1-batch plan gives every static dim)."""
    from ..ops import TensorSpec
    from .plan import compile_plan
    flats = [n for n in b.nodes if n.attrs.pop("_flatten", False)]
    if not flats:
        return
    graph = Graph(topo_sort(list(b.nodes), source), b.consts, infos_in, [], source)
    specs = {i.key: TensorSpec(tuple(1 if d < 0 else d for d in i.shape), i.dtype) for i in infos_in}
    for n in flats:
        plan = compile_plan(graph, specs, [n.inputs[0]], fold=False)
        shape = plan.specs[n.inputs[0]].shape
        b.consts[n.inputs[1].split(":")[0]] = np.array([-1, int(np.prod(shape[1:]))], np.int32)

