"""What DARTS and GDAS share: the state, the architecture optimiser, the epoch's batches.

The architecture logits are trained by Adam, learning rate 3e-4, betas (0.5, 0.999), weight
decay 1e-3 (DARTS, Liu et al. 2019, Sec. 3.1.2; GDAS, Dong & Yang 2019, Sec. 4, and
AutoDL-Projects' NB201 search configs). PyTorch's ``Adam(weight_decay=)`` adds the decay to the
gradient (L2, not AdamW), hence ``add_decayed_weights`` before ``adam``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


class ArchState(struct.PyTreeNode):
    """A DARTS / GDAS run: the supernet's variables (``supernet.init``'s tree) and their
    optimiser state, the ``[L, V]`` architecture logits and their Adam state, the step count and
    the number of epochs done (GDAS's temperature schedule reads it)."""

    variables: Any
    opt_state: Any
    alpha: jax.Array
    alpha_opt_state: Any
    step: jax.Array
    epoch: jax.Array


def arch_optimizer(lr: float, b1: float, b2: float, weight_decay: float):
    """Adam with PyTorch-style (coupled) weight decay, for the architecture logits."""
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr, b1=b1, b2=b2))


def check_arch_opt(lr: float, betas: tuple[float, float], weight_decay: float) -> None:
    """ValueError naming a bad architecture-optimiser setting."""
    if not lr > 0:
        raise ValueError(f"arch_lr must be > 0, got {lr}")
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise ValueError(f"arch_betas must be two values in [0, 1), got {betas}")
    if weight_decay < 0:
        raise ValueError(f"arch_weight_decay must be >= 0, got {weight_decay}")


def epoch_batches(key: jax.Array, n_train: int, n_val: int, batch_size: int):
    """``(train_idx, val_idx)``, each ``int32[steps, batch_size]``: a fresh permutation of the
    training set (the last partial batch dropped) and one of the validation set, cycled if it
    is shorter (DARTS iterates its two halves side by side)."""
    steps = n_train // batch_size
    if steps < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_train} training images")
    if n_val < batch_size:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_val} validation images")
    k_train, k_val = jax.random.split(key)
    train = jax.random.permutation(k_train, n_train)[: steps * batch_size]
    val = jax.random.permutation(k_val, n_val)[jnp.arange(steps * batch_size) % n_val]
    return train.reshape(steps, batch_size), val.reshape(steps, batch_size)


def cross_entropy(logits: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(mean cross-entropy, accuracy)`` of integer labels ``y``."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == y)
