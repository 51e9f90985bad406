r"""Open-domain search by training (seed 000 Sec. 3.2 step 2, Sec. 4.3): each round asks a
strategy for --batch architectures of --space, trains them on --dataset with --recipe as one
batch, and tells the validation accuracies back; at the end each search's best architecture is
trained again for --final_epochs (the paper's final training) and its test accuracy reported.

  python -m experiments.open_search --space=convnet --dataset=digits \
      --algo=lanas,evolution,random --budget=100 --batch=10 --seeds=3
  python -m experiments.open_search --space=nasnet --dataset=digits --recipe=tiny \
      --algo=lanas --budget=20 --batch=5

Strategies whose proposals come from the space work on every space (random: ``sample``;
evolution: ``mutate``; LaNAS: polytope samples in the selected leaf, discretised through the
space (``--leaf_sampler`` defaults to hit_and_run on an open domain); the others where they
fit, refused with the reason where they do not). ``--seeds=M`` runs M independent searches
whose batches train together. Every finished round is journaled to
``--output_dir/journal_ALGO.jsonl``: run the same command again to resume after a crash.

Writes --output_dir/results.json (one entry per algo), --output_dir/curves.png and prints a
table.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, logging

from experiments import algos, common_flags, train_flags
from lanas_jax import host_loop
from lanas_jax.config import config_dict
from lanas_jax.evaluators.train import TrainEvaluator, TrainingDiverged
from lanas_jax.open_search import (
    best_archs,
    final_training,
    plot_curves,
    result_entry,
    run_algo,
    with_batch,
)
from lanas_jax.progress import ProgressReporter
from lanas_jax.runner import seed_keys

_ALGO = common_flags.DEFINE_string("algo", "lanas,evolution,random", "Comma-separated strategies.")
_BUDGET = common_flags.DEFINE_integer("budget", 100, "Architectures trained per search.")
_BATCH = common_flags.DEFINE_integer("batch", 10, "Architectures asked and trained per round.")
_SEEDS = common_flags.DEFINE_integer("seeds", 1, "Independent searches per strategy.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed of the searches and the training.")
_FINAL = common_flags.DEFINE_integer(
    "final_epochs", 20, "Epochs of the final training of each search's best architecture.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/open_search", "Where outputs go.")


def _strategies(names: list[str], batch: int, open_domain: bool) -> dict:
    out = {}
    for name in names:
        if name not in algos.names():
            raise app.UsageError(f"--algo: unknown strategy {name!r}; known: "
                                 f"{', '.join(algos.names())}")
        defaults = {"leaf_sampler": "hit_and_run"} if name == "lanas" and open_domain else {}
        try:
            strategy, params = algos.build(name, defaults)
            flat, _ = algos.build(name, defaults, flat=True)  # the flags' config, as recorded
            out[name] = (with_batch(strategy, batch), params, flat)
        except ValueError as e:
            raise app.UsageError(f"--algo={name}: {e}") from None
    return out


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    names = [a.strip() for a in _ALGO.value.split(",") if a.strip()]
    if not names:
        raise app.UsageError("--algo is empty")
    for flag in (_BUDGET, _BATCH, _SEEDS, _FINAL):
        if flag.value < 1:
            raise app.UsageError(f"--{flag.name} must be >= 1, got {flag.value}")
    if _BUDGET.value % _BATCH.value:
        raise app.UsageError(f"--budget={_BUDGET.value} is not a multiple of "
                             f"--batch={_BATCH.value}")
    space, recipe = train_flags.space(), train_flags.recipe()
    splits = train_flags.splits()
    try:
        evaluator = TrainEvaluator(space, splits, recipe, seed=_SEED.value, log=logging.info)
    except ValueError as e:
        raise app.UsageError(f"cannot train {space.name} networks on {splits.name}: {e}") from None
    open_domain = not evaluator.domain.is_pool
    strategies = _strategies(names, _BATCH.value, open_domain)
    recipe_record = {"name": train_flags.RECIPE.value, **recipe.to_dict()}
    dataset = splits.to_dict()
    keys = seed_keys(_SEED.value, _SEEDS.value)
    eval_key = jax.random.key(_SEED.value)  # experiments.evaluate --seed reproduces values
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    entries = []
    for name, (strategy, params, flat) in strategies.items():
        identity = {"config": config_dict(flat), "params": config_dict(params),
                    "space": space.name, "dataset": dataset, "recipe": recipe_record,
                    "budget": _BUDGET.value, "batch": _BATCH.value, "seeds": _SEEDS.value,
                    "seed": _SEED.value}
        progress = ProgressReporter(_BUDGET.value, _SEEDS.value, log=logging.info)
        logging.info("%s: %d searches of %d %s networks, %d per round, on %s", name,
                     _SEEDS.value, _BUDGET.value, space.name, _BATCH.value, splits.name)
        try:
            journal = host_loop.Journal(
                os.path.join(_OUTPUT_DIR.value, f"journal_{name}.jsonl"),
                {"algo": name, **identity})
            run = run_algo(name, strategy, evaluator, keys, _BUDGET.value, params,
                           eval_key=eval_key, journal=journal, progress=progress)
            final = final_training(space, splits, recipe, _FINAL.value, best_archs(run.history),
                                   jax.random.fold_in(eval_key, 2), journal)
        except host_loop.JournalMismatch as e:
            raise app.UsageError(str(e)) from None
        except TrainingDiverged as e:
            raise app.UsageError(f"{name}: training diverged ({e}); try another --recipe") from None
        except ValueError as e:  # a strategy that cannot search this domain, a NaN value
            raise app.UsageError(f"--algo={name} on the {space.name} space: {e}") from None
        entries.append(result_entry(run, space=space.name, dataset=dataset, recipe=recipe_record,
                                    budget=_BUDGET.value, batch=_BATCH.value, final=final))
    path = os.path.join(_OUTPUT_DIR.value, "results.json")
    with open(path, "w") as f:
        json.dump(entries, f, indent=1)
    plot_curves(os.path.join(_OUTPUT_DIR.value, "curves.png"), entries,
                f"{space.name} on {splits.name}, recipe {train_flags.RECIPE.value}")
    _print_table(entries)
    print(f"wrote {path} and curves.png")


def _print_table(entries: list[dict]) -> None:
    print(f"{'algo':<12} {'best val % (median)':>20} {'its test %':>11} "
          f"{'final test %':>13} {'replayed':>9} {'wall s':>8}")
    for e in entries:
        best_val = np.median([b["val"] for b in e["best"]])
        best_test = np.median([b["test"] for b in e["best"]])
        final = np.median([f["test"] for f in e["final"]])
        print(f"{e['algo']:<12} {100 * best_val:>20.2f} {100 * best_test:>11.2f} "
              f"{100 * final:>13.2f} {e['replayed_evaluations']:>9} {e['wall_seconds']:>8.1f}")
    for e in entries:
        for s, b in enumerate(e["best"]):
            print(f"{e['algo']} seed {s}: best {b['arch']}")


if __name__ == "__main__":
    app.run(main)
