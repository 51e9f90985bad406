"""VAENAS-G (seed 002 Sec. 4.3, Alg. 3; issue 15 item 3) on tiny supernets."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lanas_jax.supernet import vaenas_g as vg
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.train import TrainConfig

CFG = vg.VaenasGConfig(n_vae=1, n_samples=8, score_batch=8,
                       vae=TrainConfig(sizes=VAESizes(4, 8, 2), n_iters=3, batch_size=4,
                                       top_frac=0.5))
CONV = ConvNetSupernet(num_classes=3, width=4)
TX = optax.adamw(1e-2, weight_decay=0.1)
_init = jax.jit(vg.init_state, static_argnums=(0, 1, 2))
_candidates = jax.jit(vg.candidates, static_argnums=(0, 1, 4))


def _data(n, shape=(6, 6, 1), classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.normal(size=(n,) + shape), jnp.float32),
            jnp.asarray(rng.integers(0, classes, n), jnp.int32))


def test_config_rejects_bad_values():
    for bad in ({"arch_lr": 0.0}, {"baseline_decay": 1.0}, {"n_vae": 0}, {"n_samples": 1},
                {"pool_factor": 0}, {"vae": TrainConfig(top_frac=0.0)}):
        with pytest.raises(ValueError):
            vg.VaenasGConfig(**bad)


def test_step_samples_a_valid_path_and_leaves_the_rest_unchanged():
    x, y = _data(8)
    state = _init(CONV, CFG, TX, jax.random.PRNGKey(0), x)
    step = jax.jit(lambda s, k: vg.train_step(CONV, CFG, TX, s, x, y, x, y, k))
    vocab = np.asarray(CONV.space.vocab_sizes)
    for i in range(4):  # non-zero moments wherever a path went
        state, m = step(state, jax.random.PRNGKey(10 + i))
        tokens = np.asarray(m["tokens"])
        assert tokens.shape == vocab.shape and (tokens >= 0).all() and (tokens < vocab).all()
        assert 1 <= int(CONV.space.from_tokens(m["tokens"]).depth) <= 5  # a net of the space
    key = jax.random.PRNGKey(99)
    new, m = step(state, key)
    tokens = jax.jit(lambda s, k: vg.sample_path(CONV, CFG, s, k))(state, jax.random.split(key)[0])
    np.testing.assert_array_equal(m["tokens"], tokens)
    mask = CONV.path_mask(CONV.space.from_tokens(tokens))
    old_p, new_p = state.variables["params"], new.variables["params"]
    for tree_old, tree_new in ((old_p, new_p), (state.opt_state[0].mu, new.opt_state[0].mu)):
        for a, b, mk in zip(jax.tree.leaves(tree_old), jax.tree.leaves(tree_new),
                            jax.tree.leaves(mask), strict=True):
            off = np.broadcast_to(np.asarray(mk), a.shape) == 0
            np.testing.assert_array_equal(np.asarray(a)[off], np.asarray(b)[off])
    assert not np.array_equal(old_p["head"]["b"], new_p["head"]["b"])
    assert not np.array_equal(state.arch_logits, new.arch_logits)


@dataclasses.dataclass(frozen=True)
class _TwoOpSpace:
    vocab_sizes = (2,)

    def from_tokens(self, tokens):
        return jnp.asarray(tokens, jnp.int32)


@dataclasses.dataclass(frozen=True)
class _TwoOpNet:
    """One position, two ops: op 0 maps the one-hot input to its label, op 1 outputs zeros."""

    space: _TwoOpSpace = _TwoOpSpace()

    def init(self, key, x):
        return {"params": {"w": jnp.stack([5.0 * jnp.eye(2), jnp.zeros((2, 2))])}}

    def apply(self, variables, arch, x, *, train):
        return x @ variables["params"]["w"][arch[0]], None

    def path_mask(self, arch):
        return {"w": jax.nn.one_hot(arch[0], 2)[:, None, None]}


def test_reinforce_raises_the_path_of_lower_validation_loss():
    net = _TwoOpNet()
    y = jnp.array([0, 1, 1, 0])
    x = jax.nn.one_hot(y, 2)
    state = vg.init_state(net, CFG, optax.sgd(0.1), jax.random.PRNGKey(0), x)
    update = jax.jit(lambda s, t: vg.arch_update(net, CFG, s, t, x, y))
    t0, t1 = jnp.array([0]), jnp.array([1])
    same, m0 = update(state, t0)
    r0, r1 = m0["reward"], update(state, t1)[1]["reward"]
    assert r0 > r1  # op 0's validation loss is the lower
    # the first step's baseline is its own reward: no update
    np.testing.assert_allclose(same.arch_logits, state.arch_logits)
    mid = state.replace(step=jnp.int32(1), baseline=(r0 + r1) / 2)
    for tokens in (t0, t1):  # either sample moves probability towards op 0
        new, _ = update(mid, tokens)
        p = jax.nn.softmax(new.arch_logits[0])
        assert p[0] > 0.5 > p[1]


def test_same_key_same_result_and_convnet_epoch():
    x, y = _data(16)
    xv, yv = _data(8, seed=1)
    state = _init(CONV, CFG, TX, jax.random.PRNGKey(0), x)
    run = jax.jit(lambda s, k: vg.train_epoch(CONV, CFG, TX, 4, s, x, y, xv, yv, k))
    a, ma = run(state, jax.random.PRNGKey(1))
    b, mb = run(state, jax.random.PRNGKey(1))
    c, _ = run(state, jax.random.PRNGKey(2))
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(leaf_a, leaf_b)
    assert not np.array_equal(a.arch_logits, c.arch_logits)
    for name in ("loss", "accuracy", "val_loss", "reward", "baseline", "entropy"):
        assert ma[name].shape == (4,) and np.isfinite(ma[name]).all()
    assert int(a.epoch) == 1 and int(a.step) == 4
    moved = jax.tree.map(lambda p, q: bool(jnp.any(p != q)), a.vae_params, state.vae_params)
    assert any(jax.tree.leaves(moved))  # n_vae = 1: the VAE was retrained
    cands = _candidates(CONV, CFG, a, jax.random.PRNGKey(3), 5)
    assert cands.dtype == jnp.int32 and cands.shape == (5, 6)
    assert len({tuple(c) for c in np.asarray(cands)}) == 5  # distinct
    best = jnp.argmax(vg.log_probs(CONV.space, a.arch_logits), -1)
    np.testing.assert_array_equal(cands[0], CONV.space.tokens(CONV.space.from_tokens(best)))
    with pytest.raises(ValueError):
        vg.candidates(CONV, CFG, a, jax.random.PRNGKey(3), 0)

