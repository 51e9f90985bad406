"""MLPNAS's controller (seed 001 Sec. 4, 4.2, 5.1): the search's settings, the LSTM that samples
MLPs as token sequences, its REINFORCE update and the accuracy predictor head.

See :mod:`lanas_jax.mlpnas.search` for the search loop that uses them.
"""


from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax

from lanas_jax.controller.lstm import (
    ControllerConfig,
    TokenController,
    moving_baseline,
    reinforce_loss,
)
from lanas_jax.mlpnas import children as ch
from lanas_jax.spaces import mlp as mlp_space

VARIANTS = {"plain": (False, False), "predictor": (False, True), "oneshot": (True, False),
            "oneshot_predictor": (True, True)}


@dataclasses.dataclass(frozen=True)
class MLPNASConfig:
    """A search's settings (defaults: seed 001 Sec. 5.1 and the reference code).

    Attributes:
      controller_epochs, archs_per_epoch: 10 and 10 (Sec. 5.1).
      max_layers: searched layers at most (issue 16: 10).
      hidden: the controller LSTM's units (128; 512 as Table 6).
      controller_lr, controller_lr_decay: Adam at ``lr / (1 + decay * step)`` (0.01, 0.1).
      controller_steps: Adam steps per controller epoch on its samples (the reference code
        fits its controller for 10 epochs on them).
      baseline_decay: the moving-average baseline's decay (0.9: a window of about one
        controller epoch's samples).
      clip_norm: global gradient-norm clip of the controller (the reference's ``clipnorm=1``).
      one_shot, predictor: bigram weight sharing (Sec. 4.1) and the accuracy predictor (4.2).
      predictor_weight, surprise_weight: the predictor's loss weight and the adversarial
        reward bonus (see the module doc).
      child: how each child trains; finetune_epochs: the best one's further training.
      pad_width: children are padded to their batch's widest layer (None) or to this width
        (512: one compiled program for the whole search, and a child's result independent of
        its batch-mates).
    """

    controller_epochs: int = 10
    archs_per_epoch: int = 10
    max_layers: int = 10
    hidden: int = 128
    controller_lr: float = 0.01
    controller_lr_decay: float = 0.1
    controller_steps: int = 10
    baseline_decay: float = 0.9
    clip_norm: float = 1.0
    one_shot: bool = False
    predictor: bool = False
    predictor_weight: float = 1.0
    surprise_weight: float = 0.1
    child: ch.ChildConfig = ch.ChildConfig()
    finetune_epochs: int = 50
    pad_width: int | None = None

    def __post_init__(self):
        if self.pad_width is not None and self.pad_width not in mlp_space.WIDTHS:
            raise ValueError(f"pad_width must be None or one of {mlp_space.WIDTHS}, got "
                             f"{self.pad_width}")
        if min(self.controller_epochs, self.archs_per_epoch, self.hidden,
               self.controller_steps, self.finetune_epochs) < 1:
            raise ValueError("controller_epochs, archs_per_epoch, hidden, controller_steps and "
                             "finetune_epochs must be >= 1")
        if not 0 <= self.baseline_decay < 1 or self.controller_lr <= 0:
            raise ValueError(f"need baseline_decay in [0, 1) and controller_lr > 0, got "
                             f"{self.baseline_decay}, {self.controller_lr}")

    @property
    def space(self) -> mlp_space.MLPStack:
        return mlp_space.MLPStack(max_layers=self.max_layers)

    @property
    def controller(self) -> TokenController:
        cfg = ControllerConfig(hidden=self.hidden, tanh_constant=None, temperature=None,
                               entropy_weight=0.0, baseline_decay=self.baseline_decay,
                               learning_rate=self.controller_lr, end_token=mlp_space.END)
        return TokenController(self.space.vocab_sizes, cfg)

    @property
    def tx(self) -> optax.GradientTransformation:
        lr, decay = self.controller_lr, self.controller_lr_decay
        return optax.chain(optax.clip_by_global_norm(self.clip_norm),
                           optax.adam(lambda t: lr / (1.0 + decay * t)))


