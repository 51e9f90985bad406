"""LaNAS with the VAE leaf sampler (seed 000 Sec. 3.2 step 2; seed 002 Alg. 1 / Eq. 5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.benchmarks.base import from_arrays
from lanas_jax.partition.lanas import LaNAS, LaNASParams
from lanas_jax.runner import run_search, seed_keys, sweep

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
    bench, budget = _table(), 120
    strategy, params = LaNAS(**SMALL), LaNASParams()
    state = strategy.init(jax.random.key(0), bench, budget, params)
    queried, in_leaf_checks, retrained = [], 0, []
    for t, key in enumerate(jax.random.split(jax.random.key(1), budget)):
        before = jax.tree.leaves(state.vae.params)
        index, state = strategy.ask(key, state, bench, params)
        after = jax.tree.leaves(state.vae.params)
        if any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True)):
            retrained.append(t)
        leaf = int(state.vae.leaf)
        assert bool(state.fitted) == (t >= 8) and (leaf >= 0) == (t >= 8)
        if leaf >= 0 and int(state.leaf_unseen[leaf]) > 0:
            assert int(state.leaf_of[index]) == leaf
            in_leaf_checks += 1
        queried.append(int(index))
        state = strategy.tell(state, index, bench.metric[index], bench, params)
    assert len(set(queried)) == budget
    assert retrained == list(range(8, budget, 8))  # LaNAS's refits: num_init, every num_selects
    assert in_leaf_checks == budget - 8
    assert int(state.vae.draws) == budget - 8
    assert 0 <= int(state.vae.fallbacks) <= int(state.vae.draws)


def test_vmapped_equals_per_seed_and_same_key_same_result():
    bench, budget = _table(1), 40
    strategy = LaNAS(**SMALL)
    keys = seed_keys(5, 3)
    swept = sweep(strategy, bench, keys, budget)
    for i in range(3):
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
    with pytest.raises(ValueError, match="one-hot slots.*dense"):
        LaNAS(**SMALL).validate(bench, 10)
    with pytest.raises(ValueError, match="vae_tries"):
        LaNAS(**{**SMALL, "vae_tries": 0}).validate(_table(), 10)
    with pytest.raises(ValueError, match="leaf_sampler"):
        LaNAS(leaf_sampler="vea").validate(_table(), 10)


def test_tabular_state_has_no_vae():
    state = LaNAS().init(jax.random.key(0), _table(), 10, LaNASParams())
    assert state.vae is None
    assert isinstance(state.seen, jnp.ndarray)
