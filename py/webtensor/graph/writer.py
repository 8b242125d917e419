"""Graph -> TF.js graph-model files (model.json + one weight shard), the inverse of
loader.py.  Used to save quantised models: int8 filters are stored as one byte per
value with `quantization: {dtype: "int8", scale: [per channel], axis, zero_point: 0}`
(TF.js's own quantization entries carry one scale and a min; per-channel int8 is
webtensor's extension of the same field) and load back as int8 arrays for the int8 ops.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

from .. import dtypes
from ..errors import ModelFormatError
from .ir import Graph, split_ref

_TF_NAMES = {np.dtype(v): k for k, v in dtypes.TF_DTYPES.items() if k != "DT_STRING"}
_MANIFEST = {np.dtype(np.float32): "float32", np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool"}


def _shape(dims) -> dict:
    return {"unknownRank": True} if dims is None else {"dim": [{"size": str(int(d))} for d in dims]}


def encode_attr(value, where: str, name: str = "") -> dict:
    """A plain Python attribute value -> its AttrValue JSON form (decode_attr's inverse)."""
    if name == "shape" and (value is None or isinstance(value, (list, tuple))):
        return {"shape": _shape(value)}
    if isinstance(value, dict):          # a Const's tensor header, or a function reference
        return {"tensor": value} if "dtype" in value or "tensorShape" in value else {"func": value}
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, (int, np.integer)):
        return {"i": str(int(value))}
    if isinstance(value, (float, np.floating)):
        return {"f": float(value)}
    if isinstance(value, str):
        return {"s": base64.b64encode(value.encode()).decode()}
    if isinstance(value, np.dtype):
        if value not in _TF_NAMES:
            raise ModelFormatError(f"{where}: dtype {value} has no TensorFlow name")
        return {"type": _TF_NAMES[value]}
    if isinstance(value, (list, tuple)):
        if not value:
            return {"list": {}}
        if all(isinstance(v, bool) for v in value):
            return {"list": {"b": list(value)}}
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return {"list": {"i": [str(int(v)) for v in value]}}
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in value):
            return {"list": {"f": [float(v) for v in value]}}
        if all(isinstance(v, str) for v in value):
            return {"list": {"s": [base64.b64encode(v.encode()).decode() for v in value]}}
        if all(isinstance(v, np.dtype) for v in value):
            return {"list": {"type": [_TF_NAMES[v] for v in value]}}
        if all(v is None or isinstance(v, (list, tuple)) for v in value):
            return {"list": {"shape": [_shape(v) for v in value]}}
    raise ModelFormatError(f"{where}: cannot encode attribute value {value!r}")


def _filter_scales(graph: Graph) -> dict[str, tuple[list[float], int]]:
    """int8 Const name -> (per-channel scales, channel axis), from the int8 op that reads it."""
    from ..ops.kinds import FILTER_CHANNEL_AXIS, QUANT_OPS
    axis_of = {QUANT_OPS[kind]: axis for kind, axis in FILTER_CHANNEL_AXIS.items()}
    out = {}
    for n in graph.nodes:
        if n.op in axis_of and "filter_scales" in n.attrs:
            out[split_ref(n.inputs[1])[0]] = (list(n.attrs["filter_scales"]), axis_of[n.op])
    return out


def graph_model_json(graph: Graph, shard: str) -> tuple[dict, bytes]:
    """(model.json document, shard bytes) for `graph`."""
    scales = _filter_scales(graph)
    nodes, manifest, blobs = [], [], []
    for n in graph.nodes:
        where = f"node {n.name!r} ({n.op})"
        attrs = {k: encode_attr(v, f"{where} attr {k!r}", k) for k, v in n.attrs.items()}
        nodes.append({"name": n.name, "op": n.op, "input": [k if not k.endswith(":0") else k[:-2] for k in n.inputs],
                      "attr": attrs})
        if n.op != "Const":
            continue
        v = np.ascontiguousarray(graph.consts[n.name])
        entry = {"name": n.name, "shape": [int(d) for d in v.shape]}
        if v.dtype == np.int8:
            if n.name not in scales:
                raise ModelFormatError(f"{where}: an int8 constant no int8 op reads as its filter")
            scale, axis = scales[n.name]
            entry.update(dtype="float32", quantization={"dtype": "int8", "scale": scale, "axis": axis,
                                                         "zero_point": 0})
        elif v.dtype.kind == "f":
            v = v.astype(np.float32)
            entry["dtype"] = "float32"
        elif v.dtype.kind in "iu":
            v = v.astype(np.int32)
            entry["dtype"] = "int32"
        elif v.dtype == np.bool_:
            entry["dtype"] = "bool"
        else:
            raise ModelFormatError(f"{where}: cannot store a {v.dtype} constant")
        manifest.append(entry)
        blobs.append(v.astype(v.dtype.newbyteorder("<")).tobytes())     # shards are little-endian
    signature = {
        "inputs": {i.name: {"name": i.key, "dtype": _TF_NAMES[np.dtype(i.dtype)],
                            **({"tensorShape": {"dim": [{"size": str(d)} for d in i.shape]}} if i.shape else {})}
                   for i in graph.inputs},
        "outputs": {o.name: {"name": o.key, "dtype": _TF_NAMES[np.dtype(o.dtype)]} for o in graph.outputs},
    }
    doc = {"format": "graph-model", "generatedBy": "webtensor", "convertedBy": "webtensor.save_graph_model",
           "modelTopology": {"node": nodes, "versions": {"producer": 1}},
           "signature": signature,
           "weightsManifest": [{"paths": [shard], "weights": manifest}]}
    return doc, b"".join(blobs)


def save_graph_model(model, directory, name: str = "model") -> Path:
    """Write `model` (a GraphModel) as `<directory>/<name>.json` + `<name>.bin`; returns the
    model.json path.  Works in CPython and in Pyodide's file system."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    doc, blob = graph_model_json(model.graph, f"{name}.bin")
    if model.quantization:
        doc["userDefinedMetadata"] = {"webtensor_quantization": {k: v for k, v in model.quantization.items()
                                                                 if isinstance(v, (int, float, str))}}
    (d / f"{name}.bin").write_bytes(blob)
    path = d / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path
