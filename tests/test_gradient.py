"""DARTS and GDAS on the supernets (issue 15 items 1, 2 and their tests of item 7)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lanas_jax.gradient import darts, gdas, mixed
from lanas_jax.gradient.common import ArchState
from lanas_jax.spaces import convnet as cspace
from lanas_jax.spaces import nb201
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.nb201 import Nb201Supernet

NB = Nb201Supernet(num_classes=3, channels=4, cells=1)
CONV = ConvNetSupernet(num_classes=3, width=4)
CONV_XLA = ConvNetSupernet(num_classes=3, width=4, conv="xla")  # compiles faster than im2col


def _images(n, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.normal(size=(n, size, size, 1)), jnp.float32)


def _one_hot_alpha(space, arch):
    """Logits so peaked that their softmax is exactly the one-hot of ``arch``'s tokens."""
    tokens = space.tokens(arch)
    return 1e4 * jax.nn.one_hot(tokens, max(space.vocab_sizes))


def _random_variables(net, x, seed=0):
    """Variables of ``net``'s tree without compiling its init (seconds on this CPU)."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
    return jax.tree.map(lambda s: jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)


def test_nb201_one_hot_mixed_op_is_the_single_path_bit_for_bit():
    x = _images(4)
    for bn in ("batch", "recalibrate"):
        net = Nb201Supernet(num_classes=3, channels=4, cells=1, bn=bn)
        variables = _random_variables(net, x)
        for ops in [(0, 1, 2, 3, 4, 3), (1, 4, 0, 2, 2, 1)]:
            arch = nb201.Nb201Arch(jnp.asarray(ops, jnp.int32))
            w = mixed.arch_weights(net.space, _one_hot_alpha(net.space, arch))
            assert np.array_equal(w, jax.nn.one_hot(jnp.asarray(ops), 5))
            want, want_stats = net.apply(variables, arch, x, train=True)
            got, got_stats = mixed.mixed_apply(net, variables, w, x, train=True)
            np.testing.assert_array_equal(got, want)
            jax.tree.map(np.testing.assert_array_equal, got_stats, want_stats)


def test_convnet_one_hot_mixed_layers_and_depth_are_the_single_path():
    x = _images(8, size=6)
    variables = CONV.init(jax.random.PRNGKey(1), x)
    for layers in [((64, 5), (32, 3), (64, 3)), ((32, 5), (64, 5)) * 2 + ((64, 3),)]:
        arch = cspace.from_layers(layers)
        w = mixed.arch_weights(CONV.space, _one_hot_alpha(CONV.space, arch))
        for net in (CONV, CONV_XLA):  # im2col and XLA's convolution
            want, _ = net.apply(variables, arch, x, train=True)
            got, stats = mixed.mixed_apply(net, variables, w, x, train=True)
            np.testing.assert_allclose(got, want, atol=1e-6)
            assert stats is None


def _two_op_loss(params, alpha, batch):
    """One edge, two ops: ``w * x`` and the identity, mixed by ``softmax(alpha)``."""
    x, t = batch
    p = jax.nn.softmax(alpha)
    return jnp.mean((p[0] * params["w"] * x + p[1] * x - t) ** 2), None


def test_first_order_step_is_the_hand_computed_update():
    cfg = darts.DartsConfig(order=1)
    tx = optax.sgd(0.1)
    rng = np.random.default_rng(0)
    train = (rng.normal(size=8), rng.normal(size=8))
    val = (rng.normal(size=8), rng.normal(size=8))
    params, alpha = {"w": jnp.float32(0.7)}, jnp.asarray([0.3, -0.2], jnp.float32)
    opt, alpha_opt = tx.init(params), cfg.arch_tx.init(alpha)
    # By hand: d/dp of the mean squared error, the softmax Jacobian, Adam with L2 decay.
    w, a, m, v = 0.7, np.array([0.3, -0.2]), np.zeros(2), np.zeros(2)
    b1, b2 = cfg.arch_betas
    for t in (1, 2):
        params, alpha, opt, alpha_opt, _ = darts.bilevel_step(
            cfg, tx, _two_op_loss, params, alpha, opt, alpha_opt,
            tuple(map(jnp.float32, train)), tuple(map(jnp.float32, val)))
        p = np.exp(a) / np.exp(a).sum()
        xv, tv = val
        r = 2 * (p[0] * w * xv + p[1] * xv - tv)
        dp = np.array([np.mean(r * w * xv), np.mean(r * xv)])
        g = p * (dp - p @ dp) + cfg.arch_weight_decay * a
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2
        a = a - cfg.arch_lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
        p = np.exp(a) / np.exp(a).sum()
        xt, tt = train
        w = w - 0.1 * np.mean(2 * (p[0] * w * xt + p[1] * xt - tt) * p[0] * xt)
        np.testing.assert_allclose(alpha, a, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(params["w"], w, rtol=1e-5)


def _toy_loss(params, alpha, batch):
    """A loss with a non-zero mixed second derivative in (w, alpha)."""
    x, t = batch
    w, p = params["w"], jax.nn.softmax(alpha)
    pred = p[0] * jnp.tanh(w[0] * x + w[1]) + p[1] * w[2] * x**2 + p[2] * x
    return jnp.mean((pred - t) ** 2) + 0.05 * p[0] * jnp.sum(w**2), None


def test_second_order_gradient_matches_finite_differences_of_the_unrolled_loss():
    rng = np.random.default_rng(1)
    batch = lambda: tuple(jnp.asarray(rng.normal(size=16), jnp.float32) for _ in range(2))  # noqa: E731
    train, val = batch(), batch()
    params = {"w": jnp.asarray([0.8, -0.3, 0.5], jnp.float32)}
    alpha = jnp.asarray([0.2, -0.1, 0.4], jnp.float32)
    xi = 0.3

    def unrolled_val(alpha):
        g = jax.grad(lambda p: _toy_loss(p, alpha, train)[0])(params)
        w1 = jax.tree.map(lambda w, d: w - xi * d, params, g)
        return _toy_loss(w1, alpha, val)[0]

    h = 1e-2
    fd = np.array([(unrolled_val(alpha.at[i].add(h)) - unrolled_val(alpha.at[i].add(-h)))
                   / (2 * h) for i in range(3)])
    second, _ = darts.arch_grad(_toy_loss, params, alpha, train, val, order=2, xi=xi,
                                fd_eps=0.01)
    first, _ = darts.arch_grad(_toy_loss, params, alpha, train, val, order=1, xi=xi,
                               fd_eps=0.01)
    np.testing.assert_allclose(second, fd, atol=2e-4)
    np.testing.assert_allclose(second, jax.grad(unrolled_val)(alpha), atol=2e-4)
    assert np.abs(np.asarray(second) - np.asarray(first)).max() > 1e-2  # the correction matters


def test_gumbel_sample_is_one_hot_forward_and_differentiable_backward():
    for space in (nb201.NB201(), cspace.ConvNet()):
        alpha = mixed.init_alpha(space, jax.random.PRNGKey(0), scale=1.0)
        c = jax.random.normal(jax.random.PRNGKey(1), alpha.shape)
        for seed in range(2):
            key = jax.random.PRNGKey(seed)
            h, tokens = gdas.gumbel_hard(space, alpha, key, 1.0)
            np.testing.assert_array_equal(h, jax.nn.one_hot(tokens, alpha.shape[1]))
            assert bool(jnp.all(tokens < jnp.asarray(space.vocab_sizes)))
            f = functools.partial(lambda a, s, k, c: jnp.sum(gdas.gumbel_hard(s, a, k, 1.0)[0] * c),
                                  s=space, k=key, c=c)
            g = jax.grad(f)(alpha)
            assert bool(jnp.all(jnp.any(g != 0, axis=1)))  # every position gets a gradient
            np.testing.assert_allclose(g.sum(axis=1), 0, atol=1e-6)  # through the softmax


def test_derive_and_ranked_give_valid_architectures():
    space = nb201.NB201()
    alpha = mixed.init_alpha(space, jax.random.PRNGKey(2), scale=1.0).at[:3, 0].set(5.0)
    ops = np.asarray(mixed.derive(space, alpha).ops)
    assert (ops != 0).all()
    assert (np.asarray(mixed.derive(space, alpha, exclude_none=False).ops)[:3] == 0).all()
    tokens = np.asarray(mixed.ranked(space, alpha, 20))
    assert tokens.shape == (20, 6) and (tokens != 0).all()
    assert len({tuple(t) for t in tokens}) == 20
    np.testing.assert_array_equal(tokens[0], ops)
    lp = [float(mixed.log_prob(space, alpha, jnp.asarray(t))) for t in tokens]
    assert lp == sorted(lp, reverse=True)
    cs = cspace.ConvNet()
    alpha = mixed.init_alpha(cs, jax.random.PRNGKey(3), scale=1.0)
    tokens = np.asarray(mixed.ranked(cs, alpha, 30))
    np.testing.assert_array_equal(tokens[0], cs.tokens(mixed.derive(cs, alpha)))
    for t in tokens:
        cs.describe(cs.from_tokens(jnp.asarray(t)))  # a valid network
    assert len({int(cs.index(cs.from_tokens(jnp.asarray(t)))) for t in tokens}) == 30
    with pytest.raises(ValueError, match="num"):
        mixed.ranked(space, alpha=jnp.zeros((6, 5)), num=4097)


def test_configs_reject_bad_values():
    with pytest.raises(ValueError, match="order"):
        darts.DartsConfig(order=3)
    with pytest.raises(ValueError, match="tau_min"):
        gdas.GdasConfig(tau_min=1.0, tau_max=0.5)
    with pytest.raises(ValueError, match="arch_betas"):
        darts.DartsConfig(arch_betas=(0.5, 1.0))
    cfg = gdas.GdasConfig(epochs=11)
    np.testing.assert_allclose([gdas.temperature(cfg, e) for e in (0, 5, 10, 20)],
                               [10.0, 5.05, 0.1, 0.1], rtol=1e-5)


def _problem(n, size, seed):
    """Labels from the sign of the image mean and of its left half: learnable by any net."""
    x = _images(n, size, seed)
    y = (jnp.mean(x, axis=(1, 2, 3)) > 0).astype(jnp.int32) + (
        jnp.mean(x[:, :, : size // 2], axis=(1, 2, 3)) > 0).astype(jnp.int32)
    return x, y


def test_gdas_step_trains_only_the_sampled_path():
    """An eager step: the weights that move are the sampled network's path (NB201's
    gradient would compile for ~30 s on this CPU; the chain's path masks are finer anyway)."""
    (x, y), net = _problem(8, 6, 0), CONV_XLA
    variables = net.init(jax.random.PRNGKey(0), x)
    tx, cfg = optax.chain(optax.add_decayed_weights(0.01), optax.sgd(0.1)), gdas.GdasConfig()
    alpha = mixed.init_alpha(net.space, jax.random.PRNGKey(0))
    state = ArchState(variables, tx.init(variables["params"]), alpha, cfg.arch_tx.init(alpha),
                      jnp.int32(0), jnp.int32(0))
    key = jax.random.PRNGKey(3)
    new, metrics = gdas.train_step(net, cfg, tx, state, x, y, x, y, key, 1.0)
    _, tokens = gdas.gumbel_hard(net.space, alpha, jax.random.split(key)[0], 1.0)
    mask = net.path_mask(net.space.from_tokens(tokens))
    moved = jax.tree.leaves(jax.tree.map(lambda a, b: a != b, new.variables["params"],
                                         variables["params"]))
    on = [jnp.broadcast_to(m, mv.shape) == 1 for m, mv in zip(jax.tree.leaves(mask), moved,
                                                             strict=True)]
    # No other entry moves, weight decay notwithstanding (SPOS's masked update); an entry on
    # the path may have an exactly zero gradient (a dead ReLU), hence 90%.
    assert not any(bool(jnp.any(mv & ~m)) for mv, m in zip(moved, on, strict=True))
    assert sum(int(mv.sum()) for mv in moved) > 0.9 * sum(int(m.sum()) for m in on)
    assert bool(jnp.any(new.alpha != alpha)) and np.isfinite(float(metrics["loss"]))


