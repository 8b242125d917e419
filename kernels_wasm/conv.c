// Convolutions, NHWC, fused epilogue: out = act(conv(x, w) + bias [+ residual]).
//
// op_conv is an "indirect GEMM": for each block of MR output pixels it gathers,
// per filter tap, a pointer to each pixel's input row (or to a zero row in the
// padding), then runs an MR x 8 register-blocked multiply-add over the input
// channels.  1x1 convolutions and MatMul are the same kernel with one tap.
// The shape of the microkernel (MR rows x 8 channels, weights packed in panels
// of 8 output channels) follows the idea of XNNPACK's wasmsimd GEMM/IGEMM
// microkernels; the code is our own.
#include "common.h"

#define MR 4
#define CONV_PATCH 160    // floats in one pixel's input patch on op_conv's patch path (5x5x6)

// The OP_CONV arguments as named locals (one definition for the scalar and SIMD paths).
#define CONV_ARGS(a)                                                                                   \
  const float* x = PTR(const float, a[0]);                                                             \
  const float* w = PTR(const float, a[1]);                                                             \
  const float* bias = PTR(const float, a[2]);                                                          \
  float* out = PTR(float, a[3]);                                                                       \
  const float* residual = PTR(const float, a[4]);                                                      \
  const float* alpha = PTR(const float, a[5]);                                                         \
  const float* zero = PTR(const float, a[6]);                                                          \
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12], CO = a[13];                \
  const int KH = a[14], KW = a[15], SH = a[16], SW = a[17], DH = a[18], DW = a[19], PT = a[20], PL = a[21]; \
  const int act = a[22];                                                                               \
  const float param = bits_to_f32(a[23]);


#define POOL_CO_MAX 512   // op_convpool: output channels of a window's four conv pixels held at once

#ifdef __wasm_simd128__
// The lane-wise max of four vectors, NaN in any of them giving NaN.  NaN is found pairwise:
// pmax(a, b) and pmax(b, a) differ exactly when a or b is NaN (pmax keeps its first operand
// when unordered; +0/-0 compare equal): one more pmax and a compare per pair instead of two
// compares and an or.
INLINE v128_t max4(v128_t a, v128_t b, v128_t d, v128_t e) {
  const v128_t ab = wasm_f32x4_pmax(a, b), de = wasm_f32x4_pmax(d, e);
  const v128_t nan = wasm_v128_or(wasm_f32x4_ne(ab, wasm_f32x4_pmax(b, a)), wasm_f32x4_ne(de, wasm_f32x4_pmax(e, d)));
  return wasm_v128_or(wasm_f32x4_pmax(ab, de), nan);
}
#endif

// A 2x2 max pool's pixel from its window's four conv pixels, each CO channels, back to
// back at `win` (NaN in any of them gives NaN).
static void max_of_window(float* o, const float* win, int CO) {
  int c = 0;
#ifdef __wasm_simd128__
  for (; c + 4 <= CO; c += 4)
    wasm_v128_store(o + c, max4(wasm_v128_load(win + c), wasm_v128_load(win + CO + c), wasm_v128_load(win + 2 * CO + c),
                                wasm_v128_load(win + 3 * CO + c)));
#endif
  for (; c < CO; c++) o[c] = max_f(max_f(win[c], win[CO + c]), max_f(win[2 * CO + c], win[3 * CO + c]));
}

#ifndef __wasm_simd128__
// One output pixel x one 8-channel panel over `ntaps` input rows of depth K: 8
// accumulators and 8 weights fit V8's 16 float registers (4x4 and 2x4 tiles spill or
// reload more; measured in Chromium: 1x8 is fastest for scalar wasm).
INLINE void panel_1x8(float acc[8], const float* const* rows, int ntaps, const float* w, int K, int wstride) {
  float c0 = acc[0], c1 = acc[1], c2 = acc[2], c3 = acc[3], c4 = acc[4], c5 = acc[5], c6 = acc[6], c7 = acc[7];
  for (int t = 0; t < ntaps; t++) {
    const float* a = rows[t];
    const float* wp = w + (size_t)t * wstride;
    for (int k = 0; k < K; k++, wp += 8) {
      const float v = a[k];
      c0 += v * wp[0]; c1 += v * wp[1]; c2 += v * wp[2]; c3 += v * wp[3];
      c4 += v * wp[4]; c5 += v * wp[5]; c6 += v * wp[6]; c7 += v * wp[7];
    }
  }
  acc[0] = c0; acc[1] = c1; acc[2] = c2; acc[3] = c3; acc[4] = c4; acc[5] = c5; acc[6] = c6; acc[7] = c7;
}

#define SCALAR_MAX_TAPS 64

// The scalar build's op_conv: per output pixel, gather one input row per filter tap
// (a whole filter row at once when it is in bounds, as in the SIMD path), then run
// the 1x8 microkernel over each 8-channel weight panel.
// pool (op_convpool): p counts pooled pixels; each is the max of its window's four conv
// pixels, computed into `window` first.
static void conv_scalar(const int32_t* a, int tid, int nthreads, int pool) {
  CONV_ARGS(a)
  const int M = N * OH * OW, CO8 = (CO + 7) / 8, taps = KH * KW, POH = OH / 2, POW = OW / 2;
  float window[4 * POOL_CO_MAX];
  int p0, p1;
  FOR_WORK(pool ? N * POH * POW : M, p0, p1) {
    const float* rows[SCALAR_MAX_TAPS];
    int wrow[SCALAR_MAX_TAPS];    // weight offset (in K units of 8 floats) of each gathered row
    for (int p = p0; p < p1; p++)
    for (int r = 0; r < (pool ? 4 : 1); r++) {
      int n, oh, ow;
      if (pool) {
        n = p / (POH * POW);
        const int rem = p % (POH * POW);
        oh = 2 * (rem / POW) + (r >> 1);
        ow = 2 * (rem % POW) + (r & 1);
      } else {
        n = p / (OH * OW);
        const int rem = p % (OH * OW);
        oh = rem / OW;
        ow = rem % OW;
      }
      const int ih0 = oh * SH - PT, iw0 = ow * SW - PL;
      const float* xn = x + (size_t)n * H * W * C;
      const int whole = DW == 1 && iw0 >= 0 && iw0 + KW <= W;
      int nrows = 0;
      for (int kh = 0; kh < KH; kh++) {
        const int ih = ih0 + kh * DH;
        for (int kw = 0; kw < (whole ? 1 : KW); kw++) {
          const int iw = iw0 + kw * DW;
          rows[nrows] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xn + ((size_t)ih * W + iw) * C : zero;
          wrow[nrows++] = (kh * KW + kw) * C;
        }
      }
      const int K = whole ? KW * C : C;
      float* o = pool ? window + (size_t)r * CO : out + (size_t)p * CO;
      const float* res = residual && !pool ? residual + (size_t)p * CO : 0;
      for (int cb = 0; cb < CO8; cb++) {
        float acc[8];
        for (int j = 0; j < 8; j++) acc[j] = bias[cb * 8 + j];
        const float* wb = w + (size_t)cb * taps * C * 8;
        if (nrows == 1 || whole) {  // rows are evenly spaced in the weights: one call
          panel_1x8(acc, rows, nrows, wb + (size_t)wrow[0] * 8, K, (nrows > 1 ? wrow[1] - wrow[0] : 0) * 8);
        } else {
          for (int t = 0; t < nrows; t++) panel_1x8(acc, rows + t, 1, wb + (size_t)wrow[t] * 8, K, 0);
        }
        const int ncols = MIN(8, CO - cb * 8);
        store_activated(o + cb * 8, acc, res ? res + cb * 8 : 0, ncols, act, param, alpha ? alpha + cb * 8 : 0);
      }
      if (pool && r == 3) max_of_window(out + (size_t)p * CO, window, CO);
    }
  }
}
#endif

