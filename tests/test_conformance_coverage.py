"""The conformance suite covers what the lowering accepts (issue 19): a new lowered op,
activation, binary/unary kind, cast, reduction, padding mode or fusion rule without a
case fails here, so it cannot reach the backends untested."""
import numpy as np

from webtensor.lower import CASTS, LOWERINGS, VIEW_OPS
from webtensor.ops.kinds import ACTIVATIONS, BINARY_KINDS as BINARY, UNARY_KINDS as UNARY
from webtensor.conformance import BATCHED_OPS, NONFINITE_BINARY, NONFINITE_UNARY, cases

CASES = cases()
NODES = [(c, n) for c in CASES for n in c.nodes]
OPS_USED = {n.op for _, n in NODES}
CONV_OPS = {"Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"}


def test_every_lowered_op_has_a_case():
    missing = (set(LOWERINGS) | VIEW_OPS) - OPS_USED - {"Inv", "Div", "Concat", "Snapshot", "StopGradient"}
    assert not missing, f"lowered ops without a conformance case: {sorted(missing)}"
    # the aliases left out above lower through the same function as a covered name
    assert LOWERINGS["Div"] is LOWERINGS["RealDiv"] and LOWERINGS["Inv"] is LOWERINGS["Reciprocal"]


def test_every_activation_binary_and_unary_kind_has_a_case():
    fused = {f for _, n in NODES for f in n.attrs.get("fused_ops", [])}
    assert set(ACTIVATIONS) - {"Selu"} <= fused | {"Prelu"}, set(ACTIVATIONS) - fused
    assert set(ACTIVATIONS) - {"Prelu"} <= OPS_USED
    assert set(BINARY) - {"Div"} <= OPS_USED
    assert set(UNARY) - {"Inv"} <= OPS_USED
    # an activation fused into a binary kernel, for every activation that can follow one
    after_binary = {n.op for c in CASES for n in c.nodes[1:] if c.nodes[0].op in BINARY and len(c.nodes) == 2}
    assert set(ACTIVATIONS) - {"Prelu"} <= after_binary, set(ACTIVATIONS) - {"Prelu"} - after_binary


def test_every_cast_kind_and_reduction_has_a_case():
    casts = set()
    for c in CASES:
        for n in c.nodes:
            if n.op == "Cast":
                src = (c.inputs.get(n.inputs[0].split(":")[0]) if n.inputs[0].split(":")[0] in c.inputs else None)
                src_dt = np.dtype(np.bool_) if src is None else src.dtype
                casts.add((src_dt, np.dtype(n.attrs["DstT"])))
    assert CASTS <= casts, CASTS - casts
    assert {"Mean", "Sum", "Max", "Min"} <= OPS_USED


def test_batch_padding_and_dilation_variants_are_covered():
    for op in BATCHED_OPS:
        batch = {c.inputs[next(iter(c.inputs))].shape[0] for c in CASES if c.nodes[0].op == op}
        assert 1 in batch and max(batch) > 1, f"{op}: batches {batch}"
    for op in ("Conv2D", "DepthwiseConv2dNative"):
        pads = {n.attrs.get("padding") for _, n in NODES if n.op == op}
        dil = {max(n.attrs.get("dilations", [1, 1, 1, 1])) for _, n in NODES if n.op == op}
        assert {"SAME", "VALID", "EXPLICIT"} <= pads, (op, pads)
        assert max(dil) > 1, (op, dil)


def test_every_fusion_rule_has_both_operand_orders():
    """Per-channel Add/Sub/Mul after a conv with the constant first and second, and the
    residual Add with the skip first and second (Sub(c, conv) is not conv - c)."""
    seen = set()
    for c in CASES:
        producers = {n.name: n.op for n in c.nodes}
        for n in c.nodes:
            if n.op not in ("AddV2", "Sub", "Mul") or len(n.inputs) != 2:
                continue
            srcs = [t.split(":")[0] for t in n.inputs]
            for pos, s in enumerate(srcs):
                other = srcs[1 - pos]
                if producers.get(s) in CONV_OPS:
                    kind = "const" if other in c.consts else "tensor"
                    seen.add((n.op, kind, pos))
    for op in ("AddV2", "Sub", "Mul"):
        assert {(op, "const", 0), (op, "const", 1)} <= seen, (op, sorted(seen))
    assert {("AddV2", "tensor", 0), ("AddV2", "tensor", 1)} <= seen


def test_nan_and_inf_cases_for_every_elementwise_op_and_activation():
    names = {c.name for c in CASES}
    assert set(NONFINITE_UNARY) >= set(UNARY) - {"Inv", "Prelu"}, set(UNARY) - set(NONFINITE_UNARY)
    assert set(NONFINITE_BINARY) >= set(BINARY) - {"Add", "BiasAdd", "Div"}, set(BINARY) - set(NONFINITE_BINARY)
    for op in NONFINITE_UNARY + NONFINITE_BINARY:
        assert f"{op} NaN/Inf/-0" in names


def test_a_skip_branch_ordered_after_the_conv_is_hoisted_and_fused():
    """MediaPipe's pattern (conv, then max-pool and channel Pad of the skip, then Add): the
    branch is lowered ahead of the conv and the Add and Relu join the conv's epilogue."""
    from webtensor.lower import Lowering
    case = next(c for c in CASES if c.name.startswith("fusion: conv -> AddV2 with a later channel-padded skip (max"))
    model = case.model()
    plan = model.plan_for({f"{k}:0": v.shape for k, v in case.inputs.items()}, list(case.outputs))
    low = Lowering(plan).run()
    labels = [it.label.split(":")[0] for it in low.items]
    assert low.fused.get("s") == "c" and low.fused.get("y") == "c", low.fused
    conv = next(i for i, k in enumerate(labels) if k in ("conv", "sepconv"))   # sepconv: its depthwise joined
    assert labels.index("pool") < conv and not low.fallbacks, labels
    assert "binary" not in labels
