"""GDAS (Dong & Yang 2019, "Searching for a Robust Neural Architecture in Four GPU Hours").

Per token position (NB201 edge; ConvNet depth and layer) one op is sampled by the Gumbel-max
trick from ``softmax(alpha)`` and weighted by the straight-through Gumbel-softmax (Sec. 3.2,
Eq. 3-5): ``h = onehot(argmax(alpha + g)) * (1 + (p - stop_gradient(p)))`` with
``p = softmax((alpha + g) / tau)``, so the forward pass sees exactly the one-hot sample and the
backward pass ``dh_c / dalpha = dp_c / dalpha`` for the chosen op ``c``. Only the sampled op
takes part: ``h`` is 0 with zero gradient elsewhere, so the network is the sampled architecture's
single path with each chosen op's output multiplied by its ``h_c`` (GDAS's hard forward; its
reference code adds the unchosen ``h_k`` as constants, which carry value 0 and a spurious
gradient we drop). It is evaluated by :func:`lanas_jax.gradient.mixed.mixed_apply` with ``h`` as
the mixing weights; on the masked NB201 supernet every edge still evaluates its 5 ops and
multiplies 4 by 0 (the cost of SPOS's step on it, as the op choice is traced), on the ConvNet
chain each layer is one convolution.

Each step (the reference ``search_func``): the weights on a training minibatch with one sample
(``tx``; only the sampled path's entries and optimiser state change, as SPOS's
:func:`~lanas_jax.supernet.train.masked_update`), then ``alpha`` on a validation minibatch with a
fresh sample (Adam 3e-4, betas (0.5, 0.999), weight decay 1e-3). The temperature falls linearly
from ``tau_max = 10`` to ``tau_min = 0.1`` over ``cfg.epochs`` epochs (Sec. 4; constant within an
epoch, read from ``state.epoch``). The reference clips the weights' gradient norm at 5: put
``optax.clip_by_global_norm(5.0)`` in ``tx`` for that.
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
from lanas_jax.supernet.train import masked_update

GdasState = ArchState


@dataclasses.dataclass(frozen=True)
class GdasConfig:
    """GDAS's settings (static under ``jit``).

    Attributes:
      epochs: the search's length, the temperature schedule's horizon (NAS-Bench-201 runs 250).
      tau_max, tau_min: the Gumbel-softmax temperature's start and end (Sec. 4: 10 and 0.1).
      arch_lr, arch_betas, arch_weight_decay: Adam on ``alpha`` (3e-4, (0.5, 0.999), 1e-3).
      init_scale: ``alpha``'s initial ``scale * N(0, 1)``.
      exclude_none: derive NB201 cells without the zero op.
    """

    epochs: int = 250
    tau_max: float = 10.0
    tau_min: float = 0.1
    arch_lr: float = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = 1e-3
    init_scale: float = 1e-3
    exclude_none: bool = True

    def __post_init__(self):
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0 < self.tau_min <= self.tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {self.tau_min}, {self.tau_max}")
        if self.init_scale < 0:
            raise ValueError(f"init_scale must be >= 0, got {self.init_scale}")
        check_arch_opt(self.arch_lr, self.arch_betas, self.arch_weight_decay)

    @property
    def arch_tx(self) -> optax.GradientTransformation:
        return arch_optimizer(self.arch_lr, *self.arch_betas, self.arch_weight_decay)


def temperature(cfg: GdasConfig, epoch: jax.Array) -> jax.Array:
    """``tau_max - (tau_max - tau_min) * epoch / (epochs - 1)``, held at ``tau_min`` after."""
    frac = jnp.minimum(jnp.asarray(epoch, jnp.float32) / max(cfg.epochs - 1, 1), 1.0)
    return cfg.tau_max - (cfg.tau_max - cfg.tau_min) * frac


def init_state(supernet, cfg: GdasConfig, tx, key: jax.Array, x_example) -> ArchState:
    """Fresh supernet variables (``supernet.init``), small random ``alpha``, fresh optimisers."""
    k_net, k_alpha = jax.random.split(key)
    variables = supernet.init(k_net, x_example)
    alpha = mixed.init_alpha(supernet.space, k_alpha, cfg.init_scale)
    zero = jnp.zeros((), jnp.int32)
    return ArchState(variables, tx.init(variables["params"]), alpha, cfg.arch_tx.init(alpha),
                     zero, zero)


def gumbel_hard(space, alpha: jax.Array, key: jax.Array, tau) -> tuple[jax.Array, jax.Array]:
    """``(h [L, V], tokens int32[L])``: one Gumbel-max sample per position and its
    straight-through weights (module doc): exactly one-hot forward, ``dp_c/dalpha`` backward."""
    logits = mixed.masked_logits(space, alpha)
    perturbed = logits + jax.random.gumbel(key, logits.shape, logits.dtype)
    tokens = jnp.argmax(perturbed, axis=-1).astype(jnp.int32)
    p = jax.nn.softmax(perturbed / tau, axis=-1)
    hard = jax.nn.one_hot(tokens, logits.shape[-1], dtype=logits.dtype)
    return hard * (1.0 + (p - jax.lax.stop_gradient(p))), tokens


def train_step(supernet, cfg: GdasConfig, tx, state: ArchState, x_train, y_train, x_val,
               y_val, key: jax.Array, tau) -> tuple[ArchState, dict]:
    """One compiled GDAS step: the sampled path's weights on the training minibatch, then
    ``alpha`` on the validation minibatch through a fresh straight-through sample."""
    space = supernet.space
    k_w, k_a = jax.random.split(key)
    params = state.variables["params"]
    h, tokens = gumbel_hard(space, state.alpha, k_w, tau)

    def weight_loss(params):
        logits, stats = mixed.mixed_apply(supernet, {**state.variables, "params": params},
                                          jax.lax.stop_gradient(h), x_train, train=True)
        loss, acc = cross_entropy(logits, y_train)
        return loss, (acc, stats)

    (loss, (acc, stats)), grads = jax.value_and_grad(weight_loss, has_aux=True)(params)
    updates, opt_state = tx.update(grads, state.opt_state, params)
    new_params, opt_state = masked_update(supernet.path_mask(space.from_tokens(tokens)), params,
                                          optax.apply_updates(params, updates),
                                          state.opt_state, opt_state)
    variables = {**state.variables, "params": new_params}
    if stats is not None:
        variables["batch_stats"] = stats

    def arch_loss(alpha):
        h, _ = gumbel_hard(space, alpha, k_a, tau)
        logits, _ = mixed.mixed_apply(supernet, variables, h, x_val, train=True)
        return cross_entropy(logits, y_val)

    (val_loss, val_acc), g_alpha = jax.value_and_grad(arch_loss, has_aux=True)(state.alpha)
    updates, alpha_opt = cfg.arch_tx.update(g_alpha, state.alpha_opt_state, state.alpha)
    state = state.replace(variables=variables, opt_state=opt_state,
                          alpha=optax.apply_updates(state.alpha, updates),
                          alpha_opt_state=alpha_opt, step=state.step + 1)
    return state, {"loss": loss, "accuracy": acc, "val_loss": val_loss,
                   "val_accuracy": val_acc, "temperature": jnp.asarray(tau, jnp.float32)}


def train_epoch(supernet, cfg: GdasConfig, tx, batch_size: int, state: ArchState, x_train,
                y_train, x_val, y_val, key: jax.Array) -> tuple[ArchState, dict]:
    """One epoch as one ``lax.scan`` at the temperature of epoch ``state.epoch``. Metrics, per
    step: ``loss`` / ``accuracy`` (training minibatch), ``val_loss`` / ``val_accuracy`` (the
    architecture step's sample), ``temperature``."""
    k_batches, k_steps = jax.random.split(key)
    train_idx, val_idx = epoch_batches(k_batches, x_train.shape[0], x_val.shape[0], batch_size)
    tau = temperature(cfg, state.epoch)
    keys = jax.random.split(k_steps, train_idx.shape[0])

    def body(state, inp):
        t, v, k = inp
        return train_step(supernet, cfg, tx, state, x_train[t], y_train[t], x_val[v],
                          y_val[v], k, tau)

    state, metrics = jax.lax.scan(body, state, (train_idx, val_idx, keys))
    return state.replace(epoch=state.epoch + 1), metrics


def candidates(supernet, cfg: GdasConfig, state: ArchState, key: jax.Array,
               num: int) -> jax.Array:
    """``int32[num, L]`` tokens: the argmax of ``alpha`` first (GDAS's derived genotype), then
    the most probable others (:func:`lanas_jax.gradient.mixed.ranked`; ``key`` unused)."""
    del key
    return mixed.ranked(supernet.space, state.alpha, num, exclude_none=cfg.exclude_none)
