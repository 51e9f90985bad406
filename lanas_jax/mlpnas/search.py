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
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.mlpnas import children as ch
from lanas_jax.mlpnas.controller import (  # noqa: F401 (re-exported: the search's public API)
    VARIANTS,
    MLPNASConfig,
    init_controller,
    predict,
    sample,
    sample_seeds,
    update,
    update_seeds,
)
from lanas_jax.spaces.base import stack, unstack
from lanas_jax.supernet.checkpoint import Checkpointer
from lanas_jax.training.masked_mlp import MaskedMLP


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


@dataclasses.dataclass
class _Seed:
    """One search's host-side record between controller epochs (JSON-able but ``best``)."""

    archive: dict  # sequence key (tuple) -> record; "_tokens" / "_row" are private
    history: list
    seen_tokens: np.ndarray
    seen_acc: np.ndarray
    seen_mask: np.ndarray
    best_mw: int | None = None
    best_params: Any = None
    child_epochs: int = 0

    def to_meta(self) -> dict:
        return {"archive": [[list(k), r] for k, r in self.archive.items()],
                "history": self.history, "seen_tokens": self.seen_tokens.tolist(),
                "seen_acc": self.seen_acc.tolist(), "seen_mask": self.seen_mask.tolist(),
                "best_mw": self.best_mw, "child_epochs": self.child_epochs}

    @classmethod
    def from_meta(cls, m: dict) -> _Seed:
        return cls({tuple(k): r for k, r in m["archive"]}, m["history"],
                   np.asarray(m["seen_tokens"], np.int32), np.asarray(m["seen_acc"], np.float32),
                   np.asarray(m["seen_mask"], np.float32), m["best_mw"], None, m["child_epochs"])


def _arch_of(sp, r: _Seed):
    """Any architecture of a search's archive (the shapes of a child's weights do not depend
    on it)."""
    return sp.from_tokens(jnp.asarray(next(iter(r.archive.values()))["_tokens"], jnp.int32))


def _model(cfg: MLPNASConfig, in_dim: int, out: int, mw: int) -> MaskedMLP:
    return MaskedMLP(cfg.space.max_layers, in_dim, out, max_width=mw)


def _checkpoint_config(cfg: MLPNASConfig, keys: jax.Array, splits) -> dict:
    """What a checkpoint must have been written under to be resumed."""
    return {"config": repr(cfg), "keys": np.asarray(jax.random.key_data(keys)
                                                    if jnp.issubdtype(keys.dtype,
                                                                      jax.dtypes.prng_key)
                                                    else keys).tolist(),
            "data": [list(np.shape(a)) for a in splits.arrays()],
            "dataset": getattr(splits, "name", "")}


