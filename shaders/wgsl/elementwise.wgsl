// Element-wise unary or binary (OPERATION over x, y) with broadcasting: per-operand
// element strides over the output's 6-d coordinates (0 where an axis broadcasts).
// p: n, x, y, out, param, shape[6] (5..10), xs[6] (11..16), ys[6] (17..22)
fn body(i: i32) {
  var rem = i;
  var xo = p[1];
  var yo = p[2];
  for (var d = 5; d >= 0; d--) {
    let c = rem % p[5 + d];
    rem = rem / p[5 + d];
    xo += c * p[11 + d];
    yo += c * p[17 + d];
  }
  let x = ld(xo);
  let y = ld(yo);
  st(p[3] + i, act(OPERATION, 0.0, pf(4)));
}
