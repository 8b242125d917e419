// Element-wise kernels: binary ops with broadcasting (by strides), unary ops, cast, fill.
#include "common.h"

enum BinaryKind { B_ADD = 0, B_SUB = 1, B_MUL = 2, B_DIV = 3, B_MAX = 4, B_MIN = 5, B_SQDIFF = 6,
                  B_PRELU = 7, B_FLOORDIV = 8, B_FLOORMOD = 9 };

INLINE float binary1(int kind, float x, float y) {
  switch (kind) {
    case B_ADD: return x + y;
    case B_SUB: return x - y;
    case B_MUL: return x * y;
    case B_DIV: return x / y;
    case B_MAX: return max_f(x, y);      // NaN-propagating (common.h)
    case B_MIN: return min_f(x, y);
    case B_SQDIFF: return (x - y) * (x - y);
    case B_PRELU: return x > 0 ? x : x * y;
    case B_FLOORDIV: return __builtin_floorf(x / y);
    case B_FLOORMOD: { float m = x - __builtin_floorf(x / y) * y; return m; }
    default: return 0;
  }
}

#ifdef __wasm_simd128__
INLINE v128_t binary4(int kind, v128_t x, v128_t y) {
  switch (kind) {
    case B_ADD: return wasm_f32x4_add(x, y);
    case B_SUB: return wasm_f32x4_sub(x, y);
    case B_MUL: return wasm_f32x4_mul(x, y);
    case B_DIV: return wasm_f32x4_div(x, y);
    case B_MAX: return wasm_f32x4_max(x, y);   // max/min propagate NaN (pmax/pmin do not)
    case B_MIN: return wasm_f32x4_min(x, y);
    case B_SQDIFF: { v128_t d = wasm_f32x4_sub(x, y); return wasm_f32x4_mul(d, d); }
    case B_PRELU: return wasm_v128_bitselect(x, wasm_f32x4_mul(x, y), wasm_f32x4_gt(x, wasm_f32x4_splat(0)));
    case B_FLOORDIV: return wasm_f32x4_floor(wasm_f32x4_div(x, y));
    default: {
      float a[4], b[4];
      wasm_v128_store(a, x);
      wasm_v128_store(b, y);
      for (int i = 0; i < 4; i++) a[i] = binary1(kind, a[i], b[i]);
      return wasm_v128_load(a);
    }
  }
}
#endif

// One contiguous output row: x advances by sx, y by sy (0 = broadcast).
static void binary_row(int kind, int act, float param, const float* x, int sx, const float* y, int sy,
                       float* o, int n) {
#ifdef __wasm_simd128__
  int i = 0;
  const v128_t zero = wasm_f32x4_splat(0);
  if (sx == 1 && sy == 1) {
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(o + i, activate4(binary4(kind, wasm_v128_load(x + i), wasm_v128_load(y + i)), act, param, zero));
  } else if (sx == 1 && sy == 0) {
    const v128_t yv = wasm_v128_load32_splat(y);
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(o + i, activate4(binary4(kind, wasm_v128_load(x + i), yv), act, param, zero));
  } else if (sx == 0 && sy == 1) {
    const v128_t xv = wasm_v128_load32_splat(x);
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(o + i, activate4(binary4(kind, xv, wasm_v128_load(y + i)), act, param, zero));
  }
  for (; i < n; i++) o[i] = activate(binary1(kind, x[(size_t)i * sx], y[(size_t)i * sy]), act, param, 0.0f);
#else
  // scalar: per L1-sized chunk, one loop for the operation and one for the activation,
  // each with its switch outside the loop (a switch per element costs more than the math)
  for (int c0 = 0; c0 < n; c0 += 1024) {
    const int c1 = MIN(n, c0 + 1024);
    const float *xp = x + (size_t)c0 * sx, *yp = y + (size_t)c0 * sy;
    float* op = o + c0;
    const int m = c1 - c0;
    if (sx == 1 && sy == 1 && kind == B_ADD) for (int k = 0; k < m; k++) op[k] = xp[k] + yp[k];
    else if (sx == 1 && sy == 1 && kind == B_MUL) for (int k = 0; k < m; k++) op[k] = xp[k] * yp[k];
    else if (sx == 1 && sy == 0 && kind == B_ADD) { const float v = yp[0]; for (int k = 0; k < m; k++) op[k] = xp[k] + v; }
    else if (sx == 1 && sy == 0 && kind == B_MUL) { const float v = yp[0]; for (int k = 0; k < m; k++) op[k] = xp[k] * v; }
    else for (int k = 0; k < m; k++) op[k] = binary1(kind, xp[(size_t)k * sx], yp[(size_t)k * sy]);
    store_activated_inplace(op, m, act, param);
  }
#endif
}

