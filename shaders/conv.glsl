// Convolution / GEMM / depthwise, NHWC, fused epilogue: act(conv + bias [+ residual]).
// Static shapes are #defines (a program per shape).  VEC4: channel counts are multiples
// of 4, so an output texel is 4 output channels of one pixel and the inner loop is a
// vec4 x mat4 product; otherwise every component is computed on its own.
uniform sampler2D X;      // input  [N][H][W][C]
uniform sampler2D Wt;     // filter [KH][KW][C][CO] (depthwise: [KH][KW][C*MULT])
uniform sampler2D Bias;   // [CO]
#ifdef RESIDUAL
uniform sampler2D R;      // [N][OH][OW][CO]
#endif
#ifdef ALPHA
uniform sampler2D Alpha;  // [CO]
#endif
uniform float PARAM;

float act(float v, float alpha) {
  ACTIVATION
}

void main() {
  int t = outTexel();
  int base = t * 4;
  if (base >= N * OH * OW * CO) { outColor = vec4(0.0); return; }
#ifdef VEC4
  int pix = base / CO, co = base - pix * CO;
  int n = pix / (OH * OW), rem = pix - n * OH * OW;
  int oh = rem / OW, ow = rem - oh * OW;
  vec4 acc = texel(Bias, co >> 2);
  for (int kh = 0; kh < KH; kh++) {
    int ih = oh * SH - PT + kh * DH;
    if (ih < 0 || ih >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      int iw = ow * SW - PL + kw * DW;
      if (iw < 0 || iw >= W) continue;
      int xb = ((n * H + ih) * W + iw) * (C / 4);
#ifdef DEPTHWISE
      acc += texel(X, xb + (co >> 2)) * texel(Wt, (kh * KW + kw) * (C / 4) + (co >> 2));
#else
      int wb = (kh * KW + kw) * C * (CO / 4) + (co >> 2);
      for (int c4 = 0; c4 < C / 4; c4++) {
        vec4 xv = texel(X, xb + c4);
        int wr = wb + c4 * 4 * (CO / 4);
        acc += xv.x * texel(Wt, wr) + xv.y * texel(Wt, wr + CO / 4) + xv.z * texel(Wt, wr + 2 * (CO / 4))
             + xv.w * texel(Wt, wr + 3 * (CO / 4));
      }
#endif
    }
  }
#ifdef RESIDUAL
  acc += texel(R, t);
#endif
  vec4 r;
  for (int j = 0; j < 4; j++) {
#ifdef ALPHA
    r[j] = act(acc[j], elem(Alpha, co + j));
#else
    r[j] = act(acc[j], 0.0);
#endif
  }
  outColor = r;
#else
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= N * OH * OW * CO) break;
    int pix = fi / CO, co = fi - pix * CO;
    int n = pix / (OH * OW), rem = pix - n * OH * OW;
    int oh = rem / OW, ow = rem - oh * OW;
    float acc = elem(Bias, co);
    for (int kh = 0; kh < KH; kh++) {
      int ih = oh * SH - PT + kh * DH;
      if (ih < 0 || ih >= H) continue;
      for (int kw = 0; kw < KW; kw++) {
        int iw = ow * SW - PL + kw * DW;
        if (iw < 0 || iw >= W) continue;
        int xb = ((n * H + ih) * W + iw) * C;
#ifdef DEPTHWISE
        acc += elem(X, xb + co / MULT) * elem(Wt, (kh * KW + kw) * CO + co);
#else
        int wb = (kh * KW + kw) * C * CO + co;
        for (int c = 0; c < C; c++) acc += elem(X, xb + c) * elem(Wt, wb + c * CO);
#endif
      }
    }
#ifdef RESIDUAL
    acc += elem(R, fi);
#endif
#ifdef ALPHA
    r[j] = act(acc, elem(Alpha, co));
#else
    r[j] = act(acc, 0.0);
#endif
  }
  outColor = r;
#endif
}
