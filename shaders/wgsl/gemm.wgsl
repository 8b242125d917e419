// Convolution as a tiled GEMM with an implicit im2col: out[m][co] for m = an output
// pixel (N*OH*OW of them), reduced over k = (kh, kw, c) (KH*KW*C), then the fused
// epilogue act(acc + bias [+ residual]).  A workgroup of 8x8 invocations computes a
// tile of 32 pixels x 32 output channels, each invocation 4 x 4 of them; the tile's
// slices of the gathered input rows and of the filter ([KH][KW][C][CO] = [K][CO]) go
// through workgroup memory 8 values of k at a time, so each global value is read once
// per tile instead of once per output.  (The blocking scheme of the classic shared-
// memory SGEMM, e.g. Volkov & Demmel 2008; written for this layout.)
// p: as conv.wgsl (x, w, bias, out, residual, alpha, N, H, W, C, OH, OW, CO, KH, KW,
//    SH, SW, DH, DW, PT, PL, mult (0), param)
const TM = 32;
const TN = 32;
const TK = 8;
var<workgroup> xs: array<f32, 256>;     // [TK][TM]
var<workgroup> wsh: array<f32, 256>;    // [TK][TN]

// the input value of row m (an output pixel) and column k (a filter tap and channel)
fn gathered(m: i32, k: i32, M: i32, K: i32) -> f32 {
  if (m >= M || k >= K) { return 0.0; }
  let C = p[10]; let OH = p[11]; let OW = p[12]; let KW = p[15];
  let tap = k / C;
  let c = k - tap * C;
  let kh = tap / KW;
  let kw = tap - kh * KW;
  let ow = m % OW;
  let t = m / OW;
  let oh = t % OH;
  let n = t / OH;
  let ih = oh * p[16] - p[20] + kh * p[18];
  let iw = ow * p[17] - p[21] + kw * p[19];
  if (ih < 0 || ih >= p[8] || iw < 0 || iw >= p[9]) { return 0.0; }
  return ld(p[1] + ((n * p[8] + ih) * p[9] + iw) * C + c);
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let M = p[7] * p[11] * p[12];
  let K = p[14] * p[15] * p[10];
  let CO = p[13];
  let m0 = i32(wg.x) * TM;
  let n0 = i32(wg.y) * TN;
  let tx = i32(lid.x) * 4;             // this invocation's 4 channels in the tile
  let ty = i32(lid.y) * 4;             // ... and its 4 pixels
  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0; k0 < K; k0 += TK) {
    for (var q = 0; q < 4; q++) {      // 64 invocations x 4: both 256-value slices
      let e = i32(li) * 4 + q;
      let kk = e / TM;
      let col = e - kk * TM;
      xs[e] = gathered(m0 + col, k0 + kk, M, K);
      var wv = 0.0;
      if (k0 + kk < K && n0 + col < CO) { wv = ld(p[2] + (k0 + kk) * CO + n0 + col); }
      wsh[e] = wv;
    }
    workgroupBarrier();
    for (var k = 0; k < TK; k++) {
      let wb = k * TN + tx;
      let wv = vec4<f32>(wsh[wb], wsh[wb + 1], wsh[wb + 2], wsh[wb + 3]);
      let xb = k * TM + ty;
      acc[0] += xs[xb] * wv;
      acc[1] += xs[xb + 1] * wv;
      acc[2] += xs[xb + 2] * wv;
      acc[3] += xs[xb + 3] * wv;
    }
    workgroupBarrier();
  }
  for (var r = 0; r < 4; r++) {
    let m = m0 + ty + r;
    if (m >= M) { break; }
    for (var j = 0; j < 4; j++) {
      let co = n0 + tx + j;
      if (co >= CO) { break; }
      var v = acc[r][j] + ld(p[3] + co);
      if (p[5] >= 0) { v += ld(p[5] + m * CO + co); }
      var alpha = 0.0;
      if (p[6] >= 0) { alpha = ld(p[6] + co); }
      st(p[4] + m * CO + co, act(v, alpha, pf(23)));
    }
  }
}