// args: x w bias out residual alpha zero  N H W C  OH OW CO  KH KW SH SW DH DW PT PL  act param
// zero: a row of >= KW*C zero floats for taps in the padding.
#ifdef __wasm_simd128__
// The MR x 8 register block of the GEMM microkernel: accumulators from the panel's bias,
// then K multiply-adds of each row's input against the panel's packed weights.
INLINE void gemm_block_init(v128_t acc[MR][2], const float* bias8) {
  for (int r = 0; r < MR; r++) {
    acc[r][0] = wasm_v128_load(bias8);
    acc[r][1] = wasm_v128_load(bias8 + 4);
  }
}

INLINE void gemm_block_madd(v128_t acc[MR][2], const float* const* rows, const float* wt, int K) {
  for (int c = 0; c < K; c++) {
    const v128_t w0 = wasm_v128_load(wt + c * 8), w1 = wasm_v128_load(wt + c * 8 + 4);
    for (int r = 0; r < MR; r++) {
      const v128_t v = wasm_v128_load32_splat(rows[r] + c);
      acc[r][0] = wasm_f32x4_add(acc[r][0], wasm_f32x4_mul(v, w0));
      acc[r][1] = wasm_f32x4_add(acc[r][1], wasm_f32x4_mul(v, w1));
    }
  }
}

// One pixel's 8-channel panel (ncols < 8 at the channel tail) out of a GEMM block:
// residual, activation, store.
INLINE void store_panel(float* o, const float* res, const float* alpha, int co0, int ncols, v128_t v0, v128_t v1,
                        int act, float param) {
  if (ncols == 8) {
    if (res) {
      v0 = wasm_f32x4_add(v0, wasm_v128_load(res));
      v1 = wasm_f32x4_add(v1, wasm_v128_load(res + 4));
    }
    const v128_t a0 = alpha ? wasm_v128_load(alpha + co0) : wasm_f32x4_splat(0);
    const v128_t a1 = alpha ? wasm_v128_load(alpha + co0 + 4) : wasm_f32x4_splat(0);
    wasm_v128_store(o, activate4(v0, act, param, a0));
    wasm_v128_store(o + 4, activate4(v1, act, param, a1));
    return;
  }
  float t[8];
  wasm_v128_store(t, v0);
  wasm_v128_store(t + 4, v1);
  for (int j = 0; j < ncols; j++) o[j] = activate(t[j] + (res ? res[j] : 0.0f), act, param, alpha ? alpha[co0 + j] : 0.0f);
}
#endif

static void pointwise_pixels(const float* in, int np, int C, const float* w, const float* bias, int CO, float* out,
                             const float* res, const float* alpha, int act, float param);

#ifdef __wasm_simd128__
// A 2x2 max pool's 8-channel panel from the MR (= 4) rows of a GEMM block, each after the
// conv's epilogue (NaN in any row gives NaN).
INLINE void store_pooled_panel(float* o, const float* alpha, int co0, int ncols, v128_t acc[MR][2], int act,
                               float param) {
  v128_t v[2][MR];
  for (int h = 0; h < 2; h++) {
    const v128_t al = alpha ? wasm_v128_load(alpha + co0 + 4 * h) : wasm_f32x4_splat(0);
    for (int r = 0; r < MR; r++) v[h][r] = activate4(acc[r][h], act, param, al);
  }
  const v128_t m0 = max4(v[0][0], v[0][1], v[0][2], v[0][3]), m1 = max4(v[1][0], v[1][1], v[1][2], v[1][3]);
  if (ncols == 8) {
    wasm_v128_store(o, m0);
    wasm_v128_store(o + 4, m1);
    return;
  }
  float t[8];
  wasm_v128_store(t, m0);
  wasm_v128_store(t + 4, m1);
  for (int j = 0; j < ncols; j++) o[j] = t[j];
}
#endif

// pool (op_convpool): a block is one 2x2 window, its MR = 4 rows the window's conv pixels,
// and its store the max of the four after the epilogue (no residual); blk counts pooled pixels.
static void conv_run(const int32_t* a, int tid, int nthreads, int pool) {
#ifndef __wasm_simd128__
  conv_scalar(a, tid, nthreads, pool);
#else
  _Static_assert(MR == 4, "op_convpool's blocks are 2x2 windows");
  CONV_ARGS(a)
  const int M = N * OH * OW, CO8 = (CO + 7) / 8, taps = KH * KW, POH = OH / 2, POW = OW / 2;
  // the patch path: input channels too few for the rows' contiguous runs to pay
  const int patch_k = C < 8 && taps > 1 && taps * C <= CONV_PATCH ? taps * C : 0;
  float patch[MR * CONV_PATCH];
  float window[MR * POOL_CO_MAX];        // pool + patch path: the window's conv pixels
  int b0, b1;
  FOR_WORK(pool ? N * POH * POW : (M + MR - 1) / MR, b0, b1) {
    const float* rows[MR];
    int ih0[MR], iw0[MR], nbase[MR];
    for (int blk = b0; blk < b1; blk++) {
      const int p0 = pool ? blk : blk * MR, nrows = pool ? MR : MIN(MR, M - p0);
      if (pool) {
        const int n = blk / (POH * POW), rem = blk % (POH * POW), oh = 2 * (rem / POW), ow = 2 * (rem % POW);
        for (int r = 0; r < MR; r++) {
          ih0[r] = (oh + (r >> 1)) * SH - PT;
          iw0[r] = (ow + (r & 1)) * SW - PL;
          nbase[r] = n * H * W * C;
        }
      } else {
        // Each pixel's place: divisions for the block's first, then steps (four divisions
        // per pixel cost ~2 % of BlazeFace on wasm-simd).
        int n = p0 / (OH * OW), rem = p0 % (OH * OW), oh = rem / OW, ow = rem % OW;
        for (int r = 0; r < MR; r++) {
          ih0[r] = oh * SH - PT;
          iw0[r] = ow * SW - PL;
          nbase[r] = n * H * W * C;
          if (r + 1 < nrows && ++ow == OW) {     // rows past the end repeat the last pixel
            ow = 0;
            if (++oh == OH) { oh = 0; n++; }
          }
        }
      }
      if (patch_k) {
        // Few input channels (an RGB stem): the block's MR input patches, gathered once
        // (zeros in the padding) in the weights' (kh, kw, c) order, then every output
        // panel is one multiply-add run of depth KH*KW*C over them (a 3x3 stem was 3 runs of
        // depth 9 per panel, each after regathering its rows' pointers): the 1x1 microkernel
        // of the separable conv over the patches, which are contiguous rows of depth KH*KW*C
        for (int r = 0; r < nrows; r++) {
          float* pr = patch + r * patch_k;
          if (DW == 1 && iw0[r] >= 0 && iw0[r] + KW <= W && ih0[r] >= 0 && ih0[r] + (KH - 1) * DH < H) {
            // inside the input (most pixels): each filter row is KW*C contiguous floats
            const int run = KW * C;
            for (int kh = 0; kh < KH; kh++, pr += run) {
              const float* src = x + nbase[r] + ((size_t)(ih0[r] + kh * DH) * W + iw0[r]) * C;
              int c = 0;
              for (; c + 4 <= run; c += 4) wasm_v128_store(pr + c, wasm_v128_load(src + c));
              for (; c < run; c++) pr[c] = src[c];
            }
            continue;
          }
          for (int kh = 0; kh < KH; kh++) {
            const int ih = ih0[r] + kh * DH;
            for (int kw = 0; kw < KW; kw++, pr += C) {
              const int iw = iw0[r] + kw * DW;
              const float* src = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x + nbase[r] + ((size_t)ih * W + iw) * C : zero;
              for (int c = 0; c < C; c++) pr[c] = src[c];
            }
          }
        }
        if (pool) {
          pointwise_pixels(patch, MR, patch_k, w, bias, CO, window, 0, alpha, act, param);
          max_of_window(out + (size_t)p0 * CO, window, CO);
        } else {
          pointwise_pixels(patch, nrows, patch_k, w, bias, CO, out + (size_t)p0 * CO,
                           residual ? residual + (size_t)p0 * CO : 0, alpha, act, param);
        }
        continue;
      }
      for (int cb = 0; cb < CO8; cb++) {
        const float* wb = w + (size_t)cb * taps * C * 8;
        v128_t acc[MR][2];
        gemm_block_init(acc, bias + cb * 8);
        for (int kh = 0; kh < KH; kh++) {
          // With unit dilation the KW taps of one filter row read KW adjacent input pixels,
          // i.e. KW*C contiguous floats: when every pixel of the block has the whole row in
          // bounds, run them as a single tap of depth KW*C (the 5x5 stem on 3 channels
          // becomes 5 taps of depth 15 instead of 25 of depth 3).
          int whole_row = DW == 1 && KW > 1;
          for (int r = 0; r < MR && whole_row; r++) whole_row = iw0[r] >= 0 && iw0[r] + KW <= W;
          const int row_taps = whole_row ? 1 : KW, K = whole_row ? KW * C : C;
          for (int kw = 0; kw < row_taps; kw++) {
            for (int r = 0; r < MR; r++) {
              int ih = ih0[r] + kh * DH, iw = iw0[r] + kw * DW;
              rows[r] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x + nbase[r] + ((size_t)ih * W + iw) * C : zero;
            }
            gemm_block_madd(acc, rows, wb + (size_t)(kh * KW + kw) * C * 8, K);
          }
        }
        // epilogue: residual, activation, store (partial panel at the channel tail)
        const int co0 = cb * 8;
        if (pool) {
          store_pooled_panel(out + (size_t)p0 * CO + co0, alpha, co0, MIN(8, CO - co0), acc, act, param);
          continue;
        }
        for (int r = 0; r < nrows; r++)
          store_panel(out + (size_t)(p0 + r) * CO + co0, residual ? residual + (size_t)(p0 + r) * CO + co0 : 0,
                      alpha, co0, MIN(8, CO - co0), acc[r][0], acc[r][1], act, param);
      }
    }
  }
#endif
}

