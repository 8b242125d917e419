// Max / average pooling (NHWC; the average counts real cells only, as TensorFlow does).
uniform sampler2DArray X;

// the real cells of output pixel (oh, ow)'s window: input rows lo.x .. hi.x - 1, columns
// lo.y .. hi.y - 1 (the loops below need no bounds test per tap)
void window_cells(int oh, int ow, out ivec2 lo, out ivec2 hi) {
  ivec2 o = ivec2(oh * SH - PT, ow * SW - PL);
  lo = max(o, ivec2(0));
  hi = min(o + ivec2(KH, KW), ivec2(H, W));
}

#ifdef VEC4
// channels a multiple of 4 and both grids one image row per grid row: 4 channels per fetch.
// The output has CO4 texels a pixel: C / 4, or more where its channels are zero-padded
// (backends/webgl.py GLPlan._padded_pools: those texels are zeros).  The input may be of 2
// channel planes (GLPlan._channel_planes): XH texels a pixel in each, c4 in plane c4 / XH
vec4 compute(int t) {
  int r = t / OUT_WIDTH, x = t - r * OUT_WIDTH;
  int cin4 = C >> 2, c4 = x % CO4, ow = x / CO4, n = r / OH, oh = r - n * OH;
  if (c4 >= cin4) return vec4(0.0);
  ivec2 xq = in_plane(c4, XH);
  int xc = xq.x, xzo = xq.y;
  ivec2 lo, hi;
  window_cells(oh, ow, lo, hi);
  vec4 acc = AVG == 1 ? vec4(0.0) : vec4(-3.402823e38);
  for (int ih = lo.x; ih < hi.x; ih++)
    for (int iw = lo.y; iw < hi.y; iw++) {
#ifdef X_SPLIT
      // the input's grid rows hold X_PR pixels (a small map split for its conv's threads:
      // backends/webgl.py pixel_rows), pixel p in row p / X_PR
      int p = (n * H + ih) * W + iw, xr = p / X_PR, xi = (p - xr * X_PR) * XH + xc;
#else
      int xr = n * H + ih, xi = iw * XH + xc;
#endif
      vec4 v = at_plane(X, xi, xr, xzo);
      acc = AVG == 1 ? acc + v : wt_max4(acc, v);
    }
  return AVG == 1 ? acc / float((hi.x - lo.x) * (hi.y - lo.y)) : acc;
}
#else
vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= N * OH * OW * C) break;
    ivec4 q = nhwc(fi, OH, OW, C);
    int n = q.x, c = q.w;
    ivec2 lo, hi;
    window_cells(q.y, q.z, lo, hi);
    float acc = AVG == 1 ? 0.0 : -3.402823e38;
    for (int ih = lo.x; ih < hi.x; ih++)
      for (int iw = lo.y; iw < hi.y; iw++) {
        float v = elem(X, ((n * H + ih) * W + iw) * C + c);
        acc = AVG == 1 ? acc + v : wt_max(acc, v);
      }
    r[j] = AVG == 1 ? acc / float((hi.x - lo.x) * (hi.y - lo.y)) : acc;
  }
  return r;
}
#endif
