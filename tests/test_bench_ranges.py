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
