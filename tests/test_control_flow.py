"""Control flow (issue 15): TF1 frames and TF2 functions on hand-built models against plain
Python definitions, non-max suppression against hand-worked cases (ties, thresholds,
padding, soft-NMS), TensorLists, Where, the loop limit, hostile control-flow graphs, and
human's handtrack (its while loop, NMS and Where) with the hand detector on a photo."""
import json

import numpy as np
import pytest

import webtensor
from webtensor.ops import OPS
from webtensor.ops.control import TensorList, non_max_suppression

from . import control_models
from .helpers import HUMAN_MODELS, ROOT, node, placeholder, write_model


def _close(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(control_models.MODELS))
def test_hand_built_control_flow_equals_its_definition(tmp_path, name):
    path = control_models.write(name, tmp_path)
    *_, outputs, want = control_models.MODELS[name]()
    model = webtensor.read_graph_model(path, backend="numpy")
    for feeds in control_models.CASES[name]:
        got = model.execute(feeds, outputs)
        for g, w in zip(got, want(**feeds)):
            _close(g, w)
    report = model.report()
    assert "control_flow" in report and report["fallbacks"], report


def test_loop_bodies_with_real_work_run_as_plans(tmp_path):
    """The conv loop's body is a group compiled to a static plan (cached per shape), not
    node-by-node numpy; the report says so."""
    model = webtensor.read_graph_model(control_models.write("conv_loop", tmp_path), backend="numpy")
    for feeds in control_models.CASES["conv_loop"]:
        model.execute(feeds, ["y"])
    cf = model.report()["control_flow"]
    assert cf["loops"] == ["conv_frame"]
    native = [g for g in cf["groups"] if g["native"]]
    assert native and all(g["why"] is None for g in native)
    assert any(p["steps"] >= 1 for p in model.report()["plans"])


def test_dead_output_is_a_clear_error(tmp_path):
    """Asking for a tensor on the branch the condition did not take."""
    model = webtensor.read_graph_model(control_models.write("tf1_cond", tmp_path), backend="numpy")
    with pytest.raises(webtensor.ExecutionError, match="dead"):
        model.execute({"x": np.array([1.0, 1.0, 1.0], np.float32)}, ["else2"])


def test_a_loop_that_never_ends_hits_the_limit(tmp_path):
    nodes, consts, _, _, _ = control_models.counting_loop()
    for n in nodes:                                  # the condition: i >= 0, true forever
        if n["name"] == "loop/less":
            n["op"] = "GreaterEqual"
            n["input"] = [n["input"][0], "zero"]
    model = webtensor.read_graph_model(write_model(tmp_path, nodes, consts), backend="numpy")
    old = webtensor.set_loop_limit(50)
    try:
        with pytest.raises(webtensor.ExecutionError, match=r"loop 'counting' ran 50 iterations.*set_loop_limit"):
            model.execute({"x": np.ones(2, np.float32), "n": np.int32(3)}, ["count"])
    finally:
        webtensor.set_loop_limit(old)
    with pytest.raises(ValueError):
        webtensor.set_loop_limit(0)


def test_tf2_while_that_never_ends_hits_the_limit(tmp_path):
    nodes, consts, library, outputs, _ = control_models.tf2_while()
    for fn in library["function"]:
        if fn["signature"]["name"] == "outer_cond":
            fn["nodeDef"][0]["op"] = "GreaterEqual"
            fn["nodeDef"][0]["input"] = ["i", "i"]
    model = webtensor.read_graph_model(write_model(tmp_path, nodes, consts, library=library), backend="numpy")
    old = webtensor.set_loop_limit(20)
    try:
        with pytest.raises(webtensor.ExecutionError, match="ran 20 iterations"):
            model.execute({"n": np.int32(2)}, outputs)
    finally:
        webtensor.set_loop_limit(old)


def test_cycle_without_a_frame_is_refused_at_load(tmp_path):
    nodes = [placeholder("x", [2]), node("a", "AddV2", ["x", "b"]), node("b", "Relu", ["a"])]
    with pytest.raises(webtensor.ModelFormatError, match="cycle"):
        webtensor.read_graph_model(write_model(tmp_path, nodes, {}))


@pytest.mark.parametrize("mutation", ["no_loopcond", "exit_outside", "merge_without_next", "two_frames",
                                      "next_outside"])
