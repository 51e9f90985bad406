r"""Seed 000 (LaNAS) Sec. 2 "A motivating example" and Fig. 2: MCTS with the `sequential` vs the
`global` action space on the plain ConvNet space (1,364 networks).

Paper, Sec. 2: "sequential comprises actions in the following order: adding a layer l, setting
kernel size K_l, setting filter channel C_l. The actions are repeated L times. On the other
hand, global uses the following actions instead: {Setting network depth L, setting kernel size
K_1..L, setting filter channel C_1..L}. For these two action spaces, MCTS is employed [...]
Actions in global clearly separates desired and undesired network clusters, while actions in
sequential lead to network clusters with a mixture of good or bad networks [...] global finds
desired networks much faster than sequential." Fig. 2(b): "For a given node, the reward
distributions for its children"; Fig. 2(c): the search curves.

Two measurements (the action spaces are ``convnet_sequential`` / ``convnet_global`` of
``lanas_jax/strategies/mcts.py``):

1. search curves (Fig. 2c): --seeds MCTS searches per action space (one vmapped call each, every
   --mcts_* flag but the action space applies) over --budget samples (default: the whole table,
   so every seed reaches the optimum and the means are exact), plus --references (default LaNAS
   and random search, configured by their own flags) as reference lines: best-so-far median and
   25-75% band, and samples to the global optimum;
2. the reward spread of each node's children (Fig. 2b), WITHOUT search, from the full table
   (``lanas_jax.dynamics.children_spread``): for each action space and each depth ``d`` of its
   action tree, every node at ``d`` with at least two non-empty children (forced moves, such as
   the kernel of a layer slot past the network's depth, are skipped), the mean metric of the
   entries below each child; a node's spread is the std and the max - min of those means,
   averaged over nodes weighted by entries. The same for LaNAS's learned partition: its tree
   (``fit_tree``, --lanas_ridge) fitted on the whole table with --ref_height levels (default
   --lanas_height, 5), each entry routed to a leaf by ``route``, its internal nodes' two
   children compared per tree level. Also per depth: the share of the metric's variance
   explained by the nodes after ``d + 1`` actions, drawn against the number of those nodes
   (regions) so that 2-way and 5-way actions compare at equal resolution. The paper's point is
   that `global` (and LaNAS's learned action space) has children with more distinct rewards
   than `sequential`.

  python -m experiments.sec2 --seeds=100
  python -m experiments.sec2 --seeds=20 --references=lanas,random,evolution

Writes --output_dir/sec2.json, curves.png (search curves) and spread.png (children's spread and
explained variance against the number of regions).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from absl import app

from experiments import algos, common_flags
from lanas_jax import analysis, dynamics
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.runner import seed_keys
from lanas_jax.scanned import table_evaluator
from lanas_jax.strategies.mcts import MCTS, actions_of, node_ids, radices
from lanas_jax.study import sweep_report

#: The two hand-designed action spaces of Sec. 2, by the name this binary reports them under.
ACTION_SPACES = {"sequential": "convnet_sequential", "global": "convnet_global"}

_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "convnet1364_digits",
    "A ConvNet table (LaNAS Sec. 2 space): the embedded name or a table built by "
    "experiments.build_convnet_table.",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Searches per strategy.")
_BUDGET = common_flags.DEFINE_integer("budget", 0, "Samples per search (0 = the whole table).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_REFERENCES = common_flags.DEFINE_list(
    "references", ["lanas", "random"], "Strategies run as reference lines (may be empty).")
_REF_HEIGHT = common_flags.DEFINE_integer(
    "ref_height", None, "Levels of LaNAS's reference partition (default: --lanas_height).")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/sec2", "Where outputs go.")


def action_space_paths(bench, space: str) -> np.ndarray:
    """``[N, depth + 1]`` node ids of every entry's action prefixes in an MCTS action space."""
    radix = radices(space, bench.dim, 0)
    return np.asarray(node_ids(actions_of(bench.features, space, 0), radix))


def build(name: str, bench):
    """(label, strategy, params) for an action space name or a reference strategy."""
    if name in ACTION_SPACES:
        strategy, params = algos.build("mcts")
        return f"mcts_{name}", dataclasses.replace(strategy,
                                                   action_space=ACTION_SPACES[name]), params
    strategy, params = algos.build(name)
    return name, strategy, params


def search(label, strategy, params, bench, budget) -> dict:
    rep = sweep_report(strategy, bench, seed_keys(_SEED.value, _SEEDS.value), budget, params)
    metric = rep.pop("metric")
    del rep["history"]
    return {"algo": label, **rep, "best_so_far": analysis.best_so_far(metric)}


