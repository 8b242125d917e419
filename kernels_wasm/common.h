// Shared definitions of webtensor's wasm kernels. Freestanding C: no libc, no libm.
// The plan runner (runtime.c) reads a program of int32 words written by Python
// (py/webtensor/backends/wasm/encode.py encodes the typed calls of py/webtensor/lower/);
// the opcode numbers below and the names each kernel gives its argument words are the
// contract between the two (tests/test_wasm_lowering.py checks both against OPCODES / ARGS).
#pragma once
#include <stdint.h>
#include <stddef.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define EXPORT(name) __attribute__((export_name(name)))
#define INLINE static inline __attribute__((always_inline))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

enum Opcode {
  OP_CONV = 1,        // general/1x1 conv and GEMM, NHWC, packed weights, fused epilogue
  OP_DWCONV = 2,      // depthwise conv, fused epilogue
  OP_POOL = 3,        // max/avg pool
  OP_BINARY = 4,      // element-wise binary with broadcasting (strides), optional activation
  OP_UNARY = 5,       // element-wise unary / activation
  OP_COPY = 6,        // strided copy, rank <= 6 (transpose, slice, concat, pad interior...)
  OP_FILL = 7,        // fill with a 32-bit pattern
  OP_RESIZE = 8,      // bilinear / nearest resize
  OP_REDUCE = 9,      // mean/sum/max/min over a middle axis
  OP_SOFTMAX = 10,    // softmax over the last axis
  OP_CAST = 11,       // int32 <-> float32, -> bool
  OP_QCONV = 12,      // int8 conv / GEMM (quant.c), fused requantisation epilogue
  OP_QDWCONV = 13,    // int8 depthwise conv
  OP_QUANTIZE = 14,   // float32 -> int8
  OP_DEQUANTIZE = 15, // int8 -> float32
  OP_QMAXPOOL = 16,   // int8 max pool
  OP_COPY8 = 17,      // strided copy of 1-byte elements
  OP_TOPK = 18,       // the k largest of each row, with their indices
  OP_SEPCONV = 19,    // depthwise conv -> 1x1 conv in one pass, the depthwise rows in a scratch
  OP_CONVPOOL = 20,   // conv -> 2x2 stride-2 max pool in one pass, a window's 4 conv pixels per block
  OP_EXPDW = 21,      // 1x1 conv -> strided depthwise conv in one pass, the expanded rows in a ring
  OP_WINOGRAD = 22,   // 3x3 stride-1 conv in the Winograd domain, F(2x2, 3x3), op_conv's words
  OP_WINOPOOL = 23,   // op_winograd -> 2x2 stride-2 max pool, op_convpool's words
};
// A program op's first word: its opcode, and this flag where the next op touches none of the
// bytes this op (and the rest of its group) writes, nor writes what they read: no barrier
// between them (Python's wasm backend works it out from the ops' extents).
enum { OPCODE_MASK = 0xff, NO_BARRIER_AFTER = 0x100 };

enum Activation {
  ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_SIGMOID = 3, ACT_TANH = 4, ACT_ELU = 5,
  ACT_LEAKY = 6, ACT_PRELU = 7, ACT_SELU = 8,
};

// Argument access: a program op is [opcode, nwords, args...]
#define PTR(T, word) ((T*)(uintptr_t)(word))

INLINE float bits_to_f32(int32_t b) { union { int32_t i; float f; } u = { b }; return u.f; }
INLINE int32_t f32_to_bits(float f) { union { float f; int32_t i; } u = { f }; return u.i; }

