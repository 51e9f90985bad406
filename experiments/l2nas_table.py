r"""Seed 003's NAS-Bench-201 table: RS, REA, REINFORCE, LaNAS and L2NAS after 500 and 1,000
queries on CIFAR-10, CIFAR-100 and ImageNet16-120, next to the seed's published rows.

Each algorithm searches each dataset with --seeds independent seeds (one compiled, vmapped call
per algorithm and dataset, budget = the largest of --budgets). The architecture a search returns
after q queries is the one with the best validation accuracy among its first q queries (the
first such in query order); its validation and test accuracy are reported as mean +- std (ddof
0) over seeds, in percent. Reading a 1,000-query search at 500 queries equals running 500: no
strategy here looks at its budget to decide what to query.

  python -m experiments.l2nas_table --seeds=100 --output_dir=results/l2nas_table
  python -m experiments.l2nas_table --algos=l2nas,reinforce --datasets=cifar10 --seeds=10

Strategy settings come from the strategies' own flags (--l2nas_*, --lanas_*, --evolution_*,
--reinforce_*; see experiments/algos). Writes --output_dir/table.json and table.md.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import app

from experiments import algos, common_flags
from experiments.nb201_report import (
    DATASET_TITLES,
    DATASETS,
    parse_budgets,
    parse_datasets,
)
from lanas_jax import analysis
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.runner import seed_keys, timed_sweep

ALGO_TITLES = {
    "random": "RS",
    "evolution": "REA",
    "reinforce": "REINFORCE",
    "lanas": "LaNAS",
    "l2nas": "L2NAS",
}

# Seed 003's NAS-Bench-201 table, in percent: (valid, valid std, test, test std) per dataset,
# None where the seed prints a dash. RS / REA / REINFORCE are NAS-Bench-201's own runs [12].
PUBLISHED = {
    "RS [12]": [(90.93, 0.36, 93.70, 0.36), (70.93, 1.09, 71.04, 1.07), (44.45, 1.10, 44.57, 1.25)],
    "REA [12]": [
        (91.19, 0.31, 93.92, 0.30),
        (71.81, 1.12, 71.84, 0.99),
        (45.15, 0.89, 45.54, 1.03),
    ],
    "REINFORCE [12]": [
        (91.09, 0.37, 93.85, 0.37),
        (71.61, 1.12, 71.71, 1.09),
        (45.05, 1.02, 45.24, 1.18),
    ],
    "L2NAS-500": [
        (91.36, 0.19, 94.11, 0.16),
        (72.47, 0.74, 72.69, 0.58),
        (46.23, 0.28, 46.74, 0.39),
    ],
    "L2NAS-1k": [
        (91.47, 0.15, 94.28, 0.08),
        (73.02, 0.52, 73.09, 0.35),
        (46.58, 0.08, 47.03, 0.27),
    ],
}
PUBLISHED_OPTIMUM = [(91.61, 94.37), (73.49, 73.51), (46.77, 47.31)]  # "True Optimal" row

_ALGOS = common_flags.DEFINE_list(
    "algos", list(ALGO_TITLES), "Strategies to run (comma-separated)."
)
_DATASETS = common_flags.DEFINE_list("datasets", list(DATASETS), "NB201 datasets to search.")
_BUDGETS = common_flags.DEFINE_list("budgets", ["500", "1000"], "Query counts to report.")
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent searches per strategy and dataset.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed; the per-search keys derive from it.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/l2nas_table", "Where outputs go.")


def run_one(name: str, dataset: str, budgets: list[int]) -> dict:
    strategy, params = algos.build(name)
    bench = load_benchmark(f"nb201_{dataset}")
    keys = seed_keys(_SEED.value, _SEEDS.value)
    history, compile_s, run_s = timed_sweep(strategy, bench, keys, max(budgets), params)
    metric, test = np.asarray(history.metric), np.asarray(history.test_metric)
    unique = [len(np.unique(row)) for row in np.asarray(history.indices)]
    return {
        "algo": name,
        "dataset": dataset,
        "num_seeds": _SEEDS.value,
        "config": config_dict(strategy),
        "params": config_dict(params),
        "at": analysis.incumbents_at(metric, test, budgets),
        "unique_cells_mean": float(np.mean(unique)),
        "compile_seconds": compile_s,
        "run_seconds": run_s,
    }


def optimum_row(dataset: str) -> tuple[float, float]:
    bench = load_benchmark(f"nb201_{dataset}")
    return 100 * bench.optimum, 100 * float(np.max(np.asarray(bench.test_metric)))


def _cell(mean, std) -> str:
    return "–" if mean is None else f"{mean:.2f} ± {std:.2f}"


def markdown(entries: list[dict], datasets: list[str], budgets: list[int]) -> str:
    head = ["Method"]
    for d in datasets:
        head += [f"{DATASET_TITLES[d]} valid", f"{DATASET_TITLES[d]} test"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(e["algo"], e["dataset"]): e for e in entries}
    for name in dict.fromkeys(e["algo"] for e in entries):
        for q in budgets:
            row = [f"{ALGO_TITLES.get(name, name)}-{q} (ours)"]
            for d in datasets:
                e = by.get((name, d))
                s = e["at"][str(q)] if e else None
                row += [
                    _cell(s and s["valid_mean"], s and s["valid_std"]),
                    _cell(s and s["test_mean"], s and s["test_std"]),
                ]
            lines.append("| " + " | ".join(row) + " |")
    for label, rows in PUBLISHED.items():
        row = [f"{label} (seed 003)"]
        for d in datasets:
            v, vs, t, ts = rows[DATASETS.index(d)]
            row += [_cell(v, vs), _cell(t, ts)]
        lines.append("| " + " | ".join(row) + " |")
    row = ["True Optimal (seed 003)"]
    for d in datasets:
        row += [f"{x:.2f}" for x in PUBLISHED_OPTIMUM[DATASETS.index(d)]]
    lines.append("| " + " | ".join(row) + " |")
    row = ["Optimum of the embedded table"]
    for d in datasets:
        row += [f"{x:.2f}" for x in optimum_row(d)]
    lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    names = [a.strip() for a in _ALGOS.value if a.strip()]
    for name in names:
        if name not in algos.names():
            raise app.UsageError(f"--algos: unknown strategy {name!r}; known: {algos.names()}")
    datasets = parse_datasets(_DATASETS.value, "--datasets")
    budgets = parse_budgets(_BUDGETS.value, "--budgets")
    if not names or not datasets or not budgets or budgets[0] < 1:
        raise app.UsageError("--algos, --datasets and --budgets must be non-empty, budgets >= 1")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    entries = []
    for name in names:
        for d in datasets:
            t0 = time.perf_counter()
            print(f"{name} on {d}: {_SEEDS.value} seeds x {max(budgets)} queries ...", flush=True)
            try:
                entries.append(run_one(name, d, budgets))
            except ValueError as e:
                raise app.UsageError(f"{name}: {e}") from e
            e = entries[-1]
            print(
                f"  {time.perf_counter() - t0:.1f} s (compile {e['compile_seconds']:.1f} s, "
                f"run {e['run_seconds']:.1f} s); {e['at']}",
                flush=True,
            )
    table = markdown(entries, datasets, budgets)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "table.json"), "w") as f:
        json.dump(
            {
                "entries": entries,
                "published": PUBLISHED,
                "published_optimum": PUBLISHED_OPTIMUM,
                "seed": _SEED.value,
            },
            f,
            indent=1,
        )
    with open(os.path.join(_OUTPUT_DIR.value, "table.md"), "w") as f:
        f.write(table)
    print("\n" + table)
    print(f"wrote {_OUTPUT_DIR.value}/table.json and table.md")


if __name__ == "__main__":
    app.run(main)
