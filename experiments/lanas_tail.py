r"""Why a few LaNAS seeds need thousands of samples: where the optimum is routed (issue 18).

Runs --algo (LaNAS by default, seed 000's reference settings) for --seeds seeds on --benchmark,
picks the stuck seeds (samples to the optimum above --threshold, or never within --budget) and
--normal seeds near the median, and at every refit before the seed drew the optimum rebuilds
the learned tree from the seed's history (``diagnose.refit_state``: the linear fit is a pure
function of the evaluated samples) and records where the optimum is routed
(``diagnose.locate``): its leaf, the leaf's UCB rank among the 16 leaves, n and mean value
against the best leaf's, the depth where UCB's walk turns away, and how many unseen table
entries share the leaf with it (a visit draws one of them uniformly).

  python -m experiments.lanas_tail --seeds=100 --budget=3000
  python -m experiments.lanas_tail --algo=lanas_tailfree --seeds=100

Writes --output_dir/lanas_tail.json and lanas_tail.png (the optimum's leaf, its UCB rank and
its share of the unseen entries over samples, stuck seeds against normal ones).

Finding (nb201_cifar10, 100 seeds, budget 3,000; BUILD_NOTES issue 18): in the 6 stuck seeds
the linear nodes route the optimum to the bad side of the root (leaves 12-15) at most refits,
UCB's walk turns away from it at the root, and its leaf holds 20-65% of the unseen table, so
even a visit draws it with chance < 1/2,000; in seeds near the median it sits in leaf 0 with
~1-2% of the unseen entries.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app

from experiments import algos, common_flags
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.partition.diagnose import locate, refit_state
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.runner import seed_keys
from lanas_jax.study import sweep_report

_ALGO = common_flags.DEFINE_string("algo", "lanas", "A LaNAS strategy of experiments.algos.")
_BENCHMARK = common_flags.DEFINE_string("benchmark", "nb201_cifar10", "Embedded benchmark.")
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Searches.")
_BUDGET = common_flags.DEFINE_integer("budget", 3000, "Samples per search (0 = whole table).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_THRESHOLD = common_flags.DEFINE_integer(
    "threshold", 1000, "A seed is stuck above this many samples to the optimum.")
_NORMAL = common_flags.DEFINE_integer("normal", 5, "Normal seeds (nearest the median) to trace.")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/lanas_tail", "Outputs.")
_MAX_REFITS = 150  # refits traced per seed (evenly spaced when a seed has more)


def trace(lanas, params, bench, rows: np.ndarray, values: np.ndarray, stop: int) -> dict:
    """Per refit before sample ``stop``: where the optimum is routed in the tree refitted on
    the first ``t`` samples of a seed that queried ``rows`` (with metrics ``values``)."""
    feats = jnp.asarray(bench.features)
    hist_feats = feats[rows]
    opt = int(bench.optimum_indices[0])
    first = lanas.num_init
    refits = np.arange(first, stop, lanas.num_selects)
    if len(refits) > _MAX_REFITS:
        refits = refits[np.linspace(0, len(refits) - 1, _MAX_REFITS).astype(int)]

    @jax.jit
    @jax.vmap
    def one(t):
        inner = refit_state(lanas, hist_feats, jnp.asarray(values), t, params)
        loc = locate(lanas, inner, feats[opt], params.cp)
        seen = jnp.zeros((bench.size,), bool).at[rows].max(jnp.arange(rows.shape[0]) < t)
        routed = lanas.partition.route(inner.tree, feats) == loc.leaf
        return loc, jnp.sum(routed & ~seen), jnp.sum(~seen)

    loc, unseen_leaf, unseen = one(jnp.asarray(refits))
    best = np.argmax(np.asarray(loc.leaf_mean), -1)
    pick = lambda a, i: np.take_along_axis(np.asarray(a), i[:, None], -1)[:, 0]  # noqa: E731
    leaf = np.asarray(loc.leaf)
    return {
        "refit_at": refits.tolist(),
        "leaf": leaf.tolist(),
        "rank": np.asarray(loc.rank).tolist(),
        "chosen": np.asarray(loc.chosen).tolist(),
        "diverge_depth": np.asarray(loc.diverge).tolist(),
        "leaf_ucb": pick(loc.leaf_ucb, leaf).round(4).tolist(),
        "chosen_ucb": pick(loc.leaf_ucb, np.asarray(loc.chosen)).round(4).tolist(),
        "leaf_n": pick(loc.leaf_count, leaf).tolist(),
        "leaf_mean": pick(loc.leaf_mean, leaf).round(4).tolist(),
        "best_leaf_n": pick(loc.leaf_count, best).tolist(),
        "best_leaf_mean": pick(loc.leaf_mean, best).round(4).tolist(),
        "unseen_in_leaf": np.asarray(unseen_leaf).tolist(),
        "unseen_share": (np.asarray(unseen_leaf) / np.asarray(unseen)).round(4).tolist(),
    }


def summary(t: dict) -> dict:
    """A seed's trace in a few numbers (over its refits)."""
    rank = np.asarray(t["rank"])
    return {"median_rank": float(np.median(rank)), "frac_rank1": float(np.mean(rank == 1)),
            "median_unseen_share": float(np.median(t["unseen_share"])),
            "median_diverge_depth": float(np.median(t["diverge_depth"])),
            "median_leaf": float(np.median(t["leaf"]))}


