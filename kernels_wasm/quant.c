// int8 kernels of quantised models: conv/GEMM, depthwise, quantize, dequantize, max pool.
// The arithmetic is the one py/webtensor/ops/quant.py defines (the tests compare the
// integers exactly): int32 accumulation of raw int8 products plus a bias that holds the
// input zero-point correction, then y = float(acc) * multiplier[c] (+ residual term),
// rounded half to even, plus the output zero point, clamped (activation folded in).
//
// op_qconv is an indirect GEMM like op_conv, 4 output pixels x 8 channels per tile,
// but its K loop eats 8 input channels at a time with i32x4.dot_i16x8_s: the input
// bytes of one pixel are widened to i16 once, each pair (k, k+1) is broadcast to all
// lanes, and the filter is packed so that one 8-byte load widened to i16x8 holds the
// pairs of 4 output channels.  (XNNPACK's qs8 wasmsimd "c2" GEMM kernels use the same
// instruction; the code and the packing here are our own.)
#include "common.h"

#define QMR 4
#define QSCRATCH 16384     // bytes of gathered filter rows per tile (Python checks the size)

// args of OP_QCONV:
//  0 x  1 w  2 bias  3 mult  4 out  5 residual  6 padrow
//  7 N H W C OH OW CO  14 KH KW SH SW DH DW PT PL
//  22 xz oz qmin qmax rz rscale  28 out_float act KR
// The first seven OP_QCONV / OP_QDWCONV arguments as named locals.
#define Q_IO_ARGS(a)                                                                                   \
  const int8_t* x = PTR(const int8_t, a[0]);                                                           \
  const int8_t* w = PTR(const int8_t, a[1]);                                                           \
  const int32_t* bias = PTR(const int32_t, a[2]);                                                      \
  const float* mult = PTR(const float, a[3]);                                                          \
  void* out = PTR(void, a[4]);                                                                         \
  const int8_t* residual = PTR(const int8_t, a[5]);                                                    \
  const int8_t* padrow = PTR(const int8_t, a[6]);

typedef struct {
  float oz, qmin, qmax, rscale;
  int32_t rz, out_float, act;
} QEpilogue;

INLINE QEpilogue q_epilogue(const int32_t* a) {
  QEpilogue e = { (float)a[1], (float)a[2], (float)a[3], bits_to_f32(a[5]), a[4], a[6], a[7] };
  return e;
}

// One output value: the scalar form of the SIMD epilogue (same operations, same order).
INLINE void q_store1(void* out, int idx, int32_t acc, float mult, const int8_t* res, const QEpilogue* e) {
  float y = (float)acc * mult;
  if (res) y = y + (float)((int32_t)res[0] - e->rz) * e->rscale;
  if (e->out_float) {
    if (e->act) y = e->act == 2 ? relu6_f(y) : relu_f(y);
    ((float*)out)[idx] = y;
    return;
  }
  // clamp to +-256 first so the int conversion cannot trap (same result: beyond that
  // the final clamp decides anyway), without branches
  y = __builtin_rintf(clamp_f(y, -256.0f, 256.0f));
  ((int8_t*)out)[idx] = (int8_t)imin(imax((int32_t)y + (int32_t)e->oz, (int32_t)e->qmin), (int32_t)e->qmax);
}

