"""The one training loop every space shares: optax on softmax cross-entropy, inside ``lax.scan``.

A *model* is a frozen, hashable object (static under ``jit``) with

* ``init(key, arch, x) -> (params, state)``: parameters of the network ``arch`` (a traced
  architecture pytree for a masked model, ignored by a static one); ``x`` is one input batch;
* ``apply(params, state, arch, x, train, key) -> (logits, state)``: ``key`` drives dropout,
  ``state`` is BatchNorm statistics (``{}`` when the network has none).

:func:`fit` trains one network for one seed; :func:`train_batch` trains ``M`` (architecture,
seed) pairs of one model as **one** compiled program, ``jax.vmap``-ed (accelerators) or
``lax.map``-ed (CPU: sequential, one compile, and the body's HLO is the same for any ``M``).

Key use (fixed, so a table records how to reproduce itself): ``key`` splits into an init key and
a data key; the data key's ``split(epochs)`` permutes each epoch (exactly the old ConvNet table
builder's order); per-step augmentation and dropout keys are folded from them, so a recipe
without augmentation or dropout draws nothing more.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax import lax

from lanas_jax.data import augment
from lanas_jax.training.recipe import Recipe

Data = tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]


def batches(key: jax.Array, n: int, recipe: Recipe) -> jax.Array:
    """``[steps, batch]`` example indices: a fresh permutation per epoch, remainder dropped."""
    per_epoch = recipe.steps_per_epoch(n)
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, recipe.epochs))
    return perms[:, : per_epoch * recipe.batch_size].reshape(-1, recipe.batch_size)


def accuracy(model, params, state, arch, x, y, chunk: int) -> jax.Array:
    """Accuracy over ``x``, ``chunk`` images per forward pass (``lax.map``), so a vmapped group's
    activations stay chunk-sized, not split-sized."""
    n = x.shape[0]
    chunk = min(chunk, n)
    pad = -n % chunk
    xs = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)).reshape((-1, chunk) + x.shape[1:])
    no_key = jax.random.PRNGKey(0)  # eval mode draws nothing

    def predict(xb):
        return jnp.argmax(model.apply(params, state, arch, xb, False, no_key)[0], -1)

    return jnp.mean(lax.map(predict, xs).reshape(-1)[:n] == y)


def fit(model, key: jax.Array, arch: Any, data: Data, recipe: Recipe):
    """Train one network; returns ``(val_acc, test_acc, final_loss, finite)``.

    ``finite`` is False when any training loss or final parameter is NaN/inf: a diverged
    network's argmax accuracy is a meaningless number, so the caller must not trust it.
    """
    xtr, ytr, xva, yva, xte, yte = data
    k_init, k_data = jax.random.split(key)
    params, state = model.init(k_init, arch, xtr[:1])
    opt = recipe.optax_optimizer(xtr.shape[0])
    idx = batches(k_data, xtr.shape[0], recipe)
    k_aug, k_drop = jax.random.fold_in(k_data, 1), jax.random.fold_in(k_init, 1)
    use_aug = recipe.augment_pad > 0 or recipe.augment_flip

    def loss_fn(p, s, xb, yb, k):
        logits, s = model.apply(p, s, arch, xb, True, k)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean(), s

    def step(carry, inputs):
        p, s, o = carry
        i, ids = inputs
        xb = xtr[ids]
        if use_aug:
            xb = augment(jax.random.fold_in(k_aug, i), xb, pad=recipe.augment_pad,
                         flip=recipe.augment_flip)
        (loss, s), g = jax.value_and_grad(loss_fn, has_aux=True)(
            p, s, xb, ytr[ids], jax.random.fold_in(k_drop, i))
        upd, o = opt.update(g, o, p)
        return (optax.apply_updates(p, upd), s, o), loss

    steps = jnp.arange(idx.shape[0])
    (params, state, _), losses = lax.scan(step, (params, state, opt.init(params)), (steps, idx))
    finite = jnp.all(jnp.isfinite(losses)) & jnp.all(jnp.stack(
        [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(params)]))
    return (accuracy(model, params, state, arch, xva, yva, recipe.eval_batch),
            accuracy(model, params, state, arch, xte, yte, recipe.eval_batch), losses[-1], finite)


@functools.partial(jax.jit, static_argnames=("model", "recipe", "vectorize"))
def train_batch(keys: jax.Array, archs: Any, data: Data, *, model, recipe: Recipe,
                vectorize: bool):
    """Train ``M`` (architecture, seed) pairs of one model: ``keys`` ``[M, 2]`` raw keys,
    ``archs`` a stacked pytree with leading axis ``M``. Returns ``(val, test, loss, finite)``,
    each ``[M]``. ``vectorize`` vmaps; otherwise ``lax.map`` runs them one after another."""

    def one(args):
        key, arch = args
        return fit(model, key, arch, data, recipe)

    if vectorize:
        return jax.vmap(lambda k, a: one((k, a)))(keys, archs)
    return lax.map(one, (keys, archs))
