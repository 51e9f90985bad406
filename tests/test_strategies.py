"""Protocol tests every registered strategy must pass, on a small synthetic table."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from table_driver import by_hand

from lanas_jax import strategies
from lanas_jax.benchmarks.base import Benchmark, from_arrays
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.scanned import table_evaluator

SLOTS, CHOICES = 4, 5  # N = 5**4 = 625 cells
BUDGET = 80  # > the default evolution population, so every phase of a strategy runs

NAMES = strategies.registered()
assert {"lanas", "random", "evolution"} <= set(NAMES)


def cells_bench(slots: int = SLOTS, choices: int = CHOICES, seed: int = 0) -> Benchmark:
    """Every assignment of ``choices`` options to ``slots`` categorical slots: one-hot
    features, an additive-plus-interaction metric with noise, one-slot-change neighbors."""
    rng = np.random.default_rng(seed)
    cells = np.array(list(itertools.product(range(choices), repeat=slots)))
    n = len(cells)
    features = np.zeros((n, slots * choices), np.float32)
    features[np.arange(n)[:, None], np.arange(slots) * choices + cells] = 1.0
    weights = rng.normal(size=(slots, choices))
    metric = weights[np.arange(slots), cells].sum(1)
    metric += 0.3 * weights[0, cells[:, 0]] * weights[1, cells[:, 1]]
    metric += 0.05 * rng.normal(size=n)
    index = {tuple(c): i for i, c in enumerate(cells)}
    neighbors = np.array(
        [
            [
                index[tuple(np.where(np.arange(slots) == s, v, c))]
                for s in range(slots)
                for v in range(choices)
                if v != c[s]
            ]
            for c in cells
        ],
        np.int32,
    )
    test_metric = metric + 0.01 * rng.normal(size=n)
    return from_arrays(features, metric, test_metric, neighbors=neighbors, name="cells")


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return cells_bench()


def _looped(strategy, bench: Benchmark, key: jax.Array, budget: int) -> list[int]:
    """The table rows the public init/ask/tell, driven by hand, query."""
    evaluator = table_evaluator(bench)
    archs, _ = by_hand(strategy, evaluator, key, budget)
    return [int(r) for r in evaluator.evaluate(archs).row]


@pytest.mark.parametrize("name", NAMES)
def test_runs_under_scan_and_python_loop_identically(name: str, bench: Benchmark) -> None:
    strategy = strategies.make(name)
    key = jax.random.key(3)
    looped = _looped(strategy, bench, key, BUDGET)
    scanned = run_search(strategy, bench, key, BUDGET)
    np.testing.assert_array_equal(np.asarray(scanned.indices), np.array(looped))
    np.testing.assert_array_equal(
        np.asarray(scanned.metric), np.asarray(bench.metric)[np.array(looped)]
    )


@pytest.mark.parametrize("name", NAMES)
def test_vmapped_sweep_equals_per_seed_runs(name: str, bench: Benchmark) -> None:
    strategy = strategies.make(name)
    keys = seed_keys(0, 3)
    swept = sweep(strategy, bench, keys, BUDGET)
    assert swept.indices.shape == (3, BUDGET)
    for i in range(3):
        single = run_search(strategy, bench, keys[i], BUDGET)
        np.testing.assert_array_equal(np.asarray(swept.indices[i]), np.asarray(single.indices))
        np.testing.assert_array_equal(np.asarray(swept.metric[i]), np.asarray(single.metric))
        np.testing.assert_array_equal(
            np.asarray(swept.test_metric[i]), np.asarray(single.test_metric)
        )


@pytest.mark.parametrize("name", NAMES)
def test_never_queries_an_architecture_twice(name: str, bench: Benchmark) -> None:
    history = run_search(strategies.make(name), bench, jax.random.key(1), bench.size)
    indices = np.asarray(history.indices)
    np.testing.assert_array_equal(np.sort(indices), np.arange(bench.size))


@pytest.mark.parametrize("name", NAMES)
def test_same_key_same_result(name: str, bench: Benchmark) -> None:
    strategy = strategies.make(name)
    a = run_search(strategy, bench, jax.random.key(7), BUDGET)
    b = run_search(strategy, bench, jax.random.key(7), BUDGET)
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))


@pytest.mark.parametrize("name", NAMES)
def test_different_keys_differ(name: str, bench: Benchmark) -> None:
    strategy = strategies.make(name)
    a = run_search(strategy, bench, jax.random.key(7), BUDGET)
    b = run_search(strategy, bench, jax.random.key(8), BUDGET)
    assert not np.array_equal(np.asarray(a.indices), np.asarray(b.indices))


@pytest.mark.parametrize("name", NAMES)
def test_budget_larger_than_space_is_rejected(name: str, bench: Benchmark) -> None:
    with pytest.raises(ValueError, match="budget"):
        run_search(strategies.make(name), bench, jax.random.key(0), bench.size + 1)


def test_unknown_strategy_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'no-such-method'"):
        strategies.make("no-such-method")
