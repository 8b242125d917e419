"""The wasm backend's planning, checked in CPython: the C/Python contract (opcodes and
each opcode's named arguments), lowering of the 10 models, the encoder, and the arena
(no two tensors alive at once share bytes)."""
import re

import numpy as np
import pytest

import webtensor
from webtensor.backends.wasm.encode import ARGS, OPCODES, check_extents, encode, supports
from webtensor.lower import Lowering, coalesce, plan_arena, view_geometry
from webtensor.lower.calls import Conv, SeparableConv

from .helpers import GRAPH_MODELS, HUMAN_MODELS, ROOT

C_SOURCES = {p.name: p.read_text() for p in (ROOT / "kernels_wasm").glob("*.[ch]")}


def test_opcodes_match_the_c_header():
    header = C_SOURCES["common.h"]
    enum = dict((m.group(1), int(m.group(2))) for m in re.finditer(r"\b(OP_[A-Z0-9]+)\s*=\s*(\d+)", header))
    assert enum == OPCODES
    from webtensor.backends.wasm.encode import GROUP_MAX, NO_BARRIER_AFTER
    assert int(re.search(r"\bNO_BARRIER_AFTER = (0x[0-9a-f]+)", header).group(1), 16) == NO_BARRIER_AFTER
    assert int(re.search(r"\bGROUP_MAX = (\d+)", header).group(1)) == GROUP_MAX
    assert f"GROUP_MAX = {GROUP_MAX};" in (ROOT / "py/webtensor/native/wasm_runtime.js").read_text()


def _c_body(name: str) -> str:
    """The text of C function `name` (or macro), with the bodies of the macros and helper
    functions it passes `a` to appended: everything that reads its argument words."""
    src = "\n".join(C_SOURCES.values())
    m = re.search(rf"(?:void|INLINE void|static void)\s+{name}\s*\(const int32_t\* a[^)]*\)\s*{{", src)
    assert m, f"no C function {name}"
    depth, i = 1, m.end()
    while depth:
        depth += {"{": 1, "}": -1}.get(src[i], 0)
        i += 1
    body = src[m.end():i]
    for macro in re.findall(r"\b([A-Z_]+_ARGS)\(a\)", body):
        d = re.search(rf"#define {macro}\(a\)((?:.*\\\n)*.*)", src)
        body += d.group(1)
    for helper in set(re.findall(r"\b([a-z_0-9]+)\(a, tid, nthreads", body)):
        body += _c_body(helper)
    return body


def c_argument_names(name: str) -> dict[int, set[str]]:
    """Argument index -> the names C function `name` gives that word: `T* p = PTR(T, a[i])`,
    `int n = a[i]`, `bits_to_f32(a[i])`, `(float)a[i]`, arrays `*s = a + i` (six words:
    s0..s5) and the QEpilogue struct `q_epilogue(a + i)` fills (a[i] is its x zero point)."""
    body = _c_body(name)
    names: dict[int, set[str]] = {}
    add = lambda i, n: names.setdefault(int(i), set()).add(n)
    for n, i in re.findall(r"(\w+) = PTR\([^,]+, a\[(\d+)\]\)", body):
        add(i, n)
    for n, i in re.findall(r"(\w+) = (?:bits_to_f32\(|\(\w+\))?a\[(\d+)\]", body):
        add(i, n)
    for n, i in re.findall(r"\*\s*(\w+) = a \+ (\d+)", body):
        for k in range(6):
            add(int(i) + k, f"{n}{k}")
    q = re.search(r"q_epilogue\(a \+ (\d+)\)", body)
    if q:
        src = "\n".join(C_SOURCES.values())
        fields = re.search(r"typedef struct \{([^}]*)\} QEpilogue;", src).group(1)
        order = [f.strip() for decl in fields.split(";") if decl.strip() for f in decl.split(None, 1)[1].split(",")]
        init = re.search(r"QEpilogue e = \{([^}]*)\}", src).group(1)
        idx = [int(x) for x in re.findall(r"a\[(\d+)\]", init)]
        base = int(q.group(1))
        add(base, "xz")
        for f, k in zip(order, idx):
            add(base + k, f)
    return names


