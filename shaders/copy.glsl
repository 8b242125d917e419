// Strided gather: output element i <- source element OFFSET + sum(coord_d * SS[d]).
// Transpose, slice, strided slice, concat / pack / split / pad pieces, casts of layout.
uniform sampler2DArray X;
uniform int SHAPE[6];
uniform int SS[6];
uniform int OFFSET;
uniform int SIZE;
#ifdef BASE
uniform sampler2DArray B;     // the output's previous content (concat and pad write in pieces)
uniform int DS[6];       // where this piece lands: its coordinates -> output fi index
uniform int DOFFSET;
uniform int OUT_SIZE;
#endif

vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
#ifdef BASE
  // every output element: copied from the piece if it falls inside it, else kept
  r = texel(B, t);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= OUT_SIZE) break;
    int rel = fi - DOFFSET, src = OFFSET, inside = 1;
    for (int d = 0; d < 6; d++) {
      if (DS[d] == 0) continue;
      int c = rel / DS[d];
      rel -= c * DS[d];
      if (c < 0 || c >= SHAPE[d]) { inside = 0; break; }
      src += c * SS[d];
    }
    if (inside == 1 && rel == 0) r[j] = elem(X, src);
  }
#else
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= SIZE) break;
    int rem = fi, src = OFFSET;
    for (int d = 5; d >= 0; d--) {
      int c = rem % SHAPE[d];
      rem /= SHAPE[d];
      src += c * SS[d];
    }
    r[j] = elem(X, src);
  }
#endif
  return r;
}
