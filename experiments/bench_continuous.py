r"""Continuous-mode LaNAS (seed 000 Sec. 3.2 step 2) against the tabular mode on NAS-Bench-201.

For each --configs entry ``SAMPLER[:PROPOSALS]`` (``tabular``, ``hit_and_run:16``,
``nuts:16``, ...), --seeds searches of --budget samples run as one vmapped call with the other
LaNAS settings from the --lanas_* flags. Reported per config: samples to the optimum (median,
mean, reached), run and compile seconds, and for the continuous samplers the proposal counters
summed over seeds (``lanas_jax.partition.continuous.COUNTERS``): how many queries fell back to
a uniformly random unseen cell because every proposal of the chain was already evaluated —
the share of the continuous mode's queries that are not its own.

  python -m experiments.bench_continuous                       # 100 seeds, budget 1000
  python -m experiments.bench_continuous --configs=tabular,hit_and_run:16,hit_and_run:64 \
      --seeds=10 --budget=500

Prints a table and writes --output (JSON).
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
from lanas_jax import analysis
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.partition.lanas import LEAF_SAMPLERS
from lanas_jax.partition.samplers import COUNTERS
from lanas_jax.runner import seed_keys, sweep_with_state

_BENCHMARK = common_flags.DEFINE_string("benchmark", "nb201_cifar10", "A NAS-Bench-201 benchmark.")
_CONFIGS = common_flags.DEFINE_list(
    "configs", ["tabular", "hit_and_run:16", "hit_and_run:64", "nuts:16"],
    "SAMPLER[:PROPOSALS] entries (tabular, hit_and_run, nuts).",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Searches per config.")
_BUDGET = common_flags.DEFINE_integer("budget", 1000, "Samples per search.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_OUTPUT = common_flags.DEFINE_string("output", "results/bench_continuous.json", "JSON output path.")


def parse_config(text: str) -> tuple[str, int | None]:
    sampler, _, k = text.partition(":")
    if sampler not in LEAF_SAMPLERS:
        raise app.UsageError(f"--configs: unknown sampler {sampler!r} in {text!r}; known: "
                             f"{', '.join(LEAF_SAMPLERS)}")
    if not k:
        return sampler, None
    if sampler == "tabular":
        raise app.UsageError(f"--configs: {text!r}: the tabular mode takes no proposal count")
    if not k.isdigit() or int(k) < 1:
        raise app.UsageError(f"--configs: {text!r}: proposals must be a positive integer")
    return sampler, int(k)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    configs = [parse_config(c) for c in _CONFIGS.value]
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    try:
        bench = load_benchmark(_BENCHMARK.value)
        base, params = algos.build("lanas")
    except ValueError as e:
        raise app.UsageError(str(e)) from e
    keys = seed_keys(_SEED.value, _SEEDS.value)
    rows = []
    for sampler, k in configs:
        strategy = dataclasses.replace(base, leaf_sampler=sampler)
        if k is not None:
            strategy = dataclasses.replace(strategy, num_proposals=k)
        name = sampler if k is None else f"{sampler}:{k}"
        print(f"{bench.name}: {name}, {_SEEDS.value} seeds x {_BUDGET.value} ...", flush=True)
        t0 = time.perf_counter()
        try:
            history, state = sweep_with_state(strategy, bench, keys, _BUDGET.value, params)
        except ValueError as e:
            raise app.UsageError(f"{name}: {e}") from e
        history = jax.block_until_ready(history)
        wall = time.perf_counter() - t0
        samples = analysis.samples_to_optimum(np.asarray(history.metric), bench.optimum)
        row = {"config": name, "strategy": config_dict(strategy), "wall_seconds": wall,
               "summary": analysis.summarize(samples, _BUDGET.value),
               "samples_to_optimum": samples}
        if sampler != "tabular":
            totals = np.asarray(state.inner.sampler.counters).sum(0).tolist()
            row["counters"] = dict(zip(COUNTERS, totals, strict=True))
            asks = _SEEDS.value * max(_BUDGET.value - strategy.num_init, 0)
            row["fallback_share"] = row["counters"]["fallback"] / max(asks, 1)
        rows.append(row)
    print(f"\n{bench.name}, {_SEEDS.value} seeds x {_BUDGET.value} samples on "
          f"{jax.devices()[0].device_kind}")
    print(f"{'config':<16} {'median':>8} {'mean':>8} {'reached':>8} {'fallback':>9} {'wall s':>8}")
    for r in rows:
        s = r["summary"]
        med, mean = s["median_samples_to_optimum"], s["mean_samples_to_optimum"]
        mean_txt = f"{mean:.1f}" if mean is not None else f">={s['mean_samples_lower_bound']:.0f}"
        fb = f"{r['fallback_share']:.1%}" if "fallback_share" in r else "-"
        print(f"{r['config']:<16} {'n/a' if med is None else f'{med:.1f}':>8} {mean_txt:>8} "
              f"{s['seeds_reached']:>4}/{s['num_seeds']:<3} {fb:>9} {r['wall_seconds']:>8.1f}")
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
        json.dump({"benchmark": bench.name, "seeds": _SEEDS.value, "budget": _BUDGET.value,
                   "device": jax.devices()[0].device_kind, "rows": rows}, f, indent=1)
    print(f"wrote {_OUTPUT.value}")


if __name__ == "__main__":
    app.run(main)