#ifdef __wasm_simd128__
#define PERIOD_MAX 64
// One operand contiguous over the whole output, the other one short row repeated (a
// per-channel mean, scale or bias on NHWC: rows of 3 to 16): row by row that was a
// division and a scalar tail per pixel (MoveNet's input scaling, 110 K floats: 0.6 ms).
// Here the short row is repeated to a whole number of vectors, period = lcm(row, 4), and
// the output runs in periods; the rows after the last whole period go through binary_row.
static void binary_periodic(int kind, int act, float param, const float* x, const float* y, int y_repeats,
                            float* out, int total, int inner, int tid, int nthreads) {
  const float* rep_src = y_repeats ? y : x;
  const float* stream = y_repeats ? x : y;
  int period = inner;
  while (period % 4) period += inner;
  float rep[PERIOD_MAX];
  for (int i = 0; i < period; i++) rep[i] = rep_src[i % inner];
  const v128_t zero = wasm_f32x4_splat(0);
  const int periods = total / period;
  int q0, q1;
  FOR_WORK(periods, q0, q1) {
    for (int q = q0; q < q1; q++) {
      const float* s = stream + (size_t)q * period;
      float* o = out + (size_t)q * period;
      for (int j = 0; j < period; j += 4) {
        const v128_t sv = wasm_v128_load(s + j), rv = wasm_v128_load(rep + j);
        const v128_t v = y_repeats ? binary4(kind, sv, rv) : binary4(kind, rv, sv);
        wasm_v128_store(o + j, activate4(v, act, param, zero));
      }
    }
  }
  // the rest (fewer than period / inner rows), row by row on one thread
  if (tid == nthreads - 1)
    for (int at = periods * period; at < total; at += inner)
      binary_row(kind, act, param, y_repeats ? x + at : x, 1, y_repeats ? y : y + at, 1, out + at, inner);
}
#endif

// args: x y out kind act param  shape[6]  xstrides[6]  ystrides[6]   (strides in elements)
void op_binary(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  const float* y = PTR(const float, a[1]);
  float* out = PTR(float, a[2]);
  const int kind = a[3], act = a[4];
  const float param = bits_to_f32(a[5]);
  const int32_t *shape = a + 6, *xs = a + 12, *ys = a + 18;
  const int inner = shape[5];
  const int outer = shape[0] * shape[1] * shape[2] * shape[3] * shape[4];
#ifdef __wasm_simd128__
  // after coalescing (lower.coalesce) that case is [outer, inner] with strides [inner, 1] and [0, 1]
  if (inner < 16 && inner % 4 && outer > 1 && shape[0] * shape[1] * shape[2] * shape[3] == 1 &&
      xs[5] == 1 && ys[5] == 1 && ((xs[4] == inner && ys[4] == 0) || (xs[4] == 0 && ys[4] == inner))) {
    binary_periodic(kind, act, param, x, y, ys[4] == 0, out, outer * inner, inner, tid, nthreads);
    return;
  }
#endif
  int r0, r1;
  FOR_WORK(outer, r0, r1) {
    for (int r = r0; r < r1; r++) {
      ptrdiff_t xo, yo;
      outer_offsets(r, shape, xs, ys, &xo, &yo);
      binary_row(kind, act, param, x + xo, xs[5], y + yo, ys[5], out + (size_t)r * inner, inner);
    }
  }
}

enum UnaryKind { U_EXP = 20, U_SQRT = 21, U_RSQRT = 22, U_RECIPROCAL = 23, U_NEG = 24, U_ABS = 25,
                 U_SQUARE = 26, U_FLOOR = 27, U_CEIL = 28, U_ROUND = 30, U_SIGN = 31 };

