"""The TF.js graph-model loader on hand-made models: dtypes, quantisation, shards, errors."""
import json

import numpy as np
import pytest

import webtensor
from webtensor.graph.loader import decode_attr

from .helpers import attr_ints, attr_s, node, placeholder, write_model

RNG = np.random.default_rng(7)


def affine_model(tmp_path, quant=None, shards=1, **kw):
    w = RNG.standard_normal((4, 3)).astype(np.float32)
    b = RNG.standard_normal(3).astype(np.float32)
    nodes = [placeholder("x", [-1, 4]),
             node("mm", "MatMul", ["x", "w"], transpose_a={"b": False}, transpose_b={"b": False}),
             node("out", "BiasAdd", ["mm", "b"], data_format=attr_s("NHWC"))]
    path = write_model(tmp_path, nodes, {"w": w, "b": b}, quant=quant, shards=shards, **kw)
    return path, w, b


def test_float32_model_predicts_like_numpy(tmp_path):
    path, w, b = affine_model(tmp_path)
    model = webtensor.read_graph_model(path)
    x = RNG.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), x @ w + b, rtol=1e-6)
    assert [i.name for i in model.inputs] == ["x"]
    assert [o.name for o in model.outputs] == ["out"]


@pytest.mark.parametrize("qdtype,tol", [("uint8", 1 / 255 * 8), ("uint16", 1 / 65535 * 8), ("float16", 2e-3)])
def test_quantised_weights_are_dequantised_at_load(tmp_path, qdtype, tol):
    path, w, b = affine_model(tmp_path, quant={"w": qdtype, "b": qdtype})
    model = webtensor.read_graph_model(path)
    deq = model.graph.consts["w"]
    assert deq.dtype == np.float32
    span = float(w.max() - w.min())
    np.testing.assert_allclose(deq, w, atol=tol * span + 1e-6)
    # exact dequantisation rule q * scale + min
    doc = json.loads(path.read_text())
    entry = doc["weightsManifest"][0]["weights"][0]
    if qdtype != "float16":
        q = entry["quantization"]
        raw = (tmp_path / doc["weightsManifest"][0]["paths"][0]).read_bytes()
        qv = np.frombuffer(raw[:w.size * (1 if qdtype == "uint8" else 2)], np.uint8 if qdtype == "uint8" else "<u2")
        np.testing.assert_array_equal(deq.reshape(-1), qv.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"]))


def test_int32_uint8_quantised_rounds(tmp_path):
    ints = np.array([0, 3, 7, 255], np.int32)
    nodes = [placeholder("x", [4], "DT_INT32"), node("y", "AddV2", ["x", "c"])]
    path = write_model(tmp_path, nodes, {"c": ints}, quant={"c": "uint8"})
    model = webtensor.read_graph_model(path)
    assert model.graph.consts["c"].dtype == np.int32
    np.testing.assert_array_equal(model.graph.consts["c"], ints)


def test_multi_shard_weights_concatenate_in_order(tmp_path):
    path, w, b = affine_model(tmp_path, shards=3)
    doc = json.loads(path.read_text())
    assert len(doc["weightsManifest"][0]["paths"]) == 3
    model = webtensor.read_graph_model(path)
    np.testing.assert_array_equal(model.graph.consts["w"], w)
    np.testing.assert_array_equal(model.graph.consts["b"], b)


def test_int32_and_bool_weights(tmp_path):
    nodes = [placeholder("x", [3]), node("sel", "SelectV2", ["mask", "x", "zero"]),
             node("shape_out", "Reshape", ["sel", "shape"])]
    path = write_model(tmp_path, nodes, {"mask": np.array([True, False, True]), "zero": np.zeros(3, np.float32),
                                         "shape": np.array([3, 1], np.int32)})
    model = webtensor.read_graph_model(path)
    out = model.predict(np.array([1, 2, 3], np.float32))
    np.testing.assert_array_equal(out, [[1], [0], [3]])


def test_signature_names_inputs_and_outputs(tmp_path):
    sig = {"inputs": {"pixels": {"name": "x:0", "dtype": "DT_FLOAT",
                                 "tensorShape": {"dim": [{"size": "-1"}, {"size": "4"}]}}},
           "outputs": {"scores": {"name": "out:0", "dtype": "DT_FLOAT"}}}
    path, w, b = affine_model(tmp_path, signature=sig)
    model = webtensor.read_graph_model(path)
    x = np.ones((1, 4), np.float32)
    assert model.inputs[0].name == "pixels" and model.inputs[0].key == "x:0"
    np.testing.assert_allclose(model.execute({"pixels": x}, ["scores"])[0], x @ w + b, rtol=1e-6)
    np.testing.assert_allclose(model.execute({"x": x}, "out:0"), x @ w + b, rtol=1e-6)
    # intermediate tensors by name, like TF.js execute
    np.testing.assert_allclose(model.execute({"x": x}, "mm"), x @ w, rtol=1e-6)


def test_attribute_decoding():
    assert decode_attr(attr_s("SAME"), "t") == "SAME"
    assert decode_attr(attr_ints([1, 2, 2, 1]), "t") == [1, 2, 2, 1]
    assert decode_attr({"i": "7"}, "t") == 7
    assert decode_attr({"f": 0.5}, "t") == 0.5
    assert decode_attr({"b": True}, "t") is True
    assert decode_attr({"type": "DT_INT32"}, "t") == np.int32
    assert decode_attr({"shape": {"dim": [{"size": "-1"}, {"size": "3"}]}}, "t") == [-1, 3]
    assert decode_attr({"list": {"s": [attr_s("BiasAdd")["s"], attr_s("Relu")["s"]]}}, "t") == ["BiasAdd", "Relu"]
    assert decode_attr({"list": {}}, "t") == []
    assert decode_attr({"list": {"f": [1.5, 2]}}, "t") == [1.5, 2.0]
    with pytest.raises(webtensor.ModelFormatError, match="attr"):
        decode_attr({"s": "not base64!!"}, "node 'n' attr 'x'")


# ----------------------------------------------------------------------------- errors
def test_malformed_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{ not json")
    with pytest.raises(webtensor.ModelFormatError, match="bad.json.*not valid JSON"):
        webtensor.read_graph_model(p)


def test_layers_model_is_rejected_with_a_hint(tmp_path):
    p = tmp_path / "layers.json"
    p.write_text(json.dumps({"format": "layers-model", "modelTopology": {"class_name": "Model"}, "weightsManifest": []}))
    with pytest.raises(webtensor.ModelFormatError, match="layers.json.*layers-model.*load_layers_model"):
        webtensor.read_graph_model(p)


def test_missing_model_json(tmp_path):
    with pytest.raises(webtensor.ModelFormatError, match="nothere.json"):
        webtensor.read_graph_model(tmp_path / "nothere.json")


def test_missing_shard(tmp_path):
    path, _, _ = affine_model(tmp_path, shards=2)
    (tmp_path / "model.shard2of2.bin").unlink()
    with pytest.raises(webtensor.WeightsError, match="model.shard2of2.bin"):
        webtensor.read_graph_model(path)


def test_truncated_shard(tmp_path):
    path, _, _ = affine_model(tmp_path)
    shard = tmp_path / "model.shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-5])
    with pytest.raises(webtensor.WeightsError, match="truncated"):
        webtensor.read_graph_model(path)


def test_manifest_byte_count_disagrees_with_shards(tmp_path):
    path, _, _ = affine_model(tmp_path)
    shard = tmp_path / "model.shard1of1.bin"
    shard.write_bytes(shard.read_bytes() + b"\0" * 8)
    with pytest.raises(webtensor.WeightsError, match="do not match the manifest"):
        webtensor.read_graph_model(path)


def test_unsupported_op_fails_at_load_naming_op_and_node(tmp_path):
    nodes = [placeholder("x", [2]), node("my/strange/node", "FancyNewOp", ["x"])]
    path = write_model(tmp_path, nodes, {})
    with pytest.raises(webtensor.UnsupportedOpError, match=r"FancyNewOp \(node 'my/strange/node'\)"):
        webtensor.read_graph_model(path)


def test_input_reading_an_unknown_node(tmp_path):
    nodes = [placeholder("x", [2]), node("y", "Relu", ["ghost"])]
    path = write_model(tmp_path, nodes, {})
    with pytest.raises(webtensor.ModelFormatError, match="'y'.*'ghost'"):
        webtensor.read_graph_model(path)


def test_shape_error_names_the_node_at_load(tmp_path):
    nodes = [placeholder("x", [1, 8, 8, 3]),
             node("conv", "Conv2D", ["x", "w"], strides=attr_ints([1, 1, 1, 1]), padding=attr_s("SAME"))]
    path = write_model(tmp_path, nodes, {"w": np.zeros((3, 3, 4, 2), np.float32)})  # 4 in-channels, input has 3
    with pytest.raises(webtensor.ModelFormatError, match="'conv' \\(Conv2D\\).*channels"):
        webtensor.read_graph_model(path)


def test_wrong_input_shape_and_dtype(tmp_path):
    path, _, _ = affine_model(tmp_path)
    model = webtensor.read_graph_model(path)
    with pytest.raises(webtensor.InputError, match=r"'x' expects shape \[\?, 4\], got \[2, 5\]"):
        model.predict(np.zeros((2, 5), np.float32))
    with pytest.raises(webtensor.InputError, match="'x' expects dtype float32, got int64"):
        model.predict(np.zeros((2, 4), np.int64))
    with pytest.raises(webtensor.InputError, match="no model input named 'nope'"):
        model.execute({"nope": np.zeros((1, 4), np.float32)})
    with pytest.raises(webtensor.InputError, match="no tensor named 'zzz'"):
        model.execute(np.zeros((1, 4), np.float32), ["zzz"])
    # float64 is the same kind: converted, like TF.js does for JS numbers
    assert model.predict(np.zeros((1, 4))).dtype == np.float32


def test_dynamic_batch_dimension(tmp_path):
    path, w, b = affine_model(tmp_path)
    model = webtensor.read_graph_model(path)
    for n in (1, 3, 5):
        x = RNG.standard_normal((n, 4)).astype(np.float32)
        np.testing.assert_allclose(model.predict(x), x @ w + b, rtol=1e-5)


def test_layers_model_errors(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"format": "layers-model", "modelTopology": {"model_config": {
        "class_name": "Model", "config": {"layers": [
            {"name": "in", "class_name": "InputLayer", "config": {"batch_input_shape": [None, 4]}, "inbound_nodes": []},
            {"name": "lstm", "class_name": "LSTM", "config": {}, "inbound_nodes": [[["in", 0, 0, {}]]]}],
            "input_layers": [["in", 0, 0]], "output_layers": [["lstm", 0, 0]]}}}, "weightsManifest": []}))
    with pytest.raises(webtensor.UnsupportedOpError, match="LSTM \\(layer 'lstm'\\)"):
        webtensor.read_layers_model(p)


