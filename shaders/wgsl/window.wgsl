// Max / average pooling, NHWC (the average counts real cells only, as TensorFlow does).
// p: n, x, out, N, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, avg
fn body(i: i32) {
  let H = p[4]; let W = p[5]; let C = p[6]; let OH = p[7]; let OW = p[8];
  let c = i % C;
  let pix = i / C;
  let ow = pix % OW;
  let oh = (pix / OW) % OH;
  let n = pix / (OW * OH);
  let avg = p[15] == 1;
  var acc = -3.402823e38;
  if (avg) { acc = 0.0; }
  var count = 0.0;
  for (var kh = 0; kh < p[9]; kh++) {
    let ih = oh * p[11] - p[13] + kh;
    if (ih < 0 || ih >= H) { continue; }
    for (var kw = 0; kw < p[10]; kw++) {
      let iw = ow * p[12] - p[14] + kw;
      if (iw < 0 || iw >= W) { continue; }
      let v = ld(p[1] + ((n * H + ih) * W + iw) * C + c);
      if (avg) { acc += v; } else { acc = wt_max(acc, v); }
      count += 1.0;
    }
  }
  if (avg) { acc = acc / count; }
  st(p[2] + i, acc);
}
