"""LaNAS's continuous mode on NAS-Bench-201 (seed 000 Sec. 3.2 step 2, Sec. 4.3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from table_driver import TableDriver

from lanas_jax.benchmarks import load_benchmark
from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.partition.polytope import contains, leaf_polytope
from lanas_jax.partition.samplers import COUNTERS
from lanas_jax.partition.tree import route
from lanas_jax.scanned import table_evaluator
from lanas_jax.spaces import nb201
from lanas_jax.spaces.discretise import nb201_codes, nb201_one_hot, nb201_ops

HEIGHT = 3
STRATEGY = LaNAS(tree_height=HEIGHT, num_selects=10, num_init=10, leaf_sampler="hit_and_run",
                 num_proposals=8, burn_in=5, thin=2)
BUDGET = 50


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("nb201_cifar10")


def _search(bench, key, strategy=STRATEGY, budget=BUDGET):
    """Ask/tell by hand, checking after every ask that the chain point it moved lies inside
    the leaf by ALL path constraints and is routed there."""
    init_key, key = jax.random.split(key)
    driver = TableDriver(strategy, bench, budget, init_key)
    rows, moved = [], 0
    for k in jax.random.split(key, budget):
        before = np.asarray(driver.lanas.sampler.leaf_x)
        rows.append(driver.ask(k))
        lanas = driver.lanas
        after = np.asarray(lanas.sampler.leaf_x)
        for leaf in np.flatnonzero(np.any(before != after, 1)):
            poly = leaf_polytope(lanas.tree, int(leaf), HEIGHT)
            assert bool(contains(poly, lanas.sampler.leaf_x[leaf]))
            assert int(route(lanas.sampler.leaf_x[leaf][None], lanas.tree, HEIGHT)[0]) == leaf
            moved += 1
        driver.tell()
    return np.array(rows), driver.lanas.sampler, moved


def test_continuous_mode_samples_the_leaf_polytope_and_never_repeats(bench):
    idx, state, moved = _search(bench, jax.random.key(0))
    assert len(set(idx.tolist())) == BUDGET and idx.min() >= 0 and idx.max() < bench.size
    counters = dict(zip(COUNTERS, np.asarray(state.counters).tolist(), strict=True))
    asks_after_fit = BUDGET - STRATEGY.num_init
    assert moved == asks_after_fit  # every query after the first fit ran a chain
    assert counters["empty"] == 0
    assert counters["proposals"] >= asks_after_fit
    assert counters["fallback"] < asks_after_fit // 2, counters
    # Reproducible per key, different across keys.
    again, _, _ = _search(bench, jax.random.key(0))
    np.testing.assert_array_equal(again, idx)
    other, _, _ = _search(bench, jax.random.key(1))
    assert not np.array_equal(other, idx)


def test_nuts_leaf_sampler_runs_inside_the_leaf(bench):
    """The NUTS leaf sampler (tiny settings: the point is the plumbing, not the mixing)."""
    strategy = LaNAS(tree_height=HEIGHT, num_selects=10, num_init=10, leaf_sampler="nuts",
                     num_proposals=4, nuts_warmup=5, nuts_depth=3)
    idx, state, _ = _search(bench, jax.random.key(2), strategy, budget=16)
    assert len(set(idx.tolist())) == 16
    counters = dict(zip(COUNTERS, np.asarray(state.counters).tolist(), strict=True))
    assert counters["empty"] == 0 and counters["proposals"] >= 6, counters


def test_nb201_discretisation_round_trips_and_looks_up_the_right_row(bench):
    ops = np.asarray(bench.space.ops[:50], np.int32)
    noisy = np.asarray(nb201_one_hot(ops)) * 0.6 + 0.3 * np.random.default_rng(0).uniform(
        size=(50, 30))
    back = np.asarray(nb201_ops(noisy))
    np.testing.assert_array_equal(back, ops)
    np.testing.assert_array_equal(np.asarray(nb201_one_hot(back)), np.asarray(bench.features[:50]))
    rows, found = jax.vmap(table_evaluator(bench).domain.row)(nb201.Nb201Arch(jnp.asarray(back)))
    assert bool(np.all(found))
    np.testing.assert_array_equal(np.asarray(rows), np.arange(50))
    np.testing.assert_array_equal(np.asarray(nb201_codes(back)), nb201.codes(ops))


def test_continuous_mode_rejects_what_it_cannot_run(bench):
    domain = table_evaluator(bench).domain
    with pytest.raises(ValueError, match="leaf_sampler"):
        LaNAS(leaf_sampler="gibbs")
    with pytest.raises(ValueError, match="num_proposals"):
        LaNAS(leaf_sampler="hit_and_run", num_proposals=0).validate(domain, 10)
    other = from_arrays(np.eye(4, dtype=np.float32), np.arange(4.0), name="other")
    with pytest.raises(ValueError, match="names no space, so it has no relaxation"):
        LaNAS(leaf_sampler="hit_and_run").validate(table_evaluator(other).domain, 2)
    LaNAS(leaf_sampler="nuts").validate(domain, 10)  # fine
