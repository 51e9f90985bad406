r"""Seed 003's transfer study on NAS-Bench-201: pre-train L2NAS on CIFAR-10, then search CIFAR-100
and ImageNet16-120 starting from that agent, against searching them directly.

Seed 003 (Transferability) pre-trains on the source with the normalised reward
``r = 100^(Acc / Acc(Env)) / 100 - 1`` so the agent's reward scale does not depend on the
dataset. Here ``Acc(Env)`` is the best accuracy seen so far in the current search (the L2NAS
default, ``--l2nas_acc_env=0``), so each domain is normalised by its own best.

For every seed i: a --pretrain_queries search on the source gives an agent (actor, critic and
their Adam states); on each target, "direct" is a fresh L2NAS search with seed i's target key,
"transfer" is the same search whose agent is replaced by seed i's pre-trained one, with no
random warm-up (its actor acts from the first query) and an empty replay buffer and top-K.
Both are read at the same --budgets (validation / test of the returned architecture, percent,
mean +- std over seeds).

  python -m experiments.l2nas_transfer --seeds=100 --output_dir=results/l2nas_transfer

L2NAS settings come from the --l2nas_* flags (experiments/algos/l2nas.py).
Writes --output_dir/transfer.json and transfer.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import numpy as np
from absl import app

from experiments import algos, common_flags
from experiments.nb201_report import (
    DATASET_TITLES,
    DATASETS,
    parse_budgets,
    parse_datasets,
)
from lanas_jax import analysis, scanned
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.runner import seed_keys
from lanas_jax.scanned import table_evaluator
from lanas_jax.strategies.l2nas import WarmL2NASParams

_SOURCE = common_flags.DEFINE_enum("source", "cifar10", list(DATASETS), "Pre-training dataset.")
_TARGETS = common_flags.DEFINE_list("targets", ["cifar100", "imagenet16"], "Target datasets.")
_PRETRAIN = common_flags.DEFINE_integer("pretrain_queries", 1000, "Queries of the source search.")
_BUDGETS = common_flags.DEFINE_list("budgets", ["100", "500", "1000"], "Query counts to report.")
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent pre-train + search pairs.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_OUTPUT_DIR = common_flags.DEFINE_string(
    "output_dir", "results/l2nas_transfer", "Where outputs go."
)


def sweep(strategy, budget, keys, bench, params, agents=None):
    """``[seeds, budget]`` queried rows of one search per key, and the final agents; with
    ``agents`` (one per seed) each search starts from its seed's pre-trained agent (the
    runner, vmapped over :class:`WarmL2NASParams`)."""
    evaluator = table_evaluator(bench)
    if agents is None:
        history, final = scanned.sweep(strategy, evaluator, keys, budget, params,
                                       with_state=True)
        return history.rows, final.inner.agent

    def one(key, agent):
        warm = WarmL2NASParams(**vars(params), agent=agent)
        return scanned.sweep(strategy, evaluator, key[None], budget, warm).rows[0]

    return jax.jit(jax.vmap(one))(keys, agents), None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    targets = parse_datasets(_TARGETS.value, "--targets")
    budgets = parse_budgets(_BUDGETS.value, "--budgets")
    if not targets or not budgets or budgets[0] < 1 or _PRETRAIN.value < 1 or _SEEDS.value < 1:
        raise app.UsageError("--targets/--budgets must be non-empty; budgets, seeds >= 1")
    strategy, params = algos.build("l2nas")
    transferred = dataclasses.replace(strategy, num_random=0)
    source_keys, target_keys = (
        seed_keys(_SEED.value, _SEEDS.value),
        seed_keys(_SEED.value + 1, _SEEDS.value),
    )
    t0 = time.perf_counter()
    source = load_benchmark(f"nb201_{_SOURCE.value}")
    src_idx, agents = sweep(strategy, _PRETRAIN.value, source_keys, source, params)
    src_idx = np.asarray(src_idx)
    print(f"pre-trained on {_SOURCE.value}: {time.perf_counter() - t0:.1f} s", flush=True)
    out = {
        "source": _SOURCE.value,
        "pretrain_queries": _PRETRAIN.value,
        "num_seeds": _SEEDS.value,
        "seed": _SEED.value,
        "config": config_dict(strategy),
        "params": config_dict(params),
        "source_result": analysis.incumbents_at(
            np.asarray(source.metric)[src_idx],
            np.asarray(source.test_metric)[src_idx],
            [b for b in [_PRETRAIN.value] if b >= 1],
        ),
        "targets": {},
    }
    lines = [
        "| Target | queries | Direct valid | Direct test | Transfer valid | Transfer test |",
        "|---|---|---|---|---|---|",
    ]
    for t in targets:
        bench = load_benchmark(f"nb201_{t}")
        runs = {}
        for label, strat, agent in (("direct", strategy, None), ("transfer", transferred, agents)):
            t1 = time.perf_counter()
            idx, _ = sweep(strat, max(budgets), target_keys, bench, params, agent)
            idx = np.asarray(idx)
            runs[label] = analysis.incumbents_at(
                np.asarray(bench.metric)[idx], np.asarray(bench.test_metric)[idx], budgets
            )
            print(f"{t} {label}: {time.perf_counter() - t1:.1f} s {runs[label]}", flush=True)
        out["targets"][t] = runs
        for q in budgets:
            d, r = runs["direct"][str(q)], runs["transfer"][str(q)]
            lines.append(
                f"| {DATASET_TITLES[t]} | {q} | {d['valid_mean']:.2f} ± {d['valid_std']:.2f} | "
                f"{d['test_mean']:.2f} ± {d['test_std']:.2f} | "
                f"{r['valid_mean']:.2f} ± {r['valid_std']:.2f} | "
                f"{r['test_mean']:.2f} ± {r['test_std']:.2f} |"
            )
    table = "\n".join(lines) + "\n"
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "transfer.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(_OUTPUT_DIR.value, "transfer.md"), "w") as f:
        f.write(table)
    print("\n" + table)
    print(f"wrote {_OUTPUT_DIR.value}/transfer.json and transfer.md")


if __name__ == "__main__":
    app.run(main)