void op_conv(const int32_t* a, int tid, int nthreads) { conv_run(a, tid, nthreads, 0); }

// args: as op_conv's, `out` the 2x2 stride-2 max pool of the conv's map ([N][OH/2][OW/2][CO],
// a VALID pool: an odd last row or column of the map is dropped); residual unused
void op_convpool(const int32_t* a, int tid, int nthreads) { conv_run(a, tid, nthreads, 1); }

// ---- Winograd F(2x2, 3x3): op_winograd, op_winopool ----
// A 3x3 stride-1 conv computes each 2x2 block of outputs (a "tile") from its 4x4 input
// patch d in the Winograd domain: V = Bt d B per input channel, M = the sum over channels
// of V * U (16 GEMMs of depth C, one per point xi of the 4x4 domain), Y = At M A.  That is
// 16 multiply-adds per (input, output) channel pair for 4 outputs instead of 36 (Lavin &
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2015: the F(2x2, 3x3)
// transforms are theirs, the code is ours; XNNPACK, TF.js's wasm engine, convolves
// directly).  The transformed filter U = G g Gt is 16/9 the size of the filter; rather
// than upload it (emotion's peak memory would pass TF.js's), each thread computes it, for
// a group of 8-channel panels, into its stack when it starts on that group (~1 % of the
// conv's work).  A 2x2 max pool after the conv (op_winopool) takes each tile's four
// pixels: a tile is exactly one VALID pool window.
// A non-finite value in a patch spreads through the transforms to all four outputs of its
// tile (Inf - Inf = NaN) where a direct conv confines it to the windows that hold it: a
// tile whose outputs are not all finite is recomputed directly (op_conv's sum), so NaN and
// Inf land where the reference puts them, and overflow there is the direct conv's.
// args: as op_conv's, with KH = KW = 3, SH = SW = DH = DW = 1 and C <= WINO_MAX_C (the
// encoder's choice, encode.winograd_ok); op_winopool's `out` as op_convpool's.
#define WINO_U_FLOATS 32768              // transformed filter held per thread: 128 KiB of stack
#define WINO_MAX_C (WINO_U_FLOATS / 128) // at least one 8-channel panel of U fits
// Tiles per block: SIMD, the microkernel's MR rows; scalar, 1 x 8 microkernel calls that
// reuse each row of U from L1 for the block's tiles (one tile at a time streamed all of U
// from L2 per tile: emotion's 3x3 conv took 2.1 ms, not 1.6)
#define WT MR

// U for panels [cb0, cb0 + np) at u, [panel][xi][c][8], from op_conv's packed filter
// ([CO8][3][3][C][8]): G g Gt with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
static void wino_filter(float* u, const float* w, int C, int cb0, int np) {
  const size_t xs = (size_t)C * 8;       // U's stride from one point xi to the next
  for (int p = 0; p < np; p++) {
    const float* g = w + (size_t)(cb0 + p) * 9 * xs;
    float* up = u + (size_t)p * 16 * xs;
    for (int c = 0; c < C; c++)
      for (int j = 0; j < 8; j++) {
        float t[4][3];
        for (int kw = 0; kw < 3; kw++) {
          const float g0 = g[(0 * 3 + kw) * xs + c * 8 + j], g1 = g[(1 * 3 + kw) * xs + c * 8 + j],
                      g2 = g[(2 * 3 + kw) * xs + c * 8 + j];
          t[0][kw] = g0;
          t[1][kw] = 0.5f * (g0 + g1 + g2);
          t[2][kw] = 0.5f * (g0 - g1 + g2);
          t[3][kw] = g2;
        }
        for (int r = 0; r < 4; r++) {
          float* o = up + (size_t)r * 4 * xs + c * 8 + j;
          o[0] = t[r][0];
          o[xs] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
          o[2 * xs] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
          o[3 * xs] = t[r][2];
        }
      }
  }
}

// The input transform of one tile into slot t of v ([xi][WT][C]): V = Bt d B with
// Bt = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; d[k] is the patch's pixel (k / 4, k % 4),
// a row of C floats (the zero row outside the input).
// The transform is written once (WINO_INPUT_STEP) over a value type and its four ops: 4
// channels a step on SIMD, then one at a time for the channel tail (all of them on scalar).
#define SLOAD(p) (*(p))
#define SSTORE(p, v) (*(p) = (v))
#define SADD(a, b) ((a) + (b))
#define SSUB(a, b) ((a) - (b))
#ifdef __wasm_simd128__
#define WV v128_t
#define WLOAD(p) wasm_v128_load(p)
#define WSTORE(p, v) wasm_v128_store((p), (v))
#define WADD wasm_f32x4_add
#define WSUB wasm_f32x4_sub
#define WSTEP 4
#else
#define WV float
#define WLOAD SLOAD
#define WSTORE SSTORE
#define WADD SADD
#define WSUB SSUB
#define WSTEP 1
#endif
#define WINO_INPUT_STEP(T, LOAD, STORE, ADD, SUB)                                                     \
  {                                                                                                   \
    T e[4][4];                                                                                        \
    for (int s = 0; s < 4; s++) {                                                                     \
      const T d0 = LOAD(d[s] + c), d1 = LOAD(d[4 + s] + c), d2 = LOAD(d[8 + s] + c), d3 = LOAD(d[12 + s] + c); \
      e[0][s] = SUB(d0, d2);                                                                          \
      e[1][s] = ADD(d1, d2);                                                                          \
      e[2][s] = SUB(d2, d1);                                                                          \
      e[3][s] = SUB(d1, d3);                                                                          \
    }                                                                                                 \
    for (int r = 0; r < 4; r++) {                                                                     \
      float* o = v + ((size_t)(r * 4) * WT + t) * C + c;                                              \
      STORE(o, SUB(e[r][0], e[r][2]));                                                                \
      STORE(o + (size_t)WT * C, ADD(e[r][1], e[r][2]));                                               \
      STORE(o + (size_t)2 * WT * C, SUB(e[r][2], e[r][1]));                                           \
      STORE(o + (size_t)3 * WT * C, SUB(e[r][1], e[r][3]));                                           \
    }                                                                                                 \
  }

