"""rank_report (lanas_jax.supernet.ranking) on hand-worked cases and against scipy, and the
supernet plots (lanas_jax.supernet.plots) write PNGs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lanas_jax.supernet.plots import plot_curve, plot_scatter
from lanas_jax.supernet.ranking import rank_report

# Five architectures; truth is already in order 1 < 2 < ... < 5.
# Pairs (i<j) concordant iff scores[i] < scores[j]: discordant are (1,2) (1,4) (2,4) (3,4),
# concordant the other 6, so tau = (6 - 4) / 10 = 0.2. Score ranks [1, 4, 3, 5, 2] against
# truth ranks [1..5]: d = [0, 2, 0, 1, -3], sum d^2 = 14, rho = 1 - 6*14 / (5*24) = 0.3.
# The scores pick item 3 (truth 4): true rank 2. top-1 {3} vs {4}: 0; top-2 {3, 1} vs {4, 3}:
# 1/2; top-5: everything, 1.
SCORES = [0.1, 0.4, 0.3, 0.9, 0.2]
TRUTH = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_hand_worked_five_items():
    report = rank_report(SCORES, TRUTH, top_k=(1, 2, 5, 10))
    assert report["n"] == 5
    assert report["kendall_tau"] == pytest.approx(0.2)
    assert report["spearman"] == pytest.approx(0.3)
    assert report["true_rank"] == 2
    assert report["top_k_overlap"] == {1: 0.0, 2: 0.5, 5: 1.0}  # k=10 > n is left out


def test_true_rank_ties_take_the_best_rank():
    truth = [1.0, 2.0, 5.0, 5.0, 3.0]
    assert rank_report([0, 0, 0, 1, 0], truth)["true_rank"] == 1  # tied for best
    assert rank_report([0, 0, 0, 0, 1], truth)["true_rank"] == 3  # two items above it
    assert rank_report([1, 0, 0, 0, 0], truth)["true_rank"] == 5


def test_matches_scipy_on_random_data():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=60)
    scores = truth + rng.normal(scale=0.7, size=60)
    scores[:6] = scores[6:12]  # some ties
    report = rank_report(scores, truth, top_k=(1, 5, 10))
    assert report["kendall_tau"] == pytest.approx(stats.kendalltau(scores, truth).statistic)
    assert report["spearman"] == pytest.approx(stats.spearmanr(scores, truth).statistic)
    assert report["true_rank"] == 1 + int(np.sum(truth > truth[np.argmax(scores)]))
    order_s, order_t = np.argsort(-scores, kind="stable"), np.argsort(-truth, kind="stable")
    for k in (1, 5, 10):
        assert report["top_k_overlap"][k] == len(set(order_s[:k]) & set(order_t[:k])) / k
    assert rank_report(truth, truth)["kendall_tau"] == pytest.approx(1.0)
    assert rank_report(-truth, truth)["spearman"] == pytest.approx(-1.0)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="scores holds 2 NaN of 5"):
        rank_report([np.nan, 1, np.nan, 2, 3], TRUTH)
    with pytest.raises(ValueError, match="truth holds 1 NaN"):
        rank_report(SCORES, [1, 2, np.nan, 4, 5])
    with pytest.raises(ValueError, match="differ in length: 5 vs 4"):
        rank_report(SCORES, TRUTH[:4])
    with pytest.raises(ValueError, match="at least 2"):
        rank_report([1.0], [1.0])
    with pytest.raises(ValueError, match="positive integers"):
        rank_report(SCORES, TRUTH, top_k=(0,))


def test_plots_write_png(tmp_path):
    png = b"\x89PNG\r\n\x1a\n"
    scatter = tmp_path / "scatter.png"
    report = plot_scatter(SCORES, TRUTH, scatter, "toy supernet")
    assert report["kendall_tau"] == pytest.approx(0.2)
    assert scatter.stat().st_size > 1000 and scatter.read_bytes()[:8] == png
    curve = tmp_path / "curve.png"
    plot_curve({"train_loss": [2.3, 1.1, 0.7], "val_loss": [2.4, 1.3, 0.9],
                "val_acc": [0.1, 0.5, 0.7]}, curve)
    assert curve.stat().st_size > 1000 and curve.read_bytes()[:8] == png
    with pytest.raises(ValueError, match="history is empty"):
        plot_curve({}, tmp_path / "empty.png")
