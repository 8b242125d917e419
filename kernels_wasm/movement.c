// Data movement: strided copy (transpose, slice, concat, pack, split, pad interior...) and resize.
#include "common.h"

// Strided copy of `esize`-byte elements.
// args: src dst  shape[6]  src_strides[6]  dst_strides[6]   (in elements; strides may be negative)
INLINE void copy_strided(const int32_t* a, int tid, int nthreads, const int esize) {
  const char* src = PTR(const char, a[0]);
  char* dst = PTR(char, a[1]);
  const int32_t *shape = a + 2, *ss = a + 8, *ds = a + 14;
  const int inner = shape[5];
  const int outer = shape[0] * shape[1] * shape[2] * shape[3] * shape[4];
  int r0, r1;
  FOR_WORK(outer, r0, r1) {
    for (int r = r0; r < r1; r++) {
      ptrdiff_t so, dof;
      outer_offsets(r, shape, ss, ds, &so, &dof);
      const char* s = src + so * esize;
      char* o = dst + dof * esize;
      if (ss[5] == 1 && ds[5] == 1) {
        __builtin_memcpy(o, s, (size_t)inner * esize);
      } else if (esize == 4) {
        for (int i = 0; i < inner; i++) ((int32_t*)o)[(ptrdiff_t)i * ds[5]] = ((const int32_t*)s)[(ptrdiff_t)i * ss[5]];
      } else {
        for (int i = 0; i < inner; i++) o[(ptrdiff_t)i * ds[5]] = s[(ptrdiff_t)i * ss[5]];
      }
    }
  }
}

void op_copy(const int32_t* a, int tid, int nthreads) { copy_strided(a, tid, nthreads, 4); }
void op_copy8(const int32_t* a, int tid, int nthreads) { copy_strided(a, tid, nthreads, 1); }

// Source coordinate of output index `d` along one axis, as TF computes it (in double,
// like the numpy reference).
INLINE double resize_src(int d, double scale, int half_pixel) {
  return half_pixel ? ((double)d + 0.5) * scale - 0.5 : (double)d * scale;
}

// args: x out  N H W C  OH OW  mode(0 bilinear, 1 nearest) align_corners half_pixel
void op_resize(const int32_t* a, int tid, int nthreads) {
  const float* x = PTR(const float, a[0]);
  float* out = PTR(float, a[1]);
  const int N = a[2], H = a[3], W = a[4], C = a[5], OH = a[6], OW = a[7];
  const int nearest = a[8], align = a[9], half = a[10];
  const double sy = (align && OH > 1) ? (double)(H - 1) / (OH - 1) : (double)H / OH;
  const double sx = (align && OW > 1) ? (double)(W - 1) / (OW - 1) : (double)W / OW;
  int r0, r1;
  FOR_WORK(N * OH, r0, r1) {
    for (int row = r0; row < r1; row++) {
      const int n = row / OH, oh = row % OH;
      const float* xn = x + (size_t)n * H * W * C;
      float* o = out + (size_t)row * OW * C;
      if (nearest) {
        double fy = align ? __builtin_floor(oh * sy + 0.5) : half ? __builtin_floor((oh + 0.5) * sy) : __builtin_floor(oh * sy);
        int iy = (int)MIN(MAX(fy, 0.0), (double)(H - 1));
        for (int ow = 0; ow < OW; ow++) {
          double fx = align ? __builtin_floor(ow * sx + 0.5) : half ? __builtin_floor((ow + 0.5) * sx) : __builtin_floor(ow * sx);
          int ix = (int)MIN(MAX(fx, 0.0), (double)(W - 1));
          __builtin_memcpy(o + (size_t)ow * C, xn + ((size_t)iy * W + ix) * C, (size_t)C * 4);
        }
        continue;
      }
      const double srcy = resize_src(oh, sy, half);
      const double fly = __builtin_floor(srcy);
      const int y0 = (int)MIN(MAX(fly, 0.0), (double)(H - 1));
      const int y1 = (int)MIN(MAX(half ? __builtin_ceil(srcy) : fly + 1, 0.0), (double)(H - 1));
      const float wy = (float)(srcy - fly);
      const float* top = xn + (size_t)y0 * W * C;
      const float* bot = xn + (size_t)y1 * W * C;
      for (int ow = 0; ow < OW; ow++) {
        const double srcx = resize_src(ow, sx, half);
        const double flx = __builtin_floor(srcx);
        const int x0 = (int)MIN(MAX(flx, 0.0), (double)(W - 1));
        const int x1 = (int)MIN(MAX(half ? __builtin_ceil(srcx) : flx + 1, 0.0), (double)(W - 1));
        const float wx = (float)(srcx - flx);
        const float *tl = top + (size_t)x0 * C, *tr = top + (size_t)x1 * C;
        const float *bl = bot + (size_t)x0 * C, *br = bot + (size_t)x1 * C;
        float* oc = o + (size_t)ow * C;
        for (int c = 0; c < C; c++) {
          float t = tl[c] + (tr[c] - tl[c]) * wx;
          float b = bl[c] + (br[c] - bl[c]) * wx;
          oc[c] = t + (b - t) * wy;
        }
      }
    }
  }
}
