r"""Seed 000 (LaNAS) Fig. 6: ablations of the tree height, #selects, node model and #init.

Paper, Sec. 4.5 "Ablation studies", and the Fig. 6 caption: "(a) the effect of different tree
heights and #select in MCTS. Number in each entry is #samples to reach global optimal. (b) the
choice of predictor for splitting search space. (c-d) the effect of #samples for initialization
toward the search performance." The paper's readings, to compare with: (a) "A deeper tree leads
to better performance ... small #select results in more frequent updates of action space ... and
thus leads to improvement" (each entry "averaged over 100 runs" on NASBench); (b) "using a linear
classifier performs better than an multi-layer perceptron (MLP) classifier"; (c-d) "cold start is
necessary (init > 0 is better than init = 0). Also, small init=100-400 converges to top 5%
performance much faster than init=2000 (Fig. 6c), while init=2000 gets the best performance
faster (Fig. 6d)."

--parts picks the studies (default all three); each runs --seeds LaNAS searches of --budget
samples per setting (0 = the whole table, so every seed reaches the optimum and the means are
exact; otherwise seeds that never reached it are censored at the budget, see
``lanas_jax.analysis.summarize``, and means print as lower bounds ">="):

* ``grid`` (Fig. 6a): mean and median samples to the global optimum for every
  (--heights x --selects) pair; a table on stdout and the heat map grid.png.
* ``node_model`` (Fig. 6b): --node_models (linear, mlp; ``lanas_jax/partition/mlp_tree.py``)
  at the --lanas_* setting; box chart node_model.png and best-so-far curves
  node_model_curves.png.
* ``init`` (Fig. 6c-d): num_init in --inits; per seed the samples to the table's top
  --top_fraction (5%: the first sample whose metric reaches the ceil(5% N)-th best entry's,
  Fig. 6c) and to the global optimum (Fig. 6d); best-so-far median curves init_curves.png and
  the two box charts init.png.

Every LaNAS setting not varied by a study comes from the --lanas_* flags (experiments/algos;
defaults: the reference code's height 5, 20 selects, 10 initial samples, linear nodes); pass
--lanas_selects=100 --lanas_init=400 for the paper's Sec. 4.2 setting.

Each setting is one ``jit(vmap)`` call over the seeds (``lanas_jax.runner.timed_sweep``), and
the settings are a Python loop, one compile each: none of the studied settings can be a vmapped
axis. The tree height fixes array shapes (2^h - 1 nodes); the node model is different code;
#selects and #init decide *when* the tree is refitted, a ``lax.cond`` on the query counter that
stays a real branch under vmap over seeds only because the counter is not batched. Batching
#selects or #init would batch that predicate, and vmap of ``cond`` with a batched predicate runs
both branches, i.e. a refit at every query for every setting.

  python -m experiments.fig6 --seeds=4 --budget=2000 --heights=3,5 --selects=20,100 \
      --inits=0,100
  python -m experiments.fig6 --parts=grid --seeds=100 --budget=0       # the full Fig. 6a

Writes --output_dir/fig6.json and the figures named above.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from absl import app

from experiments import algos, common_flags
from lanas_jax import analysis
from lanas_jax.benchmarks import load_benchmark
from lanas_jax.config import config_dict
from lanas_jax.partition.lanas import NODE_MODELS
from lanas_jax.partition.lanas_config import LaNASConfig
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.runner import check_budget, seed_keys
from lanas_jax.study import sweep_report

PARTS = ("grid", "node_model", "init")

_BENCHMARK = common_flags.DEFINE_string(
    "benchmark", "nb201_cifar10",
    "An embedded benchmark name, a .npz table or nb101:/path/to/nasbench.tfrecord[?options].",
)
_SEEDS = common_flags.DEFINE_integer("seeds", 100, "Independent searches per setting.")
_BUDGET = common_flags.DEFINE_integer("budget", 0, "Samples per search (0 = the whole table).")
_SEED = common_flags.DEFINE_integer(
    "seed", 0, "Master seed (every setting uses the same seed keys)."
)
_PARTS = common_flags.DEFINE_list("parts", list(PARTS), f"Studies to run, of {', '.join(PARTS)}.")
_HEIGHTS = common_flags.DEFINE_list(
    "heights", ["3", "4", "5", "6", "7", "8"], "grid: tree heights."
)
_SELECTS = common_flags.DEFINE_list("selects", ["10", "20", "50", "100", "200"], "grid: #selects.")
_NODE_MODELS = common_flags.DEFINE_list(
    "node_models", list(NODE_MODELS), f"node_model: node regressors, of {', '.join(NODE_MODELS)}."
)
_INITS = common_flags.DEFINE_list("inits", ["0", "100", "400", "2000"], "init: initial samples.")
_TOP_FRACTION = common_flags.DEFINE_float(
    "top_fraction", 0.05, "init: the top fraction of the table Fig. 6c measures time to."
)
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/fig6", "Where outputs go.")


def _ints(name: str, values: list[str], low: int) -> list[int]:
    """A list flag as integers >= ``low`` (no duplicates), or a UsageError naming the flag."""
    try:
        out = [int(v) for v in values]
    except ValueError:
        raise app.UsageError(f"--{name}: expected integers, got {','.join(values)}") from None
    if not out:
        raise app.UsageError(f"--{name} is empty")
    bad = [v for v in out if v < low]
    if bad:
        what = "positive" if low == 1 else f">= {low}"
        raise app.UsageError(f"--{name} must be {what}, got {bad}")
    if len(set(out)) != len(out):
        raise app.UsageError(f"--{name} has duplicates: {','.join(values)}")
    return out


def check_flags(bench) -> dict:
    """The parsed settings of the requested parts, or a UsageError naming the bad flag."""
    parts = list(_PARTS.value)
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise app.UsageError(f"--parts: unknown part(s) {unknown}; known: {', '.join(PARTS)}")
    if _SEEDS.value < 1:
        raise app.UsageError(f"--seeds must be >= 1, got {_SEEDS.value}")
    if _BUDGET.value < 0:
        raise app.UsageError(f"--budget must be >= 0 (0 = the whole table), got {_BUDGET.value}")
    budget = bench.size if _BUDGET.value == 0 else _BUDGET.value
    if budget > bench.size:
        raise app.UsageError(f"--budget={budget} is larger than {bench.name} ({bench.size} "
                             "entries): a search never queries an entry twice")
    out = {"parts": parts, "budget": budget}
    if "grid" in parts:
        out["heights"] = _ints("heights", _HEIGHTS.value, 1)
        out["selects"] = _ints("selects", _SELECTS.value, 1)
    if "node_model" in parts:
        models = list(_NODE_MODELS.value)
        bad = [m for m in models if m not in NODE_MODELS]
        if bad or not models:
            raise app.UsageError(f"--node_models: unknown {bad}; known: {', '.join(NODE_MODELS)}")
        out["node_models"] = models
    if "init" in parts:
        inits = _ints("inits", _INITS.value, 0)
        over = [i for i in inits if i >= budget]
        if over:
            raise app.UsageError(f"--inits {over} >= --budget={budget}: the initial random "
                                 "samples would use the whole budget")
        if not 0 < _TOP_FRACTION.value <= 1:
            raise app.UsageError(f"--top_fraction must be in (0, 1], got {_TOP_FRACTION.value}")
        out["inits"] = inits
    return out


def config_of(strategy, params) -> dict:
    """A JSON-able record of a LaNAS configuration and its params."""
    return {**config_dict(strategy), **config_dict(params)}


def settings(base: LaNASConfig, cfg: dict) -> dict[str, list[tuple[str, dict, object]]]:
    """Every LaNAS the requested parts run, per part: (label, what varies, strategy)."""
    out = {}
    if "grid" in cfg["parts"]:
        out["grid"] = [(f"height {h}, #selects {s}", {"height": h, "selects": s},
                        dataclasses.replace(base, tree_height=h, num_selects=s).build())
                       for h in cfg["heights"] for s in cfg["selects"]]
    if "node_model" in cfg["parts"]:
        out["node_model"] = [(f"node model {m}", {"node_model": m},
                              dataclasses.replace(base, node_model=m).build())
                             for m in cfg["node_models"]]
    if "init" in cfg["parts"]:
        out["init"] = [(f"{i} initial samples", {"num_init": i},
                        dataclasses.replace(base, num_init=i).build()) for i in cfg["inits"]]
    return out


def check_settings(plan: dict, bench, budget: int) -> None:
    """Refuse, before any search runs, a setting LaNAS itself refuses (a height above 12,
    the MLP nodes with a polytope leaf sampler, ...)."""
    for part in plan.values():
        for label, _, strategy in part:
            try:
                check_budget(strategy, bench, budget)
            except ValueError as e:
                raise app.UsageError(f"LaNAS {label}: {e}") from e


_DONE: dict = {}


def run_setting(strategy, params, bench, budget: int, label: str) -> dict:
    """``--seeds`` searches of one setting as one vmapped call; samples to the optimum.

    A setting that recurs across parts (e.g. the node-model study's linear LaNAS is a grid
    cell) is run once: the seed keys are the same, so the searches would be too.
    """
    key = (strategy, params, bench.name, budget, _SEEDS.value, _SEED.value)
    if key in _DONE:
        print(f"{bench.name}: {label}: same LaNAS as {_DONE[key][0]}, reused", flush=True)
        return dict(_DONE[key][1])
    print(f"{bench.name}: {label}, {_SEEDS.value} seeds x {budget} samples ...", flush=True)
    try:
        rep = sweep_report(strategy, bench, seed_keys(_SEED.value, _SEEDS.value), budget,
                           params)
    except ValueError as e:
        raise app.UsageError(f"LaNAS {label}: {e}") from e
    result = {k: rep[k] for k in ("samples_to_optimum", "summary", "metric", "compile_seconds",
                                  "run_seconds")}
    _DONE[key] = (label, result)
    return dict(result)


def _fmt_mean(summary: dict) -> str:
    mean, exact = analysis.mean_samples(summary)
    return ("" if exact else ">=") + f"{mean:.0f}"


def _fmt_median(summary: dict) -> str:
    med = summary["median_samples_to_optimum"]
    return "n/a" if med is None else f"{med:.0f}"


def run_grid(plan, params, bench, budget: int, heights: list[int], selects: list[int]) -> dict:
    """Fig. 6a: samples to the optimum for every (height, #selects)."""
    cells = []
    for label, varied, strategy in plan:
        r = run_setting(strategy, params, bench, budget, label)
        r.pop("metric")
        cells.append({**varied, **r})
    by = {(c["height"], c["selects"]): c["summary"] for c in cells}

    def table(fn):
        return [[fn(by[(h, s)]) for s in selects] for h in heights]

    return {"heights": heights, "selects": selects, "cells": cells,
            "mean_table": table(lambda s: analysis.mean_samples(s)[0]),
            "mean_exact": table(lambda s: analysis.mean_samples(s)[1]),
            "median_table": table(lambda s: s["median_samples_to_optimum"])}


def print_grid(grid: dict, bench, budget: int) -> None:
    print(f"\nFig. 6a, {bench.name}, budget {budget}, {_SEEDS.value} seeds: mean (median) "
          "samples to the optimum; rows: tree height, columns: #selects")
    print(f"{'height':>8} " + " ".join(f"{s:>20}" for s in grid["selects"]))
    by = {(c["height"], c["selects"]): c for c in grid["cells"]}
    for h in grid["heights"]:
        row = []
        for s in grid["selects"]:
            summary = by[(h, s)]["summary"]
            cell = f"{_fmt_mean(summary)} ({_fmt_median(summary)})"
            if summary["seeds_reached"] < summary["num_seeds"]:
                cell += f" {summary['seeds_reached']}/{summary['num_seeds']}"
            row.append(cell)
        print(f"{h:>8} " + " ".join(f"{r:>20}" for r in row))
    print("(>=: some seeds never reached the optimum, counted at budget + 1; a/b: seeds that "
          "reached it)")


def plot_grid(grid: dict, title: str, path: str) -> None:
    """The heat map of Fig. 6a: mean samples to the optimum per (height, #selects)."""
    plt = pyplot()
    from matplotlib.colors import LogNorm

    mean = np.asarray(grid["mean_table"], float)
    fig, ax = plt.subplots(figsize=(1.1 * len(grid["selects"]) + 2.4,
                                    0.6 * len(grid["heights"]) + 1.8))
    norm = LogNorm() if mean.max() > 10 * mean.min() else None
    image = ax.imshow(mean, cmap="viridis_r", norm=norm, aspect="auto")
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            prefix = "" if grid["mean_exact"][i][j] else "≥"
            ax.text(j, i, f"{prefix}{mean[i, j]:.0f}", ha="center", va="center", fontsize=8,
                    color="w" if mean[i, j] > np.sqrt(mean.min() * mean.max()) else "k")
    ax.set_xticks(range(len(grid["selects"])), [str(s) for s in grid["selects"]])
    ax.set_yticks(range(len(grid["heights"])), [str(h) for h in grid["heights"]])
    ax.set_xlabel("#selects")
    ax.set_ylabel("tree height")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="mean samples to the optimum")
    save_figure(fig, path)


