r"""Seed 000 (LaNAS) Fig. 5: samples to the global optimum of LaNAS and the five baselines.

For every benchmark (--benchmarks) and strategy (--algos; each configured by its own flags from
experiments/algos, e.g. --lanas_selects=100 --lanas_init=400 for the paper's Sec. 4.2 setting),
--seeds searches run as one vmapped call. Outputs per benchmark: the best-so-far curves (median
and 25-75% band, the figure's top row), a box chart of samples to the optimum (its bottom row;
seeds that never reached the optimum within --budget are drawn at budget + 1), and the speed-up
table "LaNAS is Nx more sample-efficient than X" with N = mean samples of X / mean samples of
LaNAS, the paper's measure (Sec. 4.2, "Analysis of Results"). When some seeds of X never
reached the optimum its mean is censored and N is printed as a lower bound (">=").

  python -m experiments.fig5 --benchmarks=nb201_cifar10 --seeds=3 --budget=1500
  python -m experiments.fig5 --seeds=100 --budget=0      # whole tables (every seed reaches it)
  python -m experiments.fig5 --algos=lamcts,evolution --lamcts_sampler=surrogate

On a ConvNet table the MCTS baseline uses --fig5_convnet_mcts (a Sec. 2 action order).
Writes --output_dir/fig5.json, curves_<benchmark>.png and samples_<benchmark>.png.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from absl import app

from experiments import algos, common_flags
from lanas_jax import analysis
from lanas_jax.benchmarks import list_benchmarks, load_benchmark
from lanas_jax.runner import seed_keys
from lanas_jax.strategies.mcts import MCTS
from lanas_jax.study import sweep_report

_BENCHMARKS = common_flags.DEFINE_list(
    "benchmarks", None, "Benchmarks (default: every embedded one)."
)
_ALGOS = common_flags.DEFINE_list(
    "algos", ["lanas", "lanas_tailfree", "lamcts", "random", "evolution", "mcts", "predictor",
              "bo"],
    "Strategies (lanas_tailfree: LaNAS with local mutation mixed in; lamcts: LA-MCTS; issue 18).",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Searches per strategy and benchmark.")
_BUDGET = common_flags.DEFINE_integer("budget", 3000, "Samples per search (0 = the whole table).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_CONVNET_MCTS = common_flags.DEFINE_enum(
    "fig5_convnet_mcts", "convnet_global", ["convnet_global", "convnet_sequential"],
    "MCTS action order on ConvNet tables.",
)
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/fig5", "Where outputs go.")
_REFERENCE = "lanas"


def strategy_for(name: str, bench):
    strategy, params = algos.build(name)
    if isinstance(strategy, MCTS) and bench.name.startswith("convnet"):
        strategy = dataclasses.replace(strategy, action_space=_CONVNET_MCTS.value)
    return strategy, params


def run(name: str, bench, budget: int) -> dict:
    strategy, params = strategy_for(name, bench)
    rep = sweep_report(strategy, bench, seed_keys(_SEED.value, _SEEDS.value), budget, params,
                       progress=True)
    metric = rep.pop("metric")
    del rep["history"]
    return {"algo": name, **rep, "best_so_far": analysis.best_so_far(metric)}


def mean_of(entry: dict) -> tuple[float, bool]:
    """Mean samples to the optimum and whether it is exact (False: a censored lower bound)."""
    return analysis.mean_samples(entry["summary"])


def speedups(entries: list[dict]) -> dict[str, str]:
    """``X -> "Nx"``: mean samples of X over mean samples of LaNAS (">=" / "<=" if censored)."""
    ref = next((e for e in entries if e["algo"] == _REFERENCE), None)
    if ref is None:
        return {}
    ref_mean, ref_exact = mean_of(ref)
    out = {}
    for e in entries:
        if e["algo"] == _REFERENCE:
            continue
        mean, exact = mean_of(e)
        ratio = mean / ref_mean
        if exact and ref_exact:
            out[e["algo"]] = f"{ratio:.1f}x"
        elif ref_exact:
            out[e["algo"]] = f">={ratio:.1f}x"
        elif exact:
            out[e["algo"]] = f"<={ratio:.1f}x"
        else:
            out[e["algo"]] = "n/a (both censored)"
    return out


def plot_samples(entries: list[dict], budget: int, title: str, path: str) -> None:
    analysis.plot_samples_box([e["algo"] for e in entries],
                              [e["samples_to_optimum"] for e in entries], budget, title, path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    names = _BENCHMARKS.value or [row[0] for row in list_benchmarks()]
    for name in _ALGOS.value:
        if name not in algos.names():
            raise app.UsageError(f"--algos: unknown strategy {name!r}; known: "
                                 f"{', '.join(algos.names())}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    report = []
    for bench_name in names:
        try:
            bench = load_benchmark(bench_name)
        except ValueError as e:
            raise app.UsageError(f"--benchmarks: {e}") from e
        budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
        if not 1 <= budget <= bench.size:
            raise app.UsageError(f"--budget={budget} is outside [1, {bench.size}] for {bench_name}")
        entries = []
        for algo in _ALGOS.value:
            print(f"{bench.name}: {algo}, {_SEEDS.value} seeds x {budget} samples ...", flush=True)
            try:
                entries.append(run(algo, bench, budget))
            except ValueError as e:
                raise app.UsageError(f"{algo} on {bench.name}: {e}") from e
        title = f"{bench.name}, {_SEEDS.value} seeds"
        analysis.plot_curves({e["algo"]: e["best_so_far"] for e in entries}, bench.optimum,
                             title, os.path.join(_OUTPUT_DIR.value, f"curves_{bench.name}.png"))
        plot_samples(entries, budget, title,
                     os.path.join(_OUTPUT_DIR.value, f"samples_{bench.name}.png"))
        ups = speedups(entries)
        print(f"\n{bench.name} ({bench.size} entries, budget {budget}): samples to the optimum")
        print(f"{'algo':<15} {'mean':>10} {'median':>8} {'reached':>8} {'LaNAS is':>12} "
              f"{'run s':>8}")
        for e in entries:
            mean, exact = mean_of(e)
            med = e["summary"]["median_samples_to_optimum"]
            print(f"{e['algo']:<15} {('' if exact else '>=') + f'{mean:.0f}':>10} "
                  f"{'n/a' if med is None else f'{med:.0f}':>8} "
                  f"{e['summary']['seeds_reached']:>4}/{_SEEDS.value:<3} "
                  f"{ups.get(e['algo'], '-'):>12} {e['run_seconds']:>8.1f}")
        for e in entries:
            e["best_so_far_median"] = np.median(e.pop("best_so_far"), 0).round(6).tolist()
        report.append({"benchmark": bench.name, "budget": budget, "seeds": _SEEDS.value,
                       "optimum": bench.optimum, "entries": entries, "lanas_speedup": ups})
    path = os.path.join(_OUTPUT_DIR.value, "fig5.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {path} and the figures in {_OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