#ifdef __wasm_simd128__
// Eight output values (two i32x4 accumulators) at out[idx..idx+n), n <= 8.
INLINE void q_store8(void* out, int idx, v128_t a0, v128_t a1, const float* mult, const int8_t* res,
                     const QEpilogue* e, int n) {
  v128_t y0 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(a0), wasm_v128_load(mult));
  v128_t y1 = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(a1), wasm_v128_load(mult + 4));
  if (res) {
    const v128_t r = wasm_i16x8_load8x8(res);
    const v128_t rz = wasm_i32x4_splat(e->rz), rs = wasm_f32x4_splat(e->rscale);
    y0 = wasm_f32x4_add(y0, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_sub(wasm_i32x4_extend_low_i16x8(r), rz)), rs));
    y1 = wasm_f32x4_add(y1, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_i32x4_sub(wasm_i32x4_extend_high_i16x8(r), rz)), rs));
  }
  if (e->out_float) {
    if (e->act) {
      y0 = wasm_f32x4_max(y0, wasm_f32x4_splat(0));
      y1 = wasm_f32x4_max(y1, wasm_f32x4_splat(0));
    }
    if (e->act == 2) {
      y0 = wasm_f32x4_min(y0, wasm_f32x4_splat(6));
      y1 = wasm_f32x4_min(y1, wasm_f32x4_splat(6));
    }
    float* o = (float*)out + idx;
    if (n == 8) {
      wasm_v128_store(o, y0);
      wasm_v128_store(o + 4, y1);
    } else {
      float t[8];
      wasm_v128_store(t, y0);
      wasm_v128_store(t + 4, y1);
      for (int j = 0; j < n; j++) o[j] = t[j];
    }
    return;
  }
  // clamp, then round half to even by adding 1.5 * 2^23 (the float addition rounds; the
  // integer then sits in the low mantissa bits), subtracting the bias's bits plus the
  // zero point back out.  Same result as clamp(rint(y) + oz), in fewer x64 instructions
  // than nearest + trunc_sat (the "magic bias" trick XNNPACK's fp32 requantisation uses).
  // pmin/pmax are plain minps/maxps; no NaN can reach here.
  const v128_t lo = wasm_f32x4_splat(e->qmin - e->oz), hi = wasm_f32x4_splat(e->qmax - e->oz);
  const v128_t magic = wasm_f32x4_splat(12582912.0f);
  const v128_t unbias = wasm_i32x4_splat(0x4B400000 - (int32_t)e->oz);
  y0 = wasm_f32x4_add(wasm_f32x4_pmin(wasm_f32x4_pmax(y0, lo), hi), magic);
  y1 = wasm_f32x4_add(wasm_f32x4_pmin(wasm_f32x4_pmax(y1, lo), hi), magic);
  const v128_t i16 = wasm_i16x8_narrow_i32x4(wasm_i32x4_sub(y0, unbias), wasm_i32x4_sub(y1, unbias));
  const v128_t i8 = wasm_i8x16_narrow_i16x8(i16, i16);
  int8_t* o = (int8_t*)out + idx;
  if (n == 8) {
    wasm_v128_store64_lane(o, i8, 0);
  } else {
    int8_t t[16];
    wasm_v128_store(t, i8);
    for (int j = 0; j < n; j++) o[j] = t[j];
  }
}
#endif

// Input row of filter row `kh` for output pixel p: the KW*C contiguous input bytes when
// they are all in bounds, the zero-point row when the whole row is padding, otherwise
// those bytes gathered (zero point where a tap is in the padding) into `scratch`.
INLINE const int8_t* q_row(const int8_t* x, const int8_t* padrow, int8_t* scratch, int p, int kh,
                           int H, int W, int C, int OH, int OW, int KW, int SH, int SW, int DH, int DW,
                           int PT, int PL, int8_t xz) {
  const int n = p / (OH * OW), rem = p % (OH * OW);
  const int ih = (rem / OW) * SH - PT + kh * DH, iw0 = (rem % OW) * SW - PL;
  if (ih < 0 || ih >= H) return padrow;
  const int8_t* xr = x + ((size_t)n * H + ih) * W * C;
  if (DW == 1 && iw0 >= 0 && iw0 + KW <= W) return xr + (size_t)iw0 * C;
  for (int kw = 0; kw < KW; kw++) {
    const int iw = iw0 + kw * DW;
    if (iw >= 0 && iw < W) __builtin_memcpy(scratch + kw * C, xr + (size_t)iw * C, (size_t)C);
    else __builtin_memset(scratch + kw * C, xz, (size_t)C);
  }
  return scratch;
}

