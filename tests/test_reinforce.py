"""REINFORCE (NAS-Bench-201's baseline): sampling, the EMA baseline, the policy-gradient step."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_l2nas import cells_bench

from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies.reinforce import Reinforce, ReinforceParams, log_prob


@pytest.fixture(scope="module")
def bench():
    return cells_bench()


def test_log_prob_by_hand() -> None:
    logits = jnp.array([[0.0, jnp.log(3.0)], [jnp.log(2.0), jnp.log(2.0)]])
    cell = jnp.array([0.0, 1.0, 1.0, 0.0])  # op 1 on edge 0 (p = 3/4), op 0 on edge 1 (p = 1/2)
    assert float(log_prob(logits, cell)) == pytest.approx(np.log(0.75 * 0.5), rel=1e-6)


def test_samples_follow_the_per_edge_softmax(bench) -> None:
    strategy = Reinforce()
    params = strategy.default_params()
    state = strategy.init(jax.random.key(0), bench, 10, params)
    logits = jnp.array(np.random.default_rng(0).normal(size=(4, 5)), jnp.float32)
    state = state.replace(logits=logits)
    keys = jax.random.split(jax.random.key(1), 4000)
    index, _ = jax.vmap(lambda k: strategy.ask(k, state, bench, params))(keys)
    ops = np.asarray(bench.features)[np.asarray(index)].reshape(-1, 4, 5).mean(0)
    np.testing.assert_allclose(ops, np.asarray(jax.nn.softmax(logits, -1)), atol=0.03)


def test_ema_baseline_and_first_steps(bench) -> None:
    strategy = Reinforce()
    params = ReinforceParams(learning_rate=0.1)
    state = strategy.init(jax.random.key(0), bench, 10, params)
    before = np.asarray(state.logits)
    # First reward: the bias-corrected EMA equals it, so the advantage and the step are zero.
    state = strategy.tell(state, jnp.int32(3), jnp.float32(0.5), bench, params)
    np.testing.assert_allclose(np.asarray(state.logits), before, atol=1e-7)
    assert float(state.ema_num / state.ema_den) == pytest.approx(50.0)
    # Second reward 0.7 (70 in percent): baseline (0.09 * 50 + 0.1 * 70) / 0.19.
    state = strategy.tell(state, jnp.int32(7), jnp.float32(0.7), bench, params)
    baseline = (0.09 * 50 + 0.1 * 70) / 0.19
    assert float(state.ema_num / state.ema_den) == pytest.approx(baseline, rel=1e-6)
    # A positive advantage. Adam at its 2nd step after a zero gradient moves every coordinate by
    # lr * (0.1 / (1 - 0.9^2)) / sqrt(0.001 / (1 - 0.999^2)) * sign(grad); grad log pi =
    # one-hot - softmax, so the queried ops go up and every other op goes down.
    cell = np.asarray(bench.features[7]).reshape(4, 5)
    step = 0.1 * (0.1 / (1 - 0.9**2)) / np.sqrt(0.001 / (1 - 0.999**2))
    expected = before + step * np.where(cell > 0, 1.0, -1.0)
    np.testing.assert_allclose(np.asarray(state.logits), expected, atol=1e-4)


def test_learns_the_best_ops_with_a_larger_learning_rate(bench) -> None:
    strategy = Reinforce()
    history = sweep(strategy, bench, seed_keys(0, 8), 200, ReinforceParams(learning_rate=0.05))
    metric = np.asarray(history.metric)
    assert metric[:, 150:].mean() > metric[:, :20].mean() + 0.5 * np.asarray(bench.metric).std()


def test_unseen_rule_never_repeats_and_requery_does(bench) -> None:
    params = ReinforceParams(learning_rate=0.2)
    unseen = run_search(Reinforce(), bench, jax.random.key(0), 150, params)
    assert len(np.unique(np.asarray(unseen.indices))) == 150
    requery = dataclasses.replace(Reinforce(), repeats="requery")
    again = run_search(requery, bench, jax.random.key(0), 150, params)
    assert len(np.unique(np.asarray(again.indices))) < 150


def test_rejects_tables_that_are_not_one_hot_cells(bench) -> None:
    dense = dataclasses.replace(bench, features=bench.features * 0.5)
    with pytest.raises(ValueError, match="one-hot"):
        run_search(Reinforce(), dense, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="repeats"):
        run_search(Reinforce(repeats="sometimes"), bench, jax.random.key(0), 10)