// Branch-free scalar selects.  V8 compiles a float `c ? a : b` (and f32.max/min) to
// branches; on activations of random sign they mispredict about half the time, which
// cost the scalar build ~40% in BlazeFace's residual+Relu convs and in max pooling.
// Integer bit operations do not branch.
INLINE int32_t imin(int32_t a, int32_t b) { const int64_t d = (int64_t)a - b; return b + (int32_t)(d & (d >> 63)); }
INLINE int32_t imax(int32_t a, int32_t b) { const int64_t d = (int64_t)a - b; return a - (int32_t)(d & (d >> 63)); }
// A float's bit pattern made monotonic as a signed integer (and back: the map is its own inverse).
INLINE int32_t f32_key(float v) { const int32_t b = f32_to_bits(v); return b ^ ((b >> 31) & 0x7fffffff); }
INLINE float key_f32(int32_t k) { return bits_to_f32(k ^ ((k >> 31) & 0x7fffffff)); }
// NaN rule (the numpy reference and TensorFlow agree): a NaN input gives a NaN output in
// every element-wise op, activation, max/min, pooling and reduction.  All ones (a NaN)
// where the bit pattern is a NaN, else 0; an integer compare, so still no branch.
INLINE int32_t nan_mask(int32_t b) { return -(int32_t)((uint32_t)(b & 0x7fffffff) > 0x7f800000u); }
INLINE float max_f(float a, float b) {
  const int32_t m = nan_mask(f32_to_bits(a)) | nan_mask(f32_to_bits(b));
  return bits_to_f32(f32_to_bits(key_f32(imax(f32_key(a), f32_key(b)))) | m);
}
INLINE float min_f(float a, float b) {
  const int32_t m = nan_mask(f32_to_bits(a)) | nan_mask(f32_to_bits(b));
  return bits_to_f32(f32_to_bits(key_f32(imin(f32_key(a), f32_key(b)))) | m);
}
// A float's key for a running max kept as integers: its order as a signed int, and every
// NaN at the top (INT32_MAX, itself a NaN's bits) so that imax keeps it (NaN in, NaN out).
// Branch-free: V8's scalar f32.max branches, and on pooled activations mispredicts
// (BlazeFace's 2x2 max pool on scalar wasm: 2.07 -> 1.32 ms).
INLINE int32_t max_key(int32_t b) {
  const int32_t m = nan_mask(b);
  return ((b ^ ((b >> 31) & 0x7fffffff)) & ~m) | (0x7fffffff & m);
}
INLINE float clamp_f(float v, float lo, float hi) { return key_f32(imin(imax(f32_key(v), f32_key(lo)), f32_key(hi))); }
// Relu zeroes exactly the negative non-NaN floats: as signed integers their bit patterns
// are those <= 0xFF800000 (-inf); negative NaNs lie above it, up to -1.  One compare.
INLINE float relu_f(float v) {
  const int32_t b = f32_to_bits(v);
  return bits_to_f32(b & ~-(int32_t)(b <= (int32_t)0xFF800000));
}
INLINE float relu6_f(float v) {   // non-negative floats order like their bit patterns; NaNs pass
  const int32_t r = f32_to_bits(relu_f(v)), m = -(int32_t)(r > 0x7F800000);
  return bits_to_f32((imin(r, 0x40C00000 /* 6.0f */) & ~m) | (r & m));
}
INLINE float neg_select(float v, float if_negative) {   // v < 0 (sign bit set) ? if_negative : v
  const int32_t b = f32_to_bits(v), m = b >> 31;
  return bits_to_f32((b & ~m) | (f32_to_bits(if_negative) & m));
}

