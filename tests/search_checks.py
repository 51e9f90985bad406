"""Shared pieces of the baseline strategies' tests: a small linear table and the checks every
model-based strategy must pass on it (no repeats over the whole table, beats random search)."""

from __future__ import annotations

import itertools

import numpy as np

from lanas_jax import analysis
from lanas_jax.benchmarks.base import Benchmark, from_arrays
from lanas_jax.runner import sweep
from lanas_jax.strategies.random_search import RandomSearch


def linear_bench(slots: int = 4, choices: int = 4, seed: int = 0, neighbors: bool = False,
                 name: str = "linear") -> Benchmark:
    """Every cell of ``slots`` one-hot slots; metric additive in the choices (unique optimum).
    ``neighbors``: the table also lists every entry's one-edit neighbours (for mutation)."""
    rng = np.random.default_rng(seed)
    cells = np.array(list(itertools.product(range(choices), repeat=slots)))
    n = len(cells)
    features = np.zeros((n, slots * choices), np.float32)
    features[np.arange(n)[:, None], np.arange(slots) * choices + cells] = 1.0
    weights = rng.permutation(slots * choices).reshape(slots, choices) / (slots * choices)
    metric = weights[np.arange(slots), cells].sum(1) / slots + 1e-3 * rng.uniform(size=n)
    if not neighbors:
        return from_arrays(features, metric, name=name)
    index = {tuple(c): i for i, c in enumerate(cells)}
    nbrs = [[index[tuple(np.where(np.arange(slots) == s, v, c))]
             for s in range(slots) for v in range(choices) if v != c[s]] for c in cells]
    return from_arrays(features, metric, neighbors=np.array(nbrs, np.int32), name=name)


def mean_samples_to_optimum(metric: np.ndarray, optimum: float) -> float:
    """Mean over seeds of the samples to the optimum, a seed that never drew it counting as
    budget + 1."""
    metric = np.asarray(metric)
    samples = analysis.samples_to_optimum(metric, optimum)
    return float(np.mean([metric.shape[-1] + 1 if s is None else s for s in samples]))


def assert_never_repeats(indices, size: int) -> None:
    """Every seed's run over the whole table queries each entry exactly once."""
    for row in np.asarray(indices):
        np.testing.assert_array_equal(np.sort(row), np.arange(size))


def ratio_to_random_search(metric, bench: Benchmark, keys) -> tuple[float, float]:
    """(ours, random search's) mean samples to the optimum over the same seeds."""
    ours = mean_samples_to_optimum(metric, bench.optimum)
    rs = sweep(RandomSearch(), bench, keys, bench.size).metric
    return ours, mean_samples_to_optimum(rs, bench.optimum)
