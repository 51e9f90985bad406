r"""Speed of whole searches: one vmapped call over seeds vs a Python loop of single searches.

  python -m experiments.bench_search                      # 100 seeds x 3000 samples
  python -m experiments.bench_search --algo=lanas --seeds=10 --budget=500

For each strategy: compile seconds and run seconds of ``sweep`` (jit(vmap) over seeds),
and the run seconds per seed of ``run_search`` called in a Python loop over
--loop_seeds seeds (compiled once), so the speed-up of vmapping is a ratio measured in
the same process on the same machine. Prints a table and writes --output_dir/bench_search.json.
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
from absl import app

from experiments import common_flags
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.partition.lanas import LaNAS
from lanas_jax.runner import run_search, seed_keys, timed_sweep
from lanas_jax.strategies import make

_ALGO = common_flags.DEFINE_string(
    "algo", "lanas,lanas_ref,random,evolution", "Strategies to time."
)
_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10", "Benchmark name or .npz path."
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Seeds in the vmapped call.")
_LOOP_SEEDS = common_flags.DEFINE_integer("loop_seeds", 3, "Seeds run one by one for the ratio.")
_BUDGET = common_flags.DEFINE_integer("budget", 3000, "Samples per search.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/bench", "Where the JSON goes.")

# "lanas" is the paper's Sec. 4.2 setting; "lanas_ref" the reference code's.
_CONFIGS = {
    "lanas": lambda: LaNAS(tree_height=5, num_selects=100, num_init=400),
    "lanas_ref": lambda: LaNAS(tree_height=5, num_selects=20, num_init=10),
}


def time_algo(name: str, bench, budget: int) -> dict:
    strategy = _CONFIGS[name]() if name in _CONFIGS else make(name)
    keys = seed_keys(0, _SEEDS.value)
    _, compile_s, run_s = timed_sweep(strategy, bench, keys, budget)
    loop_keys = seed_keys(1, _LOOP_SEEDS.value)
    jax.block_until_ready(run_search(strategy, bench, loop_keys[0], budget))  # compile
    t0 = time.perf_counter()
    for key in loop_keys:
        jax.block_until_ready(run_search(strategy, bench, key, budget))
    loop_per_seed = (time.perf_counter() - t0) / _LOOP_SEEDS.value
    return {
        "algo": name,
        "config": config_dict(strategy),
        "seeds": _SEEDS.value,
        "budget": budget,
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "wall_seconds": compile_s + run_s,
        "loop_seconds_per_seed": loop_per_seed,
        "vmap_speedup_per_seed": loop_per_seed / (run_s / _SEEDS.value),
    }


def main(argv):
    del argv
    bench = load_benchmark(_BENCHMARK.value)
    rows = [time_algo(a.strip(), bench, _BUDGET.value) for a in _ALGO.value.split(",")]
    device = jax.devices()[0]
    header = f"{bench.name}, {_SEEDS.value} seeds x {_BUDGET.value} samples on {device.device_kind}"
    print(header)
    print(
        f"{'algo':<10} {'compile s':>10} {'run s':>8} {'wall s':>8} "
        f"{'loop s/seed':>12} {'vmap speed-up':>14}"
    )
    for r in rows:
        print(
            f"{r['algo']:<10} {r['compile_seconds']:>10.2f} {r['run_seconds']:>8.2f} "
            f"{r['wall_seconds']:>8.2f} {r['loop_seconds_per_seed']:>12.3f} "
            f"{r['vmap_speedup_per_seed']:>13.1f}x"
        )
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    out = {
        "benchmark": bench.name,
        "device": str(device.device_kind),
        "platform": jax.default_backend(),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "rows": rows,
    }
    with open(os.path.join(_OUTPUT_DIR.value, "bench_search.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    app.run(main)
