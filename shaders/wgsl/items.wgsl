// The entry point of the item kernels: p[0] work items, one invocation each, 64 per
// workgroup, the grid folded into x and y (a dimension holds at most 65535 workgroups).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let i = i32(g.x + g.y * nw.x * 64u);
  if (i >= p[0]) { return; }
  body(i);
}
