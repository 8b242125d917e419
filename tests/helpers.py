"""Hand-made TF.js graph models for tests: write model.json + shards from numpy arrays."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HUMAN_MODELS = ROOT / "node_modules" / "@vladmandic" / "human" / "models"
SAMPLE = ROOT / ".cache" / "samples" / "astronaut.png"
GRAPH_MODELS = ("antispoof", "blazeface", "centernet", "emotion", "facemesh", "faceres",
                "handlandmark-lite", "iris", "liveness", "movenet-lightning")

TF = {np.dtype(np.float32): "DT_FLOAT", np.dtype(np.int32): "DT_INT32", np.dtype(np.bool_): "DT_BOOL"}


def attr_s(s: str) -> dict:
    return {"s": base64.b64encode(s.encode()).decode()}


def attr_ints(v) -> dict:
    return {"list": {"i": [str(i) for i in v]}}


def placeholder(name, shape, dtype="DT_FLOAT"):
    return {"name": name, "op": "Placeholder",
            "attr": {"dtype": {"type": dtype}, "shape": {"shape": {"dim": [{"size": str(d)} for d in shape]}}}}


def node(name, op, inputs, **attr):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def quantize(arr: np.ndarray, qdtype: str):
    """-> (bytes, quantization dict) the way the TF.js converter stores them."""
    if qdtype == "float16":
        return arr.astype("<f2").tobytes(), {"dtype": "float16"}
    levels = 255 if qdtype == "uint8" else 65535
    lo, hi = float(arr.min()), float(arr.max())
    scale = (hi - lo) / levels if hi > lo else 1.0
    q = np.round((arr - lo) / scale).astype(np.uint8 if qdtype == "uint8" else "<u2")
    return q.tobytes(), {"dtype": qdtype, "min": lo, "scale": scale}


def write_model(folder: Path, nodes: list[dict], consts: dict[str, np.ndarray], *,
                quant: dict[str, str] | None = None, shards: int = 1, signature: dict | None = None,
                name: str = "model", library: dict | None = None) -> Path:
    """Consts are added as Const nodes and packed into `shards` shard files."""
    quant = quant or {}
    weights, blobs = [], []
    const_nodes = []
    for cname, arr in consts.items():
        arr = np.asarray(arr)
        entry = {"name": cname, "shape": list(arr.shape), "dtype": {"f": "float32", "i": "int32", "b": "bool"}[arr.dtype.kind]}
        if cname in quant:
            data, q = quantize(arr.astype(np.float32), quant[cname])
            entry["quantization"] = q
        else:
            data = arr.astype({"f": np.float32, "i": np.int32, "b": np.bool_}[arr.dtype.kind]).tobytes()
        weights.append(entry)
        blobs.append(data)
        const_nodes.append({"name": cname, "op": "Const",
                            "attr": {"dtype": {"type": TF[np.dtype({"f": np.float32, "i": np.int32, "b": np.bool_}[arr.dtype.kind])]},
                                     "value": {"tensor": {}}}})
    data = b"".join(blobs)
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // shards) if data else 0
    paths = []
    for i in range(shards):
        p = f"{name}.shard{i + 1}of{shards}.bin"
        (folder / p).write_bytes(data[i * step:(i + 1) * step])
        paths.append(p)
    doc = {"format": "graph-model", "generatedBy": "tests", "convertedBy": "tests",
           "modelTopology": {"node": const_nodes + nodes, "library": library or {}, "versions": {}},
           "weightsManifest": [{"paths": paths, "weights": weights}]}
    if signature:
        doc["signature"] = signature
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path
