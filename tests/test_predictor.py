"""Predictor search (NAO adapted to a table, seed 000 Sec. 4.2): the MLP, the round structure,
and sample efficiency on a table an MLP can learn."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from search_checks import assert_never_repeats, linear_bench, ratio_to_random_search
from table_driver import by_hand
from test_strategy_core import codes, tiny_evaluator

from lanas_jax import archive as archive_lib
from lanas_jax import scanned, strategies
from lanas_jax.benchmarks.base import Benchmark
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.scanned import table_evaluator
from lanas_jax.strategies.predictor import MLP, PredictorSearch, masked_mse


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return linear_bench()


SMALL = PredictorSearch(num_init=10, num_selects=10, hidden=(16,), train_steps=50,
                        train_batch_size=32)


def test_registered() -> None:
    assert isinstance(strategies.make("predictor"), PredictorSearch)


def test_masked_mse_ignores_masked_rows() -> None:
    mlp = MLP((4,))
    weights = mlp.init(jax.random.key(0), jnp.zeros((1, 3)))["params"]
    x = jax.random.normal(jax.random.key(1), (5, 3))
    pred = np.asarray(mlp.apply({"params": weights}, x))
    y = jnp.asarray(pred + np.array([1.0, 2.0, 100.0, -100.0, 3.0]), jnp.float32)
    mask = jnp.array([True, True, False, False, True])
    loss = float(masked_mse(weights, mlp, x, y, mask, 0.0))
    np.testing.assert_allclose(loss, (1 + 4 + 9) / 3, rtol=1e-5)


def test_rounds_query_the_top_predicted_unseen_entries(bench: Benchmark) -> None:
    domain = table_evaluator(bench).domain
    strategy, params = SMALL, SMALL.default_params()
    init_key, scan_key = jax.random.split(jax.random.key(4))
    state = strategy.init(init_key, domain, 60, params)
    asked = []
    for t, key in enumerate(jax.random.split(scan_key, 60)):
        if t >= 10 and (t - 10) % 10 == 0:  # a round begins at this ask: rank the unseen rows
            unseen = np.asarray(archive_lib.unseen_rows(state.archive))
        archs, state = strategy.ask(key, state, domain, params)
        index = int(archs.row[0])
        if t >= 10 and (t - 10) % 10 == 0:
            score = np.where(unseen, np.asarray(state.inner.score), -np.inf)
            expected_round = set(np.argsort(-score, kind="stable")[:10].tolist())
        if t >= 10:
            assert index in expected_round
        asked.append(index)
        state = strategy.tell(state, archs, bench.metric[archs.row], domain, params)
    assert len(set(asked)) == 60 and int(state.archive.count) == 60


def test_training_fits_the_evaluated_entries(bench: Benchmark) -> None:
    # One round on 100 random entries: the scores of the unseen ones track their metric.
    domain = table_evaluator(bench).domain
    strategy = PredictorSearch(num_init=100, num_selects=100, train_steps=300)
    params = strategy.default_params()
    state = strategy.init(jax.random.key(1), domain, 128, params)
    picked = jax.random.choice(jax.random.key(2), bench.size, (100,), replace=False)
    archive = archive_lib.add(state.archive, domain, domain.arch(picked), bench.metric[picked])
    state = state.replace(archive=archive)
    score, _ = strategy.refit(jax.random.key(3), state, domain, domain.features, params)
    unseen = ~np.asarray(archive.seen)
    corr = np.corrcoef(np.asarray(score)[unseen], np.asarray(bench.metric)[unseen])[0, 1]
    assert corr > 0.8


def test_open_domain_rounds_rank_new_candidates() -> None:
    # The tiny open space (64 architectures, additive score): after 8 random proposals, each
    # round's proposals are the best-predicted new candidates, nothing repeats, and the
    # scanned runner equals the public protocol.
    strategy = PredictorSearch(num_init=8, num_selects=8, candidates=32, hidden=(16,),
                               train_steps=20, train_batch_size=16, batch_size=4)
    evaluator = tiny_evaluator()
    keys = jax.random.split(jax.random.key(3), 2)
    swept = scanned.sweep(strategy, evaluator, keys, 24)
    for c in codes(swept.archs):
        assert len(set(c.tolist())) == 24
    hand, state = by_hand(strategy, evaluator, keys[0], 24)
    np.testing.assert_array_equal(codes(hand), codes(swept.archs)[0])
    # The last round (8 proposals from asks 16..23) took the top-scored new candidates.
    assert bool(state.inner.fitted)
    cand = codes(state.inner.candidates)
    score = np.asarray(state.inner.score)
    last = set(codes(hand)[16:].tolist())
    ranked = [c for c in cand[np.argsort(-score, kind="stable")].tolist()
              if np.isfinite(score[cand.tolist().index(c)])]
    top = list(dict.fromkeys(ranked))[:8]
    assert last == set(top)
    # Later rounds find better architectures than the random start.
    values = np.asarray(swept.value)
    assert values[:, 16:].mean() > values[:, :8].mean()


KEYS = seed_keys(0, 6)


@pytest.fixture(scope="module")
def swept(bench: Benchmark):
    """Six seeds over the whole table, one compiled call (shared by the tests below)."""
    return sweep(SMALL, bench, KEYS, bench.size)


def test_vmapped_equals_per_seed(bench: Benchmark, swept) -> None:
    single = run_search(SMALL, bench, KEYS[1], bench.size)
    np.testing.assert_array_equal(np.asarray(swept.indices[1]), np.asarray(single.indices))


def test_never_repeats_over_the_whole_table(bench: Benchmark, swept) -> None:
    assert_never_repeats(swept.indices, bench.size)


def test_beats_random_search_on_a_linear_table(bench: Benchmark, swept) -> None:
    ours, rs = ratio_to_random_search(swept.metric, bench, KEYS)
    assert ours < 0.5 * rs, (ours, rs)


@pytest.mark.parametrize(
    "config, match",
    [({"num_init": 0}, "num_init"), ({"num_selects": 0}, "num_selects"),
     ({"hidden": ()}, "hidden"), ({"train_steps": 0}, "train_steps"),
     ({"num_init": 10, "batch_size": 4}, "multiple of batch_size")],
)
def test_bad_configuration_is_rejected(bench: Benchmark, config, match) -> None:
    with pytest.raises(ValueError, match=match):
        run_search(PredictorSearch(**config), bench, jax.random.key(0), 20)