// Work inside an op: [0, n) in chunks that threads claim from a counter shared for the
// op (reset by the barrier before the next op).  A thread that runs slower (a vCPU
// shared with a busy sibling hyperthread or preempted by the host) then simply claims
// fewer chunks instead of holding every other thread at the barrier, which a fixed
// split by thread id does (pthreadpool's work stealing has the same aim; this is a
// simpler shared-counter version).  Chunks shrink as the range runs out ("guided"
// self-scheduling, Polychronopoulos & Kuck 1987): each claim takes the remaining units
// over 2 x threads, at least one, so the first chunks are long runs of contiguous rows
// and the last ones single units, and the threads finish within one unit of each other
// (fixed chunks of n / 8 split a 7- or 14-row map 4:3 between two threads: faceres's and
// MobileNetV2's last layers).  The partition never changes a result: every output
// element is computed by the same code whichever thread claims it.
// Consecutive ops that touch disjoint bytes run with no barrier between them (a "group":
// the program marks each such op NO_BARRIER_AFTER); a thread done with its chunks of one
// moves on to the next while others finish, so each op of a group has its own counter and
// each thread its own pointer to the counter of the op it is in (threads may be in
// different ops of a group at once).
enum { MAX_THREADS = 64, GROUP_MAX = 8 };
extern int32_t* wt_work_counter[MAX_THREADS];   // per thread: its current op's counter (runtime.c)
typedef struct { int n, nthreads, done; int32_t* counter; } Work;

INLINE Work work_begin(int n, int tid, int nthreads) {
  Work w = { n, nthreads, 0, wt_work_counter[tid] };
  return w;
}

INLINE int work_next(Work* w, int* begin, int* end) {
  if (w->nthreads == 1) {       // one thread: the whole range at once, no atomics
    if (w->done || w->n <= 0) return 0;
    w->done = 1;
    *begin = 0;
    *end = w->n;
    return 1;
  }
  int first = __atomic_load_n(w->counter, __ATOMIC_RELAXED), size;
  do {                          // the counter holds the next unclaimed unit
    if (first >= w->n) return 0;
    size = MAX(1, (w->n - first) / (2 * w->nthreads));
  } while (!__atomic_compare_exchange_n(w->counter, &first, first + size, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  *begin = first;
  *end = first + size;
  return 1;
}

// for (each claimed chunk [lo, hi) of [0, n)) { ... }   (needs `tid` and `nthreads` in scope)
#define FOR_WORK(n, lo, hi) for (Work work_ = work_begin((n), tid, nthreads); work_next(&work_, &(lo), &(hi));)

// Element offsets of outer row r (axes 0..4 of a rank-6 iteration) in two strided tensors.
INLINE void outer_offsets(int r, const int32_t* shape, const int32_t* s1, const int32_t* s2,
                          ptrdiff_t* o1, ptrdiff_t* o2) {
  ptrdiff_t a = 0, b = 0;
  for (int d = 4; d >= 0; d--) {
    const int i = r % shape[d];
    r /= shape[d];
    a += (ptrdiff_t)i * s1[d];
    b += (ptrdiff_t)i * s2[d];
  }
  *o1 = a;
  *o2 = b;
}

// exp(x) for float32: x = n ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial
// (Taylor/Horner; error ~1e-7 relative). Own implementation: no libm here.
INLINE float wt_expf(float x) {
  if (x != x) return x;     // NaN (a branch never taken on real data: predicted)
  // above ln(FLT_MAX) the result is inf (and from this float on the rounding gives inf too)
  if (x > 88.72283935546875f) return __builtin_inff();
  if (x < -103.972084045410f) return 0.0f;
  float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666666666666667f + r * (0.0416666666666666667f +
            r * (0.00833333333333333333f + r * 0.00138888888888888889f)))));
  int32_t e = (int32_t)n;
  // scale by 2^n in two steps so that n down to -149 (denormals) still works
  int32_t e1 = e / 2, e2 = e - e1;
  union { int32_t i; float f; } s1 = { (e1 + 127) << 23 }, s2 = { (e2 + 127) << 23 };
  return p * s1.f * s2.f;
}

INLINE float wt_sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + wt_expf(-x));
  float e = wt_expf(x);
  return e / (1.0f + e);
}

INLINE float wt_tanh(float x) {
  if (x > 9.0f) return 1.0f;
  if (x < -9.0f) return -1.0f;
  if (x > -0.0625f && x < 0.0625f) {   // avoid cancellation near 0
    float x2 = x * x;
    return x * (1.0f - x2 * (0.333333333f - x2 * 0.133333333f));
  }
  float e = wt_expf(2.0f * x);
  return (e - 1.0f) / (e + 1.0f);
}

