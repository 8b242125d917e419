"""bench --repeat: each ratio is webtensor's time over its peer's in the same repeat, paired by
round of the alternation where the rows have rounds."""
from bench.harness import paired_ratio, ratio_ranges


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


def test_a_ratio_pairs_the_batches_of_each_round():
    """A slow spell that hits both engines in round 2 moves neither round's ratio; the
    whole-run medians would give 6 / 5 = 1.2."""
    wt = {**row("webtensor", 6), "round_medians_ms": [4, 8, 4.2]}
    peer = {**row("tfjs", 5), "round_medians_ms": [5, 10, 5]}
    assert paired_ratio(wt, peer) == 0.8
    (s,) = ratio_ranges([[wt, peer]])
    assert s["ratios"] == [0.8]
    # rounds that do not line up (or are missing) fall back to the medians
    assert paired_ratio(row("webtensor", 6), peer) == 1.2
    assert paired_ratio({**wt, "round_medians_ms": [4, 8]}, peer) == 1.2