static void wino_input(float* v, const float* const* d, int t, int C) {
  int c = 0;
  for (; c + WSTEP <= C; c += WSTEP) WINO_INPUT_STEP(WV, WLOAD, WSTORE, WADD, WSUB)
  for (; c < C; c++) WINO_INPUT_STEP(float, SLOAD, SSTORE, SADD, SSUB)
}

// One output pixel's panel computed directly, as op_conv sums it (taps in order, channels
// in order): the fallback for tiles with a non-finite output.
static void wino_direct(float y[8], const float* xn, const float* wp, const float* bias8, int oh, int ow, int H, int W,
                        int C, int PT, int PL) {
  for (int j = 0; j < 8; j++) y[j] = bias8[j];
  for (int kh = 0; kh < 3; kh++)
    for (int kw = 0; kw < 3; kw++) {
      const int ih = oh - PT + kh, iw = ow - PL + kw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      const float* row = xn + ((size_t)ih * W + iw) * C;
      const float* wt = wp + (size_t)(kh * 3 + kw) * C * 8;
      for (int c = 0; c < C; c++)
        for (int j = 0; j < 8; j++) y[j] += row[c] * wt[c * 8 + j];
    }
}

// M for one 8-channel panel: per point xi, the block's WT tiles' V rows (depth C) times
// U's panel, op_conv's microkernel with zero accumulators (the bias joins after At M A).
static void wino_gemm(float m[16][WT][8], const float* v, const float* up, int C) {
  const size_t xs = (size_t)C * 8;
  for (int xi = 0; xi < 16; xi++) {
#ifdef __wasm_simd128__
    const float* rows[MR];
    v128_t acc[MR][2];
    for (int t = 0; t < MR; t++) {
      rows[t] = v + ((size_t)xi * WT + t) * C;
      acc[t][0] = acc[t][1] = wasm_f32x4_splat(0.0f);
    }
    gemm_block_madd(acc, rows, up + xi * xs, C);
    for (int t = 0; t < MR; t++) {
      wasm_v128_store(m[xi][t], acc[t][0]);
      wasm_v128_store(m[xi][t] + 4, acc[t][1]);
    }
#else
    for (int t = 0; t < WT; t++) {
      const float* row = v + ((size_t)xi * WT + t) * C;
      for (int j = 0; j < 8; j++) m[xi][t][j] = 0.0f;
      panel_1x8(m[xi][t], &row, 1, up + xi * xs, C, 0);
    }
#endif
  }
}

// Y = At M A (At = [1 1 1 0; 0 1 -1 -1]) plus the bias, for tile t of the block and one
// 8-channel panel: y[q] is pixel (q / 2, q % 2).  -> whether all 32 values are finite.
static int wino_output(float y[4][8], float m[16][WT][8], int t, const float* bias8) {
#ifdef __wasm_simd128__
  v128_t bad = wasm_f32x4_splat(0.0f);
  for (int j = 0; j < 8; j += 4) {
    v128_t p0[4], p1[4];
    for (int s = 0; s < 4; s++) {
      const v128_t a = wasm_v128_load(m[s][t] + j), b = wasm_v128_load(m[4 + s][t] + j),
                   c = wasm_v128_load(m[8 + s][t] + j), d = wasm_v128_load(m[12 + s][t] + j);
      p0[s] = wasm_f32x4_add(wasm_f32x4_add(a, b), c);
      p1[s] = wasm_f32x4_sub(wasm_f32x4_sub(b, c), d);
    }
    const v128_t bv = wasm_v128_load(bias8 + j);
    const v128_t yv[4] = {
        wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(p0[0], p0[1]), p0[2]), bv),
        wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(p0[1], p0[2]), p0[3]), bv),
        wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(p1[0], p1[1]), p1[2]), bv),
        wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(p1[1], p1[2]), p1[3]), bv)};
    for (int q = 0; q < 4; q++) {
      wasm_v128_store(y[q] + j, yv[q]);
      bad = wasm_v128_or(bad, wasm_f32x4_ne(wasm_f32x4_sub(yv[q], yv[q]), wasm_f32x4_splat(0.0f)));  // Inf, NaN
    }
  }
  return !wasm_v128_any_true(bad);
#else
  int finite = 1;
  for (int j = 0; j < 8; j++) {
    float p0[4], p1[4];
    for (int s = 0; s < 4; s++) {
      p0[s] = m[s][t][j] + m[4 + s][t][j] + m[8 + s][t][j];
      p1[s] = m[4 + s][t][j] - m[8 + s][t][j] - m[12 + s][t][j];
    }
    y[0][j] = p0[0] + p0[1] + p0[2] + bias8[j];
    y[1][j] = p0[1] - p0[2] - p0[3] + bias8[j];
    y[2][j] = p1[0] + p1[1] + p1[2] + bias8[j];
    y[3][j] = p1[1] - p1[2] - p1[3] + bias8[j];
    for (int q = 0; q < 4; q++) finite &= (y[q][j] - y[q][j]) == 0.0f;   // false for Inf and NaN
  }
  return finite;
#endif
}

static void wino_run(const int32_t* a, int tid, int nthreads, int pool) {
  CONV_ARGS(a)
  (void)KH; (void)KW; (void)SH; (void)SW; (void)DH; (void)DW;
  const int CO8 = (CO + 7) / 8, TH = pool ? OH / 2 : (OH + 1) / 2, TW = pool ? OW / 2 : (OW + 1) / 2;
  const int tiles = N * TH * TW, blocks = (tiles + WT - 1) / WT;
  const int gp = MIN(CO8, WINO_U_FLOATS / (128 * C)), groups = (CO8 + gp - 1) / gp;
  const size_t xs = (size_t)C * 8;
  float u[WINO_U_FLOATS];
  float v[16 * WT * WINO_MAX_C];
  float m[16][WT][8];
  int have = -1;                         // the group whose U is in u
  int u0, u1;
  FOR_WORK(groups * blocks, u0, u1) {
    for (int unit = u0; unit < u1; unit++) {
      const int grp = unit / blocks, t0 = (unit % blocks) * WT, nt = MIN(WT, tiles - t0);
      const int cb0 = grp * gp, np = MIN(gp, CO8 - cb0);
      if (grp != have) {
        wino_filter(u, w, C, cb0, np);
        have = grp;
      }
      int tn[WT], toh[WT], tow[WT];
      for (int t = 0; t < WT; t++) {     // slots past the last tile repeat it (computed, not stored)
        const int tile = t0 + MIN(t, nt - 1), rem = tile % (TH * TW);
        tn[t] = tile / (TH * TW);
        toh[t] = 2 * (rem / TW);
        tow[t] = 2 * (rem % TW);
        const float* d[16];
        const float* xn = x + (size_t)tn[t] * H * W * C;
        for (int k = 0; k < 16; k++) {
          const int ih = toh[t] - PT + k / 4, iw = tow[t] - PL + k % 4;
          d[k] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xn + ((size_t)ih * W + iw) * C : zero;
        }
        wino_input(v, d, t, C);
      }
      for (int p = 0; p < np; p++) {
        const int cb = cb0 + p, co0 = cb * 8, ncols = MIN(8, CO - co0);
        const float* up = u + (size_t)p * 16 * xs;
        wino_gemm(m, v, up, C);
        for (int t = 0; t < nt; t++) {
          float y[4][8];
          const int finite = wino_output(y, m, t, bias + co0);
          const int n = tn[t], oh0 = toh[t], ow0 = tow[t];
          const float* xn = x + (size_t)n * H * W * C;
          if (!finite)
            for (int q = 0; q < 4; q++)
              if (oh0 + q / 2 < OH && ow0 + q % 2 < OW)
                wino_direct(y[q], xn, w + (size_t)cb * 9 * xs, bias + co0, oh0 + q / 2, ow0 + q % 2, H, W, C, PT, PL);
          if (pool) {
            float* o = out + (((size_t)n * (OH / 2) + oh0 / 2) * (OW / 2) + ow0 / 2) * CO + co0;
#ifdef __wasm_simd128__
            v128_t acc[MR][2];
            for (int q = 0; q < 4; q++) {
              acc[q][0] = wasm_v128_load(y[q]);
              acc[q][1] = wasm_v128_load(y[q] + 4);
            }
            store_pooled_panel(o, alpha, co0, ncols, acc, act, param);
#else
            float act4[4][8];
            for (int q = 0; q < 4; q++) store_activated(act4[q], y[q], 0, ncols, act, param, alpha ? alpha + co0 : 0);
            for (int j = 0; j < ncols; j++) o[j] = max_f(max_f(act4[0][j], act4[1][j]), max_f(act4[2][j], act4[3][j]));
#endif
            continue;
          }
          for (int q = 0; q < 4; q++) {
            const int oh = oh0 + q / 2, ow = ow0 + q % 2;
            if (oh >= OH || ow >= OW) continue;
            const size_t o = (((size_t)n * OH + oh) * OW + ow) * CO + co0;
#ifdef __wasm_simd128__
            store_panel(out + o, residual ? residual + o : 0, alpha, co0, ncols, wasm_v128_load(y[q]),
                        wasm_v128_load(y[q] + 4), act, param);
#else
            store_activated(out + o, y[q], residual ? residual + o : 0, ncols, act, param, alpha ? alpha + co0 : 0);
#endif
          }
        }
      }
    }
  }
}

