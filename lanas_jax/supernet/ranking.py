"""Rank agreement between supernet scores and ground truth (issue 14, items 6-7).

A one-shot supernet is judged by how well its inherited-weight scores rank architectures
against their stand-alone accuracy (Yu et al. 2020, "Evaluating the search phase of NAS",
Sec. 4.2: Kendall tau; Guo et al. 2020, SPOS, Sec. 4: ranking correlation; Zhang et al. 2020,
"Deeper insights into weight sharing", Sec. 4). Higher is better for both ``scores`` and
``truth`` (e.g. validation accuracy); negate losses before calling.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def _as_vector(x: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    n_nan = int(np.isnan(arr).sum())
    if n_nan:
        raise ValueError(f"{name} holds {n_nan} NaN of {arr.size} values")
    return arr


def true_rank(truth: np.ndarray, index: int) -> int:
    """Rank of ``truth[index]`` among ``truth`` (1 = best, i.e. largest). Tied values share
    the best (minimum) rank: the rank is 1 + the number of strictly better items."""
    return 1 + int(np.sum(truth > truth[index]))


def top_k_indices(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries; ties are broken by the lower index (stable)."""
    return np.argsort(-x, kind="stable")[:k]


def rank_report(scores: Sequence[float], truth: Sequence[float], *,
                top_k: Sequence[int] = (1, 5, 10)) -> dict:
    """Agreement of ``scores`` with ``truth`` over the same ``n`` architectures.

    Returns a dict with

    * ``n``: number of items;
    * ``kendall_tau``: Kendall's tau-b (``scipy.stats.kendalltau``, which corrects for ties);
    * ``spearman``: Spearman's rho (``scipy.stats.spearmanr``, average ranks for ties);
    * ``true_rank``: the ground-truth rank of the item the scores pick (``argmax(scores)``,
      first index on ties), 1 = best by truth; ties in truth get the best (min) rank;
    * ``top_k_overlap``: ``{k: |top_k(scores) & top_k(truth)| / k}`` for each ``k <= n``
      (larger ``k`` are left out, their overlap would be trivially 1); ties in either vector
      are broken by the lower index.

    Both correlations are NaN when a vector is constant (scipy's convention). Raises
    ValueError on NaN in either input (naming how many), a length mismatch, ``n < 2`` or a
    non-positive ``k``.
    """
    s = _as_vector(scores, "scores")
    t = _as_vector(truth, "truth")
    if s.shape != t.shape:
        raise ValueError(f"scores and truth differ in length: {s.size} vs {t.size}")
    n = int(s.size)
    if n < 2:
        raise ValueError(f"rank statistics need at least 2 items, got {n}")
    bad_k = [k for k in top_k if int(k) != k or k < 1]
    if bad_k:
        raise ValueError(f"top_k values must be positive integers, got {bad_k}")
    overlap = {}
    for k in sorted({int(k) for k in top_k}):
        if k <= n:
            shared = np.intersect1d(top_k_indices(s, k), top_k_indices(t, k))
            overlap[k] = float(shared.size / k)
    return {
        "n": n,
        "kendall_tau": float(stats.kendalltau(s, t).statistic),
        "spearman": float(stats.spearmanr(s, t).statistic),
        "true_rank": true_rank(t, int(np.argmax(s))),
        "top_k_overlap": overlap,
    }
