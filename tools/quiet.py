"""Is the machine quiet enough to measure?  Benchmarks call `check_quiet()` first.

On a 2-vCPU machine one stray busy process (an orphaned Chromium renderer left by a
killed run, say) halves what a 2-thread benchmark measures, and it is invisible in the
results.  This samples /proc for a second and names what is using the CPUs.  Linux only;
elsewhere it says nothing.
"""
from __future__ import annotations

import os
import time


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v), idle


def _process_ticks() -> dict[int, tuple[str, int]]:
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.find("(") + 1:text.rfind(")")]
        fields = text[text.rfind(")") + 2:].split()
        out[int(pid)] = (name, int(fields[11]) + int(fields[12]))
    return out


def busy_report(seconds: float = 1.0) -> tuple[float, list[tuple[str, int, float]]]:
    """(percent of all CPUs busy, [(process, pid, percent of one CPU)] of the busiest)."""
    a, pa = _cpu_times(), _process_ticks()
    if a is None:
        return 0.0, []
    time.sleep(seconds)
    b, pb = _cpu_times(), _process_ticks()
    total, idle = b[0] - a[0], b[1] - a[1]
    busy = 100.0 * (total - idle) / total if total else 0.0
    hz = os.sysconf("SC_CLK_TCK")
    procs = []
    for pid, (name, ticks) in pb.items():
        if pid == os.getpid() or pid not in pa:
            continue
        pct = 100.0 * (ticks - pa[pid][1]) / (hz * seconds)
        if pct >= 5:
            procs.append((name, pid, round(pct, 1)))
    return round(busy, 1), sorted(procs, key=lambda p: -p[2])[:5]


def check_quiet(log=print, threshold: float = 15.0) -> float:
    """Warn (not fail) when the machine is busy before a measurement; returns busy %."""
    busy, procs = busy_report()
    if busy >= threshold:
        who = ", ".join(f"{n} (pid {p}, {c:.0f}% of a CPU)" for n, p, c in procs) or "unknown"
        log(f"warning: the machine is {busy:.0f}% busy before measuring: {who}. Results will be "
            f"slower and noisier; stray `chromium` processes from killed runs can be ended with `pkill chromium`.")
    return busy
