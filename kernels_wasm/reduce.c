// Reductions over a middle axis (after the planner merges axes) and softmax.
#include "common.h"

// args: x out outer n inner kind(0 mean, 1 sum, 2 max, 3 min):  out[o][i] = reduce_k x[o][k][i]
void op_reduce(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int outer = a[2], n = a[3], inner = a[4], kind = a[5];
  const int chunks = (inner + 3) / 4;  // split work over (outer x 4-lane chunks)
  int j0, j1;
  FOR_WORK(outer * chunks, j0, j1) {
    for (int j = j0; j < j1; j++) {
      const int o = j / chunks, i0 = (j % chunks) * 4, i1 = MIN(inner, i0 + 4);
      for (int i = i0; i < i1; i++) {
        const float* p = x + (size_t)o * n * inner + i;
        float acc = kind >= 2 ? p[0] : 0.0f;
        for (int k = 0; k < n; k++) {
          float v = p[(size_t)k * inner];
          acc = kind == 2 ? max_f(acc, v) : kind == 3 ? min_f(acc, v) : acc + v;
        }
        out[(size_t)o * inner + i] = kind == 0 ? acc / (float)n : acc;
      }
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