@pytest.mark.parametrize("op", sorted(ARGS))
def test_argument_table_matches_the_c_kernel(op):
    """Every argument word the C kernel names sits where ARGS (the encoders' order) puts
    that name, and the kernel reads no word past the table's end."""
    fn = re.search(rf"case {op}: (\w+)\(", C_SOURCES["runtime.c"]).group(1)
    c_names = c_argument_names(fn)
    table = ARGS[op]
    # the kernel names every word of the table, and no word past it
    assert set(c_names) == set(range(len(table))), f"{fn} names words {sorted(c_names)}, ARGS has {len(table)}"
    wrong = {i: (table[i], sorted(c)) for i, c in c_names.items() if table[i] not in c}
    assert not wrong, f"{op}: ARGS name vs the names {fn} gives each word: {wrong}"


def test_every_call_type_has_an_encoder_and_a_draw():
    """Adding a call type (lower/calls.py) without teaching each backend fails here."""
    from webtensor.backends.wasm.encode import ENCODERS
    from webtensor.backends.webgl import DRAWS
    from webtensor.lower.calls import CALL_TYPES, GPU_REFUSED, QConv, QDepthwiseConv, Quantize, Dequantize
    from webtensor.backends.webgpu import KERNELS
    assert set(ENCODERS) == set(CALL_TYPES)
    float_calls = set(CALL_TYPES) - {QConv, QDepthwiseConv, Quantize, Dequantize}
    assert set(DRAWS) == float_calls - set(GPU_REFUSED)     # no int8 on WebGL; GPU_REFUSED says why not
    assert set(KERNELS) == float_calls - set(GPU_REFUSED)   # nor on WebGPU


def test_every_wgsl_program_is_complete():
    """Each kernel of every model's plan renders to WGSL with no placeholder left, and a
    plan's dispatches share a handful of pipelines (shapes live in parameters)."""
    from webtensor.backends.webgpu import KERNELS, program, supports as gpu_supports
    for name in ("blazeface", "centernet"):
        model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
        plan = next(iter(model._plans.values()))
        low = Lowering(plan, supports=gpu_supports).run()
        sources = set()
        for it in low.items:
            if it.call is None:
                continue
            shader, subs, params, items, *grid = KERNELS[type(it.call)](it.call, lambda ref: 0)
            src = program(shader, subs)
            for placeholder in ("ACTIVATION", "OPERATION", "KIND"):
                assert placeholder not in src, (it.label, placeholder)
            assert items > 0 and len(params) < 63, it.label
            sources.add(src)
        assert len(sources) <= 20, (name, len(sources))


def test_call_extents_name_what_a_call_touches():
    from webtensor.lower.extents import call_extents
    from webtensor.conformance import cases
    case = next(c for c in cases() if c.name.startswith("conv2d 7x7x3->8"))
    plan = next(iter(case.model()._plans.values()))
    low = Lowering(plan).run()
    conv = next(it.call for it in low.items if isinstance(it.call, Conv))
    spans = {(r.key, w): (lo, hi) for r, lo, hi, w in call_extents(conv)}
    assert spans[("x:0", False)] == (0, 7 * 7 * 3) and spans[("y:0", True)] == (0, 7 * 7 * 8)