void op_winograd(const int32_t* a, int tid, int nthreads) { wino_run(a, tid, nthreads, 0); }
void op_winopool(const int32_t* a, int tid, int nthreads) { wino_run(a, tid, nthreads, 1); }

// Depthwise epilogue for 4 channels at c: residual, activation, store.
#ifdef __wasm_simd128__
INLINE void dw_store4(float* o, const float* res, const float* alpha, int c, v128_t acc, int act, float param) {
  if (res) acc = wasm_f32x4_add(acc, wasm_v128_load(res + c));
  wasm_v128_store(o + c, activate4(acc, act, param, alpha ? wasm_v128_load(alpha + c) : wasm_f32x4_splat(0)));
}
#endif

// Indirection for one output pixel: a pointer per filter tap to its input pixel, or to
// the zero row where the tap falls in the padding.
INLINE void dw_pointers(const float** ptr, const float* xn, const float* zero, int ih0, int iw0,
                        int H, int W, int C, int KH, int KW, int DH, int DW) {
  for (int kh = 0; kh < KH; kh++) {
    const int ih = ih0 + kh * DH;
    for (int kw = 0; kw < KW; kw++) {
      const int iw = iw0 + kw * DW;
      ptr[kh * KW + kw] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xn + ((size_t)ih * W + iw) * C : zero;
    }
  }
}

// Two pixels' tap pointers (iwb >= iwa): where every tap of both lies inside the input
// (most pixels) by steps from each filter row's first tap, without a bounds check per tap
// (op_sepconv's per-tap checks: its time 0.79-0.90 of before without them, BlazeFace,
// alternating A/B); else by dw_pointers.
INLINE void dw_pointer_pair(const float** p0, const float** p1, const float* xn, const float* zero, int ih0,
                            int iwa, int iwb, int H, int W, int C, int KH, int KW, int DH, int DW) {
  if (ih0 >= 0 && ih0 + (KH - 1) * DH < H && iwa >= 0 && iwb + (KW - 1) * DW < W) {
    const size_t step = (size_t)DW * C, apart = (size_t)(iwb - iwa) * C;
    for (int kh = 0; kh < KH; kh++) {
      const float* r = xn + ((size_t)(ih0 + kh * DH) * W + iwa) * C;
      for (int kw = 0; kw < KW; kw++) {
        p0[kh * KW + kw] = r + kw * step;
        p1[kh * KW + kw] = r + kw * step + apart;
      }
    }
  } else {
    dw_pointers(p0, xn, zero, ih0, iwa, H, W, C, KH, KW, DH, DW);
    dw_pointers(p1, xn, zero, ih0, iwb, H, W, C, KH, KW, DH, DW);
  }
}

#define DW_MAX_TAPS 64

// Two output pixels of a depthwise conv with channel multiplier 1, every channel: p0 and
// p1 hold each tap's input row for the two pixels, so every weight load serves both, and
// 8 channels x 2 pixels are four independent add chains (one chain per output would wait
// on the adder's latency: CenterNet's 5x5 layers ran at a third of the 3x3 ones' rate).
// The 3x3 call site passes taps = 9, a constant once inlined: that loop is unrolled.
// o1 is NULL when the row ends on an odd pixel (p1 = p0 then): the pixel is stored once,
// since a second store would read back a residual that shares the output's slot (in place).
INLINE void dw_two_pixels(const float* const* p0, const float* const* p1, const int taps, const float* w,
                          const float* bias, const float* alpha, int C, float* o0, float* o1, const float* res0,
                          const float* res1, int act, float param) {
  int c = 0;
#ifdef __wasm_simd128__
  for (; c + 8 <= C; c += 8) {
    v128_t a0 = wasm_v128_load(bias + c), a1 = wasm_v128_load(bias + c + 4), b0 = a0, b1 = a1;
    for (int t = 0; t < taps; t++) {
      const v128_t w0 = wasm_v128_load(w + (size_t)t * C + c), w1 = wasm_v128_load(w + (size_t)t * C + c + 4);
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p0[t] + c), w0));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(p0[t] + c + 4), w1));
      b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(wasm_v128_load(p1[t] + c), w0));
      b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(wasm_v128_load(p1[t] + c + 4), w1));
    }
    if (o1) {
      dw_store4(o1, res1, alpha, c, b0, act, param);
      dw_store4(o1, res1, alpha, c + 4, b1, act, param);
    }
    dw_store4(o0, res0, alpha, c, a0, act, param);
    dw_store4(o0, res0, alpha, c + 4, a1, act, param);
  }
  for (; c + 4 <= C; c += 4) {
    v128_t a0 = wasm_v128_load(bias + c), b0 = a0;
    for (int t = 0; t < taps; t++) {
      const v128_t w0 = wasm_v128_load(w + (size_t)t * C + c);
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(p0[t] + c), w0));
      b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(wasm_v128_load(p1[t] + c), w0));
    }
    if (o1) dw_store4(o1, res1, alpha, c, b0, act, param);
    dw_store4(o0, res0, alpha, c, a0, act, param);
  }
#endif
  // scalar (the scalar build; the SIMD build's channel tail): sums and residual stored
  // first (each residual element read before its output element is written: they may
  // share a slot), then the activation over the row (activate_row)
  const int c_scalar = c;
#ifndef __wasm_simd128__
  // four channels x two pixels, eight chains (BlazeFace's depthwise layers: 0.87 of the
  // time of two channels x two pixels)
  for (; c + 4 <= C; c += 4) {
    float s0 = bias[c], s1 = bias[c + 1], s2 = bias[c + 2], s3 = bias[c + 3];
    float u0 = s0, u1 = s1, u2 = s2, u3 = s3;
    for (int t = 0; t < taps; t++) {
      const float* wt = w + (size_t)t * C + c;
      const float* x0 = p0[t] + c;
      const float* x1 = p1[t] + c;
      const float w0 = wt[0], w1 = wt[1], w2 = wt[2], w3 = wt[3];
      s0 += x0[0] * w0; s1 += x0[1] * w1; s2 += x0[2] * w2; s3 += x0[3] * w3;
      u0 += x1[0] * w0; u1 += x1[1] * w1; u2 += x1[2] * w2; u3 += x1[3] * w3;
    }
    if (res0) {
      s0 += res0[c]; s1 += res0[c + 1]; s2 += res0[c + 2]; s3 += res0[c + 3];
      if (o1) { u0 += res1[c]; u1 += res1[c + 1]; u2 += res1[c + 2]; u3 += res1[c + 3]; }
    }
    if (o1) { o1[c] = u0; o1[c + 1] = u1; o1[c + 2] = u2; o1[c + 3] = u3; }
    o0[c] = s0; o0[c + 1] = s1; o0[c + 2] = s2; o0[c + 3] = s3;
  }
