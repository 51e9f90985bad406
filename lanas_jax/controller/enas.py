"""ENAS (Pham et al. 2018; seed 001 Sec. 3.2) on our supernets, in the issue-15 method interface.

An LSTM controller (:class:`~lanas_jax.controller.lstm.TokenController`) samples a cell token by
token; each epoch alternates (Sec. 2.2, "Training ENAS"):

(a) one pass of shared-weight training over the training split, one controller sample per
    minibatch, the optimiser ``tx`` given by the caller (ENAS: Nesterov SGD, cosine schedule);
    every shared weight updated by default (``update="all"``, as ENAS's code; see
    :mod:`lanas_jax.controller.shared`), or SPOS's masked step (``"masked"``);
(b) ``controller_steps`` REINFORCE steps with the weights fixed, each on ``num_samples``
    samples whose reward is their accuracy on one validation minibatch of ``val_batch``
    images (ENAS code, micro search: ``controller_train_steps=30``,
    ``controller_num_aggregate=10``, the child's batch of 128 as validation batch).

Each phase is one ``lax.scan``; :func:`train_epoch` is one jittable function. The architecture
ENAS reports is the best-scoring of the controller's samples (Sec. 3.1): :func:`candidates`
gives the controller's greedy (most likely) sequence first, then samples, for the caller to
score.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.controller import shared
from lanas_jax.controller.lstm import ControllerConfig, ControllerState, TokenController


@dataclasses.dataclass(frozen=True)
class EnasConfig:
    """ENAS's settings (static under ``jit``).

    Attributes:
      controller: the LSTM and REINFORCE settings (ENAS Sec. 3.1 defaults).
      controller_steps: REINFORCE steps per epoch (ENAS micro script: 30).
      num_samples: architectures per REINFORCE step (ENAS micro script's aggregate: 10).
      val_batch: validation images per reward (ENAS: the batch size, 128).
      update: ``"all"`` (ENAS) or ``"masked"`` (SPOS), see :mod:`lanas_jax.controller.shared`.
    """

    controller: ControllerConfig = ControllerConfig()
    controller_steps: int = 30
    num_samples: int = 10
    val_batch: int = 128
    update: str = "all"

    def __post_init__(self):
        if self.controller_steps < 1 or self.num_samples < 1 or self.val_batch < 1:
            raise ValueError(f"controller_steps, num_samples and val_batch must be >= 1, got "
                             f"{self.controller_steps}, {self.num_samples}, {self.val_batch}")
        shared.check_update(self.update)


class EnasState(struct.PyTreeNode):
    """The supernet's variables (``supernet.init``'s tree), the weights' optimiser state, the
    controller (parameters, Adam state, baseline) and the number of weight steps taken."""

    variables: Any
    opt_state: Any
    controller: ControllerState
    step: jax.Array


def controller(supernet, cfg: EnasConfig) -> TokenController:
    """The token controller of ``supernet.space``."""
    return TokenController(tuple(int(v) for v in supernet.space.vocab_sizes), cfg.controller)


def init_state(supernet, cfg: EnasConfig, tx, key: jax.Array, x_example) -> EnasState:
    """Fresh supernet variables, ``tx``'s state and a fresh controller."""
    k_net, k_ctrl = jax.random.split(key)
    variables = dict(supernet.init(k_net, x_example))
    return EnasState(variables, tx.init(variables["params"]),
                     controller(supernet, cfg).init_state(k_ctrl), jnp.zeros((), jnp.int32))


def controller_phase(supernet, cfg: EnasConfig, ctrl_state: ControllerState, variables,
                     x_train, x_val, y_val, key: jax.Array):
    """(b): ``controller_steps`` REINFORCE steps as one ``lax.scan``. Returns ``(controller
    state, per-step metrics)``: ``reward`` (mean validation accuracy of the samples),
    ``entropy``, ``baseline``, ``controller_loss``."""
    ctrl = controller(supernet, cfg)
    calib_size = min(cfg.val_batch, x_train.shape[0])

    def body(state, k):
        k_s, k_v, k_c = jax.random.split(k, 3)
        tokens, _, ent = ctrl.sample_batch(state.params, k_s, cfg.num_samples)
        x_calib = x_train[jax.random.permutation(k_c, x_train.shape[0])[:calib_size]]
        acc = shared.rewards(supernet, variables, tokens, x_val, y_val, x_calib, k_v,
                             cfg.val_batch)
        state, m = ctrl.update(state, tokens, acc, ent)
        return state, {"reward": acc.mean(), "entropy": ent.mean(), "baseline": m["baseline"],
                       "controller_loss": m["loss"]}

    return jax.lax.scan(body, ctrl_state, jax.random.split(key, cfg.controller_steps))


def train_epoch(supernet, cfg: EnasConfig, tx, batch_size: int, state: EnasState, x_train,
                y_train, x_val, y_val, key: jax.Array):
    """One ENAS epoch: (a) shared-weight training on controller samples, then (b) controller
    training (see the module doc). Jittable with ``(supernet, cfg, tx, batch_size)`` static.

    Returns ``(state, metrics)``: ``loss`` and ``accuracy`` per weight step (training
    minibatch), ``reward``, ``entropy``, ``baseline`` and ``controller_loss`` per controller
    step.
    """
    steps = shared.check_data(batch_size, x_train, x_val)
    ctrl = controller(supernet, cfg)
    k_w, k_c = jax.random.split(key)
    params = state.controller.params

    def draw(k):
        return supernet.space.from_tokens(ctrl.sample(params, k)[0])

    variables, opt_state, wm = shared.weight_phase(
        supernet, tx, cfg.update, batch_size, state.variables, state.opt_state, x_train,
        y_train, k_w, draw)
    ctrl_state, cm = controller_phase(supernet, cfg, state.controller, variables, x_train,
                                      x_val, y_val, k_c)
    state = EnasState(variables, opt_state, ctrl_state, state.step + steps)
    return state, {**wm, **cm}


def candidates(supernet, cfg: EnasConfig, state: EnasState, key: jax.Array,
               num: int) -> jax.Array:
    """``int32 [num, L]``: the controller's greedy sequence, then ``num - 1`` samples."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    ctrl = controller(supernet, cfg)
    params = state.controller.params
    first = ctrl.greedy(params)[None]
    if num == 1:
        return first
    tokens, _, _ = ctrl.sample_batch(params, key, num - 1)
    return jnp.concatenate([first, tokens]).astype(jnp.int32)
