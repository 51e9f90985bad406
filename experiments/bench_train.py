r"""Speed of the TrainEvaluator: a batch of networks trained as one program vs one by one.

For each space, ``--networks`` architectures drawn with ``space.sample`` train on the digits
(8x8, ``--train_subset`` training images, ``--epochs`` epochs, one seed; ConvNets at
``--width``) three ways: one call with the batch ``lax.map``-ed, one call
with it ``vmap``-ed, and one call per network (``max_batch=1``). Reported per way: compile
seconds, run seconds and networks per second (warm: the programs compiled by a first call are
reused by a second, timed one), plus the largest difference of a network's validation accuracy
from the ``lax.map`` batch's (0 for one by one: the same loop body; float rounding for vmap).

  python -m experiments.bench_train
  python -m experiments.bench_train --spaces=mlp --networks=32 --epochs=2

Writes --output (JSON) and prints a table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.data import load_dataset
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.spaces.base import get_space, stack, unstack
from lanas_jax.training.recipe import Recipe

_SPACES = common_flags.DEFINE_list("spaces", ["mlp", "convnet"], "Spaces to benchmark.")
_NETWORKS = common_flags.DEFINE_integer("networks", 16, "Architectures per space.")
_EPOCHS = common_flags.DEFINE_integer("epochs", 1, "Training epochs.")
_WIDTH = common_flags.DEFINE_integer(
    "width", 16, "ConvNet wide channels (64 = the paper's; 16 keeps a CPU run to minutes).")
_TRAIN_SUBSET = common_flags.DEFINE_integer(
    "train_subset", 512, "Training images (of the digits' fixed split; 0 = all 1,097).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Seed of the architectures and training.")
_OUTPUT = common_flags.DEFINE_string("output", "results/bench_train.json", "JSON output path.")


def _timed_train(evaluator: TrainEvaluator, batches: list, key) -> tuple[float, float, list]:
    """Train each batch twice: compile seconds of the first pass, run seconds of the second."""
    first = [evaluator.train(b, key) for b in batches]
    compile_s = sum(r.compile_seconds for r in first)
    t0 = time.perf_counter()
    second = [evaluator.train(b, key) for b in batches]
    return compile_s, time.perf_counter() - t0, second


def bench_space(name: str, splits, recipe: Recipe, n: int, seed: int) -> list[dict]:
    space = get_space(name)
    archs = jax.vmap(space.sample)(jax.random.split(jax.random.PRNGKey(seed), n))
    key = jax.random.PRNGKey(seed)
    singles = [stack([a]) for a in unstack(archs)]
    ways = {"batch lax.map": (False, n, [archs]), "batch vmap": (True, n, [archs]),
            "one by one": (False, 1, singles)}
    rows, ref = [], None
    for way, (vectorize, max_batch, batches) in ways.items():
        ev = TrainEvaluator(space, splits, recipe, vectorize=vectorize, max_batch=max_batch)
        compile_s, run_s, results = _timed_train(ev, batches, key)
        val = np.concatenate([r.val for r in results])
        ref = val if ref is None else ref
        rows.append({"space": name, "way": way, "networks": n, "compile_s": round(compile_s, 2),
                     "run_s": round(run_s, 2), "nets_per_s": round(n / run_s, 2),
                     "max_val_diff": float(np.abs(val - ref).max()),
                     "mean_val": round(float(val.mean()), 4)})
    return rows


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if _NETWORKS.value < 1 or _EPOCHS.value < 1:
        raise app.UsageError("--networks and --epochs must be >= 1")
    splits = load_dataset("digits", n_val=350, n_test=350, seed=0)
    keep = slice(_TRAIN_SUBSET.value or None)
    splits = dataclasses.replace(splits, x_train=splits.x_train[keep],
                                 y_train=splits.y_train[keep])
    recipe = Recipe(epochs=_EPOCHS.value, batch_size=64, learning_rate=3e-3, width=_WIDTH.value)
    rows = []
    for name in _SPACES.value:
        rows.extend(bench_space(name, splits, recipe, _NETWORKS.value, _SEED.value))
        print(f"{name} done", flush=True)
    print(f"{'space':<8} {'way':<14} {'nets':>4} {'compile s':>9} {'run s':>7} {'nets/s':>7} "
          f"{'max |dval|':>10}")
    for r in rows:
        print(f"{r['space']:<8} {r['way']:<14} {r['networks']:>4} {r['compile_s']:>9.1f} "
              f"{r['run_s']:>7.2f} {r['nets_per_s']:>7.2f} {r['max_val_diff']:>10.2g}")
    meta = {"backend": jax.default_backend(), "cpus": os.cpu_count(), "jax": jax.__version__,
            "machine": platform.machine(), "recipe": recipe.to_dict(), "dataset": "digits"}
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
