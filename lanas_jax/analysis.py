"""Sample-efficiency statistics of search histories: best-so-far curves, the test metric of
the incumbent, samples to the global optimum, and the figure of seed 000's Fig. 5 (top).

"Reaching the optimum" means drawing any entry whose search metric equals the table's
maximum: ties all count (on ``nb201_cifar10``'s validation metric the optimum is unique).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lanas_jax.plotting import pyplot, save_figure


def best_so_far(metric: np.ndarray) -> np.ndarray:
    """Running maximum along the last (sample) axis."""
    return np.maximum.accumulate(np.asarray(metric), axis=-1)


def incumbent_test(metric: np.ndarray, test_metric: np.ndarray) -> np.ndarray:
    """Test metric of the incumbent (the first-drawn entry with the best search metric so
    far) after every sample. Shapes ``[..., budget]``."""
    metric, test_metric = np.asarray(metric), np.asarray(test_metric)
    best = best_so_far(metric)
    previous = np.concatenate([np.full(best.shape[:-1] + (1,), -np.inf), best[..., :-1]], -1)
    steps = np.broadcast_to(np.arange(metric.shape[-1]), metric.shape)
    position = np.maximum.accumulate(np.where(metric > previous, steps, 0), axis=-1)
    return np.take_along_axis(test_metric, position, axis=-1)


def samples_to_optimum(metric: np.ndarray, optimum: float) -> list[int | None]:
    """Per search (rows of ``[seeds, budget]``), the 1-based sample at which an entry with
    metric >= ``optimum`` was first drawn; ``None`` if never within the budget."""
    hit = np.asarray(metric) >= optimum
    first = np.argmax(hit, axis=-1) + 1
    return [int(f) if h else None for f, h in zip(first, hit.any(-1), strict=True)]


def summarize(samples: Sequence[int | None], budget: int) -> dict:
    """Median / mean samples to the optimum over seeds.

    Seeds that never reached it are censored at ``budget``: the median is reported only if
    more than half the seeds reached it, the mean only if all did (with a lower bound,
    counting censored seeds as ``budget + 1``, either way).
    """
    reached = [s for s in samples if s is not None]
    censored = np.array([budget + 1 if s is None else s for s in samples], float)
    median = float(np.median(censored)) if len(reached) * 2 > len(samples) else None
    return {
        "seeds_reached": len(reached),
        "num_seeds": len(samples),
        "median_samples_to_optimum": median,
        "mean_samples_to_optimum": (
            float(np.mean(reached)) if len(reached) == len(samples) else None
        ),
        "mean_samples_lower_bound": float(np.mean(censored)),
    }


def mean_samples(summary: dict) -> tuple[float, bool]:
    """Mean samples to the optimum from a :func:`summarize` dict, and whether it is exact
    (False: some seeds never reached it, and this is the censored lower bound)."""
    if summary["mean_samples_to_optimum"] is not None:
        return summary["mean_samples_to_optimum"], True
    return summary["mean_samples_lower_bound"], False


def top_threshold(metric: np.ndarray, fraction: float) -> float:
    """The metric of the ``ceil(fraction * N)``-th best entry of a table: drawing an entry
    with metric >= this value is reaching the table's top ``fraction`` (ties included).
    :func:`samples_to_optimum` with this threshold counts the samples to get there."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    values = np.sort(np.asarray(metric, np.float64).ravel())[::-1]
    k = max(1, int(np.ceil(fraction * values.size - 1e-9)))
    return float(values[k - 1])


def draw_samples_box(
    ax, labels: Sequence[str], samples: Sequence[Sequence[int | None]], budget: int
) -> None:
    """Box chart of samples-to-target per label on ``ax`` (log scale); seeds that never
    reached the target are drawn at ``budget + 1``, marked by a dotted line."""
    data = [[budget + 1 if s is None else s for s in row] for row in samples]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), list(labels))
    ax.axhline(budget + 1, color="k", linestyle=":", linewidth=1, label="not reached (budget+1)")
    ax.set_yscale("log")
    ax.legend(loc="upper right", fontsize=8)