def run_node_models(plan, params, bench, budget: int) -> list[dict]:
    """Fig. 6b: the same searches with linear and MLP node regressors."""
    entries = []
    for label, varied, strategy in plan:
        r = run_setting(strategy, params, bench, budget, label)
        metric = r.pop("metric")
        entries.append({**varied, "config": config_of(strategy, params), **r,
                        "best_so_far": analysis.best_so_far(metric)})
    return entries


def run_inits(plan, params, bench, budget: int, top: float) -> list[dict]:
    """Fig. 6c-d: samples to the table's top fraction and to the optimum per num_init."""
    entries = []
    for label, varied, strategy in plan:
        r = run_setting(strategy, params, bench, budget, label)
        metric = r.pop("metric")
        to_top = analysis.samples_to_optimum(metric, top)
        entries.append({**varied, **r, "samples_to_top": to_top,
                        "top_summary": analysis.summarize(to_top, budget),
                        "best_so_far": analysis.best_so_far(metric)})
    return entries


def print_entries(title: str, labels: list[str], entries: list[dict], top: bool) -> None:
    print(f"\n{title}")
    head = f"{'setting':<14} {'mean':>8} {'median':>8} {'reached':>9}"
    print(head + (f" {'top: mean':>10} {'median':>8} {'reached':>9}" if top else "")
          + f" {'run s':>8}")
    for label, e in zip(labels, entries, strict=True):
        s = e["summary"]
        line = (f"{label:<14} {_fmt_mean(s):>8} {_fmt_median(s):>8} "
                f"{s['seeds_reached']:>4}/{s['num_seeds']:<4}")
        if top:
            t = e["top_summary"]
            line += (f" {_fmt_mean(t):>10} {_fmt_median(t):>8} "
                     f"{t['seeds_reached']:>4}/{t['num_seeds']:<4}")
        print(line + f" {e['run_seconds']:>8.1f}")


