// Reductions out[o][i] = reduce_k x[o][k][i] (KIND 0 mean, 1 sum, 2 max, 3 min),
// softmax over rows (SOFTMAX), fill (FILL) and casts (CAST).
uniform sampler2DArray X;
uniform float VALUE;

vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= SIZE) break;
#if defined(FILL)
    r[j] = VALUE;
#elif defined(CAST)
    float v = elem(X, fi);
    r[j] = CAST == 1 ? trunc(v) : CAST == 2 ? (v != 0.0 ? 1.0 : 0.0) : v;
#elif defined(SOFTMAX)
    int row = fi / COLS;
    float m = -3.402823e38;
    for (int k = 0; k < COLS; k++) m = wt_max(m, elem(X, row * COLS + k));
    float s = 0.0;
    for (int k = 0; k < COLS; k++) s += exp(elem(X, row * COLS + k) - m);
    r[j] = exp(elem(X, fi) - m) / s;
#else
    int o = fi / INNER, i = fi - o * INNER;
    float acc = KIND >= 2 ? elem(X, o * RN * INNER + i) : 0.0;
    for (int k = 0; k < RN; k++) {
      float v = elem(X, (o * RN + k) * INNER + i);
      acc = KIND == 2 ? wt_max(acc, v) : KIND == 3 ? wt_min(acc, v) : acc + v;
    }
    r[j] = KIND == 0 ? acc / float(RN) : acc;
#endif
  }
  return r;
}
