// Convolution / GEMM / depthwise, NHWC, fused epilogue: act(conv + bias [+ residual]).
// Sizes and geometry (N, H, W, C, OH, OW, CO, MULT, KH, SH, PT...) are uniforms; the structure #defines.
// VEC4: the output channel count is a multiple of 4 and the output grid holds whole pixels
// per grid row (an image row, or OUT_PR pixels of one in split maps: SEG).  A fragment
// computes 4 output channels of one pixel in each of its LAYERS grid rows, ROWS rows at a
// time: with ROWS 4 each filter texel is fetched once for all four rows, with ROWS 1 once
// per row (engine().webgl_shared_rows_above; the alternate conformance pass).  The inner
// loop is a vec4 x mat4 product (C_VEC4) or, for input channels not a multiple of 4, reads
// a pixel's channels as a 4-element window of two texels.  Otherwise compute(t) works out
// one output element at a time.
// Channel planes (X_ROWS only; backends/webgl.py GLPlan._channel_planes): a tensor of 2
// planes holds its first half of channel texels in layers 0-3 and the second in layers 4-7,
// XH texels a pixel in each (uniform XP planes; 1 plane: XH = C / 4).  OUT_PLANES: a conv
// writes 2 planes, 4 output channels of each half in each of its 4 rows (8 colour targets),
// so every input texel fetched feeds 8 output channels where it fed 4.
uniform sampler2DArray X;      // input  [N][H][W][C]
uniform sampler2D Wt;          // filter [KH][KW][C][CO] (depthwise: [KH][KW][C*MULT])
uniform sampler2D Bias;        // [CO]
#ifdef RESIDUAL
uniform sampler2DArray R;      // [N][OH][OW][CO]
#endif
#ifdef ALPHA
uniform sampler2D Alpha;       // [CO]
#endif
uniform float PARAM;
#ifdef OUT_PLANES
layout(location = 4) out vec4 out4;
layout(location = 5) out vec4 out5;
layout(location = 6) out vec4 out6;
layout(location = 7) out vec4 out7;
#endif

float act_raw(float v, float alpha) {
  ACTIVATION
}
float act(float v, float alpha) {
  if (wt_isnan(v)) return v;      // the NaN rule: NaN in, NaN out
  return act_raw(v, alpha);
}

#ifdef VEC4
#define OWN_MAIN
// the first element of input pixel iw in input grid row xr (= n * H + ih), and texel i of it
// (XFIRST, XBASE: the pixel's first texel in its plane; XTEXZ: a texel in this fragment's
// input plane, layer offset xzo, where channels are 4-aligned)
#ifdef X_ROWS
#define XELEM0(xr) (iw * C)
#define XTEX(xr, i) at(X, i, xr)
#define XFIRST(xr) (iw * XH)
#define XTEXZ(xr, i) at_plane(X, i, xr, xzo)
#else
#define XELEM0(xr) (((xr) * W + iw) * C)
#define XTEX(xr, i) texel(X, i)
#define XFIRST(xr) ((((xr) * W + iw) * C) >> 2)
#define XTEXZ(xr, i) XTEX(xr, i)
#endif
#define XBASE(xr) ivec4(XFIRST(xr))
// filter texel co4 of row `row` (conv: tap * C + c; depthwise: the tap)
#if defined(W_ROWS)
#define WT(row) at(Wt, co4, row)
#define WT2(row) at(Wt, co4 + cout4, row)
#else
#define WT(row) texel(Wt, (row) * cout4 + co4)
#endif

// RES_UNIFORM: whether there is a residual is the uniform HAS_RES (without, R is another
// texture, never read); ACT_CLAMP: the activation is the uniform ACT_KIND (0
// none, 1 Relu, 2 Relu6).  Layers with and without them share one program.

// bias (in the accumulator already), residual and activation of output grid row r
// (rx, rz: the residual's texel in grid row r and its plane's first layer: main())
vec4 finish(vec4 a, int r, int rx, int rz, vec4 alpha) {
#if defined(RES_UNIFORM)
  if (HAS_RES != 0) a += at_plane(R, rx, r, rz);   // a uniform branch: SwiftShader skips it whole
#elif defined(RESIDUAL) && defined(R_ROWS)
  a += at_plane(R, rx, r, rz);       // the residual has the output's pixel grid
#elif defined(RESIDUAL)
  a += texel(R, r * OUT_WIDTH + rx);
#endif
#if defined(ACT_CLAMP)
  float inf = uintBitsToFloat(0x7f800000u);
  vec4 o = clamp(a, ACT_KIND == 0 ? -inf : 0.0, ACT_KIND == 2 ? 6.0 : inf);
  return mix(o, a, wt_isnan4(a));     // the NaN rule, as a select
#elif defined(HAS_ACT)
  vec4 o = vec4(act_raw(a.x, alpha.x), act_raw(a.y, alpha.y), act_raw(a.z, alpha.z), act_raw(a.w, alpha.w));
  return mix(o, a, wt_isnan4(a));     // the NaN rule, as a select
#else
  return a;
#endif
}

