// The plan runner: executes a whole program of ops in one call.  With a thread
// pool, every thread runs the same program; each op splits its work by thread id
// and a barrier separates consecutive ops (spin briefly, then wait).
#include "common.h"

enum { PROGRAM_MAGIC = 0x57544e31, HEADER_WORDS = 4 };  // [magic, n_ops, barrier_ptr, reserved]

// Barrier words of a program: [arrivals, generation, the work counters of the current
// group's ops (GROUP_MAX)].  Each thread points its own slot at the counter of its op.
int32_t* wt_work_counter[MAX_THREADS];

static void dispatch(int op, const int32_t* args, int tid, int nthreads) {
  switch (op) {
    case OP_CONV: op_conv(args, tid, nthreads); break;
    case OP_DWCONV: op_dwconv(args, tid, nthreads); break;
    case OP_POOL: op_pool(args, tid, nthreads); break;
    case OP_BINARY: op_binary(args, tid, nthreads); break;
    case OP_UNARY: op_unary(args, tid, nthreads); break;
    case OP_COPY: op_copy(args, tid, nthreads); break;
    case OP_FILL: op_fill(args, tid, nthreads); break;
    case OP_RESIZE: op_resize(args, tid, nthreads); break;
    case OP_REDUCE: op_reduce(args, tid, nthreads); break;
    case OP_SOFTMAX: op_softmax(args, tid, nthreads); break;
    case OP_CAST: op_cast(args, tid, nthreads); break;
    case OP_QCONV: op_qconv(args, tid, nthreads); break;
    case OP_QDWCONV: op_qdwconv(args, tid, nthreads); break;
    case OP_QUANTIZE: op_quantize(args, tid, nthreads); break;
    case OP_DEQUANTIZE: op_dequantize(args, tid, nthreads); break;
    case OP_QMAXPOOL: op_qmaxpool(args, tid, nthreads); break;
    case OP_COPY8: op_copy8(args, tid, nthreads); break;
    case OP_TOPK: op_topk(args, tid, nthreads); break;
    case OP_SEPCONV: op_sepconv(args, tid, nthreads); break;
    case OP_CONVPOOL: op_convpool(args, tid, nthreads); break;
    case OP_EXPDW: op_expdw(args, tid, nthreads); break;
    case OP_WINOGRAD: op_winograd(args, tid, nthreads); break;
    case OP_WINOPOOL: op_winopool(args, tid, nthreads); break;
    default: __builtin_trap();   // Python validated the program: an unknown opcode is a bug
  }
}

#ifdef __wasm_atomics__
// What the barriers cost, per thread: how many it passed and the wall time it spent
// waiting in them (a thread that arrives last waits ~0; the others wait for it).  The
// JS runtime reads these for its stats; the clock is the embedder's performance.now.
__attribute__((import_module("env"), import_name("now_ms"))) double wt_now_ms(void);
static struct { double wait_ms[MAX_THREADS]; int32_t passed[MAX_THREADS]; } barrier_stats;
EXPORT("barrier_stats") void* barrier_stats_address(void) { return &barrier_stats; }

static int32_t spin_limit = 1000000;    // shared by every thread (linear memory)
EXPORT("set_spin_limit") void set_spin_limit(int32_t n) { spin_limit = n; }

// Generation barrier: b[0] = arrivals, b[1] = generation.  Spins, then waits.
// Returns -1 if the other threads do not arrive within ~10 s (a stalled pool becomes an
// error the caller reports, never a hang).  spin_only: the caller is a page's main
// thread, where memory.atomic.wait traps; it spins (bounded) instead of sleeping.
static int barrier_wait(int32_t* b, int nthreads, int spin_only) {
  const int32_t gen = __atomic_load_n(&b[1], __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&b[0], 1, __ATOMIC_ACQ_REL) == nthreads) {
    __atomic_store_n(&b[0], 0, __ATOMIC_RELAXED);
    for (int k = 0; k < GROUP_MAX; k++)   // the next group's chunks start at 0 (published by the release below)
      __atomic_store_n(&b[2 + k], 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&b[1], 1, __ATOMIC_RELEASE);
    __builtin_wasm_memory_atomic_notify(&b[1], (unsigned)-1);
    return 0;
  }
  // Spin long (up to ~1 ms) before sleeping: a thread that sleeps wakes late on a VM, and
  // one late wake-up made the threads take turns sleeping at every later barrier.  The
  // pool only spins inside a run, so this costs nothing between inferences.  With more
  // threads than cores the spinning threads take the cores from the ones still working:
  // then the runtime shortens the spin (set_spin_limit).
  const int limit = spin_limit;
  for (int spin = 0; spin < limit; spin++)
    if (__atomic_load_n(&b[1], __ATOMIC_ACQUIRE) != gen) return 0;
  if (spin_only) {   // ~10 s at a few ns per load; no clock in a freestanding module
    for (long long spin = 0; spin < 3000000000LL; spin++)
      if (__atomic_load_n(&b[1], __ATOMIC_ACQUIRE) != gen) return 0;
    return -1;
  }
  for (int waits = 0; __atomic_load_n(&b[1], __ATOMIC_ACQUIRE) == gen; waits++) {
    if (waits >= 10) return -1;
    __builtin_wasm_memory_atomic_wait32(&b[1], gen, 1000000000LL);   // 1 s
  }
  return 0;
}

