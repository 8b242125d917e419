"""TF.js graph-model files (model.json + weight shards) -> Graph.

The format: model.json holds `modelTopology` (a GraphDef in JSON form: nodes with
op, inputs and AttrValue attributes) and `weightsManifest` (groups of shard
paths; each group's shards are concatenated and its weights laid out in order).
Quantised weights carry `quantization: {dtype: uint8|uint16|float16, min, scale}`
and are dequantised here, at load; webtensor's int8 filters (`{dtype: int8, scale:
[per channel], axis}`, written by writer.py) stay int8 for the int8 ops that read them.
"""
from __future__ import annotations

import base64
import binascii
import json

import numpy as np

from .._record import record
from .. import dtypes
from ..errors import ModelFormatError, UnsupportedOpError, WeightsError
from .ir import Graph, Node, TensorInfo, split_ref, tensor_key, topo_sort

BYTES_PER = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2, "int8": 1}


@record
class GraphModelFiles:
    """model.json text and the bytes of each shard, keyed by the manifest's path."""
    model_json: bytes | str | dict
    shards: dict[str, bytes]
    source: str = "model.json"


def _require(obj, key, typ, where):
    if not isinstance(obj, dict) or key not in obj:
        raise ModelFormatError(f"{where}: missing key {key!r}")
    val = obj[key]
    if not isinstance(val, typ):
        raise ModelFormatError(f"{where}: {key!r} should be {typ.__name__ if isinstance(typ, type) else typ}, "
                               f"got {type(val).__name__}")
    return val


def load_json(text: bytes | str | dict, source: str) -> dict:
    """model.json text -> its top-level object (ModelFormatError naming the file otherwise)."""
    if isinstance(text, dict):
        return text
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{source}: not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ModelFormatError(f"{source}: top level is not a JSON object")
    return doc


def parse_model_json(text: bytes | str | dict, source: str) -> dict:
    """A graph model's model.json, checked to be one."""
    doc = load_json(text, source)
    fmt = doc.get("format")
    topo = doc.get("modelTopology")
    if fmt not in (None, "graph-model"):
        hint = " (a Keras layers model: use load_layers_model)" if fmt == "layers-model" else ""
        raise ModelFormatError(f"{source}: format is {fmt!r}, expected 'graph-model'{hint}")
    if not isinstance(topo, dict) or "node" not in topo:
        raise ModelFormatError(f"{source}: 'modelTopology' has no 'node' list: not a TF.js graph model")
    return doc


def manifest_entries(doc: dict, source: str) -> list[tuple[list[str], list[dict]]]:
    manifest = _require(doc, "weightsManifest", list, source)
    groups = []
    for gi, group in enumerate(manifest):
        where = f"{source}: weightsManifest[{gi}]"
        paths = _require(group, "paths", list, where)
        weights = _require(group, "weights", list, where)
        if not all(isinstance(p, str) for p in paths):
            raise ModelFormatError(f"{where}: 'paths' must be strings")
        groups.append((paths, weights))
    return groups


MAX_WEIGHT_BYTES = 1 << 31        # no browser gives one array more (and a wasm heap is at most 4 GiB)


def weight_nbytes(w: dict, where: str) -> tuple[int, tuple[int, ...]]:
    shape = w.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise ModelFormatError(f"{where}: bad shape {shape!r}")
    dtype = w.get("dtype")
    q = w.get("quantization")
    if not isinstance(dtype, str):
        raise ModelFormatError(f"{where}: bad dtype {dtype!r}")
    if q is not None:
        if not isinstance(q, dict) or not isinstance(q.get("dtype"), str) or \
                q["dtype"] not in ("uint8", "uint16", "float16", "int8"):
            raise ModelFormatError(f"{where}: unsupported quantization {q!r}")
        stored = q["dtype"]
    else:
        stored = dtype
    if dtype not in dtypes.MANIFEST_DTYPES:
        raise ModelFormatError(f"{where}: unsupported dtype {dtype!r}")
    n = 1
    for d in shape:          # Python ints: an element count that overflows int64 is still caught here
        n *= d
    if n * BYTES_PER[stored] > MAX_WEIGHT_BYTES:
        raise ModelFormatError(f"{where}: shape {shape} needs {n * BYTES_PER[stored]} bytes, beyond the "
                               f"{MAX_WEIGHT_BYTES >> 30} GiB a weight may have")
    return n * BYTES_PER[stored], tuple(shape)


