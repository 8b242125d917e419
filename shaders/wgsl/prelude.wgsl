// webtensor's WGSL prelude.  One storage buffer holds a plan's weights and activation
// arena as u32 words (float32 bit patterns, int32 and bool as int32); every kernel
// reads its element offsets and shapes from `p` (one parameter block per dispatch), so
// layers of one kind share a pipeline.  Item kernels (items.wgsl) run one invocation
// per work item; tiled kernels (gemm.wgsl) bring their own entry point.
@group(0) @binding(0) var<storage, read_write> buf: array<u32>;
@group(0) @binding(1) var<storage, read> p: array<i32>;

fn ld(i: i32) -> f32 { return bitcast<f32>(buf[i]); }
fn ldi(i: i32) -> i32 { return bitcast<i32>(buf[i]); }
fn st(i: i32, v: f32) { buf[i] = bitcast<u32>(v); }
fn pf(i: i32) -> f32 { return bitcast<f32>(p[i]); }

// NaN by its bit pattern (compilers may fold v != v away; the bits stay)
fn wt_isnan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
// max/min that propagate NaN, like the numpy reference (x + y is a NaN when either is)
fn wt_max(x: f32, y: f32) -> f32 { if (wt_isnan(x) || wt_isnan(y)) { return x + y; } return max(x, y); }
fn wt_min(x: f32, y: f32) -> f32 { if (wt_isnan(x) || wt_isnan(y)) { return x + y; } return min(x, y); }

// the activation of a fused epilogue: ACTIVATION is one WGSL statement over v, alpha
// (PReLU's per-channel slope) and param (LeakyRelu's slope)
fn act(v: f32, alpha: f32, param: f32) -> f32 {
  if (wt_isnan(v)) { return v; }       // the NaN rule: NaN in, NaN out (max/clamp of NaN is undefined)
  ACTIVATION
}
