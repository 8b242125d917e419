"""What each typed kernel call touches: per tensor operand, the element span it reads
or writes, computed from the call's own fields.  A backend whose kernels read the
call's fields as they are (WebGPU's parameters) checks these spans against the slots
the memory plan gave each tensor before anything is written, so a model whose shapes
disagree with its kernels fails at compile, naming the kernel.  (The wasm backend
checks the argument words it encodes instead: backends/wasm/encode.py EXTENTS.)
"""
from __future__ import annotations

import numpy as np

from .calls import (Binary, Cast, Conv, ConvPool, Copy, DepthwiseConv, Dequantize, ExpandDepthwise, Fill, Pool, QConv,
                    QDepthwiseConv, Quantize, Reduce, Ref, Resize, SeparableConv, Softmax, TopK, Unary)


def span(shape, strides) -> tuple[int, int]:
    """(lowest, highest + 1) element offset a strided walk over `shape` touches."""
    lo = sum((d - 1) * s for d, s in zip(shape, strides) if s < 0 and d > 0)
    hi = sum((d - 1) * s for d, s in zip(shape, strides) if s > 0 and d > 0)
    return lo, hi + 1


def _conv(c, co):
    g = c.g
    n_out = g.N * g.OH * g.OW * co
    return [(c.x, (0, g.N * g.H * g.W * g.C), False), (c.residual, (0, n_out), False), (c.out, (0, n_out), True)]


def _io(n_in, n_out=None):
    return lambda c: [(c.x, (0, n_in(c)), False), (c.out, (0, (n_out or n_in)(c)), True)]


EXTENTS = {
    Conv: lambda c: _conv(c, c.CO),
    DepthwiseConv: lambda c: _conv(c, c.g.C * c.MULT),
    QConv: lambda c: _conv(c, c.CO),
    QDepthwiseConv: lambda c: _conv(c, c.g.C),
    Pool: _io(lambda c: c.g.N * c.g.H * c.g.W * c.g.C, lambda c: c.g.N * c.g.OH * c.g.OW * c.g.C),
    Binary: lambda c: [(c.x, span(c.shape, c.xs), False), (c.y, span(c.shape, c.ys), False),
                       (c.out, (0, int(np.prod(c.shape, dtype=np.int64))), True)],
    Unary: _io(lambda c: c.n),
    Copy: lambda c: [(c.src, span(c.shape, c.ss), False), (c.dst, span(c.shape, c.ds), True)],
    Fill: lambda c: [(c.out, (0, c.n), True)],
    Resize: _io(lambda c: c.N * c.H * c.W * c.C, lambda c: c.N * c.OH * c.OW * c.C),
    Reduce: _io(lambda c: c.outer * c.n * c.inner, lambda c: c.outer * c.inner),
    Softmax: _io(lambda c: c.rows * c.cols),
    Cast: _io(lambda c: c.n),
    Quantize: _io(lambda c: c.n),
    Dequantize: _io(lambda c: c.n),
    TopK: lambda c: [(c.x, (0, c.rows * c.n), False), (c.values, (0, c.rows * c.k), True),
                     (c.indices, (0, c.rows * c.k), True)],
    # the depthwise half's input, the 1x1 half's residual and output (the map between: no slot)
    SeparableConv: lambda c: _conv(c.dw, c.dw.g.C)[:1] + _conv(c.pw, c.pw.CO)[1:],
    # the 1x1 half's input, the depthwise half's residual and output (the expanded map: no slot)
    ExpandDepthwise: lambda c: _conv(c.pw, c.pw.CO)[:1] + _conv(c.dw, c.dw.g.C)[1:],
    # the conv's input and the pooled output (the conv's own map: no slot)
    ConvPool: lambda c: _conv(c.conv, c.conv.CO)[:1] + [
        (c.out, (0, c.conv.g.N * (c.conv.g.OH // 2) * (c.conv.g.OW // 2) * c.conv.CO), True)],
}


def call_extents(call) -> list[tuple[Ref, int, int, bool]]:
    """[(operand, first element, end element, written?)] with the Ref's own offset added;
    optional operands left out (None) are skipped."""
    out = []
    for ref, (lo, hi), written in EXTENTS[type(call)](call):
        if ref is not None and hi > lo:
            out.append((ref, ref.offset + lo, ref.offset + hi, written))
    return out
