"""L2NAS (seed 003): the check loss, the top-K environment, Discretize, and the strategy."""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from table_driver import by_hand

from lanas_jax import scanned
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.benchmarks.base import Benchmark, from_arrays
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.scanned import table_evaluator
from lanas_jax.spaces import nb201
from lanas_jax.strategies import l2nas_parts as parts
from lanas_jax.strategies.l2nas import L2NAS, L2NASParams
from tests.open_space import keys_of, mlp_evaluator

SMALL = L2NAS(hidden=(16,), replay_batch_size=8, num_random=5)  # cheap to compile


def cells_bench(slots: int = 4, choices: int = 5) -> Benchmark:
    """All 5**4 one-hot cells with an additive metric plus noise, rows in a shuffled order."""
    rng = np.random.default_rng(0)
    cells = np.array(list(itertools.product(range(choices), repeat=slots)))
    cells = cells[rng.permutation(len(cells))]
    features = np.zeros((len(cells), slots * choices), np.float32)
    features[np.arange(len(cells))[:, None], np.arange(slots) * choices + cells] = 1.0
    weights = rng.normal(size=(slots, choices))
    metric = weights[np.arange(slots), cells].sum(1) + 0.05 * rng.normal(size=len(cells))
    metric = 0.5 + 0.1 * metric  # accuracy-like values in (0, 1)
    return from_arrays(features, metric, metric, name="cells")


@pytest.fixture(scope="module")
def bench():
    return cells_bench()


def test_check_loss_by_hand() -> None:
    u = jnp.array([2.0, -2.0, 0.0])
    np.testing.assert_allclose(parts.check_loss(u, 0.9), [1.8, 0.2, 0.0], rtol=1e-6)
    np.testing.assert_allclose(parts.check_loss(u, 0.95), [1.9, 0.1, 0.0], rtol=1e-6)


@pytest.mark.parametrize("tau", [0.9, 0.95])
def test_check_loss_minimiser_is_the_tau_quantile(tau: float) -> None:
    x = np.random.default_rng(0).normal(size=201).astype(np.float32)
    # n * tau is not an integer, so the minimiser is unique: the ceil(n * tau)-th order statistic.
    quantile = np.quantile(x, tau, method="inverted_cdf")
    assert quantile == np.sort(x)[int(np.ceil(201 * tau)) - 1]

    def risk(q):
        return jnp.mean(parts.check_loss(jnp.asarray(x) - q, tau))

    grid = np.concatenate([x, np.linspace(x.min() - 1, x.max() + 1, 2001, dtype=np.float32)])
    losses = np.asarray(jax.vmap(risk)(jnp.asarray(grid)))
    assert grid[np.argmin(losses)] == pytest.approx(quantile)
    # The subgradient changes sign there: strictly convex piecewise-linear around the quantile.
    assert risk(quantile - 1e-3) > risk(quantile) < risk(quantile + 1e-3)
    # Subgradient descent from far away ends next to it (the critic's training signal).
    # Subgradient descent from far away ends between the quantile's neighbouring order statistics
    # (the critic's training signal; a fixed step oscillates within one step of the minimiser).
    q = jax.lax.fori_loop(0, 3000, lambda i, q: q - 0.01 * jax.grad(risk)(q), jnp.float32(-5.0))
    k = int(np.ceil(201 * tau)) - 1
    assert np.sort(x)[k - 1] - 0.01 <= float(q) <= np.sort(x)[k + 1] + 0.01


def test_topk_state_is_the_average_of_the_k_best_relaxations(bench) -> None:
    rng = np.random.default_rng(1)
    rows = rng.choice(bench.size, size=40, replace=False)
    values = rng.normal(size=40).astype(np.float32)
    k = 7
    top = parts.topk_empty(k, bench.dim)
    for i, v in zip(rows, values, strict=True):
        top = parts.topk_insert(top, bench.features[i], jnp.float32(v))
    best = rows[np.argsort(-values)[:k]]
    np.testing.assert_allclose(np.sort(np.asarray(top.value)), np.sort(values)[-k:])
    state = parts.topk_state(top, jnp.zeros(bench.dim))
    expected = np.asarray(bench.features)[best].mean(0)
    np.testing.assert_allclose(np.asarray(state), expected, rtol=1e-6)
    # Per edge the state is a distribution over ops.
    np.testing.assert_allclose(np.asarray(state).reshape(-1, 5).sum(-1), 1.0, rtol=1e-6)


