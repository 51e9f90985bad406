"""The one-shot pipeline's training loop: checkpoints every epoch, a killed run resumed ends
with bitwise the weights of an uninterrupted one (issue 14 items 6-7); SPOS's GA."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lanas_jax.data import load_dataset
from lanas_jax.spaces.nb201 import NB201
from lanas_jax.supernet.checkpoint import Checkpointer
from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.evolution import SposEvolution, evolve
from lanas_jax.supernet.pipeline import train_supernet
from lanas_jax.supernet.train import OneShotConfig

NET = ConvNetSupernet(num_classes=10, width=4)


class _Killed(Exception):
    pass


def _splits():
    s = load_dataset("digits", n_val=64, n_test=64)
    return dataclasses.replace(s, x_train=s.x_train[:64], y_train=s.y_train[:64])


def test_resumed_run_ends_with_the_uninterrupted_weights(tmp_path):
    # SPOS (every method's state has the same structure: supernet, Adam, VAE, eps)
    method = "spos"
    cfg = OneShotConfig(method=method)
    tx = optax.adam(1e-2)
    splits, key = _splits(), jax.random.key(0)
    full, hist = train_supernet(NET, cfg, tx, 16, splits, key, 3, log=lambda s: None)

    def kill(epoch):
        if epoch == 2:
            raise _Killed

    with Checkpointer(tmp_path / "ck", config={"m": method}) as ck:
        with pytest.raises(_Killed):
            train_supernet(NET, cfg, tx, 16, splits, key, 3, checkpointer=ck, on_epoch=kill,
                           log=lambda s: None)
    lines = []
    with Checkpointer(tmp_path / "ck", config={"m": method}) as ck:
        resumed, hist2 = train_supernet(NET, cfg, tx, 16, splits, key, 3, checkpointer=ck,
                                        log=lines.append)
    assert "resumed from the checkpoint of epoch 2" in lines[0]
    assert hist2["loss"] == hist["loss"] and len(hist["loss"]) == 3
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_spos_evolution_finds_the_optimum_of_a_known_score():
    space = NB201()
    target = jnp.array([3, 3, 1, 3, 2, 0])  # the score counts matching edges

    def score(tokens):
        return jnp.sum(tokens == target, axis=1).astype(jnp.float32)

    cfg = SposEvolution(population=20, top_k=5, iterations=15)
    tokens, s = jax.jit(lambda k: evolve(space, cfg, score, k))(jax.random.key(0))
    assert tokens.shape == (300, 6) and s.shape == (300,)
    assert s.max() >= 5  # 5 of 6 edges right within 300 of 15,625 cells (uniform: 0.6% chance)
    # later populations are better than the uniform first one
    assert s[-20:].mean() > s[:20].mean() + 1.0
    again = jax.jit(lambda k: evolve(space, cfg, score, k))(jax.random.key(0))
    np.testing.assert_array_equal(again[0], tokens)


def test_supernet_evaluator_serves_the_scanned_runner():
    from lanas_jax import scanned, strategies
    from lanas_jax.evaluators.supernet import SupernetEvaluator
    from lanas_jax.supernet.score import score_archs

    s = _splits()
    x, y = jnp.asarray(s.x_val[:16]), jnp.asarray(s.y_val[:16])
    variables = NET.init(jax.random.PRNGKey(0), x)
    ev = SupernetEvaluator.create(NET, variables, x, y)
    keys = jax.random.split(jax.random.key(3), 2)
    h = scanned.sweep(strategies.make("random"), ev, keys, 6)
    for i in range(2):
        archs = jax.tree.map(lambda a, i=i: a[i], h.archs)
        np.testing.assert_allclose(h.value[i], score_archs(NET, variables, archs, x, y))
    with pytest.raises(ValueError, match="same non-zero number"):
        SupernetEvaluator.create(NET, variables, x, y[:3])