def test_malformed_loops_are_refused_at_load_naming_the_node(tmp_path, mutation):
    nodes, consts, _, _, _ = control_models.counting_loop()
    by = {n["name"]: n for n in nodes}
    if mutation == "no_loopcond":
        nodes.remove(by["loop/loop_cond"])
        for n in nodes:
            n["input"] = ["loop/less" if i == "loop/loop_cond" else i for i in n.get("input", [])]
    elif mutation == "exit_outside":
        nodes.append(node("stray_exit", "Exit", ["x"]))
    elif mutation == "merge_without_next":
        by["loop/merge_i"]["input"] = ["loop/enter_i", "loop/enter_acc"]
    elif mutation == "two_frames":
        by["loop/enter_acc"]["attr"]["frame_name"]["s"] = "b3RoZXI="          # "other"
    elif mutation == "next_outside":
        nodes.append(node("stray_next", "NextIteration", ["x"]))
    with pytest.raises(webtensor.ModelFormatError):
        webtensor.read_graph_model(write_model(tmp_path, nodes, consts))


def test_fuzzed_control_flow_graphs_fail_clearly_never_hang(tmp_path):
    """120 seeded rewirings of the loop models' inputs: each loads and runs, or raises a
    webtensor error; with the loop limit at 200 none can run long."""
    rng = np.random.default_rng(15)
    old = webtensor.set_loop_limit(200)
    outcomes = {"ok": 0, "error": 0}
    try:
        for trial in range(120):
            name = ["counting_loop", "nested_loops", "tensorlist_loop", "tf1_cond"][trial % 4]
            nodes, consts, _, outputs, _ = control_models.MODELS[name]()
            names = [n["name"] for n in nodes] + list(consts)
            for _ in range(int(rng.integers(1, 4))):
                n = nodes[int(rng.integers(len(nodes)))]
                if n.get("input"):
                    n["input"][int(rng.integers(len(n["input"])))] = names[int(rng.integers(len(names)))]
            folder = tmp_path / f"t{trial}"
            try:
                model = webtensor.read_graph_model(write_model(folder, nodes, consts))
                model.backend_name = "numpy"
                model.execute(control_models.CASES[name][-1], outputs)
                outcomes["ok"] += 1
            except webtensor.WebtensorError:
                outcomes["error"] += 1
    finally:
        webtensor.set_loop_limit(old)
    assert outcomes["error"] > 20 and outcomes["ok"] > 0, outcomes


# ----------------------------------------------------------------------------- non-max suppression
BOXES = np.array([[0, 0, 1, 1],          # 0
                  [0, 0.1, 1, 1.1],      # 1: IoU with 0 = 0.9 / 1.1 = 0.818
                  [0, 0.5, 1, 1.5],      # 2: IoU with 0 = 1/3, with 1 = 0.6/1.4
                  [2, 2, 3, 3],          # 3: apart
                  [3, 3, 2, 2]],         # 4: the same box as 3, corners swapped
                 np.float32)


def test_nms_hard_ties_and_thresholds():
    scores = np.array([0.9, 0.95, 0.5, 0.7, 0.7], np.float32)
    idx, _, n = non_max_suppression(BOXES, scores, 10, 0.5)
    # 1 first; 0 suppressed by 1 (0.818 > 0.5); 3 and 4 tie at 0.7: the lower index first,
    # 4 is 3 (IoU 1); 2 overlaps 1 by 0.43 <= 0.5: kept
    assert idx.tolist() == [1, 3, 2] and int(n) == 3
    # IoU exactly at the threshold is kept (TF suppresses only above it)
    sq = np.array([[0, 0, 1, 1], [0, 0.5, 1, 1.5]], np.float32)         # IoU 1/3
    assert non_max_suppression(sq, np.array([1, 0.9], np.float32), 5, np.float32(1 / 3))[0].tolist() == [0, 1]
    assert non_max_suppression(sq, np.array([1, 0.9], np.float32), 5, 0.33)[0].tolist() == [0]
    # score_threshold is strict: a score equal to it is not a candidate
    assert non_max_suppression(BOXES, scores, 10, 0.5, 0.7)[0].tolist() == [1]
    # max_output_size caps; 0 gives nothing
    assert non_max_suppression(BOXES, scores, 2, 0.5)[0].tolist() == [1, 3]
    assert non_max_suppression(BOXES, scores, 0, 0.5)[0].tolist() == []


def test_nms_zero_area_boxes_never_suppress():
    boxes = np.array([[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 1, 1]], np.float32)
    assert non_max_suppression(boxes, np.array([0.9, 0.8, 0.7], np.float32), 5, 0.0)[0].tolist() == [0, 1, 2]


