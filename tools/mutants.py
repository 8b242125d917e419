"""`build.py mutants`: does the conformance suite catch real kernel bugs?

Each mutant is one deliberate bug, written as a text substitution in a kernel
(kernels_wasm/), a shader (shaders/, shaders/wgsl/, or the GLSL / WGSL snippets in the backends) or the
lowering.  For each: copy the sources, apply the bug, build only what it touches into
a web root beside dist/ (the rest hard-linked from dist/), open the page in headless
Chromium and run the conformance suite on the backends the bug reaches.  A mutant is
killed when some case fails; a survivor means the suite has a gap.  The list holds the
13 bugs of issue 19 and more; a mutant whose text no longer exists in its file is
reported as stale (the list must follow the code).

    python3 build.py mutants                 # all, with a table and artifacts/mutants.json
    python3 build.py mutants --sample 4      # one of each kind (C, lowering, GLSL, WGSL): CI
    python3 build.py mutants --only "WebGL;Sub(const"  # names containing these texts
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
WORK = ROOT / ".cache" / "mutants"


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str              # relative to the project root
    old: str               # must occur exactly once in the file
    new: str
    backends: tuple        # where the bug is visible (the conformance suite runs there)


WASM, SIMD, GL, GPU = ("wasm",), ("wasm-simd",), ("webgl",), ("webgpu",)
THREADS = ("wasm-simd-threads",)
MUTANTS = [
    # -- the pool: ops with disjoint bytes run with no barrier between, each its own counter
    Mutant("the pool's barrier resets only the first op's work counter of a group", "kernels_wasm/runtime.c",
           "for (int k = 0; k < GROUP_MAX; k++)   // the next group's", "for (int k = 0; k < 1; k++)   // the next group's",
           THREADS),
    Mutant("a pool thread's claim leaves a unit unclaimed after its chunk", "kernels_wasm/common.h",
           "while (!__atomic_compare_exchange_n(w->counter, &first, first + size, 1,",
           "while (!__atomic_compare_exchange_n(w->counter, &first, first + size + 1, 1,", THREADS),
    Mutant("separable conv's unit starts every run at the row's first pixel", "kernels_wasm/conv.c",
           "const int ow0 = (u % runs) * chunk, np = MIN(chunk, OW - ow0);",
           "const int ow0 = (u % runs) * 0, np = MIN(chunk, OW - ow0);", SIMD),
    Mutant("an op of a group claims its chunks from the group's first counter", "kernels_wasm/runtime.c",
           "wt_work_counter[tid] = b + 2 + k;", "wt_work_counter[tid] = b + 2;", THREADS),
    Mutant("top-k lets a later equal value overtake an earlier one", "kernels_wasm/reduce.c",
           "INLINE int topk_above(float v, float w) { return v > w ||",
           "INLINE int topk_above(float v, float w) { return v >= w ||", WASM),
    Mutant("top-k drops the row offset of the output", "kernels_wasm/reduce.c",
           "float* vo = values + (size_t)r * k;", "float* vo = values;", SIMD),
    # -- Winograd F(2x2, 3x3) (conv.c op_winograd / op_winopool)
    Mutant("Winograd's input transform swaps a difference", "kernels_wasm/conv.c",
           "e[2][s] = SUB(d2, d1);", "e[2][s] = SUB(d1, d2);", WASM),
    Mutant("Winograd keeps a non-finite tile's transformed outputs", "kernels_wasm/conv.c",
           "          if (!finite)\n", "          if (0 && !finite)\n", SIMD),
    Mutant("Winograd drops the batch offset", "kernels_wasm/conv.c",
           "const float* xn = x + (size_t)tn[t] * H * W * C;\n        for (int k = 0; k < 16; k++)",
           "const float* xn = x;\n        for (int k = 0; k < 16; k++)", SIMD),
    Mutant("Winograd transforms only the first panel group's filter", "kernels_wasm/conv.c",
           "if (grp != have) {", "if (have < 0) {", THREADS),
    Mutant("Winograd's pooled pixel takes three of the tile's four", "kernels_wasm/conv.c",
           "max_f(max_f(act4[0][j], act4[1][j]), max_f(act4[2][j], act4[3][j]))",
           "max_f(max_f(act4[0][j], act4[1][j]), act4[2][j])", WASM),
    # -- the 13 of issue 19
    Mutant("scalar conv drops the batch offset", "kernels_wasm/conv.c",
           "const float* xn = x + (size_t)n * H * W * C;\n      const int whole",
           "const float* xn = x;\n      const int whole", WASM),
    Mutant("SIMD conv drops the batch offset", "kernels_wasm/conv.c",
           "nbase[r] = n * H * W * C;\n          if (r + 1 < nrows", "nbase[r] = 0;\n          if (r + 1 < nrows", SIMD),
    Mutant("SIMD conv's pixel step stays in the same image", "kernels_wasm/conv.c",
           "if (++oh == OH) { oh = 0; n++; }", "if (++oh == OH) { oh = 0; }", SIMD),
    Mutant("SIMD conv's patch path ignores the filter's dilation", "kernels_wasm/conv.c",
           "const int ih = ih0[r] + kh * DH;", "const int ih = ih0[r] + kh;", SIMD),
    Mutant("SIMD conv's patch path reads the input for taps in the padding", "kernels_wasm/conv.c",
           "const float* src = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x + nbase[r]",
           "const float* src = (ih >= 0 && ih < H) ? x + nbase[r]", SIMD),
    Mutant("SIMD conv's patch row copy ignores the dilation along H", "kernels_wasm/conv.c",
           "const float* src = x + nbase[r] + ((size_t)(ih0[r] + kh * DH) * W + iw0[r]) * C;",
           "const float* src = x + nbase[r] + ((size_t)(ih0[r] + kh) * W + iw0[r]) * C;", SIMD),
    Mutant("SIMD conv's patch row copy takes a window over the bottom edge as inside", "kernels_wasm/conv.c",
           "ih0[r] >= 0 && ih0[r] + (KH - 1) * DH < H) {", "ih0[r] >= 0 && ih0[r] + (KH - 1) * DH <= H) {", SIMD),
    Mutant("SIMD conv's patch row copy drops a row's last float", "kernels_wasm/conv.c",
           "for (; c < run; c++) pr[c] = src[c];", "for (; c < run - 1; c++) pr[c] = src[c];", SIMD),
    Mutant("SIMD conv's pixel step misses the row's end", "kernels_wasm/conv.c",
           "if (r + 1 < nrows && ++ow == OW) {", "if (r + 1 < nrows && ++ow == OW + 1) {", SIMD),
    Mutant("periodic binary repeats its row from the wrong phase", "kernels_wasm/elementwise.c",
           "rep[i] = rep_src[i % inner];", "rep[i] = rep_src[i % 4 % inner];", SIMD),
    Mutant("periodic binary drops its last row", "kernels_wasm/elementwise.c",
           "at < total; at += inner)", "at < total - inner; at += inner)", SIMD),
    Mutant("periodic binary swaps the operands when the first repeats", "kernels_wasm/elementwise.c",
           ": binary4(kind, rv, sv);", ": binary4(kind, sv, rv);", SIMD),
    Mutant("SIMD cast to bool stores the lane mask", "kernels_wasm/elementwise.c",
           "wasm_v128_and(wasm_f32x4_ne(wasm_v128_load(xf + i), wasm_f32x4_splat(0)), one)",
           "wasm_f32x4_ne(wasm_v128_load(xf + i), wasm_f32x4_splat(0))", SIMD),
    Mutant("SIMD float->int cast rounds to nearest", "kernels_wasm/elementwise.c",
           "wasm_i32x4_trunc_sat_f32x4(v),", "wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v)),", SIMD),
    Mutant("depthwise's interior pointers put the second pixel at the first's place", "kernels_wasm/conv.c",
           "p1[kh * KW + kw] = r + kw * step + apart;", "p1[kh * KW + kw] = r + kw * step;", SIMD),
    Mutant("depthwise's interior test lets the last filter row leave the input", "kernels_wasm/conv.c",
           "if (ih0 >= 0 && ih0 + (KH - 1) * DH < H && iwa >= 0", "if (ih0 >= 0 && ih0 + (KH - 2) * DH < H && iwa >= 0",
           WASM),
    Mutant("separable conv's residual ignores the chunk's start", "kernels_wasm/conv.c",
           "out + o, residual ? residual + o : 0, alpha, act, param);",
           "out + o, residual ? residual + (size_t)row * OW * CO : 0, alpha, act, param);", SIMD),
    Mutant("separable conv applies the 1x1's activation to the depthwise rows", "kernels_wasm/conv.c",
           "s0, two ? s0 + C : 0, 0, 0, dact, dparam);", "s0, two ? s0 + C : 0, 0, 0, act, param);", SIMD),
    Mutant("lowering joins a producer to its reader although another op reads its output too",
           "py/webtensor/lower/__init__.py", "or x in low.outputs or len(low.uses.get(x, ())) != 1:",
           "or x in low.outputs:", SIMD),
    Mutant("depthwise's SIMD 8-channel block weights its upper half with the lower weights", "kernels_wasm/conv.c",
           "w1 = wasm_v128_load(w + (size_t)t * C + c + 4);", "w1 = wasm_v128_load(w + (size_t)t * C + c);", SIMD),
    Mutant("depthwise stores a row's odd last pixel twice (rereading an in-place residual)", "kernels_wasm/conv.c",
           "o0, two ? o0 + CM : 0, res0,", "o0, o0 + (size_t)two * CM, res0,", SIMD),
    Mutant("depthwise drops the batch offset", "kernels_wasm/conv.c",
           "const float* xn = x + (size_t)n * H * W * C;\n      const int ih0 = oh * SH - PT;\n      int ow = 0;",
           "const float* xn = x;\n      const int ih0 = oh * SH - PT;\n      int ow = 0;", SIMD),
    Mutant("depthwise ignores dilation at the borders", "kernels_wasm/conv.c",
           "const int ih = ih0 + kh * DH;\n    for (int kw = 0; kw < KW; kw++) {\n      const int iw = iw0 + kw * DW;",
           "const int ih = ih0 + kh;\n    for (int kw = 0; kw < KW; kw++) {\n      const int iw = iw0 + kw;", WASM),
    Mutant("float FloorDiv truncates", "kernels_wasm/elementwise.c",
           "case B_FLOORDIV: return __builtin_floorf(x / y);", "case B_FLOORDIV: return __builtin_truncf(x / y);",
           WASM),
    Mutant("float FloorMod truncates", "kernels_wasm/elementwise.c",
           "float m = x - __builtin_floorf(x / y) * y;", "float m = x - __builtin_truncf(x / y) * y;", WASM),
    Mutant("Ceil returns floor", "kernels_wasm/elementwise.c",
           "case U_CEIL: return __builtin_ceilf(v);", "case U_CEIL: return __builtin_floorf(v);", WASM),
    Mutant("Sign inverted", "kernels_wasm/elementwise.c",
           "(float)((v > 0) - (v < 0))", "(float)((v < 0) - (v > 0))", WASM),
    Mutant("Selu loses its scale", "kernels_wasm/common.h",
           "return 1.0507009873554805f * (v > 0 ? v : ", "return (v > 0 ? v : ", WASM),
    Mutant("Min reduction computes max", "kernels_wasm/reduce.c",
           "acc[i] = min_f(acc[i], row[i]);", "acc[i] = max_f(acc[i], row[i]);", WASM),
    Mutant("float->bool Cast truncates (0.5 -> false)", "kernels_wasm/elementwise.c",
           "case 2: out[i] = xf[i] != 0.0f; break;",
           "case 2: out[i] = (int32_t)xf[i] != 0; break;", WASM),
    Mutant("lowering moves a LeakyRelu with a negative alpha through a max pool", "py/webtensor/lower/__init__.py",
           "        if param < 0:\n            return None, 0.0", "", SIMD),
    Mutant("lowering moves an activation through a max pool whose output another op reads",
           "py/webtensor/lower/__init__.py", "k = self.single_consumer(pool_out, j)",
           "k = next(iter(self.uses.get(pool_out, [])), None)", SIMD),
    Mutant("lowering fuses Sub(const, conv) as conv - const", "py/webtensor/lower/__init__.py",
           'elif shift_ok and op == "Sub" and nxt.inputs[0] == out:', 'elif shift_ok and op == "Sub":', SIMD),
    Mutant("lowering folds a constant Mul after the residual into the weights", "py/webtensor/lower/__init__.py",
           'elif affine_ok and op == "Mul":', 'elif shift_ok and op == "Mul":', SIMD),
    Mutant("lowering takes Relu -> Minimum of any constant as Relu6", "py/webtensor/lower/__init__.py",
           'c.size == 1 and float(c.reshape(-1)[0]) == 6.0:', 'c.size == 1:', SIMD),
    Mutant("lowering joins a Prelu node's alphas in reverse channel order", "py/webtensor/lower/__init__.py",
           'act, alpha = op, np.broadcast_to(c.reshape(-1), (channels,)).astype(np.float32)',
           'act, alpha = op, np.broadcast_to(c.reshape(-1)[::-1], (channels,)).astype(np.float32)', SIMD),
    Mutant("WebGL FloorMod truncates", "py/webtensor/backends/webgl.py",
           '"FloorMod": "(x - floor(x / y) * y)"', '"FloorMod": "(x - trunc(x / y) * y)"', GL),
    Mutant("WebGL Ceil returns floor", "py/webtensor/backends/webgl.py", '"Ceil": "ceil(x)"', '"Ceil": "floor(x)"', GL),
    # -- more of our own
    Mutant("int8 requantisation rounds ties away from zero (scalar)", "kernels_wasm/quant.c",
           "y = __builtin_rintf(clamp_f(y, -256.0f, 256.0f));",
           "y = (float)(int32_t)(clamp_f(y, -256.0f, 256.0f) + (y < 0 ? -0.5f : 0.5f));", WASM),
    Mutant("Relu6 turns NaN into 6 (scalar)", "kernels_wasm/common.h",
           "return bits_to_f32((imin(r, 0x40C00000 /* 6.0f */) & ~m) | (r & m));",
           "return bits_to_f32(imin(r, 0x40C00000));", WASM),
    Mutant("SIMD Relu turns NaN into 0 (pmax's operands swapped)", "kernels_wasm/common.h",
           "case ACT_RELU: return wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f));",
           "case ACT_RELU: return wasm_f32x4_pmax(wasm_f32x4_splat(0.0f), v);", SIMD),
    Mutant("SIMD Relu6 turns NaN into 6 (pmin's operands swapped)", "kernels_wasm/common.h",
           "wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(6.0f))",
           "wasm_f32x4_pmin(wasm_f32x4_splat(6.0f), wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)))", SIMD),
    Mutant("SIMD exp scales by 2^(2 floor(n/2)) (drops the odd power)", "kernels_wasm/common.h",
           "e2 = wasm_i32x4_sub(e, e1);", "e2 = e1;", SIMD),
    Mutant("SIMD sigmoid takes 1/(1+e) for negative x", "kernels_wasm/common.h",
           "wasm_v128_bitselect(wasm_f32x4_splat(1.0f), e, wasm_f32x4_ge(x, wasm_f32x4_splat(0.0f)))",
           "wasm_f32x4_splat(1.0f)", SIMD),
    Mutant("SIMD tanh's small-argument series loses its cubic term", "kernels_wasm/common.h",
           "wasm_f32x4_sub(one, wasm_f32x4_mul(x2, wasm_f32x4_sub(", "wasm_f32x4_add(wasm_f32x4_splat(0.0f), wasm_f32x4_mul(x2, wasm_f32x4_sub(", SIMD),
    Mutant("sliding max pool's SIMD columns drop NaN", "kernels_wasm/conv.c",
           "wasm_v128_store(col + c, wasm_v128_or(m, nan));", "wasm_v128_store(col + c, m);", SIMD),
    Mutant("sliding max pool reads one column short of the window", "kernels_wasm/conv.c",
           "for (int k = 1; k < KW; k++) m = imax(m, ring[(size_t)k * C + c]);",
           "for (int k = 1; k < KW - 1; k++) m = imax(m, ring[(size_t)k * C + c]);", WASM),
    Mutant("sliding max pool takes a padding column as input column W", "kernels_wasm/conv.c",
           "const int inside = iw >= 0 && iw < W;", "const int inside = iw >= 0 && iw <= W;", SIMD),
    Mutant("SIMD max pool drops NaN", "kernels_wasm/conv.c",
           "if (!kind) acc = wasm_v128_or(acc, nan);", "", SIMD),
    Mutant("2x2 max pool drops NaN", "kernels_wasm/conv.c",
           "return wasm_v128_or(wasm_f32x4_pmax(ab, de), nan);", "return wasm_f32x4_pmax(ab, de);", SIMD),
    Mutant("2x2 max pool looks for NaN in its first pair only", "kernels_wasm/conv.c",
           "wasm_v128_or(wasm_f32x4_ne(ab, wasm_f32x4_pmax(b, a)), wasm_f32x4_ne(de, wasm_f32x4_pmax(e, d)))",
           "wasm_f32x4_ne(ab, wasm_f32x4_pmax(b, a))", SIMD),
    Mutant("2x2 max pool reads its second row from the first", "kernels_wasm/conv.c",
           "wasm_v128_load(p + down + c)", "wasm_v128_load(p + c)", SIMD),
    Mutant("2x2 max pool runs into the last column of an odd width", "kernels_wasm/conv.c",
           "for (; ow < OW && 2 * ow + 1 < W; ow++) {", "for (; ow < OW && 2 * ow < W; ow++) {", SIMD),
    Mutant("conv + max pool leaves its window's last pixel out of the lower channels", "kernels_wasm/conv.c",
           "max4(v[0][0], v[0][1], v[0][2], v[0][3])", "max4(v[0][0], v[0][1], v[0][2], v[0][2])", SIMD),
    Mutant("conv + max pool's window takes its left column twice", "kernels_wasm/conv.c",
           "iw0[r] = (ow + (r & 1)) * SW - PL;", "iw0[r] = ow * SW - PL;", SIMD),
    Mutant("conv + max pool's window on the patch path skips its last pixel", "kernels_wasm/conv.c",
           "pointwise_pixels(patch, MR, patch_k, w, bias, CO, window, 0, alpha, act, param);",
           "pointwise_pixels(patch, MR - 1, patch_k, w, bias, CO, window, 0, alpha, act, param);", SIMD),
    Mutant("conv + max pool drops the batch offset", "kernels_wasm/conv.c",
           "nbase[r] = n * H * W * C;\n        }\n      } else {", "nbase[r] = 0;\n        }\n      } else {", SIMD),
    Mutant("scalar conv + max pool takes its window's top row twice", "kernels_wasm/conv.c",
           "oh = 2 * (rem / POW) + (r >> 1);", "oh = 2 * (rem / POW);", WASM),
    Mutant("scalar conv + max pool drops its window's last pixel", "kernels_wasm/conv.c",
           "max_f(win[2 * CO + c], win[3 * CO + c])", "max_f(win[2 * CO + c], win[2 * CO + c])", WASM),
    Mutant("lowering fuses a SAME max pool over an odd map into the conv", "py/webtensor/lower/__init__.py",
           "2, 2, 0, 0, g.OH // 2, g.OW // 2)", "2, 2, 0, 0, pg.OH, pg.OW)", SIMD),
    Mutant("expanded rows above the input are computed, not the depthwise padding's zeros", "kernels_wasm/conv.c",
           "if (ih < 0 || ih >= H || b <= a) {", "if (ih >= H || b <= a) {", SIMD),
    Mutant("expanded rows keep the right padding's columns unzeroed", "kernels_wasm/conv.c",
           "  for (int i = (b - iw_lo) * CE; i < ncols * CE; i++) dst[i] = 0.0f;\n", "", WASM),
    Mutant("the expansion ring keeps the previous image's rows", "kernels_wasm/conv.c",
           "if (n != cur_n || next < ih0) {", "if (next < ih0) {", SIMD),
    Mutant("the expansion's second pixel of a pair reads the first's window", "kernels_wasm/conv.c",
           "p1[kh * KW + kw] = rr + (size_t)(col + (two ? SW : 0)) * CE;", "p1[kh * KW + kw] = rr + (size_t)col * CE;",
           SIMD),
    Mutant("scalar max pool's keys put a negative NaN below -inf (drops it)", "kernels_wasm/common.h",
           "return ((b ^ ((b >> 31) & 0x7fffffff)) & ~m) | (0x7fffffff & m);",
           "return b ^ ((b >> 31) & 0x7fffffff);", WASM),
    Mutant("scalar max pool compares the keys as unsigned", "kernels_wasm/conv.c",
           "k[0] = imax(k[0], max_key(f32_to_bits(xp[0])));",
           "k[0] = (uint32_t)k[0] > (uint32_t)max_key(f32_to_bits(xp[0])) ? k[0] : max_key(f32_to_bits(xp[0]));", WASM),
    Mutant("scalar max pool reads the wrong channel in a channel tail", "kernels_wasm/conv.c",
           "for (int j = 0; j < nc; j++) k[j] = imax(k[j], max_key(f32_to_bits(xp[j])));",
           "for (int j = 0; j < nc; j++) k[j] = imax(k[j], max_key(f32_to_bits(xp[j > 1 ? 1 : j])));", WASM),
    Mutant("sum reduction skips its first term", "kernels_wasm/reduce.c",
           "for (int k = kind >= 2 ? 1 : 0; k < n; k++)", "for (int k = 1; k < n; k++)", WASM),
    Mutant("reduction reads every lane run from the first", "kernels_wasm/reduce.c",
           "const float* p = x + (size_t)o * n * inner + i0;", "const float* p = x + (size_t)o * n * inner;", SIMD),
    Mutant("avg pool counts the padding", "kernels_wasm/conv.c",
           "const float count = (float)((kh_hi - kh_lo) * (kw_hi - kw_lo));", "const float count = (float)(KH * KW);",
           WASM),
    Mutant("resize ignores half_pixel_centers", "kernels_wasm/movement.c",
           "return half_pixel ? ((double)d + 0.5) * scale - 0.5 : (double)d * scale;", "return (double)d * scale;",
           WASM),
    Mutant("binary kernel drops its fused activation", "py/webtensor/lower/__init__.py",
           'call = Binary(low.ref(a), low.ref(b), Ref("t", out), BINARY_KINDS[step.node.op], act, param,',
           'call = Binary(low.ref(a), low.ref(b), Ref("t", out), BINARY_KINDS[step.node.op], None, param,', SIMD),
    Mutant("WebGL pooling drops the batch offset", "shaders/window.glsl",
           "elem(X, ((n * H + ih) * W + iw) * C + c)", "elem(X, ((ih) * W + iw) * C + c)", GL),
    Mutant("WebGL 4-channel pooling drops the batch offset", "shaders/window.glsl",
           "int xr = n * H + ih, xi = iw * XH + xc;", "int xr = ih, xi = iw * XH + xc;", GL),
    Mutant("WebGL Tanh of infinity is NaN", "py/webtensor/backends/webgl.py",
           '"return tanh(clamp(v, -10.0, 10.0));"', '"return tanh(v);"', GL),
    Mutant("WebGL conv drops the residual", "shaders/conv.glsl", "  a += at_plane(R, rx, r, rz);", "", GL),
    Mutant("WebGL conv steps along the width by the height's stride",
           "shaders/conv.glsl", "int iw = ow * SW - PL + kw * DW;\n#if !defined(NO_PAD)",
           "int iw = ow * SH - PL + kw * DW;\n#if !defined(NO_PAD)", GL),
    Mutant("WebGL conv's second row of four reads the first row's input", "shaders/conv.glsl",
           "S(x, a0) S(y, a1) S(z, a2) S(w, a3)", "S(x, a0) S(x, a1) S(z, a2) S(w, a3)", GL),
    Mutant("WebGL conv takes taps above the image", "shaders/conv.glsl",
           "#define TAP_OK(k) (iw_ok && ih.k >= 0 && ih.k < H)", "#define TAP_OK(k) (iw_ok && ih.k < H)", GL),
    Mutant("WebGL depthwise slide skips an input row", "shaders/conv.glsl",
           "x0 = x1; x1 = x2; x2 = x3;", "x0 = x1; x1 = x3; x2 = x3;", GL),
    Mutant("WebGL stem window misaligns by one channel", "shaders/conv.glsl",
           "o == 1 ? vec4(lo.yzw, hi.x)", "o == 1 ? vec4(lo.xyz, hi.x)", GL),
    Mutant("WebGL 4-channel max pool drops NaN", "shaders/prelude.glsl",
           "vec4 wt_max4(vec4 x, vec4 y) { return mix(max(x, y), x + y,", "vec4 wt_max4(vec4 x, vec4 y) { return mix(max(x, y), max(x, y),", GL),
    Mutant("WebGL upload puts grid rows in the wrong layer", "py/webtensor/native/webgl_runtime.js",
           "((r % L) * t.rows + Math.floor(r / L)) * row", "(Math.floor(r / L) * L + (r % L)) * row", GL),
    Mutant("WebGL runtime gives a draw the output's height as OUT_WIDTH", "py/webtensor/native/webgl_runtime.js",
           "gl.uniform1i(this.location(p, 'OUT_WIDTH'), out.w);", "gl.uniform1i(this.location(p, 'OUT_WIDTH'), out.rows);", GL),
    Mutant("WebGL conv gets its input height and width swapped", "py/webtensor/backends/webgl.py",
           "sizes = dict(N=N, H=H, W=W, C=C,", "sizes = dict(N=N, H=W, W=H, C=C,", GL),
    Mutant("WebGL pads a stem's input feed at the front", "py/webtensor/backends/webgl.py",
           "pl:pl + w, :c])", "pl:pl + w, 4 - c:])", GL),
    Mutant("WebGL conv ignores HAS_RES (adds the stand-in residual)", "shaders/conv.glsl",
           "if (HAS_RES != 0) a += at_plane(R, rx, r, rz);", "a += at_plane(R, rx, r, rz);", GL),
    Mutant("WebGL clamp activation Relu6 clamps at 8", "shaders/conv.glsl",
           "ACT_KIND == 2 ? 6.0 : inf", "ACT_KIND == 2 ? 8.0 : inf", GL),
    Mutant("WebGL split-row conv finds the input row with the output's pixels per row", "shaders/conv.glsl",
           "ivec4 pin = (n * H + ih) * W + iw, xr = pin / X_PR;", "ivec4 pin = (n * H + ih) * W + iw, xr = pin / OUT_PR;", GL),
    Mutant("WebGL split-row conv drops the batch from the output pixel", "shaders/conv.glsl",
           "ivec4 pix = r * OUT_PR + px, t = pix / OW, ow = pix - t * OW, n = t / OH, oh = t - n * OH;",
           "ivec4 pix = r * OUT_PR + px, t = pix / OW, ow = pix - t * OW, n = t * 0, oh = t - n * OH;", GL),
    Mutant("WebGL stands zeros in for any fill", "py/webtensor/backends/webgl.py",
           "return isinstance(it.call, Fill) and it.call.value == 0 and", "return isinstance(it.call, Fill) and", GL),
    Mutant("WebGL hands a borrowed zeros texture back to the pool", "py/webtensor/backends/webgl.py",
           "        if tid in self.borrowed:            # a shared constant standing in for a tensor\n            return\n", "", GL),
    Mutant("WebGL conv interior takes one more fragment row", "py/webtensor/backends/webgl.py",
           "y0, y1 = -(-oh_lo // LAYERS), (oh_hi + 1) // LAYERS", "y0, y1 = -(-oh_lo // LAYERS), (oh_hi + 4) // LAYERS", GL),
    Mutant("WebGL conv border drops its right strip", "py/webtensor/backends/webgl.py",
           ", [x1, y0, width - x1, y1 - y0]]", "]", GL),
    Mutant("WebGL slide reads rows above the image in the padded program", "shaders/conv.glsl",
           "#else\n#define XROW(j) (iw_ok && ih0 + (j) >= 0 && ih0 + (j) < H ?", "#else\n#define XROW(j) (iw_ok && ih0 + (j) < H ?", GL),
    Mutant("WebGL runtime sets a shared program's sizes only at its first draw", "py/webtensor/native/webgl_runtime.js",
           "for (const [name, v] of d.ints) gl.uniform1iv(this.location(p, name), v);",
           "if (!p.sized) for (const [name, v] of d.ints) gl.uniform1iv(this.location(p, name), v); p.sized = true;", GL),
    Mutant("WebGL pool fills a padded output's extra channels with ones", "shaders/window.glsl",
           "  if (c4 >= cin4) return vec4(0.0);\n", "  if (c4 >= cin4) return vec4(1.0);\n", GL),
    Mutant("WebGL pool addresses a padded output by its input's channels", "shaders/window.glsl",
           "c4 = x % CO4, ow = x / CO4", "c4 = x % cin4, ow = x / cin4", GL),
    Mutant("WebGL pool writes the pad of an output that is also read elsewhere", "py/webtensor/backends/webgl.py",
           "or readers.get(src) != [j] or src in kept", "or src in kept", GL),
    Mutant("WebGL stride-2 slide shifts its window as stride 1 does", "shaders/conv.glsl",
           "x0 = y0; y0 = x1; x1 = y1; y1 = x2; x2 = y2; y2 = x3;", "x0 = x1; x1 = x2; x2 = x3;", GL),
    Mutant("WebGL stride-2 slide starts its odd window a row short", "shaders/conv.glsl",
           "y0 = XROW(1), y1 = XROW(3), y2 = XROW(5);", "y0 = XROW(1), y1 = XROW(3), y2 = XROW(3);", GL),
    Mutant("WebGL stride-2 slide drops the third channel of an RGB stem", "shaders/conv.glsl",
           "#elif C_REAL == 3\n#define MAC(v) v.x * w0 + v.y * w1 + v.z * w2",
           "#elif C_REAL == 3\n#define MAC(v) v.x * w0 + v.y * w1", GL),
    Mutant("WebGL slides over rows of several images", "py/webtensor/backends/webgl.py",
           "(g.OH % 4 == 0 or N == 1) and not seg", "not seg", GL),
    Mutant("WebGL conv takes the input's hoisted layer from the wrong bits", "shaders/conv.glsl",
           "ivec4 xb = XBASE(xr), xl = xr >> 2, xz = (xr & 3) + xzo;", "ivec4 xb = XBASE(xr), xl = xr >> 2, xz = (xr & 1) + xzo;", GL),
    # channel planes (GLPlan._channel_planes)
    Mutant("WebGL conv's second output plane takes the first plane's filter", "shaders/conv.glsl",
           "#define WT2(row) at(Wt, co4 + cout4, row)", "#define WT2(row) at(Wt, co4, row)", GL),
    Mutant("WebGL conv reads only its input's first plane", "shaders/conv.glsl",
           "pl < XP; pl++, xz += 4)", "pl < XP; pl++, xz += 0)", GL),
    Mutant("WebGL depthwise reads its channels from the first plane", "shaders/conv.glsl",
           "ivec2 xq = in_plane(co4, XH);", "ivec2 xq = ivec2(co4, 0);", GL),
    Mutant("WebGL second output plane adds the first plane's residual", "shaders/conv.glsl",
           "out4 = finish(e0, r0, rxb, rzb, alpha2);", "out4 = finish(e0, r0, rxa, rza, alpha2);", GL),
    Mutant("WebGL conv reads a residual of 2 planes as if of 1", "shaders/conv.glsl",
           "ivec2 ra = in_plane(co4, RH);", "ivec2 ra = ivec2(co4, 0);", GL),
    Mutant("WebGL pool reads its channels from the input's first plane", "shaders/window.glsl",
           "ivec2 xq = in_plane(c4, XH);", "ivec2 xq = ivec2(c4, 0);", GL),
    Mutant("WebGL second output plane takes the first plane's bias", "shaders/conv.glsl",
           "vec4 b2 = texel(Bias, co4 + cout4)", "vec4 b2 = texel(Bias, co4)", GL),
    Mutant("WebGL second output plane takes the first plane's PReLU alpha", "shaders/conv.glsl",
           "alpha2 = texel(Alpha, co4 + cout4);", "alpha2 = texel(Alpha, co4);", GL),
    Mutant("WebGL split-row conv steps through its input's plane at the full pixel width", "shaders/conv.glsl",
           "ivec4 xb = (pin - xr * X_PR) * XH,", "ivec4 xb = (pin - xr * X_PR) * (C >> 2),", GL),
    Mutant("WebGL stores a map an elementwise op also reads as 2 planes", "py/webtensor/backends/webgl.py",
           "if writes_planes(i) and all(reads_planes(j, out)", "if writes_planes(i) and True or all(reads_planes(j, out)", GL),
    Mutant("WebGL drops a program's residual branch when its first draw has no residual", "py/webtensor/backends/webgl.py",
           'any(dict(d["ints"]).get("HAS_RES") != [0] for d in ds)', 'dict(ds[0]["ints"]).get("HAS_RES") != [0]', GL),
    Mutant("WebGL runtime attaches only the first plane of a 2-plane texture", "py/webtensor/native/webgl_runtime.js",
           "for (let l = 0; l < t.layers; l++) gl.framebufferTextureLayer(", "for (let l = 0; l < LAYERS; l++) gl.framebufferTextureLayer(", GL),
    # plan outputs of 2 planes, padded heads (GLPlan.unpacked, co_pad), weights after warm
    Mutant("WebGL read-back puts a pixel's planes together texel-major", "py/webtensor/backends/webgl.py",
           ".transpose(1, 2, 0, 3, 4)", ".transpose(1, 2, 3, 0, 4)", GL),
    Mutant("WebGL runtime reads every plane of a texture from the first", "py/webtensor/native/webgl_runtime.js",
           "gl.readBuffer(gl.COLOR_ATTACHMENT0 + p * L + l);", "gl.readBuffer(gl.COLOR_ATTACHMENT0 + l);", GL),
    Mutant("WebGL runtime reads a texture's second plane over its first", "py/webtensor/native/webgl_runtime.js",
           "out = data.subarray(p * plane, p * plane + np);", "out = data.subarray(0, np);", GL),
    Mutant("WebGL pads a head's filter before its output channels", "py/webtensor/backends/webgl.py",
           "((0, 0), (0, 0), (0, 0), (0, pad))", "((0, 0), (0, 0), (0, 0), (pad, 0))", GL),
    Mutant("WebGL pads a head's bias before its channels", "py/webtensor/backends/webgl.py",
           "lambda b: np.pad(b, (0, pad))", "lambda b: np.pad(b, (pad, 0))", GL),
    Mutant("WebGL pads a head's PReLU alpha before its channels", "py/webtensor/backends/webgl.py",
           "lambda a: np.pad(a, (0, pad))", "lambda a: np.pad(a, (pad, 0))", GL),
    Mutant("WebGL pads the output channels of a head with a residual", "py/webtensor/backends/webgl.py",
           "and it.call.residual is None and len(", "and len(", GL),
    Mutant("WebGL uploads an RGB image at its padded texture's corner", "py/webtensor/backends/webgl.py",
           "buf[:, pt:pt + h, pl:pl + w, :c]", "buf[:, :h, :w, :c]", GL),
    Mutant("WebGL stem pads its padded image again", "py/webtensor/backends/webgl.py",
           "W=g.W + pl + pr, PT=0, PL=0)", "W=g.W + pl + pr, PT=g.PT, PL=g.PL)", GL),
    Mutant("WebGL pads an RGB image for the first of two stems that pad it differently", "py/webtensor/backends/webgl.py",
           "                if len(spatial) == 1:\n", "                if spatial:\n", GL),
    Mutant("WebGL leaves a plan's first weight texture empty", "py/webtensor/backends/webgl.py",
           "for tid, data in pending:", "for tid, data in pending[1:]:", GL),
    Mutant("WebGL pool over a split map finds the input row by the image width", "shaders/window.glsl",
           "int p = (n * H + ih) * W + iw, xr = p / X_PR,", "int p = (n * H + ih) * W + iw, xr = p / W,", GL),
    Mutant("WebGL generic main skips a row the grid has", "shaders/main.glsl",
           "store(l, r + l < OUT_ROWS ?", "store(l, r + l < OUT_ROWS - 1 ?", GL),
    # -- WebGPU (WGSL kernels and their snippets)
    Mutant("WebGPU conv drops the residual", "shaders/wgsl/conv.wgsl",
           "if (p[5] >= 0) { v += ld(p[5] + ob + j); }", "", GPU),
    Mutant("WebGPU FloorMod truncates", "py/webtensor/backends/webgpu.py",
           '"FloorMod": "(x - floor(x / y) * y)"', '"FloorMod": "(x - trunc(x / y) * y)"', GPU),
    Mutant("WebGPU avg pool counts the padding", "shaders/wgsl/window.wgsl",
           "if (avg) { acc = acc / count; }", "if (avg) { acc = acc / f32(p[9] * p[10]); }", GPU),
    Mutant("WebGPU float->int Cast rounds", "shaders/wgsl/reduce.wgsl",
           "buf[o] = bitcast<u32>(i32(v));", "buf[o] = bitcast<u32>(i32(round(v)));", GPU),
    Mutant("WebGPU max drops NaN", "shaders/wgsl/prelude.wgsl",
           "fn wt_max(x: f32, y: f32) -> f32 { if (wt_isnan(x) || wt_isnan(y)) { return x + y; } return max(x, y); }",
           "fn wt_max(x: f32, y: f32) -> f32 { return max(x, y); }", GPU),
    Mutant("WebGPU strided copy ignores the source strides of the outer axes", "shaders/wgsl/copy.wgsl",
           "so += c * p[9 + d];", "so += c * select(p[9 + d], 0, d < 5);", GPU),
    Mutant("WebGPU tiled GEMM loses the last partial k step", "shaders/wgsl/gemm.wgsl",
           "for (var k0 = 0; k0 < K; k0 += TK) {", "for (var k0 = 0; k0 + TK <= K; k0 += TK) {", GPU),
    Mutant("WebGPU tiled GEMM drops the residual", "shaders/wgsl/gemm.wgsl",
           "if (p[5] >= 0) { v += ld(p[5] + m * CO + co); }", "", GPU),
]
SAMPLE = ["scalar conv drops the batch offset", "lowering fuses Sub(const, conv) as conv - const",
          "WebGL FloorMod truncates", "WebGPU conv drops the residual"]


def check_applicable(m: Mutant) -> str | None:
    """None, or why the mutant cannot be applied (its text is gone or ambiguous)."""
    text = (ROOT / m.file).read_text()
    n = text.count(m.old)
    return None if n == 1 else f"{m.file}: the text to mutate occurs {n} times (expected once)"


def _link_tree(src: Path, dst: Path, skip) -> None:
    """dst mirrors src with hard links (no copies of Pyodide or the models), minus skip(rel)."""
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if path.is_dir() or skip(rel) or rel.parts[0] == "_test":
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def build_mutant(m: Mutant, index: int) -> Path:
    """A web root with the mutant's bug built in -> its folder (inside WORK)."""
    sys.path.insert(0, str(ROOT))
    import build
    src = WORK / f"src{index:02d}"
    web = WORK / "web" / f"m{index:02d}"
    for d in (src, web):
        shutil.rmtree(d, ignore_errors=True)
    for part in ("kernels_wasm", "shaders", "py"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    target = src / m.file
    target.write_text(target.read_text().replace(m.old, m.new, 1))
    in_c = m.file.startswith("kernels_wasm/")
    variants = [b for b in m.backends if b in build.WASM_VARIANTS] if in_c else []
    # the page, Pyodide and the models shared by hard links; the wheel (which carries the
    # kernels) is the mutant's own
    _link_tree(DIST, web, lambda rel: len(rel.parts) == 1 and (rel.suffix == ".whl" or rel.name == "webtensor-build.json"))
    if in_c:    # only the variants the mutant targets are recompiled; the others are the copied builds
        build.build_kernels(src / build.NATIVE, src / "kernels_wasm", variants)
    wheel = build.build_wheel(web, root=src)
    (web / "webtensor-build.json").write_text(json.dumps({"wheel": wheel.name, "version": build.webtensor_version()}))
    # the worker as written (not dist's, which carries dist's build and reads its cache): it
    # fetches the mutant's webtensor-build.json above and caches nothing
    (web / "worker.js").unlink(missing_ok=True)
    shutil.copy2(ROOT / "web" / "worker.js", web / "worker.js")
    return web


RUN_SUITE = """
import json, webtensor, webtensor.conformance as c
out = {}
for be in %s:
    rs = await c.run_async(be)
    out[be] = [r['case'] for r in rs if not r['ok']]
    if be == 'webgpu':             # and with regular convs as the tiled GEMM (off on SwiftShader by default)
        gpu = await webtensor.get_backend_async('webgpu')
        gpu.gemm = True
        try:
            out[be] += [r['case'] + ' [tiled]' for r in await c.run_async(be) if not r['ok']]
        finally:
            gpu.gemm = None
json.dumps(out)
"""


def run_mutants(mutants: list[Mutant], log=print, browser=None) -> list[dict]:
    """Build and test each mutant in one headless Chromium (`browser`, or one launched
    here); one result dict per mutant."""
    import contextlib

    from .session import chromium, open_app, served
    results = []
    (WORK / "web").mkdir(parents=True, exist_ok=True)
    own = chromium() if browser is None else contextlib.nullcontext(browser)
    with served(WORK / "web") as base, own as browser:
        for i, m in enumerate(mutants):
            t0 = time.perf_counter()
            entry = {"mutant": m.name, "file": m.file, "backends": list(m.backends)}
            why = check_applicable(m)
            if why:
                entry.update(status="stale", detail=why)
            else:
                index = MUTANTS.index(m)
                try:
                    build_mutant(m, index)
                except BaseException as e:    # SetupError / SystemExit from a failed compile
                    entry.update(status="broken", detail=f"the mutant does not build: {e}")
                    log(f"[mutants] broken   {m.name}")
                    results.append(entry)
                    continue
                try:
                    page, _ = open_app(browser, f"{base}/m{index:02d}")
                    try:
                        failed = json.loads(page.evaluate("(c) => window.webtensorApp.python(c)",
                                                          RUN_SUITE % json.dumps(list(m.backends))))
                    finally:
                        page.close()
                    caught = {be: cases for be, cases in failed.items() if cases}
                    entry.update(status="killed" if caught else "survived",
                                 detail={be: cases[:5] + ([f"... {len(cases) - 5} more"] if len(cases) > 5 else [])
                                         for be, cases in caught.items()})
                except Exception as e:   # the page or the suite itself broke: not a catch, a fault to fix
                    entry.update(status="error", detail=f"the page failed: {str(e)[-1500:]}")
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            log(f"[mutants] {entry['status']:8s} {m.name} ({entry['seconds']} s)")
            results.append(entry)
    return results


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="build.py mutants", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, help="run only the first N of the CI sample (one of each kind)")
    ap.add_argument("--only", help="mutants whose names contain these texts, separated by ';'")
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "mutants.json"))
    args = ap.parse_args(argv)
    chosen = MUTANTS
    if args.only:
        parts = [n.strip() for n in args.only.split(";") if n.strip()]
        unknown = [p for p in parts if not any(p in m.name for m in MUTANTS)]
        if unknown:
            ap.error(f"no mutant's name contains {unknown}")
        chosen = [m for m in MUTANTS if any(p in m.name for p in parts)]
    elif args.sample:
        chosen = [m for m in MUTANTS if m.name in SAMPLE[:args.sample]]
    results = run_mutants(chosen)
    print(f"\n{'status':9s} {'backends':18s} mutant")
    for r in results:
        print(f"{r['status']:9s} {','.join(r['backends']):18s} {r['mutant']}")
        if r["status"] == "killed" and isinstance(r["detail"], dict):
            be, cases = next(iter(r["detail"].items()))
            print(f"{'':28s} caught on {be} by: {cases[0]}")
        elif r["status"] != "killed":
            print(f"{'':28s} {r.get('detail')}")
    killed = sum(r["status"] == "killed" for r in results)
    print(f"\n{killed} of {len(results)} mutants killed")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"killed": killed, "total": len(results), "mutants": results}, indent=1))
    print(f"wrote {args.out}")
    return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
