"""LaNAS's MLP node model (Fig. 6b): the fitted tree's invariants and the strategy with it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from search_checks import assert_never_repeats, linear_bench, ratio_to_random_search

from lanas_jax.partition import mlp_tree
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.partition.tree import fit_tree, split_levels
from lanas_jax.runner import seed_keys, sweep
from lanas_jax.scanned import table_evaluator

HEIGHT = 4
_fit = jax.jit(mlp_tree.fit_mlp_tree, static_argnums=(4, 5, 6, 7))


def _table(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (np.tanh(x @ rng.normal(size=d)) + 0.2 * rng.normal(size=n)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y), jnp.arange(n) < 250


@pytest.fixture(scope="module")
def fitted():
    x, y, mask = _table()
    return x, y, mask, _fit(jax.random.key(0), x, y, mask, HEIGHT, 16, 300, 1e-2)


def _members(y, mask, node):
    nodes, _ = split_levels(y, mask, HEIGHT)
    level = int(np.floor(np.log2(node + 1)))
    return (np.asarray(nodes[level]) == node) & np.asarray(mask)


def test_training_samples_are_split_by_their_true_metric_like_the_linear_tree(fitted):
    x, y, mask, tree = fitted
    linear = fit_tree(x, y, mask, HEIGHT, 1e-3)
    # UCB reads only these: identical to the linear tree's, and the split_levels membership.
    np.testing.assert_array_equal(np.asarray(tree.count), np.asarray(linear.count))
    np.testing.assert_array_equal(np.asarray(tree.value_sum), np.asarray(linear.value_sum))
    for node in range(2**HEIGHT - 1):
        members = _members(y, mask, node)
        assert float(tree.count[node]) == members.sum()
        np.testing.assert_allclose(float(tree.value_sum[node]), np.asarray(y)[members].sum(),
                                   rtol=1e-5, atol=1e-5)


def test_boundary_is_the_mean_prediction_on_the_nodes_own_samples(fitted):
    x, y, mask, tree = fitted
    preds = np.asarray(mlp_tree.predict(x, tree))
    for node in range(2 ** (HEIGHT - 1) - 1):
        members = _members(y, mask, node)
        assert members.sum() > 1
        np.testing.assert_allclose(preds[members, node].mean(), float(tree.boundary[node]),
                                   atol=1e-5)
        # The fit explains the node's own samples (better than the constant mean).
        resid = np.mean((preds[members, node] - np.asarray(y)[members]) ** 2)
        assert resid < 0.5 * np.var(np.asarray(y)[members])


def test_candidates_are_routed_by_prediction_and_well_fitted_samples_land_in_their_leaf(fitted):
    x, y, mask, tree = fitted
    preds, bnd = np.asarray(mlp_tree.predict(x, tree)), np.asarray(tree.boundary)
    leaves = np.asarray(mlp_tree.route(x, tree, HEIGHT))
    nodes, _ = split_levels(y, mask, HEIGHT)
    nodes = np.asarray(nodes)
    well_fitted = 0
    for i in range(x.shape[0]):
        node = 0
        for _ in range(HEIGHT - 1):  # the walk by hand: left iff prediction >= boundary
            node = 2 * node + (1 if preds[i, node] >= bnd[node] else 2)
        assert leaves[i] == node - (2 ** (HEIGHT - 1) - 1)
        path = nodes[:, i]
        # A training sample whose prediction is on its true side at every node of its path
        # is routed where the metric split put it.
        if mask[i] and all((preds[i, a] >= bnd[a]) == (b == 2 * a + 1)
                           for a, b in zip(path[:-1], path[1:], strict=True)):
            well_fitted += 1
            assert leaves[i] == path[-1] - (2 ** (HEIGHT - 1) - 1)
    assert well_fitted > 0.5 * int(mask.sum())
    blocked = mlp_tree.route(x, tree, HEIGHT, block=64)  # the lax.map path for big tables
    np.testing.assert_array_equal(np.asarray(blocked), leaves)


def test_same_key_same_tree_and_another_key_another_fit(fitted):
    x, y, mask, tree = fitted
    again = _fit(jax.random.key(0), x, y, mask, HEIGHT, 16, 300, 1e-2)
    other = _fit(jax.random.key(1), x, y, mask, HEIGHT, 16, 300, 1e-2)
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(tree.w1), np.asarray(other.w1))


def test_empty_and_constant_nodes_send_everything_left(fitted):
    x, _, _, _ = fitted  # the fixture's shapes and settings: no new compile
    n = x.shape[0]
    route = jax.jit(mlp_tree.route, static_argnums=2)
    # No samples at all (LaNAS with num_init=0): every node empty, every candidate in leaf 0.
    zeros = jnp.zeros(n, jnp.float32)
    empty = _fit(jax.random.key(0), x, zeros, jnp.zeros(n, bool), HEIGHT, 16, 300, 1e-2)
    assert np.all(np.asarray(route(x, empty, HEIGHT)) == 0)
    assert np.all(np.asarray(empty.count) == 0)
    # A constant metric: every node predicts its mean, which is its boundary.
    const = _fit(jax.random.key(0), x, zeros + 0.7, jnp.ones(n, bool), HEIGHT, 16, 300, 1e-2)
    assert np.all(np.asarray(route(x, const, HEIGHT)) == 0)
    # The training samples all take one side at every node (which one depends on how the
    # float mean of 0.7s rounds); the nodes left empty have boundary 0.
    filled = np.asarray(const.count)[: 2 ** (HEIGHT - 1) - 1] > 0
    assert filled.sum() == HEIGHT - 1
    np.testing.assert_allclose(np.asarray(const.boundary), np.where(filled, 0.7, 0.0),
                               rtol=1e-6)


def test_lanas_with_mlp_nodes_never_repeats_and_beats_random_search():
    bench = linear_bench()  # 256 cells
    keys = seed_keys(0, 6)
    strategy = LaNAS(tree_height=3, num_selects=10, num_init=10, node_model="mlp",
                     mlp_hidden=16, mlp_steps=50)
    history = sweep(strategy, bench, keys, bench.size)
    assert_never_repeats(history.indices, bench.size)
    ours, random = ratio_to_random_search(history.metric, bench, keys)
    assert ours < random / 2, (ours, random)


@pytest.mark.parametrize(
    "config, message",
    [(dict(node_model="mlp", leaf_sampler="hit_and_run"), "not a polytope"),
     (dict(node_model="mlp", leaf_sampler="nuts"), "not a polytope"),
     (dict(node_model="tree"), "node_model must be one of"),
     (dict(node_model="mlp", mlp_steps=0), "mlp_steps"),
     (dict(node_model="mlp", mlp_learning_rate=0.0), "mlp_learning_rate")],
)
def test_bad_node_model_configurations_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        LaNAS(**config).validate(table_evaluator(linear_bench()).domain, 10)

