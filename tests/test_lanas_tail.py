"""LaNAS's tail diagnostic (``partition.diagnose``) and the tail-free option (``LocalMix``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from search_checks import assert_never_repeats, linear_bench

from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.diagnose import locate, refit_state
from lanas_jax.partition.lanas import LaNAS, LaNASParams
from lanas_jax.partition.samplers import LocalMix, UniformRow
from lanas_jax.partition.tree import num_internal
from lanas_jax.partition.ucb import select_leaf
from lanas_jax.runner import run_search, seed_keys, sweep


def _bench(slots: int = 3, choices: int = 4):
    """A linear one-hot table whose entries list their one-edit neighbours."""
    return linear_bench(slots, choices, neighbors=True, name="linear_nb")


BENCH = _bench()
TAILFREE = LaNAS(tree_height=3, num_init=10, num_selects=10, local_frac=0.5)


def test_locate_agrees_with_routing_and_the_ucb_walk():
    lanas, params = LaNAS(tree_height=4, num_init=10, num_selects=10), LaNASParams()
    rows = jax.random.permutation(jax.random.key(1), BENCH.size)[:50]
    feats = jnp.asarray(BENCH.features)
    inner = refit_state(lanas, feats[rows], jnp.asarray(BENCH.metric)[rows], 40, params)
    routed = lanas.partition.route(inner.tree, feats)
    for row in (7, int(BENCH.optimum_indices[0])):
        key = jax.random.key(row)
        loc = locate(lanas, inner, feats[row], params.cp, key)
        assert int(loc.leaf) == int(routed[row])
        chosen = select_leaf(key, inner.node_count, inner.node_sum, params.cp, 4)
        assert int(loc.chosen) == int(chosen)
        assert (int(loc.diverge) == 4) == (int(loc.leaf) == int(chosen))
        assert int(loc.rank) == 1 + int(np.sum(np.asarray(loc.leaf_ucb) > loc.leaf_ucb[loc.leaf]))
        # The leaves' n add up to the samples the refit saw (40).
        assert float(jnp.sum(loc.leaf_count)) == 40.0
    # The refit state is the one the search itself builds at a refit.
    assert inner.node_count.shape == (2 ** 4 - 1,) and num_internal(4) == 7


def test_neutral_local_mix_is_paper_lanas():
    paper = LaNAS(tree_height=3, num_init=10, num_selects=10)
    neutral = LaNAS(tree_height=3, num_init=10, num_selects=10,
                    sampler=LocalMix(UniformRow(), frac=0.0))
    assert LaNAS(tree_height=3, local_frac=0.0).sampler == UniformRow()
    a, b = (sweep(s, BENCH, seed_keys(3, 2), 50) for s in (paper, neutral))
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))


def test_tailfree_never_evaluates_twice_and_vmaps():
    keys = seed_keys(0, 3)
    hist = sweep(TAILFREE, BENCH, keys, BENCH.size)
    assert_never_repeats(hist.indices, BENCH.size)
    one = run_search(TAILFREE, BENCH, keys[1], BENCH.size)
    np.testing.assert_array_equal(np.asarray(one.indices), np.asarray(hist.indices[1]))


def test_local_mix_round_trips_the_flat_keywords_and_checks_them():
    s = LaNAS(local_frac=0.25, local_top=3, local_tries=4).sampler
    assert s == LocalMix(UniformRow(), 0.25, 3, 4)
    with pytest.raises(ValueError, match="local_frac"):
        LaNAS(local_frac=1.5).validate(_domain(), 100)
    no_nbrs = from_arrays(BENCH.features, BENCH.metric, name="plain")
    with pytest.raises(ValueError, match="neighbors"):
        run_search(TAILFREE, no_nbrs, jax.random.key(0), 50)


def _domain():
    from lanas_jax.scanned import table_evaluator

    return table_evaluator(BENCH).domain