INLINE float unary1(int kind, float v, float param) {
  switch (kind) {
    case U_EXP: return wt_expf(v);
    case U_SQRT: return __builtin_sqrtf(v);
    case U_RSQRT: return 1.0f / __builtin_sqrtf(v);
    case U_RECIPROCAL: return 1.0f / v;
    case U_NEG: return -v;
    case U_ABS: return __builtin_fabsf(v);
    case U_SQUARE: return v * v;
    case U_FLOOR: return __builtin_floorf(v);
    case U_CEIL: return __builtin_ceilf(v);
    case U_ROUND: return __builtin_rintf(v);   // ties to even, as TF's Round
    case U_SIGN: return v != v ? v : (float)((v > 0) - (v < 0));
    default: return activate(v, kind, param, 0.0f);   // kinds below 20 are activations
  }
}

// args: x out n kind param
void op_unary(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int n = a[2], kind = a[3];
  const float param = bits_to_f32(a[4]);
  int c0, c1;
  FOR_WORK((n + 3) / 4, c0, c1) {
    int i = c0 * 4;
    const int end = MIN(n, c1 * 4);
#ifdef __wasm_simd128__
    if (kind < 20) {
      for (; i + 4 <= end; i += 4)
        wasm_v128_store(out + i, activate4(wasm_v128_load(x + i), kind, param, wasm_f32x4_splat(0)));
    } else if (kind == U_EXP) {
      for (; i + 4 <= end; i += 4) wasm_v128_store(out + i, wt_expf4(wasm_v128_load(x + i)));
    } else if (kind == U_SQRT) {
      for (; i + 4 <= end; i += 4) wasm_v128_store(out + i, wasm_f32x4_sqrt(wasm_v128_load(x + i)));
    }
#endif
    for (; i < end; i++) out[i] = unary1(kind, x[i], param);
  }
}

// args: x out n kind   kind: 0 i32->f32, 1 f32->i32 (truncate), 2 f32->bool, 3 i32->bool; bool is int32 0/1
void op_cast(const int32_t* a, int tid, int nthreads) {
  const int32_t* x = PTR(const int32_t, a[0]);   // int32 / bool source
  const float* xf = PTR(const float, a[0]);      // float32 source
  int32_t* out = PTR(int32_t, a[1]);             // int32 / bool destination
  float* outf = PTR(float, a[1]);                // float32 destination
  const int n = a[2], kind = a[3];
  int i0, i1;
  FOR_WORK(n, i0, i1) {
    int i = i0;
#ifdef __wasm_simd128__
    // four lanes at a time, each kind with the scalar loop's exact results (CenterNet casts
    // 1.3 M floats: 1.5 ms lane by lane with the switch inside)
    const v128_t one = wasm_i32x4_splat(1);
    switch (kind) {
      case 0:
        for (; i + 4 <= i1; i += 4) wasm_v128_store(outf + i, wasm_f32x4_convert_i32x4(wasm_v128_load(x + i)));
        break;
      case 1:   // trunc_sat: NaN -> 0, saturating; from 2147483520 up INT_MAX, as below
        for (; i + 4 <= i1; i += 4) {
          const v128_t v = wasm_v128_load(xf + i);
          wasm_v128_store(out + i, wasm_v128_bitselect(wasm_i32x4_splat(2147483647), wasm_i32x4_trunc_sat_f32x4(v),
                                                       wasm_f32x4_ge(v, wasm_f32x4_splat(2147483520.0f))));
        }
        break;
      case 2:
        for (; i + 4 <= i1; i += 4)
          wasm_v128_store(out + i, wasm_v128_and(wasm_f32x4_ne(wasm_v128_load(xf + i), wasm_f32x4_splat(0)), one));
        break;
      default:
        for (; i + 4 <= i1; i += 4)
          wasm_v128_store(out + i, wasm_v128_and(wasm_i32x4_ne(wasm_v128_load(x + i), wasm_i32x4_splat(0)), one));
    }
#endif
    for (; i < i1; i++) {
      switch (kind) {
        case 0: outf[i] = (float)x[i]; break;
        case 1: {
          float v = xf[i];
          out[i] = v != v ? 0 : v >= 2147483520.0f ? 2147483647 : v <= -2147483648.0f ? (-2147483647 - 1) : (int32_t)v;
          break;
        }
        case 2: out[i] = xf[i] != 0.0f; break;
        default: out[i] = x[i] != 0; break;
      }
    }
  }
}

// args: out n bits
void op_fill(const int32_t* a, int tid, int nthreads) {
  int32_t* out = PTR(int32_t, a[0]);
  const int n = a[1], bits = a[2];
  int i0, i1;
  FOR_WORK(n, i0, i1) {
    for (int i = i0; i < i1; i++) out[i] = bits;
  }
}