def test_hostile_signatures_and_weights_are_refused_at_load(tmp_path):
    """Issue 17 (7): a placeholder dim of -5, a string placeholder, a Cast to string and a
    weight whose element count overflows int64 each fail at load, naming what is at fault."""
    nodes = [placeholder("x", [1, -5]), node("y", "Relu", ["x"])]
    with pytest.raises(webtensor.ModelFormatError, match=r"input 'x'.*below -1"):
        webtensor.read_graph_model(write_model(tmp_path / "a", nodes, {}))
    nodes = [placeholder("x", [2], "DT_STRING"), node("y", "Identity", ["x"])]
    with pytest.raises(webtensor.ModelFormatError, match=r"input 'x'.*dtype object is not supported"):
        webtensor.read_graph_model(write_model(tmp_path / "b", nodes, {}))
    nodes = [placeholder("x", [2]), node("y", "Cast", ["x"], DstT={"type": "DT_STRING"})]
    with pytest.raises(webtensor.ModelFormatError, match=r"node 'y' \(Cast\).*Cast to object is not supported"):
        webtensor.read_graph_model(write_model(tmp_path / "c", nodes, {}))
    path, _, _ = affine_model(tmp_path / "d")
    doc = json.loads(path.read_text())
    doc["weightsManifest"][0]["weights"][0]["shape"] = [2 ** 40, 2 ** 40]
    path.write_text(json.dumps(doc))
    with pytest.raises(webtensor.ModelFormatError, match=r"\('w'\): shape .*beyond the 2 GiB"):
        webtensor.read_graph_model(path)
