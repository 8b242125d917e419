// Max / average pooling (NHWC; the average counts real cells only, as TensorFlow does).
uniform sampler2D X;

void main() {
  int base = outTexel() * 4;
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
  outColor = r;
}
