// Element-wise ops over fi indices: unary (X only) or binary with broadcasting
// (per-input strides over the output's coordinates, 0 where an axis broadcasts).
uniform sampler2DArray X;
#ifdef BINARY
uniform sampler2DArray Y;
#endif
uniform int SHAPE[6];
uniform int XS[6];
uniform int YS[6];
uniform float PARAM;
uniform int SIZE;

float act(float v) {
  if (wt_isnan(v)) return v;      // the NaN rule: NaN in, NaN out (GLSL leaves max/clamp of NaN undefined)
  ACTIVATION
}

vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= SIZE) break;
    int rem = fi, xo = 0, yo = 0;
    for (int d = 5; d >= 0; d--) {
      int c = rem % SHAPE[d];
      rem /= SHAPE[d];
      xo += c * XS[d];
      yo += c * YS[d];
    }
    float x = elem(X, xo);
#ifdef BINARY
    float y = elem(Y, yo);
#else
    float y = 0.0;
#endif
    r[j] = act(OPERATION);
  }
  return r;
}