def test_nms_ops_v3_v4_v5_and_padding():
    scores = np.array([0.9, 0.95, 0.5, 0.7, 0.7], np.float32)
    v3 = OPS["NonMaxSuppressionV3"].ref([BOXES, scores, np.int32(10), np.float32(0.5), np.float32(0.6)], {})
    assert v3[0].tolist() == [1, 3] and v3[0].dtype == np.int32
    v4 = OPS["NonMaxSuppressionV4"].ref([BOXES, scores, np.int32(5), np.float32(0.5), np.float32(-1)],
                                        {"pad_to_max_output_size": True})
    assert v4[0].tolist() == [1, 3, 2, 0, 0] and int(v4[1]) == 3
    v5 = OPS["NonMaxSuppressionV5"].ref([BOXES, scores, np.int32(4), np.float32(0.5), np.float32(0),
                                         np.float32(0)], {"pad_to_max_output_size": True})
    assert v5[0].tolist() == [1, 3, 2, 0] and v5[1].tolist() == pytest.approx([0.95, 0.7, 0.5, 0]) and int(v5[2]) == 3


def test_soft_nms_decays_overlapping_scores():
    """sigma 0.5: box 0 (IoU 0.818 with box 1) keeps 0.9 * exp(-0.818^2) and returns to the
    queue; no hard suppression at all in soft mode."""
    scores = np.array([0.9, 0.95, 0.5, 0.7, 0.7], np.float32)
    idx, sc, n = non_max_suppression(BOXES, scores, 10, 0.5, 0.0, 0.5)
    iou01 = np.float32(0.9) / np.float32(1.1)
    w01 = np.exp(np.float32(-1) * iou01 * iou01)       # scale -0.5 / 0.5 = -1
    decayed0 = np.float32(0.9) * w01
    iou34 = np.float32(1.0)
    assert idx[0] == 1 and sc[0] == pytest.approx(0.95)
    assert 3 in idx.tolist() and 4 in idx.tolist()       # soft: the duplicate survives, decayed
    k4 = idx.tolist().index(4)
    assert sc[k4] == pytest.approx(0.7 * np.exp(-iou34 * iou34), rel=1e-5)
    k0 = idx.tolist().index(0)
    assert sc[k0] == pytest.approx(decayed0 * np.exp(-np.float32(1 / 3) ** 2 * 1.0) if 2 in idx.tolist()[:k0]
                                   else decayed0, rel=1e-4)
    assert list(sc) == sorted(sc, reverse=True) and int(n) == len(idx)


def test_nms_refuses_bad_arguments():
    from webtensor.ops.spec import OpError
    with pytest.raises(OpError, match="iou_threshold"):
        non_max_suppression(BOXES, np.ones(5, np.float32), 3, 1.5)
    with pytest.raises(OpError, match="max_output_size"):
        non_max_suppression(BOXES, np.ones(5, np.float32), -1, 0.5)
    with pytest.raises(OpError, match="boxes"):
        non_max_suppression(BOXES[:, :3], np.ones(5, np.float32), 3, 0.5)


def test_where_and_tensorlist_semantics():
    x = np.array([[0, 1], [2, 0]], np.float32)
    assert OPS["Where"].ref([x], {})[0].tolist() == [[0, 1], [1, 0]]
    assert OPS["Where"].ref([np.zeros((2, 3), bool)], {})[0].shape == (0, 2)
    lst = OPS["TensorListReserve"].ref([np.array([2], np.int32), np.int32(3)], {"element_dtype": np.dtype(np.float32)})[0]
    assert isinstance(lst, TensorList) and len(lst.items) == 3
    # an element never set reads as zeros of the element shape
    assert OPS["TensorListGetItem"].ref([lst, np.int32(1), np.array([2], np.int32)], {})[0].tolist() == [0, 0]
    lst2 = OPS["TensorListSetItem"].ref([lst, np.int32(2), np.array([1, 2], np.float32)], {})[0]
    assert lst.items[2] is None                                    # the old list is unchanged
    assert OPS["TensorListStack"].ref([lst2, np.array([2], np.int32)], {"num_elements": 3})[0].tolist() == \
        [[0, 0], [0, 0], [1, 2]]
    from webtensor.ops.spec import OpError
    with pytest.raises(OpError, match="index 3 out of range"):
        OPS["TensorListSetItem"].ref([lst, np.int32(3), np.array([1, 2], np.float32)], {})
    with pytest.raises(OpError, match="incompatible"):
        OPS["TensorListSetItem"].ref([lst, np.int32(0), np.array([1, 2, 3], np.float32)], {})
    popped = OPS["TensorListPopBack"].ref([lst2, np.array([2], np.int32)], {})
    assert popped[1].tolist() == [1, 2] and len(popped[0].items) == 2


def test_tensorarray_write_loop_and_gather():
    ta, flow = OPS["TensorArrayV3"].ref([np.int32(3)], {"dtype": np.dtype(np.float32), "element_shape": [2]})
    for i in range(3):
        flow = OPS["TensorArrayWriteV3"].ref([ta, np.int32(i), np.full(2, i, np.float32), flow], {})[0]
    got = OPS["TensorArrayGatherV3"].ref([ta, np.array([2, 0], np.int32), flow], {"element_shape": [2]})[0]
    assert got.tolist() == [[2, 2], [0, 0]]
    assert int(OPS["TensorArraySizeV3"].ref([ta, flow], {})[0]) == 3


