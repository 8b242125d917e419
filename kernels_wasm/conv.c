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

// args: x w bias out residual alpha zero  N H W C  OH OW CO  KH KW SH SW DH DW PT PL  act param
void op_conv(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* w = PTR(const float, a[1]);
  const float* bias = PTR(const float, a[2]);
  float* out = PTR(float, a[3]);
  const float* residual = PTR(const float, a[4]);
  const float* alpha = PTR(const float, a[5]);
  const float* zero = PTR(const float, a[6]);
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12], CO = a[13];
  const int KH = a[14], KW = a[15], SH = a[16], SW = a[17], DH = a[18], DW = a[19], PT = a[20], PL = a[21];
  const int act = a[22];
  const float param = bits_to_f32(a[23]);
  const int M = N * OH * OW, CO8 = (CO + 7) / 8, taps = KH * KW;
  int b0, b1;
  split_range((M + MR - 1) / MR, tid, nthreads, &b0, &b1);
  const float* rows[MR];
  int ih0[MR], iw0[MR], nbase[MR];
  for (int blk = b0; blk < b1; blk++) {
    const int p0 = blk * MR, nrows = MIN(MR, M - p0);
    for (int r = 0; r < MR; r++) {
      int p = p0 + MIN(r, nrows - 1);
      int n = p / (OH * OW), rem = p % (OH * OW);
      ih0[r] = (rem / OW) * SH - PT;
      iw0[r] = (rem % OW) * SW - PL;
      nbase[r] = n * H * W * C;
    }
    for (int cb = 0; cb < CO8; cb++) {
      const float* wb = w + (size_t)cb * taps * C * 8;
#ifdef __wasm_simd128__
      v128_t acc[MR][2];
      for (int r = 0; r < MR; r++) {
        acc[r][0] = wasm_v128_load(bias + cb * 8);
        acc[r][1] = wasm_v128_load(bias + cb * 8 + 4);
      }
#else
      float acc[MR][8];
      for (int r = 0; r < MR; r++)
        for (int j = 0; j < 8; j++) acc[r][j] = bias[cb * 8 + j];
#endif
      for (int kh = 0; kh < KH; kh++) {
        for (int kw = 0; kw < KW; kw++) {
          for (int r = 0; r < MR; r++) {
            int ih = ih0[r] + kh * DH, iw = iw0[r] + kw * DW;
            rows[r] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x + nbase[r] + ((size_t)ih * W + iw) * C : zero;
          }
          const float* wt = wb + (size_t)(kh * KW + kw) * C * 8;
#ifdef __wasm_simd128__
          for (int c = 0; c < C; c++) {
            const v128_t w0 = wasm_v128_load(wt + c * 8), w1 = wasm_v128_load(wt + c * 8 + 4);
            for (int r = 0; r < MR; r++) {
              const v128_t v = wasm_v128_load32_splat(rows[r] + c);
              acc[r][0] = wasm_f32x4_add(acc[r][0], wasm_f32x4_mul(v, w0));
              acc[r][1] = wasm_f32x4_add(acc[r][1], wasm_f32x4_mul(v, w1));
            }
          }
#else
          for (int c = 0; c < C; c++) {
            const float* wc = wt + c * 8;
            for (int r = 0; r < MR; r++) {
              const float v = rows[r][c];
              for (int j = 0; j < 8; j++) acc[r][j] += v * wc[j];
            }
          }
#endif
        }
      }
      // epilogue: residual, activation, store (partial panel at the channel tail)
      const int co0 = cb * 8, ncols = MIN(8, CO - co0);
      for (int r = 0; r < nrows; r++) {
        float* o = out + (size_t)(p0 + r) * CO + co0;
        const float* res = residual ? residual + (size_t)(p0 + r) * CO + co0 : 0;
#ifdef __wasm_simd128__
        if (ncols == 8) {
          v128_t v0 = acc[r][0], v1 = acc[r][1];
          if (res) {
            v0 = wasm_f32x4_add(v0, wasm_v128_load(res));
            v1 = wasm_f32x4_add(v1, wasm_v128_load(res + 4));
          }
          const v128_t a0 = alpha ? wasm_v128_load(alpha + co0) : wasm_f32x4_splat(0);
          const v128_t a1 = alpha ? wasm_v128_load(alpha + co0 + 4) : wasm_f32x4_splat(0);
          wasm_v128_store(o, activate4(v0, act, param, a0));
          wasm_v128_store(o + 4, activate4(v1, act, param, a1));
          continue;
        }
        float t[8];
        wasm_v128_store(t, acc[r][0]);
        wasm_v128_store(t + 4, acc[r][1]);
#else
        const float* t = acc[r];
#endif
        for (int j = 0; j < ncols; j++) {
          float v = t[j] + (res ? res[j] : 0.0f);
          o[j] = activate(v, act, param, alpha ? alpha[co0 + j] : 0.0f);
        }
      }
    }
  }
}