INLINE float wt_expm1_neg(float x) { // x <= 0, for ELU/SELU
  if (x > -0.0625f) return x * (1.0f + x * (0.5f + x * (0.166666667f + x * 0.0416666667f)));
  return wt_expf(x) - 1.0f;
}

// Scalar activation; `param` is the leaky alpha, `alpha` the PReLU slope.
INLINE float activate(float v, int act, float param, float alpha) {
  switch (act) {
    case ACT_RELU: return relu_f(v);
    case ACT_RELU6: return relu6_f(v);
    case ACT_SIGMOID: return wt_sigmoid(v);
    case ACT_TANH: return wt_tanh(v);
    case ACT_ELU: return v > 0 ? v : wt_expm1_neg(v);
    case ACT_LEAKY: return neg_select(v, v * param);
    case ACT_PRELU: return neg_select(v, v * alpha);
    case ACT_SELU: return 1.0507009873554805f * (v > 0 ? v : 1.6732632423543772f * wt_expm1_neg(v));
    default: return v;
  }
}

// out[j] = act(v[j] + res[j]) for j < n, with the activation switch outside the loop.
INLINE void store_activated(float* o, const float* v, const float* res, int n, int act, float param,
                            const float* alpha) {
  float t[8];
  for (int j = 0; j < n; j++) t[j] = v[j] + (res ? res[j] : 0.0f);
  switch (act) {
    case ACT_NONE: for (int j = 0; j < n; j++) o[j] = t[j]; break;
    case ACT_RELU: for (int j = 0; j < n; j++) o[j] = relu_f(t[j]); break;
    case ACT_RELU6: for (int j = 0; j < n; j++) o[j] = relu6_f(t[j]); break;
    default: for (int j = 0; j < n; j++) o[j] = activate(t[j], act, param, alpha ? alpha[j] : 0.0f);
  }
}

// o[j] = act(o[j]) in place, the switch outside the loop.
INLINE void store_activated_inplace(float* o, int n, int act, float param) {
  switch (act) {
    case ACT_NONE: break;
    case ACT_RELU: for (int j = 0; j < n; j++) o[j] = relu_f(o[j]); break;
    case ACT_RELU6: for (int j = 0; j < n; j++) o[j] = relu6_f(o[j]); break;
    default: for (int j = 0; j < n; j++) o[j] = activate(o[j], act, param, 0.0f);
  }
}

// o[j] = act(o[j]) over a row of n (a kernel stored its sums, residual added, first), the
// switch outside the loop: per element, the epilogue's switch cost a third of a scalar
// 3x3 depthwise output's time.
INLINE void activate_row(float* o, const float* alpha, int n, int act, float param) {
  if (act == ACT_PRELU) {
    for (int j = 0; j < n; j++) o[j] = neg_select(o[j], o[j] * alpha[j]);
    return;
  }
  store_activated_inplace(o, n, act, param);
}

#ifdef __wasm_simd128__
// Four lanes of wt_expf with exactly its results: the same operations in the same order,
// the range checks as a clamp and a select (a NaN passes through f32x4.min/max and the
// polynomial).  CenterNet's class head applies a sigmoid to 1.3 M
// values: lane by lane, with the scalar branches, that was half of its 26 ms conv.
INLINE v128_t wt_expf4(v128_t x) {
  const v128_t hi = wasm_f32x4_splat(88.72283935546875f), lo = wasm_f32x4_splat(-103.972084045410f);
  const v128_t xc = wasm_f32x4_max(wasm_f32x4_min(x, hi), lo);
  const v128_t n = wasm_f32x4_floor(wasm_f32x4_add(wasm_f32x4_mul(xc, wasm_f32x4_splat(1.44269504088896341f)),
                                                   wasm_f32x4_splat(0.5f)));
  const v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145751953125f))),
                                  wasm_f32x4_mul(n, wasm_f32x4_splat(1.42860682030941723212e-6f)));
