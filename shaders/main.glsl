// The main() of shaders that compute one output texel at a time: compute(t) returns
// output texel t (flat index), once for each of this fragment's LAYERS rows.  A shader
// that shares work between the rows defines OWN_MAIN and its own main().
#ifndef OWN_MAIN
void main() {
  int x = int(gl_FragCoord.x), r = firstRow();
  for (int l = 0; l < LAYERS; l++) store(l, compute((r + l) * OUT_WIDTH + x));
}
#endif
