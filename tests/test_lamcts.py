"""LA-MCTS (Wang, Fonseca & Tian 2020): the split, the tree's depth, the runner's contract and
its sample efficiency on a small additive table."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from search_checks import assert_never_repeats
from test_evolution import samples_to_optimum, smooth_bench

from lanas_jax import strategies
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.strategies import lamcts_tree as lt
from lanas_jax.strategies.lamcts import LaMCTS, LaMCTSParams
from lanas_jax.strategies.random_search import RandomSearch

#: Small enough to split a few times on a 256-entry table (default sampler: the surrogate).
SMALL = LaMCTS(height=3, leaf_size=10, num_init=10, num_selects=5)
KEYS = seed_keys(0, 8)
FIT = jax.jit(lt.fit_tree, static_argnums=(3, 4, 5))


@pytest.fixture(scope="module")
def bench():
    return smooth_bench(slots=4, choices=4)


@pytest.fixture(scope="module")
def swept(bench):
    return sweep(SMALL, bench, KEYS, bench.size)


def test_registered() -> None:
    assert isinstance(strategies.make("lamcts", sampler="surrogate"), LaMCTS)


def test_split_puts_the_two_clusters_on_either_side_of_the_boundary() -> None:
    """Two separated blobs, the upper one with the higher values: 2-means finds them, the
    classifier separates them, the good blob goes left (node 1)."""
    rng = np.random.default_rng(0)
    good = rng.normal(size=(30, 3)) * 0.3 + np.array([2.0, 2.0, 0.0])
    bad = rng.normal(size=(30, 3)) * 0.3 - np.array([2.0, 2.0, 0.0])
    x = jnp.asarray(np.concatenate([good, bad]), jnp.float32)
    v = jnp.asarray(np.concatenate([1.0 + 0.1 * rng.uniform(size=30),
                                    0.1 * rng.uniform(size=30)]), jnp.float32)
    mask = jnp.ones((60,), bool)
    z = (v - v.mean()) / v.std()
    points = jnp.concatenate([x, z[:, None]], 1)
    zeros = jnp.zeros((60,), jnp.int32)
    in_good = np.asarray(lt.two_means(points, z, zeros, mask, 1, 10))
    np.testing.assert_array_equal(in_good, np.arange(60) < 30)
    tree, node = lt.fit_tree(x, v, mask, height=2, leaf_size=20, value_weight=1.0)
    assert bool(tree.split[0])
    np.testing.assert_array_equal(np.asarray(node), np.where(np.arange(60) < 30, 1, 2))
    routed = jax.vmap(lambda f: lt.route(tree, f, 2))(x)
    np.testing.assert_array_equal(np.asarray(routed), np.asarray(node))
    np.testing.assert_allclose(np.asarray(tree.count), [60, 30, 30])


def test_tree_never_exceeds_its_depth_and_counts_add_up() -> None:
    """Random data, a small leaf size: nodes only below split nodes, within ``height`` levels,
    and a split node's count is the sum of its children's."""
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(200, 5)), jnp.float32)
    v = jnp.asarray(rng.normal(size=200), jnp.float32)
    mask = jnp.asarray(np.arange(200) < 150)
    height = 3
    tree, node = FIT(x, v, mask, height, 4, 2.0)
    node, count = np.asarray(node), np.asarray(tree.count)
    split = np.asarray(tree.split)
    assert node.max() < lt.num_nodes(height) and count.shape == (lt.num_nodes(height),)
    assert split.any()
    for i in range(lt.num_internal(height)):
        kids = count[2 * i + 1] + count[2 * i + 2]
        assert kids == (count[i] if split[i] else 0)
    assert count[0] == 150
    leaf_counts = np.bincount(node[:150], minlength=lt.num_nodes(height))
    is_leaf = np.array([i >= len(split) or not split[i] for i in range(len(count))])
    np.testing.assert_array_equal(leaf_counts[is_leaf], count[is_leaf])
    sel = jax.vmap(lambda k: lt.select(k, tree, tree.count, tree.value_sum, 0.1, height))(
        jax.random.split(jax.random.key(0), 64))
    assert all(is_leaf[int(s)] and count[int(s)] > 0 for s in np.asarray(sel))


def test_never_evaluates_twice(bench, swept) -> None:
    assert_never_repeats(swept.indices, bench.size)


def test_vmapped_equals_per_seed(bench, swept) -> None:
    single = run_search(SMALL, bench, KEYS[3], bench.size)
    np.testing.assert_array_equal(np.asarray(single.indices), np.asarray(swept.indices)[3])


def test_reaches_the_optimum_faster_than_random_search(bench, swept) -> None:
    ours = samples_to_optimum(np.asarray(swept.metric), bench.optimum)
    rs = sweep(RandomSearch(), bench, KEYS, bench.size).metric
    theirs = samples_to_optimum(np.asarray(rs), bench.optimum)
    assert np.median(ours) < 0.5 * np.median(theirs), (ours, theirs)


def test_mutation_sampler_never_repeats_and_beats_random(bench) -> None:
    strategy = LaMCTS(height=3, leaf_size=10, num_init=10, num_selects=5, sampler="mutation")
    h = sweep(strategy, bench, KEYS[:4], bench.size, LaMCTSParams(cp=0.5))
    assert_never_repeats(h.indices, bench.size)
    assert np.median(samples_to_optimum(np.asarray(h.metric), bench.optimum)) < 64


def test_bad_config_raises(bench) -> None:
    with pytest.raises(ValueError, match="sampler"):
        run_search(LaMCTS(sampler="bo"), bench, jax.random.key(0), 20)
    with pytest.raises(ValueError, match="rank_pool"):
        run_search(LaMCTS(rank_pool=2.0), bench, jax.random.key(0), 20)
    with pytest.raises(ValueError, match="leaf_size"):
        run_search(LaMCTS(leaf_size=1), bench, jax.random.key(0), 20)