def _curves_to_json(entries: list[dict]) -> None:
    for e in entries:
        e["best_so_far_median"] = np.median(e.pop("best_so_far"), 0).round(6).tolist()


def plot_init(entries: list[dict], labels: list[str], budget: int, pct: str, title: str,
              path: str) -> None:
    """Fig. 6c-d as box charts: samples to the top fraction (c) and to the optimum (d)."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 1.6 * len(labels) + 4), 3.8))
    for ax, key, name in ((axes[0], "samples_to_top", f"(c) samples to the top {pct}"),
                          (axes[1], "samples_to_optimum", "(d) samples to the optimum")):
        analysis.draw_samples_box(ax, labels, [e[key] for e in entries], budget)
        ax.set_title(name, fontsize=9)
    fig.suptitle(f"Fig. 6c-d: initial samples, {title}", fontsize=9)
    save_figure(fig, path)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        bench = load_benchmark(_BENCHMARK.value)
    except ValueError as e:
        raise app.UsageError(f"--benchmark: {e}") from e
    cfg = check_flags(bench)
    budget = cfg["budget"]
    try:
        base, params = algos.build("lanas", flat=True)
    except ValueError as e:
        raise app.UsageError(f"--lanas_*: {e}") from e
    plan = settings(base, cfg)
    check_settings(plan, bench, budget)
    out_dir = _OUTPUT_DIR.value
    os.makedirs(out_dir, exist_ok=True)
    report = {"benchmark": bench.name, "size": bench.size, "budget": budget,
              "seeds": _SEEDS.value, "seed": _SEED.value, "optimum": bench.optimum,
              "parts": cfg["parts"], "lanas": config_of(base.build(), params)}
    title = f"{bench.name}, {_SEEDS.value} seeds, budget {budget}"
    if "grid" in cfg["parts"]:
        grid = run_grid(plan["grid"], params, bench, budget, cfg["heights"], cfg["selects"])
        print_grid(grid, bench, budget)
        plot_grid(grid, f"Fig. 6a: mean samples to the optimum\n{title}",
                  os.path.join(out_dir, "grid.png"))
        report["grid"] = grid
    if "node_model" in cfg["parts"]:
        entries = run_node_models(plan["node_model"], params, bench, budget)
        labels = [e["node_model"] for e in entries]
        print_entries(f"Fig. 6b, {title}: samples to the optimum by node model", labels,
                      entries, top=False)
        analysis.plot_samples_box(labels, [e["samples_to_optimum"] for e in entries], budget,
                                  f"Fig. 6b: node model, {title}",
                                  os.path.join(out_dir, "node_model.png"))
        analysis.plot_curves(dict(zip(labels, [e["best_so_far"] for e in entries],
                                      strict=True)), bench.optimum, f"Fig. 6b, {title}",
                             os.path.join(out_dir, "node_model_curves.png"))
        _curves_to_json(entries)
        report["node_model"] = {"entries": entries}
    if "init" in cfg["parts"]:
        top = analysis.top_threshold(np.asarray(bench.metric), _TOP_FRACTION.value)
        entries = run_inits(plan["init"], params, bench, budget, top)
        labels = [f"init={e['num_init']}" for e in entries]
        pct = f"{100 * _TOP_FRACTION.value:g}%"
        print_entries(f"Fig. 6c-d, {title}: samples to the optimum, and to the top {pct} "
                      f"(metric >= {top:.6g})", labels, entries, top=True)
        analysis.plot_curves(dict(zip(labels, [e["best_so_far"] for e in entries],
                                      strict=True)), bench.optimum, f"Fig. 6c-d, {title}",
                             os.path.join(out_dir, "init_curves.png"))
        plot_init(entries, labels, budget, pct, title, os.path.join(out_dir, "init.png"))
        _curves_to_json(entries)
        report["init"] = {"top_fraction": _TOP_FRACTION.value, "top_threshold": top,
                          "entries": entries}
    path = os.path.join(out_dir, "fig6.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote {path} and the figures in {out_dir}")


if __name__ == "__main__":
    app.run(main)
