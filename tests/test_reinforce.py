"""REINFORCE (NAS-Bench-201's baseline): sampling, the EMA baseline, the policy-gradient step,
the repeat rules, and token policies on real and open spaces."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from table_driver import by_hand
from test_l2nas import cells_bench
from test_strategy_core import TinyArch, TinySpace, codes, tiny_evaluator

from lanas_jax import scanned
from lanas_jax.domain import Domain, open_domain
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.spaces.convnet import ConvNet
from lanas_jax.spaces.nb201 import NB201
from lanas_jax.strategies.reinforce import Reinforce, ReinforceParams, log_prob


@pytest.fixture(scope="module")
def bench():
    return cells_bench()


@pytest.fixture(scope="module")
def domain(bench):
    return scanned.table_evaluator(bench).domain


def test_log_prob_by_hand() -> None:
    logits = jnp.array([[0.0, jnp.log(3.0)], [jnp.log(2.0), jnp.log(2.0)]])
    tokens = jnp.array([1, 0])  # op 1 on edge 0 (p = 3/4), op 0 on edge 1 (p = 1/2)
    assert float(log_prob(logits, tokens)) == pytest.approx(np.log(0.75 * 0.5), rel=1e-6)


def test_samples_follow_the_per_edge_softmax(bench, domain) -> None:
    strategy = Reinforce()
    params = strategy.default_params()
    state = strategy.init(jax.random.key(0), domain, 10, params)
    logits = jnp.array(np.random.default_rng(0).normal(size=(4, 5)), jnp.float32)
    state = state.replace(inner=state.inner.replace(logits=logits))
    keys = jax.random.split(jax.random.key(1), 4000)
    archs, _ = jax.vmap(lambda k: strategy.ask(k, state, domain, params))(keys)
    rows = np.asarray(archs.row)[:, 0]
    ops = np.asarray(bench.features)[rows].reshape(-1, 4, 5).mean(0)
    np.testing.assert_allclose(ops, np.asarray(jax.nn.softmax(logits, -1)), atol=0.03)


def test_ema_baseline_and_first_steps(bench, domain) -> None:
    strategy = Reinforce()
    params = ReinforceParams(learning_rate=0.1)
    state = strategy.init(jax.random.key(0), domain, 10, params)
    before = np.asarray(state.inner.logits)
    batch = lambda row: jax.tree.map(lambda a: a[None], domain.arch(row))  # noqa: E731
    # First reward: the bias-corrected EMA equals it, so the advantage and the step are zero.
    state = strategy.tell(state, batch(3), jnp.array([0.5]), domain, params)
    np.testing.assert_allclose(np.asarray(state.inner.logits), before, atol=1e-7)
    assert float(state.inner.ema_num / state.inner.ema_den) == pytest.approx(50.0)
    # Second reward 0.7 (70 in percent): baseline (0.09 * 50 + 0.1 * 70) / 0.19.
    state = strategy.tell(state, batch(7), jnp.array([0.7]), domain, params)
    baseline = (0.09 * 50 + 0.1 * 70) / 0.19
    assert float(state.inner.ema_num / state.inner.ema_den) == pytest.approx(baseline, rel=1e-6)
    # A positive advantage. Adam at its 2nd step after a zero gradient moves every coordinate by
    # lr * (0.1 / (1 - 0.9^2)) / sqrt(0.001 / (1 - 0.999^2)) * sign(grad); grad log pi =
    # one-hot - softmax, so the queried ops go up and every other op goes down.
    cell = np.asarray(bench.features[7]).reshape(4, 5)
    step = 0.1 * (0.1 / (1 - 0.9**2)) / np.sqrt(0.001 / (1 - 0.999**2))
    expected = before + step * np.where(cell > 0, 1.0, -1.0)
    np.testing.assert_allclose(np.asarray(state.inner.logits), expected, atol=1e-4)
    assert int(state.archive.count) == 2


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


def test_repeats_are_counted_through_the_archive(bench) -> None:
    params = ReinforceParams(learning_rate=0.2)
    evaluator = scanned.table_evaluator(bench)
    _, state = scanned.sweep(Reinforce(), evaluator, jax.random.key(0)[None], 150, params,
                             with_state=True)
    # A sharp policy soon samples cells it has queried: the unseen rule replaced them.
    assert int(state.inner.repeats[0]) > 10
    assert int(state.archive.count[0]) == 150


def test_rejects_tables_that_are_not_one_hot_cells(bench) -> None:
    dense = dataclasses.replace(bench, features=bench.features * 0.5)
    with pytest.raises(ValueError, match="one-hot"):
        run_search(Reinforce(), dense, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="repeats"):
        run_search(Reinforce(repeats="sometimes"), bench, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="defines no tokens"):
        scanned.sweep(Reinforce(), tiny_evaluator(), jax.random.key(0)[None], 10)


def test_nb201_policy_is_one_softmax_per_edge() -> None:
    domain = open_domain(NB201())  # dense and small: a pool of every cell
    strategy = Reinforce()
    state = strategy.init(jax.random.key(0), domain, 10, strategy.default_params())
    assert state.inner.logits.shape == (6, 5)
    assert float(jnp.abs(state.inner.logits).max()) < 1e-2  # 1e-3 N(0, 1)


def test_convnet_tokens_mask_the_depth_vocab() -> None:
    domain = open_domain(ConvNet())
    strategy = Reinforce()
    params = strategy.default_params()
    state = strategy.init(jax.random.key(0), domain, 10, params)
    assert state.inner.logits.shape == (6, 5)  # vocab (5, 4, 4, 4, 4, 4)
    logits = state.inner.logits.at[1:, 4].set(50.0)  # push every layer toward the masked id
    state = state.replace(inner=state.inner.replace(logits=logits))
    archs, _ = jax.vmap(lambda k: strategy.ask(k, state, domain, params))(
        jax.random.split(jax.random.key(1), 200))
    assert int(np.asarray(archs.choice).max()) < 4


@dataclasses.dataclass(frozen=True)
class TokenTiny(TinySpace):
    """The tiny open space with its three choices as tokens."""

    vocab_sizes = (4, 4, 4)

    def tokens(self, arch):
        return arch.x

    def from_tokens(self, tokens):
        return TinyArch(jnp.asarray(tokens, jnp.int32))


def token_evaluator():
    base = tiny_evaluator()
    return dataclasses.replace(base, open=Domain(TokenTiny()))


@pytest.mark.parametrize("repeats", ["unseen", "requery"])
def test_open_domain_rules_and_scanned_equals_by_hand(repeats) -> None:
    strategy = Reinforce(repeats=repeats, batch_size=4)
    evaluator = token_evaluator()
    keys = jax.random.split(jax.random.key(2), 2)
    swept = scanned.sweep(strategy, evaluator, keys, 32)
    for c in codes(swept.archs):
        if repeats == "unseen":
            assert len(set(c.tolist())) == 32
        else:
            assert len(set(c.tolist())) < 32
    hand, _ = by_hand(strategy, evaluator, keys[1], 32)
    np.testing.assert_array_equal(codes(hand), codes(
        jax.tree.map(lambda a: a[1], swept.archs)))
