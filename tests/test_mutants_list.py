"""`build.py mutants` (tools/mutants.py): every mutant still applies to the code as it is
(one exact occurrence of its text), names a real backend, and the CI sample has one of
each kind (a C kernel, the Python lowering, a WebGL shader, a WGSL kernel)."""
import pytest

from tools.mutants import MUTANTS, SAMPLE, check_applicable


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutant_applies(mutant):
    assert check_applicable(mutant) is None
    assert set(mutant.backends) <= {"wasm", "wasm-simd", "wasm-simd-threads", "webgl", "webgpu"}


def test_the_list_covers_issue_19_and_the_sample_each_kind():
    assert len(MUTANTS) >= 20 and len({m.name for m in MUTANTS}) == len(MUTANTS)
    kinds = {next(m for m in MUTANTS if m.name == s).file.split("/")[0] + ("-gl" if "webgl" in s.lower() else "")
             for s in SAMPLE}
    assert kinds == {"kernels_wasm", "py", "py-gl", "shaders"}
