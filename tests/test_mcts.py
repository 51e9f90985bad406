"""MCTS over hand-designed action spaces (seed 000 Sec. 2 / 4.2): the dense tree, UCT on a
hand-worked tree, expansion and back-propagation, the ConvNet action orders, the search."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from search_checks import assert_never_repeats, linear_bench, ratio_to_random_search
from test_strategy_core import tiny_evaluator

from lanas_jax import scanned, strategies
from lanas_jax.benchmarks.base import Benchmark, from_arrays
from lanas_jax.domain import open_domain
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.spaces import convnet
from lanas_jax.spaces.nb201 import NB201
from lanas_jax.strategies.mcts import MCTS, MCTSParams, actions_of, node_ids, offsets


def test_registered() -> None:
    assert isinstance(strategies.make("mcts"), MCTS)


def test_dense_tree_layout() -> None:
    assert offsets((2, 3)) == (0, 1, 3, 9)  # root; 2 level-1 nodes; 6 leaves
    assert offsets((5,) * 6)[-1] == sum(5**d for d in range(7)) == 19531
    actions = jnp.array([[0, 0], [1, 2], [0, 1]])
    np.testing.assert_array_equal(node_ids(actions, (2, 3)),
                                  [[0, 1, 3], [0, 2, 8], [0, 1, 4]])


def two_by_two() -> Benchmark:
    """4 cells of 2 binary slots, one-hot; metric by hand."""
    cells = [(0, 0), (0, 1), (1, 0), (1, 1)]
    feats = np.zeros((4, 4), np.float32)
    for i, (a, b) in enumerate(cells):
        feats[i, a], feats[i, 2 + b] = 1.0, 1.0
    return from_arrays(feats, [0.1, 0.2, 0.3, 0.4], name="2x2")


def rows_of(archs) -> list[int]:
    return np.asarray(archs.row).reshape(-1).tolist()


def test_uct_selection_on_a_hand_worked_tree() -> None:
    domain = scanned.table_evaluator(two_by_two()).domain
    strategy = MCTS(choices=2)
    params = MCTSParams(cp=0.1)
    state = strategy.init(jax.random.key(0), domain, 4, params)
    # Node ids: root 0; level 1: 1 (slot0=0), 2 (slot0=1); leaves 3..6 = cells 0..3.
    # Root n=10; node 1: n=6, mean 0.5; node 2: n=4, mean 0.45; all leaves visited except 6.
    visits = jnp.array([10, 6, 4, 3, 3, 4, 0], jnp.float32)
    sums = jnp.array([4.8, 3.0, 1.8, 1.5, 1.5, 1.8, 0.0], jnp.float32)
    state = state.replace(inner=state.inner.replace(visits=visits, value_sum=sums))
    # UCT(1) = 0.5 + 0.2 sqrt(2 ln 10 / 6) = 0.6752; UCT(2) = 0.45 + 0.2 sqrt(2 ln 10 / 4)
    # = 0.6646: node 1 wins; below it, leaves 3 and 4 tie (same n, same mean): either.
    u1 = 0.5 + 0.2 * math.sqrt(2 * math.log(10) / 6)
    u2 = 0.45 + 0.2 * math.sqrt(2 * math.log(10) / 4)
    assert u1 > u2
    picks = {rows_of(strategy.ask(jax.random.key(k), state, domain, params)[0])[0]
             for k in range(20)}
    assert picks == {0, 1}
    # A larger Cp favours the less visited node 2, whose unvisited leaf 6 (cell 3) is expanded.
    archs, after = strategy.ask(jax.random.key(0), state, domain, MCTSParams(cp=1.0))
    assert rows_of(archs) == [3] and int(after.inner.expand_depth[3]) == 2
    # The proposal is pending: it left the unproposed counts of its path, and it is not
    # proposed again before it is told.
    assert np.asarray(after.inner.unproposed)[[0, 2, 6]].tolist() == [3, 1, 0]
    again, _ = strategy.ask(jax.random.key(1), after, domain, MCTSParams(cp=1.0))
    assert rows_of(again) != [3]
    # Once cells 0 and 1 are evaluated, node 1 is exhausted and never selected.
    told = strategy.tell(state, jax.tree.map(lambda a: a[:2], domain.archs), jnp.zeros(2),
                         domain, params)
    told = told.replace(inner=told.inner.replace(
        unproposed=told.inner.unproposed.at[jnp.array([0, 0, 1, 1, 3, 4])].add(-1)))
    assert rows_of(strategy.ask(jax.random.key(1), told, domain, params)[0])[0] in (2, 3)


def test_first_iteration_expands_one_node_and_backpropagates_to_it() -> None:
    domain = scanned.table_evaluator(linear_bench(slots=3, choices=4)).domain
    metric = np.asarray(linear_bench(slots=3, choices=4).metric)
    strategy, params = MCTS(choices=4), MCTSParams()
    state = strategy.init(jax.random.key(0), domain, 10, params)
    archs, state = strategy.ask(jax.random.key(1), state, domain, params)
    index = rows_of(archs)[0]
    assert int(state.inner.expand_depth[index]) == 1  # the root's children are all unvisited
    state = strategy.tell(state, archs, jnp.asarray(metric[[index]]), domain, params)
    path = np.asarray(state.inner.node_of[index])
    visited = np.flatnonzero(np.asarray(state.inner.visits))
    np.testing.assert_array_equal(visited, path[:2])  # root + the expanded child only
    np.testing.assert_allclose(np.asarray(state.inner.value_sum)[path[:2]], metric[index],
                               rtol=1e-6)
    assert np.asarray(state.inner.unproposed)[path].tolist() == [63, 15, 3, 0]
    assert int(state.archive.count) == 1 and bool(state.archive.seen[index])


def test_convnet_action_orders() -> None:
    archs = [((32, 3),), ((64, 5), (32, 5))]
    feats = jnp.asarray(convnet.features(archs))
    seq = np.asarray(actions_of(feats, "convnet_sequential", 0))
    # (add, kernel 5?, channels 64?) per slot.
    assert seq[0].tolist() == [1, 0, 0] + [0] * 12
    assert seq[1].tolist() == [1, 1, 1, 1, 1, 0] + [0] * 9
    glob = np.asarray(actions_of(feats, "convnet_global", 0))
    # depth - 1, then 5 kernels, then 5 channel flags.
    assert glob[0].tolist() == [0] + [0] * 5 + [0] * 5
    assert glob[1].tolist() == [1] + [1, 1, 0, 0, 0] + [1, 0, 0, 0, 0]


@pytest.mark.parametrize("space", ["convnet_sequential", "convnet_global"])
def test_convnet_action_spaces_build_every_network_once(space: str) -> None:
    archs = convnet.enumerate_space()
    feats = convnet.features(archs)
    metric = feats.reshape(-1, 5, 3).sum((1, 2)) + 0.01 * np.arange(len(archs)) / len(archs)
    bench = from_arrays(feats, metric, name="convnet_synthetic",
                        space=convnet.ConvNetSpace.from_archs(archs))
    strategy = MCTS(action_space=space)
    domain = scanned.table_evaluator(bench).domain
    node_of = np.asarray(strategy.init(jax.random.key(0), domain, 10, MCTSParams()).inner.node_of)
    assert len({tuple(r) for r in node_of}) == len(archs)  # one leaf per network
    indices = np.asarray(run_search(strategy, bench, jax.random.key(0), 400).indices)
    assert len(set(indices.tolist())) == 400


KEYS = seed_keys(0, 6)
DEFAULT = MCTS(choices=4)


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return linear_bench()


@pytest.fixture(scope="module")
def swept(bench: Benchmark):
    return sweep(DEFAULT, bench, KEYS, bench.size)


def test_vmapped_equals_per_seed(bench: Benchmark, swept) -> None:
    single = run_search(DEFAULT, bench, KEYS[4], bench.size)
    np.testing.assert_array_equal(np.asarray(swept.indices[4]), np.asarray(single.indices))


def test_never_repeats_over_the_whole_table(bench: Benchmark, swept) -> None:
    assert_never_repeats(swept.indices, bench.size)


def test_beats_random_search_on_a_linear_table(bench: Benchmark, swept) -> None:
    ours, rs = ratio_to_random_search(swept.metric, bench, KEYS)
    assert ours < 0.7 * rs, (ours, rs)


def test_bad_configuration_is_rejected(bench: Benchmark) -> None:
    with pytest.raises(ValueError, match="action_space must be one of"):
        run_search(MCTS(action_space="layers"), bench, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="groups of choices=5"):
        run_search(MCTS(choices=5), bench, jax.random.key(0), 10)  # 16 features
    with pytest.raises(ValueError, match="not one-hot"):
        run_search(MCTS(choices=2), bench, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="needs a ConvNet table"):
        run_search(MCTS(action_space="convnet_global"), bench, jax.random.key(0), 10)
    with pytest.raises(ValueError, match="needs a pool domain"):
        scanned.sweep(DEFAULT, tiny_evaluator(), jax.random.key(0)[None], 10)


def test_dense_spaces_are_searched_as_their_own_pools() -> None:
    # NB201 enumerated: the onehot action space is one edge's op per action; a ConvNet pool
    # takes the Sec. 2 orders. Every proposal of a batch is new, and batches never repeat.
    nb201 = open_domain(NB201())
    strategy = MCTS(batch_size=4)
    strategy.validate(nb201, 40)
    state = strategy.init(jax.random.key(0), nb201, 40, MCTSParams())
    seen = []
    for k in range(5):
        archs, state = strategy.ask(jax.random.key(k), state, nb201, MCTSParams())
        seen += np.asarray(jax.vmap(nb201.space.index)(archs)).tolist()
    assert len(set(seen)) == 20
    conv = open_domain(convnet.ConvNet())
    MCTS(action_space="convnet_sequential").validate(conv, 100)
    with pytest.raises(ValueError, match="not one-hot"):
        MCTS().validate(conv, 100)
