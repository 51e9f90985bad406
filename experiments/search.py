r"""Sample-efficiency study: many seeds of several search strategies on a tabular benchmark.

Seed 000 (LaNAS), Sec. 4.2 and Fig. 5: each algorithm searches the table with --seeds
independent seeds (one compiled, vmapped call per algorithm); the output is the
best-so-far curves (median and 25-75% band), the number of samples each seed needed to
draw the global optimum, and timings.

  python -m experiments.search                         # LaNAS, RS, evolution on nb201_cifar10
  python -m experiments.search --algo=lanas --seeds=10 --budget=1000
  python -m experiments.search --benchmark=/path/table.npz
  python -m experiments.search --list_benchmarks
  python -m experiments.search --benchmark=nb101:/data/nasbench_only108.tfrecord \
      --nb101_encoding=lanas49 --cache_dir=/tmp/nb101_cache
  # several hosts (or processes): the same command in each, seeds over every device
  python -m experiments.search --distributed --coordinator_address=HOST0:1234 \
      --num_processes=2 --process_id=0|1 --seeds=1000

Writes --output_dir/results.json and --output_dir/curves.png (process 0 only with
--distributed; every process computes the same results).
"""

from __future__ import annotations

import json
import os
import sys

import jax
import numpy as np
from absl import app

from experiments import algos, common_flags, dist_flags
from lanas_jax import analysis
from lanas_jax.benchmarks import list_benchmarks, load_benchmark, seed_kendall
from lanas_jax.config import config_dict
from lanas_jax.runner import seed_keys
from lanas_jax.study import sweep_report

