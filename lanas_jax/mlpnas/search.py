"""MLPNAS (seed 001 Sec. 4-5): an LSTM controller samples MLPs as token sequences, the children
of one controller epoch train together, and REINFORCE moves the controller towards higher
validation accuracy.

The space is :class:`~lanas_jax.spaces.mlp.MLPStack` with ``max_layers = 10`` (issue 16: "up to
10 hidden layers" of (width in 8..512, activation in sigmoid/tanh/relu/elu), a dropout token of
rate 0.2 and the end token; the output layer fixed by the task). Its ``vocab_sizes`` make the
first token a dense layer; :class:`~lanas_jax.controller.lstm.TokenController` with
``end_token = END`` samples only valid sequences (after ``END`` nothing more is drawn).

One controller epoch (Sec. 4):

1. sample ``archs_per_epoch`` sequences (plain softmax sampling: no tanh constant or
   temperature, as the seed's Keras controller);
2. train the ones never seen before together (:func:`~lanas_jax.mlpnas.children.train_children`,
   one vmapped program; a sequence already seen reuses its recorded validation accuracy, as
   Sec. 4's controller "avoid[s] wasting important computational resources" on it); with
   ``one_shot`` the children start from, and write back to, the bigram bank (Sec. 4.1);
3. REINFORCE (Appendix 7.1) on the sampled sequences' validation accuracies: a moving-average
   baseline (:func:`~lanas_jax.controller.lstm.moving_baseline`), ``controller_steps`` Adam
   steps at ``0.01 / (1 + 0.1 t)`` (Sec. 5.1's learning rate and Keras's ``decay=0.1``, ``t``
   the step count) with the reference code's ``clipnorm=1``.

Accuracy predictor (Sec. 4.2, ``predictor``): a dense sigmoid head on the controller's LSTM
output at the sequence's last position, trained jointly with the controller (the reference
code's hybrid model: REINFORCE loss plus ``predictor_weight`` times the predictor's squared
error, here over every architecture observed so far: "a new dataset that collects the
architectures sampled since the first epoch"). The adversarial part ("the controller ... will
try to navigate the search space in a way that also allows it to generate architectures not
easily predictable by the predictor") is our reading: a sample's reward is its validation
accuracy plus ``surprise_weight`` times the predictor's absolute error on it (predicted before
the update).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lanas_jax.controller.lstm import (
    ControllerConfig,
    TokenController,
    moving_baseline,
    reinforce_loss,
)
from lanas_jax.mlpnas import children as ch
from lanas_jax.spaces import mlp as mlp_space
from lanas_jax.spaces.base import stack, unstack
from lanas_jax.training.masked_mlp import MaskedMLP

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


@functools.partial(jax.jit, static_argnames=("cfg", "num"))
def sample(cfg: MLPNASConfig, params: dict, key: jax.Array, num: int):
    """``num`` sequences ``[num, L]`` and their predicted accuracies ``[num]``."""
    tokens, _, _ = cfg.controller.sample_batch(params["lstm"], key, num)
    return tokens, predict(cfg, params, tokens)


@functools.partial(jax.jit, static_argnames=("cfg",))
def update(cfg: MLPNASConfig, state: dict, tokens: jax.Array, rewards: jax.Array,
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


def flat_data(splits) -> tuple[jax.Array, ...]:
    """The six split arrays with flattened inputs, as the children take them."""
    out = []
    for i, a in enumerate(splits.arrays()):
        a = np.asarray(a)
        out.append(jnp.asarray(a.reshape(a.shape[0], -1), jnp.float32) if i % 2 == 0
                   else jnp.asarray(a, jnp.int32))
    return tuple(out)


@dataclasses.dataclass
class SearchResult:
    """A search's record: ``archive`` (one dict per distinct architecture trained: ``arch``
    text, ``val``, ``epochs``, ``acc_hist``, ``from_bank``, ``epoch`` found, ``pred``),
    ``history`` (one dict per controller epoch), ``top`` (archive sorted by ``val``), the best
    architecture's fine-tuned ``best`` (``arch``, ``val``, ``test``), and wall ``seconds``."""

    archive: list[dict]
    history: list[dict]
    top: list[dict]
    best: dict
    seconds: float
    child_epochs: int


