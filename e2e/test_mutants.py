"""A sample of `build.py mutants` in CI (the full list is a command with a report): one
deliberate bug of each kind (C kernel, lowering, WebGL shader) is built into a copy of
the web root, and the conformance suite in the browser must catch each."""
from tools.mutants import MUTANTS, SAMPLE, run_mutants


def test_the_conformance_suite_kills_a_sample_of_mutants(built, browser):
    results = run_mutants([m for m in MUTANTS if m.name in SAMPLE], log=lambda *_: None, browser=browser)
    assert [r["status"] for r in results] == ["killed"] * len(SAMPLE), results
