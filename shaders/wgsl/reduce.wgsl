// KIND 0..3: out[o][i] = mean / sum / max / min over k of x[o][k][i]
//   p: n, x, out, rn, inner  (one item per output element)
// KIND 4: softmax over rows of COLS   p: rows, x, out, cols  (one item per row)
// KIND 5: fill                        p: n, out, bits
// KIND 6: cast                        p: n, x, out, to (0 float32, 1 int32, 2 bool), from_float
fn body(i: i32) {
  if (KIND <= 3) {
    let o = i / p[4];
    let j = i - o * p[4];
    let rn = p[3];
    let base = o * rn * p[4] + j + p[1];
    var acc = 0.0;
    if (KIND >= 2) { acc = ld(base); }
    for (var k = 0; k < rn; k++) {
      let v = ld(base + k * p[4]);
      if (KIND == 2) { acc = wt_max(acc, v); } else if (KIND == 3) { acc = wt_min(acc, v); } else { acc = acc + v; }
    }
    if (KIND == 0) { acc = acc / f32(rn); }
    st(p[2] + i, acc);
  } else if (KIND == 4) {
    let cols = p[3];
    let x = p[1] + i * cols;
    let o = p[2] + i * cols;
    var m = -3.402823e38;
    for (var k = 0; k < cols; k++) { m = wt_max(m, ld(x + k)); }
    var s = 0.0;
    for (var k = 0; k < cols; k++) { s += exp(ld(x + k) - m); }
    for (var k = 0; k < cols; k++) { st(o + k, exp(ld(x + k) - m) / s); }
  } else if (KIND == 5) {
    buf[p[1] + i] = bitcast<u32>(p[2]);
  } else {
    let x = p[1] + i;
    let o = p[2] + i;
    if (p[4] == 0) {                              // from int32 / bool
      let v = ldi(x);
      if (p[3] == 0) { st(o, f32(v)); } else { buf[o] = u32(v != 0); }
    } else {                                      // from float32
      let v = ld(x);
      if (p[3] == 2) {
        // nonzero bits but the sign's: NaN and +-Inf are true, +-0 false, as in TF (v != 0.0
        // was false for NaN on SwiftShader's WebGPU: a compiler may assume no NaN)
        buf[o] = u32((bitcast<u32>(v) & 0x7fffffffu) != 0u);
      } else if (wt_isnan(v)) {
        buf[o] = 0u;
      } else if (v >= 2147483520.0) {
        buf[o] = bitcast<u32>(2147483647i);
      } else if (v <= -2147483648.0) {
        buf[o] = 0x80000000u;
      } else {
        buf[o] = bitcast<u32>(i32(v));            // truncation toward zero
      }
    }
  }
}
