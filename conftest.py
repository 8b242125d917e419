import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
for p in (ROOT / "py", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
