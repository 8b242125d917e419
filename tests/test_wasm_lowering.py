"""The wasm backend's planning, checked in CPython: the C/Python contract, lowering
of the 10 models, and the arena (no two tensors alive at once share bytes)."""
import re

import numpy as np
import pytest

import webtensor
from webtensor.lower import OPCODES, Lowering, coalesce, plan_arena, view_geometry

from .helpers import GRAPH_MODELS, HUMAN_MODELS, ROOT


def test_opcodes_match_the_c_header():
    header = (ROOT / "kernels_wasm" / "common.h").read_text()
    enum = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"\b(OP_[A-Z0-9]+)\s*=\s*(\d+)", header))
    assert enum == OPCODES


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_arena_never_overlaps_live_tensors(name):
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan).run()
    offsets, arena, naive = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys)
    assert arena <= naive
    base = lambda k: low.aliases.get(k, k)
    end = len(low.items)
    life = {}
    for k in plan.input_keys:
        life[base(k)] = [-1, end]
    for i, it in enumerate(low.items):
        for k in it.writes + it.reads:
            lo, hi = life.get(base(k), [i, i])
            life[base(k)] = [min(lo, i), max(hi, i)]
    for k in plan.output_keys:
        if base(k) in life:
            life[base(k)][1] = end
    size = lambda k: int(np.prod(plan.specs[k].shape)) * 4
    keys = sorted(life)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if life[a][1] < life[b][0] or life[b][1] < life[a][0]:
                continue
            ra, rb = (offsets[a], offsets[a] + size(a)), (offsets[b], offsets[b] + size(b))
            assert ra[1] <= rb[0] or rb[1] <= ra[0], f"{a} and {b} overlap while both alive"


def test_blazeface_lowers_to_fused_kernels_without_fallbacks():
    model = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    low = Lowering(next(iter(model._plans.values()))).run()
    assert low.fallbacks == []
    assert len(low.fused) >= 60                   # bias/add/relu epilogues joined their convs
    assert sum(1 for it in low.items if it.words and it.words[0] == OPCODES["OP_CONV"]) == 37


def test_geometry_helpers():
    off, shape, strides = view_geometry((4, 5, 6), (slice(1, 3), 2, slice(None, None, -2)))
    assert (off, shape, strides) == (1 * 30 + 2 * 6 + 5, (2, 3), [30, -2])
    shape, (a, b) = coalesce((2, 3, 4), [12, 4, 1], [12, 4, 1])
    assert shape[-1] == 24 and a[-1] == 1 and b[-1] == 1
    shape, (a, b) = coalesce((2, 3, 4), [12, 4, 1], [0, 0, 1])
    assert shape[-2:] == [6, 4] and b[-2:] == [0, 1]


def test_texture_size_limit_is_a_clear_error():
    from webtensor.backends.webgl import tex_dims
    assert tex_dims(16, 8192) == (4, 1)
    assert tex_dims(128 * 128 * 24, 8192, 128 * 6) == (768, 128)          # NHWC image rows
    with pytest.raises(webtensor.ResourceError, match="MAX_TEXTURE_SIZE"):
        tex_dims(4 * 8192 * 8192 + 4, 8192)


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_every_kernel_call_fits_its_slots(name):
    """The extent check CompiledPlan runs before a program reaches wasm memory passes on
    every real model (and so is not a source of false refusals)."""
    from webtensor.backends.wasm import check_extents
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    check_extents(Lowering(plan).run(), plan.specs, name)


def test_a_kernel_call_reaching_past_its_slot_is_refused():
    """A plan whose shapes say less than its kernel writes (a shape rule that disagrees
    with the kernel) is refused before anything is written, naming the kernel and tensor."""
    import dataclasses

    from webtensor.backends.wasm import check_extents
    from webtensor.conformance import cases
    case = next(c for c in cases() if c.name.startswith("conv2d 7x7x3->8"))
    plan = next(iter(case.model()._plans.values()))
    low = Lowering(plan).run()
    check_extents(low, plan.specs, "case")
    out = plan.output_keys[0]
    specs = dict(plan.specs)
    specs[out] = dataclasses.replace(specs[out], shape=(1, 7, 7, 7))     # one channel fewer than the conv writes
    with pytest.raises(webtensor.ExecutionError, match=r"conv:y.*would write bytes \[0, 1568\).*holds 1372 bytes"):
        check_extents(low, specs, "case")
    # a call that writes into the weights is refused too
    item = next(it for it in low.items if it.words)
    item.words[2 + 3] = item.words[2 + 1]          # out pointer -> the packed filter
    with pytest.raises(webtensor.ExecutionError, match="would write into the weights"):
        check_extents(low, plan.specs, "case")


def test_guard_mode_plans_keep_slots_apart():
    """debug_memory_guards: every slot is followed by guard bytes no other slot uses."""
    model = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan).run()
    offsets, arena, _ = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys, reuse=False, guard=64)
    from webtensor.lower import slot_span
    spans = sorted((o, o + slot_span(plan.specs[k])) for k, o in offsets.items())
    assert spans[0][0] >= 64
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 >= a1 + 64, "a slot starts inside the previous slot's guard"