#define WT_MA(c, t) wasm_f32x4_add(wasm_f32x4_splat(c), wasm_f32x4_mul(r, (t)))
  const v128_t p = WT_MA(1.0f, WT_MA(1.0f, WT_MA(0.5f, WT_MA(0.166666666666666667f, WT_MA(0.0416666666666666667f,
                   WT_MA(0.00833333333333333333f, wasm_f32x4_splat(0.00138888888888888889f)))))));
#undef WT_MA
  const v128_t e = wasm_i32x4_trunc_sat_f32x4(n);
  // e / 2 rounded toward zero, as C's division in the scalar form
  const v128_t e1 = wasm_i32x4_shr(wasm_i32x4_add(e, wasm_u32x4_shr(e, 31)), 1), e2 = wasm_i32x4_sub(e, e1);
  const v128_t bias = wasm_i32x4_splat(127);
  const v128_t s1 = wasm_i32x4_shl(wasm_i32x4_add(e1, bias), 23), s2 = wasm_i32x4_shl(wasm_i32x4_add(e2, bias), 23);
  // above hi the clamped argument's own product rounds to inf, as wt_expf's early return
  return wasm_v128_andnot(wasm_f32x4_mul(wasm_f32x4_mul(p, s1), s2), wasm_f32x4_lt(x, lo));
}

// wt_sigmoid's two branches are one exp of -|x| and one division: 1/(1+e) for x >= 0,
// e/(1+e) below.
INLINE v128_t wt_sigmoid4(v128_t x) {
  const v128_t e = wt_expf4(wasm_f32x4_neg(wasm_f32x4_abs(x)));
  const v128_t num = wasm_v128_bitselect(wasm_f32x4_splat(1.0f), e, wasm_f32x4_ge(x, wasm_f32x4_splat(0.0f)));
  return wasm_f32x4_div(num, wasm_f32x4_add(wasm_f32x4_splat(1.0f), e));
}

INLINE v128_t wt_tanh4(v128_t x) {
  const v128_t e = wt_expf4(wasm_f32x4_add(x, x)), one = wasm_f32x4_splat(1.0f);
  v128_t y = wasm_f32x4_div(wasm_f32x4_sub(e, one), wasm_f32x4_add(e, one));
  const v128_t x2 = wasm_f32x4_mul(x, x);
  const v128_t small = wasm_f32x4_mul(x, wasm_f32x4_sub(one, wasm_f32x4_mul(x2, wasm_f32x4_sub(
      wasm_f32x4_splat(0.333333333f), wasm_f32x4_mul(x2, wasm_f32x4_splat(0.133333333f))))));
  y = wasm_v128_bitselect(small, y, wasm_v128_and(wasm_f32x4_gt(x, wasm_f32x4_splat(-0.0625f)),
                                                  wasm_f32x4_lt(x, wasm_f32x4_splat(0.0625f))));
  y = wasm_v128_bitselect(one, y, wasm_f32x4_gt(x, wasm_f32x4_splat(9.0f)));
  return wasm_v128_bitselect(wasm_f32x4_neg(one), y, wasm_f32x4_lt(x, wasm_f32x4_splat(-9.0f)));
}

// v > 0 ? v : wt_expm1_neg(v), lane-wise
INLINE v128_t wt_elu4(v128_t x) {
  const v128_t small = wasm_f32x4_mul(x, wasm_f32x4_add(wasm_f32x4_splat(1.0f), wasm_f32x4_mul(x, wasm_f32x4_add(
      wasm_f32x4_splat(0.5f), wasm_f32x4_mul(x, wasm_f32x4_add(wasm_f32x4_splat(0.166666667f),
                                                               wasm_f32x4_mul(x, wasm_f32x4_splat(0.0416666667f))))))));
  const v128_t m1 = wasm_f32x4_sub(wt_expf4(x), wasm_f32x4_splat(1.0f));
  const v128_t neg = wasm_v128_bitselect(small, m1, wasm_f32x4_gt(x, wasm_f32x4_splat(-0.0625f)));
  return wasm_v128_bitselect(x, neg, wasm_f32x4_gt(x, wasm_f32x4_splat(0.0f)));
}