def search(cfg: MLPNASConfig, splits, key: jax.Array, log=None) -> SearchResult:
    """Run MLPNAS on ``splits`` (train / val / test, ``num_classes``) from ``key``."""
    t0 = time.time()
    sp, data = cfg.space, flat_data(splits)
    in_dim, classes = int(data[0].shape[1]), int(splits.num_classes)
    out = ch.output_units(classes)
    state = init_controller(cfg, jax.random.fold_in(key, 0))
    bank = ch.empty_bank(in_dim, classes) if cfg.one_shot else None
    cap = cfg.controller_epochs * cfg.archs_per_epoch
    seen_tokens = np.zeros((cap, sp.max_layers), np.int32)
    seen_acc, seen_mask = np.zeros(cap, np.float32), np.zeros(cap, np.float32)
    archive: dict[tuple, dict] = {}
    history, best_params, child_epochs = [], None, 0
    from_tokens = jax.jit(jax.vmap(sp.from_tokens))
    for epoch in range(cfg.controller_epochs):
        k_epoch = jax.random.fold_in(key, epoch + 1)
        tokens, preds = sample(cfg, state["params"], jax.random.fold_in(k_epoch, 0),
                               cfg.archs_per_epoch)
        archs = unstack(from_tokens(tokens))
        names = [tuple(np.asarray(sp.key(a)).tolist()) for a in archs]
        new = [i for i, n in enumerate(names) if n not in archive and n not in names[:i]]
        if new:
            pad = new + new[-1:] * (cfg.archs_per_epoch - len(new))
            batch = stack([archs[i] for i in pad])
            mw = ch.batch_width(batch)
            mw = mw if cfg.pad_width is None else max(mw, cfg.pad_width)
            model = MaskedMLP(sp.max_layers, in_dim, out, max_width=mw)
            kk = [jax.random.fold_in(jax.random.fold_in(k_epoch, 1), j) for j in range(len(pad))]
            valid = jnp.arange(len(pad)) < len(new)
            res, flags, bank = ch.train_children(jnp.stack(kk), batch, valid, bank, data,
                                                 model=model, cfg=cfg.child, share=cfg.one_shot)
            res_h = jax.device_get(res.replace(params=None))
            flags = np.asarray(flags)
            for j, i in enumerate(new):
                val = float(res_h.val_acc[j]) if res_h.finite[j] else 0.0
                row = len(archive)
                archive[names[i]] = {
                    "arch": sp.describe(archs[i]), "val": val, "epochs": int(res_h.epochs[j]),
                    "acc_hist": [float(v) for v in res_h.acc_hist[j]], "epoch": epoch,
                    "from_bank": int(flags[j].sum()), "pred": float(preds[i]),
                    "_arch": archs[i], "_row": row}
                seen_tokens[row], seen_acc[row], seen_mask[row] = np.asarray(tokens[i]), val, 1.0
                child_epochs += int(res_h.epochs[j])
            j_best = int(np.argmax([archive[names[i]]["val"] for i in new]))
            cur_best = max(archive.values(), key=lambda r: r["val"])
            if cur_best is archive[names[new[j_best]]]:
                best_params = (mw, jax.tree.map(lambda a, j=j_best: a[j], res.params))
        scores = np.array([archive[n]["val"] for n in names], np.float32)
        rewards = scores
        if cfg.predictor:
            rewards = scores + cfg.surprise_weight * np.abs(np.asarray(preds) - scores)
        state, metrics = update(cfg, state, tokens, jnp.asarray(rewards), seen_tokens,
                                seen_acc, seen_mask)
        history.append({"epoch": epoch, "new": len(new), "mean_val": float(scores.mean()),
                        "best_val": max(r["val"] for r in archive.values()),
                        "baseline": float(metrics["baseline"]),
                        "pred_mae": float(np.abs(np.asarray(preds) - scores).mean()),
                        "seconds": time.time() - t0})
        if log:
            h = history[-1]
            log(f"controller epoch {epoch}: {h['new']} new, mean val {h['mean_val']:.3f}, best "
                f"{h['best_val']:.3f}, baseline {h['baseline']:.3f} ({h['seconds']:.0f}s)")
    top = sorted(archive.values(), key=lambda r: -r["val"])
    best = top[0]
    mw, params = best_params
    model = MaskedMLP(sp.max_layers, in_dim, out, max_width=mw)
    ft = ch.ChildConfig(cfg.finetune_epochs, cfg.child.batch_size, cfg.child.learning_rate,
                        patience=cfg.finetune_epochs)
    res = ch.finetune(jax.random.fold_in(key, 10**6), best["_arch"], params, data, model=model,
                      cfg=ft)
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in top]
    return SearchResult(clean, history, clean[:5],
                        {"arch": best["arch"], "val": best["val"], "test": float(res.test_acc),
                         "finetune_val": float(res.val_acc)},
                        time.time() - t0, child_epochs)