def plot_samples_box(
    labels: Sequence[str], samples: Sequence[Sequence[int | None]], budget: int, title: str,
    path: str, ylabel: str = "samples to the global optimum",
) -> None:
    """:func:`draw_samples_box` as a figure written to ``path``."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(labels) + 2), 3.6))
    draw_samples_box(ax, labels, samples, budget)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    save_figure(fig, path)


def plot_curves(curves: dict[str, np.ndarray], optimum: float, title: str, path: str) -> None:
    """Best-so-far median with the 25-75% band against samples, one line per algorithm."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, best in curves.items():
        x = np.arange(1, best.shape[-1] + 1)
        lo, med, hi = np.percentile(best, [25, 50, 75], axis=0)
        (line,) = ax.plot(x, med, label=name)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.25, linewidth=0)
    ax.axhline(optimum, color="k", linestyle=":", linewidth=1, label="global optimum")
    ax.set_xscale("log")
    ax.set_xlabel("samples")
    ax.set_ylabel("best search metric so far (median, 25-75%)")
    ax.set_title(title)
    lows = [np.percentile(b[:, min(9, b.shape[-1] - 1)], 25) for b in curves.values()]
    span = optimum - min(lows)
    ax.set_ylim(optimum - 1.05 * span, optimum + 0.05 * span + 1e-9)
    ax.legend(loc="lower right")
    save_figure(fig, path)


def band(x: np.ndarray) -> dict:
    """Median, mean and 25% / 75% quantiles over seeds (the last axis), ignoring NaN (a seed
    with nothing to measure), as JSON-able lists: the bands of seed 000's Fig. 4 curves."""
    x = np.asarray(x, float)
    q25, med, q75 = np.nanpercentile(x, [25, 50, 75], axis=-1)
    return {"median": med.tolist(), "mean": np.nanmean(x, -1).tolist(),
            "q25": q25.tolist(), "q75": q75.tolist()}


def nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    """Mean over ``axis`` of the non-NaN values; NaN (and no warning) where there are none."""
    x = np.asarray(x, float)
    count = np.sum(~np.isnan(x), axis)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, np.nansum(x, axis) / np.maximum(count, 1), np.nan)


def nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """Median over ``axis`` of the non-NaN values; NaN (and no warning) where there are none."""
    x = np.asarray(x, float)
    out = np.full(np.delete(x.shape, axis), np.nan)
    has = (~np.isnan(x)).any(axis)
    if has.any():
        out[has] = np.nanmedian(np.moveaxis(x, axis, -1)[has], -1)
    return out


def nan_to_none(x) -> float | None | list:
    """A scalar or nested array as JSON-able floats, NaN written as ``None`` (JSON has no
    NaN)."""
    if np.ndim(x):
        return [nan_to_none(v) for v in x]
    return None if np.isnan(x) else float(x)


def incumbents_at(metric: np.ndarray, test_metric: np.ndarray, budgets: Sequence[int]) -> dict:
    """Validation / test accuracy (percent; mean and std over seeds) of the architecture a
    search returns after each of ``budgets`` queries: seed 003's table protocol (the best
    validation metric so far and the test metric of that incumbent). ``metric`` and
    ``test_metric`` are ``[seeds, budget]``; keys are the budgets as strings (JSON)."""
    best = best_so_far(metric)
    inc_test = incumbent_test(metric, test_metric)
    out = {}
    for q in budgets:
        if not 1 <= q <= best.shape[-1]:
            raise ValueError(f"budget {q} is outside [1, {best.shape[-1]}] queries")
        v, t = 100.0 * best[:, q - 1], 100.0 * inc_test[:, q - 1]
        out[str(q)] = {
            "valid_mean": float(v.mean()),
            "valid_std": float(v.std()),
            "test_mean": float(t.mean()),
            "test_std": float(t.std()),
        }
    return out