// Vector forms of every activation, each with the scalar form's exact results.
INLINE v128_t activate4(v128_t v, int act, float param, v128_t alpha) {
  switch (act) {
    case ACT_NONE: return v;
    // pmax(v, 0) is `v < 0 ? 0 : v`: a NaN v stays NaN, as with f32x4.max, which V8 lowers
    // on x64 to 8 instructions (max both ways, merge, fix NaNs and signed zeros) where pmax
    // is one maxps; pmin(., 6) likewise keeps the NaN in its first operand
    case ACT_RELU: return wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f));
    case ACT_RELU6: return wasm_f32x4_pmin(wasm_f32x4_pmax(v, wasm_f32x4_splat(0.0f)), wasm_f32x4_splat(6.0f));
    case ACT_LEAKY: return wasm_v128_bitselect(v, wasm_f32x4_mul(v, wasm_f32x4_splat(param)),
                                               wasm_f32x4_gt(v, wasm_f32x4_splat(0.0f)));
    case ACT_PRELU: return wasm_v128_bitselect(v, wasm_f32x4_mul(v, alpha), wasm_f32x4_gt(v, wasm_f32x4_splat(0.0f)));
    case ACT_SIGMOID: return wt_sigmoid4(v);
    case ACT_TANH: return wt_tanh4(v);
    case ACT_ELU: return wt_elu4(v);
    case ACT_SELU: return wasm_f32x4_mul(wasm_f32x4_splat(1.0507009873554805f), wasm_v128_bitselect(
        v, wasm_f32x4_mul(wasm_f32x4_splat(1.6732632423543772f), wt_elu4(v)), wasm_f32x4_gt(v, wasm_f32x4_splat(0.0f))));
    default: {
      float t[4];
      wasm_v128_store(t, v);
      for (int i = 0; i < 4; i++) t[i] = activate(t[i], act, param, 0.0f);
      return wasm_v128_load(t);
    }
  }
}
#endif

// Kernel entry points (each file defines its family); args point past [opcode, nwords].
void op_conv(const int32_t* a, int tid, int nthreads);
void op_dwconv(const int32_t* a, int tid, int nthreads);
void op_pool(const int32_t* a, int tid, int nthreads);
void op_binary(const int32_t* a, int tid, int nthreads);
void op_unary(const int32_t* a, int tid, int nthreads);
void op_copy(const int32_t* a, int tid, int nthreads);
void op_fill(const int32_t* a, int tid, int nthreads);
void op_resize(const int32_t* a, int tid, int nthreads);
void op_reduce(const int32_t* a, int tid, int nthreads);
void op_softmax(const int32_t* a, int tid, int nthreads);
void op_cast(const int32_t* a, int tid, int nthreads);
void op_qconv(const int32_t* a, int tid, int nthreads);
void op_qdwconv(const int32_t* a, int tid, int nthreads);
void op_quantize(const int32_t* a, int tid, int nthreads);
void op_dequantize(const int32_t* a, int tid, int nthreads);
void op_qmaxpool(const int32_t* a, int tid, int nthreads);
void op_copy8(const int32_t* a, int tid, int nthreads);
void op_topk(const int32_t* a, int tid, int nthreads);
void op_sepconv(const int32_t* a, int tid, int nthreads);
void op_convpool(const int32_t* a, int tid, int nthreads);
void op_expdw(const int32_t* a, int tid, int nthreads);
void op_winograd(const int32_t* a, int tid, int nthreads);
void op_winopool(const int32_t* a, int tid, int nthreads);