void op_qconv(const int32_t* a, int tid, int nthreads) {
  Q_IO_ARGS(a)
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12], CO = a[13];
  const int KH = a[14], KW = a[15], SH = a[16], SW = a[17], DH = a[18], DW = a[19], PT = a[20], PL = a[21];
  const int8_t xz = (int8_t)a[22];
  const QEpilogue e = q_epilogue(a + 22);
  const int KR = a[30], KB = KR / 8, CO8 = (CO + 7) / 8, M = N * OH * OW;
  int8_t scratch[QSCRATCH];
  const int8_t* rows[QMR * 16];
  int b0, b1;
  FOR_WORK((M + QMR - 1) / QMR, b0, b1) {
    for (int blk = b0; blk < b1; blk++) {
      const int p0 = blk * QMR, nrows = MIN(QMR, M - p0);
      if (KH == 1 && KW == 1 && SH == 1 && SW == 1 && PT == 0 && PL == 0 && OH == H && OW == W) {
        for (int r = 0; r < QMR; r++) rows[r] = x + (size_t)(p0 + MIN(r, nrows - 1)) * C;   // a plain GEMM
      } else for (int kh = 0; kh < KH; kh++)
        for (int r = 0; r < QMR; r++)
          rows[kh * QMR + r] = q_row(x, padrow, scratch + (kh * QMR + r) * KR, p0 + MIN(r, nrows - 1), kh,
                                     H, W, C, OH, OW, KW, SH, SW, DH, DW, PT, PL, xz);
      for (int cb = 0; cb < CO8; cb++) {
        const int8_t* wb = w + (size_t)cb * KH * KR * 8;
        const int co0 = cb * 8, ncols = MIN(8, CO - co0);
#ifdef __wasm_simd128__
        v128_t acc[QMR][2];
        for (int r = 0; r < QMR; r++) {
          acc[r][0] = wasm_v128_load(bias + co0);
          acc[r][1] = wasm_v128_load(bias + co0 + 4);
        }
        for (int kh = 0; kh < KH; kh++) {
          const int8_t* const* rr = rows + kh * QMR;
          const int8_t* wk = wb + (size_t)kh * KR * 8;
          for (int kb = 0; kb < KB; kb++, wk += 64) {
            const v128_t x0 = wasm_i16x8_load8x8(rr[0] + kb * 8), x1 = wasm_i16x8_load8x8(rr[1] + kb * 8);
            const v128_t x2 = wasm_i16x8_load8x8(rr[2] + kb * 8), x3 = wasm_i16x8_load8x8(rr[3] + kb * 8);
#define QPAIR(j)                                                                                       \
            {                                                                                            \
              const v128_t w0 = wasm_i16x8_load8x8(wk + (j) * 16), w1 = wasm_i16x8_load8x8(wk + (j) * 16 + 8); \
              v128_t s = wasm_i32x4_shuffle(x0, x0, j, j, j, j);                                         \
              acc[0][0] = wasm_i32x4_add(acc[0][0], wasm_i32x4_dot_i16x8(s, w0));                        \
              acc[0][1] = wasm_i32x4_add(acc[0][1], wasm_i32x4_dot_i16x8(s, w1));                        \
              s = wasm_i32x4_shuffle(x1, x1, j, j, j, j);                                                \
              acc[1][0] = wasm_i32x4_add(acc[1][0], wasm_i32x4_dot_i16x8(s, w0));                        \
              acc[1][1] = wasm_i32x4_add(acc[1][1], wasm_i32x4_dot_i16x8(s, w1));                        \
              s = wasm_i32x4_shuffle(x2, x2, j, j, j, j);                                                \
              acc[2][0] = wasm_i32x4_add(acc[2][0], wasm_i32x4_dot_i16x8(s, w0));                        \
              acc[2][1] = wasm_i32x4_add(acc[2][1], wasm_i32x4_dot_i16x8(s, w1));                        \
              s = wasm_i32x4_shuffle(x3, x3, j, j, j, j);                                                \
              acc[3][0] = wasm_i32x4_add(acc[3][0], wasm_i32x4_dot_i16x8(s, w0));                        \
              acc[3][1] = wasm_i32x4_add(acc[3][1], wasm_i32x4_dot_i16x8(s, w1));                        \
            }
            QPAIR(0) QPAIR(1) QPAIR(2) QPAIR(3)
#undef QPAIR
          }
        }
        for (int r = 0; r < nrows; r++) {
          const size_t o = (size_t)(p0 + r) * CO + co0;
          q_store8(out, (int)o, acc[r][0], acc[r][1], mult + co0, residual ? residual + o : 0, &e, ncols);
        }
#else
        for (int r = 0; r < nrows; r++) {
          // one pixel x 8 channels in eight local accumulators (the scalar float kernel's shape)
          int32_t c0 = bias[co0], c1 = bias[co0 + 1], c2 = bias[co0 + 2], c3 = bias[co0 + 3];
          int32_t c4 = bias[co0 + 4], c5 = bias[co0 + 5], c6 = bias[co0 + 6], c7 = bias[co0 + 7];
          for (int kh = 0; kh < KH; kh++) {
            const int8_t* xr = rows[kh * QMR + r];
            const int8_t* wk = wb + (size_t)kh * KR * 8;
            for (int k = 0; k < KR; k += 2, wk += 16) {
              // packed pair (k, k+1): [half][lane][element] at wk; 16 bytes per pair
              const int32_t v0 = xr[k], v1 = xr[k + 1];
              c0 += v0 * wk[0] + v1 * wk[1];   c1 += v0 * wk[2] + v1 * wk[3];
              c2 += v0 * wk[4] + v1 * wk[5];   c3 += v0 * wk[6] + v1 * wk[7];
              c4 += v0 * wk[8] + v1 * wk[9];   c5 += v0 * wk[10] + v1 * wk[11];
              c6 += v0 * wk[12] + v1 * wk[13]; c7 += v0 * wk[14] + v1 * wk[15];
            }
          }
          const int32_t acc[8] = { c0, c1, c2, c3, c4, c5, c6, c7 };
          const size_t o = (size_t)(p0 + r) * CO + co0;
          for (int j = 0; j < ncols; j++)
            q_store1(out, (int)(o + j), acc[j], mult[co0 + j], residual ? residual + o + j : 0, &e);
        }
#endif
      }
    }
  }
}

