"""A standard package: `pip install .` into a fresh venv gives a working webtensor on CPython
(numpy backend, the graph-model loader, vision) — built by pyproject.toml's backend."""
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import numpy as np, webtensor
from webtensor.vision import BlazeFace
assert 'site-packages' in webtensor.__file__, webtensor.__file__
m = webtensor.read_graph_model(r'{model}')
x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
outs = m.execute(x, ['Identity:0', 'Identity_1:0', 'Identity_2:0', 'Identity_3:0'])
np.save('outs.npy', np.concatenate([o.reshape(-1) for o in outs]))
print('ok', webtensor.__version__, webtensor.get_backend().name)
"""


def test_pip_install_into_a_fresh_venv(tmp_path):
    from tests.helpers import HUMAN_MODELS
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    # numpy from the package index (the registries are reachable here and in CI);
    # hatchling through pip's build isolation, as any user's `pip install .` does
    r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(py), "-c", CHECK.format(model=HUMAN_MODELS / "blazeface.json")], capture_output=True,
                       text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    import numpy as np
    import webtensor
    assert r.stdout.split() == ["ok", webtensor.__version__, "numpy"], r.stdout
    # the installed package computes what the source tree does
    ref = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json").execute(
        np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32),
        ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"])
    np.testing.assert_allclose(np.load(tmp_path / "outs.npy"), np.concatenate([o.reshape(-1) for o in ref]),
                               rtol=1e-4, atol=1e-4)   # the venv may get a newer numpy (another BLAS)
