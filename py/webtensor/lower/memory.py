"""Memory planning: every activation's slot in one arena, from tensor lifetimes over
the lowered item sequence (views share their base's slot)."""
from __future__ import annotations

import math

import numpy as np

from .calls import Binary, Cast, Conv, DepthwiseConv, SeparableConv, Unary

BOOL, I8 = np.dtype(np.bool_), np.dtype(np.int8)


def slot_bytes(spec) -> int:
    """Bytes planned for a tensor: bool is stored as int32; int8 kernels may read up to 8
    bytes past a tensor's end (16 reserved)."""
    dt = np.dtype(spec.dtype)
    n = math.prod(int(d) for d in spec.shape)     # Python ints: no overflow, ~7x cheaper than np.prod
    return n * 4 if dt == BOOL else n * dt.itemsize + (16 if dt == I8 else 0)


def slot_span(spec) -> int:
    """Bytes a slot occupies in the arena: its planned bytes rounded up to 16 (at least 16)."""
    return max(16, -(-slot_bytes(spec) // 16) * 16)


def contiguous_strides(shape) -> list[int]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return strides[::-1]


def in_place_pairs(call) -> list[tuple[object, object]]:
    """(output Ref, input Ref) pairs a kernel may compute in place: every element of the
    output is written after the input's element at the same index was read, and no other
    output element needs it (a fused residual, an element-wise operand of the output's own
    shape).  The planner may then give both one slot when the input dies at this call."""
    if isinstance(call, (Conv, DepthwiseConv, SeparableConv)):
        if call.residual is not None and call.residual.key != call.x.key and not call.int8:
            return [(call.out, call.residual)]
        return []
    if isinstance(call, Binary):
        dense = contiguous_strides(call.shape)
        same = lambda strides: all(st == d or n == 1 for st, d, n in zip(strides, dense, call.shape))
        pairs = [(call.out, r) for r, st in ((call.x, call.xs), (call.y, call.ys)) if same(st)]
        if len(pairs) == 2 and call.x.key == call.y.key:
            return []
        return pairs
    if isinstance(call, (Unary, Cast)):
        return [(call.out, call.x)]
    return []


def plan_arena(lowered, specs, input_keys, output_keys, reuse: bool = True,
               guard: int = 0) -> tuple[dict[str, int], int, int]:
    """Offsets for every non-constant tensor from lifetimes over the item sequence
    (greedy by size, first fit in time-overlapping placements).  A kernel's output shares
    its input's slot (in place) where in_place_pairs allows it and the input dies at that
    kernel: BlazeFace's residual blocks then hold one feature map fewer at once.  Returns
    (offset per base tensor, arena bytes, naive bytes).  guard > 0 (debug mode) leaves
    that many bytes after every slot, and before the first, for sentinels."""
    base = lambda k: lowered.aliases.get(k, k)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = len(lowered.items)
    # a model input is copied in before the first kernel and its slot frees after its
    # last read, like any tensor's (emotion's 16 KB input no longer outlives the stem)
    for k in input_keys:
        first[base(k)] = -1
        last[base(k)] = -1
    for i, item in enumerate(lowered.items):
        for k in item.writes:
            first.setdefault(base(k), i)
            last[base(k)] = max(last.get(base(k), i), i)
        for k in item.reads:
            last[base(k)] = max(last.get(base(k), i), i)
    for k in output_keys:
        if k in specs and base(k) in first:
            last[base(k)] = end
    sizes = {k: slot_span(specs[k]) + guard for k in first}
    naive = sum(sizes.values())
    # in place: an output joins its input's slot (one group, one lifetime) when the input's
    # last read is this kernel and both are tensors of one element size and slot size
    group: dict[str, str] = {}
    root = lambda k: root(group[k]) if k in group else k
    if reuse and not guard:
        for i, item in enumerate(lowered.items):
            if item.call is None:
                continue
            for out, src in in_place_pairs(item.call):
                if out.kind != "t" or src.kind != "t" or out.offset or src.offset:
                    continue
                o, r = base(out.key), base(src.key)
                if (o == r or o not in first or r not in first or first[o] != i or last[r] != i
                        or sizes[o] != sizes[r] or o in group or np.dtype(specs[o].dtype).itemsize
                        != np.dtype(specs[r].dtype).itemsize or slot_bytes(specs[o]) != slot_bytes(specs[r])):
                    continue
                g = root(r)
                group[o] = g
                last[g] = max(last[g], last[o])
                break                      # one input per output
    members = {k: root(k) for k in first}
    first = {k: v for k, v in first.items() if k not in group}
    life = {k: (first[k], last[k]) if reuse else (-1, end) for k in first}   # without reuse: all live throughout
    # no placement beats the most bytes alive at one kernel
    bound = guard + max((sum(sizes[k] for k, (f, l) in life.items() if f <= i <= l) for i in range(-1, end + 1)),
                        default=0)
    # First fit in a few orders, the smallest arena kept: largest first (the classic), then
    # by first use, by size x lifetime and longest-lived first.  Which order packs best
    # depends on the model (CenterNet: 24.1 MB largest-first; see tests/test_wasm_lowering.py).
    best = None
    for key in (lambda k: (-sizes[k], life[k][0]), lambda k: (life[k][0], -sizes[k]),
                lambda k: (-sizes[k] * (life[k][1] - life[k][0] + 1), life[k][0]),
                lambda k: (life[k][0] - life[k][1], -sizes[k])):
        offsets, arena = _first_fit(sorted(first, key=key), sizes, life, guard)
        if best is None or arena < best[1]:
            best = (offsets, arena)
        if arena <= bound:
            break
    offsets, arena = best
    for k, g in members.items():
        offsets[k] = offsets[g]
    return offsets, arena, naive


def _first_fit(order, sizes, life, guard) -> tuple[dict[str, int], int]:
    """Each tensor in `order` at the lowest offset free for its whole lifetime."""
    placed: list[tuple[int, int, int, int]] = []   # (offset, size, first, last)
    offsets: dict[str, int] = {}
    for k in order:
        lo, hi = life[k]
        busy = sorted((o, o + s) for o, s, f, l in placed if not (l < lo or hi < f))
        off = guard
        for a, b in busy:
            if off + sizes[k] <= a:
                break
            off = max(off, b)
        offsets[k] = off
        placed.append((off, sizes[k], lo, hi))
    return offsets, max((o + s for o, s, _, _ in placed), default=0)