def test_topk_state_before_k_and_before_anything(bench) -> None:
    top = parts.topk_empty(5, bench.dim)
    start = jnp.full((bench.dim,), 0.2)
    np.testing.assert_allclose(np.asarray(parts.topk_state(top, start)), 0.2)
    top = parts.topk_insert(top, bench.features[3], jnp.float32(0.5))
    top = parts.topk_insert(top, bench.features[9], jnp.float32(0.1))
    expected = np.asarray(bench.features)[[3, 9]].mean(0)
    np.testing.assert_allclose(np.asarray(parts.topk_state(top, start)), expected)


def test_discretize_round_trips_a_one_hot_and_is_many_to_one() -> None:
    table = load_benchmark("nb201_cifar10")
    cells = np.asarray(table.features)[::997]
    np.testing.assert_array_equal(np.asarray(parts.discretize(jnp.asarray(cells), 5)), cells)
    noise = np.random.default_rng(2).uniform(-0.4, 0.4, size=cells.shape).astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(parts.discretize(jnp.asarray(cells + noise), 5)), cells
    )


def test_propose_finds_the_row_of_the_discretised_cell_and_the_best_unseen() -> None:
    table = load_benchmark("nb201_cifar10")
    ops = table.space.ops
    alpha = np.random.default_rng(3).normal(size=30).astype(np.float32)
    cell = alpha.reshape(6, 5).argmax(-1)
    row = int(np.flatnonzero((ops == cell).all(1))[0])  # rows are in NATS order, not base 5
    assert nb201.parse_arch(table.describe(row)) == tuple(cell.tolist())
    seen = np.zeros(table.size, bool)
    raw, unseen = parts.propose(jnp.asarray(alpha), jnp.asarray(seen), table.features, 5)
    assert int(raw) == row and int(unseen) == row
    # Once that cell is seen, the proposal is the unseen cell with the largest total score.
    seen[row] = True
    raw, unseen = parts.propose(jnp.asarray(alpha), jnp.asarray(seen), table.features, 5)
    scores = np.asarray(table.features) @ alpha
    scores[row] = -np.inf
    assert int(raw) == row and int(unseen) == int(np.argmax(scores))


def test_normalized_reward() -> None:
    np.testing.assert_allclose(parts.normalized_reward(jnp.float32(0.9), 0.9), 0.0, atol=1e-7)
    np.testing.assert_allclose(parts.normalized_reward(jnp.float32(0.0), 0.9), -0.99, atol=1e-7)
    np.testing.assert_allclose(
        parts.normalized_reward(jnp.float32(0.45), 0.9), 10.0 / 100 - 1, rtol=1e-6
    )


def test_vmapped_seeds_equal_per_seed_runs(bench) -> None:
    keys = seed_keys(4, 3)
    swept = sweep(SMALL, bench, keys, 40)
    for i in range(3):
        single = run_search(SMALL, bench, keys[i], 40)
        np.testing.assert_array_equal(np.asarray(swept.indices[i]), np.asarray(single.indices))


def test_learns_better_than_its_random_warmup(bench) -> None:
    """After warm-up the queries concentrate on good cells: queries 60-120 are far better than
    random ones, over 8 seeds."""
    history = sweep(SMALL, bench, seed_keys(0, 8), 120)
    metric = np.asarray(history.metric)
    z = (metric - np.asarray(bench.metric).mean()) / np.asarray(bench.metric).std()
    # Uniformly random unseen cells would average z = 0 (standard error ~0.05 over 480 queries).
    assert z[:, 60:].mean() > z[:, :5].mean() + 0.6
    assert z[:, 60:].mean() > 0.5


def test_requery_rule_may_repeat_and_counts_repeats(bench) -> None:
    strategy = dataclasses.replace(SMALL, repeats="requery")
    history = run_search(strategy, bench, jax.random.key(0), 120)
    indices = np.asarray(history.indices)
    assert len(np.unique(indices)) < len(indices)  # a converged actor repeats itself


def test_bad_configuration_is_rejected(bench) -> None:
    with pytest.raises(ValueError, match="repeats"):
        run_search(dataclasses.replace(SMALL, repeats="never"), bench, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="num_ops"):
        run_search(dataclasses.replace(SMALL, num_ops=3), bench, jax.random.key(0), 10)
    dense = dataclasses.replace(bench, features=bench.features * 0.5)
    with pytest.raises(ValueError, match="one-hot"):
        run_search(SMALL, dense, jax.random.key(0), 10)


