"""Layering (docs/architecture.md): every module of py/webtensor imports alone (no import
cycle hides behind import order), and the neutral layers import no backend."""
import ast
import subprocess
import sys

from .helpers import ROOT

PKG = ROOT / "py" / "webtensor"
MODULES = sorted("webtensor." + ".".join(p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__")
                 for p in PKG.rglob("*.py")) 
NEUTRAL = ("ops", "graph", "lower", "quantization")


def test_every_module_imports_alone():
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n    [sys.modules.pop(k) for k in list(sys.modules) if k.startswith('webtensor')]"
    res = subprocess.run([sys.executable, "-c", code, *[m.replace("webtensor.__init__", "webtensor") for m in MODULES]],
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT / "py")}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_neutral_layers_and_backends_import_no_other_backend():
    bad = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and "backends" in node.module.split("."):
                target = node.module.split("backends")[-1].strip(".").split(".")[0]
                if rel[0] in NEUTRAL or rel[0].removesuffix(".py") in NEUTRAL:
                    bad.append(f"{'/'.join(rel)} imports backends.{target}")
                elif rel[0] == "backends" and target and target != rel[1].removesuffix(".py"):
                    bad.append(f"{'/'.join(rel)} imports backends.{target}")
            if isinstance(node, ast.ImportFrom) and rel[0] == "backends" and node.level == 1 and node.module \
                    and node.module.split(".")[0] in ("wasm", "webgl", "numpy") and rel[-1] != "__init__.py":
                bad.append(f"{'/'.join(rel)} imports backends.{node.module}")
    assert not bad, bad