static int barrier(int32_t* b, int tid, int nthreads, int spin_only) {
  const double t0 = wt_now_ms();
  const int r = barrier_wait(b, nthreads, spin_only);
  if (tid < MAX_THREADS) {      // each thread writes only its own slots
    barrier_stats.wait_ms[tid] += wt_now_ms() - t0;
    barrier_stats.passed[tid]++;
  }
  return r;
}
#endif

EXPORT("run_plan") int run_plan(const int32_t* prog, int tid, int nthreads, int spin_only) {
  if (prog[0] != PROGRAM_MAGIC || tid < 0 || tid >= MAX_THREADS) return -1;
  int32_t* const b = PTR(int32_t, prog[2]);      // counters zeroed by the caller before the run
  const int n = prog[1];
  const int32_t* p = prog + HEADER_WORDS;
  for (int i = 0, k = 0; i < n; i++) {           // k: the op's place in its group
    wt_work_counter[tid] = b + 2 + k;
    dispatch(p[0] & OPCODE_MASK, p + 2, tid, nthreads);
    // a barrier after the last op, after a group's last, and when a group would outgrow its counters
    if ((p[0] & NO_BARRIER_AFTER) && i + 1 < n && k + 1 < GROUP_MAX) {
      k++;
    } else {
      k = 0;
#ifdef __wasm_atomics__
      if (nthreads > 1 && barrier(b, tid, nthreads, spin_only) < 0) return -2;
#endif
    }
    p += p[1];
  }
  return n;
}

// Runs op `index` of the program alone (the per-op path, for profiling and tests).
EXPORT("run_op") int run_op(const int32_t* prog, int index, int tid, int nthreads, int spin_only) {
  if (prog[0] != PROGRAM_MAGIC || index < 0 || index >= prog[1] || tid < 0 || tid >= MAX_THREADS) return -1;
  wt_work_counter[tid] = PTR(int32_t, prog[2]) + 2;
  const int32_t* p = prog + HEADER_WORDS;
  for (int i = 0; i < index; i++) p += p[1];
  dispatch(p[0] & OPCODE_MASK, p + 2, tid, nthreads);
#ifdef __wasm_atomics__
  if (nthreads > 1 && barrier(PTR(int32_t, prog[2]), tid, nthreads, spin_only) < 0) return -2;
#endif
  return 0;
}

// Stack-collision probe: each thread fills a large stack buffer with its own
// pattern, waits until every thread has done so, then checks its buffer.  With a
// shared stack region the threads overwrite each other and the check fails.
EXPORT("stack_probe") int stack_probe(int32_t* barrier_words, int tid, int nthreads, int spin_only) {
  volatile int32_t buf[16384];
  for (int i = 0; i < 16384; i++) buf[i] = tid * 1000003 + i;
#ifdef __wasm_atomics__
  if (nthreads > 1 && (barrier(barrier_words, tid, nthreads, spin_only) < 0 || barrier(barrier_words, tid, nthreads, spin_only) < 0)) return -2;
#endif
  int bad = 0;
  for (int i = 0; i < 16384; i++) bad += buf[i] != tid * 1000003 + i;
#ifdef __wasm_atomics__
  if (nthreads > 1 && barrier(barrier_words, tid, nthreads, spin_only) < 0) return -2;
#endif
  return bad;
}

// Peak of a multiply-add loop (for the benchmark's GFLOP/s ratio): 12 independent
// accumulators, `iters` iterations; returns a value so the loop is not optimised away.
// FLOPs = iters * 12 * 2 * (4 lanes with SIMD, 1 without).
EXPORT("peak_madd") float peak_madd(int iters, float seed) {
#ifdef __wasm_simd128__
  v128_t a[12], m = wasm_f32x4_splat(0.999f), d = wasm_f32x4_splat(seed);
  for (int j = 0; j < 12; j++) a[j] = wasm_f32x4_splat(seed + j);
  for (int i = 0; i < iters; i++)
    for (int j = 0; j < 12; j++) a[j] = wasm_f32x4_add(wasm_f32x4_mul(a[j], m), d);
  v128_t s = a[0];
  for (int j = 1; j < 12; j++) s = wasm_f32x4_add(s, a[j]);
  return wasm_f32x4_extract_lane(s, 0);
#else
  float a[12];
  for (int j = 0; j < 12; j++) a[j] = seed + j;
  for (int i = 0; i < iters; i++)
    for (int j = 0; j < 12; j++) a[j] = a[j] * 0.999f + seed;
  float s = 0;
  for (int j = 0; j < 12; j++) s += a[j];
  return s;
#endif
}
