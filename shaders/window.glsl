// Max / average pooling (NHWC; the average counts real cells only, as TensorFlow does).
uniform sampler2DArray X;

#ifdef VEC4
// channels a multiple of 4 and both grids one image row per grid row: 4 channels per fetch
vec4 compute(int t) {
  int r = t / OUT_WIDTH, x = t - r * OUT_WIDTH;
  int c4 = x % (C / 4), ow = x / (C / 4), n = r / OH, oh = r - n * OH;
  vec4 acc = AVG == 1 ? vec4(0.0) : vec4(-3.402823e38);
  float count = 0.0;
  for (int kh = 0; kh < KH; kh++) {
    int ih = oh * SH - PT + kh;
    if (ih < 0 || ih >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      int iw = ow * SW - PL + kw;
      if (iw < 0 || iw >= W) continue;
      vec4 v = at(X, iw * (C / 4) + c4, n * H + ih);
      acc = AVG == 1 ? acc + v : wt_max4(acc, v);
      count += 1.0;
    }
  }
  return AVG == 1 ? acc / count : acc;
}
#else
vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= N * OH * OW * C) break;
    ivec4 q = nhwc(fi, OH, OW, C);
    int n = q.x, oh = q.y, ow = q.z, c = q.w;
    float acc = AVG == 1 ? 0.0 : -3.402823e38;
    float count = 0.0;
    for (int kh = 0; kh < KH; kh++) {
      int ih = oh * SH - PT + kh;
      if (ih < 0 || ih >= H) continue;
      for (int kw = 0; kw < KW; kw++) {
        int iw = ow * SW - PL + kw;
        if (iw < 0 || iw >= W) continue;
        float v = elem(X, ((n * H + ih) * W + iw) * C + c);
        acc = AVG == 1 ? acc + v : wt_max(acc, v);
        count += 1.0;
      }
    }
    r[j] = AVG == 1 ? acc / count : acc;
  }
  return r;
}
#endif
