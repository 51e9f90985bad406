r"""Seed 000 (LaNAS) Fig. 7a: intra-task transfer of the learned partition.

For every --fractions f: a uniformly random f of the table (--split_seed) is the part the
partition is learned on (``fit_partition``: LaNAS's tree fitted on all of it at once); the rest
is searched by --seeds searches (one vmapped call per arm) of
  * ``frozen``: LaNAS's search phase on the learned tree, never refitted, UCB statistics
    starting empty (``FrozenLaNAS``, lanas_jax/partition/transfer.py);
  * ``frozen_warm``: the same with the UCB statistics of the learned part;
  * ``warm_refit``: LaNAS on the rest whose every refit also fits the learned part's samples
    (``WarmLaNAS``: the transferred actions keep learning; no initial random samples);
  * ``scratch``: LaNAS learning from nothing on the rest (the --lanas_* flags);
  * ``random``: random search on the rest.
Reported: samples to the rest's optimum (mean / median) per arm and fraction, and the
"transfer speed-up" mean(scratch) / mean(arm). The paper: the improvement is steady from 10%
on ("it is enough to use 10% of the samples to learn the action space").

  python -m experiments.fig7a --seeds=100                                # nb201_cifar10
  python -m experiments.fig7a --benchmark=convnet1364_digits --fractions=0.05,0.2
  python -m experiments.fig7a --seeds=5 --budget=1000 --fractions=0.1     # quick CPU run

Writes --output_dir/fig7a.json and fig7a.png (mean samples to the optimum per fraction and the
best-so-far curves of the ``frozen`` arm).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app

from experiments import algos, common_flags
from lanas_jax import analysis
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.partition.transfer import (
    FrozenLaNAS,
    FrozenParams,
    WarmLaNAS,
    fit_partition,
    rest_table,
    split_table,
    warm_params,
)
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.runner import seed_keys
from lanas_jax.strategies.random_search import RandomSearch
from lanas_jax.study import sweep_report

ARMS = ("frozen", "frozen_warm", "warm_refit", "scratch", "random")
_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10", "Benchmark name or .npz path."
)
_FRACTIONS = common_flags.DEFINE_list(
    "fractions", ["0.01", "0.05", "0.1", "0.2", "0.6"], "Fractions the partition is learned on."
)
_ARMS = common_flags.DEFINE_list(
    "arms", list(ARMS), "Searches run on each rest table.")
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Searches per arm and fraction.")
_BUDGET = common_flags.DEFINE_integer(
    "budget", 0, "Samples per search (0 = the whole rest table; capped at its size)."
)
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed of the searches.")
_SPLIT_SEED = common_flags.DEFINE_integer("split_seed", 0, "Seed of the learned/rest split.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/fig7a", "Where outputs go.")


def parse_fractions(values: list[str]) -> list[float]:
    out = []
    for v in values:
        try:
            f = float(v)
        except ValueError:
            raise app.UsageError(f"--fractions: {v!r} is not a number") from None
        if not 0.0 < f < 1.0:
            raise app.UsageError(f"--fractions: {v} is not in (0, 1)")
        out.append(f)
    if not out:
        raise app.UsageError("--fractions is empty")
    return out


def arm_strategy(arm: str, lanas: LaNAS, lanas_params, tree, bench, learn):
    if arm == "scratch":
        return lanas, lanas_params
    if arm == "random":
        return RandomSearch(), None
    kinds = dict(tree_height=lanas.tree_height, leaf_sampler=lanas.leaf_sampler,
                 node_model=lanas.node_model, empty_leaf=lanas.empty_leaf)
    if arm == "warm_refit":
        return WarmLaNAS(**kinds, num_init=0, num_selects=lanas.num_selects), warm_params(
            bench, learn, lanas_params.cp, lanas_params.ridge)
    frozen = FrozenLaNAS(**kinds, warm_stats=arm == "frozen_warm")
    return frozen, FrozenParams(tree=tree, cp=lanas_params.cp)


def run_fraction(bench, fraction: float, lanas, lanas_params, arms, keys) -> dict:
    learn, rest_rows = split_table(bench, fraction, jax.random.key(_SPLIT_SEED.value))
    tree = fit_partition(bench, learn, lanas.tree_height, lanas_params.ridge)
    rest = rest_table(bench, rest_rows)
    budget = rest.size if _BUDGET.value == 0 else min(_BUDGET.value, rest.size)
    out = {"fraction": fraction, "learned_rows": int(learn.size), "rest_rows": rest.size,
           "rest_optimum": rest.optimum, "budget": budget,
           "optimum_in_rest": bool(rest.optimum >= bench.optimum), "arms": {}}
    for arm in arms:
        strategy, params = arm_strategy(arm, lanas, lanas_params, tree, bench, learn)
        rep = sweep_report(strategy, rest, keys, budget, params)
        out["arms"][arm] = {
            "summary": rep["summary"],
            "samples_to_optimum": rep["samples_to_optimum"],
            "best_so_far_median": np.median(analysis.best_so_far(rep["metric"]), 0)
            .round(6).tolist(),
            "compile_seconds": rep["compile_seconds"],
            "run_seconds": rep["run_seconds"],
        }
    return out


def mean_samples(entry: dict) -> float:
    """Mean samples to the optimum of one arm (the censored lower bound if some seeds never
    reached it)."""
    return analysis.mean_samples(entry["summary"])[0]


def plot(report: dict, path: str) -> None:
    plt = pyplot()

    rows = report["fractions"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
    xs = [r["fraction"] * 100 for r in rows]
    for arm in report["arms"]:
        ax0.plot(xs, [mean_samples(r["arms"][arm]) for r in rows], marker="o", label=arm)
    ax0.set_xscale("log")
    ax0.set_xlabel("% of the table the partition is learned on")
    ax0.set_ylabel("mean samples to the rest's optimum")
    ax0.set_title(f"{report['benchmark']}, {report['seeds']} seeds")
    ax0.legend()
    curve_arm = "frozen" if "frozen" in report["arms"] else report["arms"][0]
    for r in rows:
        y = np.asarray(r["arms"][curve_arm]["best_so_far_median"])
        ax1.plot(np.arange(1, y.size + 1), r["rest_optimum"] - y, label=f"{r['fraction']:.0%}")
    ax1.set_xscale("log")
    ax1.set_yscale("symlog", linthresh=1e-3)
    ax1.set_xlabel("samples")
    ax1.set_ylabel("median regret to the rest's optimum")
    ax1.set_title(f"{curve_arm} arm")
    ax1.legend(title="learned on")
    save_figure(fig, path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    fractions = parse_fractions(_FRACTIONS.value)
    for arm in _ARMS.value:
        if arm not in ARMS:
            raise app.UsageError(f"--arms: unknown arm {arm!r}; known: {', '.join(ARMS)}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    if _BUDGET.value < 0:
        raise app.UsageError(f"--budget must be >= 0, got {_BUDGET.value}")
    try:
        bench = load_benchmark(_BENCHMARK.value)
        lanas, lanas_params = algos.build("lanas")
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    if lanas.leaf_sampler != "tabular":
        raise app.UsageError("fig7a transfers a tabular LaNAS: --leaf_sampler must be tabular")
    keys = seed_keys(_SEED.value, _SEEDS.value)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    rows = []
    for f in fractions:
        print(f"{bench.name}: partition learned on {f:.0%}, searching the rest ...", flush=True)
        try:
            rows.append(run_fraction(bench, f, lanas, lanas_params, _ARMS.value, keys))
        except ValueError as e:
            raise app.UsageError(f"fraction {f}: {e}") from e
    report = {"benchmark": bench.name, "seeds": _SEEDS.value, "split_seed": _SPLIT_SEED.value,
              "lanas": config_dict(lanas), "arms": _ARMS.value, "fractions": rows}
    print(f"\n{bench.name}: samples to the rest's optimum, mean / median "
          f"(x: mean(scratch) / mean(arm))")
    print(f"{'learned':>8} {'rest':>7} " + " ".join(f"{a:>22}" for a in _ARMS.value))
    for r in rows:
        cells = []
        ref = r["arms"].get("scratch")
        for arm in _ARMS.value:
            e = r["arms"][arm]
            s = e["summary"]
            mean = mean_samples(e)
            exact = s["mean_samples_to_optimum"] is not None
            med = s["median_samples_to_optimum"]
            ratio = f" {mean_samples(ref) / mean:.1f}x" if ref is not None else ""
            med_txt = "n/a" if med is None else f"{med:.0f}"
            cells.append(f"{'' if exact else '>='}{mean:.0f}/{med_txt}{ratio}")
        row = " ".join(f"{c:>22}" for c in cells)
        print(f"{r['fraction']:>8.0%} {r['rest_rows']:>7} {row}")
    path = os.path.join(_OUTPUT_DIR.value, "fig7a.json")
    with open(path, "w") as fh:
        json.dump(report, fh, indent=1)
    plot(report, os.path.join(_OUTPUT_DIR.value, "fig7a.png"))
    print(f"\nwrote {path} and fig7a.png")


if __name__ == "__main__":
    app.run(main)