def search_seeds(cfg: MLPNASConfig, splits, keys: jax.Array, log=None,
                 checkpoint_dir: str | None = None) -> list[SearchResult]:
    """Run ``S = len(keys)`` independent MLPNAS searches on ``splits`` together (issue 16 item
    6: "``--seeds=N`` runs N independent searches vmapped").

    Each controller epoch samples every search's sequences in one vmapped call, trains every
    search's new children in **one** program (:func:`~lanas_jax.mlpnas.children.
    train_children_seeds`: ``[S, archs_per_epoch]`` children, each search padded with copies of
    its own last new child, marked invalid, so every search keeps its never-retrain rule) and
    updates every controller in one vmapped call. The children's program is padded to the
    widest layer of the epoch over all searches (or ``cfg.pad_width``): with ``pad_width`` set,
    search ``s`` here equals :func:`search` from ``keys[s]`` (``tests/test_mlpnas.py``).

    ``checkpoint_dir``: after every controller epoch the controllers, banks, best children and
    records are written there (orbax, synchronous, atomic); called again with the same
    arguments, the search continues after the last saved epoch with the same result as an
    uninterrupted one (the keys of an epoch are ``fold_in(key, epoch + 1)``). A checkpoint of
    another configuration, data shape or key set is refused.
    """
    t0 = time.time()
    keys = jnp.asarray(keys)
    n = keys.shape[0]
    sp, data = cfg.space, flat_data(splits)
    in_dim, classes = int(data[0].shape[1]), int(splits.num_classes)
    out, a = ch.output_units(classes), cfg.archs_per_epoch
    state = jax.vmap(lambda k: init_controller(cfg, jax.random.fold_in(k, 0)))(keys)
    banks = None
    if cfg.one_shot:
        one = ch.empty_bank(in_dim, classes)
        banks = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), one)
    cap = cfg.controller_epochs * a
    seeds = [_Seed({}, [], np.zeros((cap, sp.max_layers), np.int32), np.zeros(cap, np.float32),
                   np.zeros(cap, np.float32)) for _ in range(n)]
    start, spent = 0, 0.0
    ckpt = None
    if checkpoint_dir is not None:
        ckpt = Checkpointer(checkpoint_dir, config=_checkpoint_config(cfg, keys, splits))
        last = ckpt.latest_step()
        if last is not None:
            meta = ckpt.meta(last)
            seeds = [_Seed.from_meta(m) for m in meta["seeds"]]
            like = {"state": state, "banks": banks,
                    "best": [None if r.best_mw is None else
                             _model(cfg, in_dim, out, r.best_mw).init(
                                 jax.random.PRNGKey(0), _arch_of(sp, r), data[0][:1])[0]
                             for r in seeds]}
            tree, meta = ckpt.restore(last, like)
            state, banks = tree["state"], tree["banks"]
            for r, p in zip(seeds, tree["best"], strict=True):
                r.best_params = p
            start, spent = last + 1, float(meta["seconds"])
            if log:
                log(f"resumed after controller epoch {last} from {checkpoint_dir}")
    from_tokens = jax.jit(jax.vmap(jax.vmap(sp.from_tokens)))
    for epoch in range(start, cfg.controller_epochs):
        k_epoch = jax.vmap(lambda k, e=epoch: jax.random.fold_in(k, e + 1))(keys)
        tokens, preds = sample_seeds(cfg, state["params"],
                                     jax.vmap(lambda k: jax.random.fold_in(k, 0))(k_epoch), a)
        archs_all = from_tokens(tokens)
        tokens_h, preds_h = np.asarray(tokens), np.asarray(preds)
        names, news, batches = [], [], []
        for s, r in enumerate(seeds):
            archs = unstack(jax.tree.map(lambda x, s=s: x[s], archs_all))
            nm = [tuple(tokens_h[s, i].tolist()) for i in range(a)]
            new = [i for i, q in enumerate(nm) if q not in r.archive and q not in nm[:i]]
            pad = new + new[-1:] * (a - len(new)) if new else [0] * a
            names.append(nm)
            news.append(new)
            batches.append(stack([archs[i] for i in pad]))
        if any(news):
            live = [b for b, new in zip(batches, news, strict=True) if new]
            mw = max(ch.batch_width(b) for b in live)
            mw = mw if cfg.pad_width is None else max(mw, cfg.pad_width)
            kk = jax.vmap(lambda k: jax.vmap(lambda c: jax.random.fold_in(
                jax.random.fold_in(k, 1), c))(jnp.arange(a)))(k_epoch)
            valid = jnp.asarray([[j < len(new) for j in range(a)] for new in news])
            res, flags, banks = ch.train_children_seeds(
                kk, stack(batches), valid, banks, data, model=_model(cfg, in_dim, out, mw),
                cfg=cfg.child, share=cfg.one_shot)
            res_h = jax.device_get(res.replace(params=None))
            flags = np.asarray(flags)
            for s, (r, new) in enumerate(zip(seeds, news, strict=True)):
                _record(r, s, new, names[s], tokens_h[s], preds_h[s], res_h, flags, res.params,
                        mw, epoch, sp, archs_all)
        for s, r in enumerate(seeds):
            scores = np.array([r.archive[q]["val"] for q in names[s]], np.float32)
            rewards = scores
            if cfg.predictor:
                rewards = scores + cfg.surprise_weight * np.abs(preds_h[s] - scores)
            r.history.append({"epoch": epoch, "new": len(news[s]),
                              "mean_val": float(scores.mean()),
                              "best_val": max(x["val"] for x in r.archive.values()),
                              "pred_mae": float(np.abs(preds_h[s] - scores).mean()),
                              "_rewards": rewards.tolist()})
        rewards = jnp.asarray([r.history[-1].pop("_rewards") for r in seeds], jnp.float32)
        state, metrics = update_seeds(cfg, state, tokens, rewards,
                                      jnp.asarray(np.stack([r.seen_tokens for r in seeds])),
                                      jnp.asarray(np.stack([r.seen_acc for r in seeds])),
                                      jnp.asarray(np.stack([r.seen_mask for r in seeds])))
        elapsed = spent + time.time() - t0
        for s, r in enumerate(seeds):
            r.history[-1].update(baseline=float(metrics["baseline"][s]), seconds=elapsed)
        if log:
            h = [r.history[-1] for r in seeds]
            log(f"controller epoch {epoch}: new {[x['new'] for x in h]}, mean val "
                f"{np.mean([x['mean_val'] for x in h]):.3f}, best "
                + ", ".join(f"{x['best_val']:.3f}" for x in h) + f" ({elapsed:.0f}s)")
        if ckpt is not None:
            ckpt.save(epoch, {"state": state, "banks": banks,
                              "best": [r.best_params for r in seeds]},
                      {"seeds": [r.to_meta() for r in seeds], "seconds": elapsed})
    if ckpt is not None:
        ckpt.close()
    return [_finish(cfg, r, jax.random.fold_in(keys[s], 10**6), data, in_dim, out,
                    spent + time.time() - t0) for s, r in enumerate(seeds)]


