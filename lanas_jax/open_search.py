"""Open-domain search by training (seed 000 Sec. 3.2 step 2 and Sec. 4.3): strategies propose
architectures of a space, a :class:`~lanas_jax.evaluators.train.TrainEvaluator` trains them on
a dataset, and the best one found is trained again for longer (the paper's final training).

What ``experiments.open_search`` and ``experiments.evaluate`` run, as library calls:
:func:`run_algo` (one strategy, ``S`` seeds, through :func:`lanas_jax.host_loop.search`),
:func:`final_training`, :func:`result_entry` (one ``results.json`` entry) and
:func:`plot_curves`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from lanas_jax import host_loop
from lanas_jax.evaluators.train import TrainEvaluator
from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.spaces.base import stack, unstack
from lanas_jax.training.recipe import Recipe


def with_batch(strategy, batch: int):
    """``strategy`` asking ``batch`` architectures per round (its in-flight cap at least as
    wide)."""
    if batch < 1:
        raise ValueError(f"the batch must be >= 1 architecture, got {batch}")
    return dataclasses.replace(strategy, batch_size=int(batch),
                               max_pending=max(strategy.max_pending, int(batch)))


@dataclasses.dataclass
class AlgoRun:
    """One strategy's searches: the host history and its wall time."""

    name: str
    history: host_loop.HostHistory
    wall_seconds: float


def run_algo(name: str, strategy, evaluator, keys: jax.Array, budget: int, params: Any = None,
             *, eval_key: jax.Array | None = None, journal: host_loop.Journal | None = None,
             progress=None) -> AlgoRun:
    """``len(keys)`` searches of ``budget`` trained architectures, ``strategy.batch_size`` per
    round, journaled (and resumed from ``journal`` when it holds this search's rounds)."""
    t0 = time.perf_counter()
    history = host_loop.search(strategy, evaluator, keys, budget, params, eval_key=eval_key,
                               journal=journal, progress=progress)
    return AlgoRun(name, history, time.perf_counter() - t0)


def best_of(history: host_loop.HostHistory) -> list[host_loop.Evaluated]:
    """Each seed's best evaluation by validation accuracy (the first of ties)."""
    return [max(seed, key=lambda e: e.val) for seed in history.records]


def best_archs(history: host_loop.HostHistory):
    """Each seed's best architecture, stacked ``[S]``."""
    idx = np.argmax(history.value, axis=1)
    return jax.tree.map(lambda a: np.asarray(a)[np.arange(idx.size), idx], history.archs)


def final_training(space, splits, recipe: Recipe, epochs: int, archs, key: jax.Array,
                   journal: host_loop.Journal | None = None, **options) -> list[dict]:
    """Train ``archs`` (stacked) again with ``epochs`` epochs of ``recipe``: the paper's final
    training of the best architecture found. Returns ``{"arch", "val", "test", "epochs"}`` per
    architecture; with a ``journal``, recorded there and taken from it on a resumed run."""
    name = f"final_{int(epochs)}"
    if journal is not None and name in journal.extras:
        return journal.extras[name]
    if epochs < 1:
        raise ValueError(f"final training needs >= 1 epoch, got {epochs}")
    final = TrainEvaluator(space, splits, dataclasses.replace(recipe, epochs=int(epochs)),
                           **options)
    r = final.train(archs, key)
    names = [space.describe(a) for a in unstack(archs)]
    out = [{"arch": n, "val": float(v), "test": float(t), "epochs": int(epochs)}
           for n, v, t in zip(names, r.val, r.test, strict=True)]
    if journal is not None:
        journal.put(name, out)
    return out


def result_entry(run: AlgoRun, *, space: str, dataset: dict, recipe: dict, budget: int,
                 batch: int, final: list[dict]) -> dict:
    """One ``results.json`` entry (issue 13 item 5's schema)."""
    h = run.history
    return {
        "algo": run.name, "space": space, "dataset": dataset, "recipe": recipe,
        "budget": int(budget), "batch": int(batch), "seeds": len(h.records),
        "evaluations": [[{"arch": e.arch, "val": e.val, "test": e.test, "params": e.params,
                          "seconds": e.seconds, "round": e.round} for e in seed]
                        for seed in h.records],
        "best": [{"arch": e.arch, "val": e.val, "test": e.test} for e in best_of(h)],
        "final": final,
        "replayed_evaluations": int(h.replayed),
        "wall_seconds": float(run.wall_seconds),
    }


def best_so_far(entry: dict) -> np.ndarray:
    """``[S, budget]`` best validation accuracy after each evaluation, from a result entry."""
    vals = np.array([[e["val"] for e in seed] for seed in entry["evaluations"]], np.float64)
    return np.maximum.accumulate(vals, axis=1)


def plot_curves(path: str, entries: list[dict], title: str) -> None:
    """Best validation accuracy against evaluations, median and 25-75% band over seeds."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6, 4))
    for entry in entries:
        curve = 100 * best_so_far(entry)
        x = np.arange(1, curve.shape[1] + 1)
        ax.plot(x, np.median(curve, 0), label=entry["algo"])
        if curve.shape[0] > 1:
            lo, hi = np.percentile(curve, [25, 75], axis=0)
            ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("architectures trained")
    ax.set_ylabel("best validation accuracy (%)")
    ax.set_title(title)
    ax.legend()
    save_figure(fig, path)


def stack_parsed(space, texts: list[str]):
    """The architectures written as ``texts`` (the space's ``describe`` form), stacked.

    Raises:
      ValueError: naming the string that does not parse, and why.
    """
    if not texts:
        raise ValueError("no architecture given")
    archs = []
    for text in texts:
        try:
            archs.append(space.parse(text))
        except ValueError as e:
            raise ValueError(f"--arch={text!r} is not a {space.name} architecture: {e}") from None
    return stack(archs)
