// Bilinear / nearest resize with TensorFlow's coordinate rules, NHWC.
// p: n, x, out, N, H, W, C, OH, OW, nearest, align, half, scale_y (f32 bits), scale_x
fn body(i: i32) {
  let H = p[4]; let W = p[5]; let C = p[6]; let OH = p[7]; let OW = p[8];
  let al = p[10] == 1;
  let hp = p[11] == 1;
  let sy_ = pf(12);
  let sx_ = pf(13);
  let c = i % C;
  let pix = i / C;
  let ow = pix % OW;
  let oh = (pix / OW) % OH;
  let n = pix / (OW * OH);
  if (p[9] == 1) {
    var fy = floor(f32(oh) * sy_);
    var fx = floor(f32(ow) * sx_);
    if (al) { fy = floor(f32(oh) * sy_ + 0.5); fx = floor(f32(ow) * sx_ + 0.5); }
    else if (hp) { fy = floor((f32(oh) + 0.5) * sy_); fx = floor((f32(ow) + 0.5) * sx_); }
    let iy = i32(clamp(fy, 0.0, f32(H - 1)));
    let ix = i32(clamp(fx, 0.0, f32(W - 1)));
    st(p[2] + i, ld(p[1] + ((n * H + iy) * W + ix) * C + c));
    return;
  }
  var sy = f32(oh) * sy_;
  var sx = f32(ow) * sx_;
  if (hp) { sy = (f32(oh) + 0.5) * sy_ - 0.5; sx = (f32(ow) + 0.5) * sx_ - 0.5; }
  let fly = floor(sy);
  let flx = floor(sx);
  let y0 = i32(clamp(fly, 0.0, f32(H - 1)));
  let x0 = i32(clamp(flx, 0.0, f32(W - 1)));
  var y1f = fly + 1.0;
  var x1f = flx + 1.0;
  if (hp) { y1f = ceil(sy); x1f = ceil(sx); }
  let y1 = i32(clamp(y1f, 0.0, f32(H - 1)));
  let x1 = i32(clamp(x1f, 0.0, f32(W - 1)));
  let wy = sy - fly;
  let wx = sx - flx;
  let r0 = p[1] + (n * H + y0) * W * C + c;
  let r1 = p[1] + (n * H + y1) * W * C + c;
  let tl = ld(r0 + x0 * C); let tr = ld(r0 + x1 * C);
  let bl = ld(r1 + x0 * C); let br = ld(r1 + x1 * C);
  let top = tl + (tr - tl) * wx;
  let bot = bl + (br - bl) * wx;
  st(p[2] + i, top + (bot - top) * wy);
}