def test_a_swapped_argument_fails_the_table_check():
    """The check can fail: swapping two names of the table is caught."""
    fn = re.search(r"case OP_CONV: (\w+)\(", C_SOURCES["runtime.c"]).group(1)
    c_names = c_argument_names(fn)
    table = list(ARGS["OP_CONV"])
    table[8], table[9] = table[9], table[8]              # H <-> W
    assert any(table[i] not in c for i, c in c_names.items())


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
    for k in plan.input_keys:          # copied in before the first kernel, free after its last read
        life[base(k)] = [-1, -1]
    for i, it in enumerate(low.items):
        for k in it.writes + it.reads:
            lo, hi = life.get(base(k), [i, i])
            life[base(k)] = [min(lo, i), max(hi, i)]
    for k in plan.output_keys:
        if base(k) in life:
            life[base(k)][1] = end
    size = lambda k: int(np.prod(plan.specs[k].shape)) * 4
    # in place: a kernel's output may take its input's slot where that input dies at the kernel
    from webtensor.lower.memory import in_place_pairs
    in_place = {(base(r.key), base(o.key), i) for i, it in enumerate(low.items) if it.call is not None
                for o, r in in_place_pairs(it.call)}
    shared = 0
    keys = sorted(life)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            if life[a][1] < life[b][0] or life[b][1] < life[a][0]:
                continue
            ra, rb = (offsets[a], offsets[a] + size(a)), (offsets[b], offsets[b] + size(b))
            if ra[1] <= rb[0] or rb[1] <= ra[0]:
                continue
            touch = life[a][1] == life[b][0] and (a, b, life[a][1]) in in_place or \
                life[b][1] == life[a][0] and (b, a, life[b][1]) in in_place
            assert touch and ra == rb, f"{a} and {b} overlap while both alive"
            shared += 1
    if name == "blazeface":
        # its stride-2 blocks' residual branches run in place (the stride-1 blocks' residual
        # is the separable call's own input, which later rows still read: never in place)
        assert shared >= 3
        assert sum(isinstance(it.call, SeparableConv) for it in low.items) >= 10


def test_a_model_inputs_slot_frees_after_its_last_read():
    """emotion's 64x64x1 input is read by its stem conv alone: the bytes are reused later,
    and the arena is the 976,384 bytes its largest block holds at once (two 29x29x128
    maps and the 15x15x128 residual), not that plus the input's 16 KB."""
    model = webtensor.read_graph_model(HUMAN_MODELS / "emotion.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan).run()
    offsets, arena, _ = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys)
    (x,) = [low.aliases.get(k, k) for k in plan.input_keys]
    lo, hi = offsets[x], offsets[x] + 64 * 64 * 4
    assert any(k != x and offsets[k] < hi and lo < offsets[k] + int(np.prod(plan.specs[k].shape)) * 4
               for k in offsets)
    assert arena == 2 * 29 * 29 * 128 * 4 + 15 * 15 * 128 * 4


