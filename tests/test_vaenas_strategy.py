"""The VAENAS sampler (seed 002, Eq. 5 / Alg. 2) as a strategy, with VAE retraining inside."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax import runner, scanned
from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies.core import Segment
from lanas_jax.strategies.evolution import RegularizedEvolution
from lanas_jax.vaenas.seeding import seeded_search
from lanas_jax.vaenas.strategy import VAENAS, VAENASParams
from lanas_jax.vaenas.views import space_spec
from tests.open_space import keys_of, mlp_evaluator

SLOTS, CHOICES = 4, 4  # 256 cells
SMALL = VAENAS(
    vocab=CHOICES, n_vae=20, tries=4, n_iters=30, vae_batch_size=16, embed=8, hidden=16, latent=4,
    learning_rate=1e-2,
)
BUDGET = 70  # VAE trainings before queries 20, 40 and 60


@pytest.fixture(scope="module")
def bench():
    rng = np.random.default_rng(0)
    cells = np.array(list(itertools.product(range(CHOICES), repeat=SLOTS)))
    features = np.eye(CHOICES, dtype=np.float32)[cells].reshape(len(cells), -1)
    weights = rng.normal(size=(SLOTS, CHOICES))
    metric = weights[np.arange(SLOTS), cells].sum(1) + 0.05 * rng.normal(size=len(cells))
    place = CHOICES ** np.arange(SLOTS - 1, -1, -1)
    neighbors = np.array([
        [(c + (v - c[s]) * (np.arange(SLOTS) == s)) @ place
         for s in range(SLOTS) for v in range(CHOICES) if v != c[s]]
        for c in cells
    ])  # rows are in code order: one-slot changes
    return from_arrays(features, metric, metric, neighbors=neighbors, name="cells4x4")


def _final_state(strategy, key, bench, budget, params):
    """One search's final state and queried rows."""
    hist, state = runner.sweep_with_state(strategy, bench, key[None], budget, params)
    return jax.tree.map(lambda a: a[0], state), hist.indices[0]


@pytest.fixture(scope="module")
def swept(bench):
    """3 seeds with eps = 1 after the first training: most queries come from the VAE."""
    keys = seed_keys(0, 3)
    return keys, sweep(SMALL, bench, keys, BUDGET, VAENASParams(1.0))


def test_vmapped_sweep_with_retraining_equals_per_seed_runs(bench, swept) -> None:
    keys, hist = swept
    for i in range(3):
        single = run_search(SMALL, bench, keys[i], BUDGET, VAENASParams(1.0))
        np.testing.assert_array_equal(np.asarray(hist.indices[i]), np.asarray(single.indices))
        assert len(set(np.asarray(single.indices).tolist())) == BUDGET


def test_vae_queries_are_better_than_uniform(bench, swept) -> None:
    """Trained on the top 25%, the VAE's proposals beat the uniform first queries."""
    metric = np.asarray(swept[1].metric)
    late, early = metric[:, SMALL.n_vae :].mean(), metric[:, : SMALL.n_vae].mean()
    assert late > early + 0.5 * np.asarray(bench.metric).std()


def test_trainings_are_structural_rounds(bench) -> None:
    """Rounds of n_vae queries, each begun by a training (Alg. 2), cover the budget; the
    scanned runner (no per-step cond) and the public ask/tell (cond on the count) agree."""
    assert SMALL.schedule(BUDGET) == (Segment(1, 20, False), Segment(2, 20, True),
                                      Segment(1, 10, True))
    assert [c for c in range(BUDGET) if SMALL.round_due(c)] == [20, 40, 60]
    wide = dataclasses.replace(SMALL, batch_size=4)
    assert wide.schedule(BUDGET) == (Segment(1, 5, False), Segment(2, 5, True),
                                     Segment(1, 2, True))
    with pytest.raises(ValueError, match="multiple of batch_size"):
        run_search(dataclasses.replace(SMALL, batch_size=3), bench, jax.random.key(0), 60)