def plot_spread(spreads: dict[str, list[dict]], title: str, path: str) -> None:
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in spreads.items():
        d = [r["depth"] for r in rows if r["mean_std"] is not None]
        s = [r["mean_std"] for r in rows if r["mean_std"] is not None]
        axes[0].plot(d, s, marker="o", label=name)
        axes[1].plot([r["children"] for r in rows], [r["explained_variance"] for r in rows],
                     marker="o", label=name)
    axes[0].set_xlabel("depth d of the node (actions taken)")
    axes[0].set_ylabel("std of the children's mean metric")
    axes[0].set_title("children's reward spread (decision nodes, entry-weighted)", fontsize=9)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("regions (non-empty nodes after d + 1 actions)")
    axes[1].set_ylabel("explained share of the metric's variance")
    axes[1].set_title("variance between the regions, one point per depth", fontsize=9)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        bench = load_benchmark(_BENCHMARK.value)
    except ValueError as e:
        raise app.UsageError(f"--benchmark: {e}") from e
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
    if not 1 <= budget <= bench.size:
        raise app.UsageError(f"--budget={_BUDGET.value} is outside [1, {bench.size}] for "
                             f"{bench.name} (0 = the whole table)")
    for name in _REFERENCES.value:
        if name not in algos.names():
            raise app.UsageError(f"--references: unknown strategy {name!r}; known: "
                                 f"{', '.join(algos.names())}")
    try:
        MCTS(action_space="convnet_global").validate(table_evaluator(bench).domain, budget)
        lanas, lanas_params = algos.build("lanas")
    except ValueError as e:
        raise app.UsageError(f"--benchmark={_BENCHMARK.value}: {e}") from e
    height = lanas.tree_height if _REF_HEIGHT.value is None else _REF_HEIGHT.value
    if not 2 <= height <= 12:
        raise app.UsageError(f"--ref_height must be in [2, 12], got {height}")
    metric = np.asarray(bench.metric)

    # (2) The children's reward spread, from the table alone.
    spreads = {name: dynamics.children_spread(action_space_paths(bench, space), metric)
               for name, space in ACTION_SPACES.items()}
    partition = dynamics.reference_partition(bench.features, metric, height, lanas_params.ridge)
    spreads[f"lanas_h{height}"] = dynamics.children_spread(
        dynamics.tree_paths(partition.leaf_of, height), metric)
    print(f"{bench.name} ({bench.size} entries, metric std {metric.std():.4f}): std [max-min] "
          "of the children's mean metric, decision nodes, entry-weighted; share of variance "
          "explained after d+1 actions")
    for name, rows in spreads.items():
        print(f"\n{name}: overall std {dynamics.overall_spread(rows):.4f}, max-min "
              f"{dynamics.overall_spread(rows, 'mean_range'):.4f}")
        print(f"{'depth':>5} {'nodes':>6} {'decide':>6} {'std':>8} {'max-min':>8} "
              f"{'children':>8} {'expl.var':>8}")
        for r in rows:
            std = "-" if r["mean_std"] is None else f"{r['mean_std']:.4f}"
            rng = "-" if r["mean_range"] is None else f"{r['mean_range']:.4f}"
            print(f"{r['depth']:>5} {r['nodes']:>6} {r['decision_nodes']:>6} {std:>8} {rng:>8} "
                  f"{r['children']:>8} {r['explained_variance']:>8.3f}")

    # (1) The search curves.
    entries = []
    for name in [*ACTION_SPACES, *_REFERENCES.value]:
        label, strategy, params = build(name, bench)
        print(f"\n{bench.name}: {label}, {_SEEDS.value} seeds x {budget} samples ...", flush=True)
        try:
            entries.append(search(label, strategy, params, bench, budget))
        except ValueError as e:
            raise app.UsageError(f"{label} on {bench.name}: {e}") from e
    print(f"\n{bench.name}: samples to the optimum ({_SEEDS.value} seeds, budget {budget})")
    print(f"{'algo':<16} {'median':>8} {'mean':>10} {'reached':>8} {'run s':>7} {'compile s':>9}")
    for e in entries:
        s = e["summary"]
        med = s["median_samples_to_optimum"]
        mean = s["mean_samples_to_optimum"]
        mean = f">={s['mean_samples_lower_bound']:.1f}" if mean is None else f"{mean:.1f}"
        print(f"{e['algo']:<16} {'n/a' if med is None else f'{med:.1f}':>8} {mean:>10} "
              f"{s['seeds_reached']:>4}/{_SEEDS.value:<3} {e['run_seconds']:>7.1f} "
              f"{e['compile_seconds']:>9.1f}")

    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    title = f"{bench.name}, {_SEEDS.value} seeds"
    analysis.plot_curves({e["algo"]: e["best_so_far"] for e in entries}, bench.optimum, title,
                         os.path.join(_OUTPUT_DIR.value, "curves.png"))
    plot_spread(spreads, f"{bench.name}: children's reward spread per depth (no search)",
                os.path.join(_OUTPUT_DIR.value, "spread.png"))
    for e in entries:
        e["best_so_far_median"] = np.median(e.pop("best_so_far"), 0).round(6).tolist()
    report = {
        "benchmark": bench.name, "entries_in_table": bench.size, "budget": budget,
        "seeds": _SEEDS.value, "seed": _SEED.value, "optimum": bench.optimum,
        "metric_std": float(metric.std()),
        "spread": {name: {"overall_std": dynamics.overall_spread(rows),
                          "overall_range": dynamics.overall_spread(rows, "mean_range"),
                          "depths": rows} for name, rows in spreads.items()},
        "lanas_reference": {"height": height, "ridge": float(lanas_params.ridge),
                            "leaf_entries": np.bincount(partition.leaf_of,
                                                        minlength=partition.num_leaves).tolist()},
        "search": entries,
    }
    path = os.path.join(_OUTPUT_DIR.value, "sec2.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {path}, curves.png and spread.png in {_OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