def decode_weight(w: dict, raw: bytes, shape: tuple[int, ...], where: str) -> np.ndarray:
    dtype = w["dtype"]
    q = w.get("quantization")
    if q is None:
        return np.frombuffer(raw, dtype=dtypes.MANIFEST_DTYPES[dtype]).reshape(shape).copy()
    if q["dtype"] == "int8":
        scale, axis = q.get("scale"), q.get("axis")
        if (dtype != "float32" or not isinstance(axis, int) or not -len(shape) <= axis < len(shape)
                or not isinstance(scale, list) or len(scale) != shape[axis]
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale)):
            raise ModelFormatError(f"{where}: int8 quantization needs a float32 tensor, an 'axis' and one "
                                   f"'scale' per channel on it, got {q!r}")
        return np.frombuffer(raw, dtype=np.int8).reshape(shape).copy()
    if q["dtype"] == "float16":
        if dtype != "float32":
            raise ModelFormatError(f"{where}: float16 quantization of a {dtype} tensor")
        return np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(shape)
    scale, lo = q.get("scale"), q.get("min")
    if not isinstance(scale, (int, float)) or not isinstance(lo, (int, float)) or isinstance(scale, bool):
        raise ModelFormatError(f"{where}: quantization needs numeric 'scale' and 'min', got {q!r}")
    qv = np.frombuffer(raw, dtype=np.uint8 if q["dtype"] == "uint8" else "<u2").astype(np.float32)
    values = qv * np.float32(scale) + np.float32(lo)
    if dtype == "int32":
        return np.round(values).astype(np.int32).reshape(shape)
    if dtype == "bool":
        return (values != 0).reshape(shape)
    return values.reshape(shape)


