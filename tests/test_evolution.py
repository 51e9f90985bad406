"""Regularized evolution (Real et al. 2019, Alg. 1): behaviour specific to aging evolution."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from lanas_jax import strategies
from lanas_jax.benchmarks.base import Benchmark, from_arrays
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies.evolution import RegularizedEvolution


def smooth_bench(slots: int = 4, choices: int = 5, seed: int = 0) -> Benchmark:
    """All ``choices**slots`` cells, an additive metric (one unique optimum, smooth under
    one-slot edits) and the one-slot-change neighbors."""
    rng = np.random.default_rng(seed)
    cells = np.array(list(itertools.product(range(choices), repeat=slots)))
    n = len(cells)
    features = np.zeros((n, slots * choices), np.float32)
    features[np.arange(n)[:, None], np.arange(slots) * choices + cells] = 1.0
    weights = rng.permutation(slots * choices).reshape(slots, choices).astype(np.float64)
    metric = weights[np.arange(slots), cells].sum(1) + 0.01 * rng.uniform(size=n)
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
    return from_arrays(features, metric, neighbors=neighbors, name="smooth")


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return smooth_bench()


def samples_to_optimum(metric: np.ndarray, optimum: float) -> np.ndarray:
    """1 + the first step whose metric is the optimum, per row (budget + 1 if never)."""
    hit = metric == optimum
    return np.where(hit.any(-1), hit.argmax(-1) + 1, metric.shape[-1] + 1)


def test_registered_under_its_name_with_its_settings_reaching_the_search(
        bench: Benchmark) -> None:
    """``make`` forwards its keyword arguments and the defaults are population 50, tournament
    10 (Real et al.'s NAS-Bench setting as NAS-Bench-201 runs it): the searches themselves are
    compared, so a dropped keyword or a changed default changes the queried entries."""
    # The shapes and the (20, 5) search of the test below: one compile shared.
    keys, budget = seed_keys(7, 3), 120

    def indices(strategy):
        return np.asarray(sweep(strategy, bench, keys, budget).indices)

    made = strategies.make("evolution", population_size=20, tournament_size=5)
    assert isinstance(made, RegularizedEvolution)
    small = indices(RegularizedEvolution(20, 5))
    np.testing.assert_array_equal(indices(made), small)
    default = indices(strategies.make("evolution"))
    np.testing.assert_array_equal(default, indices(RegularizedEvolution(50, 10)))
    assert not np.array_equal(default, small)


def test_initial_population_is_distinct_and_random(bench: Benchmark) -> None:
    strategy = RegularizedEvolution(population_size=30, tournament_size=5)
    history = sweep(strategy, bench, seed_keys(0, 4), 30)
    indices = np.asarray(history.indices)
    for row in indices:
        assert len(set(row.tolist())) == 30
    # Different seeds draw different populations, and not in table order.
    assert len({tuple(row) for row in indices}) == 4
    assert not all(np.all(np.diff(row) > 0) for row in indices)


def test_children_are_neighbors_of_the_current_population(bench: Benchmark) -> None:
    p, budget = 20, 120
    strategy = RegularizedEvolution(population_size=p, tournament_size=5)
    neighbors = np.asarray(bench.neighbors)
    checked = 0
    for indices in np.asarray(sweep(strategy, bench, seed_keys(1, 3), budget).indices):
        for t in range(p, budget):
            population = indices[t - p : t]  # aging: the population is the last P queries
            seen = set(indices[:t].tolist())
            exhausted = any(set(neighbors[m].tolist()) <= seen for m in population)
            if exhausted:  # the random-unseen fallback may have fired
                continue
            assert indices[t] in neighbors[population], (t, indices[t])
            checked += 1
    assert checked > 0.8 * 3 * (budget - p)


def test_parent_next_to_the_optimum_finds_it() -> None:
    # A star: every entry's only mutation is `near`, whose only mutation is the optimum.
    n, near, best = 60, 10, 20
    rng = np.random.default_rng(0)
    metric = rng.uniform(0.0, 0.5, size=n)
    metric[near], metric[best] = 0.9, 1.0
    neighbors = np.full((n, 1), near, np.int32)
    neighbors[near, 0] = best
    neighbors[best, 0] = -1
    table = from_arrays(np.eye(n, dtype=np.float32), metric, neighbors=neighbors)
    p = 5
    strategy = RegularizedEvolution(population_size=p, tournament_size=p)  # parent = best
    indices = np.asarray(sweep(strategy, table, seed_keys(2, 10), 3 * p).indices)
    for row in indices:
        row = row.tolist()
        assert best in row[: p + 2]  # at worst: random init, then `near`, then the optimum
        if near in row[:p] and best not in row[:p]:
            assert row[p] == best


def test_falls_back_to_random_unseen_without_usable_neighbors() -> None:
    n = 40
    metric = np.random.default_rng(0).normal(size=n)
    table = from_arrays(
        np.eye(n, dtype=np.float32), metric, neighbors=np.full((n, 3), -1, np.int32)
    )
    strategy = RegularizedEvolution(population_size=4, tournament_size=2)
    indices = np.asarray(run_search(strategy, table, jax.random.key(0), n).indices)
    np.testing.assert_array_equal(np.sort(indices), np.arange(n))


def test_missing_neighbors_is_rejected(bench: Benchmark) -> None:
    table = from_arrays(np.asarray(bench.features), np.asarray(bench.metric))
    with pytest.raises(ValueError, match="neighbors"):
        run_search(RegularizedEvolution(), table, jax.random.key(0), 10)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"population_size": 5, "tournament_size": 6}, "tournament_size"),
        ({"population_size": 0, "tournament_size": 1}, "population_size"),
        ({"population_size": 5, "tournament_size": 0}, "tournament_size"),
    ],
)
def test_inconsistent_sizes_are_rejected(bench: Benchmark, config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_search(RegularizedEvolution(**config), bench, jax.random.key(0), 10)


def test_beats_random_search_on_a_smooth_table(bench: Benchmark) -> None:
    keys = seed_keys(5, 20)
    optimum = bench.optimum
    evo = sweep(
        RegularizedEvolution(population_size=20, tournament_size=5), bench, keys, bench.size
    )
    rnd = sweep(strategies.make("random"), bench, keys, bench.size)
    evo_steps = samples_to_optimum(np.asarray(evo.metric), optimum).mean()
    rnd_steps = samples_to_optimum(np.asarray(rnd.metric), optimum).mean()
    # Random search needs (N + 1) / 2 = 313 samples on average for the one optimum.
    assert evo_steps < 0.4 * rnd_steps, (evo_steps, rnd_steps)
