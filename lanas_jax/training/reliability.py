"""How far a trained table can be trusted: do its training seeds agree on the ranking?

A table built by training records each network's accuracy per training seed. If two seeds rank
the networks differently, the table's order (and its "optimum") is partly the luck of the draw,
and a search's "samples to the optimum" on it measures that luck (issue 13 item 3: on
``convnet1364_digits`` seed 0 vs seed 1 gives Kendall 0.128). :func:`seed_agreement` measures
the agreement between the seeds' columns: Kendall's tau-b (``scipy.stats.kendalltau``) for
every pair of seeds, over all networks and over the top ``top_fraction`` by mean value (where a
search's answer lives), with Spearman and Pearson for reference; :func:`split_half` compares the
means of two disjoint groups of seeds, which is the reliability of a table that averages that
many seeds.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats


def _check(per_seed) -> np.ndarray:
    x = np.asarray(per_seed, np.float64)
    if x.ndim != 2 or x.shape[1] < 2 or x.shape[0] < 3:
        raise ValueError(f"per-seed values need shape [networks >= 3, seeds >= 2], got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("per-seed values contain NaN or inf (a diverged training?)")
    return x


def _pairwise(x: np.ndarray) -> dict[str, float]:
    taus, rhos, rs = [], [], []
    for i, j in itertools.combinations(range(x.shape[1]), 2):
        a, b = x[:, i], x[:, j]
        if np.ptp(a) == 0 or np.ptp(b) == 0:  # a constant column ranks nothing
            taus.append(0.0), rhos.append(0.0), rs.append(0.0)
            continue
        taus.append(stats.kendalltau(a, b).statistic)
        rhos.append(stats.spearmanr(a, b).statistic)
        rs.append(stats.pearsonr(a, b).statistic)
    return {"kendall": float(np.mean(taus)), "kendall_min": float(np.min(taus)),
            "spearman": float(np.mean(rhos)), "pearson": float(np.mean(rs))}


def seed_agreement(per_seed, top_fraction: float = 0.1) -> dict:
    """Agreement of the seeds' columns of ``per_seed [networks, seeds]`` (see the module doc).

    Returns ``kendall`` (mean over seed pairs), ``kendall_min``, ``spearman``, ``pearson`` over
    all networks; ``kendall_top`` over the top ``top_fraction`` of networks by their mean (at
    least 3); ``networks``, ``seeds``; and ``seed_spread`` (the mean over networks of the std
    over seeds) against ``network_spread`` (the std over networks of the mean): a table whose
    seed spread is as large as its network spread cannot rank its networks.
    """
    x = _check(per_seed)
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    mean = x.mean(1)
    top = np.argsort(-mean, kind="stable")[: max(3, int(round(top_fraction * x.shape[0])))]
    return {**_pairwise(x), "kendall_top": _pairwise(x[top])["kendall"],
            "top_fraction": float(top_fraction), "networks": int(x.shape[0]),
            "seeds": int(x.shape[1]), "seed_spread": float(x.std(1, ddof=1).mean()),
            "network_spread": float(mean.std(ddof=1))}


def split_half(per_seed, group: int) -> float:
    """Kendall tau between the means of seeds ``[0, group)`` and ``[group, 2 * group)``: the
    between-build agreement of a table that averages ``group`` seeds."""
    x = _check(per_seed)
    if group < 1 or 2 * group > x.shape[1]:
        raise ValueError(f"split_half({group}) needs {2 * group} seeds, have {x.shape[1]}")
    a, b = x[:, :group].mean(1), x[:, group:2 * group].mean(1)
    return float(stats.kendalltau(a, b).statistic)


def stratified_sample(depths: np.ndarray, per_stratum: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_stratum`` entries of every depth (all of a smaller one), sorted, drawn
    with a seeded permutation: a sample whose ranking question is not answered by depth alone
    being over-represented."""
    rng = np.random.default_rng(seed)
    depths = np.asarray(depths)
    out = [rng.permutation(np.flatnonzero(depths == d))[:per_stratum] for d in np.unique(depths)]
    return np.sort(np.concatenate(out))