// args of OP_QDWCONV:
//  0 x  1 w  2 bias  3 mult  4 out  5 residual  6 padrow
//  7 N H W C OH OW  13 KH KW SH SW DH DW PT PL  21 xz oz qmin qmax rz rscale  27 out_float act CP
// Taps are taken in pairs so that i32x4.dot_i16x8_s does two multiply-adds per lane:
// the two taps' inputs are interleaved (one shuffle each half) and the filter is packed
// as w[pair][CP/8][half][lane][tap of pair]; an odd last tap pairs with the zero-point
// row and a zero weight.
void op_qdwconv(const int32_t* a, int tid, int nthreads) {
  Q_IO_ARGS(a)
  const int N = a[7], H = a[8], W = a[9], C = a[10], OH = a[11], OW = a[12];
  const int KH = a[13], KW = a[14], SH = a[15], SW = a[16], DH = a[17], DW = a[18], PT = a[19], PL = a[20];
  const QEpilogue e = q_epilogue(a + 21);
  const int CP = a[29], taps = KH * KW, pairs = (taps + 1) / 2;
  const int8_t* ptr[66];
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    for (int row = r0; row < r1; row++) {
      const int n = row / OH, ih0 = (row % OH) * SH - PT;
      const int8_t* xn = x + (size_t)n * H * W * C;
      for (int ow = 0; ow < OW; ow++) {
        const int iw0 = ow * SW - PL;
        for (int kh = 0; kh < KH; kh++) {
          const int ih = ih0 + kh * DH;
          for (int kw = 0; kw < KW; kw++) {
            const int iw = iw0 + kw * DW;
            ptr[kh * KW + kw] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xn + ((size_t)ih * W + iw) * C : padrow;
          }
        }
        ptr[taps] = padrow;
        const size_t o = ((size_t)row * OW + ow) * C;
#ifdef __wasm_simd128__
        for (int c = 0; c < C; c += 8) {
          v128_t a0 = wasm_v128_load(bias + c), a1 = wasm_v128_load(bias + c + 4);
          const int8_t* wp = w + (size_t)c * 2;
          for (int p = 0; p < pairs; p++, wp += (size_t)CP * 2) {
            const v128_t xa = wasm_i16x8_load8x8(ptr[2 * p] + c), xb = wasm_i16x8_load8x8(ptr[2 * p + 1] + c);
            const v128_t lo = wasm_i16x8_shuffle(xa, xb, 0, 8, 1, 9, 2, 10, 3, 11);
            const v128_t hi = wasm_i16x8_shuffle(xa, xb, 4, 12, 5, 13, 6, 14, 7, 15);
            a0 = wasm_i32x4_add(a0, wasm_i32x4_dot_i16x8(lo, wasm_i16x8_load8x8(wp)));
            a1 = wasm_i32x4_add(a1, wasm_i32x4_dot_i16x8(hi, wasm_i16x8_load8x8(wp + 8)));
          }
          q_store8(out, (int)(o + c), a0, a1, mult + c, residual ? residual + o + c : 0, &e, MIN(8, C - c));
        }
#else
        for (int c = 0; c < C; c++) {
          int32_t acc = bias[c];
          const int8_t* wc = w + (size_t)(c >> 3) * 16 + ((c & 7) >> 2) * 8 + (c & 3) * 2;
          for (int t = 0; t < taps; t++) acc += (int32_t)ptr[t][c] * wc[(size_t)(t >> 1) * CP * 2 + (t & 1)];
          q_store1(out, (int)(o + c), acc, mult[c], residual ? residual + o + c : 0, &e);
        }
#endif
      }
    }
  }
}

