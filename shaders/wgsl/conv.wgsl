// Convolution / GEMM / depthwise, NHWC, with its fused epilogue:
// out = act(conv(x, w) + bias [+ residual]).  Filters in their logical layouts:
// [KH][KW][C][CO], depthwise [KH][KW][C][MULT] (output channel c * MULT + m).
// One item computes 4 consecutive output channels of one pixel.
// p: n, x, w, bias, out, residual (-1: none), alpha (-1: none), N, H, W, C, OH, OW, CO,
//    KH, KW, SH, SW, DH, DW, PT, PL, mult (0: a regular conv), param (f32 bits)
fn body(i: i32) {
  let H = p[8]; let W = p[9]; let C = p[10]; let OH = p[11]; let OW = p[12]; let CO = p[13];
  let KH = p[14]; let KW = p[15]; let mult = p[22];
  let groups = (CO + 3) / 4;
  let co = (i % groups) * 4;
  let pix = i / groups;
  let ow = pix % OW;
  let oh = (pix / OW) % OH;
  let n = pix / (OW * OH);
  let full = co + 3 < CO;
  var acc = vec4<f32>(0.0);
  for (var kh = 0; kh < KH; kh++) {
    let ih = oh * p[16] - p[20] + kh * p[18];
    if (ih < 0 || ih >= H) { continue; }
    for (var kw = 0; kw < KW; kw++) {
      let iw = ow * p[17] - p[21] + kw * p[19];
      if (iw < 0 || iw >= W) { continue; }
      let xb = p[1] + ((n * H + ih) * W + iw) * C;
      let tap = kh * KW + kw;
      if (mult > 0) {
        let wb = p[2] + tap * CO + co;
        for (var j = 0; j < 4; j++) {
          if (co + j < CO) { acc[j] += ld(xb + (co + j) / mult) * ld(wb + j); }
        }
      } else {
        var wr = p[2] + tap * C * CO + co;
        for (var c = 0; c < C; c++) {
          let xv = ld(xb + c);
          if (full) {
            acc += xv * vec4<f32>(ld(wr), ld(wr + 1), ld(wr + 2), ld(wr + 3));
          } else {
            for (var j = 0; j < 4; j++) {
              if (co + j < CO) { acc[j] += xv * ld(wr + j); }
            }
          }
          wr += CO;
        }
      }
    }
  }
  let ob = pix * CO + co;
  for (var j = 0; j < 4; j++) {
    if (co + j >= CO) { break; }
    var v = acc[j] + ld(p[3] + co + j);
    if (p[5] >= 0) { v += ld(p[5] + ob + j); }
    var alpha = 0.0;
    if (p[6] >= 0) { alpha = ld(p[6] + co + j); }
    st(p[4] + ob + j, act(v, alpha, pf(23)));
  }
}