// Written out, branch-free where the shape allows: SwiftShader runs a fragment shader on the
// CPU, 4 fragments per SIMD op, and a branch, a loop or a vec4 array (kept in memory) costs
// as much as the fetches (a 1x1 conv: 11 ms with per-row branches and loops, 4.7 without).
#if ROWS == 4
#define EACH_ROW(S) S(x, a0) S(y, a1) S(z, a2) S(w, a3)
#define EACH_ROW2(S) S(x, a0, e0) S(y, a1, e1) S(z, a2, e2) S(w, a3, e3)
#else
#define EACH_ROW(S) S(x, a0)
#endif
// an input texel, or zeros where the tap falls in the padding: a select, not a branch (and
// never a multiplication by 0, which would turn another pixel's Inf into NaN)
#if defined(NO_PAD)
#define TAP_OK(k) true
#elif defined(NO_HPAD)
#define TAP_OK(k) (ih.k >= 0 && ih.k < H)
#elif defined(SEG)
#define TAP_OK(k) (iw_ok.k && ih.k >= 0 && ih.k < H)
#else
#define TAP_OK(k) (iw_ok && ih.k >= 0 && ih.k < H)
#endif
// (xb: the tap's first texel in each row, hoisted out of the channel loop by hand: the sizes
// are uniforms, and SwiftShader's compiler moves nothing out of a loop)
// (xl, xz: the input grid row's row in its layer and its layer, hoisted out of the channel
// loop too, where at() would work them out per fetch: a 1x1 conv 4-12 % faster)
#ifdef X_ROWS
#define XAT(k, c4) (TAP_OK(k) ? texelFetch(X, ivec3(xb.k + (c4), xl.k, xz.k), 0) : vec4(0.0))
#else
#define XAT(k, c4) (TAP_OK(k) ? XTEX(xr.k, xb.k + (c4)) : vec4(0.0))
#endif

#if !defined(C_VEC4)
// 4 channels of an input pixel from element e of grid row xr on: the two texels they start in
vec4 window4(int xr, int e) {
  int o = e & 3;
  vec4 lo = XTEX(xr, e >> 2), hi = XTEX(xr, (e >> 2) + 1);
  return o == 0 ? lo : o == 1 ? vec4(lo.yzw, hi.x) : o == 2 ? vec4(lo.zw, hi.xy) : vec4(lo.w, hi.xyz);
}
#endif