def test_eps_grows_the_vae_answers_after_training_and_nothing_is_queried_twice(bench) -> None:
    n = bench.size
    state, indices = _final_state(SMALL, jax.random.key(1), bench, n, VAENASParams(1.0))
    # eps = min(1, count) = 1 from the second query, but the VAE is first trained at 20.
    inner = state.inner
    assert int(inner.vae_draws) == n - SMALL.n_vae
    assert 0 < int(inner.vae_fallbacks) <= int(inner.vae_repeats) <= int(inner.vae_draws)
    np.testing.assert_array_equal(np.sort(np.asarray(indices)), np.arange(n))
    state, indices = _final_state(SMALL, jax.random.key(1), bench, n, VAENASParams(0.0))
    assert int(state.inner.vae_draws) == 0  # eps stays 0: Gamma = U
    np.testing.assert_array_equal(np.sort(np.asarray(indices)), np.arange(n))


def test_rejects_a_table_that_is_not_one_hot_slots(bench) -> None:
    bad = from_arrays(np.asarray(bench.features) * 0.5, bench.metric, name="halves")
    with pytest.raises(ValueError, match="vaenas tokenises .* one-hot"):
        run_search(SMALL, bad, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="top_frac"):
        run_search(VAENAS(vocab=CHOICES, top_frac=0.0), bench, jax.random.key(0), 10)


def test_seeded_search_starts_from_the_given_rows_skipping_repeats(bench) -> None:
    """Sec. 5.3: evolution's initial population taken from a list (e.g. VAE samples)."""
    evo = RegularizedEvolution(population_size=5, tournament_size=2)
    rows = np.array([3, 3, 7, 9, 7, 11, 12, 40], np.int32)
    hist, used = seeded_search(evo, bench, jax.random.key(0), 30, rows, 5)
    indices = np.asarray(hist.indices)
    np.testing.assert_array_equal(indices[:5], [3, 7, 9, 11, 12])
    assert int(used) == 5 and len(set(indices.tolist())) == 30
    repeats = np.array([3, 7, 3, 7, 3, 7, 3, 7], np.int32)  # same shape: no recompilation
    short, used = seeded_search(evo, bench, jax.random.key(0), 30, repeats, 5)
    np.testing.assert_array_equal(np.asarray(short.indices)[:2], [3, 7])
    assert int(used) == 2  # the list ran out: evolution's own uniform draws fill the rest
    with pytest.raises(ValueError, match="init_rows must index the table"):
        seeded_search(evo, bench, jax.random.key(0), 30, rows + bench.size, 5)


OPEN = VAENAS(n_vae=6, tries=2, n_iters=5, vae_batch_size=8, embed=4, hidden=8, latent=2,
              batch_size=3)


def test_open_domain_scan_equals_loop_and_never_repeats() -> None:
    """On seed 001's MLP space (no table): decodes go through the space's tokens; the scanned
    runner equals ask/tell by hand, nothing is proposed twice and the VAE answers once trained."""
    evaluator = mlp_evaluator()
    domain, params = evaluator.domain, VAENASParams(1.0)
    keys = seed_keys(1, 2)
    swept, final = scanned.sweep(OPEN, evaluator, keys, 15, params, with_state=True)
    init_key, scan_key = jax.random.split(keys[0])
    state = OPEN.init(init_key, domain, 15, params)
    by_hand = []
    for k in jax.random.split(scan_key, 5):
        archs, state = OPEN.ask(k, state, domain, params)
        state = OPEN.tell(state, archs, evaluator.evaluate(archs).value, domain, params)
        by_hand.append(archs)
    by_hand = jax.tree.map(lambda *a: jnp.concatenate(a), *by_hand)
    first = jax.tree.map(lambda a: a[0], swept.archs)
    np.testing.assert_array_equal(keys_of(evaluator, by_hand), keys_of(evaluator, first))
    for seed in range(2):
        got = keys_of(evaluator, jax.tree.map(lambda a, s=seed: a[s], swept.archs))
        assert len({tuple(k) for k in got.tolist()}) == 15
    # Trained at 6 and 12 evaluations; eps = 1, so the 9 later queries are the VAE's.
    np.testing.assert_array_equal(np.asarray(final.inner.vae_draws), [9, 9])
    assert int(state.inner.vae_draws) == 9


def test_a_space_vocabulary_masks_each_position() -> None:
    spec = space_spec((3, 5, 5))
    assert spec.length == 3 and spec.vocab == 5
    np.testing.assert_array_equal(np.asarray(spec.mask()).sum(1), [3, 5, 5])
    assert space_spec((5,) * 6).allowed is None  # NB201: no mask, the same VAE as before
