"""Figures for supernet evaluation (issue 14, items 6-7): score-vs-truth scatter with Kendall
tau in the title (as in Yu et al. 2020, Fig. 3) and per-epoch training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lanas_jax.plotting import pyplot, save_figure
from lanas_jax.supernet.ranking import rank_report


def plot_scatter(scores: Sequence[float], truth: Sequence[float], path: str | Path,
                 title: str) -> dict:
    """Scatter of supernet score (x) against ground truth (y), Kendall tau and Spearman rho in
    the title; writes a PNG to ``path`` and returns the :func:`rank_report` it shows."""
    report = rank_report(scores, truth, top_k=())
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(np.asarray(scores, float), np.asarray(truth, float), s=12, alpha=0.7)
    ax.set_xlabel("supernet score")
    ax.set_ylabel("ground truth")
    ax.set_title(f"{title}\nKendall tau = {report['kendall_tau']:.3f}, "
                 f"Spearman = {report['spearman']:.3f}, n = {report['n']}", fontsize=9)
    save_figure(fig, path)
    return report


def plot_curve(history: dict[str, Sequence[float]], path: str | Path) -> None:
    """Per-epoch training curves: series whose name contains "loss" in the left panel, the rest
    (accuracies) in the right one; a panel with no series is left out. ValueError when
    ``history`` is empty or a series is empty."""
    if not history:
        raise ValueError("plot_curve: history is empty")
    empty = [name for name, values in history.items() if len(values) == 0]
    if empty:
        raise ValueError(f"plot_curve: empty series {empty}")
    groups = {"loss": [k for k in history if "loss" in k.lower()]}
    groups["accuracy"] = [k for k in history if k not in groups["loss"]]
    groups = {label: keys for label, keys in groups.items() if keys}
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(groups), figsize=(4.8 * len(groups), 3.6), squeeze=False)
    for ax, (label, keys) in zip(axes[0], groups.items(), strict=True):
        for key in keys:
            values = np.asarray(history[key], float)
            ax.plot(np.arange(1, values.size + 1), values, marker=".", label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.legend()
    save_figure(fig, path)
