// A helper thread of the wasm pool (started by wasm_runtime.js from a Blob URL): instantiates the kernel module on the shared
// memory with its own stack, then waits for work forever (Atomics.wait on the
// control block), running its share of each program.
'use strict';
let exports_ = null;

self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.setStack !== undefined) { exports_.__stack_pointer.value = msg.setStack; self.postMessage('ack'); return; }
  const { module, memory, tid, stackTop, ctl, layout } = msg;
  try {
    exports_ = new WebAssembly.Instance(module, { env: { memory, now_ms: () => performance.now() } }).exports;
    exports_.__stack_pointer.value = stackTop;   // each thread its own stack region
  } catch (err) { self.postMessage(String(err)); return; }
  // Read the run generation *before* saying ready: a run started right after 'ready'
  // must find this thread waiting on the old generation, or the barrier waits forever.
  const c = ctl / 4;
  let seen = Atomics.load(new Int32Array(memory.buffer), c + layout.GO);
  // Ready in shared memory too: thread 0 counts ready helpers there, since on a page's
  // main thread it may not return to its event loop to hear this message before a run.
  Atomics.store(new Int32Array(memory.buffer), c + layout.READY + tid, 1);
  self.postMessage('ready');
  // Leave this handler so `setStack` messages can still arrive between runs: the loop
  // yields to the event loop with a zero-delay timeout when it has been idle.
  // Right after a run, poll a while before sleeping (the runtime's SPIN word; 0 when the
  // pool has more threads than cores): the next segment of the same inference often follows.
  let justRan = false;
  const loop = () => {
    for (;;) {
      const i32 = new Int32Array(memory.buffer);
      if (justRan) {
        for (let s = i32[c + layout.SPIN]; s > 0 && Atomics.load(i32, c + layout.GO) === seen; s--);
        justRan = false;
      }
      if (Atomics.wait(i32, c + layout.GO, seen, 20) === 'timed-out') { setTimeout(loop, 0); return; }
      seen = Atomics.load(i32, c + layout.GO);
      if (i32[c + layout.QUIT]) { self.close(); return; }
      const n = i32[c + layout.NTHREADS];
      if (tid >= n) continue;
      const kind = i32[c + layout.KIND], prog = i32[c + layout.PROG];
      if (kind === 0) exports_.run_plan(prog, tid, n, 0);
      else if (kind === 1) exports_.run_op(prog, i32[c + layout.INDEX], tid, n, 0);
      else if (kind === 2) i32[c + layout.RESULTS + tid] = exports_.stack_probe(ctl + layout.BARRIER * 4, tid, n, 0);
      else i32[c + layout.RESULTS + tid] = exports_.peak_madd(i32[c + layout.INDEX], 1.0) > 0 ? 1 : 0;  // scalingProbe
      Atomics.add(i32, c + layout.DONE, 1);
      Atomics.notify(i32, c + layout.DONE);
      justRan = true;
    }
  };
  loop();
};
