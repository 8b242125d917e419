"""Seeded mutations of blazeface.json and its shard: every case ends in a
webtensor exception or a valid result, never another exception type or a hang."""
import json
import time

import numpy as np
import pytest

import webtensor
from webtensor.graph import GraphModelFiles, parse_graph_model
from webtensor.model import GraphModel

from .fuzzing import mutate
from .helpers import HUMAN_MODELS

CASES = 300


def load_base():
    doc = json.loads((HUMAN_MODELS / "blazeface.json").read_text())
    shard = (HUMAN_MODELS / "blazeface.bin").read_bytes()
    return doc, shard


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