def _record(r: _Seed, s: int, new: list[int], names, tokens, preds, res_h, flags, params, mw,
            epoch, sp, archs_all) -> None:
    """Enter search ``s``'s new children into its archive (and its best child's weights)."""
    for j, i in enumerate(new):
        val = float(res_h.val_acc[s, j]) if res_h.finite[s, j] else 0.0
        row = len(r.archive)
        arch = jax.tree.map(lambda x, i=i: x[s, i], archs_all)
        r.archive[names[i]] = {
            "arch": sp.describe(arch), "val": val, "epochs": int(res_h.epochs[s, j]),
            "acc_hist": [float(v) for v in res_h.acc_hist[s, j]], "epoch": epoch,
            "from_bank": int(flags[s, j].sum()), "pred": float(preds[i]),
            "_tokens": tokens[i].tolist(), "_row": row}
        r.seen_tokens[row], r.seen_acc[row], r.seen_mask[row] = tokens[i], val, 1.0
        r.child_epochs += int(res_h.epochs[s, j])
    if not new:
        return
    j_best = int(np.argmax([r.archive[names[i]]["val"] for i in new]))
    if max(r.archive.values(), key=lambda x: x["val"]) is r.archive[names[new[j_best]]]:
        r.best_mw = mw
        r.best_params = jax.tree.map(lambda x: x[s, j_best], params)


def _finish(cfg: MLPNASConfig, r: _Seed, key: jax.Array, data, in_dim: int, out: int,
            seconds: float) -> SearchResult:
    """Fine-tune the search's best child (Sec. 5.2) and assemble its :class:`SearchResult`."""
    top = sorted(r.archive.values(), key=lambda x: -x["val"])
    best = top[0]
    arch = cfg.space.from_tokens(jnp.asarray(best["_tokens"], jnp.int32))
    ft = ch.ChildConfig(cfg.finetune_epochs, cfg.child.batch_size, cfg.child.learning_rate,
                        patience=cfg.finetune_epochs)
    res = ch.finetune(key, arch, r.best_params, data,
                      model=_model(cfg, in_dim, out, r.best_mw), cfg=ft)
    clean = [{k: v for k, v in x.items() if not k.startswith("_")} for x in top]
    return SearchResult(clean, r.history, clean[:5],
                        {"arch": best["arch"], "val": best["val"], "test": float(res.test_acc),
                         "finetune_val": float(res.val_acc)},
                        seconds, r.child_epochs)


def search(cfg: MLPNASConfig, splits, key: jax.Array, log=None,
           checkpoint_dir: str | None = None) -> SearchResult:
    """Run MLPNAS on ``splits`` (train / val / test, ``num_classes``) from ``key``: one search
    of :func:`search_seeds`."""
    return search_seeds(cfg, splits, jnp.asarray(key)[None], log, checkpoint_dir)[0]