def decode_weights(doc: dict, shards: dict[str, bytes], source: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for gi, (paths, weights) in enumerate(manifest_entries(doc, source)):
        parts = []
        for p in paths:
            if p not in shards:
                raise WeightsError(f"{source}: weight shard {p!r} is missing")
            parts.append(shards[p])
        data = b"".join(parts)
        offset = 0
        for wi, w in enumerate(weights):
            where = f"{source}: weightsManifest[{gi}].weights[{wi}]"
            if not isinstance(w, dict) or not isinstance(w.get("name"), str):
                raise ModelFormatError(f"{where}: weight entry needs a 'name'")
            where += f" ({w['name']!r})"
            nbytes, shape = weight_nbytes(w, where)
            if offset + nbytes > len(data):
                raise WeightsError(
                    f"{source}: shards {paths} hold {len(data)} bytes but the manifest needs more "
                    f"(weight {w['name']!r} ends at byte {offset + nbytes}): truncated or missing data")
            out[w["name"]] = decode_weight(w, data[offset:offset + nbytes], shape, where)
            offset += nbytes
        if offset != len(data):
            raise WeightsError(f"{source}: shards {paths} hold {len(data)} bytes but the manifest "
                               f"describes {offset}: the shards do not match the manifest")
    return out


# ----------------------------------------------------------------------------- attributes
def _decode_shape(v, where) -> list[int] | None:
    if not isinstance(v, dict) or not isinstance(v.get("dim", []), list):
        raise ModelFormatError(f"{where}: bad shape {v!r}")
    if v.get("unknownRank"):
        return None
    dims = []
    for d in v.get("dim", []):
        try:
            dims.append(int(d.get("size", -1)))
        except (AttributeError, TypeError, ValueError):
            raise ModelFormatError(f"{where}: bad shape dimension {d!r}") from None
    return dims


def decode_attr(v, where: str):
    """An AttrValue in JSON form -> a plain Python value."""
    if not isinstance(v, dict):
        raise ModelFormatError(f"{where}: attribute is not an object: {v!r}")
    try:
        if "s" in v:
            return base64.b64decode(v["s"], validate=True).decode("utf-8", "replace")
        if "i" in v:
            return int(v["i"])
        if "f" in v:
            return float(v["f"])
        if "b" in v:
            return bool(v["b"])
        if "type" in v:
            return dtypes.from_tf_lenient(v["type"])
        if "shape" in v:
            return _decode_shape(v["shape"], where)
        if "tensor" in v:
            return v["tensor"]  # Const values come from the weights manifest
        if "list" in v:
            lst = v["list"]
            if not isinstance(lst, dict):
                raise ModelFormatError(f"{where}: bad list attribute")
            if "s" in lst:
                return [base64.b64decode(s, validate=True).decode("utf-8", "replace") for s in lst["s"]]
            if "i" in lst:
                return [int(i) for i in lst["i"]]
            if "f" in lst:
                return [float(f) for f in lst["f"]]
            if "b" in lst:
                return [bool(b) for b in lst["b"]]
            if "type" in lst:
                return [dtypes.from_tf_lenient(t) for t in lst["type"]]
            if "shape" in lst:
                return [_decode_shape(s, where) for s in lst["shape"]]
            return []
        if "func" in v:
            return v["func"]
    except (ValueError, TypeError, binascii.Error) as e:
        raise ModelFormatError(f"{where}: cannot decode attribute {v!r} ({e})") from None
    return None


# ----------------------------------------------------------------------------- graph
def _signature_infos(sig: dict, kind: str, source: str) -> list[TensorInfo] | None:
    entries = sig.get(kind) if isinstance(sig, dict) else None
    if not isinstance(entries, dict) or not entries:
        return None
    infos = []
    for user_name, ent in entries.items():
        where = f"{source}: signature.{kind}[{user_name!r}]"
        if not isinstance(ent, dict) or not isinstance(ent.get("name"), str):
            raise ModelFormatError(f"{where}: needs a tensor 'name'")
        shape = None
        ts = ent.get("tensorShape")
        if isinstance(ts, dict):
            shape = _decode_shape(ts, where)
        dt = dtypes.from_tf(ent["dtype"], where) if "dtype" in ent else np.dtype(np.float32)
        infos.append(TensorInfo(user_name, tensor_key(ent["name"]), shape, dt))
    return infos


def parse_graph_model(files: GraphModelFiles) -> Graph:
    """Build a Graph from model.json + shard bytes; validates structure and ops."""
    try:
        return _parse_graph_model(files)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as e:
        # a structural surprise the checks above did not name more precisely
        raise ModelFormatError(f"{files.source}: malformed model.json ({type(e).__name__}: {e})") from None


def _parse_graph_model(files: GraphModelFiles) -> Graph:
    source = files.source
    doc = parse_model_json(files.model_json, source)
    weights = decode_weights(doc, files.shards, source)
    raw_nodes = doc["modelTopology"]["node"]
    if not isinstance(raw_nodes, list):
        raise ModelFormatError(f"{source}: modelTopology.node is not a list")
    library = _parse_library(doc["modelTopology"].get("library"), weights, source)

    nodes: list[Node] = []
    consts: dict[str, np.ndarray] = {}
    for i, rn in enumerate(raw_nodes):
        where = f"{source}: node[{i}]"
        if not isinstance(rn, dict):
            raise ModelFormatError(f"{where}: not an object")
        name = _require(rn, "name", str, where)
        op = _require(rn, "op", str, f"{source}: node {name!r}")
        where = f"{source}: node {name!r} ({op})"
        raw_inputs = rn.get("input", [])
        if not isinstance(raw_inputs, list) or not all(isinstance(s, str) for s in raw_inputs):
            raise ModelFormatError(f"{where}: 'input' must be a list of strings")
        raw_attrs = rn.get("attr", {})
        if not isinstance(raw_attrs, dict):
            raise ModelFormatError(f"{where}: 'attr' must be an object")
        attrs = {k: decode_attr(v, f"{where} attr {k!r}") for k, v in raw_attrs.items()}
        inputs = [tensor_key(s) for s in raw_inputs if not s.startswith("^")]
        if op == "Const":
            if name not in weights:
                raise WeightsError(f"{where}: no weights for this constant in the manifest")
            consts[name] = weights[name]
        nodes.append(Node(name, op, inputs, attrs))
    from .plan import check_supported  # every op known, before anything else about the graph
    check_supported(nodes, source)
    nodes = topo_sort(nodes, source)
    by_name = {n.name: n for n in nodes}

    meta = doc.get("userDefinedMetadata")
    sig = doc.get("signature") or (meta.get("signature") if isinstance(meta, dict) else None) or {}
    if not isinstance(sig, dict):
        raise ModelFormatError(f"{source}: 'signature' is not an object")
    inputs = _signature_infos(sig, "inputs", source)
    if inputs is None:
        inputs = [TensorInfo(n.name, n.output(0), n.attrs.get("shape"), n.attrs.get("dtype", np.dtype(np.float32)))
                  for n in nodes if n.op == "Placeholder"]
    outputs = _signature_infos(sig, "outputs", source)
    if outputs is None:
        used = {split_ref(t)[0] for n in nodes for t in n.inputs}
        outputs = [TensorInfo(n.name, n.output(0), None, np.dtype(np.float32))
                   for n in nodes if n.name not in used and n.op not in ("Const", "Placeholder", "NoOp")]
    for info in inputs + outputs:
        node_name, _ = split_ref(info.key)
        if node_name not in by_name:
            raise ModelFormatError(f"{source}: signature names tensor {info.key!r} but no node "
                                   f"{node_name!r} exists")
    for info in inputs:
        node = by_name[split_ref(info.key)[0]]
        if node.op != "Placeholder":
            raise ModelFormatError(f"{source}: signature input {info.name!r} is a {node.op} node, "
                                   f"not a Placeholder")
        if info.shape is None:
            info.shape = node.attrs.get("shape")
    for info in inputs:
        where = f"{source}: input {info.name!r}"
        if info.shape is not None and any(d < -1 for d in info.shape):
            raise ModelFormatError(f"{where}: shape {info.shape} has a dimension below -1 (-1 means any size)")
        if not isinstance(info.dtype, np.dtype) or info.dtype.kind not in "biuf":
            raise ModelFormatError(f"{where}: dtype {getattr(info.dtype, 'name', info.dtype)} is not supported "
                                   f"(webtensor runs numeric and bool tensors)")
    return Graph(nodes, consts, inputs, outputs, source, library)


# ----------------------------------------------------------------------------- function library
def _const_value(node_name: str, attrs: dict, weights: dict, where: str) -> np.ndarray:
    """A function body's Const: from the weights manifest by name (how the TF.js converter
    stores them), else a small TensorProto written inline."""
    if node_name in weights:
        return weights[node_name]
    proto = attrs.get("value")
    if not isinstance(proto, dict):
        raise WeightsError(f"{where}: no weights for this constant in the manifest")
    dt = dtypes.from_tf(proto.get("dtype"), where)
    shape = _decode_shape(proto.get("tensorShape", {}), where) or []
    for field_name in ("floatVal", "intVal", "boolVal", "int64Val"):
        if field_name in proto:
            vals = np.asarray(proto[field_name]).astype(dt)
            n = int(np.prod(shape)) if shape else 1
            if vals.size not in (1, n):
                raise ModelFormatError(f"{where}: {vals.size} values for shape {shape}")
            return np.full(shape, vals.reshape(-1)[0], dt) if vals.size == 1 else vals.reshape(shape)
    raise ModelFormatError(f"{where}: a constant whose value webtensor cannot read ({sorted(proto)})")


def _parse_library(library, weights: dict, source: str) -> dict:
    """model.json's `library.function` (TF2 control flow: While / If bodies) -> name ->
    control.Function; a body's references `node:arg:index` become webtensor's `node:i`."""
    from ..ops import GRAPH_OPS, OPS
    from .control import OUTPUT_ARGS, Function
    if library is None or library == {}:
        return {}
    if not isinstance(library, dict) or not isinstance(library.get("function", []), list):
        raise ModelFormatError(f"{source}: modelTopology.library is not a function library")
    functions = {}
    for fi, fd in enumerate(library.get("function", [])):
        where = f"{source}: library.function[{fi}]"
        sig = _require(fd, "signature", dict, where)
        name = _require(sig, "name", str, where)
        where = f"{source}: function {name!r}"
        args = [a.get("name") for a in sig.get("inputArg", []) if isinstance(a, dict)]
        outs = [a.get("name") for a in sig.get("outputArg", []) if isinstance(a, dict)]
        ret = fd.get("ret", {})
        if not all(isinstance(a, str) for a in args + outs) or not isinstance(ret, dict):
            raise ModelFormatError(f"{where}: malformed signature")
        raw_nodes = fd.get("nodeDef", [])
        if not isinstance(raw_nodes, list):
            raise ModelFormatError(f"{where}: nodeDef is not a list")
        ops = {}
        for rn in raw_nodes:
            if isinstance(rn, dict) and isinstance(rn.get("name"), str):
                ops[rn["name"]] = rn.get("op")

        def ref(text, at):
            if not isinstance(text, str):
                raise ModelFormatError(f"{at}: bad input {text!r}")
            if text in args:
                return f"{text}:0"
            parts = text.split(":")
            node = parts[0]
            if node not in ops:
                raise ModelFormatError(f"{at}: reads {text!r}, but the function has no node or argument "
                                       f"{node!r}")
            if len(parts) == 1:
                return f"{node}:0"
            if len(parts) == 2 and parts[1].isdigit():
                return f"{node}:{parts[1]}"
            if len(parts) != 3 or not parts[2].isdigit():
                raise ModelFormatError(f"{at}: bad input {text!r}")
            names = OUTPUT_ARGS.get(ops[node], [])
            base = names.index(parts[1]) if parts[1] in names else 0
            return f"{node}:{base + int(parts[2])}"

        nodes = [Node(a, "Placeholder", [], {}) for a in args]
        consts = {}
        for i, rn in enumerate(raw_nodes):
            at = f"{where}: nodeDef[{i}]"
            nname = _require(rn, "name", str, at)
            op = _require(rn, "op", str, at)
            at = f"{where}: node {nname!r} ({op})"
            raw_inputs = rn.get("input", [])
            if not isinstance(raw_inputs, list):
                raise ModelFormatError(f"{at}: 'input' must be a list")
            attrs = {k: decode_attr(v, f"{at} attr {k!r}") for k, v in (rn.get("attr") or {}).items()}
            inputs = [ref(t, at) for t in raw_inputs if not (isinstance(t, str) and t.startswith("^"))]
            if op == "Const":
                consts[nname] = _const_value(nname, attrs, weights, at)
            elif op not in OPS and op not in GRAPH_OPS:
                raise UnsupportedOpError(f"{where}: unsupported op {op} (node {nname!r})")
            nodes.append(Node(nname, op, inputs, attrs))
        missing = [o for o in outs if o not in ret]
        if missing:
            raise ModelFormatError(f"{where}: outputs {missing} have no 'ret' entry")
        nodes = topo_sort(nodes, where)
        functions[name] = Function(name, nodes, consts, [f"{a}:0" for a in args],
                                   [ref(ret[o], f"{where}: ret {o!r}") for o in outs])
    return functions