_ALGO = common_flags.DEFINE_string("algo", "lanas,random,evolution", "Comma-separated strategies.")
_BENCHMARK = common_flags.DEFINE_string(
    "benchmark",
    "nb201_cifar10",
    "An embedded benchmark name, a path to a .npz table, or "
    "nb101:/path/to/nasbench_only108.tfrecord (NAS-Bench-101 from the official file).",
)
_NB101_EPOCHS = common_flags.DEFINE_integer(
    "nb101_epochs", None, "NAS-Bench-101 epoch budget (4, 12, 36 or 108; default 108)."
)
_NB101_ENCODING = common_flags.DEFINE_enum(
    "nb101_encoding",
    None,
    ["lanas49", "vaenas26", "onehot56"],
    "NAS-Bench-101 features (default lanas49).",
)
_CACHE_DIR = common_flags.DEFINE_string(
    "cache_dir", None, "Where NAS-Bench-101's packed cache goes (default: next to the file)."
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent searches per strategy.")
_BUDGET = common_flags.DEFINE_integer(
    "budget", 3000, "Samples per search (at most the table size; 0 = the whole table)."
)
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed; the per-search keys derive from it.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/search", "Where outputs go.")
_LIST = common_flags.DEFINE_bool(
    "list_benchmarks", False, "Print the embedded benchmarks and exit."
)


def build_strategy(name: str):
    """The strategy named ``name`` configured from the flags, and its params."""
    try:
        return algos.build(name)
    except ValueError as e:
        raise app.UsageError(f"--algo: {e}") from e


def run_algo(name: str, bench, budget: int) -> dict:
    strategy, params = build_strategy(name)
    rep = sweep_report(strategy, bench, seed_keys(_SEED.value, _SEEDS.value), budget, params,
                       progress=True)
    metric = rep["metric"]
    best = analysis.best_so_far(metric)
    test = analysis.incumbent_test(metric, np.asarray(rep["history"].test_metric))
    compile_s, run_s = rep["compile_seconds"], rep["run_seconds"]
    return {
        "algo": name,
        "benchmark": bench.name,
        "num_seeds": _SEEDS.value,
        "budget": budget,
        "seed": _SEED.value,
        # Strategy fields and params in one flat record (results.json's format since v0.1).
        "config": {**config_dict(strategy), **config_dict(params)},
        "best_so_far": np.round(best, 6).tolist(),
        "best_test_so_far": np.round(test, 6).tolist() if bench.has_test else None,
        "samples_to_optimum": rep["samples_to_optimum"],
        "summary": {
            **rep["summary"],
            "final_regret_median": float(np.median(bench.optimum - best[:, -1])),
            "final_regret_mean": float(np.mean(bench.optimum - best[:, -1])),
            "final_test_median": float(np.median(test[:, -1])) if bench.has_test else None,
        },
        "wall_seconds": compile_s + run_s,
        "compile_seconds": compile_s,
        "run_seconds": run_s,
    }


def _fmt(x, digits=1) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def print_table(entries: list[dict], bench) -> None:
    optimum = bench.optimum
    cells = ", ".join(bench.describe(i) for i in bench.optimum_indices[:3])
    print(f"\n{bench.name}: {bench.size} entries, optimum {optimum:.6f} ({bench.metric_name})")
    print(f"optimum: {cells}")
    head = ("algo", "median", "mean", "reached", "regret(med)", "test(med)", "wall s", "compile s")
    print("{:<10} {:>8} {:>9} {:>9} {:>12} {:>10} {:>8} {:>10}".format(*head))
    for e in entries:
        s = e["summary"]
        mean = _fmt(s["mean_samples_to_optimum"])
        if s["mean_samples_to_optimum"] is None:
            mean = f">={s['mean_samples_lower_bound']:.0f}"
        print(
            "{:<10} {:>8} {:>9} {:>9} {:>12} {:>10} {:>8} {:>10}".format(
                e["algo"],
                _fmt(s["median_samples_to_optimum"])
                if s["median_samples_to_optimum"]
                else f">{e['budget']}",
                mean,
                f"{s['seeds_reached']}/{s['num_seeds']}",
                f"{s['final_regret_median']:.6f}",
                _fmt(s["final_test_median"], 4),
                f"{e['wall_seconds']:.2f}",
                f"{e['compile_seconds']:.2f}",
            )
        )
    print(
        "median/mean: samples to draw the global optimum (ties count); "
        "mean is a lower bound when some seeds never reached it."
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    dist_flags.maybe_initialize()  # before anything touches a device
    if _LIST.value:
        print(f"{'name':<18} {'size':>8} {'dim':>5} {'optimum':>10} {'seed kendall':>13}")
        for name, size, dim, optimum in list_benchmarks():
            tau = seed_kendall(name)
            tau = "-" if tau is None else f"{tau:.3f}"
            print(f"{name:<18} {size:>8} {dim:>5} {optimum:>10.6f} {tau:>13}")
        return
    names = [a.strip() for a in _ALGO.value.split(",") if a.strip()]
    if not names:
        raise app.UsageError("--algo is empty")
    for name in names:
        if name not in algos.names():
            known = ", ".join(algos.names())
            raise app.UsageError(f"--algo: unknown strategy {name!r}; known: {known}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    try:
        bench = load_benchmark(
            _BENCHMARK.value,
            nb101_epochs=_NB101_EPOCHS.value,
            nb101_encoding=_NB101_ENCODING.value,
            nb101_cache_dir=_CACHE_DIR.value,
        )
    except ValueError as e:  # BenchmarkError too: a missing, corrupt or malformed table
        raise app.UsageError(f"--benchmark: {e}") from e
    budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
    if budget < 0 or budget > bench.size:
        raise app.UsageError(f"--budget={budget} is outside [1, {bench.size}] for {bench.name}")
    entries = []
    for name in names:
        print(f"running {name}: {_SEEDS.value} seeds x {budget} samples ...", flush=True)
        try:
            entries.append(run_algo(name, bench, budget))
        except ValueError as e:
            raise app.UsageError(f"{name}: {e}") from e
    if jax.process_index() != 0:  # every process holds the same results: process 0 writes
        print(f"process {jax.process_index()} of {jax.process_count()}: done")
        return
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "results.json"), "w") as f:
        json.dump(entries, f)
    curves = {e["algo"]: np.asarray(e["best_so_far"]) for e in entries}
    analysis.plot_curves(
        curves,
        bench.optimum,
        f"{bench.name}, {_SEEDS.value} seeds",
        os.path.join(_OUTPUT_DIR.value, "curves.png"),
    )
    print_table(entries, bench)
    print(f"\nwrote {_OUTPUT_DIR.value}/results.json and curves.png")
    sys.stdout.flush()


if __name__ == "__main__":
    app.run(main)
