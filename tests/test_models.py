"""Every graph model of @vladmandic/human on numpy (control-flow `handtrack`: test_control_flow.py)."""
import asyncio

import numpy as np
import pytest

import webtensor
from webtensor.vision import BlazeFace, decode_image

from .helpers import GRAPH_MODELS, HUMAN_MODELS, SAMPLE


def deterministic_inputs(model):
    rng = np.random.default_rng(1234)
    feeds = {}
    for info in model.inputs:
        shape = [1 if d < 0 else d for d in info.shape]
        if info.dtype.kind == "f":
            feeds[info.name] = rng.uniform(-1, 1, shape).astype(np.float32)
        else:
            feeds[info.name] = rng.integers(0, 256, shape).astype(info.dtype)
    return feeds


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_model_runs_with_finite_outputs_of_signature_shapes(name):
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    outs = model.execute(deterministic_inputs(model), [o.name for o in model.outputs])
    assert len(outs) == len(model.outputs)
    for info, value in zip(model.outputs, outs):
        assert np.isfinite(value).all(), f"{name}:{info.name} has non-finite values"
        if info.shape is not None:
            assert len(value.shape) == len(info.shape)
            assert all(w < 0 or w == g for w, g in zip(info.shape, value.shape)), (info.shape, value.shape)


def test_an_unknown_op_is_still_reported_at_load(tmp_path):
    import json
    doc = json.loads((HUMAN_MODELS / "handtrack.json").read_text())
    for n in doc["modelTopology"]["node"]:
        if n["op"] == "NonMaxSuppressionV5":
            n["op"] = "NonMaxSuppressionV9"
    (tmp_path / "handtrack.json").write_text(json.dumps(doc))
    (tmp_path / "handtrack.bin").write_bytes((HUMAN_MODELS / "handtrack.bin").read_bytes())
    with pytest.raises(webtensor.UnsupportedOpError, match="handtrack.json.*NonMaxSuppressionV9"):
        webtensor.read_graph_model(tmp_path / "handtrack.json")


def test_blazeface_finds_the_astronaut():
    det = BlazeFace(webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json"))
    img = asyncio.run(decode_image(SAMPLE.read_bytes(), SAMPLE.name))
    faces = det.detect(img)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0]["box"]
    for x, y in faces[0]["keypoints"][:2]:  # both eyes inside the box
        assert x0 < x < x1 and y0 < y < y1
    assert 150 < x0 < 200 and 50 < y0 < 100 and 250 < x1 < 300 and 150 < y1 < 200


def test_undecodable_image_names_the_file():
    with pytest.raises(webtensor.ImageDecodeError, match="notes.txt"):
        asyncio.run(decode_image(b"this is not an image", "notes.txt"))
    with pytest.raises(webtensor.ImageDecodeError, match="empty.png: the file is empty"):
        asyncio.run(decode_image(b"", "empty.png"))
