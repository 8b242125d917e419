"""Memory planning: every activation's slot in one arena, from tensor lifetimes over
the lowered item sequence (views share their base's slot)."""
from __future__ import annotations

import numpy as np

BOOL, I8 = np.dtype(np.bool_), np.dtype(np.int8)


def slot_bytes(spec) -> int:
    """Bytes planned for a tensor: bool is stored as int32; int8 kernels may read up to 8
    bytes past a tensor's end (16 reserved)."""
    dt = np.dtype(spec.dtype)
    n = int(np.prod(spec.shape, dtype=np.int64))
    return n * 4 if dt == BOOL else n * dt.itemsize + (16 if dt == I8 else 0)


def slot_span(spec) -> int:
    """Bytes a slot occupies in the arena: its planned bytes rounded up to 16 (at least 16)."""
    return max(16, -(-slot_bytes(spec) // 16) * 16)


def plan_arena(lowered, specs, input_keys, output_keys, reuse: bool = True,
               guard: int = 0) -> tuple[dict[str, int], int, int]:
    """Offsets for every non-constant tensor from lifetimes over the item sequence
    (greedy by size, first fit in time-overlapping placements).  Returns
    (offset per base tensor, arena bytes, naive bytes).  guard > 0 (debug mode) leaves
    that many bytes after every slot, and before the first, for sentinels."""
    base = lambda k: lowered.aliases.get(k, k)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    end = len(lowered.items)
    for k in input_keys:
        first[base(k)] = -1
        last[base(k)] = end
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
    order = sorted(first, key=lambda k: (-sizes[k], first[k]))
    placed: list[tuple[int, int, int, int]] = []   # (offset, size, first, last)
    offsets: dict[str, int] = {}
    for k in order:
        lo, hi = (first[k], last[k]) if reuse else (-1, end)   # without reuse: everything lives throughout
        busy = sorted((o, o + s) for o, s, f, l in placed if not (l < lo or hi < f))
        off = guard
        for a, b in busy:
            if off + sizes[k] <= a:
                break
            off = max(off, b)
        offsets[k] = off
        placed.append((off, sizes[k], lo, hi))
    arena = max((o + s for o, s, _, _ in placed), default=0)
    return offsets, arena, sum(sizes.values())