#endif
  for (; c + 2 <= C; c += 2) {
    float s0 = bias[c], s1 = bias[c], u0 = bias[c + 1], u1 = bias[c + 1];
    for (int t = 0; t < taps; t++) {
      const float wv = w[(size_t)t * C + c], wu = w[(size_t)t * C + c + 1];
      s0 += p0[t][c] * wv;
      s1 += p1[t][c] * wv;
      u0 += p0[t][c + 1] * wu;
      u1 += p1[t][c + 1] * wu;
    }
    if (o1) {
      o1[c] = s1 + (res1 ? res1[c] : 0.0f);
      o1[c + 1] = u1 + (res1 ? res1[c + 1] : 0.0f);
    }
    o0[c] = s0 + (res0 ? res0[c] : 0.0f);
    o0[c + 1] = u0 + (res0 ? res0[c + 1] : 0.0f);
  }
  for (; c < C; c++) {
    float s0 = bias[c], s1 = bias[c];
    for (int t = 0; t < taps; t++) {
      const float wv = w[(size_t)t * C + c];
      s0 += p0[t][c] * wv;
      s1 += p1[t][c] * wv;
    }
    if (o1) o1[c] = s1 + (res1 ? res1[c] : 0.0f);
    o0[c] = s0 + (res0 ? res0[c] : 0.0f);
  }
  if (c_scalar < C && act != ACT_NONE) {
    if (o1) activate_row(o1 + c_scalar, alpha ? alpha + c_scalar : 0, C - c_scalar, act, param);
    activate_row(o0 + c_scalar, alpha ? alpha + c_scalar : 0, C - c_scalar, act, param);
  }
}

// Two output pixels of a depthwise conv with multiplier 1 at input columns iwa and iwb
// (o1 NULL: no second pixel): their tap pointers, then dw_two_pixels.  A 3x3 window takes
// constants, so that once inlined its loops are unrolled.
INLINE void dw_pair(const float** p0, const float** p1, const float* xn, const float* zero, int ih0, int iwa, int iwb,
                    int H, int W, int C, int KH, int KW, int DH, int DW, const float* w, const float* bias,
                    const float* alpha, float* o0, float* o1, const float* res0, const float* res1, int act,
                    float param) {
  if (KH == 3 && KW == 3) {
    dw_pointer_pair(p0, p1, xn, zero, ih0, iwa, iwb, H, W, C, 3, 3, DH, DW);
    dw_two_pixels(p0, p1, 9, w, bias, alpha, C, o0, o1, res0, res1, act, param);
  } else {
    dw_pointer_pair(p0, p1, xn, zero, ih0, iwa, iwb, H, W, C, KH, KW, DH, DW);
    dw_two_pixels(p0, p1, KH * KW, w, bias, alpha, C, o0, o1, res0, res1, act, param);
  }
}

// args: x w bias out residual alpha zero  N H W C  OH OW  KH KW SH SW DH DW PT PL  act param  mult
// w is TF's [KH][KW][C][mult] (= [KH][KW][C*mult]); bias/alpha have C*mult entries; zero >= C floats.
// Like op_conv it works from an indirection buffer; with multiplier 1 it computes two
// output pixels per pass (dw_two_pixels), the 3x3 case (most models) unrolled.
void op_dwconv(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* w = PTR(const float, a[1]);
  const float* bias = PTR(const float, a[2]);
  float* out = PTR(float, a[3]);
  const float* residual = PTR(const float, a[4]);
  const float* alpha = PTR(const float, a[5]);
  const float* zero = PTR(const float, a[6]);
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12];
  const int KH = a[13], KW = a[14], SH = a[15], SW = a[16], DH = a[17], DW = a[18], PT = a[19], PL = a[20];
  const int act = a[21];
  const float param = bits_to_f32(a[22]);
  const int mult = a[23], CM = C * mult, taps = KH * KW;
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    const float* p0[DW_MAX_TAPS];
    const float* p1[DW_MAX_TAPS];
    for (int row = r0; row < r1; row++) {
      const int n = row / OH, oh = row % OH;
      const float* xn = x + (size_t)n * H * W * C;
      const int ih0 = oh * SH - PT;
      int ow = 0;
      if (mult == 1) {   // two pixels per pass
        for (; ow < OW; ow += 2) {
          const int two = ow + 1 < OW;
          float* o0 = out + ((size_t)row * OW + ow) * CM;
          const float* res0 = residual ? residual + ((size_t)row * OW + ow) * CM : 0;
          dw_pair(p0, p1, xn, zero, ih0, ow * SW - PL, (ow + two) * SW - PL, H, W, C, KH, KW, DH, DW, w, bias, alpha,
                  o0, two ? o0 + CM : 0, res0, res0 ? res0 + CM : 0, act, param);
        }
        continue;
      }
      for (; ow < OW; ow++) {  // a channel multiplier above 1, any window
        dw_pointers(p0, xn, zero, ih0, ow * SW - PL, H, W, C, KH, KW, DH, DW);
        float* o = out + ((size_t)row * OW + ow) * CM;
        const float* res = residual ? residual + ((size_t)row * OW + ow) * CM : 0;
        for (int oc = 0; oc < CM; oc++) {
          const int ic = oc / mult;
          float acc = bias[oc];
          for (int t = 0; t < taps; t++) acc += p0[t][ic] * w[(size_t)t * CM + oc];
          o[oc] = activate(acc + (res ? res[oc] : 0.0f), act, param, alpha ? alpha[oc] : 0.0f);
        }
      }
    }
  }
}

// The 1x1 conv of op_sepconv over np pixels of C channels, contiguous at `in`: op_conv's
// microkernel (MR pixels x an 8-channel panel; scalar: 1 x 8) and epilogue.
static void pointwise_pixels(const float* in, int np, int C, const float* w, const float* bias, int CO, float* out,
                             const float* res, const float* alpha, int act, float param) {
  const int CO8 = (CO + 7) / 8;
#ifdef __wasm_simd128__
  for (int p0 = 0; p0 < np; p0 += MR) {
    const int nrows = MIN(MR, np - p0);
    const float* rows[MR];
    for (int r = 0; r < MR; r++) rows[r] = in + (size_t)(p0 + MIN(r, nrows - 1)) * C;   // past the end: the last
    for (int cb = 0; cb < CO8; cb++) {
      v128_t acc[MR][2];
      gemm_block_init(acc, bias + cb * 8);
      gemm_block_madd(acc, rows, w + (size_t)cb * C * 8, C);
      const int co0 = cb * 8;
      for (int r = 0; r < nrows; r++)
        store_panel(out + (size_t)(p0 + r) * CO + co0, res ? res + (size_t)(p0 + r) * CO + co0 : 0, alpha, co0,
                    MIN(8, CO - co0), acc[r][0], acc[r][1], act, param);
    }
  }
#else
  for (int p = 0; p < np; p++) {
    const float* row = in + (size_t)p * C;
    for (int cb = 0; cb < CO8; cb++) {
      float acc[8];
      for (int j = 0; j < 8; j++) acc[j] = bias[cb * 8 + j];
      panel_1x8(acc, &row, 1, w + (size_t)cb * C * 8, C, 0);
      const size_t o = (size_t)p * CO + cb * 8;
      store_activated(out + o, acc, res ? res + o : 0, MIN(8, CO - cb * 8), act, param, alpha ? alpha + cb * 8 : 0);
    }
  }
#endif
}

#define SEP_SCRATCH 4096   // floats of depthwise output held per chunk (16 KiB: in L1)

