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

``--executor=ray`` evaluates on a Ray farm instead (issue 17; :mod:`lanas_jax.farm`): each
architecture is one Ray task on one of ``--workers`` workers (a local Ray of that many CPUs is
started when no ``--ray_address`` is given); the search is asynchronous (a free worker gets the
strategy's next architecture at once, results are told as they arrive; ``--batch`` does not
apply), one seed after another. A worker that dies has its architecture retried
(``--max_retries``), then recorded as failed; an evaluation that raises (a diverged training) is
recorded as failed; failed evaluations are listed under ``failed`` in results.json and the search
goes on to --budget completed ones. ``--checkpoint_dir`` keeps each seed's state after every
result; ``--resume`` continues it after a crash or a kill.

  python -m experiments.open_search --executor=ray --workers=2 --algo=lanas --budget=20 \
      --checkpoint_dir=/tmp/ckpt   # killed? the same command with --resume continues

Writes --output_dir/results.json (one entry per algo), --output_dir/curves.png and prints a
table.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, logging

from experiments import algos, common_flags, farm_flags, train_flags
from lanas_jax import host_loop
from lanas_jax.config import config_dict
from lanas_jax.evaluators.train import TrainEvaluator, TrainingDiverged
from lanas_jax.farm.tasks import TrainSpec
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
_EXECUTOR = common_flags.DEFINE_enum(
    "executor", "local", ["local", "ray"],
    "local: rounds of --batch trained together in this process; ray: an asynchronous Ray farm.")
_RAY_ADDRESS = common_flags.DEFINE_string(
    "ray_address", None, "Ray cluster to join (auto, HOST:PORT); default: start a local one.")
_WORKERS = common_flags.DEFINE_integer("workers", 2, "Ray: evaluations in flight at once.")
_FAILURES = common_flags.DEFINE_float(
    "inject_worker_failures", 0.0, "Ray, for tests: probability that a worker process exits "
    "abruptly during an evaluation (reproducible from --seed).")
_MAX_RETRIES = common_flags.DEFINE_integer(
    "max_retries", 2, "Ray: resubmissions of an architecture whose worker died.")
_CHECKPOINT_DIR = common_flags.DEFINE_string(
    "checkpoint_dir", None, "Ray: write each search's state here after every result.")
_RESUME = common_flags.DEFINE_bool(
    "resume", False, "Ray: continue the searches checkpointed in --checkpoint_dir.")


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
    farm_flags.check(_EXECUTOR.value, _WORKERS.value, _FAILURES.value, _MAX_RETRIES.value,
                     _CHECKPOINT_DIR.value, _RESUME.value)
    on_ray = _EXECUTOR.value == "ray"
    if not on_ray and _BUDGET.value % _BATCH.value:
        raise app.UsageError(f"--budget={_BUDGET.value} is not a multiple of "
                             f"--batch={_BATCH.value}")
    space, recipe = train_flags.space(), train_flags.recipe()
    splits = train_flags.splits()
    try:
        evaluator = TrainEvaluator(space, splits, recipe, seed=_SEED.value, log=logging.info)
    except ValueError as e:
        raise app.UsageError(f"cannot train {space.name} networks on {splits.name}: {e}") from None
    open_domain = not evaluator.domain.is_pool
    strategies = _strategies(names, 1 if on_ray else _BATCH.value, open_domain)
    recipe_record = {"name": train_flags.RECIPE.value, **recipe.to_dict()}
    dataset = splits.to_dict()
    keys = seed_keys(_SEED.value, _SEEDS.value)
    eval_key = jax.random.key(_SEED.value)  # experiments.evaluate --seed reproduces values
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    entries = []
    farm = None
    if on_ray:
        farm = farm_flags.Farm(
            TrainSpec(space.name, train_flags.DATASET.value, len(splits.y_val),
                      len(splits.y_test), train_flags.SPLIT_SEED.value, recipe, _SEED.value,
                      train_flags.TFDS_DIR.value),
            _SEED.value, _WORKERS.value, _RAY_ADDRESS.value, _FAILURES.value, _MAX_RETRIES.value,
            _CHECKPOINT_DIR.value, _RESUME.value, _FINAL.value)
        farm.check(strategies, space.name, _BUDGET.value, _SEEDS.value,
                   lambda flat, params: _identity(flat, params, space, dataset, recipe_record))
    try:
        for name, (strategy, params, flat) in strategies.items():
            identity = _identity(flat, params, space, dataset, recipe_record)
            if farm is not None:
                entries.append(farm.run(name, strategy, params, evaluator.domain, keys,
                                        _BUDGET.value, identity, space, splits, recipe,
                                        recipe_record, dataset))
            else:
                entries.append(_run_local(name, strategy, params, identity, evaluator, keys,
                                          eval_key, space, splits, recipe, recipe_record,
                                          dataset))
    finally:
        if farm is not None:
            farm.close()
    path = os.path.join(_OUTPUT_DIR.value, "results.json")
    with open(path, "w") as f:
        json.dump(entries, f, indent=1)
    plot_curves(os.path.join(_OUTPUT_DIR.value, "curves.png"), entries,
                f"{space.name} on {splits.name}, recipe {train_flags.RECIPE.value}")
    _print_table(entries)
    print(f"wrote {path} and curves.png")


def _run_local(name, strategy, params, identity, evaluator, keys, eval_key, space, splits,
               recipe, recipe_record, dataset) -> dict:
    """One strategy's searches in this process, rounds of --batch journaled to --output_dir."""
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
    return result_entry(run, space=space.name, dataset=dataset, recipe=recipe_record,
                        budget=_BUDGET.value, batch=_BATCH.value, final=final)


def _identity(flat, params, space, dataset, recipe_record) -> dict:
    """What makes two searches the same (a journal's or a checkpoint's header)."""
    return {"config": config_dict(flat), "params": config_dict(params), "space": space.name,
            "dataset": dataset, "recipe": recipe_record, "budget": _BUDGET.value,
            "batch": 1 if _EXECUTOR.value == "ray" else _BATCH.value, "seeds": _SEEDS.value,
            "seed": _SEED.value}


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