// args: x w bias out residual alpha  N H W C  OH OW  KH KW SH SW DH DW PT PL  act param  mult
// w is TF's [KH][KW][C][mult] (= [KH][KW][C*mult]); bias/alpha have C*mult entries.
void op_dwconv(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* w = PTR(const float, a[1]);
  const float* bias = PTR(const float, a[2]);
  float* out = PTR(float, a[3]);
  const float* residual = PTR(const float, a[4]);
  const float* alpha = PTR(const float, a[5]);
  const int N = a[6], H = a[7], W = a[8], C = a[9], OH = a[10], OW = a[11];
  const int KH = a[12], KW = a[13], SH = a[14], SW = a[15], DH = a[16], DW = a[17], PT = a[18], PL = a[19];
  const int act = a[20];
  const float param = bits_to_f32(a[21]);
  const int mult = a[22], CM = C * mult;
  int r0, r1;
  split_range(N * OH, tid, nthreads, &r0, &r1);
  for (int row = r0; row < r1; row++) {
    const int n = row / OH, oh = row % OH;
    const int ih0 = oh * SH - PT;
    const int kh_lo = ih0 < 0 ? (-ih0 + DH - 1) / DH : 0;
    const int kh_hi = H - ih0 > 0 ? MIN(KH, (H - ih0 + DH - 1) / DH) : 0;
    const float* xn = x + (size_t)n * H * W * C;
    for (int ow = 0; ow < OW; ow++) {
      const int iw0 = ow * SW - PL;
      const int kw_lo = iw0 < 0 ? (-iw0 + DW - 1) / DW : 0;
      const int kw_hi = W - iw0 > 0 ? MIN(KW, (W - iw0 + DW - 1) / DW) : 0;
      float* o = out + ((size_t)row * OW + ow) * CM;
      const float* res = residual ? residual + ((size_t)row * OW + ow) * CM : 0;
      int c = 0;
      if (mult == 1) {
#ifdef __wasm_simd128__
        for (; c + 4 <= C; c += 4) {
          v128_t acc = wasm_v128_load(bias + c);
          for (int kh = kh_lo; kh < kh_hi; kh++) {
            const float* xr = xn + ((size_t)(ih0 + kh * DH) * W) * C + c;
            const float* wr = w + (size_t)kh * KW * C + c;
            for (int kw = kw_lo; kw < kw_hi; kw++)
              acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(xr + (size_t)(iw0 + kw * DW) * C),
                                                       wasm_v128_load(wr + (size_t)kw * C)));
          }
          if (res) acc = wasm_f32x4_add(acc, wasm_v128_load(res + c));
          wasm_v128_store(o + c, activate4(acc, act, param, alpha ? wasm_v128_load(alpha + c) : wasm_f32x4_splat(0)));
        }
#endif
        for (; c < C; c++) {
          float acc = bias[c];
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++)
              acc += xn[((size_t)(ih0 + kh * DH) * W + iw0 + kw * DW) * C + c] * w[(size_t)(kh * KW + kw) * C + c];
          if (res) acc += res[c];
          o[c] = activate(acc, act, param, alpha ? alpha[c] : 0.0f);
        }
      } else {
        for (int oc = 0; oc < CM; oc++) {
          const int ic = oc / mult;
          float acc = bias[oc];
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++)
              acc += xn[((size_t)(ih0 + kh * DH) * W + iw0 + kw * DW) * C + ic] * w[(size_t)(kh * KW + kw) * CM + oc];
          if (res) acc += res[oc];
          o[oc] = activate(acc, act, param, alpha ? alpha[oc] : 0.0f);
        }
      }
    }
  }
}

// args: x out  N H W C  OH OW  KH KW SH SW PT PL  kind(0 max, 1 avg)
// Avg divides by the number of real (unpadded) cells, as TensorFlow does.
void op_pool(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int N = a[2], H = a[3], W = a[4], C = a[5], OH = a[6], OW = a[7];
  const int KH = a[8], KW = a[9], SH = a[10], SW = a[11], PT = a[12], PL = a[13], kind = a[14];
  int r0, r1;
  split_range(N * OH, tid, nthreads, &r0, &r1);
  for (int row = r0; row < r1; row++) {
    const int n = row / OH, oh = row % OH, ih0 = oh * SH - PT;
    const int kh_lo = MAX(0, -ih0), kh_hi = MIN(KH, H - ih0);
    const float* xn = x + (size_t)n * H * W * C;
    for (int ow = 0; ow < OW; ow++) {
      const int iw0 = ow * SW - PL, kw_lo = MAX(0, -iw0), kw_hi = MIN(KW, W - iw0);
      const float count = (float)((kh_hi - kh_lo) * (kw_hi - kw_lo));
      float* o = out + ((size_t)row * OW + ow) * C;
      int c = 0;
#ifdef __wasm_simd128__
      for (; c + 4 <= C; c += 4) {
        v128_t acc = kind ? wasm_f32x4_splat(0) : wasm_f32x4_splat(-__builtin_inff());
        for (int kh = kh_lo; kh < kh_hi; kh++)
          for (int kw = kw_lo; kw < kw_hi; kw++) {
            v128_t v = wasm_v128_load(xn + ((size_t)(ih0 + kh) * W + iw0 + kw) * C + c);
            acc = kind ? wasm_f32x4_add(acc, v) : wasm_f32x4_pmax(acc, v);
          }
        wasm_v128_store(o + c, kind ? wasm_f32x4_div(acc, wasm_f32x4_splat(count)) : acc);
      }
#endif
      for (; c < C; c++) {
        float acc = kind ? 0.0f : -__builtin_inff();
        for (int kh = kh_lo; kh < kh_hi; kh++)
          for (int kw = kw_lo; kw < kw_hi; kw++) {
            float v = xn[((size_t)(ih0 + kh) * W + iw0 + kw) * C + c];
            acc = kind ? acc + v : (v > acc ? v : acc);
          }
        o[c] = kind ? acc / count : acc;
      }
    }
  }
}
