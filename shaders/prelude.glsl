#version 300 es
// webtensor's shader prelude.  Tensors are RGBA32F textures, flat-packed: element i
// (row-major) sits in texel i/4, component i%4, texels laid out row by row in a grid
// WIDTH texels wide.  For NHWC tensors whose channel count is a multiple of 4 each
// texel is 4 consecutive channels of one pixel, the layout convolutions want; every
// other op reads elements through flat indices (stride arithmetic).
// The grid is stored as a 2D array texture of LAYERS layers: grid row r is row
// r / LAYERS of layer r % LAYERS, and a fragment writes the LAYERS grid rows
// LAYERS * y .. LAYERS * y + LAYERS - 1 to its LAYERS colour targets, so work a
// shader shares between rows (a conv's weights) is fetched once for all of them.
// (Tried: 1 layer for grids of few rows, whose 4x fewer fragments leave SwiftShader's
// threads idle; end to end no better, and every fetch then had to ask the layer count.)
precision highp float;
precision highp int;
precision highp sampler2DArray;
precision highp sampler2D;
#define LAYERS 4               // webgl_runtime.js's LAYERS
uniform int OUT_WIDTH;         // the output grid's width in texels (set by the runtime)
uniform int OUT_ROWS;          // ... and its rows (those of the last fragment row past it hold nothing)
layout(location = 0) out vec4 out0;
layout(location = 1) out vec4 out1;
layout(location = 2) out vec4 out2;
layout(location = 3) out vec4 out3;

// NaN by its bit pattern: compilers may fold isnan(v) or v != v away, the bits stay.
bool wt_isnan(float v) { return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u; }
// max/min that propagate NaN, like the numpy reference (x + y is a NaN when either is)
float wt_max(float x, float y) { return wt_isnan(x) || wt_isnan(y) ? x + y : max(x, y); }
float wt_min(float x, float y) { return wt_isnan(x) || wt_isnan(y) ? x + y : min(x, y); }
bvec4 wt_isnan4(vec4 v) { return greaterThan(floatBitsToUint(v) & 0x7fffffffu, uvec4(0x7f800000u)); }
vec4 wt_max4(vec4 x, vec4 y) { return mix(max(x, y), x + y, bvec4(uvec4(wt_isnan4(x)) | uvec4(wt_isnan4(y)))); }

// texel (x, grid row r) of a tensor (LAYERS is 4: r >> 2, r & 3; r is never negative), in
// the channel plane whose first layer is zo (0, or LAYERS: the second of a tensor's 2
// planes, backends/webgl.py GLPlan._channel_planes)
vec4 at_plane(sampler2DArray t, int x, int r, int zo) { return texelFetch(t, ivec3(x, r >> 2, (r & 3) + zo), 0); }
vec4 at(sampler2DArray t, int x, int r) { return at_plane(t, x, r, 0); }
// channel texel c4 of a pixel stored h texels a plane: its texel in its plane, and that
// plane's first layer (1 plane: h is the pixel's texels, and c4 stays in layer 0's plane)
ivec2 in_plane(int c4, int h) { int p = c4 >= h ? 1 : 0; return ivec2(c4 - p * h, p * LAYERS); }
vec4 texel(sampler2DArray t, int i) {
  int w = textureSize(t, 0).x, r = i / w;
  return at(t, i - r * w, r);
}
float elem(sampler2DArray t, int i) { return texel(t, i >> 2)[i & 3]; }
// the same for a weight texture (plain 2D: grid row r is texture row r)
vec4 at(sampler2D t, int x, int r) { return texelFetch(t, ivec2(x, r), 0); }
vec4 texel(sampler2D t, int i) {
  int w = textureSize(t, 0).x, r = i / w;
  return at(t, i - r * w, r);
}
float elem(sampler2D t, int i) { return texel(t, i >> 2)[i & 3]; }
// the grid row of this fragment's first output texel
int firstRow() { return int(gl_FragCoord.y) * LAYERS; }
void store(int l, vec4 v) {
  if (l == 0) out0 = v; else if (l == 1) out1 = v; else if (l == 2) out2 = v; else out3 = v;
}
// (n, y, x, channel) of flat index i in an [n][h][w][c] tensor
ivec4 nhwc(int i, int h, int w, int c) {
  int pix = i / c, ch = i - pix * c;
  int n = pix / (h * w), rem = pix - n * h * w;
  int y = rem / w;
  return ivec4(n, y, rem - y * w, ch);
}