@pytest.mark.parametrize("method,cfg", [
    (darts, darts.DartsConfig(order=2, xi=0.01)),
    (gdas, gdas.GdasConfig(epochs=3)),
])
def test_train_epoch_lowers_the_loss_and_repeats_with_the_same_key(method, cfg):
    net, size = CONV_XLA, 6
    (xt, yt), (xv, yv) = _problem(64, size, 0), _problem(32, size, 1)
    tx = optax.adam(1e-2)
    state = method.init_state(net, cfg, tx, jax.random.PRNGKey(0), xt[:2])
    epoch = jax.jit(functools.partial(method.train_epoch, net, cfg, tx, 16))
    alpha0, losses = state.alpha, []
    for e in range(3):
        key = jax.random.fold_in(jax.random.PRNGKey(1), e)
        new, metrics = epoch(state, xt, yt, xv, yv, key)
        if e == 0:
            again, metrics2 = epoch(state, xt, yt, xv, yv, key)
            jax.tree.map(np.testing.assert_array_equal, (new, metrics), (again, metrics2))
        state = new
        losses.append(float(metrics["loss"].mean()))
        assert metrics["loss"].shape == metrics["accuracy"].shape == (4,)
    assert losses[-1] < losses[0]
    assert int(state.step) == 12 and int(state.epoch) == 3
    assert not np.array_equal(state.alpha, alpha0)
    assert jax.tree.structure(state.variables) == jax.tree.structure(
        net.init(jax.random.PRNGKey(0), xt[:2]))
    tokens = method.candidates(net, cfg, state, jax.random.PRNGKey(0), 5)
    assert tokens.shape == (5, len(net.space.vocab_sizes)) and tokens.dtype == jnp.int32
    np.testing.assert_array_equal(
        tokens[0], net.space.tokens(mixed.derive(net.space, state.alpha)))
