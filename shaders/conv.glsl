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
  if (wt_isnan(v)) return v;      // the NaN rule: NaN in, NaN out
  ACTIVATION
}

void main() {
  int t = outTexel();
  int base = t * 4;
  if (base >= N * OH * OW * CO) { outColor = vec4(0.0); return; }
#ifdef VEC4
#ifdef OUT_ROWS
  // the output texture has one image row per texture row: no division by the width
  ivec2 fc = ivec2(gl_FragCoord.xy);
  int co = (fc.x % (CO / 4)) * 4, ow = fc.x / (CO / 4), n = fc.y / OH, oh = fc.y - n * OH;
#else
  ivec4 q = nhwc(base, OH, OW, CO);
  int n = q.x, oh = q.y, ow = q.z, co = q.w;
#endif
  vec4 acc = texelFetch(Bias, ivec2(co >> 2, 0), 0);
  for (int kh = 0; kh < KH; kh++) {
    int ih = oh * SH - PT + kh * DH;
    if (ih < 0 || ih >= H) continue;
    for (int kw = 0; kw < KW; kw++) {
      int iw = ow * SW - PL + kw * DW;
      if (iw < 0 || iw >= W) continue;
#ifdef X_ROWS
#define XT(c4) texelFetch(X, ivec2(iw * (C / 4) + (c4), n * H + ih), 0)
#define XE(c) texelFetch(X, ivec2((iw * C + (c)) >> 2, n * H + ih), 0)[(iw * C + (c)) & 3]
#else
      int xb = ((n * H + ih) * W + iw) * (C / 4);
#define XT(c4) texel(X, xb + (c4))
#define XE(c) elem(X, ((n * H + ih) * W + iw) * C + (c))
#endif
#ifdef DEPTHWISE
#ifdef W_ROWS
      acc += XT(co >> 2) * texelFetch(Wt, ivec2(co >> 2, kh * KW + kw), 0);
#else
      acc += XT(co >> 2) * texel(Wt, (kh * KW + kw) * (C / 4) + (co >> 2));
#endif
#else
      int wrow = (kh * KW + kw) * C;
#ifndef C_VEC4
      // input channels not a multiple of 4 (e.g. an RGB stem): one input element at a
      // time, still 4 output channels per fragment
      for (int c = 0; c < C; c++) acc += XE(c) * texelFetch(Wt, ivec2(co >> 2, wrow + c), 0);
#else
      for (int c4 = 0; c4 < C / 4; c4++) {
        vec4 xv = XT(c4);
#ifdef W_ROWS
        int r0 = wrow + c4 * 4;
        acc += xv.x * texelFetch(Wt, ivec2(co >> 2, r0), 0) + xv.y * texelFetch(Wt, ivec2(co >> 2, r0 + 1), 0)
             + xv.z * texelFetch(Wt, ivec2(co >> 2, r0 + 2), 0) + xv.w * texelFetch(Wt, ivec2(co >> 2, r0 + 3), 0);
#else
        int wr = wrow * (CO / 4) + (co >> 2) + c4 * 4 * (CO / 4);
        acc += xv.x * texel(Wt, wr) + xv.y * texel(Wt, wr + CO / 4) + xv.z * texel(Wt, wr + 2 * (CO / 4))
             + xv.w * texel(Wt, wr + 3 * (CO / 4));
#endif
      }
#endif
#endif
#undef XT
#undef XE
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
    ivec4 q = nhwc(fi, OH, OW, CO);
    int n = q.x, oh = q.y, ow = q.z, co = q.w;
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
