"""Seeded mutations of blazeface.json and its shard: every case ends in a
webtensor exception or a valid result, never another exception type or a hang."""
import copy
import json
import time

import numpy as np
import pytest

import webtensor
from webtensor.graph import GraphModelFiles, parse_graph_model
from webtensor.model import GraphModel

from .helpers import HUMAN_MODELS

CASES = 300


def load_base():
    doc = json.loads((HUMAN_MODELS / "blazeface.json").read_text())
    shard = (HUMAN_MODELS / "blazeface.bin").read_bytes()
    return doc, shard


def random_path(rng, obj, depth=0):
    """A random (container, key) inside the JSON document."""
    path = []
    cur = obj
    while isinstance(cur, (dict, list)) and cur and depth < 8:
        key = rng.choice(list(cur.keys())) if isinstance(cur, dict) else int(rng.integers(len(cur)))
        path.append((cur, key))
        cur = cur[key]
        depth += 1
        if rng.random() < 0.25:
            break
    return path


JUNK = [None, -1, 0, 1, 3.5, "", "x", "DT_FLOAT", [], {}, [1, 2], {"a": 1}, True, 2 ** 40, [-1, 256], "Conv2D"]


def mutate(rng, doc, shard):
    doc = copy.deepcopy(doc)
    kind = int(rng.integers(8))
    if kind == 0:    # truncate the shard
        return doc, shard[:int(rng.integers(len(shard)))], "truncate shard"
    if kind == 1:    # flip bytes in the shard (a valid result is allowed)
        b = bytearray(shard)
        for _ in range(int(rng.integers(1, 50))):
            b[int(rng.integers(len(b)))] ^= 0xFF
        return doc, bytes(b), "flip shard bytes"
    if kind == 2:    # change a weight's shape
        w = rng.choice(doc["weightsManifest"][0]["weights"])
        w["shape"] = [int(rng.integers(0, 5)) for _ in range(int(rng.integers(0, 5)))]
        return doc, shard, f"reshape weight {w['name']}"
    if kind == 3:    # change a weight's dtype
        w = rng.choice(doc["weightsManifest"][0]["weights"])
        w["dtype"] = str(rng.choice(["int32", "bool", "float16", "string", "complex64"]))
        return doc, shard, f"retype weight {w['name']}"
    if kind == 4:    # delete a random key anywhere
        path = random_path(rng, doc)
        if path:
            container, key = path[-1]
            del container[key]
        return doc, shard, "delete key"
    if kind == 5:    # replace a random value anywhere with junk
        path = random_path(rng, doc)
        if path:
            container, key = path[-1]
            container[key] = copy.deepcopy(JUNK[int(rng.integers(len(JUNK)))])
        return doc, shard, "junk value"
    if kind == 6:    # rewire a node input
        nodes = doc["modelTopology"]["node"]
        n = nodes[int(rng.integers(len(nodes)))]
        if n.get("input"):
            other = nodes[int(rng.integers(len(nodes)))]["name"]
            n["input"][int(rng.integers(len(n["input"])))] = other + rng.choice(["", ":0", ":1", ":7"])
        return doc, shard, "rewire input"
    # change an attribute (strides, padding, fused ops...)
    nodes = [n for n in doc["modelTopology"]["node"] if n.get("attr") and n["op"] != "Const"]
    n = nodes[int(rng.integers(len(nodes)))]
    key = rng.choice(list(n["attr"].keys()))
    n["attr"][key] = rng.choice([{"i": "0"}, {"s": "VkFMSUQ="}, {"list": {"i": ["1", "0", "0", "1"]}},
                                 {"list": {"i": ["1", "3", "3", "1"]}}, {"b": True}, {"type": "DT_INT32"},
                                 {"list": {"s": ["Rm9v"]}}, {}])
    return doc, shard, f"attr {key} of {n['name']}"


@pytest.mark.parametrize("seed", range(4))
def test_mutated_models_fail_cleanly(seed):
    rng = np.random.default_rng(seed)
    base_doc, base_shard = load_base()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    outcomes = {"error": 0, "ok": 0}
    for i in range(CASES // 4):
        doc, shard, what = mutate(rng, base_doc, base_shard)
        t0 = time.perf_counter()
        try:
            graph = parse_graph_model(GraphModelFiles(json.dumps(doc), {"blazeface.bin": shard}, "blazeface.json"))
            model = GraphModel(graph)
            model.predict(x)
            outcomes["ok"] += 1
        except webtensor.WebtensorError:
            outcomes["error"] += 1
        except Exception as e:  # anything else is a bug: say which mutation caused it
            pytest.fail(f"seed {seed} case {i} ({what}): {type(e).__name__}: {e}")
        assert time.perf_counter() - t0 < 10, f"case {i} ({what}) took too long"
    assert outcomes["error"] > 0
