"""tools/quiet.py: a busy process is seen and named before a benchmark measures."""
import subprocess
import sys

import pytest

from tools.quiet import busy_report


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_busy_process_is_named():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        busy, procs = busy_report(0.5)
        assert busy > 20
        assert any(pid == spinner.pid and pct > 50 for _, pid, pct in procs), procs
    finally:
        spinner.kill()
        spinner.wait()
