"""Supernet training steps (issue 14 items 1, 2, 7) on the ConvNet-chain supernet."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from binary_driver import run_on_host_devices

from lanas_jax.spaces import convnet as space
from lanas_jax.supernet import paths
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.score import score_archs
from lanas_jax.supernet.train import (
    OneShotConfig,
    init_state,
    masked_update,
    train_epoch,
    train_step,
)
from lanas_jax.training import convnet as cn

NET = ConvNetSupernet(num_classes=3, width=4)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.normal(size=(n, 6, 6, 1)), jnp.float32),
            jnp.asarray(rng.integers(0, 3, n), jnp.int32))


def test_fixed_path_equals_standalone_network():
    x, _ = _data(5)
    variables = NET.init(jax.random.PRNGKey(0), x)
    for layers in [((32, 3),), ((64, 5), (32, 3), (64, 3)), ((32, 5),) * 5]:
        logits, stats = NET.apply(variables, space.from_layers(layers), x)
        alone = cn.apply(NET.standalone_params(variables, layers), x)
        np.testing.assert_allclose(logits, alone, atol=1e-5)
        assert stats is None


def test_one_program_serves_every_architecture():
    x, _ = _data(2)
    variables = NET.init(jax.random.PRNGKey(0), x)
    traces = []

    @jax.jit
    def f(v, arch):
        traces.append(1)
        return NET.apply(v, arch, x)[0]

    for layers in [((32, 3),), ((64, 5),) * 4]:
        f(variables, space.from_layers(layers))
    assert len(traces) == 1


def test_path_mask_is_exactly_where_gradients_flow():
    x, y = _data(8)
    variables = NET.init(jax.random.PRNGKey(1), x)
    arch = space.from_layers(((64, 3), (32, 5)))

    def loss(p):
        logits, _ = NET.apply({"params": p}, arch, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grads = jax.grad(loss)(variables["params"])
    mask = NET.path_mask(arch)
    for g, m in zip(jax.tree.leaves(grads), jax.tree.leaves(mask), strict=True):
        m = np.broadcast_to(np.asarray(m), g.shape)
        assert not np.any(np.asarray(g)[m == 0])  # nothing outside the path moves
    # the live kernels' centre blocks do get gradient
    assert np.abs(np.asarray(grads["conv"][0]["w"])[1:4, 1:4, :, :4]).sum() > 0


def test_spos_leaves_unsampled_weights_and_adam_moments_unchanged():
    x, y = _data(16)
    tx = optax.adamw(1e-2, weight_decay=0.1)
    cfg = OneShotConfig(method="spos")
    state = init_state(NET, tx, cfg, jax.random.PRNGKey(0), x)
    step = jax.jit(lambda s, k: train_step(NET, cfg, tx, s, x, y, k))
    # a few steps so that the moments are non-zero everywhere a path ever went
    for i in range(4):
        state, _ = step(state, jax.random.PRNGKey(10 + i))
    key = jax.random.PRNGKey(99)
    arch = paths.uniform(NET.space, key)
    new, _ = step(state, key)
    mask = NET.path_mask(arch)
    old_p, new_p = state.variables["params"], new.variables["params"]
    for leaf_old, leaf_new, m in zip(jax.tree.leaves(old_p), jax.tree.leaves(new_p),
                                     jax.tree.leaves(mask), strict=True):
        off = np.broadcast_to(np.asarray(m), leaf_old.shape) == 0
        np.testing.assert_array_equal(np.asarray(leaf_old)[off], np.asarray(leaf_new)[off])
    mu_old, mu_new = state.opt_state[0].mu, new.opt_state[0].mu
    for a, b, m in zip(jax.tree.leaves(mu_old), jax.tree.leaves(mu_new), jax.tree.leaves(mask),
                       strict=True):
        off = np.broadcast_to(np.asarray(m), a.shape) == 0
        np.testing.assert_array_equal(np.asarray(a)[off], np.asarray(b)[off])
    # and the path itself moved
    assert not np.array_equal(old_p["head"]["b"], new_p["head"]["b"])


def test_masked_update_keeps_only_unmasked_entries():
    p = {"a": jnp.zeros(3), "b": jnp.zeros(2)}
    q = {"a": jnp.ones(3), "b": jnp.ones(2)}
    mask = {"a": jnp.array([1.0, 0.0, 1.0]), "b": jnp.float32(0)}
    opt = (optax.ScaleByAdamState(jnp.int32(1), p, p), optax.EmptyState())
    new_opt = (optax.ScaleByAdamState(jnp.int32(2), q, q), optax.EmptyState())
    kept, o = masked_update(mask, p, q, opt, new_opt)
    np.testing.assert_array_equal(kept["a"], [1, 0, 1])
    np.testing.assert_array_equal(kept["b"], [0, 0])
    np.testing.assert_array_equal(o[0].nu["a"], [1, 0, 1])
    assert int(o[0].count) == 2


def test_fairnas_covers_every_choice_once_per_step():
    vocab = NET.space.vocab_sizes  # (5, 4, 4, 4, 4, 4): m = 5 paths
    for s in range(5):
        t = np.asarray(paths.fair_tokens(tuple(vocab), jax.random.PRNGKey(s)))
        assert t.shape == (5, len(vocab))
        for i, v in enumerate(vocab):
            counts = np.bincount(t[:, i], minlength=v)
            assert counts.min() >= 1 and counts.sum() == 5
            if v == 5:
                np.testing.assert_array_equal(counts, np.ones(5))
    nb201_vocab = (5,) * 6
    t = np.asarray(paths.fair_tokens(nb201_vocab, jax.random.PRNGKey(0)))
    assert all(sorted(t[:, i]) == list(range(5)) for i in range(6))


@pytest.mark.parametrize("method", ["rsps", "fairnas", "vaenas_os"])
def test_every_method_trains_an_epoch_and_is_deterministic(method):
    x, y = _data(16)
    tx = optax.adam(1e-2)
    cfg = OneShotConfig(method=method)
    state = init_state(NET, tx, cfg, jax.random.PRNGKey(0), x)
    run = jax.jit(lambda s, k: train_epoch(NET, cfg, tx, 4, s, x, y, k))
    a, ma = run(state, jax.random.PRNGKey(1))
    b, mb = run(state, jax.random.PRNGKey(1))
    assert ma["loss"].shape == (4,) and np.isfinite(ma["loss"]).all()
    np.testing.assert_array_equal(ma["loss"], mb["loss"])
    assert int(a.step) == 4
    for p, q in zip(jax.tree.leaves(a.variables), jax.tree.leaves(b.variables), strict=True):
        np.testing.assert_array_equal(p, q)


def test_score_archs_matches_one_by_one_and_chunking():
    x, y = _data(12)
    variables = NET.init(jax.random.PRNGKey(3), x)
    idx = jnp.arange(0, 1364, 97)
    archs = jax.vmap(NET.space.from_index)(idx)
    got = score_archs(NET, variables, archs, x, y, chunk=5)
    for i, j in enumerate(np.asarray(idx)):
        logits, _ = NET.apply(variables, NET.space.from_index(jnp.int32(j)), x)
        assert float(got[i]) == pytest.approx(float(jnp.mean(jnp.argmax(logits, -1) == y)))


_MULTI = r"""
import jax, jax.numpy as jnp, numpy as np, optax
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.train import OneShotConfig, init_state, train_epoch, data_mesh
assert jax.device_count() == 4
net = ConvNetSupernet(num_classes=3, width=4)
rng = np.random.default_rng(0)
x = jnp.asarray(rng.normal(size=(32, 6, 6, 1)), jnp.float32)
y = jnp.asarray(rng.integers(0, 3, 32), jnp.int32)
tx = optax.sgd(0.1)  # linear in the gradient: Adam would magnify float noise of tiny entries
for method in ("spos",):  # the data-parallel step is the same code for every method
    cfg = OneShotConfig(method=method)
    s0 = init_state(net, tx, cfg, jax.random.PRNGKey(0), x)
    one = jax.jit(lambda s, k: train_epoch(net, cfg, tx, 8, s, x, y, k))
    four = jax.jit(lambda s, k: train_epoch(net, cfg, tx, 8, s, x, y, k, data_mesh()))
    a, ma = one(s0, jax.random.PRNGKey(1))
    b, mb = four(s0, jax.random.PRNGKey(1))
    np.testing.assert_allclose(ma["loss"], mb["loss"], rtol=1e-5, atol=1e-6)
    for p, q in zip(jax.tree.leaves(a.variables), jax.tree.leaves(b.variables)):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
# SyncBN: BatchNorm over a batch split across the 4 devices == over the whole batch
from jax.sharding import PartitionSpec as P
from lanas_jax.spaces.batch_norm import affine_free_batch_norm, sync_batch_norm
z = jnp.asarray(rng.normal(size=(32, 4, 4, 3)), jnp.float32) * 3 + 1
def synced(z):
    with sync_batch_norm("data"):
        return affine_free_batch_norm(True, "batch")(z)
got = jax.shard_map(synced, mesh=data_mesh(), in_specs=P("data"), out_specs=P("data"))(z)
np.testing.assert_allclose(got, affine_free_batch_norm(True, "batch")(z), atol=1e-5)
print("ok")
"""


def test_four_devices_equal_one_device():
    run_on_host_devices(_MULTI)
