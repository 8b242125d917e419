// The main() of shaders that compute one output texel at a time: compute(t) returns
// output texel t (flat index), once for each of this fragment's LAYERS rows that the
// grid has (a grid of 1 row, a pooled or dense vector, computed 3 rows of nothing in each
// fragment: MobileNetV2's global average pool 2 ms).  A shader that shares work between
// the rows defines OWN_MAIN and its own main().
#ifndef OWN_MAIN
void main() {
  int x = int(gl_FragCoord.x), r = firstRow();
  for (int l = 0; l < LAYERS; l++) store(l, r + l < OUT_ROWS ? compute((r + l) * OUT_WIDTH + x) : vec4(0.0));
}
#endif
