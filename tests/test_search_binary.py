"""The main binary end to end on a small user table, and its refusals of bad flags.

Every call of the binary runs in one interpreter (``binary_driver``); its results are checked
against the library run on the same table, seeds and settings."""

import json

import numpy as np
import pytest
from binary_driver import run_calls, run_module

from lanas_jax.benchmarks import load_benchmark
from lanas_jax.partition.lanas import LaNAS, LaNASParams
from lanas_jax.runner import seed_keys, sweep
from lanas_jax.strategies.evolution import RegularizedEvolution
from lanas_jax.strategies.random_search import RandomSearch

SEEDS, BUDGET = 4, 100  # budget < the 256 entries: reaching the optimum is not automatic
BAD_FLAGS = [
    ("--algo=lanas,bogus", "unknown strategy 'bogus'"),
    ("--budget=100000", "--budget=100000"),
    ("--benchmark=/nonexistent/table.npz", "/nonexistent/table.npz"),
    ("--benchmark=nb999", "nb999"),
    ("--lanas_empty_leaf=nowhere", "lanas_empty_leaf"),
]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    codes = np.stack(np.meshgrid(*[np.arange(4)] * 4, indexing="ij"), -1).reshape(-1, 4)
    features = np.eye(4)[codes].reshape(len(codes), -1)
    metric = features @ rng.normal(size=16) + 0.1 * rng.normal(size=len(codes))
    path = tmp_path_factory.mktemp("table") / "toy.npz"
    np.savez(path, features=features, metric=metric, test_metric=metric + 0.01)
    return path


@pytest.fixture(scope="module")
def calls(table, tmp_path_factory):
    """(output dir of the end-to-end call, driver results: end to end, bad flags, list)."""
    tmp = tmp_path_factory.mktemp("search")
    out = tmp / "out"
    common = [f"--benchmark={table}", f"--output_dir={tmp / 'bad'}"]
    runs = [[f"--benchmark={table}", f"--seeds={SEEDS}", f"--budget={BUDGET}",
             f"--output_dir={out}", "--lanas_init=10", "--lanas_selects=10",
             "--evolution_population=10", "--evolution_tournament=3"],
            *[[*common, "--seeds=2", "--budget=20", flag] for flag, _ in BAD_FLAGS],
            ["--list_benchmarks"]]
    return out, run_calls("experiments.search", runs, tmp)


def test_results_equal_the_library_on_the_same_seeds(table, calls):
    """The binary's curves, incumbents' test values and samples to the optimum are those of
    ``sweep`` with what the flags say. Catches a flag not forwarded (e.g. --lanas_selects),
    another seed derivation, a test column not of the incumbent, a misaligned curve."""
    out, results = calls
    assert results[0]["error"] is None, results[0]
    entries = json.loads((out / "results.json").read_text())
    assert [e["algo"] for e in entries] == ["lanas", "random", "evolution"]
    bench = load_benchmark(str(table))
    expected = {
        "lanas": (LaNAS(tree_height=5, num_selects=10, num_init=10), LaNASParams()),
        "random": (RandomSearch(), None),
        "evolution": (RegularizedEvolution(population_size=10, tournament_size=3), None),
    }
    optimum = float(np.asarray(bench.metric).max())
    for e in entries:
        assert e["benchmark"] == "toy" and e["num_seeds"] == SEEDS and e["budget"] == BUDGET
        strategy, params = expected[e["algo"]]
        metric = np.asarray(sweep(strategy, bench, seed_keys(0, SEEDS), BUDGET, params).metric)
        best = np.maximum.accumulate(metric, axis=1)
        np.testing.assert_allclose(e["best_so_far"], best, atol=2e-6)
        # test_metric = metric + 0.01 on every row: the incumbent's test value is best + 0.01.
        np.testing.assert_allclose(e["best_test_so_far"], best + 0.01, atol=2e-6)
        first = [int(np.argmax(row >= optimum)) + 1 if (row >= optimum).any() else None
                 for row in metric]
        assert e["samples_to_optimum"] == first
        assert e["summary"]["final_regret_median"] == pytest.approx(
            np.median(optimum - best[:, -1]), abs=1e-6)
        assert e["wall_seconds"] >= e["compile_seconds"] > 0
    assert entries[0]["config"]["num_selects"] == 10
    assert (out / "curves.png").stat().st_size > 1000
    printed = results[0]["stdout"]
    assert "median" in printed and "lanas" in printed


@pytest.mark.parametrize("case", range(len(BAD_FLAGS)))
def test_bad_flags_fail_with_a_clear_message(calls, case):
    _, results = calls
    flag, message = BAD_FLAGS[case]
    error = results[1 + case]["error"]
    assert error is not None and message in error, (flag, error)


def test_a_bad_flag_exits_non_zero_and_writes_nothing(table, tmp_path):
    proc = run_module("experiments.search", f"--benchmark={table}", "--algo=lanas,bogus",
                      f"--output_dir={tmp_path}")
    assert proc.returncode != 0 and "unknown strategy 'bogus'" in proc.stderr
    assert not (tmp_path / "results.json").exists()


def test_lists_the_embedded_benchmarks(calls):
    listed = calls[1][-1]
    assert listed["error"] is None, listed
    assert "nb201_cifar10" in listed["stdout"] and "15625" in listed["stdout"]
    # A table built by training shows how far its seeds agree (issue 13 item 3); NB201 records
    # no seeds.
    rows = {line.split()[0]: line.split() for line in listed["stdout"].splitlines()[1:]}
    assert rows["convnet1364_digits"][-1] == "0.128" and rows["nb201_cifar10"][-1] == "-"