def init_controller(cfg: MLPNASConfig, key: jax.Array) -> dict:
    """``{"params": {"lstm", "predictor"}, "opt", "baseline"}``: the controller, its sigmoid
    predictor head (``w [hidden], b``), Adam's state and the baseline (0, as ENAS)."""
    params = {"lstm": cfg.controller.init(key),
              "predictor": {"w": jnp.zeros((cfg.hidden,)), "b": jnp.zeros(())}}
    return {"params": params, "opt": cfg.tx.init(params), "baseline": jnp.zeros(())}


def predict(cfg: MLPNASConfig, params: dict, tokens: jax.Array) -> jax.Array:
    """The predictor's accuracies ``[M]`` of token sequences ``[M, L]`` (Sec. 4.2)."""
    ctrl = cfg.controller
    h = jax.vmap(lambda t: ctrl.encode(params["lstm"], t))(tokens)
    return jax.nn.sigmoid(h @ params["predictor"]["w"] + params["predictor"]["b"])


def _sample(cfg: MLPNASConfig, params: dict, key: jax.Array, num: int):
    tokens, _, _ = cfg.controller.sample_batch(params["lstm"], key, num)
    return tokens, predict(cfg, params, tokens)


@functools.partial(jax.jit, static_argnames=("cfg", "num"))
def sample(cfg: MLPNASConfig, params: dict, key: jax.Array, num: int):
    """``num`` sequences ``[num, L]`` and their predicted accuracies ``[num]``."""
    return _sample(cfg, params, key, num)


@functools.partial(jax.jit, static_argnames=("cfg", "num"))
def sample_seeds(cfg: MLPNASConfig, params: dict, keys: jax.Array, num: int):
    """:func:`sample` for ``S`` independent searches at once: ``params`` and ``keys`` carry a
    leading seed axis; returns ``[S, num, L]`` sequences and ``[S, num]`` predictions."""
    return jax.vmap(lambda p, k: _sample(cfg, p, k, num))(params, keys)


def _update(cfg: MLPNASConfig, state: dict, tokens: jax.Array, rewards: jax.Array,
           seen_tokens: jax.Array, seen_acc: jax.Array, seen_mask: jax.Array):
    """One controller epoch's REINFORCE (+ predictor) update: the baseline moves over
    ``rewards [M]`` once, then ``controller_steps`` Adam steps on ``-mean log pi * adv`` plus,
    with ``predictor``, ``predictor_weight`` times the mean squared error of the predictor on
    the observed ``seen_*`` (padded, ``seen_mask``). Returns ``(state, metrics)``."""
    ctrl = cfg.controller
    baseline, adv = moving_baseline(state["baseline"], rewards, cfg.baseline_decay)

    def loss_fn(params):
        lp = jax.vmap(lambda t: ctrl.log_prob(params["lstm"], t))(tokens)
        loss = reinforce_loss(lp, adv)
        if cfg.predictor:
            err = (predict(cfg, params, seen_tokens) - seen_acc) ** 2
            mse = jnp.sum(err * seen_mask) / jnp.maximum(seen_mask.sum(), 1)
            loss = loss + cfg.predictor_weight * mse
        return loss

    def step(carry, _):
        params, opt = carry
        loss, g = jax.value_and_grad(loss_fn)(params)
        upd, opt = cfg.tx.update(g, opt, params)
        return (optax.apply_updates(params, upd), opt), loss

    (params, opt), losses = jax.lax.scan(step, (state["params"], state["opt"]), None,
                                         length=cfg.controller_steps)
    return ({"params": params, "opt": opt, "baseline": baseline},
            {"loss": losses[0], "baseline": baseline, "advantage": adv})


update = jax.jit(_update, static_argnames=("cfg",))


@functools.partial(jax.jit, static_argnums=0)
def update_seeds(cfg: MLPNASConfig, *args):
    """:func:`update` for ``S`` searches at once (every argument but ``cfg`` carries a leading
    seed axis)."""
    return jax.vmap(functools.partial(_update, cfg))(*args)


