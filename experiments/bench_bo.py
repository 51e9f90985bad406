r"""Cost curve of the BO baseline: seconds per refit against the GP's training-set size.

Seed 000 (LaNAS), Sec. 4.2: "BO incurs O(n^3) cost", so the paper capped the GP at 2,000
points. For each training-set size S (--sizes), this times one BO round (marginal-likelihood
fit on min(S, fit_cap) rows + posterior and EI at every table entry) jitted and vmapped over
--seeds seeds, on states holding S random evaluated entries; then, if --search_budget > 0, a
whole vmapped BO search of that many samples over --search_seeds seeds.

  python -m experiments.bench_bo                                   # nb201_cifar10, 1 seed
  python -m experiments.bench_bo --sizes=128,512,2000 --seeds=10 --search_budget=1000

Prints a table and writes --output_dir/bench_bo.json.
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
from absl import app

from experiments import common_flags
from lanas_jax import archive as archive_lib
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.runner import seed_keys, timed_sweep
from lanas_jax.scanned import table_evaluator
from lanas_jax.strategies.bo import BayesOpt

_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10", "Benchmark name or .npz path."
)
_SIZES = common_flags.DEFINE_list(
    "sizes", ["128", "256", "512", "1024", "2000"], "Training-set sizes."
)
_SEEDS = common_flags.DEFINE_integer("seeds", 1, "Seeds vmapped in one refit call.")
_REPEATS = common_flags.DEFINE_integer("repeats", 2, "Timed calls per size (the minimum is kept).")
_FIT_CAP = common_flags.DEFINE_integer("fit_cap", 256, "Rows the marginal likelihood is fitted on.")
_FIT_STEPS = common_flags.DEFINE_integer("fit_steps", 10, "Adam steps per round.")
_SEARCH_BUDGET = common_flags.DEFINE_integer("search_budget", 0, "Whole-search samples (0: skip).")
_SEARCH_SEEDS = common_flags.DEFINE_integer("search_seeds", 1, "Seeds of the whole-search timing.")
_CAP = common_flags.DEFINE_integer("cap", 2000, "GP cap of the whole search.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/bench", "Where the JSON goes.")


def time_round(bench, size: int) -> dict:
    """One BO round (MLL fit + posterior + EI at every table row) on ``size`` evaluated rows."""
    strategy = BayesOpt(cap=size, fit_cap=_FIT_CAP.value, fit_steps=_FIT_STEPS.value)
    params = strategy.default_params()
    domain = table_evaluator(bench).domain

    def one(key):
        init_key, pick_key = jax.random.split(key)
        state = strategy.init(init_key, domain, size, params)
        picked = jax.random.choice(pick_key, bench.size, (size,), replace=False)
        archive = archive_lib.add(state.archive, domain, domain.arch(picked),
                                  bench.metric[picked])
        state = state.replace(archive=archive)
        return strategy.refit(key, state, domain, domain.features, params)[0]

    fn = jax.jit(jax.vmap(one))
    keys = seed_keys(0, _SEEDS.value)
    t0 = time.perf_counter()
    compiled = fn.lower(keys).compile()
    compile_s = time.perf_counter() - t0
    runs = []
    for _ in range(_REPEATS.value):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(keys))
        runs.append(time.perf_counter() - t0)
    return {
        "size": size,
        "seeds": _SEEDS.value,
        "compile_seconds": compile_s,
        "refit_seconds": min(runs),
        "refit_seconds_per_seed": min(runs) / _SEEDS.value,
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        sizes = [int(s) for s in _SIZES.value]
    except ValueError as e:
        raise app.UsageError(f"--sizes must be integers, got {_SIZES.value}") from e
    bench = load_benchmark(_BENCHMARK.value)
    if any(s < 1 or s > bench.size for s in sizes):
        raise app.UsageError(f"--sizes must lie in [1, {bench.size}], got {sizes}")
    device = jax.devices()[0].device_kind
    print(
        f"BO refit cost on {bench.name} ({bench.size} candidates), {_SEEDS.value} seed(s) "
        f"vmapped, fit_cap {_FIT_CAP.value}, {_FIT_STEPS.value} steps, {device}"
    )
    print(f"{'train size':>10} {'compile s':>10} {'refit s':>9} {'s/seed':>9}")
    rows = []
    for size in sizes:
        r = time_round(bench, size)
        rows.append(r)
        print(
            f"{size:>10} {r['compile_seconds']:>10.2f} {r['refit_seconds']:>9.3f} "
            f"{r['refit_seconds_per_seed']:>9.3f}",
            flush=True,
        )
    search = None
    if _SEARCH_BUDGET.value > 0:
        strategy = BayesOpt(cap=_CAP.value, fit_cap=_FIT_CAP.value, fit_steps=_FIT_STEPS.value)
        keys = seed_keys(0, _SEARCH_SEEDS.value)
        _, compile_s, run_s = timed_sweep(strategy, bench, keys, _SEARCH_BUDGET.value)
        search = {
            "budget": _SEARCH_BUDGET.value,
            "seeds": _SEARCH_SEEDS.value,
            "cap": _CAP.value,
            "compile_seconds": compile_s,
            "run_seconds": run_s,
        }
        print(
            f"whole search: {_SEARCH_SEEDS.value} seed(s) x {_SEARCH_BUDGET.value} samples, "
            f"cap {_CAP.value}: compile {compile_s:.1f} s, run {run_s:.1f} s"
        )
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    out = {
        "benchmark": bench.name,
        "device": str(device),
        "host": platform.node(),
        "fit_cap": _FIT_CAP.value,
        "fit_steps": _FIT_STEPS.value,
        "refits": rows,
        "search": search,
    }
    path = os.path.join(_OUTPUT_DIR.value, "bench_bo.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    app.run(main)
