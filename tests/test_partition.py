"""LaNAS's tree, UCB and strategy: hand-worked cases and behavioural properties."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from table_driver import TableDriver, keys

from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.lanas import LaNAS, LaNASParams
from lanas_jax.partition.tree import fit_tree, leaf_constraints, route, split_levels
from lanas_jax.partition.ucb import backpropagate, select_leaf, subtree_available, ucb_scores
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies.random_search import RandomSearch


def test_ucb_matches_hand_worked_values():
    # Parent visited 10 times; children: 4 samples summing to 3.2 and 6 summing to 4.2.
    # UCB = mean + 2 * Cp * sqrt(2 ln 10 / n) with Cp = 0.1.
    scores = ucb_scores(jnp.array([4.0, 6.0, 0.0]), jnp.array([3.2, 4.2, 0.0]), 10.0, 0.1)
    expected = [
        0.8 + 0.2 * math.sqrt(2 * math.log(10) / 4),
        0.7 + 0.2 * math.sqrt(2 * math.log(10) / 6),
        math.inf,
    ]
    np.testing.assert_allclose(np.asarray(scores), expected, rtol=1e-6)


def test_select_follows_the_larger_ucb_at_every_level():
    # Height 3: root 0; children 1, 2; leaves 3..6 (leaf numbers 0..3).
    count = jnp.array([10.0, 4.0, 6.0, 2.0, 2.0, 3.0, 3.0])
    value = jnp.array([7.4, 3.2, 4.2, 1.0, 2.2, 2.1, 2.1])
    # Cp = 0: pure exploitation. Node 1 (mean 0.8) beats node 2 (0.7); under node 1 leaf
    # node 4 (mean 1.1) beats node 3 (0.5): leaf number 1.
    leaf = select_leaf(jax.random.key(0), count, value, 0.0, 3)
    assert int(leaf) == 1
    # A large Cp favours the less visited child at the root: node 1 (n = 4 < 6) anyway; an
    # unvisited child is always taken.
    count2 = count.at[6].set(0.0).at[5].set(6.0)
    value2 = value.at[6].set(0.0).at[5].set(4.2)
    leaf2 = select_leaf(jax.random.key(0), count2, value2.at[1].set(0.0), 0.0, 3)
    assert int(leaf2) == 3


def test_ucb_ties_are_broken_at_random():
    count = jnp.zeros(7)
    leaves = {int(select_leaf(jax.random.key(i), count, count, 0.1, 3)) for i in range(64)}
    assert leaves == {0, 1, 2, 3}


def test_unavailable_subtrees_are_never_selected():
    count = jnp.array([10.0, 4.0, 6.0, 2.0, 2.0, 3.0, 3.0])
    value = jnp.array([7.4, 3.2, 4.2, 1.0, 2.2, 2.1, 2.1])
    available = subtree_available(jnp.array([False, False, True, False]), 3)
    np.testing.assert_array_equal(
        np.asarray(available), [True, False, True, False, False, True, False]
    )
    leaf = select_leaf(jax.random.key(0), count, value, 0.0, 3, available)
    assert int(leaf) == 2


def test_backpropagate_updates_the_leaf_path_only():
    count, total = backpropagate(jnp.zeros(7), jnp.zeros(7), jnp.array(2), jnp.array(0.5), 3)
    np.testing.assert_array_equal(np.asarray(count), [1, 0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(np.asarray(total), [0.5, 0, 0.5, 0, 0, 0.5, 0])


def test_training_split_rule_on_a_hand_worked_case():
    # Root mean 0.525: {0.9, 0.8} left, {0.3, 0.1} right. Left mean 0.85: 0.9 left-left,
    # 0.8 left-right. Right mean 0.2: 0.3 right-left, 0.1 right-right. The masked 5th value
    # must not move any mean.
    values = jnp.array([0.9, 0.8, 0.3, 0.1, 100.0])
    mask = jnp.array([True, True, True, True, False])
    nodes, means = split_levels(values, mask, 3)
    np.testing.assert_array_equal(np.asarray(nodes[:, :4]).T, [[0, 1, 3], [0, 1, 4], [0, 2, 5],
                                                                [0, 2, 6]])
    np.testing.assert_allclose(np.asarray(means), [0.525, 0.85, 0.2, 0.9, 0.8, 0.3, 0.1],
                               rtol=1e-6)


def test_sample_equal_to_the_boundary_goes_left():
    _, means = split_levels(jnp.array([1.0, 1.0]), jnp.array([True, True]), 2)
    nodes, _ = split_levels(jnp.array([1.0, 1.0]), jnp.array([True, True]), 2)
    assert means[0] == 1.0 and np.all(np.asarray(nodes[1]) == 1)


def _random_table(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ rng.normal(size=d) + 0.3 * rng.normal(size=n)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def test_boundary_is_the_mean_prediction_on_the_nodes_own_samples():
    x, y = _random_table()
    mask = jnp.arange(400) < 350
    tree = fit_tree(x, y, mask, 4, 1e-3)
    nodes, _ = split_levels(y, mask, 4)
    preds = np.asarray(x @ tree.weights.T + tree.bias)
    for node in range(7):
        level = int(np.floor(np.log2(node + 1)))
        members = (np.asarray(nodes[level]) == node) & np.asarray(mask)
        assert members.sum() > 0
        np.testing.assert_allclose(
            preds[members, node].mean(), float(tree.boundary[node]), atol=1e-4
        )
        assert float(tree.count[node]) == members.sum()


def test_root_regressor_recovers_a_linear_metric():
    x, _ = _random_table()
    w = jnp.arange(1.0, 7.0)
    tree = fit_tree(x, x @ w + 2.0, jnp.ones(400, bool), 2, 1e-6)
    np.testing.assert_allclose(np.asarray(tree.weights[0]), np.asarray(w), rtol=1e-3)
    np.testing.assert_allclose(float(tree.bias[0]), 2.0, rtol=1e-3, atol=1e-3)


def test_routed_points_satisfy_their_leaf_constraints_and_no_other_leafs():
    x, y = _random_table()
    tree = fit_tree(x, y, jnp.ones(400, bool), 4, 1e-3)
    leaves = np.asarray(route(x, tree, 4))
    for leaf in range(8):
        a, b = leaf_constraints(tree, leaf, 4)
        inside = np.all(np.asarray(x @ a.T) <= np.asarray(b) + 1e-5, axis=1)
        strictly_outside = np.any(np.asarray(x @ a.T) > np.asarray(b) + 1e-4, axis=1)
        assert np.all(inside[leaves == leaf])
        assert np.all(strictly_outside[leaves != leaf])


def _linear_table(seed=0):
    """5 slots x 5 choices one-hot (3,125 cells) with a metric linear in the features."""
    rng = np.random.default_rng(seed)
    codes = np.stack(np.meshgrid(*[np.arange(5)] * 5, indexing="ij"), -1).reshape(-1, 5)
    x = np.eye(5)[codes].reshape(len(codes), -1)
    y = x @ rng.normal(size=25)
    return from_arrays(x, (y - y.min()) / (y.max() - y.min()), name="linear")


def test_lanas_finds_a_linear_optimum_far_faster_than_random_search():
    bench = _linear_table()
    keys = seed_keys(0, 16)
    budget = 1500
    lanas = sweep(LaNAS(tree_height=4, num_selects=20, num_init=20), bench, keys, budget)
    rand = sweep(RandomSearch(), bench, keys, budget)

    def median_samples(history):
        hit = np.asarray(history.metric) >= bench.optimum
        return np.median(np.where(hit.any(1), hit.argmax(1) + 1, budget + 1))

    # Random search needs (3125 + 1) / 2 = 1563 samples on average for a unique optimum.
    assert median_samples(lanas) < median_samples(rand) / 5


def test_learning_cadence_refits_after_init_then_every_num_selects():
    strategy = LaNAS(tree_height=3, num_selects=7, num_init=5)
    driver = TableDriver(strategy, _linear_table(), 40, jax.random.key(0))
    refits = []
    for t, key in enumerate(keys(1, 40)):
        before = np.asarray(driver.lanas.sampler.priority)
        driver.ask(key)
        if not np.array_equal(before, np.asarray(driver.lanas.sampler.priority)):
            refits.append(t)
        assert bool(driver.lanas.fitted) == (t >= 5)
        driver.tell()
    assert refits == [5, 12, 19, 26, 33]


def test_search_phase_samples_come_from_the_selected_leaf():
    strategy = LaNAS(tree_height=4, num_selects=10, num_init=10)
    driver = TableDriver(strategy, _linear_table(), 60, jax.random.key(0))
    for key in keys(2, 60):
        row = driver.ask(key)
        if bool(driver.lanas.fitted):
            before = np.asarray(driver.lanas.node_count)
            leaf = int(driver.lanas.sampler.leaf_of[row])
            after = driver.tell()
            changed = np.flatnonzero(np.asarray(after.inner.node_count) != before)
            assert changed[-1] == leaf + 7 and len(changed) == 4
        else:
            driver.tell()


def test_empty_leaf_falls_back_to_the_first_nonempty_leaf():
    strategy = LaNAS(tree_height=3, num_selects=10, num_init=10)
    driver = TableDriver(strategy, _linear_table(), 20, jax.random.key(0))
    # UCB with Cp = 0 prefers leaf 0 (node 3), which has no unseen entry left.
    inner = driver.lanas
    inner = inner.replace(
        node_count=jnp.array([4.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0]),
        node_sum=jnp.array([2.0, 1.8, 0.2, 1.0, 0.8, 0.1, 0.1]),
        sampler=inner.sampler.replace(leaf_unseen=jnp.array([0, 0, 5, 3])),
        fitted=jnp.ones((), bool),
    )
    state = driver.state.replace(inner=inner)
    params = LaNASParams(cp=0.0)
    assert int(strategy._select(jax.random.key(0), state, params)) == 2
    skip = LaNAS(tree_height=3, num_selects=10, num_init=10, empty_leaf="skip")
    assert int(skip._select(jax.random.key(0), state, params)) == 2


@pytest.mark.parametrize(
    "config", [dict(tree_height=0), dict(num_selects=0), dict(num_init=-1),
               dict(empty_leaf="nope")]
)
def test_bad_configuration_is_rejected(config):
    with pytest.raises(ValueError):
        run_search(LaNAS(**config), _linear_table(), jax.random.key(0), 10)
