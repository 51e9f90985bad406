"""LaNAS with the VAE leaf sampler (seed 000 Sec. 3.2 step 2; seed 002 Alg. 1 / Eq. 5)."""

import jax
import numpy as np
import pytest
from table_driver import TableDriver, keys

from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.lanas import LaNAS, LaNASParams
from lanas_jax.runner import run_search, seed_keys, sweep
from lanas_jax.scanned import table_evaluator

# A small VAE and a short schedule: the properties hold for any size.
SMALL = dict(
    tree_height=3, num_selects=8, num_init=8, leaf_sampler="vae", vae_vocab=4,
    vae_iters=10, vae_batch_size=8, vae_embed=4, vae_hidden=8, vae_latent=2,
)


def _table(seed=0):
    """4 slots x 4 choices one-hot (256 cells), a metric linear in the features."""
    rng = np.random.default_rng(seed)
    codes = np.stack(np.meshgrid(*[np.arange(4)] * 4, indexing="ij"), -1).reshape(-1, 4)
    x = np.eye(4)[codes].reshape(len(codes), -1)
    y = x @ rng.normal(size=16)
    return from_arrays(x, (y - y.min()) / (y.max() - y.min()), name="onehot4x4")


def test_queries_are_distinct_in_the_selected_leaf_and_the_vae_retrains_at_refits():
    budget = 120
    driver = TableDriver(LaNAS(**SMALL), _table(), budget, jax.random.key(0), LaNASParams())
    queried, in_leaf_checks, retrained = [], 0, []
    for t, key in enumerate(keys(1, budget)):
        before = jax.tree.leaves(driver.lanas.sampler.params)
        row = driver.ask(key)
        vae = driver.lanas.sampler
        if any(not np.array_equal(a, b)
               for a, b in zip(before, jax.tree.leaves(vae.params), strict=True)):
            retrained.append(t)
        leaf = int(vae.leaf)
        assert bool(driver.lanas.fitted) == (t >= 8) and (leaf >= 0) == (t >= 8)
        if leaf >= 0 and int(vae.rows.leaf_unseen[leaf]) > 0:
            assert int(vae.rows.leaf_of[row]) == leaf
            in_leaf_checks += 1
        queried.append(row)
        driver.tell()
    vae = driver.lanas.sampler
    assert len(set(queried)) == budget
    assert retrained == list(range(8, budget, 8))  # LaNAS's refits: num_init, every num_selects
    assert in_leaf_checks == budget - 8
    assert int(vae.draws) == budget - 8
    assert 0 <= int(vae.fallbacks) <= int(vae.draws)


def test_vmapped_equals_per_seed_and_same_key_same_result():
    bench, budget = _table(1), 40
    strategy = LaNAS(**SMALL)
    keys = seed_keys(5, 2)  # two: a single search runs padded to two, so one compile serves all
    swept = sweep(strategy, bench, keys, budget)
    for i in range(2):
        one = run_search(strategy, bench, keys[i], budget)
        np.testing.assert_array_equal(swept.indices[i], one.indices)
        np.testing.assert_array_equal(swept.metric[i], one.metric)
    again = sweep(strategy, bench, keys, budget)
    np.testing.assert_array_equal(swept.indices, again.indices)
    # Different seeds explore differently.
    assert not np.array_equal(swept.indices[0], swept.indices[1])


def test_non_onehot_features_are_rejected_clearly():
    rng = np.random.default_rng(0)
    bench = from_arrays(rng.normal(size=(64, 16)), rng.uniform(size=64), name="dense")
    with pytest.raises(ValueError, match="one-hot slots; dense"):
        LaNAS(**SMALL).validate(table_evaluator(bench).domain, 10)
    with pytest.raises(ValueError, match="vae_tries"):
        LaNAS(**{**SMALL, "vae_tries": 0}).validate(table_evaluator(_table()).domain, 10)
    with pytest.raises(ValueError, match="leaf_sampler"):
        LaNAS(leaf_sampler="vea")


def test_tabular_sampler_state_has_no_vae():
    driver = TableDriver(LaNAS(), _table(), 10, jax.random.key(0), LaNASParams())
    assert not hasattr(driver.lanas.sampler, "params")
    assert driver.lanas.sampler.leaf_of.shape == (256,)
