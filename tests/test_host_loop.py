"""The host loop (searches over evaluators that leave the device): it proposes what the
scanned runner proposes over a jittable evaluator, never evaluates an architecture twice, and a
journaled search resumes without evaluating a finished round again."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest

from lanas_jax import host_loop, scanned, strategies
from lanas_jax.evaluators.synthetic import synthetic
from lanas_jax.spaces import get_space

BUDGET, WIDTH = 12, 3


def _evaluator(name):
    return synthetic(get_space(name), jax.random.key(3))


def _strategy(name):
    config = {"evolution": dict(population_size=6, tournament_size=2),
              "lanas": dict(tree_height=2, num_init=6, num_selects=3,
                            leaf_sampler="hit_and_run", num_proposals=4, burn_in=2)}[name]
    return dataclasses.replace(strategies.make(name, **config), batch_size=WIDTH)


class _Counting:
    """A synthetic evaluator that counts the architectures it evaluates."""

    def __init__(self, inner):
        self.inner, self.count = inner, 0

    @property
    def domain(self):
        return self.inner.domain

    def evaluate(self, archs, key=None):
        self.count += int(np.shape(jax.tree.leaves(archs)[0])[0])
        return self.inner.evaluate(archs)


def test_proposes_what_the_scanned_runner_proposes() -> None:
    """LaNAS: rounds (refits) and batches; the journal test covers evolution."""
    evaluator, strategy = _evaluator("mlp"), _strategy("lanas")
    keys = jax.random.split(jax.random.key(1), 2)
    want = scanned.sweep(strategy, evaluator, keys, BUDGET)
    got = host_loop.search(strategy, evaluator, keys, BUDGET)
    np.testing.assert_allclose(got.value, np.asarray(want.value), rtol=1e-6)
    space = evaluator.domain.space
    for s in range(2):
        names = [space.describe(jax.tree.map(lambda a, s=s, j=j: np.asarray(a)[s, j],
                                             want.archs)) for j in range(BUDGET)]
        assert [r.arch for r in got.records[s]] == names
        assert len(set(names)) == BUDGET  # never twice
        assert [r.round for r in got.records[s]] == list(np.repeat(np.arange(4), WIDTH))


def test_a_journaled_search_resumes_without_evaluating_again(tmp_path) -> None:
    strategy = _strategy("evolution")
    keys = jax.random.split(jax.random.key(2), 2)
    path = str(tmp_path / "journal.jsonl")
    ident = {"algo": "evolution", "budget": BUDGET}
    first = _Counting(_evaluator("mlp"))
    full = host_loop.search(strategy, first, keys, BUDGET,
                            journal=host_loop.Journal(path, ident))
    assert first.count == 2 * BUDGET and full.replayed == 0
    # A kill during round 3: its line is torn, rounds 0-2 are whole.
    lines = open(path).read().splitlines()
    assert len(lines) == 1 + BUDGET // WIDTH
    with open(path, "w") as f:
        f.write("\n".join(lines[:4]) + "\n" + lines[4][: len(lines[4]) // 2])
    again = _Counting(_evaluator("mlp"))
    resumed = host_loop.search(strategy, again, keys, BUDGET,
                               journal=host_loop.Journal(path, ident))
    assert again.count == 2 * WIDTH  # only the torn round
    assert resumed.replayed == 2 * (BUDGET - WIDTH)
    np.testing.assert_array_equal(resumed.value, full.value)
    assert len(open(path).read().splitlines()) == 1 + BUDGET // WIDTH
    with pytest.raises(host_loop.JournalMismatch, match="budget"):
        host_loop.Journal(path, {"algo": "evolution", "budget": 24})
    # A journal whose proposals differ (another key) is refused, not silently replayed.
    with pytest.raises(host_loop.JournalMismatch, match="round 0"):
        host_loop.search(strategy, _evaluator("mlp"), jax.random.split(jax.random.key(9), 2),
                         BUDGET, journal=host_loop.Journal(path, ident))
    assert json.loads(lines[0])["identity"] == ident


def test_nan_evaluations_and_bad_budgets_are_refused() -> None:
    class NaNs(_Counting):
        def evaluate(self, archs, key=None):
            ev = self.inner.evaluate(archs)
            return ev.replace(value=ev.value * np.nan)

    strategy = _strategy("evolution")
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match="diverged"):
        host_loop.search(strategy, NaNs(_evaluator("mlp")), keys, BUDGET)
    with pytest.raises(ValueError, match="multiple of the batch size"):
        host_loop.search(strategy, _evaluator("mlp"), keys, BUDGET + 1)
    with pytest.raises(ValueError, match="larger than the search space"):
        host_loop.search(strategy, _evaluator("convnet"), keys, 1365 + 2)