// args: x dw dbias out residual alpha zero  N H W C  OH OW CO  KH KW SH SW DH DW PT PL  dact dparam  w bias act param
// A depthwise conv (multiplier 1, its own activation) whose output only a 1x1 stride-1
// conv reads, in one pass: per chunk of an output row the depthwise pixels go to a
// scratch on the stack and the 1x1 conv (packed panels, residual, activation) reads them
// there.  The intermediate map never reaches the arena (BlazeFace at 128x128: 1.5 MB
// written and read back per block), and with threads the two halves of a row need no
// barrier between them (issue 16's banding, a band being one output row).
void op_sepconv(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* dw = PTR(const float, a[1]);
  const float* dbias = PTR(const float, a[2]);
  float* out = PTR(float, a[3]);
  const float* residual = PTR(const float, a[4]);
  const float* alpha = PTR(const float, a[5]);
  const float* zero = PTR(const float, a[6]);
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12], CO = a[13];
  const int KH = a[14], KW = a[15], SH = a[16], SW = a[17], DH = a[18], DW = a[19], PT = a[20], PL = a[21];
  const int dact = a[22];
  const float dparam = bits_to_f32(a[23]);
  const float* w = PTR(const float, a[24]);
  const float* bias = PTR(const float, a[25]);
  const int act = a[26];
  const float param = bits_to_f32(a[27]);
  const int chunk = (SEP_SCRATCH / C) & ~1;    // even: whole pixel pairs (C <= SEP_SCRATCH/2)
  // the unit of work: a row's run of `chunk` pixels (a whole row unless the channels are
  // many): faceres's 7x7x1024 layer has 14 units for two threads, not 7 rows
  const int runs = (OW + chunk - 1) / chunk;
  float scratch[SEP_SCRATCH];
  int u0, u1;
  FOR_WORK(N * OH * runs, u0, u1) {
    const float* p0[DW_MAX_TAPS];
    const float* p1[DW_MAX_TAPS];
    for (int u = u0; u < u1; u++) {
      const int row = u / runs, n = row / OH, oh = row % OH, ih0 = oh * SH - PT;
      const float* xn = x + (size_t)n * H * W * C;
      const int ow0 = (u % runs) * chunk, np = MIN(chunk, OW - ow0);
      for (int j = 0; j < np; j += 2) {
        const int two = j + 1 < np, ow = ow0 + j;
        float* s0 = scratch + (size_t)j * C;
        dw_pair(p0, p1, xn, zero, ih0, ow * SW - PL, (ow + two) * SW - PL, H, W, C, KH, KW, DH, DW, dw, dbias, 0,
                s0, two ? s0 + C : 0, 0, 0, dact, dparam);
      }
      const size_t o = ((size_t)row * OW + ow0) * CO;
      pointwise_pixels(scratch, np, C, w, bias, CO, out + o, residual ? residual + o : 0, alpha, act, param);
    }
  }
}

#define EXPDW_SCRATCH 8192   // floats of expanded rows op_expdw holds: a ring of the window's rows x a chunk's columns

// Row `ih` of the expanded map (the 1x1 conv's output), columns [iw_lo, iw_lo + ncols), at
// dst: computed where inside the input, zeros in the depthwise conv's padding (which pads
// the expanded map, not the conv's input).
static void expand_row(const float* x, const float* w, const float* bias, int n, int ih, int iw_lo, int ncols, int H,
                       int W, int C, int CE, int act, float param, float* dst) {
  const int a = MAX(iw_lo, 0), b = MIN(iw_lo + ncols, W);
  if (ih < 0 || ih >= H || b <= a) {
    for (int i = 0; i < ncols * CE; i++) dst[i] = 0.0f;
    return;
  }
  for (int i = 0; i < (a - iw_lo) * CE; i++) dst[i] = 0.0f;
  for (int i = (b - iw_lo) * CE; i < ncols * CE; i++) dst[i] = 0.0f;
  pointwise_pixels(x + (((size_t)n * H + ih) * W + a) * C, b - a, C, w, bias, CE, dst + (size_t)(a - iw_lo) * CE, 0, 0,
                   act, param);
}

// args: x w bias dw dbias out residual  N H W C CE  OH OW  KH KW SH SW DH DW PT PL  act param dact dparam
// A 1x1 conv (C -> CE, its own activation) whose output only a strided depthwise conv
// (multiplier 1) reads, in one pass: for a chunk of output columns, the expanded rows a
// window of output rows needs are computed into a ring on the stack (each expanded row once
// per chunk of rows, its neighbours' rows kept) and the depthwise conv reads them there.  The
// expanded map never reaches the arena (CenterNet's 256x256x64 expansion: 16.8 MB of a 24 MB
// arena).  The idea is the fused inverted-residual block of patch-based inference on small
// devices (Lin et al. 2021, MCUNetV2); the code is our own.
void op_expdw(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* w = PTR(const float, a[1]);
  const float* bias = PTR(const float, a[2]);
  const float* dw = PTR(const float, a[3]);
  const float* dbias = PTR(const float, a[4]);
  float* out = PTR(float, a[5]);
  const float* residual = PTR(const float, a[6]);
  const int N = a[7], H = a[8], W = a[9], C = a[10], CE = a[11], OH = a[12], OW = a[13];
  const int KH = a[14], KW = a[15], SH = a[16], SW = a[17], DH = a[18], DW = a[19], PT = a[20], PL = a[21];
  const int act = a[22];
  const float param = bits_to_f32(a[23]);
  const int dact = a[24];
  const float dparam = bits_to_f32(a[25]);
  const int R = (KH - 1) * DH + 1, span = (KW - 1) * DW + 1, taps = KH * KW;
  // output columns per chunk: the ring's R rows of (ocw - 1) * SW + span columns fit the scratch
  const int ocw = MAX(1, (EXPDW_SCRATCH / (R * CE) - span) / SW + 1);
  const int stride = ((ocw - 1) * SW + span) * CE;        // floats per ring row
  float ring[EXPDW_SCRATCH];
#define RING_ROW(ih) (ring + (size_t)((((ih) % R) + R) % R) * stride)   // input row ih's slot (ih may be < 0)
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    const float* p0[DW_MAX_TAPS];
    const float* p1[DW_MAX_TAPS];
    for (int ow0 = 0; ow0 < OW; ow0 += ocw) {
      const int ow1 = MIN(OW, ow0 + ocw), iw_lo = ow0 * SW - PL, ncols = (ow1 - 1 - ow0) * SW + span;
      int cur_n = -1, next = 0;              // the image in the ring; the first row not expanded yet
      for (int row = r0; row < r1; row++) {
        const int n = row / OH, oh = row % OH, ih0 = oh * SH - PT;
        if (n != cur_n || next < ih0) {       // a new image, or rows skipped: the ring starts over
          cur_n = n;
          next = ih0;
        }
        for (; next < ih0 + R; next++)
          expand_row(x, w, bias, n, next, iw_lo, ncols, H, W, C, CE, act, param, RING_ROW(next));
        for (int ow = ow0; ow < ow1; ow += 2) {
          const int two = ow + 1 < ow1;
          for (int kh = 0; kh < KH; kh++) {
            const int ih = ih0 + kh * DH;
            const float* rr = RING_ROW(ih);
            for (int kw = 0; kw < KW; kw++) {
              const int col = (ow - ow0) * SW + kw * DW;
              p0[kh * KW + kw] = rr + (size_t)col * CE;
              p1[kh * KW + kw] = rr + (size_t)(col + (two ? SW : 0)) * CE;
            }
          }
          float* o0 = out + ((size_t)row * OW + ow) * CE;
          const float* res0 = residual ? residual + ((size_t)row * OW + ow) * CE : 0;
          dw_two_pixels(p0, p1, taps, dw, dbias, 0, CE, o0, two ? o0 + CE : 0, res0, res0 && two ? res0 + CE : 0, dact,
                        dparam);
        }
      }
    }
  }
#undef RING_ROW
}

// args: x out  N H W C  OH OW  KH KW SH SW PT PL  kind(0 max, 1 avg)
// Avg divides by the number of real (unpadded) cells, as TensorFlow does.
#define POOL_RING 2048   // words of column maxima kept for one output row: KW columns x C channels