# ----------------------------------------------------------------------------- handtrack
HAND_PHOTO = ROOT / ".cache" / "samples" / "zidane.jpg"


def _photo():
    from PIL import Image
    return np.asarray(Image.open(HAND_PHOTO).convert("RGB"))


def test_handtrack_runs_with_its_loop_nms_and_where():
    model = webtensor.read_graph_model(HUMAN_MODELS / "handtrack.json", backend="numpy")
    from webtensor.vision import HandDetector
    x = HandDetector(model).prepare(_photo())
    outs = model.execute(x)
    shapes = {o.name: tuple(v.shape) for o, v in zip(model.outputs, outs)}
    assert shapes["Identity_1:0"] == (1, 100, 4) and shapes["Identity_5:0"] == (1,)
    assert all(np.isfinite(v).all() for v in outs)
    cf = model.report()["control_flow"]
    assert cf["loops"] == ["StatefulPartitionedCall/map/while"]
    ops = {e["op"]: e for e in cf["numpy_ops"]}
    assert ops["NonMaxSuppressionV5"]["nodes"] == 7 and "depends on input values" in ops["NonMaxSuppressionV5"]["why"]
    assert {"Where", "TensorListStack", "Merge"} <= set(ops)
    # the backbone is one native group; the loop body's resize another
    assert sum(g["native"] for g in cf["groups"]) == 2


def test_hand_detector_finds_the_hand():
    """zidane.jpg's right half (Ancelotti's raised hand; on the whole 16:9 frame, squashed to the
    model's square input as human does, the hand scores 0.33, below human's 0.5)."""
    from webtensor.vision import HandDetector
    det = HandDetector.read(HUMAN_MODELS / "handtrack.json", backend="numpy")
    photo = _photo()[:, 640:]
    hands = det.detect(photo)
    assert len(hands) == 1, hands
    h = hands[0]
    assert h["score"] > 0.85 and h["label"] in ("point", "hand")
    x0, y0, x1, y1 = h["box"]
    assert 280 < x0 < 350 and 360 < y0 < 420 and 450 < x1 < 520 and 460 < y1 < 520, h["box"]
    assert det.detect(_photo()[:200, :200]) == []      # the top-left corner: no hand


def _sequential_hard_nms(boxes, scores, size, iou_t, score_t):
    """TF's definition, one candidate at a time: the blocked implementation must agree."""
    def iou(a, b):
        ay1, ax1, ay2, ax2 = min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])
        by1, bx1, by2, bx2 = min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])
        aa, ab = (ay2 - ay1) * (ax2 - ax1), (by2 - by1) * (bx2 - bx1)
        if aa <= 0 or ab <= 0:
            return 0.0
        inter = max(min(ay2, by2) - max(ay1, by1), 0) * max(min(ax2, bx2) - max(ax1, bx1), 0)
        return inter / (aa + ab - inter)
    order = sorted((i for i in range(len(scores)) if scores[i] > score_t), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) == size:
            break
        if all(iou(boxes[i], boxes[j]) <= iou_t for j in kept):
            kept.append(i)
    return kept


def test_blocked_nms_equals_the_sequential_definition():
    """Seeded draws across block boundaries (blocks of 128; above 1024 candidates the best 512
    come from a partition): clustered boxes, duplicates, tied scores, every threshold kind."""
    rng = np.random.default_rng(151)
    for trial in range(60):
        n = int(rng.integers(1100, 1800)) if trial % 6 == 0 else int(rng.integers(0, 700))
        centres = rng.uniform(0, 1, (n, 2))
        size = rng.uniform(0.02, 0.3, (n, 2))
        boxes = np.concatenate([centres - size / 2, centres + size / 2], axis=1).astype(np.float32)
        if n > 4:
            boxes[rng.integers(0, n, n // 5)] = boxes[0]
        scores = (rng.integers(0, 20, n) / 20).astype(np.float32) if trial % 2 else rng.uniform(0, 1, n).astype(np.float32)
        m = int(rng.integers(0, 300)) if trial % 12 else 700          # sometimes past the partition's 512
        iou_t = float(rng.choice([0.0, 0.2, 0.5, 0.9, 1.0]))
        score_t = float(rng.choice([-1.0, 0.3]))
        got = non_max_suppression(boxes, scores, m, iou_t, score_t)[0].tolist()
        want = _sequential_hard_nms(boxes.astype(np.float64).tolist(), scores.tolist(), m, np.float32(iou_t),
                                    np.float32(score_t))
        assert got == want, (trial, n, m, iou_t, score_t)