def test_all_zero_weights_are_the_zero_row():
    """Keras' separable convs have no depthwise bias: emotion's four zero vectors point at
    the zero row (grown to the longest) instead of being uploaded; nothing uploaded is all
    zeros, and the zero row is at least as long as each vector it stands for."""
    from webtensor.backends.wasm.encode import Addr
    model = webtensor.read_graph_model(HUMAN_MODELS / "emotion.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan, plan.optimize, supports).run()
    enc = encode(low, plan.constants)
    assert not any(w.dtype.itemsize == 4 and not w.view(np.int32).any() for w in enc.weights)
    seps = [(args, it) for (op, args, _), it in zip((i for i in enc.items if i), (it for it in low.items if it.call))
            if op == "OP_SEPCONV"]
    assert len(seps) == 4 and all(args["dbias"] == Addr("z") for args, _ in seps)
    assert enc.zero_floats >= max(it.call.dw.bias.size for _, it in seps)


def test_blazeface_lowers_to_fused_kernels_without_fallbacks():
    model = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    low = Lowering(next(iter(model._plans.values())), supports=supports).run()
    assert low.fallbacks == []
    assert len(low.fused) >= 60                   # bias/add/relu epilogues joined their convs
    # 37 convs: 32 of them 1x1 after a depthwise, joined with it into one separable call
    assert sum(1 for it in low.items if isinstance(it.call, Conv)) == 5
    assert sum(1 for it in low.items if isinstance(it.call, SeparableConv)) == 32


def test_an_activation_after_a_max_pool_joins_the_conv_before_it():
    """antispoof's conv -> MaxPool -> Relu (three times): the Relu is the conv's epilogue, no
    element-wise call is left, and the Relu's output is the pool's slot (an alias)."""
    from webtensor.lower.calls import ConvPool, Pool, Unary
    model = webtensor.read_graph_model(HUMAN_MODELS / "antispoof.json")
    apart = lambda c: not isinstance(c, ConvPool) and supports(c)      # as on a backend without ConvPool
    low = Lowering(next(iter(model._plans.values())), supports=apart).run()
    assert low.fallbacks == []
    assert not any(isinstance(it.call, Unary) for it in low.items)
    pools = [it for it in low.items if isinstance(it.call, Pool)]
    convs = [it.call for it in low.items if isinstance(it.call, Conv)]
    assert len(pools) == 3 and sum(c.act == "Relu" for c in convs) >= 3
    plan = next(iter(model._plans.values()))
    relu_outs = {st.outputs[0] for st in plan.steps if st.node.op == "Relu"}
    assert len(relu_outs) == 3 and all(any(low.aliases.get(k) in p.writes for p in pools) for k in relu_outs)


def test_a_conv_and_its_2x2_max_pool_are_one_call_and_the_conv_map_has_no_slot():
    """antispoof on wasm: each conv -> MaxPool 2x2 s2 is one ConvPool (the Relu after the pool
    is the conv's epilogue), the conv maps get no slot, and the arena shrinks (the stem's
    126x126x64 map alone was 4 MB of its 5.3); the GPU backends keep conv and pool apart."""
    from webtensor.backends.webgl import supports as gl_supports
    from webtensor.lower.calls import ConvPool, Pool
    model = webtensor.read_graph_model(HUMAN_MODELS / "antispoof.json")
    plan = next(iter(model._plans.values()))
    fused = Lowering(plan, True, supports).run()
    apart = Lowering(plan, True, lambda c: not isinstance(c, ConvPool) and supports(c)).run()
    cps = [it.call for it in fused.items if isinstance(it.call, ConvPool)]
    assert len(cps) == 3 and all(c.conv.act == "Relu" for c in cps)
    assert not any(isinstance(it.call, Pool) for it in fused.items)
    assert len(fused.items) == len(apart.items) - 3
    offsets, arena, _ = plan_arena(fused, plan.specs, plan.input_keys, plan.output_keys)
    _, arena_apart, _ = plan_arena(apart, plan.specs, plan.input_keys, plan.output_keys)
    assert not {c.conv.out.key for c in cps} & set(offsets)
    assert arena <= 0.3 * arena_apart                 # 5.3 -> 1.3 MB
    enc = encode(fused, plan.constants)
    check_extents(enc, fused, plan.specs, plan.graph.source)
    assert not any(isinstance(it.call, ConvPool) for it in Lowering(plan, True, gl_supports).run().items)


@pytest.mark.parametrize("name", ["centernet", "handlandmark-lite"])
def test_an_expansion_into_a_strided_depthwise_is_one_call_and_its_map_has_no_slot(name):
    """On wasm a 1x1 conv read only by a stride-2 depthwise conv is one ExpandDepthwise where
    the expanded map is large (engine().fuse_expansion_above_bytes): that map gets no slot and
    the arena is smaller; smaller maps, and the GPU backends, keep the two calls."""
    from webtensor.backends.webgl import supports as gl_supports
    from webtensor.engine import engine
    from webtensor.lower.calls import ExpandDepthwise
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    fused = Lowering(plan, True, supports).run()
    apart = Lowering(plan, True, lambda c: not isinstance(c, ExpandDepthwise) and supports(c)).run()
    calls = [it.call for it in fused.items if isinstance(it.call, ExpandDepthwise)]
    assert calls and all(c.dw.g.SH == 2 and c.pw.g.KH == 1 for c in calls)
    assert all(4 * c.dw.g.N * c.dw.g.H * c.dw.g.W * c.pw.CO >= engine().fuse_expansion_above_bytes for c in calls)
    offsets, arena, _ = plan_arena(fused, plan.specs, plan.input_keys, plan.output_keys)
    _, arena_apart, _ = plan_arena(apart, plan.specs, plan.input_keys, plan.output_keys)
    assert not {c.pw.out.key for c in calls} & set(offsets) and arena < arena_apart
    check_extents(encode(fused, plan.constants), fused, plan.specs, plan.graph.source)
    assert not any(isinstance(it.call, ExpandDepthwise) for it in Lowering(plan, True, gl_supports).run().items)
    saved, engine().fuse_expansion_above_bytes = engine().fuse_expansion_above_bytes, 1 << 40
    try:
        assert not any(isinstance(it.call, ExpandDepthwise) for it in Lowering(plan, True, supports).run().items)
    finally:
        engine().fuse_expansion_above_bytes = saved


def test_the_arena_packs_in_the_best_of_several_orders():
    """plan_arena keeps the smallest of several first-fit orders: CenterNet's arena is below
    the 22.3 MB that largest-first alone packs (21.0 MB, by first use)."""
    model = webtensor.read_graph_model(HUMAN_MODELS / "centernet.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan, True, supports).run()
    _, arena, _ = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys)
    assert arena < 22_000_000


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
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan, supports=supports).run()
    check_extents(encode(low, plan.constants), low, plan.specs, name)


