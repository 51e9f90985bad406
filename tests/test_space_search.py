"""Every strategy on spaces no table covers: an open domain (the MLP-stack space, not dense)
and an enumerated dense space (the ConvNet space as its own pool), scored by the jittable
SyntheticEvaluator. Properties: never evaluates an architecture twice, the runner's values are
the evaluator's, seeds differ, the same key gives the same search."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from lanas_jax import scanned, strategies
from lanas_jax.evaluators.synthetic import synthetic
from lanas_jax.spaces import get_space
from lanas_jax.strategies.core import Strategy

BUDGET = 16
#: Small settings so that every phase of each strategy runs within the budget.
SMALL = {
    "lanas": dict(tree_height=3, num_init=4, num_selects=4, leaf_sampler="hit_and_run",
                  num_proposals=4, burn_in=2),
    "evolution": dict(population_size=4, tournament_size=2),
    "lamcts": dict(height=3, leaf_size=2, num_init=4, num_selects=4, mutation_tries=4),
    "bo": dict(num_init=4, num_selects=4, candidates=32, fit_steps=2),
    "predictor": dict(num_init=4, num_selects=4, candidates=32, train_steps=5),
    # The one-hot swap repair needs one-hot groups; these spaces' relaxations are not.
    "l2nas": dict(num_ops=0),
}
#: Strategies that search pools only, with the words of their refusal of an open domain.
POOL_ONLY = {"mcts": "pool"}


@pytest.fixture(scope="module")
def evaluators():
    return {name: synthetic(get_space(name), jax.random.key(3)) for name in ("mlp", "convnet")}


def _strategy(name: str, pool: bool):
    config = dict(SMALL.get(name, {}))
    if name == "lanas" and pool:
        config["leaf_sampler"] = "tabular"
    if name == "mcts" and pool:
        config["action_space"] = "convnet_global"  # the pool here is the ConvNet space
    return strategies.make(name, **config)


#: Cases whose property a strategy's own file checks on the same space, with more (the
#: scanned runner equals ask/tell by hand): not compiled twice.
COVERED = {("vaenas", "mlp"): "test_vaenas_strategy.py", ("l2nas", "mlp"): "test_l2nas.py"}
CASES = [(name, space) for space in ("mlp", "convnet") for name in strategies.registered()
         if (name, space) not in COVERED]


@pytest.mark.parametrize(("name", "space"), CASES)
def test_never_evaluates_an_architecture_twice_on_a_space(name, space, evaluators) -> None:
    evaluator = evaluators[space]
    strategy = _strategy(name, evaluator.domain.is_pool)
    assert isinstance(strategy, Strategy), f"{name} does not propose architectures"
    if name in POOL_ONLY and not evaluator.domain.is_pool:
        with pytest.raises(ValueError, match=POOL_ONLY[name]):
            scanned.sweep(strategy, evaluator, jax.random.split(jax.random.key(0), 2), BUDGET)
        return
    keys = jax.random.split(jax.random.key(0), 2)
    history = scanned.sweep(strategy, evaluator, keys, BUDGET)
    space_ = evaluator.domain.space
    ids = np.asarray(jax.vmap(jax.vmap(space_.key))(history.archs))
    for seed in range(2):
        assert len({tuple(k) for k in ids[seed]}) == BUDGET, f"seed {seed} repeated"
    assert not np.array_equal(ids[0], ids[1])
    np.testing.assert_allclose(
        np.asarray(history.value),
        np.asarray(jax.vmap(evaluator.evaluate)(history.archs).value), rtol=1e-6)
    again = scanned.sweep(strategy, evaluator, keys, BUDGET)
    np.testing.assert_array_equal(np.asarray(again.value), np.asarray(history.value))
