// Bilinear / nearest resize with TensorFlow's coordinate rules (align_corners,
// half_pixel_centers), NHWC.
uniform sampler2DArray X;
uniform float SCALE_Y;
uniform float SCALE_X;

vec4 compute(int t) {
  int base = t * 4;
  vec4 r = vec4(0.0);
  for (int j = 0; j < 4; j++) {
    int fi = base + j;
    if (fi >= N * OH * OW * C) break;
    ivec4 q = nhwc(fi, OH, OW, C);
    int n = q.x, oh = q.y, ow = q.z, c = q.w;
#if NEAREST == 1
    float fy = ALIGN == 1 ? floor(float(oh) * SCALE_Y + 0.5) : HALF == 1 ? floor((float(oh) + 0.5) * SCALE_Y) : floor(float(oh) * SCALE_Y);
    float fx = ALIGN == 1 ? floor(float(ow) * SCALE_X + 0.5) : HALF == 1 ? floor((float(ow) + 0.5) * SCALE_X) : floor(float(ow) * SCALE_X);
    int iy = int(clamp(fy, 0.0, float(H - 1))), ix = int(clamp(fx, 0.0, float(W - 1)));
    r[j] = elem(X, ((n * H + iy) * W + ix) * C + c);
#else
    float sy = HALF == 1 ? (float(oh) + 0.5) * SCALE_Y - 0.5 : float(oh) * SCALE_Y;
    float sx = HALF == 1 ? (float(ow) + 0.5) * SCALE_X - 0.5 : float(ow) * SCALE_X;
    float fly = floor(sy), flx = floor(sx);
    int y0 = int(clamp(fly, 0.0, float(H - 1))), x0 = int(clamp(flx, 0.0, float(W - 1)));
    int y1 = int(clamp(HALF == 1 ? ceil(sy) : fly + 1.0, 0.0, float(H - 1)));
    int x1 = int(clamp(HALF == 1 ? ceil(sx) : flx + 1.0, 0.0, float(W - 1)));
    float wy = sy - fly, wx = sx - flx;
    int row0 = (n * H + y0) * W, row1 = (n * H + y1) * W;
    float tl = elem(X, (row0 + x0) * C + c), tr = elem(X, (row0 + x1) * C + c);
    float bl = elem(X, (row1 + x0) * C + c), br = elem(X, (row1 + x1) * C + c);
    float top = tl + (tr - tl) * wx, bot = bl + (br - bl) * wx;
    r[j] = top + (bot - top) * wy;
#endif
  }
  return r;
}
