"""Unpack nsfwjs@4.4.0's UMD-wrapped MobileNetV2 into a plain TF.js layers model.

`model.min.js` exports the model.json object and `group1-shard1of1.min.js` the shard
as a base64 string; Node evaluates the bundles (no JS parsing here).  The decoded
byte count is checked against the manifest before anything is written.
"""
from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}


def node_export(path: Path) -> object:
    js = f"process.stdout.write(JSON.stringify(require({json.dumps(str(path))})))"
    out = subprocess.run(["node", "-e", js], capture_output=True, check=True)
    return json.loads(out.stdout)


def expected_bytes(manifest: list[dict]) -> int:
    total = 0
    for group in manifest:
        for w in group["weights"]:
            n = 1
            for d in w["shape"]:
                n *= d
            q = w.get("quantization")
            total += n * BYTES[q["dtype"] if q else w["dtype"]]
    return total


def unpack(src: Path, dest: Path) -> Path:
    doc = node_export(src / "model.min.js")
    shard = base64.b64decode(node_export(src / "group1-shard1of1.min.js"))
    want = expected_bytes(doc["weightsManifest"])
    if len(shard) != want:
        raise RuntimeError(f"{src}: decoded shard has {len(shard)} bytes, the manifest describes {want}")
    doc["format"] = "layers-model"
    doc["generatedBy"] = doc.get("generatedBy", "keras") + " (unpacked from nsfwjs@4.4.0 by webtensor)"
    doc["weightsManifest"][0]["paths"] = ["group1-shard1of1.bin"]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "group1-shard1of1.bin").write_bytes(shard)
    (dest / "model.json").write_text(json.dumps(doc))
    return dest / "model.json"