def plot(traces: dict, path: str, title: str) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for seed, t in traces.items():
        stuck = t["stuck"]
        style = dict(color="tab:red" if stuck else "tab:gray", alpha=0.8 if stuck else 0.5,
                     lw=1.2 if stuck else 0.8, label=f"seed {seed}" if stuck else None)
        axes[0].step(t["refit_at"], t["leaf"], where="post", **style)
        axes[1].step(t["refit_at"], t["rank"], where="post", **style)
        axes[2].plot(t["refit_at"], t["unseen_share"], **style)
    axes[0].set(xlabel="samples", ylabel="the optimum's leaf (0 = best side of every split)",
                xscale="log")
    axes[1].set(xlabel="samples", ylabel="UCB rank of the optimum's leaf (1 = best of 16)",
                xscale="log")
    for ax in axes[:2]:
        ax.invert_yaxis()
    axes[2].set(xlabel="samples", ylabel="share of unseen entries in the optimum's leaf",
                xscale="log")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{title} (red: stuck seeds, grey: seeds near the median)")
    save_figure(fig, path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    bench = load_benchmark(_BENCHMARK.value)
    budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
    lanas, params = algos.build(_ALGO.value)
    if not hasattr(lanas, "partition") or not lanas.partition.linear:
        raise app.UsageError(f"--algo={_ALGO.value} is not a LaNAS with a linear tree")
    rep = sweep_report(lanas, bench, seed_keys(_SEED.value, _SEEDS.value), budget, params)
    samples = np.array([budget + 1 if s is None else s for s in rep["samples_to_optimum"]])
    rows = np.asarray(rep["history"].indices)
    stuck = np.flatnonzero(samples > _THRESHOLD.value)
    normal = np.argsort(np.abs(samples - np.median(samples)))[: _NORMAL.value]
    traces = {}
    for seed in list(stuck) + [s for s in normal if s not in stuck]:
        t = trace(lanas, params, bench, rows[seed], rep["metric"][seed],
                  int(min(samples[seed], budget)))
        t["stuck"] = bool(seed in stuck)
        t["samples_to_optimum"] = int(samples[seed])
        t["summary"] = summary(t)
        traces[int(seed)] = t
        print(f"seed {seed:3d} ({'stuck' if seed in stuck else 'normal'}, "
              f"{samples[seed]} samples): {t['summary']}", flush=True)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    out = {"benchmark": bench.name, "algo": _ALGO.value, "budget": budget, "seeds": _SEEDS.value,
           "threshold": _THRESHOLD.value, "samples_to_optimum": samples.tolist(),
           "traces": traces}
    with open(os.path.join(_OUTPUT_DIR.value, "lanas_tail.json"), "w") as f:
        json.dump(out, f)
    plot(traces, os.path.join(_OUTPUT_DIR.value, "lanas_tail.png"),
         f"{_ALGO.value} on {bench.name}, {_SEEDS.value} seeds")
    print(f"stuck seeds (> {_THRESHOLD.value}): {stuck.tolist()}; wrote {_OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
