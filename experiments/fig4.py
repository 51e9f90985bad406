r"""Seed 000 (LaNAS) Fig. 4: search dynamics, the queries' per-leaf distribution against a
reference partition of the whole table.

Paper, Sec. 4.1 "Analysis of Search Algorithm" (4.4 in some versions) and Fig. 4: a reference
distribution ``p*_j`` per leaf ``j`` of a height-5 tree "trained toward the entire dataset",
compared with the distribution ``p^n_j`` of the first ``n`` samples of a search in that leaf, by
``D_KL[p^n_j || p*_j]`` and the mean metrics ``v̄^n_j`` vs ``v̄*_j``. The paper's reading: at
``n = 200`` (the random initialisation) the best leaves are under-sampled, by ``n = 700`` ``p^n``
approaches ``p*`` (KL dips), then LaNAS zooms into the promising regions (KL bounces back) and
``v̄ - v̄*`` keeps growing.

What this binary does (post hoc; the search is unchanged): the reference tree is LaNAS's own
(``lanas_jax.partition.tree.fit_tree`` with --lanas_ridge) fitted on every entry of the table,
of --ref_height levels (default: --lanas_height, 5), and routes every entry to a leaf; leaves are
numbered as heap nodes (15..30 for height 5; node 15 is the predicted-best leaf). --seeds
LaNAS searches (``algos.build("lanas")``, every --lanas_* flag applies; this binary's defaults
are --lanas_init=200, the paper's "n=200 for random initialization", and --lanas_selects=100,
the #select of Sec. 4.2) run as one vmapped call of --budget samples. At every checkpoint ``n``
the first ``n`` queries of each search are assigned to leaves (see below); per leaf, histograms
on --bins shared bins over the table's metric range give the KL (--kl_epsilon smoothing), which
is averaged over the leaves holding queries weighted by their number of queries, and the mean
gap is ``mean_j (v̄^n_j - v̄*_j)`` over the leaves holding queries (``lanas_jax/dynamics.py``).
Per checkpoint the median and mean over seeds are reported.

Which leaf a query is counted in (--partitions, both by default): ``reference`` routes it by the
reference tree (fixed regions; this measures how unevenly the search samples inside each
reference leaf); ``search`` routes it by the search's own tree refitted on its first ``n``
queries (``dynamics.search_tree_leaves``: with the default flags and checkpoints, the tree LaNAS
itself fits at that point), the paper's "samples in D_t ∩ Ω_j at the node j" (its remark that
p^200 of the best leaves falls short of p* "because the tree still learns to partition" only
makes sense for the search's tree). Leaf ``j`` of both trees is the same heap position.

With --reference_random (default) uniform random search is measured the same way. In the
reference tree its queries are drawn from ``p*_j`` itself, so its KL is the finite-sample floor
of the measure and its gap is ~0; in the search tree it shows what a tree fitted on n uniform
samples gives without the search's zooming in.

The paper used NASBench-101 (420K entries); the default here is the embedded nb201_cifar10
(15,625), where 5,000 samples are a third of the table (``--benchmark=nb101:/path`` works too).

  python -m experiments.fig4 --seeds=4 --budget=3000
  python -m experiments.fig4 --seeds=100 --budget=5000 --lanas_init=400

Writes --output_dir/fig4.json and fig4.png: (a) KL and mean gap against n (median over seeds,
25-75% band; solid: reference tree, dashed: search tree), (b) one row per partition mode: the
histograms of four leaves (--hist_nodes; default the first two and the last two leaves, 15,
16, 29, 30 for height 5; the paper's text numbers them 15, 16, 28, 29 as it counts 15 leaves)
at three checkpoints (--hist_checkpoints), pooled over seeds, against p*.
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import app, flags

from experiments import algos, common_flags
from experiments.algos import lanas as lanas_flags
from lanas_jax import analysis, dynamics
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.partition.tree import num_internal
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.runner import seed_keys
from lanas_jax.strategies.random_search import RandomSearch
from lanas_jax.study import sweep_report

DEFAULT_CHECKPOINTS = (200, 700, 1000, 2000, 5000)

_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10",
    "An embedded benchmark name, a .npz table or nb101:/path/to/nasbench.tfrecord[?options].",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent LaNAS searches.")
_BUDGET = common_flags.DEFINE_integer("budget", 5000, "Samples per search (0 = the whole table).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed.")
_CHECKPOINTS = common_flags.DEFINE_list(
    "checkpoints", [str(c) for c in DEFAULT_CHECKPOINTS],
    "Sample counts n at which p^n is measured. By default those above --budget are dropped; "
    "given explicitly, each must be <= --budget.",
)
_BINS = common_flags.DEFINE_integer("bins", 50, "Histogram bins over the table's metric range.")
_EPS = common_flags.DEFINE_float("kl_epsilon", dynamics.KL_EPSILON,
                          "Added to every bin's probability before the KL.")
_REF_HEIGHT = common_flags.DEFINE_integer(
    "ref_height", None, "Levels of the reference tree (default: --lanas_height).")
_HIST_NODES = common_flags.DEFINE_list(
    "hist_nodes", None,
    "Heap node numbers of the leaves drawn in panel (b) (default: first two and last two).",
)
_HIST_CHECKPOINTS = common_flags.DEFINE_list(
    "hist_checkpoints", None,
    "Checkpoints drawn in panel (b) (default: the first, second and last checkpoint).",
)
_PARTITIONS = common_flags.DEFINE_list(
    "partitions", ["reference", "search"],
    "Which leaf a query is counted in: reference = routed by the reference tree (fixed "
    "regions); search = routed by the search's own tree refitted on its first n queries "
    "(the paper's D_t ∩ Ω_j). Panel (b) has one row per entry.",
)
_RANDOM = common_flags.DEFINE_bool(
    "reference_random", True, "Also measure uniform random search (the KL's sampling floor).")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/fig4", "Where outputs go.")

# This study's LaNAS defaults (the paper's Fig. 4 / Sec. 4.2 setting); flags override them.
# Passed to algos.build rather than set on the shared --lanas_* flags, so that importing this
# binary leaves other binaries' defaults alone; run as the program, --helpfull shows them.
LANAS_DEFAULTS = {"num_init": 200, "num_selects": 100}
if __name__ == "__main__":
    for _field, _value in LANAS_DEFAULTS.items():
        flags.FLAGS.set_default(lanas_flags.STRATEGY.flag_name(_field), _value)


def _ints(name: str, values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise app.UsageError(f"--{name}: expected integers, got {','.join(values)}") from None


def parse_checkpoints(budget: int) -> list[int]:
    """The sorted checkpoints <= budget; explicit ones above the budget are an error."""
    points = _ints("checkpoints", _CHECKPOINTS.value)
    if not points:
        raise app.UsageError("--checkpoints is empty")
    bad = [c for c in points if c < 1]
    if bad:
        raise app.UsageError(f"--checkpoints must be positive, got {bad}")
    over = [c for c in points if c > budget]
    if over and _CHECKPOINTS.present:
        raise app.UsageError(f"--checkpoints {over} larger than --budget={budget}")
    points = sorted({c for c in points if c <= budget})
    if not points:
        raise app.UsageError(f"no checkpoint <= --budget={budget} "
                             f"(checkpoints {_CHECKPOINTS.value}); pass --checkpoints")
    return points


def check_flags(bench) -> tuple[int, list[int], int, list[int], list[int]]:
    """Budget, checkpoints, reference height, histogram leaves (node numbers) and histogram
    checkpoints, or a UsageError naming the bad flag."""
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
    if budget < 1:
        raise app.UsageError(f"--budget must be >= 0, got {_BUDGET.value}")
    if budget > bench.size:
        raise app.UsageError(f"--budget={budget} is larger than {bench.name} "
                             f"({bench.size} entries): a search never queries an entry twice")
    checkpoints = parse_checkpoints(budget)
    if _BINS.value < 2:
        raise app.UsageError(f"--bins must be >= 2, got {_BINS.value}")
    if not _EPS.value > 0:
        raise app.UsageError(f"--kl_epsilon must be > 0, got {_EPS.value}")
    height = flags.FLAGS.lanas_height if _REF_HEIGHT.value is None else _REF_HEIGHT.value
    if not 2 <= height <= 12:
        raise app.UsageError(f"--ref_height must be in [2, 12], got {height}")
    first, last = num_internal(height), 2 * num_internal(height)
    if _HIST_NODES.value is None:
        nodes = [first, first + 1, last - 1, last] if height > 2 else [first, last]
    else:
        nodes = _ints("hist_nodes", _HIST_NODES.value)
        bad = [n for n in nodes if not first <= n <= last]
        if bad or not nodes:
            raise app.UsageError(f"--hist_nodes {bad or nodes} are not leaves of a height-"
                                 f"{height} tree (nodes {first}..{last})")
    if _HIST_CHECKPOINTS.value is None:
        shown = sorted({checkpoints[0], checkpoints[min(1, len(checkpoints) - 1)],
                        checkpoints[-1]})
    else:
        shown = _ints("hist_checkpoints", _HIST_CHECKPOINTS.value)
        bad = [c for c in shown if c not in checkpoints]
        if bad or not shown:
            raise app.UsageError(f"--hist_checkpoints {bad or shown} are not among the "
                                 f"checkpoints {checkpoints}")
    return budget, checkpoints, height, nodes, shown


def measure(name, strategy, params, bench, budget, checkpoints, partition, edges, ridge,
            modes) -> dict:
    """One sweep of ``strategy`` and its Fig. 4 statistics under every partition mode."""
    rep = sweep_report(strategy, bench, seed_keys(_SEED.value, _SEEDS.value), budget, params)
    indices = np.asarray(rep["history"].indices)
    out = {
        "algo": name,
        "config": rep["config"],
        "params": config_dict(params) if params is not None else {},
        "summary": rep["summary"],
        "compile_seconds": rep["compile_seconds"],
        "run_seconds": rep["run_seconds"],
        "partitions": {},
    }
    for mode in modes:
        leaves_of = None
        if mode == "search":
            def leaves_of(idx, n):
                return dynamics.search_tree_leaves(bench.features, bench.metric, idx,
                                                   partition.height, ridge, n=n)
        dyn = dynamics.search_dynamics(partition, np.asarray(bench.metric), indices,
                                       checkpoints, edges, _EPS.value, leaves_of)
        out["partitions"][mode] = {
            "kl": analysis.band(dyn["kl"]),
            "kl_unweighted": analysis.band(dyn["kl_unweighted"]),
            "gap": analysis.band(dyn["gap"]),
            # Per checkpoint and leaf: queries (mean over seeds), v̄^n_j (mean over the seeds
            # with a query there) and KL_j (median over those seeds).
            "leaf_queries_mean": dyn["leaf_count"].mean(1).tolist(),
            "leaf_value_mean": analysis.nan_to_none(analysis.nanmean(dyn["leaf_mean"], 1)),
            "leaf_kl_median": analysis.nan_to_none(analysis.nanmedian(dyn["leaf_kl"], 1)),
            "histograms": dyn["histograms"],
        }
    return out


def plot(entries, modes, checkpoints, shown, nodes, partition, ref_hist, edges, title, path
         ) -> None:
    plt = pyplot()

    styles = {"reference": "-", "search": "--"}
    fig = plt.figure(figsize=(3.2 * max(len(nodes), 2), 3.4 * (1 + len(modes))))
    grid = fig.add_gridspec(1 + len(modes), 2 * len(nodes))
    half = len(nodes)
    ax_kl, ax_gap = fig.add_subplot(grid[0, :half]), fig.add_subplot(grid[0, half:])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, e in zip(colours, entries, strict=False):
        for mode in modes:
            stats = e["partitions"][mode]
            for ax, key in ((ax_kl, "kl"), (ax_gap, "gap")):
                ax.plot(checkpoints, stats[key]["median"], marker="o", color=colour,
                        linestyle=styles[mode], label=f"{e['algo']}, {mode} tree")
                ax.fill_between(checkpoints, stats[key]["q25"], stats[key]["q75"], alpha=0.15,
                                color=colour, linewidth=0)
    ax_kl.set_ylabel("KL[p^n_j || p*_j], leaves weighted by queries")
    ax_gap.set_ylabel("mean_j (v̄^n_j - v̄*_j)")
    ax_gap.axhline(0, color="k", linewidth=0.8, linestyle=":")
    for ax, name in ((ax_kl, "(a) KL divergence"), (ax_gap, "(a) mean gap")):
        ax.set_xscale("log")
        ax.set_xticks(checkpoints, [str(c) for c in checkpoints])
        ax.minorticks_off()
        ax.set_xlabel("samples n")
        ax.set_title(f"{name}: median, 25-75% over seeds", fontsize=9)
        ax.legend(fontsize=7)
    lanas = entries[0]
    centres = 0.5 * (edges[1:] + edges[:-1])
    width = edges[1] - edges[0]
    for row, mode in enumerate(modes, start=1):
        hists = lanas["partitions"][mode]["histograms"]
        for i, node in enumerate(nodes):
            ax = fig.add_subplot(grid[row, 2 * i: 2 * i + 2])
            leaf = node - partition.first_leaf_node
            ref = ref_hist[leaf]
            if ref.sum():
                ax.bar(centres, ref / ref.sum() / width, width=width, color="0.75",
                       label=f"p* ({int(ref.sum())})")
            used = ref.copy()
            for n in shown:
                h = np.asarray(hists[checkpoints.index(n)][leaf], float)
                used = used + h
                if h.sum():
                    ax.step(centres, h / h.sum() / width, where="mid",
                            label=f"n={n} ({int(h.sum())})")
            if used.sum():
                nz = np.flatnonzero(used)
                ax.set_xlim(edges[max(nz[0] - 2, 0)], edges[min(nz[-1] + 3, len(edges) - 1)])
            ax.set_title(f"(b) leaf node {node}, LaNAS, {mode} tree", fontsize=8)
            ax.set_xlabel("metric")
            ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=10)
    save_figure(fig, path, dpi=110)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        bench = load_benchmark(_BENCHMARK.value)
    except ValueError as e:
        raise app.UsageError(f"--benchmark: {e}") from e
    budget, checkpoints, height, nodes, shown = check_flags(bench)
    modes = list(dict.fromkeys(_PARTITIONS.value))
    bad = [m for m in modes if m not in ("reference", "search")]
    if bad or not modes:
        raise app.UsageError(f"--partitions: {bad or 'empty'}; choose from reference, search")
    try:
        strategy, params = algos.build("lanas", LANAS_DEFAULTS)
    except ValueError as e:
        raise app.UsageError(f"--lanas_*: {e}") from e
    metric = np.asarray(bench.metric)
    print(f"{bench.name}: reference tree of height {height} on all {bench.size} entries ...",
          flush=True)
    partition = dynamics.reference_partition(bench.features, metric, height, params.ridge)
    edges = dynamics.histogram_edges(metric, _BINS.value)
    ref_hist = dynamics.leaf_histograms(partition.leaf_of, metric, partition.num_leaves, edges)
    ref_mean, ref_count = dynamics.leaf_means(partition.leaf_of, metric, partition.num_leaves)
    print("leaf node:  " + " ".join(f"{n:>6}" for n in partition.leaf_nodes()))
    print("entries:    " + " ".join(f"{c:>6}" for c in ref_count))
    print("mean v*_j:  " + " ".join("     -" if np.isnan(m) else f"{m:>6.3f}" for m in ref_mean))

    runs = [("lanas", strategy, params)]
    if _RANDOM.value:
        runs.append(("random", RandomSearch(), None))
    entries = []
    for name, strat, prm in runs:
        print(f"{bench.name}: {name}, {_SEEDS.value} seeds x {budget} samples ...", flush=True)
        try:
            entries.append(measure(name, strat, prm, bench, budget, checkpoints, partition,
                                   edges, params.ridge, modes))
        except ValueError as e:
            raise app.UsageError(f"{name} on {bench.name}: {e}") from e

    for mode in modes:
        print(f"\nsearch dynamics on {bench.name}, queries in the {mode} tree's leaves "
              f"({_SEEDS.value} seeds; median [mean] over seeds; KL weighted by queries per leaf)")
        print(f"{'n':>6} " + " ".join(f"{e['algo'] + ' KL':>17} {e['algo'] + ' gap':>19}"
                                      for e in entries) + f" {'lanas leaves hit':>17}")
        counts = np.asarray(entries[0]["partitions"][mode]["leaf_queries_mean"])
        for i, n in enumerate(checkpoints):
            cells = []
            for e in entries:
                st = e["partitions"][mode]
                cells.append(f"{st['kl']['median'][i]:>8.3f} [{st['kl']['mean'][i]:>6.3f}]")
                cells.append(f"{st['gap']['median'][i]:>+9.4f} [{st['gap']['mean'][i]:>+7.4f}]")
            hit = int(np.sum(counts[i] > 0))
            print(f"{n:>6} " + " ".join(cells) + f" {hit:>11}/{partition.num_leaves}")
    s = entries[0]["summary"]
    print(f"LaNAS samples to the optimum: median {s['median_samples_to_optimum']}, "
          f"reached {s['seeds_reached']}/{s['num_seeds']}; run {entries[0]['run_seconds']:.1f} s "
          f"(compile {entries[0]['compile_seconds']:.1f} s)")

    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    png = os.path.join(_OUTPUT_DIR.value, "fig4.png")
    plot(entries, modes, checkpoints, shown, nodes, partition, ref_hist, edges,
         f"{bench.name}: LaNAS search dynamics, {_SEEDS.value} seeds, reference tree h={height}",
         png)
    for e in entries:  # pooled histograms of the drawn leaves only, to keep the JSON small
        for st in e["partitions"].values():
            st["histograms"] = {str(node): {str(n): st["histograms"][checkpoints.index(n)][
                node - partition.first_leaf_node].tolist() for n in shown} for node in nodes}
    report = {
        "benchmark": bench.name, "entries_in_table": bench.size, "budget": budget,
        "seeds": _SEEDS.value, "seed": _SEED.value, "checkpoints": checkpoints,
        "kl": {"epsilon": _EPS.value, "bins": _BINS.value, "leaf_average": "weighted by queries "
               "per leaf, over leaves with queries", "log": "natural"},
        "reference": {
            "height": height, "ridge": float(params.ridge),
            "leaf_nodes": partition.leaf_nodes().tolist(),
            "entries": ref_count.tolist(), "mean": analysis.nan_to_none(ref_mean),
            "histogram_edges": edges.tolist(),
            "histograms": {str(n): ref_hist[n - partition.first_leaf_node].tolist()
                           for n in nodes},
        },
        "partitions": modes, "hist_nodes": nodes, "hist_checkpoints": shown, "runs": entries,
    }
    path = os.path.join(_OUTPUT_DIR.value, "fig4.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {path} and {png}")


if __name__ == "__main__":
    app.run(main)
