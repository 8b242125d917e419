"""`build.py startup`: how long the live page takes to be ready, cold and on a second visit.

Each of --visits rounds opens a new browser context (an empty HTTP cache) and visits the
live page twice in it: cold, then a second visit with the cache warm.  A visit ends when the
detection of the sample photo is drawn (the page's `readyMs`); the page records when each
start-up stage finished (worker started, Pyodide ready, numpy loaded, webtensor imported,
backend, model loaded, first detection drawn...).  Prints each stage's median [min - max]
in ms since navigation, writes JSON.  Timings only: the start-up test (e2e/test_startup.py)
checks the stages' order and presence.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def summarise(visits: list[dict]) -> list[tuple[str, float, float, float]]:
    """(stage, median, min, max) over visits, in the order the first visit reported them;
    the last row is the page's readiness."""
    names = [n for n, _ in visits[0]["stages"]]
    rows = []
    for name in names:
        at = [dict(v["stages"])[name] for v in visits if name in dict(v["stages"])]
        rows.append((name, statistics.median(at), min(at), max(at)))
    ready = [v["readyMs"] for v in visits]
    rows.append(("ready (first detection drawn)", statistics.median(ready), min(ready), max(ready)))
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="build.py startup", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=int, default=5, help="rounds of (cold, second) visits")
    ap.add_argument("--backend", default="wasm-simd-threads", help="the page's ?backend=")
    ap.add_argument("--out", default=str(RESULTS / "startup.json"))
    args = ap.parse_args(argv)
    from bench.harness import machine_info
    from tools.quiet import check_quiet
    from tools.session import chromium, served, startup_visit
    busy_before = check_quiet(lambda msg: print(msg, flush=True))
    runs: dict[str, list[dict]] = {"cold": [], "second visit": []}
    with served() as base, chromium() as browser:
        machine = machine_info(browser)
        machine["busy_before_percent"] = busy_before
        for i in range(max(1, args.visits)):
            context = browser.new_context()
            try:
                for label in runs:
                    runs[label].append(startup_visit(context, base, f"camera=0&backend={args.backend}"))
            finally:
                context.close()
            print(f"round {i + 1}: cold {runs['cold'][-1]['readyMs']:.0f} ms, "
                  f"second visit {runs['second visit'][-1]['readyMs']:.0f} ms", flush=True)
    summary = {label: summarise(visits) for label, visits in runs.items()}
    print(f"\nlive page start-up, {args.visits} rounds, ms since navigation: median [min - max]")
    print(f"{'stage':<36}{'cold':>24}{'second visit':>24}")
    second = {name: (med, lo, hi) for name, med, lo, hi in summary["second visit"]}
    for name, med, lo, hi in summary["cold"]:
        s = second.get(name)
        right = f"{s[0]:.0f} [{s[1]:.0f} - {s[2]:.0f}]" if s else "-"
        print(f"{name:<36}{f'{med:.0f} [{lo:.0f} - {hi:.0f}]':>24}{right:>24}")
    boots = sorted({v["pyodideBoot"] for vs in runs.values() for v in vs})
    print(f"Pyodide boot: {', '.join(boots)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "visits": args.visits, "backend": args.backend, "runs": runs,
                               "summary": {k: [{"stage": n, "median": m, "min": lo, "max": hi} for n, m, lo, hi in v]
                                           for k, v in summary.items()},
                               "date": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