def test_a_kernel_call_reaching_past_its_slot_is_refused():
    """A plan whose shapes say less than its kernel writes (a shape rule that disagrees
    with the kernel) is refused before anything is written, naming the kernel and tensor."""
    from webtensor._record import replace
    from webtensor.conformance import cases
    case = next(c for c in cases() if c.name.startswith("conv2d 7x7x3->8"))
    plan = next(iter(case.model()._plans.values()))
    low = Lowering(plan, supports=supports).run()
    enc = encode(low, plan.constants)
    check_extents(enc, low, plan.specs, "case")
    out = plan.output_keys[0]
    specs = dict(plan.specs)
    specs[out] = replace(specs[out], shape=(1, 7, 7, 7))     # one channel fewer than the conv writes
    with pytest.raises(webtensor.ExecutionError, match=r"conv:y.*would write bytes \[0, 1568\).*'y:0' \(out\).*holds 1372 bytes"):
        check_extents(enc, low, specs, "case")
    # a call that writes into the weights is refused too
    i = next(i for i, it in enumerate(enc.items) if it)
    enc.items[i][1]["out"] = enc.items[i][1]["w"]          # out pointer -> the packed filter
    with pytest.raises(webtensor.ExecutionError, match="would write into the weights"):
        check_extents(enc, low, plan.specs, "case")


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


@pytest.mark.parametrize("name", ["blazeface", "centernet"])
def test_separable_fusion_drops_the_depthwise_maps_from_the_arena(name):
    """On wasm a depthwise conv read only by a 1x1 conv becomes one SeparableConv call: fewer
    calls (barriers with threads), and the depthwise output has no slot, so the arena is
    no larger (CenterNet: 28.3 -> 24.1 MB).  Backends without the call keep the two apart."""
    from webtensor.backends.webgl import supports as gl_supports
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    fused = Lowering(plan, True, supports).run()
    apart = Lowering(plan, True, lambda c: not isinstance(c, SeparableConv) and supports(c)).run()
    n = sum(isinstance(it.call, SeparableConv) for it in fused.items)
    assert n >= 10 and len(fused.items) == len(apart.items) - n
    gone = {it.call.dw.out.key for it in fused.items if isinstance(it.call, SeparableConv)}
    offsets, arena, _ = plan_arena(fused, plan.specs, plan.input_keys, plan.output_keys)
    _, arena_apart, _ = plan_arena(apart, plan.specs, plan.input_keys, plan.output_keys)
    assert not gone & set(offsets) and arena <= arena_apart
    assert not any(isinstance(it.call, SeparableConv) for it in Lowering(plan, True, gl_supports).run().items)


