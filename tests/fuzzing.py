"""Seeded mutations of a graph model (model.json document + shard bytes), shared by the
CPython fuzz test and the browser one (which sends this file's source into Pyodide)."""
import copy


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
