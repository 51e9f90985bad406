"""DARTS, first and second order (Liu et al. 2019, "DARTS: Differentiable Architecture Search").

Bi-level optimisation (Sec. 2.3, Eq. 3-4, Alg. 1): the architecture logits ``alpha`` minimise
the validation loss ``L_val(w*(alpha), alpha)`` while the weights ``w`` minimise the training
loss, alternating one step each per minibatch, ``alpha`` first (Alg. 1; the reference code's
``architect.step`` precedes the weights' step). The architecture gradient is

* first order (``order=1``): ``grad_alpha L_val(w, alpha)`` (Eq. 6 with ``xi = 0``);
* second order (``order=2``, Eq. 6-8): the one-step unrolled weights
  ``w' = w - xi grad_w L_train(w, alpha)`` give
  ``grad_alpha L_val(w', alpha) - xi (grad_alpha L_train(w+, alpha) - grad_alpha L_train(w-,
  alpha)) / (2 eps)`` with ``w+- = w +- eps grad_w' L_val(w', alpha)`` and
  ``eps = 0.01 / ||grad_w' L_val(w', alpha)||`` (Eq. 8's finite-difference Hessian-vector
  product).

The paper sets ``xi`` to the weights' learning rate (Sec. 2.3); ``tx`` is the caller's, so
:class:`DartsConfig` holds ``xi`` (default 0.025, the paper's and NAS-Bench-201's SGD rate):
set it to your ``tx``'s rate. The unrolled step is Eq. 6's plain gradient step (the reference
code also folds the momentum and weight decay into it). One compiled :func:`train_step` does
both updates on the relaxed supernet of :mod:`lanas_jax.gradient.mixed`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from lanas_jax.gradient import mixed
from lanas_jax.gradient.common import (
    ArchState,
    arch_optimizer,
    check_arch_opt,
    cross_entropy,
    epoch_batches,
)

DartsState = ArchState


@dataclasses.dataclass(frozen=True)
class DartsConfig:
    """DARTS's settings (static under ``jit``).

    Attributes:
      order: 1 (first-order approximation) or 2 (the unrolled step, Sec. 2.3).
      xi: the unrolled step's learning rate (Eq. 6; the paper uses the weights' rate).
      fd_eps: ``eps * ||grad_w' L_val||`` of Eq. 8 (0.01 in the paper).
      arch_lr, arch_betas, arch_weight_decay: Adam on ``alpha`` (Sec. 3.1.2: 3e-4,
        (0.5, 0.999), 1e-3).
      init_scale: ``alpha``'s initial ``scale * N(0, 1)`` (the reference code's 1e-3).
      exclude_none: derive NB201 cells without the zero op (Sec. 2.4).
    """

    order: int = 1
    xi: float = 0.025
    fd_eps: float = 0.01
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    init_scale: float = 1e-3
    exclude_none: bool = True

    def __post_init__(self):
        if self.order not in (1, 2):
            raise ValueError(f"DARTS order must be 1 or 2, got {self.order!r}")
        if self.xi < 0 or not self.fd_eps > 0 or self.init_scale < 0:
            raise ValueError(f"need xi >= 0, fd_eps > 0 and init_scale >= 0, got {self.xi}, "
                             f"{self.fd_eps}, {self.init_scale}")
        check_arch_opt(self.arch_lr, self.arch_betas, self.arch_weight_decay)

    @property
    def arch_tx(self) -> optax.GradientTransformation:
        return arch_optimizer(self.arch_lr, *self.arch_betas, self.arch_weight_decay)


def init_state(supernet, cfg: DartsConfig, tx, key: jax.Array, x_example) -> ArchState:
    """Fresh supernet variables (``supernet.init``), small random ``alpha``, fresh optimisers."""
    k_net, k_alpha = jax.random.split(key)
    variables = supernet.init(k_net, x_example)
    alpha = mixed.init_alpha(supernet.space, k_alpha, cfg.init_scale)
    zero = jnp.zeros((), jnp.int32)
    return ArchState(variables, tx.init(variables["params"]), alpha, cfg.arch_tx.init(alpha),
                     zero, zero)


def _axpy(a, x, y):
    return jax.tree.map(lambda xi, yi: a * xi + yi, x, y)


def arch_grad(loss_fn, params, alpha, train_batch, val_batch, *, order: int, xi: float,
              fd_eps: float):
    """DARTS's architecture gradient (Eq. 6-8; the module doc) and the validation loss it
    differentiates. ``loss_fn(params, alpha, batch) -> (loss, aux)``."""
    loss = lambda p, a, b: loss_fn(p, a, b)[0]  # noqa: E731
    if order == 1:
        val_loss, g = jax.value_and_grad(loss, argnums=1)(params, alpha, val_batch)
        return g, val_loss
    w_unrolled = _axpy(-xi, jax.grad(loss)(params, alpha, train_batch), params)
    val_loss, (dw, dalpha) = jax.value_and_grad(loss, argnums=(0, 1))(
        w_unrolled, alpha, val_batch)
    eps = fd_eps / jnp.maximum(optax.tree.norm(dw), 1e-12)
    g_train = jax.grad(loss, argnums=1)
    hvp = (g_train(_axpy(eps, dw, params), alpha, train_batch)
           - g_train(_axpy(-eps, dw, params), alpha, train_batch)) / (2 * eps)
    return dalpha - xi * hvp, val_loss


def bilevel_step(cfg: DartsConfig, tx, loss_fn, params, alpha, opt_state, alpha_opt_state,
                 train_batch, val_batch):
    """Alg. 1's step: ``alpha`` on ``val_batch`` (:func:`arch_grad`, then ``cfg.arch_tx``), then
    ``w`` on ``train_batch`` with the new ``alpha`` (``tx``). Returns ``(params, alpha,
    opt_state, alpha_opt_state, (train_loss, train_aux, val_loss))``."""
    g_alpha, val_loss = arch_grad(loss_fn, params, alpha, train_batch, val_batch,
                                  order=cfg.order, xi=cfg.xi, fd_eps=cfg.fd_eps)
    updates, alpha_opt_state = cfg.arch_tx.update(g_alpha, alpha_opt_state, alpha)
    alpha = optax.apply_updates(alpha, updates)
    (loss, aux), g_w = jax.value_and_grad(loss_fn, has_aux=True)(params, alpha, train_batch)
    updates, opt_state = tx.update(g_w, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, alpha, opt_state, alpha_opt_state, (loss, aux, val_loss)


def supernet_loss(supernet, variables):
    """``loss_fn(params, alpha, (x, y)) -> (loss, (accuracy, batch_stats))`` of the relaxed
    supernet in train mode (BatchNorm statistics from ``variables`` where it keeps them)."""

    def loss_fn(params, alpha, batch):
        x, y = batch
        weights = mixed.arch_weights(supernet.space, alpha)
        logits, stats = mixed.mixed_apply(supernet, {**variables, "params": params}, weights,
                                          x, train=True)
        loss, acc = cross_entropy(logits, y)
        return loss, (acc, stats)

    return loss_fn


def train_step(supernet, cfg: DartsConfig, tx, state: ArchState, x_train, y_train, x_val,
               y_val) -> tuple[ArchState, dict]:
    """One compiled DARTS step on a training and a validation minibatch."""
    params, alpha, opt, alpha_opt, (loss, (acc, stats), val_loss) = bilevel_step(
        cfg, tx, supernet_loss(supernet, state.variables), state.variables["params"],
        state.alpha, state.opt_state, state.alpha_opt_state, (x_train, y_train),
        (x_val, y_val))
    variables = {**state.variables, "params": params}
    if stats is not None:
        variables["batch_stats"] = stats
    state = state.replace(variables=variables, opt_state=opt, alpha=alpha,
                          alpha_opt_state=alpha_opt, step=state.step + 1)
    return state, {"loss": loss, "accuracy": acc, "val_loss": val_loss}


def train_epoch(supernet, cfg: DartsConfig, tx, batch_size: int, state: ArchState, x_train,
                y_train, x_val, y_val, key: jax.Array) -> tuple[ArchState, dict]:
    """One epoch as one ``lax.scan`` (a fresh training permutation, the validation set cycled).
    Metrics, per step: ``loss`` / ``accuracy`` (the training minibatch, weight step) and
    ``val_loss`` (the architecture step's objective: at ``w'`` for the second order)."""
    train_idx, val_idx = epoch_batches(key, x_train.shape[0], x_val.shape[0], batch_size)

    def body(state, idx):
        t, v = idx
        return train_step(supernet, cfg, tx, state, x_train[t], y_train[t], x_val[v],
                          y_val[v])

    state, metrics = jax.lax.scan(body, state, (train_idx, val_idx))
    return state.replace(epoch=state.epoch + 1), metrics


def candidates(supernet, cfg: DartsConfig, state: ArchState, key: jax.Array,
               num: int) -> jax.Array:
    """``int32[num, L]`` tokens: the argmax derivation first, then the most probable others
    (:func:`lanas_jax.gradient.mixed.ranked`; ``key`` is unused: DARTS derives
    deterministically)."""
    del key
    return mixed.ranked(supernet.space, state.alpha, num, exclude_none=cfg.exclude_none)