def test_params_are_vmappable_over_tau(bench) -> None:
    """The quantile is a traced param: two taus in one vmapped call give their own searches."""
    evaluator = table_evaluator(bench)
    params = jax.tree.map(lambda x: jnp.stack([x, x]), L2NASParams())
    params = params.replace(tau=jnp.array([0.9, 0.95]))
    key = jax.random.key(1)[None]
    run = jax.vmap(lambda p: scanned.sweep(SMALL, evaluator, key, 30, p).rows[0])
    both = np.asarray(run(params))
    single = np.asarray(
        run_search(SMALL, bench, jax.random.key(1), 30, L2NASParams(tau=0.95)).indices
    )
    np.testing.assert_array_equal(both[1], single)
    assert not np.array_equal(both[0], both[1])


OPEN = L2NAS(hidden=(8,), replay_batch_size=4, num_random=3, num_updates=1, num_ops=0,
             mutation_tries=4)


def test_open_domain_scan_equals_loop_and_never_repeats() -> None:
    """On seed 001's MLP space (no table): the scanned runner equals ask/tell by hand, every
    query is new although Discretize repeats itself (vmapped == per-seed: on tables, above)."""
    evaluator = mlp_evaluator()
    strategy = dataclasses.replace(OPEN, batch_size=3)  # batches of 3 in flight
    keys = seed_keys(2, 2)
    swept, final = scanned.sweep(strategy, evaluator, keys, 15, with_state=True)
    hand, state = by_hand(strategy, evaluator, keys[0], 15)
    mine = keys_of(evaluator, jax.tree.map(lambda a: a[0], swept.archs))
    np.testing.assert_array_equal(keys_of(evaluator, hand), mine)
    assert int(state.inner.repeats) == int(final.inner.repeats[0])
    for seed in range(2):
        got = keys_of(evaluator, jax.tree.map(lambda a, s=seed: a[s], swept.archs))
        assert len({tuple(k) for k in got.tolist()}) == 15


def test_generic_repair_discretises_to_the_queried_architecture() -> None:
    domain = mlp_evaluator().domain
    space = domain.space
    keys = jax.random.split(jax.random.key(0), 16)
    alphas = jax.random.uniform(jax.random.key(1), (16, space.relax_dim), minval=-1, maxval=1)
    targets = jax.vmap(space.sample)(keys)
    fixed = jax.vmap(lambda a, t: OPEN.repair(domain, a, t))(alphas, targets)
    got = jax.vmap(lambda x: OPEN.discretise(domain, x)[0])(fixed)
    np.testing.assert_array_equal(np.asarray(jax.vmap(space.key)(got)),
                                  np.asarray(jax.vmap(space.key)(targets)))
    # An action that already discretises to the target is left as it is.
    own = jax.vmap(lambda a: OPEN.discretise(domain, a)[0])(alphas)
    same = jax.vmap(lambda a, t: OPEN.repair(domain, a, t))(alphas, own)
    np.testing.assert_allclose(np.asarray(same), np.asarray(alphas))
    # It moves less than to the target's vertex.
    vertex = 2.0 * jax.vmap(space.relax)(targets) - 1.0
    assert np.all(np.linalg.norm(np.asarray(fixed - alphas), axis=1)
                  <= np.linalg.norm(np.asarray(vertex - alphas), axis=1) + 1e-5)


def test_a_relaxation_that_is_not_one_hot_groups_needs_num_ops_zero() -> None:
    evaluator = mlp_evaluator()
    with pytest.raises(ValueError, match="num_ops=0"):
        scanned.sweep(dataclasses.replace(OPEN, num_ops=5), evaluator, seed_keys(0, 1), 8)


def test_nb201_space_pool_is_the_table_method() -> None:
    """On the NB201 table (a pool of NB201 cells) the first proposal after warm-up is
    Discretize of the actor's action when that cell is new (the seed's method), and the state
    before anything is kept is the uniform 1/5 per edge."""
    table = load_benchmark("nb201_cifar10")
    domain = table_evaluator(table).domain
    state = SMALL.init(jax.random.key(0), domain, 20, SMALL.default_params())
    np.testing.assert_allclose(np.asarray(state.inner.start), 0.2, atol=1e-6)
    alpha = jax.random.uniform(jax.random.key(2), (30,), minval=-1, maxval=1)
    cell, ok = SMALL.discretise(domain, alpha)
    assert bool(ok)
    np.testing.assert_array_equal(np.asarray(cell.ops), np.asarray(alpha).reshape(6, 5).argmax(1))
