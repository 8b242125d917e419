"""memory(), tidy(), keep(), dispose(), profile(), time(), select_backend() on numpy in CPython."""
import numpy as np
import pytest

import webtensor

from .helpers import HUMAN_MODELS
from .test_loader import affine_model


@pytest.fixture()
def model(tmp_path):
    path, w, b = affine_model(tmp_path)
    m = webtensor.read_graph_model(path)
    yield m
    if not m.disposed:
        m.dispose()


def test_tensor_lifecycle_and_errors():
    before = webtensor.memory().num_tensors
    t = webtensor.tensor(np.ones((2, 3), np.float32))
    assert webtensor.memory().num_tensors == before + 1
    assert t.shape == (2, 3) and np.asarray(t).sum() == 6
    t.dispose()
    assert webtensor.memory().num_tensors == before
    with pytest.raises(webtensor.TensorDisposedError, match="disposed"):
        t.dispose()
    with pytest.raises(webtensor.TensorDisposedError):
        t.numpy()


def test_tidy_disposes_all_but_returned_and_kept(model):
    base = webtensor.memory()
    x = webtensor.tensor(np.ones((1, 4), np.float32))

    @webtensor.tidy
    def step(t):
        a = model.predict(t)                   # Tensor in -> Tensor out
        b = model.predict(t)
        assert isinstance(a, webtensor.Tensor)
        return b

    out = step(x)
    assert not out.is_disposed and not x.is_disposed          # returned / created outside
    with webtensor.tidy():
        y = model.predict(x)
        kept = webtensor.keep(model.predict(x))
    assert y.is_disposed and not kept.is_disposed
    for t in (x, out, kept):
        t.dispose()
    after = webtensor.memory()
    assert (after.num_tensors, after.num_bytes) == (base.num_tensors, base.num_bytes)


def test_numpy_in_numpy_out_is_untracked(model):
    n = webtensor.memory().num_tensors
    y = model.predict(np.ones((3, 4), np.float32))
    assert isinstance(y, np.ndarray) and webtensor.memory().num_tensors == n


def test_memory_counts_model_weights_and_dispose_releases_them(tmp_path):
    path, w, b = affine_model(tmp_path)
    before = webtensor.memory()
    m = webtensor.read_graph_model(path)
    during = webtensor.memory()
    assert during.weight_bytes - before.weight_bytes == w.nbytes + b.nbytes
    assert during.num_tensors - before.num_tensors == 2
    assert any(entry["source"] == str(path) for entry in during.models)
    m.dispose()
    after = webtensor.memory()
    assert after.num_bytes == before.num_bytes
    with pytest.raises(webtensor.TensorDisposedError):
        m.predict(np.ones((1, 4), np.float32))
    # numpy's intermediates are not counted: memory() says so instead of claiming a peak
    assert during.unreliable and any("not tracked" in r for r in during.reasons)


def test_profile_records_every_kernel():
    m = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    x = np.zeros((1, 256, 256, 3), np.float32)
    p = webtensor.profile(lambda: m.predict(x))
    assert len(p.kernels) == len(next(iter(m._plans.values())).steps)
    conv = next(k for k in p.kernels if k.op == "_FusedConv2D")
    assert conv.input_shapes[0] == [1, 256, 256, 3] and conv.output_shapes == [[1, 128, 128, 24]]
    assert conv.bytes_added == 128 * 128 * 24 * 4 and conv.ms > 0
    ranked = p.sorted_kernels()          # every kernel once, slowest first
    assert sorted(map(id, ranked)) == sorted(map(id, p.kernels))
    assert [k.ms for k in ranked] == sorted((k.ms for k in p.kernels), reverse=True)
    assert "numpy" in p.timing and p.new_tensors == 0 and isinstance(p.result, list)


def test_outputs_in_another_order_run_the_plan_compiled_at_load():
    """A detector asks for the model's outputs in its own order: the plan compiled at load
    (all outputs, signature order) serves it, with each result under its own name."""
    m = webtensor.read_graph_model(HUMAN_MODELS / "blazeface.json")
    assert len(m._plans) == 1
    x = np.random.default_rng(0).random((1, 256, 256, 3), np.float32)
    keys = m.output_keys
    ordered = m.execute(x, keys)
    reversed_ = m.execute(x, keys[::-1])
    assert len(m._plans) == 1
    for a, b in zip(ordered, reversed_[::-1]):
        np.testing.assert_array_equal(a, b)
    assert len({a.shape for a in ordered}) > 1          # the names really pick different tensors
    m.execute(x, keys[:1])                               # a subset is another plan
    assert len(m._plans) == 2
    m.dispose()


def test_time_and_select_backend(model):
    t = webtensor.time(lambda: model.predict(np.ones((2, 4), np.float32)))
    assert t["wall_ms"] >= t["kernel_ms"] > 0 and t["upload_ms"] == 0
    table = webtensor.select_backend(model, np.ones((1, 4), np.float32), runs=2, warmup=1)
    assert table[0]["backend"] == "numpy" and model.backend_name == "numpy"
    assert any(r["backend"] == "wasm" and r["available"] is False for r in table)
