// Reductions over a middle axis (after the planner merges axes), softmax, and top-k selection.
#include "common.h"

// args: x out outer n inner kind(0 mean, 1 sum, 2 max, 3 min):  out[o][i] = reduce_k x[o][k][i]
// Work items are (outer row, a run of up to REDUCE_LANES inner lanes); each walks k once,
// reading its lanes contiguously into accumulators (lane by lane down k it read every cache
// line four times: CenterNet's mean over 128x128 positions of 128 channels).  The order of
// the terms is k = 0, 1, ... for every lane, as before.
#define REDUCE_LANES 32
void op_reduce(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int outer = a[2], n = a[3], inner = a[4], kind = a[5];
  const int chunks = (inner + REDUCE_LANES - 1) / REDUCE_LANES;
  int j0, j1;
  FOR_WORK(outer * chunks, j0, j1) {
    for (int j = j0; j < j1; j++) {
      const int o = j / chunks, i0 = (j % chunks) * REDUCE_LANES, w = MIN(inner, i0 + REDUCE_LANES) - i0;
      const float* p = x + (size_t)o * n * inner + i0;
      float acc[REDUCE_LANES];
      for (int i = 0; i < w; i++) acc[i] = kind >= 2 ? p[i] : 0.0f;
      for (int k = kind >= 2 ? 1 : 0; k < n; k++) {
        const float* row = p + (size_t)k * inner;
        if (kind == 2) for (int i = 0; i < w; i++) acc[i] = max_f(acc[i], row[i]);
        else if (kind == 3) for (int i = 0; i < w; i++) acc[i] = min_f(acc[i], row[i]);
        else for (int i = 0; i < w; i++) acc[i] += row[i];
      }
      float* o_row = out + (size_t)o * inner + i0;
      for (int i = 0; i < w; i++) o_row[i] = kind == 0 ? acc[i] / (float)n : acc[i];
    }
  }
}

// args: x out rows cols
void op_softmax(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int rows = a[2], cols = a[3];
  int r0, r1;
  FOR_WORK(rows, r0, r1) {
    for (int r = r0; r < r1; r++) {
      const float* xr = x + (size_t)r * cols;
      float* o = out + (size_t)r * cols;
      float m = xr[0];
      for (int c = 1; c < cols; c++) m = xr[c] > m ? xr[c] : m;
      float s = 0;
      for (int c = 0; c < cols; c++) { o[c] = wt_expf(xr[c] - m); s += o[c]; }
      const float inv = 1.0f / s;
      for (int c = 0; c < cols; c++) o[c] *= inv;
    }
  }
}

// v ranks strictly above w, v seen after w: a larger number, or any number above NaN (NaN ranks
// below every number, the reference's sort order); equal values keep the earlier index first.
INLINE int topk_above(float v, float w) { return v > w || (w != w && v == v); }

// args: x values indices rows n k:  per row of x [rows][n], its k largest values in order and
// their indices.  One pass with the best k kept sorted in the output row itself: after the first
// k elements most are rejected by one comparison with the k-th best (O(n) for k << n).
void op_topk(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* values = PTR(float, a[1]);
  int32_t* indices = PTR(int32_t, a[2]);
  const int rows = a[3], n = a[4], k = a[5];
  int r0, r1;
  FOR_WORK(rows, r0, r1) {
    for (int r = r0; r < r1; r++) {
      const float* xr = x + (size_t)r * n;
      float* vo = values + (size_t)r * k;
      int32_t* io = indices + (size_t)r * k;
      int count = 0;
      for (int i = 0; i < n; i++) {
        const float v = xr[i];
        if (count == k && (k == 0 || !topk_above(v, vo[k - 1]))) continue;
        int j = count < k ? count++ : k - 1;        // the last slot is dropped when full
        while (j > 0 && topk_above(v, vo[j - 1])) { vo[j] = vo[j - 1]; io[j] = io[j - 1]; j--; }
        vo[j] = v;
        io[j] = i;
      }
    }
  }
}