// args: x(float) out(int8) n inv_scale zero_point
void op_quantize(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  int8_t* out = PTR(int8_t, a[1]);
  const int n = a[2];
  const float inv = bits_to_f32(a[3]), zp = (float)a[4];
  int i0, i1;
  FOR_WORK((n + 15) / 16, i0, i1) {
    i0 *= 16;
    i1 = MIN(i1 * 16, n);
    int i = i0;
#ifdef __wasm_simd128__
    const v128_t vinv = wasm_f32x4_splat(inv), vz = wasm_f32x4_splat(zp);
    const v128_t lo = wasm_f32x4_splat(-128), hi = wasm_f32x4_splat(127);
    for (; i + 8 <= i1; i += 8) {
      v128_t y0 = wasm_f32x4_add(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + i), vinv)), vz);
      v128_t y1 = wasm_f32x4_add(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(x + i + 4), vinv)), vz);
      y0 = wasm_f32x4_min(wasm_f32x4_max(y0, lo), hi);
      y1 = wasm_f32x4_min(wasm_f32x4_max(y1, lo), hi);
      const v128_t i16 = wasm_i16x8_narrow_i32x4(wasm_i32x4_trunc_sat_f32x4(y0), wasm_i32x4_trunc_sat_f32x4(y1));
      wasm_v128_store64_lane(out + i, wasm_i8x16_narrow_i16x8(i16, i16), 0);
    }
#endif
    for (; i < i1; i++) {
      float y = __builtin_rintf(x[i] * inv) + zp;
      y = y < -128 ? -128 : (y > 127 ? 127 : y);
      out[i] = (int8_t)(int32_t)y;
    }
  }
}

// args: x(int8) out(float) n scale zero_point
void op_dequantize(const int32_t* a, int tid, int nthreads) {
  const int8_t* x = PTR(const int8_t, a[0]);
  float* out = PTR(float, a[1]);
  const float s = bits_to_f32(a[3]);
  const int n = a[2];
  const int32_t zp = a[4];
  int i0, i1;
  FOR_WORK(n, i0, i1) {
    for (int i = i0; i < i1; i++) out[i] = (float)((int32_t)x[i] - zp) * s;
  }
}

// args: x out  N H W C  OH OW  KH KW SH SW PT PL   (int8 max pool; padding never wins)
void op_qmaxpool(const int32_t* a, int tid, int nthreads) {
  const int8_t* x = PTR(const int8_t, a[0]);
  int8_t* out = PTR(int8_t, a[1]);
  const int N = a[2], H = a[3], W = a[4], C = a[5], OH = a[6], OW = a[7];
  const int KH = a[8], KW = a[9], SH = a[10], SW = a[11], PT = a[12], PL = a[13];
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    for (int row = r0; row < r1; row++) {
      const int n = row / OH, ih0 = (row % OH) * SH - PT;
      const int kh_lo = MAX(0, -ih0), kh_hi = MIN(KH, H - ih0);
      const int8_t* xn = x + (size_t)n * H * W * C;
      for (int ow = 0; ow < OW; ow++) {
        const int iw0 = ow * SW - PL, kw_lo = MAX(0, -iw0), kw_hi = MIN(KW, W - iw0);
        int8_t* o = out + ((size_t)row * OW + ow) * C;
        int c = 0;
#ifdef __wasm_simd128__
        for (; c + 16 <= C; c += 16) {
          v128_t m = wasm_i8x16_splat(-128);
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++)
              m = wasm_i8x16_max(m, wasm_v128_load(xn + ((size_t)(ih0 + kh) * W + iw0 + kw) * C + c));
          wasm_v128_store(o + c, m);
        }
#endif
        for (; c < C; c++) {
          int8_t m = -128;
          for (int kh = kh_lo; kh < kh_hi; kh++)
            for (int kw = kw_lo; kw < kw_hi; kw++) {
              const int8_t v = xn[((size_t)(ih0 + kh) * W + iw0 + kw) * C + c];
              m = (int8_t)imax(m, v);
            }
          o[c] = m;
        }
      }
    }
  }
}
