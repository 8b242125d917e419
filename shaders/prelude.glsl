#version 300 es
// webtensor's shader prelude.  Tensors are RGBA32F textures, flat-packed: element i
// (row-major) sits in texel i/4, component i%4, texels laid out row by row in a
// texture WIDTH texels wide.  For NHWC tensors whose channel count is a multiple of 4
// each texel is 4 consecutive channels of one pixel, the layout convolutions want;
// every other op reads elements through flat indices (stride arithmetic).
precision highp float;
precision highp int;
precision highp sampler2D;
out vec4 outColor;

// NaN by its bit pattern: compilers may fold isnan(v) or v != v away, the bits stay.
bool wt_isnan(float v) { return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u; }
// max/min that propagate NaN, like the numpy reference (x + y is a NaN when either is)
float wt_max(float x, float y) { return wt_isnan(x) || wt_isnan(y) ? x + y : max(x, y); }
float wt_min(float x, float y) { return wt_isnan(x) || wt_isnan(y) ? x + y : min(x, y); }

vec4 texel(sampler2D t, int i) {
  int w = textureSize(t, 0).x;
  return texelFetch(t, ivec2(i % w, i / w), 0);
}
float elem(sampler2D t, int i) { return texel(t, i >> 2)[i & 3]; }
// flat index of this fragment's first output element
int outTexel() { return int(gl_FragCoord.y) * OUT_WIDTH + int(gl_FragCoord.x); }
// (n, y, x, channel) of flat index i in an [n][h][w][c] tensor
ivec4 nhwc(int i, int h, int w, int c) {
  int pix = i / c, ch = i - pix * c;
  int n = pix / (h * w), rem = pix - n * h * w;
  int y = rem / w;
  return ivec4(n, y, rem - y * w, ch);
}