// One output row of a max pool with stride 1 along W.  Each input column's max over the
// window's rows is computed once, kept in a ring of the last KW columns and shared by the
// KW outputs whose windows hold it: (KH-1) + (KW-1) maxima per output instead of KH*KW-1
// (CenterNet's 3x3 peak-finding pool on 128x128x80: 5.5 -> 3.2 ms on wasm-simd; on
// scalar wasm 32 -> 26 ms, and 12 ms with max_key's integer maxima).  A column in the padding is -inf.  The column of input iw sits in slot
// (iw + PL) % KW.  NaN: as in the general loop below (SIMD: pmax and a NaN flag, kept in
// the ring as all-ones lanes; scalar: f32.max).
static void maxpool_row_sliding(const float* xn, float* o, int ih0, int kh_lo, int kh_hi, int W, int C, int OW,
                                int KW, int PL) {
  int32_t ring[POOL_RING];                        // SIMD: float bits; scalar: max_key keys
  int fill = 0;                                   // the slot the next column goes to
  for (int iw = -PL; iw < OW - PL + KW - 1; iw++) {
    int32_t* col = ring + (size_t)fill * C;
    int c = 0;
    const int inside = iw >= 0 && iw < W;
#ifdef __wasm_simd128__
    for (; c + 4 <= C; c += 4) {
      v128_t m = wasm_f32x4_splat(-__builtin_inff()), nan = wasm_i32x4_splat(0);
      if (inside)
        for (int kh = kh_lo; kh < kh_hi; kh++) {
          const v128_t v = wasm_v128_load(xn + ((size_t)(ih0 + kh) * W + iw) * C + c);
          m = wasm_f32x4_pmax(m, v);
          nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
        }
      wasm_v128_store(col + c, wasm_v128_or(m, nan));
    }
#endif
    for (; c < C; c++) {
      int32_t m = max_key(f32_to_bits(-__builtin_inff()));
      if (inside)
        for (int kh = kh_lo; kh < kh_hi; kh++) m = imax(m, max_key(f32_to_bits(xn[((size_t)(ih0 + kh) * W + iw) * C + c])));
      col[c] = m;
    }
    if (++fill == KW) fill = 0;
    const int ow = iw + PL - (KW - 1);            // the output whose window this column completes
    if (ow < 0) continue;
    float* oc = o + (size_t)ow * C;
    c = 0;
#ifdef __wasm_simd128__
    for (; c + 4 <= C; c += 4) {
      v128_t m = wasm_v128_load(ring + c);
      v128_t nan = wasm_f32x4_ne(m, m);
      for (int k = 1; k < KW; k++) {
        const v128_t v = wasm_v128_load(ring + (size_t)k * C + c);
        m = wasm_f32x4_pmax(m, v);
        nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
      }
      wasm_v128_store(oc + c, wasm_v128_or(m, nan));
    }
#endif
    for (; c < C; c++) {
      int32_t m = ring[c];
      for (int k = 1; k < KW; k++) m = imax(m, ring[(size_t)k * C + c]);
      oc[c] = key_f32(m);
    }
  }
}

#ifdef __wasm_simd128__
// A 2x2 stride-2 max pool (BlazeFace, FaceMesh, iris, liveness, antispoof), one output row,
// over the pixels whose window lies inside the input; returns where it stopped (the caller's
// general loop does the rest).  Four fixed loads per 4 channels (max4: antispoof's
// 126x126x64 pool took 0.48 ms in the general loop).
static int maxpool2x2_row(const float* xn, float* o, int ih0, int rows_in, int W, int C, int OW, int PL) {
  if (rows_in != 2 || PL != 0) return 0;
  int ow = 0;
  const size_t down = (size_t)W * C;
  for (; ow < OW && 2 * ow + 1 < W; ow++) {
    const float* p = xn + ((size_t)ih0 * W + 2 * ow) * C;
    float* oc = o + (size_t)ow * C;
    for (int c = 0; c < C; c += 4) {
      wasm_v128_store(oc + c, max4(wasm_v128_load(p + c), wasm_v128_load(p + C + c), wasm_v128_load(p + down + c),
                                   wasm_v128_load(p + down + C + c)));
    }
  }
  return ow;
}
#endif

void op_pool(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int N = a[2], H = a[3], W = a[4], C = a[5], OH = a[6], OW = a[7];
  const int KH = a[8], KW = a[9], SH = a[10], SW = a[11], PT = a[12], PL = a[13], kind = a[14];
  const int sliding = !kind && SW == 1 && KW > 1 && KW * C <= POOL_RING;
  const int pool2x2 = !kind && KH == 2 && KW == 2 && SH == 2 && SW == 2 && C % 4 == 0;
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    for (int row = r0; row < r1; row++) {
      const int n = row / OH, oh = row % OH, ih0 = oh * SH - PT;
      const int kh_lo = MAX(0, -ih0), kh_hi = MIN(KH, H - ih0);
      const float* xn = x + (size_t)n * H * W * C;
      if (sliding) {
        maxpool_row_sliding(xn, out + (size_t)row * OW * C, ih0, kh_lo, kh_hi, W, C, OW, KW, PL);
        continue;
      }
      int ow = 0;
#ifdef __wasm_simd128__
      if (pool2x2)     // the pixels whose whole window is inside; the edges take the loop below
        ow = maxpool2x2_row(xn, out + (size_t)row * OW * C, ih0, kh_hi - kh_lo, W, C, OW, PL);
#endif
      for (; ow < OW; ow++) {
        const int iw0 = ow * SW - PL, kw_lo = MAX(0, -iw0), kw_hi = MIN(KW, W - iw0);
        const float count = (float)((kh_hi - kh_lo) * (kw_hi - kw_lo));
        float* o = out + ((size_t)row * OW + ow) * C;
        int c = 0;
#ifdef __wasm_simd128__
        for (; c + 4 <= C; c += 4) {
          v128_t acc = kind ? wasm_f32x4_splat(0) : wasm_f32x4_splat(-__builtin_inff());
          v128_t nan = wasm_i32x4_splat(0);    // lanes that met a NaN (pmax alone would drop it)
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++) {
              v128_t v = wasm_v128_load(xn + ((size_t)(ih0 + kh) * W + iw0 + kw) * C + c);
              if (kind) {
                acc = wasm_f32x4_add(acc, v);
              } else {   // pmax + a NaN flag: cheaper in V8 than the NaN-propagating f32x4.max
                acc = wasm_f32x4_pmax(acc, v);
                nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
              }
            }
          if (!kind) acc = wasm_v128_or(acc, nan);   // all-ones lanes are NaNs
          wasm_v128_store(o + c, kind ? wasm_f32x4_div(acc, wasm_f32x4_splat(count)) : acc);
        }
#endif
        // scalar (the scalar build, and the SIMD build's channel tail): four channels at a
        // time held in registers across the window; max on integer keys (max_key: no
        // branch to mispredict, NaN kept), avg on floats
        for (; c < C; c += 4) {
          const int nc = MIN(4, C - c);
          const int32_t floor_key = max_key(f32_to_bits(-__builtin_inff()));
          int32_t k[4] = { floor_key, floor_key, floor_key, floor_key };
          float s[4] = { 0.0f, 0.0f, 0.0f, 0.0f };
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++) {
              const float* xp = xn + ((size_t)(ih0 + kh) * W + iw0 + kw) * C + c;
              if (kind) {
                for (int j = 0; j < nc; j++) s[j] += xp[j];
              } else if (nc == 4) {
                k[0] = imax(k[0], max_key(f32_to_bits(xp[0])));
                k[1] = imax(k[1], max_key(f32_to_bits(xp[1])));
                k[2] = imax(k[2], max_key(f32_to_bits(xp[2])));
                k[3] = imax(k[3], max_key(f32_to_bits(xp[3])));
              } else {
                for (int j = 0; j < nc; j++) k[j] = imax(k[j], max_key(f32_to_bits(xp[j])));
              }
            }
          for (int j = 0; j < nc; j++) o[c + j] = kind ? s[j] / count : key_f32(k[j]);
        }
      }
    }
  }
}
