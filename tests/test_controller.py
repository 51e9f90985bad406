"""Controller methods (issue 15 items 4, 5, 7): the LSTM token controller and REINFORCE, ENAS and
NASES on tiny supernets."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lanas_jax.controller import enas, nases
from lanas_jax.controller.lstm import (
    ControllerConfig,
    ControllerState,
    TokenController,
    moving_baseline,
)
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.nb201 import Nb201Supernet

TX = optax.sgd(0.05, momentum=0.9)
ENAS = enas.EnasConfig(controller=ControllerConfig(hidden=16), controller_steps=2,
                       num_samples=3, val_batch=16)
# One stage-1 setting for every NASES test (pretrain compiles once per setting and shape).
NASES = nases.NasesConfig(hidden=32, embed_dim=8, pretrain_steps=400, pretrain_batch=32,
                          pretrain_lr=1e-2, controller_steps=2, num_samples=3, val_batch=16)
CONVNET = ConvNetSupernet(num_classes=3, width=4, conv="xla")  # the cheapest to compile


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, 8, 8, 1)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, n), jnp.int32)
    return x[:32], y[:32], x[32:], y[32:]


_EPOCH = {m: jax.jit(m.train_epoch, static_argnums=(0, 1, 2, 3)) for m in (enas, nases)}


@functools.cache
def _state(method, net, cfg):
    return method.init_state(net, cfg, TX, jax.random.PRNGKey(0), _data()[0][:2])


def _epoch(method, net, cfg, state, key):
    return _EPOCH[method](net, cfg, TX, 16, state, *_data(), key)


def test_controller_samples_only_valid_tokens_and_scores_them_as_sampled():
    ctrl = TokenController((3, 1, 4, 2), ControllerConfig(hidden=8, temperature=None,
                                                          tanh_constant=None, init_range=1.0))
    params = ctrl.init(jax.random.PRNGKey(0))
    tokens, lp, ent = jax.jit(lambda p, k: ctrl.sample_batch(p, k, 300))(
        params, jax.random.PRNGKey(1))
    tokens = np.asarray(tokens)
    for i, v in enumerate(ctrl.vocab_sizes):
        assert set(tokens[:, i]) == set(range(v))  # every allowed token, none beyond
    again = jax.jit(jax.vmap(lambda t: ctrl.log_prob_entropy(params, t)))(jnp.asarray(tokens))
    np.testing.assert_allclose(again[0], lp, atol=1e-5)
    np.testing.assert_allclose(again[1], ent, atol=1e-5)
    assert np.all(np.asarray(lp) < 0) and np.all(np.asarray(ent) > 0)
    greedy = np.asarray(jax.jit(ctrl.greedy)(params))
    assert all(0 <= t < v for t, v in zip(greedy, ctrl.vocab_sizes, strict=True))


def test_validity_mask_and_end_token_drop_positions():
    ctrl = TokenController((3, 3, 3, 3), ControllerConfig(hidden=8, end_token=2))
    params = ctrl.init(jax.random.PRNGKey(0))
    valid = jnp.array([True, True, True, False])
    tokens, lp, _ = jax.jit(lambda p, k: ctrl.sample_batch(p, k, 200, valid))(
        params, jax.random.PRNGKey(2))
    tokens = np.asarray(tokens)
    assert np.all(tokens[:, 3] == 0)
    for row in tokens:  # after an end token every position is 0
        ends = np.flatnonzero(row == 2)
        if ends.size:
            assert np.all(row[ends[0] + 1:] == 0)
    again = jax.jit(jax.vmap(lambda t: ctrl.log_prob(params, t, valid)))(jnp.asarray(tokens))
    np.testing.assert_allclose(again, lp, atol=1e-5)
    short = np.asarray(lp)[tokens[:, 0] == 2]  # ended at once: one position's log-prob
    np.testing.assert_allclose(short, np.log(1 / 3), atol=0.05)


def test_moving_baseline_by_hand():
    b, adv = moving_baseline(jnp.float32(0.0), jnp.array([1.0, 1.0]), 0.5)
    np.testing.assert_allclose(adv, [0.5, 0.25])
    np.testing.assert_allclose(b, 0.75)


def test_reinforce_step_raises_log_prob_of_an_arm_above_the_baseline():
    ctrl = TokenController((2,), ControllerConfig(hidden=8, learning_rate=1e-2))
    state = ctrl.init_state(jax.random.PRNGKey(0))
    state = ControllerState(state.params, state.opt_state, jnp.float32(0.5))
    arm = jnp.array([[1]], jnp.int32)

    @jax.jit
    def step(score):
        new, m = ctrl.update(state, arm, score[None], jnp.zeros(1))
        return ctrl.log_prob(new.params, arm[0]) - ctrl.log_prob(state.params, arm[0]), m

    for score, sign in [(1.0, 1), (0.0, -1)]:  # above, then below the baseline 0.5
        change, m = step(jnp.float32(score))
        assert sign * float(change) > 0
        assert sign * float(m["advantage"]) > 0


def test_nases_decoder_reconstructs_its_training_architectures():
    vocab = (2, 1, 3, 1, 2, 5)  # a slice of 60 architectures, NB201's sequence shape
    sim_p, dec_p, m = nases.pretrain(NASES, vocab, jax.random.PRNGKey(0))
    sim, dec = nases._models(NASES, vocab)
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in vocab], indexing="ij"), -1)
    tokens = jnp.asarray(grid.reshape(-1, len(vocab)), jnp.int32)
    scores = dec.apply(dec_p, sim.apply(sim_p, nases.relax(tokens, vocab)))
    np.testing.assert_array_equal(nases.decode(scores, vocab), tokens)
    assert float(m["loss"][-1]) < 0.01 * float(m["loss"][0])


@pytest.mark.parametrize("method, cfg", [(enas, ENAS), (nases, NASES)])
def test_train_epoch_on_convnet_same_key_same_result(method, cfg):
    state = _state(method, CONVNET, cfg)
    a, ma = _epoch(method, CONVNET, cfg, state, jax.random.PRNGKey(1))
    b, mb = _epoch(method, CONVNET, cfg, state, jax.random.PRNGKey(1))
    for u, v in zip(jax.tree.leaves((a, ma)), jax.tree.leaves((b, mb)), strict=True):
        np.testing.assert_array_equal(u, v)
    c, _ = _epoch(method, CONVNET, cfg, state, jax.random.PRNGKey(2))
    assert not np.array_equal(jax.tree.leaves(c.controller.params)[0],
                              jax.tree.leaves(a.controller.params)[0])
    assert ma["loss"].shape == (2,) and ma["reward"].shape == (cfg.controller_steps,)
    assert all(np.all(np.isfinite(v)) for v in ma.values())
    assert jax.tree.structure(a.variables) == jax.tree.structure(state.variables)
    assert int(a.step) == 2
    cands = method.candidates(CONVNET, cfg, a, jax.random.PRNGKey(3), 5)
    assert cands.shape == (5, 6) and cands.dtype == jnp.int32
    assert np.all(np.asarray(cands) < np.asarray(CONVNET.space.vocab_sizes))


@pytest.mark.parametrize("method, cfg", [(enas, ENAS), (nases, NASES)])
def test_train_epoch_traces_on_nb201_with_running_statistics(method, cfg):
    # Traced, not compiled: compiling the NB201 supernet's epoch costs ~25 CPU-seconds per
    # method here. The code it runs is the ConvNet tests' (the supernet's own training is
    # tested in test_supernet_*); this checks shapes, the state tree and the batch_stats path.
    net = Nb201Supernet(num_classes=3, channels=4, cells=1, bn="recalibrate")
    x = _data()[0]
    state = jax.eval_shape(lambda k: method.init_state(net, cfg, TX, k, x[:2]),
                           jax.random.PRNGKey(0))
    assert "batch_stats" in state.variables
    new, m = jax.eval_shape(lambda s, k: method.train_epoch(net, cfg, TX, 16, s, *_data(), k),
                            state, jax.random.PRNGKey(1))
    assert jax.tree.structure(new) == jax.tree.structure(state)
    assert m["loss"].shape == (2,) and m["reward"].shape == (cfg.controller_steps,)
    cands = jax.eval_shape(lambda s, k: method.candidates(net, cfg, s, k, 4), new,
                           jax.random.PRNGKey(2))
    assert cands.shape == (4, 6) and cands.dtype == jnp.int32


def test_nases_ablation_starts_from_a_fresh_controller():
    ours = _state(nases, CONVNET, NASES)
    cfg = nases.NasesConfig(**{**NASES.__dict__, "pretrained_init": False})
    fresh = _state(nases, CONVNET, cfg)
    for u, v in zip(jax.tree.leaves(ours.decoder), jax.tree.leaves(fresh.decoder), strict=True):
        np.testing.assert_array_equal(u, v)  # the same stage 1
    assert float(ours.pretrain_accuracy) == float(fresh.pretrain_accuracy)
    for u, v in zip(jax.tree.leaves(ours.controller.params),
                    jax.tree.leaves(fresh.controller.params), strict=True):
        assert not np.array_equal(u, v)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="update"):
        enas.EnasConfig(update="some")
    with pytest.raises(ValueError, match="num_samples"):
        nases.NasesConfig(num_samples=0)
    with pytest.raises(ValueError, match="temperature"):
        ControllerConfig(temperature=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        enas.train_epoch(CONVNET, ENAS, TX, 64, None, *_data(), jax.random.PRNGKey(0))
