"""bench --repeat: each ratio is webtensor's median over its peer's in the same repeat."""
from bench.harness import ratio_ranges


def row(engine, ms, model="m", backend="wasm"):
    return {"model": model, "backend": backend, "engine": engine, "median_ms": ms}


def test_ratio_ranges_pair_each_repeat_with_itself():
    repeats = [[row("webtensor", 10), row("tfjs", 20)], [row("webtensor", 30), row("tfjs", 20)],
               [row("webtensor", 12), row("tfjs", 10)]]
    (s,) = ratio_ranges(repeats)
    assert s["ratios"] == [0.5, 1.5, 1.2]
    assert (s["min"], s["median"], s["max"]) == (0.5, 1.2, 1.5)
    assert (s["model"], s["backend"], s["peer"]) == ("m", "wasm", "tfjs")


def test_the_machines_two_thread_ceiling_is_kept_per_repeat_as_a_speed_up():
    """The scaling probe measured beside a 2-thread model (bench's "machine" engine) is a
    speed-up, summarised over the repeats beside the model's own."""
    def pool(ms, ceiling):
        r = row("webtensor", ms, backend="wasm-simd-threads")
        r["machine_2thread_speedup"] = {"speedup": ceiling}
        return r
    repeats = [[pool(8, 1.9), row("webtensor-1t", 16, backend="wasm-simd-threads")],
               [pool(10, 1.4), row("webtensor-1t", 15, backend="wasm-simd-threads")],
               [pool(8, 1.7), row("webtensor-1t", 14, backend="wasm-simd-threads")]]
    by_peer = {s["peer"]: s for s in ratio_ranges(repeats)}
    assert by_peer["machine"]["ratios"] == [1.9, 1.4, 1.7]
    assert (by_peer["machine"]["min"], by_peer["machine"]["median"], by_peer["machine"]["max"]) == (1.4, 1.7, 1.9)
    assert by_peer["webtensor-1t"]["ratios"] == [0.5, 0.667, 0.571]