def test_ops_share_a_barrier_only_when_their_bytes_are_disjoint():
    """barrier_free: the next op may start with no barrier between only if it writes no
    byte the group before it touches and reads none the group writes; at most GROUP_MAX
    ops a group."""
    from webtensor.backends.wasm.encode import GROUP_MAX, barrier_free
    R, W = False, True
    a = [(0, 100, R), (100, 200, W)]             # reads [0, 100), writes [100, 200)
    assert barrier_free([a, [(0, 100, R), (200, 300, W)]]) == [True, False]        # reads shared: fine
    assert barrier_free([a, [(150, 160, R), (300, 400, W)]]) == [False, False]     # reads what a writes
    assert barrier_free([a, [(300, 400, R), (50, 60, W)]]) == [False, False]       # writes what a reads
    assert barrier_free([a, [(300, 400, R), (199, 210, W)]]) == [False, False]     # writes over a's output
    assert barrier_free([a, [(200, 300, R), (300, 400, W)]]) == [True, False]      # touching ends only
    # the group accumulates: the third op must be disjoint from both before it
    b = [(0, 100, R), (200, 300, W)]
    assert barrier_free([a, b, [(250, 260, R), (400, 500, W)]]) == [True, False, False]
    # a barrier resets the group: after one, only the op just before counts
    c = [(100, 200, R), (500, 600, W)]
    assert barrier_free([a, c, [(150, 160, R), (700, 800, W)]]) == [False, True, False]
    many = [[(0, 10, R), (1000 + 10 * i, 1010 + 10 * i, W)] for i in range(2 * GROUP_MAX + 1)]
    flags = barrier_free(many)
    assert flags.count(False) == 3 and not flags[-1]
    assert max(len(g) for g in "".join("1" if f else "0" for f in flags).split("0")) == GROUP_MAX - 1


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_every_op_in_a_barrier_group_is_independent_of_the_others(name):
    """On every graph model: within each group of ops run with no barrier between, no op
    writes a byte another op of the group reads or writes (checked pairwise, from the laid
    out arena), and BlazeFace's heads and pools do share their barriers."""
    from webtensor.backends.wasm.encode import barrier_free, touched_bytes
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    low = Lowering(plan, plan.optimize, supports).run()
    enc = encode(low, plan.constants)
    offsets, _, _ = plan_arena(low, plan.specs, plan.input_keys, plan.output_keys, guard=0, reuse=plan.optimize)
    resolve = lambda a: 4096 + offsets[low.aliases.get(a.key, a.key)] + a.extra
    native = [i for i, it in enumerate(low.items) if it.call is not None]
    spans = {i: touched_bytes(enc, i, resolve) for i in native}
    groups, current = [], []
    for i, free in zip(native, barrier_free([spans[i] for i in native])):
        current.append(i)
        if not free:
            groups.append(current)
            current = []
    assert not current                       # the last op always ends its group
    for g in groups:
        for x in g:
            for y in g:
                if x < y:
                    for a0, a1, aw in spans[x]:
                        for b0, b1, bw in spans[y]:
                            assert not ((aw or bw) and a0 < b1 and b0 < a1), (name, low.items[x].label, low.items[y].label)
    if name == "blazeface":
        assert len(groups) == 39 and len(native) == 44


def test_facemesh_prelu_nodes_join_their_convs():
    """facemesh: each block's Prelu node (alphas [1, 1, C]) after the residual Add is the
    separable call's PReLU epilogue: no element-wise Prelu call is left."""
    from webtensor.lower.calls import Binary
    model = webtensor.read_graph_model(HUMAN_MODELS / "facemesh.json")
    plan = next(iter(model._plans.values()))
    prelus = sum(1 for s in plan.steps if s.node.op == "Prelu")
    low = Lowering(plan, plan.optimize, supports).run()
    assert prelus > 20
    assert not [it.label for it in low.items if isinstance(it.call, Binary)]
    assert sum(1 for it in low.items if getattr(getattr(it.call, "pw", None), "act", None) == "Prelu") >= 15


@pytest.mark.parametrize("name, binaries_before, calls", [("faceres", 54, 19), ("handlandmark-lite", 18, 38)])
def test_clip_relu6_and_grappler_residual_sums_join_their_convs(name, binaries_before, calls):
    """faceres's Relu6 is clip_by_value(Relu(y), 0, 6) (Minimum then Maximum after each conv,
    27 times); handlandmark-lite's residual sums are AddN(conv, skip) -> AddV2(bias, .) (18
    element-wise calls before): every one joins its conv's epilogue now."""
    from webtensor.lower.calls import Binary
    model = webtensor.read_graph_model(HUMAN_MODELS / f"{name}.json")
    plan = next(iter(model._plans.values()))
    ops = [s.node.op for s in plan.steps]
    assert ops.count("Minimum") + ops.count("Maximum") + ops.count("AddN") + ops.count("AddV2") >= binaries_before
    low = Lowering(plan, plan.optimize, supports).run()
    assert not [it.label for it in low.items if isinstance(it.call, Binary)]
    assert len([it for it in low.items if it.call is not None]) == calls
