r"""How good are the architectures an open-domain search finds? Measured on a trained table.

``experiments.open_search`` trains what strategies propose; on the ConvNet space a table built
by training holds every network's value under a recipe, and the ``TrainEvaluator`` with that
recipe and the table's key reproduces those values bitwise (``tests/test_convnet_table.py``).
So the rounds of an open search (``--batch`` architectures a round, all seeds together,
:func:`lanas_jax.host_loop.search`) can be served by the table instead of by training (exactly on
the backend that built the table; another backend trains float-close, not bitwise-equal,
networks), and the architecture each search ends with gets its **rank in the table** (1 = the
table's best by
validation accuracy): issue 13's measure of open-domain search. The table's own reliability
(its seeds' Kendall tau) bounds what such a rank means.

  python -m experiments.open_search_rank --benchmark=convnet1364_digits \
      --algo=lanas,evolution,random --budget=100 --batch=10 --seeds=10

Writes --output_dir/open_search_rank.json and prints a table.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
from absl import app
from scipy import stats

from experiments import algos, common_flags
from lanas_jax import host_loop, scanned
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.open_search import best_archs, with_batch
from lanas_jax.runner import seed_keys

_BENCH = common_flags.DEFINE_string("benchmark", "convnet1364_digits", "A trained table.")
_ALGO = common_flags.DEFINE_string("algo", "lanas,evolution,random", "Comma-separated strategies.")
_BUDGET = common_flags.DEFINE_integer("budget", 100, "Architectures per search.")
_BATCH = common_flags.DEFINE_integer("batch", 10, "Architectures per round.")
_SEEDS = common_flags.DEFINE_integer("seeds", 10, "Independent searches per strategy.")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed of the searches.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/open_search_rank",
                                         "Where outputs go.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        bench = load_benchmark(_BENCH.value)
    except ValueError as e:
        raise app.UsageError(f"--benchmark: {e}") from None
    evaluator = scanned.table_evaluator(bench)
    # 1 = the table's best; ties share the best rank.
    ranks = stats.rankdata(-np.asarray(bench.metric), method="min").astype(int)
    keys = seed_keys(_SEED.value, _SEEDS.value)
    rows = []
    for name in [a.strip() for a in _ALGO.value.split(",") if a.strip()]:
        if name not in algos.names():
            raise app.UsageError(f"--algo: unknown strategy {name!r}")
        strategy, params = algos.build(name, {})
        t0 = time.perf_counter()
        try:
            h = host_loop.search(with_batch(strategy, _BATCH.value), evaluator, keys,
                                 _BUDGET.value, params)
        except ValueError as e:
            raise app.UsageError(f"--algo={name}: {e}") from None
        wall = time.perf_counter() - t0
        found = np.asarray(evaluator.evaluate(best_archs(h)).row)
        rows.append({"algo": name, "ranks": ranks[found].tolist(),
                     "median_rank": float(np.median(ranks[found])),
                     "best_val": np.max(h.value, 1).tolist(), "wall_seconds": wall})
        print(f"{name:<10} median table rank {rows[-1]['median_rank']:7.1f}  "
              f"(ranks {sorted(rows[-1]['ranks'])})  {wall:.1f} s", flush=True)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    with open(os.path.join(_OUTPUT_DIR.value, "open_search_rank.json"), "w") as f:
        json.dump({"benchmark": bench.name, "budget": _BUDGET.value, "batch": _BATCH.value,
                   "seeds": _SEEDS.value, "seed": _SEED.value, "table_size": bench.size,
                   "results": rows}, f, indent=1)


if __name__ == "__main__":
    app.run(main)
