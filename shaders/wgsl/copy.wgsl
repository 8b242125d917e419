// Strided copy of 32-bit words (bit-exact: transpose, slice, concat / pack / split /
// pad pieces): dst[ds . coord] = src[ss . coord] over a 6-d shape.
// p: n, src, dst, shape[6] (3..8), ss[6] (9..14), ds[6] (15..20)
fn body(i: i32) {
  var rem = i;
  var so = p[1];
  var dof = p[2];
  for (var d = 5; d >= 0; d--) {
    let c = rem % p[3 + d];
    rem = rem / p[3 + d];
    so += c * p[9 + d];
    dof += c * p[15 + d];
  }
  buf[dof] = buf[so];
}
