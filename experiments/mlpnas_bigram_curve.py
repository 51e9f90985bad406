r"""Does bigram weight sharing (seed 001 Sec. 4.1) reach a validation accuracy in fewer child
epochs than training from scratch? Issue 16's target, measured.

  python -m experiments.mlpnas_bigram_curve --dataset=digits --archs=10 --epochs=10 \
      --repeats=3 --output_dir=results/mlpnas_bigram

Per repeat (all repeats vmapped as independent searches): ``--archs`` architectures drawn
uniformly from the ``mlp`` space train ``--epochs`` epochs from scratch and write the bigram
bank; then ``--archs`` further architectures train twice from the same initial draws: from
scratch, and with every layer whose (width_in, width_out) pair the bank holds started from the
bank (:func:`lanas_jax.mlpnas.children.train_children` with ``share``). Early stopping is off
so every curve has ``--epochs`` points. Prints, per epoch, the mean validation accuracy of both
arms, and per threshold the mean child epochs to reach it (children that never reach it count
as ``--epochs + 1``); writes ``results.json`` and ``curve.png``.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.data import DatasetError, load_dataset
from lanas_jax.data.sources import default_sizes
from lanas_jax.mlpnas import children as ch
from lanas_jax.mlpnas import search as mlpnas
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.spaces.mlp import MLPStack
from lanas_jax.training.masked_mlp import MaskedMLP

_DATASET = common_flags.DEFINE_string("dataset", "digits", "A bundled dataset (see mlpnas).")
_ARCHS = common_flags.DEFINE_integer("archs", 10, "Architectures per arm (and in the warm-up).")
_EPOCHS = common_flags.DEFINE_integer("epochs", 10, "Epochs each child trains.")
_REPEATS = common_flags.DEFINE_integer("repeats", 3, "Independent repeats (vmapped).")
_MAX_LAYERS = common_flags.DEFINE_integer("max_layers", 10, "Hidden layers at most.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_THRESHOLDS = common_flags.DEFINE_list("thresholds", ["0.8", "0.9"],
                                       "Validation accuracies to time.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/mlpnas_bigram",
                                         "Where outputs go.")


def epochs_to_reach(acc_hist: np.ndarray, threshold: float) -> np.ndarray:
    """Per child (rows of ``acc_hist [..., E]``), the first epoch (1-based) whose validation
    accuracy is >= ``threshold``; ``E + 1`` when it never is."""
    hit = np.nan_to_num(acc_hist, nan=-1.0) >= threshold
    e = acc_hist.shape[-1]
    return np.where(hit.any(-1), hit.argmax(-1) + 1, e + 1)


def run(splits, *, archs: int, epochs: int, repeats: int, max_layers: int, key: jax.Array
        ) -> dict:
    """The two arms' validation curves ``[repeats, archs, epochs]`` (see the module doc)."""
    data = mlpnas.flat_data(splits)
    sp = MLPStack(max_layers=max_layers)
    in_dim, classes = int(data[0].shape[1]), int(splits.num_classes)
    cfg = ch.ChildConfig(epochs=epochs, patience=epochs)
    k_arch, k_warm, k_test = jax.random.split(key, 3)
    drawn = jax.vmap(jax.vmap(sp.sample))(
        jax.random.split(k_arch, repeats * 2 * archs).reshape(repeats, 2 * archs, -1))
    warm = jax.tree.map(lambda x: x[:, :archs], drawn)
    test = jax.tree.map(lambda x: x[:, archs:], drawn)
    mw = max(ch.batch_width(jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), drawn)), 8)
    model = MaskedMLP(max_layers, in_dim, ch.output_units(classes), max_width=mw)
    one = ch.empty_bank(in_dim, classes)
    banks = jax.tree.map(lambda x: jnp.broadcast_to(x, (repeats,) + x.shape), one)
    valid = jnp.ones((repeats, archs), bool)

    def keys(k):
        return jax.random.split(k, repeats * archs).reshape(repeats, archs, -1)

    _, _, banks = ch.train_children_seeds(keys(k_warm), warm, valid, banks, data, model=model,
                                          cfg=cfg, share=True)
    scratch, _, _ = ch.train_children_seeds(keys(k_test), test, valid, banks, data, model=model,
                                            cfg=cfg, share=False)
    shared, flags, _ = ch.train_children_seeds(keys(k_test), test, valid, banks, data,
                                               model=model, cfg=cfg, share=True)
    return {"scratch": np.asarray(scratch.acc_hist), "shared": np.asarray(shared.acc_hist),
            "layers_from_bank": np.asarray(flags).sum(-1),
            "archs": [[sp.describe(jax.tree.map(lambda x, r=r, i=i: x[r, i], test))
                       for i in range(archs)] for r in range(repeats)]}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if min(_ARCHS.value, _EPOCHS.value, _REPEATS.value, _MAX_LAYERS.value) < 1:
        raise app.UsageError("--archs, --epochs, --repeats and --max_layers must be >= 1")
    try:
        thresholds = [float(t) for t in _THRESHOLDS.value]
        n_val, n_test = default_sizes(_DATASET.value)
        splits = load_dataset(_DATASET.value, n_val=n_val, n_test=n_test, seed=0)
    except (DatasetError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    t0 = time.time()
    out = run(splits, archs=_ARCHS.value, epochs=_EPOCHS.value, repeats=_REPEATS.value,
              max_layers=_MAX_LAYERS.value, key=jax.random.PRNGKey(_SEED.value))
    seconds = time.time() - t0
    curves = {arm: np.nanmean(out[arm], axis=(0, 1)).tolist() for arm in ("scratch", "shared")}
    reach = {arm: {str(t): float(epochs_to_reach(out[arm], t).mean()) for t in thresholds}
             for arm in ("scratch", "shared")}
    hits = {arm: {str(t): int((epochs_to_reach(out[arm], t) <= _EPOCHS.value).sum())
                  for t in thresholds} for arm in ("scratch", "shared")}
    lines = [f"bigram sharing on {_DATASET.value}: {_REPEATS.value} repeats x {_ARCHS.value} "
             f"children, {_EPOCHS.value} epochs, mean layers from the bank "
             f"{out['layers_from_bank'].mean():.2f}", "",
             "| epoch | scratch val | shared val |", "|---|---|---|"]
    lines += [f"| {e + 1} | {a:.3f} | {b:.3f} |"
              for e, (a, b) in enumerate(zip(curves["scratch"], curves["shared"], strict=True))]
    lines += ["", "| threshold | scratch: mean epochs (reached) | shared: mean epochs (reached) |",
              "|---|---|---|"]
    lines += [f"| {t} | {reach['scratch'][str(t)]:.2f} ({hits['scratch'][str(t)]}) | "
              f"{reach['shared'][str(t)]:.2f} ({hits['shared'][str(t)]}) |" for t in thresholds]
    lines.append(f"\n{seconds:.0f} s")
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "results.json"), "w") as f:
        json.dump({"dataset": _DATASET.value, "archs": _ARCHS.value, "epochs": _EPOCHS.value,
                   "repeats": _REPEATS.value, "curves": curves, "epochs_to_reach": reach,
                   "reached": hits, "seconds": seconds, "test_archs": out["archs"],
                   "acc_hist": {arm: out[arm].tolist() for arm in ("scratch", "shared")}},
                  f, indent=1)
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5, 3.5))
    x = np.arange(1, _EPOCHS.value + 1)
    for arm in ("scratch", "shared"):
        ax.plot(x, curves[arm], marker="o", label=arm)
    ax.set(xlabel="child epoch", ylabel="mean validation accuracy",
           title=f"bigram weight sharing, {_DATASET.value}")
    ax.legend()
    save_figure(fig, os.path.join(_OUTPUT_DIR.value, "curve.png"))
    print("\n".join(lines))
    print(f"wrote {_OUTPUT_DIR.value}/results.json and curve.png")


if __name__ == "__main__":
    app.run(main)