void main() {
  int x = int(gl_FragCoord.x), r0 = firstRow();
#ifdef OUT_PLANES
  int cout4 = CO >> 3;   // co4 in the first plane, co4 + cout4 (WT2's texel) in the second
#else
  int cout4 = CO >> 2;
#endif
#ifdef SEG
  int co4 = x % cout4, px = x / cout4;
#else
  int co4 = x % cout4, ow = x / cout4;
#endif
  vec4 b = texel(Bias, co4);
#ifdef ALPHA
  vec4 alpha = texel(Alpha, co4);
#else
  vec4 alpha = vec4(0.0);
#endif
#ifdef OUT_PLANES
  vec4 b2 = texel(Bias, co4 + cout4), alpha2 = alpha;
#ifdef ALPHA
  alpha2 = texel(Alpha, co4 + cout4);
#endif
#endif
  // a depthwise conv's input texel in its plane: xc4 of the plane at layer xzo
#ifdef DEPTHWISE
  ivec2 xq = in_plane(co4, XH);
  int xc4 = xq.x, xzo = xq.y;
#else
  const int xzo = 0;
#endif
  // the residual's texel of this fragment's channels: the residual's planes need not be the
  // output's (RH: its texels a pixel in each of its planes; 1 plane: RH = CO / 4)
#ifdef SEG
  int pix = px;
#else
  int pix = ow;
#endif
  ivec2 ra = in_plane(co4, RH);
  int rxa = pix * RH + ra.x, rza = ra.y;
#ifdef OUT_PLANES
  ivec2 rb = in_plane(co4 + cout4, RH);
  int rxb = pix * RH + rb.x, rzb = rb.y;
#endif
#if ROWS == 4
  {
    ivec4 r = ivec4(r0, r0 + 1, r0 + 2, r0 + 3);      // output grid rows n * OH + oh
#else
  for (int g = 0; g < LAYERS; g++) {
    ivec4 r = ivec4(r0 + g);
#endif
    // rows past the tensor compute garbage from whatever the fetches return; nothing reads them
#ifdef SEG
    // a small map's grid rows hold OUT_PR pixels each (backends/webgl.py pixel_rows), so
    // the 4 rows are 4 runs of pixels, each with its own n, oh, ow
    ivec4 pix = r * OUT_PR + px, t = pix / OW, ow = pix - t * OW, n = t / OH, oh = t - n * OH;
#else
    ivec4 n = r / OH, oh = r - n * OH;
#endif
    vec4 a0 = b, a1 = b, a2 = b, a3 = b;
#ifdef OUT_PLANES
    vec4 e0 = b2, e1 = b2, e2 = b2, e3 = b2;
#endif
#if defined(SLIDE) || defined(SLIDE2)
    // the 4 rows consecutive in one image (or past the last row of a batch of 1: garbage,
    // never read), stride 1 (SLIDE) or 2 (SLIDE2) and dilation 1 vertically: output row l
    // reads input rows ih0 + l * SH + kh, so each input row is fetched once per kw for all
    // four (SLIDE: KH + 3 fetches instead of 4 KH; SLIDE2: KH + 6, the even taps reading
    // rows of one parity, the odd taps the other; backends/webgl.py draws SLIDE for depthwise
    // convs, SLIDE2 for 4-channel convs)
    int ih0 = oh.x * SH - PT, xr0 = n.x * H + ih0;
#ifdef DEPTHWISE
#define XC xc4                   // the texel of this fragment's channels in its plane
#define TAP_ROWS(k, v0, v1, v2, v3) { vec4 w = WT((k) * KW + kw); a0 += v0 * w; a1 += v1 * w; a2 += v2 * w; a3 += v3 * w; }
#else
// a conv of 4 input channels, one texel a pixel; C_REAL of them data (an RGB stem's input
// is padded to 4: the zero channel's filter texel is never fetched)
#define XC 0
#if C_REAL == 1
#define MAC(v) v.x * w0
#elif C_REAL == 2
#define MAC(v) v.x * w0 + v.y * w1
#elif C_REAL == 3
#define MAC(v) v.x * w0 + v.y * w1 + v.z * w2
#else
#define MAC(v) v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3
#endif
#define TAP_ROWS(k, v0, v1, v2, v3) { int row = ((k) * KW + kw) * 4; \
    vec4 w0 = WT(row), w1 = C_REAL > 1 ? WT(row + 1) : w0, w2 = C_REAL > 2 ? WT(row + 2) : w0, w3 = C_REAL > 3 ? WT(row + 3) : w0; \
    a0 += MAC(v0); a1 += MAC(v1); a2 += MAC(v2); a3 += MAC(v3); }
#endif
    for (int kw = 0; kw < KW; kw++) {
      int iw = ow * SW - PL + kw * DW;
      bool iw_ok = iw >= 0 && iw < W;
#if defined(NO_PAD)
#define XROW(j) XTEXZ(xr0 + (j), XFIRST(xr0 + (j)) + XC)
#elif defined(NO_HPAD)
#define XROW(j) (ih0 + (j) >= 0 && ih0 + (j) < H ? XTEXZ(xr0 + (j), XFIRST(xr0 + (j)) + XC) : vec4(0.0))
#else
#define XROW(j) (iw_ok && ih0 + (j) >= 0 && ih0 + (j) < H ? XTEXZ(xr0 + (j), XFIRST(xr0 + (j)) + XC) : vec4(0.0))
#endif
#ifdef SLIDE
      vec4 x0 = XROW(0), x1 = XROW(1), x2 = XROW(2);
      for (int kh = 0; kh < KH; kh++) {
        vec4 x3 = XROW(kh + 3);
        TAP_ROWS(kh, x0, x1, x2, x3)
        x0 = x1; x1 = x2; x2 = x3;
      }
#else
      // x: the rows tap kh reads for rows 0-2 (x3 fetched), y: the other parity's for tap kh + 1;
      // after each tap the windows trade places, this one shifted (one tap in the loop body:
      // written out for even and odd taps, the program took twice as long to compile)
      vec4 x0 = XROW(0), x1 = XROW(2), x2 = XROW(4), y0 = XROW(1), y1 = XROW(3), y2 = XROW(5);
      for (int kh = 0; kh < KH; kh++) {
        vec4 x3 = XROW(kh + 6);
        TAP_ROWS(kh, x0, x1, x2, x3)
        x0 = y0; y0 = x1; x1 = y1; y1 = x2; x2 = y2; y2 = x3;
      }
#endif
#undef XROW
    }
#else
    for (int kh = 0; kh < KH; kh++) {
      ivec4 ih = oh * SH - PT + kh * DH;
      ivec4 xr = n * H + ih;
      for (int kw = 0; kw < KW; kw++) {
#ifdef SEG
        // the input's grid rows hold X_PR pixels: pixel p is in row p / X_PR
        ivec4 iw = ow * SW - PL + kw * DW;
        bvec4 iw_ok = bvec4(uvec4(greaterThanEqual(iw, ivec4(0))) & uvec4(lessThan(iw, ivec4(W))));
        ivec4 pin = (n * H + ih) * W + iw, xr = pin / X_PR;
        ivec4 xb = (pin - xr * X_PR) * XH, xl = xr >> 2, xz = (xr & 3) + xzo;
#else
        int iw = ow * SW - PL + kw * DW;
#if !defined(NO_PAD) && !defined(NO_HPAD)
        bool iw_ok = iw >= 0 && iw < W;
#endif
        ivec4 xb = XBASE(xr), xl = xr >> 2, xz = (xr & 3) + xzo;
#endif
        int tap = kh * KW + kw;
#if defined(DEPTHWISE)
        vec4 w = WT(tap);
#define ROW_ACC(k, a) a += XAT(k, xc4) * w;
        EACH_ROW(ROW_ACC)
#elif defined(C_VEC4)
        // the input's planes one after the other (xz: the plane's layers)
        for (int pl = 0, row = tap * C; pl < XP; pl++, xz += 4) {
          for (int c4 = 0; c4 < XH; c4++, row += 4) {
            vec4 w0 = WT(row), w1 = WT(row + 1), w2 = WT(row + 2), w3 = WT(row + 3);
#ifdef OUT_PLANES
            vec4 u0 = WT2(row), u1 = WT2(row + 1), u2 = WT2(row + 2), u3 = WT2(row + 3);
#define ROW_ACC(k, a, e) { vec4 v = XAT(k, c4); a += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3; \
                           e += v.x * u0 + v.y * u1 + v.z * u2 + v.w * u3; }
            EACH_ROW2(ROW_ACC)
#else
#define ROW_ACC(k, a) { vec4 v = XAT(k, c4); a += v.x * w0 + v.y * w1 + v.z * w2 + v.w * w3; }
            EACH_ROW(ROW_ACC)
#endif
          }
        }
#elif defined(STEM_C)
        // an RGB (or gray, or 2-channel) stem: one window of C channels, no loop
        vec4 w0 = WT(tap * C), w1 = C > 1 ? WT(tap * C + 1) : w0, w2 = C > 2 ? WT(tap * C + 2) : w0;
#if STEM_C == 3
#define ROW_ACC(k, a) { vec4 v = TAP_OK(k) ? window4(xr.k, XELEM0(xr.k)) : vec4(0.0); a += v.x * w0 + v.y * w1 + v.z * w2; }
#elif STEM_C == 2
#define ROW_ACC(k, a) { vec4 v = TAP_OK(k) ? window4(xr.k, XELEM0(xr.k)) : vec4(0.0); a += v.x * w0 + v.y * w1; }
#else
#define ROW_ACC(k, a) { vec4 v = TAP_OK(k) ? window4(xr.k, XELEM0(xr.k)) : vec4(0.0); a += v.x * w0; }
#endif
        EACH_ROW(ROW_ACC)
#else
        for (int c4 = 0, cin4 = (C + 3) >> 2; c4 < cin4; c4++) {
          int row = tap * C + c4 * 4, cnt = min(4, C - c4 * 4);
          vec4 w0 = WT(row), w1 = cnt > 1 ? WT(row + 1) : w0, w2 = cnt > 2 ? WT(row + 2) : w0, w3 = cnt > 3 ? WT(row + 3) : w0;
          // elements past the pixel's channels are never multiplied (they may be another pixel's NaN)
#define ROW_ACC(k, a) { vec4 v = TAP_OK(k) ? window4(xr.k, XELEM0(xr.k) + c4 * 4) : vec4(0.0); a += v.x * w0; if (cnt > 1) a += v.y * w1; if (cnt > 2) a += v.z * w2; if (cnt > 3) a += v.w * w3; }
          EACH_ROW(ROW_ACC)
        }
#endif
#undef ROW_ACC
      }
    }
#endif
#if ROWS == 4
    out0 = finish(a0, r0, rxa, rza, alpha);
    out1 = finish(a1, r0 + 1, rxa, rza, alpha);
    out2 = finish(a2, r0 + 2, rxa, rza, alpha);
    out3 = finish(a3, r0 + 3, rxa, rza, alpha);
#ifdef OUT_PLANES
    out4 = finish(e0, r0, rxb, rzb, alpha2);
    out5 = finish(e1, r0 + 1, rxb, rzb, alpha2);
    out6 = finish(e2, r0 + 2, rxb, rzb, alpha2);
    out7 = finish(e3, r0 + 3, rxb, rzb, alpha2);
#endif
#else
    store(g, finish(a0, r0 + g, rxa, rza, alpha));
#endif
  }
}
#else
vec4 compute(int t) {
  int base = t * 4;
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
  return r;
}
#endif
